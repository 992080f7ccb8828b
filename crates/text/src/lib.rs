//! Strings read from a dump, made safe to print.
//!
//! A dump is untrusted input: a task can name itself with an escape sequence (`prctl
//! (PR_SET_NAME)` takes any bytes), and a damaged or hostile dump can hold anything where a
//! name should be. Every string holdup reads from a dump goes through [`printable`] where it is
//! read (task comms, utsname, slab cache and module names, kallsyms names, note names,
//! VMCOREINFO values), so no output (the report, `ps`, `bt`, `locks`, DOT, JSON) can carry a
//! control character that a terminal would obey or a line break that would fake a line.
//!
//! Escaped: C0 controls (tab and newline too: a name holds neither), DEL, C1 controls (a
//! terminal may take U+009B as CSI), and the Unicode bidirectional controls that reorder what
//! a terminal shows. They become `\xNN` or `\u{NNNN}`, as the kernel's own `/dev/kmsg` writes
//! unprintable bytes. Bytes that are not UTF-8 become U+FFFD.

use std::borrow::Cow;

/// Whether `c` must not reach a terminal as it is.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape_into(out: &mut String, c: char) {
    use std::fmt::Write;
    if (c as u32) < 0x100 {
        let _ = write!(out, "\\x{:02x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:04x}}}", c as u32);
    }
}

/// `bytes` as text that is safe on a terminal: see the crate's documentation.
pub fn printable(bytes: &[u8]) -> String {
    printable_keeping(bytes, &[])
}

/// [`printable`] for a `&str` that may need no change (no allocation then).
pub fn printable_str(s: &str) -> Cow<'_, str> {
    if s.chars().any(is_unsafe) {
        Cow::Owned(printable(s.as_bytes()))
    } else {
        Cow::Borrowed(s)
    }
}

/// [`printable`], but the characters of `keep` pass as they are (the kernel log keeps its
/// newlines and tabs, as dmesg shows them).
pub fn printable_keeping(bytes: &[u8], keep: &[char]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if !text.chars().any(|c| is_unsafe(c) && !keep.contains(&c)) {
        return text.into_owned();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) && !keep.contains(&c) {
            escape_into(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether `bytes` would come out of [`printable`] unchanged (valid UTF-8, nothing to escape).
pub fn is_printable(bytes: &[u8]) -> bool {
    // Names are nearly always plain ASCII: one pass the compiler vectorises decides them
    // (BTF and kallsyms hold megabytes of names, checked on every open).
    bytes.iter().all(|&b| (0x20..0x7f).contains(&b))
        || std::str::from_utf8(bytes).is_ok_and(|s| !s.chars().any(is_unsafe))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_the_rest_kept() {
        assert_eq!(printable(b"kscand"), "kscand");
        assert_eq!(
            printable(b"a\x1b]0;pwn\x07\r\nb\tc\x7f"),
            "a\\x1b]0;pwn\\x07\\x0d\\x0ab\\x09c\\x7f"
        );
        assert_eq!(printable("\u{9b}31m".as_bytes()), "\\x9b31m");
        assert_eq!(printable("x\u{202e}y".as_bytes()), "x\\u{202e}y");
        assert_eq!(printable(b"\xff\xfe"), "\u{fffd}\u{fffd}");
        assert_eq!(printable("kworker/0:1H-é".as_bytes()), "kworker/0:1H-é");
        assert_eq!(
            printable_keeping(b"line\n\tmore\x1b", &['\n', '\t']),
            "line\n\tmore\\x1b"
        );
        assert!(matches!(printable_str("plain"), Cow::Borrowed(_)));
        assert_eq!(printable_str("a\rb"), "a\\x0db");
        assert!(is_printable(b"abc") && !is_printable(b"a\x1b") && !is_printable(b"\xff"));
    }
}
