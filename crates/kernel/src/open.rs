//! [`Kernel`]: one opened vmcore with everything needed to read kernel objects by name —
//! memory, symbols and types — like drgn's `Program`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::build_cache::{BuildCache, DumpBtf, read_btf};

use holdup_kmem::{KernelDump, KernelMemory, OpenError as DumpOpenError, ReadError};
use holdup_symbols::{Kallsyms, KallsymsAddrs, KallsymsByName, SymbolError, SymbolTable};
use holdup_types::{Dwarf, Types};
use holdup_vmcoreinfo::VmcoreInfo;

/// How to open a dump.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// A vmlinux with symbols and DWARF, used instead of kallsyms and BTF.
    pub vmlinux: Option<PathBuf>,
    /// Leave out the symbols of loaded modules: for answers that never name a module
    /// address (`holdup info`, `holdup ps`), reading every module's symbol table is wasted.
    pub skip_module_symbols: bool,
    /// The only symbols the answer needs, by name (`sysinfo::INFO_SYMBOLS`): when the
    /// kernel's kallsyms can be searched by name (6.2+, later 6.1.y) only these are looked
    /// up and the table is not expanded; module symbols are then left out too. `None`:
    /// every symbol.
    pub symbols_needed: Option<&'static [&'static str]>,
    /// BTF already read from another dump of the same kernel build (`holdup triage`).
    pub build_cache: Option<Arc<BuildCache>>,
    /// Read the dump with `pread` rather than mapping it (what `/proc/kcore` needs, done for
    /// it anyway; this forces it on any file).
    pub pread: bool,
}

/// Symbols opening a dump itself reads.
const OPEN_SYMBOLS: [&str; 3] = ["page_offset_base", "__start_BTF", "__stop_BTF"];

/// The file's errors name the file already; the others are about its contents.
fn dump_message(path: &str, e: &DumpOpenError) -> String {
    match e {
        DumpOpenError::Dump(_) => e.to_string(),
        _ => format!("{path}: {e}"),
    }
}

/// Why a dump could not be opened for analysis. Each message says what to try.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}", dump_message(path, source))]
    Dump {
        path: String,
        #[source]
        source: DumpOpenError,
    },
    #[error(
        "{path}: no symbols: {source}; pass --vmlinux PATH (the vmlinux of kernel {release}, e.g. from the linux-image-{release}-dbg package)"
    )]
    Symbols {
        path: String,
        release: String,
        #[source]
        source: SymbolError,
    },
    #[error(
        "{path}: no types: {detail}; pass --vmlinux PATH (the vmlinux of kernel {release} with DWARF)"
    )]
    Types {
        path: String,
        release: String,
        detail: String,
    },
    #[error("{}", if detail.starts_with(path.as_str()) { detail.clone() } else { format!("{path}: {detail}") })]
    Vmlinux { path: String, detail: String },
    /// The vmlinux is of another kernel than the dump's (see `vmlinux_match`).
    #[error(
        "{path} {detail}; give the vmlinux of this kernel, or none: symbols and types come from the dump"
    )]
    VmlinuxMismatch { path: String, detail: String },
}

/// An opened kernel dump.
pub struct Kernel {
    pub dump: KernelDump,
    pub symbols: SymbolTable,
    pub types: Types,
    /// Where symbols came from, e.g. `kallsyms in the dump (94266 symbols)`.
    pub symbols_source: String,
    /// Where types came from, e.g. `BTF in the dump (__start_BTF, 5.1 MiB)`.
    pub types_source: String,
    /// Things that did not work while opening but did not stop it.
    pub warnings: Vec<String>,
    /// `THREAD_SIZE`: the size of a task's kernel stack (16 KiB on x86_64, 32 KiB with
    /// KASAN), read from the kernel (see [`thread_size`]).
    pub thread_size: u64,
}

