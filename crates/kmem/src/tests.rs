//! Page-table walks on a fake physical memory.

use super::*;
use holdup_dump::{DumpLevel, PageState, PhysError, PhysicalMemory, ReadFailure};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Default)]
struct FakePhys {
    pages: Mutex<HashMap<u64, Vec<u8>>>,
    excluded: HashSet<u64>,
    max_pfn: u64,
}

impl FakePhys {
    fn write(&self, pa: u64, bytes: &[u8]) {
        let mut pages = self.pages.lock().unwrap();
        for (i, b) in bytes.iter().enumerate() {
            let a = pa + i as u64;
            pages.entry(a >> 12).or_insert_with(|| vec![0; 4096])[(a & 0xfff) as usize] = *b;
        }
    }
    fn write_u64(&self, pa: u64, v: u64) {
        self.write(pa, &v.to_le_bytes());
    }
}

impl PhysicalMemory for FakePhys {
    fn read_phys(&self, paddr: u64, buf: &mut [u8]) -> Result<(), PhysError> {
        let pages = self.pages.lock().unwrap();
        for (i, b) in buf.iter_mut().enumerate() {
            let a = paddr + i as u64;
            if self.excluded.contains(&(a >> 12)) {
                return Err(PhysError {
                    paddr: a,
                    failure: ReadFailure::Excluded {
                        dump_level: Some(DumpLevel(31)),
                    },
                });
            }
            let p = pages.get(&(a >> 12)).ok_or(PhysError {
                paddr: a,
                failure: ReadFailure::Absent,
            })?;
            *b = p[(a & 0xfff) as usize];
        }
        Ok(())
    }
    fn page_state(&self, pfn: u64) -> PageState {
        if self.pages.lock().unwrap().contains_key(&pfn) {
            PageState::Present
        } else {
            PageState::Absent
        }
    }
    fn max_pfn(&self) -> u64 {
        self.max_pfn
    }
}

const P: u64 = 1; // present
const RW: u64 = 2;
const PSE: u64 = 0x80;
const NX: u64 = 1 << 63;

/// A small machine: tables allocated from physical 0x100000 upward.
struct Builder {
    phys: FakePhys,
    next_table: u64,
    pgd: u64,
    five: bool,
}

impl Builder {
    fn new(five: bool) -> Builder {
        let phys = FakePhys {
            max_pfn: 0x40000, // 1 GiB
            ..Default::default()
        };
        let pgd = 0x0300_0000; // kernel image at phys 0x1000000, init_top_pgt inside it
        phys.write(pgd, &[0u8; 4096]);
        Builder {
            phys,
            next_table: 0x100000,
            pgd,
            five,
        }
    }
    fn table(&mut self) -> u64 {
        let t = self.next_table;
        self.next_table += 4096;
        self.phys.write(t, &[0u8; 4096]);
        t
    }
    fn read_u64(&self, pa: u64) -> u64 {
        let mut b = [0u8; 8];
        self.phys.read_phys(pa, &mut b).unwrap();
        u64::from_le_bytes(b)
    }
    /// Maps `va` to `pa` with a page of `size` (4K, 2M, 1G).
    fn map(&mut self, va: u64, pa: u64, size: u64) {
        let mut shifts = vec![39, 30, 21, 12];
        if self.five {
            shifts.insert(0, 48);
        }
        let mut table = self.pgd;
        for &shift in &shifts {
            let idx = (va >> shift) & 511;
            let slot = table + idx * 8;
            if 1u64 << shift == size {
                let flags = if size > 4096 { P | RW | PSE } else { P | RW };
                // Set NX and a high SME-like software bit to test masking.
                self.phys.write_u64(slot, pa | flags | NX);
                return;
            }
            let e = self.read_u64(slot);
            table = if e & P != 0 {
                e & 0x000f_ffff_ffff_f000
            } else {
                let t = self.table();
                self.phys.write_u64(slot, t | P | RW);
                t
            };
        }
        panic!("bad size");
    }
    fn mem(self, phys_base: i64) -> X86_64Memory<FakePhys> {
        // init_top_pgt's image address for this phys_base.
        let cfg = PagingConfig {
            phys_base: phys_base as u64,
            pgd_paddr: self.pgd,
            five_level: self.five,
            sme_mask: 0,
            kernel_image_size: 1 << 30,
        };
        X86_64Memory::new(self.phys, cfg)
    }
}

fn fill(phys: &FakePhys, pa: u64, len: usize, seed: u8) {
    let v: Vec<u8> = (0..len).map(|i| seed.wrapping_add((i / 7) as u8)).collect();
    phys.write(pa, &v);
}

