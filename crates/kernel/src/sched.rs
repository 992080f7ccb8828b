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
