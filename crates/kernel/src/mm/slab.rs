//! Slab objects (`mm/slub.c`, `mm/slab.h`, `mm/slab_common.c`): for an address in the direct
//! map, the slab page, the cache and the object holding it, as drgn's `slab_object_info()`
//! and crash's `kmem -s ADDR` find them; then the object's type and the member at the
//! address, from the cache's name, known when the cache is the type's own and inferred when
//! SLUB merged other caches into it.
//!
//! - [`SlabLayout`]: how this kernel marks a slab page and where `struct slab` and
//!   `struct kmem_cache` keep what is needed, all from BTF (and VMCOREINFO);
//! - [`virt_to_page`], [`virt_to_slab`] ([`slab_page`] from a struct page),
//!   [`slab_object_info`]: the address -> struct page -> folio -> `struct slab` ->
//!   `kmem_cache` -> object;
//! - [`cache_type`]: the struct a cache holds (`signal_cache` -> `signal_struct`), `None` for
//!   the `kmalloc-*` caches, which hold anything;
//! - [`cache_aliases`]: the caches SLUB merged into each cache (the sysfs symlinks under
//!   `/sys/kernel/slab`, read from kernfs);
//! - [`lock_container`]: all of it for a lock: `i_rwsem of inode 0x... (ext4_inode_cache
//!   object 0x...)`.
//!
//! How a slab page is marked changed: `PG_slab` in the folio's flags up to 6.9; a page type in
//! `page->page_type` since, `(page_type & (PAGE_TYPE_BASE | PG_slab)) == PAGE_TYPE_BASE` in
//! 6.10 and 6.11, and `page_type >> 24 == PGTY_slab` (0xf5) since 6.12. The layout says which
//! one this kernel uses, from its BTF (`enum pagetype`, `enum pageflags`) or VMCOREINFO
//! (`PAGE_SLAB_MAPCOUNT_VALUE`, `PG_slab`).
//!
//! SLUB puts object `i` of a slab at `slab_address + i * kmem_cache.size`, its first byte
//! `red_left_pad` further (non-zero only with `SLAB_RED_ZONE`). KFENCE (off on Debian 6.12:
//! `kfence.sample_interval=0`; not built in 6.1) gives each object a page of its own, a slab
//! of one object at either end of the page: such a page is recognised and refused, not
//! decoded. Whether the object is allocated or free (on a freelist) is not looked at.
//!
//! Merged caches: `kmem_cache_create()` reuses an existing cache of the same size (within a
//! word), alignment and merge-relevant flags when neither has a constructor, a usercopy
//! region or a never-merge flag (`find_mergeable()`, `mm/slab_common.c`); the cache keeps the
//! name of the first and counts its users in `refcount`. So when `refcount > 1` the objects
//! may be of any of the merged types, and the name's type is only a guess.

use crate::Kernel;
use crate::locking::{Confidence, Evidence, Known, missing};
use crate::mm::MemMap;
use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::Types;
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// Longest cache name read (`kmem_cache.name`).
const MAX_CACHE_NAME: usize = 64;
/// Most sysfs nodes visited under `/sys/kernel/slab`.
const MAX_SYSFS_NODES: usize = 8192;
/// `PAGE_TYPE_BASE` of 6.10 and 6.11.
const PAGE_TYPE_BASE: u32 = 0xf000_0000;

/// How a slab page is recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SlabTest {
    /// `PG_slab` set in the folio's flags (up to 6.9).
    PageFlag { bit: u32 },
    /// The top byte of the folio's `page_type` is `PGTY_slab` (6.12 and later).
    PageType { offset: u64, value: u8 },
    /// `(page_type & (PAGE_TYPE_BASE | bit)) == PAGE_TYPE_BASE`: a cleared type bit (6.10,
    /// 6.11).
    PageTypeBit { offset: u64, bit: u32 },
}

impl SlabTest {
    /// Whether a folio whose `flags` and `page_type` words are these is a slab.
    pub fn is_slab(self, flags: u64, page_type: u32) -> bool {
        match self {
            SlabTest::PageFlag { bit } => bit < 64 && flags & (1 << bit) != 0,
            SlabTest::PageType { value, .. } => (page_type >> 24) as u8 == value,
            SlabTest::PageTypeBit { bit, .. } => {
                page_type & (PAGE_TYPE_BASE | bit) == PAGE_TYPE_BASE
            }
        }
    }

    fn describe(self) -> String {
        match self {
            SlabTest::PageFlag { bit } => format!("PG_slab (bit {bit}) in folio.flags"),
            SlabTest::PageType { value, .. } => {
                format!("folio.page_type >> 24 == PGTY_slab ({value:#x})")
            }
            SlabTest::PageTypeBit { bit, .. } => {
                format!("PG_slab ({bit:#x}) cleared in folio.page_type")
            }
        }
    }
}

/// Where `struct slab` and `struct kmem_cache` keep what is needed, and how a slab page is
/// marked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SlabLayout {
    pub test: SlabTest,
    /// `slab.slab_cache`.
    pub slab_cache: u64,
    /// `slab.objects` (a bitfield): byte offset, bit in that byte, width.
    pub objects: Option<(u64, u32, u32)>,
    /// `kmem_cache.name`, `.size` (the stride), `.object_size`, `.refcount`.
    pub name: u64,
    pub size: u64,
    pub object_size: u64,
    pub refcount: u64,
    /// `kmem_cache.red_left_pad` (CONFIG_SLUB_DEBUG).
    pub red_left_pad: Option<u64>,
    /// `kmem_cache.kobj` (CONFIG_SYSFS), to tell which cache a sysfs alias names.
    pub kobj: Option<u64>,
}

