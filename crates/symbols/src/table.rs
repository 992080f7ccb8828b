//! One symbol table for every source (kallsyms, vmlinux symtab, modules).
//!
//! Names live in one string arena; the address and name orders are index vectors built on
//! first use. The vmlinux part may instead be the kernel's kallsyms searched in place
//! ([`KallsymsIndex`]): then only the modules' symbols are in the arena.

use crate::kallsyms::{AddressEncoding, KallsymsIndex};
use std::fmt;
use std::sync::OnceLock;

/// Start of the kernel half of the address space: 5-level paging's, the lower of the two
/// (a symbol table does not know the dump's paging mode; kmem does).
const KERNEL_HALF: u64 = holdup_kmem::kernel_space_start(true);

/// Whether `addr` is in the kernel half of the address space. Symbols below (kallsyms'
/// absolute per-CPU offsets, ELF absolute constants) are found by name only, never by address.
pub fn is_kernel_address(addr: u64) -> bool {
    addr >= KERNEL_HALF
}

/// Module index of vmlinux's own symbols.
const VMLINUX: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Sym {
    addr: u64,
    /// Size from an ELF `st_size`; 0 when unknown (kallsyms).
    size: u64,
    name: u32,
    name_len: u32,
    kind: u8,
    module: u32,
}

/// Where the vmlinux part of a table came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolOrigin {
    /// The kernel's kallsyms, read from the dump's memory.
    Kallsyms { encoding: AddressEncoding },
    /// A vmlinux ELF symtab relocated by `KERNELOFFSET`.
    Vmlinux { path: String, kernel_offset: u64 },
}

impl fmt::Display for SymbolOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SymbolOrigin::Kallsyms { encoding } => {
                write!(f, "kallsyms from kernel memory ({encoding})")
            }
            SymbolOrigin::Vmlinux {
                path,
                kernel_offset,
            } => write!(f, "symtab of {path} relocated by {kernel_offset:#x}"),
        }
    }
}

/// A loaded module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    pub name: String,
    /// `struct module *`.
    pub addr: u64,
    /// Memory regions: (`MOD_TEXT`/`core`..., base, size).
    pub regions: Vec<(String, u64, u64)>,
    /// How many symbols were added from it.
    pub symbols: usize,
    /// Why its symbols could not be read, if they could not.
    pub error: Option<String>,
}

/// One symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Symbol<'a> {
    pub name: &'a str,
    /// nm-style type letter: `T`/`t` text, `D`/`d` data, `B`/`b` bss, `R`/`r` rodata,
    /// `A`/`a` absolute, `W`/`w`/`V`/`v` weak.
    pub kind: char,
    pub addr: u64,
    /// Size from the ELF symtab (vmlinux, modules); `None` for kallsyms.
    pub size: Option<u64>,
    /// Module name; `None` for vmlinux.
    pub module: Option<&'a str>,
}

/// An address resolved to `symbol+offset/size [module]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SymbolRef<'a> {
    pub symbol: Symbol<'a>,
    pub offset: u64,
    /// The symbol's size: the ELF size, or the distance to the next symbol.
    pub size: u64,
}

impl fmt::Display for SymbolRef<'_> {
    /// Like the kernel's `%pS`: `folio_wait_bit_common+0x13c/0x2b0 [ext4]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}+{:#x}/{:#x}",
            self.symbol.name, self.offset, self.size
        )?;
        if let Some(m) = self.symbol.module {
            write!(f, " [{m}]")?;
        }
        Ok(())
    }
}

/// Kernel (and module) symbols.
pub struct SymbolTable {
    arena: String,
    syms: Vec<Sym>,
    modules: Vec<Module>,
    origin: SymbolOrigin,
    by_addr: OnceLock<Vec<u32>>,
    /// Built on the first name lookup and then kept up to date by [`SymbolTable::push`], so
    /// adding module symbols does not rebuild it.
    by_name: OnceLock<NameIndex>,
    /// The vmlinux symbols, when they are kallsyms searched in place (`syms` then holds
    /// only modules' symbols).
    kallsyms: Option<KallsymsIndex>,
}

