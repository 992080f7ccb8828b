//! Tasks and run queues (`include/linux/sched.h`, `kernel/sched/sched.h`).
//!
//! [`for_each_task`] and [`idle_tasks`] find every task; [`read_task`] reads what `ps` shows
//! about one ([`Task`]); [`all_tasks`] does both, sorted like crash's `ps`. The state helpers
//! ([`task_state_to_char`], [`ps_state`]) decode `__state | exit_state` the way the kernel's
//! `/proc` and crash print it.

use crate::{Kernel, percpu};
use holdup_kmem::ReadError;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Reads a member of a struct through the types, as an unsigned integer of its size.
pub(crate) fn read_member(k: &Kernel, base: u64, path: &str) -> Result<u64, ReadError> {
    let field = k.types.member(path).map_err(|e| ReadError::Corrupt {
        vaddr: base,
        detail: format!("types: {e}"),
    })?;
    let size = k.types.sizeof_id(field.ty).unwrap_or(8);
    let addr = base.wrapping_add(field.offset);
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

// Task state bits (`include/linux/sched.h`; the same values in 5.10, 6.1 and 6.12 up to
// TASK_NEW; the ones above exist since 5.14/6.1).
pub const TASK_RUNNING: u32 = 0x0000;
pub const TASK_INTERRUPTIBLE: u32 = 0x0001;
pub const TASK_UNINTERRUPTIBLE: u32 = 0x0002;
pub const __TASK_STOPPED: u32 = 0x0004;
pub const __TASK_TRACED: u32 = 0x0008;
/// In `exit_state`.
pub const EXIT_DEAD: u32 = 0x0010;
/// In `exit_state`.
pub const EXIT_ZOMBIE: u32 = 0x0020;
pub const TASK_PARKED: u32 = 0x0040;
pub const TASK_DEAD: u32 = 0x0080;
pub const TASK_WAKEKILL: u32 = 0x0100;
pub const TASK_WAKING: u32 = 0x0200;
pub const TASK_NOLOAD: u32 = 0x0400;
pub const TASK_NEW: u32 = 0x0800;
pub const TASK_RTLOCK_WAIT: u32 = 0x1000;
pub const TASK_FREEZABLE: u32 = 0x2000;
pub const TASK_FROZEN: u32 = 0x8000;
/// `TASK_WAKEKILL | TASK_UNINTERRUPTIBLE`.
pub const TASK_KILLABLE: u32 = TASK_WAKEKILL | TASK_UNINTERRUPTIBLE;
/// `TASK_UNINTERRUPTIBLE | TASK_NOLOAD`.
pub const TASK_IDLE: u32 = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
/// The bits `/proc` reports (`TASK_REPORT`).
pub const TASK_REPORT: u32 = 0x7f;
/// `PF_IDLE`: the per-CPU idle task.
pub const PF_IDLE: u32 = 0x0000_0002;
/// `PF_EXITING`.
pub const PF_EXITING: u32 = 0x0000_0004;
/// `PF_KTHREAD`.
pub const PF_KTHREAD: u32 = 0x0020_0000;

/// `task_state_index()`: the index into `"RSDTtXZPI"` the kernel reports for a task, from
/// `__state` and `exit_state` (kernel/sched, `__task_state_index`).
pub fn task_state_index(state: u32, exit_state: u32) -> u32 {
    let mut s = (state | exit_state) & TASK_REPORT;
    if state & TASK_IDLE == TASK_IDLE {
        s = TASK_REPORT + 1; // TASK_REPORT_IDLE
    }
    if state & (TASK_RTLOCK_WAIT | TASK_FROZEN) != 0 {
        s = TASK_UNINTERRUPTIBLE;
    }
    32 - s.leading_zeros()
}

/// `task_state_to_char()`: `R`, `S`, `D`, `T`, `t`, `X`, `Z`, `P` or `I`, as `ps` and
/// `/proc/PID/stat` show the task.
pub fn task_state_to_char(state: u32, exit_state: u32) -> char {
    const CHARS: &[u8] = b"RSDTtXZPI";
    CHARS
        .get(task_state_index(state, exit_state) as usize)
        .map_or('?', |&c| c as char)
}

/// The two-letter state crash's `ps` prints (`task_state_string()` in crash's task.c): `RU`,
/// `IN`, `UN`, `ID` (uninterruptible and `TASK_NOLOAD`), `ZO`, `ST`, `TR`, `DE`, `PA`, `WA`,
/// `NE`, or `??`. Later tests win, as in crash: a zombie that is also `TASK_DEAD` is `ZO`.
pub fn ps_state(state: u32, exit_state: u32) -> &'static str {
    let s = state | exit_state;
    let mut out = "??";
    let mut set = false;
    if s == TASK_RUNNING {
        out = "RU";
    }
    if s & TASK_INTERRUPTIBLE != 0 {
        out = "IN";
        set = true;
    }
    if s & TASK_UNINTERRUPTIBLE != 0 {
        out = if s & TASK_NOLOAD != 0 { "ID" } else { "UN" };
        set = true;
    }
    if s & EXIT_ZOMBIE != 0 {
        out = "ZO";
        set = true;
    }
    if s & __TASK_STOPPED != 0 {
        out = "ST";
        set = true;
    }
    if s & __TASK_TRACED != 0 {
        out = "TR";
        set = true;
    }
    if s & (EXIT_DEAD | TASK_DEAD) != 0 && !set {
        out = "DE";
    }
    if s == TASK_PARKED {
        out = "PA";
    }
    if s == TASK_WAKING {
        out = "WA";
    }
    if s == TASK_NEW {
        out = "NE";
    }
    out
}

