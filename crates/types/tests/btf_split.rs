//! Split BTF (a module's BTF on top of the vmlinux's) and module types in `Types`, on
//! hand-built blobs: ids and string offsets continue the base's, lookups search the vmlinux
//! first, every type says where it is defined, and bad blobs are refused or fail cleanly.

use holdup_types::{
    Btf, ModuleTypesReport, ModuleTypesState, ModuleTypesStatus, NameKind, TypeError, TypeId,
    TypeKind, TypeOwner, TypeSource, Types,
};
use std::sync::Arc;

/// Builds a little-endian BTF blob; for split BTF, ids start at `first_id` and string offsets
/// at `str_base` (the base's string section size), and names may reuse the base's strings.
struct B {
    types: Vec<u8>,
    strs: Vec<u8>,
    first_id: u32,
    str_base: u32,
    n: u32,
}

impl B {
    fn base() -> B {
        B {
            types: Vec::new(),
            strs: vec![0],
            first_id: 1,
            str_base: 0,
            n: 0,
        }
    }
    fn split(base: &Btf) -> B {
        B {
            types: Vec::new(),
            strs: Vec::new(),
            first_id: base.next_id(),
            str_base: base.str_end_off(),
            n: 0,
        }
    }
    /// A new string of this blob.
    fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let off = self.str_base + self.strs.len() as u32;
        self.strs.extend_from_slice(name.as_bytes());
        self.strs.push(0);
        off
    }
    fn ty_off(
        &mut self,
        name_off: u32,
        kind: u32,
        vlen: u32,
        kflag: bool,
        sot: u32,
        extra: &[u32],
    ) -> u32 {
        let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
        for w in [name_off, info, sot].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.n += 1;
        self.first_id + self.n - 1
    }
    fn ty(&mut self, name: &str, kind: u32, vlen: u32, sot: u32, extra: &[u32]) -> u32 {
        let n = self.s(name);
        self.ty_off(n, kind, vlen, false, sot, extra)
    }
    fn int(&mut self, name: &str, size: u32, enc: u32) -> u32 {
        self.ty(name, 1, 0, size, &[(enc << 24) | (size * 8)])
    }
    /// Members: (name offset, type, bit offset).
    fn composite(&mut self, kind: u32, name: &str, size: u32, m: &[(u32, u32, u32)]) -> u32 {
        let extra: Vec<u32> = m.iter().flat_map(|&(n, t, off)| [n, t, off]).collect();
        self.ty(name, kind, m.len() as u32, size, &extra)
    }
    fn build(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xeb9fu16.to_le_bytes());
        v.extend_from_slice(&[1, 0]);
        let tl = self.types.len() as u32;
        for w in [24u32, 0, tl, tl, self.strs.len() as u32] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(&self.types);
        v.extend_from_slice(&self.strs);
        v
    }
}

struct Base {
    btf: Arc<Btf>,
    int: u32,
    list_head: u32,
    /// String offsets of "next" and "prev" in the base.
    next: u32,
    prev: u32,
}

/// A vmlinux-like base: int, long, struct list_head, enum e { A = 1 }.
fn base() -> Base {
    let mut b = B::base();
    let int = b.int("int", 4, 1); // 1
    let long = b.int("long int", 8, 1); // 2
    let ptr = b.ty("", 2, 0, 0, &[]); // 3: void *
    let next = b.s("next");
    let prev = b.s("prev");
    let list_head = b.composite(4, "list_head", 16, &[(next, ptr, 0), (prev, ptr, 64)]); // 4
    let a = b.s("A");
    b.ty("e", 6, 1, 4, &[a, 1]); // 5
    let _ = long;
    Base {
        btf: Arc::new(Btf::parse(b.build(), "base").unwrap()),
        int,
        list_head,
        next,
        prev,
    }
}

