#!/usr/bin/env python3
"""Small, independent reader/writer for the dump formats the generator produces
(layout: docs in shared notes, kernel-facts section 11).

usage:
  kdumptool.py status FILE
      print the kdump header's status word (hex), e.g. 0x1 zlib, 0x2 lzo, 0x4 snappy, 0x20 zstd;
      'elf' for an ELF core, 'flat' for a flattened file.
  kdumptool.py info FILE
      header fields, page-descriptor flag histogram (kdump) or PT_LOAD summary (ELF).
  kdumptool.py reencode {snappy|zstd|zlib|raw} IN OUT
      rewrite a kdump-compressed file with another page compression: header, sub-header,
      notes and bitmaps are copied verbatim (only the status word changes), every page is
      decompressed and compressed again the way makedumpfile does it (snappy raw format,
      zstd level 1, zlib level 1); a page whose compressed form is not smaller than a page is
      stored raw (flags 0). Descriptors that shared data (the zero page) keep sharing it.
  kdumptool.py vmcoreinfo FILE
      print the VMCOREINFO note's text exactly (its descriptor bytes, trailing NUL padding removed).
  kdumptool.py compare REF FILE [FILE...]
      for every pfn FILE holds, check that its bytes equal REF's (REF: the raw ELF vmcore);
      prints counts; exit status 1 on any mismatch. In a kdump file marked incomplete, the
      pages makedumpfile never wrote (descriptor all zeros) are counted, not compared.
  kdumptool.py incomplete FILE
      what a kdump file marked incomplete (status 0x8) holds: pages its 2nd bitmap lists,
      descriptors written (pointing at data in the file) and not, the pfn of the last
      written one and of the first unwritten one, whether the written ones are a prefix.
  kdumptool.py pages FILE PFN...
      print sha256 of each page (or 'absent').
  kdumptool.py sample STRIDE IN OUT
      a small kdump-compressed file holding every STRIDE-th dumped page of IN: header,
      sub-header, notes and 1st bitmap copied, the 2nd bitmap cut down, and each kept page's
      descriptor and compressed bytes copied verbatim (so the bytes are IN's own: e.g.
      makedumpfile's lzo output). Every format of one capture keeps the same pfns.
  kdumptool.py flatten IN OUT
      IN (kdump-compressed) in the flattened format (makedumpfile -F): a 4096-byte header,
      then big-endian {offset, size} records, written out of file order, and the end marker.
  kdumptool.py mask RAW KDUMP OUT
      OUT: a copy of RAW (the raw ELF vmcore) with every page KDUMP does not hold zeroed, i.e.
      KDUMP's memory as an ELF file, for drgn on a kernel whose kdump files it refuses (7.3).
"""
import hashlib
import shutil
import struct
import sys
import zlib

DUMP_DH_COMPRESSED_ZLIB = 0x1
DUMP_DH_COMPRESSED_LZO = 0x2
DUMP_DH_COMPRESSED_SNAPPY = 0x4
DUMP_DH_COMPRESSED_INCOMPLETE = 0x8
DUMP_DH_EXCLUDED_VMEMMAP = 0x10
DUMP_DH_COMPRESSED_ZSTD = 0x20
COMPRESS_MASK = 0x1 | 0x2 | 0x4 | 0x20
FLAG_OF = {"zlib": 0x1, "lzo": 0x2, "snappy": 0x4, "zstd": 0x20, "raw": 0}

PAGE_DESC = struct.Struct("<qIIQ")  # offset, size, flags, page_flags


# --------------------------------------------------------------------------- flattened
class Flat:
    """Random access to a flattened file: maps offsets of the rebuilt file to records."""

    def __init__(self, f):
        self.f = f
        f.seek(0)
        hdr = f.read(4096)
        if not hdr.startswith(b"makedumpfile\0"):
            raise ValueError("not flattened")
        self.recs = []  # (dst_offset, size, file_pos)
        pos = 4096
        while True:
            f.seek(pos)
            o, n = struct.unpack(">qq", f.read(16))
            if o == -1 and n == -1:
                break
            self.recs.append((o, n, pos + 16))
            pos += 16 + n
        self.recs.sort()
        self.starts = [r[0] for r in self.recs]

    def pread(self, off, n):
        import bisect
        out = bytearray(n)
        i = max(bisect.bisect_right(self.starts, off) - 1, 0)
        end = off + n
        while i < len(self.recs) and self.recs[i][0] < end:
            o, size, fpos = self.recs[i]
            lo, hi = max(o, off), min(o + size, end)
            if lo < hi:
                self.f.seek(fpos + lo - o)
                out[lo - off:hi - off] = self.f.read(hi - lo)
            i += 1
        return bytes(out)


