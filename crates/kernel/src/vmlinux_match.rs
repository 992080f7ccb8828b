//! Whether a vmlinux is the one the dump's kernel was built from.
//!
//! A vmlinux of another kernel gives symbols at the wrong places and types of the wrong shape:
//! every value read through them is fabricated, and would be reported as read from memory. So
//! before it is used, a vmlinux must agree with the dump on what the dump itself records:
//!
//! * every `SYMBOL(name)=addr` of VMCOREINFO that the vmlinux also has (`init_uts_ns`,
//!   `_stext`, `swapper_pg_dir`, `node_data`, the printk ring, ...) at the same address once
//!   relocated by `KERNELOFFSET`, where the value lies in the kernel image (`mem_section`'s is
//!   the value of a pointer); at least one must be compared;
//! * `linux_banner`, read from the dump's memory where the vmlinux puts it, must be the
//!   banner of the dump's `OSRELEASE` (`Linux version RELEASE (...`).
//!
//! VMCOREINFO's `BUILD-ID` is not used: some kernels (6.12) write garbage there.

use std::io::Read;
use std::path::Path;

use holdup_kmem::{KernelDump, KernelMemory};
use holdup_symbols::SymbolTable;

/// `Ok` with what was checked, or `Err` saying how the vmlinux and the dump differ and which
/// kernel each is.
pub(crate) fn check(
    dump: &KernelDump,
    table: &SymbolTable,
    vmlinux: &Path,
) -> Result<String, String> {
    let vi = &dump.vmcoreinfo;
    let release = vi.osrelease().unwrap_or("?");
    let mut compared = 0usize;
    let mut wrong = Vec::new();
    // Some SYMBOL() entries hold a pointer's value, not the symbol's address
    // (VMCOREINFO_SYMBOL_ARRAY: `mem_section` is a pointer to the sections): only values
    // inside the kernel image, as the vmlinux lays it out, are addresses of its symbols.
    let image = match (
        table
            .address_of("_text")
            .or_else(|| table.address_of("_stext")),
        table.address_of("_end"),
    ) {
        (Some(lo), Some(hi)) if lo < hi => Some(lo..hi),
        _ => None,
    };
    for (name, _) in vi.symbols() {
        let Ok(Some(want)) = vi.symbol(name) else {
            continue;
        };
        if image.as_ref().is_some_and(|r| !r.contains(&want))
            || (image.is_none() && name == "mem_section")
        {
            continue;
        }
        if let Some(got) = table.address_of(name) {
            compared += 1;
            if got != want {
                wrong.push(format!(
                    "{name} is at {want:#x} in the dump's VMCOREINFO but at {got:#x} in the vmlinux"
                ));
            }
        }
    }
    let banner = table.address_of("linux_banner").map(|addr| {
        let mut buf = [0u8; 160];
        dump.mem
            .read(addr, &mut buf)
            .ok()
            .map(|()| holdup_text::printable(until_nul(&buf)))
    });
    let want_banner = format!("Linux version {release} ");
    let banner_ok = match &banner {
        Some(Some(b)) if b.starts_with(&want_banner) => true,
        Some(Some(b)) => {
            wrong.push(format!(
                "linux_banner, read from the dump where the vmlinux puts it, is {:?}",
                b.chars().take(60).collect::<String>()
            ));
            false
        }
        Some(None) => {
            wrong.push("linux_banner, where the vmlinux puts it, is not in the dump".into());
            false
        }
        None => false,
    };
    if wrong.is_empty() && compared == 0 && !banner_ok {
        wrong.push(
            "none of the dump's VMCOREINFO symbols and no linux_banner is in its symbol table"
                .into(),
        );
    }
    if wrong.is_empty() {
        return Ok(format!(
            "{compared} VMCOREINFO symbol(s) at the same addresses{}",
            if banner_ok {
                ", linux_banner of the same release"
            } else {
                ""
            }
        ));
    }
    let theirs = banner_in_file(vmlinux).map_or_else(
        || "of a kernel holdup cannot name (no linux_banner in the file)".into(),
        |r| format!("kernel {r}"),
    );
    Err(format!(
        "is not the vmlinux of this dump's kernel: the dump is kernel {release}, the vmlinux is {theirs} ({})",
        wrong.into_iter().take(3).collect::<Vec<_>>().join("; ")
    ))
}

fn until_nul(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// The release in the first `Linux version RELEASE ` of a file (its `linux_banner`), read in
/// chunks: only on the error path, to name the kernel a vmlinux is of.
fn banner_in_file(path: &Path) -> Option<String> {
    const NEEDLE: &[u8] = b"Linux version ";
    let mut f = holdup_dump::open_regular_file(path).ok()?;
    let mut buf = vec![0u8; 1 << 20];
    let mut keep = 0usize;
    loop {
        let n = f.read(&mut buf[keep..]).ok()?;
        if n == 0 {
            return None;
        }
        let have = keep + n;
        let hay = &buf[..have];
        let mut from = 0;
        while let Some(i) = hay[from..].windows(NEEDLE.len()).position(|w| w == NEEDLE) {
            let at = from + i + NEEDLE.len();
            let rest = &hay[at..];
            let end = rest.iter().position(|&c| c == b' ' || c == 0);
            match end {
                Some(e) if e > 0 && e < 128 && rest[0].is_ascii_digit() => {
                    return Some(holdup_text::printable(&rest[..e]));
                }
                None if rest.len() < 128 => break, // may continue in the next chunk
                _ => from = at,
            }
        }
        // Keep the tail, in case the banner straddles two chunks.
        let tail = 256.min(have);
        buf.copy_within(have - tail..have, 0);
        keep = tail;
    }
}
