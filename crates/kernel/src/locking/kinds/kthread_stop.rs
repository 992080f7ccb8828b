//! `kthread_stop()` and `kthread_park()` (`kernel/kthread.c`): the caller sets a flag in the
//! kthread's `struct kthread` and sleeps on that struct's `exited` (stop) or `parked` (park)
//! completion. Only the kthread itself completes it: `exited` when its thread function
//! returns, `parked` when it calls `kthread_parkme()`. So the waiter waits for that kthread,
//! and a kthread that never checks `kthread_should_stop()` (or `kthread_should_park()`)
//! keeps it waiting forever.
//!
//! The kthread is found from the `struct kthread` that holds the completion: the task whose
//! `worker_private` (6.x; `set_child_tid` before, which `to_kthread()` reads) points at it, or
//! `kthread.task` where the kernel has it (7.x). Only a completion that a waiter sleeps on
//! from `kthread_stop`/`kthread_park` is taken for one: a completion at the same offset of
//! another structure is left alone.

use super::KindCx;
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};
use crate::sched;

/// The two waits and what ends each.
const WAITS: &[(&str, &str, &str)] = &[
    (
        "kthread_stop",
        "kthread.exited",
        "kthread_stop() returns when the kthread's function returns: the kthread must check kthread_should_stop()",
    ),
    (
        "kthread_park",
        "kthread.parked",
        "kthread_park() returns when the kthread calls kthread_parkme(): it must check kthread_should_park()",
    ),
];

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::Completion {
        return false;
    }
    let k = cx.k;
    // Which of the two waits: a waiter's stack shows kthread_stop (kthread_stop_put) or
    // kthread_park.
    let Some(&(api, member, ends)) = WAITS.iter().find(|(api, _, _)| {
        lock.waiters.iter().any(|w| {
            cx.stacks.get(w.task).is_some_and(|st| {
                st.frames(k.mem(), Some(&k.symbols))
                    .iter()
                    .any(|f| f.function.starts_with(api))
            })
        })
    }) else {
        return false;
    };
    let Ok(off) = k.types.offsetof(member) else {
        return false;
    };
    let kthread = lock.id.addr.wrapping_sub(off);
    let Some((task, how)) = kthread_task(cx, kthread) else {
        lock.notes.push(format!(
            "{api} waits on {member} of struct kthread {kthread:#x}, but no task is found whose kthread it is"
        ));
        return false;
    };
    let name = cx.who(task);
    let what = if api == "kthread_stop" {
        "exit"
    } else {
        "parking"
    };
    lock.name = Some(LockName {
        text: format!("the {what} of kthread {name}"),
        evidence: Evidence::fact(format!("{member} of the struct kthread of {how}"), kthread),
    });
    lock.notes.retain(|n| !n.contains("nothing records who"));
    lock.notes.push(ends.to_string());
    lock.holders.push(Holder {
        who: HolderId::Task { task },
        mode: Mode::None,
        evidence: Evidence::fact(
            format!("{api} waits on {member} ({how}), which only the kthread completes"),
            kthread,
        ),
    });
    true
}

/// The task whose `struct kthread` is at `kthread`, and how it is known.
fn kthread_task(cx: &KindCx<'_>, kthread: u64) -> Option<(u64, &'static str)> {
    let k = cx.k;
    let mem = k.mem();
    let back = sched::kthread_pointer(k).map(|(path, off)| (off, path));
    // 7.x names the task; the task's own pointer back must agree.
    if let Ok(t) = sched::read_member(k, kthread, "kthread.task")
        && mem.is_kernel_pointer(t, 8)
        && back.is_none_or(|(off, _)| mem.read_u64(t.wrapping_add(off)).ok() == Some(kthread))
    {
        return Some((t, "kthread.task"));
    }
    let (off, path) = back?;
    cx.stacks
        .iter()
        .map(|st| st.task)
        .find(|&t| mem.read_u64(t.wrapping_add(off)).ok() == Some(kthread))
        .map(|t| {
            (
                t,
                if path.ends_with("worker_private") {
                    "the task whose task_struct.worker_private points to it"
                } else {
                    "the task whose task_struct.set_child_tid points to it"
                },
            )
        })
}
