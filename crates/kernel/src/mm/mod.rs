//! Memory management objects (`mm/`, `include/linux/mm*.h`): struct pages and folios
//! ([`page`]) and the hashed page wait table of `mm/filemap.c` ([`filemap`]).

pub mod filemap;
pub mod page;

pub use filemap::{PageWaiter, WaitTable, hash_ptr};
pub use page::{LockedPage, MemMap, PageInfo, PageScan};
