#!/usr/bin/env python3
"""Copies the chosen files of a generated capture into dumps/fixtures/ and rewrites
dumps/manifest.json (sha256, size, provenance of every committed file).

usage: fixtures.py CAPTURE       (6.1, 6.12, 6.1-oops-la57, 6.1-la57, 6.1-stock, 6.12-stock, 6.12-rt,
                                  5.10, 7.3 or 6.1-live; reads dumps/work/out/CAPTURE*/)
       fixtures.py --manifest    (only recompute the manifest from what is in dumps/fixtures/;
                                  oracle and COMMON files new in a fixture's directory are
                                  added)
"""
import hashlib
import json
import os
import shutil
import sys

GEN = os.path.dirname(os.path.abspath(__file__))
DUMPS = os.path.dirname(GEN)
WORK = os.environ.get("HOLDUP_DUMPS_WORK", os.path.join(DUMPS, "work"))
FIXTURES = os.path.join(DUMPS, "fixtures")
MANIFEST = os.path.join(DUMPS, "manifest.json")

# Files copied from a capture's work directory, with their role and format.
ORACLE_FILES = ["crash-sys.txt", "crash-ps.txt", "crash-bt-UN.txt", "crash-log.txt",
                "crash-kmem-p.txt", "drgn-D-stacks.txt", "drgn-locked-pages.txt", "check.txt",
                "drgn-slab-sample.tsv", "crash-bt-a.txt"]
# The capture without a hang (an oops; make-dumps.sh 6.1-oops-la57) has its own oracles:
# crash's sys, ps, bt -a, bt, log and help -m, drgn's equivalents, and what both tools say
# about the dump makedumpfile left incomplete (oracles.sh --unreadable enospc).
NO_HANG_ORACLE_FILES = ["crash-sys.txt", "crash-ps.txt", "crash-bt-a.txt", "crash-bt.txt",
                        "crash-log.txt", "crash-help-m.txt", "drgn-oops.txt", "check.txt",
                        "crash-enospc.txt", "drgn-enospc.txt"]
NO_HANG = {"6.1-oops-la57"}
# The captures of hangs in stock kernel code (make-dumps.sh 6.1-stock, 6.12-stock): the manifest marks them
# "hangs": "stock"; it has the hang oracles and crash's mount, dev -d and the frozen super
# block's s_writers, and drgn's view of the truth's objects (oracles.sh, oracle/drgn_stock.py).
# Both have the three extra scenarios (guest/init-stock.sh holdup_stock_extra=1).
STOCK_EXTRA = ("and three more: flush_workqueue under a mutex its running work item takes, an "
               "open jbd2 handle stopping a journal commit (a syncfs and a writer behind it), a "
               "null_blk device out of tags; ")
STOCK = {"6.1-stock": STOCK_EXTRA + "384 MiB guest",
         "6.12-stock": STOCK_EXTRA + "384 MiB guest, dumped by sid's makedumpfile 1.7.8 "
                       "(bookworm's 1.7.2 over-filters 6.12)"}
STOCK_ORACLE_FILES = ["crash-mount.txt", "crash-dev-d.txt", "crash-sb-writers.txt",
                      "drgn-stock.txt"]
# The small captures of hangmod's hangs (one kdump-zlib dump each), and how each differs.
SMALL_HANGS = {
    "6.1-la57": "5-level paging (-cpu qemu64,+la57), 384 MiB guest",
    "6.12-rt": "PREEMPT_RT kernel (CONFIG_PREEMPT_RT=y: mutex and rw_semaphore on rt_mutex), "
               "384 MiB guest",
    "5.10": "Debian bullseye's 5.10 (no folios, no kallsyms in VMCOREINFO), 384 MiB guest",
    "7.3": "Debian experimental's 7.3~rc7 (gcc-16; first_waiter locks, place-relative kallsyms), "
           "dumped by sid's makedumpfile 1.7.8; 384 MiB guest",
}
# Kernels crash cannot read (common.sh crash_reads): their oracles are drgn's, on the kdump
# file's memory as ELF (vmcore.kdump-zlib.elf, not committed), and crash-error.txt.
NO_CRASH = {"7.3"}
NO_CRASH_ORACLE_FILES = [f for f in ORACLE_FILES if not f.startswith("crash-")] + ["crash-error.txt"]
# Manifest fields of fixtures the hangmod tests leave out for now (tests/src/lib.rs all_dumps):
# "preempt_rt" (holdup does not read rwbase_rt/rt_mutex locks yet), "needs" (what holdup must
# learn before it can open the dump without a vmlinux: "kallsyms-scan", no kallsyms symbols in
# 5.10's VMCOREINFO; "first-waiter-locks", the locks of 7.1+, 7.3); a fixture with "needs" is
# written to dumps/pending/, not dumps/fixtures/.
EXTRA_FIELDS = {"6.12-rt": {"preempt_rt": True}, "5.10": {"needs": "kallsyms-scan"},
                # holdup opens 7.3 (its kallsyms scan) but does not read 7.1's locks (the
                # waiters in a ring from first_waiter, no wait_list)
                "7.3": {"needs": "first-waiter-locks"}}
