//! Finding the kallsyms tables in the kernel image by their structure, for kernels whose
//! VMCOREINFO does not name them (before 6.0: the `SYMBOL(kallsyms_*)` entries came with
//! 6.0's vmcore support for kallsyms).
//!
//! `scripts/kallsyms.c` writes, each table 8-aligned (`.balign 8`), in this order:
//! `kallsyms_offsets` (`.long` each), `kallsyms_relative_base` (`.quad`),
//! `kallsyms_num_syms` (`.long`), `kallsyms_names` (a length byte and that many token
//! bytes per symbol), `kallsyms_markers` (`.long`: the offset in `names` of every 256th
//! symbol), `kallsyms_token_table` (256 NUL-terminated strings) and `kallsyms_token_index`
//! (256 `.short` offsets into the token table). The token index is the most recognisable:
//! it starts at 0 and climbs by each token's length plus one, and the token table right
//! before it must have a NUL at each of those places. From it the other tables are found
//! backwards, each checked against the others: the markers climb from 0 and number
//! `ceil(num_syms / 256)`, the names decode to exactly `num_syms` entries that end where the
//! markers begin, and `relative_base` lies in the kernel image. The caller then decodes the
//! tables and checks `_stext` (VMCOREINFO has it on every kernel), as for tables VMCOREINFO
//! names.

use super::KallsymsAddrs;
use holdup_kmem::KernelMemory;
use rayon::prelude::*;

/// How far past `_stext` the tables are looked for (text, rodata: the kernel image).
const SCAN_LIMIT: u64 = 256 << 20;
/// Read this much at a time.
const CHUNK: usize = 1 << 20;
/// Probes for `kallsyms_offsets` this far apart (see [`probe_for_offsets`]).
const PROBE_STRIDE: u64 = 64 << 10;
/// Probes read at once.
const PROBE_BATCH: usize = 16;
/// Chunks searched up from a page of offsets for the token index (the names between them
/// take a few MiB at most).
const TABLE_CHUNKS: u64 = 8;
/// Pages that looked like offsets but led to no tables before the probing gives up.
const MAX_FALSE_HITS: usize = 4;
/// Largest step between two sorted symbol offsets believed (a few MiB: the largest gaps
/// in a kernel's text and data).
const MAX_SYMBOL_GAP: i64 = 64 << 20;
/// Most symbols believed (as for tables VMCOREINFO names).
const MAX_SYMS: u64 = 4_000_000;

fn align8(v: u64) -> u64 {
    (v + 7) & !7
}

/// The token index at `buf[at..]`, if it looks like one: 256 u16, the first 0, each next
/// larger by 2..=64 (a token of 1..=63 bytes and its NUL).
fn token_index_at(buf: &[u8], at: usize) -> Option<[u16; 256]> {
    let b = buf.get(at..at + 512)?;
    let mut idx = [0u16; 256];
    for (i, v) in idx.iter_mut().enumerate() {
        *v = u16::from_le_bytes([b[2 * i], b[2 * i + 1]]);
        if i == 0 {
            if *v != 0 {
                return None;
            }
        } else {
            let d = v.checked_sub(idx_prev(&b[..2 * i]))?;
            if !(2..=64).contains(&d) {
                return None;
            }
        }
    }
    Some(idx)
}

fn idx_prev(b: &[u8]) -> u16 {
    let n = b.len();
    u16::from_le_bytes([b[n - 2], b[n - 1]])
}

