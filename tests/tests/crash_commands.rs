//! The crash commands holdup's report names beside each claim (`bt PID`, `struct mutex ADDR`,
//! `list -H HEAD -l rwsem_waiter.list -s rwsem_waiter.task`, `kmem -p PAGE`, `waitq ADDR`...)
//! were run in crash 8.0.6 with the -dbg vmlinux (`dumps/gen/crash-commands.sh`, answers in
//! each fixture's crash-holdup-commands.txt). Here every command the report names today must
//! have been run, must have answered (no crash error), and its answer must show what holdup
//! claims: the task of `bt PID`, each waiter in crash's walk of the wait list at holdup's
//! position, a mutex or rwsem owner read as a fact equal to crash's `owner`, a locked page
//! `locked` in `kmem -p`, the waiters of a wait queue in `waitq`, a completion not done.

use holdup_e2e::{Fixture, dump_path, holdup, manifest_all, parse_hex};
use serde_json::Value;
use std::collections::BTreeMap;

const ORACLE: &str = "crash-holdup-commands.txt";

/// crash's answer to each command: the lines after `>>> COMMAND` up to the next marker.
fn answers(fx: &Fixture) -> BTreeMap<String, String> {
    let path = fx.path(ORACLE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `just crash-commands`)", path.display()));
    let mut out = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines() {
        if let Some(cmd) = line.strip_prefix(">>> ") {
            if let Some((c, a)) = current.take() {
                out.insert(c, a);
            }
            current = Some((cmd.to_string(), String::new()));
        } else if let Some((_, a)) = current.as_mut() {
            a.push_str(line);
            a.push('\n');
        }
    }
    if let Some((c, a)) = current {
        out.insert(c, a);
    }
    out
}

/// Every command a report names, with the claim it goes with.
fn named_commands(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "crash"
                    && let Some(list) = x.as_array()
                {
                    out.extend(list.iter().filter_map(|c| c.as_str().map(String::from)));
                } else {
                    named_commands(x, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| named_commands(x, out)),
        _ => {}
    }
}

/// The owner word in crash's print of a lock: `owner = { counter = N }` (an atomic_long_t)
/// or, on PREEMPT_RT, the rt_mutex's `owner = 0x...` (a pointer).
fn owner_of(answer: &str) -> Option<u64> {
    let mut lines = answer.lines().map(str::trim);
    let first = lines.find(|l| l.starts_with("owner = "))?;
    let v = first.strip_prefix("owner = ")?.trim_end_matches(',');
    if v == "{" {
        let n = lines
            .next()?
            .strip_prefix("counter = ")?
            .trim_end_matches(',');
        return n.parse::<i64>().ok().map(|n| n as u64);
    }
    Some(parse_hex(v))
}

/// The tasks crash's `list -H ... -s X.task` walked, in order.
fn listed_tasks(answer: &str) -> Vec<u64> {
    answer
        .lines()
        .filter_map(|l| l.trim().strip_prefix("task = "))
        .map(|t| parse_hex(t.trim_end_matches(',')))
        .collect()
}

fn fixtures_with_oracle() -> Vec<Fixture> {
    let m = manifest_all();
    let v: Vec<Fixture> = m
        .fixtures
        .into_iter()
        .filter(|fx| fx.files.iter().any(|f| f.file == ORACLE))
        .collect();
    assert!(
        v.len() >= 7,
        "only {} fixtures have {ORACLE}: run `just crash-commands`",
        v.len()
    );
    v
}

