//! The committed fixtures are what the manifest says they are, and their truth is complete.

use holdup_e2e::{Fixture, LockType, Role, TruthLine, manifest, parse_hex};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

const SCENARIOS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

/// Where kernel addresses start: 0xffff800000000000 with 4-level paging, 0xff00000000000000
/// with 5-level paging (`NUMBER(pgtable_l5_enabled)=1` in the fixture's VMCOREINFO).
fn kernel_half(fx: &Fixture) -> u64 {
    if five_level(fx) {
        0xff00_0000_0000_0000
    } else {
        0xffff_8000_0000_0000
    }
}

/// The fixture's VMCOREINFO says 5-level paging.
fn five_level(fx: &Fixture) -> bool {
    let f = fx
        .files_with_role("vmcoreinfo")
        .next()
        .unwrap_or_else(|| panic!("{}: no vmcoreinfo file", fx.name));
    let text = std::fs::read_to_string(fx.path(&f.file)).expect("vmcoreinfo.txt");
    text.lines().any(|l| l == "NUMBER(pgtable_l5_enabled)=1")
}

fn sha256_of(path: &std::path::Path) -> String {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read fixture");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_manifest_file_has_its_size_and_hash() {
    let m = manifest();
    assert_eq!(m.schema_version, 1);
    assert!(!m.fixtures.is_empty(), "the manifest lists no fixture");
    for fx in &m.fixtures {
        for f in &fx.files {
            let path = fx.path(&f.file);
            let meta = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("fixture {}: {}: {e}", fx.name, path.display()));
            assert_eq!(meta.len(), f.size, "{}: size", path.display());
            assert_eq!(sha256_of(&path), f.sha256, "{}: sha256", path.display());
        }
        // Nothing in a fixture directory escapes the manifest.
        let listed: BTreeSet<_> = fx.files.iter().map(|f| f.file.as_str()).collect();
        for entry in std::fs::read_dir(fx.path("")).expect("fixture dir") {
            let name = entry.expect("dir entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                listed.contains(name.as_ref()),
                "{}/{name} is not in the manifest",
                fx.dir
            );
        }
    }
}

#[test]
fn both_kernels_have_a_kdump_fixture_and_one_has_an_elf() {
    let m = manifest();
    for kernel in ["6.1", "6.12"] {
        assert!(
            m.fixtures.iter().any(|fx| fx.kernel == kernel
                && !fx.incomplete
                && fx
                    .files
                    .iter()
                    .any(|f| f.format.as_deref() == Some("kdump-zlib"))),
            "no complete kdump-zlib fixture for kernel {kernel}"
        );
    }
    assert!(
        m.fixtures
            .iter()
            .any(|fx| fx.files.iter().any(|f| f.format.as_deref() == Some("elf"))),
        "no ELF fixture"
    );
    assert!(
        m.fixtures
            .iter()
            .any(|fx| fx.kernel == "6.12" && fx.incomplete),
        "no over-filtered (incomplete) 6.12 fixture"
    );
}