/// A module: `struct mod_entry { int size; struct list_head list; struct mod_entry *self;
/// int bits:3; }`, a `struct list_head` of its own (a duplicate the vmlinux wins over), and
/// `enum mod_e { MOD_X = 7 }`.
fn module(base: &Base, name: &str, size: u32) -> Btf {
    let mut m = B::split(&base.btf);
    let first = m.first_id;
    let names = ["size", "list", "self", "bits", "mod_entry", "list_head"].map(|n| m.s(n));
    // first: a pointer to first + 1, the struct (kind_flag: bitfield widths in the offsets).
    let p = m.ty_off(0, 2, 0, false, first + 1, &[]);
    let s = m.ty_off(
        names[4],
        4,
        4,
        true,
        size,
        &[
            names[0],
            base.int,
            0,
            names[1],
            base.list_head,
            64,
            names[2],
            p,
            192,
            names[3],
            base.int,
            (3 << 24) | 256,
        ],
    );
    assert_eq!(s, first + 1);
    // A duplicate of the base's list_head, its members named by the base's strings.
    m.ty_off(
        names[5],
        4,
        2,
        false,
        16,
        &[base.next, p, 0, base.prev, p, 64],
    );
    let x = m.s("MOD_X");
    m.ty("mod_e", 6, 1, 4, &[x, 7]);
    Btf::parse_split(m.build(), Arc::clone(&base.btf), format!("module {name}")).unwrap()
}

#[test]
fn split_ids_and_strings_continue_the_base() {
    let b = base();
    assert_eq!((b.btf.start_id(), b.btf.next_id()), (1, 6));
    let m = module(&b, "m", 32);
    assert_eq!(m.start_id(), 6);
    assert_eq!(m.type_count(), 4);
    assert_eq!(m.next_id(), 10);
    assert!(m.base().is_some());
    assert!(m.is_own(TypeId(7)) && !m.is_own(TypeId(4)) && !m.is_own(TypeId(10)));
    // The base's types, through the split BTF.
    let lh = m.get(TypeId(4)).unwrap();
    assert_eq!(lh.name, "list_head");
    // Its own: names from its strings, member names from the base's.
    let s = m.get(TypeId(7)).unwrap();
    assert_eq!(s.name, "mod_entry");
    let TypeKind::Struct { size, members } = s.kind else {
        panic!("{s:?}")
    };
    assert_eq!(size, 32);
    let names: Vec<_> = members.iter().map(|m| m.name).collect();
    assert_eq!(names, ["size", "list", "self", "bits"]);
    assert_eq!(members[1].ty, TypeId(u64::from(b.list_head)));
    assert_eq!(members[3].bit_size, Some(3));
    let own_lh = m.get(TypeId(8)).unwrap();
    let TypeKind::Struct { members, .. } = own_lh.kind else {
        panic!()
    };
    assert_eq!((members[0].name, members[1].name), ("next", "prev"));
    // As a TypeSource it is the whole: the base's first, then its own.
    assert_eq!(
        m.find(NameKind::Struct, "list_head").unwrap(),
        [TypeId(4), TypeId(8)]
    );
    assert_eq!(
        m.find_own(NameKind::Struct, "list_head").unwrap(),
        [TypeId(8)]
    );
    assert_eq!(
        m.find_own(NameKind::Struct, "mod_entry").unwrap(),
        [TypeId(7)]
    );
    assert_eq!(m.find_enumerator("A").unwrap(), [(TypeId(5), 1)]);
    assert_eq!(m.find_own_enumerator("MOD_X"), [(TypeId(9), 7)]);
    assert!(matches!(m.get(TypeId(10)), Err(TypeError::BadId(10))));
}

