//! Every truth fact of every fixture is found through the lock layer
//! (`holdup_kernel::locking`): the same task, lock type, lock address, mode and role; what
//! the kernel records as a fact, what it does not as an inference with the truth's task
//! ranked first. Nothing is reported as a fact that truth contradicts, and the page scan
//! finds exactly the locked pages drgn found.

use holdup_e2e::{
    Fact, LockType, Mode as TMode, Role, all_dumps, fixture_text, manifest, manifest_all,
    parse_hex, truth_dumps,
};
use holdup_kernel::locking::{self, Evidence, LockAnalysis, LockId, LockKind, LockObject, Mode};
use holdup_kernel::{Kernel, OpenOptions, sched};
use std::collections::BTreeSet;
use std::path::Path;

fn kind_of(t: LockType) -> LockKind {
    match t {
        LockType::Rwsem => LockKind::Rwsem,
        LockType::Mutex => LockKind::Mutex,
        LockType::Semaphore => LockKind::Semaphore,
        LockType::Completion => LockKind::Completion,
        LockType::PageLock => LockKind::PageLock,
    }
}

fn mode_of(m: TMode) -> Mode {
    match m {
        TMode::Read => Mode::Read,
        TMode::Write => Mode::Write,
        TMode::Exclusive => Mode::Exclusive,
        TMode::Count => Mode::Count,
        TMode::None => Mode::None,
    }
}

