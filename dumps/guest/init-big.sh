#!/bin/busybox sh
# SPDX-License-Identifier: MIT OR Apache-2.0
# /init of the big capture (dumps/gen/big.sh; `just dumps-big`): a 16 GiB guest with >= 10,000
# tasks and two pile-ups of thousands of tasks on shared locks, through real kernel paths, plus
# hangmod's seven scenarios. No kdump: the host dumps the live guest through QMP.
#   idle     NPROC "idler" processes of NTHREADS threads each, in pause() (state S);
#   a..g     hangmod's scenarios (dumps/hangmod), with `big bench` as bench: BENCH threads of one
#            process, all in mincore() behind kcollapsed, queued for write on the mmap_lock that
#            kscand holds for read;
#   i_rwsem  stockmod's i_holder holds the i_rwsem of /tmp/log (tmpfs) and sleeps; WRITERS
#            "tmp_writer" processes write(2) to it (stockmod prints a truth line for each).
# Then one "pileup" truth line per shared lock (its holder and how many tasks wait on it,
# counted from /proc) and one "census" line (every task of the guest by state): dumps/TRUTH.md.
# Kernel command line: holdup_big=BENCH,WRITERS,NPROC,NTHREADS.
/bin/busybox mkdir -p /bin /sbin /proc /sys /dev /tmp
/bin/busybox --install -s /bin
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs -o size=64m tmpfs /tmp
KTHREADS="kscand kcollapsed abba_a abba_b rw_holder rw_writer rw_reader sem_holder1 sem_holder2 sem_waiter done_waiter chain_a chain_b chain_c pg_holder pg_waiter"
HANGMOD_LINES=29 # 22 facts + 7 verdicts

say() { echo "holdup-init: $*"; }
fail() { say "FAILED: $*"; while :; do sleep 3600; done; }
BENCH=3000 WRITERS=2000 NPROC=4 NTHREADS=1300
for w in $(cat /proc/cmdline); do
    case $w in holdup_big=*)
        set -- $(echo "${w#holdup_big=}" | tr ',' ' ')
        BENCH=$1 WRITERS=$2 NPROC=$3 NTHREADS=$4 ;;
    esac
done
say "mode big, kernel $(uname -r), bench $BENCH threads, $WRITERS writers, $NPROC x $NTHREADS idle"
say "memory: $(grep MemTotal /proc/meminfo)"
insmod /lib/modules/qemu_fw_cfg.ko || say "qemu_fw_cfg did not load (no VMCOREINFO for QEMU dumps)"
insmod /lib/modules/dm_mod.ko || fail "insmod dm_mod"
insmod /lib/modules/stockmod.ko || fail "insmod stockmod"
echo 4194304 >/proc/sys/kernel/pid_max

t0=$(cut -d. -f1 /proc/uptime)
big idle $NPROC $NTHREADS || fail "big idle"
say "idle: $NPROC idlers of $NTHREADS threads started ($(($(cut -d. -f1 /proc/uptime) - t0)) s)"

# --- hangmod's scenarios, bench with BENCH threads -------------------------------------------
t0=$(cut -d. -f1 /proc/uptime)
big bench /tmp/bench.info $BENCH &
i=0
while [ ! -s /tmp/bench.info ]; do
    i=$((i + 1)); [ $i -gt 3000 ] && fail "bench wrote no /tmp/bench.info"
    usleep 100000
done
read bpid baddr </tmp/bench.info
say "bench pid $bpid addr $baddr, $BENCH threads ($(($(cut -d. -f1 /proc/uptime) - t0)) s)"
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
while [ "$(dmesg | grep -c 'holdup-truth: ')" -lt $HANGMOD_LINES ]; do
    i=$((i + 1)); [ $i -gt 1200 ] && break
    usleep 100000
done
sleep 1
for c in $KTHREADS; do
    set -- $(state_of $c)
    [ "${2:-}" = D ] || fail "kthread $c is not blocked (state '${2:-none}')"
