//! Symbols from a vmlinux ELF symtab, relocated by `KERNELOFFSET`.

use crate::table::{SymbolOrigin, SymbolTable, is_kernel_address};
use crate::{Result, SymbolError};
use goblin::elf::Elf;
use goblin::elf::section_header::{SHF_ALLOC, SHF_EXECINSTR, SHF_WRITE, SHT_NOBITS};
use goblin::elf::sym::{STB_GLOBAL, STB_WEAK, STT_FILE, STT_OBJECT, STT_SECTION};
use std::path::Path;

/// Start of the kernel image mapping: only addresses from here are moved by KASLR.
use holdup_kmem::START_KERNEL_MAP;

const SHN_UNDEF: usize = 0;
const SHN_ABS: usize = 0xfff1;
/// Most symbols accepted from one file.
const MAX_ELF_SYMS: usize = 8_000_000;

impl SymbolTable {
    /// Reads the symtab of a vmlinux and adds `kernel_offset` (VMCOREINFO's `KERNELOFFSET`)
    /// to every address in the kernel image mapping. Per-CPU symbols (0-based offsets in
    /// `.data..percpu`) and absolute constants stay as they are.
    pub fn from_vmlinux(path: &Path, kernel_offset: u64) -> Result<SymbolTable> {
        let err = |detail: String| SymbolError::Elf {
            path: path.display().to_string(),
            detail,
        };
        // Read-only and fault-safe; the bytes are treated as untrusted input.
        let map = holdup_kmem::MappedFile::open(path).map_err(|e| err(e.detail()))?;
        Self::from_elf(&map, &path.display().to_string(), kernel_offset)
    }

    /// Like [`SymbolTable::from_vmlinux`] on an ELF image in memory; `label` names it.
    pub fn from_elf(data: &[u8], label: &str, kernel_offset: u64) -> Result<SymbolTable> {
        let err = |detail: String| SymbolError::Elf {
            path: label.to_string(),
            detail,
        };
        let elf = Elf::parse(data).map_err(|e| err(format!("not a usable ELF file: {e}")))?;
        if elf.syms.is_empty() {
            return Err(err("no symbol table (stripped?)".into()));
        }
        if elf.syms.len() > MAX_ELF_SYMS {
            return Err(err(format!(
                "symtab has {} symbols (limit {MAX_ELF_SYMS})",
                elf.syms.len()
            )));
        }
        struct Pending<'a> {
            name: &'a str,
            kind: u8,
            addr: u64,
            size: u64,
            weak: bool,
            underscores: usize,
        }
        let mut out: Vec<Pending> = Vec::with_capacity(elf.syms.len());
        for sym in elf.syms.iter() {
            let st = sym.st_type();
            if st == STT_SECTION || st == STT_FILE || sym.st_shndx == SHN_UNDEF {
                continue;
            }
            let Some(name) = elf.strtab.get_at(sym.st_name) else {
                continue;
            };
            if name.is_empty() {
                continue;
            }
            let bind = sym.st_bind();
            let global = bind == STB_GLOBAL || bind == STB_WEAK;
            let mut kind = if bind == STB_WEAK {
                if st == STT_OBJECT { b'V' } else { b'W' }
            } else if sym.st_shndx == SHN_ABS {
                b'A'
            } else {
                match elf.section_headers.get(sym.st_shndx) {
                    Some(sh) if sh.sh_flags & u64::from(SHF_EXECINSTR) != 0 => b'T',
                    Some(sh) if sh.sh_type == SHT_NOBITS => b'B',
                    Some(sh) if sh.sh_flags & u64::from(SHF_WRITE) != 0 => b'D',
                    Some(sh) if sh.sh_flags & u64::from(SHF_ALLOC) != 0 => b'R',
                    _ => b'N',
                }
            };
            if !global {
                kind = kind.to_ascii_lowercase();
            }
            let addr = if sym.st_value >= START_KERNEL_MAP && is_kernel_address(sym.st_value) {
                sym.st_value.wrapping_add(kernel_offset)
            } else {
                sym.st_value
            };
            out.push(Pending {
                name,
                kind,
                addr,
                size: sym.st_size,
                weak: bind == STB_WEAK,
                underscores: name.bytes().take_while(|&b| b == b'_').count(),
            });
        }
        // Alias order as scripts/kallsyms.c sorts: by address, strong before weak, fewer
        // leading underscores first, then file order.
        out.sort_by_key(|p| (p.addr, p.weak, p.underscores));
        let mut table = SymbolTable::new(SymbolOrigin::Vmlinux {
            path: label.to_string(),
            kernel_offset,
        });
        table.reserve(out.len(), out.iter().map(|p| p.name.len()).sum());
        for p in out {
            table.push(p.name, p.kind, p.addr, p.size, None);
        }
        Ok(table)
    }
}
