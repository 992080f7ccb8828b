//! The x86_64 ORC unwinder, run on a dump (`arch/x86/kernel/unwind_orc.c`
//! `__unwind_start` / `unwind_next_frame`), plus the stack scan of
//! `arch/x86/kernel/dumpstack.c` `show_trace_log_lvl` for stale return addresses.
//!
//! A sleeping task starts from its switch frame (`thread.sp` points at `struct
//! inactive_task_frame`: `sp = thread.sp + 56`, `ip = ret_addr`, `bp = bp`); a task running
//! on a CPU starts from that CPU's saved registers. Each step looks up the ORC entry of the
//! ip (of `ip - 1` for a return address), finds the caller's sp from it, and reads the
//! return address (CALL), a whole `pt_regs` (REGS: an interrupt or system call entry) or an
//! IRET frame (REGS_PARTIAL). Where there is no ORC data it assumes frame pointers, as the
//! kernel does. Every read is bounded by the stack it is on (the task's `THREAD_SIZE` stack
//! or its CPU's IRQ stack), the sp must grow on each stack, and the frame count is capped.

use super::mem::PageReader;
use super::orc::{
    ORC_FP_ENTRY, ORC_REG_BP, ORC_REG_BP_INDIRECT, ORC_REG_DI, ORC_REG_DX, ORC_REG_PREV_SP,
    ORC_REG_R10, ORC_REG_R13, ORC_REG_SP, ORC_REG_SP_INDIRECT, ORC_REG_UNDEFINED, Orc, OrcEntry,
    OrcFound, OrcType,
};
use super::regs::{self, CpuRegs, IRET_FRAME_OFFSET, PT_REGS_SIZE, Regs};
use crate::sched::Task;
use crate::{Kernel, percpu};
use holdup_kmem::ReadError;
use serde::{Serialize, Serializer};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// `IRQ_STACK_SIZE` on x86_64 without KASAN.
pub const IRQ_STACK_SIZE: u64 = 16 << 10;
/// `sizeof(struct inactive_task_frame)`.
pub const INACTIVE_TASK_FRAME_SIZE: u64 = 56;
const FRAME_BP: u64 = 40;
const FRAME_RET_ADDR: u64 = 48;
/// Most reliable frames followed on one task.
pub const MAX_FRAMES: usize = 256;
/// Most stale entries reported for one task.
const MAX_STALE: usize = 512;
/// Most times one backtrace is picked up again by scanning after ORC data ran out.
const MAX_RESYNCS: usize = 4;
/// Most return-address candidates tried for one resync.
const MAX_RESYNC_CANDIDATES: usize = 64;

/// Which stack a frame is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StackKind {
    /// The task's `THREAD_SIZE` kernel stack.
    Task,
    /// Its CPU's hard-IRQ stack.
    Irq,
    /// The frame's ip did not come from a stack (a CPU's saved registers).
    None,
}

/// How a frame was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Via {
    /// The return address in the task's switch frame (`inactive_task_frame.ret_addr`).
    SwitchFrame,
    /// A CPU's saved registers (NT_PRSTATUS).
    CpuRegisters,
    /// A return address found with ORC data.
    Orc,
    /// A `pt_regs` or IRET frame found with ORC data (an interrupt, exception or syscall).
    PtRegs,
    /// A return address found by assuming frame pointers (no ORC data for the caller's ip).
    FramePointer,
    /// A word on the stack that looks like a return address but is not on the unwound
    /// chain: stale, printed with `?`.
    StackScan,
    /// Where ORC data ran out (e.g. `__crash_kexec`, which objtool does not annotate), the
    /// next return address up the stack from which unwinding reaches the stack's bottom.
    Resync,
    /// Below the panicking CPU's saved registers: `__crash_kexec` saves them (or, after an
    /// oops, the faulting context's) and then calls `machine_kexec`, whose frames stay on the
    /// stack below them. This is the return address into `machine_kexec` found there, from
    /// which ORC unwinding reaches the saved registers exactly; crash shows the same frames.
    BelowRegisters,
}

/// One frame of a backtrace.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Frame {
    /// `#N` for reliable frames, counted from 0; `None` for `?` entries.
    pub level: Option<usize>,
    /// The stack slot the address was read from (crash's `[sp]`), or for an ip from
    /// registers the interrupted stack pointer.
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub sp: u64,
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub ip: u64,
    /// `func+0x1c/0x80 [module]`, or the bare address.
    pub symbol: String,
    /// The function name alone (`None` outside every symbol).
    pub function: Option<String>,
    pub offset: Option<u64>,
    pub size: Option<u64>,
    pub module: Option<String>,
    /// On the unwound chain (false for `?` entries).
    pub reliable: bool,
    pub via: Via,
    pub stack: StackKind,
    /// The registers saved where this frame was interrupted (`exception RIP`), or, with
    /// `user_mode`, the user-space registers at the bottom of the stack.
    pub regs: Option<FrameRegs>,
    /// Why this frame was found the way it was (e.g. after a resync).
    pub note: Option<String>,
}

