//! The report as a person acts on it (issue 16): the frame to act on for every blocked task,
//! a summary first with a stated order, the reader-behind-a-writer explanation said, one
//! vocabulary of certainty everywhere, and an incomplete dump that says so. On every truth
//! dump (5.10, 6.1, 6.1 on 5-level paging, 6.12, 6.12-rt, 7.3, the over-filtered 6.12).

use holdup_e2e::{
    LockType, Role, holdup, holdup_ok, manifest, manifest_all, parse_hex, truth_dumps,
};
use serde_json::Value;
use std::path::Path;

/// The report of a dump: text and JSON, whatever the exit status (0, or 4 for the
/// over-filtered dump), which the tests check themselves.
fn report(path: &Path) -> (i32, String, Value) {
    let p = path.to_str().unwrap();
    let (status, text, err) = holdup(&[p]);
    assert!(
        status == 0 || status == 4,
        "holdup {p} failed ({status}): {err}"
    );
    let (json_status, json, err) = holdup(&["--json", p]);
    assert_eq!(json_status, status, "--json and the text disagree: {err}");
    (status, text, serde_json::from_str(&json).expect("JSON"))
}

fn task_by_comm<'a>(report: &'a Value, comm: &str) -> Option<&'a Value> {
    report["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["comm"] == comm)
}

/// The block of the text report of the root cause whose heading names `who`.
fn root_block<'a>(text: &'a str, who: &str) -> &'a str {
    text.split("\nROOT CAUSE ")
        .skip(1)
        .find(|b| b.lines().next().is_some_and(|h| h.contains(who)))
        .unwrap_or_else(|| panic!("no root cause names {who}:\n{text}"))
        .split("\nCHAINS")
        .next()
        .unwrap()
}

/// Functions a caller frame must never be: the scheduler, the locking API, slow paths.
const NOT_A_CALLER: &[&str] = &[
    "__schedule",
    "schedule",
    "schedule_timeout",
    "io_schedule",
    "schedule_preempt_disabled",
    "folio_wait_bit_common",
    "__folio_lock",
    "rwsem_down_read_slowpath",
    "rwsem_down_write_slowpath",
    "down_read",
    "down_write",
    "__mutex_lock",
    "mutex_lock",
    "__down_common",
    "down",
    "__wait_for_common",
    "wait_for_completion",
    "rt_mutex_slowlock_block",
    "rwbase_write_lock",
    "rwbase_read_lock",
];

#[test]
fn every_blocked_task_names_the_frame_to_act_on() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let (_, text, json) = report(&path);
        for t in json["tasks"].as_array().unwrap() {
            let caller = t["caller"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: no caller for {t}"));
            let function = caller.split('+').next().unwrap();
            let base = function.split('.').next().unwrap();
            assert!(
                !NOT_A_CALLER.contains(&base),
                "{what}: {}'s caller is locking or scheduling code: {caller}",
                t["comm"]
            );
            assert!(caller.contains("+0x"), "{what}: no offset: {caller}");
        }
        // The frames the seed's author acted on, for the hang module's tasks.
        let caller = |comm: &str| {
            task_by_comm(&json, comm)
                .and_then(|t| t["caller"].as_str())
                .unwrap_or_else(|| panic!("{what}: no {comm} with a caller"))
                .to_string()
        };
        let kscand = caller("kscand");
        assert!(
            kscand.starts_with("kscand_fn+0x") && kscand.ends_with(" [hangmod]"),
            "{what}: {kscand}"
        );
        assert!(caller("bench").contains("sys_mincore+0x"), "{what}");
        assert!(
            caller("kcollapsed").starts_with("kcollapsed_fn+0x"),
            "{what}"
        );
        // In the table, and in the root cause's own sentence.
        let table = text.split("\nBLOCKED TASKS").nth(1).expect("a table");
        assert!(table.contains(&kscand), "{what}: the table lacks {kscand}");
        assert!(table.contains("CALLER"), "{what}");
        let block = root_block(&text, "kscand (pid");
        assert!(
            block.contains(&format!("in {kscand} waits for page")),
            "{what}: {block}"
        );
    }
}

