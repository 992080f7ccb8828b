//! Workqueues and their workers (`kernel/workqueue.c`), named as the kernel and drgn's
//! helpers name them: [`for_each_workqueue`], [`kthread_data`], [`worker_of`]. Every list
//! walk is bounded and cycle-checked; a pointer that does not lead back where it should is
//! taken for "not a worker", never followed further.

use crate::Kernel;
use crate::list::{ListEnd, list_entries};
use crate::sched::read_member;
use holdup_kmem::ReadError;

/// Most workqueues walked (a machine has a few hundred).
const MAX_WORKQUEUES: usize = 1 << 14;

/// One workqueue on the kernel's `workqueues` list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workqueue {
    /// The `struct workqueue_struct`.
    pub addr: u64,
    /// `workqueue_struct.name`: `events`, `kblockd`...
    pub name: String,
}

/// Every workqueue on `workqueues`, in list order, and how the walk ended.
pub fn for_each_workqueue(k: &Kernel) -> Result<(Vec<Workqueue>, ListEnd), ReadError> {
    let head = k.symbol("workqueues")?;
    let off = offsetof(k, "workqueue_struct.list")?;
    let name = offsetof(k, "workqueue_struct.name")?;
    let (wqs, end) = list_entries(k.mem(), head, off, MAX_WORKQUEUES);
    let wqs = wqs
        .into_iter()
        .map(|addr| Workqueue {
            addr,
            name: k
                .mem()
                .read_cstr(addr.wrapping_add(name), 32)
                .unwrap_or_else(|_| "?".into()),
        })
        .collect();
    Ok((wqs, end))
}

/// `kthread_data()`: the `data` of the `struct kthread` of a kthread
/// ([`crate::sched::to_kthread`]). Meaningless for a task that is not a kthread: callers check
/// what they find there.
pub fn kthread_data(k: &Kernel, task: u64) -> Option<u64> {
    let kthread = crate::sched::to_kthread(k, task)?;
    read_member(k, kthread, "kthread.data")
        .ok()
        .filter(|&d| k.mem().is_kernel_pointer(d, 8))
}

/// The `struct worker` a kworker task is: its kthread data, accepted only when that worker's
/// `task` points back at the task.
pub fn worker_of(k: &Kernel, task: u64) -> Option<u64> {
    let worker = kthread_data(k, task)?;
    (read_member(k, worker, "worker.task").ok()? == task).then_some(worker)
}

/// The workqueue whose work item `worker` runs now (`worker.current_pwq->wq`), if any.
pub fn current_workqueue(k: &Kernel, worker: u64) -> Option<u64> {
    let pwq = read_member(k, worker, "worker.current_pwq").ok()?;
    if pwq == 0 || !k.mem().is_kernel_pointer(pwq, 8) {
        return None;
    }
    read_member(k, pwq, "pool_workqueue.wq")
        .ok()
        .filter(|&wq| k.mem().is_kernel_pointer(wq, 8))
}

/// The function of the work item `worker` runs now (`worker.current_func`), by name.
pub fn current_func(k: &Kernel, worker: u64) -> Option<String> {
    let f = read_member(k, worker, "worker.current_func").ok()?;
    let r = k.symbols.resolve(f)?;
    (r.offset == 0).then(|| crate::locking::waits::base_name(r.symbol.name).to_string())
}

fn offsetof(k: &Kernel, path: &str) -> Result<u64, ReadError> {
    k.types.offsetof(path).map_err(|e| ReadError::Corrupt {
        vaddr: 0,
        detail: format!("types: {e}"),
    })
}
