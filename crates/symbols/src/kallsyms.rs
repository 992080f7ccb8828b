//! The kernel's compressed symbol table (`scripts/kallsyms.c`, `kernel/kallsyms.c`).
//!
//! ```text
//! kallsyms_num_syms      u32
//! kallsyms_names         per symbol: len (1 byte, or 2 if bit 7 set: 6.1+ "big symbols"),
//!                        then len token numbers; the expanded string is type char + name
//! kallsyms_token_table   256 NUL-terminated strings
//! kallsyms_token_index   u16[256], offsets into the token table
//! kallsyms_offsets       i32[num_syms]
//! kallsyms_relative_base u64, already KASLR-relocated
//! ```
//!
//! How offsets become addresses changed over time; all candidate encodings are computed for
//! `_stext` and the one equal to VMCOREINFO's `SYMBOL(_stext)` is used (as drgn and
//! makedumpfile do). No match is an error: the tables were misread.

use crate::table::{SymbolOrigin, SymbolTable};
use crate::{Result, SymbolError, read_err, read_prefix};
use holdup_kmem::KernelMemory;
use rayon::prelude::*;
use std::borrow::Cow;
use std::fmt;

mod by_name;
mod scan;
pub use by_name::{KallsymsByName, KallsymsIndex, KallsymsTables};

/// Most symbols accepted (Debian's 6.x kernels have about 150-200 thousand).
pub const MAX_KALLSYMS: u32 = 4_000_000;
/// Largest `kallsyms_names` table read (bytes).
const MAX_NAMES_BYTES: u64 = 64 << 20;
/// Longest token accepted.
const MAX_TOKEN: usize = 256;
/// Longest expanded symbol (type char + name); the kernel's KSYM_NAME_LEN is 512.
const MAX_EXPANDED: usize = 4096;
const CHUNK: usize = 64 << 10;

/// The VMCOREINFO `SYMBOL()` addresses of the kallsyms tables, KASLR-relocated as given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KallsymsAddrs {
    pub names: u64,
    pub num_syms: u64,
    pub token_table: u64,
    pub token_index: u64,
    pub offsets: u64,
    /// `kallsyms_relative_base`; 0 on kernels that have none (7.0+: offsets relative to
    /// their own place, `AddressEncoding::PlaceRelative`).
    pub relative_base: u64,
    /// `SYMBOL(_stext)`, for the self-check.
    pub stext: u64,
}

impl KallsymsAddrs {
    /// Collects the addresses from a VMCOREINFO lookup: `symbol("kallsyms_names")` must
    /// return the value of `SYMBOL(kallsyms_names)`. A missing entry is an error naming it.
    pub fn from_vmcoreinfo(symbol: impl Fn(&str) -> Option<u64>) -> Result<Self> {
        let get = |n: &str| {
            symbol(n).ok_or_else(|| SymbolError::MissingVmcoreinfo(format!("SYMBOL({n})")))
        };
        Ok(KallsymsAddrs {
            names: get("kallsyms_names")?,
            num_syms: get("kallsyms_num_syms")?,
            token_table: get("kallsyms_token_table")?,
            token_index: get("kallsyms_token_index")?,
            offsets: get("kallsyms_offsets")?,
            // 7.0 dropped it with place-relative offsets.
            relative_base: symbol("kallsyms_relative_base").unwrap_or(0),
            stext: get("_stext")?,
        })
    }

    /// Finds the tables in the kernel image by their structure, from `stext` (VMCOREINFO's
    /// `SYMBOL(_stext)`) on, down from `data` first when an address in the image's data is
    /// known: for kernels whose VMCOREINFO does not name them (before 6.0). The tables
    /// found still go through the same decoding and `_stext` check.
    pub fn scan(mem: &dyn KernelMemory, stext: u64, data: Option<u64>) -> Option<Self> {
        scan::scan(mem, stext, data)
    }
}

