//! Writes the seed corpus of every fuzz target, `fuzz/corpus/<target>/seed-*`, from the
//! committed fixtures: small files cut from real data (headers, notes, a few pages, a prefix
//! of the kallsyms tables, type closures of the BTF, the last log records), never whole dumps.
//!
//! `cargo run --release -p holdup-fuzz-targets --example make_seeds` (`just fuzz-seeds`).
//! Needs the unpacked 6.1 ELF fixture for the ELF seeds: run the e2e tests once
//! (`target/fixtures/`), or pass its path as the first argument.

use holdup_dump::{Dump, PageState, PhysicalMemory};
use holdup_fuzz_targets::parsers::{FAKE_BASE, elf_with_notes};
use holdup_kernel::sysinfo::kernel_log;
use holdup_kernel::{Kernel, OpenOptions};
use holdup_vmcoreinfo::VmcoreInfo;
use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn write_seed(target: &str, name: &str, data: &[u8]) {
    let dir = root().join("fuzz/corpus").join(target);
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(format!("seed-{name}"));
    std::fs::write(&p, data).unwrap();
    println!("{:>8} {}", data.len(), p.display());
}

fn u32le(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn u64le(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}
fn put32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(b: &mut [u8], o: usize, v: u64) {
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
}

/// A tiny deterministic generator (seeds must not change from run to run).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 16
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Comp {
    None,
    Zlib,
    Lzo,
    Snappy,
    Zstd,
}

fn compress(c: Comp, page: &[u8]) -> (Vec<u8>, u32) {
    match c {
        Comp::None => (page.to_vec(), 0),
        Comp::Zlib => {
            let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(page).unwrap();
            (e.finish().unwrap(), 1)
        }
        Comp::Lzo => (lzokay_native::compress(page).unwrap(), 2),
        Comp::Snappy => (snap::raw::Encoder::new().compress_vec(page).unwrap(), 4),
        Comp::Zstd => (zstd::bulk::compress(page, 3).unwrap(), 0x20),
    }
}

/// Options of a small kdump-compressed file.
struct MiniKdump {
    comp: Comp,
    version: i32,
    two_bitmaps: bool,
    incomplete: bool,
}

/// A kdump-compressed file with the real headers, notes and VMCOREINFO of `file`, a bitmap
/// of 32768 pfns and the given pages.
fn mini_kdump(file: &[u8], pages: &[(u64, Vec<u8>)], o: &MiniKdump) -> Vec<u8> {
    const BS: usize = 4096;
    let sh = &file[BS..BS + 104];
    let (vi_off, vi_size) = (u64le(sh, 32) as usize, u64le(sh, 40) as usize);
    let (note_off, note_size) = (u64le(sh, 48) as usize, u64le(sh, 56) as usize);
    let notes = &file[note_off..note_off + note_size];
    let vmcoreinfo = &file[vi_off..vi_off + vi_size];
    let mut f = vec![0u8; BS];
    f[..464].copy_from_slice(&file[..464]);
    let mut sub = sh.to_vec();
    let notes_at = BS + 104;
    let vi_at = notes_at + notes.len();
    let sub_end = vi_at + vmcoreinfo.len();
    let sub_blocks = (sub_end - BS).div_ceil(BS);
    put64(&mut sub, 32, vi_at as u64);
    put64(&mut sub, 48, notes_at as u64);
    let nbits: u64 = 8 * BS as u64;
    put64(&mut sub, 96, nbits);
    f.extend_from_slice(&sub);
    f.extend_from_slice(notes);
    f.extend_from_slice(vmcoreinfo);
    f.resize(BS * (1 + sub_blocks), 0);
    let mut status = compress(o.comp, &[0; 16]).1;
    if o.incomplete {
        status |= 0x8;
    }
    put32(&mut f, 8, o.version as u32);
    put32(&mut f, 424, status);
    put32(&mut f, 432, sub_blocks as u32);
    put32(&mut f, 436, if o.two_bitmaps { 2 } else { 1 });
    put32(&mut f, 440, nbits as u32);
    let mut bm1 = vec![0u8; BS];
    let mut bm2 = vec![0u8; BS];
    for (pfn, _) in pages {
        bm1[(pfn / 8) as usize] |= 1 << (pfn % 8);
        bm2[(pfn / 8) as usize] |= 1 << (pfn % 8);
    }
    // Some RAM that was filtered out: in the 1st bitmap only.
    for pfn in (1..nbits).step_by(97) {
        bm1[(pfn / 8) as usize] |= 1 << (pfn % 8);
    }
    if o.two_bitmaps {
        f.extend_from_slice(&bm1);
    }
    f.extend_from_slice(&bm2);
    let desc_at = f.len();
    let mut data_at = desc_at + 24 * pages.len();
    let mut descs = Vec::new();
    let mut data = Vec::new();
    for (i, (_, page)) in pages.iter().enumerate() {
        let (c, flags) = compress(o.comp, page);
        let mut d = [0u8; 24];
        // An incomplete dump: the last pages were never written.
        if !(o.incomplete && i + 3 >= pages.len()) {
            put64(&mut d, 0, data_at as u64);
            put32(&mut d, 8, c.len() as u32);
            put32(&mut d, 12, flags);
        }
        descs.extend_from_slice(&d);
        data_at += c.len();
        data.extend_from_slice(&c);
    }
    f.extend_from_slice(&descs);
    f.extend_from_slice(&data);
    f
}

fn kdump_seeds(kdump_path: &Path) -> Vec<u8> {
    let file = std::fs::read(kdump_path).unwrap();
    let d = Dump::open(kdump_path).unwrap();
    // A few present pages below 128 MiB, spread out.
    let present: Vec<u64> = (0..32768)
        .filter(|&p| d.page_state(p) == PageState::Present)
        .collect();
    let step = (present.len() / 12).max(1);
    let pages: Vec<(u64, Vec<u8>)> = present
        .iter()
        .step_by(step)
        .take(12)
        .map(|&pfn| {
            let mut b = vec![0u8; 4096];
            d.read_phys(pfn * 4096, &mut b).unwrap();
            (pfn, b)
        })
        .collect();
    let base = MiniKdump {
        comp: Comp::Zlib,
        version: 6,
        two_bitmaps: true,
        incomplete: false,
    };
    let zlib = mini_kdump(&file, &pages, &base);
    write_seed("kdump", "zlib-v6", &zlib);
    for (name, comp) in [
        ("lzo", Comp::Lzo),
        ("snappy", Comp::Snappy),
        ("zstd", Comp::Zstd),
        ("raw", Comp::None),
    ] {
        let f = mini_kdump(&file, &pages[..6], &MiniKdump { comp, ..base });
        write_seed("kdump", name, &f);
    }
    let f = mini_kdump(
        &file,
        &pages[..6],
        &MiniKdump {
            incomplete: true,
            ..base
        },
    );
    write_seed("kdump", "incomplete", &f);
    let f = mini_kdump(
        &file,
        &pages[..4],
        &MiniKdump {
            version: 1,
            two_bitmaps: false,
            ..base
        },
    );
    write_seed("kdump", "v1-one-bitmap", &f);
    // Cut in the page descriptors, as a copy that stopped early.
    let bitmaps_end = 4096 * (1 + u32le(&zlib, 432) as usize + u32le(&zlib, 436) as usize);
    write_seed(
        "kdump",
        "cut-in-descriptors",
        &zlib[..bitmaps_end + 24 * 3 + 5],
    );
    zlib
}

/// Flattened records of `file`: chunks in a shuffled order, one overlapping, an end marker.
fn flat_records(file: &[u8], seed: u64, end: bool) -> Vec<u8> {
    let mut rng = Lcg(seed);
    let mut chunks = Vec::new();
    let mut off = 0usize;
    while off < file.len() {
        let n = (512 + rng.next() as usize % 4096).min(file.len() - off);
        chunks.push((off, n));
        off += n;
    }
    for i in (1..chunks.len()).rev() {
        if rng.next() % 3 == 0 {
            let j = rng.next() as usize % (i + 1);
            chunks.swap(i, j);
        }
    }
    // A later record rewriting part of an earlier one with the same bytes.
    chunks.push((100, 200));
    let mut out = Vec::new();
    for (o, n) in chunks {
        out.extend_from_slice(&(o as i64).to_be_bytes());
        out.extend_from_slice(&(n as i64).to_be_bytes());
        out.extend_from_slice(&file[o..o + n]);
    }
    if end {
        out.extend_from_slice(&(-1i64).to_be_bytes());
        out.extend_from_slice(&(-1i64).to_be_bytes());
    }
    out
}

fn elf_seeds(elf_path: &Path) -> Option<Vec<u8>> {
    let file = std::fs::read(elf_path).ok()?;
    let phoff = u64le(&file, 32) as usize;
    let phnum = u16::from_le_bytes([file[56], file[57]]) as usize;
    let mut notes = None;
    let mut loads = Vec::new();
    for i in 0..phnum {
        let p = &file[phoff + 56 * i..phoff + 56 * (i + 1)];
        let (ty, off, filesz) = (u32le(p, 0), u64le(p, 8) as usize, u64le(p, 32) as usize);
        if ty == 4 {
            notes = Some(file[off..off + filesz].to_vec());
        } else if ty == 1 {
            loads.push(p.to_vec());
        }
    }
    let notes = notes?;
    write_seed("elf_notes", "kdump-6.1", &notes);
    // A QEMU CPU state note after the kdump ones.
    let mut q = notes.clone();
    let mut desc = vec![0u8; 8 + 18 * 8 + 10 * 24 + 5 * 8 + 8];
    put32(&mut desc, 0, 1);
    let len = desc.len() as u32;
    put32(&mut desc, 4, len);
    put64(&mut desc, 8 + 18 * 8 + 10 * 24 + 24, 0x1234000);
    q.extend_from_slice(&5u32.to_le_bytes());
    q.extend_from_slice(&len.to_le_bytes());
    q.extend_from_slice(&0u32.to_le_bytes());
    q.extend_from_slice(b"QEMU\0\0\0\0");
    q.extend_from_slice(&desc);
    write_seed("elf_notes", "qemu", &q);
    write_seed("elf", "notes-only", &elf_with_notes(&notes));

    // The real headers with the first PT_LOADs cut to two pages of data each (plus an
    // excluded tail), and the kernel text segment.
    let mut picked: Vec<Vec<u8>> = loads
        .iter()
        .filter(|p| u64le(p, 16) < 0xffff_ffff_8000_0000)
        .take(3)
        .cloned()
        .collect();
    if let Some(k) = loads.iter().find(|p| u64le(p, 16) >= 0xffff_ffff_8000_0000) {
        picked.push(k.clone());
    }
    let n = 1 + picked.len();
    let mut f = file[..64].to_vec();
    f[56..58].copy_from_slice(&(n as u16).to_le_bytes());
    put64(&mut f, 32, 64);
    let data_start = 64 + 56 * n;
    let mut body = notes.clone();
    let mut phdrs = Vec::new();
    let mut note_ph = vec![0u8; 56];
    put32(&mut note_ph, 0, 4);
    put64(&mut note_ph, 8, data_start as u64);
    put64(&mut note_ph, 32, notes.len() as u64);
    put64(&mut note_ph, 40, notes.len() as u64);
    phdrs.extend_from_slice(&note_ph);
    for p in &picked {
        let mut p = p.clone();
        let (off, filesz) = (u64le(&p, 8) as usize, u64le(&p, 32) as usize);
        let keep = filesz.min(8192);
        put64(&mut p, 8, (data_start + body.len()) as u64);
        put64(&mut p, 32, keep as u64);
        put64(&mut p, 40, keep as u64 + 4096);
        body.extend_from_slice(&file[off..off + keep]);
        phdrs.extend_from_slice(&p);
    }
    f.extend_from_slice(&phdrs);
    f.extend_from_slice(&body);
    write_seed("elf", "mini-6.1", &f);
    Some(f)
}

fn vmcoreinfo_seeds() {
    for k in ["6.1", "6.12"] {
        let t = std::fs::read(root().join(format!("dumps/fixtures/{k}/vmcoreinfo.txt"))).unwrap();
        write_seed("vmcoreinfo", k, &t);
    }
    write_seed(
        "vmcoreinfo",
        "odd",
        b"OSRELEASE=6.1.0\nPAGESIZE=4096\nPAGESIZE=8192\nSYMBOL(_stext)=zz\nNUMBER(phys_base)=-16777216\n\
          NUMBER(VMALLOC_START)=0xffffc90000000000\nno equals sign\nKERNELOFFSET=1a000000\nSYMBOL(init_top_pgt)=ffffffff9c610000\n\
          OFFSET(x)=99999999999999999999999\r\nCRASHTIME=1700000000\n\0trailing",
    );
}

/// The `kallsyms` target's blob: a prefix of the real tables (the symbols up to a little
/// past `_stext`), with the relative base moved so the self-check expects FAKE_BASE + 1 MiB.
fn kallsyms_seed(k: &Kernel, name: &str) {
    let vi = k.vmcoreinfo();
    let sym = |n: &str| vi.symbol(n).unwrap().unwrap();
    let mem = k.mem();
    let num = mem.read_u32(sym("kallsyms_num_syms")).unwrap() as usize;
    let index = mem.read_vec(sym("kallsyms_token_index"), 512).unwrap();
    let idx: Vec<usize> = index
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]) as usize)
        .collect();
    let max = *idx.iter().max().unwrap();
    let table = mem
        .read_vec(sym("kallsyms_token_table"), max + 300)
        .unwrap();
    let tlen = max + table[max..].iter().position(|&b| b == 0).unwrap() + 1;
    let table = &table[..tlen];
    let token = |t: u8| {
        let s = &table[idx[t as usize]..];
        &s[..s.iter().position(|&b| b == 0).unwrap()]
    };
    // Decode names until a little after _stext.
    let names_addr = sym("kallsyms_names");
    let names = mem.read_vec(names_addr, 4 << 20).unwrap();
    let (mut pos, mut stext_idx, mut count) = (0usize, None, 0usize);
    let (mut expanded, mut markers) = (Vec::new(), Vec::new());
    while count < num {
        if count % 256 == 0 {
            markers.extend_from_slice(&(pos as u32).to_le_bytes());
        }
        let mut len = names[pos] as usize;
        pos += 1;
        if len & 0x80 != 0 {
            len = (len & 0x7f) | ((names[pos] as usize) << 7);
            pos += 1;
        }
        let mut s = Vec::new();
        for &t in &names[pos..pos + len] {
            s.extend_from_slice(token(t));
        }
        pos += len;
        count += 1;
        expanded.push(s[1..].to_vec());
        if stext_idx.is_none() && &s[1..] == b"_stext" {
            stext_idx = Some(count - 1);
        }
        if let Some(si) = stext_idx
            && count >= si + 48
        {
            break;
        }
    }
    let n = count;
    let names = &names[..pos];
    let offsets = mem.read_vec(sym("kallsyms_offsets"), 4 * n).unwrap();
    let base = mem.read_u64(sym("kallsyms_relative_base")).unwrap();
    let stext_want = FAKE_BASE + 0x10_0000;
    let base = base.wrapping_add(stext_want.wrapping_sub(sym("_stext")));

    let mut blob = vec![0u8; 32];
    let place = |blob: &mut Vec<u8>, bytes: &[u8]| -> u32 {
        while blob.len() % 8 != 0 {
            blob.push(0);
        }
        let at = blob.len() as u32;
        blob.extend_from_slice(bytes);
        at
    };
    let h_num = place(&mut blob, &(n as u32).to_le_bytes());
    let h_index = place(&mut blob, &index);
    let h_table = place(&mut blob, table);
    let h_base = place(&mut blob, &base.to_le_bytes());
    let h_offsets = place(&mut blob, &offsets);
    let h_names = place(&mut blob, names);
    for (i, v) in [
        h_names, h_num, h_table, h_index, h_offsets, h_base, 0x10_0000,
    ]
    .into_iter()
    .enumerate()
    {
        put32(&mut blob, 4 * i, v);
    }
    write_seed("kallsyms", name, &blob);

    // The same symbols laid out as 6.1.y lays them out, searchable by name
    // (`KallsymsByName`): names, markers, sequence numbers in name order, token table and
    // index.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| expanded[a].cmp(&expanded[b]).then(a.cmp(&b)));
    let seqs: Vec<u8> = order
        .iter()
        .flat_map(|&i| [(i >> 16) as u8, (i >> 8) as u8, i as u8])
        .collect();
    let mut blob = vec![0u8; 32];
    let h_base = place(&mut blob, &base.to_le_bytes());
    let h_offsets = place(&mut blob, &offsets);
    let h_num = place(&mut blob, &(n as u32).to_le_bytes());
    let h_names = place(&mut blob, names);
    place(&mut blob, &markers);
    place(&mut blob, &seqs);
    let h_table = place(&mut blob, table);
    let h_index = place(&mut blob, &index);
    for (i, v) in [
        h_names, h_num, h_table, h_index, h_offsets, h_base, 0x10_0000,
    ]
    .into_iter()
    .enumerate()
    {
        put32(&mut blob, 4 * i, v);
    }
    write_seed("kallsyms", &format!("{name}-by-name"), &blob);
}

