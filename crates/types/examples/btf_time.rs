//! Times BTF parsing and the first lookups (a profiling aid):
//! `cargo run --release -p holdup-types --example btf_time -- BLOB` with BLOB a raw BTF blob
//! (`/sys/kernel/btf/vmlinux`, or a vmlinux's `.BTF` section).
use holdup_types::{Btf, Types};
use std::time::Instant;
fn main() {
    let file = std::env::args().nth(1).expect("usage: btf_time BLOB");
    let data = std::fs::read(&file).expect("read");
    let t = Instant::now();
    let btf = Btf::parse(data, "x").expect("parse");
    println!("parse {:?}", t.elapsed());
    let types = Types::new(btf);
    let t = Instant::now();
    let _ = types.offsetof("task_struct.pid");
    println!("first offsetof {:?}", t.elapsed());
    let t = Instant::now();
    let _ = types.enum_value("pageflags", "PG_locked");
    println!("first enum_value {:?}", t.elapsed());
    let t = Instant::now();
    let _ = types.enumerator("PG_locked");
    println!("first enumerator {:?}", t.elapsed());
}
