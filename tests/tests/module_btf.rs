//! Module types from the dump's own memory (each loaded module's split BTF, found through the
//! kernel's `btf_modules` list) equal the modules' DWARF, and say which module defines them:
//! `module-dwarf-offsets.tsv` beside each fixture records, for every module loaded in the
//! guest, the `.BTF` section of the `.ko` it loaded (size and sha256; none for a module built
//! without BTF) and the layouts of structures the module defines, from the DWARF of Debian's
//! `-dbg` `.ko` (or of hangmod's own `.ko`), made by `dumps/gen/oracle/module_dwarf_offsets.py`.

use holdup_e2e::{Fixture, all_dumps, check_member_row, fixture_text, holdup_ok, manifest};
use holdup_kernel::btf_modules::{ModuleTypesState, TypeOwner};
use holdup_kernel::{Kernel, OpenOptions};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

const TABLE: &str = "module-dwarf-offsets.tsv";

/// The table of a fixture: failing, naming it, when the fixture has none.
fn rows(fx: &Fixture) -> Vec<Vec<String>> {
    assert!(
        fx.files.iter().any(|f| f.file == TABLE),
        "fixture {} has no {TABLE} in the manifest (dumps/gen/oracles.sh makes it; \
         dumps/gen/fixtures.py --manifest lists it)",
        fx.name
    );
    let rows: Vec<Vec<String>> = fixture_text(fx, TABLE)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    for r in &rows {
        assert_eq!(r.len(), 7, "{} {TABLE}: bad row {r:?}", fx.name);
    }
    rows
}

/// Module name -> (.BTF bytes, sha256) of the rows `MODULE - BTF - - - BYTES`.
fn module_rows(fx: &Fixture, rows: &[Vec<String>]) -> BTreeMap<String, (usize, Option<String>)> {
    let mods: BTreeMap<_, _> = rows
        .iter()
        .filter(|r| r[1] == "-")
        .map(|r| {
            let bytes: usize = r[6]
                .parse()
                .unwrap_or_else(|e| panic!("{} {TABLE}: {r:?}: {e}", fx.name));
            let sha = r[2].strip_prefix("sha256:").map(str::to_string);
            assert_eq!(sha.is_some(), bytes > 0, "{} {TABLE}: {r:?}", fx.name);
            (r[0].clone(), (bytes, sha))
        })
        .collect();
    assert!(!mods.is_empty(), "{} {TABLE}: no module rows", fx.name);
    mods
}

#[test]
fn module_btf_is_the_loaded_modules_btf_and_matches_their_dwarf() {
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let rows = rows(fx);
        let modules = module_rows(fx, &rows);
        let k = Kernel::open(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{} {}: {e}", fx.name, f.file));
        let what = format!("{} {}", fx.name, f.file);
        let report = k.load_module_types();
        assert_eq!(report.error, None, "{what}: {report:?}");
        let t = k.types_with_modules();

        // Every loaded module, and only those, with BTF or without, as the .ko files say.
        let got: BTreeMap<_, _> = report
            .modules
            .iter()
            .map(|s| (s.name.clone(), s.state.clone()))
            .collect();
        assert_eq!(
            got.keys().collect::<Vec<_>>(),
            modules.keys().collect::<Vec<_>>(),
            "{what}: loaded modules"
        );
        for (name, (bytes, sha)) in &modules {
            match (&got[name], sha) {
                (ModuleTypesState::NoBtf, None) => {}
                (ModuleTypesState::Loaded { types }, Some(sha)) => {
                    let btf = t
                        .modules()
                        .find(|(n, _)| n == name)
                        .map(|(_, b)| b)
                        .unwrap_or_else(|| panic!("{what}: {name} reported loaded, not in types"));
                    assert_eq!(btf.type_count(), *types, "{what}: {name}");
                    assert_eq!(btf.data().len(), *bytes, "{what}: {name}: BTF size");
                    let digest: String = Sha256::digest(btf.data())
                        .iter()
                        .map(|b| format!("{b:02x}"))
                        .collect();
                    assert_eq!(
                        &digest, sha,
                        "{what}: {name}: the kernel's copy of its .BTF"
                    );
                    // Split on the vmlinux BTF: ids continue it.
                    let base = t.vmlinux_btf().expect("types from the dump's BTF");
                    assert_eq!(btf.start_id(), base.next_id(), "{what}: {name}");
                }
                (state, sha) => panic!("{what}: {name}: holdup says {state:?}, the .ko {sha:?}"),
            }
        }

        // Layouts of the modules' structures, and where they are defined.
        let mut compared = 0;
        for r in rows.iter().filter(|r| r[1] != "-") {
            let [module, ty, member, offset, bit_offset, bit_size, size] = &r[..] else {
                unreachable!()
            };
            let what = format!("{what}: {module} {ty}.{member}");
            let id = t
                .find(&format!("struct {ty}"))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(
                t.owner(id).unwrap(),
                TypeOwner::Module(module),
                "{what}: owner"
            );
            assert_eq!(
                t.find_in_module(module, &format!("struct {ty}")).unwrap(),
                id,
                "{what}"
            );
            if member == "-" {
                assert_eq!(
                    t.sizeof_id(id).unwrap().to_string(),
                    *size,
                    "{what}: sizeof"
                );
                continue;
            }
            check_member_row(t, &what, ty, member, [offset, bit_offset, bit_size, size]);
            compared += 1;
        }
        assert!(
            compared >= 20,
            "{what}: only {compared} module members compared"
        );

        // Vmlinux types are still the vmlinux's.
        let task = t.find("struct task_struct").unwrap();
        assert_eq!(t.owner(task).unwrap(), TypeOwner::Vmlinux);
    }
}

#[test]
fn info_reports_module_btf() {
    let m = manifest();
    for fx in &m.fixtures {
        let modules = module_rows(fx, &rows(fx));
        let Some(f) = fx.files.iter().find(|f| f.role == "dump") else {
            continue;
        };
        let out = holdup_ok(&["info", fx.path(&f.file).to_str().unwrap()]);
        let line = out
            .lines()
            .find(|l| l.trim_start().starts_with("MODULE BTF:"))
            .unwrap_or_else(|| panic!("{}: no MODULE BTF line in:\n{out}", fx.name));
        for (name, (bytes, _)) in &modules {
            let want = if *bytes == 0 {
                format!("{name} (no BTF)")
            } else {
                format!("{name} (")
            };
            assert!(
                line.contains(&want),
                "{}: {want:?} not in {line:?}",
                fx.name
            );
            assert!(
                !line.contains(&format!("{name} (unreadable)")),
                "{}: {line}",
                fx.name
            );
        }
    }
}
