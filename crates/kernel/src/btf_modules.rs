//! Module BTF (`kernel/bpf/btf.c`, `CONFIG_DEBUG_INFO_BTF_MODULES`): each loaded module's
//! types, as split BTF on top of the vmlinux's, found through the kernel's `btf_modules` list.
//!
//! What the kernel keeps (6.1 and 6.12 alike):
//!
//! - `static LIST_HEAD(btf_modules)` of `struct btf_module { struct list_head list; struct
//!   module *module; struct btf *btf; struct bin_attribute *sysfs_attr; int flags; }`: an entry
//!   is added (at the head) when a module that has a `.BTF` section comes, and removed when it
//!   goes. `module->btf_data` is cleared once the module's init is done, so this list is the
//!   only way to the BTF; `module->btf_data_size` stays, and is 0 for a module built without
//!   BTF (which gets no entry).
//! - `struct btf { void *data; ... u32 nr_types; ... u32 data_size; ... struct btf *base_btf;
//!   u32 start_id; u32 start_str_off; char name[MODULE_NAME_LEN]; ... }`: `data` is the
//!   kernel's copy of the module's `.BTF` (`data_size` bytes), `nr_types` its own types,
//!   `start_id` its first type id (the vmlinux BTF's type count, `void` included) and
//!   `start_str_off` where its strings start (the size of the vmlinux BTF's string section).
//!   On 6.12, a module built with a distilled base (`.BTF.base`) is relocated at load: its ids
//!   and string offsets in `data` are rewritten in place and these two fields set as above, so
//!   `data` reads the same way.
//!
//! Both structures are private to `btf.c`: their layout comes from the kernel's own types
//! (the vmlinux BTF describes them), and the list head from kallsyms (`btf_modules` is a
//! static symbol, present with `CONFIG_KALLSYMS_ALL`).
//!
//! Nothing here runs unless asked: [`Kernel::types_with_modules`] (or
//! [`Kernel::load_module_types`]) walks the list once and adds every module's split BTF to
//! [`Kernel::types`], cached in it; `holdup info` reports [`Kernel::load_module_types`].

use crate::Kernel;
use crate::list::{ListEnd, list_entries};
use holdup_kmem::{KernelMemory, ReadError};
use holdup_symbols::MAX_MODULES;
use holdup_types::{Btf, TypeError, Types};
pub use holdup_types::{ModuleTypesReport, ModuleTypesState, ModuleTypesStatus, TypeOwner};
use std::collections::HashMap;
use std::sync::Arc;

/// Largest module BTF read: the kernel's own `BTF_MAX_SIZE` (16 MiB).
pub const MAX_MODULE_BTF_SIZE: u32 = 16 << 20;

/// Member offsets of `struct btf_module` and `struct btf` in the dumped kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfModuleLayout {
    pub list: u64,
    pub module: u64,
    pub btf: u64,
    pub data: u64,
    pub data_size: u64,
    pub nr_types: u64,
    pub start_id: u64,
    pub start_str_off: u64,
    /// Offset and length of `btf.name`.
    pub name: (u64, u64),
}

impl BtfModuleLayout {
    /// Reads the offsets from the kernel's types.
    pub fn from_types(t: &Types) -> Result<BtfModuleLayout, TypeError> {
        let name = t.member("btf.name")?;
        Ok(BtfModuleLayout {
            list: t.offsetof("btf_module.list")?,
            module: t.offsetof("btf_module.module")?,
            btf: t.offsetof("btf_module.btf")?,
            data: t.offsetof("btf.data")?,
            data_size: t.offsetof("btf.data_size")?,
            nr_types: t.offsetof("btf.nr_types")?,
            start_id: t.offsetof("btf.start_id")?,
            start_str_off: t.offsetof("btf.start_str_off")?,
            name: (name.offset, t.sizeof_id(name.ty)?.min(256)),
        })
    }
}

