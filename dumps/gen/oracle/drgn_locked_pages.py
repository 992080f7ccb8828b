#!/usr/bin/env python3
"""Every page with PG_locked set (head pages and order-0 pages), by drgn.
Tail pages are skipped: their flags word is not page flags (6.12 keeps the folio order in the
low byte of the second page's flags, `folio._flags_1`, which looks like PG_locked/PG_writeback).

usage: drgn_locked_pages.py VMLINUX DUMP > drgn-locked-pages.txt
Output: `page 0x<struct page *> pfn <pfn> flags 0x<page->flags>` per locked page, pfn order.
Pages whose struct page cannot be read (not in the dump) are counted in a trailing comment.
"""
import sys

import drgn
from drgn.helpers.linux.mm import for_each_page, page_to_pfn

from drgn_common import open_dump


def main(vmlinux, dump):
    prog = open_dump(vmlinux, dump)
    locked = 1 << prog.constant("PG_locked").value_()
    unreadable = 0
    rows = []
    # page->flags is a memdesc_flags_t (.f) from 6.18; compound_head is compound_info from 7.1
    # (bit 0 still marks a tail page).
    memdesc = prog.type("struct page").member("flags").type.unqualified().kind != drgn.TypeKind.INT
    try:
        prog.type("struct page").member("compound_head")
        head_member = "compound_head"
    except LookupError:
        head_member = "compound_info"
    for page in for_each_page(prog):
        try:
            flags = (page.flags.f if memdesc else page.flags).value_()
            if flags & locked and getattr(page, head_member).value_() & 1:
                continue  # tail page
        except drgn.FaultError:
            unreadable += 1
            continue
        if flags & locked:
            rows.append((page_to_pfn(page).value_(), page.value_(), flags))
    for pfn, addr, flags in sorted(rows):
        print(f"page {addr:#x} pfn {pfn} flags {flags:#x}")
    print(f"# {len(rows)} locked pages; {unreadable} struct pages unreadable")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