/// The names of the bits set in `__state | exit_state`, composites first:
/// `["TASK_KILLABLE"]`, `["TASK_IDLE"]`, `["TASK_UNINTERRUPTIBLE", "TASK_FREEZABLE"]`.
pub fn task_state_names(state: u32, exit_state: u32) -> Vec<&'static str> {
    let mut s = state | exit_state;
    if s == TASK_RUNNING {
        return vec!["TASK_RUNNING"];
    }
    let mut out = Vec::new();
    for (bits, name) in [
        (TASK_IDLE, "TASK_IDLE"),
        (TASK_KILLABLE, "TASK_KILLABLE"),
        (TASK_INTERRUPTIBLE, "TASK_INTERRUPTIBLE"),
        (TASK_UNINTERRUPTIBLE, "TASK_UNINTERRUPTIBLE"),
        (__TASK_STOPPED, "__TASK_STOPPED"),
        (__TASK_TRACED, "__TASK_TRACED"),
        (EXIT_DEAD, "EXIT_DEAD"),
        (EXIT_ZOMBIE, "EXIT_ZOMBIE"),
        (TASK_PARKED, "TASK_PARKED"),
        (TASK_DEAD, "TASK_DEAD"),
        (TASK_WAKEKILL, "TASK_WAKEKILL"),
        (TASK_WAKING, "TASK_WAKING"),
        (TASK_NOLOAD, "TASK_NOLOAD"),
        (TASK_NEW, "TASK_NEW"),
        (TASK_RTLOCK_WAIT, "TASK_RTLOCK_WAIT"),
        (TASK_FREEZABLE, "TASK_FREEZABLE"),
        (0x4000, "__TASK_FREEZABLE_UNSAFE"),
        (TASK_FROZEN, "TASK_FROZEN"),
    ] {
        if s & bits == bits {
            out.push(name);
            s &= !bits;
        }
    }
    if s != 0 {
        out.push("(unknown bits)");
    }
    out
}

/// Whether the hung-task detector would look at a task in this state: uninterruptible, not
/// killable, not `TASK_NOLOAD` (`check_hung_uninterruptible_tasks`).
pub fn hung_task_candidate(state: u32) -> bool {
    state & TASK_UNINTERRUPTIBLE != 0 && state & (TASK_WAKEKILL | TASK_NOLOAD) == 0
}

/// `task->pid`.
pub fn task_pid(k: &Kernel, task: u64) -> Result<u32, ReadError> {
    Ok(read_member(k, task, "task_struct.pid")? as u32)
}

/// `task->comm`.
pub fn task_comm(k: &Kernel, task: u64) -> Result<String, ReadError> {
    k.mem()
        .read_cstr(task.wrapping_add(offset_of(k, "task_struct.comm")?), 16)
}

/// `task_cpu(p)`: the CPU the task runs or last ran on (`thread_info.cpu` on 5.16+,
/// `task_struct.cpu` before).
pub fn task_cpu(k: &Kernel, task: u64) -> Result<u32, ReadError> {
    let path = if k
        .types
        .has_member("task_struct.thread_info.cpu")
        .unwrap_or(false)
    {
        "task_struct.thread_info.cpu"
    } else {
        "task_struct.cpu"
    };
    Ok(read_member(k, task, path)? as u32)
}

/// `is_idle_task(p)`: `PF_IDLE` is set.
pub fn is_idle_task(k: &Kernel, task: u64) -> Result<bool, ReadError> {
    Ok(read_member(k, task, "task_struct.flags")? as u32 & PF_IDLE != 0)
}

/// `task_curr(p)`: the task is what its CPU runs (`cpu_curr(task_cpu(p)) == p`).
pub fn task_curr(k: &Kernel, task: u64) -> Result<bool, ReadError> {
    Ok(cpu_curr(k, task_cpu(k, task)?)? == task)
}

