//! A task that names itself with escape sequences: `prctl(PR_SET_NAME)` takes any bytes, so a
//! hostile process on the crashed machine could rewrite the terminal of whoever reads the
//! dump. The 6.1 fixture's ELF dump is copied and kscand's `comm` overwritten with ESC, BEL,
//! CR and LF; every command that shows it must show it escaped.

use holdup_e2e::{dump_path, fresh_scratch, holdup, manifest, parse_hex};
use holdup_kernel::{Kernel, OpenOptions};

const HOSTILE: &[u8] = b"k\x1b[2J\x07\r\nFAKE\0";
const ESCAPED: &str = "k\\x1b[2J\\x07\\x0d\\x0aFAKE";

/// A copy of the 6.1 ELF dump with kscand's comm replaced by [`HOSTILE`].
fn hostile_dump() -> std::path::PathBuf {
    let m = manifest();
    let fx = m.fixture("6.1");
    let elf = fx
        .files
        .iter()
        .find(|f| f.format.as_deref() == Some("elf"))
        .expect("the 6.1 fixture has an ELF dump");
    let src = dump_path(fx, elf);
    let truth = fx.facts();
    let kscand = truth
        .iter()
        .find(|f| f.comm == "kscand")
        .expect("truth names kscand");
    let task = parse_hex(&kscand.task);

    let k = Kernel::open(&src, &OpenOptions::default()).expect("the ELF fixture opens");
    let t = k
        .dump
        .mem
        .translate(task)
        .expect("kscand's task_struct maps");
    // The comm lies inside the task_struct: find its bytes there.
    let mut buf = vec![0u8; 16 << 10];
    holdup_dump::PhysicalMemory::read_phys(&*k.dump.dump, t.paddr, &mut buf)
        .expect("kscand's task_struct is in the dump");
    let at = buf
        .windows(7)
        .position(|w| w == b"kscand\0")
        .expect("kscand's comm inside its task_struct");
    let paddr = t.paddr + at as u64;
    let seg = k
        .dump
        .dump
        .elf_info()
        .unwrap()
        .segments
        .iter()
        .find(|s| s.paddr <= paddr && paddr + 16 <= s.paddr + s.filesz)
        .copied()
        .expect("the comm's page is in a PT_LOAD");
    drop(k);

    let dir = fresh_scratch("hostile-strings");
    let dst = dir.join("vmcore.elf");
    std::fs::copy(&src, &dst).unwrap();
    let mut bytes = std::fs::read(&dst).unwrap();
    let off = (seg.offset + (paddr - seg.paddr)) as usize;
    bytes[off..off + HOSTILE.len()].copy_from_slice(HOSTILE);
    std::fs::write(&dst, bytes).unwrap();
    dst
}

fn assert_clean(what: &str, out: &str) {
    for (c, name) in [('\x1b', "ESC"), ('\x07', "BEL"), ('\r', "CR")] {
        assert!(
            !out.contains(c),
            "{what}: a raw {name} reaches the output:\n{out}"
        );
    }
    assert!(
        !out.lines().any(|l| l.starts_with("FAKE")),
        "{what}: the name's LF starts a line of its own:\n{out}"
    );
}

#[test]
fn escape_sequences_in_a_comm_never_reach_the_output() {
    let dump = hostile_dump();
    let d = dump.to_str().unwrap();
    for args in [
        vec![d],
        vec![d, "--dot"],
        vec![d, "--json"],
        vec!["ps", d],
        vec!["ps", d, "--json"],
        vec!["bt", d, "--all"],
        vec!["locks", d],
    ] {
        let (st, out, err) = holdup(&args);
        assert!(st == 0, "holdup {args:?}: {st}: {err}");
        assert_clean(&format!("holdup {args:?}"), &out);
        assert_clean(&format!("holdup {args:?} (stderr)"), &err);
        let shown = if args.contains(&"--json") || args.contains(&"--dot") {
            // JSON and DOT escape the backslashes once more.
            ESCAPED.replace('\\', "\\\\")
        } else {
            ESCAPED.to_string()
        };
        assert!(
            out.contains(&shown),
            "holdup {args:?} does not show the comm escaped ({shown}):\n{out}"
        );
    }
}
