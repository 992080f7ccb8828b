//! Synthetic dumps in every format, built here byte by byte.

use super::*;
use crate::notes::tests::{note, prstatus_desc};
use std::collections::BTreeMap;
use std::io::Write;

const PS: usize = 4096;

fn page(pfn: u64) -> Vec<u8> {
    // Distinct, partly compressible contents.
    let mut p = vec![0u8; PS];
    for (i, b) in p.iter_mut().enumerate() {
        *b = if i % 16 < 8 {
            (pfn as u8).wrapping_mul(31).wrapping_add((i / 16) as u8)
        } else {
            (pfn >> 8) as u8
        };
    }
    p[..8].copy_from_slice(&pfn.to_le_bytes());
    p
}

fn notes_blob() -> Vec<u8> {
    let mut n = Vec::new();
    n.extend(note("CORE", 1, &prstatus_desc(0, 0xffffffff81001000, 0x1)));
    n.extend(note("CORE", 1, &prstatus_desc(42, 0xffffffff81002000, 0x2)));
    n.extend(note(
        "VMCOREINFO",
        0,
        b"OSRELEASE=6.1.0-test\nPAGESIZE=4096\nCRASHTIME=1\n",
    ));
    n
}

struct Seg {
    paddr: u64,
    vaddr: u64,
    /// Pages written to the file.
    data_pages: u64,
    /// Pages in memory (>= data_pages).
    mem_pages: u64,
}

fn build_elf(segs: &[Seg], notes: &[u8]) -> Vec<u8> {
    let phnum = segs.len() + 1;
    let mut f = vec![0u8; 64 + 56 * phnum];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2;
    f[5] = 1;
    f[6] = 1;
    f[16..18].copy_from_slice(&4u16.to_le_bytes());
    f[18..20].copy_from_slice(&62u16.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes());
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&(phnum as u16).to_le_bytes());
    let note_off = f.len().next_multiple_of(PS);
    f.resize(note_off, 0);
    f.extend_from_slice(notes);
    let mut ph = Vec::new();
    let mut push_ph = |ty: u32, off: u64, va: u64, pa: u64, fs: u64, ms: u64| {
        let mut p = [0u8; 56];
        p[0..4].copy_from_slice(&ty.to_le_bytes());
        p[8..16].copy_from_slice(&off.to_le_bytes());
        p[16..24].copy_from_slice(&va.to_le_bytes());
        p[24..32].copy_from_slice(&pa.to_le_bytes());
        p[32..40].copy_from_slice(&fs.to_le_bytes());
        p[40..48].copy_from_slice(&ms.to_le_bytes());
        ph.extend_from_slice(&p);
    };
    push_ph(4, note_off as u64, 0, 0, notes.len() as u64, 0);
    for s in segs {
        let off = f.len().next_multiple_of(PS);
        f.resize(off, 0);
        for i in 0..s.data_pages {
            f.extend(page(s.paddr / 4096 + i));
        }
        push_ph(
            1,
            off as u64,
            s.vaddr,
            s.paddr,
            s.data_pages * 4096,
            s.mem_pages * 4096,
        );
    }
    f[64..64 + ph.len()].copy_from_slice(&ph);
    f
}

