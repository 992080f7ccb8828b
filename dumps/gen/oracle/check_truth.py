#!/usr/bin/env python3
"""Checks oracle outputs against truth.jsonl.

usage: check_truth.py TRUTH_JSONL ORACLE_DIR         (report; exit 1 on a mismatch)
       check_truth.py --pids TRUTH_JSONL CRASH_PS     (only: does `ps` list every truth pid?)
       check_truth.py --pids-drgn TRUTH_JSONL DRGN_D_STACKS  (the same, of drgn's D tasks)

For every fact of truth.jsonl (and every "task" line of the stock capture's): is the pid in crash-ps.txt with the same task address and comm;
is the task in `foreach UN bt` (crash-bt-UN.txt) or, failing that, in crash-bt-truth.txt, with
its `blocked_in` function in the stack; is it in drgn-D-stacks.txt with `blocked_in` there.
Function names are compared without compiler suffixes (.constprop.N, .isra.N, .part.N, .cold).
For a kernel crash cannot read (ORACLE_DIR has crash-error.txt: 7.3), drgn's D tasks stand for
crash's ps and stacks.
"""
import json
import os
import re
import sys

SUFFIX = re.compile(r"\.(constprop|isra|part|cold|llvm)(\.\d+)?.*$")


def base(fn):
    return SUFFIX.sub("", fn)


def load_truth(path):
    facts = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                d = json.loads(line)
                if d.get("kind") in ("fact", "task"):  # "task": the stock capture's
                    facts.append(d)
    return facts


def crash_ps(path):
    tasks = {}
    if not os.path.exists(path):
        return tasks
    for line in open(path):
        line = line.lstrip(">").strip()
        m = re.match(r"(\d+)\s+(\d+)\s+(\d+)\s+([0-9a-f]+)\s+(\S+)\s+\S+\s+\d+\s+\d+\s+(.*)$", line)
        if m:
            pid = int(m.group(1))
            tasks.setdefault(pid, []).append(
                {"task": int(m.group(4), 16), "st": m.group(5), "comm": m.group(6).strip()})
    return tasks


def crash_bt(path):
    """pid -> list of function names (one stack per task; first task of a pid wins)."""
    stacks = {}
    if not os.path.exists(path):
        return stacks
    cur = None
    for line in open(path):
        m = re.match(r"PID:\s+(\d+)\s+TASK:\s+([0-9a-f]+)", line)
        if m:
            pid = int(m.group(1))
            cur = stacks.setdefault(pid, []) if pid not in stacks else None
            continue
        m = re.match(r"\s*#\d+\s+\[[0-9a-f]+\]\s+(\S+)\s+at\s", line)
        if m and cur is not None:
            cur.append(base(m.group(1)))
    return stacks


def drgn_stacks(path):
    stacks = {}
    if not os.path.exists(path):
        return stacks
    cur = None
    for line in open(path):
        m = re.match(r"pid (\d+) tgid \d+ comm .* task (0x[0-9a-f]+) state D", line)
        if m:
            cur = stacks.setdefault(int(m.group(1)), [])
            continue
        m = re.match(r"\s+#\d+ (\S+) pc ", line)
        if m and cur is not None:
            cur.append(base(m.group(1).split("+")[0]))
    return stacks


def drgn_ps(path):
    """pid -> [{task, st, comm}] of the D-state tasks drgn-D-stacks.txt lists (the ps of a
    kernel crash cannot read)."""
    tasks = {}
    if not os.path.exists(path):
        return tasks
    for line in open(path):
        m = re.match(r"pid (\d+) tgid \d+ comm (.*) task (0x[0-9a-f]+) state D", line)
        if m:
            tasks.setdefault(int(m.group(1)), []).append(
                {"task": int(m.group(3), 16), "st": "D", "comm": m.group(2)})
    return tasks


