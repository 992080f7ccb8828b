//! holdup beside crash: what crash 8.0.6 showed on each fixture's dump (its `bt -a`, `sys`,
//! `kmem -p` and `ps`, recorded in `crash-*.txt`), holdup shows too, on every fixture that
//! has the oracle; and every fact of the report names the crash command that shows it.

use holdup_e2e::{Fixture, crash_sys_field, fixture_text, holdup, holdup_ok, manifest, parse_hex};
use serde_json::Value;
use std::collections::BTreeSet;

/// The kdump-compressed dump of a fixture (every fixture with oracles has one).
fn dump_of(fx: &Fixture) -> String {
    let f = fx
        .files_with_role("dump")
        .find(|f| f.format.as_deref().is_some_and(|s| s.starts_with("kdump")))
        .or_else(|| fx.files_with_role("dump").next())
        .unwrap_or_else(|| panic!("fixture {} has no dump", fx.name));
    fx.path(&f.file).to_str().expect("UTF-8 path").to_string()
}

/// Fixtures that have oracle file `file`.
fn with_oracle<'a>(m: &'a holdup_e2e::Manifest, file: &str) -> Vec<&'a Fixture> {
    let v: Vec<&Fixture> = m
        .fixtures
        .iter()
        .filter(|fx| fx.path(file).is_file())
        .collect();
    assert!(v.len() >= 5, "only {} fixtures have {file}", v.len());
    v
}

/// The tasks crash's `ps` lists on the capture of `fx`: on an over-filtered dump crash lists
/// no task whose `task_struct` page was left out, so the count is taken from the most
/// complete dump of the same capture (6.12-overfiltered: 6.12's).
fn crash_task_count(m: &holdup_e2e::Manifest, fx: &Fixture) -> usize {
    let id = holdup_e2e::capture_id(fx);
    m.fixtures
        .iter()
        .filter(|o| o.path("crash-ps.txt").is_file() && holdup_e2e::capture_id(o) == id)
        .map(|o| {
            fixture_text(o, "crash-ps.txt")
                .lines()
                .skip(1)
                .filter(|l| !l.trim().is_empty())
                .count()
        })
        .max()
        .expect("the fixture itself")
}

fn json(args: &[&str]) -> Value {
    let out = holdup_ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("holdup {args:?}: not JSON: {e}"))
}

/// The function of a holdup frame, without the compiler suffix (`watchdog.cold`).
fn base(f: &str) -> &str {
    f.split(['.', '+']).next().unwrap_or(f)
}

/// `holdup bt -a` is crash's `bt -a`: the task active on each CPU, not every task, with
/// the same first frame. crash starts a CPU stopped by the capture kernel's NMI on the NMI
/// stack; holdup from the registers the NMI saved, which are the interrupted context: there
/// its first frame is crash's first after `--- <NMI exception stack> ---`.
#[test]
fn bt_a_shows_the_task_on_each_cpu_as_crash_bt_a() {
    let m = manifest();
    for fx in with_oracle(&m, "crash-bt-a.txt") {
        let dump = dump_of(fx);
        let crash = holdup_e2e::parse_crash_backtraces(&fixture_text(fx, "crash-bt-a.txt"));
        assert!(!crash.is_empty(), "{}: crash-bt-a.txt has no task", fx.name);
        let bt = json(&["bt", "-a", "--json", &dump]);
        let tasks = bt["tasks"].as_array().expect("tasks");
        let ours: BTreeSet<(u64, u64)> = tasks
            .iter()
            .map(|t| {
                (
                    t["task"]["cpu"].as_u64().expect("cpu"),
                    t["task"]["pid"].as_u64().expect("pid"),
                )
            })
            .collect();
        let theirs: BTreeSet<(u64, u64)> = crash
            .iter()
            .map(|c| (u64::from(c.cpu), u64::from(c.pid)))
            .collect();
        assert_eq!(ours, theirs, "{}: (cpu, pid) of bt -a", fx.name);
        assert_eq!(tasks.len(), crash.len(), "{}: one task per CPU", fx.name);
        // In CPU order, as crash.
        let cpus: Vec<u64> = tasks
            .iter()
            .map(|t| t["task"]["cpu"].as_u64().unwrap())
            .collect();
        assert!(cpus.is_sorted(), "{}: by CPU: {cpus:?}", fx.name);
        for c in &crash {
            let what = format!("{}: CPU {} {} (pid {})", fx.name, c.cpu, c.comm, c.pid);
            let t = tasks
                .iter()
                .find(|t| t["task"]["cpu"].as_u64() == Some(u64::from(c.cpu)))
                .unwrap();
            assert_eq!(
                parse_hex(t["task"]["task"].as_str().expect("task address")),
                c.task,
                "{what}: task_struct"
            );
            let first = t["backtrace"]["frames"]
                .as_array()
                .expect("frames")
                .iter()
                .find(|f| f["reliable"] == true)
                .and_then(|f| f["function"].as_str())
                .unwrap_or_else(|| panic!("{what}: holdup shows no frame"));
            let want = &c.frames[c.nmi_frames].function;
            assert_eq!(base(first), want, "{what}: first frame");
        }
        // Text: one PID block per CPU, every task is still --all.
        let text = holdup_ok(&["bt", "-a", &dump]);
        assert_eq!(
            text.lines().filter(|l| l.starts_with("PID: ")).count(),
            crash.len(),
            "{}: bt -a text shows one task per CPU",
            fx.name
        );
        let ps_tasks = crash_task_count(&m, fx);
        let all = json(&["bt", "--all", "--json", "--reliable-only", &dump]);
        let n =
            all["tasks"].as_array().unwrap().len() + all["unreadable"].as_array().unwrap().len();
        assert_eq!(
            n, ps_tasks,
            "{}: bt --all is every task crash's ps lists",
            fx.name
        );
    }
}

