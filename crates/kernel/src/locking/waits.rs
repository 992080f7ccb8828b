//! What a blocked task waits on, from the dump alone.
//!
//! A task that sleeps in a lock's slow path keeps its waiter record on its own stack
//! (`struct rwsem_waiter`, `mutex_waiter`, `semaphore_waiter`, a completion's
//! `struct swait_queue`, a `struct wait_page_queue`), with a pointer to itself in it and the
//! record linked into the lock's wait list. So: scan the task's stack (read once) for a word
//! equal to the task pointer at the offset the record keeps it; follow the record's list node
//! to the first node that is not such a record on a task's stack — the list head, embedded in
//! the lock — and accept the candidate only if walking the list from that head (bounded,
//! cycle-checked) reaches the record again. The lock is the head minus the offset of its
//! `wait_list`. Records of rwsem, mutex and semaphore have the same shape; which lock it is
//! comes from the slow-path function on the stack (a return address into
//! `rwsem_down_write_slowpath`, `__mutex_lock`, `__down_common`...) and the lock's own words.
//! Page waits are found by `wake_page_function` in `wait.func` and their list ends in
//! `folio_wait_table`. `task_struct.pi_blocked_on` (rt_mutex) is used directly, and
//! `task_struct.blocker` (6.16+, absent from 6.1 and 6.12) cross-checks.

use super::completion::CompletionLayout;
use super::mutex::{self, MutexLayout};
use super::rt_mutex::{self, Guarded, RtMutexLayout};
use super::rwbase_rt::{self, Readers, RwbaseLayout};
use super::rwsem::{self, MAX_WAITERS, RwsemLayout};
use super::semaphore::{self, SemaphoreLayout};
use super::{Confidence, Evidence, LockId, LockKind, Mode, QueueAt, Wait};
use crate::Kernel;
use crate::list::list_nodes;
use crate::mm::slab::SlabLayout;
use crate::mm::{MemMap, WaitTable};
use holdup_kmem::{KernelMemory, ReadError, Region};
use holdup_symbols::SymbolTable;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

/// `THREAD_SIZE` of the unit tests' fake kernels.
#[cfg(test)]
const THREAD_SIZE: u64 = 16 << 10;

/// Whether `v` can be a list node's or a task's address: 8-aligned, in the kernel half of
/// this dump's address space (which the paging mode decides: kmem knows it).
fn kernel_ptr(mem: &dyn KernelMemory, v: u64) -> bool {
    mem.is_kernel_pointer(v, 8)
}

/// Every layout the lock code needs, read once from the kernel's types and symbols. A part
/// the kernel lacks is `None` and named in `problems`.
#[derive(Debug, Clone)]
pub struct Layouts {
    pub rwsem: Option<RwsemLayout>,
    pub mutex: Option<MutexLayout>,
    pub semaphore: Option<SemaphoreLayout>,
    pub completion: Option<CompletionLayout>,
    pub memmap: Option<MemMap>,
    pub wait_table: Option<WaitTable>,
    /// `task_struct.stack`, `task_struct.thread.sp`.
    pub task_stack: u64,
    pub task_sp: u64,
    pub task_mm: Option<u64>,
    /// `task_struct.pi_blocked_on` and `rt_mutex_waiter.lock`.
    pub pi_blocked_on: Option<(u64, u64)>,
    /// `rt_mutex_base.owner`.
    pub rt_owner: Option<u64>,
    /// `struct rt_mutex_base` and its waiters tree.
    pub rt_mutex: Option<RtMutexLayout>,
    /// `struct percpu_rw_semaphore`.
    pub percpu_rwsem: Option<super::percpu_rwsem::PercpuRwsemLayout>,
    /// `struct wait_bit_queue_entry`.
    pub wait_bit: Option<super::wait_bit::WaitBitLayout>,
    /// PREEMPT_RT: the `rw_semaphore` built on `rwbase_rt`, and the offset of the
    /// `rt_mutex_base` in a `mutex` (absent on other kernels).
    pub rwbase: Option<RwbaseLayout>,
    pub mutex_rtmutex: Option<u64>,
    /// `task_struct.blocker` (hung-task blocker tracking, 6.16+).
    pub blocker: Option<u64>,
    /// `wait_queue_entry` and `wait_queue_head` (for `wait_event*` sleepers).
    pub wait_queue: Option<WaitQueueLayout>,
    /// `THREAD_SIZE`: the size of a task's kernel stack ([`Kernel::thread_size`]).
    pub thread_size: u64,
    /// `swait_queue_head.task_list`.
    pub swait_head_list: Option<u64>,
    /// `mm_struct.mmap_lock`, `mm_struct.owner` (CONFIG_MEMCG).
    pub mm_mmap_lock: Option<u64>,
    pub mm_owner: Option<u64>,
    /// Slab pages and caches (for naming locks inside slab objects).
    pub slab: Option<SlabLayout>,
    pub problems: Vec<String>,
}

impl Layouts {
    pub fn new(k: &Kernel) -> Result<Layouts, ReadError> {
        let t = &k.types;
        let mut problems = Vec::new();
        fn keep<T>(what: &str, r: Result<T, ReadError>, problems: &mut Vec<String>) -> Option<T> {
            r.map_err(|e| problems.push(format!("{what}: {e}"))).ok()
        }
        let memmap = keep("page layout", MemMap::new(k), &mut problems);
        let wait_table = match &memmap {
            Some(m) => keep("page wait table", WaitTable::new(k, m), &mut problems),
            None => None,
        };
        let off = |p: &str| t.offsetof(p).ok();
        let pi = match (
            off("task_struct.pi_blocked_on"),
            off("rt_mutex_waiter.lock"),
        ) {
            (Some(a), Some(b)) => Some((a, b)),
            _ => None,
        };
        // On PREEMPT_RT an rw_semaphore is a rwbase_rt and a mutex an rt_mutex_base: the
        // non-RT layouts are then not missing, only not this kernel's.
        let rwbase = RwbaseLayout::from_types(t).ok();
        let mutex_rtmutex = off("mutex.rtmutex");
        let rwsem = match (RwsemLayout::from_types(t), rwbase) {
            (Ok(l), _) => Some(l),
            (Err(_), Some(_)) => None,
            (Err(e), None) => keep("rw_semaphore", Err(e), &mut problems),
        };
        let mutex = match (MutexLayout::from_types(t), mutex_rtmutex) {
            (Ok(l), _) => Some(l),
            (Err(_), Some(_)) => None,
            (Err(e), None) => keep("mutex", Err(e), &mut problems),
        };
        Ok(Layouts {
            rwsem,
            mutex,
            semaphore: keep("semaphore", SemaphoreLayout::from_types(t), &mut problems),
            completion: keep("completion", CompletionLayout::from_types(t), &mut problems),
            memmap,
            wait_table,
            task_stack: crate::sched::offset_of(k, "task_struct.stack")?,
            task_sp: crate::sched::offset_of(k, "task_struct.thread.sp")?,
            task_mm: off("task_struct.mm"),
            pi_blocked_on: pi,
            rt_owner: off("rt_mutex_base.owner"),
            rt_mutex: RtMutexLayout::from_types(t).ok(),
            percpu_rwsem: super::percpu_rwsem::PercpuRwsemLayout::from_types(t).ok(),
            wait_bit: super::wait_bit::WaitBitLayout::from_types(t).ok(),
            rwbase,
            mutex_rtmutex,
            blocker: off("task_struct.blocker"),
            wait_queue: keep(
                "wait_queue_entry",
                WaitQueueLayout::from_types(t),
                &mut problems,
            ),
            swait_head_list: off("swait_queue_head.task_list"),
            thread_size: k.thread_size,
            mm_mmap_lock: off("mm_struct.mmap_lock"),
            mm_owner: off("mm_struct.owner"),
            slab: keep("slab layout", SlabLayout::new(k), &mut problems),
            problems,
        })
    }

