//! `struct rt_mutex_base` (`include/linux/rtmutex.h`, `kernel/locking/rtmutex.c`): the
//! priority-inheriting lock of PI futexes and RCU boosting and, on PREEMPT_RT, the lock
//! inside every sleeping `mutex`, `rw_semaphore`, `rwlock_t` and `spinlock_t`.
//!
//! `owner` is the holding task with `RT_MUTEX_HAS_WAITERS` in bit 0: a fact. Waiters are
//! `struct rt_mutex_waiter`s on their stacks, in the `waiters` rbtree ordered by priority
//! (leftmost first: the top waiter, who gets the lock next), each naming its task and lock;
//! a blocked task points at its own through `task_struct.pi_blocked_on`.
//!
//! What a task waits for on PREEMPT_RT is often not the rt_mutex itself but the lock built
//! on it: [`what_it_guards`] tells that from the lock function the task called.

use super::state::{KindState, LockSideWaiter, StateCx, merge_waiters};
use super::{Holder, HolderId, Known, LockId, LockKind, LockObject, Mode, Wait, missing};
use crate::list::ListEnd;
use crate::rbtree::{RbLayout, rb_inorder};
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;

/// `owner` bit 0: the waiters tree is not empty [L6.12 kernel/locking/rtmutex.c].
pub const RT_MUTEX_HAS_WAITERS: u64 = 1;

/// Most waiters walked in one rt_mutex's tree.
pub const MAX_WAITERS: usize = super::rwsem::MAX_WAITERS;

/// Where the fields are (from BTF).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtMutexLayout {
    pub size: u64,
    /// `wait_lock`: a raw spinlock (a small value: locked, pending and tail bits).
    pub wait_lock: u64,
    pub owner: u64,
    /// `waiters.rb_root.rb_node`.
    pub waiters_root: u64,
    /// The waiter's `rb_node` in the lock's tree: `tree.entry` (6.6+) or `tree_entry`.
    pub waiter_node: u64,
    pub waiter_task: u64,
    pub waiter_lock: u64,
    pub rb: RbLayout,
}

impl RtMutexLayout {
    pub fn from_types(t: &Types) -> Result<RtMutexLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        Ok(RtMutexLayout {
            size: super::size_of(t, "struct rt_mutex_base")?,
            wait_lock: off("rt_mutex_base.wait_lock")?,
            owner: off("rt_mutex_base.owner")?,
            waiters_root: off("rt_mutex_base.waiters.rb_root.rb_node")?,
            waiter_node: off("rt_mutex_waiter.tree.entry")
                .or_else(|_| off("rt_mutex_waiter.tree_entry"))?,
            waiter_task: off("rt_mutex_waiter.task")?,
            waiter_lock: off("rt_mutex_waiter.lock")?,
            rb: RbLayout::from_types(t)
                .ok_or_else(|| missing("types: no rb_node.rb_left/rb_right"))?,
        })
    }
}

/// One `struct rt_mutex_waiter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RtWaiter {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub record: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
}

/// A decoded `struct rt_mutex_base`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct RtMutex {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    /// `owner` as read.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub owner_raw: u64,
    /// The holder: `owner` with `RT_MUTEX_HAS_WAITERS` stripped (a fact).
    #[serde(serialize_with = "crate::locking::hex::opt_known")]
    #[schemars(with = "Option<crate::locking::hex::KnownHex>")]
    pub owner: Option<Known<u64>>,
    pub has_waiters: bool,
    /// By priority, the top waiter first; only records whose `lock` names this rt_mutex.
    pub waiters: Vec<Known<RtWaiter>>,
    /// How the walk of the tree ended when it did not see every node, or a record that
    /// names another lock.
    pub waiters_problem: Option<String>,
}

