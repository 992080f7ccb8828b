#!/usr/bin/env bash
# The benchmark of `just bench`: holdup's info, log, bt --all and the hang report on one dump,
# next to crash and drgn doing the nearest same work, warm page cache, wall time and max RSS,
# and the PG_locked page scan's throughput; then `holdup triage` of every committed fixture
# dump against the sum of single runs divided by the core count. See benches/README.md.
#
# usage: benches/run.sh [FIXTURE [DUMP]]      FIXTURE: a fixture of dumps/manifest.json (6.1, the
#        default; 6.12, 6.1-la57, 6.12-rt, 5.10, 7.3...): its kdump-zlib dump and its kernel
# env:   RUNS (holdup runs per command, 20), PEER_RUNS (crash/drgn runs, 3),
#        TRIAGE_RUNS (interleaved rounds of the triage benchmark, 10),
#        BENCH_ONLY (commands or triage: only that part),
#        CARGO_TARGET_DIR (where cargo builds; the ELF fixture is unpacked into its fixtures/),
#        BENCH_JSON (also write the numbers there)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
source dumps/gen/common.sh
KERNEL=${1:-6.1}
# The fixture's folder and release, from the manifest (dumps/fixtures or dumps/pending).
read -r FIXDIR REL < <(python3 - "$KERNEL" <<'PY'
import json, sys
fx = [f for f in json.load(open("dumps/manifest.json"))["fixtures"] if f["name"] == sys.argv[1]]
print(f"dumps/{fx[0]['dir']} {fx[0]['release']}" if fx else "- -")
PY
)
[ "$REL" != - ] || { echo "bench: no fixture '$KERNEL' in dumps/manifest.json" >&2; exit 1; }
DUMP=${2:-$FIXDIR/vmcore.kdump-zlib}
VMLINUX=$WORK_DIR/kernels/$REL/vmlinux
CRASH=$TOOLS_DIR/bin/crash
PY=$WORK_DIR/venv/bin/python
[ -f "$DUMP" ] || { echo "bench: no dump $DUMP" >&2; exit 1; }

echo "bench: building holdup (release)" >&2
cargo build --release -q -p holdup
cargo build --release -q -p holdup-kernel --example phases
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
HOLDUP=$TARGET/release/holdup
PHASES=$TARGET/release/examples/phases

peers=()
how="get them with \`just dumps $KERNEL\`, or only the tools and the vmlinux with \`bash dumps/gen/tools.sh && bash dumps/gen/vmlinux.sh $KERNEL\`"
if [ -s "$VMLINUX" ]; then
    peers+=(--vmlinux "$VMLINUX")
    if [ -x "$CRASH" ]; then peers+=(--crash "$CRASH"); else
        echo "bench: no crash at $CRASH: crash is skipped; $how" >&2
    fi
    if [ -x "$PY" ] && "$PY" -c 'import drgn' 2>/dev/null; then peers+=(--python "$PY"); else
        echo "bench: no drgn in $PY: drgn is skipped; $how" >&2
    fi
else
    echo "bench: no vmlinux at $VMLINUX: crash and drgn are skipped (holdup's own numbers only); $how" >&2
fi
command -v hyperfine >/dev/null ||
    echo "bench: hyperfine not installed (apt-get install hyperfine): timing with a plain loop" >&2

echo "bench: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
json=()
[ -z "${BENCH_JSON:-}" ] || json=(--json "$BENCH_JSON")
only=()
[ -z "${BENCH_ONLY:-}" ] || only=(--only "$BENCH_ONLY")
exec python3 benches/bench.py --holdup "$HOLDUP" --phases "$PHASES" --dump "$DUMP" \
    --runs "${RUNS:-20}" --peer-runs "${PEER_RUNS:-3}" --triage-runs "${TRIAGE_RUNS:-10}" \
    --scratch "$TARGET/fixtures" "${peers[@]}" "${only[@]}" "${json[@]}"
