//! blk-mq request queues (`block/blk-mq*.c`): the tags of a queue's hardware queues and the
//! requests in flight that hold them. A request holds a tag from its allocation to its
//! completion; the driver tags' `sbitmap_queue` says which are taken, and `rqs[tag]` (or
//! `static_rqs[tag]` before a request reaches the driver) which request has each.

use crate::Kernel;
use crate::sched::{Clocks, read_member};

/// Most tags looked at in one `blk_mq_tags` (`BLK_MQ_MAX_DEPTH` is 10240).
const MAX_TAGS: u64 = 1 << 14;
/// Most hardware queues looked at.
const MAX_HW_QUEUES: u64 = 1 << 10;

/// A request holding a tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub addr: u64,
    pub tag: u64,
    /// `MQ_RQ_IN_FLIGHT` and the like (`request.state`).
    pub state: String,
    /// `request.start_time_ns` (ktime), when set.
    pub start_ns: Option<u64>,
    /// The disk of its queue (`request.q->disk`), described.
    pub disk: Option<String>,
    /// `request.q`.
    pub queue: u64,
    /// The bios it carries (`request.bio`, then `bio.bi_next`), at most a few.
    pub bios: Vec<u64>,
}

/// The tags taken in a `sbitmap_queue`: bits set in each word and not `cleared` (freed but
/// not yet given back), below its depth. `None` when its bitmap cannot be read.
pub fn allocated_tags(k: &Kernel, sbq: u64) -> Option<Vec<u64>> {
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

/// The `sbitmap_queue` of a `blk_mq_tags`' normal (not reserved) tags: embedded from 5.16,
/// pointed to (`bitmap_tags`, over `__bitmap_tags`) before.
pub fn bitmap_tags(k: &Kernel, tags: u64) -> Option<u64> {
    let t = &k.types;
    let m = t.member("blk_mq_tags.bitmap_tags").ok()?;
    if t.sizeof_id(m.ty).ok()? > 8 {
        Some(tags.wrapping_add(m.offset))
    } else {
        read_member(k, tags, "blk_mq_tags.bitmap_tags").ok()
    }
}

/// The `blk_mq_tags` whose normal tags are the `sbitmap_queue` at `sbq`, checked by its
/// counts (`nr_tags` = depth + `nr_reserved_tags`).
pub fn tags_of_bitmap(k: &Kernel, sbq: u64) -> Option<u64> {
    let t = &k.types;
    let m = t.member("blk_mq_tags.bitmap_tags").ok()?;
    let tags = if t.sizeof_id(m.ty).ok()? > 8 {
        sbq.wrapping_sub(m.offset)
    } else {
        sbq.wrapping_sub(t.offsetof("blk_mq_tags.__bitmap_tags").ok()?)
    };
    let depth = read_member(k, sbq, "sbitmap_queue.sb.depth").ok()?;
    let reserved = read_member(k, tags, "blk_mq_tags.nr_reserved_tags").ok()?;
    let nr_tags = read_member(k, tags, "blk_mq_tags.nr_tags").ok()?;
    (nr_tags == depth + reserved).then_some(tags)
}

/// The requests holding the normal tags of `tags`, with the number of tags taken and the
/// depth.
pub fn requests_of_tags(k: &Kernel, tags: u64) -> Option<(Vec<Request>, usize, u64)> {
    let sbq = bitmap_tags(k, tags)?;
    let used = allocated_tags(k, sbq)?;
    let depth = read_member(k, sbq, "sbitmap_queue.sb.depth").ok()?;
    let reserved = read_member(k, tags, "blk_mq_tags.nr_reserved_tags").unwrap_or(0);
    let requests = used
        .iter()
        .filter_map(|&tag| request(k, tags, tag + reserved))
        .collect();
    Some((requests, used.len(), depth))
}

/// Every request holding a driver tag of `queue` (over its tag set's hardware queues).
pub fn queue_requests(k: &Kernel, queue: u64) -> Vec<Request> {
    let Ok(set) = read_member(k, queue, "request_queue.tag_set") else {
        return Vec::new();
    };
    let mem = k.mem();
    let n = read_member(k, set, "blk_mq_tag_set.nr_hw_queues")
        .unwrap_or(0)
        .min(MAX_HW_QUEUES);
    let array = read_member(k, set, "blk_mq_tag_set.tags").unwrap_or(0);
    if !mem.is_kernel_pointer(array, 8) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for i in 0..n {
        let Ok(tags) = mem.read_u64(array.wrapping_add(8 * i)) else {
            continue;
        };
        if let Some((rqs, _, _)) = (tags != 0 && mem.is_kernel_pointer(tags, 8))
            .then(|| requests_of_tags(k, tags))
            .flatten()
        {
            out.extend(rqs.into_iter().filter(|r| r.queue == queue));
        }
    }
    out
}

/// Whether a queue dispatches: `quiesce_depth` (blk_mq_quiesce_queue(): nothing is
/// dispatched to the driver while it is above 0) and `mq_freeze_depth` (blk_mq_freeze_queue():
/// no new request enters while it is above 0), said in a sentence.
pub fn queue_state(k: &Kernel, queue: u64) -> Option<String> {
    let quiesce = read_member(k, queue, "request_queue.quiesce_depth").ok()? as u32 as i32;
    let freeze = read_member(k, queue, "request_queue.mq_freeze_depth").ok()? as u32 as i32;
    let q = if quiesce > 0 {
        format!(
            "quiesced (request_queue.quiesce_depth {quiesce}): nothing is dispatched to the driver until it is unquiesced"
        )
    } else {
        format!("not quiesced (request_queue.quiesce_depth {quiesce})")
    };
    let f = if freeze > 0 {
        format!("frozen (mq_freeze_depth {freeze}): no new request enters until it is unfrozen")
    } else {
        format!("not frozen (mq_freeze_depth {freeze})")
    };
    Some(format!("the queue is {q} and {f}"))
}

/// What holds I/O waiting on requests in flight, one text for every wait on the same
/// requests (so that their waiters share one root): `the 1 request(s) in flight on nullb0
/// (the oldest started 12 s before the dump): they end only when the device completes them`.
pub fn in_flight_text(k: &Kernel, requests: &[Request]) -> String {
    let dev = requests
        .iter()
        .find_map(|r| r.disk.clone())
        .unwrap_or_else(|| "an unknown device".into());
    let now = Clocks::read(k).now_ns;
    let oldest = requests
        .iter()
        .filter_map(|r| Some(now?.checked_sub(r.start_ns?)? / 1_000_000_000))
        .max();
    format!(
        "the {} request(s) in flight on {dev}{}: they end only when the device completes them",
        requests.len(),
        oldest.map_or(String::new(), |s| format!(
            " (the oldest started {s} s before the dump)"
        ))
    )
}

/// The request of `tag`: `rqs[tag]` once given to the driver, else `static_rqs[tag]` (the
/// request of that tag when no scheduler hands out tags of its own); either must say it has
/// that tag.
fn request(k: &Kernel, tags: u64, tag: u64) -> Option<Request> {
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
    let queue = read_member(k, addr, "request.q").unwrap_or(0);
    let disk = read_member(k, queue, "request_queue.disk")
        .ok()
        .filter(|&g| mem.is_kernel_pointer(g, 8))
        .and_then(|g| crate::block::disk(k, g))
        .map(|d| d.describe());
    let mut bios = Vec::new();
    let mut bio = read_member(k, addr, "request.bio").unwrap_or(0);
    while bio != 0 && mem.is_kernel_pointer(bio, 8) && bios.len() < 64 && !bios.contains(&bio) {
        bios.push(bio);
        bio = read_member(k, bio, "bio.bi_next").unwrap_or(0);
    }
    Some(Request {
        addr,
        tag,
        state,
        start_ns: read_member(k, addr, "request.start_time_ns")
            .ok()
            .filter(|&s| s != 0),
        disk,
        queue,
        bios,
    })
}
