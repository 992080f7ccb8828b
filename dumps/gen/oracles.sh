#!/usr/bin/env bash
# Usage: oracles.sh KERNEL DUMPFILE OUTDIR
#        oracles.sh KERNEL DUMPFILE OUTDIR --unreadable NAME
# Runs crash 8.0.6 (batch) and drgn, each with the matching DWARF vmlinux, on DUMPFILE (any
# format they read) and writes into OUTDIR:
#   crash-sys.txt  crash-ps.txt  crash-bt-UN.txt (`foreach UN bt`)  crash-log.txt
#   crash-bt-a.txt        `bt -a`: the task active on each CPU, from its saved registers
#   crash-kmem-p.txt      `kmem -p` of each locked page: the truth pages (`page` fields of
#                         truth.jsonl beside DUMPFILE), then any other PG_locked page drgn finds
#   crash-bt-truth.txt    `foreach <every truth pid> bt` (truth tasks not in UN state too)
#   drgn-D-stacks.txt     every D-state task with its stack (oracle/drgn_d_stacks.py)
#   drgn-locked-pages.txt every PG_locked page (oracle/drgn_locked_pages.py)
#   drgn-slab-sample.tsv  locks inside slab objects (every task's mm, signal, sighand, files...;
#                         inodes and super blocks of the mounts) with drgn's slab_object_info()
#                         (oracle/drgn_slab_sample.py)
#   check.txt             oracle/check_truth.py: truth tasks vs what crash and drgn see
# and, once per capture directory (they depend on the boot's KERNELOFFSET, not on the format),
# symbols-sample.tsv, dwarf-offsets.tsv and module-dwarf-offsets.tsv (oracle/module_dwarf_offsets.py:
# the loaded modules' BTF and struct layouts, from the debug .ko files vmlinux.sh extracts)
# beside DUMPFILE, copied into OUTDIR.
# A dump of a stock capture (truth.jsonl has "task" lines: make-dumps.sh 6.1-stock, 6.12-stock)
# also gets
#   crash-mount.txt       `mount`
#   crash-dev-d.txt       `dev -d`: the disks and their I/O in flight
#   crash-sb-writers.txt  `struct super_block.s_id,s_writers SB` of each super block of the truth
#                         (the frozen one, the one whose freeze waits for a writer)
#   drgn-stock.txt        oracle/drgn_stock.py: the frozen super block's s_writers and the tasks
#                         on its waitqueues, the suspended mapped_device's flags and deferred
#                         bios, the folios, the kworker running the work (current_func), the
#                         inode's i_rwsem owner and waiters, the freezer on s_writers' rcuwait,
#                         the stopped kthread's flags and exited completion, the locked
#                         buffer_head and the tasks in its bit wait queue; the extra
#                         scenarios' workqueue (first_flusher, the worker running its work),
#                         journal (the locked transaction, t_updates, the holder's handle, the
#                         tasks on the journal's wait queues) and null_blk queue (tags in use,
#                         the request in flight, the tasks waiting for a tag), each checked
#                         against the truth;
#                         its "check" lines are added to check.txt.
# A dump without a hang (truth.jsonl has an "oops" line) gets instead of the D-state and page
# files: crash-bt.txt (`bt`: the panic task), crash-help-m.txt (`help -m`: crash's machine
# flags, VM_5LEVEL for 5-level paging), drgn-oops.txt (oracle/drgn_oops.py: sys, ps, the stack
# of each CPU's task and of the crashed thread), and check.txt from oracle/check_oops.py.
# --unreadable NAME: for a dump the tools are expected to refuse (a kdump file makedumpfile
# left incomplete): writes only crash-NAME.txt and drgn-NAME.txt, each tool's messages and
# exit status, and fails if either tool read the dump after all.
# For a kernel crash cannot read (common.sh crash_reads: 7.3) crash only writes crash-error.txt
# (what it says on DUMP), and drgn is the oracle: DUMP is then vmcore.kdump-zlib.elf (the kdump
# file's memory as ELF, formats.sh), drgn 0.3.0 refusing 7.3's kdump files.
# Exit status 0 even when check.txt reports problems (read it); 1 if a tool could not run.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: oracles.sh 6.1|6.12 DUMPFILE OUTDIR}
DUMP=$(realpath "${2:?usage: oracles.sh KERNEL DUMPFILE OUTDIR}")
OUT=${3:?usage: oracles.sh KERNEL DUMPFILE OUTDIR}
UNREADABLE=
if [ "${4:-}" = --unreadable ]; then UNREADABLE=${5:?usage: oracles.sh KERNEL DUMP OUTDIR --unreadable NAME}; fi
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
OOPS=no
[ -s "$TRUTH" ] && grep -q '"kind":"oops"' "$TRUTH" && OOPS=yes
STOCK=no
[ -s "$TRUTH" ] && grep -q '"kind":"task"' "$TRUTH" && STOCK=yes

