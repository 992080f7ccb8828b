//! Checks on the real vmcores generated into `dumps/work/out/` (run with HOLDUP_WORK_DUMPS=1).
//!
//! For each capture, every format must give the same bytes for every page present in both it
//! and the raw `/proc/vmcore` copy, the same notes and VMCOREINFO, and kernel memory reads
//! (image map, page-table walks, direct map) must work and agree.
//!
//! A missing dump file is a failure naming the file. Without HOLDUP_WORK_DUMPS=1 the tests
//! pass without doing anything (they will move to committed fixtures).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use holdup_dump::{Dump, FormatKind, PageState, PhysicalMemory};
use holdup_kmem::{KernelDump, KernelMemory, ReadError, START_KERNEL_MAP, Via};
use holdup_vmcoreinfo::VmcoreInfo;

const FORMATS: [&str; 6] = [
    "vmcore.elf-d31",
    "vmcore.kdump-zlib",
    "vmcore.kdump-lzo",
    "vmcore.kdump-snappy",
    "vmcore.kdump-zstd",
    "vmcore.flat-zlib",
];

fn dumps_dir() -> Option<PathBuf> {
    if std::env::var("HOLDUP_WORK_DUMPS").as_deref() != Ok("1") {
        eprintln!("skipped: set HOLDUP_WORK_DUMPS=1 to run the checks on dumps/work/out");
        return None;
    }
    Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dumps/work/out"))
}

fn need(dir: &Path, names: &[String]) -> Vec<PathBuf> {
    let paths: Vec<PathBuf> = names.iter().map(|n| dir.join(n)).collect();
    let missing: Vec<String> = paths
        .iter()
        .filter(|p| !p.exists())
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        missing.is_empty(),
        "missing dump file(s): {}",
        missing.join(", ")
    );
    paths
}

fn open(p: &Path) -> Dump {
    Dump::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Compares every page `d` has with `reference`; returns pages compared.
fn compare_pages(name: &str, d: &Dump, reference: &Dump, ref_has_all: bool) -> u64 {
    let mut a = vec![0u8; 4096];
    let mut b = vec![0u8; 4096];
    let mut compared = 0;
    let mut excluded = 0;
    for pfn in 0..d.max_pfn().min(reference.max_pfn().max(d.max_pfn())) {
        match d.page_state(pfn) {
            PageState::Present => {
                let rs = reference.page_state(pfn);
                if rs != PageState::Present {
                    // Only possible where the reference lacks pages (a filtered reference).
                    assert!(
                        !ref_has_all,
                        "{name}: pfn {pfn:#x} present but reference says {rs:?}"
                    );
                    continue;
                }
                d.read_phys(pfn << 12, &mut a)
                    .unwrap_or_else(|e| panic!("{name}: pfn {pfn:#x}: {e}"));
                reference.read_phys(pfn << 12, &mut b).unwrap();
                assert!(a == b, "{name}: pfn {pfn:#x} differs from the reference");
                compared += 1;
            }
            PageState::Excluded { .. } => {
                excluded += 1;
                let e = d.read_phys(pfn << 12, &mut a).unwrap_err();
                assert_eq!(e.paddr, pfn << 12);
            }
            PageState::Truncated => panic!("{name}: pfn {pfn:#x} truncated"),
            PageState::Absent => {}
        }
    }
    eprintln!("{name}: {compared} pages identical to the reference, {excluded} excluded");
    compared
}

fn same_notes(name: &str, d: &Dump, reference: &Dump) {
    assert_eq!(
        d.vmcoreinfo_raw(),
        reference.vmcoreinfo_raw(),
        "{name}: VMCOREINFO differs"
    );
    assert_eq!(d.prstatus().len(), reference.prstatus().len(), "{name}");
    for (x, y) in d.prstatus().iter().zip(reference.prstatus()) {
        assert_eq!(
            (x.pid, x.regs),
            (y.pid, y.regs),
            "{name}: NT_PRSTATUS differs"
        );
    }
}

fn formats_agree(kernel: &str) {
    let Some(dir) = dumps_dir() else { return };
    let mut names = vec![format!("{kernel}/vmcore")];
    names.extend(FORMATS.iter().map(|f| format!("{kernel}/{f}")));
    let paths = need(&dir, &names);
    let raw = open(&paths[0]);
    assert_eq!(raw.format_name(), "ELF");
    let zlib = open(&paths[2]);
    for p in &paths[1..] {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let d = open(p);
        assert!(d.warnings().is_empty(), "{name}: {:?}", d.warnings());
        same_notes(&name, &d, &raw);
        let n = compare_pages(&name, &d, &raw, true);
        assert!(n > 10_000, "{name}: only {n} pages compared");
        match &d.format().kind {
            FormatKind::Kdump(h) => {
                // 31 on 6.1; the generator uses 23 on 6.12 (makedumpfile 1.7.2's -d 31 drops
                // pages of a task there). All kdump files of a capture share it.
                assert_eq!(Some(h.dump_level), zlib.dump_level(), "{name}");
                assert!(h.dump_level.0 & 1 != 0, "{name}: zero pages not excluded?");
                assert_eq!(h.block_size, 4096);
                assert!(!h.incomplete);
                assert_eq!(
                    h.utsname.release,
                    VmcoreInfo::parse_bytes(raw.vmcoreinfo_raw().unwrap())
                        .osrelease()
                        .unwrap()
                );
                assert_eq!(h.dumped_pages, n, "{name}: every dumped page was compared");
                let vi = VmcoreInfo::parse_bytes(d.vmcoreinfo_raw().unwrap());
                assert_eq!(
                    Some(h.phys_base),
                    vi.phys_base().unwrap(),
                    "{name}: sub-header phys_base"
                );
            }
            FormatKind::Elf(e) => {
                assert!(e.filtered, "{name}");
                // ELF -E drops zero pages that kdump files keep behind the shared descriptor.
                let mut zero_only = 0;
                let mut buf = vec![0u8; 4096];
                for pfn in 0..zlib.max_pfn() {
                    if zlib.page_state(pfn) == PageState::Present
                        && d.page_state(pfn) != PageState::Present
                    {
                        zlib.read_phys(pfn << 12, &mut buf).unwrap();
                        assert!(
                            buf.iter().all(|&b| b == 0),
                            "{name}: pfn {pfn:#x} missing but not zero"
                        );
                        zero_only += 1;
                    }
                }
                eprintln!("{name}: {zero_only} zero pages in kdump files are excluded here");
            }
        }
    }
    if let Ok(text) = std::fs::read(dir.join(kernel).join("vmcoreinfo.txt")) {
        let ours = raw.vmcoreinfo_raw().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&text).trim_end(),
            String::from_utf8_lossy(ours).trim_end(),
            "vmcoreinfo.txt differs from the note"
        );
    }
}

