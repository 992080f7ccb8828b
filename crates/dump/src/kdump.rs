//! kdump-compressed ("diskdump", signature `KDUMP   `) dumps, as makedumpfile and QEMU write
//! them.

use std::sync::Arc;

use crate::cache::PageCache;
use crate::notes::Notes;
use crate::source::Source;
use crate::{DumpError, DumpLevel, PageState, PhysError, ReadFailure};

pub(crate) const KDUMP_SIGNATURE: &[u8; 8] = b"KDUMP   ";
pub(crate) const DISKDUMP_SIGNATURE: &[u8; 8] = b"DISKDUMP";

const DH_COMPRESSED_ZLIB: u32 = 0x1;
const DH_COMPRESSED_LZO: u32 = 0x2;
const DH_COMPRESSED_SNAPPY: u32 = 0x4;
const DH_COMPRESSED_INCOMPLETE: u32 = 0x8;
const DH_EXCLUDED_VMEMMAP: u32 = 0x10;
const DH_COMPRESSED_ZSTD: u32 = 0x20;
const COMPRESSION_MASK: u32 =
    DH_COMPRESSED_ZLIB | DH_COMPRESSED_LZO | DH_COMPRESSED_SNAPPY | DH_COMPRESSED_ZSTD;

const HEADER_SIZE: usize = 464;
const SUB_HEADER_SIZE: usize = 104;
const PAGE_DESC_SIZE: u64 = 24;
/// Bits per block of the popcount prefix index.
const RANK_BLOCK_BITS: u64 = 4096;
/// A note region larger than this is not a vmcore's.
const MAX_NOTE_REGION: u64 = 64 << 20;

/// How pages are compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Zlib,
    Lzo,
    Snappy,
    Zstd,
}

impl Compression {
    fn from_flags(flags: u32) -> Result<Compression, u32> {
        match flags & COMPRESSION_MASK {
            0 => Ok(Compression::None),
            DH_COMPRESSED_ZLIB => Ok(Compression::Zlib),
            DH_COMPRESSED_LZO => Ok(Compression::Lzo),
            DH_COMPRESSED_SNAPPY => Ok(Compression::Snappy),
            DH_COMPRESSED_ZSTD => Ok(Compression::Zstd),
            other => Err(other),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zlib => "zlib",
            Compression::Lzo => "lzo",
            Compression::Snappy => "snappy",
            Compression::Zstd => "zstd",
        }
    }
}

/// `struct new_utsname` from the kdump header (empty strings in QEMU-made files).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Utsname {
    pub sysname: String,
    pub nodename: String,
    pub release: String,
    pub version: String,
    pub machine: String,
    pub domainname: String,
}

/// The kdump-compressed headers (`disk_dump_header` and `kdump_sub_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdumpHeader {
    pub header_version: i32,
    pub utsname: Utsname,
    pub timestamp_sec: i64,
    pub timestamp_usec: i64,
    /// Raw `status` word.
    pub status: u32,
    /// What `status` says the pages are compressed with (each page also says so itself).
    pub compression: Compression,
    /// `DUMP_DH_COMPRESSED_INCOMPLETE`: makedumpfile could not write everything.
    pub incomplete: bool,
    /// `DUMP_DH_EXCLUDED_VMEMMAP`.
    pub excluded_vmemmap: bool,
    pub block_size: u32,
    pub sub_hdr_size: u32,
    pub bitmap_blocks: u32,
    /// The number of pfns the bitmaps cover (`max_mapnr_64` from version 6, else `max_mapnr`).
    pub max_mapnr: u64,
    pub total_ram_blocks: u32,
    pub device_blocks: u32,
    pub written_blocks: u32,
    /// `current_cpu`: meant to be the dumping CPU, but makedumpfile never sets it and QEMU
    /// writes 0, so 0 means "unknown".
    pub current_cpu: u32,
    pub nr_cpus: i32,
    /// `kdump_sub_header.phys_base`. QEMU reads it from VMCOREINFO with the wrong base
    /// (hex instead of decimal): prefer VMCOREINFO's `NUMBER(phys_base)`.
    pub phys_base: u64,
    pub dump_level: DumpLevel,
    /// Both the 1st (RAM present) and 2nd (pages dumped) bitmaps are in the file.
    pub two_bitmaps: bool,
    /// Pages with a page descriptor (set bits in the 2nd bitmap).
    pub dumped_pages: u64,
}

