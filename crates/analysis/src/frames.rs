//! Names of the functions on a blocked task's stack: which are the scheduler, which the
//! locking API and its slow paths, which the entry code every stack ends in, and one name for
//! a function across kernel builds. Shared by the report (the frame a person acts on, the
//! first caller outside the locking and scheduling code) and triage's signatures, so that
//! both skip the same frames.

use holdup_kernel::locking::waits::slowpath_kind;

/// Frames that only say "this task sleeps".
pub const SCHEDULER: &[&str] = &[
    "__schedule",
    "schedule",
    "schedule_preempt_disabled",
    "schedule_timeout",
    "schedule_timeout_uninterruptible",
    "schedule_timeout_interruptible",
    "schedule_timeout_killable",
    "io_schedule",
    "io_schedule_timeout",
    "schedule_hrtimeout",
    "schedule_hrtimeout_range",
    "schedule_hrtimeout_range_clock",
    "__switch_to_asm",
    "__switch_to",
    "rt_mutex_schedule",
];

/// The locking and sleeping API between a slow path and the code that called it: inlined or
/// not depending on the build, and the same for every caller.
pub const PLUMBING: &[&str] = &[
    "down",
    "down_interruptible",
    "down_killable",
    "down_timeout",
    "down_read",
    "down_read_killable",
    "down_read_interruptible",
    "down_read_nested",
    "down_write",
    "down_write_killable",
    "down_write_nested",
    "__down_read",
    "__down_write",
    "__down_read_common",
    "__down_write_common",
    "mmap_read_lock",
    "mmap_read_lock_killable",
    "mmap_write_lock",
    "mmap_write_lock_killable",
    "mutex_lock",
    "mutex_lock_nested",
    "mutex_lock_io",
    "mutex_lock_interruptible",
    "mutex_lock_killable",
    "__mutex_lock_slowpath",
    "__mutex_lock_interruptible_slowpath",
    "__mutex_lock_killable_slowpath",
    "folio_lock",
    "folio_lock_killable",
    "__folio_lock",
    "__folio_lock_killable",
    "lock_page",
    "__lock_page",
    "__lock_page_killable",
    "folio_wait_bit",
    "folio_wait_bit_killable",
    "folio_wait_locked",
    "folio_wait_writeback",
    "wait_on_page_bit",
    "wait_on_page_locked",
    "wait_on_page_writeback",
    "wait_for_completion",
    "wait_for_completion_io",
    "wait_for_completion_timeout",
    "wait_for_completion_io_timeout",
    "wait_for_completion_interruptible",
    "wait_for_completion_interruptible_timeout",
    "wait_for_completion_killable",
    "wait_for_completion_killable_timeout",
    "wait_for_completion_state",
    "msleep",
    "msleep_interruptible",
    "ssleep",
    "usleep_range_state",
];

/// Where every stack ends: thread and system-call entry. Nothing past them is the caller.
pub const ENTRY: &[&str] = &[
    "kthread",
    "ret_from_fork",
    "ret_from_fork_asm",
    "entry_SYSCALL_64",
    "entry_SYSCALL_64_after_hwframe",
    "entry_SYSCALL_64_safe_stack",
    "do_syscall_64",
    "x64_sys_call",
    "do_fast_syscall_32",
    "do_int80_syscall_32",
    "entry_INT80_compat",
    "worker_thread",
    "process_one_work",
    "process_scheduled_works",
    "smpboot_thread_fn",
];

/// Slow paths that were renamed between kernel versions, under their current name.
const RENAMED: &[(&str, &str)] = &[
    ("wait_on_page_bit_common", "folio_wait_bit_common"),
    ("rwsem_down_read_failed", "rwsem_down_read_slowpath"),
    ("rwsem_down_write_failed", "rwsem_down_write_slowpath"),
    ("__mutex_lock_common", "__mutex_lock"),
    ("wait_for_common", "__wait_for_common"),
    ("wait_for_common_io", "__wait_for_common"),
    ("__down", "__down_common"),
    ("__down_interruptible", "__down_common"),
    ("__down_killable", "__down_common"),
    ("__down_timeout", "__down_common"),
];

/// The system-call wrappers' prefixes (`__x64_sys_mincore`, `__do_sys_mincore`, ...).
const SYSCALL_PREFIXES: &[&str] = &[
    "__x64_sys_",
    "__ia32_sys_",
    "__x64_compat_sys_",
    "__ia32_compat_sys_",
    "__se_sys_",
    "__do_sys_",
    "__do_compat_sys_",
    "ksys_",
];

