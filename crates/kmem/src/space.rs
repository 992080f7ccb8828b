//! What a kernel address is: which region of the x86_64 kernel address space
//! (`Documentation/arch/x86/x86_64/mm.rst`) holds it, for 4- and 5-level paging.
//!
//! The regions KASLR moves (the direct map, vmalloc and vmemmap) start where the kernel says:
//! `page_offset_base`, `vmalloc_base`, `vmemmap_base`, read through its symbols by the layer
//! above and told to the memory ([`crate::X86_64Memory::set_region_bases`]). KASLR keeps
//! their order, so each one ends where the next begins, and vmemmap where the fixed part of
//! the address space starts (`cpu_entry_area`). The fixed regions are the same in both paging
//! modes: the kernel image at `__START_KERNEL_map` for `KERNEL_IMAGE_SIZE` (VMCOREINFO),
//! modules after it up to the fixmap.

use crate::START_KERNEL_MAP;

/// `CPU_ENTRY_AREA_BASE` (also the end of the vmemmap region) in both paging modes.
pub const CPU_ENTRY_AREA_BASE: u64 = 0xffff_fe00_0000_0000;
/// The end of the cpu_entry_area region (`CPU_ENTRY_AREA_MAP_SIZE`: half a TB).
const CPU_ENTRY_AREA_END: u64 = 0xffff_fe80_0000_0000;
/// `MODULES_END`: where the fixmap area begins.
const MODULES_END: u64 = 0xffff_ffff_ff00_0000;

/// A region of the kernel's address space.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Region {
    /// The direct map of all physical memory (`page_offset_base`): slab objects, page
    /// tables, `task_struct`s.
    DirectMap,
    /// vmalloc and ioremap space (`vmalloc_base`): vmalloc'd kernel stacks, large buffers.
    Vmalloc,
    /// The `struct page` array (`vmemmap_base`).
    Vmemmap,
    /// The per-CPU entry areas (GDT, TSS, entry stacks).
    CpuEntryArea,
    /// The kernel image (text, data, bss), from `__START_KERNEL_map`.
    KernelImage,
    /// Loadable modules' text and data.
    Modules,
    /// The fixmap and the vsyscall page.
    Fixmap,
    /// The kernel half, but in none of these (a gap, the LDT remap, the EFI region, KASAN
    /// shadow...), or in a region whose base is not known yet.
    OtherKernel,
    /// Not a kernel address: the user half or non-canonical.
    NotKernel,
}

impl Region {
    pub fn as_str(self) -> &'static str {
        match self {
            Region::DirectMap => "direct map",
            Region::Vmalloc => "vmalloc",
            Region::Vmemmap => "vmemmap",
            Region::CpuEntryArea => "cpu_entry_area",
            Region::KernelImage => "kernel image",
            Region::Modules => "modules",
            Region::Fixmap => "fixmap",
            Region::OtherKernel => "kernel (other)",
            Region::NotKernel => "not a kernel address",
        }
    }
}

/// Where the regions of one dump's kernel address space are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressSpace {
    /// `kernel_space_start`: the upper canonical half for the paging mode.
    pub kernel_start: u64,
    /// `page_offset_base`, `vmalloc_base`, `vmemmap_base`; 0 while unknown.
    pub page_offset: u64,
    pub vmalloc: u64,
    pub vmemmap: u64,
    /// `KERNEL_IMAGE_SIZE`.
    pub kernel_image_size: u64,
}

impl AddressSpace {
    /// The region holding `v`.
    pub fn region(&self, v: u64) -> Region {
        if v < self.kernel_start {
            return Region::NotKernel;
        }
        let image_end = START_KERNEL_MAP.saturating_add(self.kernel_image_size);
        match v {
            _ if v >= MODULES_END => Region::Fixmap,
            _ if v >= image_end => Region::Modules,
            _ if v >= START_KERNEL_MAP => Region::KernelImage,
            _ if v >= CPU_ENTRY_AREA_END => Region::OtherKernel,
            _ if v >= CPU_ENTRY_AREA_BASE => Region::CpuEntryArea,
            _ => self.randomized_region(v),
        }
    }

    /// Below the cpu_entry_area: the KASLR'd regions, each up to the next one's base. Only
    /// when all three bases are known and in KASLR's order: a missing one would make its
    /// addresses look like the region below it.
    fn randomized_region(&self, v: u64) -> Region {
        let (po, vm, vmm) = (self.page_offset, self.vmalloc, self.vmemmap);
        if po == 0 || !(po < vm && vm < vmm && vmm < CPU_ENTRY_AREA_BASE) {
            return Region::OtherKernel;
        }
        match v {
            _ if v >= vmm => Region::Vmemmap,
            _ if v >= vm => Region::Vmalloc,
            _ if v >= po => Region::DirectMap,
            _ => Region::OtherKernel,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(five_level: bool) -> AddressSpace {
        let (po, vm, vmm) = if five_level {
            (
                0xff11_0000_0000_0000,
                0xffa0_0000_0000_0000,
                0xffd4_0000_0000_0000,
            )
        } else {
            (
                0xffff_8880_0000_0000,
                0xffff_c900_0000_0000,
                0xffff_ea00_0000_0000,
            )
        };
        AddressSpace {
            kernel_start: crate::kernel_space_start(five_level),
            page_offset: po,
            vmalloc: vm,
            vmemmap: vmm,
            kernel_image_size: 1 << 30,
        }
    }

    #[test]
    fn every_region_in_both_paging_modes() {
        for five in [false, true] {
            let s = space(five);
            assert_eq!(s.region(s.page_offset + 0x1000), Region::DirectMap);
            assert_eq!(s.region(s.vmalloc + 0x4000), Region::Vmalloc);
            assert_eq!(s.region(s.vmemmap + 64), Region::Vmemmap);
            assert_eq!(s.region(0xffff_fe00_0000_1000), Region::CpuEntryArea);
            assert_eq!(s.region(0xffff_ffff_8100_0000), Region::KernelImage);
            assert_eq!(s.region(0xffff_ffff_c02e_81c0), Region::Modules);
            assert_eq!(s.region(0xffff_ffff_ff60_0000), Region::Fixmap);
            assert_eq!(s.region(0x7fff_ffff_f000), Region::NotKernel);
            assert_eq!(s.region(s.kernel_start - 1), Region::NotKernel);
            assert_eq!(s.region(s.kernel_start), Region::OtherKernel);
        }
        // 5-level's kernel half starts lower: its direct map is no kernel address on 4-level.
        assert_eq!(
            space(false).region(0xff11_0000_0000_1000),
            Region::NotKernel
        );
    }

    #[test]
    fn unknown_or_disordered_bases_say_so() {
        let mut s = space(false);
        s.vmalloc = 0;
        // Without vmalloc_base nothing says where the direct map ends: not guessed.
        assert_eq!(s.region(0xffff_c900_0000_4000), Region::OtherKernel);
        assert_eq!(s.region(0xffff_8880_0000_1000), Region::OtherKernel);
        // The fixed regions need no base.
        assert_eq!(s.region(0xffff_ffff_8100_0000), Region::KernelImage);
        let mut s = space(false);
        s.vmalloc = 0xffff_f000_0000_0000; // above vmemmap: not KASLR's order
        assert_eq!(s.region(0xffff_c900_0000_4000), Region::OtherKernel);
    }
}
