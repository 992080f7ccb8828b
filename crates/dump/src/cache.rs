//! A bounded, thread-safe cache of decompressed pages.
//!
//! Sharded by pfn so rayon workers rarely contend. Each shard keeps two generations (a cheap
//! approximation of LRU): hits in the old generation are promoted, and when the young one is
//! full the old one is dropped. A shard never holds more than `2 * per_generation` pages.
//!
//! Pages read whole are usually read once (the BTF blob, kallsyms tables, the struct pages
//! of a scan): the first whole read of a page only notes its pfn (see
//! [`PageCache::first_whole_read`]) and decompresses straight into the reader's buffer; a
//! page read whole a second time is cached like any other.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

const SHARDS: usize = 16;
/// Pfns remembered per shard as read whole once (8 bytes each, 2 MiB in all at most).
const SEEN_PER_SHARD: usize = 16 << 10;

struct Shard {
    young: HashMap<u64, Arc<[u8]>>,
    old: HashMap<u64, Arc<[u8]>>,
    /// Pfns read whole once and not cached (forgotten in bulk when it grows too large).
    seen_whole: HashSet<u64>,
}

pub(crate) struct PageCache {
    shards: Vec<Mutex<Shard>>,
    per_generation: usize,
}

impl PageCache {
    /// A cache holding at most about `pages` pages.
    pub(crate) fn new(pages: usize) -> PageCache {
        let per_generation = (pages / (2 * SHARDS)).max(1);
        PageCache {
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        young: HashMap::new(),
                        old: HashMap::new(),
                        seen_whole: HashSet::new(),
                    })
                })
                .collect(),
            per_generation,
        }
    }

    fn shard(&self, pfn: u64) -> std::sync::MutexGuard<'_, Shard> {
        // Consecutive pfns go to different shards.
        let i = (pfn as usize) % SHARDS;
        // A poisoned lock only means another reader panicked mid-insert; the maps stay valid.
        self.shards[i].lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn get(&self, pfn: u64) -> Option<Arc<[u8]>> {
        let mut s = self.shard(pfn);
        if let Some(p) = s.young.get(&pfn) {
            return Some(p.clone());
        }
        let p = s.old.remove(&pfn)?;
        self.insert_locked(&mut s, pfn, p.clone());
        Some(p)
    }

    /// Whether this is the first whole-page read of `pfn` (then it is noted, and the caller
    /// should not cache the page); `false` when it was read whole before.
    pub(crate) fn first_whole_read(&self, pfn: u64) -> bool {
        let mut s = self.shard(pfn);
        if s.seen_whole.len() >= SEEN_PER_SHARD {
            s.seen_whole.clear();
        }
        s.seen_whole.insert(pfn)
    }

    pub(crate) fn insert(&self, pfn: u64, page: Arc<[u8]>) {
        let mut s = self.shard(pfn);
        self.insert_locked(&mut s, pfn, page);
    }

    fn insert_locked(&self, s: &mut Shard, pfn: u64, page: Arc<[u8]>) {
        if s.young.len() >= self.per_generation {
            s.old = std::mem::take(&mut s.young);
        }
        s.young.insert(pfn, page);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                s.young.len() + s.old.len()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_hits() {
        let c = PageCache::new(64);
        for pfn in 0..10_000u64 {
            c.insert(pfn, Arc::from(vec![pfn as u8; 8]));
            assert!(c.len() <= 64);
        }
        assert_eq!(&c.get(9_999).unwrap()[..], &[(9_999u64 as u8); 8]);
        assert!(c.get(0).is_none());
    }
}
