//! A dump that is no hang: the task that panicked, where it faulted and its backtrace, for
//! the report's crash summary and triage's `oops` signature.

use holdup_kernel::Kernel;
use holdup_kernel::sched::TaskList;
use holdup_kernel::stack::unwind::{Frame, Unwinder};
use serde::Serialize;

/// Frames a crash summary shows at most; `holdup bt` shows the whole stack.
const SHOWN_FRAMES: usize = 12;

/// The function an oops faulted in, or that called `panic()`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct FaultSite {
    /// `oops` when the panicking task took an exception in kernel code (its stack holds the
    /// exception frame: a page fault, a general protection fault, a BUG's invalid opcode),
    /// `panic` when it called `panic()` itself.
    pub kind: &'static str,
    /// The function alone, as symbolised (`oops_deref`).
    pub function: String,
    pub module: Option<String>,
    /// `oops_deref+0x5/0xe [hangmod]`, as `holdup bt` and crash show it.
    pub symbol: String,
}

/// The task that panicked and its stack, read from the CPU that panicked.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CrashSummary {
    pub pid: u32,
    pub comm: String,
    pub cpu: u32,
    pub fault: Option<FaultSite>,
    /// Its reliable frames from the exception on (the frames of the crash path above it,
    /// `oops_end` to `machine_kexec`, say nothing about the bug), or all of them when there
    /// is none; at most [`SHOWN_FRAMES`], as `#N function+off/size [module]`.
    pub frames: Vec<String>,
    /// Frames left out of `frames` (the crash path, and past the limit).
    pub frames_left_out: usize,
}

/// Whether a frame is where the kernel took an exception in kernel code.
fn is_exception(f: &Frame) -> bool {
    f.regs.as_ref().is_some_and(|r| !r.user_mode)
}

/// Functions of the way from a bug to the capture kernel: never where a panic comes from.
const PANIC_PATH: &[&str] = &[
    "panic",
    "nmi_panic",
    "vpanic",
    "__crash_kexec",
    "crash_kexec",
    "machine_kexec",
    "oops_end",
    "die",
    "do_exit",
    "make_task_dead",
];

/// The crash summary of the task running on `panic_cpu` when the dump was taken.
pub fn crash_summary(k: &Kernel, tasks: &TaskList, panic_cpu: u32) -> Option<CrashSummary> {
    let task = tasks
        .tasks
        .iter()
        .find(|t| t.current && t.cpu == panic_cpu)?;
    let bt = Unwinder::new(k).backtrace(task);
    let reliable: Vec<&Frame> = bt.reliable().collect();
    let exception = reliable.iter().position(|f| is_exception(f));
    let fault = match exception {
        Some(i) => reliable[i].function.as_ref().map(|function| FaultSite {
            kind: "oops",
            function: function.clone(),
            module: reliable[i].module.clone(),
            symbol: reliable[i].symbol.clone(),
        }),
        None => {
            // The caller of panic(): the first frame past the panic path, once it was met.
            let base = |f: &Frame| {
                f.function
                    .as_deref()
                    .map(|n| n.split('.').next().unwrap_or(n).to_string())
            };
            let last_panic = reliable
                .iter()
                .rposition(|f| base(f).is_some_and(|n| PANIC_PATH.contains(&n.as_str())));
            last_panic.and_then(|i| reliable.get(i + 1)).and_then(|f| {
                Some(FaultSite {
                    kind: "panic",
                    function: f.function.clone()?,
                    module: f.module.clone(),
                    symbol: f.symbol.clone(),
                })
            })
        }
    };
    let from = exception.unwrap_or(0);
    let frames: Vec<String> = reliable[from..]
        .iter()
        .take(SHOWN_FRAMES)
        .map(|f| {
            let n = f.level.map_or_else(|| "?".to_string(), |l| format!("#{l}"));
            if is_exception(f) {
                format!("{n} [exception RIP: {}]", f.symbol)
            } else {
                format!("{n} {}", f.symbol)
            }
        })
        .collect();
    Some(CrashSummary {
        pid: task.pid,
        comm: task.comm.clone(),
        cpu: task.cpu,
        fault,
        frames_left_out: reliable.len() - frames.len(),
        frames,
    })
}