/// How `kallsyms_offsets[i]` becomes an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressEncoding {
    /// `relative_base + (u32)off` (`!KALLSYMS_ABSOLUTE_PERCPU`; 6.15+).
    BaseRelative,
    /// `off >= 0 ? off : relative_base - 1 - off` (x86_64 SMP up to 6.14; per-CPU symbols
    /// are absolute per-CPU offsets).
    AbsolutePercpu,
    /// `&kallsyms_offsets[i] + (s32)off` (7.0+).
    PlaceRelative,
}

impl AddressEncoding {
    const ALL: [AddressEncoding; 3] = [
        AddressEncoding::AbsolutePercpu,
        AddressEncoding::BaseRelative,
        AddressEncoding::PlaceRelative,
    ];

    fn decode(self, off: i32, i: usize, a: &KallsymsAddrs, base: u64) -> u64 {
        match self {
            AddressEncoding::BaseRelative => base.wrapping_add(u64::from(off as u32)),
            AddressEncoding::AbsolutePercpu => {
                if off >= 0 {
                    off as u64
                } else {
                    base.wrapping_sub(1).wrapping_sub(i64::from(off) as u64)
                }
            }
            AddressEncoding::PlaceRelative => a
                .offsets
                .wrapping_add(4 * i as u64)
                .wrapping_add(i64::from(off) as u64),
        }
    }
}

impl fmt::Display for AddressEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AddressEncoding::BaseRelative => "base-relative",
            AddressEncoding::AbsolutePercpu => "absolute-percpu",
            AddressEncoding::PlaceRelative => "place-relative",
        })
    }
}

/// The decoded kallsyms of the dumped kernel.
#[derive(Debug)]
pub struct Kallsyms {
    table: SymbolTable,
    encoding: AddressEncoding,
    names_len: u64,
}

/// Sequential reader of a table of unknown length, in chunks.
struct Stream<'m> {
    mem: &'m dyn KernelMemory,
    base: u64,
    buf: Cow<'m, [u8]>,
    /// Offset (from base) of `buf[0]`.
    buf_off: u64,
    pos: u64,
    limit: u64,
    /// Bytes read at a time.
    chunk: usize,
    what: &'static str,
}

impl Stream<'_> {
    /// The length of symbol `i`'s compressed name, read from where the stream is: one byte,
    /// or (6.1+) a 2-byte ULEB128 for names over 127 compressed bytes.
    fn take_name_len(&mut self, i: usize) -> Result<usize> {
        let b = self.take(1)?[0];
        if b & 0x80 == 0 {
            return Ok(usize::from(b));
        }
        let hi = self.take(1)?[0];
        if hi & 0x80 != 0 {
            return Err(SymbolError::Bad {
                field: "kallsyms_names".into(),
                detail: format!(
                    "symbol {i} at offset {:#x}: length longer than 2 bytes",
                    self.pos - 2
                ),
            });
        }
        Ok(usize::from(b & 0x7f) | (usize::from(hi) << 7))
    }

    fn fill(&mut self) -> Result<()> {
        if self.pos >= self.limit {
            return Err(SymbolError::Bad {
                field: self.what.into(),
                detail: format!("runs past {} bytes", self.limit),
            });
        }
        let addr = self.base.wrapping_add(self.pos);
        // Up to the next multiple of the chunk size: a probe of a few hundred bytes then
        // reads within one page.
        let chunk = self.chunk as u64;
        let n = (chunk - addr % chunk).min(self.limit - self.pos) as usize;
        let mut buf = vec![0; n];
        if self.mem.read(addr, &mut buf).is_err() {
            // The table may end just before an unreadable page: read less (up to the page
            // end, then halving) until what is needed next is read or provably unreadable.
            let mut n = buf.len().min((0x1000 - (addr & 0xfff)) as usize);
            loop {
                buf.truncate(n);
                match self.mem.read(addr, &mut buf) {
                    Ok(()) => break,
                    Err(e) if n == 1 => {
                        return Err(read_err(format!("{} at {addr:#x}", self.what))(e));
                    }
                    Err(_) => n /= 2,
                }
            }
        }
        self.buf = Cow::Owned(buf);
        self.buf_off = self.pos;
        Ok(())
    }

    /// The next `n` bytes.
    #[inline]
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let i = self.pos.wrapping_sub(self.buf_off);
        if i > self.buf.len() as u64 || self.buf.len() - (i as usize) < n {
            self.refill(n)?;
        }
        let i = (self.pos - self.buf_off) as usize;
        self.pos += n as u64;
        Ok(&self.buf[i..i + n])
    }

    /// Makes `buf` start at `pos` and hold at least `n` bytes, or says which byte is past
    /// the limit or unreadable.
    #[cold]
    fn refill(&mut self, n: usize) -> Result<()> {
        self.fill()?;
        while self.buf.len() < n {
            let at = self.pos + self.buf.len() as u64;
            if at >= self.limit {
                return Err(SymbolError::Bad {
                    field: self.what.into(),
                    detail: format!("runs past {} bytes", self.limit),
                });
            }
            let addr = self.base.wrapping_add(at);
            let want = (n - self.buf.len())
                .min((0x1000 - (addr & 0xfff)) as usize)
                .min((self.limit - at) as usize);
            let mut more = vec![0; want];
            self.mem
                .read(addr, &mut more)
                .map_err(read_err(format!("{} at {addr:#x}", self.what)))?;
            self.buf.to_mut().extend_from_slice(&more);
        }
        Ok(())
    }
}

