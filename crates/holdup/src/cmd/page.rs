//! `holdup page DUMP ADDR|PFN`: one page decoded, like crash's `kmem -p`, with the story of
//! its lock: who waits for it (the folio wait table) and who may hold it.

use super::args::{check_dump_first, parse_address, parse_address_or_number};
use super::{Failure, blocked_locks, open, print_json};
use crate::{DumpArgs, exit};
use clap::Args;
use holdup_kernel::Kernel;
use holdup_kernel::locking::{AnalyzeOptions, HolderId, LockKind};
use holdup_kernel::mm::slab;
use holdup_kernel::mm::{Identity, MemMap, identify_address};
use serde::Serialize;

#[derive(Args, Clone)]
pub struct PageArgs {
    #[command(flatten)]
    pub dump: DumpArgs,
    /// A `struct page` address (`fffff...`, in the vmemmap), an address in the direct map
    /// (its page, and the slab object holding it), or a page frame number. Hex with or
    /// without 0x (a word of 16 digits or with a letter is hex); decimal digits are a pfn.
    #[arg(value_name = "ADDR|PFN")]
    pub page: String,
}

#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct PageReport {
    page: holdup_kernel::mm::PageInfo,
    /// The physical address of the page's frame (pfn times the page size), as crash's
    /// `kmem -p` PHYSICAL; absent when the pfn is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    physical: Option<String>,
    /// `page._refcount`, as crash's `kmem -p` CNT (a tail page's own, 0; its folio's is the
    /// head page's); absent when unreadable (`refcount_error` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    refcount: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    refcount_error: Option<String>,
    /// Tasks waiting on a bit of this folio (from `folio_wait_table`).
    waiters: Vec<Party>,
    /// Who holds its lock: inferences (the kernel records no page-lock owner).
    holders: Vec<Party>,
    /// When the page is a slab's: its cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    slab: Option<slab::SlabPage>,
    /// When a direct-map address was given and it is in a slab: the object holding it.
    #[serde(skip_serializing_if = "Option::is_none")]
    slab_object: Option<slab::SlabObject>,
    /// Why the slab could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    slab_error: Option<String>,
}

/// What `page --json` prints for an address that is not a struct page, a pfn or a
/// direct-map address (exit status 1).
#[derive(Serialize, schemars::JsonSchema)]
pub(crate) struct NotAPage {
    #[schemars(with = "String")]
    address: String,
    /// Always false.
    struct_page: bool,
    /// What the address is instead.
    is: Identity,
    /// The same, in a sentence.
    description: String,
}

/// The two forms of `page --json`, for its schema.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
#[allow(dead_code, clippy::large_enum_variant)] // never built: it only describes the output
pub(crate) enum PageJson {
    /// A struct page decoded.
    Page(PageReport),
    /// An address that is none.
    NotAPage(NotAPage),
}

#[derive(Serialize, schemars::JsonSchema)]
struct Party {
    pid: Option<u32>,
    comm: Option<String>,
    task: Option<String>,
    what: String,
    evidence: String,
}

