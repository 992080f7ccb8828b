//! The capture without a hang (`dumps/fixtures/6.1-oops-la57`, `make-dumps.sh
//! 6.1-oops-la57`): Debian's 6.1 kernel on a CPU with 5-level paging, where hangmod's kthread
//! `oopser` oopses on a NULL-pointer read and `panic_on_oops` kexecs the capture kernel. Its
//! makedumpfile wrote `vmcore.kdump-zlib` (complete) and `vmcore.kdump-zlib-enospc` (into a
//! tmpfs of 256 KiB: it ran out of space and marked the file incomplete itself).
//!
//! Checked against the truth hangmod printed and crash's `sys`, `ps`, `bt`, `bt -a` (see
//! `bt_active.rs`), `log`, `help -m`, and drgn (`drgn-oops.txt`).

use holdup_dump::{Dump, PhysicalMemory};
use holdup_e2e::{
    Fixture, Manifest, Oops, TruthLine, crash_sys_field, fixture_text, holdup, holdup_ok, manifest,
    parse_crash_backtraces, parse_hex,
};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

const NAME: &str = "6.1-oops-la57";

fn fixture(m: &Manifest) -> &Fixture {
    m.fixture(NAME)
}

/// A dump of the fixture by role, failing with what is missing.
fn dump(fx: &Fixture, role: &str) -> PathBuf {
    let f = fx.files_with_role(role).next().unwrap_or_else(|| {
        panic!(
            "fixture {}: no file with role {role} in the manifest",
            fx.name
        )
    });
    let p = fx.path(&f.file);
    assert!(
        p.exists(),
        "fixture {}: {} is missing (make it with `just dumps {NAME}`)",
        fx.name,
        p.display()
    );
    p
}

fn complete(fx: &Fixture) -> String {
    dump(fx, "dump").to_str().unwrap().to_string()
}

fn incomplete(fx: &Fixture) -> String {
    dump(fx, "dump-incomplete").to_str().unwrap().to_string()
}

fn json(args: &[&str]) -> Value {
    serde_json::from_str(&holdup_ok(args))
        .unwrap_or_else(|e| panic!("holdup {args:?}: bad JSON: {e}"))
}

/// The oops line of the truth.
fn the_oops(fx: &Fixture) -> Oops {
    let oops: Vec<Oops> = fx
        .truth()
        .into_iter()
        .filter_map(|l| match l {
            TruthLine::Oops(o) => Some(o),
            _ => None,
        })
        .collect();
    assert_eq!(oops.len(), 1, "{}: one oops line in the truth", fx.name);
    oops.into_iter().next().unwrap()
}

#[test]
fn the_fixture_is_an_oops_with_a_no_hang_verdict() {
    let m = manifest();
    let fx = fixture(&m);
    assert!(fx.no_hang, "{NAME}: the manifest marks it no_hang");
    assert_eq!(fx.kernel, "6.1");
    assert!(!fx.incomplete, "{NAME}: its main dump is complete");
    let oops = the_oops(fx);
    assert_eq!(oops.scenario, "oops");
    assert_eq!(oops.comm, "oopser");
    assert_eq!(oops.function, "oops_deref");
    assert_eq!(oops.callers[..2], ["oops_walk", "oopser_fn"]);
    assert_eq!(parse_hex(&oops.address), 0x10, "a read at NULL + 0x10");
    assert!(
        parse_hex(&oops.task) >= 0xff00_0000_0000_0000,
        "{}",
        oops.task
    );
    let verdicts = fx.verdicts();
    assert_eq!(verdicts.len(), 1, "{NAME}: one verdict");
    let v = &verdicts[0];
    assert_eq!(v.verdict.as_deref(), Some("no-hang"));
    assert!(v.root_cause_pids.is_empty() && v.root_cause_comms.is_empty() && !v.cycle);
    assert!(fx.facts().is_empty(), "{NAME}: no hang, no lock facts");
    // The console shows the oops, and no hung-task report.
    let serial = fixture_text(fx, "serial.log");
    assert!(serial.contains("BUG: kernel NULL pointer dereference, address: 0000000000000010"));
    assert!(serial.contains("RIP: 0010:oops_deref+"));
    assert!(
        !serial.contains("blocked for more than"),
        "a hung-task report"
    );
    // makedumpfile in the capture kernel: complete, then out of space.
    let meta: Value = serde_json::from_str(&fixture_text(fx, "meta.json")).expect("meta.json");
    let runs = &meta["makedumpfile_runs"];
    assert_eq!(runs["vmcore.kdump-zlib"]["exit_status"], 0, "{runs}");
    assert_eq!(runs["vmcore.kdump-zlib"]["header_status"], "0x1", "{runs}");
    assert_eq!(runs["vmcore.kdump-zlib-enospc"]["exit_status"], 1, "{runs}");
    assert_eq!(
        runs["vmcore.kdump-zlib-enospc"]["header_status"], "0x9",
        "{runs}"
    );
    let msgs = runs["vmcore.kdump-zlib-enospc"]["messages"].to_string();
    assert!(msgs.contains("No space left on device"), "{msgs}");
    assert!(msgs.contains("This is an incomplete dumpfile"), "{msgs}");
}