/// `-a` with a task, or with --all, is refused with a message that says why.
#[test]
fn bt_a_takes_no_task() {
    let m = manifest();
    let dump = dump_of(m.fixture("6.1"));
    for args in [
        vec!["bt", "-a", dump.as_str(), "99"],
        vec!["bt", "-a", "--all", dump.as_str()],
    ] {
        let (code, _, err) = holdup(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("cannot be used with"), "{args:?}: {err}");
    }
}

/// The taint letters the kernel's last `Tainted:` line in the log shows (`OE`; the `G` of an
/// untainted-by-proprietary kernel left out, as holdup leaves it out): `None` when the log
/// has none, `Some("")` for `Not tainted`.
fn log_taint(log: &str, release: &str) -> Option<String> {
    log.lines().rev().find_map(|l| {
        if l.contains(" Not tainted ") {
            return Some(String::new());
        }
        let (_, rest) = l.split_once("Tainted: ")?;
        if rest.starts_with('[') {
            return None; // 6.12's verbose line: [O]=OOT_MODULE, ...
        }
        let flags = rest.split_once(release)?.0;
        Some(
            flags
                .chars()
                .filter(|c| !c.is_whitespace() && *c != 'G')
                .collect(),
        )
    })
}

/// `holdup info` shows what crash's `sys` shows and it lacked: TASKS, LOAD AVERAGE and the
/// taint (crash says only `[TAINTED]` after KERNEL; the letters are checked against the
/// kernel's own `Tainted:` line in the log).
#[test]
fn info_has_crash_sys_tasks_load_average_and_taint() {
    let m = manifest();
    for fx in with_oracle(&m, "crash-sys.txt") {
        let dump = dump_of(fx);
        let what = fx.name.as_str();
        let sys = fixture_text(fx, "crash-sys.txt");
        let info = json(&["info", "--json", &dump]);
        let text = holdup_ok(&["info", &dump]);
        let row = |key: &str| -> String {
            text.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(": ")?;
                    (k.trim() == key).then(|| v.trim().to_string())
                })
                .unwrap_or_else(|| panic!("{what}: holdup info has no {key}:\n{text}"))
        };

        // LOAD AVERAGE: avenrun, as crash prints it.
        let load = crash_sys_field(&sys, "LOAD AVERAGE");
        assert_eq!(row("LOAD AVERAGE"), load, "{what}: LOAD AVERAGE");
        let ours: Vec<&str> = info["load_average"]
            .as_array()
            .expect("load_average")
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(ours.join(", "), load, "{what}: load_average");

        // TASKS: crash's count; on an over-filtered dump crash misses the tasks whose
        // task_struct was filtered out, and holdup's count is the complete dump's of the same
        // capture.
        let crash_tasks: u64 = crash_sys_field(&sys, "TASKS").parse().expect("TASKS");
        let id = holdup_e2e::capture_id(fx);
        let complete: u64 = m
            .fixtures
            .iter()
            .filter(|o| o.path("crash-sys.txt").is_file() && holdup_e2e::capture_id(o) == id)
            .map(|o| {
                crash_sys_field(&fixture_text(o, "crash-sys.txt"), "TASKS")
                    .parse::<u64>()
                    .unwrap()
            })
            .max()
            .unwrap();
        assert_eq!(info["tasks"].as_u64(), Some(complete), "{what}: tasks");
        assert_eq!(row("TASKS"), complete.to_string(), "{what}: TASKS");
        assert!(complete >= crash_tasks, "{what}");

        // Taint: crash marks a tainted kernel; the letters are the log's.
        let release = info["release"].as_str().expect("release");
        let letters = info["taint"].as_str().expect("taint");
        let crash_tainted = crash_sys_field(&sys, "KERNEL").contains("[TAINTED]");
        assert_eq!(
            !letters.is_empty(),
            crash_tainted,
            "{what}: tainted as crash says"
        );
        let log = fixture_text(fx, "crash-log.txt");
        let want = log_taint(&log, release)
            .unwrap_or_else(|| panic!("{what}: the log has no Tainted: line"));
        assert_eq!(
            letters, want,
            "{what}: taint letters against the log's Tainted: line"
        );
        assert!(
            row("TAINTED").starts_with(&format!("{want} (")),
            "{what}: TAINTED row: {}",
            row("TAINTED")
        );
        let mask = info["tainted_mask"].as_u64().expect("tainted_mask");
        assert_eq!(
            mask.count_ones() as usize,
            letters.len(),
            "{what}: one letter per bit"
        );
    }
}

