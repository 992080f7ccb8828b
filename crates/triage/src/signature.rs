//! Hang signatures: a name for the hang, not for the instance.
//!
//! A root cause's signature is made of what stays the same when the same bug hangs another
//! machine, or the same machine on another kernel build:
//!
//! - the root-cause kind (`self_deadlock`, `deadlock`, `holder_sleeping`, ...);
//! - the locks at the end of the chains: their kind (`rwsem`, `mutex`, `page_lock`, ...), the
//!   mode the root-cause tasks hold them in, and their *class* when it has a name that does not
//!   depend on the instance: a static lock's symbol (`abba_m1 [hangmod]`, without offsets), or
//!   the field of a dynamic one (`mmap_lock`);
//! - the stacks of the root-cause tasks and of the tasks blocked behind them, each reduced to
//!   the function it sleeps in (the lock slow path, e.g. `rwsem_down_write_slowpath`) and the
//!   callers that say *who* took the lock: up to two module functions when the stack has any
//!   (`kscand_fn [hangmod]`), else the first kernel function past the locking API and the
//!   kernel's entry code (`sys_mincore`);
//! - for the tasks blocked behind, also the kind, class and mode of the lock each waits on.
//!
//! Never in it: addresses, pids, command names, times, KASLR offsets, function offsets, how
//! many tasks wait. Stacks are sets: ten readers queued the same way count as one.
//!
//! Names that differ between kernel builds for the same code are made one: compiler suffixes
//! (`.constprop.0`), the system-call wrappers (`__x64_sys_mincore`, `__do_sys_mincore` ->
//! `sys_mincore`), renamed slow paths (`wait_on_page_bit_common` -> `folio_wait_bit_common`);
//! the locking API between the slow path and its caller (`down_read`, `mutex_lock`,
//! `folio_lock`, inlined on some builds and not on others) is left out.
//!
//! The signature is the first 12 hex digits of the SHA-256 of a canonical text, which is
//! given too. A dump's signature hashes the sorted set of its root causes' signatures.

// The frame lists are shared with the report's caller frame (`holdup_analysis::frames`), so
// that both skip the same locking and scheduling code.
pub use holdup_analysis::frames::canonical_function;
use holdup_analysis::frames::{ENTRY, PLUMBING, SCHEDULER, locking_code};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// A frame of a stack: function name (as symbolised) and module, if in one.
#[derive(Debug, Clone)]
pub struct FrameName {
    pub function: String,
    pub module: Option<String>,
}

impl FrameName {
    pub fn new(function: &str, module: Option<&str>) -> Self {
        FrameName {
            function: function.to_string(),
            module: module.map(str::to_string),
        }
    }
}

fn frame_text(f: &FrameName) -> String {
    let name = canonical_function(&f.function);
    match &f.module {
        Some(m) => format!("{name} [{m}]"),
        None => name,
    }
}

