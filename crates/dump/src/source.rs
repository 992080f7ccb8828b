//! The bytes of the dump: a memory-mapped file, or (flattened format) the file a stream of
//! `{offset, size}` records would rebuild, indexed once and read in place.

use std::borrow::Cow;
use std::collections::BTreeMap;

use crate::DumpError;
use crate::mapped::MappedFile;

/// The raw bytes: a memory-mapped file, a file read with `pread` (one that cannot be mapped,
/// such as `/proc/kcore`), or a buffer (tests, [`crate::Dump::from_bytes`]).
pub(crate) enum Backing {
    Mapped(MappedFile),
    /// Reads are one at a time: /proc/kcore of 6.1 reads through a bounce buffer of the open
    /// file, which concurrent preads on one descriptor overwrite (seen as corrupt BTF).
    File {
        file: std::sync::Mutex<std::fs::File>,
        len: u64,
    },
    Bytes(Vec<u8>),
}

impl Backing {
    pub(crate) fn len(&self) -> u64 {
        match self {
            Backing::Mapped(m) => m.len() as u64,
            Backing::File { len, .. } => *len,
            Backing::Bytes(v) => v.len() as u64,
        }
    }

    /// `len` bytes at file offset `off`: borrowed from a mapping or a buffer, read (pread)
    /// from a file that is not mapped.
    pub(crate) fn get(&self, off: u64, len: usize) -> Result<Cow<'_, [u8]>, String> {
        match self {
            Backing::File { .. } => {
                self.check_range(off, len)?;
                let mut buf = vec![0u8; len];
                self.pread(off, &mut buf)?;
                Ok(Cow::Owned(buf))
            }
            _ => self.bytes(off, len).map(Cow::Borrowed),
        }
    }

    /// Fills `buf` from file offset `off`.
    pub(crate) fn read_into(&self, off: u64, buf: &mut [u8]) -> Result<(), String> {
        match self {
            Backing::File { .. } => {
                self.check_range(off, buf.len())?;
                self.pread(off, buf)
            }
            _ => {
                buf.copy_from_slice(self.bytes(off, buf.len())?);
                Ok(())
            }
        }
    }

    fn check_range(&self, off: u64, len: usize) -> Result<(), String> {
        off.checked_add(len as u64)
            .filter(|&e| e <= self.len())
            .map(|_| ())
            .ok_or_else(|| {
                format!(
                    "bytes {off:#x}..+{len:#x} lie beyond the end of the file ({:#x})",
                    self.len()
                )
            })
    }

    fn pread(&self, off: u64, buf: &mut [u8]) -> Result<(), String> {
        use std::os::unix::fs::FileExt;
        let Backing::File { file, .. } = self else {
            unreachable!("pread of a file that is not read with pread")
        };
        let file = file.lock().unwrap_or_else(|e| e.into_inner());
        file.read_exact_at(buf, off).map_err(|e| {
            format!(
                "reading {:#x} bytes at file offset {off:#x}: {e}",
                buf.len()
            )
        })
    }

    /// `len` bytes at file offset `off`; an error for a range past the end or a page the file
    /// could not supply.
    pub(crate) fn bytes(&self, off: u64, len: usize) -> Result<&[u8], String> {
        self.check_range(off, len)?;
        let end = off + len as u64;
        match self {
            Backing::Mapped(m) => m.bytes(off as usize, len),
            Backing::File { .. } => Err(format!(
                "bytes {off:#x}..+{len:#x}: the file is read with pread, not mapped"
            )),
            Backing::Bytes(v) => Ok(&v[off as usize..end as usize]),
        }
    }

    /// Whether file offset `off` lies in a hole of a sparse file.
    pub(crate) fn is_hole(&self, off: u64) -> bool {
        match self {
            Backing::Mapped(m) => m.is_hole(off),
            Backing::File { .. } | Backing::Bytes(_) => false,
        }
    }

    /// Pages of the file that faulted while read (they read as zeros since).
    pub(crate) fn faults(&self) -> usize {
        match self {
            Backing::Mapped(m) => m.faults(),
            Backing::File { .. } | Backing::Bytes(_) => 0,
        }
    }
}

