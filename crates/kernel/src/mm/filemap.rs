//! The hashed page wait table of `mm/filemap.c`: `folio_wait_table[PAGE_WAIT_TABLE_SIZE]`,
//! where every task waiting for a bit of a folio (`PG_locked` in `folio_lock`,
//! `PG_writeback` in `folio_wait_writeback`) queues a `struct wait_page_queue` from its stack
//! on `&folio_wait_table[hash_ptr(folio, PAGE_WAIT_TABLE_BITS)]`.
//!
//! `wait_page_queue = { folio, bit_nr, wait_queue_entry wait }`, `wait.private` = the task,
//! `wait.func` = `wake_page_function`, `wait.flags & WQ_FLAG_EXCLUSIVE` for a lock attempt
//! (as opposed to waiting for the bit to clear) [L6.1 mm/filemap.c:1024-1031, 1217ff;
//! L6.12 :1063-1070, 1230ff].

use super::page::MemMap;
use crate::Kernel;
use crate::list::{ListEnd, list_nodes};
use crate::locking::{Known, LockKind, Mode, missing};
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;

/// `PAGE_WAIT_TABLE_BITS` (6.1 and 6.12).
pub const PAGE_WAIT_TABLE_BITS: u32 = 8;
/// `GOLDEN_RATIO_64` of `include/linux/hash.h`.
pub const GOLDEN_RATIO_64: u64 = 0x61C8_8646_80B5_83EB;
/// `WQ_FLAG_EXCLUSIVE` (0x01 on 6.1 and 6.12; the other WQ_FLAG values differ).
pub const WQ_FLAG_EXCLUSIVE: u32 = 0x01;
/// Most entries walked in one bucket.
pub const MAX_BUCKET_ENTRIES: usize = 1 << 16;

/// `hash_ptr(ptr, bits)` on 64-bit: `hash_64(ptr, bits)` with the generic multiply (x86 has
/// no arch hash).
pub fn hash_ptr(ptr: u64, bits: u32) -> u64 {
    ptr.wrapping_mul(GOLDEN_RATIO_64) >> (64 - bits)
}

/// Where the fields are (from BTF).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageWaitLayout {
    /// `sizeof(wait_queue_head_t)` and `wait_queue_head.head`.
    pub head_size: u64,
    pub head_list: u64,
    /// `sizeof(struct wait_page_queue)`, `.folio`, `.bit_nr`, `.wait`.
    pub wpq_size: u64,
    pub folio: u64,
    pub bit_nr: u64,
    pub wait: u64,
    /// `wait_queue_entry.flags`, `.private`, `.func`, `.entry`.
    pub entry_flags: u64,
    pub entry_private: u64,
    pub entry_func: u64,
    pub entry_list: u64,
}

impl PageWaitLayout {
    /// Debian 6.1 and 6.12, x86_64, for tests.
    pub const X86_64: PageWaitLayout = PageWaitLayout {
        head_size: 24,
        head_list: 8,
        wpq_size: 56,
        folio: 0,
        bit_nr: 8,
        wait: 16,
        entry_flags: 0,
        entry_private: 8,
        entry_func: 16,
        entry_list: 24,
    };

    pub fn from_types(t: &Types) -> Result<PageWaitLayout, ReadError> {
        let ty = |e: holdup_types::TypeError| missing(format!("types: {e}"));
        let off = |p: &str| t.offsetof(p).map_err(ty);
        // 5.10 named the member `page`; 5.16+ `folio`.
        let folio = off("wait_page_queue.folio").or_else(|_| off("wait_page_queue.page"))?;
        let head_size = t.sizeof("struct wait_queue_head").map_err(ty)?;
        if !(8..=4096).contains(&head_size) {
            return Err(missing(format!(
                "sizeof(struct wait_queue_head) = {head_size}"
            )));
        }
        Ok(PageWaitLayout {
            head_size,
            head_list: off("wait_queue_head.head")?,
            wpq_size: t.sizeof("struct wait_page_queue").map_err(ty)?,
            folio,
            bit_nr: off("wait_page_queue.bit_nr")?,
            wait: off("wait_page_queue.wait")?,
            entry_flags: off("wait_queue_entry.flags")?,
            entry_private: off("wait_queue_entry.private")?,
            entry_func: off("wait_queue_entry.func")?,
            entry_list: off("wait_queue_entry.entry")?,
        })
    }