/// Where `kallsyms_names` ends at the latest: the nearest other kallsyms table above it
/// (`scripts/kallsyms.c` emits `kallsyms_markers` and then `kallsyms_token_table` right
/// after the names, whatever the kernel version's order of the others). `None` when no
/// table lies above it within the size limit.
fn names_bound(a: &KallsymsAddrs, limit: u64) -> Option<u64> {
    [
        a.token_table,
        a.token_index,
        a.offsets,
        a.relative_base,
        a.num_syms,
    ]
    .into_iter()
    .filter(|&t| t > a.names)
    .min()
    .map(|t| t - a.names)
    .filter(|&len| len <= limit)
}

impl Kallsyms {
    /// Decodes every symbol from the tables VMCOREINFO points to and checks `_stext`.
    pub fn from_memory(mem: &dyn KernelMemory, addrs: KallsymsAddrs) -> Result<Kallsyms> {
        Self::from_memory_and(mem, addrs, &[], |_| ()).0
    }

    /// [`Kallsyms::from_memory`], and `early` run on the addresses of the symbols named in
    /// `wanted` as soon as a quick pass over the compressed names has found them, in parallel
    /// with the expansion of every name: the caller's next step (reading BTF, say) then
    /// overlaps with the slowest part of decoding. `early` runs only when the quick pass
    /// can be trusted (the whole table was read and `_stext` confirmed the address
    /// encoding); `None` otherwise, and the caller looks the names up in the table.
    pub fn from_memory_and<T: Send>(
        mem: &dyn KernelMemory,
        addrs: KallsymsAddrs,
        wanted: &[&str],
        early: impl FnOnce(&[Option<u64>]) -> T + Send,
    ) -> (Result<Kallsyms>, Option<T>) {
        let read = || -> Result<_> {
            let num = mem
                .read_u32(addrs.num_syms)
                .map_err(read_err("kallsyms_num_syms"))?;
            if num == 0 || num > MAX_KALLSYMS {
                return Err(SymbolError::Bad {
                    field: "kallsyms_num_syms".into(),
                    detail: format!("{num} symbols (accepted: 1..={MAX_KALLSYMS})"),
                });
            }
            let tokens = read_tokens(mem, &addrs)?;

            let offsets_raw = holdup_kmem::read_vec_parallel(mem, addrs.offsets, num as usize * 4)
                .map_err(read_err("kallsyms_offsets"))?;
            let base = match addrs.relative_base {
                0 => 0,
                at => mem
                    .read_u64(at)
                    .map_err(read_err("kallsyms_relative_base"))?,
            };

            // Names first (the type char comes with the name). The whole table is read at once,
            // in parallel (it is a megabyte or more: hundreds of pages to decompress), when the
            // next table bounds it; decoding then streams on past that if it must.
            let limit = MAX_NAMES_BYTES.min(u64::from(num) * (2 + 0x3fff));
            let (prefetched, split) = match names_bound(&addrs, limit) {
                Some(bound) => {
                    // Between the names and the next table VMCOREINFO names lie
                    // `kallsyms_markers` (a u32 per 256 symbols) and, from 6.2 (and in later
                    // 6.1.y), `kallsyms_seqs_of_names` (3 bytes a symbol): read without them
                    // first, and the rest only if the names turn out to run into it.
                    let others = 3 * u64::from(num) + 4 * u64::from(num).div_ceil(256);
                    let first = bound.saturating_sub(others).max(bound / 2);
                    let mut buf = holdup_kmem::read_vec_parallel(mem, addrs.names, first as usize)
                        .unwrap_or_default();
                    let mut split = split_names(&buf, num as usize, PIECES);
                    if split.is_none()
                        && buf.len() as u64 == first
                        && let Ok(rest) = holdup_kmem::read_vec_parallel(
                            mem,
                            addrs.names.wrapping_add(first),
                            (bound - first) as usize,
                        )
                    {
                        buf.extend_from_slice(&rest);
                        split = split_names(&buf, num as usize, PIECES);
                    }
                    (buf, split)
                }
                None => (Vec::new(), None),
            };
            let names = Stream {
                mem,
                base: addrs.names,
                buf: Cow::Owned(prefetched),
                buf_off: 0,
                pos: 0,
                limit,
                chunk: CHUNK,
                what: "kallsyms_names",
            };
            Ok((num, tokens, offsets_raw, base, names, split))
        };
        let (num, tokens, offsets_raw, base, mut names, split) = match read() {
            Ok(r) => r,
            Err(e) => return (Err(e), None),
        };
        // Names are expanded into one arena, checked as UTF-8 once at the end; addresses are
        // computed once `_stext` has told which encoding the offsets use. When the prefetched
        // bytes hold every name, a quick pass over the length bytes splits the table, and the
        // pieces are expanded in parallel.
        let tokens = Tokens::new(tokens);
        let found = match &split {
            Some((pieces, _)) if !wanted.is_empty() => {
                find_early(&names.buf, pieces, &tokens, wanted).and_then(|(stext, idx)| {
                    let off_at = |i: usize| offset_at(&offsets_raw, i);
                    let encoding = AddressEncoding::ALL
                        .into_iter()
                        .find(|e| e.decode(off_at(stext), stext, &addrs, base) == addrs.stext)?;
                    Some(
                        idx.iter()
                            .map(|o| o.map(|i| encoding.decode(off_at(i), i, &addrs, base)))
                            .collect::<Vec<_>>(),
                    )
                })
            }
            _ => None,
        };
        let expand = || {
            expand_all(
                mem,
                &addrs,
                &mut names,
                &tokens,
                split,
                num,
                &offsets_raw,
                base,
            )
        };
        match found {
            Some(found) => {
                let (k, t) = rayon::join(expand, || early(&found));
                (k, Some(t))
            }
            None => (expand(), None),
        }
    }
}

