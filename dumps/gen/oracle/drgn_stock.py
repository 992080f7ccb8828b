#!/usr/bin/env python3
"""drgn's view of the objects of the stock captures' hangs, checked against their truth.

usage: drgn_stock.py VMLINUX DUMP TRUTH_JSONL [KO_DIR...] > drgn-stock.txt

KO_DIRs: the -dbg package's .ko files (vmlinux.sh: modules-dbg/; dm_mod's has the type
struct mapped_device, jbd2's journal_t, null_blk's struct nullb) and the guest's own (stockmod.ko: the work function's symbol). For each "object" line of the truth:
  super_block    sb <addr> s_id, s_writers.frozen, and the tasks on each s_writers.rw_sem's
                 waitqueue (percpu_rw_semaphore.waiters)
  mapped_device  md <addr> flags (and the DMF_ bits set), the bios on its deferred list
  folio          folio <addr> flags (PG_locked, PG_writeback, PG_uptodate) and mapping->host
  work_struct    the kworker executing it (every worker pool's busy workers): current_work,
                 current_func, the workqueue of current_pwq
  inode          inode <addr>: i_rwsem owner (the task and the flag bits), count and pids of
                 the tasks on its wait_list
  super_block    (scenario freeze_wait, a freeze waiting for a reader) also the task in the
                 rcuwait of s_writers.rw_sem[SB_FREEZE_WRITE-1] (the freezer) and its block
  kthread        kthread <addr>: struct kthread's flags (KTHREAD_SHOULD_STOP), threadfn, and
                 the tasks on its exited completion
  buffer_head    bh <addr>: b_state (BH_Lock), block, size, disk, and the tasks of the bit wait
                 table (bit_wait_table) waiting for its BH_Lock
  workqueue_struct  wq <addr>: name, first_flusher and the tasks waiting for its done (the
                 flusher), the worker executing the work (current_work, current_func, its
                 current_pwq's workqueue), the tasks on the mutex the truth names
  journal        journal <addr> (jbd2.ko's DWARF): the running and committing transactions, the
                 running one's t_state, t_updates and tid, the holder's journal_info and its
                 h_transaction, the tasks on j_wait_updates (the commit), j_wait_transaction_locked
                 (new handles) and j_wait_done_commit (waiting for a commit)
  request_queue  q <addr>: hardware queue 0's tags, depth, the bits set in its bitmap_tags, the
                 requests in flight (state, tag, start time, the tasks waiting for the
                 completion in its bio's bi_private), the tasks on the bitmap's wait queues,
                 the elevator, rq_timeout, and null_blk's completion_nsec (null_blk.ko's DWARF)
Each section ends with "check <what> ok" or "check <what> MISMATCH: ...", and the file with
"# N checks, M mismatches". Exit status 1 on a mismatch.
"""
import json
import os
import sys

import drgn
from drgn import Object
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.percpu import per_cpu
from drgn.helpers.linux.cpumask import for_each_possible_cpu
from drgn.helpers.linux.pid import find_task
from drgn.helpers.linux.wait import waitqueue_for_each_task
from drgn.helpers.linux.xarray import xa_for_each, xa_load

from drgn_common import open_dump

checks = []


def check(what, ok, detail=""):
    checks.append(ok)
    print(f"check {what} {'ok' if ok else 'MISMATCH: ' + detail}")


def hx(v):
    return f"{int(v):#018x}"


def super_block(prog, o, recs):
    sb = Object(prog, "struct super_block *", int(o["address"], 16))
    frozen = int(sb.s_writers.frozen)
    scen = o["scenario"]
    print(f"sb {hx(sb)} s_id {sb.s_id.string_().decode()} s_writers {hx(sb.s_writers.address_of_())} "
          f"frozen {frozen} (scenario {scen})")
    pids, writers = set(), {}
    for i in range(len(sb.s_writers.rw_sem)):
        sem = sb.s_writers.rw_sem[i]
        ts = [(int(t.pid), t.comm.string_().decode()) for t in waitqueue_for_each_task(sem.waiters.address_of_())]
        w = sem.writer.task
        writers[hx(sem.address_of_())] = int(w.pid) if w else None
        print(f"  rw_sem[{i}] {hx(sem.address_of_())} block {int(sem.block.counter)} writer "
              f"{f'{int(w.pid)}:{w.comm.string_().decode()}' if w else '-'} waiters "
              f"{' '.join(f'{p}:{c}' for p, c in ts) or '-'}")
        pids |= {p for p, _ in ts}
    check(f"{scen} frozen", frozen == o["frozen"], f"{frozen} != {o['frozen']}")
    check(f"{scen} s_writers", hx(sb.s_writers.address_of_()) == o["s_writers"])
    # The freezer waiting for readers is the rcuwait's task of the lock the truth names.
    for r in recs:
        if r["kind"] == "task" and r["scenario"] == scen and r["role"] == "waiter" \
                and r["mode"] == "write":
            check(f"{scen} freezer {r['pid']} in rcuwait", writers.get(r["lock"]) == r["pid"],
                  f"rcuwait of {r['lock']}: {writers.get(r['lock'])}")
    return pids


