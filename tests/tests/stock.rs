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

/// The root cause of `report` that `pred` picks; fails naming `what` and the roots when none.
fn root_where<'a>(report: &'a Value, what: &str, pred: impl Fn(&Value) -> bool) -> &'a Value {
    report["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| pred(r))
        .unwrap_or_else(|| panic!("no root cause {what}: {}", report["root_causes"]))
}

/// The report of a stock fixture, as JSON.
fn stock_report(fx: &holdup_e2e::Fixture) -> Value {
    let path = fx.path("vmcore.kdump-zlib");
    let (st, out, err) = holdup(&[path.to_str().unwrap(), "--json"]);
    assert_eq!(st, 0, "{}: {err}", fx.name);
    serde_json::from_str(&out).expect("the report's JSON")
}

fn truth_object<'a>(
    truth: &'a [holdup_e2e::TruthLine],
    scenario: &str,
    object: &str,
) -> &'a holdup_e2e::TruthObject {
    truth
        .iter()
        .find_map(|l| match l {
            holdup_e2e::TruthLine::Object(o) if o.scenario == scenario && o.object == object => {
                Some(o)
            }
            _ => None,
        })
        .unwrap_or_else(|| panic!("truth has no {object} of scenario {scenario}"))
}

fn waiter_pids(truth: &[holdup_e2e::TruthLine], scenario: &str) -> Vec<u64> {
    truth
        .iter()
        .filter_map(|l| match l {
            holdup_e2e::TruthLine::Task(t)
                if t.scenario == scenario && t.role == holdup_e2e::Role::Waiter =>
            {
                Some(u64::from(t.pid))
            }
            _ => None,
        })
        .collect()
}

/// A frozen filesystem is the root cause, named as truth has it (type, device, mount point,
/// the frozen level, what thaws it), read as a fact from `s_writers.frozen`; every writer
/// truth has is behind it, and no task is blamed.
#[test]
fn a_frozen_filesystem_is_named_as_the_root_cause() {
    let m = manifest();
    let fx = m.fixture("6.1-stock");
    let truth = fx.truth();
    let sb = truth_object(&truth, "frozen", "super_block");
    let report = stock_report(fx);
    let root = root_where(&report, "of a frozen filesystem", |r| {
        r["kind"] == "held_by_state" && r["lock_name"].as_str().unwrap_or("").contains("s_writers")
    });
    let what = root["held_by"][0]["what"].as_str().unwrap();
    for want in [
        sb.fstype.as_deref().unwrap(),
        sb.device.as_deref().unwrap(),
        sb.mount.as_deref().unwrap(),
        "SB_FREEZE_COMPLETE",
        "fsfreeze --unfreeze",
    ] {
        assert!(what.contains(want), "{want:?} not in {what:?}");
    }
    assert_eq!(root["held_by"][0]["certainty"]["kind"], "fact", "{root}");
    assert!(
        root["tasks"].as_array().unwrap().is_empty(),
        "no task is blamed: {root}"
    );
    let behind: Vec<u64> = root["blocked_behind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pid"].as_u64().unwrap())
        .collect();
    let mut want = waiter_pids(&truth, "frozen");
    want.sort();
    let mut got = behind.clone();
    got.sort();
    assert_eq!(got, want, "the frozen filesystem's writers");
}

/// The inode whose i_rwsem 200 writers wait for is named by its path.
#[test]
fn an_inode_lock_is_named_by_its_path() {
    let m = manifest();
    let fx = m.fixture("6.1-stock");
    let truth = fx.truth();
    let inode = truth_object(&truth, "i_rwsem", "inode");
    let report = stock_report(fx);
    let root = root_where(&report, "with the i_rwsem as its lock", |r| {
        r["lock"] == inode.i_rwsem.as_deref().unwrap()
    });
    let name = root["lock_name"].as_str().unwrap();
    assert!(
        name.starts_with(&format!("i_rwsem of {} (", inode.path.as_deref().unwrap()))
            && name.contains(&inode.address),
        "{name}"
    );
}

