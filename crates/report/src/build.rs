//! From an opened dump to its [`Report`]: what the system was (release, panic, uptime, where
//! symbols and types came from) above the wait-for graph of its blocked tasks and what that
//! graph says. The one place a report is assembled: `holdup DUMP` and the fuzz targets both
//! call [`build_report`].

use crate::{Header, Report};
use holdup_analysis::crash::crash_summary;
use holdup_analysis::hang::{HangOptions, analyse_hang};
use holdup_kernel::Kernel;
use holdup_kernel::sysinfo::{kernel_log, system_info_but_task_count};
use holdup_kmem::ReadError;

/// Reads the dump behind `kernel` and builds its report; `dump_path` is the name the header
/// shows. Fails only when the task list cannot be read (callers say "cannot list tasks");
/// anything else that cannot be read is one of the report's `problems`.
pub fn build_report(
    kernel: &Kernel,
    dump_path: &str,
    opts: &HangOptions,
) -> Result<Report, ReadError> {
    let log = kernel_log(kernel).ok();
    // The report lists the tasks itself: no separate walk to count them.
    let info = system_info_but_task_count(kernel, log.as_ref());
    let mut hang = analyse_hang(kernel, opts)?;
    // The running kernel changes while it is read: read it twice, and what the second
    // reading does not confirm is no fact.
    if crate::is_live(dump_path) {
        let again = analyse_hang(kernel, opts)?;
        let n = hang.graph.mark_unstable(&again.graph);
        if n > 0 {
            hang.analysis = hang.graph.analyse();
            hang.problems.push(format!(
                "{n} relation(s) changed between two readings of the running kernel: each is shown as a guess"
            ));
        }
    }
    // A dump with no blocked task is explained by its crash, when one was recorded: the
    // task that panicked, where, and the log's last lines.
    let no_hang = !hang.graph.tasks.values().any(|t| t.blocked);
    let crash = info
        .panic_cpu
        .filter(|_| no_hang)
        .and_then(|cpu| crash_summary(kernel, &hang.tasks, cpu));
    let crash_log = match (&log, no_hang) {
        (Some(log), true) => crash_log_lines(log),
        _ => Vec::new(),
    };
    let mut problems = hang.problems;
    problems.extend(info.problems.iter().cloned());
    let header = Header {
        dump_path: dump_path.to_string(),
        dump_format: info.dump_format.clone(),
        dump_level: info.dump_level,
        excluded: info.excluded.clone(),
        release: info.release.clone(),
        uptime_ns: info.uptime_ns,
        panic_message: info.panic_message.clone(),
        panic_cpu: info.panic_cpu,
        panic_task: info.panic_task.as_ref().map(|t| (t.pid, t.comm.clone())),
        symbols: info.symbols.clone(),
        types: info.types.clone(),
    };
    Ok(Report {
        unreadable_tasks: hang
            .tasks
            .unreadable
            .iter()
            .map(|u| (u.task, u.pid))
            .collect(),
        crash,
        crash_log,
        crash_layout: crate::crash::CrashLayout::read(kernel),
        tasks_read: hang.tasks.tasks.len(),
        tasks_unreadable: hang.tasks.unreadable.len(),
        header,
        graph: hang.graph,
        analysis: hang.analysis,
        problems,
    })
}

/// Lines of the start of a bug's report a crash summary shows (the BUG or Oops line to the
/// RIP line, with room to spare).
const REPORT_START: usize = 12;
/// Opening lines at most this far apart open one report.
const SAME_REPORT: usize = 6;
/// Lines of the end of the log a crash summary shows.
const LOG_END: usize = 6;

/// How the kernel starts the report of a bug in its log.
const REPORT_STARTS: &[&str] = &[
    "BUG:",
    "Oops:",
    "kernel BUG at",
    "general protection fault",
    "Unable to handle",
    "WARNING:",
    "Kernel panic",
];

/// The kernel log's lines a person reads first after a crash, oldest first: the start of the
/// last bug report (what faulted, on which address, the RIP) and then the log's last lines,
/// with `...` between when lines were left out. A record of several lines gives each;
/// printk has escaped what the dump holds.
fn crash_log_lines(log: &holdup_kernel::printk::Log) -> Vec<String> {
    let lines: Vec<(bool, String)> = log
        .records
        .iter()
        .flat_map(|r| {
            let starts = REPORT_STARTS.iter().any(|p| r.text.starts_with(p));
            r.to_dmesg_line()
                .lines()
                .enumerate()
                .map(|(i, l)| (starts && i == 0, l.to_string()))
                .collect::<Vec<_>>()
        })
        .collect();
    let end = lines.len().saturating_sub(LOG_END);
    // The last report's first line: a report may open with several such lines ("BUG: ...",
    // the "#PF:" lines, then "Oops: ..."), so an opening line a few lines before the last
    // one belongs to the same report.
    let mut report_start = lines.iter().rposition(|(starts, _)| *starts);
    while let Some(i) = report_start {
        match lines[i.saturating_sub(SAME_REPORT)..i]
            .iter()
            .rposition(|(starts, _)| *starts)
        {
            Some(back) => report_start = Some(i.saturating_sub(SAME_REPORT) + back),
            None => break,
        }
    }
    let mut out = Vec::new();
    if let Some(i) = report_start.filter(|&i| i < end) {
        let upto = (i + REPORT_START).min(end);
        out.extend(lines[i..upto].iter().map(|(_, l)| l.clone()));
        if upto < end {
            out.push("...".to_string());
        }
        out.extend(lines[end..].iter().map(|(_, l)| l.clone()));
    } else {
        let from = lines.len().saturating_sub(REPORT_START);
        out.extend(lines[from..].iter().map(|(_, l)| l.clone()));
    }
    out
}
