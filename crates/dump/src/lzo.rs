//! A bounds-checked LZO1X decompressor (the format liblzo2's `lzo1x_1_compress` writes and
//! makedumpfile uses for `-l`).
//!
//! Written here rather than taken from a crate because the input is untrusted: every read and
//! every back-reference is checked, the output never grows past the caller's buffer, and
//! malformed input is an error, never a panic. The instruction decoding follows liblzo2's
//! `lzo1x_d.ch` and Linux's `lib/lzo/lzo1x_decompress_safe.c` (without the LZO-RLE extension).

use std::fmt;

/// Why an LZO1X stream could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzoError {
    /// The stream ended in the middle of an instruction.
    InputOverrun,
    /// The stream decodes to more bytes than the output buffer holds.
    OutputOverrun,
    /// A back-reference points before the start of the output.
    LookBehindOverrun,
    /// Bytes follow the end-of-stream marker.
    InputNotConsumed,
    /// The end-of-stream marker is malformed.
    BadEnd,
}

impl fmt::Display for LzoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LzoError::InputOverrun => "LZO stream truncated",
            LzoError::OutputOverrun => "LZO stream decodes to more than a page",
            LzoError::LookBehindOverrun => "LZO back-reference before start of output",
            LzoError::InputNotConsumed => "LZO stream has bytes after its end marker",
            LzoError::BadEnd => "LZO end marker malformed",
        })
    }
}

struct In<'a> {
    b: &'a [u8],
    p: usize,
}

impl In<'_> {
    fn byte(&mut self) -> Result<usize, LzoError> {
        let v = *self.b.get(self.p).ok_or(LzoError::InputOverrun)?;
        self.p += 1;
        Ok(v as usize)
    }
    fn le16(&mut self) -> Result<usize, LzoError> {
        let lo = self.byte()?;
        let hi = self.byte()?;
        Ok(lo | (hi << 8))
    }
    /// A run of zero bytes followed by a non-zero byte: `255 * zeros + byte`.
    fn long_len(&mut self) -> Result<usize, LzoError> {
        let start = self.p;
        while *self.b.get(self.p).ok_or(LzoError::InputOverrun)? == 0 {
            self.p += 1;
        }
        let zeros = self.p - start;
        let last = self.byte()?;
        Ok(zeros * 255 + last)
    }
}

struct Out<'a> {
    b: &'a mut [u8],
    p: usize,
}

impl Out<'_> {
    fn literals(&mut self, inp: &mut In<'_>, n: usize) -> Result<(), LzoError> {
        let src = inp
            .b
            .get(inp.p..inp.p.checked_add(n).ok_or(LzoError::InputOverrun)?)
            .ok_or(LzoError::InputOverrun)?;
        let dst = self
            .b
            .get_mut(self.p..self.p + n)
            .ok_or(LzoError::OutputOverrun)?;
        dst.copy_from_slice(src);
        inp.p += n;
        self.p += n;
        Ok(())
    }
    fn copy_match(&mut self, dist: usize, len: usize) -> Result<(), LzoError> {
        if dist == 0 || dist > self.p {
            return Err(LzoError::LookBehindOverrun);
        }
        if len > self.b.len() - self.p {
            return Err(LzoError::OutputOverrun);
        }
        // Overlapping copies repeat the pattern, so this goes byte by byte.
        let from = self.p - dist;
        for i in 0..len {
            self.b[self.p + i] = self.b[from + i];
        }
        self.p += len;
        Ok(())
    }
}

