//! DWARF backend: types from a vmlinux with debug info (`/usr/lib/debug/boot/vmlinux-*`).
//!
//! The file is memory-mapped; a [`TypeId`] is the `.debug_info` offset of the DIE. Types are
//! decoded on demand from their DIE. The name index (top-level structs, unions, enums,
//! typedefs and base types of every compilation unit, de-duplicated) is built once, on the
//! first lookup by name: one pass over the unit's top-level DIEs, skipping function bodies.
//!
//! Multi-dimensional arrays get synthetic ids for their inner dimensions (bit 63 set, the
//! dimension in bits 48..63, the array DIE offset below).

use crate::{
    Enumerator, FwdKind, Member, NameKind, Origin, OriginKind, Param, Result, Type, TypeError,
    TypeId, TypeKind, TypeSource,
};
use gimli::{
    Abbreviations, AttributeValue, DebugInfoOffset, DebuggingInformationEntry, EndianSlice,
    LittleEndian, UnitHeader, UnitOffset, constants as dw,
};
use goblin::container::{Container, Ctx};
use goblin::elf::{Elf, SectionHeader};
use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

type R<'a> = EndianSlice<'a, LittleEndian>;

/// Inner dimensions of a multi-dimensional array have made-up ids: this bit, the dimension
/// at [`DIM_SHIFT`] and the array's offset. Not bit 63: that marks a module's type
/// ([`crate::modules`]), and `Types` would send the id to a module.
const SYNTH: u64 = 1 << 62;
const DIM_SHIFT: u32 = 48;
const OFF_MASK: u64 = (1 << DIM_SHIFT) - 1;
/// Most dimensions followed for one array; most members/enumerators decoded for one type.
const MAX_DIMS: u64 = 32;
const MAX_CHILDREN: usize = 1 << 16;

/// Finds sections by name in a 64-bit little-endian ELF image; `None` for absent or NOBITS.
pub(crate) fn elf_sections(
    data: &[u8],
    names: &[&str],
) -> std::result::Result<Vec<Option<Range<usize>>>, String> {
    let hdr = Elf::parse_header(data).map_err(|e| format!("not an ELF file: {e}"))?;
    if hdr.e_ident[goblin::elf::header::EI_CLASS] != goblin::elf::header::ELFCLASS64
        || hdr.e_ident[goblin::elf::header::EI_DATA] != goblin::elf::header::ELFDATA2LSB
    {
        return Err("not a 64-bit little-endian ELF file".into());
    }
    let ctx = Ctx::new(Container::Big, goblin::container::Endian::Little);
    let shdrs = SectionHeader::parse(data, hdr.e_shoff as usize, hdr.e_shnum as usize, ctx)
        .map_err(|e| format!("section headers: {e}"))?;
    let mut strndx = hdr.e_shstrndx as usize;
    if strndx == goblin::elf::section_header::SHN_XINDEX as usize {
        strndx = shdrs.first().map(|s| s.sh_link as usize).unwrap_or(0);
    }
    let strtab = shdrs
        .get(strndx)
        .and_then(|s| s.file_range())
        .and_then(|r| data.get(r))
        .ok_or("no section name table")?;
    let name_of = |s: &SectionHeader| -> Option<&[u8]> {
        let rest = strtab.get(s.sh_name..)?;
        Some(&rest[..rest.iter().position(|&b| b == 0)?])
    };
    Ok(names
        .iter()
        .map(|want| {
            shdrs
                .iter()
                .find(|s| name_of(s) == Some(want.as_bytes()))
                .and_then(|s| s.file_range())
                .filter(|r| r.end <= data.len())
        })
        .collect())
}

const SECTIONS: [&str; 5] = [
    ".debug_info",
    ".debug_abbrev",
    ".debug_str",
    ".debug_line_str",
    ".debug_str_offsets",
];

type NameMaps = [HashMap<Box<str>, Vec<(TypeId, Option<u64>)>>; 5];

struct Index {
    names: NameMaps,
    enumerators: crate::EnumeratorIndex,
}

/// Types from the DWARF of a vmlinux.
pub struct Dwarf {
    map: holdup_kmem::MappedFile,
    sections: [Range<usize>; 5],
    /// Sorted `.debug_info` offsets of the unit headers.
    units: Vec<u64>,
    abbrevs: Mutex<HashMap<u64, Arc<Abbreviations>>>,
    index: OnceLock<std::result::Result<Index, TypeError>>,
    origin: Origin,
}

