//! Partial dumps: every committed dump file cut at 100 evenly spaced lengths gives a report or
//! a one-line error, never a panic, and a report on a cut file says that the file is cut and
//! what could not be read. The kdump header's incomplete flag is honoured.
//!
//! The cuts run in-process (the whole analysis, as `holdup DUMP` does it); a few of them also
//! run through the `holdup` binary.

use holdup_dump::{Dump, PhysicalMemory, ReadFailure};
use holdup_e2e::{all_dumps, holdup, manifest, scratch_dir};
use holdup_fuzz_targets::fixture::report;
use holdup_kernel::{Kernel, OpenOptions};
use holdup_kmem::KernelDump;
use holdup_report::{render_text, to_json};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CUTS: usize = 100;

/// What one run on a (cut) dump gave.
enum Outcome {
    /// The one-line message `holdup` would print.
    Error(String),
    /// The report's problems and its text.
    Report { problems: Vec<String>, text: String },
}

/// The whole analysis on a dump held in memory, as `holdup DUMP` does it.
fn analyse(bytes: Vec<u8>, name: &str) -> Outcome {
    let dump = match Dump::from_bytes(bytes) {
        Ok(d) => d,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    let kd = match KernelDump::from_dump(dump) {
        Ok(k) => k,
        Err(e) => return Outcome::Error(format!("{name}: {e}")),
    };
    let k = match Kernel::from_kernel_dump(kd, name, &OpenOptions::default()) {
        Ok(k) => k,
        Err(e) => return Outcome::Error(e.to_string()),
    };
    match report(&k, true) {
        Ok(r) => {
            let mut text = render_text(&r);
            text.push_str(&to_json(&r));
            Outcome::Report {
                problems: r.problems,
                text,
            }
        }
        Err(e) => Outcome::Error(format!("{name}: {e}")),
    }
}

/// Cut number, length, what the run gave (or its panic), how long it took.
type CutResult = (usize, usize, Result<Outcome, String>, Duration);

fn panic_message(e: &(dyn std::any::Any + Send)) -> String {
    e.downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// Every dump file of the manifest: full dumps, unpacked ELF, samples.
fn dump_files() -> Vec<(String, PathBuf)> {
    let m = manifest();
    let mut v: Vec<(String, PathBuf)> = all_dumps(&m)
        .into_iter()
        .map(|(fx, f, p)| (format!("{}/{}", fx.name, f.file), p))
        .collect();
    for fx in &m.fixtures {
        for f in fx.files_with_role("dump-sample") {
            v.push((format!("{}/{}", fx.name, f.file), fx.path(&f.file)));
        }
    }
    v
}

#[test]
fn every_dump_cut_anywhere_gives_a_report_or_one_line() {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
    let bound = if cfg!(debug_assertions) {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(10)
    };
    let mut failures = Vec::new();
    let (mut reports, mut errors) = (0, 0);
    for (name, path) in dump_files() {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let next = AtomicUsize::new(0);
        let results: Vec<CutResult> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= CUTS {
                                return out;
                            }
                            let len = bytes.len() * i / CUTS;
                            let cut = bytes[..len].to_vec();
                            let t = Instant::now();
                            let r = catch_unwind(AssertUnwindSafe(|| analyse(cut, &name)))
                                .map_err(|e| panic_message(&*e));
                            out.push((i, len, r, t.elapsed()));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("worker"))
                .collect()
        });
        for (i, len, r, took) in results {
            let what = format!("{name} cut at {len} bytes ({i}%)");
            if took > bound {
                failures.push(format!("{what}: took {took:?}"));
            }
            match r {
                Err(p) => failures.push(format!("{what}: PANIC: {p}")),
                Ok(Outcome::Error(msg)) => {
                    errors += 1;
                    if msg.is_empty() || msg.contains('\n') {
                        failures.push(format!("{what}: error is not one line: {msg:?}"));
                    }
                }
                Ok(Outcome::Report { problems, text }) => {
                    reports += 1;
                    // The file is cut: the report must say so, and name what it could not
                    // read.
                    if !problems.iter().any(|p| p.contains("truncated")) {
                        failures.push(format!(
                            "{what}: the report does not say the file is truncated: {problems:?}"
                        ));
                    }
                    if !problems.iter().any(|p| p.contains("0x")) {
                        failures.push(format!("{what}: no problem names an address: {problems:?}"));
                    }
                    if !text.contains("truncated") {
                        failures.push(format!("{what}: the text report hides the truncation"));
                    }
                }
            }
        }
    }
    eprintln!("cuts: {reports} reports, {errors} one-line errors");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        reports > 0,
        "no cut gave a report: the cuts test nothing past the headers"
    );
}

