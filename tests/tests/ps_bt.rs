//! `holdup ps` and `holdup bt` on every committed dump agree with crash's `ps` and `foreach
//! UN bt`, with the truth's `blocked_in`, and say why when a task or stack cannot be read.
//!
//! Intended differences from crash, checked here rather than hidden:
//! - PPID is `real_parent`'s tgid (what `getppid()` returns); crash prints `parent`, which
//!   differs for the idle tasks of secondary CPUs (crash 0, holdup 1). Not compared.
//! - Frames are compared by function name without compiler suffixes (`.constprop.0`,
//!   `.cold`, `.isra.0`), and by stack slot; crash's register dumps under a frame are not
//!   frames.
//! - The panicking task starts from its NT_PRSTATUS registers (saved in `__crash_kexec`,
//!   which has no ORC data) and, as crash does, shows the `machine_kexec` frame below them
//!   first (found by scanning down from them; `bt_active.rs` compares it with crash's
//!   `bt -a`). Only the panic path is checked here.
//! - On an over-filtered dump holdup lists more tasks than crash (it also walks
//!   `init_task.tasks` backwards and from the pid table), and names the ones it cannot read.

use holdup_e2e::{all_dumps, fixture_text, holdup_ok, manifest, parse_hex};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// One line of crash's `ps`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CrashPs {
    pid: u32,
    comm: String,
    state: String,
    cpu: u32,
    task: u64,
    active: bool,
}

fn parse_crash_ps(text: &str) -> Vec<CrashPs> {
    let mut out = Vec::new();
    for line in text.lines().skip_while(|l| !l.contains("PID")).skip(1) {
        let (active, rest) = match line.strip_prefix('>') {
            Some(r) => (true, r),
            None => (false, line),
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() < 9 {
            continue;
        }
        out.push(CrashPs {
            pid: f[0]
                .parse()
                .unwrap_or_else(|e| panic!("crash ps pid in {line:?}: {e}")),
            cpu: f[2]
                .parse()
                .unwrap_or_else(|e| panic!("crash ps cpu in {line:?}: {e}")),
            task: parse_hex(f[3]),
            state: f[4].to_string(),
            comm: f[8..].join(" "),
            active,
        });
    }
    assert!(!out.is_empty(), "crash ps output has no task lines");
    out
}

/// One task of crash's `foreach bt`: pid, comm and frames (slot, function).
#[derive(Debug)]
struct CrashBt {
    pid: u32,
    comm: String,
    frames: Vec<(u64, String)>,
}

fn parse_crash_bt(text: &str) -> Vec<CrashBt> {
    let mut out: Vec<CrashBt> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("PID: ") {
            let pid = rest
                .split_whitespace()
                .next()
                .expect("pid")
                .parse()
                .expect("pid");
            let comm = rest
                .split_once("COMMAND: \"")
                .and_then(|(_, c)| c.strip_suffix('"'))
                .unwrap_or_else(|| panic!("crash bt header without COMMAND: {line:?}"))
                .to_string();
            out.push(CrashBt {
                pid,
                comm,
                frames: Vec::new(),
            });
            continue;
        }
        let t = line.trim_start();
        // " #3 [ffffd37b803d3be8] rwsem_down_read_slowpath at ffffffff9b6559b2"
        if let Some(rest) = t.strip_prefix('#')
            && let Some((_, after)) = rest.split_once(" [")
            && let Some((sp, what)) = after.split_once("] ")
        {
            let name = what.split(" at ").next().unwrap_or(what);
            let name = name
                .strip_prefix("[exception RIP: ")
                .map(|n| n.trim_end_matches(']').split('+').next().unwrap_or(n))
                .unwrap_or(name);
            out.last_mut()
                .expect("a frame line before any PID line")
                .frames
                .push((parse_hex(sp), name.to_string()));
        }
    }
    out
}

/// A function name without compiler suffixes: `__mutex_lock.constprop.0` → `__mutex_lock`.
fn base_name(f: &str) -> &str {
    f.split('.').next().unwrap_or(f)
}

