//! Files that are not what a dump should be: a FIFO with no writer, a directory, a device, a
//! sparse flattened file of 100 GiB, a dump whose data lies in the holes of a full tmpfs, a
//! dump truncated while it is read. Each gives one clear line and a documented exit status,
//! never a signal, never a wait without end; `holdup triage` goes on past each.
//!
//! The processes are run with a guard of a minute: a command that blocks is killed and the
//! test fails saying so (a guard against hangs, not a measure of speed).

use holdup_e2e::{fresh_scratch, holdup_bin, manifest};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const GUARD: Duration = Duration::from_secs(60);

/// Runs `holdup ARGS`; (exit status, stdout, stderr). Fails the test if holdup is killed by a
/// signal or is still running after [`GUARD`].
fn run(args: &[&str]) -> (i32, String, String) {
    let mut child = Command::new(holdup_bin())
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run holdup");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let ereader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait for holdup") {
            break s;
        }
        if start.elapsed() > GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("holdup {args:?} still ran after {GUARD:?}: it blocks or loops");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&ereader.join().unwrap()).into_owned();
    if let Some(sig) = status.signal() {
        panic!("holdup {args:?} was killed by signal {sig}; stderr: {stderr}");
    }
    (status.code().unwrap(), stdout, stderr)
}

