//! `flush_work()` (`kernel/workqueue.c`): the flusher puts a `struct wq_barrier` on its stack,
//! queues the barrier's work right behind the work it flushes, and sleeps on the barrier's
//! completion. When the work is running, the barrier goes on the `scheduled` list of the
//! worker that runs it, and that worker completes the barrier once the work's function
//! returns: the worker, not "nobody", is who the flusher waits for. If that function waits for
//! something the flusher holds (flushing under a lock the work takes), the graph closes a
//! deadlock cycle through the work item.

use super::KindCx;
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};
use crate::sched;
use std::collections::HashSet;

/// Most list nodes walked to find the list the barrier is queued on.
const MAX_WALK: usize = 4096;

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::Completion {
        return false;
    }
    let k = cx.k;
    let t = &k.types;
    let (Ok(done), Ok(work), Ok(func), Ok(entry), Ok(task_off)) = (
        t.offsetof("wq_barrier.done"),
        t.offsetof("wq_barrier.work"),
        t.offsetof("work_struct.func"),
        t.offsetof("work_struct.entry"),
        t.offsetof("wq_barrier.task"),
    ) else {
        return false;
    };
    let mem = k.mem();
    let barr = lock.id.addr.wrapping_sub(done);
    let function = |addr: u64| {
        let r = k.symbols.resolve(addr)?;
        (matches!(r.symbol.kind, 't' | 'T') && r.offset == 0)
            .then(|| crate::locking::waits::base_name(r.symbol.name).to_string())
    };
    // The barrier's own work runs wq_barrier_func: anything else is another completion.
    let Some(f) = mem
        .read_u64(barr.wrapping_add(work).wrapping_add(func))
        .ok()
        .and_then(function)
    else {
        return false;
    };
    if f != "wq_barrier_func" {
        return false;
    }
    let flusher = mem.read_u64(barr.wrapping_add(task_off)).unwrap_or(0);
    let flusher_name = cx.who(flusher);
    // Walk from the barrier's entry to the head of the list it is on: the first node that is
    // not a work_struct's entry (whose func is a function).
    let node = barr.wrapping_add(work).wrapping_add(entry);
    let is_work = |n: u64| {
        mem.read_u64(n.wrapping_sub(entry).wrapping_add(func))
            .ok()
            .and_then(function)
            .is_some()
    };
    let mut n = mem.read_u64(node).unwrap_or(node);
    let mut seen = HashSet::new();
    let mut head = None;
    for _ in 0..MAX_WALK {
        if n == node || !mem.is_kernel_pointer(n, 8) || !seen.insert(n) {
            break;
        }
        if !is_work(n) {
            head = Some(n);
            break;
        }
        let Ok(next) = mem.read_u64(n) else { break };
        n = next;
    }
    lock.notes.retain(|n| !n.contains("nothing records who"));
    let worker = head.and_then(|h| {
        let w = h.wrapping_sub(t.offsetof("worker.scheduled").ok()?);
        let task = sched::read_member(k, w, "worker.task").ok()?;
        let current = sched::read_member(k, w, "worker.current_func")
            .ok()
            .and_then(function)?;
        (mem.is_kernel_pointer(task, 8) && task != 0).then_some((w, task, current))
    });
    match worker {
        Some((w, task, current)) => {
            lock.name = Some(LockName {
                text: format!("the flush of {current} (wq_barrier {barr:#x} of {flusher_name})"),
                evidence: Evidence::fact("wq_barrier.done, whose work runs wq_barrier_func", barr),
            });
            lock.holders.push(Holder {
                who: HolderId::Task { task },
                mode: Mode::None,
                evidence: Evidence::fact(
                    format!(
                        "the barrier's work is queued on worker.scheduled of worker {w:#x} ({}), which runs {current} (worker.current_func) and completes the barrier when it returns",
                        cx.who(task)
                    ),
                    w,
                ),
            });
            lock.notes.push(format!(
                "{flusher_name} flushes {current}: it waits until {current} returns in {}",
                cx.who(task)
            ));
        }
        None => {
            lock.name = Some(LockName {
                text: format!("a flush_work barrier (wq_barrier {barr:#x} of {flusher_name})"),
                evidence: Evidence::fact("wq_barrier.done, whose work runs wq_barrier_func", barr),
            });
            lock.notes.push(
                "the barrier is not on a worker's scheduled list: the work it follows has not started, and no worker is known to run it yet".into(),
            );
        }
    }
    true
}
