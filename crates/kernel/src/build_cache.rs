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

use holdup_kmem::{KernelDump, KernelMemory};
use holdup_symbols::KallsymsTables;
use holdup_types::{Btf, TypeError, TypeSource};

/// At most this many builds are kept.
const MAX_BUILDS: usize = 16;
/// Pages of the dump's BTF compared with the cached one's.
const SAMPLES: usize = 9;

/// What the dumps of one kernel build share; one per `holdup triage` run.
#[derive(Debug, Default)]
pub struct BuildCache {
    builds: Mutex<Vec<Build>>,
    kallsyms: Mutex<Vec<(BuildKey, KallsymsTables)>>,
}

/// `BUILD-ID` and `OSRELEASE` from VMCOREINFO.
type BuildKey = (String, String);

#[derive(Debug)]
struct Build {
    build_id: String,
    release: String,
    btf: Arc<Btf>,
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
    let key = cache.and_then(|c| {
        let vi = &dump.vmcoreinfo;
        Some((c, vi.build_id()?.to_string(), vi.osrelease()?.to_string()))
    });
    if let Some((cache, build_id, release)) = &key
        && let Some(btf) = cache.find(build_id, release, stop.wrapping_sub(start))
        && same_bytes(&dump.mem, start, btf.data())
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
    if let Some((cache, build_id, release)) = key {
        cache.insert(build_id, release, btf.clone());
    }
    Ok(DumpBtf {
        btf,
        start,
        stop,
        shared: false,
    })
}

impl BuildCache {
    fn find(&self, build_id: &str, release: &str, len: u64) -> Option<Arc<Btf>> {
        let builds = self.builds.lock().unwrap_or_else(|e| e.into_inner());
        builds
            .iter()
            .find(|b| {
                b.build_id == build_id && b.release == release && b.btf.data().len() as u64 == len
            })
            .map(|b| b.btf.clone())
    }

    fn insert(&self, build_id: String, release: String, btf: Arc<Btf>) {
        let mut builds = self.builds.lock().unwrap_or_else(|e| e.into_inner());
        if builds.len() >= MAX_BUILDS {
            builds.remove(0);
        }
        builds.push(Build {
            build_id,
            release,
            btf,
        });
    }
}

fn same_bytes(mem: &dyn KernelMemory, start: u64, data: &[u8]) -> bool {
    holdup_kmem::same_bytes_sampled(mem, start, data, SAMPLES)
}

/// The build of a dump, if its VMCOREINFO names one.
fn build_key(dump: &KernelDump) -> Option<BuildKey> {
    let vi = &dump.vmcoreinfo;
    Some((vi.build_id()?.to_string(), vi.osrelease()?.to_string()))
}

impl BuildCache {
    /// The kallsyms tables of an earlier dump of the build of `dump`.
    pub(crate) fn kallsyms_tables(&self, dump: &KernelDump) -> Option<KallsymsTables> {
        let key = build_key(dump)?;
        let all = self.kallsyms.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().find(|(k, _)| *k == key).map(|(_, t)| t.clone())
    }

    /// Keeps the kallsyms tables read from `dump` for the later dumps of its build.
    pub(crate) fn keep_kallsyms_tables(&self, dump: &KernelDump, tables: KallsymsTables) {
        let Some(key) = build_key(dump) else { return };
        let mut all = self.kallsyms.lock().unwrap_or_else(|e| e.into_inner());
        if all.iter().any(|(k, _)| *k == key) {
            return;
        }
        if all.len() >= MAX_BUILDS {
            all.remove(0);
        }
        all.push((key, tables));
    }
}