// BTF kinds.
const INT: u32 = 1;
const PTR: u32 = 2;
const ARRAY: u32 = 3;
const STRUCT: u32 = 4;
const UNION: u32 = 5;
const ENUM: u32 = 6;
const FWD: u32 = 7;
const FUNC_PROTO: u32 = 13;
const VAR: u32 = 14;
const DATASEC: u32 = 15;
const DECL_TAG: u32 = 17;
const ENUM64: u32 = 19;

struct RawType {
    name_off: u32,
    info: u32,
    size_or_type: u32,
    extra: Vec<u8>,
}

impl RawType {
    fn kind(&self) -> u32 {
        (self.info >> 24) & 0x1f
    }
    fn vlen(&self) -> usize {
        (self.info & 0xffff) as usize
    }
    /// Byte positions in `extra` holding type ids, and whether `size_or_type` is one.
    fn refs(&self) -> (bool, Vec<usize>) {
        let v = self.vlen();
        match self.kind() {
            INT | ENUM | FWD | ENUM64 | 16 => (false, vec![]),
            STRUCT | UNION => (false, (0..v).map(|i| 12 * i + 4).collect()),
            ARRAY => (false, vec![0, 4]),
            FUNC_PROTO => (true, (0..v).map(|i| 8 * i + 4).collect()),
            DATASEC => (false, (0..v).map(|i| 12 * i).collect()),
            _ => (true, vec![]),
        }
    }
}

