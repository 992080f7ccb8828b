//! A request queue out of tags (`block/blk-mq-tag.c`): a task allocating a request when
//! every tag of its hardware queue is taken sleeps in `blk_mq_get_tag`, on a wait queue of
//! the tags' `sbitmap_queue` (`ws[]`), its `struct sbq_wait` on its stack naming that
//! `sbitmap_queue` (`sbq_wait.sbq`). A tag is freed when its request completes: the wait ends
//! when the requests in flight complete, which is the device's and its driver's doing, not a
//! task's. The requests are those of the allocated tags (`blk_mq_tags.rqs[tag]`), each with
//! its queue, disk and start time.

use super::KindCx;
use crate::block::disk;
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};
use crate::sched::{Clocks, read_member};

/// Most tags looked at (a queue has at most a few thousand; `BLK_MQ_MAX_DEPTH` is 10240).
const MAX_TAGS: u64 = 1 << 14;
/// Most requests named in the text (all are counted).
const NAMED: usize = 4;

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::WaitQueue {
        return false;
    }
    let k = cx.k;
    let t = &k.types;
    let (Ok(wait), Ok(sbq_off), Ok(ws_off), Ok(ws_size), Ok(ws_wait), Ok(bitmap_tags)) = (
        t.offsetof("sbq_wait.wait"),
        t.offsetof("sbq_wait.sbq"),
        t.offsetof("sbitmap_queue.ws"),
        t.sizeof("sbq_wait_state"),
        t.offsetof("sbq_wait_state.wait"),
        t.offsetof("blk_mq_tags.bitmap_tags"),
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
    // The driver tags of a hardware queue keep their sbitmap_queue in blk_mq_tags (6.x
    // embeds it; 5.x points to it from bitmap_tags).
    let embedded = t
        .member("blk_mq_tags.bitmap_tags")
        .ok()
        .and_then(|m| t.sizeof_id(m.ty).ok())
        .is_some_and(|s| s > 8);
    let tags = if embedded {
        sbq.wrapping_sub(bitmap_tags)
    } else {
        match t.offsetof("blk_mq_tags.__bitmap_tags") {
            Ok(off) => sbq.wrapping_sub(off),
            Err(_) => return false,
        }
    };
    let Some(used) = allocated_tags(cx, sbq) else {
        return false;
    };
    let depth = read_member(k, sbq, "sbitmap_queue.sb.depth").unwrap_or(0);
    let reserved = read_member(k, tags, "blk_mq_tags.nr_reserved_tags").unwrap_or(0);
    let nr_tags = read_member(k, tags, "blk_mq_tags.nr_tags").unwrap_or(0);
    if nr_tags != depth + reserved {
        return false; // not the tags of a hardware queue
    }
    let requests: Vec<Request> = used
        .iter()
        .filter_map(|&tag| request(cx, tags, tag + reserved))
        .collect();
    let dev = requests
        .iter()
        .find_map(|r| r.disk.clone())
        .unwrap_or_else(|| "an unknown device".into());
    lock.notes.retain(|n| !n.contains("nothing records who"));
    lock.name = Some(LockName {
        text: format!(
            "a tag of {dev} (blk_mq_tags {tags:#x}: {} of {depth} in use)",
            used.len()
        ),
        evidence: Evidence::fact(
            "sbq_wait.sbq of the waiter names the sbitmap_queue of blk_mq_tags.bitmap_tags whose wait queue it is on",
            sbq,
        ),
    });
    if (used.len() as u64) < depth {
        lock.notes.push(format!(
            "{} of {depth} tags are in use: a tag is free, and the waiters should get one when woken",
            used.len()
        ));
        return true;
    }
    let now = Clocks::read(k).now_ns;
    let oldest = requests
        .iter()
        .filter_map(|r| Some(now?.checked_sub(r.start_ns?)? / 1_000_000_000))
        .max();
    let listed: Vec<String> = requests
        .iter()
        .take(NAMED)
        .map(|r| format!("{:#x} ({})", r.addr, r.state))
        .collect();
    lock.notes.push(format!(
        "every tag is taken by a request that has not completed: {}{}",
        listed.join(", "),
        if requests.len() > NAMED {
            format!(" and {} more", requests.len() - NAMED)
        } else {
            String::new()
        }
    ));
    lock.holders.push(Holder {
        who: HolderId::Io {
            what: format!(
                "the {} request(s) in flight on {dev}{}: a tag is freed only when the device completes its request",
                requests.len().max(used.len()),
                oldest.map_or(String::new(), |s| format!(", the oldest started {s} s before the dump"))
            ),
        },
        mode: Mode::Exclusive,
        evidence: Evidence::fact(
            format!("all {depth} tags are set in the sbitmap of blk_mq_tags {tags:#x}"),
            sbq,
        ),
    });
    true
}