/// Name -> symbol indices: an open-addressing hash table with linear probing. Symbols of one
/// name are found in insertion order (a later one always lands further along the probe
/// sequence than an earlier one, and nothing is ever removed), so vmlinux's come first.
struct NameIndex {
    /// Symbol index, or [`NameIndex::EMPTY`].
    slots: Vec<u32>,
    mask: usize,
    len: usize,
}

impl NameIndex {
    const EMPTY: u32 = u32::MAX;

    fn with_capacity(n: usize) -> NameIndex {
        // Load factor at most 1/2: short probe sequences, 8 bytes a symbol.
        let size = (n.max(16) * 2).next_power_of_two();
        NameIndex {
            slots: vec![Self::EMPTY; size],
            mask: size - 1,
            len: 0,
        }
    }

    fn hash(name: &[u8]) -> usize {
        name_hash(name) as usize
    }

    fn needs_growth(&self) -> bool {
        (self.len + 1) * 2 > self.slots.len()
    }

    fn insert(&mut self, name: &[u8], sym: u32) {
        self.insert_hashed(Self::hash(name), sym);
    }

    fn insert_hashed(&mut self, hash: usize, sym: u32) {
        let mut i = hash & self.mask;
        while self.slots[i] != Self::EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = sym;
        self.len += 1;
    }
}

/// The hash of a symbol name in the name index ([`holdup_types::hash_words`], shared with the
/// BTF name index), its well-mixed high bits moved down.
pub(crate) fn name_hash(name: &[u8]) -> u64 {
    let h = holdup_types::hash_words(0, name);
    (h ^ (h >> 32)).rotate_left(20)
}

impl fmt::Debug for SymbolTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymbolTable")
            .field("origin", &self.origin)
            .field("symbols", &self.len())
            .field("modules", &self.modules.len())
            .finish_non_exhaustive()
    }
}

impl SymbolTable {
    pub(crate) fn new(origin: SymbolOrigin) -> Self {
        SymbolTable {
            arena: String::new(),
            syms: Vec::new(),
            modules: Vec::new(),
            origin,
            by_addr: OnceLock::new(),
            by_name: OnceLock::new(),
            kallsyms: None,
        }
    }

    /// A table whose vmlinux symbols are the kernel's kallsyms searched in place (names
    /// expanded only when asked for); modules' symbols are added as to any table.
    pub fn from_kallsyms_index(index: KallsymsIndex) -> Self {
        let mut t = SymbolTable::new(SymbolOrigin::Kallsyms {
            encoding: index.encoding(),
        });
        t.kallsyms = Some(index);
        t
    }

    /// Vmlinux symbol `i` of the in-place kallsyms.
    fn view_kallsyms<'a>(&'a self, k: &'a KallsymsIndex, i: usize) -> Symbol<'a> {
        let (name, kind) = k.entry(i);
        Symbol {
            name,
            kind: kind as char,
            addr: k.addr(i),
            size: None,
            module: None,
        }
    }

    /// Adds a symbol. `module` is an index into `modules` or `None` for vmlinux. Earlier
    /// symbols win among aliases (same address) and duplicate names.
    pub(crate) fn push(
        &mut self,
        name: &str,
        kind: u8,
        addr: u64,
        size: u64,
        module: Option<usize>,
    ) {
        let name = &name[..name.len().min(u32::MAX as usize)];
        let start = self.arena.len() as u32;
        self.arena.push_str(name);
        self.syms.push(Sym {
            addr,
            size,
            name: start,
            name_len: name.len() as u32,
            kind,
            module: module.map(|m| m as u32).unwrap_or(VMLINUX),
        });
        self.by_addr = OnceLock::new();
        let i = self.syms.len() as u32 - 1;
        if self.by_name.get().is_some_and(NameIndex::needs_growth) {
            self.by_name = OnceLock::new();
        } else if let Some(ix) = self.by_name.get_mut() {
            ix.insert(name.as_bytes(), i);
        }
    }