#[test]
fn four_level_walk() {
    let mut b = Builder::new(false);
    let direct = 0xffff_8880_0000_0000u64;
    // Direct map: 1 GiB page for phys 0.
    b.map(direct, 0, 1 << 30);
    // vmalloc: 4 KiB pages, two consecutive virtual pages on non-consecutive physical ones.
    let vm = 0xffff_c900_0001_0000u64;
    b.map(vm, 0x20_0000, 4096);
    b.map(vm + 4096, 0x30_0000, 4096);
    // vmemmap: a 2 MiB page.
    let vmemmap = 0xffff_ea00_0000_0000u64;
    b.map(vmemmap, 0x80_0000, 2 << 20);
    fill(&b.phys, 0x20_0000, 4096, 1);
    fill(&b.phys, 0x30_0000, 4096, 2);
    fill(&b.phys, 0x80_0000 + 0x1234, 16, 3);
    fill(&b.phys, 0x50_0000, 64, 4);
    let mem = b.mem(0);

    // vmalloc, crossing pages.
    let mut buf = vec![0u8; 64];
    mem.read(vm + 4096 - 32, &mut buf).unwrap();
    let mut want = vec![0u8; 64];
    mem.phys()
        .read_phys(0x20_0000 + 4096 - 32, &mut want[..32])
        .unwrap();
    mem.phys().read_phys(0x30_0000, &mut want[32..]).unwrap();
    assert_eq!(buf, want);
    let t = mem.translate(vm + 4096 + 5).unwrap();
    assert_eq!(
        (t.paddr, t.page_size, t.via),
        (0x30_0005, 4096, Via::PageTable)
    );
    // Cached translation gives the same.
    assert_eq!(mem.translate(vm + 4096 + 5).unwrap(), t);

    // 2 MiB page.
    let t = mem.translate(vmemmap + 0x1234).unwrap();
    assert_eq!((t.paddr, t.page_size), (0x80_1234, 2 << 20));
    // 1 GiB page through the walk, then the direct-map fast path.
    let t = mem.translate(direct + 0x50_0000).unwrap();
    assert_eq!(
        (t.paddr, t.page_size, t.via),
        (0x50_0000, 1 << 30, Via::PageTable)
    );
    assert_eq!(mem.probe_direct_map_base(), Some(direct));
    mem.set_direct_map_base(direct);
    let t = mem.translate(direct + 0x50_0010).unwrap();
    assert_eq!((t.paddr, t.via), (0x50_0010, Via::DirectMap));
    assert_eq!(mem.read_u64(direct + 0x50_0000).unwrap(), {
        let mut x = [0u8; 8];
        mem.phys().read_phys(0x50_0000, &mut x).unwrap();
        u64::from_le_bytes(x)
    });
    assert_eq!(mem.phys_to_direct(0x1000), Some(direct + 0x1000));

    // Walk steps.
    let (steps, r) = mem.walk(vm);
    assert_eq!(r.unwrap().paddr, 0x20_0000);
    assert_eq!(
        steps.iter().map(|s| s.level).collect::<Vec<_>>(),
        vec![Level::Pgd, Level::Pud, Level::Pmd, Level::Pte]
    );

    // Errors name the level and the address.
    let e = mem.read_u64(vm + 2 * 4096).unwrap_err();
    assert_eq!(e.vaddr(), vm + 2 * 4096);
    assert!(
        matches!(&e, ReadError::NotMapped { detail, .. } if detail.starts_with("PTE entry 18")),
        "{e}"
    );
    let e = mem.read_u64(0xffff_d000_0000_0000).unwrap_err();
    assert!(
        matches!(&e, ReadError::NotMapped { detail, .. } if detail.starts_with("PGD entry")),
        "{e}"
    );
    let e = mem.read_u64(0x0000_9000_0000_0000).unwrap_err();
    assert!(e.to_string().contains("non-canonical"), "{e}");
    // A read that starts mapped and runs into an unmapped page fails at the boundary.
    let mut big = vec![0u8; 3 * 4096];
    let e = mem.read(vm, &mut big).unwrap_err();
    assert_eq!(e.vaddr(), vm + 2 * 4096);
}

