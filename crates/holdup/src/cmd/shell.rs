//! `holdup completions SHELL` and `holdup man`: generated from the clap definitions, so they
//! never fall behind the options.

use super::Failure;
use crate::exit;

/// Completions for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) {
    clap_complete::generate(shell, &mut cmd, "holdup", &mut std::io::stdout());
}

/// The manual page in roff on stdout.
pub fn man(cmd: clap::Command) -> Result<(), Failure> {
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd)
        .render(&mut out)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("man page: {e}")))?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("stdout: {e}")))
}
