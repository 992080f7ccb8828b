//! Kernel virtual memory (`holdup_kmem`) on every committed dump: the kernel image mapping,
//! the page-table walk, the direct map and a 4 KiB page-table mapping all agree with each
//! other and with the physical pages; the formats of one capture find the same direct map;
//! an unmapped address fails naming it. And reads from many threads at once through one
//! small page cache give the bytes the uncompressed ELF copy holds.

use holdup_dump::{Dump, PageState, PhysicalMemory};
use holdup_e2e::{all_dumps, capture_id, dump_path, manifest};
use holdup_kmem::{KernelDump, KernelMemory, ReadError, START_KERNEL_MAP, Via};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Finds a 4 KiB PTE-level mapping outside the kernel image and the direct map, whose page
/// is in the dump, by reading the page tables of `init_top_pgt` (at `pgd_va`) by hand: four
/// levels, or five when the dump says the kernel ran with 5-level paging.
fn find_pte_mapping(k: &KernelDump, pgd_va: u64) -> Option<(u64, u64)> {
    let dm = k.mem.direct_map_base()?;
    let levels = if k.mem.config().five_level { 5 } else { 4 };
    let top_shift = 12 + 9 * (levels - 1);
    // The kernel half of the top-level table: its upper 256 entries, without the direct map.
    (256..512u64)
        .filter(|&i| i != (dm >> top_shift) & 511)
        .find_map(|i| {
            let e = k.mem.read_u64(pgd_va + 8 * i).ok()?;
            walk_down(k, e, levels - 1, i << top_shift)
        })
}

/// Below a present entry `e` of the level above: the first PTE mapping found, with the
/// virtual address (`prefix` holds the indexes so far), sign-extended.
fn walk_down(k: &KernelDump, e: u64, levels_left: u32, prefix: u64) -> Option<(u64, u64)> {
    const MASK: u64 = 0x000f_ffff_ffff_f000;
    let phys = k.dump.as_ref();
    let rd = |pa: u64| {
        let mut b = [0u8; 8];
        phys.read_phys(pa, &mut b)
            .ok()
            .map(|_| u64::from_le_bytes(b))
    };
    // A huge page (bit 7) below the top level is not a PTE mapping.
    if e & 1 == 0 || (levels_left < 3 && e & 0x80 != 0) {
        return None;
    }
    let shift = 12 + 9 * (levels_left - 1);
    (0..512u64).find_map(|j| {
        let e2 = rd((e & MASK) + 8 * j)?;
        let prefix = prefix | (j << shift);
        if levels_left > 1 {
            return walk_down(k, e2, levels_left - 1, prefix);
        }
        if e2 & 1 == 0 {
            return None;
        }
        let bits = 12 + 9 * (if k.mem.config().five_level { 5 } else { 4 });
        let va = prefix | (u64::MAX << bits);
        if (START_KERNEL_MAP..START_KERNEL_MAP + (1 << 30)).contains(&va) {
            return None;
        }
        (phys.page_state((e2 & MASK) >> 12) == PageState::Present).then_some((va, e2 & MASK))
    })
}

