//! Physical memory of a Linux x86_64 vmcore.
//!
//! [`open`] detects the format by its magic and gives a [`Dump`]:
//! * ELF64 core: a raw `/proc/vmcore` copy, `makedumpfile -E` output (filtered pages form the
//!   `p_filesz < p_memsz` tails of segments), QEMU `dump-guest-memory` ELF;
//! * kdump-compressed (`KDUMP   `), header versions 1..6, pages raw or compressed with zlib,
//!   lzo, snappy or zstd, both bitmaps, the shared zero-page descriptor, the incomplete flag;
//! * the flattened format (`makedumpfile -F`, QEMU's `kdump-*` output) wrapping either of the
//!   above: its records are indexed once and read in place.
//!
//! The file is memory-mapped and read lazily: opening parses headers, notes and (kdump) builds
//! a popcount index over the bitmap; pages are decoded when read, and decompressed pages are
//! kept in a bounded, sharded cache (a page read whole is cached from its second whole read
//! on: bulk reads such as a BTF blob or a scan of struct pages are read once). zlib pages
//! are inflated with libdeflate. The dump is untrusted: sizes are checked against the file
//! before anything is allocated or read, and malformed input gives an error, never a panic.
//!
//! Physical memory is read through the [`PhysicalMemory`] trait, which [`Dump`] implements.

mod cache;
mod elf;
mod kdump;
mod lzo;
mod mapped;
mod notes;
mod source;

use std::fmt;
use std::fs::File;
use std::path::Path;

pub use elf::{ElfInfo, ElfSegment};
pub use kdump::{Compression, KdumpHeader, Utsname};
pub use notes::{NT_PRSTATUS, Note, Notes, PR_REG_NAMES, PrStatus, QemuCpuState, QemuSegment};

use elf::ElfDump;
use kdump::KdumpDump;
pub use mapped::MappedFile;
use source::{Backing, FlatIndex, Source};

/// x86_64 page size.
pub const PAGE_SIZE: u64 = 4096;

/// Default bound on cached decompressed pages (16 MiB of 4 KiB pages).
pub const DEFAULT_CACHE_PAGES: usize = 4096;

/// A makedumpfile dump level (`-d`): which kinds of pages were left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DumpLevel(pub u32);

impl DumpLevel {
    /// The page classes of each bit, as makedumpfile names them.
    pub const BITS: [(u32, &'static str); 5] = [
        (1, "zero"),
        (2, "cache"),
        (4, "cache-private"),
        (8, "user"),
        (16, "free"),
    ];

    /// Names of the excluded page classes (unknown bits as `bit N`).
    pub fn excluded(self) -> Vec<String> {
        let mut v: Vec<String> = Self::BITS
            .iter()
            .filter(|(b, _)| self.0 & b != 0)
            .map(|(_, n)| (*n).to_string())
            .collect();
        for bit in 5..32 {
            if self.0 & (1 << bit) != 0 {
                v.push(format!("bit {bit}"));
            }
        }
        v
    }
}

impl fmt::Display for DumpLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ex = self.excluded();
        if ex.is_empty() {
            write!(f, "dump level {} (nothing excluded)", self.0)
        } else {
            write!(
                f,
                "dump level {} (excludes {} pages)",
                self.0,
                ex.join(", ")
            )
        }
    }
}

/// What the dump says about one physical page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Its contents are in the dump.
    Present,
    /// It was RAM but the dump tool filtered it out. kdump-compressed files record the dump
    /// level; filtered ELF files (`makedumpfile -E`) do not.
    Excluded { dump_level: Option<DumpLevel> },
    /// The dump claims it, but the file ends before its data (truncated copy, or an
    /// incomplete makedumpfile run).
    Truncated,
    /// Not in any segment or not RAM at capture time.
    Absent,
}

/// Why a physical read failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadFailure {
    /// The address is in no segment of the dump.
    Absent,
    /// The page was filtered out by the dump tool.
    Excluded { dump_level: Option<DumpLevel> },
    /// The page should be there but the file ends first.
    Truncated(String),
    /// The file is damaged at that place.
    Corrupt(String),
}

/// A failed physical read: the first physical address that could not be read and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysError {
    pub paddr: u64,
    pub failure: ReadFailure,
}

