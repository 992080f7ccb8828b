//! A `buffer_head` locked for I/O (`fs/buffer.c`): `BH_Lock` of its `b_state` is set while a
//! read or write of the buffer is in flight, and `wait_on_buffer()`/`lock_buffer()` sleepers
//! wait for it to clear (a [`LockKind::WaitBit`] wait). This kind names the buffer (device,
//! block) and, when its device is a suspended device-mapper device, says that the I/O cannot
//! complete before the device is resumed: the state that holds every waiter. The kernel does
//! not record that I/O is in flight on a buffer, so that holder is an inference.

use super::KindCx;
use crate::block::disk_of_bdev;
use crate::locking::{Confidence, Evidence, LockKind, LockObject, LockState};
use crate::sched::read_member;

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::WaitBit {
        return false;
    }
    let LockObject::WaitBit(word) = &lock.object else {
        return false;
    };
    let k = cx.k;
    let Ok(state_off) = k.types.offsetof("buffer_head.b_state") else {
        return false;
    };
    let waits_for_lock = word
        .bits
        .iter()
        .any(|(_, name)| name.as_deref() == Some("BH_Lock"));
    if !waits_for_lock {
        return false;
    }
    let bh = lock.id.addr.wrapping_sub(state_off);
    let (Ok(bdev), Ok(block)) = (
        read_member(k, bh, "buffer_head.b_bdev"),
        read_member(k, bh, "buffer_head.b_blocknr"),
    ) else {
        return false;
    };
    let Some(disk) = disk_of_bdev(k, bdev) else {
        return false;
    };
    if let Some(name) = &mut lock.name {
        name.text = format!(
            "BH_Lock of buffer_head {bh:#x} (block {block} of {})",
            disk.name
        );
    }
    lock.notes.push(format!(
        "the buffer is block {block} of {}",
        disk.describe()
    ));
    let Some(dm) = disk.dm.as_ref().filter(|d| d.suspended()) else {
        return true;
    };
    let end_io = read_member(k, bh, "buffer_head.b_end_io")
        .ok()
        .and_then(|f| k.symbols.resolve(f))
        .filter(|r| r.offset == 0)
        .map(|r| r.symbol.name.to_string());
    let mut reasons = vec![format!(
        "BH_Lock of the buffer is set (b_state {:#x}): a read or write of it has not completed",
        word.value
    )];
    if let Some(f) = end_io {
        reasons.push(format!(
            "buffer_head.b_end_io is {f}: I/O was submitted on it (the field stays set after the I/O ends, so it is a sign, not a record)"
        ));
    }
    reasons.push("the kernel does not record that I/O is in flight on a buffer".into());
    let io = Evidence::inference(Confidence::MEDIUM, reasons);
    lock.holders.insert(0, super::dm_suspension(&disk, dm, &io));
    true
}
