//! Prints what `holdup info` will: format, dump level, CPU notes, VMCOREINFO release, and the
//! uts release read through kernel memory.
//!
//! `cargo run -p holdup-kmem --example info -- <vmcore>...`

use holdup_kmem::KernelDump;

fn main() {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: info <vmcore>...");
        std::process::exit(2);
    }
    let mut failed = false;
    for p in paths {
        println!("== {p}");
        match KernelDump::open(&p) {
            Ok(k) => print!("{}", k.summary()),
            Err(e) => {
                println!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        std::process::exit(1);
    }
}
