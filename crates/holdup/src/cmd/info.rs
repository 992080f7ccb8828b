//! `holdup info DUMP`: the kernel, the machine, the panic and the dump, like crash's `sys`.

use super::{Failure, open_for_info, print_json};
use crate::DumpArgs;
use holdup_kernel::sysinfo::{kernel_log, system_info};

pub fn run(args: &DumpArgs) -> Result<(), Failure> {
    let kernel = open_for_info(args)?;
    let log = kernel_log(&kernel).ok();
    let info = system_info(&kernel, log.as_ref());
    if args.json {
        return print_json(&info);
    }
    let or_unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unreadable)".into());
    let rows: Vec<(&str, String)> = vec![
        ("KERNEL", or_unknown(&info.release)),
        ("VERSION", or_unknown(&info.version)),
        ("MACHINE", or_unknown(&info.machine)),
        ("NODENAME", or_unknown(&info.nodename)),
        (
            "CPUS",
            info.cpus.map_or("(unreadable)".into(), |c| c.to_string()),
        ),
        (
            "MEMORY",
            match (info.ram_bytes, info.memory_bytes) {
                (Some(ram), Some(managed)) => format!(
                    "{:.1} MiB ({:.1} MiB managed by the kernel)",
                    mib(ram),
                    mib(managed)
                ),
                (Some(ram), None) => format!("{:.1} MiB", mib(ram)),
                (None, Some(managed)) => {
                    format!("{:.1} MiB managed by the kernel", mib(managed))
                }
                (None, None) => "(unreadable)".into(),
            },
        ),
        (
            "TASKS",
            info.tasks.map_or("(unreadable)".into(), |n| n.to_string()),
        ),
        (
            "LOAD AVERAGE",
            info.load_average
                .as_ref()
                .map_or("(unreadable)".into(), |l| l.join(", ")),
        ),
        (
            "TAINTED",
            match (&info.taint, info.tainted_mask) {
                (Some(t), _) if t.is_empty() => "no (tainted_mask 0)".into(),
                (Some(t), Some(mask)) => {
                    format!(
                        "{t} ({}; tainted_mask {mask:#x})",
                        info.taint_names.join(", ")
                    )
                }
                _ => "(unreadable)".into(),
            },
        ),
        (
            "UPTIME",
            info.uptime_ns.map_or("(unreadable)".into(), format_uptime),
        ),
        (
            "DATE",
            info.crash_time.map_or("(not recorded)".into(), format_utc),
        ),
        (
            "PANIC",
            info.panic_message
                .clone()
                .map_or("(none logged)".into(), |m| format!("\"{m}\"")),
        ),
        (
            "PANIC CPU",
            match (&info.panic_cpu, &info.panic_task) {
                (Some(cpu), Some(t)) => {
                    format!("{cpu} (pid {} \"{}\", task {})", t.pid, t.comm, t.task)
                }
                (Some(cpu), None) => cpu.to_string(),
                _ => "(none)".into(),
            },
        ),
        ("PAGING", format!("{}-level", info.paging_levels)),
        ("DUMP", info.dump_format.clone()),
        (
            "DUMP LEVEL",
            info.dump_level.map_or("(not filtered)".into(), |l| {
                if info.excluded.is_empty() {
                    l.to_string()
                } else {
                    format!("{l} (excludes {} pages)", info.excluded.join(", "))
                }
            }),
        ),
        ("SYMBOLS", info.symbols.clone()),
        ("TYPES", info.types.clone()),
        // Module BTF is loaded here on demand (btf_modules: a few small reads).
        ("MODULE BTF", kernel.load_module_types().summary()),
    ];
    for (k, v) in rows {
        println!("{k:>12}: {v}");
    }
    for p in &info.problems {
        super::note("info", p);
    }
    let modules = kernel.load_module_types();
    for m in &modules.modules {
        if let holdup_kernel::btf_modules::ModuleTypesState::Failed(why) = &m.state {
            super::note("info", format!("module {} BTF: {why}", m.name));
        }
    }
    if let Some(e) = &modules.error {
        super::note("info", format!("module BTF: {e}"));
    }
    Ok(())
}

/// `days, hh:mm:ss` like crash, with the seconds' fraction.
fn format_uptime(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let frac = ns % 1_000_000_000 / 1_000_000;
    if d > 0 {
        format!("{d} days, {h:02}:{m:02}:{s:02}.{frac:03}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{frac:03}")
    }
}

/// Seconds since the epoch as `2026-11-24 19:51:46 UTC` (the proleptic Gregorian calendar).
fn format_utc(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86400), t.rem_euclid(86400));
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(super::format_utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::format_utc(1_795_549_906), "2026-11-24 19:51:46 UTC");
        assert_eq!(super::format_utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
