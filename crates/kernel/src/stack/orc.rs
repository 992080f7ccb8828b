//! ORC unwind data read from the dump (`arch/x86/kernel/unwind_orc.c`,
//! `arch/x86/include/asm/orc_types.h`).
//!
//! vmlinux: `.orc_unwind_ip` (`__start_orc_unwind_ip..__stop_orc_unwind_ip`, self-relative
//! `s32` addresses, sorted) and the parallel `.orc_unwind` array of 6-byte `struct orc_entry`;
//! `orc_lookup[]` (filled at boot) narrows the binary search to one 256-byte block of text.
//! Modules: `struct module.arch.{num_orcs, orc_unwind_ip, orc_unwind}`, sorted at load time.
//!
//! `struct orc_entry` changed twice: 6.1 (`type:2`, `end:1`; CALL 0, REGS 1, REGS_PARTIAL 2,
//! end of stack = `sp_reg` undefined with `end`), 6.3 (`signal` added), 6.4+ (`type:3`,
//! `signal:1`, no `end`; UNDEFINED 0, END_OF_STACK 1, CALL 2, REGS 3, REGS_PARTIAL 4).
//! [`OrcLayout::from_types`] reads the bitfields from BTF, so no version string is needed.

use super::mem::PageReader;
use crate::Kernel;
use holdup_types::Types;
use std::cell::RefCell;
use std::collections::HashMap;

pub const ORC_REG_UNDEFINED: u8 = 0;
pub const ORC_REG_PREV_SP: u8 = 1;
pub const ORC_REG_DX: u8 = 2;
pub const ORC_REG_DI: u8 = 3;
pub const ORC_REG_BP: u8 = 4;
pub const ORC_REG_SP: u8 = 5;
pub const ORC_REG_R10: u8 = 6;
pub const ORC_REG_R13: u8 = 7;
pub const ORC_REG_BP_INDIRECT: u8 = 8;
pub const ORC_REG_SP_INDIRECT: u8 = 9;

/// Size of `struct orc_entry`.
pub const ORC_ENTRY_SIZE: u64 = 6;
/// `LOOKUP_BLOCK_ORDER`: `orc_lookup[]` has one entry per 256 bytes of text.
const LOOKUP_BLOCK_ORDER: u32 = 8;
/// Largest ORC table believed (vmlinux has about 400 000 entries).
const MAX_ORC_ENTRIES: u64 = 1 << 23;

/// What kind of frame an ORC entry describes, in the 6.4+ vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrcType {
    /// No unwind information here (an error to land on).
    Undefined,
    /// The bottom of a stack: stop, cleanly.
    EndOfStack,
    /// A normal call frame: the return address is just below the previous frame's sp.
    Call,
    /// A full `struct pt_regs` is at the previous frame's sp.
    Regs,
    /// An IRET frame (the last five words of `pt_regs`) is at the previous frame's sp.
    RegsPartial,
    /// A type number this code does not know.
    Unknown(u8),
}

/// One decoded `struct orc_entry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrcEntry {
    pub sp_offset: i16,
    pub bp_offset: i16,
    pub sp_reg: u8,
    pub bp_reg: u8,
    pub kind: OrcType,
    /// The ip is exact, not a return address (after an interrupt or exception).
    pub signal: bool,
}

/// `orc_fp_entry`: what the kernel assumes where there is no ORC data (frame pointers).
pub const ORC_FP_ENTRY: OrcEntry = OrcEntry {
    sp_offset: 16,
    bp_offset: -16,
    sp_reg: ORC_REG_BP,
    bp_reg: ORC_REG_PREV_SP,
    kind: OrcType::Call,
    signal: false,
};

/// Where the bitfields of `struct orc_entry` are: (bit offset, width) from the start of the
/// entry, and which type numbering it uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrcLayout {
    pub sp_reg: (u32, u32),
    pub bp_reg: (u32, u32),
    pub ty: (u32, u32),
    /// `end:1` (before 6.4).
    pub end: Option<(u32, u32)>,
    /// `signal:1` (6.3+).
    pub signal: Option<(u32, u32)>,
}