fn json(args: &[&str]) -> Value {
    let out = holdup_ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("holdup {args:?}: bad JSON: {e}"))
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a number: {v}"))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// crash's name for a task: kernel threads in brackets.
fn shown_comm(t: &Value) -> String {
    let comm = s(&t["comm"]);
    if t["kernel_thread"].as_bool().expect("kernel_thread") {
        format!("[{comm}]")
    } else {
        comm.to_string()
    }
}

/// The reliable frames of a `bt --json` task: (slot, function).
fn reliable_frames(bt: &Value) -> Vec<(u64, String)> {
    bt["backtrace"]["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter(|f| f["reliable"].as_bool().expect("reliable"))
        .map(|f| {
            (
                parse_hex(s(&f["sp"])),
                f["function"].as_str().unwrap_or("?").to_string(),
            )
        })
        .collect()
}

/// The dumps whose tasks and stacks are checked against crash: every truth dump crash can
/// read. Those it cannot (7.3: crash 8.0.6 stops at `kmem_cache_s_num`; the fixture keeps its
/// error in `crash-error.txt`) have their stacks checked against drgn in `kernel_7x.rs`: so
/// that none is left out unsaid, each must have both.
fn ps_bt_dumps(
    m: &holdup_e2e::Manifest,
) -> Vec<(
    &holdup_e2e::Fixture,
    &holdup_e2e::FixtureFile,
    std::path::PathBuf,
)> {
    let (with, without): (Vec<_>, Vec<_>) = holdup_e2e::truth_dumps(m)
        .into_iter()
        .partition(|d| d.0.path("crash-ps.txt").exists());
    for (fx, f, _) in &without {
        for oracle in ["crash-error.txt", "drgn-D-stacks.txt"] {
            assert!(
                fx.path(oracle).exists(),
                "{} {}: no crash-ps.txt, and no {oracle} to say why and check it otherwise",
                fx.name,
                f.file
            );
        }
    }
    with
}

#[test]
fn ps_lists_the_tasks_and_states_crash_lists() {
    let m = holdup_e2e::manifest_all();
    for (fx, f, path) in ps_bt_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let ps = json(&["ps", "--json", path.to_str().unwrap()]);
        let crash = parse_crash_ps(&fixture_text(fx, "crash-ps.txt"));
        let tasks = ps["tasks"].as_array().expect("tasks");
        let ours: BTreeMap<u64, &Value> = tasks
            .iter()
            .map(|t| (parse_hex(s(&t["task"])), t))
            .collect();
        let ours_set: BTreeSet<(u32, String, String)> = tasks
            .iter()
            .map(|t| {
                (
                    u(&t["pid"]) as u32,
                    shown_comm(t),
                    s(&t["ps_state"]).to_string(),
                )
            })
            .collect();
        let crash_set: BTreeSet<(u32, String, String)> = crash
            .iter()
            .map(|c| (c.pid, c.comm.clone(), c.state.clone()))
            .collect();
        let unreadable = ps["unreadable"].as_array().expect("unreadable");
        if fx.incomplete {
            let missing: Vec<_> = crash_set.difference(&ours_set).collect();
            assert!(
                missing.is_empty(),
                "{what}: crash lists tasks holdup does not: {missing:?}"
            );
            assert!(
                !unreadable.is_empty(),
                "{what}: an incomplete dump with no unreadable task"
            );
        } else {
            assert_eq!(
                ours_set, crash_set,
                "{what}: (pid, comm, state) differ from crash's ps"
            );
            assert!(
                unreadable.is_empty(),
                "{what}: unreadable tasks {unreadable:?}"
            );
        }
        for u in unreadable {
            let err = s(&u["error"]);
            assert!(
                err.contains("not in the dump"),
                "{what}: unreadable task reason: {err}"
            );
        }
        // Same task_struct, CPU and running mark for every task both list.
        for c in &crash {
            let t = ours.get(&c.task).unwrap_or_else(|| {
                panic!("{what}: crash's task {:#x} (pid {}) missing", c.task, c.pid)
            });
            assert_eq!(u(&t["pid"]) as u32, c.pid, "{what}: pid of {:#x}", c.task);
            assert_eq!(u(&t["cpu"]) as u32, c.cpu, "{what}: CPU of pid {}", c.pid);
            assert_eq!(
                t["current"].as_bool(),
                Some(c.active),
                "{what}: pid {} running mark (crash's '>')",
                c.pid
            );
        }
        // Blocked tasks say for how long, from the dump's clocks.
        assert_eq!(
            ps["hz"].as_u64(),
            Some(250),
            "{what}: HZ of a Debian kernel"
        );
        for t in tasks.iter().filter(|t| s(&t["ps_state"]) == "UN") {
            let b = &t["blocked"];
            let since = u(&b["since_last_arrival_ns"]);
            let up = u(&ps["uptime_ns"]);
            assert!(
                since > 0 && since < up,
                "{what}: pid {} blocked {since} ns of {up}",
                t["pid"]
            );
        }
        // Each task the hung-task detector reported has been blocked at least that long.
        let log = fixture_text(fx, "crash-log.txt");
        let mut reported = 0;
        for line in log.lines() {
            let Some(rest) = line.split("INFO: task ").nth(1) else {
                continue;
            };
            let Some((who, more)) = rest.split_once(" blocked for more than ") else {
                continue;
            };
            let pid: u64 = who
                .rsplit(':')
                .next()
                .unwrap()
                .parse()
                .expect("pid in INFO line");
            let secs: u64 = more.split(' ').next().unwrap().parse().expect("seconds");
            let Some(t) = tasks.iter().find(|t| u(&t["pid"]) == pid) else {
                assert!(fx.incomplete, "{what}: reported task {pid} not listed");
                continue;
            };
            let b = &t["blocked"];
            assert!(
                u(&b["hung_task_ms"]) >= secs * 1000,
                "{what}: pid {pid}: {b}"
            );
            assert!(
                u(&b["since_last_arrival_ns"]) >= secs * 1_000_000_000,
                "{what}: pid {pid}: {b}"
            );
            reported += 1;
        }
        assert!(reported > 0, "{what}: no hung-task report in the log");
        // The text output has crash's columns and marks.
        let text = holdup_ok(&["ps", path.to_str().unwrap()]);
        assert!(
            text.starts_with("      PID    PPID  CPU       TASK        ST  COMM"),
            "{what}: header"
        );
        let marked = text.lines().filter(|l| l.starts_with('>')).count();
        assert_eq!(
            marked,
            crash.iter().filter(|c| c.active).count(),
            "{what}: '>' lines"
        );
    }
}

