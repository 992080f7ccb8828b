//! `holdup DUMP`: the hang report — who holds what, the chains, the root causes.

use super::{Failure, open, style};
use crate::{DumpArgs, exit};
use clap::Args;
use holdup_analysis::hang::HangOptions;
use holdup_report::{Outcome, TextOptions, build_report, render_dot, render_text_with, to_json};

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

/// `full_evidence` (`-v`): every reason of every guess in the text, as in `--json`.
pub fn run(args: &ReportArgs, full_evidence: bool) -> Result<(), Failure> {
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
    let report = build_report(
        &kernel,
        &path,
        &HangOptions {
            no_page_scan: args.no_page_scan,
        },
    );
    spinner.finish_and_clear();
    let report = report
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("{path}: cannot list tasks: {e}")))?;
    if args.dump.json {
        println!("{}", to_json(&report));
    } else if args.dot {
        print!("{}", render_dot(&report));
    } else {
        let text = render_text_with(
            &report,
            TextOptions {
                width: super::term::terminal().width,
                full_evidence,
            },
        );
        if style::color_on(style::Stream::Stdout) {
            print!("{}", style::color_report(&text));
        } else {
            print!("{text}");
        }
    }
    match report.outcome() {
        Outcome::Hang => Ok(()),
        // The report stands, but the dump lacks memory it needed: said in its header, and in
        // the exit status for scripts.
        Outcome::Partial => Err(Failure::new(
            exit::PARTIAL,
            format!(
                "{path}: partial: the dump lacks memory the analysis needed (the report's header says what each gap may hide)"
            ),
        )),
        // Tasks the dump could not show may be the blocked ones: not a "no hang".
        Outcome::Undecided => Err(Failure::new(
            exit::UNREADABLE,
            format!(
                "{path}: no blocked task among the {} tasks read, but {} task(s) could not be read: the dump cannot tell whether tasks hung (see the problems listed)",
                report.tasks_read, report.tasks_unreadable
            ),
        )),
        Outcome::NoHang => Err(Failure::new(
            exit::NO_HANG,
            format!("{path}: no blocked task: nothing to explain"),
        )),
    }
}