/// One entry of `btf_modules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BtfModule {
    /// `btf->name`: the module's name.
    pub name: String,
    /// The `struct btf_module`.
    pub btf_module: u64,
    /// `btf_module->module`.
    pub module: u64,
    /// `btf_module->btf`.
    pub btf: u64,
    /// The split BTF as the kernel holds it, or exactly what could not be read.
    pub data: Result<ModuleBtfData, String>,
}

/// A module's split BTF, read from its `struct btf`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleBtfData {
    /// `btf->data`.
    pub addr: u64,
    /// `btf->data_size` bytes at `btf->data`.
    pub bytes: Vec<u8>,
    pub start_id: u32,
    pub start_str_off: u32,
    /// `btf->nr_types`: the module's own types.
    pub nr_types: u32,
}

/// Why `btf_modules` could not be walked at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BtfModulesError {
    #[error(
        "no symbol btf_modules in kallsyms (a kernel without CONFIG_DEBUG_INFO_BTF_MODULES or CONFIG_KALLSYMS_ALL)"
    )]
    NoList,
    #[error("layout of struct btf_module and struct btf: {0}")]
    Layout(#[from] TypeError),
}

/// Every entry of the kernel's `btf_modules` list, in list order (the most recently loaded
/// module first), and how the walk ended (bounded by [`MAX_MODULES`], cycle-checked). An
/// entry whose BTF cannot be read says which address of which structure failed.
pub fn for_each_btf_module(k: &Kernel) -> Result<(Vec<BtfModule>, ListEnd), BtfModulesError> {
    let head = k
        .symbols
        .address_of("btf_modules")
        .ok_or(BtfModulesError::NoList)?;
    let l = BtfModuleLayout::from_types(&k.types)?;
    Ok(walk_btf_modules(k.mem(), &l, head))
}

/// [`for_each_btf_module`] with an explicit layout and list head.
pub fn walk_btf_modules(
    mem: &dyn KernelMemory,
    l: &BtfModuleLayout,
    head: u64,
) -> (Vec<BtfModule>, ListEnd) {
    let (entries, end) = list_entries(mem, head, l.list, MAX_MODULES);
    let modules = entries
        .into_iter()
        .map(|bm| read_btf_module(mem, l, bm))
        .collect();
    (modules, end)
}

fn read_btf_module(mem: &dyn KernelMemory, l: &BtfModuleLayout, bm: u64) -> BtfModule {
    let at = |s: &str, base: u64, off: u64, e: ReadError| {
        format!("reading {s} at {:#x}: {e}", base.wrapping_add(off))
    };
    let mut out = BtfModule {
        name: String::new(),
        btf_module: bm,
        module: 0,
        btf: 0,
        data: Err(String::new()),
    };
    let ptrs = mem.read_u64(bm.wrapping_add(l.module)).and_then(|m| {
        let b = mem.read_u64(bm.wrapping_add(l.btf))?;
        Ok((m, b))
    });
    let (module, btf) = match ptrs {
        Ok(p) => p,
        Err(e) => {
            out.data = Err(format!("struct btf_module at {bm:#x}: {e}"));
            return out;
        }
    };
    out.module = module;
    out.btf = btf;
    if let Ok(name) = mem.read_cstr(btf.wrapping_add(l.name.0), l.name.1 as usize) {
        out.name = name;
    }
    out.data = (|| {
        let u32_at = |field: &str, off: u64| {
            mem.read_u32(btf.wrapping_add(off))
                .map_err(|e| at(&format!("btf.{field} of struct btf {btf:#x}"), btf, off, e))
        };
        let addr = mem
            .read_u64(btf.wrapping_add(l.data))
            .map_err(|e| at(&format!("btf.data of struct btf {btf:#x}"), btf, l.data, e))?;
        let size = u32_at("data_size", l.data_size)?;
        let start_id = u32_at("start_id", l.start_id)?;
        let start_str_off = u32_at("start_str_off", l.start_str_off)?;
        let nr_types = u32_at("nr_types", l.nr_types)?;
        if size == 0 || size > MAX_MODULE_BTF_SIZE {
            return Err(format!(
                "struct btf {btf:#x}: data_size {size} (expected 1..={MAX_MODULE_BTF_SIZE})"
            ));
        }
        let bytes = mem.read_vec(addr, size as usize).map_err(|e| {
            format!("reading btf.data of struct btf {btf:#x} ({size} bytes at {addr:#x}): {e}")
        })?;
        Ok(ModuleBtfData {
            addr,
            bytes,
            start_id,
            start_str_off,
            nr_types,
        })
    })();
    out
}

