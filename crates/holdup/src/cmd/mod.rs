//! One module per subcommand.

pub mod bt;
pub mod info;
pub mod locks;
pub mod log;
pub mod page;
pub mod ps;
pub mod report;

use crate::{DumpArgs, exit};
use holdup_kernel::{Kernel, OpenOptions};

/// A command that failed: the exit status and a one-line message for a person.
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn new(status: u8, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// Opens the dump named on the command line.
pub fn open(args: &DumpArgs) -> Result<Kernel, Failure> {
    let path = args
        .dump
        .as_ref()
        .ok_or_else(|| Failure::new(exit::UNREADABLE, "no dump given"))?;
    let opts = OpenOptions {
        vmlinux: args.vmlinux.clone(),
    };
    let kernel =
        Kernel::open(path, &opts).map_err(|e| Failure::new(exit::UNREADABLE, e.to_string()))?;
    for w in &kernel.warnings {
        ::log::warn!("{w}");
    }
    Ok(kernel)
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
