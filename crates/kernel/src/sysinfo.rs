//! What crash's `sys` shows: the kernel, the machine, and why and when it went down.

use crate::{Kernel, percpu, printk, sched};
use holdup_kmem::{KernelDump, KernelMemory, ReadError};
use serde::Serialize;

/// A summary of the system at the time of the dump.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SystemInfo {
    pub release: Option<String>,
    pub version: Option<String>,
    pub machine: Option<String>,
    pub nodename: Option<String>,
    /// CPUs online at the time of the dump.
    pub cpus: Option<u32>,
    /// RAM: the present pages of every memory node (`node_present_pages`) times the page
    /// size, as crash's `sys` counts its MEMORY.
    pub ram_bytes: Option<u64>,
    /// `_totalram_pages` times the page size: what the kernel manages (RAM less what it
    /// reserved at boot).
    pub memory_bytes: Option<u64>,
    /// Nanoseconds since boot: the most recent run-queue clock of any CPU.
    pub uptime_ns: Option<u64>,
    /// `CRASHTIME` from VMCOREINFO: seconds since the epoch.
    pub crash_time: Option<i64>,
    /// The `Kernel panic - not syncing:` message, from the log; without one, the first
    /// `Oops:` line (with `panic_on_oops`, `oops_end` kexecs the capture kernel before
    /// `panic()` logs anything), as crash's `sys` shows it.
    pub panic_message: Option<String>,
    /// `tainted_mask`: the kernel's taint flags, one bit each (`TAINT_*`).
    pub tainted_mask: Option<u64>,
    /// The letters of the set taint flags, as the kernel prints them after `Tainted:`
    /// without the padding (`OE`; `P` for a proprietary module); empty when untainted.
    pub taint: Option<String>,
    /// The kernel's names of the set taint flags (`OOT_MODULE`, `UNSIGNED_MODULE`).
    pub taint_names: Vec<String>,
    /// Tasks (threads, and each CPU's idle task), as crash's `sys` counts its TASKS: the
    /// process list, the pid table and the run queues' idle tasks.
    pub tasks: Option<u64>,
    /// `avenrun[]`, the 1, 5 and 15 minute load averages, rounded to hundredths as crash's
    /// `sys` and `/proc/loadavg` print them (`4.95`, `1.13`, `0.37`).
    pub load_average: Option<[String; 3]>,
    /// `panic_cpu`, and the task running there.
    pub panic_cpu: Option<u32>,
    pub panic_task: Option<TaskRef>,
    /// Page-table levels of the kernel: 5 when `NUMBER(pgtable_l5_enabled)` is 1, else 4.
    pub paging_levels: u32,
    pub dump_format: String,
    pub dump_level: Option<u32>,
    /// Page kinds the dump level leaves out.
    pub excluded: Vec<String>,
    pub symbols: String,
    pub types: String,
    /// What could not be read, and why.
    pub problems: Vec<String>,
}

/// A task named the way crash names it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TaskRef {
    pub pid: u32,
    pub comm: String,
    /// `struct task_struct *`, as a hexadecimal string.
    pub task: String,
}

/// The prefix the kernel's `panic()` logs its message with.
pub const PANIC_PREFIX: &str = "Kernel panic - not syncing: ";
/// The start of the line x86's `__die()` logs for an oops (`Oops: 0002 [#1] PREEMPT SMP`).
pub const OOPS_PREFIX: &str = "Oops: ";

/// Most memory nodes read (the kernel's `MAX_NUMNODES` is at most 1024).
const MAX_NODES: u32 = 1024;

