#!/usr/bin/env bash
# `just bench-big`: holdup on the big dump (`just dumps-big`: 16 GiB, ~10,000 tasks, pile-ups of
# thousands), warm page cache: the report, `ps` and `bt --all`, each run once untimed and then
# RUNS (3) times under /usr/bin/time -v: best wall time, its CPU time (user + system), the
# largest max RSS; the report's JSON checked against the dump's truth (benches/big_check.py);
# then crash's `ps` and `foreach bt` and drgn's ps and stack traces (benches/drgn_peer.py) once
# each, with the -dbg vmlinux, a peer stopped after PEER_TIMEOUT (600) s. See benches/README.md.
#   usage: benches/big.sh [DUMP]     (default dumps/work/big/vmcore.kdump-zlib)
#   env:   RUNS (3), PEER_TIMEOUT (600), PEERS (yes; no: holdup only)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source dumps/gen/common.sh
DUMP=${1:-$WORK_DIR/big/vmcore.kdump-zlib}
TRUTH=$(dirname "$DUMP")/truth.jsonl
RUNS=${RUNS:-3}
PEER_TIMEOUT=${PEER_TIMEOUT:-600}
VMLINUX=$WORK_DIR/kernels/$(kernel_release 6.1)/vmlinux
CRASH=$TOOLS_DIR/bin/crash
PY=$WORK_DIR/venv/bin/python
[ -f "$DUMP" ] || { echo "bench-big: no dump $DUMP (make it with: just dumps-big)" >&2; exit 1; }
cargo build --release -q -p holdup
HOLDUP=${CARGO_TARGET_DIR:-$ROOT/target}/release/holdup
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "dump: $DUMP ($(du -h "$DUMP" | cut -f1), $(stat -c %s "$DUMP") bytes)"

measure() { # name, command...: one untimed run, then RUNS timed; prints one line
    local name=$1 best= cpu= rss=0 i w u s m status
    shift
    "$@" >/dev/null 2>&1 || true
    for i in $(seq "$RUNS"); do
        status=0
        /usr/bin/time -f '%e %U %S %M' -o "$OUT/time" "$@" >"$OUT/out" 2>"$OUT/err" || status=$?
        read -r w u s m <"$OUT/time"
        if [ -z "$best" ] || awk "BEGIN{exit !($w < $best)}"; then
            best=$w cpu=$(awk "BEGIN{print $u + $s}")
        fi
        [ "$m" -gt "$rss" ] && rss=$m
    done
    printf '%-28s wall %6.2f s (best of %d)  cpu %6.2f s  max RSS %5d MiB  exit %d  %d lines\n' \
        "$name" "$best" "$RUNS" "$cpu" $((rss / 1024)) "$status" "$(wc -l <"$OUT/out")"
    [ -s "$OUT/err" ] && sed 's/^/    stderr: /' "$OUT/err" | head -n 5
    return 0
}
once() { # name, command...: one run (cold for the tool, warm page cache), time-limited
    local name=$1 w u s m status=0
    shift
    /usr/bin/time -f '%e %U %S %M' -o "$OUT/time" timeout "$PEER_TIMEOUT" "$@" >"$OUT/out" 2>"$OUT/err" || status=$?
    # The last line: GNU time puts "Command exited with non-zero status N" before it.
    read -r w u s m < <(tail -n 1 "$OUT/time") || true
    if [ "$status" = 124 ]; then
        printf '%-28s stopped after %d s (timeout)\n' "$name" "$PEER_TIMEOUT"
    else
        printf '%-28s wall %6.2f s (one run)   cpu %6.2f s  max RSS %5d MiB  exit %d  %d lines\n' \
            "$name" "$w" "$(awk "BEGIN{print $u + $s}")" $((m / 1024)) "$status" "$(wc -l <"$OUT/out")"
    fi
    [ -s "$OUT/err" ] && sed 's/^/    stderr: /' "$OUT/err" | head -n 5
    return 0
}

echo "== holdup $("$HOLDUP" --version 2>/dev/null || true)"
cat "$DUMP" >/dev/null # warm page cache
measure "holdup DUMP (report)" "$HOLDUP" --no-pager "$DUMP"
cp "$OUT/out" "$OUT/report.txt"
measure "holdup DUMP --json" "$HOLDUP" --json "$DUMP"
cp "$OUT/out" "$OUT/report.json"
measure "holdup ps" "$HOLDUP" --no-pager ps "$DUMP"
measure "holdup bt --all" "$HOLDUP" --no-pager bt --all "$DUMP"
# Cold: the dump's pages dropped from the page cache (posix_fadvise DONTNEED; no root needed),
# then one report reading them from the disk.
python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED); os.close(fd)' "$DUMP"
once "holdup DUMP (cold cache)" "$HOLDUP" --no-pager "$DUMP"
cat "$DUMP" >/dev/null # warm again for the peers
echo "report: $(wc -l <"$OUT/report.txt") lines of text, $(wc -c <"$OUT/report.json") bytes of JSON"
if [ -f "$TRUTH" ]; then
    echo "== the report against the truth ($TRUTH)"
    python3 benches/big_check.py "$OUT/report.json" "$TRUTH" || echo "bench-big: the report misses the truth"
fi
[ -n "${BIG_KEEP:-}" ] && cp "$OUT"/report.* "$BIG_KEEP"/ 2>/dev/null || true

[ "${PEERS:-yes}" = yes ] || exit 0
if [ -x "$CRASH" ] && [ -f "$VMLINUX" ]; then
    echo "== crash $("$CRASH" --version 2>/dev/null | head -n1 | awk '{print $2}')"
    once "crash ps" sh -c "printf 'ps\nq\n' | '$CRASH' -s '$VMLINUX' '$DUMP'"
    once "crash foreach bt" sh -c "printf 'foreach bt\nq\n' | '$CRASH' -s '$VMLINUX' '$DUMP'"
else
    echo "== crash: no $CRASH or $VMLINUX (bash dumps/gen/tools.sh && bash dumps/gen/vmlinux.sh 6.1)"
fi
if [ -x "$PY" ] && [ -f "$VMLINUX" ]; then
    echo "== drgn $("$PY" -c 'import drgn; print(drgn.__version__)')"
    once "drgn ps" "$PY" benches/drgn_peer.py "$VMLINUX" "$DUMP" ps
    once "drgn stack traces (bt)" "$PY" benches/drgn_peer.py "$VMLINUX" "$DUMP" bt
else
    echo "== drgn: no $PY or $VMLINUX"
fi
