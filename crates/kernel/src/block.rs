//! Block devices (`block/`, `drivers/md/dm*.c`): the disk behind a super block or a bio, and
//! whether it is a device-mapper device that is suspended, so that I/O queued to it never
//! completes until it is resumed.

use crate::Kernel;
use crate::sched::read_member;

/// `DMF_BLOCK_IO_FOR_SUSPEND` and `DMF_SUSPENDED` (`drivers/md/dm-core.h`: bit numbers of
/// `mapped_device.flags`, unchanged since 2.6.x).
const DMF_BLOCK_IO_FOR_SUSPEND: u64 = 0;
const DMF_SUSPENDED: u64 = 1;

/// A disk and, for a device-mapper device, its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// `gendisk.disk_name`: `vdb`, `dm-0`.
    pub name: String,
    pub gendisk: u64,
    /// For a dm device: `mapped_device.name` and `.flags`.
    pub dm: Option<DmDevice>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmDevice {
    pub md: u64,
    pub name: String,
    pub flags: u64,
}

impl DmDevice {
    pub fn suspended(&self) -> bool {
        self.flags & (1 << DMF_SUSPENDED) != 0
    }

    pub fn blocks_io(&self) -> bool {
        self.flags & (1 << DMF_BLOCK_IO_FOR_SUSPEND) != 0
    }

    /// `DMF_BLOCK_IO_FOR_SUSPEND|DMF_SUSPENDED` for the flags set among those two.
    pub fn state_flags(&self) -> String {
        let mut v = Vec::new();
        if self.blocks_io() {
            v.push("DMF_BLOCK_IO_FOR_SUSPEND");
        }
        if self.suspended() {
            v.push("DMF_SUSPENDED");
        }
        if v.is_empty() {
            "none".into()
        } else {
            v.join("|")
        }
    }
}

impl Disk {
    /// `dm-0 (device-mapper stockdm, suspended)`, or `vdb`.
    pub fn describe(&self) -> String {
        match &self.dm {
            Some(dm) => format!(
                "{} (device-mapper {}{})",
                self.name,
                dm.name,
                if dm.suspended() { ", suspended" } else { "" }
            ),
            None => self.name.clone(),
        }
    }
}

/// The disk of a `struct gendisk`.
pub fn disk(k: &Kernel, gendisk: u64) -> Option<Disk> {
    let off = k.types.offsetof("gendisk.disk_name").ok()?;
    let name = k.mem().read_cstr(gendisk.wrapping_add(off), 32).ok()?;
    // A dm disk's operations are dm_blk_dops and its private_data the mapped_device.
    let fops = read_member(k, gendisk, "gendisk.fops").ok()?;
    let is_dm = k
        .symbols
        .resolve(fops)
        .is_some_and(|r| r.offset == 0 && r.symbol.name == "dm_blk_dops");
    let dm = if is_dm {
        // struct mapped_device is dm_mod's own type: in the module's BTF.
        k.load_module_types();
        let md = read_member(k, gendisk, "gendisk.private_data").ok()?;
        let flags = read_member(k, md, "mapped_device.flags").ok()?;
        // The name `dmsetup` knows is in dm-ioctl's hash cell (md->interface_ptr), as
        // dm_copy_name_and_uuid() reads it; mapped_device.name is only "MAJOR:MINOR".
        let name = read_member(k, md, "mapped_device.interface_ptr")
            .ok()
            .filter(|&hc| hc != 0)
            .and_then(|hc| read_member(k, hc, "hash_cell.name").ok())
            .and_then(|n| k.mem().read_cstr(n, 128).ok())
            .or_else(|| {
                let off = k.types.offsetof("mapped_device.name").ok()?;
                k.mem().read_cstr(md.wrapping_add(off), 16).ok()
            })?;
        Some(DmDevice { md, name, flags })
    } else {
        None
    };
    Some(Disk { name, gendisk, dm })
}

/// The disk under a super block (`s_bdev->bd_disk`), for filesystems on a block device.
pub fn disk_of_super_block(k: &Kernel, sb: u64) -> Option<Disk> {
    disk_of_bdev(k, read_member(k, sb, "super_block.s_bdev").ok()?)
}

/// The disk of a `struct block_device` (`bd_disk`).
pub fn disk_of_bdev(k: &Kernel, bdev: u64) -> Option<Disk> {
    if bdev == 0 {
        return None;
    }
    disk(k, read_member(k, bdev, "block_device.bd_disk").ok()?)
}