    /// Adds vmlinux symbols whose names are already in one string: `(start, len, kind,
    /// addr)` with `arena[start..start + len]` the name. Entries outside the arena or not on
    /// character boundaries get an empty name.
    pub(crate) fn extend_from_arena(
        &mut self,
        arena: String,
        count: usize,
        syms: impl Iterator<Item = (u32, u32, u8, u64)>,
    ) {
        let base = self.arena.len() as u32;
        if self.arena.is_empty() {
            self.arena = arena;
        } else {
            self.arena.push_str(&arena);
        }
        self.syms.reserve(count);
        for (start, len, kind, addr) in syms {
            let ok = self
                .arena
                .get((base + start) as usize..(base + start + len) as usize)
                .is_some();
            self.syms.push(Sym {
                addr,
                size: 0,
                name: if ok { base + start } else { 0 },
                name_len: if ok { len } else { 0 },
                kind,
                module: VMLINUX,
            });
        }
        self.by_addr = OnceLock::new();
        self.by_name = OnceLock::new();
    }

    /// Builds the name index from the hashes ([`name_hash`]) of every symbol's name, in table
    /// order, when the caller has them already (`count` of them). Does nothing if the table
    /// does not hold exactly `count` symbols.
    pub(crate) fn index_names_with(&mut self, count: usize, hashes: impl Iterator<Item = u64>) {
        if count != self.syms.len() {
            return;
        }
        let mut ix = NameIndex::with_capacity(count + count / 4);
        let mut n = 0;
        for (i, h) in hashes.enumerate().take(count) {
            ix.insert_hashed(h as usize, i as u32);
            n += 1;
        }
        if n == count {
            self.by_name = OnceLock::from(ix);
        }
    }

    pub(crate) fn push_module(&mut self, m: Module) -> usize {
        self.modules.push(m);
        self.modules.len() - 1
    }

    pub(crate) fn module_mut(&mut self, i: usize) -> &mut Module {
        &mut self.modules[i]
    }

    pub(crate) fn reserve(&mut self, syms: usize, bytes: usize) {
        self.syms.reserve(syms);
        self.arena.reserve(bytes);
    }

    /// Where the vmlinux symbols came from.
    pub fn origin(&self) -> &SymbolOrigin {
        &self.origin
    }

    /// Number of symbols (vmlinux and modules).
    pub fn len(&self) -> usize {
        self.syms.len() + self.kallsyms.as_ref().map_or(0, KallsymsIndex::num_syms)
    }

    /// Whether the vmlinux symbols are kallsyms searched in place (names expanded only when
    /// asked for) rather than a table of every symbol.
    pub fn searched_in_place(&self) -> bool {
        self.kallsyms.is_some()
    }

    /// Whether those kallsyms tables were taken from another dump of the same kernel build.
    pub fn kallsyms_tables_reused(&self) -> bool {
        self.kallsyms
            .as_ref()
            .is_some_and(KallsymsIndex::tables_reused)
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Loaded modules whose symbols were added.
    pub fn modules(&self) -> &[Module] {
        &self.modules
    }

    fn view(&self, s: &Sym) -> Symbol<'_> {
        let name = self
            .arena
            .get(s.name as usize..(s.name + s.name_len) as usize)
            .unwrap_or("");
        Symbol {
            name,
            kind: s.kind as char,
            addr: s.addr,
            size: (s.size != 0).then_some(s.size),
            module: self.modules.get(s.module as usize).map(|m| m.name.as_str()),
        }
    }

    fn name_of(&self, s: &Sym) -> &str {
        self.arena
            .get(s.name as usize..(s.name + s.name_len) as usize)
            .unwrap_or("")
    }

    /// All symbols, in insertion order (the kernel's kallsyms order for kallsyms).
    pub fn iter(&self) -> impl Iterator<Item = Symbol<'_>> + '_ {
        let kallsyms = self
            .kallsyms
            .iter()
            .flat_map(move |k| (0..k.num_syms()).map(move |i| self.view_kallsyms(k, i)));
        kallsyms.chain(self.syms.iter().map(|s| self.view(s)))
    }