/// Expands every name (in parallel pieces when `split` cut the prefetched table) and builds
/// the table with addresses decoded in the encoding `_stext` confirms.
#[allow(clippy::too_many_arguments)]
fn expand_all(
    mem: &dyn KernelMemory,
    addrs: &KallsymsAddrs,
    names: &mut Stream,
    tokens: &Tokens,
    split: Option<(Vec<Piece>, usize)>,
    num: u32,
    offsets_raw: &[u8],
    base: u64,
) -> Result<Kallsyms> {
    let addrs = *addrs;
    let (parts, names_len) = match split {
        Some((pieces, end)) => {
            let parts: Vec<Result<Decoded>> = pieces
                .par_iter()
                .map(|&(start, stop, first, count)| {
                    let mut piece = Stream {
                        mem,
                        base: addrs.names.wrapping_add(start as u64),
                        buf: Cow::Borrowed(&names.buf[start..stop]),
                        buf_off: 0,
                        pos: 0,
                        limit: (stop - start) as u64,
                        chunk: CHUNK,
                        what: "kallsyms_names",
                    };
                    decode_names(&mut piece, tokens, first, count)
                })
                .collect();
            // The first error in symbol order, as the sequential decoder would give.
            (parts.into_iter().collect::<Result<Vec<_>>>()?, end as u64)
        }
        None => {
            let d = decode_names(names, tokens, 0, num as usize)?;
            (vec![d], names.pos)
        }
    };
    // One arena; each part's entries are shifted by where its names landed in it.
    let total: usize = parts.iter().map(|p| p.arena.len()).sum();
    if total > u32::MAX as usize {
        return Err(SymbolError::Bad {
            field: "kallsyms_names".into(),
            detail: "names add up to more than 4 GiB".into(),
        });
    }
    let mut arena = Vec::with_capacity(total);
    let mut stext_idx = None;
    let mut bases = Vec::with_capacity(parts.len());
    let mut count = 0usize;
    for p in &parts {
        bases.push(arena.len() as u32);
        arena.extend_from_slice(&p.arena);
        stext_idx = stext_idx.or(p.stext.map(|k| count + k));
        count += p.entries.len();
    }
    let entries = || {
        parts.iter().zip(&bases).flat_map(|(p, &b)| {
            p.entries
                .iter()
                .map(move |&(start, len, kind)| (start + b, len, kind))
        })
    };

    let off_at = |i: usize| offset_at(offsets_raw, i);
    let Some(si) = stext_idx else {
        return Err(SymbolError::Bad {
            field: "kallsyms_names".into(),
            detail: format!("no _stext among {num} decoded symbols"),
        });
    };
    let candidates: Vec<(AddressEncoding, u64)> = AddressEncoding::ALL
        .iter()
        .map(|&e| (e, e.decode(off_at(si), si, &addrs, base)))
        .collect();
    let Some(&(encoding, _)) = candidates.iter().find(|(_, a)| *a == addrs.stext) else {
        return Err(SymbolError::StextMismatch {
            vmcoreinfo: addrs.stext,
            candidates,
        });
    };
    let mut table = SymbolTable::new(SymbolOrigin::Kallsyms { encoding });
    let addr = |i: usize| encoding.decode(off_at(i), i, &addrs, base);
    // A name with a byte a terminal would obey (never in a real kernel) sends every name
    // through holdup_text::printable, as names that are not UTF-8 do.
    let arena: Result<String, Vec<u8>> = if holdup_text::is_printable(&arena) {
        String::from_utf8(arena).map_err(|e| e.into_bytes())
    } else {
        Err(arena)
    };
    match arena {
        Ok(arena) => {
            table.extend_from_arena(
                arena,
                count,
                entries()
                    .enumerate()
                    .map(|(i, (start, len, kind))| (start, len, kind, addr(i))),
            );
            // The name index, from the hashes taken while the names were hot.
            table.index_names_with(count, parts.iter().flat_map(|p| p.hashes.iter().copied()));
        }
        Err(arena) => {
            // Some name is not UTF-8 or not printable (never in a real kernel): each made
            // printable on its own.
            table.reserve(count, arena.len());
            for (i, (start, len, kind)) in entries().enumerate() {
                let name = &arena[start as usize..(start + len) as usize];
                table.push(&holdup_text::printable(name), kind, addr(i), 0, None);
            }
        }
    }
    Ok(Kallsyms {
        table,
        encoding,
        names_len,
    })
}