#[test]
fn formats_agree_6_1() {
    formats_agree("6.1");
}

#[test]
fn formats_agree_6_12() {
    formats_agree("6.12");
}

/// Finds a 4 KiB PTE-level mapping outside the kernel image and direct map by reading the
/// page tables through `mem` (kernel image mapping of init_top_pgt).
fn find_pte_mapping(k: &KernelDump, pgd_va: u64) -> Option<(u64, u64)> {
    let mask = 0x000f_ffff_ffff_f000u64;
    let dm = k.mem.direct_map_base()?;
    let phys = k.dump.as_ref();
    let rd = |pa: u64| {
        let mut b = [0u8; 8];
        phys.read_phys(pa, &mut b)
            .ok()
            .map(|_| u64::from_le_bytes(b))
    };
    for i in 256..512u64 {
        let e4 = k.mem.read_u64(pgd_va + 8 * i).ok()?;
        if e4 & 1 == 0 || i == (dm >> 39) & 511 {
            continue;
        }
        for j in 0..512u64 {
            let Some(e3) = rd((e4 & mask) + 8 * j) else {
                continue;
            };
            if e3 & 1 == 0 || e3 & 0x80 != 0 {
                continue;
            }
            for l in 0..512u64 {
                let Some(e2) = rd((e3 & mask) + 8 * l) else {
                    continue;
                };
                if e2 & 1 == 0 || e2 & 0x80 != 0 {
                    continue;
                }
                for m in 0..512u64 {
                    let Some(e1) = rd((e2 & mask) + 8 * m) else {
                        continue;
                    };
                    if e1 & 1 == 0 {
                        continue;
                    }
                    let va = (0xffffu64 << 48) | (i << 39) | (j << 30) | (l << 21) | (m << 12);
                    if (START_KERNEL_MAP..START_KERNEL_MAP + (1 << 30)).contains(&va) {
                        continue;
                    }
                    if phys.page_state((e1 & mask) >> 12) == PageState::Present {
                        return Some((va, e1 & mask));
                    }
                }
            }
        }
    }
    None
}