/// Registers shown with a frame, crash-style.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct FrameRegs {
    /// Where the `pt_regs` is, when it is on a stack.
    #[serde(serialize_with = "opt_hex")]
    #[schemars(with = "Option<crate::locking::hex::Hex>")]
    pub at: Option<u64>,
    /// The interrupted context was user space (the end of a system call's kernel stack).
    pub user_mode: bool,
    /// All of `pt_regs`, or only the IRET frame.
    pub full: bool,
    /// Name → value, in `pt_regs` order.
    #[serde(serialize_with = "named_hex")]
    #[schemars(with = "std::collections::BTreeMap<String, String>")]
    pub values: Vec<(&'static str, u64)>,
}

/// How unwinding ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", content = "reason", rename_all = "snake_case")]
pub enum StackEnd {
    /// At the known bottom: ORC's end-of-stack mark, or user-mode registers.
    Complete(String),
    /// Stopped early; the reason says why (a page not in the dump, a return address outside
    /// kernel text, missing ORC data...).
    Stopped(String),
}

impl StackEnd {
    pub fn is_complete(&self) -> bool {
        matches!(self, StackEnd::Complete(_))
    }
    pub fn reason(&self) -> &str {
        match self {
            StackEnd::Complete(r) | StackEnd::Stopped(r) => r,
        }
    }
}

/// A task's kernel backtrace.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Backtrace {
    /// Where unwinding started: `thread.sp`, or which CPU's registers.
    pub start: String,
    /// Reliable frames numbered from 0, with `?` entries between them in stack order.
    pub frames: Vec<Frame>,
    pub end: StackEnd,
}

impl Backtrace {
    /// The reliable frames only.
    pub fn reliable(&self) -> impl Iterator<Item = &Frame> {
        self.frames.iter().filter(|f| f.reliable)
    }
}

fn hex<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

fn opt_hex<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(&format!("{v:#x}")),
        None => s.serialize_none(),
    }
}

fn named_hex<S: Serializer>(v: &[(&'static str, u64)], s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = s.serialize_map(Some(v.len()))?;
    for (k, val) in v {
        m.serialize_entry(k, &format!("{val:#x}"))?;
    }
    m.end()
}

/// One stack's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct StackInfo {
    kind: StackKind,
    begin: u64,
    end: u64,
}

impl StackInfo {
    fn contains(&self, addr: u64, len: u64) -> bool {
        addr >= self.begin && addr < self.end && addr.saturating_add(len) <= self.end
    }
}

/// A register set with the stack address it was read from.
#[derive(Debug, Clone, Copy)]
struct RegsAt {
    regs: Regs,
    at: Option<u64>,
}

/// `struct unwind_state`.
#[derive(Clone, Copy)]
struct State {
    ip: u64,
    sp: u64,
    bp: u64,
    signal: bool,
    regs: Option<RegsAt>,
    prev_regs: Option<RegsAt>,
    stack: Option<StackInfo>,
}

/// What one step found.
enum Step {
    Frame {
        slot: Option<u64>,
        shown_sp: u64,
        via: Via,
        regs: Option<RegsAt>,
    },
    /// User-mode registers: the stack's clean end, with the registers to show.
    UserRegs(RegsAt),
    End(String),
    Stop(String),
    /// Stopped for lack of ORC data.
    NoOrc(String),
}

/// A frame the unwinder found, before it is numbered and symbolized.
#[derive(Debug, Clone)]
struct Found {
    ip: u64,
    slot: Option<u64>,
    shown_sp: u64,
    via: Via,
    /// Registers at this frame, and whether they are the user-mode ones at the bottom.
    regs: Option<(RegsAt, bool)>,
    stack: Option<StackInfo>,
    /// The stack pointer after the step.
    sp: u64,
    note: Option<String>,
}

/// A resolved symbol, cached by address.
#[derive(Debug, Clone)]
struct Sym {
    text: String,
    function: Option<String>,
    offset: Option<u64>,
    size: Option<u64>,
    module: Option<String>,
    is_text: bool,
}

/// Unwinds the kernel stacks of the tasks of one dump; shares ORC tables, text pages and
/// symbol lookups between tasks.
pub struct Unwinder<'k> {
    k: &'k Kernel,
    r: PageReader<'k>,
    pub orc: Orc,
    /// Registers saved by each CPU.
    pub cpu_regs: Vec<CpuRegs>,
    irq_stacks: HashMap<u32, StackInfo>,
    /// `ret_from_fork` / `ret_from_fork_asm`: a new task's first ip, a signal frame.
    ret_from_fork: Vec<u64>,
    syms: RefCell<HashMap<u64, Sym>>,
    /// What could not be set up (missing ORC, unreadable notes...).
    pub problems: Vec<String>,
}

