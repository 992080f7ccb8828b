//! ELF64 core dumps: `/proc/vmcore` copies, `makedumpfile -E` (filtered: `p_filesz < p_memsz`),
//! QEMU `dump-guest-memory`.

use std::collections::BTreeMap;

use crate::notes::Notes;
use crate::source::Source;
use crate::{DumpError, PageState, PhysError, ReadFailure};

const PT_LOAD: u32 = 1;
const PT_NOTE: u32 = 4;
const PN_XNUM: u16 = 0xffff;
const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
/// A note segment larger than this is not a vmcore's (real ones are a few KiB per CPU).
const MAX_NOTE_SEGMENT: u64 = 64 << 20;
/// `__START_KERNEL_map`.
const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;

/// A PT_LOAD as the file states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfSegment {
    pub offset: u64,
    pub vaddr: u64,
    pub paddr: u64,
    pub filesz: u64,
    pub memsz: u64,
}

/// What the ELF headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    /// The PT_LOADs in file order.
    pub segments: Vec<ElfSegment>,
    pub note_segments: usize,
    /// Some PT_LOAD has `p_filesz < p_memsz`: pages filtered out by `makedumpfile -E`.
    pub filtered: bool,
    /// The dump carries QEMU CPU notes (`dump-guest-memory`).
    pub qemu: bool,
    /// The kernel-text PT_LOAD (`p_vaddr` in `__START_KERNEL_map`), if any.
    pub kernel_text: Option<ElfSegment>,
    /// `p_vaddr - p_paddr` of the RAM segments when they all agree and it looks like a direct
    /// map base (kdump-written headers; QEMU's have `p_vaddr == p_paddr`).
    pub direct_map_hint: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// File bytes at this (logical) file offset.
    Data { file: u64 },
    /// In the segment's memory but not in the file because the file ends early.
    Truncated,
    /// `[p_filesz, p_memsz)`: excluded by the dump tool.
    Excluded,
}

