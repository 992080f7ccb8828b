//! The 6.1 fixture with modified pages, for the targets and tests that corrupt kernel data.
//!
//! The dump (17 MB) is opened once per process ([`base_dump`]); a [`Patched`] kernel reads it
//! through an [`Overlay`] that replaces chosen physical pages, so each input or corruption
//! costs only the pages it changes. Symbols and types are read once from the clean dump and
//! kept (the `kallsyms` and `btf` targets fuzz those); everything read after that — tasks,
//! stacks, locks, pages, the log — goes through the overlay.
//!
//! [`Interest`] lists where the kernel data worth corrupting lives (task list pointers, task
//! fields, live stack words, lock wait lists and waiter records, struct pages, the printk
//! ring, run queues, ORC tables), found through the library on the clean dump.

use holdup_analysis::hang::HangOptions;
use holdup_dump::{Dump, PageState, PhysError, PhysicalMemory, ReadFailure};
use holdup_kernel::locking::{self, AnalyzeOptions, LockKind};
use holdup_kernel::mm::page::MemMap;
use holdup_kernel::sched::{self, Task};
use holdup_kernel::stack::unwind::Unwinder;
use holdup_kernel::sysinfo::kernel_log;
use holdup_kernel::{Kernel, OpenOptions};
use holdup_kmem::KernelDump;
use holdup_report::{Report, build_report, render_dot, render_text, to_json};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

/// `dumps/fixtures/6.1/vmcore.kdump-zlib`.
pub fn fixture_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../dumps/fixtures/6.1/vmcore.kdump-zlib")
}

/// The 6.1 fixture, opened once per process, with a page cache big enough to keep every
/// page it holds decompressed (runs then cost analysis, not inflation).
pub fn base_dump() -> Arc<Dump> {
    static DUMP: OnceLock<Arc<Dump>> = OnceLock::new();
    DUMP.get_or_init(|| {
        let p = fixture_path();
        Arc::new(
            Dump::open_with_cache(&p, 1 << 16).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
        )
    })
    .clone()
}

const PAGE: u64 = 4096;

/// Physical memory of a dump with some pages replaced and some made to fail.
pub struct Overlay {
    base: Arc<Dump>,
    pages: RwLock<HashMap<u64, Box<[u8]>>>,
    missing: RwLock<HashSet<u64>>,
}

impl Overlay {
    pub fn new(base: Arc<Dump>) -> Overlay {
        Overlay {
            base,
            pages: RwLock::default(),
            missing: RwLock::default(),
        }
    }

    /// The page as the overlay currently reads it (zeros where the dump has nothing).
    fn current_page(&self, pfn: u64) -> Box<[u8]> {
        if let Some(p) = self
            .pages
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&pfn)
        {
            return p.clone();
        }
        let mut b = vec![0u8; PAGE as usize].into_boxed_slice();
        let _ = self.base.read_phys(pfn * PAGE, &mut b);
        b
    }

    /// Writes `bytes` at physical `paddr` (across pages if needed).
    pub fn write(&self, paddr: u64, bytes: &[u8]) {
        let mut done = 0usize;
        while done < bytes.len() {
            let pa = paddr.wrapping_add(done as u64);
            let pfn = pa / PAGE;
            let in_page = (pa % PAGE) as usize;
            let n = (PAGE as usize - in_page).min(bytes.len() - done);
            let mut page = self.current_page(pfn);
            page[in_page..in_page + n].copy_from_slice(&bytes[done..done + n]);
            self.pages
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(pfn, page);
            done += n;
        }
    }

    /// Makes page `pfn` read as filtered out of the dump.
    pub fn remove(&self, pfn: u64) {
        self.pages
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&pfn);
        self.missing
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(pfn);
    }

    /// Back to the dump as it is.
    pub fn clear(&self) {
        self.pages
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        self.missing
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl PhysicalMemory for Overlay {
    fn read_phys(&self, paddr: u64, buf: &mut [u8]) -> Result<(), PhysError> {
        let pages = self.pages.read().unwrap_or_else(|e| e.into_inner());
        let missing = self.missing.read().unwrap_or_else(|e| e.into_inner());
        if pages.is_empty() && missing.is_empty() {
            return self.base.read_phys(paddr, buf);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pa = paddr.checked_add(done as u64).ok_or(PhysError {
                paddr,
                failure: ReadFailure::Absent,
            })?;
            let pfn = pa / PAGE;
            let in_page = (pa % PAGE) as usize;
            let n = (PAGE as usize - in_page).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            if let Some(p) = pages.get(&pfn) {
                out.copy_from_slice(&p[in_page..in_page + n]);
            } else if missing.contains(&pfn) {
                return Err(PhysError {
                    paddr: pa,
                    failure: ReadFailure::Excluded { dump_level: None },
                });
            } else {
                self.base.read_phys(pa, out)?;
            }
            done += n;
        }
        Ok(())
    }

    fn page_state(&self, pfn: u64) -> PageState {
        if self
            .pages
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&pfn)
        {
            PageState::Present
        } else if self
            .missing
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&pfn)
        {
            PageState::Excluded { dump_level: None }
        } else {
            self.base.page_state(pfn)
        }
    }

    fn max_pfn(&self) -> u64 {
        self.base.max_pfn()
    }
}

