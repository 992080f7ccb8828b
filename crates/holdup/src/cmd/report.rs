//! `holdup DUMP`: the hang report — who holds what, the chains, the root causes.

use super::{Failure, open, style};
use crate::{DumpArgs, exit};
use clap::Args;
use holdup_analysis::hang::{HangOptions, analyse_hang};
use holdup_kernel::Kernel;
use holdup_kernel::sysinfo::{kernel_log, system_info};
use holdup_report::{Header, Report, render_dot, render_text, to_json};

#[derive(Args, Clone)]
pub struct ReportArgs {
    #[command(flatten)]
    pub dump: DumpArgs,
    /// Print the wait-for graph in Graphviz dot instead (`holdup DUMP --dot | dot -Tsvg`).
    #[arg(long, conflicts_with = "json")]
    pub dot: bool,
    /// Skip the scan of every struct page for locked pages nobody waits on.
    #[arg(long)]
    pub no_page_scan: bool,
}

/// Reads the dump and builds the report.
pub fn build(kernel: &Kernel, path: &str, no_page_scan: bool) -> Result<Report, Failure> {
    let log = kernel_log(kernel).ok();
    let info = system_info(kernel, log.as_ref());
    let hang = analyse_hang(kernel, &HangOptions { no_page_scan })
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("{path}: cannot list tasks: {e}")))?;
    let mut problems = hang.problems;
    problems.extend(info.problems.iter().cloned());
    let header = Header {
        dump_path: path.to_string(),
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
        header,
        graph: hang.graph,
        analysis: hang.analysis,
        problems,
    })
}

pub fn run(args: &ReportArgs) -> Result<(), Failure> {
    let path = match &args.dump.dump {
        Some(p) => p.display().to_string(),
        None => {
            return Err(Failure::new(
                exit::UNREADABLE,
                "no dump given (try `holdup --help`)",
            ));
        }
    };
    let spinner = style::spinner(&format!("reading {path}"));
    let kernel = open(&args.dump)?;
    spinner.set_message(format!("analysing {path}"));
    let report = build(&kernel, &path, args.no_page_scan);
    spinner.finish_and_clear();
    let report = report?;
    if args.dump.json {
        println!("{}", to_json(&report));
    } else if args.dot {
        print!("{}", render_dot(&report));
    } else if style::color_on(style::Stream::Stdout) {
        print!("{}", style::color_report(&render_text(&report)));
    } else {
        print!("{}", render_text(&report));
    }
    if report.graph.tasks.values().any(|t| t.blocked) {
        Ok(())
    } else {
        Err(Failure::new(
            exit::NO_HANG,
            format!("{path}: no blocked task: nothing to explain"),
        ))
    }
}
