//! Holders the kernel does not record, inferred: rwsem readers, semaphore holders and
//! page-lock holders. Every result is an [`Evidence::Inference`] with its reasons.
//!
//! The signs used, from strongest to weakest:
//! - the rwsem `owner` hint (the last reader to take it);
//! - code on a task's live stack that names the lock: a return address into a function whose
//!   machine code addresses the lock (RIP-relative or as an immediate) — e.g. the function
//!   that called `down(&held_sem)` and now sleeps;
//! - the lock's (or folio's, or mm's) address in the live part of a task's stack, outside any
//!   waiter record of that task;
//! - the same in the dead part below the saved stack pointer (stale, weak).
//!
//! Tasks that wait for the lock are not its holders, except a page-lock waiter whose own stack
//! shows it had the folio before it waited (a self-deadlock).

use super::rwsem::RwSemaphore;
use super::semaphore::Semaphore;
use super::waits::{Stacks, TaskStack};
use super::{Confidence, Evidence, Holder, HolderId, Known, LockKind, Mode, Wait, rank_holders};
use crate::mm::{MemMap, PageInfo};
use holdup_kmem::KernelMemory;
use holdup_kmem::START_KERNEL_MAP;
use holdup_symbols::SymbolTable;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Most candidates kept per lock.
pub const MAX_CANDIDATES: usize = 8;
/// Most bytes of one function's code searched for references.
const MAX_FUNCTION_BYTES: u64 = 64 << 10;

/// A word on a task's stack pointing into a range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct StackRef {
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub slot: u64,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub value: u64,
    /// In the live part of the stack (at or above the saved stack pointer).
    pub live: bool,
}

/// Words on `stack` with a value in `[lo, hi)`, except those in `exclude` (address ranges,
/// e.g. the task's own waiter records).
pub fn stack_references(
    stack: &TaskStack,
    lo: u64,
    hi: u64,
    exclude: &[(u64, u64)],
) -> Vec<StackRef> {
    stack
        .words()
        .filter(|&(a, v)| v >= lo && v < hi && !exclude.iter().any(|&(s, e)| a >= s && a < e))
        .map(|(a, v)| StackRef {
            task: stack.task,
            slot: a,
            value: v,
            live: stack.is_live(a),
        })
        .collect()
}

/// A function on a task's live stack whose code addresses `[lo, hi)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct CodeRef {
    pub function: String,
    /// The return address into it found on the stack.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub ret: u64,
    /// Where in the function the reference is.
    pub insn_offset: u64,
    /// The function called right after the reference (within 32 bytes), e.g. `down`: what
    /// the code does with the lock.
    pub callee: Option<String>,
    /// When the code does not name the address itself but loads a variable that points into
    /// the range (`mmap_read_lock(a_mm)` with a static `a_mm`): that variable.
    pub through: Option<String>,
    /// What the variable points to, when not the lock itself (e.g. `its mm_struct`).
    pub points_to: Option<String>,
}

/// Function code (and the variables it loads) read once and shared, with an index of the
/// addresses each function's code names: every lock is looked for in every frame of every
/// task, so the scan of the code is done once per function, not once per lock.
#[derive(Default)]
pub struct CodeCache(
    Mutex<HashMap<u64, Option<Arc<[u8]>>>>,
    Mutex<HashMap<u64, Option<u64>>>,
    Mutex<HashMap<u64, Option<Arc<CodeIndex>>>>,
);

/// The addresses a function's code names, as [`find_address_in_code`] and
/// [`find_pointer_load`] would find them, each at its first place.
pub struct CodeIndex {
    code: Arc<[u8]>,
    /// Address named -> the first offset naming it.
    named: HashMap<u64, u64>,
    /// RIP-relative operands that are 8-aligned variables of the image or a module, in code
    /// order: (offset of the ModRM byte, the variable, the value it holds).
    vars: Vec<(u64, u64, Option<u64>)>,
}

