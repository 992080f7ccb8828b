//! x86_64 kernel virtual memory over a dump's physical memory.
//!
//! Three ways from a virtual to a physical address, tried in this order:
//! 1. the kernel image map: `pa = va - __START_KERNEL_map + phys_base` (needs only
//!    VMCOREINFO, so kallsyms, BTF and `page_offset_base` can be read before anything else);
//! 2. the direct map, once its base is known ([`X86_64Memory::set_direct_map_base`]):
//!    `pa = va - page_offset_base`;
//! 3. a page-table walk from `init_top_pgt` (4- or 5-level, 1 GiB and 2 MiB pages), whose
//!    results are kept in a bounded translation cache.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use holdup_dump::{PhysError, PhysicalMemory, ReadFailure};
use holdup_vmcoreinfo::VmcoreInfo;

use crate::{AddressSpace, KernelMemory, ReadError, Region};

/// `__START_KERNEL_map`: the base of the kernel image mapping.
pub const START_KERNEL_MAP: u64 = 0xffff_ffff_8000_0000;
const PAGE_SIZE: u64 = 4096;

/// The start of the kernel's half of the address space: the upper canonical half of 48-bit
/// (4-level) or 57-bit (5-level) virtual addresses.
pub const fn kernel_space_start(five_level: bool) -> u64 {
    if five_level {
        0xff00_0000_0000_0000
    } else {
        0xffff_8000_0000_0000
    }
}
/// Physical address bits 12..51 of a page-table entry.
const ENTRY_ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const PRESENT: u64 = 1;
const PSE: u64 = 1 << 7;

/// How the kernel's address space is laid out in this dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PagingConfig {
    /// `phys_base` (two's complement when VMCOREINFO's `NUMBER(phys_base)` is negative).
    pub phys_base: u64,
    /// Physical address of the kernel's top-level page table (`init_top_pgt`).
    pub pgd_paddr: u64,
    /// 5-level paging (`NUMBER(pgtable_l5_enabled)`).
    pub five_level: bool,
    /// AMD SME encryption bit, cleared from every entry (`NUMBER(sme_mask)`).
    pub sme_mask: u64,
    /// Size of the kernel image mapping from `__START_KERNEL_map`.
    pub kernel_image_size: u64,
}

/// A VMCOREINFO that lacks what address translation needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("VMCOREINFO has no {0}")]
    Missing(&'static str),
    #[error(transparent)]
    Value(#[from] holdup_vmcoreinfo::ValueError),
}

impl PagingConfig {
    /// Reads `NUMBER(phys_base)`, `SYMBOL(init_top_pgt)` (or `swapper_pg_dir`),
    /// `NUMBER(pgtable_l5_enabled)`, `NUMBER(sme_mask)` and `NUMBER(KERNEL_IMAGE_SIZE)`.
    pub fn from_vmcoreinfo(vi: &VmcoreInfo) -> Result<PagingConfig, ConfigError> {
        let phys_base = vi
            .phys_base()?
            .ok_or(ConfigError::Missing("NUMBER(phys_base)"))?;
        let pgd = match vi.symbol("init_top_pgt")? {
            Some(v) => v,
            None => vi
                .symbol("swapper_pg_dir")?
                .ok_or(ConfigError::Missing("SYMBOL(init_top_pgt)"))?,
        };
        let five_level = vi.pgtable_l5_enabled()?.unwrap_or(false);
        let sme_mask = vi.number("sme_mask")?.unwrap_or(0) as u64;
        let kernel_image_size = match vi.number("KERNEL_IMAGE_SIZE")? {
            Some(n) if n > 0 && (n as u64) <= (1 << 30) => n as u64,
            _ => 1 << 30,
        };
        Ok(PagingConfig {
            phys_base,
            pgd_paddr: pgd.wrapping_sub(START_KERNEL_MAP).wrapping_add(phys_base),
            five_level,
            sme_mask,
            kernel_image_size,
        })
    }

    /// The physical address of a kernel image address (no range check).
    pub fn kernel_image_pa(&self, vaddr: u64) -> u64 {
        vaddr
            .wrapping_sub(START_KERNEL_MAP)
            .wrapping_add(self.phys_base)
    }

    fn in_kernel_image(&self, vaddr: u64) -> bool {
        vaddr >= START_KERNEL_MAP && vaddr - START_KERNEL_MAP < self.kernel_image_size
    }
}

/// Page-table levels, top down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Pgd,
    P4d,
    Pud,
    Pmd,
    Pte,
}

