//! Real data (HOLDUP_WORK_DUMPS=1): on each Debian vmlinux, the BTF backend and the DWARF
//! backend must agree on the size of every named struct/union of the BTF and on the offset,
//! bitfield layout and type size of every named member.

use holdup_types::{Btf, Dwarf, TypeId, TypeKind, Types};
use std::path::Path;

#[test]
fn btf_and_dwarf_agree_on_every_member() {
    if std::env::var("HOLDUP_WORK_DUMPS").as_deref() != Ok("1") {
        eprintln!("skipped: set HOLDUP_WORK_DUMPS=1 to run on dumps/work");
        return;
    }
    let kernels = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dumps/work/kernels");
    for release in ["6.1.0-56-amd64", "6.12.95+deb12-amd64"] {
        let path = kernels.join(release).join("vmlinux");
        assert!(path.exists(), "missing real-data file {}", path.display());
        let btf = Types::new(Btf::from_vmlinux(&path).unwrap());
        let dwarf = Types::new(Dwarf::open(&path).unwrap());
        let (mut equal, mut differ, mut missing) = (0usize, Vec::new(), 0usize);
        let mut id = 1;
        while let Ok(t) = btf.get(TypeId(id)) {
            id += 1;
            let (kw, members) = match t.kind {
                TypeKind::Struct { members, .. } => ("struct", members),
                TypeKind::Union { members, .. } => ("union", members),
                _ => continue,
            };
            if t.name.is_empty() {
                continue;
            }
            let name = format!("{kw} {}", t.name);
            // Only the definition the name lookup picks (names can repeat).
            if btf.find(&name).unwrap() != t.id {
                continue;
            }
            let Ok(did) = dwarf.find(&name) else {
                // Types defined inside a function body are not indexed from DWARF.
                missing += 1;
                continue;
            };
            if btf.sizeof_id(t.id).ok() != dwarf.sizeof_id(did).ok() {
                differ.push(format!("sizeof({name})"));
                continue;
            }
            for m in members.iter().filter(|m| !m.name.is_empty()) {
                let p = format!("{name}.{}", m.name);
                let (b, d) = (btf.member(&p).unwrap(), dwarf.member(&p));
                match d {
                    Ok(d)
                        if (d.bit_offset, d.bit_size) == (b.bit_offset, b.bit_size)
                            && btf.sizeof_id(b.ty).ok() == dwarf.sizeof_id(d.ty).ok() =>
                    {
                        equal += 1
                    }
                    d => differ.push(format!("{p}: BTF {b:?}, DWARF {d:?}")),
                }
            }
        }
        eprintln!(
            "{release}: {equal} members equal, {} differ, {missing} BTF types not found in DWARF",
            differ.len()
        );
        assert!(
            differ.is_empty(),
            "{release}: {:#?}",
            &differ[..differ.len().min(20)]
        );
        assert!(
            equal > 40_000 && missing < 100,
            "{release}: {equal} {missing}"
        );
        assert_eq!(btf.enum_value("pageflags", "PG_locked"), Ok(0));
        assert_eq!(dwarf.enum_value("pageflags", "PG_locked"), Ok(0));
        assert_eq!(
            btf.offsetof("task_struct.thread.sp"),
            dwarf.offsetof("task_struct.thread.sp")
        );
    }
}