impl fmt::Debug for Dwarf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dwarf")
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

fn dwerr(e: gimli::Error) -> TypeError {
    TypeError::BadDwarf(e.to_string())
}

/// Where a DIE is: its unit and the offset inside it.
struct At<'a> {
    header: UnitHeader<R<'a>>,
    abbrevs: Arc<Abbreviations>,
    off: UnitOffset,
}

impl Dwarf {
    /// Opens a vmlinux and reads its unit headers (the name index is built on first lookup).
    pub fn open(path: &Path) -> Result<Dwarf> {
        let ferr = |detail: String| TypeError::File {
            path: path.display().to_string(),
            detail,
        };
        // Read-only and fault-safe; the bytes are treated as untrusted input.
        let map = holdup_kmem::MappedFile::open(path).map_err(|e| ferr(e.detail()))?;
        let found = elf_sections(&map, &SECTIONS).map_err(ferr)?;
        if found[0].is_none() || found[1].is_none() {
            return Err(ferr(
                "no .debug_info/.debug_abbrev: not a vmlinux with debug info".into(),
            ));
        }
        let sections: [Range<usize>; 5] = std::array::from_fn(|i| found[i].clone().unwrap_or(0..0));
        let mut dw = Dwarf {
            map,
            sections,
            units: Vec::new(),
            abbrevs: Mutex::new(HashMap::new()),
            index: OnceLock::new(),
            origin: Origin {
                kind: OriginKind::Dwarf,
                description: String::new(),
            },
        };
        let mut units = Vec::new();
        {
            let info = gimli::DebugInfo::from(dw.sec(0));
            let mut iter = info.units();
            while let Some(h) = iter.next().map_err(dwerr)? {
                if let Some(o) = h.offset().as_debug_info_offset() {
                    units.push(o.0 as u64);
                }
            }
        }
        dw.origin.description = format!("DWARF from {} ({} units)", path.display(), units.len());
        dw.units = units;
        Ok(dw)
    }