/// Where a bitmap lives: in the file (borrowed on each use) or copied (flattened files whose
/// bitmap spans records).
enum Region {
    InFile { start: u64, len: usize },
    Owned(Box<[u8]>),
}

struct Bitmap {
    region: Region,
    /// Usable bits (`min(max_mapnr, 8 * len)`).
    nbits: u64,
}

impl Bitmap {
    fn bytes<'a>(&'a self, src: &'a Source) -> std::borrow::Cow<'a, [u8]> {
        match &self.region {
            Region::InFile { start, len } => src
                .get(*start, *len)
                .unwrap_or(std::borrow::Cow::Borrowed(&[])),
            Region::Owned(b) => std::borrow::Cow::Borrowed(b),
        }
    }
}

fn test_bit(bm: &[u8], pfn: u64) -> bool {
    bm.get((pfn >> 3) as usize)
        .is_some_and(|b| b & (1 << (pfn & 7)) != 0)
}

fn word(bm: &[u8], w: usize) -> u64 {
    let s = w * 8;
    match bm.get(s..s + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().unwrap()),
        None => {
            let mut b = [0u8; 8];
            if s < bm.len() {
                b[..bm.len() - s].copy_from_slice(&bm[s..]);
            }
            u64::from_le_bytes(b)
        }
    }
}

