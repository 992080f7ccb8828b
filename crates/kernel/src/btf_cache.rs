//! The kernel's BTF read once per kernel build when many dumps are opened (`holdup triage`).
//!
//! BTF does not move with KASLR: every dump of one build holds the same 4-6 MiB, and reading
//! it (a thousand compressed pages to inflate) and indexing it is the largest part of opening
//! a dump. A dump whose VMCOREINFO names the same `BUILD-ID` and `OSRELEASE`, and whose BTF
//! has the same length, reuses the BTF parsed from an earlier one, after nine pages of its own
//! BTF spread over the whole range compare equal to it (`BUILD-ID` alone is not trusted: it
//! is garbage on some stable kernels).

use std::sync::{Arc, Mutex};

use holdup_kmem::{KernelDump, KernelMemory};
use holdup_types::{Btf, TypeError, TypeSource};

/// At most this many builds are kept.
const MAX_BUILDS: usize = 16;
/// Pages of the dump's BTF compared with the cached one's.
const SAMPLES: u64 = 9;
const SAMPLE_LEN: u64 = 4096;

/// BTF shared by the dumps of one kernel build; one per `holdup triage` run.
#[derive(Debug, Default)]
pub struct BtfCache {
    builds: Mutex<Vec<Build>>,
}

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
    cache: Option<&BtfCache>,
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

impl BtfCache {
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

/// Whether the dump's bytes at `start` equal `data` on [`SAMPLES`] pages spread over it.
fn same_bytes(mem: &dyn KernelMemory, start: u64, data: &[u8]) -> bool {
    let len = data.len() as u64;
    let n = SAMPLE_LEN.min(len);
    let mut buf = vec![0u8; n as usize];
    (0..SAMPLES).all(|k| {
        let off = (len - n) * k / (SAMPLES - 1);
        mem.read(start.wrapping_add(off), &mut buf).is_ok()
            && data.get(off as usize..(off + n) as usize) == Some(&buf[..])
    })
}
