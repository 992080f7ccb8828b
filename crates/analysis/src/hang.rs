//! From a dump's kernel objects to its wait-for graph: every blocked task, what it waits on
//! and who holds that, as found by `holdup_kernel::locking`.

use crate::Analysis;
use crate::frames::{self, FrameRef};
use crate::graph::{Certainty, Hold, LockNode, StateHolder, TaskNode, Wait, WaitGraph};
use holdup_kernel::Kernel;
use holdup_kernel::locking::{self, Evidence, HolderId, LockAnalysis, LockKind};
use holdup_kernel::sched::{self, TaskList};
use holdup_kernel::stack::unwind::Unwinder;
use std::collections::BTreeSet;

/// Functions that only say "this task sleeps"; the function a task is blocked in is the
/// first frame below them.
const SCHEDULER: &[&str] = &[
    "__schedule",
    "schedule",
    "schedule_preempt_disabled",
    "schedule_timeout",
    "io_schedule",
    "io_schedule_timeout",
    "schedule_hrtimeout_range_clock",
    "__switch_to_asm",
    "__switch_to",
    "rt_mutex_schedule",
];

/// Where a blocked task sleeps: the first reliable frame past the scheduler, stripped of
/// compiler suffixes (`__mutex_lock.constprop.0` -> `__mutex_lock`). A task sleeping in
/// `schedule_timeout` called from its own loop is reported as `schedule_timeout`.
pub fn blocked_in(names: &[String]) -> Option<String> {
    let strip = |n: &str| n.split('.').next().unwrap_or(n).to_string();
    let first_real = names
        .iter()
        .find(|n| !SCHEDULER.contains(&strip(n).as_str()));
    match first_real {
        // A sleep with a timeout that is the caller's own choice (msleep-like loops): the
        // timeout function is the better answer than the caller.
        Some(n) if names.iter().any(|m| strip(m) == "schedule_timeout") && !is_lock_slowpath(n) => {
            Some("schedule_timeout".to_string())
        }
        Some(n) => Some(strip(n)),
        None => names.last().map(|n| strip(n)),
    }
}

fn is_lock_slowpath(f: &str) -> bool {
    let f = f.split('.').next().unwrap_or(f);
    [
        "rwsem_down_read_slowpath",
        "rwsem_down_write_slowpath",
        "__mutex_lock",
        "__down_common",
        "__wait_for_common",
        "folio_wait_bit_common",
        "rt_mutex_slowlock_block",
    ]
    .contains(&f)
}

/// Where a task sleeps ([`blocked_in`]) and the frame a person acts on
/// ([`frames::caller_frame`]), from one unwinding of its stack.
fn where_it_sleeps(unwinder: &Unwinder, t: &sched::Task) -> (Option<String>, Option<String>) {
    let bt = unwinder.backtrace(t);
    let reliable: Vec<_> = bt.reliable().filter(|f| f.function.is_some()).collect();
    let names: Vec<String> = reliable.iter().filter_map(|f| f.function.clone()).collect();
    let refs: Vec<FrameRef> = reliable
        .iter()
        .filter_map(|f| {
            Some(FrameRef {
                function: f.function.as_deref()?,
                offset: f.offset,
                module: f.module.as_deref(),
            })
        })
        .collect();
    (blocked_in(&names), frames::caller_frame(&refs))
}

/// What the kernel-object layer found, and the graph made of it.
pub struct Hang {
    pub tasks: TaskList,
    pub locks: LockAnalysis,
    pub graph: WaitGraph,
    pub analysis: Analysis,
    /// What could not be read, and what it affects.
    pub problems: Vec<String>,
}

/// Options of [`analyse_hang`].
#[derive(Debug, Clone, Default)]
pub struct HangOptions {
    /// Skip the scan of every struct page for locked pages nobody waits on.
    pub no_page_scan: bool,
}

fn certainty(e: &Evidence) -> Certainty {
    match e {
        Evidence::Fact { source, .. } => Certainty::fact(source.clone()),
        Evidence::Inference {
            confidence,
            reasons,
        } => Certainty::inference(f64::from(confidence.0) / 100.0, reasons.clone()),
    }
}

/// The kinds of waits the graph keeps: locks and the events tasks sleep on.
fn kept(kind: LockKind) -> bool {
    !matches!(kind, LockKind::PageBit)
}

