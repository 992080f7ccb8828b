//! A request queue out of tags (`block/blk-mq-tag.c`): a task allocating a request when
//! every tag of its hardware queue is taken sleeps in `blk_mq_get_tag`, on a wait queue of
//! the tags' `sbitmap_queue` (`ws[]`), its `struct sbq_wait` on its stack naming that
//! `sbitmap_queue` (`sbq_wait.sbq`). A tag is freed when its request completes: the wait ends
//! when the requests in flight complete, which is the device's and its driver's doing, not a
//! task's. The requests are those of the allocated tags (`blk_mq_tags.rqs[tag]`), each with
//! its queue, disk and start time.

use super::KindCx;
use crate::blk_mq::{in_flight_text, requests_of_tags, tags_of_bitmap};
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};

/// Most requests named in the notes (all are counted).
const NAMED: usize = 4;

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::WaitQueue {
        return false;
    }
    let k = cx.k;
    let t = &k.types;
    let (Ok(wait), Ok(sbq_off), Ok(ws_off), Ok(ws_size), Ok(ws_wait)) = (
        t.offsetof("sbq_wait.wait"),
        t.offsetof("sbq_wait.sbq"),
        t.offsetof("sbitmap_queue.ws"),
        t.sizeof("sbq_wait_state"),
        t.offsetof("sbq_wait_state.wait"),
    ) else {
        return false;
    };
    let mem = k.mem();
    // The sbitmap_queue a waiter's sbq_wait names, whose ws[] holds this wait queue.
    let Some(sbq) = lock.waiters.iter().find_map(|w| {
        let st = cx.stacks.get(w.task)?;
        let sbq_wait = w.record.checked_sub(wait)?;
        let sbq = st.word(sbq_wait.wrapping_add(sbq_off))?;
        let ws = mem.read_u64(sbq.wrapping_add(ws_off)).ok()?;
        let off = lock.id.addr.checked_sub(ws)?.checked_sub(ws_wait)?;
        // SBQ_WAIT_QUEUES is 8; any small array of sbq_wait_state will do.
        (ws_size > 0 && off % ws_size == 0 && off / ws_size < 64).then_some(sbq)
    }) else {
        return false;
    };
    // The driver tags of a hardware queue: not a scheduler's or another sbitmap_queue.
    let Some(tags) = tags_of_bitmap(k, sbq) else {
        return false;
    };
    let Some((requests, used, depth)) = requests_of_tags(k, tags) else {
        return false;
    };
    let dev = requests
        .iter()
        .find_map(|r| r.disk.clone())
        .unwrap_or_else(|| "an unknown device".into());
    lock.notes.retain(|n| !n.contains("nothing records who"));
    lock.name = Some(LockName {
        text: format!("a tag of {dev} (blk_mq_tags {tags:#x}: {used} of {depth} in use)"),
        evidence: Evidence::fact(
            "sbq_wait.sbq of the waiter names the sbitmap_queue of blk_mq_tags.bitmap_tags whose wait queue it is on",
            sbq,
        ),
    });
    if (used as u64) < depth {
        lock.notes.push(format!(
            "{used} of {depth} tags are in use: a tag is free, and the waiters should get one when woken"
        ));
        return true;
    }
    if let Some(state) = requests
        .first()
        .and_then(|r| crate::blk_mq::queue_state(k, r.queue))
    {
        lock.notes.push(state);
    }
    let listed: Vec<String> = requests
        .iter()
        .take(NAMED)
        .map(|r| format!("{:#x} (tag {}, {})", r.addr, r.tag, r.state))
        .collect();
    lock.notes.push(format!(
        "every tag is taken by a request that has not completed, and a tag is freed only when its request completes: {}{}",
        listed.join(", "),
        if requests.len() > NAMED {
            format!(" and {} more", requests.len() - NAMED)
        } else {
            String::new()
        }
    ));
    lock.holders.push(Holder {
        who: HolderId::Io {
            what: in_flight_text(k, &requests),
        },
        mode: Mode::Exclusive,
        evidence: Evidence::fact(
            format!("all {depth} tags are set in the sbitmap of blk_mq_tags {tags:#x}"),
            sbq,
        ),
    });
    true
}