def kthread(prog, o):
    kt = Object(prog, "struct kthread *", int(o["address"], 16))
    flags = int(kt.flags)
    stop = bool(flags >> int(prog.constant("KTHREAD_SHOULD_STOP")) & 1)
    task = find_task(prog, o["pid"])
    fn = prog.symbol(int(kt.threadfn)).name
    exited = kt.exited
    q = list_for_each_entry("struct swait_queue", exited.wait.task_list.address_of_(), "task_list")
    ts = [(int(e.task.pid), e.task.comm.string_().decode()) for e in q]
    print(f"kthread {hx(kt)} task {hx(task)} pid {int(task.pid)} flags {flags:#x} should_stop "
          f"{int(stop)} threadfn {fn} exited {hx(exited.address_of_())} done "
          f"{int(exited.done)} waiters {' '.join(f'{p}:{c}' for p, c in ts) or '-'}")
    check("kthread worker_private", int(task.worker_private) == int(kt),
          f"worker_private {hx(task.worker_private)}")
    check("kthread should_stop", stop == o["should_stop"] and fn == o["threadfn"],
          f"should_stop {stop} threadfn {fn}")
    check("kthread exited", hx(exited.address_of_()) == o["exited"] and int(exited.done) == 0,
          f"{hx(exited.address_of_())} done {int(exited.done)}")
    return {p for p, _ in ts}


def buffer_head(prog, o):
    bh = Object(prog, "struct buffer_head *", int(o["address"], 16))
    state = int(bh.b_state)
    lock_bit = int(prog.constant("BH_Lock"))
    word = int(bh.b_state.address_of_())
    disk = bh.b_bdev.bd_disk.disk_name.string_().decode()
    table = prog["bit_wait_table"]
    pids, where = set(), []
    for i in range(len(table)):
        for e in list_for_each_entry("struct wait_queue_entry", table[i].head.address_of_(), "entry"):
            wb = drgn.container_of(e, "struct wait_bit_queue_entry", "wq_entry")
            if int(wb.key.flags) == word and int(wb.key.bit_nr) == lock_bit:
                t = Object(prog, "struct task_struct *", int(e.private))
                pids.add(int(t.pid))
                where.append(f"{int(t.pid)}:{t.comm.string_().decode()}@bit_wait_table[{i}]")
    print(f"bh {hx(bh)} b_state {state:#x} BH_Lock {state >> lock_bit & 1} block "
          f"{int(bh.b_blocknr)} size {int(bh.b_size)} disk {disk} waiters {' '.join(where) or '-'}")
    check("buffer_head", bool(state >> lock_bit & 1) == o["locked"] and int(bh.b_blocknr) == o["block"]
          and int(bh.b_size) == o["size"] and disk == o["device"],
          f"b_state {state:#x} block {int(bh.b_blocknr)} size {int(bh.b_size)} disk {disk}")
    return pids


DMF = ["BLOCK_IO_FOR_SUSPEND", "SUSPENDED", "FROZEN", "FREEING", "DELETING", "NOFLUSH_SUSPENDING",
       "DEFERRED_REMOVE", "SUSPENDED_INTERNALLY", "POST_SUSPENDING", "EMULATE_ZONE_APPEND"]


def mapped_device(prog, o):
    try:
        md = Object(prog, "struct mapped_device *", int(o["address"], 16))
        flags = int(md.flags)
    except LookupError:
        print(f"md {o['address']}: no type struct mapped_device (dm_mod's debug info not loaded)")
        check("mapped_device type", False, "dm_mod debug info missing")
        return
    names = [n for i, n in enumerate(DMF) if flags >> i & 1]
    bios, bio = 0, md.deferred.head
    while bio and bios < 100000:
        bios += 1
        bio = bio.bi_next
    print(f"md {hx(md)} name {md.name.string_().decode()} flags {flags:#x} ({'|'.join(names)}) "
          f"deferred bios {bios}")
    check("mapped_device suspended", ("SUSPENDED" in names) == o["suspended"], f"flags {flags:#x}")
    check("mapped_device deferred bios", bios > 0, "no bio queued")