    /// The record shapes to look for: (offset of `task`, offset of the list node, record
    /// size) with the lock kinds sharing it and the offset of their wait list head.
    fn shapes(&self) -> Vec<Shape> {
        let mut shapes: Vec<Shape> = Vec::new();
        let mut add =
            |task_off: u64, list_off: u64, size: u64, kind: LockKind, wl: QueueAt| match shapes
                .iter_mut()
                .find(|s| s.task_off == task_off && s.list_off == list_off)
            {
                Some(s) => {
                    s.size = s.size.max(size);
                    s.kinds.push((kind, wl));
                }
                None => shapes.push(Shape {
                    task_off,
                    list_off,
                    size,
                    kinds: vec![(kind, wl)],
                }),
            };
        if let Some(l) = &self.rwsem {
            add(
                l.waiter_task,
                l.waiter_list,
                l.waiter_task + 8,
                LockKind::Rwsem,
                l.wait_list,
            );
        }
        if let Some(l) = &self.mutex {
            add(
                l.waiter_task,
                l.waiter_list,
                l.waiter_task + 8,
                LockKind::Mutex,
                l.wait_list,
            );
        }
        if let Some(l) = &self.semaphore {
            add(
                l.waiter_task,
                l.waiter_list,
                l.waiter_task + 8,
                LockKind::Semaphore,
                l.wait_list,
            );
        }
        if let Some(l) = &self.completion {
            add(
                l.waiter_task,
                l.waiter_list,
                (l.waiter_list + 16).max(l.waiter_task + 8),
                LockKind::Completion,
                QueueAt::ListHead(l.task_list),
            );
        }
        shapes
    }
}

/// `struct wait_queue_entry` and `struct wait_queue_head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitQueueLayout {
    pub entry_flags: u64,
    pub entry_private: u64,
    pub entry_func: u64,
    pub entry_list: u64,
    pub entry_size: u64,
    pub head_list: u64,
}

impl WaitQueueLayout {
    pub fn from_types(t: &holdup_types::Types) -> Result<WaitQueueLayout, ReadError> {
        let ty = |e: holdup_types::TypeError| super::missing(format!("types: {e}"));
        let off = |p: &str| t.offsetof(p).map_err(ty);
        Ok(WaitQueueLayout {
            entry_flags: off("wait_queue_entry.flags")?,
            entry_private: off("wait_queue_entry.private")?,
            entry_func: off("wait_queue_entry.func")?,
            entry_list: off("wait_queue_entry.entry")?,
            entry_size: t.sizeof("struct wait_queue_entry").map_err(ty)?,
            head_list: off("wait_queue_head.head")?,
        })
    }
}

#[derive(Debug, Clone)]
struct Shape {
    task_off: u64,
    list_off: u64,
    size: u64,
    kinds: Vec<(LockKind, QueueAt)>,
}

/// A return address found on a stack, with the function it returns into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Where on the stack.
    pub slot: u64,
    pub ret: u64,
    /// The function, without a `.constprop.0`-style suffix.
    pub function: String,
    pub func_start: u64,
    pub func_size: u64,
}

/// One task's kernel stack, read once.
#[derive(Debug)]
pub struct TaskStack {
    pub task: u64,
    /// `task->stack`.
    pub base: u64,
    /// `task->thread.sp`: where the task's live frames begin (when it is switched out).
    pub sp: u64,
    /// Whether `sp` lies inside the stack (else every word counts as live).
    pub sp_valid: bool,
    bytes: Vec<u8>,
    /// Per 4 KiB page of the stack: whether it could be read.
    readable: Vec<bool>,
    frames: OnceLock<Vec<Frame>>,
}

impl TaskStack {
    /// Reads the stack of `task`. Pages that cannot be read (filtered out of the dump) are
    /// left out; an error only when nothing at all could be read.
    pub fn read(mem: &dyn KernelMemory, l: &Layouts, task: u64) -> Result<TaskStack, ReadError> {
        let base = mem.read_u64(task.wrapping_add(l.task_stack))?;
        let sp = mem.read_u64(task.wrapping_add(l.task_sp))?;
        let size = l.thread_size;
        if base.checked_add(size).is_none() {
            return Err(ReadError::Corrupt {
                vaddr: task.wrapping_add(l.task_stack),
                detail: format!(
                    "task {task:#x}: stack {base:#x} runs past the end of the address space"
                ),
            });
        }
        let mut bytes = vec![0u8; size as usize];
        let pages = (size / 4096) as usize;
        // A sleeping task uses the top of its stack: the pages wholly below its saved stack
        // pointer hold only what earlier calls left there. They are not read (most of the
        // cost of reading many stacks is inflating their pages); a read there goes to the
        // dump (see StackBackedMemory).
        let sp_valid = sp >= base && sp < base + size;
        let first_page = if sp_valid {
            ((sp - base) / 4096) as usize
        } else {
            0
        };
        let mut readable = vec![true; pages];
        readable[..first_page].fill(false);
        let from = first_page * 4096;
        if let Err(first) = mem.read(base + from as u64, &mut bytes[from..]) {
            for (i, ok) in readable.iter_mut().enumerate().skip(first_page) {
                let chunk = &mut bytes[i * 4096..(i + 1) * 4096];
                *ok = mem.read(base + i as u64 * 4096, chunk).is_ok();
            }
            if !readable.iter().any(|&r| r) {
                return Err(first);
            }
        }
        Ok(TaskStack {
            task,
            base,
            sp,
            sp_valid,
            bytes,
            readable,
            frames: OnceLock::new(),
        })
    }

    /// A stack from bytes, for tests.
    #[cfg(test)]
    pub(crate) fn from_bytes(task: u64, base: u64, sp: u64, bytes: Vec<u8>) -> TaskStack {
        assert_eq!(bytes.len() as u64, THREAD_SIZE);
        TaskStack {
            task,
            base,
            sp,
            sp_valid: true,
            bytes,
            readable: vec![true; 4],
            frames: OnceLock::new(),
        }
    }

    pub fn top(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }

    pub fn contains(&self, addr: u64) -> bool {
        addr >= self.base && addr < self.top()
    }

    /// Whether `addr` is in the live part of the stack (at or above the saved `sp`).
    pub fn is_live(&self, addr: u64) -> bool {
        self.contains(addr) && (!self.sp_valid || addr >= self.sp)
    }

    /// The word at `addr`, if it is on this stack and was read.
    pub fn word(&self, addr: u64) -> Option<u64> {
        if !self.contains(addr) || self.top() - addr < 8 {
            return None;
        }
        let off = (addr - self.base) as usize;
        if !self.readable[off / 4096] || !self.readable[(off + 7) / 4096] {
            return None;
        }
        Some(u64::from_le_bytes(
            self.bytes[off..off + 8].try_into().expect("8 bytes"),
        ))
    }

    /// Copies `buf.len()` bytes from `addr` when they all lie in the readable part of this
    /// stack; false (and nothing copied) otherwise.
    pub fn copy_out(&self, addr: u64, buf: &mut [u8]) -> bool {
        let Some(end) = addr.checked_add(buf.len() as u64) else {
            return false;
        };
        if !self.contains(addr) || end > self.top() || buf.is_empty() {
            return false;
        }
        let (off, end_off) = ((addr - self.base) as usize, (end - self.base) as usize);
        if !(off / 4096..=(end_off - 1) / 4096).all(|p| self.readable[p]) {
            return false;
        }
        buf.copy_from_slice(&self.bytes[off..end_off]);
        true
    }

    /// Every readable aligned word: (address, value), lowest address first.
    pub fn words(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.words_from(0)
    }