    fn sec(&self, i: usize) -> R<'_> {
        EndianSlice::new(&self.map[self.sections[i].clone()], LittleEndian)
    }

    fn header_at(&self, start: u64) -> Result<UnitHeader<R<'_>>> {
        gimli::DebugInfo::from(self.sec(0))
            .header_from_offset(DebugInfoOffset(start as usize))
            .map_err(dwerr)
    }

    fn abbrevs_for(&self, h: &UnitHeader<R<'_>>) -> Result<Arc<Abbreviations>> {
        let key = h.debug_abbrev_offset().0 as u64;
        if let Some(a) = self.abbrevs.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return Ok(a);
        }
        let a = Arc::new(
            h.abbreviations(&gimli::DebugAbbrev::from(self.sec(1)))
                .map_err(dwerr)?,
        );
        if let Ok(mut m) = self.abbrevs.lock() {
            m.insert(key, a.clone());
        }
        Ok(a)
    }

    /// Unit and unit offset of a `.debug_info` offset.
    fn locate(&self, off: u64) -> Result<At<'_>> {
        let i = self.units.partition_point(|&u| u <= off);
        let start = *self
            .units
            .get(i.wrapping_sub(1))
            .ok_or(TypeError::BadId(off))?;
        let header = self.header_at(start)?;
        let abbrevs = self.abbrevs_for(&header)?;
        let uoff = DebugInfoOffset(off as usize)
            .to_unit_offset(&header)
            .ok_or(TypeError::BadId(off))?;
        Ok(At {
            header,
            abbrevs,
            off: uoff,
        })
    }

    fn string<'a>(
        &'a self,
        header: &UnitHeader<R<'a>>,
        abbrevs: &Abbreviations,
        v: AttributeValue<R<'a>>,
    ) -> Result<&'a str> {
        let s = match v {
            AttributeValue::String(s) => s,
            AttributeValue::DebugStrRef(o) => gimli::DebugStr::from(self.sec(2))
                .get_str(o)
                .map_err(dwerr)?,
            AttributeValue::DebugLineStrRef(o) => gimli::DebugLineStr::from(self.sec(3))
                .get_str(o)
                .map_err(dwerr)?,
            AttributeValue::DebugStrOffsetsIndex(ix) => {
                // DWARF 5 strx: find the unit's DW_AT_str_offsets_base.
                let mut cur = header.entries(abbrevs);
                let base = match cur.next_dfs().map_err(dwerr)? {
                    Some((_, root)) => {
                        match root.attr_value(dw::DW_AT_str_offsets_base).map_err(dwerr)? {
                            Some(AttributeValue::DebugStrOffsetsBase(b)) => b,
                            _ => gimli::DebugStrOffsetsBase(0),
                        }
                    }
                    None => gimli::DebugStrOffsetsBase(0),
                };
                let o = gimli::DebugStrOffsets::from(self.sec(4))
                    .get_str_offset(header.format(), base, ix)
                    .map_err(dwerr)?;
                gimli::DebugStr::from(self.sec(2))
                    .get_str(o)
                    .map_err(dwerr)?
            }
            _ => return Ok(""),
        };
        std::str::from_utf8(s.slice()).map_err(|_| TypeError::BadDwarf("name is not UTF-8".into()))
    }

    fn name<'a>(
        &'a self,
        header: &UnitHeader<R<'a>>,
        abbrevs: &Abbreviations,
        e: &DebuggingInformationEntry<'_, '_, R<'a>>,
    ) -> Result<&'a str> {
        match e.attr_value(dw::DW_AT_name).map_err(dwerr)? {
            Some(v) => self.string(header, abbrevs, v),
            None => Ok(""),
        }
    }

    fn type_ref(
        header: &UnitHeader<R<'_>>,
        e: &DebuggingInformationEntry<'_, '_, R<'_>>,
        at: dw::DwAt,
    ) -> Result<TypeId> {
        Ok(match e.attr_value(at).map_err(dwerr)? {
            Some(AttributeValue::UnitRef(u)) => TypeId(
                u.to_debug_info_offset(header)
                    .map(|o| o.0 as u64)
                    .unwrap_or(0),
            ),
            Some(AttributeValue::DebugInfoRef(o)) => TypeId(o.0 as u64),
            _ => TypeId::VOID,
        })
    }

    fn udata(e: &DebuggingInformationEntry<'_, '_, R<'_>>, at: dw::DwAt) -> Result<Option<u64>> {
        Ok(e.attr_value(at)
            .map_err(dwerr)?
            .and_then(|v| v.udata_value()))
    }

    fn is_decl(e: &DebuggingInformationEntry<'_, '_, R<'_>>) -> Result<bool> {
        Ok(matches!(
            e.attr_value(dw::DW_AT_declaration).map_err(dwerr)?,
            Some(AttributeValue::Flag(true))
        ))
    }

    /// `DW_AT_data_member_location`: a constant, or `DW_OP_plus_uconst N`.
    fn member_location(e: &DebuggingInformationEntry<'_, '_, R<'_>>) -> Result<Option<u64>> {
        Ok(
            match e
                .attr_value(dw::DW_AT_data_member_location)
                .map_err(dwerr)?
            {
                None => None,
                Some(AttributeValue::Exprloc(expr)) => {
                    let b = expr.0.slice();
                    if b.first() == Some(&dw::DW_OP_plus_uconst.0) {
                        let mut r = EndianSlice::new(&b[1..], LittleEndian);
                        Some(gimli::Reader::read_uleb128(&mut r).map_err(dwerr)?)
                    } else {
                        return Err(TypeError::BadDwarf(format!(
                            "member at {:#x}: unsupported location expression",
                            e.offset().0
                        )));
                    }
                }
                Some(v) => v.udata_value(),
            },
        )
    }

    fn enum_signed(&self, header: &UnitHeader<R<'_>>, base: TypeId) -> bool {
        if base == TypeId::VOID {
            return false;
        }
        let Ok(u) = DebugInfoOffset(base.0 as usize)
            .to_unit_offset(header)
            .ok_or(())
        else {
            return false;
        };
        let Ok(abbrevs) = self.abbrevs_for(header) else {
            return false;
        };
        let Ok(e) = header.entry(&abbrevs, u) else {
            return false;
        };
        matches!(
            e.attr_value(dw::DW_AT_encoding),
            Ok(Some(AttributeValue::Encoding(
                dw::DW_ATE_signed | dw::DW_ATE_signed_char
            )))
        )
    }

    fn enumerator_value(v: Option<AttributeValue<R<'_>>>, signed: bool) -> Option<i128> {
        Some(match v? {
            AttributeValue::Sdata(s) => i128::from(s),
            AttributeValue::Udata(u) => i128::from(u),
            v if signed => i128::from(v.sdata_value()?),
            v => i128::from(v.udata_value()?),
        })
    }

    fn decode_synthetic(&self, id: TypeId) -> Result<Type<'_>> {
        let dim = (id.0 & !SYNTH) >> DIM_SHIFT;
        let off = id.0 & OFF_MASK;
        let at = self.locate(off)?;
        let mut tree = at
            .header
            .entries_tree(&at.abbrevs, Some(at.off))
            .map_err(dwerr)?;
        let root = tree.root().map_err(dwerr)?;
        if root.entry().tag() != dw::DW_TAG_array_type {
            return Err(TypeError::BadId(id.0));
        }
        let elem = Self::type_ref(&at.header, root.entry(), dw::DW_AT_type)?;
        let (lens, _) = self.array_dims(root)?;
        self.array_dim(id, off, elem, &lens, dim)
    }

    fn array_dims(
        &self,
        root: gimli::EntriesTreeNode<'_, '_, '_, R<'_>>,
    ) -> Result<(Vec<u64>, ())> {
        let mut lens = Vec::new();
        let mut children = root.children();
        while let Some(c) = children.next().map_err(dwerr)? {
            let e = c.entry();
            if e.tag() != dw::DW_TAG_subrange_type {
                continue;
            }
            if lens.len() as u64 >= MAX_DIMS {
                break;
            }
            let len = if let Some(n) = Self::udata(e, dw::DW_AT_count)? {
                n
            } else {
                match e.attr_value(dw::DW_AT_upper_bound).map_err(dwerr)? {
                    // `[0]` arrays have upper bound -1 (as sdata); data forms are unsigned.
                    Some(AttributeValue::Sdata(s)) => u64::try_from(s).map(|u| u + 1).unwrap_or(0),
                    Some(v) => v.udata_value().map(|u| u.saturating_add(1)).unwrap_or(0),
                    None => 0,
                }
            };
            lens.push(len);
        }
        if lens.is_empty() {
            lens.push(0);
        }
        Ok((lens, ()))
    }

    fn array_dim(
        &self,
        id: TypeId,
        array_off: u64,
        elem: TypeId,
        lens: &[u64],
        dim: u64,
    ) -> Result<Type<'_>> {
        let d = dim as usize;
        let len = *lens.get(d).ok_or(TypeError::BadId(id.0))?;
        let inner = if d + 1 < lens.len() {
            if array_off > OFF_MASK {
                return Err(TypeError::BadDwarf(format!(
                    "array at {array_off:#x}: offset too large for a multi-dimensional id"
                )));
            }
            TypeId(SYNTH | ((dim + 1) << DIM_SHIFT) | array_off)
        } else {
            elem
        };
        Ok(Type {
            id,
            name: "",
            kind: TypeKind::Array {
                elem: inner,
                index: TypeId::VOID,
                len,
            },
        })
    }

    fn build_index(&self) -> Result<Index> {
        let mut names: NameMaps = Default::default();
        let mut enumerators = crate::EnumeratorIndex::new();
        for &start in &self.units {
            let header = self.header_at(start)?;
            let abbrevs = self.abbrevs_for(&header)?;
            let mut tree = header.entries_tree(&abbrevs, None).map_err(dwerr)?;
            let root = tree.root().map_err(dwerr)?;
            let mut top = root.children();
            while let Some(node) = top.next().map_err(dwerr)? {
                let e = node.entry();
                let nk = match e.tag() {
                    dw::DW_TAG_structure_type => NameKind::Struct,
                    dw::DW_TAG_union_type => NameKind::Union,
                    dw::DW_TAG_enumeration_type => NameKind::Enum,
                    dw::DW_TAG_typedef => NameKind::Typedef,
                    dw::DW_TAG_base_type => NameKind::Base,
                    _ => continue,
                };
                let id = TypeId(
                    e.offset()
                        .to_debug_info_offset(&header)
                        .map(|o| o.0 as u64)
                        .unwrap_or(0),
                );
                let name = self.name(&header, &abbrevs, e)?;
                let decl = Self::is_decl(e)?;
                let size = Self::udata(e, dw::DW_AT_byte_size)?;
                if !name.is_empty() {
                    let list = names[nk.index()].entry(name.into()).or_default();
                    match nk {
                        NameKind::Typedef | NameKind::Base => {
                            if list.is_empty() {
                                list.push((id, None));
                            }
                        }
                        _ if decl => {
                            if list.is_empty() {
                                list.push((id, None));
                            }
                        }
                        _ => {
                            list.retain(|(_, s)| s.is_some());
                            if !list.iter().any(|(_, s)| *s == size) {
                                list.push((id, size.or(Some(0))));
                            }
                        }
                    }
                }
                if nk == NameKind::Enum && !decl {
                    let base = Self::type_ref(&header, e, dw::DW_AT_type)?;
                    let signed = self.enum_signed(&header, base);
                    let mut kids = node.children();
                    while let Some(k) = kids.next().map_err(dwerr)? {
                        let ke = k.entry();
                        if ke.tag() != dw::DW_TAG_enumerator {
                            continue;
                        }
                        let kname = self.name(&header, &abbrevs, ke)?;
                        let Some(v) = Self::enumerator_value(
                            ke.attr_value(dw::DW_AT_const_value).map_err(dwerr)?,
                            signed,
                        ) else {
                            continue;
                        };
                        let list = enumerators.entry(kname.into()).or_default();
                        if !list.iter().any(|(_, w)| *w == v) {
                            list.push((id, v));
                        }
                    }
                }
            }
        }
        Ok(Index { names, enumerators })
    }

    fn index(&self) -> Result<&Index> {
        self.index
            .get_or_init(|| self.build_index())
            .as_ref()
            .map_err(Clone::clone)
    }
}

