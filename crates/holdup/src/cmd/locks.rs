//! `holdup locks DUMP`: every lock with a holder or waiters, and how each is known.

use super::{Failure, blocked_locks, open, print_json};
use crate::DumpArgs;
use holdup_kernel::locking::{AnalyzeOptions, HolderId};

pub fn run(args: &DumpArgs) -> Result<(), Failure> {
    let kernel = open(args)?;
    let (tasks, analysis) = blocked_locks(&kernel, &AnalyzeOptions::default())?;
    if args.json {
        return print_json(&analysis);
    }
    let who = |t: u64| match tasks.tasks.iter().find(|x| x.task == t) {
        Some(x) => format!("{} (pid {})", x.comm, x.pid),
        None => format!("task {t:#x}"),
    };
    for l in &analysis.locks {
        let name = l
            .name
            .as_ref()
            .map_or_else(String::new, |n| format!(" {}", n.text));
        println!("{} {:#x}{name}", l.id.kind.as_str(), l.id.addr);
        for h in &l.holders {
            let holder = match &h.who {
                HolderId::Task { task } => who(*task),
                HolderId::Io { what } => format!("I/O: {what}"),
                HolderId::State { what, .. } => what.clone(),
            };
            println!(
                "  held by {holder}{}  [{}]",
                mode_suffix(h.mode.as_str()),
                super::evidence_text(&h.evidence)
            );
        }
        for w in &l.waiters {
            let pos = w.position.map_or_else(String::new, |p| format!(" #{p}"));
            println!(
                "  waiter{pos} {}{}  [{}]",
                who(w.task),
                mode_suffix(w.mode.as_str()),
                super::evidence_text(&w.evidence)
            );
        }
        for n in &l.notes {
            println!("  note: {n}");
        }
    }
    for p in &analysis.problems {
        super::note("locks", p);
    }
    Ok(())
}

/// ` (read)`, or nothing for a wait that has no mode (a completion): "(none)" would read as
/// if the mode were unknown.
fn mode_suffix(mode: &str) -> String {
    if mode == "none" {
        String::new()
    } else {
        format!(" ({mode})")
    }
}
