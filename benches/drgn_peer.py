#!/usr/bin/env python3
"""drgn's nearest equivalent of each benchmarked holdup command (see benches/run.sh).

usage: drgn_peer.py VMLINUX DUMP info|log|ps|bt|report

  info    release, machine, CPUs, memory, uptime and the panic message (crash's `sys`)
  log     the kernel log as dmesg prints it
  ps      every task: pid, parent, CPU, state, comm (crash's `ps`)
  bt      the stack trace of every task
  report  every D-state task with its stack, and the owner of each rwsem or mutex its stack
          shows it waiting on (the frames' `sem`/`lock` arguments, where DWARF kept them)
"""
import os
import sys

import drgn
from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.printk import get_printk_records
from drgn.helpers.linux.sched import idle_task, task_state_to_char

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "dumps", "gen", "oracle"))
from drgn_common import open_dump  # noqa: E402


def info(prog):
    uts = prog["init_uts_ns"].name
    print("RELEASE", uts.release.string_().decode())
    print("VERSION", uts.version.string_().decode())
    print("MACHINE", uts.machine.string_().decode())
    print("CPUS", len(list(for_each_online_cpu(prog))))
    print("MEMORY", prog["_totalram_pages"].counter.value_() * 4096)
    panic = [r.text.decode(errors="replace") for r in get_printk_records(prog) if b"Kernel panic" in r.text]
    print("PANIC", panic[-1] if panic else "")


def log(prog):
    for r in get_printk_records(prog):
        print(f"[{r.timestamp // 1_000_000_000:5d}.{r.timestamp % 1_000_000_000 // 1000:06d}] "
              f"{r.text.decode(errors='replace')}")


def ps(prog):
    from drgn.helpers.linux.sched import task_cpu
    for t in for_each_task(prog):
        try:
            print(f"{t.pid.value_():>7} {t.real_parent.pid.value_():>7} {task_cpu(t):>3} "
                  f"{task_state_to_char(t)} {t.comm.string_().decode()}")
        except drgn.FaultError as e:
            print(f"(task {t.value_():#x} unreadable: {e})")


def stack(prog, t):
    try:
        trace = prog.stack_trace(t)
    except (drgn.FaultError, ValueError) as e:
        print(f"  (no stack: {e})")
        return None
    for i, f in enumerate(trace):
        print(f"  #{i} {f.name or '?'} pc {f.pc:#x}")
    return trace


def owner(prog, lock):
    """rw_semaphore.owner and mutex.owner are both an atomic_long_t task pointer with flag
    bits in the low 3 bits."""
    try:
        raw = lock.owner.counter.value_()
        task = raw & ~0x7
        if not task:
            return "no owner"
        t = drgn.Object(prog, "struct task_struct *", task)
        return f"{t.comm.string_().decode()} (pid {t.pid.value_()}, flags {raw & 7:#x})"
    except drgn.FaultError as e:
        return f"unreadable ({e})"


def report(prog):
    for t in for_each_task(prog):
        try:
            if task_state_to_char(t) != "D":
                continue
        except drgn.FaultError:
            continue
        print(f"pid {t.pid.value_()} comm {t.comm.string_().decode()} state D")
        trace = stack(prog, t)
        seen = set()
        for f in trace or []:
            name = f.name or ""
            for var, kind, marker in (("sem", "rwsem", "rwsem_down"), ("lock", "mutex", "mutex_lock")):
                if marker not in name:
                    continue
                try:
                    lock = f[var]
                except (KeyError, ValueError, LookupError):
                    continue
                if lock.absent_ or (kind, lock.value_()) in seen:
                    continue
                seen.add((kind, lock.value_()))
                print(f"  waits on {kind} {lock.value_():#x}, owner {owner(prog, lock)}")


def bt(prog):
    for t in for_each_task(prog):
        print(f"pid {t.pid.value_()} comm {t.comm.string_().decode()}")
        stack(prog, t)
    for cpu in for_each_online_cpu(prog):
        print(f"idle task of CPU {cpu}")
        stack(prog, idle_task(prog, cpu))


def main():
    vmlinux, dump, what = sys.argv[1:4]
    prog = open_dump(vmlinux, dump)
    {"info": info, "log": log, "ps": ps, "bt": bt, "report": report}[what](prog)


if __name__ == "__main__":
    main()
