//! Memory management objects (`mm/`, `include/linux/mm*.h`): struct pages and folios
//! ([`page`]), the hashed page wait table of `mm/filemap.c` ([`filemap`]), and slab
//! objects with their caches and types ([`slab`]).

pub mod filemap;
pub mod identify;
pub mod page;
pub mod slab;

pub use filemap::{PageWaiter, WaitTable, hash_ptr};
pub use identify::{Identity, identify_address};
pub use page::{LockedPage, MemMap, PageInfo, PageScan};