/// A kernel opened on the 6.1 fixture through an [`Overlay`].
pub struct Patched {
    pub kernel: Kernel,
    pub overlay: Arc<Overlay>,
}

/// Resets the overlay when a run ends, even by a panic.
struct Reset<'a>(&'a Patched);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        self.0.overlay.clear();
        self.0.kernel.dump.mem.flush_tlb();
    }
}

impl Patched {
    /// Opens the fixture (symbols and types from the clean dump).
    pub fn open() -> Patched {
        let dump = base_dump();
        let overlay = Arc::new(Overlay::new(dump.clone()));
        let kd = KernelDump::with_phys(dump, overlay.clone()).expect("fixture VMCOREINFO");
        let kernel = Kernel::from_kernel_dump(
            kd,
            &fixture_path().display().to_string(),
            &OpenOptions::default(),
        )
        .expect("open the 6.1 fixture");
        Patched { kernel, overlay }
    }

    /// A second kernel opened over the overlay as it is now: kallsyms, BTF and the modules
    /// list are read again from the (modified) memory, as `Kernel::open` reads them.
    pub fn reopen(&self) -> Result<Kernel, String> {
        let phys: Arc<dyn PhysicalMemory> = self.overlay.clone();
        let kd = KernelDump::with_phys(base_dump(), phys).map_err(|e| e.to_string())?;
        Kernel::from_kernel_dump(kd, "fixture (reopened)", &OpenOptions::default())
            .map_err(|e| e.to_string())
    }

    /// Physical address of kernel virtual `vaddr` in the clean dump.
    pub fn paddr(&self, vaddr: u64) -> Option<u64> {
        self.kernel.dump.mem.translate(vaddr).ok().map(|t| t.paddr)
    }

    /// Runs `f` on the kernel with `edit` applied to the overlay, then restores the dump.
    pub fn with<R>(&self, edit: impl FnOnce(&Overlay), f: impl FnOnce(&Kernel) -> R) -> R {
        let _reset = Reset(self);
        self.overlay.clear();
        edit(&self.overlay);
        self.kernel.dump.mem.flush_tlb();
        f(&self.kernel)
    }
}

/// One word of kernel data worth corrupting.
#[derive(Debug, Clone)]
pub struct Word {
    pub vaddr: u64,
    pub paddr: u64,
    /// What it is, e.g. `task 0x... tasks.next`.
    pub what: String,
}