impl<'k> Unwinder<'k> {
    pub fn new(k: &'k Kernel) -> Unwinder<'k> {
        Self::with_memory(k, k.mem())
    }

    /// An unwinder that reads stacks, text and ORC data through `mem` instead of the dump's
    /// memory (to see how it copes with missing or damaged pages).
    pub fn with_memory(k: &'k Kernel, mem: &'k dyn holdup_kmem::KernelMemory) -> Unwinder<'k> {
        let orc = Orc::new(k);
        let mut problems = orc.problems.clone();
        let (cpu_regs, p) = regs::cpu_registers(k);
        problems.extend(p);
        let mut irq_stacks = HashMap::new();
        if let Ok(cpus) = percpu::for_each_possible_cpu(k) {
            let ptr_var = k.symbols.address_of("hardirq_stack_ptr").or_else(|| {
                Some(
                    k.symbols.address_of("pcpu_hot")?
                        + k.types.offsetof("pcpu_hot.hardirq_stack_ptr").ok()?,
                )
            });
            if let Some(var) = ptr_var {
                for cpu in cpus {
                    if let Ok(top) =
                        percpu::per_cpu_ptr(k, var, cpu).and_then(|a| k.mem().read_u64(a))
                        && top != 0
                    {
                        // hardirq_stack_ptr = the IRQ stack's top - 8.
                        let end = top.wrapping_add(8);
                        irq_stacks.insert(
                            cpu,
                            StackInfo {
                                kind: StackKind::Irq,
                                begin: end.wrapping_sub(IRQ_STACK_SIZE),
                                end,
                            },
                        );
                    }
                }
            }
        }
        let ret_from_fork = ["ret_from_fork", "ret_from_fork_asm"]
            .iter()
            .filter_map(|n| k.symbols.address_of(n))
            .collect();
        Unwinder {
            k,
            r: PageReader::new(mem),
            orc,
            cpu_regs,
            irq_stacks,
            ret_from_fork,
            syms: RefCell::new(HashMap::new()),
            problems,
        }
    }

    /// The registers CPU `cpu` saved, if any.
    pub fn regs_of_cpu(&self, cpu: u32) -> Option<&CpuRegs> {
        self.cpu_regs.iter().find(|r| r.cpu == cpu)
    }

    fn sym(&self, addr: u64) -> Sym {
        if let Some(s) = self.syms.borrow().get(&addr) {
            return s.clone();
        }
        let (stext, etext) = self.orc.core_text();
        let s = match self.k.symbols.resolve(addr) {
            Some(r) => {
                let text_kind = matches!(r.symbol.kind, 't' | 'T' | 'w' | 'W');
                let in_core = addr >= stext && addr < etext;
                Sym {
                    text: r.to_string(),
                    function: Some(r.symbol.name.to_string()),
                    offset: Some(r.offset),
                    size: Some(r.size),
                    module: r.symbol.module.map(str::to_string),
                    is_text: in_core || text_kind,
                }
            }
            None => Sym {
                text: format!("{addr:#x}"),
                function: None,
                offset: None,
                size: None,
                module: None,
                is_text: addr >= stext && addr < etext,
            },
        };
        self.syms.borrow_mut().insert(addr, s.clone());
        s
    }

    /// `__kernel_text_address()`: in vmlinux text or a module's text.
    pub fn is_kernel_text(&self, addr: u64) -> bool {
        // Kernel and module text live in the kernel image and modules regions, whatever the
        // paging mode and KASLR.
        use holdup_kmem::Region;
        if !matches!(
            self.k.mem().region(addr),
            Region::KernelImage | Region::Modules
        ) {
            return false;
        }
        self.sym(addr).is_text
    }

    /// Whether a stack word can be a return address: kernel text, just after a call
    /// instruction, and not the first byte of a function (that is a function pointer).
    fn is_return_address(&self, w: u64) -> bool {
        self.is_kernel_text(w) && self.sym(w).offset != Some(0) && self.after_call(w)
    }

    /// Whether `addr` follows a call instruction (so it can be a return address): a direct
    /// `call rel32` or one of the usual `call *...` encodings ends just before it.
    fn after_call(&self, addr: u64) -> bool {
        let mut b = [0u8; 8];
        if self.r.read(addr.wrapping_sub(8), &mut b).is_err() {
            return false;
        }
        // b[7] is the byte just before addr.
        let at = |back: usize| b[8 - back];
        // call rel32
        if at(5) == 0xe8 {
            return true;
        }
        // call *%reg (ff d0+r), optionally REX.B (41 ff d0+r).
        if at(2) == 0xff && (0xd0..=0xd7).contains(&at(1)) {
            return true;
        }
        // call *(%reg) (ff 10+r, not 14/15).
        if at(2) == 0xff && (0x10..=0x17).contains(&at(1)) && at(1) != 0x14 && at(1) != 0x15 {
            return true;
        }
        // call *disp8(%reg) (ff 50+r d8), call *(%reg,%reg,s) (ff 14 sib).
        if at(3) == 0xff && ((0x50..=0x57).contains(&at(2)) && at(2) != 0x54 || at(2) == 0x14) {
            return true;
        }
        // call *disp8(sib) (ff 54 sib d8).
        if at(4) == 0xff && at(3) == 0x54 {
            return true;
        }
        // call *disp32(%rip) (ff 15 d32), call *disp32(%reg) (ff 90+r d32).
        if at(6) == 0xff && (at(5) == 0x15 || (0x90..=0x97).contains(&at(5)) && at(5) != 0x94) {
            return true;
        }
        // call *disp32(sib) (ff 94 sib d32).
        if at(7) == 0xff && at(6) == 0x94 {
            return true;
        }
        false
    }

    fn frame(&self, level: Option<usize>, sp: u64, ip: u64, via: Via, stack: StackKind) -> Frame {
        let mut s = self.sym(ip);
        // A return address names the call's function (`%pB`): the one holding ip - 1, which
        // differs when the call was the last instruction (to a noreturn function).
        let return_address = !matches!(via, Via::CpuRegisters | Via::PtRegs);
        if return_address && s.offset == Some(0) {
            let before = self.sym(ip.wrapping_sub(1));
            if let (Some(f), Some(off), Some(size)) = (&before.function, before.offset, before.size)
            {
                s = Sym {
                    text: format!(
                        "{f}+{:#x}/{size:#x}{}",
                        off + 1,
                        before
                            .module
                            .as_ref()
                            .map(|m| format!(" [{m}]"))
                            .unwrap_or_default()
                    ),
                    offset: Some(off + 1),
                    ..before
                };
            }
        }
        Frame {
            level,
            sp,
            ip,
            symbol: s.text,
            function: s.function,
            offset: s.offset,
            size: s.size,
            module: s.module,
            reliable: level.is_some(),
            via,
            stack,
            regs: None,
            note: None,
        }
    }

