//! Prints what a BTF blob holds and answers member paths from it.
//!
//! `cargo run -p holdup-types --example btf_info -- FILE [PATH...]` where FILE is a raw BTF
//! blob (`/sys/kernel/btf/vmlinux`) or a vmlinux with a `.BTF` section, and each PATH is a
//! member path (`task_struct.thread.sp`), a type (`struct page`) or `enum:NAME`.

use holdup_types::{Btf, TypeId, TypeKind, Types};
use std::collections::BTreeMap;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: btf_info FILE [PATH...]");
        std::process::exit(2);
    };
    let data = std::fs::read(file).expect("read");
    let btf = if data.starts_with(b"\x7fELF") {
        Btf::from_vmlinux(file.as_ref())
    } else {
        Btf::parse(data, format!("BTF from {file}"))
    }
    .unwrap_or_else(|e| {
        eprintln!("{file}: {e}");
        std::process::exit(1)
    });
    let types = Types::new(btf);
    println!("{}", types.origin());
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    let mut id = 1;
    while let Ok(t) = types.get(TypeId(id)) {
        let k = format!("{:?}", t.kind);
        let k = k.split([' ', '{', '(']).next().unwrap_or("").to_string();
        *kinds.entry(k).or_default() += 1;
        id += 1;
    }
    println!("{kinds:?}");
    for p in &args[1..] {
        if let Some(e) = p.strip_prefix("enum:") {
            println!("{p} = {:?}", types.enumerator(e));
        } else if p.contains('.') || p.contains('[') {
            match types.member(p) {
                Ok(f) => println!(
                    "{p}: offset {} bit_offset {} bit_size {:?} type {} (size {:?})",
                    f.offset,
                    f.bit_offset,
                    f.bit_size,
                    types.type_name(f.ty),
                    types.sizeof_id(f.ty).ok()
                ),
                Err(e) => println!("{p}: {e}"),
            }
        } else {
            match types.find(p) {
                Ok(id) => {
                    println!(
                        "{p}: {} size {:?}",
                        types.type_name(id),
                        types.sizeof_id(id)
                    );
                    if let Ok(TypeKind::Struct { members, .. } | TypeKind::Union { members, .. }) =
                        types.get(id).map(|t| t.kind)
                    {
                        for m in members {
                            println!(
                                "  {:>6} {:?} {} {}",
                                m.bit_offset,
                                m.bit_size,
                                types.type_name(m.ty),
                                m.name
                            );
                        }
                    }
                }
                Err(e) => println!("{p}: {e}"),
            }
        }
    }
}
