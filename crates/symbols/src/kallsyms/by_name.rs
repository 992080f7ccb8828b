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
    AddressEncoding, KallsymsAddrs, MAX_KALLSYMS, Stream, Tokens, decode_names, name_len_at,
    read_tokens,
};
use crate::table::{SymbolOrigin, SymbolTable, is_kernel_address};
use holdup_kmem::{KernelMemory, ReadError};
use rayon::prelude::*;
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Most names whose lookups are remembered.
const MAX_MEMO: usize = 4096;

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
    /// The names, sequence numbers and offsets read whole ([`KallsymsIndex`]); `None`:
    /// read from `mem` as probes need them.
    preloaded: Option<Arc<Preloaded>>,
}

/// Tables read whole into memory.
struct Preloaded {
    names: Vec<u8>,
    seqs: Vec<u8>,
    offsets: Vec<u8>,
}

/// Memory for a search whose tables are all preloaded: never read.
struct NoMemory;

impl KernelMemory for NoMemory {
    fn read(&self, vaddr: u64, _: &mut [u8]) -> Result<(), ReadError> {
        Err(ReadError::Corrupt {
            vaddr,
            detail: "kallsyms tables were read whole; nothing else is".into(),
        })
    }
}

static NO_MEMORY: NoMemory = NoMemory;

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
            relative_base: match addrs.relative_base {
                0 => 0,
                at => mem.read_u64(at).ok()?,
            },
            encoding: AddressEncoding::BaseRelative,
            preloaded: None,
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
        if addrs.relative_base == 0 && addrs.offsets > addrs.token_table {
            // 7.0+ (no relative base): ... names, markers, token table, token index, offsets,
            // sequence numbers.
            // The markers end where the token table starts, which need not be 8-aligned.
            let seqs = align8(addrs.offsets.wrapping_add(4 * u64::from(num)));
            for len in [4 * u64::from(num).div_ceil(256), markers_len] {
                layouts.push((addrs.token_table.wrapping_sub(len), seqs));
            }
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
    fn names_from(&self, run: usize) -> Stream<'_> {
        let start = u64::from(self.markers[run]);
        let limit = self.names_len.saturating_sub(start);
        let buf = match &self.preloaded {
            Some(p) => Cow::Borrowed(p.names.get(start as usize..).unwrap_or_default()),
            None => Cow::Owned(Vec::new()),
        };
        Stream {
            mem: self.mem,
            base: self.addrs.names.wrapping_add(start),
            buf,
            buf_off: 0,
            pos: 0,
            limit,
            chunk: PROBE_CHUNK,
            what: "kallsyms_names",
        }
    }

    /// The table index of the `k`-th name in name order.
    fn seq(&self, k: usize) -> Option<usize> {
        let mut b = [0u8; 3];
        match &self.preloaded {
            Some(p) => b.copy_from_slice(p.seqs.get(3 * k..3 * k + 3)?),
            None => self
                .mem
                .read(self.seqs.wrapping_add(3 * k as u64), &mut b)
                .ok()?,
        }
        let i = (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2]);
        (i < self.num as usize).then_some(i)
    }

    /// `kallsyms_offsets[i]`.
    fn offset(&self, i: usize) -> Option<i32> {
        match &self.preloaded {
            Some(p) => p
                .offsets
                .get(4 * i..4 * i + 4)
                .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            None => self
                .mem
                .read_u32(self.addrs.offsets.wrapping_add(4 * i as u64))
                .ok()
                .map(|o| o as i32),
        }
    }

    /// Symbol `i`'s address.
    fn addr(&self, i: usize) -> Option<u64> {
        let off = self.offset(i)?;
        Some(
            self.encoding
                .decode(off, i, &self.addrs, self.relative_base),
        )
    }

    /// Reads the names, sequence numbers and offsets whole (in parallel: a few hundred
    /// pages) for many lookups by name and by address; `None` when a table cannot be read,
    /// a marker is not where the names put it (every name's length is walked, so a name
    /// expands as it would from the start of the table), or the addresses are not in
    /// ascending order (the search by address needs them so, as the kernel's own
    /// `kallsyms_lookup()` does).
    pub fn into_index(self) -> Option<KallsymsIndex> {
        self.into_index_with(None)
    }

    /// [`KallsymsByName::into_index`], taking the tables of `earlier` (an index of another
    /// dump of the same kernel build: kallsyms does not move with KASLR) instead of reading
    /// them, when they are as long as this kernel's and equal to them on nine pages of each
    /// spread over the whole table.
    pub fn into_index_with(self, earlier: Option<&KallsymsTables>) -> Option<KallsymsIndex> {
        let num = self.num as usize;
        let reusable = earlier.filter(|t| {
            let p = &t.0;
            p.names.len() as u64 == self.names_len
                && p.seqs.len() == 3 * num
                && p.offsets.len() == 4 * num
                && same_bytes(self.mem, self.addrs.names, &p.names)
                && same_bytes(self.mem, self.seqs, &p.seqs)
                && same_bytes(self.mem, self.addrs.offsets, &p.offsets)
        });
        let (tables, reused) = match reusable {
            Some(t) => (t.0.clone(), true),
            None => {
                let read =
                    |at: u64, len: usize| holdup_kmem::read_vec_parallel(self.mem, at, len).ok();
                let names = read(self.addrs.names, self.names_len as usize)?;
                let seqs = read(self.seqs, 3 * num)?;
                let offsets = read(self.addrs.offsets, 4 * num)?;
                (
                    Arc::new(Preloaded {
                        names,
                        seqs,
                        offsets,
                    }),
                    false,
                )
            }
        };
        let end = names_end_checking_markers(&tables.names, num, &self.markers)?;
        if end as u64 + 8 <= self.names_len {
            return None;
        }
        let search = KallsymsByName {
            mem: &NO_MEMORY,
            addrs: self.addrs,
            num: self.num,
            tokens: self.tokens,
            markers: self.markers,
            names_len: self.names_len,
            seqs: self.seqs,
            relative_base: self.relative_base,
            encoding: self.encoding,
            preloaded: Some(tables),
        };
        let mut last = 0u64;
        for i in 0..num {
            let a = search.addr(i)?;
            if a < last {
                return None;
            }
            last = a;
        }
        Some(KallsymsIndex {
            search,
            decoded: (0..num.div_ceil(256)).map(|_| OnceLock::new()).collect(),
            found: Mutex::default(),
            reused,
        })
    }

    /// Symbol `i`'s name (without its type char) and type char.
    fn name(&self, i: usize) -> Option<(Vec<u8>, u8)> {
        let mut names = self.names_from(i / 256);
        skip_names(&mut names, i % 256)?;
        let d = decode_names(&mut names, &self.tokens, i, 1).ok()?;
        let kind = d.entries.first()?.2;
        Some((d.arena, kind))
    }

    /// The first position in name order whose name is not below `target`.
    fn lower_bound(&self, target: &[u8]) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.num as usize);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.name(self.seq(mid)?)?.0.as_slice() < target {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Some(lo)
    }

    /// The table index and type char of the first symbol named `target`.
    fn find(&self, target: &[u8]) -> Option<(usize, u8)> {
        let i = self.seq(self.lower_bound(target)?)?;
        let (name, kind) = self.name(i)?;
        (name == target).then_some((i, kind))
    }
}

