//! Batch triage of vmcores: find the dumps ([`discover`]), analyse each one into one JSON
//! line ([`triage`]), and name each hang with a signature that is the same wherever the same
//! bug hangs a machine ([`signature`]). The line's schema is in `docs/triage.md`.
//!
//! One dump is one unit of work: [`triage`] never fails and never panics out (a damaged dump
//! gives a line with `errors`), so callers can run any number of them in parallel, in one
//! process or across a job system, and merge the lines.

pub mod debuginfo;
pub mod discover;
pub mod signature;

use discover::{Found, Layout, panic_from_dmesg};
use holdup_analysis::crash::crash_summary;
use holdup_analysis::hang::{HangOptions, analyse_hang};
use holdup_analysis::{Analysis, RootCause, RootKind, WaitGraph};
use holdup_kernel::sched::Task;
use holdup_kernel::stack::unwind::Unwinder;
use holdup_kernel::sysinfo::{kernel_log, system_info};
use holdup_kernel::{BuildCache, Kernel, OpenOptions};
use serde::{Deserialize, Serialize};
use signature::{FrameName, LockSig, RootInput, Signature};
use std::collections::{BTreeSet, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Version of the line schema: fields are only added within a version.
pub const SCHEMA_VERSION: u32 = 1;

/// What became of a dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Blocked tasks, explained.
    Hang,
    /// No blocked task.
    NoHang,
    /// The dump could not be analysed: see `errors`.
    Error,
}

/// One line of `holdup triage`: one dump.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TriageLine {
    pub schema_version: u32,
    /// The dump, as found (relative if the folder given was).
    pub path: String,
    pub layout: Layout,
    /// The kernel log the capture tool saved beside the dump.
    pub dmesg: Option<String>,
    pub status: Status,
    /// `uname -r` of the dumped kernel (VMCOREINFO `OSRELEASE`).
    pub release: Option<String>,
    /// The vmlinux used, if any (given or found under the debug folder).
    pub vmlinux: Option<String>,
    /// The panic message (`Kernel panic - not syncing: ...`), from the dump's log or else
    /// from the saved dmesg file.
    pub panic: Option<String>,
    /// Tasks in uninterruptible sleep.
    pub blocked_tasks: Option<usize>,
    pub root_causes: Vec<RootLine>,
    /// The dump's hang signature (12 hex digits), `null` on error.
    pub signature: Option<String>,
    /// What it names: the root causes' labels, sorted.
    pub signature_text: Option<String>,
    /// A dump with no blocked task that crashed: where (its signature is this crash's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crash: Option<CrashLine>,
    /// How many things in the dump could not be read (the report's `problems`).
    pub problems: usize,
    /// Why the dump could not be analysed; empty when it was.
    pub errors: Vec<String>,
    /// Wall time of this dump's analysis.
    pub seconds: f64,
}

/// The crash of a dump with no blocked task, as a line summarises it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CrashLine {
    /// `oops` (an exception in kernel code) or `panic` (a call to `panic()`).
    pub kind: String,
    /// The function that faulted (the exception's RIP) or called `panic()`.
    pub function: String,
    pub module: Option<String>,
    /// The task that crashed.
    pub pid: u32,
    pub comm: String,
}

/// One root cause, as a line summarises it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RootLine {
    /// 1-based, as in the report: most tasks blocked behind first.
    pub rank: usize,
    /// As in the report's JSON: `self_deadlock`, `deadlock`, `holder_sleeping`, ...
    pub kind: String,
    /// Kinds of the locks involved: those at the end of the chains and those waited on
    /// behind them.
    pub lock_kinds: Vec<String>,
    pub comms: Vec<String>,
    pub pids: Vec<u32>,
    /// How many other tasks are blocked behind it.
    pub blocked_behind: usize,
    pub confidence: f64,
    /// 12 hex digits naming this hang.
    pub signature: String,
    /// The canonical text the signature hashes.
    pub signature_text: String,
    /// A short name for a person: kind, lock kinds, the functions of the root-cause tasks.
    pub label: String,
}

