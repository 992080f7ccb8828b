//! Runs one fuzz target on files, with the stable toolchain: to reproduce a crash that
//! `cargo fuzz` found, or to time a target.
//!
//! `cargo run --release -p holdup-fuzz-targets --example fuzz_one -- TARGET FILE...`

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((name, files)) = args.split_first() else {
        eprintln!("usage: fuzz_one TARGET FILE...");
        std::process::exit(2);
    };
    let Some(f) = holdup_fuzz_targets::target(name) else {
        let names: Vec<&str> = holdup_fuzz_targets::TARGETS.iter().map(|t| t.0).collect();
        eprintln!("unknown target {name}; targets: {}", names.join(" "));
        std::process::exit(2);
    };
    for file in files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{file}: {e}"));
        let t = Instant::now();
        f(&data);
        println!(
            "{file}: {} bytes, {:.1} ms",
            data.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
    }
}