#[test]
fn info_shows_the_oops_and_5_level_paging_like_crash_and_drgn() {
    let m = manifest();
    let fx = fixture(&m);
    let path = complete(fx);
    let info = json(&["info", "--json", &path]);
    let sys = fixture_text(fx, "crash-sys.txt");
    assert_eq!(info["release"], fx.release.as_str());
    assert_eq!(info["release"], crash_sys_field(&sys, "RELEASE").as_str());
    assert_eq!(info["version"], crash_sys_field(&sys, "VERSION").as_str());
    let ram = info["ram_bytes"].as_u64().expect("ram_bytes");
    assert_eq!(
        format!("{:.1} MB", ram as f64 / 1048576.0),
        crash_sys_field(&sys, "MEMORY")
    );
    let cpus: u64 = crash_sys_field(&sys, "CPUS").parse().expect("CPUS");
    assert_eq!(info["cpus"], cpus);
    // crash: PANIC: "Oops: 0000 [#1] PREEMPT SMP NOPTI" (check log for details)
    let panic = crash_sys_field(&sys, "PANIC");
    let panic = panic.split('"').nth(1).expect("quoted panic message");
    assert!(panic.starts_with("Oops: "), "crash: {panic}");
    assert_eq!(info["panic_message"], panic, "the panic message");
    let oops = the_oops(fx);
    assert_eq!(info["panic_task"]["pid"], oops.pid);
    assert_eq!(info["panic_task"]["comm"], oops.comm.as_str());
    assert_eq!(
        parse_hex(info["panic_task"]["task"].as_str().unwrap()),
        parse_hex(&oops.task)
    );
    // 5-level paging: VMCOREINFO, crash (VM_5LEVEL), drgn and holdup agree.
    assert!(
        fixture_text(fx, "vmcoreinfo.txt")
            .lines()
            .any(|l| l == "NUMBER(pgtable_l5_enabled)=1"),
        "VMCOREINFO says 5-level paging"
    );
    assert!(fixture_text(fx, "crash-help-m.txt").contains("VM_5LEVEL"));
    assert!(fixture_text(fx, "drgn-oops.txt").contains("sys pgtable_l5_enabled 1"));
    assert_eq!(info["paging_levels"], 5);
    let text = holdup_ok(&["info", &path]);
    assert!(text.contains("PAGING: 5-level"), "{text}");
    assert!(text.contains(&format!("PANIC: \"{panic}\"")), "{text}");
    // A 5-level kernel's direct map: above the 4-level range.
    let drgn = fixture_text(fx, "drgn-oops.txt");
    let pob = drgn
        .lines()
        .find_map(|l| l.strip_prefix("sys page_offset_base "))
        .expect("drgn page_offset_base");
    assert!(
        parse_hex(pob) < 0xff80_0000_0000_0000,
        "5-level direct map: {pob}"
    );
    // The 4-level fixtures say so too.
    let hang = m.fixture("6.1");
    let hang_path = hang.path("vmcore.kdump-zlib");
    let hang_info = json(&["info", "--json", hang_path.to_str().unwrap()]);
    assert_eq!(hang_info["paging_levels"], 4);
}