/// `THREAD_SIZE`, from the linker symbols around `init_task`'s stack (`__start_init_task`
/// and `__end_init_task`, `__start_init_stack` and `__end_init_stack` since 6.8: the
/// linker script places them `THREAD_SIZE` apart), else the size of `union thread_union`
/// in the kernel's types; a power of two between 8 KiB and 1 MiB. `Err` with the default
/// used when neither says.
fn thread_size(symbols: &SymbolTable, types: &Types) -> Result<u64, (u64, String)> {
    const DEFAULT: u64 = 16 << 10;
    let plausible = |n: u64| n.is_power_of_two() && (8 << 10..=1 << 20).contains(&n);
    for (start, end) in [
        ("__start_init_task", "__end_init_task"),
        ("__start_init_stack", "__end_init_stack"),
    ] {
        if let (Some(s), Some(e)) = (symbols.address_of(start), symbols.address_of(end))
            && e > s
            && plausible(e - s)
        {
            return Ok(e - s);
        }
    }
    match types.sizeof("thread_union") {
        Ok(n) if plausible(n) => Ok(n),
        _ => Err((
            DEFAULT,
            format!(
                "THREAD_SIZE unknown (no __start_init_task/__end_init_task or __start_init_stack/__end_init_stack symbols, no union thread_union type): kernel stacks are taken to be {} KiB",
                DEFAULT >> 10
            ),
        )),
    }
}