#[test]
fn truth_has_every_scenario_with_holders_waiters_and_a_verdict() {
    let m = manifest();
    // The capture without a hang has one oops line and a no-hang verdict (tests/oops_la57.rs).
    for fx in m.fixtures.iter().filter(|fx| !fx.no_hang) {
        let truth = fx.truth();
        let mut facts: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        let mut verdicts = BTreeMap::new();
        for line in &truth {
            match line {
                TruthLine::Fact(f) => facts.entry(f.scenario.as_str()).or_default().push(f),
                TruthLine::Verdict(v) => {
                    assert!(
                        verdicts.insert(v.scenario.as_str(), v).is_none(),
                        "{}: two verdicts for scenario {}",
                        fx.name,
                        v.scenario
                    );
                }
                TruthLine::Oops(o) => panic!("{}: an oops line in a hang capture: {o:?}", fx.name),
            }
        }
        for s in SCENARIOS {
            let fs = facts
                .get(s)
                .unwrap_or_else(|| panic!("{}: no facts for scenario {s}", fx.name));
            let v = verdicts
                .get(s)
                .unwrap_or_else(|| panic!("{}: no verdict for scenario {s}", fx.name));
            assert!(
                fs.iter().any(|f| f.role == Role::Waiter),
                "{}: {s} has no waiter",
                fx.name
            );
            assert!(
                !v.root_cause_pids.is_empty(),
                "{}: {s} names no root cause",
                fx.name
            );
            assert_eq!(
                v.root_cause_pids.len(),
                v.root_cause_comms.len(),
                "{}: {s}",
                fx.name
            );
            for (pid, comm) in v.root_cause_pids.iter().zip(&v.root_cause_comms) {
                assert!(
                    fs.iter().any(|f| f.pid == *pid && &f.comm == comm),
                    "{}: {s}: root cause {comm}/{pid} appears in no fact",
                    fx.name
                );
            }
            for f in fs {
                assert!(
                    parse_hex(&f.task) >= kernel_half(fx),
                    "{}: task {}",
                    fx.name,
                    f.task
                );
                assert!(
                    parse_hex(&f.lock) >= kernel_half(fx),
                    "{}: lock {}",
                    fx.name,
                    f.lock
                );
                if f.lock_type == LockType::PageLock {
                    assert!(
                        f.pfn.is_some() && f.page.is_some(),
                        "{}: {s}: page lock without page",
                        fx.name
                    );
                }
                if f.role == Role::Waiter {
                    assert!(
                        f.blocked_in.is_some(),
                        "{}: {s}: waiter {} without blocked_in",
                        fx.name,
                        f.comm
                    );
                }
            }
        }
        // The seed scenario is the incident of shared/seed: check its shape exactly.
        let a = &facts["a"];
        let has = |comm: &str, role, ty| {
            a.iter()
                .any(|f| f.comm == comm && f.role == role && f.lock_type == ty)
        };
        assert!(
            has("kscand", Role::Holder, LockType::Rwsem),
            "{}: kscand holds no rwsem",
            fx.name
        );
        assert!(
            has("kscand", Role::Holder, LockType::PageLock),
            "{}: kscand holds no page",
            fx.name
        );
        assert!(
            has("kscand", Role::Waiter, LockType::PageLock),
            "{}: kscand waits on no page",
            fx.name
        );
        assert!(
            has("kcollapsed", Role::Waiter, LockType::Rwsem),
            "{}: kcollapsed",
            fx.name
        );
        assert!(
            has("bench", Role::Waiter, LockType::Rwsem),
            "{}: bench",
            fx.name
        );
        assert!(
            verdicts["a"].cycle,
            "{}: the seed scenario is a self-deadlock",
            fx.name
        );
        assert_eq!(verdicts["a"].root_cause_comms, ["kscand"], "{}", fx.name);
    }
}

/// The 5-level hang capture ran 5-level: its VMCOREINFO says so, and every task of its truth is
/// in the 5-level direct map (from 0xff11000000000000, below 4-level's kernel half).
#[test]
fn the_la57_hang_capture_is_five_level() {
    let m = manifest();
    let fx = m.fixture("6.1-la57");
    assert!(five_level(fx), "6.1-la57: VMCOREINFO does not say pgtable_l5_enabled=1");
    assert!(!fx.no_hang && !fx.incomplete);
    for f in fx.facts() {
        let t = parse_hex(&f.task);
        assert!(
            (0xff11_0000_0000_0000..0xffff_8000_0000_0000).contains(&t),
            "6.1-la57: task {} of {} is not in the 5-level direct map",
            f.task,
            f.comm
        );
    }
    for fx in m.fixtures.iter().filter(|fx| fx.name != "6.1-la57" && !fx.name.contains("la57")) {
        assert!(!five_level(fx), "{}: 5-level paging?", fx.name);
    }
}