/// How to analyse each dump.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--vmlinux`: used for every dump instead of the debug-folder search.
    pub vmlinux: Option<PathBuf>,
    /// Skip the scan of every struct page for locked pages.
    pub no_page_scan: bool,
    /// BTF read from one dump, reused for the later dumps of the same kernel build
    /// (shared by every dump of a run: clones of the options share it).
    pub build_cache: Arc<BuildCache>,
}

/// Analyses one dump into its line. Never fails: what went wrong is in `errors`.
pub fn triage(found: &Found, opts: &Options) -> TriageLine {
    let start = Instant::now();
    let mut line = TriageLine {
        schema_version: SCHEMA_VERSION,
        path: found.path.display().to_string(),
        layout: found.layout,
        dmesg: found.dmesg.as_ref().map(|p| p.display().to_string()),
        status: Status::Error,
        release: None,
        vmlinux: None,
        panic: None,
        blocked_tasks: None,
        root_causes: Vec::new(),
        signature: None,
        signature_text: None,
        crash: None,
        problems: 0,
        errors: Vec::new(),
        seconds: 0.0,
    };
    match catch_unwind(AssertUnwindSafe(|| analyse(found, opts, &mut line))) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => line.errors.push(e),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            line.errors
                .push(format!("internal error: holdup panicked: {msg}"));
        }
    }
    if !line.errors.is_empty() {
        line.status = Status::Error;
        line.root_causes.clear();
        line.signature = None;
        line.signature_text = None;
    }
    if line.release.is_none() {
        // A dump too damaged to analyse may still say which kernel it is from.
        line.release = catch_unwind(|| debuginfo::dump_release(&found.path).ok())
            .ok()
            .flatten();
    }
    if line.panic.is_none()
        && let Some(d) = &found.dmesg
    {
        line.panic = panic_from_dmesg(d);
    }
    line.seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    line
}

