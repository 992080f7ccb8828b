//! Shared helpers of the end-to-end tests: where the fixtures are, their manifest and their
//! ground truth. Every test runs on the real vmcores committed under `dumps/`; a fixture that
//! is missing fails the test with the path it expected, never skips it.

use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `dumps/` at the root of the repository.
pub fn dumps_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("dumps")
}

/// `dumps/manifest.json`: every committed fixture file with its hash and provenance.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub schema_version: u32,
    pub fixtures: Vec<Fixture>,
}

/// One capture of one hung guest, in one or more formats, with its truth and oracles.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fixture {
    /// Short name used by tests, e.g. `6.1`, `6.12`, `6.12-overfiltered`.
    pub name: String,
    /// Directory relative to `dumps/`.
    pub dir: String,
    /// `6.1`, `6.12`, `6.12-rt` or `5.10`.
    pub kernel: String,
    /// `uname -r` of the guest kernel.
    pub release: String,
    /// How the memory was captured (kdump after a hung-task panic, QEMU of a live guest...).
    pub capture: String,
    /// Whether the dump is known to lack pages of tasks in the truth (over-filtered).
    #[serde(default)]
    pub incomplete: bool,
    /// The capture has no hang (an oops: `6.1-oops-la57`): its truth is one `oops` line and a
    /// `no-hang` verdict, its dumps are left out of [`all_dumps`] and have their own tests.
    #[serde(default)]
    pub no_hang: bool,
    /// Whose hangs: `hangmod` (absent: hangmod's scenarios a-g, or its oops) or `stock` (hangs
    /// in stock kernel code, `6.1-stock`: its truth is `task`, `object` and `verdict` lines,
    /// dumps/TRUTH.md; its dumps are left out of [`all_dumps`]).
    #[serde(default = "hangmod")]
    pub hangs: String,
    /// The guest kernel is PREEMPT_RT (`6.12-rt`: mutex and rw_semaphore built on
    /// `rt_mutex_base`/`rwbase_rt`). Its truth is hangmod's, but [`all_dumps`] leaves it out
    /// for now and [`rt_dumps`] lists it.
    #[serde(default)]
    pub preempt_rt: bool,
    /// What holdup must learn before it can open the dump on its own (`5.10`:
    /// `kallsyms-scan`, its VMCOREINFO has no kallsyms symbols). [`all_dumps`] leaves such
    /// fixtures out for now and [`dumps_needing`] lists them.
    #[serde(default)]
    pub needs: Option<String>,
    /// The capture of a running kernel (`6.1-live`): no dump (no file of role `dump`), but what
    /// holdup printed on `/proc/kcore` of the hung guest (role `live`: `live-report.txt`,
    /// `live-report.json`, `live-ps.txt`, and `live-report-2.json` when the second run
    /// differed), the generator's check of it (role `check`), its truth, serial log, meta and
    /// the VMCOREINFO of `/proc/kcore`. [`manifest`] and [`manifest_all`] leave it out, as the
    /// tests that walk them open every fixture's dump; [`manifest_with_live`] and
    /// [`live_fixtures`] have it.
    #[serde(default)]
    pub live: bool,
    pub files: Vec<FixtureFile>,
}

