//! The kernel log, read from the lockless printk ring buffer of 5.10+ kernels
//! (`kernel/printk/printk_ringbuffer.[ch]`), as `dmesg` and crash's `log` show it.
//!
//! The layout comes from the `OFFSET()`/`SIZE()` entries the kernel itself puts in VMCOREINFO
//! for exactly this purpose, so the log can be read with no types at all.

use holdup_kmem::{KernelMemory, ReadError};
use serde::Serialize;

/// Descriptor states, the top two bits of `prb_desc.state_var`.
const DESC_SV_BITS: u32 = 64;
const DESC_FLAGS_SHIFT: u32 = DESC_SV_BITS - 2;
const DESC_ID_MASK: u64 = !(3u64 << DESC_FLAGS_SHIFT);
const DESC_COMMITTED: u64 = 1;
const DESC_FINALIZED: u64 = 2;

/// Upper bounds on what a dump may claim; the kernel's own limits are far below them
/// (`LOG_BUF_SHIFT` is at most 25, descriptors 2^(shift-5)).
const MAX_DESC_COUNT_BITS: u32 = 22;
const MAX_DATA_SIZE_BITS: u32 = 28;
/// Unreadable records listed one by one; the rest are counted.
const MAX_SKIPPED_SHOWN: usize = 64;
/// Unreadable records in a row after which the ring is given up on.
const MAX_FAILED_IN_A_ROW: u64 = 4096;

/// Where the fields of the ring buffer structures are, in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrintkLayout {
    pub rb_desc_ring: u64,
    pub rb_text_data_ring: u64,
    pub desc_ring_count_bits: u64,
    pub desc_ring_descs: u64,
    pub desc_ring_infos: u64,
    pub desc_ring_head_id: u64,
    pub desc_ring_tail_id: u64,
    pub desc_size: u64,
    pub desc_state_var: u64,
    pub desc_text_blk_lpos: u64,
    pub lpos_begin: u64,
    pub lpos_next: u64,
    pub info_size: u64,
    pub info_seq: u64,
    pub info_ts_nsec: u64,
    pub info_text_len: u64,
    /// The byte holding `flags:5` and `level:3`. VMCOREINFO does not describe it; the
    /// struct has had it right after `u8 facility`, two bytes past `text_len`, since 5.10.
    pub info_flags_level: u64,
    pub info_caller_id: u64,
    pub data_ring_size_bits: u64,
    pub data_ring_data: u64,
    pub atomic_long_counter: u64,
}

/// What is missing to read the log.
#[derive(Debug, thiserror::Error)]
pub enum PrintkError {
    #[error("VMCOREINFO has no {0}: the kernel predates the lockless ring buffer (5.10)")]
    MissingLayout(String),
    #[error("cannot read the printk ring buffer: {0}")]
    Read(#[from] ReadError),
    #[error(
        "the printk ring buffer at {addr:#x} claims {what} = {value}, more than any kernel uses"
    )]
    Absurd {
        addr: u64,
        what: &'static str,
        value: u64,
    },
}

impl PrintkLayout {
    /// Builds the layout from VMCOREINFO entries; `lookup` answers keys such as
    /// `OFFSET(printk_info.seq)` or `SIZE(prb_desc)`.
    pub fn from_vmcoreinfo(lookup: impl Fn(&str) -> Option<i64>) -> Result<Self, PrintkError> {
        let get = |key: &str| -> Result<u64, PrintkError> {
            lookup(key)
                .and_then(|v| u64::try_from(v).ok())
                .ok_or_else(|| PrintkError::MissingLayout(key.to_string()))
        };
        let info_text_len = get("OFFSET(printk_info.text_len)")?;
        Ok(PrintkLayout {
            rb_desc_ring: get("OFFSET(printk_ringbuffer.desc_ring)")?,
            rb_text_data_ring: get("OFFSET(printk_ringbuffer.text_data_ring)")?,
            desc_ring_count_bits: get("OFFSET(prb_desc_ring.count_bits)")?,
            desc_ring_descs: get("OFFSET(prb_desc_ring.descs)")?,
            desc_ring_infos: get("OFFSET(prb_desc_ring.infos)")?,
            desc_ring_head_id: get("OFFSET(prb_desc_ring.head_id)")?,
            desc_ring_tail_id: get("OFFSET(prb_desc_ring.tail_id)")?,
            desc_size: get("SIZE(prb_desc)")?,
            desc_state_var: get("OFFSET(prb_desc.state_var)")?,
            desc_text_blk_lpos: get("OFFSET(prb_desc.text_blk_lpos)")?,
            lpos_begin: get("OFFSET(prb_data_blk_lpos.begin)")?,
            lpos_next: get("OFFSET(prb_data_blk_lpos.next)")?,
            info_size: get("SIZE(printk_info)")?,
            info_seq: get("OFFSET(printk_info.seq)")?,
            info_ts_nsec: get("OFFSET(printk_info.ts_nsec)")?,
            info_text_len,
            info_flags_level: info_text_len.saturating_add(3),
            info_caller_id: get("OFFSET(printk_info.caller_id)")?,
            data_ring_size_bits: get("OFFSET(prb_data_ring.size_bits)")?,
            data_ring_data: get("OFFSET(prb_data_ring.data)")?,
            atomic_long_counter: lookup("OFFSET(atomic_long_t.counter)")
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(0),
        })
    }
}