impl SlabLayout {
    /// From the dump's types and VMCOREINFO.
    pub fn new(k: &Kernel) -> Result<SlabLayout, ReadError> {
        let vi = k.vmcoreinfo();
        SlabLayout::from_types(&k.types, |n| vi.number(n).ok().flatten())
    }

    /// From `t`, with `number` giving VMCOREINFO's `NUMBER(...)` values.
    pub fn from_types(
        t: &Types,
        number: impl Fn(&str) -> Option<i64>,
    ) -> Result<SlabLayout, ReadError> {
        let ty = |e: holdup_types::TypeError| missing(format!("types: {e}"));
        let off = |p: &str| t.offsetof(p).map_err(ty);
        let page_type = || off("page.page_type");
        let test = if let Ok(v) = t.enum_value("pagetype", "PGTY_slab") {
            SlabTest::PageType {
                offset: page_type()?,
                value: u8::try_from(v).map_err(|_| missing(format!("PGTY_slab = {v}")))?,
            }
        } else if let Some(v) = number("PAGE_SLAB_MAPCOUNT_VALUE") {
            let v = v as u32;
            if v & 0x00ff_ffff == 0 {
                SlabTest::PageType {
                    offset: page_type()?,
                    value: (v >> 24) as u8,
                }
            } else {
                SlabTest::PageTypeBit {
                    offset: page_type()?,
                    bit: !v,
                }
            }
        } else if let Ok(v) = t.enum_value("pageflags", "PG_slab") {
            SlabTest::PageFlag {
                bit: u32::try_from(v).map_err(|_| missing(format!("PG_slab = {v}")))?,
            }
        } else if let Some(v) = number("PG_slab") {
            SlabTest::PageFlag {
                bit: u32::try_from(v).map_err(|_| missing(format!("PG_slab = {v}")))?,
            }
        } else {
            return Err(missing(
                "no PGTY_slab, PG_slab or PAGE_SLAB_MAPCOUNT_VALUE: cannot tell a slab page",
            ));
        };
        if let SlabTest::PageFlag { bit } = test
            && bit >= 64
        {
            return Err(missing(format!("PG_slab = {bit}")));
        }
        // `struct slab` overlays the struct page since 5.17; before, the same fields were
        // the struct page's own.
        let slab_member = |m: &str| {
            t.member(&format!("slab.{m}"))
                .or_else(|_| t.member(&format!("page.{m}")))
        };
        let objects = slab_member("objects")
            .ok()
            .and_then(|f| Some((f.offset, f.bit_in_byte(), f.bit_size?)))
            .filter(|&(_, b, w)| b + w <= 32);
        Ok(SlabLayout {
            test,
            slab_cache: slab_member("slab_cache").map_err(ty)?.offset,
            objects,
            name: off("kmem_cache.name")?,
            size: off("kmem_cache.size")?,
            object_size: off("kmem_cache.object_size")?,
            refcount: off("kmem_cache.refcount")?,
            red_left_pad: t.offsetof("kmem_cache.red_left_pad").ok(),
            kobj: t.offsetof("kmem_cache.kobj").ok(),
        })
    }
}

/// `virt_to_page` of an address in the direct map; `None` outside it (or when the dump does
/// not say where the direct map is).
pub fn virt_to_page(m: &MemMap, addr: u64) -> Option<u64> {
    let pfn = addr.checked_sub(m.page_offset?)? >> 12;
    (pfn < m.max_pfn).then(|| m.pfn_to_page(pfn))
}

/// A slab: a folio the slab allocator owns, with its cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SlabPage {
    /// The `struct slab` (the folio's head page).
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub slab: u64,
    /// `slab_address()`: where its first object's slot starts.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub base: u64,
    /// `slab.slab_cache`.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub cache: u64,
    /// `kmem_cache.name`.
    pub cache_name: String,
    /// `kmem_cache.size`: the stride between objects.
    pub size: u32,
    /// `kmem_cache.object_size`: the largest object of the caches sharing it.
    pub object_size: u32,
    /// `kmem_cache.refcount`: how many `kmem_cache_create()` calls share the cache (more
    /// than one: SLUB merged caches into it).
    pub refcount: i32,
    /// `kmem_cache.red_left_pad`: the left red zone before each object (SLAB_RED_ZONE).
    pub red_left_pad: u32,
    /// `slab.objects`: objects in this slab.
    pub objects: Option<u32>,
    /// How it was read.
    pub evidence: Evidence,
}

impl SlabPage {
    /// Whether the cache holds objects of other caches merged into it.
    pub fn is_merged(&self) -> bool {
        self.refcount > 1
    }
}

