//! Headers that claim absurd sizes are refused (or clipped to what the file holds) before
//! anything of that size is allocated: kdump `max_mapnr`, `bitmap_blocks`, `sub_hdr_size` and
//! note sizes, ELF `e_phnum` (also through `PN_XNUM`) and note sizes, BTF section lengths,
//! kallsyms and printk counts.
//!
//! This test binary counts allocations: the largest single allocation made while parsing each
//! crafted header is checked. Keep it to one test so no other thread allocates meanwhile.

use holdup_dump::{Dump, PhysicalMemory};
use holdup_e2e::manifest;
use holdup_fuzz_targets::fakemem::SliceMem;
use holdup_fuzz_targets::parsers::{self, FAKE_BASE, elf_with_notes};
use holdup_kmem::KernelMemory;
use holdup_symbols::{Kallsyms, KallsymsAddrs};
use holdup_types::Btf;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A named way to damage a header.
type Case = (&'static str, Box<dyn Fn(&mut Vec<u8>)>);

struct Largest;
static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only records sizes.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LARGEST.fetch_max(new, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Largest = Largest;

/// Runs `f` and returns the largest single allocation it made (the input is prepared before).
fn largest_allocation(what: &str, f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    let t = Instant::now();
    f();
    let took = t.elapsed();
    assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
    LARGEST.load(Ordering::Relaxed)
}

fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// Parses a crafted dump: an error, or a dump whose every page read is bounded.
fn parse(bytes: Vec<u8>) -> Result<Dump, String> {
    let d = Dump::from_bytes(bytes).map_err(|e| e.to_string())?;
    let mut b = [0u8; 64];
    for pfn in [
        0,
        1,
        d.max_pfn() / 2,
        d.max_pfn().saturating_sub(1),
        u64::MAX / 4096,
    ] {
        let _ = d.read_phys(pfn.wrapping_mul(4096), &mut b);
    }
    Ok(d)
}

#[test]
fn absurd_sizes_are_refused_before_allocation() {
    // Nothing the crafted inputs below claim may be allocated: the inputs are < 1 MiB, and
    // the parsers' own caps (BTF 64 MiB, kallsyms offsets 16 MiB) are the most they may
    // reserve, lazily, before reading proves the memory is there.
    const LIMIT: usize = 64 << 20;
    let mut report = Vec::new();
    let mut check = |what: &str, n: usize| {
        report.push(format!("{what}: largest allocation {n} bytes"));
        assert!(n <= LIMIT, "{what}: allocated {n} bytes");
    };

    // kdump: the real headers and bitmaps of the 6.1 fixture, a few descriptors.
    let m = manifest();
    let fx = m.fixture("6.1");
    let file = std::fs::read(fx.path("vmcore.kdump-zlib")).expect("6.1 kdump");
    let le32 = |o: usize| u32::from_le_bytes(file[o..o + 4].try_into().unwrap()) as usize;
    let desc_start = 4096 * (1 + le32(432) + le32(436));
    let base = file[..desc_start + 24 * 64].to_vec();
    assert!(parse(base.clone()).is_ok(), "the uncorrupted cut parses");
    let kdump_cases: Vec<Case> = vec![
        (
            "kdump max_mapnr 2^60",
            Box::new(|b| {
                put32(b, 440, u32::MAX);
                put64(b, 4096 + 96, 1 << 60);
            }),
        ),
        (
            "kdump bitmap_blocks 2^32-1",
            Box::new(|b| put32(b, 436, u32::MAX)),
        ),
        (
            "kdump sub_hdr_size 2^31-1",
            Box::new(|b| put32(b, 432, i32::MAX as u32)),
        ),
        (
            "kdump block_size 1 MiB",
            Box::new(|b| put32(b, 428, 1 << 20)),
        ),
        (
            "kdump block_size 2^31",
            Box::new(|b| put32(b, 428, 1 << 31)),
        ),
        (
            "kdump note region 2^40 bytes",
            Box::new(|b| put64(b, 4096 + 56, 1 << 40)),
        ),
        (
            "kdump VMCOREINFO 2^62 bytes at 2^63",
            Box::new(|b| {
                put64(b, 4096 + 32, 1 << 63);
                put64(b, 4096 + 40, 1 << 62);
                put64(b, 4096 + 56, 0);
            }),
        ),
        (
            "kdump descriptors claiming 2^32-byte pages",
            Box::new(move |b| {
                for i in 0..64 {
                    put32(b, desc_start + 24 * i + 8, u32::MAX);
                }
            }),
        ),
    ];
    for (what, edit) in &kdump_cases {
        let mut b = base.clone();
        edit(&mut b);
        check(what, largest_allocation(what, || drop(parse(b))));
    }

    // ELF: counts and sizes far beyond the file.
    let elf = elf_with_notes(&[0u8; 64]);
    let elf_cases: Vec<Case> = vec![
        (
            "ELF e_phnum 65534",
            Box::new(|b| b[56..58].copy_from_slice(&0xfffeu16.to_le_bytes())),
        ),
        (
            "ELF e_phnum PN_XNUM, sh_info 2^32-1",
            Box::new(|b| {
                b[56..58].copy_from_slice(&0xffffu16.to_le_bytes());
                put64(b, 40, 64 + 56); // e_shoff: section header 0 over the 2nd phdr
                put32(b, 64 + 56 + 44, u32::MAX);
            }),
        ),
        (
            "ELF e_phentsize 65535",
            Box::new(|b| b[54..56].copy_from_slice(&0xffffu16.to_le_bytes())),
        ),
        (
            "ELF PT_NOTE of 2^40 bytes",
            Box::new(|b| put64(b, 64 + 32, 1 << 40)),
        ),
        (
            "ELF PT_LOAD of 2^63 bytes",
            Box::new(|b| {
                put64(b, 64 + 56 + 32, 1 << 62);
                put64(b, 64 + 56 + 40, 1 << 63);
            }),
        ),
    ];
    for (what, edit) in &elf_cases {
        let mut b = elf.clone();
        edit(&mut b);
        check(what, largest_allocation(what, || drop(parse(b))));
    }

    // Flattened: a record claiming more than the file.
    let mut flat = parsers::flat_header();
    flat.extend_from_slice(&0i64.to_be_bytes());
    flat.extend_from_slice(&(1i64 << 60).to_be_bytes());
    flat.extend_from_slice(&[0u8; 64]);
    check(
        "flattened record of 2^60 bytes",
        largest_allocation("flattened", || assert!(parse(flat).is_err())),
    );

    // BTF: section lengths far beyond the blob.
    let mut btf = vec![0u8; 64];
    btf[0..2].copy_from_slice(&0xeb9fu16.to_le_bytes());
    btf[2] = 1;
    put32(&mut btf, 4, 24);
    for (what, off, v) in [
        ("BTF type_len 2^32-4", 12, u32::MAX - 3),
        ("BTF str_len 2^32-1", 20, u32::MAX),
        ("BTF hdr_len 2^32-1", 4, u32::MAX),
        ("BTF type_off 2^32-1", 8, u32::MAX),
    ] {
        let mut b = btf.clone();
        put32(&mut b, 16, 8);
        put32(&mut b, 20, 8);
        put32(&mut b, 12, 8);
        put32(&mut b, off, v);
        check(
            what,
            largest_allocation(what, || assert!(Btf::parse(b, "crafted").is_err())),
        );
    }
    // BTF read from memory between symbols a terabyte apart.
    let mem = SliceMem {
        base: FAKE_BASE,
        data: &[0u8; 4096],
    };
    check(
        "BTF __stop_BTF - __start_BTF = 2^40",
        largest_allocation("BTF range", || {
            assert!(Btf::from_memory(&mem, FAKE_BASE - (1 << 40), FAKE_BASE).is_err())
        }),
    );

    // kallsyms: a symbol count of 2^32-1.
    let mut ks = vec![0u8; 4096];
    put32(&mut ks, 64, u32::MAX);
    let at = |o: u64| FAKE_BASE + o;
    let addrs = KallsymsAddrs {
        names: at(1024),
        num_syms: at(64),
        token_table: at(2048),
        token_index: at(512),
        offsets: at(3072),
        relative_base: at(128),
        stext: at(0),
    };
    let mem = SliceMem {
        base: FAKE_BASE,
        data: &ks,
    };
    check(
        "kallsyms_num_syms 2^32-1",
        largest_allocation("kallsyms", || {
            assert!(Kallsyms::from_memory(&mem, addrs).is_err())
        }),
    );

    // printk: a ring claiming 2^28 bytes of text and 2^22 descriptors, in 4 KiB of memory.
    let mut ring = vec![0u8; 4096];
    put32(&mut ring, 0, 22); // desc_ring.count_bits
    put32(&mut ring, 48, 28); // text_data_ring.size_bits
    put64(&mut ring, 56, FAKE_BASE + 2048);
    check(
        "printk text ring of 2^28 bytes",
        largest_allocation("printk", || parsers::printk(&ring)),
    );
    let mem = SliceMem {
        base: FAKE_BASE,
        data: &ring,
    };
    assert!(mem.read_vec(FAKE_BASE, 8).is_ok());
    eprintln!("{}", report.join("\n"));
}