impl OrcLayout {
    /// Linux ≤ 6.2 (drgn's ORC "v1"): `sp_reg:4, bp_reg:4, type:2, end:1`.
    pub const V1: OrcLayout = OrcLayout {
        sp_reg: (32, 4),
        bp_reg: (36, 4),
        ty: (40, 2),
        end: Some((42, 1)),
        signal: None,
    };
    /// Linux 6.3: `type:2, signal:1, end:1`.
    pub const V2: OrcLayout = OrcLayout {
        sp_reg: (32, 4),
        bp_reg: (36, 4),
        ty: (40, 2),
        end: Some((43, 1)),
        signal: Some((42, 1)),
    };
    /// Linux 6.4+: `type:3, signal:1`.
    pub const V3: OrcLayout = OrcLayout {
        sp_reg: (32, 4),
        bp_reg: (36, 4),
        ty: (40, 3),
        end: None,
        signal: Some((43, 1)),
    };

    /// Reads the layout from the kernel's types (BTF or DWARF).
    pub fn from_types(t: &Types) -> Result<OrcLayout, String> {
        let bits = |m: &str| -> Result<Option<(u32, u32)>, String> {
            let path = format!("orc_entry.{m}");
            if !t.has_member(&path).map_err(|e| e.to_string())? {
                return Ok(None);
            }
            let f = t.member(&path).map_err(|e| e.to_string())?;
            let width = match f.bit_size {
                Some(w) => w,
                None => 8 * t.sizeof_id(f.ty).map_err(|e| e.to_string())? as u32,
            };
            Ok(Some((f.bit_offset as u32, width)))
        };
        let need = |m: &str| bits(m)?.ok_or_else(|| format!("struct orc_entry has no {m}"));
        let layout = OrcLayout {
            sp_reg: need("sp_reg")?,
            bp_reg: need("bp_reg")?,
            ty: need("type")?,
            end: bits("end")?,
            signal: bits("signal")?,
        };
        for (name, (off, w)) in [("sp_reg", layout.sp_reg), ("bp_reg", layout.bp_reg)]
            .into_iter()
            .chain([("type", layout.ty)])
            .chain(layout.end.map(|b| ("end", b)))
            .chain(layout.signal.map(|b| ("signal", b)))
        {
            if w == 0 || w > 8 || off + w > 48 {
                return Err(format!(
                    "orc_entry.{name} at bit {off} width {w} is not plausible"
                ));
            }
        }
        Ok(layout)
    }

    /// The layout a kernel release has, for when the types do not describe `orc_entry`.
    pub fn for_release(release: &str) -> OrcLayout {
        let mut nums = release
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|s| s.parse::<u32>().ok());
        let v = (nums.next().unwrap_or(0), nums.next().unwrap_or(0));
        if v >= (6, 4) {
            OrcLayout::V3
        } else if v == (6, 3) {
            OrcLayout::V2
        } else {
            OrcLayout::V1
        }
    }

    /// Which named layout this is, for messages.
    pub fn name(&self) -> &'static str {
        if *self == OrcLayout::V1 {
            "6.1-style (type:2, end:1)"
        } else if *self == OrcLayout::V2 {
            "6.3-style (type:2, signal:1, end:1)"
        } else if *self == OrcLayout::V3 {
            "6.4+-style (type:3, signal:1)"
        } else {
            "non-standard (from the types)"
        }
    }

    /// Decodes 6 bytes of `struct orc_entry`.
    pub fn decode(&self, b: [u8; 6]) -> OrcEntry {
        let mut w = [0u8; 8];
        w[..6].copy_from_slice(&b);
        let word = u64::from_le_bytes(w);
        let get = |(off, width): (u32, u32)| ((word >> off) & ((1u64 << width) - 1)) as u8;
        let sp_reg = get(self.sp_reg);
        let bp_reg = get(self.bp_reg);
        let ty = get(self.ty);
        let kind = match self.end {
            // Before 6.4: CALL 0, REGS 1, REGS_PARTIAL 2; end of stack is an undefined sp_reg
            // with `end` set, and an undefined sp_reg without it means "no information".
            Some(end) => {
                if sp_reg == ORC_REG_UNDEFINED {
                    if get(end) != 0 {
                        OrcType::EndOfStack
                    } else {
                        OrcType::Undefined
                    }
                } else {
                    match ty {
                        0 => OrcType::Call,
                        1 => OrcType::Regs,
                        2 => OrcType::RegsPartial,
                        n => OrcType::Unknown(n),
                    }
                }
            }
            None => match ty {
                0 => OrcType::Undefined,
                1 => OrcType::EndOfStack,
                2 => OrcType::Call,
                3 => OrcType::Regs,
                4 => OrcType::RegsPartial,
                n => OrcType::Unknown(n),
            },
        };
        let signal = match self.signal {
            Some(s) => get(s) != 0,
            // 6.1 has no signal bit: the unwinder treats every regs frame as one.
            None => matches!(kind, OrcType::Regs | OrcType::RegsPartial),
        };
        OrcEntry {
            sp_offset: i16::from_le_bytes([b[0], b[1]]),
            bp_offset: i16::from_le_bytes([b[2], b[3]]),
            sp_reg,
            bp_reg,
            kind,
            signal,
        }
    }
}

