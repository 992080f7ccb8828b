//! A page cache in front of [`KernelMemory`] for the unwinder: each stack, text and ORC page
//! is read from the dump once, and a failed page keeps its error so it is not retried.

use holdup_kmem::{KernelMemory, ReadError};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

const PAGE: u64 = 4096;

type Page = Result<Rc<[u8; PAGE as usize]>, ReadError>;

/// Pages that stay for the whole run (kernel text, ORC tables) and pages of the task being
/// unwound (its stacks), which [`PageReader::forget_stacks`] drops.
pub(crate) struct PageReader<'a> {
    mem: &'a dyn KernelMemory,
    shared: RefCell<HashMap<u64, Page>>,
    stacks: RefCell<HashMap<u64, Page>>,
}

/// Most pages kept in the shared cache; past it the cache starts over.
const MAX_SHARED_PAGES: usize = 8192;

impl<'a> PageReader<'a> {
    pub(crate) fn new(mem: &'a dyn KernelMemory) -> Self {
        PageReader {
            mem,
            shared: RefCell::new(HashMap::new()),
            stacks: RefCell::new(HashMap::new()),
        }
    }

    /// Drops the stack pages (call between tasks).
    pub(crate) fn forget_stacks(&self) {
        self.stacks.borrow_mut().clear();
    }

    fn page(&self, map: &RefCell<HashMap<u64, Page>>, base: u64) -> Page {
        if let Some(p) = map.borrow().get(&base) {
            return p.clone();
        }
        let mut buf = [0u8; PAGE as usize];
        let p = self.mem.read(base, &mut buf).map(|()| Rc::new(buf));
        let mut m = map.borrow_mut();
        if m.len() >= MAX_SHARED_PAGES {
            m.clear();
        }
        m.insert(base, p.clone());
        p
    }

    fn read_in(
        &self,
        map: &RefCell<HashMap<u64, Page>>,
        addr: u64,
        out: &mut [u8],
    ) -> Result<(), ReadError> {
        let mut done = 0usize;
        while done < out.len() {
            let a = addr.wrapping_add(done as u64);
            let base = a & !(PAGE - 1);
            let off = (a - base) as usize;
            let n = (PAGE as usize - off).min(out.len() - done);
            let page = self.page(map, base)?;
            out[done..done + n].copy_from_slice(&page[off..off + n]);
            done += n;
        }
        Ok(())
    }

    /// Reads text, ORC tables and other long-lived kernel data.
    pub(crate) fn read(&self, addr: u64, out: &mut [u8]) -> Result<(), ReadError> {
        self.read_in(&self.shared, addr, out)
    }

    pub(crate) fn read_u64(&self, addr: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub(crate) fn read_i32(&self, addr: u64) -> Result<i32, ReadError> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(i32::from_le_bytes(b))
    }

    /// Reads a word of a stack.
    pub(crate) fn stack_u64(&self, addr: u64) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.read_in(&self.stacks, addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }
}
