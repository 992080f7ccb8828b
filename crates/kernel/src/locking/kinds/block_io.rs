//! I/O in flight on a folio: a folio under writeback (`folio_wait_writeback`) or locked for a
//! read that has not completed is held by the I/O, not by a task (`holders.rs` says so from
//! the folio's flags). This kind names the file and the device the I/O goes to, and when the
//! device is a suspended device-mapper device, says that the I/O cannot complete until it is
//! resumed: the state that holds every waiter.

use super::KindCx;
use crate::block::disk_of_super_block;
use crate::locking::{HolderId, LockKind, LockObject, LockState};
use crate::sched::read_member;

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if !matches!(lock.id.kind, LockKind::PageLock | LockKind::PageWriteback) {
        return false;
    }
    let LockObject::Folio(info) = &lock.object else {
        return false;
    };
    if !lock
        .holders
        .iter()
        .any(|h| matches!(h.who, HolderId::Io { .. }))
    {
        return false;
    }
    let k = cx.k;
    let mapping = info.mapping.value;
    // Anonymous (bit 0 set) and movable (bit 1) mappings have no file.
    if mapping == 0 || mapping & 3 != 0 {
        return false;
    }
    let Ok(inode) = read_member(k, mapping, "address_space.host") else {
        return false;
    };
    let path = crate::fs::inode_paths(k, inode, 1).into_iter().next();
    let disk = read_member(k, inode, "inode.i_sb")
        .ok()
        .and_then(|sb| disk_of_super_block(k, sb));
    if let Some(name) = &mut lock.name {
        if let Some(p) = &path {
            name.text = format!("{} of {p} (index {})", name.text, info.index);
        }
    }
    let Some(disk) = disk else {
        return path.is_some();
    };
    lock.notes
        .push(format!("the file is on {}", disk.describe()));
    if let Some(dm) = disk.dm.as_ref().filter(|d| d.suspended()) {
        // The suspension is what holds the I/O: first, before the I/O it holds up.
        let io = lock
            .holders
            .iter()
            .find(|h| matches!(h.who, HolderId::Io { .. }))
            .map(|h| h.evidence.clone())
            .unwrap_or_else(|| crate::locking::Evidence::fact("folio.flags", info.page));
        lock.holders.insert(0, super::dm_suspension(&disk, dm, &io));
    }
    true
}