fn analyse(found: &Found, opts: &Options, line: &mut TriageLine) -> Result<(), String> {
    let (kernel, vmlinux) = debuginfo::open_kernel_with(
        &found.path,
        opts.vmlinux.as_deref(),
        OpenOptions {
            build_cache: Some(opts.build_cache.clone()),
            ..OpenOptions::default()
        },
    )?;
    line.vmlinux = vmlinux.path().map(|p| p.display().to_string());
    line.release = kernel.dump.vmcoreinfo.osrelease().map(str::to_string);
    let log = kernel_log(&kernel).ok();
    let info = system_info(&kernel, log.as_ref());
    line.panic = info.panic_message.clone();
    if info.release.is_some() {
        line.release = info.release.clone();
    }
    let hang = analyse_hang(
        &kernel,
        &HangOptions {
            no_page_scan: opts.no_page_scan,
        },
    )
    .map_err(|e| format!("{}: cannot list tasks: {e}", found.path.display()))?;
    line.problems = hang.problems.len() + info.problems.len() + kernel.warnings.len();
    let blocked = hang.graph.tasks.values().filter(|t| t.blocked).count();
    line.blocked_tasks = Some(blocked);
    let (read, unreadable) = (hang.tasks.tasks.len(), hang.tasks.unreadable.len());
    if blocked == 0 && (read == 0 || unreadable > 0) {
        // The tasks the dump could not show may be the blocked ones: not a "no hang" (as
        // `holdup DUMP` exits 2 then).
        return Err(format!(
            "{}: no blocked task among the {read} tasks read, but {unreadable} task(s) could not be read: the dump cannot tell whether tasks hung",
            found.path.display()
        ));
    }
    let stacks = Stacks::new(&kernel, &hang.tasks.tasks, &hang.graph);
    let mut sigs = Vec::new();
    for (i, r) in hang.analysis.root_causes.iter().enumerate() {
        let (input, lock_kinds) = root_input(&hang.graph, &hang.analysis, r, &stacks);
        let sig = signature::root_signature(&input);
        let node = |t: &u64| hang.graph.tasks.get(t);
        line.root_causes.push(RootLine {
            rank: i + 1,
            kind: input.kind.clone(),
            lock_kinds,
            comms: r
                .tasks
                .iter()
                .map(|t| node(t).map_or_else(|| "?".into(), |n| n.comm.clone()))
                .collect(),
            pids: r
                .tasks
                .iter()
                .filter_map(|t| node(t).map(|n| n.pid))
                .collect(),
            blocked_behind: r.blocked_behind.len(),
            confidence: (r.confidence * 100.0).round() / 100.0,
            signature: sig.id.clone(),
            signature_text: sig.text.clone(),
            label: sig.label.clone(),
        });
        sigs.push(sig);
    }
    let faults = kernel.dump.dump.file_faults();
    if faults > 0 {
        return Err(format!(
            "{}: {faults} page(s) of the file could not be read while it was analysed (it shrank, or its filesystem could not supply them): the analysis is not trusted",
            found.path.display()
        ));
    }
    // No blocked task but a crash: the dump is named by where it crashed, not as "no hang".
    let crash = info
        .panic_cpu
        .filter(|_| blocked == 0)
        .and_then(|cpu| crash_summary(&kernel, &hang.tasks, cpu))
        .and_then(|c| {
            let f = c.fault?;
            Some(CrashLine {
                kind: f.kind.to_string(),
                function: f.function,
                module: f.module,
                pid: c.pid,
                comm: c.comm,
            })
        });
    let dump_sig: Signature = match &crash {
        Some(c) => signature::crash_signature(&c.kind, &c.function, c.module.as_deref()),
        None => signature::dump_signature(&sigs),
    };
    line.crash = crash;
    line.signature = Some(dump_sig.id);
    line.signature_text = Some(dump_sig.label);
    line.status = if blocked > 0 {
        Status::Hang
    } else {
        Status::NoHang
    };
    Ok(())
}

/// The stack signatures of the tasks a signature needs, unwound once each.
struct Stacks<'a> {
    unwinder: Unwinder<'a>,
    tasks: HashMap<u64, &'a Task>,
    graph: &'a WaitGraph,
}

impl<'a> Stacks<'a> {
    fn new(k: &'a Kernel, tasks: &'a [Task], graph: &'a WaitGraph) -> Self {
        Stacks {
            unwinder: Unwinder::new(k),
            tasks: tasks.iter().map(|t| (t.task, t)).collect(),
            graph,
        }
    }

    fn of(&self, task: u64) -> Vec<String> {
        let blocked_in = self
            .graph
            .tasks
            .get(&task)
            .and_then(|n| n.blocked_in.as_deref());
        let Some(t) = self.tasks.get(&task) else {
            return blocked_in.map(|b| vec![b.to_string()]).unwrap_or_default();
        };
        let bt = self.unwinder.backtrace(t);
        let frames: Vec<FrameName> = bt
            .reliable()
            .filter_map(|f| {
                f.function
                    .as_deref()
                    .map(|name| FrameName::new(name, f.module.as_deref()))
            })
            .collect();
        // Queued on a lock: signed by its kind (the wait the analysis follows, as for the
        // tasks behind), not by the slow path the kernel build takes to it.
        let on_lock = best_wait(self.graph, task)
            .and_then(|w| self.graph.locks.get(&w.lock))
            .map(|l| l.kind.as_str())
            .filter(|k| signature::LOCK_KINDS.contains(k));
        let sleep = match on_lock {
            Some(kind) => signature::Sleep::OnLock(kind),
            None => signature::Sleep::In(blocked_in),
        };
        signature::stack_signature(&frames, sleep)
    }
}