/// Where the interesting kernel data of the fixture is.
#[derive(Debug, Clone, Default)]
pub struct Interest {
    /// Words of kernel data: list pointers, task fields, stack words, lock words, page flags.
    pub words: Vec<Word>,
    /// Pages holding them, plus whole task structs and stacks (pfns, sorted).
    pub pages: Vec<u64>,
    /// Pages of the ORC tables the blocked tasks' frames use, and of their stacks.
    pub orc_pages: Vec<u64>,
    /// Addresses that make plausible (wrong) pointer values: tasks, locks, list heads.
    pub pointers: Vec<u64>,
    /// The tasks, as read from the clean dump.
    pub tasks: Vec<Task>,
}

impl Interest {
    /// Finds the interesting data of the clean dump of `p`.
    pub fn find(p: &Patched) -> Interest {
        let k = &p.kernel;
        let mut it = Interest::default();
        let mut words: Vec<(u64, String)> = Vec::new();
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        let off = |path: &str| k.types.offsetof(path).ok();
        let list = tasks_list(k);
        let blocked = list
            .as_ref()
            .map(sched::TaskList::blocked)
            .unwrap_or_default();
        let tasks = list.map(|l| l.tasks).unwrap_or_default();
        let task_size = k.types.sizeof("task_struct").unwrap_or(0x2000);
        if let Ok(init) = k.symbol("init_task") {
            it.pointers.push(init);
            if let Some(o) = off("task_struct.tasks") {
                words.push((init + o, "init_task.tasks.next".into()));
                words.push((init + o + 8, "init_task.tasks.prev".into()));
            }
        }
        let fields = [
            "task_struct.tasks",
            "task_struct.__state",
            "task_struct.pid",
            "task_struct.stack",
            "task_struct.thread.sp",
            "task_struct.mm",
            "task_struct.real_parent",
            "task_struct.signal",
            "task_struct.thread_node",
            "task_struct.pid_links",
            "task_struct.comm",
            "task_struct.thread_info.cpu",
            "task_struct.on_cpu",
            "task_struct.sched_info.last_arrival",
            "task_struct.last_switch_time",
        ];
        let field_offs: Vec<(&str, u64)> =
            fields.iter().filter_map(|f| Some((*f, off(f)?))).collect();
        for t in &tasks {
            it.pointers.push(t.task);
            for (f, o) in &field_offs {
                words.push((t.task + o, format!("task {:#x} ({}) {f}", t.task, t.comm)));
            }
            if let Some(o) = off("task_struct.tasks") {
                words.push((t.task + o + 8, format!("task {:#x} tasks.prev", t.task)));
                it.pointers.push(t.task + o);
            }
            if t.state_char == 'D' || t.current {
                ranges.push((t.task, task_size));
                if t.stack != 0 {
                    // The live part of the stack: from the saved sp to the top.
                    let top = t.stack + 0x4000;
                    let mut a = t.thread_sp & !7;
                    if a < t.stack || a >= top {
                        a = t.stack;
                    }
                    while a < top {
                        words.push((a, format!("stack of {} ({:#x})", t.comm, t.task)));
                        a += 8;
                    }
                    ranges.push((t.stack, 0x4000));
                }
            }
        }
        // Locks and their waiters, as the locking analysis finds them.
        if let Ok(la) = locking::analyze_with(k, &blocked, &AnalyzeOptions { scan_pages: false }) {
            let memmap = MemMap::new(k).ok();
            for l in &la.locks {
                let a = l.id.addr;
                it.pointers.push(a);
                let (paths, size): (&[&str], u64) = match l.id.kind {
                    LockKind::Mutex => (&["mutex.owner", "mutex.wait_list"], 32),
                    LockKind::Rwsem => (
                        &[
                            "rw_semaphore.count",
                            "rw_semaphore.owner",
                            "rw_semaphore.wait_list",
                        ],
                        40,
                    ),
                    LockKind::Semaphore => (&["semaphore.count", "semaphore.wait_list"], 24),
                    LockKind::Completion => (&["completion.done", "completion.wait.task_list"], 32),
                    LockKind::PageLock | LockKind::PageWriteback | LockKind::PageBit => {
                        (&["page.flags", "page.compound_head", "page.mapping"], 64)
                    }
                    _ => (&[], 16),
                };
                for p in paths {
                    if let Some(o) = off(p) {
                        words.push((a + o, format!("{} {a:#x} {p}", l.id.kind)));
                        if p.ends_with("wait_list") || p.ends_with("task_list") {
                            words.push((a + o + 8, format!("{} {a:#x} {p}.prev", l.id.kind)));
                            it.pointers.push(a + o);
                        }
                    }
                }
                ranges.push((a, size));
                for w in &l.waiters {
                    for i in 0..8 {
                        words.push((w.record + 8 * i, format!("waiter record {:#x}", w.record)));
                    }
                    it.pointers.push(w.record);
                }
                if let (Some(mm), LockKind::PageLock) = (&memmap, l.id.kind) {
                    // The struct pages around a locked folio (its tail pages, neighbours).
                    if let Some(pfn) = mm.page_to_pfn(a) {
                        for q in pfn.saturating_sub(2)..pfn + 4 {
                            let pg = mm.pfn_to_page(q);
                            words.push((pg, format!("struct page of pfn {q:#x} flags")));
                        }
                    }
                }
            }
            for w in &la.waits {
                it.pointers.push(w.record);
                for i in 0..6 {
                    words.push((w.record + 8 * i, format!("wait record {:#x}", w.record)));
                }
            }
            // Struct pages of some ordinary pfns: a corrupted flags word makes a page look
            // locked to the page scan.
            if let Some(mm) = &memmap {
                for q in (0..k.dump.dump.max_pfn()).step_by(4099).take(64) {
                    let pg = mm.pfn_to_page(q);
                    words.push((pg, format!("struct page of pfn {q:#x} flags")));
                    words.push((pg + 8, format!("struct page of pfn {q:#x} +8")));
                }
            }
        }
        // The printk ring buffer's header, run queues, the modules list.
        if let Ok(prb) = k.symbol("prb") {
            words.push((prb, "prb".into()));
            if let Ok(rb) = k.mem().read_u64(prb) {
                for i in 0..24 {
                    words.push((rb + 8 * i, "printk_ringbuffer".into()));
                }
            }
        }
        if let Ok(cpus) = holdup_kernel::percpu::for_each_possible_cpu(k) {
            for c in cpus.into_iter().take(8) {
                if let Ok(rq) = sched::cpu_rq(k, c) {
                    for p in ["rq.curr", "rq.idle", "rq.clock"] {
                        if let Some(o) = off(p) {
                            words.push((rq + o, format!("cpu {c} {p}")));
                        }
                    }
                }
            }
        }
        if let Ok(m) = k.symbol("modules") {
            words.push((m, "modules.next".into()));
            words.push((m + 8, "modules.prev".into()));
            it.pointers.push(m);
            let (nodes, _) = holdup_kernel::list::list_nodes(k.mem(), m, 64);
            for n in nodes {
                words.push((n, "module.list.next".into()));
                it.pointers.push(n);
            }
        }
        if let Ok(t) = k.symbol("folio_wait_table") {
            it.pointers.push(t);
        }
        // Global words the analysis starts from.
        for g in [
            "max_pfn",
            "vmemmap_base",
            "page_offset_base",
            "nr_cpu_ids",
            "__cpu_online_mask",
            "__cpu_possible_mask",
            "__per_cpu_offset",
            "jiffies",
            "panic_cpu",
            "init_pid_ns",
            "_totalram_pages",
        ] {
            if let Ok(a) = k.symbol(g) {
                words.push((a, g.to_string()));
                words.push((a + 8, format!("{g}+8")));
            }
        }
        let mut pfns = BTreeSet::new();
        for (vaddr, what) in words {
            if let Some(paddr) = p.paddr(vaddr) {
                pfns.insert(paddr / PAGE);
                it.words.push(Word { vaddr, paddr, what });
            }
        }
        for (start, len) in ranges {
            let mut a = start & !(PAGE - 1);
            while a < start + len {
                if let Some(pa) = p.paddr(a) {
                    pfns.insert(pa / PAGE);
                }
                a += PAGE;
            }
        }
        it.pages = pfns.into_iter().collect();
        it.orc_pages = orc_pages(p, &tasks);
        it.pointers.sort_unstable();
        it.pointers.dedup();
        it.tasks = tasks;
        it
    }
}

