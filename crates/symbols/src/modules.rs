//! Loaded modules' symbols, from the kernel's `modules` list.
//!
//! `struct module { ... struct list_head list; char name[56]; ... struct mod_kallsyms
//! *kallsyms; ... }` with `mod_kallsyms { Elf64_Sym *symtab; unsigned int num_symtab; char
//! *strtab; char *typetab; }`. Memory regions are `mem[MOD_TEXT..]` ({base, size}) on 6.4+
//! and `core_layout`/`init_layout` before. All offsets come from the types, so both work.

use crate::table::{Module, SymbolTable};
use crate::{Result, SymbolError, read_err, read_prefix};
use holdup_kmem::KernelMemory;
use holdup_types::{TypeKind, Types};
use std::collections::HashSet;

/// Most modules walked.
pub const MAX_MODULES: usize = 4096;
/// Most symbols read from one module.
const MAX_MODULE_SYMS: u64 = 1 << 20;
/// Largest module string table read.
const MAX_STRTAB: u64 = 16 << 20;
const SYM_SIZE: usize = 24;
const MODULE_STATE_UNFORMED_DEFAULT: i128 = 3;

/// Member offsets of `struct module` and friends in the dumped kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleLayout {
    pub list: u64,
    pub name: u64,
    pub name_len: u64,
    pub state: Option<(u64, u64)>,
    pub unformed: i128,
    pub kallsyms: u64,
    pub symtab: u64,
    pub num_symtab: (u64, u64),
    pub strtab: u64,
    pub typetab: Option<u64>,
    /// (region name, offset of base, offset and size of the size field).
    pub regions: Vec<(String, u64, (u64, u64))>,
}

impl ModuleLayout {
    /// Reads the offsets from the kernel's types.
    pub fn from_types(t: &Types) -> Result<ModuleLayout> {
        let field = |p: &str| -> Result<(u64, u64)> {
            let f = t.member(p)?;
            Ok((f.offset, t.sizeof_id(f.ty)?))
        };
        let (name, name_len) = field("module.name")?;
        let state = if t.has_member("module.state")? {
            Some(field("module.state")?)
        } else {
            None
        };
        let unformed = t
            .enum_value("module_state", "MODULE_STATE_UNFORMED")
            .unwrap_or(MODULE_STATE_UNFORMED_DEFAULT);
        let mut regions = Vec::new();
        if t.has_member("module.mem")? {
            // 6.4+: mem[MOD_MEM_NUM_TYPES], indexed by enum mod_mem_type.
            let mem = t.member("module.mem")?;
            let len = match t.get(t.resolve(mem.ty)?)?.kind {
                TypeKind::Array { len, .. } => len,
                _ => 0,
            };
            let en = t.find("enum mod_mem_type")?;
            if let TypeKind::Enum { values, .. } = t.get(en)?.kind {
                for v in values {
                    let Ok(i) = u64::try_from(v.value) else {
                        continue;
                    };
                    if i >= len {
                        continue;
                    }
                    let base = t.member(&format!("module.mem[{i}].base"))?.offset;
                    let size = field(&format!("module.mem[{i}].size"))?;
                    regions.push((v.name.to_string(), base, size));
                }
            }
        } else {
            for l in ["core_layout", "init_layout"] {
                if t.has_member(&format!("module.{l}"))? {
                    let base = t.member(&format!("module.{l}.base"))?.offset;
                    let size = field(&format!("module.{l}.size"))?;
                    regions.push((l.trim_end_matches("_layout").to_string(), base, size));
                }
            }
        }
        Ok(ModuleLayout {
            list: t.offsetof("module.list")?,
            name,
            name_len,
            state,
            unformed,
            kallsyms: t.offsetof("module.kallsyms")?,
            symtab: t.offsetof("mod_kallsyms.symtab")?,
            num_symtab: field("mod_kallsyms.num_symtab")?,
            strtab: t.offsetof("mod_kallsyms.strtab")?,
            typetab: if t.has_member("mod_kallsyms.typetab")? {
                Some(t.offsetof("mod_kallsyms.typetab")?)
            } else {
                None
            },
            regions,
        })
    }
}

fn read_uint(
    mem: &dyn KernelMemory,
    addr: u64,
    size: u64,
) -> std::result::Result<u64, holdup_kmem::ReadError> {
    Ok(match size {
        1 => u64::from(mem.read_u8(addr)?),
        2 => u64::from(mem.read_u16(addr)?),
        4 => u64::from(mem.read_u32(addr)?),
        _ => mem.read_u64(addr)?,
    })
}

impl SymbolTable {
    /// Walks the kernel's `modules` list (the address of the `modules` symbol is looked up
    /// in this table) and adds each loaded module's symbols. Returns how many modules were
    /// found; a module whose symbols cannot be read is kept with [`Module::error`] set.
    pub fn add_modules(&mut self, mem: &dyn KernelMemory, types: &Types) -> Result<usize> {
        let head = self
            .address_of("modules")
            .ok_or_else(|| SymbolError::NoSymbol("modules".into()))?;
        let layout = ModuleLayout::from_types(types)?;
        self.add_modules_at(mem, &layout, head)
    }

