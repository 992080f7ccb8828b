#!/bin/busybox sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# /init of the first kernel of the stock captures (make-dumps.sh 6.1-stock, 6.12-stock); built
# into first-stock.cpio by dumps/gen/initramfs.sh KERNEL stock. Hangs in stock kernel code, no
# hangmod; stockmod (dumps/stockmod) prints the truth of each, or starts it:
#   frozen   ext4 on /dev/vdb at /mnt/frozen, frozen by FIFREEZE (stock fz_freeze, which exits);
#            fz_write write(2)s on a file it opened before, fz_creat open(O_CREAT)s a new one.
#   io       ext4 on dm-linear "stockdm" over /dev/vdc at /mnt/io, suspended with
#            dmsetup suspend --nolockfs --noflush; io_fsync writes a page and fsync()s (waits for
#            writeback), io_reader reads uncached data (waits for a folio locked for read,
#            TASK_KILLABLE), io_dread reads /dev/dm-N with O_DIRECT (uninterruptible), jbd2
#            commits (waits for the data writeback of its transaction).
#   work     stockmod's wq_flusher: flush_work() under mutex stock_m, which the work needs.
#   i_rwsem  stockmod's i_holder holds the i_rwsem of /tmp/log (tmpfs); 200 tmp_writer
#            processes write(2) to it.
#   freeze_wait  ext4 on /dev/vdd at /mnt/fzw; stockmod's sbw_holder holds sb_start_write on
#            it and sleeps; fsfreeze (stock's FIFREEZE, as `fsfreeze -f`) waits in
#            percpu_down_write for that reader; fzw_write then write(2)s and waits behind it.
#   kthread_stop stockmod's ks_stopper calls kthread_stop() on ks_sleeper, which never checks
#            kthread_should_stop() and sleeps forever.
#   buffer   ext4 (no journal) on /dev/vde at /mnt/buf; stockmod's bh_holder reads block 5000
#            (sb_bread), locks its buffer_head and sleeps; bh_waiter waits in __lock_buffer.
# With holdup_stock_extra=1 on the kernel command line (capture.py sets it for both stock
# captures), three more:
#   wq_flush stockmod's wqf_flusher: flush_workqueue(stock_wq) under mutex stock_wq_m, which
#            the work item running on stock_wq (in a kworker) waits for.
#   jbd2     ext4 with a journal on /dev/vdf at /mnt/jnl (commit=3600: only syncfs commits);
#            stockmod's jh_holder keeps a jbd2 handle open (jbd2_journal_start) and sleeps;
#            jw_syncfs syncfs()s: jbd2's commit locks the transaction and waits for the
#            handle, jw_syncfs for the commit; then jw_write write(2)s and waits in
#            start_this_handle for the locked transaction.
#   blk_tags null_blk's nullb0 with one hardware queue of one tag, no scheduler, completing a
#            request an hour after it handles it (stockmod sets that once the partition scan
#            of add_disk has completed); tag_holder's O_DIRECT read holds the tag, two
#            tag_waiter reads wait in blk_mq_get_tag.
# Then arms the hung-task detector (panic). Kernel command line: holdup_mode=stock.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp /mnt/frozen /mnt/io /mnt/fzw /mnt/buf \
    /mnt/jnl
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
EXTRA=0
case " $(cat /proc/cmdline) " in *" holdup_stock_extra=1 "*) EXTRA=1 ;; esac
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o size=8m tmpfs /tmp
WRITERS=200

say() { echo "holdup-init: $*"; }
fail() { say "FAILED: $*"; while :; do sleep 3600; done; }
say "mode stock, kernel $(uname -r)$([ $EXTRA = 1 ] && echo ', with the extra scenarios')"

insmod /lib/modules/qemu_fw_cfg.ko || say "qemu_fw_cfg did not load (no VMCOREINFO for QEMU dumps)"
for m in $(cat /lib/modules/order); do
    insmod /lib/modules/$m.ko || fail "insmod $m"
