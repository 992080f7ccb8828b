//! Reading one lock's state: each kind of lock reads its own in its own module (`rwsem`,
//! `rwbase_rt`, `mutex`, `rt_mutex`, `semaphore`, `completion`, `page_lock`), listed once in
//! [`READERS`]. A kind may have several readers, one per layout the kernel can have (an
//! `rw_semaphore` is a count and a wait list, or on PREEMPT_RT a `rwbase_rt`): the first
//! whose layout this kernel has reads it.

use super::holders::HolderCx;
use super::name::MmUsers;
use super::waits::Layouts;
use super::{Evidence, Holder, LockId, LockKind, LockObject, Mode, Wait};
use crate::Kernel;
use holdup_kmem::ReadError;

/// What a kind's reader needs.
pub(crate) struct StateCx<'a> {
    pub k: &'a Kernel,
    /// The kernel's memory, the stacks already read answered from their bytes.
    pub mem: &'a dyn holdup_kmem::KernelMemory,
    pub layouts: &'a Layouts,
    pub hcx: &'a HolderCx<'a>,
    pub users: &'a MmUsers,
}

/// What a kind's reader found: the decoded object, the holders (facts and inferences,
/// unranked), the waiters in queue order (the lock's own list merged with what the tasks'
/// side found: [`merge_waiters`]) and notes.
pub(crate) struct KindState {
    pub object: LockObject,
    pub holders: Vec<Holder>,
    pub waiters: Vec<Wait>,
    pub notes: Vec<String>,
}

/// Reads the state of lock `id` that the tasks in `task_side` wait on. `None` when this
/// kernel does not have the layout the reader decodes (another reader may).
pub(crate) type ReadState =
    fn(&StateCx<'_>, LockId, &[Wait]) -> Option<Result<KindState, ReadError>>;

/// Every reader, by the kinds it reads.
pub(crate) const READERS: &[(&[LockKind], ReadState)] = &[
    (&[LockKind::Rwsem], super::rwsem::lock_state),
    (&[LockKind::Rwsem], super::rwbase_rt::lock_state),
    (&[LockKind::Mutex], super::mutex::lock_state),
    (
        &[LockKind::Mutex, LockKind::RtMutex],
        super::rt_mutex::lock_state,
    ),
    (&[LockKind::Semaphore], super::semaphore::lock_state),
    (&[LockKind::Completion], super::completion::lock_state),
    (&[LockKind::PercpuRwsem], super::percpu_rwsem::lock_state),
    (&[LockKind::WaitBit], super::wait_bit::lock_state),
    (
        &[
            LockKind::PageLock,
            LockKind::PageWriteback,
            LockKind::PageBit,
        ],
        super::page_lock::lock_state,
    ),
    (
        &[LockKind::WaitQueue, LockKind::SwaitQueue],
        wait_queue_state,
    ),
];

/// The state of `id`, from the first reader of its kind whose layout this kernel has.
pub(crate) fn read_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Result<KindState, ReadError> {
    for (kinds, read) in READERS {
        if kinds.contains(&id.kind) {
            if let Some(r) = read(cx, id, task_side) {
                return r;
            }
        }
    }
    Err(super::missing(format!(
        "no {} type in this kernel's types",
        id.kind.c_type()
    )))
}

/// A wait queue has no owner and nothing more to decode: its waiters are those found.
fn wait_queue_state(
    _: &StateCx<'_>,
    _: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    Some(Ok(KindState {
        object: LockObject::WaitQueue,
        holders: vec![],
        waiters: in_queue_order(task_side),
        notes: vec!["a wait queue has no owner: nothing records who is to wake it".into()],
    }))
}

/// The waits found from the tasks' side, by their place in the queue when known.
pub(crate) fn in_queue_order(task_side: &[Wait]) -> Vec<Wait> {
    let mut w = task_side.to_vec();
    w.sort_by_key(|w| (w.position.unwrap_or(usize::MAX), w.record));
    w
}

/// A waiter as the lock's own list has it.
pub(crate) struct LockSideWaiter {
    pub task: u64,
    pub record: u64,
    pub mode: Mode,
    pub evidence: Evidence,
    pub detail: Vec<(String, String)>,
}

/// Merges the waits found from the tasks' side with the lock's own list: the lock's order
/// wins; a waiter only on one side is kept and flagged.
pub(crate) fn merge_waiters(
    id: LockId,
    lock_side: Vec<LockSideWaiter>,
    task_side: &[Wait],
    notes: &mut Vec<String>,
) -> Vec<Wait> {
    let mut task_side = task_side.to_vec();
    let mut out = Vec::new();
    for (i, l) in lock_side.into_iter().enumerate() {
        match task_side.iter().position(|w| w.record == l.record) {
            Some(j) => {
                let mut w = task_side.remove(j);
                w.position = Some(i);
                if w.task != l.task {
                    notes.push(format!(
                        "waiter record {:#x}: the list names task {:#x}, the stack scan {:#x}",
                        l.record, l.task, w.task
                    ));
                }
                out.push(w);
            }
            None => out.push(Wait {
                task: l.task,
                lock: id,
                mode: l.mode,
                record: l.record,
                position: Some(i),
                detail: l.detail,
                evidence: l.evidence,
            }),
        }
    }
    for w in task_side {
        notes.push(format!(
            "task {:#x}: its waiter record {:#x} was not found walking the lock's list",
            w.task, w.record
        ));
        out.push(w);
    }
    out
}