impl Kernel {
    /// [`Kernel::types`] with the types of every loaded module that has BTF: the first call
    /// walks `btf_modules` and adds each module's split BTF (see [`Kernel::load_module_types`]);
    /// later calls cost nothing. Lookups by name find vmlinux types first, then module types;
    /// [`Types::owner`] names a type's module.
    pub fn types_with_modules(&self) -> &Types {
        self.load_module_types();
        &self.types
    }

    /// Loads the modules' types once (kept in [`Kernel::types`]) and says, for every loaded
    /// module, how many types its BTF added, that it has none, or why it could not be read.
    pub fn load_module_types(&self) -> &ModuleTypesReport {
        self.types.load_modules_once(|t| load_module_types(self, t))
    }
}

/// A module on the kernel's `modules` list.
struct LoadedModule {
    addr: u64,
    name: String,
    /// `module.btf_data_size`: 0 for a module built without BTF.
    btf_data_size: Result<u32, String>,
}

/// The `modules` list (as `lsmod`; not the symbol table's copy, which commands that need no
/// module symbols leave empty), with each module's `btf_data_size`.
fn loaded_modules(k: &Kernel, t: &Types) -> Result<(Vec<LoadedModule>, ListEnd), String> {
    let head = k
        .symbols
        .address_of("modules")
        .ok_or("no symbol modules in kallsyms")?;
    let err = |e: TypeError| format!("struct module: {e}");
    let list = t.offsetof("module.list").map_err(err)?;
    let name = t.member("module.name").map_err(err)?;
    let name_len = t.sizeof_id(name.ty).map_err(err)?.min(256) as usize;
    let state = t.member("module.state").ok();
    let unformed = t
        .enum_value("module_state", "MODULE_STATE_UNFORMED")
        .ok()
        .and_then(|v| u32::try_from(v).ok());
    let bds = if t.has_member("module.btf_data_size").map_err(err)? {
        Some(t.offsetof("module.btf_data_size").map_err(err)?)
    } else {
        None
    };
    let mem = k.mem();
    let (addrs, end) = list_entries(mem, head, list, MAX_MODULES);
    let mut out = Vec::new();
    for addr in addrs {
        // A module still being set up (MODULE_STATE_UNFORMED) is not loaded yet.
        if let (Some(st), Some(u)) = (&state, unformed) {
            if mem.read_u32(addr.wrapping_add(st.offset)) == Ok(u) {
                continue;
            }
        }
        let name = mem
            .read_cstr(addr.wrapping_add(name.offset), name_len)
            .unwrap_or_else(|_| format!("module {addr:#x}"));
        let btf_data_size = match bds {
            None => Err("the kernel has no module.btf_data_size (no module BTF support)".into()),
            Some(off) => mem.read_u32(addr.wrapping_add(off)).map_err(|e| {
                format!("reading module.btf_data_size of struct module {addr:#x}: {e}")
            }),
        };
        out.push(LoadedModule {
            addr,
            name,
            btf_data_size,
        });
    }
    Ok((out, end))
}

