//! A dump opened with its VMCOREINFO parsed and kernel memory ready to read.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

use holdup_dump::{Dump, DumpError, FormatKind, OpenOptions, PhysicalMemory};
use holdup_vmcoreinfo::VmcoreInfo;

use crate::x86_64::{ConfigError, X86_64Memory};
use crate::{KernelMemory, ReadError};

/// The missing note's message: the damage found while reading the notes is the likelier
/// cause when there is any; else how QEMU dumps come to lack it.
fn no_vmcoreinfo_message(warnings: &[String]) -> String {
    if warnings.is_empty() {
        "the dump has no VMCOREINFO note (a QEMU dump needs the guest's -device vmcoreinfo and the qemu_fw_cfg module)".into()
    } else {
        format!(
            "the dump has no readable VMCOREINFO note: {}",
            warnings
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        )
    }
}

/// Why a dump could not be opened for kernel-memory reads.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    /// No VMCOREINFO note; what went wrong while reading the notes, when anything did.
    #[error("{}", no_vmcoreinfo_message(.0))]
    NoVmcoreinfo(Vec<String>),
    #[error("cannot set up address translation: {0}")]
    Config(#[from] ConfigError),
}

/// An opened dump: physical memory, VMCOREINFO, and kernel virtual memory over them.
pub struct KernelDump {
    pub dump: Arc<Dump>,
    pub vmcoreinfo: VmcoreInfo,
    /// Kernel virtual memory over the dump's physical memory (or over a view of it, see
    /// [`KernelDump::with_phys`]).
    pub mem: X86_64Memory<Arc<dyn PhysicalMemory>>,
    /// Where the direct-map base came from, if it was found while opening.
    pub direct_map_source: Option<&'static str>,
}

impl KernelDump {
    /// Opens `path` (any supported format).
    pub fn open(path: impl AsRef<Path>) -> Result<KernelDump, OpenError> {
        Self::from_dump(Dump::open(path)?)
    }

    /// Opens `path` with explicit [`OpenOptions`] (cache size, ELF zero-fill).
    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<KernelDump, OpenError> {
        Self::from_dump(Dump::open_with(path, opts)?)
    }

    /// Sets up kernel memory over an opened dump.
    ///
    /// The direct-map base is taken from the ELF program headers when a page-table walk
    /// confirms it, else found by probing the page tables; the symbols layer may later
    /// override it with `page_offset_base` from kallsyms.
    pub fn from_dump(dump: Dump) -> Result<KernelDump, OpenError> {
        let dump = Arc::new(dump);
        let phys: Arc<dyn PhysicalMemory> = dump.clone();
        Self::with_phys(dump, phys)
    }

    /// Sets up kernel memory over `phys`, a view of `dump`'s physical memory (tests and
    /// fuzzing overlay modified pages on a real dump this way); headers, notes and
    /// VMCOREINFO still come from `dump`.
    pub fn with_phys(
        dump: Arc<Dump>,
        phys: Arc<dyn PhysicalMemory>,
    ) -> Result<KernelDump, OpenError> {
        let raw = dump
            .vmcoreinfo_raw()
            .ok_or_else(|| OpenError::NoVmcoreinfo(dump.warnings().to_vec()))?;
        let vmcoreinfo = VmcoreInfo::parse_bytes(raw);
        let mem = X86_64Memory::from_vmcoreinfo(phys, &vmcoreinfo)?;
        let mut direct_map_source = None;
        let hint = dump.elf_info().and_then(|e| e.direct_map_hint);
        if let Some(h) = hint
            && mem.walk(h).1.is_ok_and(|t| t.paddr == 0)
        {
            mem.set_direct_map_base(h);
            direct_map_source = Some("ELF program headers, confirmed by the page tables");
        } else if let Some(b) = mem.probe_direct_map_base() {
            mem.set_direct_map_base(b);
            direct_map_source =
                Some("page-table probe (lowest 1 GiB-aligned mapping of physical 0)");
        }
        Ok(KernelDump {
            dump,
            vmcoreinfo,
            mem,
            direct_map_source,
        })
    }

