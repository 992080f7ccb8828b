//! The report from the dump alone (kallsyms and BTF read from its memory) equals the report
//! with the `-dbg` package's vmlinux (its symbol table and DWARF), on every complete truth
//! fixture: 5.10 (kallsyms found by scanning), 6.1, 6.1 on 5-level paging, 6.12, 6.12-rt and
//! 7.3. Only where the symbols and types came from may differ.
//!
//! The vmlinux files are hundreds of MB each and not in the repository: this test is ignored
//! by default and run by `just test-vmlinux`, which fetches them first
//! (`dumps/gen/vmlinux.sh RELEASE` puts each in `dumps/work/kernels/RELEASE/vmlinux`).

use holdup_e2e::{dumps_dir, holdup, manifest_all, truth_dumps};
use serde_json::Value;

/// The report as JSON, without what names the dump and where symbols and types came from.
fn report(args: &[&str]) -> Value {
    let (st, out, err) = holdup(args);
    assert!(st == 0 || st == 1, "holdup {args:?}: status {st}: {err}");
    let mut v: Value = serde_json::from_str(&out).expect("JSON report");
    let o = v.as_object_mut().expect("an object");
    o.remove("dump");
    let kernel = o["kernel"].as_object_mut().expect("kernel");
    assert!(kernel.remove("symbols").is_some() && kernel.remove("types").is_some());
    v
}

#[test]
#[ignore = "needs each fixture's -dbg vmlinux in dumps/work/kernels/: run `just test-vmlinux`"]
fn the_report_is_the_same_with_and_without_the_vmlinux() {
    let m = manifest_all();
    let mut compared = 0;
    for (fx, f, path) in truth_dumps(&m).into_iter().filter(|d| !d.0.incomplete) {
        let vmlinux = dumps_dir()
            .join("work/kernels")
            .join(&fx.release)
            .join("vmlinux");
        assert!(
            vmlinux.exists(),
            "{}: no {}: fetch it with `bash dumps/gen/vmlinux.sh {}` (or `just test-vmlinux`)",
            fx.name,
            vmlinux.display(),
            fx.kernel
        );
        let dump = path.to_str().unwrap();
        let alone = report(&[dump, "--json"]);
        let with = report(&["--vmlinux", vmlinux.to_str().unwrap(), dump, "--json"]);
        assert!(
            alone == with,
            "{} {}: the report differs with {}",
            fx.name,
            f.file,
            vmlinux.display()
        );
        compared += 1;
    }
    assert!(compared >= 6, "only {compared} dumps compared");
}