#[test]
fn ps_lists_the_tasks_and_states_crash_lists() {
    let m = manifest();
    let fx = fixture(&m);
    let ps = json(&["ps", "--json", &complete(fx)]);
    let tasks = ps["tasks"].as_array().expect("tasks");
    assert!(
        ps["unreadable"].as_array().unwrap().is_empty(),
        "{}",
        ps["unreadable"]
    );
    let shown = |t: &Value| {
        let comm = t["comm"].as_str().unwrap();
        if t["kernel_thread"] == true {
            format!("[{comm}]")
        } else {
            comm.to_string()
        }
    };
    let ours: BTreeSet<(u64, u64, String, String, bool)> = tasks
        .iter()
        .map(|t| {
            (
                t["pid"].as_u64().unwrap(),
                parse_hex(t["task"].as_str().unwrap()),
                shown(t),
                t["ps_state"].as_str().unwrap().to_string(),
                t["current"] == true,
            )
        })
        .collect();
    let text = fixture_text(fx, "crash-ps.txt");
    let crash: BTreeSet<(u64, u64, String, String, bool)> = text
        .lines()
        .skip_while(|l| !l.contains("PID"))
        .skip(1)
        .filter_map(|l| {
            let active = l.starts_with('>');
            let f: Vec<&str> = l.trim_start_matches('>').split_whitespace().collect();
            (f.len() >= 9).then(|| {
                (
                    f[0].parse().expect("pid"),
                    parse_hex(f[3]),
                    f[8..].join(" "),
                    f[4].to_string(),
                    active,
                )
            })
        })
        .collect();
    assert!(crash.len() > 40, "crash ps lists {} tasks", crash.len());
    assert_eq!(
        ours, crash,
        "(pid, task, comm, state, running) differ from crash's ps"
    );
    // No hang: nobody in D state; the oopsing task is running.
    assert!(ours.iter().all(|t| t.3 != "UN"), "a task in D state");
    let oops = the_oops(fx);
    assert!(
        ours.contains(&(
            u64::from(oops.pid),
            parse_hex(&oops.task),
            format!("[{}]", oops.comm),
            "RU".into(),
            true
        )),
        "the oopsing kthread running on its CPU"
    );
}

