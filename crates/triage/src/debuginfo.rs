//! Which vmlinux to use for a dump: the one given, else the one the distribution's debug
//! package installs for the dump's kernel release, else none (kallsyms and BTF from the dump).
//!
//! The release comes from the dump's VMCOREINFO (`OSRELEASE=`), read by parsing the dump's
//! headers only, and only when a debug folder exists at all. Looked for, in order:
//!
//! - `/usr/lib/debug/boot/vmlinux-RELEASE` (Debian and Ubuntu `linux-image-*-dbg*`)
//! - `/usr/lib/debug/lib/modules/RELEASE/vmlinux` (Fedora and RHEL `kernel-debuginfo`)
//!
//! `HOLDUP_DEBUG_ROOT` replaces `/usr/lib/debug`; set to the empty string, nothing is looked for.

use holdup_kernel::{Kernel, OpenOptions};
use std::path::{Path, PathBuf};

/// The environment variable that replaces `/usr/lib/debug`.
pub const DEBUG_ROOT_ENV: &str = "HOLDUP_DEBUG_ROOT";
/// Where debug packages install vmlinux files.
pub const DEFAULT_DEBUG_ROOT: &str = "/usr/lib/debug";

/// The vmlinux chosen for a dump, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vmlinux {
    /// Given with `--vmlinux`.
    Given(PathBuf),
    /// Found in the debug folder for the dump's release.
    Found { path: PathBuf, release: String },
    /// None: symbols and types come from the dump; the reason says why no file was used.
    None { reason: String },
}

impl Vmlinux {
    pub fn path(&self) -> Option<&Path> {
        match self {
            Vmlinux::Given(p) | Vmlinux::Found { path: p, .. } => Some(p),
            Vmlinux::None { .. } => None,
        }
    }

    /// One line for `-v`.
    pub fn describe(&self) -> String {
        match self {
            Vmlinux::Given(p) => format!("vmlinux {} (given with --vmlinux)", p.display()),
            Vmlinux::Found { path, release } => format!(
                "vmlinux {} (found for release {release}; --vmlinux PATH to use another, {DEBUG_ROOT_ENV}= to search nowhere)",
                path.display()
            ),
            Vmlinux::None { reason } => {
                format!("no vmlinux ({reason}): symbols and types from the dump (kallsyms, BTF)")
            }
        }
    }
}

/// The folder standing for `/usr/lib/debug`, or `None` when the search is turned off.
pub fn debug_root() -> Option<PathBuf> {
    match std::env::var_os(DEBUG_ROOT_ENV) {
        Some(v) if v.is_empty() => None,
        Some(v) => Some(PathBuf::from(v)),
        None => Some(PathBuf::from(DEFAULT_DEBUG_ROOT)),
    }
}

/// The places a vmlinux for `release` is looked for under `root`, in order.
pub fn candidates(root: &Path, release: &str) -> Vec<PathBuf> {
    vec![
        root.join("boot").join(format!("vmlinux-{release}")),
        root.join("lib")
            .join("modules")
            .join(release)
            .join("vmlinux"),
    ]
}

/// A release string safe to put in a path (`6.1.0-56-amd64`, `6.12.95+deb12-amd64`).
fn plausible_release(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 128
        && !r.starts_with('.')
        && r.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+~-".contains(c))
}

/// `OSRELEASE` from the dump's VMCOREINFO, reading the dump's headers only.
pub fn dump_release(dump: &Path) -> Result<String, String> {
    let d = holdup_dump::Dump::open(dump).map_err(|e| e.to_string())?;
    let raw = d
        .vmcoreinfo_raw()
        .ok_or_else(|| "the dump has no VMCOREINFO".to_string())?;
    let info = holdup_vmcoreinfo::VmcoreInfo::parse_bytes(raw);
    info.osrelease()
        .map(str::to_string)
        .ok_or_else(|| "VMCOREINFO has no OSRELEASE".to_string())
}

