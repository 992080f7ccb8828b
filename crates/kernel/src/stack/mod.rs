//! Kernel stacks: unwinding a task's stack from the dump alone.
//!
//! - [`orc`]: the ORC tables of vmlinux and the modules, read from memory, both
//!   `struct orc_entry` layouts (6.1 and 6.4+).
//! - [`regs`]: the registers each CPU saved (NT_PRSTATUS in `crash_notes` or the dump's
//!   notes) and `struct pt_regs`.
//! - [`unwind`]: the unwinder ([`Unwinder::backtrace`]) and the `?` stack scan.

mod mem;
pub mod orc;
pub mod regs;
pub mod unwind;

pub use unwind::{Backtrace, Frame, FrameRegs, StackEnd, StackKind, Unwinder, Via};
