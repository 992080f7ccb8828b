//! The JSON report. Field names and meanings are stable within a `schema_version`; the
//! schema is documented in `docs/json-schema.md`.

use crate::{Outcome, Report, hex};
use holdup_analysis::crash::CrashSummary;
use holdup_analysis::{Certainty, RootCause, RootKind, StateHolder, TaskId};
use serde::Serialize;
use std::collections::HashMap;

/// Bumped on any change that could break a consumer (a field removed or changing meaning).
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize, schemars::JsonSchema)]
struct Json<'a> {
    schema_version: u32,
    dump: Dump<'a>,
    kernel: Kernel<'a>,
    panic: Option<Panic<'a>>,
    summary: Summary,
    /// `hang`, `partial` (blocked tasks, but the dump lacks memory the analysis needed: see
    /// `gaps`), `no_hang`, `undecided` (no blocked task among those read, some unreadable).
    #[schemars(extend("enum" = ["hang", "partial", "no_hang", "undecided"]))]
    outcome: &'static str,
    /// What the dump lacks, grouped by what each gap may hide; empty for a complete reading.
    gaps: Vec<GapJ>,
    /// With no blocked task: the task that panicked, where, and its stack.
    #[serde(skip_serializing_if = "Option::is_none")]
    crash: Option<&'a CrashSummary>,
    /// With no blocked task: the start of the last bug report in the kernel log, then its
    /// last lines (`...` where lines were left out).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    crash_log: &'a [String],
    root_causes: Vec<Root>,
    cycles: Vec<CycleJ>,
    /// Every task of the graph, by pid.
    tasks: Vec<Task<'a>>,
    locks: Vec<Lock<'a>>,
    problems: &'a [String],
}

#[derive(Serialize, schemars::JsonSchema)]
struct Dump<'a> {
    path: &'a str,
    /// The running kernel, read through /proc/kcore: its memory changed while it was read.
    live: bool,
    format: &'a str,
    dump_level: Option<u32>,
    excluded: &'a [String],
}

#[derive(Serialize, schemars::JsonSchema)]
struct Kernel<'a> {
    release: Option<&'a str>,
    uptime_ns: Option<u64>,
    symbols: &'a str,
    types: &'a str,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Panic<'a> {
    message: &'a str,
    cpu: Option<u32>,
    pid: Option<u32>,
    comm: Option<&'a str>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Summary {
    blocked_tasks: usize,
    longest_blocked_ns: Option<u64>,
    root_causes: usize,
    cycles: usize,
}

#[derive(Serialize, schemars::JsonSchema)]
struct GapJ {
    gap: String,
    count: usize,
    may_hide: String,
}

#[derive(Serialize, Clone, schemars::JsonSchema)]
struct TaskRef {
    task: String,
    pid: u32,
    comm: String,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Root {
    rank: usize,
    kind: &'static str,
    lock: Option<String>,
    lock_name: Option<String>,
    tasks: Vec<TaskRef>,
    blocked_behind: Vec<TaskRef>,
    confidence: f64,
    /// Every lock the root is about: its one lock, or each lock of a deadlock's cycle.
    locks: Vec<String>,
    explanation: String,
    /// How tasks are blocked behind it that the queue alone does not say (a reader queued
    /// behind a writer on a lock only readers hold).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    /// What holds the lock that is not a task, and what ends the wait (`held_by_state`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    held_by: Vec<StateHolder>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct CycleJ {
    tasks: Vec<TaskRef>,
    locks: Vec<String>,
    confidence: f64,
    all_facts: bool,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Task<'a> {
    task: String,
    pid: u32,
    comm: &'a str,
    state: &'a str,
    blocked_for_ns: Option<u64>,
    blocked_in: Option<&'a str>,
    /// The first caller outside the locking and scheduling code: the frame to act on.
    caller: Option<&'a str>,
    waits_on: Option<Relation<'a>>,
    holds: Vec<Relation<'a>>,
    /// Rank (1-based) of the root cause this task's chain ends at.
    root_cause: Option<usize>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Relation<'a> {
    lock: String,
    lock_type: &'a str,
    lock_name: &'a str,
    mode: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<usize>,
    evidence: &'a Certainty,
    /// The crash commands that show it: the task's stack, the lock, the wait list.
    crash: Vec<String>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Lock<'a> {
    lock: String,
    lock_type: &'a str,
    name: &'a str,
    holders: Vec<Party<'a>>,
    waiters: Vec<Party<'a>>,
}

#[derive(Serialize, schemars::JsonSchema)]
struct Party<'a> {
    #[serde(flatten)]
    task: TaskRef,
    mode: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    position: Option<usize>,
    evidence: &'a Certainty,
    /// The crash commands that show it: the task's stack, the lock, the wait list.
    crash: Vec<String>,
}