/// I/O queued on a suspended device-mapper device: the suspension is the root cause, named as
/// truth has it (the disk, the dm name, what resumes it) and read from mapped_device.flags;
/// every waiter of the scenario (writeback, jbd2, a buffered read, a direct read) is behind it,
/// and no task is blamed.
#[test]
fn a_suspended_device_is_named_as_the_root_cause() {
    let m = manifest();
    let fx = m.fixture("6.1-stock");
    let truth = fx.truth();
    let md = truth_object(&truth, "io", "mapped_device");
    let (disk, name) = (md.device.as_deref().unwrap(), md.name.as_deref().unwrap());
    let report = stock_report(fx);
    let root = root_where(&report, "of a suspended device", |r| {
        r["held_by"][0]["what"]
            .as_str()
            .is_some_and(|w| w.contains(&format!("the suspension of {disk}")))
    });
    let what = root["held_by"][0]["what"].as_str().unwrap();
    assert!(
        what.contains(name) && what.contains(&format!("dmsetup resume {name}")),
        "{what}"
    );
    assert!(root["tasks"].as_array().unwrap().is_empty(), "{root}");
    let mut behind: Vec<u64> = root["blocked_behind"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["pid"].as_u64().unwrap())
        .collect();
    behind.sort();
    let mut want = waiter_pids(&truth, "io");
    want.sort();
    want.dedup();
    assert_eq!(behind, want, "the suspended device's waiters");
    // The folio under writeback is held by the suspension as a fact (PG_writeback and
    // mapped_device.flags are both read from memory).
    let folio = truth
        .iter()
        .find_map(|l| match l {
            holdup_e2e::TruthLine::Object(o)
                if o.scenario == "io" && o.object == "folio" && o.writeback == Some(true) =>
            {
                Some(o)
            }
            _ => None,
        })
        .expect("truth has a folio under writeback");
    let lock = report["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["lock"] == folio.address.as_str())
        .expect("the folio under writeback is among the locks");
    let text = lock.to_string();
    assert!(
        text.contains(folio.path.as_deref().unwrap()),
        "the file is named: {text}"
    );
}

/// flush_work() under a mutex the work function takes: the flusher waits for the worker that
/// runs the work (the barrier is on that worker's scheduled list: a fact), the worker waits
/// for the mutex the flusher holds: a deadlock cycle of facts, through the work item.
#[test]
fn a_flush_under_a_lock_is_a_cycle_through_the_worker() {
    let m = manifest();
    let fx = m.fixture("6.1-stock");
    let truth = fx.truth();
    let work = truth_object(&truth, "work", "work_struct");
    let worker = u64::from(work.worker_pid.expect("truth names the worker"));
    let verdict = fx
        .verdicts()
        .into_iter()
        .find(|v| v.scenario == "work")
        .expect("a work verdict");
    assert!(verdict.cycle);
    let report = stock_report(fx);
    let cycle = report["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            let pids: Vec<u64> = c["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["pid"].as_u64().unwrap())
                .collect();
            pids.contains(&worker)
                && verdict
                    .root_cause_pids
                    .iter()
                    .all(|p| pids.contains(&u64::from(*p)))
        })
        .unwrap_or_else(|| {
            panic!(
                "no cycle of the flusher and the worker: {}",
                report["cycles"]
            )
        });
    assert_eq!(cycle["all_facts"], true, "{cycle}");
    let func = work.func.as_deref().unwrap();
    let text = serde_json::to_string(&report["root_causes"]).unwrap();
    assert!(text.contains(&format!("the flush of {func}")), "{text}");
}