#[test]
fn elf_reads_and_states() {
    let segs = [
        // Kernel text, overlapping RAM below.
        Seg {
            paddr: 0x200000,
            vaddr: 0xffffffff81000000,
            data_pages: 4,
            mem_pages: 4,
        },
        Seg {
            paddr: 0x100000,
            vaddr: 0xffff888000100000,
            data_pages: 0x180,
            mem_pages: 0x200,
        },
        Seg {
            paddr: 0x400000,
            vaddr: 0xffff888000400000,
            data_pages: 16,
            mem_pages: 16,
        },
    ];
    let d = Dump::from_bytes(build_elf(&segs, &notes_blob())).unwrap();
    assert!(d.warnings().is_empty(), "{:?}", d.warnings());
    let info = d.elf_info().unwrap();
    assert!(info.filtered);
    assert!(!info.qemu);
    assert_eq!(info.direct_map_hint, Some(0xffff888000000000));
    assert_eq!(info.kernel_text.unwrap().paddr, 0x200000);
    assert_eq!(d.format_name(), "ELF (filtered, makedumpfile -E)");
    assert_eq!(d.prstatus().len(), 2);
    assert_eq!(d.prstatus()[1].pid, 42);
    assert!(d.vmcoreinfo_raw().unwrap().starts_with(b"OSRELEASE="));
    assert_eq!(d.panic_cpu_hint(), None);

    let mut b = vec![0u8; PS];
    d.read_phys(0x1ff000, &mut b).unwrap();
    assert_eq!(b, page(0x1ff));
    d.read_phys(0x403000, &mut b).unwrap();
    assert_eq!(b, page(0x403));
    // Crossing pages.
    let mut b2 = vec![0u8; 2 * PS];
    d.read_phys(0x100800, &mut b2).unwrap();
    let mut want = page(0x100)[0x800..].to_vec();
    want.extend(page(0x101));
    want.extend(&page(0x102)[..0x800]);
    assert_eq!(b2, want);

    assert_eq!(d.page_state(0x100), PageState::Present);
    assert_eq!(
        d.page_state(0x290),
        PageState::Excluded { dump_level: None }
    );
    assert_eq!(d.page_state(0x50), PageState::Absent);
    assert_eq!(d.max_pfn(), 0x410);
    let e = d.read_phys(0x27fff0, &mut b).unwrap_err();
    assert_eq!(e.paddr, 0x280000);
    assert_eq!(e.failure, ReadFailure::Excluded { dump_level: None });
    let e = d.read_phys(0x10, &mut b).unwrap_err();
    assert_eq!(e.failure, ReadFailure::Absent);
    assert!(e.to_string().contains("0x10 is not in the dump"));

    // Zero-filling excluded tails on request.
    let opts = OpenOptions {
        zero_fill_excluded: true,
        ..OpenOptions::default()
    };
    let d = Dump::from_bytes_with(build_elf(&segs, &notes_blob()), &opts).unwrap();
    let mut b = vec![0xffu8; 0x20];
    d.read_phys(0x27fff0, &mut b).unwrap();
    assert_eq!(&b[..0x10], &page(0x27f)[0xff0..]);
    assert!(b[0x10..].iter().all(|&x| x == 0));
    assert_eq!(
        d.page_state(0x290),
        PageState::Excluded { dump_level: None }
    );
}

