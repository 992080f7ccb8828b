//! Finding dumps: files named on the command line, and folders in the layouts kdump tools
//! leave behind.
//!
//! - kdump-tools (Debian, Ubuntu): `/var/crash/<stamp>/dump.<stamp>` beside `dmesg.<stamp>`;
//!   `dump-incomplete` when the capture did not finish.
//! - kexec-tools' kdump (Fedora, RHEL, SUSE): `/var/crash/<host>-<date>/vmcore` beside
//!   `vmcore-dmesg.txt`; `vmcore-incomplete` when the capture did not finish.
//! - Anything else under a folder that starts like a dump (an ELF core file, `KDUMP   `,
//!   makedumpfile's flattened `makedumpfile` signature).
//!
//! Folders are walked to a bounded depth and a bounded number of entries, in name order, so
//! the same tree always gives the same list.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

/// How a dump was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// A file named on the command line.
    Given,
    /// kdump-tools: `dump.<stamp>` (with `dmesg.<stamp>`), or `dump-incomplete`.
    KdumpTools,
    /// kexec-tools: `vmcore` (with `vmcore-dmesg.txt`), or `vmcore-incomplete`.
    Vmcore,
    /// Another file in a folder, whose first bytes are those of a dump.
    Scanned,
}

/// A dump to analyse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// The kernel log the capture tool saved beside it, if any.
    pub dmesg: Option<PathBuf>,
    pub layout: Layout,
}

/// Bounds of the walk.
#[derive(Debug, Clone, Copy)]
pub struct DiscoverOptions {
    /// How many folders deep to look under a folder given (1: only its own files).
    pub max_depth: usize,
    /// How many folder entries to look at in all before stopping.
    pub max_entries: usize,
}

impl Default for DiscoverOptions {
    fn default() -> Self {
        DiscoverOptions {
            max_depth: 4,
            max_entries: 1_000_000,
        }
    }
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct Discovery {
    pub dumps: Vec<Found>,
    /// Folders that could not be read, bounds reached, folders without dumps.
    pub problems: Vec<String>,
}

/// Finds the dumps named by `paths`: a path that is not a folder is taken as a dump as it
/// is (if it cannot be read, its analysis says so); a folder is walked.
pub fn discover(paths: &[PathBuf], opts: &DiscoverOptions) -> Discovery {
    let mut d = Discovery::default();
    let mut seen = BTreeSet::new();
    let mut walk = Walk {
        opts: *opts,
        entries: 0,
        stopped: false,
        visited: BTreeSet::new(),
    };
    for p in paths {
        if p.is_dir() {
            let before = d.dumps.len();
            walk.dir(p, 1, &mut d, &mut seen);
            if d.dumps.len() == before && !walk.stopped {
                d.problems
                    .push(format!("{}: no dump found in this folder", p.display()));
            }
        } else if seen.insert(p.clone()) {
            d.dumps.push(Found {
                path: p.clone(),
                dmesg: None,
                layout: Layout::Given,
            });
        }
    }
    d
}

struct Walk {
    opts: DiscoverOptions,
    entries: usize,
    stopped: bool,
    /// Canonical folders already walked (symbolic links may loop).
    visited: BTreeSet<PathBuf>,
}

impl Walk {
    fn dir(&mut self, dir: &Path, depth: usize, d: &mut Discovery, seen: &mut BTreeSet<PathBuf>) {
        if self.stopped {
            return;
        }
        if let Ok(c) = fs::canonicalize(dir)
            && !self.visited.insert(c)
        {
            return;
        }
        let mut names: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                d.problems.push(format!("{}: {e}", dir.display()));
                return;
            }
        };
        names.sort();
        let mut subdirs = Vec::new();
        for path in names {
            self.entries += 1;
            if self.entries > self.opts.max_entries {
                d.problems.push(format!(
                    "stopped looking for dumps after {} folder entries (at {})",
                    self.opts.max_entries,
                    dir.display()
                ));
                self.stopped = true;
                return;
            }
            // Follows symbolic links: a farm of links to dumps is a fine way to lay one out.
            let Ok(meta) = fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                subdirs.push(path);
            } else if meta.is_file()
                && let Some(found) = classify(&path)
                && seen.insert(found.path.clone())
            {
                log::debug!("found {} ({:?})", found.path.display(), found.layout);
                d.dumps.push(found);
            }
        }
        for sub in subdirs {
            if depth < self.opts.max_depth {
                self.dir(&sub, depth + 1, d, seen);
            } else {
                log::debug!(
                    "not looking in {}: deeper than {} folder(s)",
                    sub.display(),
                    self.opts.max_depth
                );
            }
        }
    }
}

/// Whether a file in a folder is a dump, and how it was laid out.
pub fn classify(path: &Path) -> Option<Found> {
    let name = path.file_name()?.to_str()?;
    let sibling = |n: &str| {
        let p = path.with_file_name(n);
        p.is_file().then_some(p)
    };
    match name {
        "vmcore" | "vmcore-incomplete" | "vmcore.flat" => {
            return Some(Found {
                path: path.to_path_buf(),
                dmesg: sibling("vmcore-dmesg.txt"),
                layout: Layout::Vmcore,
            });
        }
        "dump-incomplete" => {
            return Some(Found {
                path: path.to_path_buf(),
                dmesg: None,
                layout: Layout::KdumpTools,
            });
        }
        _ => {}
    }
    if let Some(stamp) = name.strip_prefix("dump.")
        && !stamp.is_empty()
    {
        return Some(Found {
            path: path.to_path_buf(),
            dmesg: sibling(&format!("dmesg.{stamp}")),
            layout: Layout::KdumpTools,
        });
    }
    if name == "vmcore-dmesg.txt" || name.starts_with("dmesg.") {
        return None;
    }
    looks_like_dump(path).then(|| Found {
        path: path.to_path_buf(),
        dmesg: None,
        layout: Layout::Scanned,
    })
}

