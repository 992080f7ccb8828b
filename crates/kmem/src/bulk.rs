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

/// Whether memory at `vaddr` equals `data` on `samples` (at least 2) pieces of up to 4 KiB
/// spread evenly over it, first and last included: the check that a table read from one dump
/// is the same in another of the same kernel build, without reading it whole.
pub fn same_bytes_sampled(mem: &dyn KernelMemory, vaddr: u64, data: &[u8], samples: usize) -> bool {
    let n = data.len().min(4096);
    let mut buf = vec![0u8; n];
    let samples = samples.max(2);
    (0..samples).all(|k| {
        let off = (data.len() - n) * k / (samples - 1);
        mem.read(vaddr.wrapping_add(off as u64), &mut buf).is_ok() && data[off..off + n] == buf[..]
    })
}
