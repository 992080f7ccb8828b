#!/usr/bin/env bash
# The big dump of `just dumps-big` (issue 17): a 16 GiB guest of the Debian 6.1 kernel with
# >= 10,000 tasks and thousands of them piled up on two shared locks, dumped live by QEMU.
#   usage: big.sh [--force]     env: HOLDUP_BIG=BENCH,WRITERS,NPROC,NTHREADS (3000,2000,4,1300)
#                                    HOLDUP_BIG_MEM (16G)
#                                    HOLDUP_BIG_OUT (dumps/work/big: another for other sizes)
# Writes $WORK_DIR/big/ (dumps/work/big/, ignored by git; never commit it): vmcore.kdump-zlib,
# truth.jsonl, serial.log, meta.json. Cached: does nothing when vmcore.kdump-zlib and meta.json
# are there (--force makes it again). See dumps/README.md "The big dump".
set -euo pipefail
. "$(dirname "$0")/common.sh"
OUT=${HOLDUP_BIG_OUT:-$WORK_DIR/big}
BIG=${HOLDUP_BIG:-3000,2000,4,1300}
MEM=${HOLDUP_BIG_MEM:-16G}
if [ "${1:-}" != --force ] && [ -s "$OUT/vmcore.kdump-zlib" ] && [ -s "$OUT/meta.json" ]; then
    echo "big: cached: $OUT/vmcore.kdump-zlib ($(du -h "$OUT/vmcore.kdump-zlib" | cut -f1); --force to remake)"
    exit 0
fi
started=$SECONDS
rel=$(kernel_release 6.1)
build=$WORK_DIR/build/$rel

# The kernel, its headers and QEMU (kernel.sh does nothing when they are there); hangmod.ko and
# stockmod.ko, built as the fixtures' are (initramfs.sh; their cpio files are not used here).
bash "$GEN_DIR/apt-sources.sh"
bash "$GEN_DIR/kernel.sh" 6.1
bash "$GEN_DIR/initramfs.sh" 6.1 hangs >/dev/null
bash "$GEN_DIR/initramfs.sh" 6.1 stock >/dev/null
gcc-12 -static -O2 -Wall -Wextra -Werror -pthread -o "$build/big" "$DUMPS_DIR/guest/big.c"

# The big guest's initramfs: busybox, qemu_fw_cfg.ko (VMCOREINFO for QEMU's dump), dm_mod.ko, hangmod.ko,
# stockmod.ko, big, /init = guest/init-big.sh. Uncompressed cpio.
root=$build/big-root
rm -rf "$root"
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,lib/modules}
cp "$(command -v busybox)" "$root/bin/busybox"
mknod -m 600 "$root/dev/console" c 5 1
mknod -m 666 "$root/dev/null" c 1 3
cp "$build/first-root/lib/modules/qemu_fw_cfg.ko" "$root/lib/modules/"
cp "$build/first-stock-root/lib/modules/dm_mod.ko" "$root/lib/modules/" # stockmod needs it
cp "$build/hangmod/hangmod.ko" "$build/stockmod/stockmod.ko" "$root/lib/modules/"
cp "$build/big" "$root/bin/big"
install -m 755 "$DUMPS_DIR/guest/init-big.sh" "$root/init"
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) >"$build/big.cpio"

mkdir -p "$OUT"
python3 "$GEN_DIR/big.py" "$build/big.cpio" "$OUT" --mem "$MEM" --big "$BIG"
echo "big: $OUT/vmcore.kdump-zlib, $(du -h "$OUT/vmcore.kdump-zlib" | cut -f1), made in $((SECONDS - started)) s"