/// Where `to_kthread()` finds a kthread's `struct kthread`: `task_struct.worker_private`
/// from 5.17, `set_child_tid` before. The member's path and its offset.
pub fn kthread_pointer(k: &Kernel) -> Option<(&'static str, u64)> {
    ["task_struct.worker_private", "task_struct.set_child_tid"]
        .iter()
        .find_map(|p| Some((*p, k.types.offsetof(p).ok()?)))
}

/// `to_kthread()`: the `struct kthread` of a kthread. Meaningless for a task that is not a
/// kthread: callers check what they find there.
pub fn to_kthread(k: &Kernel, task: u64) -> Option<u64> {
    let (_, off) = kthread_pointer(k)?;
    k.mem()
        .read_u64(task.wrapping_add(off))
        .ok()
        .filter(|&p| k.mem().is_kernel_pointer(p, 8))
}

/// `task_stack_page(p)`: the base of the task's kernel stack (`task->stack`).
pub fn task_stack_page(k: &Kernel, task: u64) -> Result<u64, ReadError> {
    read_member(k, task, "task_struct.stack")
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

/// `jiffies` (the 64-bit `jiffies_64` on x86_64).
pub fn jiffies(k: &Kernel) -> Result<u64, ReadError> {
    k.mem().read_u64(k.symbol("jiffies")?)
}

/// `HZ`, which is not in BTF: `NSEC_PER_SEC / tick_nsec` rounded to a usual value when
/// `tick_nsec` is there, else the value that best explains `jiffies` after `uptime_ns`
/// (jiffies start at `INITIAL_JIFFIES`, five minutes before wrapping 32 bits).
pub fn hz(k: &Kernel, uptime_ns: Option<u64>) -> Option<u64> {
    const CANDIDATES: [u64; 5] = [100, 250, 300, 500, 1000];
    if let Ok(tick) = k.symbol("tick_nsec").and_then(|a| k.mem().read_u64(a))
        && tick > 0
    {
        let hz = 1_000_000_000 / tick;
        if let Some(&c) = CANDIDATES
            .iter()
            .find(|&&c| c.abs_diff(hz) * 50 <= c.max(1))
        {
            return Some(c);
        }
    }
    let j = jiffies(k).ok()?;
    let up = uptime_ns? / 1_000_000;
    CANDIDATES
        .iter()
        .map(|&hz| {
            let initial = u64::from((-(300 * hz as i64)) as u32);
            let expect = initial.wrapping_add(up * hz / 1000);
            (j.abs_diff(expect), hz)
        })
        .filter(|&(d, hz)| d <= 30 * hz)
        .min()
        .map(|(_, hz)| hz)
}

/// Every task: each process on `init_task.tasks`, then each thread of its thread group on
/// `signal->thread_head` (`for_each_process_thread`). The idle tasks of the CPUs other than
/// the boot CPU are not on these lists; see [`idle_tasks`]. Problems met on the way (a
/// broken list) are returned beside the tasks found.
///
/// A dump can lack the page of a task (over-filtered by makedumpfile): then the lists break
/// there. The walk goes on backwards from the head along `prev`; tasks the pid table
/// ([`pid_tasks`]) names that the lists missed are added, and the process list is walked
/// again from each of them, so a task is lost only if it is unreachable every way. An
/// unreadable task's address is still listed (it came from a readable pointer): reading it
/// fails with the reason.
pub fn for_each_task(k: &Kernel) -> Result<(Vec<u64>, Vec<String>), ReadError> {
    let (tasks, _, problems) = discover_tasks(k)?;
    Ok((tasks, problems))
}

/// Tasks found, the pid the pid table gives each task it names, and problems.
type Discovered = (Vec<u64>, HashMap<u64, u32>, Vec<String>);

/// [`for_each_task`], plus the pid the pid table gives each task it names.
fn discover_tasks(k: &Kernel) -> Result<Discovered, ReadError> {
    let mem = k.mem();
    let init_task = k.symbol("init_task")?;
    let tasks_off = offset_of(k, "task_struct.tasks")?;
    let signal_off = offset_of(k, "task_struct.signal")?;
    let thread_head_off = offset_of(k, "signal_struct.thread_head")?;
    let thread_node_off = offset_of(k, "task_struct.thread_node")?;
    let mut problems = Vec::new();
    let head = init_task.wrapping_add(tasks_off);
    let mut processes: Vec<u64> = std::iter::once(init_task)
        .chain(
            list_nodes_both_ways(k, head, "init_task.tasks", &mut problems)
                .into_iter()
                .map(|n| n.wrapping_sub(tasks_off)),
        )
        .collect();
    let mut known: HashSet<u64> = processes.iter().copied().collect();
    let (by_pid, pid_problems) = match pid_tasks(k) {
        Ok(r) => r,
        Err(e) => (Vec::new(), vec![format!("pid table: {e}")]),
    };
    let known_pid: HashMap<u64, u32> = by_pid.iter().map(|&(p, t)| (t, p)).collect();
    if !problems.is_empty() {
        // The process list is broken: the pid table's tasks seed walks of the rest of it.
        for &(_, t) in &by_pid {
            if known.contains(&t) {
                continue;
            }
            let node = t.wrapping_add(tasks_off);
            let linked = (|| -> Result<bool, ReadError> {
                let next = mem.read_u64(node)?;
                let prev = mem.read_u64(node.wrapping_add(8))?;
                Ok(mem.read_u64(next.wrapping_add(8)).ok() == Some(node)
                    || mem.read_u64(prev).ok() == Some(node))
            })()
            .unwrap_or(false);
            if !linked {
                continue; // not a group leader (its `tasks` is a stale copy), or unreadable
            }
            known.insert(t);
            processes.push(t);
            for dir in [0u64, 8] {
                let mut n = node;
                for _ in 0..crate::list::MAX_LIST_NODES {
                    n = match mem.read_u64(n.wrapping_add(dir)) {
                        Ok(x) => x,
                        Err(_) => break,
                    };
                    let task = n.wrapping_sub(tasks_off);
                    if n == head || !known.insert(task) {
                        break;
                    }
                    processes.push(task);
                }
            }
        }
    }
    problems.extend(pid_problems);
    let mut all = Vec::with_capacity(processes.len());
    let mut seen = HashSet::new();
    for p in processes {
        let signal = match mem.read_u64(p.wrapping_add(signal_off)) {
            Ok(s) => s,
            Err(e) => {
                problems.push(format!("task {p:#x}: signal: {e}"));
                if seen.insert(p) {
                    all.push(p);
                }
                continue;
            }
        };
        let threads: Vec<u64> = list_nodes_both_ways(
            k,
            signal.wrapping_add(thread_head_off),
            &format!("threads of task {p:#x}"),
            &mut problems,
        )
        .into_iter()
        .map(|n| n.wrapping_sub(thread_node_off))
        .collect();
        if !threads.contains(&p) && seen.insert(p) {
            all.push(p);
        }
        for t in threads {
            if seen.insert(t) {
                all.push(t);
            }
        }
    }
    // Tasks only the pid table knows (e.g. threads of an unreadable leader).
    for &(_, t) in &by_pid {
        if seen.insert(t) {
            all.push(t);
        }
    }
    Ok((all, known_pid, problems))
}

/// The nodes of a circular list, forwards from `head`; if a `next` cannot be read, the rest
/// backwards along `prev` from the head. The node whose `next` failed is kept (its address
/// came from a readable pointer). Bounded and cycle-checked like [`crate::list::list_nodes`].
fn list_nodes_both_ways(k: &Kernel, head: u64, what: &str, problems: &mut Vec<String>) -> Vec<u64> {
    use crate::list::{ListEnd, MAX_LIST_NODES, list_nodes};
    let mem = k.mem();
    let (mut nodes, end) = list_nodes(mem, head, MAX_LIST_NODES);
    let first_error = match end {
        ListEnd::Complete => return nodes,
        ListEnd::Unreadable(e) => e,
        other => {
            problems.push(format!("{what}: {other}"));
            return nodes;
        }
    };
    // Forward walk stopped at an unreadable node; the last node pushed is the one whose
    // `next` failed (or the head's own `next` was unreadable).
    let mut seen: HashSet<u64> = nodes.iter().copied().collect();
    let mut back = Vec::new();
    let mut node = match mem.read_u64(head.wrapping_add(8)) {
        Ok(n) => n,
        Err(_) if nodes.is_empty() => {
            problems.push(format!(
                "{what}: the list head is unreadable: {first_error}"
            ));
            return nodes;
        }
        Err(e) => {
            problems.push(format!("{what}: {first_error}; prev of the head: {e}"));
            return nodes;
        }
    };
    problems.push(format!("{what}: {first_error}; walked the rest backwards"));
    while node != head && !seen.contains(&node) {
        if back.len() + nodes.len() >= MAX_LIST_NODES {
            problems.push(format!("{what}: more than {MAX_LIST_NODES} nodes"));
            break;
        }
        seen.insert(node);
        back.push(node);
        node = match mem.read_u64(node.wrapping_add(8)) {
            Ok(n) => n,
            Err(e) => {
                problems.push(format!("{what}: going backwards: {e}"));
                break;
            }
        };
    }
    back.reverse();
    nodes.extend(back);
    nodes
}

/// (pid, task) pairs and the problems met finding them.
pub type PidTasks = (Vec<(u32, u64)>, Vec<String>);

/// Most xarray nodes visited in [`pid_tasks`].
const MAX_XA_NODES: usize = 1 << 16;

/// Every pid of the initial pid namespace with the task that has it: a walk of
/// `init_pid_ns.idr` (an xarray of `struct pid *`), then `pid->tasks[PIDTYPE_PID].first`
/// (`pid_task()`). This is how crash finds tasks; it does not depend on the task lists, so
/// a task whose neighbours on `init_task.tasks` are unreadable is still found here. Problems
/// (unreadable nodes or `struct pid`s) are returned beside the pairs found.
pub fn pid_tasks(k: &Kernel) -> Result<PidTasks, ReadError> {
    let mem = k.mem();
    let ns = k.symbol("init_pid_ns")?;
    let idr = ns.wrapping_add(offset_of(k, "pid_namespace.idr")?);
    let head = mem.read_u64(
        idr.wrapping_add(offset_of(k, "idr.idr_rt")?)
            .wrapping_add(offset_of(k, "xarray.xa_head")?),
    )?;
    let base = u64::from(mem.read_u32(idr.wrapping_add(offset_of(k, "idr.idr_base")?))?);
    let shift_off = offset_of(k, "xa_node.shift")?;
    let slots_off = offset_of(k, "xa_node.slots")?;
    let tasks_off = offset_of(k, "pid.tasks")?;
    let links_off = offset_of(k, "task_struct.pid_links")?;
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut visited = 0usize;
    let mut bad_pids: Vec<u64> = Vec::new();
    let mut first_bad = String::new();
    // (entry, first index it covers, shift of the node holding it or 0 for a leaf slot).
    let mut todo = vec![(head, 0u64)];
    while let Some((entry, index)) = todo.pop() {
        // xa_is_node(): an internal entry (low bits 10) above 4096.
        if entry & 3 == 2 && entry > 4096 {
            visited += 1;
            if visited > MAX_XA_NODES {
                problems.push(format!("init_pid_ns.idr: more than {MAX_XA_NODES} nodes"));
                break;
            }
            let node = entry - 2;
            let shift = match mem.read_u8(node.wrapping_add(shift_off)) {
                Ok(s) if s < 64 && s % 6 == 0 => u32::from(s),
                Ok(s) => {
                    problems.push(format!("init_pid_ns.idr: node {node:#x} has shift {s}"));
                    continue;
                }
                Err(e) => {
                    problems.push(format!("init_pid_ns.idr: node {node:#x}: {e}"));
                    continue;
                }
            };
            match mem.read_vec(node.wrapping_add(slots_off), 64 * 8) {
                Ok(b) => {
                    for i in (0..64u64).rev() {
                        let e = u64::from_le_bytes(b[i as usize * 8..][..8].try_into().unwrap());
                        if e != 0 {
                            todo.push((e, index.wrapping_add(i << shift)));
                        }
                    }
                }
                Err(e) => problems.push(format!("init_pid_ns.idr: node {node:#x}: {e}")),
            }
            continue;
        }
        // A leaf: a `struct pid *` (value and other internal entries are skipped).
        if entry & 3 != 0 || entry < 4096 {
            continue;
        }
        let nr = index.wrapping_add(base);
        match mem.read_u64(entry.wrapping_add(tasks_off)) {
            Ok(0) => {}
            Ok(first) => out.push((nr as u32, first.wrapping_sub(links_off))),
            Err(e) => {
                if bad_pids.is_empty() {
                    first_bad = e.to_string();
                }
                bad_pids.push(nr);
            }
        }
    }
    if !bad_pids.is_empty() {
        bad_pids.sort_unstable();
        problems.push(format!(
            "init_pid_ns.idr: the struct pid of {} pid(s) is unreadable ({}), e.g. {first_bad}",
            bad_pids.len(),
            bad_pids
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.sort_unstable();
    Ok((out, problems))
}

/// The idle task of each possible CPU (`idle_task(cpu)` = `cpu_rq(cpu)->idle`).
pub fn idle_tasks(k: &Kernel) -> Result<Vec<(u32, u64)>, ReadError> {
    let mut out = Vec::new();
    for cpu in percpu::for_each_possible_cpu(k)? {
        out.push((cpu, read_member(k, cpu_rq(k, cpu)?, "rq.idle")?));
    }
    Ok(out)
}

/// Offsets of the `task_struct` members [`read_task`] reads, looked up once.
#[derive(Debug, Clone)]
pub struct TaskLayout {
    state: (u64, u64),
    exit_state: u64,
    pid: u64,
    tgid: u64,
    real_parent: u64,
    comm: u64,
    cpu: u64,
    on_cpu: Option<u64>,
    flags: u64,
    stack: u64,
    mm: u64,
    thread_sp: u64,
    last_switch_time: Option<u64>,
    last_arrival: Option<u64>,
}

impl TaskLayout {
    pub fn new(k: &Kernel) -> Result<TaskLayout, ReadError> {
        let opt = |p: &str| {
            k.types
                .has_member(p)
                .ok()
                .filter(|&b| b)
                .and_then(|_| offset_of(k, p).ok())
        };
        // `__state` (unsigned int) since 5.14, `state` (long) before.
        let state = match k.types.member("task_struct.__state") {
            Ok(f) => (f.offset, 4),
            Err(_) => (offset_of(k, "task_struct.state")?, 8),
        };
        let cpu = opt("task_struct.thread_info.cpu")
            .map_or_else(|| offset_of(k, "task_struct.cpu"), Ok)?;
        Ok(TaskLayout {
            state,
            exit_state: offset_of(k, "task_struct.exit_state")?,
            pid: offset_of(k, "task_struct.pid")?,
            tgid: offset_of(k, "task_struct.tgid")?,
            real_parent: offset_of(k, "task_struct.real_parent")?,
            comm: offset_of(k, "task_struct.comm")?,
            cpu,
            on_cpu: opt("task_struct.on_cpu"),
            flags: offset_of(k, "task_struct.flags")?,
            stack: offset_of(k, "task_struct.stack")?,
            mm: offset_of(k, "task_struct.mm")?,
            thread_sp: offset_of(k, "task_struct.thread.sp")?,
            last_switch_time: opt("task_struct.last_switch_time"),
            last_arrival: opt("task_struct.sched_info.last_arrival"),
        })
    }
}

/// What `ps` shows about one task, plus what `bt` needs to start unwinding it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Task {
    /// `struct task_struct *`.
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    pub pid: u32,
    pub tgid: u32,
    /// `real_parent->tgid`, as `getppid()` returns it.
    pub ppid: u32,
    pub comm: String,
    /// `__state` (`state` before 5.14).
    pub state: u32,
    pub exit_state: u32,
    /// [`task_state_to_char`]: `R S D T t X Z P I`.
    pub state_char: char,
    /// [`ps_state`]: crash's `RU IN UN ID ...`.
    pub ps_state: &'static str,
    /// [`task_state_names`].
    pub state_names: Vec<&'static str>,
    /// `task_struct.flags` (`PF_*`).
    pub flags: u32,
    /// [`task_cpu`].
    pub cpu: u32,
    /// `task->on_cpu`: in the middle of running (or being switched) on its CPU.
    pub on_cpu: bool,
    /// The task is its CPU's `rq->curr` (crash marks these `>`).
    pub current: bool,
    /// One of the per-CPU idle tasks (`swapper/N`).
    pub idle: bool,
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub mm: u64,
    /// No `mm`: a kernel thread (crash puts its name in brackets).
    pub kernel_thread: bool,
    /// `task->stack`: the base of its `THREAD_SIZE` kernel stack.
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub stack: u64,
    /// `task->thread.sp`: the stack pointer saved when it was last switched out.
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub thread_sp: u64,
    /// How long it has been off the CPU; `None` for running tasks or when unknown.
    pub blocked: Option<Blocked>,
}

/// How long a task has been off the CPU, from the dump's own clocks.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Blocked {
    /// `sched_info.last_arrival`: the run-queue clock (ns since boot) when it last got the CPU.
    pub last_arrival_ns: Option<u64>,
    /// The latest run-queue clock of any CPU minus `last_arrival`: an upper bound on how long
    /// it has slept (it went to sleep after it last started running).
    pub since_last_arrival_ns: Option<u64>,
    /// `last_switch_time` (jiffies): when the hung-task detector last saw its context-switch
    /// count change; 0 when it never looked at the task.
    pub last_switch_time: Option<u64>,
    /// `(jiffies - last_switch_time) / HZ` in ms, as `INFO: task ... blocked for more than N
    /// seconds` computes it: a lower bound on how long it has not switched. Only for the
    /// tasks the detector checks (uninterruptible, not killable, not `TASK_NOLOAD`).
    pub hung_task_ms: Option<u64>,
}

impl Blocked {
    /// `blocked for 12.3 s, since uptime 48.7 s` (or what is known of it); `verb` replaces
    /// "blocked" (e.g. "sleeping").
    pub fn describe_as(&self, verb: &str) -> String {
        let s = |ns: u64| format!("{:.1} s", ns as f64 / 1e9);
        let mut out = match (self.since_last_arrival_ns, self.last_arrival_ns) {
            (Some(d), Some(at)) => format!("{verb} for {}, since uptime {}", s(d), s(at)),
            _ => format!("{verb} for an unknown time"),
        };
        if let Some(ms) = self.hung_task_ms {
            out.push_str(&format!(
                " (hung-task detector: no switch for >= {:.1} s)",
                ms as f64 / 1e3
            ));
        }
        out
    }
}

impl Task {
    /// How long the task has been off the CPU, in words that fit its state: "blocked" for
    /// `D`, "sleeping" for `S` and `I`, "stopped", or "off the CPU".
    pub fn describe_blocked(&self) -> Option<String> {
        let verb = match self.state_char {
            'D' => "blocked",
            'S' | 'I' => "sleeping",
            'T' | 't' => "stopped",
            _ => "off the CPU",
        };
        self.blocked.as_ref().map(|b| b.describe_as(verb))
    }
}

/// The clocks [`read_task`] compares against, read once.
#[derive(Debug, Clone, Copy, Default)]
pub struct Clocks {
    /// The latest `rq->clock` of any online CPU (ns since boot).
    pub now_ns: Option<u64>,
    pub jiffies: Option<u64>,
    pub hz: Option<u64>,
}

impl Clocks {
    pub fn read(k: &Kernel) -> Clocks {
        let now_ns = percpu::for_each_online_cpu(k)
            .ok()
            .and_then(|cpus| cpus.iter().filter_map(|&c| rq_clock(k, c).ok()).max());
        Clocks {
            now_ns,
            jiffies: jiffies(k).ok(),
            hz: hz(k, now_ns),
        }
    }
}

/// Serializes an address as `"0xffff..."`.
pub(crate) fn hex<S: serde::Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{v:#x}"))
}

/// Reads one task. `current` maps each CPU to its `rq->curr`.
pub fn read_task(
    k: &Kernel,
    l: &TaskLayout,
    clocks: &Clocks,
    current: &HashMap<u32, u64>,
    task: u64,
) -> Result<Task, ReadError> {
    let mem = k.mem();
    let state = if l.state.1 == 4 {
        mem.read_u32(task.wrapping_add(l.state.0))?
    } else {
        mem.read_u64(task.wrapping_add(l.state.0))? as u32
    };
    let exit_state = mem.read_u32(task.wrapping_add(l.exit_state))?;
    let pid = mem.read_u32(task.wrapping_add(l.pid))?;
    let tgid = mem.read_u32(task.wrapping_add(l.tgid))?;
    let parent = mem.read_u64(task.wrapping_add(l.real_parent))?;
    // getppid(): the real parent's tgid (crash shows `parent`, which differs only for the
    // idle tasks of secondary CPUs: their `parent` is a copy of kernel_init's).
    let ppid = if parent == task {
        tgid
    } else {
        mem.read_u32(parent.wrapping_add(l.tgid))?
    };
    let comm = mem.read_cstr(task.wrapping_add(l.comm), 16)?;
    let cpu = mem.read_u32(task.wrapping_add(l.cpu))?;
    let on_cpu = match l.on_cpu {
        Some(o) => mem.read_u32(task.wrapping_add(o))? != 0,
        None => false,
    };
    let flags = mem.read_u32(task.wrapping_add(l.flags))?;
    let stack = mem.read_u64(task.wrapping_add(l.stack))?;
    let mm = mem.read_u64(task.wrapping_add(l.mm))?;
    let thread_sp = mem.read_u64(task.wrapping_add(l.thread_sp))?;
    let is_current = current.get(&cpu) == Some(&task);
    let blocked = if is_current || state == TASK_RUNNING {
        None
    } else {
        let last_arrival_ns = l
            .last_arrival
            .and_then(|o| mem.read_u64(task.wrapping_add(o)).ok());
        let last_switch_time = l
            .last_switch_time
            .and_then(|o| mem.read_u64(task.wrapping_add(o)).ok());
        Some(Blocked {
            last_arrival_ns,
            since_last_arrival_ns: match (clocks.now_ns, last_arrival_ns) {
                (Some(now), Some(at)) if now >= at => Some(now - at),
                _ => None,
            },
            last_switch_time,
            // Only what the detector looks at: its timestamp is stale for other states.
            hung_task_ms: match (clocks.jiffies, last_switch_time, clocks.hz) {
                (Some(j), Some(t), Some(hz)) if t != 0 && j >= t && hung_task_candidate(state) => {
                    Some((j - t).saturating_mul(1000) / hz)
                }
                _ => None,
            },
        })
    };
    Ok(Task {
        task,
        pid,
        tgid,
        ppid,
        comm,
        state,
        exit_state,
        state_char: task_state_to_char(state, exit_state),
        ps_state: ps_state(state, exit_state),
        state_names: task_state_names(state, exit_state),
        flags,
        cpu,
        on_cpu,
        current: is_current,
        idle: flags & PF_IDLE != 0,
        mm,
        kernel_thread: mm == 0,
        stack,
        thread_sp,
        blocked,
    })
}

/// A task that was found (its address is known) but could not be read.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnreadableTask {
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
    /// Its pid, when the pid table names it.
    pub pid: Option<u32>,
    pub error: String,
}

/// Every task of the dump, as crash's `ps` lists them.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TaskList {
    /// Sorted by pid; the idle tasks (pid 0) by CPU.
    pub tasks: Vec<Task>,
    /// Tasks whose `task_struct` could not be read (e.g. filtered out of the dump).
    pub unreadable: Vec<UnreadableTask>,
    /// Each CPU's `rq->curr`, by CPU.
    pub cpu_curr: Vec<CpuCurr>,
    /// Clocks used for the blocked times.
    pub uptime_ns: Option<u64>,
    pub jiffies: Option<u64>,
    pub hz: Option<u64>,
    /// What went wrong while walking (broken lists, unreadable run queues).
    pub problems: Vec<String>,
}

