//! What a kernel address is: a struct page, a direct-map address, a symbol of the kernel or
//! of a module, a task's kernel stack, or none of these (crash's `kmem ADDR`, drgn's
//! `identify_address()`). `holdup page` decodes an address as a struct page only when it is
//! one.

use serde::Serialize;

use super::MemMap;
use super::slab::virt_to_page;
use crate::Kernel;
use crate::sched::Task;

/// What an address is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Identity {
    /// The start of a `struct page` in the vmemmap.
    StructPage {
        #[serde(serialize_with = "crate::locking::hex::u64")]
        #[schemars(with = "crate::locking::hex::Hex")]
        page: u64,
        pfn: u64,
    },
    /// Inside a `struct page`, not at its start.
    InsideStructPage {
        #[serde(serialize_with = "crate::locking::hex::u64")]
        #[schemars(with = "crate::locking::hex::Hex")]
        page: u64,
        pfn: u64,
        offset: u64,
    },
    /// In the direct map of RAM: the data of page frame `pfn`.
    DirectMap { pfn: u64 },
    /// In the kernel image or a module: `symbol+off/size [module]`.
    Symbol {
        symbol: String,
        module: Option<String>,
    },
    /// On the kernel stack of a task.
    TaskStack {
        #[serde(serialize_with = "crate::locking::hex::u64")]
        #[schemars(with = "crate::locking::hex::Hex")]
        task: u64,
        pid: u32,
        comm: String,
        offset: u64,
    },
    /// Below the kernel half of the address space: a user-space address.
    User,
    /// A kernel address holdup cannot place (vmalloc, fixmap, cpu_entry_area, a module's
    /// memory between symbols...).
    Unknown,
}

impl Identity {
    /// One line for a person.
    pub fn describe(&self, addr: u64) -> String {
        match self {
            Identity::StructPage { page, pfn } => format!("{page:#x}: struct page of pfn {pfn}"),
            Identity::InsideStructPage { page, pfn, offset } => format!(
                "{addr:#x} is {offset:#x} bytes into struct page {page:#x} (pfn {pfn}), not a struct page address"
            ),
            Identity::DirectMap { pfn } => {
                format!("{addr:#x} is in the direct map: the data of pfn {pfn}")
            }
            Identity::Symbol { symbol, module } => match module {
                Some(m) => format!("{addr:#x} is {symbol}, in module {m}: not a struct page"),
                None => format!("{addr:#x} is {symbol}, in the kernel image: not a struct page"),
            },
            Identity::TaskStack {
                pid, comm, offset, ..
            } => format!(
                "{addr:#x} is on the kernel stack of {comm} (pid {pid}), {offset:#x} bytes from its base: not a struct page"
            ),
            Identity::User => {
                format!(
                    "{addr:#x} is below the kernel's half of the address space: a user-space address"
                )
            }
            Identity::Unknown => format!(
                "{addr:#x} is a kernel address outside the struct pages, the direct map, the symbols and the task stacks (vmalloc, fixmap, cpu_entry_area...): not a struct page"
            ),
        }
    }
}

/// What `addr` is. `tasks` are searched for a stack holding it.
pub fn identify_address(k: &Kernel, m: &MemMap, tasks: &[Task], addr: u64) -> Identity {
    if !k.mem().is_kernel_pointer(addr, 1) {
        return Identity::User;
    }
    if let Some(off) = addr.checked_sub(m.vmemmap)
        && m.page_size > 0
        && off / m.page_size < m.max_pfn
    {
        let pfn = off / m.page_size;
        let page = m.pfn_to_page(pfn);
        return if addr == page {
            Identity::StructPage { page, pfn }
        } else {
            Identity::InsideStructPage {
                page,
                pfn,
                offset: addr - page,
            }
        };
    }
    if let Some(page) = virt_to_page(m, addr) {
        return Identity::DirectMap {
            pfn: (page - m.vmemmap) / m.page_size.max(1),
        };
    }
    if let Some(t) = tasks
        .iter()
        .find(|t| t.stack != 0 && addr >= t.stack && addr - t.stack < k.thread_size)
    {
        return Identity::TaskStack {
            task: t.task,
            pid: t.pid,
            comm: t.comm.clone(),
            offset: addr - t.stack,
        };
    }
    if k.symbols.resolve(addr).is_some() {
        return Identity::Symbol {
            symbol: k.symbols.format_address(addr),
            module: k.symbols.module_of(addr).map(|m| m.name.clone()),
        };
    }
    Identity::Unknown
}