impl Kind {
    fn priority(self) -> u8 {
        match self {
            Kind::Data { .. } => 0,
            Kind::Truncated => 1,
            Kind::Excluded => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Ival {
    start: u64,
    end: u64,
    kind: Kind,
}

pub(crate) struct ElfDump {
    pub(crate) info: ElfInfo,
    /// Disjoint, sorted physical intervals.
    map: Vec<Ival>,
    pub(crate) max_pfn: u64,
    /// Read excluded tails as zeros instead of failing.
    pub(crate) zero_fill_excluded: bool,
}

fn u16at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
}
fn u32at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

impl ElfDump {
    pub(crate) fn parse(
        src: &Source,
        notes: &mut Notes,
        warnings: &mut Vec<String>,
    ) -> Result<ElfDump, DumpError> {
        let flen = src.len();
        let eh = src
            .get(0, EHDR_SIZE)
            .map_err(|e| DumpError::Malformed(format!("ELF header: {e}")))?;
        if eh[4] != 2 {
            return Err(DumpError::Unsupported(format!(
                "ELF class {} (only ELF64 vmcores are supported)",
                eh[4]
            )));
        }
        if eh[5] != 1 {
            return Err(DumpError::Unsupported(
                "big-endian ELF (only little-endian x86_64 vmcores are supported)".into(),
            ));
        }
        let e_type = u16at(&eh, 16);
        let e_machine = u16at(&eh, 18);
        if e_type != 4 {
            return Err(DumpError::Unsupported(format!(
                "ELF type {e_type} is not ET_CORE (4)"
            )));
        }
        if e_machine != 62 {
            warnings.push(format!(
                "ELF machine {e_machine} is not EM_X86_64 (62); reading it anyway"
            ));
        }
        let phoff = u64at(&eh, 32);
        let shoff = u64at(&eh, 40);
        let phentsize = u16at(&eh, 54) as usize;
        let mut phnum = u16at(&eh, 56) as u64;
        if phentsize < PHDR_SIZE {
            return Err(DumpError::Malformed(format!(
                "ELF e_phentsize {phentsize} is smaller than an Elf64_Phdr (56)"
            )));
        }
        if phnum == PN_XNUM as u64 {
            // The real count is in section header 0's sh_info.
            let sh = src.get(shoff, 64).map_err(|e| {
                DumpError::Malformed(format!(
                    "ELF e_phnum is PN_XNUM but section header 0 at {shoff:#x} is unreadable: {e}"
                ))
            })?;
            phnum = u32at(&sh, 44) as u64;
        }
        let ph_bytes = phnum
            .checked_mul(phentsize as u64)
            .filter(|&n| phoff.checked_add(n).is_some_and(|e| e <= flen))
            .ok_or_else(|| {
                DumpError::Malformed(format!(
                    "ELF program headers ({phnum} x {phentsize} bytes at {phoff:#x}) lie beyond the end of the file ({flen:#x})"
                ))
            })?;
        let ph = src
            .get(phoff, ph_bytes as usize)
            .map_err(|e| DumpError::Malformed(format!("ELF program headers: {e}")))?;

        let mut segments = Vec::new();
        let mut note_segments = 0;
        let mut pieces: Vec<Ival> = Vec::new();
        for i in 0..phnum as usize {
            let p = &ph[i * phentsize..i * phentsize + PHDR_SIZE];
            let p_type = u32at(p, 0);
            let offset = u64at(p, 8);
            let vaddr = u64at(p, 16);
            let paddr = u64at(p, 24);
            let filesz = u64at(p, 32);
            let memsz = u64at(p, 40);
            match p_type {
                PT_NOTE => {
                    note_segments += 1;
                    if filesz > MAX_NOTE_SEGMENT {
                        warnings.push(format!("PT_NOTE {i} claims {filesz:#x} bytes; ignored"));
                        continue;
                    }
                    match src.get(offset, filesz as usize) {
                        Ok(d) => notes.parse_segment(&d, &format!("PT_NOTE {i}")),
                        Err(e) => warnings.push(format!("PT_NOTE {i}: {e}")),
                    }
                }
                PT_LOAD => {
                    let seg = ElfSegment {
                        offset,
                        vaddr,
                        paddr,
                        filesz,
                        memsz,
                    };
                    segments.push(seg);
                    // /proc/kcore's segments of vmalloc, vmemmap and module space have no
                    // physical address (p_paddr = -1): their memory is in the RAM segments,
                    // reached through the page tables like any other.
                    if paddr == u64::MAX {
                        continue;
                    }
                    if paddr.checked_add(memsz.max(filesz)).is_none() {
                        warnings.push(format!(
                            "PT_LOAD {i}: paddr {paddr:#x} + size overflows; ignored"
                        ));
                        continue;
                    }
                    let memsz = if filesz > memsz {
                        warnings.push(format!(
                            "PT_LOAD {i}: p_filesz {filesz:#x} > p_memsz {memsz:#x}; using p_filesz"
                        ));
                        filesz
                    } else {
                        memsz
                    };
                    // How much of the file part is really in the file.
                    let avail = flen.saturating_sub(offset).min(filesz);
                    if avail < filesz {
                        warnings.push(format!(
                            "PT_LOAD {i} (paddr {paddr:#x}): file ends {:#x} bytes into its {filesz:#x} bytes of data (truncated dump)",
                            avail
                        ));
                    }
                    let mut push = |start: u64, end: u64, kind: Kind| {
                        if end > start {
                            pieces.push(Ival { start, end, kind });
                        }
                    };
                    push(paddr, paddr + avail, Kind::Data { file: offset });
                    push(paddr + avail, paddr + filesz, Kind::Truncated);
                    push(paddr + filesz, paddr + memsz, Kind::Excluded);
                }
                _ => {}
            }
        }
        let map = build_map(pieces);
        let max_pfn = map.last().map_or(0, |iv| iv.end.div_ceil(4096));
        let filtered = segments.iter().any(|s| s.filesz < s.memsz);
        let kernel_text = segments
            .iter()
            .find(|s| s.vaddr >= START_KERNEL_MAP && s.paddr != u64::MAX)
            .copied();
        let mut hint = None;
        let mut consistent = true;
        for s in &segments {
            if s.vaddr >= START_KERNEL_MAP || s.memsz == 0 || s.paddr == u64::MAX {
                continue;
            }
            let d = s.vaddr.wrapping_sub(s.paddr);
            match hint {
                None => hint = Some(d),
                Some(h) if h != d => consistent = false,
                _ => {}
            }
        }
        let direct_map_hint = hint.filter(|&h| consistent && h >= 0xff00_0000_0000_0000);
        let qemu = !notes.qemu_cpus.is_empty();
        Ok(ElfDump {
            info: ElfInfo {
                segments,
                note_segments,
                filtered,
                qemu,
                kernel_text,
                direct_map_hint,
            },
            map,
            max_pfn,
            zero_fill_excluded: false,
        })
    }

    fn find(&self, paddr: u64) -> Option<&Ival> {
        let i = self.map.partition_point(|iv| iv.end <= paddr);
        self.map.get(i).filter(|iv| iv.start <= paddr)
    }

    /// `Present` when every byte of the page is in the file; otherwise the state of the
    /// first byte that is not (a page cut by a segment edge, e.g. RAM ending at 0x9fc00, is
    /// not present as a page although its first part reads fine).
    pub(crate) fn page_state(&self, pfn: u64) -> PageState {
        let Some(start) = pfn
            .checked_mul(4096)
            .filter(|s| s.checked_add(4096).is_some())
        else {
            return PageState::Absent;
        };
        let end = start + 4096;
        let mut pa = start;
        // At most one step per interval overlapping the page.
        while pa < end {
            match self.find(pa) {
                Some(iv) if matches!(iv.kind, Kind::Data { .. }) => pa = iv.end,
                Some(iv) if iv.kind == Kind::Excluded => {
                    return PageState::Excluded { dump_level: None };
                }
                Some(_) => return PageState::Truncated,
                None => return PageState::Absent,
            }
        }
        PageState::Present
    }

    pub(crate) fn read_phys(
        &self,
        src: &Source,
        paddr: u64,
        buf: &mut [u8],
    ) -> Result<(), PhysError> {
        let mut done = 0usize;
        // Each step consumes the rest of one interval (at least one byte): bounded by buf.len().
        while done < buf.len() {
            let pa = paddr + done as u64;
            let iv = self.find(pa).ok_or(PhysError {
                paddr: pa,
                failure: ReadFailure::Absent,
            })?;
            let n = ((iv.end - pa) as usize).min(buf.len() - done);
            match iv.kind {
                Kind::Data { file } => {
                    src.read_at(file + (pa - iv.start), &mut buf[done..done + n])
                        .map_err(|e| PhysError {
                            paddr: pa,
                            failure: ReadFailure::Corrupt(e),
                        })?;
                }
                Kind::Excluded if self.zero_fill_excluded => buf[done..done + n].fill(0),
                Kind::Excluded => {
                    return Err(PhysError {
                        paddr: pa,
                        failure: ReadFailure::Excluded { dump_level: None },
                    });
                }
                Kind::Truncated => {
                    return Err(PhysError {
                        paddr: pa,
                        failure: ReadFailure::Truncated(
                            "its ELF segment's data lies beyond the end of the file".into(),
                        ),
                    });
                }
            }
            done += n;
        }
        Ok(())
    }
}

/// Makes disjoint intervals from possibly overlapping pieces. Where pieces overlap, file data
/// wins over a truncated part, which wins over an excluded tail; among equals, the first
/// segment in the file wins.
fn build_map(mut pieces: Vec<Ival>) -> Vec<Ival> {
    // Stable sort keeps file order among equal priorities.
    pieces.sort_by_key(|p| p.kind.priority());
    let mut map: BTreeMap<u64, Ival> = BTreeMap::new();
    for p in pieces {
        // Fill only the gaps of [p.start, p.end) not already covered.
        let mut cur = p.start;
        if let Some((_, prev)) = map.range(..=cur).next_back()
            && prev.end > cur
        {
            cur = prev.end;
        }
        if cur >= p.end {
            continue;
        }
        let covered: Vec<(u64, u64)> = map
            .range(cur..p.end)
            .map(|(_, iv)| (iv.start, iv.end))
            .collect();
        for (s, e) in covered.into_iter().chain(std::iter::once((p.end, p.end))) {
            if s > cur {
                let kind = match p.kind {
                    Kind::Data { file } => Kind::Data {
                        file: file + (cur - p.start),
                    },
                    k => k,
                };
                map.insert(
                    cur,
                    Ival {
                        start: cur,
                        end: s,
                        kind,
                    },
                );
            }
            cur = cur.max(e);
            if cur >= p.end {
                break;
            }
        }
    }
    // Merge neighbours that continue each other.
    let mut out: Vec<Ival> = Vec::with_capacity(map.len());
    for iv in map.into_values() {
        if let Some(last) = out.last_mut()
            && last.end == iv.start
        {
            let joined = match (last.kind, iv.kind) {
                (Kind::Data { file: a }, Kind::Data { file: b }) => {
                    a + (last.end - last.start) == b
                }
                (a, b) => a == b,
            };
            if joined {
                last.end = iv.end;
                continue;
            }
        }
        out.push(iv);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(start: u64, end: u64, file: u64) -> Ival {
        Ival {
            start,
            end,
            kind: Kind::Data { file },
        }
    }

    #[test]
    fn map_overlap_and_merge() {
        let m = build_map(vec![
            data(0x1000, 0x5000, 0x10000),
            Ival {
                start: 0x5000,
                end: 0x9000,
                kind: Kind::Excluded,
            },
            // Kernel text overlapping RAM: the first segment keeps its bytes.
            data(0x2000, 0x3000, 0x90000),
            // Data covering part of an excluded tail takes precedence.
            data(0x6000, 0x7000, 0x20000),
            data(0x9000, 0xa000, 0x10000 + 0x4000 + 0x4000),
        ]);
        assert_eq!(
            m,
            vec![
                data(0x1000, 0x5000, 0x10000),
                Ival {
                    start: 0x5000,
                    end: 0x6000,
                    kind: Kind::Excluded
                },
                data(0x6000, 0x7000, 0x20000),
                Ival {
                    start: 0x7000,
                    end: 0x9000,
                    kind: Kind::Excluded
                },
                data(0x9000, 0xa000, 0x18000),
            ]
        );
    }

    #[test]
    fn partial_pages_are_not_present() {
        // RAM from 0x1000 to 0x9fc00, as kexec-tools writes it.
        let d = ElfDump {
            info: ElfInfo {
                segments: vec![],
                note_segments: 0,
                filtered: false,
                qemu: false,
                kernel_text: None,
                direct_map_hint: None,
            },
            map: build_map(vec![data(0x1000, 0x9fc00, 0x2000)]),
            max_pfn: 0xa0,
            zero_fill_excluded: false,
        };
        assert_eq!(d.page_state(0x9e), PageState::Present);
        assert_eq!(d.page_state(0x9f), PageState::Absent);
        assert_eq!(d.page_state(0), PageState::Absent);
        assert_eq!(d.page_state(u64::MAX), PageState::Absent);
        let mut src = vec![0u8; 0x2000];
        src.extend((0..0x9ec00u32).map(|i| i as u8));
        let src = Source::plain(crate::source::Backing::Bytes(src));
        let mut b = vec![0u8; 0xc00];
        d.read_phys(&src, 0x9f000, &mut b).unwrap();
        assert_eq!(b[0], (0x9e000u32 & 0xff) as u8);
        let mut b = vec![0u8; 0xc01];
        let e = d.read_phys(&src, 0x9f000, &mut b).unwrap_err();
        assert_eq!(e.paddr, 0x9fc00);
    }
}
