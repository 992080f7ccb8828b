//! `holdup bt DUMP [PID|COMM|TASK]... [--state S] [--all] [-a]`: kernel backtraces, like
//! crash's `bt`, `bt -a` (`-a`: the task active on each CPU) and `foreach bt` (`--all`).

use super::args::{TaskSelector, check_dump_first, comm_matches};
use super::ps::{check_state, state_matches};
use super::{Failure, open, print_json};
use crate::{DumpArgs, exit};
use clap::Args;
use holdup_kernel::sched::{Task, UnreadableTask, all_tasks};
use holdup_kernel::stack::{Backtrace, FrameRegs, StackEnd, Unwinder};
use serde::Serialize;

/// No task matched the selection.
const NO_MATCH: u8 = 1;

/// Options of `holdup bt`.
#[derive(Args, Clone)]
pub struct BtArgs {
    #[command(flatten)]
    pub dump: DumpArgs,
    /// Tasks: a pid, a command name or a glob of them (`kworker/*`), or a `task_struct`
    /// address in hex, with or without 0x (as `holdup ps` prints it). Without any, and
    /// without --state, --all or -a, the task that panicked.
    #[arg(value_name = "PID|COMM|TASK")]
    pub targets: Vec<String>,
    /// Every task in this state (as for `holdup ps --state`).
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Every task (crash's `foreach bt`).
    #[arg(long, conflicts_with = "active")]
    pub all: bool,
    /// The task active on each CPU at the time of the dump, by CPU, each from the
    /// registers its CPU saved (crash's `bt -a`). (`-a` used to mean --all.)
    #[arg(short = 'a', long = "active", conflicts_with_all = ["targets", "state"])]
    pub active: bool,
    /// Leave out the `?` entries (stale return addresses found by scanning the stack).
    #[arg(long)]
    pub reliable_only: bool,
}

/// `holdup bt --json`.
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct BtOutput<'a> {
    tasks: Vec<TaskBacktrace<'a>>,
    /// Selected tasks that could not be read (with --all: every one).
    unreadable: &'a [UnreadableTask],
    /// CPUs whose saved registers were found, and where.
    cpu_registers: &'a [holdup_kernel::stack::regs::CpuRegs],
    /// Which `struct orc_entry` layout was used and how it was found.
    orc_layout: String,
    problems: Vec<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct TaskBacktrace<'a> {
    task: &'a Task,
    backtrace: Backtrace,
}

pub fn run(args: &BtArgs) -> Result<(), Failure> {
    check_dump_first("bt", args.dump.dump.as_deref(), &args.targets)?;
    if let Some(s) = &args.state {
        check_state(s)?;
    }
    let kernel = open(&args.dump)?;
    let list =
        all_tasks(&kernel).map_err(|e| Failure::new(exit::UNREADABLE, format!("tasks: {e}")))?;
    let mut selected: Vec<&Task> = Vec::new();
    let mut unmatched = Vec::new();
    let mut unreadable_selected: Vec<&UnreadableTask> = Vec::new();
    if args.all {
        selected.extend(list.tasks.iter());
    } else if args.active {
        // crash's `bt -a`: each CPU's `rq->curr`, in CPU order.
        selected.extend(list.tasks.iter().filter(|t| t.current));
        selected.sort_by_key(|t| (t.cpu, t.pid));
        unreadable_selected.extend(
            list.unreadable
                .iter()
                .filter(|u| list.cpu_curr.iter().any(|c| c.task == u.task)),
        );
        if selected.is_empty() && unreadable_selected.is_empty() {
            return Err(Failure::new(
                exit::UNREADABLE,
                "no CPU's running task could be read (the run queues' curr pointers): try `holdup bt --all` or `holdup ps`",
            ));
        }
    } else {
        if let Some(s) = &args.state {
            selected.extend(list.tasks.iter().filter(|t| state_matches(t, s)));
        }
        for target in &args.targets {
            let task_at = |addr: u64| -> Vec<&Task> {
                list.tasks.iter().filter(|t| t.task == addr).collect()
            };
            let named = |pattern: &str| -> Vec<&Task> {
                list.tasks
                    .iter()
                    .filter(|t| comm_matches(pattern, &t.comm))
                    .collect()
            };
            let selector = TaskSelector::parse(target);
            let found: Vec<&Task> = match &selector {
                TaskSelector::Pid(pid) => list.tasks.iter().filter(|t| t.pid == *pid).collect(),
                TaskSelector::Task(addr) => task_at(*addr),
                TaskSelector::Comm(c) => named(c),
                TaskSelector::TaskOrComm(addr, c) => {
                    let at = task_at(*addr);
                    if at.is_empty() { named(c) } else { at }
                }
            };
            let gone: Vec<&UnreadableTask> = list
                .unreadable
                .iter()
                .filter(|u| match &selector {
                    TaskSelector::Pid(pid) => u.pid == Some(*pid),
                    TaskSelector::Task(addr) | TaskSelector::TaskOrComm(addr, _) => u.task == *addr,
                    TaskSelector::Comm(_) => false,
                })
                .collect();
            if found.is_empty() && gone.is_empty() {
                unmatched.push(target.clone());
            }
            unreadable_selected.extend(gone);
            for t in found {
                if !selected.iter().any(|s| s.task == t.task) {
                    selected.push(t);
                }
            }
        }
        if args.targets.is_empty() && args.state.is_none() {
            // crash's bt without arguments: the panic task.
            let panic_cpu = kernel
                .symbol("panic_cpu")
                .and_then(|a| kernel.mem().read_u32(a))
                .ok()
                .filter(|&c| c != u32::MAX);
            match panic_cpu {
                Some(cpu) => {
                    selected.extend(list.tasks.iter().filter(|t| t.current && t.cpu == cpu))
                }
                None => {
                    return Err(Failure::new(
                        NO_MATCH,
                        "no task given and no CPU panicked: name a PID, COMM or task, or use --state or --all",
                    ));
                }
            }
        }
    }
    if args.all {
        unreadable_selected.extend(list.unreadable.iter());
    }
    if !unmatched.is_empty() && selected.is_empty() && unreadable_selected.is_empty() {
        return Err(Failure::new(
            NO_MATCH,
            format!("no task matches {}", unmatched.join(", ")),
        ));
    }
    let unwinder = Unwinder::new(&kernel);
    let traces: Vec<TaskBacktrace> = selected
        .into_iter()
        .map(|t| {
            let mut bt = unwinder.backtrace(t);
            if args.reliable_only {
                bt.frames.retain(|f| f.reliable);
            }
            TaskBacktrace {
                task: t,
                backtrace: bt,
            }
        })
        .collect();
    let mut problems = list.problems.clone();
    problems.extend(unwinder.problems.iter().cloned());
    problems.extend(unmatched.iter().map(|u| format!("no task matches {u}")));
    let unreadable: Vec<UnreadableTask> = unreadable_selected.into_iter().cloned().collect();
    if args.dump.json {
        return print_json(&BtOutput {
            tasks: traces,
            unreadable: &unreadable,
            cpu_registers: &unwinder.cpu_regs,
            orc_layout: format!(
                "{} ({})",
                unwinder.orc.layout.name(),
                unwinder.orc.layout_source
            ),
            problems,
        });
    }
    let mut out = String::new();
    for (i, tb) in traces.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        write_backtrace(&mut out, tb.task, &tb.backtrace);
    }
    for u in &unreadable {
        out.push_str(&format!(
            "\nPID: {:<7}  TASK: {:x}  (unreadable: {})\n",
            u.pid.map_or("?".to_string(), |p| p.to_string()),
            u.task,
            u.error
        ));
    }
    print!("{out}");
    for p in &problems {
        super::note("bt", p);
    }
    Ok(())
}

