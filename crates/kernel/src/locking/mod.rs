//! Sleeping locks and who holds or waits for them (`kernel/locking/`), and the page locks of
//! [`crate::mm`], found from the dump alone.
//!
//! Every decoded relation carries an [`Evidence`]: a [`Evidence::Fact`] is something the
//! kernel itself records in memory (a mutex owner, a waiter linked into a lock's wait list);
//! an [`Evidence::Inference`] is holdup's conclusion from indirect signs (a semaphore holder,
//! an rwsem reader, a page-lock holder) with the reasons and a [`Confidence`].
//!
//! - one module per kind of lock, named after the kernel's file: [`rwsem`], [`rwbase_rt`]
//!   (PREEMPT_RT's rw_semaphore), [`mutex`], [`rt_mutex`], [`semaphore`], [`completion`],
//!   [`percpu_rwsem`] and `page_lock`; each decodes its object, says which functions are its slow path
//!   (`is_slow_path`, listed in `waits::SLOW_PATHS`) and reads its state: holders and ordered
//!   waiters (`lock_state`, listed in `state::READERS`);
//! - [`waits`]: for a task, the waiter record its slow path left on its stack, accepted only
//!   when it is queued on the lock (its wait list, or since 7.1 the ring from `first_waiter`),
//!   and `pi_blocked_on` for rt_mutexes;
//! - [`kinds`]: waits that are not a lock's own (a frozen filesystem, I/O in flight, a work
//!   flush), one file each;
//! - [`analyze`]: everything at once — each blocked task's wait, each lock with its holders
//!   (facts, or ranked inferences) and its ordered waiters, and the locked pages;
//! - [`lock_name`]: `mmap_lock of mm 0x... (bench, pid 96)`, `abba_m1 [hangmod]`, a lock in a
//!   slab object by container and member (`i_rwsem of inode 0x... (ext4_inode_cache object
//!   0x...)`, see [`crate::mm::slab`]), a page by pfn.
//!
//! Holders the kernel does not record (rwsem readers, semaphore holders, page-lock holders)
//! are inferred from the rwsem owner hint, from code on a task's stack that addresses the
//! lock (`lea held_sem(%rip), %rdi; call down`), and from the lock's or folio's address on a
//! task's live stack; see `holders.rs` for the scores.

pub mod completion;
pub mod mutex;
mod page_lock;
pub mod percpu_rwsem;
pub mod rt_mutex;
pub mod rwbase_rt;
pub mod rwsem;
pub mod semaphore;
mod state;
pub mod wait_bit;
pub mod waits;

mod analysis;
pub mod hex;
mod holders;
pub mod kinds;
mod name;

pub use analysis::{AnalyzeOptions, LockAnalysis, analyze, analyze_keeping_stacks, analyze_with};
pub use holders::{StackRef, code_references, stack_references};
pub use name::{MmUsers, lock_name};
pub use waits::{Layouts, StackBackedMemory, Stacks, TaskStack};

use serde::Serialize;
use std::fmt;

/// How sure an inference is, in percent (0–100). Only inferences have one: a fact is read
/// from memory and needs none. Ranking compares these numbers; [`Confidence::label`] gives
/// the word a report prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Confidence(pub u8);

/// In JSON a confidence is a fraction between 0 and 1, as the report and triage give it
/// (`docs/schemas/`): one vocabulary in every command's output.
impl Serialize for Confidence {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from(self.0) / 100.0)
    }
}

impl schemars::JsonSchema for Confidence {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Confidence".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "number",
            "minimum": 0,
            "maximum": 1,
            "description": "How sure an inference is, from 0 to 1 (a fact is certain and has none)."
        })
    }
}

impl Confidence {
    /// Strong, converging signs (e.g. the owner hint and the code on the stack agree).
    pub const HIGH: Confidence = Confidence(80);
    /// One good sign, or several weak ones.
    pub const MEDIUM: Confidence = Confidence(55);
    /// A possibility worth showing, not a conclusion.
    pub const LOW: Confidence = Confidence(25);

    /// `high` (>= 70), `medium` (>= 40) or `low`.
    pub fn label(self) -> &'static str {
        match self.0 {
            70.. => "high",
            40..=69 => "medium",
            _ => "low",
        }
    }

    /// Adds (or with a negative delta, removes) points, staying within 1..=95: an inference
    /// is never certain and never worthless once it is shown.
    pub fn adjust(self, delta: i16) -> Confidence {
        Confidence((i16::from(self.0) + delta).clamp(1, 95) as u8)
    }
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}%)", self.label(), self.0)
    }
}