impl Kallsyms {
    /// The symbols.
    pub fn table(&self) -> &SymbolTable {
        &self.table
    }

    /// The symbols, to extend with modules or share.
    pub fn into_table(self) -> SymbolTable {
        self.table
    }

    /// Which address encoding matched `_stext`.
    pub fn encoding(&self) -> AddressEncoding {
        self.encoding
    }

    /// Length in bytes of the `kallsyms_names` table (found by decoding it).
    pub fn names_len(&self) -> u64 {
        self.names_len
    }
}

/// Pieces the names table is cut into for parallel expansion.
const PIECES: usize = 16;

/// Expanded names of a run of symbols.
struct Decoded {
    arena: Vec<u8>,
    /// (start in `arena`, length, type char) of each symbol.
    entries: Vec<(u32, u32, u8)>,
    /// Each name's hash for the name index.
    hashes: Vec<u64>,
    /// Index of `_stext`, if among them.
    stext: Option<usize>,
}

impl Decoded {
    fn with_capacity(n: usize) -> Decoded {
        Decoded {
            arena: Vec::with_capacity(n * 24),
            entries: Vec::with_capacity(n),
            hashes: Vec::with_capacity(n),
            stext: None,
        }
    }
}

/// Expands `count` names from `names`, the first being symbol number `first`.
fn decode_names(
    names: &mut Stream,
    tokens: &Tokens,
    first: usize,
    count: usize,
) -> Result<Decoded> {
    let mut out = Decoded::with_capacity(count);
    // Room for the longest accepted name plus one token copied whole past it.
    let mut expanded = vec![0u8; MAX_EXPANDED + MAX_TOKEN + Tokens::WIDTH];
    for k in 0..count {
        let i = first + k;
        let len = names.take_name_len(i)?;
        if len == 0 {
            return Err(SymbolError::Bad {
                field: "kallsyms_names".into(),
                detail: format!("symbol {i} at offset {:#x}: empty", names.pos - 1),
            });
        }
        let mut n = 0usize;
        let mut over = 0usize;
        for &t in names.take(len)? {
            if n <= MAX_EXPANDED {
                n = tokens.append(t, &mut expanded, n);
            } else {
                // Too long already: only count, to say how long in the error.
                over += tokens.len(t);
            }
        }
        if n + over > MAX_EXPANDED || n < 2 {
            return Err(SymbolError::Bad {
                field: "kallsyms_names".into(),
                detail: format!(
                    "symbol {i} expands to {} bytes (type char + name expected)",
                    n + over
                ),
            });
        }
        let name = &expanded[1..n];
        if out.stext.is_none() && name == b"_stext" {
            out.stext = Some(k);
        }
        if out.arena.len() + name.len() > u32::MAX as usize {
            return Err(SymbolError::Bad {
                field: "kallsyms_names".into(),
                detail: format!("names add up to more than 4 GiB by symbol {i}"),
            });
        }
        out.entries
            .push((out.arena.len() as u32, name.len() as u32, expanded[0]));
        out.hashes.push(crate::table::name_hash(name));
        out.arena.extend_from_slice(name);
    }
    Ok(out)
}