    /// The stacks a task may use: its own and, when it is running on a CPU, that CPU's IRQ
    /// stack.
    fn stacks_of(&self, t: &Task, running: bool) -> Vec<StackInfo> {
        let mut v = vec![StackInfo {
            kind: StackKind::Task,
            begin: t.stack,
            end: t.stack.wrapping_add(self.k.thread_size),
        }];
        if running && let Some(s) = self.irq_stacks.get(&t.cpu) {
            v.push(*s);
        }
        v
    }

    /// Unwinds one task. Never fails: problems end the backtrace with a reason.
    pub fn backtrace(&self, t: &Task) -> Backtrace {
        self.r.forget_stacks();
        let cpu_regs = if t.current {
            self.regs_of_cpu(t.cpu)
        } else {
            None
        };
        let stacks = self.stacks_of(t, cpu_regs.is_some());
        let mut frames: Vec<Frame> = Vec::new();
        // Reliable return-address slots, and the lowest address scanned on each stack.
        let mut slots: HashSet<u64> = HashSet::new();
        let mut scan_from: Vec<(StackInfo, u64)> = Vec::new();
        let note_stack = |scan_from: &mut Vec<(StackInfo, u64)>, s: Option<StackInfo>, at: u64| {
            if let Some(s) = s
                && !scan_from.iter().any(|(x, _)| *x == s)
            {
                scan_from.push((s, at));
            }
        };
        let find_stack =
            |addr: u64, len: u64| stacks.iter().copied().find(|s| s.contains(addr, len));

        let start: String;
        let mut state = match cpu_regs {
            Some(cr) => {
                start = format!("registers of CPU {} ({})", cr.cpu, cr.source);
                let regs = cr.regs;
                if regs.user_mode() {
                    let mut f = self.frame(
                        Some(0),
                        regs.sp(),
                        regs.ip(),
                        Via::CpuRegisters,
                        StackKind::None,
                    );
                    f.symbol = format!("{:#x} (user space)", regs.ip());
                    f.regs = Some(show_regs(RegsAt { regs, at: None }, true));
                    return Backtrace {
                        start,
                        frames: vec![f],
                        end: StackEnd::Complete(format!(
                            "running in user mode on CPU {} (no kernel frames)",
                            cr.cpu
                        )),
                    };
                }
                let stack = find_stack(regs.sp(), 8);
                if let Some((found, joined)) = self.below_registers(&regs, &find_stack) {
                    // The frames of the kexec path below the registers, then on from them.
                    for f in found {
                        self.record(f, &mut frames, &mut slots, &mut scan_from);
                    }
                    joined
                } else {
                    let mut f = self.frame(
                        Some(0),
                        regs.sp(),
                        regs.ip(),
                        Via::CpuRegisters,
                        stack.map_or(StackKind::None, |s| s.kind),
                    );
                    f.regs = Some(show_regs(RegsAt { regs, at: None }, false));
                    frames.push(f);
                    note_stack(&mut scan_from, stack, regs.sp());
                    State {
                        ip: regs.ip(),
                        sp: regs.sp(),
                        bp: regs.words[regs::BP],
                        signal: true,
                        regs: Some(RegsAt { regs, at: None }),
                        prev_regs: None,
                        stack,
                    }
                }
            }
            None if t.current => {
                start = format!("task was running on CPU {}", t.cpu);
                return Backtrace {
                    start,
                    frames,
                    end: StackEnd::Stopped(format!(
                        "the task was running on CPU {} and the dump has no registers saved by that CPU; \
                         thread.sp {:#x} is from its last switch and not trusted",
                        t.cpu, t.thread_sp
                    )),
                };
            }
            None => {
                start = format!("switch frame at thread.sp {:#x}", t.thread_sp);
                let sp = t.thread_sp;
                if t.stack == 0 {
                    return Backtrace {
                        start,
                        frames,
                        end: StackEnd::Stopped(
                            "the task has no stack (task->stack is NULL: it has exited)".into(),
                        ),
                    };
                }
                let Some(stack) = find_stack(sp, INACTIVE_TASK_FRAME_SIZE) else {
                    return Backtrace {
                        start,
                        frames,
                        end: StackEnd::Stopped(format!(
                            "thread.sp {sp:#x} is not on the task's stack {:#x}..{:#x}",
                            t.stack,
                            t.stack.wrapping_add(self.k.thread_size)
                        )),
                    };
                };
                let read = |a| self.r.stack_u64(a);
                let (bp, ip) = match (read(sp + FRAME_BP), read(sp + FRAME_RET_ADDR)) {
                    (Ok(bp), Ok(ip)) => (bp, ip),
                    (Err(e), _) | (_, Err(e)) => {
                        return Backtrace {
                            start,
                            frames,
                            end: StackEnd::Stopped(read_failure("the switch frame", &e)),
                        };
                    }
                };
                let slot = sp + FRAME_RET_ADDR;
                slots.insert(slot);
                frames.push(self.frame(Some(0), slot, ip, Via::SwitchFrame, StackKind::Task));
                note_stack(&mut scan_from, Some(stack), slot);
                if !self.is_kernel_text(ip) {
                    return Backtrace {
                        start,
                        frames,
                        end: StackEnd::Stopped(format!(
                            "return address {ip:#x} in the switch frame is not in kernel text"
                        )),
                    };
                }
                State {
                    ip,
                    sp: sp + INACTIVE_TASK_FRAME_SIZE,
                    bp,
                    signal: self.ret_from_fork.contains(&ip),
                    regs: None,
                    prev_regs: None,
                    stack: Some(stack),
                }
            }
        };

        let mut resyncs = 0;
        let end = loop {
            let budget = MAX_FRAMES.saturating_sub(frames.iter().filter(|f| f.reliable).count());
            let (found, end, no_orc) = self.walk(&mut state, &find_stack, budget);
            for f in found {
                self.record(f, &mut frames, &mut slots, &mut scan_from);
            }
            if no_orc && resyncs < MAX_RESYNCS {
                if let Some((next, f)) = self.resync(&state, &find_stack, &slots, end.reason()) {
                    resyncs += 1;
                    state = next;
                    self.record(f, &mut frames, &mut slots, &mut scan_from);
                    continue;
                }
            }
            break end;
        };

        let stale = self.scan(&scan_from, &slots);
        Backtrace {
            start,
            frames: merge(frames, stale),
            end,
        }
    }