/// `virt_to_slab` for a struct page: its folio, when that is a slab, with its cache.
/// `Ok(None)` for a page that is not a slab's.
pub fn slab_page(
    mem: &dyn KernelMemory,
    m: &MemMap,
    l: &SlabLayout,
    page: u64,
) -> Result<Option<SlabPage>, ReadError> {
    let head = m.compound_head(mem, page)?;
    let flags = mem.read_u64(head)?;
    let page_type = match l.test {
        SlabTest::PageFlag { .. } => 0,
        SlabTest::PageType { offset, .. } | SlabTest::PageTypeBit { offset, .. } => {
            mem.read_u32(head.wrapping_add(offset))?
        }
    };
    if !l.test.is_slab(flags, page_type) {
        return Ok(None);
    }
    let corrupt = |detail: String| ReadError::Corrupt {
        vaddr: head,
        detail,
    };
    let pfn = m
        .page_to_pfn(head)
        .ok_or_else(|| corrupt(format!("slab {head:#x} is not a struct page")))?;
    let base = m
        .pfn_to_virt(pfn)
        .ok_or_else(|| corrupt("no page_offset_base: cannot place the slab's objects".into()))?;
    let cache = mem.read_u64(head.wrapping_add(l.slab_cache))?;
    if cache == 0 {
        return Err(corrupt(format!("slab {head:#x}: slab_cache is NULL")));
    }
    let name_ptr = mem.read_u64(cache.wrapping_add(l.name))?;
    let cache_name = mem
        .read_cstr(name_ptr, MAX_CACHE_NAME)
        .map_err(|e| corrupt(format!("kmem_cache {cache:#x}: name at {name_ptr:#x}: {e}")))?;
    let size = mem.read_u32(cache.wrapping_add(l.size))?;
    let object_size = mem.read_u32(cache.wrapping_add(l.object_size))?;
    let refcount = mem.read_u32(cache.wrapping_add(l.refcount))? as i32;
    let red_left_pad = match l.red_left_pad {
        Some(o) => mem.read_u32(cache.wrapping_add(o))?,
        None => 0,
    };
    // A slab is at most a few MiB; anything else is not a cache that exists.
    if size == 0 || size > (1 << 24) || object_size > size || red_left_pad >= size {
        return Err(corrupt(format!(
            "kmem_cache {cache:#x} ({cache_name}): size {size}, object_size {object_size}, red_left_pad {red_left_pad}"
        )));
    }
    let objects = match l.objects {
        Some((o, bit, width)) => {
            Some((mem.read_u32(head.wrapping_add(o))? >> bit) & ((1u32 << width) - 1))
        }
        None => None,
    };
    let evidence = Evidence::fact(
        format!(
            "{} of slab {head:#x}; slab.slab_cache = {cache:#x}; kmem_cache.name = {name_ptr:#x} -> {cache_name:?}; size {size}, object_size {object_size}, refcount {refcount}",
            l.test.describe()
        ),
        None,
    );
    Ok(Some(SlabPage {
        slab: head,
        base,
        cache,
        cache_name,
        size,
        object_size,
        refcount,
        red_left_pad,
        objects,
        evidence,
    }))
}

/// `virt_to_slab`: the slab holding an address of the direct map; `Ok(None)` outside the
/// direct map or in a page that is not a slab's.
pub fn virt_to_slab(
    mem: &dyn KernelMemory,
    m: &MemMap,
    l: &SlabLayout,
    addr: u64,
) -> Result<Option<SlabPage>, ReadError> {
    match virt_to_page(m, addr) {
        Some(page) => slab_page(mem, m, l, page),
        None => Ok(None),
    }
}

/// The slab object holding an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SlabObject {
    /// The address asked about.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub addr: u64,
    /// Its struct page.
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub page: u64,
    pub slab: SlabPage,
    /// Index of the object in the slab.
    pub index: u64,
    /// Where the object starts (after its left red zone).
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub object: u64,
    /// `addr - object`.
    pub offset: u64,
}

impl SlabObject {
    /// Whether `addr` is inside the object itself (not in the padding, red zone or free
    /// pointer SLUB may keep after `object_size`).
    pub fn in_object(&self) -> bool {
        self.offset < u64::from(self.slab.object_size)
    }
}

/// `slab_object_info()`: the slab object holding `addr`. `Ok(None)` when `addr` is not in
/// the direct map or not in a slab page; an error names the structure that could not be
/// read or made no sense (an address before the first object or after the last).
pub fn slab_object_info(
    mem: &dyn KernelMemory,
    m: &MemMap,
    l: &SlabLayout,
    addr: u64,
) -> Result<Option<SlabObject>, ReadError> {
    let Some(page) = virt_to_page(m, addr) else {
        return Ok(None);
    };
    let Some(slab) = virt_to_slab(mem, m, l, addr)? else {
        return Ok(None);
    };
    let corrupt = |detail: String| ReadError::Corrupt {
        vaddr: addr,
        detail,
    };
    let rel = addr.checked_sub(slab.base).ok_or_else(|| {
        corrupt(format!(
            "{addr:#x} is before its slab's memory ({:#x})",
            slab.base
        ))
    })?;
    let stride = u64::from(slab.size);
    // KFENCE gives each of its objects a page of its own, marked as a slab of the object's
    // cache holding one object placed at either end of the page; an ordinary slab of small
    // objects always holds several.
    if slab.objects == Some(1) && stride * 2 <= crate::mm::page::PAGE_SIZE {
        return Err(corrupt(format!(
            "slab {:#x} of {} holds one object of {stride} bytes: a KFENCE page, whose object's place is in kfence_metadata (not read)",
            slab.slab, slab.cache_name
        )));
    }
    let index = rel / stride;
    if let Some(n) = slab.objects
        && index >= u64::from(n)
    {
        return Err(corrupt(format!(
            "{addr:#x} is past the last of the {n} objects of slab {:#x} ({})",
            slab.slab, slab.cache_name
        )));
    }
    let object = slab.base + index * stride + u64::from(slab.red_left_pad);
    let offset = addr.checked_sub(object).ok_or_else(|| {
        corrupt(format!(
            "{addr:#x} is in the left red zone of object {object:#x} of {}",
            slab.cache_name
        ))
    })?;
    Ok(Some(SlabObject {
        addr,
        page,
        slab,
        index,
        object,
        offset,
    }))
}