done
insmod /lib/modules/stockmod.ko || fail "insmod stockmod"

kexec -p /boot/vmlinuz --initrd=/boot/capture.cpio \
    --append="console=ttyS0,115200 reset_devices nr_cpus=1 irqpoll nousb panic=1" ||
    fail "kexec -p"
say "capture kernel loaded (kexec_crash_loaded=$(cat /sys/kernel/kexec_crash_loaded))"
# kexec copied the kernel and initramfs into the crashkernel region (not in the dump).
rm -rf /boot/vmlinuz /boot/capture.cpio /sbin/kexec
rm -f /lib/modules/*.ko

i=0
while [ ! -b /dev/vdb ] || [ ! -b /dev/vdc ] || [ ! -b /dev/vdd ] || [ ! -b /dev/vde ] ||
    { [ $EXTRA = 1 ] && [ ! -b /dev/vdf ]; }; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "no /dev/vdb, /dev/vdc, /dev/vdd, /dev/vde (and /dev/vdf)"
    usleep 100000
done

state_of() { # pid -> its state letter (/proc/PID/stat), without forking
    local line s
    read -r line </proc/$1/stat 2>/dev/null || return 0
    s=${line##*) }
    echo "${s%% *}"
}
wait_d() { # pid... : until every one is in state D (60 s at most)
    local i=0 p ok
    while :; do
        ok=yes
        for p in "$@"; do [ "$(state_of $p)" = D ] || { ok=no; break; }; done
        [ $ok = yes ] && return 0
        i=$((i + 1)); [ $i -gt 600 ] && return 1
        usleep 100000
    done
}
wait_ready() { # file: until the helper printed its "ready" line there
    local i=0
    until grep -q ready "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt 300 ] && fail "no ready line in $1"
        usleep 100000
    done
}
truth() { # one command to stockmod; its truth lines are out when the write returns
    echo "$*" >/proc/holdup-stock || fail "stockmod refused: $*"
    sleep 1
}
MKFS="/sbin/mke2fs -q -F -t ext4 -E lazy_itable_init=0,lazy_journal_init=0"
uptime_cs() { # the uptime in hundredths of a second
    local u c
    read -r u _ </proc/uptime
    c=${u#*.}
    echo $((${u%.*} * 100 + ${c#0}))
}
pid_of_comm() { # comm -> the pid of the first task with it
    local d
    for d in /proc/[0-9]*; do
        [ "$(cat $d/comm 2>/dev/null)" = "$1" ] && { echo ${d#/proc/}; return 0; }
    done
    return 1
}

# --- frozen ---------------------------------------------------------------------------------
$MKFS -L frozen /dev/vdb || fail "mke2fs vdb"
mount -t ext4 -o noinit_itable /dev/vdb /mnt/frozen || fail "mount vdb"
echo log >/mnt/frozen/open.log
sync
stock fz_write write /mnt/frozen/open.log >/tmp/fz_write.out 2>&1 &
wpid=$!
wait_ready /tmp/fz_write.out
stock fz_freeze freeze /mnt/frozen >/tmp/fz_freeze.out 2>&1 &
fpid=$!
wait $fpid || fail "FIFREEZE: $(cat /tmp/fz_freeze.out)"
kill -USR1 $wpid
stock fz_creat creat /mnt/frozen/new.log >/tmp/fz_creat.out 2>&1 &
cpid=$!
wait_d $wpid $cpid || fail "the writers of the frozen fs did not block"
sleep 1
truth frozen /mnt/frozen $fpid $wpid $cpid
say "frozen: /mnt/frozen frozen by pid $fpid; fz_write $wpid, fz_creat $cpid blocked"

# --- io -------------------------------------------------------------------------------------
/sbin/dmsetup create stockdm --noudevsync --noudevrules \
    --table "0 $(cat /sys/block/vdc/size) linear /dev/vdc 0" || fail "dmsetup create"
# Without udev, the node is devtmpfs's /dev/dm-N.
dm=
for d in /sys/block/dm-*; do [ "$(cat $d/dm/name)" = stockdm ] && dm=${d##*/}; done
[ -n "$dm" ] && [ -b /dev/$dm ] || fail "no block device for stockdm"
$MKFS -L io /dev/$dm || fail "mke2fs stockdm"
mount -t ext4 -o noinit_itable /dev/$dm /mnt/io || fail "mount stockdm"
dd if=/dev/zero of=/mnt/io/data bs=64k count=16 2>/dev/null
: >/mnt/io/log
sync
stock io_fsync fsync /mnt/io/log >/tmp/io_fsync.out 2>&1 &
spid=$!
stock io_reader read /mnt/io/data >/tmp/io_reader.out 2>&1 &
rpid=$!
wait_ready /tmp/io_fsync.out
wait_ready /tmp/io_reader.out
/sbin/dmsetup suspend --nolockfs --noflush stockdm || fail "dmsetup suspend"
susp=$(cat /sys/block/$dm/dm/suspended)
kill -USR1 $spid $rpid
stock io_dread dread /dev/$dm >/tmp/io_dread.out 2>&1 &
dpid=$!
dread_t=$(uptime_cs) # its bio wait wakes every 60 s (see the extra scenarios' arming)
wait_d $spid $rpid $dpid || fail "io_fsync/io_reader/io_dread did not block"
jpid=
i=0
while [ -z "$jpid" ] || [ "$(state_of $jpid)" != D ]; do
    for d in /proc/[0-9]*; do
        case "$(cat $d/comm 2>/dev/null)" in "jbd2/$dm-"*) jpid=${d#/proc/} ;; esac
    done
    i=$((i + 1)); [ $i -gt 150 ] && break # jbd2 commits every 5 s
    usleep 200000
done
jw=
if [ -n "$jpid" ] && [ "$(state_of $jpid)" = D ]; then jw="$jpid:w:-"; fi
sleep 1
truth io stockdm /mnt/io $susp $spid:w:/mnt/io/log $rpid:r:/mnt/io/data $dpid:r:- $jw
say "io: $dm suspended=$susp; io_fsync $spid, io_reader $rpid, io_dread $dpid, jbd2 ${jpid:-none} (${jw:-not blocked})"

# --- work -----------------------------------------------------------------------------------
truth work
i=0
while [ "$(dmesg | grep -c '"kind":"verdict","scenario":"work"')" -lt 1 ]; do
    i=$((i + 1)); [ $i -gt 300 ] && fail "no work verdict"
    usleep 100000
done
sleep 1
say "work: wq_flusher started"

# --- i_rwsem --------------------------------------------------------------------------------
echo log >/tmp/log
truth i_rwsem /tmp/log
pids=
n=0
while [ $n -lt $WRITERS ]; do
    stock tmp_writer append /tmp/log >/dev/null 2>&1 &
    pids="$pids $!"
    n=$((n + 1))
done
wait_d $pids || fail "the tmp_writers did not all block"
sleep 1
batch=
n=0
for p in $pids; do
    batch="$batch $p"
    n=$((n + 1))
    if [ $n -eq 50 ]; then truth i_rwsem_waiters $batch; batch=; n=0; fi
done
truth i_rwsem_waiters $batch end
say "i_rwsem: $WRITERS tmp_writers blocked on /tmp/log"

# --- freeze_wait ----------------------------------------------------------------------------
$MKFS -L fzw /dev/vdd || fail "mke2fs vdd"
# no_prefetch_block_bitmaps: else ext4lazyinit tries sb_start_write_trylock on it every second
# or so, and each failed try wakes the freezer (rcuwait_wake_up in __percpu_down_read): the
# hung-task detector would never see it blocked for 10 s.
mount -t ext4 -o noinit_itable,no_prefetch_block_bitmaps /dev/vdd /mnt/fzw || fail "mount vdd"
echo log >/mnt/fzw/open.log
sync -f /mnt/fzw/open.log # syncfs of vdd alone: a plain sync would wait for the suspended dm-0
stock fzw_write write /mnt/fzw/open.log >/tmp/fzw_write.out 2>&1 &
fwpid=$!
wait_ready /tmp/fzw_write.out
truth freeze_wait /mnt/fzw
stock fsfreeze freeze /mnt/fzw >/tmp/fsfreeze.out 2>&1 &
ffpid=$!
wait_d $ffpid || fail "fsfreeze did not block: $(cat /tmp/fsfreeze.out)"
# Its first sleep (rcu_sync_enter: an RCU grace period) lets writers in: wait for the second.
echo "freeze_wait_freezer $ffpid" >/proc/holdup-stock || fail "fsfreeze does not wait for the reader"
kill -USR1 $fwpid
wait_d $fwpid || fail "fzw_write did not block"
sleep 1
truth freeze_wait_waiters $ffpid $fwpid
say "freeze_wait: sbw_holder holds sb_start_write on /mnt/fzw; fsfreeze $ffpid, fzw_write $fwpid blocked"

# --- kthread_stop ---------------------------------------------------------------------------
truth kthread_stop
say "kthread_stop: ks_stopper waits for ks_sleeper"

# --- buffer ---------------------------------------------------------------------------------
/sbin/mke2fs -q -F -t ext4 -O ^has_journal -E lazy_itable_init=0 -L buf /dev/vde || fail "mke2fs vde"
mount -t ext4 -o noinit_itable /dev/vde /mnt/buf || fail "mount vde"
truth buffer /mnt/buf 5000
say "buffer: bh_waiter waits for the buffer_head of block 5000 of vde, locked by bh_holder"

if [ $EXTRA = 1 ]; then
# --- wq_flush -------------------------------------------------------------------------------
truth wq_flush
say "wq_flush: wqf_flusher waits in flush_workqueue(stock_wq) holding stock_wq_m"

# --- jbd2 -----------------------------------------------------------------------------------
$MKFS -L jnl /dev/vdf || fail "mke2fs vdf"
# commit=3600: the journal's timer does not commit for an hour, only the syncfs below does;
# no_prefetch_block_bitmaps as for vdd (nothing of ext4lazyinit on it).
mount -t ext4 -o noinit_itable,no_prefetch_block_bitmaps,commit=3600 /dev/vdf /mnt/jnl ||
    fail "mount vdf"
echo log >/mnt/jnl/log
sync -f /mnt/jnl/log # syncfs of vdf: everything so far committed, nothing left dirty
jbd2pid=$(pid_of_comm jbd2/vdf-8) || fail "no jbd2/vdf-8"
stock jw_write write /mnt/jnl/log >/tmp/jw_write.out 2>&1 &
jwpid=$!
wait_ready /tmp/jw_write.out
truth jbd2 /mnt/jnl
stock jw_syncfs syncfs /mnt/jnl >/tmp/jw_syncfs.out 2>&1 &
jspid=$!
wait_d $jspid $jbd2pid || fail "jw_syncfs and jbd2/vdf-8 did not block"
truth jbd2_locked # the commit waits for jh_holder's update before anyone else starts one
kill -USR1 $jwpid
wait_d $jwpid || fail "jw_write did not block"
sleep 1
truth jbd2_waiters $jspid $jwpid
say "jbd2: jh_holder keeps a handle open on /mnt/jnl; jbd2/vdf-8 $jbd2pid, jw_syncfs $jspid, jw_write $jwpid blocked"

# --- blk_tags -------------------------------------------------------------------------------
# null_blk loaded with completion_nsec=NB_FROM (1 ms, a value no other member of its device
# has): add_disk() scans the partitions of nullb0 and must complete; then stockmod makes the
# device complete a request NB_TO ns (an hour) after it handles it. One hardware queue of one
# tag (hw_queue_depth=1; poll_queues=0: null_blk adds a polled queue by default), no I/O scheduler (else requests take scheduler tags first), the
# request timeout raised to an hour (null_blk's timeout handler leaves a real timeout alone,
# but blk-mq would print and mark it).
NB_FROM=999983
NB_TO=3600000000000
for m in $(cat /lib/modules/extra/order); do
    case $m in
    null_blk) insmod /lib/modules/extra/null_blk.ko queue_mode=2 nr_devices=1 submit_queues=1 \
        hw_queue_depth=1 poll_queues=0 irqmode=2 completion_nsec=$NB_FROM no_sched=1 ||
        fail "insmod null_blk" ;;
    *) insmod /lib/modules/extra/$m.ko || fail "insmod $m" ;;
    esac