class Plain:
    def __init__(self, f):
        self.f = f

    def pread(self, off, n):
        self.f.seek(off)
        return self.f.read(n)


def open_any(path):
    f = open(path, "rb")
    head = f.read(16)
    if head.startswith(b"makedumpfile\0"):
        return "flat", Flat(f)
    return "plain", Plain(f)


# --------------------------------------------------------------------------- kdump
class Kdump:
    def __init__(self, io):
        self.io = io
        h = io.pread(0, 464)
        if h[:8] != b"KDUMP   ":
            raise ValueError("not a kdump-compressed file")
        self.header_raw = h
        (self.header_version,) = struct.unpack_from("<i", h, 8)
        self.utsname = [h[12 + 65 * i:12 + 65 * (i + 1)].split(b"\0")[0].decode() for i in range(6)]
        (self.status, self.block_size, self.sub_hdr_size, self.bitmap_blocks, max_mapnr32) = \
            struct.unpack_from("<IiiII", h, 424)
        bs = self.block_size
        sh = io.pread(bs, 104)
        (self.phys_base, self.dump_level, self.split, self.start_pfn, self.end_pfn,
         self.offset_vmcoreinfo, self.size_vmcoreinfo, self.offset_note, self.size_note,
         self.offset_eraseinfo, self.size_eraseinfo, self.start_pfn_64, self.end_pfn_64,
         self.max_mapnr_64) = struct.unpack("<QiiQQqQqQqQQQQ", sh)
        self.max_mapnr = self.max_mapnr_64 if self.header_version >= 6 else max_mapnr32
        self.bitmap_off = (1 + self.sub_hdr_size) * bs
        blen = self.bitmap_blocks * bs
        bm = io.pread(self.bitmap_off, blen)
        need = -(-(-(-self.max_mapnr // 8)) // bs) * bs
        self.bitmap2 = bm[blen // 2:] if blen >= 2 * need else bm
        self.desc_off = self.bitmap_off + blen
        nbytes = -(-self.max_mapnr // 8)
        self.ndump = sum(bin(b).count("1") for b in self.bitmap2[:nbytes])
        self._index = None

    def dumped(self, pfn):
        return pfn < self.max_mapnr and self.bitmap2[pfn >> 3] >> (pfn & 7) & 1

    def index(self):
        """pfn -> descriptor index."""
        if self._index is None:
            idx, n = {}, 0
            bm = self.bitmap2
            for byte_i in range(-(-self.max_mapnr // 8)):
                b = bm[byte_i]
                if not b:
                    continue
                for bit in range(8):
                    if b >> bit & 1:
                        idx[byte_i * 8 + bit] = n
                        n += 1
            self._index = idx
        return self._index

    def descs(self):
        raw = self.io.pread(self.desc_off, self.ndump * PAGE_DESC.size)
        return [PAGE_DESC.unpack_from(raw, i * PAGE_DESC.size) for i in range(self.ndump)]

    def page(self, pfn, desc=None):
        if desc is None:
            i = self.index().get(pfn)
            if i is None:
                return None
            desc = PAGE_DESC.unpack(self.io.pread(self.desc_off + i * PAGE_DESC.size, PAGE_DESC.size))
        off, size, flags, _ = desc
        return decompress(flags, self.io.pread(off, size), self.block_size)


def decompress(flags, data, page_size):
    if flags & DUMP_DH_COMPRESSED_ZLIB:
        out = zlib.decompress(data)
    elif flags & DUMP_DH_COMPRESSED_LZO:
        try:
            import lzo  # python-lzo, optional
        except ImportError:
            raise RuntimeError("lzo page: python-lzo not installed")
        out = lzo.decompress(data, False, page_size)
    elif flags & DUMP_DH_COMPRESSED_SNAPPY:
        import cramjam
        out = bytes(cramjam.snappy.decompress_raw(data))
    elif flags & DUMP_DH_COMPRESSED_ZSTD:
        import zstandard
        out = zstandard.ZstdDecompressor().decompress(data, max_output_size=page_size)
    else:
        out = data
    if len(out) != page_size:
        raise ValueError(f"page decompressed to {len(out)} bytes")
    return out


def compressor(kind):
    if kind == "zlib":
        return lambda b: zlib.compress(b, 1)
    if kind == "snappy":
        import cramjam
        return lambda b: bytes(cramjam.snappy.compress_raw(b))
    if kind == "zstd":
        import zstandard
        c = zstandard.ZstdCompressor(level=1)
        return c.compress
    if kind == "raw":
        return None
    raise SystemExit(f"unknown compression {kind}")


def reencode(kind, src, dst):
    _, io = open_any(src)
    k = Kdump(io)
    if k.split:
        raise SystemExit("split dumps are not supported")
    bs = k.block_size
    comp = compressor(kind)
    flag = FLAG_OF[kind]
    descs = k.descs()
    data_start = k.desc_off + len(descs) * PAGE_DESC.size
    prefix = bytearray(io.pread(0, k.desc_off))
    status = (k.status & ~COMPRESS_MASK) | flag
    struct.pack_into("<I", prefix, 424, status)
    eraseinfo = b""
    if k.size_eraseinfo:
        eraseinfo = io.pread(k.offset_eraseinfo, k.size_eraseinfo)
    shared = {}  # old (offset, size, flags) -> new descriptor tuple
    stats = {"compressed": 0, "raw": 0, "shared": 0}
    with open(dst, "wb") as out:
        out.write(prefix)
        out.seek(data_start)
        pos = data_start
        new = []
        for d in descs:
            key = d[:3]
            if key in shared:
                new.append(shared[key])
                stats["shared"] += 1
                continue
            page = decompress(d[2], io.pread(d[0], d[1]), bs)
            c = comp(page) if comp else None
            if c is not None and len(c) < bs:
                nd = (pos, len(c), flag, 0)
                out.write(c)
                stats["compressed"] += 1
            else:
                nd = (pos, bs, 0, 0)
                out.write(page)
                stats["raw"] += 1
            pos += nd[1]
            shared[key] = nd
            new.append(nd)
        if eraseinfo:
            out.write(eraseinfo)
            sub = bytearray(prefix[bs:bs + 104])
            struct.pack_into("<q", sub, 64, pos)
            out.seek(bs)
            out.write(sub)
        out.seek(k.desc_off)
        out.write(b"".join(PAGE_DESC.pack(*d) for d in new))
    print(f"reencode {kind}: {len(descs)} descriptors, {stats}", file=sys.stderr)


def sample(stride, src, dst):
    _, io = open_any(src)
    k = Kdump(io)
    if k.split:
        raise SystemExit("split dumps are not supported")
    bs = k.block_size
    descs = k.descs()
    keep = set(range(0, len(descs), stride))
    nbytes = -(-k.max_mapnr // 8)
    blen = k.bitmap_blocks * bs
    need = -(-nbytes // bs) * bs
    bitmap2_off = k.bitmap_off + (blen // 2 if blen >= 2 * need else 0)
    new_bitmap = bytearray(len(k.bitmap2))
    kept_descs = []
    i = 0
    for byte_i in range(nbytes):
        b = k.bitmap2[byte_i]
        for bit in range(8):
            if b >> bit & 1:
                if i in keep:
                    new_bitmap[byte_i] |= 1 << bit
                    kept_descs.append(descs[i])
                i += 1
    prefix = bytearray(io.pread(0, k.desc_off))
    prefix[bitmap2_off:bitmap2_off + len(new_bitmap)] = new_bitmap
    # No eraseinfo in a sample.
    struct.pack_into("<qQ", prefix, bs + 64, 0, 0)
    data_start = k.desc_off + len(kept_descs) * PAGE_DESC.size
    moved = {}
    with open(dst, "wb") as out:
        out.write(prefix)
        out.seek(data_start)
        pos = data_start
        new = []
        for off, size, flags, pf in kept_descs:
            key = (off, size, flags)
            if key not in moved:
                out.write(io.pread(off, size))
                moved[key] = pos
                pos += size
            new.append((moved[key], size, flags, pf))
        out.seek(k.desc_off)
        out.write(b"".join(PAGE_DESC.pack(*d) for d in new))
    print(f"sample 1/{stride}: {len(new)} of {len(descs)} pages", file=sys.stderr)


def flatten(src, dst):
    data = open(src, "rb").read()
    if data[:8] != b"KDUMP   ":
        raise SystemExit("flatten: not a kdump-compressed file")
    header = bytearray(4096)
    header[:16] = b"makedumpfile".ljust(16, b"\0")
    struct.pack_into(">qq", header, 16, 1, 1)  # TYPE_FLAT_HEADER, VERSION_FLAT_HEADER
    chunk = 65536
    pieces = [(o, data[o:o + chunk]) for o in range(0, len(data), chunk)]
    # Like makedumpfile, not in file order: the first block (the header) last.
    pieces = pieces[1:] + pieces[:1]
    with open(dst, "wb") as out:
        out.write(header)
        for o, piece in pieces:
            out.write(struct.pack(">qq", o, len(piece)))
            out.write(piece)
        out.write(struct.pack(">qq", -1, -1))


# --------------------------------------------------------------------------- ELF
class Elf:
    def __init__(self, io):
        self.io = io
        e = io.pread(0, 64)
        if e[:4] != b"\x7fELF" or e[4] != 2:
            raise ValueError("not an ELF64 core")
        phoff, = struct.unpack_from("<Q", e, 32)
        phentsize, phnum = struct.unpack_from("<HH", e, 54)
        if phnum == 0xFFFF:  # PN_XNUM: real count in section 0's sh_info
            shoff, = struct.unpack_from("<Q", e, 40)
            phnum, = struct.unpack_from("<I", io.pread(shoff + 44, 4))
        self.loads, self.notes = [], []
        for i in range(phnum):
            p = io.pread(phoff + i * phentsize, 56)
            typ, flags, off, vaddr, paddr, filesz, memsz, align = struct.unpack("<IIQQQQQQ", p)
            if typ == 1:
                self.loads.append((paddr, off, filesz, memsz, vaddr))
            elif typ == 4:
                self.notes.append((off, filesz))

    def note_items(self):
        for off, size in self.notes:
            buf = self.io.pread(off, size)
            i = 0
            while i + 12 <= len(buf):
                nsz, dsz, typ = struct.unpack_from("<III", buf, i)
                i += 12
                name = buf[i:i + nsz].rstrip(b"\0")
                i += (nsz + 3) & ~3
                desc = buf[i:i + dsz]
                i += (dsz + 3) & ~3
                yield name, typ, desc

    def page(self, pfn, page_size=4096):
        pa = pfn * page_size
        for paddr, off, filesz, memsz, _ in self.loads:
            if paddr <= pa < paddr + memsz:
                if pa + page_size <= paddr + filesz:
                    return self.io.pread(off + pa - paddr, page_size)
        return None  # absent, or in an excluded tail [p_filesz, p_memsz) (reads as zero)

    def pfns(self, page_size=4096):
        for paddr, off, filesz, memsz, _ in self.loads:
            first = -(-paddr // page_size)
            for pfn in range(first, (paddr + filesz) // page_size):
                yield pfn


def open_dump(path):
    kind, io = open_any(path)
    head = io.pread(0, 8)
    if head[:4] == b"\x7fELF":
        return ("elf" if kind == "plain" else "flat-elf"), Elf(io)
    if head == b"KDUMP   ":
        return ("kdump" if kind == "plain" else "flat-kdump"), Kdump(io)
    raise SystemExit(f"{path}: unknown format")


def vmcoreinfo_text(path):
    kind, d = open_dump(path)
    if isinstance(d, Elf):
        for name, typ, desc in d.note_items():
            if name == b"VMCOREINFO":
                return desc.rstrip(b"\0")
        raise SystemExit("no VMCOREINFO note")
    return d.io.pread(d.offset_vmcoreinfo, d.size_vmcoreinfo).rstrip(b"\0")


def unwritten(d, desc):
    """In a kdump file marked incomplete: a descriptor makedumpfile never filled in."""
    off, size, _, _ = desc
    return bool(d.status & DUMP_DH_COMPRESSED_INCOMPLETE) and (off == 0 or size == 0)


def iter_pages(d):
    """(pfn, page bytes), or (pfn, None) for a page an incomplete kdump file never got."""
    if isinstance(d, Elf):
        for pfn in d.pfns():
            yield pfn, d.page(pfn)
    else:
        idx = d.index()
        descs = d.descs()
        for pfn, i in sorted(idx.items()):
            yield pfn, (None if unwritten(d, descs[i]) else d.page(pfn, descs[i]))


def incomplete(path):
    _, d = open_dump(path)
    if not isinstance(d, Kdump):
        raise SystemExit(f"{path}: not a kdump-compressed file")
    idx = d.index()
    descs = d.descs()
    written, last, first = 0, None, None
    for pfn, i in sorted(idx.items()):
        if unwritten(d, descs[i]):
            if first is None:
                first = pfn
        else:
            written += 1
            last = pfn
    prefix = first is None or last is None or last < first
    print(f"{path}: status {d.status:#x} ({'incomplete' if d.status & DUMP_DH_COMPRESSED_INCOMPLETE else 'complete'}), "
          f"{d.ndump} pages in the 2nd bitmap, {written} written, {d.ndump - written} never written; "
          f"last written pfn {last if last is None else hex(last)}, first unwritten pfn "
          f"{first if first is None else hex(first)}; written pages {'are' if prefix else 'are NOT'} a prefix")


def compare(ref_path, paths):
    _, ref = open_dump(ref_path)
    bad = 0
    for p in paths:
        kind, d = open_dump(p)
        n = mism = missing = zero = 0
        never = 0
        for pfn, page in iter_pages(d):
            if page is None:
                never += 1
                continue
            r = ref.page(pfn)
            n += 1
            if page.count(0) == len(page):
                zero += 1
            if r is None:
                missing += 1
            elif r != page:
                mism += 1
                if mism <= 5:
                    print(f"  {p}: pfn {pfn:#x} differs", file=sys.stderr)
        bad += mism + missing
        print(f"{p}: {kind}: {n} pages checked against {ref_path}: {mism} differ, "
              f"{missing} not in reference, {zero} zero pages"
              + (f", {never} never written (incomplete dump)" if never else ""))
    return 1 if bad else 0


def mask(raw_path, kdump_path, out_path):
    """An ELF copy of the raw vmcore with every page the kdump file lacks zeroed: exactly the
    kdump file's memory, for a tool that reads ELF but not that kdump file (drgn on 7.3)."""
    kind, raw = open_dump(raw_path)
    _, kd = open_dump(kdump_path)
    if not isinstance(raw, Elf) or not isinstance(kd, Kdump):
        raise SystemExit("mask: RAW must be an ELF vmcore and KDUMP a kdump-compressed file")
    shutil.copyfile(raw_path, out_path)
    have = kd.index()
    PAGE_SIZE = 4096
    zero = bytes(PAGE_SIZE)
    kept = cleared = 0
    with open(out_path, "r+b") as out:
        for paddr, off, filesz, memsz, _ in raw.loads:
            first = -(-paddr // PAGE_SIZE)
            for pfn in range(first, (paddr + filesz) // PAGE_SIZE):
                if pfn in have:
                    kept += 1
                else:
                    out.seek(off + pfn * PAGE_SIZE - paddr)
                    out.write(zero)
                    cleared += 1
    print(f"{out_path}: {kept} pages of {kdump_path} kept, {cleared} other pages zeroed")


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd == "status":
        kind, d = open_dump(argv[2])
        print(f"{d.status:#x}" if isinstance(d, Kdump) else kind)
    elif cmd == "info":
        kind, d = open_dump(argv[2])
        if isinstance(d, Kdump):
            hist = {}
            for off, size, flags, _ in d.descs():
                hist[flags] = hist.get(flags, 0) + 1
            print(f"{kind} v{d.header_version} utsname={d.utsname} status={d.status:#x} "
                  f"block_size={d.block_size} dump_level={d.dump_level} max_mapnr={d.max_mapnr} "
                  f"dumped={d.ndump} desc_flags={ {hex(k): v for k, v in sorted(hist.items())} }")
        else:
            print(f"{kind}: {len(d.loads)} PT_LOAD, "
                  f"{sum(l[2] for l in d.loads) >> 20} MiB in file, {sum(l[3] for l in d.loads) >> 20} MiB of memory")
    elif cmd == "reencode":
        reencode(argv[2], argv[3], argv[4])
    elif cmd == "vmcoreinfo":
        sys.stdout.buffer.write(vmcoreinfo_text(argv[2]))
    elif cmd == "sample":
        sample(int(argv[2]), argv[3], argv[4])
    elif cmd == "flatten":
        flatten(argv[2], argv[3])
    elif cmd == "compare":
        return compare(argv[2], argv[3:])
    elif cmd == "mask":
        mask(argv[2], argv[3], argv[4])
    elif cmd == "incomplete":
        incomplete(argv[2])
    elif cmd == "pages":
        _, d = open_dump(argv[2])
        for a in argv[3:]:
            pg = d.page(int(a, 0))
            print(a, hashlib.sha256(pg).hexdigest() if pg is not None else "absent")
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