impl CodeIndex {
    fn build(mem: &dyn KernelMemory, cache: &CodeCache, code: Arc<[u8]>, start: u64) -> CodeIndex {
        let mut named: HashMap<u64, u64> = HashMap::new();
        let mut vars = Vec::new();
        let mut note = |addr: u64, off: u64| {
            named.entry(addr).or_insert(off);
        };
        for i in 0..code.len().saturating_sub(4) {
            let d = i32::from_le_bytes(code[i..i + 4].try_into().expect("4 bytes"));
            if i > 0 && code[i - 1] & 0xc7 == 0x05 {
                let target = (start + i as u64 + 4).wrapping_add(d as i64 as u64);
                note(target, i as u64 - 1);
                if target >= START_KERNEL_MAP && target & 7 == 0 {
                    vars.push((i as u64 - 1, target, cache.word(mem, target)));
                }
            }
            let imm = d as i64 as u64;
            if imm >= START_KERNEL_MAP {
                note(imm, i as u64);
            }
            if i + 8 <= code.len() {
                note(
                    u64::from_le_bytes(code[i..i + 8].try_into().expect("8 bytes")),
                    i as u64,
                );
            }
        }
        CodeIndex { code, named, vars }
    }

    /// The first place the code names the address `lo` exactly.
    fn names(&self, lo: u64) -> Option<u64> {
        self.named.get(&lo).copied()
    }

    /// The first RIP-relative load of a variable holding a value in `[lo, hi)`.
    fn loads_pointer_into(&self, lo: u64, hi: u64) -> Option<(u64, u64)> {
        self.vars
            .iter()
            .find(|(_, _, v)| v.is_some_and(|v| v >= lo && v < hi))
            .map(|&(off, var, _)| (off, var))
    }
}

impl CodeCache {
    fn word(&self, mem: &dyn KernelMemory, addr: u64) -> Option<u64> {
        if let Some(v) = self.1.lock().ok()?.get(&addr) {
            return *v;
        }
        let v = mem.read_u64(addr).ok();
        self.1.lock().ok()?.insert(addr, v);
        v
    }

    fn index(&self, mem: &dyn KernelMemory, start: u64, size: u64) -> Option<Arc<CodeIndex>> {
        if let Some(c) = self.2.lock().ok()?.get(&start) {
            return c.clone();
        }
        let i = self
            .code(mem, start, size)
            .map(|code| Arc::new(CodeIndex::build(mem, self, code, start)));
        self.2.lock().ok()?.insert(start, i.clone());
        i
    }

    fn code(&self, mem: &dyn KernelMemory, start: u64, size: u64) -> Option<Arc<[u8]>> {
        if let Some(c) = self.0.lock().ok()?.get(&start) {
            return c.clone();
        }
        let c: Option<Arc<[u8]>> = mem
            .read_vec(start, size.min(MAX_FUNCTION_BYTES) as usize)
            .ok()
            .map(Into::into);
        self.0.lock().ok()?.insert(start, c.clone());
        c
    }
}

/// Functions on the live stack whose machine code refers to an address in `[lo, hi)`: a
/// RIP-relative operand (ModRM `mod=00 rm=101`, displacement then 0, 1, 2 or 4 immediate
/// bytes), a sign-extended 32-bit immediate, or a 64-bit immediate. Only meaningful for
/// locks with a fixed address (static, in the kernel image or a module).
pub fn code_references(
    mem: &dyn KernelMemory,
    symbols: &SymbolTable,
    cache: &CodeCache,
    stack: &TaskStack,
    lo: u64,
    hi: u64,
) -> Vec<CodeRef> {
    let mut out: Vec<CodeRef> = Vec::new();
    for f in stack.frames(mem, Some(symbols)) {
        if out.iter().any(|c| c.function == f.function) {
            continue;
        }
        let Some(index) = cache.index(mem, f.func_start, f.func_size) else {
            continue;
        };
        let (off, through) = match index.names(lo) {
            Some(off) => (off, None),
            None => match index.loads_pointer_into(lo, hi) {
                Some((off, var)) => (off, Some(symbols.format_address(var))),
                None => continue,
            },
        };
        let callee = next_call(&index.code, f.func_start, off as usize)
            .and_then(|t| symbols.resolve(t))
            .filter(|r| r.offset == 0)
            .map(|r| super::waits::base_name(r.symbol.name).to_string());
        out.push(CodeRef {
            function: f.function.clone(),
            ret: f.ret,
            insn_offset: off,
            callee,
            through,
            points_to: None,
        });
    }
    out
}

