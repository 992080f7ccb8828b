//! What holdup knows of the terminal its output goes to: whether standard output is one,
//! and how wide and tall it is. Read once, in `main`, before anything (a pager) can take
//! the place of standard output.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// The terminal behind standard output, as it was when holdup started.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    /// Standard output is a terminal.
    pub stdout_is_terminal: bool,
    /// The width lines must fit: `$COLUMNS` when set to a number, else the terminal's own
    /// (TIOCGWINSZ); `None` for a pipe or a file with no `$COLUMNS`.
    pub width: Option<usize>,
    /// The terminal's height in lines, when standard output is a terminal that says.
    pub height: Option<usize>,
}

static TERMINAL: OnceLock<Terminal> = OnceLock::new();

/// Reads the terminal's state; the first call decides, later ones change nothing.
pub fn init() -> Terminal {
    *TERMINAL.get_or_init(|| {
        let stdout_is_terminal = std::io::stdout().is_terminal();
        let size = if stdout_is_terminal {
            window_size(libc::STDOUT_FILENO)
        } else {
            None
        };
        Terminal {
            stdout_is_terminal,
            width: columns_env(std::env::var("COLUMNS").ok().as_deref())
                .or(size.map(|(cols, _)| cols)),
            height: size.map(|(_, rows)| rows).filter(|&r| r > 0),
        }
    })
}

/// The terminal as read by [`init`].
pub fn terminal() -> Terminal {
    init()
}

/// `$COLUMNS` as a width: a positive number; anything else is ignored.
fn columns_env(value: Option<&str>) -> Option<usize> {
    value
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&w| w > 0)
}

/// (columns, rows) of the terminal open on `fd`, when it says (a terminal of size 0, as a
/// serial console may be, says nothing).
pub fn window_size(fd: libc::c_int) -> Option<(usize, usize)> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes one `struct winsize` through the pointer, which points to
    // one; on a descriptor that is no terminal it fails and writes nothing.
    let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
    (rc == 0 && ws.ws_col > 0).then(|| (usize::from(ws.ws_col), usize::from(ws.ws_row)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_is_a_positive_number_or_nothing() {
        assert_eq!(columns_env(Some("80")), Some(80));
        assert_eq!(columns_env(Some(" 132\n")), Some(132));
        assert_eq!(columns_env(Some("0")), None);
        assert_eq!(columns_env(Some("wide")), None);
        assert_eq!(columns_env(Some("")), None);
        assert_eq!(columns_env(None), None);
    }
}