impl TaskList {
    /// The tasks in uninterruptible sleep (`D`), by `task_struct` address, in list order:
    /// the tasks a hang is made of, and those the lock analysis starts from.
    pub fn blocked(&self) -> Vec<u64> {
        self.tasks
            .iter()
            .filter(|t| t.state_char == 'D')
            .map(|t| t.task)
            .collect()
    }
}

/// The task a CPU was running.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct CpuCurr {
    pub cpu: u32,
    #[serde(serialize_with = "hex")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub task: u64,
}

/// Finds and reads every task: [`for_each_task`] and the [`idle_tasks`] of every possible
/// CPU. A task that cannot be read is listed in [`TaskList::unreadable`]; the others still are.
pub fn all_tasks(k: &Kernel) -> Result<TaskList, ReadError> {
    let layout = TaskLayout::new(k)?;
    let clocks = Clocks::read(k);
    let (mut addrs, known_pid, mut problems) = discover_tasks(k)?;
    let mut current = HashMap::new();
    let mut cpu_curr_list = Vec::new();
    match idle_tasks(k) {
        Ok(idle) => {
            for (cpu, t) in idle {
                if !addrs.contains(&t) {
                    addrs.push(t);
                }
                match cpu_curr(k, cpu) {
                    Ok(c) => {
                        current.insert(cpu, c);
                        cpu_curr_list.push(CpuCurr { cpu, task: c });
                    }
                    Err(e) => problems.push(format!("cpu_curr({cpu}): {e}")),
                }
            }
        }
        Err(e) => problems.push(format!("idle tasks: {e}")),
    }
    let mut tasks = Vec::with_capacity(addrs.len());
    let mut unreadable = Vec::new();
    for t in addrs {
        match read_task(k, &layout, &clocks, &current, t) {
            Ok(task) => tasks.push(task),
            Err(e) => unreadable.push(UnreadableTask {
                task: t,
                pid: known_pid.get(&t).copied(),
                error: e.to_string(),
            }),
        }
    }
    tasks.sort_by_key(|t| (t.pid, t.cpu, t.task));
    unreadable.sort_by_key(|u| (u.pid.unwrap_or(u32::MAX), u.task));
    Ok(TaskList {
        tasks,
        unreadable,
        cpu_curr: cpu_curr_list,
        uptime_ns: clocks.now_ns,
        jiffies: clocks.jiffies,
        hz: clocks.hz,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_decode_like_the_kernel_and_crash() {
        let cases = [
            (TASK_RUNNING, 0, 'R', "RU"),
            (TASK_INTERRUPTIBLE, 0, 'S', "IN"),
            (TASK_UNINTERRUPTIBLE, 0, 'D', "UN"),
            (TASK_KILLABLE, 0, 'D', "UN"),
            (TASK_IDLE, 0, 'I', "ID"),
            (TASK_INTERRUPTIBLE | TASK_FREEZABLE, 0, 'S', "IN"),
            (__TASK_STOPPED | TASK_WAKEKILL, 0, 'T', "ST"),
            (__TASK_TRACED, 0, 't', "TR"),
            (TASK_DEAD, EXIT_ZOMBIE, 'Z', "ZO"),
            (TASK_DEAD, EXIT_DEAD, 'X', "DE"),
            (TASK_PARKED, 0, 'P', "PA"),
            (TASK_FROZEN | TASK_FREEZABLE, 0, 'D', "??"),
            (TASK_RTLOCK_WAIT, 0, 'D', "??"),
            (TASK_NEW, 0, 'R', "NE"),
        ];
        for (s, e, c, p) in cases {
            assert_eq!(task_state_to_char(s, e), c, "char of {s:#x}/{e:#x}");
            assert_eq!(ps_state(s, e), p, "crash state of {s:#x}/{e:#x}");
        }
        assert_eq!(task_state_names(TASK_KILLABLE, 0), ["TASK_KILLABLE"]);
        assert_eq!(task_state_names(TASK_IDLE, 0), ["TASK_IDLE"]);
        assert!(hung_task_candidate(TASK_UNINTERRUPTIBLE));
        assert!(!hung_task_candidate(TASK_KILLABLE));
        assert!(!hung_task_candidate(TASK_IDLE));
    }
}