    /// Steps from `state` until the stack ends or the unwinder cannot go on, at most
    /// `budget` frames. Returns the frames, how it ended, and whether it stopped for lack of
    /// ORC data (where [`Unwinder::resync`] may pick the chain up again).
    fn walk(
        &self,
        state: &mut State,
        find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>,
        budget: usize,
    ) -> (Vec<Found>, StackEnd, bool) {
        let mut out: Vec<Found> = Vec::new();
        loop {
            if out.len() >= budget {
                return (
                    out,
                    StackEnd::Stopped(format!("more than {MAX_FRAMES} frames")),
                    false,
                );
            }
            match self.step(state, find_stack) {
                Step::Frame {
                    slot,
                    shown_sp,
                    via,
                    regs,
                } => {
                    let ip = state.ip;
                    out.push(Found {
                        ip,
                        slot,
                        shown_sp,
                        via,
                        regs: regs.map(|r| (r, false)),
                        stack: state.stack,
                        sp: state.sp,
                        note: None,
                    });
                    if !self.is_kernel_text(ip) {
                        let why = match slot {
                            Some(s) => {
                                format!("return address {ip:#x} at [{s:#x}] is not in kernel text")
                            }
                            None => format!("ip {ip:#x} from registers is not in kernel text"),
                        };
                        return (out, StackEnd::Stopped(why), false);
                    }
                }
                Step::UserRegs(r) => {
                    match out.last_mut() {
                        Some(last) if last.regs.is_none() => last.regs = Some((r, true)),
                        _ => out.push(Found {
                            ip: r.regs.ip(),
                            slot: r.at.map(|a| a + IRET_FRAME_OFFSET),
                            shown_sp: r.regs.sp(),
                            via: Via::PtRegs,
                            regs: Some((r, true)),
                            stack: state.stack,
                            sp: state.sp,
                            note: None,
                        }),
                    }
                    return (
                        out,
                        StackEnd::Complete("user-mode registers (entry from user space)".into()),
                        false,
                    );
                }
                Step::End(why) => return (out, StackEnd::Complete(why), false),
                Step::Stop(why) => return (out, StackEnd::Stopped(why), false),
                Step::NoOrc(why) => return (out, StackEnd::Stopped(why), true),
            }
        }
    }

    /// Adds a found frame to a backtrace.
    fn record(
        &self,
        f: Found,
        frames: &mut Vec<Frame>,
        slots: &mut HashSet<u64>,
        scan_from: &mut Vec<(StackInfo, u64)>,
    ) {
        if let Some(s) = f.slot {
            slots.insert(s);
        }
        if let Some((r, _)) = f.regs
            && let Some(a) = r.at
        {
            slots.insert(a + IRET_FRAME_OFFSET);
        }
        if let Some(st) = f.stack
            && !scan_from.iter().any(|(x, _)| *x == st)
        {
            scan_from.push((st, f.slot.unwrap_or(f.sp)));
        }
        // User-mode registers on their own (no kernel frame to hang them on).
        if let Some((r, true)) = f.regs
            && f.ip == r.regs.ip()
            && r.regs.user_mode()
        {
            if let Some(last) = frames.iter_mut().rev().find(|x| x.reliable) {
                last.regs = Some(show_regs(r, true));
                return;
            }
        }
        let level = frames.iter().filter(|x| x.reliable).count();
        let mut fr = self.frame(
            Some(level),
            f.shown_sp,
            f.ip,
            f.via,
            f.stack.map_or(StackKind::None, |s| s.kind),
        );
        fr.regs = f.regs.map(|(r, user)| show_regs(r, user));
        fr.note = f.note;
        frames.push(fr);
    }

