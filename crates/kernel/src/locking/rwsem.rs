//! `struct rw_semaphore` (`include/linux/rwsem.h`, `kernel/locking/rwsem.c`), non-RT.
//!
//! The kernel records a writer in `owner`; readers only as a count, plus, in `owner`, the
//! last reader to take the lock flagged `RWSEM_READER_OWNED` — left there by `up_read`, so a
//! hint, never a record. Waiters are `struct rwsem_waiter`s on their own stacks, linked into
//! `wait_list` in queue order.

use super::holders::{ReadHeld, rwsem_readers};
use super::name::mmap_lock_owner;
use super::state::{KindState, LockSideWaiter, StateCx, merge_waiters};
use super::{Confidence, Known, Mode, QueueAt, missing, wait_list};
use super::{Holder, HolderId, LockId, LockObject, Wait};
use crate::Kernel;
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;

/// `count` bit 0: a writer holds the lock [L6.1 = L6.12 kernel/locking/rwsem.c].
pub const RWSEM_WRITER_LOCKED: u64 = 1 << 0;
/// `count` bit 1: the wait list is not empty.
pub const RWSEM_FLAG_WAITERS: u64 = 1 << 1;
/// `count` bit 2: the first waiter is being handed the lock.
pub const RWSEM_FLAG_HANDOFF: u64 = 1 << 2;
/// `count` bit 63: too many readers (the count overflowed into the sign bit).
pub const RWSEM_FLAG_READFAIL: u64 = 1 << 63;
/// Readers are counted from bit 8 (`RWSEM_READER_BIAS = 1 << 8`).
pub const RWSEM_READER_SHIFT: u32 = 8;
/// `owner` bit 0: the lock is (or was last) owned by readers; the rest is the last reader.
pub const RWSEM_READER_OWNED: u64 = 1 << 0;
/// `owner` bit 1: optimistic spinning is disabled.
pub const RWSEM_NONSPINNABLE: u64 = 1 << 1;
/// The flag bits of `owner`.
pub const RWSEM_OWNER_FLAGS_MASK: u64 = RWSEM_READER_OWNED | RWSEM_NONSPINNABLE;

/// Most waiters walked on one lock.
pub const MAX_WAITERS: usize = 1 << 16;

/// Where the fields are (from BTF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RwsemLayout {
    pub size: u64,
    pub count: u64,
    pub owner: u64,
    pub wait_list: QueueAt,
    pub waiter_list: u64,
    pub waiter_task: u64,
    pub waiter_type: u64,
    pub waiter_timeout: u64,
    pub waiter_handoff_set: Option<u64>,
    /// `RWSEM_WAITING_FOR_WRITE` and `RWSEM_WAITING_FOR_READ` of `enum rwsem_waiter_type`.
    pub waiting_for_write: u32,
    pub waiting_for_read: u32,
}

impl RwsemLayout {
    /// The layout of Debian's 6.1 and 6.12 kernels (non-debug x86_64), for tests.
    pub const X86_64: RwsemLayout = RwsemLayout {
        size: 40,
        count: 0,
        owner: 8,
        wait_list: QueueAt::ListHead(24),
        waiter_list: 0,
        waiter_task: 16,
        waiter_type: 24,
        waiter_timeout: 32,
        waiter_handoff_set: Some(40),
        waiting_for_write: 0,
        waiting_for_read: 1,
    };

    /// Reads the layout from the kernel's types.
    pub fn from_types(t: &Types) -> Result<RwsemLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        let val = |e: &str| {
            t.enum_value("rwsem_waiter_type", e)
                .map(|v| v as u32)
                .map_err(|e| missing(format!("types: {e}")))
        };
        Ok(RwsemLayout {
            size: super::size_of(t, "struct rw_semaphore")?,
            count: off("rw_semaphore.count")?,
            owner: off("rw_semaphore.owner")?,
            wait_list: QueueAt::from_types(t, "rw_semaphore")?,
            waiter_list: off("rwsem_waiter.list")?,
            waiter_task: off("rwsem_waiter.task")?,
            waiter_type: off("rwsem_waiter.type")?,
            waiter_timeout: off("rwsem_waiter.timeout")?,
            waiter_handoff_set: t.offsetof("rwsem_waiter.handoff_set").ok(),
            waiting_for_write: val("RWSEM_WAITING_FOR_WRITE")?,
            waiting_for_read: val("RWSEM_WAITING_FOR_READ")?,
        })
    }
}