#[test]
fn bt_of_the_oopsing_task_crosses_the_page_fault_frame_like_crash() {
    let m = manifest();
    let fx = fixture(&m);
    let oops = the_oops(fx);
    // Without a task, bt shows the one that panicked, as crash's `bt` does.
    let bt = json(&["bt", "--json", &complete(fx)]);
    let tasks = bt["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1);
    let t = &tasks[0];
    assert_eq!(t["task"]["pid"], oops.pid);
    let frames: Vec<&Value> = t["backtrace"]["frames"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["reliable"] == true)
        .collect();
    let names: Vec<String> = frames
        .iter()
        .map(|f| {
            let n = f["function"].as_str().unwrap_or("?");
            n.split('.').next().unwrap().to_string()
        })
        .collect();
    let crash = parse_crash_backtraces(&fixture_text(fx, "crash-bt.txt"));
    assert_eq!(crash.len(), 1, "crash bt shows one task");
    let c = &crash[0];
    assert_eq!(c.pid, oops.pid, "crash's panic task");
    let want: Vec<&str> = c.frames.iter().map(|f| f.function.as_str()).collect();
    assert_eq!(names, want, "reliable frames differ from crash's bt");
    for (f, fr) in c.frames.iter().zip(&frames) {
        if let Some(slot) = f.slot {
            assert_eq!(
                parse_hex(fr["sp"].as_str().unwrap()),
                slot,
                "slot of {}",
                f.function
            );
        }
    }
    // The exception frame: the page-fault entry, then the faulting module function with the
    // registers of the fault, then its callers.
    let at = names
        .iter()
        .position(|n| *n == oops.function)
        .unwrap_or_else(|| panic!("{} not on the stack: {names:?}", oops.function));
    assert_eq!(names[at - 1], "asm_exc_page_fault", "{names:?}");
    let exc = frames[at];
    assert_eq!(exc["module"], "hangmod");
    assert_eq!(exc["via"], "pt_regs");
    let regs = &exc["regs"];
    assert_eq!(regs["full"], true);
    assert_eq!(regs["user_mode"], false);
    assert_eq!(
        regs["values"]["ip"].as_str(),
        exc["ip"].as_str(),
        "the registers of the fault"
    );
    let callers: Vec<&str> = names[at + 1..].iter().map(String::as_str).collect();
    assert_eq!(
        callers, oops.callers,
        "the callers below the exception frame"
    );
    assert_eq!(frames[at + 1]["module"], "hangmod");
    assert_eq!(names[0], "machine_kexec", "{names:?}");
    assert_eq!(t["backtrace"]["end"]["kind"], "complete");
    // drgn starts from the NT_PRSTATUS registers (the fault's): the same functions from the
    // exception frame on.
    let drgn = fixture_text(fx, "drgn-oops.txt");
    let crashed = drgn
        .split("bt-crashed")
        .nth(1)
        .expect("drgn-oops.txt has the crashed thread");
    let drgn_names: Vec<&str> = crashed
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix('#'))
        .filter(|l| !l.ends_with("inline"))
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|f| f.split(['+', '.']).next().unwrap())
        .collect();
    assert_eq!(
        drgn_names,
        names[at..].iter().map(String::as_str).collect::<Vec<_>>(),
        "drgn's stack of the crashed thread"
    );
    // The text output shows the exception frame as crash does.
    let text = holdup_ok(&["bt", &complete(fx)]);
    assert!(
        text.contains("[exception RIP: oops_deref+0x5/"),
        "text output: {text}"
    );
}

#[test]
fn log_holds_every_line_of_crash_log() {
    let m = manifest();
    let fx = fixture(&m);
    let ours = holdup_ok(&["log", &complete(fx)]);
    let ours: Vec<&str> = ours.lines().collect();
    let crash = fixture_text(fx, "crash-log.txt");
    let mut at = 0;
    let mut missing = Vec::new();
    let mut n = 0;
    for want in crash.lines().filter(|l| l.starts_with('[')) {
        n += 1;
        match ours[at..].iter().position(|l| *l == want) {
            Some(i) => at += i + 1,
            None => missing.push(want),
        }
    }
    assert!(n > 300, "crash log has {n} lines");
    assert!(
        missing.is_empty(),
        "{} of {n} crash log lines missing from holdup log (or out of order), first: {:?}",
        missing.len(),
        &missing[..missing.len().min(3)]
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("holdup-truth: {\"kind\":\"oops\""))
    );
    assert!(ours.iter().any(|l| l.contains("Oops: 0000 [#1]")));
}