impl Kernel {
    /// Opens a dump and finds its symbols and types: kallsyms and BTF from the dump's own
    /// memory, or the vmlinux when one is given.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Kernel, OpenError> {
        let shown = path.display().to_string();
        let dump_opts = holdup_kmem::DumpOpenOptions {
            pread: opts.pread,
            ..Default::default()
        };
        let dump = KernelDump::open_with(path, &dump_opts).map_err(|source| OpenError::Dump {
            path: shown.clone(),
            source,
        })?;
        Self::from_kernel_dump(dump, &shown, opts)
    }

    /// [`Kernel::open`] on a dump already opened for kernel-memory reads (e.g. over a view
    /// of its physical memory, [`KernelDump::with_phys`]); `shown` names it in errors.
    pub fn from_kernel_dump(
        dump: KernelDump,
        shown: &str,
        opts: &OpenOptions,
    ) -> Result<Kernel, OpenError> {
        let shown = shown.to_string();
        let t0 = std::time::Instant::now();
        let phase = |what: &str| {
            log::debug!(
                "open: {what} done at {:.2} ms",
                t0.elapsed().as_secs_f64() * 1e3
            )
        };
        let release = dump
            .vmcoreinfo
            .osrelease()
            .map(str::to_string)
            .unwrap_or_else(|| "?".into());
        let mut warnings = Vec::new();
        // Values outside their domain are said, not silently replaced.
        match dump.vmcoreinfo.page_size() {
            Ok(Some(4096) | None) => {}
            Ok(Some(n)) => warnings.push(format!(
                "VMCOREINFO PAGESIZE={n}, but x86_64 pages are 4096 bytes: 4096 is used"
            )),
            Err(e) => warnings.push(format!("{e}: 4096 is used")),
        }
        warnings.extend(
            dump.vmcoreinfo
                .problems()
                .iter()
                .map(|p| format!("VMCOREINFO: {p}")),
        );
        let mut early_btf = None;
        let mut skip_module_symbols = opts.skip_module_symbols;

        let cache = opts.build_cache.as_deref();
        let named = match (&opts.vmlinux, opts.symbols_needed) {
            (None, Some(needed)) => named_symbols(&dump, needed, cache),
            _ => None,
        };
        let (mut symbols, symbols_source) = match (&opts.vmlinux, named) {
            (_, Some((table, btf, num))) => {
                early_btf = btf;
                skip_module_symbols = true;
                let source = format!(
                    "kallsyms in the dump ({num} symbols; {} looked up by name)",
                    table.len()
                );
                (table, source)
            }
            (Some(vmlinux), None) => {
                let offset = dump.vmcoreinfo.kernel_offset().ok().flatten().unwrap_or(0);
                let table =
                    SymbolTable::from_vmlinux(vmlinux, offset).map_err(|e| OpenError::Vmlinux {
                        path: vmlinux.display().to_string(),
                        detail: e.to_string(),
                    })?;
                let matched =
                    crate::vmlinux_match::check(&dump, &table, vmlinux).map_err(|detail| {
                        OpenError::VmlinuxMismatch {
                            path: vmlinux.display().to_string(),
                            detail,
                        }
                    })?;
                log::info!("{}: matches the dump: {matched}", vmlinux.display());
                let source = format!("{} ({} symbols)", vmlinux.display(), table.len());
                (table, source)
            }
            (None, None) => {
                let (table, btf) = kallsyms_and_btf(&dump, cache);
                early_btf = btf;
                let table = table.map_err(|source| OpenError::Symbols {
                    path: shown.clone(),
                    release: release.clone(),
                    source,
                })?;
                let how = match (table.searched_in_place(), table.kallsyms_tables_reused()) {
                    (true, true) => {
                        ", searched in place; tables equal to an earlier dump's of this build"
                    }
                    (true, false) => ", searched in place",
                    _ => "",
                };
                let source = format!("kallsyms in the dump ({} symbols{how})", table.len());
                (table, source)
            }
        };

        phase("symbols");
        // The direct map's base is KASLR-randomised; the kernel keeps it in page_offset_base.
        match symbols.address_of("page_offset_base") {
            Some(addr) => match dump.mem.read_u64(addr) {
                Ok(base) => dump.mem.set_direct_map_base(base),
                Err(e) => warnings.push(format!("page_offset_base unreadable: {e}")),
            },
            None => warnings.push("no symbol page_offset_base".into()),
        }
        // So are vmalloc space and the struct page array: kmem tells regions apart with them.
        let mut base = |name: &str| {
            let v = symbols
                .address_of(name)
                .and_then(|a| dump.mem.read_u64(a).ok());
            if v.is_none() {
                warnings.push(format!(
                    "{name} unreadable: vmalloc and vmemmap addresses are not told apart"
                ));
            }
            v.unwrap_or(0)
        };
        let (vmalloc, vmemmap) = (base("vmalloc_base"), base("vmemmap_base"));
        dump.mem.set_region_bases(vmalloc, vmemmap);

        let (types, types_source) = match &opts.vmlinux {
            Some(vmlinux) => {
                let dwarf = Dwarf::open(vmlinux).map_err(|e| OpenError::Vmlinux {
                    path: vmlinux.display().to_string(),
                    detail: e.to_string(),
                })?;
                (Types::new(dwarf), format!("DWARF in {}", vmlinux.display()))
            }
            None => {
                let btf = match early_btf {
                    Some(btf) => btf,
                    None => btf_by_symbols(&dump, &symbols, cache),
                };
                let btf = btf.map_err(|e| OpenError::Types {
                    path: shown.clone(),
                    release: release.clone(),
                    detail: e.to_string(),
                })?;
                (Types::from(btf.btf.clone()), btf.source())
            }
        };

        phase("types");
        if !skip_module_symbols {
            match symbols.add_modules(&dump.mem, &types) {
                Ok(_) => {}
                Err(e) => warnings.push(format!("module symbols: {e}")),
            }
            for m in symbols.modules() {
                if let Some(err) = &m.error {
                    warnings.push(format!("module {}: {err}", m.name));
                }
            }
            phase("modules");
        }
        let thread_size = thread_size(&symbols, &types).unwrap_or_else(|(n, why)| {
            warnings.push(why);
            n
        });
        Ok(Kernel {
            dump,
            symbols,
            types,
            symbols_source,
            types_source,
            warnings,
            thread_size,
        })
    }

    /// Kernel virtual memory.
    pub fn mem(&self) -> &dyn KernelMemory {
        &self.dump.mem
    }

    pub fn vmcoreinfo(&self) -> &VmcoreInfo {
        &self.dump.vmcoreinfo
    }

    /// The address of a kernel or module symbol.
    pub fn symbol(&self, name: &str) -> Result<u64, ReadError> {
        self.symbols
            .address_of(name)
            .ok_or_else(|| ReadError::Corrupt {
                vaddr: 0,
                detail: format!("no symbol {name}"),
            })
    }
}

/// The kernel's BTF, between the symbols `__start_BTF` and `__stop_BTF`.
fn btf_by_symbols(
    dump: &KernelDump,
    symbols: &SymbolTable,
    cache: Option<&BuildCache>,
) -> Result<DumpBtf, SymbolError> {
    let (start, stop) = holdup_symbols::btf_bounds(symbols)?;
    Ok(read_btf(dump, start, stop, cache)?)
}

