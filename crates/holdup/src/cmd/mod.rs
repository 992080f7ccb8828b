//! One module per subcommand.

pub mod args;
pub mod bt;
pub mod info;
pub mod locks;
pub mod log;
pub mod page;
pub mod pager;
pub mod ps;
pub mod report;
pub mod shell;
pub mod style;
pub mod term;
pub mod triage;

use crate::{DumpArgs, exit};
use holdup_kernel::locking::{self, AnalyzeOptions, LockAnalysis};
use holdup_kernel::sched::{self, TaskList};
use holdup_kernel::{Kernel, OpenOptions};

/// A command that failed: the exit status and a one-line message for a person.
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn new(status: u8, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// Opens the dump named on the command line, with the vmlinux given or found for its
/// release (see `holdup_triage::debuginfo`; `-v` says which).
pub fn open(args: &DumpArgs) -> Result<Kernel, Failure> {
    open_with(args, OpenOptions::default())
}

/// [`open`] without the modules' symbols, for commands that never name a module address.
pub fn open_without_modules(args: &DumpArgs) -> Result<Kernel, Failure> {
    open_with(
        args,
        OpenOptions {
            skip_module_symbols: true,
            ..OpenOptions::default()
        },
    )
}

/// Opens the dump for `holdup info`: only the symbols it reads are looked up.
pub fn open_for_info(args: &DumpArgs) -> Result<Kernel, Failure> {
    open_with(
        args,
        OpenOptions {
            skip_module_symbols: true,
            symbols_needed: Some(holdup_kernel::sysinfo::INFO_SYMBOLS),
            ..OpenOptions::default()
        },
    )
}

fn open_with(args: &DumpArgs, opts: OpenOptions) -> Result<Kernel, Failure> {
    let path = args
        .dump
        .as_ref()
        .ok_or_else(|| Failure::new(exit::UNREADABLE, "no dump given"))?;
    let (kernel, _) =
        holdup_triage::debuginfo::open_kernel_with(path, args.vmlinux.as_deref(), opts)
            .map_err(|e| Failure::new(exit::UNREADABLE, e))?;
    ::log::info!(
        "{}: symbols: {}; types: {}",
        path.display(),
        kernel.symbols_source,
        kernel.types_source
    );
    for w in &kernel.warnings {
        ::log::warn!("{w}");
    }
    Ok(kernel)
}

/// Every task of the dump, and what its blocked (`D`) tasks wait on and who holds it: what
/// `holdup locks` and `holdup page` show.
pub fn blocked_locks(
    k: &Kernel,
    opts: &AnalyzeOptions,
) -> Result<(TaskList, LockAnalysis), Failure> {
    let tasks = sched::all_tasks(k)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("cannot list tasks: {e}")))?;
    let analysis = locking::analyze_with(k, &tasks.blocked(), opts)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("cannot read locks: {e}")))?;
    Ok((tasks, analysis))
}

/// A problem a command met but went on after (`holdup: ps: ...`) on stderr; `-q` silences it.
pub fn note(cmd: &str, msg: impl std::fmt::Display) {
    if !style::ui().quiet {
        eprintln!("holdup: {cmd}: {msg}");
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
