//! Filesystems (`fs/super.c`, `fs/namespace.c`, `fs/dcache.c`): the super blocks with their
//! freeze state (`sb->s_writers`), where each is mounted (`sb->s_mounts`), and dentry paths,
//! as drgn's `for_each_super_block()`, `for_each_mount()` and `d_path()` give them.
//!
//! Every walk is bounded and cycle-checked; every name is made printable where it is read.

use crate::Kernel;
use crate::list::list_nodes;
use crate::sched::{offset_of, read_member};
use holdup_kmem::ReadError;

/// Most super blocks and mounts read (a machine has tens to a few thousand).
const MAX_SUPER_BLOCKS: usize = 1 << 16;
const MAX_MOUNTS_PER_SB: usize = 64;
/// Deepest dentry path built.
const MAX_PATH_DEPTH: usize = 256;

/// `SB_FREEZE_*` levels (`include/linux/fs.h`, the same since 3.x): the value of
/// `s_writers.frozen`, and `rw_sem[level - 1]` is the lock of that level.
pub fn freeze_level_name(level: u64) -> &'static str {
    match level {
        0 => "SB_UNFROZEN",
        1 => "SB_FREEZE_WRITE",
        2 => "SB_FREEZE_PAGEFAULT",
        3 => "SB_FREEZE_FS",
        4 => "SB_FREEZE_COMPLETE",
        _ => "an unknown freeze level",
    }
}

/// One mounted filesystem's super block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuperBlock {
    pub addr: u64,
    /// `s_type->name`: `ext4`, `tmpfs`...
    pub fs_type: String,
    /// `s_id`: the device (`vdb`, `dm-0`) or the filesystem's own name.
    pub id: String,
    /// `s_writers.frozen`: [`freeze_level_name`].
    pub frozen: u64,
    /// Address of `s_writers.rw_sem[0]`, and the size of one `percpu_rw_semaphore`.
    pub rw_sem: u64,
    pub rw_sem_size: u64,
    /// How many `rw_sem` levels there are (`SB_FREEZE_LEVELS`).
    pub levels: u64,
    /// Where it is mounted (paths from the root of the mount tree it is in).
    pub mounts: Vec<String>,
}

impl SuperBlock {
    /// `ext4 on vdb mounted at /mnt/frozen` (or `... not mounted`).
    pub fn describe(&self) -> String {
        let at = match self.mounts.as_slice() {
            [] => "not mounted".to_string(),
            [m] => format!("mounted at {m}"),
            [m, rest @ ..] => format!("mounted at {m} and {} more", rest.len()),
        };
        format!("{} on {} {at}", self.fs_type, self.id)
    }

    /// The freeze level whose `percpu_rw_semaphore` is at `addr`, if it is one of this
    /// super block's (level 1 is `rw_sem[0]`).
    pub fn level_of_rw_sem(&self, addr: u64) -> Option<u64> {
        let off = addr.checked_sub(self.rw_sem)?;
        (self.rw_sem_size > 0
            && off % self.rw_sem_size == 0
            && off / self.rw_sem_size < self.levels)
            .then(|| off / self.rw_sem_size + 1)
    }
}

/// Every super block on `super_blocks`, in list order.
pub fn super_blocks(k: &Kernel) -> Result<Vec<SuperBlock>, ReadError> {
    let mem = k.mem();
    let head = k.symbol("super_blocks")?;
    let s_list = offset_of(k, "super_block.s_list")?;
    let s_id = offset_of(k, "super_block.s_id")?;
    let rw_sem = offset_of(k, "super_block.s_writers.rw_sem")?;
    let rw_sem_size = k
        .types
        .sizeof("percpu_rw_semaphore")
        .map_err(|e| crate::locking::missing(format!("percpu_rw_semaphore: {e}")))?;
    let levels = k
        .types
        .member("super_block.s_writers.rw_sem")
        .ok()
        .and_then(|f| k.types.sizeof_id(f.ty).ok())
        .map_or(3, |total| total / rw_sem_size.max(1));
    let (nodes, _) = list_nodes(mem, head, MAX_SUPER_BLOCKS);
    let mut out = Vec::new();
    for node in nodes {
        let sb = node.wrapping_sub(s_list);
        let fs_type = fs_type(k, sb);
        let id = mem.read_cstr(sb.wrapping_add(s_id), 32).unwrap_or_default();
        let frozen = read_member(k, sb, "super_block.s_writers.frozen").unwrap_or(0);
        out.push(SuperBlock {
            addr: sb,
            fs_type,
            id,
            frozen,
            rw_sem: sb.wrapping_add(rw_sem),
            rw_sem_size,
            levels,
            mounts: mounts_of(k, sb),
        });
    }
    Ok(out)
}