fn hangmod() -> String {
    "hangmod".to_string()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureFile {
    pub file: String,
    /// `dump`, `dump-zst` (a dump compressed with zstd), `dump-sample` (every 8th page of a
    /// dump, in another compression or format: not for analysis), `dump-incomplete` (a dump
    /// makedumpfile itself left incomplete, e.g. out of disk space), `truth`, `oracle`, `serial`,
    /// `vmcoreinfo`, `symbols`, `offsets`, `module-offsets`, `meta`; of a [`Fixture::live`]
    /// fixture also `live` (holdup's stdout on `/proc/kcore` in the guest) and `check`.
    pub role: String,
    /// For dumps: `elf`, `kdump-zlib`, `kdump-lzo`, `kdump-snappy`, `kdump-zstd`, `flat-zlib`;
    /// for `live` files: `text` or `json`.
    #[serde(default)]
    pub format: Option<String>,
    pub sha256: String,
    pub size: u64,
    /// The command that made the file, with tool versions.
    pub made_by: String,
}

impl Fixture {
    pub fn path(&self, file: &str) -> PathBuf {
        dumps_dir().join(&self.dir).join(file)
    }
    /// The files of one role.
    pub fn files_with_role<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a FixtureFile> {
        self.files.iter().filter(move |f| f.role == role)
    }
    /// The fixture's truth lines.
    pub fn truth(&self) -> Vec<TruthLine> {
        let file = self
            .files_with_role("truth")
            .next()
            .unwrap_or_else(|| panic!("fixture {} lists no truth file", self.name));
        read_truth(&self.path(&file.file))
    }
    /// The facts of its truth (who holds or waits for what), in file order.
    pub fn facts(&self) -> Vec<Fact> {
        self.truth()
            .into_iter()
            .filter_map(|l| match l {
                TruthLine::Fact(f) => Some(f),
                _ => None,
            })
            .collect()
    }
    /// The verdicts of its truth (one per scenario), in file order.
    pub fn verdicts(&self) -> Vec<Verdict> {
        self.truth()
            .into_iter()
            .filter_map(|l| match l {
                TruthLine::Verdict(v) => Some(v),
                _ => None,
            })
            .collect()
    }
}

impl Manifest {
    /// The fixture named `name` (`6.1`, `6.12`, ...), or a failure naming it.
    pub fn fixture(&self, name: &str) -> &Fixture {
        self.fixtures
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("no fixture {name} in the manifest"))
    }
}

/// Reads `dumps/manifest.json`, failing with the path when it is absent or malformed: the
/// fixtures holdup can open on its own. The tests walk `manifest().fixtures` and open every
/// dump, so the fixtures that need what holdup cannot do yet ([`Fixture::needs`]: `5.10`, no
/// kallsyms in VMCOREINFO) are left out here, as from [`all_dumps`]; [`manifest_all`] has them
/// (`tests/manifest.rs` checks every file of every fixture; [`dumps_needing`]).
pub fn manifest() -> Manifest {
    let mut m = manifest_all();
    m.fixtures.retain(|fx| fx.needs.is_none());
    m
}

/// Every fixture of `dumps/manifest.json` with a dump, those holdup cannot open yet among
/// them; not the captures of a running kernel ([`Fixture::live`]: no dump to open).
pub fn manifest_all() -> Manifest {
    let mut m = manifest_with_live();
    m.fixtures.retain(|fx| !fx.live);
    m
}

/// The fixtures of running kernels ([`Fixture::live`], `6.1-live`): holdup's outputs on
/// `/proc/kcore` (role `live`), no dump.
pub fn live_fixtures() -> Vec<Fixture> {
    manifest_with_live()
        .fixtures
        .into_iter()
        .filter(|fx| fx.live)
        .collect()
}

/// Every fixture of `dumps/manifest.json`, the [`Fixture::live`] ones among them
/// (`tests/manifest.rs` checks every file of every fixture).
pub fn manifest_with_live() -> Manifest {
    let path = dumps_dir().join("manifest.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (run `just dumps`)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One line of `truth.jsonl`, as the hang module printed it (schema in `dumps/TRUTH.md`).
// A fixture's few hundred lines are read once: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum TruthLine {
    Fact(Fact),
    Verdict(Verdict),
    Oops(Oops),
    /// A task of a hang in stock kernel code (the `stock` fixtures).
    Task(StockTask),
    /// A kernel object of a hang in stock kernel code (the `stock` fixtures).
    Object(TruthObject),
}

/// A task holding or waiting in a hang in stock kernel code (dumps/TRUTH.md, "Task"): a fact
/// with the lock types `percpu_rwsem`, `io`, `work`, `mutex`, `rwsem`, `kthread_exit`,
/// `buffer_lock`, `workqueue`, `jbd2_transaction`, `jbd2_commit`, `blk_mq_tag` and a recorded
/// state.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockTask {
    pub scenario: String,
    pub task: String,
    pub pid: u32,
    pub comm: String,
    pub role: Role,
    pub lock_type: String,
    pub lock: String,
    #[serde(default)]
    pub lock_name: Option<String>,
    pub mode: String,
    pub blocked_in: String,
    /// `TASK_UNINTERRUPTIBLE` or `TASK_KILLABLE`.
    pub state: String,
    #[serde(default)]
    pub folio: Option<String>,
    #[serde(default)]
    pub pfn: Option<u64>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub page_flags: Option<String>,
    #[serde(default)]
    pub inode: Option<String>,
    pub recorded_by_kernel: bool,
}