impl Level {
    fn shift(self) -> u32 {
        match self {
            Level::Pgd => 39, // adjusted for 5-level in `levels`
            Level::P4d => 39,
            Level::Pud => 30,
            Level::Pmd => 21,
            Level::Pte => 12,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Level::Pgd => "PGD",
            Level::P4d => "P4D",
            Level::Pud => "PUD",
            Level::Pmd => "PMD",
            Level::Pte => "PTE",
        })
    }
}

/// How an address was translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    KernelImage,
    DirectMap,
    /// A page-table walk (or its cached result).
    PageTable,
}

/// A translated address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Translation {
    pub vaddr: u64,
    pub paddr: u64,
    /// Size of the page that maps it (4 KiB, 2 MiB, 1 GiB); 4 KiB for the linear maps.
    pub page_size: u64,
    pub via: Via,
}

/// One entry read during a walk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalkStep {
    pub level: Level,
    pub table_paddr: u64,
    pub index: u64,
    pub entry: u64,
}

const TLB_SHARDS: usize = 16;
const TLB_SHARD_CAP: usize = 8192;

/// Bounded cache of 4 KiB virtual page -> physical page from page-table walks.
struct Tlb {
    shards: Vec<Mutex<HashMap<u64, (u64, u64)>>>,
}

impl Tlb {
    fn new() -> Tlb {
        Tlb {
            shards: (0..TLB_SHARDS)
                .map(|_| Mutex::new(HashMap::new()))
                .collect(),
        }
    }
    fn shard(&self, vpn: u64) -> std::sync::MutexGuard<'_, HashMap<u64, (u64, u64)>> {
        self.shards[(vpn as usize) % TLB_SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
    fn get(&self, vpn: u64) -> Option<(u64, u64)> {
        self.shard(vpn).get(&vpn).copied()
    }
    fn clear(&self) {
        for s in &self.shards {
            s.lock().unwrap_or_else(|e| e.into_inner()).clear();
        }
    }
    fn insert(&self, vpn: u64, ppn_and_size: (u64, u64)) {
        let mut s = self.shard(vpn);
        if s.len() >= TLB_SHARD_CAP {
            s.clear();
        }
        s.insert(vpn, ppn_and_size);
    }
}

/// x86_64 kernel virtual memory over physical memory `P`.
pub struct X86_64Memory<P> {
    phys: P,
    cfg: PagingConfig,
    /// `page_offset_base`, or 0 while unknown.
    direct_map_base: AtomicU64,
    /// `vmalloc_base` and `vmemmap_base`, or 0 while unknown ([`Self::set_region_bases`]).
    vmalloc_base: AtomicU64,
    vmemmap_base: AtomicU64,
    /// Bytes of physical memory the dump describes (the direct map fast path's extent).
    phys_limit: u64,
    tlb: Tlb,
}

fn is_canonical(vaddr: u64, five_level: bool) -> bool {
    let bits = if five_level { 57 } else { 48 };
    let top = (vaddr as i64) >> (bits - 1);
    top == 0 || top == -1
}

fn phys_to_read_error(vaddr: u64, e: PhysError, what: Option<(Level, u64)>) -> ReadError {
    let ctx = match what {
        Some((level, table)) => {
            format!(" ({level} table at physical {table:#x}, read during the page-table walk)")
        }
        None => String::new(),
    };
    match e.failure {
        ReadFailure::Corrupt(_) => ReadError::Corrupt {
            vaddr,
            detail: format!("{e}{ctx}"),
        },
        _ => ReadError::NotInDump {
            vaddr,
            paddr: e.paddr,
            reason: format!("{e}{ctx}"),
        },
    }
}

impl<P: PhysicalMemory> X86_64Memory<P> {
    pub fn new(phys: P, cfg: PagingConfig) -> X86_64Memory<P> {
        let phys_limit = phys.max_pfn().saturating_mul(PAGE_SIZE);
        X86_64Memory {
            phys,
            cfg,
            direct_map_base: AtomicU64::new(0),
            vmalloc_base: AtomicU64::new(0),
            vmemmap_base: AtomicU64::new(0),
            phys_limit,
            tlb: Tlb::new(),
        }
    }

    /// From the dump's VMCOREINFO.
    pub fn from_vmcoreinfo(phys: P, vi: &VmcoreInfo) -> Result<X86_64Memory<P>, ConfigError> {
        Ok(Self::new(phys, PagingConfig::from_vmcoreinfo(vi)?))
    }

    pub fn config(&self) -> &PagingConfig {
        &self.cfg
    }

    pub fn phys(&self) -> &P {
        &self.phys
    }

