//! `struct page` and `struct folio` (`include/linux/mm_types.h`, `page-flags.h`): the
//! vmemmap, `pfn_to_page`/`page_to_pfn`, page flags named from BTF `enum pageflags`,
//! `compound_head`, and a parallel scan of every struct page for `PG_locked`.
//!
//! Flag numbers differ between kernels (`PG_writeback` is 15 on 6.1 and 1 on 6.12), so every
//! number comes from the kernel's own `enum pageflags`. Only the low `__NR_PAGEFLAGS` bits of
//! `page->flags` are flags; the upper bits hold the node, zone and other fields.

use crate::Kernel;
use crate::locking::{Known, missing};
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::{TypeKind, Types};
use rayon::prelude::*;
use serde::Serialize;
use std::time::Instant;

/// Page size of x86_64.
pub const PAGE_SIZE: u64 = 4096;
/// Most pages a folio may span (a 16 GiB gigantic page); bounds a larger `_folio_nr_pages`.
pub const MAX_FOLIO_PAGES: u64 = 1 << 22;

/// The struct page array and the flag numbers of one kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemMap {
    /// `vmemmap_base`: `struct page` of pfn 0 (`CONFIG_SPARSEMEM_VMEMMAP`).
    pub vmemmap: u64,
    /// `page_offset_base`: the direct map (for the data address of a page).
    pub page_offset: Option<u64>,
    /// `sizeof(struct page)`.
    pub page_size: u64,
    /// `max_pfn`: one past the highest page frame.
    pub max_pfn: u64,
    /// `__NR_PAGEFLAGS`.
    pub nr_pageflags: u32,
    /// Name of each flag bit below `nr_pageflags` (`locked`, `writeback`...; `PG_` dropped),
    /// the first enumerator of `enum pageflags` with that value; empty when none.
    pub flag_names: Vec<String>,
    pub pg_locked: u32,
    pub pg_writeback: u32,
    pub pg_uptodate: u32,
    pub pg_head: u32,
    pub pg_waiters: u32,
    /// `page.compound_head` (tail pages: head + 1), `page.compound_info` since 7.1 (the head
    /// + 1, or a mask with bit 0 set that gives the head ANDed with the tail's address).
    pub compound_head: u64,
    pub mapping: u64,
    pub index: u64,
    /// `folio._folio_nr_pages` (`_nr_pages` since 7.x), when the kernel has it.
    pub folio_nr_pages: Option<u64>,
}