/// Pages present in the memory nodes: each node's `node_present_pages`, the nodes from
/// `node_data[]` (NUMA kernels) or `contig_page_data`.
fn present_pages(k: &Kernel) -> Result<u64, ReadError> {
    let present = sched::offset_of(k, "pglist_data.node_present_pages")?;
    let nodes: Vec<u64> = match k.symbol("node_data") {
        Ok(array) => {
            let n = k.mem().read_u32(k.symbol("nr_node_ids")?)?.min(MAX_NODES);
            let mut nodes = Vec::new();
            for i in 0..u64::from(n) {
                let node = k.mem().read_u64(array + 8 * i)?;
                if node != 0 {
                    nodes.push(node);
                }
            }
            nodes
        }
        Err(_) => vec![k.symbol("contig_page_data")?],
    };
    nodes.iter().try_fold(0u64, |sum, &node| {
        Ok(sum.saturating_add(k.mem().read_u64(node.wrapping_add(present))?))
    })
}

/// Every symbol [`system_info`], [`kernel_log`] and the module BTF list
/// (`Kernel::load_module_types`) read: `holdup info` opens a dump looking up only these
/// ([`crate::OpenOptions::symbols_needed`]). A test compares what they give with what the
/// whole table gives on every fixture.
pub const INFO_SYMBOLS: &[&str] = &[
    "init_uts_ns",
    "nr_cpu_ids",
    "__cpu_online_mask",
    "__per_cpu_offset",
    "runqueues",
    "_totalram_pages",
    "node_data",
    "nr_node_ids",
    "contig_page_data",
    "panic_cpu",
    "prb",
    "modules",
    "btf_modules",
    "tainted_mask",
    "avenrun",
    "init_task",
    "init_pid_ns",
    "__cpu_possible_mask",
    // What opening the dump reads besides (the regions' bases, THREAD_SIZE).
    "vmalloc_base",
    "vmemmap_base",
    "__start_init_task",
    "__end_init_task",
    "__start_init_stack",
    "__end_init_stack",
];

/// The kernel's taint flags in bit order (`taint_flags[]` of kernel/panic.c): the letter
/// printed when set, and the name `Tainted: [O]=OOT_MODULE` uses. Bit 0 prints `G` when
/// clear; the others print a space.
pub const TAINT_FLAGS: &[(char, &str)] = &[
    ('P', "PROPRIETARY_MODULE"),
    ('F', "FORCED_MODULE"),
    ('S', "CPU_OUT_OF_SPEC"),
    ('R', "FORCED_RMMOD"),
    ('M', "MACHINE_CHECK"),
    ('B', "BAD_PAGE"),
    ('U', "USER"),
    ('D', "DIE"),
    ('A', "OVERRIDDEN_ACPI_TABLE"),
    ('W', "WARN"),
    ('C', "CRAP"),
    ('I', "FIRMWARE_WORKAROUND"),
    ('O', "OOT_MODULE"),
    ('E', "UNSIGNED_MODULE"),
    ('L', "SOFTLOCKUP"),
    ('K', "LIVEPATCH"),
    ('X', "AUX"),
    ('T', "RANDSTRUCT"),
    ('N', "TEST"),
    ('J', "FWCTL"),
];

/// The set flags of a `tainted_mask`: their letters (`OE`) and names; a bit the table does
/// not know (a newer kernel's) is `?` and `TAINT_BIT_N`.
pub fn decode_taint(mask: u64) -> (String, Vec<String>) {
    let mut letters = String::new();
    let mut names = Vec::new();
    for bit in 0..64 {
        if mask & (1 << bit) == 0 {
            continue;
        }
        match TAINT_FLAGS.get(bit) {
            Some(&(c, name)) => {
                letters.push(c);
                names.push(name.to_string());
            }
            None => {
                letters.push('?');
                names.push(format!("TAINT_BIT_{bit}"));
            }
        }
    }
    (letters, names)
}