/// The kernel's kallsyms read whole but not expanded: symbols are found by name (binary
/// search over `kallsyms_seqs_of_names`) and by address (binary search over
/// `kallsyms_offsets`), as the kernel's own `kallsyms_lookup_name()` and `kallsyms_lookup()`
/// find them, and each name is expanded the first time it is asked for. A report touches a
/// few hundred of the ~100,000 names: expanding and indexing all of them was most of the
/// work of opening a dump.
pub struct KallsymsIndex {
    search: KallsymsByName<'static>,
    /// Each symbol's name and type char, expanded when first asked for (`None`: the name
    /// could not be expanded); in runs of 256, each allocated when first used (a slot for
    /// every symbol up front would be 3 MB of memory to fault in).
    decoded: Vec<OnceLock<Run>>,
    /// Names already searched for, and the symbols found (the same few names are asked for
    /// again and again: `runqueues` for every CPU, ...).
    found: Mutex<HashMap<Box<str>, Arc<[usize]>>>,
    /// Whether the tables were another dump's ([`KallsymsByName::into_index_with`]).
    reused: bool,
}

/// The tables of a [`KallsymsIndex`] (names, sequence numbers, offsets: the same in every
/// dump of a kernel build), for [`KallsymsByName::into_index_with`] on another dump.
#[derive(Clone)]
pub struct KallsymsTables(Arc<Preloaded>);

impl std::fmt::Debug for KallsymsTables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KallsymsTables")
            .field("names", &self.0.names.len())
            .finish_non_exhaustive()
    }
}

/// A name expanded, and its type char.
type Expanded = (Box<str>, u8);
/// The slots of a run of 256 symbols' names.
type Run = Box<[OnceLock<Option<Expanded>>]>;

