//! Kernel type layouts: struct members, sizes and enum values.
//!
//! Two sources give the same answers through one API:
//!
//! * [`Btf`]: the kernel's own BTF, read from memory between `__start_BTF` and `__stop_BTF`
//!   (or from a vmlinux's `.BTF` section). Needs nothing but the dump.
//! * [`Dwarf`]: the DWARF of a vmlinux with debug info.
//!
//! Both implement [`TypeSource`], a small backend interface (decode one type by id, find types
//! by name). [`Types`] sits on top of any source and adds what callers want, all cached:
//! member paths (`task_struct.thread.sp`), `sizeof`, enum values (`PG_locked`), type names.
//! [`Types::origin`] always says which source the answers came from.
//!
//! Loaded modules' types come from their split BTF ([`Btf::parse_split`]), added with
//! [`Types::add_module`]: lookups by name search the vmlinux first, then the modules, and
//! [`Types::owner`] says where a type is defined. Nothing about modules is read until asked
//! (`holdup_kernel`'s `Kernel::types_with_modules` walks the kernel's `btf_modules` once).
//!
//! Everything read is untrusted: sizes and counts are bounded, cycles are cut, and a bad blob
//! is refused with an error naming the field.

mod btf;
mod dwarf;
mod members_at;
mod model;
mod modules;
mod path;

pub use btf::{BTF_MAX_SIZE, Btf, hash_words};
pub use dwarf::Dwarf;
pub use members_at::MemberAt;
pub use model::*;
pub use modules::{
    MAX_MODULE_TYPES, ModuleTypesReport, ModuleTypesState, ModuleTypesStatus, TypeOwner,
};

use holdup_kmem::ReadError;
use modules::{ModuleEntry, Slots, module_type_id, split_module_id};
use std::any::Any;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock, RwLock};
use thiserror::Error;

/// Why a type question could not be answered.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TypeError {
    /// The BTF blob is malformed or claims absurd sizes; `field` names what was wrong.
    #[error("bad BTF: {field}: {detail}")]
    BadBtf { field: String, detail: String },
    /// The DWARF could not be read.
    #[error("bad DWARF: {0}")]
    BadDwarf(String),
    /// The vmlinux file could not be opened or is not a usable ELF.
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    /// Reading the type data from kernel memory failed.
    #[error("reading {what} from kernel memory: {source}")]
    Read {
        what: &'static str,
        #[source]
        source: ReadError,
    },
    /// No type of that name.
    #[error("no type {name:?} in {origin}")]
    NotFound { name: String, origin: String },
    /// The type has no such member (also looked for in its anonymous structs and unions).
    #[error("{ty} has no member {member:?}")]
    NoMember { ty: String, member: String },
    /// No enum defines that enumerator.
    #[error("no enumerator {name:?}{}", in_enum.as_ref().map(|e| format!(" in enum {e}")).unwrap_or_default())]
    NoEnumerator {
        name: String,
        in_enum: Option<String>,
    },
    /// A member path could not be followed (syntax, index out of bounds, through a pointer).
    #[error("member path {path:?}: {detail}")]
    BadPath { path: String, detail: String },
    /// A type id that the source does not have.
    #[error("type id {0} does not exist")]
    BadId(u64),
    /// A question that makes no sense for this type (sizeof a function, members of an int...).
    #[error("{ty}: {detail}")]
    Unsupported { ty: String, detail: String },
}

/// Enumerator name -> every (enum, value) defining it.
pub(crate) type EnumeratorIndex = std::collections::HashMap<Box<str>, Vec<(TypeId, i128)>>;

/// Result of this crate.
pub type Result<T, E = TypeError> = std::result::Result<T, E>;

/// Where the types came from: always reported next to any answer built from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub kind: OriginKind,
    /// Human description: which memory range or file, how many types.
    pub description: String,
}

/// The backend kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OriginKind {
    /// The kernel's BTF (`.BTF`), from memory or from a vmlinux file.
    Btf,
    /// DWARF debug info of a vmlinux.
    Dwarf,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

