//! A vmlinux of another kernel is refused before it is used: its symbols would point at the
//! wrong places and every value read through them would be fabricated and shown as fact.
//!
//! The "vmlinux" files are small ELF files with a symbol table only, made from the fixtures'
//! `symbols-sample.tsv` (symbols of the `-dbg` vmlinux, relocated by that boot's
//! KERNELOFFSET, which is taken off again here): the 6.12 kernel's offered for the 6.1 dump
//! must be refused naming both kernels; the 6.1 kernel's own must pass the check (and then
//! fail only for want of DWARF, which these files do not have).

use holdup_e2e::{fixture_text, fresh_scratch, holdup, manifest};
use object::write::{Object, Symbol, SymbolSection};
use object::{
    Architecture, BinaryFormat, Endianness, SectionKind, SymbolFlags, SymbolKind, SymbolScope,
};
use std::path::PathBuf;

/// An ELF with the symbols of fixture `name`'s sample, at their addresses before KASLR, in a
/// scratch folder of its own (`tag`: tests run in parallel).
fn sample_vmlinux(name: &str, tag: &str) -> PathBuf {
    let m = manifest();
    let fx = m.fixture(name);
    let text = fixture_text(fx, "symbols-sample.tsv");
    let offset = text
        .lines()
        .find_map(|l| l.split("KERNELOFFSET=").nth(1))
        .and_then(|r| r.split(|c: char| !c.is_ascii_hexdigit()).next())
        .map(|h| u64::from_str_radix(h, 16).expect("KERNELOFFSET in hex"))
        .expect("the sample's header names its KERNELOFFSET");
    let mut obj = Object::new(BinaryFormat::Elf, Architecture::X86_64, Endianness::Little);
    let text_id = obj.add_section(Vec::new(), b".text".to_vec(), SectionKind::Text);
    let data_id = obj.add_section(Vec::new(), b".data".to_vec(), SectionKind::Data);
    for l in text.lines().filter(|l| !l.starts_with('#')) {
        let f: Vec<&str> = l.split('\t').collect();
        let [sym, kind, addr] = f[..] else { continue };
        let addr = u64::from_str_radix(addr.trim_start_matches("0x"), 16).unwrap();
        if addr < 0xffff_ffff_8000_0000 {
            continue; // per-CPU offsets: not moved by KASLR, not needed here
        }
        let is_text = kind.eq_ignore_ascii_case("t");
        obj.add_symbol(Symbol {
            name: sym.as_bytes().to_vec(),
            value: addr - offset,
            size: 0,
            kind: if is_text {
                SymbolKind::Text
            } else {
                SymbolKind::Data
            },
            scope: SymbolScope::Linkage,
            weak: false,
            section: SymbolSection::Section(if is_text { text_id } else { data_id }),
            flags: SymbolFlags::None,
        });
    }
    let dir = fresh_scratch(&format!("vmlinux-{name}-{tag}"));
    let path = dir.join("vmlinux");
    std::fs::write(&path, obj.write().expect("write the ELF")).unwrap();
    path
}

fn dump_61() -> String {
    manifest()
        .fixture("6.1")
        .path("vmcore.kdump-zlib")
        .display()
        .to_string()
}

#[test]
fn the_vmlinux_of_another_kernel_is_refused_naming_both() {
    let other = sample_vmlinux("6.12", "refused");
    let d = dump_61();
    for args in [vec!["info", &d], vec![&d], vec!["ps", &d]] {
        let mut a = args.clone();
        a.extend(["--vmlinux", other.to_str().unwrap()]);
        let (st, out, err) = holdup(&a);
        assert_eq!(
            st, 2,
            "holdup {a:?} must refuse the 6.12 vmlinux: {out}{err}"
        );
        assert!(out.is_empty(), "nothing may be reported through it: {out}");
        assert!(
            err.contains("is not the vmlinux of this dump's kernel")
                && err.contains("the dump is kernel 6.1.0-56-amd64"),
            "{err}"
        );
        assert!(
            err.contains("init_uts_ns is at 0x"),
            "the evidence is named: {err}"
        );
    }
}

#[test]
fn the_vmlinux_of_the_same_kernel_passes_the_check() {
    let own = sample_vmlinux("6.1", "own");
    let d = dump_61();
    let (st, _, err) = holdup(&["info", &d, "--vmlinux", own.to_str().unwrap()]);
    // No DWARF in this made-up file: refused for that, and only for that.
    assert_eq!(st, 2, "{err}");
    assert!(!err.contains("is not the vmlinux"), "{err}");
    assert!(err.contains("not a vmlinux with debug info"), "{err}");
    assert_eq!(err.matches(own.to_str().unwrap()).count(), 1, "{err}");
}

/// A debug package's vmlinux found automatically for the dump's release but of another build
/// is set aside with a warning: the dump's own kallsyms and BTF are better than symbols at the
/// wrong places.
#[test]
fn an_automatically_found_vmlinux_of_another_build_is_set_aside() {
    let other = sample_vmlinux("6.12", "auto");
    let root = fresh_scratch("vmlinux-debug-root");
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::copy(&other, root.join("boot/vmlinux-6.1.0-56-amd64")).unwrap();
    let d = dump_61();
    let (st, out, err) = holdup_e2e::holdup_env(
        &[&d, "-v"],
        &[
            ("NO_COLOR", "1"),
            ("HOLDUP_DEBUG_ROOT", root.to_str().unwrap()),
        ],
        &[],
    );
    assert_eq!(st, 0, "{err}");
    assert!(out.contains("ROOT CAUSE 1: kscand"), "{out}");
    assert!(
        err.contains("the vmlinux found automatically was refused")
            && err.contains("is not the vmlinux of this dump's kernel"),
        "{err}"
    );
}