def folio(prog, o):
    f = Object(prog, "struct folio *", int(o["address"], 16))
    flags = int(f.flags)
    bit = {n: int(prog.constant(f"PG_{n}")) for n in ("locked", "writeback", "uptodate")}
    got = {n: bool(flags >> b & 1) for n, b in bit.items()}
    host = f.mapping.host
    print(f"folio {hx(f)} flags {flags:#x} {' '.join(f'{n}={int(v)}' for n, v in got.items())} "
          f"index {int(f.index)} host {hx(host)}")
    check(f"folio {o['path']}", all(got[n] == o[n] for n in got) and hx(host) == o["inode"],
          f"{got} host {hx(host)}")


def work_struct(prog, o):
    work = int(o["address"], 16)
    found = None
    for cpu in for_each_possible_cpu(prog):
        for pool in per_cpu(prog["cpu_worker_pools"], cpu):
            for w in list_for_each_entry("struct worker", pool.workers.address_of_(), "node"):
                if int(w.current_work) == work:
                    found = w
    if found is None:
        print(f"work {o['address']}: no worker executing it")
        check("work executing", False, "not found")
        return
    func = prog.symbol(int(found.current_func)).name
    wq = found.current_pwq.wq.name.string_().decode()
    print(f"work {o['address']} worker {hx(found)} task {hx(found.task)} pid {int(found.task.pid)} "
          f"comm {found.task.comm.string_().decode()} current_func {func} workqueue {wq}")
    check("work worker", int(found.task.pid) == o["worker_pid"] and func == o["func"]
          and wq == o["workqueue"], f"pid {int(found.task.pid)} func {func} wq {wq}")


def inode(prog, o):
    ino = Object(prog, "struct inode *", int(o["address"], 16))
    sem = ino.i_rwsem
    owner = int(sem.owner.counter) & (1 << 64) - 1
    task = Object(prog, "struct task_struct *", owner & ~7)
    pids = [int(w.task.pid) for w in list_for_each_entry("struct rwsem_waiter", sem.wait_list.address_of_(), "list")]
    print(f"inode {hx(ino)} i_rwsem {hx(sem.address_of_())} count {int(sem.count.counter):#x} "
          f"owner {owner:#x} (pid {int(task.pid)} {task.comm.string_().decode()}) waiters {len(pids)}")
    print("  waiter pids " + " ".join(map(str, pids)))
    check("i_rwsem owner", int(task.pid) == o["holder_pid"], f"pid {int(task.pid)}")
    check("i_rwsem waiters", len(pids) == o["waiters"], f"{len(pids)} != {o['waiters']}")
    return set(pids)


def swait_pids(c):
    """The tasks waiting for a struct completion (its swait queue)."""
    return [(int(e.task.pid), e.task.comm.string_().decode())
            for e in list_for_each_entry("struct swait_queue", c.wait.task_list.address_of_(),
                                         "task_list")]


def wq_pids(wq_head):
    return [(int(t.pid), t.comm.string_().decode()) for t in waitqueue_for_each_task(wq_head)]


def fmt(ts):
    return " ".join(f"{p}:{c}" for p, c in ts) or "-"


