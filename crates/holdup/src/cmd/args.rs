//! What the words of a command line mean, the way a crash user types them: addresses in hex
//! with or without `0x` (crash's `ps` prints them bare), command names as globs, and the
//! dump first where crash takes it last.

use super::Failure;
use crate::exit;
use std::path::Path;

/// A hex number written without `0x` that can only be an address: hex digits only, and a
/// letter among them or all 16 digits of a 64-bit address (`ffff8a0ddfe9b080`). A string
/// of decimal digits shorter than that stays a number (a pid, a pfn).
fn bare_hex_address(s: &str) -> Option<u64> {
    let looks_hex = !s.is_empty()
        && s.len() <= 16
        && s.bytes().all(|b| b.is_ascii_hexdigit())
        && (s.len() == 16 || s.bytes().any(|b| b.is_ascii_alphabetic()));
    looks_hex.then(|| u64::from_str_radix(s, 16).ok()).flatten()
}

/// An address: `0x` and hex digits, or a bare hex address ([`bare_hex_address`]).
pub fn parse_address(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u64::from_str_radix(h, 16).ok(),
        None => bare_hex_address(s),
    }
}

/// An address ([`parse_address`]) or a decimal number.
pub fn parse_address_or_number(s: &str) -> Option<u64> {
    parse_address(s).or_else(|| s.parse().ok())
}

/// What a word naming a task means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSelector {
    Pid(u32),
    /// A `task_struct` address.
    Task(u64),
    /// A command name, or a glob of them ([`comm_matches`]).
    Comm(String),
    /// Bare hex that is also a word (`dd`, `cafe`): the task at that address if there is
    /// one, else the tasks with that command name.
    TaskOrComm(u64, String),
}

impl TaskSelector {
    pub fn parse(s: &str) -> TaskSelector {
        if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            // A word that starts like an address but is none matches no task address.
            return u64::from_str_radix(h, 16)
                .map_or_else(|_| TaskSelector::Comm(s.to_string()), TaskSelector::Task);
        }
        if !s.is_empty() && s.len() < 16 && s.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(pid) = s.parse() {
                return TaskSelector::Pid(pid);
            }
        }
        match bare_hex_address(s) {
            Some(a) if s.len() == 16 => TaskSelector::Task(a),
            Some(a) => TaskSelector::TaskOrComm(a, s.to_string()),
            None => TaskSelector::Comm(s.to_string()),
        }
    }
}

/// Whether `pattern` has glob characters (`*`, `?`, `[`).
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '['])
}

/// Whether a task's command name matches `pattern`: a shell glob when it has `*`, `?` or
/// `[...]` (`kworker/*`, `?bench`), else the name exactly.
pub fn comm_matches(pattern: &str, comm: &str) -> bool {
    if is_glob(pattern) {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = comm.chars().collect();
        glob_match(&p, &t)
    } else {
        pattern == comm
    }
}

