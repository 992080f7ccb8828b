//! BTF (`include/uapi/linux/btf.h`): parsed lazily from one owned blob.
//!
//! Parsing walks the type section once to record where each type starts (types are
//! variable-length, so type id -> offset needs one pass); everything else is decoded on demand.
//! The name index is built on first lookup.
//!
//! *Split BTF* (a kernel module's, `CONFIG_DEBUG_INFO_BTF_MODULES`) continues a base BTF (the
//! vmlinux's): its type ids start after the base's last id, and a string offset below the
//! base's string section size is the base's string, while a larger one indexes this blob's
//! string section after subtracting that size. [`Btf::parse_split`] reads one; it then
//! answers for the base's types too, as the kernel's `btf_type_by_id` and `btf_name_by_offset`
//! do.

use crate::{
    DatasecVar, Enumerator, FwdKind, Member, NameKind, Origin, OriginKind, Param, Result, Type,
    TypeError, TypeId, TypeKind, TypeSource,
};
use holdup_kmem::KernelMemory;
use rayon::prelude::*;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// Largest BTF blob accepted (Debian's vmlinux BTF is 4-6 MiB).
pub const BTF_MAX_SIZE: u64 = 64 << 20;
/// The kernel's `BTF_MAX_TYPE`.
const BTF_MAX_TYPES: usize = 0x000f_ffff;
const BTF_MAGIC: u16 = 0xeb9f;
const HDR_MIN: usize = 24;

const KIND_INT: u8 = 1;
const KIND_PTR: u8 = 2;
const KIND_ARRAY: u8 = 3;
const KIND_STRUCT: u8 = 4;
const KIND_UNION: u8 = 5;
const KIND_ENUM: u8 = 6;
const KIND_FWD: u8 = 7;
const KIND_TYPEDEF: u8 = 8;
const KIND_VOLATILE: u8 = 9;
const KIND_CONST: u8 = 10;
const KIND_RESTRICT: u8 = 11;
const KIND_FUNC: u8 = 12;
const KIND_FUNC_PROTO: u8 = 13;
const KIND_VAR: u8 = 14;
const KIND_DATASEC: u8 = 15;
const KIND_FLOAT: u8 = 16;
const KIND_DECL_TAG: u8 = 17;
const KIND_TYPE_TAG: u8 = 18;
const KIND_ENUM64: u8 = 19;

/// The kernel's BTF, owned and lazily decoded: the vmlinux's, or a module's split BTF on top
/// of it.
pub struct Btf {
    data: Vec<u8>,
    /// Absolute start and end of the string section in `data`.
    str_start: usize,
    str_end: usize,
    /// `offsets[id - start_id]` = absolute offset in `data` of type `id`.
    offsets: Vec<u32>,
    origin: Origin,
    names: OnceLock<NameIndex>,
    enumerators: OnceLock<crate::EnumeratorIndex>,
    /// Split BTF: the BTF it continues.
    base: Option<Arc<Btf>>,
    /// The first type id of this blob: 1, or the base's next id for split BTF.
    start_id: u32,
    /// String offsets below this are the base's (0 without a base).
    start_str_off: u32,
}

impl fmt::Debug for Btf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Btf")
            .field("origin", &self.origin)
            .field("types", &self.offsets.len())
            .field("start_id", &self.start_id)
            .field("split", &self.base.is_some())
            .finish_non_exhaustive()
    }
}

fn bad(field: impl Into<String>, detail: impl Into<String>) -> TypeError {
    TypeError::BadBtf {
        field: field.into(),
        detail: detail.into(),
    }
}

