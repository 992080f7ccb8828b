//! `struct completion` (`include/linux/completion.h`, `kernel/sched/completion.c`):
//! `{ unsigned int done; struct swait_queue_head wait; }`.
//!
//! A completion has no owner: whoever will call `complete()` is not recorded anywhere, and
//! the waiters are `struct swait_queue` entries on their stacks, linked into
//! `wait.task_list`.

use super::state::{KindState, LockSideWaiter, StateCx, merge_waiters};
use super::{Known, QueueAt, wait_list};
use super::{LockId, LockObject, Mode, Wait};
use crate::Kernel;
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;

/// What every decoded completion says about its owner.
pub const NO_OWNER: &str =
    "a completion has no owner: nothing records which task is expected to complete it";

/// Where the fields are (from BTF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletionLayout {
    pub size: u64,
    pub done: u64,
    /// `wait.task_list`, from the start of the completion.
    pub task_list: u64,
    /// `swait_queue.task` and `swait_queue.task_list`.
    pub waiter_task: u64,
    pub waiter_list: u64,
}

impl CompletionLayout {
    /// Debian 6.1 and 6.12, x86_64, for tests.
    pub const X86_64: CompletionLayout = CompletionLayout {
        size: 32,
        done: 0,
        task_list: 16,
        waiter_task: 0,
        waiter_list: 8,
    };

    pub fn from_types(t: &Types) -> Result<CompletionLayout, ReadError> {
        let off = |p: &str| super::offset_of(t, p);
        Ok(CompletionLayout {
            size: super::size_of(t, "struct completion")?,
            done: off("completion.done")?,
            task_list: off("completion.wait.task_list")?,
            waiter_task: off("swait_queue.task")?,
            waiter_list: off("swait_queue.task_list")?,
        })
    }
}

/// One `struct swait_queue` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CompletionWaiter {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub record: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
}

/// A decoded `struct completion`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Completion {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    /// `done`: completions not yet consumed (`UINT_MAX` after `complete_all`).
    pub done: Known<u32>,
    /// In queue order.
    pub waiters: Vec<Known<CompletionWaiter>>,
    pub wait_list_problem: Option<String>,
    /// Always [`NO_OWNER`].
    pub owner_note: &'static str,
}

impl Completion {
    pub fn read(k: &Kernel, addr: u64) -> Result<Completion, ReadError> {
        read(k.mem(), &CompletionLayout::from_types(&k.types)?, addr)
    }
}

/// Decodes the completion at `addr`.
pub fn read(
    mem: &dyn KernelMemory,
    l: &CompletionLayout,
    addr: u64,
) -> Result<Completion, ReadError> {
    let done = mem.read_u32(addr.wrapping_add(l.done))?;
    let (waiters, wait_list_problem) = wait_list(
        mem,
        addr,
        QueueAt::ListHead(l.task_list),
        l.waiter_list,
        "swait_queue linked into completion.wait.task_list",
        |r| {
            Ok(CompletionWaiter {
                record: r,
                task: mem.read_u64(r.wrapping_add(l.waiter_task))?,
            })
        },
    )?;
    Ok(Completion {
        addr,
        done: Known::fact(done, "completion.done", addr + l.done),
        waiters,
        wait_list_problem,
        owner_note: NO_OWNER,
    })
}

/// The state of a completion: `done` and the waiters; nobody holds a completion.
pub(crate) fn lock_state(
    cx: &StateCx<'_>,
    id: LockId,
    task_side: &[Wait],
) -> Option<Result<KindState, ReadError>> {
    let lay = cx.layouts.completion.as_ref()?;
    Some(read(cx.mem, lay, id.addr).map(|c| {
        let mut notes = vec![NO_OWNER.to_string()];
        let lock_side = c
            .waiters
            .iter()
            .map(|w| LockSideWaiter {
                task: w.value.task,
                record: w.value.record,
                mode: Mode::None,
                evidence: w.evidence.clone(),
                detail: vec![],
            })
            .collect();
        if let Some(p) = &c.wait_list_problem {
            notes.push(format!("wait list: {p}"));
        }
        let waiters = merge_waiters(id, lock_side, task_side, &mut notes);
        KindState {
            object: LockObject::Completion(c),
            holders: vec![],
            waiters,
            notes,
        }
    }))
}

/// Whether `f` (no compiler suffix) is where a task sleeps for a completion.
pub fn is_slow_path(f: &str) -> bool {
    f.contains("wait_for_common") || f.starts_with("wait_for_completion")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    #[test]
    fn done_and_waiters() {
        let m = FakeMem::new();
        let (c, w) = (0xffff_ffff_c02e_80a0u64, 0xffff_c900_0061_3e00u64);
        m.zero(c, 32);
        m.zero(w, 24);
        m.list(c + 16, &[w + 8]);
        m.u64(w, 0xffff_8880_0000_6100);
        let x = read(&m, &CompletionLayout::X86_64, c).unwrap();
        assert_eq!(x.done.value, 0);
        assert_eq!(x.waiters.len(), 1);
        assert_eq!(x.waiters[0].value.record, w);
        assert_eq!(x.waiters[0].value.task, 0xffff_8880_0000_6100);
        assert_eq!(x.owner_note, NO_OWNER);
    }
}
