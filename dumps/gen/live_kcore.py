#!/usr/bin/env python3
# SPDX-License-Identifier: MIT OR Apache-2.0
"""The capture 6.1-live after capture.py: holdup's runs on /proc/kcore, checked.

    live_kcore.py OUTDIR [--holdup PATH]    (OUTDIR: dumps/work/out/6.1-live)

capture.py left in OUTDIR: live/ (what guest/live-kcore.sh archived in the guest: each run's
stdout NAME.out and stderr NAME.err, runs.txt, the head of /proc/kcore, the tasks' states from
/proc before and after the runs), vmcore (the kdump of the same boot, after sysrq c),
serial.log, truth.jsonl and meta.json. This writes, in OUTDIR:

  live-report.txt     stdout of `/holdup --no-pager /proc/kcore` (first run)
  live-report.json    stdout of `/holdup --json /proc/kcore` (first run)
  live-report-2.json  stdout of the second `--json` run, right after the first, only if it
                      differs from the first in more than the times (`*_ns`) that move on a
                      running kernel; meta.json and check.txt say which
  live-ps.txt         stdout of `/holdup ps /proc/kcore`
  vmcoreinfo.txt      the VMCOREINFO note of /proc/kcore (from its first 64 KiB)
  kdump-report.json   the host's holdup --json on vmcore (the kdump of the same boot; not
                      committed, like the vmcore)
  check.txt           the checks: every truth task in the live report, blocked where truth
                      says; each verdict among its root causes; the two runs; the kdump's report
  meta.json           capture.py's, plus "live_kcore": commands, exit statuses, seconds, stderr,
                      holdup's version and binary, stability, the kdump comparison

Exits non-zero when a file is missing; the checks' problems are counted in check.txt (its last
line) and meta.json, not fatal: what holdup gets wrong on a live kernel is the point.
"""
import argparse
import difflib
import hashlib
import json
import os
import subprocess
import sys

GEN_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(os.path.dirname(GEN_DIR))
KDUMPTOOL = os.path.join(GEN_DIR, "oracle", "kdumptool.py")

# Run name in the guest (live-kcore.sh) -> committed file name.
OUTPUTS = {"report-text": "live-report.txt", "report-json": "live-report.json",
           "ps": "live-ps.txt"}
# Blocked, as holdup's task states say it (crash's UN).
BLOCKED_STATES = {"UN"}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def strip_times(v):
    """The JSON report without what moves on a running kernel: every `*_ns` number."""
    if isinstance(v, dict):
        return {k: (None if k.endswith("_ns") else strip_times(x)) for k, x in v.items()}
    if isinstance(v, list):
        return [strip_times(x) for x in v]
    return v