impl fmt::Display for OriginKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OriginKind::Btf => "BTF",
            OriginKind::Dwarf => "DWARF",
        })
    }
}

/// Which kind of named type a lookup wants (C has separate tag and ordinary namespaces).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NameKind {
    Struct,
    Union,
    Enum,
    Typedef,
    /// Integers and floats: `int`, `long unsigned int`, `_Bool`.
    Base,
}

impl NameKind {
    pub const ALL: [NameKind; 5] = [
        NameKind::Struct,
        NameKind::Union,
        NameKind::Enum,
        NameKind::Typedef,
        NameKind::Base,
    ];
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// A backend: decodes types by id and finds them by name. Implemented by [`Btf`] and
/// [`Dwarf`]; [`Types`] adds member paths, sizes and caches on top of any of them.
pub trait TypeSource: Send + Sync {
    /// Which source this is.
    fn origin(&self) -> &Origin;
    /// Decodes one type. [`TypeId::VOID`] is `void`.
    fn get(&self, id: TypeId) -> Result<Type<'_>>;
    /// All types of that kind and exact name (several when names repeat, e.g. a declaration
    /// and a definition, or two file-private structs of the same name).
    fn find(&self, kind: NameKind, name: &str) -> Result<Vec<TypeId>>;
    /// Every enum that defines `name`, with the value there.
    fn find_enumerator(&self, name: &str) -> Result<Vec<(TypeId, i128)>>;
}

impl<T: TypeSource + ?Sized> TypeSource for Arc<T> {
    fn origin(&self) -> &Origin {
        (**self).origin()
    }
    fn get(&self, id: TypeId) -> Result<Type<'_>> {
        (**self).get(id)
    }
    fn find(&self, kind: NameKind, name: &str) -> Result<Vec<TypeId>> {
        (**self).find(kind, name)
    }
    fn find_enumerator(&self, name: &str) -> Result<Vec<(TypeId, i128)>> {
        (**self).find_enumerator(name)
    }
}

/// Where a member is: what `offsetof` and the bitfield layout say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset from the start of the outer type (`bit_offset / 8`).
    pub offset: u64,
    /// Offset in bits from the start of the outer type.
    pub bit_offset: u64,
    /// Width for a bitfield, `None` for an ordinary member.
    pub bit_size: Option<u32>,
    /// The member's type (as declared: may be a typedef or qualified).
    pub ty: TypeId,
}

impl Field {
    /// Bit position inside the byte at [`Field::offset`] (0 for non-bitfields).
    pub fn bit_in_byte(&self) -> u32 {
        (self.bit_offset % 8) as u32
    }
}

/// Longest typedef/qualifier chain or nesting followed before giving up (a cycle in bad data).
pub(crate) const MAX_DEPTH: usize = 64;
/// Most struct/union bodies searched for one member name.
const MEMBER_SEARCH_BUDGET: usize = 4096;

/// Type questions answered from any [`TypeSource`], with caches; plus the types of loaded
/// modules once added ([`Types::add_module`]).
pub struct Types {
    src: Box<dyn TypeSource>,
    /// `src` when it is BTF: the base of the modules' split BTF.
    btf: Option<Arc<Btf>>,
    by_name: RwLock<HashMap<String, TypeId>>,
    fields: RwLock<HashMap<String, Field>>,
    sizes: RwLock<HashMap<TypeId, u64>>,
    modules: Slots<ModuleEntry>,
    module_report: OnceLock<ModuleTypesReport>,
}

impl fmt::Debug for Types {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Types")
            .field("origin", self.origin())
            .finish_non_exhaustive()
    }
}

impl From<Btf> for Types {
    fn from(b: Btf) -> Self {
        Types::new(b)
    }
}

impl From<Dwarf> for Types {
    fn from(d: Dwarf) -> Self {
        Types::new(d)
    }
}

impl From<Arc<Btf>> for Types {
    fn from(b: Arc<Btf>) -> Self {
        Types::build(Box::new(Arc::clone(&b)), Some(b))
    }
}

