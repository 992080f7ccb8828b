//! A sparse fake kernel memory for unit tests of the decoders.

use holdup_kmem::{AddressSpace, KernelMemory, ReadError, Region};
use std::collections::HashMap;
use std::sync::RwLock;

/// Pages of bytes, created on first write; reads of unwritten pages fail as unmapped.
#[derive(Default)]
pub(crate) struct FakeMem {
    pages: RwLock<HashMap<u64, Box<[u8; 4096]>>>,
}

impl FakeMem {
    pub(crate) fn new() -> FakeMem {
        FakeMem::default()
    }

    pub(crate) fn write(&self, addr: u64, bytes: &[u8]) {
        let mut pages = self.pages.write().unwrap();
        for (i, b) in bytes.iter().enumerate() {
            let a = addr + i as u64;
            let p = pages
                .entry(a & !0xfff)
                .or_insert_with(|| Box::new([0; 4096]));
            p[(a & 0xfff) as usize] = *b;
        }
    }

    pub(crate) fn u64(&self, addr: u64, v: u64) {
        self.write(addr, &v.to_le_bytes());
    }

    pub(crate) fn u32(&self, addr: u64, v: u32) {
        self.write(addr, &v.to_le_bytes());
    }

    /// Maps a zeroed range.
    pub(crate) fn zero(&self, addr: u64, len: usize) {
        self.write(addr, &vec![0; len]);
    }

    /// Makes `nodes` (addresses of `struct list_head`) a circular list after `head`.
    pub(crate) fn list(&self, head: u64, nodes: &[u64]) {
        let all: Vec<u64> = std::iter::once(head).chain(nodes.iter().copied()).collect();
        for (i, &n) in all.iter().enumerate() {
            let next = all[(i + 1) % all.len()];
            let prev = all[(i + all.len() - 1) % all.len()];
            self.u64(n, next);
            self.u64(n + 8, prev);
        }
    }
}

impl KernelMemory for FakeMem {
    /// The layout of a 4-level kernel at KASLR's default bases, which the tests' addresses
    /// use (`0xffff8880...` objects, `0xffffc900...` stacks, `0xffffea00...` pages).
    fn region(&self, v: u64) -> Region {
        AddressSpace {
            kernel_start: holdup_kmem::kernel_space_start(false),
            page_offset: 0xffff_8880_0000_0000,
            vmalloc: 0xffff_c900_0000_0000,
            vmemmap: 0xffff_ea00_0000_0000,
            kernel_image_size: 1 << 30,
        }
        .region(v)
    }

    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let pages = self.pages.read().unwrap();
        for (i, b) in buf.iter_mut().enumerate() {
            let a = vaddr.wrapping_add(i as u64);
            let p = pages.get(&(a & !0xfff)).ok_or(ReadError::NotMapped {
                vaddr: a,
                detail: "fake memory".into(),
            })?;
            *b = p[(a & 0xfff) as usize];
        }
        Ok(())
    }
}