/// Why holdup believes something.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// Read from memory where the kernel records it. `source` names the field or structure
    /// (`rw_semaphore.owner`, `rwsem_waiter on the stack, linked into rw_semaphore.wait_list`),
    /// `at` the address it was read from when there is one.
    Fact {
        source: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        #[serde(serialize_with = "crate::locking::hex::opt")]
        #[schemars(with = "Option<crate::locking::hex::Hex>")]
        at: Option<u64>,
    },
    /// Concluded from signs the kernel does not intend as a record.
    Inference {
        confidence: Confidence,
        reasons: Vec<String>,
    },
}

impl Evidence {
    /// A fact read from `source` (at `at`).
    pub fn fact(source: impl Into<String>, at: impl Into<Option<u64>>) -> Evidence {
        Evidence::Fact {
            source: source.into(),
            at: at.into(),
        }
    }

    /// An inference with its reasons.
    pub fn inference(confidence: Confidence, reasons: Vec<String>) -> Evidence {
        Evidence::Inference {
            confidence,
            reasons,
        }
    }

    pub fn is_fact(&self) -> bool {
        matches!(self, Evidence::Fact { .. })
    }

    /// Where a fact was read; `None` for an inference or a fact with no one address.
    pub fn at(&self) -> Option<u64> {
        match self {
            Evidence::Fact { at, .. } => *at,
            Evidence::Inference { .. } => None,
        }
    }

    /// The confidence of an inference; `None` for a fact.
    pub fn confidence(&self) -> Option<Confidence> {
        match self {
            Evidence::Fact { .. } => None,
            Evidence::Inference { confidence, .. } => Some(*confidence),
        }
    }

    /// Sort key: facts first, then inferences by falling confidence.
    pub fn rank_key(&self) -> u8 {
        match self {
            Evidence::Fact { .. } => 255,
            Evidence::Inference { confidence, .. } => confidence.0,
        }
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Evidence::Fact {
                source,
                at: Some(at),
            } => write!(f, "fact: {source} at {at:#x}"),
            Evidence::Fact { source, at: None } => write!(f, "fact: {source}"),
            Evidence::Inference {
                confidence,
                reasons,
            } => write!(f, "inference, {confidence}: {}", reasons.join("; ")),
        }
    }
}

/// A value with the evidence for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[schemars(rename = "Known_{T}")]
pub struct Known<T> {
    pub value: T,
    pub evidence: Evidence,
}

impl<T> Known<T> {
    /// A value read from memory.
    pub fn fact(value: T, source: impl Into<String>, at: impl Into<Option<u64>>) -> Known<T> {
        Known {
            value,
            evidence: Evidence::fact(source, at),
        }
    }

    /// A value inferred.
    pub fn inferred(value: T, confidence: Confidence, reasons: Vec<String>) -> Known<T> {
        Known {
            value,
            evidence: Evidence::inference(confidence, reasons),
        }
    }
}

/// What kind of lock (or wait) an address is. The names are the truth schema's
/// (`dumps/TRUTH.md`), plus the waits that are not locks.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// `struct rw_semaphore`.
    Rwsem,
    /// `struct mutex`.
    Mutex,
    /// `struct semaphore`.
    Semaphore,
    /// `struct completion`.
    Completion,
    /// `PG_locked` of a folio; the address is the `struct folio *` (head page).
    PageLock,
    /// Waiting for `PG_writeback` of a folio to clear: I/O, not a lock.
    PageWriteback,
    /// Another bit of a folio waited on through the page wait table.
    PageBit,
    /// `struct rt_mutex_base` (PREEMPT_RT sleeping locks, PI futexes, RCU boosting).
    RtMutex,
    /// `struct percpu_rw_semaphore` (a super block's freeze levels, cgroup_threadgroup_rwsem).
    PercpuRwsem,
    /// A bit of a word waited on through the bit wait table (`lock_buffer`'s `BH_Lock`,
    /// `wait_on_bit`); the address is the word's.
    WaitBit,
    /// A `wait_queue_head_t` (`wait_event*`): not a lock, nobody is recorded as the one to
    /// wake it.
    WaitQueue,
    /// A `struct swait_queue_head` that is not known to be a completion's.
    SwaitQueue,
}