fn extra_len(kind: u32, vlen: usize) -> usize {
    match kind {
        INT | VAR | DECL_TAG => 4,
        ARRAY => 12,
        STRUCT | UNION | DATASEC | ENUM64 => 12 * vlen,
        ENUM | FUNC_PROTO => 8 * vlen,
        _ => 0,
    }
}

/// The transitive closure of the named types in a BTF blob, renumbered, with pointers to
/// other structs and unions replaced by pointers to forward declarations of them.
fn btf_closure(data: &[u8], roots: &[&str]) -> Vec<u8> {
    let hdr_len = u32le(data, 4) as usize;
    let (type_off, type_len) = (u32le(data, 8) as usize, u32le(data, 12) as usize);
    let (str_off, str_len) = (u32le(data, 16) as usize, u32le(data, 20) as usize);
    let types_b = &data[hdr_len + type_off..hdr_len + type_off + type_len];
    let strs = &data[hdr_len + str_off..hdr_len + str_off + str_len];
    let name = |off: u32| {
        let s = &strs[off as usize..];
        &s[..s.iter().position(|&b| b == 0).unwrap()]
    };
    let mut types = vec![RawType {
        name_off: 0,
        info: 0,
        size_or_type: 0,
        extra: vec![],
    }];
    let mut p = 0;
    while p < types_b.len() {
        let info = u32le(types_b, p + 4);
        let n = extra_len((info >> 24) & 0x1f, (info & 0xffff) as usize);
        types.push(RawType {
            name_off: u32le(types_b, p),
            info,
            size_or_type: u32le(types_b, p + 8),
            extra: types_b[p + 12..p + 12 + n].to_vec(),
        });
        p += 12 + n;
    }
    let mut root_ids = Vec::new();
    for r in roots {
        let (kind, n) = match r.strip_prefix("enum ") {
            Some(n) => (ENUM, n),
            None => (STRUCT, *r),
        };
        if let Some(i) = types.iter().position(|t| {
            (t.kind() == kind || (kind == ENUM && t.kind() == ENUM64) || t.kind() == UNION)
                && name(t.name_off) == n.as_bytes()
        }) {
            root_ids.push(i as u32);
        }
    }
    // old id -> new id; new types in order.
    let mut map: HashMap<u32, u32> = HashMap::from([(0, 0)]);
    let mut fwd: HashMap<u32, u32> = HashMap::new();
    let mut out: Vec<(u32, RawType)> = Vec::new(); // (old id or u32::MAX for a fwd, type)
    let mut queue: VecDeque<u32> = VecDeque::new();
    let add = |old: u32,
               map: &mut HashMap<u32, u32>,
               out: &mut Vec<(u32, RawType)>,
               queue: &mut VecDeque<u32>|
     -> u32 {
        if let Some(&n) = map.get(&old) {
            return n;
        }
        if out.len() >= 4000 {
            return 0;
        }
        let t = &types[old as usize];
        let n = out.len() as u32 + 1;
        map.insert(old, n);
        out.push((
            old,
            RawType {
                name_off: t.name_off,
                info: t.info,
                size_or_type: t.size_or_type,
                extra: t.extra.clone(),
            },
        ));
        queue.push_back(old);
        n
    };
    for &r in &root_ids {
        add(r, &mut map, &mut out, &mut queue);
    }
    while let Some(old) = queue.pop_front() {
        let new = map[&old] as usize - 1;
        let t = &types[old as usize];
        let (sot, refs) = t.refs();
        if sot {
            let target = t.size_or_type;
            let tk = types.get(target as usize).map(|t| t.kind());
            let v = if t.kind() == PTR
                && matches!(tk, Some(STRUCT) | Some(UNION))
                && !root_ids.contains(&target)
            {
                // A forward declaration instead of the whole pointee.
                match fwd.get(&target) {
                    Some(&f) => f,
                    None => {
                        let f = out.len() as u32 + 1;
                        let tt = &types[target as usize];
                        let union = u32::from(tt.kind() == UNION) << 31;
                        out.push((
                            u32::MAX,
                            RawType {
                                name_off: tt.name_off,
                                info: (FWD << 24) | union,
                                size_or_type: 0,
                                extra: vec![],
                            },
                        ));
                        fwd.insert(target, f);
                        f
                    }
                }
            } else {
                add(target, &mut map, &mut out, &mut queue)
            };
            out[new].1.size_or_type = v;
        }
        for at in refs {
            let target = u32le(&types[old as usize].extra, at);
            let v = add(target, &mut map, &mut out, &mut queue);
            put32(&mut out[new].1.extra, at, v);
        }
    }
    // Strings: only the names used, and member/enumerator names.
    let mut new_strs = vec![0u8];
    let mut str_map: HashMap<u32, u32> = HashMap::from([(0, 0)]);
    let mut s = |off: u32, new_strs: &mut Vec<u8>| -> u32 {
        *str_map.entry(off).or_insert_with(|| {
            let at = new_strs.len() as u32;
            new_strs.extend_from_slice(name(off));
            new_strs.push(0);
            at
        })
    };
    let mut tb = Vec::new();
    for (_, t) in &mut out {
        t.name_off = s(t.name_off, &mut new_strs);
        let v = t.vlen();
        let stride = match t.kind() {
            STRUCT | UNION | ENUM64 => 12,
            ENUM | FUNC_PROTO => 8,
            _ => 0,
        };
        if stride > 0 {
            for i in 0..v {
                let o = u32le(&t.extra, stride * i);
                let n = s(o, &mut new_strs);
                put32(&mut t.extra, stride * i, n);
            }
        }
        tb.extend_from_slice(&t.name_off.to_le_bytes());
        tb.extend_from_slice(&t.info.to_le_bytes());
        tb.extend_from_slice(&t.size_or_type.to_le_bytes());
        tb.extend_from_slice(&t.extra);
    }
    let mut blob = data[..24].to_vec();
    put32(&mut blob, 4, 24);
    put32(&mut blob, 8, 0);
    put32(&mut blob, 12, tb.len() as u32);
    put32(&mut blob, 16, tb.len() as u32);
    put32(&mut blob, 20, new_strs.len() as u32);
    blob.extend_from_slice(&tb);
    blob.extend_from_slice(&new_strs);
    blob
}