/// One record of the log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LogRecord {
    pub seq: u64,
    /// Nanoseconds since boot (`local_clock()`).
    pub ts_nsec: u64,
    /// The console log level, 0 (emerg) to 7 (debug).
    pub level: u8,
    /// A task's pid, or `0x80000000 | cpu` when logged outside task context.
    pub caller_id: u32,
    pub text: String,
}

impl LogRecord {
    /// The record as dmesg and crash's `log` print it: `[    1.234567] text`, the lines after
    /// the first of a multi-line record indented under the text (the console repeats the
    /// prefix instead).
    pub fn to_dmesg_line(&self) -> String {
        let prefix = format!(
            "[{:5}.{:06}] ",
            self.ts_nsec / 1_000_000_000,
            (self.ts_nsec % 1_000_000_000) / 1000
        );
        // The lines after the first of a record are indented under its text, as dmesg and
        // crash's `log` print them.
        let indent = " ".repeat(prefix.len());
        let mut out = String::with_capacity(prefix.len() + self.text.len());
        for (i, line) in self.text.split('\n').enumerate() {
            if i > 0 {
                out.push('\n');
                out.push_str(&indent);
            } else {
                out.push_str(&prefix);
            }
            out.push_str(line);
        }
        out
    }
}

/// The log, and what could not be read of it.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Log {
    pub records: Vec<LogRecord>,
    /// Records skipped: unreadable, or in a state that cannot be trusted, with the reason.
    pub skipped: Vec<String>,
}

/// Reads every finalized or committed record of the ring buffer at `rb` (the value of the
/// kernel's `prb` pointer), oldest first.
pub fn read_log(
    mem: &dyn KernelMemory,
    rb: u64,
    layout: &PrintkLayout,
) -> Result<Log, PrintkError> {
    // Addresses and offsets come from the dump: wrap rather than overflow (a wrapped
    // address just fails to read).
    let desc_ring = rb.wrapping_add(layout.rb_desc_ring);
    let data_ring = rb.wrapping_add(layout.rb_text_data_ring);
    let count_bits = mem.read_u32(desc_ring.wrapping_add(layout.desc_ring_count_bits))?;
    if count_bits > MAX_DESC_COUNT_BITS {
        return Err(PrintkError::Absurd {
            addr: rb,
            what: "desc_ring.count_bits",
            value: count_bits.into(),
        });
    }
    let size_bits = mem.read_u32(data_ring.wrapping_add(layout.data_ring_size_bits))?;
    if size_bits > MAX_DATA_SIZE_BITS {
        return Err(PrintkError::Absurd {
            addr: rb,
            what: "text_data_ring.size_bits",
            value: size_bits.into(),
        });
    }
    let descs = mem.read_u64(desc_ring.wrapping_add(layout.desc_ring_descs))?;
    let infos = mem.read_u64(desc_ring.wrapping_add(layout.desc_ring_infos))?;
    let data = mem.read_u64(data_ring.wrapping_add(layout.data_ring_data))?;
    let head_id = mem.read_u64(
        desc_ring
            .wrapping_add(layout.desc_ring_head_id)
            .wrapping_add(layout.atomic_long_counter),
    )?;
    let tail_id = mem.read_u64(
        desc_ring
            .wrapping_add(layout.desc_ring_tail_id)
            .wrapping_add(layout.atomic_long_counter),
    )?;

    let ring = Ring {
        mem,
        layout,
        descs,
        infos,
        count: 1u64 << count_bits,
        data: Region::read(mem, data, 1usize << size_bits),
        size_bits,
    };
    let mut log = Log::default();
    let mut id = tail_id & DESC_ID_MASK;
    let head_id = head_id & DESC_ID_MASK;
    // At most one lap of the descriptor ring, whatever the ids claim; a ring whose records
    // all fail to read (a corrupted pointer) is given up on, and only the first failures
    // are kept.
    let (mut failed, mut failed_in_a_row) = (0u64, 0u64);
    for _ in 0..ring.count {
        match ring.record(id) {
            Ok(Some(record)) => {
                log.records.push(record);
                failed_in_a_row = 0;
            }
            Ok(None) => failed_in_a_row = 0,
            Err(e) => {
                failed += 1;
                failed_in_a_row += 1;
                if log.skipped.len() < MAX_SKIPPED_SHOWN {
                    log.skipped.push(format!("record id {id}: {e}"));
                }
                if failed_in_a_row >= MAX_FAILED_IN_A_ROW {
                    log.skipped.push(format!(
                        "{failed_in_a_row} records in a row are unreadable: the rest of the ring is not read"
                    ));
                    break;
                }
            }
        }
        if id == head_id {
            break;
        }
        id = (id + 1) & DESC_ID_MASK;
    }
    if failed > log.skipped.len() as u64 {
        log.skipped.push(format!(
            "{failed} unreadable records in all (the first {MAX_SKIPPED_SHOWN} are listed)"
        ));
    }
    log.records.sort_by_key(|r| r.seq);
    Ok(log)
}

