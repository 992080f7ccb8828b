#!/usr/bin/env python3
"""The modules loaded in a dump, their BTF, and the sizes and member offsets of structures they
define, from the modules' DWARF (drgn): the oracle of holdup's module BTF.

usage: module_dwarf_offsets.py VMLINUX DUMP KO_DIR... > module-dwarf-offsets.tsv

drgn lists the modules loaded in DUMP with their build IDs. Each module's NAME.ko is looked
for in the KO_DIRs (the .ko files the guest loaded, the -dbg package's debug .ko files that
vmlinux.sh extracts): only files with the build ID the dump shows count. The .BTF section comes
from the first of them, the DWARF from the first that has some.

Columns: module, struct, member_path, offset_bytes, bit_offset, bit_size, size.
  - per loaded module (in name order), first a row `MODULE - BTF - - - BTF_BYTES`: BTF is
    `sha256:HEX` of the .ko's .BTF section and BTF_BYTES its size (`-` and 0: the module was
    built without BTF); the kernel keeps a copy of exactly these bytes as the module's BTF;
  - then, for a module with BTF, its structures in dwarf-offsets.tsv's format with the module
    first: a `MODULE struct - - - - sizeof` row, then one per member path (through anonymous
    members transparently, and one level into named struct/union members).
"""
import hashlib
import os
import struct
import sys

import drgn

from drgn_common import complete_struct, member_fields, open_dump

# Structures each module defines (absent ones are omitted).
STRUCTS = {
    "qemu_fw_cfg": ["fw_cfg_sysfs_entry", "fw_cfg_sysfs_attribute", "fw_cfg_dma_access",
                    "fw_cfg_file", "fw_cfg_vmcoreinfo"],
    "hangmod": ["oops_victim"],
    # 6.1-stock: the suspended device's state (flags, the deferred bios) is in mapped_device.
    "dm_mod": ["mapped_device"],
    # The stock captures' extra scenarios: a journal's transactions and handles (jbd2),
    # null_blk's device and command
    "jbd2": ["journal_s", "transaction_s", "jbd2_journal_handle"],
    "null_blk": ["nullb", "nullb_device", "nullb_queue", "nullb_cmd"],
}


def elf_sections(path):
    """name -> bytes of every section of a little-endian ELF64 file."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        sys.exit(f"{path}: not a little-endian ELF64 file")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3a)
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names = heads[shstrndx]
    out = {}
    for h in heads:
        name_off, sh_type, off, size = h[0], h[1], h[4], h[5]
        start = names[4] + name_off
        name = data[start:data.index(b"\0", start)].decode()
        out[name] = b"" if sh_type == 8 else data[off:off + size]  # SHT_NOBITS
    return out


def build_id(sections):
    note = sections.get(".note.gnu.build-id")
    if not note:
        return None
    namesz, descsz, _ = struct.unpack_from("<III", note, 0)
    start = 12 + (namesz + 3) // 4 * 4
    return note[start:start + descsz].hex()


def member_rows(t, prefix, bit, depth):
    """(path, bit offset, member) of every member, anonymous ones transparently."""
    for m in t.members:
        mbit = bit + m.bit_offset
        mt = m.type.unaliased()
        if m.name is None:
            if mt.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION):
                yield from member_rows(mt, prefix, mbit, depth)
            continue
        path = prefix + m.name
        yield path, mbit, m
        if depth < 1 and mt.kind in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION) and mt.is_complete():
            yield from member_rows(mt, path + ".", mbit, depth + 1)


def struct_rows(module, ko):
    prog = drgn.Program(drgn.host_platform)
    prog.extra_module(module, create=True).try_file(ko, force=True)
    for sname in STRUCTS.get(module, []):
        t = complete_struct(prog, sname)
        if t is None:
            continue
        print(f"{module}\t{sname}\t-\t-\t-\t-\t{t.size}")
        for path, bit, m in member_rows(t, "", 0, 0):
            print(f"{module}\t{sname}\t{path}\t{member_fields(sname, path, bit, m)}")


def main(vmlinux, dump, ko_dirs):
    prog = open_dump(vmlinux, dump)
    loaded = sorted((m.name, m.build_id.hex() if m.build_id else None)
                    for m in prog.modules() if isinstance(m, drgn.RelocatableModule))
    if not loaded:
        sys.exit(f"{dump}: no module loaded")
    print("# " + "\t".join(["module", "struct", "member_path", "offset_bytes", "bit_offset",
                           "bit_size", "size"]))
    for name, bid in loaded:
        if bid is None:
            sys.exit(f"{dump}: module {name} has no build ID")
        kos = []
        for d in ko_dirs:
            ko = os.path.join(d, name + ".ko")
            if os.path.exists(ko):
                sec = elf_sections(ko)
                if build_id(sec) == bid:
                    kos.append((ko, sec))
        if not kos:
            sys.exit(f"module {name} (build ID {bid}): no {name}.ko with that build ID in "
                     f"{' '.join(ko_dirs)} (vmlinux.sh extracts the debug .ko of the Debian "
                     "modules of common.sh guest_debian_modules)")
        btf = kos[0][1].get(".BTF", b"")
        digest = "sha256:" + hashlib.sha256(btf).hexdigest() if btf else "-"
        print(f"{name}\t-\t{digest}\t-\t-\t-\t{len(btf)}")
        if not btf:
            continue  # no module types to compare
        dwarf = [ko for ko, sec in kos if ".debug_info" in sec]
        if not dwarf:
            sys.exit(f"module {name}: none of {[ko for ko, _ in kos]} has DWARF")
        struct_rows(name, dwarf[0])


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], sys.argv[3:])