    /// Where the unwinder had no ORC data (code objtool skipped, such as `__crash_kexec`,
    /// or no table for a module), looks further up the stack for a return address from
    /// which unwinding reaches the bottom of the stack cleanly, as crash does. The frame
    /// found this way is marked [`Via::Resync`].
    fn resync(
        &self,
        state: &State,
        find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>,
        used: &HashSet<u64>,
        why: &str,
    ) -> Option<(State, Found)> {
        let stack = state.stack.or_else(|| find_stack(state.sp, 8))?;
        let mut a = state.sp.saturating_add(7) & !7;
        let mut tried = 0;
        while a < stack.end && stack.end - a >= 8 && tried < MAX_RESYNC_CANDIDATES {
            let slot = a;
            a += 8;
            if used.contains(&slot) {
                continue;
            }
            let Ok(w) = self.r.stack_u64(slot) else {
                continue;
            };
            if !self.is_return_address(w) {
                continue;
            }
            tried += 1;
            let start = State {
                ip: w,
                sp: slot + 8,
                bp: state.bp,
                signal: false,
                regs: None,
                prev_regs: None,
                stack: Some(stack),
            };
            let mut dry = State { ..start };
            let (_, end, _) = self.walk(&mut dry, find_stack, MAX_FRAMES);
            if end.is_complete() {
                return Some((
                    start,
                    Found {
                        ip: w,
                        slot: Some(slot),
                        shown_sp: slot,
                        via: Via::Resync,
                        regs: None,
                        stack: Some(stack),
                        sp: slot + 8,
                        note: Some(format!(
                            "{why}; the next frame was found by scanning the stack"
                        )),
                    },
                ));
            }
        }
        None
    }

    /// The frames below a CPU's saved registers that end in `machine_kexec`, the last
    /// function the panicking CPU ran before the capture kernel: `__crash_kexec` saves the
    /// registers first (its own, or the faulting context's `pt_regs` that `oops_end` /
    /// `die` hand to `crash_kexec`) and calls `machine_kexec` after, so that frame and the
    /// ones between it and the registers (after an oops: `__crash_kexec`, `crash_kexec`,
    /// `oops_end`, the page-fault handler and its exception entry) are still on the stack
    /// below the saved sp. Looks down from the saved sp for a return address into
    /// `machine_kexec` from which ORC unwinding arrives at the saved registers exactly (the
    /// same sp, and the same ip or the same function); returns those frames, innermost
    /// first, and the unwinder's state there, from which unwinding goes on as from the
    /// registers. `None` on any other CPU, or when no such chain is found.
    fn below_registers(
        &self,
        regs: &Regs,
        find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>,
    ) -> Option<(Vec<Found>, State)> {
        let stack = find_stack(regs.sp(), 8)?;
        let target = self.sym(regs.ip()).function?;
        let kexec = self.k.symbols.address_of("machine_kexec")?;
        let kexec_end = kexec.checked_add(self.sym(kexec).size?)?;
        let mut a = regs.sp() & !7;
        let mut tried = 0;
        while a >= stack.begin.saturating_add(8) && tried < MAX_RESYNC_CANDIDATES {
            a -= 8;
            let slot = a;
            let Ok(w) = self.r.stack_u64(slot) else {
                continue;
            };
            if w <= kexec || w >= kexec_end || !self.is_return_address(w) {
                continue;
            }
            tried += 1;
            let mut st = State {
                ip: w,
                sp: slot + 8,
                bp: regs.words[regs::BP],
                signal: false,
                regs: None,
                prev_regs: None,
                stack: Some(stack),
            };
            let mut out = vec![Found {
                ip: w,
                slot: Some(slot),
                shown_sp: slot,
                via: Via::BelowRegisters,
                regs: None,
                stack: Some(stack),
                sp: slot + 8,
                note: Some(
                    "below the CPU's saved registers: machine_kexec ran after they were saved; \
                     its return address was found by scanning down from them"
                        .into(),
                ),
            }];
            let mut resyncs = 0;
            while out.len() < MAX_FRAMES {
                match self.step(&mut st, find_stack) {
                    Step::Frame {
                        slot,
                        shown_sp,
                        via,
                        regs: fr,
                    } => out.push(Found {
                        ip: st.ip,
                        slot,
                        shown_sp,
                        via,
                        regs: fr.map(|r| (r, false)),
                        stack: st.stack,
                        sp: st.sp,
                        note: None,
                    }),
                    // `__crash_kexec` has no ORC data: pick the chain up as the unwinder does.
                    Step::NoOrc(why) if resyncs < MAX_RESYNCS => {
                        let used: HashSet<u64> = out.iter().filter_map(|f| f.slot).collect();
                        let Some((next, f)) = self.resync(&st, find_stack, &used, &why) else {
                            break;
                        };
                        resyncs += 1;
                        st = next;
                        out.push(f);
                    }
                    _ => break,
                }
                if st.sp == regs.sp()
                    && (st.ip == regs.ip()
                        || self.sym(st.ip).function.as_deref() == Some(target.as_str()))
                {
                    return Some((out, st));
                }
                if st.stack != Some(stack) || st.sp > regs.sp() {
                    break;
                }
            }
        }
        None
    }

    /// Checks that `len` bytes at `addr` are on the current stack or another stack of the
    /// task (the unwinder moves from the IRQ stack to the task stack).
    fn check(
        cur: Option<StackInfo>,
        addr: u64,
        len: u64,
        find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>,
    ) -> Result<(), String> {
        if cur.is_some_and(|s| s.contains(addr, len)) || find_stack(addr, len).is_some() {
            return Ok(());
        }
        Err(format!(
            "address {addr:#x} is not on the task's stack or its CPU's IRQ stack"
        ))
    }

