//! ELF notes of a vmcore: NT_PRSTATUS per CPU, VMCOREINFO, QEMU CPU state.

use std::fmt;

/// `NT_PRSTATUS`.
pub const NT_PRSTATUS: u32 = 1;
/// Offset of `pr_reg` in x86_64 `struct elf_prstatus`.
const PR_REG_OFFSET: usize = 112;
/// Offset of `pr_pid`.
const PR_PID_OFFSET: usize = 32;
/// Bound on the number of notes we keep (a real dump has one per CPU plus a few).
const MAX_NOTES: usize = 65_536;

/// One ELF note, in file order.
#[derive(Clone, PartialEq, Eq)]
pub struct Note {
    /// The name without its terminating NUL ("CORE", "VMCOREINFO", "QEMU", ...).
    pub name: String,
    pub n_type: u32,
    pub desc: Vec<u8>,
}

impl fmt::Debug for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Note")
            .field("name", &self.name)
            .field("n_type", &self.n_type)
            .field("desc_len", &self.desc.len())
            .finish()
    }
}

/// The x86_64 `pr_reg` order (`struct user_regs_struct`).
pub const PR_REG_NAMES: [&str; 27] = [
    "r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx", "dx", "si", "di",
    "orig_ax", "ip", "cs", "flags", "sp", "ss", "fs_base", "gs_base", "ds", "es", "fs", "gs",
];

/// An x86_64 `NT_PRSTATUS` note: the registers one CPU saved at the crash (kdump), or a vCPU's
/// registers (QEMU, where `pid` is the vCPU index + 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrStatus {
    /// Index of this note among all notes of the dump.
    pub note_index: usize,
    /// Index among the NT_PRSTATUS notes (not reliably the CPU number).
    pub prstatus_index: usize,
    /// `pr_pid`: the pid of the task running on that CPU (0 for idle).
    pub pid: i32,
    /// `pr_reg` in [`PR_REG_NAMES`] order.
    pub regs: [u64; 27],
}

impl PrStatus {
    /// A register by its [`PR_REG_NAMES`] name.
    pub fn reg(&self, name: &str) -> Option<u64> {
        PR_REG_NAMES
            .iter()
            .position(|&n| n == name)
            .map(|i| self.regs[i])
    }
    pub fn ip(&self) -> u64 {
        self.regs[16]
    }
    pub fn sp(&self) -> u64 {
        self.regs[19]
    }
    pub fn bp(&self) -> u64 {
        self.regs[4]
    }
    pub fn cs(&self) -> u64 {
        self.regs[17]
    }
    /// Whether the CPU was in user mode (CPL 3).
    pub fn user_mode(&self) -> bool {
        self.cs() & 3 == 3
    }
}

/// A segment register in QEMU's CPU state note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QemuSegment {
    pub selector: u32,
    pub limit: u32,
    pub flags: u32,
    pub base: u64,
}

/// QEMU's x86_64 `QEMUCPUState` note (name "QEMU", type 0), one per vCPU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QemuCpuState {
    pub note_index: usize,
    pub version: u32,
    pub size: u32,
    /// rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp, r8..r15, rip, rflags.
    pub gprs: [u64; 18],
    /// cs, ds, es, fs, gs, ss, ldt, tr, gdt, idt.
    pub segments: [QemuSegment; 10],
    /// CR0..CR4.
    pub cr: [u64; 5],
    /// `kernel_gs_base` (newer QEMU only).
    pub kernel_gs_base: Option<u64>,
}

impl QemuCpuState {
    pub fn rip(&self) -> u64 {
        self.gprs[16]
    }
    pub fn rsp(&self) -> u64 {
        self.gprs[6]
    }
    pub fn cr3(&self) -> u64 {
        self.cr[3]
    }
    /// CR4.LA57: the vCPU used 5-level paging.
    pub fn la57(&self) -> bool {
        self.cr[4] & (1 << 12) != 0
    }
    /// The active GS base (the per-CPU base when the vCPU was in the kernel).
    pub fn gs_base(&self) -> u64 {
        self.segments[4].base
    }
}

