//! The report for a person, and the wait-for graph for Graphviz.

use crate::json::root_lock;
use crate::{Report, hex, seconds};
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

/// How sure a relation is, in the one vocabulary of every output: `fact` or `guess 80%`.
pub(crate) fn certainty_word(c: &Certainty) -> String {
    match c {
        Certainty::Fact { .. } => "fact".into(),
        Certainty::Inference { confidence, .. } => format!("guess {:.0}%", confidence * 100.0),
    }
}

/// A root cause's (or any weakest link's) confidence in the same words.
fn confidence_word(confidence: f64) -> String {
    if confidence >= 1.0 {
        "fact".into()
    } else {
        format!("guess {:.0}%", confidence * 100.0)
    }
}

/// `fact: mutex.owner` or `guess 80%: reason`. `full`: every reason, as `--json` has them;
/// otherwise the one a person needs: the sign found on the task's own stack, which is what
/// makes the guess about this task rather than about the lock (the others say what the lock
/// records, the same for every candidate), and a fact without the slow path it was read
/// through.
pub(crate) fn evidence(c: &Certainty, full: bool) -> String {
    match c {
        Certainty::Fact { source } if full => format!("fact: {source}"),
        Certainty::Fact { source } => {
            let short = source.split(" (slow path").next().unwrap_or(source);
            format!("fact: {short}")
        }
        Certainty::Inference { reasons, .. } => {
            let shown = if full {
                reasons.join("; ")
            } else {
                reasons
                    .iter()
                    .find(|r| r.contains("stack"))
                    .or_else(|| reasons.first())
                    .cloned()
                    .unwrap_or_default()
            };
            if shown.is_empty() {
                certainty_word(c)
            } else {
                format!("{}: {shown}", certainty_word(c))
            }
        }
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

/// `read, fact`, or `fact` alone for a wait that has no mode (a completion).
fn mode_and_certainty(mode: &str, c: &Certainty) -> String {
    if mode == "none" {
        certainty_word(c)
    } else {
        format!("{mode}, {}", certainty_word(c))
    }
}

/// Inferences weaker than this stay out of the text (`--json`, `--dot` and `holdup locks`
/// show them).
const SHOWN_CONFIDENCE: f64 = 0.3;

/// A task and the frame a person acts on: `kscand (pid 99) in kscand_fn+0x1c6 [hangmod]`.
fn who_in(report: &Report, t: TaskId) -> String {
    match report.graph.tasks.get(&t).and_then(|n| n.caller.as_deref()) {
        Some(caller) => format!("{} in {caller}", who(report, t)),
        None => who(report, t),
    }
}

fn who_in_list(report: &Report, ts: &[TaskId]) -> String {
    let names: Vec<String> = ts.iter().map(|t| who_in(report, *t)).collect();
    match names.len() {
        0 => "nobody".into(),
        1 => names[0].clone(),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

/// The locks a root cause is about: its one lock, or each lock of a deadlock's cycle.
pub(crate) fn root_locks(report: &Report, r: &RootCause) -> Vec<u64> {
    match &r.kind {
        RootKind::Deadlock { cycle } => report
            .analysis
            .cycles
            .get(*cycle)
            .map_or_else(Vec::new, |c| c.locks.clone()),
        k => k.lock().into_iter().collect(),
    }
}

/// One sentence saying why the root cause is where everything ends, each task with the
/// frame a person acts on.
pub(crate) fn explain(report: &Report, r: &RootCause) -> String {
    let tasks = who_in_list(report, &r.tasks);
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
                        who_in(report, *t),
                        lock_name(report, *l),
                        who(report, next)
                    )
                })
                .collect();
            if c.all_facts {
                format!("deadlock: {}.", links.join("; "))
            } else {
                format!(
                    "deadlock if the inferred links hold ({}): {}.",
                    confidence_word(c.confidence),
                    links.join("; ")
                )
            }
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
            "{tasks} {} for {}, whose holder could not be found in the dump.",
            if r.tasks.len() > 1 { "wait" } else { "waits" },
            lock_name(report, *lock)
        ),
        RootKind::HeldByState { lock } => {
            let n = r.blocked_behind.len();
            // One root may gather waits on several objects held by the same state.
            let behind: std::collections::HashSet<u64> = r.blocked_behind.iter().copied().collect();
            let objects: std::collections::BTreeSet<u64> = report
                .graph
                .waits
                .iter()
                .filter(|w| behind.contains(&w.task))
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
                    format!("{} waits", who_in(report, r.blocked_behind[0]))
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

/// What a root cause is, in a few words for the summary (its sentence says it in full).
fn summary_what(report: &Report, r: &RootCause) -> String {
    let locks: Vec<String> = root_locks(report, r)
        .iter()
        .map(|l| lock_name(report, *l))
        .collect();
    let lock = locks.first().cloned().unwrap_or_else(|| "?".into());
    let first_blocked_in = r
        .tasks
        .first()
        .and_then(|t| report.graph.tasks.get(t))
        .and_then(|n| n.blocked_in.as_deref())
        .unwrap_or("?");
    let holds = if r.tasks.len() > 1 { "hold" } else { "holds" };
    match &r.kind {
        RootKind::SelfDeadlock { lock: l } => {
            let held_as_fact = report
                .graph
                .holds
                .iter()
                .any(|h| h.lock == *l && r.tasks.contains(&h.task) && h.certainty.is_fact());
            if held_as_fact {
                format!("waits for {lock}, which it holds itself: self-deadlock")
            } else {
                format!("waits for {lock}, which it may hold itself: self-deadlock if so")
            }
        }
        RootKind::Deadlock { .. } => {
            format!("deadlock over {}", and_list_owned(&locks))
        }
        RootKind::HolderSleeping { .. } => {
            format!("{holds} {lock}, asleep in {first_blocked_in}")
        }
        RootKind::HolderRunning { .. } => format!("{holds} {lock}, running on a CPU"),
        RootKind::NothingToWake { .. } => {
            format!("waits for {lock}, which nothing is going to complete")
        }
        RootKind::HolderUnknown { .. } => format!(
            "{} for {lock}, holder not found",
            if r.tasks.len() > 1 { "wait" } else { "waits" }
        ),
        RootKind::HeldByState { .. } => format!("holds {lock}"),
        RootKind::Stuck => format!("blocked in {first_blocked_in}, on no lock holdup recognises"),
    }
}

/// "a", "a and b", "a, b and c", of owned strings.
fn and_list_owned(items: &[String]) -> String {
    let refs: Vec<&str> = items.iter().map(String::as_str).collect();
    and_list(&refs)
}

/// Why readers queued on a lock the root's tasks hold are blocked although only readers
/// hold it: a writer is queued ahead of them, and an rw_semaphore lets no reader pass a
/// waiting writer (on PREEMPT_RT the waiting writer holds the lock's rt_mutex, which every
/// reader must take). One sentence per such reader, in queue order; the hold and queue
/// positions it rests on are shown with their evidence on the lines above it.
pub(crate) fn queue_notes(report: &Report, r: &RootCause) -> Vec<String> {
    let g = &report.graph;
    let mut notes = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for hd in g.holds.iter().filter(|h| r.tasks.contains(&h.task)) {
        if !seen.insert(hd.lock) || g.locks.get(&hd.lock).is_none_or(|l| l.kind != "rwsem") {
            continue;
        }
        let holders: Vec<_> = g
            .holds
            .iter()
            .filter(|h| h.lock == hd.lock && h.certainty.confidence() >= SHOWN_CONFIDENCE)
            .collect();
        if holders.is_empty() || holders.iter().any(|h| h.mode != "read") {
            continue;
        }
        let mut queue: Vec<_> = g
            .waits
            .iter()
            .filter(|w| w.lock == hd.lock && w.position.is_some())
            .collect();
        queue.sort_by_key(|w| w.position);
        let Some(writer) = queue.iter().find(|w| w.mode == "write") else {
            continue;
        };
        let on_rt =
            matches!(&writer.certainty, Certainty::Fact { source } if source.contains("rwbase_rt"));
        let why = if on_rt {
            "holding the lock's rt_mutex until the readers leave, and on PREEMPT_RT every reader must take that rt_mutex"
        } else {
            "and an rw_semaphore lets no new reader pass a waiting writer"
        };
        let readers: Vec<_> = queue
            .iter()
            .filter(|w| w.mode == "read" && w.position > writer.position)
            .collect();
        // A few readers get a sentence each; a pile-up of them, one sentence for all.
        if readers.len() > 2 {
            let names: Vec<String> = readers.iter().map(|w| who(report, w.task)).collect();
            let comms: Vec<String> = readers.iter().map(|w| comm_of(report, w.task)).collect();
            notes.push(format!(
                "{} readers ({}) cannot take {} for read although it is held for read: {} waits ahead of them (#{}) to write, {why}.",
                readers.len(),
                capped_list(&names, &comms),
                lock_name(report, hd.lock),
                who_in(report, writer.task),
                writer.position.unwrap_or(0),
            ));
            continue;
        }
        for reader in readers {
            notes.push(format!(
                "{} cannot take {} for read although it is held for read: {} waits ahead of it (#{}) to write, {why}.",
                who_in(report, reader.task),
                lock_name(report, hd.lock),
                who_in(report, writer.task),
                writer.position.unwrap_or(0),
            ));
        }
    }
    notes
}

/// What each kind of gap in the dump may hide, for the header of an incomplete dump.
struct Gap {
    what: &'static str,
    may_hide: &'static str,
    count: usize,
    /// Pids named, for unreadable tasks.
    pids: Vec<u32>,
}

/// The gaps of `report.problems` grouped by what they may hide. The problems are sentences
/// of the layer that met them, named by where the read failed (`init_task.tasks: ...`,
/// `task 0x... (pid 158): ...`); one not recognised is still counted, as a gap that may hide
/// a link.
fn gaps(report: &Report) -> Vec<Gap> {
    let kinds: [(&str, &'static str, &'static str); 5] = [
        (
            "unreadable",
            "task(s) unreadable",
            "any of them may be a blocked task: what it waits on and holds is missing",
        ),
        (
            "init_task.tasks",
            "break(s) in the task list",
            "tasks on the stretch that could not be walked may be missing",
        ),
        (
            "init_pid_ns.idr",
            "unreadable stretch(es) of the pid table",
            "a task known only by its pid may be missing",
        ),
        (
            "threads of task",
            "unreadable thread list(s)",
            "threads of those processes may be missing",
        ),
        (
            "",
            "other unreadable object(s)",
            "a wait, a hold or a lock may be missing",
        ),
    ];
    let mut out: Vec<Gap> = kinds
        .iter()
        .map(|&(_, what, may_hide)| Gap {
            what,
            may_hide,
            count: 0,
            pids: Vec::new(),
        })
        .collect();
    for (_, pid) in &report.unreadable_tasks {
        out[0].count += 1;
        out[0].pids.extend(pid);
    }
    let unreadable_task = |p: &str| {
        report.unreadable_tasks.iter().any(|(addr, _)| {
            p.strip_prefix(&format!("task {addr:#x}"))
                .is_some_and(|rest| rest.starts_with([':', ' ']))
        })
    };
    for p in &report.problems {
        if unreadable_task(p) {
            // Counted with its task above.
            continue;
        }
        let i = kinds
            .iter()
            .position(|(prefix, ..)| !prefix.is_empty() && p.starts_with(prefix))
            .unwrap_or(kinds.len() - 1);
        out[i].count += 1;
    }
    out.retain(|g| g.count > 0);
    out
}

/// The gaps for `--json`: what, how many, what each may hide.
pub(crate) fn gap_list(report: &Report) -> Vec<(String, usize, String)> {
    gaps(report)
        .into_iter()
        .map(|g| (g.what.to_string(), g.count, g.may_hide.to_string()))
        .collect()
}

/// How the text report is laid out.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions {
    /// The width of the terminal it is shown on: tables fit it, and long lines are wrapped
    /// between words. `None` (a file, a pipe): lines are not wrapped and tables are at most
    /// [`UNKNOWN_WIDTH`] wide.
    pub width: Option<usize>,
    /// Every reason of every guess (`-v`), as `--json` has them; by default the main one.
    pub full_evidence: bool,
}

/// The width tables fit when the output's width is unknown (a pipe or a file).
pub const UNKNOWN_WIDTH: usize = 160;

/// The report as text, for a pipe or a file (no width known): [`render_text_with`].
pub fn render_text(report: &Report) -> String {
    render_text_with(report, TextOptions::default())
}

/// The report as text: a header, a summary of the root causes, one block per root cause,
/// the chains, all blocked tasks (or, with none blocked, the crash); laid out for
/// `opts.width` when it is known.
pub fn render_text_with(report: &Report, opts: TextOptions) -> String {
    let s = report_lines(report, opts);
    match opts.width {
        Some(w) => wrap_lines(&s, w),
        None => s,
    }
}

fn write_header(s: &mut String, report: &Report) {
    let g = &report.graph;
    let a = &report.analysis;
    let h = &report.header;
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
    } else if h.live() {
        let _ = writeln!(
            s,
            "the running kernel, read through /proc/kcore: its memory changed while holdup read it, so two relations may have been read at different moments"
        );
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
    let gaps = gaps(report);
    if !gaps.is_empty() {
        let filtered = match h.dump_level {
            Some(level) if !h.excluded.is_empty() => format!(
                " (dump level {level} left out {} pages)",
                h.excluded.join(", ")
            ),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "INCOMPLETE DUMP: memory the analysis needed is not in the dump{filtered}; the counts above may be short. What each gap may hide:"
        );
        for gap in &gaps {
            let pids = if gap.pids.is_empty() {
                String::new()
            } else {
                let p: Vec<String> = gap.pids.iter().map(|p| format!("pid {p}")).collect();
                format!(" ({})", p.join(", "))
            };
            let _ = writeln!(s, "  {} {}{pids}: {}", gap.count, gap.what, gap.may_hide);
        }
        let _ = writeln!(s, "  (NOT SEEN, at the end, lists each one)");
    }
}

/// The summary: one line per root cause, in rank order.
fn write_summary(s: &mut String, report: &Report) {
    let roots = &report.analysis.root_causes;
    if roots.is_empty() {
        return;
    }
    let _ = writeln!(
        s,
        "\nSUMMARY (root causes, most tasks blocked behind first, then by pid)"
    );
    for (i, r) in roots.iter().enumerate() {
        let who = match (&r.kind, r.tasks.as_slice()) {
            (RootKind::HeldByState { lock }, []) => held_by(report, *lock),
            (_, [one]) => who_in(report, *one),
            _ => who_list(report, &r.tasks),
        };
        let n = r.blocked_behind.len();
        let _ = writeln!(
            s,
            "  {}. {who}: {}; {n} task{} blocked behind; {}",
            i + 1,
            summary_what(report, r),
            if n == 1 { "" } else { "s" },
            confidence_word(r.confidence),
        );
    }
}

fn write_root_cause(s: &mut String, report: &Report, i: usize, r: &RootCause, full: bool) {
    let g = &report.graph;
    let _ = writeln!(s);
    let conf = if r.confidence >= 1.0 {
        "fact: every link read from memory".to_string()
    } else {
        format!(
            "{}: its weakest link is inferred",
            confidence_word(r.confidence)
        )
    };
    let _ = writeln!(
        s,
        "ROOT CAUSE {}: {}  [{conf}]",
        i + 1,
        root_title(report, r)
    );
    let _ = writeln!(s, "  {}", explain(report, r));
    let ix = g.index();
    for t in &r.tasks {
        for w in ix.task_waits(*t) {
            let _ = writeln!(
                s,
                "  {} waits for {}{}{}  [{}]",
                who(report, *t),
                lock_name(report, w.lock),
                mode_suffix(&w.mode),
                w.position
                    .map_or_else(String::new, |p| format!(", position {p} in the queue")),
                evidence(&w.certainty, full)
            );
            if full {
                write_crash_commands(
                    s,
                    &report.crash_commands(w.task, w.lock, true, &w.certainty),
                );
            }
        }
        for hd in ix.holds_of(*t) {
            let _ = writeln!(
                s,
                "  {} holds {}{}  [{}]",
                who(report, *t),
                lock_name(report, hd.lock),
                mode_suffix(&hd.mode),
                evidence(&hd.certainty, full)
            );
            if full {
                write_crash_commands(
                    s,
                    &report.crash_commands(hd.task, hd.lock, false, &hd.certainty),
                );
            }
        }
    }
    // A lock two root causes share (two waiters of a lock whose holder was not found) is
    // described at the first and pointed to at the others: no line twice.
    let described_at = |lock: u64| {
        report.analysis.root_causes[..i]
            .iter()
            .position(|earlier| root_locks(report, earlier).contains(&lock))
    };
    let locks: Vec<String> = root_locks(report, r)
        .iter()
        .filter_map(|l| g.locks.get(l))
        .map(|node| match described_at(node.id) {
            Some(j) => format!("{} (as in root cause {})", node.name, j + 1),
            None => format!("{} at {} ({})", node.name, hex(node.id), node.kind),
        })
        .collect();
    match locks.len() {
        0 => {}
        1 => {
            let _ = writeln!(s, "  lock: {}", locks[0]);
        }
        _ => {
            let _ = writeln!(s, "  locks: {}", locks.join("; "));
        }
    }
    if let Some(node) = root_lock(r, report).and_then(|l| g.locks.get(&l)) {
        for h in &node.held_by {
            let _ = writeln!(
                s,
                "  held by {}  [{}]",
                h.what,
                evidence(&h.certainty, full)
            );
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
        // Waiters with no place in the list first: a percpu_rw_semaphore's writer waits in
        // its own slot, ahead of the queue (and a wait known only from task_struct.blocker
        // has no known place).
        queue.sort_by_key(|w| {
            (
                w.position.map_or(0, |p| p.saturating_add(1)),
                report.graph.pid_of(w.task),
            )
        });
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
        if full {
            // The queue in crash: the lock and its wait list (the same for every waiter).
            let mut cmds = report.crash_commands(queue[0].task, hd.lock, true, &queue[0].certainty);
            cmds.remove(0);
            write_crash_commands(s, &cmds);
        }
    }
    for note in queue_notes(report, r) {
        let _ = writeln!(s, "  {note}");
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

/// With -v, under a line: the crash commands that show what it says.
fn write_crash_commands(s: &mut String, commands: &[String]) {
    if !commands.is_empty() {
        let _ = writeln!(s, "    crash: {}", commands.join("  |  "));
    }
}

fn write_chains(s: &mut String, report: &Report) {
    let a = &report.analysis;
    let mut long_chains: Vec<_> = a
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
    if long_chains.is_empty() {
        return;
    }
    long_chains.sort_by_key(|c| (c.root_cause, report.graph.pid_of(c.task), c.task));
    let _ = writeln!(
        s,
        "\nCHAINS (who waits for whom, by root cause, then by pid)"
    );
    // Chains that differ only in their first task (200 writers behind one holder) are
    // one line when there are more than a few of them.
    let mut groups: Vec<(String, usize, Vec<TaskId>)> = Vec::new();
    for c in long_chains {
        let mut line = String::new();
        for st in &c.steps {
            let holder = st.holders.first().map_or_else(
                || "no holder".to_string(),
                |(t, cert)| format!("{} [{}]", who(report, *t), certainty_word(cert)),
            );
            let _ = write!(
                line,
                " waits ({}) for {} held by {}",
                mode_and_certainty(&st.mode, &st.wait),
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

/// Tasks alike in every cell but the pid and the time blocked share one row from this many.
const GROUPED_ROWS: usize = 4;

/// A task's cells of the table but its pid and how long it has been blocked: COMM, ST,
/// WAITS ON, HOLDS, CALLER.
fn task_cells(
    report: &Report,
    ix: &holdup_analysis::GraphIndex<'_>,
    t: &holdup_analysis::TaskNode,
) -> Vec<Vec<Line>> {
    // A lock's name may wrap between words; its mode and evidence stay together:
    // "(read, fact)".
    let relation = |lock: u64, mode: &str, c: &Certainty| {
        let mut line = words(&lock_name(report, lock));
        line.push(format!("({})", mode_and_certainty(mode, c)));
        line
    };
    let waits: Vec<Line> = ix
        .task_waits(t.id)
        .iter()
        .map(|w| relation(w.lock, &w.mode, &w.certainty))
        .collect();
    let holds: Vec<Line> = ix
        .holds_of(t.id)
        .iter()
        .filter(|h| h.certainty.confidence() >= SHOWN_CONFIDENCE)
        .map(|h| relation(h.lock, &h.mode, &h.certainty))
        .collect();
    let or_dash = |v: Vec<Line>| {
        if v.is_empty() {
            vec![vec!["-".into()]]
        } else {
            v
        }
    };
    // The caller, or where it sleeps when no frame outside the locking and scheduling code
    // was found.
    let caller = t
        .caller
        .clone()
        .or_else(|| t.blocked_in.as_ref().map(|b| format!("({b})")))
        .unwrap_or_else(|| "?".into());
    vec![
        vec![words(&t.comm)],
        vec![vec![t.state.clone()]],
        or_dash(waits),
        or_dash(holds),
        vec![words(&caller)],
    ]
}

fn write_table(s: &mut String, report: &Report, opts: TextOptions) {
    let g = &report.graph;
    let mut blocked: Vec<_> = g.tasks.values().filter(|t| t.blocked).collect();
    blocked.sort_by_key(|t| (t.pid, t.id));
    // The heading stays alone on its line (scripts and tests split the report at it); the
    // order is said under the table.
    let _ = writeln!(s, "\nBLOCKED TASKS");
    let mut table = TextTable::new(
        &[
            "PID",
            "COMM",
            "ST",
            "BLOCKED FOR",
            "WAITS ON",
            "HOLDS",
            "CALLER",
        ],
        // Left out first at narrow widths: the state (every row is D), then how long, then
        // the caller; what a task waits on and holds is the point of the table.
        &[2, 3, 6, 5],
    );
    // Each task's cells but its pid and how long it has been blocked: tasks alike in these
    // (a pile-up of writers behind one lock) share one row with a count, at the place of the
    // lowest pid, so that thousands of tasks behind a lock still make a table a person can
    // read. Fewer than GROUPED_ROWS alike keep a row each.
    let ix = report.graph.index();
    let alike: Vec<Vec<Vec<Line>>> = blocked.iter().map(|t| task_cells(report, &ix, t)).collect();
    let mut shown = vec![false; blocked.len()];
    let mut grouped = 0;
    for (i, t) in blocked.iter().enumerate() {
        if shown[i] {
            continue;
        }
        let same: Vec<usize> = (i..blocked.len())
            .filter(|&j| !shown[j] && alike[j] == alike[i])
            .collect();
        let mut cells = alike[i].clone().into_iter();
        let mut next = || cells.next().unwrap_or_default();
        let (mut comm, state, waits, holds, caller) = (next(), next(), next(), next(), next());
        if same.len() >= GROUPED_ROWS {
            grouped += 1;
            for &j in &same {
                shown[j] = true;
            }
            let times: Vec<u64> = same
                .iter()
                .filter_map(|&j| blocked[j].blocked_for_ns)
                .collect();
            let span = match (times.iter().min(), times.iter().max()) {
                (Some(&lo), Some(&hi)) if seconds(lo) != seconds(hi) => {
                    format!("{}-{}", seconds(lo).trim_end_matches(" s"), seconds(hi))
                }
                (Some(&lo), _) => seconds(lo),
                _ => "?".into(),
            };
            if let Some(line) = comm.first_mut() {
                line.push(format!("×{}", same.len()));
            }
            table.add_row(vec![
                vec![vec![t.pid.to_string(), format!("+{}", same.len() - 1)]],
                comm,
                state,
                vec![vec![span]],
                waits,
                holds,
                caller,
            ]);
        } else {
            shown[i] = true;
            table.add_row(vec![
                vec![vec![t.pid.to_string()]],
                comm,
                state,
                vec![vec![t.blocked_for_ns.map_or_else(|| "?".into(), seconds)]],
                waits,
                holds,
                caller,
            ]);
        }
    }
    s.push_str(&table.render(opts.width.unwrap_or(UNKNOWN_WIDTH)));
    let _ = writeln!(
        s,
        "Rows by pid; CALLER = the first function on the stack outside the locking and scheduling code."
    );
    if grouped > 0 {
        let _ = writeln!(
            s,
            "PID +N, COMM ×N: N+1 tasks alike but for their pids and times (the lowest pid shown); `holdup ps` and --json list each."
        );
    }
    let _ = writeln!(
        s,
        "fact = read from memory where the kernel records it; guess N% = inferred: the text gives its main sign, -v and --json every reason."
    );
    let hidden = g
        .holds
        .iter()
        .filter(|h| h.certainty.confidence() < SHOWN_CONFIDENCE)
        .count();
    if hidden > 0 {
        let _ = writeln!(
            s,
            "{hidden} weaker holder candidate(s) (under {:.0}%) are left out here; --json, --dot and `holdup locks` show them.",
            SHOWN_CONFIDENCE * 100.0
        );
    }
}

/// A dump with no blocked task: what crashed, where, and the log's last lines, instead of
/// an empty table.
fn write_crash(s: &mut String, report: &Report) {
    match &report.crash {
        Some(c) => {
            let _ = writeln!(
                s,
                "\nCRASH (no task is blocked; the dump was taken for this)"
            );
            let site = match &c.fault {
                Some(f) if f.kind == "oops" => format!("oops in {}", f.symbol),
                Some(f) => format!("panic() called from {}", f.symbol),
                None => "panic".to_string(),
            };
            let _ = writeln!(
                s,
                "  {site}, by {} (pid {}) on CPU {}",
                c.comm, c.pid, c.cpu
            );
            for f in &c.frames {
                let _ = writeln!(s, "    {f}");
            }
            if c.frames_left_out > 0 {
                let _ = writeln!(
                    s,
                    "    ({} more frame(s), the crash path among them: `holdup bt {}` shows every one)",
                    c.frames_left_out, report.header.dump_path
                );
            }
        }
        None => {
            let _ = writeln!(s, "\nNo task is blocked.");
        }
    }
    if !report.crash_log.is_empty() {
        let _ = writeln!(
            s,
            "\nKERNEL LOG (the start of the last bug report, then the last lines; `holdup log {}` has all)",
            report.header.dump_path
        );
        for l in &report.crash_log {
            let _ = writeln!(s, "  {l}");
        }
    }
}

fn report_lines(report: &Report, opts: TextOptions) -> String {
    let mut s = String::new();
    write_header(&mut s, report);
    write_summary(&mut s, report);
    for (i, r) in report.analysis.root_causes.iter().enumerate() {
        write_root_cause(&mut s, report, i, r, opts.full_evidence);
    }
    write_chains(&mut s, report);
    if report.graph.tasks.values().any(|t| t.blocked) {
        write_table(&mut s, report, opts);
    } else {
        write_crash(&mut s, report);
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

/// How an edge is drawn for how it is known: a fact solid, a guess dashed, a weak guess
/// (under [`SHOWN_CONFIDENCE`], left out of the text) dotted and grey.
fn dot_style(c: &Certainty) -> &'static str {
    if c.is_fact() {
        "style=solid"
    } else if c.confidence() >= SHOWN_CONFIDENCE {
        "style=dashed"
    } else {
        "style=dotted, color=gray50, fontcolor=gray50"
    }
}

/// The wait-for graph in Graphviz `dot`: tasks are ellipses (root causes red), locks boxes;
/// "waits for" edges go from task to lock, "held by" from lock to task; facts solid, guesses
/// dashed, weak guesses dotted grey; a legend says so.
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
                match &n.caller {
                    Some(c) => format!(
                        "{}\\npid {}\\n{}",
                        dot_escape(&n.comm),
                        n.pid,
                        dot_escape(c)
                    ),
                    None => format!("{}\\npid {}", dot_escape(&n.comm), n.pid),
                },
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
    for w in &g.waits {
        let mode = if w.mode == "none" {
            String::new()
        } else {
            format!(" ({})", dot_escape(&w.mode))
        };
        let _ = writeln!(
            s,
            "  \"t{:x}\" -> \"l{:x}\" [label=\"waits{mode} {}\", {}];",
            w.task,
            w.lock,
            dot_escape(&certainty_word(&w.certainty)),
            dot_style(&w.certainty)
        );
    }
    for h in &g.holds {
        let _ = writeln!(
            s,
            "  \"l{:x}\" -> \"t{:x}\" [label=\"held by ({}) {}\", {}];",
            h.lock,
            h.task,
            dot_escape(&h.mode),
            dot_escape(&certainty_word(&h.certainty)),
            dot_style(&h.certainty)
        );
    }
    let weak = format!("guess under {:.0}%", SHOWN_CONFIDENCE * 100.0);
    let _ = writeln!(
        s,
        "  subgraph cluster_legend {{\n    label=\"legend\";\n    fontname=\"monospace\";\n    node [shape=plaintext, label=\"\"];\n    \"legend_a1\"; \"legend_a2\"; \"legend_b1\"; \"legend_b2\"; \"legend_c1\"; \"legend_c2\";\n    \"legend_root\" [shape=ellipse, color=red, label=\"root-cause task\"];\n    \"legend_lock\" [shape=box, label=\"lock\"];\n    \"legend_a1\" -> \"legend_a2\" [label=\"fact (read from memory)\", style=solid];\n    \"legend_b1\" -> \"legend_b2\" [label=\"guess N% (inferred)\", style=dashed];\n    \"legend_c1\" -> \"legend_c2\" [label=\"{weak} (not in the text)\", {}];\n  }}",
        dot_style(&Certainty::inference(0.0, Vec::new()))
    );
    s.push_str("}\n");
    s
}

/// A line of a table cell: pieces that are never broken, joined by one space where the line
/// may wrap.
type Line = Vec<String>;
/// A table cell: its lines (one per lock, say), each wrapped on its own.
type Cell = Vec<Line>;

/// The pieces of `s` between its spaces: the places where a line may wrap (not after
/// [`keeps_next`] pieces). Runs of spaces are kept (as empty pieces), so that a string from
/// the dump reads as it is.
fn words(s: &str) -> Line {
    let mut pieces: Line = Vec::new();
    for p in s.split(' ') {
        match pieces.last_mut() {
            Some(last) if keeps_next(last) && !p.is_empty() => {
                last.push(' ');
                last.push_str(p);
            }
            _ => pieces.push(p.to_string()),
        }
    }
    pieces
}

/// How many terminal columns `s` takes: one per character (strings from the dump are
/// escaped to printable characters first).
fn text_width(s: &str) -> usize {
    s.chars().count()
}

fn line_width(line: &Line) -> usize {
    line.iter().map(|p| text_width(p)).sum::<usize>() + line.len().saturating_sub(1)
}

/// `pieces` filled into lines of at most `width` columns, broken only between pieces; a
/// piece wider than `width` gets a line of its own.
fn fill(pieces: &[String], width: usize) -> Vec<String> {
    fill_with(pieces, width, width)
}

/// [`fill`] with a first line of `first_width` columns and the others of `rest_width`.
fn fill_with(pieces: &[String], first_width: usize, rest_width: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_width = 0;
    let mut width = first_width;
    for p in pieces {
        let w = text_width(p);
        if cur.is_empty() {
            // A run of spaces at a break does not start the next line.
            if !p.is_empty() {
                cur.push_str(p);
                cur_width = w;
            }
        } else if cur_width + 1 + w <= width {
            cur.push(' ');
            cur.push_str(p);
            cur_width += 1 + w;
        } else {
            out.push(std::mem::take(&mut cur).trim_end_matches(' ').to_string());
            width = rest_width;
            cur_width = 0;
            if !p.is_empty() {
                cur.push_str(p);
                cur_width = w;
            }
        }
    }
    if !cur.is_empty() || out.is_empty() {
        out.push(cur.trim_end_matches(' ').to_string());
    }
    out
}

/// The frame's share of a table's width: "│ " before the first column, " │" after the last.
const FRAME: usize = 4;
/// Spaces between two columns.
const GAP: usize = 2;

/// A table drawn to fit a width: cells wrap between words, never inside one; when even
/// that cannot fit, the least useful columns are left out, and said so.
struct TextTable {
    headings: Vec<&'static str>,
    /// The columns left out, in this order, until the rest fits.
    drop_order: Vec<usize>,
    rows: Vec<Vec<Cell>>,
}

impl TextTable {
    fn new(headings: &[&'static str], drop_order: &[usize]) -> Self {
        TextTable {
            headings: headings.to_vec(),
            drop_order: drop_order.to_vec(),
            rows: Vec::new(),
        }
    }

    fn add_row(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    /// Every line of column `c`, its heading's first.
    fn column_lines(&self, c: usize) -> impl Iterator<Item = Line> + '_ {
        std::iter::once(words(self.headings[c])).chain(
            self.rows
                .iter()
                .filter_map(move |r| r.get(c))
                .flat_map(|cell| cell.iter().cloned()),
        )
    }

    /// The narrowest column `c` can be without breaking a piece.
    fn min_width(&self, c: usize) -> usize {
        self.column_lines(c)
            .flat_map(|l| l.into_iter().map(|p| text_width(&p)))
            .max()
            .unwrap_or(0)
    }

    /// How wide column `c` is when no line of it wraps.
    fn natural_width(&self, c: usize) -> usize {
        self.column_lines(c)
            .map(|l| line_width(&l))
            .max()
            .unwrap_or(0)
    }

    /// The table in at most `width` columns, followed by a line naming the columns left out
    /// to fit; one record per row when no table fits.
    fn render(&self, width: usize) -> String {
        let n = self.headings.len();
        let min: Vec<usize> = (0..n).map(|c| self.min_width(c)).collect();
        let natural: Vec<usize> = (0..n).map(|c| self.natural_width(c)).collect();
        let needed = |shown: &[usize], per: &[usize]| {
            shown.iter().map(|&c| per[c]).sum::<usize>()
                + GAP * shown.len().saturating_sub(1)
                + FRAME
        };
        let mut shown: Vec<usize> = (0..n).collect();
        let mut dropped = Vec::new();
        for &d in &self.drop_order {
            if needed(&shown, &min) <= width {
                break;
            }
            shown.retain(|&c| c != d);
            dropped.push(self.headings[d]);
        }
        if needed(&shown, &min) > width {
            return self.render_records();
        }
        let widths = share_width(
            width - GAP * shown.len().saturating_sub(1) - FRAME,
            &shown.iter().map(|&c| min[c]).collect::<Vec<_>>(),
            &shown.iter().map(|&c| natural[c]).collect::<Vec<_>>(),
        );
        let inner = widths.iter().sum::<usize>() + GAP * widths.len().saturating_sub(1) + 2;
        let mut out = String::new();
        let _ = writeln!(out, "┌{}┐", "─".repeat(inner));
        let heading_row: Vec<Cell> = self.headings.iter().map(|h| vec![words(h)]).collect();
        self.render_row(&mut out, &heading_row, &shown, &widths);
        let _ = writeln!(out, "╞{}╡", "═".repeat(inner));
        for row in &self.rows {
            self.render_row(&mut out, row, &shown, &widths);
        }
        let _ = writeln!(out, "└{}┘", "─".repeat(inner));
        if !dropped.is_empty() {
            let _ = writeln!(
                out,
                "({} left out to fit {width} columns; a wider terminal or --json shows them)",
                and_list(&dropped)
            );
        }
        out
    }

    fn render_row(&self, out: &mut String, row: &[Cell], shown: &[usize], widths: &[usize]) {
        let columns: Vec<Vec<String>> = shown
            .iter()
            .zip(widths)
            .map(|(&c, &w)| {
                row.get(c)
                    .map(|cell| cell.iter().flat_map(|l| fill(l, w)).collect())
                    .unwrap_or_default()
            })
            .collect();
        let height = columns.iter().map(Vec::len).max().unwrap_or(0).max(1);
        for k in 0..height {
            let cells: Vec<String> = columns
                .iter()
                .zip(widths)
                .map(|(lines, &w)| {
                    let text = lines.get(k).map_or("", String::as_str);
                    format!("{text}{}", " ".repeat(w.saturating_sub(text_width(text))))
                })
                .collect();
            let _ = writeln!(out, "│ {} │", cells.join(&" ".repeat(GAP)));
        }
    }

    /// Each row as a few lines of "HEADING: value", for widths too narrow for any table;
    /// the lines are wrapped between words with the rest of the text.
    fn render_records(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            for (c, cell) in row.iter().enumerate() {
                let value: Vec<String> = cell.iter().map(|l| l.join(" ")).collect();
                let indent = if c == 0 { "" } else { "  " };
                let _ = writeln!(
                    out,
                    "{indent}{}: {}",
                    self.headings.get(c).copied().unwrap_or("?"),
                    value.join("; ")
                );
            }
        }
        out
    }
}

/// Column widths that add up to at most `room`, each between its `min` and its `natural`
/// width (`min` adds up to at most `room`): the columns that fit in a fair share of the room
/// get their natural width (a short column never wraps for a long one's sake), then the
/// room left goes, a column at a time, to the column that most lacks it.
fn share_width(room: usize, min: &[usize], natural: &[usize]) -> Vec<usize> {
    let n = min.len();
    let mut widths = min.to_vec();
    let mut settled = vec![false; n];
    let mut left = room;
    loop {
        let open: Vec<usize> = (0..n).filter(|&i| !settled[i]).collect();
        if open.is_empty() {
            return widths;
        }
        let fair = left / open.len();
        let small: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&i| natural[i] <= fair)
            .collect();
        let rest_min: usize = open
            .iter()
            .filter(|i| !small.contains(i))
            .map(|&i| min[i])
            .sum();
        let small_natural: usize = small.iter().map(|&i| natural[i]).sum();
        if small.is_empty() || small_natural + rest_min > left {
            break;
        }
        for i in small {
            widths[i] = natural[i];
            settled[i] = true;
            left -= natural[i];
        }
    }
    let open: Vec<usize> = (0..n).filter(|&i| !settled[i]).collect();
    let mut spare = left.saturating_sub(open.iter().map(|&i| min[i]).sum());
    while spare > 0 {
        let lack = |i: usize| natural[i].saturating_sub(widths[i]);
        let Some(i) = open
            .iter()
            .copied()
            .filter(|&i| lack(i) > 0)
            .max_by_key(|&i| lack(i))
        else {
            break;
        };
        widths[i] += 1;
        spare -= 1;
    }
    widths
}

/// "a", "a and b", "a, b and c".
fn and_list(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_string(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// Whether a line must not break after `piece`: the number of "guess 65%", "(pid 99)" and
/// "(pfn 13203)" belongs with its word.
fn keeps_next(piece: &str) -> bool {
    piece.ends_with("guess") || piece == "pid" || piece.ends_with("(pid") || piece.ends_with("(pfn")
}

/// Every line of `text` wider than `width` broken between words, its continuation lines
/// indented two more than it; a word wider than the width stays whole on a line of its own.
fn wrap_lines(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 16);
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        if text_width(body) <= width {
            out.push_str(line);
            continue;
        }
        let indent = body.len() - body.trim_start_matches(' ').len();
        // The continuation's indent leaves at least half the width for words.
        let next_indent = (indent + 2).min(width / 2);
        let pieces = words(&body[indent..]);
        let lines = fill_with(
            &pieces,
            width.saturating_sub(indent).max(1),
            width.saturating_sub(next_indent).max(1),
        );
        for (i, l) in lines.iter().enumerate() {
            let pad = if i == 0 { indent } else { next_indent };
            if i > 0 {
                out.push('\n');
            }
            let _ = write!(out, "{}{l}", " ".repeat(pad));
        }
        out.push_str(nl);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pieces(s: &str) -> Line {
        words(s)
    }

    #[test]
    fn lines_break_between_words_only() {
        let lines = fill(
            &pieces("mmap_lock of mm 0xffff8a0ddfee3180 (bench, pid 96)"),
            20,
        );
        assert_eq!(
            lines,
            ["mmap_lock of mm", "0xffff8a0ddfee3180", "(bench, pid 96)"]
        );
        // A word wider than the line stays whole.
        assert_eq!(fill(&pieces("a rwsem_down_read_slowpath b"), 5).len(), 3);
        // "guess 65%" and "(pid 96)" are never split.
        let wrapped = wrap_lines("  x [guess 65%: y] and bench (pid 96) z\n", 16);
        for l in wrapped.lines() {
            assert!(!l.ends_with("guess") && !l.ends_with("(pid"), "{wrapped:?}");
        }
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 16),
            "{wrapped:?}"
        );
    }

    #[test]
    fn a_table_fits_or_leaves_columns_out_and_says_which() {
        let mut t = TextTable::new(&["PID", "COMM", "ST", "WAITS ON", "BLOCKED IN"], &[2, 4]);
        t.add_row(vec![
            vec![vec!["99".into()]],
            vec![words("kscand")],
            vec![vec!["UN".into()]],
            vec![words("page 0xfffff90ac00ce4c0 (pfn 13203)")],
            vec![words("folio_wait_bit_common")],
        ]);
        for width in [45, 60, 200] {
            let out = t.render(width);
            // The note under the table is wrapped with the rest of the text.
            for l in out.lines().filter(|l| !l.starts_with('(')) {
                assert!(l.chars().count() <= width, "{width}: {out}");
            }
            assert!(out.contains("0xfffff90ac00ce4c0"), "{out}");
        }
        let narrow = t.render(40);
        assert!(narrow.contains("(ST and BLOCKED IN left out"), "{narrow}");
        assert!(!t.render(200).contains("left out"));
        // Too narrow for any table: one record per row, for `wrap_lines` to wrap.
        assert!(t.render(30).contains("\n  WAITS ON: page 0x"));
    }

    #[test]
    fn short_columns_get_their_width_first() {
        assert_eq!(share_width(30, &[3, 4, 10], &[3, 11, 40]), vec![3, 11, 16]);
        assert_eq!(share_width(100, &[3, 4, 10], &[3, 11, 40]), vec![3, 11, 40]);
    }
}
