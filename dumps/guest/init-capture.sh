#!/bin/busybox sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# /init of the capture (kdump) kernel; built into capture.cpio by dumps/gen/initramfs.sh.
# Copies /proc/vmcore to the virtio disk, prints its size, powers off (QEMU runs -no-reboot).
/bin/busybox mkdir -p /bin /proc /sys /dev
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
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
t0=$(date +%s)
if dd if=/proc/vmcore of=/dev/vda bs=1M conv=fsync 2>/tmp/dd.err; then
    sync
    say "copied in $(($(date +%s) - t0)) s"
    say "done"
else
    say "FAILED: dd: $(cat /tmp/dd.err)"
fi
bye