impl fmt::Display for PhysError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pa = self.paddr;
        match &self.failure {
            ReadFailure::Absent => write!(f, "physical {pa:#x} is not in the dump"),
            ReadFailure::Excluded {
                dump_level: Some(l),
            } => write!(f, "physical {pa:#x} was filtered out of the dump ({l})"),
            ReadFailure::Excluded { dump_level: None } => write!(
                f,
                "physical {pa:#x} was filtered out of the dump (excluded tail of an ELF segment, e.g. makedumpfile -E; dump level not recorded)"
            ),
            ReadFailure::Truncated(why) => write!(f, "physical {pa:#x} is missing: {why}"),
            ReadFailure::Corrupt(why) => write!(f, "physical {pa:#x}: damaged dump: {why}"),
        }
    }
}

impl std::error::Error for PhysError {}

/// Reads of physical memory.
pub trait PhysicalMemory: Send + Sync {
    /// Fills `buf` from physical address `paddr`, or says which address failed and why.
    fn read_phys(&self, paddr: u64, buf: &mut [u8]) -> Result<(), PhysError>;
    /// What the dump says about page frame `pfn`.
    fn page_state(&self, pfn: u64) -> PageState;
    /// One past the highest pfn the dump describes.
    fn max_pfn(&self) -> u64;
}

/// Why a dump could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DumpError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    /// The path is not a regular file (a directory, a FIFO, a device...).
    #[error("{path}: not a regular file: {what}")]
    NotAFile { path: String, what: String },
    #[error("not a vmcore: unknown magic {0}")]
    UnknownFormat(String),
    #[error("unsupported dump: {0}")]
    Unsupported(String),
    #[error("malformed dump: {0}")]
    Malformed(String),
}

impl DumpError {
    /// The message without the file's name, for callers that name the file themselves.
    pub fn detail(&self) -> String {
        match self {
            DumpError::Io { source, .. } => source.to_string(),
            DumpError::NotAFile { what, .. } => format!("not a regular file: {what}"),
            e => e.to_string(),
        }
    }
}

/// How to open a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenOptions {
    /// Bound on cached decompressed pages (kdump-compressed files).
    pub cache_pages: usize,
    /// Read the excluded tails of ELF segments (`p_filesz < p_memsz`) as zeros, as drgn does,
    /// instead of failing. `makedumpfile -E` drops all-zero pages (which kdump-compressed
    /// files keep) into those tails, but also cache, user and free pages, whose real contents
    /// were not zero: so this is off by default. `page_state` still says `Excluded`.
    pub zero_fill_excluded: bool,
    /// Read the file with `pread` instead of mapping it (as for a file that cannot be mapped,
    /// such as `/proc/kcore`).
    pub pread: bool,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            cache_pages: DEFAULT_CACHE_PAGES,
            zero_fill_excluded: false,
            pread: false,
        }
    }
}

/// The flattened container around a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlattenedInfo {
    /// Non-empty records in the stream.
    pub records: usize,
    /// The stream ended without its end marker.
    pub truncated: bool,
    /// Size of the file the records rebuild.
    pub rebuilt_size: u64,
}

/// The format of the dump's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatKind {
    Elf(ElfInfo),
    Kdump(KdumpHeader),
}

/// The format of a dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Format {
    /// Set when the file is in the flattened format.
    pub flattened: Option<FlattenedInfo>,
    pub kind: FormatKind,
}

impl Format {
    /// A short name: `ELF`, `ELF (filtered)`, `ELF (QEMU)`, `kdump-compressed (zlib)`, with a
    /// `flattened ` prefix when wrapped.
    pub fn name(&self) -> String {
        let inner = match &self.kind {
            FormatKind::Elf(e) if e.qemu => "ELF (QEMU dump-guest-memory)".to_string(),
            FormatKind::Elf(e) if e.filtered => "ELF (filtered, makedumpfile -E)".to_string(),
            FormatKind::Elf(_) => "ELF".to_string(),
            FormatKind::Kdump(h) => format!("kdump-compressed ({})", h.compression.name()),
        };
        if self.flattened.is_some() {
            format!("flattened {inner}")
        } else {
            inner
        }
    }
}

enum Body {
    Elf(ElfDump),
    Kdump(Box<KdumpDump>),
}

