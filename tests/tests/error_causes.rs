//! Errors name the real cause: a dump whose notes cannot be read says why, not merely that
//! VMCOREINFO is missing; a kdump header with another block size says so; VMCOREINFO values
//! outside their domain are reported (the vmcoreinfo crate's own tests cover the parsing).

use holdup_dump::Dump;
use holdup_fuzz_targets::parsers::elf_with_notes;
use holdup_kmem::KernelDump;

/// An ELF note: name, type, descriptor, each padded to 4 bytes.
fn note(name: &str, ty: u32, desc: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(name.len() as u32 + 1).to_le_bytes());
    v.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    v.extend_from_slice(&ty.to_le_bytes());
    v.extend_from_slice(name.as_bytes());
    v.push(0);
    v.resize(v.len().next_multiple_of(4), 0);
    v.extend_from_slice(desc);
    v.resize(v.len().next_multiple_of(4), 0);
    v
}

fn vmcoreinfo() -> Vec<u8> {
    note(
        "VMCOREINFO",
        0,
        b"OSRELEASE=6.1.0-56-amd64\nPAGESIZE=4096\n",
    )
}

/// The error of opening `bytes` for kernel-memory reads.
fn open_error(bytes: Vec<u8>) -> String {
    match Dump::from_bytes(bytes) {
        Err(e) => e.to_string(),
        Ok(d) => match KernelDump::from_dump(d) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("the damaged dump opened"),
        },
    }
}

#[test]
fn a_missing_vmcoreinfo_names_what_hid_it() {
    // The plain ELF with its note opens past the notes (and fails later, for want of the
    // rest of VMCOREINFO): the note is found.
    let ok = open_error(elf_with_notes(&vmcoreinfo()));
    assert!(!ok.contains("no VMCOREINFO"), "{ok}");

    // More notes than holdup reads before VMCOREINFO.
    let mut many = Vec::new();
    for _ in 0..100_000 {
        many.extend(note("CORE", 99, &[]));
    }
    many.extend(vmcoreinfo());
    let e = open_error(elf_with_notes(&many));
    assert!(e.contains("more than 65536 notes"), "{e}");

    // A VMCOREINFO note of 70 MB.
    let big = note("VMCOREINFO", 0, &vec![b'x'; 70 << 20]);
    let e = open_error(elf_with_notes(&big));
    assert!(e.contains("PT_NOTE") && e.contains("ignored"), "{e}");

    // A PT_NOTE that claims 2^40 bytes.
    let mut b = elf_with_notes(&vmcoreinfo());
    b[64 + 32..64 + 40].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = open_error(b);
    assert!(e.contains("PT_NOTE"), "{e}");

    // e_phnum PN_XNUM whose real count (section header 0) cannot be read.
    let mut b = elf_with_notes(&vmcoreinfo());
    b[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
    b[40..48].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let e = open_error(b);
    assert!(e.contains("PN_XNUM"), "{e}");
}

#[test]
fn a_kdump_block_size_other_than_the_page_size_is_named() {
    let m = holdup_e2e::manifest();
    let mut b = std::fs::read(m.fixture("6.1").path("vmcore.kdump-zlib")).unwrap();
    b.truncate(1 << 20);
    for bs in [512u32, 8192, 65536] {
        let mut c = b.clone();
        c[428..432].copy_from_slice(&bs.to_le_bytes());
        let e = open_error(c);
        assert!(
            e.contains(&format!("block_size {bs}")) && e.contains("4096"),
            "{bs}: {e}"
        );
    }
}