/// Where a present page's data is.
enum Located<'s> {
    /// Stored raw: the page itself.
    Raw(std::borrow::Cow<'s, [u8]>),
    /// Compressed data, and its descriptor to describe a failure to decode it.
    Compressed(Compression, std::borrow::Cow<'s, [u8]>, Desc),
}

/// A page descriptor, kept to describe a page that does not decode.
#[derive(Clone, Copy)]
struct Desc {
    paddr: u64,
    /// File offset of the descriptor.
    at: u64,
    offset: u64,
    size: u64,
    flags: u32,
}

impl Desc {
    fn corrupt(&self, what: String) -> PhysError {
        let Desc {
            paddr,
            at,
            offset,
            size,
            flags,
        } = *self;
        PhysError {
            paddr,
            failure: ReadFailure::Corrupt(format!(
                "page descriptor at file offset {at:#x} (offset {offset:#x}, size {size:#x}, flags {flags:#x}): {what}"
            )),
        }
    }
}

pub(crate) struct KdumpDump {
    pub(crate) header: KdumpHeader,
    bitmap1: Bitmap,
    bitmap2: Bitmap,
    /// `rank[i]` = set bits of the 2nd bitmap before block `i` (blocks of 4096 bits).
    rank: Vec<u64>,
    desc_start: u64,
    /// In a dump marked incomplete: the pfn of the last page makedumpfile wrote, when the
    /// pages it wrote are the first ones (it writes in pfn order and stops at the first
    /// failure, e.g. ENOSPC).
    written_up_to: Option<u64>,
    cache: PageCache,
    /// Pages decompressed so far (cache misses of compressed pages).
    pub(crate) decompressed: std::sync::atomic::AtomicU64,
}

fn u32at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn i32at(b: &[u8], o: usize) -> i32 {
    u32at(b, o) as i32
}
fn u64at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// What makedumpfile wrote of an incomplete dump: the descriptors with data.
struct Written {
    written: u64,
    /// (descriptor index, pfn) of the last written descriptor and of the first unwritten.
    last_written: Option<(u64, u64)>,
    first_unwritten: Option<(u64, u64)>,
}

/// Counts the page descriptors of an incomplete dump that makedumpfile filled in: an
/// unwritten one is all zeros (or lies past the end of the file), a written one points at
/// data inside the file. `None` if the descriptors cannot be read.
fn written_pages(src: &Source, bitmap2: &Bitmap, desc_start: u64, total: u64) -> Option<Written> {
    const CHUNK: u64 = 4096;
    let flen = src.len();
    let mut w = Written {
        written: 0,
        last_written: None,
        first_unwritten: None,
    };
    let (mut last, mut first) = (None, None);
    let mut i = 0u64;
    while i < total {
        let n = CHUNK.min(total - i);
        let at = desc_start.checked_add(i.checked_mul(PAGE_DESC_SIZE)?)?;
        let avail = flen.saturating_sub(at) / PAGE_DESC_SIZE;
        let d = if avail > 0 {
            Some(src.get(at, (n.min(avail) * PAGE_DESC_SIZE) as usize).ok()?)
        } else {
            None
        };
        for j in 0..n {
            let ok = d.as_ref().is_some_and(|d| {
                let o = (j * PAGE_DESC_SIZE) as usize;
                d.len() >= o + PAGE_DESC_SIZE as usize && {
                    let off = u64at(d, o);
                    let size = u64::from(u32at(d, o + 8));
                    off >= desc_start && size > 0 && off.saturating_add(size) <= flen
                }
            });
            if ok {
                w.written += 1;
                last = Some(i + j);
            } else if first.is_none() {
                first = Some(i + j);
            }
        }
        i += n;
    }
    // Descriptor index -> pfn: the n-th set bit of the 2nd bitmap.
    let bm = bitmap2.bytes(src);
    let pfn_of = |index: u64| -> Option<u64> {
        let mut seen = 0u64;
        for wi in 0..bitmap2.nbits.div_ceil(64) as usize {
            let mut v = word(&bm, wi);
            let ones = u64::from(v.count_ones());
            if seen + ones > index {
                for _ in 0..index - seen {
                    v &= v - 1;
                }
                return Some(wi as u64 * 64 + u64::from(v.trailing_zeros()));
            }
            seen += ones;
        }
        None
    };
    w.last_written = last.and_then(|i| Some((i, pfn_of(i)?)));
    w.first_unwritten = first.and_then(|i| Some((i, pfn_of(i)?)));
    Some(w)
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    holdup_text::printable(&b[..end])
}

impl KdumpDump {
    pub(crate) fn parse(
        src: &Source,
        notes: &mut Notes,
        warnings: &mut Vec<String>,
        cache_pages: usize,
    ) -> Result<KdumpDump, DumpError> {
        let flen = src.len();
        let h = src
            .get(0, HEADER_SIZE)
            .map_err(|e| DumpError::Malformed(format!("kdump header: {e}")))?;
        let header_version = i32at(&h, 8);
        let uts = |i: usize| cstr(&h[12 + 65 * i..12 + 65 * (i + 1)]);
        let utsname = Utsname {
            sysname: uts(0),
            nodename: uts(1),
            release: uts(2),
            version: uts(3),
            machine: uts(4),
            domainname: uts(5),
        };
        let status = u32at(&h, 424);
        let block_size = i32at(&h, 428);
        let sub_hdr_size = i32at(&h, 432);
        let bitmap_blocks = u32at(&h, 436);
        let max_mapnr32 = u32at(&h, 440);
        // makedumpfile writes the page size here, and everything after the header is laid
        // out in blocks of it: another value misplaces the sub-header, the notes and the
        // bitmaps, and would be reported as whatever is then missing.
        if block_size as u64 != crate::PAGE_SIZE {
            return Err(DumpError::Malformed(format!(
                "kdump header: block_size {block_size}, but x86_64 dumps are written in blocks of the {}-byte page size: the header is damaged",
                crate::PAGE_SIZE
            )));
        }
        if sub_hdr_size < 0 {
            return Err(DumpError::Malformed(format!(
                "kdump header: negative sub_hdr_size {sub_hdr_size}"
            )));
        }
        if header_version < 1 {
            return Err(DumpError::Unsupported(format!(
                "kdump header version {header_version} (makedumpfile writes 1..6)"
            )));
        }
        let bs = block_size as u64;
        let compression = Compression::from_flags(status).map_err(|bits| {
            DumpError::Malformed(format!(
                "kdump header: status {status:#x} names several compressions ({bits:#x})"
            ))
        })?;

        // Sub-header: read what the version says exists, as far as the file has it.
        let sh_len = SUB_HEADER_SIZE.min(flen.saturating_sub(bs) as usize);
        let sh = src
            .get(bs, sh_len)
            .map_err(|e| DumpError::Malformed(format!("kdump sub-header: {e}")))?
            .into_owned();
        let field = |off: usize, min_version: i32| -> Option<u64> {
            (header_version >= min_version && off + 8 <= sh.len()).then(|| u64at(&sh, off))
        };
        let phys_base = field(0, 1).unwrap_or(0);
        let dump_level = if sh.len() >= 12 {
            DumpLevel(u32at(&sh, 8))
        } else {
            DumpLevel(0)
        };
        let split = header_version >= 2 && sh.len() >= 16 && i32at(&sh, 12) != 0;
        if split {
            let (s, e) = if header_version >= 6 {
                (field(80, 6), field(88, 6))
            } else {
                (field(16, 2), field(24, 2))
            };
            return Err(DumpError::Unsupported(format!(
                "this is one part of a split dump (pfns {:#x}..{:#x}, made with makedumpfile --split); \
                 rebuild a single file with `makedumpfile --reassemble` first",
                s.unwrap_or(0),
                e.unwrap_or(0)
            )));
        }
        let max_mapnr = match field(96, 6) {
            Some(m) if m != 0 => m,
            _ => max_mapnr32 as u64,
        };

        // Notes (version 4+) and VMCOREINFO (version 3+).
        if let (Some(off), Some(size)) = (field(48, 4), field(56, 4))
            && size > 0
        {
            if size > MAX_NOTE_REGION {
                warnings.push(format!("kdump note region claims {size:#x} bytes; ignored"));
            } else {
                match src.get(off, size as usize) {
                    Ok(d) => notes.parse_segment(&d, "kdump note region"),
                    Err(e) => warnings.push(format!("kdump note region: {e}")),
                }
            }
        }
        if notes.vmcoreinfo.is_none()
            && let (Some(off), Some(size)) = (field(32, 3), field(40, 3))
            && size > 0
        {
            if size > MAX_NOTE_REGION {
                warnings.push(format!("kdump VMCOREINFO claims {size:#x} bytes; ignored"));
            } else {
                match src.get(off, size as usize) {
                    Ok(d) => {
                        let end = d.iter().position(|&c| c == 0).unwrap_or(d.len());
                        notes.vmcoreinfo = Some(d[..end].to_vec());
                    }
                    Err(e) => warnings.push(format!("kdump VMCOREINFO: {e}")),
                }
            }
        }

        // Bitmaps.
        let bitmap_off = (1 + sub_hdr_size as u64) * bs;
        let bitmap_len = bitmap_blocks as u64 * bs;
        if bitmap_len == 0 || bitmap_off + bitmap_len > flen {
            return Err(DumpError::Malformed(format!(
                "kdump bitmaps ({bitmap_blocks} blocks of {bs} at {bitmap_off:#x}) do not fit in the file ({flen:#x} bytes)"
            )));
        }
        let per_bitmap = max_mapnr.div_ceil(8).div_ceil(bs) * bs;
        let two_bitmaps = bitmap_len >= 2 * per_bitmap && per_bitmap > 0;
        let (b1_off, b2_off, blen) = if two_bitmaps {
            (bitmap_off, bitmap_off + bitmap_len / 2, bitmap_len / 2)
        } else {
            (bitmap_off, bitmap_off, bitmap_len)
        };
        let nbits = max_mapnr.min(blen * 8);
        if nbits < max_mapnr {
            warnings.push(format!(
                "kdump bitmap covers {nbits:#x} pfns but max_mapnr is {max_mapnr:#x}; pfns above are absent"
            ));
        }
        let region = |off: u64| -> Result<Region, DumpError> {
            let b = src
                .get(off, blen as usize)
                .map_err(|e| DumpError::Malformed(format!("kdump bitmap: {e}")))?;
            Ok(match b {
                std::borrow::Cow::Borrowed(_) => Region::InFile {
                    start: off,
                    len: blen as usize,
                },
                std::borrow::Cow::Owned(v) => Region::Owned(v.into_boxed_slice()),
            })
        };
        let bitmap1 = Bitmap {
            region: region(b1_off)?,
            nbits,
        };
        let bitmap2 = Bitmap {
            region: region(b2_off)?,
            nbits,
        };

        // Rank index over the 2nd bitmap.
        let mut rank = Vec::with_capacity((nbits.div_ceil(RANK_BLOCK_BITS) + 1) as usize);
        let mut total = 0u64;
        {
            let bm = bitmap2.bytes(src);
            let words = nbits.div_ceil(64) as usize;
            for w in 0..words {
                if (w as u64 * 64) % RANK_BLOCK_BITS == 0 {
                    rank.push(total);
                }
                let mut v = word(&bm, w);
                let lo = w as u64 * 64;
                if lo + 64 > nbits {
                    v &= (1u64 << (nbits - lo)) - 1;
                }
                total += v.count_ones() as u64;
            }
            rank.push(total);
        }
        let desc_start = bitmap_off + bitmap_len;
        let desc_end = desc_start.saturating_add(total.saturating_mul(PAGE_DESC_SIZE));
        if desc_end > flen {
            warnings.push(format!(
                "kdump page descriptors for {total} pages end at {desc_end:#x}, past the end of the file ({flen:#x}){}",
                if status & DH_COMPRESSED_INCOMPLETE != 0 {
                    " (the dump is marked incomplete)"
                } else {
                    " (truncated file)"
                }
            ));
        }
        // A cut copy keeps its descriptors (they come first) but loses the page data at the
        // end. Data is written in descriptor order, except that all-zero pages share one
        // block at the start: the furthest data end among the last descriptors says whether
        // the file is whole.
        if total > 0 && desc_end <= flen {
            let n = total.min(4096);
            let first = desc_start + (total - n) * PAGE_DESC_SIZE;
            if let Ok(d) = src.get(first, (n * PAGE_DESC_SIZE) as usize) {
                let end = d
                    .chunks_exact(PAGE_DESC_SIZE as usize)
                    .map(|d| u64at(d, 0).saturating_add(u64::from(u32at(d, 8))))
                    .max()
                    .unwrap_or(0);
                if end > flen {
                    warnings.push(format!(
                        "kdump file ends at {flen:#x}, before the data of its last dumped page (which ends at {end:#x}){}: pages whose data lies past the end read as missing",
                        if status & DH_COMPRESSED_INCOMPLETE != 0 {
                            " (the dump is marked incomplete)"
                        } else {
                            " (truncated file)"
                        }
                    ));
                }
            }
        }
        let mut written_up_to = None;
        if status & DH_COMPRESSED_INCOMPLETE != 0 {
            let w = written_pages(src, &bitmap2, desc_start, total);
            let how_much = match w {
                Some(w) if w.written < total => {
                    let upto = match (w.last_written, w.first_unwritten) {
                        (Some((i, pfn)), Some((j, _))) if i < j => {
                            written_up_to = Some(pfn);
                            format!(
                                ", every page up to pfn {pfn:#x} (physical {:#x})",
                                pfn.saturating_add(1).saturating_mul(bs) - 1
                            )
                        }
                        (None, _) => String::new(),
                        (Some((_, pfn)), _) => format!(", the last of them pfn {pfn:#x}"),
                    };
                    format!(
                        ": {} of the {total} pages it meant to dump were written{upto}; the other {} read as missing",
                        w.written,
                        total - w.written
                    )
                }
                _ => String::new(),
            };
            warnings.push(format!(
                "kdump header says the dump is incomplete: makedumpfile could not write every page (it stops at the first write error, e.g. a full disk){how_much}"
            ));
        }
        let header = KdumpHeader {
            header_version,
            utsname,
            timestamp_sec: u64at(&h, 408) as i64,
            timestamp_usec: u64at(&h, 416) as i64,
            status,
            compression,
            incomplete: status & DH_COMPRESSED_INCOMPLETE != 0,
            excluded_vmemmap: status & DH_EXCLUDED_VMEMMAP != 0,
            block_size: block_size as u32,
            sub_hdr_size: sub_hdr_size as u32,
            bitmap_blocks,
            max_mapnr,
            total_ram_blocks: u32at(&h, 444),
            device_blocks: u32at(&h, 448),
            written_blocks: u32at(&h, 452),
            current_cpu: u32at(&h, 456),
            nr_cpus: i32at(&h, 460),
            phys_base,
            dump_level,
            two_bitmaps,
            dumped_pages: total,
        };
        Ok(KdumpDump {
            header,
            bitmap1,
            bitmap2,
            rank,
            desc_start,
            written_up_to,
            cache: PageCache::new(cache_pages),
            decompressed: std::sync::atomic::AtomicU64::new(0),
        })
    }

    pub(crate) fn max_pfn(&self) -> u64 {
        self.bitmap2.nbits
    }

    pub(crate) fn page_state(&self, src: &Source, pfn: u64) -> PageState {
        self.classify(src, pfn).0
    }

    /// The page's state and, when present, the file offset of its page descriptor.
    fn classify(&self, src: &Source, pfn: u64) -> (PageState, u64) {
        if pfn >= self.bitmap2.nbits {
            return (PageState::Absent, 0);
        }
        if test_bit(&self.bitmap2.bytes(src), pfn) {
            let desc = self.desc_start + self.rank(src, pfn) * PAGE_DESC_SIZE;
            // A descriptor beyond the end of the file (incomplete or cut dump).
            if desc + PAGE_DESC_SIZE > src.len() {
                return (PageState::Truncated, 0);
            }
            (PageState::Present, desc)
        } else if test_bit(&self.bitmap1.bytes(src), pfn) {
            (
                PageState::Excluded {
                    dump_level: Some(self.header.dump_level),
                },
                0,
            )
        } else {
            (PageState::Absent, 0)
        }
    }

    /// Set bits of the 2nd bitmap below `pfn`.
    fn rank(&self, src: &Source, pfn: u64) -> u64 {
        let bm = self.bitmap2.bytes(src);
        let block = pfn / RANK_BLOCK_BITS;
        let mut n = self.rank[block as usize];
        let first_word = (block * RANK_BLOCK_BITS / 64) as usize;
        let last_word = (pfn / 64) as usize;
        for w in first_word..last_word {
            n += word(&bm, w).count_ones() as u64;
        }
        let partial = word(&bm, last_word) & ((1u64 << (pfn % 64)) - 1);
        n + partial.count_ones() as u64
    }

    /// Calls `f` with the contents of page `pfn`.
    fn with_page<R>(
        &self,
        src: &Source,
        pfn: u64,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, PhysError> {
        // Only present pages are ever cached.
        if let Some(p) = self.cache.get(pfn) {
            return Ok(f(&p));
        }
        match self.locate(src, pfn)? {
            // Raw pages (including the shared zero page) are read in place, uncached.
            Located::Raw(data) => Ok(f(&data)),
            Located::Compressed(comp, data, desc) => {
                // Decompressed straight into the cache's buffer (collecting zeros into an
                // `Arc<[u8]>` allocates it once, with no copy).
                let mut page: Arc<[u8]> =
                    std::iter::repeat_n(0u8, self.header.block_size as usize).collect();
                let buf = Arc::get_mut(&mut page).expect("a new Arc is unique");
                self.inflate(comp, &data, buf, &desc)?;
                let r = f(&page);
                self.cache.insert(pfn, page);
                Ok(r)
            }
        }
    }

    /// Fills `out` (exactly one page) with page `pfn`. The first time a page is read whole
    /// it is decompressed straight into `out` and not cached (see [`PageCache`]).
    fn read_whole_page(&self, src: &Source, pfn: u64, out: &mut [u8]) -> Result<(), PhysError> {
        if let Some(p) = self.cache.get(pfn) {
            out.copy_from_slice(&p);
            return Ok(());
        }
        match self.locate(src, pfn)? {
            Located::Raw(data) => out.copy_from_slice(&data),
            Located::Compressed(comp, data, desc) => {
                if self.cache.first_whole_read(pfn) {
                    self.inflate(comp, &data, out, &desc)?;
                } else {
                    let mut page: Arc<[u8]> =
                        std::iter::repeat_n(0u8, self.header.block_size as usize).collect();
                    let buf = Arc::get_mut(&mut page).expect("a new Arc is unique");
                    self.inflate(comp, &data, buf, &desc)?;
                    out.copy_from_slice(&page);
                    self.cache.insert(pfn, page);
                }
            }
        }
        Ok(())
    }

    /// Decompresses one page's data into `out`, which must be filled exactly.
    fn inflate(
        &self,
        comp: Compression,
        data: &[u8],
        out: &mut [u8],
        desc: &Desc,
    ) -> Result<(), PhysError> {
        let n = decompress(comp, data, out).map_err(|e| desc.corrupt(e))?;
        if n != out.len() {
            return Err(desc.corrupt(format!(
                "{} data decompresses to {n} bytes, not {}",
                comp.name(),
                out.len()
            )));
        }
        self.decompressed
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }

    /// Finds page `pfn`'s data in the file: raw, or compressed (with an error maker that
    /// describes its page descriptor).
    fn locate<'s>(&self, src: &'s Source, pfn: u64) -> Result<Located<'s>, PhysError> {
        let bs = self.header.block_size as u64;
        let paddr = pfn * bs;
        let err = move |failure| PhysError { paddr, failure };
        let (state, desc_off) = self.classify(src, pfn);
        match state {
            PageState::Present => {}
            PageState::Truncated => {
                return Err(err(ReadFailure::Truncated(format!(
                    "its page descriptor lies beyond the end of the file{}",
                    if self.header.incomplete {
                        " (the dump is marked incomplete)"
                    } else {
                        ""
                    }
                ))));
            }
            PageState::Excluded { dump_level } => {
                return Err(err(ReadFailure::Excluded { dump_level }));
            }
            PageState::Absent => return Err(err(ReadFailure::Absent)),
        }
        let d = src
            .get(desc_off, PAGE_DESC_SIZE as usize)
            .map_err(|e| err(ReadFailure::Corrupt(format!("page descriptor: {e}"))))?;
        let offset = u64at(&d, 0);
        let size = u32at(&d, 8) as u64;
        let flags = u32at(&d, 12);
        let desc = Desc {
            paddr,
            at: desc_off,
            offset,
            size,
            flags,
        };
        let corrupt = |what: String| desc.corrupt(what);
        if offset == 0 || offset < self.desc_start {
            return Err(if self.header.incomplete {
                err(ReadFailure::Truncated(format!(
                    "its page was never written (the dump is marked incomplete{})",
                    match self.written_up_to {
                        Some(p) => format!(": makedumpfile stopped after pfn {p:#x}"),
                        None => String::new(),
                    }
                )))
            } else {
                corrupt("data offset points into the headers".into())
            });
        }
        if size == 0 || size > 2 * bs {
            return Err(corrupt("implausible compressed size".into()));
        }
        if offset.saturating_add(size) > src.len() {
            return Err(if self.header.incomplete {
                err(ReadFailure::Truncated(
                    "its data lies beyond the end of the file (the dump is marked incomplete)"
                        .into(),
                ))
            } else {
                // The descriptor is whole but the data is not there: a cut file.
                err(ReadFailure::Truncated(format!(
                    "its data lies beyond the end of the file ({:#x} bytes; truncated file)",
                    src.len()
                )))
            });
        }
        let data = src
            .get(offset, size as usize)
            .map_err(|e| corrupt(e.to_string()))?;
        let comp = Compression::from_flags(flags)
            .map_err(|_| corrupt("several compression flags".into()))?;
        if comp == Compression::None {
            if size != bs {
                return Err(corrupt(format!("uncompressed page of {size} bytes")));
            }
            return Ok(Located::Raw(data));
        }
        Ok(Located::Compressed(comp, data, desc))
    }

    pub(crate) fn read_phys(
        &self,
        src: &Source,
        paddr: u64,
        buf: &mut [u8],
    ) -> Result<(), PhysError> {
        let bs = self.header.block_size as u64;
        let mut done = 0usize;
        while done < buf.len() {
            let pa = paddr.checked_add(done as u64).ok_or(PhysError {
                paddr,
                failure: ReadFailure::Absent,
            })?;
            let in_page = (pa % bs) as usize;
            let n = (bs as usize - in_page).min(buf.len() - done);
            let r = if n == bs as usize {
                self.read_whole_page(src, pa / bs, &mut buf[done..done + n])
            } else {
                self.with_page(src, pa / bs, |p| {
                    buf[done..done + n].copy_from_slice(&p[in_page..in_page + n])
                })
            };
            r.map_err(|mut e| {
                e.paddr = pa;
                e
            })?;
            done += n;
        }
        Ok(())
    }
}