if [ -n "$UNREADABLE" ]; then
    # crash ends its session right after its "dumpfile is incomplete" warning (exit status 1);
    # drgn fails on the first page it needs.
    rc=0
    printf 'set scroll off\nsys\nq\n' | timeout 300 "$CRASH" -s "$VMLINUX" "$DUMP" >"$OUT/crash.tmp" 2>&1 || rc=$?
    { echo "# crash 8.0.6 -s VMLINUX $(basename "$DUMP") (commands: sys): exit status $rc"; cat "$OUT/crash.tmp"; } >"$OUT/crash-$UNREADABLE.txt"
    rm -f "$OUT/crash.tmp"
    drc=0
    (cd "$OR" && "$PY" drgn_oops.py "$VMLINUX" "$DUMP") >"$OUT/drgn.tmp" 2>&1 || drc=$?
    { echo "# drgn 0.3.0 (oracle/drgn_oops.py) on $(basename "$DUMP"): exit status $drc"; tail -n 3 "$OUT/drgn.tmp"; } >"$OUT/drgn-$UNREADABLE.txt"
    rm -f "$OUT/drgn.tmp"
    echo "oracles.sh $KERNEL $DUMP: crash exit status $rc, drgn exit status $drc (both expected to fail)"
    if [ $rc -eq 0 ] && grep -q 'RELEASE:' "$OUT/crash-$UNREADABLE.txt"; then
        echo "oracles.sh: crash read $DUMP after all" >&2; exit 1
    fi
    [ $drc -ne 0 ] || { echo "oracles.sh: drgn read $DUMP after all" >&2; exit 1; }
    exit 0
fi

truth_field() { # field -> unique values in file order
    [ -s "$TRUTH" ] || return 0
    python3 -c '
import json, sys
seen = []
for l in open(sys.argv[1]):
    if l.strip():
        d = json.loads(l)
        v = d.get(sys.argv[2])
        if d.get("kind") in ("fact", "task") and v is not None and str(v) not in seen:
            seen.append(str(v))
print(" ".join(seen))' "$TRUTH" "$1"
}

# --- drgn ---------------------------------------------------------------------------------------
t0=$SECONDS
drgn_ok=yes
# drgn (libkdumpfile) cannot open every file crash can (QEMU's flattened kdump with an empty
# utsname): record the error in drgn-D-stacks.txt and go on with crash.
if [ $OOPS = yes ]; then
    (cd "$OR" && "$PY" drgn_oops.py "$VMLINUX" "$DUMP") >"$OUT/drgn-oops.txt" 2>"$OUT/drgn.err" ||
        { drgn_ok=no; echo "oracles.sh: drgn failed on $DUMP: $(tail -n 1 "$OUT/drgn.err")" >&2; }
elif ! (cd "$OR" && "$PY" drgn_d_stacks.py "$VMLINUX" "$DUMP") >"$OUT/drgn-D-stacks.txt" 2>"$OUT/drgn.err"; then
    drgn_ok=no
    { echo "# drgn failed on $(basename "$DUMP"):"; tail -n 1 "$OUT/drgn.err" | sed 's/^/# /'; } >>"$OUT/drgn-D-stacks.txt"
    echo "oracles.sh: drgn failed on $DUMP: $(tail -n 1 "$OUT/drgn.err")" >&2
