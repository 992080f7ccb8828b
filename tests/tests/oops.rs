//! A dump that is no hang (`dumps/fixtures/6.1-oops-la57`: hangmod's `oopser` oopses on a
//! NULL-pointer read): the report gives a short crash summary (where it faulted, the
//! panicking task's stack, the log's report of the bug) instead of an empty table, and
//! triage signs it as the oops it is, checked against the truth hangmod printed.

use holdup_e2e::{Oops, TruthLine, holdup, manifest};
use serde_json::Value;

const NAME: &str = "6.1-oops-la57";

fn the_oops() -> (String, Oops) {
    let m = manifest();
    let fx = m.fixture(NAME);
    let f = fx
        .files_with_role("dump")
        .next()
        .expect("the oops fixture has a complete dump");
    let oops = fx
        .truth()
        .into_iter()
        .find_map(|l| match l {
            TruthLine::Oops(o) => Some(o),
            _ => None,
        })
        .expect("an oops line in the truth");
    (fx.path(&f.file).to_str().unwrap().to_string(), oops)
}

#[test]
fn the_report_of_an_oops_dump_summarises_the_crash() {
    let (path, oops) = the_oops();
    let (status, text, err) = holdup(&[&path]);
    // README: 1 = no blocked task, as before.
    assert_eq!(status, 1, "{err}");
    assert!(!text.contains("BLOCKED TASKS"), "an empty table: {text}");
    let crash = text
        .split("\nCRASH")
        .nth(1)
        .unwrap_or_else(|| panic!("no crash summary: {text}"));
    let first = crash.lines().nth(1).unwrap();
    assert!(
        first.contains(&format!("oops in {}+0x", oops.function))
            && first.contains(&format!("by {} (pid {})", oops.comm, oops.pid)),
        "{first}"
    );
    // The panicking task's stack from the faulting function on, its callers in the
    // truth's order; the crash path (oops_end .. machine_kexec) left out.
    let frames: Vec<&str> = crash
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with("    #"))
        .collect();
    assert!(
        frames[0].contains(&format!("[exception RIP: {}+", oops.function)),
        "{frames:#?}"
    );
    let names: Vec<&str> = frames[1..]
        .iter()
        .map(|l| {
            l.split_whitespace()
                .nth(1)
                .unwrap()
                .split('+')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(names, oops.callers, "{frames:#?}");
    assert!(!crash.contains("machine_kexec"), "{crash}");
    // The kernel log's report of the bug: the faulting address, then its last lines.
    let log = crash
        .split("\nKERNEL LOG")
        .nth(1)
        .unwrap_or_else(|| panic!("no log lines: {crash}"));
    let address = oops.address.trim_start_matches("0x");
    assert!(
        log.contains(&format!(
            "BUG: kernel NULL pointer dereference, address: {address}"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!("RIP: 0010:{}+", oops.function)),
        "{log}"
    );
    assert!(log.lines().count() < 30, "{log}");

    let (status, json, _) = holdup(&[&path, "--json"]);
    assert_eq!(status, 1);
    let r: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(r["outcome"], "no_hang");
    assert_eq!(r["crash"]["pid"], oops.pid);
    assert_eq!(r["crash"]["fault"]["kind"], "oops");
    assert_eq!(r["crash"]["fault"]["function"], oops.function.as_str());
    assert_eq!(r["crash"]["fault"]["module"], "hangmod");
    assert!(r["crash_log"].as_array().is_some_and(|l| !l.is_empty()));
}

#[test]
fn triage_signs_an_oops_by_its_faulting_function() {
    let (path, oops) = the_oops();
    let (status, out, err) = holdup(&["triage", "-q", &path]);
    assert_eq!(status, 0, "{err}");
    let line: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    // Still no hang (scripts select hangs by status), but not the signature of "no hang".
    assert_eq!(line["status"], "no_hang", "{line}");
    assert_eq!(
        line["signature_text"],
        format!("oops in {} [hangmod]", oops.function),
        "{line}"
    );
    assert_eq!(line["crash"]["kind"], "oops");
    assert_eq!(line["crash"]["function"], oops.function.as_str());
    assert_eq!(line["crash"]["pid"], oops.pid);
    // Hung dumps have no crash of their own.
    let m = manifest();
    let hung = m.fixture("6.1").path("vmcore.kdump-zlib");
    let (_, out, _) = holdup(&["triage", "-q", hung.to_str().unwrap()]);
    let hung: Value = serde_json::from_str(out.lines().next().unwrap()).unwrap();
    assert!(hung.get("crash").is_none(), "{hung}");
    assert_ne!(hung["signature"], line["signature"]);
}
