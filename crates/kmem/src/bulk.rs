//! Large reads split across threads: a 4 MiB table in a compressed dump is a thousand pages
//! to inflate, and they are independent.

use crate::{KernelMemory, ReadError};
use rayon::prelude::*;

/// Bytes per unit of parallel work (16 pages).
const PIECE: usize = 64 << 10;

/// Reads `len` bytes at `vaddr` like [`KernelMemory::read_vec`], in pieces read in parallel
/// when the read is large. On failure the read is redone in order, so the error names the
/// first address that cannot be read, exactly as a sequential read would.
pub fn read_vec_parallel(
    mem: &dyn KernelMemory,
    vaddr: u64,
    len: usize,
) -> Result<Vec<u8>, ReadError> {
    let mut buf = vec![0u8; len];
    if len < 2 * PIECE || rayon::current_num_threads() < 2 {
        mem.read(vaddr, &mut buf)?;
        return Ok(buf);
    }
    let ok = buf.par_chunks_mut(PIECE).enumerate().all(|(i, piece)| {
        mem.read(vaddr.wrapping_add((i * PIECE) as u64), piece)
            .is_ok()
    });
    if !ok {
        mem.read(vaddr, &mut buf)?;
    }
    Ok(buf)
}