# The capture of a running kernel (make-dumps.sh 6.1-live): no dump is committed, but what the
# static holdup printed on /proc/kcore in the guest (role "live"), the generator's check of it
# against the truth and the kdump of the same boot (role "check", gen/live_kcore.py), and the
# VMCOREINFO note of /proc/kcore. The manifest marks it "live": true; tests/src/lib.rs
# manifest() and manifest_all() leave it out (no dump to open), live_fixtures() has it.
LIVE = {"6.1-live": "live: the seven hangs of 6.1 (hangmod) on a running kernel "
                    "(hung_task_panic=0), 384 MiB guest; the static holdup in its initramfs ran "
                    "as root on /proc/kcore; then sysrq c and kdump of the same boot (the vmcore "
                    "is not committed: check.txt compares its report)"}
# (source in OUTDIR, committed name, role, format, made_by); optional ones may be absent.
LIVE_FILES = [
    ("truth.jsonl", "truth.jsonl", "truth", None, None),
    ("serial.log", "serial.log", "serial", None, None),
    ("meta.json", "meta.json", "meta", None,
     "capture.py and live_kcore.py: QEMU and kernel command lines, timings, hung tasks "
     "reported; live_kcore: each holdup run's command, exit status, seconds and stderr, the "
     "binary's sha256 and the tree it was built from, the two runs compared, the kdump compared"),
    ("vmcoreinfo.txt", "vmcoreinfo.txt", "vmcoreinfo", None,
     "live_kcore.py: oracle/kdumptool.py vmcoreinfo of the first 64 KiB of /proc/kcore (dd in "
     "the guest): the running kernel's VMCOREINFO note (no CRASHTIME)"),
    ("live-report.txt", "live-report.txt", "live", "text",
     "guest/live-kcore.sh: stdout of `/holdup --no-pager /proc/kcore` as root in the hung guest"),
    ("live-report.json", "live-report.json", "live", "json",
     "guest/live-kcore.sh: stdout of `/holdup --json /proc/kcore` as root in the hung guest"),
    ("live-report-2.json", "live-report-2.json", "live", "json",
     "guest/live-kcore.sh: stdout of a second `/holdup --json /proc/kcore` right after the "
     "first (kept because it differs in more than times; check.txt says how)"),
    ("live-ps.txt", "live-ps.txt", "live", "text",
     "guest/live-kcore.sh: stdout of `/holdup ps /proc/kcore` as root in the hung guest"),
    ("check.txt", "check.txt", "check", None,
     "live_kcore.py: every truth task in the live report, blocked where truth says; the "
     "verdicts among its root causes; the two runs compared; the host's holdup --json on the "
     "kdump of the same boot compared"),
]
COMMON = [("truth.jsonl", "truth", None), ("serial.log", "serial", None),
          ("vmcoreinfo.txt", "vmcoreinfo", None), ("meta.json", "meta", None),
          ("symbols-sample.tsv", "symbols", None), ("dwarf-offsets.tsv", "offsets", None),
          ("module-dwarf-offsets.tsv", "module-offsets", None)]


