//! Opens a real dump, decodes kallsyms and BTF from its memory, and compares them with the
//! oracles beside it (`symbols-sample.tsv`, `dwarf-offsets.tsv`).
//!
//! `cargo run --release -p holdup-symbols --example check_dump -- DIR [DUMPFILE [VMLINUX]]`
//! (DUMPFILE defaults to `vmcore`). For the dumps `just dumps` generates into
//! `dumps/work/out/<kernel>/`, with the vmlinux of `dumps/work/kernels/<release>/`; the tests
//! check the same on the committed fixtures (`tests/tests/symbols_types.rs`).

mod check;

use std::path::PathBuf;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!("usage: check_dump DIR [DUMPFILE [VMLINUX]]");
        std::process::exit(2);
    };
    let dump = args.get(1).map(String::as_str).unwrap_or("vmcore");
    let vmlinux = args.get(2).map(PathBuf::from);
    let r = check::check_dump(&dir, dump, vmlinux.as_deref());
    for l in &r.lines {
        println!("{l}");
    }
    for f in &r.failures {
        println!("FAIL {f}");
    }
    std::process::exit(if r.failures.is_empty() { 0 } else { 1 });
}
