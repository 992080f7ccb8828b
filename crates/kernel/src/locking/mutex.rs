//! `struct mutex` (`include/linux/mutex.h`, 6.12 `mutex_types.h`; `kernel/locking/mutex.c`),
//! non-RT.
//!
//! `owner` is the holding task with three flag bits; waiters are `struct mutex_waiter`s on
//! their stacks, linked into `wait_list` in queue order (FIFO, handoff aside).

use super::state::{KindState, LockSideWaiter, StateCx, merge_waiters};
use super::{Holder, HolderId, LockId, LockObject, QueueAt, Wait};
use super::{Known, Mode, wait_list};
use crate::Kernel;
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;

/// `owner` bit 0: the wait list is not empty; unlock must wake [L6.1 = L6.12 mutex.c].
pub const MUTEX_FLAG_WAITERS: u64 = 0x01;
/// `owner` bit 1: unlock must hand the lock to the top waiter.
pub const MUTEX_FLAG_HANDOFF: u64 = 0x02;
/// `owner` bit 2: handoff done; the top waiter is to pick it up.
pub const MUTEX_FLAG_PICKUP: u64 = 0x04;
/// All flag bits of `owner`.
pub const MUTEX_FLAGS: u64 = 0x07;

/// Where the fields are (from BTF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutexLayout {
    pub size: u64,
    pub owner: u64,
    pub wait_list: QueueAt,
    pub waiter_list: u64,
    pub waiter_task: u64,
    pub waiter_ww_ctx: Option<u64>,
}

impl MutexLayout {
    /// Debian 6.1 and 6.12, non-debug x86_64, for tests.
    pub const X86_64: MutexLayout = MutexLayout {
        size: 32,
        owner: 0,
        wait_list: QueueAt::ListHead(16),
        waiter_list: 0,
        waiter_task: 16,
        waiter_ww_ctx: Some(24),
    };

    pub fn from_types(t: &Types) -> Result<MutexLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        Ok(MutexLayout {
            size: super::size_of(t, "struct mutex")?,
            owner: off("mutex.owner")?,
            wait_list: QueueAt::from_types(t, "mutex")?,
            waiter_list: off("mutex_waiter.list")?,
            waiter_task: off("mutex_waiter.task")?,
            waiter_ww_ctx: t.offsetof("mutex_waiter.ww_ctx").ok(),
        })
    }
}

/// `mutex.owner`, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MutexOwner {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub raw: u64,
    /// The owner with the flags stripped; `None` when unlocked.
    #[serde(serialize_with = "crate::locking::hex::opt")]
    #[schemars(with = "Option<crate::locking::hex::Hex>")]
    pub task: Option<u64>,
    pub waiters: bool,
    pub handoff: bool,
    pub pickup: bool,
}

impl MutexOwner {
    pub fn decode(raw: u64) -> MutexOwner {
        let t = raw & !MUTEX_FLAGS;
        MutexOwner {
            raw,
            task: (t != 0).then_some(t),
            waiters: raw & MUTEX_FLAG_WAITERS != 0,
            handoff: raw & MUTEX_FLAG_HANDOFF != 0,
            pickup: raw & MUTEX_FLAG_PICKUP != 0,
        }
    }
}

/// One `struct mutex_waiter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct MutexWaiter {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub record: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    /// `ww_ctx`: non-zero for a wound/wait mutex acquire context.
    #[serde(serialize_with = "crate::locking::hex::opt")]
    #[schemars(with = "Option<crate::locking::hex::Hex>")]
    pub ww_ctx: Option<u64>,
}

/// A decoded `struct mutex`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Mutex {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    /// `owner` with its flags (a fact).
    pub owner: Known<MutexOwner>,
    /// The holder, `owner` without flags (a fact); `None` when unlocked.
    #[serde(serialize_with = "crate::locking::hex::opt_known")]
    #[schemars(with = "Option<crate::locking::hex::KnownHex>")]
    pub holder: Option<Known<u64>>,
    /// In queue order.
    pub waiters: Vec<Known<MutexWaiter>>,
    pub wait_list_problem: Option<String>,
}

impl Mutex {
    pub fn read(k: &Kernel, addr: u64) -> Result<Mutex, ReadError> {
        read(k.mem(), &MutexLayout::from_types(&k.types)?, addr)
    }
}

