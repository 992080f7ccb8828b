//! `holdup completions SHELL` and `holdup man`: generated from the clap definitions, so they
//! never fall behind the options.

use super::Failure;
use crate::exit;

/// Completions for `shell` on stdout.
pub fn completions(shell: clap_complete::Shell, mut cmd: clap::Command) {
    clap_complete::generate(shell, &mut cmd, "holdup", &mut std::io::stdout());
}

/// The manual page in roff on stdout: holdup(1), or with `subcommand` holdup-SUBCOMMAND(1),
/// the pages holdup(1) refers to.
pub fn man(mut cmd: clap::Command, subcommand: Option<&str>) -> Result<(), Failure> {
    // Built, the command has the `help` subcommand holdup(1) lists too.
    cmd.build();
    let page = match subcommand {
        None => cmd,
        Some(name) => {
            let names: Vec<String> = cmd
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            let sub = cmd.find_subcommand(name).cloned().ok_or_else(|| {
                Failure::new(
                    exit::UNREADABLE,
                    format!(
                        "man {name}: no such subcommand (one of: {})",
                        names.join(", ")
                    ),
                )
            })?;
            // clap names commands with &'static str; the process prints one page and ends.
            let full: &'static str =
                Box::leak(format!("holdup-{}", sub.get_name()).into_boxed_str());
            sub.name(full).version(env!("CARGO_PKG_VERSION"))
        }
    };
    let mut out = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut out)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("man page: {e}")))?;
    use std::io::Write;
    std::io::stdout()
        .write_all(&out)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("stdout: {e}")))
}
