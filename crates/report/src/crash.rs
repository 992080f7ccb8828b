//! Beside crash: for each relation the report shows (a task waits for a lock, a task holds
//! one), the crash commands that show what it rests on, so that an engineer can check it in
//! the tool they already trust: the task's stack (`bt PID`), the lock's word (`struct mutex
//! 0x...`, `struct rw_semaphore 0x...`), the page (`kmem -p 0x...`), the wait list the task
//! is linked into (`list -H 0x... -l mutex_waiter.list -s mutex_waiter.task`, `waitq 0x...`).
//!
//! The list heads are the lock's address plus the member's offset in the dump's own types,
//! read once when the report is built ([`CrashLayout`]); a member the kernel does not have
//! (7.1's waiters are a ring from `first_waiter`, with no list head) gives no list command.

use holdup_analysis::Certainty;
use holdup_kernel::Kernel;
use std::collections::BTreeMap;

/// Member offsets and symbols the crash commands need, from the dump's types and symbols.
#[derive(Debug, Clone, Default)]
pub struct CrashLayout {
    /// `type.member` -> offset, for the members named in [`MEMBERS`] that the kernel has.
    offsets: BTreeMap<&'static str, u64>,
    /// Hashed wait tables (`folio_wait_table`, `page_wait_table`, `bit_wait_table`) ->
    /// address, and the size of one bucket (`struct wait_queue_head`).
    tables: BTreeMap<&'static str, u64>,
    bucket_size: Option<u64>,
}

/// The wait-list heads of the locks whose waiters are linked from the lock.
const MEMBERS: &[&str] = &[
    "rw_semaphore.wait_list",
    "mutex.wait_list",
    "semaphore.wait_list",
    "completion.wait",
    "swait_queue_head.task_list",
    "percpu_rw_semaphore.waiters",
];

const TABLES: &[&str] = &["folio_wait_table", "page_wait_table", "bit_wait_table"];

impl CrashLayout {
    /// Reads what the commands need from the dump; what is missing is left out.
    pub fn read(k: &Kernel) -> Self {
        let offsets = MEMBERS
            .iter()
            .filter_map(|&m| k.types.offsetof(m).ok().map(|o| (m, o)))
            .collect();
        let tables = TABLES
            .iter()
            .filter_map(|&t| k.symbol(t).ok().map(|a| (t, a)))
            .collect();
        CrashLayout {
            offsets,
            tables,
            bucket_size: k.types.sizeof("wait_queue_head").ok(),
        }
    }

    fn at(&self, lock: u64, member: &str) -> Option<u64> {
        self.offsets.get(member).map(|o| lock.wrapping_add(*o))
    }

    /// The bucket of a hashed wait table that evidence names (`folio_wait_table[42]`).
    fn bucket(&self, source: &str) -> Option<u64> {
        self.tables.iter().find_map(|(name, base)| {
            let rest = &source[source.find(&format!("{name}["))? + name.len() + 1..];
            let n: u64 = rest[..rest.find(']')?].parse().ok()?;
            Some(base.wrapping_add(n.wrapping_mul(self.bucket_size?)))
        })
    }
}

/// The crash command that shows a lock of kind `lock_type` at `lock` (`struct mutex 0x...`,
/// `kmem -p 0x...` for a page).
pub fn lock_command(lock_type: &str, lock: u64) -> String {
    let ty = match lock_type {
        "rwsem" => "rw_semaphore",
        "mutex" => "mutex",
        "semaphore" => "semaphore",
        "completion" => "completion",
        "rt_mutex" => "rt_mutex",
        "percpu_rwsem" => "percpu_rw_semaphore",
        "swait_queue" => "swait_queue_head",
        "page_lock" | "page_writeback" | "page_bit" => return format!("kmem -p {lock:#x}"),
        "wait_queue" => return format!("waitq {lock:#x}"),
        // A bit of a word (wait_bit) or a kind crash has no struct for: the word itself.
        _ => return format!("rd {lock:#x}"),
    };
    format!("struct {ty} {lock:#x}")
}