/// Decompresses `input` into `out` and returns the number of bytes written.
pub fn decompress(input: &[u8], out: &mut [u8]) -> Result<usize, LzoError> {
    let mut inp = In { b: input, p: 0 };
    let mut op = Out { b: out, p: 0 };
    if input.len() < 3 {
        return Err(LzoError::InputOverrun);
    }
    // `state` is the number of literals the previous instruction copied (4 = "4 or more").
    let mut state: usize = 0;
    if input[0] > 17 {
        inp.p = 1;
        let t = input[0] as usize - 17;
        if t < 4 {
            op.literals(&mut inp, t)?;
            state = t;
        } else {
            op.literals(&mut inp, t)?;
            state = 4;
        }
    }
    loop {
        let t = inp.byte()?;
        let (dist, len, next);
        if t < 16 {
            if state == 0 {
                // Literal run of 4 or more.
                let n = if t == 0 { 15 + inp.long_len()? } else { t } + 3;
                op.literals(&mut inp, n)?;
                state = 4;
                continue;
            } else if state != 4 {
                // M1 after 1..3 literals: 2 bytes from within 1 KiB.
                next = t & 3;
                dist = 1 + (t >> 2) + (inp.byte()? << 2);
                len = 2;
            } else {
                // M1 after a literal run: 3 bytes from 2..3 KiB back.
                next = t & 3;
                dist = 1 + 0x800 + (t >> 2) + (inp.byte()? << 2);
                len = 3;
            }
        } else if t >= 64 {
            // M2: 3..8 bytes within 2 KiB.
            next = t & 3;
            dist = 1 + ((t >> 2) & 7) + (inp.byte()? << 3);
            len = (t >> 5) + 1;
        } else if t >= 32 {
            // M3: within 16 KiB.
            let l = t & 31;
            len = if l == 0 { 31 + inp.long_len()? } else { l } + 2;
            let v = inp.le16()?;
            dist = 1 + (v >> 2);
            next = v & 3;
        } else {
            // M4: 16..48 KiB back, or the end marker.
            let l = t & 7;
            len = if l == 0 { 7 + inp.long_len()? } else { l } + 2;
            let v = inp.le16()?;
            let d = ((t & 8) << 11) + (v >> 2);
            if d == 0 {
                if len != 3 {
                    return Err(LzoError::BadEnd);
                }
                return if inp.p == input.len() {
                    Ok(op.p)
                } else {
                    Err(LzoError::InputNotConsumed)
                };
            }
            dist = d + 0x4000;
            next = v & 3;
        }
        op.copy_match(dist, len)?;
        op.literals(&mut inp, next)?;
        state = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(data: &[u8]) {
        let c = lzokay_native::compress(data).unwrap();
        let mut out = vec![0u8; data.len()];
        let n = decompress(&c, &mut out).unwrap();
        assert_eq!(n, data.len());
        assert_eq!(&out[..], data);
    }

    #[test]
    fn roundtrips() {
        roundtrip(&[0u8; 4096]);
        let text: Vec<u8> = b"the quick brown fox jumps over the lazy dog. "
            .iter()
            .cycle()
            .take(4096)
            .copied()
            .collect();
        roundtrip(&text);
        // Pseudo-random bytes with some structure (incompressible-ish and repeats).
        let mut x: u64 = 0x1234_5678_9abc_def0;
        let mut v = Vec::new();
        for i in 0..4096 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            v.push(if i % 7 < 3 {
                (x >> 24) as u8
            } else {
                (i / 64) as u8
            });
        }
        roundtrip(&v);
        let mut big = Vec::new();
        for i in 0..70000u32 {
            big.extend_from_slice(&(i / 3).to_le_bytes());
        }
        roundtrip(&big);
    }

    #[test]
    fn garbage_never_panics() {
        let mut out = vec![0u8; 4096];
        let mut x: u64 = 88172645463325252;
        for len in 0..400usize {
            let mut v = Vec::with_capacity(len);
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                v.push(x as u8);
            }
            let _ = decompress(&v, &mut out);
        }
        // Truncations of a valid stream fail cleanly.
        let c = lzokay_native::compress(&[7u8; 4096]).unwrap();
        for cut in 0..c.len() {
            assert!(decompress(&c[..cut], &mut out).is_err());
        }
        // Output bound is enforced.
        let mut small = vec![0u8; 100];
        assert_eq!(decompress(&c, &mut small), Err(LzoError::OutputOverrun));
    }
}
