//! The committed fixtures are what the manifest says they are, and their truth is complete.

use holdup_e2e::{
    Fixture, LockType, Role, TruthLine, TruthObject, live_fixtures, manifest_all,
    manifest_with_live, parse_hex,
};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

const SCENARIOS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

/// Where kernel addresses start: 0xffff800000000000 with 4-level paging, 0xff00000000000000
/// with 5-level paging (`NUMBER(pgtable_l5_enabled)=1` in the fixture's VMCOREINFO).
fn kernel_half(fx: &Fixture) -> u64 {
    if five_level(fx) {
        0xff00_0000_0000_0000
    } else {
        0xffff_8000_0000_0000
    }
}

/// The fixture's VMCOREINFO says 5-level paging.
fn five_level(fx: &Fixture) -> bool {
    let f = fx
        .files_with_role("vmcoreinfo")
        .next()
        .unwrap_or_else(|| panic!("{}: no vmcoreinfo file", fx.name));
    let text = std::fs::read_to_string(fx.path(&f.file)).expect("vmcoreinfo.txt");
    text.lines().any(|l| l == "NUMBER(pgtable_l5_enabled)=1")
}

fn sha256_of(path: &std::path::Path) -> String {
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read fixture");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn every_manifest_file_has_its_size_and_hash() {
    let m = manifest_with_live();
    assert_eq!(m.schema_version, 1);
    assert!(!m.fixtures.is_empty(), "the manifest lists no fixture");
    for fx in &m.fixtures {
        for f in &fx.files {
            let path = fx.path(&f.file);
            let meta = std::fs::metadata(&path)
                .unwrap_or_else(|e| panic!("fixture {}: {}: {e}", fx.name, path.display()));
            assert_eq!(meta.len(), f.size, "{}: size", path.display());
            assert_eq!(sha256_of(&path), f.sha256, "{}: sha256", path.display());
        }
        // Nothing in a fixture directory escapes the manifest.
        let listed: BTreeSet<_> = fx.files.iter().map(|f| f.file.as_str()).collect();
        for entry in std::fs::read_dir(fx.path("")).expect("fixture dir") {
            let name = entry.expect("dir entry").file_name();
            let name = name.to_string_lossy();
            assert!(
                listed.contains(name.as_ref()),
                "{}/{name} is not in the manifest",
                fx.dir
            );
        }
    }
}

#[test]
fn both_kernels_have_a_kdump_fixture_and_one_has_an_elf() {
    let m = manifest_all();
    for kernel in ["6.1", "6.12"] {
        assert!(
            m.fixtures.iter().any(|fx| fx.kernel == kernel
                && !fx.incomplete
                && fx
                    .files
                    .iter()
                    .any(|f| f.format.as_deref() == Some("kdump-zlib"))),
            "no complete kdump-zlib fixture for kernel {kernel}"
        );
    }
    assert!(
        m.fixtures
            .iter()
            .any(|fx| fx.files.iter().any(|f| f.format.as_deref() == Some("elf"))),
        "no ELF fixture"
    );
    assert!(
        m.fixtures
            .iter()
            .any(|fx| fx.kernel == "6.12" && fx.incomplete),
        "no over-filtered (incomplete) 6.12 fixture"
    );
}