#[test]
fn elf_pn_xnum() {
    // e_phnum = PN_XNUM: the count is in section header 0's sh_info.
    let segs = [Seg {
        paddr: 0x100000,
        vaddr: 0xffff888000100000,
        data_pages: 2,
        mem_pages: 2,
    }];
    let mut f = build_elf(&segs, &notes_blob());
    let shoff = f.len() as u64;
    let mut sh = [0u8; 64];
    sh[44..48].copy_from_slice(&2u32.to_le_bytes());
    f.extend_from_slice(&sh);
    f[40..48].copy_from_slice(&shoff.to_le_bytes());
    f[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
    f[58..60].copy_from_slice(&64u16.to_le_bytes());
    f[60..62].copy_from_slice(&1u16.to_le_bytes());
    let d = Dump::from_bytes(f).unwrap();
    assert_eq!(d.elf_info().unwrap().segments.len(), 1);
    assert_eq!(d.prstatus().len(), 2);
    let mut b = vec![0u8; PS];
    d.read_phys(0x101000, &mut b).unwrap();
    assert_eq!(b, page(0x101));
}

#[test]
fn elf_truncated_file() {
    let segs = [Seg {
        paddr: 0x100000,
        vaddr: 0xffff888000100000,
        data_pages: 8,
        mem_pages: 8,
    }];
    let mut f = build_elf(&segs, &notes_blob());
    f.truncate(f.len() - 3 * PS - 100);
    let d = Dump::from_bytes(f).unwrap();
    assert_eq!(d.warnings().len(), 1, "{:?}", d.warnings());
    // Page 0x104 lost its last 100 bytes: not present as a page, its start still reads.
    assert_eq!(d.page_state(0x103), PageState::Present);
    assert_eq!(d.page_state(0x104), PageState::Truncated);
    assert_eq!(d.page_state(0x105), PageState::Truncated);
    let mut b = vec![0u8; 16];
    d.read_phys(0x104000, &mut b).unwrap();
    let e = d.read_phys(0x105000 - 108, &mut b).unwrap_err();
    assert_eq!(e.paddr, 0x105000 - 100);
    assert!(matches!(e.failure, ReadFailure::Truncated(_)));
}

/// A kdump-compressed file. `pages`: pfn -> Some(contents) dumped, None = in RAM but excluded.
fn build_kdump(
    pages: &BTreeMap<u64, Option<Vec<u8>>>,
    max_mapnr: u64,
    comp: Compression,
    version: i32,
    dump_level: u32,
    notes: &[u8],
) -> Vec<u8> {
    let mut h = vec![0u8; PS];
    h[..8].copy_from_slice(b"KDUMP   ");
    h[8..12].copy_from_slice(&version.to_le_bytes());
    h[12..17].copy_from_slice(b"Linux");
    h[12 + 130..12 + 130 + 9].copy_from_slice(b"6.1.0-tst");
    let status = match comp {
        Compression::None => 0,
        Compression::Zlib => 1,
        Compression::Lzo => 2,
        Compression::Snappy => 4,
        Compression::Zstd => 0x20,
    };
    h[424..428].copy_from_slice(&(status as u32).to_le_bytes());
    h[428..432].copy_from_slice(&(PS as i32).to_le_bytes());
    let sub_len = 104 + notes.len();
    let sub_blocks = sub_len.div_ceil(PS) as u32;
    h[432..436].copy_from_slice(&sub_blocks.to_le_bytes());
    let bm_bytes = (max_mapnr.div_ceil(8) as usize).next_multiple_of(PS);
    let bitmap_blocks = (2 * bm_bytes / PS) as u32;
    h[436..440].copy_from_slice(&bitmap_blocks.to_le_bytes());
    h[440..444].copy_from_slice(&(max_mapnr as u32).to_le_bytes());
    h[456..460].copy_from_slice(&1u32.to_le_bytes()); // current_cpu (makedumpfile leaves 0)
    h[460..464].copy_from_slice(&2i32.to_le_bytes());

    let mut sub = vec![0u8; sub_blocks as usize * PS];
    sub[0..8].copy_from_slice(&0x1000000u64.to_le_bytes());
    sub[8..12].copy_from_slice(&dump_level.to_le_bytes());
    if version >= 4 {
        let off = (PS + 104) as u64;
        sub[48..56].copy_from_slice(&off.to_le_bytes());
        sub[56..64].copy_from_slice(&(notes.len() as u64).to_le_bytes());
    }
    if version >= 6 {
        sub[96..104].copy_from_slice(&max_mapnr.to_le_bytes());
    }
    sub[104..104 + notes.len()].copy_from_slice(notes);

    let mut bm1 = vec![0u8; bm_bytes];
    let mut bm2 = vec![0u8; bm_bytes];
    for (&pfn, c) in pages {
        bm1[(pfn / 8) as usize] |= 1 << (pfn % 8);
        if c.is_some() {
            bm2[(pfn / 8) as usize] |= 1 << (pfn % 8);
        }
    }
    let n_dumped = pages.values().filter(|c| c.is_some()).count();
    let desc_start = PS * (1 + sub_blocks as usize) + bm_bytes * 2;
    let data_start = desc_start + 24 * n_dumped;
    let mut descs = Vec::new();
    // The shared zero page first, as makedumpfile does.
    let mut data = vec![0u8; PS];
    for c in pages.values().flatten() {
        let (off, size, flags) = if c.iter().all(|&b| b == 0) {
            (data_start, PS, 0u32)
        } else {
            let compressed: Option<(Vec<u8>, u32)> = match comp {
                Compression::None => None,
                Compression::Zlib => {
                    let mut e =
                        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
                    e.write_all(c).unwrap();
                    Some((e.finish().unwrap(), 1))
                }
                Compression::Lzo => Some((lzokay_native::compress(c).unwrap(), 2)),
                Compression::Snappy => {
                    Some((snap::raw::Encoder::new().compress_vec(c).unwrap(), 4))
                }
                Compression::Zstd => Some((zstd::bulk::compress(c, 3).unwrap(), 0x20)),
            };
            let (bytes, flags) = match compressed {
                Some((b, f)) if b.len() < PS => (b, f),
                _ => (c.clone(), 0),
            };
            let off = data_start + data.len();
            data.extend(&bytes);
            (off, bytes.len(), flags)
        };
        descs.extend((off as u64).to_le_bytes());
        descs.extend((size as u32).to_le_bytes());
        descs.extend(flags.to_le_bytes());
        descs.extend(0u64.to_le_bytes());
    }
    let mut f = h;
    f.extend(sub);
    f.extend(bm1);
    f.extend(bm2);
    f.extend(descs);
    f.extend(data);
    f
}

fn sample_pages() -> BTreeMap<u64, Option<Vec<u8>>> {
    let mut m = BTreeMap::new();
    for pfn in 0x100..0x180u64 {
        m.insert(pfn, Some(page(pfn)));
    }
    for pfn in 0x180..0x200u64 {
        m.insert(pfn, None); // excluded
    }
    for pfn in 0x1000..0x1010u64 {
        m.insert(pfn, Some(vec![0u8; PS])); // zero pages, shared descriptor
    }
    // A page of random bytes: stored raw because it does not compress.
    let mut x = 0x9e3779b97f4a7c15u64;
    let rnd: Vec<u8> = (0..PS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    m.insert(0x2000, Some(rnd));
    m
}

fn check_kdump(d: &Dump, pages: &BTreeMap<u64, Option<Vec<u8>>>) {
    let mut b = vec![0u8; PS];
    for (&pfn, c) in pages {
        match c {
            Some(c) => {
                assert_eq!(d.page_state(pfn), PageState::Present, "pfn {pfn:#x}");
                d.read_phys(pfn * 4096, &mut b).unwrap();
                assert_eq!(&b, c, "pfn {pfn:#x}");
            }
            None => {
                assert_eq!(
                    d.page_state(pfn),
                    PageState::Excluded {
                        dump_level: Some(DumpLevel(31))
                    }
                );
                let e = d.read_phys(pfn * 4096 + 5, &mut b[..10]).unwrap_err();
                assert_eq!(e.paddr, pfn * 4096 + 5);
                assert!(
                    e.to_string().contains(
                        "dump level 31 (excludes zero, cache, cache-private, user, free pages)"
                    ),
                    "{e}"
                );
            }
        }
    }
    assert_eq!(d.page_state(0x50), PageState::Absent);
    assert_eq!(d.page_state(u64::MAX), PageState::Absent);
    // A read crossing from a present into an excluded page fails at the excluded one.
    let mut b2 = vec![0u8; 0x20];
    let e = d.read_phys(0x180000 - 0x10, &mut b2).unwrap_err();
    assert_eq!(e.paddr, 0x180000);
    // Reads crossing present pages work.
    let mut b3 = vec![0u8; 3 * PS];
    d.read_phys(0x120800, &mut b3).unwrap();
    assert_eq!(&b3[..0x800], &page(0x120)[0x800..]);
    assert_eq!(&b3[0x800..0x1800], &page(0x121)[..]);
}

#[test]
fn kdump_all_compressions_and_versions() {
    let pages = sample_pages();
    for comp in [
        Compression::None,
        Compression::Zlib,
        Compression::Lzo,
        Compression::Snappy,
        Compression::Zstd,
    ] {
        for version in [1, 3, 4, 6] {
            let f = build_kdump(&pages, 0x3000, comp, version, 31, &notes_blob());
            let d = Dump::from_bytes(f).unwrap();
            let h = d.kdump_header().unwrap();
            assert_eq!(h.compression, comp);
            assert_eq!(h.header_version, version);
            assert_eq!(h.utsname.sysname, "Linux");
            assert_eq!(h.utsname.release, "6.1.0-tst");
            assert!(h.two_bitmaps);
            assert_eq!(h.max_mapnr, 0x3000);
            assert_eq!(h.phys_base, 0x1000000);
            assert_eq!(d.dump_level(), Some(DumpLevel(31)));
            assert_eq!(d.panic_cpu_hint(), Some(1));
            assert_eq!(d.max_pfn(), 0x3000);
            assert_eq!(h.dumped_pages, 0x80 + 0x10 + 1);
            if version >= 4 {
                assert_eq!(d.prstatus().len(), 2);
                assert!(d.vmcoreinfo_raw().is_some());
            } else {
                assert!(d.prstatus().is_empty());
            }
            check_kdump(&d, &pages);
            // Second pass hits the cache.
            check_kdump(&d, &pages);
        }
    }
}

#[test]
fn kdump_rank_across_blocks() {
    // Many set bits across several 4096-bit rank blocks, with gaps.
    let mut pages = BTreeMap::new();
    for pfn in (0..20000u64).filter(|p| p % 3 != 0 && p % 1000 < 700) {
        pages.insert(pfn, Some(page(pfn)));
    }
    let f = build_kdump(&pages, 20001, Compression::Zstd, 6, 0, &notes_blob());
    let d = Dump::from_bytes(f).unwrap();
    let mut b = vec![0u8; 8];
    for pfn in (0..20001u64).step_by(7) {
        if pages.contains_key(&pfn) {
            d.read_phys(pfn * 4096, &mut b).unwrap();
            assert_eq!(u64::from_le_bytes(b.clone().try_into().unwrap()), pfn);
        } else {
            assert_eq!(d.page_state(pfn), PageState::Absent);
        }
    }
}

#[test]
fn kdump_split_and_bad_headers() {
    let pages = sample_pages();
    let mut f = build_kdump(&pages, 0x3000, Compression::Zlib, 6, 31, &notes_blob());
    f[PS + 12..PS + 16].copy_from_slice(&1i32.to_le_bytes());
    let e = Dump::from_bytes(f).err().unwrap();
    assert!(e.to_string().contains("split"), "{e}");

    let mut f = build_kdump(&pages, 0x3000, Compression::Zlib, 6, 31, &notes_blob());
    f[436..440].copy_from_slice(&u32::MAX.to_le_bytes());
    let e = Dump::from_bytes(f).err().unwrap();
    assert!(e.to_string().contains("bitmaps"), "{e}");

    let mut f = build_kdump(&pages, 0x3000, Compression::Zlib, 6, 31, &notes_blob());
    f[428..432].copy_from_slice(&3000i32.to_le_bytes());
    assert!(Dump::from_bytes(f).is_err());

    let e = Dump::from_bytes(b"DISKDUMP\0\0\0\0".to_vec())
        .err()
        .unwrap();
    assert!(e.to_string().contains("DISKDUMP"));
    let e = Dump::from_bytes(b"hello world".to_vec()).err().unwrap();
    assert!(matches!(e, DumpError::UnknownFormat(_)));
}

#[test]
fn kdump_truncated_and_incomplete() {
    let pages = sample_pages();
    let f = build_kdump(&pages, 0x3000, Compression::Zlib, 6, 31, &notes_blob());
    // Cut in the middle of the page data.
    let mut cut = f.clone();
    cut.truncate(f.len() - 20000);
    let d = Dump::from_bytes(cut.clone()).unwrap();
    let mut b = vec![0u8; PS];
    let mut failures = 0;
    for (&pfn, c) in &pages {
        if c.is_some() {
            match d.read_phys(pfn * 4096, &mut b) {
                Ok(()) => assert_eq!(&b, c.as_ref().unwrap()),
                Err(e) => {
                    assert!(matches!(e.failure, ReadFailure::Truncated(_)), "{e}");
                    failures += 1;
                }
            }
        }
    }
    assert!(failures > 0);
    assert!(
        d.warnings().iter().any(|w| w.contains("truncated file")),
        "{:?}",
        d.warnings()
    );
    // The same, marked incomplete: the failures are "truncated".
    cut[424] |= 8;
    let d = Dump::from_bytes(cut).unwrap();
    assert!(d.kdump_header().unwrap().incomplete);
    let e = d.read_phys(0x17f000, &mut b).unwrap_err();
    assert!(matches!(e.failure, ReadFailure::Truncated(_)), "{e}");
}

/// makedumpfile out of disk space (ENOSPC): the headers and bitmaps whole, the descriptors of
/// the pages it did not get to all zeros, the header marked incomplete.
#[test]
fn kdump_incomplete_like_makedumpfile_on_enospc() {
    let pages = sample_pages();
    let mut f = build_kdump(&pages, 0x3000, Compression::Zlib, 6, 31, &notes_blob());
    let total = Dump::from_bytes(f.clone())
        .unwrap()
        .kdump_header()
        .unwrap()
        .dumped_pages;
    let word = |o: usize| u32::from_le_bytes(f[o..o + 4].try_into().unwrap()) as usize;
    let desc_start = (1 + word(432) + word(436)) * PS;
    let written = total as usize - 2;
    f[desc_start + written * 24..desc_start + total as usize * 24].fill(0);
    f[424] |= 8;
    let d = Dump::from_bytes(f).unwrap();
    assert!(d.kdump_header().unwrap().incomplete);
    let dumped: Vec<u64> = (0..d.max_pfn())
        .filter(|&p| d.page_state(p) == PageState::Present)
        .collect();
    let last = dumped[written - 1];
    let w = d
        .warnings()
        .iter()
        .find(|w| w.contains("incomplete"))
        .unwrap_or_else(|| panic!("{:?}", d.warnings()));
    assert!(
        w.contains(&format!(
            "{written} of the {total} pages it meant to dump were written, every page up to pfn {last:#x}"
        )),
        "{w}"
    );
    let mut b = vec![0u8; PS];
    let e = d.read_phys(dumped[written] * 4096, &mut b).unwrap_err();
    assert!(
        e.to_string()
            .contains(&format!("never written (the dump is marked incomplete: makedumpfile stopped after pfn {last:#x})")),
        "{e}"
    );
    d.read_phys(last * 4096, &mut b).unwrap();
}

fn flatten(file: &[u8], chunk: usize, shuffle: bool) -> Vec<u8> {
    let mut recs: Vec<(u64, &[u8])> = file
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| ((i * chunk) as u64, c))
        .collect();
    if shuffle {
        // makedumpfile writes headers last; emulate out-of-order records.
        let n = recs.len() / 3;
        recs.rotate_left(n);
    }
    let mut f = vec![0u8; PS];
    f[..12].copy_from_slice(b"makedumpfile");
    f[16..24].copy_from_slice(&1i64.to_be_bytes());
    f[24..32].copy_from_slice(&1i64.to_be_bytes());
    for (off, c) in recs {
        f.extend((off as i64).to_be_bytes());
        f.extend((c.len() as i64).to_be_bytes());
        f.extend(c);
    }
    f.extend((-1i64).to_be_bytes());
    f.extend((-1i64).to_be_bytes());
    f
}

#[test]
fn flattened_kdump_and_elf() {
    let pages = sample_pages();
    for comp in [Compression::Zlib, Compression::Lzo] {
        let f = build_kdump(&pages, 0x3000, comp, 6, 31, &notes_blob());
        // Chunks not aligned to anything, so bitmaps and pages straddle records.
        for chunk in [1000usize, 4096, 1 << 20] {
            let d = Dump::from_bytes(flatten(&f, chunk, true)).unwrap();
            assert!(d.format().flattened.is_some());
            assert_eq!(
                d.format_name(),
                format!("flattened kdump-compressed ({})", comp.name())
            );
            assert_eq!(d.prstatus().len(), 2);
            check_kdump(&d, &pages);
        }
    }
    let segs = [Seg {
        paddr: 0x100000,
        vaddr: 0xffff888000100000,
        data_pages: 0x20,
        mem_pages: 0x20,
    }];
    let e = build_elf(&segs, &notes_blob());
    let d = Dump::from_bytes(flatten(&e, 777, false)).unwrap();
    let mut b = vec![0u8; PS];
    d.read_phys(0x105000, &mut b).unwrap();
    assert_eq!(b, page(0x105));
    assert_eq!(d.format_name(), "flattened ELF");
}

/// Mutated headers must give errors or readable dumps, never panics or huge allocations.
#[test]
fn fuzz_headers_never_panic() {
    let pages = sample_pages();
    let kd = build_kdump(&pages, 0x3000, Compression::Zlib, 6, 31, &notes_blob());
    let segs = [Seg {
        paddr: 0x100000,
        vaddr: 0xffff888000100000,
        data_pages: 4,
        mem_pages: 8,
    }];
    let elf = build_elf(&segs, &notes_blob());
    let flat = flatten(&kd, 3000, false);
    let mut x = 0x2545f4914f6cdd1du64;
    let mut rnd = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for base in [&kd, &elf, &flat] {
        // Header area, notes, bitmaps and descriptors of the kdump file.
        let hot = base.len().min(0x6000 + 0x2000);
        for _ in 0..1500 {
            let mut f = base.clone();
            for _ in 0..1 + rnd() % 4 {
                let i = (rnd() as usize) % hot;
                f[i] = rnd() as u8;
            }
            if rnd() % 8 == 0 {
                let l = (rnd() as usize) % f.len();
                f.truncate(l);
            }
            if let Ok(d) = Dump::from_bytes(f) {
                let mut b = vec![0u8; 64];
                for _ in 0..8 {
                    let pa = (rnd() % 0x0300_0000) & !63;
                    let _ = d.read_phys(pa, &mut b);
                    let _ = d.page_state(pa >> 12);
                }
                let _ = d.read_phys(u64::MAX - 10, &mut b);
            }
        }
    }
}
