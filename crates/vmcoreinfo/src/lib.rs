//! A typed view of the kernel's VMCOREINFO note (`KEY=VALUE` lines).
//!
//! Every line is kept, in order, with its key classified ([`Key`]); values are parsed on access
//! with the encoding the kernel prints them in:
//!
//! | key | encoding |
//! |---|---|
//! | `SYMBOL(x)` | hex without `0x` |
//! | `SIZE(x)`, `OFFSET(x)`, `LENGTH(x)` | unsigned decimal |
//! | `NUMBER(x)` | signed decimal (`NUMBER(phys_base)` may be negative); 6.12 prints `NUMBER(VMALLOC_START)` as `0x…` hex |
//! | `KERNELOFFSET` | hex without `0x` |
//! | `PAGESIZE`, `CRASHTIME` | decimal |
//! | `OSRELEASE`, `BUILD-ID` | text |
//!
//! The text comes from an untrusted dump: malformed lines are kept as [`VmcoreInfo::problems`]
//! and never abort parsing.

use std::collections::HashMap;
use std::fmt;

/// What kind of key a line has.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    OsRelease,
    BuildId,
    PageSize,
    KernelOffset,
    CrashTime,
    Symbol(String),
    Size(String),
    Offset(String),
    Length(String),
    Number(String),
    /// Any other key, verbatim.
    Other(String),
}

impl Key {
    /// Classifies a raw key.
    pub fn parse(raw: &str) -> Key {
        let inner = |prefix: &str| {
            raw.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_string)
        };
        match raw {
            "OSRELEASE" => Key::OsRelease,
            "BUILD-ID" => Key::BuildId,
            "PAGESIZE" => Key::PageSize,
            "KERNELOFFSET" => Key::KernelOffset,
            "CRASHTIME" => Key::CrashTime,
            _ => {
                if let Some(n) = inner("SYMBOL(") {
                    Key::Symbol(n)
                } else if let Some(n) = inner("SIZE(") {
                    Key::Size(n)
                } else if let Some(n) = inner("OFFSET(") {
                    Key::Offset(n)
                } else if let Some(n) = inner("LENGTH(") {
                    Key::Length(n)
                } else if let Some(n) = inner("NUMBER(") {
                    Key::Number(n)
                } else {
                    Key::Other(raw.to_string())
                }
            }
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::OsRelease => f.write_str("OSRELEASE"),
            Key::BuildId => f.write_str("BUILD-ID"),
            Key::PageSize => f.write_str("PAGESIZE"),
            Key::KernelOffset => f.write_str("KERNELOFFSET"),
            Key::CrashTime => f.write_str("CRASHTIME"),
            Key::Symbol(n) => write!(f, "SYMBOL({n})"),
            Key::Size(n) => write!(f, "SIZE({n})"),
            Key::Offset(n) => write!(f, "OFFSET({n})"),
            Key::Length(n) => write!(f, "LENGTH({n})"),
            Key::Number(n) => write!(f, "NUMBER({n})"),
            Key::Other(k) => f.write_str(k),
        }
    }
}

/// One `KEY=VALUE` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key as written.
    pub raw_key: String,
    pub key: Key,
    pub value: String,
}

/// A parsed VMCOREINFO note.
#[derive(Debug, Clone, Default)]
pub struct VmcoreInfo {
    entries: Vec<Entry>,
    /// raw key -> index of its first entry.
    index: HashMap<String, usize>,
    problems: Vec<String>,
}

/// A value that is present but does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("VMCOREINFO {key}={value:?} is not {expected}")]
pub struct ValueError {
    pub key: String,
    pub value: String,
    pub expected: &'static str,
}

/// Lines longer than this are not the kernel's (it truncates at 79 characters); the bound only
/// stops absurd input from being copied around.
const MAX_LINE: usize = 4096;
/// The kernel's note is at most one page; QEMU's guest note at most 1 MiB.
const MAX_LINES: usize = 65_536;