/// A kernel object of a hang in stock kernel code (dumps/TRUTH.md, "Object"): `object` names
/// its type (`super_block`, `mapped_device`, `folio`, `work_struct`, `inode`, `kthread`,
/// `buffer_head`, `workqueue_struct`, `journal`, `request_queue`), which fixes the fields it
/// has (tests/manifest.rs checks them).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TruthObject {
    pub scenario: String,
    pub object: String,
    pub address: String,
    #[serde(default)]
    pub device: Option<String>,
    #[serde(default)]
    pub fstype: Option<String>,
    #[serde(default)]
    pub mount: Option<String>,
    #[serde(default)]
    pub s_writers: Option<String>,
    #[serde(default)]
    pub frozen: Option<u32>,
    #[serde(default)]
    pub frozen_by_pid: Option<u32>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub suspended: Option<bool>,
    #[serde(default)]
    pub inode: Option<String>,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub index: Option<u64>,
    #[serde(default)]
    pub pfn: Option<u64>,
    #[serde(default)]
    pub page_flags: Option<String>,
    #[serde(default)]
    pub locked: Option<bool>,
    #[serde(default)]
    pub writeback: Option<bool>,
    #[serde(default)]
    pub uptodate: Option<bool>,
    #[serde(default)]
    pub func: Option<String>,
    #[serde(default)]
    pub workqueue: Option<String>,
    #[serde(default)]
    pub worker_pid: Option<u32>,
    #[serde(default)]
    pub i_rwsem: Option<String>,
    #[serde(default)]
    pub holder_pid: Option<u32>,
    #[serde(default)]
    pub waiters: Option<u32>,
    /// A `kthread` object: its task, pid, comm, thread function, whether it was told to stop
    /// and its `exited` completion.
    #[serde(default)]
    pub task: Option<String>,
    #[serde(default)]
    pub pid: Option<u32>,
    #[serde(default)]
    pub comm: Option<String>,
    #[serde(default)]
    pub threadfn: Option<String>,
    #[serde(default)]
    pub should_stop: Option<bool>,
    #[serde(default)]
    pub exited: Option<String>,
    /// A `buffer_head` object: block number, size, `b_state`, its page.
    #[serde(default)]
    pub block: Option<u64>,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub b_state: Option<String>,
    #[serde(default)]
    pub page: Option<String>,
    /// A `workqueue_struct` object (with `name`, `func`, `worker_pid`): the work item running
    /// on it, the task in `flush_workqueue()` and its `struct wq_flusher` (`first_flusher`).
    #[serde(default)]
    pub work: Option<String>,
    #[serde(default)]
    pub flusher_pid: Option<u32>,
    #[serde(default)]
    pub first_flusher: Option<String>,
    /// A `journal` object (with `device`, `mount`, `holder_pid`): its running and committing
    /// transactions, the running one's `t_updates`, `t_state` (the kernel's enum name) and
    /// `tid`, and the holder's open handle (`task->journal_info`).
    #[serde(default)]
    pub running_transaction: Option<String>,
    #[serde(default)]
    pub committing_transaction: Option<String>,
    #[serde(default)]
    pub t_updates: Option<u32>,
    #[serde(default)]
    pub t_state: Option<String>,
    #[serde(default)]
    pub tid: Option<u64>,
    #[serde(default)]
    pub handle: Option<String>,
    /// A `request_queue` object (with `device`): hardware queue 0's `struct blk_mq_tags`, its
    /// depth and tags in use, the request in flight and its `start_time_ns`, the I/O
    /// scheduler, the request timeout.
    #[serde(default)]
    pub tags: Option<String>,
    #[serde(default)]
    pub depth: Option<u32>,
    #[serde(default)]
    pub tags_in_use: Option<u32>,
    #[serde(default)]
    pub request: Option<String>,
    #[serde(default)]
    pub start_time_ns: Option<u64>,
    #[serde(default)]
    pub scheduler: Option<String>,
    #[serde(default)]
    pub io_timeout_ms: Option<u64>,
}

