//! Targets that parse bytes on their own: dump containers, notes, VMCOREINFO, kallsyms, BTF,
//! the printk ring buffer.

use crate::fakemem::{SliceMem, le32};
use holdup_dump::{Dump, PhysicalMemory};
use holdup_kernel::printk::{PrintkLayout, read_log};
use holdup_kmem::{KernelDump, PagingConfig};
use holdup_symbols::{Kallsyms, KallsymsAddrs, KallsymsByName, SymbolTable};
use holdup_types::{Btf, TypeId, Types};
use holdup_vmcoreinfo::VmcoreInfo;
use std::sync::OnceLock;

/// Where the fake-memory targets map their input (inside the kernel image map, as the real
/// tables are).
pub const FAKE_BASE: u64 = 0xffff_ffff_8200_0000;

/// The VMCOREINFO of the 6.1 fixture (its printk layout is what the `printk` target uses).
pub const FIXTURE_VMCOREINFO: &str = include_str!("../../../dumps/fixtures/6.1/vmcoreinfo.txt");

/// Everything a caller of [`Dump`] may ask, on a dump parsed from untrusted bytes.
pub fn exercise_dump(d: Dump) {
    let _ = d.format_name();
    let _ = d.kdump_header();
    let _ = d.dump_level().map(|l| l.to_string());
    let _ = d.notes().all.len();
    let _ = d.prstatus().iter().map(|p| p.ip() ^ p.sp()).max();
    let _ = d.qemu_cpus().len();
    let _ = d.warnings().len();
    let _ = d.panic_cpu_hint();
    let max = d.max_pfn();
    let mut pfns: Vec<u64> = (0..64)
        .chain(max.saturating_sub(8)..max.saturating_add(2))
        .collect();
    if let Some(e) = d.elf_info() {
        for s in e.segments.iter().take(16) {
            pfns.push(s.paddr / 4096);
            pfns.push(s.paddr.saturating_add(s.memsz) / 4096);
            pfns.push(s.paddr.saturating_add(s.filesz) / 4096);
        }
    }
    let mut buf = vec![0u8; 4096];
    for &pfn in pfns.iter().take(128) {
        let _ = d.page_state(pfn);
        let pa = pfn.saturating_mul(4096);
        let _ = d.read_phys(pa, &mut buf);
        let _ = d.read_phys(pa.saturating_add(4090), &mut buf[..16]);
    }
    let _ = d.read_phys(u64::MAX - 3, &mut buf[..8]);
    // Kernel memory over it: VMCOREINFO, the page-table probe, the uts name.
    if let Ok(k) = KernelDump::from_dump(d) {
        let _ = k.summary();
        let _ = k.mem.translate(0xffff_8880_0000_0000);
        let _ = k.mem.walk(0xffff_ffff_8100_0000);
    }
}

/// A whole ELF vmcore.
pub fn elf(data: &[u8]) {
    if let Ok(d) = Dump::from_bytes(data.to_vec()) {
        exercise_dump(d);
    }
}

/// The contents of one PT_NOTE segment, in an ELF core with one empty PT_LOAD.
pub fn elf_notes(data: &[u8]) {
    exercise_dump_bytes(elf_with_notes(data));
}

fn exercise_dump_bytes(bytes: Vec<u8>) {
    if let Ok(d) = Dump::from_bytes(bytes) {
        exercise_dump(d);
    }
}