/// The target of the first `call rel32` (`e8`) within 32 bytes after offset `from`.
fn next_call(code: &[u8], start: u64, from: usize) -> Option<u64> {
    let end = (from + 32).min(code.len().saturating_sub(4));
    (from + 1..end).find_map(|i| {
        (code[i] == 0xe8).then(|| {
            let rel = i32::from_le_bytes(code[i + 1..i + 5].try_into().expect("4 bytes"));
            (start + i as u64 + 5).wrapping_add(rel as i64 as u64)
        })
    })
}

/// Whether calling `f` with a lock of `kind` takes it (`Some(true)`), releases it
/// (`Some(false)`), or neither is known.
fn acquires(kind: LockKind, f: &str) -> Option<bool> {
    let f = f.trim_start_matches('_');
    match kind {
        LockKind::Semaphore if f.starts_with("down") => Some(true),
        LockKind::Semaphore if f == "up" => Some(false),
        LockKind::Rwsem if f.starts_with("down_read") || f.starts_with("mmap_read_lock") => {
            Some(true)
        }
        LockKind::Rwsem if f.starts_with("up_read") || f.starts_with("mmap_read_unlock") => {
            Some(false)
        }
        LockKind::WaitBit if f.starts_with("lock_buffer") || f.starts_with("trylock_buffer") => {
            Some(true)
        }
        LockKind::WaitBit if f.starts_with("unlock_buffer") => Some(false),
        LockKind::PercpuRwsem
            if f.starts_with("sb_start_write") || f.starts_with("percpu_down_read") =>
        {
            Some(true)
        }
        LockKind::PercpuRwsem
            if f.starts_with("sb_end_write") || f.starts_with("percpu_up_read") =>
        {
            Some(false)
        }
        _ => None,
    }
}

/// What inference needs: memory, symbols, the stacks and the waits found.
pub(crate) struct HolderCx<'a> {
    pub mem: &'a dyn KernelMemory,
    pub symbols: &'a SymbolTable,
    pub stacks: &'a Stacks,
    pub code: CodeCache,
    /// Every kernel-pointer word on every stack, outside waiter records, by value:
    /// (task, slot, live). Built once so each lock's references are a range query.
    index: BTreeMap<u64, Vec<(u64, u64, bool)>>,
}

impl<'a> HolderCx<'a> {
    pub fn new(
        mem: &'a dyn KernelMemory,
        symbols: &'a SymbolTable,
        stacks: &'a Stacks,
        waits: &[Wait],
        record_size: u64,
    ) -> HolderCx<'a> {
        let mut records: HashMap<u64, Vec<(u64, u64)>> = HashMap::new();
        for w in waits {
            records
                .entry(w.task)
                .or_default()
                .push((w.record, w.record + record_size));
        }
        let mut index: BTreeMap<u64, Vec<(u64, u64, bool)>> = BTreeMap::new();
        for st in stacks.iter() {
            let ex = records.get(&st.task).map(Vec::as_slice).unwrap_or(&[]);
            for (a, v) in st.words() {
                if mem.is_kernel_pointer(v, 1) && !ex.iter().any(|&(s, e)| a >= s && a < e) {
                    index
                        .entry(v)
                        .or_default()
                        .push((st.task, a, st.is_live(a)));
                }
            }
        }
        HolderCx {
            mem,
            symbols,
            stacks,
            code: CodeCache::default(),
            index,
        }
    }

    /// Per task, (live, stale) references to `[lo, hi)` on its stack.
    fn refs_all(&self, lo: u64, hi: u64) -> HashMap<u64, (usize, usize)> {
        let mut out: HashMap<u64, (usize, usize)> = HashMap::new();
        for refs in self.index.range(lo..hi.max(lo)).map(|(_, r)| r) {
            for &(task, _, live) in refs {
                let e = out.entry(task).or_default();
                if live {
                    e.0 += 1;
                } else {
                    e.1 += 1;
                }
            }
        }
        out
    }

    /// Live references to `[lo, hi)` on `task`'s stack above `slot`.
    fn live_refs_above(&self, task: u64, lo: u64, hi: u64, slot: u64) -> usize {
        self.index
            .range(lo..hi.max(lo))
            .flat_map(|(_, r)| r)
            .filter(|&&(t, a, live)| t == task && live && a > slot)
            .count()
    }
}