fn btf_seeds(k: &Kernel, name: &str) {
    let btf = holdup_symbols::kernel_btf(k.mem(), &k.symbols).unwrap();
    let data = btf.data();
    let sets: &[(&str, &[&str])] = &[
        (
            "locks",
            &[
                "list_head",
                "mutex",
                "rw_semaphore",
                "semaphore",
                "completion",
            ],
        ),
        (
            "pages",
            &["page", "folio", "enum pageflags", "wait_page_queue"],
        ),
        ("task", &["task_struct"]),
        (
            "module",
            &[
                "module",
                "mod_kallsyms",
                "orc_entry",
                "enum mod_mem_type",
                "xa_node",
            ],
        ),
    ];
    for (set, roots) in sets {
        write_seed("btf", &format!("{name}-{set}"), &btf_closure(data, roots));
    }
}

/// A small printk ring (32 descriptors, 4 KiB of text) holding the last records of the log,
/// laid out as the 6.1 fixture's VMCOREINFO describes, at FAKE_BASE.
fn printk_seed(k: &Kernel) {
    let log = kernel_log(k).unwrap();
    let vi = VmcoreInfo::parse(holdup_fuzz_targets::parsers::FIXTURE_VMCOREINFO);
    let o = |key: &str| vi.get(key).unwrap().trim().parse::<usize>().unwrap();
    let (count_bits, size_bits) = (5u32, 12u32);
    let (count, size) = (1usize << count_bits, 1usize << size_bits);
    let desc_size = o("SIZE(prb_desc)");
    let info_size = o("SIZE(printk_info)");
    let descs = 0x100;
    let infos = descs + count * desc_size;
    let data = (infos + count * info_size).next_multiple_of(4096);
    let mut blob = vec![0u8; data + size];
    let rb = o("OFFSET(printk_ringbuffer.desc_ring)");
    let tr = o("OFFSET(printk_ringbuffer.text_data_ring)");
    put32(
        &mut blob,
        rb + o("OFFSET(prb_desc_ring.count_bits)"),
        count_bits,
    );
    put64(
        &mut blob,
        rb + o("OFFSET(prb_desc_ring.descs)"),
        FAKE_BASE + descs as u64,
    );
    put64(
        &mut blob,
        rb + o("OFFSET(prb_desc_ring.infos)"),
        FAKE_BASE + infos as u64,
    );
    put32(
        &mut blob,
        tr + o("OFFSET(prb_data_ring.size_bits)"),
        size_bits,
    );
    put64(
        &mut blob,
        tr + o("OFFSET(prb_data_ring.data)"),
        FAKE_BASE + data as u64,
    );
    // The newest records that fit.
    let mut recs = Vec::new();
    let mut used = 0;
    for r in log.records.iter().rev() {
        let block = (8 + r.text.len()).next_multiple_of(8);
        if recs.len() == count - 1 || used + block > size {
            break;
        }
        used += block;
        recs.push(r);
    }
    recs.reverse();
    let first_id = 0x1000u64 + 3;
    let mut lpos = 0usize;
    for (i, r) in recs.iter().enumerate() {
        let id = first_id + i as u64;
        let idx = (id as usize) & (count - 1);
        let d = descs + idx * desc_size;
        put64(
            &mut blob,
            d + o("OFFSET(prb_desc.state_var)"),
            (2u64 << 62) | id,
        );
        let lp = d + o("OFFSET(prb_desc.text_blk_lpos)");
        let block = (8 + r.text.len()).next_multiple_of(8);
        put64(
            &mut blob,
            lp + o("OFFSET(prb_data_blk_lpos.begin)"),
            lpos as u64,
        );
        put64(
            &mut blob,
            lp + o("OFFSET(prb_data_blk_lpos.next)"),
            (lpos + block) as u64,
        );
        put64(&mut blob, data + lpos, id);
        blob[data + lpos + 8..data + lpos + 8 + r.text.len()].copy_from_slice(r.text.as_bytes());
        lpos += block;
        let inf = infos + idx * info_size;
        put64(&mut blob, inf + o("OFFSET(printk_info.seq)"), r.seq);
        put64(&mut blob, inf + o("OFFSET(printk_info.ts_nsec)"), r.ts_nsec);
        let tl = o("OFFSET(printk_info.text_len)");
        blob[inf + tl..inf + tl + 2].copy_from_slice(&(r.text.len() as u16).to_le_bytes());
        blob[inf + tl + 3] = r.level << 5;
        put32(
            &mut blob,
            inf + o("OFFSET(printk_info.caller_id)"),
            r.caller_id,
        );
    }
    let head = first_id + recs.len() as u64 - 1;
    put64(&mut blob, rb + o("OFFSET(prb_desc_ring.head_id)"), head);
    put64(&mut blob, rb + o("OFFSET(prb_desc_ring.tail_id)"), first_id);
    write_seed("printk", "last-records-6.1", &blob);
}