/// `holdup page` shows crash's `kmem -p` PHYSICAL and CNT (`page._refcount`) for every
/// locked page crash listed, in --json and in its text row.
#[test]
fn page_has_kmem_p_physical_and_refcount() {
    let m = manifest();
    let mut checked = 0;
    for fx in with_oracle(&m, "crash-kmem-p.txt") {
        let dump = dump_of(fx);
        for line in fixture_text(fx, "crash-kmem-p.txt").lines() {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 6 || cols[0] == "PAGE" {
                continue;
            }
            let (page, physical, cnt) = (cols[0], parse_hex(cols[1]), cols[4]);
            let what = format!("{}: page {page}", fx.name);
            let cnt: i64 = cnt
                .parse()
                .unwrap_or_else(|e| panic!("{what}: crash CNT {cnt:?}: {e}"));
            let j = json(&["page", "--json", &dump, page]);
            assert_eq!(
                parse_hex(j["page"]["page"].as_str().unwrap()),
                parse_hex(page),
                "{what}: the page itself"
            );
            assert_eq!(
                j["physical"].as_str().map(parse_hex),
                Some(physical),
                "{what}: PHYSICAL"
            );
            assert_eq!(j["refcount"].as_i64(), Some(cnt), "{what}: CNT (_refcount)");
            let text = holdup_ok(&["page", &dump, page]);
            let mut lines = text.lines();
            let head: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
            let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
            let col = |name: &str| {
                let i = head
                    .iter()
                    .position(|h| *h == name)
                    .unwrap_or_else(|| panic!("{what}: no {name} column: {head:?}"));
                row[i]
            };
            assert_eq!(
                parse_hex(col("PHYSICAL")),
                physical,
                "{what}: text PHYSICAL"
            );
            assert_eq!(col("CNT"), cnt.to_string(), "{what}: text CNT");
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} pages of crash's kmem -p checked"
    );
}

/// Every `0x...` word of a crash command.
fn addresses(cmd: &str) -> Vec<u64> {
    cmd.split_whitespace()
        .filter(|w| w.starts_with("0x"))
        .map(parse_hex)
        .collect()
}

/// Checks the crash commands of one relation of the report's --json: `what` names it, `pid`,
/// `task` (its `task_struct`) and `lock` are the relation's, `rel` the object with
/// `evidence` and `crash`.
fn check_commands(what: &str, (pid, task): (u64, u64), lock: u64, rel: &Value) {
    let cmds: Vec<&str> = rel["crash"]
        .as_array()
        .unwrap_or_else(|| panic!("{what}: no crash commands beside its evidence: {rel}"))
        .iter()
        .map(|c| c.as_str().expect("a command"))
        .collect();
    assert!(!cmds.is_empty(), "{what}: no crash command");
    assert!(
        cmds.contains(&format!("bt {pid}").as_str()),
        "{what}: no `bt {pid}` among {cmds:?}"
    );
    assert!(
        cmds.iter().any(|c| addresses(c) == [lock]
            && (c.starts_with("struct ")
                || c.starts_with("kmem -p ")
                || c.starts_with("waitq ")
                || c.starts_with("rd "))),
        "{what}: no command shows the lock {lock:#x}: {cmds:?}"
    );
    let source = rel["evidence"]["source"].as_str().unwrap_or("");
    for c in &cmds {
        for a in addresses(c) {
            // The lock, a member of it (its wait list), or the bucket of the hashed wait
            // table the evidence names.
            let walk = c.starts_with("list -H ") || c.starts_with("waitq ");
            let member = a > lock && a - lock < 0x200;
            let ok = a == lock
                || a == task
                || (walk && member)
                || (c.starts_with("waitq ") && source.contains("_wait_table["));
            assert!(
                ok,
                "{what}: {c:?} names {a:#x}, which is not in the fact ({lock:#x}, {source})"
            );
        }
    }
}

