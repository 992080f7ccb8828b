//! `submit_bio_wait()` (`block/bio.c`): the task submits a bio whose `bi_private` is a
//! completion on its stack and whose `bi_end_io` is `submit_bio_wait_endio`, and sleeps until
//! the bio completes. The completion is named by the bio's device; a bio to a suspended
//! device-mapper device is held by the suspension.

use super::KindCx;
use crate::block::disk;
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};
use crate::sched::read_member;

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::Completion {
        return false;
    }
    let k = cx.k;
    let (Ok(private), Ok(end_io)) = (
        k.types.offsetof("bio.bi_private"),
        k.types.offsetof("bio.bi_end_io"),
    ) else {
        return false;
    };
    let mem = k.mem();
    let is_endio = |f: u64| {
        k.symbols.resolve(f).is_some_and(|r| {
            r.offset == 0
                && crate::locking::waits::base_name(r.symbol.name) == "submit_bio_wait_endio"
        })
    };
    // The bio: a pointer on a waiter's stack to a bio whose bi_private is this completion.
    let bio = lock.waiters.iter().find_map(|w| {
        let st = cx.stacks.get(w.task)?;
        st.live_words().find_map(|(_, p)| {
            (mem.is_kernel_pointer(p, 8)
                && mem.read_u64(p.wrapping_add(private)).ok()? == lock.id.addr
                && mem.read_u64(p.wrapping_add(end_io)).is_ok_and(is_endio))
            .then_some(p)
        })
    });
    let Some(bio) = bio else {
        return false;
    };
    let d = read_member(k, bio, "bio.bi_bdev")
        .ok()
        .and_then(|b| read_member(k, b, "block_device.bd_disk").ok())
        .and_then(|g| disk(k, g));
    lock.notes.retain(|n| !n.contains("nothing records who"));
    lock.name = Some(LockName {
        text: format!(
            "the completion of bio {bio:#x} to {} (submit_bio_wait)",
            d.as_ref()
                .map_or_else(|| "an unknown device".into(), |d| d.describe())
        ),
        evidence: Evidence::fact(
            "bio.bi_private is the completion and bio.bi_end_io submit_bio_wait_endio",
            bio,
        ),
    });
    if let Some(d) = &d
        && let Some(dm) = d.dm.as_ref().filter(|dm| dm.suspended())
    {
        let io = Evidence::fact("bio.bi_private and bio.bi_end_io", bio);
        lock.holders.insert(0, super::dm_suspension(d, dm, &io));
        return true;
    }
    // On a blk-mq queue, the request that carries the bio: the wait ends when the device
    // completes it. The same holder as the tags its request holds, so that the waiters for
    // tags and for this bio share one root.
    let queue = read_member(k, bio, "bio.bi_bdev")
        .ok()
        .and_then(|b| read_member(k, b, "block_device.bd_disk").ok())
        .and_then(|g| read_member(k, g, "gendisk.queue").ok());
    if let Some(queue) = queue {
        let requests = crate::blk_mq::queue_requests(k, queue);
        if let Some(rq) = requests.iter().find(|r| r.bios.contains(&bio)) {
            lock.notes.push(format!(
                "the bio is carried by request {:#x} (tag {}, {}), which the device has not completed",
                rq.addr, rq.tag, rq.state
            ));
            lock.holders.push(Holder {
                who: HolderId::Io {
                    what: crate::blk_mq::in_flight_text(k, &requests),
                },
                mode: Mode::Exclusive,
                evidence: Evidence::fact(
                    format!(
                        "request.bio of request {:#x} (blk_mq_tags.rqs of its queue's tag set) is the bio",
                        rq.addr
                    ),
                    rq.addr,
                ),
            });
        }
    }
    true
}
