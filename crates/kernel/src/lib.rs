//! Kernel objects read from a vmcore, one module per kernel subsystem, with functions named
//! after the kernel's own so a kernel engineer knows where to look.
//!
//! - [`printk`]: the lockless printk ring buffer (`kernel/printk/printk_ringbuffer.c`).

pub mod printk;
