//! jbd2 journals (`fs/jbd2/transaction.c`, `commit.c`, `journal.c`): the three wait queues of
//! a `journal_t` that tasks sleep on uninterruptibly, and who ends each wait.
//!
//! - `j_wait_updates`: the commit (`jbd2_journal_commit_transaction`, in the journal's
//!   thread `j_task`) has locked the running transaction (`t_state` `T_LOCKED`) and waits in
//!   `jbd2_journal_wait_updates` for its open handles to stop (`t_updates` to reach 0). A
//!   handle is open while a task's `journal_info` is a handle whose `h_transaction` is that
//!   transaction: those tasks are what the commit waits for, a fact memory shows.
//! - `j_wait_transaction_locked`: a task starting a handle (`start_this_handle` ->
//!   `wait_transaction_locked`) waits until the locked running transaction moves on to be
//!   committed: it waits for the commit, in the journal's thread.
//! - `j_wait_done_commit`: `jbd2_log_wait_commit` (fsync, sync) waits until
//!   `j_commit_sequence` reaches its tid: it waits for the commit asked for in
//!   `j_commit_request`, in the journal's thread.
//!
//! A wait queue is taken for a journal's only when the `journal_t` it would lie in is one:
//! its `j_private` is a mounted super block (ext4 sets it so), or its `j_task` is a task
//! named after the journal's device (`jbd2/vdb-8`, `j_devname`).

use super::KindCx;
use crate::locking::{Evidence, Holder, HolderId, LockKind, LockName, LockState, Mode};
use crate::sched::{read_member, task_comm};

/// The transaction states (`transaction_t.t_state`, an anonymous enum in `include/linux/jbd2.h`).
const STATES: &[&str] = &[
    "T_RUNNING",
    "T_LOCKED",
    "T_SWITCH",
    "T_FLUSH",
    "T_COMMIT",
    "T_COMMIT_DFLUSH",
    "T_COMMIT_JFLUSH",
    "T_COMMIT_CALLBACK",
    "T_FINISHED",
];

#[derive(Clone, Copy)]
enum Queue {
    Updates,
    TransactionLocked,
    DoneCommit,
}

const QUEUES: &[(&str, Queue)] = &[
    ("j_wait_updates", Queue::Updates),
    ("j_wait_transaction_locked", Queue::TransactionLocked),
    ("j_wait_done_commit", Queue::DoneCommit),
];

/// What is read of a journal.
struct Journal {
    addr: u64,
    /// `ext4 on vdf mounted at /mnt/jnl`, or the journal's own device name.
    fs: String,
    how: &'static str,
    task: u64,
    running: u64,
    commit_sequence: u32,
    commit_request: u32,
}

impl Journal {
    /// The journal's thread as the holder of a wait for its commit, as `source` shows.
    fn thread_holds(&self, source: String) -> Holder {
        Holder {
            who: HolderId::Task { task: self.task },
            mode: Mode::Write,
            evidence: Evidence::fact(source, self.addr),
        }
    }
}

/// What is read of a transaction.
struct Transaction {
    addr: u64,
    tid: u32,
    state: String,
    updates: u32,
}

pub fn explain(cx: &KindCx<'_>, lock: &mut LockState) -> bool {
    if lock.id.kind != LockKind::WaitQueue {
        return false;
    }
    let k = cx.k;
    // journal_t is jbd2's own type: in its module's BTF when jbd2 is a module.
    let t = k.types_with_modules();
    let Some((member, queue, j)) = QUEUES.iter().find_map(|&(member, queue)| {
        let off = t.offsetof(&format!("journal_s.{member}")).ok()?;
        Some((member, queue, journal(cx, lock.id.addr.wrapping_sub(off))?))
    }) else {
        return false;
    };
    let running = transaction(cx, j.running);
    lock.name = Some(LockName {
        text: format!("{member} of the jbd2 journal of {}", j.fs),
        evidence: Evidence::fact(
            format!("wait_queue_head journal_s.{member}; {}", j.how),
            j.addr,
        ),
    });
    lock.notes.retain(|n| !n.contains("nothing records who"));
    let thread = (j.task != 0).then(|| cx.who(j.task));
    match queue {
        Queue::Updates => {
            let Some(tr) = running else {
                lock.notes.push(
                    "the journal has no running transaction: nothing is left to wait for".into(),
                );
                return true;
            };
            lock.notes.push(format!(
                "the commit has locked transaction {} ({}) and waits for its {} open handle(s) (transaction_s.t_updates) to be stopped with jbd2_journal_stop()",
                tr.tid, tr.state, tr.updates
            ));
            let holders = handle_holders(cx, tr.addr);
            if (holders.len() as u64) < u64::from(tr.updates) {
                lock.notes.push(format!(
                    "t_updates is {} but {} task(s) have a handle of this transaction in task_struct.journal_info: a handle may be held across a sleep in a way journal_info does not show",
                    tr.updates,
                    holders.len()
                ));
            }
            for (task, handle) in holders {
                lock.holders.push(Holder {
                    who: HolderId::Task { task },
                    mode: Mode::Read,
                    evidence: Evidence::fact(
                        format!(
                            "task_struct.journal_info is handle {handle:#x}, whose h_transaction is transaction {} ({:#x}) of the journal: the handle is open",
                            tr.tid, tr.addr
                        ),
                        handle,
                    ),
                });
            }
        }
        Queue::TransactionLocked => {
            let locked = running
                .as_ref()
                .filter(|tr| tr.state == "T_LOCKED" || tr.state == "T_SWITCH");
            match (locked, thread) {
                (Some(tr), Some(thread)) => {
                    lock.notes.push(format!(
                        "transaction {} is {} for its commit: new handles wait until the commit in {thread} has its updates stopped and moves on",
                        tr.tid, tr.state
                    ));
                    lock.holders.push(j.thread_holds(format!(
                        "journal_s.j_running_transaction {:#x} has t_state {}: locked by the commit in the journal's thread (journal_s.j_task)",
                        tr.addr, tr.state
                    )));
                }
                _ => lock.notes.push(
                    "the running transaction is not locked for a commit: its waiters should have been woken".into(),
                ),
            }
        }
        Queue::DoneCommit => {
            // tid_gt(): tids wrap, so compare their difference.
            let asked = (j.commit_request.wrapping_sub(j.commit_sequence) as i32) > 0;
            match (asked, thread) {
                (true, Some(thread)) => {
                    lock.notes.push(format!(
                        "commit {} is asked for (journal_s.j_commit_request) and {} is the last done (j_commit_sequence): {thread} does it",
                        j.commit_request, j.commit_sequence
                    ));
                    lock.holders.push(j.thread_holds(format!(
                        "journal_s.j_commit_request {} is ahead of j_commit_sequence {}: the journal's thread (journal_s.j_task) commits it",
                        j.commit_request, j.commit_sequence
                    )));
                }
                _ => lock.notes.push(format!(
                    "no commit is asked for beyond the last one done ({}): the waiters wait for a commit nobody has asked for",
                    j.commit_sequence
                )),
            }
        }
    }
    true
}

