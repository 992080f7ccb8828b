//! The registers each CPU saved when the dump was taken, and `struct pt_regs`.
//!
//! kdump: `crash_save_cpu()` writes an NT_PRSTATUS note into the per-CPU `crash_notes`
//! buffer of each CPU (the panicking CPU's registers from `crash_setup_regs()` in
//! `__crash_kexec`, the others' from the NMI that stopped them); `/proc/vmcore` copies them
//! as the dump's notes, in CPU order but skipping CPUs that saved nothing. So the CPU of a
//! note is taken from `crash_notes` in memory when it is there, else by matching `pr_pid`
//! to the pid of the CPU's current task. QEMU dumps have one note per vCPU, in order, with
//! `pr_pid` = vCPU index + 1.

use crate::{Kernel, percpu, sched};
use holdup_dump::PR_REG_NAMES;
use serde::Serialize;

/// `pt_regs` word indices (the first 21 words of `pr_reg` are `struct pt_regs`).
pub const R15: usize = 0;
pub const BP: usize = 4;
pub const R10: usize = 7;
pub const R13: usize = 2;
pub const DX: usize = 12;
pub const DI: usize = 14;
pub const IP: usize = 16;
pub const CS: usize = 17;
pub const FLAGS: usize = 18;
pub const SP: usize = 19;
pub const SS: usize = 20;
/// `sizeof(struct pt_regs)`.
pub const PT_REGS_SIZE: u64 = 21 * 8;
/// `offsetof(struct pt_regs, ip)`: an IRET frame starts here.
pub const IRET_FRAME_OFFSET: u64 = IP as u64 * 8;

/// A register set: all of `struct pt_regs`, or only its IRET frame (ip, cs, flags, sp, ss).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Regs {
    pub words: [u64; 21],
    /// All 21 words are valid (not just the IRET frame).
    pub full: bool,
}

impl Regs {
    pub fn ip(&self) -> u64 {
        self.words[IP]
    }
    pub fn sp(&self) -> u64 {
        self.words[SP]
    }
    pub fn cs(&self) -> u64 {
        self.words[CS]
    }
    /// `user_mode(regs)`: CPL 3.
    pub fn user_mode(&self) -> bool {
        self.cs() & 3 == 3
    }
    /// The registers by name, as crash prints them; only the IRET frame for partial ones.
    pub fn named(&self) -> Vec<(&'static str, u64)> {
        PR_REG_NAMES[..21]
            .iter()
            .enumerate()
            .filter(|&(i, _)| self.full || i >= IP)
            .map(|(i, &n)| (n, self.words[i]))
            .collect()
    }
}

/// One CPU's saved registers and where they were found.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CpuRegs {
    pub cpu: u32,
    /// `pr_pid` of the note (0 for an idle task; vCPU index + 1 in QEMU dumps).
    pub pr_pid: i32,
    #[serde(skip)]
    pub regs: Regs,
    /// e.g. `crash_notes of CPU 1`, `NT_PRSTATUS note 0 (QEMU vCPU 0)`.
    pub source: String,
}

/// Offset of `pr_reg` in `struct elf_prstatus` (x86_64).
const PR_REG_OFFSET: u64 = 112;
const PR_PID_OFFSET: u64 = 32;
/// `Elf64_Nhdr` + `"CORE\0"` padded to 8.
const NOTE_DESC_OFFSET: u64 = 12 + 8;
use holdup_dump::NT_PRSTATUS;

