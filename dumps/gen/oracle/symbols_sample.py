#!/usr/bin/env python3
"""An even sample of the vmlinux ELF symbol table, with addresses as relocated in one dump.

usage: symbols_sample.py VMLINUX VMCOREINFO_TXT [N] > symbols-sample.tsv
       symbols_sample.py --check VMLINUX DUMP symbols-sample.tsv   (drgn cross-check)

Output: `# ...` comment lines, then `name<TAB>type<TAB>0x<address>` rows sorted by address.
  - type: the `nm` letter (scripts/kallsyms builds the kernel's own table from `nm -n`, so the
    letters are the ones kallsyms reports);
  - address = vmlinux address + KERNELOFFSET (from VMCOREINFO) for every symbol of the kernel
    image (>= __START_KERNEL_map 0xffffffff80000000). Per-CPU symbols (section .data..percpu,
    linked at 0 on x86_64) are offsets into each CPU's area: KASLR does not move them and they
    are listed unrelocated (runqueues, for instance).
  - the sample: N (default 1600) names that occur once in the symbol table, evenly spaced over
    the text symbols (T/t) and the data symbols (D/d/B/b/R/r) in address order, half each, plus
    the well-known symbols below (a few per-CPU ones among them).
"""
import subprocess
import sys

KERNEL_MAP = 0xFFFFFFFF80000000
WELL_KNOWN = [
    "_text", "_stext", "_etext", "_sdata", "_edata", "__bss_start", "__bss_stop", "_end",
    "init_task", "page_offset_base", "vmemmap_base", "vmalloc_base", "__per_cpu_offset",
    "folio_wait_table", "prb", "printk_rb_static", "clear_seq", "__start_BTF", "__stop_BTF",
    "__start_orc_unwind_ip", "__stop_orc_unwind_ip", "__start_orc_unwind", "__stop_orc_unwind",
    "orc_lookup", "orc_lookup_end", "jiffies", "jiffies_64", "runqueues", "modules", "init_uts_ns",
    "swapper_pg_dir", "init_top_pgt", "mem_section", "node_data", "kallsyms_names",
    "kallsyms_num_syms", "kallsyms_token_table", "kallsyms_token_index", "kallsyms_offsets",
    "kallsyms_relative_base", "kallsyms_markers", "kallsyms_seqs_of_names", "crash_notes",
    "panic_cpu", "crashing_cpu", "sysctl_hung_task_timeout_secs", "phys_base", "__per_cpu_start",
    "__per_cpu_end", "pcpu_hot", "current_task", "cpu_number", "schedule", "__schedule",
    "schedule_timeout", "rwsem_down_read_slowpath", "rwsem_down_write_slowpath",
    "__mutex_lock", "mutex_lock", "down", "__down", "__down_common", "wait_for_completion",
    "folio_wait_bit_common", "io_schedule", "panic", "__crash_kexec", "hung_task_panic",
    "watchdog", "vmap_area_list", "node_online_map", "kthreadd_task",
]


def nm(vmlinux):
    out = subprocess.run(["nm", "-n", vmlinux], check=True, capture_output=True, text=True).stdout
    syms = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # undefined (no address)
        syms.append((int(parts[0], 16), parts[1], parts[2]))
    return syms


def kerneloffset(vmcoreinfo):
    with open(vmcoreinfo) as f:
        for line in f:
            if line.startswith("KERNELOFFSET="):
                return int(line.split("=", 1)[1].strip(), 16)
    raise SystemExit("no KERNELOFFSET in " + vmcoreinfo)


def relocate(addr, off):
    return addr + off if addr >= KERNEL_MAP else addr


def even(items, n):
    if len(items) <= n:
        return list(items)
    return [items[(i * len(items)) // n] for i in range(n)]


def sample(vmlinux, vmcoreinfo, n):
    off = kerneloffset(vmcoreinfo)
    syms = nm(vmlinux)
    count = {}
    for _, _, name in syms:
        count[name] = count.get(name, 0) + 1
    unique = [s for s in syms if count[s[2]] == 1 and s[0] >= KERNEL_MAP]
    text = [s for s in unique if s[1] in "Tt"]
    data = [s for s in unique if s[1] in "DdBbRr"]
    chosen = {s[2]: s for s in even(text, n // 2) + even(data, n - n // 2)}
    by_name = {s[2]: s for s in syms if count[s[2]] == 1}
    missing = []
    for name in WELL_KNOWN:
        if name in by_name:
            chosen[name] = by_name[name]
        else:
            missing.append(name)
    print(f"# vmlinux symbols, relocated by KERNELOFFSET={off:x}; per-CPU symbols (< 0x{KERNEL_MAP:x}) unrelocated")
    print(f"# {len(chosen)} symbols: {len(text)} unique text and {len(data)} unique data symbols sampled evenly, plus well-known ones")
    if missing:
        print("# not in this vmlinux (or not unique): " + " ".join(missing))
    for addr, typ, name in sorted(chosen.values()):
        print(f"{name}\t{typ}\t{relocate(addr, off):#018x}")


def check(vmlinux, dump, tsv):
    from drgn_common import open_dump
    prog = open_dump(vmlinux, dump)
    bad = n = 0
    for line in open(tsv):
        if line.startswith("#"):
            continue
        name, typ, addr = line.rstrip("\n").split("\t")
        n += 1
        try:
            got = prog.symbol(name).address
        except LookupError:
            got = None
        if got != int(addr, 16):
            bad += 1
            if bad <= 10:
                print(f"mismatch {name}: tsv {addr} drgn {got if got is None else hex(got)}")
    print(f"symbols-sample: {n} symbols, {bad} differ from drgn")
    return 1 if bad else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if a and a[0] == "--check" and len(a) == 4:
        sys.exit(check(a[1], a[2], a[3]))
    if len(a) not in (2, 3):
        sys.exit(__doc__)
    sample(a[0], a[1], int(a[2]) if len(a) == 3 else 1600)
