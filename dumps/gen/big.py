#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""Boot the big guest (dumps/guest/init-big.sh) and dump it live through QMP.

    big.py INITRD OUTDIR [--mem 16G] [--big BENCH,WRITERS,NPROC,NTHREADS]

Called by dumps/gen/big.sh (`just dumps-big`), which builds INITRD. Boots the 6.1 kernel under
QEMU (TCG, 2 vCPUs, KASLR on, no crashkernel: nothing is kexec'ed), waits until /init says
every scenario is blocked and the hung-task detector is armed, lets the detector report, then
stops the VM and writes OUTDIR/vmcore.kdump-zlib with QMP `dump-guest-memory` (format
kdump-raw-zlib: QEMU's kdump-compressed format, zlib, not flattened; only zero pages are left
out), OUTDIR/serial.log, OUTDIR/truth.jsonl (every holdup-truth line) and OUTDIR/meta.json.
Exits non-zero, with the tail of the serial log, when anything fails or times out.
"""
import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from capture import (Failure, Qmp, Serial, WORK_DIR, REPO_DIR, RELEASES, log,  # noqa: E402
                     truth_records, hung_reports, parse_truth)

T_BOOT = 600       # QEMU start -> /init
T_BLOCKED = 3600   # /init -> every scenario blocked
T_QMP = 1800       # the dump


def check_truth(records, big):
    """The big capture's truth: hangmod's 29 lines, stockmod's i_rwsem lines, the pile-ups."""
    bench, writers = big[0], big[1]
    hang = [r for r in records if r.get("scenario") in set("abcdefg") and r.get("kind") in ("fact", "verdict")]
    parse_truth("\n".join("holdup-truth: " + json.dumps(r) for r in hang))
    irw = [r for r in records if r.get("scenario") == "i_rwsem"]
    waiters = [r for r in irw if r.get("kind") == "task" and r["role"] == "waiter"]
    obj = [r for r in irw if r.get("kind") == "object"]
    errors = []
    if len(waiters) != writers or len({r["pid"] for r in waiters}) != writers \
            or len(obj) != 1 or obj[0]["waiters"] != writers:
        errors.append(f"i_rwsem: {len(waiters)} waiter lines, object {obj}; expected {writers}")
    piles = {r["scenario"]: r for r in records if r.get("kind") == "pileup"}
    if set(piles) != {"a", "i_rwsem"}:
        errors.append(f"pileup lines: {sorted(piles)}")
    else:
        if piles["a"]["waiters_read"] != bench:
            log(f"note: {piles['a']['waiters_read']} of bench's {bench} threads blocked")
        if piles["a"]["waiters"] != piles["a"]["waiters_read"] + 1 or piles["a"]["waiters_read"] < 2 * bench // 3:
            errors.append(f"pileup a: {piles['a']}")
        if piles["i_rwsem"]["waiters"] != writers:
            errors.append(f"pileup i_rwsem: {piles['i_rwsem']}")
        if not obj or piles["i_rwsem"]["lock"] != obj[0]["i_rwsem"]:
            errors.append("pileup i_rwsem: lock differs from stockmod's")
    census = [r for r in records if r.get("kind") == "census"]
    if len(census) != 1:
        errors.append(f"{len(census)} census lines")
    if errors:
        raise Failure("ground truth:\n  " + "\n  ".join(errors))
    return piles, census[0]


def run(args):
    rel = RELEASES["6.1"]
    out = os.path.abspath(args.outdir)
    os.makedirs(out, exist_ok=True)
    for name in ("vmcore.kdump-zlib", "serial.log", "truth.jsonl", "meta.json"):
        if os.path.exists(os.path.join(out, name)):
            os.unlink(os.path.join(out, name))
    big = [int(x) for x in args.big.split(",")]
    vmlinuz = os.path.join(WORK_DIR, "kernels", rel, "boot", f"vmlinuz-{rel}")
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu or not os.path.exists(vmlinuz):
        raise Failure("QEMU or the 6.1 kernel missing: run dumps/gen/kernel.sh 6.1 first")
    qemu_version = subprocess.run([qemu, "--version"], stdout=subprocess.PIPE,
                                  text=True).stdout.splitlines()[0]
    serial_path = os.path.join(out, "serial.log")
    sockdir = tempfile.mkdtemp(prefix="holdup-qmp-")
    qmp_path = os.path.join(sockdir, "qmp.sock")
    append = (f"console=ttyS0,115200 loglevel=7 log_buf_len=8M panic=10 "
              f"holdup_mode=big holdup_big={args.big}")
    cmd = [qemu, "-machine", "pc,accel=tcg", "-cpu", "qemu64", "-smp", "2", "-m", args.mem,
           "-kernel", vmlinuz, "-initrd", args.initrd, "-append", append,
           "-device", "vmcoreinfo", "-display", "none", "-vga", "none", "-nic", "none",
           "-monitor", "none", "-serial", f"file:{serial_path}",
           "-qmp", f"unix:{qmp_path},server=on,wait=off", "-no-reboot"]
    serial = Serial(serial_path)
    timings = {}
    log(f"big: {rel}, {args.mem}, holdup_big={args.big}: starting QEMU")
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)

    def wait_for(what, pred, timeout):
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            text = serial.poll()
            if pred(text):
                return time.monotonic()
            if "holdup-init: FAILED" in text:
                raise Failure(f"the guest reported a failure while waiting for {what}")
            if proc.poll() is not None:
                raise Failure(f"QEMU exited ({proc.returncode}) while waiting for {what}: "
                              f"{proc.stdout.read().decode(errors='replace').strip()}")
            if time.monotonic() > deadline:
                raise Failure(f"timed out after {timeout} s waiting for {what}")
            # progress: /init's own lines
            lines = [l for l in text.splitlines() if l.startswith("holdup-init: ")]
            for l in lines[seen:]:
                log(f"{round(time.monotonic() - t0)} s: {l}")
            seen = len(lines)
            time.sleep(1)

    try:
        t = wait_for("/init", lambda s: "holdup-init: mode big" in s, T_BOOT)
        timings["qemu_start_to_init"] = round(t - t0, 1)
        t = wait_for("all scenarios blocked", lambda s: "holdup-init: all scenarios blocked" in s,
                     T_BLOCKED)
        timings["qemu_start_to_all_blocked"] = round(t - t0, 1)
        t_armed = wait_for("the hung-task detector armed",
                           lambda s: "holdup-init: hung-task detector armed" in s, 120)
        records, errors = truth_records(serial.poll())
        if errors:
            raise Failure("truth lines:\n  " + "\n  ".join(errors[:10]))
        piles, census = check_truth(records, big)
        # Let khungtaskd report (10 s timeout, 10 warnings), as a real hung machine's log has.
        wait_for("the hung-task reports", lambda s: len(hung_reports(s)) >= 10, 300)
        time.sleep(5)
        timings["armed_to_reports"] = round(time.monotonic() - t_armed, 1)
        qmp = Qmp(qmp_path)
        qmp.cmd("stop")
        dump = os.path.join(out, "vmcore.kdump-zlib")
        t = time.monotonic()
        qmp.cmd("dump-guest-memory", timeout=T_QMP, paging=False, format="kdump-raw-zlib",
                protocol="file:" + dump)
        timings["qmp_dump_kdump_raw_zlib"] = round(time.monotonic() - t, 1)
        os.chmod(dump, 0o644)  # QEMU creates it 0400
        try:
            qmp.cmd("quit", timeout=10)
        except (Failure, OSError):
            pass
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
    timings["qemu_total"] = round(time.monotonic() - t0, 1)
    with open(os.path.join(out, "truth.jsonl"), "w") as f:
        for rec in records:
            f.write(json.dumps(rec, separators=(",", ":")) + "\n")
    meta = {
        "kernel": "6.1", "release": rel, "capture_name": "big",
        "capture_method": "live: QMP stop, then dump-guest-memory format kdump-raw-zlib "
                          "(not flattened; zero pages left out, nothing else filtered)",
        "guest": {"cpu": "qemu64", "memory": args.mem, "vcpus": 2},
        "holdup_big": dict(zip(("bench_threads", "writers", "idle_processes", "idle_threads"), big)),
        "qemu_version": qemu_version,
        "qemu_command": [c.replace(REPO_DIR, "$REPO") for c in cmd],
        "kernel_cmdline": append,
        "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "census": census,
        "pileups": {k: {x: v[x] for x in ("lock", "lock_name", "holder_pid", "holder_comm",
                                          "waiters", "waiters_read", "waiters_write")}
                    for k, v in piles.items()},
        "truth_lines": len(records),
        "hung_tasks_reported": sorted(f"{r['comm']}:{pid}" for pid, r in hung_reports(serial.poll()).items()),
        "timings_s": timings,
        "bytes": os.path.getsize(dump),
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    log(f"timings: {json.dumps(timings)}")
    log(f"census: {json.dumps(census)}")
    log(f"done: {dump} ({os.path.getsize(dump) / 1e6:.1f} MB), {len(records)} truth lines")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("initrd")
    ap.add_argument("outdir")
    ap.add_argument("--mem", default="16G")
    ap.add_argument("--big", default="3000,2000,4,1300",
                    help="BENCH threads, WRITERS, idle processes, threads per idle process")
    args = ap.parse_args()
    try:
        run(args)
    except Failure as e:
        print(f"big: FAILED: {e}", file=sys.stderr)
        tail = Serial(os.path.join(os.path.abspath(args.outdir), "serial.log")).tail()
        if tail:
            print("big: last lines of serial.log:\n" + tail, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
