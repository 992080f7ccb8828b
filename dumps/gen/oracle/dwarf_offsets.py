#!/usr/bin/env python3
"""Sizes and member offsets, from the vmlinux's DWARF (drgn), of what holdup reads.

usage: dwarf_offsets.py VMLINUX > dwarf-offsets.tsv

Columns: struct, member_path, offset_bytes, bit_offset, bit_size, size
  - one row `struct - - - - sizeof` per struct, then one per member path that exists in this
    kernel (absent members are omitted; absent structs get no rows at all);
  - member_path: dotted, through anonymous unions/structs transparently (`thread.sp`);
  - offset_bytes: byte offset from the start of the struct (for a bit field: of the byte that
    holds its first bit);
  - bit_offset, bit_size: for bit fields only, the bit offset from the start of the struct and
    the width; `-` for ordinary members;
  - size: sizeof the member's type (for a bit field, of its declared type; `-` if incomplete).
"""
import sys

import drgn

from drgn_common import complete_struct, member_fields, open_vmlinux

# struct -> member paths (alternatives that differ between kernels are all listed).
STRUCTS = {
    "task_struct": [
        "thread_info", "thread_info.flags", "thread_info.cpu", "__state", "state", "stack", "usage",
        "flags", "on_cpu", "cpu", "on_rq", "prio", "static_prio", "policy", "se", "se.exec_start",
        "se.sum_exec_runtime", "sched_info", "sched_info.pcount", "sched_info.run_delay",
        "sched_info.last_arrival", "sched_info.last_queued", "tasks", "mm", "active_mm",
        "exit_state", "exit_code", "pid", "tgid", "stack_canary", "real_parent", "parent",
        "children", "sibling", "group_leader", "thread_group", "thread_node", "pid_links",
        "nvcsw", "nivcsw", "start_time", "start_boottime", "real_start_time", "comm",
        "last_switch_count", "last_switch_time", "signal", "blocked_on", "blocked_lock",
        "pi_lock", "thread", "thread.sp", "thread.fsbase", "stack_vm_area",
        # PREEMPT_RT (and any kernel with rt_mutex): the waiter a task blocks on, the waiters
        # that boost it, the state a sleeping spinlock saved
        "pi_blocked_on", "pi_waiters", "pi_top_task", "saved_state",
        # the hung-task detector's record of the lock (6.16+); a kthread's struct kthread
        "blocker", "worker_private", "set_child_tid",
        # a task's open jbd2 handle (the stock captures' jbd2 scenario)
        "journal_info",
    ],
    "thread_struct": ["sp", "fsbase", "gsbase"],
    "thread_info": ["flags", "syscall_work", "status", "cpu"],
    "sched_info": ["pcount", "run_delay", "last_arrival", "last_queued"],
    "sched_entity": ["exec_start", "sum_exec_runtime", "on_rq"],
    "signal_struct": ["nr_threads", "thread_head", "live"],
    "mm_struct": ["mmap", "mm_mt", "pgd", "mm_users", "mm_count", "map_count", "mmap_lock",
                  "owner", "mmap_base", "task_size"],
    # PREEMPT_RT: an rw_semaphore is a struct rwbase_rt, a mutex an rt_mutex_base.
    "rw_semaphore": ["count", "owner", "osq", "wait_lock", "wait_list", "first_waiter", "rwbase",
                     "rwbase.readers", "rwbase.rtmutex", "rwbase.rtmutex.owner",
                     "rwbase.rtmutex.waiters"],
    "rwsem_waiter": ["list", "task", "type", "timeout", "handoff_set"],
    "mutex": ["owner", "wait_lock", "osq", "wait_list", "first_waiter", "rtmutex", "rtmutex.owner",
              "rtmutex.waiters", "rtmutex.wait_lock"],
    "rwbase_rt": ["readers", "rtmutex"],
    "rt_mutex_base": ["wait_lock", "waiters", "waiters.rb_root", "waiters.rb_leftmost", "owner"],
    "rt_mutex": ["rtmutex"],
    "rt_mutex_waiter": ["tree", "tree.entry", "tree.prio", "tree.deadline", "pi_tree",
                        "pi_tree.entry", "task", "lock", "wake_state", "ww_ctx"],
    "rt_waiter_node": ["entry", "prio", "deadline"],
    "rb_root_cached": ["rb_root", "rb_leftmost"],
    "rb_root": ["rb_node"],
    "rb_node": ["__rb_parent_color", "rb_right", "rb_left"],
    "mutex_waiter": ["list", "task", "ww_ctx"],
    "semaphore": ["lock", "count", "wait_list", "first_waiter"],
    "semaphore_waiter": ["list", "task", "up"],
    "completion": ["done", "wait", "wait.lock", "wait.task_list"],
    "swait_queue_head": ["lock", "task_list"],
    "swait_queue": ["task", "task_list"],
    "wait_queue_head": ["lock", "head"],
    "wait_queue_entry": ["flags", "private", "func", "entry"],
    "wait_page_queue": ["folio", "page", "bit_nr", "wait"],
    "wait_page_key": ["folio", "page", "bit_nr", "page_match"],
    "wait_bit_queue_entry": ["key", "key.flags", "key.bit_nr", "wq_entry"],
    # A freeze level's lock and the like (percpu-rwsem.h)
    "percpu_rw_semaphore": ["rss", "read_count", "writer", "writer.task", "waiters",
                            "waiters.head", "block"],
    # kthread_stop/kthread_park (kernel/kthread.c)
    "kthread": ["threadfn", "parked", "exited", "task", "flags", "full_name", "data"],
    # A buffer locked for I/O (buffer_head.h), and its device
    "buffer_head": ["b_state", "b_blocknr", "b_bdev", "b_end_io", "b_private"],
    "block_device": ["bd_disk"],
    # flush_workqueue() (kernel/workqueue.c): the first flusher's struct wq_flusher, on its
    # stack; the worker running a work item, its pool_workqueue (stock wq_flush)
    "workqueue_struct": ["pwqs", "list", "mutex", "work_color", "flush_color",
                         "nr_pwqs_to_flush", "first_flusher", "flusher_queue",
                         "flusher_overflow", "name"],
    "wq_flusher": ["list", "flush_color", "done"],
    "worker": ["entry", "hentry", "current_work", "current_func", "current_pwq", "task", "pool",
               "node", "desc"],
    "pool_workqueue": ["pool", "wq", "work_color", "flush_color", "nr_in_flight"],
    # A blk-mq device's tags, the waiters for one and the requests in flight (the stock
    # captures' blk_tags)
    "request_queue": ["queuedata", "elevator", "queue_hw_ctx", "hctx_table", "nr_hw_queues",
                      "rq_timeout", "disk", "tag_set"],
    "blk_mq_hw_ctx": ["queue", "queue_num", "tags", "sched_tags", "nr_active", "dispatch"],
    "blk_mq_tags": ["nr_tags", "nr_reserved_tags", "active_queues", "bitmap_tags",
                    "breserved_tags", "rqs", "static_rqs"],
    "sbitmap_queue": ["sb", "wake_batch", "wake_index", "ws", "ws_active", "min_shallow_depth",
                      "completion_cnt", "wakeup_cnt"],
    "sbitmap": ["depth", "shift", "map_nr", "round_robin", "map", "alloc_hint"],
    "sbitmap_word": ["word", "cleared"],
    "sbq_wait_state": ["wait"],
    "request": ["q", "mq_ctx", "mq_hctx", "cmd_flags", "rq_flags", "tag", "internal_tag",
                "bio", "biotail", "part", "start_time_ns", "io_start_time_ns", "state",
                "deadline", "timeout"],
    "bio": ["bi_next", "bi_bdev", "bi_opf", "bi_status", "bi_iter", "bi_end_io", "bi_private"],
    "gendisk": ["major", "first_minor", "minors", "disk_name", "part0", "fops", "queue",
                "private_data", "flags", "state"],
    "page": ["flags", "flags.f", "lru", "mapping", "index", "__folio_index", "private",
             "compound_head", "compound_info", "compound_dtor", "compound_order", "page_type",
             "_mapcount", "_refcount", "memcg_data"],
    "folio": ["flags", "flags.f", "lru", "mapping", "index", "private", "_mapcount", "_refcount",
              "memcg_data", "_folio_dtor", "_folio_order", "_flags_1", "_large_mapcount",
              "_folio_nr_pages", "_nr_pages", "_entire_mapcount", "_nr_pages_mapped"],
    "list_head": ["next", "prev"],
    "hlist_head": ["first"],
    "hlist_node": ["next", "pprev"],
    "printk_ringbuffer": ["desc_ring", "text_data_ring", "fail"],
    "prb_desc_ring": ["count_bits", "descs", "infos", "head_id", "tail_id",
                      "last_finalized_id", "last_finalized_seq"],
    "prb_data_ring": ["size_bits", "data", "head_lpos", "tail_lpos"],
    "prb_desc": ["state_var", "text_blk_lpos", "text_blk_lpos.begin", "text_blk_lpos.next"],
    "prb_data_blk_lpos": ["begin", "next"],
    "printk_info": ["seq", "ts_nsec", "text_len", "facility", "flags", "level", "caller_id",
                    "dev_info", "dev_info.subsystem", "dev_info.device"],
    "inactive_task_frame": ["r15", "r14", "r13", "r12", "bx", "bp", "ret_addr"],
    "fork_frame": ["frame", "regs"],
    "pt_regs": ["r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx",
                "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss"],
    "elf_prstatus": ["pr_pid", "pr_reg"],
    "elf_prstatus_common": ["pr_pid"],
    "orc_entry": ["sp_offset", "bp_offset", "sp_reg", "bp_reg", "type", "signal", "end",
                  "unused"],
    "rq": ["nr_running", "cpu", "curr", "idle", "stop", "clock", "clock_task"],
    "pcpu_hot": ["current_task", "preempt_count", "cpu_number", "top_of_stack"],
    "uts_namespace": ["name"],
    "new_utsname": ["sysname", "nodename", "release", "version", "machine"],
    "pid": ["count", "level", "numbers"],
    "upid": ["nr", "ns"],
    "module": ["state", "list", "name", "syms", "num_syms", "kallsyms", "core_kallsyms",
               "core_layout", "core_layout.base", "core_layout.size", "mem"],
    "module_memory": ["base", "size"],
    "mod_kallsyms": ["symtab", "num_symtab", "strtab", "typetab"],
    "elf64_sym": ["st_name", "st_info", "st_other", "st_shndx", "st_value", "st_size"],
    "mem_section": ["section_mem_map", "usage"],
    "vm_struct": ["next", "addr", "size", "flags", "pages", "nr_pages", "phys_addr"],
    "vmap_area": ["va_start", "va_end", "list", "vm"],
    "kernel_symbol": ["value_offset", "name_offset", "namespace_offset"],
    "hrtimer_sleeper": ["task"],
    "nsproxy": ["uts_ns"],
}


def lookup(t, path):
    """(bit offset, member TypeMember) of a dotted path, or None if a step is absent."""
    bit = 0
    member = None
    cur = t
    for name in path.split("."):
        cur = cur.unaliased()
        if cur.kind not in (drgn.TypeKind.STRUCT, drgn.TypeKind.UNION):
            return None
        try:
            member = cur.member(name)
        except LookupError:
            return None
        bit += member.bit_offset
        cur = member.type
    return bit, member


def main(vmlinux):
    prog = open_vmlinux(vmlinux)
    print("# " + "\t".join(["struct", "member_path", "offset_bytes", "bit_offset", "bit_size",
                           "size"]))
    for sname, paths in STRUCTS.items():
        t = complete_struct(prog, sname)
        if t is None:
            continue
        print(f"{sname}\t-\t-\t-\t-\t{t.size}")
        for path in paths:
            r = lookup(t, path)
            if r is None:
                continue
            bit, m = r
            print(f"{sname}\t{path}\t{member_fields(sname, path, bit, m)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