/// crash's `bt` layout, with `func+off/size` and `?` entries.
fn write_backtrace(out: &mut String, t: &Task, bt: &Backtrace) {
    out.push_str(&format!(
        "PID: {:<7}  TASK: {:x}  CPU: {:<3}  COMMAND: \"{}\"\n",
        t.pid, t.task, t.cpu, t.comm
    ));
    let mut state = format!("    STATE: {} ({})", t.ps_state, t.state_names.join("|"));
    if t.current {
        state.push_str(&format!(", running on CPU {}", t.cpu));
    } else if let Some(b) = t.describe_blocked() {
        state.push_str(", ");
        state.push_str(&b);
    }
    out.push_str(&state);
    out.push('\n');
    for f in &bt.frames {
        let mark = match f.level {
            Some(n) => format!("#{n}"),
            None => "?".to_string(),
        };
        if let Some(n) = &f.note {
            out.push_str(&format!("    -- {n}\n"));
        }
        let exception = f.regs.as_ref().is_some_and(|r| !r.user_mode);
        if exception {
            out.push_str(&format!(
                "{mark:>3} [{:016x}] [exception RIP: {}] at {:016x}\n",
                f.sp, f.symbol, f.ip
            ));
        } else {
            out.push_str(&format!(
                "{mark:>3} [{:016x}] {} at {:016x}\n",
                f.sp, f.symbol, f.ip
            ));
        }
        if let Some(r) = &f.regs {
            write_regs(out, r);
        }
    }
    if let StackEnd::Stopped(why) = &bt.end {
        out.push_str(&format!("    -- unwinding stopped: {why}\n"));
    }
}

/// The registers as crash prints them under an exception frame.
fn write_regs(out: &mut String, r: &FrameRegs) {
    let get = |n: &str| {
        r.values
            .iter()
            .find(|(k, _)| *k == n)
            .map_or(0, |&(_, v)| v)
    };
    let mut rows: Vec<Vec<(&str, String)>> = vec![vec![
        ("RIP", format!("{:016x}", get("ip"))),
        ("RSP", format!("{:016x}", get("sp"))),
        ("RFLAGS", format!("{:08x}", get("flags"))),
    ]];
    if r.full {
        for row in [
            [("RAX", "ax"), ("RBX", "bx"), ("RCX", "cx")],
            [("RDX", "dx"), ("RSI", "si"), ("RDI", "di")],
            [("RBP", "bp"), ("R8", "r8"), ("R9", "r9")],
            [("R10", "r10"), ("R11", "r11"), ("R12", "r12")],
            [("R13", "r13"), ("R14", "r14"), ("R15", "r15")],
        ] {
            rows.push(
                row.iter()
                    .map(|&(label, name)| (label, format!("{:016x}", get(name))))
                    .collect(),
            );
        }
        rows.push(vec![
            ("ORIG_RAX", format!("{:016x}", get("orig_ax"))),
            ("CS", format!("{:04x}", get("cs"))),
            ("SS", format!("{:04x}", get("ss"))),
        ]);
    } else {
        rows.push(vec![
            ("CS", format!("{:04x}", get("cs"))),
            ("SS", format!("{:04x}", get("ss"))),
        ]);
    }
    let n = rows.len();
    for (i, row) in rows.into_iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .map(|(label, v)| {
                if i + 1 == n {
                    format!("{label}: {v}")
                } else {
                    format!("{label:>3}: {v}")
                }
            })
            .collect();
        out.push_str(&format!("    {}\n", cells.join("  ")));
    }
}