fn analyze(path: &Path) -> (Kernel, LockAnalysis) {
    let k = Kernel::open(path, &OpenOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let (tasks, _) = sched::for_each_task(&k).expect("tasks");
    let a = locking::analyze(&k, &tasks).expect("lock analysis");
    (k, a)
}

/// Checks one truth fact; the error says what was found instead.
fn check(a: &LockAnalysis, f: &Fact) -> Result<String, String> {
    let task = parse_hex(&f.task);
    let id = LockId {
        kind: kind_of(f.lock_type),
        addr: parse_hex(&f.lock),
    };
    let mode = mode_of(f.mode);
    let state = a.lock(id);
    match f.role {
        Role::Waiter => {
            let w = a
                .waits_of(task)
                .into_iter()
                .find(|w| w.lock == id)
                .ok_or_else(|| format!("no wait on {id}; found {:?}", a.waits_of(task)))?;
            if w.mode != mode {
                return Err(format!("mode {} instead of {mode}", w.mode));
            }
            if f.recorded_by_kernel != w.evidence.is_fact() {
                return Err(format!("evidence {}", w.evidence));
            }
            let st = state.ok_or("the lock is not listed")?;
            if !st.waiters.iter().any(|x| x.task == task) {
                return Err("not among the lock's waiters".into());
            }
            if let Some(pfn) = f.pfn {
                match &st.object {
                    LockObject::Folio(p) if p.pfn == Some(pfn) && p.folio_flags.value.locked => {}
                    o => return Err(format!("page object {o:?}, truth pfn {pfn}")),
                }
            }
            Ok(format!("waits, {}", w.evidence))
        }
        Role::Holder => {
            let st = state.ok_or_else(|| format!("{id} is not listed"))?;
            let h = st
                .holders
                .iter()
                .find(|h| h.who.task() == Some(task))
                .ok_or_else(|| format!("not among the holders {:?}", st.holders))?;
            if h.mode != mode {
                return Err(format!("mode {} instead of {mode}", h.mode));
            }
            if f.recorded_by_kernel {
                if !h.evidence.is_fact() {
                    return Err(format!("recorded by the kernel but {}", h.evidence));
                }
            } else {
                let Evidence::Inference { confidence, .. } = &h.evidence else {
                    return Err(format!("not recorded by the kernel but {}", h.evidence));
                };
                // Ranked first: no candidate (task or I/O) is more confident.
                let top = st
                    .holders
                    .iter()
                    .map(|h| h.evidence.rank_key())
                    .max()
                    .unwrap_or(0);
                if confidence.0 < top {
                    return Err(format!("ranked below another candidate: {:?}", st.holders));
                }
            }
            Ok(format!("holds, {}", h.evidence))
        }
    }
}

#[test]
fn every_truth_fact_is_found_with_its_evidence() {
    let m = manifest();
    let mut checked = BTreeSet::new();
    let dumps = all_dumps(&m);
    assert!(
        dumps.len() >= 4,
        "only {} dumps in the manifest",
        dumps.len()
    );
    for (fx, f, path) in dumps {
        let (_k, a) = analyze(&path);
        let facts = fx.facts();
        assert_eq!(
            facts.len(),
            22,
            "{}: truth has {} facts",
            fx.name,
            facts.len()
        );
        let mut failures = Vec::new();
        for fact in &facts {
            match check(&a, fact) {
                Ok(_) => {}
                Err(e) => failures.push(format!(
                    "{} {} scenario {} {} ({}) {:?} {:?} {}: {e}",
                    fx.name,
                    f.file,
                    fact.scenario,
                    fact.comm,
                    fact.task,
                    fact.role,
                    fact.lock_type,
                    fact.lock
                )),
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
        checked.insert(fx.kernel.clone());
    }
    assert!(
        checked.contains("6.1") && checked.contains("6.12"),
        "checked only {checked:?}"
    );
}

#[test]
fn nothing_is_reported_as_fact_that_truth_contradicts() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let (_k, a) = analyze(&path);
        let facts = fx.facts();
        let truth_tasks: BTreeSet<u64> = facts.iter().map(|f| parse_hex(&f.task)).collect();
        let lock_kinds = [
            LockKind::Rwsem,
            LockKind::Mutex,
            LockKind::Semaphore,
            LockKind::Completion,
            LockKind::PageLock,
        ];
        for w in &a.waits {
            if !truth_tasks.contains(&w.task)
                || !w.evidence.is_fact()
                || !lock_kinds.contains(&w.lock.kind)
            {
                continue;
            }
            assert!(
                facts.iter().any(|t| t.role == Role::Waiter
                    && parse_hex(&t.task) == w.task
                    && parse_hex(&t.lock) == w.lock.addr
                    && kind_of(t.lock_type) == w.lock.kind),
                "{} {}: fact wait of {:#x} on {} is not in the truth",
                fx.name,
                f.file,
                w.task,
                w.lock
            );
        }
        for l in &a.locks {
            let truth_lock = facts
                .iter()
                .any(|t| parse_hex(&t.lock) == l.id.addr && kind_of(t.lock_type) == l.id.kind);
            if !truth_lock {
                continue;
            }
            for h in l.holders.iter().filter(|h| h.evidence.is_fact()) {
                let Some(task) = h.who.task() else { continue };
                assert!(
                    facts.iter().any(|t| t.role == Role::Holder
                        && parse_hex(&t.task) == task
                        && parse_hex(&t.lock) == l.id.addr),
                    "{} {}: fact holder {task:#x} of {} is not in the truth",
                    fx.name,
                    f.file,
                    l.id
                );
            }
        }
    }
}

#[test]
fn lock_names_match_the_truth() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let (_k, a) = analyze(&path);
        for fact in fx.facts() {
            let Some(want) = &fact.lock_name else {
                continue;
            };
            let id = LockId {
                kind: kind_of(fact.lock_type),
                addr: parse_hex(&fact.lock),
            };
            let got = a
                .lock(id)
                .and_then(|l| l.name.as_ref())
                .map(|n| n.text.clone())
                .unwrap_or_default();
            let ok = match want.strip_prefix("mmap_lock of ") {
                Some(comm) => {
                    got.starts_with("mmap_lock of mm 0x") && got.contains(&format!("({comm}, pid "))
                }
                None => got == format!("{want} [hangmod]"),
            };
            assert!(
                ok,
                "{} {}: {id} named {got:?}, truth {want:?}",
                fx.name, f.file
            );
        }
    }
}