/// An ELF64 x86_64 core: the header, a PT_NOTE holding `notes`, and a PT_LOAD of one page
/// at physical 0 that lies past the end of the file.
pub fn elf_with_notes(notes: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 64 + 2 * 56];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 2; // ELFCLASS64
    f[5] = 1; // little-endian
    f[6] = 1;
    f[16..18].copy_from_slice(&4u16.to_le_bytes()); // ET_CORE
    f[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    f[20..24].copy_from_slice(&1u32.to_le_bytes());
    f[32..40].copy_from_slice(&64u64.to_le_bytes()); // e_phoff
    f[52..54].copy_from_slice(&64u16.to_le_bytes());
    f[54..56].copy_from_slice(&56u16.to_le_bytes());
    f[56..58].copy_from_slice(&2u16.to_le_bytes());
    let note_off = f.len() as u64;
    let ph = |f: &mut Vec<u8>, i: usize, ty: u32, off: u64, pa: u64, filesz: u64, memsz: u64| {
        let p = &mut f[64 + 56 * i..64 + 56 * (i + 1)];
        p[0..4].copy_from_slice(&ty.to_le_bytes());
        p[8..16].copy_from_slice(&off.to_le_bytes());
        p[16..24].copy_from_slice(&pa.wrapping_add(0xffff_8880_0000_0000).to_le_bytes());
        p[24..32].copy_from_slice(&pa.to_le_bytes());
        p[32..40].copy_from_slice(&filesz.to_le_bytes());
        p[40..48].copy_from_slice(&memsz.to_le_bytes());
    };
    let n = notes.len() as u64;
    ph(&mut f, 0, 4, note_off, 0, n, n);
    ph(&mut f, 1, 1, note_off + n, 0, 4096, 8192);
    f.extend_from_slice(notes);
    f
}

/// A whole kdump-compressed file.
pub fn kdump(data: &[u8]) {
    if let Ok(d) = Dump::from_bytes(data.to_vec()) {
        exercise_dump(d);
    }
}

/// The 4 KiB header of a flattened file (type 1, version 1).
pub fn flat_header() -> Vec<u8> {
    let mut f = vec![0u8; 4096];
    f[..12].copy_from_slice(b"makedumpfile");
    f[16..24].copy_from_slice(&1i64.to_be_bytes());
    f[24..32].copy_from_slice(&1i64.to_be_bytes());
    f
}

/// The records of a flattened file (what follows its 4 KiB header).
pub fn flattened(data: &[u8]) {
    let mut f = flat_header();
    f.extend_from_slice(data);
    exercise_dump_bytes(f);
}

/// The VMCOREINFO text, and everything read from it.
pub fn vmcoreinfo(data: &[u8]) {
    let vi = VmcoreInfo::parse_bytes(data);
    for e in vi.entries().iter().take(64) {
        let _ = (e.key.to_string(), &e.value);
    }
    let _ = vi.problems().len();
    let _ = (
        vi.osrelease(),
        vi.build_id(),
        vi.page_size(),
        vi.kernel_offset(),
    );
    let _ = (vi.crash_time(), vi.phys_base(), vi.pgtable_l5_enabled());
    let _ = (
        vi.symbol("_stext"),
        vi.size("page"),
        vi.offset("page.flags"),
    );
    let _ = (vi.length("mem_section"), vi.number("PG_locked"));
    let _ = vi.symbols().count();
    let _ = PagingConfig::from_vmcoreinfo(&vi).map(|c| c.kernel_image_pa(FAKE_BASE));
    let _ = KallsymsAddrs::from_vmcoreinfo(|n| vi.symbol(n).ok().flatten());
    let _ = PrintkLayout::from_vmcoreinfo(|k| vi.get(k).and_then(|s| s.trim().parse().ok()));
}

/// The memory and table addresses of a [`kallsyms`] input: the input is mapped at
/// [`FAKE_BASE`], and starts with seven little-endian u32 offsets from there:
/// `kallsyms_names`, `kallsyms_num_syms`, `kallsyms_token_table`, `kallsyms_token_index`,
/// `kallsyms_offsets`, `kallsyms_relative_base`, and `_stext` (the address the self-check
/// expects).
pub fn kallsyms_input(data: &[u8]) -> (SliceMem<'_>, KallsymsAddrs) {
    let mem = SliceMem {
        base: FAKE_BASE,
        data,
    };
    let at = |i: usize| mem.addr(u64::from(le32(data, 4 * i)));
    let addrs = KallsymsAddrs {
        names: at(0),
        num_syms: at(1),
        token_table: at(2),
        token_index: at(3),
        offsets: at(4),
        relative_base: at(5),
        stext: at(6),
    };
    (mem, addrs)
}

