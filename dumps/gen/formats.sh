#!/usr/bin/env bash
# Usage: formats.sh KERNEL DIR [--zlib-only]
#                                    (KERNEL = 6.1 | 6.12; DIR holds vmcore, the raw ELF
#                                     /proc/vmcore, and truth.jsonl)
# Writes into DIR:
#   vmcore.elf-d31          makedumpfile -E -d L          (ELF, filtered)
#   vmcore.elf-d31.zst      zstd -19 --long=27 of it (long matches: the same pages recur far apart; 10.6 MB instead of 19.3)
#   vmcore.kdump-zlib       makedumpfile -c -d L
#   vmcore.kdump-lzo        makedumpfile -l -d L
#   vmcore.kdump-snappy     makedumpfile -p -d L, or oracle/kdumptool.py reencode of kdump-zlib
#   vmcore.kdump-zstd       makedumpfile -z -d L, or oracle/kdumptool.py reencode of kdump-zlib
#   vmcore.flat-zlib        makedumpfile -F -c -d L       (flattened)
#   vmcore.kdump-{lzo,snappy,zstd}.sample, vmcore.flat-zlib.sample
#                           every 8th page of those files, their compressed bytes copied
#                           verbatim (oracle/kdumptool.py sample; flatten for the last):
#                           small enough to commit, so CI reads every compression for real
#   vmcore.overfiltered     (6.12 only) bookworm's makedumpfile 1.7.2 -c -d 31: a real
#                           incomplete dump (1.7.2 does not know 6.12's page types)
#   vmcoreinfo.txt          the VMCOREINFO note's text, byte for byte
#   formats.txt             what was run, the level chosen, header status words, sizes, times
# Dump level L: the first of $DUMP_LEVELS (default "31 23 15 7 1 0") at which crash 8.0.6
# still lists every pid of truth.jsonl (`ps`) and can backtrace every one of them; the names
# keep "d31" as the fixtures expect, formats.txt records the real level.
# makedumpfile: $TOOLS_DIR/bin/makedumpfile (trixie's, with snappy/zstd) if tools.sh could build
# it, else bookworm's 1.7.2; every kdump header's compression flag is checked.
#
# --zlib-only (the small captures, e.g. 6.1-la57 and the stock ones, whose only committed dump is
# vmcore.kdump-zlib): writes vmcoreinfo.txt and vmcore.kdump-zlib (the level chosen as above),
# compares its pages with the raw vmcore, and stops. For a kernel crash cannot read (7.3,
# common.sh crash_reads), the level is chosen by drgn on vmcore.kdump-zlib.elf (the kdump
# file's memory as ELF, oracle/kdumptool.py mask), which is kept: the oracles read it.
# makedumpfile: $HOLDUP_MAKEDUMPFILE if set (make-dumps.sh 6.12-stock: sid's 1.7.8), else
# common.sh kernel_makedumpfile if it names one (7.3: sid's 1.7.8).
# A capture whose meta.json says its guest CPU had la57 must have NUMBER(pgtable_l5_enabled)=1.
#
# A capture without a hang (truth.jsonl has an "oops" line: make-dumps.sh 6.1-oops-la57) comes
# with its dumps made by makedumpfile in the capture kernel (vmcore.kdump-zlib, complete, and
# vmcore.kdump-zlib-enospc, which ran out of space): formats.sh only writes vmcoreinfo.txt,
# checks both headers' status words (0x1; 0x9 = zlib | incomplete) and compares every page
# they hold with the raw vmcore (oracle/kdumptool.py compare; incomplete), into formats.txt.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

KERNEL=${1:?usage: formats.sh 6.1|6.12 DIR}
DIR=${2:?usage: formats.sh 6.1|6.12 DIR}
rel=$(kernel_release "$KERNEL")
BIN=$TOOLS_DIR/bin
PY=$WORK_DIR/venv/bin/python
KT=$GEN_DIR/oracle/kdumptool.py
VMLINUX=$WORK_DIR/kernels/$rel/vmlinux
ZLIB_ONLY=no
[ "${3:-}" = --zlib-only ] && ZLIB_ONLY=yes
SRC=$DIR/vmcore
TRUTH=$DIR/truth.jsonl
[ -s "$SRC" ] || { echo "formats.sh: no $SRC" >&2; exit 1; }
[ -s "$TRUTH" ] || { echo "formats.sh: no $TRUTH" >&2; exit 1; }
[ -s "$VMLINUX" ] || { echo "formats.sh: no $VMLINUX (run vmlinux.sh $KERNEL)" >&2; exit 1; }