def fixture_plan(kernel):
    """(fixture name, source dir, oracle dir, [(src, dst, role, format)], capture, incomplete)."""
    out = os.path.join(WORK, "out", kernel)
    plans = []
    if kernel in NO_HANG:
        # Both made by makedumpfile in the capture kernel; the second ran out of space.
        return [(kernel, out, os.path.join(out, "oracles", "vmcore.kdump-zlib"),
                 [("vmcore.kdump-zlib", "vmcore.kdump-zlib", "dump", "kdump-zlib"),
                  ("vmcore.kdump-zlib-enospc", "vmcore.kdump-zlib-enospc", "dump-incomplete",
                   "kdump-zlib")],
                 "kdump: panic_on_oops, the oops kexecs the capture kernel, whose makedumpfile "
                 "wrote the dumps (one complete, one into a full tmpfs: ENOSPC, incomplete); "
                 "5-level paging", False)]
    dumps = [("vmcore.kdump-zlib", "vmcore.kdump-zlib", "dump", "kdump-zlib")]
    if kernel in STOCK:
        return [(kernel, out, os.path.join(out, "oracles", "vmcore.kdump-zlib"), dumps,
                 "kdump: kexec -p capture kernel copied /proc/vmcore after hung_task_panic; "
                 "hangs in stock kernel code (frozen ext4, I/O queued on a suspended dm device, "
                 "flush_work under a mutex, 200 writers on one i_rwsem, FIFREEZE waiting for a "
                 "task holding sb_start_write, kthread_stop of a kthread that never stops, a "
                 "locked buffer_head with a waiter), " + STOCK[kernel], False)]
    if kernel in SMALL_HANGS:
        return [(kernel, out, os.path.join(out, "oracles", "vmcore.kdump-zlib"), dumps,
                 "kdump: kexec -p capture kernel copied /proc/vmcore after hung_task_panic; "
                 + SMALL_HANGS[kernel], False)]
    if kernel == "6.1":
        dumps.append(("vmcore.elf-d31.zst", "vmcore.elf-d31.zst", "dump-zst", "elf"))
        # Every compression and the flattened format, for real but small: every 8th page.
        for c in ("lzo", "snappy", "zstd"):
            dumps.append((f"vmcore.kdump-{c}.sample", f"vmcore.kdump-{c}.sample", "dump-sample", f"kdump-{c}"))
        dumps.append(("vmcore.flat-zlib.sample", "vmcore.flat-zlib.sample", "dump-sample", "flat-zlib"))
    plans.append((kernel, out, os.path.join(out, "oracles", "vmcore.kdump-zlib"), dumps,
                  "kdump: kexec -p capture kernel copied /proc/vmcore after hung_task_panic", False))
    if kernel == "6.12":
        plans.append((kernel + "-overfiltered", out, os.path.join(out, "oracles", "vmcore.overfiltered"),
                      [("vmcore.overfiltered", "vmcore.kdump-zlib", "dump", "kdump-zlib")],
                      "kdump as above, filtered by bookworm's makedumpfile 1.7.2 at -d 31, "
                      "which over-filters 6.12 (pages of live tasks excluded)", True))
    return plans


ROLE_MADE_BY = {
    "truth": "capture.py: the holdup-truth lines hangmod printed, from serial.log",
    "serial": "capture.py: QEMU serial console of the hung kernel and the capture kernel",
    "vmcoreinfo": "formats.sh: oracle/kdumptool.py vmcoreinfo (the VMCOREINFO note text)",
    "meta": "capture.py: QEMU and kernel command lines, timings, hung tasks reported",
    "symbols": "oracles.sh: oracle/symbols_sample.py on the -dbg vmlinux, relocated by KERNELOFFSET",
    "offsets": "oracles.sh: oracle/dwarf_offsets.py (drgn 0.3.0 on the -dbg vmlinux's DWARF)",
    "module-offsets": "oracles.sh: oracle/module_dwarf_offsets.py (drgn 0.3.0: the modules loaded "
                      "in the dump and their build IDs; the .BTF of each loaded .ko; struct "
                      "layouts from the DWARF of the -dbg package's .ko, or of the .ko itself for "
                      "hangmod)",
}


def formats_commands(src):
    """file name -> the command formats.sh recorded for it (the last one wins)."""
    cmds = {}
    path = os.path.join(src, "formats.txt")
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                name, sep, rest = line.partition(": ")
                if sep and name.startswith("vmcore.") and " " not in name and rest.rstrip().endswith(" s)"):
                    cmds[name] = rest.rsplit(" (", 1)[0].strip()
    return cmds


