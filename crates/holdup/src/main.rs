//! `holdup`: the command line. A thin layer over the library crates in `crates/`.

use clap::Parser;

/// Explain a Linux kernel hang from its vmcore: who holds what, and the root cause.
#[derive(Parser)]
#[command(name = "holdup", version, about)]
struct Cli {
    /// The vmcore to analyse (ELF, kdump-compressed or flattened).
    dump: Option<std::path::PathBuf>,
}

fn main() {
    let cli = Cli::parse();
    if let Some(dump) = cli.dump {
        eprintln!("holdup: {}: analysis is not implemented yet", dump.display());
        std::process::exit(2);
    }
}