#[test]
fn kernel_image_and_negative_phys_base() {
    let b = Builder::new(false);
    // phys_base negative: image address 0xffffffff81000000 (+ KASLR 0x2000000) lands at
    // phys 0x3000000 - 0x1000000.
    let phys_base: i64 = -0x100_0000;
    fill(&b.phys, 0x200_0000 + 0x40, 16, 9);
    let mem = b.mem(phys_base);
    let va = 0xffff_ffff_8300_0040u64;
    let t = mem.translate(va).unwrap();
    assert_eq!((t.paddr, t.via), (0x200_0040, Via::KernelImage));
    let mut got = [0u8; 16];
    mem.read(va, &mut got).unwrap();
    let mut want = [0u8; 16];
    mem.phys().read_phys(0x200_0040, &mut want).unwrap();
    assert_eq!(got, want);
    // Kernel image address whose physical page is not in the dump.
    let e = mem.read_u64(0xffff_ffff_9000_0000).unwrap_err();
    match e {
        ReadError::NotInDump {
            vaddr,
            paddr,
            reason,
        } => {
            assert_eq!(vaddr, 0xffff_ffff_9000_0000);
            assert_eq!(paddr, 0xf00_0000);
            assert!(reason.contains("kernel image mapping"), "{reason}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn five_level_and_excluded() {
    let mut b = Builder::new(true);
    let direct = 0xff11_0000_0000_0000u64;
    b.map(direct, 0, 1 << 30);
    let vm = 0xffa0_0000_0000_3000u64;
    b.map(vm, 0x60_0000, 4096);
    b.map(vm + 4096, 0x61_0000, 4096);
    fill(&b.phys, 0x60_0000, 4096, 5);
    // Make the second target page excluded (filtered by the dump level).
    b.phys.excluded.insert(0x610);
    let mem = b.mem(0);
    let (steps, r) = mem.walk(vm);
    assert_eq!(r.unwrap().paddr, 0x60_0000);
    assert_eq!(steps.len(), 5);
    assert_eq!(steps[1].level, Level::P4d);
    assert_eq!(mem.probe_direct_map_base(), Some(direct));
    let e = mem.read_u64(vm + 4096 + 8).unwrap_err();
    match &e {
        ReadError::NotInDump {
            vaddr,
            paddr,
            reason,
        } => {
            assert_eq!(*vaddr, vm + 4096 + 8);
            assert_eq!(*paddr, 0x61_0008);
            assert!(reason.contains("dump level 31"), "{reason}");
        }
        e => panic!("{e}"),
    }
    // 57-bit canonical addresses are fine with 5 levels; 48-bit rules do not apply.
    assert!(mem.translate(0xff00_0000_0000_0000).is_err());
    let e = mem.translate(0x0100_0000_0000_0000).unwrap_err();
    assert!(e.to_string().contains("non-canonical"));
}

#[test]
fn page_table_page_missing() {
    let mut b = Builder::new(false);
    let vm = 0xffff_c900_0000_0000u64;
    b.map(vm, 0x20_0000, 4096);
    // Drop the PTE table page from the "dump".
    let pmd_e = {
        let pgd_e = b.read_u64(b.pgd + ((vm >> 39) & 511) * 8);
        let pud_e = b.read_u64((pgd_e & 0xffffffffff000) + ((vm >> 30) & 511) * 8);
        b.read_u64((pud_e & 0xffffffffff000) + ((vm >> 21) & 511) * 8)
    };
    let pte_table = pmd_e & 0xffffffffff000;
    b.phys.pages.lock().unwrap().remove(&(pte_table >> 12));
    let mem = b.mem(0);
    let e = mem.read_u64(vm).unwrap_err();
    match &e {
        ReadError::NotInDump { reason, paddr, .. } => {
            assert_eq!(*paddr, pte_table + ((vm >> 12) & 511) * 8);
            assert!(reason.contains("PTE table at physical"), "{reason}");
        }
        e => panic!("{e}"),
    }
}

#[test]
fn config_from_vmcoreinfo() {
    let vi = holdup_vmcoreinfo::VmcoreInfo::parse(
        "SYMBOL(init_top_pgt)=ffffffffa4210000\nNUMBER(phys_base)=-381681664\nNUMBER(pgtable_l5_enabled)=0\nNUMBER(KERNEL_IMAGE_SIZE)=1073741824\nNUMBER(sme_mask)=0\n",
    );
    let c = PagingConfig::from_vmcoreinfo(&vi).unwrap();
    assert_eq!(
        c.pgd_paddr,
        0xffffffffa4210000u64
            .wrapping_sub(START_KERNEL_MAP)
            .wrapping_add((-381681664i64) as u64)
    );
    assert_eq!(c.pgd_paddr, 0x2421_0000 - 381681664);
    assert!(!c.five_level);
    let vi = holdup_vmcoreinfo::VmcoreInfo::parse("NUMBER(phys_base)=0\n");
    assert!(PagingConfig::from_vmcoreinfo(&vi).is_err());
}
