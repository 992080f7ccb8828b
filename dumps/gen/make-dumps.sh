#!/usr/bin/env bash
# Regenerates every dump of one capture, its oracles and the committed fixtures.
#   usage: make-dumps.sh 6.1|6.12|6.1-oops-la57|6.1-la57|6.1-stock|6.12-stock|6.12-rt|5.10|7.3|6.1-live [--no-fixtures]
# (6.1-oops-la57: no hang but an oops, on a 5-level-paging guest, dumped by makedumpfile in the
# capture kernel twice, once complete and once into a full tmpfs; see capture.py.)
# (6.1-la57: the seven hangs of 6.1 on a 5-level-paging guest, small: only vmcore.kdump-zlib.)
# (6.1-stock, 6.12-stock: hangs in stock kernel code, no hangmod: a frozen ext4, I/O queued on
# a suspended dm device, flush_work under a mutex, 200 writers on one inode's i_rwsem, FIFREEZE
# waiting for a task holding sb_start_write, kthread_stop of a kthread that never stops, a
# locked buffer_head with a waiter, flush_workqueue under a mutex its work item takes, an open
# jbd2 handle stopping a journal commit, a null_blk device out of tags; only
# vmcore.kdump-zlib; 6.12-stock is dumped by sid's makedumpfile 1.7.8 (HOLDUP_MAKEDUMPFILE).
# See capture.py and dumps/README.md.)
# (6.12-rt: the seven hangs on Debian's PREEMPT_RT 6.12, small; 5.10: the same on bullseye's
# 5.10, whose headers and gcc-10 live in a debootstrapped chroot, gen/chroot.sh; 7.3: the same on
# experimental's 7.3 (a sid chroot with gcc-16 and sid's makedumpfile 1.7.8), with drgn on
# vmcore.kdump-zlib.elf, the kdump file's memory as ELF, as the oracle: crash cannot read 7.3.)
# (6.1-live: the seven hangs of 6.1 on a running kernel: the static holdup (target/static/holdup,
# `just static`) in the guest's initramfs runs on /proc/kcore, its outputs come back on a second
# disk; then sysrq c and kdump of the same boot, which the host's target/release/holdup reads;
# gen/live_kcore.py checks both against the truth. No dump is committed: no formats, no oracles.)
# (--no-fixtures: stop before copying into dumps/fixtures/, e.g. to check the generator with
# HOLDUP_DUMPS_WORK pointing at a scratch directory.)
# Steps: apt sources -> kernel + headers + QEMU -> oracle tools and the DWARF vmlinux ->
# a real hang captured by kdump -> every format -> crash and drgn on each -> fixtures.
set -euo pipefail
. "$(dirname "$0")/common.sh"
CAPTURE=${1:?usage: make-dumps.sh 6.1|6.12|6.1-oops-la57|6.1-la57|6.1-stock|6.12-stock|6.12-rt|5.10|7.3|6.1-live [--no-fixtures]}
FIXTURES=yes
[ "${2:-}" = --no-fixtures ] && FIXTURES=no
KERNEL=$(capture_kernel "$CAPTURE")
release=$(kernel_release "$KERNEL")
out=$WORK_DIR/out/$CAPTURE
log=$WORK_DIR/logs/$CAPTURE
mkdir -p "$log"
started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" $((SECONDS - started)); }

step "apt sources"
bash "$GEN_DIR/apt-sources.sh"
step "kernel $release, headers, QEMU"
bash "$GEN_DIR/kernel.sh" "$KERNEL"
if [ "$CAPTURE" = 6.1-live ]; then
    # The guest runs the static holdup, the host reads the kdump with the release one: both
    # built from this tree (as `just static` and `cargo build --release` do).
    step "holdup: the static build for the guest, the release build for the host"
    repo=$(dirname "$DUMPS_DIR")
    (cd "$repo" &&
        RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target x86_64-unknown-linux-gnu -p holdup --target-dir target/static &&
        strip -o target/static/holdup target/static/x86_64-unknown-linux-gnu/release/holdup &&
        cargo build --release -p holdup) >"$log/holdup-build.log" 2>&1 ||
        { tail -n 30 "$log/holdup-build.log"; echo "holdup build failed: $log/holdup-build.log" >&2; exit 1; }
