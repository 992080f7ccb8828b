//! VMCOREINFO notes taken from real Debian dumps (kdump of 6.1 and 6.12, QEMU dump of 6.1).

use holdup_vmcoreinfo::{Key, VmcoreInfo};

const K61: &str = include_str!("data/6.1.txt");
const K612: &str = include_str!("data/6.12.txt");
const QEMU61: &str = include_str!("data/6.1-qemu.txt");

fn common(vi: &VmcoreInfo, release: &str) {
    assert!(vi.problems().is_empty(), "{:?}", vi.problems());
    assert_eq!(vi.osrelease(), Some(release));
    assert_eq!(vi.build_id().map(str::len), Some(40));
    assert_eq!(vi.page_size(), Ok(Some(4096)));
    // KERNELOFFSET = _stext - __START_KERNEL (0xffffffff81000000).
    let stext = vi.symbol("_stext").unwrap().unwrap();
    assert_eq!(
        vi.kernel_offset().unwrap().unwrap(),
        stext - 0xffff_ffff_8100_0000
    );
    // swapper_pg_dir is init_top_pgt on x86_64.
    assert_eq!(vi.symbol("swapper_pg_dir"), vi.symbol("init_top_pgt"));
    assert_eq!(vi.offset("uts_namespace.name"), Ok(Some(0)));
    assert_eq!(vi.number("SECTION_SIZE_BITS"), Ok(Some(27)));
    assert_eq!(vi.number("MAX_PHYSMEM_BITS"), Ok(Some(46)));
    assert_eq!(vi.pgtable_l5_enabled(), Ok(Some(false)));
    assert_eq!(vi.number("KERNEL_IMAGE_SIZE"), Ok(Some(1 << 30)));
    assert_eq!(vi.size("page"), Ok(Some(64)));
    // phys_base is a signed decimal, negative on these KASLR boots.
    let pb = vi.number("phys_base").unwrap().unwrap();
    assert!(pb < 0 && pb % 0x200000 == 0, "{pb}");
    for name in [
        "kallsyms_names",
        "kallsyms_num_syms",
        "kallsyms_token_table",
        "kallsyms_token_index",
        "kallsyms_offsets",
        "kallsyms_relative_base",
        "init_uts_ns",
        "prb",
        "node_data",
    ] {
        let v = vi.symbol(name).unwrap().unwrap_or_else(|| panic!("{name}"));
        assert!(v >= 0xffff_ffff_8000_0000, "{name} {v:#x}");
    }
    // mem_section is a direct-map pointer.
    let ms = vi.symbol("mem_section").unwrap().unwrap();
    assert!(
        (0xffff_8880_0000_0000..0xffff_c880_0000_0000).contains(&ms),
        "{ms:#x}"
    );
    // Every line is kept and its key round-trips.
    for e in vi.entries() {
        assert_eq!(e.key.to_string(), e.raw_key);
        assert!(
            !matches!(e.key, Key::Other(_))
                || ["OSRELEASE", "BUILD-ID"].contains(&e.raw_key.as_str())
        );
    }
}

#[test]
fn debian_6_1_kdump() {
    let vi = VmcoreInfo::parse(K61);
    assert_eq!(vi.entries().len(), 110);
    common(&vi, "6.1.0-56-amd64");
    assert!(vi.symbol("vmap_area_list").unwrap().is_some());
    assert_eq!(vi.number("PG_slab"), Ok(Some(9)));
    assert_eq!(vi.number("PAGE_BUDDY_MAPCOUNT_VALUE"), Ok(Some(-129)));
    assert_eq!(vi.offset("page.compound_dtor"), Ok(Some(16)));
    assert!(vi.crash_time().unwrap().is_some());
    assert_eq!(vi.number("VMALLOC_START"), Ok(None));
}

#[test]
fn debian_6_12_kdump() {
    let vi = VmcoreInfo::parse(K612);
    assert_eq!(vi.entries().len(), 107);
    common(&vi, "6.12.95+deb12-amd64");
    // 6.12: NUMBER(VMALLOC_START) is 0x-hex, SYMBOL(vmemmap) the vmemmap base.
    let vs = vi.number("VMALLOC_START").unwrap().unwrap() as u64;
    assert_eq!(vs, 0xffff_cede_4000_0000);
    assert_eq!(vs % (1 << 30), 0);
    assert_eq!(vi.symbol("vmemmap"), Ok(Some(0xffff_f29c_4000_0000)));
    assert_eq!(vi.number("PAGE_SLAB_MAPCOUNT_VALUE"), Ok(Some(-184549376)));
    assert_eq!(vi.number("PG_slab"), Ok(None));
    assert_eq!(vi.symbol("vmap_area_list"), Ok(None));
    assert_eq!(vi.crash_time(), Ok(Some(1795549938)));
    assert_eq!(vi.phys_base(), Ok(Some((-346030080i64) as u64)));
}

#[test]
fn debian_6_1_qemu_guest_note() {
    // The note QEMU copies from guest memory: no CRASHTIME (no kdump happened).
    let vi = VmcoreInfo::parse(QEMU61);
    common(&vi, "6.1.0-56-amd64");
    assert_eq!(vi.crash_time(), Ok(None));
    assert_eq!(vi.entries().len(), 109);
}
