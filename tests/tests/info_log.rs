//! `holdup info` and `holdup log` on every committed dump agree with the guest's serial
//! console and with crash's `sys`.

use holdup_e2e::{all_dumps, crash_sys_field, fixture_text, holdup_ok, manifest};

/// The kernel lines of the first boot in a serial console log (before the capture kernel's
/// log restarts its clock), without the timestamps' surrounding whitespace.
fn first_kernel_console_lines(serial: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut last_ts = -1.0f64;
    for line in serial.lines() {
        let line = line.trim_end_matches('\r');
        let Some(rest) = line.strip_prefix('[') else {
            continue;
        };
        let Some(close) = rest.find("] ") else {
            continue;
        };
        let Ok(ts) = rest[..close].trim().parse::<f64>() else {
            continue;
        };
        if ts + 1.0 < last_ts {
            break; // the capture kernel boots: a new log
        }
        last_ts = ts;
        lines.push(line.to_string());
    }
    lines
}

/// `holdup log` as the console prints it: each line after the first of a record (indented
/// under its text, as dmesg prints it) with the record's `[ timestamp] ` prefix.
fn as_console(log: &str) -> Vec<String> {
    let mut prefix = String::new();
    log.lines()
        .map(|l| match l.find("] ") {
            Some(i) if l.starts_with('[') => {
                prefix = l[..i + 2].to_string();
                l.to_string()
            }
            _ => format!("{prefix}{}", l.get(prefix.len()..).unwrap_or("")),
        })
        .collect()
}

#[test]
fn log_holds_every_kernel_line_of_the_serial_console_in_order() {
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let log = holdup_ok(&["log", path.to_str().unwrap()]);
        let log_lines = as_console(&log);
        let console = first_kernel_console_lines(&fixture_text(fx, "serial.log"));
        assert!(
            console.len() > 100,
            "{}: only {} console lines",
            fx.name,
            console.len()
        );
        let mut at = 0;
        let mut missing = Vec::new();
        for want in &console {
            match log_lines[at..].iter().position(|l| l == want) {
                Some(i) => at += i + 1,
                None => missing.push(want.clone()),
            }
        }
        assert!(
            missing.is_empty(),
            "{} {}: {} of {} console lines missing from the log (or out of order), first: {:?}",
            fx.name,
            f.file,
            missing.len(),
            console.len(),
            &missing[..missing.len().min(3)]
        );
    }
}

#[test]
fn info_matches_crash_sys_and_the_manifest() {
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let json = holdup_ok(&["info", "--json", path.to_str().unwrap()]);
        let info: serde_json::Value = serde_json::from_str(&json).expect("info JSON");
        let sys = fixture_text(fx, "crash-sys.txt");
        let what = format!("{} {}", fx.name, f.file);
        assert_eq!(info["release"], fx.release.as_str(), "{what}: release");
        assert_eq!(
            info["release"],
            crash_sys_field(&sys, "RELEASE").as_str(),
            "{what}"
        );
        assert_eq!(
            info["version"],
            crash_sys_field(&sys, "VERSION").as_str(),
            "{what}"
        );
        let cpus: u64 = crash_sys_field(&sys, "CPUS").parse().expect("CPUS");
        assert_eq!(info["cpus"], cpus, "{what}: cpus");
        // crash's MEMORY counts the nodes' present pages, in MiB it calls MB.
        let ram = info["ram_bytes"].as_u64().expect("ram_bytes");
        assert_eq!(
            format!("{:.1} MB", ram as f64 / 1048576.0),
            crash_sys_field(&sys, "MEMORY"),
            "{what}: memory"
        );
        assert!(info["memory_bytes"].as_u64().expect("memory_bytes") < ram);
        let panic = crash_sys_field(&sys, "PANIC");
        let panic = panic
            .trim_matches('"')
            .trim_start_matches("Kernel panic - not syncing: ");
        assert_eq!(info["panic_message"], panic, "{what}: panic message");
        assert_eq!(
            info["panic_task"]["comm"], "khungtaskd",
            "{what}: the hung-task detector panicked"
        );
        assert!(
            info["symbols"]
                .as_str()
                .unwrap()
                .contains("kallsyms in the dump"),
            "{what}"
        );
        assert!(info["types"].as_str().unwrap().contains("BTF"), "{what}");
        let uptime = info["uptime_ns"].as_u64().expect("uptime");
        assert!(
            (10_000_000_000..600_000_000_000).contains(&uptime),
            "{what}: uptime {uptime}"
        );
        assert_eq!(
            info["dump_format"].as_str().unwrap().starts_with("ELF"),
            f.format.as_deref() == Some("elf"),
            "{what}: format {}",
            info["dump_format"]
        );
    }
}

