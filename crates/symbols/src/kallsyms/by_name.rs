//! A few symbols found by name without expanding the table: the binary search over
//! `kallsyms_seqs_of_names` that the kernel's own `kallsyms_lookup_name()` does.
//!
//! `scripts/kallsyms.c` of 6.2+ (and Debian's 6.1.y, which has it backported) emits, for
//! each symbol in name order (`strcmp` of the name without its type char, ties in table
//! order), its index in the table as a big-endian 24-bit number. With `kallsyms_markers`
//! (where every 256th name starts) a probe expands one name, so finding a name costs about
//! `log2(num_syms)` probes and a few dozen pages, where expanding every name costs hundreds:
//! opening a dump can start reading BTF at once.
//!
//! VMCOREINFO names neither table, so both are found from the tables it names, by the
//! layout `scripts/kallsyms.c` writes (each table `.balign 8`): 6.2+ puts the markers just
//! before `kallsyms_token_table` and the sequence numbers just after
//! `kallsyms_relative_base`; 6.1.y puts the sequence numbers between the markers and
//! `kallsyms_token_table`. A layout is used only when its markers check out (0 first,
//! rising, the last run of names ending where the markers start); every name found is
//! expanded and compared, and `_stext` confirms how offsets become addresses, so a wrong
//! guess can only make the search find nothing, never the wrong symbol.

use super::{
    AddressEncoding, KallsymsAddrs, MAX_KALLSYMS, Stream, Tokens, decode_names, read_tokens,
};
use crate::table::{SymbolOrigin, SymbolTable};
use holdup_kmem::KernelMemory;
use rayon::prelude::*;
use std::borrow::Cow;

/// Names are read a page at a time: a probe needs a few hundred bytes.
const PROBE_CHUNK: usize = 4096;

/// The kernel's kallsyms, searchable by name: the tables found and checked, `_stext`
/// found and the address encoding it confirms.
pub struct KallsymsByName<'m> {
    mem: &'m dyn KernelMemory,
    addrs: KallsymsAddrs,
    num: u32,
    tokens: Tokens,
    /// Where every 256th name starts, from `kallsyms_names`.
    markers: Vec<u32>,
    /// Bytes of `kallsyms_names` up to the markers.
    names_len: u64,
    seqs: u64,
    relative_base: u64,
    encoding: AddressEncoding,
}

impl<'m> KallsymsByName<'m> {
    /// Finds the tables of the kernel in `mem`; `None` when they cannot be searched by name
    /// (no `kallsyms_seqs_of_names` where either layout puts it, or `_stext` not found or
    /// not where VMCOREINFO says): expand the whole table then ([`super::Kallsyms`]).
    pub fn new(mem: &'m dyn KernelMemory, addrs: KallsymsAddrs) -> Option<Self> {
        let num = mem.read_u32(addrs.num_syms).ok()?;
        if num == 0 || num > MAX_KALLSYMS {
            return None;
        }
        let mut s = KallsymsByName {
            mem,
            addrs,
            num,
            tokens: Tokens::new(read_tokens(mem, &addrs).ok()?),
            markers: Vec::new(),
            names_len: 0,
            seqs: 0,
            relative_base: mem.read_u64(addrs.relative_base).ok()?,
            encoding: AddressEncoding::BaseRelative,
        };
        let align8 = |n: u64| n.div_ceil(8) * 8;
        let markers_len = align8(4 * u64::from(num).div_ceil(256));
        let mut layouts = Vec::with_capacity(2);
        if addrs.relative_base > addrs.token_table {
            // 6.2+: ... names, markers, token table, token index, offsets, relative base,
            // sequence numbers.
            layouts.push((
                addrs.token_table.wrapping_sub(markers_len),
                addrs.relative_base.wrapping_add(8),
            ));
        }
        // 6.1.y: ... names, markers, sequence numbers, token table, token index.
        let seqs = addrs.token_table.wrapping_sub(3 * u64::from(num)) & !7;
        layouts.push((seqs.wrapping_sub(markers_len), seqs));
        if !layouts.into_iter().any(|(m, q)| s.check(m, q)) {
            return None;
        }
        let (stext, _) = s.find(b"_stext")?;
        let off = s.offset(stext)?;
        s.encoding = AddressEncoding::ALL
            .into_iter()
            .find(|e| e.decode(off, stext, &addrs, s.relative_base) == addrs.stext)?;
        Some(s)
    }

    /// `kallsyms_num_syms`.
    pub fn num_syms(&self) -> u32 {
        self.num
    }

    /// Which address encoding matched `_stext`.
    pub fn encoding(&self) -> AddressEncoding {
        self.encoding
    }