#[test]
fn module_types_are_found_after_the_vmlinux_and_name_their_module() {
    let b = base();
    let t = Types::from(Arc::clone(&b.btf));
    assert!(t.vmlinux_btf().is_some_and(|v| Arc::ptr_eq(v, &b.btf)));
    // Before: absent.
    assert!(matches!(
        t.find("mod_entry"),
        Err(TypeError::NotFound { .. })
    ));
    let lh_before = t.find("struct list_head").unwrap();
    t.add_module("m1", module(&b, "m1", 32)).unwrap();
    t.add_module("m2", module(&b, "m2", 40)).unwrap();
    assert_eq!(
        t.modules()
            .map(|(n, b)| (n, b.type_count()))
            .collect::<Vec<_>>(),
        [("m1", 4), ("m2", 4)]
    );

    // The vmlinux wins over a module's duplicate.
    let lh = t.find("struct list_head").unwrap();
    assert_eq!(lh, lh_before);
    assert_eq!(t.owner(lh).unwrap(), TypeOwner::Vmlinux);

    // Both modules define mod_entry: the larger complete one wins, and says where it is.
    let e = t.find("struct mod_entry").unwrap();
    assert_eq!(t.owner(e).unwrap(), TypeOwner::Module("m2"));
    assert_eq!(t.owner(e).unwrap().to_string(), "module m2");
    assert_eq!(t.sizeof("mod_entry").unwrap(), 40);
    let e1 = t.find_in_module("m1", "struct mod_entry").unwrap();
    assert_ne!(e1, e);
    assert_eq!(t.owner(e1).unwrap(), TypeOwner::Module("m1"));
    assert_eq!(t.sizeof_id(e1).unwrap(), 32);
    assert!(matches!(
        t.find_in_module("m3", "mod_entry"),
        Err(TypeError::NotFound { .. })
    ));
    assert!(matches!(
        t.find_in_module("m1", "task_struct"),
        Err(TypeError::NotFound { .. })
    ));

    // Member paths into a module struct, through the vmlinux's list_head.
    let f = t.member("mod_entry.list.prev").unwrap();
    assert_eq!(f.offset, 16);
    assert_eq!(t.type_name(f.ty), "void *");
    let list = t.member("mod_entry.list").unwrap();
    assert_eq!(list.ty, TypeId(u64::from(b.list_head)));
    assert_eq!(t.owner(list.ty).unwrap(), TypeOwner::Vmlinux);
    let slf = t.member("mod_entry.self").unwrap();
    assert_eq!(slf.offset, 24);
    assert_eq!(t.type_name(slf.ty), "struct mod_entry *");
    let TypeKind::Pointer { target } = t.get(slf.ty).unwrap().kind else {
        panic!()
    };
    assert_eq!(target, e);
    assert_eq!(t.owner(slf.ty).unwrap(), TypeOwner::Module("m2"));
    let bits = t.member("mod_entry.bits").unwrap();
    assert_eq!(
        (bits.offset, bits.bit_offset, bits.bit_size),
        (32, 256, Some(3))
    );
    assert_eq!(t.type_name(bits.ty), "int");

    // Enums: the vmlinux's, then the modules' (both define MOD_X = 7: not ambiguous).
    assert_eq!(t.enumerator("A").unwrap(), 1);
    assert_eq!(t.enumerator("MOD_X").unwrap(), 7);
    assert_eq!(t.enum_value("mod_e", "MOD_X").unwrap(), 7);
    assert!(matches!(
        t.enum_value("mod_e", "MOD_Y"),
        Err(TypeError::NoEnumerator { .. })
    ));
    // What is nowhere says it looked in the modules too.
    match t.find("struct nowhere") {
        Err(TypeError::NotFound { origin, .. }) => {
            assert!(origin.contains("2 modules"), "{origin}")
        }
        other => panic!("{other:?}"),
    }
    // Ids that no module has are refused, not misread.
    let bogus = TypeId(e.0 + 1000);
    assert!(t.get(bogus).is_err());
    assert!(t.owner(TypeId((1 << 63) | (9 << 32) | 7)).is_err());
}

#[test]
fn a_module_on_a_separate_base_keeps_its_base_types_apart() {
    // The main source is not the module's base (as with DWARF): the base's types are reached
    // through the module, and they are the vmlinux's.
    let b = base();
    let other = Btf::parse(b.btf.data().to_vec(), "another copy").unwrap();
    let t = Types::new(other);
    t.add_module("m", module(&b, "m", 32)).unwrap();
    let list = t.member("mod_entry.list").unwrap();
    assert_ne!(list.ty, TypeId(u64::from(b.list_head)));
    assert_eq!(t.owner(list.ty).unwrap(), TypeOwner::Vmlinux);
    assert_eq!(t.type_name(list.ty), "struct list_head");
    assert_eq!(t.offsetof("mod_entry.list.prev").unwrap(), 16);
}

#[test]
fn modules_are_loaded_once() {
    let b = base();
    let t = Types::from(Arc::clone(&b.btf));
    assert!(t.module_report().is_none());
    let mut runs = 0;
    let r = t.load_modules_once(|t| {
        runs += 1;
        t.add_module("m", module(&b, "m", 32)).unwrap();
        ModuleTypesReport {
            modules: vec![
                ModuleTypesStatus {
                    name: "m".into(),
                    state: ModuleTypesState::Loaded { types: 4 },
                },
                ModuleTypesStatus {
                    name: "nobtf".into(),
                    state: ModuleTypesState::NoBtf,
                },
            ],
            error: None,
        }
    });
    assert_eq!(r.summary(), "m (4 types), nobtf (no BTF)");
    assert_eq!(r.loaded(), 1);
    let again = t.load_modules_once(|_| unreachable!("loaded twice"));
    assert_eq!(again.modules.len(), 2);
    assert_eq!(runs, 1);
    assert!(t.find("mod_entry").is_ok());
}

