//! Reads every present page of a dump and reports the time taken (a rough benchmark).
//!
//! `cargo run --release -p holdup-dump --example readall -- <vmcore>`

use holdup_dump::{PageState, PhysicalMemory};

fn main() {
    let path = std::env::args().nth(1).expect("usage: readall <vmcore>");
    let t0 = std::time::Instant::now();
    let d = holdup_dump::open(&path).unwrap_or_else(|e| panic!("{e}"));
    let opened = t0.elapsed();
    let mut buf = vec![0u8; 4096];
    let (mut n, mut sum) = (0u64, 0u64);
    for pfn in 0..d.max_pfn() {
        if d.page_state(pfn) == PageState::Present {
            d.read_phys(pfn << 12, &mut buf).unwrap();
            sum = sum.wrapping_add(buf.iter().map(|&b| b as u64).sum::<u64>());
            n += 1;
        }
    }
    println!(
        "{}: {} opened in {:?}; {n} pages read in {:?} (checksum {sum:#x})",
        path,
        d.format_name(),
        opened,
        t0.elapsed() - opened
    );
}