impl LockKind {
    /// The C type of the object at the lock's address.
    pub fn c_type(self) -> &'static str {
        match self {
            LockKind::Rwsem => "struct rw_semaphore",
            LockKind::Mutex => "struct mutex",
            LockKind::Semaphore => "struct semaphore",
            LockKind::Completion => "struct completion",
            LockKind::PageLock | LockKind::PageWriteback | LockKind::PageBit => "struct folio",
            LockKind::RtMutex => "struct rt_mutex_base",
            LockKind::PercpuRwsem => "struct percpu_rw_semaphore",
            // As the kernel's types name it (BTF and DWARF).
            LockKind::WaitBit => "long unsigned int",
            LockKind::WaitQueue => "struct wait_queue_head",
            LockKind::SwaitQueue => "struct swait_queue_head",
        }
    }

    /// The truth schema's `lock_type` word.
    pub fn as_str(self) -> &'static str {
        match self {
            LockKind::Rwsem => "rwsem",
            LockKind::Mutex => "mutex",
            LockKind::Semaphore => "semaphore",
            LockKind::Completion => "completion",
            LockKind::PageLock => "page_lock",
            LockKind::PageWriteback => "page_writeback",
            LockKind::PageBit => "page_bit",
            LockKind::RtMutex => "rt_mutex",
            LockKind::PercpuRwsem => "percpu_rwsem",
            LockKind::WaitBit => "wait_bit",
            LockKind::WaitQueue => "wait_queue",
            LockKind::SwaitQueue => "swait_queue",
        }
    }
}

impl fmt::Display for LockKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a lock is held or wanted (the truth schema's `mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// rwsem, shared.
    Read,
    /// rwsem, exclusive.
    Write,
    /// mutex, rt_mutex, page lock.
    Exclusive,
    /// A unit of a counting semaphore.
    Count,
    /// Nothing is held: a completion, or waiting for a page bit to clear without taking it.
    None,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Read => "read",
            Mode::Write => "write",
            Mode::Exclusive => "exclusive",
            Mode::Count => "count",
            Mode::None => "none",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A lock: its kind and address (for page locks, the folio).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
pub struct LockId {
    pub kind: LockKind,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
}

impl fmt::Display for LockId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:#x}", self.kind, self.addr)
    }
}

/// A human name for a lock (`abba_m1 [hangmod]`, `mmap_lock of mm 0x... (bench, pid 96)`),
/// with how it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LockName {
    pub text: String,
    pub evidence: Evidence,
}

/// One task queued on one lock: what the kernel's wait list (or the page wait table) says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Wait {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    pub lock: LockId,
    pub mode: Mode,
    /// The waiter record (`struct rwsem_waiter`, `mutex_waiter`, `semaphore_waiter`,
    /// `swait_queue`, `wait_page_queue`, `rt_mutex_waiter`), normally on the task's stack.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub record: u64,
    /// 0-based place in the lock's wait queue, when the queue was walked.
    pub position: Option<usize>,
    /// Details of the record: `timeout`, `handoff_set`, `exclusive`, `bit_nr`...
    pub detail: Vec<(String, String)>,
    /// A fact when the record is linked into the lock's list; how it was found.
    pub evidence: Evidence,
}

/// Who holds a lock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HolderId {
    /// A task.
    Task {
        #[serde(serialize_with = "crate::locking::hex::u64")]
        #[schemars(with = "crate::locking::hex::Hex")]
        task: u64,
    },
    /// Nobody in particular: I/O in flight holds it (e.g. `PG_writeback`, a read not yet
    /// complete) and its completion will release it.
    Io { what: String },
    /// A state of the system, not a task: a frozen filesystem holds its writers' lock until
    /// it is thawed. `state` names the kind of state, the same on every machine
    /// (`frozen_filesystem`, `suspended_dm_device`: triage signatures use it); `what` says
    /// this instance and what ends it.
    State { state: String, what: String },
}

impl HolderId {
    pub fn task(&self) -> Option<u64> {
        match self {
            HolderId::Task { task } => Some(*task),
            HolderId::Io { .. } | HolderId::State { .. } => None,
        }
    }

    /// The kind of what holds it, for a holder that is not a task: `io` or the state's.
    pub fn state(&self) -> Option<&str> {
        match self {
            HolderId::Task { .. } => None,
            HolderId::Io { .. } => Some("io"),
            HolderId::State { state, .. } => Some(state),
        }
    }

    /// What holds it, for a holder that is not a task.
    pub fn not_a_task(&self) -> Option<&str> {
        match self {
            HolderId::Task { .. } => None,
            HolderId::Io { what } | HolderId::State { what, .. } => Some(what),
        }
    }
}