    /// The readable aligned words from the `first`-th on.
    fn words_from(&self, first: usize) -> impl Iterator<Item = (u64, u64)> + '_ {
        let first = first.min(self.bytes.len() / 8);
        self.bytes[first * 8..]
            .chunks_exact(8)
            .enumerate()
            .map(move |(i, w)| (first + i, w))
            .filter(|(i, _)| self.readable[i * 8 / 4096])
            .map(|(i, w)| {
                (
                    self.base + i as u64 * 8,
                    u64::from_le_bytes(w.try_into().expect("8 bytes")),
                )
            })
    }

    /// The live words (at or above `sp`). A sleeping task's live part is a small fraction of
    /// its stack, so the walk starts at `sp` rather than filtering every word.
    pub fn live_words(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let first = if self.sp_valid {
            (self.sp - self.base).div_ceil(8) as usize
        } else {
            0
        };
        self.words_from(first)
    }

    /// The return addresses in the live part of the stack: words pointing just after a call
    /// instruction in a function with a symbol. Ordered from the innermost frame out.
    /// Without symbols there are none. Computed once.
    pub fn frames(&self, mem: &dyn KernelMemory, symbols: Option<&SymbolTable>) -> &[Frame] {
        self.frames.get_or_init(|| {
            let mut out = Vec::new();
            let Some(symbols) = symbols else {
                return out;
            };
            for (slot, w) in self.live_words() {
                if !mem.is_kernel_pointer(w, 1) {
                    continue;
                }
                let Some(r) = symbols.resolve(w - 1) else {
                    continue;
                };
                if !matches!(r.symbol.kind, 't' | 'T') {
                    continue;
                }
                let mut before = [0u8; 7];
                if mem.read(w - 7, &mut before).is_err() || !after_call(&before) {
                    continue;
                }
                // A word at a function's very start is a function pointer, unless a direct
                // call ends the function before it: a noreturn call (a kthread's last call to
                // a function that sleeps for ever) returns, in name, to the next function's
                // first byte.
                let at_start = symbols.resolve(w).is_some_and(|x| x.offset == 0);
                if at_start {
                    // Only a direct call can end a function; and a pointer to the next
                    // function (a kthread keeps its threadfn on its stack) looks the same, so
                    // the call's target must be the function of a frame already found inside
                    // this one: the noreturn function the task sleeps under.
                    if before[2] != 0xe8 {
                        continue;
                    }
                    let rel = i32::from_le_bytes([before[3], before[4], before[5], before[6]]);
                    let target = w.wrapping_add(i64::from(rel) as u64);
                    if !out.iter().any(|f: &Frame| f.func_start == target) {
                        continue;
                    }
                }
                out.push(Frame {
                    slot,
                    ret: w,
                    function: base_name(r.symbol.name).to_string(),
                    func_start: r.symbol.addr,
                    func_size: r.size,
                });
            }
            out
        })
    }
}

/// Whether the 7 bytes before a return address end with a call instruction: `call rel32`
/// (`e8`), `call *%reg` (`ff d0+r`), `call *disp8(%reg)` (`ff 50+r d8`), `call *(%reg)`
/// (`ff 10+r`) or `call *disp32(%rip)`/`*disp32(%reg)` (`ff 15`/`ff 90+r d32`).
fn after_call(b: &[u8; 7]) -> bool {
    b[2] == 0xe8
        || (b[5] == 0xff && (0xd0..=0xd7).contains(&b[6]))
        || (b[5] == 0xff && (0x10..=0x17).contains(&b[6]) && b[6] != 0x14 && b[6] != 0x15)
        || (b[4] == 0xff && (0x50..=0x57).contains(&b[5]))
        || (b[1] == 0xff && (b[2] == 0x15 || (0x90..=0x97).contains(&b[2])))
        || (b[0] == 0xff && b[1] == 0x14)
}

/// `__mutex_lock.constprop.0` -> `__mutex_lock`.
pub fn base_name(name: &str) -> &str {
    name.split('.').next().unwrap_or(name)
}

/// Whether a function (without compiler suffix) is a kind of lock's slow path.
type IsSlowPath = fn(&str) -> bool;

/// Each kind of lock with the test of its slow-path functions, which lives in the kind's own
/// module; the first that claims a function names its kind.
const SLOW_PATHS: &[(LockKind, IsSlowPath)] = &[
    (LockKind::Semaphore, semaphore::is_slow_path),
    (LockKind::PageLock, super::page_lock::is_slow_path),
    (LockKind::Rwsem, rwsem::is_slow_path),
    (LockKind::Mutex, mutex::is_slow_path),
    (LockKind::Completion, super::completion::is_slow_path),
    (LockKind::RtMutex, rt_mutex::is_slow_path),
    (LockKind::PercpuRwsem, super::percpu_rwsem::is_slow_path),
    (LockKind::WaitBit, super::wait_bit::is_slow_path),
];

/// Which lock's slow path a function belongs to (by name, without a `.constprop.0`-style
/// suffix: the functions a backtrace shows for each kind of sleeper; see
/// `dumps/hangmod/README.md`).
pub fn slowpath_kind(function: &str) -> Option<LockKind> {
    let f = base_name(function);
    SLOW_PATHS.iter().find(|(_, is)| is(f)).map(|&(k, _)| k)
}

/// The stacks of a set of tasks, with an index from stack address to task.
#[derive(Debug, Default)]
pub struct Stacks {
    /// In the order the tasks were given.
    stacks: Vec<TaskStack>,
    by_task: HashMap<u64, usize>,
    /// (base, top, index into `stacks`) by base: every read of the analysis asks which stack
    /// an address is on, so a binary search over a flat array (built once).
    by_base: OnceLock<Vec<(u64, u64, usize)>>,
    /// Tasks whose stack could not be read, with why.
    pub problems: Vec<String>,
}

impl Stacks {
    /// Reads the stacks of `tasks` in parallel.
    pub fn read(k: &Kernel, l: &Layouts, tasks: &[u64]) -> Stacks {
        let read: Vec<(u64, Result<TaskStack, ReadError>)> = tasks
            .par_iter()
            .map(|&t| (t, TaskStack::read(k.mem(), l, t)))
            .collect();
        let mut s = Stacks::default();
        for (t, r) in read {
            match r {
                Ok(st) => s.insert(st),
                Err(e) => s.problems.push(format!("stack of task {t:#x}: {e}")),
            }
        }
        s
    }

    pub fn insert(&mut self, st: TaskStack) {
        match self.by_task.get(&st.task) {
            Some(&i) => self.stacks[i] = st,
            None => {
                self.by_task.insert(st.task, self.stacks.len());
                self.stacks.push(st);
            }
        }
        self.by_base = OnceLock::new();
    }

    pub fn get(&self, task: u64) -> Option<&TaskStack> {
        self.by_task.get(&task).map(|&i| &self.stacks[i])
    }

    /// The stack `addr` lies on.
    pub fn owner_of(&self, addr: u64) -> Option<&TaskStack> {
        let v = self.by_base.get_or_init(|| {
            let mut v: Vec<(u64, u64, usize)> = self
                .stacks
                .iter()
                .enumerate()
                .map(|(i, st)| (st.base, st.top(), i))
                .collect();
            v.sort_unstable();
            v
        });
        let i = v.partition_point(|e| e.0 <= addr);
        let &(_, top, idx) = v.get(i.checked_sub(1)?)?;
        (addr < top).then(|| &self.stacks[idx])
    }

    /// In the order the tasks were given.
    pub fn iter(&self) -> impl Iterator<Item = &TaskStack> {
        self.stacks.iter()
    }

    pub fn len(&self) -> usize {
        self.stacks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.stacks.is_empty()
    }
}

/// Kernel memory with the stacks already read answered from their bytes: waiter records live
/// on stacks, and following a queue of thousands of them reads stack after stack; without
/// this each read goes back to the dump's pages, which a small cache cannot all keep.
pub struct StackBackedMemory<'a> {
    pub inner: &'a dyn KernelMemory,
    pub stacks: &'a Stacks,
}

impl KernelMemory for StackBackedMemory<'_> {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        if let Some(st) = self.stacks.owner_of(vaddr)
            && st.copy_out(vaddr, buf)
        {
            return Ok(());
        }
        self.inner.read(vaddr, buf)
    }
    fn kernel_space_start(&self) -> u64 {
        self.inner.kernel_space_start()
    }
    fn region(&self, v: u64) -> holdup_kmem::Region {
        self.inner.region(v)
    }
}

/// Everything [`find_waits`] needs.
pub struct WaitCx<'a> {
    pub mem: &'a dyn KernelMemory,
    /// To name the functions on stacks; without it the kind of lock behind a record is
    /// told from the lock's words alone (an inference).
    pub symbols: Option<&'a SymbolTable>,
    pub layouts: &'a Layouts,
    pub stacks: &'a Stacks,
    /// Wait lists already walked, by each of their nodes: thousands of tasks queued on one
    /// lock share one walk instead of each walking the whole list again.
    pub walked: WalkedLists,
}

/// A wait list walked once: its head and its nodes in order (with each one's place), and how
/// the walk ended.
#[derive(Debug)]
pub struct WalkedList {
    pub head: u64,
    pub nodes: Vec<u64>,
    place: HashMap<u64, usize>,
    pub end: crate::list::ListEnd,
}

impl WalkedList {
    /// The place of `node` in the list, from 0.
    pub fn position(&self, node: u64) -> Option<usize> {
        self.place.get(&node).copied()
    }
}