/// `avenrun[i]` (fixed point, 11 fractional bits) as crash's `sys` prints it: rounded to
/// hundredths (`FIXED_1/200` added), `LOAD_INT.LOAD_FRAC`.
pub fn format_load(avenrun: u64) -> String {
    const FSHIFT: u32 = 11;
    const FIXED_1: u64 = 1 << FSHIFT;
    let a = avenrun.saturating_add(FIXED_1 / 200);
    let int = a >> FSHIFT;
    let frac = ((a & (FIXED_1 - 1)) * 100) >> FSHIFT;
    format!("{int}.{frac:02}")
}

/// Tasks as crash counts them: every task the process list and pid table give, and the
/// idle task of each CPU.
fn count_tasks(k: &Kernel) -> Result<u64, ReadError> {
    let (mut tasks, _) = sched::for_each_task(k)?;
    for (_, idle) in sched::idle_tasks(k)? {
        if !tasks.contains(&idle) {
            tasks.push(idle);
        }
    }
    Ok(tasks.len() as u64)
}

/// Gathers [`SystemInfo`]; each field that cannot be read is `None` and says why in
/// `problems`.
pub fn system_info(k: &Kernel, log: Option<&printk::Log>) -> SystemInfo {
    let mut info = system_info_but_task_count(k, log);
    info.tasks = note(&mut info.problems, "tasks", count_tasks(k));
    info
}

/// [`system_info`] without `tasks`, which walks every task: for a caller that lists the
/// tasks anyway (the report), or needs no count.
pub fn system_info_but_task_count(k: &Kernel, log: Option<&printk::Log>) -> SystemInfo {
    let mut problems = Vec::new();
    let uts = |field: u64| -> Result<String, ReadError> {
        let base = k.symbol("init_uts_ns")? + sched::offset_of(k, "uts_namespace.name")?;
        k.mem().read_cstr(base + field * 65, 65)
    };
    let release = note(&mut problems, "release", uts(2));
    let version = note(&mut problems, "version", uts(3));
    let machine = note(&mut problems, "machine", uts(4));
    let nodename = note(&mut problems, "nodename", uts(1));
    let online = note(&mut problems, "online CPUs", percpu::for_each_online_cpu(k));
    let cpus = online.as_ref().map(|c| c.len() as u32);
    let page_size = k.vmcoreinfo().page_size().ok().flatten().unwrap_or(4096);
    let memory_bytes = note(
        &mut problems,
        "memory",
        k.symbol("_totalram_pages")
            .and_then(|a| k.mem().read_u64(a))
            .map(|pages| pages.saturating_mul(page_size)),
    );
    let ram_bytes = note(
        &mut problems,
        "RAM",
        present_pages(k).map(|pages| pages.saturating_mul(page_size)),
    );
    let uptime_ns = online.as_ref().and_then(|cpus| {
        let clocks: Vec<u64> = cpus
            .iter()
            .filter_map(|&c| sched::rq_clock(k, c).ok())
            .collect();
        clocks.into_iter().max()
    });
    let tainted_mask = note(
        &mut problems,
        "tainted_mask",
        k.symbol("tainted_mask").and_then(|a| k.mem().read_u64(a)),
    );
    let (taint, taint_names) = match tainted_mask.map(decode_taint) {
        Some((letters, names)) => (Some(letters), names),
        None => (None, Vec::new()),
    };
    let load_average = note(
        &mut problems,
        "load average (avenrun)",
        k.symbol("avenrun").and_then(|a| {
            let m = k.mem();
            Ok([
                format_load(m.read_u64(a)?),
                format_load(m.read_u64(a + 8)?),
                format_load(m.read_u64(a + 16)?),
            ])
        }),
    );
    let panic_cpu = note(
        &mut problems,
        "panic_cpu",
        k.symbol("panic_cpu").and_then(|a| k.mem().read_u32(a)),
    )
    .filter(|&c| c != u32::MAX);
    let panic_task = panic_cpu.and_then(|cpu| {
        let task = sched::cpu_curr(k, cpu).ok()?;
        Some(TaskRef {
            pid: sched::task_pid(k, task).ok()?,
            comm: sched::task_comm(k, task).ok()?,
            task: format!("{task:#x}"),
        })
    });
    let panic_message = log.and_then(|log| {
        log.records
            .iter()
            .rev()
            .find_map(|r| {
                r.text
                    .find(PANIC_PREFIX)
                    .map(|i| r.text[i + PANIC_PREFIX.len()..].trim_end().to_string())
            })
            .or_else(|| {
                log.records.iter().find_map(|r| {
                    let t = r.text.trim_start();
                    t.starts_with(OOPS_PREFIX).then(|| t.trim_end().to_string())
                })
            })
    });
    let dump = &k.dump.dump;
    // What the dump file itself lacks (cut short, incomplete, malformed notes): every
    // finding that needed those pages is affected.
    problems.extend(dump.warnings().iter().map(|w| format!("dump file: {w}")));
    let level = dump.dump_level();
    SystemInfo {
        release,
        version,
        machine,
        nodename,
        cpus,
        ram_bytes,
        memory_bytes,
        uptime_ns,
        crash_time: k.vmcoreinfo().crash_time().ok().flatten(),
        panic_message,
        tainted_mask,
        taint,
        taint_names,
        tasks: None,
        load_average,
        panic_cpu,
        panic_task,
        paging_levels: if k.dump.mem.config().five_level { 5 } else { 4 },
        dump_format: dump.format_name(),
        dump_level: level.map(|l| l.0),
        excluded: level.map(|l| l.excluded()).unwrap_or_default(),
        symbols: k.symbols_source.clone(),
        types: k.types_source.clone(),
        problems,
    }
}

