//! The hang report (`holdup DUMP --json` and the text) against the ground truth of every
//! fixture: every truth fact is in it, as a fact where the kernel records it and as the
//! best-ranked inference where it does not; every scenario's verdict matches; nothing is a
//! fact that truth contradicts; and the seed incident reads as its author worked it out.

use holdup_e2e::{
    Fact, LockType, Mode, Role, holdup_report, manifest, manifest_all, parse_hex, truth_dumps,
};
use serde_json::Value;
use std::collections::BTreeSet;

fn hex_of(v: &Value) -> u64 {
    parse_hex(v.as_str().unwrap_or_else(|| panic!("not an address: {v}")))
}

fn lock_type(t: LockType) -> &'static str {
    match t {
        LockType::Rwsem => "rwsem",
        LockType::Mutex => "mutex",
        LockType::Semaphore => "semaphore",
        LockType::Completion => "completion",
        LockType::PageLock => "page_lock",
    }
}

fn mode(m: Mode) -> &'static str {
    match m {
        Mode::Read => "read",
        Mode::Write => "write",
        Mode::Exclusive => "exclusive",
        Mode::Count => "count",
        Mode::None => "none",
    }
}

fn task_json(report: &Value, task: u64) -> Option<&Value> {
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| hex_of(&t["task"]) == task)
}

fn lock_json(report: &Value, lock: u64) -> Option<&Value> {
    report["locks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| hex_of(&l["lock"]) == lock)
}

/// Checks one truth fact against the report; `Err` says what is wrong.
fn check_fact(report: &Value, f: &Fact) -> Result<(), String> {
    let task = parse_hex(&f.task);
    let lock = parse_hex(&f.lock);
    let what = format!(
        "scenario {} {} ({}) {:?} of {} {:#x}",
        f.scenario,
        f.comm,
        f.pid,
        f.role,
        lock_type(f.lock_type),
        lock
    );
    let t = task_json(report, task).ok_or_else(|| format!("{what}: task not in the report"))?;
    if t["pid"] != f.pid || t["comm"] != f.comm.as_str() {
        return Err(format!(
            "{what}: report says pid {} comm {}",
            t["pid"], t["comm"]
        ));
    }
    let relation = match f.role {
        Role::Waiter => {
            let w = &t["waits_on"];
            if w.is_null() || hex_of(&w["lock"]) != lock {
                return Err(format!("{what}: waits_on is {w}"));
            }
            w
        }
        Role::Holder => t["holds"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| hex_of(&h["lock"]) == lock)
            .ok_or_else(|| format!("{what}: not among its holds {}", t["holds"]))?,
    };
    if relation["lock_type"] != lock_type(f.lock_type) {
        return Err(format!("{what}: lock type {}", relation["lock_type"]));
    }
    if relation["mode"] != mode(f.mode) {
        return Err(format!("{what}: mode {}", relation["mode"]));
    }
    let kind = relation["evidence"]["kind"].as_str().unwrap_or("?");
    let want = if f.recorded_by_kernel {
        "fact"
    } else {
        "inference"
    };
    if kind != want {
        return Err(format!(
            "{what}: evidence is {kind}, truth says the kernel records it: {}",
            f.recorded_by_kernel
        ));
    }
    if f.role == Role::Holder && !f.recorded_by_kernel {
        // The truth's task is ranked first among the inferred holders (ties allowed).
        let l = lock_json(report, lock).ok_or_else(|| format!("{what}: lock not listed"))?;
        let conf = |h: &Value| h["evidence"]["confidence"].as_f64().unwrap_or(1.0);
        let holders = l["holders"].as_array().unwrap();
        let best = holders.iter().map(conf).fold(0.0, f64::max);
        let mine = holders
            .iter()
            .find(|h| hex_of(&h["task"]) == task)
            .map(conf)
            .unwrap_or(0.0);
        if mine < best {
            return Err(format!(
                "{what}: ranked below another candidate ({mine} < {best})"
            ));
        }
    }
    Ok(())
}

#[test]
fn every_truth_fact_is_in_the_json_report_with_the_right_evidence() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let report: Value =
            serde_json::from_str(&holdup_report(fx, &["--json", path.to_str().unwrap()]))
                .expect("JSON");
        assert_eq!(report["schema_version"], 1);
        let problems = report["problems"].to_string();
        for fact in fx.facts() {
            match check_fact(&report, &fact) {
                Ok(()) => {}
                // A partial dump may lose a task; then the report must say the task's memory
                // is missing.
                Err(e) if fx.incomplete && task_json(&report, parse_hex(&fact.task)).is_none() => {
                    assert!(
                        problems.contains(fact.task.trim_start_matches("0x"))
                            || problems.contains(&format!("pid {}", fact.pid))
                            || problems.contains(&format!("{}", fact.pid)),
                        "{} {}: {e}, and the problems do not name the task",
                        fx.name,
                        f.file
                    );
                }
                Err(e) => panic!("{} {}: {e}", fx.name, f.file),
            }
        }
    }
}