/// Caches whose name is not their struct's. Every other cache named after a struct in the
/// types holds that struct; the `kmalloc-*` caches hold anything.
const CACHE_TYPES: &[(&str, &str)] = &[
    ("signal_cache", "signal_struct"),
    ("sighand_cache", "sighand_struct"),
    ("files_cache", "files_struct"),
    ("fs_cache", "fs_struct"),
    ("filp", "file"),
    ("cred_jar", "cred"),
    ("mnt_cache", "mount"),
    ("inode_cache", "inode"),
    ("ext4_inode_cache", "ext4_inode_info"),
    ("shmem_inode_cache", "shmem_inode_info"),
    ("proc_inode_cache", "proc_inode"),
    ("sock_inode_cache", "socket_alloc"),
    ("bdev_cache", "bdev_inode"),
    ("hugetlbfs_inode_cache", "hugetlbfs_inode_info"),
    ("mqueue_inode_cache", "mqueue_inode_info"),
    ("nfs_inode_cache", "nfs_inode"),
    ("fat_inode_cache", "msdos_inode_info"),
    ("isofs_inode_cache", "iso_inode_info"),
    ("ovl_inode", "ovl_inode"),
    ("kernfs_node_cache", "kernfs_node"),
    ("posix_timers_cache", "k_itimer"),
    ("eventpoll_epi", "epitem"),
    ("eventpoll_pwq", "eppoll_entry"),
    ("file_lock_cache", "file_lock"),
    ("file_lock_ctx", "file_lock_context"),
    ("key_jar", "key"),
    ("skbuff_head_cache", "sk_buff"),
    ("blkdev_ioc", "io_context"),
    ("numa_policy", "mempolicy"),
    ("shared_policy_node", "sp_node"),
    ("ext4_extent_status", "extent_status"),
    ("jbd2_journal_head", "journal_head"),
    ("jbd2_journal_handle", "jbd2_journal_handle"),
    ("UNIX", "unix_sock"),
    ("TCP", "tcp_sock"),
    ("UDP", "udp_sock"),
    ("UDP-Lite", "udp_sock"),
    ("TCPv6", "tcp6_sock"),
    ("UDPv6", "udp6_sock"),
    ("RAW", "raw_sock"),
    ("RAWv6", "raw6_sock"),
    ("PING", "inet_sock"),
    ("NETLINK", "netlink_sock"),
    ("PINGv6", "raw6_sock"),
    ("MPTCP", "mptcp_sock"),
    ("request_sock_TCP", "tcp_request_sock"),
    ("tw_sock_TCP", "tcp_timewait_sock"),
    ("skbuff_fclone_cache", "sk_buff_fclones"),
    ("skbuff_ext_cache", "skb_ext"),
    ("net_namespace", "net"),
    ("radix_tree_node", "xa_node"),
    ("kernfs_iattrs_cache", "kernfs_iattrs"),
    ("userfaultfd_ctx_cache", "userfaultfd_ctx"),
    ("ep_head", "epitems_head"),
    ("ip_fib_alias", "fib_alias"),
    ("ip4-frags", "ipq"),
    ("ip6-frags", "frag_queue"),
    ("xfrm_dst_cache", "xfrm_dst"),
    ("iint_cache", "integrity_iint_cache"),
    ("request_queue_srcu", "request_queue"),
    ("ip6_dst_cache", "rt6_info"),
    ("ip_dst_cache", "rtable"),
    ("uid_cache", "user_struct"),
    ("fasync_cache", "fasync_struct"),
    ("tcp_bind_bucket", "inet_bind_bucket"),
    ("tcp_bind2_bucket", "inet_bind2_bucket"),
    ("inet_peer_cache", "inet_peer"),
    ("fib6_nodes", "fib6_node"),
    ("debugfs_inode_cache", "debugfs_inode_info"),
    ("tracefs_inode_cache", "tracefs_inode"),
    ("squashfs_inode_cache", "squashfs_inode_info"),
    ("f2fs_inode_cache", "f2fs_inode_info"),
    ("rpc_inode_cache", "rpc_inode"),
    ("v9fs_inode_cache", "v9fs_inode"),
];

/// Whether a cache is one of the kmalloc caches (`kmalloc-64`, `kmalloc-cg-1k`,
/// `kmalloc-rcl-128`, `dma-kmalloc-512`, `kmalloc-rnd-03-96`): objects of any type.
pub fn is_kmalloc(name: &str) -> bool {
    name.starts_with("kmalloc-") || name.starts_with("dma-kmalloc-")
}

