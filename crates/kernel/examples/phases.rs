//! Where the time of opening a dump and of the hang report's kernel-object work goes, phase by
//! phase, with the pages each phase had to decompress (a profiling aid; `just bench` runs
//! it): `cargo run --release -p holdup-kernel --example phases -- DUMP`.
//!
//! The last lines time the parallel `PG_locked` scan of every struct page: cold (its vmemmap
//! pages not yet decompressed, as in the report) and cached, in GB/s of struct pages read.
//! `HOLDUP_LOG=1` also prints `Kernel::open`'s own phases.
use holdup_kernel::mm::page::MemMap;
use holdup_kernel::stack::unwind::Unwinder;
use holdup_kernel::{Kernel, OpenOptions, locking, sched, sysinfo};
use std::time::Instant;

/// Prints the `log::debug!` lines of `Kernel::open`.
struct Stderr;
impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Debug && m.target().starts_with("holdup")
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            println!("  {}", r.args());
        }
    }
    fn flush(&self) {}
}

/// Elapsed time and pages decompressed since the last lap.
struct Laps {
    t: Instant,
    pages: u64,
}

impl Laps {
    fn lap(&mut self, k: &Kernel, what: &str) {
        let pages = k.dump.dump.pages_decompressed();
        println!(
            "{what:<26}{:8.2} ms {:6} pages inflated",
            self.t.elapsed().as_secs_f64() * 1e3,
            pages - self.pages
        );
        self.pages = pages;
        self.t = Instant::now();
    }
}

fn main() {
    if std::env::var_os("HOLDUP_LOG").is_some() {
        log::set_logger(&Stderr).expect("one logger");
        log::set_max_level(log::LevelFilter::Debug);
    }
    let path = std::env::args().nth(1).expect("usage: phases DUMP");
    let t = Instant::now();
    let k = Kernel::open(path.as_ref(), &OpenOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let mut laps = Laps { t, pages: 0 };
    laps.lap(&k, "Kernel::open");
    let log = sysinfo::kernel_log(&k).ok();
    laps.lap(&k, "kernel_log");
    let _ = sysinfo::system_info(&k, log.as_ref());
    laps.lap(&k, "system_info");
    let tasks = sched::all_tasks(&k).expect("tasks");
    laps.lap(&k, &format!("all_tasks ({})", tasks.tasks.len()));
    let u = Unwinder::new(&k);
    for task in &tasks.tasks {
        let _ = u.backtrace(task);
    }
    laps.lap(&k, "backtrace of every task");
    let blocked = tasks.blocked();
    let opts = locking::AnalyzeOptions { scan_pages: false };
    let _ = locking::analyze_with(&k, &blocked, &opts);
    laps.lap(&k, "locks (no page scan)");
    let m = MemMap::new(&k).expect("memmap");
    // The first whole read of a page is not cached (see holdup_dump's page cache): the
    // second scan decompresses again and caches, the third reads from the cache.
    for pass in ["cold", "second", "cached"] {
        let s = m.scan_locked_pages(k.mem());
        laps.lap(&k, &format!("page scan {pass}"));
        println!(
            "page scan {pass}: {:.2} ms, {:.2} GB/s ({} struct pages, {:.1} MB, {} locked)",
            s.seconds * 1e3,
            s.gigabytes_per_second(),
            s.struct_pages_read,
            s.bytes_read as f64 / 1e6,
            s.locked.len()
        );
    }
}