#[test]
fn every_scenario_verdict_matches_a_root_cause() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let report: Value =
            serde_json::from_str(&holdup_report(fx, &["--json", path.to_str().unwrap()]))
                .expect("JSON");
        let roots = report["root_causes"].as_array().unwrap();
        for v in fx.verdicts() {
            let want: BTreeSet<u64> = v.root_cause_pids.iter().map(|p| u64::from(*p)).collect();
            let root = roots
                .iter()
                .find(|r| {
                    r["tasks"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|t| t["pid"].as_u64().unwrap())
                        .collect::<BTreeSet<_>>()
                        == want
                })
                .unwrap_or_else(|| {
                    panic!(
                        "{} {}: scenario {}: no root cause is exactly {:?} ({want:?}); got {}",
                        fx.name, f.file, v.scenario, v.root_cause_comms, report["root_causes"]
                    )
                });
            let is_cycle = matches!(root["kind"].as_str(), Some("self_deadlock" | "deadlock"));
            assert_eq!(
                is_cycle, v.cycle,
                "{} {}: scenario {}: root cause kind {}",
                fx.name, f.file, v.scenario, root["kind"]
            );
        }
        // Nothing but the seven scenarios is blamed: no task outside the truth is a root cause.
        let truth_pids: BTreeSet<u64> = fx.facts().iter().map(|f| u64::from(f.pid)).collect();
        for r in roots {
            for t in r["tasks"].as_array().unwrap() {
                assert!(
                    truth_pids.contains(&t["pid"].as_u64().unwrap()),
                    "{} {}: unexpected root cause {t}",
                    fx.name,
                    f.file
                );
            }
        }
        // No task that truth knows only as a waiter is named a root cause: a report that
        // blames the queued writer instead of the sleeping reader sends people after the
        // wrong task.
        let facts = fx.facts();
        let holders: BTreeSet<u32> = facts
            .iter()
            .filter(|f| f.role == holdup_e2e::Role::Holder)
            .map(|f| f.pid)
            .collect();
        let roots_of_verdicts: BTreeSet<u32> = fx
            .verdicts()
            .iter()
            .flat_map(|v| v.root_cause_pids.clone())
            .collect();
        for r in roots {
            for t in r["tasks"].as_array().unwrap() {
                let pid = t["pid"].as_u64().unwrap() as u32;
                assert!(
                    holders.contains(&pid) || roots_of_verdicts.contains(&pid),
                    "{} {}: {t} is named a root cause, but truth knows it only as a waiter: {r}",
                    fx.name,
                    f.file
                );
            }
        }
    }
}

#[test]
fn no_fact_in_the_report_contradicts_the_truth() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let report: Value =
            serde_json::from_str(&holdup_report(fx, &["--json", path.to_str().unwrap()]))
                .expect("JSON");
        let truth: Vec<Fact> = fx.facts();
        let truth_locks: BTreeSet<u64> = truth.iter().map(|f| parse_hex(&f.lock)).collect();
        for l in report["locks"].as_array().unwrap() {
            let lock = hex_of(&l["lock"]);
            if !truth_locks.contains(&lock) {
                continue;
            }
            for (role, list) in [(Role::Holder, &l["holders"]), (Role::Waiter, &l["waiters"])] {
                for p in list.as_array().unwrap() {
                    if p["evidence"]["kind"] != "fact" {
                        continue;
                    }
                    let task = hex_of(&p["task"]);
                    assert!(
                        truth.iter().any(|f| parse_hex(&f.lock) == lock
                            && parse_hex(&f.task) == task
                            && f.role == role),
                        "{} {}: the report states as fact that {} is a {role:?} of {:#x}; truth does not",
                        fx.name,
                        f.file,
                        p["comm"],
                        lock
                    );
                }
            }
        }
    }
}

#[test]
fn the_seed_incident_reads_as_its_author_worked_it_out() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let text = holdup_report(fx, &[path.to_str().unwrap()]);
        let truth = fx.facts();
        let fact = |comm: &str, role: Role, ty: LockType| {
            truth
                .iter()
                .find(|x| x.comm == comm && x.role == role && x.lock_type == ty)
                .cloned()
                .unwrap_or_else(|| panic!("{}: truth has no {comm} {role:?} {ty:?}", fx.name))
        };
        let page = fact("kscand", Role::Waiter, LockType::PageLock);
        let kscand = format!("kscand (pid {})", page.pid);
        let bench = fact("bench", Role::Waiter, LockType::Rwsem);
        let kcollapsed = fact("kcollapsed", Role::Waiter, LockType::Rwsem);
        let block: String = text
            .split("\nROOT CAUSE ")
            .find(|b| b.split('\n').next().is_some_and(|h| h.contains(&kscand)))
            .unwrap_or_else(|| {
                panic!(
                    "{} {}: no root cause names {kscand}:\n{text}",
                    fx.name, f.file
                )
            })
            .to_string();
        let what = format!("{} {}", fx.name, f.file);
        assert!(block.contains("self-deadlock"), "{what}: {block}");
        assert!(
            block.contains(&format!("pfn {}", page.pfn.unwrap())),
            "{what}: no pfn: {block}"
        );
        assert!(
            block.contains(page.page.as_deref().unwrap()),
            "{what}: no page address: {block}"
        );
        let held = format!("(bench, pid {}) (read)", bench.pid);
        assert!(
            block
                .lines()
                .any(|l| l.contains("holds mmap_lock of mm") && l.contains(&held)),
            "{what}: kscand holds the mmap_lock of bench for read: {block}"
        );
        assert!(
            block.contains(&format!(
                "#0 kcollapsed (pid {}) (write), #1 bench (pid {}) (read)",
                kcollapsed.pid, bench.pid
            )),
            "{what}: kcollapsed queued as writer, then bench as reader: {block}"
        );
    }
}

