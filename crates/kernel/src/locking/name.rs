//! Names for locks a person knows: `mmap_lock of mm 0x... (bench, pid 96)`, a static lock by
//! its symbol (`abba_m1 [hangmod]`), a lock inside a slab object by its container and member
//! (`i_rwsem of inode 0x... (ext4_inode_cache object 0x...)`), a page by pfn.

use super::waits::Layouts;
use super::{Evidence, LockId, LockKind, LockName};
use crate::mm::slab::{self, SlabLayout};
use crate::{Kernel, sched};
use std::collections::HashMap;
use std::sync::OnceLock;

/// What naming needs beyond the layouts, gathered once per analysis: which tasks use each mm
/// (`task_struct.mm`, for mmap_locks), and the caches SLUB merged into each slab cache (read
/// from sysfs when a lock is first found in a shared cache).
#[derive(Debug, Default)]
pub struct MmUsers {
    pub by_mm: HashMap<u64, Vec<u64>>,
    slab_aliases: OnceLock<Result<HashMap<u64, Vec<String>>, String>>,
}

impl MmUsers {
    pub fn new(k: &Kernel, l: &Layouts, tasks: &[u64]) -> MmUsers {
        let mut m: HashMap<u64, Vec<u64>> = HashMap::new();
        if let Some(off) = l.task_mm {
            for &t in tasks {
                if let Some(mm) = k
                    .mem()
                    .read_u64(t.wrapping_add(off))
                    .ok()
                    .filter(|&mm| mm != 0)
                {
                    m.entry(mm).or_default().push(t);
                }
            }
        }
        MmUsers {
            by_mm: m,
            slab_aliases: OnceLock::new(),
        }
    }

    /// The caches merged into the cache at `cache` (its sysfs aliases), read once.
    fn aliases_of(&self, k: &Kernel, sl: &SlabLayout, cache: u64) -> Result<Vec<String>, String> {
        let all = self
            .slab_aliases
            .get_or_init(|| slab::cache_aliases(k, sl).map_err(|e| e.to_string()));
        match all {
            Ok(a) => a
                .get(&cache)
                .cloned()
                .ok_or_else(|| "/sys/kernel/slab lists no alias of the cache".to_string()),
            Err(e) => Err(format!("reading /sys/kernel/slab: {e}")),
        }
    }
}

fn who(k: &Kernel, task: u64) -> String {
    format!(
        "{}, pid {}",
        sched::task_comm(k, task).unwrap_or_else(|_| "?".into()),
        sched::task_pid(k, task).map_or("?".into(), |p| p.to_string())
    )
}

/// The mm whose `mmap_lock` is at `addr`, with the task that names it and how it was found.
pub fn mmap_lock_owner(
    k: &Kernel,
    l: &Layouts,
    users: &MmUsers,
    addr: u64,
) -> Option<(u64, u64, Evidence)> {
    let off = l.mm_mmap_lock?;
    let mm = addr.checked_sub(off)?;
    if let Some(tasks) = users.by_mm.get(&mm) {
        // Prefer the thread-group leader (pid == tgid).
        let leader = tasks
            .iter()
            .copied()
            .find(|&t| {
                let pid = sched::read_member(k, t, "task_struct.pid").ok();
                pid.is_some() && pid == sched::read_member(k, t, "task_struct.tgid").ok()
            })
            .unwrap_or(tasks[0]);
        let src = format!("task_struct.mm of {}", who(k, leader));
        return Some((mm, leader, Evidence::fact(src, leader + l.task_mm?)));
    }
    // CONFIG_MEMCG: mm->owner, checked against owner->mm.
    let owner = k.mem().read_u64(mm.wrapping_add(l.mm_owner?)).ok()?;
    if owner != 0 && k.mem().read_u64(owner.wrapping_add(l.task_mm?)).ok()? == mm {
        return Some((
            mm,
            owner,
            Evidence::fact("mm_struct.owner", mm + l.mm_owner?),
        ));
    }
    None
}

/// A name for a lock, when one can be found.
pub fn lock_name(k: &Kernel, l: &Layouts, users: &MmUsers, id: LockId) -> Option<LockName> {
    match id.kind {
        LockKind::PageLock | LockKind::PageWriteback | LockKind::PageBit => {
            let pfn = l.memmap.as_ref()?.page_to_pfn(id.addr)?;
            return Some(LockName {
                text: format!("page {:#x} (pfn {pfn})", id.addr),
                evidence: Evidence::fact("vmemmap_base + pfn * sizeof(struct page)", None),
            });
        }
        LockKind::Rwsem => {
            if let Some((mm, task, evidence)) = mmap_lock_owner(k, l, users, id.addr) {
                return Some(LockName {
                    text: format!("mmap_lock of mm {mm:#x} ({})", who(k, task)),
                    evidence,
                });
            }
        }
        _ => {}
    }
    // The direct map holds no symbol: an address there is in an allocated object.
    if l.memmap
        .as_ref()
        .is_some_and(|m| slab::virt_to_page(m, id.addr).is_some())
    {
        return slab_lock_name(k, l, users, id);
    }
    let r = k.symbols.resolve(id.addr)?;
    if matches!(r.symbol.kind, 't' | 'T' | 'w' | 'W') {
        return None;
    }
    let mut text = r.symbol.name.to_string();
    if r.offset != 0 {
        text.push_str(&format!("+{:#x}", r.offset));
    }
    if let Some(m) = r.symbol.module {
        text.push_str(&format!(" [{m}]"));
    }
    Some(LockName {
        text,
        evidence: Evidence::fact("kallsyms", r.symbol.addr),
    })
}

/// A lock inside a slab object, by its container and member; the object and its cache
/// when the type is not known (kmalloc caches).
fn slab_lock_name(k: &Kernel, l: &Layouts, users: &MmUsers, id: LockId) -> Option<LockName> {
    let (m, sl) = (l.memmap.as_ref()?, l.slab.as_ref()?);
    let c = slab::lock_container(
        k.mem(),
        &k.types,
        m,
        sl,
        id.addr,
        id.kind.c_type(),
        |cache| users.aliases_of(k, sl, cache),
    )
    .ok()??;
    let mut text = c.describe();
    // A lock of an inode is known by the file's path (i_rwsem of /tmp/log, ...).
    if let Some(m) = &c.member
        && m.value.inner == "inode"
        && let Some(path) = crate::fs::inode_paths(k, m.value.inner_addr, 1).first()
    {
        let fs_type = crate::sched::read_member(k, m.value.inner_addr, "inode.i_sb")
            .map_or_else(|_| "?".into(), |sb| crate::fs::fs_type(k, sb));
        let last = m.value.path.rsplit('.').next().unwrap_or(&m.value.path);
        text = format!(
            "{last} of {path} ({fs_type} inode {:#x}, {} object {:#x})",
            m.value.inner_addr, c.object.slab.cache_name, c.object.object
        );
    }
    let evidence = match c.member {
        Some(known) => known.evidence,
        None => {
            let mut source = match &c.object.slab.evidence {
                Evidence::Fact { source, .. } => source.clone(),
                e => e.to_string(),
            };
            for n in &c.notes {
                source.push_str("; ");
                source.push_str(n);
            }
            Evidence::fact(source, None)
        }
    };
    Some(LockName { text, evidence })
}
