#!/usr/bin/env python3
"""Every task in D state (TASK_UNINTERRUPTIBLE, not TASK_IDLE) with its stack, by drgn.

usage: drgn_d_stacks.py VMLINUX DUMP > drgn-D-stacks.txt

Output, one block per task, sorted by pid:
    pid <pid> tgid <tgid> comm <comm> task 0x<task_struct address> state D
      #<n> <function>[+0x<offset>] pc 0x<pc> [inline]
A frame in a module (no DWARF loaded for it) is named by the module's own symbol table in the
dump (drgn's module kallsyms), e.g. jbd2's jbd2_journal_wait_updates; without them (dumps
made before December 2026) such frames were bare addresses.
"""
import sys

import drgn
from drgn.helpers.linux.list import list_for_each_entry
from drgn.helpers.linux.pid import for_each_task
from drgn.helpers.linux.sched import task_state_to_char

from drgn_common import open_dump


def all_tasks(prog):
    """(tasks, note). drgn's for_each_task walks the pid IDR; in an incomplete dump that can
    fault, and then this walks init_task.tasks and each thread list as far as memory allows."""
    try:
        return list(for_each_task(prog)), None
    except drgn.FaultError as e:
        note = f"for_each_task failed ({e}); walked init_task.tasks instead"
    tasks, seen = [], set()
    init = prog["init_task"]
    try:
        for leader in list_for_each_entry("struct task_struct", init.tasks.address_of_(), "tasks"):
            group = [leader]
            try:
                if hasattr(leader.signal, "thread_head"):
                    group = list(list_for_each_entry("struct task_struct",
                                                     leader.signal.thread_head.address_of_(), "thread_node"))
                else:
                    group += list(list_for_each_entry("struct task_struct",
                                                      leader.thread_group.address_of_(), "thread_group"))
            except drgn.FaultError as e:
                note += f"; threads of {leader.value_():#x} unreadable ({e})"
            for t in group:
                if t.value_() not in seen:
                    seen.add(t.value_())
                    tasks.append(t)
    except drgn.FaultError as e:
        note += f"; task list broken after {len(tasks)} tasks ({e})"
    return tasks, note


def main(vmlinux, dump):
    prog = open_dump(vmlinux, dump)
    try:
        from drgn.helpers.linux.kallsyms import load_module_kallsyms
        prog.register_symbol_finder("module_kallsyms", load_module_kallsyms(prog),
                                    enable_index=-1)
    except (ImportError, LookupError, drgn.FaultError) as e:
        print(f"# module symbols not loaded: {e}")
    everything, note = all_tasks(prog)
    tasks = []
    for t in everything:
        try:
            if task_state_to_char(t) == "D":
                t.pid.value_()
                tasks.append(t)
        except drgn.FaultError as e:
            print(f"# task {t.value_():#x} unreadable: {e}")
    tasks.sort(key=lambda t: t.pid.value_())
    if note:
        print(f"# {note}")
    print(f"# drgn D-state tasks: {len(tasks)} (of {len(everything)} tasks)")
    for t in tasks:
        comm = t.comm.string_().decode(errors="replace")
        print(f"pid {t.pid.value_()} tgid {t.tgid.value_()} comm {comm} task {t.value_():#x} state D")
        try:
            trace = prog.stack_trace(t)
        except Exception as e:  # noqa: BLE001 - report and go on
            print(f"  error: {e}")
            continue
        for i, frame in enumerate(trace):
            pc = frame.pc
            name = frame.name
            where = name or "?"
            try:
                sym = frame.symbol()
                if not frame.is_inline:
                    where = f"{sym.name}+{pc - sym.address:#x}"
            except LookupError:
                pass
            print(f"  #{i} {where} pc {pc:#x}{' inline' if frame.is_inline else ''}")
        print()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
