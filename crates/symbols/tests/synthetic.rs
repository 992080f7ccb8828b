//! kallsyms decoding, the symbol table and the module walk on hand-built kernel memory.

use holdup_kmem::{KernelMemory, ReadError};
use holdup_symbols::{
    AddressEncoding, Kallsyms, KallsymsAddrs, ModuleLayout, SymbolError, SymbolTable,
};
use std::collections::BTreeMap;

/// Sparse kernel memory: regions at addresses.
#[derive(Default)]
struct Mem(BTreeMap<u64, Vec<u8>>);

impl Mem {
    fn put(&mut self, addr: u64, bytes: &[u8]) {
        self.0.insert(addr, bytes.to_vec());
    }
}

impl KernelMemory for Mem {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        if let Some((&start, data)) = self.0.range(..=vaddr).next_back() {
            let off = (vaddr - start) as usize;
            if let Some(src) = data.get(off..off + buf.len()) {
                buf.copy_from_slice(src);
                return Ok(());
            }
        }
        Err(ReadError::NotMapped {
            vaddr,
            detail: "synthetic hole".into(),
        })
    }
}

const STEXT: u64 = 0xffff_ffff_9ac0_0000;
const NAMES: u64 = 0xffff_ffff_9b00_0000;
const NUM: u64 = 0xffff_ffff_9b10_0000;
const TOKTAB: u64 = 0xffff_ffff_9b20_0000;
const TOKIDX: u64 = 0xffff_ffff_9b30_0000;
const OFFSETS: u64 = 0xffff_ffff_9b40_0000;
const BASE: u64 = 0xffff_ffff_9b50_0000;

fn long_name() -> String {
    "x".repeat(300)
}

fn symbols() -> Vec<(u8, String, u64)> {
    vec![
        (b'A', "runqueues".into(), 0x2a000),
        (b'T', "_stext".into(), STEXT),
        (b'T', "schedule".into(), STEXT + 0x100),
        (b'T', "__schedule_alias".into(), STEXT + 0x100),
        (b'T', "folio_wait_bit_common".into(), STEXT + 0x1000),
        (b't', long_name(), STEXT + 0x12b0),
        (b'D', "init_task".into(), STEXT + 0x10_0000),
        (b'B', "_end".into(), STEXT + 0x20_0000),
    ]
}

/// Writes kallsyms tables for `syms` with `enc`; token 1 is "folio_", every other used byte
/// is itself, unused bytes have empty tokens.
fn build(enc: AddressEncoding, syms: &[(u8, String, u64)], stext: u64) -> (Mem, KallsymsAddrs) {
    let mut m = Mem::default();
    let mut tokens: Vec<Vec<u8>> = (0..256u32).map(|_| Vec::new()).collect();
    tokens[1] = b"folio_".to_vec();
    let mut names = Vec::new();
    for (kind, name, _) in syms {
        let mut s = vec![*kind];
        s.extend_from_slice(name.as_bytes());
        let mut comp = Vec::new();
        let mut i = 0;
        while i < s.len() {
            if s[i..].starts_with(b"folio_") {
                comp.push(1u8);
                i += 6;
            } else {
                tokens[s[i] as usize] = vec![s[i]];
                comp.push(s[i]);
                i += 1;
            }
        }
        if comp.len() > 0x7f {
            names.push((comp.len() & 0x7f) as u8 | 0x80);
            names.push((comp.len() >> 7) as u8);
        } else {
            names.push(comp.len() as u8);
        }
        names.extend_from_slice(&comp);
    }
    let mut table = Vec::new();
    let mut index = Vec::new();
    for t in &tokens {
        index.extend_from_slice(&(table.len() as u16).to_le_bytes());
        table.extend_from_slice(t);
        table.push(0);
    }
    let base = match enc {
        AddressEncoding::BaseRelative => STEXT - 0x1000,
        _ => STEXT,
    };
    let mut offsets = Vec::new();
    for (i, (_, _, a)) in syms.iter().enumerate() {
        let off: i64 = match enc {
            AddressEncoding::BaseRelative => (*a - base) as i64,
            AddressEncoding::AbsolutePercpu if *a < 0x1_0000_0000 => *a as i64,
            AddressEncoding::AbsolutePercpu => base as i64 - 1 - *a as i64,
            AddressEncoding::PlaceRelative => *a as i64 - (OFFSETS + 4 * i as u64) as i64,
        };
        offsets.extend_from_slice(&(off as i32).to_le_bytes());
    }
    m.put(NAMES, &names);
    m.put(NUM, &(syms.len() as u32).to_le_bytes());
    m.put(TOKTAB, &table);
    m.put(TOKIDX, &index);
    m.put(OFFSETS, &offsets);
    m.put(BASE, &base.to_le_bytes());
    let addrs = KallsymsAddrs {
        names: NAMES,
        num_syms: NUM,
        token_table: TOKTAB,
        token_index: TOKIDX,
        offsets: OFFSETS,
        relative_base: BASE,
        stext,
    };
    (m, addrs)
}