/// How a kernel numbers the ORC base registers. Linux 7.1 renumbered them (commit
/// 1735858caa4b: SP and PREV_SP moved, AX added), and distributions backport such changes, so
/// the numbering is read from the data: in every kernel most entries are call frames based on
/// SP, so the most frequent `sp_reg` is SP (5 before, 3 after), and the most frequent non-zero
/// `bp_reg` is PREV_SP (1 before, 8 after). Entries are mapped to the `ORC_REG_*` constants of
/// this file (the numbering up to 7.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrcRegisters {
    /// Raw register number -> `ORC_REG_*` (an unknown number maps to 15, which the unwinder
    /// reports as an unknown register).
    map: [u8; 16],
    pub name: &'static str,
}

impl OrcRegisters {
    /// Up to 7.0: the numbers are the constants of this file.
    pub const UNTIL_7_0: OrcRegisters = OrcRegisters {
        map: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 15, 15, 15, 15, 15],
        name: "up to 7.0 (SP 5, PREV_SP 1)",
    };
    /// 7.1+: UNDEFINED 0, AX 1, DX 2, SP 3, BP 4, DI 5, R10 6, R13 7, PREV_SP 8, SP_INDIRECT 9,
    /// BP_INDIRECT 10. SP, PREV_SP and BP are certain from the entries' frequencies on a real
    /// 7.3 kernel; the rare ones (DX 1 entry, R10, R13, the indirect ones: the same counts as
    /// on 6.12 but for BP_INDIRECT's move to 10) follow from them, AX and DI from the places
    /// left (no entry uses either on that kernel).
    pub const FROM_7_1: OrcRegisters = OrcRegisters {
        map: [0, 15, 2, 5, 4, 3, 6, 7, 1, 9, 8, 15, 15, 15, 15, 15],
        name: "7.1+ (SP 3, PREV_SP 8)",
    };

    /// Which numbering the vmlinux ORC table `t` uses (from up to 65,536 of its entries).
    fn detect(k: &Kernel, layout: &OrcLayout, t: OrcTable) -> OrcRegisters {
        let n = t.num.min(1 << 16);
        let Ok(bytes) = k.mem().read_vec(t.orc_table, (n * ORC_ENTRY_SIZE) as usize) else {
            return OrcRegisters::UNTIL_7_0;
        };
        let mut sp = [0usize; 16];
        let mut bp = [0usize; 16];
        for c in bytes.chunks_exact(6) {
            let e = layout.decode([c[0], c[1], c[2], c[3], c[4], c[5]]);
            sp[usize::from(e.sp_reg & 15)] += 1;
            bp[usize::from(e.bp_reg & 15)] += 1;
        }
        let top = |h: &[usize; 16]| (1..16).max_by_key(|&i| h[i]).unwrap_or(0);
        match (top(&sp), top(&bp)) {
            (3, 8) => OrcRegisters::FROM_7_1,
            _ => OrcRegisters::UNTIL_7_0,
        }
    }

    /// `e` with its registers in the `ORC_REG_*` numbering.
    pub fn map(&self, mut e: OrcEntry) -> OrcEntry {
        e.sp_reg = self.map[usize::from(e.sp_reg & 15)];
        e.bp_reg = self.map[usize::from(e.bp_reg & 15)];
        e
    }
}

/// One sorted ORC table: `num` self-relative ip entries at `ip_table`, entries at `orc_table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrcTable {
    pub ip_table: u64,
    pub orc_table: u64,
    pub num: u64,
}

