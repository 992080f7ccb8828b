//! A super block's `s_writers`: the `percpu_rw_semaphore` of each freeze level
//! (`fs/super.c`: `sb_start_write()` takes `rw_sem[SB_FREEZE_WRITE - 1]` for read;
//! `freeze_super()` takes every level for write and leaves them held until `thaw_super()`).
//! A writer of a frozen filesystem sleeps in `percpu_rwsem_wait` on the level's `waiters`
//! wait queue, which no task holds: the freeze does.
//!
//! `freeze_super()` sets `s_writers.frozen` to a level before it takes that level, and to the
//! next once it has it (`SB_FREEZE_COMPLETE` after the last): a level below `frozen` is held
//! by the freeze; the level equal to it is being taken, its freezer waiting for the readers
//! that hold it, who are then what the waiters wait for.

use super::KindCx;
use crate::fs::freeze_level_name;
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::PercpuRwsem {
        return false;
    }
    let sem = lock.id.addr;
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
    lock.notes.push(format!(
        "a percpu_rw_semaphore of super block {:#x}: writers take it for read (sb_start_write), freezing takes it for write",
        sb.addr
    ));
    if sb.frozen == level {
        lock.notes.push(format!(
            "a freeze of {fs} is taking this level (s_writers.frozen = {} {}): the freezer waits for the writers in progress, who hold the level for read; writers that came after it wait behind it",
            sb.frozen,
            freeze_level_name(sb.frozen)
        ));
    }
    if sb.frozen > level {
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