/// Chooses the vmlinux for `dump`.
pub fn choose(dump: &Path, given: Option<&Path>) -> Vmlinux {
    if let Some(g) = given {
        return Vmlinux::Given(g.to_path_buf());
    }
    let Some(root) = debug_root() else {
        return Vmlinux::None {
            reason: format!("{DEBUG_ROOT_ENV} is empty: not searched"),
        };
    };
    // Reading the release costs a parse of the dump's headers: skip it when no debug
    // package is installed at all.
    if !root.join("boot").is_dir() && !root.join("lib").join("modules").is_dir() {
        return Vmlinux::None {
            reason: format!(
                "no {} or {}",
                root.join("boot").display(),
                root.join("lib/modules").display()
            ),
        };
    }
    let release = match dump_release(dump) {
        Ok(r) => r,
        Err(e) => {
            return Vmlinux::None {
                reason: format!("kernel release unknown: {e}"),
            };
        }
    };
    if !plausible_release(&release) {
        return Vmlinux::None {
            reason: format!("kernel release {release:?} is not a file name"),
        };
    }
    let list = candidates(&root, &release);
    match list.iter().find(|p| p.is_file()) {
        Some(p) => Vmlinux::Found {
            path: p.clone(),
            release,
        },
        None => Vmlinux::None {
            reason: format!(
                "none of {}",
                list.iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
}

/// Opens a dump with the vmlinux [`choose`] picks. The error is one line for a person; when
/// an automatically found vmlinux fails, it says so and how to do without it.
pub fn open_kernel(dump: &Path, given: Option<&Path>) -> Result<(Kernel, Vmlinux), String> {
    open_kernel_with(dump, given, OpenOptions::default())
}

/// [`open_kernel`] with other options (`opts.vmlinux` is replaced by the one chosen).
pub fn open_kernel_with(
    dump: &Path,
    given: Option<&Path>,
    opts: OpenOptions,
) -> Result<(Kernel, Vmlinux), String> {
    let choice = choose(dump, given);
    log::info!("{}: {}", dump.display(), choice.describe());
    let opts = OpenOptions {
        vmlinux: choice.path().map(Path::to_path_buf),
        ..opts
    };
    match Kernel::open(dump, &opts) {
        Ok(k) => Ok((k, choice)),
        // A debug package's vmlinux of the same release name but another build: the dump
        // alone is better than symbols at the wrong places.
        Err(e @ holdup_kernel::OpenError::VmlinuxMismatch { .. })
            if matches!(choice, Vmlinux::Found { .. }) =>
        {
            let reason = format!("the vmlinux found automatically was refused: {e}");
            let opts = OpenOptions {
                vmlinux: None,
                ..opts
            };
            let mut k = Kernel::open(dump, &opts).map_err(|e2| format!("{e2} ({reason})"))?;
            k.warnings.push(reason.clone());
            Ok((k, Vmlinux::None { reason }))
        }
        Err(e) => Err(match &choice {
            Vmlinux::Found { path, release } => format!(
                "{e} (vmlinux {} was found automatically for kernel {release}; pass --vmlinux PATH to use another, or set {DEBUG_ROOT_ENV}= to use none)",
                path.display()
            ),
            _ => e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_follow_the_distributions() {
        let c = candidates(Path::new("/usr/lib/debug"), "6.1.0-56-amd64");
        assert_eq!(
            c[0],
            Path::new("/usr/lib/debug/boot/vmlinux-6.1.0-56-amd64")
        );
        assert_eq!(
            c[1],
            Path::new("/usr/lib/debug/lib/modules/6.1.0-56-amd64/vmlinux")
        );
    }

    #[test]
    fn releases_that_are_paths_are_refused() {
        assert!(plausible_release("6.12.95+deb12-amd64"));
        assert!(plausible_release("5.14.0-427.el9.x86_64"));
        assert!(!plausible_release("../../etc"));
        assert!(!plausible_release("a/b"));
        assert!(!plausible_release(""));
    }
}