fi
[ $drgn_ok = no ] || [ $OOPS = yes ] || (cd "$OR" && "$PY" drgn_locked_pages.py "$VMLINUX" "$DUMP") >"$OUT/drgn-locked-pages.txt" 2>>"$OUT/drgn.err" ||
    echo "oracles.sh: drgn locked-page scan failed (see drgn.err)" >&2
[ $drgn_ok = no ] || (cd "$OR" && "$PY" drgn_slab_sample.py "$VMLINUX" "$DUMP") >"$OUT/drgn-slab-sample.tsv" 2>>"$OUT/drgn.err" ||
    echo "oracles.sh: drgn slab sample failed (see drgn.err)" >&2
if [ $STOCK = yes ] && [ $drgn_ok = yes ]; then
    (cd "$OR" && "$PY" drgn_stock.py "$VMLINUX" "$DUMP" "$TRUTH" "$WORK_DIR/kernels/$rel/modules-dbg" \
        "$WORK_DIR/build/$rel/stockmod") >"$OUT/drgn-stock.txt" 2>>"$OUT/drgn.err" ||
        echo "oracles.sh: drgn_stock.py reports mismatches or failed (see drgn-stock.txt, drgn.err)" >&2
fi
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
    if [ $OOPS = yes ]; then
        echo "bt > $OUT/crash-bt.txt"
        echo "help -m > $OUT/crash-help-m.txt"
    else
        echo "foreach UN bt > $OUT/crash-bt-UN.txt"
    fi
    echo "bt -a > $OUT/crash-bt-a.txt"
    echo "log > $OUT/crash-log.txt"
    [ $OOPS = yes ] || echo "!rm -f $OUT/crash-kmem-p.txt; touch $OUT/crash-kmem-p.txt"
    for p in $pages; do echo "kmem -p $p >> $OUT/crash-kmem-p.txt"; done
    # crash takes at most 100 arguments a command: 50 pids a foreach
    if [ -n "$pids" ]; then
        echo "!rm -f $OUT/crash-bt-truth.txt"
        echo $pids | xargs -n 50 | while read -r chunk; do echo "foreach $chunk bt >> $OUT/crash-bt-truth.txt"; done
    fi
    if [ $STOCK = yes ]; then
        echo "mount > $OUT/crash-mount.txt"
        echo "dev -d > $OUT/crash-dev-d.txt"
        echo "!rm -f $OUT/crash-sb-writers.txt"
        for sb in $(python3 -c 'import json,sys; print(" ".join(d["address"] for d in map(json.loads, filter(str.strip, open(sys.argv[1]))) if d.get("object") == "super_block"))' "$TRUTH"); do
            echo "struct super_block.s_id,s_writers $sb >> $OUT/crash-sb-writers.txt"
        done
    fi
    echo "q"
} >"$cmds"
t0=$SECONDS
if crash_reads "$KERNEL"; then
    timeout 900 "$CRASH" -s "$VMLINUX" "$DUMP" <"$cmds" >"$OUT/crash.out" 2>&1 || true
    t_crash=$((SECONDS - t0))
    [ -s "$OUT/crash-ps.txt" ] || { tail -n 20 "$OUT/crash.out" >&2; echo "oracles.sh: crash could not open $DUMP" >&2; exit 1; }
else
    # crash cannot read this kernel (common.sh crash_reads): what it says, for the record;
    # drgn alone is the oracle (check_truth.py reads crash-error.txt as that sign).
    rm -f "$OUT"/crash-*.txt
    rc=0
    printf 'set scroll off\nsys\nq\n' | timeout 300 "$CRASH" -s "$VMLINUX" "$DUMP" >"$OUT/crash.out" 2>&1 || rc=$?
    { echo "# crash $("$CRASH" --version 2>/dev/null | awk '/^crash /{print $2; exit}') -s VMLINUX $(basename "$DUMP") (commands: sys): exit status $rc"
      grep -v '^$' "$OUT/crash.out" | tail -n 8
    } >"$OUT/crash-error.txt"
    t_crash=$((SECONDS - t0))
    if [ $rc -eq 0 ] && grep -q 'RELEASE:' "$OUT/crash.out"; then
        echo "oracles.sh: crash read $DUMP after all: drop $KERNEL from common.sh crash_reads" >&2; exit 1
    fi