/// All notes of a dump plus the decoded ones.
#[derive(Debug, Clone, Default)]
pub struct Notes {
    pub all: Vec<Note>,
    pub prstatus: Vec<PrStatus>,
    pub qemu_cpus: Vec<QemuCpuState>,
    /// The descriptor of the "VMCOREINFO" note (the `KEY=VALUE` text), if any.
    pub vmcoreinfo: Option<Vec<u8>>,
    /// Problems met while parsing notes (the notes before them are kept).
    pub warnings: Vec<String>,
}

fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn le64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

impl Notes {
    /// Appends the notes of one PT_NOTE segment (or kdump note region). `where_` names it in
    /// warnings.
    pub(crate) fn parse_segment(&mut self, data: &[u8], where_: &str) {
        let mut p = 0usize;
        while p + 12 <= data.len() {
            if self.all.len() >= MAX_NOTES {
                self.warnings.push(format!(
                    "{where_}: more than {MAX_NOTES} notes; rest ignored"
                ));
                return;
            }
            let namesz = le32(data, p) as usize;
            let descsz = le32(data, p + 4) as usize;
            let n_type = le32(data, p + 8);
            if namesz == 0 && descsz == 0 && n_type == 0 {
                // Padding or the terminating empty note of a per-CPU buffer.
                p += 12;
                continue;
            }
            let name_at = p + 12;
            let desc_at = name_at.saturating_add(namesz.saturating_add(3) & !3);
            let next = desc_at.saturating_add(descsz.saturating_add(3) & !3);
            if desc_at.saturating_add(descsz) > data.len() {
                self.warnings.push(format!(
                    "{where_}: note at offset {p:#x} (namesz {namesz}, descsz {descsz}) runs past the end ({:#x})",
                    data.len()
                ));
                return;
            }
            let raw_name = &data[name_at..name_at + namesz];
            let name_end = raw_name.iter().position(|&c| c == 0).unwrap_or(namesz);
            let name = holdup_text::printable(&raw_name[..name_end]);
            let desc = data[desc_at..desc_at + descsz].to_vec();
            self.add(Note { name, n_type, desc });
            p = next;
        }
    }

    fn add(&mut self, note: Note) {
        let index = self.all.len();
        match (note.name.as_str(), note.n_type) {
            ("CORE", NT_PRSTATUS) => {
                if note.desc.len() >= PR_REG_OFFSET + 27 * 8 {
                    let mut regs = [0u64; 27];
                    for (i, r) in regs.iter_mut().enumerate() {
                        *r = le64(&note.desc, PR_REG_OFFSET + 8 * i);
                    }
                    self.prstatus.push(PrStatus {
                        note_index: index,
                        prstatus_index: self.prstatus.len(),
                        pid: le32(&note.desc, PR_PID_OFFSET) as i32,
                        regs,
                    });
                } else {
                    self.warnings.push(format!(
                        "NT_PRSTATUS note {index} has {} bytes, fewer than an x86_64 elf_prstatus",
                        note.desc.len()
                    ));
                }
            }
            ("VMCOREINFO", _) if self.vmcoreinfo.is_none() => {
                self.vmcoreinfo = Some(trim_nul(&note.desc).to_vec());
            }
            ("QEMU", 0) => match parse_qemu_cpu(&note.desc, index) {
                Some(s) => self.qemu_cpus.push(s),
                None => self.warnings.push(format!(
                    "QEMU note {index} has {} bytes, too few for QEMUCPUState",
                    note.desc.len()
                )),
            },
            _ => {}
        }
        self.all.push(note);
    }
}

fn trim_nul(b: &[u8]) -> &[u8] {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    &b[..end]
}

const QEMU_CPU_STATE_V1: usize = 8 + 18 * 8 + 10 * 24 + 5 * 8;