/// The crash commands that show one relation: `pid` (or `task`, a `task_struct` address)
/// waits for or holds the lock of `lock_type` at `lock`, as `certainty` says. First the
/// task's stack, then the lock, then, for a waiter linked into a wait list, the list.
pub fn commands(
    layout: &CrashLayout,
    pid: Option<u32>,
    task: u64,
    lock_type: &str,
    lock: u64,
    waiter: bool,
    certainty: &Certainty,
) -> Vec<String> {
    let mut out = Vec::new();
    match pid {
        Some(pid) => out.push(format!("bt {pid}")),
        None => out.push(format!("bt {task:#x}")),
    }
    out.push(lock_command(lock_type, lock));
    let Certainty::Fact { source } = certainty else {
        return out;
    };
    if !waiter {
        return out;
    }
    // The list the waiter is linked into, walked from its head, with each entry's task.
    let list = |member: &str, entry: &str| {
        layout
            .at(lock, member)
            .map(|head| format!("list -H {head:#x} -l {entry}.list -s {entry}.task"))
    };
    let walk = if source.contains("rw_semaphore.wait_list") {
        list("rw_semaphore.wait_list", "rwsem_waiter")
    } else if source.contains("mutex.wait_list") {
        list("mutex.wait_list", "mutex_waiter")
    } else if source.contains("semaphore.wait_list") {
        list("semaphore.wait_list", "semaphore_waiter")
    } else if source.contains("completion.wait.task_list") {
        match (
            layout.offsets.get("completion.wait"),
            layout.offsets.get("swait_queue_head.task_list"),
        ) {
            (Some(w), Some(t)) => Some(format!(
                "list -H {:#x} -l swait_queue.task_list -s swait_queue.task",
                lock.wrapping_add(*w).wrapping_add(*t)
            )),
            _ => None,
        }
    } else if source.contains("percpu_rw_semaphore.waiters") || source.contains("percpu_rwsem") {
        layout
            .at(lock, "percpu_rw_semaphore.waiters")
            .map(|q| format!("waitq {q:#x}"))
    } else if source.starts_with("task_struct.pi_blocked_on") {
        Some(format!("struct task_struct.pi_blocked_on {task:#x}"))
    } else {
        layout.bucket(source).map(|q| format!("waitq {q:#x}"))
    };
    out.extend(walk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_name_the_task_and_the_lock() {
        let mut layout = CrashLayout::default();
        layout.offsets.insert("rw_semaphore.wait_list", 0x18);
        layout.tables.insert("folio_wait_table", 0xffff_0000);
        layout.bucket_size = Some(0x18);
        let fact = Certainty::fact(
            "rwsem_waiter on the task's stack linked into rw_semaphore.wait_list (slow path x)",
        );
        assert_eq!(
            commands(&layout, Some(96), 0xa3, "rwsem", 0x1000, true, &fact),
            [
                "bt 96",
                "struct rw_semaphore 0x1000",
                "list -H 0x1018 -l rwsem_waiter.list -s rwsem_waiter.task"
            ]
        );
        let page =
            Certainty::fact("wait_page_queue on the task's stack linked into folio_wait_table[2]");
        assert_eq!(
            commands(&layout, Some(99), 0xa1, "page_lock", 0xf000, true, &page),
            ["bt 99", "kmem -p 0xf000", "waitq 0xffff0030"]
        );
        // A holder: its stack and the lock, no list.
        let guess = Certainty::inference(0.5, vec!["x".into()]);
        assert_eq!(
            commands(&layout, Some(99), 0xa1, "mutex", 0x2000, false, &guess),
            ["bt 99", "struct mutex 0x2000"]
        );
        // No wait_list member (7.1's first_waiter): no list command.
        let m = Certainty::fact("mutex_waiter on the task's stack linked into mutex.wait_list");
        assert_eq!(
            commands(&layout, None, 0xa2, "mutex", 0x3000, true, &m),
            ["bt 0xa2", "struct mutex 0x3000"]
        );
    }
}
