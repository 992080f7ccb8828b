//! Per-CPU variables and the CPU masks (`include/linux/percpu-defs.h`, `cpumask.h`).

use crate::Kernel;
use holdup_kmem::ReadError;

/// The most CPUs holdup believes a dump; `nr_cpu_ids` above it is treated as corrupt.
pub const MAX_CPUS: u32 = 8192;

/// `nr_cpu_ids`: how many CPU ids the kernel may use.
pub fn nr_cpu_ids(k: &Kernel) -> Result<u32, ReadError> {
    let n = k.mem().read_u32(k.symbol("nr_cpu_ids")?)?;
    if n == 0 || n > MAX_CPUS {
        return Err(ReadError::Corrupt {
            vaddr: k.symbol("nr_cpu_ids")?,
            detail: format!("nr_cpu_ids = {n}"),
        });
    }
    Ok(n)
}

/// `per_cpu_ptr(addr, cpu)`: the address of CPU `cpu`'s copy of the per-CPU variable whose
/// link-time address is `addr`.
pub fn per_cpu_ptr(k: &Kernel, addr: u64, cpu: u32) -> Result<u64, ReadError> {
    let offsets = k.symbol("__per_cpu_offset")?;
    let off = k.mem().read_u64(offsets.wrapping_add(8 * u64::from(cpu)))?;
    Ok(addr.wrapping_add(off))
}

/// The CPUs set in a `struct cpumask` (e.g. `__cpu_online_mask`), below `nr_cpu_ids`.
pub fn cpumask_cpus(k: &Kernel, mask_symbol: &str) -> Result<Vec<u32>, ReadError> {
    let n = nr_cpu_ids(k)?;
    let words = n.div_ceil(64);
    let bytes = k
        .mem()
        .read_vec(k.symbol(mask_symbol)?, words as usize * 8)?;
    Ok((0..n)
        .filter(|&cpu| {
            let w = u64::from_le_bytes(bytes[cpu as usize / 64 * 8..][..8].try_into().unwrap());
            w & (1 << (cpu % 64)) != 0
        })
        .collect())
}

/// `for_each_online_cpu`.
pub fn for_each_online_cpu(k: &Kernel) -> Result<Vec<u32>, ReadError> {
    cpumask_cpus(k, "__cpu_online_mask")
}

/// `for_each_possible_cpu`.
pub fn for_each_possible_cpu(k: &Kernel) -> Result<Vec<u32>, ReadError> {
    cpumask_cpus(k, "__cpu_possible_mask")
}