/// One task's signs for holding something.
struct Signs {
    hint: Option<Confidence>,
    code: Vec<CodeRef>,
    live: usize,
    stale: usize,
    /// Live references to a related object (the mm of an mmap_lock).
    live_related: usize,
}

fn score(
    s: &Signs,
    kind: LockKind,
    what: &str,
    related: &str,
    reasons: &mut Vec<String>,
) -> Option<Confidence> {
    let mut c: i16 = 0;
    if let Some(h) = s.hint {
        c += i16::from(h.0);
    }
    let strong = s.hint.is_some();
    if let Some(r) = s.code.first() {
        c += match (strong, r.through.is_some()) {
            (true, false) => 20,
            (true, true) => 10,
            (false, false) => 50,
            (false, true) => 35,
        };
        let call = match &r.callee {
            Some(f) => match acquires(kind, f) {
                Some(true) => {
                    c += 10;
                    format!(" and passes it to {f}(), which takes it")
                }
                Some(false) => {
                    c -= 25;
                    format!(" and passes it to {f}(), which releases it")
                }
                None => format!(" (then calls {f})"),
            },
            None => String::new(),
        };
        let how = match &r.through {
            Some(v) => format!(
                "loads {v}, which points to {},",
                r.points_to.as_deref().unwrap_or(what)
            ),
            None => format!("addresses {what}"),
        };
        reasons.push(format!(
            "{} (on its stack) {how} in its code at +{:#x}{call}",
            r.function, r.insn_offset
        ));
    }
    let strong = strong || !s.code.is_empty();
    if s.live > 0 {
        c += if strong { 10 } else { 45 };
        reasons.push(format!(
            "its live stack holds the address of {what} ({} place(s))",
            s.live
        ));
    } else if s.live_related > 0 {
        c += if strong { 5 } else { 30 };
        reasons.push(format!(
            "its live stack holds the address of {related} ({} place(s))",
            s.live_related
        ));
    } else if s.stale > 0 {
        c += if strong { 5 } else { 20 };
        reasons.push(format!(
            "only dead stack slots below its stack pointer hold the address of {what} ({})",
            s.stale
        ));
    }
    (c > 0).then(|| Confidence(0).adjust(c))
}

fn task_holder(task: u64, mode: Mode, c: Confidence, reasons: Vec<String>) -> Holder {
    Holder {
        who: HolderId::Task { task },
        mode,
        evidence: Evidence::inference(c, reasons),
    }
}

fn finish(mut v: Vec<Holder>) -> Vec<Holder> {
    rank_holders(&mut v);
    v.truncate(MAX_CANDIDATES);
    v
}

/// What the kernel records about the readers of an rw_semaphore that readers hold.
pub(crate) struct ReadHeld<'s> {
    /// The kind of lock (whose API calls take or release it) and how to name it.
    pub kind: LockKind,
    pub what: &'static str,
    pub addr: u64,
    pub size: u64,
    /// How many readers hold it.
    pub readers: u64,
    /// The last reader to take it (non-RT `owner` with `RWSEM_READER_OWNED`): a hint.
    pub last_reader: Option<&'s Known<u64>>,
}