/// The oops of a capture without a hang: which task faulted, where, and on what address.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Oops {
    pub scenario: String,
    pub task: String,
    pub pid: u32,
    pub comm: String,
    /// The function whose load faulted (the `[exception RIP: ...]` of a backtrace).
    pub function: String,
    /// The frames below it, innermost first, as a backtrace shows them.
    pub callers: Vec<String>,
    /// The faulting address.
    pub address: String,
    /// `read` or `write`.
    pub access: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fact {
    pub scenario: String,
    pub task: String,
    pub pid: u32,
    pub comm: String,
    pub role: Role,
    pub lock_type: LockType,
    pub lock: String,
    #[serde(default)]
    pub lock_name: Option<String>,
    pub mode: Mode,
    pub blocked_in: Option<String>,
    #[serde(default)]
    pub page: Option<String>,
    #[serde(default)]
    pub folio: Option<String>,
    #[serde(default)]
    pub pfn: Option<u64>,
    #[serde(default)]
    pub page_flags: Option<String>,
    pub recorded_by_kernel: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Holder,
    Waiter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockType {
    Rwsem,
    Mutex,
    Semaphore,
    Completion,
    PageLock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Read,
    Write,
    Exclusive,
    Count,
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Verdict {
    pub scenario: String,
    pub root_cause_pids: Vec<u32>,
    pub root_cause_comms: Vec<String>,
    pub cycle: bool,
    pub summary: String,
    /// `no-hang` for a capture without a hang (no root cause then); absent otherwise.
    #[serde(default)]
    pub verdict: Option<String>,
    /// A root cause that is not a task (`frozen filesystem on vdb ...`): the stock fixtures;
    /// `root_cause_pids` may then be empty.
    #[serde(default)]
    pub root_cause: Option<String>,
}

/// Parses a truth file strictly: an unknown field or kind fails with its line number.
pub fn read_truth(path: &Path) -> Vec<TruthLine> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("{}:{}: {e}: {l}", path.display(), i + 1))
        })
        .collect()
}

/// Parses a hexadecimal address as the truth writes it (`0xffff...`).
pub fn parse_hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("bad hex address {s:?}: {e}"))
}

/// The `holdup` binary of this build (`target/<profile>/holdup`), built by
/// `cargo test --workspace`.
pub fn holdup_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/holdup
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join(format!("holdup{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} does not exist: run the tests with `cargo test --workspace` (which builds it)",
        bin.display()
    );
    bin
}

/// Runs `holdup ARGS...` with `NO_COLOR=1` and returns (exit status, stdout, stderr).
pub fn holdup(args: &[&str]) -> (i32, String, String) {
    holdup_env(args, &[("NO_COLOR", "1")], &[])
}

/// Runs `holdup ARGS...` with the variables of `set` set and those of `unset` removed from
/// the environment; returns (exit status, stdout, stderr).
pub fn holdup_env(args: &[&str], set: &[(&str, &str)], unset: &[&str]) -> (i32, String, String) {
    let mut c = std::process::Command::new(holdup_bin());
    c.args(args);
    for k in unset {
        c.env_remove(k);
    }
    for (k, v) in set {
        c.env(k, v);
    }
    let out = c.output().expect("run holdup");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `holdup ARGS...`, asserting success, and returns stdout.
pub fn holdup_ok(args: &[&str]) -> String {
    let (status, stdout, stderr) = holdup(args);
    assert_eq!(status, 0, "holdup {args:?} failed ({status}): {stderr}");
    stdout
}

/// Runs `holdup ARGS...` on a dump of `fx`, asserting the status a report of it must have:
/// 0, or 4 (partial) for a fixture that is incomplete ([`Fixture::incomplete`]: the dump lacks
/// memory the analysis needs); returns stdout.
pub fn holdup_report(fx: &Fixture, args: &[&str]) -> String {
    let (status, stdout, stderr) = holdup(args);
    let want = if fx.incomplete { 4 } else { 0 };
    assert_eq!(
        status, want,
        "holdup {args:?} on fixture {} (incomplete: {}): {stderr}",
        fx.name, fx.incomplete
    );
    stdout
}

/// The seed incident's dump: the 6.1 fixture's kdump-compressed file, as a string argument.
pub fn seed_dump() -> String {
    manifest()
        .fixture("6.1")
        .path("vmcore.kdump-zlib")
        .to_string_lossy()
        .into_owned()
}

/// Where tests unpack compressed fixtures: `target/fixtures/`.
pub fn scratch_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let target = exe
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "target"))
        .map(Path::to_path_buf)
        .unwrap_or_else(std::env::temp_dir);
    let dir = target.join("fixtures");
    std::fs::create_dir_all(&dir).expect("create target/fixtures");
    dir
}