fn parse_hex(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if s.is_empty() {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

fn parse_udec(s: &str) -> Option<u64> {
    let s = s.trim();
    s.parse().ok()
}

/// Signed decimal, or `0x` hex (taken as the bit pattern of a u64).
fn parse_number(s: &str) -> Option<i64> {
    let t = s.trim();
    if t.starts_with("0x") || t.starts_with("0X") {
        return parse_hex(t).map(|v| v as i64);
    }
    t.parse().ok()
}

impl VmcoreInfo {
    /// Parses the note text (bytes, as in the dump; invalid UTF-8 is replaced).
    pub fn parse_bytes(raw: &[u8]) -> VmcoreInfo {
        let end = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
        // Lines end at '\n'; anything else a terminal would obey is escaped in the values.
        Self::parse(&holdup_text::printable_keeping(&raw[..end], &['\n']))
    }

    /// Parses the note text.
    pub fn parse(text: &str) -> VmcoreInfo {
        let mut vi = VmcoreInfo::default();
        for (n, line) in text.lines().enumerate() {
            if n >= MAX_LINES {
                vi.problems
                    .push(format!("more than {MAX_LINES} lines; rest ignored"));
                break;
            }
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            if line.len() > MAX_LINE {
                vi.problems.push(format!(
                    "line {}: longer than {MAX_LINE} bytes; ignored",
                    n + 1
                ));
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                vi.problems
                    .push(format!("line {}: no '=' in {line:?}; ignored", n + 1));
                continue;
            };
            let entry = Entry {
                raw_key: k.to_string(),
                key: Key::parse(k),
                value: v.to_string(),
            };
            if vi.index.contains_key(k) {
                vi.problems.push(format!(
                    "line {}: {k} appears again; the first value is used",
                    n + 1
                ));
            } else {
                vi.index.insert(k.to_string(), vi.entries.len());
            }
            vi.entries.push(entry);
        }
        vi
    }

    /// All lines, in note order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Lines that could not be used, and duplicated keys.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The raw value of a key as written, e.g. `get("SYMBOL(_stext)")`.
    pub fn get(&self, raw_key: &str) -> Option<&str> {
        self.index
            .get(raw_key)
            .map(|&i| self.entries[i].value.as_str())
    }

    fn typed<T>(
        &self,
        raw_key: &str,
        expected: &'static str,
        f: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ValueError> {
        match self.get(raw_key) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| ValueError {
                key: raw_key.to_string(),
                value: v.to_string(),
                expected,
            }),
        }
    }

    /// `OSRELEASE`.
    pub fn osrelease(&self) -> Option<&str> {
        self.get("OSRELEASE")
    }

    /// `BUILD-ID` as text (40 hex digits; garbage on some stable kernels, see the notes).
    pub fn build_id(&self) -> Option<&str> {
        self.get("BUILD-ID")
    }

    /// `PAGESIZE`: a power of two from 4096 (what any kernel's pages can be); x86_64 has 4096.
    pub fn page_size(&self) -> Result<Option<u64>, ValueError> {
        self.typed(
            "PAGESIZE",
            "a page size (a power of two, 4096 on x86_64)",
            |s| parse_udec(s).filter(|&n| n >= 4096 && n.is_power_of_two()),
        )
    }

    /// `KERNELOFFSET` (hex without 0x): the virtual KASLR offset.
    pub fn kernel_offset(&self) -> Result<Option<u64>, ValueError> {
        self.typed("KERNELOFFSET", "a hex number", parse_hex)
    }

    /// `CRASHTIME` (seconds): present only when the kernel went through `__crash_kexec`.
    pub fn crash_time(&self) -> Result<Option<i64>, ValueError> {
        self.typed("CRASHTIME", "a decimal number", |s| s.trim().parse().ok())
    }

    /// `SYMBOL(name)`.
    pub fn symbol(&self, name: &str) -> Result<Option<u64>, ValueError> {
        self.typed(&format!("SYMBOL({name})"), "a hex address", parse_hex)
    }

    /// `SIZE(name)`.
    pub fn size(&self, name: &str) -> Result<Option<u64>, ValueError> {
        self.typed(&format!("SIZE({name})"), "a decimal number", parse_udec)
    }

    /// `OFFSET(name)`, e.g. `offset("page.flags")`.
    pub fn offset(&self, name: &str) -> Result<Option<u64>, ValueError> {
        self.typed(&format!("OFFSET({name})"), "a decimal number", parse_udec)
    }

    /// `LENGTH(name)`.
    pub fn length(&self, name: &str) -> Result<Option<u64>, ValueError> {
        self.typed(&format!("LENGTH({name})"), "a decimal number", parse_udec)
    }

    /// `NUMBER(name)`: signed decimal (or `0x` hex, taken as a u64 bit pattern).
    pub fn number(&self, name: &str) -> Result<Option<i64>, ValueError> {
        let key = format!("NUMBER({name})");
        // The kernel writes NUMBER() with %ld: digits that do not fit are out of range, not
        // "not a number".
        let decimal = self.get(&key).is_some_and(|v| {
            let t = v.trim();
            let d = t.strip_prefix('-').unwrap_or(t);
            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())
        });
        self.typed(
            &key,
            if decimal {
                "within the range of a signed 64-bit number (the kernel writes NUMBER() with %ld)"
            } else {
                "a decimal (or 0x-hex) number"
            },
            parse_number,
        )
    }

    /// `NUMBER(phys_base)` as the u64 the kernel adds (two's complement when negative).
    pub fn phys_base(&self) -> Result<Option<u64>, ValueError> {
        Ok(self.number("phys_base")?.map(|v| v as u64))
    }

    /// `NUMBER(pgtable_l5_enabled)` != 0.
    pub fn pgtable_l5_enabled(&self) -> Result<Option<bool>, ValueError> {
        Ok(self.number("pgtable_l5_enabled")?.map(|v| v != 0))
    }

    /// Names of all `SYMBOL(...)` keys, in order.
    pub fn symbols(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().filter_map(|e| match &e.key {
            Key::Symbol(n) => Some((n.as_str(), e.value.as_str())),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests;
