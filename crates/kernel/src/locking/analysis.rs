//! Everything at once: what each task waits on, and every lock with waiters or a locked page,
//! with its holders (facts, or ranked inferences) and its ordered waiters.

use super::holders::{self, HolderCx};
use super::name::{MmUsers, lock_name, mmap_lock_owner};
use super::waits::{Layouts, Stacks, WaitCx, find_waits};
use super::{
    Evidence, Holder, HolderId, Known, LockId, LockKind, LockObject, LockState, Mode, Wait,
    completion, mutex, rank_holders, rwsem, semaphore,
};
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
#[derive(Debug, Clone, Serialize)]
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
    let mem = k.mem();
    let layouts = Layouts::new(k)?;
    let mut problems = layouts.problems.clone();
    let stacks = Stacks::read(k, &layouts, tasks);
    problems.extend(stacks.problems.iter().cloned());
    let cx = WaitCx::new(k, &layouts, &stacks);

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
    for (id, task_side) in by_lock {
        let mut st = lock_state(k, &layouts, &hcx, &users, id, task_side, &mut problems);
        super::kinds::explain(&kinds, &mut st);
        rank_holders(&mut st.holders);
        locks.push(st);
    }

    // Waits learned from the locks' own lists (tasks not in `tasks`, or unreadable stacks).
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
    Ok(LockAnalysis {
        waits,
        locks,
        page_waiters,
        page_scan,
        problems,
    })
}

/// A waiter as the lock's own list has it: task, record, mode, evidence, details.
type LockSideWaiter = (u64, u64, Mode, Evidence, Vec<(String, String)>);

/// Merges the waits found from the tasks' side with the lock's own list: the lock's order
/// wins; a waiter only on one side is kept and flagged.
fn merge_waiters(
    id: LockId,
    lock_side: Vec<LockSideWaiter>,
    mut task_side: Vec<Wait>,
    notes: &mut Vec<String>,
) -> Vec<Wait> {
    let mut out = Vec::new();
    for (i, (task, record, mode, evidence, detail)) in lock_side.into_iter().enumerate() {
        match task_side.iter().position(|w| w.record == record) {
            Some(j) => {
                let mut w = task_side.remove(j);
                w.position = Some(i);
                if w.task != task {
                    notes.push(format!(
                        "waiter record {record:#x}: the list names task {task:#x}, the stack scan {:#x}",
                        w.task
                    ));
                }
                out.push(w);
            }
            None => out.push(Wait {
                task,
                lock: id,
                mode,
                record,
                position: Some(i),
                detail,
                evidence,
            }),
        }
    }
    for w in task_side {
        notes.push(format!(
            "task {:#x}: its waiter record {:#x} was not found walking the lock's list",
            w.task, w.record
        ));
        out.push(w);
    }
    out
}