/// An empty folder of its own under [`scratch_dir`]: `NAME-PID`, emptied if it was there.
pub fn fresh_scratch(name: &str) -> PathBuf {
    let d = scratch_dir().join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create a scratch folder");
    d
}

/// A dump file of a fixture, ready to open: `dump` files as they are, `dump-zst` files
/// decompressed once into [`scratch_dir`] (checked against the manifest's size first).
pub fn dump_path(fx: &Fixture, f: &FixtureFile) -> PathBuf {
    let src = fx.path(&f.file);
    if f.role != "dump-zst" {
        return src;
    }
    let name = f.file.trim_end_matches(".zst");
    let dst = scratch_dir().join(format!("{}-{}-{}", fx.name, &f.sha256[..12], name));
    // One unpacking at a time in this process; the rename makes it atomic across processes.
    static UNPACK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = UNPACK.lock().unwrap_or_else(|e| e.into_inner());
    if !dst.exists() {
        let input = std::fs::File::open(&src).unwrap_or_else(|e| panic!("{}: {e}", src.display()));
        let tmp = dst.with_extension(format!("tmp{}", std::process::id()));
        let mut out = std::fs::File::create(&tmp).expect("create scratch file");
        zstd::stream::copy_decode(input, &mut out)
            .unwrap_or_else(|e| panic!("unpacking {}: {e}", src.display()));
        std::fs::rename(&tmp, &dst).expect("rename scratch file");
    }
    dst
}

/// Every dump of every fixture of hangmod's hangs (not the [`Fixture::no_hang`] ones nor the
/// stock ones, [`Fixture::hangs`], which have their own tests): (fixture, file, path ready to
/// open).
///
/// It also leaves out the PREEMPT_RT fixtures ([`Fixture::preempt_rt`], see [`rt_dumps`]),
/// whose locks are built on `rt_mutex_base` (the truth tests take them through
/// [`truth_dumps`]; the tests of 6.x mechanics need not), and the fixtures that need more
/// than the dump's VMCOREINFO gives ([`Fixture::needs`], see [`dumps_needing`]).
pub fn all_dumps(m: &Manifest) -> Vec<(&Fixture, &FixtureFile, PathBuf)> {
    hangmod_dumps(m, |fx| !fx.preempt_rt && fx.needs.is_none())
}

/// The dumps whose truth the hang report and the lock analysis are checked against: those of
/// [`all_dumps`]; the fixtures that need what holdup now does (`m` from [`manifest_all`]):
/// a kallsyms scan (5.10), locks queued from `first_waiter` (7.3); and the PREEMPT_RT ones
/// ([`rt_dumps`]). The tests of 6.x mechanics (kallsyms searched in place, module BTF, the
/// ORC layouts) keep to [`all_dumps`].
pub fn truth_dumps(m: &Manifest) -> Vec<(&Fixture, &FixtureFile, PathBuf)> {
    let mut v = all_dumps(m);
    v.extend(dumps_needing(m, "kallsyms-scan"));
    v.extend(dumps_needing(m, "first-waiter-locks"));
    v.extend(rt_dumps(m));
    v
}