fi

# --- per-capture tables ---------------------------------------------------------------------------
if [ ! -s "$CAP/symbols-sample.tsv" ] || [ ! -s "$CAP/dwarf-offsets.tsv" ]; then
    vi=$CAP/vmcoreinfo.txt
    if [ ! -s "$vi" ]; then vi=$OUT/vmcoreinfo.txt; "$PY" "$OR/kdumptool.py" vmcoreinfo "$DUMP" >"$vi"; fi
    "$PY" "$OR/symbols_sample.py" "$VMLINUX" "$vi" >"$CAP/symbols-sample.tsv"
    [ $drgn_ok = no ] || (cd "$OR" && "$PY" symbols_sample.py --check "$VMLINUX" "$DUMP" "$CAP/symbols-sample.tsv") >&2
    (cd "$OR" && "$PY" dwarf_offsets.py "$VMLINUX") >"$CAP/dwarf-offsets.tsv"
fi
cp "$CAP/symbols-sample.tsv" "$CAP/dwarf-offsets.tsv" "$OUT/"
# The loaded modules' BTF and structures (drgn lists the modules and their build IDs: a dump
# drgn can open). The .ko files: the guests' initramfs copies, the -dbg package's (vmlinux.sh).
if [ ! -s "$CAP/module-dwarf-offsets.tsv" ] && [ $drgn_ok = yes ]; then
    (cd "$OR" && "$PY" module_dwarf_offsets.py "$VMLINUX" "$DUMP" \
        "$WORK_DIR"/build/"$rel"/first{,-oops,-stock}-root/lib/modules \
        "$WORK_DIR/kernels/$rel/modules-dbg") \
        >"$CAP/module-dwarf-offsets.tsv.tmp"
    mv "$CAP/module-dwarf-offsets.tsv.tmp" "$CAP/module-dwarf-offsets.tsv"
fi
[ ! -s "$CAP/module-dwarf-offsets.tsv" ] || cp "$CAP/module-dwarf-offsets.tsv" "$OUT/"

# --- check against the truth --------------------------------------------------------------------
if [ $OOPS = yes ]; then
    "$PY" "$OR/check_oops.py" "$TRUTH" "$OUT" >"$OUT/check.txt" || true
elif [ -s "$TRUTH" ]; then
    "$PY" "$OR/check_truth.py" "$TRUTH" "$OUT" >"$OUT/check.txt" || true
    if [ $STOCK = yes ]; then
        { echo "# drgn-stock.txt (oracle/drgn_stock.py): the objects of the truth in memory"
          grep -E '^(check |# [0-9]+ checks)' "$OUT/drgn-stock.txt" 2>/dev/null || echo "# drgn_stock.py gave nothing"
        } >>"$OUT/check.txt"
    fi
fi
{
    echo "oracles.sh $KERNEL $DUMP: drgn ${t_drgn}s (ok: $drgn_ok), crash ${t_crash}s, total $((SECONDS - t_all))s"
    if [ $OOPS = yes ]; then
        echo "  crash ps: $(grep -c . "$OUT/crash-ps.txt") lines; bt -a: $(grep -c '^PID:' "$OUT/crash-bt-a.txt" || true) tasks; drgn: $(grep -c '^ps ' "$OUT/drgn-oops.txt" || true) tasks, $(grep '^sys pgtable_l5_enabled' "$OUT/drgn-oops.txt" || true)"
    else
        [ -s "$OUT/crash-ps.txt" ] || echo "  crash: cannot read it: $(sed -n 1p "$OUT/crash-error.txt")"
        echo "  crash ps: $(grep -c . "$OUT/crash-ps.txt" 2>/dev/null) lines; foreach UN bt: $(grep -c '^PID:' "$OUT/crash-bt-UN.txt" || true) tasks; drgn D tasks: $(grep -c '^pid ' "$OUT/drgn-D-stacks.txt" || true); kmem -p pages: $(echo $pages | wc -w)"
    fi
    [ -s "$OUT/check.txt" ] && tail -n 1 "$OUT/check.txt"
} | tee "$OUT/summary.txt"
