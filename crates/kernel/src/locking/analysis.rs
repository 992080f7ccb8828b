//! Everything at once: what each task waits on, and every lock with waiters or a locked page,
//! with its holders (facts, or ranked inferences) and its ordered waiters.

use super::holders::HolderCx;
use super::name::{MmUsers, lock_name};
use super::state::{KindState, StateCx, read_state};
use super::waits::{Layouts, StackBackedMemory, Stacks, WaitCx, find_waits};
use super::{Holder, Known, LockId, LockKind, LockObject, LockState, Wait, rank_holders};
use crate::Kernel;
use crate::mm::{PageScan, PageWaiter};
use holdup_kmem::ReadError;
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Options of [`analyze_with`].
#[derive(Debug, Clone)]
pub struct AnalyzeOptions {
    /// Scan every struct page for `PG_locked` (parallel; finds locked pages nobody waits for).
    pub scan_pages: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        AnalyzeOptions { scan_pages: true }
    }
}

/// The result of [`analyze`].
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LockAnalysis {
    /// Every wait found, in the order of the tasks given.
    pub waits: Vec<Wait>,
    /// Every lock with waiters, every locked page, and every lock a waiter's lock names as
    /// held; by kind, then address.
    pub locks: Vec<LockState>,
    /// All entries of the page wait table.
    pub page_waiters: Vec<Known<PageWaiter>>,
    pub page_scan: Option<PageScan>,
    /// What could not be read or did not add up.
    pub problems: Vec<String>,
}

impl LockAnalysis {
    /// What `task` waits on.
    pub fn waits_of(&self, task: u64) -> Vec<&Wait> {
        self.waits.iter().filter(|w| w.task == task).collect()
    }

    /// The state of one lock.
    pub fn lock(&self, id: LockId) -> Option<&LockState> {
        self.locks.iter().find(|l| l.id == id)
    }

    /// The locks `task` holds or is a candidate holder of, with its entry.
    pub fn held_by(&self, task: u64) -> Vec<(&LockState, &Holder)> {
        self.locks
            .iter()
            .flat_map(|l| l.holders.iter().map(move |h| (l, h)))
            .filter(|(_, h)| h.who.task() == Some(task))
            .collect()
    }
}

/// [`analyze_with`] with the default options.
pub fn analyze(k: &Kernel, tasks: &[u64]) -> Result<LockAnalysis, ReadError> {
    analyze_with(k, tasks, &AnalyzeOptions::default())
}

/// Finds what each of `tasks` waits on (see [`super::waits`]), decodes every lock involved,
/// names holders (facts where the kernel records them, ranked inferences where it does not)
/// and, optionally, scans all struct pages for locked ones.
pub fn analyze_with(
    k: &Kernel,
    tasks: &[u64],
    opts: &AnalyzeOptions,
) -> Result<LockAnalysis, ReadError> {
    analyze_keeping_stacks(k, tasks, opts).map(|(a, _)| a)
}