pub fn run(args: &PageArgs) -> Result<(), Failure> {
    check_dump_first(
        "page",
        args.dump.dump.as_deref(),
        std::slice::from_ref(&args.page),
    )?;
    let value = parse_address_or_number(&args.page).ok_or_else(|| {
        Failure::new(
            exit::UNREADABLE,
            format!(
                "{:?} is neither an address (hex, with or without 0x) nor a pfn (decimal)",
                args.page
            ),
        )
    })?;
    let kernel = open(&args.dump)?;
    let memmap = MemMap::new(&kernel).map_err(|e| {
        Failure::new(
            exit::UNREADABLE,
            format!("cannot find the struct pages: {e}"),
        )
    })?;
    let mut addr = None;
    if parse_address(&args.page).is_none() && value >= memmap.max_pfn {
        // Decimal digits are a pfn: past the last frame it is not an address to describe.
        return Err(Failure::new(
            exit::NO_HANG,
            format!(
                "pfn {value} is past the machine's last page frame (max_pfn {}); give an \
                 address in hex (with or without 0x) for anything else",
                memmap.max_pfn
            ),
        ));
    }
    let page = if value < memmap.max_pfn {
        memmap.pfn_to_page(value)
    } else {
        // Only a real struct page is decoded as one; anything else is said for what it is.
        let tasks = holdup_kernel::sched::all_tasks(&kernel)
            .map(|l| l.tasks)
            .unwrap_or_default();
        match identify_address(&kernel, &memmap, &tasks, value) {
            Identity::StructPage { page, .. } => page,
            Identity::DirectMap { .. } => {
                addr = Some(value);
                slab::virt_to_page(&memmap, value).unwrap_or(value)
            }
            other => {
                if args.dump.json {
                    print_json(&NotAPage {
                        address: format!("{value:#x}"),
                        struct_page: false,
                        description: other.describe(value),
                        is: other.clone(),
                    })?;
                } else {
                    println!("{}", other.describe(value));
                }
                return Err(Failure::new(
                    exit::NO_HANG,
                    format!("{value:#x} is not a struct page, a pfn or a direct-map address"),
                ));
            }
        }
    };
    let info = memmap
        .read_page(kernel.mem(), page)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("struct page {page:#x}: {e}")))?;
    let page_size = kernel
        .vmcoreinfo()
        .page_size()
        .ok()
        .flatten()
        .unwrap_or(4096);
    let physical = info
        .pfn
        .map(|pfn| format!("{:#x}", pfn.saturating_mul(page_size)));
    let refcount = kernel
        .types
        .offsetof("page._refcount")
        .map_err(|e| e.to_string())
        .and_then(|off| {
            kernel
                .mem()
                .read_u32(page.wrapping_add(off))
                .map_err(|e| e.to_string())
        })
        .map(|v| v as i32);
    let mut report = page_story(&kernel, info)?;
    report.physical = physical;
    match refcount {
        Ok(c) => report.refcount = Some(c),
        Err(e) => report.refcount_error = Some(format!("page._refcount: {e}")),
    }
    if let Some(e) = &report.refcount_error
        && !args.dump.json
    {
        super::note("page", format!("CNT unknown: {e}"));
    }
    slab_story(&kernel, &memmap, page, addr, &mut report);
    if args.dump.json {
        return print_json(&report);
    }
    let p = &report.page;
    println!(
        "{:<18} {:>12} {:>9} {:<18} {:<18} {:>9} {:>4}  FLAGS",
        "PAGE", "PHYSICAL", "PFN", "FOLIO", "MAPPING", "INDEX", "CNT"
    );
    println!(
        "{:<18} {:>12} {:>9} {:<18} {:<18} {:>9x} {:>4}  {:#x} {}",
        format!("{:#x}", p.page),
        report.physical.as_deref().unwrap_or("?"),
        p.pfn.map_or_else(|| "?".into(), |v| v.to_string()),
        format!("{:#x}", p.folio.value),
        format!("{:#x}", p.mapping.value),
        p.index,
        report
            .refcount
            .map_or_else(|| "?".into(), |c| c.to_string()),
        p.flags.value.raw,
        p.flags.value.names.join(",")
    );
    if p.folio.value != p.page {
        println!(
            "a tail page of folio {:#x} ({} pages), whose flags are {}",
            p.folio.value,
            p.nr_pages,
            p.folio_flags.value.names.join(",")
        );
    }
    let locked = p.folio_flags.value.locked;
    println!(
        "page lock: {}",
        if locked {
            "LOCKED (PG_locked set)  [fact: folio.flags]"
        } else {
            "not locked"
        }
    );
    for w in &report.waiters {
        println!("  waiter: {}  [{}]", describe(w), w.evidence);
    }
    for h in &report.holders {
        println!("  holder: {}  [{}]", describe(h), h.evidence);
    }
    if locked && report.holders.is_empty() {
        println!(
            "  holder: unknown (the kernel records no page-lock owner, and no task's stack points to it)"
        );
    }
    print_slab(&report);
    Ok(())
}