/// The struct a cache named `name` is made for, when the types have it: from the table of
/// caches named otherwise, else the struct of the same name. `None` for kmalloc caches and
/// names of no struct.
pub fn cache_type(t: &Types, name: &str) -> Option<String> {
    if is_kmalloc(name) {
        return None;
    }
    let ty = CACHE_TYPES
        .iter()
        .find(|(c, _)| *c == name)
        .map_or(name, |(_, s)| s);
    t.try_find(&format!("struct {ty}"))
        .ok()
        .flatten()
        .map(|_| ty.to_string())
}

/// The caches SLUB merged into each cache, by `kmem_cache` address: the symlinks under
/// `/sys/kernel/slab` (`slab_kset`) whose name is not the cache's, read from kernfs.
pub fn cache_aliases(k: &Kernel, l: &SlabLayout) -> Result<HashMap<u64, Vec<String>>, ReadError> {
    let t = &k.types;
    let mem = k.mem();
    let ty = |e: holdup_types::TypeError| missing(format!("types: {e}"));
    let off = |p: &str| t.offsetof(p).map_err(ty);
    let kobj = l
        .kobj
        .ok_or_else(|| missing("kmem_cache has no kobj (no CONFIG_SYSFS)"))?;
    let link = t
        .enumerator("KERNFS_LINK")
        .map_err(ty)
        .and_then(|v| u16::try_from(v).map_err(|_| missing(format!("KERNFS_LINK = {v}"))))?;
    let flags = t.member("kernfs_node.flags").map_err(ty)?;
    let flags_size = t.sizeof_id(flags.ty).map_err(ty)?;
    let (kn_name, kn_flags, kn_rb, kn_children, kn_target, kn_priv) = (
        off("kernfs_node.name")?,
        flags.offset,
        off("kernfs_node.rb")?,
        off("kernfs_node.dir.children")?,
        off("kernfs_node.symlink.target_kn")?,
        off("kernfs_node.priv")?,
    );
    let (rb_left, rb_right) = (off("rb_node.rb_left")?, off("rb_node.rb_right")?);
    let kset = mem.read_u64(k.symbol("slab_kset")?)?;
    if kset == 0 {
        return Err(missing("slab_kset is NULL (SLUB sysfs not set up)"));
    }
    let dir = mem.read_u64(kset.wrapping_add(off("kset.kobj")? + off("kobject.sd")?))?;
    let mut out: HashMap<u64, Vec<String>> = HashMap::new();
    let mut stack = vec![mem.read_u64(dir.wrapping_add(kn_children))?];
    let mut seen = HashSet::new();
    while let Some(rb) = stack.pop() {
        if rb == 0 || !seen.insert(rb) {
            continue;
        }
        if seen.len() > MAX_SYSFS_NODES {
            return Err(ReadError::Corrupt {
                vaddr: dir,
                detail: format!("/sys/kernel/slab has more than {MAX_SYSFS_NODES} entries"),
            });
        }
        stack.push(mem.read_u64(rb.wrapping_add(rb_left))?);
        stack.push(mem.read_u64(rb.wrapping_add(rb_right))?);
        let kn = rb.wrapping_sub(kn_rb);
        let flags = match flags_size {
            2 => u64::from(mem.read_u16(kn.wrapping_add(kn_flags))?),
            4 => u64::from(mem.read_u32(kn.wrapping_add(kn_flags))?),
            n => return Err(missing(format!("kernfs_node.flags of {n} bytes"))),
        };
        if flags & u64::from(link) == 0 {
            continue;
        }
        let target = mem.read_u64(kn.wrapping_add(kn_target))?;
        let cache = mem
            .read_u64(target.wrapping_add(kn_priv))?
            .wrapping_sub(kobj);
        let name = mem.read_cstr(mem.read_u64(kn.wrapping_add(kn_name))?, MAX_CACHE_NAME)?;
        out.entry(cache).or_default().push(name);
    }
    // A symlink named like its cache is the cache's own name (a mergeable cache's directory
    // has a unique `:A-0001152` name and links from every name sharing it).
    let mut aliases = HashMap::new();
    for (cache, mut names) in out {
        let own = mem
            .read_u64(cache.wrapping_add(l.name))
            .and_then(|p| mem.read_cstr(p, MAX_CACHE_NAME))
            .ok();
        names.retain(|n| Some(n) != own.as_ref());
        names.sort();
        if !names.is_empty() {
            aliases.insert(cache, names);
        }
    }
    Ok(aliases)
}

/// A lock's place in its object: the object's type and the member path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct ObjectMember {
    /// The object's struct (`ext4_inode_info`).
    pub ty: String,
    /// The lock's member path from the object's start (`vfs_inode.i_rwsem`).
    pub path: String,
    /// The innermost struct holding the lock (`inode`), and its address.
    pub inner: String,
    #[serde(serialize_with = "crate::locking::hex::u64")]
    #[schemars(with = "crate::locking::hex::Hex")]
    pub inner_addr: u64,
}

/// A lock inside a slab object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LockContainer {
    pub object: SlabObject,
    /// The object's type and the lock's member: a fact when the cache is the type's own, an
    /// inference when caches were merged into it; `None` for kmalloc caches, or when no
    /// candidate type has a lock of that type at that offset.
    pub member: Option<Known<ObjectMember>>,
    /// The caches merged into the object's cache, when it is shared and sysfs could be read.
    pub aliases: Option<Vec<String>>,
    /// Why no member could be named, or anything odd.
    pub notes: Vec<String>,
}