/// No line of a report is printed twice (a semaphore held by two tasks printed its queue once
/// per holder), on every fixture with a hang, stock code included. Blank lines and the
/// per-root "nobody else is blocked behind it" may repeat.
#[test]
fn no_line_of_the_report_is_printed_twice() {
    let m = manifest();
    for fx in m.fixtures.iter().filter(|fx| !fx.no_hang) {
        for f in fx.files_with_role("dump") {
            let out = holdup_report(fx, &[fx.path(&f.file).to_str().unwrap()]);
            let body = out.split("\nBLOCKED TASKS").next().unwrap();
            let mut seen = BTreeSet::new();
            for l in body.lines() {
                if l.trim().is_empty() || l.trim() == "nobody else is blocked behind it" {
                    continue;
                }
                assert!(seen.insert(l), "{} {}: printed twice: {l}", fx.name, f.file);
            }
        }
    }
}

/// A sentence is never more certain than its evidence: the seed's self-deadlock rests on a
/// guessed page-lock hold (the kernel records no page-lock owner), so it is said as a guess.
#[test]
fn a_guessed_self_deadlock_is_said_as_a_guess() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let report: Value =
            serde_json::from_str(&holdup_report(fx, &["--json", path.to_str().unwrap()]))
                .expect("JSON");
        for r in report["root_causes"].as_array().unwrap() {
            if r["kind"] != "self_deadlock" || r["confidence"].as_f64().unwrap() >= 1.0 {
                continue;
            }
            let e = r["explanation"].as_str().unwrap();
            assert!(
                e.contains("may hold itself (guess") && !e.contains("which it holds itself"),
                "{} {}: {e}",
                fx.name,
                f.file
            );
        }
    }
}

/// A holder inferred from a function "on its stack" names a function that task runs: one in
/// its backtrace (reliable or not). A word on a stack that points at a function's first
/// byte (a kthread keeps its threadfn there) is no return address into the function before
/// it, even when that one ends with a call: on 6.1 such a word once made rw_reader_fn the
/// reason rw_holder holds its rwsem, and on 6.1-stock made wqf_flusher a holder of
/// bh_holder's buffer lock, blaming it for bh_waiter.
#[test]
fn a_function_on_a_holder_stack_is_in_its_backtrace() {
    let m = manifest();
    let mut checked = 0;
    for fx in m.fixtures.iter().filter(|fx| !fx.no_hang) {
        let Some(f) = fx.files_with_role("dump").next() else {
            continue;
        };
        let path = fx.path(&f.file);
        let path = path.to_str().unwrap();
        let report: serde_json::Value =
            serde_json::from_str(&holdup_report(fx, &[path, "--json"])).expect("report JSON");
        let (st, out, err) = holdup_e2e::holdup(&["bt", "--all", "--json", path]);
        assert!(st == 0 || st == 4, "{}: {err}", fx.name);
        let bt: serde_json::Value = serde_json::from_str(&out).expect("bt JSON");
        let functions = |pid: u64| -> Vec<String> {
            bt["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["task"]["pid"].as_u64() == Some(pid))
                .flat_map(|t| {
                    t["backtrace"]["frames"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default()
                })
                .filter_map(|f| f["function"].as_str().map(String::from))
                .collect()
        };
        for l in report["locks"].as_array().unwrap() {
            for h in l["holders"].as_array().into_iter().flatten() {
                let Some(pid) = h["pid"].as_u64() else {
                    continue;
                };
                for r in h["evidence"]["reasons"].as_array().into_iter().flatten() {
                    let r = r.as_str().unwrap_or("");
                    let Some(i) = r.find(" (on its stack)") else {
                        continue;
                    };
                    let f = r[..i].rsplit(' ').next().unwrap();
                    let fs = functions(pid);
                    assert!(
                        fs.iter().any(|x| x == f),
                        "{}: pid {pid} is said to hold {} because {f} is on its stack, but its backtrace is {fs:?}",
                        fx.name,
                        l["name"]
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 10, "only {checked} reasons checked");
}
