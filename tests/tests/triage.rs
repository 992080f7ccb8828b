//! `holdup triage`: one valid JSON line per dump, for the committed fixtures as they lie in
//! `dumps/fixtures/` and laid out the way kdump tools leave them; signatures that name the
//! hang (the same scenario on 6.1 and 6.12, different scenarios apart); a damaged dump is one
//! error line and the others are still analysed; the exit statuses of `--help`.

use holdup_e2e::{
    Fixture, dumps_dir, fresh_scratch, holdup_env, manifest, manifest_all, truth_dumps,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Runs `holdup ARGS` without colour or `HOLDUP_LOG`; (status, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    holdup_env(args, &[("NO_COLOR", "1")], &["HOLDUP_LOG"])
}

/// Parses every stdout line as JSON, checking the fields every line has.
fn lines(stdout: &str) -> Vec<Value> {
    stdout
        .lines()
        .map(|l| {
            let v: Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {e}: {l}"));
            assert_eq!(v["schema_version"], 1, "{l}");
            assert!(v["path"].is_string(), "{l}");
            let status = v["status"].as_str().unwrap_or_else(|| panic!("{l}"));
            assert!(["hang", "no_hang", "error"].contains(&status), "{l}");
            let errors = v["errors"].as_array().unwrap_or_else(|| panic!("{l}"));
            assert_eq!(status == "error", !errors.is_empty(), "{l}");
            if status == "error" {
                assert!(v["signature"].is_null(), "{l}");
            } else {
                let sig = v["signature"].as_str().unwrap_or_else(|| panic!("{l}"));
                assert_eq!(sig.len(), 12, "{l}");
                assert!(sig.bytes().all(|b| b.is_ascii_hexdigit()), "{l}");
                assert!(v["blocked_tasks"].is_u64(), "{l}");
                for r in v["root_causes"].as_array().unwrap() {
                    for f in ["kind", "signature", "signature_text", "label"] {
                        assert!(r[f].is_string(), "root cause without {f}: {l}");
                    }
                    assert!(r["comms"].is_array() && r["pids"].is_array(), "{l}");
                    assert!(r["lock_kinds"].is_array(), "{l}");
                }
            }
            v
        })
        .collect()
}

fn by_path(ls: &[Value]) -> BTreeMap<String, &Value> {
    ls.iter()
        .map(|l| (l["path"].as_str().unwrap().to_string(), l))
        .collect()
}

/// Each scenario of a fixture's truth -> the signature of the root cause that names its
/// verdict's tasks.
fn scenario_signatures(fx: &Fixture, line: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for v in fx.verdicts() {
        let want: BTreeSet<u64> = v.root_cause_pids.iter().map(|&p| u64::from(p)).collect();
        let root = line["root_causes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| {
                let pids: BTreeSet<u64> = r["pids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(Value::as_u64)
                    .collect();
                want.is_subset(&pids)
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: scenario {}: no root cause with pids {want:?}: {}",
                    fx.name, v.scenario, line["root_causes"]
                )
            });
        out.insert(
            v.scenario.clone(),
            root["signature"].as_str().unwrap().to_string(),
        );
    }
    out
}

#[test]
fn the_fixtures_folder_gives_one_line_per_dump() {
    let m = manifest();
    let dir = dumps_dir().join("fixtures");
    let (status, stdout, stderr) = run(&["triage", dir.to_str().unwrap()]);
    let ls = lines(&stdout);
    let got = by_path(&ls);
    assert_eq!(got.len(), ls.len(), "a dump was reported twice");
    // Every file that is a dump is found: the full dumps and the format samples. A
    // zstd-compressed dump is not one until unpacked, and no other file is taken for one.
    let mut want = BTreeSet::new();
    for fx in &m.fixtures {
        for f in &fx.files {
            if f.role.starts_with("dump") && f.role != "dump-zst" {
                want.insert(fx.path(&f.file).display().to_string());
            }
        }
    }
    assert_eq!(
        got.keys().cloned().collect::<BTreeSet<_>>(),
        want,
        "stderr: {stderr}"
    );
    // The capture without a hang has its own checks (tests/oops_la57.rs).
    for fx in m.fixtures.iter().filter(|fx| !fx.no_hang) {
        for f in fx.files_with_role("dump") {
            let l = got[&fx.path(&f.file).display().to_string()];
            assert_eq!(l["status"], "hang", "{}: {l}", fx.name);
            assert_eq!(l["release"], fx.release.as_str(), "{l}");
            assert_eq!(l["layout"], "scanned", "{l}");
            assert!(
                l["panic"].as_str().unwrap_or("").contains("hung_task"),
                "{l}"
            );
            assert!(l["blocked_tasks"].as_u64().unwrap() >= 7, "{l}");
            // Every verdict of the truth is one of the root causes (pids and comms).
            for v in fx.verdicts() {
                assert!(
                    l["root_causes"].as_array().unwrap().iter().any(|r| {
                        v.root_cause_comms
                            .iter()
                            .all(|c| r["comms"].as_array().unwrap().iter().any(|x| x == c))
                    }),
                    "{}: scenario {} ({:?}) not among the root causes: {}",
                    fx.name,
                    v.scenario,
                    v.root_cause_comms,
                    l["root_causes"]
                );
            }
        }
    }
    let failed = ls.iter().filter(|l| l["status"] == "error").count();
    assert_eq!(
        status,
        if failed > 0 { 3 } else { 0 },
        "exit status with {failed} failed dump(s); stderr: {stderr}"
    );
}

