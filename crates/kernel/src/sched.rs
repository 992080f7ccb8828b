//! Tasks and run queues (`include/linux/sched.h`, `kernel/sched/sched.h`).

use crate::{Kernel, percpu};
use holdup_kmem::ReadError;

/// Reads a member of a struct through the types, as an unsigned integer of its size.
pub(crate) fn read_member(k: &Kernel, base: u64, path: &str) -> Result<u64, ReadError> {
    let field = k.types.member(path).map_err(|e| ReadError::Corrupt {
        vaddr: base,
        detail: format!("types: {e}"),
    })?;
    let size = k.types.sizeof_id(field.ty).unwrap_or(8);
    let addr = base + field.offset;
    Ok(match size {
        1 => k.mem().read_u8(addr)?.into(),
        2 => k.mem().read_u16(addr)?.into(),
        4 => k.mem().read_u32(addr)?.into(),
        _ => k.mem().read_u64(addr)?,
    })
}

/// The byte offset of a member path such as `task_struct.comm`.
pub(crate) fn offset_of(k: &Kernel, path: &str) -> Result<u64, ReadError> {
    k.types.offsetof(path).map_err(|e| ReadError::Corrupt {
        vaddr: 0,
        detail: format!("types: {e}"),
    })
}

/// `task->pid`.
pub fn task_pid(k: &Kernel, task: u64) -> Result<u32, ReadError> {
    Ok(read_member(k, task, "task_struct.pid")? as u32)
}

/// `task->comm`.
pub fn task_comm(k: &Kernel, task: u64) -> Result<String, ReadError> {
    k.mem()
        .read_cstr(task + offset_of(k, "task_struct.comm")?, 16)
}

/// `cpu_rq(cpu)`: the address of a CPU's `struct rq`.
pub fn cpu_rq(k: &Kernel, cpu: u32) -> Result<u64, ReadError> {
    percpu::per_cpu_ptr(k, k.symbol("runqueues")?, cpu)
}

/// `cpu_curr(cpu)`: the task running on a CPU (`rq->curr`).
pub fn cpu_curr(k: &Kernel, cpu: u32) -> Result<u64, ReadError> {
    read_member(k, cpu_rq(k, cpu)?, "rq.curr")
}

/// `rq->clock` of a CPU: nanoseconds since boot, as the scheduler last updated it.
pub fn rq_clock(k: &Kernel, cpu: u32) -> Result<u64, ReadError> {
    read_member(k, cpu_rq(k, cpu)?, "rq.clock")
}

/// Every task: each process on `init_task.tasks`, then each thread of its thread group on
/// `signal->thread_head` (`for_each_process_thread`). The idle tasks of the CPUs other than
/// the boot CPU are not on these lists; see [`idle_tasks`]. Problems met on the way (a
/// broken list) are returned beside the tasks found.
pub fn for_each_task(k: &Kernel) -> Result<(Vec<u64>, Vec<String>), ReadError> {
    use crate::list::{ListEnd, MAX_LIST_NODES, list_entries};
    let mem = k.mem();
    let init_task = k.symbol("init_task")?;
    let tasks_off = offset_of(k, "task_struct.tasks")?;
    let signal_off = offset_of(k, "task_struct.signal")?;
    let thread_head_off = offset_of(k, "signal_struct.thread_head")?;
    let thread_node_off = offset_of(k, "task_struct.thread_node")?;
    let mut problems = Vec::new();
    let (mut processes, end) = list_entries(mem, init_task + tasks_off, tasks_off, MAX_LIST_NODES);
    if end != ListEnd::Complete {
        problems.push(format!("init_task.tasks list: {end:?}"));
    }
    processes.insert(0, init_task);
    let mut all = Vec::with_capacity(processes.len());
    let mut seen = std::collections::HashSet::new();
    for p in processes {
        let signal = match mem.read_u64(p + signal_off) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("task {p:#x}: signal: {e}"));
                if seen.insert(p) {
                    all.push(p);
                }
                continue;
            }
        };
        let (threads, end) = list_entries(
            mem,
            signal + thread_head_off,
            thread_node_off,
            MAX_LIST_NODES,
        );
        if end != ListEnd::Complete {
            problems.push(format!("threads of task {p:#x}: {end:?}"));
        }
        if !threads.contains(&p) && seen.insert(p) {
            all.push(p);
        }
        for t in threads {
            if seen.insert(t) {
                all.push(t);
            }
        }
    }
    Ok((all, problems))
}

/// The idle task of each possible CPU (`idle_task(cpu)` = `cpu_rq(cpu)->idle`).
pub fn idle_tasks(k: &Kernel) -> Result<Vec<(u32, u64)>, ReadError> {
    let mut out = Vec::new();
    for cpu in percpu::for_each_possible_cpu(k)? {
        out.push((cpu, read_member(k, cpu_rq(k, cpu)?, "rq.idle")?));
    }
    Ok(out)
}
