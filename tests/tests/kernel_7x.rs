//! Debian's newest kernel (7.3, `dumps/pending/7.3`): holdup opens it from the dump alone
//! (place-relative kallsyms; `symbols_types.rs` checks the symbols and types), and unwinds
//! every blocked task with its ORC data although 7.1 renumbered the ORC registers: the frames
//! equal drgn's (crash cannot read 7.3; drgn on the capture's ELF copy is the oracle). Its
//! mutexes, semaphores and rw_semaphores queue their waiters from `first_waiter` in a ring of
//! records with no list head: found from the waiters' stacks, and checked against what the
//! hung-task code recorded in `task_struct.blocker` (the truth tests run on it too).

use holdup_e2e::{fixture_text, holdup, manifest_all, newest_dumps, parse_hex};
use holdup_kernel::locking::{self, LockKind};
use holdup_kernel::{Kernel, OpenOptions, sched};
use serde_json::Value;

/// A frame's function as both tools can name it: `entry_SYSCALL_64_after_hwframe` is a
/// label inside `entry_SYSCALL_64` (kallsyms has it, drgn names the function around it).
fn canonical(f: &str) -> String {
    let f = f.split('.').next().unwrap();
    if f.starts_with("entry_SYSCALL_64") {
        "entry_SYSCALL_64".into()
    } else {
        f.into()
    }
}

/// drgn's stack of each D task: pid -> the functions of its frames that are not inlined.
fn drgn_stacks(text: &str) -> Vec<(u64, Vec<String>)> {
    let mut out: Vec<(u64, Vec<String>)> = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("pid ") {
            let pid = rest.split_whitespace().next().unwrap().parse().unwrap();
            out.push((pid, Vec::new()));
        } else if let Some(frame) = l.trim_start().strip_prefix('#') {
            let mut w = frame.split_whitespace();
            let _level = w.next();
            let sym = w.next().unwrap_or("");
            if l.trim_end().ends_with("inline") {
                continue;
            }
            // A module function drgn cannot name (no debug info for hangmod): any function
            // matches; a user-space address ends the kernel's frames.
            if sym.starts_with("0x") {
                if sym.starts_with("0xffff") {
                    if let Some((_, frames)) = out.last_mut() {
                        frames.push("?".into());
                    }
                }
                continue;
            }
            if let Some((_, frames)) = out.last_mut() {
                frames.push(canonical(sym.split('+').next().unwrap()));
            }
        }
    }
    out
}

#[test]
fn every_blocked_task_unwinds_as_drgn_unwinds_it() {
    let m = manifest_all();
    let dumps = newest_dumps(&m);
    assert!(!dumps.is_empty(), "no 7.x fixture in the manifest");
    for (fx, f, path) in dumps {
        let drgn = drgn_stacks(&fixture_text(fx, "drgn-D-stacks.txt"));
        assert!(
            drgn.len() >= 7,
            "{}: drgn lists {} D tasks",
            fx.name,
            drgn.len()
        );
        let (st, out, err) = holdup(&["bt", path.to_str().unwrap(), "--state", "D", "--json"]);
        assert_eq!(st, 0, "{err}");
        let v: Value = serde_json::from_str(&out).expect("JSON");
        let mut compared = 0;
        for t in v["tasks"].as_array().unwrap() {
            let pid = t["task"]["pid"].as_u64().unwrap();
            let Some((_, want)) = drgn.iter().find(|(p, _)| *p == pid) else {
                continue;
            };
            let got: Vec<String> = t["backtrace"]["frames"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|fr| fr["reliable"] == true)
                .filter_map(|fr| fr["function"].as_str())
                .map(canonical)
                .collect();
            // drgn goes on into user space (a system call's frames end at entry_SYSCALL_64);
            // holdup's kernel frames must be drgn's, in order.
            let n = got.len().min(want.len());
            let same = got[..n]
                .iter()
                .zip(&want[..n])
                .all(|(g, w)| w == "?" || g == w);
            assert!(
                n >= 4 && same,
                "{} {}: pid {pid}: holdup {got:?}, drgn {want:?}",
                fx.name,
                f.file
            );
            compared += 1;
        }
        assert!(
            compared >= 7,
            "{}: only {compared} tasks compared with drgn",
            fx.name
        );
    }
}

/// Every task queued on a mutex, semaphore or rw_semaphore of 7.3 is found from its waiter
/// record in the lock's ring (a fact), and `task_struct.blocker` names the same lock: the
/// kernel's own record of what the task blocks on agrees with the queue holdup walked. A
/// blocker naming another lock would be a wait of its own, from the blocker alone: none is.
#[test]
fn ring_queued_waits_agree_with_the_blocker_the_kernel_recorded() {
    let m = manifest_all();
    for (fx, f, path) in newest_dumps(&m) {
        let k = Kernel::open(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (tasks, _) = sched::for_each_task(&k).expect("tasks");
        let a = locking::analyze(&k, &tasks).expect("lock analysis");
        let what = format!("{} {}", fx.name, f.file);
        let kinds = [LockKind::Mutex, LockKind::Semaphore, LockKind::Rwsem];
        let queued: Vec<_> = a
            .waits
            .iter()
            .filter(|w| kinds.contains(&w.lock.kind))
            .collect();
        let truth_waiters = fx
            .facts()
            .iter()
            .filter(|t| {
                t.role == holdup_e2e::Role::Waiter
                    && matches!(
                        t.lock_type,
                        holdup_e2e::LockType::Mutex
                            | holdup_e2e::LockType::Semaphore
                            | holdup_e2e::LockType::Rwsem
                    )
            })
            .count();
        assert!(
            queued.len() >= truth_waiters && truth_waiters >= 8,
            "{what}: {} waits found, truth has {truth_waiters}",
            queued.len()
        );
        for w in queued {
            let source = match &w.evidence {
                locking::Evidence::Fact { source, .. } => source.clone(),
                e => panic!(
                    "{what}: wait of {:#x} on {} is not a fact: {e}",
                    w.task, w.lock
                ),
            };
            assert!(
                source.contains("first_waiter"),
                "{what}: wait of {:#x} on {} comes from {source}, not the lock's ring",
                w.task,
                w.lock
            );
            let blocker = w
                .detail
                .iter()
                .find(|d| d.0 == "task_struct.blocker")
                .map(|d| d.1.as_str());
            assert_eq!(
                blocker,
                Some("agrees"),
                "{what}: task {:#x} on {}",
                w.task,
                w.lock
            );
            assert!(
                fx.facts()
                    .iter()
                    .any(|t| parse_hex(&t.task) == w.task && parse_hex(&t.lock) == w.lock.addr),
                "{what}: wait of {:#x} on {} is not in the truth",
                w.task,
                w.lock
            );
        }
    }
}

/// 7.0 dropped `kallsyms_relative_base`, so the tables lie names, markers (ending where the
/// token table starts, not 8-aligned), token table and index, offsets, sequence numbers: found
/// so, a command that needs a few symbols looks them up by name instead of expanding 200,000.
#[test]
fn a_few_symbols_are_looked_up_by_name_on_7x() {
    let m = manifest_all();
    for (fx, f, path) in newest_dumps(&m) {
        let (st, _, err) = holdup(&["-v", "info", path.to_str().unwrap()]);
        assert_eq!(st, 0, "{err}");
        assert!(
            err.contains("looked up by name"),
            "{} {}: kallsyms expanded whole: {err}",
            fx.name,
            f.file
        );
    }
}
