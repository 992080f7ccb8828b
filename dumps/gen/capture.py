#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Produce a real vmcore of real hangs: one Debian kernel under QEMU (TCG), with ground truth.

    capture.py CAPTURE OUTDIR [--live]   (CAPTURE: a name of PROFILES; run kernel.sh first)

Builds hangmod.ko, bench and the initramfs (initramfs.sh), boots the kernel with KASLR on and
crashkernel=192M. The first kernel's /init (dumps/guest/init-first.sh) starts the hangs and arms
the hung-task detector.

Default (kdump): hung_task_panic=1; the panic kexecs the capture kernel, whose /init copies
/proc/vmcore to a virtio disk; the disk image cut to the size the guest printed is OUTDIR/vmcore.
--live: hung_task_panic=0; once the detector has reported every hung task, the VM is stopped and
QMP dump-guest-memory writes OUTDIR/qemu.elf and OUTDIR/qemu.kdump-zlib (flattened format).

6.1-oops-la57 (no hang): a guest with a 5-level-paging CPU (-cpu qemu64,+la57), 384 MiB,
crashkernel=128M; /init (dumps/guest/init-oops.sh) sets panic_on_oops=1 and loads hangmod with
oops=1, whose kthread "oopser" oopses on a NULL-pointer read. The capture kernel
(dumps/guest/init-capture-mdf.sh) copies /proc/vmcore and runs bookworm's makedumpfile 1.7.2
twice: -c -d 31 into a roomy tmpfs (OUTDIR/vmcore.kdump-zlib) and the same into a tmpfs of
256 KiB, which it fills (ENOSPC: OUTDIR/vmcore.kdump-zlib-enospc, marked incomplete by
makedumpfile itself).

6.1-stock, 6.12-stock: hangs in stock kernel code, no hangmod (dumps/guest/init-stock.sh,
dumps/stockmod): a frozen ext4 (vdb), I/O queued on a suspended dm device (over vdc),
flush_work() under a mutex, 200 writers on one tmpfs inode's i_rwsem, FIFREEZE waiting in
percpu_down_write for a task holding sb_start_write (vdd), kthread_stop() of a kthread that
never stops, a buffer_head locked by a sleeper with a second locker waiting (vde); 384 MiB,
crashkernel=128M, slim; kdump. Both have three more (holdup_stock_extra=1, a fifth disk
vdf): flush_workqueue() under a mutex its running work item takes, an open jbd2 handle that
stops the journal commit of ext4 on vdf (a syncfs and a writer behind it), and null_blk's
nullb0 out of tags (one tag, held by a read that does not complete; two reads wait for a tag).
Its truth ("task", "object", "verdict" lines) is checked as strictly as the hangmod facts, and
every TASK_UNINTERRUPTIBLE task of it against the detector's traces.

6.1-la57: the seven hangs of 6.1 on a 5-level-paging guest (-cpu qemu64,+la57), 384 MiB,
crashkernel=128M, kdump as the default; with the oops capture's size tricks (init_on_free=1,
no tracefs; /init frees the kernel and initramfs copies and drops caches: holdup_slim=1).
Checks that the CPU had la57 and that every truth task lies in the 5-level direct map.