def made_by(cmds, src_name, dst, role):
    if role in ROLE_MADE_BY:
        return ROLE_MADE_BY[role]
    if role == "oracle" and dst in ("crash-enospc.txt", "drgn-enospc.txt"):
        tool = "crash 8.0.6" if dst.startswith("crash") else "drgn 0.3.0 (oracle/drgn_oops.py)"
        return f"oracles.sh --unreadable enospc: {tool} on vmcore.kdump-zlib-enospc, its messages"
    if role == "oracle" and dst == "drgn-oops.txt":
        return "oracles.sh: drgn 0.3.0 (oracle/drgn_oops.py) with the -dbg vmlinux"
    if role == "oracle" and dst == "check.txt" and src_name == "check-oops":
        return "oracles.sh: oracle/check_oops.py (truth vs crash and drgn)"
    if role == "oracle" and dst == "drgn-stock.txt":
        return ("oracles.sh: drgn 0.3.0 (oracle/drgn_stock.py) with the -dbg vmlinux and "
                "modules: the truth's objects in memory, checked")
    if role == "oracle" and dst in STOCK_ORACLE_FILES:
        cmd = {"crash-mount.txt": "mount", "crash-dev-d.txt": "dev -d",
               "crash-sb-writers.txt": "struct super_block.s_id,s_writers SB"}[dst]
        return f"oracles.sh: crash 8.0.6 with the -dbg vmlinux: {cmd}"
    if role == "oracle" and dst == "crash-error.txt":
        return ("oracles.sh: crash 8.0.6 with the -dbg vmlinux on the dump's memory as ELF: its "
                "messages (it cannot read this kernel)")
    if role == "oracle" and dst == "drgn-slab-sample.tsv":
        return "oracles.sh: drgn 0.3.0 (oracle/drgn_slab_sample.py) with the -dbg vmlinux"
    if role == "oracle":
        tool = "drgn 0.3.0 (oracle/drgn_d_stacks.py)" if dst.startswith("drgn") else "crash 8.0.6"
        return f"oracles.sh: {tool} with the -dbg vmlinux"
    if src_name.endswith(".sample"):
        base = src_name[: -len(".sample")]
        how = cmds.get(src_name, "oracle/kdumptool.py sample 8")
        if "flatten" in how:
            base = "vmcore.kdump-zlib"
            return f"{how} (itself every 8th page of {base}: {cmds.get(base, 'makedumpfile')})"
        return f"{how} ({base}: {cmds.get(base, 'makedumpfile')})"
    if src_name.endswith(".zst"):
        return cmds.get(src_name[:-4], "makedumpfile") + " | zstd -19 --long=27"
    return cmds.get(src_name, "dumps/gen/formats.sh")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_manifest():
    if os.path.exists(MANIFEST):
        with open(MANIFEST) as f:
            return json.load(f)
    return {"schema_version": 1, "fixtures": []}


def copy_live_fixture(name, manifest):
    """The capture of a running kernel (LIVE): holdup's outputs on /proc/kcore, no dump."""
    src = os.path.join(WORK, "out", name)
    dst_dir = os.path.join(DUMPS, "fixtures", name)
    if os.path.isdir(dst_dir):
        shutil.rmtree(dst_dir)
    os.makedirs(dst_dir)
    files = []
    for s, d, role, fmt, how in LIVE_FILES:
        p = os.path.join(src, s)
        if not os.path.exists(p):
            if s == "live-report-2.json":
                continue  # the second run was the first's but for times (check.txt)
            sys.exit(f"fixtures: missing {p} (run live_kcore.py)")
        shutil.copyfile(p, os.path.join(dst_dir, d))
        files.append({"file": d, "role": role, **({"format": fmt} if fmt else {}),
                      "made_by": how or ROLE_MADE_BY[role]})
    with open(os.path.join(src, "meta.json")) as m:
        meta = json.load(m)
    desc = {"name": name, "dir": f"fixtures/{name}", "kernel": meta["kernel"],
            "release": meta["release"], "capture": LIVE[name], "incomplete": False,
            "live": True, "files": files}
    manifest["fixtures"] = [d for d in manifest["fixtures"] if d["name"] != name] + [desc]