/// Lists walked, by their head. Only by the head the record's own walk reached: a node of a
/// list is never taken as proof that another record belongs to it (a stale record found on
/// a stack can lead into a list from a wrong place).
///
/// Also the heads [`find_head`] reached, by every node its walk went through: the way from a
/// node to its head depends on nothing but that node (and the record shape), so a record
/// whose walk meets a node seen before takes the head found then instead of walking on.
/// That is only a shortcut to the head: the proof stays the walk from the head, which must
/// hold the record's own node. Without it, N records queued on one lock cost N²/2 steps.
#[derive(Default)]
pub struct WalkedLists {
    lists: std::sync::Mutex<HashMap<u64, std::sync::Arc<WalkedList>>>,
    heads: std::sync::Mutex<HashMap<HeadKey, u64>>,
}

/// A node, the record shape (`task` and list offsets) and the walk's strictness.
type HeadKey = (u64, u64, u64, bool);

impl WalkedLists {
    fn head_of(&self, key: HeadKey) -> Option<u64> {
        self.heads.lock().ok()?.get(&key).copied()
    }

    fn remember_head(&self, shape: &Shape, strict: bool, nodes: &[u64], head: u64) {
        if let Ok(mut m) = self.heads.lock() {
            for &n in nodes {
                m.insert((n, shape.task_off, shape.list_off, strict), head);
            }
        }
    }

    /// The list whose head is `head`: walked now (bounded, cycle-checked) the first time.
    fn walk_from(&self, mem: &dyn KernelMemory, head: u64) -> std::sync::Arc<WalkedList> {
        if let Some(w) = self.lists.lock().ok().and_then(|m| m.get(&head).cloned()) {
            return w;
        }
        let (nodes, end) = list_nodes(mem, head, MAX_WAITERS);
        let place = nodes.iter().enumerate().map(|(i, &n)| (n, i)).collect();
        let w = std::sync::Arc::new(WalkedList {
            head,
            nodes,
            place,
            end,
        });
        if let Ok(mut m) = self.lists.lock() {
            m.insert(head, w.clone());
        }
        w
    }
}

impl<'a> WaitCx<'a> {
    pub fn new(k: &'a Kernel, layouts: &'a Layouts, stacks: &'a Stacks) -> WaitCx<'a> {
        WaitCx {
            mem: k.mem(),
            symbols: Some(&k.symbols),
            layouts,
            stacks,
            walked: WalkedLists::default(),
        }
    }

    fn frames<'s>(&self, stack: &'s TaskStack) -> &'s [Frame] {
        stack.frames(self.mem, self.symbols)
    }

    /// The function a return address's call instruction called, when it is a direct
    /// `call rel32` (how a module or a tail-calling function reaches a lock function).
    fn call_target(&self, ret: u64) -> Option<&'a str> {
        let mut b = [0u8; 5];
        self.mem.read(ret.wrapping_sub(5), &mut b).ok()?;
        if b[0] != 0xe8 {
            return None;
        }
        let rel = i32::from_le_bytes([b[1], b[2], b[3], b[4]]);
        self.function_at(ret.wrapping_add(rel as i64 as u64))
    }

    /// The function starting exactly at `addr` (a function pointer's target).
    fn function_at(&self, addr: u64) -> Option<&'a str> {
        let r = self.symbols?.resolve(addr)?;
        (r.offset == 0 && matches!(r.symbol.kind, 't' | 'T')).then_some(r.symbol.name)
    }

    /// Whether the list node `n` is the `entry` of a `wait_queue_entry` (its `func` is a
    /// function pointer).
    fn is_wait_queue_entry(&self, n: u64) -> bool {
        let Some(l) = &self.layouts.wait_queue else {
            return false;
        };
        self.mem
            .read_u64(n.wrapping_sub(l.entry_list).wrapping_add(l.entry_func))
            .is_ok_and(|f| self.mem.is_kernel_pointer(f, 1) && self.function_at(f).is_some())
    }
}

/// What `task` waits on: each waiter record on its stack that is linked into a lock's wait
/// list (normally one), plus `pi_blocked_on`. Empty when the task waits on nothing holdup
/// knows (or is running).
pub fn find_waits(cx: &WaitCx<'_>, task: u64) -> Vec<Wait> {
    let mut out = Vec::new();
    let Some(stack) = cx.stacks.get(task) else {
        return out;
    };
    let mem = cx.mem;
    let mut seen = HashSet::new();
    let shapes = cx.layouts.shapes();
    for (slot, w) in stack.live_words() {
        if w != task {
            continue;
        }
        for shape in &shapes {
            let Some(record) = slot.checked_sub(shape.task_off) else {
                continue;
            };
            if !stack.contains(record)
                || !stack.contains(record.saturating_add(shape.size.saturating_sub(1)))
            {
                continue;
            }
            let node = record + shape.list_off;
            if !seen.insert(node) {
                continue;
            }
            if let Some(wait) = waiter_in_list(cx, stack, shape, record, node) {
                out.push(wait);
            }
        }
    }
    if let Some(t) = &cx.layouts.wait_table {
        for (slot, w) in stack.live_words() {
            if w == t.wake_page_function {
                out.extend(page_waiter(cx, stack, t, slot));
            }
        }
    }
    if let Some(l) = &cx.layouts.wait_queue {
        let mut seen = HashSet::new();
        for (slot, w) in stack.live_words() {
            if w != task {
                continue;
            }
            let Some(entry) = slot.checked_sub(l.entry_private) else {
                continue;
            };
            if seen.insert(entry + l.entry_list) {
                out.extend(wait_queue_waiter(cx, stack, l, entry));
            }
        }
    }
    let pi = cx
        .layouts
        .pi_blocked_on
        .and_then(|(pi_off, lock_off)| {
            Some((
                pi_off,
                lock_off,
                mem.read_u64(task.wrapping_add(pi_off)).ok()?,
            ))
        })
        .filter(|p| p.2 != 0);
    if let Some((pi_off, lock_off, waiter)) = pi {
        match mem.read_u64(waiter.wrapping_add(lock_off)) {
            Ok(lock) => out.push(Wait {
                task,
                lock: LockId {
                    kind: LockKind::RtMutex,
                    addr: lock,
                },
                mode: Mode::Exclusive,
                record: waiter,
                position: None,
                detail: vec![],
                evidence: Evidence::fact(
                    "task_struct.pi_blocked_on -> rt_mutex_waiter.lock",
                    task + pi_off,
                ),
            }),
            Err(e) => log::debug!("pi_blocked_on of {task:#x}: {e}"),
        }
    }
    rt_waits(cx, stack, &mut out);
    percpu_writer_wait(cx, stack, &mut out);
    let blocker = cx
        .layouts
        .blocker
        .and_then(|off| Some((off, mem.read_u64(task.wrapping_add(off)).ok()?)))
        .filter(|b| b.1 != 0);
    if let Some((off, b)) = blocker {
        // hung_task.h: the lock address with the blocker type in the two low bits.
        let addr = b & !3;
        let agrees = out.iter().any(|w| w.lock.addr == addr);
        for w in &mut out {
            w.detail.push((
                "task_struct.blocker".into(),
                if w.lock.addr == addr {
                    "agrees".into()
                } else {
                    format!("names {addr:#x} instead")
                },
            ));
        }
        if !agrees {
            let kind = match b & 3 {
                0 => LockKind::Mutex,
                1 => LockKind::Semaphore,
                _ => LockKind::Rwsem,
            };
            out.push(Wait {
                task,
                lock: LockId { kind, addr },
                mode: match b & 3 {
                    0 => Mode::Exclusive,
                    1 => Mode::Count,
                    2 => Mode::Read,
                    _ => Mode::Write,
                },
                record: 0,
                position: None,
                detail: vec![],
                evidence: Evidence::fact("task_struct.blocker", task + off),
            });
        }
    }
    for w in out
        .iter_mut()
        .filter(|w| !w.detail.iter().any(|d| d.0 == "blocked_in"))
    {
        if let Some(f) = cx
            .frames(stack)
            .iter()
            .find(|f| slowpath_kind(&f.function) == Some(w.lock.kind.lock_family()))
        {
            w.detail.push(("blocked_in".into(), f.function.clone()));
        }
    }
    out
}