#[test]
fn the_kernel_mappings_agree_with_the_page_tables() {
    let m = manifest();
    // Per capture: (direct map base, a PTE-mapped address, its bytes) of the first dump.
    let mut reference: BTreeMap<String, (u64, u64, Vec<u8>)> = BTreeMap::new();
    for (fx, f, path) in all_dumps(&m) {
        let name = format!("{} {}", fx.name, f.file);
        let k = KernelDump::open(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let vi = &k.vmcoreinfo;
        assert!(vi.problems().is_empty(), "{name}: {:?}", vi.problems());
        // The uts release, read through the kernel image mapping.
        let release = k.uts_release().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(Some(release.as_str()), vi.osrelease(), "{name}");
        assert_eq!(release, fx.release, "{name}");
        // init_top_pgt through the image map equals the table the walker uses.
        let pgd_va = vi.symbol("init_top_pgt").unwrap().unwrap();
        let t = k.mem.translate(pgd_va).unwrap();
        assert_eq!(t.via, Via::KernelImage, "{name}");
        assert_eq!(t.paddr, k.mem.config().pgd_paddr, "{name}");
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
            k.mem.config().kernel_image_pa(stext),
            "{name}: _stext"
        );
        // Direct map: found, maps physical 0, and reads the same table.
        let dm = k
            .mem
            .direct_map_base()
            .unwrap_or_else(|| panic!("{name}: no direct map"));
        assert_eq!(dm % (1 << 30), 0, "{name}");
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
        // A 4 KiB mapping found by walking (vmalloc, modules, ...): kmem reads it.
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
        assert_eq!(bytes, want, "{name}: {va:#x}");
        match reference.get(&capture_id(fx)) {
            None => {
                reference.insert(capture_id(fx), (dm, va, bytes));
            }
            Some((rdm, rva, rbytes)) => {
                assert_eq!(*rdm, dm, "{name}: direct map base differs between formats");
                // The same address reads the same in every dump of the capture.
                if *rva == va {
                    assert_eq!(rbytes, &bytes, "{name}: {va:#x} differs between formats");
                }
            }
        }
        // Unmapped addresses fail naming the address.
        let hole = 0xffff_ff00_0000_0000u64 + 0x1000_0000;
        match k.mem.read_u64(hole) {
            Err(ReadError::NotMapped { vaddr, detail }) => {
                assert_eq!(vaddr, hole, "{name}");
                assert!(detail.contains("not present"), "{name}: {detail}");
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
    }
}

/// Four threads read overlapping sets of every present page of the 6.1 kdump-zlib dump
/// through a 64-page cache, racing on the same pages; each read equals the ELF copy's.
#[test]
fn parallel_reads_through_a_small_page_cache_give_the_right_bytes() {
    let m = manifest();
    let fx = m.fixture("6.1");
    let file = |format: &str| {
        fx.files
            .iter()
            .find(|f| f.role.starts_with("dump") && f.format.as_deref() == Some(format))
            .unwrap_or_else(|| panic!("6.1: no {format} dump in the manifest"))
    };
    let elf = dump_path(fx, file("elf"));
    let raw = Dump::open(&elf).unwrap_or_else(|e| panic!("{}: {e}", elf.display()));
    let zlib = fx.path(&file("kdump-zlib").file);
    let kd = Arc::new(
        Dump::open_with_cache(&zlib, 64).unwrap_or_else(|e| panic!("{}: {e}", zlib.display())),
    );
    let present: Vec<u64> = (0..kd.max_pfn())
        .filter(|&p| {
            kd.page_state(p) == PageState::Present && raw.page_state(p) == PageState::Present
        })
        .collect();
    assert!(present.len() > 10_000, "only {} pages", present.len());
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

/// kmem tells the regions of the address space apart on every truth dump, 4- and 5-level,
/// from the bases the kernel keeps (`page_offset_base`, `vmalloc_base`, `vmemmap_base`):
/// every task of the truth is in the direct map and its stack in vmalloc space
/// (CONFIG_VMAP_STACK), a static lock of the module in the modules area, an mmap_lock in the
/// direct map, a locked page in the vmemmap, `init_task` in the kernel image.
#[test]
fn every_address_of_the_truth_is_in_its_region() {
    use holdup_e2e::{LockType, manifest_all, parse_hex, truth_dumps};
    use holdup_kernel::{Kernel, OpenOptions};
    use holdup_kmem::Region;
    let m = manifest_all();
    let mut paging = std::collections::BTreeSet::new();
    for (fx, f, path) in truth_dumps(&m) {
        let k = Kernel::open(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mem = k.mem();
        let what = format!("{} {}", fx.name, f.file);
        let is = |v: u64, want: Region, about: &str| {
            assert_eq!(mem.region(v), want, "{what}: {about} {v:#x}");
        };
        let stack_off = k
            .types
            .offsetof("task_struct.stack")
            .expect("task_struct.stack");
        let mut stacks = 0;
        for t in fx.facts() {
            let task = parse_hex(&t.task);
            is(task, Region::DirectMap, "task_struct");
            // (An over-filtered dump lost some tasks' pages.)
            if let Ok(stack) = mem.read_u64(task + stack_off) {
                is(stack, Region::Vmalloc, "stack of");
                stacks += 1;
            }
            let lock = parse_hex(&t.lock);
            match (t.lock_type, t.lock_name.as_deref()) {
                (LockType::PageLock, _) => is(lock, Region::Vmemmap, "page"),
                (_, Some(n)) if n.starts_with("mmap_lock") => is(lock, Region::DirectMap, n),
                (_, Some(n)) => is(lock, Region::Modules, n),
                _ => {}
            }
        }
        assert!(stacks >= 10, "{what}: only {stacks} stacks read");
        is(
            k.symbol("init_task").unwrap(),
            Region::KernelImage,
            "init_task",
        );
        is(0x7fff_0000_1000, Region::NotKernel, "a user address");
        paging.insert(mem.kernel_space_start());
    }
    assert_eq!(paging.len(), 2, "both paging modes: {paging:x?}");
}
