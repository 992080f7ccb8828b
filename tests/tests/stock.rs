//! The hangs in stock kernel code (the `stock` fixtures: a frozen ext4, I/O queued on a
//! suspended dm device, flush_work under a mutex, 200 writers on one i_rwsem). What holdup
//! must already never do there: claim a deadlock or a self-deadlock that memory does not show.
//! (The verdicts these hangs deserve, naming the filesystem, the device and the work item, are
//! issue 13's.)

use holdup_e2e::{holdup, manifest};
use serde_json::Value;

#[test]
fn no_deadlock_or_self_deadlock_is_claimed_where_truth_has_none() {
    let m = manifest();
    let stock: Vec<_> = m.fixtures.iter().filter(|fx| fx.hangs == "stock").collect();
    assert!(!stock.is_empty(), "no stock fixture in the manifest");
    for fx in stock {
        let path = fx.path("vmcore.kdump-zlib");
        let (st, out, err) = holdup(&[path.to_str().unwrap(), "--json"]);
        assert_eq!(st, 0, "{}: {err}", fx.name);
        let report: Value = serde_json::from_str(&out).expect("the report's JSON");
        let verdicts = fx.verdicts();
        // Tasks of scenarios that truth says are no cycle.
        let acyclic: Vec<u32> = fx
            .truth()
            .iter()
            .filter_map(|l| match l {
                holdup_e2e::TruthLine::Task(t) => Some(t),
                _ => None,
            })
            .filter(|t| {
                verdicts
                    .iter()
                    .any(|v| v.scenario == t.scenario && !v.cycle)
            })
            .map(|t| t.pid)
            .collect();
        assert!(
            !acyclic.is_empty(),
            "{}: truth has no acyclic task",
            fx.name
        );
        for r in report["root_causes"].as_array().expect("root_causes") {
            let kind = r["kind"].as_str().unwrap_or("");
            if kind != "self_deadlock" && kind != "deadlock" {
                continue;
            }
            let pids: Vec<u64> = r["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|t| t["pid"].as_u64())
                .collect();
            for pid in pids {
                assert!(
                    !acyclic.contains(&(pid as u32)),
                    "{}: pid {pid} is named in a {kind}, but truth has no cycle in its scenario: {r}",
                    fx.name
                );
            }
        }
        for c in report["cycles"].as_array().expect("cycles") {
            for t in c["tasks"].as_array().into_iter().flatten() {
                let pid = t["pid"].as_u64().unwrap_or(0) as u32;
                assert!(
                    !acyclic.contains(&pid),
                    "{}: pid {pid} is in a claimed cycle, but truth has none in its scenario: {c}",
                    fx.name
                );
            }
        }
    }
}

/// 200 writers behind one i_rwsem: the text names a few and counts the rest, in one chain
/// line, instead of 200 names on one line and 200 chain lines (`--json` keeps every one).
#[test]
fn a_pile_up_is_counted_not_listed_in_the_text() {
    let m = manifest();
    let fx = m.fixture("6.1-stock");
    let path = fx.path("vmcore.kdump-zlib");
    let (st, out, err) = holdup(&[path.to_str().unwrap()]);
    assert_eq!(st, 0, "{err}");
    let writers = fx
        .truth()
        .iter()
        .filter(|l| matches!(l, holdup_e2e::TruthLine::Task(t) if t.scenario == "i_rwsem" && t.role == holdup_e2e::Role::Waiter))
        .count();
    assert!(writers >= 100, "truth has {writers} i_rwsem waiters");
    let before_table = out.split("\nBLOCKED TASKS").next().unwrap();
    for l in before_table.lines() {
        assert!(l.len() < 1200, "a line of {} characters: {l}", l.len());
    }
    let chains: Vec<&str> = before_table
        .lines()
        .filter(|l| l.contains("held by i_holder"))
        .collect();
    assert_eq!(chains.len(), 1, "{chains:#?}");
    assert!(
        chains[0].contains(&format!("{writers} tasks ("))
            && chains[0].contains("more (tmp_writer ×"),
        "{}",
        chains[0]
    );
    let (_, json, _) = holdup(&[path.to_str().unwrap(), "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    let behind = v["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tasks"][0]["comm"] == "i_holder")
        .expect("i_holder is a root cause")["blocked_behind"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(behind, writers, "the JSON keeps every waiter");
}