/// The registers of every CPU that saved them, and what went wrong finding them.
pub fn cpu_registers(k: &Kernel) -> (Vec<CpuRegs>, Vec<String>) {
    let mut problems = Vec::new();
    let mut out: Vec<CpuRegs> = Vec::new();
    let cpus = match percpu::for_each_possible_cpu(k) {
        Ok(c) => c,
        Err(e) => {
            problems.push(format!("possible CPUs: {e}"));
            Vec::new()
        }
    };
    // 1. The per-CPU crash_notes buffers (kdump).
    if let Ok(ptr_addr) = k.symbol("crash_notes") {
        match k.mem().read_u64(ptr_addr) {
            Ok(notes) if notes != 0 => {
                for &cpu in &cpus {
                    match crash_note(k, notes, cpu) {
                        Ok(Some((pid, regs))) => out.push(CpuRegs {
                            cpu,
                            pr_pid: pid,
                            regs,
                            source: format!("crash_notes of CPU {cpu}"),
                        }),
                        Ok(None) => {}
                        Err(e) => problems.push(format!("crash_notes of CPU {cpu}: {e}")),
                    }
                }
            }
            Ok(_) => {}
            Err(e) => problems.push(format!("crash_notes: {e}")),
        }
    }
    let dump = &k.dump.dump;
    let notes = dump.prstatus();
    let have = |out: &Vec<CpuRegs>, cpu: u32| out.iter().any(|r| r.cpu == cpu);
    if !dump.qemu_cpus().is_empty() {
        // 2. QEMU: one note per vCPU, in order.
        for (i, n) in notes.iter().enumerate() {
            let cpu = i as u32;
            if !have(&out, cpu) && (cpus.is_empty() || cpus.contains(&cpu)) {
                out.push(CpuRegs {
                    cpu,
                    pr_pid: n.pid,
                    regs: regs_of(&n.regs),
                    source: format!("NT_PRSTATUS note {i} (QEMU vCPU {i})"),
                });
            }
        }
    } else {
        // 3. kdump notes without crash_notes: match pr_pid to each CPU's current task.
        for &cpu in &cpus {
            if have(&out, cpu) {
                continue;
            }
            let Ok(pid) = sched::cpu_curr(k, cpu).and_then(|t| sched::task_pid(k, t)) else {
                continue;
            };
            let matching: Vec<_> = notes.iter().filter(|n| n.pid == pid as i32).collect();
            let note = match matching.as_slice() {
                [n] => Some(*n),
                // Several idle CPUs (pid 0): notes are in CPU order.
                _ => notes.get(cpu as usize).filter(|n| n.pid == pid as i32),
            };
            if let Some(n) = note {
                out.push(CpuRegs {
                    cpu,
                    pr_pid: n.pid,
                    regs: regs_of(&n.regs),
                    source: format!("NT_PRSTATUS note {} (pr_pid {})", n.prstatus_index, n.pid),
                });
            }
        }
    }
    out.sort_by_key(|r| r.cpu);
    (out, problems)
}

fn regs_of(pr_reg: &[u64; 27]) -> Regs {
    let mut words = [0u64; 21];
    words.copy_from_slice(&pr_reg[..21]);
    Regs { words, full: true }
}

/// The NT_PRSTATUS note in CPU `cpu`'s `crash_notes` buffer, if it saved one.
fn crash_note(
    k: &Kernel,
    notes: u64,
    cpu: u32,
) -> Result<Option<(i32, Regs)>, holdup_kmem::ReadError> {
    let buf = percpu::per_cpu_ptr(k, notes, cpu)?;
    let mem = k.mem();
    let namesz = mem.read_u32(buf)?;
    let descsz = mem.read_u32(buf.wrapping_add(4))?;
    let ty = mem.read_u32(buf.wrapping_add(8))?;
    let name = mem.read_vec(buf.wrapping_add(12), 4)?;
    if namesz != 5
        || ty != NT_PRSTATUS
        || name != b"CORE"
        || u64::from(descsz) < PR_REG_OFFSET + PT_REGS_SIZE
    {
        return Ok(None);
    }
    let desc = buf + NOTE_DESC_OFFSET;
    let pid = mem.read_u32(desc.wrapping_add(PR_PID_OFFSET))? as i32;
    let raw = mem.read_vec(desc.wrapping_add(PR_REG_OFFSET), PT_REGS_SIZE as usize)?;
    let mut words = [0u64; 21];
    for (i, w) in words.iter_mut().enumerate() {
        *w = u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap());
    }
    // An all-zero register set is an empty buffer, not a saved CPU.
    if words[IP] == 0 && words[SP] == 0 {
        return Ok(None);
    }
    Ok(Some((pid, Regs { words, full: true })))
}