/// `kallsyms_offsets[i]`; 0 past the end (the table was read for `num` symbols).
fn offset_at(offsets_raw: &[u8], i: usize) -> i32 {
    offsets_raw
        .get(i * 4..i * 4 + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, i32::from_le_bytes)
}

/// Finds `_stext` and each of `wanted` in the names table `buf`, cut into `pieces` (searched
/// in parallel), without expanding the rest. Returns the index of `_stext` and of each
/// wanted name (the first of that name, as a lookup in the table gives); `None` without
/// `_stext` or on a malformed length.
fn find_early(
    buf: &[u8],
    pieces: &[Piece],
    tokens: &Tokens,
    wanted: &[&str],
) -> Option<(usize, Vec<Option<usize>>)> {
    let targets: Vec<&[u8]> = std::iter::once("_stext")
        .chain(wanted.iter().copied())
        .map(str::as_bytes)
        .collect();
    let per_piece: Vec<Vec<Option<usize>>> = pieces
        .par_iter()
        .map(|&(start, stop, first, count)| {
            let found = find_names(buf.get(start..stop)?, count, tokens, &targets)?;
            Some(found.into_iter().map(|o| o.map(|k| first + k)).collect())
        })
        .collect::<Option<_>>()?;
    // The first piece that has a name has its first occurrence.
    let mut found: Vec<Option<usize>> = (0..targets.len())
        .map(|j| per_piece.iter().find_map(|p| p[j]))
        .collect();
    let stext = found[0]?;
    Some((stext, found.split_off(1)))
}