/// A holder of a lock, recorded by the kernel (fact) or a ranked candidate (inference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Holder {
    pub who: HolderId,
    pub mode: Mode,
    pub evidence: Evidence,
}

/// The decoded object behind a lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LockObject {
    Rwsem(rwsem::RwSemaphore),
    Mutex(mutex::Mutex),
    Semaphore(semaphore::Semaphore),
    Completion(completion::Completion),
    Folio(crate::mm::page::PageInfo),
    /// An rt_mutex, or the PREEMPT_RT mutex built on one.
    RtMutex(rt_mutex::RtMutex),
    /// A PREEMPT_RT rw_semaphore.
    RwbaseRt(rwbase_rt::RwbaseRt),
    PercpuRwsem(percpu_rwsem::PercpuRwsem),
    WaitBit(wait_bit::BitWord),
    /// A wait queue: no owner, nothing more to decode.
    WaitQueue,
    /// The object could not be read.
    Unreadable {
        error: String,
    },
}

/// A lock with everyone who holds or waits for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LockState {
    pub id: LockId,
    pub name: Option<LockName>,
    pub object: LockObject,
    /// Facts first, then inferences by falling confidence (the first is the best guess).
    pub holders: Vec<Holder>,
    /// In queue order.
    pub waiters: Vec<Wait>,
    /// What the kernel does not record about this kind of lock, and anything odd.
    pub notes: Vec<String>,
}

impl LockState {
    /// The best-ranked holder that is a task.
    pub fn top_holder_task(&self) -> Option<u64> {
        self.holders.iter().find_map(|h| h.who.task())
    }
}

/// Sorts holders: facts first, then by falling confidence; the order is otherwise kept.
pub fn rank_holders(holders: &mut [Holder]) {
    holders.sort_by_key(|h| std::cmp::Reverse(h.evidence.rank_key()));
}

/// `offsetof` of a member path from the kernel's types; what is missing as a [`ReadError`].
pub(crate) fn offset_of(
    t: &holdup_types::Types,
    path: &str,
) -> Result<u64, holdup_kmem::ReadError> {
    t.offsetof(path).map_err(|e| missing(format!("types: {e}")))
}

/// `sizeof` of a type from the kernel's types; what is missing as a [`ReadError`].
pub(crate) fn size_of(t: &holdup_types::Types, ty: &str) -> Result<u64, holdup_kmem::ReadError> {
    t.sizeof(ty).map_err(|e| missing(format!("types: {e}")))
}

/// A `ReadError` for something holdup cannot find in the types or symbols.
pub(crate) fn missing(what: impl Into<String>) -> holdup_kmem::ReadError {
    holdup_kmem::ReadError::Corrupt {
        vaddr: 0,
        detail: what.into(),
    }
}

/// Where a lock keeps its queue of waiter records (read from the kernel's types).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAt {
    /// A `struct list_head wait_list` at this offset, the records linked into it.
    ListHead(u64),
    /// A `first_waiter` pointer at this offset, the records linked in a ring among
    /// themselves, the first one first (mutex, semaphore and rw_semaphore since 7.1).
    FirstWaiter(u64),
}

impl QueueAt {
    /// `lock.wait_list` or `lock.first_waiter`, whichever the kernel's `lock` type has.
    pub fn from_types(
        t: &holdup_types::Types,
        lock: &str,
    ) -> Result<QueueAt, holdup_kmem::ReadError> {
        match t.offsetof(&format!("{lock}.wait_list")) {
            Ok(o) => Ok(QueueAt::ListHead(o)),
            Err(e) => t
                .offsetof(&format!("{lock}.first_waiter"))
                .map(QueueAt::FirstWaiter)
                .map_err(|_| missing(format!("types: {e}; nor has it first_waiter"))),
        }
    }

    /// How a record is known to be queued there, for evidence: `rwsem_waiter linked into
    /// rw_semaphore.wait_list`.
    pub fn source(self, waiter: &str, lock: &str) -> String {
        match self {
            QueueAt::ListHead(_) => format!("{waiter} linked into {lock}.wait_list"),
            QueueAt::FirstWaiter(_) => {
                format!("{waiter} in the ring of waiters from {lock}.first_waiter")
            }
        }
    }
}

