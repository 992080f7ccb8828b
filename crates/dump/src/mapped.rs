//! The dump file, memory-mapped so that no read of it can kill the process.
//!
//! A read of a mapped file raises SIGBUS when the kernel cannot supply the page: the file was
//! truncated after it was mapped (a copy still being written, a dump deleted and rewritten),
//! or it is sparse on a filesystem that must allocate to read a hole and cannot (a full
//! tmpfs). The default action kills the process with no message, and in `holdup triage` one
//! such file would end the whole run. So:
//!
//! * Holes are found once, when the file is opened (`SEEK_HOLE`/`SEEK_DATA`), and mapped over
//!   with anonymous zero pages: they read as zeros, as `read(2)` would show them, and reading
//!   them allocates nothing. Formats whose structure must not lie in a hole (the records of a
//!   flattened stream) ask [`MappedFile::is_hole`].
//! * A process-wide SIGBUS handler turns a fault on a page of a registered mapping into a zero
//!   page at that address and records the page as poisoned; faults elsewhere go to the handler
//!   that was there before (Rust's stack-overflow handler) or to the default action.
//! * [`MappedFile::bytes`] touches every page of a range before it hands the range out and
//!   refuses a range that holds a poisoned page, naming the file offset; a fault that happens
//!   later (a truncation racing with the read) leaves zeros, and [`MappedFile::faults`] says so
//!   at the end.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use memmap2::Mmap;

/// Mappings watched at once (one per open dump; triage opens one per worker thread).
const SLOTS: usize = 256;
/// Poisoned pages remembered per mapping; past that every read of the mapping is refused.
const POISON_PER_SLOT: usize = 64;
/// Holes mapped over with zero pages; a file with more holes than this is read as it is
/// (the SIGBUS handler still covers it).
const MAX_HOLES: usize = 4096;

struct Slot {
    in_use: AtomicBool,
    start: AtomicUsize,
    len: AtomicUsize,
    /// Poisoned pages, as offsets from `start`, `u64::MAX` when free.
    poisoned: [AtomicU64; POISON_PER_SLOT],
    npoisoned: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)] // a template for the array below, never shared
const SLOT: Slot = Slot {
    in_use: AtomicBool::new(false),
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    poisoned: [const { AtomicU64::new(u64::MAX) }; POISON_PER_SLOT],
    npoisoned: AtomicUsize::new(0),
};

static REGISTRY: [Slot; SLOTS] = [SLOT; SLOTS];
static INSTALL: Once = Once::new();
static PAGE: AtomicUsize = AtomicUsize::new(4096);
/// The SIGBUS action found when ours was installed; faults outside our mappings go there.
/// Faults caught in this process, over every mapping (see [`crate::file_faults_total`]).
pub(crate) static TOTAL_FAULTS: AtomicUsize = AtomicUsize::new(0);
static mut PREVIOUS: Option<libc::sigaction> = None;

fn install_handler() {
    INSTALL.call_once(|| {
        // SAFETY: sysconf and sigaction are called once, before any fault can reach the
        // handler; PREVIOUS is written here only, before the handler is installed.
        unsafe {
            let page = libc::sysconf(libc::_SC_PAGESIZE);
            if page > 0 {
                PAGE.store(page as usize, Ordering::Relaxed);
            }
            let mut old: libc::sigaction = std::mem::zeroed();
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = on_sigbus as *const () as usize;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
            libc::sigemptyset(&mut new.sa_mask);
            if libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) == 0 {
                PREVIOUS = Some(old);
                libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut());
            }
        }
    });
}

