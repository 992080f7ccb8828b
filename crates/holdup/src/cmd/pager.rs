//! The pager, as git and journalctl have it: when standard output is a terminal and the
//! output is longer than the screen, it goes through `$PAGER` (`less -FRX` when PAGER is
//! unset; empty or `cat`: none); `--no-pager` says none. Never for a pipe or a file.
//!
//! Standard output is swapped for a pipe that a thread reads. The thread keeps what comes
//! until it is more than a screen, then starts the pager and hands it everything; output
//! that ends within a screen goes to the terminal as it is, with no pager. Every command
//! keeps printing to standard output as it always does.

use super::term;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Child, Command, Stdio};

/// What `less` gets when `$LESS` is unset, as git gives it: quit when the text fits one
/// screen (-F), let colours through (-R), leave the text on the screen when it quits (-X).
const LESS_DEFAULT: &str = "FRX";

/// The pager in use: how to put standard output back and wait for it.
pub struct Pager {
    /// The terminal's descriptor, put back on standard output at the end.
    terminal: OwnedFd,
    relay: std::thread::JoinHandle<()>,
}

/// The pager command to run, if any: from `$PAGER` (`pager_env`), or `less -FRX` when it
/// is unset and `less` can be found.
fn pager_command(pager_env: Option<&str>, less_found: bool) -> Option<String> {
    match pager_env.map(str::trim) {
        Some("") | Some("cat") => None,
        Some(p) => Some(p.to_string()),
        None => less_found.then(|| "less -FRX".to_string()),
    }
}

/// Whether `name` is an executable file in a directory of `$PATH`.
fn in_path(name: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(name))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

/// Starts paging standard output when it is a terminal and a pager is wanted; `None`
/// otherwise (or when the swap fails: then the output goes to the terminal as usual).
pub fn start(no_pager: bool) -> Option<Pager> {
    let terminal_state = term::terminal();
    if no_pager || !terminal_state.stdout_is_terminal {
        return None;
    }
    let command = pager_command(std::env::var("PAGER").ok().as_deref(), in_path("less"))?;
    let height = terminal_state.height.unwrap_or(24);
    let width = term::window_size(libc::STDOUT_FILENO).map_or(80, |(cols, _)| cols);
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the array, which holds two.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return None;
    }
    // SAFETY: both descriptors were just created and are owned here alone.
    let (pipe_out, pipe_in) =
        unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor of the terminal; it is owned here.
    let saved = unsafe { libc::fcntl(libc::STDOUT_FILENO, libc::F_DUPFD_CLOEXEC, 0) };
    if saved < 0 {
        return None;
    }
    // SAFETY: `saved` was just made by fcntl and is owned here alone.
    let terminal = unsafe { OwnedFd::from_raw_fd(saved) };
    let to_terminal = terminal.try_clone().ok()?;
    let _ = std::io::stdout().flush();
    // SAFETY: dup2 puts the pipe on descriptor 1; the pipe's own descriptor stays ours.
    if unsafe { libc::dup2(pipe_in.as_raw_fd(), libc::STDOUT_FILENO) } < 0 {
        return None;
    }
    drop(pipe_in);
    let relay = std::thread::spawn(move || relay(pipe_out, to_terminal, &command, height, width));
    Some(Pager { terminal, relay })
}

impl Pager {
    /// Ends the output: the pipe is closed (the pager sees its end), then waits until the
    /// pager has quit, so that what holdup says after (an error) comes below its output.
    pub fn finish(self) {
        let _ = std::io::stdout().flush();
        // SAFETY: dup2 puts the terminal back on descriptor 1, which closes the pipe's
        // writing end there: the relay reads end of file.
        unsafe {
            libc::dup2(self.terminal.as_raw_fd(), libc::STDOUT_FILENO);
        }
        let _ = self.relay.join();
    }
}

/// How many terminal lines `text` fills at `width` columns (colour sequences take none).
fn screen_lines(text: &[u8], width: usize) -> usize {
    let text = String::from_utf8_lossy(text);
    text.split_inclusive('\n')
        .map(|line| {
            let shown = visible_width(line.trim_end_matches('\n'));
            shown.div_ceil(width.max(1)).max(1)
        })
        .sum()
}

