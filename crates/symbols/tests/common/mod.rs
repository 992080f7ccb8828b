//! Helpers of the real-data tests.
#![allow(dead_code)]

use holdup_kmem::{KernelMemory, ReadError};
use std::path::{Path, PathBuf};

/// The kernel image of a vmlinux as linked (KASLR offset 0): reads of addresses inside its
/// PT_LOAD segments come from the file, everything else is "not mapped". Enough to decode
/// the static tables (kallsyms, BTF) without a dump.
pub struct ElfImage {
    map: memmap2::Mmap,
    /// (vaddr, file offset, file size)
    segs: Vec<(u64, u64, u64)>,
}

impl ElfImage {
    pub fn open(path: &Path) -> ElfImage {
        let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let map = unsafe { memmap2::Mmap::map(&f) }.expect("mmap");
        let elf = goblin::elf::Elf::parse(&map).expect("ELF");
        let segs = elf
            .program_headers
            .iter()
            .filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD)
            .map(|p| (p.p_vaddr, p.p_offset, p.p_filesz))
            .collect();
        drop(elf);
        ElfImage { map, segs }
    }
}

impl KernelMemory for ElfImage {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        for &(va, off, sz) in &self.segs {
            if vaddr >= va && vaddr - va < sz {
                let start = off + (vaddr - va);
                let end = start + buf.len() as u64;
                if end > off + sz {
                    break;
                }
                buf.copy_from_slice(&self.map[start as usize..end as usize]);
                return Ok(());
            }
        }
        Err(ReadError::NotMapped {
            vaddr,
            detail: "outside the vmlinux PT_LOAD segments".into(),
        })
    }
}

/// Whether the real-data tests are enabled (`HOLDUP_WORK_DUMPS=1`).
pub fn enabled() -> bool {
    std::env::var("HOLDUP_WORK_DUMPS").is_ok_and(|v| v == "1")
}

/// `dumps/work` of the repository.
pub fn work_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dumps/work")
}

pub const RELEASES: [(&str, &str); 2] =
    [("6.1", "6.1.0-56-amd64"), ("6.12", "6.12.95+deb12-amd64")];

/// A file that must exist, or a failure naming it.
pub fn need(path: PathBuf) -> PathBuf {
    assert!(
        path.exists(),
        "missing real-data file {} (HOLDUP_WORK_DUMPS=1 needs it)",
        path.display()
    );
    path
}

pub fn vmlinux(release: &str) -> PathBuf {
    need(work_dir().join("kernels").join(release).join("vmlinux"))
}