    fn by_name(&self) -> &NameIndex {
        self.by_name.get_or_init(|| {
            // Room for the modules' symbols that usually follow, so they need no rebuild.
            let mut ix = NameIndex::with_capacity(self.syms.len() + self.syms.len() / 4);
            for (i, s) in self.syms.iter().enumerate() {
                ix.insert(self.name_of(s).as_bytes(), i as u32);
            }
            ix
        })
    }

    fn by_addr(&self) -> &[u32] {
        self.by_addr.get_or_init(|| {
            let mut v: Vec<u32> = (0..self.syms.len() as u32)
                .filter(|&i| is_kernel_address(self.syms[i as usize].addr))
                .collect();
            v.sort_by_key(|&i| self.syms[i as usize].addr);
            v
        })
    }

    /// Indices of the symbols named `name`, in insertion order, each passed to `f` until it
    /// returns `true`.
    fn find_name(&self, name: &str, mut f: impl FnMut(u32) -> bool) {
        let ix = self.by_name();
        let mut i = NameIndex::hash(name.as_bytes()) & ix.mask;
        loop {
            let sym = ix.slots[i];
            if sym == NameIndex::EMPTY {
                return;
            }
            i = (i + 1) & ix.mask;
            let s = &self.syms[sym as usize];
            if s.name_len as usize == name.len() && self.name_of(s) == name && f(sym) {
                return;
            }
        }
    }

