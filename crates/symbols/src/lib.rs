//! Kernel symbols: name <-> address, from what the dump itself holds.
//!
//! * [`Kallsyms::from_memory`] decodes the kernel's compressed kallsyms tables, found through
//!   VMCOREINFO's `SYMBOL(kallsyms_*)` entries (kernels >= 6.0), and checks the result by
//!   recomputing `_stext`.
//! * [`SymbolTable::from_vmlinux`] reads a vmlinux's ELF symtab, relocated by `KERNELOFFSET`.
//! * [`SymbolTable::add_modules`] walks the kernel's `modules` list and adds every loaded
//!   module's symbols (member offsets from [`holdup_types::Types`], so 6.1 and 6.4+ layouts
//!   both work).
//!
//! Both sources give one [`SymbolTable`]: exact name lookup, and address to
//! `symbol+0x13c/0x2b0 [module]` like the kernel's `%pS`.
//!
//! The dump is untrusted: counts and sizes are bounded and refused with an error naming the
//! field when absurd.

mod elf;
mod kallsyms;
mod modules;
mod table;

pub use kallsyms::{
    AddressEncoding, Kallsyms, KallsymsAddrs, KallsymsByName, KallsymsIndex, KallsymsTables,
    MAX_KALLSYMS,
};
pub use modules::{MAX_MODULES, ModuleLayout};
pub use table::{Module, Symbol, SymbolOrigin, SymbolRef, SymbolTable, is_kernel_address};

use holdup_kmem::{KernelMemory, ReadError};
use holdup_types::{Btf, TypeError};
use thiserror::Error;

/// Why symbols could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SymbolError {
    /// A VMCOREINFO entry needed for kallsyms is absent (kernel < 6.0, or a truncated note).
    #[error("VMCOREINFO has no {0}: cannot find kallsyms (kernels before 6.0 do not export it)")]
    MissingVmcoreinfo(String),
    /// Reading kernel memory failed.
    #[error("reading {what}: {source}")]
    Read {
        what: String,
        #[source]
        source: ReadError,
    },
    /// A table or structure holds an absurd or inconsistent value; `field` names it.
    #[error("bad {field}: {detail}")]
    Bad { field: String, detail: String },
    /// The decoded `_stext` does not match VMCOREINFO's: the tables were misread.
    #[error(
        "kallsyms self-check failed: VMCOREINFO says _stext = {vmcoreinfo:#x}, decoding gives {}",
        candidates.iter().map(|(e, a)| format!("{a:#x} ({e})")).collect::<Vec<_>>().join(", ")
    )]
    StextMismatch {
        vmcoreinfo: u64,
        candidates: Vec<(AddressEncoding, u64)>,
    },
    /// A vmlinux file could not be used.
    #[error("{path}: {detail}")]
    Elf { path: String, detail: String },
    /// A symbol that must exist does not.
    #[error("no symbol {0:?}")]
    NoSymbol(String),
    /// Type information needed (module layouts) was missing.
    #[error("types: {0}")]
    Types(#[from] TypeError),
}

/// Result of this crate.
pub type Result<T, E = SymbolError> = std::result::Result<T, E>;

pub(crate) fn read_err(what: impl Into<String>) -> impl FnOnce(ReadError) -> SymbolError {
    let what = what.into();
    move |source| SymbolError::Read { what, source }
}

/// Reads up to `want` bytes at `addr`, at least `min`: less when the end is unreadable
/// (halving the length until a read succeeds).
pub(crate) fn read_prefix(
    mem: &dyn KernelMemory,
    addr: u64,
    want: usize,
    min: usize,
) -> std::result::Result<Vec<u8>, holdup_kmem::ReadError> {
    let mut n = want;
    loop {
        match mem.read_vec(addr, n) {
            Ok(v) => return Ok(v),
            Err(e) if n <= min => return Err(e),
            Err(_) => n = (n / 2).max(min),
        }
    }
}

/// Where the kernel's BTF is: the addresses of `__start_BTF` and `__stop_BTF`.
pub fn btf_bounds(symbols: &SymbolTable) -> Result<(u64, u64)> {
    let at = |name: &str| {
        symbols
            .address_of(name)
            .ok_or_else(|| SymbolError::NoSymbol(name.into()))
    };
    Ok((at("__start_BTF")?, at("__stop_BTF")?))
}

/// Reads the kernel's BTF from memory between the `__start_BTF` and `__stop_BTF` symbols.
pub fn kernel_btf(mem: &dyn KernelMemory, symbols: &SymbolTable) -> Result<Btf> {
    let (start, stop) = btf_bounds(symbols)?;
    Ok(Btf::from_memory(mem, start, stop)?)
}