else
    step "oracle tools and the DWARF vmlinux (in the background)"
    (bash "$GEN_DIR/tools.sh" && bash "$GEN_DIR/vmlinux.sh" "$KERNEL") >"$log/tools.log" 2>&1 &
    tools_pid=$!
fi

if [ "$CAPTURE" = 6.1-live ]; then
    step "capture: holdup on /proc/kcore of the hung guest, then kdump of it (sysrq c)"
else
    step "capture: a real hang, kdump after the hung-task panic"
fi
rm -rf "$out"
python3 "$GEN_DIR/capture.py" "$CAPTURE" "$out"
if [ "$CAPTURE" = 6.1 ]; then
    step "capture: QEMU dump-guest-memory of a live hung guest"
    rm -rf "$out-qmp"
    python3 "$GEN_DIR/capture.py" "$KERNEL" "$out-qmp" --live
fi
if [ "$CAPTURE" = 6.1-live ]; then
    step "holdup's runs on /proc/kcore, checked; the host's holdup on the kdump of the same boot"
    python3 "$GEN_DIR/live_kcore.py" "$out"
    if [ "$FIXTURES" = yes ]; then
        step "fixtures"
        python3 "$GEN_DIR/fixtures.py" "$CAPTURE"
    fi
    step "done: $out"
    exit 0
fi

step "waiting for the oracle tools"
wait "$tools_pid" || { tail -n 40 "$log/tools.log"; echo "tools failed: $log/tools.log" >&2; exit 1; }

# The small captures commit one dump, vmcore.kdump-zlib: the other formats are not made.
SMALL=no
case "$CAPTURE" in 6.1-la57 | 6.1-stock | 6.12-stock | 6.12-rt | 5.10 | 7.3) SMALL=yes ;; esac
# The makedumpfile of a capture whose kernel's default one does not do (formats.sh): bookworm's
# 1.7.2 over-filters 6.12 at -d 31 (it drops pages of live tasks), sid's 1.7.8 does not.
case "$CAPTURE" in 6.12-stock) export HOLDUP_MAKEDUMPFILE=$TOOLS_DIR/bin/makedumpfile-sid ;; esac

step "formats"
if [ $SMALL = yes ]; then
    bash "$GEN_DIR/formats.sh" "$KERNEL" "$out" --zlib-only
else
    bash "$GEN_DIR/formats.sh" "$KERNEL" "$out"
fi

step "oracles"
if [ $SMALL = yes ] && ! crash_reads "$KERNEL"; then
    bash "$GEN_DIR/oracles.sh" "$KERNEL" "$out/vmcore.kdump-zlib.elf" "$out/oracles/vmcore.kdump-zlib"
elif [ $SMALL = yes ]; then
    bash "$GEN_DIR/oracles.sh" "$KERNEL" "$out/vmcore.kdump-zlib" "$out/oracles/vmcore.kdump-zlib"
elif [ "$CAPTURE" = 6.1-oops-la57 ]; then
    bash "$GEN_DIR/oracles.sh" "$KERNEL" "$out/vmcore.kdump-zlib" "$out/oracles/vmcore.kdump-zlib"
    bash "$GEN_DIR/oracles.sh" "$KERNEL" "$out/vmcore.kdump-zlib-enospc" \
        "$out/oracles/vmcore.kdump-zlib" --unreadable enospc
    tail -n 1 "$out/oracles/vmcore.kdump-zlib/check.txt"
else
    for f in "$out"/vmcore.*; do
        # not the zstd copy, nor the samples (every 8th page: not for analysis)
        case "$f" in *.zst | *.sample) continue ;; esac
        bash "$GEN_DIR/oracles.sh" "$KERNEL" "$f" "$out/oracles/$(basename "$f")"
    done
fi
if [ -d "$out-qmp" ]; then
    for f in "$out-qmp"/qemu.*; do
        bash "$GEN_DIR/oracles.sh" "$KERNEL" "$f" "$out-qmp/oracles/$(basename "$f")"
    done
fi

if [ "$FIXTURES" = yes ]; then
    step "fixtures"
    python3 "$GEN_DIR/fixtures.py" "$CAPTURE"
fi
step "done: $out"
