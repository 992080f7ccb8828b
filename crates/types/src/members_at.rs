//! The reverse of [`Types::member`]: which members lie at a byte offset of a type. Used to
//! name an address inside an object (`struct ext4_inode_info` + 0x98 is
//! `vfs_inode.i_rwsem`).
//!
//! Paths are written as [`Types::member`] reads them: members inside anonymous structs and
//! unions appear without the anonymous level (as in C), array elements as `name[i]`. The walk
//! is bounded (nesting depth, members visited, results), like every other question about
//! types read from a dump.

use crate::{MAX_DEPTH, Result, TypeId, TypeKind, Types};

/// Most struct/union members looked at by one [`Types::members_at`].
const MEMBERS_AT_BUDGET: usize = 8192;
/// Most members one [`Types::members_at`] returns.
const MEMBERS_AT_MAX: usize = 512;

/// A member whose bytes contain an offset: its path from the outer type, where it starts,
/// its size and its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberAt {
    /// `vfs_inode.i_rwsem`, `mem[2].base` (see the module documentation).
    pub path: String,
    /// Byte offset of the member from the start of the outer type.
    pub offset: u64,
    /// `sizeof` the member.
    pub size: u64,
    /// Its type, as declared (may be a typedef or qualified: see [`Types::resolve`]).
    pub ty: TypeId,
}

impl MemberAt {
    /// The last step of the path: `i_rwsem` for `vfs_inode.i_rwsem`, `lock[1]` for
    /// `a.lock[1]`.
    pub fn name(&self) -> &str {
        self.path.rsplit('.').next().unwrap_or(&self.path)
    }
}

impl Types {
    /// Every named member, at any depth, of the struct, union or array `id` whose bytes
    /// contain byte `offset`, outer members before the members inside them (a union gives
    /// each of its members that contains the offset). Bitfields and members of no size are
    /// left out. Empty when `offset` is outside the type.
    pub fn members_at(&self, id: TypeId, offset: u64) -> Result<Vec<MemberAt>> {
        let mut out = Vec::new();
        let outer = self.resolve(id)?;
        if offset >= self.sizeof_id(outer)? {
            return Ok(out);
        }
        let mut budget = MEMBERS_AT_BUDGET;
        self.walk_members_at(outer, 0, offset, "", 0, &mut budget, &mut out)?;
        Ok(out)
    }

    /// The members of `id` that start exactly at `offset` and whose type, without typedefs
    /// and qualifiers, is spelled `type_name` (`struct rw_semaphore`): where a lock of that
    /// type at that offset is.
    pub fn members_of_type_at(
        &self,
        id: TypeId,
        offset: u64,
        type_name: &str,
    ) -> Result<Vec<MemberAt>> {
        let mut found = Vec::new();
        for m in self.members_at(id, offset)? {
            if m.offset == offset && self.type_name(self.resolve(m.ty)?) == type_name {
                found.push(m);
            }
        }
        Ok(found)
    }