#[test]
fn the_page_scan_and_the_wait_table_agree_with_drgn_and_the_truth() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let (_k, a) = analyze(&path);
        let scan = a.page_scan.as_ref().expect("page scan");
        assert_eq!(
            scan.unreadable, 0,
            "{} {}: {:?}",
            fx.name, f.file, scan.first_unreadable
        );
        // Every page of RAM has a struct page: at least as many as crash's MEMORY counts (or,
        // where crash cannot read the dump, 98% of the guest's `-m`: firmware keeps a little).
        let ram_pages = match fx.path("crash-sys.txt").exists() {
            true => {
                let memory =
                    holdup_e2e::crash_sys_field(&fixture_text(fx, "crash-sys.txt"), "MEMORY");
                let mib: f64 = memory
                    .strip_suffix(" MB")
                    .and_then(|m| m.parse().ok())
                    .unwrap_or_else(|| panic!("{}: crash's MEMORY is {memory:?}", fx.name));
                (mib * 256.0) as u64
            }
            false => holdup_e2e::guest_ram_mib(fx) * 256 * 98 / 100,
        };
        assert!(
            scan.struct_pages_read >= ram_pages,
            "{}: {} struct pages read for {ram_pages} pages of RAM",
            fx.name,
            scan.struct_pages_read
        );
        // drgn-locked-pages.txt: "page 0x... pfn N flags 0x..." lines.
        let drgn: BTreeSet<(u64, u64, u64)> = fixture_text(fx, "drgn-locked-pages.txt")
            .lines()
            .filter(|l| l.starts_with("page "))
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (parse_hex(w[1]), w[3].parse().expect("pfn"), parse_hex(w[5]))
            })
            .collect();
        let ours: BTreeSet<(u64, u64, u64)> = scan
            .locked
            .iter()
            .map(|p| (p.page, p.pfn, p.flags))
            .collect();
        assert_eq!(ours, drgn, "{} {}: locked pages", fx.name, f.file);
        for fact in fx
            .facts()
            .iter()
            .filter(|t| t.lock_type == LockType::PageLock)
        {
            let folio = parse_hex(&fact.lock);
            assert!(
                scan.locked
                    .iter()
                    .any(|p| p.page == folio && Some(p.pfn) == fact.pfn)
            );
            if fact.role == Role::Waiter {
                let task = parse_hex(&fact.task);
                assert!(
                    a.page_waiters.iter().any(|w| w.value.task == task
                        && w.value.folio == folio
                        && w.value.kind == LockKind::PageLock
                        && w.value.exclusive
                        && w.value.hash_matches
                        && w.value.is_wait_page_queue),
                    "{} {}: {} not in folio_wait_table",
                    fx.name,
                    f.file,
                    fact.comm
                );
            }
        }
    }
}

/// The seed incident (scenario a), as a person would read it: kscand holds bench's mmap_lock
/// for read and waits for a page lock it holds itself; kcollapsed is queued first as a
/// writer, bench second as a reader.
#[test]
fn the_seed_scenario_reads_as_in_the_seed() {
    let m = manifest_all();
    for (fx, f, path) in truth_dumps(&m) {
        let (k, a) = analyze(&path);
        let facts = fx.facts();
        let task_of = |comm: &str| {
            parse_hex(
                &facts
                    .iter()
                    .find(|t| t.scenario == "a" && t.comm == comm)
                    .unwrap_or_else(|| panic!("no {comm} in the truth"))
                    .task,
            )
        };
        let (kscand, kcollapsed, bench) =
            (task_of("kscand"), task_of("kcollapsed"), task_of("bench"));
        let mmap = a
            .locks
            .iter()
            .find(|l| l.id.kind == LockKind::Rwsem && l.top_holder_task() == Some(kscand))
            .unwrap_or_else(|| panic!("{} {}: no rwsem held by kscand", fx.name, f.file));
        let queue: Vec<(u64, Mode)> = mmap.waiters.iter().map(|w| (w.task, w.mode)).collect();
        assert_eq!(
            queue,
            [(kcollapsed, Mode::Write), (bench, Mode::Read)],
            "{}",
            fx.name
        );
        let name = &mmap.name.as_ref().expect("mmap_lock named").text;
        let pid = sched::task_pid(&k, bench).expect("pid");
        assert!(name.ends_with(&format!("(bench, pid {pid})")), "{name}");
        let page = a.waits_of(kscand);
        assert_eq!(page.len(), 1, "{:?}", page);
        let page = a.lock(page[0].lock).expect("page lock");
        assert_eq!(page.id.kind, LockKind::PageLock);
        assert_eq!(page.top_holder_task(), Some(kscand), "self-deadlock");
    }
}
