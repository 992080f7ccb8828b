//! The report for a person, and the wait-for graph for Graphviz.

use crate::json::root_lock;
use crate::{Report, hex, seconds};
use comfy_table::{ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use holdup_analysis::{Certainty, RootCause, RootKind, TaskId};
use std::fmt::Write as _;

fn who(report: &Report, t: TaskId) -> String {
    match report.graph.tasks.get(&t) {
        Some(n) => format!("{} (pid {})", n.comm, n.pid),
        None => format!("task {}", hex(t)),
    }
}

fn who_list(report: &Report, ts: &[TaskId]) -> String {
    let names: Vec<String> = ts.iter().map(|t| who(report, *t)).collect();
    match names.len() {
        0 => "nobody".into(),
        1 => names[0].clone(),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

/// Tasks named one by one in a list of the text report; past this, the list names the first
/// ones and counts the rest by comm (`--json` has every one).
const LISTED: usize = 8;

/// `items` joined with ", ", or the first [`LISTED`] and a count of the rest by comm: "... and
/// 192 more (tmp_writer ×192)". `comms` gives each item's comm, in the same order.
fn capped_list(items: &[String], comms: &[String]) -> String {
    if items.len() <= LISTED + 2 {
        return items.join(", ");
    }
    let rest = &comms[LISTED..];
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for c in rest {
        match counts.iter_mut().find(|(n, _)| n == c) {
            Some((_, k)) => *k += 1,
            None => counts.push((c, 1)),
        }
    }
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let by_comm: Vec<String> = counts
        .iter()
        .take(4)
        .map(|(c, k)| format!("{c} ×{k}"))
        .collect();
    let others = counts.len().saturating_sub(4);
    format!(
        "{}, ... and {} more ({}{}; --json lists every one)",
        items[..LISTED].join(", "),
        rest.len(),
        by_comm.join(", "),
        if others > 0 {
            format!(", {others} other comms")
        } else {
            String::new()
        }
    )
}

fn comm_of(report: &Report, t: TaskId) -> String {
    report
        .graph
        .tasks
        .get(&t)
        .map_or_else(|| "?".into(), |n| n.comm.clone())
}

/// What holds a lock that is not a task (the first of `held_by`).
fn held_by(report: &Report, l: u64) -> String {
    report
        .graph
        .locks
        .get(&l)
        .and_then(|n| n.held_by.first())
        .map_or_else(|| "a state of the system".into(), |h| h.what.clone())
}

/// What a root cause is called in its heading: its tasks, or for a state what holds it.
pub(crate) fn root_title(report: &Report, r: &RootCause) -> String {
    match &r.kind {
        RootKind::HeldByState { lock } if r.tasks.is_empty() => held_by(report, *lock),
        _ => who_list(report, &r.tasks),
    }
}

fn lock_name(report: &Report, l: u64) -> String {
    report
        .graph
        .locks
        .get(&l)
        .map_or_else(|| format!("lock {}", hex(l)), |n| n.name.clone())
}

/// `fact: mutex.owner` or `guess 80%: reason; reason`.
pub(crate) fn evidence(c: &Certainty) -> String {
    match c {
        Certainty::Fact { source } => format!("fact: {source}"),
        Certainty::Inference {
            confidence,
            reasons,
        } => format!("guess {:.0}%: {}", confidence * 100.0, reasons.join("; ")),
    }
}

/// Short form for tables: `fact` or `guess 80%`.
fn evidence_short(c: &Certainty) -> String {
    match c {
        Certainty::Fact { .. } => "fact".into(),
        Certainty::Inference { confidence, .. } => format!("guess {:.0}%", confidence * 100.0),
    }
}

/// ` (read)`, or nothing for waits that have no mode (a completion).
fn mode_suffix(mode: &str) -> String {
    if mode == "none" {
        String::new()
    } else {
        format!(" ({mode})")
    }
}

/// Inferences weaker than this stay out of the text (they are in `--json`).
const SHOWN_CONFIDENCE: f64 = 0.3;

/// One sentence saying why the root cause is where everything ends.
pub(crate) fn explain(report: &Report, r: &RootCause) -> String {
    let tasks = who_list(report, &r.tasks);
    let blocked_in = |t: TaskId| {
        report
            .graph
            .tasks
            .get(&t)
            .and_then(|n| n.blocked_in.clone())
            .map_or_else(String::new, |f| format!(" in {f}"))
    };
    match &r.kind {
        RootKind::SelfDeadlock { lock } => {
            // As sure as the hold is: the kernel records no page-lock owner, so a page
            // self-deadlock is usually a guess.
            let hold = report
                .graph
                .holds
                .iter()
                .find(|h| h.lock == *lock && r.tasks.contains(&h.task));
            match hold.map(|h| &h.certainty) {
                Some(Certainty::Inference { confidence, .. }) => format!(
                    "{tasks} waits for {}, which it may hold itself (guess {:.0}%): if so, a self-deadlock that nothing can release.",
                    lock_name(report, *lock),
                    confidence * 100.0
                ),
                _ => format!(
                    "{tasks} waits for {}, which it holds itself: a self-deadlock; nothing can release it.",
                    lock_name(report, *lock)
                ),
            }
        }
        RootKind::Deadlock { cycle } => {
            let c = &report.analysis.cycles[*cycle];
            let links: Vec<String> = c
                .tasks
                .iter()
                .zip(&c.locks)
                .enumerate()
                .map(|(i, (t, l))| {
                    let next = c.tasks[(i + 1) % c.tasks.len()];
                    format!(
                        "{} waits for {} held by {}",
                        who(report, *t),
                        lock_name(report, *l),
                        who(report, next)
                    )
                })
                .collect();
            format!("deadlock: {}.", links.join("; "))
        }
        RootKind::HolderSleeping { lock } => format!(
            "{tasks} {} {} and {} asleep{}, waiting for nothing another task holds.",
            if r.tasks.len() > 1 { "hold" } else { "holds" },
            lock_name(report, *lock),
            if r.tasks.len() > 1 { "are" } else { "is" },
            r.tasks.first().map(|t| blocked_in(*t)).unwrap_or_default()
        ),
        RootKind::HolderRunning { lock } => format!(
            "{tasks} holds {} and was running on a CPU when the dump was taken.",
            lock_name(report, *lock)
        ),
        RootKind::NothingToWake { lock } => format!(
            "{tasks} waits for {}, which no task holds: nothing is going to complete it.",
            lock_name(report, *lock)
        ),
        RootKind::HolderUnknown { lock } => format!(
            "{tasks} waits for {}, whose holder could not be found in the dump.",
            lock_name(report, *lock)
        ),
        RootKind::HeldByState { lock } => {
            let n = r.blocked_behind.len();
            // One root may gather waits on several objects held by the same state.
            let objects: std::collections::BTreeSet<u64> = report
                .graph
                .waits
                .iter()
                .filter(|w| r.blocked_behind.contains(&w.task))
                .filter(|w| {
                    report
                        .graph
                        .locks
                        .get(&w.lock)
                        .is_some_and(|l| !l.held_by.is_empty())
                })
                .map(|w| w.lock)
                .collect();
            format!(
                "{} for {}, which no task holds: {}.",
                if n == 1 {
                    format!("{} waits", who(report, r.blocked_behind[0]))
                } else {
                    format!("{n} tasks wait")
                },
                if objects.len() > 1 {
                    format!("{} objects", objects.len())
                } else {
                    lock_name(report, *lock)
                },
                held_by(report, *lock)
            )
        }
        RootKind::Stuck => format!(
            "{tasks} is blocked{} and waits for no lock holdup recognises.",
            r.tasks.first().map(|t| blocked_in(*t)).unwrap_or_default()
        ),
    }
}

/// The report as text: a header, one block per root cause, the chains, all blocked tasks.
pub fn render_text(report: &Report) -> String {
    let g = &report.graph;
    let a = &report.analysis;
    let h = &report.header;
    let mut s = String::new();

    let blocked: Vec<_> = g.tasks.values().filter(|t| t.blocked).collect();
    let _ = writeln!(
        s,
        "{} — {}",
        h.release.as_deref().unwrap_or("unknown kernel"),
        h.dump_path
    );
    if let Some(m) = &h.panic_message {
        let by = h
            .panic_task
            .as_ref()
            .map(|(pid, comm)| format!(" by {comm} (pid {pid})"))
            .unwrap_or_default();
        let cpu = h
            .panic_cpu
            .map(|c| format!(" on CPU {c}"))
            .unwrap_or_default();
        let _ = writeln!(s, "panic{cpu}{by}: \"{m}\"");
    } else {
        let _ = writeln!(s, "no panic recorded (a dump of a live system?)");
    }
    let longest = blocked.iter().filter_map(|t| t.blocked_for_ns).max();
    let _ = writeln!(
        s,
        "uptime {}; {} tasks blocked{}; {} root cause{}, {} deadlock cycle{}",
        h.uptime_ns.map_or_else(|| "unknown".into(), seconds),
        blocked.len(),
        longest.map_or_else(String::new, |ns| format!(
            ", the longest for {}",
            seconds(ns)
        )),
        a.root_causes.len(),
        if a.root_causes.len() == 1 { "" } else { "s" },
        a.cycles.len(),
        if a.cycles.len() == 1 { "" } else { "s" },
    );

    for (i, r) in a.root_causes.iter().enumerate() {
        let _ = writeln!(s);
        let conf = if r.confidence >= 1.0 {
            "every link read from memory".to_string()
        } else {
            format!(
                "confidence {:.0}%: some links are inferred",
                r.confidence * 100.0
            )
        };
        let _ = writeln!(
            s,
            "ROOT CAUSE {}: {}  [{conf}]",
            i + 1,
            root_title(report, r)
        );
        let _ = writeln!(s, "  {}", explain(report, r));
        for t in &r.tasks {
            for w in g.waits.iter().filter(|w| w.task == *t) {
                let _ = writeln!(
                    s,
                    "  {} waits for {}{}{}  [{}]",
                    who(report, *t),
                    lock_name(report, w.lock),
                    mode_suffix(&w.mode),
                    w.position
                        .map_or_else(String::new, |p| format!(", position {p} in the queue")),
                    evidence(&w.certainty)
                );
            }
            for hd in g.holds.iter().filter(|hd| hd.task == *t) {
                let _ = writeln!(
                    s,
                    "  {} holds {} ({})  [{}]",
                    who(report, *t),
                    lock_name(report, hd.lock),
                    hd.mode,
                    evidence(&hd.certainty)
                );
            }
        }
        if let Some(l) = root_lock(r, report)
            && let Some(node) = g.locks.get(&l)
        {
            let _ = writeln!(s, "  lock: {} at {} ({})", node.name, hex(l), node.kind);
            for h in &node.held_by {
                let _ = writeln!(s, "  held by {}  [{}]", h.what, evidence(&h.certainty));
            }
        }
        // Who queues on what the root holds, in queue order; each lock once (two holders of
        // one semaphore share its queue).
        let mut shown_queues = std::collections::BTreeSet::new();
        for hd in g
            .holds
            .iter()
            .filter(|hd| r.tasks.contains(&hd.task) && shown_queues.insert(hd.lock))
        {
            let mut queue: Vec<_> = g
                .waits
                .iter()
                .filter(|w| w.lock == hd.lock && !r.tasks.contains(&w.task))
                .collect();
            if queue.is_empty() {
                continue;
            }
            queue.sort_by_key(|w| w.position.unwrap_or(usize::MAX));
            let names: Vec<String> = queue
                .iter()
                .map(|w| {
                    let pos = w.position.map_or_else(String::new, |p| format!("#{p} "));
                    format!("{pos}{}{}", who(report, w.task), mode_suffix(&w.mode))
                })
                .collect();
            let comms: Vec<String> = queue.iter().map(|w| comm_of(report, w.task)).collect();
            let _ = writeln!(
                s,
                "  queued on {}: {}",
                lock_name(report, hd.lock),
                capped_list(&names, &comms)
            );
        }
        if r.blocked_behind.is_empty() {
            let _ = writeln!(s, "  nobody else is blocked behind it");
        } else {
            let behind = if r.blocked_behind.len() <= LISTED + 2 {
                who_list(report, &r.blocked_behind)
            } else {
                let names: Vec<String> = r.blocked_behind.iter().map(|t| who(report, *t)).collect();
                let comms: Vec<String> = r
                    .blocked_behind
                    .iter()
                    .map(|t| comm_of(report, *t))
                    .collect();
                format!(
                    "{} tasks: {}",
                    r.blocked_behind.len(),
                    capped_list(&names, &comms)
                )
            };
            let _ = writeln!(s, "  blocked behind it: {behind}");
        }
    }

    let long_chains: Vec<_> = a
        .chains
        .iter()
        .filter(|c| {
            c.steps.len() > 1 || {
                c.steps
                    .first()
                    .is_some_and(|st| st.holders.first().is_some_and(|(h, _)| *h != c.task))
            }
        })
        .collect();
    if !long_chains.is_empty() {
        let _ = writeln!(s, "\nCHAINS (who waits for whom)");
        // Chains that differ only in their first task (200 writers behind one holder) are
        // one line when there are more than a few of them.
        let mut groups: Vec<(String, usize, Vec<TaskId>)> = Vec::new();
        for c in long_chains {
            let mut line = String::new();
            for st in &c.steps {
                let holder = st.holders.first().map_or_else(
                    || "no holder".to_string(),
                    |(t, cert)| format!("{} [{}]", who(report, *t), evidence_short(cert)),
                );
                let _ = write!(
                    line,
                    " waits ({}, {}) for {} held by {}",
                    st.mode,
                    evidence_short(&st.wait),
                    lock_name(report, st.lock),
                    holder
                );
            }
            match groups
                .iter_mut()
                .find(|(l, r, _)| *l == line && *r == c.root_cause)
            {
                Some((_, _, tasks)) => tasks.push(c.task),
                None => groups.push((line, c.root_cause, vec![c.task])),
            }
        }
        for (line, root, tasks) in groups {
            if tasks.len() <= 3 {
                for t in tasks {
                    let _ = writeln!(s, "  {}{line}  => root cause {}", who(report, t), root + 1);
                }
            } else {
                let names: Vec<String> = tasks.iter().map(|t| who(report, *t)).collect();
                let comms: Vec<String> = tasks.iter().map(|t| comm_of(report, *t)).collect();
                let _ = writeln!(
                    s,
                    "  {} tasks ({}){}  => root cause {}",
                    tasks.len(),
                    capped_list(&names, &comms),
                    line.replacen(" waits (", " wait (", 1),
                    root + 1
                );
            }
        }
    }

    let _ = writeln!(s, "\nBLOCKED TASKS");
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header([
            "PID",
            "COMM",
            "ST",
            "BLOCKED FOR",
            "WAITS ON",
            "HOLDS",
            "BLOCKED IN",
        ]);
    if let Some(w) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        table.set_width(w);
    } else {
        table.set_width(160);
    }
    for t in &blocked {
        let waits = g
            .waits
            .iter()
            .filter(|w| w.task == t.id)
            .map(|w| {
                format!(
                    "{} ({}, {})",
                    lock_name(report, w.lock),
                    w.mode,
                    evidence_short(&w.certainty)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        let holds = g
            .holds
            .iter()
            .filter(|h| h.task == t.id && h.certainty.confidence() >= SHOWN_CONFIDENCE)
            .map(|h| {
                format!(
                    "{} ({}, {})",
                    lock_name(report, h.lock),
                    h.mode,
                    evidence_short(&h.certainty)
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        table.add_row([
            t.pid.to_string(),
            t.comm.clone(),
            t.state.clone(),
            t.blocked_for_ns.map_or_else(|| "?".into(), seconds),
            if waits.is_empty() { "-".into() } else { waits },
            if holds.is_empty() { "-".into() } else { holds },
            t.blocked_in.clone().unwrap_or_else(|| "?".into()),
        ]);
    }
    let _ = writeln!(s, "{table}");
    let _ = writeln!(
        s,
        "fact = read from memory (the kernel records it); guess N% = inferred, with the evidence shown above or in --json."
    );
    let hidden = g
        .holds
        .iter()
        .filter(|h| h.certainty.confidence() < SHOWN_CONFIDENCE)
        .count();
    if hidden > 0 {
        let _ = writeln!(
            s,
            "{hidden} weaker holder candidate(s) (under {:.0}%) are only in --json.",
            SHOWN_CONFIDENCE * 100.0
        );
    }
    if !report.problems.is_empty() {
        let _ = writeln!(s, "\nNOT SEEN (what the dump did not let holdup read)");
        for p in &report.problems {
            let _ = writeln!(s, "  {p}");
        }
    }
    s
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// The wait-for graph in Graphviz `dot`: tasks are ellipses (root causes red), locks boxes;
/// "waits for" edges go from task to lock, "held by" from lock to task; inferred edges dashed.
pub fn render_dot(report: &Report) -> String {
    let g = &report.graph;
    let roots: std::collections::BTreeSet<TaskId> = report
        .analysis
        .root_causes
        .iter()
        .flat_map(|r| r.tasks.iter().copied())
        .collect();
    let involved: std::collections::BTreeSet<TaskId> = g
        .waits
        .iter()
        .map(|w| w.task)
        .chain(g.holds.iter().map(|h| h.task))
        .chain(g.tasks.values().filter(|t| t.blocked).map(|t| t.id))
        .collect();
    let mut s = String::from("digraph holdup {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n");
    for t in involved {
        let (label, color) = match g.tasks.get(&t) {
            Some(n) => (
                format!("{}\\npid {}", dot_escape(&n.comm), n.pid),
                if roots.contains(&t) { "red" } else { "black" },
            ),
            None => (hex(t), "gray"),
        };
        let _ = writeln!(
            s,
            "  \"t{t:x}\" [shape=ellipse, color={color}, label=\"{label}\"];"
        );
    }
    for l in g.locks.values() {
        let _ = writeln!(
            s,
            "  \"l{:x}\" [shape=box, label=\"{}\\n{}\"];",
            l.id,
            dot_escape(&l.name),
            l.kind
        );
    }
    let style = |c: &Certainty| if c.is_fact() { "solid" } else { "dashed" };
    for w in &g.waits {
        let _ = writeln!(
            s,
            "  \"t{:x}\" -> \"l{:x}\" [label=\"waits ({})\", style={}];",
            w.task,
            w.lock,
            dot_escape(&w.mode),
            style(&w.certainty)
        );
    }
    for h in &g.holds {
        let _ = writeln!(
            s,
            "  \"l{:x}\" -> \"t{:x}\" [label=\"held by ({}) {}\", style={}];",
            h.lock,
            h.task,
            dot_escape(&h.mode),
            dot_escape(&evidence_short(&h.certainty)),
            style(&h.certainty)
        );
    }
    s.push_str("}\n");
    s
}
