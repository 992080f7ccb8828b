//! Locks inside slab objects are named by their cache, object and member exactly as drgn's
//! `slab_object_info()` and the pointers that led to them say (`drgn-slab-sample.tsv`, made
//! by `dumps/gen/oracle/drgn_slab_sample.py` with the DWARF vmlinux): every sampled lock of
//! every task's mm, signal, sighand and files, of the mounts' super blocks and inodes, on
//! both kernels and the over-filtered dump. The object's type is a fact when its cache is
//! its own, an inference when SLUB merged caches into it (their sysfs aliases are drgn's),
//! and absent in kmalloc caches. The lock analysis's `lock_name` gives these names (and
//! keeps naming mmap_locks by their mm's task).

use holdup_e2e::{Fixture, all_dumps, fixture_text, holdup_ok, manifest, parse_hex};
use holdup_kernel::locking::{Layouts, LockId, LockKind, MmUsers, lock_name};
use holdup_kernel::mm::MemMap;
use holdup_kernel::mm::slab::{self, SlabLayout};
use holdup_kernel::{Kernel, OpenOptions, sched};
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

const ORACLE: &str = "drgn-slab-sample.tsv";

/// One line of the oracle.
#[derive(Debug)]
struct Row {
    addr: u64,
    kind: LockKind,
    cache: String,
    merged: bool,
    aliases: Vec<String>,
    object: u64,
    offset: u64,
    ty: String,
    path: String,
    inner: String,
    inner_addr: u64,
    how: String,
}

fn rows(fx: &Fixture) -> Vec<Row> {
    assert!(
        fx.files
            .iter()
            .any(|f| f.file == ORACLE && f.role == "oracle"),
        "fixture {}: the manifest lists no {ORACLE} (run dumps/gen/oracle/drgn_slab_sample.py, then dumps/gen/fixtures.py --manifest)",
        fx.name
    );
    let text = fixture_text(fx, ORACLE);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let c: Vec<&str> = line.split('\t').collect();
        assert_eq!(c.len(), 12, "{}:{}: {line}", fx.name, i + 1);
        let kind = match c[1] {
            "rwsem" => LockKind::Rwsem,
            "mutex" => LockKind::Mutex,
            "completion" => LockKind::Completion,
            "wait_queue" => LockKind::WaitQueue,
            k => panic!("{}:{}: lock kind {k}", fx.name, i + 1),
        };
        out.push(Row {
            addr: parse_hex(c[0]),
            kind,
            cache: c[2].into(),
            merged: c[3] == "1",
            aliases: match c[4] {
                "-" => vec![],
                a => a.split(',').map(String::from).collect(),
            },
            object: parse_hex(c[5]),
            offset: parse_hex(c[6]),
            ty: c[7].into(),
            path: c[8].into(),
            inner: c[9].into(),
            inner_addr: parse_hex(c[10]),
            how: c[11].into(),
        });
    }
    out
}

/// The kdump-zlib dump of a fixture (the file drgn read).
fn dump_of<'a>(m: &'a holdup_e2e::Manifest, name: &str) -> (&'a Fixture, PathBuf) {
    all_dumps(m)
        .into_iter()
        .find(|(fx, f, _)| fx.name == name && f.file == "vmcore.kdump-zlib")
        .map(|(fx, _, p)| (fx, p))
        .unwrap_or_else(|| panic!("fixture {name}: no vmcore.kdump-zlib in the manifest"))
}

