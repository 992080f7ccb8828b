#!/usr/bin/env bash
# Usage: crash-commands.sh FIXTURE...   (names of dumps/manifest.json: 6.1, 6.12-stock, ...)
# Runs, in crash 8.0.6 with the -dbg vmlinux, every crash command holdup's report names as
# the way to check one of its claims (the "crash" lists of `holdup DUMP --json`: `bt PID`,
# `struct mutex ADDR`, `list -H HEAD -l rwsem_waiter.list -s rwsem_waiter.task`, `kmem -p`,
# `waitq`...), and writes the answers to the fixture's crash-holdup-commands.txt, each after
# a line `>>> COMMAND`; the file is then listed in the manifest (role oracle).
# tests/tests/crash_commands.rs checks holdup's claims against these answers, and that every
# command the report names today is in the file (else: run `just crash-commands`).
# Needs the holdup release binary (cargo build --release) and vmlinux.sh KERNEL done first.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

HOLDUP=$DUMPS_DIR/../target/release/holdup
CRASH=$TOOLS_DIR/bin/crash
[ -x "$HOLDUP" ] || { echo "crash-commands.sh: no $HOLDUP (cargo build --release)" >&2; exit 1; }
[ -x "$CRASH" ] || { echo "crash-commands.sh: no $CRASH (tools.sh builds it)" >&2; exit 1; }
[ $# -gt 0 ] || { echo "usage: crash-commands.sh FIXTURE..." >&2; exit 1; }

for fx in "$@"; do
    read -r dir release < <(python3 - "$DUMPS_DIR/manifest.json" "$fx" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
f = [f for f in m["fixtures"] if f["name"] == sys.argv[2]]
if not f:
    sys.exit(f"no fixture {sys.argv[2]} in the manifest")
print(f[0]["dir"], f[0]["release"])
EOF
    )
    dump=$DUMPS_DIR/$dir/vmcore.kdump-zlib
    vmlinux=$WORK_DIR/kernels/$release/vmlinux
    [ -s "$vmlinux" ] || { echo "crash-commands.sh: no $vmlinux (run vmlinux.sh)" >&2; exit 1; }
    out=$DUMPS_DIR/$dir/crash-holdup-commands.txt
    tmp=$(mktemp -d)
    # holdup exits 0 (hang) or 4 (partial, the over-filtered fixture): both have a report.
    "$HOLDUP" --json "$dump" >"$tmp/report.json" || [ $? -eq 4 ]
    python3 - "$tmp/report.json" >"$tmp/commands.txt" <<'EOF'
import json, sys
cmds = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "crash" and isinstance(x, list):
                cmds.update(x)
            else:
                walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
walk(json.load(open(sys.argv[1])))
print("\n".join(sorted(cmds)))
EOF
    {
        echo "set scroll off"
        while read -r c; do
            echo "!echo '>>> $c'"
            echo "$c"
        done <"$tmp/commands.txt"
        echo q
    } >"$tmp/input.txt"
    rc=0
    timeout 600 "$CRASH" -s "$vmlinux" "$dump" <"$tmp/input.txt" >"$tmp/crash.txt" 2>&1 || rc=$?
    n=$(wc -l <"$tmp/commands.txt")
    {
        echo "# crash 8.0.6 -s VMLINUX vmcore.kdump-zlib: the $n commands holdup's report names (exit status $rc)"
        grep -v '^scroll: ' "$tmp/crash.txt"
    } >"$out"
    rm -rf "$tmp"
    python3 - "$DUMPS_DIR/manifest.json" "$fx" "$out" <<'EOF'
import hashlib, json, os, sys
path, name, out = sys.argv[1:]
m = json.load(open(path))
f = [f for f in m["fixtures"] if f["name"] == name][0]
data = open(out, "rb").read()
entry = {"file": os.path.basename(out), "role": "oracle",
         "made_by": "crash-commands.sh: crash 8.0.6 with the -dbg vmlinux, the commands holdup's report names",
         "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
f["files"] = [x for x in f["files"] if x["file"] != entry["file"]] + [entry]
with open(path, "w") as o:
    json.dump(m, o, indent=1)
    o.write("\n")
EOF
    echo "crash-commands.sh $fx: $n commands -> $out (crash exit status $rc)"
done