/// An opened vmcore.
pub struct Dump {
    src: Source,
    body: Body,
    format: Format,
    notes: Notes,
    warnings: Vec<String>,
}

/// Pages of dump files that faulted in this process so far, over every dump opened: a command
/// that read one dump checks this once at the end (see [`Dump::file_faults`]).
pub fn file_faults_total() -> usize {
    mapped::TOTAL_FAULTS.load(std::sync::atomic::Ordering::Acquire)
}

/// Opens `path` for reading if it is a regular file, without blocking: a FIFO with no writer
/// would block `open(2)` forever, and a device or `/proc` file is no dump to map.
pub fn open_regular_file(path: &Path) -> Result<File, DumpError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io = |source| DumpError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::EISDIR) => DumpError::NotAFile {
                path: path.display().to_string(),
                what: DIRECTORY.into(),
            },
            _ => io(e),
        })?;
    let ty = file.metadata().map_err(io)?.file_type();
    let what = if ty.is_file() {
        return Ok(file);
    } else if ty.is_dir() {
        DIRECTORY
    } else if ty.is_fifo() {
        "a FIFO (holdup reads files at random offsets: save the stream to a file first)"
    } else if ty.is_block_device() {
        "a block device (copy the dump to a file first: dd, or makedumpfile -R for a flattened stream)"
    } else if ty.is_char_device() {
        "a character device"
    } else if ty.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    };
    Err(DumpError::NotAFile {
        path: path.display().to_string(),
        what: what.into(),
    })
}

const DIRECTORY: &str =
    "a directory (give a dump file; `holdup triage DIR` finds the dumps in a directory)";

/// Opens a dump file, detecting its format.
pub fn open(path: impl AsRef<Path>) -> Result<Dump, DumpError> {
    Dump::open(path)
}

impl Dump {
    /// Opens a dump file with the default options.
    pub fn open(path: impl AsRef<Path>) -> Result<Dump, DumpError> {
        Self::open_with(path, &OpenOptions::default())
    }

    /// Opens a dump file caching at most about `cache_pages` decompressed pages.
    pub fn open_with_cache(path: impl AsRef<Path>, cache_pages: usize) -> Result<Dump, DumpError> {
        Self::open_with(
            path,
            &OpenOptions {
                cache_pages,
                ..OpenOptions::default()
            },
        )
    }

    /// Opens a dump file.
    pub fn open_with(path: impl AsRef<Path>, opts: &OpenOptions) -> Result<Dump, DumpError> {
        let path = path.as_ref();
        let io = |source| DumpError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = open_regular_file(path).map_err(|e| match e {
            DumpError::Io { path: p, source }
                if path.starts_with("/proc/kcore")
                    && matches!(
                        source.kind(),
                        std::io::ErrorKind::PermissionDenied
                    ) =>
            {
                DumpError::Io {
                    path: format!(
                        "{p} (reading the running kernel needs root with CAP_SYS_RAWIO; a kernel in lockdown mode, as with Secure Boot, refuses it to root too)"
                    ),
                    source,
                }
            }
            e => e,
        })?;
        let len = file.metadata().map_err(io)?.len();
        if len == 0 {
            return Err(DumpError::Malformed(format!(
                "{}: empty file (0 bytes{})",
                path.display(),
                if path.starts_with("/proc") || path.starts_with("/sys") {
                    "; files under /proc and /sys show no size and are no dump: copy /proc/vmcore to a file in the capture kernel"
                } else {
                    ""
                }
            )));
        }
        // A file that cannot be mapped is read with pread: /proc/kcore claims the whole
        // kernel address space as its length (mmap fails with ENOMEM, and its driver has no
        // mmap: ENODEV), and a dump larger than the address space left is no better.
        let backing = if opts.pread {
            Backing::File {
                file: std::sync::Mutex::new(file),
                len,
            }
        } else {
            match MappedFile::map(&file, len) {
                Ok(map) => Backing::Mapped(map),
                // Why it could not be mapped does not matter: pread reads what mmap would.
                Err(_) => Backing::File {
                    file: std::sync::Mutex::new(file),
                    len,
                },
            }
        };
        Self::from_backing(backing, opts).map_err(|e| match e {
            DumpError::Malformed(m) => DumpError::Malformed(format!("{}: {m}", path.display())),
            DumpError::Unsupported(m) => DumpError::Unsupported(format!("{}: {m}", path.display())),
            DumpError::UnknownFormat(m) => {
                DumpError::UnknownFormat(format!("{m} ({})", path.display()))
            }
            e => e,
        })
    }