#[test]
fn the_summary_comes_first_in_a_stated_order() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let (_, text, json) = report(&path);
        let roots = json["root_causes"].as_array().unwrap();
        let summary_at = text.find("\nSUMMARY").expect("a summary");
        assert!(
            summary_at < text.find("\nROOT CAUSE 1:").unwrap(),
            "{what}: the summary is not first"
        );
        // Past the blank line and the heading.
        let summary: Vec<&str> = text[summary_at..]
            .lines()
            .skip(2)
            .take_while(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(summary.len(), roots.len(), "{what}: {summary:#?}");
        for (i, (line, r)) in summary.iter().zip(roots).enumerate() {
            assert!(
                line.starts_with(&format!("  {}. ", i + 1)),
                "{what}: {line}"
            );
            // What, who, how many behind it, how sure.
            let n = r["blocked_behind"].as_array().unwrap().len();
            assert!(
                line.contains(&format!("; {n} task")),
                "{what}: {line} (behind: {n})"
            );
            let sure = if r["confidence"].as_f64().unwrap() >= 1.0 {
                "; fact".to_string()
            } else {
                format!("; guess {:.0}%", r["confidence"].as_f64().unwrap() * 100.0)
            };
            assert!(line.ends_with(&sure), "{what}: {line} ({sure})");
            for t in r["tasks"].as_array().unwrap() {
                assert!(
                    line.contains(&format!("(pid {})", t["pid"])),
                    "{what}: {line}"
                );
            }
        }
        // Ranked by tasks behind, then by the lowest pid.
        let key = |r: &Value| {
            let behind = r["blocked_behind"].as_array().unwrap().len();
            let pid = r["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .chain(r["blocked_behind"].as_array().unwrap())
                .map(|t| t["pid"].as_u64().unwrap())
                .min()
                .unwrap();
            (std::cmp::Reverse(behind), pid)
        };
        let keys: Vec<_> = roots.iter().map(key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted, "{what}: root causes out of order");
        // A deadlock's tasks start at its lowest pid, in wait order: abba_a first everywhere.
        for c in json["cycles"].as_array().unwrap() {
            let pids: Vec<u64> = c["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["pid"].as_u64().unwrap())
                .collect();
            assert_eq!(pids[0], *pids.iter().min().unwrap(), "{what}: {c}");
        }
        let abba = root_block(&text, "abba_a");
        assert!(
            abba.lines().next().unwrap().contains("abba_a") && {
                let h = abba.lines().next().unwrap();
                h.find("abba_a") < h.find("abba_b")
            },
            "{what}: {abba}"
        );
        // An ABBA root cause shows both its locks.
        let locks = abba
            .lines()
            .find(|l| l.trim_start().starts_with("locks: "))
            .unwrap_or_else(|| panic!("{what}: no locks line: {abba}"));
        assert!(
            locks.contains("abba_m1") && locks.contains("abba_m2"),
            "{what}: {locks}"
        );
        // The chains and the table say their order, and keep it.
        assert!(text.contains("CHAINS (who waits for whom, by root cause, then by pid)"));
        let table = text.split("\nBLOCKED TASKS\n").nth(1).expect("table");
        assert!(
            table.contains("\nRows by pid; CALLER = "),
            "{what}: {table}"
        );
        let pids: Vec<u32> = table
            .lines()
            .filter_map(|l| l.strip_prefix("│ "))
            .filter_map(|l| l.split_whitespace().next()?.parse().ok())
            .collect();
        let mut sorted = pids.clone();
        sorted.sort();
        assert_eq!(pids, sorted, "{what}: the table is not by pid");
    }
}

#[test]
fn a_reader_behind_a_writer_is_explained() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let (_, text, json) = report(&path);
        let truth = fx.facts();
        let pid = |comm: &str| {
            truth
                .iter()
                .find(|x| {
                    x.comm == comm && x.role == Role::Waiter && x.lock_type == LockType::Rwsem
                })
                .map(|x| x.pid)
        };
        for (holder, reader, writer) in [
            ("kscand (pid", "bench", "kcollapsed"),
            ("rw_holder (pid", "rw_reader", "rw_writer"),
        ] {
            let (Some(r), Some(w)) = (pid(reader), pid(writer)) else {
                continue;
            };
            if task_by_comm(&json, reader).is_none() && fx.incomplete {
                // The over-filtered dump lost this reader; the header says so (below).
                continue;
            }
            let block = root_block(&text, holder);
            let note = block
                .lines()
                .find(|l| {
                    l.contains(&format!("{reader} (pid {r}) in "))
                        && l.contains("for read although it is held for read")
                })
                .unwrap_or_else(|| panic!("{what}: no word on why {reader} waits: {block}"));
            assert!(
                note.contains(&format!("{writer} (pid {w}) in "))
                    && note.contains("waits ahead of it (#0) to write"),
                "{what}: {note}"
            );
            if fx.preempt_rt {
                assert!(note.contains("rt_mutex"), "{what}: {note}");
            } else {
                assert!(
                    note.contains("lets no new reader pass a waiting writer"),
                    "{what}: {note}"
                );
            }
            let in_json = json["root_causes"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["notes"].as_array().into_iter().flatten())
                .any(|n| n.as_str() == Some(note.trim()));
            assert!(in_json, "{what}: the note is not in --json: {note}");
        }
    }
}