#[test]
fn truth_has_every_scenario_with_holders_waiters_and_a_verdict() {
    let m = manifest_with_live();
    // The capture without a hang has one oops line and a no-hang verdict (tests/oops_la57.rs);
    // the stock fixtures have their own truth (below).
    for fx in m
        .fixtures
        .iter()
        .filter(|fx| !fx.no_hang && fx.hangs == "hangmod")
    {
        let truth = fx.truth();
        let mut facts: BTreeMap<&str, Vec<_>> = BTreeMap::new();
        let mut verdicts = BTreeMap::new();
        for line in &truth {
            match line {
                TruthLine::Fact(f) => facts.entry(f.scenario.as_str()).or_default().push(f),
                TruthLine::Verdict(v) => {
                    assert!(
                        verdicts.insert(v.scenario.as_str(), v).is_none(),
                        "{}: two verdicts for scenario {}",
                        fx.name,
                        v.scenario
                    );
                }
                TruthLine::Oops(o) => panic!("{}: an oops line in a hang capture: {o:?}", fx.name),
                TruthLine::Task(_) | TruthLine::Object(_) => {
                    panic!(
                        "{}: a stock truth line in a hangmod capture: {line:?}",
                        fx.name
                    )
                }
            }
        }
        for s in SCENARIOS {
            let fs = facts
                .get(s)
                .unwrap_or_else(|| panic!("{}: no facts for scenario {s}", fx.name));
            let v = verdicts
                .get(s)
                .unwrap_or_else(|| panic!("{}: no verdict for scenario {s}", fx.name));
            assert!(
                fs.iter().any(|f| f.role == Role::Waiter),
                "{}: {s} has no waiter",
                fx.name
            );
            assert!(
                !v.root_cause_pids.is_empty(),
                "{}: {s} names no root cause",
                fx.name
            );
            assert_eq!(
                v.root_cause_pids.len(),
                v.root_cause_comms.len(),
                "{}: {s}",
                fx.name
            );
            for (pid, comm) in v.root_cause_pids.iter().zip(&v.root_cause_comms) {
                assert!(
                    fs.iter().any(|f| f.pid == *pid && &f.comm == comm),
                    "{}: {s}: root cause {comm}/{pid} appears in no fact",
                    fx.name
                );
            }
            for f in fs {
                assert!(
                    parse_hex(&f.task) >= kernel_half(fx),
                    "{}: task {}",
                    fx.name,
                    f.task
                );
                assert!(
                    parse_hex(&f.lock) >= kernel_half(fx),
                    "{}: lock {}",
                    fx.name,
                    f.lock
                );
                if f.lock_type == LockType::PageLock {
                    assert!(
                        f.pfn.is_some() && f.page.is_some(),
                        "{}: {s}: page lock without page",
                        fx.name
                    );
                }
                if f.role == Role::Waiter {
                    assert!(
                        f.blocked_in.is_some(),
                        "{}: {s}: waiter {} without blocked_in",
                        fx.name,
                        f.comm
                    );
                }
            }
        }
        // The seed scenario is the incident of shared/seed: check its shape exactly.
        let a = &facts["a"];
        let has = |comm: &str, role, ty| {
            a.iter()
                .any(|f| f.comm == comm && f.role == role && f.lock_type == ty)
        };
        assert!(
            has("kscand", Role::Holder, LockType::Rwsem),
            "{}: kscand holds no rwsem",
            fx.name
        );
        assert!(
            has("kscand", Role::Holder, LockType::PageLock),
            "{}: kscand holds no page",
            fx.name
        );
        assert!(
            has("kscand", Role::Waiter, LockType::PageLock),
            "{}: kscand waits on no page",
            fx.name
        );
        assert!(
            has("kcollapsed", Role::Waiter, LockType::Rwsem),
            "{}: kcollapsed",
            fx.name
        );
        assert!(
            has("bench", Role::Waiter, LockType::Rwsem),
            "{}: bench",
            fx.name
        );
        assert!(
            verdicts["a"].cycle,
            "{}: the seed scenario is a self-deadlock",
            fx.name
        );
        assert_eq!(verdicts["a"].root_cause_comms, ["kscand"], "{}", fx.name);
    }
}