fn lock_state(
    k: &Kernel,
    l: &Layouts,
    hcx: &HolderCx<'_>,
    users: &MmUsers,
    id: LockId,
    task_side: Vec<Wait>,
    problems: &mut Vec<String>,
) -> LockState {
    let mem = k.mem();
    let mut notes = Vec::new();
    let mut holders = Vec::new();
    let unreadable = |e: ReadError| LockObject::Unreadable {
        error: e.to_string(),
    };
    let (object, waiters) = match id.kind {
        LockKind::Rwsem => match l
            .rwsem
            .as_ref()
            .map(|lay| (lay, rwsem::read(mem, lay, id.addr)))
        {
            Some((lay, Ok(s))) => {
                if let Some(w) = &s.writer {
                    holders.push(Holder {
                        who: HolderId::Task { task: w.value },
                        mode: Mode::Write,
                        evidence: w.evidence.clone(),
                    });
                }
                let lock_side: Vec<_> = s
                    .waiters
                    .iter()
                    .map(|w| {
                        let v = &w.value;
                        (
                            v.task,
                            v.record,
                            v.mode,
                            w.evidence.clone(),
                            vec![("timeout".to_string(), v.timeout.to_string())],
                        )
                    })
                    .collect();
                let waiting: Vec<u64> = lock_side.iter().map(|w| w.0).collect();
                if !s.count.value.writer_locked && s.count.value.readers > 0 {
                    let mm = mmap_lock_owner(k, l, users, id.addr).map(|(mm, _, _)| {
                        let size = k.types.sizeof("struct mm_struct").unwrap_or(0x400);
                        (mm, mm.saturating_add(size))
                    });
                    holders.extend(holders::rwsem_readers(hcx, &s, lay.size, &waiting, mm));
                    notes.push(format!(
                        "{} reader(s) hold it; the kernel does not record which tasks (only the last reader, as a hint)",
                        s.count.value.readers
                    ));
                }
                if let Some(p) = &s.wait_list_problem {
                    notes.push(format!("wait_list: {p}"));
                }
                let w = merge_waiters(id, lock_side, task_side, &mut notes);
                (LockObject::Rwsem(s), w)
            }
            Some((_, Err(e))) => (unreadable(e), task_side),
            None => (
                LockObject::Unreadable {
                    error: "no rw_semaphore type".into(),
                },
                task_side,
            ),
        },
        LockKind::Mutex => match l.mutex.as_ref().map(|lay| mutex::read(mem, lay, id.addr)) {
            Some(Ok(m)) => {
                if let Some(h) = &m.holder {
                    holders.push(Holder {
                        who: HolderId::Task { task: h.value },
                        mode: Mode::Exclusive,
                        evidence: h.evidence.clone(),
                    });
                }
                let lock_side: Vec<_> = m
                    .waiters
                    .iter()
                    .map(|w| {
                        (
                            w.value.task,
                            w.value.record,
                            Mode::Exclusive,
                            w.evidence.clone(),
                            vec![],
                        )
                    })
                    .collect();
                if let Some(p) = &m.wait_list_problem {
                    notes.push(format!("wait_list: {p}"));
                }
                let w = merge_waiters(id, lock_side, task_side, &mut notes);
                (LockObject::Mutex(m), w)
            }
            Some(Err(e)) => (unreadable(e), task_side),
            None => (
                LockObject::Unreadable {
                    error: "no mutex type".into(),
                },
                task_side,
            ),
        },
        LockKind::Semaphore => match l
            .semaphore
            .as_ref()
            .map(|lay| (lay, semaphore::read(mem, lay, id.addr)))
        {
            Some((lay, Ok(s))) => {
                let lock_side: Vec<_> = s
                    .waiters
                    .iter()
                    .map(|w| {
                        (
                            w.value.task,
                            w.value.record,
                            Mode::Count,
                            w.evidence.clone(),
                            vec![],
                        )
                    })
                    .collect();
                let waiting: Vec<u64> = lock_side.iter().map(|w| w.0).collect();
                holders.extend(holders::semaphore_holders(hcx, &s, lay.size, &waiting));
                notes.push(semaphore::NO_HOLDER_RECORD.into());
                if let Some(p) = &s.wait_list_problem {
                    notes.push(format!("wait_list: {p}"));
                }
                let w = merge_waiters(id, lock_side, task_side, &mut notes);
                (LockObject::Semaphore(s), w)
            }
            Some((_, Err(e))) => (unreadable(e), task_side),
            None => (
                LockObject::Unreadable {
                    error: "no semaphore type".into(),
                },
                task_side,
            ),
        },
        LockKind::Completion => match l
            .completion
            .as_ref()
            .map(|lay| completion::read(mem, lay, id.addr))
        {
            Some(Ok(c)) => {
                notes.push(completion::NO_OWNER.into());
                let lock_side: Vec<_> = c
                    .waiters
                    .iter()
                    .map(|w| {
                        (
                            w.value.task,
                            w.value.record,
                            Mode::None,
                            w.evidence.clone(),
                            vec![],
                        )
                    })
                    .collect();
                if let Some(p) = &c.wait_list_problem {
                    notes.push(format!("wait list: {p}"));
                }
                let w = merge_waiters(id, lock_side, task_side, &mut notes);
                (LockObject::Completion(c), w)
            }
            Some(Err(e)) => (unreadable(e), task_side),
            None => (
                LockObject::Unreadable {
                    error: "no completion type".into(),
                },
                task_side,
            ),
        },
        LockKind::PageLock | LockKind::PageWriteback | LockKind::PageBit => {
            match l.memmap.as_ref().map(|m| (m, m.read_page(mem, id.addr))) {
                Some((m, Ok(info))) => {
                    let mut w = task_side;
                    w.sort_by_key(|w| (w.position.unwrap_or(usize::MAX), w.record));
                    let f = &info.folio_flags.value;
                    if id.kind == LockKind::PageLock {
                        if f.locked {
                            holders.extend(holders::page_lock_holders(hcx, m, &info, &w));
                        } else {
                            notes.push("PG_locked is clear: the lock was released and the waiters are being woken".into());
                        }
                    }
                    if id.kind == LockKind::PageWriteback && f.writeback {
                        holders.push(Holder {
                            who: HolderId::Io {
                                what: "writeback in flight (PG_writeback)".into(),
                            },
                            mode: Mode::None,
                            evidence: Evidence::fact("folio.flags has PG_writeback", id.addr),
                        });
                    }
                    if info.folio.value != id.addr {
                        notes.push(format!(
                            "{:#x} is a tail page of folio {:#x}",
                            id.addr, info.folio.value
                        ));
                    }
                    notes.push(
                        "the kernel does not record who holds a page lock: holders are inferred"
                            .into(),
                    );
                    (LockObject::Folio(info), w)
                }
                Some((_, Err(e))) => (unreadable(e), task_side),
                None => (
                    LockObject::Unreadable {
                        error: "no page layout".into(),
                    },
                    task_side,
                ),
            }
        }
        LockKind::WaitQueue | LockKind::SwaitQueue => {
            notes.push("a wait queue has no owner: nothing records who is to wake it".into());
            let mut w = task_side;
            w.sort_by_key(|w| (w.position.unwrap_or(usize::MAX), w.record));
            (LockObject::WaitQueue, w)
        }
        LockKind::RtMutex => match l.rt_owner.map(|o| mem.read_u64(id.addr.wrapping_add(o))) {
            Some(Ok(raw)) => {
                let owner = raw & !1;
                let known = (owner != 0).then(|| {
                    Known::fact(
                        owner,
                        "rt_mutex_base.owner",
                        id.addr + l.rt_owner.unwrap_or(0),
                    )
                });
                if let Some(o) = &known {
                    holders.push(Holder {
                        who: HolderId::Task { task: o.value },
                        mode: Mode::Exclusive,
                        evidence: o.evidence.clone(),
                    });
                }
                notes.push("rt_mutex waiters are in an rbtree by priority; only those found from tasks are listed".into());
                (LockObject::RtMutex { owner: known }, task_side)
            }
            Some(Err(e)) => (unreadable(e), task_side),
            None => (
                LockObject::Unreadable {
                    error: "no rt_mutex_base type".into(),
                },
                task_side,
            ),
        },
    };
    if let LockObject::Unreadable { error } = &object {
        problems.push(format!("{id}: {error}"));
    }
    LockState {
        id,
        name: lock_name(k, l, users, id),
        object,
        holders,
        waiters,
        notes,
    }
}
