//! Every format of one capture holds the same bytes and the same notes, their headers agree
//! with the notes, and bad input gives a one-line error that says what is missing, with exit
//! status 2, never a panic.

use holdup_dump::{Dump, FormatKind, PageState, PhysicalMemory};
use holdup_e2e::{
    FixtureFile, Manifest, all_dumps, capture_id, dump_path, fixture_text, holdup, manifest,
    scratch_dir,
};
use holdup_vmcoreinfo::VmcoreInfo;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[test]
fn all_formats_of_a_capture_agree_on_every_page_they_share() {
    let m = manifest();
    // Compare each dump to the first of its capture.
    let mut by_capture: BTreeMap<String, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (fx, f, path) in all_dumps(&m) {
        by_capture
            .entry(capture_id(fx))
            .or_default()
            .push((format!("{} {}", fx.name, f.file), path));
    }
    // The 6.1 and 6.12 captures are committed in several formats (other captures may be in
    // one only).
    for kernel in ["6.1", "6.12"] {
        let n = by_capture
            .iter()
            .filter(|(c, _)| c.starts_with(&format!("{kernel} ")))
            .map(|(_, d)| d.len())
            .max();
        assert!(n >= Some(2), "kernel {kernel}: only one format committed");
    }
    for (_, dumps) in by_capture {
        let (base_name, base_path) = &dumps[0];
        let base = Dump::open(base_path).unwrap_or_else(|e| panic!("{base_name}: {e}"));
        for (name, path) in &dumps[1..] {
            let other = Dump::open(path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let (mut same, mut a, mut b) = (0u64, vec![0u8; 4096], vec![0u8; 4096]);
            for pfn in 0..base.max_pfn().min(other.max_pfn()) {
                if base.page_state(pfn) != PageState::Present
                    || other.page_state(pfn) != PageState::Present
                {
                    continue;
                }
                base.read_phys(pfn << 12, &mut a)
                    .unwrap_or_else(|e| panic!("{base_name}: {e}"));
                other
                    .read_phys(pfn << 12, &mut b)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(
                    a == b,
                    "pfn {pfn:#x} differs between {base_name} and {name}"
                );
                same += 1;
            }
            assert!(
                same > 10_000,
                "{base_name} and {name} share only {same} pages"
            );
        }
    }
}

#[test]
fn every_compression_and_the_flattened_format_read_the_same_pages() {
    let m = manifest();
    let mut formats = std::collections::BTreeSet::new();
    for fx in &m.fixtures {
        let main = fx
            .files
            .iter()
            .find(|f| f.role == "dump" && f.format.as_deref() == Some("kdump-zlib"))
            .expect("a kdump-zlib dump");
        let base = Dump::open(fx.path(&main.file)).expect("open the kdump-zlib dump");
        for f in fx.files_with_role("dump-sample") {
            let what = format!("{} {}", fx.name, f.file);
            let sample = Dump::open(fx.path(&f.file)).unwrap_or_else(|e| panic!("{what}: {e}"));
            let format = f.format.as_deref().expect("sample format");
            let name = sample.format_name();
            let word = format
                .trim_start_matches("kdump-")
                .trim_start_matches("flat-");
            assert!(
                name.to_lowercase().contains(word),
                "{what}: format {name:?}, expected {format}"
            );
            if format.starts_with("flat") {
                assert!(
                    name.to_lowercase().contains("flat"),
                    "{what}: format {name:?}"
                );
            }
            let (mut same, mut a, mut b) = (0u64, vec![0u8; 4096], vec![0u8; 4096]);
            for pfn in 0..sample.max_pfn() {
                if sample.page_state(pfn) != PageState::Present {
                    continue;
                }
                sample
                    .read_phys(pfn << 12, &mut a)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                base.read_phys(pfn << 12, &mut b).unwrap_or_else(|e| {
                    panic!(
                        "{what}: pfn {pfn:#x} in the sample, not in {}: {e}",
                        main.file
                    )
                });
                assert!(a == b, "{what}: pfn {pfn:#x} differs from {}", main.file);
                same += 1;
            }
            assert!(same > 2000, "{what}: only {same} pages");
            formats.insert(format.to_string());
        }
    }
    for want in ["kdump-lzo", "kdump-snappy", "kdump-zstd", "flat-zlib"] {
        assert!(formats.contains(want), "no committed {want} sample");
    }
}

/// Every file of a capture that holds its memory (dumps, the unpacked ELF, the samples), by
/// kernel, with a name for messages: the files of one kernel come from one capture.
fn capture_files(m: &Manifest) -> BTreeMap<String, Vec<(String, &FixtureFile, PathBuf)>> {
    let mut by_kernel: BTreeMap<String, Vec<_>> = BTreeMap::new();
    for fx in &m.fixtures {
        // The dump makedumpfile left incomplete has its own tests (oops_la57.rs).
        let capture = capture_id(fx);
        for f in fx
            .files
            .iter()
            .filter(|f| f.role.starts_with("dump") && f.role != "dump-incomplete")
        {
            by_kernel.entry(capture.clone()).or_default().push((
                format!("{} {}", fx.name, f.file),
                f,
                dump_path(fx, f),
            ));
        }
    }
    by_kernel
}

#[test]
fn every_file_of_a_capture_has_the_same_notes_and_the_saved_vmcoreinfo() {
    let m = manifest();
    for (kernel, files) in capture_files(&m) {
        let (base_name, _, base_path) = &files[0];
        let base = Dump::open(base_path).unwrap_or_else(|e| panic!("{base_name}: {e}"));
        let note = base
            .vmcoreinfo_raw()
            .unwrap_or_else(|| panic!("{base_name}: no VMCOREINFO"));
        assert!(!base.prstatus().is_empty(), "{base_name}: no NT_PRSTATUS");
        for (name, _, path) in &files[1..] {
            let d = Dump::open(path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(d.warnings().is_empty(), "{name}: {:?}", d.warnings());
            assert_eq!(
                d.vmcoreinfo_raw(),
                Some(note),
                "{name}: VMCOREINFO differs from {base_name}'s"
            );
            assert_eq!(d.prstatus().len(), base.prstatus().len(), "{name}");
            for (x, y) in d.prstatus().iter().zip(base.prstatus()) {
                assert_eq!(
                    (x.pid, x.regs),
                    (y.pid, y.regs),
                    "{name}: NT_PRSTATUS differs from {base_name}'s"
                );
            }
        }
        // The vmcoreinfo.txt the generator saved beside each fixture of the kernel.
        for fx in m.fixtures.iter().filter(|fx| capture_id(fx) == kernel) {
            for f in fx.files_with_role("vmcoreinfo") {
                assert_eq!(
                    fixture_text(fx, &f.file).trim_end(),
                    String::from_utf8_lossy(note).trim_end(),
                    "{} {}: differs from the dumps' VMCOREINFO note",
                    fx.name,
                    f.file
                );
            }
        }
    }
}

#[test]
fn kdump_headers_agree_with_the_notes_and_the_bitmaps() {
    let m = manifest();
    let mut checked = 0;
    for (_, files) in capture_files(&m) {
        for (name, _, path) in files {
            let d = Dump::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let FormatKind::Kdump(h) = &d.format().kind else {
                continue;
            };
            let vi = VmcoreInfo::parse_bytes(d.vmcoreinfo_raw().expect("VMCOREINFO"));
            assert_eq!(h.block_size, 4096, "{name}");
            assert!(!h.incomplete, "{name}");
            assert!(h.dump_level.0 & 1 != 0, "{name}: zero pages not excluded?");
            assert_eq!(Some(h.utsname.release.as_str()), vi.osrelease(), "{name}");
            assert_eq!(
                Some(h.phys_base),
                vi.phys_base().unwrap(),
                "{name}: sub-header phys_base"
            );
            let present = (0..d.max_pfn())
                .filter(|&p| d.page_state(p) == PageState::Present)
                .count() as u64;
            assert_eq!(
                h.dumped_pages, present,
                "{name}: the header's page count is not the bitmaps'"
            );
            checked += 1;
        }
    }
    assert!(checked >= 7, "only {checked} kdump-compressed files");
}

/// `makedumpfile -E` (the ELF fixture) drops the zero pages that kdump-compressed files
/// keep behind one shared descriptor: that is the only difference between the two.
#[test]
fn the_elf_dump_lacks_only_zero_pages_of_the_kdump_dump() {
    let m = manifest();
    let mut compared = 0;
    for fx in &m.fixtures {
        let Some(elf) = fx.files.iter().find(|f| f.format.as_deref() == Some("elf")) else {
            continue;
        };
        let kd = fx
            .files
            .iter()
            .find(|f| f.role == "dump" && f.format.as_deref() == Some("kdump-zlib"))
            .expect("a kdump-zlib dump");
        let e = Dump::open(dump_path(fx, elf)).expect("open the ELF dump");
        let FormatKind::Elf(info) = &e.format().kind else {
            panic!("{} {}: not read as ELF", fx.name, elf.file)
        };
        assert!(info.filtered, "{} {}: not filtered", fx.name, elf.file);
        let z = Dump::open(fx.path(&kd.file)).expect("open the kdump dump");
        let (mut zero_only, mut buf) = (0, vec![0u8; 4096]);
        for pfn in 0..z.max_pfn() {
            if z.page_state(pfn) == PageState::Present && e.page_state(pfn) != PageState::Present {
                z.read_phys(pfn << 12, &mut buf).unwrap();
                assert!(
                    buf.iter().all(|&b| b == 0),
                    "{}: pfn {pfn:#x} missing from {} but not zero",
                    fx.name,
                    elf.file
                );
                zero_only += 1;
            }
        }
        eprintln!(
            "{}: {zero_only} zero pages of {} are not in {}",
            fx.name, kd.file, elf.file
        );
        compared += 1;
    }
    assert!(compared > 0, "no ELF fixture");
}

/// A copy of `src` in the scratch directory with every `from` replaced by `to` (same length).
fn patched_copy(src: &Path, name: &str, from: &[u8], to: &[u8]) -> PathBuf {
    assert_eq!(from.len(), to.len());
    let mut bytes = std::fs::read(src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
    let mut n = 0;
    let mut i = 0;
    while let Some(p) = bytes[i..].windows(from.len()).position(|w| w == from) {
        bytes[i + p..i + p + to.len()].copy_from_slice(to);
        i += p + to.len();
        n += 1;
    }
    assert!(
        n > 0,
        "{}: {:?} not found",
        src.display(),
        String::from_utf8_lossy(from)
    );
    let dst = scratch_dir().join(name);
    std::fs::write(&dst, bytes).expect("write scratch dump");
    dst
}

/// Runs holdup on a bad file: exit status 2, one line on stderr, which contains `needle`.
fn assert_refused(cmd: &str, path: &Path, needle: &str) {
    let (status, stdout, stderr) = holdup(&[cmd, path.to_str().unwrap()]);
    assert!(
        !stderr.contains("panicked"),
        "{cmd} {}: panicked: {stderr}",
        path.display()
    );
    assert_eq!(
        status,
        2,
        "{cmd} {}: status {status}, stderr {stderr}",
        path.display()
    );
    assert!(
        stdout.is_empty(),
        "{cmd} {}: printed {stdout}",
        path.display()
    );
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "{cmd} {}: not one line: {stderr}",
        path.display()
    );
    assert!(
        stderr.contains(needle),
        "{cmd} {}: {stderr:?} does not say {needle:?}",
        path.display()
    );
}

#[test]
fn bad_input_is_one_line_and_status_2() {
    let m = manifest();
    let dumps = all_dumps(&m);
    let scratch = scratch_dir();

    let empty = scratch.join("empty.vmcore");
    std::fs::write(&empty, b"").unwrap();
    let not_a_dump = scratch.join("not-a-dump.vmcore");
    std::fs::write(
        &not_a_dump,
        b"this is a text file, not a vmcore\n".repeat(200),
    )
    .unwrap();
    for cmd in ["info", "log"] {
        assert_refused(cmd, &empty, "empty");
        assert_refused(cmd, &not_a_dump, "not a");
        assert_refused(cmd, &scratch.join("does-not-exist"), "does-not-exist");
    }

    // Truncated: a kdump file cut inside its bitmaps, and an ELF cut after its headers.
    for (fx, f, path) in &dumps {
        let bytes = std::fs::read(path).unwrap();
        let cut = scratch.join(format!("{}-{}-cut", fx.name, f.file));
        std::fs::write(&cut, &bytes[..12 * 1024]).unwrap();
        let (status, _, stderr) = holdup(&["info", cut.to_str().unwrap()]);
        assert!(!stderr.contains("panicked"), "{}: {stderr}", cut.display());
        assert_eq!(status, 2, "{}: status {status}: {stderr}", cut.display());
        assert_eq!(
            stderr.trim_end().lines().count(),
            1,
            "{}: {stderr}",
            cut.display()
        );
    }

    let elf = dumps
        .iter()
        .find(|(_, f, _)| f.format.as_deref() == Some("elf"))
        .expect("an ELF fixture");
    let no_vmcoreinfo = patched_copy(
        &elf.2,
        "no-vmcoreinfo.vmcore",
        b"VMCOREINFO\0",
        b"XMCOREINFO\0",
    );
    assert_refused("info", &no_vmcoreinfo, "VMCOREINFO");
    let no_kallsyms = patched_copy(
        &elf.2,
        "no-kallsyms.vmcore",
        b"SYMBOL(kallsyms_names)=",
        b"SYMBOL(kallsyms_nameX)=",
    );
    assert_refused("info", &no_kallsyms, "--vmlinux");
}

/// Read with `pread` instead of a mapping (what `/proc/kcore`, which cannot be mapped, gets),
/// every dump of every capture gives the same tasks and the same lock analysis, both formats
/// (the ELF and the kdump-compressed one).
#[test]
fn a_dump_read_with_pread_gives_the_same_analysis() {
    use holdup_kernel::{Kernel, OpenOptions, locking, sched};
    let m = manifest();
    let mut formats = std::collections::BTreeSet::new();
    for (fx, f, path) in all_dumps(&m) {
        let analyse = |pread: bool| {
            let k = Kernel::open(
                &path,
                &OpenOptions {
                    pread,
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{} {} (pread {pread}): {e}", fx.name, f.file));
            let (tasks, _) = sched::for_each_task(&k).expect("tasks");
            let a = locking::analyze(&k, &tasks).expect("lock analysis");
            let mut v = serde_json::to_value(&a).expect("JSON");
            // How long the page scan took is no part of what it found.
            v["page_scan"]["seconds"] = serde_json::Value::Null;
            (tasks, v)
        };
        let (mapped, pread) = (analyse(false), analyse(true));
        assert_eq!(mapped.0, pread.0, "{} {}: tasks differ", fx.name, f.file);
        assert!(
            mapped.1 == pread.1,
            "{} {}: the lock analysis differs when read with pread",
            fx.name,
            f.file
        );
        formats.insert(f.format.clone().unwrap_or_default());
    }
    assert!(
        formats.contains("elf") && formats.contains("kdump-zlib"),
        "formats read: {formats:?}"
    );
}

/// /proc/kcore's shape on a real dump: the 6.1 capture's ELF with the PT_LOADs /proc/kcore
/// adds for vmalloc, vmemmap and modules (`p_paddr` = -1, their memory also in the RAM
/// segments) appended to its program headers. They are skipped without a warning, and the
/// tasks and lock analysis are those of the ELF as it was.
#[test]
fn segments_with_no_physical_address_are_skipped() {
    use holdup_kernel::{Kernel, OpenOptions, locking, sched};
    use holdup_kmem::KernelDump;
    let m = manifest();
    let (fx, f, path) = all_dumps(&m)
        .into_iter()
        .find(|(fx, f, _)| fx.name == "6.1" && f.format.as_deref() == Some("elf"))
        .expect("the 6.1 capture's ELF");
    let analyse = |k: &Kernel| {
        let (tasks, _) = sched::for_each_task(k).expect("tasks");
        let a = locking::analyze(k, &tasks).expect("lock analysis");
        let mut v = serde_json::to_value(&a).expect("JSON");
        v["page_scan"]["seconds"] = serde_json::Value::Null;
        (tasks, v)
    };
    let plain = Kernel::open(&path, &OpenOptions::default()).expect("opens");
    let want = analyse(&plain);
    let mut bytes = std::fs::read(&path).expect("the ELF");
    let u16at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16at(&bytes, 54) as usize, u16at(&bytes, 56) as usize);
    let mut table = bytes[phoff..phoff + phentsize * phnum].to_vec();
    // vmalloc, vmemmap and module space, as kcore lists them (PT_LOAD, RWX, p_paddr -1), their
    // file offsets inside the file as kcore's are inside its (sparse) length.
    for (vaddr, size) in [
        (0xffff_b000_0000_0000u64, 1u64 << 20),
        (0xffff_e000_0000_0000, 1 << 20),
        (0xffff_ffff_c000_0000, 1 << 20),
    ] {
        let mut ph = vec![0u8; phentsize];
        ph[0..4].copy_from_slice(&1u32.to_le_bytes());
        ph[4..8].copy_from_slice(&7u32.to_le_bytes());
        ph[8..16].copy_from_slice(&4096u64.to_le_bytes());
        ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
        ph[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        ph[32..40].copy_from_slice(&size.to_le_bytes());
        ph[40..48].copy_from_slice(&size.to_le_bytes());
        table.extend(ph);
    }
    let new_off = bytes.len() as u64;
    bytes.extend(&table);
    bytes[32..40].copy_from_slice(&new_off.to_le_bytes());
    bytes[56..58].copy_from_slice(&((phnum + 3) as u16).to_le_bytes());
    let dump = holdup_dump::Dump::from_bytes(bytes).expect("the kcore-shaped ELF parses");
    assert!(
        dump.warnings().iter().all(|w| !w.contains("PT_LOAD")),
        "{} {}: {:?}",
        fx.name,
        f.file,
        dump.warnings()
    );
    let kd = KernelDump::from_dump(dump).expect("kernel memory");
    let k = Kernel::from_kernel_dump(kd, "kcore-shaped", &OpenOptions::default()).expect("opens");
    let got = analyse(&k);
    assert_eq!(want.0, got.0, "tasks");
    assert!(want.1 == got.1, "the lock analysis differs");
}
