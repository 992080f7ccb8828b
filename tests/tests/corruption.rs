//! Corrupted kernel data: 1,000 seeded, reproducible corruptions of the 6.1 fixture — task
//! list pointers and task fields, live stack words, lock words, wait lists and waiter
//! records, struct page flags, the printk ring, run queues, the modules list, and whole pages
//! made to vanish — each followed by the whole analysis and the report. None may panic, and
//! each run is bounded in time; the process's peak memory is bounded too.
//!
//! Where the words are comes from the library itself on the clean dump
//! ([`holdup_fuzz_targets::fixture::Interest`]); the corruption is applied to an overlay of
//! the dump's pages, so the 17 MB fixture is opened once.
//!
//! A failure names the run; `HOLDUP_CORRUPTION_RUN=N` replays run N alone, and
//! `HOLDUP_CORRUPTION_RUNS` / `HOLDUP_CORRUPTION_SEED` run a longer or different sweep.

use holdup_fuzz_targets::fixture::{Interest, Overlay, Patched, full_run};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

const RUNS: u64 = 1000;
const SEED: u64 = 0x601d_5eed_0007;

/// SplitMix64: small, good enough, and the same everywhere.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One change to the dump.
#[derive(Debug, Clone)]
enum Edit {
    /// Overwrite the 8-byte word at `paddr` (`what` says what it was).
    Word {
        paddr: u64,
        value: u64,
        #[allow(dead_code)] // shown in failures (Debug)
        what: String,
    },
    /// Make a page read as filtered out.
    Drop { pfn: u64 },
}

/// The corruptions of run `i`: one to four edits.
fn edits(p: &Patched, it: &Interest, seed: u64, i: u64) -> Vec<Edit> {
    let mut r = Rng(seed ^ i.wrapping_mul(0x2545_f491_4f6c_dd1d));
    let n = 1 + r.below(4);
    (0..n)
        .map(|_| {
            if r.below(10) == 0 {
                return Edit::Drop {
                    pfn: it.pages[r.below(it.pages.len())],
                };
            }
            let w = &it.words[r.below(it.words.len())];
            let mut old = [0u8; 8];
            let _ = holdup_dump::PhysicalMemory::read_phys(&*p.overlay, w.paddr & !7, &mut old);
            let old = u64::from_le_bytes(old);
            let value = match r.below(12) {
                0 => 0,
                1 => u64::MAX,
                2 => r.next(),
                // Another object's address: lists that cross, owners that are not tasks.
                3 | 4 => {
                    it.pointers[r.below(it.pointers.len())].wrapping_add(8 * r.below(3) as u64)
                }
                // Itself: a list that loops on one node.
                5 => w.vaddr & !7,
                6 => old ^ (1 << r.below(64)),
                7 => old.wrapping_add(8 * (1 + r.below(64)) as u64),
                8 => 0xffff_ffff_8100_0000 + 16 * r.below(1 << 20) as u64,
                9 => 0x7fff_0000_0000 + r.next() % (1 << 32),
                // A small count or size in place of a pointer or next to one.
                10 => r.below(70) as u64,
                _ => (old & !0xffff_ffff) | r.below(1 << 24) as u64,
            };
            Edit::Word {
                paddr: w.paddr & !7,
                value,
                what: w.what.clone(),
            }
        })
        .collect()
}

fn apply(o: &Overlay, edits: &[Edit]) {
    for e in edits {
        match e {
            Edit::Word { paddr, value, .. } => o.write(*paddr, &value.to_le_bytes()),
            Edit::Drop { pfn } => o.remove(*pfn),
        }
    }
}

/// Run number, its edits, whether it gave a report (or its panic), how long it took.
type RunResult = (u64, Vec<Edit>, Result<bool, String>, Duration);

fn peak_rss_mb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let l = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    Some(l.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

#[test]
fn a_thousand_corruptions_give_bounded_reports() {
    let bound = if cfg!(debug_assertions) {
        Duration::from_secs(20)
    } else {
        Duration::from_secs(2)
    };
    let env = |k: &str| std::env::var(k).ok().and_then(|s| s.parse::<u64>().ok());
    let only = env("HOLDUP_CORRUPTION_RUN");
    let runs = env("HOLDUP_CORRUPTION_RUNS").unwrap_or(RUNS);
    let seed = env("HOLDUP_CORRUPTION_SEED").unwrap_or(SEED);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4)) as u64;
    let base = Patched::open();
    let it = Interest::find(&base);
    assert!(
        it.words.len() > 1000,
        "only {} words of interest",
        it.words.len()
    );
    assert!(!it.pointers.is_empty() && !it.pages.is_empty());
    let t0 = Instant::now();
    let results: Vec<RunResult> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|w| {
                let it = &it;
                let base = &base;
                s.spawn(move || {
                    let own;
                    let p = if w == 0 {
                        base
                    } else {
                        own = Patched::open();
                        &own
                    };
                    let mut out = Vec::new();
                    for i in (w..runs).step_by(threads as usize) {
                        if only.is_some_and(|o| o != i) {
                            continue;
                        }
                        let e = edits(p, it, seed, i);
                        let t = Instant::now();
                        // Every tenth run also scans every struct page; every tenth
                        // (others) opens the kernel again over the corrupted memory, which
                        // walks the modules list anew.
                        let r = catch_unwind(AssertUnwindSafe(|| {
                            p.with(
                                |o| apply(o, &e),
                                |k| {
                                    let ok = full_run(k, i % 10 == 0).is_ok();
                                    if i % 10 == 5
                                        && let Ok(k2) = p.reopen()
                                    {
                                        let _ = full_run(&k2, false);
                                    }
                                    ok
                                },
                            )
                        }))
                        .map_err(|e| {
                            e.downcast_ref::<String>()
                                .cloned()
                                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default()
                        });
                        out.push((i, e, r, t.elapsed()));
                    }
                    out
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut failures = Vec::new();
    let mut reports = 0;
    let mut slowest = Duration::ZERO;
    for (i, e, r, took) in &results {
        slowest = slowest.max(*took);
        match r {
            Err(msg) => failures.push(format!("run {i}: PANIC {msg}\n  edits: {e:?}")),
            Ok(true) => reports += 1,
            Ok(false) => {}
        }
        if *took > bound {
            failures.push(format!("run {i}: took {took:?}\n  edits: {e:?}"));
        }
    }
    let rss = peak_rss_mb();
    eprintln!(
        "{} runs in {:?} ({reports} reports), slowest {slowest:?}, peak RSS {rss:?} MB",
        results.len(),
        t0.elapsed()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    if let Some(mb) = rss {
        assert!(mb < 4096, "peak RSS {mb} MB");
    }
    if only.is_none() {
        assert_eq!(results.len() as u64, runs);
        assert!(
            reports > runs / 2,
            "only {reports} of {runs} runs gave a report"
        );
    }
}