fn load_module_types(k: &Kernel, t: &Types) -> ModuleTypesReport {
    let mut report = ModuleTypesReport::default();
    let mut errors = Vec::new();
    let (entries, complete) = match for_each_btf_module(k) {
        Ok((entries, ListEnd::Complete)) => (entries, true),
        Ok((entries, end)) => {
            errors.push(format!("btf_modules list: {end}"));
            (entries, false)
        }
        Err(e) => {
            errors.push(e.to_string());
            (Vec::new(), false)
        }
    };
    let loaded = match loaded_modules(k, t) {
        Ok((l, ListEnd::Complete)) => l,
        Ok((l, end)) => {
            errors.push(format!("modules list: {end}"));
            l
        }
        Err(e) => {
            errors.push(format!("modules list: {e}"));
            Vec::new()
        }
    };
    // The base of every module's split BTF: the vmlinux BTF (read from the dump when the
    // types come from a vmlinux's DWARF).
    let base: Result<Arc<Btf>, String> = if entries.is_empty() {
        Err(String::new())
    } else {
        match t.vmlinux_btf() {
            Some(b) => Ok(Arc::clone(b)),
            None => holdup_symbols::kernel_btf(k.mem(), &k.symbols)
                .map(Arc::new)
                .map_err(|e| format!("the vmlinux BTF the modules' BTF continues: {e}")),
        }
    };
    let mut by_module: HashMap<u64, BtfModule> = HashMap::new();
    let mut order = Vec::new();
    for e in entries {
        order.push(e.module);
        by_module.insert(e.module, e);
    }
    let add = |name: String, e: BtfModule, report: &mut ModuleTypesReport| {
        let state = match (e.data, &base) {
            (Err(why), _) => ModuleTypesState::Failed(why),
            (Ok(_), Err(why)) => ModuleTypesState::Failed(why.clone()),
            (Ok(d), Ok(base)) => match add_module_btf(t, base, &name, e.btf, d) {
                Ok(types) => ModuleTypesState::Loaded { types },
                Err(why) => ModuleTypesState::Failed(why),
            },
        };
        report.modules.push(ModuleTypesStatus { name, state });
    };
    // In the order of the modules list (as `lsmod`), then entries of modules not on it.
    for m in loaded {
        if let Some(e) = by_module.remove(&m.addr) {
            add(m.name, e, &mut report);
            continue;
        }
        let state = match m.btf_data_size {
            Err(why) => ModuleTypesState::Failed(why),
            Ok(0) => ModuleTypesState::NoBtf,
            Ok(n) if complete => ModuleTypesState::Failed(format!(
                "its .BTF has {n} bytes (module.btf_data_size of struct module {:#x}) but no \
                 btf_modules entry: the kernel refused it at load (its log says why)",
                m.addr
            )),
            Ok(n) => ModuleTypesState::Failed(format!(
                "its .BTF has {n} bytes, not found before the btf_modules walk stopped"
            )),
        };
        report.modules.push(ModuleTypesStatus {
            name: m.name,
            state,
        });
    }
    for addr in order {
        if let Some(e) = by_module.remove(&addr) {
            let name = if e.name.is_empty() {
                format!("module {:#x}", e.module)
            } else {
                e.name.clone()
            };
            add(name, e, &mut report);
        }
    }
    if !errors.is_empty() {
        report.error = Some(errors.join("; "));
    }
    report
}