/// The journal at `addr`, if it is one: its `j_private` is a mounted super block, or its
/// thread is named after its device (`jbd2/` and `j_devname`).
fn journal(cx: &KindCx<'_>, addr: u64) -> Option<Journal> {
    let k = cx.k;
    let mem = k.mem();
    let private = read_member(k, addr, "journal_s.j_private").ok()?;
    let task = read_member(k, addr, "journal_s.j_task").unwrap_or(0);
    let (fs, how) = if let Some(sb) = cx.super_blocks().iter().find(|sb| sb.addr == private) {
        (sb.describe(), "journal_s.j_private is the super block")
    } else {
        let devname = k
            .types
            .offsetof("journal_s.j_devname")
            .ok()
            .and_then(|off| mem.read_cstr(addr.wrapping_add(off), 56).ok())
            .filter(|d| !d.is_empty())?;
        let comm = (task != 0 && mem.is_kernel_pointer(task, 8))
            .then(|| task_comm(k, task).ok())
            .flatten()?;
        if comm != format!("jbd2/{devname}") {
            return None;
        }
        (
            devname,
            "journal_s.j_task is the journal's thread, named after journal_s.j_devname",
        )
    };
    let seq = |m: &str| read_member(k, addr, m).ok().map(|v| v as u32);
    Some(Journal {
        addr,
        fs,
        how,
        task: if mem.is_kernel_pointer(task, 8) {
            task
        } else {
            0
        },
        running: read_member(k, addr, "journal_s.j_running_transaction").unwrap_or(0),
        commit_sequence: seq("journal_s.j_commit_sequence")?,
        commit_request: seq("journal_s.j_commit_request")?,
    })
}

fn transaction(cx: &KindCx<'_>, addr: u64) -> Option<Transaction> {
    let k = cx.k;
    if addr == 0 || !k.mem().is_kernel_pointer(addr, 8) {
        return None;
    }
    let state = read_member(k, addr, "transaction_s.t_state").ok()?;
    let state = STATES
        .iter()
        .find(|n| k.types.enumerator(n).ok() == Some(i128::from(state)))
        .map_or_else(|| format!("state {state}"), |n| (*n).to_string());
    Some(Transaction {
        addr,
        tid: read_member(k, addr, "transaction_s.t_tid").ok()? as u32,
        state,
        updates: read_member(k, addr, "transaction_s.t_updates").ok()? as u32,
    })
}

/// The tasks with a handle of `transaction` open: `journal_info` is a handle whose
/// `h_transaction` is it. With the handle's address.
fn handle_holders(cx: &KindCx<'_>, transaction: u64) -> Vec<(u64, u64)> {
    let k = cx.k;
    let mem = k.mem();
    let (Ok(info), Ok(h_tr)) = (
        k.types.offsetof("task_struct.journal_info"),
        k.types.offsetof("jbd2_journal_handle.h_transaction"),
    ) else {
        return Vec::new();
    };
    cx.all_tasks()
        .iter()
        .filter_map(|&task| {
            let handle = mem.read_u64(task.wrapping_add(info)).ok()?;
            // ext4 without a journal keeps a small count there, not a pointer.
            if !mem.is_kernel_pointer(handle, 8) {
                return None;
            }
            (mem.read_u64(handle.wrapping_add(h_tr)).ok()? == transaction).then_some((task, handle))
        })
        .collect()
}