/// The first of `paths` the types have, or the error for the first.
fn first_offset(t: &Types, paths: &[&str]) -> Result<u64, ReadError> {
    let mut first_err = None;
    for p in paths {
        match t.offsetof(p) {
            Ok(o) => return Ok(o),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    Err(missing(match first_err {
        Some(e) => format!("types: {e} (nor {})", paths[1..].join(", ")),
        None => "types: no member to look for".into(),
    }))
}

impl MemMap {
    /// Reads the symbols and types it needs.
    pub fn new(k: &Kernel) -> Result<MemMap, ReadError> {
        let mem = k.mem();
        let vmemmap = mem.read_u64(k.symbol("vmemmap_base")?)?;
        let page_offset = k
            .symbols
            .address_of("page_offset_base")
            .and_then(|a| mem.read_u64(a).ok());
        let max_pfn = mem.read_u64(k.symbol("max_pfn")?)?;
        // `max_pfn` is a word of the dump: no more page frames than the dump describes are
        // believed (a corrupted value would make the scan of every struct page endless).
        let dump_pfns = holdup_dump::PhysicalMemory::max_pfn(&*k.dump.dump);
        let max_pfn = max_pfn.min(dump_pfns);
        let mut m = MemMap::from_types(&k.types, vmemmap, max_pfn)?;
        m.page_offset = page_offset;
        Ok(m)
    }

    /// The layout and flag numbers from `types`, with the given vmemmap and `max_pfn`.
    pub fn from_types(t: &Types, vmemmap: u64, max_pfn: u64) -> Result<MemMap, ReadError> {
        let ty = |e: holdup_types::TypeError| missing(format!("types: {e}"));
        let flag = |n: &str| {
            t.enum_value("pageflags", n)
                .map(|v| v as u32)
                .map_err(|e| missing(format!("types: enum pageflags: {e}")))
        };
        let nr_pageflags = flag("__NR_PAGEFLAGS")?;
        if nr_pageflags == 0 || nr_pageflags > 63 {
            return Err(missing(format!("__NR_PAGEFLAGS = {nr_pageflags}")));
        }
        // The types come from the dump too: a struct page of absurd size would divide by
        // zero or make the scan allocate without bound.
        let page_size = t.sizeof("struct page").map_err(ty)?;
        if !(8..=4096).contains(&page_size) {
            return Err(missing(format!("sizeof(struct page) = {page_size}")));
        }
        // Flags are read as the first word of a struct page (`unsigned long flags`, or the
        // `memdesc_flags_t` holding it since 6.18).
        let flags = first_offset(t, &["page.flags.f", "page.flags"])?;
        if flags != 0 {
            return Err(missing(format!("page.flags at offset {flags}, not 0")));
        }
        let mut flag_names = vec![String::new(); nr_pageflags as usize];
        let id = t.find("enum pageflags").map_err(ty)?;
        if let TypeKind::Enum { values, .. } = t.get(id).map_err(ty)?.kind {
            for v in values {
                let (Ok(bit), Some(name)) = (usize::try_from(v.value), v.name.strip_prefix("PG_"))
                else {
                    continue;
                };
                if bit < flag_names.len() && flag_names[bit].is_empty() {
                    flag_names[bit] = name.to_string();
                }
            }
        }
        Ok(MemMap {
            vmemmap,
            page_offset: None,
            page_size,
            max_pfn,
            nr_pageflags,
            flag_names,
            pg_locked: flag("PG_locked")?,
            pg_writeback: flag("PG_writeback")?,
            pg_uptodate: flag("PG_uptodate")?,
            pg_head: flag("PG_head")?,
            pg_waiters: flag("PG_waiters")?,
            compound_head: first_offset(t, &["page.compound_head", "page.compound_info"])?,
            mapping: t.offsetof("page.mapping").map_err(ty)?,
            index: first_offset(t, &["page.index", "page.__folio_index"])?,
            folio_nr_pages: first_offset(t, &["folio._folio_nr_pages", "folio._nr_pages"]).ok(),
        })
    }

    /// `pfn_to_page`.
    pub fn pfn_to_page(&self, pfn: u64) -> u64 {
        self.vmemmap.wrapping_add(pfn.wrapping_mul(self.page_size))
    }

    /// `page_to_pfn`, or `None` when `page` is not the address of a struct page below
    /// `max_pfn`.
    pub fn page_to_pfn(&self, page: u64) -> Option<u64> {
        let off = page.checked_sub(self.vmemmap)?;
        (off % self.page_size == 0 && off / self.page_size < self.max_pfn)
            .then_some(off / self.page_size)
    }

    /// `page_address` of a pfn in the direct map.
    pub fn pfn_to_virt(&self, pfn: u64) -> Option<u64> {
        self.page_offset.map(|b| b.wrapping_add(pfn << 12))
    }

    /// Whether `flags` has flag bit `bit`.
    pub fn test(&self, flags: u64, bit: u32) -> bool {
        bit < 64 && flags & (1 << bit) != 0
    }

    /// The names of the flags set (only the low `__NR_PAGEFLAGS` bits; the node, zone and
    /// other fields above are not flags).
    pub fn flag_names_of(&self, flags: u64) -> Vec<String> {
        (0..self.nr_pageflags)
            .filter(|&b| flags & (1 << b) != 0)
            .map(|b| match self.flag_names.get(b as usize) {
                Some(n) if !n.is_empty() => n.clone(),
                _ => format!("bit{b}"),
            })
            .collect()
    }

    /// Decodes a flags word.
    pub fn decode_flags(&self, raw: u64) -> PageFlags {
        let mask = (1u64 << self.nr_pageflags) - 1;
        PageFlags {
            raw,
            names: self.flag_names_of(raw),
            fields: raw & !mask,
            locked: self.test(raw, self.pg_locked),
            writeback: self.test(raw, self.pg_writeback),
            uptodate: self.test(raw, self.pg_uptodate),
            head: self.test(raw, self.pg_head),
            waiters: self.test(raw, self.pg_waiters),
        }
    }

    /// `compound_head(page)`: the folio (head page) a page belongs to.
    pub fn compound_head(&self, mem: &dyn KernelMemory, page: u64) -> Result<u64, ReadError> {
        let ch = mem.read_u64(page.wrapping_add(self.compound_head))?;
        Ok(self.head_of(page, ch).map_or(page, |(h, _)| h))
    }

    /// The head page a tail's `compound_head`/`compound_info` word `info` names, and how it
    /// was decoded; `None` for a page that is not a tail (bit 0 clear). The encoding is told
    /// from the value: the head's address + 1 (every kernel, and 7.1+ without the mask), or
    /// since 7.1 a mask that gives the head when ANDed with the tail's address. Either must
    /// land on a struct page at or below the tail; else the page is taken as its own head.
    pub fn head_of(&self, page: u64, info: u64) -> Option<(u64, &'static str)> {
        if info & 1 == 0 {
            return None;
        }
        let is_head = |h: u64| h <= page && self.page_to_pfn(h).is_some();
        // A mask is high ones down to the folio's block of struct pages: -mask is its size,
        // a power of two of at least two struct pages.
        let block = (info & !1).wrapping_neg();
        let is_mask = block.is_power_of_two()
            && block >= 2 * self.page_size
            && block <= MAX_FOLIO_PAGES.saturating_mul(self.page_size);
        if is_head(info - 1) {
            Some((info - 1, "a tail page: head + 1"))
        } else if is_mask && is_head(page & info) {
            Some((
                page & info,
                "a tail page: the head is the page's address & this mask",
            ))
        } else {
            None
        }
    }

    /// Decodes the struct page at `page`, and the folio it belongs to.
    pub fn read_page(&self, mem: &dyn KernelMemory, page: u64) -> Result<PageInfo, ReadError> {
        let raw = mem.read_u64(page)?;
        let ch = mem.read_u64(page.wrapping_add(self.compound_head))?;
        let head = self.head_of(page, ch);
        if head.is_none() && ch & 1 != 0 {
            return Err(ReadError::Corrupt {
                vaddr: page + self.compound_head,
                detail: format!(
                    "page.compound_head = {ch:#x} marks a tail page, but neither as a pointer nor as a mask does it name a struct page at or below {page:#x}"
                ),
            });
        }
        let tail = head.is_some();
        let folio = head.map_or(page, |(h, _)| h);
        let folio_flags_raw = if tail { mem.read_u64(folio)? } else { raw };
        let folio_flags = self.decode_flags(folio_flags_raw);
        let nr_pages = match (folio_flags.head, self.folio_nr_pages) {
            (true, Some(off)) => {
                u64::from(mem.read_u32(folio.wrapping_add(off))?).clamp(1, MAX_FOLIO_PAGES)
            }
            _ => 1,
        };
        Ok(PageInfo {
            page,
            pfn: self.page_to_pfn(page),
            flags: Known::fact(self.decode_flags(raw), "page.flags", page),
            folio: Known::fact(
                folio,
                match head {
                    Some((_, how)) => format!("page.compound_head ({how})"),
                    None => "page.compound_head (bit 0 clear: the page is its own folio)".into(),
                },
                page + self.compound_head,
            ),
            folio_pfn: self.page_to_pfn(folio),
            folio_flags: Known::fact(folio_flags, "folio.flags", folio),
            nr_pages,
            mapping: Known::fact(
                mem.read_u64(folio.wrapping_add(self.mapping))?,
                "folio.mapping",
                folio + self.mapping,
            ),
            index: mem.read_u64(folio.wrapping_add(self.index))?,
        })
    }

    /// Scans every struct page from pfn 0 to `max_pfn` for `PG_locked` (head and order-0
    /// pages only: a tail page's flags word is not the folio's), in parallel. Struct pages
    /// that are not mapped (holes in the physical address space) or not in the dump are
    /// counted, not fatal.
    pub fn scan_locked_pages(&self, mem: &dyn KernelMemory) -> PageScan {
        let start = Instant::now();
        let chunks = self.max_pfn.div_ceil(SCAN_CHUNK_PAGES);
        let acc = (0..chunks)
            .into_par_iter()
            .fold(ScanAcc::default, |mut acc, c| {
                self.scan_chunk(mem, c * SCAN_CHUNK_PAGES, &mut acc);
                acc
            })
            .reduce(ScanAcc::default, ScanAcc::merge);
        let mut locked = acc.locked;
        locked.sort_by_key(|p| p.pfn);
        let elapsed = start.elapsed().as_secs_f64();
        PageScan {
            max_pfn: self.max_pfn,
            struct_pages_read: acc.read,
            tail_pages: acc.tails,
            no_memmap: acc.no_memmap,
            unreadable: acc.unreadable,
            first_unreadable: acc.first_unreadable,
            bytes_read: acc.read * self.page_size,
            seconds: elapsed,
            locked,
        }
    }

    fn scan_chunk(&self, mem: &dyn KernelMemory, first_pfn: u64, acc: &mut ScanAcc) {
        let n = SCAN_CHUNK_PAGES.min(self.max_pfn - first_pfn);
        let size = self.page_size as usize;
        let start = self.pfn_to_page(first_pfn);
        // A vmemmap base at the top of the address space (corrupted): nothing to read.
        if start.checked_add(n * self.page_size).is_none() {
            acc.unreadable += n;
            return;
        }
        let mut buf = vec![0u8; n as usize * size];
        // Which bytes are readable: all, or per 4 KiB page of the vmemmap.
        let mut page_ok: Option<Vec<bool>> = None;
        if mem.read(start, &mut buf).is_err() {
            let first = start & !(PAGE_SIZE - 1);
            let end = start + buf.len() as u64;
            let mut ok = Vec::new();
            let mut va = first;
            while va < end {
                let lo = va.max(start);
                let hi = (va + PAGE_SIZE).min(end);
                let slice = &mut buf[(lo - start) as usize..(hi - start) as usize];
                match mem.read(lo, slice) {
                    Ok(()) => ok.push(true),
                    // No mapping: a hole in physical memory. Anything else: filtered or bad.
                    Err(ReadError::NotMapped { .. }) => {
                        ok.push(false);
                        acc.hole_pages.push(va);
                    }
                    Err(e) => {
                        ok.push(false);
                        if acc.first_unreadable.is_none() {
                            acc.first_unreadable = Some(e.to_string());
                        }
                    }
                }
                va += PAGE_SIZE;
            }
            page_ok = Some(ok);
        }
        for i in 0..n as usize {
            let page = start + (i * size) as u64;
            if let Some(ok) = &page_ok {
                let a = ((page & !(PAGE_SIZE - 1)) - (start & !(PAGE_SIZE - 1))) / PAGE_SIZE;
                let b = (((page + self.page_size - 1) & !(PAGE_SIZE - 1))
                    - (start & !(PAGE_SIZE - 1)))
                    / PAGE_SIZE;
                if !(a..=b).all(|p| ok.get(p as usize).copied().unwrap_or(false)) {
                    let hole = acc.hole_pages.contains(&(page & !(PAGE_SIZE - 1)));
                    if hole {
                        acc.no_memmap += 1;
                    } else {
                        acc.unreadable += 1;
                    }
                    continue;
                }
            }
            acc.read += 1;
            let w = |o: usize| u64::from_le_bytes(buf[o..o + 8].try_into().expect("8 bytes"));
            let flags = w(i * size);
            if w(i * size + self.compound_head as usize) & 1 != 0 {
                acc.tails += 1;
                continue;
            }
            if self.test(flags, self.pg_locked) {
                acc.locked.push(LockedPage {
                    page,
                    pfn: first_pfn + i as u64,
                    flags,
                    names: self.flag_names_of(flags),
                });
            }
        }
        acc.hole_pages.clear();
    }
}

/// Struct pages per unit of parallel work: 512 (one 2 MiB subsection of memory, 32 KiB of
/// struct pages), the granularity at which the vmemmap is populated.
const SCAN_CHUNK_PAGES: u64 = 512;

#[derive(Default)]
struct ScanAcc {
    locked: Vec<LockedPage>,
    read: u64,
    tails: u64,
    no_memmap: u64,
    unreadable: u64,
    first_unreadable: Option<String>,
    hole_pages: Vec<u64>,
}

impl ScanAcc {
    fn merge(mut a: ScanAcc, b: ScanAcc) -> ScanAcc {
        a.locked.extend(b.locked);
        a.read += b.read;
        a.tails += b.tails;
        a.no_memmap += b.no_memmap;
        a.unreadable += b.unreadable;
        a.first_unreadable = a.first_unreadable.or(b.first_unreadable);
        a
    }
}

/// `page->flags`, decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PageFlags {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub raw: u64,
    /// Names of the flags set, lowest bit first.
    pub names: Vec<String>,
    /// The bits above `__NR_PAGEFLAGS` (node, zone, last_cpupid...), not flags.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub fields: u64,
    pub locked: bool,
    pub writeback: bool,
    pub uptodate: bool,
    pub head: bool,
    pub waiters: bool,
}

/// One struct page and its folio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct PageInfo {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub page: u64,
    pub pfn: Option<u64>,
    pub flags: Known<PageFlags>,
    /// `compound_head(page)`.
    #[serde(serialize_with = "crate::locking::hex::known")]
    #[schemars(with = "crate::locking::hex::KnownHex")]
    pub folio: Known<u64>,
    pub folio_pfn: Option<u64>,
    /// The folio's (head page's) flags: those that `folio_lock` and writeback use.
    pub folio_flags: Known<PageFlags>,
    /// Pages in the folio (`_folio_nr_pages` of a large folio, else 1).
    pub nr_pages: u64,
    /// `folio->mapping` (an `address_space *`, or an `anon_vma *` | 1 for anonymous).
    #[serde(serialize_with = "crate::locking::hex::known")]
    #[schemars(with = "crate::locking::hex::KnownHex")]
    pub mapping: Known<u64>,
    pub index: u64,
}