/// Checks a module's `struct btf` against the vmlinux BTF, parses its split BTF and adds it.
fn add_module_btf(
    t: &Types,
    base: &Arc<Btf>,
    name: &str,
    btf: u64,
    d: ModuleBtfData,
) -> Result<usize, String> {
    if d.start_id != base.next_id() || d.start_str_off != base.str_end_off() {
        return Err(format!(
            "struct btf {btf:#x}: start_id {} and start_str_off {} do not continue the vmlinux \
             BTF (ids up to {}, strings up to {}): not split on it",
            d.start_id,
            d.start_str_off,
            base.next_id() - 1,
            base.str_end_off()
        ));
    }
    let len = d.bytes.len();
    let parsed = Btf::parse_split(
        d.bytes,
        Arc::clone(base),
        format!("BTF of module {name} at {:#x}, {len} bytes", d.addr),
    )
    .map_err(|e| format!("btf.data of struct btf {btf:#x} at {:#x}: {e}", d.addr))?;
    let n = parsed.type_count();
    if n != d.nr_types as usize {
        return Err(format!(
            "btf.data of struct btf {btf:#x} at {:#x} holds {n} types, btf.nr_types says {}",
            d.addr, d.nr_types
        ));
    }
    t.add_module(name, parsed).map_err(|e| e.to_string())?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Kernel memory made of byte ranges.
    struct Mem(BTreeMap<u64, Vec<u8>>);
    impl KernelMemory for Mem {
        fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
            if let Some((base, bytes)) = self.0.range(..=vaddr).next_back() {
                let off = (vaddr - base) as usize;
                if let Some(src) = bytes.get(off..off + buf.len()) {
                    buf.copy_from_slice(src);
                    return Ok(());
                }
            }
            Err(ReadError::NotMapped {
                vaddr,
                detail: "test".into(),
            })
        }
    }

    fn layout() -> BtfModuleLayout {
        BtfModuleLayout {
            list: 0,
            module: 16,
            btf: 24,
            data: 0,
            data_size: 80,
            nr_types: 72,
            start_id: 136,
            start_str_off: 140,
            name: (144, 56),
        }
    }

    fn btf_struct(data: u64, size: u32, name: &str) -> Vec<u8> {
        let mut b = vec![0u8; 208];
        b[0..8].copy_from_slice(&data.to_le_bytes());
        b[72..76].copy_from_slice(&3u32.to_le_bytes());
        b[80..84].copy_from_slice(&size.to_le_bytes());
        b[136..140].copy_from_slice(&100u32.to_le_bytes());
        b[140..144].copy_from_slice(&2000u32.to_le_bytes());
        b[144..144 + name.len()].copy_from_slice(name.as_bytes());
        b
    }

    fn node(next: u64, module: u64, btf: u64) -> Vec<u8> {
        [next, 0, module, btf, 0, 0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    }

    #[test]
    fn entries_are_read_and_failures_name_the_address() {
        let head = 0x1000;
        let mem = Mem(BTreeMap::from([
            (head, node(0x2000, 0, 0)),
            (0x2000, node(0x3000, 0xa000, 0x5000)),
            (0x3000, node(0x4000, 0xb000, 0x6000)),
            (0x4000, node(head, 0xc000, 0x7000)),
            (0x5000, btf_struct(0x9000, 4, "good")),
            (0x6000, btf_struct(0x9100, 4, "unmapped_data")),
            (0x7000, btf_struct(0x9000, MAX_MODULE_BTF_SIZE + 1, "huge")),
            (0x9000, vec![1, 2, 3, 4]),
        ]));
        let (mods, end) = walk_btf_modules(&mem, &layout(), head);
        assert_eq!(end, ListEnd::Complete);
        assert_eq!(mods.len(), 3);
        assert_eq!(mods[0].name, "good");
        assert_eq!((mods[0].module, mods[0].btf), (0xa000, 0x5000));
        let d = mods[0].data.as_ref().unwrap();
        assert_eq!(
            (
                d.addr,
                &d.bytes[..],
                d.start_id,
                d.start_str_off,
                d.nr_types
            ),
            (0x9000, &[1u8, 2, 3, 4][..], 100, 2000, 3)
        );
        let e = mods[1].data.as_ref().unwrap_err();
        assert!(
            e.contains("0x9100") && e.contains("struct btf 0x6000"),
            "{e}"
        );
        let e = mods[2].data.as_ref().unwrap_err();
        assert!(e.contains("data_size") && e.contains("0x7000"), "{e}");
    }

    #[test]
    fn a_corrupt_list_stops_and_says_so() {
        let head = 0x1000;
        let mem = Mem(BTreeMap::from([
            (head, node(0x2000, 0, 0)),
            (0x2000, node(0x3000, 0xa000, 0x5000)),
            (0x3000, node(0x2000, 0xb000, 0x6000)),
        ]));
        let (mods, end) = walk_btf_modules(&mem, &layout(), head);
        assert_eq!(end, ListEnd::Cycle { node: 0x2000 });
        assert_eq!(mods.len(), 2);
        let e = mods[0].data.as_ref().unwrap_err();
        assert!(e.contains("0x5000"), "{e}");
        let mem = Mem(BTreeMap::new());
        let (mods, end) = walk_btf_modules(&mem, &layout(), head);
        assert!(mods.is_empty());
        assert!(matches!(end, ListEnd::Unreadable(_)));
    }
}