/// The captures of a running kernel (`6.1-live`) have no dump: what holdup printed on
/// `/proc/kcore` in the guest (role `live`), the generator's check (role `check`), and the truth,
/// serial log, meta and VMCOREINFO of any capture. Every other fixture has a dump.
#[test]
fn live_fixtures_have_holdups_outputs_and_no_dump() {
    let live = live_fixtures();
    assert!(
        live.iter().any(|fx| fx.name == "6.1-live"),
        "no 6.1-live fixture"
    );
    for fx in &live {
        assert!(
            !fx.no_hang
                && fx.hangs == "hangmod"
                && fx.needs.is_none()
                && !fx.preempt_rt
                && !fx.incomplete,
            "{}: a live capture of hangmod's hangs",
            fx.name
        );
        for f in &fx.files {
            assert!(
                ["truth", "serial", "meta", "vmcoreinfo", "live", "check"]
                    .contains(&f.role.as_str()),
                "{}: {} has role {} (a live fixture has no dump)",
                fx.name,
                f.file,
                f.role
            );
        }
        for role in ["truth", "serial", "meta", "vmcoreinfo", "check"] {
            assert_eq!(
                fx.files_with_role(role).count(),
                1,
                "{}: files of role {role}",
                fx.name
            );
        }
        for (file, format) in [
            ("live-report.txt", "text"),
            ("live-report.json", "json"),
            ("live-ps.txt", "text"),
        ] {
            assert!(
                fx.files_with_role("live")
                    .any(|f| f.file == file && f.format.as_deref() == Some(format)),
                "{}: no {file} of role live, format {format}",
                fx.name
            );
        }
        for f in fx.files_with_role("live") {
            assert!(
                [
                    "live-report.txt",
                    "live-report.json",
                    "live-report-2.json",
                    "live-ps.txt"
                ]
                .contains(&f.file.as_str()),
                "{}: unexpected live file {}",
                fx.name,
                f.file
            );
        }
    }
    for fx in manifest_with_live().fixtures.iter().filter(|fx| !fx.live) {
        assert!(
            fx.files_with_role("dump").next().is_some(),
            "{}: no dump (only a live fixture has none)",
            fx.name
        );
    }
}

/// The 5-level hang capture ran 5-level: its VMCOREINFO says so, and every task of its truth is
/// in the 5-level direct map (from 0xff11000000000000, below 4-level's kernel half).
#[test]
fn the_la57_hang_capture_is_five_level() {
    let m = manifest_with_live();
    let fx = m.fixture("6.1-la57");
    assert!(
        five_level(fx),
        "6.1-la57: VMCOREINFO does not say pgtable_l5_enabled=1"
    );
    assert!(!fx.no_hang && !fx.incomplete);
    for f in fx.facts() {
        let t = parse_hex(&f.task);
        assert!(
            (0xff11_0000_0000_0000..0xffff_8000_0000_0000).contains(&t),
            "6.1-la57: task {} of {} is not in the 5-level direct map",
            f.task,
            f.comm
        );
    }
    for fx in m
        .fixtures
        .iter()
        .filter(|fx| fx.name != "6.1-la57" && !fx.name.contains("la57"))
    {
        assert!(!five_level(fx), "{}: 5-level paging?", fx.name);
    }
}

/// The fields an object line of the stock truth has, besides kind, scenario, object, address.
fn object_fields(o: &TruthObject) -> BTreeSet<&'static str> {
    let mut f = BTreeSet::new();
    let mut has = |name, present: bool| {
        if present {
            f.insert(name);
        }
    };
    has("device", o.device.is_some());
    has("fstype", o.fstype.is_some());
    has("mount", o.mount.is_some());
    has("s_writers", o.s_writers.is_some());
    has("frozen", o.frozen.is_some());
    has("frozen_by_pid", o.frozen_by_pid.is_some());
    has("name", o.name.is_some());
    has("suspended", o.suspended.is_some());
    has("inode", o.inode.is_some());
    has("path", o.path.is_some());
    has("index", o.index.is_some());
    has("pfn", o.pfn.is_some());
    has("page_flags", o.page_flags.is_some());
    has("locked", o.locked.is_some());
    has("writeback", o.writeback.is_some());
    has("uptodate", o.uptodate.is_some());
    has("func", o.func.is_some());
    has("workqueue", o.workqueue.is_some());
    has("worker_pid", o.worker_pid.is_some());
    has("i_rwsem", o.i_rwsem.is_some());
    has("holder_pid", o.holder_pid.is_some());
    has("waiters", o.waiters.is_some());
    has("task", o.task.is_some());
    has("pid", o.pid.is_some());
    has("comm", o.comm.is_some());
    has("threadfn", o.threadfn.is_some());
    has("should_stop", o.should_stop.is_some());
    has("exited", o.exited.is_some());
    has("block", o.block.is_some());
    has("size", o.size.is_some());
    has("b_state", o.b_state.is_some());
    has("page", o.page.is_some());
    has("work", o.work.is_some());
    has("flusher_pid", o.flusher_pid.is_some());
    has("first_flusher", o.first_flusher.is_some());
    has("running_transaction", o.running_transaction.is_some());
    has("committing_transaction", o.committing_transaction.is_some());
    has("t_updates", o.t_updates.is_some());
    has("t_state", o.t_state.is_some());
    has("tid", o.tid.is_some());
    has("handle", o.handle.is_some());
    has("tags", o.tags.is_some());
    has("depth", o.depth.is_some());
    has("tags_in_use", o.tags_in_use.is_some());
    has("request", o.request.is_some());
    has("start_time_ns", o.start_time_ns.is_some());
    has("scheduler", o.scheduler.is_some());
    has("io_timeout_ms", o.io_timeout_ms.is_some());
    f
}