/// Reads the kernel log of a dump: the ring buffer `prb` points to.
pub fn kernel_log(k: &Kernel) -> Result<printk::Log, printk::PrintkError> {
    dump_log(&k.dump)
}

/// [`kernel_log`] on a dump opened for kernel-memory reads only: the ring buffer's address
/// and layout are all in VMCOREINFO, so the log needs neither symbols nor types (`holdup
/// log` opens no more than this).
pub fn dump_log(dump: &KernelDump) -> Result<printk::Log, printk::PrintkError> {
    let vi = &dump.vmcoreinfo;
    let layout = printk::PrintkLayout::from_vmcoreinfo(|key| vi.get(key).and_then(parse_int))?;
    let prb = vi
        .symbol("prb")
        .ok()
        .flatten()
        .ok_or_else(|| printk::PrintkError::MissingLayout("SYMBOL(prb)".into()))?;
    let rb = dump.mem.read_u64(prb)?;
    printk::read_log(&dump.mem, rb, &layout)
}

/// The value, or `None` with the reason kept in `problems`.
fn note<T>(problems: &mut Vec<String>, what: &str, r: Result<T, ReadError>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            problems.push(format!("{what}: {e}"));
            None
        }
    }
}

fn parse_int(s: &str) -> Option<i64> {
    s.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taint_letters_are_the_kernels() {
        assert_eq!(decode_taint(0), (String::new(), vec![]));
        // O (bit 12) and E (bit 13), as a Debian kernel with an unsigned external module.
        let (l, n) = decode_taint(0x3000);
        assert_eq!(l, "OE");
        assert_eq!(n, ["OOT_MODULE", "UNSIGNED_MODULE"]);
        assert_eq!(decode_taint(1 | 1 << 9).0, "PW");
        assert_eq!(decode_taint(1 << 40).0, "?");
    }

    #[test]
    fn load_is_rounded_as_crash_prints_it() {
        assert_eq!(format_load(0), "0.00");
        assert_eq!(format_load(2048), "1.00");
        assert_eq!(format_load(2048 * 4 + 1946), "4.95");
        // 0.005 rounds up: 10/2048 = 0.0049 + 0.0049 (FIXED_1/200 = 10).
        assert_eq!(format_load(10), "0.00");
        assert_eq!(format_load(11), "0.01");
    }
}