/// `rw_semaphore.count`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RwsemCount {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub raw: u64,
    pub writer_locked: bool,
    pub waiters: bool,
    pub handoff: bool,
    pub read_fail: bool,
    /// Readers holding the lock now (`count >> RWSEM_READER_SHIFT`, bit 63 aside). A reader
    /// that failed to get it takes its bias back before it sleeps, so waiters are not counted.
    pub readers: u64,
}

impl RwsemCount {
    pub fn decode(raw: u64) -> RwsemCount {
        RwsemCount {
            raw,
            writer_locked: raw & RWSEM_WRITER_LOCKED != 0,
            waiters: raw & RWSEM_FLAG_WAITERS != 0,
            handoff: raw & RWSEM_FLAG_HANDOFF != 0,
            read_fail: raw & RWSEM_FLAG_READFAIL != 0,
            readers: (raw & !RWSEM_FLAG_READFAIL) >> RWSEM_READER_SHIFT,
        }
    }
}

/// `rw_semaphore.owner`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RwsemOwner {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub raw: u64,
    /// The task pointer with the flag bits stripped; `None` when zero.
    #[serde(serialize_with = "crate::locking::hex::opt")]
    #[schemars(with = "Option<crate::locking::hex::Hex>")]
    pub task: Option<u64>,
    pub reader_owned: bool,
    pub nonspinnable: bool,
}

impl RwsemOwner {
    pub fn decode(raw: u64) -> RwsemOwner {
        let task = raw & !RWSEM_OWNER_FLAGS_MASK;
        RwsemOwner {
            raw,
            task: (task != 0).then_some(task),
            reader_owned: raw & RWSEM_READER_OWNED != 0,
            nonspinnable: raw & RWSEM_NONSPINNABLE != 0,
        }
    }
}

/// One `struct rwsem_waiter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RwsemWaiter {
    /// Address of the record (on the waiter's stack).
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub record: u64,
    /// `waiter->task`; 0 once a waker has granted the lock and the reader has not run yet.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    /// Read or Write from `waiter->type`.
    pub mode: Mode,
    /// `waiter->type` as read.
    pub type_raw: u32,
    /// `waiter->timeout`: jiffies after which the waiter asks for a handoff.
    pub timeout: u64,
    pub handoff_set: Option<bool>,
}

/// A decoded `struct rw_semaphore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RwSemaphore {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    pub count: Known<RwsemCount>,
    pub owner: Known<RwsemOwner>,
    /// The writer holding it: `owner` while `count` has `RWSEM_WRITER_LOCKED` (a fact).
    #[serde(serialize_with = "crate::locking::hex::opt_known")]
    #[schemars(with = "Option<crate::locking::hex::KnownHex>")]
    pub writer: Option<Known<u64>>,
    /// The last reader to take it (`owner` flagged `RWSEM_READER_OWNED`): an inference, since
    /// `up_read` leaves it in place and other readers may hold the lock too.
    #[serde(serialize_with = "crate::locking::hex::opt_known")]
    #[schemars(with = "Option<crate::locking::hex::KnownHex>")]
    pub last_reader: Option<Known<u64>>,
    /// In queue order.
    pub waiters: Vec<Known<RwsemWaiter>>,
    /// How the walk of `wait_list` ended when it did not come back to the head.
    pub wait_list_problem: Option<String>,
}

impl RwSemaphore {
    /// Decodes the rw_semaphore at `addr` with the kernel's layout.
    pub fn read(k: &Kernel, addr: u64) -> Result<RwSemaphore, ReadError> {
        read(k.mem(), &RwsemLayout::from_types(&k.types)?, addr)
    }

    /// The mode each waiter wants, in queue order.
    pub fn queue(&self) -> Vec<(u64, Mode)> {
        self.waiters
            .iter()
            .map(|w| (w.value.task, w.value.mode))
            .collect()
    }
}