/// The same hangs give the same signatures on every kernel and machine shape of the
/// fixtures: 6.1 and 6.12, 5-level paging, PREEMPT_RT (whose slow paths differ: rt_mutex and
/// rwbase_rt), 5.10, 7.3 (locks queued from `first_waiter`). (An incomplete dump shows fewer waiters, so other signatures: left out.)
#[test]
fn the_same_hang_gets_the_same_signature_on_every_kernel_and_machine_shape() {
    let m = manifest_all();
    let mut dumps = truth_dumps(&m);
    dumps.retain(|d| !d.0.incomplete);
    let paths: Vec<String> = dumps.iter().map(|d| d.2.display().to_string()).collect();
    let mut args = vec!["triage"];
    args.extend(paths.iter().map(String::as_str));
    let (status, stdout, stderr) = run(&args);
    assert_eq!(status, 0, "{stderr}");
    let ls = lines(&stdout);
    let got = by_path(&ls);
    let (base_fx, _, base_path) = dumps
        .iter()
        .find(|d| d.0.name == "6.1")
        .expect("the 6.1 fixture");
    let la = got[&base_path.display().to_string()];
    let sa = scenario_signatures(base_fx, la);
    assert_eq!(sa.len(), 7, "scenarios a-g: {sa:?}");
    let distinct: BTreeSet<&String> = sa.values().collect();
    assert_eq!(distinct.len(), 7, "two scenarios share a signature: {sa:?}");
    let mut shapes = BTreeSet::new();
    for (fx, f, path) in &dumps {
        let lb = got[&path.display().to_string()];
        assert_eq!(
            sa,
            scenario_signatures(fx, lb),
            "per-scenario signatures differ between 6.1 and {} {}",
            fx.name,
            f.file
        );
        assert_eq!(
            la["signature"], lb["signature"],
            "dump signatures differ: {} vs {} ({} {})",
            la["signature_text"], lb["signature_text"], fx.name, f.file
        );
        shapes.insert(fx.name.clone());
    }
    for want in ["6.1", "6.12", "6.1-la57", "6.12-rt", "5.10", "7.3"] {
        assert!(shapes.contains(want), "{want} not compared: {shapes:?}");
    }

    // Nothing of the instance in what is hashed: no address, no pid, no time.
    for l in &ls {
        let pids: BTreeSet<String> = l["root_causes"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["pids"].as_array().unwrap().iter().map(|p| p.to_string()))
            .collect();
        for r in l["root_causes"].as_array().unwrap() {
            let text = r["signature_text"].as_str().unwrap();
            assert!(!text.contains("0x"), "an address in {text}");
            for word in text.split(|c: char| !c.is_ascii_alphanumeric()) {
                assert!(!pids.contains(word), "pid {word} in {text}");
            }
            assert!(!text.contains("pid"), "{text}");
        }
    }
}

/// Links `target` at `link` (a copy where links are not possible).
fn link(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link).unwrap();
    #[cfg(not(unix))]
    std::fs::copy(target, link).unwrap();
}

/// A fresh folder under `target/fixtures/`.
fn fresh(name: &str) -> PathBuf {
    fresh_scratch(&format!("triage-{name}"))
}

