//! Every format of one capture holds the same bytes, and bad input gives a one-line error
//! that says what is missing, with exit status 2, never a panic.

use holdup_dump::{Dump, PageState, PhysicalMemory};
use holdup_e2e::{all_dumps, holdup, manifest, scratch_dir};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[test]
fn all_formats_of_a_capture_agree_on_every_page_they_share() {
    let m = manifest();
    // Dumps of the same capture share a kernel; compare each to the first of its kernel.
    let mut by_kernel: BTreeMap<&str, Vec<(String, PathBuf)>> = BTreeMap::new();
    for (fx, f, path) in all_dumps(&m) {
        by_kernel
            .entry(&fx.kernel)
            .or_default()
            .push((format!("{} {}", fx.name, f.file), path));
    }
    for (kernel, dumps) in by_kernel {
        assert!(
            dumps.len() >= 2,
            "kernel {kernel}: only one format committed: {dumps:?}"
        );
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