/// One record of a flattened file: `len` bytes meant for `logical`, stored at `file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rec {
    pub logical: u64,
    pub len: u64,
    pub file: u64,
}

/// The logical file of a flattened dump.
pub(crate) struct FlatIndex {
    /// Disjoint, sorted by `logical`. Later records in the stream win where they overlap.
    recs: Vec<Rec>,
    /// End of the rebuilt file (the largest `offset + size`).
    len: u64,
    /// Records in the stream.
    pub(crate) records: usize,
    /// Whether the stream ended without the end marker.
    pub(crate) truncated: bool,
    /// Why the records stopped before the end of the file, when they did.
    pub(crate) damage: Option<String>,
}

/// Empty records (offset 0, size 0) in a row after which the stream is taken to have ended:
/// makedumpfile and QEMU write none, and a file of zeros would otherwise be read 16 bytes at
/// a time as records that say nothing.
const MAX_EMPTY_RECORDS: u32 = 64;

pub(crate) const FLAT_HEADER_SIZE: u64 = 4096;
pub(crate) const FLAT_SIGNATURE: &[u8] = b"makedumpfile";

impl FlatIndex {
    /// Indexes the records of a flattened file (whose 4 KiB header is already checked).
    ///
    /// The records end at the end marker, at the end of the file, or where the file stops
    /// holding records: a hole (a sparse copy, or a file preallocated and never written) or a
    /// run of empty records, which no writer produces; those two are noted in `damage`.
    pub(crate) fn build(file: &Backing) -> Result<FlatIndex, DumpError> {
        let flen = file.len();
        let mut pos = FLAT_HEADER_SIZE;
        let mut stream: Vec<Rec> = Vec::new();
        let mut truncated = true;
        let mut damage = None;
        let mut empty_run = 0u32;
        // Each record consumes at least 16 bytes, so this loop ends within flen/16 steps, and
        // far sooner on a file of zeros (MAX_EMPTY_RECORDS).
        while pos + 16 <= flen {
            if file.is_hole(pos) {
                damage = Some(format!(
                    "the flattened records stop at file offset {pos:#x}: the rest of the file is a hole (no data was written there)"
                ));
                break;
            }
            let h = file.bytes(pos, 16).map_err(DumpError::Malformed)?;
            let off = i64::from_be_bytes(h[..8].try_into().unwrap());
            let size = i64::from_be_bytes(h[8..].try_into().unwrap());
            if off == -1 && size == -1 {
                truncated = false;
                break;
            }
            if off < 0 || size < 0 {
                return Err(DumpError::Malformed(format!(
                    "flattened record at file offset {pos:#x}: negative offset {off} or size {size}"
                )));
            }
            if off == 0 && size == 0 {
                empty_run += 1;
                if empty_run > MAX_EMPTY_RECORDS {
                    let at = pos - 16 * u64::from(MAX_EMPTY_RECORDS);
                    damage = Some(format!(
                        "the flattened records stop at file offset {at:#x}: zeros follow where record headers should be"
                    ));
                    break;
                }
            } else {
                empty_run = 0;
            }
            let data = pos + 16;
            let size = size as u64;
            if size > flen - data {
                return Err(DumpError::Malformed(format!(
                    "flattened record at file offset {pos:#x} claims {size:#x} bytes but only {:#x} remain",
                    flen - data
                )));
            }
            if (off as u64).checked_add(size).is_none() {
                return Err(DumpError::Malformed(format!(
                    "flattened record at file offset {pos:#x}: offset {off:#x} + size overflows"
                )));
            }
            if size > 0 {
                stream.push(Rec {
                    logical: off as u64,
                    len: size,
                    file: data,
                });
            }
            pos = data + size;
        }
        let records = stream.len();
        let recs = resolve_overlaps(stream);
        let len = recs.last().map_or(0, |r| r.logical + r.len);
        Ok(FlatIndex {
            recs,
            len,
            records,
            truncated,
            damage,
        })
    }

