//! Kernel objects read from a vmcore, one module per kernel subsystem, with functions named
//! after the kernel's own so a kernel engineer knows where to look.
//!
//! - [`Kernel`] (in [`open`]): an opened dump with its memory, symbols and types.
//! - [`btf_modules`]: loaded modules' BTF (`kernel/bpf/btf.c`), added to the types on demand.
//! - [`printk`]: the lockless printk ring buffer (`kernel/printk/printk_ringbuffer.c`).
//! - [`list`]: bounded, cycle-checked `list_for_each_entry`.
//! - [`percpu`]: per-CPU variables and CPU masks.
//! - [`sched`]: tasks and run queues.
//! - [`stack`]: kernel stacks (ORC unwinding, saved CPU registers).
//! - [`sysinfo`]: what crash's `sys` shows.

pub mod blk_mq;
pub mod block;
pub mod btf_modules;
pub mod build_cache;
pub mod fs;
pub mod list;
pub mod locking;
pub mod mm;
pub mod open;
pub mod percpu;
pub mod printk;
pub mod rbtree;
pub mod sched;
pub mod stack;
pub mod sysinfo;
mod vmlinux_match;
pub mod workqueue;

pub use build_cache::BuildCache;
pub use holdup_dump::file_faults_total;
pub use holdup_kmem::KernelDump;
pub use open::{Kernel, OpenError, OpenOptions};
