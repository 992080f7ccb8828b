//! The BTF backend and the `Types` API on hand-built BTF blobs.

use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::{Btf, FwdKind, OriginKind, TypeError, TypeId, TypeKind, Types};

/// Builds a little-endian BTF blob type by type.
#[derive(Default)]
struct B {
    types: Vec<u8>,
    strs: Vec<u8>,
    n: u32,
}

impl B {
    fn new() -> B {
        B {
            strs: vec![0],
            ..Default::default()
        }
    }
    fn s(&mut self, name: &str) -> u32 {
        if name.is_empty() {
            return 0;
        }
        let off = self.strs.len() as u32;
        self.strs.extend_from_slice(name.as_bytes());
        self.strs.push(0);
        off
    }
    fn ty(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        kflag: bool,
        sot: u32,
        extra: &[u32],
    ) -> u32 {
        let n = self.s(name);
        let info = (u32::from(kflag) << 31) | (kind << 24) | vlen;
        for w in [n, info, sot].iter().chain(extra) {
            self.types.extend_from_slice(&w.to_le_bytes());
        }
        self.n += 1;
        self.n
    }
    fn int(&mut self, name: &str, size: u32, enc: u32, bits: u32) -> u32 {
        self.ty(name, 1, 0, false, size, &[(enc << 24) | bits])
    }
    /// Members: (name, type, bit offset, bitfield size).
    fn composite(
        &mut self,
        kind: u32,
        name: &str,
        size: u32,
        kflag: bool,
        m: &[(&str, u32, u32, u32)],
    ) -> u32 {
        let mut extra = Vec::new();
        for &(mn, t, off, bits) in m {
            extra.push(self.s(mn));
            extra.push(t);
            extra.push(if kflag { (bits << 24) | off } else { off });
        }
        self.ty(name, kind, m.len() as u32, kflag, size, &extra)
    }
    fn build(&self) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&0xeb9fu16.to_le_bytes());
        v.push(1);
        v.push(0);
        for w in [
            24u32,
            0,
            self.types.len() as u32,
            self.types.len() as u32,
            self.strs.len() as u32,
        ] {
            v.extend_from_slice(&w.to_le_bytes());
        }
        v.extend_from_slice(&self.types);
        v.extend_from_slice(&self.strs);
        v
    }
}

/// A kernel-like sample: every kind, anonymous members, bitfields both ways.
fn sample() -> (Types, Vec<u32>) {
    let mut b = B::new();
    let ulong = b.int("long unsigned int", 8, 0, 64); // 1
    let int = b.int("int", 4, 1, 32); // 2
    let chr = b.int("char", 1, 2, 8); // 3
    let ptr = b.ty("", 2, 0, false, 0, &[]); // 4: void *
    let arr = b.ty("", 3, 0, false, 0, &[chr, int, 16]); // 5: char[16]
    let lh = b.composite(
        4,
        "list_head",
        16,
        false,
        &[("next", 0, 0, 0), ("prev", 0, 64, 0)],
    ); // 6
    // 7: struct thread_struct { unsigned long sp; }
    let thread = b.composite(4, "thread_struct", 8, false, &[("sp", ulong, 0, 0)]);
    // 8: anonymous union { int a; unsigned long b; }
    let anon = b.composite(5, "", 8, false, &[("a", int, 0, 0), ("b", ulong, 0, 0)]);
    // 9: struct task_struct with kind_flag bitfields
    let task = b.composite(
        4,
        "task_struct",
        64,
        true,
        &[
            ("__state", int, 0, 0),
            ("flag_a", int, 32, 3),
            ("flag_b", int, 35, 5),
            ("", anon, 64, 0),
            ("tasks", lh, 128, 0),
            ("comm", arr, 256, 0),
            ("thread", thread, 384, 0),
            ("stack", ptr, 448, 0),
        ],
    );
    let bf_int = b.ty("", 1, 0, false, 4, &[(4 << 16) | 3]); // 10: 3-bit int at bit 4 (old style)
    let old = b.composite(4, "old_style", 4, false, &[("x", bf_int, 0, 0)]); // 11
    (
        Types::new(Btf::parse(b.build(), "synthetic").unwrap()),
        vec![
            ulong, int, chr, ptr, arr, lh, thread, anon, task, bf_int, old,
        ],
    )
}