/// The slab of the page, and the object holding `addr` when one was given (like crash's
/// `kmem -s ADDR`).
fn slab_story(k: &Kernel, memmap: &MemMap, page: u64, addr: Option<u64>, report: &mut PageReport) {
    let layout = match slab::SlabLayout::new(k) {
        Ok(l) => l,
        Err(e) => {
            report.slab_error = Some(format!("slab layout: {e}"));
            return;
        }
    };
    let found = match addr {
        Some(a) => slab::slab_object_info(k.mem(), memmap, &layout, a).map(|o| {
            report.slab = o.as_ref().map(|o| o.slab.clone());
            report.slab_object = o;
        }),
        None => slab::slab_page(k.mem(), memmap, &layout, page).map(|s| report.slab = s),
    };
    if let Err(e) = found {
        report.slab_error = Some(e.to_string());
    }
}

fn print_slab(report: &PageReport) {
    if let Some(s) = &report.slab {
        let shared = if s.is_merged() {
            format!(
                "; shared by {} caches (SLUB merged them: objects may be of any of their types)",
                s.refcount
            )
        } else {
            String::new()
        };
        println!(
            "slab: cache {} (kmem_cache {:#x}), objects of {} bytes every {} from {:#x}{shared}",
            s.cache_name,
            s.cache,
            s.object_size,
            s.size,
            s.base + u64::from(s.red_left_pad)
        );
    }
    if let Some(o) = &report.slab_object {
        let place = if o.in_object() {
            String::new()
        } else {
            " (past the object's bytes: SLUB's metadata or padding)".to_string()
        };
        println!(
            "  object {:#x} (index {}): {:#x} is at +{:#x}{place}",
            o.object, o.index, o.addr, o.offset
        );
    }
    if let Some(e) = &report.slab_error {
        println!("slab: unreadable: {e}");
    }
}

fn describe(p: &Party) -> String {
    match (&p.comm, p.pid) {
        (Some(c), Some(pid)) => format!("{c} (pid {pid}) {}", p.what),
        _ => p.what.clone(),
    }
}

/// Waiters from the wait table and holder candidates from the lock analysis of the
/// blocked tasks.
fn page_story(k: &Kernel, page: holdup_kernel::mm::PageInfo) -> Result<PageReport, Failure> {
    let folio = page.folio.value;
    let (tasks, analysis) = blocked_locks(k, &AnalyzeOptions { scan_pages: false })?;
    let named = |task: u64| {
        let t = tasks.tasks.iter().find(|t| t.task == task);
        (
            t.map(|t| t.pid),
            t.map(|t| t.comm.clone()),
            Some(format!("{task:#x}")),
        )
    };
    let mut waiters = Vec::new();
    for w in analysis
        .page_waiters
        .iter()
        .filter(|w| w.value.folio == folio)
    {
        let (pid, comm, task) = named(w.value.task);
        let what = match w.value.kind {
            LockKind::PageLock => "waits to lock it".to_string(),
            LockKind::PageWriteback => "waits for its writeback to end".to_string(),
            _ => format!("waits for bit {} to clear", w.value.bit_nr),
        };
        waiters.push(Party {
            pid,
            comm,
            task,
            what,
            evidence: super::evidence_text(&w.evidence),
        });
    }
    let mut holders = Vec::new();
    for l in analysis.locks.iter().filter(|l| l.id.addr == folio) {
        for h in &l.holders {
            let (pid, comm, task) = match &h.who {
                HolderId::Task { task } => named(*task),
                HolderId::Io { .. } | HolderId::State { .. } => (None, None, None),
            };
            let what = match &h.who {
                HolderId::Task { .. } => "may hold its lock".to_string(),
                HolderId::Io { what } => format!("I/O in flight: {what}"),
                HolderId::State { what, .. } => what.clone(),
            };
            holders.push(Party {
                pid,
                comm,
                task,
                what,
                evidence: super::evidence_text(&h.evidence),
            });
        }
    }
    Ok(PageReport {
        page,
        physical: None,
        refcount: None,
        refcount_error: None,
        waiters,
        holders,
        slab: None,
        slab_object: None,
        slab_error: None,
    })
}