/// Beside crash: in --json every relation (a task waits for or holds a lock) carries the
/// crash commands that show it, beside its evidence: `bt PID` of its task, the lock
/// (`struct mutex 0x...`, `kmem -p 0x...`) and the wait list of a waiter, naming only the
/// pid and addresses of the fact. Checked on every hang fixture, and on 6.1 that every kind
/// of list walk is there. With -v the text shows them under each relation; without, not.
#[test]
fn every_fact_of_the_report_names_the_crash_command_that_shows_it() {
    let m = manifest();
    let mut hangs = 0;
    for fx in m
        .fixtures
        .iter()
        .filter(|f| f.path("truth.jsonl").is_file())
    {
        let dump = dump_of(fx);
        let (_, out, err) = holdup(&["--json", &dump]);
        let j: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("{}: {e}: {err}", fx.name));
        if j["outcome"] == "no_hang" {
            continue; // the oops fixture: no relation to show
        }
        hangs += 1;
        let mut facts = 0;
        for l in j["locks"].as_array().expect("locks") {
            let lock = parse_hex(l["lock"].as_str().unwrap());
            for side in ["holders", "waiters"] {
                for p in l[side].as_array().unwrap() {
                    let pid = p["pid"].as_u64().unwrap();
                    let what = format!(
                        "{}: {side} pid {pid} of {} {lock:#x}",
                        fx.name, l["lock_type"]
                    );
                    let task = parse_hex(p["task"].as_str().unwrap());
                    check_commands(&what, (pid, task), lock, p);
                    facts += 1;
                }
            }
        }
        for t in j["tasks"].as_array().expect("tasks") {
            let pid = t["pid"].as_u64().unwrap();
            let task = parse_hex(t["task"].as_str().unwrap());
            let rels = t["holds"]
                .as_array()
                .unwrap()
                .iter()
                .chain(t["waits_on"].as_object().map(|_| &t["waits_on"]));
            for r in rels {
                let lock = parse_hex(r["lock"].as_str().unwrap());
                check_commands(
                    &format!("{}: task {pid} and {lock:#x}", fx.name),
                    (pid, task),
                    lock,
                    r,
                );
                facts += 1;
            }
        }
        assert!(facts >= 10, "{}: only {facts} relations", fx.name);
        if fx.name == "6.1" {
            let all: Vec<String> = j["locks"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|l| ["holders", "waiters"].map(|s| l[s].clone()))
                .flat_map(|p| p.as_array().cloned().unwrap_or_default())
                .flat_map(|p| p["crash"].as_array().cloned().unwrap_or_default())
                .map(|c| c.as_str().unwrap().to_string())
                .collect();
            for want in [
                "list -H 0x", // the rwsem, mutex, semaphore wait lists
                "-l rwsem_waiter.list",
                "-l mutex_waiter.list",
                "-l semaphore_waiter.list",
                "-l swait_queue.task_list",   // the completion
                "waitq 0x",                   // the folio wait table
                "kmem -p 0xfffff90ac00ce4c0", // the seed's page
                "struct rw_semaphore 0x",
                "struct mutex 0x",
            ] {
                assert!(
                    all.iter().any(|c| c.contains(want)),
                    "6.1: no {want:?} in {all:?}"
                );
            }
            // The text: with -v under each relation, without -v none.
            let plain = holdup_ok(&["--no-pager", &dump]);
            assert!(
                !plain.contains("crash: bt "),
                "6.1: crash commands without -v"
            );
            let (_, verbose, _) = holdup(&["-v", "--no-pager", &dump]);
            let root1 = &verbose[verbose.find("ROOT CAUSE 1:").expect("root cause 1")..];
            let root1 = &root1[..root1.find("ROOT CAUSE 2:").unwrap_or(root1.len())];
            for want in [
                "crash: bt 99  |  kmem -p 0xfffff90ac00ce4c0  |  waitq 0x",
                "crash: bt 99  |  struct rw_semaphore 0x",
                "crash: struct rw_semaphore 0x",
                "-l rwsem_waiter.list -s rwsem_waiter.task",
            ] {
                assert!(
                    root1.contains(want),
                    "6.1 -v: root cause 1 has no {want:?}:\n{root1}"
                );
            }
        }
    }
    assert!(hangs >= 6, "only {hangs} hang fixtures checked");
}
