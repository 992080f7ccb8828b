//! `holdup log DUMP`: the kernel log, as `dmesg` prints it.

use super::{Failure, print_json};
use crate::{DumpArgs, exit};
use holdup_kernel::KernelDump;
use holdup_kernel::sysinfo::dump_log;

/// Only the dump is opened: the log's address and layout come from VMCOREINFO, so no
/// symbols or types (nor `--vmlinux`) are needed, and none are loaded.
pub fn run(args: &DumpArgs) -> Result<(), Failure> {
    let path = args
        .dump
        .as_ref()
        .ok_or_else(|| Failure::new(exit::UNREADABLE, "no dump given"))?;
    super::check_not_compressed(path)?;
    let dump = KernelDump::open(path)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("{}: {e}", path.display())))?;
    let log = dump_log(&dump).map_err(|e| {
        Failure::new(
            exit::UNREADABLE,
            format!("{}: kernel log: {e}", path.display()),
        )
    })?;
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
