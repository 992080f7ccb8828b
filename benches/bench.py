#!/usr/bin/env python3
"""holdup against crash and drgn on one dump: wall time (warm page cache), max RSS, ratios.

usage: bench.py --holdup BIN --phases BIN --dump DUMP [--vmlinux VMLINUX] [--crash BIN]
                [--python BIN] [--runs N] [--peer-runs N] [--json OUT]

Run by benches/run.sh (`just bench`), which builds holdup first. Each command is run once
untimed (so the dump and the tools are in the page cache), then timed with hyperfine when it
is installed (else a plain loop). A missing peer is reported and skipped: holdup's own numbers
are always measured.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# (name, holdup arguments before the dump, crash commands, drgn_peer.py mode, target in ms)
COMMANDS = [
    ("info", ["info"], ["sys"], "info", 20),
    ("log", ["log"], ["log"], "log", 20),
    ("bt --all", ["bt", "--all"], ["foreach bt"], "bt", 30),
    ("report", [], ["foreach UN bt", "@kmem-p"], "report", 50),
]


def timed_runs(argv, runs, stdin_path=None):
    """(wall-clock seconds of each run, mean CPU seconds (user + system) of a run), after one
    untimed warm-up run."""
    hf = shutil.which("hyperfine")
    if hf:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
            path = out.name
        cmd = [hf, "--warmup", "1", "--runs", str(runs), "--export-json", path, "--style", "none",
               "--ignore-failure"]
        line = " ".join(quote(x) for x in argv)
        if stdin_path:
            # Through the shell for the redirection; hyperfine subtracts the shell's own time.
            line += " < " + quote(stdin_path)
        else:
            cmd.append("-N")
        cmd.append(line)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(path) as f:
            r = json.load(f)["results"][0]
        os.unlink(path)
        return r["times"], r["user"] + r["system"]
    times = []
    cpu0 = None
    for i in range(runs + 1):
        stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
        if i == 1:
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu0 = ru.ru_utime + ru.ru_stime
        t = time.perf_counter()
        subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if i:
            times.append(time.perf_counter() - t)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return times, (ru.ru_utime + ru.ru_stime - cpu0) / runs


def quote(a):
    return a if a and all(c.isalnum() or c in "/._-=,:+" for c in a) else "'" + a.replace("'", "'\\''") + "'"


def max_rss_kb(argv, stdin_path=None):
    """Max RSS in KiB from /usr/bin/time -v, or None."""
    if not os.path.exists("/usr/bin/time"):
        return None
    stdin = open(stdin_path) if stdin_path else subprocess.DEVNULL
    r = subprocess.run(["/usr/bin/time", "-v"] + argv, stdin=stdin, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True)
    for line in r.stderr.splitlines():
        if "Maximum resident set size" in line:
            return int(line.split(":")[1])
    return None


def fmt_s(t):
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def locked_pages(holdup, dump):
    """Addresses of the locked pages holdup's report names (for crash's `kmem -p`)."""
    r = subprocess.run([holdup, "--json", dump], capture_output=True, text=True)
    try:
        locks = json.loads(r.stdout)["locks"]
    except (ValueError, KeyError):
        return []
    return [lk["lock"] for lk in locks if lk.get("lock_type") == "page_lock"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--holdup", required=True)
    ap.add_argument("--phases", required=True)
    ap.add_argument("--dump", required=True)
    ap.add_argument("--vmlinux")
    ap.add_argument("--crash")
    ap.add_argument("--python")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--peer-runs", type=int, default=3)
    ap.add_argument("--json")
    a = ap.parse_args()

    peers = {}
    if a.vmlinux and a.crash:
        peers["crash"] = True
    if a.vmlinux and a.python:
        peers["drgn"] = True

    work = tempfile.mkdtemp(prefix="holdup-bench-")
    pages = locked_pages(a.holdup, a.dump) if "crash" in peers else []
    rows = []
    for name, hargs, ccmds, dmode, target in COMMANDS:
        row = {"command": name, "target_ms": target}
        argv = [a.holdup] + hargs + [a.dump]
        t, cpu = timed_runs(argv, a.runs)
        row["holdup"] = {"mean": statistics.mean(t), "median": statistics.median(t), "min": min(t),
                         "max": max(t), "stdev": statistics.pstdev(t), "cpu": cpu, "runs": len(t),
                         "rss_kb": max_rss_kb(argv)}
        h = row["holdup"]
        print(f"holdup {name:<9} {fmt_s(h['mean'])} mean, {fmt_s(h['median'])} median, "
              f"{fmt_s(h['min'])} min, {fmt_s(cpu)} CPU ({len(t)} runs), max RSS {h['rss_kb'] or '?'} KiB",
              flush=True)
        if "crash" in peers:
            cmds = os.path.join(work, f"crash-{dmode}.cmds")
            with open(cmds, "w") as f:
                f.write("set scroll off\n")
                for c in ccmds:
                    if c == "@kmem-p":
                        for p in pages:
                            f.write(f"kmem -p {p}\n")
                    else:
                        f.write(c + "\n")
                f.write("q\n")
            cargv = [a.crash, "-s", a.vmlinux, a.dump]
            t, cpu = timed_runs(cargv, a.peer_runs, stdin_path=cmds)
            row["crash"] = {"mean": statistics.mean(t), "median": statistics.median(t), "min": min(t),
                            "cpu": cpu, "runs": len(t),
                            "rss_kb": max_rss_kb(cargv, cmds), "commands": ccmds}
            print(f"  crash  {fmt_s(row['crash']['mean'])} mean ({len(t)} runs), "
                  f"max RSS {row['crash']['rss_kb'] or '?'} KiB", flush=True)
        if "drgn" in peers:
            dargv = [a.python, os.path.join(HERE, "drgn_peer.py"), a.vmlinux, a.dump, dmode]
            t, cpu = timed_runs(dargv, a.peer_runs)
            row["drgn"] = {"mean": statistics.mean(t), "median": statistics.median(t), "min": min(t),
                           "cpu": cpu, "runs": len(t),
                           "rss_kb": max_rss_kb(dargv), "mode": dmode}
            print(f"  drgn   {fmt_s(row['drgn']['mean'])} mean ({len(t)} runs), "
                  f"max RSS {row['drgn']['rss_kb'] or '?'} KiB", flush=True)
        rows.append(row)

    # The PG_locked scan of every struct page, cold and from the page cache, and the phases.
    ph = subprocess.run([a.phases, a.dump], capture_output=True, text=True)
    scan = [l for l in ph.stdout.splitlines() if l.startswith("page scan ") and "GB/s" in l]

    print()
    print(f"== {a.dump}: warm page cache; wall time median (min), holdup's CPU time (user+sys); "
          f"ratios of medians ==")
    hdr = f"{'command':<10} {'holdup':>18} {'CPU':>8} {'target':>8}"
    if "crash" in peers:
        hdr += f" {'crash':>9} {'holdup/crash':>12}"
    if "drgn" in peers:
        hdr += f" {'drgn':>9} {'holdup/drgn':>11}"
    print(hdr)
    for r in rows:
        h = r["holdup"]
        ok = "ok" if h["median"] * 1e3 <= r["target_ms"] else "MISSED"
        line = (f"{r['command']:<10} {fmt_s(h['median']):>8} ({fmt_s(h['min'])}) {fmt_s(h['cpu']):>8} "
                f"{'<=' + str(r['target_ms']) + 'ms':>8}")
        if "crash" in r:
            line += f" {fmt_s(r['crash']['median']):>9} {h['median'] / r['crash']['median']:>12.4f}"
        if "drgn" in r:
            line += f" {fmt_s(r['drgn']['median']):>9} {h['median'] / r['drgn']['median']:>11.4f}"
        print(line + f"  {ok}")
    print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}, {os.cpu_count()} CPUs")
    print()
    print("max RSS (MiB): " + ", ".join(
        f"{r['command']}: holdup {(r['holdup']['rss_kb'] or 0) / 1024:.0f}"
        + (f", crash {(r['crash']['rss_kb'] or 0) / 1024:.0f}" if "crash" in r else "")
        + (f", drgn {(r['drgn']['rss_kb'] or 0) / 1024:.0f}" if "drgn" in r else "")
        for r in rows))
    print()
    print("PG_locked scan of every struct page (target >= 2 GB/s):")
    for l in scan:
        print("  " + l)
    print()
    print("where the time goes (crates/kernel/examples/phases.rs, one run):")
    for l in ph.stdout.splitlines():
        if not l.startswith("page scan ") or "GB/s" not in l:
            print("  " + l)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"dump": a.dump, "rows": rows, "scan": scan, "phases": ph.stdout}, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