/// The index of the first of each of `targets` among the `num` compressed names in `buf`: a
/// name is given up on at the first token that leaves it no longer a prefix of any target,
/// which for nearly every symbol is the first or second. `None` on a malformed length or
/// more than 64 targets.
fn find_names(
    buf: &[u8],
    num: usize,
    tokens: &Tokens,
    targets: &[&[u8]],
) -> Option<Vec<Option<usize>>> {
    // Which targets the name read so far is still a prefix of: one bit each.
    if targets.len() > 64 {
        return None;
    }
    let all: u64 = u64::MAX >> (64 - targets.len());
    let longest = targets.iter().map(|t| t.len()).max().unwrap_or(0);
    let mut found: Vec<Option<usize>> = vec![None; targets.len()];
    let mut expanded = vec![0u8; 1 + longest + MAX_TOKEN + Tokens::WIDTH];
    let mut pos = 0usize;
    for i in 0..num {
        let len;
        (len, pos) = name_len_at(buf, pos)?;
        let toks = buf.get(pos..pos + len)?;
        pos += len;
        let mut n = 0usize;
        let mut alive = all;
        for &t in toks {
            let from = n.max(1);
            n = tokens.append(t, &mut expanded, n);
            if n <= 1 {
                // Only the type char so far (or an empty token): nothing to compare.
                continue;
            }
            // expanded[0] is the type char: name byte k is expanded[k + 1]. Only the bytes
            // this token added are compared (byte by byte: most names fail at the first).
            let mut m = alive;
            while m != 0 {
                let j = m.trailing_zeros() as usize;
                m &= m - 1;
                let target = targets[j];
                let still = n - 1 <= target.len()
                    && expanded[from..n]
                        .iter()
                        .zip(&target[from - 1..n - 1])
                        .all(|(a, b)| a == b);
                if !still {
                    alive &= !(1 << j);
                }
            }
            if alive == 0 {
                break;
            }
        }
        let mut m = alive;
        while m != 0 && n > 1 {
            let j = m.trailing_zeros() as usize;
            m &= m - 1;
            if found[j].is_none() && targets[j].len() == n - 1 {
                found[j] = Some(i);
            }
        }
    }
    Some(found)
}

/// The length of the compressed name at `buf[pos..]` (as [`Stream::take_name_len`] reads
/// it) and where its tokens start; `None` past the end of `buf` or for a length longer than 2
/// bytes.
fn name_len_at(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let b = *buf.get(pos)?;
    if b & 0x80 == 0 {
        return Some((usize::from(b), pos + 1));
    }
    let hi = *buf.get(pos + 1)?;
    (hi & 0x80 == 0).then(|| (usize::from(b & 0x7f) | (usize::from(hi) << 7), pos + 2))
}

/// A run of whole symbols in the names table: bytes `start..end`, symbols `first..first +
/// count`.
type Piece = (usize, usize, usize, usize);

