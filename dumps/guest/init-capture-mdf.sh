#!/bin/busybox sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# /init of the capture (kdump) kernel of the oops capture; built into capture-mdf.cpio by
# dumps/gen/initramfs.sh KERNEL oops. Writes to the virtio disk, each at a fixed offset:
#   0       the raw ELF /proc/vmcore (dd)
#   512 MiB vmcore.kdump-zlib: makedumpfile -c -d 31 into a roomy tmpfs, complete
#   640 MiB vmcore.kdump-zlib-enospc: the same into a tmpfs of $SMALL, where makedumpfile runs
#           out of space (ENOSPC) and marks the file incomplete itself
# and prints one "holdup-capture: file NAME offset OFF size BYTES rc STATUS" line for each;
# makedumpfile's own messages go to the console. Then powers off (QEMU runs -no-reboot).
/bin/busybox mkdir -p /bin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
SMALL=$(sed -n 's/.*holdup_small=\([0-9a-zA-Z]*\).*/\1/p' /proc/cmdline)
SMALL=${SMALL:-256k}
MIB=1048576
say() { echo "holdup-capture: $*"; }
bye() { sync; reboot -f; sleep 10; echo b >/proc/sysrq-trigger; }
for m in $(cat /lib/modules/order); do
    insmod /lib/modules/$m.ko || say "insmod $m failed"
done
i=0
while [ ! -b /dev/vda ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { say "FAILED: no /dev/vda"; bye; }
    usleep 100000
done
[ -e /proc/vmcore ] || { say "FAILED: no /proc/vmcore"; bye; }
size=$(stat -c %s /proc/vmcore)
say "vmcore size $size"
[ "$size" -lt $((512 * MIB)) ] || { say "FAILED: /proc/vmcore larger than 512 MiB"; bye; }
t0=$(date +%s)
if ! dd if=/proc/vmcore of=/dev/vda bs=1M conv=fsync 2>/tmp/dd.err; then
    say "FAILED: dd: $(cat /tmp/dd.err)"
    bye
fi
say "copied in $(($(date +%s) - t0)) s"

# mdf NAME TMPFS_SIZE OFFSET_MIB LIMIT_MIB: one makedumpfile -c -d 31 run into a fresh tmpfs of
# TMPFS_SIZE, its output copied to the disk at OFFSET_MIB (at most LIMIT_MIB).
mdf() {
    local name=$1 dir=/out/$1 rc t0 bytes
    mkdir -p "$dir"
    mount -t tmpfs -o size=$2 tmpfs "$dir" || { say "FAILED: mount tmpfs size=$2"; bye; }
    say "$name: makedumpfile -c -d 31 --message-level 22 /proc/vmcore into a tmpfs of $2"
    t0=$(date +%s)
    makedumpfile -c -d 31 --message-level 22 /proc/vmcore "$dir/dump" >/tmp/mdf.log 2>&1
    rc=$?
    tr '\r' '\n' </tmp/mdf.log | sed -e '/^ *$/d' -e 's/^/holdup-capture: makedumpfile: /'
    bytes=$(stat -c %s "$dir/dump" 2>/dev/null || echo 0)
    say "$name: makedumpfile exit status $rc, $bytes bytes ($(du -k "$dir/dump" | cut -f1) KiB allocated), $(($(date +%s) - t0)) s"
    [ "$bytes" -gt 0 ] && [ "$bytes" -le $(($4 * MIB)) ] || { say "FAILED: $name: $bytes bytes"; bye; }
    # Reading a hole of a sparse tmpfs file with read() allocates nothing: dd works on a full one.
    dd if="$dir/dump" of=/dev/vda bs=1M seek=$3 conv=fsync,notrunc 2>/tmp/dd.err ||
        { say "FAILED: dd $name: $(cat /tmp/dd.err)"; bye; }
    say "file $name offset $(($3 * MIB)) size $bytes rc $rc"
    rm -f "$dir/dump"
    umount "$dir"
}
mkdir -p /out
mdf vmcore.kdump-zlib 96m 512 128
mdf vmcore.kdump-zlib-enospc "$SMALL" 640 64
say "done"
bye
