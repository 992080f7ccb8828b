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

/// How far past `_stext` the tables are looked for (text, rodata: the kernel image).
const SCAN_LIMIT: u64 = 256 << 20;
/// Read this much at a time.
const CHUNK: usize = 1 << 20;
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
    let mut buf = vec![0u8; CHUNK + 512];
    for at in starts {
        // Each chunk overlaps the next by 512 bytes so an index across the seam is seen.
        let n = buf.len();
        if mem.read(at, &mut buf[..n]).is_err() {
            // A page missing from the dump: read page by page, leaving holes as zeros.
            buf.fill(0);
            for p in (0..n).step_by(4096) {
                let len = 4096.min(n - p);
                let _ = mem.read(at + p as u64, &mut buf[p..p + len]);
            }
        }
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
    // Their count is not known yet: try each, the right one is confirmed by num_syms.
    for count in 1..=MAX_SYMS.div_ceil(256) {
        let markers = table.checked_sub(align8(4 * count))?;
        if mem.read_u32(markers).ok()? != 0 {
            continue;
        }
        // The names end within 8 bytes before the markers; the last marker is inside them.
        let last_marker = if count > 1 {
            u64::from(mem.read_u32(markers + 4 * (count - 1)).ok()?)
        } else {
            0
        };
        if let Some(a) = names_before(mem, markers, count, last_marker, table, index, stext) {
            return Some(a);
        }
        if count > 4096 {
            break; // far past any kernel's symbol count for the markers seen so far
        }
    }
    None
}

/// `kallsyms_num_syms` and `kallsyms_names` before the markers at `markers` (`count` of
/// them), then `relative_base` and `offsets` before those.
fn names_before(
    mem: &dyn KernelMemory,
    markers: u64,
    count: u64,
    last_marker: u64,
    token_table: u64,
    token_index: u64,
    stext: u64,
) -> Option<KallsymsAddrs> {
    // num_syms is 8 bytes before the names; try each 8-aligned place back to a plausible
    // table size (a name entry is at most 256 bytes; a few bytes on average).
    let lo = (count - 1) * 256 + 1;
    let hi = count * 256;
    let names_max = hi * 256;
    let mut s = markers.checked_sub(16)?;
    let floor = markers.saturating_sub(names_max + 16);
    // The names before the last marker are at least last_marker bytes long.
    s = s.min(markers.checked_sub(last_marker + 16)?);
    while s >= floor {
        let n = u64::from(mem.read_u32(s).ok()?);
        if (lo..=hi).contains(&n)
            && let Some(end) = names_end(mem, s + 8, n, markers)
            && align8(end) == markers
        {
            let relative_base = s.checked_sub(8)?;
            let base = mem.read_u64(relative_base).ok()?;
            // The base is in the kernel image, at or below _stext.
            if base > stext || stext - base > (64 << 20) {
                s -= 8;
                continue;
            }
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
        s = s.checked_sub(8)?;
    }
    None
}

/// Where `n` name entries starting at `names` end, if they end before `limit`.
fn names_end(mem: &dyn KernelMemory, names: u64, n: u64, limit: u64) -> Option<u64> {
    let len = limit.checked_sub(names)?;
    let bytes = mem.read_vec(names, len as usize).ok()?;
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
    Some(names + p as u64)
}
