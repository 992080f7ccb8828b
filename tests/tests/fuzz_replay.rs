//! Every committed fuzz input — the seed corpus `fuzz/corpus/<target>/` and the crashes found
//! and fixed, `fuzz/regressions/<target>/` — replayed through the same entry functions the
//! fuzzers run (`crates/fuzz-targets`), on the stable toolchain: a bug found once stays fixed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Runs every file of `kind` (`corpus` or `regressions`) through its target; returns how
/// many ran.
fn replay(kind: &str) -> usize {
    let mut failures = Vec::new();
    let mut n = 0;
    for (name, f) in holdup_fuzz_targets::TARGETS {
        for path in files(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let t = Instant::now();
            let r = std::panic::catch_unwind(|| f(&data));
            n += 1;
            let took = t.elapsed();
            match r {
                Err(e) => {
                    let msg = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.push(format!("{name} {}: panicked: {msg}", path.display()));
                }
                // libFuzzer's -timeout is 10 s; a replay far slower than a run means a loop.
                Ok(()) if took > Duration::from_secs(10) => {
                    failures.push(format!("{name} {}: took {took:?}", path.display()))
                }
                Ok(()) => {}
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    n
}

#[test]
fn every_seed_runs_clean() {
    for (name, _) in holdup_fuzz_targets::TARGETS {
        let dir = fuzz_dir().join("corpus").join(name);
        assert!(
            !files(&dir).is_empty(),
            "{}: no seeds (`just fuzz-seeds`)",
            dir.display()
        );
    }
    replay("corpus");
}

#[test]
fn every_fixed_crash_stays_fixed() {
    let n = replay("regressions");
    assert!(n > 0, "no regression inputs under fuzz/regressions/");
}

#[test]
fn every_target_has_a_fuzz_binary() {
    let manifest = std::fs::read_to_string(fuzz_dir().join("Cargo.toml")).expect("fuzz/Cargo.toml");
    for (name, _) in holdup_fuzz_targets::TARGETS {
        assert!(
            manifest.contains(&format!("path = \"fuzz_targets/{name}.rs\"")),
            "fuzz/Cargo.toml has no [[bin]] {name}"
        );
        assert!(
            fuzz_dir().join(format!("fuzz_targets/{name}.rs")).exists(),
            "no fuzz/fuzz_targets/{name}.rs"
        );
    }
}