impl std::fmt::Debug for KallsymsIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KallsymsIndex")
            .field("symbols", &self.search.num)
            .field("encoding", &self.search.encoding)
            .finish_non_exhaustive()
    }
}

impl KallsymsIndex {
    /// The tables, to reuse for another dump of the same build.
    pub fn tables(&self) -> Option<KallsymsTables> {
        self.search.preloaded.clone().map(KallsymsTables)
    }

    /// Whether the tables were taken from another dump of the same build.
    pub fn tables_reused(&self) -> bool {
        self.reused
    }

    /// `kallsyms_num_syms`.
    pub fn num_syms(&self) -> usize {
        self.search.num as usize
    }

    /// Which address encoding matched `_stext`.
    pub fn encoding(&self) -> AddressEncoding {
        self.search.encoding
    }

    /// Symbol `i`'s name and type char (an empty name and `?` if it cannot be expanded).
    pub fn entry(&self, i: usize) -> (&str, u8) {
        let run = self
            .decoded
            .get(i / 256)
            .map(|r| r.get_or_init(|| (0..256).map(|_| OnceLock::new()).collect()));
        let slot = run.and_then(|r| r.get(i % 256)).and_then(|d| {
            d.get_or_init(|| {
                let (name, kind) = self.search.name(i)?;
                Some((holdup_text::printable(&name).into(), kind))
            })
            .as_ref()
        });
        slot.map_or(("", b'?'), |(n, k)| (n, *k))
    }

    /// Symbol `i`'s address.
    pub fn addr(&self, i: usize) -> u64 {
        self.search.addr(i).unwrap_or(0)
    }

    /// Indices of every symbol named `name`, in table order.
    pub fn find_all(&self, name: &str) -> Arc<[usize]> {
        let memo = || self.found.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = memo().get(name) {
            return found.clone();
        }
        let found: Arc<[usize]> = self.search_all(name).into();
        let mut m = memo();
        if m.len() < MAX_MEMO {
            m.insert(name.into(), found.clone());
        }
        found
    }

    fn search_all(&self, name: &str) -> Vec<usize> {
        let target = name.as_bytes();
        let Some(mut k) = self.search.lower_bound(target) else {
            return Vec::new();
        };
        let mut found = Vec::new();
        while let Some(i) = self.search.seq(k) {
            if self.entry(i).0.as_bytes() != target {
                break;
            }
            found.push(i);
            k += 1;
        }
        found
    }

    /// The symbol containing kernel address `addr`, as the kernel's `%pS` finds it: the
    /// last at or below it (the first of its aliases); with its address and the next
    /// symbol's, if any.
    pub fn resolve(&self, addr: u64) -> Option<(usize, u64, Option<u64>)> {
        let num = self.num_syms();
        let below = |end: usize, pred: &dyn Fn(u64) -> bool| {
            let (mut lo, mut hi) = (0usize, end);
            while lo < hi {
                let mid = lo + (hi - lo) / 2;
                if pred(self.addr(mid)) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            lo
        };
        let p = below(num, &|a| a <= addr);
        if p == 0 {
            return None;
        }
        let at = self.addr(p - 1);
        if !is_kernel_address(at) {
            return None;
        }
        let first = below(p, &|a| a < at);
        let next = (p < num).then(|| self.addr(p));
        Some((first, at, next))
    }
}

/// Pieces of each table compared before another dump's tables are taken.
const SAMPLES: usize = 9;

fn same_bytes(mem: &dyn KernelMemory, at: u64, data: &[u8]) -> bool {
    holdup_kmem::same_bytes_sampled(mem, at, data, SAMPLES)
}

/// Where the `num` names in `names` end, reading only their lengths; `None` when one runs
/// past the end or a run of 256 does not start where its marker says.
fn names_end_checking_markers(names: &[u8], num: usize, markers: &[u32]) -> Option<usize> {
    let mut pos = 0usize;
    for i in 0..num {
        if i % 256 == 0 && markers.get(i / 256).map(|&m| m as usize) != Some(pos) {
            return None;
        }
        let len;
        (len, pos) = name_len_at(names, pos)?;
        pos += len;
    }
    (pos <= names.len()).then_some(pos)
}

/// Moves `names` past `n` names (length bytes and tokens) without expanding them.
fn skip_names(names: &mut Stream, n: usize) -> Option<()> {
    for i in 0..n {
        let len = names.take_name_len(i).ok()?;
        names.take(len).ok()?;
    }
    Some(())
}
