#!/usr/bin/env python3
"""Checks the oracle outputs of a capture without a hang (an oops) against its truth.jsonl.

usage: check_oops.py TRUTH_JSONL ORACLE_DIR        (report; exit 1 on a mismatch)

- crash `ps` (crash-ps.txt) lists the oopsing task with the truth's pid, task and comm, running
  ('>', RU); no task is in D state (UN);
- crash `bt` (crash-bt.txt) of the panic task is that task, crosses the page-fault exception
  frame (asm_exc_page_fault, then `[exception RIP: <function>+...]`) and goes on with the
  truth's callers in order;
- crash `bt -a` (crash-bt-a.txt) shows one task per online CPU, the oopsing one among them;
- crash `sys` (crash-sys.txt) gives an `Oops:` panic message, `help -m` the VM_5LEVEL flag;
- drgn (drgn-oops.txt) reads pgtable_l5_enabled = 1, the crashed thread is the oopsing task,
  and its stack starts at the truth's function followed by its callers.
"""
import json
import os
import re
import sys

SUFFIX = re.compile(r"\.(constprop|isra|part|cold|llvm)(\.\d+)?.*$")


def base(fn):
    return SUFFIX.sub("", fn)


def read(odir, name):
    p = os.path.join(odir, name)
    return open(p).read() if os.path.exists(p) else ""


def crash_frames(text):
    """[(pid, comm, [function or 'RIP:function'])] of crash `bt` output."""
    out = []
    for line in text.splitlines():
        m = re.match(r'PID:\s+(\d+)\s+TASK:\s+[0-9a-f]+\s+CPU:\s+\d+\s+COMMAND:\s+"(.*)"', line)
        if m:
            out.append((int(m.group(1)), m.group(2), []))
            continue
        if not out:
            continue
        m = re.match(r"\s*#\d+\s+\[[0-9a-f]+\]\s+(\S+)\s+at\s", line)
        if m:
            out[-1][2].append(base(m.group(1)))
            continue
        m = re.match(r"\s*\[exception RIP: ([^+\]]+)", line)
        if m:
            out[-1][2].append("RIP:" + base(m.group(1)))
    return out


def in_order(seq, want):
    it = iter(seq)
    return all(any(x == w for x in it) for w in want)


def main(truth, odir):
    recs = [json.loads(l) for l in open(truth) if l.strip()]
    oops = next(r for r in recs if r["kind"] == "oops")
    pid, fn, callers = oops["pid"], oops["function"], oops["callers"]
    problems = []

    ps = read(odir, "crash-ps.txt")
    line = next((l for l in ps.splitlines() if re.match(rf">?\s*{pid}\s", l)), None)
    if not line:
        problems.append(f"crash ps: no pid {pid}")
    else:
        f = line.lstrip(">").split()
        if not line.startswith(">") or f[4] != "RU" or int(f[3], 16) != int(oops["task"], 16) \
                or f[8].strip("[]") != oops["comm"]:
            problems.append(f"crash ps: {line.strip()!r} is not the running {oops['comm']} "
                            f"{oops['task']}")
    un = [l for l in ps.splitlines()[1:] if len(l.split()) > 4 and l.lstrip(">").split()[4] == "UN"]
    if un:
        problems.append(f"crash ps: tasks in D state: {un}")

    bt = crash_frames(read(odir, "crash-bt.txt"))
    if not bt or bt[0][0] != pid:
        problems.append(f"crash bt: the panic task is not pid {pid}: {bt[:1]}")
    else:
        frames = bt[0][2]
        want = ["asm_exc_page_fault", "RIP:" + fn] + callers
        if not in_order(frames, want):
            problems.append(f"crash bt: {frames} lacks {want} in order")
        else:
            print(f"crash bt of pid {pid}: {' '.join(frames)}")

    bta = crash_frames(read(odir, "crash-bt-a.txt"))
    cpus = re.search(r"CPUS:\s+(\d+)", read(odir, "crash-sys.txt"))
    if not cpus or len(bta) != int(cpus.group(1)) or pid not in [b[0] for b in bta]:
        problems.append(f"crash bt -a: {[(b[0], b[1]) for b in bta]} for CPUS {cpus and cpus.group(1)}")
    else:
        print(f"crash bt -a: {', '.join(f'{c} (pid {p})' for p, c, _ in bta)}")

    panic = re.search(r'PANIC:\s+"(.*)"', read(odir, "crash-sys.txt"))
    if not panic or not panic.group(1).startswith("Oops: "):
        problems.append(f"crash sys: panic message {panic and panic.group(1)!r} is not an Oops line")
    else:
        print(f"crash sys: PANIC {panic.group(1)!r}")
    if "VM_5LEVEL" not in read(odir, "crash-help-m.txt"):
        problems.append("crash help -m: no VM_5LEVEL flag")
    else:
        print("crash help -m: VM_5LEVEL")

    drgn = read(odir, "drgn-oops.txt")
    if "sys pgtable_l5_enabled 1" not in drgn:
        problems.append("drgn: pgtable_l5_enabled is not 1")
    else:
        print("drgn: pgtable_l5_enabled 1")
    m = re.search(r"^sys crashed_thread pid (\d+)", drgn, re.M)
    if not m or int(m.group(1)) != pid:
        problems.append(f"drgn: crashed thread {m and m.group(1)} is not pid {pid}")
    crashed = drgn.split("bt-crashed", 1)[-1]
    stack = [base(x.split("+")[0]) for x in re.findall(r"^\s+#\d+ (\S+) pc ", crashed, re.M)]
    if stack[:1] != [fn] or not in_order(stack, callers):
        problems.append(f"drgn: crashed thread's stack {stack} is not {fn} then {callers}")
    else:
        print(f"drgn crashed thread: {' '.join(stack)}")
    for p in problems:
        print(f"PROBLEM: {p}")
    print(f"# oops of {oops['comm']} (pid {pid}) in {fn}: {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