done
n=$(dmesg | grep -c 'holdup-truth: ')
[ "$n" -eq $HANGMOD_LINES ] || fail "$n hangmod truth lines, expected $HANGMOD_LINES"
# Every thread of bench in state D inside mincore (behind kcollapsed): counted until the count
# is the expected one or stays the same for 5 s.
settle() { # what, expected, JSON key, census args...: the census once settled, on stdout
    local what=$1 want=$2 key=$3 i=0 last=-1 same=0 c n
    shift 3
    while :; do
        c=$(big census "$@")
        n=$(num "$c" $key)
        [ "$n" = "$want" ] && break
        if [ "$n" = "$last" ]; then same=$((same + 1)); else same=0; fi
        last=$n
        [ $same -ge 5 ] && break
        i=$((i + 1))
        [ $((i % 10)) -eq 0 ] && say "$what: not settled yet: $c" >/dev/console
        [ $i -gt 600 ] && break
        sleep 1
    done
    echo "$c"
}
num() { echo "$1" | sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p"; }
c=$(settle bench $BENCH D_in_mincore -t $bpid)
bench_census=$c
say "hangmod: scenarios a-g blocked; bench: $c"

# --- i_rwsem: WRITERS tmp_writers behind stockmod's i_holder -------------------------------------
echo log >/tmp/log
echo "i_rwsem /tmp/log" >/proc/holdup-stock || fail "stockmod i_rwsem"
t0=$(cut -d. -f1 /proc/uptime)
big writers /tmp/log $WRITERS /tmp/writers.pids || fail "big writers"
c=$(settle writers $WRITERS D_in_write -f /tmp/writers.pids)
writers_census=$c
say "i_rwsem: $WRITERS tmp_writers blocked ($(($(cut -d. -f1 /proc/uptime) - t0)) s): $c"
batch=
n=0
for p in $(cat /tmp/writers.pids); do
    batch="$batch $p"
    n=$((n + 1))
    if [ $n -eq 200 ]; then
        echo "i_rwsem_waiters$batch" >/proc/holdup-stock || fail "stockmod i_rwsem_waiters"
        batch= n=0
    fi
done
echo "i_rwsem_waiters$batch end" >/proc/holdup-stock || fail "stockmod i_rwsem_waiters end"
sleep 1

# --- the pile-ups and the census, as truth lines ---------------------------------------------
field() { # JSON line, key -> its value (string or number), by sed
    echo "$1" | sed -n "s/.*\"$2\":\"\{0,1\}\([^\",}]*\).*/\1/p"
}
kmsg() { echo "holdup-truth: $*" >/dev/kmsg; }
a_hold=$(dmesg | grep 'holdup-truth: ' | grep '"scenario":"a"' | grep '"role":"holder","lock_type":"rwsem"' | head -n1)
a_wait=$(dmesg | grep 'holdup-truth: ' | grep '"scenario":"a"' | grep '"comm":"kcollapsed"' | head -n1)
[ -n "$a_hold" ] && [ -n "$a_wait" ] || fail "no truth of scenario a's mmap_lock"
i_hold=$(dmesg | grep 'holdup-truth: ' | grep '"scenario":"i_rwsem"' | grep '"role":"holder"' | head -n1)
[ -n "$i_hold" ] || fail "no truth of i_rwsem's holder"
reads=$(num "$bench_census" D_in_mincore)
kmsg "{\"kind\":\"pileup\",\"scenario\":\"a\",\"lock_type\":\"rwsem\",\"lock\":\"$(field "$a_hold" lock)\",\"lock_name\":\"mmap_lock of bench\",\"holder_pid\":$(num "$a_hold" pid),\"holder_comm\":\"kscand\",\"holder_mode\":\"read\",\"waiters\":$((reads + 1)),\"waiters_write\":1,\"waiters_read\":$reads,\"waiter_groups\":[{\"comm\":\"kcollapsed\",\"pid\":$(num "$a_wait" pid),\"mode\":\"write\",\"count\":1,\"blocked_in\":\"rwsem_down_write_slowpath\"},{\"comm\":\"bench\",\"tgid\":$bpid,\"mode\":\"read\",\"count\":$reads,\"syscall\":\"mincore\",\"blocked_in\":\"rwsem_down_read_slowpath\"}]}"
writes=$(num "$writers_census" D_in_write)
kmsg "{\"kind\":\"pileup\",\"scenario\":\"i_rwsem\",\"lock_type\":\"rwsem\",\"lock\":\"$(field "$i_hold" lock)\",\"lock_name\":\"i_rwsem of /tmp/log\",\"holder_pid\":$(num "$i_hold" pid),\"holder_comm\":\"i_holder\",\"holder_mode\":\"write\",\"waiters\":$writes,\"waiters_write\":$writes,\"waiters_read\":0,\"waiter_groups\":[{\"comm\":\"tmp_writer\",\"processes\":$writes,\"mode\":\"write\",\"count\":$writes,\"syscall\":\"write\",\"blocked_in\":\"rwsem_down_write_slowpath\"}]}"
tasks=$(big tasks)
kmsg "{\"kind\":\"census\",\"scenario\":\"big\",${tasks#\{}"
sleep 1
say "all scenarios blocked, $(dmesg | grep -c 'holdup-truth: ') truth lines; tasks: $tasks"

umount /sys
echo 10 >/proc/sys/kernel/hung_task_warnings
echo 0 >/proc/sys/kernel/hung_task_panic
echo 10 >/proc/sys/kernel/hung_task_timeout_secs # last: this write wakes khungtaskd
say "hung-task detector armed (panic=0, 10 warnings)"
while :; do sleep 3600; done