/// Every address encoding, with the symbols it can hold: all of them with absolute and
/// per-CPU addresses, only the kernel ones (not the per-CPU offsets) with relative ones.
fn encodings() -> impl Iterator<Item = (AddressEncoding, Vec<(u8, String, u64)>)> {
    [
        AddressEncoding::AbsolutePercpu,
        AddressEncoding::BaseRelative,
        AddressEncoding::PlaceRelative,
    ]
    .into_iter()
    .map(|enc| {
        let syms = symbols()
            .into_iter()
            .filter(|s| enc == AddressEncoding::AbsolutePercpu || s.2 > 0x1_0000_0000)
            .collect();
        (enc, syms)
    })
}

#[test]
fn decodes_every_address_encoding() {
    for (enc, syms) in encodings() {
        let (m, a) = build(enc, &syms, STEXT);
        let k = Kallsyms::from_memory(&m, a).unwrap_or_else(|e| panic!("{enc}: {e}"));
        assert_eq!(k.encoding(), enc);
        let t = k.table();
        assert_eq!(t.len(), syms.len());
        for (kind, name, addr) in &syms {
            let s = t.lookup(name).unwrap_or_else(|| panic!("{enc}: {name}"));
            assert_eq!((s.addr, s.kind), (*addr, *kind as char), "{enc} {name}");
            assert_eq!(s.size, None);
        }
    }
}

#[test]
fn resolves_like_the_kernel() {
    let (m, a) = build(AddressEncoding::AbsolutePercpu, &symbols(), STEXT);
    let t = Kallsyms::from_memory(&m, a).unwrap().into_table();
    // The first alias wins; the size is the distance to the next address.
    let r = t.resolve(STEXT + 0x13c).unwrap();
    assert_eq!(r.to_string(), "schedule+0x3c/0xf00");
    assert_eq!(
        t.format_address(STEXT + 0x1000 + 0x13c),
        "folio_wait_bit_common+0x13c/0x2b0"
    );
    assert_eq!(t.resolve(STEXT).unwrap().to_string(), "_stext+0x0/0x100");
    // Per-CPU offsets are names only; nothing resolves below the first symbol or past
    // the last one.
    assert_eq!(t.address_of("runqueues"), Some(0x2a000));
    assert!(t.resolve(0x2a000).is_none());
    assert!(t.resolve(STEXT - 1).is_none());
    assert!(t.resolve(STEXT + 0x20_0000).is_none());
    assert_eq!(t.format_address(0x1234), "0x1234");
    assert_eq!(t.lookup_all("schedule").count(), 1);
    assert!(t.lookup("nonexistent").is_none());
}