def check_pids(truth, ps_path, drgn=False):
    facts = load_truth(truth)
    ps = drgn_ps(ps_path) if drgn else crash_ps(ps_path)
    missing = sorted({f["pid"] for f in facts} - set(ps))
    print(f"truth pids {len({f['pid'] for f in facts})}, missing from "
          f"{'drgn D tasks' if drgn else 'crash ps'}: {missing or 'none'}")
    return 1 if missing else 0


def main(truth, odir):
    facts = load_truth(truth)
    # A kernel crash cannot read (7.3): crash-error.txt says why; drgn alone is the oracle.
    no_crash = os.path.exists(os.path.join(odir, "crash-error.txt"))
    ps = crash_ps(os.path.join(odir, "crash-ps.txt"))
    if no_crash:
        ps = drgn_ps(os.path.join(odir, "drgn-D-stacks.txt"))
    bt_un = crash_bt(os.path.join(odir, "crash-bt-UN.txt"))
    bt_all = crash_bt(os.path.join(odir, "crash-bt-truth.txt"))
    dd = drgn_stacks(os.path.join(odir, "drgn-D-stacks.txt"))
    dpath = os.path.join(odir, "drgn-D-stacks.txt")
    drgn_failed = os.path.exists(dpath) and "# drgn failed" in open(dpath).read()
    bad = 0
    lines = []
    for f in facts:
        pid, want = f["pid"], f.get("blocked_in")
        notes = []
        p = ps.get(pid)
        if not p:
            notes.append("NOT-IN-PS")
        else:
            if int(f["task"], 16) not in {x["task"] for x in p}:
                notes.append(f"task-differs(ps {p[0]['task']:#x})")
            if f["comm"] not in {x["comm"].strip("[]") for x in p}:
                notes.append(f"comm-differs(ps {p[0]['comm']})")
        st = p[0]["st"] if p else "-"
        in_un = pid in bt_un
        stack = bt_un.get(pid) or bt_all.get(pid) or []
        if want:
            cr = "yes" if want in stack else "NO"
            dg = "yes" if want in dd.get(pid, []) else ("not-D" if pid not in dd else "NO")
            if drgn_failed:
                dg = "n/a(drgn-cannot-open)"
            if no_crash:
                cr = "n/a(crash-cannot-read)"
            elif cr != "yes":
                notes.append("crash-bt-lacks-blocked_in")
            if not drgn_failed and (dg == "NO" or (dg == "not-D" and in_un)):
                notes.append("drgn-lacks-blocked_in")
        else:
            cr = dg = "-"
        bad += len(notes)
        if no_crash:
            stack = dd.get(pid, [])
            in_un = pid in dd
        top = next((fn for fn in stack if fn not in ("__schedule", "schedule", "schedule_timeout",
                                                      "schedule_preempt_disabled", "io_schedule",
                                                      "rt_mutex_schedule")),
                   stack[0] if stack else "-")
        lines.append(f"{f['scenario']}\t{pid}\t{f['comm']}\t{f['role']}\t{f['lock_type']}\t"
                     f"{want}\tst={st}\tUN-bt={'y' if in_un else 'n'}\tcrash={cr}\tdrgn={dg}\t"
                     f"first-non-sched={top}\t{' '.join(notes) or 'ok'}")
    print("scenario\tpid\tcomm\trole\tlock\tblocked_in\tps-state\tin-foreach-UN\tcrash-bt\tdrgn-D\tcrash-frame\tresult")
    print("\n".join(lines))
    extra = sorted(set(dd) - {f["pid"] for f in facts})
    print(f"# D tasks (drgn) not in truth: {extra or 'none'}; UN tasks (crash) not in truth: "
          f"{sorted(set(bt_un) - {f['pid'] for f in facts}) or 'none'}")
    print(f"# {len(facts)} facts, {bad} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    a = sys.argv[1:]
    if len(a) == 3 and a[0] in ("--pids", "--pids-drgn"):
        sys.exit(check_pids(a[1], a[2], drgn=a[0] == "--pids-drgn"))
    if len(a) != 2:
        sys.exit(__doc__)
    sys.exit(main(a[0], a[1]))
