//! Kernel memory made of the fuzz input: the bytes mapped at one address, nothing else.

use holdup_kmem::{KernelMemory, ReadError};

/// `data` mapped at `base`; every other address is unmapped.
pub struct SliceMem<'a> {
    pub base: u64,
    pub data: &'a [u8],
}

impl SliceMem<'_> {
    /// The address of byte `off` of the input.
    pub fn addr(&self, off: u64) -> u64 {
        self.base.wrapping_add(off)
    }
}

impl KernelMemory for SliceMem<'_> {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let unmapped = |vaddr| ReadError::NotMapped {
            vaddr,
            detail: "outside the fuzz input".into(),
        };
        let Some(off) = vaddr.checked_sub(self.base) else {
            return Err(unmapped(vaddr));
        };
        let len = self.data.len() as u64;
        if off >= len {
            return Err(unmapped(vaddr));
        }
        let end = off.saturating_add(buf.len() as u64);
        if end > len {
            // What a real dump does: the first unreadable byte is the one reported.
            return Err(unmapped(self.base + len));
        }
        buf.copy_from_slice(&self.data[off as usize..end as usize]);
        Ok(())
    }
}

/// Reads a little-endian u32 at `off` of `data`, 0 past its end.
pub fn le32(data: &[u8], off: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(s) = data.get(off..off + 4) {
        b.copy_from_slice(s);
    }
    u32::from_le_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_only() {
        let m = SliceMem {
            base: 0x1000,
            data: &[1, 2, 3, 4],
        };
        assert_eq!(m.read_u16(0x1001).unwrap(), 0x0302);
        assert!(m.read_u32(0x1001).is_err());
        assert!(m.read_u8(0xfff).is_err());
        assert!(m.read_u8(u64::MAX).is_err());
    }
}