/// PREEMPT_RT: the lock behind an rt_mutex wait, and the writer of an `rw_semaphore` that
/// waits for its readers without sleeping on any rt_mutex (see [`rwbase_rt`]).
///
/// A task blocked on an rt_mutex names it through `pi_blocked_on`; the lock function it
/// called (on its stack, or the target of its caller's call instruction) says whether that
/// rt_mutex is an RT `mutex` or the inner lock of an RT `rw_semaphore`, read or write side.
fn rt_waits(cx: &WaitCx<'_>, stack: &TaskStack, out: &mut Vec<Wait>) {
    let l = cx.layouts;
    if l.rwbase.is_none() && l.mutex_rtmutex.is_none() {
        return;
    }
    let frames = cx.frames(stack);
    let names: Vec<&str> = frames
        .iter()
        .flat_map(|f| [Some(f.function.as_str()), cx.call_target(f.ret)])
        .flatten()
        .collect();
    let guarded = rt_mutex::what_it_guards(names.iter().copied());
    let rt_frame = frames
        .iter()
        .find(|f| slowpath_kind(&f.function).is_some())
        .map(|f| f.function.clone());
    for w in out.iter_mut().filter(|w| w.lock.kind == LockKind::RtMutex) {
        let through = |what: &str| {
            format!("task_struct.pi_blocked_on -> rt_mutex_waiter.lock: the rt_mutex of {what}")
        };
        match (guarded, l.rwbase, l.mutex_rtmutex) {
            (Some((Guarded::RwSemaphore, mode)), Some(rl), _) => {
                let sem = rl.sem_of(w.lock.addr);
                let readers = cx
                    .mem
                    .read_u32(sem.wrapping_add(rl.rwbase).wrapping_add(rl.readers))
                    .map(Readers::decode);
                if matches!(readers, Ok(Readers::Odd { .. }) | Err(_)) {
                    continue;
                }
                w.lock = LockId {
                    kind: LockKind::Rwsem,
                    addr: sem,
                };
                w.mode = mode;
                w.evidence = Evidence::fact(
                    through("an rw_semaphore (rwbase_rt), entered to take it for ") + mode.as_str(),
                    w.evidence.at(),
                );
            }
            (Some((Guarded::Mutex, _)), _, Some(off)) => {
                w.lock = LockId {
                    kind: LockKind::Mutex,
                    addr: w.lock.addr.wrapping_sub(off),
                };
                w.evidence = Evidence::fact(
                    through("a mutex (PREEMPT_RT), entered through mutex_lock"),
                    w.evidence.at(),
                );
            }
            _ => continue,
        }
        if let Some(f) = &rt_frame {
            w.detail.push(("blocked_in".into(), f.clone()));
        }
    }
    // The writer that took the rt_mutex and sleeps until the readers leave.
    let (Some(rl), Some((Guarded::RwSemaphore, Mode::Write))) = (l.rwbase, guarded) else {
        return;
    };
    if out.iter().any(|w| w.lock.kind == LockKind::Rwsem) {
        return;
    }
    let Some((sem, s)) = rwbase_rt::waiting_writer_of(
        cx.mem,
        &rl,
        stack.task,
        stack.live_words().map(|(_, v)| v),
        |a| cx.stacks.owner_of(a).is_some(),
    ) else {
        return;
    };
    let readers = s.readers.value.holding_readers();
    let mut detail = vec![("readers".to_string(), readers.to_string())];
    if let Some(f) = frames
        .iter()
        .find(|f| f.function.contains("rwbase_write_lock"))
    {
        detail.push(("blocked_in".into(), f.function.clone()));
    }
    out.push(Wait {
        task: stack.task,
        lock: LockId {
            kind: LockKind::Rwsem,
            addr: sem,
        },
        mode: Mode::Write,
        record: rl.rtmutex_of(sem),
        position: Some(0),
        detail,
        evidence: Evidence::fact(
            format!(
                "rwbase_rt.rtmutex.owner names it while rwbase_rt.readers = {readers} without READER_BIAS: a writer waiting in rwbase_write_lock for the readers to leave"
            ),
            rl.rtmutex_of(sem) + rl.rt.owner,
        ),
    });
}

/// A writer asleep in `percpu_down_write` until the readers leave: it is on no wait queue,
/// the semaphore names it in `writer.task` (see [`super::percpu_rwsem`]).
fn percpu_writer_wait(cx: &WaitCx<'_>, stack: &TaskStack, out: &mut Vec<Wait>) {
    let Some(l) = &cx.layouts.percpu_rwsem else {
        return;
    };
    let frames = cx.frames(stack);
    let Some(f) = frames.iter().find(|f| f.function == "percpu_down_write") else {
        return;
    };
    if out.iter().any(|w| w.lock.kind == LockKind::PercpuRwsem) {
        return;
    }
    let Some(sem) = super::percpu_rwsem::waiting_writer_of(
        cx.mem,
        l,
        stack.task,
        stack.live_words().map(|(_, v)| v),
        |a| cx.stacks.owner_of(a).is_some(),
    ) else {
        return;
    };
    out.push(Wait {
        task: stack.task,
        lock: LockId {
            kind: LockKind::PercpuRwsem,
            addr: sem,
        },
        mode: Mode::Write,
        record: sem + l.writer_task,
        // Not in the waiters queue: the writer slot (rcuwait) is apart from it, ahead of it.
        position: None,
        detail: vec![("blocked_in".into(), f.function.clone())],
        evidence: Evidence::fact(
            "percpu_rw_semaphore.writer.task (rcuwait) names it and block is set: a writer waiting in percpu_down_write for the readers to leave",
            sem + l.writer_task,
        ),
    });
}

impl LockKind {
    /// The kind whose slow-path functions a wait of this kind sleeps in.
    fn lock_family(self) -> LockKind {
        match self {
            LockKind::PageWriteback | LockKind::PageBit => LockKind::PageLock,
            k => k,
        }
    }
}

/// Whether the list node `n` belongs to a waiter record of `shape` on the stack of the task
/// the record names.
fn is_waiter_node(mem: &dyn KernelMemory, stacks: &Stacks, shape: &Shape, n: u64) -> bool {
    let Some(st) = stacks.owner_of(n) else {
        return false;
    };
    let record = n.wrapping_sub(shape.list_off);
    st.contains(record)
        && mem
            .read_u64(record.wrapping_add(shape.task_off))
            .is_ok_and(|t| t == st.task)
}

/// Whether the words at `lock` fit a lock of `kind` with waiters.
fn plausible(cx: &WaitCx<'_>, kind: LockKind, lock: u64) -> bool {
    let mem = cx.mem;
    let l = cx.layouts;
    match kind {
        LockKind::Rwsem => l
            .rwsem
            .as_ref()
            .is_some_and(|l| rwsem::plausible_with_waiters(mem, l, lock)),
        LockKind::Mutex => l
            .mutex
            .as_ref()
            .is_some_and(|l| mutex::plausible_with_waiters(mem, l, lock)),
        LockKind::Semaphore => l
            .semaphore
            .as_ref()
            .is_some_and(|l| semaphore::plausible_with_waiters(mem, l, lock)),
        LockKind::Completion => l.completion.as_ref().is_some_and(|l| {
            mem.read_u32(lock.wrapping_add(l.done))
                .is_ok_and(|d| d < 1 << 30)
        }),
        _ => false,
    }
}

/// Most nodes walked from a waiter record to its list head: wait lists are short, and a
/// candidate that is not a list node must not send the walk down some long kernel list.
const MAX_WALK: usize = 4096;