/// A block of memory read in one go when possible; pages that cannot be read are reported
/// when a record touches them.
struct Region {
    base: u64,
    bytes: Result<Vec<u8>, ReadError>,
    len: usize,
}

impl Region {
    fn read(mem: &dyn KernelMemory, base: u64, len: usize) -> Region {
        // In chunks: the size comes from the dump, so memory is only allocated as far as
        // the dump backs it.
        const CHUNK: usize = 1 << 20;
        let mut bytes = Vec::new();
        let mut result = Ok(());
        while bytes.len() < len && result.is_ok() {
            let start = bytes.len();
            bytes.resize(start + (len - start).min(CHUNK), 0);
            result = mem.read(base.wrapping_add(start as u64), &mut bytes[start..]);
        }
        Region {
            base,
            bytes: result.map(|()| bytes),
            len,
        }
    }

    fn slice(&self, mem: &dyn KernelMemory, off: usize, len: usize) -> Result<Vec<u8>, ReadError> {
        let end = off.saturating_add(len).min(self.len);
        match &self.bytes {
            Ok(b) => Ok(b[off.min(end)..end].to_vec()),
            // The whole ring did not read: fall back to this record alone, so one filtered
            // page costs only the records on it.
            Err(_) => mem.read_vec(self.base.wrapping_add(off as u64), end - off.min(end)),
        }
    }
}

struct Ring<'a> {
    mem: &'a dyn KernelMemory,
    layout: &'a PrintkLayout,
    descs: u64,
    infos: u64,
    count: u64,
    data: Region,
    size_bits: u32,
}