fn split_blob(base: &Btf, f: impl FnOnce(&mut B)) -> Vec<u8> {
    let mut m = B::split(base);
    f(&mut m);
    m.build()
}

#[test]
fn split_blobs_may_have_no_strings_but_bad_ones_fail_cleanly() {
    let b = base();
    // No strings of its own: names all from the base.
    let blob = split_blob(&b.btf, |m| {
        m.ty_off(b.next, 2, 0, false, b.int, &[]);
    });
    let m = Btf::parse_split(blob, Arc::clone(&b.btf), "no strings").unwrap();
    assert_eq!(m.get(TypeId(6)).unwrap().name, "next");
    assert_eq!(m.str_end_off(), b.btf.str_end_off());

    // A string section that does not start with "" is fine for split BTF.
    let blob = split_blob(&b.btf, |m| {
        let n = m.s("first");
        m.ty_off(n, 8, 0, false, b.int, &[]);
    });
    let m = Btf::parse_split(blob, Arc::clone(&b.btf), "typedef").unwrap();
    let t = Types::from(Arc::clone(&b.btf));
    t.add_module("m", m).unwrap();
    let id = t.find("first").unwrap();
    assert_eq!(t.owner(id).unwrap(), TypeOwner::Module("m"));
    assert_eq!(t.sizeof("first").unwrap(), 4);

    // Names past the strings, ids past the types: errors, never panics.
    let blob = split_blob(&b.btf, |m| {
        let end = m.str_base + 1000;
        m.ty_off(end, 4, 1, false, 8, &[0, 77, 0]);
        m.ty_off(0, 4, 1, false, 8, &[0, 77, 0]);
    });
    let m = Btf::parse_split(blob, Arc::clone(&b.btf), "bad").unwrap();
    assert!(matches!(m.get(TypeId(6)), Err(TypeError::BadBtf { .. })));
    let t = Types::from(Arc::clone(&b.btf));
    t.add_module("bad", m).unwrap();
    assert!(matches!(
        t.find("struct nowhere"),
        Err(TypeError::NotFound { .. })
    ));
    let e = t.modules().next().unwrap().1;
    let TypeKind::Struct { members, .. } = e.get(TypeId(7)).unwrap().kind else {
        panic!()
    };
    assert!(t.sizeof_id(TypeId((1 << 63) | members[0].ty.0)).is_err());

    // The same header checks as base BTF.
    for (blob, field) in [
        (vec![0x9f, 0xeb, 1], "header"),
        (vec![0, 0, 1, 0], "magic"),
        (
            {
                let mut v = split_blob(&b.btf, |_| {});
                v[2] = 2;
                v
            },
            "version",
        ),
        (
            {
                let mut v = split_blob(&b.btf, |m| {
                    m.ty_off(0, 2, 0, false, 1, &[]);
                });
                v[12..16].copy_from_slice(&1000u32.to_le_bytes());
                v
            },
            "type_off/type_len",
        ),
        (
            {
                let mut v = split_blob(&b.btf, |m| {
                    m.ty_off(0, 30, 0, false, 1, &[]);
                });
                v.truncate(v.len());
                v
            },
            "type 6 kind",
        ),
    ] {
        match Btf::parse_split(blob, Arc::clone(&b.btf), "x") {
            Err(TypeError::BadBtf { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn corrupted_split_blobs_never_panic() {
    let b = base();
    let good = module(&b, "m", 32).data().to_vec();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    for round in 0..2000 {
        let mut v = good.clone();
        for _ in 0..1 + round % 4 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let i = (seed as usize) % v.len();
            v[i] = (seed >> 32) as u8;
        }
        if round % 7 == 0 {
            v.truncate((seed as usize >> 8) % v.len());
        }
        let Ok(m) = Btf::parse_split(v, Arc::clone(&b.btf), "fuzzed") else {
            continue;
        };
        let t = Types::from(Arc::clone(&b.btf));
        let n = m.type_count() as u64;
        t.add_module("m", m).unwrap();
        for q in [
            "mod_entry.list.prev",
            "mod_entry.self",
            "mod_entry.bits",
            "list_head.next",
        ] {
            let _ = t.member(q).map(|f| t.sizeof_id(f.ty));
        }
        let _ = t.enumerator("MOD_X");
        for local in 0..n + 8 {
            let id = TypeId((1 << 63) | local);
            let _ = t.get(id).map(|ty| format!("{:?}", ty.kind));
            let _ = t.type_name(id);
            let _ = t.sizeof_id(id);
            let _ = t.owner(id);
        }
    }
}