fn u16_at(d: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(d: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        d.get(off..off.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Raw `struct btf_type` header.
#[derive(Clone, Copy)]
struct Raw {
    name_off: u32,
    kind: u8,
    vlen: usize,
    kflag: bool,
    size_or_type: u32,
    /// Absolute offset of the trailing data.
    extra: usize,
}

impl Btf {
    /// Parses a BTF blob. `description` says where it came from (it is reported in
    /// [`Btf::origin`] with the type count appended).
    pub fn parse(data: Vec<u8>, description: impl Into<String>) -> Result<Btf> {
        Self::parse_with_base(data, description.into(), None)
    }

    /// Parses split BTF (a module's `.BTF`) on top of `base`: its first type id is
    /// [`Btf::next_id`] of the base and its string offsets continue after the base's
    /// [`Btf::str_end_off`]. The result answers for the base's types as well (ids below
    /// [`Btf::start_id`]). The same checks as [`Btf::parse`] apply, except that split BTF may
    /// have an empty string section, or one that does not start with `""` (as the kernel
    /// allows).
    pub fn parse_split(
        data: Vec<u8>,
        base: Arc<Btf>,
        description: impl Into<String>,
    ) -> Result<Btf> {
        Self::parse_with_base(data, description.into(), Some(base))
    }

    fn parse_with_base(data: Vec<u8>, description: String, base: Option<Arc<Btf>>) -> Result<Btf> {
        let (start_id, start_str_off) = match &base {
            Some(b) => (b.next_id(), b.str_end_off()),
            None => (1, 0),
        };
        if data.len() as u64 > BTF_MAX_SIZE {
            return Err(bad(
                "blob size",
                format!("{} bytes exceeds the {} limit", data.len(), BTF_MAX_SIZE),
            ));
        }
        let magic = u16_at(&data, 0).ok_or_else(|| bad("header", "blob shorter than 2 bytes"))?;
        if magic == BTF_MAGIC.swap_bytes() {
            return Err(bad("magic", "big-endian BTF is not supported"));
        }
        if magic != BTF_MAGIC {
            return Err(bad("magic", format!("{magic:#06x}, expected 0xeb9f")));
        }
        if data.len() < HDR_MIN {
            return Err(bad(
                "header",
                format!("blob of {} bytes is shorter than the header", data.len()),
            ));
        }
        let version = data[2];
        if version != 1 {
            return Err(bad("version", format!("{version}, expected 1")));
        }
        let hdr = |i: usize| u32_at(&data, 4 + 4 * i).unwrap_or(0) as usize;
        let (hdr_len, type_off, type_len, str_off, str_len) =
            (hdr(0), hdr(1), hdr(2), hdr(3), hdr(4));
        if !(HDR_MIN..=4096).contains(&hdr_len) || hdr_len > data.len() {
            return Err(bad(
                "hdr_len",
                format!("{hdr_len} (blob is {} bytes)", data.len()),
            ));
        }
        let body = data.len() - hdr_len;
        let section = |name: &str, off: usize, len: usize| -> Result<(usize, usize)> {
            match off.checked_add(len) {
                Some(end) if end <= body => Ok((hdr_len + off, hdr_len + end)),
                _ => Err(bad(
                    name,
                    format!(
                        "section {off:#x}+{len:#x} runs past the blob end ({body:#x} after the header)"
                    ),
                )),
            }
        };
        let (type_start, type_end) = section("type_off/type_len", type_off, type_len)?;
        let (str_start, str_end) = section("str_off/str_len", str_off, str_len)?;
        if base.is_none() && (str_len == 0 || data[str_start] != 0) {
            return Err(bad("str_off", "string section does not start with \"\""));
        }
        if u32::try_from(str_len)
            .ok()
            .and_then(|l| start_str_off.checked_add(l))
            .is_none()
        {
            return Err(bad(
                "str_len",
                format!("{str_len} after the base's {start_str_off} overflows string offsets"),
            ));
        }
        // Ids are u32 in the kernel and at most BTF_MAX_TYPES, the base's included.
        let max_own = BTF_MAX_TYPES.saturating_sub(start_id as usize - 1);
        if type_len % 4 != 0 {
            return Err(bad(
                "type_len",
                format!("{type_len} is not a multiple of 4"),
            ));
        }

        let mut offsets = Vec::with_capacity((type_len / 16).min(max_own));
        let mut off = type_start;
        while off < type_end {
            let id = offsets.len() + start_id as usize;
            if offsets.len() >= max_own {
                return Err(bad(
                    "type section",
                    format!("more than {BTF_MAX_TYPES} types (the base's included)"),
                ));
            }
            let raw = Self::raw_at(&data, off, type_end)
                .ok_or_else(|| bad(format!("type {id}"), format!("truncated at {off:#x}")))?;
            let trailing = trailing_len(raw.kind, raw.vlen).ok_or_else(|| {
                bad(
                    format!("type {id} kind"),
                    format!("unknown kind {} at offset {:#x}", raw.kind, off - hdr_len),
                )
            })?;
            let next = raw.extra + trailing;
            if next > type_end {
                return Err(bad(
                    format!("type {id} vlen"),
                    format!("{} entries run past the type section", raw.vlen),
                ));
            }
            offsets.push(off as u32);
            off = next;
        }
        let description = format!("{description} ({} types)", offsets.len());
        Ok(Btf {
            data,
            str_start,
            str_end,
            offsets,
            origin: Origin {
                kind: OriginKind::Btf,
                description,
            },
            names: OnceLock::new(),
            enumerators: OnceLock::new(),
            base,
            start_id,
            start_str_off,
        })
    }

    /// Reads and parses the kernel's BTF from memory, `__start_BTF..__stop_BTF` (addresses
    /// from kallsyms).
    pub fn from_memory(mem: &dyn KernelMemory, start: u64, stop: u64) -> Result<Btf> {
        if stop <= start {
            return Err(bad(
                "__stop_BTF - __start_BTF",
                format!("empty range {start:#x}..{stop:#x}"),
            ));
        }
        let len = stop - start;
        if len > BTF_MAX_SIZE {
            return Err(bad(
                "__stop_BTF - __start_BTF",
                format!("{len} bytes exceeds the {BTF_MAX_SIZE} limit"),
            ));
        }
        // 4-6 MiB: over a thousand pages to inflate in a compressed dump, read in parallel.
        let data = holdup_kmem::read_vec_parallel(mem, start, len as usize).map_err(|source| {
            TypeError::Read {
                what: "BTF (__start_BTF..__stop_BTF)",
                source,
            }
        })?;
        Btf::parse(
            data,
            format!("BTF from kernel memory {start:#x}..{stop:#x}, {len} bytes"),
        )
    }

    /// Parses the `.BTF` section of a vmlinux file (for development and vmlinux-based runs).
    pub fn from_vmlinux(path: &std::path::Path) -> Result<Btf> {
        // Read-only and fault-safe; the bytes are treated as untrusted input.
        let map = holdup_kmem::MappedFile::open(path).map_err(|e| TypeError::File {
            path: path.display().to_string(),
            detail: e.detail(),
        })?;
        let sec = crate::dwarf::elf_sections(&map, &[".BTF"]).map_err(|d| TypeError::File {
            path: path.display().to_string(),
            detail: d,
        })?;
        let Some(range) = sec[0].clone() else {
            return Err(TypeError::File {
                path: path.display().to_string(),
                detail: "no .BTF section".into(),
            });
        };
        Btf::parse(
            map[range].to_vec(),
            format!("BTF from the .BTF section of {}", path.display()),
        )
    }

    /// Number of types of this blob (ids `start_id..start_id + count`; `1..=count` unless it
    /// is split BTF).
    pub fn type_count(&self) -> usize {
        self.offsets.len()
    }

    /// The raw blob.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The first type id of this blob: 1, or for split BTF the base's [`Btf::next_id`].
    pub fn start_id(&self) -> u32 {
        self.start_id
    }

    /// The id after this blob's last type: where split BTF on top of it starts (the kernel's
    /// `btf_nr_types()`, which counts `void`).
    pub fn next_id(&self) -> u32 {
        // At most BTF_MAX_TYPES + 1: checked while parsing.
        self.start_id + self.offsets.len() as u32
    }

    /// The string offset after this blob's strings (the base's included): where the strings
    /// of split BTF on top of it start (the kernel's `start_str_off` of a module's BTF).
    pub fn str_end_off(&self) -> u32 {
        // Fits: checked while parsing.
        self.start_str_off + (self.str_end - self.str_start) as u32
    }

    /// For split BTF, the BTF it continues.
    pub fn base(&self) -> Option<&Arc<Btf>> {
        self.base.as_ref()
    }

    /// Whether `id` is one of this blob's own types (not the base's, not `void`).
    pub fn is_own(&self, id: TypeId) -> bool {
        id.0 >= u64::from(self.start_id) && id.0 < u64::from(self.next_id())
    }

    /// Builds the index of type names now rather than at the first lookup by name: for a
    /// caller that has a core to spare now (while kallsyms is being expanded).
    pub fn index_names(&self) {
        self.names.get_or_init(|| self.build_names());
    }

    /// The types of this blob alone (not the base's) of that kind and name, in id order.
    pub fn find_own(&self, kind: NameKind, name: &str) -> Result<Vec<TypeId>> {
        let ix = self.names.get_or_init(|| self.build_names());
        let h = NameIndex::hash(kind, name.as_bytes());
        let mut found = Vec::new();
        let mut i = h as usize & ix.mask;
        loop {
            let (id, tag) = ix.slots[i];
            if id == 0 {
                return Ok(found);
            }
            i = (i + 1) & ix.mask;
            if tag != (h >> 32) as u32 {
                continue;
            }
            let off = self.offsets[(id - self.start_id) as usize];
            if self.lookup_name(off) == Some((kind, name.as_bytes())) {
                found.push(TypeId(u64::from(id)));
            }
        }
    }

    /// The enums of this blob alone defining `name`, with the value there.
    pub fn find_own_enumerator(&self, name: &str) -> Vec<(TypeId, i128)> {
        let map = self.enumerators.get_or_init(|| self.build_enumerators());
        map.get(name).cloned().unwrap_or_default()
    }

    /// The blob that holds type `id` (this one or a base), and the offset of the type in it.
    fn locate(&self, id: TypeId) -> Result<(&Btf, usize)> {
        let mut b = self;
        loop {
            if id.0 >= u64::from(b.start_id) {
                let idx = usize::try_from(id.0 - u64::from(b.start_id))
                    .map_err(|_| TypeError::BadId(id.0))?;
                let off = *b.offsets.get(idx).ok_or(TypeError::BadId(id.0))?;
                return Ok((b, off as usize));
            }
            // The chain is finite: every base was parsed before what it is the base of.
            b = b.base.as_deref().ok_or(TypeError::BadId(id.0))?;
        }
    }

    /// The string at `name_off` as bytes, through the bases (`None` when out of range or
    /// unterminated).
    fn str_bytes(&self, name_off: u32) -> Option<&[u8]> {
        let mut b = self;
        while name_off < b.start_str_off {
            b = b.base.as_deref()?;
        }
        let start = b
            .str_start
            .checked_add((name_off - b.start_str_off) as usize)
            .filter(|&s| s < b.str_end)?;
        let bytes = &b.data[start..b.str_end];
        let end = bytes.iter().position(|&b| b == 0)?;
        Some(&bytes[..end])
    }

    fn raw_at(data: &[u8], off: usize, end: usize) -> Option<Raw> {
        if off.checked_add(12)? > end {
            return None;
        }
        let name_off = u32_at(data, off)?;
        let info = u32_at(data, off + 4)?;
        let size_or_type = u32_at(data, off + 8)?;
        Some(Raw {
            name_off,
            kind: ((info >> 24) & 0x1f) as u8,
            vlen: (info & 0xffff) as usize,
            kflag: info >> 31 != 0,
            size_or_type,
            extra: off + 12,
        })
    }

    /// The raw header of type `id` and the blob that holds it (this one or a base).
    fn raw(&self, id: TypeId) -> Result<(&Btf, Raw)> {
        let (b, off) = self.locate(id)?;
        // Bounds were checked while parsing.
        let raw = Self::raw_at(&b.data, off, b.data.len()).ok_or(TypeError::BadId(id.0))?;
        Ok((b, raw))
    }

    fn u32(&self, off: usize) -> u32 {
        // Offsets inside a parsed type's trailing data were bounds-checked at parse time.
        u32_at(&self.data, off).unwrap_or(0)
    }

    fn str_at(&self, name_off: u32, what: impl Fn() -> String) -> Result<&str> {
        let mut b = self;
        while name_off < b.start_str_off {
            // Unreachable without a base: start_str_off is 0 then.
            b = b
                .base
                .as_deref()
                .ok_or_else(|| bad(what(), "string offset below the first one"))?;
        }
        let rel = (name_off - b.start_str_off) as usize;
        let start = b
            .str_start
            .checked_add(rel)
            .filter(|&s| s < b.str_end)
            .ok_or_else(|| {
                bad(
                    what(),
                    format!("name_off {name_off:#x} outside the string section"),
                )
            })?;
        let bytes = &b.data[start..b.str_end];
        let end = bytes
            .iter()
            .position(|&b| b == 0)
            .ok_or_else(|| bad(what(), "unterminated string"))?;
        let name = &bytes[..end];
        // The kernel's BTF verifier accepts C identifiers only; a name that a terminal would
        // obey is damage (or hostility), not a type.
        if !holdup_text::is_printable(name) {
            return Err(bad(what(), "name is not UTF-8 or holds control characters"));
        }
        std::str::from_utf8(name).map_err(|_| bad(what(), "name is not UTF-8"))
    }

    fn tid(v: u32) -> TypeId {
        TypeId(u64::from(v))
    }

    /// The kind a type is found under by name, if any.
    fn name_kind(raw: &Raw) -> Option<NameKind> {
        Some(match raw.kind {
            KIND_STRUCT => NameKind::Struct,
            KIND_UNION => NameKind::Union,
            KIND_FWD if raw.kflag => NameKind::Union,
            KIND_FWD => NameKind::Struct,
            KIND_ENUM | KIND_ENUM64 => NameKind::Enum,
            KIND_TYPEDEF => NameKind::Typedef,
            KIND_INT | KIND_FLOAT => NameKind::Base,
            _ => return None,
        })
    }

    /// The name of a type of this blob that can be looked up, and its kind.
    fn lookup_name(&self, off: u32) -> Option<(NameKind, &[u8])> {
        let raw = Self::raw_at(&self.data, off as usize, self.data.len())?;
        let nk = Self::name_kind(&raw)?;
        if raw.name_off == 0 {
            return None;
        }
        let name = self.str_bytes(raw.name_off)?;
        // Names that are not UTF-8 cannot be asked for (lookups take a `&str`).
        std::str::from_utf8(name).ok()?;
        Some((nk, name))
    }

    fn build_names(&self) -> NameIndex {
        // Names are hashed in parallel (in order; a small blob, a module's, in one piece: waking
        // the other threads would cost more), then inserted in id order.
        let named: Vec<(u32, u64)> = self
            .offsets
            .par_iter()
            .with_min_len(4096)
            .enumerate()
            .filter_map(|(i, &off)| {
                let (nk, name) = self.lookup_name(off)?;
                Some((i as u32 + self.start_id, NameIndex::hash(nk, name)))
            })
            .collect();
        let size = (named.len().max(8) * 2).next_power_of_two();
        let mut ix = NameIndex {
            slots: vec![(0, 0); size],
            mask: size - 1,
        };
        // In id order, so that names found twice come out in id order.
        for (id, h) in named {
            let mut i = h as usize & ix.mask;
            while ix.slots[i].0 != 0 {
                i = (i + 1) & ix.mask;
            }
            ix.slots[i] = (id, (h >> 32) as u32);
        }
        ix
    }

    fn build_enumerators(&self) -> crate::EnumeratorIndex {
        let mut map = crate::EnumeratorIndex::new();
        for i in 0..self.offsets.len() {
            let id = TypeId(i as u64 + u64::from(self.start_id));
            let Ok((_, raw)) = self.raw(id) else { continue };
            if raw.kind != KIND_ENUM && raw.kind != KIND_ENUM64 {
                continue;
            }
            if let Ok(Type {
                kind: TypeKind::Enum { values, .. },
                ..
            }) = self.get(id)
            {
                for e in values {
                    map.entry(e.name.into()).or_default().push((id, e.value));
                }
            }
        }
        map
    }
}

/// (kind, name) -> type ids: an open-addressing table with linear probing, built once. Ids
/// are inserted in order and never removed, so the ids of one name are met in id order.
struct NameIndex {
    /// (type id, high half of the hash); id 0 (`void`, never named) marks an empty slot.
    slots: Vec<(u32, u32)>,
    mask: usize,
}

const HASH_K: u64 = 0xf135_7aea_2e62_a9c5;

/// FxHash-style multiply-rotate over the 8-byte words of `bytes`, from `seed` (names are short
/// and a flood of colliding names only slows lookups down). The BTF name index and
/// holdup-symbols' kallsyms name index both use it; each mixes the result for its own table.
pub fn hash_words(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(26) ^ w).wrapping_mul(HASH_K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(26) ^ u64::from_le_bytes(b)).wrapping_mul(HASH_K);
    }
    h
}

impl NameIndex {
    /// [`hash_words`], seeded with the kind.
    fn hash(kind: NameKind, name: &[u8]) -> u64 {
        let h = hash_words((kind.index() as u64 + 1).wrapping_mul(HASH_K), name);
        h ^ (h >> 29)
    }
}

/// Bytes of trailing data after `struct btf_type` for a kind; `None` for unknown kinds.
fn trailing_len(kind: u8, vlen: usize) -> Option<usize> {
    Some(match kind {
        KIND_INT => 4,
        KIND_PTR => 0,
        KIND_ARRAY => 12,
        KIND_STRUCT | KIND_UNION => 12 * vlen,
        KIND_ENUM => 8 * vlen,
        KIND_FWD | KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_FUNC => 0,
        KIND_FUNC_PROTO => 8 * vlen,
        KIND_VAR => 4,
        KIND_DATASEC => 12 * vlen,
        KIND_FLOAT | KIND_TYPE_TAG => 0,
        KIND_DECL_TAG => 4,
        KIND_ENUM64 => 12 * vlen,
        _ => return None,
    })
}

impl TypeSource for Btf {
    fn origin(&self) -> &Origin {
        &self.origin
    }

    fn get(&self, id: TypeId) -> Result<Type<'_>> {
        if id == TypeId::VOID {
            return Ok(Type::VOID);
        }
        let (owner, raw) = self.raw(id)?;
        if !std::ptr::eq(owner, self) {
            // A base's type: decoded there (its trailing data is in its blob).
            return owner.get(id);
        }
        let name = self.str_at(raw.name_off, || format!("type {} name_off", id.0))?;
        let t = Self::tid(raw.size_or_type);
        let x = raw.extra;
        let kind = match raw.kind {
            KIND_INT => {
                let enc = self.u32(x);
                let bits = (enc & 0xff) as u8;
                let bit_offset = ((enc >> 16) & 0xff) as u8;
                let e = (enc >> 24) & 0xf;
                TypeKind::Int {
                    size: raw.size_or_type,
                    signed: e & 1 != 0,
                    char: e & 2 != 0,
                    bool: e & 4 != 0,
                    bit_offset,
                    bits,
                }
            }
            KIND_PTR => TypeKind::Pointer { target: t },
            KIND_ARRAY => TypeKind::Array {
                elem: Self::tid(self.u32(x)),
                index: Self::tid(self.u32(x + 4)),
                len: u64::from(self.u32(x + 8)),
            },
            KIND_STRUCT | KIND_UNION => {
                let mut members = Vec::with_capacity(raw.vlen);
                for i in 0..raw.vlen {
                    let m = x + 12 * i;
                    let mname =
                        self.str_at(self.u32(m), || format!("type {} member {i} name_off", id.0))?;
                    let mty = Self::tid(self.u32(m + 4));
                    let off = self.u32(m + 8);
                    let (mut bit_offset, mut bit_size) = if raw.kflag {
                        (
                            u64::from(off & 0x00ff_ffff),
                            Some(off >> 24).filter(|&b| b != 0),
                        )
                    } else {
                        (u64::from(off), None)
                    };
                    if !raw.kflag {
                        // Without kind_flag a bitfield's width is in the INT encoding (of
                        // an int that may be the base's).
                        if let Ok((
                            ib,
                            Raw {
                                kind: KIND_INT,
                                size_or_type: isz,
                                extra,
                                ..
                            },
                        )) = self.raw(mty)
                        {
                            let enc = ib.u32(extra);
                            let bits = enc & 0xff;
                            let ioff = (enc >> 16) & 0xff;
                            if ioff != 0 || bits != isz.saturating_mul(8) {
                                bit_offset += u64::from(ioff);
                                bit_size = Some(bits);
                            }
                        }
                    }
                    members.push(Member {
                        name: mname,
                        ty: mty,
                        bit_offset,
                        bit_size,
                    });
                }
                let size = u64::from(raw.size_or_type);
                if raw.kind == KIND_STRUCT {
                    TypeKind::Struct { size, members }
                } else {
                    TypeKind::Union { size, members }
                }
            }
            KIND_ENUM | KIND_ENUM64 => {
                let mut values = Vec::with_capacity(raw.vlen);
                let stride = if raw.kind == KIND_ENUM { 8 } else { 12 };
                for i in 0..raw.vlen {
                    let e = x + stride * i;
                    let ename = self.str_at(self.u32(e), || {
                        format!("type {} enumerator {i} name_off", id.0)
                    })?;
                    let value = if raw.kind == KIND_ENUM {
                        let v = self.u32(e + 4);
                        if raw.kflag {
                            i128::from(v as i32)
                        } else {
                            i128::from(v)
                        }
                    } else {
                        let v = u64::from(self.u32(e + 4)) | (u64::from(self.u32(e + 8)) << 32);
                        if raw.kflag {
                            i128::from(v as i64)
                        } else {
                            i128::from(v)
                        }
                    };
                    values.push(Enumerator { name: ename, value });
                }
                TypeKind::Enum {
                    size: raw.size_or_type,
                    signed: raw.kflag,
                    values,
                }
            }
            KIND_FWD => TypeKind::Fwd {
                kind: if raw.kflag {
                    FwdKind::Union
                } else {
                    FwdKind::Struct
                },
            },
            KIND_TYPEDEF => TypeKind::Typedef { target: t },
            KIND_VOLATILE => TypeKind::Volatile { target: t },
            KIND_CONST => TypeKind::Const { target: t },
            KIND_RESTRICT => TypeKind::Restrict { target: t },
            KIND_TYPE_TAG => TypeKind::TypeTag { target: t },
            KIND_FUNC => TypeKind::Func {
                proto: t,
                linkage: raw.vlen as u32,
            },
            KIND_FUNC_PROTO => {
                let mut params = Vec::with_capacity(raw.vlen);
                let mut variadic = false;
                for i in 0..raw.vlen {
                    let p = x + 8 * i;
                    let pname =
                        self.str_at(self.u32(p), || format!("type {} param {i} name_off", id.0))?;
                    let pty = Self::tid(self.u32(p + 4));
                    if i + 1 == raw.vlen && pty == TypeId::VOID && pname.is_empty() {
                        variadic = true;
                    } else {
                        params.push(Param {
                            name: pname,
                            ty: pty,
                        });
                    }
                }
                TypeKind::FuncProto {
                    ret: t,
                    params,
                    variadic,
                }
            }
            KIND_VAR => TypeKind::Var {
                ty: t,
                linkage: self.u32(x),
            },
            KIND_DATASEC => TypeKind::Datasec {
                size: raw.size_or_type,
                vars: (0..raw.vlen)
                    .map(|i| {
                        let v = x + 12 * i;
                        DatasecVar {
                            var: Self::tid(self.u32(v)),
                            offset: self.u32(v + 4),
                            size: self.u32(v + 8),
                        }
                    })
                    .collect(),
            },
            KIND_FLOAT => TypeKind::Float {
                size: raw.size_or_type,
            },
            KIND_DECL_TAG => TypeKind::DeclTag {
                target: t,
                component_idx: self.u32(x) as i32,
            },
            k => {
                return Err(bad(
                    format!("type {} kind", id.0),
                    format!("unknown kind {k}"),
                ));
            }
        };
        Ok(Type { id, name, kind })
    }

    /// The base's types first (split BTF), then this blob's.
    fn find(&self, kind: NameKind, name: &str) -> Result<Vec<TypeId>> {
        let mut found = match &self.base {
            Some(b) => b.find(kind, name)?,
            None => Vec::new(),
        };
        found.extend(self.find_own(kind, name)?);
        Ok(found)
    }

    fn find_enumerator(&self, name: &str) -> Result<Vec<(TypeId, i128)>> {
        let mut found = match &self.base {
            Some(b) => b.find_enumerator(name)?,
            None => Vec::new(),
        };
        found.extend(self.find_own_enumerator(name));
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A blob of `n` `int` types named by string 1 and `strs` string bytes (no header checks
    /// on the strings' first byte are made here: split BTF allows any).
    fn blob(n: usize, strs: &[u8]) -> Vec<u8> {
        let mut types = Vec::new();
        for _ in 0..n {
            for w in [1u32, (KIND_INT as u32) << 24, 4, 32] {
                types.extend_from_slice(&w.to_le_bytes());
            }
        }
        let mut v = vec![0x9f, 0xeb, 1, 0];
        let tl = types.len() as u32;
        for w in [24u32, 0, tl, tl, strs.len() as u32] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(&types);
        v.extend_from_slice(strs);
        v
    }

    #[test]
    fn split_btf_counts_the_base_against_the_limits() {
        let mut base = Btf::parse(blob(1, b"\0int\0"), "base").unwrap();
        // Pretend the base's one type is the last id the kernel allows.
        base.start_id = BTF_MAX_TYPES as u32;
        let base = Arc::new(base);
        match Btf::parse_split(blob(1, b""), Arc::clone(&base), "split") {
            Err(TypeError::BadBtf { field, .. }) => assert_eq!(field, "type section"),
            other => panic!("{other:?}"),
        }
        let mut base = Btf::parse(blob(1, b"\0int\0"), "base").unwrap();
        base.start_id = BTF_MAX_TYPES as u32 - 1;
        let base = Arc::new(base);
        let ok = Btf::parse_split(blob(1, b""), Arc::clone(&base), "split").unwrap();
        assert_eq!(ok.start_id(), BTF_MAX_TYPES as u32);
        assert_eq!(ok.get(TypeId(BTF_MAX_TYPES as u64)).unwrap().name, "int");
        assert!(Btf::parse_split(blob(2, b""), base, "split").is_err());

        // String offsets are u32: a split section past them is refused.
        let mut base = Btf::parse(blob(1, b"\0int\0"), "base").unwrap();
        base.start_str_off = u32::MAX - 8;
        match Btf::parse_split(blob(0, b"0123456789\0"), Arc::new(base), "split") {
            Err(TypeError::BadBtf { field, .. }) => assert_eq!(field, "str_len"),
            other => panic!("{other:?}"),
        }
    }
}
