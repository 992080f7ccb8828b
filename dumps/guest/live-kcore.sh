# SPDX-License-Identifier: MIT OR Apache-2.0
# Sourced by /init (dumps/guest/init-first.sh) of the capture 6.1-live (holdup_kcore=1 on the
# kernel command line), once the hung-task detector is armed with hung_task_panic=0: holdup on
# the running, hung kernel, through /proc/kcore.
#   1. waits until the detector has reported every blocked task of hangmod ($KTHREADS and
#      bench) at least once;
#   2. runs, as root, the static /holdup on /proc/kcore: the text report, the JSON report
#      twice in a row, the text report again, and `holdup ps`, each timed (/proc/uptime), with
#      its stdout, stderr and exit status;
#   3. saves the first 64 KiB of /proc/kcore (ELF header, program headers and notes, among them
#      VMCOREINFO) and the state of every task from /proc before and after the runs;
#   4. writes all of it as a tar archive to /dev/vdb (the host reads it back), then crashes the
#      kernel (sysrq c) so that kdump captures the same boot.
# Talks to the console only in lines starting "holdup-live: ".
live() { echo "holdup-live: $*"; }
uptime_cs() { # /proc/uptime in centiseconds
    read up _ </proc/uptime
    echo "${up%.*}${up#*.}"
}
L=/tmp/live
mkdir -p $L

# 1. Every blocked task reported by the detector at least once (its first report comes
# hung_task_timeout_secs, 10 s, after arming; the next ones every 10 s).
t=0
for c in $KTHREADS bench; do
    until dmesg | grep -q "INFO: task $c:[0-9]* blocked for more than"; do
        t=$((t + 1)); [ $t -gt 1800 ] && fail "the detector never reported $c"
        usleep 100000
    done
done
live "the detector reported all 17 tasks"
# The state of every task, as /proc says (pid, comm, state, wchan).
proc_states() {
    for d in /proc/[0-9]*; do
        p=${d#/proc/}
        s=$(cut -d')' -f2 $d/stat 2>/dev/null | cut -d' ' -f2) || continue
        [ -n "$s" ] || continue
        echo "$p $s $(cat $d/comm 2>/dev/null) $(cat $d/wchan 2>/dev/null)"
    done | sort -n
}
proc_states >$L/proc-before.txt

# 2. holdup on the live kernel. run NAME ARGS...: stdout to NAME.out, stderr to NAME.err,
# "NAME status S start_cs C end_cs E" to runs.txt.
run() {
    name=$1
    shift
    t0=$(uptime_cs)
    # A run that never ends is killed (status 137) and said so.
    timeout -s KILL 900 /holdup "$@" >$L/$name.out 2>$L/$name.err
    st=$?
    t1=$(uptime_cs)
    echo "$name status $st start_cs $t0 end_cs $t1 args $*" >>$L/runs.txt
    live "$name: exit status $st in $(((t1 - t0) / 100)).$(((t1 - t0) % 100 / 10)) s, $(wc -c <$L/$name.out) bytes out, $(wc -c <$L/$name.err) bytes err"
}
live "running holdup on /proc/kcore ($(/holdup --version 2>&1))"
/holdup --version >$L/version.txt 2>&1
sha256sum /holdup >$L/holdup.sha256
run report-text --no-pager /proc/kcore
run report-json --json /proc/kcore
run report-json-2 --json /proc/kcore
run report-text-2 --no-pager /proc/kcore
run ps ps /proc/kcore
proc_states >$L/proc-after.txt

# 3. The head of /proc/kcore: its ELF header, program headers and notes (VMCOREINFO).
dd if=/proc/kcore of=$L/kcore-head bs=4096 count=16 2>$L/kcore-head.err
echo "dd status $?" >>$L/kcore-head.err
ls -ln /proc/kcore >$L/kcore-ls.txt 2>&1
cat /proc/meminfo >$L/meminfo.txt
uname -a >$L/uname.txt

# 4. To the host: a tar archive on /dev/vdb, its size on the console. The virtio block driver
# is loaded only now (6.1 has it as modules), after holdup ran.
for m in $(cat /lib/modules/virtio/order); do
    insmod /lib/modules/virtio/$m.ko || live "insmod $m failed"
done
t=0
while [ ! -b /dev/vdb ]; do
    t=$((t + 1)); [ $t -gt 300 ] && fail "no /dev/vdb for holdup's outputs"
    usleep 100000
done
(cd $L && tar -cf /tmp/live.tar .) || fail "tar of $L"
dd if=/tmp/live.tar of=/dev/vdb bs=64k conv=fsync 2>/dev/null || fail "writing /dev/vdb"
sync
live "archive $(wc -c </tmp/live.tar) bytes on /dev/vdb"
live "done"
# kdump of the same boot: the panic kexecs the capture kernel loaded at boot.
sleep 1
echo c >/proc/sysrq-trigger