fn tasks_list(k: &Kernel) -> Option<sched::TaskList> {
    sched::all_tasks(k).ok()
}

/// Pages of the ORC tables used by the frames of the blocked and running tasks, and of
/// their stacks.
fn orc_pages(p: &Patched, tasks: &[Task]) -> Vec<u64> {
    let k = &p.kernel;
    let sym = |n: &str| k.symbols.address_of(n);
    let (Some(ip_tab), Some(ip_stop), Some(orc_tab)) = (
        sym("__start_orc_unwind_ip"),
        sym("__stop_orc_unwind_ip"),
        sym("__start_orc_unwind"),
    ) else {
        return Vec::new();
    };
    let num = ip_stop.saturating_sub(ip_tab) / 4;
    let ip_at = |i: u64| -> Option<u64> {
        let a = ip_tab + 4 * i;
        let rel = k.mem().read_u32(a).ok()? as i32;
        Some(a.wrapping_add(rel as i64 as u64))
    };
    let mut vaddrs = Vec::new();
    let u = Unwinder::new(k);
    for t in tasks.iter().filter(|t| t.state_char == 'D' || t.current) {
        let bt = u.backtrace(t);
        for f in bt.frames.iter().filter(|f| f.reliable).take(32) {
            // The last entry whose ip is <= the frame's.
            let (mut lo, mut hi) = (0u64, num);
            while lo + 1 < hi {
                let mid = lo + (hi - lo) / 2;
                match ip_at(mid) {
                    Some(a) if a <= f.ip => lo = mid,
                    Some(_) => hi = mid,
                    None => break,
                }
            }
            vaddrs.push(ip_tab + 4 * lo);
            vaddrs.push(orc_tab + 6 * lo);
            if let (Some(l), Some(stext)) = (sym("orc_lookup"), sym("_stext"))
                && f.ip >= stext
            {
                vaddrs.push(l + 4 * ((f.ip - stext) >> 8));
            }
        }
        if t.stack != 0 {
            for i in 0..4 {
                vaddrs.push(t.stack + PAGE * i);
            }
        }
    }
    let mut pfns: Vec<u64> = vaddrs
        .into_iter()
        .filter_map(|v| p.paddr(v).map(|pa| pa / PAGE))
        .collect();
    pfns.sort_unstable();
    pfns.dedup();
    pfns
}

