#!/usr/bin/env bash
# Usage: oracles.sh KERNEL DUMPFILE OUTDIR
# Runs crash 8.0.6 (batch) and drgn, each with the matching DWARF vmlinux, on DUMPFILE (any
# format they read) and writes into OUTDIR:
#   crash-sys.txt  crash-ps.txt  crash-bt-UN.txt (`foreach UN bt`)  crash-log.txt
#   crash-kmem-p.txt      `kmem -p` of each locked page: the truth pages (`page` fields of
#                         truth.jsonl beside DUMPFILE), then any other PG_locked page drgn finds
#   crash-bt-truth.txt    `foreach <every truth pid> bt` (truth tasks not in UN state too)
#   drgn-D-stacks.txt     every D-state task with its stack (oracle/drgn_d_stacks.py)
#   drgn-locked-pages.txt every PG_locked page (oracle/drgn_locked_pages.py)
#   check.txt             oracle/check_truth.py: truth tasks vs what crash and drgn see
# and, once per capture directory (they depend on the boot's KERNELOFFSET, not on the format),
# symbols-sample.tsv and dwarf-offsets.tsv beside DUMPFILE, copied into OUTDIR.
# Exit status 0 even when check.txt reports problems (read it); 1 if a tool could not run.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: oracles.sh 6.1|6.12 DUMPFILE OUTDIR}
DUMP=$(realpath "${2:?usage: oracles.sh KERNEL DUMPFILE OUTDIR}")
OUT=${3:?usage: oracles.sh KERNEL DUMPFILE OUTDIR}
rel=$(kernel_release "$KERNEL")
VMLINUX=$WORK_DIR/kernels/$rel/vmlinux
CRASH=$TOOLS_DIR/bin/crash
PY=$WORK_DIR/venv/bin/python
OR=$GEN_DIR/oracle
CAP=$(dirname "$DUMP")
TRUTH=$CAP/truth.jsonl
[ -s "$VMLINUX" ] || { echo "oracles.sh: no $VMLINUX (run vmlinux.sh $KERNEL)" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
t_all=$SECONDS

truth_field() { # field -> unique values in file order
    [ -s "$TRUTH" ] || return 0
    python3 -c '
import json, sys
seen = []
for l in open(sys.argv[1]):
    if l.strip():
        d = json.loads(l)
        v = d.get(sys.argv[2])
        if d.get("kind") == "fact" and v is not None and str(v) not in seen:
            seen.append(str(v))
print(" ".join(seen))' "$TRUTH" "$1"
}

# --- drgn ---------------------------------------------------------------------------------------
t0=$SECONDS
drgn_ok=yes
# drgn (libkdumpfile) cannot open every file crash can (QEMU's flattened kdump with an empty
# utsname): record the error in drgn-D-stacks.txt and go on with crash.
if ! (cd "$OR" && "$PY" drgn_d_stacks.py "$VMLINUX" "$DUMP") >"$OUT/drgn-D-stacks.txt" 2>"$OUT/drgn.err"; then
    drgn_ok=no
    { echo "# drgn failed on $(basename "$DUMP"):"; tail -n 1 "$OUT/drgn.err" | sed 's/^/# /'; } >>"$OUT/drgn-D-stacks.txt"
    echo "oracles.sh: drgn failed on $DUMP: $(tail -n 1 "$OUT/drgn.err")" >&2
fi
[ $drgn_ok = no ] || (cd "$OR" && "$PY" drgn_locked_pages.py "$VMLINUX" "$DUMP") >"$OUT/drgn-locked-pages.txt" 2>>"$OUT/drgn.err" ||
    echo "oracles.sh: drgn locked-page scan failed (see drgn.err)" >&2
t_drgn=$((SECONDS - t0))

# --- crash --------------------------------------------------------------------------------------
pages=$(truth_field page)
for p in $(awk '/^page /{print $2}' "$OUT/drgn-locked-pages.txt" 2>/dev/null); do
    case " $pages " in *" $p "*) ;; *) pages="$pages $p" ;; esac
done
pids=$(truth_field pid)
cmds=$OUT/crash.cmds
{
    echo "set scroll off"
    echo "sys > $OUT/crash-sys.txt"
    echo "ps > $OUT/crash-ps.txt"
    echo "foreach UN bt > $OUT/crash-bt-UN.txt"
    echo "log > $OUT/crash-log.txt"
    echo "!rm -f $OUT/crash-kmem-p.txt; touch $OUT/crash-kmem-p.txt"
    for p in $pages; do echo "kmem -p $p >> $OUT/crash-kmem-p.txt"; done
    if [ -n "$pids" ]; then echo "foreach $pids bt > $OUT/crash-bt-truth.txt"; fi
    echo "q"
} >"$cmds"
t0=$SECONDS
timeout 900 "$CRASH" -s "$VMLINUX" "$DUMP" <"$cmds" >"$OUT/crash.out" 2>&1 || true
t_crash=$((SECONDS - t0))
[ -s "$OUT/crash-ps.txt" ] || { tail -n 20 "$OUT/crash.out" >&2; echo "oracles.sh: crash could not open $DUMP" >&2; exit 1; }

# --- per-capture tables ---------------------------------------------------------------------------
if [ ! -s "$CAP/symbols-sample.tsv" ] || [ ! -s "$CAP/dwarf-offsets.tsv" ]; then
    vi=$CAP/vmcoreinfo.txt
    if [ ! -s "$vi" ]; then vi=$OUT/vmcoreinfo.txt; "$PY" "$OR/kdumptool.py" vmcoreinfo "$DUMP" >"$vi"; fi
    "$PY" "$OR/symbols_sample.py" "$VMLINUX" "$vi" >"$CAP/symbols-sample.tsv"
    [ $drgn_ok = no ] || (cd "$OR" && "$PY" symbols_sample.py --check "$VMLINUX" "$DUMP" "$CAP/symbols-sample.tsv") >&2
    (cd "$OR" && "$PY" dwarf_offsets.py "$VMLINUX") >"$CAP/dwarf-offsets.tsv"
fi
cp "$CAP/symbols-sample.tsv" "$CAP/dwarf-offsets.tsv" "$OUT/"

# --- check against the truth --------------------------------------------------------------------
if [ -s "$TRUTH" ]; then
    "$PY" "$OR/check_truth.py" "$TRUTH" "$OUT" >"$OUT/check.txt" || true
fi
{
    echo "oracles.sh $KERNEL $DUMP: drgn ${t_drgn}s (ok: $drgn_ok), crash ${t_crash}s, total $((SECONDS - t_all))s"
    echo "  crash ps: $(grep -c . "$OUT/crash-ps.txt") lines; foreach UN bt: $(grep -c '^PID:' "$OUT/crash-bt-UN.txt" || true) tasks; drgn D tasks: $(grep -c '^pid ' "$OUT/drgn-D-stacks.txt" || true); kmem -p pages: $(echo $pages | wc -w)"
    [ -s "$OUT/check.txt" ] && tail -n 1 "$OUT/check.txt"
} | tee "$OUT/summary.txt"
