//! `struct percpu_rw_semaphore` (`include/linux/percpu-rwsem.h`,
//! `kernel/locking/percpu-rwsem.c`): the lock of each freeze level of a super block
//! (`s_writers`), of `cgroup_threadgroup_rwsem`, of uprobes...
//!
//! Readers count themselves in a per-CPU `read_count` (an increment on one CPU and the
//! decrement on another: only the sum over every CPU is the number of readers, modulo 2^32).
//! A writer sets `block`, which sends new readers to sleep, and waits in `percpu_down_write`
//! until the readers leave, named in `writer.task` (an `rcuwait`): that writer is queued
//! first, and who holds the lock is the readers. Readers that came after it, and other
//! writers, sleep in `percpu_rwsem_wait` on `waiters`, a wait queue whose entries run
//! `percpu_rwsem_wake_function`. The kernel records neither which tasks read nor, once a
//! writer has the lock, which task that is: holders are inferred.

use super::holders::{ReadHeld, rwsem_readers};
use super::state::{KindState, LockSideWaiter, StateCx, merge_waiters};
use super::{Evidence, Holder, Known, LockId, LockObject, Mode, Wait};
use crate::Kernel;
use holdup_kmem::{KernelMemory, ReadError};
use serde::Serialize;

/// Where the fields are (from BTF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PercpuRwsemLayout {
    pub size: u64,
    /// `read_count`: a `__percpu` pointer.
    pub read_count: u64,
    /// `writer.task`.
    pub writer_task: u64,
    /// `waiters.head`: the wait queue's list.
    pub waiters_list: u64,
    pub block: u64,
}

impl PercpuRwsemLayout {
    pub fn from_types(t: &holdup_types::Types) -> Result<PercpuRwsemLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        Ok(PercpuRwsemLayout {
            size: super::size_of(t, "struct percpu_rw_semaphore")?,
            read_count: off("percpu_rw_semaphore.read_count")?,
            writer_task: off("percpu_rw_semaphore.writer.task")?,
            waiters_list: off("percpu_rw_semaphore.waiters.head")?,
            block: off("percpu_rw_semaphore.block")?,
        })
    }

    /// The semaphore whose `waiters` wait queue head is at `head`.
    pub fn sem_of_waiters(&self, head: u64, head_list: u64) -> u64 {
        head.wrapping_add(head_list).wrapping_sub(self.waiters_list)
    }
}

/// A decoded `struct percpu_rw_semaphore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PercpuRwsem {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    /// Readers holding it: the sum of `read_count` over every possible CPU.
    pub readers: Known<u32>,
    /// `block`: readers are held off (a writer has it or waits for the readers).
    pub block: Known<u32>,
    /// `writer.task`: the writer waiting for the readers to leave.
    #[serde(serialize_with = "crate::locking::hex::opt_known")]
    #[schemars(with = "Option<crate::locking::hex::KnownHex>")]
    pub writer: Option<Known<u64>>,
}

/// Decodes the percpu_rw_semaphore at `addr`.
pub fn read(k: &Kernel, l: &PercpuRwsemLayout, addr: u64) -> Result<PercpuRwsem, ReadError> {
    let mem = k.mem();
    let pcpu = mem.read_u64(addr.wrapping_add(l.read_count))?;
    let mut sum = 0u32;
    for cpu in crate::percpu::for_each_possible_cpu(k)? {
        let at = crate::percpu::per_cpu_ptr(k, pcpu, cpu)?;
        sum = sum.wrapping_add(mem.read_u32(at)?);
    }
    let block = mem.read_u32(addr.wrapping_add(l.block))?;
    let writer = mem.read_u64(addr.wrapping_add(l.writer_task))?;
    Ok(PercpuRwsem {
        addr,
        readers: Known::fact(
            sum,
            "the sum of percpu_rw_semaphore.read_count over every possible CPU",
            addr + l.read_count,
        ),
        block: Known::fact(block, "percpu_rw_semaphore.block", addr + l.block),
        writer: (writer != 0).then(|| {
            Known::fact(
                writer,
                "percpu_rw_semaphore.writer.task (rcuwait): a writer waiting for the readers to leave",
                addr + l.writer_task,
            )
        }),
    })
}

/// Whether `f` (no compiler suffix) is where a task sleeps for a percpu_rw_semaphore.
pub fn is_slow_path(f: &str) -> bool {
    matches!(
        f,
        "percpu_rwsem_wait" | "__percpu_down_read" | "percpu_down_write" | "percpu_down_read"
    )
}

/// Whether a task sleeping on a percpu_rw_semaphore reads (its frames show the read path)
/// rather than writes.
pub fn reads<'a>(functions: impl IntoIterator<Item = &'a str>) -> Option<bool> {
    functions.into_iter().find_map(|f| match f {
        "__percpu_down_read" | "percpu_down_read" => Some(true),
        "percpu_down_write" => Some(false),
        _ => None,
    })
}

/// The semaphore `task` is the waiting writer of (it sleeps in `percpu_down_write` until the
/// readers leave): found from the words of its stack, one whose `writer.task` is the task and
/// whose `block` is set. Addresses on a stack are not semaphores.
pub fn waiting_writer_of(
    mem: &dyn KernelMemory,
    l: &PercpuRwsemLayout,
    task: u64,
    words: impl Iterator<Item = u64>,
    on_a_stack: impl Fn(u64) -> bool,
) -> Option<u64> {
    let mut tried = std::collections::HashSet::new();
    words.into_iter().find(|&w| {
        mem.is_kernel_pointer(w, 8)
            && !on_a_stack(w)
            && tried.insert(w)
            && mem.read_u64(w.wrapping_add(l.writer_task)).ok() == Some(task)
            && mem.read_u32(w.wrapping_add(l.block)).ok() == Some(1)
    })
}