/// Follows `next` from `node` to the list head, through the waiter records of known tasks
/// and of unknown ones (a node in vmalloc space — where stacks are — holding what looks like
/// a task pointer: a task missing from an over-filtered dump). The head is the first other
/// node where a lock of the shape's kinds fits; with `strict`, an unknown-waiter look-alike
/// is never taken as the head. `None` when the walk meets anything else, comes back to
/// `node`, or fails.
fn find_head(cx: &WaitCx<'_>, shape: &Shape, node: u64, strict: bool) -> Option<u64> {
    let mem = cx.mem;
    let mut n = mem.read_u64(node).ok()?;
    let mut seen = HashSet::new();
    // The waiter nodes passed, in order, to remember the head found by.
    let mut passed = Vec::new();
    for _ in 0..MAX_WALK {
        // Back at the start, off the kernel's addresses, or a cycle that misses both.
        if n == node || !kernel_ptr(mem, n) || !seen.insert(n) {
            return None;
        }
        // A node whose head is known leads there: from it the walk is the same as before
        // (and `node` is not on it, or that walk would have come back to it, not to a head).
        if let Some(head) = cx
            .walked
            .head_of((n, shape.task_off, shape.list_off, strict))
        {
            cx.walked.remember_head(shape, strict, &passed, head);
            return Some(head);
        }
        if !is_waiter_node(mem, cx.stacks, shape, n) {
            let unknown_waiter = mem.region(n) == Region::Vmalloc
                && mem
                    .read_u64(n.wrapping_sub(shape.list_off).wrapping_add(shape.task_off))
                    .is_ok_and(|t| kernel_ptr(mem, t) && mem.region(t) != Region::Vmalloc);
            let fits = shape.kinds.iter().any(|&(k, q)| match q {
                QueueAt::ListHead(wl) => plausible(cx, k, n.wrapping_sub(wl)),
                QueueAt::FirstWaiter(_) => false,
            });
            if fits && !(strict && unknown_waiter) {
                cx.walked.remember_head(shape, strict, &passed, n);
                return Some(n);
            }
            if !unknown_waiter {
                return None;
            }
        }
        passed.push(n);
        n = mem.read_u64(n).ok()?;
    }
    None
}

/// The record at `record` on `stack`: if it is linked into a lock's wait list, the wait.
fn waiter_in_list(
    cx: &WaitCx<'_>,
    stack: &TaskStack,
    shape: &Shape,
    record: u64,
    node: u64,
) -> Option<Wait> {
    let mem = cx.mem;
    let (next, prev) = (
        mem.read_u64(node).ok()?,
        mem.read_u64(node.wrapping_add(8)).ok()?,
    );
    if !kernel_ptr(mem, next) || !kernel_ptr(mem, prev) {
        return None;
    }
    // A `wait_queue_entry` followed on the stack by the task pointer has the same look; its
    // `func` (a function pointer just before the node) gives it away.
    if cx.is_wait_queue_entry(node) {
        return None;
    }
    // A lone waiter in a ring links to itself; in a list with a head it never does.
    if let Some(w) = waiter_in_ring(cx, stack, shape, record, node) {
        return Some(w);
    }
    if next == node {
        return None;
    }
    // The proof: the list walked from its head (bounded, cycle-checked) contains the record.
    // Each list is walked once; the other records on it find their place in that walk.
    let head = find_head(cx, shape, node, true).or_else(|| find_head(cx, shape, node, false))?;
    let walked = cx.walked.walk_from(mem, head);
    let end = walked.end.clone();
    let position = walked.position(node)?;
    let candidates: Vec<(LockKind, u64)> = shape
        .kinds
        .iter()
        .filter_map(|&(k, q)| match q {
            QueueAt::ListHead(wl) => Some((k, head.wrapping_sub(wl))),
            QueueAt::FirstWaiter(_) => None,
        })
        .collect();
    let mut detail = vec![("list_head".to_string(), format!("{head:#x}"))];
    if end != crate::list::ListEnd::Complete {
        detail.push(("wait_list_walk".into(), format!("{end}")));
    }
    queued_wait(cx, stack, record, &candidates, position, detail, Some(head))
}

/// The record at `record` on `stack`, when it is in a ring of waiter records whose lock's
/// `first_waiter` points into it (7.1+: no list head in the lock). The lock is found as a
/// pointer, on this task's stack or another waiter's (or in `task_struct.blocker`), whose
/// `first_waiter` is one of the ring's records.
fn waiter_in_ring(
    cx: &WaitCx<'_>,
    stack: &TaskStack,
    shape: &Shape,
    record: u64,
    node: u64,
) -> Option<Wait> {
    let mem = cx.mem;
    let ring_kinds: Vec<(LockKind, u64)> = shape
        .kinds
        .iter()
        .filter_map(|&(k, q)| match q {
            QueueAt::FirstWaiter(o) => Some((k, o)),
            QueueAt::ListHead(_) => None,
        })
        .collect();
    if ring_kinds.is_empty() {
        return None;
    }
    // The ring, from this node back to it: every node a waiter record on a task's stack.
    let mut nodes = vec![node];
    let mut n = mem.read_u64(node).ok()?;
    while n != node {
        if nodes.len() >= MAX_WALK
            || !kernel_ptr(mem, n)
            || nodes.contains(&n)
            || !is_waiter_node(mem, cx.stacks, shape, n)
        {
            return None;
        }
        nodes.push(n);
        n = mem.read_u64(n).ok()?;
    }
    let records: HashSet<u64> = nodes.iter().map(|n| n - shape.list_off).collect();
    // Where the lock's address may be: the blocker the hung-task code recorded, then the
    // live words of the waiters' stacks (the slow path keeps its lock argument there).
    let blocker = cx
        .layouts
        .blocker
        .and_then(|off| mem.read_u64(stack.task.wrapping_add(off)).ok())
        .map(|b| b & !3)
        .filter(|&b| b != 0);
    let mut candidates: Vec<(LockKind, u64)> = Vec::new();
    let mut first = None;
    let mut tried = HashSet::new();
    let owners = nodes.iter().filter_map(|&n| cx.stacks.owner_of(n));
    let words = blocker.into_iter().chain(
        std::iter::once(stack)
            .chain(owners)
            .flat_map(|st| st.live_words().map(|(_, v)| v)),
    );
    for w in words {
        if !kernel_ptr(mem, w) || cx.stacks.owner_of(w).is_some() || !tried.insert(w) {
            continue;
        }
        for &(kind, off) in &ring_kinds {
            let Ok(f) = mem.read_u64(w.wrapping_add(off)) else {
                continue;
            };
            if records.contains(&f) && plausible(cx, kind, w) {
                candidates.push((kind, w));
                first = Some(f);
            }
        }
        if !candidates.is_empty() {
            break;
        }
    }
    let first = first?;
    // The queue order: from the first waiter round the ring.
    let first_node = first + shape.list_off;
    let start = nodes.iter().position(|&n| n == first_node)?;
    let mine = nodes.iter().position(|&n| n == node)?;
    let position = (mine + nodes.len() - start) % nodes.len();
    let detail = vec![("first_waiter".to_string(), format!("{first:#x}"))];
    queued_wait(cx, stack, record, &candidates, position, detail, None)
}

