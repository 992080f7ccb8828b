//! From an opened dump to its [`Report`]: what the system was (release, panic, uptime, where
//! symbols and types came from) above the wait-for graph of its blocked tasks and what that
//! graph says. The one place a report is assembled: `holdup DUMP` and the fuzz targets both
//! call [`build_report`].

use crate::{Header, Report};
use holdup_analysis::hang::{HangOptions, analyse_hang};
use holdup_kernel::Kernel;
use holdup_kernel::sysinfo::{kernel_log, system_info};
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
    let info = system_info(kernel, log.as_ref());
    let hang = analyse_hang(kernel, opts)?;
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
        tasks_read: hang.tasks.tasks.len(),
        tasks_unreadable: hang.tasks.unreadable.len(),
        header,
        graph: hang.graph,
        analysis: hang.analysis,
        problems,
    })
}