def json_diff(a, b, path="", out=None):
    """Paths where two JSON values differ (at most 200)."""
    out = [] if out is None else out
    if len(out) >= 200:
        return out
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: only in {'the second' if k in b else 'the first'}")
            else:
                json_diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: {len(a)} items, then {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            json_diff(x, y, f"{path}[{i}]", out)
    elif a != b:
        out.append(f"{path}: {json.dumps(a)[:120]} -> {json.dumps(b)[:120]}")
    return out


def root_causes(report):
    """(kind, pids of its tasks, pids blocked behind it) of every root cause."""
    return sorted((rc["kind"], tuple(sorted(t["pid"] for t in rc["tasks"])),
                   tuple(sorted(t["pid"] for t in rc.get("blocked_behind", []))))
                  for rc in report.get("root_causes", []))


def task_views(report):
    """pid -> (comm, state, blocked_in, lock waited on) of every task of the report."""
    return {t["pid"]: (t["comm"], t.get("state"), t.get("blocked_in"),
                       (t.get("waits_on") or {}).get("lock")) for t in report.get("tasks", [])}


def proc_states(path):
    """pid -> (state, comm, wchan) from the guest's /proc listing."""
    out = {}
    for line in read(path).splitlines():
        parts = line.split()
        if len(parts) >= 3:
            out[int(parts[0])] = (parts[1], parts[2], parts[3] if len(parts) > 3 else "")
    return out


def check_truth(report, truth, lines):
    """Every truth task in the report, blocked where truth says; every verdict among the root
    causes. Appends to lines; returns the number of problems."""
    problems = 0
    tasks = {t["pid"]: t for t in report.get("tasks", [])}
    locks = {lk["lock"]: lk for lk in report.get("locks", [])}
    lines.append("== truth facts against the live report's tasks and locks")
    for f in (r for r in truth if r["kind"] == "fact"):
        who = f"{f['scenario']} {f['comm']}:{f['pid']} {f['role']} of {f['lock_type']} {f['lock']}"
        t = tasks.get(f["pid"])
        if t is None:
            lines.append(f"PROBLEM {who}: not among the report's tasks")
            problems += 1
            continue
        bad = []
        if t["comm"] != f["comm"]:
            bad.append(f"comm {t['comm']!r}")
        if t.get("state") not in BLOCKED_STATES:
            bad.append(f"state {t.get('state')!r}, not blocked")
        if f.get("blocked_in") and t.get("blocked_in") != f["blocked_in"]:
            bad.append(f"blocked_in {t.get('blocked_in')!r}, truth {f['blocked_in']!r}")
        waits = t.get("waits_on") or {}
        if f["role"] == "waiter" and waits.get("lock") != f["lock"]:
            bad.append(f"waits on {waits.get('lock')!r} ({waits.get('lock_type')}), truth "
                       f"{f['lock']}")
        if bad:
            lines.append(f"PROBLEM {who}: " + "; ".join(bad))
            problems += 1
            continue
        note = ""
        if f["role"] == "holder":
            lk = locks.get(f["lock"])
            holders = [h["pid"] for h in (lk or {}).get("holders", [])]
            note = (f"; the report names it a holder of the lock" if f["pid"] in holders
                    else f"; note: the report does not list it among the lock's holders "
                         f"({holders if lk else 'lock not in the report'})")
        lines.append(f"ok {who}: {t['state']} in {t.get('blocked_in')}"
                     + (f", waits on {waits.get('lock')}" if waits else "") + note)
    lines.append("")
    lines.append("== truth verdicts against the live report's root causes")
    rcs = report.get("root_causes", [])
    for v in (r for r in truth if r["kind"] == "verdict"):
        want = sorted(v["root_cause_pids"])
        match = [rc for rc in rcs if sorted(t["pid"] for t in rc["tasks"]) == want]
        who = f"{v['scenario']} {v['root_cause_comms']} {want} cycle={v['cycle']}"
        if not match:
            lines.append(f"PROBLEM {who}: no root cause with exactly these tasks")
            problems += 1
            continue
        rc = match[0]
        cyc = rc["kind"] in ("deadlock", "self_deadlock")
        if cyc != v["cycle"]:
            lines.append(f"PROBLEM {who}: root cause #{rc['rank']} is {rc['kind']}")
            problems += 1
            continue
        lines.append(f"ok {who}: root cause #{rc['rank']} {rc['kind']} "
                     f"(confidence {rc.get('confidence')})")
    extra = [rc for rc in rcs if not any(sorted(t["pid"] for t in rc["tasks"])
                                         == sorted(v["root_cause_pids"])
                                         for v in truth if v["kind"] == "verdict")]
    for rc in extra:
        lines.append(f"PROBLEM a root cause no verdict has: #{rc['rank']} {rc['kind']} "
                     f"{[(t['comm'], t['pid']) for t in rc['tasks']]}")
        problems += 1
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--holdup", default=os.path.join(REPO_DIR, "target", "release", "holdup"),
                    help="the host's holdup, for the kdump of the same boot")
    args = ap.parse_args()
    out = os.path.abspath(args.outdir)
    live = os.path.join(out, "live")
    meta = json.loads(read(os.path.join(out, "meta.json")))
    lk = meta.get("live_kcore")
    if not lk:
        sys.exit(f"live_kcore: {out}/meta.json has no live_kcore section (run capture.py 6.1-live)")
    truth = [json.loads(l) for l in read(os.path.join(out, "truth.jsonl")).splitlines() if l]
    runs = {r["name"]: r for r in lk["runs"]}
    for r in lk["runs"]:
        r["stderr"] = read(os.path.join(live, r["name"] + ".err"), "rb").decode(
            errors="replace")[:4000]
    lk["holdup_sha256"] = read(os.path.join(live, "holdup.sha256")).split()[0]
    lines = [f"6.1-live: holdup on /proc/kcore of the running hung kernel ({meta['release']}), "
             f"{lk['holdup_version']}, checked against hangmod's truth and the kdump of the same "
             "boot", ""]
    problems = 0

    # The committed outputs.
    for name, dst in OUTPUTS.items():
        src = os.path.join(live, name + ".out")
        with open(src, "rb") as f, open(os.path.join(out, dst), "wb") as o:
            o.write(f.read())
    lines.append("== the runs in the guest (as root, /proc/uptime before and after each)")
    for r in lk["runs"]:
        lines.append(f"{r['name']}: `{r['command']}`: exit status {r['exit_status']}, "
                     f"{r['seconds']} s, {r['stdout_bytes']} bytes on stdout, "
                     f"{r['stderr_bytes']} on stderr")
        if r["stderr"].strip():
            for l in r["stderr"].strip().splitlines()[:20]:
                lines.append(f"    stderr: {l}")
    for r in lk["runs"]:
        if r["exit_status"] != 0:
            lines.append(f"PROBLEM {r['name']}: exit status {r['exit_status']}")
            problems += 1
    lines.append("")

    # The guest's own view of the tasks, from /proc.
    lines.append("== truth tasks in /proc before and after the runs (state D expected)")
    before = proc_states(os.path.join(live, "proc-before.txt"))
    after = proc_states(os.path.join(live, "proc-after.txt"))
    pids = sorted({r["pid"] for r in truth if r["kind"] == "fact"})
    for pid in pids:
        b, a = before.get(pid), after.get(pid)
        ok = b and a and b[0] == "D" and a[0] == "D"
        lines.append(f"{'ok' if ok else 'PROBLEM'} {pid}: before {b}, after {a}")
        problems += 0 if ok else 1
    lines.append("")

    # The JSON report against the truth.
    report = None
    try:
        report = json.loads(read(os.path.join(out, "live-report.json")))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        lines.append(f"PROBLEM live-report.json is no JSON: {e}")
        problems += 1
    if report is not None:
        lines.append(f"live report: outcome {report.get('outcome')!r}, panic "
                     f"{json.dumps(report.get('panic'))}, summary {json.dumps(report.get('summary'))}, "
                     f"dump {json.dumps(report.get('dump'))}")
        lines.append("")
        problems += check_truth(report, truth, lines)
    lines.append("")

    # The two runs, back to back.
    lines.append("== stability: the second run against the first")
    second = os.path.join(out, "live-report-2.json")
    if os.path.exists(second):
        os.unlink(second)
    stab = {"exit_statuses": {n: runs[n]["exit_status"] for n in
                              ("report-json", "report-json-2", "report-text", "report-text-2")}}
    for a, b in (("report-json", "report-json-2"), ("report-text", "report-text-2")):
        if runs[a]["exit_status"] != runs[b]["exit_status"]:
            lines.append(f"{a} exited with status {runs[a]['exit_status']}, {b} with "
                         f"{runs[b]['exit_status']}")
    j1 = read(os.path.join(live, "report-json.out"), "rb")
    j2 = read(os.path.join(live, "report-json-2.out"), "rb")
    if j1 == j2:
        failed = runs["report-json"]["exit_status"] != 0 and runs["report-json-2"]["exit_status"] != 0
        stab["json"] = "identical" + (" (both runs failed)" if failed else "")
        lines.append("--json: the second run's output is byte for byte the first's"
                     + (f" ({len(j1)} bytes; both runs failed)" if failed else ""))
    else:
        try:
            d1, d2 = json.loads(j1), json.loads(j2)
            all_diffs = json_diff(d1, d2)
            diffs = json_diff(strip_times(d1), strip_times(d2))
            if not diffs:
                stab["json"] = f"identical but for times (*_ns): {len(all_diffs)} values"
                lines.append(f"--json: identical but for {len(all_diffs)} times (*_ns), e.g. "
                             + "; ".join(all_diffs[:3]))
            else:
                stab["json"] = f"differs: {len(diffs)} values other than times"
                stab["json_differences"] = diffs[:50]
                with open(second, "wb") as o:
                    o.write(j2)
                lines.append(f"--json: differs in {len(diffs)} values other than times "
                             "(live-report-2.json):")
                lines += [f"    {d}" for d in diffs[:50]]
        except json.JSONDecodeError as e:
            stab["json"] = f"not comparable: {e}"
            with open(second, "wb") as o:
                o.write(j2)
            lines.append(f"--json: not comparable ({e}); live-report-2.json kept")
    t1 = read(os.path.join(live, "report-text.out"), "rb").decode(errors="replace").splitlines()
    t2 = read(os.path.join(live, "report-text-2.out"), "rb").decode(errors="replace").splitlines()
    if t1 == t2:
        failed = runs["report-text"]["exit_status"] != 0 and runs["report-text-2"]["exit_status"] != 0
        stab["text"] = "identical" + (" (both runs failed)" if failed else "")
        lines.append("text: the second run's output is the first's"
                     + (f" ({len(t1)} lines; both runs failed)" if failed else ""))
    else:
        diff = [l for l in difflib.unified_diff(t1, t2, "first", "second", lineterm="", n=0)
                if not l.startswith(("---", "+++", "@@"))]
        stab["text"] = f"{len(diff)} lines differ"
        stab["text_differences"] = diff[:40]
        lines.append(f"text: {len(diff)} lines differ (- first, + second):")
        lines += [f"    {l}" for l in diff[:40]]
    lk["stability"] = stab
    lines.append("")

    # VMCOREINFO of /proc/kcore, and of the kdump of the same boot.
    vi = subprocess.run([sys.executable, KDUMPTOOL, "vmcoreinfo", os.path.join(live, "kcore-head")],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    lines.append("== VMCOREINFO of /proc/kcore")
    if vi.returncode != 0:
        lines.append(f"PROBLEM no VMCOREINFO in the head of /proc/kcore: {vi.stderr.decode().strip()}")
        problems += 1
    else:
        with open(os.path.join(out, "vmcoreinfo.txt"), "wb") as o:
            o.write(vi.stdout)
        kv = dict(l.split("=", 1) for l in vi.stdout.decode().splitlines() if "=" in l)
        lines.append(f"OSRELEASE={kv.get('OSRELEASE')} KERNELOFFSET={kv.get('KERNELOFFSET')} "
                     f"({len(kv)} entries; CRASHTIME {'present' if 'CRASHTIME' in kv else 'absent'})")
        vk = subprocess.run([sys.executable, KDUMPTOOL, "vmcoreinfo", os.path.join(out, "vmcore")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if vk.returncode == 0:
            kk = dict(l.split("=", 1) for l in vk.stdout.decode().splitlines() if "=" in l)
            same = kk.get("KERNELOFFSET") == kv.get("KERNELOFFSET")
            lines.append(f"{'ok' if same else 'PROBLEM'} the kdump's KERNELOFFSET "
                         f"{kk.get('KERNELOFFSET')}: {'the same boot' if same else 'another boot?'}")
            problems += 0 if same else 1
            only = sorted(set(kk) - set(kv))
            lines.append(f"entries only in the kdump's VMCOREINFO: {only}")
    lines.append("")

    # The kdump of the same boot, read by the host's holdup.
    lines.append("== the kdump of the same boot (sysrq c after the runs), host holdup --json")
    kd = {}
    vmcore = os.path.join(out, "vmcore")
    kjson = os.path.join(out, "kdump-report.json")
    res = subprocess.run([args.holdup, "--json", vmcore], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    with open(kjson, "wb") as o:
        o.write(res.stdout)
    kd["command"] = f"target/release/holdup --json vmcore (host, {os.path.getsize(vmcore)} bytes)"
    kd["exit_status"] = res.returncode
    kd["stderr"] = res.stderr.decode(errors="replace")[:2000]
    lines.append(f"exit status {res.returncode}; stderr: {res.stderr.decode(errors='replace').strip()[:300]!r}")
    kreport = None
    try:
        kreport = json.loads(res.stdout)
    except json.JSONDecodeError as e:
        lines.append(f"PROBLEM the kdump report is no JSON: {e}")
        problems += 1
    if kreport is not None:
        lines.append(f"kdump report: outcome {kreport.get('outcome')!r}, panic "
                     f"{json.dumps(kreport.get('panic'))}, summary {json.dumps(kreport.get('summary'))}")
        lines.append("-- the kdump report against the truth (for reference)")
        sub = []
        kprob = check_truth(kreport, truth, sub)
        lines += [l for l in sub if l.startswith("PROBLEM")]
        lines.append(f"{kprob} problem(s) of the kdump report against the truth")
        kd["problems_against_truth"] = kprob
        kd["root_causes_kdump"] = [list(x) for x in root_causes(kreport)]
        lines.append("root causes of the kdump report (kind, pids, pids blocked behind): " + "; ".join(
            f"{k} {list(p)} {list(b)}" for k, p, b in root_causes(kreport)))
    if kreport is not None and report is None:
        lines.append("PROBLEM no live report to compare with the kdump's")
        problems += 1
    if kreport is not None and report is not None:
        lines.append("-- root causes (kind, pids, pids blocked behind): live vs kdump")
        lr, kr = root_causes(report), root_causes(kreport)
        kd["root_causes_live"] = [list(x) for x in lr]
        kd["root_causes_kdump"] = [list(x) for x in kr]
        kd["root_causes_equal"] = lr == kr
        if lr == kr:
            lines.append(f"ok the same {len(lr)} root causes: " + "; ".join(
                f"{k} {list(p)}" for k, p, _ in lr))
        else:
            for x in lr:
                if x not in kr:
                    lines.append(f"PROBLEM only live: {x}")
                    problems += 1
            for x in kr:
                if x not in lr:
                    lines.append(f"PROBLEM only kdump: {x}")
                    problems += 1
        lines.append("-- tasks of the truth (comm, state, blocked_in, lock waited on): live vs kdump")
        lt, kt = task_views(report), task_views(kreport)
        differ = []
        for pid in pids:
            if lt.get(pid) != kt.get(pid):
                differ.append(pid)
                lines.append(f"PROBLEM {pid}: live {lt.get(pid)}, kdump {kt.get(pid)}")
                problems += 1
        if not differ:
            lines.append(f"ok all {len(pids)} truth tasks alike in both")
        others = sorted(set(lt) ^ set(kt))
        lines.append(f"tasks in only one of the two reports (not in the truth): "
                     f"{[(p, (lt.get(p) or kt.get(p))[0], 'live' if p in lt else 'kdump') for p in others]}")
        kd["truth_tasks_differing"] = differ
    lk["kdump"] = kd
    lines.append("")

    lk["problems"] = problems
    lines.append(f"{problems} problem(s)")
    with open(os.path.join(out, "check.txt"), "w") as o:
        o.write("\n".join(lines) + "\n")
    meta["live_kcore"] = lk
    meta.setdefault("files", {})
    for name, what in [("live-report.txt", "stdout of /holdup --no-pager /proc/kcore"),
                       ("live-report.json", "stdout of /holdup --json /proc/kcore"),
                       ("live-report-2.json", "stdout of the second /holdup --json /proc/kcore"),
                       ("live-ps.txt", "stdout of /holdup ps /proc/kcore"),
                       ("vmcoreinfo.txt", "the VMCOREINFO note of /proc/kcore"),
                       ("check.txt", "dumps/gen/live_kcore.py")]:
        p = os.path.join(out, name)
        if os.path.exists(p):
            meta["files"][name] = {"what": what, "bytes": os.path.getsize(p), "sha256": sha256(p)}
        else:
            meta["files"].pop(name, None)
    with open(os.path.join(out, "meta.json"), "w") as o:
        json.dump(meta, o, indent=2)
        o.write("\n")
    print(f"live_kcore: {problems} problem(s); {out}/check.txt")


if __name__ == "__main__":
    main()