/// `holdup info` looks up only the symbols it reads (`sysinfo::INFO_SYMBOLS`, by binary
/// search over kallsyms) instead of expanding the whole table: what it shows must be what
/// the whole table gives, field for field, on every dump.
#[test]
fn info_from_a_few_symbols_equals_info_from_the_whole_table() {
    use holdup_kernel::sysinfo::{INFO_SYMBOLS, kernel_log, system_info};
    use holdup_kernel::{Kernel, OpenOptions};
    let m = manifest();
    for (fx, f, path) in all_dumps(&m) {
        let what = format!("{} {}", fx.name, f.file);
        let open = |opts: OpenOptions| {
            let k = Kernel::open(&path, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
            let log = kernel_log(&k).ok();
            let mut info = serde_json::to_value(system_info(&k, log.as_ref())).expect("JSON");
            let symbols = info["symbols"].take();
            (info, symbols, k.load_module_types().summary())
        };
        let (whole, whole_source, whole_btf) = open(OpenOptions::default());
        let (few, few_source, few_btf) = open(OpenOptions {
            symbols_needed: Some(INFO_SYMBOLS),
            ..OpenOptions::default()
        });
        assert!(
            few_source.as_str().unwrap().contains("looked up by name"),
            "{what}: symbols were not looked up by name: {few_source}"
        );
        assert!(
            whole_source
                .as_str()
                .unwrap()
                .contains("kallsyms in the dump ("),
            "{what}: {whole_source}"
        );
        assert_eq!(few, whole, "{what}: info from a few symbols");
        assert_eq!(few_btf, whole_btf, "{what}: module BTF");
    }
}

/// `holdup log` prints what crash's `log` prints, line for line (timestamps, multi-line
/// records indented as dmesg indents them), on every dump of every fixture.
#[test]
fn log_equals_crash_log() {
    let m = manifest();
    let dumps = m.fixtures.iter().flat_map(|fx| {
        fx.files
            .iter()
            .filter(|f| f.role == "dump" || f.role == "dump-zst")
            .map(move |f| (fx, f, holdup_e2e::dump_path(fx, f)))
    });
    let mut checked = 0;
    for (fx, f, path) in dumps {
        let log = holdup_ok(&["log", path.to_str().unwrap()]);
        let crash = fixture_text(fx, "crash-log.txt");
        let (ours, theirs): (Vec<&str>, Vec<&str>) =
            (log.lines().collect(), crash.lines().collect());
        let first_diff = ours.iter().zip(&theirs).position(|(a, b)| a != b);
        assert!(
            first_diff.is_none() && ours.len() == theirs.len(),
            "{} {}: {} lines vs crash's {}; first difference at line {:?}: {:?} vs {:?}",
            fx.name,
            f.file,
            ours.len(),
            theirs.len(),
            first_diff.map(|i| i + 1),
            first_diff.map(|i| ours[i]),
            first_diff.map(|i| theirs[i]),
        );
        checked += 1;
    }
    assert!(checked >= 5, "only {checked} dumps compared");
}