/// `orc_lookup[]` over `_stext.._etext`.
#[derive(Debug, Clone, Copy)]
struct Lookup {
    table: u64,
    num_blocks: u64,
}

/// Offsets of `struct module.arch`'s ORC fields.
#[derive(Debug, Clone, Copy)]
struct ModuleArch {
    num_orcs: u64,
    orc_unwind_ip: u64,
    orc_unwind: u64,
}

/// Where an ip's ORC entry came from, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrcFound {
    Entry(OrcEntry),
    /// No table covers the ip (not kernel or module text, or a module without ORC).
    NotCovered,
    /// The table exists but could not be read.
    Unreadable(String),
}

/// The kernel's and the modules' ORC tables.
pub struct Orc {
    pub layout: OrcLayout,
    /// How the layout was found.
    pub layout_source: String,
    /// The kernel's ORC register numbers, mapped to the `ORC_REG_*` constants above.
    pub registers: OrcRegisters,
    vmlinux: Option<OrcTable>,
    lookup: Option<Lookup>,
    text: (u64, u64),
    inittext: Option<(u64, u64)>,
    module_arch: Option<ModuleArch>,
    modules: RefCell<HashMap<u64, Option<OrcTable>>>,
    /// Why vmlinux ORC is missing, if it is.
    pub problems: Vec<String>,
}

impl Orc {
    pub fn new(k: &Kernel) -> Orc {
        let mut problems = Vec::new();
        let (layout, layout_source) = match OrcLayout::from_types(&k.types) {
            Ok(l) => (
                l,
                format!("struct orc_entry from {}", k.types.origin().kind),
            ),
            Err(e) => {
                let release = k.vmcoreinfo().osrelease().unwrap_or("").to_string();
                let l = OrcLayout::for_release(&release);
                problems.push(format!(
                    "struct orc_entry: {e}; assuming the layout of release {release:?}"
                ));
                (l, format!("release {release}"))
            }
        };
        let sym = |n: &str| k.symbols.address_of(n);
        let vmlinux = match (
            sym("__start_orc_unwind_ip"),
            sym("__stop_orc_unwind_ip"),
            sym("__start_orc_unwind"),
        ) {
            (Some(ip), Some(stop), Some(orc))
                if stop > ip && (stop - ip) / 4 <= MAX_ORC_ENTRIES =>
            {
                Some(OrcTable {
                    ip_table: ip,
                    orc_table: orc,
                    num: (stop - ip) / 4,
                })
            }
            _ => {
                problems.push(
                    "no vmlinux ORC table (__start_orc_unwind_ip/__stop_orc_unwind_ip/\
                     __start_orc_unwind); unwinding with frame pointers only"
                        .into(),
                );
                None
            }
        };
        let lookup = match (sym("orc_lookup"), sym("orc_lookup_end")) {
            (Some(t), Some(e)) if e > t => Some(Lookup {
                table: t,
                num_blocks: (e - t) / 4,
            }),
            _ => None,
        };
        let text = (sym("_stext").unwrap_or(0), sym("_etext").unwrap_or(0));
        let inittext = sym("_sinittext").zip(sym("_einittext"));
        let registers = match vmlinux {
            Some(t) => OrcRegisters::detect(k, &layout, t),
            None => OrcRegisters::UNTIL_7_0,
        };
        let module_arch = (|| {
            Some(ModuleArch {
                num_orcs: k.types.offsetof("module.arch.num_orcs").ok()?,
                orc_unwind_ip: k.types.offsetof("module.arch.orc_unwind_ip").ok()?,
                orc_unwind: k.types.offsetof("module.arch.orc_unwind").ok()?,
            })
        })();
        Orc {
            layout,
            layout_source,
            registers,
            vmlinux,
            lookup,
            text,
            inittext,
            module_arch,
            modules: RefCell::new(HashMap::new()),
            problems,
        }
    }

    /// vmlinux's `_stext.._etext`.
    pub fn core_text(&self) -> (u64, u64) {
        self.text
    }