/// The report `holdup DUMP` prints ([`build_report`], as its `report` command calls it).
pub fn report(k: &Kernel, page_scan: bool) -> Result<Report, String> {
    build_report(
        k,
        "fixture",
        &HangOptions {
            no_page_scan: !page_scan,
        },
    )
    .map_err(|e| format!("cannot list tasks: {e}"))
}

/// The whole report in its three forms, plus the log and every backtrace; returns the text
/// report (or the one-line error) for the caller to inspect.
pub fn full_run(k: &Kernel, page_scan: bool) -> Result<String, String> {
    if let Ok(log) = kernel_log(k) {
        for r in log.records.iter().rev().take(64) {
            let _ = r.to_dmesg_line();
        }
    }
    let r = report(k, page_scan)?;
    let text = render_text(&r);
    let _ = to_json(&r);
    let _ = render_dot(&r);
    Ok(text)
}

/// The fixture kernel and its interesting data, shared by the fuzz targets of one process.
pub fn shared() -> &'static Mutex<(Patched, Interest)> {
    static SHARED: OnceLock<Mutex<(Patched, Interest)>> = OnceLock::new();
    SHARED.get_or_init(|| {
        let p = Patched::open();
        let i = Interest::find(&p);
        Mutex::new((p, i))
    })
}

