//! `holdup bt` of the tasks that were running on a CPU (crash's `bt -a`): unwound from the
//! registers each CPU saved in its NT_PRSTATUS note, the same functions in the same order
//! as crash, on the 6.1 and 6.12 hang fixtures and on the oops fixture (5-level paging).
//!
//! - The panicking CPU: crash shows the frames below the saved registers, from
//!   `machine_kexec` (which ran after `__crash_kexec` saved them) down; so does holdup
//!   (`Via::BelowRegisters`), and after an oops the page-fault exception frame and the
//!   faulting function's callers follow. Compared in full, with the stack slots.
//! - The other CPUs: the capture kernel's NMI stopped them, and `crash_nmi_callback` saved the
//!   registers of the interrupted context (`crash_save_cpu(regs, cpu)`). crash also shows the
//!   NMI handler's own frames on the NMI stack (`crash_nmi_callback`, `default_do_nmi`,
//!   `exc_nmi`, `end_repeat_nmi`, then the interrupted `[exception RIP: ...]` before
//!   `--- <NMI exception stack> ---`); holdup starts from the saved registers, which are the
//!   interrupted context, and does not walk the NMI stack. So they are compared from the
//!   interrupted context on: crash's first frame after the NMI-stack marker is holdup's
//!   frame #0.
//! - crash shows an `[exception RIP: f+off]` line where an exception frame interrupted `f`
//!   on the same stack; holdup shows `f` as a numbered frame with the registers. Both count
//!   as frames here.

use holdup_e2e::{Manifest, fixture_text, holdup_ok, manifest, parse_hex};
use serde_json::Value;

/// Base name of a function as holdup names it (`watchdog.cold` -> `watchdog`).
fn base(f: &str) -> String {
    f.split('.').next().unwrap_or(f).to_string()
}

/// The reliable frames of the one task of a `bt --json`: (slot, function).
fn holdup_frames(bt: &Value, what: &str) -> Vec<(u64, String)> {
    let tasks = bt["tasks"].as_array().expect("tasks");
    assert_eq!(tasks.len(), 1, "{what}: one task");
    let b = &tasks[0]["backtrace"];
    assert_eq!(
        b["end"]["kind"], "complete",
        "{what}: the unwinding ends at the bottom: {}",
        b["end"]
    );
    b["frames"]
        .as_array()
        .expect("frames")
        .iter()
        .filter(|f| f["reliable"] == true)
        .map(|f| {
            (
                parse_hex(f["sp"].as_str().expect("sp")),
                base(f["function"].as_str().unwrap_or("?")),
            )
        })
        .collect()
}

/// Checks every task of crash's `bt -a` of fixture `name` against `holdup bt` of that task.
fn check(m: &Manifest, name: &str) {
    let fx = m.fixture(name);
    let dump = fx
        .files_with_role("dump")
        .find(|f| f.format.as_deref() == Some("kdump-zlib"))
        .unwrap_or_else(|| panic!("fixture {name} has no kdump-zlib dump"));
    let path = fx.path(&dump.file);
    let path = path.to_str().unwrap();
    let crash = holdup_e2e::parse_crash_backtraces(&fixture_text(fx, "crash-bt-a.txt"));
    let info: Value = serde_json::from_str(&holdup_ok(&["info", "--json", path])).expect("info");
    let cpus = info["cpus"].as_u64().expect("cpus") as usize;
    assert_eq!(
        crash.len(),
        cpus,
        "{name}: crash bt -a shows one task per CPU"
    );
    let panic_cpu = info["panic_cpu"].as_u64().expect("panic_cpu") as u32;
    for c in &crash {
        let what = format!("{name}: CPU {} {} (pid {})", c.cpu, c.comm, c.pid);
        let bt: Value = serde_json::from_str(&holdup_ok(&[
            "bt",
            "--json",
            path,
            &format!("{:#x}", c.task),
        ]))
        .expect("bt JSON");
        let ours = holdup_frames(&bt, &what);
        let t = &bt["tasks"][0]["task"];
        assert_eq!(t["pid"].as_u64(), Some(u64::from(c.pid)), "{what}: pid");
        assert_eq!(t["cpu"].as_u64(), Some(u64::from(c.cpu)), "{what}: cpu");
        assert_eq!(t["current"], true, "{what}: running on its CPU");
        assert!(
            bt["tasks"][0]["backtrace"]["start"]
                .as_str()
                .unwrap()
                .contains(&format!("registers of CPU {}", c.cpu)),
            "{what}: starts from the CPU's saved registers: {}",
            bt["tasks"][0]["backtrace"]["start"]
        );
        let ours_names: Vec<&str> = ours.iter().map(|(_, n)| n.as_str()).collect();
        if c.cpu == panic_cpu {
            assert_eq!(
                c.nmi_frames, 0,
                "{what}: the panic CPU was not stopped by an NMI"
            );
            let want: Vec<&str> = c.frames.iter().map(|f| f.function.as_str()).collect();
            assert_eq!(
                ours_names, want,
                "{what}: the panic task's frames differ from crash's bt -a"
            );
            assert_eq!(
                ours_names.first().copied(),
                Some("machine_kexec"),
                "{what}: the frames below the saved registers"
            );
            // Same slots for crash's numbered frames (an exception-RIP line has none).
            for (f, (sp, n)) in c.frames.iter().zip(&ours) {
                if let Some(slot) = f.slot {
                    assert_eq!(*sp, slot, "{what}: slot of {n}");
                }
            }
        } else {
            assert!(
                c.nmi_frames > 0,
                "{what}: crash shows no NMI stack for a CPU the capture kernel's NMI stopped"
            );
            let want: Vec<&str> = c.frames[c.nmi_frames..]
                .iter()
                .map(|f| f.function.as_str())
                .collect();
            assert_eq!(
                ours_names, want,
                "{what}: frames from the interrupted context on differ from crash's bt -a"
            );
            // crash's last NMI-stack line is the interrupted RIP, holdup's frame #0.
            assert_eq!(
                c.frames[c.nmi_frames - 1].function,
                want[0],
                "{what}: the NMI interrupted the function holdup starts in"
            );
        }
    }
}

#[test]
fn bt_of_the_tasks_on_cpus_matches_crash_bt_a_on_6_1() {
    check(&manifest(), "6.1");
}

#[test]
fn bt_of_the_tasks_on_cpus_matches_crash_bt_a_on_6_12() {
    check(&manifest(), "6.12");
}

#[test]
fn bt_of_the_tasks_on_cpus_matches_crash_bt_a_on_the_oops_dump() {
    check(&manifest(), "6.1-oops-la57");
}
