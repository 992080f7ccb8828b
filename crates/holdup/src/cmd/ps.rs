//! `holdup ps DUMP`: every task, like crash's `ps`.

use super::args::comm_matches;
use super::{Failure, open_without_modules, print_json};
use crate::{DumpArgs, exit};
use clap::Args;
use holdup_kernel::sched::{Task, TaskList, all_tasks};

/// Options of `holdup ps`.
#[derive(Args, Clone)]
pub struct PsArgs {
    #[command(flatten)]
    pub dump: DumpArgs,
    /// Only tasks in this state: a kernel letter (R S D T t X Z P I) or crash's code (RU IN UN
    /// ID ZO ST TR DE PA WA NE).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Only tasks with this command name, or whose name matches this glob (`kworker/*`,
    /// `?bench`, `rw_[rw]*`; quote it from the shell).
    #[arg(long, value_name = "COMM")]
    pub comm: Option<String>,
    /// Only these pids (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<u32>,
    /// A second line per task: tgid, mm, stack, state bits, how long it has been blocked.
    #[arg(short, long)]
    pub long: bool,
}

/// Whether a task is in `state`: a one-letter kernel state or a two-letter crash code.
pub fn state_matches(t: &Task, state: &str) -> bool {
    if state.len() == 1 {
        state.starts_with(t.state_char)
    } else {
        t.ps_state.eq_ignore_ascii_case(state)
    }
}

/// Checks a `--state` value.
pub fn check_state(state: &str) -> Result<(), Failure> {
    const CHARS: &str = "RSDTtXZPI";
    const CODES: [&str; 11] = [
        "RU", "IN", "UN", "ID", "ZO", "ST", "TR", "DE", "PA", "WA", "NE",
    ];
    let ok = (state.len() == 1 && CHARS.contains(state))
        || CODES.iter().any(|c| c.eq_ignore_ascii_case(state));
    if ok {
        Ok(())
    } else {
        Err(Failure::new(
            exit::UNREADABLE,
            format!(
                "--state {state}: use a kernel letter ({}) or a crash code ({})",
                CHARS
                    .chars()
                    .map(String::from)
                    .collect::<Vec<_>>()
                    .join(" "),
                CODES.join(" ")
            ),
        ))
    }
}

/// The name crash shows: kernel threads in brackets.
pub fn shown_comm(t: &Task) -> String {
    if t.kernel_thread {
        format!("[{}]", t.comm)
    } else {
        t.comm.clone()
    }
}

/// No task matched the selection (as for `holdup bt`).
const NO_MATCH: u8 = 1;

/// The selection of a `holdup ps` as its options say it: `--state UN --pid 9999`.
fn selection(args: &PsArgs) -> String {
    let mut words = Vec::new();
    if let Some(s) = &args.state {
        words.push(format!("--state {s}"));
    }
    if let Some(c) = &args.comm {
        words.push(format!("--comm {c}"));
    }
    for p in &args.pid {
        words.push(format!("--pid {p}"));
    }
    words.join(" ")
}

pub fn run(args: &PsArgs) -> Result<(), Failure> {
    if let Some(s) = &args.state {
        check_state(s)?;
    }
    let kernel = open_without_modules(&args.dump)?;
    let mut list: TaskList =
        all_tasks(&kernel).map_err(|e| Failure::new(exit::UNREADABLE, format!("tasks: {e}")))?;
    list.tasks.retain(|t| {
        args.state.as_deref().is_none_or(|s| state_matches(t, s))
            && args
                .comm
                .as_deref()
                .is_none_or(|c| comm_matches(c, &t.comm))
            && (args.pid.is_empty() || args.pid.contains(&t.pid))
    });
    let filtered = args.state.is_some() || args.comm.is_some() || !args.pid.is_empty();
    if filtered {
        // A pid that is among the tasks that could not be read is not "no such task".
        let unreadable_pids: Vec<u32> = list
            .unreadable
            .iter()
            .filter_map(|u| u.pid)
            .filter(|p| args.pid.contains(p))
            .collect();
        list.unreadable
            .retain(|u| u.pid.is_some_and(|p| unreadable_pids.contains(&p)));
        // As `holdup bt`: a selection that matches no task is status 1, and a pid that
        // matches none among others that do is said.
        if list.tasks.is_empty() && list.unreadable.is_empty() {
            return Err(Failure::new(
                NO_MATCH,
                format!("no task matches {}", selection(args)),
            ));
        }
        for pid in &args.pid {
            if !list.tasks.iter().any(|t| t.pid == *pid) && !unreadable_pids.contains(pid) {
                super::note("ps", format_args!("no task has pid {pid}"));
            }
        }
    }
    if args.dump.json {
        return print_json(&list);
    }
    let mut out = String::new();
    out.push_str("      PID    PPID  CPU       TASK        ST  COMM\n");
    for t in &list.tasks {
        out.push_str(&format!(
            "{}{:>8} {:>7} {:>4}  {:016x}  {:<2}  {}\n",
            if t.current { '>' } else { ' ' },
            t.pid,
            t.ppid,
            t.cpu,
            t.task,
            t.ps_state,
            shown_comm(t)
        ));
        if args.long {
            let mut detail = format!(
                "          tgid {}, {}, stack {:#x}, on_cpu {}, {}",
                t.tgid,
                if t.kernel_thread {
                    "kernel thread".to_string()
                } else {
                    format!("mm {:#x}", t.mm)
                },
                t.stack,
                u8::from(t.on_cpu),
                t.state_names.join("|")
            );
            if let Some(b) = t.describe_blocked() {
                detail.push_str(", ");
                detail.push_str(&b);
            }
            out.push_str(&detail);
            out.push('\n');
        }
    }
    for u in &list.unreadable {
        out.push_str(&format!(
            " {:>8} {:>7} {:>4}  {:016x}  ??  (unreadable: {})\n",
            u.pid.map_or("?".to_string(), |p| p.to_string()),
            "?",
            "?",
            u.task,
            u.error
        ));
    }
    print!("{out}");
    for p in &list.problems {
        super::note("ps", p);
    }
    Ok(())
}