    /// Tells the direct map's base (`page_offset_base`, read through kallsyms). Until then,
    /// direct-map addresses are translated by walking the page tables.
    pub fn set_direct_map_base(&self, base: u64) {
        self.direct_map_base.store(base, Ordering::Relaxed);
    }

    /// Tells where vmalloc space and the struct page array begin (`vmalloc_base`,
    /// `vmemmap_base`, KASLR-randomised; read through kallsyms), for [`Self::address_space`].
    pub fn set_region_bases(&self, vmalloc: u64, vmemmap: u64) {
        self.vmalloc_base.store(vmalloc, Ordering::Relaxed);
        self.vmemmap_base.store(vmemmap, Ordering::Relaxed);
    }

    /// The regions of the address space, as far as they are known.
    pub fn address_space(&self) -> AddressSpace {
        AddressSpace {
            kernel_start: kernel_space_start(self.cfg.five_level),
            page_offset: self.direct_map_base.load(Ordering::Relaxed),
            vmalloc: self.vmalloc_base.load(Ordering::Relaxed),
            vmemmap: self.vmemmap_base.load(Ordering::Relaxed),
            kernel_image_size: self.cfg.kernel_image_size,
        }
    }

    /// Forgets every cached translation: needed when the physical memory underneath
    /// changes (an overlay of modified pages, in tests and fuzzing).
    pub fn flush_tlb(&self) {
        self.tlb.clear();
    }

    /// The direct map's base, if known.
    pub fn direct_map_base(&self) -> Option<u64> {
        match self.direct_map_base.load(Ordering::Relaxed) {
            0 => None,
            b => Some(b),
        }
    }

    /// The direct-map address of a physical address, if the base is known.
    pub fn phys_to_direct(&self, paddr: u64) -> Option<u64> {
        self.direct_map_base().and_then(|b| b.checked_add(paddr))
    }

    /// Translates `vaddr` (fast paths first, then the page tables).
    pub fn translate(&self, vaddr: u64) -> Result<Translation, ReadError> {
        if self.cfg.in_kernel_image(vaddr) {
            return Ok(Translation {
                vaddr,
                paddr: self.cfg.kernel_image_pa(vaddr),
                page_size: PAGE_SIZE,
                via: Via::KernelImage,
            });
        }
        if let Some(base) = self.direct_map_base()
            && vaddr >= base
            && vaddr - base < self.phys_limit
        {
            return Ok(Translation {
                vaddr,
                paddr: vaddr - base,
                page_size: PAGE_SIZE,
                via: Via::DirectMap,
            });
        }
        let vpn = vaddr >> 12;
        if let Some((ppn, size)) = self.tlb.get(vpn) {
            return Ok(Translation {
                vaddr,
                paddr: (ppn << 12) | (vaddr & 0xfff),
                page_size: size,
                via: Via::PageTable,
            });
        }
        let t = self.walk_from(self.cfg.pgd_paddr, vaddr, &mut |_| {})?;
        self.tlb.insert(vpn, (t.paddr >> 12, t.page_size));
        Ok(t)
    }

    /// Walks the kernel page tables for `vaddr` (no fast path, no cache) and returns every
    /// entry read along the way with the result.
    pub fn walk(&self, vaddr: u64) -> (Vec<WalkStep>, Result<Translation, ReadError>) {
        let mut steps = Vec::new();
        let r = self.walk_from(self.cfg.pgd_paddr, vaddr, &mut |s| steps.push(s));
        (steps, r)
    }

    /// Walks the page tables rooted at physical `root` (e.g. a process's `mm->pgd` translated
    /// to physical, or a CR3 with its PCID bits cleared).
    pub fn translate_with_root(&self, root: u64, vaddr: u64) -> Result<Translation, ReadError> {
        self.walk_from(root, vaddr, &mut |_| {})
    }