/// The kallsyms tables in a fake kernel memory (the input as [`kallsyms_input`] reads it).
/// The names the quick pass also looks for must come out at the addresses the full table
/// gives them, and a name found by binary search (`KallsymsByName`) must be in the full
/// table at that address (differential checks: a mismatch panics, so the fuzzer reports it).
pub fn kallsyms(data: &[u8]) {
    let (mem, addrs) = kallsyms_input(data);
    let by_name = KallsymsByName::new(&mem, addrs).map(|b| {
        let found: Vec<_> = EARLY.iter().map(|n| b.lookup(n)).collect();
        let _ = b.table(&EARLY);
        let facts = (b.num_syms(), b.encoding(), found);
        let index = b.into_index();
        // The same tables taken over by a second reading of the same memory, as for another
        // dump of the same build.
        let again = index.as_ref().and_then(|i| {
            let tables = i.tables();
            let j = KallsymsByName::new(&mem, addrs)?.into_index_with(tables.as_ref())?;
            assert!(j.tables_reused(), "equal tables not taken over");
            Some(SymbolTable::from_kallsyms_index(j))
        });
        let in_place = index.map(SymbolTable::from_kallsyms_index);
        if let (Some(a), Some(b)) = (&in_place, &again) {
            for s in a.iter().take(16) {
                let x = s.addr.wrapping_add(3);
                assert_eq!(
                    a.format_address(x),
                    b.format_address(x),
                    "taken-over tables"
                );
            }
        }
        (facts, in_place)
    });
    let (by_name, in_place) = match by_name {
        Some((facts, in_place)) => (Some(facts), in_place),
        None => (None, None),
    };
    const EARLY: [&str; 3] = ["__start_BTF", "__stop_BTF", "init_task"];
    let (k, early) = Kallsyms::from_memory_and(&mem, addrs, &EARLY, |found| found.to_vec());
    let Ok(k) = k else {
        return;
    };
    if let Some(early) = early {
        for (name, addr) in EARLY.iter().zip(&early) {
            assert_eq!(
                *addr,
                k.table().address_of(name),
                "quick pass vs table: {name}"
            );
        }
    }
    // Hostile sequence numbers may make the search settle on another `_stext` (and so
    // another encoding): compare only when both agree on it.
    if let Some((num, encoding, found)) = by_name
        && encoding == k.encoding()
    {
        let vmlinux = k.table().len();
        assert_eq!(num as usize, vmlinux, "kallsyms_num_syms by name vs table");
        for (name, f) in EARLY.iter().zip(found) {
            if let Some((addr, kind)) = f {
                assert!(
                    k.table()
                        .lookup_all(name)
                        .any(|s| s.addr == addr && s.kind as u8 == kind),
                    "{name} found by name at {addr:#x} is not in the table there"
                );
            }
        }
    }
    // Read in place, kallsyms must name addresses as the whole table does.
    if let Some(in_place) = &in_place
        && in_place.origin() == k.table().origin()
    {
        for s in k.table().iter().take(64) {
            let a = s.addr.wrapping_add(5);
            assert_eq!(
                in_place.format_address(a),
                k.table().format_address(a),
                "in place vs table at {a:#x}"
            );
        }
    }
    let _ = (k.encoding(), k.names_len());
    let t = k.table();
    let addrs: Vec<u64> = t.iter().take(64).map(|s| s.addr).collect();
    for a in addrs {
        let _ = t.format_address(a.wrapping_add(5));
        let _ = t.resolve(a.wrapping_sub(1));
    }
    let _ = t.lookup("_stext").map(|s| s.addr);
    let _ = t.address_of("init_task");
}

