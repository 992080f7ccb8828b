//! `holdup`: the command line. A thin layer over the library crates in `crates/`: each
//! subcommand is one file in `cmd/`.

mod cmd;

use clap::{ArgAction, Args, CommandFactory, Parser, Subcommand};
use cmd::style::{ColorChoice, Ui};
use std::path::PathBuf;
use std::process::ExitCode;

/// What `--help` shows after the options: examples and the exit statuses.
const AFTER_HELP: &str = "\
Examples:
  holdup /var/crash/202611241951/dump.202611241951     the hang report of one dump
  holdup vmcore --json | jq '.root_causes[0]'         the same, for scripts
  holdup vmcore --dot | dot -Tsvg > hang.svg          the wait-for graph as a picture
  holdup bt vmcore --state D                          backtraces of the blocked tasks
  holdup bt vmcore ffff8a0ddfe9b080                   one task, by its address as ps prints it
  holdup bt vmcore -a                                 the task on each CPU, as crash's bt -a
                                                      (every task: --all)
  holdup ps vmcore --comm 'kworker/*'                 tasks by a glob of their names
  holdup triage /var/crash > triage.jsonl             one JSON line per dump found
  holdup triage -q /var/crash | jq -r .signature | sort | uniq -c

Symbols and types come from the dump (kallsyms, BTF). A vmlinux with DWARF is used when
given (--vmlinux), or when /usr/lib/debug/boot/vmlinux-RELEASE or
/usr/lib/debug/lib/modules/RELEASE/vmlinux exists for the dump's kernel release
(HOLDUP_DEBUG_ROOT replaces /usr/lib/debug; empty, nothing is searched). -v says which.

Exit status:
  0  done; for the report: blocked tasks found and explained; for triage: every dump analysed
  1  the report found no blocked task (nothing to explain); bt, ps: no task matched; page:
     the address is no struct page (what it is is said)
  2  the dump could not be read, or the command line is wrong
  3  triage: some dumps could not be analysed (their lines have \"errors\")
  4  the report found blocked tasks, but the dump lacks memory the analysis needed (pages
     filtered out or missing): partial; its header says what each gap may hide
  A closed standard output (holdup ... | head) ends holdup by SIGPIPE, as it ends cat and git
  (the shell shows 141).

Environment: NO_COLOR (no colour with --color auto), HOLDUP_LOG (log filter, as RUST_LOG),
HOLDUP_DEBUG_ROOT, COLUMNS (the width the report fits; by default the terminal's, and 160
columns for the table in a pipe or a file), PAGER (for output longer than the terminal;
less -FRX when unset; empty or cat: none; --no-pager: none).";

/// Explain a Linux kernel hang from its vmcore: who holds what, and the root cause.
#[derive(Parser)]
// Not `args_conflicts_with_subcommands`: it would refuse global options before a subcommand
// (`holdup -v triage ...`); the report's own options are refused with a subcommand in `main`.
#[command(
    name = "holdup",
    version,
    about,
    override_usage = "holdup [OPTIONS] DUMP\n       holdup [OPTIONS] <COMMAND> [ARGS]",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    report: cmd::report::ReportArgs,
    #[command(flatten)]
    global: GlobalArgs,
}

/// Options of every command.
#[derive(Args, Clone)]
struct GlobalArgs {
    /// More on stderr: -v says which vmlinux and symbols are used, -vv debugging, -vvv tracing.
    /// The report with -v gives every reason of every guess (as --json does).
    #[arg(short, long, action = ArgAction::Count, global = true)]
    verbose: u8,
    /// Errors only on stderr: no warnings, progress or summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    quiet: bool,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto, global = true)]
    color: ColorChoice,
    /// Never page the output. By default output longer than the terminal goes through
    /// $PAGER (less -FRX when unset; PAGER=cat or empty: no pager), never a pipe or a file.
    #[arg(long, global = true)]
    no_pager: bool,
}

/// Options every command that reads a dump takes.
#[derive(Args, Clone)]
pub struct DumpArgs {
    /// The vmcore: ELF (/proc/vmcore copy, makedumpfile -E, QEMU), kdump-compressed or flattened;
    /// or /proc/kcore, the running kernel (as root).
    dump: Option<PathBuf>,
    /// A vmlinux with DWARF for this kernel; by default symbols and types come from the dump,
    /// or from the debug package's vmlinux for the dump's release when one is installed.
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
    /// Kernel backtraces of tasks (crash's `bt`; `-a`: crash's `bt -a`; `--all`: `foreach bt`).
    Bt(cmd::bt::BtArgs),
    /// Every lock with a holder or waiters: who holds it, who waits, and how each is known.
    Locks(DumpArgs),
    /// One page decoded, its lock, its waiters and who may hold it (crash's `kmem -p`).
    Page(cmd::page::PageArgs),
    /// Many dumps at once, in parallel: one JSON line per dump, hangs grouped by signature.
    #[command(after_help = cmd::triage::AFTER_HELP)]
    Triage(cmd::triage::TriageArgs),
    /// Shell completions on stdout (e.g. `holdup completions bash > /etc/bash_completion.d/holdup`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The manual page (roff) on stdout (e.g. `holdup man > holdup.1; man ./holdup.1`); with a
    /// subcommand, its own page, holdup-SUBCOMMAND(1) (`holdup man bt > holdup-bt.1`).
    Man {
        /// A subcommand (info, log, ps, bt, locks, page, triage, completions, schema).
        subcommand: Option<String>,
    },
    /// The JSON Schema of a command's `--json` output (`report` for `holdup DUMP --json`,
    /// `triage` for one triage line), as in docs/schemas/.
    Schema {
        #[arg(value_enum)]
        command: cmd::schema::JsonCommand,
    },
}

