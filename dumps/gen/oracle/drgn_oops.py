#!/usr/bin/env python3
"""drgn's view of a dump without a hang (the 6.1-oops-la57 capture): what crash's `sys`,
`ps`, `bt -a` and `bt` show, by drgn.

usage: drgn_oops.py VMLINUX DUMP > drgn-oops.txt

Output:
    sys release <release>
    sys cpus <n online>
    sys pgtable_l5_enabled <0|1>          (__pgtable_l5_enabled: 1 = 5-level paging)
    sys page_offset_base 0x<...>
    sys crashed_thread pid <pid> comm <comm> cpu <cpu>
    ps <pid> <ppid> <cpu> 0x<task> <state char> <comm>    (every task, by pid)
    bt-cpu <cpu> pid <pid> comm <comm> task 0x<task>      (the task current on each CPU)
      #<n> <function>+0x<offset> pc 0x<pc> [inline]
    bt-crashed pid <pid> comm <comm>                      (prog.crashed_thread())
      #<n> ...
drgn unwinds a running task from the NT_PRSTATUS registers of its CPU: after an oops with
panic_on_oops those are the faulting context's (crash_kexec(regs)), so its trace starts at
the faulting function, where crash starts at machine_kexec.
"""
import sys

import drgn
from drgn.helpers.linux.cpumask import for_each_online_cpu
from drgn.helpers.linux.kallsyms import load_module_kallsyms
from drgn.helpers.linux.sched import cpu_curr, task_cpu, task_state_to_char

from drgn_common import open_dump
from drgn_d_stacks import all_tasks


def frames(prog, thread_or_task):
    out = []
    try:
        if isinstance(thread_or_task, drgn.Thread):
            trace = thread_or_task.stack_trace()
        else:
            trace = prog.stack_trace(thread_or_task)
    except Exception as e:  # noqa: BLE001 - report and go on
        return [f"  error: {e}"]
    for i, frame in enumerate(trace):
        pc = frame.pc
        where = frame.name or "?"
        try:
            sym = frame.symbol()
            if not frame.is_inline:
                where = f"{sym.name}+{pc - sym.address:#x}"
        except LookupError:
            pass
        out.append(f"  #{i} {where} pc {pc:#x}{' inline' if frame.is_inline else ''}")
    return out


def main(vmlinux, dump):
    prog = open_dump(vmlinux, dump)
    # hangmod has no debug info: its functions are named from the modules' kallsyms.
    prog.register_symbol_finder("module_kallsyms", load_module_kallsyms(prog), enable_index=-1)
    print(f"sys release {prog['UTS_RELEASE'].string_().decode()}")
    cpus = list(for_each_online_cpu(prog))
    print(f"sys cpus {len(cpus)}")
    print(f"sys pgtable_l5_enabled {prog['__pgtable_l5_enabled'].value_()}")
    print(f"sys page_offset_base {prog['page_offset_base'].value_():#x}")
    crashed = prog.crashed_thread()
    ct = crashed.object
    print(f"sys crashed_thread pid {crashed.tid} comm {ct.comm.string_().decode()} "
          f"cpu {task_cpu(ct)}")
    tasks, note = all_tasks(prog)
    if note:
        print(f"# {note}")
    for t in sorted(tasks, key=lambda t: (t.pid.value_(), t.value_())):
        comm = t.comm.string_().decode(errors="replace")
        print(f"ps {t.pid.value_()} {t.real_parent.tgid.value_()} {task_cpu(t)} {t.value_():#x} "
              f"{task_state_to_char(t)} {comm}")
    for cpu in cpus:
        t = cpu_curr(prog, cpu)
        print(f"bt-cpu {cpu} pid {t.pid.value_()} comm {t.comm.string_().decode()} "
              f"task {t.value_():#x}")
        print("\n".join(frames(prog, t)))
    print(f"bt-crashed pid {crashed.tid} comm {ct.comm.string_().decode()}")
    print("\n".join(frames(prog, crashed)))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