    /// Every symbol with exactly this name, vmlinux's first.
    pub fn lookup_all(&self, name: &str) -> impl Iterator<Item = Symbol<'_>> + '_ {
        let mut found: Vec<Symbol<'_>> = match &self.kallsyms {
            Some(k) => k
                .find_all(name)
                .iter()
                .map(|&i| self.view_kallsyms(k, i))
                .collect(),
            None => Vec::new(),
        };
        self.find_name(name, |i| {
            found.push(self.view(&self.syms[i as usize]));
            false
        });
        found.into_iter()
    }

    /// The symbol of that name (the first one: vmlinux before modules, and for duplicated
    /// static names the first in the table).
    pub fn lookup(&self, name: &str) -> Option<Symbol<'_>> {
        if let Some(k) = &self.kallsyms
            && let Some(&i) = k.find_all(name).first()
        {
            return Some(self.view_kallsyms(k, i));
        }
        let mut first = None;
        self.find_name(name, |i| {
            first = Some(i);
            true
        });
        first.map(|i| self.view(&self.syms[i as usize]))
    }

    /// Address of a symbol (`init_task`, `__per_cpu_offset`). Per-CPU variables give their
    /// per-CPU offset.
    pub fn address_of(&self, name: &str) -> Option<u64> {
        self.lookup(name).map(|s| s.addr)
    }

    /// The symbol of that name in one module.
    pub fn lookup_in_module(&self, module: &str, name: &str) -> Option<Symbol<'_>> {
        self.lookup_all(name).find(|s| s.module == Some(module))
    }

    /// Resolves an address to the symbol containing it, as the kernel's `%pS` does: the last
    /// symbol at or below the address (the first of its aliases), its size the ELF size or
    /// the distance to the next symbol of the same module/vmlinux. `None` outside every
    /// symbol (past the last one, below the first, or beyond an ELF size with nothing after).
    pub fn resolve(&self, addr: u64) -> Option<SymbolRef<'_>> {
        let in_kallsyms = self.kallsyms.as_ref().and_then(|k| {
            let (i, at, next) = k.resolve(addr)?;
            Some((self.view_kallsyms(k, i), at, next))
        });
        let in_table = self.resolve_in_table(addr);
        match (in_kallsyms, in_table) {
            // The nearer symbol below the address wins, as in one table.
            (Some((_, at, _)), Some(r)) if r.symbol.addr >= at => Some(r),
            (Some((symbol, at, next)), _) => Some(SymbolRef {
                symbol,
                offset: addr - at,
                size: next? - at,
            }),
            (None, r) => r,
        }
    }

    /// [`SymbolTable::resolve`] among the symbols of the arena.
    fn resolve_in_table(&self, addr: u64) -> Option<SymbolRef<'_>> {
        let idx = self.by_addr();
        let p = idx.partition_point(|&i| self.syms[i as usize].addr <= addr);
        if p == 0 {
            return None;
        }
        let at = self.syms[idx[p - 1] as usize].addr;
        let first = idx[..p].partition_point(|&i| self.syms[i as usize].addr < at);
        let s = &self.syms[idx[first] as usize];
        let offset = addr - at;
        let next = idx
            .get(p)
            .map(|&i| &self.syms[i as usize])
            .filter(|n| n.module == s.module)
            .map(|n| n.addr - at);
        let size = if s.size != 0 && offset < s.size {
            s.size
        } else {
            next?
        };
        Some(SymbolRef {
            symbol: self.view(s),
            offset,
            size,
        })
    }

    /// `symbol+0x13c/0x2b0 [module]`, or the bare hex address when no symbol contains it.
    pub fn format_address(&self, addr: u64) -> String {
        match self.resolve(addr) {
            Some(r) => r.to_string(),
            None => format!("{addr:#x}"),
        }
    }

    /// The module whose memory contains `addr` (by its regions), if any.
    pub fn module_of(&self, addr: u64) -> Option<&Module> {
        self.modules
            .iter()
            .find(|m| m.regions.iter().any(|&(_, b, s)| addr >= b && addr - b < s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n: usize) -> SymbolTable {
        let mut t = SymbolTable::new(SymbolOrigin::Kallsyms {
            encoding: AddressEncoding::AbsolutePercpu,
        });
        for i in 0..n {
            t.push(
                &format!("sym{i}"),
                b'T',
                KERNEL_HALF + 16 * i as u64,
                0,
                None,
            );
        }
        t
    }

    #[test]
    fn name_index_kept_across_pushes_and_growth_in_insertion_order() {
        let mut t = table(100);
        assert_eq!(t.address_of("sym7"), Some(KERNEL_HALF + 16 * 7));
        // The index exists now: later symbols (a module's) are added to it, duplicates after
        // the earlier ones, across several growths.
        let m = t.push_module(Module {
            name: "m".into(),
            addr: 0,
            regions: Vec::new(),
            symbols: 0,
            error: None,
        });
        for i in 0..1000 {
            t.push(&format!("sym{}", i % 150), b't', 1 + i as u64, 0, Some(m));
        }
        assert_eq!(t.address_of("sym7"), Some(KERNEL_HALF + 16 * 7));
        let all: Vec<u64> = t.lookup_all("sym7").map(|s| s.addr).collect();
        let mut want = vec![KERNEL_HALF + 16 * 7];
        want.extend((0..1000u64).filter(|i| i % 150 == 7).map(|i| i + 1));
        assert_eq!(all, want);
        assert_eq!(t.lookup_in_module("m", "sym120").map(|s| s.addr), Some(121));
        assert_eq!(t.lookup("sym149").map(|s| s.module), Some(Some("m")));
        assert!(t.lookup("sym150").is_none() && t.lookup("").is_none());
    }

    #[test]
    fn arena_symbols_and_resolution() {
        let mut t = table(0);
        let arena = "alphabetagamma".to_string();
        let syms = [
            (0, 5, b'T', KERNEL_HALF),
            (5, 4, b'T', KERNEL_HALF + 0x10),
            (9, 5, b'D', KERNEL_HALF + 0x40),
        ];
        t.extend_from_arena(arena, 3, syms.into_iter());
        assert_eq!(t.address_of("beta"), Some(KERNEL_HALF + 0x10));
        assert_eq!(t.format_address(KERNEL_HALF + 0x13), "beta+0x3/0x30");
        // An entry outside the arena gets an empty name instead of panicking.
        t.extend_from_arena(
            "x".into(),
            1,
            [(0, 9, b'T', KERNEL_HALF + 0x80)].into_iter(),
        );
        assert_eq!(t.lookup("gamma").map(|s| s.kind), Some('D'));
        assert_eq!(t.len(), 4);
    }
}
