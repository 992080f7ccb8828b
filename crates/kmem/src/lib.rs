//! Kernel virtual memory of an x86_64 vmcore.
//!
//! The layers above (symbols, types, kernel objects) read the kernel's memory only through
//! [`KernelMemory`]: a read either returns every byte asked for or says exactly which address
//! could not be read and why, so a report can name what it could not see.
//!
//! [`X86_64Memory`] implements it over a dump's physical memory ([`holdup_dump::PhysicalMemory`]);
//! [`KernelDump::open`] opens a dump file and sets everything up from its VMCOREINFO.

mod bulk;
mod kernel_dump;
mod space;
mod x86_64;

pub use bulk::{read_vec_parallel, same_bytes_sampled};
/// Files other than the dump (a vmlinux) are opened and mapped as safely as the dump.
pub use holdup_dump::{MappedFile, OpenOptions as DumpOpenOptions, open_regular_file};
pub use kernel_dump::{KernelDump, OpenError};
pub use space::{AddressSpace, CPU_ENTRY_AREA_BASE, Region};
pub use x86_64::{
    ConfigError, Level, PagingConfig, START_KERNEL_MAP, Translation, Via, WalkStep, X86_64Memory,
    kernel_space_start,
};

use thiserror::Error;

/// Why a kernel virtual address could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReadError {
    /// No page-table entry maps the address (or a table on the way is not present).
    #[error("{vaddr:#x} is not mapped ({detail})")]
    NotMapped { vaddr: u64, detail: String },
    /// The address maps to a physical page the dump does not contain.
    #[error("{vaddr:#x} (physical {paddr:#x}) is not in the dump: {reason}")]
    NotInDump {
        vaddr: u64,
        paddr: u64,
        reason: String,
    },
    /// The dump file itself could not be read or decoded at that place.
    #[error("{vaddr:#x}: {detail}")]
    Corrupt { vaddr: u64, detail: String },
}

impl ReadError {
    /// The virtual address the failed read was about.
    pub fn vaddr(&self) -> u64 {
        match self {
            ReadError::NotMapped { vaddr, .. }
            | ReadError::NotInDump { vaddr, .. }
            | ReadError::Corrupt { vaddr, .. } => *vaddr,
        }
    }
}

/// Reads of kernel virtual memory. Little-endian x86_64.
pub trait KernelMemory: Send + Sync {
    /// Fills `buf` from `vaddr`, or fails naming the first address that could not be read.
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError>;

    /// The lowest kernel address of this address space: the start of the upper canonical
    /// half, which depends on the paging mode (4-level: `0xffff800000000000`, 5-level:
    /// `0xff00000000000000`). A memory that does not know its paging mode (a test's) answers
    /// the lower, 5-level bound.
    fn kernel_space_start(&self) -> u64 {
        x86_64::kernel_space_start(true)
    }

    /// Whether `v` can be a pointer to kernel memory: in the kernel half and aligned to
    /// `align` (a power of two).
    fn is_kernel_pointer(&self, v: u64, align: u64) -> bool {
        v >= self.kernel_space_start() && v & (align - 1) == 0
    }

    /// The region of the kernel's address space holding `v` ([`Region`]). A memory that
    /// does not know its layout (a test's) knows only the kernel half from the user half.
    fn region(&self, v: u64) -> Region {
        if v >= self.kernel_space_start() {
            Region::OtherKernel
        } else {
            Region::NotKernel
        }
    }

    fn read_u8(&self, vaddr: u64) -> Result<u8, ReadError> {
        let mut b = [0u8; 1];
        self.read(vaddr, &mut b)?;
        Ok(b[0])
    }
    fn read_u16(&self, vaddr: u64) -> Result<u16, ReadError> {
        let mut b = [0u8; 2];
        self.read(vaddr, &mut b)?;
        Ok(u16::from_le_bytes(b))
    }
    fn read_u32(&self, vaddr: u64) -> Result<u32, ReadError> {
        let mut b = [0u8; 4];
        self.read(vaddr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn read_u64(&self, vaddr: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read(vaddr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    /// Reads `len` bytes into a new vector. `len` is the caller's bound, not the dump's.
    fn read_vec(&self, vaddr: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        let mut v = vec![0u8; len];
        self.read(vaddr, &mut v)?;
        Ok(v)
    }
    /// Reads a NUL-terminated string of at most `max` bytes, made safe to print
    /// ([`holdup_text::printable`]: invalid UTF-8 replaced, control characters escaped).
    fn read_cstr(&self, vaddr: u64, max: usize) -> Result<String, ReadError> {
        let mut out = Vec::new();
        let mut addr = vaddr;
        while out.len() < max {
            // Stay inside one page per read so a string ending before an unreadable page works.
            let room = (0x1000 - (addr & 0xfff)) as usize;
            let n = room.min(max - out.len()).min(64);
            let mut chunk = vec![0u8; n];
            self.read(addr, &mut chunk)?;
            if let Some(end) = chunk.iter().position(|&c| c == 0) {
                out.extend_from_slice(&chunk[..end]);
                return Ok(holdup_text::printable(&out));
            }
            out.extend_from_slice(&chunk);
            addr += n as u64;
        }
        Ok(holdup_text::printable(&out))
    }
}

impl<T: KernelMemory + ?Sized> KernelMemory for std::sync::Arc<T> {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read(vaddr, buf)
    }
    fn kernel_space_start(&self) -> u64 {
        (**self).kernel_space_start()
    }
    fn region(&self, v: u64) -> Region {
        (**self).region(v)
    }
}

impl<T: KernelMemory + ?Sized> KernelMemory for &T {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        (**self).read(vaddr, buf)
    }
    fn kernel_space_start(&self) -> u64 {
        (**self).kernel_space_start()
    }
    fn region(&self, v: u64) -> Region {
        (**self).region(v)
    }
}

#[cfg(test)]
mod tests;
