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

/// The replay runs with overflow checks on, as the fuzzers do: the release profile turns them
/// on for holdup's crates (Cargo.toml), so `cargo test --release` replays as the fuzzers ran.
#[test]
fn the_replay_has_overflow_checks_as_the_fuzzers() {
    assert!(
        holdup_fuzz_targets::overflow_checks_on(),
        "integer overflow does not panic in this build: set overflow-checks for holdup's crates in the profile (Cargo.toml)"
    );
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

/// The `kallsyms` seeds laid out as 6.1.y lays its tables out can be searched by name, so
/// the fuzzer starts from inputs that reach the binary search (`KallsymsByName`), and the
/// search finds the same `_stext` as the whole table.
#[test]
fn kallsyms_by_name_seeds_reach_the_search() {
    use holdup_fuzz_targets::parsers::kallsyms_input;
    use holdup_symbols::{Kallsyms, KallsymsByName};
    let seeds: Vec<PathBuf> = files(&fuzz_dir().join("corpus/kallsyms"))
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with("-by-name"))
        .collect();
    assert_eq!(
        seeds.len(),
        2,
        "fuzz/corpus/kallsyms/seed-*-by-name (just fuzz-seeds)"
    );
    for path in seeds {
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (mem, addrs) = kallsyms_input(&data);
        let by_name = KallsymsByName::new(&mem, addrs)
            .unwrap_or_else(|| panic!("{}: not searchable by name", path.display()));
        let whole = Kallsyms::from_memory(&mem, addrs)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            by_name.lookup("_stext").map(|(a, _)| a),
            whole.table().address_of("_stext"),
            "{}",
            path.display()
        );
        assert_eq!(by_name.num_syms() as usize, whole.table().len());
    }
}
