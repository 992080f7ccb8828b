//! Cross-checks the BTF and DWARF backends on one vmlinux: every member of every named
//! struct/union in BTF must have the same offset, bit size and type size in DWARF.
//!
//! `cargo run --release -p holdup-types --example btf_vs_dwarf -- /path/to/vmlinux [type...]`

use holdup_types::{Btf, Dwarf, TypeId, TypeKind, Types};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first() else {
        eprintln!("usage: btf_vs_dwarf VMLINUX [TYPE...]");
        std::process::exit(2);
    };
    let t = Instant::now();
    let btf = Types::new(Btf::from_vmlinux(path.as_ref()).expect("BTF"));
    println!("{} in {:?}", btf.origin(), t.elapsed());
    let t = Instant::now();
    let dwarf = Types::new(Dwarf::open(path.as_ref()).expect("DWARF"));
    println!("{} in {:?}", dwarf.origin(), t.elapsed());
    let t = Instant::now();
    dwarf
        .find("struct task_struct")
        .expect("task_struct in DWARF");
    println!("DWARF index built in {:?}", t.elapsed());

    let names: Vec<String> = if args.len() > 1 {
        args[1..].to_vec()
    } else {
        let mut v = Vec::new();
        let mut id = 1u64;
        while let Ok(ty) = btf.get(TypeId(id)) {
            if matches!(ty.kind, TypeKind::Struct { .. } | TypeKind::Union { .. })
                && !ty.name.is_empty()
            {
                let kw = if matches!(ty.kind, TypeKind::Struct { .. }) {
                    "struct"
                } else {
                    "union"
                };
                v.push(format!("{kw} {}", ty.name));
            }
            id += 1;
        }
        v.sort();
        v.dedup();
        v
    };
    let (mut ok, mut bad, mut missing) = (0usize, 0usize, 0usize);
    let t = Instant::now();
    for name in &names {
        let bid = btf.find(name).unwrap();
        let Ok(did) = dwarf.find(name) else {
            missing += 1;
            println!("MISSING in DWARF: {name}");
            continue;
        };
        let (bs, ds) = (btf.sizeof_id(bid).ok(), dwarf.sizeof_id(did).ok());
        if bs != ds {
            bad += 1;
            if bad < 20 {
                println!("SIZE {name}: btf {bs:?} dwarf {ds:?}");
            }
            continue;
        }
        let (TypeKind::Struct { members, .. } | TypeKind::Union { members, .. }) =
            btf.get(bid).unwrap().kind
        else {
            continue;
        };
        for m in members.iter().filter(|m| !m.name.is_empty()) {
            let p = format!("{name}.{}", m.name);
            let (b, d) = (btf.member(&p), dwarf.member(&p));
            match (b, d) {
                (Ok(b), Ok(d)) if b.bit_offset == d.bit_offset && b.bit_size == d.bit_size => {
                    let (x, y) = (btf.sizeof_id(b.ty).ok(), dwarf.sizeof_id(d.ty).ok());
                    if x == y {
                        ok += 1
                    } else {
                        bad += 1;
                        if bad < 40 {
                            println!("MEMBER SIZE {p}: btf {x:?} dwarf {y:?}");
                        }
                    }
                }
                (b, d) => {
                    bad += 1;
                    if bad < 40 {
                        println!("MISMATCH {p}: btf {b:?} dwarf {d:?}");
                    }
                }
            }
        }
    }
    println!(
        "{} types compared in {:?}: {ok} members equal, {bad} differ, {missing} types missing in DWARF",
        names.len(),
        t.elapsed()
    );
    for (e, n) in [
        ("pageflags", "PG_locked"),
        ("pageflags", "PG_writeback"),
        ("mod_mem_type", "MOD_TEXT"),
    ] {
        println!(
            "enum {e}.{n}: btf {:?} dwarf {:?}",
            btf.enum_value(e, n),
            dwarf.enum_value(e, n)
        );
    }
    for p in [
        "task_struct.thread.sp",
        "task_struct.__state",
        "module.core_layout.base",
        "module.mem[MOD_TEXT].base",
        "page.flags",
        "rw_semaphore.wait_list",
    ] {
        println!("{p}: btf {:?} dwarf {:?}", btf.member(p), dwarf.member(p));
    }
}