/// Exit statuses. Stable: scripts rely on them (README, `--help`).
pub mod exit {
    /// The command did what was asked (for the report: blocked tasks were found and explained;
    /// for triage: every dump was analysed).
    pub const OK: u8 = 0;
    /// The report found no blocked task: nothing to explain.
    pub const NO_HANG: u8 = 1;
    /// The dump could not be read (not a dump, truncated, no symbols...), or bad usage.
    pub const UNREADABLE: u8 = 2;
    /// Triage: at least one dump could not be analysed; its line has `errors`.
    pub const SOME_FAILED: u8 = 3;
    /// The report found blocked tasks and explained them as far as the dump allows, but
    /// memory it needed is missing (filtered out, or never written): what is missing may
    /// hide blocked tasks or links; the report's header says what each gap may hide.
    pub const PARTIAL: u8 = 4;
}

fn init_logging(g: &GlobalArgs) {
    let mut b = env_logger::Builder::new();
    b.filter_level(::log::LevelFilter::Warn)
        .format_target(false)
        .format_timestamp(None)
        .parse_env("HOLDUP_LOG");
    let level = match (g.quiet, g.verbose) {
        (true, _) => Some(::log::LevelFilter::Error),
        (false, 0) => None,
        (false, 1) => Some(::log::LevelFilter::Info),
        (false, 2) => Some(::log::LevelFilter::Debug),
        (false, _) => Some(::log::LevelFilter::Trace),
    };
    if let Some(l) = level {
        b.filter_level(l);
    }
    b.init();
}

fn main() -> ExitCode {
    // A reader that goes away (`holdup DUMP | head`, quitting `less`) ends holdup quietly, as
    // it ends cat and git: by SIGPIPE, which the Rust runtime ignores by default (every print
    // would then panic on EPIPE).
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    cmd::term::init();
    let cli = Cli::parse();
    if cli.command.is_some() && (cli.report.dot || cli.report.no_page_scan) {
        let mut cmd = Cli::command();
        cmd.error(
            clap::error::ErrorKind::ArgumentConflict,
            "--dot and --no-page-scan are options of the report (`holdup DUMP`), not of a subcommand",
        )
        .exit();
    }
    init_logging(&cli.global);
    cmd::style::init(Ui {
        color: cli.global.color,
        quiet: cli.global.quiet,
    });
    let is_triage = matches!(cli.command, Some(Command::Triage(_)));
    // Output for a person is paged; triage streams JSON lines and its summary as it goes,
    // and completions and the man page are for files.
    let pager = match cli.command {
        Some(
            Command::Triage(_)
            | Command::Completions { .. }
            | Command::Man { .. }
            | Command::Schema { .. },
        ) => None,
        _ => cmd::pager::start(cli.global.no_pager),
    };
    let result = match cli.command {
        Some(Command::Info(args)) => cmd::info::run(&args),
        Some(Command::Log(args)) => cmd::log::run(&args),
        Some(Command::Ps(args)) => cmd::ps::run(&args),
        Some(Command::Bt(args)) => cmd::bt::run(&args),
        Some(Command::Locks(args)) => cmd::locks::run(&args),
        Some(Command::Page(args)) => cmd::page::run(&args),
        Some(Command::Triage(args)) => cmd::triage::run(&args),
        Some(Command::Completions { shell }) => {
            cmd::shell::completions(shell, Cli::command());
            Ok(())
        }
        Some(Command::Man { subcommand }) => cmd::shell::man(Cli::command(), subcommand.as_deref()),
        Some(Command::Schema { command }) => cmd::schema::run(command),
        None => cmd::report::run(&cli.report, cli.global.verbose > 0),
    };
    // Triage checks each dump itself; any other command read one dump.
    let faults = holdup_kernel::file_faults_total();
    let result = match result {
        Ok(()) if faults > 0 && !is_triage => Err(cmd::Failure::new(
            exit::UNREADABLE,
            format!(
                "{faults} page(s) of the dump file could not be read while holdup read it (the file shrank, or its filesystem could not supply them): the output above is incomplete and may be wrong"
            ),
        )),
        r => r,
    };
    if let Some(p) = pager {
        p.finish();
    }
    match result {
        Ok(()) => ExitCode::from(exit::OK),
        Err(f) => {
            eprintln!("holdup: {}", f.message);
            ExitCode::from(f.status)
        }
    }
}