    /// Parses a dump held in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Dump, DumpError> {
        Self::from_bytes_with(bytes, &OpenOptions::default())
    }

    /// Parses a dump held in memory.
    pub fn from_bytes_with(bytes: Vec<u8>, opts: &OpenOptions) -> Result<Dump, DumpError> {
        Self::from_backing(Backing::Bytes(bytes), opts)
    }

    fn from_backing(backing: Backing, opts: &OpenOptions) -> Result<Dump, DumpError> {
        let head = backing
            .get(0, backing.len().min(source::FLAT_HEADER_SIZE) as usize)
            .map_err(DumpError::Malformed)?;
        let (src, flattened) = if head.starts_with(source::FLAT_SIGNATURE) {
            if head.len() < source::FLAT_HEADER_SIZE as usize {
                return Err(DumpError::Malformed(
                    "flattened header is shorter than 4096 bytes".into(),
                ));
            }
            let ty = &head[16..24];
            let be = i64::from_be_bytes(ty.try_into().unwrap());
            let le = i64::from_le_bytes(ty.try_into().unwrap());
            if be != 1 && le != 1 {
                return Err(DumpError::Unsupported(format!(
                    "makedumpfile header of type {be} (only the flattened type 1 is known)"
                )));
            }
            let ix = FlatIndex::build(&backing)?;
            let damage = ix.damage.clone();
            let info = FlattenedInfo {
                records: ix.records,
                truncated: ix.truncated,
                rebuilt_size: 0,
            };
            let src = Source::flattened(backing, ix);
            let info = FlattenedInfo {
                rebuilt_size: src.len(),
                ..info
            };
            (src, Some((info, damage)))
        } else {
            (Source::plain(backing), None)
        };
        let (flattened, damage) = match flattened {
            Some((info, damage)) => (Some(info), damage),
            None => (None, None),
        };
        let mut warnings = Vec::new();
        if let Some(f) = &flattened
            && f.truncated
        {
            warnings.push(match &damage {
                Some(d) => format!("flattened stream ends without its end marker: {d}"),
                None => "flattened stream ends without its end marker (truncated file)".into(),
            });
        }
        if flattened.is_some() && src.len() == 0 {
            return Err(DumpError::Malformed(match damage {
                Some(d) => format!("a flattened file with no data: {d}"),
                None => "a flattened file with no records".into(),
            }));
        }
        let magic = src
            .get(0, 8.min(src.len() as usize))
            .map_err(DumpError::Malformed)?
            .into_owned();
        let mut notes = Notes::default();
        let (body, kind) = if magic.starts_with(b"\x7fELF") {
            let mut e = ElfDump::parse(&src, &mut notes, &mut warnings)?;
            e.zero_fill_excluded = opts.zero_fill_excluded;
            let info = e.info.clone();
            (Body::Elf(e), FormatKind::Elf(info))
        } else if magic.as_slice() == kdump::KDUMP_SIGNATURE {
            let k = KdumpDump::parse(&src, &mut notes, &mut warnings, opts.cache_pages)?;
            let h = k.header.clone();
            (Body::Kdump(Box::new(k)), FormatKind::Kdump(h))
        } else if magic.as_slice() == kdump::DISKDUMP_SIGNATURE {
            return Err(DumpError::Unsupported(
                "old \"DISKDUMP\" format (diskdump/netdump); only kdump-compressed \"KDUMP\" is supported".into(),
            ));
        } else {
            return Err(DumpError::UnknownFormat(format!(
                "{:02x?}{}",
                magic,
                if flattened.is_some() {
                    " inside a flattened file"
                } else {
                    " (expected ELF, \"KDUMP   \" or \"makedumpfile\")"
                }
            )));
        };
        warnings.extend(notes.warnings.iter().cloned());
        Ok(Dump {
            src,
            body,
            format: Format { flattened, kind },
            notes,
            warnings,
        })
    }

    pub fn format(&self) -> &Format {
        &self.format
    }

    /// See [`Format::name`].
    pub fn format_name(&self) -> String {
        self.format.name()
    }

    /// The kdump headers, for kdump-compressed dumps.
    pub fn kdump_header(&self) -> Option<&KdumpHeader> {
        match &self.format.kind {
            FormatKind::Kdump(h) => Some(h),
            FormatKind::Elf(_) => None,
        }
    }

    /// The ELF headers, for ELF dumps.
    pub fn elf_info(&self) -> Option<&ElfInfo> {
        match &self.format.kind {
            FormatKind::Elf(e) => Some(e),
            FormatKind::Kdump(_) => None,
        }
    }

    /// The dump level, where the file records it (kdump-compressed).
    pub fn dump_level(&self) -> Option<DumpLevel> {
        self.kdump_header().map(|h| h.dump_level)
    }

    /// All notes, in file order, with the decoded ones.
    pub fn notes(&self) -> &Notes {
        &self.notes
    }

    /// The NT_PRSTATUS notes in file order.
    pub fn prstatus(&self) -> &[PrStatus] {
        &self.notes.prstatus
    }

    /// QEMU CPU state notes (QEMU-made dumps).
    pub fn qemu_cpus(&self) -> &[QemuCpuState] {
        &self.notes.qemu_cpus
    }

    /// The raw VMCOREINFO text.
    pub fn vmcoreinfo_raw(&self) -> Option<&[u8]> {
        self.notes.vmcoreinfo.as_deref()
    }

    /// The panicking CPU where the file records it: the kdump header's `current_cpu` when it
    /// is non-zero. makedumpfile never fills that field and QEMU writes 0, so for their files
    /// this is `None`; read the kernel's `panic_cpu` (via kallsyms) instead. Note order is CPU
    /// order for the CPUs that saved registers, but offline CPUs leave no note.
    pub fn panic_cpu_hint(&self) -> Option<u32> {
        self.kdump_header()
            .map(|h| h.current_cpu)
            .filter(|&c| c != 0)
    }

    /// Things found odd while opening (truncation, malformed notes, ...).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Pages of the dump file that could not be read while holdup read them (the file shrank,
    /// or its filesystem could not supply them). Such pages read as zeros and every read that
    /// touched them failed, naming the file offset; a non-zero count at the end means the
    /// file changed under the analysis, which should then be distrusted.
    pub fn file_faults(&self) -> usize {
        self.src.faults()
    }

    /// How many pages have been decompressed so far (kdump-compressed files; each page is
    /// decompressed again only after the page cache dropped it). A cost measure for
    /// benchmarks.
    pub fn pages_decompressed(&self) -> u64 {
        match &self.body {
            Body::Kdump(k) => k.decompressed.load(std::sync::atomic::Ordering::Relaxed),
            Body::Elf(_) => 0,
        }
    }
}