/// Member paths, types and enumerators holdup asks about.
const TYPE_QUESTIONS: &[&str] = &[
    "task_struct.tasks",
    "task_struct.__state",
    "task_struct.thread.sp",
    "task_struct.thread_info.cpu",
    "task_struct.comm",
    "task_struct.sched_info.last_arrival",
    "mutex.wait_list",
    "mutex.owner",
    "rw_semaphore.count",
    "rw_semaphore.wait_list",
    "semaphore.wait_list",
    "completion.wait.task_list",
    "page.flags",
    "page.compound_head",
    "folio._folio_nr_pages",
    "module.mem[0].base",
    "module.core_layout.size",
    "module.arch.num_orcs",
    "mod_kallsyms.num_symtab",
    "wait_page_queue.wait",
    "xa_node.slots",
    "xa_node.slots[3]",
    "list_head.next",
    "a.b.c.d.e.f.g.h",
    "x[99999999999999999999]",
];

/// A BTF blob, and the type questions holdup asks; the blob is also read as a module's split
/// BTF on top of itself, whose types the questions then reach when the base has none.
pub fn btf(data: &[u8]) {
    let Ok(b) = Btf::parse(data.to_vec(), "fuzz input") else {
        return;
    };
    let count = b.type_count();
    let t = Types::new(b);
    if let Some(base) = t.vmlinux_btf() {
        if let Ok(split) = Btf::parse_split(data.to_vec(), base.clone(), "fuzz split") {
            let _ = t.add_module("fuzz", split);
        }
    }
    let _ = t.origin();
    for q in TYPE_QUESTIONS {
        let _ = t.member(q).map(|f| t.sizeof_id(f.ty));
        let _ = t.offsetof(q);
        let _ = t.has_member(q);
        if let Some((ty, _)) = q.split_once('.') {
            let _ = t.sizeof(ty);
            let _ = t.find(&format!("struct {ty}"));
        }
    }
    for e in [
        "pageflags",
        "rwsem_waiter_type",
        "mod_mem_type",
        "module_state",
    ] {
        let _ = t.find(&format!("enum {e}"));
    }
    let _ = t.enum_value("pageflags", "PG_locked");
    let _ = t.enumerator("MODULE_STATE_UNFORMED");
    for id in (1..=count.min(256)).chain(count.saturating_sub(16)..=count + 1) {
        let id = TypeId(id as u64);
        let _ = t.get(id).map(|ty| format!("{:?}", ty.kind).len());
        let _ = t.type_name(id);
        let _ = t.sizeof_id(id);
        let _ = t.resolve(id);
        let _ = t.member_in(id, "next");
        // The same id in the module.
        let id = TypeId((1 << 63) | (id.0 + count as u64));
        let _ = t.get(id).map(|ty| format!("{:?}", ty.kind).len());
        let _ = t.type_name(id);
        let _ = t.sizeof_id(id);
        let _ = t.owner(id);
        let _ = t.member_in(id, "next");
    }
}

fn fixture_printk_layout() -> &'static Option<PrintkLayout> {
    static LAYOUT: OnceLock<Option<PrintkLayout>> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let vi = VmcoreInfo::parse(FIXTURE_VMCOREINFO);
        PrintkLayout::from_vmcoreinfo(|k| vi.get(k).and_then(|s| s.trim().parse().ok())).ok()
    })
}

/// A printk ring buffer in a fake kernel memory: the input is mapped at [`FAKE_BASE`] and
/// starts with the `struct printk_ringbuffer` (layout of the 6.1 fixture), whose pointers
/// should point into the input.
pub fn printk(data: &[u8]) {
    let Some(layout) = fixture_printk_layout() else {
        return;
    };
    let mem = SliceMem {
        base: FAKE_BASE,
        data,
    };
    if let Ok(log) = read_log(&mem, FAKE_BASE, layout) {
        for r in log.records.iter().take(256) {
            let _ = r.to_dmesg_line();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_layout_is_known() {
        assert!(fixture_printk_layout().is_some());
    }

    #[test]
    fn empty_and_tiny_inputs() {
        for (_, f) in crate::TARGETS
            .iter()
            .filter(|(n, _)| *n != "analysis" && *n != "orc")
        {
            f(&[]);
            f(&[0]);
            f(&[0xff; 64]);
        }
    }
}