/// What holdup says about one row, or how it differs from drgn.
fn check(
    k: &Kernel,
    memmap: &MemMap,
    layout: &SlabLayout,
    aliases: &HashMap<u64, Vec<String>>,
    r: &Row,
) -> Result<String, String> {
    let c = slab::lock_container(
        k.mem(),
        &k.types,
        memmap,
        layout,
        r.addr,
        r.kind.c_type(),
        |cache| {
            aliases
                .get(&cache)
                .cloned()
                .ok_or_else(|| "no sysfs alias".to_string())
        },
    )
    .map_err(|e| format!("error: {e}"))?
    .ok_or("not found in a slab object")?;
    let o = &c.object;
    let got = (
        o.slab.cache_name.as_str(),
        o.object,
        o.offset,
        o.slab.is_merged(),
    );
    let want = (r.cache.as_str(), r.object, r.offset, r.merged);
    if got != want {
        return Err(format!(
            "cache, object, offset, merged: holdup {got:x?}, drgn {want:x?}"
        ));
    }
    if r.merged && !r.aliases.is_empty() && c.aliases.as_deref() != Some(&r.aliases[..]) {
        return Err(format!(
            "aliases: holdup {:?}, drgn {:?}",
            c.aliases, r.aliases
        ));
    }
    let text = c.describe();
    if slab::is_kmalloc(&r.cache) {
        if c.member.is_some() {
            return Err(format!("a type in a kmalloc cache: {:?}", c.member));
        }
        let want = format!("object {:#x} of {} +{:#x}", r.object, r.cache, r.offset);
        if text != want {
            return Err(format!("name {text:?}, expected {want:?}"));
        }
        return Ok(text);
    }
    let m = c
        .member
        .as_ref()
        .ok_or_else(|| format!("no member found; notes: {:?}", c.notes))?;
    let got = (
        m.value.ty.as_str(),
        m.value.path.as_str(),
        m.value.inner.as_str(),
        m.value.inner_addr,
    );
    let want = (
        r.ty.as_str(),
        r.path.as_str(),
        r.inner.as_str(),
        r.inner_addr,
    );
    if got != want {
        return Err(format!("member: holdup {got:x?}, drgn {want:x?}"));
    }
    // Known from an unshared cache; only inferred from a shared one.
    if m.evidence.is_fact() == r.merged {
        return Err(format!(
            "evidence {} for a merged={} cache",
            m.evidence, r.merged
        ));
    }
    let last = r.path.rsplit('.').next().unwrap_or(&r.path);
    if !text.starts_with(&format!(
        "{last} of {} {:#x} ({}",
        r.inner, r.inner_addr, r.cache
    )) {
        return Err(format!("name {text:?}"));
    }
    Ok(text)
}