/// `sb->s_type->name` (`ext4`, `tmpfs`), or `?`.
pub fn fs_type(k: &Kernel, sb: u64) -> String {
    read_member(k, sb, "super_block.s_type")
        .and_then(|t| read_member(k, t, "file_system_type.name"))
        .and_then(|name| k.mem().read_cstr(name, 64))
        .unwrap_or_else(|_| "?".into())
}

/// Where `sb` is mounted: each `struct mount` on `sb->s_mounts`, as a path.
fn mounts_of(k: &Kernel, sb: u64) -> Vec<String> {
    let (Ok(s_mounts), Ok(instance)) = (
        offset_of(k, "super_block.s_mounts"),
        offset_of(k, "mount.mnt_instance"),
    ) else {
        return Vec::new();
    };
    let (nodes, _) = list_nodes(k.mem(), sb.wrapping_add(s_mounts), MAX_MOUNTS_PER_SB);
    let mut out: Vec<String> = nodes
        .into_iter()
        .filter_map(|n| mount_path(k, n.wrapping_sub(instance)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The path of a mount's mount point: its mount point's dentry path in the parent mount,
/// under the parent's own path, up to a mount that is its own parent (a namespace's root).
pub fn mount_path(k: &Kernel, mount: u64) -> Option<String> {
    // Internal mounts (kern_mount: sockfs, pipefs, bdev...) are in no namespace: their
    // mnt_ns is NULL or MNT_NS_INTERNAL (an error pointer), and they are mounted nowhere.
    let ns = read_member(k, mount, "mount.mnt_ns").ok()?;
    if ns == 0 || ns >= (-4095i64) as u64 {
        return None;
    }
    let mut parts: Vec<String> = Vec::new();
    let mut m = mount;
    for _ in 0..MAX_PATH_DEPTH {
        let parent = read_member(k, m, "mount.mnt_parent").ok()?;
        if parent == m || parent == 0 {
            break;
        }
        let mountpoint = read_member(k, m, "mount.mnt_mountpoint").ok()?;
        // The parent mount's root dentry is where its own paths start.
        let root = offset_of(k, "mount.mnt")
            .ok()
            .and_then(|mnt| read_member(k, parent.wrapping_add(mnt), "vfsmount.mnt_root").ok())?;
        parts.push(dentry_path(k, mountpoint, root)?);
        m = parent;
    }
    let path: String = parts.into_iter().rev().collect::<Vec<_>>().concat();
    Some(if path.is_empty() { "/".into() } else { path })
}

/// `/a/b` for a dentry, walking `d_parent` up to `root` (or a dentry that is its own parent).
pub fn dentry_path(k: &Kernel, dentry: u64, root: u64) -> Option<String> {
    let mut names = Vec::new();
    let mut d = dentry;
    for _ in 0..MAX_PATH_DEPTH {
        if d == root {
            break;
        }
        let parent = read_member(k, d, "dentry.d_parent").ok()?;
        if parent == d {
            break;
        }
        names.push(dentry_name(k, d)?);
        d = parent;
    }
    Some(names.iter().rev().map(|n| format!("/{n}")).collect())
}

/// `d_name.name` of a dentry.
pub fn dentry_name(k: &Kernel, dentry: u64) -> Option<String> {
    let name = read_member(k, dentry, "dentry.d_name.name").ok()?;
    k.mem().read_cstr(name, 256).ok()
}

/// The paths of an inode: one per dentry on `i_dentry` (a hard-linked file has several),
/// each under the mounts of its super block (`/mnt/data/log`), or from its filesystem's root
/// when the super block is not mounted.
pub fn inode_paths(k: &Kernel, inode: u64, limit: usize) -> Vec<String> {
    let (Ok(i_dentry), Ok(alias)) = (
        offset_of(k, "inode.i_dentry"),
        offset_of(k, "dentry.d_u.d_alias"),
    ) else {
        return Vec::new();
    };
    // i_dentry is an hlist: first pointer, then each node's next.
    let mem = k.mem();
    let mut out = Vec::new();
    let mut node = mem.read_u64(inode.wrapping_add(i_dentry)).unwrap_or(0);
    let mut seen = std::collections::HashSet::new();
    let mount = read_member(k, inode, "inode.i_sb")
        .ok()
        .map(|sb| mounts_of(k, sb))
        .and_then(|m| m.into_iter().next())
        .unwrap_or_default();
    while node != 0 && out.len() < limit && seen.insert(node) {
        let dentry = node.wrapping_sub(alias);
        if let Some(p) = dentry_path(k, dentry, 0) {
            let base = mount.trim_end_matches('/');
            let path = format!("{base}{p}");
            out.push(if path.is_empty() { "/".into() } else { path });
        }
        node = mem.read_u64(node).unwrap_or(0);
    }
    out
}