#[test]
fn members_sizes_and_names() {
    let (t, ids) = sample();
    assert_eq!(t.origin().kind, OriginKind::Btf);
    assert!(t.origin().description.contains("synthetic"));
    assert_eq!(t.find("task_struct").unwrap(), TypeId(ids[8] as u64));
    assert_eq!(t.find("struct task_struct").unwrap(), TypeId(ids[8] as u64));
    assert!(matches!(
        t.find("union task_struct"),
        Err(TypeError::NotFound { .. })
    ));
    assert_eq!(t.sizeof("struct task_struct").unwrap(), 64);
    assert_eq!(t.sizeof("long unsigned int").unwrap(), 8);

    let f = t.member("task_struct.thread.sp").unwrap();
    assert_eq!((f.offset, f.bit_offset, f.bit_size), (48, 384, None));
    assert_eq!(t.type_name(f.ty), "long unsigned int");
    // Through the anonymous union.
    assert_eq!(t.offsetof("task_struct.b").unwrap(), 8);
    assert_eq!(t.offsetof("task_struct.a").unwrap(), 8);
    // Bitfields (kind_flag).
    let a = t.member("task_struct.flag_b").unwrap();
    assert_eq!(
        (a.offset, a.bit_offset, a.bit_size, a.bit_in_byte()),
        (4, 35, Some(5), 3)
    );
    // Bitfield from the INT encoding (no kind_flag).
    let x = t.member("old_style.x").unwrap();
    assert_eq!((x.bit_offset, x.bit_size), (4, Some(3)));
    // Arrays.
    assert_eq!(t.offsetof("task_struct.comm[3]").unwrap(), 35);
    assert_eq!(
        t.type_name(t.member("task_struct.comm").unwrap().ty),
        "char [16]"
    );
    assert!(matches!(
        t.member("task_struct.comm[16]"),
        Err(TypeError::BadPath { .. })
    ));
    assert!(matches!(
        t.member("task_struct.tasks[0]"),
        Err(TypeError::BadPath { .. })
    ));
    assert_eq!(t.offsetof("task_struct.tasks.prev").unwrap(), 24);
    // Pointers are not followed; absent members are named.
    assert!(matches!(
        t.member("task_struct.stack.x"),
        Err(TypeError::BadPath { .. })
    ));
    match t.member("task_struct.nope") {
        Err(TypeError::NoMember { ty, member }) => {
            assert_eq!(
                (ty.as_str(), member.as_str()),
                ("struct task_struct", "nope")
            )
        }
        other => panic!("{other:?}"),
    }
    assert!(!t.has_member("task_struct.nope").unwrap());
    assert!(t.has_member("task_struct.stack").unwrap());
    assert_eq!(
        t.type_name(t.member("task_struct.stack").unwrap().ty),
        "void *"
    );
    // Cached answers stay the same.
    assert_eq!(t.offsetof("task_struct.thread.sp").unwrap(), 48);
}