/// Decodes the rt_mutex_base at `addr`.
pub fn read(mem: &dyn KernelMemory, l: &RtMutexLayout, addr: u64) -> Result<RtMutex, ReadError> {
    let owner_raw = mem.read_u64(addr.wrapping_add(l.owner))?;
    let task = owner_raw & !RT_MUTEX_HAS_WAITERS;
    let owner = (task != 0).then(|| Known::fact(task, "rt_mutex_base.owner", addr + l.owner));
    let root = mem.read_u64(addr.wrapping_add(l.waiters_root))?;
    let (nodes, end) = rb_inorder(mem, l.rb, root, MAX_WAITERS, |n| {
        mem.is_kernel_pointer(n, 8)
    });
    let mut problem = (end != ListEnd::Complete).then(|| format!("waiters tree: {end}"));
    let mut waiters = Vec::with_capacity(nodes.len());
    for n in nodes {
        let record = n.wrapping_sub(l.waiter_node);
        let task = mem.read_u64(record.wrapping_add(l.waiter_task))?;
        let lock = mem.read_u64(record.wrapping_add(l.waiter_lock))?;
        if lock != addr {
            problem = Some(format!(
                "waiter {record:#x} in the tree names lock {lock:#x}, not this one"
            ));
            continue;
        }
        waiters.push(Known::fact(
            RtWaiter { record, task },
            "rt_mutex_waiter in rt_mutex_base.waiters",
            record,
        ));
    }
    Ok(RtMutex {
        addr,
        owner_raw,
        owner,
        has_waiters: owner_raw & RT_MUTEX_HAS_WAITERS != 0,
        waiters,
        waiters_problem: problem,
    })
}

/// Whether the words at `addr` fit an rt_mutex_base: a raw spinlock that is a small
/// number (an unlocked or contended qspinlock, never a pointer), a waiters root and an owner
/// that are 0 or kernel pointers.
pub fn plausible(mem: &dyn KernelMemory, l: &RtMutexLayout, addr: u64) -> bool {
    let ptr_or_0 = |v: u64| v == 0 || mem.is_kernel_pointer(v, 8);
    mem.read_u64(addr.wrapping_add(l.wait_lock))
        .is_ok_and(|w| w & 0xffff_ffff <= 0xffff)
        && mem
            .read_u64(addr.wrapping_add(l.waiters_root))
            .is_ok_and(ptr_or_0)
        && mem
            .read_u64(addr.wrapping_add(l.owner))
            .is_ok_and(|o| ptr_or_0(o & !RT_MUTEX_HAS_WAITERS))
}