6.1-live: the seven hangs of 6.1 on a running kernel (hung_task_panic=0), 384 MiB, slim, 4-level:
the static holdup in the first initramfs (initramfs.sh flavour live) runs as root on /proc/kcore
once the detector has reported every task (dumps/guest/live-kcore.sh); its outputs come back as
a tar archive on a second disk (OUTDIR/live/, OUTDIR/live.tar; meta.json "live_kcore": each
run's command, exit status, seconds); then sysrq c, and kdump writes OUTDIR/vmcore of the same
boot. gen/live_kcore.py checks the outputs next.

All write OUTDIR/serial.log (console of both kernels), OUTDIR/truth.jsonl (the
holdup-truth lines, validated against dumps/TRUTH.md) and OUTDIR/meta.json.
Exits non-zero, with the tail of the serial log, when anything fails or times out.
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

GEN_DIR = os.path.dirname(os.path.abspath(__file__))
DUMPS_DIR = os.path.dirname(GEN_DIR)
REPO_DIR = os.path.dirname(DUMPS_DIR)
WORK_DIR = os.environ.get("HOLDUP_DUMPS_WORK", os.path.join(DUMPS_DIR, "work"))

# As common.sh's kernel_release and kernel_image_package.
RELEASES = {"6.1": "6.1.0-56-amd64", "6.12": "6.12.95+deb12-amd64",
            "6.12-rt": "6.12.95+deb12-rt-amd64", "5.10": "5.10.0-32-amd64", "7.3": "7.3-amd64"}
PACKAGES = {"6.1": "linux-image-6.1.0-56-amd64", "7.3": "linux-binary-unsigned-7.3-amd64"} | {
    k: f"linux-image-{RELEASES[k]}-unsigned" for k in ("6.12", "6.12-rt", "5.10")}

# The stock captures' other disks: the frozen ext4 (vdb), the one under the suspended dm device
# (vdc), the ext4 whose freeze waits for a writer (vdd), the one with the locked buffer (vde).
STOCK_DISKS = [("vdb-frozen", 16 << 20), ("vdc-io", 32 << 20), ("vdd-fzw", 16 << 20),
               ("vde-buf", 16 << 20)]
# The extra scenarios' disk (both stock captures: the ext4 whose journal commit waits for a
# handle, vdf).
STOCK_EXTRA_DISKS = [("vdf-jnl", 16 << 20)]

# What each capture name boots. The 6.1 and 6.12 hang captures are the original ones.
PROFILES = {
    "6.1": {"kernel": "6.1", "flavour": "hangs", "cpu": "qemu64", "mem": "512M",
            "crashkernel": "192M", "disk": 640 << 20},
    "6.12": {"kernel": "6.12", "flavour": "hangs", "cpu": "qemu64", "mem": "512M",
             "crashkernel": "192M", "disk": 640 << 20},
    # No hang: an oops with panic_on_oops, on a 5-level-paging CPU; the capture kernel runs
    # makedumpfile itself (complete, and into a tmpfs of `small`, which it fills).
    "6.1-oops-la57": {"kernel": "6.1", "flavour": "oops", "cpu": "qemu64,+la57", "mem": "384M",
                      "crashkernel": "128M", "disk": 704 << 20, "small": "256k"},
    # The seven hangs of 6.1 on a 5-level-paging CPU, small: 384 MiB, the oops capture's size
    # tricks ("slim": init_on_free=1, no tracefs at boot; /init drops what kexec copied, sysfs
    # and the caches once everything hangs).
    "6.1-la57": {"kernel": "6.1", "flavour": "hangs", "cpu": "qemu64,+la57", "mem": "384M",
                 "crashkernel": "128M", "disk": 448 << 20, "slim": True},
    # Hangs in stock kernel code (guest/init-stock.sh, stockmod): more virtio disks hold the
    # frozen ext4 (vdb), the one under the suspended dm device (vdc)... (STOCK_DISKS), and
    # the extra scenarios ("stock_extra": holdup_stock_extra=1, STOCK_EXTRA_SCENARIOS, vdf).
    "6.1-stock": {"kernel": "6.1", "flavour": "stock", "cpu": "qemu64", "mem": "384M",
                  "crashkernel": "128M", "disk": 448 << 20, "slim": True,
                  "extra_disks": STOCK_DISKS + STOCK_EXTRA_DISKS, "stock_extra": True,
                  "t_blocked": 600, "t_reported": 300},
    # The same hangs on bookworm-backports' 6.12 (dumped by sid's makedumpfile 1.7.8 at -d 31,
    # make-dumps.sh: bookworm's 1.7.2 over-filters 6.12).
    "6.12-stock": {"kernel": "6.12", "flavour": "stock", "cpu": "qemu64", "mem": "384M",
                   "crashkernel": "128M", "disk": 448 << 20, "slim": True,
                   "extra_disks": STOCK_DISKS + STOCK_EXTRA_DISKS, "stock_extra": True,
                   "t_blocked": 600, "t_reported": 300},
    # The seven hangs on Debian's PREEMPT_RT 6.12 (mutex and rw_semaphore are rt_mutex based),
    # small as 6.1-la57 but 4-level.
    "6.12-rt": {"kernel": "6.12-rt", "flavour": "hangs", "cpu": "qemu64", "mem": "384M",
                "crashkernel": "128M", "disk": 448 << 20, "slim": True, "preempt_rt": True},
    # The seven hangs on Debian bullseye's 5.10 (no folios: page locks on pages; no kallsyms
    # in VMCOREINFO), small; its capture kernel needs noapic under QEMU.
    "5.10": {"kernel": "5.10", "flavour": "hangs", "cpu": "qemu64", "mem": "384M",
             "crashkernel": "128M", "disk": 448 << 20, "slim": True, "capture_extra": "noapic"},
    # The seven hangs on experimental's 7.3 (7.3~rc7, built with gcc-16 in a sid chroot), small.
    "7.3": {"kernel": "7.3", "flavour": "hangs", "cpu": "qemu64", "mem": "384M",
            "crashkernel": "128M", "disk": 448 << 20, "slim": True},
    # The seven hangs of 6.1 on a running kernel (hung_task_panic=0): the static holdup in the
    # initramfs runs on /proc/kcore (guest/live-kcore.sh) and writes its outputs as a tar archive
    # to a second disk ("out_disk", vdb); then sysrq c, and kdump captures the same boot. Small
    # as 6.1-la57 but 4-level.
    "6.1-live": {"kernel": "6.1", "flavour": "live", "cpu": "qemu64", "mem": "384M",
                 "crashkernel": "128M", "disk": 448 << 20, "slim": True,
                 "out_disk": 16 << 20},
}
# Kernel command line of the "slim" profiles and of the oops capture: freed pages are zeroed
# (makedumpfile drops them as zero pages); 6.1 would create ~9,700 tracefs inodes at boot.
SLIM_APPEND = "init_on_free=1 initcall_blacklist=tracer_init_tracefs"

# Facts each scenario of hangmod prints (see dumps/hangmod/README.md), and one verdict each.
FACTS_PER_SCENARIO = {"a": 5, "b": 4, "c": 3, "d": 3, "e": 1, "f": 4, "g": 2}
FACT_FIELDS = {"kind", "scenario", "task", "pid", "comm", "role", "lock_type", "lock", "mode",
               "blocked_in", "recorded_by_kernel"}
FACT_OPTIONAL = {"lock_name", "page", "folio", "pfn", "page_flags"}
VERDICT_FIELDS = {"kind", "scenario", "root_cause_pids", "root_cause_comms", "cycle", "summary"}
LOCK_TYPES = {"rwsem", "mutex", "semaphore", "completion", "page_lock"}
MODES = {"read", "write", "exclusive", "count", "none"}

CRASH_APPEND = "console=ttyS0,115200 reset_devices nr_cpus=1 irqpoll nousb panic=1"

# Timeouts in seconds (TCG on 2 host cores; the measured times are 3-5x smaller).
T_BLOCKED = 240     # QEMU start -> "all scenarios blocked"
T_REPORTED = 120    # detector armed -> panic (kdump) / every hung task reported (live)
T_CAPTURE = 400     # panic -> capture kernel done and QEMU gone
T_QMP = 600         # each dump-guest-memory
T_LIVE = 3600       # detector armed -> holdup's runs on /proc/kcore done (6.1-live)


class Failure(Exception):
    pass


def log(msg):
    print(f"capture: {msg}", flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class Serial:
    """Follows the serial log file QEMU writes."""

    def __init__(self, path):
        self.path = path
        self.text = ""
        self.off = 0

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.off)
                new = f.read()
        except FileNotFoundError:
            return self.text
        if new:
            self.off += len(new)
            self.text += new.decode("latin-1")
        return self.text

    def tail(self, n=40):
        return "\n".join(self.poll().replace("\r", "").splitlines()[-n:])


class Qmp:
    def __init__(self, path, timeout=30):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.connect(path)
                break
            except OSError:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise Failure(f"cannot connect to QMP socket {path}")
                time.sleep(0.2)
        self.buf = b""
        self._read()  # greeting
        self.cmd("qmp_capabilities")

    def _read(self, timeout=T_QMP):
        self.sock.settimeout(timeout)
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failure("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def cmd(self, execute, timeout=T_QMP, **arguments):
        msg = {"execute": execute}
        if arguments:
            msg["arguments"] = arguments
        self.sock.sendall(json.dumps(msg).encode() + b"\n")
        while True:
            reply = self._read(timeout)
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise Failure(f"QMP {execute}: {reply['error']}")
            # an event: ignore


TRUTH_RE = re.compile(r"holdup-truth: (\{.*\})\s*$")
# 7.x says "blocked in I/O wait for more than" of a task asleep in io_schedule.
HUNG_RE = re.compile(r"INFO: task (.{1,15}):(\d+) blocked (?:in I/O wait )?for more than (\d+) seconds")
FRAME_RE = re.compile(r"^\[\s*\d+\.\d+\]\s+(\?\s+)?([A-Za-z0-9_.]+)\+0x[0-9a-f]+/0x[0-9a-f]+")
TS_RE = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def console_lines(text):
    return text.replace("\r", "").splitlines()


OOPS_FIELDS = {"kind", "scenario", "task", "pid", "comm", "function", "callers", "address",
               "access"}
NO_HANG_VERDICT_FIELDS = VERDICT_FIELDS | {"verdict"}


def truth_records(text):
    """Every holdup-truth line as JSON, and the lines that are not."""
    records, errors = [], []
    for line in console_lines(text):
        if "holdup-truth: " not in line:
            continue
        m = TRUTH_RE.search(line)
        if not m:
            errors.append(f"unparsable truth line: {line!r}")
            continue
        try:
            rec = json.loads(m.group(1))
        except json.JSONDecodeError as e:
            errors.append(f"bad JSON ({e}): {line!r}")
            continue
        records.append(rec)
    return records, errors


def parse_oops_truth(text):
    """The oops mode's truth: one oops line and one no-hang verdict (dumps/TRUTH.md)."""
    records, errors = truth_records(text)
    oops = [r for r in records if r.get("kind") == "oops"]
    verdicts = [r for r in records if r.get("kind") == "verdict"]
    if len(oops) != 1 or len(verdicts) != 1 or len(records) != 2:
        errors.append(f"expected one oops line and one verdict, got {records}")
    for r in oops:
        if set(r) != OOPS_FIELDS or r["scenario"] != "oops" or r["access"] not in ("read", "write") \
                or not re.fullmatch(r"0x[0-9a-f]{16}", r["task"]) \
                or not re.fullmatch(r"0x[0-9a-f]{16}", r["address"]) \
                or not isinstance(r["callers"], list):
            errors.append(f"bad oops line: {r}")
    for r in verdicts:
        if set(r) != NO_HANG_VERDICT_FIELDS or r["verdict"] != "no-hang" or r["root_cause_pids"] \
                or r["root_cause_comms"] or r["cycle"] or r["scenario"] != "oops":
            errors.append(f"bad no-hang verdict: {r}")
    if errors:
        raise Failure("ground truth:\n  " + "\n  ".join(errors))
    return records


def parse_truth(text):
    """The holdup-truth lines, validated; raises Failure on anything off-schema or missing."""
    records, errors = truth_records(text)
    facts = {s: 0 for s in FACTS_PER_SCENARIO}
    verdicts = {s: 0 for s in FACTS_PER_SCENARIO}
    for rec in records:
        keys = set(rec)
        kind = rec.get("kind")
        if rec.get("scenario") not in FACTS_PER_SCENARIO:
            errors.append(f"unknown scenario: {rec}")
            continue
        if kind == "fact":
            if not FACT_FIELDS <= keys or not keys <= FACT_FIELDS | FACT_OPTIONAL:
                errors.append(f"fact fields {sorted(keys)}: {rec}")
            elif (rec["role"] not in ("holder", "waiter") or rec["lock_type"] not in LOCK_TYPES
                  or rec["mode"] not in MODES or not isinstance(rec["recorded_by_kernel"], bool)
                  or not re.fullmatch(r"0x[0-9a-f]{16}", rec["task"])
                  or not re.fullmatch(r"0x[0-9a-f]{16}", rec["lock"])):
                errors.append(f"bad fact values: {rec}")
            facts[rec["scenario"]] += 1
        elif kind == "verdict":
            if keys != VERDICT_FIELDS:
                errors.append(f"verdict fields {sorted(keys)}: {rec}")
            elif len(rec["root_cause_pids"]) != len(rec["root_cause_comms"]) or not rec["root_cause_pids"]:
                errors.append(f"bad verdict: {rec}")
            verdicts[rec["scenario"]] += 1
        else:
            errors.append(f"unknown kind: {rec}")
    for s, n in FACTS_PER_SCENARIO.items():
        if verdicts[s] != 1:
            errors.append(f"scenario {s}: {verdicts[s]} verdict lines (expected 1)")
        if facts[s] != n:
            errors.append(f"scenario {s}: {facts[s]} fact lines (expected {n})")
    if errors:
        raise Failure("ground truth:\n  " + "\n  ".join(errors))
    return records


# The stock capture's truth (6.1-stock, stockmod; dumps/TRUTH.md "Hangs in stock kernel code").
STOCK_SCENARIOS = ("frozen", "io", "work", "i_rwsem", "freeze_wait", "kthread_stop", "buffer")
# The scenarios of a profile with "stock_extra" (holdup_stock_extra=1: 6.1-stock, 6.12-stock).
STOCK_EXTRA_SCENARIOS = ("wq_flush", "jbd2", "blk_tags")
STOCK_WRITERS = 200  # tmp_writer processes of scenario i_rwsem (guest/init-stock.sh)
TASK_FIELDS = {"kind", "scenario", "task", "pid", "comm", "role", "lock_type", "lock", "mode",
               "blocked_in", "state", "recorded_by_kernel"}
TASK_OPTIONAL = {"lock_name", "folio", "pfn", "index", "page_flags", "inode"}
STOCK_LOCK_TYPES = {"percpu_rwsem", "io", "work", "mutex", "rwsem", "kthread_exit", "buffer_lock",
                    "workqueue", "jbd2_transaction", "jbd2_commit", "blk_mq_tag"}
STOCK_MODES = {"read", "write", "exclusive", "none"}
STATES = {"TASK_UNINTERRUPTIBLE", "TASK_KILLABLE"}
OBJECT_FIELDS = {
    "super_block": {"device", "fstype", "mount", "s_writers", "frozen", "frozen_by_pid"},
    "mapped_device": {"name", "device", "mount", "suspended"},
    "folio": {"inode", "path", "index", "pfn", "page_flags", "locked", "writeback", "uptodate"},
    "work_struct": {"func", "workqueue", "worker_pid"},
    "inode": {"path", "i_rwsem", "fstype", "holder_pid", "waiters"},
    "kthread": {"task", "pid", "comm", "threadfn", "should_stop", "exited"},
    "buffer_head": {"device", "mount", "block", "size", "b_state", "locked", "page"},
    "workqueue_struct": {"name", "work", "func", "worker_pid", "flusher_pid", "first_flusher"},
    "journal": {"device", "mount", "running_transaction", "committing_transaction", "t_updates",
                "t_state", "tid", "handle", "holder_pid"},
    "request_queue": {"device", "tags", "depth", "tags_in_use", "request", "start_time_ns",
                      "scheduler", "io_timeout_ms"},
}
HEX = re.compile(r"0x[0-9a-f]{16}")


def parse_stock_truth(text, extra=False):
    """stockmod's truth lines, validated; raises Failure on anything off-schema or missing.
    extra: the profile has the extra scenarios (STOCK_EXTRA_SCENARIOS), which must then all be
    there, each with its shape; without it they must not be."""
    records, errors = truth_records(text)
    scenarios = STOCK_SCENARIOS + (STOCK_EXTRA_SCENARIOS if extra else ())
    by = {s: {"task": [], "object": [], "verdict": []} for s in scenarios}
    for rec in records:
        kind, scen = rec.get("kind"), rec.get("scenario")
        if scen not in by or kind not in by[scen]:
            errors.append(f"unknown scenario or kind: {rec}")
            continue
        keys = set(rec)
        if kind == "task":
            if not TASK_FIELDS <= keys or not keys <= TASK_FIELDS | TASK_OPTIONAL:
                errors.append(f"task fields {sorted(keys)}: {rec}")
            elif (rec["role"] not in ("holder", "waiter") or rec["lock_type"] not in STOCK_LOCK_TYPES
                  or rec["mode"] not in STOCK_MODES or rec["state"] not in STATES
                  or not isinstance(rec["recorded_by_kernel"], bool)
                  or not isinstance(rec["blocked_in"], str)
                  or not HEX.fullmatch(rec["task"]) or not HEX.fullmatch(rec["lock"])):
                errors.append(f"bad task values: {rec}")
        elif kind == "object":
            want = OBJECT_FIELDS.get(rec.get("object"))
            if want is None or keys != want | {"kind", "scenario", "object", "address"} \
                    or not HEX.fullmatch(rec["address"]):
                errors.append(f"bad object line: {rec}")
        else:
            if not VERDICT_FIELDS <= keys or not keys <= VERDICT_FIELDS | {"root_cause"} \
                    or len(rec["root_cause_pids"]) != len(rec["root_cause_comms"]) \
                    or not (rec["root_cause_pids"] or rec.get("root_cause")):
                errors.append(f"bad verdict: {rec}")
        by[scen][kind].append(rec)

    def objects(s, o):
        return [r for r in by[s]["object"] if r.get("object") == o]

    def tasks(s, **kw):
        return [r for r in by[s]["task"] if all(r.get(k) == v for k, v in kw.items())]

    for s in scenarios:
        if len(by[s]["verdict"]) != 1:
            errors.append(f"scenario {s}: {len(by[s]['verdict'])} verdicts (expected 1)")
    if len(objects("frozen", "super_block")) != 1 or \
            {r["comm"] for r in tasks("frozen", role="waiter", lock_type="percpu_rwsem")} != {"fz_write", "fz_creat"}:
        errors.append("scenario frozen: expected a super_block and the waiters fz_write, fz_creat")
    if len(objects("io", "mapped_device")) != 1 or not tasks("io", comm="io_fsync", mode="write") \
            or not tasks("io", comm="io_reader", mode="read") \
            or not tasks("io", comm="io_dread", mode="read"):
        errors.append("scenario io: expected a mapped_device, io_fsync, io_reader and io_dread")
    if len(objects("work", "work_struct")) != 1 or len(by["work"]["task"]) != 4 \
            or not by["work"]["verdict"] or not by["work"]["verdict"][0]["cycle"] \
            or by["work"]["verdict"][0]["root_cause_comms"] != ["wq_flusher"]:
        errors.append("scenario work: expected a work_struct, 4 task lines and a cycle blamed "
                      "on wq_flusher")
    inode = objects("i_rwsem", "inode")
    waiters = tasks("i_rwsem", role="waiter")
    if len(inode) != 1 or len(tasks("i_rwsem", role="holder")) != 1 \
            or len(waiters) != STOCK_WRITERS or inode[0]["waiters"] != STOCK_WRITERS \
            or len({r["pid"] for r in waiters}) != STOCK_WRITERS:
        errors.append(f"scenario i_rwsem: expected the inode, a holder and {STOCK_WRITERS} "
                      f"distinct waiters, got {len(waiters)}")
    # freeze_wait: the super block being frozen (SB_FREEZE_WRITE), its reader, the freezer
    # (write) and a writer behind it (read), all on the same percpu_rw_semaphore.
    sb = objects("freeze_wait", "super_block")
    fw = by["freeze_wait"]["task"]
    if len(sb) != 1 or sb[0]["frozen"] != 1 \
            or {(r["comm"], r["role"], r["mode"]) for r in fw} != {
                ("sbw_holder", "holder", "read"), ("fsfreeze", "waiter", "write"),
                ("fzw_write", "waiter", "read")} \
            or len(fw) != 3 or len({r["lock"] for r in fw}) != 1 \
            or any(r["lock_type"] != "percpu_rwsem" for r in fw) \
            or sb[0]["frozen_by_pid"] != next(r["pid"] for r in fw if r["comm"] == "fsfreeze") \
            or (by["freeze_wait"]["verdict"] or [{}])[0].get("root_cause_comms") != ["sbw_holder"]:
        errors.append("scenario freeze_wait: expected a super_block at SB_FREEZE_WRITE, "
                      "sbw_holder (read), fsfreeze (write) and fzw_write (read) on one "
                      "percpu_rw_semaphore, blamed on sbw_holder")
    # kthread_stop: the kthread that never exits, the stopper waiting on its exited completion.
    kt = objects("kthread_stop", "kthread")
    ks = by["kthread_stop"]["task"]
    if len(kt) != 1 or not kt[0]["should_stop"] \
            or {(r["comm"], r["role"]) for r in ks} != {("ks_sleeper", "holder"),
                                                       ("ks_stopper", "waiter")} \
            or len(ks) != 2 or any(r["lock"] != kt[0]["exited"] or r["lock_type"] != "kthread_exit"
                                   for r in ks) \
            or (by["kthread_stop"]["verdict"] or [{}])[0].get("root_cause_comms") != ["ks_sleeper"]:
        errors.append("scenario kthread_stop: expected the kthread, ks_sleeper (holder) and "
                      "ks_stopper (waiter) on its exited completion, blamed on ks_sleeper")
    # buffer: one locked buffer_head, its holder and a waiter.
    bho = objects("buffer", "buffer_head")
    bt = by["buffer"]["task"]
    if len(bho) != 1 or not bho[0]["locked"] \
            or {(r["comm"], r["role"]) for r in bt} != {("bh_holder", "holder"),
                                                       ("bh_waiter", "waiter")} \
            or len(bt) != 2 or any(r["lock"] != bho[0]["address"] or r["lock_type"] != "buffer_lock"
                                   for r in bt) \
            or (by["buffer"]["verdict"] or [{}])[0].get("root_cause_comms") != ["bh_holder"]:
        errors.append("scenario buffer: expected a locked buffer_head, bh_holder and bh_waiter "
                      "on it, blamed on bh_holder")
    if extra:
        errors += check_stock_extra(objects, tasks, by)
    if errors:
        raise Failure("ground truth:\n  " + "\n  ".join(errors[:20]))
    return records


def check_stock_extra(objects, tasks, by):
    """The shape of the extra scenarios' truth (wq_flush, jbd2, blk_tags): what is wrong."""
    errors = []

    def verdict(s):
        return (by[s]["verdict"] or [{}])[0]

    # wq_flush: flush_workqueue under a mutex its running work item waits for: a cycle.
    wq = objects("wq_flush", "workqueue_struct")
    wt = by["wq_flush"]["task"]
    v = verdict("wq_flush")
    if len(wq) != 1 or len(wt) != 4 or not v.get("cycle") \
            or v.get("root_cause_comms") != ["wqf_flusher"] \
            or {(r["comm"] == "wqf_flusher", r["role"], r["lock_type"]) for r in wt} != {
                (True, "holder", "mutex"), (True, "waiter", "workqueue"),
                (False, "holder", "workqueue"), (False, "waiter", "mutex")} \
            or any(r["lock"] != wq[0]["address"] for r in wt if r["lock_type"] == "workqueue") \
            or wq[0]["flusher_pid"] != v["root_cause_pids"][0] \
            or {r["pid"] for r in wt if r["comm"] != "wqf_flusher"} != {wq[0]["worker_pid"]}:
        errors.append("scenario wq_flush: expected a workqueue_struct, wqf_flusher holding the "
                      "mutex and waiting on the workqueue, its kworker the reverse, a cycle "
                      "blamed on wqf_flusher")
    # jbd2: a handle holder, the commit (write) and a writer (read) on the locked transaction,
    # a syncer on the commit.
    jo = objects("jbd2", "journal")
    jt = by["jbd2"]["task"]
    want = {("jh_holder", "holder", "jbd2_transaction", "read"),
            ("jw_write", "waiter", "jbd2_transaction", "read"),
            ("jw_syncfs", "waiter", "jbd2_commit", "none")}
    got = {(r["comm"], r["role"], r["lock_type"], r["mode"]) for r in jt}
    if len(jo) != 1 or len(jt) != 4 or not want <= got \
            or not any(r["comm"].startswith("jbd2/") and r["role"] == "waiter"
                       and r["lock_type"] == "jbd2_transaction" and r["mode"] == "write"
                       for r in jt) \
            or jo[0]["t_state"] != "T_LOCKED" or jo[0]["t_updates"] != 1 \
            or jo[0]["running_transaction"] != next(r["lock"] for r in jt
                                                    if r["comm"] == "jh_holder") \
            or any(r["lock"] != jo[0]["address"] for r in jt if r["lock_type"] == "jbd2_commit") \
            or verdict("jbd2").get("root_cause_comms") != ["jh_holder"] or verdict("jbd2").get("cycle"):
        errors.append("scenario jbd2: expected a journal with a T_LOCKED transaction of one "
                      "update, jh_holder (read), jbd2 (write) and jw_write (read) on it, "
                      "jw_syncfs on the commit, blamed on jh_holder")
    # blk_tags: the only tag held by tag_holder's read in flight, two waiters for a tag.
    rq = objects("blk_tags", "request_queue")
    bt = by["blk_tags"]["task"]
    v = verdict("blk_tags")
    if len(rq) != 1 or rq[0]["depth"] != 1 or rq[0]["tags_in_use"] != 1 \
            or rq[0]["scheduler"] != "none" \
            or {(r["comm"], r["role"], r["lock_type"]) for r in bt} != {
                ("tag_holder", "holder", "blk_mq_tag"), ("tag_holder", "waiter", "io"),
                ("tag_waiter", "waiter", "blk_mq_tag")} \
            or len([r for r in bt if r["comm"] == "tag_waiter"]) != 2 \
            or any(r["lock"] != rq[0]["tags"] for r in bt if r["lock_type"] == "blk_mq_tag") \
            or any(r["lock"] != rq[0]["request"] for r in bt if r["lock_type"] == "io") \
            or any(r["blocked_in"] != "blk_mq_get_tag" for r in bt if r["comm"] == "tag_waiter") \
            or v.get("root_cause_pids") or not v.get("root_cause", "").startswith(
                f"device {rq[0]['device']} does not complete its I/O") or v.get("cycle"):
        errors.append("scenario blk_tags: expected a request_queue of one tag in use, "
                      "tag_holder holding it and waiting for its request, two tag_waiters in "
                      "blk_mq_get_tag, the device as the root cause")
    return errors


def hung_reports(text):
    """pid -> {comm, frames} for every task the hung-task detector reported (first report)."""
    reports, cur = {}, None
    for line in console_lines(text):
        m = HUNG_RE.search(line)
        if m:
            pid = int(m.group(2))
            cur = None if pid in reports else pid
            if cur is not None:
                reports[pid] = {"comm": m.group(1), "frames": []}
            continue
        if cur is None:
            continue
        body = TS_RE.sub("", line)
        if body.startswith(("Kernel panic", "NMI backtrace", "Sending NMI")) or "holdup-" in body:
            cur = None
            continue
        f = FRAME_RE.match(line)
        if f and not f.group(1):
            reports[cur]["frames"].append(re.sub(r"\.(constprop|isra|part|cold)\.\d+$", "",
                                                 f.group(2)).split(".")[0])
    return reports


SCHED_FRAMES = {"__schedule", "schedule", "schedule_preempt_disabled", "schedule_timeout", "rt_mutex_schedule",
                "io_schedule", "io_schedule_timeout"}


def check_reports(records, reports):
    """Every task a fact is about was reported, in a trace that contains its blocked_in."""
    problems, checked = [], {}
    for rec in records:
        if rec["kind"] not in ("fact", "task"):
            continue
        pid, where = rec["pid"], rec["blocked_in"]
        rep = reports.get(pid)
        if rec.get("state") == "TASK_KILLABLE":
            # The detector counts only TASK_UNINTERRUPTIBLE sleepers.
            if rep is not None:
                problems.append(f"{rec['comm']}:{pid} is TASK_KILLABLE but was reported hung")
            continue
        if rep is None:
            problems.append(f"{rec['comm']}:{pid} (scenario {rec['scenario']}) never reported hung")
            continue
        ok = where is None or where in rep["frames"]
        if rec["kind"] == "task" and where != "schedule_timeout":
            # stockmod unwinds the stack itself: the first frame after the scheduler's own
            first = next((f for f in rep["frames"] if f not in SCHED_FRAMES), None)
            ok = where == first
        checked[f"{rec['comm']}:{pid}"] = {"frames": rep["frames"][:8], "blocked_in_ok": ok}
        if not ok:
            problems.append(f"{rec['comm']}:{pid}: blocked_in {where} not in trace {rep['frames'][:8]}")
    return problems, checked


def run(args):
    profile = PROFILES[args.kernel]
    kernel = profile["kernel"]
    oops = profile["flavour"] == "oops"
    stock = profile["flavour"] == "stock"
    kcore = profile["flavour"] == "live"  # holdup on /proc/kcore in the guest, then kdump
    if (oops or stock or kcore) and args.live:
        raise Failure("--live is for the hangmod captures")
    rel = RELEASES[kernel]
    out = os.path.abspath(args.outdir)
    os.makedirs(out, exist_ok=True)
    mode = "live" if args.live else "kdump"
    # What an earlier capture into OUTDIR left, including what formats.sh and oracles.sh made
    # from it (the per-capture tables depend on its KERNELOFFSET).
    for name in ("vmcore", "vmcore.partial", "serial.log", "truth.jsonl", "meta.json",
                 "qemu.elf", "qemu.kdump-zlib", "vmcore.kdump-zlib", "vmcore.kdump-zlib-enospc",
                 "vmcoreinfo.txt", "formats.txt", "symbols-sample.tsv", "dwarf-offsets.tsv",
                 "module-dwarf-offsets.tsv", "live.tar", "live-out.partial"):
        if os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    shutil.rmtree(os.path.join(out, "oracles"), ignore_errors=True)
    shutil.rmtree(os.path.join(out, "live"), ignore_errors=True)
    timings = {}
    t_all = time.monotonic()

    vmlinuz = os.path.join(WORK_DIR, "kernels", rel, "boot", f"vmlinuz-{rel}")
    if not os.path.exists(vmlinuz):
        raise Failure(f"{vmlinuz} missing: run dumps/gen/kernel.sh {kernel} first")
    t = time.monotonic()
    res = subprocess.run([os.path.join(GEN_DIR, "initramfs.sh"), kernel, profile["flavour"]],
                         stdout=subprocess.PIPE, text=True)
    if res.returncode != 0:
        raise Failure("initramfs.sh failed")
    initrd = res.stdout.strip().splitlines()[-1]
    timings["build_initramfs"] = round(time.monotonic() - t, 1)

    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise Failure(f"qemu-system-x86_64 missing: run dumps/gen/kernel.sh {kernel} first")
    qemu_version = subprocess.run([qemu, "--version"], stdout=subprocess.PIPE,
                                  text=True).stdout.splitlines()[0]
    serial_path = os.path.join(out, "serial.log")
    disk = os.path.join(out, "vmcore.partial")
    with open(disk, "wb") as f:
        f.truncate(profile["disk"])
    extra = []  # the guest's other disks (the stock captures): empty, sparse, deleted afterwards
    for name, size in profile.get("extra_disks", []):
        path = os.path.join(out, f"disk-{name}.img")
        with open(path, "wb") as f:
            f.truncate(0)
            f.truncate(size)
        extra += ["-drive", f"file={path},format=raw,if=virtio,cache=unsafe"]
    live_disk = os.path.join(out, "live-out.partial")  # 6.1-live: the guest's tar archive (vdb)
    if profile.get("out_disk"):
        with open(live_disk, "wb") as f:
            f.truncate(profile["out_disk"])
        extra += ["-drive", f"file={live_disk},format=raw,if=virtio,cache=unsafe"]
    sockdir = tempfile.mkdtemp(prefix="holdup-qmp-")
    qmp_path = os.path.join(sockdir, "qmp.sock")
    if oops:
        append = (f"console=ttyS0,115200 crashkernel={profile['crashkernel']} loglevel=7 panic=10 "
                  f"{SLIM_APPEND} holdup_mode=oops holdup_small={profile['small']}")
    else:
        append = (f"console=ttyS0,115200 crashkernel={profile['crashkernel']} loglevel=7 panic=10 "
                  + (f"{SLIM_APPEND} holdup_slim=1 " if profile.get("slim") else "")
                  + f"holdup_mode={'stock' if stock else 'live' if args.live or kcore else 'panic'}"
                  + (" holdup_kcore=1" if kcore else "")
                  + (" holdup_stock_extra=1" if profile.get("stock_extra") else "")
                  + (f" holdup_capture_extra={profile['capture_extra']}"
                     if profile.get("capture_extra") else ""))
    cmd = [qemu, "-machine", "pc,accel=tcg", "-cpu", profile["cpu"], "-smp", "2", "-m", profile["mem"],
           "-kernel", vmlinuz, "-initrd", initrd, "-append", append,
           "-drive", f"file={disk},format=raw,if=virtio,cache=unsafe", *extra,
           "-device", "vmcoreinfo", "-display", "none", "-vga", "none", "-nic", "none",
           "-monitor", "none", "-serial", f"file:{serial_path}",
           "-qmp", f"unix:{qmp_path},server=on,wait=off", "-no-reboot"]
    serial = Serial(serial_path)
    meta = {
        "kernel": kernel, "release": rel, "image_package": PACKAGES[kernel],
        "capture_method": ("kdump: panic_on_oops=1 -> oops -> kexec capture kernel -> dd "
                           "/proc/vmcore to a virtio disk (raw ELF copy); makedumpfile 1.7.2 -c "
                           "-d 31 in the capture kernel into a roomy tmpfs and into a tmpfs of "
                           f"{profile['small']} (ENOSPC)") if oops
        else ("kdump: hangs in stock kernel code (frozen ext4, I/O queued on a suspended dm "
              "device, flush_work under a mutex, 200 writers on one i_rwsem, FIFREEZE waiting "
              "for a task holding sb_start_write, kthread_stop of a kthread that never stops, "
              "a locked buffer_head with a waiter"
              + ("; flush_workqueue under a lock its work item takes, an open jbd2 handle "
                 "stopping a journal commit, a null_blk device out of tags"
                 if profile.get("stock_extra") else "")
              + "); hung_task_panic=1 -> panic -> kexec capture kernel -> dd /proc/vmcore to a "
              "virtio disk (raw ELF copy)") if stock
        else ("live: hung_task_panic=0; the static holdup in the initramfs on /proc/kcore of "
              "the running hung kernel, as root (guest/live-kcore.sh); then sysrq c -> panic -> "
              "kexec capture kernel -> dd /proc/vmcore to a virtio disk (raw ELF copy, "
              "not committed)") if kcore
        else ("kdump: hung_task_panic=1 -> panic -> kexec capture kernel -> "
              "dd /proc/vmcore to a virtio disk (raw ELF copy)") if not args.live
        else ("live: hung_task_panic=0; QMP stop, then dump-guest-memory format elf and "
              "kdump-zlib (flattened) of the running hung guest"),
        "qemu_version": qemu_version,
        "qemu_command": [c.replace(REPO_DIR, "$REPO") for c in cmd],
        "kernel_cmdline": append,
        "capture_kernel_cmdline": CRASH_APPEND + (f" {profile['capture_extra']}"
                                                  if profile.get("capture_extra") else ""),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if kcore:  # the holdup the guest runs, and the tree it was built from
        holdup = os.environ.get("HOLDUP_STATIC", os.path.join(REPO_DIR, "target", "static", "holdup"))
        git = lambda *a: subprocess.run(["git", "-C", REPO_DIR, *a], stdout=subprocess.PIPE,
                                        text=True).stdout.strip()
        meta["holdup_static"] = {
            "sha256": sha256(holdup), "bytes": os.path.getsize(holdup),
            "built_by": 'RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target '
                        "x86_64-unknown-linux-gnu -p holdup --target-dir target/static; strip "
                        "(just static)",
            "git_head_at_capture": git("rev-parse", "HEAD"),
            "crates_modified_at_capture": git("status", "--porcelain", "--untracked-files=no",
                                              "--", "crates", "Cargo.lock", "Cargo.toml") != "",
            "binary_mtime_utc": datetime.datetime.fromtimestamp(
                os.path.getmtime(holdup), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    if args.kernel != kernel:  # the captures with a name of their own say how they booted
        meta["capture_name"] = args.kernel
    if args.kernel != kernel or profile["mem"] != "512M":
        meta["guest"] = {"cpu": profile["cpu"], "memory": profile["mem"],
                         "crashkernel": profile["crashkernel"]}
    log(f"{args.kernel} ({rel}), {mode}: starting QEMU")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)

    def wait_for(what, pred, timeout, allow_exit=False):
        deadline = time.monotonic() + timeout
        while True:
            text = serial.poll()
            if pred(text):
                return time.monotonic()
            if "holdup-init: FAILED" in text or "holdup-capture: FAILED" in text:
                raise Failure(f"the guest reported a failure while waiting for {what}")
            if proc.poll() is not None and not allow_exit:
                raise Failure(f"QEMU exited ({proc.returncode}) while waiting for {what}: "
                              f"{proc.stdout.read().decode(errors='replace').strip()}")
            if time.monotonic() > deadline:
                raise Failure(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.5)

    if oops:
        try:
            return run_oops(args, profile, out, proc, serial, wait_for, meta, timings, t0, t_all,
                            disk)
        except BaseException:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            raise
        finally:
            shutil.rmtree(sockdir, ignore_errors=True)

    try:
        t = wait_for("the first /init", lambda s: "holdup-init: mode" in s, T_BLOCKED)
        timings["qemu_start_to_init"] = round(t - t0, 1)
        t = wait_for("all scenarios blocked", lambda s: "holdup-init: all scenarios blocked" in s,
                     profile.get("t_blocked", T_BLOCKED))
        timings["qemu_start_to_all_blocked"] = round(t - t0, 1)
        t_armed = wait_for("the hung-task detector armed",
                           lambda s: "holdup-init: hung-task detector armed" in s, 60)
        timings["qemu_start_to_armed"] = round(t_armed - t0, 1)
        records = (parse_stock_truth(serial.poll(), bool(profile.get("stock_extra"))) if stock
                   else parse_truth(serial.poll()))
        fact_pids = {r["pid"] for r in records if r["kind"] == "fact"}

        if kcore:
            t = wait_for("the detector's reports of every task (guest)",
                         lambda s: "holdup-live: the detector reported all" in s, T_REPORTED)
            timings["armed_to_all_reported"] = round(t - t_armed, 1)
            t_rep = t
            t = wait_for("holdup's runs on /proc/kcore", lambda s: "holdup-live: done" in s,
                         T_LIVE)
            timings["holdup_runs_and_archive"] = round(t - t_rep, 1)
        if not args.live:
            t = wait_for("the hung-task panic" if not kcore else "the sysrq panic",
                         lambda s: "Kernel panic - not syncing" in s,
                         profile.get("t_reported", T_REPORTED))
            timings["armed_to_panic"] = round(t - t_armed, 1)
            timings["qemu_start_to_panic"] = round(t - t0, 1)
            t_panic = t
            t = wait_for("the capture kernel's vmcore size",
                         lambda s: "holdup-capture: vmcore size" in s, T_CAPTURE)
            timings["panic_to_capture_init"] = round(t - t_panic, 1)
            t_copy = t
            t = wait_for("the copy of /proc/vmcore", lambda s: "holdup-capture: done" in s,
                         T_CAPTURE, allow_exit=True)
            timings["vmcore_copy"] = round(t - t_copy, 1)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                raise Failure("QEMU did not exit after the capture")
            timings["panic_to_qemu_exit"] = round(time.monotonic() - t_panic, 1)
        else:
            def all_reported(s):
                return fact_pids <= set(hung_reports(s))
            t = wait_for("hung-task reports of every task", all_reported, T_REPORTED)
            timings["armed_to_all_reported"] = round(t - t_armed, 1)
            time.sleep(3)  # let the last stack trace reach the console
            qmp = Qmp(qmp_path)
            qmp.cmd("stop")
            t = time.monotonic()
            qmp.cmd("dump-guest-memory", paging=False, protocol="file:" + os.path.join(out, "qemu.elf"))
            timings["qmp_dump_elf"] = round(time.monotonic() - t, 1)
            t = time.monotonic()
            qmp.cmd("dump-guest-memory", paging=False, format="kdump-zlib",
                    protocol="file:" + os.path.join(out, "qemu.kdump-zlib"))
            timings["qmp_dump_kdump_zlib"] = round(time.monotonic() - t, 1)
            for name in ("qemu.elf", "qemu.kdump-zlib"):
                os.chmod(os.path.join(out, name), 0o644)  # QEMU creates them 0400
            try:
                qmp.cmd("quit", timeout=10)
            except (Failure, OSError):
                pass  # QEMU may close the socket before replying
            proc.wait(timeout=60)
    except BaseException:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        raise
    finally:
        shutil.rmtree(sockdir, ignore_errors=True)
        for name, _ in profile.get("extra_disks", []):
            try:
                os.unlink(os.path.join(out, f"disk-{name}.img"))
            except FileNotFoundError:
                pass
    timings["qemu_total"] = round(time.monotonic() - t0, 1)

    text = serial.poll()
    files = {}
    if not args.live:
        m = re.findall(r"holdup-capture: vmcore size (\d+)", text)
        size = int(m[-1])
        with open(disk, "r+b") as f:
            f.truncate(size)
            f.seek(0)
            head = f.read(18)
        if head[:4] != b"\x7fELF" or int.from_bytes(head[16:18], "little") != 4:
            raise Failure("the captured disk does not start with an ELF core header")
        os.rename(disk, os.path.join(out, "vmcore"))
        files["vmcore"] = "raw ELF copy of /proc/vmcore of the capture kernel"
        panic = re.findall(r"Kernel panic - not syncing: (.*)", text)
        meta["panic_message"] = panic[0].strip() if panic else None
        if kcore:
            if not panic or "sysrq triggered crash" not in panic[0]:
                raise Failure(f"the panic did not come from sysrq c: {panic}")
            files.update(read_live_archive(live_disk, text, out, meta))
        elif not panic or "hung_task" not in panic[0]:
            raise Failure(f"the panic did not come from the hung-task detector: {panic}")
    else:
        os.unlink(disk)
        files["qemu.elf"] = "QMP dump-guest-memory, ELF"
        files["qemu.kdump-zlib"] = "QMP dump-guest-memory format kdump-zlib (flattened)"
        meta["panic_message"] = None

    check_paging(profile, text, records)
    check_preempt_rt(profile, rel, text, meta)
    with open(os.path.join(out, "truth.jsonl"), "w") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    reports = hung_reports(text)
    problems, checked = check_reports(records, reports)
    meta["hung_tasks_reported"] = sorted(f"{r['comm']}:{pid}" for pid, r in reports.items())
    meta["truth_tasks_in_traces"] = checked
    meta["problems"] = problems
    meta["timings_s"] = timings
    timings["total"] = round(time.monotonic() - t_all, 1)
    meta["files"] = {}
    for name, what in list(files.items()) + [("serial.log", "console of both kernels"),
                                             ("truth.jsonl", "ground truth, dumps/TRUTH.md")]:
        p = os.path.join(out, name)
        meta["files"][name] = {"what": what, "bytes": os.path.getsize(p), "sha256": sha256(p)}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    log(f"timings: {json.dumps(timings)}")
    log(f"{len(reports)} tasks reported hung; {len(records)} truth lines")
    if problems:
        raise Failure("serial log check:\n  " + "\n  ".join(problems))
    log(f"done: {out}")

LIVE_RUN_RE = re.compile(r"^(\S+) status (\d+) start_cs (\d+) end_cs (\d+) args (.*)$")


def read_live_archive(disk, text, out, meta):
    """6.1-live: the tar archive guest/live-kcore.sh wrote to its second disk, unpacked into
    OUTDIR/live/ (holdup's stdout and stderr of each run, runs.txt, the head of /proc/kcore,
    the tasks' states from /proc); the runs, their exit statuses and times into meta."""
    import tarfile
    m = re.findall(r"holdup-live: archive (\d+) bytes on /dev/vdb", text)
    if not m:
        raise Failure("the guest wrote no archive of holdup's outputs")
    size = int(m[-1])
    with open(disk, "rb") as f:
        data = f.read(size)
    tar_path = os.path.join(out, "live.tar")
    with open(tar_path, "wb") as f:
        f.write(data)
    os.unlink(disk)
    dest = os.path.join(out, "live")
    with tarfile.open(tar_path) as t:
        for member in t.getmembers():
            if not (member.isfile() or member.isdir()) or member.name.startswith("/") \
                    or ".." in member.name.split("/"):
                raise Failure(f"unexpected member in the guest's archive: {member.name}")
        t.extractall(dest)
    runs = []
    with open(os.path.join(dest, "runs.txt")) as f:
        for line in f:
            r = LIVE_RUN_RE.match(line.strip())
            if not r:
                raise Failure(f"runs.txt: {line!r}")
            name, status, t0, t1, argv = r.groups()
            runs.append({"name": name, "command": "/holdup " + argv, "exit_status": int(status),
                         "seconds": round((int(t1) - int(t0)) / 100, 2),
                         "stdout_bytes": os.path.getsize(os.path.join(dest, name + ".out")),
                         "stderr_bytes": os.path.getsize(os.path.join(dest, name + ".err"))})
    with open(os.path.join(dest, "version.txt")) as f:
        version = f.read().strip()
    meta["live_kcore"] = {"holdup_version": version, "runs": runs, "archive_bytes": size}
    for r in runs:
        log(f"live: {r['name']}: exit status {r['exit_status']}, {r['seconds']} s")
    return {"live.tar": "the guest's archive of holdup's runs on /proc/kcore (guest/live-kcore.sh)"}


def check_preempt_rt(profile, rel, text, meta):
    """A PREEMPT_RT profile really booted a PREEMPT_RT kernel: its config says
    CONFIG_PREEMPT_RT=y and the boot banner of both kernels ("Linux version ... #1 SMP
    PREEMPT_RT ...") says PREEMPT_RT; any other profile's says neither."""
    config = os.path.join(WORK_DIR, "kernels", rel, "boot", f"config-{rel}")
    with open(config) as f:
        in_config = "CONFIG_PREEMPT_RT=y\n" in f.read()
    banners = sorted({m.group(1).strip() for m in re.finditer(r"Linux version (.*)$", text, re.M)})
    on_console = bool(banners) and all(" PREEMPT_RT " in b for b in banners)
    want = bool(profile.get("preempt_rt"))
    if in_config != want or on_console != want:
        raise Failure(f"PREEMPT_RT expected {want}: config-{rel} says {in_config}, "
                      f"the console's banners say {banners}")
    if want:
        meta["preempt_rt"] = True
        meta["preempt_rt_evidence"] = [f"boot/config-{rel}: CONFIG_PREEMPT_RT=y",
                                       f"console: {banners}"]


def check_paging(profile, text, records):
    """A 5-level profile really ran 5-level: its CPU had la57 and every task the truth names
    lies in the 5-level direct map: from 0xff11000000000000 (KASLR moves its start up, e.g.
    0xff4659a800000000), below 4-level's kernel half (0xffff800000000000; its direct map starts
    at 0xffff888000000000 or above)."""
    if "la57" not in profile["cpu"]:
        return
    if "holdup-init: cpu has la57" not in text:
        raise Failure("the guest CPU has no la57")
    out = [r["task"] for r in records
           if "task" in r and not 0xff11_0000_0000_0000 <= int(r["task"], 16) < 0xffff_8000_0000_0000]
    if out:
        raise Failure(f"tasks outside the 5-level direct map: {out[:4]}")


FILE_RE = re.compile(r"holdup-capture: file (\S+) offset (\d+) size (\d+) rc (\d+)")
MDF_RE = re.compile(r"holdup-capture: (?:makedumpfile: (.*)|(\S+): makedumpfile (.*))$")
OOPS_RE = re.compile(r"\] (BUG: .*|Oops: .*|#PF: .*)$")


def run_oops(args, profile, out, proc, serial, wait_for, meta, timings, t0, t_all, disk):
    """The 6.1-oops-la57 capture, from QEMU started to the files in OUTDIR."""
    t = wait_for("the first /init", lambda s: "holdup-init: mode" in s, T_BLOCKED)
    timings["qemu_start_to_init"] = round(t - t0, 1)
    t_armed = wait_for("panic_on_oops armed", lambda s: "holdup-init: armed" in s, T_BLOCKED)
    timings["qemu_start_to_armed"] = round(t_armed - t0, 1)
    t = wait_for("the oops", lambda s: "Oops: " in s, T_REPORTED)
    timings["armed_to_oops"] = round(t - t_armed, 1)
    t_oops = t
    t = wait_for("the capture kernel's vmcore size", lambda s: "holdup-capture: vmcore size" in s,
                 T_CAPTURE)
    timings["oops_to_capture_init"] = round(t - t_oops, 1)
    t = wait_for("the capture kernel's makedumpfile runs", lambda s: "holdup-capture: done" in s,
                 T_CAPTURE, allow_exit=True)
    timings["oops_to_capture_done"] = round(t - t_oops, 1)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise Failure("QEMU did not exit after the capture")
    timings["qemu_total"] = round(time.monotonic() - t0, 1)

    text = serial.poll()
    records = parse_oops_truth(text)
    check_paging(profile, text, records)
    if HUNG_RE.search(text):
        raise Failure("the hung-task detector reported a task: this capture must have no hang")
    oops_rec = next(r for r in records if r["kind"] == "oops")
    lines = [TS_RE.sub("", l) for l in console_lines(text)]
    msgs = [l for l in lines if l.startswith(("BUG: ", "Oops: ", "#PF: "))]
    if not any(l.startswith("BUG: kernel NULL pointer dereference") for l in msgs):
        raise Failure(f"no NULL-pointer oops on the console: {msgs}")
    rip = [l for l in lines if l.startswith("RIP: 0010:")]
    if not rip or oops_rec["function"] not in rip[0]:
        raise Failure(f"the oops is not in {oops_rec['function']}: {rip[:1]}")
    meta["panic_message"] = None  # panic() never ran: the oops kexecs the capture kernel
    meta["oops_messages"] = msgs
    meta["oops_rip"] = rip[0]

    size = int(re.findall(r"holdup-capture: vmcore size (\d+)", text)[-1])
    files = {}
    mdf_runs = {}
    with open(disk, "rb") as f:
        for name, off, n, rc in FILE_RE.findall(text):
            off, n, rc = int(off), int(n), int(rc)
            f.seek(off)
            data = f.read(n)
            if len(data) != n or data[:8] != b"KDUMP   ":
                raise Failure(f"{name}: no kdump header at disk offset {off}")
            with open(os.path.join(out, name), "wb") as o:
                o.write(data)
            status = int.from_bytes(data[424:428], "little")
            mdf_runs[name] = {"exit_status": rc, "bytes": n, "header_status": f"{status:#x}"}
    with open(disk, "r+b") as f:
        f.truncate(size)
        f.seek(0)
        head = f.read(18)
    if head[:4] != b"\x7fELF" or int.from_bytes(head[16:18], "little") != 4:
        raise Failure("the captured disk does not start with an ELF core header")
    os.rename(disk, os.path.join(out, "vmcore"))
    files["vmcore"] = "raw ELF copy of /proc/vmcore of the capture kernel"
    # The capture kernel's own account of each makedumpfile run.
    cur = None
    for line in lines:
        m = MDF_RE.search(line)
        if not m:
            continue
        if m.group(2):
            cur = m.group(2)
            mdf_runs.setdefault(cur, {}).setdefault("messages", [])
            mdf_runs[cur]["summary"] = m.group(3)
        elif cur:
            mdf_runs.setdefault(cur, {}).setdefault("messages", []).append(m.group(1))
    want = {"vmcore.kdump-zlib": (0, 0x1), "vmcore.kdump-zlib-enospc": (None, 0x9)}
    for name, (rc, status) in want.items():
        r = mdf_runs.get(name)
        if not r or "header_status" not in r:
            raise Failure(f"the capture kernel wrote no {name}")
        if (rc is not None and r["exit_status"] != rc) or (rc is None and r["exit_status"] == 0) \
                or int(r["header_status"], 16) != status:
            raise Failure(f"{name}: makedumpfile exit status {r['exit_status']}, header status "
                          f"{r['header_status']} (expected {status:#x})")
    files["vmcore.kdump-zlib"] = "makedumpfile 1.7.2 -c -d 31 in the capture kernel (complete)"
    files["vmcore.kdump-zlib-enospc"] = (f"makedumpfile 1.7.2 -c -d 31 in the capture kernel into "
                                         f"a tmpfs of {profile['small']}: ENOSPC, incomplete")
    meta["makedumpfile_runs"] = mdf_runs
    meta["guest"]["enospc_tmpfs"] = profile["small"]

    with open(os.path.join(out, "truth.jsonl"), "w") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    meta["hung_tasks_reported"] = []
    meta["problems"] = []
    meta["timings_s"] = timings
    timings["total"] = round(time.monotonic() - t_all, 1)
    meta["files"] = {}
    for name, what in list(files.items()) + [("serial.log", "console of both kernels"),
                                             ("truth.jsonl", "ground truth, dumps/TRUTH.md")]:
        p = os.path.join(out, name)
        meta["files"][name] = {"what": what, "bytes": os.path.getsize(p), "sha256": sha256(p)}
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    log(f"timings: {json.dumps(timings)}")
    log(f"makedumpfile: {json.dumps({k: {x: v[x] for x in ('exit_status', 'bytes', 'header_status')} for k, v in mdf_runs.items()})}")
    log(f"done: {out}")



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("kernel", choices=sorted(PROFILES), help="capture name")
    ap.add_argument("outdir")
    ap.add_argument("--live", action="store_true", help="dump the live hung guest through QMP")
    args = ap.parse_args()
    try:
        run(args)
    except Failure as e:
        print(f"capture: FAILED: {e}", file=sys.stderr)
        tail = Serial(os.path.join(os.path.abspath(args.outdir), "serial.log")).tail()
        if tail:
            print("capture: last lines of serial.log:\n" + tail, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