/// Decodes the rw_semaphore at `addr`.
pub fn read(mem: &dyn KernelMemory, l: &RwsemLayout, addr: u64) -> Result<RwSemaphore, ReadError> {
    let raw_count = mem.read_u64(addr.wrapping_add(l.count))?;
    let raw_owner = mem.read_u64(addr.wrapping_add(l.owner))?;
    let count = RwsemCount::decode(raw_count);
    let owner = RwsemOwner::decode(raw_owner);

    let writer = match (count.writer_locked, owner.reader_owned, owner.task) {
        (true, false, Some(t)) => Some(Known::fact(
            t,
            "rw_semaphore.owner (count has RWSEM_WRITER_LOCKED)",
            addr + l.owner,
        )),
        _ => None,
    };
    let last_reader = match (owner.reader_owned, owner.task) {
        (true, Some(t)) => {
            let mut reasons = vec![format!(
                "rw_semaphore.owner = {raw_owner:#x}: RWSEM_READER_OWNED with the last reader to take the lock; up_read leaves it in place"
            )];
            let confidence = if count.writer_locked {
                reasons.push("count says a writer holds it now".into());
                Confidence::LOW
            } else if count.readers == 0 {
                reasons.push("count says no reader holds it now".into());
                Confidence::LOW
            } else if count.readers == 1 {
                reasons.push("count says exactly one reader holds it".into());
                Confidence::MEDIUM
            } else {
                reasons.push(format!(
                    "count says {} readers hold it; the hint names only the last",
                    count.readers
                ));
                Confidence::MEDIUM.adjust(-15)
            };
            Some(Known::inferred(t, confidence, reasons))
        }
        _ => None,
    };

    let (waiters, wait_list_problem) = wait_list(
        mem,
        addr,
        l.wait_list,
        l.waiter_list,
        &l.wait_list.source("rwsem_waiter", "rw_semaphore"),
        |r| {
            let task = mem.read_u64(r.wrapping_add(l.waiter_task))?;
            let type_raw = mem.read_u32(r.wrapping_add(l.waiter_type))?;
            let timeout = mem.read_u64(r.wrapping_add(l.waiter_timeout))?;
            let handoff_set = match l.waiter_handoff_set {
                Some(o) => Some(mem.read_u8(r.wrapping_add(o))? != 0),
                None => None,
            };
            let mode = if type_raw == l.waiting_for_read {
                Mode::Read
            } else {
                Mode::Write
            };
            Ok(RwsemWaiter {
                record: r,
                task,
                mode,
                type_raw,
                timeout,
                handoff_set,
            })
        },
    )?;
    Ok(RwSemaphore {
        addr,
        count: Known::fact(count, "rw_semaphore.count", addr + l.count),
        owner: Known::fact(owner, "rw_semaphore.owner", addr + l.owner),
        writer,
        last_reader,
        waiters,
        wait_list_problem,
    })
}

/// Whether the words at `addr` look like an rw_semaphore with waiters (used to tell the
/// three lock types whose waiter records have the same shape apart): `count` has
/// `RWSEM_FLAG_WAITERS` and no bits 3–7 (reserved) set, and `owner` is 0 or a kernel
/// pointer with flags.
pub fn plausible_with_waiters(mem: &dyn KernelMemory, l: &RwsemLayout, addr: u64) -> bool {
    let count_ok = mem
        .read_u64(addr.wrapping_add(l.count))
        .is_ok_and(|c| c & RWSEM_FLAG_WAITERS != 0 && c & 0xf8 == 0);
    let owner_ok = mem.read_u64(addr.wrapping_add(l.owner)).is_ok_and(|o| {
        let t = o & !RWSEM_OWNER_FLAGS_MASK;
        t == 0 || mem.is_kernel_pointer(t, 1)
    });
    count_ok && owner_ok
}

/// The state of a (non-RT) rw_semaphore: the writer from `owner` (a fact), readers inferred
/// when the count says readers hold it, the wait list merged with the tasks' side.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let lay = cx.layouts.rwsem.as_ref()?;
    Some(read(cx.mem, lay, id.addr).map(|s| {
        let mut holders = Vec::new();
        let mut notes = Vec::new();
        if let Some(w) = &s.writer {
            holders.push(Holder {
                who: HolderId::Task { task: w.value },
                mode: Mode::Write,
                evidence: w.evidence.clone(),
            });
        }
        let lock_side: Vec<LockSideWaiter> = s
            .waiters
            .iter()
            .map(|w| LockSideWaiter {
                task: w.value.task,
                record: w.value.record,
                mode: w.value.mode,
                evidence: w.evidence.clone(),
                detail: vec![("timeout".to_string(), w.value.timeout.to_string())],
            })
            .collect();
        let waiting: Vec<u64> = lock_side.iter().map(|w| w.task).collect();
        let held = ReadHeld::of(&s, lay.size);
        if held.readers > 0 {
            let mm = mm_range(cx, id.addr).map(|(lo, hi)| (lo, hi, "its mm_struct"));
            holders.extend(rwsem_readers(cx.hcx, &held, &waiting, mm));
            notes.push(format!(
                "{} reader(s) hold it; the kernel does not record which tasks (only the last reader, as a hint)",
                held.readers
            ));
        }
        if let Some(p) = &s.wait_list_problem {
            notes.push(format!("wait_list: {p}"));
        }
        let waiters = merge_waiters(id, lock_side, task_side, &mut notes);
        KindState {
            object: LockObject::Rwsem(s),
            holders,
            waiters,
            notes,
        }
    }))
}