    /// The address and type char of the first symbol named `name` (as a lookup in the
    /// whole table gives), if the kernel has one.
    pub fn lookup(&self, name: &str) -> Option<(u64, u8)> {
        let (i, kind) = self.find(name.as_bytes())?;
        let addr = self
            .encoding
            .decode(self.offset(i)?, i, &self.addrs, self.relative_base);
        Some((addr, kind))
    }

    /// A table of the symbols named in `names` that the kernel has (looked up in
    /// parallel): for answers that need a known few (`holdup info`), where expanding the
    /// whole table would be most of the work.
    pub fn table(&self, names: &[&str]) -> SymbolTable {
        let found: Vec<Option<(u64, u8)>> = names.par_iter().map(|n| self.lookup(n)).collect();
        let mut table = SymbolTable::new(SymbolOrigin::Kallsyms {
            encoding: self.encoding,
        });
        for (name, found) in names.iter().zip(found) {
            if let Some((addr, kind)) = found {
                table.push(name, kind, addr, 0, None);
            }
        }
        table
    }

    /// Takes `markers_at` and `seqs` if the markers there describe the names table.
    fn check(&mut self, markers_at: u64, seqs: u64) -> bool {
        let Some(names_len) = markers_at.checked_sub(self.addrs.names) else {
            return false;
        };
        let num = self.num as usize;
        // Every name takes at least 2 bytes (a length and a token).
        if names_len < 2 * num as u64 || names_len > super::MAX_NAMES_BYTES {
            return false;
        }
        let count = num.div_ceil(256);
        let Ok(raw) = self.mem.read_vec(markers_at, 4 * count) else {
            return false;
        };
        let markers: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let rising = markers.windows(2).all(|w| w[1] >= w[0].saturating_add(512));
        if markers.first() != Some(&0) || !rising {
            return false;
        }
        self.markers = markers;
        self.names_len = names_len;
        self.seqs = seqs;
        // The last run of names must end where the markers start (give or take the
        // alignment), and the sequence numbers must be indices.
        let last = count - 1;
        let mut names = self.names_from(last);
        let ends_at_markers = skip_names(&mut names, num - 256 * last)
            .is_some_and(|()| names.pos + u64::from(self.markers[last]) + 8 > names_len);
        ends_at_markers && self.seq(0).is_some() && self.seq(num - 1).is_some()
    }

    /// A reader of the names table from the start of run `run` (symbol `256 * run`).
    fn names_from(&self, run: usize) -> Stream<'m> {
        let start = u64::from(self.markers[run]);
        Stream {
            mem: self.mem,
            base: self.addrs.names.wrapping_add(start),
            buf: Cow::Owned(Vec::new()),
            buf_off: 0,
            pos: 0,
            limit: self.names_len.saturating_sub(start),
            chunk: PROBE_CHUNK,
            what: "kallsyms_names",
        }
    }

    /// The table index of the `k`-th name in name order.
    fn seq(&self, k: usize) -> Option<usize> {
        let mut b = [0u8; 3];
        self.mem
            .read(self.seqs.wrapping_add(3 * k as u64), &mut b)
            .ok()?;
        let i = (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]);
        (i < self.num as usize).then_some(i)
    }

    /// `kallsyms_offsets[i]`.
    fn offset(&self, i: usize) -> Option<i32> {
        self.mem
            .read_u32(self.addrs.offsets.wrapping_add(4 * i as u64))
            .ok()
            .map(|o| o as i32)
    }

    /// Symbol `i`'s name (without its type char) and type char.
    fn name(&self, i: usize) -> Option<(Vec<u8>, u8)> {
        let mut names = self.names_from(i / 256);
        skip_names(&mut names, i % 256)?;
        let d = decode_names(&mut names, &self.tokens, i, 1).ok()?;
        let kind = d.entries.first()?.2;
        Some((d.arena, kind))
    }

    /// The table index and type char of the first symbol named `target`.
    fn find(&self, target: &[u8]) -> Option<(usize, u8)> {
        // The first position in name order whose name is not below `target`.
        let (mut lo, mut hi) = (0usize, self.num as usize);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.name(self.seq(mid)?)?.0.as_slice() < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let i = self.seq(lo)?;
        let (name, kind) = self.name(i)?;
        (name == target).then_some((i, kind))
    }
}

/// Moves `names` past `n` names (length bytes and tokens) without expanding them.
fn skip_names(names: &mut Stream, n: usize) -> Option<()> {
    for _ in 0..n {
        let b = names.take(1).ok()?[0];
        let len = if b & 0x80 != 0 {
            let hi = names.take(1).ok()?[0];
            if hi & 0x80 != 0 {
                return None;
            }
            usize::from(b & 0x7f) | (usize::from(hi) << 7)
        } else {
            usize::from(b)
        };
        names.take(len).ok()?;
    }
    Some(())
}