#[test]
fn certainty_reads_the_same_in_every_command() {
    let m = manifest();
    let fx = m.fixture("6.1");
    let path = fx.path("vmcore.kdump-zlib");
    let p = path.to_str().unwrap();
    let text = holdup_ok(&[p]);
    let locks = holdup_ok(&["locks", p]);
    let truth = fx.facts();
    let page = truth
        .iter()
        .find(|x| x.comm == "kscand" && x.lock_type == LockType::PageLock)
        .and_then(|x| x.pfn)
        .unwrap();
    let page = holdup_ok(&["page", p, &page.to_string()]);
    for (what, out) in [("report", &text), ("locks", &locks), ("page", &page)] {
        for old in [
            "inference,",
            "(none",
            "none,",
            "confidence ",
            "medium (",
            "high (",
        ] {
            assert!(!out.contains(old), "{what} says {old:?}:\n{out}");
        }
        assert!(out.contains("guess ") && out.contains("fact"), "{what}");
    }
    // The completion's wait has no mode, and says only how it is known.
    assert!(text.contains("never_done [hangmod] (fact)"), "{text}");
    // The footer is true about where the weaker candidates are: the 6.1 fixture has one
    // (pg_waiter as a holder of its own page, 20%), which --dot and locks show.
    assert!(!text.contains("only in --json"), "{text}");
    assert!(
        text.contains("1 weaker holder candidate(s) (under 30%) are left out here; --json, --dot and `holdup locks` show them."),
        "{text}"
    );
    assert!(locks.contains("held by pg_waiter (pid 115) (exclusive)  [guess 20%"));
    let dot = holdup_ok(&["--dot", p]);
    assert!(dot.contains("subgraph cluster_legend"), "{dot}");
    let edge = |style: &str| dot.lines().filter(|l| l.contains(style)).count();
    // Facts solid, guesses dashed, the weak candidate dotted: three looks, and the legend
    // draws each once.
    assert!(edge("style=solid") > 1 && edge("style=dashed") > 1, "{dot}");
    let weak: Vec<&str> = dot
        .lines()
        .filter(|l| l.contains("style=dotted") && !l.contains("legend"))
        .collect();
    assert_eq!(weak.len(), 1, "{dot}");
    assert!(weak[0].contains("guess 20%"), "{}", weak[0]);
    // The self-deadlock's guessed hold (50%) is not drawn like the weak candidate.
    assert!(
        dot.lines()
            .any(|l| l.contains("guess 50%") && l.contains("style=dashed")),
        "{dot}"
    );
}