    /// `init_uts_ns.name.release`, read from kernel memory.
    pub fn uts_release(&self) -> Result<String, ReadError> {
        let base = self
            .vmcoreinfo
            .symbol("init_uts_ns")
            .ok()
            .flatten()
            .ok_or_else(|| ReadError::Corrupt {
                vaddr: 0,
                detail: "VMCOREINFO has no usable SYMBOL(init_uts_ns)".into(),
            })?;
        // `name` is at offset 0 in 6.x (VMCOREINFO says so); 5.10 has a kref first.
        let name = self
            .vmcoreinfo
            .offset("uts_namespace.name")
            .ok()
            .flatten()
            .unwrap_or(4);
        // struct new_utsname { sysname[65], nodename[65], release[65], ... }
        self.mem
            .read_cstr(base.wrapping_add(name).wrapping_add(2 * 65), 65)
    }

    /// A few lines describing the dump (what `holdup info` prints).
    pub fn summary(&self) -> String {
        let d = &self.dump;
        let mut s = String::new();
        let _ = writeln!(s, "format:        {}", d.format_name());
        match &d.format().kind {
            FormatKind::Kdump(h) => {
                let _ = writeln!(s, "dump level:    {}", h.dump_level);
                let _ = writeln!(
                    s,
                    "kdump header:  version {}, block size {}, max pfn {:#x}, {} pages dumped{}",
                    h.header_version,
                    h.block_size,
                    h.max_mapnr,
                    h.dumped_pages,
                    if h.incomplete { ", INCOMPLETE" } else { "" }
                );
                if !h.utsname.release.is_empty() {
                    let _ = writeln!(
                        s,
                        "utsname:       {} {} {}",
                        h.utsname.sysname, h.utsname.release, h.utsname.machine
                    );
                }
                if let Some(c) = d.panic_cpu_hint() {
                    let _ = writeln!(s, "panic cpu:     {c} (kdump header)");
                }
            }
            FormatKind::Elf(e) => {
                let _ = writeln!(
                    s,
                    "dump level:    {}",
                    if e.filtered {
                        "filtered (not recorded in ELF)"
                    } else {
                        "none (all pages)"
                    }
                );
                let _ = writeln!(s, "segments:      {} PT_LOAD", e.segments.len());
            }
        }
        let pr = d.prstatus();
        let pids: Vec<String> = pr.iter().map(|p| p.pid.to_string()).collect();
        let _ = writeln!(
            s,
            "cpu notes:     {} NT_PRSTATUS (pids {}){}",
            pr.len(),
            pids.join(", "),
            if d.qemu_cpus().is_empty() {
                String::new()
            } else {
                format!(", {} QEMU CPU states", d.qemu_cpus().len())
            }
        );
        let _ = writeln!(
            s,
            "osrelease:     {}",
            self.vmcoreinfo.osrelease().unwrap_or("?")
        );
        let _ = writeln!(
            s,
            "crashtime:     {}",
            match self.vmcoreinfo.crash_time() {
                Ok(Some(t)) => t.to_string(),
                _ => "none (not a kdump-made dump?)".into(),
            }
        );
        let cfg = self.mem.config();
        let _ = writeln!(
            s,
            "paging:        {}-level, phys_base {:#x}, kernel offset {}",
            if cfg.five_level { 5 } else { 4 },
            cfg.phys_base,
            match self.vmcoreinfo.kernel_offset() {
                Ok(Some(o)) => format!("{o:#x}"),
                _ => "?".into(),
            }
        );
        let _ = writeln!(
            s,
            "direct map:    {}",
            match (self.mem.direct_map_base(), self.direct_map_source) {
                (Some(b), Some(src)) => format!("{b:#x} ({src})"),
                (Some(b), None) => format!("{b:#x}"),
                (None, _) => "unknown".into(),
            }
        );
        let _ = writeln!(
            s,
            "uts release:   {}",
            match self.uts_release() {
                Ok(r) => r,
                Err(e) => format!("unreadable: {e}"),
            }
        );
        for w in d.warnings() {
            let _ = writeln!(s, "warning:       {w}");
        }
        s
    }
}

impl KernelMemory for KernelDump {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        self.mem.read(vaddr, buf)
    }
    fn kernel_space_start(&self) -> u64 {
        self.mem.kernel_space_start()
    }
}