    /// `orc_find(ip)`.
    pub(crate) fn find(&self, k: &Kernel, r: &PageReader, ip: u64) -> OrcFound {
        let (stext, etext) = self.text;
        if let Some(t) = self.vmlinux {
            if ip >= stext && ip < etext {
                if let Some(l) = self.lookup {
                    let idx = (ip - stext) >> LOOKUP_BLOCK_ORDER;
                    if idx + 1 < l.num_blocks {
                        let window = (|| -> Result<Option<(u64, u64)>, String> {
                            let start = r.read_i32(l.table + 4 * idx).map_err(|e| e.to_string())?
                                as u32 as u64;
                            let stop = r
                                .read_i32(l.table + 4 * (idx + 1))
                                .map_err(|e| e.to_string())?
                                as u32 as u64
                                + 1;
                            Ok((start < t.num && stop <= t.num && start < stop)
                                .then_some((start, stop)))
                        })();
                        // A bad or unreadable lookup table: search the whole table.
                        if let Ok(Some((start, stop))) = window {
                            return self.search(r, &t, start, stop - start, ip);
                        }
                    }
                }
                return self.search(r, &t, 0, t.num, ip);
            }
            if let Some((s, e)) = self.inittext
                && ip >= s
                && ip < e
            {
                return self.search(r, &t, 0, t.num, ip);
            }
        }
        match self.module_table(k, r, ip) {
            Ok(Some(t)) => self.search(r, &t, 0, t.num, ip),
            Ok(None) => OrcFound::NotCovered,
            Err(e) => OrcFound::Unreadable(e),
        }
    }

    /// The ORC table of the module whose memory holds `ip`.
    fn module_table(
        &self,
        k: &Kernel,
        r: &PageReader,
        ip: u64,
    ) -> Result<Option<OrcTable>, String> {
        let Some(arch) = self.module_arch else {
            return Ok(None);
        };
        let Some(m) = k.symbols.module_of(ip) else {
            return Ok(None);
        };
        if let Some(t) = self.modules.borrow().get(&m.addr) {
            return Ok(*t);
        }
        let read = || -> Result<Option<OrcTable>, holdup_kmem::ReadError> {
            let num = u64::from(r.read_i32(m.addr.wrapping_add(arch.num_orcs))? as u32);
            let ip_table = r.read_u64(m.addr.wrapping_add(arch.orc_unwind_ip))?;
            let orc_table = r.read_u64(m.addr.wrapping_add(arch.orc_unwind))?;
            Ok(
                (num > 0 && num <= MAX_ORC_ENTRIES && ip_table != 0 && orc_table != 0).then_some(
                    OrcTable {
                        ip_table,
                        orc_table,
                        num,
                    },
                ),
            )
        };
        let t = read().map_err(|e| format!("module {} ORC table: {e}", m.name))?;
        self.modules.borrow_mut().insert(m.addr, t);
        Ok(t)
    }

    /// `__orc_find`: the last entry whose ip is <= `ip`, among `num` entries from `first`.
    fn search(&self, r: &PageReader, t: &OrcTable, first: u64, num: u64, ip: u64) -> OrcFound {
        match search_table(
            |i| {
                let a = t.ip_table + 4 * i;
                r.read_i32(a).map(|rel| a.wrapping_add(rel as i64 as u64))
            },
            first,
            num,
            ip,
        ) {
            Ok(Some(i)) => {
                let mut b = [0u8; 6];
                match r.read(t.orc_table + ORC_ENTRY_SIZE * i, &mut b) {
                    Ok(()) => OrcFound::Entry(self.registers.map(self.layout.decode(b))),
                    Err(e) => OrcFound::Unreadable(format!("ORC entry {i}: {e}")),
                }
            }
            Ok(None) => OrcFound::NotCovered,
            Err(e) => OrcFound::Unreadable(format!("ORC ip table: {e}")),
        }
    }
}