pub(crate) fn root_lock(r: &RootCause, report: &Report) -> Option<u64> {
    match &r.kind {
        RootKind::Deadlock { cycle } => report
            .analysis
            .cycles
            .get(*cycle)
            .and_then(|c| c.locks.first().copied()),
        k => k.lock(),
    }
}

fn task_ref(report: &Report, id: TaskId) -> TaskRef {
    let t = report.graph.tasks.get(&id);
    TaskRef {
        task: hex(id),
        pid: t.map_or(0, |t| t.pid),
        comm: t.map_or_else(|| "?".into(), |t| t.comm.clone()),
    }
}

/// The report as pretty JSON.
/// The JSON Schema of [`to_json`]'s output (`docs/schemas/report.schema.json`): what is
/// written (a field skipped when empty is optional), not what a reader would accept.
pub fn json_schema() -> schemars::Schema {
    schemars::generate::SchemaSettings::default()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<Json<'static>>()
}

pub fn to_json(report: &Report) -> String {
    let g = &report.graph;
    let a = &report.analysis;
    let h = &report.header;
    let lock_type = |l: u64| g.locks.get(&l).map_or("unknown", |l| l.kind.as_str());
    let lock_name = |l: u64| g.locks.get(&l).map_or("", |l| l.name.as_str());
    let ix = g.index();
    // A task's chain, by task: the first of its chains (one pass, not one per task).
    let mut chain_root: HashMap<TaskId, usize> = HashMap::new();
    for c in &a.chains {
        chain_root.entry(c.task).or_insert(c.root_cause);
    }
    let root_of = |t: TaskId| {
        chain_root.get(&t).map(|&i| i + 1).or_else(|| {
            a.root_causes
                .iter()
                .position(|r| r.tasks.contains(&t))
                .map(|i| i + 1)
        })
    };
    let blocked: Vec<_> = g.tasks.values().filter(|t| t.blocked).collect();
    // Tasks by pid, as the text's table: the same order in every dump of the same hang.
    let mut by_pid: Vec<_> = g.tasks.values().collect();
    by_pid.sort_by_key(|t| (t.pid, t.id));
    let json = Json {
        schema_version: SCHEMA_VERSION,
        dump: Dump {
            path: &h.dump_path,
            live: h.live(),
            format: &h.dump_format,
            dump_level: h.dump_level,
            excluded: &h.excluded,
        },
        kernel: Kernel {
            release: h.release.as_deref(),
            uptime_ns: h.uptime_ns,
            symbols: &h.symbols,
            types: &h.types,
        },
        panic: h.panic_message.as_deref().map(|m| Panic {
            message: m,
            cpu: h.panic_cpu,
            pid: h.panic_task.as_ref().map(|t| t.0),
            comm: h.panic_task.as_ref().map(|t| t.1.as_str()),
        }),
        summary: Summary {
            blocked_tasks: blocked.len(),
            longest_blocked_ns: blocked.iter().filter_map(|t| t.blocked_for_ns).max(),
            root_causes: a.root_causes.len(),
            cycles: a.cycles.len(),
        },
        outcome: match report.outcome() {
            Outcome::Hang => "hang",
            Outcome::Partial => "partial",
            Outcome::NoHang => "no_hang",
            Outcome::Undecided => "undecided",
        },
        gaps: crate::text::gap_list(report)
            .into_iter()
            .map(|(gap, count, may_hide)| GapJ {
                gap,
                count,
                may_hide,
            })
            .collect(),
        crash: report.crash.as_ref(),
        crash_log: &report.crash_log,
        root_causes: a
            .root_causes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let lock = root_lock(r, report);
                Root {
                    rank: i + 1,
                    kind: r.kind.name(),
                    lock: lock.map(hex),
                    lock_name: lock.map(|l| lock_name(l).to_string()),
                    tasks: r.tasks.iter().map(|t| task_ref(report, *t)).collect(),
                    blocked_behind: r
                        .blocked_behind
                        .iter()
                        .map(|t| task_ref(report, *t))
                        .collect(),
                    confidence: r.confidence,
                    locks: crate::text::root_locks(report, r)
                        .into_iter()
                        .map(hex)
                        .collect(),
                    explanation: crate::text::explain(report, r),
                    notes: crate::text::queue_notes(report, r),
                    held_by: lock
                        .and_then(|l| report.graph.locks.get(&l))
                        .map(|n| n.held_by.clone())
                        .unwrap_or_default(),
                }
            })
            .collect(),
        cycles: a
            .cycles
            .iter()
            .map(|c| CycleJ {
                tasks: c.tasks.iter().map(|t| task_ref(report, *t)).collect(),
                locks: c.locks.iter().map(|l| hex(*l)).collect(),
                confidence: c.confidence,
                all_facts: c.all_facts,
            })
            .collect(),
        tasks: by_pid
            .iter()
            .map(|t| Task {
                task: hex(t.id),
                pid: t.pid,
                comm: &t.comm,
                state: &t.state,
                blocked_for_ns: t.blocked_for_ns,
                blocked_in: t.blocked_in.as_deref(),
                caller: t.caller.as_deref(),
                waits_on: ix
                    .task_waits(t.id)
                    .iter()
                    .max_by(|x, y| {
                        x.certainty
                            .confidence()
                            .total_cmp(&y.certainty.confidence())
                    })
                    .map(|w| Relation {
                        lock: hex(w.lock),
                        lock_type: lock_type(w.lock),
                        lock_name: lock_name(w.lock),
                        mode: &w.mode,
                        position: w.position,
                        evidence: &w.certainty,
                        crash: report.crash_commands(w.task, w.lock, true, &w.certainty),
                    }),
                holds: ix
                    .holds_of(t.id)
                    .iter()
                    .map(|h| Relation {
                        lock: hex(h.lock),
                        lock_type: lock_type(h.lock),
                        lock_name: lock_name(h.lock),
                        mode: &h.mode,
                        position: None,
                        evidence: &h.certainty,
                        crash: report.crash_commands(h.task, h.lock, false, &h.certainty),
                    })
                    .collect(),
                root_cause: root_of(t.id),
            })
            .collect(),
        locks: g
            .locks
            .values()
            .map(|l| Lock {
                lock: hex(l.id),
                lock_type: &l.kind,
                name: &l.name,
                holders: g
                    .holds
                    .iter()
                    .filter(|h| h.lock == l.id)
                    .map(|h| Party {
                        task: task_ref(report, h.task),
                        mode: &h.mode,
                        position: None,
                        evidence: &h.certainty,
                        crash: report.crash_commands(h.task, h.lock, false, &h.certainty),
                    })
                    .collect(),
                waiters: g
                    .waits
                    .iter()
                    .filter(|w| w.lock == l.id)
                    .map(|w| Party {
                        task: task_ref(report, w.task),
                        mode: &w.mode,
                        position: w.position,
                        evidence: &w.certainty,
                        crash: report.crash_commands(w.task, w.lock, true, &w.certainty),
                    })
                    .collect(),
            })
            .collect(),
        problems: &report.problems,
    };
    serde_json::to_string_pretty(&json).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
