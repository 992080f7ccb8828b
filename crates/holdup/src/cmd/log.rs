//! `holdup log DUMP`: the kernel log, as `dmesg` prints it.

use super::{Failure, open, print_json};
use crate::{DumpArgs, exit};
use holdup_kernel::sysinfo::kernel_log;

pub fn run(args: &DumpArgs) -> Result<(), Failure> {
    let kernel = open(args)?;
    let log = kernel_log(&kernel).map_err(|e| Failure::new(exit::UNREADABLE, e.to_string()))?;
    if args.json {
        return print_json(&log);
    }
    let mut out = String::new();
    for r in &log.records {
        out.push_str(&r.to_dmesg_line());
        out.push('\n');
    }
    print!("{out}");
    for s in &log.skipped {
        super::note("log", format_args!("skipped {s}"));
    }
    Ok(())
}
