//! `holdup`: the command line. A thin layer over the library crates in `crates/`: each
//! subcommand is one file in `cmd/`.

mod cmd;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Explain a Linux kernel hang from its vmcore: who holds what, and the root cause.
#[derive(Parser)]
#[command(
    name = "holdup",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    report: cmd::report::ReportArgs,
}

/// Options every command that reads a dump takes.
#[derive(Args, Clone)]
pub struct DumpArgs {
    /// The vmcore: ELF (/proc/vmcore copy, makedumpfile -E, QEMU), kdump-compressed or flattened.
    dump: Option<PathBuf>,
    /// A vmlinux with DWARF for this kernel; by default symbols and types come from the dump.
    #[arg(long, global = true, value_name = "PATH")]
    vmlinux: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// The kernel, the machine, the panic, the dump (crash's `sys`).
    Info(DumpArgs),
    /// The kernel log from the printk ring buffer (crash's `log`, `dmesg`).
    Log(DumpArgs),
    /// Every task with its state, CPU and how long it has been blocked (crash's `ps`).
    Ps(cmd::ps::PsArgs),
    /// Kernel backtraces of tasks (crash's `bt`, `foreach bt`).
    Bt(cmd::bt::BtArgs),
    /// Every lock with a holder or waiters: who holds it, who waits, and how each is known.
    Locks(DumpArgs),
    /// One page decoded, its lock, its waiters and who may hold it (crash's `kmem -p`).
    Page(cmd::page::PageArgs),
}

/// Exit statuses.
pub mod exit {
    /// The command did what was asked (for the report: blocked tasks were found and explained).
    pub const OK: u8 = 0;
    /// The report found no blocked task: nothing to explain.
    pub const NO_HANG: u8 = 1;
    /// The dump could not be read (not a dump, truncated, no symbols...).
    pub const UNREADABLE: u8 = 2;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    env_logger::Builder::new()
        .filter_level(::log::LevelFilter::Warn)
        .format_target(false)
        .format_timestamp(None)
        .parse_env("HOLDUP_LOG")
        .init();
    let result = match cli.command {
        Some(Command::Info(args)) => cmd::info::run(&args),
        Some(Command::Log(args)) => cmd::log::run(&args),
        Some(Command::Ps(args)) => cmd::ps::run(&args),
        Some(Command::Bt(args)) => cmd::bt::run(&args),
        Some(Command::Locks(args)) => cmd::locks::run(&args),
        Some(Command::Page(args)) => cmd::page::run(&args),
        None => cmd::report::run(&cli.report),
    };
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => {
            eprintln!("holdup: {}", f.message);
            ExitCode::from(f.status)
        }
    }
}