#[test]
fn kdump_folder_layouts_are_found_with_their_logs() {
    let m = manifest();
    let (a, b) = (m.fixture("6.1"), m.fixture("6.12"));
    let crash = fresh("var-crash");
    // kdump-tools (Debian): /var/crash/<stamp>/dump.<stamp> + dmesg.<stamp>
    let stamp = "202611241951";
    link(
        &a.path("vmcore.kdump-zlib"),
        &crash.join(stamp).join(format!("dump.{stamp}")),
    );
    std::fs::write(
        crash.join(stamp).join(format!("dmesg.{stamp}")),
        "[   24.093000] Kernel panic - not syncing: hung_task: blocked tasks\n",
    )
    .unwrap();
    std::fs::write(crash.join(stamp).join("kexec_cmd"), "kexec -p ...\n").unwrap();
    // kexec-tools (Fedora): /var/crash/<host>-<date>/vmcore + vmcore-dmesg.txt
    let host = crash.join("127.0.0.1-2026-11-24-19:51:46");
    link(&b.path("vmcore.kdump-zlib"), &host.join("vmcore"));
    link(&b.path("crash-log.txt"), &host.join("vmcore-dmesg.txt"));
    // Too deep to be looked at with the default depth.
    link(
        &a.path("vmcore.kdump-zlib"),
        &crash.join("a/b/c/d/e/vmcore"),
    );

    let (status, stdout, stderr) = run(&["triage", crash.to_str().unwrap()]);
    assert_eq!(status, 0, "{stderr}\n{stdout}");
    let ls = lines(&stdout);
    assert_eq!(ls.len(), 2, "{stdout}");
    let got = by_path(&ls);
    let deb = got[&crash
        .join(stamp)
        .join(format!("dump.{stamp}"))
        .display()
        .to_string()];
    assert_eq!(deb["layout"], "kdump_tools");
    assert_eq!(
        deb["dmesg"],
        crash
            .join(stamp)
            .join(format!("dmesg.{stamp}"))
            .display()
            .to_string()
            .as_str()
    );
    let fed = got[&host.join("vmcore").display().to_string()];
    assert_eq!(fed["layout"], "vmcore");
    assert_eq!(
        fed["dmesg"],
        host.join("vmcore-dmesg.txt").display().to_string().as_str()
    );
    assert_eq!(deb["status"], "hang");
    assert_eq!(fed["status"], "hang");
    assert_eq!(deb["signature"], fed["signature"]);

    // Deeper search finds the third.
    let (status, stdout, _) = run(&["triage", "--max-depth", "8", crash.to_str().unwrap()]);
    assert_eq!(status, 0);
    assert_eq!(lines(&stdout).len(), 3);
    let _ = std::fs::remove_dir_all(&crash);
}

