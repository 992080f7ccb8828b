//! Symbols decoded from kallsyms in the dump equal the vmlinux symbol table's, and member
//! offsets from the dump's BTF equal the vmlinux DWARF's: both recorded beside each fixture
//! (`symbols-sample.tsv`, `dwarf-offsets.tsv`) when the dumps were made.

use holdup_e2e::{
    Fixture, all_dumps, check_member_row, fixture_text, manifest, manifest_all, symbol_dumps,
    truth_dumps,
};
use holdup_kernel::{Kernel, OpenOptions};
use holdup_symbols::{Kallsyms, KallsymsAddrs, KallsymsByName, SymbolTable};

fn tsv_rows(fx: &Fixture, file: &str) -> Vec<Vec<String>> {
    fixture_text(fx, file)
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Symbols `scripts/kallsyms` leaves out on purpose (`is_ignored_symbol`).
const NOT_IN_KALLSYMS: [&str; 5] = ["__crc_", "__kstrtab_", "__kstrtabns_", ".L", "kallsyms_"];

#[test]
fn kallsyms_from_the_dump_equal_the_vmlinux_symbols() {
    // On 5.10 (kallsyms found by scanning the image) and 7.x (place-relative) too.
    let m = manifest_all();
    for (fx, f, path) in symbol_dumps(&m) {
        let k = Kernel::open(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{} {}: {e}", fx.name, f.file));
        let rows = tsv_rows(fx, "symbols-sample.tsv");
        assert!(
            rows.len() >= 1000,
            "{}: only {} sampled symbols",
            fx.name,
            rows.len()
        );
        let mut matched = 0;
        for row in &rows {
            let [name, _kind, addr] = &row[..] else {
                panic!("{}: bad row {row:?}", fx.name)
            };
            let addr = hex(addr);
            let found: Vec<u64> = k.symbols.lookup_all(name).map(|s| s.addr).collect();
            if found.is_empty() {
                assert!(
                    NOT_IN_KALLSYMS.iter().any(|p| name.starts_with(p)),
                    "{} {}: {name} is missing from kallsyms",
                    fx.name,
                    f.file
                );
            } else {
                assert!(
                    found.contains(&addr),
                    "{} {}: {name} at {found:x?}, vmlinux says {addr:#x}",
                    fx.name,
                    f.file
                );
                matched += 1;
            }
        }
        assert!(
            matched >= 1000,
            "{}: only {matched} symbols compared",
            fx.name
        );
        // Addresses resolve back to the symbol, as `%pS` prints them.
        let init_task = k.symbols.address_of("init_task").expect("init_task");
        assert_eq!(
            k.symbols.format_address(init_task + 8).split('+').next(),
            Some("init_task")
        );
    }
}

/// kallsyms searched in place (`KallsymsByName`, `KallsymsIndex`: how dumps are opened on
/// kernels with `kallsyms_seqs_of_names`) answer as the whole expanded table does, by name
/// and by address, on every fixture; and a table of a few names (`holdup info`) too.
#[test]
fn kallsyms_searched_in_place_equal_the_whole_table() {
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let k =
            Kernel::open(&path, &OpenOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(
            k.symbols.searched_in_place() && k.symbols_source.contains("searched in place"),
            "{what}: kallsyms not searched in place (6.1.0-56 and 6.12 both can be): {}",
            k.symbols_source
        );
        let vi = k.vmcoreinfo();
        let addrs = KallsymsAddrs::from_vmcoreinfo(|n| vi.symbol(n).ok().flatten())
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let whole = Kallsyms::from_memory(&k.dump.mem, addrs)
            .unwrap_or_else(|e| panic!("{what}: {e}"))
            .into_table();
        let by_name =
            KallsymsByName::new(&k.dump.mem, addrs).unwrap_or_else(|| panic!("{what}: by name"));
        let in_place = SymbolTable::from_kallsyms_index(by_name.into_index().expect("read whole"));
        assert_eq!(in_place.len(), whole.len(), "{what}: kallsyms_num_syms");
        // Every 61st symbol by name (all of that name, in order) and by address around it.
        let mut names = 0;
        for s in whole.iter().step_by(61) {
            let all = |t: &SymbolTable| -> Vec<(String, char, u64)> {
                t.lookup_all(s.name)
                    .map(|x| (x.name.to_string(), x.kind, x.addr))
                    .collect()
            };
            assert_eq!(all(&in_place), all(&whole), "{what}: {}", s.name);
            for a in [s.addr, s.addr.wrapping_add(1), s.addr.wrapping_add(0x37)] {
                assert_eq!(
                    in_place.format_address(a),
                    whole.format_address(a),
                    "{what}: {a:#x}"
                );
            }
            names += 1;
        }
        assert!(names > 1000, "{what}: only {names} symbols compared");
        // The opened kernel's table (with its modules) names vmlinux addresses the same way.
        let init_task = whole.address_of("init_task").expect("init_task");
        assert_eq!(
            k.symbols.format_address(init_task + 8),
            whole.format_address(init_task + 8)
        );
        // A table of a few, as `holdup info` opens a dump.
        let by_name =
            KallsymsByName::new(&k.dump.mem, addrs).unwrap_or_else(|| panic!("{what}: by name"));
        let wanted = [
            "_stext",
            "__start_BTF",
            "init_task",
            "runqueues",
            "no_such_symbol",
        ];
        let few = by_name.table(&wanted);
        for name in wanted {
            assert_eq!(
                few.address_of(name),
                whole.address_of(name),
                "{what}: {name} in a table of a few"
            );
        }
    }
}

#[test]
fn btf_member_offsets_equal_dwarf() {
    // On 5.10 (kallsyms found by scanning the image) and 7.x (place-relative) too.
    let m = manifest_all();
    for (fx, f, path) in symbol_dumps(&m) {
        let k = Kernel::open(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{} {}: {e}", fx.name, f.file));
        let rows = tsv_rows(fx, "dwarf-offsets.tsv");
        assert!(
            rows.len() > 200,
            "{}: only {} DWARF rows",
            fx.name,
            rows.len()
        );
        for row in &rows {
            let [ty, member, offset, bit_offset, bit_size, size] = &row[..] else {
                panic!("{}: bad row {row:?}", fx.name)
            };
            let what = format!("{} {}: {ty}.{member}", fx.name, f.file);
            if member == "-" {
                let got = k.types.sizeof(ty).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(got.to_string(), *size, "{what}: sizeof");
                continue;
            }
            check_member_row(
                &k.types,
                &what,
                ty,
                member,
                [offset, bit_offset, bit_size, size],
            );
        }
    }
}

/// The modules loaded in each dump are read with their symbols, the hang module among them,
/// and an address inside a module's function resolves back to it, `%pS`-style.
#[test]
fn module_symbols_resolve_back_to_their_module() {
    // On 5.10 too: kallsyms found by scanning the image, BTF found through it.
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let k =
            Kernel::open(&path, &OpenOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
        let mods = k.symbols.modules();
        assert!(
            mods.iter().any(|md| md.name == "hangmod" && md.symbols > 0),
            "{what}: no hangmod symbols among {:?}",
            mods.iter().map(|md| &md.name).collect::<Vec<_>>()
        );
        for md in mods {
            assert!(
                md.error.is_none(),
                "{what}: module {}: {:?}",
                md.name,
                md.error
            );
            let Some(s) = k
                .symbols
                .iter()
                .find(|s| s.module == Some(md.name.as_str()) && s.kind.eq_ignore_ascii_case(&'t'))
            else {
                continue;
            };
            let r = k
                .symbols
                .resolve(s.addr + 1)
                .unwrap_or_else(|| panic!("{what}: {}+1 does not resolve", s.name));
            assert_eq!(
                (r.symbol.addr, r.offset, r.symbol.module),
                (s.addr, 1, Some(md.name.as_str())),
                "{what}: {}+1 resolves to {r}",
                s.name
            );
            assert!(
                r.to_string().ends_with(&format!(" [{}]", md.name)),
                "{what}: {r}"
            );
            assert_eq!(
                k.symbols.module_of(s.addr).map(|x| x.name.as_str()),
                Some(md.name.as_str()),
                "{what}: {} is not inside {}'s memory",
                s.name,
                md.name
            );
        }
    }
}

/// A kernel whose kallsyms cannot be searched by name (before 6.2 and the 6.1.y that have it
/// backported: no `kallsyms_seqs_of_names`) is opened by expanding every name, and reports
/// the same. Here the 6.1 fixture with its sequence numbers zeroed in an overlay.
#[test]
fn kallsyms_without_sequence_numbers_are_expanded_whole() {
    use holdup_fuzz_targets::fixture::{Patched, report};
    let p = Patched::open();
    assert!(p.kernel.symbols.searched_in_place(), "the clean fixture");
    let vi = p.kernel.vmcoreinfo();
    let sym = |n: &str| vi.symbol(n).ok().flatten().expect(n);
    let num = u64::from(p.kernel.mem().read_u32(sym("kallsyms_num_syms")).unwrap());
    // 6.1.y puts them just below the token table (8-aligned).
    let seqs = (sym("kallsyms_token_table") - 3 * num) & !7;
    let reopened = p.with(
        |o| {
            let mut a = seqs;
            while a < seqs + 3 * num {
                let n = (0x1000 - (a & 0xfff)).min(seqs + 3 * num - a);
                let pa = p.paddr(a).expect("sequence numbers mapped");
                o.write(pa, &vec![0u8; n as usize]);
                a += n;
            }
        },
        |_| {
            let k = p.reopen().expect("open without sequence numbers");
            assert!(!k.symbols.searched_in_place(), "{}", k.symbols_source);
            assert!(!k.symbols_source.contains("searched in place"));
            let r = holdup_report::to_json(&report(&k, true).expect("report"));
            let mut r: serde_json::Value = serde_json::from_str(&r).unwrap();
            r["kernel"]["symbols"].take();
            r
        },
    );
    let clean = holdup_report::to_json(&report(&p.kernel, true).expect("report"));
    let mut clean: serde_json::Value = serde_json::from_str(&clean).unwrap();
    clean["kernel"]["symbols"].take();
    assert!(
        reopened == clean,
        "the report differs when kallsyms is expanded whole"
    );
}
