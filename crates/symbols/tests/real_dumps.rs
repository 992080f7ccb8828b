//! Real data (HOLDUP_WORK_DUMPS=1): for each kernel, open the kdump-captured vmcore, decode
//! kallsyms and BTF from its memory and compare with the oracles made from the vmlinux:
//! every sampled symbol's address (symbols-sample.tsv), every kallsyms symbol against the
//! relocated vmlinux symtab, every member offset in dwarf-offsets.tsv; then the modules.

#[path = "common/check.rs"]
mod check;
mod common;

#[test]
fn real_dumps_match_the_oracles() {
    if !common::enabled() {
        eprintln!("skipped: set HOLDUP_WORK_DUMPS=1 to run on dumps/work");
        return;
    }
    for (kernel, release) in common::RELEASES {
        let dir = common::work_dir().join("out").join(kernel);
        for f in ["vmcore", "symbols-sample.tsv", "dwarf-offsets.tsv"] {
            common::need(dir.join(f));
        }
        let vmlinux = common::vmlinux(release);
        let r = check::check_dump(&dir, "vmcore", Some(&vmlinux));
        for l in &r.lines {
            eprintln!("{kernel}: {l}");
        }
        assert!(r.failures.is_empty(), "{kernel}: {:#?}", r.failures);
        assert!(r.symbols_matched > 1000, "{kernel}: {}", r.symbols_matched);
        assert!(r.offsets_matched > 200, "{kernel}: {}", r.offsets_matched);
    }
}
