//! Kinds of wait that are not a lock's own: what a wait queue, a completion or a page bit
//! belongs to, and who or what ends the wait when it is not a task (a frozen filesystem, I/O
//! in flight...). Each kind is one file here with one [`Explain`] function, listed in
//! [`KINDS`]: adding a kind is adding a file and a line there, not editing a central match.
//!
//! An explainer looks at one lock after its own state was read (`analysis::lock_state`) and,
//! when the lock is its kind's, names it in the kernel's terms, adds the holders that are not
//! tasks (each a fact or an inference with its evidence) and notes what ends the wait.

mod bio_wait;
mod blk_mq_tag;
mod block_io;
mod buffer_io;
mod flush_work;
mod flush_workqueue;
mod frozen_fs;
mod jbd2;
mod kthread_stop;

use super::waits::Stacks;
use super::{Evidence, Holder, HolderId, LockState, Mode};
use crate::Kernel;
use crate::block::{Disk, DmDevice};
use crate::fs::SuperBlock;
use std::sync::OnceLock;

/// What explainers share, read once per analysis and only when one asks.
pub struct KindCx<'a> {
    pub k: &'a Kernel,
    /// The blocked tasks' stacks.
    pub stacks: &'a Stacks,
    super_blocks: OnceLock<Vec<SuperBlock>>,
    all_tasks: OnceLock<Vec<u64>>,
}

impl<'a> KindCx<'a> {
    pub fn new(k: &'a Kernel, stacks: &'a Stacks) -> KindCx<'a> {
        KindCx {
            k,
            stacks,
            super_blocks: OnceLock::new(),
            all_tasks: OnceLock::new(),
        }
    }

    /// `comm (pid N)` of a task, `? (pid ?)` where memory does not say.
    pub fn who(&self, task: u64) -> String {
        format!(
            "{} (pid {})",
            crate::sched::task_comm(self.k, task).unwrap_or_else(|_| "?".into()),
            crate::sched::task_pid(self.k, task).map_or("?".into(), |p| p.to_string())
        )
    }

    /// Every task, blocked or not (for holders that need not be blocked, such as a task
    /// with a journal handle open): read on first use.
    pub fn all_tasks(&self) -> &[u64] {
        self.all_tasks
            .get_or_init(|| match crate::sched::for_each_task(self.k) {
                Ok((tasks, _)) => tasks,
                Err(e) => {
                    log::debug!("tasks: {e}");
                    self.stacks.iter().map(|st| st.task).collect()
                }
            })
    }

    /// Every super block (none when they cannot be read).
    pub fn super_blocks(&self) -> &[SuperBlock] {
        self.super_blocks.get_or_init(|| {
            crate::fs::super_blocks(self.k).unwrap_or_else(|e| {
                log::debug!("super blocks: {e}");
                Vec::new()
            })
        })
    }
}

/// Names and explains `lock` if it is of this kind; returns whether it was.
pub type Explain = fn(&KindCx<'_>, &mut LockState) -> bool;

/// Every kind, tried in order; the first that recognises a lock explains it.
pub const KINDS: &[Explain] = &[
    frozen_fs::explain,
    flush_work::explain,
    flush_workqueue::explain,
    kthread_stop::explain,
    jbd2::explain,
    block_io::explain,
    buffer_io::explain,
    bio_wait::explain,
    blk_mq_tag::explain,
];

/// Runs the explainers on `lock`.
pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) {
    for kind in KINDS {
        if kind(cx, lock) {
            return;
        }
    }
}

/// The holder every wait for I/O to a suspended device-mapper device shares (the same text,
/// so that their roots are one: the suspension). `io` is how the I/O in flight is known: a
/// fact (PG_writeback, a bio's completion) makes the holder a fact; an inference (a folio
/// locked and not uptodate) stays one, with the suspension added to its reasons.
pub(crate) fn dm_suspension(disk: &Disk, dm: &DmDevice, io: &Evidence) -> Holder {
    let evidence = match io {
        Evidence::Fact { .. } => Evidence::fact("mapped_device.flags", dm.md),
        Evidence::Inference {
            confidence,
            reasons,
        } => {
            let mut reasons = reasons.clone();
            reasons.push(format!(
                "the I/O goes to {}, whose mapped_device.flags at {:#x} say it is suspended",
                disk.name, dm.md
            ));
            Evidence::inference(*confidence, reasons)
        }
    };
    Holder {
        who: HolderId::State {
            state: "suspended_dm_device".into(),
            what: format!(
                "the suspension of {} (device-mapper {}, mapped_device.flags {}): I/O queued to it completes only after `dmsetup resume {}`",
                disk.name,
                dm.name,
                dm.state_flags(),
                dm.name
            ),
        },
        mode: Mode::Exclusive,
        evidence,
    }
}