#[test]
fn ps_filters_by_state_comm_and_pid() {
    let m = manifest();
    let (fx, _, path) = all_dumps(&m).into_iter().next().expect("a dump");
    let path = path.to_str().unwrap();
    let crash = parse_crash_ps(&fixture_text(fx, "crash-ps.txt"));
    let un = json(&["ps", "--json", "--state", "D", path]);
    let want: BTreeSet<u32> = crash
        .iter()
        .filter(|c| c.state == "UN")
        .map(|c| c.pid)
        .collect();
    let got: BTreeSet<u32> = un["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| u(&t["pid"]) as u32)
        .collect();
    assert_eq!(got, want, "{}: --state D", fx.name);
    let un2 = json(&["ps", "--json", "--state", "UN", path]);
    assert_eq!(un2["tasks"], un["tasks"], "--state UN is --state D");
    let one = json(&["ps", "--json", "--comm", "bench", path]);
    let one = one["tasks"].as_array().unwrap();
    assert!(
        !one.is_empty() && one.iter().all(|t| t["comm"] == "bench"),
        "--comm bench: {one:?}"
    );
    let pid = u(&one[0]["pid"]).to_string();
    let by_pid = json(&["ps", "--json", "--pid", &pid, path]);
    assert_eq!(by_pid["tasks"].as_array().unwrap().len(), 1, "--pid {pid}");
}

#[test]
fn bt_of_every_d_task_matches_crash_and_the_truth() {
    let m = holdup_e2e::manifest_all();
    for (fx, f, path) in ps_bt_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let bt = json(&["bt", "--json", "--state", "D", path.to_str().unwrap()]);
        let ours: BTreeMap<u32, &Value> = bt["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| (u(&t["task"]["pid"]) as u32, t))
            .collect();
        let crash = parse_crash_bt(&fixture_text(fx, "crash-bt-UN.txt"));
        assert!(!crash.is_empty(), "{what}: crash-bt-UN.txt has no task");
        let crash_pids: BTreeSet<u32> = crash.iter().map(|c| c.pid).collect();
        let our_pids: BTreeSet<u32> = ours.keys().copied().collect();
        if fx.incomplete {
            assert!(
                crash_pids.is_subset(&our_pids),
                "{what}: D tasks {crash_pids:?} vs {our_pids:?}"
            );
        } else {
            assert_eq!(our_pids, crash_pids, "{what}: the D tasks");
        }
        for c in &crash {
            assert!(
                !c.frames.is_empty(),
                "{what}: crash shows no frame for {}",
                c.pid
            );
            let t = ours[&c.pid];
            assert_eq!(s(&t["task"]["comm"]), c.comm, "{what}: comm of {}", c.pid);
            let got = reliable_frames(t);
            let got_names: Vec<&str> = got.iter().map(|(_, n)| base_name(n)).collect();
            let want_names: Vec<&str> = c.frames.iter().map(|(_, n)| base_name(n)).collect();
            assert_eq!(
                got_names, want_names,
                "{what}: frames of pid {} {}",
                c.pid, c.comm
            );
            let got_sp: Vec<u64> = got.iter().map(|(sp, _)| *sp).collect();
            let want_sp: Vec<u64> = c.frames.iter().map(|(sp, _)| *sp).collect();
            assert_eq!(
                got_sp, want_sp,
                "{what}: frame slots of pid {} {}",
                c.pid, c.comm
            );
            let end = &t["backtrace"]["end"];
            assert_eq!(
                s(&end["kind"]),
                "complete",
                "{what}: pid {} ends {end}",
                c.pid
            );
        }
        // The function each truth task sleeps in is on its reliable stack.
        let unreadable: BTreeMap<u32, String> =
            json(&["ps", "--json", path.to_str().unwrap()])["unreadable"]
                .as_array()
                .expect("unreadable")
                .iter()
                .filter_map(|x| Some((x["pid"].as_u64()? as u32, s(&x["error"]).to_string())))
                .collect();
        let all = json(&[
            "bt",
            "--json",
            "--all",
            "--reliable-only",
            path.to_str().unwrap(),
        ]);
        let all: BTreeMap<u32, &Value> = all["tasks"]
            .as_array()
            .expect("tasks")
            .iter()
            .map(|t| (u(&t["task"]["pid"]) as u32, t))
            .collect();
        for fact in fx.facts() {
            let Some(blocked_in) = &fact.blocked_in else {
                continue;
            };
            match all.get(&fact.pid) {
                Some(t) => {
                    assert_eq!(
                        parse_hex(s(&t["task"]["task"])),
                        parse_hex(&fact.task),
                        "{what}: task of pid {}",
                        fact.pid
                    );
                    let names: Vec<String> = reliable_frames(t)
                        .into_iter()
                        .map(|(_, n)| base_name(&n).to_string())
                        .collect();
                    assert!(
                        names.iter().any(|n| n == blocked_in),
                        "{what}: pid {} {} sleeps in {blocked_in}, not on its stack {names:?}",
                        fact.pid,
                        fact.comm
                    );
                }
                None => {
                    assert!(
                        fx.incomplete,
                        "{what}: truth task pid {} not found",
                        fact.pid
                    );
                    let err = unreadable.get(&fact.pid).unwrap_or_else(|| {
                        panic!(
                            "{what}: truth task pid {} neither unwound nor named unreadable",
                            fact.pid
                        )
                    });
                    assert!(
                        err.contains("filtered out of the dump"),
                        "{what}: pid {}: {err}",
                        fact.pid
                    );
                }
            }
        }
    }
}

#[test]
fn the_panicking_task_reaches_the_panic_path() {
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let info = json(&["info", "--json", path.to_str().unwrap()]);
        let panic_pid = u(&info["panic_task"]["pid"]);
        // Without a task, bt shows the one that panicked, as crash does.
        let bt = json(&["bt", "--json", path.to_str().unwrap()]);
        let tasks = bt["tasks"].as_array().expect("tasks");
        assert_eq!(tasks.len(), 1, "{what}: one panic task");
        let t = &tasks[0];
        assert_eq!(u(&t["task"]["pid"]), panic_pid, "{what}: the panic task");
        assert!(
            s(&t["backtrace"]["start"]).contains("registers of CPU"),
            "{what}: starts from NT_PRSTATUS: {}",
            t["backtrace"]["start"]
        );
        let names: Vec<String> = reliable_frames(t)
            .into_iter()
            .map(|(_, n)| base_name(&n).to_string())
            .collect();
        let at = |n: &str| names.iter().position(|x| x == n);
        let panic = at("panic").unwrap_or_else(|| panic!("{what}: no panic frame in {names:?}"));
        let detector = at("watchdog")
            .or_else(|| at("check_hung_uninterruptible_tasks"))
            .unwrap_or_else(|| panic!("{what}: no hung-task detector frame in {names:?}"));
        assert!(
            panic < detector,
            "{what}: panic is called from the detector: {names:?}"
        );
        assert_eq!(
            names.iter().take(2).map(String::as_str).collect::<Vec<_>>(),
            ["machine_kexec", "__crash_kexec"],
            "{what}: {names:?}"
        );
        assert_eq!(
            names
                .last()
                .map(String::as_str)
                .map(|n| n.starts_with("ret_from_fork")),
            Some(true),
            "{what}: {names:?}"
        );
        assert_eq!(s(&t["backtrace"]["end"]["kind"]), "complete", "{what}");
    }
}