/// How a task sleeps, as a stack signature names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sleep<'a> {
    /// Queued on a lock of this kind (`rwsem`, `mutex`, `page_lock`...): the kind names the
    /// sleep, whatever slow path the kernel takes to it (PREEMPT_RT's rt_mutex or rwbase_rt
    /// paths, or the non-RT ones), so the same bug signs the same on both.
    OnLock(&'a str),
    /// Anywhere else: in this function (`blocked_in`, as the analysis reports it), if known.
    In(Option<&'a str>),
}

/// The kinds of wait whose slow path is the lock's own (and so says nothing the kind does
/// not): their stacks are signed by the kind and the callers past the locking code.
pub const LOCK_KINDS: &[&str] = &[
    "rwsem",
    "mutex",
    "rt_mutex",
    "semaphore",
    "completion",
    "page_lock",
    "page_writeback",
    "page_bit",
    "percpu_rwsem",
    "wait_bit",
];

/// The part of a stack that names a hang: how the task sleeps (the kind of lock it is queued
/// on, or the function it sleeps in), then up to two module callers, or else the first
/// kernel caller past the locking API and before the entry code. Innermost first.
pub fn stack_signature(frames: &[FrameName], sleep: Sleep<'_>) -> Vec<String> {
    let canon: Vec<String> = frames
        .iter()
        .map(|f| canonical_function(&f.function))
        .collect();
    let mut out = Vec::new();
    // Where the task sleeps, and the callers above it.
    let (sleep, callers): (Option<String>, &[FrameName]) = match sleep {
        Sleep::OnLock(kind) => {
            let past = canon
                .iter()
                .position(|c| !locking_code(c))
                .unwrap_or(frames.len());
            (Some(kind.to_string()), &frames[past..])
        }
        Sleep::In(Some(b)) => {
            let b = canonical_function(b);
            match canon.iter().position(|c| *c == b) {
                Some(i) => (Some(frame_text(&frames[i])), &frames[i + 1..]),
                None => (Some(b), &[]),
            }
        }
        Sleep::In(None) => {
            let i = canon
                .iter()
                .position(|c| !SCHEDULER.contains(&c.as_str()))
                .unwrap_or(frames.len());
            (
                frames.get(i).map(frame_text),
                frames.get(i + 1..).unwrap_or(&[]),
            )
        }
    };
    out.extend(sleep);
    let callers: Vec<&FrameName> = callers
        .iter()
        .take_while(|f| !ENTRY.contains(&canonical_function(&f.function).as_str()))
        .filter(|f| {
            let c = canonical_function(&f.function);
            !PLUMBING.contains(&c.as_str()) && !SCHEDULER.contains(&c.as_str())
        })
        .collect();
    let modules: Vec<&&FrameName> = callers.iter().filter(|f| f.module.is_some()).collect();
    // Without a module: the system call when there is one (which filesystem's write_iter a
    // write(2) went through, or how a kernel version splits it, is not the hang's name),
    // else the first kernel function past the locking code.
    let syscall = callers
        .iter()
        .find(|f| canonical_function(&f.function).starts_with("sys_"));
    if let (true, Some(f)) = (modules.is_empty(), syscall) {
        out.push(frame_text(f));
    } else if modules.is_empty() {
        out.extend(callers.first().map(|f| frame_text(f)));
    } else {
        out.extend(modules.iter().take(2).map(|f| frame_text(f)));
    }
    out
}

/// A lock's class: a name that does not depend on the instance, from the name the analysis
/// gives it. `abba_m1 [hangmod]` and `some_struct+0x40` are static symbols (offsets dropped);
/// `mmap_lock of mm 0x... (bench, pid 96)` is the mmap_lock of some mm; `page 0x... (pfn N)`
/// and `mutex at 0x...` have none.
pub fn lock_class(name: &str) -> Option<String> {
    let ident = |s: &str| {
        !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
            && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    let (sym, module) = match name.split_once(" [") {
        Some((s, m)) => (s, m.strip_suffix(']').filter(|m| ident(m))),
        None => (name, None),
    };
    if let Some((field, _)) = sym.split_once(" of ")
        && ident(field)
        && module.is_none()
    {
        return Some(field.to_string());
    }
    let sym = sym.split_once('+').map_or(sym, |(s, _)| s);
    if !ident(sym) {
        return None;
    }
    Some(match module {
        Some(m) => format!("{sym} [{m}]"),
        None => sym.to_string(),
    })
}

/// A lock as a signature sees it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockSig {
    /// `rwsem`, `mutex`, `semaphore`, `completion`, `page_lock`, ...
    pub kind: String,
    pub class: Option<String>,
}

impl LockSig {
    fn text(&self) -> String {
        match &self.class {
            Some(c) => format!("{} {c}", self.kind),
            None => self.kind.clone(),
        }
    }
}

/// What a root cause's signature is computed from.
#[derive(Debug, Clone, Default)]
pub struct RootInput {
    /// `self_deadlock`, `deadlock`, `holder_sleeping`, ...
    pub kind: String,
    /// The locks at the end of the chains, with the modes the root-cause tasks hold them in.
    pub locks: Vec<(LockSig, Vec<String>)>,
    /// The root-cause tasks' [`stack_signature`]s.
    pub tasks: Vec<Vec<String>>,
    /// The tasks blocked behind: the lock each waits on, its mode, its stack signature.
    pub behind: Vec<(Option<LockSig>, String, Vec<String>)>,
}

/// A signature: short hex for grouping, the canonical text it hashes, and a short label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub id: String,
    pub text: String,
    pub label: String,
}