/// Decodes the mutex at `addr`.
pub fn read(mem: &dyn KernelMemory, l: &MutexLayout, addr: u64) -> Result<Mutex, ReadError> {
    let owner = MutexOwner::decode(mem.read_u64(addr.wrapping_add(l.owner))?);
    let holder = owner
        .task
        .map(|t| Known::fact(t, "mutex.owner", addr + l.owner));
    let (waiters, wait_list_problem) = wait_list(
        mem,
        addr,
        l.wait_list,
        l.waiter_list,
        &l.wait_list.source("mutex_waiter", "mutex"),
        |r| {
            let ww_ctx = match l.waiter_ww_ctx {
                Some(o) => Some(mem.read_u64(r.wrapping_add(o))?),
                None => None,
            };
            Ok(MutexWaiter {
                record: r,
                task: mem.read_u64(r.wrapping_add(l.waiter_task))?,
                ww_ctx,
            })
        },
    )?;
    Ok(Mutex {
        addr,
        owner: Known::fact(owner, "mutex.owner", addr + l.owner),
        holder,
        waiters,
        wait_list_problem,
    })
}

/// Whether `addr` looks like a mutex with waiters: an owner with `MUTEX_FLAG_WAITERS`
/// whose task part is 0 or a kernel pointer.
pub fn plausible_with_waiters(mem: &dyn KernelMemory, l: &MutexLayout, addr: u64) -> bool {
    mem.read_u64(addr.wrapping_add(l.owner)).is_ok_and(|o| {
        let t = o & !MUTEX_FLAGS;
        o & MUTEX_FLAG_WAITERS != 0 && (t == 0 || mem.is_kernel_pointer(t, 1))
    })
}

/// The mode a mutex is held or waited for in.
pub const MODE: Mode = Mode::Exclusive;

/// The state of a (non-RT) mutex: its owner (a fact) and wait list.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let lay = cx.layouts.mutex.as_ref()?;
    Some(read(cx.mem, lay, id.addr).map(|m| {
        let mut notes = Vec::new();
        let holders = m
            .holder
            .iter()
            .map(|h| Holder {
                who: HolderId::Task { task: h.value },
                mode: Mode::Exclusive,
                evidence: h.evidence.clone(),
            })
            .collect();
        let lock_side = m
            .waiters
            .iter()
            .map(|w| LockSideWaiter {
                task: w.value.task,
                record: w.value.record,
                mode: Mode::Exclusive,
                evidence: w.evidence.clone(),
                detail: vec![],
            })
            .collect();
        if let Some(p) = &m.wait_list_problem {
            notes.push(format!("wait_list: {p}"));
        }
        let waiters = merge_waiters(id, lock_side, task_side, &mut notes);
        KindState {
            object: LockObject::Mutex(m),
            holders,
            waiters,
            notes,
        }
    }))
}

/// Whether `f` (no compiler suffix) is where a task sleeps for a (non-RT) mutex.
pub fn is_slow_path(f: &str) -> bool {
    f.contains("mutex_lock") && !f.contains("rt_mutex")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    #[test]
    fn owner_flags_and_waiters_in_order() {
        let (m, lock, w1, w2) = (
            FakeMem::new(),
            0xffff_ffff_c02e_81c0u64,
            0xffff_c900_0001_3e00u64,
            0xffff_c900_0002_3e00u64,
        );
        let owner = 0xffff_8880_0aaa_0000u64;
        m.zero(lock, 32);
        m.u64(lock, owner | MUTEX_FLAG_WAITERS | MUTEX_FLAG_HANDOFF);
        m.zero(w1, 32);
        m.zero(w2, 32);
        m.list(lock + 16, &[w1, w2]);
        m.u64(w1 + 16, 0x1111_0000);
        m.u64(w2 + 16, 0x2222_0000);
        let x = read(&m, &MutexLayout::X86_64, lock).unwrap();
        assert_eq!(x.holder.as_ref().unwrap().value, owner);
        assert!(x.holder.unwrap().evidence.is_fact());
        assert!(x.owner.value.waiters && x.owner.value.handoff && !x.owner.value.pickup);
        let tasks: Vec<_> = x.waiters.iter().map(|w| w.value.task).collect();
        assert_eq!(tasks, [0x1111_0000, 0x2222_0000]);
        assert_eq!(x.waiters[0].value.ww_ctx, Some(0));
        assert!(plausible_with_waiters(&m, &MutexLayout::X86_64, lock));
    }

    #[test]
    fn an_unlocked_mutex_has_no_holder() {
        let m = FakeMem::new();
        m.zero(0x1000, 32);
        m.list(0x1010, &[]);
        let x = read(&m, &MutexLayout::X86_64, 0x1000).unwrap();
        assert!(x.holder.is_none() && x.waiters.is_empty() && x.wait_list_problem.is_none());
    }
}