#[test]
fn bt_all_unwinds_every_readable_task_and_names_the_unreadable_ones() {
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let bt = json(&["bt", "--json", "--all", path.to_str().unwrap()]);
        let ps = json(&["ps", "--json", path.to_str().unwrap()]);
        let tasks = bt["tasks"].as_array().expect("tasks");
        assert_eq!(
            tasks.len(),
            ps["tasks"].as_array().unwrap().len(),
            "{what}: every readable task"
        );
        for t in tasks {
            let b = &t["backtrace"];
            let frames = b["frames"].as_array().expect("frames");
            let pid = &t["task"]["pid"];
            // Every stack of these dumps is in the dump and unwinds to its bottom.
            assert_eq!(
                s(&b["end"]["kind"]),
                "complete",
                "{what}: pid {pid}: {}",
                b["end"]
            );
            assert!(
                frames.iter().any(|f| f["reliable"] == true),
                "{what}: pid {pid} has no frame"
            );
            let mut level = 0;
            for fr in frames {
                if fr["reliable"] == true {
                    assert_eq!(
                        fr["level"].as_u64(),
                        Some(level),
                        "{what}: pid {pid} numbering"
                    );
                    level += 1;
                } else {
                    assert!(fr["level"].is_null(), "{what}: a '?' entry has no number");
                    assert_eq!(s(&fr["via"]), "stack_scan", "{what}");
                }
            }
        }
        let unreadable = bt["unreadable"].as_array().expect("unreadable");
        assert_eq!(
            unreadable.len(),
            ps["unreadable"].as_array().unwrap().len(),
            "{what}"
        );
        assert_eq!(
            !unreadable.is_empty(),
            fx.incomplete,
            "{what}: unreadable tasks {unreadable:?}"
        );
        let text = holdup_ok(&["bt", "--all", path.to_str().unwrap()]);
        for x in unreadable {
            let line = format!("TASK: {:x}  (unreadable: ", parse_hex(s(&x["task"])));
            assert!(
                text.contains(&line),
                "{what}: text output names unreadable task: {line}"
            );
        }
        assert!(
            text.lines().any(|l| l.starts_with("  ? [")),
            "{what}: '?' entries in the text output"
        );
        assert!(
            bt["orc_layout"]
                .as_str()
                .unwrap()
                .contains(if fx.kernel == "6.1" {
                    "type:2, end:1"
                } else {
                    "type:3, signal:1"
                }),
            "{what}: {}",
            bt["orc_layout"]
        );
    }
}