fn fixture_dump() -> PathBuf {
    manifest().fixture("6.1").path("vmcore.kdump-zlib")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_fifo_a_directory_and_devices_are_refused_at_once() {
    let dir = fresh_scratch("hostile-special");
    let fifo = dir.join("fifo");
    let ok = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(ok.success(), "mkfifo {} failed", fifo.display());
    for cmd in [&[][..], &["info"][..], &["ps"][..]] {
        let mut args = cmd.to_vec();
        args.push(s(&fifo));
        let (st, _, err) = run(&args);
        assert_eq!(st, 2, "{args:?}: {err}");
        assert!(err.contains("not a regular file: a FIFO"), "{err}");
    }
    let (st, _, err) = run(&[s(&dir)]);
    assert_eq!(st, 2);
    assert!(
        err.contains("is a directory") || err.contains("a directory"),
        "{err}"
    );
    assert!(err.contains("holdup triage DIR"), "{err}");
    for dev in ["/dev/zero", "/dev/urandom", "/dev/null"] {
        let (st, _, err) = run(&[dev]);
        assert_eq!(st, 2, "{dev}: {err}");
        assert!(err.contains("a character device"), "{dev}: {err}");
    }
    let (st, _, err) = run(&["/proc/self/mem"]);
    assert_eq!(st, 2, "{err}");
    assert!(err.contains("empty file") && err.contains("/proc"), "{err}");
    // The path is named once, not twice.
    assert_eq!(err.matches("/proc/self/mem").count(), 1, "{err}");
}

#[test]
fn triage_goes_past_a_fifo() {
    let dir = fresh_scratch("hostile-triage");
    let fifo = dir.join("fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let dump = fixture_dump();
    let (st, out, err) = run(&["triage", "-q", "-j", "2", s(&fifo), s(&dump)]);
    assert_eq!(st, 3, "one of two dumps could not be analysed: {err}");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    let fifo_line = lines
        .iter()
        .find(|l| l["path"].as_str() == Some(s(&fifo)))
        .expect("a line for the FIFO");
    assert_eq!(fifo_line["status"], "error");
    assert!(
        fifo_line["errors"][0]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{fifo_line}"
    );
    assert!(
        lines.iter().any(|l| l["status"] == "hang"),
        "the real dump is still analysed: {out}"
    );
}

/// A flattened header and then nothing but a hole: the records are not read 16 bytes at a
/// time through 100 GiB of holes, and nothing of that size is allocated.
#[test]
fn a_sparse_flattened_file_is_refused_saying_where_the_data_ends() {
    let dir = fresh_scratch("hostile-flat");
    let path = dir.join("sparse.flat");
    let mut header = vec![0u8; 4096];
    header[..12].copy_from_slice(b"makedumpfile");
    header[16..24].copy_from_slice(&1i64.to_be_bytes());
    header[24..32].copy_from_slice(&1i64.to_be_bytes());
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&header).unwrap();
    f.set_len(100 << 30).unwrap();
    drop(f);
    let (st, _, err) = run(&["info", s(&path)]);
    assert_eq!(st, 2, "{err}");
    assert!(
        err.contains("file offset 0x1000") && err.contains("hole"),
        "{err}"
    );
    // The same header followed by 64 MiB of real zeros: no writer makes empty records.
    let zeros = dir.join("zeros.flat");
    let mut f = std::fs::File::create(&zeros).unwrap();
    f.write_all(&header).unwrap();
    f.write_all(&vec![0u8; 64 << 20]).unwrap();
    drop(f);
    let (st, _, err) = run(&["info", s(&zeros)]);
    assert_eq!(st, 2, "{err}");
    assert!(
        err.contains("zeros follow where record headers should be"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A dump whose first MiB was written and whose rest is a hole, on a tmpfs with no room left:
/// mapping such a hole and reading it made the kernel raise SIGBUS (it must allocate a page
/// to read a tmpfs hole through a map, and cannot). Needs root to mount the tmpfs.
#[test]
fn a_sparse_dump_on_a_full_tmpfs_gives_an_error_not_a_signal() {
    let dir = fresh_scratch("hostile-tmpfs");
    let mnt = dir.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs", s(&mnt)])
        .status()
        .expect("run mount");
    assert!(
        mounted.success(),
        "this test mounts a 2 MiB tmpfs at {} and needs root to do it (CI runs as root)",
        mnt.display()
    );
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let real = std::fs::read(fixture_dump()).unwrap();
    let path = mnt.join("vmcore");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(&real[..1 << 20]).unwrap();
    f.set_len(real.len() as u64).unwrap();
    drop(f);
    // Fill the rest of the tmpfs.
    let mut fill = std::fs::File::create(mnt.join("fill")).unwrap();
    while fill.write_all(&[0xaa; 64 << 10]).is_ok() {}
    drop(fill);
    for args in [&["info"][..], &[][..], &["ps"][..]] {
        let mut a = args.to_vec();
        a.push(s(&path));
        let (st, _, err) = run(&a);
        // What is left of the dump may open or not; either way one clear outcome.
        assert!([0, 1, 2].contains(&st), "{a:?}: status {st}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// The dump is opened, then cut to a tenth of its length before the analysis reads it: the
/// reads beyond the cut fail, naming the file offset, and the analysis ends without a signal.
#[test]
fn a_dump_truncated_while_it_is_read_gives_errors_not_a_signal() {
    use holdup_kernel::{Kernel, OpenOptions};
    let dir = fresh_scratch("hostile-shrink");
    let path = dir.join("vmcore");
    std::fs::copy(fixture_dump(), &path).unwrap();
    let k = Kernel::open(&path, &OpenOptions::default()).expect("the copy opens");
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len / 10)
        .unwrap();
    let hang = holdup_analysis::hang::analyse_hang(&k, &Default::default());
    // Whatever the analysis made of what was left, the faults are known.
    let _ = hang.map(|h| h.graph.tasks.len());
    assert!(
        k.dump.dump.file_faults() > 0,
        "reads past the cut must have faulted and been caught"
    );
    let mut buf = [0u8; 8];
    let last_page = (len - 4096) & !4095;
    // A physical read that lands beyond the cut is an error, not zeros passed off as data.
    let failures = (0..holdup_dump::PhysicalMemory::max_pfn(&*k.dump.dump))
        .step_by(97)
        .filter(|&pfn| {
            holdup_dump::PhysicalMemory::read_phys(&*k.dump.dump, pfn * 4096, &mut buf)
                .is_err_and(|e| e.to_string().contains("could not be read"))
        })
        .count();
    assert!(
        failures > 0,
        "no read failed naming the cut (file was {len:#x}, last page {last_page:#x})"
    );
}