/// Triage names a hang held by a state of the system by the kind of state, never by the
/// object met first, a device name or an address: the same bug on another machine gets the
/// same signature.
#[test]
fn triage_names_states_by_kind() {
    let m = manifest();
    let fx = m.fixture("6.1-stock");
    let path = fx.path("vmcore.kdump-zlib");
    let (st, out, err) = holdup(&["triage", "-q", path.to_str().unwrap()]);
    assert_eq!(st, 0, "{err}");
    let line: Value = serde_json::from_str(out.trim()).expect("one JSON line");
    let kinds: Vec<&str> = line["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["kind"].as_str().unwrap())
        .collect();
    for want in [
        "held_by_state:frozen_filesystem",
        "held_by_state:suspended_dm_device",
        "deadlock",
        "holder_sleeping",
    ] {
        assert!(kinds.contains(&want), "{want} not in {kinds:?}");
    }
    for r in line["root_causes"].as_array().unwrap() {
        let text = r["signature_text"].as_str().unwrap();
        for bad in ["0x", "dm-0", "vdb", "stockdm", "/mnt/"] {
            assert!(!text.contains(bad), "{bad:?} in a signature: {text}");
        }
    }
}

/// Every task truth knows as queued on a lock of stock code (a super block's freeze level,
/// a mutex, an rw_semaphore, a kthread's exit, a buffer's lock) is found queued on that
/// lock, of that kind, in that mode, and as a fact: the writers of a frozen filesystem on the
/// level's percpu_rw_semaphore, not on an anonymous wait queue inside it; a buffer's waiter
/// on the BH_Lock bit of that buffer, not on the hashed queue it sleeps in.
#[test]
fn stock_waiters_are_found_on_their_lock() {
    use holdup_kernel::locking::{self, LockKind, Mode};
    use holdup_kernel::{Kernel, OpenOptions, sched};
    let m = manifest();
    let mut checked = 0;
    let mut kinds_checked = std::collections::BTreeSet::new();
    for fx in m.fixtures.iter().filter(|fx| fx.hangs == "stock") {
        let path = fx.path("vmcore.kdump-zlib");
        let k = Kernel::open(&path, &OpenOptions::default()).expect("opens");
        let (tasks, _) = sched::for_each_task(&k).expect("tasks");
        let a = locking::analyze(&k, &tasks).expect("lock analysis");
        let truth = fx.truth();
        for l in &truth {
            let holdup_e2e::TruthLine::Task(t) = l else {
                continue;
            };
            if t.role != holdup_e2e::Role::Waiter {
                continue;
            }
            let truth_lock = holdup_e2e::parse_hex(&t.lock);
            let off = |path: &str| {
                k.types_with_modules()
                    .offsetof(path)
                    .unwrap_or_else(|e| panic!("{}: {path}: {e}", fx.name))
            };
            let object = |o: &str| truth_object(&truth, &t.scenario, o);
            // What holdup waits on for each kind truth names: the lock itself; a buffer's
            // BH_Lock bit in its b_state word; the flusher's completion in the wq_flusher the
            // workqueue names; the journal's wait queue for the wait (the commit waits for the
            // transaction's updates, a new handle for the transaction to be committed, a sync
            // for the commit), where the waiter is queued in no particular mode.
            let (kind, lock, mode) = match t.lock_type.as_str() {
                "percpu_rwsem" => (LockKind::PercpuRwsem, truth_lock, None),
                "mutex" => (LockKind::Mutex, truth_lock, None),
                "rwsem" => (LockKind::Rwsem, truth_lock, None),
                "kthread_exit" => (LockKind::Completion, truth_lock, None),
                "buffer_lock" => (
                    LockKind::WaitBit,
                    truth_lock + off("buffer_head.b_state"),
                    None,
                ),
                "workqueue" => (
                    LockKind::Completion,
                    holdup_e2e::parse_hex(
                        object("workqueue_struct").first_flusher.as_deref().unwrap(),
                    ) + off("wq_flusher.done"),
                    None,
                ),
                "jbd2_transaction" | "jbd2_commit" => {
                    let journal = holdup_e2e::parse_hex(&object("journal").address);
                    let queue = match (t.lock_type.as_str(), t.mode.as_str()) {
                        ("jbd2_commit", _) => "journal_s.j_wait_done_commit",
                        (_, "write") => "journal_s.j_wait_updates",
                        _ => "journal_s.j_wait_transaction_locked",
                    };
                    (LockKind::WaitQueue, journal + off(queue), Some(Mode::None))
                }
                // One of the wait queues of the tags' sbitmap_queue (which one depends on the
                // waiter): found by the tags it is named after.
                "blk_mq_tag" => (LockKind::WaitQueue, 0, Some(Mode::None)),
                _ => continue,
            };
            kinds_checked.insert(t.lock_type.clone());
            let task = holdup_e2e::parse_hex(&t.task);
            let w = a
                .waits_of(task)
                .into_iter()
                .find(|w| {
                    w.lock.kind == kind
                        && (w.lock.addr == lock
                            || lock == 0
                                && a.lock(w.lock)
                                    .and_then(|l| l.name.as_ref())
                                    .is_some_and(|n| {
                                        n.text.contains(&format!("blk_mq_tags {truth_lock:#x}"))
                                    }))
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{}: {} (pid {}) is not found on {} {lock:#x}: {:?}",
                        fx.name,
                        t.comm,
                        t.pid,
                        kind,
                        a.waits_of(task)
                    )
                });
            let mode = mode.unwrap_or(match t.mode.as_str() {
                "read" => Mode::Read,
                "write" => Mode::Write,
                "none" => Mode::None,
                _ => Mode::Exclusive,
            });
            assert_eq!(w.mode, mode, "{}: {} on {}", fx.name, t.comm, w.lock);
            assert!(
                w.evidence.is_fact(),
                "{}: {}: {}",
                fx.name,
                t.comm,
                w.evidence
            );
            checked += 1;
        }
    }
    assert!(checked >= 2 * 8, "only {checked} stock waits checked");
    for want in [
        "percpu_rwsem",
        "mutex",
        "rwsem",
        "kthread_exit",
        "buffer_lock",
        "workqueue",
        "jbd2_transaction",
        "jbd2_commit",
        "blk_mq_tag",
    ] {
        assert!(kinds_checked.contains(want), "no {want} waiter checked");
    }
}

/// Each stock hang whose truth names root-cause tasks has a root cause of exactly those
/// tasks: the reader holding a freeze level the freezer waits for (not the freezer, nor a
/// frozen filesystem), the kthread that never stops (not "nothing is going to complete"), the
/// task that locked the buffer, the holder of the i_rwsem, the flusher's cycle.
#[test]
fn every_stock_verdict_is_a_root_cause() {
    let m = manifest();
    let mut checked = 0;
    for fx in m.fixtures.iter().filter(|fx| fx.hangs == "stock") {
        let path = fx.path("vmcore.kdump-zlib");
        let (st, out, err) = holdup(&[path.to_str().unwrap(), "--json"]);
        assert_eq!(st, 0, "{}: {err}", fx.name);
        let report: Value = serde_json::from_str(&out).expect("the report's JSON");
        // Each root cause: its tasks, and the tasks blocked behind it.
        let roots: Vec<(Vec<u64>, Vec<u64>)> = report["root_causes"]
            .as_array()
            .expect("root_causes")
            .iter()
            .map(|r| (pids_of(r, "tasks"), pids_of(r, "blocked_behind")))
            .collect();
        let truth = fx.truth();
        for v in fx.verdicts() {
            if v.root_cause_pids.is_empty() {
                continue;
            }
            let want: Vec<u64> = v.root_cause_pids.iter().map(|&p| u64::from(p)).collect();
            // The scenario's other waiters are behind it (in a cycle, among its tasks).
            let behind: Vec<u64> = truth
                .iter()
                .filter_map(|l| match l {
                    holdup_e2e::TruthLine::Task(t)
                        if t.scenario == v.scenario
                            && t.role == holdup_e2e::Role::Waiter
                            && !want.contains(&u64::from(t.pid)) =>
                    {
                        Some(u64::from(t.pid))
                    }
                    _ => None,
                })
                .collect();
            assert!(
                roots
                    .iter()
                    .any(|(tasks, b)| want.iter().all(|p| tasks.contains(p))
                        && behind.iter().all(|p| b.contains(p) || tasks.contains(p))),
                "{}: scenario {}: no root cause of pids {want:?} with {behind:?} behind it; root causes: {roots:?}",
                fx.name,
                v.scenario
            );
            checked += 1;
        }
    }
    assert!(checked >= 2 * 5, "only {checked} verdicts checked");
}

/// The seven stock hangs sign the same on 6.1 and 6.12, each differently from the others,
/// although the kernels differ on the way: a write(2) to tmpfs goes through
/// generic_file_write_iter on 6.1 and shmem_file_write_iter on 6.12 (signed by the system
/// call), jbd2 waits for the suspended device's I/O on a folio's writeback on one and on a
/// buffer's lock on the other (behind a state, only who is held up counts).
#[test]
fn stock_hangs_sign_the_same_on_6_1_and_6_12() {
    let m = manifest();
    let stock: Vec<_> = m.fixtures.iter().filter(|fx| fx.hangs == "stock").collect();
    let kernels: Vec<&str> = stock.iter().map(|fx| fx.kernel.as_str()).collect();
    assert!(
        kernels.contains(&"6.1") && kernels.contains(&"6.12"),
        "stock fixtures of {kernels:?}"
    );
    let paths: Vec<String> = stock
        .iter()
        .map(|fx| fx.path("vmcore.kdump-zlib").display().to_string())
        .collect();
    let mut args = vec!["triage"];
    args.extend(paths.iter().map(String::as_str));
    let (st, out, err) = holdup(&args);
    assert_eq!(st, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let sigs: Vec<std::collections::BTreeSet<String>> = lines
        .iter()
        .map(|l| {
            l["root_causes"]
                .as_array()
                .expect("root_causes")
                .iter()
                .map(|r| r["signature"].as_str().unwrap().to_string())
                .collect()
        })
        .collect();
    // Each hang signs differently from the others: as many signatures as verdicts, and the
    // hangs of the fixture with fewest sign the same in every other.
    for (l, s) in lines.iter().zip(&sigs) {
        let fx = stock
            .iter()
            .zip(&paths)
            .find(|(_, p)| {
                l["path"]
                    .as_str()
                    .is_some_and(|lp| lp.ends_with(p.as_str()))
            })
            .map(|(fx, _)| fx)
            .unwrap_or_else(|| panic!("a triage line of no fixture: {}", l["path"]));
        assert_eq!(s.len(), fx.verdicts().len(), "{}: {l}", fx.name);
    }
    let smallest = sigs.iter().min_by_key(|s| s.len()).unwrap();
    assert!(
        smallest.len() >= 7,
        "seven hangs or more in every stock fixture"
    );
    for (l, s) in lines.iter().zip(&sigs) {
        assert!(
            smallest.is_subset(s),
            "{}: {:?} do not sign as elsewhere",
            l["path"],
            smallest.difference(s).collect::<Vec<_>>()
        );
    }
}

/// The table of a pile-up fits a screen: the 200 writers of one i_rwsem, alike in all but
/// their pids and times, are one row with a count; tasks that differ keep a row each (the
/// seven hangs of the 6.1 fixture: 17 rows for 17 tasks).
#[test]
fn a_pile_up_is_one_row_of_the_table() {
    let m = manifest();
    let rows = |path: &std::path::Path| -> Vec<String> {
        let (st, out, err) = holdup(&[path.to_str().unwrap()]);
        assert_eq!(st, 0, "{err}");
        let table = out.split("\nBLOCKED TASKS").nth(1).expect("a table");
        table
            .lines()
            .filter_map(|l| l.strip_prefix("│ "))
            .filter(|l| {
                l.split_whitespace()
                    .next()
                    .is_some_and(|w| w.parse::<u32>().is_ok())
            })
            .map(String::from)
            .collect()
    };
    for fx in m.fixtures.iter().filter(|fx| fx.hangs == "stock") {
        let r = rows(&fx.path("vmcore.kdump-zlib"));
        let writers: Vec<&String> = r.iter().filter(|l| l.contains("tmp_writer")).collect();
        assert_eq!(writers.len(), 1, "{}: {writers:#?}", fx.name);
        assert!(
            writers[0].contains("+199") && writers[0].contains("×200"),
            "{}: {}",
            fx.name,
            writers[0]
        );
        assert!(r.len() < 30, "{}: {} rows", fx.name, r.len());
    }
    let seed = m.fixture("6.1");
    assert_eq!(rows(&seed.path("vmcore.kdump-zlib")).len(), 17);
}

/// A place in a lock's queue is one task's: on every fixture no two waiters of a lock share
/// one. The freezer of `freeze_wait` waits in the percpu_rw_semaphore's writer slot, apart from
/// the queue: it has no place in it, and the writer queued behind it is first there.
#[test]
fn no_two_waiters_share_a_place_and_the_freezer_is_not_queued() {
    let m = manifest();
    let mut freezers = 0;
    for fx in m.fixtures.iter().filter(|fx| !fx.no_hang) {
        let Some(f) = fx.files.iter().find(|f| f.role == "dump") else {
            continue;
        };
        let path = fx.path(&f.file);
        let (st, out, err) = holdup(&[path.to_str().unwrap(), "--json"]);
        assert!(st == 0 || st == 4, "{}: {err}", fx.name);
        let report: Value = serde_json::from_str(&out).expect("the report's JSON");
        for l in report["locks"].as_array().expect("locks") {
            let mut places: Vec<u64> = l["waiters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|w| w["position"].as_u64())
                .collect();
            let n = places.len();
            places.sort_unstable();
            places.dedup();
            assert_eq!(places.len(), n, "{}: {l}", fx.name);
        }
        if fx.hangs != "stock" {
            continue;
        }
        for l in fx.truth() {
            let holdup_e2e::TruthLine::Task(t) = l else {
                continue;
            };
            if t.scenario != "freeze_wait" || t.role != holdup_e2e::Role::Waiter {
                continue;
            }
            let task = report["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["pid"].as_u64() == Some(u64::from(t.pid)))
                .unwrap_or_else(|| panic!("{}: pid {} not in the report", fx.name, t.pid));
            let place = &task["waits_on"]["position"];
            if t.mode == "write" {
                assert!(
                    place.is_null(),
                    "{}: the freezer is placed: {task}",
                    fx.name
                );
                freezers += 1;
            } else {
                assert_eq!(place.as_u64(), Some(0), "{}: {task}", fx.name);
            }
        }
    }
    assert!(freezers >= 2, "only {freezers} freezers checked");
}

/// The stock fixtures that have `scenario` in their truth.
fn fixtures_with<'a>(m: &'a holdup_e2e::Manifest, scenario: &str) -> Vec<&'a holdup_e2e::Fixture> {
    let v: Vec<_> = m
        .fixtures
        .iter()
        .filter(|fx| fx.hangs == "stock" && fx.verdicts().iter().any(|v| v.scenario == scenario))
        .collect();
    assert!(!v.is_empty(), "no stock fixture has scenario {scenario}");
    v
}

/// The pids of a root cause's tasks and of the tasks blocked behind it.
fn pids_of(r: &Value, key: &str) -> Vec<u64> {
    r[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["pid"].as_u64())
        .collect()
}

/// flush_workqueue() under the mutex its running work item takes: the flusher waits for the
/// worker running the item of the flush's color (a fact: worker.current_pwq->wq and
/// current_color), the worker for the mutex the flusher holds: a cycle of facts through the
/// workqueue, named after it.
#[test]
fn a_flush_workqueue_under_a_lock_is_a_cycle_through_the_worker() {
    let m = manifest();
    for fx in fixtures_with(&m, "wq_flush") {
        let truth = fx.truth();
        let wq = truth_object(&truth, "wq_flush", "workqueue_struct");
        let (worker, flusher) = (
            u64::from(wq.worker_pid.expect("worker_pid")),
            u64::from(wq.flusher_pid.expect("flusher_pid")),
        );
        let report = stock_report(fx);
        let cycle = report["cycles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| {
                let p = pids_of(c, "tasks");
                p.contains(&worker) && p.contains(&flusher)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: no cycle of pids {worker} and {flusher}: {}",
                    fx.name, report["cycles"]
                )
            });
        assert_eq!(cycle["all_facts"], true, "{cycle}");
        let root = root_where(&report, "of the flusher", |r| {
            pids_of(r, "tasks").contains(&flusher)
        });
        assert_eq!(root["kind"], "deadlock", "{root}");
        let text = root.to_string();
        assert!(
            text.contains(&format!(
                "the flush of workqueue {}",
                wq.name.as_deref().unwrap()
            )),
            "{text}"
        );
    }
}

