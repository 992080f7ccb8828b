//! Colour and terminal decisions, and a small ANSI helper.
//!
//! Colour is on with `--color always`, off with `--color never`, and with `--color auto` (the
//! default) on when the stream written to is a terminal and `NO_COLOR` is unset or empty
//! (<https://no-color.org>). Colour only ever adds escape sequences around text: with colour
//! off the output is byte for byte what it is without this module.

use clap::ValueEnum;
use std::io::IsTerminal;
use std::sync::OnceLock;

/// `--color`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ColorChoice {
    /// On a terminal, unless NO_COLOR is set.
    #[default]
    Auto,
    Always,
    Never,
}

/// The command line's choices that every command honours.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    pub color: ColorChoice,
    /// `-q`: errors only; no progress, no summary.
    pub quiet: bool,
}

static UI: OnceLock<Ui> = OnceLock::new();

/// Set once, from `main`.
pub fn init(ui: Ui) {
    let _ = UI.set(ui);
}

pub fn ui() -> Ui {
    UI.get().copied().unwrap_or(Ui {
        color: ColorChoice::Auto,
        quiet: false,
    })
}

/// Which stream a decision is about.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub fn is_terminal(self) -> bool {
        match self {
            // As `term::init` found it when holdup started.
            Stream::Stdout => super::term::terminal().stdout_is_terminal,
            Stream::Stderr => std::io::stderr().is_terminal(),
        }
    }
}

/// Whether `NO_COLOR` asks for no colour (set and not empty).
fn no_color_env() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// Whether to colour what goes to `stream`.
pub fn color_on(stream: Stream) -> bool {
    decide(ui().color, no_color_env(), stream.is_terminal())
}

fn decide(choice: ColorChoice, no_color: bool, terminal: bool) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => terminal && !no_color,
    }
}

/// Whether to draw progress on stderr: a terminal, and not `-q`.
pub fn progress_on() -> bool {
    !ui().quiet && Stream::Stderr.is_terminal()
}

/// A spinner on stderr for work of unknown length (reading and analysing one dump); hidden
/// when [`progress_on`] is false.
pub fn spinner(msg: &str) -> indicatif::ProgressBar {
    if !progress_on() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::new_spinner();
    pb.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    pb.set_message(msg.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
    pb
}

/// A bar on stderr counting `len` units; hidden when [`progress_on`] is false.
pub fn bar(len: u64, unit: &str) -> indicatif::ProgressBar {
    if !progress_on() {
        return indicatif::ProgressBar::hidden();
    }
    let pb = indicatif::ProgressBar::with_draw_target(
        Some(len),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(st) = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:40}} {{pos}}/{{len}} {unit} {{elapsed}} (eta {{eta}}) {{msg}}"
    )) {
        pb.set_style(st);
    }
    pb
}

/// SGR codes used.
pub mod sgr {
    pub const BOLD: &str = "1";
    pub const RED: &str = "31";
    pub const GREEN: &str = "32";
    pub const YELLOW: &str = "33";
    pub const BOLD_RED: &str = "1;31";
}