fn short_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

fn stack_text(s: &[String]) -> String {
    if s.is_empty() {
        "?".into()
    } else {
        s.join("<-")
    }
}

/// The signature of one root cause.
pub fn root_signature(r: &RootInput) -> Signature {
    let locks: BTreeSet<String> = r
        .locks
        .iter()
        .map(|(l, modes)| {
            let modes: BTreeSet<&String> = modes.iter().collect();
            if modes.is_empty() {
                l.text()
            } else {
                let m: Vec<&str> = modes.iter().map(|s| s.as_str()).collect();
                format!("{} held {}", l.text(), m.join("+"))
            }
        })
        .collect();
    let tasks: BTreeSet<String> = r.tasks.iter().map(|s| stack_text(s)).collect();
    let behind: BTreeSet<String> = r
        .behind
        .iter()
        .map(|(l, mode, s)| match (l, mode.is_empty()) {
            // Behind a state, only who is held up counts.
            (None, true) => stack_text(s),
            _ => {
                let lock = l.as_ref().map_or_else(|| "?".to_string(), LockSig::text);
                format!("{lock}/{mode} {}", stack_text(s))
            }
        })
        .collect();
    let join = |set: &BTreeSet<String>| {
        if set.is_empty() {
            "-".to_string()
        } else {
            set.iter().cloned().collect::<Vec<_>>().join("; ")
        }
    };
    let text = format!(
        "{} | locks: {} | tasks: {} | behind: {}",
        r.kind,
        join(&locks),
        join(&tasks),
        join(&behind)
    );
    // The label: kind, lock kinds, and the outermost function kept of each root task.
    let kinds: BTreeSet<&str> = r.locks.iter().map(|(l, _)| l.kind.as_str()).collect();
    let whos: BTreeSet<&str> = r
        .tasks
        .iter()
        .filter_map(|s| s.last().map(String::as_str))
        .collect();
    let mut label = r.kind.clone();
    if !kinds.is_empty() {
        label.push(' ');
        label.push_str(&kinds.into_iter().collect::<Vec<_>>().join("+"));
    }
    if !whos.is_empty() {
        label.push_str(" in ");
        label.push_str(&whos.into_iter().collect::<Vec<_>>().join(", "));
    }
    Signature {
        id: short_hash(&text),
        text,
        label,
    }
}

/// The signature of a dump with no blocked task that crashed: `kind` is `oops` (an
/// exception in kernel code) or `panic` (a call to `panic()`), named by the function that
/// faulted or called `panic()` under its one name across builds, with its module
/// (`oops in oops_deref [hangmod]`); never an offset or an address, which change between
/// builds and boots.
pub fn crash_signature(kind: &str, function: &str, module: Option<&str>) -> Signature {
    let site = frame_text(&FrameName::new(function, module));
    let text = format!("{kind} | {site}");
    Signature {
        id: short_hash(&text),
        label: format!("{kind} in {site}"),
        text,
    }
}