# The capture may be rewritten by a concurrent run of the generator: refuse to mix two captures.
stamp() { stat -c '%Y %s' "$SRC" "$TRUTH" | paste -sd' '; }
STAMP=$(stamp)
# capture.py writes meta.json last: without it the capture is unfinished.
[ -s "$DIR/meta.json" ] || { echo "formats.sh: $DIR/meta.json is missing: the capture is unfinished" >&2; exit 1; }

if grep -q '"kind":"oops"' "$TRUTH"; then
    REPORT=$DIR/formats.txt
    say() { echo "$*" | tee -a "$REPORT"; }
    status() { "$PY" "$KT" status "$1"; }
    : >"$REPORT"
    say "# formats.sh $KERNEL $(date -u +%FT%TZ): dumps made in the capture kernel (oops capture)"
    "$PY" "$KT" vmcoreinfo "$SRC" >"$DIR/vmcoreinfo.txt"
    say "vmcoreinfo.txt: $(wc -l <"$DIR/vmcoreinfo.txt") lines; $(grep -E '^(OSRELEASE|KERNELOFFSET|NUMBER\(pgtable_l5_enabled\))=' "$DIR/vmcoreinfo.txt" | tr '\n' ' ')"
    grep -qx 'NUMBER(pgtable_l5_enabled)=1' "$DIR/vmcoreinfo.txt" ||
        { echo "formats.sh: VMCOREINFO does not say 5-level paging" >&2; exit 1; }
    small=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["guest"]["enospc_tmpfs"])' "$DIR/meta.json")
    for spec in "vmcore.kdump-zlib:0x1:" "vmcore.kdump-zlib-enospc:0x9: into a tmpfs of $small (ENOSPC)"; do
        f=${spec%%:*}; rest=${spec#*:}; want=${rest%%:*}; where=${rest#*:}
        [ "$(status "$DIR/$f")" = "$want" ] || { echo "formats.sh: $f status $(status "$DIR/$f"), not $want" >&2; exit 1; }
        say "$f: makedumpfile-1.7.2 -c -d 31 in the capture kernel$where (0 s)"
    done
    "$PY" "$KT" incomplete "$DIR/vmcore.kdump-zlib-enospc" | tee -a "$REPORT"
    "$PY" "$KT" compare "$SRC" "$DIR/vmcore.kdump-zlib" "$DIR/vmcore.kdump-zlib-enospc" | tee -a "$REPORT"
    for f in "$DIR"/vmcore "$DIR"/vmcore.kdump-*; do
        say "$(printf '%-26s %12d bytes  %s' "$(basename "$f")" "$(stat -c %s "$f")" "$(status "$f" 2>/dev/null || echo ?)")"
    done
    exit 0
fi

if [ -n "${HOLDUP_MAKEDUMPFILE:-}" ]; then
    # set by make-dumps.sh for a capture whose kernel's default will not do (6.12-stock)
    MDF=$HOLDUP_MAKEDUMPFILE
    [ -x "$MDF" ] || bash "$GEN_DIR/chroot.sh" makedumpfile >&2
elif [ -n "$(kernel_makedumpfile "$KERNEL")" ]; then
    MDF=$(kernel_makedumpfile "$KERNEL")
    [ -x "$MDF" ] || bash "$GEN_DIR/chroot.sh" makedumpfile >&2
elif [ -x "$BIN/makedumpfile" ]; then MDF=$BIN/makedumpfile; else MDF=$BIN/makedumpfile-1.7.2; fi
MDF_OLD=$BIN/makedumpfile-1.7.2
REPORT=$DIR/formats.txt
: >"$REPORT"
say() { echo "$*" | tee -a "$REPORT"; }
say "# formats.sh $KERNEL $(date -u +%FT%TZ); makedumpfile: $("$MDF" -v 2>&1 | head -n1)"

status() { "$PY" "$KT" status "$1"; }

# mdf BINARY OUT ARGS...: one makedumpfile pass from the raw vmcore, timed.
mdf() {
    local bin=$1 out=$2 t0=$SECONDS
    shift 2
    rm -f "$out"
    if ! "$bin" "$@" "$SRC" "$out" >"$out.mdf.log" 2>&1; then
        cat "$out.mdf.log" >&2
        echo "formats.sh: $(basename "$bin") $* failed" >&2
        return 1
    fi
    say "$(basename "$out"): $(basename "$bin") $* ($((SECONDS - t0)) s)"
}

# -F writes the flattened stream to stdout.
mdf_flat() {
    local bin=$1 out=$2 t0=$SECONDS
    shift 2
    rm -f "$out"
    "$bin" "$@" "$SRC" >"$out" 2>"$out.mdf.log" || { cat "$out.mdf.log" >&2; return 1; }
    say "$(basename "$out"): $(basename "$bin") $* > file ($((SECONDS - t0)) s)"
}

# keeps_truth DUMP: crash lists every truth pid and backtraces each without a read error. For
# a kernel crash cannot read: drgn finds every truth pid in state D in DUMP's memory as an ELF
# file (DUMP.elf: the raw vmcore with every page DUMP lacks zeroed, oracle/kdumptool.py mask;
# kept: the oracles read it). Not makedumpfile -E at the same level: on 7.3, 1.7.8's -E keeps
# pages its -c drops (tasks among them).
keeps_truth() {
    local dump=$1 tmp pids ok=0
    if ! crash_reads "$KERNEL"; then
        "$PY" "$KT" mask "$SRC" "$dump" "$dump.elf" | tee -a "$REPORT"
        tmp=$(mktemp -d)
        (cd "$GEN_DIR/oracle" && "$PY" drgn_d_stacks.py "$VMLINUX" "$dump.elf") >"$tmp/d" 2>&1 || true
        "$PY" "$GEN_DIR/oracle/check_truth.py" --pids-drgn "$TRUTH" "$tmp/d" | tee -a "$REPORT" || ok=1
        rm -rf "$tmp"
        return $ok
    fi
    tmp=$(mktemp -d)
    pids=$(python3 -c 'import json,sys; print(" ".join(sorted({str(json.loads(l)["pid"]) for l in open(sys.argv[1]) if l.strip() and json.loads(l).get("kind") in ("fact", "task")}, key=int)))' "$TRUTH")
    # crash takes at most 100 arguments a command: 50 pids a foreach
    { printf 'set scroll off\nps > %s/ps\n' "$tmp"
      echo $pids | xargs -n 50 | while read -r chunk; do echo "foreach $chunk bt >> $tmp/bt"; done
      echo q
    } | timeout 600 "$BIN/crash" -s "$VMLINUX" "$dump" >"$tmp/out" 2>&1 || true
    [ -s "$tmp/bt" ] || { say "  crash wrote no backtraces: $(tail -n 3 "$tmp/out" | tr '\n' ' ')"; ok=1; }
    "$PY" "$GEN_DIR/oracle/check_truth.py" --pids "$TRUTH" "$tmp/ps" | tee -a "$REPORT" || ok=1
    if grep -Eiq 'read error|invalid kernel virtual address|cannot be determined' "$tmp/bt" "$tmp/out"; then
        say "  crash bt reports read errors: $(grep -Eih 'read error|invalid kernel' "$tmp/bt" "$tmp/out" | head -n 3 | tr '\n' ' ')"
        ok=1
    fi
    rm -rf "$tmp"
    return $ok
}

"$PY" "$KT" vmcoreinfo "$SRC" >"$DIR/vmcoreinfo.txt"
say "vmcoreinfo.txt: $(wc -l <"$DIR/vmcoreinfo.txt") lines; $(grep -E '^(OSRELEASE|KERNELOFFSET|NUMBER\(pgtable_l5_enabled\))=' "$DIR/vmcoreinfo.txt" | tr '\n' ' ')"
if python3 -c 'import json,sys; sys.exit(0 if "la57" in json.load(open(sys.argv[1])).get("guest", {}).get("cpu", "") else 1)' "$DIR/meta.json"; then
    grep -qx 'NUMBER(pgtable_l5_enabled)=1' "$DIR/vmcoreinfo.txt" ||
        { echo "formats.sh: the guest had la57 but VMCOREINFO does not say 5-level paging" >&2; exit 1; }
fi

# --- the dump level ---------------------------------------------------------------------------
LEVEL=
for l in ${DUMP_LEVELS:-31 23 15 7 1 0}; do
    mdf "$MDF" "$DIR/vmcore.kdump-zlib" -c -d "$l"
    if keeps_truth "$DIR/vmcore.kdump-zlib"; then
        LEVEL=$l
        break
    fi
    say "  -d $l loses truth tasks with $(basename "$MDF")"
done
[ -n "$LEVEL" ] || { echo "formats.sh: no dump level keeps the truth tasks" >&2; exit 1; }
say "dump level: $LEVEL"
[ "$(status "$DIR/vmcore.kdump-zlib")" = 0x1 ] || { echo "formats.sh: kdump-zlib is not zlib" >&2; exit 1; }

if [ $ZLIB_ONLY = yes ]; then
    rm -f "$DIR"/vmcore.*.mdf.log
    elf=()
    crash_reads "$KERNEL" || elf=("$DIR/vmcore.kdump-zlib.elf")
    "$PY" "$KT" compare "$SRC" "$DIR/vmcore.kdump-zlib" | tee -a "$REPORT"
    for f in "$SRC" "$DIR/vmcore.kdump-zlib" ${elf[@]+"${elf[@]}"}; do
        say "$(printf '%-22s %12d bytes  %s' "$(basename "$f")" "$(stat -c %s "$f")" "$(status "$f" 2>/dev/null || echo ?)")"
    done
    [ "$(stamp)" = "$STAMP" ] || { echo "formats.sh: $SRC or truth.jsonl changed while formats.sh ran: run it again" >&2; exit 1; }
    exit 0
fi

# --- the other formats ------------------------------------------------------------------------
mdf "$MDF" "$DIR/vmcore.elf-d31" -E -d "$LEVEL"
mdf "$MDF" "$DIR/vmcore.kdump-lzo" -l -d "$LEVEL"
[ "$(status "$DIR/vmcore.kdump-lzo")" = 0x2 ] || { echo "formats.sh: kdump-lzo is not lzo" >&2; exit 1; }
mdf_flat "$MDF" "$DIR/vmcore.flat-zlib" -F -c -d "$LEVEL"

for spec in snappy:p:0x4 zstd:z:0x20; do
    name=${spec%%:*}; rest=${spec#*:}; opt=${rest%%:*}; flag=${rest#*:}
    out=$DIR/vmcore.kdump-$name
    mdf "$MDF" "$out" -"$opt" -d "$LEVEL" || true
    got=$(status "$out" 2>/dev/null || echo none)
    if [ "$got" != "$flag" ]; then
        say "  $(basename "$MDF") -$opt wrote status $got, not $flag ($(grep -i -m1 'disabled\|invalid' "$out.mdf.log" || true)): re-encoding kdump-zlib"
        t0=$SECONDS
        "$PY" "$KT" reencode "$name" "$DIR/vmcore.kdump-zlib" "$out" 2>&1 | tee -a "$REPORT"
        say "$(basename "$out"): oracle/kdumptool.py reencode $name vmcore.kdump-zlib ($((SECONDS - t0)) s)"
        [ "$(status "$out")" = "$flag" ] || { echo "formats.sh: re-encoded $name has the wrong status" >&2; exit 1; }
    fi
done

t0=$SECONDS
rm -f "$DIR/vmcore.elf-d31.zst"
zstd -q -19 --long=27 "$DIR/vmcore.elf-d31" -o "$DIR/vmcore.elf-d31.zst"
say "vmcore.elf-d31.zst: zstd -19 --long=27 ($((SECONDS - t0)) s)"

for c in zlib lzo snappy zstd; do
    "$PY" "$KT" sample 8 "$DIR/vmcore.kdump-$c" "$DIR/vmcore.kdump-$c.sample"
    say "vmcore.kdump-$c.sample: oracle/kdumptool.py sample 8 vmcore.kdump-$c (0 s)"
done
"$PY" "$KT" flatten "$DIR/vmcore.kdump-zlib.sample" "$DIR/vmcore.flat-zlib.sample"
say "vmcore.flat-zlib.sample: oracle/kdumptool.py flatten vmcore.kdump-zlib.sample (0 s)"

if [ "$KERNEL" = 6.12 ]; then
    mdf "$MDF_OLD" "$DIR/vmcore.overfiltered" -c -d 31
    if keeps_truth "$DIR/vmcore.overfiltered"; then
        say "  NOTE: makedumpfile 1.7.2 -d 31 kept every truth task this time"
    else
        say "  vmcore.overfiltered: truth tasks lost, as intended (see oracles of vmcore.overfiltered)"
    fi
fi
rm -f "$DIR"/vmcore.*.mdf.log

# --- every page of every format must equal the raw vmcore's -------------------------------------
t0=$SECONDS
"$PY" "$KT" compare "$SRC" "$DIR/vmcore.elf-d31" "$DIR/vmcore.kdump-zlib" "$DIR/vmcore.kdump-lzo" \
    "$DIR/vmcore.kdump-snappy" "$DIR/vmcore.kdump-zstd" "$DIR/vmcore.flat-zlib" | tee -a "$REPORT"
say "page comparison ($((SECONDS - t0)) s)"

for f in "$DIR"/vmcore.*; do
    case "$f" in *.zst) s=zstd ;; *) s=$(status "$f" 2>/dev/null || echo ?) ;; esac
    say "$(printf '%-22s %12d bytes  %s' "$(basename "$f")" "$(stat -c %s "$f")" "$s")"
done
[ "$(stamp)" = "$STAMP" ] || { echo "formats.sh: $SRC or truth.jsonl changed while formats.sh ran: run it again" >&2; exit 1; }