/// The waiter records queued on the lock at `lock` (`queue` says how; linked through each
/// record's member at offset `link`), in queue order, at most [`rwsem::MAX_WAITERS`]: each
/// decoded by `decode` and a fact from `source` at its record; and how the walk ended when it
/// did not come back to where it began.
pub(crate) fn wait_list<W>(
    mem: &dyn holdup_kmem::KernelMemory,
    lock: u64,
    queue: QueueAt,
    link: u64,
    source: &str,
    mut decode: impl FnMut(u64) -> Result<W, holdup_kmem::ReadError>,
) -> Result<(Vec<Known<W>>, Option<String>), holdup_kmem::ReadError> {
    let (records, end) = match queue {
        QueueAt::ListHead(off) => {
            crate::list::list_entries(mem, lock.wrapping_add(off), link, rwsem::MAX_WAITERS)
        }
        QueueAt::FirstWaiter(off) => match mem.read_u64(lock.wrapping_add(off))? {
            0 => (Vec::new(), crate::list::ListEnd::Complete),
            first => {
                // The ring seen from the first record's node: the others follow it.
                let (rest, end) = crate::list::list_entries(
                    mem,
                    first.wrapping_add(link),
                    link,
                    rwsem::MAX_WAITERS - 1,
                );
                (std::iter::once(first).chain(rest).collect(), end)
            }
        },
    };
    let mut waiters = Vec::with_capacity(records.len());
    for r in records {
        waiters.push(Known::fact(decode(r)?, source, r));
    }
    let problem = (end != crate::list::ListEnd::Complete).then(|| format!("{end}"));
    Ok((waiters, problem))
}

#[cfg(test)]
pub(crate) mod testmem;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_serializes_with_its_kind() {
        let f = Evidence::fact("mutex.owner", 0x10);
        assert_eq!(
            serde_json::to_string(&f).unwrap(),
            r#"{"kind":"fact","source":"mutex.owner","at":"0x10"}"#
        );
        let i = Evidence::inference(Confidence::MEDIUM, vec!["owner hint".into()]);
        assert_eq!(
            serde_json::to_string(&i).unwrap(),
            r#"{"kind":"inference","confidence":0.55,"reasons":["owner hint"]}"#
        );
        assert_eq!(i.to_string(), "inference, medium (55%): owner hint");
    }

    #[test]
    fn a_first_waiter_ring_is_walked_from_the_first() {
        use holdup_kmem::KernelMemory;
        use testmem::FakeMem;
        let m = FakeMem::new();
        let lock = 0xffff_ffff_c000_1000u64;
        let (w1, w2, w3) = (
            0xffff_c900_0000_3e00u64,
            0xffff_c900_0000_7e00u64,
            0xffff_c900_0000_be00u64,
        );
        m.zero(lock, 32);
        let tasks = |m: &FakeMem| -> Vec<u64> {
            wait_list(m, lock, QueueAt::FirstWaiter(16), 0, "x", |r| {
                m.read_u64(r + 16)
            })
            .unwrap()
            .0
            .into_iter()
            .map(|k| k.value)
            .collect()
        };
        // No waiter: first_waiter is NULL.
        assert!(tasks(&m).is_empty());
        for (w, t) in [(w1, 1u64), (w2, 2), (w3, 3)] {
            m.zero(w, 32);
            m.u64(w + 16, t);
        }
        // A lone waiter links to itself.
        m.u64(w2, w2);
        m.u64(w2 + 8, w2);
        m.u64(lock + 16, w2);
        assert_eq!(tasks(&m), [2]);
        // Three in a ring, w2 first: w2, w3, w1.
        m.list(w2, &[w3, w1]);
        assert_eq!(tasks(&m), [2, 3, 1]);
        // A ring that does not come back to the first is cut and said.
        m.u64(w1, w3);
        let (w, problem) = wait_list(&m, lock, QueueAt::FirstWaiter(16), 0, "x", |r| {
            m.read_u64(r + 16)
        })
        .unwrap();
        assert_eq!(w.len(), 3);
        assert!(problem.unwrap().contains("cycle"));
    }

    #[test]
    fn holders_rank_facts_then_confidence() {
        let h = |c: Option<u8>, t| Holder {
            who: HolderId::Task { task: t },
            mode: Mode::Read,
            evidence: match c {
                None => Evidence::fact("x", None),
                Some(c) => Evidence::inference(Confidence(c), vec![]),
            },
        };
        let mut v = vec![h(Some(20), 1), h(Some(60), 2), h(None, 3), h(Some(60), 4)];
        rank_holders(&mut v);
        let order: Vec<_> = v.iter().map(|h| h.who.task().unwrap()).collect();
        assert_eq!(order, [3, 2, 4, 1]);
        assert_eq!(Confidence(90).adjust(20), Confidence(95));
        assert_eq!(Confidence(10).adjust(-50), Confidence(1));
    }
}
