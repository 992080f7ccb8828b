//! holdup on a running kernel: what it printed on `/proc/kcore` of a hung Debian 6.1 guest
//! (`dumps/fixtures/6.1-live/`, made by `make-dumps.sh 6.1-live`: the static holdup, as root,
//! in the guest's initramfs, `hung_task_panic=0`), checked against the truth hangmod printed
//! at the hang. The capture's own checks (`check.txt`: the truth's tasks in state D before and
//! after the runs, the runs against each other and against holdup on a kdump of the same boot)
//! must all have passed.

use holdup_e2e::{Fixture, TruthLine, live_fixtures};
use serde_json::Value;

fn live() -> Vec<Fixture> {
    let v = live_fixtures();
    assert!(!v.is_empty(), "no live fixture in dumps/manifest.json");
    v
}

fn read(fx: &Fixture, file: &str) -> String {
    let path = fx.path(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every run in the guest succeeded, and the capture's checks found no problem.
#[test]
fn the_runs_on_proc_kcore_passed_every_check() {
    for fx in live() {
        let check = read(&fx, "check.txt");
        let problems: Vec<&str> = check.lines().filter(|l| l.contains("PROBLEM")).collect();
        assert!(problems.is_empty(), "{}: {problems:#?}", fx.name);
        assert!(
            check.contains("exit status 0"),
            "{}: no run exited 0:\n{check}",
            fx.name
        );
    }
}

/// The live report says it read the running kernel, has every truth task blocked and each
/// verdict's tasks as a root cause: the same answer as from a dump.
#[test]
fn the_live_report_finds_every_root_cause_of_the_truth() {
    for fx in live() {
        let text = read(&fx, "live-report.txt");
        assert!(
            text.contains("the running kernel, read through /proc/kcore"),
            "{}: {}",
            fx.name,
            text.lines().take(3).collect::<Vec<_>>().join("\n")
        );
        let report: Value = serde_json::from_str(&read(&fx, "live-report.json"))
            .unwrap_or_else(|e| panic!("{}: live-report.json: {e}", fx.name));
        assert_eq!(
            report["dump"]["live"], true,
            "{}: {}",
            fx.name, report["dump"]
        );
        assert!(
            report["panic"].is_null(),
            "{}: {}",
            fx.name,
            report["panic"]
        );
        let blocked: Vec<u64> = report["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .filter_map(|t| t["pid"].as_u64())
            .collect();
        let truth = fx.truth();
        let mut tasks = 0;
        for l in &truth {
            if let TruthLine::Fact(f) = l {
                assert!(
                    blocked.contains(&u64::from(f.pid)),
                    "{}: truth task {} (pid {}) not in the live report",
                    fx.name,
                    f.comm,
                    f.pid
                );
                tasks += 1;
            }
        }
        assert!(tasks >= 7, "{}: only {tasks} truth tasks", fx.name);
        let roots: Vec<Vec<u64>> = report["root_causes"]
            .as_array()
            .expect("root_causes")
            .iter()
            .map(|r| {
                r["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t["pid"].as_u64())
                    .collect()
            })
            .collect();
        let verdicts = fx.verdicts();
        assert_eq!(verdicts.len(), 7, "{}: seven hangs", fx.name);
        for v in verdicts {
            let want: Vec<u64> = v.root_cause_pids.iter().map(|&p| u64::from(p)).collect();
            assert!(
                roots.iter().any(|r| want.iter().all(|p| r.contains(p))),
                "{}: scenario {}: no root cause of {want:?} in {roots:?}",
                fx.name,
                v.scenario
            );
        }
    }
}

/// On a running kernel holdup reads everything twice and takes what the second reading does not
/// confirm for a guess. A dump does not change: two readings of every fixture's dump agree on
/// every relation, so nothing there would ever be marked.
#[test]
fn two_readings_of_a_dump_agree_on_every_relation() {
    use holdup_analysis::hang::{HangOptions, analyse_hang};
    use holdup_kernel::{Kernel, OpenOptions};
    let m = holdup_e2e::manifest();
    let mut checked = 0;
    for (fx, f, path) in holdup_e2e::all_dumps(&m) {
        let k = Kernel::open(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{} {}: {e}", fx.name, f.file));
        let opts = HangOptions { no_page_scan: true };
        let mut first = analyse_hang(&k, &opts).expect("first reading").graph;
        let again = analyse_hang(&k, &opts).expect("second reading").graph;
        assert!(!first.waits.is_empty(), "{} {}: no waits", fx.name, f.file);
        assert_eq!(first.mark_unstable(&again), 0, "{} {}", fx.name, f.file);
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} dumps");
}