fn kernel_memory(kernel: &str, files: &[&str]) {
    let Some(dir) = dumps_dir() else { return };
    let names: Vec<String> = files.iter().map(|f| format!("{kernel}/{f}")).collect();
    let paths = need(&dir, &names);
    let mut reference: Option<(u64, u64, Vec<u8>)> = None;
    for p in paths {
        let name = p.display().to_string();
        let k = KernelDump::open(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
        let vi = &k.vmcoreinfo;
        assert!(vi.problems().is_empty(), "{name}: {:?}", vi.problems());
        // The uts release, read through the kernel image mapping.
        let release = k.uts_release().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Some(release.as_str()), vi.osrelease(), "{name}");
        // init_top_pgt through the image map equals the table the walker uses.
        let pgd_va = vi.symbol("init_top_pgt").unwrap().unwrap();
        let t = k.mem.translate(pgd_va).unwrap();
        assert_eq!(t.via, Via::KernelImage);
        assert_eq!(t.paddr, k.mem.config().pgd_paddr);
        let pgd = k.mem.read_vec(pgd_va, 4096).unwrap();
        assert!(
            pgd[256 * 8..].chunks(8).any(|e| e[0] & 1 != 0),
            "{name}: empty kernel half"
        );
        // The kernel image mapping agrees with the page tables.
        let (_, walked) = k.mem.walk(pgd_va);
        assert_eq!(walked.unwrap().paddr, t.paddr, "{name}: image map vs walk");
        let stext = vi.symbol("_stext").unwrap().unwrap();
        assert_eq!(
            k.mem.walk(stext).1.unwrap().paddr,
            k.mem.config().kernel_image_pa(stext)
        );
        // Direct map: found, maps physical 0, and reads the same table.
        let dm = k
            .mem
            .direct_map_base()
            .unwrap_or_else(|| panic!("{name}: no direct map"));
        assert_eq!(dm % (1 << 30), 0);
        let via_dm = k.mem.read_vec(dm + t.paddr, 4096).unwrap();
        assert_eq!(via_dm, pgd, "{name}: direct map read");
        assert_eq!(k.mem.translate(dm + t.paddr).unwrap().via, Via::DirectMap);
        // mem_section (VMCOREINFO) is a direct-map pointer: the walk agrees with the fast path.
        let ms = vi.symbol("mem_section").unwrap().unwrap();
        assert_eq!(
            k.mem.walk(ms).1.unwrap().paddr,
            ms - dm,
            "{name}: mem_section"
        );
        // A 4 KiB mapping found by walking (vmalloc/modules/...): kmem reads it.
        let (va, pa) =
            find_pte_mapping(&k, pgd_va).unwrap_or_else(|| panic!("{name}: no PTE mapping"));
        let tr = k.mem.translate(va).unwrap();
        assert_eq!(
            (tr.paddr, tr.page_size, tr.via),
            (pa, 4096, Via::PageTable),
            "{name}"
        );
        let bytes = k.mem.read_vec(va, 4096).unwrap();
        let mut want = vec![0u8; 4096];
        k.dump.read_phys(pa, &mut want).unwrap();
        assert_eq!(bytes, want);
        eprintln!("{name}: direct map {dm:#x}, PTE mapping {va:#x} -> {pa:#x}");
        match &reference {
            None => reference = Some((dm, va, bytes)),
            Some((rdm, rva, rbytes)) => {
                assert_eq!(*rdm, dm, "{name}: direct map base differs between formats");
                // The same address reads the same in every format (the page is not filtered
                // out everywhere, as it was found in the first one).
                if *rva == va {
                    assert_eq!(rbytes, &bytes, "{name}: {va:#x} differs between formats");
                }
            }
        }
        // Unmapped addresses fail naming the address.
        let hole = 0xffff_ff00_0000_0000u64 + 0x1000_0000;
        match k.mem.read_u64(hole) {
            Err(ReadError::NotMapped { vaddr, detail }) => {
                assert_eq!(vaddr, hole);
                assert!(detail.contains("not present"), "{detail}");
            }
            r => panic!("{name}: {hole:#x}: {r:?}"),
        }
        // Some CPU's saved ip is kernel text.
        assert!(
            k.dump
                .prstatus()
                .iter()
                .any(|p| p.ip() >= stext && p.ip() < START_KERNEL_MAP + (1 << 30)),
            "{name}: no NT_PRSTATUS ip in kernel text"
        );
        print!("{}", k.summary());
    }
}

