//! `struct semaphore` (`include/linux/semaphore.h`, `kernel/locking/semaphore.c`).
//!
//! The kernel records how many units are left (`count`) and who waits (`semaphore_waiter`s
//! on their stacks, linked into `wait_list`), but never who holds a unit: holders can only be
//! inferred (see [`crate::locking::analyze`]).

use super::holders::semaphore_holders;
use super::state::{KindState, LockSideWaiter, StateCx, merge_waiters};
use super::{Known, QueueAt, wait_list};
use super::{LockId, LockObject, Mode, Wait};
use crate::Kernel;
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;

/// What every decoded semaphore says about its holders.
pub const NO_HOLDER_RECORD: &str =
    "the kernel does not record who holds a semaphore: holders are inferred";

/// Where the fields are (from BTF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SemaphoreLayout {
    pub size: u64,
    pub lock: u64,
    pub count: u64,
    pub wait_list: QueueAt,
    pub waiter_list: u64,
    pub waiter_task: u64,
    pub waiter_up: Option<u64>,
}

impl SemaphoreLayout {
    /// Debian 6.1 and 6.12, x86_64, for tests.
    pub const X86_64: SemaphoreLayout = SemaphoreLayout {
        size: 24,
        lock: 0,
        count: 4,
        wait_list: QueueAt::ListHead(8),
        waiter_list: 0,
        waiter_task: 16,
        waiter_up: Some(24),
    };

    pub fn from_types(t: &Types) -> Result<SemaphoreLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        Ok(SemaphoreLayout {
            size: super::size_of(t, "struct semaphore")?,
            lock: off("semaphore.lock")?,
            count: off("semaphore.count")?,
            wait_list: QueueAt::from_types(t, "semaphore")?,
            waiter_list: off("semaphore_waiter.list")?,
            waiter_task: off("semaphore_waiter.task")?,
            waiter_up: t.offsetof("semaphore_waiter.up").ok(),
        })
    }
}

/// One `struct semaphore_waiter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SemaphoreWaiter {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub record: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    /// `up`: set by `__up` when it hands this waiter a unit.
    pub up: Option<bool>,
}

/// A decoded `struct semaphore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Semaphore {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    /// Units left (a fact). With waiters it is 0.
    pub count: Known<u32>,
    /// In queue order.
    pub waiters: Vec<Known<SemaphoreWaiter>>,
    pub wait_list_problem: Option<String>,
    /// Always [`NO_HOLDER_RECORD`].
    pub holders_note: &'static str,
}

impl Semaphore {
    pub fn read(k: &Kernel, addr: u64) -> Result<Semaphore, ReadError> {
        read(k.mem(), &SemaphoreLayout::from_types(&k.types)?, addr)
    }
}

/// Decodes the semaphore at `addr`.
pub fn read(
    mem: &dyn KernelMemory,
    l: &SemaphoreLayout,
    addr: u64,
) -> Result<Semaphore, ReadError> {
    let count = mem.read_u32(addr.wrapping_add(l.count))?;
    let (waiters, wait_list_problem) = wait_list(
        mem,
        addr,
        l.wait_list,
        l.waiter_list,
        &l.wait_list.source("semaphore_waiter", "semaphore"),
        |r| {
            let up = match l.waiter_up {
                Some(o) => Some(mem.read_u8(r.wrapping_add(o))? != 0),
                None => None,
            };
            Ok(SemaphoreWaiter {
                record: r,
                task: mem.read_u64(r.wrapping_add(l.waiter_task))?,
                up,
            })
        },
    )?;
    Ok(Semaphore {
        addr,
        count: Known::fact(count, "semaphore.count", addr + l.count),
        waiters,
        wait_list_problem,
        holders_note: NO_HOLDER_RECORD,
    })
}

/// Whether `addr` looks like a semaphore with waiters: `count` is 0 (`__up` hands a unit to
/// a waiter instead of counting it) and the raw spinlock is a small value.
pub fn plausible_with_waiters(mem: &dyn KernelMemory, l: &SemaphoreLayout, addr: u64) -> bool {
    matches!(
        (mem.read_u32(addr.wrapping_add(l.count)), mem.read_u32(addr.wrapping_add(l.lock))),
        (Ok(0), Ok(lock)) if lock <= 0xffff
    )
}

/// The state of a semaphore: its count and wait list; holders inferred (the kernel records
/// none).
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let lay = cx.layouts.semaphore.as_ref()?;
    Some(read(cx.mem, lay, id.addr).map(|s| {
        let lock_side: Vec<LockSideWaiter> = s
            .waiters
            .iter()
            .map(|w| LockSideWaiter {
                task: w.value.task,
                record: w.value.record,
                mode: Mode::Count,
                evidence: w.evidence.clone(),
                detail: vec![],
            })
            .collect();
        let waiting: Vec<u64> = lock_side.iter().map(|w| w.task).collect();
        let holders = semaphore_holders(cx.hcx, &s, lay.size, &waiting);
        let mut notes = vec![NO_HOLDER_RECORD.to_string()];
        if let Some(p) = &s.wait_list_problem {
            notes.push(format!("wait_list: {p}"));
        }
        let waiters = merge_waiters(id, lock_side, task_side, &mut notes);
        KindState {
            object: LockObject::Semaphore(s),
            holders,
            waiters,
            notes,
        }
    }))
}

/// Whether `f` (no compiler suffix) is where a task sleeps in `down()` and its variants.
pub fn is_slow_path(f: &str) -> bool {
    matches!(
        f,
        "__down_common"
            | "___down_common"
            | "__down"
            | "__down_interruptible"
            | "__down_killable"
            | "__down_timeout"
            | "down"
            | "down_interruptible"
            | "down_killable"
            | "down_timeout"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    #[test]
    fn count_and_waiters_and_no_holders() {
        let m = FakeMem::new();
        let (s, w) = (0xffff_ffff_c02e_85d0u64, 0xffff_c900_0051_3e00u64);
        m.zero(s, 24);
        m.zero(w, 32);
        m.list(s + 8, &[w]);
        m.u64(w + 16, 0xffff_8880_0000_5000);
        let x = read(&m, &SemaphoreLayout::X86_64, s).unwrap();
        assert_eq!(x.count.value, 0);
        assert_eq!(x.waiters.len(), 1);
        assert_eq!(x.waiters[0].value.task, 0xffff_8880_0000_5000);
        assert_eq!(x.waiters[0].value.up, Some(false));
        assert_eq!(x.holders_note, NO_HOLDER_RECORD);
        assert!(plausible_with_waiters(&m, &SemaphoreLayout::X86_64, s));
        m.u32(s + 4, 2);
        assert!(!plausible_with_waiters(&m, &SemaphoreLayout::X86_64, s));
    }
}