def workqueue_struct(prog, o, recs):
    wq = Object(prog, "struct workqueue_struct *", int(o["address"], 16))
    name = wq.name.string_().decode()
    ff = wq.first_flusher
    flushers = swait_pids(ff.done) if ff else []
    print(f"wq {hx(wq)} name {name} first_flusher {hx(ff)} flush_color "
          f"{int(ff.flush_color) if ff else '-'} done {int(ff.done.done) if ff else '-'} "
          f"waiters {fmt(flushers)}")
    check("workqueue_struct first_flusher", name == o["name"] and hx(ff) == o["first_flusher"]
          and [p for p, _ in flushers] == [o["flusher_pid"]],
          f"name {name} first_flusher {hx(ff)} waiters {flushers}")
    found = None
    for cpu in for_each_possible_cpu(prog):
        for pool in per_cpu(prog["cpu_worker_pools"], cpu):
            for w in list_for_each_entry("struct worker", pool.workers.address_of_(), "node"):
                if hx(w.current_work) == o["work"]:
                    found = w
    if found is None:
        check("workqueue_struct worker", False, "no worker executes the work")
        return set(p for p, _ in flushers)
    func = prog.symbol(int(found.current_func)).name
    pwq_wq = found.current_pwq.wq
    print(f"  work {o['work']} worker {hx(found)} pid {int(found.task.pid)} comm "
          f"{found.task.comm.string_().decode()} current_func {func} current_pwq.wq "
          f"{hx(pwq_wq)} ({pwq_wq.name.string_().decode()})")
    check("workqueue_struct worker", int(found.task.pid) == o["worker_pid"] and func == o["func"]
          and int(pwq_wq) == int(wq), f"pid {int(found.task.pid)} func {func} wq {hx(pwq_wq)}")
    pids = {p for p, _ in flushers}
    for m in {r["lock"] for r in recs if r["kind"] == "task" and r["scenario"] == o["scenario"]
              and r["lock_type"] == "mutex"}:
        mx = Object(prog, "struct mutex *", int(m, 16))
        ws = [(int(w.task.pid), w.task.comm.string_().decode()) for w in
              list_for_each_entry("struct mutex_waiter", mx.wait_list.address_of_(), "list")]
        owner = int(mx.owner.counter) & ((1 << 64) - 1) & ~7
        otask = Object(prog, "struct task_struct *", owner)
        print(f"  mutex {m} owner {owner:#x} (pid {int(otask.pid) if owner else '-'}) waiters "
              f"{fmt(ws)}")
        check("workqueue_struct mutex owner", owner and int(otask.pid) == o["flusher_pid"],
              f"owner {owner:#x}")
        pids |= {p for p, _ in ws}
    return pids


def journal(prog, o):
    try:
        j = Object(prog, "journal_t *", int(o["address"], 16))
        run = j.j_running_transaction
    except LookupError:
        print(f"journal {o['address']}: no type journal_t (jbd2's debug info not loaded)")
        check("journal type", False, "jbd2 debug info missing")
        return set()
    com = j.j_committing_transaction
    state = int(run.t_state) if run else None
    names = {int(v): n for n, v in run.t_state.type_.enumerators} if run else {}
    st = names.get(state, str(state))
    upd = int(run.t_updates.counter) if run else None
    holder = find_task(prog, o["holder_pid"])
    handle = Object(prog, "handle_t *", int(holder.journal_info))
    commit, locked, done = (wq_pids(getattr(j, f).address_of_()) for f in
                            ("j_wait_updates", "j_wait_transaction_locked", "j_wait_done_commit"))
    print(f"journal {hx(j)} dev {j.j_dev.bd_disk.disk_name.string_().decode()} task "
          f"{int(j.j_task.pid)}:{j.j_task.comm.string_().decode()} running {hx(run)} committing "
          f"{hx(com)} t_state {st} t_updates {upd} tid {int(run.t_tid) if run else '-'} "
          f"j_commit_sequence {int(j.j_commit_sequence)} j_commit_request {int(j.j_commit_request)}")
    print(f"  holder {o['holder_pid']} journal_info {hx(handle)} h_transaction "
          f"{hx(handle.h_transaction)}; j_wait_updates {fmt(commit)}; j_wait_transaction_locked "
          f"{fmt(locked)}; j_wait_done_commit {fmt(done)}")
    check("journal transaction", hx(run) == o["running_transaction"]
          and hx(com) == o["committing_transaction"] and st == o["t_state"]
          and upd == o["t_updates"] and int(run.t_tid) == o["tid"],
          f"running {hx(run)} committing {hx(com)} {st} t_updates {upd}")
    check("journal handle", hx(handle) == o["handle"] and int(handle.h_transaction) == int(run),
          f"journal_info {hx(handle)} h_transaction {hx(handle.h_transaction)}")
    check("journal commit waits", [p for p, _ in commit] == [int(j.j_task.pid)],
          f"j_wait_updates {commit}")
    return {p for p, _ in commit + locked + done}


