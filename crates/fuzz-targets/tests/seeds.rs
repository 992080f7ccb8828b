//! The committed seeds reach deep into their parsers: a seed that the first check refuses
//! would leave the fuzzer to rediscover the format by chance.

use holdup_dump::{Dump, PageState, PhysicalMemory};
use holdup_fuzz_targets::fakemem::SliceMem;
use holdup_fuzz_targets::parsers::{FAKE_BASE, FIXTURE_VMCOREINFO, flat_header, kallsyms_input};
use holdup_kernel::printk::{PrintkLayout, read_log};
use holdup_symbols::Kallsyms;
use holdup_types::{Btf, Types};
use holdup_vmcoreinfo::VmcoreInfo;
use std::path::PathBuf;

fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("seed-")
        })
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v
}

fn pages_read(d: &Dump) -> usize {
    let mut buf = vec![0u8; 4096];
    (0..d.max_pfn())
        .filter(|&p| d.page_state(p) == PageState::Present)
        .filter(|&p| d.read_phys(p * 4096, &mut buf).is_ok())
        .count()
}

#[test]
fn dump_seeds_open_and_have_pages() {
    for (name, data) in seeds("kdump").into_iter().chain(seeds("elf")) {
        let d = Dump::from_bytes(data).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Header version 1 predates VMCOREINFO in the sub-header.
        assert!(
            d.vmcoreinfo_raw().is_some() || name.contains("v1"),
            "{name}: no VMCOREINFO"
        );
        if !name.contains("only") && !name.contains("cut") {
            assert!(pages_read(&d) > 0, "{name}: no page reads");
        }
    }
    for (name, data) in seeds("flattened") {
        let mut f = flat_header();
        f.extend_from_slice(&data);
        let d = Dump::from_bytes(f).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(d.format().flattened.is_some(), "{name}");
        if !name.contains("cut") {
            assert!(pages_read(&d) > 0, "{name}: no page reads");
        }
    }
}

#[test]
fn kallsyms_seeds_decode() {
    for (name, data) in seeds("kallsyms") {
        let (mem, addrs) = kallsyms_input(&data);
        let k = Kallsyms::from_memory(&mem, addrs).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(k.table().len() > 10, "{name}");
    }
}

#[test]
fn btf_seeds_answer_questions() {
    for (name, data) in seeds("btf") {
        let t = Types::new(Btf::parse(data, "seed").unwrap_or_else(|e| panic!("{name}: {e}")));
        let q = if name.contains("locks") {
            "mutex.wait_list"
        } else if name.contains("pages") {
            "page.flags"
        } else if name.contains("task") {
            "task_struct.thread.sp"
        } else {
            "module.list"
        };
        t.member(q).unwrap_or_else(|e| panic!("{name}: {q}: {e}"));
    }
}

#[test]
fn printk_seed_has_records() {
    let vi = VmcoreInfo::parse(FIXTURE_VMCOREINFO);
    let layout =
        PrintkLayout::from_vmcoreinfo(|k| vi.get(k).and_then(|s| s.trim().parse().ok())).unwrap();
    for (name, data) in seeds("printk") {
        let mem = SliceMem {
            base: FAKE_BASE,
            data: &data,
        };
        let log = read_log(&mem, FAKE_BASE, &layout).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(log.records.len() > 5, "{name}: {:?}", log.skipped);
        assert!(log.skipped.is_empty(), "{name}: {:?}", log.skipped);
    }
}

#[test]
fn vmcoreinfo_seeds_parse() {
    for (name, data) in seeds("vmcoreinfo") {
        let vi = VmcoreInfo::parse_bytes(&data);
        assert!(vi.osrelease().is_some(), "{name}");
    }
}