/// A task sleeping with a jbd2 handle open: the journal's commit waits for it (a fact:
/// its journal_info is a handle of the locked transaction), a writer waits for the locked
/// transaction and a sync for the commit, both through the commit thread. One root cause, the
/// handle's holder, with the three behind it; the journal named by its filesystem.
#[test]
fn an_open_journal_handle_is_the_root_cause() {
    let m = manifest();
    for fx in fixtures_with(&m, "jbd2") {
        let truth = fx.truth();
        let journal = truth_object(&truth, "jbd2", "journal");
        let holder = u64::from(journal.holder_pid.expect("holder_pid"));
        let report = stock_report(fx);
        let root = root_where(&report, "of the handle's holder", |r| {
            pids_of(r, "tasks") == vec![holder]
        });
        let behind = pids_of(root, "blocked_behind");
        let waiters = waiter_pids(&truth, "jbd2");
        assert!(waiters.len() >= 3, "{}: {waiters:?}", fx.name);
        for w in &waiters {
            assert!(behind.contains(w), "{}: pid {w} not behind {root}", fx.name);
        }
        assert_eq!(root["confidence"], 1.0, "{root}");
        let text = root.to_string();
        let fs = format!(
            "jbd2 journal of ext4 on {} mounted at {}",
            journal.device.as_deref().unwrap(),
            journal.mount.as_deref().unwrap()
        );
        assert!(text.contains(&fs), "{fs} not in {text}");
        // The holder's relation rests on its journal_info, read as a fact.
        let t = report["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["pid"].as_u64() == Some(holder))
            .expect("the holder in the report");
        let holds = t["holds"].to_string();
        assert!(
            holds.contains("journal_info") && holds.contains(journal.handle.as_deref().unwrap()),
            "{holds}"
        );
    }
}

/// A device that completes no request: its only tag is held by a request in flight, two
/// readers wait for a tag and the reader that issued the request waits for its bio. One root
/// cause that is not a task, the requests in flight on the device, read as a fact, with all
/// three behind it and no task blamed.
#[test]
fn requests_a_device_does_not_complete_are_the_root_cause() {
    let m = manifest();
    for fx in fixtures_with(&m, "blk_tags") {
        let truth = fx.truth();
        let q = truth_object(&truth, "blk_tags", "request_queue");
        let dev = q.device.as_deref().unwrap();
        let report = stock_report(fx);
        let root = root_where(&report, "of the device", |r| {
            r["held_by"]
                .to_string()
                .contains(&format!("in flight on {dev}"))
        });
        assert!(pids_of(root, "tasks").is_empty(), "{root}");
        assert_eq!(root["confidence"], 1.0, "{root}");
        let behind = pids_of(root, "blocked_behind");
        let all: Vec<u64> = truth
            .iter()
            .filter_map(|l| match l {
                holdup_e2e::TruthLine::Task(t) if t.scenario == "blk_tags" => {
                    Some(u64::from(t.pid))
                }
                _ => None,
            })
            .collect();
        for p in &all {
            assert!(behind.contains(p), "{}: pid {p} not behind {root}", fx.name);
        }
        let text = root.to_string();
        let want = format!("{} of {} in use", q.tags_in_use.unwrap(), q.depth.unwrap());
        assert!(text.contains(&want), "{want} not in {text}");
        // The request in flight is truth's, and the queue's state is read.
        let dump = fx.path("vmcore.kdump-zlib");
        let (st, out, err) = holdup(&["locks", "--json", dump.to_str().unwrap()]);
        assert_eq!(st, 0, "{err}");
        let locks: Value = serde_json::from_str(&out).expect("locks JSON");
        let tag_locks: Vec<&Value> = locks["locks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| {
                l["name"]["text"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(&format!("a tag of {dev}")))
            })
            .collect();
        assert!(!tag_locks.is_empty(), "{}: no tag lock in {out}", fx.name);
        for l in tag_locks {
            let notes = l["notes"].to_string();
            let rq = q.request.as_deref().unwrap();
            assert!(
                notes.contains(&format!("{rq} (tag 0, MQ_RQ_IN_FLIGHT)")),
                "{}: request {rq} in flight not in {notes}",
                fx.name
            );
            assert!(
                notes.contains("not quiesced") && notes.contains("not frozen"),
                "{notes}"
            );
        }
    }
}
