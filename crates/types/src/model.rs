//! The backend-neutral type model: what BTF and DWARF both decode to.

/// A type in one source: a BTF type id, or a DWARF `.debug_info` offset. Only meaningful
/// with the source it came from. `TypeId(0)` is `void` in both. A module's type, as
/// [`crate::Types`] names it, has the top bit set (the module and its id in the module's BTF
/// below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub u64);

impl TypeId {
    /// `void`.
    pub const VOID: TypeId = TypeId(0);
}

/// One decoded type. Names borrow from the source's data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Type<'a> {
    pub id: TypeId,
    /// Empty for anonymous types.
    pub name: &'a str,
    pub kind: TypeKind<'a>,
}

impl Type<'_> {
    /// Type id 0, `void`, in every source.
    pub const VOID: Type<'static> = Type {
        id: TypeId::VOID,
        name: "void",
        kind: TypeKind::Void,
    };
}

/// What a type is. Mirrors the BTF kinds; DWARF maps onto the same set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeKind<'a> {
    Void,
    Int {
        /// Bytes.
        size: u32,
        signed: bool,
        char: bool,
        bool: bool,
        /// BTF int encoding bit offset (0 in kernel BTF).
        bit_offset: u8,
        /// Value bits (8 * size unless a BTF int used as a bitfield type).
        bits: u8,
    },
    Float {
        size: u32,
    },
    Pointer {
        target: TypeId,
    },
    Array {
        elem: TypeId,
        /// Index type (BTF); `VOID` when unknown.
        index: TypeId,
        /// Element count; 0 for a flexible array.
        len: u64,
    },
    Struct {
        size: u64,
        members: Vec<Member<'a>>,
    },
    Union {
        size: u64,
        members: Vec<Member<'a>>,
    },
    /// ENUM and ENUM64 alike.
    Enum {
        size: u32,
        signed: bool,
        values: Vec<Enumerator<'a>>,
    },
    /// A declaration without a body (`struct foo;`).
    Fwd {
        kind: FwdKind,
    },
    Typedef {
        target: TypeId,
    },
    Volatile {
        target: TypeId,
    },
    Const {
        target: TypeId,
    },
    Restrict {
        target: TypeId,
    },
    /// BTF `TYPE_TAG` (`__user`, `__rcu`...): transparent for layout.
    TypeTag {
        target: TypeId,
    },
    Func {
        proto: TypeId,
        linkage: u32,
    },
    FuncProto {
        ret: TypeId,
        params: Vec<Param<'a>>,
        variadic: bool,
    },
    Var {
        ty: TypeId,
        linkage: u32,
    },
    Datasec {
        size: u32,
        vars: Vec<DatasecVar>,
    },
    DeclTag {
        target: TypeId,
        /// -1 for the type itself, else the member/parameter index.
        component_idx: i32,
    },
}

impl<'a> TypeKind<'a> {
    /// The same type with every type id it refers to replaced by `f(id)`.
    pub fn map_ids(self, f: impl Fn(TypeId) -> TypeId) -> TypeKind<'a> {
        use TypeKind::*;
        match self {
            Void | Int { .. } | Float { .. } | Enum { .. } | Fwd { .. } => self,
            Pointer { target } => Pointer { target: f(target) },
            Array { elem, index, len } => Array {
                elem: f(elem),
                index: f(index),
                len,
            },
            Struct { size, mut members } => {
                members.iter_mut().for_each(|m| m.ty = f(m.ty));
                Struct { size, members }
            }
            Union { size, mut members } => {
                members.iter_mut().for_each(|m| m.ty = f(m.ty));
                Union { size, members }
            }
            Typedef { target } => Typedef { target: f(target) },
            Volatile { target } => Volatile { target: f(target) },
            Const { target } => Const { target: f(target) },
            Restrict { target } => Restrict { target: f(target) },
            TypeTag { target } => TypeTag { target: f(target) },
            Func { proto, linkage } => Func {
                proto: f(proto),
                linkage,
            },
            FuncProto {
                ret,
                mut params,
                variadic,
            } => {
                params.iter_mut().for_each(|p| p.ty = f(p.ty));
                FuncProto {
                    ret: f(ret),
                    params,
                    variadic,
                }
            }
            Var { ty, linkage } => Var { ty: f(ty), linkage },
            Datasec { size, mut vars } => {
                vars.iter_mut().for_each(|v| v.var = f(v.var));
                Datasec { size, vars }
            }
            DeclTag {
                target,
                component_idx,
            } => DeclTag {
                target: f(target),
                component_idx,
            },
        }
    }
}

/// What a [`TypeKind::Fwd`] declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FwdKind {
    Struct,
    Union,
    Enum,
}

/// A struct or union member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// Empty for an anonymous struct/union member.
    pub name: &'a str,
    pub ty: TypeId,
    /// Offset in bits from the start of the containing struct/union.
    pub bit_offset: u64,
    /// Width of a bitfield; `None` for an ordinary member.
    pub bit_size: Option<u32>,
}

/// One `NAME = value` of an enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enumerator<'a> {
    pub name: &'a str,
    pub value: i128,
}

/// A function parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param<'a> {
    pub name: &'a str,
    pub ty: TypeId,
}

/// One variable of a BTF DATASEC (for `.data..percpu`, `offset` is the per-CPU offset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatasecVar {
    pub var: TypeId,
    pub offset: u32,
    pub size: u32,
}