/// The tags allocated in a `sbitmap_queue`: bits set in each word and not `cleared` (freed
/// but not yet given back), below `depth`.
fn allocated_tags(cx: &KindCx<'_>, sbq: u64) -> Option<Vec<u64>> {
    let k = cx.k;
    let t = &k.types;
    let sb = sbq.wrapping_add(t.offsetof("sbitmap_queue.sb").ok()?);
    let depth = read_member(k, sb, "sbitmap.depth").ok()?.min(MAX_TAGS);
    let shift = read_member(k, sb, "sbitmap.shift").ok()?;
    let map_nr = read_member(k, sb, "sbitmap.map_nr").ok()?;
    let map = read_member(k, sb, "sbitmap.map").ok()?;
    let size = t.sizeof("sbitmap_word").ok()?;
    let (word, cleared) = (
        t.offsetof("sbitmap_word.word").ok()?,
        t.offsetof("sbitmap_word.cleared").ok()?,
    );
    if shift > 6 || map_nr > MAX_TAGS || !k.mem().is_kernel_pointer(map, 8) {
        return None;
    }
    let per_word = 1u64 << shift;
    let mut used = Vec::new();
    for i in 0..map_nr {
        let w = map.wrapping_add(i * size);
        let bits = k.mem().read_u64(w.wrapping_add(word)).ok()?
            & !k.mem().read_u64(w.wrapping_add(cleared)).ok()?;
        for b in 0..per_word {
            let tag = i * per_word + b;
            if tag < depth && bits & (1 << b) != 0 {
                used.push(tag);
            }
        }
    }
    Some(used)
}

struct Request {
    addr: u64,
    state: String,
    start_ns: Option<u64>,
    disk: Option<String>,
}

/// The request of `tag`: `rqs[tag]` once given to the driver, else `static_rqs[tag]` (the
/// request of that tag when no scheduler hands out tags of its own).
fn request(cx: &KindCx<'_>, tags: u64, tag: u64) -> Option<Request> {
    let k = cx.k;
    let mem = k.mem();
    let at = |member: &str| -> Option<u64> {
        let array = read_member(k, tags, member).ok()?;
        if !mem.is_kernel_pointer(array, 8) {
            return None;
        }
        let rq = mem.read_u64(array.wrapping_add(tag * 8)).ok()?;
        (mem.is_kernel_pointer(rq, 8)
            && read_member(k, rq, "request.tag").ok()? as u32 == tag as u32)
            .then_some(rq)
    };
    let addr = at("blk_mq_tags.rqs").or_else(|| at("blk_mq_tags.static_rqs"))?;
    let state = read_member(k, addr, "request.state").ok()?;
    let state = ["MQ_RQ_IDLE", "MQ_RQ_IN_FLIGHT", "MQ_RQ_COMPLETE"]
        .iter()
        .find(|n| k.types.enumerator(n).ok() == Some(i128::from(state)))
        .map_or_else(|| format!("state {state}"), |n| (*n).to_string());
    let disk = read_member(k, addr, "request.q")
        .ok()
        .and_then(|q| read_member(k, q, "request_queue.disk").ok())
        .filter(|&g| mem.is_kernel_pointer(g, 8))
        .and_then(|g| disk(k, g))
        .map(|d| d.describe());
    Some(Request {
        addr,
        state,
        start_ns: read_member(k, addr, "request.start_time_ns")
            .ok()
            .filter(|&s| s != 0),
        disk,
    })
}