/// Only the symbols `needed` (and those opening needs), found by name, with the kernel's
/// BTF read from what they give, and `kallsyms_num_syms`; `None` when kallsyms cannot be
/// searched by name (the whole table is expanded then).
#[allow(clippy::type_complexity)]
fn named_symbols(
    dump: &KernelDump,
    needed: &[&str],
    cache: Option<&BuildCache>,
) -> Option<(SymbolTable, Option<Result<DumpBtf, SymbolError>>, u32)> {
    let addrs = kallsyms_addrs(dump).ok()?;
    let by_name = KallsymsByName::new(&dump.mem, addrs)?;
    let names: Vec<&str> = OPEN_SYMBOLS.iter().chain(needed).copied().collect();
    let (table, btf) = rayon::join(
        || by_name.table(&names),
        || {
            let start = by_name.lookup("__start_BTF")?.0;
            let stop = by_name.lookup("__stop_BTF")?.0;
            Some(read_btf(dump, start, stop, cache).map_err(SymbolError::from))
        },
    );
    Some((table, btf, by_name.num_syms()))
}

/// kallsyms from the dump, and the kernel's BTF read while the symbol names are being
/// expanded (its bounds are found by a quick pass over the compressed names): the two
/// largest reads of opening a dump overlap. `None` for the BTF when the quick pass could not
/// be used; the caller then finds it through the table.
#[allow(clippy::type_complexity)]
/// Where the kallsyms tables are: named by VMCOREINFO (6.0+), or found in the kernel image by
/// their structure when VMCOREINFO does not name them (before 6.0).
fn kallsyms_addrs(dump: &KernelDump) -> Result<KallsymsAddrs, SymbolError> {
    let vi = &dump.vmcoreinfo;
    match KallsymsAddrs::from_vmcoreinfo(|n| vi.symbol(n).ok().flatten()) {
        Err(SymbolError::MissingVmcoreinfo(what)) => {
            let stext = vi
                .symbol("_stext")
                .ok()
                .flatten()
                .ok_or(SymbolError::MissingVmcoreinfo("SYMBOL(_stext)".into()))?;
            // The page tables' root is in the image's data, just above the read-only data
            // that holds kallsyms.
            let data = ["init_top_pgt", "swapper_pg_dir"]
                .iter()
                .find_map(|n| vi.symbol(n).ok().flatten());
            KallsymsAddrs::scan(&dump.mem, stext, data).ok_or_else(|| {
                SymbolError::MissingVmcoreinfo(format!(
                    "{what} (kernels before 6.0 do not export the kallsyms tables), and no kallsyms tables were found in the kernel image"
                ))
            })
        }
        r => r,
    }
}

fn kallsyms_and_btf(
    dump: &KernelDump,
    cache: Option<&BuildCache>,
) -> (
    Result<SymbolTable, SymbolError>,
    Option<Result<DumpBtf, SymbolError>>,
) {
    let addrs = match kallsyms_addrs(dump) {
        Ok(a) => a,
        Err(e) => return (Err(e), None),
    };
    // Where kallsyms can be searched by name and address (6.2+, later 6.1.y), its tables are
    // read whole but not expanded (names are, when asked for), and BTF is read alongside
    // from the start.
    if let Some(by_name) = KallsymsByName::new(&dump.mem, addrs)
        && let Some((start, _)) = by_name.lookup("__start_BTF")
        && let Some((stop, _)) = by_name.lookup("__stop_BTF")
    {
        let earlier = cache.and_then(|c| c.kallsyms_tables(dump));
        let (index, btf) = rayon::join(
            move || by_name.into_index_with(earlier.as_ref()),
            || read_btf(dump, start, stop, cache).map_err(SymbolError::from),
        );
        let table = match index {
            Some(index) => {
                if let (Some(c), false, Some(t)) = (cache, index.tables_reused(), index.tables()) {
                    c.keep_kallsyms_tables(dump, t);
                }
                Ok(SymbolTable::from_kallsyms_index(index))
            }
            None => Kallsyms::from_memory(&dump.mem, addrs).map(Kallsyms::into_table),
        };
        return (table, Some(btf));
    }
    // Otherwise from a quick pass over the compressed names, once they are read.
    let (table, btf) = Kallsyms::from_memory_and(
        &dump.mem,
        addrs,
        &["__start_BTF", "__stop_BTF"],
        |found| match (found[0], found[1]) {
            (Some(start), Some(stop)) => {
                Some(read_btf(dump, start, stop, cache).map_err(SymbolError::from))
            }
            _ => None,
        },
    );
    (table.map(Kallsyms::into_table), btf.flatten())
}