impl LockContainer {
    /// `i_rwsem of inode 0x... (ext4_inode_cache object 0x...)`,
    /// `cred_guard_mutex of signal_struct 0x... (signal_cache object)`, or
    /// `object 0x... of kmalloc-128 +0x10`.
    pub fn describe(&self) -> String {
        let o = &self.object;
        match &self.member {
            Some(m) => {
                let m = &m.value;
                let last = m.path.rsplit('.').next().unwrap_or(&m.path);
                if m.inner_addr == o.object {
                    format!(
                        "{last} of {} {:#x} ({} object)",
                        m.inner, m.inner_addr, o.slab.cache_name
                    )
                } else {
                    format!(
                        "{last} of {} {:#x} ({} object {:#x})",
                        m.inner, m.inner_addr, o.slab.cache_name, o.object
                    )
                }
            }
            None => format!(
                "object {:#x} of {} +{:#x}",
                o.object, o.slab.cache_name, o.offset
            ),
        }
    }
}

/// A member of `c_type` (`struct mutex`) at `offset` of `struct ty` that lies inside the
/// cache's objects; `Err` says why there is none. (`sizeof` is not compared with the objects'
/// size: some structs end in a part sized at boot, e.g. `task_struct` in its FPU state, whose
/// cache is smaller than `sizeof(struct task_struct)`.)
fn member_of(
    t: &Types,
    ty: &str,
    object: u64,
    offset: u64,
    object_size: u32,
    c_type: &str,
) -> Result<ObjectMember, String> {
    let id = t
        .find(&format!("struct {ty}"))
        .map_err(|e| format!("types: {e}"))?;
    let at = t
        .members_at(id, offset)
        .map_err(|e| format!("types: {e}"))?;
    let lock = at
        .iter()
        .find(|m| m.offset == offset && t.resolve(m.ty).is_ok_and(|r| t.type_name(r) == c_type))
        .ok_or_else(|| format!("struct {ty} has no {c_type} at +{offset:#x}"))?;
    if offset.saturating_add(lock.size) > u64::from(object_size) {
        return Err(format!(
            "{ty}.{} ends past the cache's objects ({object_size} bytes)",
            lock.path
        ));
    }
    // The innermost named struct holding it: the last member on the way whose path is a
    // prefix of the lock's (a struct, not an array or a union), else the object itself.
    let (mut inner, mut inner_addr) = (ty.to_string(), object);
    for m in &at {
        let is_prefix = lock
            .path
            .strip_prefix(m.path.as_str())
            .is_some_and(|rest| rest.starts_with('.'));
        if !is_prefix {
            continue;
        }
        if let Ok(r) = t.resolve(m.ty)
            && let Ok(tt) = t.get(r)
            && matches!(tt.kind, holdup_types::TypeKind::Struct { .. })
            && !tt.name.is_empty()
        {
            inner = tt.name.to_string();
            inner_addr = object.wrapping_add(m.offset);
        }
    }
    Ok(ObjectMember {
        ty: ty.to_string(),
        path: lock.path.clone(),
        inner,
        inner_addr,
    })
}