#[test]
fn stext_self_check_fails_clearly() {
    let (m, a) = build(
        AddressEncoding::AbsolutePercpu,
        &symbols(),
        STEXT + 0x200000,
    );
    match Kallsyms::from_memory(&m, a) {
        Err(e @ SymbolError::StextMismatch { .. }) => {
            let s = e.to_string();
            assert!(s.contains("_stext") && s.contains("absolute-percpu"), "{s}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn absurd_tables_are_refused_naming_the_field() {
    let field = |r: Result<Kallsyms, SymbolError>| match r {
        Err(SymbolError::Bad { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let (mut m, a) = build(AddressEncoding::AbsolutePercpu, &symbols(), STEXT);
    m.put(NUM, &u32::MAX.to_le_bytes());
    assert_eq!(field(Kallsyms::from_memory(&m, a)), "kallsyms_num_syms");
    m.put(NUM, &0u32.to_le_bytes());
    assert_eq!(field(Kallsyms::from_memory(&m, a)), "kallsyms_num_syms");

    // A token without its NUL.
    let (mut m, a) = build(AddressEncoding::AbsolutePercpu, &symbols(), STEXT);
    let mut idx = vec![0u8; 512];
    idx[2..4].copy_from_slice(&5000u16.to_le_bytes());
    m.put(TOKIDX, &idx);
    m.put(TOKTAB, &vec![b'a'; 6000]);
    assert_eq!(field(Kallsyms::from_memory(&m, a)), "kallsyms_token_table");

    // More symbols claimed than names stored: the names run into unreadable memory.
    let (mut m, a) = build(AddressEncoding::AbsolutePercpu, &symbols(), STEXT);
    m.put(NUM, &1000u32.to_le_bytes());
    m.put(OFFSETS, &vec![0u8; 4000]);
    match Kallsyms::from_memory(&m, a) {
        Err(SymbolError::Read { what, .. }) => assert!(what.contains("kallsyms_names"), "{what}"),
        other => panic!("{other:?}"),
    }

    // A 3-byte length.
    let (mut m, a) = build(AddressEncoding::AbsolutePercpu, &symbols(), STEXT);
    m.put(NAMES, &[0x80, 0x80, 0x01, 0, 0]);
    assert_eq!(field(Kallsyms::from_memory(&m, a)), "kallsyms_names");
}

#[test]
fn missing_vmcoreinfo_entry_is_named() {
    let e =
        KallsymsAddrs::from_vmcoreinfo(|n| (n != "kallsyms_token_index").then_some(1)).unwrap_err();
    assert!(
        e.to_string().contains("SYMBOL(kallsyms_token_index)"),
        "{e}"
    );
}

/// A `struct module` laid out as on 6.4+ (mem[] regions) at made-up offsets.
fn layout() -> ModuleLayout {
    ModuleLayout {
        list: 8,
        name: 24,
        name_len: 56,
        state: Some((0, 4)),
        unformed: 3,
        kallsyms: 96,
        symtab: 0,
        num_symtab: (8, 4),
        strtab: 16,
        typetab: Some(24),
        regions: vec![("MOD_TEXT".into(), 112, (120, 4))],
    }
}

fn elf_sym(name: u32, info: u8, shndx: u16, value: u64, size: u64) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&name.to_le_bytes());
    v.push(info);
    v.push(0);
    v.extend_from_slice(&shndx.to_le_bytes());
    v.extend_from_slice(&value.to_le_bytes());
    v.extend_from_slice(&size.to_le_bytes());
    v
}

fn module(m: &mut Mem, at: u64, next: u64, prev: u64, name: &str, state: u32, text: u64) {
    let mut s = vec![0u8; 128];
    s[0..4].copy_from_slice(&state.to_le_bytes());
    s[8..16].copy_from_slice(&next.to_le_bytes());
    s[16..24].copy_from_slice(&prev.to_le_bytes());
    s[24..24 + name.len()].copy_from_slice(name.as_bytes());
    let ks = at + 0x1000;
    s[96..104].copy_from_slice(&ks.to_le_bytes());
    s[112..120].copy_from_slice(&text.to_le_bytes());
    s[120..124].copy_from_slice(&0x3000u32.to_le_bytes());
    m.put(at, &s);
    let (symtab, strtab, typetab) = (at + 0x2000, at + 0x3000, at + 0x4000);
    let mut k = vec![0u8; 32];
    k[0..8].copy_from_slice(&symtab.to_le_bytes());
    k[8..12].copy_from_slice(&3u32.to_le_bytes());
    k[16..24].copy_from_slice(&strtab.to_le_bytes());
    k[24..32].copy_from_slice(&typetab.to_le_bytes());
    m.put(ks, &k);
    let mut st = elf_sym(0, 0, 0, 0, 0);
    st.extend(elf_sym(1, 0x12, 1, text + 0x10, 0x40));
    st.extend(elf_sym(1 + 9, 0x11, 0, 0, 0)); // undefined: skipped
    m.put(symtab, &st);
    m.put(strtab, b"\0hang_fn1\0printk\0");
    m.put(typetab, b"\0tU");
}

#[test]
fn walks_modules_and_resolves_into_them() {
    let (mut m, a) = build(AddressEncoding::AbsolutePercpu, &symbols(), STEXT);
    let head = STEXT + 0x30_0000;
    let (m1, m2, m3) = (
        0xffff_ffff_c000_0000u64,
        0xffff_ffff_c010_0000u64,
        0xffff_ffff_c020_0000u64,
    );
    let mut h = vec![0u8; 16];
    h[0..8].copy_from_slice(&(m1 + 8).to_le_bytes());
    m.put(head, &h);
    module(
        &mut m,
        m1,
        m2 + 8,
        head,
        "hangmod",
        0,
        0xffff_ffff_c100_0000,
    );
    module(
        &mut m,
        m2,
        m3 + 8,
        m1 + 8,
        "forming",
        3,
        0xffff_ffff_c200_0000,
    );
    module(
        &mut m,
        m3,
        head,
        m2 + 8,
        "qemu_fw_cfg",
        0,
        0xffff_ffff_c300_0000,
    );
    let mut t = Kallsyms::from_memory(&m, a).unwrap().into_table();
    let n = t.add_modules_at(&m, &layout(), head).unwrap();
    assert_eq!(n, 3);
    let names: Vec<_> = t
        .modules()
        .iter()
        .map(|x| (x.name.as_str(), x.symbols))
        .collect();
    assert_eq!(names, [("hangmod", 1), ("qemu_fw_cfg", 1)]);
    let s = t.lookup_in_module("qemu_fw_cfg", "hang_fn1").unwrap();
    assert_eq!(
        (s.addr, s.size, s.kind),
        (0xffff_ffff_c300_0010, Some(0x40), 't')
    );
    assert_eq!(
        t.format_address(0xffff_ffff_c100_0010 + 0x3c),
        "hang_fn1+0x3c/0x40 [hangmod]"
    );
    assert!(t.resolve(0xffff_ffff_c100_0010 + 0x40).is_none());
    assert_eq!(t.module_of(0xffff_ffff_c100_0100).unwrap().name, "hangmod");
    // vmlinux symbols come first for a name both have.
    assert_eq!(t.lookup("hang_fn1").unwrap().module, Some("hangmod"));
    assert!(t.lookup("printk").is_none());

    // A list that loops back on itself is refused.
    module(
        &mut m,
        m3,
        m1 + 8,
        m2 + 8,
        "qemu_fw_cfg",
        0,
        0xffff_ffff_c300_0000,
    );
    let mut t2 = SymbolTable::from(Kallsyms::from_memory(&m, a).unwrap());
    match t2.add_modules_at(&m, &layout(), head) {
        Err(SymbolError::Bad { field, .. }) => assert_eq!(field, "modules list"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn corrupted_tables_never_panic() {
    let (clean, a) = build(AddressEncoding::AbsolutePercpu, &symbols(), STEXT);
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rnd = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..2000 {
        let mut m = Mem(clean.0.clone());
        for _ in 0..(rnd() % 4 + 1) {
            let keys: Vec<u64> = m.0.keys().copied().collect();
            let k = keys[(rnd() as usize) % keys.len()];
            let v = m.0.get_mut(&k).unwrap();
            let i = (rnd() as usize) % v.len();
            v[i] = rnd() as u8;
        }
        if let Ok(k) = Kallsyms::from_memory(&m, a) {
            let t = k.into_table();
            let _ = t.format_address(STEXT + 0x1234);
            let _ = t.lookup("schedule");
        }
    }
}

#[test]
fn early_names_are_found_before_the_table_is_built_with_the_same_addresses() {
    for (enc, syms) in encodings() {
        let (mut m, mut a) = build(enc, &syms, STEXT);
        // As in a kernel, the tables follow one another: the names run up to the next one
        // (here `kallsyms_num_syms`), so the whole names table is read at once, which the
        // quick pass needs.
        let names = m.0.get_mut(&NAMES).expect("names");
        let end = names.len().next_multiple_of(4096) as u64;
        names.resize(end as usize, 0);
        let num = m.0.remove(&NUM).expect("num_syms");
        m.put(NAMES + end, &num);
        a.num_syms = NAMES + end;
        let wanted: Vec<&str> = syms
            .iter()
            .map(|s| s.1.as_str())
            .chain(["no_such_symbol"])
            .collect();
        let (table, early) = Kallsyms::from_memory_and(&m, a, &wanted, |found| found.to_vec());
        let table = table.unwrap_or_else(|e| panic!("{enc}: {e}")).into_table();
        let early = early.unwrap_or_else(|| panic!("{enc}: the quick pass did not run"));
        assert_eq!(early.len(), wanted.len());
        for (name, addr) in wanted.iter().zip(&early) {
            assert_eq!(*addr, table.address_of(name), "{enc} {name}");
        }
        assert_eq!(early.last(), Some(&None), "{enc}: an absent name is None");
    }
}

/// A little-endian ELF64 file with the given sections (name, type, flags) after the null
/// one, then `.symtab` (of `syms`: name, info, section index, value, size), `.strtab` and
/// `.shstrtab`.
fn vmlinux_elf(sections: &[(&str, u32, u64)], syms: &[(&str, u8, u16, u64, u64)]) -> Vec<u8> {
    let mut strtab = vec![0u8];
    let mut symtab = elf_sym(0, 0, 0, 0, 0);
    for &(name, info, shndx, value, size) in syms {
        let at = if name.is_empty() {
            0
        } else {
            strtab.extend_from_slice(name.as_bytes());
            strtab.push(0);
            (strtab.len() - name.len() - 1) as u32
        };
        symtab.extend(elf_sym(at, info, shndx, value, size));
    }
    let mut shstrtab = vec![0u8];
    let mut name_at = |n: &str| {
        shstrtab.extend_from_slice(n.as_bytes());
        shstrtab.push(0);
        (shstrtab.len() - n.len() - 1) as u32
    };
    // (name, type, flags, offset, size, link, info, entsize)
    type Shdr = (u32, u32, u64, u64, u64, u32, u32, u64);
    let mut shdrs: Vec<Shdr> = vec![(0, 0, 0, 0, 0, 0, 0, 0)];
    for &(n, ty, flags) in sections {
        shdrs.push((name_at(n), ty, flags, 0, 0, 0, 0, 0));
    }
    let (symtab_name, strtab_name, shstrtab_name) =
        (name_at(".symtab"), name_at(".strtab"), name_at(".shstrtab"));
    let symtab_off = 64u64;
    let strtab_off = symtab_off + symtab.len() as u64;
    let shstrtab_off = strtab_off + strtab.len() as u64;
    let shoff = (shstrtab_off + shstrtab.len() as u64).next_multiple_of(8);
    let strtab_idx = shdrs.len() as u32 + 1;
    let n = symtab.len() as u64;
    shdrs.push((symtab_name, 2, 0, symtab_off, n, strtab_idx, 1, 24));
    shdrs.push((strtab_name, 3, 0, strtab_off, strtab.len() as u64, 0, 0, 0));
    shdrs.push((
        shstrtab_name,
        3,
        0,
        shstrtab_off,
        shstrtab.len() as u64,
        0,
        0,
        0,
    ));

    let mut f = Vec::new();
    f.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&0u64.to_le_bytes()); // entry
    f.extend_from_slice(&0u64.to_le_bytes()); // phoff
    f.extend_from_slice(&shoff.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes()); // flags
    for h in [64u16, 56, 0, 64, shdrs.len() as u16, shdrs.len() as u16 - 1] {
        f.extend_from_slice(&h.to_le_bytes());
    }
    f.extend_from_slice(&symtab);
    f.extend_from_slice(&strtab);
    f.extend_from_slice(&shstrtab);
    f.resize(shoff as usize, 0);
    for (name, ty, flags, off, size, link, info, entsize) in shdrs {
        f.extend_from_slice(&name.to_le_bytes());
        f.extend_from_slice(&ty.to_le_bytes());
        f.extend_from_slice(&flags.to_le_bytes());
        f.extend_from_slice(&0u64.to_le_bytes()); // addr
        f.extend_from_slice(&off.to_le_bytes());
        f.extend_from_slice(&size.to_le_bytes());
        f.extend_from_slice(&link.to_le_bytes());
        f.extend_from_slice(&info.to_le_bytes());
        f.extend_from_slice(&8u64.to_le_bytes());
        f.extend_from_slice(&entsize.to_le_bytes());
    }
    f
}

#[test]
fn a_vmlinux_symtab_is_read_relocated_and_ordered_like_kallsyms() {
    const TEXT: u64 = 0xffff_ffff_8100_0000;
    const KASLR: u64 = 0x1e0_0000;
    // .text (AX), .data (WA), .bss (WA, NOBITS), .rodata (A): sections 1 to 4.
    let sections = [
        (".text", 1, 0x6),
        (".data", 1, 0x3),
        (".bss", 8, 0x3),
        (".rodata", 1, 0x2),
    ];
    let elf = vmlinux_elf(
        &sections,
        &[
            ("vmlinux.c", 0x04, 0xfff1, 0, 0),           // STT_FILE: left out
            ("", 0x03, 1, TEXT, 0),                      // STT_SECTION: left out
            ("helper", 0x02, 1, TEXT + 0x40, 0x20),      // local function
            ("wsched", 0x22, 1, TEXT + 0x100, 0x40),     // weak alias
            ("__schedule", 0x12, 1, TEXT + 0x100, 0x40), // strong, more underscores
            ("schedule", 0x12, 1, TEXT + 0x100, 0x40),
            ("init_task", 0x11, 2, TEXT + 0x10_0000, 0x2000),
            ("jiffies", 0x11, 3, TEXT + 0x20_0000, 8),
            ("linux_banner", 0x11, 4, TEXT + 0x30_0000, 0x80),
            ("vobj", 0x21, 2, TEXT + 0x10_4000, 8),
            ("__abs_const", 0x10, 0xfff1, 0x1234, 0),
            ("runqueues", 0x11, 2, 0x2a000, 0x1000), // per-CPU offset
            ("printk", 0x12, 0, 0, 0),               // undefined: left out
        ],
    );
    let t = SymbolTable::from_elf(&elf, "vmlinux-test", KASLR).unwrap();
    assert_eq!(t.len(), 10);
    let kind = |n: &str| t.lookup(n).unwrap_or_else(|| panic!("{n}")).kind;
    for (name, want) in [
        ("helper", 't'),
        ("schedule", 'T'),
        ("__schedule", 'T'),
        ("wsched", 'W'),
        ("init_task", 'D'),
        ("jiffies", 'B'),
        ("linux_banner", 'R'),
        ("vobj", 'V'),
        ("__abs_const", 'A'),
        ("runqueues", 'D'),
    ] {
        assert_eq!(kind(name), want, "{name}");
    }
    for gone in ["vmlinux.c", "printk", ""] {
        assert!(t.lookup(gone).is_none(), "{gone:?}");
    }
    // Kernel image addresses move by the KASLR offset; per-CPU offsets and constants do not.
    assert_eq!(t.address_of("schedule"), Some(TEXT + 0x100 + KASLR));
    assert_eq!(t.address_of("init_task"), Some(TEXT + 0x10_0000 + KASLR));
    assert_eq!(t.address_of("runqueues"), Some(0x2a000));
    assert_eq!(t.address_of("__abs_const"), Some(0x1234));
    // Aliases as scripts/kallsyms sorts them: strong before weak, fewer underscores first.
    let r = t.resolve(TEXT + 0x105 + KASLR).unwrap();
    assert_eq!((r.symbol.name, r.offset, r.size), ("schedule", 5, 0x40));
    assert_eq!(r.to_string(), "schedule+0x5/0x40");
    assert_eq!(t.lookup("schedule").unwrap().size, Some(0x40));
    assert_eq!(t.format_address(TEXT + 0x41 + KASLR), "helper+0x1/0x20");

    // Not an ELF file, and an ELF file without a symtab, are refused with the file's name.
    let e = SymbolTable::from_elf(b"not an ELF file at all, just text", "junk", 0).unwrap_err();
    assert!(e.to_string().contains("junk"), "{e}");
    // Stripped: the .symtab section header made SHT_NULL.
    let mut stripped = elf.clone();
    let shoff = u64::from_le_bytes(stripped[40..48].try_into().unwrap()) as usize;
    let symtab_type = shoff + 64 * (sections.len() + 1) + 4;
    stripped[symtab_type..symtab_type + 4].copy_from_slice(&0u32.to_le_bytes());
    let e = SymbolTable::from_elf(&stripped, "stripped", 0).unwrap_err();
    assert!(e.to_string().contains("no symbol table"), "{e}");
}