fn root_locks(a: &Analysis, r: &RootCause) -> Vec<u64> {
    match &r.kind {
        RootKind::Deadlock { cycle } => a.cycles.get(*cycle).map_or_else(Vec::new, |c| {
            c.locks
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        }),
        k => k.lock().into_iter().collect(),
    }
}

/// The wait of `task` the analysis follows: the most certain, the first of equals.
fn best_wait(g: &WaitGraph, task: u64) -> Option<&holdup_analysis::Wait> {
    g.waits
        .iter()
        .filter(|w| w.task == task)
        .fold(None, |best, w| match best {
            Some(b) if b.certainty.confidence() >= w.certainty.confidence() => Some(b),
            _ => Some(w),
        })
}

fn lock_sig(g: &WaitGraph, lock: u64) -> Option<LockSig> {
    let node = g.locks.get(&lock)?;
    Some(LockSig {
        kind: node.kind.clone(),
        class: signature::lock_class(&node.name),
    })
}

/// What a root cause's signature is made of, and the kinds of the locks involved.
fn root_input(
    g: &WaitGraph,
    a: &Analysis,
    r: &RootCause,
    stacks: &Stacks,
) -> (RootInput, Vec<String>) {
    let mut lock_kinds = BTreeSet::new();
    let roots: BTreeSet<u64> = r.tasks.iter().copied().collect();
    // A root held by a state of the system is named by the kind of state, not by the one of
    // its objects the analysis met first (which changes from dump to dump).
    let state = g.state_holder(&r.kind).map(|h| h.state.clone());
    let locks = root_locks(a, r)
        .into_iter()
        .filter(|_| state.is_none())
        .filter_map(|l| {
            let sig = lock_sig(g, l)?;
            lock_kinds.insert(sig.kind.clone());
            let modes: Vec<String> = g
                .holds
                .iter()
                .filter(|h| h.lock == l && roots.contains(&h.task))
                .map(|h| h.mode.clone())
                .collect();
            Some((sig, modes))
        })
        .collect();
    let tasks = r.tasks.iter().map(|&t| stacks.of(t)).collect();
    let behind = r
        .blocked_behind
        .iter()
        .map(|&t| {
            let wait = best_wait(g, t);
            let lock = wait.and_then(|w| lock_sig(g, w.lock));
            if let Some(l) = &lock {
                lock_kinds.insert(l.kind.clone());
            }
            let mode = wait.map_or_else(|| "?".to_string(), |w| w.mode.clone());
            // Behind a state of the system (a suspended device, a frozen filesystem) what
            // names the hang is the state and who is held up, not which object each task
            // sleeps on: a kernel version waits on a folio's writeback where another waits on
            // a buffer's lock for the same I/O.
            if state.is_some() {
                let callers = stacks.of(t).into_iter().skip(1).collect();
                return (None, String::new(), callers);
            }
            (lock, mode, stacks.of(t))
        })
        .collect();
    (
        RootInput {
            kind: match &state {
                Some(s) => format!("{}:{s}", r.kind.name()),
                None => r.kind.name().to_string(),
            },
            locks,
            tasks,
            behind,
        },
        lock_kinds.into_iter().collect(),
    )
}

/// The line of a dump as a JSON string (one line, no trailing newline).
pub fn to_json_line(line: &TriageLine) -> String {
    serde_json::to_string(line).unwrap_or_else(|e| {
        format!(
            "{{\"schema_version\":{SCHEMA_VERSION},\"path\":{},\"status\":\"error\",\"errors\":[\"JSON: {e}\"]}}",
            serde_json::Value::String(line.path.clone())
        )
    })
}

/// Convenience for one file: [`triage`] of a [`Found`] given as it is.
pub fn triage_path(path: &Path, opts: &Options) -> TriageLine {
    triage(
        &Found {
            path: path.to_path_buf(),
            dmesg: None,
            layout: Layout::Given,
        },
        opts,
    )
}
