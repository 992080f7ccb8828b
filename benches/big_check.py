#!/usr/bin/env python3
"""Checks holdup's JSON report of the big dump against its truth (dumps/work/big/truth.jsonl).

usage: big_check.py REPORT.json TRUTH.jsonl

For each shared lock of a "pileup" truth line: the lock is in the report's `locks`, with the
truth's holder, and as many waiters (and as many of each mode) as the truth counted. For each
verdict (hangmod's a-g, stockmod's i_rwsem): a root cause names its pids. Prints one line per
check and exits 1 when any fails.
"""
import collections
import json
import sys


def main():
    report = json.load(open(sys.argv[1]))
    truth = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
    fails = 0

    def check(ok, what):
        nonlocal fails
        print(f"{'ok  ' if ok else 'FAIL'} {what}")
        fails += not ok

    s = report.get("summary", {})
    print(f"     report: {s.get('blocked_tasks')} blocked tasks, {s.get('root_causes')} root causes, "
          f"{s.get('cycles')} cycles, {len(report.get('tasks', []))} tasks and "
          f"{len(report.get('locks', []))} locks in the JSON")
    census = [r for r in truth if r["kind"] == "census"]
    if census:
        check(s.get("blocked_tasks") == census[0]["states"].get("D"),
              f"blocked tasks: report {s.get('blocked_tasks')}, guest census D {census[0]['states'].get('D')}")
    locks = {l["lock"]: l for l in report.get("locks", [])}
    for p in (r for r in truth if r["kind"] == "pileup"):
        lk = locks.get(p["lock"])
        if lk is None:
            check(False, f"{p['lock_name']} {p['lock']}: not in the report's locks")
            continue
        modes = collections.Counter(w.get("mode") for w in lk.get("waiters", []))
        holders = [h["pid"] for h in lk.get("holders", [])]
        check(p["holder_pid"] in holders,
              f"{p['lock_name']}: holder {p['holder_comm']} ({p['holder_pid']}) in holders {holders[:5]}")
        check(len(lk.get("waiters", [])) == p["waiters"],
              f"{p['lock_name']}: {len(lk.get('waiters', []))} waiters, truth {p['waiters']}")
        check(modes.get("read", 0) == p["waiters_read"] and modes.get("write", 0) == p["waiters_write"],
              f"{p['lock_name']}: read/write waiters {modes.get('read', 0)}/{modes.get('write', 0)}, "
              f"truth {p['waiters_read']}/{p['waiters_write']}")
    roots = [{t["pid"] for t in rc.get("tasks", [])} for rc in report.get("root_causes", [])]
    for v in (r for r in truth if r["kind"] == "verdict"):
        want = set(v["root_cause_pids"])
        hit = next((i + 1 for i, r in enumerate(roots) if want <= r), None)
        check(hit is not None, f"verdict {v['scenario']}: root cause {v['root_cause_comms']} "
                               f"{sorted(want)}" + (f" = root cause {hit}" if hit else ": not found"))
    rc_big = [(rc["rank"], rc["kind"], len(rc.get("blocked_behind", [])),
               [t["comm"] for t in rc.get("tasks", [])][:3]) for rc in report.get("root_causes", [])]
    print(f"     root causes (rank, kind, blocked behind, tasks): {rc_big[:10]}")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