/// The signature of a dump: of the set of its root causes' signatures. A dump without a
/// blocked task gets the signature of `no hang`.
pub fn dump_signature(roots: &[Signature]) -> Signature {
    if roots.is_empty() {
        return Signature {
            id: short_hash("no hang"),
            text: "no hang".into(),
            label: "no hang".into(),
        };
    }
    let ids: BTreeSet<&str> = roots.iter().map(|s| s.id.as_str()).collect();
    let labels: BTreeSet<&str> = roots.iter().map(|s| s.label.as_str()).collect();
    let text = ids.into_iter().collect::<Vec<_>>().join(" ");
    Signature {
        id: short_hash(&text),
        text,
        label: labels.into_iter().collect::<Vec<_>>().join(" + "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(v: &[(&str, Option<&str>)]) -> Vec<FrameName> {
        v.iter().map(|(f, m)| FrameName::new(f, *m)).collect()
    }

    #[test]
    fn names_are_made_one_across_builds() {
        assert_eq!(
            canonical_function("__mutex_lock.constprop.0"),
            "__mutex_lock"
        );
        assert_eq!(canonical_function("__x64_sys_mincore"), "sys_mincore");
        assert_eq!(canonical_function("__do_sys_mincore"), "sys_mincore");
        assert_eq!(
            canonical_function("wait_on_page_bit_common"),
            "folio_wait_bit_common"
        );
        assert_eq!(canonical_function("kscand_fn"), "kscand_fn");
    }

    #[test]
    fn stacks_keep_the_kind_of_sleep_and_who_called_it() {
        // 6.1: down_write inlined; 6.12: not. Same signature.
        let a = frames(&[
            ("__schedule", None),
            ("schedule", None),
            ("rwsem_down_write_slowpath", None),
            ("kcollapsed_fn", Some("hangmod")),
            ("kthread", None),
            ("ret_from_fork", None),
        ]);
        let b = frames(&[
            ("__schedule", None),
            ("schedule", None),
            ("schedule_preempt_disabled", None),
            ("rwsem_down_write_slowpath", None),
            ("down_write", None),
            ("kcollapsed_fn", Some("hangmod")),
            ("kthread", None),
            ("ret_from_fork", None),
            ("ret_from_fork_asm", None),
        ]);
        let want = vec!["rwsem".to_string(), "kcollapsed_fn [hangmod]".to_string()];
        assert_eq!(stack_signature(&a, Sleep::OnLock("rwsem")), want);
        assert_eq!(stack_signature(&b, Sleep::OnLock("rwsem")), want);
        // PREEMPT_RT: the writer sleeps in rwbase_write_lock; a mutex waiter in the
        // rt_mutex slow path, with mutex_lock tail-called away.
        let rt = frames(&[
            ("__schedule", None),
            ("rt_mutex_schedule", None),
            ("rwbase_write_lock", None),
            ("kcollapsed_fn", Some("hangmod")),
            ("kthread", None),
        ]);
        assert_eq!(stack_signature(&rt, Sleep::OnLock("rwsem")), want);
        let rt_mutex = frames(&[
            ("rt_mutex_schedule", None),
            ("rt_mutex_slowlock_block.constprop.0", None),
            ("__rt_mutex_slowlock_locked.constprop.0.isra.0", None),
            ("rt_mutex_slowlock.constprop.0", None),
            ("abba_a_fn", Some("hangmod")),
        ]);
        let mutex = frames(&[
            ("schedule_preempt_disabled", None),
            ("__mutex_lock.constprop.0", None),
            ("abba_a_fn", Some("hangmod")),
        ]);
        assert_eq!(
            stack_signature(&rt_mutex, Sleep::OnLock("mutex")),
            stack_signature(&mutex, Sleep::OnLock("mutex"))
        );
        // A system call: the wrapper's name differs between 6.1 and 6.12.
        let c = frames(&[
            ("rwsem_down_read_slowpath", None),
            ("down_read", None),
            ("__do_sys_mincore", None),
            ("do_syscall_64", None),
            ("entry_SYSCALL_64_after_hwframe", None),
        ]);
        assert_eq!(
            stack_signature(&c, Sleep::OnLock("rwsem")),
            vec!["rwsem", "sys_mincore"]
        );
        // A write(2) to tmpfs: the filesystem's write_iter differs between 6.1 and 6.12; the
        // system call names it.
        for write_iter in ["generic_file_write_iter", "shmem_file_write_iter"] {
            let w = frames(&[
                ("rwsem_down_write_slowpath", None),
                ("down_write", None),
                (write_iter, None),
                ("vfs_write", None),
                ("ksys_write", None),
                ("__x64_sys_write", None),
                ("do_syscall_64", None),
            ]);
            assert_eq!(
                stack_signature(&w, Sleep::OnLock("rwsem")),
                vec!["rwsem", "sys_write"]
            );
        }
        // A holder asleep: two module frames.
        let d = frames(&[
            ("__schedule", None),
            ("schedule", None),
            ("schedule_timeout", None),
            ("sleep_forever", Some("hangmod")),
            ("rw_holder_fn", Some("hangmod")),
            ("kthread", None),
        ]);
        assert_eq!(
            stack_signature(&d, Sleep::In(Some("schedule_timeout"))),
            vec![
                "schedule_timeout",
                "sleep_forever [hangmod]",
                "rw_holder_fn [hangmod]"
            ]
        );
    }

    #[test]
    fn lock_classes_never_carry_the_instance() {
        assert_eq!(
            lock_class("abba_m1 [hangmod]").as_deref(),
            Some("abba_m1 [hangmod]")
        );
        assert_eq!(
            lock_class("mmap_lock of mm 0xffff8a0ddfee3180 (bench, pid 96)").as_deref(),
            Some("mmap_lock")
        );
        assert_eq!(lock_class("page 0xfffff90ac00ce4c0 (pfn 13203)"), None);
        assert_eq!(lock_class("mutex at 0xffff8a0ddfee3180"), None);
        assert_eq!(lock_class("rtnl_mutex").as_deref(), Some("rtnl_mutex"));
        assert_eq!(lock_class("some_state+0x40").as_deref(), Some("some_state"));
    }

    #[test]
    fn signatures_ignore_order_and_counts() {
        let lock = LockSig {
            kind: "rwsem".into(),
            class: Some("held_rwsem [hangmod]".into()),
        };
        let w = |m: &str, f: &str| {
            (
                Some(lock.clone()),
                m.to_string(),
                vec![format!("rwsem_down_{m}_slowpath"), format!("{f} [hangmod]")],
            )
        };
        let r1 = RootInput {
            kind: "holder_sleeping".into(),
            locks: vec![(lock.clone(), vec!["read".into()])],
            tasks: vec![vec![
                "schedule_timeout".into(),
                "rw_holder_fn [hangmod]".into(),
            ]],
            behind: vec![w("write", "rw_writer_fn"), w("read", "rw_reader_fn")],
        };
        let mut r2 = r1.clone();
        r2.behind.reverse();
        r2.behind.push(w("read", "rw_reader_fn"));
        let s1 = root_signature(&r1);
        assert_eq!(s1, root_signature(&r2));
        assert_eq!(s1.id.len(), 12);
        assert_eq!(s1.label, "holder_sleeping rwsem in rw_holder_fn [hangmod]");
        let mut r3 = r1.clone();
        r3.locks[0].1 = vec!["write".into()];
        assert_ne!(s1.id, root_signature(&r3).id);
        let d1 = dump_signature(&[s1.clone(), root_signature(&r3)]);
        let d2 = dump_signature(&[root_signature(&r3), s1.clone(), s1]);
        assert_eq!(d1, d2);
        assert_eq!(dump_signature(&[]).text, "no hang");
    }

    #[test]
    fn a_crash_is_signed_by_the_function_that_faulted() {
        let a = crash_signature("oops", "oops_deref", Some("hangmod"));
        assert_eq!(a.label, "oops in oops_deref [hangmod]");
        assert_eq!(a.text, "oops | oops_deref [hangmod]");
        // The same function under a compiler suffix of another build: the same signature.
        assert_eq!(
            a,
            crash_signature("oops", "oops_deref.constprop.0", Some("hangmod"))
        );
        assert_ne!(
            a.id,
            crash_signature("panic", "oops_deref", Some("hangmod")).id
        );
        assert_ne!(a.id, dump_signature(&[]).id);
    }
}