impl TypeSource for Dwarf {
    fn origin(&self) -> &Origin {
        &self.origin
    }

    fn get(&self, id: TypeId) -> Result<Type<'_>> {
        if id == TypeId::VOID {
            return Ok(Type::VOID);
        }
        if id.0 & SYNTH != 0 {
            return self.decode_synthetic(id);
        }
        let at = self.locate(id.0)?;
        let header = &at.header;
        let mut tree = header
            .entries_tree(&at.abbrevs, Some(at.off))
            .map_err(dwerr)?;
        let root = tree.root().map_err(dwerr)?;
        let e = root.entry();
        let name = self.name(header, &at.abbrevs, e)?;
        let target = Self::type_ref(header, e, dw::DW_AT_type)?;
        let size = Self::udata(e, dw::DW_AT_byte_size)?;
        let tag = e.tag();
        let kind = match tag {
            dw::DW_TAG_base_type => {
                let enc = match e.attr_value(dw::DW_AT_encoding).map_err(dwerr)? {
                    Some(AttributeValue::Encoding(x)) => x,
                    _ => dw::DW_ATE_signed,
                };
                let size = size.unwrap_or(0) as u32;
                if matches!(enc, dw::DW_ATE_float | dw::DW_ATE_complex_float) {
                    TypeKind::Float { size }
                } else {
                    TypeKind::Int {
                        size,
                        signed: matches!(enc, dw::DW_ATE_signed | dw::DW_ATE_signed_char),
                        char: matches!(enc, dw::DW_ATE_signed_char | dw::DW_ATE_unsigned_char),
                        bool: enc == dw::DW_ATE_boolean,
                        bit_offset: 0,
                        bits: size.saturating_mul(8).min(255) as u8,
                    }
                }
            }
            dw::DW_TAG_pointer_type | dw::DW_TAG_reference_type => TypeKind::Pointer { target },
            dw::DW_TAG_typedef => TypeKind::Typedef { target },
            dw::DW_TAG_const_type => TypeKind::Const { target },
            dw::DW_TAG_volatile_type => TypeKind::Volatile { target },
            dw::DW_TAG_restrict_type => TypeKind::Restrict { target },
            dw::DW_TAG_atomic_type => TypeKind::TypeTag { target },
            dw::DW_TAG_unspecified_type => TypeKind::Void,
            dw::DW_TAG_variable => TypeKind::Var {
                ty: target,
                linkage: 0,
            },
            dw::DW_TAG_array_type => {
                let (lens, ()) = self.array_dims(root)?;
                return self.array_dim(id, id.0, target, &lens, 0);
            }
            dw::DW_TAG_structure_type | dw::DW_TAG_union_type | dw::DW_TAG_class_type => {
                if Self::is_decl(e)? {
                    TypeKind::Fwd {
                        kind: if tag == dw::DW_TAG_union_type {
                            FwdKind::Union
                        } else {
                            FwdKind::Struct
                        },
                    }
                } else {
                    let mut members = Vec::new();
                    let mut kids = root.children();
                    while let Some(k) = kids.next().map_err(dwerr)? {
                        let ke = k.entry();
                        if ke.tag() != dw::DW_TAG_member {
                            continue;
                        }
                        if members.len() >= MAX_CHILDREN {
                            return Err(TypeError::BadDwarf(format!(
                                "type at {:#x} has more than {MAX_CHILDREN} members",
                                id.0
                            )));
                        }
                        let mname = self.name(header, &at.abbrevs, ke)?;
                        let mty = Self::type_ref(header, ke, dw::DW_AT_type)?;
                        let bit_size = Self::udata(ke, dw::DW_AT_bit_size)?
                            .map(|b| b.min(u32::MAX as u64) as u32);
                        let byte_loc = Self::member_location(ke)?;
                        let bit_offset =
                            if let Some(b) = Self::udata(ke, dw::DW_AT_data_bit_offset)? {
                                b
                            } else if let (Some(old), Some(bs)) =
                                (Self::udata(ke, dw::DW_AT_bit_offset)?, bit_size)
                            {
                                // DWARF 2/3: bit_offset counts from the storage unit's MSB.
                                let storage = match Self::udata(ke, dw::DW_AT_byte_size)? {
                                    Some(s) => s,
                                    None => {
                                        let t = self.get(mty)?;
                                        match t.kind {
                                            TypeKind::Int { size, .. } => u64::from(size),
                                            TypeKind::Enum { size, .. } => u64::from(size),
                                            _ => 0,
                                        }
                                    }
                                };
                                (byte_loc.unwrap_or(0) * 8 + storage * 8)
                                    .saturating_sub(old + u64::from(bs))
                            } else {
                                byte_loc.unwrap_or(0).saturating_mul(8)
                            };
                        members.push(Member {
                            name: mname,
                            ty: mty,
                            bit_offset,
                            bit_size,
                        });
                    }
                    let size = size.unwrap_or(0);
                    if tag == dw::DW_TAG_union_type {
                        TypeKind::Union { size, members }
                    } else {
                        TypeKind::Struct { size, members }
                    }
                }
            }
            dw::DW_TAG_enumeration_type => {
                if Self::is_decl(e)? {
                    TypeKind::Fwd {
                        kind: FwdKind::Enum,
                    }
                } else {
                    let signed = self.enum_signed(header, target);
                    let mut values = Vec::new();
                    let mut kids = root.children();
                    while let Some(k) = kids.next().map_err(dwerr)? {
                        let ke = k.entry();
                        if ke.tag() != dw::DW_TAG_enumerator {
                            continue;
                        }
                        if values.len() >= MAX_CHILDREN {
                            break;
                        }
                        let ename = self.name(header, &at.abbrevs, ke)?;
                        if let Some(value) = Self::enumerator_value(
                            ke.attr_value(dw::DW_AT_const_value).map_err(dwerr)?,
                            signed,
                        ) {
                            values.push(Enumerator { name: ename, value });
                        }
                    }
                    TypeKind::Enum {
                        size: size.unwrap_or(4) as u32,
                        signed: signed || values.iter().any(|v| v.value < 0),
                        values,
                    }
                }
            }
            dw::DW_TAG_subroutine_type | dw::DW_TAG_subprogram => {
                let mut params = Vec::new();
                let mut variadic = false;
                let mut kids = root.children();
                while let Some(k) = kids.next().map_err(dwerr)? {
                    let ke = k.entry();
                    match ke.tag() {
                        dw::DW_TAG_formal_parameter if params.len() < MAX_CHILDREN => {
                            params.push(Param {
                                name: self.name(header, &at.abbrevs, ke)?,
                                ty: Self::type_ref(header, ke, dw::DW_AT_type)?,
                            })
                        }
                        dw::DW_TAG_unspecified_parameters => variadic = true,
                        _ => {}
                    }
                }
                TypeKind::FuncProto {
                    ret: target,
                    params,
                    variadic,
                }
            }
            t => {
                return Err(TypeError::Unsupported {
                    ty: format!("DIE at {:#x}", id.0),
                    detail: format!("{t} is not a type"),
                });
            }
        };
        Ok(Type { id, name, kind })
    }

    fn find(&self, kind: NameKind, name: &str) -> Result<Vec<TypeId>> {
        Ok(self.index()?.names[kind.index()]
            .get(name)
            .map(|v| v.iter().map(|(id, _)| *id).collect())
            .unwrap_or_default())
    }

    fn find_enumerator(&self, name: &str) -> Result<Vec<(TypeId, i128)>> {
        Ok(self
            .index()?
            .enumerators
            .get(name)
            .cloned()
            .unwrap_or_default())
    }
}
