//! Module types: the split BTF of loaded modules, added to [`crate::Types`] beside the
//! vmlinux's types, and where each type comes from.

use crate::{Btf, TypeId};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Most modules whose types one [`crate::Types`] holds (as many as the symbols layer walks).
pub const MAX_MODULE_TYPES: usize = CHUNK * CHUNKS;
const CHUNK: usize = 64;
const CHUNKS: usize = 64;

/// A module type's [`TypeId`] has this bit set, the module's slot in bits 32..63 and the type's
/// id in the module's split BTF in bits 0..32. (Vmlinux ids never set it: BTF ids, DWARF offsets,
/// and the DWARF backend's ids of inner array dimensions, which use bit 62.)
const MODULE_FLAG: u64 = 1 << 63;

pub(crate) fn module_type_id(slot: usize, local: u64) -> TypeId {
    TypeId(MODULE_FLAG | ((slot as u64) << 32) | (local & 0xffff_ffff))
}

/// (slot, id in the module's BTF) of a module type id.
pub(crate) fn split_module_id(id: TypeId) -> Option<(usize, u64)> {
    (id.0 & MODULE_FLAG != 0)
        .then_some((((id.0 & !MODULE_FLAG) >> 32) as usize, id.0 & 0xffff_ffff))
}

/// Where a type is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TypeOwner<'a> {
    /// The kernel image: the main source (its BTF or DWARF).
    Vmlinux,
    /// A loaded module, by name: a type of its split BTF.
    Module(&'a str),
}

impl fmt::Display for TypeOwner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TypeOwner::Vmlinux => f.write_str("vmlinux"),
            TypeOwner::Module(m) => write!(f, "module {m}"),
        }
    }
}

/// What loading the modules' types found (see [`crate::Types::load_modules_once`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModuleTypesReport {
    /// One entry per loaded module.
    pub modules: Vec<ModuleTypesStatus>,
    /// Why module types could not be looked for at all, or what cut the search short.
    pub error: Option<String>,
}

/// One module's types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleTypesStatus {
    pub name: String,
    pub state: ModuleTypesState,
}

/// Whether a module's types could be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModuleTypesState {
    /// Its BTF was added, with that many types of its own.
    Loaded { types: usize },
    /// The module carries no BTF (built without it).
    NoBtf,
    /// Its BTF could not be read or used: why.
    Failed(String),
}

impl ModuleTypesReport {
    /// `qemu_fw_cfg (37 types), hangmod (no BTF)`; `none` without modules.
    pub fn summary(&self) -> String {
        let mut parts: Vec<String> = self
            .modules
            .iter()
            .map(|m| match &m.state {
                ModuleTypesState::Loaded { types } => format!("{} ({types} types)", m.name),
                ModuleTypesState::NoBtf => format!("{} (no BTF)", m.name),
                ModuleTypesState::Failed(_) => format!("{} (unreadable)", m.name),
            })
            .collect();
        if parts.is_empty() {
            parts.push("none".into());
        }
        let mut s = parts.join(", ");
        if let Some(e) = &self.error {
            s.push_str(&format!(" ({e})"));
        }
        s
    }

    /// How many modules had their BTF added.
    pub fn loaded(&self) -> usize {
        self.modules
            .iter()
            .filter(|m| matches!(m.state, ModuleTypesState::Loaded { .. }))
            .count()
    }
}

/// One module's split BTF inside [`crate::Types`].
pub(crate) struct ModuleEntry {
    pub name: String,
    pub btf: Btf,
    /// Whether the BTF's base is the [`crate::Types`]' own main source: then its ids below
    /// the module's first id are the vmlinux's ids there.
    pub base_is_main: bool,
}

impl ModuleEntry {
    /// A type id of this module's BTF as the [`crate::Types`] names it.
    pub fn global(&self, slot: usize, id: TypeId) -> TypeId {
        if id == TypeId::VOID || (self.base_is_main && id.0 < u64::from(self.btf.start_id())) {
            id
        } else {
            module_type_id(slot, id.0)
        }
    }
}

/// Append-only slots whose entries never move, so that lookups can borrow them while more
/// are added.
pub(crate) struct Slots<T> {
    chunks: [OnceLock<Box<[OnceLock<T>]>>; CHUNKS],
    len: AtomicUsize,
    push: Mutex<()>,
}

impl<T> Slots<T> {
    pub fn new() -> Self {
        Slots {
            chunks: std::array::from_fn(|_| OnceLock::new()),
            len: AtomicUsize::new(0),
            push: Mutex::new(()),
        }
    }

    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        if i >= self.len() {
            return None;
        }
        self.chunks.get(i / CHUNK)?.get()?.get(i % CHUNK)?.get()
    }

    /// Adds `v` and returns its index, or gives it back when full.
    pub fn push(&self, v: T) -> Result<usize, T> {
        let _one_at_a_time = self.push.lock().unwrap_or_else(|e| e.into_inner());
        let i = self.len.load(Ordering::Acquire);
        let Some(chunk) = self.chunks.get(i / CHUNK) else {
            return Err(v);
        };
        let chunk = chunk.get_or_init(|| (0..CHUNK).map(|_| OnceLock::new()).collect());
        chunk[i % CHUNK].set(v)?;
        self.len.store(i + 1, Ordering::Release);
        Ok(i)
    }

    pub fn iter(&self) -> impl Iterator<Item = (usize, &T)> {
        (0..self.len()).filter_map(|i| Some((i, self.get(i)?)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_their_entries_and_refuse_past_the_limit() {
        let s = Slots::new();
        for i in 0..MAX_MODULE_TYPES {
            assert_eq!(s.push(i), Ok(i));
        }
        assert_eq!(s.push(7), Err(7));
        assert_eq!(s.get(4095), Some(&4095));
        assert_eq!(s.get(4096), None);
        assert_eq!(s.iter().count(), MAX_MODULE_TYPES);
    }

    #[test]
    fn module_ids_round_trip_and_never_look_like_vmlinux_ids() {
        let id = module_type_id(3, 100_751);
        assert_eq!(split_module_id(id), Some((3, 100_751)));
        assert_eq!(split_module_id(TypeId(100_751)), None);
        assert_eq!(split_module_id(TypeId(0x7fff_ffff_ffff)), None);
    }
}