#[test]
fn sampled_locks_are_named_by_drgns_cache_object_and_member() {
    let m = manifest();
    for (name, at_least) in [("6.1", 400), ("6.12", 400), ("6.12-overfiltered", 150)] {
        let (fx, path) = dump_of(&m, name);
        let rows = rows(fx);
        assert!(
            rows.len() >= at_least,
            "{name}: {ORACLE} has {} locks, expected at least {at_least}",
            rows.len()
        );
        let k = Kernel::open(&path, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let memmap = MemMap::new(&k).expect("struct pages");
        let layout = SlabLayout::new(&k).expect("slab layout");
        // The over-filtered dump lacks pages of /sys/kernel/slab: drgn found no alias
        // either, and holdup infers the type without them.
        let aliases = match slab::cache_aliases(&k, &layout) {
            Ok(a) => a,
            Err(e) if fx.incomplete => {
                assert!(
                    rows.iter().all(|r| r.aliases.is_empty()),
                    "{name}: drgn read aliases holdup could not: {e}"
                );
                HashMap::new()
            }
            Err(e) => panic!("{name}: sysfs aliases of the caches: {e}"),
        };
        // The names the lock analysis gives (`lock_name`): mmap_locks by their mm's task,
        // every other lock by its container.
        let layouts = Layouts::new(&k).expect("layouts");
        let (tasks, _) = sched::for_each_task(&k).expect("tasks");
        let users = MmUsers::new(&k, &layouts, &tasks);
        let mut failures = Vec::new();
        let mut caches = BTreeSet::new();
        let (mut facts, mut inferred, mut untyped) = (0, 0, 0);
        for r in &rows {
            let named = lock_name(
                &k,
                &layouts,
                &users,
                LockId {
                    kind: r.kind,
                    addr: r.addr,
                },
            );
            let checked = check(&k, &memmap, &layout, &aliases, r).and_then(|text| {
                let n = named.ok_or("lock_name gives no name")?;
                let ok = if r.path == "mmap_lock" {
                    n.text
                        .starts_with(&format!("mmap_lock of mm {:#x} (", r.object))
                } else {
                    // A lock of an inode is named by the file's path, with the same inode,
                    // cache and object: `i_rwsem of /tmp/log (tmpfs inode X, CACHE object Y)`.
                    let by_path = text.split_once(" of inode ").is_some_and(|(member, rest)| {
                        let inode = rest.split(' ').next().unwrap_or("");
                        n.text.starts_with(&format!("{member} of /"))
                            && n.text
                                .contains(&format!(" inode {inode}, {} object ", r.cache))
                    });
                    (n.text == text || by_path)
                        && n.evidence.is_fact() == (!r.merged || slab::is_kmalloc(&r.cache))
                };
                if ok {
                    Ok(())
                } else {
                    Err(format!(
                        "lock_name {:?} [{}], expected {text:?}",
                        n.text, n.evidence
                    ))
                }
            });
            match checked {
                Ok(()) => {
                    caches.insert(r.cache.clone());
                    if slab::is_kmalloc(&r.cache) {
                        untyped += 1;
                    } else if r.merged {
                        inferred += 1;
                    } else {
                        facts += 1;
                    }
                }
                Err(e) => failures.push(format!("{:#x} ({}): {e}", r.addr, r.how)),
            }
        }
        assert!(
            failures.is_empty(),
            "{name}: {} of {} sampled locks differ from drgn:\n{}",
            failures.len(),
            rows.len(),
            failures[..failures.len().min(20)].join("\n")
        );
        // The sample keeps its variety: own caches, shared ones, kmalloc, embedded inodes.
        for c in [
            "mm_struct",
            "task_struct",
            "signal_cache",
            "sighand_cache",
            "kmalloc-128",
            "shmem_inode_cache",
        ] {
            assert!(
                caches.contains(c),
                "{name}: no sampled lock in {c}: {caches:?}"
            );
        }
        assert!(
            facts > 0 && inferred > 0 && untyped > 0,
            "{name}: {facts} facts, {inferred} inferences, {untyped} untyped"
        );
    }
}

#[test]
fn a_merged_cache_names_its_aliases_and_the_type_that_fits() {
    // On both kernels SLUB merged UDP and UDP-Lite (struct udp_sock) into signal_cache; only
    // struct signal_struct has a mutex where cred_guard_mutex is.
    let m = manifest();
    for name in ["6.1", "6.12"] {
        let (fx, path) = dump_of(&m, name);
        let r = rows(fx)
            .into_iter()
            .find(|r| r.path == "cred_guard_mutex")
            .unwrap_or_else(|| panic!("{name}: no cred_guard_mutex sampled"));
        assert!(r.merged, "{name}: signal_cache is not merged any more");
        let k = Kernel::open(&path, &OpenOptions::default()).expect("open");
        let memmap = MemMap::new(&k).expect("struct pages");
        let layout = SlabLayout::new(&k).expect("slab layout");
        let aliases = slab::cache_aliases(&k, &layout).expect("aliases");
        let c = slab::lock_container(
            k.mem(),
            &k.types,
            &memmap,
            &layout,
            r.addr,
            "struct mutex",
            |cache| aliases.get(&cache).cloned().ok_or_else(String::new),
        )
        .expect("read")
        .expect("in a slab");
        let member = c.member.expect("a member");
        let conf = member
            .evidence
            .confidence()
            .expect("an inference in a shared cache");
        assert!(conf.0 >= 70, "{name}: {}", member.evidence);
        let text = member.evidence.to_string();
        assert!(
            text.contains("UDP, UDP-Lite") && text.contains("only struct signal_struct"),
            "{name}: {text}"
        );
        // The same address in a lock of another type is no member of the object.
        let c = slab::lock_container(
            k.mem(),
            &k.types,
            &memmap,
            &layout,
            r.addr,
            "struct rw_semaphore",
            |cache| aliases.get(&cache).cloned().ok_or_else(String::new),
        )
        .expect("read")
        .expect("in a slab");
        assert!(c.member.is_none(), "{name}: {:?}", c.member);
        assert_eq!(
            c.describe(),
            format!("object {:#x} of signal_cache +{:#x}", r.object, r.offset)
        );
    }
}

#[test]
fn holdup_page_shows_the_slab_object_of_an_address() {
    let m = manifest();
    for name in ["6.1", "6.12"] {
        let (fx, path) = dump_of(&m, name);
        let r = rows(fx)
            .into_iter()
            .find(|r| r.cache == "mm_struct")
            .unwrap_or_else(|| panic!("{name}: no mm_struct sampled"));
        let addr = format!("{:#x}", r.addr);
        let out = holdup_ok(&["page", path.to_str().unwrap(), &addr]);
        let want = format!("object {:#x} (index", r.object);
        assert!(
            out.contains("slab: cache mm_struct") && out.contains(&want),
            "{name}: holdup page {addr}:\n{out}"
        );
        let json: serde_json::Value = serde_json::from_str(&holdup_ok(&[
            "page",
            "--json",
            path.to_str().unwrap(),
            &addr,
        ]))
        .expect("JSON");
        assert_eq!(json["slab_object"]["object"], format!("{:#x}", r.object));
        assert_eq!(json["slab_object"]["slab"]["cache_name"], "mm_struct");
    }
}
