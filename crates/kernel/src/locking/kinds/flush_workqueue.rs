//! `flush_workqueue()` and `drain_workqueue()` (`kernel/workqueue.c`): the flusher puts a
//! `struct wq_flusher` on its stack, becomes the workqueue's `first_flusher` (or queues behind
//! it on `flusher_queue`/`flusher_overflow`), and sleeps on the flusher's `done` completion
//! until every work item queued before the flush (those of its `flush_color`) has returned.
//! The workers running those items are who it waits for: a worker whose
//! `worker.current_pwq->wq` is the workqueue and whose `current_color` is the flush's color.
//! If such a work item waits for something the flusher holds (flushing under a lock the work
//! takes), the graph closes a deadlock cycle through the worker.

use super::KindCx;
use crate::list::list_nodes;
use crate::locking::{Confidence, Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};
use crate::sched::read_member;
use crate::workqueue::{Workqueue, current_func, current_workqueue, for_each_workqueue, worker_of};

/// The functions a flusher sleeps under (`__flush_workqueue` from 6.x, `flush_workqueue`
/// before; `drain_workqueue` calls one of them).
const FLUSHERS: &[&str] = &["__flush_workqueue", "flush_workqueue"];

/// Most flushers queued behind the first one that are walked.
const MAX_FLUSHERS: usize = 4096;

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::Completion {
        return false;
    }
    let k = cx.k;
    let flushes = lock.waiters.iter().any(|w| {
        cx.stacks.get(w.task).is_some_and(|st| {
            st.frames(k.mem(), Some(&k.symbols))
                .iter()
                .any(|f| FLUSHERS.contains(&crate::locking::waits::base_name(&f.function)))
        })
    });
    let Ok(done) = k.types.offsetof("wq_flusher.done") else {
        return false;
    };
    if !flushes {
        return false;
    }
    let flusher = lock.id.addr.wrapping_sub(done);
    let flusher_task = lock.waiters.first().map(|w| w.task);
    let flusher_name = flusher_task.map_or("?".into(), |t| cx.who(t));
    let Some((wq, how)) = workqueue_of_flusher(cx, flusher) else {
        lock.name = Some(LockName {
            text: format!("a workqueue flush (wq_flusher {flusher:#x} of {flusher_name})"),
            evidence: Evidence::inference(
                Confidence::MEDIUM,
                vec![format!(
                    "the waiter sleeps in {} on a completion at the offset of wq_flusher.done",
                    FLUSHERS.join(" or ")
                )],
            ),
        });
        lock.notes.push(
            "no workqueue on the workqueues list names this flusher: which workqueue it flushes is not known".into(),
        );
        return true;
    };
    let color = read_member(k, flusher, "wq_flusher.flush_color").ok();
    lock.name = Some(LockName {
        text: format!(
            "the flush of workqueue {} (wq_flusher {flusher:#x} of {flusher_name})",
            wq.name
        ),
        evidence: Evidence::fact(how, wq.addr),
    });
    lock.notes.retain(|n| !n.contains("nothing records who"));
    if let Some(c) = color {
        if let Some(n) = in_flight(cx, wq.addr, c) {
            lock.notes.push(format!(
                "{n} work item(s) of {} queued before the flush have not returned (pool_workqueue.nr_in_flight[{c}], summed over its pool_workqueues)",
                wq.name
            ));
        }
    }
    // The workers running a work item of this workqueue. Only blocked tasks' stacks are at
    // hand: a worker running on a CPU is not seen, and then no holder is named.
    for st in cx.stacks.iter() {
        let Some(worker) = worker_of(k, st.task) else {
            continue;
        };
        if current_workqueue(k, worker) != Some(wq.addr) {
            continue;
        }
        let func = current_func(k, worker).unwrap_or_else(|| "?".into());
        let same_color = match (color, read_member(k, worker, "worker.current_color")) {
            (Some(c), Ok(w)) => Some(c == w),
            _ => None,
        };
        let evidence = match same_color {
            Some(true) => Evidence::fact(
                format!(
                    "worker {worker:#x} runs {func} of {} (worker.current_pwq->wq) of the flush's color {} (worker.current_color): the flush returns after it",
                    wq.name,
                    color.unwrap_or_default()
                ),
                worker,
            ),
            Some(false) => continue, // queued after the flush began: not waited for
            None => Evidence::inference(
                Confidence::HIGH,
                vec![format!(
                    "worker {worker:#x} runs {func} of {} (worker.current_pwq->wq); this kernel does not record the color of the running work, so whether it was queued before the flush is not known",
                    wq.name
                )],
            ),
        };
        lock.notes.push(format!(
            "{flusher_name} flushes workqueue {}: it waits until {func} returns in {}",
            wq.name,
            cx.who(st.task)
        ));
        lock.holders.push(Holder {
            who: HolderId::Task { task: st.task },
            mode: Mode::None,
            evidence,
        });
    }
    true
}

/// The workqueue a flusher belongs to, and how that is known: its `first_flusher`, or one
/// of its queues of flushers.
fn workqueue_of_flusher(cx: &KindCx<'_>, flusher: u64) -> Option<(Workqueue, String)> {
    let k = cx.k;
    let (wqs, _) = for_each_workqueue(k).ok()?;
    let list = k.types.offsetof("wq_flusher.list").ok()?;
    let node = flusher.wrapping_add(list);
    wqs.into_iter().find_map(|wq| {
        if read_member(k, wq.addr, "workqueue_struct.first_flusher").ok() == Some(flusher) {
            return Some((wq, "workqueue_struct.first_flusher".to_string()));
        }
        ["flusher_queue", "flusher_overflow"].iter().find_map(|q| {
            let head = wq
                .addr
                .wrapping_add(k.types.offsetof(&format!("workqueue_struct.{q}")).ok()?);
            let (nodes, _) = list_nodes(k.mem(), head, MAX_FLUSHERS);
            nodes
                .contains(&node)
                .then(|| (wq.clone(), format!("workqueue_struct.{q}")))
        })
    })
}

/// Work items of `color` not yet returned: `nr_in_flight[color]` over the workqueue's
/// `pool_workqueue`s.
fn in_flight(cx: &KindCx<'_>, wq: u64, color: u64) -> Option<u64> {
    let k = cx.k;
    let t = &k.types;
    let head = wq.wrapping_add(t.offsetof("workqueue_struct.pwqs").ok()?);
    let node = t.offsetof("pool_workqueue.pwqs_node").ok()?;
    let nr_in_flight = t.member("pool_workqueue.nr_in_flight").ok()?;
    let nr = nr_in_flight.offset;
    // One int per color (WORK_NR_COLORS, from the array's size): a larger color is none.
    let colors = t.sizeof_id(nr_in_flight.ty).ok()? / 4;
    if color >= colors {
        return None;
    }
    let (nodes, _) = list_nodes(k.mem(), head, MAX_FLUSHERS);
    let mut sum = 0u64;
    for n in nodes {
        let v = k
            .mem()
            .read_u32(
                n.wrapping_sub(node)
                    .wrapping_add(nr)
                    .wrapping_add(4 * color),
            )
            .ok()? as i32;
        // A negative count is a corrupt one: counted as none.
        sum = sum.saturating_add(u64::try_from(v).unwrap_or(0));
    }
    Some(sum)
}
