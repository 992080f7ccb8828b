//! What the dumps of one kernel build share, read once when many dumps are opened
//! (`holdup triage`): the BTF and the kallsyms tables.
//!
//! Neither moves with KASLR: every dump of one build holds the same 4-6 MiB of BTF and the
//! same 2 MiB of kallsyms names, sequence numbers and offsets, and reading them (1,500 and
//! more compressed pages to inflate) is the largest part of opening a dump. A dump whose
//! VMCOREINFO names the same `BUILD-ID` and `OSRELEASE`, and whose tables have the same
//! lengths, reuses those of an earlier one once nine pieces of each of its own, spread over
//! the whole table, compare equal to them (`BUILD-ID` alone is not trusted: it is garbage on
//! some stable kernels).

use std::sync::{Arc, Mutex};

use holdup_kmem::KernelDump;
use holdup_symbols::KallsymsTables;
use holdup_types::{Btf, TypeError, TypeSource};

/// At most this many builds are kept.
const MAX_BUILDS: usize = 16;
/// Pieces of the dump's BTF compared with the cached one's.
const SAMPLES: usize = 9;

/// What the dumps of one kernel build share; one per `holdup triage` run.
#[derive(Debug, Default)]
pub struct BuildCache {
    btf: Builds<Arc<Btf>>,
    kallsyms: Builds<KallsymsTables>,
}

/// `BUILD-ID` and `OSRELEASE` from VMCOREINFO.
type BuildKey = (String, String);

/// One thing per build, the oldest dropped past [`MAX_BUILDS`].
#[derive(Debug)]
struct Builds<T>(Mutex<Vec<(BuildKey, T)>>);

impl<T> Default for Builds<T> {
    fn default() -> Self {
        Builds(Mutex::default())
    }
}

impl<T: Clone> Builds<T> {
    /// The first kept for `key` that `fits`.
    fn find(&self, key: &BuildKey, fits: impl Fn(&T) -> bool) -> Option<T> {
        let all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .find(|(k, v)| k == key && fits(v))
            .map(|(_, v)| v.clone())
    }

    /// Keeps `value` for `key`, unless one kept already `fits` in its place.
    fn keep(&self, key: BuildKey, value: T, fits: impl Fn(&T) -> bool) {
        let mut all = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if all.iter().any(|(k, v)| *k == key && fits(v)) {
            return;
        }
        if all.len() >= MAX_BUILDS {
            all.remove(0);
        }
        all.push((key, value));
    }
}

/// The vmlinux BTF of one dump.
pub(crate) struct DumpBtf {
    pub btf: Arc<Btf>,
    pub start: u64,
    pub stop: u64,
    /// Taken from an earlier dump of the same build rather than read from this one.
    pub shared: bool,
}

impl DumpBtf {
    /// Where the types came from, for `Kernel::types_source`.
    pub fn source(&self) -> String {
        if self.shared {
            format!(
                "BTF in the dump ({:#x}..{:#x}, {} bytes, {} types; equal to an earlier dump's of this build, parsed once)",
                self.start,
                self.stop,
                self.stop - self.start,
                self.btf.type_count()
            )
        } else {
            format!("BTF in the dump ({})", self.btf.origin().description)
        }
    }
}

/// Reads the BTF at `start..stop` of the dump, or takes the equal one `cache` holds.
pub(crate) fn read_btf(
    dump: &KernelDump,
    start: u64,
    stop: u64,
    cache: Option<&BuildCache>,
) -> Result<DumpBtf, TypeError> {
    let key = cache.and_then(|c| Some((c, build_key(dump)?)));
    let len = stop.wrapping_sub(start);
    let same_len = |b: &Arc<Btf>| b.data().len() as u64 == len;
    if let Some((cache, key)) = &key
        && let Some(btf) = cache.btf.find(key, same_len)
        && holdup_kmem::same_bytes_sampled(&dump.mem, start, btf.data(), SAMPLES)
    {
        return Ok(DumpBtf {
            btf,
            start,
            stop,
            shared: true,
        });
    }
    let btf = Btf::from_memory(&dump.mem, start, stop)?;
    btf.index_names();
    let btf = Arc::new(btf);
    if let Some((cache, key)) = key {
        cache.btf.keep(key, btf.clone(), same_len);
    }
    Ok(DumpBtf {
        btf,
        start,
        stop,
        shared: false,
    })
}

/// The build of a dump, if its VMCOREINFO names one.
fn build_key(dump: &KernelDump) -> Option<BuildKey> {
    let vi = &dump.vmcoreinfo;
    Some((vi.build_id()?.to_string(), vi.osrelease()?.to_string()))
}

impl BuildCache {
    /// The kallsyms tables of an earlier dump of the build of `dump`.
    pub(crate) fn kallsyms_tables(&self, dump: &KernelDump) -> Option<KallsymsTables> {
        self.kallsyms.find(&build_key(dump)?, |_| true)
    }

    /// Keeps the kallsyms tables read from `dump` for the later dumps of its build.
    pub(crate) fn keep_kallsyms_tables(&self, dump: &KernelDump, tables: KallsymsTables) {
        if let Some(key) = build_key(dump) {
            self.kallsyms.keep(key, tables, |_| true);
        }
    }
}