    /// The first record that ends after `off`.
    fn find(&self, off: u64) -> usize {
        self.recs.partition_point(|r| r.logical + r.len <= off)
    }
}

/// Turns records in stream order into disjoint records sorted by logical offset, where a later
/// record overrides what an earlier one wrote.
fn resolve_overlaps(stream: Vec<Rec>) -> Vec<Rec> {
    let mut sorted = stream.clone();
    sorted.sort_by_key(|r| r.logical);
    if sorted
        .windows(2)
        .all(|w| w[0].logical + w[0].len <= w[1].logical)
    {
        return sorted;
    }
    // Slow path: paint records in stream order onto a map of disjoint intervals.
    let mut map: BTreeMap<u64, Rec> = BTreeMap::new();
    for r in stream {
        let (start, end) = (r.logical, r.logical + r.len);
        // Intervals that overlap [start, end): the one starting before `start`, and those
        // starting inside.
        let mut hit: Vec<u64> = Vec::new();
        if let Some((&k, v)) = map.range(..start).next_back()
            && v.logical + v.len > start
        {
            hit.push(k);
        }
        hit.extend(map.range(start..end).map(|(&k, _)| k));
        for k in hit {
            let v = map.remove(&k).unwrap();
            let (vs, ve) = (v.logical, v.logical + v.len);
            if vs < start {
                map.insert(
                    vs,
                    Rec {
                        logical: vs,
                        len: start - vs,
                        file: v.file,
                    },
                );
            }
            if ve > end {
                map.insert(
                    end,
                    Rec {
                        logical: end,
                        len: ve - end,
                        file: v.file + (end - vs),
                    },
                );
            }
        }
        map.insert(start, r);
    }
    map.into_values().collect()
}

/// Where the dump's (logical) bytes come from.
pub(crate) struct Source {
    backing: Backing,
    flat: Option<FlatIndex>,
}

impl Source {
    pub(crate) fn plain(backing: Backing) -> Source {
        Source {
            backing,
            flat: None,
        }
    }

    pub(crate) fn flattened(backing: Backing, index: FlatIndex) -> Source {
        Source {
            backing,
            flat: Some(index),
        }
    }

    /// Length of the (logical) file.
    pub(crate) fn len(&self) -> u64 {
        match &self.flat {
            None => self.backing.len(),
            Some(ix) => ix.len,
        }
    }