    /// Reads a stack word for the unwinder (`deref_stack_reg`).
    fn read_word(
        &self,
        state: &State,
        addr: u64,
        find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>,
    ) -> Result<u64, String> {
        Self::check(state.stack, addr, 8, find_stack)?;
        self.r
            .stack_u64(addr)
            .map_err(|e| read_failure(&format!("stack word {addr:#x}"), &e))
    }

    /// Reads a `pt_regs` at `addr`, or only its IRET frame (`deref_stack_regs`,
    /// `deref_stack_iret_regs`).
    fn read_regs(
        &self,
        state: &State,
        addr: u64,
        full: bool,
        find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>,
    ) -> Result<RegsAt, String> {
        let first = if full {
            addr
        } else {
            addr.wrapping_add(IRET_FRAME_OFFSET)
        };
        let end = addr.wrapping_add(PT_REGS_SIZE);
        Self::check(state.stack, first, end.wrapping_sub(first), find_stack)?;
        let mut words = [0u64; 21];
        for (i, w) in words.iter_mut().enumerate() {
            let a = addr.wrapping_add(8 * i as u64);
            if a < first {
                continue;
            }
            *w = self
                .r
                .stack_u64(a)
                .map_err(|e| read_failure(&format!("pt_regs at {addr:#x}"), &e))?;
        }
        Ok(RegsAt {
            regs: Regs { words, full },
            at: Some(addr),
        })
    }

    /// `get_reg()`: a register from the last full `pt_regs`.
    fn get_reg(state: &State, idx: usize) -> Option<u64> {
        let r = state.regs?;
        if r.regs.full {
            return Some(r.regs.words[idx]);
        }
        state
            .prev_regs
            .filter(|p| p.regs.full)
            .map(|p| p.regs.words[idx])
    }

    /// `unwind_next_frame()`.
    fn step(&self, state: &mut State, find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>) -> Step {
        if let Some(r) = state.regs
            && r.regs.user_mode()
        {
            return Step::End("user-mode registers".into());
        }
        let lookup_ip = if state.signal {
            state.ip
        } else {
            state.ip.wrapping_sub(1)
        };
        let (orc, via) = match self.orc.find(self.k, &self.r, lookup_ip) {
            OrcFound::Entry(e) => (e, Via::Orc),
            OrcFound::NotCovered => (ORC_FP_ENTRY, Via::FramePointer),
            OrcFound::Unreadable(_) => (ORC_FP_ENTRY, Via::FramePointer),
        };
        match orc.kind {
            OrcType::Undefined => {
                return Step::NoOrc(format!(
                    "no ORC unwind data for {}",
                    self.sym(state.ip).text
                ));
            }
            OrcType::EndOfStack => {
                return Step::End("end of stack (ORC end-of-stack mark)".into());
            }
            OrcType::Unknown(n) => {
                return Step::Stop(format!(
                    "unknown ORC entry type {n} for {}",
                    self.sym(state.ip).text
                ));
            }
            _ => {}
        }
        match self.step_with(state, orc, find_stack) {
            Ok(mut s) => {
                if let Step::Frame { via: v, .. } = &mut s
                    && *v == Via::Orc
                {
                    *v = via;
                }
                s
            }
            Err(e) if via == Via::FramePointer => Step::NoOrc(format!(
                "no ORC data for {} and frame pointers do not lead on: {e}",
                self.sym(state.ip).text
            )),
            Err(e) => Step::Stop(e),
        }
    }