impl PhysicalMemory for Dump {
    fn read_phys(&self, paddr: u64, buf: &mut [u8]) -> Result<(), PhysError> {
        if paddr.checked_add(buf.len() as u64).is_none() {
            return Err(PhysError {
                paddr,
                failure: ReadFailure::Absent,
            });
        }
        match &self.body {
            Body::Elf(e) => e.read_phys(&self.src, paddr, buf),
            Body::Kdump(k) => k.read_phys(&self.src, paddr, buf),
        }
    }

    fn page_state(&self, pfn: u64) -> PageState {
        match &self.body {
            Body::Elf(e) => e.page_state(pfn),
            Body::Kdump(k) => k.page_state(&self.src, pfn),
        }
    }

    fn max_pfn(&self) -> u64 {
        match &self.body {
            Body::Elf(e) => e.max_pfn,
            Body::Kdump(k) => k.max_pfn(),
        }
    }
}

impl<T: PhysicalMemory + ?Sized> PhysicalMemory for std::sync::Arc<T> {
    fn read_phys(&self, paddr: u64, buf: &mut [u8]) -> Result<(), PhysError> {
        (**self).read_phys(paddr, buf)
    }
    fn page_state(&self, pfn: u64) -> PageState {
        (**self).page_state(pfn)
    }
    fn max_pfn(&self) -> u64 {
        (**self).max_pfn()
    }
}

#[cfg(test)]
mod tests;