#[test]
fn every_command_the_report_names_shows_its_claim_in_crash() {
    let mut checked = BTreeMap::<String, usize>::new();
    for fx in fixtures_with_oracle() {
        let name = fx.name.clone();
        let answers = answers(&fx);
        let f = fx.files_with_role("dump").next().expect("a dump");
        let d = dump_path(&fx, f);
        let (status, out, err) = holdup(&[d.to_str().expect("UTF-8"), "--json"]);
        assert!(
            status == 0 || status == 4,
            "{name}: holdup exit {status}: {err}"
        );
        let report: Value = serde_json::from_str(&out).expect("JSON");
        let mut named = Vec::new();
        named_commands(&report, &mut named);
        assert!(
            !named.is_empty(),
            "{name}: the report names no crash command"
        );
        for c in &named {
            let a = answers.get(c).unwrap_or_else(|| {
                panic!("{name}: `{c}` is not in {ORACLE}: run `just crash-commands` and review")
            });
            // crash's complaints start with "crash:" or name the command's own usage.
            assert!(
                !a.lines()
                    .any(|l| l.starts_with("crash: ") || l.starts_with("Usage:")),
                "{name}: crash refused `{c}`:\n{a}"
            );
        }
        for lock in report["locks"].as_array().expect("locks") {
            let addr = lock["lock"].as_str().expect("lock address");
            let kind = lock["lock_type"].as_str().expect("lock_type");
            for (role, parties) in [("holder", &lock["holders"]), ("waiter", &lock["waiters"])] {
                for p in parties.as_array().expect("parties") {
                    let Some(pid) = p["pid"].as_u64() else {
                        continue;
                    };
                    let task = parse_hex(p["task"].as_str().expect("task"));
                    for c in p["crash"]
                        .as_array()
                        .expect("crash")
                        .iter()
                        .filter_map(|c| c.as_str())
                    {
                        let a = &answers[c];
                        let what = format!("{name}: {role} pid {pid} of {kind} {addr}: `{c}`");
                        let cmd = c.split_whitespace().next().unwrap_or("");
                        match cmd {
                            "bt" => assert!(
                                a.contains(&format!("PID: {pid} "))
                                    && a.contains(&format!("TASK: {task:x} ")),
                                "{what} shows another task:\n{a}"
                            ),
                            "list" if role == "waiter" => {
                                let tasks = listed_tasks(a);
                                assert!(
                                    tasks.contains(&task),
                                    "{what}: not in crash's walk {tasks:x?}"
                                );
                                if let Some(pos) = p["position"].as_u64() {
                                    assert_eq!(
                                        tasks.get(pos as usize),
                                        Some(&task),
                                        "{what}: holdup's position {pos}, crash's walk {tasks:x?}"
                                    );
                                }
                            }
                            "waitq" if role == "waiter" => assert!(
                                a.contains(&format!("PID: {pid} ")),
                                "{what}: not among crash's waiters:\n{a}"
                            ),
                            "kmem" => assert!(
                                a.lines().nth(1).is_some_and(|l| l.contains("locked")
                                    || kind == "page_writeback" && l.contains("writeback")),
                                "{what}: the page's flags in crash do not say so:\n{a}"
                            ),
                            "struct"
                                if c.starts_with("struct mutex ")
                                    && role == "holder"
                                    && p["evidence"]["kind"] == "fact" =>
                            {
                                let owner = owner_of(a)
                                    .unwrap_or_else(|| panic!("{what}: no owner counter in:\n{a}"));
                                assert_eq!(owner & !7, task, "{what}: crash's owner {owner:#x}");
                            }
                            "struct"
                                if c.starts_with("struct rw_semaphore ")
                                    && role == "holder"
                                    && p["evidence"]["kind"] == "fact" =>
                            {
                                let owner = owner_of(a)
                                    .unwrap_or_else(|| panic!("{what}: no owner counter in:\n{a}"));
                                assert_eq!(owner & !7, task, "{what}: crash's owner {owner:#x}");
                            }
                            "struct" if c.starts_with("struct completion ") => assert!(
                                a.contains("done = 0,"),
                                "{what}: crash says the completion is done:\n{a}"
                            ),
                            _ => assert!(!a.trim().is_empty(), "{what}: crash printed nothing"),
                        }
                        *checked.entry(cmd.to_string()).or_default() += 1;
                    }
                }
            }
        }
    }
    eprintln!("checked: {checked:?}");
    // Each kind of command was met and checked on the fixtures.
    for cmd in ["bt", "list", "waitq", "kmem", "struct"] {
        assert!(
            checked.get(cmd).copied().unwrap_or(0) >= 5,
            "only {:?} `{cmd}` checks",
            checked.get(cmd)
        );
    }
}