/// `[mm, mm + sizeof(mm_struct))` when the rw_semaphore at `addr` is an mm's `mmap_lock`.
pub(crate) fn mm_range(cx: &StateCx<'_>, addr: u64) -> Option<(u64, u64)> {
    mmap_lock_owner(cx.k, cx.layouts, cx.users, addr).map(|(mm, _, _)| {
        let size = cx.k.types.sizeof("struct mm_struct").unwrap_or(0x400);
        (mm, mm.saturating_add(size))
    })
}

/// Whether `f` (no compiler suffix) is where a task sleeps for an rw_semaphore: the non-RT
/// slow paths (`rwsem_down_read_slowpath`...), the API when the slow path is inlined into it,
/// and PREEMPT_RT's `rwbase_rt` (`__rwbase_read_lock`, `rwbase_write_lock`).
pub fn is_slow_path(f: &str) -> bool {
    f.starts_with("rwsem_down_")
        || f.trim_start_matches('_').starts_with("rwbase_")
        || f.starts_with("down_read")
        || f.starts_with("down_write")
        || f.starts_with("__down_read")
        || f.starts_with("__down_write")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    const SEM: u64 = 0xffff_8880_0000_1000;
    const W1: u64 = 0xffff_c900_0000_3e00;
    const W2: u64 = 0xffff_c900_0000_7e00;
    const T1: u64 = 0xffff_8880_0100_0000;
    const T2: u64 = 0xffff_8880_0200_0000;
    const READER: u64 = 0xffff_8880_0300_0000;

    fn setup(count: u64, owner: u64) -> FakeMem {
        let m = FakeMem::new();
        m.zero(SEM, 40);
        m.u64(SEM, count);
        m.u64(SEM + 8, owner);
        m.zero(W1, 48);
        m.zero(W2, 48);
        m.list(SEM + 24, &[W1, W2]);
        m.u64(W1 + 16, T1);
        m.u32(W1 + 24, 0); // write
        m.u64(W1 + 32, 4_295_000_000);
        m.u64(W2 + 16, T2);
        m.u32(W2 + 24, 1); // read
        m
    }

    #[test]
    fn reader_owned_rwsem_with_a_writer_then_a_reader_queued() {
        // One reader holds it; a writer and then a reader wait (scenario c).
        let m = setup(0x102, READER | RWSEM_READER_OWNED | RWSEM_NONSPINNABLE);
        let s = read(&m, &RwsemLayout::X86_64, SEM).unwrap();
        let c = s.count.value;
        assert!(!c.writer_locked && c.waiters && !c.handoff);
        assert_eq!(c.readers, 1);
        assert!(s.count.evidence.is_fact());
        assert_eq!(s.owner.value.task, Some(READER));
        assert!(s.owner.value.reader_owned && s.owner.value.nonspinnable);
        assert!(s.writer.is_none());
        let r = s.last_reader.clone().unwrap();
        assert_eq!(r.value, READER);
        assert_eq!(r.evidence.confidence(), Some(Confidence::MEDIUM));
        assert_eq!(s.queue(), [(T1, Mode::Write), (T2, Mode::Read)]);
        assert_eq!(s.waiters[0].value.timeout, 4_295_000_000);
        assert!(s.waiters.iter().all(|w| w.evidence.is_fact()));
        assert!(s.wait_list_problem.is_none());
        assert!(plausible_with_waiters(&m, &RwsemLayout::X86_64, SEM));
    }

    #[test]
    fn write_locked_rwsem_names_its_writer_as_fact() {
        let m = setup(RWSEM_WRITER_LOCKED | RWSEM_FLAG_WAITERS, T1);
        let s = read(&m, &RwsemLayout::X86_64, SEM).unwrap();
        assert_eq!(s.writer.as_ref().unwrap().value, T1);
        assert!(s.writer.unwrap().evidence.is_fact());
        assert!(s.last_reader.is_none());
        assert_eq!(s.count.value.readers, 0);
    }

    #[test]
    fn a_looping_wait_list_is_bounded_and_reported() {
        let m = setup(0x102, 0);
        m.u64(W2, W1); // W2.next -> W1: a cycle that misses the head
        let s = read(&m, &RwsemLayout::X86_64, SEM).unwrap();
        assert_eq!(s.waiters.len(), 2);
        assert!(s.wait_list_problem.unwrap().contains("cycle"));
    }

    #[test]
    fn count_decodes_read_fail_and_handoff() {
        let c = RwsemCount::decode(RWSEM_FLAG_READFAIL | RWSEM_FLAG_HANDOFF | (3 << 8));
        assert!(c.read_fail && c.handoff);
        assert_eq!(c.readers, 3);
    }
}