/// A function's name without compiler suffixes, under one name across kernel versions.
pub fn canonical_function(name: &str) -> String {
    let base = name.split('.').next().unwrap_or(name);
    if let Some(&(_, new)) = RENAMED.iter().find(|(old, _)| *old == base) {
        return new.to_string();
    }
    for p in SYSCALL_PREFIXES {
        if let Some(rest) = base.strip_prefix(p)
            && !rest.is_empty()
        {
            return format!("sys_{rest}");
        }
    }
    base.to_string()
}

/// Whether a function is locking or scheduling code, between a sleep and who took the lock.
pub fn locking_code(canonical: &str) -> bool {
    SCHEDULER.contains(&canonical)
        || PLUMBING.contains(&canonical)
        || slowpath_kind(canonical).is_some()
}

/// Waiting APIs of the kernel's own subsystems (freeze protection, work flushing, waiting for
/// I/O and writeback): like the locking API, what called them is the frame to act on. Kept
/// out of [`PLUMBING`] so that triage's signatures, which use it, stay what they were.
const WAIT_API: &[&str] = &[
    "percpu_rwsem_wait",
    "percpu_down_read",
    "__percpu_down_read",
    "percpu_down_write",
    "__sb_start_write",
    "sb_start_write",
    "sb_start_pagefault",
    "sb_start_intwrite",
    "mnt_want_write",
    "mnt_want_write_file",
    "flush_work",
    "__flush_work",
    "flush_workqueue",
    "__flush_workqueue",
    "submit_bio_wait",
    "filemap_fdatawait",
    "filemap_fdatawait_range",
    "__filemap_fdatawait_range",
    "filemap_fdatawait_keep_errors",
    "filemap_fdatawait_range_keep_errors",
    "filemap_write_and_wait_range",
    "file_write_and_wait_range",
];

/// A frame of a backtrace, as [`caller_frame`] reads it.
#[derive(Debug, Clone, Copy)]
pub struct FrameRef<'a> {
    pub function: &'a str,
    pub offset: Option<u64>,
    pub module: Option<&'a str>,
}

/// The frame a person acts on: the first caller (innermost first) outside the scheduler,
/// the locking API and the lock slow paths, as `function+0xoff [module]`
/// (`kscand_fn+0x1c6 [hangmod]`, `__do_sys_mincore+0x178`): the code that took the lock or
/// chose to sleep. `None` when every frame before the entry code is locking or scheduling
/// code (a stack cut short, or a kthread that sleeps in its own loop).
pub fn caller_frame(frames: &[FrameRef<'_>]) -> Option<String> {
    let f = frames
        .iter()
        .take_while(|f| !ENTRY.contains(&canonical_function(f.function).as_str()))
        .find(|f| {
            let c = canonical_function(f.function);
            !locking_code(&c) && !WAIT_API.contains(&c.as_str())
        })?;
    let mut s = f.function.to_string();
    if let Some(off) = f.offset {
        s.push_str(&format!("+{off:#x}"));
    }
    if let Some(m) = f.module {
        s.push_str(&format!(" [{m}]"));
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(
        function: &'static str,
        offset: u64,
        module: Option<&'static str>,
    ) -> FrameRef<'static> {
        FrameRef {
            function,
            offset: Some(offset),
            module,
        }
    }

    #[test]
    fn the_caller_is_past_the_locking_and_scheduling_code() {
        let kscand = [
            frame("__schedule", 0x34d, None),
            frame("schedule", 0x5a, None),
            frame("io_schedule", 0x42, None),
            frame("folio_wait_bit_common", 0x13d, None),
            frame("__folio_lock", 0x17, None),
            frame("kscand_fn", 0x1c6, Some("hangmod")),
            frame("kthread", 0xda, None),
        ];
        assert_eq!(
            caller_frame(&kscand).as_deref(),
            Some("kscand_fn+0x1c6 [hangmod]")
        );
        let bench = [
            frame("schedule_preempt_disabled", 0x11, None),
            frame("rwsem_down_read_slowpath", 0x2a2, None),
            frame("down_read", 0x44, None),
            frame("__do_sys_mincore", 0x178, None),
            frame("do_syscall_64", 0x5d, None),
        ];
        assert_eq!(
            caller_frame(&bench).as_deref(),
            Some("__do_sys_mincore+0x178")
        );
        // Nothing but the scheduler before the entry code: no caller to name.
        let idle = [frame("schedule", 0x5a, None), frame("kthread", 0xda, None)];
        assert_eq!(caller_frame(&idle), None);
    }
}