impl Ring<'_> {
    /// The record with descriptor `id`, or `None` when the slot holds something else (not
    /// yet committed, reused, or a data-less record).
    fn record(&self, id: u64) -> Result<Option<LogRecord>, ReadError> {
        let l = self.layout;
        let idx = id & (self.count - 1);
        let desc = self.descs.wrapping_add(idx.wrapping_mul(l.desc_size));
        let state_var = self.mem.read_u64(
            desc.wrapping_add(l.desc_state_var)
                .wrapping_add(l.atomic_long_counter),
        )?;
        let state = state_var >> DESC_FLAGS_SHIFT;
        if state_var & DESC_ID_MASK != id || !(state == DESC_COMMITTED || state == DESC_FINALIZED) {
            return Ok(None);
        }
        let begin = self.mem.read_u64(
            desc.wrapping_add(l.desc_text_blk_lpos)
                .wrapping_add(l.lpos_begin),
        )?;
        let next = self.mem.read_u64(
            desc.wrapping_add(l.desc_text_blk_lpos)
                .wrapping_add(l.lpos_next),
        )?;

        let info = self.infos.wrapping_add(idx.wrapping_mul(l.info_size));
        let seq = self.mem.read_u64(info.wrapping_add(l.info_seq))?;
        let ts_nsec = self.mem.read_u64(info.wrapping_add(l.info_ts_nsec))?;
        let text_len = self.mem.read_u16(info.wrapping_add(l.info_text_len))?;
        let level = self.mem.read_u8(info.wrapping_add(l.info_flags_level))? >> 5;
        let caller_id = self.mem.read_u32(info.wrapping_add(l.info_caller_id))?;

        let text = match self.text_block(begin, next) {
            Some((off, size)) if size >= 8 => {
                let len = usize::from(text_len).min(size - 8);
                let bytes = self.data.slice(self.mem, off + 8, len)?;
                escape(&bytes)
            }
            _ => String::new(),
        };
        Ok(Some(LogRecord {
            seq,
            ts_nsec,
            level,
            caller_id,
            text,
        }))
    }

    /// Offset and size of a record's data block in the data ring, as the kernel's
    /// `get_data()` finds it (a block that wraps is stored whole at the start of the ring).
    fn text_block(&self, begin: u64, next: u64) -> Option<(usize, usize)> {
        // Data-less records: FAILED_LPOS (0x1) and the empty-line marker (0x3).
        if begin & 1 != 0 {
            return None;
        }
        let size = 1u64 << self.size_bits;
        let wraps = |lpos: u64| lpos >> self.size_bits;
        let index = |lpos: u64| lpos & (size - 1);
        if wraps(begin) == wraps(next) && begin < next {
            Some((index(begin) as usize, (next - begin) as usize))
        } else if wraps(begin.wrapping_add(size)) == wraps(next) {
            Some((0, index(next) as usize))
        } else {
            None
        }
    }
}