    fn walk_from(
        &self,
        root: u64,
        vaddr: u64,
        on_step: &mut dyn FnMut(WalkStep),
    ) -> Result<Translation, ReadError> {
        if !is_canonical(vaddr, self.cfg.five_level) {
            return Err(ReadError::NotMapped {
                vaddr,
                detail: format!(
                    "non-canonical address for {}-level paging",
                    if self.cfg.five_level { 5 } else { 4 }
                ),
            });
        }
        let levels: &[(Level, u32)] = if self.cfg.five_level {
            &[
                (Level::Pgd, 48),
                (Level::P4d, 39),
                (Level::Pud, 30),
                (Level::Pmd, 21),
                (Level::Pte, 12),
            ]
        } else {
            &[
                (Level::Pgd, 39),
                (Level::Pud, 30),
                (Level::Pmd, 21),
                (Level::Pte, 12),
            ]
        };
        let mask = ENTRY_ADDR_MASK & !self.cfg.sme_mask;
        let mut table = root & mask;
        for &(level, shift) in levels {
            debug_assert!(level == Level::Pgd || level.shift() == shift);
            let index = (vaddr >> shift) & 511;
            let entry_pa = table + index * 8;
            let mut b = [0u8; 8];
            self.phys
                .read_phys(entry_pa, &mut b)
                .map_err(|e| phys_to_read_error(vaddr, e, Some((level, table))))?;
            let entry = u64::from_le_bytes(b);
            on_step(WalkStep {
                level,
                table_paddr: table,
                index,
                entry,
            });
            if entry & PRESENT == 0 {
                return Err(ReadError::NotMapped {
                    vaddr,
                    detail: format!(
                        "{level} entry {index} (at physical {entry_pa:#x}) is not present ({entry:#x})"
                    ),
                });
            }
            let huge = entry & PSE != 0 && matches!(level, Level::Pud | Level::Pmd);
            if huge || level == Level::Pte {
                let size = 1u64 << shift;
                let base = entry & mask & !(size - 1);
                return Ok(Translation {
                    vaddr,
                    paddr: base | (vaddr & (size - 1)),
                    page_size: size,
                    via: Via::PageTable,
                });
            }
            table = entry & mask;
        }
        unreachable!("the PTE level always returns")
    }

    /// Finds the direct map's base by walking the kernel half of the page tables: the lowest
    /// 1 GiB-aligned address that maps physical 0. (`page_offset_base` is PUD-aligned.) Reads
    /// at most a few hundred page-table pages.
    pub fn probe_direct_map_base(&self) -> Option<u64> {
        let (top_shift, sign_bits) = if self.cfg.five_level {
            (48, 57)
        } else {
            (39, 48)
        };
        let mask = ENTRY_ADDR_MASK & !self.cfg.sme_mask;
        let read = |pa: u64| -> Option<u64> {
            let mut b = [0u8; 8];
            self.phys.read_phys(pa, &mut b).ok()?;
            Some(u64::from_le_bytes(b))
        };
        let sign_extend =
            |va: u64| -> u64 { ((va << (64 - sign_bits)) as i64 >> (64 - sign_bits)) as u64 };
        for i in 256..512u64 {
            let e = read(self.cfg.pgd_paddr + i * 8)?;
            if e & PRESENT == 0 {
                continue;
            }
            let top_va = sign_extend(i << top_shift);
            // With 5 levels, look at the P4D table too.
            let p4ds: Vec<(u64, u64)> = if self.cfg.five_level {
                let t = e & mask;
                (0..512u64)
                    .filter_map(|j| {
                        let e4 = read(t + j * 8)?;
                        (e4 & PRESENT != 0).then_some((top_va | (j << 39), e4))
                    })
                    .collect()
            } else {
                vec![(top_va, e)]
            };
            for (va4, e4) in p4ds {
                let pud = e4 & mask;
                for j in 0..512u64 {
                    let Some(e3) = read(pud + j * 8) else {
                        continue;
                    };
                    if e3 & PRESENT == 0 {
                        continue;
                    }
                    let va = va4 | (j << 30);
                    if let Ok(t) = self.walk_from(self.cfg.pgd_paddr, va, &mut |_| {})
                        && t.paddr == 0
                    {
                        return Some(va);
                    }
                }
            }
        }
        None
    }
}

impl<P: PhysicalMemory> KernelMemory for X86_64Memory<P> {
    fn kernel_space_start(&self) -> u64 {
        kernel_space_start(self.cfg.five_level)
    }
    fn region(&self, v: u64) -> Region {
        self.address_space().region(v)
    }
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut done = 0usize;
        while done < buf.len() {
            let va = vaddr.wrapping_add(done as u64);
            let n = ((PAGE_SIZE - (va & 0xfff)) as usize).min(buf.len() - done);
            let t = self.translate(va)?;
            self.phys
                .read_phys(t.paddr, &mut buf[done..done + n])
                .map_err(|e| {
                    let failed_va = va.wrapping_add(e.paddr.wrapping_sub(t.paddr));
                    let mut err = phys_to_read_error(failed_va, e, None);
                    if let ReadError::NotInDump { reason, .. } = &mut err {
                        reason.push_str(match t.via {
                            Via::KernelImage => " (kernel image mapping)",
                            Via::DirectMap => " (direct map)",
                            Via::PageTable => "",
                        });
                    }
                    err
                })?;
            done += n;
        }
        Ok(())
    }
}
