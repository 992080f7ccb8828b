"""Opening a dump (or only a vmlinux) with drgn 0.3.0; shared by the other drgn scripts."""
import drgn


def open_dump(vmlinux, dump):
    """drgn Program on DUMP with the DWARF of VMLINUX (matched by build ID)."""
    prog = drgn.Program()
    prog.set_core_dump(dump)
    try:
        prog.load_debug_info([vmlinux])
    except drgn.MissingDebugInfoError:
        pass  # modules without debug info: expected, the kernel itself must be there
    prog.type("struct task_struct")  # fails loudly if the vmlinux did not load
    return prog


def open_vmlinux(vmlinux):
    """drgn Program with only the types of VMLINUX (no memory)."""
    prog = drgn.Program(drgn.host_platform)
    mod = prog.extra_module("vmlinux", create=True)
    mod.try_file(vmlinux, force=True)
    prog.type("struct task_struct")
    return prog


def complete_struct(prog, sname):
    """`struct SNAME` of PROG if it is defined there (not only declared), else None."""
    try:
        t = prog.type(f"struct {sname}")
    except LookupError:
        return None
    return t if t.is_complete() else None


def member_fields(sname, path, bit, member):
    """The offset_bytes, bit_offset, bit_size and size columns of a member's row in
    dwarf-offsets.tsv and module-dwarf-offsets.tsv (bit_offset and bit_size `-` but for
    bitfields)."""
    try:
        size = str(drgn.sizeof(member.type))
    except (TypeError, ValueError):
        size = "-"
    if member.bit_field_size:
        return f"{bit // 8}\t{bit}\t{member.bit_field_size}\t{size}"
    assert bit % 8 == 0, (sname, path, bit)
    return f"{bit // 8}\t-\t-\t{size}"