/// Text as the kernel's `/dev/kmsg` would show it: printable bytes kept, tabs and newlines
/// kept, anything else as `\xNN`.
fn escape(bytes: &[u8]) -> String {
    holdup_text::printable_keeping(bytes, &['\n', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Flat fake memory: an address-to-byte map.
    struct Fake(BTreeMap<u64, u8>);

    impl Fake {
        fn put(&mut self, addr: u64, bytes: &[u8]) {
            for (i, b) in bytes.iter().enumerate() {
                self.0.insert(addr + i as u64, *b);
            }
        }
    }

    impl KernelMemory for Fake {
        fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
            for (i, b) in buf.iter_mut().enumerate() {
                let a = vaddr + i as u64;
                *b = *self.0.get(&a).ok_or(ReadError::NotMapped {
                    vaddr: a,
                    detail: "fake".into(),
                })?;
            }
            Ok(())
        }
    }

    /// The x86_64 layout of 6.1 and 6.12 (what their VMCOREINFO says).
    fn layout() -> PrintkLayout {
        let v: BTreeMap<&str, i64> = [
            ("OFFSET(printk_ringbuffer.desc_ring)", 0),
            ("OFFSET(printk_ringbuffer.text_data_ring)", 48),
            ("OFFSET(prb_desc_ring.count_bits)", 0),
            ("OFFSET(prb_desc_ring.descs)", 8),
            ("OFFSET(prb_desc_ring.infos)", 16),
            ("OFFSET(prb_desc_ring.head_id)", 24),
            ("OFFSET(prb_desc_ring.tail_id)", 32),
            ("SIZE(prb_desc)", 24),
            ("OFFSET(prb_desc.state_var)", 0),
            ("OFFSET(prb_desc.text_blk_lpos)", 8),
            ("OFFSET(prb_data_blk_lpos.begin)", 0),
            ("OFFSET(prb_data_blk_lpos.next)", 8),
            ("SIZE(printk_info)", 88),
            ("OFFSET(printk_info.seq)", 0),
            ("OFFSET(printk_info.ts_nsec)", 8),
            ("OFFSET(printk_info.text_len)", 16),
            ("OFFSET(printk_info.caller_id)", 20),
            ("OFFSET(prb_data_ring.size_bits)", 0),
            ("OFFSET(prb_data_ring.data)", 8),
            ("OFFSET(atomic_long_t.counter)", 0),
        ]
        .into_iter()
        .collect();
        PrintkLayout::from_vmcoreinfo(|k| v.get(k).copied()).unwrap()
    }

    const RB: u64 = 0x1000;
    const DESCS: u64 = 0x2000;
    const INFOS: u64 = 0x3000;
    const DATA: u64 = 0x8000;

    /// A ring of 4 descriptors and 128 data bytes holding `records` (id, text, state), laid
    /// out the way the kernel's writer does.
    fn ring(records: &[(u64, &str, u64)], tail: u64, head: u64) -> Fake {
        let mut m = Fake(BTreeMap::new());
        m.put(RB, &2u32.to_le_bytes());
        m.put(RB + 8, &DESCS.to_le_bytes());
        m.put(RB + 16, &INFOS.to_le_bytes());
        m.put(RB + 24, &head.to_le_bytes());
        m.put(RB + 32, &tail.to_le_bytes());
        m.put(RB + 48, &7u32.to_le_bytes());
        m.put(RB + 56, &DATA.to_le_bytes());
        m.put(DATA, &[0u8; 128]);
        let mut lpos = 0u64;
        for (n, (id, text, state)) in records.iter().enumerate() {
            let idx = id & 3;
            // The kernel aligns every block to the size of its id (`to_blk_size()`).
            let blk = (8 + text.len() as u64).next_multiple_of(8);
            // A block that would cross the end of the ring goes to its start.
            let (begin, off) = if lpos % 128 + blk > 128 {
                let b = lpos;
                lpos += 128 - lpos % 128;
                (b, 0)
            } else {
                (lpos, lpos % 128)
            };
            m.put(DATA + off, &id.to_le_bytes());
            m.put(DATA + off + 8, text.as_bytes());
            lpos += blk;
            let d = DESCS + idx * 24;
            m.put(d, &(id | state << DESC_FLAGS_SHIFT).to_le_bytes());
            m.put(d + 8, &begin.to_le_bytes());
            m.put(d + 16, &lpos.to_le_bytes());
            let i = INFOS + idx * 88;
            m.put(i, &[0u8; 88]);
            m.put(i, &(n as u64 + 10).to_le_bytes());
            m.put(i + 8, &(1_500_000_000u64 * n as u64 + 42_000).to_le_bytes());
            m.put(i + 16, &(text.len() as u16).to_le_bytes());
            m.put(i + 19, &[6 << 5]);
            m.put(i + 20, &77u32.to_le_bytes());
        }
        m
    }

    #[test]
    fn reads_records_in_order_with_dmesg_timestamps() {
        let m = ring(
            &[(4, "hello", DESC_FINALIZED), (5, "world", DESC_COMMITTED)],
            4,
            5,
        );
        let log = read_log(&m, RB, &layout()).unwrap();
        let lines: Vec<_> = log.records.iter().map(|r| r.to_dmesg_line()).collect();
        assert_eq!(lines, ["[    0.000042] hello", "[    1.500042] world"]);
        assert_eq!(log.records[0].level, 6);
        assert_eq!(log.records[0].caller_id, 77);
    }

    #[test]
    fn a_block_that_wraps_is_read_from_the_start_of_the_ring() {
        let long = "0123456789012345678901234567890123456789";
        // Record 4 is overwritten by the wrapped block of record 6, so the tail is past it.
        let m = ring(
            &[
                (4, long, DESC_FINALIZED),
                (5, long, DESC_FINALIZED),
                (6, "wrapped text", DESC_FINALIZED),
            ],
            5,
            6,
        );
        let log = read_log(&m, RB, &layout()).unwrap();
        let texts: Vec<_> = log.records.iter().map(|r| r.text.as_str()).collect();
        assert_eq!(texts, [long, "wrapped text"]);
    }

    #[test]
    fn reserved_and_reused_slots_are_skipped() {
        let m = ring(&[(4, "kept", DESC_FINALIZED), (5, "reserved", 0)], 4, 5);
        let log = read_log(&m, RB, &layout()).unwrap();
        assert_eq!(log.records.len(), 1);
        assert_eq!(log.records[0].text, "kept");
    }

    #[test]
    fn absurd_ring_sizes_are_refused_before_reading() {
        let mut m = ring(&[(4, "x", DESC_FINALIZED)], 4, 4);
        m.put(RB + 48, &40u32.to_le_bytes());
        let err = read_log(&m, RB, &layout()).unwrap_err();
        assert!(err.to_string().contains("size_bits = 40"), "{err}");
    }

    #[test]
    fn the_lines_after_the_first_are_indented_under_the_text() {
        let r = LogRecord {
            seq: 0,
            ts_nsec: 2_580_574_000,
            level: 4,
            caller_id: 1,
            text: "add:\n  \"trace_clock=local\"".into(),
        };
        assert_eq!(
            r.to_dmesg_line(),
            "[    2.580574] add:\n                 \"trace_clock=local\""
        );
    }

    #[test]
    fn control_bytes_are_escaped() {
        assert_eq!(escape(b"a\x1bb\tc\n"), "a\\x1bb\tc\n");
    }
}