fn patch_seeds() {
    for target in ["analysis", "orc"] {
        let mut rng = Lcg(0x5eed ^ target.len() as u64);
        write_seed(target, "empty", &[]);
        for s in 0..6 {
            let mut d = Vec::new();
            if target == "analysis" {
                d.push(if s == 5 { 7 } else { 0 });
            }
            for _ in 0..(2 + s * 2) {
                let op = (rng.next() % 4) as u8;
                d.push(op);
                d.extend_from_slice(&(rng.next() as u16).to_le_bytes());
                d.extend_from_slice(&((rng.next() as u16) & 0xff8).to_le_bytes());
                match op {
                    0 => {
                        d.push(8);
                        d.extend_from_slice(&rng.next().to_le_bytes());
                    }
                    1 => d.extend_from_slice(&rng.next().to_le_bytes()),
                    2 => {
                        d.extend_from_slice(&(rng.next() as u16).to_le_bytes());
                        d.push(rng.next() as u8);
                    }
                    _ => d.push(rng.next() as u8),
                }
            }
            write_seed(target, &format!("patch-{s}"), &d);
        }
    }
}

fn main() {
    let fx = root().join("dumps/fixtures");
    let zlib = kdump_seeds(&fx.join("6.1/vmcore.kdump-zlib"));
    write_seed("flattened", "mini-kdump", &flat_records(&zlib, 1, true));
    let cut = 4096 * (1 + u32le(&zlib, 432) as usize + u32le(&zlib, 436) as usize) + 24 * 5;
    write_seed(
        "flattened",
        "mini-kdump-cut",
        &flat_records(&zlib[..cut], 2, false),
    );
    let elf = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/fixtures/6.1-e19bc385a51c-vmcore.elf-d31"));
    match elf_seeds(&elf) {
        Some(mini) => write_seed("flattened", "mini-elf", &flat_records(&mini, 3, true)),
        None => eprintln!(
            "{}: not found: no ELF seeds (run the e2e tests to unpack it)",
            elf.display()
        ),
    }
    vmcoreinfo_seeds();
    for kv in ["6.1", "6.12"] {
        let k = Kernel::open(
            &fx.join(kv).join("vmcore.kdump-zlib"),
            &OpenOptions::default(),
        )
        .unwrap();
        kallsyms_seed(&k, kv);
        btf_seeds(&k, kv);
        if kv == "6.1" {
            printk_seed(&k);
        }
    }
    patch_seeds();
}
