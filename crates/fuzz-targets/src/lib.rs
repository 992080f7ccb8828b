//! The fuzz entry points of holdup, one per parser of bytes that come from a dump, and the
//! fixture overlay they share with the robustness tests.
//!
//! Each entry takes arbitrary bytes and must return without panicking, looping or allocating
//! what the bytes claim: that is the whole contract. The same functions run under libFuzzer
//! (`fuzz/`, `just fuzz`) and in the replay test (`tests/tests/fuzz_replay.rs`), which feeds
//! them every committed corpus and regression file with the stable toolchain.
//!
//! | target | what the input is |
//! |---|---|
//! | `elf` | a whole ELF vmcore: header, program headers, notes, PT_LOAD data |
//! | `elf_notes` | the contents of one PT_NOTE segment (wrapped in a fixed ELF) |
//! | `kdump` | a whole kdump-compressed file: headers, bitmaps, page descriptors, pages |
//! | `flattened` | the records of a flattened (`makedumpfile -F`) file, after its header |
//! | `vmcoreinfo` | the VMCOREINFO note text |
//! | `kallsyms` | the kallsyms tables, in a fake kernel memory ([`parsers::kallsyms`]) |
//! | `btf` | a BTF blob, then the type questions holdup asks |
//! | `printk` | a printk ring buffer in a fake kernel memory ([`parsers::printk`]) |
//! | `orc` | ORC tables and task stacks of the 6.1 fixture, overwritten ([`fixture`]) |
//! | `analysis` | patches to kernel data pages of the 6.1 fixture, then the whole report |

pub mod fakemem;
pub mod fixture;
pub mod parsers;

/// A fuzz entry function.
pub type Entry = fn(&[u8]);

/// Every target: its name (the `fuzz/fuzz_targets/<name>.rs` binary and the
/// `fuzz/corpus/<name>/` directory) and its entry function.
pub const TARGETS: &[(&str, Entry)] = &[
    ("elf", parsers::elf),
    ("elf_notes", parsers::elf_notes),
    ("kdump", parsers::kdump),
    ("flattened", parsers::flattened),
    ("vmcoreinfo", parsers::vmcoreinfo),
    ("kallsyms", parsers::kallsyms),
    ("btf", parsers::btf),
    ("printk", parsers::printk),
    ("orc", fixture::orc),
    ("analysis", fixture::analysis),
];

/// Whether integer overflow panics in this build, as in the fuzzers (`cargo fuzz build -a`):
/// the replay of their inputs means the same only then (the workspace's release profile turns
/// the checks on for holdup's crates).
pub fn overflow_checks_on() -> bool {
    std::panic::catch_unwind(|| std::hint::black_box(u8::MAX) + std::hint::black_box(1)).is_err()
}

/// The entry function of a target, by name.
pub fn target(name: &str) -> Option<Entry> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f)
}