#[test]
fn the_binary_on_cut_dumps_reports_or_says_one_line() {
    let dir = scratch_dir().join("truncation");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for pct in [3, 50, 97] {
            let len = bytes.len() * pct / 100;
            let cut = dir.join(format!("{}-{}-{pct}", fx.name, f.file));
            std::fs::write(&cut, &bytes[..len]).expect("write cut file");
            let c = cut.display().to_string();
            let what = format!("holdup {c}");
            let (status, stdout, stderr) = holdup(&[&c]);
            // 4: a report of blocked tasks from a dump that lacks memory (partial).
            assert!(
                !stderr.contains("panicked") && matches!(status, 0..=2 | 4),
                "{what}: status {status}: {stderr}"
            );
            if status == 2 {
                let lines: Vec<&str> = stderr
                    .lines()
                    .filter(|l| l.starts_with("holdup: "))
                    .collect();
                assert_eq!(lines.len(), 1, "{what}: not one error line: {stderr}");
            } else {
                assert!(
                    stdout.contains("truncated"),
                    "{what}: no word of the cut:\n{stdout}"
                );
            }
            for cmd in ["info", "ps", "log"] {
                let (status, _, stderr) = holdup(&[cmd, &c]);
                assert!(
                    !stderr.contains("panicked") && (0..=2).contains(&status),
                    "holdup {cmd} {c}: status {status}: {stderr}"
                );
            }
            std::fs::remove_file(&cut).ok();
        }
    }
}

/// The kdump fixture of 6.1 and where its page descriptors are.
fn kdump_61() -> (Vec<u8>, usize, u64) {
    let m = manifest();
    let fx = m.fixture("6.1");
    let bytes = std::fs::read(fx.path("vmcore.kdump-zlib")).expect("6.1 kdump");
    let le32 = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap()) as usize;
    let bs = le32(428);
    let desc_start = bs * (1 + le32(432) + le32(436));
    let total = Dump::from_bytes(bytes.clone())
        .expect("6.1 kdump")
        .kdump_header()
        .expect("kdump")
        .dumped_pages;
    (bytes, desc_start, total)
}

#[test]
fn the_incomplete_flag_is_honoured() {
    let (mut bytes, desc_start, total) = kdump_61();
    bytes[424] |= 0x8; // DUMP_DH_COMPRESSED_INCOMPLETE
    // makedumpfile stopped (disk full) after 80% of the pages: the later descriptors were
    // never filled in, and the file ends after the last page written.
    let written = total * 8 / 10;
    let mut end = 0u64;
    for i in 0..total {
        let at = desc_start + 24 * i as usize;
        if i >= written {
            bytes[at..at + 24].fill(0);
        } else {
            let off = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
            let size = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap());
            end = end.max(off + u64::from(size));
        }
    }
    bytes.truncate(end as usize);
    let d = Dump::from_bytes(bytes.clone()).expect("an incomplete dump opens");
    assert!(d.kdump_header().unwrap().incomplete);
    assert!(
        d.warnings().iter().any(|w| w.contains("incomplete")),
        "{:?}",
        d.warnings()
    );
    // A page that was never written reads as missing, and says why.
    let mut never = None;
    let mut buf = vec![0u8; 4096];
    for pfn in (0..d.max_pfn()).rev() {
        if let Err(e) = d.read_phys(pfn * 4096, &mut buf)
            && let ReadFailure::Truncated(why) = &e.failure
        {
            never = Some(why.clone());
            break;
        }
    }
    let why = never.expect("some page reads as never written");
    assert!(why.contains("incomplete"), "{why}");

    // The whole analysis goes on and says the dump is incomplete.
    match analyse(bytes, "6.1 incomplete") {
        Outcome::Report { problems, .. } => assert!(
            problems.iter().any(|p| p.contains("incomplete")),
            "{problems:?}"
        ),
        Outcome::Error(e) => panic!("no report on an incomplete dump: {e}"),
    }
}

#[test]
fn a_cut_kdump_is_reported_as_truncated_not_damaged() {
    let (bytes, _, _) = kdump_61();
    let cut = bytes[..bytes.len() * 95 / 100].to_vec();
    let d = Dump::from_bytes(cut).expect("a cut kdump opens");
    assert!(
        d.warnings().iter().any(|w| w.contains("truncated file")),
        "{:?}",
        d.warnings()
    );
    let mut buf = vec![0u8; 4096];
    let failures: Vec<ReadFailure> = (0..d.max_pfn())
        .filter_map(|pfn| d.read_phys(pfn * 4096, &mut buf).err())
        .map(|e| e.failure)
        .filter(|f| !matches!(f, ReadFailure::Excluded { .. } | ReadFailure::Absent))
        .collect();
    assert!(!failures.is_empty());
    assert!(
        failures
            .iter()
            .all(|f| matches!(f, ReadFailure::Truncated(w) if w.contains("truncated"))),
        "{:?}",
        &failures[..failures.len().min(3)]
    );
}