#[test]
fn evidence_is_short_in_the_text_and_whole_with_v_and_json() {
    let m = manifest();
    let path = m.fixture("6.1").path("vmcore.kdump-zlib");
    let p = path.to_str().unwrap();
    let text = holdup_ok(&[p]);
    let verbose = holdup_ok(&["-v", p]);
    let json: Value = serde_json::from_str(&holdup_ok(&["--json", p])).unwrap();
    let hold_line = |t: &str| -> String {
        t.lines()
            .find(|l| l.contains("kscand (pid 99) holds mmap_lock"))
            .unwrap()
            .to_string()
    };
    let short = hold_line(&text);
    let long = hold_line(&verbose);
    // The sign found on kscand's own stack, once; not what the lock records for any reader.
    assert!(
        short.contains("guess 65%: kscand_fn (on its stack)"),
        "{short}"
    );
    assert!(!short.contains("count"), "{short}");
    assert!(
        long.contains("count says exactly one reader holds it"),
        "{long}"
    );
    assert!(short.len() * 2 < long.len(), "{short}\n{long}");
    // No line of the text before the table repeats a phrase of its evidence.
    for l in text.split("\nCHAINS").next().unwrap().lines() {
        assert!(l.len() < 400, "a line of {} characters: {l}", l.len());
    }
    let reasons = json["locks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|l| l["holders"].as_array().unwrap())
        .find(|h| h["comm"] == "kscand" && h["mode"] == "read")
        .unwrap()["evidence"]["reasons"]
        .as_array()
        .unwrap()
        .len();
    assert!(reasons >= 3, "--json keeps every reason");
}

#[test]
fn an_incomplete_dump_says_so_first_and_exits_partial() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let (status, text, json) = report(&path);
        let header = text.split("\nSUMMARY").next().unwrap();
        if !fx.incomplete {
            assert_eq!(status, 0, "{what}");
            assert_eq!(json["outcome"], "hang", "{what}");
            assert!(!header.contains("INCOMPLETE"), "{what}: {header}");
            continue;
        }
        // README and --help: 4 = partial.
        assert_eq!(status, 4, "{what}");
        assert_eq!(json["outcome"], "partial", "{what}");
        assert!(header.contains("INCOMPLETE DUMP"), "{what}: {header}");
        // Every truth task the dump lost is named in the header, with what it may hide.
        for fact in fx.facts() {
            let known = json["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .any(|t| parse_hex(t["task"].as_str().unwrap()) == parse_hex(&fact.task));
            if !known {
                assert!(
                    header.contains(&format!("pid {}", fact.pid))
                        && header.contains("may be a blocked task"),
                    "{what}: {} (pid {}) lost, the header does not say so: {header}",
                    fact.comm,
                    fact.pid
                );
            }
        }
        let gaps = json["gaps"].as_array().unwrap();
        assert!(!gaps.is_empty(), "{what}");
        for g in gaps {
            assert!(g["count"].as_u64().unwrap() > 0 && g["may_hide"].is_string());
        }
    }
    let (_, help, _) = holdup(&["--help"]);
    assert!(help.contains("4  the report found blocked tasks"), "{help}");
}

/// No line of any fixture's report is printed twice (two root causes on one lock whose holder
/// was not found each printed the lock), the over-filtered and stock dumps among them.
#[test]
fn no_line_of_any_report_is_printed_twice() {
    let m = manifest();
    for fx in m.fixtures.iter().filter(|fx| !fx.no_hang) {
        for f in fx.files_with_role("dump") {
            let (_, text, _) = report(&fx.path(&f.file));
            let body = text.split("\nBLOCKED TASKS\n").next().unwrap();
            let mut seen = std::collections::BTreeSet::new();
            for l in body.lines() {
                if l.trim().is_empty() || l.trim() == "nobody else is blocked behind it" {
                    continue;
                }
                assert!(seen.insert(l), "{} {}: printed twice: {l}", fx.name, f.file);
            }
        }
    }
}
