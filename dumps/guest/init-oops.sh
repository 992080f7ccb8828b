#!/bin/busybox sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# /init of the first kernel of the oops capture (make-dumps.sh 6.1-oops-la57); built into
# first-oops.cpio by dumps/gen/initramfs.sh KERNEL oops. No hang: loads the capture kernel,
# sets kernel.panic_on_oops=1, loads hangmod with oops=1, whose kthread "oopser" prints its
# truth lines and then oopses on a NULL-pointer read; the oops kexecs the capture kernel.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
TRUTH_LINES=2 # the oops line + the no-hang verdict

say() { echo "holdup-init: $*"; }
fail() { say "FAILED: $*"; while :; do sleep 3600; done; }
say "mode oops, kernel $(uname -r)"
grep -q ' la57' /proc/cpuinfo && say "cpu has la57" || say "cpu has no la57"

insmod /lib/modules/qemu_fw_cfg.ko || say "qemu_fw_cfg did not load (no VMCOREINFO for QEMU dumps)"

# holdup_small=SIZE (the tmpfs the capture kernel's second makedumpfile run fills) passes on.
small=$(sed -n 's/.*\(holdup_small=[0-9a-zA-Z]*\).*/\1/p' /proc/cmdline)
kexec -p /boot/vmlinuz --initrd=/boot/capture.cpio \
    --append="console=ttyS0,115200 reset_devices nr_cpus=1 irqpoll nousb panic=1${small:+ $small}" ||
    fail "kexec -p"
say "capture kernel loaded (kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded))"
# kexec copied the kernel and initramfs into the crashkernel region (not in the dump): free the
# rootfs copies, kexec and its libraries, so that the dump is smaller (the fixture's budget).
rm -rf /boot/vmlinuz /boot/capture.cpio /sbin/kexec /lib/x86_64-linux-gnu /lib64 /usr

echo 1 >/proc/sys/kernel/panic_on_oops
# sysfs is no longer needed; its dentries and inodes, other reclaimable slab and clean page
# cache are freed: free pages are not dumped (-d 31), and the fixture has a size budget.
umount /sys
sync
echo 3 >/proc/sys/vm/drop_caches
say "armed: panic_on_oops=$(cat /proc/sys/kernel/panic_on_oops)"
# From here on /init writes nothing to the console until the truth lines are out, so that its
# output cannot split a kernel line on the serial port.
insmod /lib/modules/hangmod.ko oops=1 || fail "insmod hangmod oops=1"
rm -f /lib/modules/*.ko
i=0
while [ "$(dmesg | grep -c 'holdup-truth: ')" -lt $TRUTH_LINES ]; do
    i=$((i + 1)); [ $i -gt 300 ] && fail "no truth lines from oopser"
    usleep 100000
done
# The oops follows about a second after the truth lines; nothing else to do.
while :; do sleep 3600; done