/// The wait of the record at `record` on `stack`, queued at `position` on one of the locks
/// of `candidates` (kinds sharing the record's shape): the kind whose slow path is on the
/// stack and whose lock's words fit is taken as a fact, anything less as an inference.
/// `head` is the list head the record is linked into, for a list that has one.
fn queued_wait(
    cx: &WaitCx<'_>,
    stack: &TaskStack,
    record: u64,
    candidates: &[(LockKind, u64)],
    position: usize,
    mut detail: Vec<(String, String)>,
    head: Option<u64>,
) -> Option<Wait> {
    let mem = cx.mem;
    let families: Vec<(LockKind, String)> = cx
        .frames(stack)
        .iter()
        .filter_map(|f| slowpath_kind(&f.function).map(|k| (k, f.function.clone())))
        .collect();
    // Score each kind sharing this record shape: its slow path on the stack, its lock's
    // words consistent with having waiters.
    let mut best: Vec<(u8, LockKind, u64, Option<String>, bool)> = Vec::new();
    for &(kind, lock) in candidates {
        let code = families
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, f)| f.clone());
        let structural = plausible(cx, kind, lock);
        let score = 2 * u8::from(code.is_some()) + u8::from(structural);
        best.push((score, kind, lock, code, structural));
    }
    best.sort_by_key(|b| std::cmp::Reverse(b.0));
    let (score, kind, lock, code, structural) = best.first()?.clone();
    if let (LockKind::Completion, None, Some(head)) = (kind, &code, head) {
        // An swait queue with no completion code on the stack (e.g. rcu_gp_kthread's
        // `swait_event_idle_exclusive(rcu_state.gp_wq)`).
        let off = cx.layouts.swait_head_list?;
        return Some(Wait {
            task: stack.task,
            lock: LockId {
                kind: LockKind::SwaitQueue,
                addr: head.wrapping_sub(off),
            },
            mode: Mode::None,
            record,
            position: Some(position),
            detail: vec![("list_head".to_string(), format!("{head:#x}"))],
            evidence: Evidence::fact(
                "swait_queue on the task's stack linked into swait_queue_head.task_list",
                record,
            ),
        });
    }
    let tied = best.iter().filter(|b| b.0 == score).count() > 1;
    let waiter_type = match kind {
        LockKind::Rwsem => "rwsem_waiter",
        LockKind::Mutex => "mutex_waiter",
        LockKind::Semaphore => "semaphore_waiter",
        _ => "swait_queue",
    };
    let lock_type = kind.c_type().trim_start_matches("struct ");
    let queue = match kind {
        LockKind::Completion => "linked into completion.wait.task_list".to_string(),
        _ => match head {
            Some(_) => format!("linked into {lock_type}.wait_list"),
            None => format!("in the ring of waiters from {lock_type}.first_waiter"),
        },
    };
    let evidence = if code.is_some() && structural && !tied {
        Evidence::fact(
            format!(
                "{waiter_type} on the task's stack {queue} (slow path {} on the stack)",
                code.as_deref().unwrap_or("?")
            ),
            record,
        )
    } else {
        let mut reasons = vec![match head {
            Some(head) => format!(
                "a record on the task's stack at {record:#x} naming the task is linked into the list at {head:#x}"
            ),
            None => format!(
                "a record on the task's stack at {record:#x} naming the task is in a ring of waiters whose first the lock at {lock:#x} points to"
            ),
        }];
        let confidence = match (&code, structural) {
            (Some(f), false) => {
                reasons.push(format!(
                    "the stack shows {f}, but the {} at {lock:#x} does not look like one with waiters",
                    kind.c_type()
                ));
                Confidence::MEDIUM
            }
            (None, true) => {
                reasons.push(format!(
                    "no slow-path function of a {} on the stack; its words fit",
                    kind.c_type()
                ));
                Confidence::MEDIUM
            }
            _ => {
                reasons.push("the kind of lock is a guess".into());
                Confidence::LOW
            }
        };
        if tied {
            let others: Vec<String> = best
                .iter()
                .skip(1)
                .filter(|b| b.0 == score)
                .map(|b| format!("{} {:#x}", b.1, b.2))
                .collect();
            reasons.push(format!("could also be {}", others.join(", ")));
        }
        Evidence::inference(confidence, reasons)
    };

    let mode = match kind {
        LockKind::Rwsem => {
            let l = cx.layouts.rwsem.as_ref()?;
            let ty = mem.read_u32(record.wrapping_add(l.waiter_type)).ok()?;
            if let Ok(timeout) = mem.read_u64(record.wrapping_add(l.waiter_timeout)) {
                detail.push(("timeout".into(), timeout.to_string()));
            }
            if ty == l.waiting_for_read {
                Mode::Read
            } else {
                Mode::Write
            }
        }
        LockKind::Mutex => Mode::Exclusive,
        LockKind::Semaphore => Mode::Count,
        _ => Mode::None,
    };
    Some(Wait {
        task: stack.task,
        lock: LockId { kind, addr: lock },
        mode,
        record,
        position: Some(position),
        detail,
        evidence,
    })
}

/// A `wait_queue_entry` at `entry` on `stack` whose `private` is the task and whose `func` is
/// a function: accepted when linked into a wait queue (the head is the first node that is
/// not a `wait_queue_entry`).
fn wait_queue_waiter(
    cx: &WaitCx<'_>,
    stack: &TaskStack,
    l: &WaitQueueLayout,
    entry: u64,
) -> Option<Wait> {
    let mem = cx.mem;
    if !stack.contains(entry)
        || !stack.contains(entry.saturating_add(l.entry_size.saturating_sub(1)))
    {
        return None;
    }
    let func = mem.read_u64(entry.wrapping_add(l.entry_func)).ok()?;
    let fname = cx.function_at(func)?;
    if base_name(fname) == "wake_page_function" {
        return None; // a page wait, found with its folio
    }
    let node = entry + l.entry_list;
    let (next, prev) = (
        mem.read_u64(node).ok()?,
        mem.read_u64(node.wrapping_add(8)).ok()?,
    );
    if !kernel_ptr(mem, next) || !kernel_ptr(mem, prev) || next == node {
        return None;
    }
    let mut n = next;
    let mut head = None;
    let mut seen = HashSet::new();
    for _ in 0..MAX_WALK {
        if n == node || !kernel_ptr(mem, n) || !seen.insert(n) {
            break;
        }
        if !cx.is_wait_queue_entry(n) {
            head = Some(n);
            break;
        }
        n = mem.read_u64(n).ok()?;
    }
    let walked = cx.walked.walk_from(mem, head?);
    let head = walked.head;
    let position = walked.position(node)?;
    let flags = mem.read_u32(entry.wrapping_add(l.entry_flags)).ok()?;
    // A wait for a bit: what is waited on is the word and bit its key names, not the hashed
    // queue it is linked into.
    if let (Some(bl), "wake_bit_function") = (&cx.layouts.wait_bit, base_name(fname)) {
        return super::wait_bit::wait_of(mem, bl, stack.task, entry, flags, head);
    }
    // A percpu_rw_semaphore's waiters: the read or write side, as the task's stack shows it.
    if let (Some(pl), "percpu_rwsem_wake_function") = (&cx.layouts.percpu_rwsem, base_name(fname)) {
        let frames = cx.frames(stack);
        let reads = super::percpu_rwsem::reads(frames.iter().map(|f| f.function.as_str()));
        if let Some(reads) = reads {
            return Some(Wait {
                task: stack.task,
                lock: LockId {
                    kind: LockKind::PercpuRwsem,
                    addr: head.wrapping_sub(pl.waiters_list),
                },
                mode: if reads { Mode::Read } else { Mode::Write },
                record: entry,
                position: Some(position),
                detail: vec![],
                evidence: super::percpu_rwsem::waiter_evidence(entry),
            });
        }
    }
    Some(Wait {
        task: stack.task,
        lock: LockId {
            kind: LockKind::WaitQueue,
            addr: head.wrapping_sub(l.head_list),
        },
        mode: Mode::None,
        record: entry,
        position: Some(position),
        detail: vec![
            ("func".to_string(), fname.to_string()),
            (
                "exclusive".to_string(),
                (flags & crate::mm::filemap::WQ_FLAG_EXCLUSIVE != 0).to_string(),
            ),
        ],
        evidence: Evidence::fact(
            format!(
                "wait_queue_entry on the task's stack (func {fname}) linked into wait_queue_head.head"
            ),
            entry,
        ),
    })
}