    /// From the `wait_page_queue` to its list node (`&wpq->wait.entry`).
    pub fn node_offset(&self) -> u64 {
        self.wait + self.entry_list
    }

    /// From the `wait_page_queue` to `wait.func`.
    pub fn func_offset(&self) -> u64 {
        self.wait + self.entry_func
    }

    /// From the `wait_page_queue` to `wait.private`.
    pub fn private_offset(&self) -> u64 {
        self.wait + self.entry_private
    }
}

/// The page wait table of one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitTable {
    /// `folio_wait_table` (6.x) or `page_wait_table` (5.10).
    pub addr: u64,
    pub buckets: u64,
    /// `wake_page_function`: every `wait_page_queue` entry's `func`.
    pub wake_page_function: u64,
    pub layout: PageWaitLayout,
    /// `PG_locked` and `PG_writeback` of this kernel.
    pub pg_locked: u32,
    pub pg_writeback: u32,
}

impl WaitTable {
    pub fn new(k: &Kernel, memmap: &MemMap) -> Result<WaitTable, ReadError> {
        let addr = k
            .symbols
            .address_of("folio_wait_table")
            .or_else(|| k.symbols.address_of("page_wait_table"))
            .ok_or_else(|| missing("no symbol folio_wait_table (or page_wait_table)"))?;
        Ok(WaitTable {
            addr,
            buckets: 1 << PAGE_WAIT_TABLE_BITS,
            wake_page_function: k.symbol("wake_page_function")?,
            layout: PageWaitLayout::from_types(&k.types)?,
            pg_locked: memmap.pg_locked,
            pg_writeback: memmap.pg_writeback,
        })
    }

    /// `&folio_wait_table[i].head`.
    pub fn bucket_head(&self, i: u64) -> u64 {
        self.addr
            .wrapping_add(i.wrapping_mul(self.layout.head_size))
            .wrapping_add(self.layout.head_list)
    }

    /// The bucket whose list head is `head`, if it is one.
    pub fn bucket_of_head(&self, head: u64) -> Option<u64> {
        let off = head.checked_sub(self.addr.wrapping_add(self.layout.head_list))?;
        (off % self.layout.head_size == 0 && off / self.layout.head_size < self.buckets)
            .then_some(off / self.layout.head_size)
    }

    /// `folio_waitqueue(folio)`: the bucket a folio hashes to.
    pub fn bucket_for(&self, folio: u64) -> u64 {
        hash_ptr(folio, self.buckets.trailing_zeros())
    }

    /// What a wait for `bit_nr` is.
    pub fn kind_of_bit(&self, bit_nr: u32) -> LockKind {
        if bit_nr == self.pg_locked {
            LockKind::PageLock
        } else if bit_nr == self.pg_writeback {
            LockKind::PageWriteback
        } else {
            LockKind::PageBit
        }
    }

    /// Decodes the `wait_page_queue` at `record` (without checking where it is linked).
    pub fn read_waiter(
        &self,
        mem: &dyn KernelMemory,
        record: u64,
        bucket: u64,
    ) -> Result<PageWaiter, ReadError> {
        let l = &self.layout;
        let folio = mem.read_u64(record.wrapping_add(l.folio))?;
        let bit_nr = mem.read_u32(record.wrapping_add(l.bit_nr))?;
        let flags = mem.read_u32(record.wrapping_add(l.wait).wrapping_add(l.entry_flags))?;
        let task = mem.read_u64(record.wrapping_add(l.private_offset()))?;
        let func = mem.read_u64(record.wrapping_add(l.func_offset()))?;
        let kind = self.kind_of_bit(bit_nr);
        let exclusive = flags & WQ_FLAG_EXCLUSIVE != 0;
        Ok(PageWaiter {
            record,
            bucket,
            folio,
            bit_nr,
            kind,
            mode: if kind == LockKind::PageLock && exclusive {
                Mode::Exclusive
            } else {
                Mode::None
            },
            task,
            flags,
            exclusive,
            is_wait_page_queue: func == self.wake_page_function,
            hash_matches: self.bucket_for(folio) == bucket,
        })
    }