/// The kernel's `__orc_find` over entries `first..first+num` whose ips `orc_ip(i)` gives:
/// the index of the last entry with `orc_ip <= ip`, or the first entry when all are above
/// (as the kernel does); `None` for an empty range.
pub(crate) fn search_table<E>(
    orc_ip: impl Fn(u64) -> Result<u64, E>,
    first: u64,
    num: u64,
    ip: u64,
) -> Result<Option<u64>, E> {
    if num == 0 {
        return Ok(None);
    }
    let (mut lo, mut hi) = (first as i64, (first + num - 1) as i64);
    let mut found = first;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        if orc_ip(mid as u64)? <= ip {
            found = mid as u64;
            lo = mid + 1;
        } else {
            hi = mid - 1;
        }
    }
    Ok(Some(found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_entries_decode_like_linux_6_1() {
        // __schedule-like CALL frame: sp_reg SP, sp_offset 0x58, bp_reg PREV_SP, bp_offset -16.
        let e = OrcLayout::V1.decode([0x58, 0, 0xf0, 0xff, 0x15, 0x00]);
        assert_eq!(
            e,
            OrcEntry {
                sp_offset: 0x58,
                bp_offset: -16,
                sp_reg: ORC_REG_SP,
                bp_reg: ORC_REG_PREV_SP,
                kind: OrcType::Call,
                signal: false
            }
        );
        // UNWIND_HINT_REGS: type 1 at bits 40-41.
        let e = OrcLayout::V1.decode([0, 0, 0, 0, 0x05, 0x01]);
        assert_eq!((e.kind, e.signal), (OrcType::Regs, true));
        // REGS_PARTIAL.
        assert_eq!(
            OrcLayout::V1.decode([8, 0, 0, 0, 0x05, 0x02]).kind,
            OrcType::RegsPartial
        );
        // UNWIND_HINT_EMPTY: undefined sp_reg with end (bit 42) = end of stack.
        assert_eq!(
            OrcLayout::V1.decode([0, 0, 0, 0, 0, 0x04]).kind,
            OrcType::EndOfStack
        );
        // Undefined without end: no information.
        assert_eq!(OrcLayout::V1.decode([0; 6]).kind, OrcType::Undefined);
    }

    #[test]
    fn v3_entries_decode_like_linux_6_12() {
        // CALL = 2 in type:3 (bits 40-42), signal bit 43 clear.
        let e = OrcLayout::V3.decode([0x10, 0, 0xf0, 0xff, 0x14, 0x02]);
        assert_eq!(
            e,
            OrcEntry {
                sp_offset: 16,
                bp_offset: -16,
                sp_reg: ORC_REG_BP,
                bp_reg: ORC_REG_PREV_SP,
                kind: OrcType::Call,
                signal: false
            }
        );
        // REGS (3) with signal.
        let e = OrcLayout::V3.decode([0, 0, 0, 0, 0x05, 0x0b]);
        assert_eq!((e.kind, e.signal), (OrcType::Regs, true));
        assert_eq!(
            OrcLayout::V3.decode([0, 0, 0, 0, 0x05, 0x0c]).kind,
            OrcType::RegsPartial
        );
        assert_eq!(
            OrcLayout::V3.decode([0, 0, 0, 0, 0, 0x01]).kind,
            OrcType::EndOfStack
        );
        assert_eq!(OrcLayout::V3.decode([0; 6]).kind, OrcType::Undefined);
        assert_eq!(
            OrcLayout::V3.decode([0, 0, 0, 0, 0x05, 0x07]).kind,
            OrcType::Unknown(7)
        );
    }

    #[test]
    fn layouts_follow_the_release_when_types_are_missing() {
        assert_eq!(OrcLayout::for_release("6.1.0-56-amd64"), OrcLayout::V1);
        assert_eq!(OrcLayout::for_release("6.3.2"), OrcLayout::V2);
        assert_eq!(OrcLayout::for_release("6.12.95+deb12-amd64"), OrcLayout::V3);
        assert_eq!(OrcLayout::for_release("5.10.0"), OrcLayout::V1);
    }

    #[test]
    fn search_finds_the_last_entry_at_or_below() {
        let ips = [0x100u64, 0x110, 0x120, 0x180];
        let f = |i: u64| Ok::<u64, ()>(ips[i as usize]);
        assert_eq!(search_table(f, 0, 4, 0x115), Ok(Some(1)));
        assert_eq!(search_table(f, 0, 4, 0x120), Ok(Some(2)));
        assert_eq!(search_table(f, 0, 4, 0x1000), Ok(Some(3)));
        // Below the first: the kernel returns the first entry.
        assert_eq!(search_table(f, 0, 4, 0x10), Ok(Some(0)));
        // A window of the table (orc_lookup).
        assert_eq!(search_table(f, 1, 2, 0x125), Ok(Some(2)));
        assert_eq!(search_table(f, 0, 0, 0x125), Ok(None));
    }
}