def request_queue(prog, o):
    q = Object(prog, "struct request_queue *", int(o["address"], 16))
    hctx = Object(prog, "struct blk_mq_hw_ctx *", int(xa_load(q.hctx_table.address_of_(), 0)))
    nr_hctx = sum(1 for _ in xa_for_each(q.hctx_table.address_of_()))
    tags = hctx.tags
    depth = int(tags.nr_tags)
    sb = tags.bitmap_tags.sb
    shift = int(sb.shift)
    in_use = 0
    for i in range(int(sb.map_nr)):
        m = sb.map[i]
        width = min(1 << shift, int(sb.depth) - (i << shift))
        in_use += bin(int(m.word) & ~int(m.cleared) & ((1 << width) - 1)).count("1")
    inflight, holders = [], []
    for i in range(depth):
        rq = tags.rqs[i]
        if rq and int(rq.q) == int(q):
            state = int(rq.state)
            bio = rq.bio
            ws = []
            if bio:
                ws = swait_pids(Object(prog, "struct completion *", int(bio.bi_private)))
            print(f"  tag {i} request {hx(rq)} state {state} tag {int(rq.tag)} start_time_ns "
                  f"{int(rq.start_time_ns)} deadline {int(rq.deadline)} bio {hx(bio)} waiters "
                  f"{fmt(ws)}")
            if state == 1:  # MQ_RQ_IN_FLIGHT
                inflight.append(hx(rq))
                holders += ws
    waiters = []
    for i in range(8):  # SBQ_WAIT_QUEUES
        waiters += wq_pids(tags.bitmap_tags.ws[i].wait.address_of_())
    disk = q.disk
    completion = "-"
    try:
        nb = Object(prog, "struct nullb *", int(disk.private_data))
        completion = int(nb.dev.completion_nsec)
    except LookupError:
        pass
    print(f"q {hx(q)} disk {disk.disk_name.string_().decode()} hctxs {nr_hctx} tags {hx(tags)} "
          f"nr_tags {depth} bits set {in_use} in flight {' '.join(inflight) or '-'} elevator "
          f"{hx(q.elevator)} rq_timeout {int(q.rq_timeout)} jiffies null_blk completion_nsec "
          f"{completion}; waiting for a tag {fmt(waiters)}")
    check("request_queue tags", hx(tags) == o["tags"] and depth == o["depth"]
          and in_use == o["tags_in_use"] and inflight == [o["request"]] and not q.elevator
          and nr_hctx == 1, f"tags {hx(tags)} depth {depth} in use {in_use} in flight {inflight}")
    return {p for p, _ in waiters + holders}


def main(vmlinux, dump, truth, *kodirs):
    prog = open_dump(vmlinux, dump)
    kos = [os.path.join(d, f) for d in kodirs if os.path.isdir(d)
           for f in sorted(os.listdir(d)) if f.endswith(".ko")]
    if kos:
        try:
            prog.load_debug_info(kos)
        except drgn.MissingDebugInfoError:
            pass
    recs = [json.loads(l) for l in open(truth) if l.strip()]
    waiting = {}
    for o in recs:
        if o["kind"] != "object":
            continue
        kind = o["object"]
        if kind == "super_block":
            waiting[o["scenario"]] = super_block(prog, o, recs)
        elif kind == "mapped_device":
            mapped_device(prog, o)
        elif kind == "folio":
            folio(prog, o)
        elif kind == "work_struct":
            work_struct(prog, o)
        elif kind == "inode":
            waiting[o["scenario"]] = inode(prog, o)
        elif kind == "kthread":
            waiting[o["scenario"]] = kthread(prog, o)
        elif kind == "buffer_head":
            waiting[o["scenario"]] = buffer_head(prog, o)
        elif kind == "workqueue_struct":
            waiting[o["scenario"]] = workqueue_struct(prog, o, recs)
        elif kind == "journal":
            waiting[o["scenario"]] = journal(prog, o)
        elif kind == "request_queue":
            waiting[o["scenario"]] = request_queue(prog, o)
    # Every waiter of the truth is on the lock's wait list in memory (a percpu_rw_semaphore's
    # writer, in its rcuwait, is checked above).
    for scen, pids in waiting.items():
        want = {r["pid"] for r in recs if r["kind"] == "task" and r["scenario"] == scen
                and r["role"] == "waiter"
                and not (r["lock_type"] == "percpu_rwsem" and r["mode"] == "write")}
        check(f"{scen} waiters in memory", want == pids, f"truth {sorted(want - pids)} not queued, "
              f"queued {sorted(pids - want)} not in truth")
    for r in recs:
        if r["kind"] == "task":
            t = find_task(prog, r["pid"])
            if not t or hx(t) != r["task"]:
                check(f"task {r['pid']}", False, "not found")
    bad = checks.count(False)
    print(f"# {len(checks)} checks, {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