/// [`analyze_with`], also giving back the stacks it read, so that a caller going on to
/// unwind them reads them from memory rather than from the dump again (through
/// [`super::waits::StackBackedMemory`]).
pub fn analyze_keeping_stacks(
    k: &Kernel,
    tasks: &[u64],
    opts: &AnalyzeOptions,
) -> Result<(LockAnalysis, Stacks), ReadError> {
    let layouts = Layouts::new(k)?;
    let mut problems = layouts.problems.clone();
    let stacks = Stacks::read(k, &layouts, tasks);
    problems.extend(stacks.problems.iter().cloned());
    let stack_backed = StackBackedMemory {
        inner: k.mem(),
        stacks: &stacks,
    };
    let mem: &dyn holdup_kmem::KernelMemory = &stack_backed;
    let cx = WaitCx {
        mem,
        ..WaitCx::new(k, &layouts, &stacks)
    };

    let mut waits: Vec<Wait> = tasks.par_iter().flat_map(|&t| find_waits(&cx, t)).collect();

    // The page wait table, walked from its side: every waiter there, even one whose stack
    // could not be read.
    let mut page_waiters = Vec::new();
    if let Some(t) = &layouts.wait_table {
        let (pw, p) = t.walk(mem);
        problems.extend(p);
        let found: HashSet<u64> = waits.iter().map(|w| w.record).collect();
        for w in &pw {
            let v = &w.value;
            if v.is_wait_page_queue && !found.contains(&v.record) {
                waits.push(Wait {
                    task: v.task,
                    lock: LockId {
                        kind: v.kind,
                        addr: v.folio,
                    },
                    mode: v.mode,
                    record: v.record,
                    position: None,
                    detail: vec![
                        ("bit_nr".into(), v.bit_nr.to_string()),
                        ("exclusive".into(), v.exclusive.to_string()),
                        ("bucket".into(), v.bucket.to_string()),
                        ("found".into(), "from the wait table only".into()),
                    ],
                    evidence: w.evidence.clone(),
                });
            }
        }
        page_waiters = pw;
    }

    let page_scan = match (&layouts.memmap, opts.scan_pages) {
        (Some(m), true) => Some(m.scan_locked_pages(mem)),
        _ => None,
    };

    // Group by lock; locked pages join as locks of their own.
    let mut by_lock: BTreeMap<LockId, Vec<Wait>> = BTreeMap::new();
    for w in &waits {
        by_lock.entry(w.lock).or_default().push(w.clone());
    }
    if let Some(s) = &page_scan {
        for p in &s.locked {
            by_lock
                .entry(LockId {
                    kind: LockKind::PageLock,
                    addr: p.page,
                })
                .or_default();
        }
    }

    let users = MmUsers::new(k, &layouts, tasks);
    let record_size = layouts
        .wait_table
        .as_ref()
        .map_or(56, |t| t.layout.wpq_size)
        .max(48);
    let hcx = HolderCx::new(mem, &k.symbols, &stacks, &waits, record_size);
    let kinds = super::kinds::KindCx::new(k, &stacks);
    let mut locks = Vec::with_capacity(by_lock.len());
    let scx = StateCx {
        k,
        mem,
        layouts: &layouts,
        hcx: &hcx,
        users: &users,
    };
    for (id, task_side) in by_lock {
        let mut st = lock_state(&scx, id, task_side);
        if let LockObject::Unreadable { error } = &st.object {
            problems.push(format!("{id}: {error}"));
        }
        super::kinds::explain(&kinds, &mut st);
        rank_holders(&mut st.holders);
        locks.push(st);
    }

    // Waits learned from the locks' own lists (tasks not in `tasks`, or unreadable stacks).
    // The lock's order is the queue's: a wait found from a task (an rt_mutex waiter from
    // `pi_blocked_on`) learns its place from the lock's side.
    let placed: HashMap<(u64, u64), usize> = locks
        .iter()
        .flat_map(|l| &l.waiters)
        .filter_map(|w| Some(((w.task, w.record), w.position?)))
        .collect();
    for w in waits.iter_mut().filter(|w| w.position.is_none()) {
        w.position = placed.get(&(w.task, w.record)).copied();
    }
    let known: HashSet<(u64, u64)> = waits.iter().map(|w| (w.task, w.record)).collect();
    for l in &locks {
        for w in &l.waiters {
            if !known.contains(&(w.task, w.record)) {
                waits.push(w.clone());
            }
        }
    }
    let order: HashMap<u64, usize> = tasks.iter().enumerate().map(|(i, &t)| (t, i)).collect();
    waits.sort_by_key(|w| (order.get(&w.task).copied().unwrap_or(usize::MAX), w.record));
    let analysis = LockAnalysis {
        waits,
        locks,
        page_waiters,
        page_scan,
        problems,
    };
    Ok((analysis, stacks))
}

fn lock_state(cx: &StateCx<'_>, id: LockId, task_side: Vec<Wait>) -> LockState {
    let st = read_state(cx, id, &task_side).unwrap_or_else(|e| KindState {
        object: LockObject::Unreadable {
            error: e.to_string(),
        },
        holders: vec![],
        waiters: task_side,
        notes: vec![],
    });
    LockState {
        id,
        name: lock_name(cx.k, cx.layouts, cx.users, id),
        object: st.object,
        holders: st.holders,
        waiters: st.waiters,
        notes: st.notes,
    }
}