/// The lock an rt_mutex a task sleeps on belongs to, from the lock function it called (the
/// innermost frame whose function, or whose call instruction's target, is one): an RT
/// `mutex` (`mutex_lock*`), the reader or writer side of an RT `rw_semaphore`
/// (`down_read*`, `down_write*`, `__rwbase_read_lock`, `rwbase_write_lock`), or the rt_mutex
/// itself (`rt_mutex_lock*`, or nothing known).
pub fn what_it_guards<'a>(names: impl IntoIterator<Item = &'a str>) -> Option<(Guarded, Mode)> {
    for name in names {
        let f = super::waits::base_name(name);
        let bare = f.trim_start_matches('_');
        let found = if bare.starts_with("rwbase_read_lock")
            || bare.starts_with("down_read")
            || bare.starts_with("mmap_read_lock")
        {
            Some((Guarded::RwSemaphore, Mode::Read))
        } else if bare.starts_with("rwbase_write_lock")
            || bare.starts_with("down_write")
            || bare.starts_with("mmap_write_lock")
        {
            Some((Guarded::RwSemaphore, Mode::Write))
        } else if bare.starts_with("mutex_lock") {
            Some((Guarded::Mutex, Mode::Exclusive))
        } else if bare.starts_with("rt_mutex_lock") || bare.starts_with("rt_mutex_trylock") {
            Some((Guarded::RtMutex, Mode::Exclusive))
        } else {
            None
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// What an rt_mutex is the inner lock of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guarded {
    RtMutex,
    Mutex,
    RwSemaphore,
}

/// The state of an rt_mutex, or of a PREEMPT_RT mutex (an rt_mutex_base at
/// `mutex.rtmutex`): the owner (a fact) and the waiters tree, top waiter first.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let l = cx.layouts.rt_mutex.as_ref()?;
    let base = match id.kind {
        LockKind::Mutex => id.addr.wrapping_add(cx.layouts.mutex_rtmutex?),
        _ => id.addr,
    };
    Some(read(cx.mem, l, base).map(|r| {
        let mut notes = Vec::new();
        if id.kind == LockKind::Mutex {
            notes.push(
                "a PREEMPT_RT mutex: an rt_mutex_base, whose waiters queue by priority".into(),
            );
        }
        let holders = r
            .owner
            .iter()
            .map(|o| Holder {
                who: HolderId::Task { task: o.value },
                mode: Mode::Exclusive,
                evidence: o.evidence.clone(),
            })
            .collect();
        let lock_side = tree_waiters(&r, Mode::Exclusive);
        if let Some(p) = &r.waiters_problem {
            notes.push(p.clone());
        }
        let waiters = merge_waiters(id, lock_side, task_side, &mut notes);
        KindState {
            object: LockObject::RtMutex(r),
            holders,
            waiters,
            notes,
        }
    }))
}

/// The waiters of the tree as the lock's side of [`merge_waiters`], in `mode`.
pub(crate) fn tree_waiters(r: &RtMutex, mode: Mode) -> Vec<LockSideWaiter> {
    r.waiters
        .iter()
        .map(|w| LockSideWaiter {
            task: w.value.task,
            record: w.value.record,
            mode,
            evidence: w.evidence.clone(),
            detail: vec![],
        })
        .collect()
}

/// Whether `f` (no compiler suffix) is where a task sleeps for an rt_mutex (or, on
/// PREEMPT_RT, a spinlock_t: `rtlock_slowlock`).
pub fn is_slow_path(f: &str) -> bool {
    f.starts_with("rt_mutex_slowlock")
        || f.starts_with("__rt_mutex_slowlock")
        || f.starts_with("rtlock_slowlock")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    const L: RtMutexLayout = RtMutexLayout {
        size: 32,
        wait_lock: 0,
        owner: 24,
        waiters_root: 8,
        waiter_node: 0,
        waiter_task: 80,
        waiter_lock: 88,
        rb: RbLayout { left: 16, right: 8 },
    };
    const LOCK: u64 = 0xffff_8880_0000_1000;
    const OWNER: u64 = 0xffff_8880_0100_0000;
    const W1: u64 = 0xffff_c900_0000_3e00;
    const W2: u64 = 0xffff_c900_0000_7e00;
    const T1: u64 = 0xffff_8880_0200_0000;
    const T2: u64 = 0xffff_8880_0300_0000;

    #[test]
    fn owner_and_waiters_in_priority_order() {
        let m = FakeMem::new();
        m.zero(LOCK, 32);
        m.u64(LOCK + 24, OWNER | RT_MUTEX_HAS_WAITERS);
        m.u64(LOCK + 8, W2); // root W2, its left W1: W1 is the top waiter
        for (w, t, left) in [(W1, T1, 0), (W2, T2, W1)] {
            m.zero(w, 112);
            m.u64(w + 16, left);
            m.u64(w + 80, t);
            m.u64(w + 88, LOCK);
        }
        let r = read(&m, &L, LOCK).unwrap();
        assert_eq!(r.owner.as_ref().unwrap().value, OWNER);
        assert!(r.owner.unwrap().evidence.is_fact() && r.has_waiters);
        let tasks: Vec<u64> = r.waiters.iter().map(|w| w.value.task).collect();
        assert_eq!(tasks, [T1, T2]);
        assert!(r.waiters_problem.is_none());
        // A record naming another lock is left out and said.
        m.u64(W2 + 88, LOCK + 0x100);
        let r = read(&m, &L, LOCK).unwrap();
        assert_eq!(r.waiters.len(), 1);
        assert!(r.waiters_problem.unwrap().contains("names lock"));
    }

    #[test]
    fn the_lock_function_called_tells_what_the_rt_mutex_guards() {
        let g = |names: &[&str]| what_it_guards(names.iter().copied());
        assert_eq!(
            g(&["rt_mutex_schedule", "__rwbase_read_lock", "x"]),
            Some((Guarded::RwSemaphore, Mode::Read))
        );
        assert_eq!(
            g(&["rt_mutex_slowlock.constprop.0", "mutex_lock"]),
            Some((Guarded::Mutex, Mode::Exclusive))
        );
        assert_eq!(
            g(&["rwbase_write_lock", "down_write"]),
            Some((Guarded::RwSemaphore, Mode::Write))
        );
        assert_eq!(
            g(&["rt_mutex_lock_interruptible"]),
            Some((Guarded::RtMutex, Mode::Exclusive))
        );
        assert_eq!(g(&["rt_mutex_slowlock", "futex_lock_pi"]), None);
    }
}