impl Types {
    /// Wraps a source. A [`Btf`] is kept shared, as the base of modules' split BTF
    /// ([`Types::vmlinux_btf`]).
    pub fn new<S: TypeSource + 'static>(src: S) -> Self {
        let src: Box<dyn Any> = Box::new(src);
        match src.downcast::<Btf>() {
            Ok(b) => Types::from(Arc::<Btf>::from(b)),
            Err(src) => match src.downcast::<S>() {
                Ok(s) => Types::build(s, None),
                Err(_) => unreachable!("a Box<S> downcasts to S"),
            },
        }
    }

    fn build(src: Box<dyn TypeSource>, btf: Option<Arc<Btf>>) -> Self {
        Types {
            src,
            btf,
            by_name: RwLock::new(HashMap::new()),
            fields: RwLock::new(HashMap::new()),
            sizes: RwLock::new(HashMap::new()),
            modules: Slots::new(),
            module_report: OnceLock::new(),
        }
    }

    /// Which source the answers come from (for the vmlinux; see [`Types::owner`] for
    /// modules).
    pub fn origin(&self) -> &Origin {
        self.src.origin()
    }

    /// The backend of the vmlinux types.
    pub fn source(&self) -> &dyn TypeSource {
        &*self.src
    }

    /// The vmlinux BTF when it is the source: the base a module's split BTF is parsed on
    /// ([`Btf::parse_split`]) for [`Types::add_module`].
    pub fn vmlinux_btf(&self) -> Option<&Arc<Btf>> {
        self.btf.as_ref()
    }

    /// Decodes one type (a vmlinux type, or a module's).
    pub fn get(&self, id: TypeId) -> Result<Type<'_>> {
        let Some((slot, local)) = split_module_id(id) else {
            return self.src.get(id);
        };
        let m = self.modules.get(slot).ok_or(TypeError::BadId(id.0))?;
        let t = m.btf.get(TypeId(local))?;
        let g = |t| m.global(slot, t);
        Ok(Type {
            id,
            name: t.name,
            kind: t.kind.map_ids(g),
        })
    }

    fn not_found(&self, name: &str) -> TypeError {
        let n = self.modules.len();
        TypeError::NotFound {
            name: name.to_string(),
            origin: if n == 0 {
                self.origin().to_string()
            } else {
                format!("{} nor in the BTF of {n} modules", self.origin())
            },
        }
    }

    /// Adds a loaded module's types: its split BTF on top of the vmlinux's (parsed with
    /// [`Btf::parse_split`] on [`Types::vmlinux_btf`], or on the vmlinux BTF read separately
    /// when the main source is DWARF). Lookups by name then find its types when the vmlinux
    /// has none of that name; [`Types::owner`] names the module. Fails past
    /// [`MAX_MODULE_TYPES`] modules.
    pub fn add_module(&self, name: impl Into<String>, btf: Btf) -> Result<()> {
        let name = name.into();
        let base_is_main = match (btf.base(), &self.btf) {
            (Some(b), Some(main)) => Arc::ptr_eq(b, main),
            _ => false,
        };
        self.modules
            .push(ModuleEntry {
                name: name.clone(),
                btf,
                base_is_main,
            })
            .map_err(|_| TypeError::Unsupported {
                ty: format!("module {name}"),
                detail: format!("more than {MAX_MODULE_TYPES} modules with types"),
            })?;
        // Answers found in modules may change with one more: cached ones are dropped (the
        // vmlinux ones are quickly found again).
        if let Ok(mut m) = self.by_name.write() {
            m.retain(|_, id| split_module_id(*id).is_none());
        }
        if let Ok(mut m) = self.fields.write() {
            m.clear();
        }
        Ok(())
    }

    /// The modules whose types were added, with their BTF, in the order added.
    pub fn modules(&self) -> impl Iterator<Item = (&str, &Btf)> {
        self.modules.iter().map(|(_, m)| (m.name.as_str(), &m.btf))
    }

    /// Where type `id` is defined: the vmlinux, or the module whose BTF holds it (a vmlinux
    /// type reached through a module's member is the vmlinux's).
    pub fn owner(&self, id: TypeId) -> Result<TypeOwner<'_>> {
        let Some((slot, local)) = split_module_id(id) else {
            return Ok(TypeOwner::Vmlinux);
        };
        let m = self.modules.get(slot).ok_or(TypeError::BadId(id.0))?;
        Ok(if m.btf.is_own(TypeId(local)) {
            TypeOwner::Module(&m.name)
        } else {
            TypeOwner::Vmlinux
        })
    }

    /// Runs `load` (which adds modules with [`Types::add_module`]) the first time it is
    /// called and keeps its report; later calls return that report without running theirs.
    /// `load` must not call this again.
    pub fn load_modules_once(
        &self,
        load: impl FnOnce(&Types) -> ModuleTypesReport,
    ) -> &ModuleTypesReport {
        self.module_report.get_or_init(|| load(self))
    }

    /// The report of [`Types::load_modules_once`], if it ran.
    pub fn module_report(&self) -> Option<&ModuleTypesReport> {
        self.module_report.get()
    }

    /// Finds a type by name in one module's own types (see [`Types::find`] for the syntax).
    pub fn find_in_module(&self, module: &str, name: &str) -> Result<TypeId> {
        let name = name.trim();
        let (kinds, bare) = name_kinds(name);
        if !self.modules.iter().any(|(_, m)| m.name == module) {
            return Err(TypeError::NotFound {
                name: name.to_string(),
                origin: format!("module {module} (no BTF of it was added)"),
            });
        }
        self.find_in_modules(kinds, bare, Some(module))?
            .ok_or_else(|| TypeError::NotFound {
                name: name.to_string(),
                origin: format!("the BTF of module {module}"),
            })
    }

    /// The best candidate of the first kind that any module (or only `only`) defines.
    fn find_in_modules(
        &self,
        kinds: &[NameKind],
        bare: &str,
        only: Option<&str>,
    ) -> Result<Option<TypeId>> {
        if self.modules.len() == 0 {
            return Ok(None);
        }
        for &k in kinds {
            let mut cands = Vec::new();
            for (slot, m) in self.modules.iter() {
                if only.is_some_and(|o| o != m.name) {
                    continue;
                }
                cands.extend(
                    m.btf
                        .find_own(k, bare)?
                        .into_iter()
                        .map(|id| module_type_id(slot, id.0)),
                );
            }
            if let Some(id) = self.best_candidate(&cands)? {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Finds a type by C name: `struct task_struct`, `union thread_union`, `enum pageflags`,
    /// a typedef (`pgd_t`), a base type (`unsigned int`), or a bare tag name (`task_struct`:
    /// struct, then union, then enum when no typedef or base type has the name).
    ///
    /// When a name has several definitions the complete one with the largest size wins (as
    /// makedumpfile does); a declaration (`struct foo;`) is used only when nothing else exists.
    ///
    /// Modules' types ([`Types::add_module`]) are searched only when the vmlinux has no type
    /// of that name, with the same rule across every module.
    pub fn find(&self, name: &str) -> Result<TypeId> {
        let name = name.trim();
        if let Some(id) = self.by_name.read().ok().and_then(|m| m.get(name).copied()) {
            return Ok(id);
        }
        let (kinds, bare) = name_kinds(name);
        let mut found = None;
        for &k in kinds {
            let cands = self.src.find(k, bare)?;
            if let Some(id) = self.best_candidate(&cands)? {
                found = Some(id);
                break;
            }
        }
        if found.is_none() {
            found = self.find_in_modules(kinds, bare, None)?;
        }
        let Some(id) = found else {
            return Err(self.not_found(name));
        };
        if let Ok(mut m) = self.by_name.write() {
            m.insert(name.to_string(), id);
        }
        Ok(id)
    }

    /// Like [`Types::find`] but `None` when absent (other errors still fail).
    pub fn try_find(&self, name: &str) -> Result<Option<TypeId>> {
        match self.find(name) {
            Ok(id) => Ok(Some(id)),
            Err(TypeError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn best_candidate(&self, cands: &[TypeId]) -> Result<Option<TypeId>> {
        let mut best: Option<(bool, u64, TypeId)> = None;
        for &id in cands {
            let t = self.get(id)?;
            let (complete, size) = match &t.kind {
                TypeKind::Struct { size, .. } | TypeKind::Union { size, .. } => (true, *size),
                TypeKind::Enum { size, .. } => (true, u64::from(*size)),
                TypeKind::Fwd { .. } => (false, 0),
                _ => (true, 0),
            };
            let better = match best {
                None => true,
                Some((bc, bs, _)) => (complete, size) > (bc, bs),
            };
            if better {
                best = Some((complete, size, id));
            }
        }
        Ok(best.map(|b| b.2))
    }

    /// Strips typedefs, `const`, `volatile`, `restrict` and type tags.
    pub fn resolve(&self, mut id: TypeId) -> Result<TypeId> {
        for _ in 0..MAX_DEPTH {
            match self.get(id)?.kind {
                TypeKind::Typedef { target }
                | TypeKind::Const { target }
                | TypeKind::Volatile { target }
                | TypeKind::Restrict { target }
                | TypeKind::TypeTag { target } => id = target,
                _ => return Ok(id),
            }
        }
        Err(TypeError::Unsupported {
            ty: format!("type id {}", id.0),
            detail: format!("typedef/qualifier chain longer than {MAX_DEPTH} (a cycle?)"),
        })
    }

    /// `sizeof` of a named type (`task_struct`, `struct page`, `pgd_t`).
    pub fn sizeof(&self, name: &str) -> Result<u64> {
        let id = self.find(name)?;
        self.sizeof_id(id)
    }

    /// `sizeof` of a type.
    pub fn sizeof_id(&self, id: TypeId) -> Result<u64> {
        if let Some(s) = self.sizes.read().ok().and_then(|m| m.get(&id).copied()) {
            return Ok(s);
        }
        let s = self.sizeof_depth(id, 0)?;
        if let Ok(mut m) = self.sizes.write() {
            m.insert(id, s);
        }
        Ok(s)
    }

    fn sizeof_depth(&self, id: TypeId, depth: usize) -> Result<u64> {
        if depth > MAX_DEPTH {
            return Err(TypeError::Unsupported {
                ty: self.type_name(id),
                detail: "type nests too deeply (a cycle?)".into(),
            });
        }
        let t = self.get(id)?;
        let unsized_ = |what: &str| TypeError::Unsupported {
            ty: self.type_name(id),
            detail: format!("{what} has no size"),
        };
        Ok(match t.kind {
            TypeKind::Void => return Err(unsized_("void")),
            TypeKind::Int { size, .. } | TypeKind::Float { size } => u64::from(size),
            TypeKind::Pointer { .. } => 8,
            TypeKind::Array { elem, len, .. } => {
                let e = self.sizeof_depth(elem, depth + 1)?;
                e.checked_mul(len)
                    .ok_or_else(|| unsized_("array overflowing u64"))?
            }
            TypeKind::Struct { size, .. } | TypeKind::Union { size, .. } => size,
            TypeKind::Enum { size, .. } => u64::from(size),
            TypeKind::Datasec { size, .. } => u64::from(size),
            TypeKind::Typedef { target }
            | TypeKind::Const { target }
            | TypeKind::Volatile { target }
            | TypeKind::Restrict { target }
            | TypeKind::TypeTag { target }
            | TypeKind::Var { ty: target, .. } => self.sizeof_depth(target, depth + 1)?,
            TypeKind::Fwd { .. } => return Err(unsized_("an incomplete (declared only) type")),
            TypeKind::Func { .. } | TypeKind::FuncProto { .. } => {
                return Err(unsized_("a function"));
            }
            TypeKind::DeclTag { .. } => return Err(unsized_("a declaration tag")),
        })
    }

    /// Resolves `type.member.member[idx]...`: `task_struct.thread.sp`, `rq.cfs.nr_running`,
    /// `module.mem[MOD_TEXT].base`, `struct page.flags`. The first component names the outer
    /// type (see [`Types::find`]); members inside anonymous structs/unions are found as in C;
    /// an array index is a number or an enumerator name. Pointers are not followed.
    pub fn member(&self, path: &str) -> Result<Field> {
        if let Some(f) = self.fields.read().ok().and_then(|m| m.get(path).copied()) {
            return Ok(f);
        }
        let (ty, rest) = path::split_type(path)?;
        let id = self.find(ty)?;
        let f = self.member_in(id, rest).map_err(|e| match e {
            TypeError::BadPath { detail, .. } => TypeError::BadPath {
                path: path.to_string(),
                detail,
            },
            e => e,
        })?;
        if let Ok(mut m) = self.fields.write() {
            m.insert(path.to_string(), f);
        }
        Ok(f)
    }

    /// `offsetof(path)` in bytes; see [`Types::member`].
    pub fn offsetof(&self, path: &str) -> Result<u64> {
        Ok(self.member(path)?.offset)
    }

    /// Whether the member path exists (e.g. `module.mem` on 6.4+, `module.core_layout` before).
    /// Other errors (bad data) are still errors.
    pub fn has_member(&self, path: &str) -> Result<bool> {
        match self.member(path) {
            Ok(_) => Ok(true),
            Err(TypeError::NoMember { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Resolves a member path inside type `id` (`thread.sp` in `task_struct`). An empty path
    /// is the type itself at offset 0.
    pub fn member_in(&self, id: TypeId, path: &str) -> Result<Field> {
        let steps = path::parse(path)?;
        let mut cur = Field {
            offset: 0,
            bit_offset: 0,
            bit_size: None,
            ty: id,
        };
        for step in steps {
            match step {
                path::Step::Member(name) => {
                    if cur.bit_size.is_some() {
                        return Err(TypeError::BadPath {
                            path: path.to_string(),
                            detail: format!("bitfield has no member {name:?}"),
                        });
                    }
                    let outer = self.resolve(cur.ty)?;
                    let (bit, m) = self
                        .find_member(outer, name, 0, &mut { MEMBER_SEARCH_BUDGET })?
                        .ok_or_else(|| {
                            let t = self.get(outer);
                            match t {
                                Ok(t) if matches!(t.kind, TypeKind::Pointer { .. }) => {
                                    TypeError::BadPath {
                                        path: path.to_string(),
                                        detail: format!(
                                            "{} is a pointer; member paths do not follow pointers",
                                            self.type_name(cur.ty)
                                        ),
                                    }
                                }
                                _ => TypeError::NoMember {
                                    ty: self.type_name(outer),
                                    member: name.to_string(),
                                },
                            }
                        })?;
                    let bit_offset =
                        cur.bit_offset
                            .checked_add(bit)
                            .ok_or_else(|| TypeError::BadPath {
                                path: path.to_string(),
                                detail: "offset overflows".into(),
                            })?;
                    cur = Field {
                        offset: bit_offset / 8,
                        bit_offset,
                        bit_size: m.bit_size,
                        ty: m.ty,
                    };
                }
                path::Step::Index(idx) => {
                    let arr = self.resolve(cur.ty)?;
                    let TypeKind::Array { elem, len, .. } = self.get(arr)?.kind else {
                        return Err(TypeError::BadPath {
                            path: path.to_string(),
                            detail: format!("{} is not an array", self.type_name(cur.ty)),
                        });
                    };
                    let i = match idx {
                        path::Index::Num(n) => n,
                        path::Index::Name(n) => {
                            let v = self.enumerator(n)?;
                            u64::try_from(v).map_err(|_| TypeError::BadPath {
                                path: path.to_string(),
                                detail: format!("index {n} = {v} is negative"),
                            })?
                        }
                    };
                    if len != 0 && i >= len {
                        return Err(TypeError::BadPath {
                            path: path.to_string(),
                            detail: format!("index {i} out of bounds of [{len}]"),
                        });
                    }
                    let esz = self.sizeof_id(elem)?;
                    let add = i
                        .checked_mul(esz)
                        .and_then(|b| b.checked_mul(8))
                        .and_then(|b| cur.bit_offset.checked_add(b))
                        .ok_or_else(|| TypeError::BadPath {
                            path: path.to_string(),
                            detail: "offset overflows".into(),
                        })?;
                    cur = Field {
                        offset: add / 8,
                        bit_offset: add,
                        bit_size: None,
                        ty: elem,
                    };
                }
            }
        }
        Ok(cur)
    }

    /// Finds `name` among the members of struct/union `id`, looking into anonymous members.
    /// Returns the bit offset relative to `id` and the member.
    fn find_member(
        &self,
        id: TypeId,
        name: &str,
        depth: usize,
        budget: &mut usize,
    ) -> Result<Option<(u64, Member<'static>)>> {
        // Depth and total work are bounded: bad data can nest anonymous members in a cycle
        // or a diamond.
        if depth > MAX_DEPTH || *budget == 0 {
            return Ok(None);
        }
        *budget -= 1;
        let t = self.get(id)?;
        let members = match &t.kind {
            TypeKind::Struct { members, .. } | TypeKind::Union { members, .. } => members,
            _ => return Ok(None),
        };
        for m in members {
            if m.name == name {
                return Ok(Some((
                    m.bit_offset,
                    Member {
                        name: "",
                        ty: m.ty,
                        bit_offset: m.bit_offset,
                        bit_size: m.bit_size,
                    },
                )));
            }
        }
        for m in members {
            if m.name.is_empty() {
                let inner = self.resolve(m.ty)?;
                if let Some((b, found)) = self.find_member(inner, name, depth + 1, budget)? {
                    return Ok(Some((m.bit_offset.saturating_add(b), found)));
                }
            }
        }
        Ok(None)
    }

    /// Value of `enumerator` in `enum enum_name` (`enum_value("pageflags", "PG_locked")`).
    /// Modules' enums are searched when the vmlinux has no enum of that name.
    pub fn enum_value(&self, enum_name: &str, enumerator: &str) -> Result<i128> {
        let bare = enum_name.strip_prefix("enum ").unwrap_or(enum_name).trim();
        let mut saw_enum = false;
        let mut ids = self.src.find(NameKind::Enum, bare)?;
        if ids.is_empty() {
            for (slot, m) in self.modules.iter() {
                ids.extend(
                    m.btf
                        .find_own(NameKind::Enum, bare)?
                        .into_iter()
                        .map(|id| module_type_id(slot, id.0)),
                );
            }
        }
        for id in ids {
            if let TypeKind::Enum { values, .. } = self.get(id)?.kind {
                saw_enum = true;
                if let Some(e) = values.iter().find(|e| e.name == enumerator) {
                    return Ok(e.value);
                }
            }
        }
        if !saw_enum {
            return Err(self.not_found(&format!("enum {bare}")));
        }
        Err(TypeError::NoEnumerator {
            name: enumerator.to_string(),
            in_enum: Some(bare.to_string()),
        })
    }

    /// The first enumerator of `enum enum_name` whose value is `value` (`BH_Lock` for 2 of
    /// `bh_state_bits`), if the enum has one.
    pub fn enumerator_name(&self, enum_name: &str, value: i128) -> Option<String> {
        let bare = enum_name.strip_prefix("enum ").unwrap_or(enum_name).trim();
        self.src
            .find(NameKind::Enum, bare)
            .ok()?
            .into_iter()
            .find_map(|id| match self.get(id).ok()?.kind {
                TypeKind::Enum { values, .. } => values
                    .iter()
                    .find(|e| e.value == value)
                    .map(|e| e.name.to_string()),
                _ => None,
            })
    }

    /// Value of an enumerator wherever it is defined (`PG_locked`, `MOD_TEXT`). Fails if
    /// two enums define it with different values. Modules' enums are searched when no vmlinux
    /// enum defines it.
    pub fn enumerator(&self, name: &str) -> Result<i128> {
        let mut found = self.src.find_enumerator(name)?;
        if found.is_empty() {
            for (slot, m) in self.modules.iter() {
                found.extend(
                    m.btf
                        .find_own_enumerator(name)
                        .into_iter()
                        .map(|(id, v)| (module_type_id(slot, id.0), v)),
                );
            }
        }
        let Some(&(_, v)) = found.first() else {
            return Err(TypeError::NoEnumerator {
                name: name.to_string(),
                in_enum: None,
            });
        };
        if let Some(&(other, w)) = found.iter().find(|(_, w)| *w != v) {
            return Err(TypeError::Unsupported {
                ty: self.type_name(other),
                detail: format!("enumerator {name} is ambiguous: {v} and {w}"),
            });
        }
        Ok(v)
    }

    /// C spelling of a type, e.g. `struct list_head *`, `char [16]`, `unsigned int`.
    pub fn type_name(&self, id: TypeId) -> String {
        let mut s = String::new();
        self.write_name(id, &mut s, 0);
        s
    }

    fn write_name(&self, id: TypeId, out: &mut String, depth: usize) {
        if depth > 16 {
            out.push_str("...");
            return;
        }
        let t = match self.get(id) {
            Ok(t) => t,
            Err(_) => {
                out.push_str(&format!("<bad type {}>", id.0));
                return;
            }
        };
        let named = |kw: &str, n: &str| {
            if n.is_empty() {
                format!("{kw} <anonymous>")
            } else {
                format!("{kw} {n}")
            }
        };
        match &t.kind {
            TypeKind::Void => out.push_str("void"),
            TypeKind::Int { .. } | TypeKind::Float { .. } | TypeKind::Typedef { .. } => {
                out.push_str(t.name)
            }
            TypeKind::Struct { .. } => out.push_str(&named("struct", t.name)),
            TypeKind::Union { .. } => out.push_str(&named("union", t.name)),
            TypeKind::Enum { .. } => out.push_str(&named("enum", t.name)),
            TypeKind::Fwd { kind } => out.push_str(&named(
                match kind {
                    FwdKind::Struct => "struct",
                    FwdKind::Union => "union",
                    FwdKind::Enum => "enum",
                },
                t.name,
            )),
            TypeKind::Pointer { target } => {
                self.write_name(*target, out, depth + 1);
                out.push_str(" *");
            }
            TypeKind::Array { elem, len, .. } => {
                self.write_name(*elem, out, depth + 1);
                out.push_str(&format!(" [{len}]"));
            }
            TypeKind::Const { target } => {
                out.push_str("const ");
                self.write_name(*target, out, depth + 1);
            }
            TypeKind::Volatile { target } => {
                out.push_str("volatile ");
                self.write_name(*target, out, depth + 1);
            }
            TypeKind::Restrict { target } | TypeKind::TypeTag { target } => {
                self.write_name(*target, out, depth + 1)
            }
            TypeKind::Func { .. } => out.push_str(&format!("function {}", t.name)),
            TypeKind::FuncProto { .. } => out.push_str("function prototype"),
            TypeKind::Var { .. } => out.push_str(&format!("variable {}", t.name)),
            TypeKind::Datasec { .. } => out.push_str(&format!("section {}", t.name)),
            TypeKind::DeclTag { .. } => out.push_str(&format!("decl_tag {}", t.name)),
        }
    }
}

/// The kinds a C type name is looked up as, and the bare name: `struct x` is a struct,
/// `union x` a union, `enum x` an enum; a bare name is a typedef, a base type, then a tag.
fn name_kinds(name: &str) -> (&'static [NameKind], &str) {
    if let Some(n) = name.strip_prefix("struct ") {
        (&[NameKind::Struct], n.trim())
    } else if let Some(n) = name.strip_prefix("union ") {
        (&[NameKind::Union], n.trim())
    } else if let Some(n) = name.strip_prefix("enum ") {
        (&[NameKind::Enum], n.trim())
    } else {
        (
            &[
                NameKind::Typedef,
                NameKind::Base,
                NameKind::Struct,
                NameKind::Union,
                NameKind::Enum,
            ],
            name,
        )
    }
}