/// The SIGBUS handler: async-signal-safe (atomics and one `mmap` system call).
extern "C" fn on_sigbus(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let page = PAGE.load(Ordering::Relaxed);
    for slot in REGISTRY.iter() {
        if !slot.in_use.load(Ordering::Acquire) {
            continue;
        }
        let start = slot.start.load(Ordering::Acquire);
        let len = slot.len.load(Ordering::Acquire);
        if addr < start || addr - start >= len {
            continue;
        }
        let at = addr & !(page - 1);
        // SAFETY: `at` is a page of a live read-only mapping that this process owns; a
        // private anonymous page replaces it, so the faulting load is retried and reads 0.
        let r = unsafe {
            libc::mmap(
                at as *mut libc::c_void,
                page,
                libc::PROT_READ,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        if r == libc::MAP_FAILED {
            break; // fall through to the previous action: better a signal than a loop
        }
        TOTAL_FAULTS.fetch_add(1, Ordering::AcqRel);
        let n = slot.npoisoned.fetch_add(1, Ordering::AcqRel);
        if n < POISON_PER_SLOT {
            slot.poisoned[n].store((at - start) as u64, Ordering::Release);
        }
        return;
    }
    // Not ours: hand it to whoever had it, or die as SIGBUS would have killed us.
    // SAFETY: PREVIOUS was written before this handler was installed and never since.
    unsafe {
        match *std::ptr::addr_of!(PREVIOUS) {
            Some(prev)
                if prev.sa_sigaction != libc::SIG_DFL && prev.sa_sigaction != libc::SIG_IGN =>
            {
                if prev.sa_flags & libc::SA_SIGINFO != 0 {
                    let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
                        std::mem::transmute(prev.sa_sigaction);
                    f(sig, info, ctx);
                } else {
                    let f: extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
                    f(sig);
                }
            }
            _ => {
                let mut dfl: libc::sigaction = std::mem::zeroed();
                dfl.sa_sigaction = libc::SIG_DFL;
                libc::sigaction(libc::SIGBUS, &dfl, std::ptr::null_mut());
                // Returning retries the access, which now takes the default action.
            }
        }
    }
}

/// A read-only map of a regular file whose faults are caught: a page the kernel cannot supply
/// reads as zeros and is counted ([`crate::file_faults_total`]) instead of killing the
/// process. The dump reader checks each range it reads ([`MappedFile::bytes`]); other
/// readers (a vmlinux's DWARF, read lazily by gimli) read through `Deref` and rely on the
/// count, which the command line checks at the end.
pub struct MappedFile {
    map: Mmap,
    slot: usize,
    /// Sorted, disjoint `[start, end)` file ranges that hold no data.
    holes: Vec<(u64, u64)>,
}

impl std::ops::Deref for MappedFile {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map
    }
}

impl MappedFile {
    /// Opens and maps the regular file at `path` (see [`crate::open_regular_file`]).
    pub fn open(path: &std::path::Path) -> Result<MappedFile, crate::DumpError> {
        let io = |source| crate::DumpError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = crate::open_regular_file(path)?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Err(crate::DumpError::Malformed("empty file".into()));
        }
        MappedFile::map(&file, len).map_err(io)
    }

    /// Maps `file` (a regular file of `len` bytes, `len > 0`).
    pub(crate) fn map(file: &File, len: u64) -> std::io::Result<MappedFile> {
        install_handler();
        let slot = REGISTRY
            .iter()
            .position(|s| {
                s.in_use
                    .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            })
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "more than {SLOTS} dump files are open at once in this process"
                ))
            })?;
        let s = &REGISTRY[slot];
        s.npoisoned.store(0, Ordering::Release);
        for p in &s.poisoned {
            p.store(u64::MAX, Ordering::Relaxed);
        }
        // SAFETY: the map is read-only; a page the kernel cannot supply raises SIGBUS, which
        // the handler turns into a zero page once the range is registered just below. The
        // registration happens before any byte of the map is read.
        let map = match unsafe { memmap2::MmapOptions::new().len(len as usize).map(file) } {
            Ok(m) => m,
            Err(e) => {
                s.in_use.store(false, Ordering::Release);
                return Err(e);
            }
        };
        s.start.store(map.as_ptr() as usize, Ordering::Release);
        s.len.store(map.len(), Ordering::Release);
        let holes = find_holes(file, len);
        let page = PAGE.load(Ordering::Relaxed) as u64;
        for &(hs, he) in &holes {
            // Whole pages inside the hole only: a page that is partly data keeps its data.
            let first = hs.div_ceil(page) * page;
            let last = (he / page) * page;
            if first < last {
                // SAFETY: the range lies inside our read-only mapping; the zero pages replace
                // file pages that hold no data.
                unsafe {
                    libc::mmap(
                        map.as_ptr().add(first as usize) as *mut libc::c_void,
                        (last - first) as usize,
                        libc::PROT_READ,
                        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                        -1,
                        0,
                    );
                }
            }
        }
        Ok(MappedFile { map, slot, holes })
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether file offset `off` lies in a hole (sparse: no data was ever written there).
    pub(crate) fn is_hole(&self, off: u64) -> bool {
        let i = self.holes.partition_point(|&(_, e)| e <= off);
        self.holes.get(i).is_some_and(|&(s, _)| s <= off)
    }

    /// The bytes `[off, off + len)`, every page of them touched first; the caller checked the
    /// range against the file's length.
    pub(crate) fn bytes(&self, off: usize, len: usize) -> Result<&[u8], String> {
        let b = &self.map[off..off + len];
        let page = PAGE.load(Ordering::Relaxed);
        if !b.is_empty() {
            let base = b.as_ptr() as usize;
            let mut p = base & !(page - 1);
            while p < base + b.len() {
                let at = p.max(base);
                // SAFETY: `at` is inside `b`; a volatile load makes the fault (if any) happen
                // now, where it is checked, rather than later in the caller.
                unsafe { std::ptr::read_volatile(at as *const u8) };
                p += page;
            }
        }
        if let Some(bad) = self.poisoned_in(off as u64, len as u64) {
            return Err(format!(
                "file offset {bad:#x} could not be read (the file shrank while it was read, or its filesystem could not supply the page)"
            ));
        }
        Ok(b)
    }

    /// The first poisoned file offset in `[off, off + len)`.
    fn poisoned_in(&self, off: u64, len: u64) -> Option<u64> {
        let s = &REGISTRY[self.slot];
        let n = s.npoisoned.load(Ordering::Acquire);
        if n == 0 {
            return None;
        }
        if n > POISON_PER_SLOT {
            return Some(off);
        }
        let page = PAGE.load(Ordering::Relaxed) as u64;
        let (first, end) = (off & !(page - 1), off + len);
        s.poisoned[..n]
            .iter()
            .map(|p| p.load(Ordering::Acquire))
            .filter(|&p| p != u64::MAX && p + page > first && p < end)
            .min()
            .map(|p| p.max(off))
    }

    /// How many pages of the file faulted so far (each now reads as zeros).
    pub(crate) fn faults(&self) -> usize {
        REGISTRY[self.slot].npoisoned.load(Ordering::Acquire)
    }
}