/// Finds the kallsyms tables in the kernel image from `stext` on. `data`, when known, is an
/// address in the image's data (a VMCOREINFO symbol such as `init_top_pgt`): the tables are in
/// the read-only data just below it, so the scan goes down from there first, and only then
/// through the rest. `None` when no consistent set of tables is there.
pub fn scan(mem: &dyn KernelMemory, stext: u64, data: Option<u64>) -> Option<KallsymsAddrs> {
    let stext = stext & !7;
    let end = stext.saturating_add(SCAN_LIMIT);
    let chunk = CHUNK as u64;
    let mut starts: Vec<u64> = Vec::new();
    match data.filter(|&d| d > stext && d < end) {
        Some(d) => {
            let top = stext + (d - stext) / chunk * chunk;
            starts.extend((0..=(top - stext) / chunk).map(|i| top - i * chunk));
            starts.extend((1..).map(|i| top + i * chunk).take_while(|&a| a < end));
        }
        None => starts.extend((0..).map(|i| stext + i * chunk).take_while(|&a| a < end)),
    }
    if let Some(a) = data.and_then(|d| probe_for_offsets(mem, stext, d)) {
        return Some(a);
    }
    // Chunks are read and searched a core's worth at a time, in the order above: most of
    // the time goes into decompressing their pages, and the first batch that holds the
    // tables ends the search (a wider fan-out would decompress chunks far from them).
    let batch = rayon::current_num_threads().max(1);
    for group in starts.chunks(batch) {
        let found: Vec<Option<KallsymsAddrs>> = group
            .par_iter()
            .map(|&at| tables_in_chunk(mem, at, stext))
            .collect();
        if let Some(a) = found.into_iter().flatten().next() {
            return Some(a);
        }
    }
    None
}

/// The quick way down from `data`: one page every [`PROBE_STRIDE`] until a page of
/// `kallsyms_offsets` is met (the first table, hundreds of KiB long: several probes land in
/// it), then the chunks from there up, where the token index that ends the tables is. Most
/// of the read-only data between the tables and `data` (BTF, the export tables...) is never
/// decompressed. `None` when no probe leads to tables: the caller then reads every chunk.
fn probe_for_offsets(mem: &dyn KernelMemory, stext: u64, data: u64) -> Option<KallsymsAddrs> {
    let top = data & !(PROBE_STRIDE - 1);
    let probes: Vec<u64> = (0..)
        .map(|i| top.wrapping_sub(i * PROBE_STRIDE))
        .take_while(|&a| a >= stext && a <= top)
        .collect();
    let mut tried = 0;
    for group in probes.chunks(PROBE_BATCH) {
        let hits: Vec<u64> = group
            .par_iter()
            .filter(|&&at| {
                let mut page = [0u8; 4096];
                mem.read(at, &mut page).is_ok() && looks_like_offsets(&page)
            })
            .copied()
            .collect();
        for hit in hits {
            let first = hit & !(CHUNK as u64 - 1);
            let found = (0..TABLE_CHUNKS)
                .map(|i| first + i * CHUNK as u64)
                .find_map(|at| tables_in_chunk(mem, at, stext));
            if found.is_some() {
                return found;
            }
            tried += 1;
            if tried >= MAX_FALSE_HITS {
                return None;
            }
        }
    }
    None
}