#[test]
fn kernel_memory_6_1() {
    let mut files = vec!["vmcore"];
    files.extend(FORMATS);
    kernel_memory("6.1", &files);
}

#[test]
fn kernel_memory_6_12() {
    let mut files = vec!["vmcore"];
    files.extend(FORMATS);
    kernel_memory("6.12", &files);
}

#[test]
fn kernel_memory_6_1_live_qemu() {
    kernel_memory("6.1-live", &["qemu.elf", "qemu.kdump-zlib"]);
}

/// QEMU's ELF and kdump-zlib (flattened) dumps of one live guest agree, and the vCPUs' CR3
/// walk gives what init_top_pgt gives for kernel addresses.
#[test]
fn qemu_live_formats_agree() {
    let Some(dir) = dumps_dir() else { return };
    let paths = need(
        &dir,
        &[
            "6.1-live/qemu.elf".into(),
            "6.1-live/qemu.kdump-zlib".into(),
        ],
    );
    let elf = open(&paths[0]);
    let kd = open(&paths[1]);
    let name = "qemu.kdump-zlib";
    same_notes(name, &kd, &elf);
    assert_eq!(kd.qemu_cpus().len(), elf.qemu_cpus().len());
    assert!(!elf.qemu_cpus().is_empty());
    // QEMU's NT_PRSTATUS pid is the vCPU index + 1.
    let pids: Vec<i32> = elf.prstatus().iter().map(|p| p.pid).collect();
    assert_eq!(pids, (1..=pids.len() as i32).collect::<Vec<_>>());
    let h = kd.kdump_header().unwrap();
    assert!(kd.format().flattened.is_some());
    assert_eq!(h.utsname.release, "", "QEMU writes an empty utsname");
    let vi = VmcoreInfo::parse_bytes(kd.vmcoreinfo_raw().unwrap());
    eprintln!(
        "QEMU sub-header phys_base {:#x}, VMCOREINFO phys_base {:#x}",
        h.phys_base,
        vi.phys_base().unwrap().unwrap()
    );
    let n = compare_pages(name, &kd, &elf, true);
    assert!(n > 100_000, "{n}");
    // CR3 walk vs init_top_pgt walk.
    let k = KernelDump::from_dump(elf).unwrap();
    let stext = k.vmcoreinfo.symbol("_stext").unwrap().unwrap();
    let dm = k.mem.direct_map_base().unwrap();
    for cpu in k.dump.qemu_cpus() {
        // Clear PCID (low 12 bits) and the PTI user-PGD bit.
        let root = cpu.cr3() & 0x000f_ffff_ffff_f000 & !(1 << 12);
        assert!(!cpu.la57());
        for va in [stext, dm + 0x100_0000] {
            let a = k.mem.translate_with_root(root, va).unwrap();
            let b = k.mem.walk(va).1.unwrap();
            assert_eq!(a.paddr, b.paddr, "cpu cr3 {:#x}: {va:#x}", cpu.cr3());
        }
    }
}

/// Reads from many threads at once go through the shared page cache correctly.
#[test]
fn parallel_reads() {
    let Some(dir) = dumps_dir() else { return };
    let paths = need(&dir, &["6.1/vmcore".into(), "6.1/vmcore.kdump-zstd".into()]);
    let raw = open(&paths[0]);
    let kd = Arc::new(Dump::open_with_cache(&paths[1], 64).unwrap());
    let present: Vec<u64> = (0..kd.max_pfn())
        .filter(|&p| kd.page_state(p) == PageState::Present)
        .collect();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (kd, raw, present) = (kd.clone(), &raw, &present);
            s.spawn(move || {
                let mut a = vec![0u8; 4096];
                let mut b = vec![0u8; 4096];
                for (i, &pfn) in present.iter().enumerate() {
                    // Overlapping subsets so threads race on the same pages.
                    if (i as u64 + t) % 3 == 0 {
                        continue;
                    }
                    kd.read_phys(pfn << 12, &mut a).unwrap();
                    raw.read_phys(pfn << 12, &mut b).unwrap();
                    assert_eq!(a, b, "pfn {pfn:#x}");
                }
            });
        }
    });
}