/// The dumps whose symbols and types are checked against the vmlinux (the samples of its
/// symbols and the DWARF offsets): those of [`truth_dumps`] and every 7.x one.
pub fn symbol_dumps(m: &Manifest) -> Vec<(&Fixture, &FixtureFile, PathBuf)> {
    let mut v = truth_dumps(m);
    for d in newest_dumps(m) {
        if !v.iter().any(|t| t.2 == d.2) {
            v.push(d);
        }
    }
    v
}

/// The dumps of 7.x kernels (`7.3`), whatever they still need ([`Fixture::needs`]).
pub fn newest_dumps(m: &Manifest) -> Vec<(&Fixture, &FixtureFile, PathBuf)> {
    hangmod_dumps(m, |fx| fx.kernel.starts_with("7."))
}

/// Every dump of the PREEMPT_RT fixtures of hangmod's hangs (`6.12-rt`).
pub fn rt_dumps(m: &Manifest) -> Vec<(&Fixture, &FixtureFile, PathBuf)> {
    hangmod_dumps(m, |fx| fx.preempt_rt)
}

/// Every dump of the fixtures of hangmod's hangs whose [`Fixture::needs`] is `need`
/// (`kallsyms-scan`: `5.10`), which [`all_dumps`] leaves out until holdup can do it (from
/// [`manifest_all`]: [`manifest`] leaves them out).
pub fn dumps_needing<'a>(
    m: &'a Manifest,
    need: &str,
) -> Vec<(&'a Fixture, &'a FixtureFile, PathBuf)> {
    hangmod_dumps(m, |fx| fx.needs.as_deref() == Some(need))
}

fn hangmod_dumps(
    m: &Manifest,
    keep: impl Fn(&Fixture) -> bool,
) -> Vec<(&Fixture, &FixtureFile, PathBuf)> {
    m.fixtures
        .iter()
        .filter(|fx| !fx.no_hang && fx.hangs == "hangmod" && keep(fx))
        .flat_map(|fx| {
            fx.files
                .iter()
                .filter(|f| f.role == "dump" || f.role == "dump-zst")
                .map(move |f| (fx, f, dump_path(fx, f)))
        })
        .collect()
}

/// The capture a fixture comes from: its kernel and the boot's `KERNELOFFSET` and
/// `CRASHTIME` (one boot, one crash), from the VMCOREINFO saved beside it. Fixtures of one
/// capture (6.12 and 6.12-overfiltered: two makedumpfile runs) share it.
pub fn capture_id(fx: &Fixture) -> String {
    let vi = fixture_text(fx, "vmcoreinfo.txt");
    let field = |key: &str| {
        vi.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{}: vmcoreinfo.txt has no {key}", fx.name))
            .to_string()
    };
    format!(
        "{} {} {}",
        fx.kernel,
        field("KERNELOFFSET="),
        field("CRASHTIME=")
    )
}

/// A `KEY: value` field of crash's `sys` output.
pub fn crash_sys_field(sys: &str, key: &str) -> String {
    sys.lines()
        .find_map(|l| {
            let (k, v) = l.split_once(": ")?;
            (k.trim() == key).then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("crash sys has no {key}"))
}

/// The guest's RAM in MiB: the `-m` of the QEMU command in the fixture's `meta.json`.
pub fn guest_ram_mib(fx: &Fixture) -> u64 {
    let meta: serde_json::Value = serde_json::from_str(&fixture_text(fx, "meta.json"))
        .unwrap_or_else(|e| panic!("fixture {}: meta.json: {e}", fx.name));
    let cmd: Vec<&str> = meta["qemu_command"]
        .as_array()
        .unwrap_or_else(|| panic!("fixture {}: meta.json has no qemu_command", fx.name))
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let m = cmd
        .windows(2)
        .find(|w| w[0] == "-m")
        .map(|w| w[1])
        .unwrap_or_else(|| panic!("fixture {}: the QEMU command has no -m", fx.name));
    m.trim_end_matches(['M', 'm'])
        .parse()
        .unwrap_or_else(|_| panic!("fixture {}: -m {m} is not in MiB", fx.name))
}

/// The text of an oracle or other fixture file.
pub fn fixture_text(fx: &Fixture, file: &str) -> String {
    let p = fx.path(file);
    std::fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("fixture {}: {}: {e}", fx.name, p.display()))
}