    fn step_with(
        &self,
        state: &mut State,
        orc: OrcEntry,
        find_stack: &dyn Fn(u64, u64) -> Option<StackInfo>,
    ) -> Result<Step, String> {
        let orig_ip = state.ip;
        let prev_sp = state.sp;
        let prev_stack = state.stack;
        let off = i64::from(orc.sp_offset) as u64;
        let mut indirect = false;
        let mut sp = match orc.sp_reg {
            ORC_REG_SP => state.sp.wrapping_add(off),
            ORC_REG_BP => state.bp.wrapping_add(off),
            ORC_REG_SP_INDIRECT => {
                indirect = true;
                state.sp
            }
            ORC_REG_BP_INDIRECT => {
                indirect = true;
                state.bp.wrapping_add(off)
            }
            ORC_REG_R10 | ORC_REG_R13 | ORC_REG_DI | ORC_REG_DX => {
                let idx = match orc.sp_reg {
                    ORC_REG_R10 => regs::R10,
                    ORC_REG_R13 => regs::R13,
                    ORC_REG_DI => regs::DI,
                    _ => regs::DX,
                };
                Self::get_reg(state, idx).ok_or_else(|| {
                    format!(
                        "ORC needs a register value that no pt_regs provides at {}",
                        self.sym(orig_ip).text
                    )
                })?
            }
            ORC_REG_UNDEFINED => {
                return Ok(Step::NoOrc(format!(
                    "no ORC unwind data for {}",
                    self.sym(orig_ip).text
                )));
            }
            r => {
                return Err(format!(
                    "unknown ORC sp register {r} at {}",
                    self.sym(orig_ip).text
                ));
            }
        };
        if indirect {
            sp = self.read_word(state, sp, find_stack)?;
            if orc.sp_reg == ORC_REG_SP_INDIRECT {
                sp = sp.wrapping_add(off);
            }
        }
        let (slot, shown_sp, regs, via);
        match orc.kind {
            OrcType::Call => {
                let ip_p = sp.wrapping_sub(8);
                let ip = self.read_word(state, ip_p, find_stack)?;
                state.ip = ip;
                state.sp = sp;
                state.regs = None;
                state.prev_regs = None;
                slot = Some(ip_p);
                shown_sp = ip_p;
                regs = None;
                via = Via::Orc;
            }
            OrcType::Regs => {
                let r = self.read_regs(state, sp, true, find_stack)?;
                state.ip = r.regs.ip();
                state.sp = r.regs.sp();
                state.regs = Some(r);
                state.prev_regs = None;
                if r.regs.user_mode() {
                    return Ok(Step::UserRegs(r));
                }
                slot = Some(sp.wrapping_add(IRET_FRAME_OFFSET));
                shown_sp = r.regs.sp();
                regs = Some(r);
                via = Via::PtRegs;
            }
            OrcType::RegsPartial => {
                let base = sp.wrapping_sub(IRET_FRAME_OFFSET);
                let r = self.read_regs(state, base, false, find_stack)?;
                state.ip = r.regs.ip();
                state.sp = r.regs.sp();
                if state.regs.is_some_and(|x| x.regs.full) {
                    state.prev_regs = state.regs;
                }
                state.regs = Some(r);
                if r.regs.user_mode() {
                    return Ok(Step::UserRegs(r));
                }
                slot = Some(sp);
                shown_sp = r.regs.sp();
                regs = Some(r);
                via = Via::PtRegs;
            }
            _ => unreachable!("handled by step()"),
        }
        // Find BP.
        let boff = i64::from(orc.bp_offset) as u64;
        match orc.bp_reg {
            ORC_REG_UNDEFINED => {
                if let Some(v) = Self::get_reg(state, regs::BP) {
                    state.bp = v;
                }
            }
            ORC_REG_PREV_SP => {
                state.bp = self.read_word(state, sp.wrapping_add(boff), find_stack)?
            }
            ORC_REG_BP => {
                state.bp = self.read_word(state, state.bp.wrapping_add(boff), find_stack)?
            }
            r => {
                return Err(format!(
                    "unknown ORC bp register {r} at {}",
                    self.sym(orig_ip).text
                ));
            }
        }
        // The new sp decides which stack we are on.
        match find_stack(state.sp, 8) {
            Some(s) => state.stack = Some(s),
            None => {
                return Ok(Step::Stop(format!(
                    "the caller's stack pointer {:#x} (from {}) is not on the task's stack or its CPU's IRQ stack",
                    state.sp,
                    self.sym(orig_ip).text
                )));
            }
        }
        // Prevent a loop on bad data: on the same stack, sp must grow.
        if state.stack == prev_stack && state.sp <= prev_sp {
            return Ok(Step::Stop(format!(
                "stack going in the wrong direction at {} (sp {:#x} after {prev_sp:#x})",
                self.sym(orig_ip).text,
                state.sp
            )));
        }
        state.signal = orc.signal;
        Ok(Step::Frame {
            slot,
            shown_sp,
            via,
            regs,
        })
    }

    /// The stale return addresses: every word from where unwinding entered a stack to that
    /// stack's end that follows a call instruction in kernel text and is not a slot the
    /// unwinder used.
    fn scan(&self, from: &[(StackInfo, u64)], slots: &HashSet<u64>) -> Vec<Frame> {
        let mut out = Vec::new();
        for &(s, start) in from {
            let mut a = start & !7;
            while a < s.end && s.end - a >= 8 && out.len() < MAX_STALE {
                if !slots.contains(&a)
                    && let Ok(w) = self.r.stack_u64(a)
                    && self.is_return_address(w)
                {
                    out.push(self.frame(None, a, w, Via::StackScan, s.kind));
                }
                a += 8;
            }
        }
        out
    }
}

/// The message for a failed read of `what`.
fn read_failure(what: &str, e: &ReadError) -> String {
    match e {
        ReadError::NotInDump { vaddr, reason, .. } => format!(
            "stack page {:#x} is not in the dump ({what}: {reason})",
            vaddr & !0xfff
        ),
        ReadError::NotMapped { vaddr, detail } => format!(
            "stack page {:#x} is not mapped ({what}: {detail})",
            vaddr & !0xfff
        ),
        e => format!("{what}: {e}"),
    }
}

fn show_regs(r: RegsAt, user_mode: bool) -> FrameRegs {
    FrameRegs {
        at: r.at,
        user_mode,
        full: r.regs.full,
        values: r.regs.named(),
    }
}

/// Puts the `?` entries between the reliable frames, in stack order: each goes before the
/// first reliable frame on the same stack whose slot is above it.
fn merge(reliable: Vec<Frame>, stale: Vec<Frame>) -> Vec<Frame> {
    let mut out = Vec::with_capacity(reliable.len() + stale.len());
    let mut stale = stale.into_iter().peekable();
    for f in reliable {
        while let Some(s) = stale.peek() {
            if s.stack == f.stack && s.sp < f.sp {
                out.push(stale.next().unwrap());
            } else {
                break;
            }
        }
        out.push(f);
    }
    out.extend(stale);
    out
}