    #[allow(clippy::too_many_arguments)]
    fn walk_members_at(
        &self,
        id: TypeId,
        base: u64,
        offset: u64,
        prefix: &str,
        depth: usize,
        budget: &mut usize,
        out: &mut Vec<MemberAt>,
    ) -> Result<()> {
        if depth > MAX_DEPTH || *budget == 0 || out.len() >= MEMBERS_AT_MAX {
            return Ok(());
        }
        let t = self.get(id)?;
        match &t.kind {
            TypeKind::Struct { members, .. } | TypeKind::Union { members, .. } => {
                for m in members {
                    if *budget == 0 || out.len() >= MEMBERS_AT_MAX {
                        break;
                    }
                    *budget -= 1;
                    if m.bit_size.is_some() || m.bit_offset % 8 != 0 {
                        continue;
                    }
                    let Some(start) = base.checked_add(m.bit_offset / 8) else {
                        continue;
                    };
                    if start > offset {
                        continue;
                    }
                    // A member of no size (flexible array, declared-only type) holds nothing.
                    let size = self.sizeof_id(m.ty).unwrap_or(0);
                    if size == 0 || offset - start >= size {
                        continue;
                    }
                    let path = match (m.name.is_empty(), prefix.is_empty()) {
                        (true, _) => prefix.to_string(),
                        (false, true) => m.name.to_string(),
                        (false, false) => format!("{prefix}.{}", m.name),
                    };
                    if !m.name.is_empty() {
                        out.push(MemberAt {
                            path: path.clone(),
                            offset: start,
                            size,
                            ty: m.ty,
                        });
                    }
                    let inner = self.resolve(m.ty)?;
                    self.walk_members_at(inner, start, offset, &path, depth + 1, budget, out)?;
                }
            }
            TypeKind::Array { elem, len, .. } => {
                let esize = self.sizeof_id(*elem).unwrap_or(0);
                if esize == 0 {
                    return Ok(());
                }
                let i = (offset - base) / esize;
                if *len != 0 && i >= *len {
                    return Ok(());
                }
                let start = base + i * esize;
                let path = format!("{prefix}[{i}]");
                out.push(MemberAt {
                    path: path.clone(),
                    offset: start,
                    size: esize,
                    ty: *elem,
                });
                let inner = self.resolve(*elem)?;
                self.walk_members_at(inner, start, offset, &path, depth + 1, budget, out)?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        Member, NameKind, Origin, OriginKind, Result, Type, TypeError, TypeId, TypeKind,
        TypeSource, Types,
    };

    /// Types given as a list: id n is `types[n - 1]`.
    struct Mini {
        origin: Origin,
        types: Vec<(&'static str, TypeKind<'static>)>,
    }

    impl TypeSource for Mini {
        fn origin(&self) -> &Origin {
            &self.origin
        }
        fn get(&self, id: TypeId) -> Result<Type<'_>> {
            if id == TypeId::VOID {
                return Ok(Type::VOID);
            }
            let (name, kind) = self
                .types
                .get(id.0 as usize - 1)
                .ok_or(TypeError::BadId(id.0))?;
            Ok(Type {
                id,
                name,
                kind: kind.clone(),
            })
        }
        fn find(&self, kind: NameKind, name: &str) -> Result<Vec<TypeId>> {
            Ok(self
                .types
                .iter()
                .enumerate()
                .filter(|(_, (n, k))| {
                    *n == name
                        && match kind {
                            NameKind::Struct => matches!(k, TypeKind::Struct { .. }),
                            NameKind::Union => matches!(k, TypeKind::Union { .. }),
                            NameKind::Typedef => matches!(k, TypeKind::Typedef { .. }),
                            NameKind::Base => matches!(k, TypeKind::Int { .. }),
                            NameKind::Enum => false,
                        }
                })
                .map(|(i, _)| TypeId(i as u64 + 1))
                .collect())
        }
        fn find_enumerator(&self, _: &str) -> Result<Vec<(TypeId, i128)>> {
            Ok(vec![])
        }
    }

    fn m(name: &'static str, ty: u64, byte: u64) -> Member<'static> {
        Member {
            name,
            ty: TypeId(ty),
            bit_offset: byte * 8,
            bit_size: None,
        }
    }

    /// 1 long; 2 struct mutex {long owner, wait, count} (24); 3 typedef mutex_t;
    /// 4 struct inode {long ino; mutex_t lock @8} (32); 5 anonymous union {long x; struct
    /// inode i} (32); 6 long[4]; 7 struct cont {long a; union {..} @8; struct mutex locks[2]
    /// @40; long[4] @88; long bits:3 @120} (128); 8 struct mutex[2].
    fn types() -> Types {
        let int = TypeKind::Int {
            size: 8,
            signed: true,
            char: false,
            bool: false,
            bit_offset: 0,
            bits: 64,
        };
        let types = vec![
            ("long", int),
            (
                "mutex",
                TypeKind::Struct {
                    size: 24,
                    members: vec![m("owner", 1, 0), m("wait", 1, 8), m("count", 1, 16)],
                },
            ),
            ("mutex_t", TypeKind::Typedef { target: TypeId(2) }),
            (
                "inode",
                TypeKind::Struct {
                    size: 32,
                    members: vec![m("ino", 1, 0), m("lock", 3, 8)],
                },
            ),
            (
                "",
                TypeKind::Union {
                    size: 32,
                    members: vec![m("x", 1, 0), m("i", 4, 0)],
                },
            ),
            (
                "",
                TypeKind::Array {
                    elem: TypeId(1),
                    index: TypeId::VOID,
                    len: 4,
                },
            ),
            (
                "cont",
                TypeKind::Struct {
                    size: 128,
                    members: vec![
                        m("a", 1, 0),
                        m("", 5, 8),
                        m("locks", 8, 40),
                        m("arr", 6, 88),
                        Member {
                            name: "bits",
                            ty: TypeId(1),
                            bit_offset: 120 * 8,
                            bit_size: Some(3),
                        },
                    ],
                },
            ),
            (
                "",
                TypeKind::Array {
                    elem: TypeId(2),
                    index: TypeId::VOID,
                    len: 2,
                },
            ),
        ];
        Types::new(Mini {
            origin: Origin {
                kind: OriginKind::Btf,
                description: "test".into(),
            },
            types,
        })
    }

    #[test]
    fn members_at_walks_anonymous_unions_and_arrays() {
        let t = types();
        let cont = t.find("struct cont").unwrap();
        let paths = |off| -> Vec<(String, u64)> {
            t.members_at(cont, off)
                .unwrap()
                .into_iter()
                .map(|m| (m.path, m.offset))
                .collect()
        };
        // +16: in the anonymous union, member i (struct inode) -> its lock (typedef) ->
        // the mutex's first member.
        assert_eq!(
            paths(16),
            [
                ("i".to_string(), 8),
                ("i.lock".to_string(), 16),
                ("i.lock.owner".to_string(), 16)
            ]
        );
        // +8: both members of the union contain it.
        assert_eq!(
            paths(8),
            [
                ("x".to_string(), 8),
                ("i".to_string(), 8),
                ("i.ino".to_string(), 8)
            ]
        );
        // +72: the second mutex of the array.
        assert_eq!(
            paths(72),
            [
                ("locks".to_string(), 40),
                ("locks[1]".to_string(), 64),
                ("locks[1].wait".to_string(), 72)
            ]
        );
        // +100: an element of an array of longs.
        assert_eq!(
            paths(100),
            [("arr".to_string(), 88), ("arr[1]".to_string(), 96)]
        );
        // The bitfield is not a member one can point into; past the end is nothing.
        assert!(paths(120).is_empty());
        assert!(paths(128).is_empty());
        // Every path found is one `member_in` reads back at the same offset.
        for off in 0..128 {
            for at in t.members_at(cont, off).unwrap() {
                let f = t.member_in(cont, &at.path).unwrap();
                assert_eq!(f.offset, at.offset, "{}", at.path);
            }
        }
    }

    #[test]
    fn members_of_type_at_finds_the_lock_through_typedefs() {
        let t = types();
        let cont = t.find("struct cont").unwrap();
        let found = |off| -> Vec<String> {
            t.members_of_type_at(cont, off, "struct mutex")
                .unwrap()
                .into_iter()
                .map(|m| m.path)
                .collect()
        };
        assert_eq!(found(16), ["i.lock"]);
        assert_eq!(found(40), ["locks[0]"]);
        assert_eq!(found(64), ["locks[1]"]);
        assert!(found(24).is_empty()); // inside a mutex, not at its start
        let at = &t.members_of_type_at(cont, 16, "struct mutex").unwrap()[0];
        assert_eq!(at.name(), "lock");
        assert_eq!(at.size, 24);
    }
}