    /// `len` bytes at logical offset `off`: borrowed when they are contiguous in the file,
    /// copied otherwise. Holes in a flattened file read as zeros (as in the rebuilt file).
    pub(crate) fn get(&self, off: u64, len: usize) -> Result<Cow<'_, [u8]>, String> {
        let Some(ix) = &self.flat else {
            return self.backing.get(off, len);
        };
        off.checked_add(len as u64)
            .filter(|&e| e <= ix.len)
            .ok_or_else(|| {
                format!(
                    "bytes {off:#x}..+{len:#x} lie beyond the end of the file ({:#x})",
                    ix.len
                )
            })?;
        let end = off + len as u64;
        let i = ix.find(off);
        if let Some(r) = ix.recs.get(i)
            && r.logical <= off
            && end <= r.logical + r.len
        {
            return self
                .backing
                .bytes(r.file + (off - r.logical), len)
                .map(Cow::Borrowed);
        }
        // Holes read as zeros, but a hostile record can put the logical end terabytes past
        // the data: never allocate more than the file really holds.
        if len as u64 > self.backing.len() {
            return Err(format!(
                "bytes {off:#x}..+{len:#x} of the flattened file would be mostly holes: more than the {:#x} bytes the file holds",
                self.backing.len()
            ));
        }
        let mut buf = vec![0u8; len];
        self.copy_flat(ix, off, &mut buf)?;
        Ok(Cow::Owned(buf))
    }

    /// Copies logical bytes starting at `off` into `buf`; the caller checked the range.
    fn copy_flat(&self, ix: &FlatIndex, off: u64, buf: &mut [u8]) -> Result<(), String> {
        let end = off + buf.len() as u64;
        let mut i = ix.find(off);
        while let Some(r) = ix.recs.get(i) {
            if r.logical >= end {
                break;
            }
            let s = r.logical.max(off);
            let e = (r.logical + r.len).min(end);
            let from = self
                .backing
                .bytes(r.file + (s - r.logical), (e - s) as usize)?;
            buf[(s - off) as usize..(e - off) as usize].copy_from_slice(from);
            i += 1;
        }
        Ok(())
    }

    /// Pages of the file that faulted while read (see [`crate::Dump::file_faults`]).
    pub(crate) fn faults(&self) -> usize {
        self.backing.faults()
    }

    /// Fills `buf` from logical offset `off`.
    pub(crate) fn read_at(&self, off: u64, buf: &mut [u8]) -> Result<(), String> {
        match &self.flat {
            None => self.backing.read_into(off, buf)?,
            Some(ix) => {
                off.checked_add(buf.len() as u64)
                    .filter(|&e| e <= ix.len)
                    .ok_or_else(|| {
                        format!(
                            "bytes {off:#x}..+{:#x} lie beyond the end of the file ({:#x})",
                            buf.len(),
                            ix.len
                        )
                    })?;
                buf.fill(0);
                self.copy_flat(ix, off, buf)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn flat_file(records: &[(u64, &[u8])], end_marker: bool) -> Vec<u8> {
        let mut f = vec![0u8; 4096];
        f[..12].copy_from_slice(FLAT_SIGNATURE);
        f[16..24].copy_from_slice(&1i64.to_be_bytes());
        f[24..32].copy_from_slice(&1i64.to_be_bytes());
        for (off, data) in records {
            f.extend_from_slice(&(*off as i64).to_be_bytes());
            f.extend_from_slice(&(data.len() as i64).to_be_bytes());
            f.extend_from_slice(data);
        }
        if end_marker {
            f.extend_from_slice(&(-1i64).to_be_bytes());
            f.extend_from_slice(&(-1i64).to_be_bytes());
        }
        f
    }

    #[test]
    fn flat_in_order() {
        let f = flat_file(&[(0, b"hello"), (5, b" world"), (20, b"x")], true);
        let ix = FlatIndex::build(&Backing::Bytes(f.clone())).unwrap();
        assert!(!ix.truncated);
        assert_eq!(ix.records, 3);
        let s = Source::flattened(Backing::Bytes(f), ix);
        assert_eq!(s.len(), 21);
        assert!(matches!(s.get(0, 5).unwrap(), Cow::Borrowed(b"hello")));
        assert_eq!(&s.get(3, 5).unwrap()[..], b"lo wo");
        let mut b = [0xffu8; 11];
        s.read_at(10, &mut b).unwrap();
        assert_eq!(&b, b"d\0\0\0\0\0\0\0\0\0x");
        assert!(s.get(18, 4).is_err());
    }

    #[test]
    fn flat_overlaps_later_wins() {
        let f = flat_file(
            &[(0, b"aaaaaaaaaa"), (3, b"BBB"), (8, b"CCCC"), (0, b"d")],
            false,
        );
        let ix = FlatIndex::build(&Backing::Bytes(f.clone())).unwrap();
        assert!(ix.truncated);
        let s = Source::flattened(Backing::Bytes(f), ix);
        assert_eq!(&s.get(0, 12).unwrap()[..], b"daaBBBaaCCCC");
    }

    #[test]
    fn flat_rejects_bad_sizes() {
        let mut f = flat_file(&[(0, b"abc")], true);
        // Make the first record claim far more than the file holds.
        f[4096 + 8..4096 + 16].copy_from_slice(&(1i64 << 40).to_be_bytes());
        assert!(FlatIndex::build(&Backing::Bytes(f.clone())).is_err());
        let mut f = flat_file(&[(0, b"abc")], true);
        f[4096..4096 + 8].copy_from_slice(&(-5i64).to_be_bytes());
        assert!(FlatIndex::build(&Backing::Bytes(f.clone())).is_err());
    }
}
