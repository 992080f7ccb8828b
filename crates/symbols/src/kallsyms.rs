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
use std::fmt;

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
            relative_base: get("kallsyms_relative_base")?,
            stext: get("_stext")?,
        })
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
    buf: Vec<u8>,
    /// Offset (from base) of `buf[0]`.
    buf_off: u64,
    pos: u64,
    limit: u64,
    what: &'static str,
}

impl Stream<'_> {
    fn fill(&mut self) -> Result<()> {
        if self.pos >= self.limit {
            return Err(SymbolError::Bad {
                field: self.what.into(),
                detail: format!("runs past {} bytes", self.limit),
            });
        }
        let addr = self.base.wrapping_add(self.pos);
        let n = (CHUNK as u64).min(self.limit - self.pos) as usize;
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
        self.buf = buf;
        self.buf_off = self.pos;
        Ok(())
    }

    fn byte(&mut self) -> Result<u8> {
        if self.pos < self.buf_off || self.pos >= self.buf_off + self.buf.len() as u64 {
            self.fill()?;
        }
        let b = self.buf[(self.pos - self.buf_off) as usize];
        self.pos += 1;
        Ok(b)
    }
}

impl Kallsyms {
    /// Decodes every symbol from the tables VMCOREINFO points to and checks `_stext`.
    pub fn from_memory(mem: &dyn KernelMemory, addrs: KallsymsAddrs) -> Result<Kallsyms> {
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

        let offsets_raw = mem
            .read_vec(addrs.offsets, num as usize * 4)
            .map_err(read_err("kallsyms_offsets"))?;
        let base = mem
            .read_u64(addrs.relative_base)
            .map_err(read_err("kallsyms_relative_base"))?;

        // Names first (the type char comes with the name).
        let mut names = Stream {
            mem,
            base: addrs.names,
            buf: Vec::new(),
            buf_off: 0,
            pos: 0,
            limit: MAX_NAMES_BYTES.min(u64::from(num) * (2 + 0x3fff)),
            what: "kallsyms_names",
        };
        let mut decoded: Vec<(u32, u32, u8)> = Vec::with_capacity(num as usize);
        let mut arena = String::with_capacity(num as usize * 24);
        let mut expanded = Vec::with_capacity(128);
        let mut stext_idx = None;
        for i in 0..num as usize {
            let mut len = usize::from(names.byte()?);
            if len & 0x80 != 0 {
                // 6.1+: a 2-byte ULEB128 length for names over 127 compressed bytes.
                let hi = names.byte()?;
                if hi & 0x80 != 0 {
                    return Err(SymbolError::Bad {
                        field: "kallsyms_names".into(),
                        detail: format!(
                            "symbol {i} at offset {:#x}: length longer than 2 bytes",
                            names.pos - 2
                        ),
                    });
                }
                len = (len & 0x7f) | (usize::from(hi) << 7);
            }
            if len == 0 {
                return Err(SymbolError::Bad {
                    field: "kallsyms_names".into(),
                    detail: format!("symbol {i} at offset {:#x}: empty", names.pos - 1),
                });
            }
            expanded.clear();
            for _ in 0..len {
                let t = &tokens[usize::from(names.byte()?)];
                expanded.extend_from_slice(t);
            }
            if expanded.len() > MAX_EXPANDED || expanded.len() < 2 {
                return Err(SymbolError::Bad {
                    field: "kallsyms_names".into(),
                    detail: format!(
                        "symbol {i} expands to {} bytes (type char + name expected)",
                        expanded.len()
                    ),
                });
            }
            let kind = expanded[0];
            let name = String::from_utf8_lossy(&expanded[1..]);
            if stext_idx.is_none() && name == "_stext" {
                stext_idx = Some(i);
            }
            let start = arena.len() as u32;
            arena.push_str(&name);
            decoded.push((start, (arena.len() as u32) - start, kind));
        }
        let names_len = names.pos;

        let off_at = |i: usize| -> i32 {
            i32::from_le_bytes(offsets_raw[i * 4..i * 4 + 4].try_into().unwrap_or([0; 4]))
        };
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
        table.reserve(num as usize, arena.len());
        for (i, &(start, len, kind)) in decoded.iter().enumerate() {
            let name = &arena[start as usize..(start + len) as usize];
            table.push(
                name,
                kind,
                encoding.decode(off_at(i), i, &addrs, base),
                0,
                None,
            );
        }
        Ok(Kallsyms {
            table,
            encoding,
            names_len,
        })
    }

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