/// A `wait_page_queue` whose `wait.func` is at `slot` on `stack`: accepted when its
/// `wait.private` is the task and its entry is linked into a bucket of the wait table.
fn page_waiter(cx: &WaitCx<'_>, stack: &TaskStack, t: &WaitTable, slot: u64) -> Option<Wait> {
    let mem = cx.mem;
    let l = &t.layout;
    let record = slot.checked_sub(l.func_offset())?;
    if !stack.contains(record)
        || !stack.contains(record.saturating_add(l.wpq_size.saturating_sub(1)))
    {
        return None;
    }
    if mem.read_u64(record.wrapping_add(l.private_offset())).ok()? != stack.task {
        return None;
    }
    let node = record.wrapping_add(l.node_offset());
    // Walk to the bucket head: the first node inside folio_wait_table.
    let mut n = mem.read_u64(node).ok()?;
    let mut head = None;
    let mut seen = HashSet::new();
    for _ in 0..MAX_WALK {
        if n == node || !kernel_ptr(mem, n) || !seen.insert(n) {
            break;
        }
        if t.bucket_of_head(n).is_some() {
            head = Some(n);
            break;
        }
        // Every other node on a bucket is another wait_page_queue.
        let func = mem.read_u64(
            n.wrapping_sub(l.node_offset())
                .wrapping_add(l.func_offset()),
        );
        if func.ok() != Some(t.wake_page_function) {
            break;
        }
        n = mem.read_u64(n).ok()?;
    }
    let head = head?;
    let bucket = t.bucket_of_head(head)?;
    let (nodes, _) = list_nodes(mem, head, MAX_WAITERS);
    let position = nodes.iter().position(|&x| x == node)?;
    let w = t.read_waiter(mem, record, bucket).ok()?;
    let mut detail = vec![
        ("bit_nr".to_string(), w.bit_nr.to_string()),
        ("exclusive".to_string(), w.exclusive.to_string()),
        ("bucket".to_string(), bucket.to_string()),
    ];
    if !w.hash_matches {
        detail.push((
            "hash_ptr(folio, 8)".into(),
            format!("{} (not this bucket)", t.bucket_for(w.folio)),
        ));
    }
    Some(Wait {
        task: stack.task,
        lock: LockId {
            kind: w.kind,
            addr: w.folio,
        },
        mode: w.mode,
        record,
        position: Some(position),
        detail,
        evidence: Evidence::fact(
            format!("wait_page_queue on the task's stack linked into folio_wait_table[{bucket}]"),
            record,
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_paths_are_told_apart() {
        assert_eq!(
            slowpath_kind("rwsem_down_read_slowpath"),
            Some(LockKind::Rwsem)
        );
        assert_eq!(slowpath_kind("down_write"), Some(LockKind::Rwsem));
        assert_eq!(
            slowpath_kind("__mutex_lock.constprop.0"),
            Some(LockKind::Mutex)
        );
        assert_eq!(slowpath_kind("__down_common"), Some(LockKind::Semaphore));
        assert_eq!(slowpath_kind("down"), Some(LockKind::Semaphore));
        assert_eq!(
            slowpath_kind("__wait_for_common"),
            Some(LockKind::Completion)
        );
        assert_eq!(
            slowpath_kind("folio_wait_bit_common"),
            Some(LockKind::PageLock)
        );
        assert_eq!(
            slowpath_kind("rt_mutex_slowlock_block.constprop.0"),
            Some(LockKind::RtMutex)
        );
        assert_eq!(slowpath_kind("schedule_timeout"), None);
        assert_eq!(slowpath_kind("downgrade_write"), None);
    }

    #[test]
    fn call_sites_are_recognised() {
        assert!(after_call(&[0, 0, 0xe8, 1, 2, 3, 4]));
        assert!(after_call(&[0, 0, 0, 0, 0, 0xff, 0xd0]));
        assert!(after_call(&[0, 0xff, 0x15, 1, 2, 3, 4]));
        assert!(!after_call(&[0, 0, 0, 0, 0, 0, 0]));
    }

    use crate::locking::testmem::FakeMem;

    fn layouts() -> Layouts {
        Layouts {
            rwsem: Some(RwsemLayout::X86_64),
            mutex: Some(MutexLayout::X86_64),
            semaphore: Some(SemaphoreLayout::X86_64),
            completion: Some(CompletionLayout::X86_64),
            memmap: None,
            wait_table: None,
            task_stack: 32,
            task_sp: 5400,
            task_mm: None,
            pi_blocked_on: Some((3288, 88)),
            rt_owner: Some(24),
            rt_mutex: None,
            percpu_rwsem: None,
            wait_bit: None,
            rwbase: None,
            mutex_rtmutex: None,
            blocker: None,
            wait_queue: None,
            swait_head_list: Some(8),
            thread_size: THREAD_SIZE,
            mm_mmap_lock: None,
            mm_owner: None,
            slab: None,
            problems: vec![],
        }
    }

    const R: u64 = 0xffff_ffff_c000_1000;
    const T: [u64; 3] = [
        0xffff_8880_0100_0000,
        0xffff_8880_0200_0000,
        0xffff_8880_0300_0000,
    ];
    const S: [u64; 3] = [
        0xffff_c900_0001_0000,
        0xffff_c900_0002_0000,
        0xffff_c900_0003_0000,
    ];

    /// An rwsem with three waiters: T[0] (write), T[2] (read; a task holdup does not know,
    /// as in an over-filtered dump), T[1] (read).
    fn hung() -> FakeMem {
        let m = FakeMem::new();
        m.zero(R, 40);
        m.u64(R, 0x102);
        m.u64(R + 8, 0xffff_8880_0400_0000 | 1);
        for i in 0..3 {
            m.zero(T[i], 6000);
            m.u64(T[i] + 32, S[i]);
            m.u64(T[i] + 5400, S[i] + 0x3e00);
            m.zero(S[i], THREAD_SIZE as usize);
            let w = S[i] + 0x3f00;
            m.u64(w + 16, T[i]);
            m.u32(w + 24, u32::from(i != 0));
        }
        m.list(R + 24, &[S[0] + 0x3f00, S[2] + 0x3f00, S[1] + 0x3f00]);
        // A stray copy of T[0]'s pointer on its stack, in no list.
        m.u64(S[0] + 0x3e40, T[0]);
        m
    }

    fn stacks(m: &FakeMem, l: &Layouts) -> Stacks {
        let mut s = Stacks::default();
        for t in &T[..2] {
            s.insert(TaskStack::read(m, l, *t).unwrap());
        }
        s
    }

    #[test]
    fn a_waiter_record_is_accepted_only_when_linked_into_the_lock() {
        let (m, l) = (hung(), layouts());
        let st = stacks(&m, &l);
        let cx = WaitCx {
            mem: &m,
            symbols: None,
            layouts: &l,
            stacks: &st,
            walked: WalkedLists::default(),
        };
        let w0 = find_waits(&cx, T[0]);
        assert_eq!(w0.len(), 1, "{w0:?}");
        assert_eq!(
            w0[0].lock,
            LockId {
                kind: LockKind::Rwsem,
                addr: R
            }
        );
        assert_eq!(
            (w0[0].mode, w0[0].position, w0[0].record),
            (Mode::Write, Some(0), S[0] + 0x3f00)
        );
        // Without symbols the slow path is unknown: an rwsem, mutex and semaphore all fit.
        match &w0[0].evidence {
            Evidence::Inference { reasons, .. } => {
                assert!(
                    reasons.iter().any(|r| r.contains("could also be")),
                    "{reasons:?}"
                )
            }
            e => panic!("{e}"),
        }
        // Past the unknown task's record to the head: third in the queue.
        let w1 = find_waits(&cx, T[1]);
        assert_eq!(w1.len(), 1);
        assert_eq!(
            (w1[0].lock.addr, w1[0].mode, w1[0].position),
            (R, Mode::Read, Some(2))
        );
        assert_eq!(st.owner_of(S[1] + 0x100).map(|s| s.task), Some(T[1]));
        assert!(st.owner_of(S[2] + 0x100).is_none());
    }

    #[test]
    fn an_unlinked_record_is_not_a_wait_and_pi_blocked_on_is_one() {
        let (m, l) = (hung(), layouts());
        // T[0]'s record leaves the list: its stack still has the words, but nothing links it.
        m.list(R + 24, &[S[2] + 0x3f00, S[1] + 0x3f00]);
        // T[1] is also blocked on an rt_mutex, recorded in pi_blocked_on.
        let (rw, rt) = (S[1] + 0x3c00, 0xffff_8880_0500_0000u64);
        m.u64(T[1] + 3288, rw);
        m.u64(rw + 88, rt);
        let st = stacks(&m, &l);
        let cx = WaitCx {
            mem: &m,
            symbols: None,
            layouts: &l,
            stacks: &st,
            walked: WalkedLists::default(),
        };
        assert!(find_waits(&cx, T[0]).is_empty());
        let w = find_waits(&cx, T[1]);
        let rt_wait = w.iter().find(|w| w.lock.kind == LockKind::RtMutex).unwrap();
        assert_eq!((rt_wait.lock.addr, rt_wait.record), (rt, rw));
        assert!(rt_wait.evidence.is_fact());
        assert_eq!(w.iter().filter(|w| w.lock.addr == R).count(), 1);
    }

    #[test]
    fn stack_words_and_liveness() {
        let base = 0xffff_c900_0000_0000u64;
        let mut bytes = vec![0u8; THREAD_SIZE as usize];
        bytes[0x3f00..0x3f08].copy_from_slice(&0x1234u64.to_le_bytes());
        let s = TaskStack::from_bytes(0xaaaa, base, base + 0x3e00, bytes);
        assert_eq!(s.word(base + 0x3f00), Some(0x1234));
        assert!(s.is_live(base + 0x3f00) && !s.is_live(base + 0x100));
        assert_eq!(s.live_words().filter(|(_, v)| *v == 0x1234).count(), 1);
        assert_eq!(s.word(base + THREAD_SIZE), None);
    }
}