impl<'s> ReadHeld<'s> {
    pub fn of(sem: &'s RwSemaphore, size: u64) -> ReadHeld<'s> {
        let c = sem.count.value;
        ReadHeld {
            kind: LockKind::Rwsem,
            what: "the rw_semaphore",
            addr: sem.addr,
            size,
            readers: if c.writer_locked { 0 } else { c.readers },
            last_reader: sem.last_reader.as_ref(),
        }
    }
}

/// Readers of a reader-owned rwsem. `related` is the object the lock is part of, with how to
/// name it (an mmap_lock's mm_struct: "its mm_struct"): a reader's stack or code may refer to
/// it rather than to the lock.
pub(crate) fn rwsem_readers(
    cx: &HolderCx<'_>,
    sem: &ReadHeld<'_>,
    waiters: &[u64],
    related: Option<(u64, u64, &str)>,
) -> Vec<Holder> {
    if sem.readers == 0 {
        return vec![];
    }
    let size = sem.size;
    let hint = sem.last_reader.map(|r| (r.value, r.evidence.clone()));
    let lock_refs = cx.refs_all(sem.addr, sem.addr.saturating_add(size));
    let mm_refs = related
        .map(|(lo, hi, _)| cx.refs_all(lo, hi))
        .unwrap_or_default();
    let related_name = related.map_or("", |r| r.2);
    let mut out = Vec::new();
    for st in cx.stacks.iter() {
        let is_hint = hint.as_ref().is_some_and(|h| h.0 == st.task);
        let waiting = waiters.contains(&st.task);
        if waiting && !is_hint {
            continue;
        }
        let (live, stale) = lock_refs.get(&st.task).copied().unwrap_or_default();
        let live_related = mm_refs.get(&st.task).map_or(0, |r| r.0);
        let mut code = code_references(
            cx.mem,
            cx.symbols,
            &cx.code,
            st,
            sem.addr,
            sem.addr.saturating_add(size),
        );
        if let (true, Some((lo, hi, _))) = (code.is_empty(), related) {
            code = code_references(cx.mem, cx.symbols, &cx.code, st, lo, hi);
            for r in &mut code {
                r.points_to = Some(related_name.to_string());
            }
        }
        let mut reasons = Vec::new();
        let mut hint_c = None;
        if let Some((
            _,
            Evidence::Inference {
                confidence,
                reasons: r,
            },
        )) = hint.as_ref().filter(|_| is_hint)
        {
            hint_c = Some(*confidence);
            reasons.extend(r.iter().cloned());
        }
        let signs = Signs {
            hint: hint_c,
            code,
            live,
            stale,
            live_related,
        };
        let Some(mut c) = score(&signs, sem.kind, sem.what, related_name, &mut reasons) else {
            continue;
        };
        if waiting {
            c = c.adjust(-30);
            reasons.push("it also waits for this rw_semaphore (recursive read?)".into());
        }
        reasons.push(format!(
            "the lock's count shows {} reader(s); the kernel does not record which tasks they are",
            sem.readers
        ));
        out.push(task_holder(st.task, Mode::Read, c, reasons));
    }
    finish(out)
}

/// Tasks whose stacks refer to the object at `[lo, hi)` (their code addresses it, their live
/// stacks hold its address), other than `waiters`: ranked candidates for holding a lock the
/// kernel records no holder of, `what` naming the object in the reasons, `extra` added to them.
#[allow(clippy::too_many_arguments)]
pub(crate) fn referencing_tasks(
    cx: &HolderCx<'_>,
    (lo, hi): (u64, u64),
    kind: LockKind,
    what: &str,
    waiters: &[u64],
    mode: Mode,
    extra: Vec<String>,
) -> Vec<Holder> {
    let refs = cx.refs_all(lo, hi);
    let mut out = Vec::new();
    for st in cx.stacks.iter() {
        if waiters.contains(&st.task) {
            continue;
        }
        let (live, stale) = refs.get(&st.task).copied().unwrap_or_default();
        let code = code_references(cx.mem, cx.symbols, &cx.code, st, lo, hi);
        let signs = Signs {
            hint: None,
            code,
            live,
            stale,
            live_related: 0,
        };
        let mut reasons = Vec::new();
        let Some(c) = score(&signs, kind, what, "", &mut reasons) else {
            continue;
        };
        reasons.extend(extra.iter().cloned());
        out.push(task_holder(st.task, mode, c, reasons));
    }
    finish(out)
}

/// Holders of a semaphore's units.
pub(crate) fn semaphore_holders(
    cx: &HolderCx<'_>,
    sem: &Semaphore,
    size: u64,
    waiters: &[u64],
) -> Vec<Holder> {
    let mut extra = Vec::new();
    if sem.count.value == 0 && !sem.waiters.is_empty() {
        extra.push("count is 0 with waiters: every unit is taken".into());
    }
    extra.push(super::semaphore::NO_HOLDER_RECORD.into());
    referencing_tasks(
        cx,
        (sem.addr, sem.addr.saturating_add(size)),
        LockKind::Semaphore,
        "the semaphore",
        waiters,
        Mode::Count,
        extra,
    )
}

/// Holders of a locked folio: tasks whose stack holds the folio outside a wait for it; a
/// waiter whose stack shows it had the folio already (self-deadlock); I/O in flight.
pub(crate) fn page_lock_holders(
    cx: &HolderCx<'_>,
    memmap: &MemMap,
    folio: &PageInfo,
    waits: &[Wait],
) -> Vec<Holder> {
    let f = folio.folio.value;
    let (lo, hi) = (
        f,
        f.saturating_add(folio.nr_pages.saturating_mul(memmap.page_size)),
    );
    let flags = &folio.folio_flags.value;
    let waiters: Vec<u64> = waits
        .iter()
        .filter(|w| w.lock.kind == LockKind::PageLock)
        .map(|w| w.task)
        .collect();
    // Only a task that asks for the lock (an exclusive wait: folio_lock) can be waiting for
    // itself. One that waits for the folio to be unlocked (folio_wait_locked*, as
    // filemap_read_folio does after it locked the folio and started the read) handed the lock
    // to whoever unlocks it.
    let acquirers: Vec<u64> = waits
        .iter()
        .filter(|w| w.lock.kind == LockKind::PageLock && w.mode == Mode::Exclusive)
        .map(|w| w.task)
        .collect();
    let io = flags.writeback
        || (!flags.uptodate && folio.mapping.value != 0 && folio.mapping.value & 1 == 0);
    let mut out = Vec::new();
    let mut self_candidates = Vec::new();
    let refs = cx.refs_all(lo, hi);
    for st in cx.stacks.iter() {
        let Some(&(live, stale)) = refs.get(&st.task) else {
            continue;
        };
        let what = format!("folio {f:#x}");
        if waiters.contains(&st.task) {
            // A folio locked for I/O is held by the I/O, never by a task waiting for itself.
            if live > 0 && acquirers.contains(&st.task) && !io {
                self_candidates.push((st, live));
            }
            continue;
        }
        let signs = Signs {
            hint: None,
            code: vec![],
            live,
            stale,
            live_related: 0,
        };
        let mut reasons = Vec::new();
        if let Some(c) = score(&signs, LockKind::PageLock, &what, "", &mut reasons) {
            reasons
                .push("it does not wait for the folio: it may have locked it and gone on".into());
            reasons.push("the kernel does not record who holds a page lock".into());
            out.push(task_holder(st.task, Mode::Exclusive, c, reasons));
        }
    }
    let others = out
        .iter()
        .any(|h| h.evidence.confidence().is_some_and(|c| c >= Confidence(40)));
    for (st, live) in self_candidates {
        let mut reasons = vec![
            format!(
                "it waits for folio {f:#x}, and its live stack holds the folio's address in {live} place(s) outside its wait_page_queue"
            ),
            "a task that locked a folio and then locks it again waits for itself".into(),
        ];
        // References in the frames of the code that called into the page-lock path: it had
        // the folio in hand before it asked for the lock.
        let callers = caller_references(cx, st, lo, hi);
        let mut c = match &callers {
            Some((n, func)) if *n > 0 => {
                reasons.push(format!(
                    "{n} of them in the frames of {func} and its callers, outside the page-lock path"
                ));
                Confidence(50)
            }
            _ => Confidence(40),
        };
        if others {
            reasons.push("another task's stack also holds the folio".into());
            c = Confidence::LOW.adjust(-5);
        } else {
            reasons.push("no other task's stack holds the folio".into());
        }
        reasons.push("the kernel does not record who holds a page lock".into());
        out.push(task_holder(st.task, Mode::Exclusive, c, reasons));
    }
    if flags.writeback {
        out.push(Holder {
            who: HolderId::Io {
                what: "writeback in flight (PG_writeback)".into(),
            },
            mode: Mode::Exclusive,
            evidence: Evidence::inference(
                Confidence(45),
                vec![format!(
                    "folio {f:#x} has PG_writeback: I/O in flight; its completion may unlock it"
                )],
            ),
        });
    } else if !flags.uptodate && folio.mapping.value != 0 && folio.mapping.value & 1 == 0 {
        out.push(Holder {
            who: HolderId::Io {
                what: "read I/O in flight (locked, not uptodate)".into(),
            },
            mode: Mode::Exclusive,
            evidence: Evidence::inference(
                Confidence(40),
                vec![format!(
                    "folio {f:#x} of a file mapping is locked and not uptodate: a read is in flight and its completion unlocks it"
                )],
            ),
        });
    }
    finish(out)
}

/// Functions a page-lock wait passes through (with the scheduler's).
fn in_page_lock_path(f: &str) -> bool {
    super::waits::slowpath_kind(f) == Some(LockKind::PageLock)
        || matches!(
            f,
            "schedule"
                | "__schedule"
                | "io_schedule"
                | "schedule_timeout"
                | "folio_lock"
                | "lock_page"
                | "__folio_lock_or_retry"
        )
}

/// How many live references to `[lo, hi)` lie above the first frame outside the page-lock
/// path (the caller of `folio_lock`), and that caller's name.
fn caller_references(
    cx: &HolderCx<'_>,
    st: &TaskStack,
    lo: u64,
    hi: u64,
) -> Option<(usize, String)> {
    let caller = st
        .frames(cx.mem, Some(cx.symbols))
        .iter()
        .find(|f| !in_page_lock_path(&f.function))?;
    let n = cx.live_refs_above(st.task, lo, hi, caller.slot);
    Some((n, caller.function.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_references_find_rip_relative_and_immediates() {
        use crate::locking::testmem::FakeMem;
        let (m, cache) = (FakeMem::new(), CodeCache::default());
        let index = |code: &[u8]| CodeIndex::build(&m, &cache, code.into(), START);
        const START: u64 = 0xffff_ffff_c02e_0000;
        let target = 0xffff_ffff_c02e_85d0u64;
        // lea disp(%rip), %rdi : 48 8d 3d <disp32>, the instruction ends at +7
        let disp = (target - (START + 7)) as i64 as i32;
        let mut code = vec![0x48, 0x8d, 0x3d];
        code.extend_from_slice(&disp.to_le_bytes());
        code.extend_from_slice(&[0x90; 8]);
        assert_eq!(index(&code).names(target), Some(2));
        // mov $imm32 (sign-extended), %rdi : 48 c7 c7 <imm32>
        let mut code = vec![0x48, 0xc7, 0xc7];
        code.extend_from_slice(&(target as i64 as i32).to_le_bytes());
        code.extend_from_slice(&[0x90; 8]);
        assert_eq!(index(&code).names(target), Some(3));
        assert_eq!(index(&[0x90; 32]).names(target), None);
        // mov disp(%rip), %rdi : a variable (8-aligned) that holds a pointer into a range.
        let var = 0xffff_ffff_c02e_9000u64;
        m.u64(var, 0xffff_8880_0000_1040);
        let disp = (var - (START + 7)) as i64 as i32;
        let mut code = vec![0x48, 0x8b, 0x3d];
        code.extend_from_slice(&disp.to_le_bytes());
        code.extend_from_slice(&[0x90; 8]);
        let i = index(&code);
        assert_eq!(
            i.loads_pointer_into(0xffff_8880_0000_1000, 0xffff_8880_0000_1100),
            Some((2, var))
        );
        assert_eq!(
            i.loads_pointer_into(0xffff_8880_0000_2000, 0xffff_8880_0000_2100),
            None
        );
    }
}
