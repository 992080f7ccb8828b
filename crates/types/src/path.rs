//! Member path syntax: `type.member.member[3].member[ENUMERATOR]`.

use crate::TypeError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Index<'a> {
    Num(u64),
    Name(&'a str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step<'a> {
    Member(&'a str),
    Index(Index<'a>),
}

/// Longest path accepted (in steps).
const MAX_STEPS: usize = 64;

fn bad(path: &str, detail: impl Into<String>) -> TypeError {
    TypeError::BadPath {
        path: path.to_string(),
        detail: detail.into(),
    }
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
}

/// Splits `struct page.flags` into (`struct page`, `flags`); the type part ends at the first
/// `.` or `[`.
pub(crate) fn split_type(path: &str) -> Result<(&str, &str), TypeError> {
    let path_t = path.trim();
    let end = path_t.find(['.', '[']).unwrap_or(path_t.len());
    let ty = path_t[..end].trim();
    if ty.is_empty() {
        return Err(bad(path, "no type name before the member path"));
    }
    let rest = &path_t[end..];
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    Ok((ty, rest))
}

/// Parses `thread.sp`, `mem[0].base`, `comm[1]`, `a.b[MOD_TEXT]`.
pub(crate) fn parse(path: &str) -> Result<Vec<Step<'_>>, TypeError> {
    let mut steps = Vec::new();
    let mut s = path.trim();
    let mut first = true;
    while !s.is_empty() {
        if steps.len() >= MAX_STEPS {
            return Err(bad(path, format!("more than {MAX_STEPS} steps")));
        }
        if let Some(r) = s.strip_prefix('[') {
            let close = r.find(']').ok_or_else(|| bad(path, "unclosed '['"))?;
            let inner = r[..close].trim();
            let idx = if let Some(hex) = inner
                .strip_prefix("0x")
                .or_else(|| inner.strip_prefix("0X"))
            {
                Index::Num(
                    u64::from_str_radix(hex, 16)
                        .map_err(|_| bad(path, format!("bad index {inner:?}")))?,
                )
            } else if inner.bytes().all(|b| b.is_ascii_digit()) && !inner.is_empty() {
                Index::Num(
                    inner
                        .parse()
                        .map_err(|_| bad(path, format!("bad index {inner:?}")))?,
                )
            } else if is_ident(inner) {
                Index::Name(inner)
            } else {
                return Err(bad(path, format!("bad index {inner:?}")));
            };
            steps.push(Step::Index(idx));
            s = &r[close + 1..];
        } else {
            let r = if first {
                s
            } else {
                s.strip_prefix('.')
                    .ok_or_else(|| bad(path, format!("expected '.' or '[' at {s:?}")))?
            };
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let name = r[..end].trim();
            if !is_ident(name) {
                return Err(bad(path, format!("bad member name {name:?}")));
            }
            steps.push(Step::Member(name));
            s = &r[end..];
        }
        first = false;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(
            parse("thread.sp").unwrap(),
            vec![Step::Member("thread"), Step::Member("sp")]
        );
        assert_eq!(
            parse("mem[MOD_TEXT].base").unwrap(),
            vec![
                Step::Member("mem"),
                Step::Index(Index::Name("MOD_TEXT")),
                Step::Member("base")
            ]
        );
        assert_eq!(
            parse("comm[0x3]").unwrap(),
            vec![Step::Member("comm"), Step::Index(Index::Num(3))]
        );
        assert_eq!(parse("").unwrap(), vec![]);
        assert!(parse("a..b").is_err());
        assert!(parse("a[").is_err());
        assert!(parse("a[-1]").is_err());
        assert!(parse("a b").is_err());
        assert_eq!(
            split_type("struct page.flags").unwrap(),
            ("struct page", "flags")
        );
        assert_eq!(split_type("task_struct").unwrap(), ("task_struct", ""));
        assert_eq!(split_type("x[2]").unwrap(), ("x", "[2]"));
        assert!(split_type(".x").is_err());
    }
}
