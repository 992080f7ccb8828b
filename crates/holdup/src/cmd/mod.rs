//! One module per subcommand.

pub mod args;
pub mod bt;
pub mod info;
pub mod locks;
pub mod log;
pub mod page;
pub mod pager;
pub mod ps;
pub mod report;
pub mod schema;
pub mod shell;
pub mod style;
pub mod term;
pub mod triage;

use crate::{DumpArgs, exit};
use holdup_kernel::locking::{self, AnalyzeOptions, LockAnalysis};
use holdup_kernel::sched::{self, TaskList};
use holdup_kernel::{Kernel, OpenOptions};

/// A command that failed: the exit status and a one-line message for a person.
pub struct Failure {
    pub status: u8,
    pub message: String,
}

impl Failure {
    pub fn new(status: u8, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

/// Opens the dump named on the command line, with the vmlinux given or found for its
/// release (see `holdup_triage::debuginfo`; `-v` says which).
pub fn open(args: &DumpArgs) -> Result<Kernel, Failure> {
    open_with(args, OpenOptions::default())
}

/// [`open`] without the modules' symbols, for commands that never name a module address.
pub fn open_without_modules(args: &DumpArgs) -> Result<Kernel, Failure> {
    open_with(
        args,
        OpenOptions {
            skip_module_symbols: true,
            ..OpenOptions::default()
        },
    )
}

/// Opens the dump for `holdup info`: only the symbols it reads are looked up.
pub fn open_for_info(args: &DumpArgs) -> Result<Kernel, Failure> {
    open_with(
        args,
        OpenOptions {
            skip_module_symbols: true,
            symbols_needed: Some(holdup_kernel::sysinfo::INFO_SYMBOLS),
            ..OpenOptions::default()
        },
    )
}

fn open_with(args: &DumpArgs, opts: OpenOptions) -> Result<Kernel, Failure> {
    let path = args
        .dump
        .as_ref()
        .ok_or_else(|| Failure::new(exit::UNREADABLE, "no dump given"))?;
    check_not_compressed(path)?;
    let (kernel, _) =
        holdup_triage::debuginfo::open_kernel_with(path, args.vmlinux.as_deref(), opts)
            .map_err(|e| Failure::new(exit::UNREADABLE, e))?;
    ::log::info!(
        "{}: symbols: {}; types: {}",
        path.display(),
        kernel.symbols_source,
        kernel.types_source
    );
    for w in &kernel.warnings {
        ::log::warn!("{w}");
    }
    Ok(kernel)
}

/// Compression formats dumps are shipped in: the name, the magic bytes a file of it starts
/// with, and the command that undoes it keeping the compressed file.
const COMPRESSIONS: [(&str, &[u8], &str); 5] = [
    ("zstd", &[0x28, 0xb5, 0x2f, 0xfd], "zstd -d"),
    ("xz", &[0xfd, b'7', b'z', b'X', b'Z', 0x00], "xz -dk"),
    ("gzip", &[0x1f, 0x8b], "gzip -dk"),
    ("bzip2", b"BZh", "bzip2 -dk"),
    ("lz4", &[0x04, 0x22, 0x4d, 0x18], "lz4 -d"),
];

/// The compression format whose magic bytes `head` starts with, and its decompressor.
fn compression_of(head: &[u8]) -> Option<(&'static str, &'static str)> {
    COMPRESSIONS
        .iter()
        .find(|(_, magic, _)| head.starts_with(magic))
        .map(|&(name, _, tool)| (name, tool))
}

/// Fails, saying how to decompress it, when `path` is a regular file compressed as a whole
/// (`vmcore.zst`): no dump format starts like one, and "unknown magic" would not say what
/// to do. Anything else (a missing file, a FIFO, which opening would wait on) is left to
/// the dump reader and its messages.
pub fn check_not_compressed(path: &std::path::Path) -> Result<(), Failure> {
    use std::io::Read;
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return Ok(());
    }
    let mut head = [0u8; 8];
    let n = std::fs::File::open(path)
        .and_then(|f| f.take(head.len() as u64).read(&mut head))
        .unwrap_or(0);
    match compression_of(&head[..n]) {
        Some((name, tool)) => Err(Failure::new(
            exit::UNREADABLE,
            format!(
                "{}: compressed with {name}: decompress it first (e.g. `{tool} {}`), then give holdup the file it makes",
                path.display(),
                path.display()
            ),
        )),
        None => Ok(()),
    }
}

/// Every task of the dump, and what its blocked (`D`) tasks wait on and who holds it: what
/// `holdup locks` and `holdup page` show.
pub fn blocked_locks(
    k: &Kernel,
    opts: &AnalyzeOptions,
) -> Result<(TaskList, LockAnalysis), Failure> {
    let tasks = sched::all_tasks(k)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("cannot list tasks: {e}")))?;
    let analysis = locking::analyze_with(k, &tasks.blocked(), opts)
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("cannot read locks: {e}")))?;
    Ok((tasks, analysis))
}

/// How a lock relation is known, in the words of every output (the report, `locks`, `page`,
/// `--dot`): `fact: SOURCE at ADDRESS` or `guess N%: REASON; REASON`.
pub fn evidence_text(e: &locking::Evidence) -> String {
    match e {
        locking::Evidence::Fact {
            source,
            at: Some(at),
        } => format!("fact: {source} at {at:#x}"),
        locking::Evidence::Fact { source, at: None } => format!("fact: {source}"),
        locking::Evidence::Inference {
            confidence,
            reasons,
        } => format!("guess {}%: {}", confidence.0, reasons.join("; ")),
    }
}

/// A problem a command met but went on after (`holdup: ps: ...`) on stderr; `-q` silences it.
pub fn note(cmd: &str, msg: impl std::fmt::Display) {
    if !style::ui().quiet {
        eprintln!("holdup: {cmd}: {msg}");
    }
}

/// The version of the JSON of `ps`, `bt`, `locks`, `page`, `info` and `log`, first in each
/// (`docs/schemas/`): within a version fields are only added; removing one or changing its
/// meaning bumps it. (The report and triage lines carry their own.)
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// A command's JSON with its schema version first.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub(crate) struct Versioned<'a, T: serde::Serialize> {
    schema_version: u32,
    #[serde(flatten)]
    value: &'a T,
}

/// Prints a command's output as pretty JSON on stdout, `schema_version` first.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(&Versioned {
        schema_version: JSON_SCHEMA_VERSION,
        value,
    })
    .map_err(|e| Failure::new(exit::UNREADABLE, format!("JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::compression_of;

    #[test]
    fn compressed_files_by_their_magic() {
        assert_eq!(
            compression_of(&[0x28, 0xb5, 0x2f, 0xfd, 0]).map(|c| c.0),
            Some("zstd")
        );
        assert_eq!(compression_of(b"\xfd7zXZ\0\0").map(|c| c.0), Some("xz"));
        assert_eq!(compression_of(&[0x1f, 0x8b, 8]).map(|c| c.0), Some("gzip"));
        assert_eq!(compression_of(b"BZh91AY").map(|c| c.0), Some("bzip2"));
        // Dumps: ELF, kdump-compressed, flattened.
        for dump in [&b"\x7fELF\x02\x01"[..], b"KDUMP   ", b"makedumpfile"] {
            assert_eq!(compression_of(dump), None);
        }
        assert_eq!(compression_of(b""), None);
    }
}