/// Whether a page holds only `kallsyms_offsets`: 1024 `.long`s sorted by the address they
/// encode, so monotonic (rising when offsets grow with addresses; falling for the negative
/// offsets of the absolute-percpu encoding), each step under [`MAX_SYMBOL_GAP`], and not one
/// value repeated (zeros, fill patterns).
fn looks_like_offsets(page: &[u8; 4096]) -> bool {
    let v: Vec<i64> = page
        .chunks_exact(4)
        .map(|c| i64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    let steps = || v.windows(2).map(|w| w[1] - w[0]);
    let rising = steps().all(|d| (0..MAX_SYMBOL_GAP).contains(&d));
    let falling = steps().all(|d| (0..MAX_SYMBOL_GAP).contains(&-d));
    let moves = steps().filter(|&d| d != 0).count();
    (rising || falling) && moves >= v.len() / 4
}

/// The tables, if a token index that leads to them starts in the chunk at `at`.
fn tables_in_chunk(mem: &dyn KernelMemory, at: u64, stext: u64) -> Option<KallsymsAddrs> {
    // Each chunk overlaps the next by 512 bytes so an index across the seam is seen.
    let mut buf = vec![0u8; CHUNK + 512];
    fill_lossy(mem, at, &mut buf);
    for off in (0..CHUNK).step_by(8) {
        if buf[off] != 0 || buf[off + 1] != 0 {
            continue;
        }
        let Some(idx) = token_index_at(&buf, off) else {
            continue;
        };
        if let Some(a) = tables_before(mem, at + off as u64, &idx, stext) {
            return Some(a);
        }
    }
    None
}

/// The other tables, found backwards from a token index at `index`.
fn tables_before(
    mem: &dyn KernelMemory,
    index: u64,
    idx: &[u16; 256],
    stext: u64,
) -> Option<KallsymsAddrs> {
    // The token table: the last token ends with a NUL within 64 bytes, and every token ends
    // with a NUL right before the next begins.
    let last = u64::from(idx[255]);
    let mut tail = [0u8; 64];
    let guess = index.checked_sub(align8(last + 2))?;
    mem.read(guess.wrapping_add(last), &mut tail).ok()?;
    let last_len = tail.iter().position(|&c| c == 0)? as u64;
    let table = index.checked_sub(align8(last + last_len + 1))?;
    let tt = mem.read_vec(table, (last + last_len + 1) as usize).ok()?;
    if (1..256).any(|i| tt[usize::from(idx[i]) - 1] != 0) || tt.first() == Some(&0) {
        return None;
    }
    // The markers end where the token table begins (8-aligned); markers[0] = 0, climbing.
    // Their count is not known yet: every count whose first marker is 0 is a candidate (two
    // counts share a start when 4 bytes of padding follow), confirmed by num_syms below.
    let mut candidates = Vec::new();
    for count in 1..=MAX_SYMS.div_ceil(256).min(4096) {
        let markers = table.checked_sub(align8(4 * count))?;
        if mem.read_u32(markers).ok()? != 0 {
            continue;
        }
        // Every marker is larger than the one before (zeros are no markers).
        let Ok(m) = mem.read_vec(markers, 4 * count as usize) else {
            continue;
        };
        let values: Vec<u32> = m
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        if values.windows(2).any(|w| w[1] <= w[0]) {
            continue;
        }
        // The names end within 8 bytes before the markers; the last marker is inside them.
        let last_marker = u64::from(*values.last()?);
        candidates.push((markers, count, last_marker));
    }
    // Names average about 12 bytes an entry; a wider region is read only if needed.
    for per_entry in [16, 64, 256] {
        for &(markers, count, last_marker) in &candidates {
            if let Some(a) = names_before(
                mem,
                markers,
                count,
                last_marker,
                per_entry,
                (table, index),
                stext,
            ) {
                return Some(a);
            }
        }
    }
    None
}

/// Most bytes of `kallsyms_names` believed (a kernel of 200,000 symbols has about 2.5 MiB).
const MAX_NAMES: u64 = 16 << 20;

/// `kallsyms_num_syms` and `kallsyms_names` before the markers at `markers` (`count` of
/// them), then `relative_base` and `offsets` before those. The region the names can be in is
/// read once and searched in memory.
#[allow(clippy::too_many_arguments)]
fn names_before(
    mem: &dyn KernelMemory,
    markers: u64,
    count: u64,
    last_marker: u64,
    per_entry: u64,
    (token_table, token_index): (u64, u64),
    stext: u64,
) -> Option<KallsymsAddrs> {
    let (lo, hi) = ((count - 1) * 256 + 1, count * 256);
    // A name entry is a length byte and at most 255 bytes: `per_entry` bytes an entry on
    // average is assumed for the region searched.
    let span = (hi * per_entry + 16)
        .max(last_marker + 256 * 256 + 16)
        .min(MAX_NAMES)
        .min(markers.saturating_sub(stext));
    let floor = (markers - span) & !7;
    let region = read_lossy(mem, floor, (markers - floor) as usize);
    let at = |a: u64| (a - floor) as usize;
    let u32_at = |a: u64| {
        let i = at(a);
        region
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    // The names before the last marker are at least last_marker bytes long.
    let mut s = markers
        .checked_sub(16)?
        .min(markers.checked_sub(last_marker + 16)?);
    while s >= floor {
        let n = u64::from(u32_at(s)?);
        if (lo..=hi).contains(&n)
            && let Some(end) = names_end(&region[at(s + 8)..], n)
            && align8(s + 8 + end) == markers
        {
            let relative_base = s.checked_sub(8)?;
            let base = mem.read_u64(relative_base).ok()?;
            // The base is in the kernel image, at or a little below _stext.
            if base <= stext && stext - base <= (64 << 20) {
                let offsets = relative_base.checked_sub(align8(4 * n))?;
                return Some(KallsymsAddrs {
                    names: s + 8,
                    num_syms: s,
                    token_table,
                    token_index,
                    offsets,
                    relative_base,
                    stext,
                });
            }
        }
        s = s.checked_sub(8)?;
    }
    None
}

/// How many bytes `n` name entries take at the start of `bytes`, if they fit.
fn names_end(bytes: &[u8], n: u64) -> Option<u64> {
    let mut p = 0usize;
    for _ in 0..n {
        let l = *bytes.get(p)? as usize;
        if l == 0 {
            return None;
        }
        p += 1 + l;
        if p > bytes.len() {
            return None;
        }
    }
    Some(p as u64)
}

/// Fills `buf` from `addr`; pages missing from the dump (freed init memory, say) read as
/// zeros, where no table can be.
fn fill_lossy(mem: &dyn KernelMemory, addr: u64, buf: &mut [u8]) {
    if mem.read(addr, buf).is_ok() {
        return;
    }
    buf.fill(0);
    let mut p = 0usize;
    while p < buf.len() {
        let len = (4096 - ((addr + p as u64) & 0xfff) as usize).min(buf.len() - p);
        let _ = mem.read(addr + p as u64, &mut buf[p..p + len]);
        p += len;
    }
}

fn read_lossy(mem: &dyn KernelMemory, addr: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    fill_lossy(mem, addr, &mut v);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(values: impl Fn(i64) -> i64) -> [u8; 4096] {
        let mut p = [0u8; 4096];
        for (i, c) in p.chunks_exact_mut(4).enumerate() {
            c.copy_from_slice(&(values(i as i64) as i32).to_le_bytes());
        }
        p
    }

    #[test]
    fn sorted_offsets_are_recognised_either_way() {
        // base-relative: offsets grow with addresses; absolute-percpu: text symbols are
        // negative offsets that fall as addresses grow.
        assert!(looks_like_offsets(&page(|i| 0x1000 + i * 48)));
        assert!(looks_like_offsets(&page(|i| -0x2000 - i * 48)));
        // Aliases (two symbols at one address) are allowed.
        assert!(looks_like_offsets(&page(|i| 0x1000 + (i / 2) * 32)));
    }

    #[test]
    fn other_pages_are_not_offsets() {
        assert!(!looks_like_offsets(&[0u8; 4096]));
        assert!(!looks_like_offsets(&[0xffu8; 4096]));
        // One step back breaks the order.
        assert!(!looks_like_offsets(&page(|i| if i == 700 {
            0
        } else {
            0x1000 + i * 48
        })));
        // Mostly the same value: a fill, not a table.
        assert!(!looks_like_offsets(&page(|i| if i < 900 {
            7
        } else {
            7 + i
        })));
        // A step larger than any gap between symbols.
        assert!(!looks_like_offsets(&page(|i| if i < 512 {
            i
        } else {
            i + (1 << 30)
        })));
        // Pseudo-random words.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut p = [0u8; 4096];
        for b in p.iter_mut() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *b = x as u8;
        }
        assert!(!looks_like_offsets(&p));
    }
}