const STOCK_SCENARIOS: [&str; 7] = [
    "frozen",
    "io",
    "work",
    "i_rwsem",
    "freeze_wait",
    "kthread_stop",
    "buffer",
];

/// The extra stock scenarios (dumps/guest/init-stock.sh, `holdup_stock_extra=1`), which every
/// stock fixture has too.
const STOCK_EXTRA_SCENARIOS: [&str; 3] = ["wq_flush", "jbd2", "blk_tags"];

/// The stock fixture's truth (dumps/TRUTH.md, "Hangs in stock kernel code"): every line in
/// its schema, each object type with exactly its fields, each scenario with its shape, and
/// every one of the 200 writers of scenario i_rwsem listed once. Every stock fixture has the
/// three extra scenarios too, each with its shape.
#[test]
fn stock_truth_is_complete_and_strict() {
    let m = manifest_with_live();
    for fx in &m.fixtures {
        assert!(
            ["hangmod", "stock"].contains(&fx.hangs.as_str()),
            "{}: hangs {:?}",
            fx.name,
            fx.hangs
        );
    }
    let stock: Vec<_> = m.fixtures.iter().filter(|fx| fx.hangs == "stock").collect();
    assert!(!stock.is_empty(), "no stock fixture");
    for fx in stock {
        assert!(!fx.no_hang && !fx.incomplete, "{}", fx.name);
        let half = kernel_half(fx);
        let hex = |what: &str, s: &str| {
            assert!(
                s.len() == 18 && s.starts_with("0x") && parse_hex(s) >= half,
                "{}: {what} {s}",
                fx.name
            )
        };
        let known = |s: &str| STOCK_SCENARIOS.contains(&s) || STOCK_EXTRA_SCENARIOS.contains(&s);
        let (mut tasks, mut objects, mut verdicts) = (Vec::new(), Vec::new(), BTreeMap::new());
        for line in fx.truth() {
            match line {
                TruthLine::Task(t) => tasks.push(t),
                TruthLine::Object(o) => objects.push(o),
                TruthLine::Verdict(v) => {
                    assert!(
                        verdicts.insert(v.scenario.clone(), v).is_none(),
                        "{}: two verdicts",
                        fx.name
                    );
                }
                other => panic!("{}: a hangmod line in a stock capture: {other:?}", fx.name),
            }
        }
        for t in &tasks {
            assert!(known(&t.scenario), "{t:?}");
            hex("task", &t.task);
            hex("lock", &t.lock);
            assert!(
                [
                    "percpu_rwsem",
                    "io",
                    "work",
                    "mutex",
                    "rwsem",
                    "kthread_exit",
                    "buffer_lock",
                    "workqueue",
                    "jbd2_transaction",
                    "jbd2_commit",
                    "blk_mq_tag"
                ]
                .contains(&t.lock_type.as_str()),
                "{t:?}"
            );
            assert!(
                ["read", "write", "exclusive", "none"].contains(&t.mode.as_str()),
                "{t:?}"
            );
            assert!(
                ["TASK_UNINTERRUPTIBLE", "TASK_KILLABLE"].contains(&t.state.as_str()),
                "{t:?}"
            );
            assert!(
                !t.blocked_in.is_empty() && !t.blocked_in.contains('.'),
                "{t:?}"
            );
            assert_eq!(t.folio.is_some(), t.pfn.is_some(), "{t:?}");
            assert_eq!(t.folio.is_some(), t.index.is_some(), "{t:?}");
            assert_eq!(t.folio.is_some(), t.page_flags.is_some(), "{t:?}");
            if let Some(f) = &t.folio {
                hex("folio", f);
                assert!(t.inode.is_some(), "{t:?}");
            }
        }
        let want: BTreeMap<&str, &[&str]> = [
            (
                "super_block",
                &[
                    "device",
                    "fstype",
                    "mount",
                    "s_writers",
                    "frozen",
                    "frozen_by_pid",
                ][..],
            ),
            (
                "mapped_device",
                &["name", "device", "mount", "suspended"][..],
            ),
            (
                "folio",
                &[
                    "inode",
                    "path",
                    "index",
                    "pfn",
                    "page_flags",
                    "locked",
                    "writeback",
                    "uptodate",
                ][..],
            ),
            ("work_struct", &["func", "workqueue", "worker_pid"][..]),
            (
                "inode",
                &["path", "i_rwsem", "fstype", "holder_pid", "waiters"][..],
            ),
            (
                "kthread",
                &["task", "pid", "comm", "threadfn", "should_stop", "exited"][..],
            ),
            (
                "buffer_head",
                &[
                    "device", "mount", "block", "size", "b_state", "locked", "page",
                ][..],
            ),
            (
                "workqueue_struct",
                &[
                    "name",
                    "work",
                    "func",
                    "worker_pid",
                    "flusher_pid",
                    "first_flusher",
                ][..],
            ),
            (
                "journal",
                &[
                    "device",
                    "mount",
                    "running_transaction",
                    "committing_transaction",
                    "t_updates",
                    "t_state",
                    "tid",
                    "handle",
                    "holder_pid",
                ][..],
            ),
            (
                "request_queue",
                &[
                    "device",
                    "tags",
                    "depth",
                    "tags_in_use",
                    "request",
                    "start_time_ns",
                    "scheduler",
                    "io_timeout_ms",
                ][..],
            ),
        ]
        .into_iter()
        .collect();
        for o in &objects {
            assert!(known(&o.scenario), "{o:?}");
            hex("object", &o.address);
            let fields = want
                .get(o.object.as_str())
                .unwrap_or_else(|| panic!("{}: unknown object type {o:?}", fx.name));
            assert_eq!(
                object_fields(o),
                fields.iter().copied().collect(),
                "{}: fields of {o:?}",
                fx.name
            );
        }
        for v in verdicts.values() {
            assert!(known(&v.scenario), "{v:?}");
            assert_eq!(v.root_cause_pids.len(), v.root_cause_comms.len(), "{v:?}");
            assert!(
                !v.root_cause_pids.is_empty() || v.root_cause.is_some(),
                "{}: {v:?} names no root cause",
                fx.name
            );
            assert!(v.verdict.is_none(), "{v:?}");
            for (pid, comm) in v.root_cause_pids.iter().zip(&v.root_cause_comms) {
                assert!(
                    tasks
                        .iter()
                        .any(|t| t.scenario == v.scenario && t.pid == *pid && &t.comm == comm),
                    "{}: root cause {comm}/{pid} appears in no task line",
                    fx.name
                );
            }
        }
        let of = |s: &'static str| tasks.iter().filter(move |t| t.scenario == s);
        let obj = |s: &str, ty: &str| -> Vec<&TruthObject> {
            objects
                .iter()
                .filter(|o| o.scenario == s && o.object == ty)
                .collect()
        };
        for s in STOCK_SCENARIOS.iter().chain(&STOCK_EXTRA_SCENARIOS) {
            assert!(verdicts.contains_key(*s), "{}: no verdict for {s}", fx.name);
        }
        stock_extra_truth(fx, &tasks, &objects, &verdicts);
        // freeze_wait: a freeze of SB_FREEZE_WRITE in progress, its freezer waiting in
        // percpu_down_write for the one reader holding the level, a writer behind it.
        let sb = obj("freeze_wait", "super_block");
        assert_eq!(sb.len(), 1, "{}", fx.name);
        assert_eq!(sb[0].frozen, Some(1), "SB_FREEZE_WRITE, in progress");
        let v = &verdicts["freeze_wait"];
        assert!(!v.cycle && v.root_cause_comms == ["sbw_holder"], "{v:?}");
        for (comm, role, mode, blocked_in) in [
            ("sbw_holder", Role::Holder, "read", "schedule_timeout"),
            ("fsfreeze", Role::Waiter, "write", "percpu_down_write"),
            ("fzw_write", Role::Waiter, "read", "percpu_rwsem_wait"),
        ] {
            assert!(
                of("freeze_wait").any(|t| t.comm == comm
                    && t.role == role
                    && t.mode == mode
                    && t.blocked_in == blocked_in
                    && t.lock_type == "percpu_rwsem"),
                "{}: freeze_wait: no {comm}",
                fx.name
            );
        }
        // kthread_stop: the stopper waits on the exited completion of the kthread's struct.
        let kt = obj("kthread_stop", "kthread");
        assert_eq!(kt.len(), 1, "{}", fx.name);
        assert_eq!(kt[0].should_stop, Some(true));
        for t in of("kthread_stop") {
            assert_eq!(t.lock_type, "kthread_exit", "{t:?}");
            assert_eq!(Some(&t.lock), kt[0].exited.as_ref(), "{t:?}");
        }
        assert_eq!(
            verdicts["kthread_stop"].root_cause_pids,
            [kt[0].pid.unwrap()]
        );
        // buffer: a buffer_head locked by a task that sleeps, a waiter on its BH_Lock.
        let bh = obj("buffer", "buffer_head");
        assert_eq!(bh.len(), 1, "{}", fx.name);
        assert_eq!(bh[0].locked, Some(true));
        for t in of("buffer") {
            assert_eq!(
                (t.lock_type.as_str(), &t.lock),
                ("buffer_lock", &bh[0].address),
                "{t:?}"
            );
        }
        assert_eq!(verdicts["buffer"].root_cause_comms, ["bh_holder"]);
        // frozen: a super block frozen for good, two writers on its s_writers.
        let sb = obj("frozen", "super_block");
        assert_eq!(sb.len(), 1, "{}", fx.name);
        assert_eq!(sb[0].frozen, Some(4), "SB_FREEZE_COMPLETE");
        let frozen: Vec<_> = of("frozen").collect();
        assert_eq!(frozen.len(), 2, "{}", fx.name);
        for t in &frozen {
            assert_eq!(
                (t.role, t.lock_type.as_str()),
                (Role::Waiter, "percpu_rwsem")
            );
            assert_eq!(t.blocked_in, "percpu_rwsem_wait");
            assert!(parse_hex(&t.lock) > parse_hex(sb[0].s_writers.as_deref().unwrap()));
        }
        assert!(verdicts["frozen"].root_cause_pids.is_empty());
        // io: a suspended dm device; a writer waiting for writeback and a reader for a locked
        // folio, each on the folio an object line describes.
        let md = obj("io", "mapped_device");
        assert_eq!(md.len(), 1, "{}", fx.name);
        assert_eq!(md[0].suspended, Some(true));
        for t in of("io") {
            assert_eq!((t.role, t.lock_type.as_str()), (Role::Waiter, "io"));
            assert_eq!(t.lock, md[0].address, "{t:?}");
            if let Some(f) = &t.folio {
                let o = obj("io", "folio");
                let o = o.iter().find(|o| &o.address == f).expect("folio object");
                assert_eq!(o.inode, t.inode, "{t:?}");
                let want = if t.mode == "read" {
                    o.locked
                } else {
                    o.writeback
                };
                assert_eq!(want, Some(true), "{o:?}");
            }
        }
        for comm in ["io_fsync", "io_reader", "io_dread"] {
            assert!(
                of("io").any(|t| t.comm == comm),
                "{}: io: no {comm}",
                fx.name
            );
        }
        assert!(
            of("io").any(|t| t.state == "TASK_KILLABLE" && t.folio.is_some()),
            "{}: io: no reader on a folio locked for read",
            fx.name
        );
        // work: flush_work under the mutex the work needs: a cycle of two tasks.
        let w = obj("work", "work_struct");
        assert_eq!(w.len(), 1, "{}", fx.name);
        // The flusher is to blame: it flushes under the lock the work's function takes.
        let v = &verdicts["work"];
        assert!(v.cycle && v.root_cause_comms == ["wq_flusher"], "{v:?}");
        let worker = w[0].worker_pid.unwrap();
        assert!(!v.root_cause_pids.contains(&worker), "{v:?}");
        assert_eq!(of("work").count(), 4, "{}", fx.name);
        for (pid, role, ty) in [
            (v.root_cause_pids[0], Role::Holder, "mutex"),
            (v.root_cause_pids[0], Role::Waiter, "work"),
            (worker, Role::Holder, "work"),
            (worker, Role::Waiter, "mutex"),
        ] {
            assert!(
                of("work").any(|t| t.pid == pid && t.role == role && t.lock_type == ty),
                "{}: work: no {role:?} of {ty} with pid {pid}",
                fx.name
            );
        }
        // i_rwsem: one holder, every waiter listed once, as many as the inode line says.
        let ino = obj("i_rwsem", "inode");
        assert_eq!(ino.len(), 1, "{}", fx.name);
        let holders: Vec<_> = of("i_rwsem").filter(|t| t.role == Role::Holder).collect();
        assert_eq!(holders.len(), 1, "{}", fx.name);
        assert_eq!(Some(holders[0].pid), ino[0].holder_pid);
        assert_eq!(verdicts["i_rwsem"].root_cause_pids, [holders[0].pid]);
        let waiters: BTreeSet<u32> = of("i_rwsem")
            .filter(|t| t.role == Role::Waiter)
            .map(|t| t.pid)
            .collect();
        assert_eq!(
            of("i_rwsem").filter(|t| t.role == Role::Waiter).count(),
            waiters.len()
        );
        assert_eq!(Some(waiters.len() as u32), ino[0].waiters, "{}", fx.name);
        assert_eq!(waiters.len(), 200, "{}", fx.name);
        for t in of("i_rwsem") {
            assert_eq!(Some(t.lock.as_str()), ino[0].i_rwsem.as_deref(), "{t:?}");
            if t.role == Role::Waiter {
                assert_eq!(
                    (t.blocked_in.as_str(), t.mode.as_str()),
                    ("rwsem_down_write_slowpath", "write")
                );
            }
        }
    }
}