#[test]
fn a_damaged_dump_is_one_error_line_and_the_rest_is_analysed() {
    let m = manifest();
    let a = m.fixture("6.1");
    let good = a.path("vmcore.kdump-zlib");
    let dir = fresh("damaged");
    link(&good, &dir.join("good").join("vmcore"));
    // A kdump file cut after its first MiB: it starts like a dump, and is not one any more.
    let bytes = std::fs::read(&good).unwrap();
    std::fs::write(dir.join("cut.kdump"), &bytes[..1 << 20]).unwrap();
    // A vmcore that is nothing of the kind.
    std::fs::create_dir_all(dir.join("garbage")).unwrap();
    std::fs::write(dir.join("garbage").join("vmcore"), vec![0x5au8; 64 * 1024]).unwrap();
    // An empty one, where the capture failed at once.
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::write(dir.join("empty").join("vmcore-incomplete"), b"").unwrap();

    let (status, stdout, stderr) = run(&["triage", "--summary", dir.to_str().unwrap()]);
    assert_eq!(status, 3, "{stderr}");
    let ls = lines(&stdout);
    assert_eq!(ls.len(), 4, "{stdout}");
    let got = by_path(&ls);
    let ok = got[&dir.join("good/vmcore").display().to_string()];
    assert_eq!(ok["status"], "hang", "{ok}");
    assert_eq!(ok["root_causes"].as_array().unwrap().len(), 7);
    for bad in ["cut.kdump", "garbage/vmcore", "empty/vmcore-incomplete"] {
        let p = dir.join(bad).display().to_string();
        let l = got
            .get(&p)
            .unwrap_or_else(|| panic!("no line for {p}: {stdout}"));
        assert_eq!(l["status"], "error", "{l}");
        let e = l["errors"][0].as_str().unwrap();
        assert!(e.contains(bad), "the error does not name the dump: {e}");
        assert!(!e.contains("panicked"), "{e}");
    }
    // A dump cut short still says which kernel it is from.
    assert_eq!(
        got[&dir.join("cut.kdump").display().to_string()]["release"],
        a.release.as_str()
    );
    // The summary (asked for, stderr is no terminal here) groups by signature.
    assert!(stderr.contains("SIGNATURE"), "{stderr}");
    assert!(
        stderr.contains(ok["signature"].as_str().unwrap()),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "4 dump(s): 1 hung (1 signature(s)), 0 without a blocked task, 3 could not be analysed"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("3 of 4 dump(s) could not be analysed"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn exit_statuses() {
    let m = manifest();
    let a = m.fixture("6.1");
    let good = a.path("vmcore.kdump-zlib");
    let good = good.to_str().unwrap();
    // 0: every dump analysed.
    let (s, out, err) = run(&["triage", good]);
    assert_eq!(s, 0, "{err}");
    assert_eq!(lines(&out).len(), 1);
    // 3: a dump named that does not exist is an error line, the others go on.
    let (s, out, _) = run(&["triage", good, "/nonexistent/vmcore"]);
    assert_eq!(s, 3);
    let ls = lines(&out);
    assert_eq!(ls.len(), 2);
    // 2: nothing to triage (an empty folder), and a wrong command line.
    let empty = fresh("empty");
    let (s, out, err) = run(&["triage", empty.to_str().unwrap()]);
    assert_eq!(s, 2, "{err}");
    assert!(out.is_empty());
    assert!(err.contains("no dump"), "{err}");
    let (s, _, _) = run(&["triage"]);
    assert_eq!(s, 2);
    let (s, _, _) = run(&["triage", "--jobs", "many", good]);
    assert_eq!(s, 2);
    let _ = std::fs::remove_dir_all(&empty);
    // -q: the lines, and nothing else but errors.
    let (s, out, err) = run(&["triage", "-q", "--summary", good]);
    assert_eq!(s, 0);
    assert_eq!(lines(&out).len(), 1);
    assert!(err.is_empty(), "{err}");
}

#[test]
fn jobs_do_not_change_the_lines() {
    let m = manifest();
    let paths: Vec<String> = ["6.1", "6.12", "6.12-overfiltered"]
        .iter()
        .map(|n| m.fixture(n).path("vmcore.kdump-zlib").display().to_string())
        .collect();
    let args = |j: &'static str| {
        let mut v = vec!["triage", "-j", j];
        v.extend(paths.iter().map(String::as_str));
        v
    };
    let strip = |out: &str| -> BTreeMap<String, Value> {
        lines(out)
            .into_iter()
            .map(|mut l| {
                l.as_object_mut().unwrap().remove("seconds");
                (l["path"].as_str().unwrap().to_string(), l)
            })
            .collect()
    };
    let (s1, o1, e1) = run(&args("1"));
    let (s4, o4, e4) = run(&args("4"));
    assert_eq!((s1, s4), (0, 0), "{e1}{e4}");
    assert_eq!(strip(&o1), strip(&o4));
}

/// Triage reads a kernel build's BTF and kallsyms tables once: a later dump of the same build
/// (same BUILD-ID and release, equal sampled pages) reuses them, and reports exactly what it
/// reports when it reads its own. The 6.1 fixtures are two boots of one build (one with 5-level paging, so
/// another KASLR layout altogether); 6.12's are another build.
#[test]
fn tables_shared_between_dumps_of_one_build_change_nothing() {
    use holdup_kernel::{BuildCache, Kernel, OpenOptions};
    use holdup_report::{build_report, to_json};
    use std::sync::Arc;
    let m = manifest();
    let cache = Arc::new(BuildCache::default());
    let shared = OpenOptions {
        build_cache: Some(cache),
        ..OpenOptions::default()
    };
    // The report as JSON, without the lines saying where symbols and types came from.
    let report = |k: &Kernel| {
        let r = build_report(k, "dump", &Default::default()).expect("report");
        let mut v: Value = serde_json::from_str(&to_json(&r)).expect("report JSON");
        v["kernel"]["types"].take();
        v["kernel"]["symbols"].take();
        v
    };
    let mut seen = BTreeSet::new();
    let mut reused = 0;
    let dumps = m.fixtures.iter().flat_map(|fx| {
        fx.files
            .iter()
            .filter(|f| f.role == "dump" || f.role == "dump-zst")
            .map(move |f| (fx, f, holdup_e2e::dump_path(fx, f)))
    });
    for (fx, f, path) in dumps {
        let what = format!("{} {}", fx.name, f.file);
        let k = Kernel::open(&path, &shared).unwrap_or_else(|e| panic!("{what}: {e}"));
        let first_of_build = seen.insert(fx.release.clone());
        assert_eq!(
            k.types_source.contains("parsed once"),
            !first_of_build,
            "{what}: {}",
            k.types_source
        );
        assert_eq!(
            k.symbols_source.contains("earlier dump's"),
            !first_of_build,
            "{what}: {}",
            k.symbols_source
        );
        if first_of_build {
            continue;
        }
        reused += 1;
        let own =
            Kernel::open(&path, &OpenOptions::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(!own.types_source.contains("parsed once"));
        assert!(
            report(&k) == report(&own),
            "{what}: the report differs when the BTF is shared"
        );
    }
    assert!(reused >= 3, "only {reused} dumps reused a build's BTF");
}