thread_local! {
    // Decompression contexts are reused per thread: making one per page costs more than the
    // decompression itself.
    static ZLIB: std::cell::RefCell<libdeflater::Decompressor> =
        std::cell::RefCell::new(libdeflater::Decompressor::new());
    static ZSTD: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
}

fn decompress(comp: Compression, input: &[u8], out: &mut [u8]) -> Result<usize, String> {
    match comp {
        Compression::None => unreachable!("raw pages are not decompressed"),
        // One whole zlib stream (header, deflate data, Adler-32 checked) that must fill the
        // page exactly: libdeflate refuses a stream that would write past `out`.
        Compression::Zlib => ZLIB.with(|z| {
            z.borrow_mut()
                .zlib_decompress(input, out)
                .map_err(|e| match e {
                    libdeflater::DecompressionError::InsufficientSpace => {
                        format!(
                            "zlib stream does not end within a page ({} bytes)",
                            out.len()
                        )
                    }
                    libdeflater::DecompressionError::BadData => {
                        "zlib: corrupt deflate data or checksum".to_string()
                    }
                })
        }),
        Compression::Lzo => crate::lzo::decompress(input, out).map_err(|e| e.to_string()),
        Compression::Snappy => {
            match snap::raw::decompress_len(input) {
                Ok(n) if n == out.len() => {}
                Ok(n) => return Err(format!("snappy data claims {n} bytes, not a page")),
                Err(e) => return Err(format!("snappy: {e}")),
            }
            snap::raw::Decoder::new()
                .decompress(input, out)
                .map_err(|e| format!("snappy: {e}"))
        }
        Compression::Zstd => ZSTD.with(|z| {
            let mut z = z.borrow_mut();
            if z.is_none() {
                *z = Some(zstd::bulk::Decompressor::new().map_err(|e| format!("zstd: {e}"))?);
            }
            z.as_mut()
                .expect("set above")
                .decompress_to_buffer(input, out)
                .map_err(|e| format!("zstd: {e}"))
        }),
    }
}