/// The characters of `line` that take a column: not those of `ESC [ ... letter`.
fn visible_width(line: &str) -> usize {
    let mut n = 0;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            n += 1;
        }
    }
    n
}

/// Where the relay sends what it reads.
enum Sink {
    /// Kept until it is more than a screen.
    Holding(Vec<u8>),
    Pager(Child),
    /// No pager could be started: straight to the terminal.
    Terminal,
    /// The pager quit (or the terminal failed): the rest is read and dropped.
    Gone,
}

/// Runs in its own thread: reads holdup's output from `pipe`, and writes it to the terminal
/// when it fits one screen, or to the pager started on the terminal when it does not.
fn relay(pipe: OwnedFd, terminal: OwnedFd, command: &str, height: usize, width: usize) {
    // A pager that quits before the end (`q` in less) makes writes to it fail with EPIPE
    // here rather than end holdup by SIGPIPE: the signal is blocked in this thread only.
    // SAFETY: sigset functions on a local set; pthread_sigmask on the calling thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    let mut input = std::fs::File::from(pipe);
    let mut terminal = std::fs::File::from(terminal);
    let mut buf = vec![0u8; 64 * 1024];
    let mut sink = Sink::Holding(Vec::new());
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        sink = match sink {
            Sink::Holding(mut held) => {
                held.extend_from_slice(chunk);
                // A screen holds `height` lines, one of which the shell's prompt takes.
                if screen_lines(&held, width) < height {
                    Sink::Holding(held)
                } else {
                    match spawn_pager(command, &terminal) {
                        Some(child) => write_to(Sink::Pager(child), &held, &mut terminal),
                        None => write_to(Sink::Terminal, &held, &mut terminal),
                    }
                }
            }
            other => write_to(other, chunk, &mut terminal),
        };
    }
    match sink {
        Sink::Holding(held) => {
            let _ = terminal.write_all(&held);
        }
        Sink::Pager(mut child) => {
            drop(child.stdin.take());
            let _ = child.wait();
        }
        Sink::Terminal | Sink::Gone => {}
    }
}

/// Writes `bytes` to the pager or the terminal; the sink to use next.
fn write_to(sink: Sink, bytes: &[u8], terminal: &mut std::fs::File) -> Sink {
    match sink {
        Sink::Pager(mut child) => {
            let written = child
                .stdin
                .as_mut()
                .is_some_and(|stdin| stdin.write_all(bytes).is_ok());
            if written {
                Sink::Pager(child)
            } else {
                // The pager quit: it is waited for at once, so that the terminal is its
                // own again.
                drop(child.stdin.take());
                let _ = child.wait();
                Sink::Gone
            }
        }
        Sink::Terminal => match terminal.write_all(bytes) {
            Ok(()) => Sink::Terminal,
            Err(_) => Sink::Gone,
        },
        other => other,
    }
}

/// Starts `command` through `sh -c`, as git does (PAGER may hold options), reading a pipe
/// and writing to the terminal.
fn spawn_pager(command: &str, terminal: &std::fs::File) -> Option<Child> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::piped())
        .stdout(Stdio::from(terminal.try_clone().ok()?));
    if std::env::var_os("LESS").is_none() {
        cmd.env("LESS", LESS_DEFAULT);
    }
    cmd.spawn().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn which_pager() {
        assert_eq!(pager_command(None, true).as_deref(), Some("less -FRX"));
        assert_eq!(pager_command(None, false), None);
        assert_eq!(pager_command(Some(""), true), None);
        assert_eq!(pager_command(Some("cat"), true), None);
        assert_eq!(
            pager_command(Some("most -s"), false).as_deref(),
            Some("most -s")
        );
    }

    #[test]
    fn lines_on_screen() {
        assert_eq!(screen_lines(b"a\nb\n", 80), 2);
        assert_eq!(screen_lines(&[b'x'; 161], 80), 3);
        assert_eq!(screen_lines(b"\x1b[1mbold\x1b[0m\n\n", 4), 2);
    }
}