def copy_fixture(kernel, manifest):
    if kernel in LIVE:
        return copy_live_fixture(kernel, manifest)
    for name, src, oracle_dir, dumps, capture, incomplete in fixture_plan(kernel):
        # A fixture holdup cannot open yet ("needs") lives in dumps/pending/, out of the
        # fixtures/ folder the tests triage as a whole (tests/tests/triage.rs).
        parent = "pending" if "needs" in EXTRA_FIELDS.get(name, {}) else "fixtures"
        dst_dir = os.path.join(DUMPS, parent, name)
        if os.path.isdir(dst_dir):
            shutil.rmtree(dst_dir)
        os.makedirs(dst_dir)
        entries = []  # (source name, destination name, role, format)
        for s, d, role, fmt in dumps:
            shutil.copyfile(os.path.join(src, s), os.path.join(dst_dir, d))
            entries.append((s, d, role, fmt))
        for f, role, fmt in COMMON:
            p = os.path.join(src, f)
            if not os.path.exists(p):
                sys.exit(f"fixtures: missing {p}")
            shutil.copyfile(p, os.path.join(dst_dir, f))
            entries.append((f, f, role, fmt))
        oracles = (NO_HANG_ORACLE_FILES if name in NO_HANG
                   else NO_CRASH_ORACLE_FILES if name in NO_CRASH else ORACLE_FILES)
        for f in oracles + (STOCK_ORACLE_FILES if name in STOCK else []):
            p = os.path.join(oracle_dir, f)
            if not os.path.exists(p):
                sys.exit(f"fixtures: missing oracle output {p}")
            shutil.copyfile(p, os.path.join(dst_dir, f))
            entries.append(("check-oops" if name in NO_HANG and f == "check.txt" else f, f,
                            "oracle", None))
        cmds = formats_commands(src)
        with open(os.path.join(src, "meta.json")) as m:
            meta = json.load(m)
        desc = {"name": name, "dir": f"{parent}/{name}", "kernel": meta["kernel"],
                "release": meta["release"], "capture": capture, "incomplete": incomplete,
                **({"no_hang": True} if name in NO_HANG else {}),
                **({"hangs": "stock"} if name in STOCK else {}),
                **EXTRA_FIELDS.get(name, {}),
                "files": [{"file": d, "role": r, **({"format": fmt} if fmt else {}),
                           "made_by": made_by(cmds, s, d, r)} for s, d, r, fmt in entries]}
        manifest["fixtures"] = [d for d in manifest["fixtures"] if d["name"] != name] + [desc]


def add_new_oracle_files(manifest):
    """Oracle files in a fixture's directory that its manifest entry does not list yet (a new
    oracle run on the existing captures) join it."""
    for desc in manifest["fixtures"]:
        listed = {e["file"] for e in desc["files"]}
        for f in ORACLE_FILES:
            if f not in listed and os.path.exists(os.path.join(DUMPS, desc["dir"], f)):
                desc["files"].append({"file": f, "role": "oracle", "made_by": made_by({}, f, f, "oracle")})


def add_new_common_files(manifest):
    """COMMON files in a fixture's directory that its manifest entry does not list yet (a new
    per-capture table made for the existing captures) join it."""
    for desc in manifest["fixtures"]:
        listed = {e["file"] for e in desc["files"]}
        for f, role, fmt in COMMON:
            if f not in listed and os.path.exists(os.path.join(DUMPS, desc["dir"], f)):
                desc["files"].append({"file": f, "role": role, **({"format": fmt} if fmt else {}),
                                      "made_by": ROLE_MADE_BY[role]})


def write_manifest(manifest):
    manifest["fixtures"].sort(key=lambda d: d["name"])
    for desc in manifest["fixtures"]:
        for entry in desc["files"]:
            p = os.path.join(DUMPS, desc["dir"], entry["file"])
            entry["sha256"] = sha256(p)
            entry["size"] = os.path.getsize(p)
    with open(MANIFEST, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    total = sum(e["size"] for d in manifest["fixtures"] for e in d["files"])
    print(f"manifest: {len(manifest['fixtures'])} fixtures, {total / 2**20:.1f} MiB committed")
    # dumps/ may hold 200 MiB in git: the fixtures, and about 1 MiB of sources and docs
    if total > 199 * 2**20:
        sys.exit("fixtures: over the 199 MiB budget for the fixtures (dumps/ may hold 200 MiB)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    manifest = load_manifest()
    if sys.argv[1] != "--manifest":
        copy_fixture(sys.argv[1], manifest)
    else:
        add_new_oracle_files(manifest)
        add_new_common_files(manifest)
    write_manifest(manifest)
