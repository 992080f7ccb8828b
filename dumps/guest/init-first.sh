#!/bin/busybox sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# /init of the first (crashing) kernel; built into first.cpio by dumps/gen/initramfs.sh.
# Loads the capture kernel, starts bench, loads hangmod, waits until every scenario is blocked,
# then arms the hung-task detector. Kernel command line: holdup_mode=panic|live; holdup_slim=1
# (the small captures, e.g. 6.1-la57) frees what the dump need not hold: the rootfs copies of
# the kernel, capture initramfs and kexec once loaded, sysfs and the caches once all hang;
# holdup_kcore=1 (with live; the capture 6.1-live) then runs /holdup on /proc/kcore and
# crashes the kernel for kdump (guest/live-kcore.sh).
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# The 16 kernel threads of hangmod that must end up in state D.
KTHREADS="kscand kcollapsed abba_a abba_b rw_holder rw_writer rw_reader sem_holder1 sem_holder2 sem_waiter done_waiter chain_a chain_b chain_c pg_holder pg_waiter"
TRUTH_LINES=29 # 22 facts + 7 verdicts

say() { echo "holdup-init: $*"; }
fail() { say "FAILED: $*"; while :; do sleep 3600; done; }
mode=panic
grep -q 'holdup_mode=live' /proc/cmdline && mode=live
slim=no
grep -q 'holdup_slim=1' /proc/cmdline && slim=yes
say "mode $mode, kernel $(uname -r)"
grep -q ' la57' /proc/cpuinfo && say "cpu has la57" || say "cpu has no la57"

insmod /lib/modules/qemu_fw_cfg.ko || say "qemu_fw_cfg did not load (no VMCOREINFO for QEMU dumps)"

# holdup_capture_extra=WORD: one more word for the capture kernel (5.10: noapic, or its
# timer check panics under QEMU).
extra=
for w in $(cat /proc/cmdline); do
    case $w in holdup_capture_extra=*) extra=" ${w#holdup_capture_extra=}" ;; esac
done
kexec -p /boot/vmlinuz --initrd=/boot/capture.cpio \
    --append="console=ttyS0,115200 reset_devices nr_cpus=1 irqpoll nousb panic=1$extra" ||
    fail "kexec -p"
say "capture kernel loaded (kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded))"
# kexec copied the kernel and initramfs into the crashkernel region (not in the dump).
[ $slim = no ] || rm -rf /boot/vmlinuz /boot/capture.cpio /sbin/kexec /lib/x86_64-linux-gnu /lib64 /usr

bench /tmp/bench.info &
i=0
while [ ! -s /tmp/bench.info ]; do
    i=$((i + 1)); [ $i -gt 300 ] && fail "bench wrote no /tmp/bench.info"
    usleep 100000
done
read bpid baddr </tmp/bench.info
say "bench pid $bpid addr $baddr"

# From here until all truth lines are out, /init writes nothing to the console, so that its
# output cannot split a kernel line on the serial port.
insmod /lib/modules/hangmod.ko bench_pid=$bpid bench_addr=$baddr || fail "insmod hangmod"

state_of() { # comm -> "pid state" of the first task with that comm
    for d in /proc/[0-9]*; do
        [ "$(cat $d/comm 2>/dev/null)" = "$1" ] || continue
        s=$(cut -d')' -f2 $d/stat 2>/dev/null | cut -d' ' -f2)
        echo "${d#/proc/} $s"
        return
    done
}
all_in_d() {
    for c in $KTHREADS; do
        set -- $(state_of $c)
        [ "${2:-}" = D ] || return 1
    done
}
i=0
until all_in_d; do
    i=$((i + 1)); [ $i -gt 600 ] && break
    usleep 100000
done
kill -USR1 $bpid
i=0
while [ "$(dmesg | grep -c 'holdup-truth: ')" -lt $TRUTH_LINES ]; do
    i=$((i + 1)); [ $i -gt 600 ] && break
    usleep 100000
done
# Wait for bench's own console line to drain before talking again.
sleep 1
for c in $KTHREADS; do
    set -- $(state_of $c)
    [ "${2:-}" = D ] || fail "kthread $c is not blocked (state '${2:-none}')"
done
set -- $(cut -d')' -f2 /proc/$bpid/stat | cut -d' ' -f2)
[ "$1" = D ] || fail "bench is not blocked (state $1)"
say "bench blocked in $(cat /proc/$bpid/wchan); its stack:"
cat /proc/$bpid/stack
n=$(dmesg | grep -c 'holdup-truth: ')
[ "$n" -eq $TRUTH_LINES ] || fail "$n truth lines, expected $TRUTH_LINES"
say "all scenarios blocked, $n truth lines"
if [ $slim = yes ]; then
    # Dentries, inodes and other reclaimable slab are freed (and zeroed: init_on_free=1).
    rm -f /lib/modules/*.ko /bin/bench
    umount /sys
    sync
    echo 3 >/proc/sys/vm/drop_caches
    say "slim: sysfs unmounted, caches dropped"
fi

echo -1 >/proc/sys/kernel/hung_task_warnings
if [ $mode = live ]; then echo 0; else echo 1; fi >/proc/sys/kernel/hung_task_panic
echo 10 >/proc/sys/kernel/hung_task_timeout_secs # last: this write wakes khungtaskd
say "hung-task detector armed (panic=$(cat /proc/sys/kernel/hung_task_panic))"
# The capture 6.1-live: holdup on /proc/kcore of this running kernel, then a kdump of it
# (guest/live-kcore.sh; only its initramfs has it).
if grep -q 'holdup_kcore=1' /proc/cmdline; then
    [ $mode = live ] && [ -f /bin/live-kcore.sh ] || fail "holdup_kcore=1 needs holdup_mode=live and /bin/live-kcore.sh"
    . /bin/live-kcore.sh
fi
while :; do sleep 3600; done