#[test]
fn the_report_finds_no_hang() {
    let m = manifest();
    let fx = fixture(&m);
    let path = complete(fx);
    // README: exit status 1 = the report found no blocked task.
    let (status, out, err) = holdup(&[&path]);
    assert_eq!(status, 1, "stdout: {out}\nstderr: {err}");
    assert!(err.contains("no blocked task"), "stderr: {err}");
    assert!(out.contains("0 tasks blocked"), "stdout: {out}");
    let oops = the_oops(fx);
    assert!(
        out.contains(&format!("by {} (pid {})", oops.comm, oops.pid)) && out.contains("Oops: "),
        "the report names the oops: {out}"
    );
    let (status, out, err) = holdup(&[&path, "--json"]);
    assert_eq!(status, 1, "--json: {err}");
    let r: Value = serde_json::from_str(&out).expect("the report's JSON parses");
    assert_eq!(r["summary"]["blocked_tasks"], 0, "{}", r["summary"]);
    assert_eq!(r["summary"]["root_causes"], 0);
    assert!(
        r["panic"]["message"]
            .as_str()
            .is_some_and(|s| s.starts_with("Oops: ")),
        "{}",
        r["panic"]
    );
    assert_eq!(r["panic"]["pid"], oops.pid);
    // triage: one line per dump; the oops is no hang, the incomplete one cannot be read.
    let (status, out, err) = holdup(&["triage", "-q", &path, &incomplete(fx)]);
    assert_eq!(status, 3, "one of two dumps cannot be analysed: {err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("triage line"))
        .collect();
    let line = |p: &str| {
        lines
            .iter()
            .find(|l| l["path"] == p)
            .unwrap_or_else(|| panic!("no triage line for {p}: {out}"))
    };
    assert_eq!(line(&path)["status"], "no_hang");
    assert_eq!(line(&path)["blocked_tasks"], 0);
    assert!(
        line(&path)["panic"]
            .as_str()
            .is_some_and(|s| s.starts_with("Oops: ")),
        "{}",
        line(&path)
    );
    let bad = line(&incomplete(fx));
    assert_eq!(bad["status"], "error");
    assert!(bad["errors"].to_string().contains("incomplete"), "{bad}");
}

#[test]
fn the_dump_makedumpfile_left_incomplete_says_so_and_what_is_missing() {
    let m = manifest();
    let fx = fixture(&m);
    let path = incomplete(fx);
    // The header flag, as makedumpfile 1.7.2 sets it on ENOSPC: zlib | incomplete.
    let d = Dump::open(&path).expect("an incomplete dump opens");
    let h = d.kdump_header().expect("a kdump header");
    assert!(h.incomplete, "DUMP_DH_COMPRESSED_INCOMPLETE");
    assert_eq!(h.status, 0x9);
    let warn = d
        .warnings()
        .iter()
        .find(|w| w.contains("incomplete"))
        .unwrap_or_else(|| panic!("no warning about the flag: {:?}", d.warnings()));
    assert!(
        warn.contains(&format!(
            "of the {} pages it meant to dump were written",
            h.dumped_pages
        )),
        "{warn}"
    );
    // crash refuses it the same way (its own incomplete-dumpfile warning).
    assert!(fixture_text(fx, "crash-enospc.txt").contains("This dumpfile is incomplete"));
    // The pages makedumpfile did write are the complete dump's pages, byte for byte.
    let full = Dump::open(complete(fx)).expect("the complete dump");
    let (mut same, mut missing) = (0, 0);
    let mut a = vec![0u8; 4096];
    let mut b = vec![0u8; 4096];
    for pfn in 0..h.max_mapnr {
        if d.read_phys(pfn << 12, &mut a).is_err() {
            missing += 1;
            continue;
        }
        full.read_phys(pfn << 12, &mut b).unwrap_or_else(|e| {
            panic!("pfn {pfn:#x} in the incomplete dump, not the complete one: {e}")
        });
        assert_eq!(a, b, "pfn {pfn:#x}");
        same += 1;
    }
    assert!(
        same > 100 && missing > same,
        "{same} pages read, {missing} not"
    );
    // holdup info and the report: exit status 2 (README: the dump could not be read, no
    // symbols), naming the missing page and the flag; never a panic.
    for args in [vec!["info", path.as_str()], vec![path.as_str()]] {
        let (status, out, err) = holdup(&args);
        assert_eq!(status, 2, "holdup {args:?}: stdout {out}\nstderr {err}");
        assert!(!err.contains("panicked"), "holdup {args:?}: {err}");
        assert!(
            err.contains("the dump is marked incomplete") && err.contains("never written"),
            "holdup {args:?} says the dump is incomplete: {err}"
        );
        assert!(
            err.contains("kallsyms") && err.contains("is not in the dump"),
            "holdup {args:?} names what is missing: {err}"
        );
        assert!(
            err.contains("makedumpfile stopped after pfn"),
            "holdup {args:?} says where makedumpfile stopped: {err}"
        );
    }
}
