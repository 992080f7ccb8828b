//! One symbol table for every source (kallsyms, vmlinux symtab, modules).
//!
//! Names live in one string arena; the address and name orders are index vectors built on
//! first use.

use crate::kallsyms::AddressEncoding;
use std::fmt;
use std::sync::OnceLock;

/// Start of the kernel half of the address space (5-level paging's; 4-level kernel addresses
/// start higher, at 0xffff800000000000).
const KERNEL_HALF: u64 = 0xff00_0000_0000_0000;

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
    by_name: OnceLock<Vec<u32>>,
}

impl fmt::Debug for SymbolTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SymbolTable")
            .field("origin", &self.origin)
            .field("symbols", &self.syms.len())
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
        self.by_name = OnceLock::new();
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
        self.syms.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.syms.is_empty()
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
        self.syms.iter().map(|s| self.view(s))
    }

    fn by_name(&self) -> &[u32] {
        self.by_name.get_or_init(|| {
            let mut v: Vec<u32> = (0..self.syms.len() as u32).collect();
            v.sort_by(|&a, &b| {
                self.name_of(&self.syms[a as usize])
                    .cmp(self.name_of(&self.syms[b as usize]))
            });
            v
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

    /// Every symbol with exactly this name, vmlinux's first.
    pub fn lookup_all(&self, name: &str) -> impl Iterator<Item = Symbol<'_>> + '_ {
        let idx = self.by_name();
        let lo = idx.partition_point(|&i| self.name_of(&self.syms[i as usize]) < name);
        let hi = lo + idx[lo..].partition_point(|&i| self.name_of(&self.syms[i as usize]) == name);
        idx[lo..hi]
            .iter()
            .map(|&i| self.view(&self.syms[i as usize]))
    }

    /// The symbol of that name (the first one: vmlinux before modules, and for duplicated
    /// static names the first in the table).
    pub fn lookup(&self, name: &str) -> Option<Symbol<'_>> {
        self.lookup_all(name).next()
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