fn parse_qemu_cpu(d: &[u8], note_index: usize) -> Option<QemuCpuState> {
    if d.len() < QEMU_CPU_STATE_V1 {
        return None;
    }
    let mut gprs = [0u64; 18];
    for (i, r) in gprs.iter_mut().enumerate() {
        *r = le64(d, 8 + 8 * i);
    }
    let mut segments = [QemuSegment::default(); 10];
    for (i, s) in segments.iter_mut().enumerate() {
        let o = 8 + 18 * 8 + 24 * i;
        *s = QemuSegment {
            selector: le32(d, o),
            limit: le32(d, o + 4),
            flags: le32(d, o + 8),
            base: le64(d, o + 16),
        };
    }
    let mut cr = [0u64; 5];
    let cr_at = 8 + 18 * 8 + 10 * 24;
    for (i, c) in cr.iter_mut().enumerate() {
        *c = le64(d, cr_at + 8 * i);
    }
    let size = le32(d, 4);
    let kernel_gs_base = (size as usize >= QEMU_CPU_STATE_V1 + 8
        && d.len() >= QEMU_CPU_STATE_V1 + 8)
        .then(|| le64(d, QEMU_CPU_STATE_V1));
    Some(QemuCpuState {
        note_index,
        version: le32(d, 0),
        size,
        gprs,
        segments,
        cr,
        kernel_gs_base,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn note(name: &str, n_type: u32, desc: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
        v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
        v.extend_from_slice(&n_type.to_le_bytes());
        v.extend_from_slice(name.as_bytes());
        v.push(0);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v.extend_from_slice(desc);
        while v.len() % 4 != 0 {
            v.push(0);
        }
        v
    }

    pub(crate) fn prstatus_desc(pid: i32, ip: u64, sp: u64) -> Vec<u8> {
        let mut d = vec![0u8; 336];
        d[32..36].copy_from_slice(&pid.to_le_bytes());
        for i in 0..27 {
            let v = match i {
                16 => ip,
                19 => sp,
                _ => 0x1000 + i as u64,
            };
            d[112 + 8 * i..120 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        d
    }

    #[test]
    fn parses_kdump_style_notes() {
        let mut seg = Vec::new();
        seg.extend(note("CORE", 1, &prstatus_desc(0, 0xffffffff81000000, 0x10)));
        seg.extend([0u8; 12]); // terminating empty note of the per-cpu buffer
        seg.extend(note(
            "CORE",
            1,
            &prstatus_desc(1234, 0xffffffff81234567, 0x20),
        ));
        seg.extend(note("VMCOREINFO", 0, b"OSRELEASE=6.1.0\nPAGESIZE=4096\n"));
        let mut n = Notes::default();
        n.parse_segment(&seg, "test");
        assert!(n.warnings.is_empty(), "{:?}", n.warnings);
        assert_eq!(n.all.len(), 3);
        assert_eq!(n.prstatus.len(), 2);
        assert_eq!(n.prstatus[1].pid, 1234);
        assert_eq!(n.prstatus[1].ip(), 0xffffffff81234567);
        assert_eq!(n.prstatus[1].reg("r15"), Some(0x1000));
        assert_eq!(n.prstatus[1].note_index, 1);
        assert_eq!(
            n.vmcoreinfo.as_deref(),
            Some(&b"OSRELEASE=6.1.0\nPAGESIZE=4096\n"[..])
        );
    }

    #[test]
    fn qemu_note_and_truncation() {
        let mut d = vec![0u8; QEMU_CPU_STATE_V1 + 8];
        d[0..4].copy_from_slice(&1u32.to_le_bytes());
        let len = d.len() as u32;
        d[4..8].copy_from_slice(&len.to_le_bytes());
        let cr_at = 8 + 18 * 8 + 10 * 24;
        d[cr_at + 24..cr_at + 32].copy_from_slice(&0x1234000u64.to_le_bytes());
        d[cr_at + 32..cr_at + 40].copy_from_slice(&(1u64 << 12).to_le_bytes());
        let mut seg = note("QEMU", 0, &d);
        let mut n = Notes::default();
        n.parse_segment(&seg, "t");
        assert_eq!(n.qemu_cpus[0].cr3(), 0x1234000);
        assert!(n.qemu_cpus[0].la57());
        assert_eq!(n.qemu_cpus[0].kernel_gs_base, Some(0));
        // A truncated note is a warning, not a panic.
        seg.truncate(seg.len() - 10);
        let mut n = Notes::default();
        n.parse_segment(&seg, "t");
        assert_eq!(n.all.len(), 0);
        assert_eq!(n.warnings.len(), 1);
        // Huge sizes do not overflow.
        let mut bad = vec![0xffu8; 12];
        bad.extend([0u8; 8]);
        let mut n = Notes::default();
        n.parse_segment(&bad, "t");
        assert_eq!(n.warnings.len(), 1);
    }
}