    /// [`SymbolTable::add_modules`] with an explicit layout and list head.
    pub fn add_modules_at(
        &mut self,
        mem: &dyn KernelMemory,
        l: &ModuleLayout,
        head: u64,
    ) -> Result<usize> {
        let mut seen = HashSet::new();
        let mut next = mem.read_u64(head).map_err(read_err("modules list head"))?;
        let mut count = 0;
        while next != head {
            if count >= MAX_MODULES {
                return Err(SymbolError::Bad {
                    field: "modules list".into(),
                    detail: format!("more than {MAX_MODULES} entries (corrupt list?)"),
                });
            }
            if !seen.insert(next) {
                return Err(SymbolError::Bad {
                    field: "modules list".into(),
                    detail: format!("loops back to {next:#x} without reaching the head"),
                });
            }
            let m = next.wrapping_sub(l.list);
            next = mem
                .read_u64(next)
                .map_err(read_err(format!("module {m:#x} list.next")))?;
            count += 1;
            let raw_name = mem
                .read_vec(m.wrapping_add(l.name), l.name_len.min(256) as usize)
                .map_err(read_err(format!("module {m:#x} name")))?;
            let end = raw_name
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(raw_name.len());
            let name = holdup_text::printable(&raw_name[..end]);
            if let Some((off, sz)) = l.state {
                if let Ok(s) = read_uint(mem, m.wrapping_add(off), sz) {
                    if i128::from(s) == l.unformed {
                        continue;
                    }
                }
            }
            let mut regions = Vec::new();
            for (rname, base, (soff, ssz)) in &l.regions {
                let b = mem.read_u64(m.wrapping_add(*base));
                let s = read_uint(mem, m.wrapping_add(*soff), *ssz);
                if let (Ok(b), Ok(s)) = (b, s) {
                    if b != 0 && s != 0 {
                        regions.push((rname.clone(), b, s));
                    }
                }
            }
            let idx = self.push_module(Module {
                name,
                addr: m,
                regions,
                symbols: 0,
                error: None,
            });
            match self.add_module_symbols(mem, l, m, idx) {
                Ok(n) => self.module_mut(idx).symbols = n,
                Err(e) => self.module_mut(idx).error = Some(e.to_string()),
            }
        }
        Ok(count)
    }

    fn add_module_symbols(
        &mut self,
        mem: &dyn KernelMemory,
        l: &ModuleLayout,
        m: u64,
        idx: usize,
    ) -> Result<usize> {
        let ks = mem
            .read_u64(m.wrapping_add(l.kallsyms))
            .map_err(read_err("module.kallsyms"))?;
        if ks == 0 {
            return Ok(0);
        }
        let symtab = mem
            .read_u64(ks.wrapping_add(l.symtab))
            .map_err(read_err("mod_kallsyms.symtab"))?;
        let num = read_uint(mem, ks.wrapping_add(l.num_symtab.0), l.num_symtab.1)
            .map_err(read_err("mod_kallsyms.num_symtab"))?;
        let strtab = mem
            .read_u64(ks.wrapping_add(l.strtab))
            .map_err(read_err("mod_kallsyms.strtab"))?;
        if num > MAX_MODULE_SYMS {
            return Err(SymbolError::Bad {
                field: "mod_kallsyms.num_symtab".into(),
                detail: format!("{num} (limit {MAX_MODULE_SYMS})"),
            });
        }
        let n = num as usize;
        let raw = mem
            .read_vec(symtab, n * SYM_SIZE)
            .map_err(read_err("mod_kallsyms.symtab[]"))?;
        let types = match l.typetab {
            Some(off) => {
                let t = mem
                    .read_u64(ks.wrapping_add(off))
                    .map_err(read_err("mod_kallsyms.typetab"))?;
                Some(
                    mem.read_vec(t, n)
                        .map_err(read_err("mod_kallsyms.typetab[]"))?,
                )
            }
            None => None,
        };
        let syms: Vec<(u32, u8, u16, u64, u64)> = raw
            .chunks_exact(SYM_SIZE)
            .map(|c| {
                let u32_ = |o: usize| u32::from_le_bytes(c[o..o + 4].try_into().unwrap_or([0; 4]));
                let u64_ = |o: usize| u64::from_le_bytes(c[o..o + 8].try_into().unwrap_or([0; 8]));
                (
                    u32_(0),
                    c[4],
                    u16::from_le_bytes([c[6], c[7]]),
                    u64_(8),
                    u64_(16),
                )
            })
            .collect();
        let max_name = syms.iter().map(|s| u64::from(s.0)).max().unwrap_or(0);
        if max_name >= MAX_STRTAB {
            return Err(SymbolError::Bad {
                field: "mod_kallsyms.strtab".into(),
                detail: format!("name offset {max_name:#x} (limit {MAX_STRTAB:#x})"),
            });
        }
        // The table ends with the name at the largest offset; read up to it plus a name.
        let want = max_name as usize + 512;
        let strs = read_prefix(mem, strtab, want, max_name as usize + 1)
            .map_err(read_err("mod_kallsyms.strtab[]"))?;
        let mut added = 0;
        for (i, &(name_off, info, shndx, value, size)) in syms.iter().enumerate() {
            if shndx == 0 || i == 0 {
                continue;
            }
            let Some(rest) = strs.get(name_off as usize..) else {
                continue;
            };
            let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
            let Ok(name) = std::str::from_utf8(&rest[..end]) else {
                continue;
            };
            if name.is_empty() || name.starts_with('$') {
                continue;
            }
            let kind = match &types {
                Some(t) => t.get(i).copied().unwrap_or(b'?'),
                None => match info & 0xf {
                    2 => b't',
                    1 => b'd',
                    _ => b'?',
                },
            };
            self.push(name, kind, value, size, Some(idx));
            added += 1;
        }
        Ok(added)
    }
}