/// The shape of the extra stock scenarios' truth: flush_workqueue under a mutex
/// its running work item takes (a cycle of the flusher and the kworker), an open jbd2 handle
/// stopping the commit of its transaction (the commit, a writer and a syncfs behind it), a
/// block device out of tags (one in flight, two waiters, the device to blame).
fn stock_extra_truth(
    fx: &Fixture,
    tasks: &[holdup_e2e::StockTask],
    objects: &[TruthObject],
    verdicts: &BTreeMap<String, holdup_e2e::Verdict>,
) {
    let of = |s: &'static str| tasks.iter().filter(move |t| t.scenario == s);
    let obj = |s: &str, ty: &str| -> Vec<&TruthObject> {
        objects
            .iter()
            .filter(|o| o.scenario == s && o.object == ty)
            .collect()
    };
    // wq_flush: the flusher holds the mutex and waits on the workqueue, the kworker running
    // the work holds the workqueue and waits for the mutex.
    let wq = obj("wq_flush", "workqueue_struct");
    assert_eq!(wq.len(), 1, "{}", fx.name);
    let v = &verdicts["wq_flush"];
    assert!(v.cycle && v.root_cause_comms == ["wqf_flusher"], "{v:?}");
    let (flusher, worker) = (wq[0].flusher_pid.unwrap(), wq[0].worker_pid.unwrap());
    assert_eq!(v.root_cause_pids, [flusher], "{v:?}");
    assert_eq!(of("wq_flush").count(), 4, "{}", fx.name);
    for (pid, role, ty) in [
        (flusher, Role::Holder, "mutex"),
        (flusher, Role::Waiter, "workqueue"),
        (worker, Role::Holder, "workqueue"),
        (worker, Role::Waiter, "mutex"),
    ] {
        let t = of("wq_flush")
            .find(|t| t.pid == pid && t.role == role && t.lock_type == ty)
            .unwrap_or_else(|| panic!("{}: wq_flush: no {role:?} of {ty} with pid {pid}", fx.name));
        if ty == "workqueue" {
            assert_eq!(t.lock, wq[0].address, "{t:?}");
        }
    }
    // jbd2: a transaction locked for its commit with one update (the holder's handle).
    let j = obj("jbd2", "journal");
    assert_eq!(j.len(), 1, "{}", fx.name);
    let j = j[0];
    assert_eq!(
        (j.t_state.as_deref(), j.t_updates),
        (Some("T_LOCKED"), Some(1)),
        "{j:?}"
    );
    let v = &verdicts["jbd2"];
    assert!(!v.cycle && v.root_cause_comms == ["jh_holder"], "{v:?}");
    assert_eq!(v.root_cause_pids, [j.holder_pid.unwrap()], "{v:?}");
    assert_eq!(of("jbd2").count(), 4, "{}", fx.name);
    for (comm, role, ty, mode) in [
        ("jh_holder", Role::Holder, "jbd2_transaction", "read"),
        ("jbd2/", Role::Waiter, "jbd2_transaction", "write"),
        ("jw_write", Role::Waiter, "jbd2_transaction", "read"),
        ("jw_syncfs", Role::Waiter, "jbd2_commit", "none"),
    ] {
        let t = of("jbd2")
            .find(|t| t.comm.starts_with(comm) && t.role == role)
            .unwrap_or_else(|| panic!("{}: jbd2: no {comm}", fx.name));
        assert_eq!((t.lock_type.as_str(), t.mode.as_str()), (ty, mode), "{t:?}");
        let lock = if ty == "jbd2_commit" {
            &j.address
        } else {
            j.running_transaction.as_ref().unwrap()
        };
        assert_eq!(&t.lock, lock, "{t:?}");
    }
    // blk_tags: one tag, in use by the request tag_holder waits for; two waiters for a tag.
    let q = obj("blk_tags", "request_queue");
    assert_eq!(q.len(), 1, "{}", fx.name);
    let q = q[0];
    assert_eq!((q.depth, q.tags_in_use), (Some(1), Some(1)), "{q:?}");
    assert_eq!(q.scheduler.as_deref(), Some("none"), "{q:?}");
    let v = &verdicts["blk_tags"];
    let device = q.device.as_deref().unwrap();
    assert!(
        !v.cycle
            && v.root_cause_pids.is_empty()
            && v.root_cause
                .as_deref()
                .is_some_and(|r| r.starts_with(&format!("device {device} does not complete"))),
        "{v:?}"
    );
    assert_eq!(of("blk_tags").count(), 4, "{}", fx.name);
    for t in of("blk_tags") {
        let want = match (t.comm.as_str(), t.role) {
            ("tag_holder", Role::Waiter) => ("io", q.request.as_ref().unwrap()),
            ("tag_holder", Role::Holder) | ("tag_waiter", Role::Waiter) => {
                ("blk_mq_tag", q.tags.as_ref().unwrap())
            }
            _ => panic!("{}: blk_tags: {t:?}", fx.name),
        };
        assert_eq!((t.lock_type.as_str(), &t.lock), want, "{t:?}");
        if t.comm == "tag_waiter" {
            assert_eq!(t.blocked_in, "blk_mq_get_tag", "{t:?}");
        }
    }
    assert_eq!(
        of("blk_tags").filter(|t| t.comm == "tag_waiter").count(),
        2,
        "{}",
        fx.name
    );
}