/// Cuts the names table in `buf` into about `pieces` runs of whole symbols by reading only
/// their length bytes: `(start, end, first symbol, count)` each, and where the last name
/// ends. `None` when `buf` does not hold all `num` names or a length is malformed (the
/// sequential decoder then reads on, or says what is wrong).
fn split_names(buf: &[u8], num: usize, pieces: usize) -> Option<(Vec<Piece>, usize)> {
    let per = num.div_ceil(pieces).max(1);
    let mut out = Vec::with_capacity(pieces);
    let (mut pos, mut start, mut first) = (0usize, 0usize, 0usize);
    for i in 0..num {
        if i > first && i - first == per {
            out.push((start, pos, first, i - first));
            (start, first) = (pos, i);
        }
        let len;
        (len, pos) = name_len_at(buf, pos)?;
        if len == 0 {
            return None;
        }
        pos += len;
        if pos > buf.len() {
            return None;
        }
    }
    out.push((start, pos, first, num - first));
    Some((out, pos))
}

/// The 256 tokens laid out for expansion by fixed-size copies: each short token padded to
/// [`Tokens::WIDTH`] bytes, so appending one is one 16-byte copy and no call to `memcpy`.
struct Tokens {
    short: Vec<[u8; Tokens::WIDTH]>,
    lens: [u16; 256],
    all: Vec<Vec<u8>>,
}

impl Tokens {
    const WIDTH: usize = 16;

    fn new(all: Vec<Vec<u8>>) -> Self {
        let mut short = vec![[0u8; Self::WIDTH]; 256];
        let mut lens = [0u16; 256];
        for (i, t) in all.iter().enumerate().take(256) {
            lens[i] = t.len() as u16;
            if t.len() <= Self::WIDTH {
                short[i][..t.len()].copy_from_slice(t);
            }
        }
        Tokens { short, lens, all }
    }

    fn len(&self, t: u8) -> usize {
        usize::from(self.lens[usize::from(t)])
    }

    /// Appends token `t` at `out[at..]` and returns the new length. `out` has room for
    /// `Tokens::WIDTH` or the token's length past `at`, whichever is more.
    #[inline]
    fn append(&self, t: u8, out: &mut [u8], at: usize) -> usize {
        let len = self.len(t);
        if len <= Self::WIDTH {
            out[at..at + Self::WIDTH].copy_from_slice(&self.short[usize::from(t)]);
        } else {
            out[at..at + len].copy_from_slice(&self.all[usize::from(t)]);
        }
        at + len
    }
}

/// Reads the 256 tokens.
fn read_tokens(mem: &dyn KernelMemory, a: &KallsymsAddrs) -> Result<Vec<Vec<u8>>> {
    let raw = mem
        .read_vec(a.token_index, 512)
        .map_err(read_err("kallsyms_token_index"))?;
    let index: Vec<usize> = raw
        .chunks_exact(2)
        .map(|c| usize::from(u16::from_le_bytes([c[0], c[1]])))
        .collect();
    let max = index.iter().copied().max().unwrap_or(0);
    // Table length = last token start + its length + NUL; read generously, then less if
    // that runs into an unreadable page.
    let table = read_prefix(mem, a.token_table, max + MAX_TOKEN + 1, max + 1)
        .map_err(read_err("kallsyms_token_table"))?;
    index
        .iter()
        .enumerate()
        .map(|(i, &start)| {
            let rest = &table[start..];
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(|| SymbolError::Bad {
                    field: "kallsyms_token_table".into(),
                    detail: format!("token {i} at offset {start:#x} is not terminated"),
                })?;
            // Unused byte values have empty tokens.
            if end > MAX_TOKEN {
                return Err(SymbolError::Bad {
                    field: "kallsyms_token_table".into(),
                    detail: format!("token {i} at offset {start:#x} has length {end}"),
                });
            }
            Ok(rest[..end].to_vec())
        })
        .collect()
}

impl From<Kallsyms> for SymbolTable {
    fn from(k: Kallsyms) -> SymbolTable {
        k.table
    }
}