/// One task of crash's `bt` output (`bt`, `bt -a`, `foreach bt`).
#[derive(Debug, Clone)]
pub struct CrashBacktrace {
    pub pid: u32,
    pub task: u64,
    pub cpu: u32,
    pub comm: String,
    /// The frames in crash's order: each `#N [slot] function at ...` line, and each
    /// `[exception RIP: function+off]` line (slot `None`).
    pub frames: Vec<CrashFrame>,
    /// How many of `frames` come before crash's `--- <NMI exception stack> ---` line (the
    /// NMI handler's frames on the NMI stack, and the interrupted RIP): 0 without one.
    pub nmi_frames: usize,
}

/// A frame of crash's `bt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrashFrame {
    /// The stack slot (`[...]`); `None` for an `[exception RIP: ...]` line.
    pub slot: Option<u64>,
    /// The function, without offset or compiler suffix (`__mutex_lock.constprop.0` ->
    /// `__mutex_lock`).
    pub function: String,
}

/// Parses crash's `bt` output: every `PID:` block with its frames.
pub fn parse_crash_backtraces(text: &str) -> Vec<CrashBacktrace> {
    let base = |f: &str| f.split(['.', '+']).next().unwrap_or(f).to_string();
    let mut out: Vec<CrashBacktrace> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("PID: ") {
            let field = |key: &str| -> &str {
                rest.split_once(key)
                    .map(|(_, v)| v.split_whitespace().next().unwrap_or(""))
                    .unwrap_or_else(|| panic!("crash bt header without {key}: {line:?}"))
            };
            out.push(CrashBacktrace {
                pid: rest
                    .split_whitespace()
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("crash bt header pid: {line:?}")),
                task: parse_hex(field("TASK: ")),
                cpu: field("CPU: ")
                    .parse()
                    .unwrap_or_else(|e| panic!("crash bt header CPU: {line:?}: {e}")),
                comm: rest
                    .split_once("COMMAND: \"")
                    .and_then(|(_, c)| c.strip_suffix('"'))
                    .unwrap_or_else(|| panic!("crash bt header without COMMAND: {line:?}"))
                    .to_string(),
                frames: Vec::new(),
                nmi_frames: 0,
            });
            continue;
        }
        let Some(bt) = out.last_mut() else {
            continue;
        };
        let t = line.trim_start();
        if t.starts_with("--- <NMI exception stack> ---") {
            bt.nmi_frames = bt.frames.len();
        } else if let Some(rip) = t.strip_prefix("[exception RIP: ") {
            bt.frames.push(CrashFrame {
                slot: None,
                function: base(rip.trim_end_matches(']')),
            });
        } else if let Some(rest) = t.strip_prefix('#')
            && let Some((_, after)) = rest.split_once(" [")
            && let Some((sp, what)) = after.split_once("] ")
        {
            bt.frames.push(CrashFrame {
                slot: Some(parse_hex(sp)),
                function: base(what.split(" at ").next().unwrap_or(what)),
            });
        }
    }
    out
}

/// Checks one member row of a DWARF offsets table (`dwarf-offsets.tsv`,
/// `module-dwarf-offsets.tsv`: offset, bit offset, bit size, size of the member's type, `-`
/// where DWARF gives none) against holdup's types; `what` names the row in failures.
pub fn check_member_row(
    types: &holdup_types::Types,
    what: &str,
    ty: &str,
    member: &str,
    [offset, bit_offset, bit_size, size]: [&str; 4],
) {
    let field = types
        .member(&format!("{ty}.{member}"))
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(field.offset.to_string(), offset, "{what}: offset");
    if bit_size != "-" {
        assert_eq!(
            field.bit_size.map(|b| b.to_string()).as_deref(),
            Some(bit_size),
            "{what}: bit size"
        );
        assert_eq!(
            field.bit_offset.to_string(),
            bit_offset,
            "{what}: bit offset"
        );
    } else {
        assert_eq!(field.bit_size, None, "{what}: not a bitfield");
    }
    // BTF cannot tell a flexible array `x[]` from `x[0]`; DWARF prints `-` for it.
    if size != "-" {
        let got = types
            .sizeof_id(field.ty)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(got.to_string(), size, "{what}: size");
    }
}
