use super::*;

/// The shape of a 6.12 note (values made up where no dump was at hand; real notes are tested
/// in tests/real.rs).
const SAMPLE: &str = "OSRELEASE=6.12.95+deb12-amd64
BUILD-ID=0123456789abcdef0123456789abcdef01234567
PAGESIZE=4096
SYMBOL(init_uts_ns)=ffffffff9a816f60
OFFSET(uts_namespace.name)=0
SYMBOL(node_online_map)=ffffffff9a6d1e28
SYMBOL(swapper_pg_dir)=ffffffff99a2c000
SYMBOL(_stext)=ffffffff97800000
NUMBER(VMALLOC_START)=0xffffb3c000000000
SYMBOL(vmemmap)=ffffd1a380000000
SYMBOL(mem_section)=ffff8f5c3ffd5000
LENGTH(mem_section)=2048
SIZE(mem_section)=16
OFFSET(mem_section.section_mem_map)=0
NUMBER(SECTION_SIZE_BITS)=27
NUMBER(MAX_PHYSMEM_BITS)=46
SIZE(page)=64
NUMBER(PAGE_BUDDY_MAPCOUNT_VALUE)=-251658241
NUMBER(phys_base)=-381681664
SYMBOL(init_top_pgt)=ffffffff99a2c000
NUMBER(pgtable_l5_enabled)=0
KERNELOFFSET=16800000
NUMBER(KERNEL_IMAGE_SIZE)=1073741824
NUMBER(sme_mask)=0
CRASHTIME=1764012345
";

#[test]
fn typed_values() {
    let vi = VmcoreInfo::parse(SAMPLE);
    assert!(vi.problems().is_empty(), "{:?}", vi.problems());
    assert_eq!(vi.osrelease(), Some("6.12.95+deb12-amd64"));
    assert_eq!(
        vi.build_id(),
        Some("0123456789abcdef0123456789abcdef01234567")
    );
    assert_eq!(vi.page_size(), Ok(Some(4096)));
    assert_eq!(vi.symbol("_stext"), Ok(Some(0xffffffff97800000)));
    assert_eq!(vi.symbol("init_top_pgt"), Ok(Some(0xffffffff99a2c000)));
    assert_eq!(vi.symbol("nope"), Ok(None));
    assert_eq!(vi.offset("uts_namespace.name"), Ok(Some(0)));
    assert_eq!(vi.length("mem_section"), Ok(Some(2048)));
    assert_eq!(vi.size("page"), Ok(Some(64)));
    assert_eq!(vi.number("phys_base"), Ok(Some(-381681664)));
    assert_eq!(vi.phys_base(), Ok(Some((-381681664i64) as u64)));
    assert_eq!(vi.number("PAGE_BUDDY_MAPCOUNT_VALUE"), Ok(Some(-251658241)));
    assert_eq!(
        vi.number("VMALLOC_START").unwrap().map(|v| v as u64),
        Some(0xffffb3c000000000)
    );
    assert_eq!(vi.pgtable_l5_enabled(), Ok(Some(false)));
    assert_eq!(vi.kernel_offset(), Ok(Some(0x16800000)));
    // KERNELOFFSET = _stext - 0xffffffff81000000.
    assert_eq!(
        vi.symbol("_stext").unwrap().unwrap() - 0xffffffff81000000,
        vi.kernel_offset().unwrap().unwrap()
    );
    assert_eq!(vi.crash_time(), Ok(Some(1764012345)));
    assert_eq!(vi.get("NUMBER(sme_mask)"), Some("0"));
    assert_eq!(vi.entries().len(), SAMPLE.lines().count());
    assert_eq!(vi.entries()[3].key, Key::Symbol("init_uts_ns".into()));
    assert_eq!(vi.symbols().count(), 7);
    for e in vi.entries() {
        assert_eq!(e.key.to_string(), e.raw_key);
    }
}

#[test]
fn malformed_lines() {
    let vi = VmcoreInfo::parse_bytes(
        b"OSRELEASE=x\nnonsense\nSYMBOL(a)=zz\nPAGESIZE=4096\nPAGESIZE=8192\nSYMBOL(b)=\n\0garbage",
    );
    assert_eq!(vi.problems().len(), 2, "{:?}", vi.problems());
    assert_eq!(vi.page_size(), Ok(Some(4096)));
    let e = vi.symbol("a").unwrap_err();
    assert_eq!(e.value, "zz");
    assert!(e.to_string().contains("SYMBOL(a)"));
    assert!(vi.symbol("b").is_err());
    assert_eq!(vi.entries().len(), 5);
    assert_eq!(vi.get("garbage"), None);
    let vi = VmcoreInfo::parse_bytes(&[0xff, 0xfe, b'=', b'1']);
    assert_eq!(vi.entries().len(), 1);
}

#[test]
fn values_outside_their_domain_say_why() {
    let vi = VmcoreInfo::parse_bytes(b"NUMBER(phys_base)=18446744073709551615\nNUMBER(x)=abc\n");
    let e = vi.phys_base().unwrap_err().to_string();
    assert!(
        e.contains("within the range of a signed 64-bit number"),
        "{e}"
    );
    let e = vi.number("x").unwrap_err().to_string();
    assert!(e.contains("a decimal (or 0x-hex) number"), "{e}");
    for bad in ["3", "0", "abc", "4095", "6000"] {
        let vi = VmcoreInfo::parse_bytes(format!("PAGESIZE={bad}\n").as_bytes());
        let e = vi.page_size().unwrap_err().to_string();
        assert!(e.contains("a page size"), "{bad}: {e}");
    }
    let vi = VmcoreInfo::parse_bytes(b"PAGESIZE=65536\nOSRELEASE=a\x1b[2Jb\n");
    assert_eq!(vi.page_size(), Ok(Some(65536)));
    // A value a terminal would obey is escaped.
    assert_eq!(vi.osrelease(), Some("a\\x1b[2Jb"));
}