/// fnmatch(3) without flags: `*` any run, `?` one character, `[abc]`, `[a-z]`, `[!a]` one
/// of a set; `\` takes the next character as it is. `*` may cross `/` (a comm is no path).
fn glob_match(p: &[char], t: &[char]) -> bool {
    // Iterative with one back-track point for the last `*`: linear in practice, and no
    // recursion for a pattern of many stars.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
                continue;
            }
            Some('?') => Some(pi + 1),
            Some('[') => match match_class(&p[pi..], t[ti]) {
                Some((ok, len)) => ok.then_some(pi + len),
                None => (t[ti] == '[').then_some(pi + 1),
            },
            Some('\\') if pi + 1 < p.len() => (p[pi + 1] == t[ti]).then_some(pi + 2),
            Some(&c) => (c == t[ti]).then_some(pi + 1),
            None => None,
        };
        match step {
            Some(next) => {
                pi = next;
                ti += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// A `[...]` class at the start of `p` against `c`: (whether `c` is in it, the class's
/// length); `None` when the `[` opens no class (then it is matched as itself).
fn match_class(p: &[char], c: char) -> Option<(bool, usize)> {
    let mut i = 1;
    let negate = matches!(p.get(i), Some('!') | Some('^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        let lo = *p.get(i)?;
        if lo == ']' && !first {
            return Some((found != negate, i + 1));
        }
        first = false;
        if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|&hi| hi != ']') {
            let hi = p[i + 2];
            found |= lo <= c && c <= hi;
            i += 3;
        } else {
            found |= lo == c;
            i += 1;
        }
    }
}

/// When the dump named on the command line is no file but a later word is one, the words
/// are in crash's order (`crash vmlinux vmcore`, `bt 99`): says so, with the command line
/// in holdup's order.
pub fn check_dump_first(
    command: &str,
    dump: Option<&Path>,
    others: &[String],
) -> Result<(), Failure> {
    let Some(dump) = dump else {
        return Ok(());
    };
    if dump.exists() {
        return Ok(());
    }
    let Some(real) = others.iter().find(|o| Path::new(o.as_str()).is_file()) else {
        return Ok(());
    };
    let rest: Vec<&str> = std::iter::once(dump.to_str().unwrap_or("?"))
        .chain(others.iter().filter(|o| *o != real).map(String::as_str))
        .collect();
    Err(Failure::new(
        exit::UNREADABLE,
        format!(
            "{} is no file, but {real} is: holdup takes the dump first, where crash takes it last; try `holdup {command} {real} {}`",
            dump.display(),
            rest.join(" ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_with_or_without_0x_and_pids_stay_pids() {
        assert_eq!(
            parse_address("0xffff8a0ddfe9b080"),
            Some(0xffff8a0ddfe9b080)
        );
        assert_eq!(parse_address("ffff8a0ddfe9b080"), Some(0xffff8a0ddfe9b080));
        assert_eq!(parse_address("FFFF8A0DDFE9B080"), Some(0xffff8a0ddfe9b080));
        assert_eq!(parse_address("3f00"), Some(0x3f00));
        assert_eq!(parse_address("13203"), None);
        assert_eq!(parse_address("1234567890123456"), Some(0x1234567890123456));
        assert_eq!(parse_address("0xzz"), None);
        assert_eq!(parse_address("ffff8a0ddfe9b0801"), None);
        assert_eq!(parse_address_or_number("13203"), Some(13203));
        assert_eq!(TaskSelector::parse("99"), TaskSelector::Pid(99));
        assert_eq!(
            TaskSelector::parse("ffff8a0ddfe9b080"),
            TaskSelector::Task(0xffff8a0ddfe9b080)
        );
        assert_eq!(
            TaskSelector::parse("0xffff8a0ddfe9b080"),
            TaskSelector::Task(0xffff8a0ddfe9b080)
        );
        assert_eq!(
            TaskSelector::parse("dd"),
            TaskSelector::TaskOrComm(0xdd, "dd".into())
        );
        assert_eq!(
            TaskSelector::parse("kscand"),
            TaskSelector::Comm("kscand".into())
        );
        assert_eq!(
            TaskSelector::parse("99999999999"),
            TaskSelector::Comm("99999999999".into())
        );
    }

    #[test]
    fn globs() {
        assert!(comm_matches("kworker/*", "kworker/0:1"));
        assert!(!comm_matches("kworker/*", "kworker"));
        assert!(comm_matches("?bench", "xbench"));
        assert!(!comm_matches("?bench", "bench"));
        assert!(comm_matches("*", ""));
        assert!(comm_matches("rw_[rw]*", "rw_writer"));
        assert!(!comm_matches("rw_[!rw]*", "rw_writer"));
        assert!(comm_matches("sem_holder[0-9]", "sem_holder2"));
        assert!(comm_matches("a*b*c", "aXXbYYbZc"));
        assert!(!comm_matches("a*b*c", "aXXbYYbZ"));
        assert!(comm_matches("\\*x", "*x"));
        // Not a glob: exact.
        assert!(comm_matches("bench", "bench"));
        assert!(!comm_matches("bench", "bench2"));
        // A lone `[` is itself.
        assert!(comm_matches("a[", "a["));
        assert!(comm_matches(&"*".repeat(200), "kworker"));
    }
}