/// The state of a percpu_rw_semaphore: the waiting writer first, then the tasks on its
/// `waiters` queue, as found from their stacks (in queue order); readers inferred while the
/// count says readers hold it.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let l = cx.layouts.percpu_rwsem.as_ref()?;
    Some(read(cx.k, l, id.addr).map(|s| {
        let mut notes = Vec::new();
        let mut lock_side = Vec::new();
        if let Some(w) = &s.writer {
            lock_side.push(LockSideWaiter {
                task: w.value,
                record: id.addr + l.writer_task,
                mode: Mode::Write,
                evidence: w.evidence.clone(),
                detail: vec![("readers".into(), s.readers.value.to_string())],
            });
            notes.push(format!(
                "a writer has blocked new readers and waits for the {} reader(s) that hold it to leave",
                s.readers.value
            ));
        }
        let waiting: Vec<u64> = task_side
            .iter()
            .map(|w| w.task)
            .chain(lock_side.iter().map(|w| w.task))
            .collect();
        let mut holders: Vec<Holder> = Vec::new();
        if s.readers.value > 0 {
            let held = ReadHeld {
                kind: super::LockKind::PercpuRwsem,
                what: "the percpu_rw_semaphore",
                addr: id.addr,
                size: l.size,
                readers: u64::from(s.readers.value),
                last_reader: None,
            };
            // A reader refers to what the lock is part of (a super block's s_writers) more
            // often than to the lock itself.
            let container = match (&cx.layouts.memmap, &cx.layouts.slab) {
                (Some(m), Some(sl)) => {
                    crate::mm::slab::slab_object_info(cx.mem, m, sl, id.addr)
                        .ok()
                        .flatten()
                }
                _ => None,
            };
            let related = container.as_ref().map(|o| {
                (
                    o.object,
                    o.object.saturating_add(u64::from(o.slab.object_size)),
                    format!("the {} object it is in", o.slab.cache_name),
                )
            });
            holders.extend(rwsem_readers(
                cx.hcx,
                &held,
                &waiting,
                related.as_ref().map(|(lo, hi, n)| (*lo, *hi, n.as_str())),
            ));
            notes.push(format!(
                "{} reader(s) hold it (the per-CPU count); the kernel does not record which tasks",
                s.readers.value
            ));
        }
        if s.block.value != 0 && s.writer.is_none() && s.readers.value == 0 {
            notes.push(
                "block is set and no reader holds it: a writer holds it; the kernel does not record which task"
                    .into(),
            );
        }
        // The waiting writer first (the semaphore names it), then the tasks on `waiters`,
        // found from their stacks with their place in that queue.
        let writer_record = id.addr + l.writer_task;
        let (writer_side, mut queued): (Vec<Wait>, Vec<Wait>) = task_side
            .iter()
            .cloned()
            .partition(|w| w.record == writer_record);
        let mut waiters = merge_waiters(id, lock_side, &writer_side, &mut notes);
        // The writer waits in a slot of its own, ahead of the queue but not in it: it has no
        // place in the queue, and the queued keep theirs (as crash's `waitq` lists them).
        for w in &mut waiters {
            w.position = None;
        }
        queued.sort_by_key(|w| (w.position.unwrap_or(usize::MAX), w.record));
        waiters.extend(queued);
        KindState {
            object: LockObject::PercpuRwsem(s),
            holders,
            waiters,
            notes,
        }
    }))
}

/// The evidence of a wait on `waiters`, from a task's wait queue entry.
pub(crate) fn waiter_evidence(entry: u64) -> Evidence {
    Evidence::fact(
        "wait_queue_entry on the task's stack (func percpu_rwsem_wake_function) linked into percpu_rw_semaphore.waiters",
        entry,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    const L: PercpuRwsemLayout = PercpuRwsemLayout {
        size: 96,
        read_count: 48,
        writer_task: 56,
        waiters_list: 72,
        block: 88,
    };
    const SEM: u64 = 0xffff_8880_0000_1000;
    const WRITER: u64 = 0xffff_8880_0100_0000;

    #[test]
    fn the_waiting_writer_is_the_one_named_with_block_set() {
        let m = FakeMem::new();
        m.zero(SEM, 96);
        m.u64(SEM + 56, WRITER);
        m.u32(SEM + 88, 1);
        let words = [0x10u64, SEM, 0xffff_8880_0000_2000];
        let find = |m: &FakeMem, task| waiting_writer_of(m, &L, task, words.into_iter(), |_| false);
        assert_eq!(find(&m, WRITER), Some(SEM));
        assert_eq!(find(&m, WRITER + 0x40), None);
        // Not on a stack; not without block.
        assert_eq!(
            waiting_writer_of(&m, &L, WRITER, words.into_iter(), |a| a == SEM),
            None
        );
        m.u32(SEM + 88, 0);
        assert_eq!(find(&m, WRITER), None);
    }

    #[test]
    fn the_side_a_sleeper_is_on_comes_from_its_frames() {
        let r = |f: &[&str]| reads(f.iter().copied());
        assert_eq!(
            r(&["percpu_rwsem_wait", "__percpu_down_read", "vfs_write"]),
            Some(true)
        );
        assert_eq!(
            r(&["percpu_rwsem_wait", "percpu_down_write", "freeze_super"]),
            Some(false)
        );
        assert_eq!(r(&["percpu_rwsem_wait", "x"]), None);
        assert!(is_slow_path("percpu_rwsem_wait") && !is_slow_path("down_write"));
    }
}