/// Applies the patches an input describes to pages chosen from `pages`: a sequence of
/// records `op:u8 sel:u16 off:u16 ...` where `op % 4` is 0 (then `len:u8` and that many
/// bytes), 1 (a `u64` value), 2 (`ptr:u16 delta:i8`: a pointer into [`Interest::pointers`]),
/// or 3 (`bit:u8`: flip one bit). At most 64 records.
pub fn apply_input(o: &Overlay, pages: &[u64], pointers: &[u64], data: &[u8]) {
    if pages.is_empty() {
        return;
    }
    let mut r = Reader { d: data, p: 0 };
    for _ in 0..64 {
        let (Some(op), Some(sel), Some(off)) = (r.u8(), r.u16(), r.u16()) else {
            return;
        };
        let pfn = pages[usize::from(sel) % pages.len()];
        let off = u64::from(off) % PAGE;
        let pa = pfn * PAGE + off;
        match op % 4 {
            0 => {
                let Some(len) = r.u8() else { return };
                let len = usize::from(len % 65).min((PAGE - off) as usize);
                let bytes = r.take(len);
                o.write(pa, bytes);
            }
            1 => {
                let Some(v) = r.u64() else { return };
                write_word(o, pa, v);
            }
            2 => {
                let (Some(i), Some(d)) = (r.u16(), r.u8()) else {
                    return;
                };
                let base = if pointers.is_empty() {
                    0
                } else {
                    pointers[usize::from(i) % pointers.len()]
                };
                write_word(o, pa, base.wrapping_add(d as i8 as i64 as u64));
            }
            _ => {
                let Some(bit) = r.u8() else { return };
                let pa = pa & !7;
                let mut b = [0u8; 8];
                let _ = o.read_phys(pa, &mut b);
                let v = u64::from_le_bytes(b) ^ (1u64 << (bit % 64));
                o.write(pa, &v.to_le_bytes());
            }
        }
    }
}

fn write_word(o: &Overlay, pa: u64, v: u64) {
    let pa = pa & !7;
    o.write(pa, &v.to_le_bytes());
}

struct Reader<'a> {
    d: &'a [u8],
    p: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let end = self.p.saturating_add(n).min(self.d.len());
        let s = &self.d[self.p..end];
        self.p = end;
        s
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        let b = self.take(2);
        (b.len() == 2).then(|| u16::from_le_bytes([b[0], b[1]]))
    }
    fn u64(&mut self) -> Option<u64> {
        let b = self.take(8);
        (b.len() == 8).then(|| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
    }
}

/// Patches to the task structs, stacks, locks, struct pages, printk ring and run queues of
/// the 6.1 fixture (see [`apply_input`]), then the whole report. A first byte with its low
/// three bits set turns on the scan of every struct page (slow, so only for 1 input in 8);
/// with bits 4 and 5 set, the kernel is also opened again over the patched memory (modules
/// list, kallsyms and BTF read anew) and reported on.
pub fn analysis(data: &[u8]) {
    let g = shared().lock().unwrap_or_else(|e| e.into_inner());
    let (p, it) = &*g;
    let (flags, rest) = data.split_first().unwrap_or((&0, &[]));
    p.with(
        |o| apply_input(o, &it.pages, &it.pointers, rest),
        |k| {
            let _ = full_run(k, flags & 7 == 7);
            if flags & 0x30 == 0x30
                && let Ok(k2) = p.reopen()
            {
                let _ = full_run(&k2, false);
            }
        },
    );
}

/// Patches to the ORC tables (ip table, entries, lookup) used by the blocked tasks' frames
/// and to their stacks (see [`apply_input`]), then every backtrace.
pub fn orc(data: &[u8]) {
    let g = shared().lock().unwrap_or_else(|e| e.into_inner());
    let (p, it) = &*g;
    p.with(
        |o| apply_input(o, &it.orc_pages, &it.pointers, data),
        |k| {
            let u = Unwinder::new(k);
            for t in it.tasks.iter().filter(|t| t.state_char == 'D' || t.current) {
                let bt = u.backtrace(t);
                let _ = bt.frames.len();
            }
            let _ = holdup_kernel::stack::regs::cpu_registers(k);
        },
    );
}