done
rm -rf /lib/modules/extra
i=0
until [ -b /dev/nullb0 ]; do
    i=$((i + 1)); [ $i -gt 100 ] && fail "no /dev/nullb0"
    usleep 100000
done
echo none >/sys/block/nullb0/queue/scheduler 2>/dev/null
# A queue that takes no scheduler (BLK_MQ_F_NO_SCHED, null_blk's no_sched=1): 6.12 prints
# "none", 6.1 "[none] " (the current one bracketed, then the others it could take: none).
case "$(cat /sys/block/nullb0/queue/scheduler)" in
none | "[none]"*) ;;
*) fail "nullb0 has a scheduler: $(cat /sys/block/nullb0/queue/scheduler)" ;;
esac
echo 3600000 >/sys/block/nullb0/queue/io_timeout || fail "io_timeout of nullb0"
exec 3</dev/nullb0 # stockmod finds the disk through this descriptor of /init
truth nullb_slow 3 $NB_FROM $NB_TO
stock tag_holder dread /dev/nullb0 0 >/tmp/tag_holder.out 2>&1 &
thpid=$!
th_t=$(uptime_cs)
wait_d $thpid || fail "tag_holder did not block"
twpids=
for off in 1048576 2097152; do
    stock tag_waiter dread /dev/nullb0 $off >/dev/null 2>&1 &
    twpids="$twpids $!"
