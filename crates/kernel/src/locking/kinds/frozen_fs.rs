//! A super block's `s_writers`: the `percpu_rw_semaphore` of each freeze level
//! (`fs/super.c`: `sb_start_write()` takes `rw_sem[SB_FREEZE_WRITE - 1]` for read;
//! `freeze_super()` takes every level for write and leaves them held until `thaw_super()`).
//! A writer of a frozen filesystem sleeps in `percpu_rwsem_wait` on the level's `waiters`
//! wait queue, which no task holds: the freeze does.

use super::KindCx;
use crate::fs::freeze_level_name;
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::WaitQueue {
        return false;
    }
    let Ok(waiters) = cx.k.types.offsetof("percpu_rw_semaphore.waiters") else {
        return false;
    };
    let sem = lock.id.addr.wrapping_sub(waiters);
    let Some((sb, level)) = cx
        .super_blocks()
        .iter()
        .find_map(|sb| Some((sb, sb.level_of_rw_sem(sem)?)))
    else {
        return false;
    };
    let fs = sb.describe();
    lock.name = Some(LockName {
        text: format!(
            "s_writers of {fs} ({} level)",
            freeze_level_name(level).trim_start_matches("SB_")
        ),
        evidence: Evidence::fact(
            format!(
                "super_blocks: the wait queue is percpu_rw_semaphore.waiters of super_block.s_writers.rw_sem[{}]",
                level - 1
            ),
            sb.addr,
        ),
    });
    lock.notes
        .retain(|n| !n.starts_with("a wait queue has no owner"));
    lock.notes.push(format!(
        "a percpu_rw_semaphore of super block {:#x}: writers take it for read (sb_start_write), freezing takes it for write",
        sb.addr
    ));
    if sb.frozen >= level {
        let thaw = sb.mounts.first().map_or_else(
            || "thawing it (ioctl FITHAW) ends the wait".to_string(),
            |m| format!("`fsfreeze --unfreeze {m}` ends the wait"),
        );
        lock.holders.push(Holder {
            who: HolderId::State {
                state: "frozen_filesystem".into(),
                what: format!(
                    "the freeze of {fs} (s_writers.frozen = {} {}): {thaw}",
                    sb.frozen,
                    freeze_level_name(sb.frozen)
                ),
            },
            mode: Mode::Write,
            evidence: Evidence::fact("super_block.s_writers.frozen", sb.addr),
        });
        lock.notes
            .push("the kernel does not record which task froze the filesystem, nor when".into());
    }
    true
}