/// A page found with `PG_locked` by the scan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LockedPage {
    /// The struct page (a head or order-0 page: the folio).
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub page: u64,
    pub pfn: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub flags: u64,
    pub names: Vec<String>,
}

/// What [`MemMap::scan_locked_pages`] found.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PageScan {
    pub max_pfn: u64,
    pub struct_pages_read: u64,
    pub tail_pages: u64,
    /// Struct pages with no vmemmap mapping: holes in physical memory, nothing to read.
    pub no_memmap: u64,
    /// Struct pages mapped but not readable (filtered out of the dump, or corrupt).
    pub unreadable: u64,
    pub first_unreadable: Option<String>,
    pub bytes_read: u64,
    pub seconds: f64,
    /// Head and order-0 pages with `PG_locked`, by pfn.
    pub locked: Vec<LockedPage>,
}

impl PageScan {
    /// Struct pages read per second, in GB/s.
    pub fn gigabytes_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes_read as f64 / self.seconds / 1e9
        } else {
            f64::INFINITY
        }
    }
}

#[cfg(test)]
impl MemMap {
    /// A 6.1-like layout for unit tests: 64-byte struct pages at 0xffffea0000000000, the
    /// direct map at 0xffff888000000000, the flags and members where 6.1 has them.
    pub(crate) fn for_tests(max_pfn: u64, flag_names: Vec<String>) -> MemMap {
        MemMap {
            vmemmap: 0xffff_ea00_0000_0000,
            page_offset: Some(0xffff_8880_0000_0000),
            page_size: 64,
            max_pfn,
            nr_pageflags: 24,
            flag_names,
            pg_locked: 0,
            pg_writeback: 1,
            pg_uptodate: 3,
            pg_head: 6,
            pg_waiters: 7,
            compound_head: 8,
            mapping: 24,
            index: 32,
            folio_nr_pages: Some(96),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    fn memmap() -> MemMap {
        let mut names = vec![String::new(); 24];
        for (b, n) in [
            (0, "locked"),
            (1, "writeback"),
            (3, "uptodate"),
            (6, "head"),
            (7, "waiters"),
        ] {
            names[b] = n.into();
        }
        MemMap::for_tests(2048, names)
    }

    #[test]
    fn a_tail_names_its_head_by_pointer_or_by_mask() {
        let m = memmap();
        let head = m.pfn_to_page(512);
        let tail = m.pfn_to_page(513);
        // Head + 1 (every kernel; 7.1+ when struct page is not a power of two).
        assert_eq!(m.head_of(tail, head + 1).map(|h| h.0), Some(head));
        // 7.1+ with the mask: 512 struct pages of 64 bytes are a 32 KiB block.
        let mask = !(512 * 64 - 1) | 1;
        assert_eq!(m.head_of(tail, mask).map(|h| h.0), Some(head));
        assert!(m.head_of(tail, mask).unwrap().1.contains("mask"));
        // Not a tail; a word that names no struct page at or below the tail either way.
        assert_eq!(m.head_of(tail, head), None);
        assert_eq!(m.head_of(tail, m.pfn_to_page(900) + 1), None);
        let f = FakeMem::new();
        f.zero(tail, 64);
        f.u64(tail + 8, m.pfn_to_page(900) + 1);
        assert!(m.read_page(&f, tail).is_err());
    }

    #[test]
    fn pfn_page_round_trip_and_flag_names() {
        let m = memmap();
        assert_eq!(m.pfn_to_page(13203), 0xffff_ea00_0000_0000 + 13203 * 64);
        assert_eq!(m.page_to_pfn(m.pfn_to_page(77)), Some(77));
        assert_eq!(m.page_to_pfn(m.pfn_to_page(77) + 8), None);
        assert_eq!(m.page_to_pfn(m.pfn_to_page(4096)), None);
        // node/zone bits at the top are not flags
        let f = m.decode_flags(0xfffffc0000000089);
        assert_eq!(f.names, ["locked", "uptodate", "waiters"]);
        assert!(f.locked && f.waiters && !f.writeback);
        assert_eq!(f.fields, 0xfffffc0000000000);
    }

    #[test]
    fn scan_finds_locked_heads_skips_tails_and_counts_holes() {
        let m = memmap();
        let mem = FakeMem::new();
        // pfns 0..1024 have a memmap (64 KiB); 1024..2048 is a hole.
        mem.zero(m.vmemmap, 1024 * 64);
        let p = |pfn| m.pfn_to_page(pfn);
        mem.u64(p(5), 0xfffffc0000000001); // locked order-0
        mem.u64(p(8), 0xfffffc0000000041); // locked head
        mem.u64(p(9), 0x1); // tail with bit 0 in its flags word (e.g. an order)
        mem.u64(p(9) + 8, p(8) + 1);
        mem.u64(p(700), 0x2); // writeback only
        let s = m.scan_locked_pages(&mem);
        let pfns: Vec<_> = s.locked.iter().map(|l| l.pfn).collect();
        assert_eq!(pfns, [5, 8]);
        assert_eq!(s.locked[1].names, ["locked", "head"]);
        assert_eq!(s.struct_pages_read, 1024);
        assert_eq!(s.tail_pages, 1);
        assert_eq!(s.no_memmap, 1024);
        assert_eq!(s.unreadable, 0);
        let info = m.read_page(&mem, p(9)).unwrap();
        assert_eq!(info.folio.value, p(8));
        assert!(info.folio_flags.value.locked && info.folio_flags.value.head);
        assert_eq!(info.nr_pages, 1); // _folio_nr_pages of page 8 reads 0 -> at least 1
    }
}