/// Reads tasks, their stacks and every lock involved, and builds the wait-for graph.
pub fn analyse_hang(k: &Kernel, opts: &HangOptions) -> Result<Hang, holdup_kmem::ReadError> {
    let tasks = sched::all_tasks(k)?;
    let mut problems = tasks.problems.clone();
    for u in &tasks.unreadable {
        problems.push(format!(
            "task {:#x}{}: {}",
            u.task,
            u.pid.map(|p| format!(" (pid {p})")).unwrap_or_default(),
            u.error
        ));
    }
    let blocked_ids = tasks.blocked();
    let (locks, stacks) = locking::analyze_keeping_stacks(
        k,
        &blocked_ids,
        &locking::AnalyzeOptions {
            scan_pages: !opts.no_page_scan,
        },
    )?;
    problems.extend(locks.problems.iter().cloned());

    // The blocked tasks' stacks were read for the analysis: unwound from those bytes, not
    // read from the dump a second time.
    let stack_backed = locking::StackBackedMemory {
        inner: k.mem(),
        stacks: &stacks,
    };
    let unwinder = Unwinder::with_memory(k, &stack_backed);
    let mut graph = WaitGraph::default();
    let blocked_set: BTreeSet<u64> = blocked_ids.iter().copied().collect();
    let node = |t: &sched::Task| {
        let (blocked_in, caller) = where_it_sleeps(&unwinder, t);
        TaskNode {
            id: t.task,
            pid: t.pid,
            comm: t.comm.clone(),
            state: t.ps_state.to_string(),
            blocked: blocked_set.contains(&t.task),
            running: t.current,
            blocked_in,
            caller,
            blocked_for_ns: t.blocked.as_ref().and_then(|b| b.since_last_arrival_ns),
        }
    };
    for t in tasks.tasks.iter().filter(|t| blocked_set.contains(&t.task)) {
        graph.tasks.insert(t.task, node(t));
    }
    for l in &locks.locks {
        if !kept(l.id.kind) {
            continue;
        }
        graph.locks.insert(
            l.id.addr,
            LockNode {
                id: l.id.addr,
                kind: l.id.kind.as_str().to_string(),
                name: l.name.as_ref().map_or_else(
                    || format!("{} at {:#x}", l.id.kind.c_type(), l.id.addr),
                    |n| n.text.clone(),
                ),
                can_be_held: !matches!(
                    l.id.kind,
                    LockKind::Completion | LockKind::WaitQueue | LockKind::SwaitQueue
                ),
                held_by: l
                    .holders
                    .iter()
                    .filter_map(|h| {
                        Some(StateHolder {
                            state: h.who.state()?.to_string(),
                            what: h.who.not_a_task()?.to_string(),
                            certainty: certainty(&h.evidence),
                        })
                    })
                    .collect(),
            },
        );
        for h in &l.holders {
            let HolderId::Task { task } = h.who else {
                continue;
            };
            graph.holds.push(Hold {
                lock: l.id.addr,
                task,
                mode: h.mode.as_str().to_string(),
                certainty: certainty(&h.evidence),
            });
        }
    }
    for w in &locks.waits {
        if !kept(w.lock.kind) || !blocked_set.contains(&w.task) {
            continue;
        }
        graph.waits.push(Wait {
            task: w.task,
            lock: w.lock.addr,
            mode: w.mode.as_str().to_string(),
            position: w.position,
            certainty: certainty(&w.evidence),
        });
    }
    // Holders that are not blocked still belong in the graph (running, or sleeping
    // interruptibly while holding a lock).
    let missing: Vec<u64> = graph
        .holds
        .iter()
        .map(|h| h.task)
        .filter(|t| !graph.tasks.contains_key(t))
        .collect();
    for id in missing {
        if let Some(t) = tasks.tasks.iter().find(|t| t.task == id) {
            graph.tasks.insert(id, node(t));
        }
    }
    let analysis = graph.analyse();
    Ok(Hang {
        tasks,
        locks,
        graph,
        analysis,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::blocked_in;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn blocked_in_skips_the_scheduler_and_suffixes() {
        assert_eq!(
            blocked_in(&names(&[
                "__schedule",
                "schedule",
                "schedule_preempt_disabled",
                "__mutex_lock.constprop.0",
                "abba_fn"
            ])),
            Some("__mutex_lock".into())
        );
        assert_eq!(
            blocked_in(&names(&[
                "__schedule",
                "schedule",
                "schedule_timeout",
                "__down_common",
                "down"
            ])),
            Some("__down_common".into())
        );
        assert_eq!(
            blocked_in(&names(&[
                "__schedule",
                "schedule",
                "schedule_timeout",
                "sleep_forever",
                "kthread"
            ])),
            Some("schedule_timeout".into())
        );
    }
}
