//! Prints what the fixture overlay finds worth corrupting, and the clean report's timing.
//!
//! `cargo run --release -p holdup-fuzz-targets --example interest`

use holdup_fuzz_targets::fixture::{Interest, Patched, full_run};
use std::time::Instant;

fn main() {
    let t = Instant::now();
    let p = Patched::open();
    println!("open: {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let it = Interest::find(&p);
    println!(
        "interest: {:.1} ms: {} words, {} pages, {} orc pages, {} pointers, {} tasks",
        t.elapsed().as_secs_f64() * 1e3,
        it.words.len(),
        it.pages.len(),
        it.orc_pages.len(),
        it.pointers.len(),
        it.tasks.len()
    );
    for scan in [false, true] {
        let t = Instant::now();
        let r = p.with(|_| {}, |k| full_run(k, scan));
        println!(
            "report (page scan {scan}): {:.1} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
        if !scan {
            match r {
                Ok(text) => println!("{}", &text[..text.len().min(600)]),
                Err(e) => println!("error: {e}"),
            }
        }
    }
}
