#!/usr/bin/env python3
"""holdup against crash and drgn on one dump: wall time (warm page cache), max RSS, ratios;
then `holdup triage` of every committed fixture dump against the single runs.

usage: bench.py --holdup BIN --phases BIN --dump DUMP [--vmlinux VMLINUX] [--crash BIN]
                [--python BIN] [--runs N] [--peer-runs N] [--triage-runs N]
                [--scratch DIR] [--only commands|triage] [--json OUT]

Run by benches/run.sh (`just bench`), which builds holdup first. Each command is run once
untimed (so the dump and the tools are in the page cache), then timed with hyperfine when it
is installed (else a plain loop). A missing peer is reported and skipped: holdup's own numbers
are always measured.

The triage benchmark (issue: "wall time within 1.3x of the sum of single runs divided by the
core count"): every dump of dumps/manifest.json (role `dump`, and `dump-zst` unpacked with the
zstd tool into --scratch, named as the tests name it), timed as `holdup triage -q DUMP...` and
as one `holdup DUMP --json` each, in interleaved rounds (one triage, then each single, the
order rotating) so that a change of the machine's load weighs on both alike.
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


TRIAGE_TARGET = 1.3


def fixture_dumps(root, scratch):
    """Every committed fixture dump, ready to open: (name, path). `dump-zst` files are unpacked
    once into `scratch` (as tests/src/lib.rs names them); without the zstd tool they are left
    out, and said so."""
    with open(os.path.join(root, "dumps", "manifest.json")) as f:
        manifest = json.load(f)
    out = []
    for fx in manifest["fixtures"]:
        for fl in fx["files"]:
            src = os.path.join(root, "dumps", fx["dir"], fl["file"])
            name = f"{fx['name']} {fl['file']}"
            if fl["role"] == "dump":
                out.append((name, src))
            elif fl["role"] == "dump-zst":
                base = fl["file"][: -len(".zst")] if fl["file"].endswith(".zst") else fl["file"]
                dst = os.path.join(scratch, f"{fx['name']}-{fl['sha256'][:12]}-{base}")
                if not os.path.exists(dst):
                    if not shutil.which("zstd"):
                        print(f"triage: no zstd tool: {name} left out (apt-get install zstd)",
                              file=sys.stderr)
                        continue
                    os.makedirs(scratch, exist_ok=True)
                    tmp = f"{dst}.tmp{os.getpid()}"
                    subprocess.run(["zstd", "-dqf", src, "-o", tmp], check=True)
                    os.rename(tmp, dst)
                out.append((name + " (unpacked)", dst))
    return out


def cpu_busy():
    """CPU seconds all processes of the machine have used so far (/proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal ...: all but idle and iowait.
    return (sum(v[:8]) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK")


def run_once(argv, capture=False):
    """(wall seconds, CPU seconds (user + system), stdout if captured) of one run."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(argv, stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, text=True)
    wall = time.perf_counter() - t
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return wall, cpu, r.stdout if capture else None


def triage_bench(holdup, root, scratch, runs):
    """`holdup triage` of every fixture dump vs the sum of single runs / cores."""
    dumps = fixture_dumps(root, scratch)
    cores = len(os.sched_getaffinity(0))
    paths = [p for _, p in dumps]
    triage_argv = [holdup, "triage", "-q"] + paths
    singles = [[holdup, p, "--json"] for p in paths]
    for argv in [triage_argv] + singles:  # warm-up: the page cache, untimed
        run_once(argv)
    busy0, ru0, t0 = cpu_busy(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    t_wall, t_cpu, s_wall, s_cpu = [], [], [[] for _ in paths], [[] for _ in paths]
    in_triage = {p: [] for p in paths}
    for r in range(runs):
        w, c, out = run_once(triage_argv, capture=True)
        t_wall.append(w)
        t_cpu.append(c)
        for line in out.splitlines():
            try:
                d = json.loads(line)
                in_triage[d["path"]].append(d["seconds"])
            except (ValueError, KeyError):
                pass
        for k in range(len(paths)):
            i = (k + r) % len(paths)
            w, c, _ = run_once(singles[i])
            s_wall[i].append(w)
            s_cpu[i].append(c)
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ours = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    elapsed = time.perf_counter() - t0
    others = max(0.0, cpu_busy() - busy0 - ours) / elapsed if busy0 is not None else None
    med = statistics.median
    single = [{"dump": n, "path": p, "median": med(s_wall[i]), "min": min(s_wall[i]),
               "cpu": statistics.mean(s_cpu[i]),
               "seconds_in_triage": med(in_triage[p]) if in_triage[p] else None}
              for i, (n, p) in enumerate(dumps)]
    sum_single = sum(x["median"] for x in single)
    ideal = sum_single / cores
    wall = med(t_wall)
    res = {"dumps": len(dumps), "cores": cores, "runs": runs, "target_ratio": TRIAGE_TARGET,
           "triage": {"median": wall, "min": min(t_wall), "max": max(t_wall),
                      "cpu": statistics.mean(t_cpu)},
           "single": single, "sum_single": sum_single,
           "sum_single_cpu": sum(x["cpu"] for x in single),
           "ideal": ideal, "ratio": wall / ideal,
           "ratio_cpu": wall / (sum(x["cpu"] for x in single) / cores),
           "other_load_cores": others}
    res["ok"] = res["ratio"] <= TRIAGE_TARGET
    return res


def print_triage(t):
    print(f"== holdup triage of {t['dumps']} fixture dumps vs single `holdup DUMP --json` runs; "
          f"{t['runs']} interleaved rounds, medians, {t['cores']} cores ==")
    print(f"{'dump':<44} {'single':>9} {'(min)':>9} {'CPU':>9} {'in triage':>10}")
    for x in t["single"]:
        it = fmt_s(x["seconds_in_triage"]) if x["seconds_in_triage"] is not None else "?"
        print(f"{x['dump']:<44} {fmt_s(x['median']):>9} {fmt_s(x['min']):>9} "
              f"{fmt_s(x['cpu']):>9} {it:>10}")
    tr = t["triage"]
    print(f"sum of single runs {fmt_s(t['sum_single'])} (CPU {fmt_s(t['sum_single_cpu'])}); "
          f"/ {t['cores']} cores = {fmt_s(t['ideal'])}")
    print(f"triage wall {fmt_s(tr['median'])} (min {fmt_s(tr['min'])}, max {fmt_s(tr['max'])}), "
          f"CPU {fmt_s(tr['cpu'])}: {tr['cpu'] / tr['median']:.2f} cores busy")
    print(f"triage / (sum single / cores) = {t['ratio']:.2f}  (target <= {t['target_ratio']}): "
          + ("ok" if t["ok"] else "MISSED"))
    print(f"triage / (sum of the single runs' CPU time / cores) = {t['ratio_cpu']:.2f}  (1.0: "
          "every core busy with the same work the single runs do)")
    if t["other_load_cores"] is not None:
        print(f"other processes kept {t['other_load_cores']:.2f} of the {t['cores']} cores busy "
              "meanwhile (a shared machine: the figures above are only as good as this is low)")


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
    ap.add_argument("--triage-runs", type=int, default=10)
    ap.add_argument("--scratch", help="where dump-zst fixtures are unpacked (target/fixtures)")
    ap.add_argument("--only", choices=["commands", "triage"])
    ap.add_argument("--json")
    a = ap.parse_args()
    root = os.path.dirname(HERE)
    scratch = a.scratch or os.path.join(root, "target", "fixtures")

    if a.only == "triage":
        t = triage_bench(a.holdup, root, scratch, a.triage_runs)
        print_triage(t)
        print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"triage": t}, f, indent=1)
        return 0

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
    t = None
    if a.only != "commands":
        print()
        t = triage_bench(a.holdup, root, scratch, a.triage_runs)
        print_triage(t)
        print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"dump": a.dump, "rows": rows, "scan": scan, "phases": ph.stdout,
                       "triage": t}, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