done
wait_d $twpids || fail "the tag_waiters did not block"
sleep 1
truth blk_tags 3 $thpid $twpids
say "blk_tags: tag_holder $thpid holds the only tag of nullb0; tag_waiter$twpids wait for it"
fi

lines=$(dmesg | grep -c 'holdup-truth: ')
say "all scenarios blocked, $lines truth lines"
# The dump need not hold these (the running helpers keep their own pages).
rm -rf /lib/x86_64-linux-gnu /lib64 /usr /sbin/dmsetup /sbin/mke2fs /bin/stock
umount /sys
if [ $EXTRA = 1 ]; then
    # A direct read waits for its bio in blk_wait_io(), in slices of hung_task_timeout_secs/2
    # (60 s: the default 120 when the wait began), and the detector reports a task only if it
    # did not run between its check at arming and the next, 10 s later: arm when no slice of
    # io_dread or tag_holder ends within 14 s after arming.
    i=0
    while :; do
        now=$(uptime_cs) ok=yes
        for t in $dread_t $th_t; do
            d=$(((now - t) % 6000))
            [ $d -ge 4600 ] || [ $d -lt 100 ] && ok=no
        done
        [ $ok = yes ] && break
        i=$((i + 1)); [ $i -gt 300 ] && break
        usleep 200000
    done
fi
echo -1 >/proc/sys/kernel/hung_task_warnings
echo 1 >/proc/sys/kernel/hung_task_panic
echo 10 >/proc/sys/kernel/hung_task_timeout_secs # last: this write wakes khungtaskd
say "hung-task detector armed (panic=$(cat /proc/sys/kernel/hung_task_panic))"
while :; do sleep 3600; done