/// The slab object holding the lock of C type `c_type` (`struct rw_semaphore`) at `addr`,
/// and the lock's member in it. `aliases` is asked for the merged caches only when the
/// object's cache is shared. `Ok(None)` when `addr` is not in a slab object.
pub fn lock_container(
    mem: &dyn KernelMemory,
    t: &Types,
    m: &MemMap,
    l: &SlabLayout,
    addr: u64,
    c_type: &str,
    aliases: impl FnOnce(u64) -> Result<Vec<String>, String>,
) -> Result<Option<LockContainer>, ReadError> {
    let Some(object) = slab_object_info(mem, m, l, addr)? else {
        return Ok(None);
    };
    let mut notes = Vec::new();
    let s = &object.slab;
    let mut c = LockContainer {
        member: None,
        aliases: None,
        notes: Vec::new(),
        object: object.clone(),
    };
    if !object.in_object() {
        notes.push(format!(
            "+{:#x} is past the object's {} bytes (SLUB's metadata or padding)",
            object.offset, s.object_size
        ));
        c.notes = notes;
        return Ok(Some(c));
    }
    if is_kmalloc(&s.cache_name) {
        // Caches merged into a kmalloc cache do not make its objects theirs: most are
        // kmalloc()'s, of any type.
        notes.push(format!(
            "{} is a kmalloc cache: its objects have no type",
            s.cache_name
        ));
        c.notes = notes;
        return Ok(Some(c));
    }
    let own = cache_type(t, &s.cache_name);
    let fit = |ty: &str| member_of(t, ty, object.object, object.offset, s.object_size, c_type);
    let slab_fact = match &s.evidence {
        Evidence::Fact { source, .. } => source.clone(),
        e => e.to_string(),
    };
    if !s.is_merged() {
        if let Some(ty) = &own {
            match fit(ty) {
                Ok(member) => {
                    let source = format!(
                        "{slab_fact}: the cache is struct {ty}'s own (not shared); object {:#x} (index {}), {c_type} at +{:#x}: {}",
                        object.object, object.index, object.offset, member.path
                    );
                    c.member = Some(Known::fact(member, source, None))
                }
                Err(why) => notes.push(why),
            }
        }
        c.notes = notes;
        return Ok(Some(c));
    }
    // Shared: the name is the first cache's; the object may be of any merged cache's type.
    let merged = format!(
        "kmem_cache.refcount = {}: SLUB merged {} other cache(s) into {}, which keeps the first one's name; its objects may be of any of their types",
        s.refcount,
        s.refcount - 1,
        s.cache_name
    );
    let alias_names = match aliases(s.cache) {
        Ok(a) => Some(a),
        Err(e) => {
            notes.push(format!("the merged caches are not known: {e}"));
            None
        }
    };
    c.aliases = alias_names.clone();
    // Candidate types: the cache's own name first, then each alias's.
    let mut candidates: Vec<(String, String)> = Vec::new(); // (cache name, struct)
    if let Some(ty) = &own {
        candidates.push((s.cache_name.clone(), ty.clone()));
    }
    for a in alias_names.iter().flatten() {
        if let Some(ty) = cache_type(t, a)
            && !candidates.iter().any(|(_, c)| *c == ty)
        {
            candidates.push((a.clone(), ty));
        }
    }
    let mut fits = Vec::new();
    for (cache, ty) in &candidates {
        match fit(ty) {
            Ok(member) => fits.push((cache.clone(), member)),
            Err(why) => notes.push(why),
        }
    }
    let untyped = alias_names
        .iter()
        .flatten()
        .filter(|a| cache_type(t, a).is_none())
        .cloned()
        .collect::<Vec<_>>();
    if let Some((cache, member)) = fits.first() {
        let mut reasons = vec![
            slab_fact,
            format!(
                "object {:#x} (index {}), the {c_type} at +{:#x}",
                object.object, object.index, object.offset
            ),
            merged,
        ];
        if let Some(a) = &alias_names {
            reasons.push(format!("merged into it (sysfs aliases): {}", a.join(", ")));
        }
        let others: Vec<String> = fits[1..]
            .iter()
            .map(|(_, m)| format!("struct {}", m.ty))
            .collect();
        let named_by = if *cache == s.cache_name {
            "the cache's name".to_string()
        } else {
            format!("the merged cache {cache}")
        };
        let confidence = match (&alias_names, others.is_empty(), untyped.is_empty()) {
            (Some(_), true, true) => {
                reasons.push(format!(
                    "of the types of the caches sharing it, only struct {} ({named_by}) has a {c_type} at +{:#x}",
                    member.ty, object.offset
                ));
                Confidence::HIGH
            }
            (Some(_), true, false) => {
                reasons.push(format!(
                    "struct {} ({named_by}) has a {c_type} at +{:#x}; the type of {} is not known",
                    member.ty,
                    object.offset,
                    untyped.join(", ")
                ));
                Confidence(65)
            }
            (Some(_), false, _) => {
                reasons.push(format!(
                    "struct {} ({named_by}) has a {c_type} at +{:#x}, and so do {}",
                    member.ty,
                    object.offset,
                    others.join(", ")
                ));
                Confidence(45)
            }
            (None, _, _) => {
                reasons.push(format!(
                    "struct {} ({named_by}) has a {c_type} at +{:#x}",
                    member.ty, object.offset
                ));
                Confidence(60)
            }
        };
        c.member = Some(Known::inferred(member.clone(), confidence, reasons));
    }
    c.notes = notes;
    Ok(Some(c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::locking::testmem::FakeMem;

    const VMEMMAP: u64 = 0xffff_ea00_0000_0000;
    const DIRECT: u64 = 0xffff_8880_0000_0000;

    fn memmap() -> MemMap {
        let m = MemMap::for_tests(1024, vec![String::new(); 24]);
        assert_eq!((m.vmemmap, m.page_offset), (VMEMMAP, Some(DIRECT)));
        m
    }

    fn layout(test: SlabTest) -> SlabLayout {
        SlabLayout {
            test,
            slab_cache: 8,
            objects: Some((42, 0, 15)),
            name: 96,
            size: 24,
            object_size: 28,
            refcount: 64,
            red_left_pad: Some(88),
            kobj: None,
        }
    }

    const CACHE: u64 = 0xffff_8880_0010_0000;

    /// A two-page slab at pfn 16 (tail at 17) of a cache of 192-byte objects (stride 256)
    /// holding 30 objects (of the 32 that fit); pfn 20 is an ordinary page.
    fn slab_mem(m: &MemMap, page_type: u32, flags: u64, red: u32) -> FakeMem {
        let mem = FakeMem::new();
        mem.zero(VMEMMAP, 1024 * 64);
        let p = |pfn| m.pfn_to_page(pfn);
        mem.u64(p(16), flags);
        mem.u32(p(16) + 48, page_type);
        mem.u64(p(16) + 8, CACHE);
        mem.u32(p(16) + 40, 0); // inuse:16 = 0, objects:15 at byte 42
        mem.write(p(16) + 42, &30u16.to_le_bytes());
        mem.u64(p(17) + 8, p(16) + 1); // tail page
        mem.zero(CACHE, 256);
        mem.u32(CACHE + 24, 256);
        mem.u32(CACHE + 28, 192);
        mem.u32(CACHE + 64, 1);
        mem.u32(CACHE + 88, red);
        mem.u64(CACHE + 96, CACHE + 200);
        mem.write(CACHE + 200, b"signal_cache\0");
        mem
    }

    #[test]
    fn slab_tests_of_each_kernel() {
        // 6.1: PG_slab = 9 in the flags.
        let t = SlabTest::PageFlag { bit: 9 };
        assert!(t.is_slab(0x17ffffc0000200, 0xffffffff));
        assert!(!t.is_slab(0x17ffffc0000000, 0));
        // 6.12: PGTY_slab << 24 (VMCOREINFO -184549376 = 0xf5000000).
        let t = SlabTest::PageType {
            offset: 48,
            value: 0xf5,
        };
        assert!(t.is_slab(0, 0xf500_0000));
        assert!(t.is_slab(0, 0xf500_0003)); // low bits are the type's own data
        assert!(!t.is_slab(0, 0xf000_0000)); // a buddy page
        assert!(!t.is_slab(0, 0xffff_ffff)); // _mapcount == -1
        // 6.10: ~PG_slab with PG_slab = 0x1000.
        let t = SlabTest::PageTypeBit {
            offset: 48,
            bit: 0x1000,
        };
        assert!(t.is_slab(0, 0xffff_efff));
        assert!(!t.is_slab(0, 0xffff_ffff));
    }

    #[test]
    fn object_of_an_address_in_a_slab() {
        let m = memmap();
        let test = SlabTest::PageType {
            offset: 48,
            value: 0xf5,
        };
        let l = layout(test);
        let mem = slab_mem(&m, 0xf500_0000, 0x40, 0);
        let base = DIRECT + 16 * 4096;
        // In the tail page: object 17 at +0x1100, 0x38 into it.
        let o = slab_object_info(&mem, &m, &l, base + 4096 + 0x138)
            .unwrap()
            .unwrap();
        assert_eq!(o.page, m.pfn_to_page(17));
        assert_eq!(o.slab.slab, m.pfn_to_page(16));
        assert_eq!(o.slab.cache_name, "signal_cache");
        assert_eq!(o.index, 17);
        assert_eq!(o.object, base + 17 * 256);
        assert_eq!(o.offset, 0x38);
        assert!(o.in_object());
        assert_eq!(o.slab.objects, Some(30));
        // In the padding after object_size.
        let o = slab_object_info(&mem, &m, &l, base + 200).unwrap().unwrap();
        assert!(!o.in_object());
        // Past the 30 objects: not an object.
        let e = slab_object_info(&mem, &m, &l, base + 30 * 256).unwrap_err();
        assert!(e.to_string().contains("past the last of the 30"), "{e}");
        // An ordinary page, an address outside the direct map.
        assert_eq!(
            slab_object_info(&mem, &m, &l, DIRECT + 20 * 4096).unwrap(),
            None
        );
        assert_eq!(
            slab_object_info(&mem, &m, &l, 0xffff_ffff_c000_0000).unwrap(),
            None
        );
        assert_eq!(
            slab_object_info(&mem, &m, &l, DIRECT + 4096 * 4096).unwrap(),
            None
        );
        // With a left red zone, objects start red_left_pad into their slot.
        let mem = slab_mem(&m, 0xf500_0000, 0x40, 64);
        let o = slab_object_info(&mem, &m, &l, base + 256 + 64 + 8)
            .unwrap()
            .unwrap();
        assert_eq!((o.object, o.offset), (base + 256 + 64, 8));
        assert!(slab_object_info(&mem, &m, &l, base + 256 + 8).is_err());
    }

    #[test]
    fn flags_test_and_corrupt_caches() {
        let m = memmap();
        let l = layout(SlabTest::PageFlag { bit: 9 });
        let mem = slab_mem(&m, 0, 0x240, 0);
        let base = DIRECT + 16 * 4096;
        assert!(slab_object_info(&mem, &m, &l, base + 8).unwrap().is_some());
        // Not marked: not a slab.
        let mem = slab_mem(&m, 0, 0x40, 0);
        assert_eq!(slab_object_info(&mem, &m, &l, base + 8).unwrap(), None);
        // A stride of 0 is refused, not divided by.
        let mem = slab_mem(&m, 0, 0x240, 0);
        mem.u32(CACHE + 24, 0);
        let e = slab_object_info(&mem, &m, &l, base + 8).unwrap_err();
        assert!(e.to_string().contains("size 0"), "{e}");
        // One small object in a slab: a KFENCE page, refused.
        let mem = slab_mem(&m, 0, 0x240, 0);
        mem.write(m.pfn_to_page(16) + 42, &1u16.to_le_bytes());
        let e = slab_object_info(&mem, &m, &l, base + 8).unwrap_err();
        assert!(e.to_string().contains("KFENCE"), "{e}");
        // No cache.
        let mem = slab_mem(&m, 0, 0x240, 0);
        mem.u64(m.pfn_to_page(16) + 8, 0);
        assert!(slab_object_info(&mem, &m, &l, base + 8).is_err());
    }

    #[test]
    fn kmalloc_caches_have_no_type() {
        assert!(is_kmalloc("kmalloc-64"));
        assert!(is_kmalloc("kmalloc-cg-1k"));
        assert!(is_kmalloc("dma-kmalloc-512"));
        assert!(!is_kmalloc("signal_cache"));
    }
}