#[test]
fn every_kind_decodes() {
    let mut b = B::new();
    let int = b.int("int", 4, 1, 32); // 1
    let u64_ = b.int("unsigned long long", 8, 0, 64); // 2
    let st = b.composite(4, "s", 4, false, &[("v", int, 0, 0)]); // 3
    let td = b.ty("s_t", 8, 0, false, st, &[]); // 4 typedef
    let vol = b.ty("", 9, 0, false, td, &[]); // 5
    let cst = b.ty("", 10, 0, false, vol, &[]); // 6
    let ptr = b.ty("", 2, 0, false, cst, &[]); // 7
    let rst = b.ty("", 11, 0, false, ptr, &[]); // 8
    let tag = b.ty("rcu", 18, 0, false, rst, &[]); // 9
    let (e1, e2) = (b.s("NEG"), b.s("POS"));
    let _en = b.ty("signed_e", 6, 2, true, 4, &[e1, (-5i32) as u32, e2, 7]); // 10
    let (u1, u2) = (b.s("BIG"), b.s("SMALL"));
    let _en64 = b.ty("wide", 19, 2, false, 8, &[u1, 0, 0x8000_0000, u2, 1, 0]); // 11
    let fwd = b.ty("fwd_u", 7, 0, true, 0, &[]); // 12
    let (p1, p2) = (b.s("a"), b.s(""));
    let proto = b.ty("", 13, 2, false, int, &[p1, int, p2, 0]); // 13 int f(int a, ...)
    let func = b.ty("do_it", 12, 1, false, proto, &[]); // 14
    let var = b.ty("runqueues", 14, 0, false, st, &[1]); // 15
    let ds = b.ty(".data..percpu", 15, 1, false, 64, &[var, 0x40, 4]); // 16
    let flt = b.ty("double", 16, 0, false, 8, &[]); // 17
    let dtag = b.ty("tagname", 17, 0, false, st, &[(-1i32) as u32]); // 18
    let _ = u64_;
    let t = Types::new(Btf::parse(b.build(), "kinds").unwrap());

    assert_eq!(t.resolve(TypeId(tag as u64)).unwrap(), TypeId(ptr as u64));
    assert_eq!(t.resolve(TypeId(cst as u64)).unwrap(), TypeId(st as u64));
    assert_eq!(t.sizeof_id(TypeId(cst as u64)).unwrap(), 4);
    assert_eq!(t.type_name(TypeId(ptr as u64)), "const volatile s_t *");
    assert_eq!(t.find("s_t").unwrap(), TypeId(td as u64));
    assert_eq!(t.enum_value("signed_e", "NEG").unwrap(), -5);
    assert_eq!(t.enumerator("POS").unwrap(), 7);
    assert_eq!(t.enum_value("enum wide", "BIG").unwrap(), 1i128 << 63);
    assert_eq!(t.enumerator("SMALL").unwrap(), 1);
    assert_eq!(t.sizeof("enum wide").unwrap(), 8);
    assert!(matches!(
        t.enum_value("wide", "NOPE"),
        Err(TypeError::NoEnumerator { .. })
    ));
    assert!(matches!(
        t.enumerator("NOPE"),
        Err(TypeError::NoEnumerator { .. })
    ));
    assert!(matches!(
        t.get(TypeId(fwd as u64)).unwrap().kind,
        TypeKind::Fwd {
            kind: FwdKind::Union
        }
    ));
    assert_eq!(t.find("union fwd_u").unwrap(), TypeId(fwd as u64));
    assert!(t.sizeof("union fwd_u").is_err());
    match t.get(TypeId(proto as u64)).unwrap().kind {
        TypeKind::FuncProto {
            ret,
            params,
            variadic,
        } => {
            assert_eq!(ret, TypeId(int as u64));
            assert_eq!(params.len(), 1);
            assert_eq!(params[0].name, "a");
            assert!(variadic);
        }
        k => panic!("{k:?}"),
    }
    assert!(matches!(
        t.get(TypeId(func as u64)).unwrap().kind,
        TypeKind::Func { linkage: 1, .. }
    ));
    assert!(t.sizeof_id(TypeId(func as u64)).is_err());
    match t.get(TypeId(ds as u64)).unwrap().kind {
        TypeKind::Datasec { size: 64, vars } => {
            assert_eq!(
                (vars[0].var, vars[0].offset, vars[0].size),
                (TypeId(var as u64), 0x40, 4)
            )
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(t.get(TypeId(var as u64)).unwrap().name, "runqueues");
    assert!(matches!(
        t.get(TypeId(flt as u64)).unwrap().kind,
        TypeKind::Float { size: 8 }
    ));
    assert!(matches!(
        t.get(TypeId(dtag as u64)).unwrap().kind,
        TypeKind::DeclTag {
            component_idx: -1,
            ..
        }
    ));
    assert!(matches!(t.get(TypeId(999)), Err(TypeError::BadId(999))));
    assert_eq!(t.get(TypeId::VOID).unwrap().kind, TypeKind::Void);
}

#[test]
fn unsigned_enum_without_kind_flag() {
    let mut b = B::new();
    let n = b.s("ALL_ONES");
    b.ty("e", 6, 1, false, 4, &[n, 0xffff_ffff]);
    let t = Types::new(Btf::parse(b.build(), "e").unwrap());
    assert_eq!(t.enumerator("ALL_ONES").unwrap(), 0xffff_ffff);
}

#[test]
fn complete_definition_beats_declaration() {
    let mut b = B::new();
    let int = b.int("int", 4, 1, 32);
    b.ty("page", 7, 0, false, 0, &[]); // struct page;
    let small = b.composite(4, "page", 4, false, &[("x", int, 0, 0)]);
    let big = b.composite(4, "page", 8, false, &[("x", int, 0, 0), ("y", int, 32, 0)]);
    let _ = small;
    let t = Types::new(Btf::parse(b.build(), "dups").unwrap());
    assert_eq!(t.find("struct page").unwrap(), TypeId(big as u64));
    assert_eq!(t.offsetof("page.y").unwrap(), 4);
}

#[test]
fn cycles_end_in_errors() {
    let mut b = B::new();
    b.ty("loop_t", 8, 0, false, 1, &[]); // typedef loop_t loop_t
    let selfarr = b.ty("", 3, 0, false, 0, &[2, 0, 4]); // array of itself
    let st = b.composite(4, "rec", 8, false, &[("", 3, 0, 0)]); // anonymous member = itself
    let _ = (selfarr, st);
    let t = Types::new(Btf::parse(b.build(), "cycles").unwrap());
    assert!(t.resolve(TypeId(1)).is_err());
    assert!(t.sizeof("loop_t").is_err());
    assert!(t.sizeof_id(TypeId(2)).is_err());
    assert!(matches!(
        t.member("rec.nothing"),
        Err(TypeError::NoMember { .. })
    ));
    assert!(t.type_name(TypeId(2)).len() < 1000);
}

fn field_of(e: TypeError) -> String {
    match e {
        TypeError::BadBtf { field, .. } => field,
        e => panic!("expected BadBtf, got {e:?}"),
    }
}

#[test]
fn malformed_blobs_are_refused_naming_the_field() {
    let mut b = B::new();
    let int = b.int("int", 4, 1, 32);
    b.composite(4, "s", 4, false, &[("v", int, 0, 0)]);
    let good = b.build();
    assert!(Btf::parse(good.clone(), "ok").is_ok());

    let mut v = good.clone();
    v[0] = 0;
    assert_eq!(field_of(Btf::parse(v, "x").unwrap_err()), "magic");
    let mut v = good.clone();
    v[0..2].copy_from_slice(&0xeb9fu16.to_be_bytes());
    assert!(
        Btf::parse(v, "x")
            .unwrap_err()
            .to_string()
            .contains("big-endian")
    );
    let mut v = good.clone();
    v[4..8].copy_from_slice(&0x7fff_ffffu32.to_le_bytes());
    assert_eq!(field_of(Btf::parse(v, "x").unwrap_err()), "hdr_len");
    let mut v = good.clone();
    v[12..16].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    assert_eq!(
        field_of(Btf::parse(v, "x").unwrap_err()),
        "type_off/type_len"
    );
    let mut v = good.clone();
    v[20..24].copy_from_slice(&0x1000_0000u32.to_le_bytes());
    assert_eq!(field_of(Btf::parse(v, "x").unwrap_err()), "str_off/str_len");
    // Unknown kind in type 2.
    let mut v = good.clone();
    v[24 + 16 + 7] = 0x1f;
    assert_eq!(field_of(Btf::parse(v, "x").unwrap_err()), "type 2 kind");
    // vlen running past the section.
    let mut v = good.clone();
    v[24 + 16 + 4..24 + 16 + 6].copy_from_slice(&0xffffu16.to_le_bytes());
    assert_eq!(field_of(Btf::parse(v, "x").unwrap_err()), "type 2 vlen");
    // A name offset outside the strings fails when the type is decoded.
    let mut v = good.clone();
    v[24 + 16..24 + 20].copy_from_slice(&0xffffu32.to_le_bytes());
    let t = Btf::parse(v, "x").unwrap();
    let e = holdup_types::TypeSource::get(&t, TypeId(2)).unwrap_err();
    assert_eq!(field_of(e), "type 2 name_off");
    // Truncations never panic.
    for n in 0..good.len() {
        let _ = Btf::parse(good[..n].to_vec(), "cut");
    }
}

struct Mem(u64, Vec<u8>);

impl KernelMemory for Mem {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let off = vaddr.checked_sub(self.0).ok_or(ReadError::NotMapped {
            vaddr,
            detail: "below".into(),
        })? as usize;
        let src = self
            .1
            .get(off..off + buf.len())
            .ok_or(ReadError::NotMapped {
                vaddr,
                detail: "above".into(),
            })?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

#[test]
fn from_memory_reads_and_bounds_the_range() {
    let mut b = B::new();
    b.int("int", 4, 1, 32);
    let blob = b.build();
    let base = 0xffff_ffff_8240_0000;
    let mem = Mem(base, blob.clone());
    let btf = Btf::from_memory(&mem, base, base + blob.len() as u64).unwrap();
    assert_eq!(btf.type_count(), 1);
    let t = Types::new(btf);
    assert!(t.origin().description.contains("kernel memory"));
    let e = Btf::from_memory(&mem, base - (1 << 30), base).unwrap_err();
    assert_eq!(field_of(e), "__stop_BTF - __start_BTF");
    let e = Btf::from_memory(&mem, base, base).unwrap_err();
    assert_eq!(field_of(e), "__stop_BTF - __start_BTF");
    let e = Btf::from_memory(&mem, base, base + blob.len() as u64 + 4096).unwrap_err();
    assert!(matches!(e, TypeError::Read { .. }), "{e:?}");
}

#[test]
fn diamond_of_anonymous_members_is_bounded() {
    // 40 levels, each an anonymous struct holding the next level twice: 2^40 paths.
    let mut b = B::new();
    let int = b.int("int", 4, 1, 32);
    let mut prev = b.composite(4, "", 4, false, &[("leaf", int, 0, 0)]);
    for _ in 0..40 {
        prev = b.composite(4, "", 4, false, &[("", prev, 0, 0), ("", prev, 0, 0)]);
    }
    b.composite(4, "top", 4, false, &[("", prev, 0, 0)]);
    let t = Types::new(Btf::parse(b.build(), "diamond").unwrap());
    let start = std::time::Instant::now();
    assert!(t.member("top.missing").is_err());
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn corrupted_blobs_never_panic() {
    let mut b = B::new();
    let ulong = b.int("long unsigned int", 8, 0, 64);
    let s = b.composite(4, "s", 16, true, &[("a", ulong, 0, 0), ("b", ulong, 64, 3)]);
    b.composite(4, "t", 16, false, &[("", s, 0, 0), ("c", ulong, 64, 0)]);
    let n = b.s("E");
    b.ty("e", 19, 1, true, 8, &[n, 1, 2]);
    b.ty("", 3, 0, false, s, &[ulong, 4]);
    let blob = b.build();
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..3000 {
        let mut v = blob.clone();
        for _ in 0..(rnd() % 4 + 1) {
            let i = (rnd() as usize) % v.len();
            v[i] = rnd() as u8;
        }
        let Ok(btf) = Btf::parse(v, "fuzz") else {
            continue;
        };
        let t = Types::new(btf);
        for id in 0..12 {
            let _ = t.get(TypeId(id));
            let _ = t.sizeof_id(TypeId(id));
            let _ = t.type_name(TypeId(id));
            let _ = t.member_in(TypeId(id), "a");
            let _ = t.member_in(TypeId(id), "c[1].b");
        }
        let _ = t.member("t.b");
        let _ = t.enumerator("E");
    }
}