/// `text` wrapped in an SGR sequence when `on`.
pub fn paint(on: bool, code: &str, text: &str) -> String {
    if on {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Colours the text report: headings bold, root-cause lines bold red, `fact` green,
/// `guess N%` yellow, `deadlock` red. Only escape sequences are added.
pub fn color_report(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let heading = [
            "SUMMARY",
            "INCOMPLETE DUMP",
            "CHAINS",
            "BLOCKED TASKS",
            "CRASH",
            "KERNEL LOG",
            "NOT SEEN",
        ]
        .iter()
        .any(|h| body.starts_with(h));
        if i == 0 || heading {
            out.push_str(&paint(true, sgr::BOLD, body));
        } else if let Some(rest) = body.strip_prefix("ROOT CAUSE ") {
            // `ROOT CAUSE 1: kscand (pid 99)  [confidence ...]`: the name part stands out.
            let (head, tail) = rest
                .split_once("  [")
                .map_or((rest, ""), |(h, _)| (h, &rest[h.len()..]));
            out.push_str(&paint(true, sgr::BOLD_RED, &format!("ROOT CAUSE {head}")));
            out.push_str(&markers(tail));
        } else {
            out.push_str(&markers(body));
        }
        out.push_str(nl);
    }
    out
}

/// Colours the evidence markers of one line: `[fact`, `, fact)`, `[guess 85%`, `, guess 60%)`
/// and the words `deadlock` / `self-deadlock`.
fn markers(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let b = line.as_bytes();
    let mut i = 0;
    while i < line.len() {
        let rest = &line[i..];
        // `[fact`, `(fact)` (a wait with no mode), `, fact)`, and `; guess 50%` at the end
        // of a summary line.
        let after_open = i > 0
            && (matches!(b[i - 1], b'[' | b'(')
                || (i > 1 && matches!(&b[i - 2..i], b", " | b"; ")));
        if let Some(len) = marker_len(rest, after_open) {
            let code = if rest.starts_with("fact") {
                sgr::GREEN
            } else {
                sgr::YELLOW
            };
            out.push_str(&paint(true, code, &rest[..len]));
            i += len;
            continue;
        }
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if word_start
            && let Some(w) = ["self-deadlock", "deadlock"].into_iter().find(|w| {
                rest.starts_with(w)
                    && !rest[w.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
            })
        {
            out.push_str(&paint(true, sgr::RED, w));
            i += w.len();
            continue;
        }
        let ch = rest.chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// The length of an evidence marker at the start of `rest`: `fact` followed by `:`, `]`,
/// `)`, `,` or the end of the line, or `guess N%`; only right after `[`, `(`, `, ` or `; `.
fn marker_len(rest: &str, after_open: bool) -> Option<usize> {
    if !after_open {
        return None;
    }
    if rest.starts_with("fact")
        && matches!(
            rest.as_bytes().get(4),
            None | Some(b':' | b']' | b')' | b',')
        )
    {
        return Some(4);
    }
    let digits = rest
        .strip_prefix("guess ")?
        .bytes()
        .take_while(u8::is_ascii_digit)
        .count();
    (digits > 0 && rest.as_bytes().get(6 + digits) == Some(&b'%')).then_some(6 + digits + 1)
}

/// Removes SGR sequences.
#[cfg(test)]
pub fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            chars.next();
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_color_and_the_flag() {
        assert!(!decide(ColorChoice::Auto, true, true));
        assert!(decide(ColorChoice::Auto, false, true));
        assert!(!decide(ColorChoice::Auto, false, false));
        assert!(decide(ColorChoice::Always, true, false));
        assert!(!decide(ColorChoice::Never, false, true));
    }

    #[test]
    fn colour_only_adds_escapes() {
        let text = "6.1.0 — vmcore\n\nROOT CAUSE 1: kscand (pid 99)  [confidence 50%: some links are inferred]\n  a self-deadlock; x [fact: mutex.owner] y [guess 65%: z] (read, fact) [guess 85%]\n  deadlocks deadlock: facts\nCHAINS (who waits for whom)\n│ é (exclusive, fact) │\n";
        let c = color_report(text);
        assert_eq!(strip_ansi(&c), text);
        assert!(c.contains("\x1b[32mfact\x1b[0m: mutex.owner"), "{c:?}");
        assert!(c.contains("\x1b[33mguess 65%\x1b[0m"), "{c:?}");
        assert!(c.contains("\x1b[33mguess 85%\x1b[0m]"), "{c:?}");
        assert!(c.contains("(read, \x1b[32mfact\x1b[0m)"), "{c:?}");
        assert!(c.contains("\x1b[31mself-deadlock\x1b[0m;"), "{c:?}");
        assert!(
            c.contains("deadlocks \x1b[31mdeadlock\x1b[0m: facts"),
            "{c:?}"
        );
        assert!(c.contains("\x1b[1;31mROOT CAUSE 1: kscand (pid 99)\x1b[0m  [confidence"));
        assert!(c.contains("\x1b[1mCHAINS (who waits for whom)\x1b[0m"));
        assert!(!c.contains("\x1b[32mfacts"));
    }
}