impl Drop for MappedFile {
    fn drop(&mut self) {
        // The map is unmapped after this (field drop); no byte of it can be read any more, so
        // the slot may go to the next file. Its range still covers our pages until then, but
        // nothing reads them.
        let s = &REGISTRY[self.slot];
        s.len.store(0, Ordering::Release);
        s.in_use.store(false, Ordering::Release);
    }
}

/// The holes of a file, from `SEEK_HOLE`/`SEEK_DATA` (none where the filesystem does not say).
fn find_holes(file: &File, len: u64) -> Vec<(u64, u64)> {
    let fd = file.as_raw_fd();
    let mut holes = Vec::new();
    let mut pos: u64 = 0;
    while pos < len && holes.len() < MAX_HOLES {
        // SAFETY: lseek on a file descriptor we own; it only moves the offset.
        let hole = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_HOLE) };
        if hole < 0 || hole as u64 >= len {
            break;
        }
        let hole = hole as u64;
        // SAFETY: as above.
        let data = unsafe { libc::lseek(fd, hole as libc::off_t, libc::SEEK_DATA) };
        // ENXIO: no data after `hole`, the file ends in a hole.
        let end = if data < 0 {
            len
        } else {
            (data as u64).min(len)
        };
        if end <= hole {
            break;
        }
        holes.push((hole, end));
        pos = end;
    }
    // The offset is left where the last call put it; nobody reads the file through it.
    holes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn temp(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("holdup-mapped-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d.join(name)
    }

    #[test]
    fn a_file_truncated_after_mapping_gives_an_error_not_a_signal() {
        let path = temp("shrinks");
        let mut f = File::create(&path).unwrap();
        f.write_all(&vec![0xabu8; 64 << 10]).unwrap();
        f.sync_all().unwrap();
        let f = File::open(&path).unwrap();
        let m = MappedFile::map(&f, 64 << 10).unwrap();
        assert_eq!(m.bytes(0, 16).unwrap(), &[0xab; 16]);
        // Another process truncates the dump while it is read.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(8192)
            .unwrap();
        assert_eq!(m.bytes(4096, 16).unwrap(), &[0xab; 16]);
        let e = m.bytes(40 << 10, 100).unwrap_err();
        assert!(e.contains("file offset 0xa000"), "{e}");
        assert!(m.faults() >= 1);
        // The page is poisoned for good, and reads elsewhere still work.
        assert!(m.bytes((40 << 10) + 8, 8).is_err());
        assert!(m.bytes(0, 8).is_ok());
        drop(m);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn holes_are_known_and_read_as_zeros() {
        let path = temp("sparse");
        let mut f = File::create(&path).unwrap();
        f.write_all(&[1u8; 4096]).unwrap();
        f.set_len(16 << 20).unwrap();
        drop(f);
        let f = File::open(&path).unwrap();
        let m = MappedFile::map(&f, 16 << 20).unwrap();
        assert!(!m.is_hole(0));
        // Filesystems without SEEK_HOLE support report no hole; those with it must find this one.
        if !m.holes.is_empty() {
            assert!(m.is_hole(8 << 20));
        }
        assert_eq!(m.bytes(8 << 20, 8).unwrap(), &[0; 8]);
        assert_eq!(m.bytes(0, 1).unwrap(), &[1]);
        drop(m);
        std::fs::remove_file(&path).unwrap();
    }
}