/// Whether a file starts like a dump holdup reads: a 64-bit ELF core file, a
/// kdump-compressed header or makedumpfile's flattened format.
pub fn looks_like_dump(path: &Path) -> bool {
    let mut head = [0u8; 20];
    let Ok(mut f) = fs::File::open(path) else {
        return false;
    };
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    starts_like_dump(&head[..n])
}

/// [`looks_like_dump`] on the first bytes.
pub fn starts_like_dump(head: &[u8]) -> bool {
    const ET_CORE: u16 = 4;
    if head.starts_with(b"KDUMP   ") || head.starts_with(b"makedumpfile") {
        return true;
    }
    if head.len() >= 18 && head.starts_with(b"\x7fELF") && head[4] == 2 {
        let e_type = if head[5] == 2 {
            u16::from_be_bytes([head[16], head[17]])
        } else {
            u16::from_le_bytes([head[16], head[17]])
        };
        return e_type == ET_CORE;
    }
    false
}

/// The panic message in a kernel log saved beside a dump (`dmesg.<stamp>`,
/// `vmcore-dmesg.txt`): the last `Kernel panic - not syncing:` line. Reads at most the last
/// 8 MiB.
pub fn panic_from_dmesg(path: &Path) -> Option<String> {
    const MAX: u64 = 8 << 20;
    const PREFIX: &str = "Kernel panic - not syncing: ";
    let mut f = fs::File::open(path).ok()?;
    let len = f.metadata().ok()?.len();
    if len > MAX {
        use std::io::Seek;
        f.seek(std::io::SeekFrom::Start(len - MAX)).ok()?;
    }
    let mut bytes = Vec::new();
    f.take(MAX).read_to_end(&mut bytes).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    text.lines().rev().find_map(|l| {
        let at = l.find(PREFIX)?;
        let msg = l[at + PREFIX.len()..].trim();
        (!msg.is_empty()).then(|| holdup_text::printable(msg.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "holdup-triage-{}-{name}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn magic_numbers() {
        let mut core = vec![0x7f, b'E', b'L', b'F', 2, 1, 1, 0];
        core.resize(16, 0);
        core.extend_from_slice(&4u16.to_le_bytes());
        assert!(starts_like_dump(&core));
        let mut exec = core.clone();
        exec[16] = 2; // ET_EXEC: a vmlinux is not a dump
        assert!(!starts_like_dump(&exec));
        assert!(starts_like_dump(b"KDUMP   \x06\x00\x00\x00"));
        assert!(starts_like_dump(b"makedumpfile\0\0\0\0"));
        assert!(!starts_like_dump(b"\x28\xb5\x2f\xfd")); // zstd
        assert!(!starts_like_dump(b""));
    }

    #[test]
    fn kdump_layouts_are_found_with_their_logs() {
        let root = tmp("layouts");
        let a = root.join("202611241951");
        fs::create_dir_all(&a).unwrap();
        fs::write(a.join("dump.202611241951"), b"whatever").unwrap();
        fs::write(
            a.join("dmesg.202611241951"),
            "[ 1.0] x\n[ 24.1] Kernel panic - not syncing: hung_task: blocked tasks\n",
        )
        .unwrap();
        let b = root.join("127.0.0.1-2026-11-24-19:51:46");
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join("vmcore"), b"x").unwrap();
        fs::write(b.join("vmcore-dmesg.txt"), b"nothing").unwrap();
        fs::write(root.join("notes.txt"), b"not a dump").unwrap();
        fs::write(root.join("core.1"), b"KDUMP   rest").unwrap();
        let deep = root.join("1/2/3/4/5");
        fs::create_dir_all(&deep).unwrap();
        fs::write(deep.join("vmcore"), b"x").unwrap();

        let d = discover(std::slice::from_ref(&root), &DiscoverOptions::default());
        let got: Vec<(String, Layout, bool)> = d
            .dumps
            .iter()
            .map(|f| {
                (
                    f.path.strip_prefix(&root).unwrap().display().to_string(),
                    f.layout,
                    f.dmesg.is_some(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("core.1".to_string(), Layout::Scanned, false),
                (
                    "127.0.0.1-2026-11-24-19:51:46/vmcore".to_string(),
                    Layout::Vmcore,
                    true
                ),
                (
                    "202611241951/dump.202611241951".to_string(),
                    Layout::KdumpTools,
                    true
                ),
            ]
        );
        assert_eq!(
            panic_from_dmesg(d.dumps[2].dmesg.as_ref().unwrap()).as_deref(),
            Some("hung_task: blocked tasks")
        );
        let _ = fs::remove_dir_all(&root);
    }

    #[test]
    fn files_named_are_taken_as_they_are_and_empty_folders_said() {
        let root = tmp("given");
        let d = discover(
            &[root.join("missing"), root.clone(), root.join("missing")],
            &DiscoverOptions::default(),
        );
        assert_eq!(d.dumps.len(), 1);
        assert_eq!(d.dumps[0].layout, Layout::Given);
        assert_eq!(d.problems.len(), 1, "{:?}", d.problems);
        let _ = fs::remove_dir_all(&root);
    }
}
