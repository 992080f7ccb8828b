//! The command line as a crash user types it: task and page addresses in hex with or
//! without `0x` (crash's `ps` prints them bare) while decimal stays a pid or a pfn; the dump
//! after the other words (crash's order) answered with the right order; `ps` with a
//! selection that matches nothing exits 1 as `bt` does; `--comm` (and bt's COMM) as globs.

use holdup_e2e::{holdup, seed_dump};

/// The task_struct address of `pid`, as `holdup ps` prints it (16 hex digits, no 0x).
fn task_address(dump: &str, pid: u32) -> String {
    let (status, out, err) = holdup(&["ps", dump, "--pid", &pid.to_string()]);
    assert_eq!(status, 0, "{err}");
    let row = out
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no row for {pid}: {out}"));
    let addr = row.split_whitespace().nth(3).unwrap().to_string();
    assert_eq!(addr.len(), 16, "{row}");
    addr
}

/// The pids of the tasks a `holdup ps` lists.
fn ps_pids(out: &str) -> Vec<u32> {
    out.lines()
        .skip(1)
        .filter_map(|l| {
            l.trim_start_matches('>')
                .split_whitespace()
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[test]
fn bt_takes_a_task_address_with_or_without_0x_and_a_pid_stays_a_pid() {
    let dump = seed_dump();
    let addr = task_address(&dump, 99);
    let (status, by_pid, err) = holdup(&["bt", &dump, "99"]);
    assert_eq!(status, 0, "{err}");
    assert!(by_pid.starts_with("PID: 99 "), "{by_pid}");
    for word in [addr.clone(), format!("0x{addr}"), addr.to_uppercase()] {
        let (status, out, err) = holdup(&["bt", &dump, &word]);
        assert_eq!(status, 0, "bt {word}: {err}");
        assert_eq!(out, by_pid, "bt {word}");
    }
}

#[test]
fn page_takes_an_address_with_or_without_0x_and_decimal_stays_a_pfn() {
    let dump = seed_dump();
    let (status, report, err) = holdup(&[&dump]);
    assert_eq!(status, 0, "{err}");
    // kscand's page: "page 0xfffff90ac00ce4c0 (pfn 13203)".
    let at = report.find("waits for page 0x").expect("the seed's page") + "waits for page 0x".len();
    let hex: String = report[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let pfn: String = report[at..]
        .split("(pfn ")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let (status, with_0x, err) = holdup(&["page", &dump, &format!("0x{hex}")]);
    assert_eq!(status, 0, "{err}");
    assert!(with_0x.contains("LOCKED"), "{with_0x}");
    let (status, bare, err) = holdup(&["page", &dump, &hex]);
    assert_eq!(status, 0, "page {hex}: {err}");
    assert_eq!(bare, with_0x);
    let (status, by_pfn, err) = holdup(&["page", &dump, &pfn]);
    assert_eq!(status, 0, "page {pfn}: {err}");
    assert_eq!(by_pfn, with_0x, "the decimal {pfn} is a pfn");
    // A task's address, bare, as ps prints it: its slab object, as crash's kmem -s.
    let addr = task_address(&dump, 99);
    let (status, out, err) = holdup(&["page", &dump, &addr]);
    assert_eq!(status, 0, "{err}");
    assert!(out.contains("cache task_struct"), "{out}");
    assert!(out.contains(&format!("object 0x{addr}")), "{out}");
}

#[test]
fn the_dump_after_the_other_words_is_answered_with_the_right_order() {
    let dump = seed_dump();
    let (status, out, err) = holdup(&["bt", "99", &dump]);
    assert_eq!(status, 2, "{out}");
    assert!(
        err.contains(&format!("try `holdup bt {dump} 99`")),
        "no hint of the order: {err}"
    );
    assert!(!err.contains("No such file or directory"), "{err}");
    let addr = task_address(&dump, 99);
    let (status, _, err) = holdup(&["page", &addr, &dump]);
    assert_eq!(status, 2);
    assert!(
        err.contains(&format!("try `holdup page {dump} {addr}`")),
        "{err}"
    );
    // A missing dump with no file among the other words is just missing.
    let (status, _, err) = holdup(&["bt", "/nonexistent/vmcore", "99"]);
    assert_eq!(status, 2);
    assert!(!err.contains("try `holdup"), "{err}");
}

#[test]
fn ps_exits_1_when_nothing_matches_as_bt_does() {
    let dump = seed_dump();
    let (status, out, err) = holdup(&["ps", &dump, "--pid", "9999"]);
    assert_eq!(status, 1, "{out}");
    assert!(err.contains("no task matches --pid 9999"), "{err}");
    assert!(out.is_empty(), "{out}");
    let (bt_status, _, _) = holdup(&["bt", &dump, "9999"]);
    assert_eq!(bt_status, status, "ps and bt differ");
    // One pid found among several: status 0, the missing one said.
    let (status, out, err) = holdup(&["ps", &dump, "--pid", "9999", "--pid", "99"]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(ps_pids(&out), [99]);
    assert!(err.contains("no task has pid 9999"), "{err}");
    let (status, _, _) = holdup(&["ps", &dump, "--comm", "no_such_comm"]);
    assert_eq!(status, 1);
}

#[test]
fn comm_takes_globs_and_a_plain_name_stays_exact() {
    let dump = seed_dump();
    let (status, out, err) = holdup(&["ps", &dump, "--comm", "rw_*"]);
    assert_eq!(status, 0, "{err}");
    let mut pids = ps_pids(&out);
    pids.sort();
    assert_eq!(pids, [104, 105, 106], "{out}");
    let (status, out, err) = holdup(&["ps", &dump, "--comm", "?scand"]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(ps_pids(&out), [99]);
    let (status, out, err) = holdup(&["ps", &dump, "--comm", "sem_holder[12]"]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(ps_pids(&out).len(), 2, "{out}");
    let (status, out, err) = holdup(&["ps", &dump, "--comm", "kworker/*"]);
    assert_eq!(status, 0, "{err}");
    assert!(!ps_pids(&out).is_empty());
    assert!(
        out.lines().skip(1).all(|l| l.contains("[kworker/")),
        "{out}"
    );
    // No glob character: the exact name only ("kworker" alone is no task's).
    let (status, _, _) = holdup(&["ps", &dump, "--comm", "kworker"]);
    assert_eq!(status, 1);
    let (status, out, err) = holdup(&["ps", &dump, "--comm", "bench"]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(ps_pids(&out), [96]);
    // bt's COMM too.
    let (status, out, err) = holdup(&["bt", &dump, "rw_*"]);
    assert_eq!(status, 0, "{err}");
    assert_eq!(out.matches("\nPID: ").count() + 1, 3, "{out}");
}