    /// Walks all buckets and lists every waiter, in bucket then queue order. Entries whose
    /// `func` is not `wake_page_function` or whose folio does not hash to their bucket are
    /// listed with the mismatch flagged; broken lists are reported in the second value.
    pub fn walk(&self, mem: &dyn KernelMemory) -> (Vec<Known<PageWaiter>>, Vec<String>) {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for b in 0..self.buckets {
            let head = self.bucket_head(b);
            let (nodes, end) = list_nodes(mem, head, MAX_BUCKET_ENTRIES);
            if end != ListEnd::Complete {
                problems.push(format!("folio_wait_table[{b}] at {head:#x}: {end}"));
            }
            for n in nodes {
                let record = n.wrapping_sub(self.layout.node_offset());
                match self.read_waiter(mem, record, b) {
                    Ok(w) => {
                        if !w.is_wait_page_queue {
                            problems.push(format!(
                                "folio_wait_table[{b}]: entry {record:#x} is not a wait_page_queue (func is not wake_page_function)"
                            ));
                        } else if !w.hash_matches {
                            problems.push(format!(
                                "folio_wait_table[{b}]: folio {:#x} of entry {record:#x} hashes to bucket {}",
                                w.folio,
                                self.bucket_for(w.folio)
                            ));
                        }
                        out.push(Known::fact(
                            w,
                            format!("wait_page_queue linked into folio_wait_table[{b}]"),
                            record,
                        ));
                    }
                    Err(e) => problems.push(format!(
                        "folio_wait_table[{b}]: entry {record:#x} unreadable: {e}"
                    )),
                }
            }
        }
        (out, problems)
    }
}

/// One `struct wait_page_queue` on the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PageWaiter {
    /// The record (on the waiter's stack).
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub record: u64,
    pub bucket: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub folio: u64,
    pub bit_nr: u32,
    /// `PageLock` for `PG_locked`, `PageWriteback` for `PG_writeback`, else `PageBit`.
    pub kind: LockKind,
    /// `Exclusive` for a lock attempt (`folio_lock`), `None` for waiting for the bit to clear.
    pub mode: Mode,
    /// `wait.private`.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    /// `wait.flags`.
    pub flags: u32,
    pub exclusive: bool,
    /// `wait.func == wake_page_function`.
    pub is_wait_page_queue: bool,
    /// `hash_ptr(folio, 8)` is this bucket.
    pub hash_matches: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    #[test]
    fn hash_ptr_matches_the_kernel() {
        // hash_64(val, bits) = val * GOLDEN_RATIO_64 >> (64 - bits)
        assert_eq!(hash_ptr(0, 8), 0);
        assert_eq!(hash_ptr(1, 8), 0x61);
        assert_eq!(hash_ptr(0xfffff90ac00ce4c0, 8), {
            (0xfffff90ac00ce4c0u64.wrapping_mul(0x61C8864680B583EB)) >> 56
        });
    }

    #[test]
    fn walk_lists_waiters_with_bit_and_hash() {
        let mem = FakeMem::new();
        let t = WaitTable {
            addr: 0xffff_ffff_9c60_7b80,
            buckets: 256,
            wake_page_function: 0xffff_ffff_9ae8_0d20,
            layout: PageWaitLayout::X86_64,
            pg_locked: 0,
            pg_writeback: 15,
        };
        mem.zero(t.addr, 256 * 24);
        for b in 0..256 {
            mem.list(t.bucket_head(b), &[]);
        }
        let folio = 0xfffff90ac00ce4c0u64;
        let b = t.bucket_for(folio);
        let (w1, w2) = (0xffff_c900_0001_3d00u64, 0xffff_c900_0002_3d00u64);
        for (w, bit, flags, task) in [(w1, 0, 1, 0x1000u64), (w2, 15, 0, 0x2000)] {
            mem.zero(w, 56);
            mem.u64(w, folio);
            mem.u32(w + 8, bit);
            mem.u32(w + 16, flags);
            mem.u64(w + 24, task);
            mem.u64(w + 32, t.wake_page_function);
        }
        mem.list(t.bucket_head(b), &[w1 + 40, w2 + 40]);
        let (ws, problems) = t.walk(&mem);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(ws.len(), 2);
        let (a, c) = (&ws[0].value, &ws[1].value);
        assert_eq!(
            (a.task, a.kind, a.mode, a.exclusive),
            (0x1000, LockKind::PageLock, Mode::Exclusive, true)
        );
        assert_eq!(
            (c.task, c.kind, c.mode),
            (0x2000, LockKind::PageWriteback, Mode::None)
        );
        assert!(a.hash_matches && a.is_wait_page_queue);
        assert_eq!(t.bucket_of_head(t.bucket_head(b)), Some(b));
        assert_eq!(t.bucket_of_head(t.bucket_head(b) + 8), None);
    }
}
