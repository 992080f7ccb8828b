//! The hang report, three ways: [`render_text`] for a person reading one dump,
//! [`to_json`] (the versioned schema in `docs/json-schema.md`) for scripts, and
//! [`render_dot`] for a Graphviz picture of the wait-for graph; [`build_report`] makes the
//! report of an opened dump.
//!
//! Facts read from memory and inferences are kept visibly apart everywhere: in the text an
//! inference reads `guess 80%` with its evidence, in JSON every relation carries an
//! `evidence` object, and in the graph inferred edges are dashed.

mod build;
pub mod crash;
mod json;
mod text;

pub use build::build_report;
pub use json::{SCHEMA_VERSION, json_schema, to_json};
pub use text::{TextOptions, UNKNOWN_WIDTH, render_dot, render_text, render_text_with};

use holdup_analysis::crash::CrashSummary;
use holdup_analysis::{Analysis, Certainty, WaitGraph};

/// What the report says about the dump and the kernel, above the analysis.
#[derive(Debug, Clone, Default)]
pub struct Header {
    pub dump_path: String,
    pub dump_format: String,
    pub dump_level: Option<u32>,
    /// Page kinds the dump level leaves out.
    pub excluded: Vec<String>,
    pub release: Option<String>,
    pub uptime_ns: Option<u64>,
    pub panic_message: Option<String>,
    pub panic_cpu: Option<u32>,
    /// (pid, comm) of the task that panicked.
    pub panic_task: Option<(u32, String)>,
    /// Where symbols and types came from.
    pub symbols: String,
    pub types: String,
}

impl Header {
    /// Whether the "dump" is `/proc/kcore`: the running kernel, whose memory changed while
    /// holdup read it.
    pub fn live(&self) -> bool {
        is_live(&self.dump_path)
    }
}

/// Whether `dump_path` is `/proc/kcore`, the running kernel.
pub fn is_live(dump_path: &str) -> bool {
    std::path::Path::new(dump_path).ends_with("proc/kcore")
}

/// Everything a report is made of.
#[derive(Debug, Clone)]
pub struct Report {
    pub header: Header,
    pub graph: WaitGraph,
    pub analysis: Analysis,
    /// What could not be read, and what it affects.
    pub problems: Vec<String>,
    /// Tasks read, and tasks found but unreadable: "no blocked task" means "no hang" only
    /// when every task could be read.
    pub tasks_read: usize,
    pub tasks_unreadable: usize,
    /// The tasks found but unreadable (their `task_struct` is not in the dump): address and
    /// pid when the pid table names it. Any of them may be a blocked task.
    pub unreadable_tasks: Vec<(u64, Option<u32>)>,
    /// For a dump with no blocked task: the task that panicked and its stack.
    pub crash: Option<CrashSummary>,
    /// For a dump with no blocked task: the kernel log's lines a person reads first (the start
    /// of the last bug report, then the log's last lines; `...` where lines were left out).
    pub crash_log: Vec<String>,
    /// What the crash commands beside each relation need (wait-list offsets, wait tables).
    pub crash_layout: crash::CrashLayout,
}

impl Report {
    /// The crash commands that show a relation of `task` with `lock`
    /// ([`crash::commands`]).
    pub fn crash_commands(&self, task: u64, lock: u64, waiter: bool, c: &Certainty) -> Vec<String> {
        let pid = self.graph.tasks.get(&task).map(|t| t.pid);
        let kind = self.graph.locks.get(&lock).map_or("", |l| l.kind.as_str());
        crash::commands(&self.crash_layout, pid, task, kind, lock, waiter, c)
    }
}

/// What a report concludes about the dump (`holdup DUMP`'s exit status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Blocked tasks were found and explained, from a complete reading.
    Hang,
    /// Blocked tasks were found and explained as far as the dump allows, but memory holdup
    /// needed is missing (a task, a list, a lock): what is missing may hide blocked tasks or
    /// links (the report's header says what each gap may hide).
    Partial,
    /// Every task was read and none is blocked.
    NoHang,
    /// No blocked task among those read, but some could not be read (or none could): they
    /// may be the blocked ones.
    Undecided,
}

impl Report {
    /// What the report concludes.
    pub fn outcome(&self) -> Outcome {
        if self.graph.tasks.values().any(|t| t.blocked) {
            if self.problems.is_empty() && self.tasks_unreadable == 0 {
                Outcome::Hang
            } else {
                Outcome::Partial
            }
        } else if self.tasks_read == 0 || self.tasks_unreadable > 0 {
            Outcome::Undecided
        } else {
            Outcome::NoHang
        }
    }
}

/// `0xffff...`: addresses are strings in JSON (they do not fit a double) and in text.
pub(crate) fn hex(v: u64) -> String {
    format!("{v:#x}")
}

/// Seconds with one decimal: `12.3 s`.
pub(crate) fn seconds(ns: u64) -> String {
    format!("{:.1} s", ns as f64 / 1e9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use holdup_analysis::{Certainty, Hold, LockNode, TaskNode, Wait};

    /// The seed incident as the kernel layer would describe it.
    fn seed() -> Report {
        let mut g = WaitGraph::default();
        for (id, pid, comm) in [
            (0xa1, 99, "kscand"),
            (0xa2, 100, "kcollapsed"),
            (0xa3, 96, "bench"),
        ] {
            g.tasks.insert(
                id,
                TaskNode {
                    id,
                    pid,
                    comm: comm.into(),
                    state: "UN".into(),
                    blocked: true,
                    running: false,
                    blocked_in: Some("folio_wait_bit_common".into()),
                    caller: Some(format!("{comm}_fn+0x1c6 [hangmod]")),
                    blocked_for_ns: Some(13_200_000_000),
                },
            );
        }
        g.locks.insert(
            0x10,
            LockNode {
                id: 0x10,
                kind: "rwsem".into(),
                name: "mmap_lock of bench (pid 96)".into(),
                can_be_held: true,
                held_by: Vec::new(),
            },
        );
        g.locks.insert(
            0x20,
            LockNode {
                id: 0x20,
                kind: "page_lock".into(),
                name: "page lock of pfn 0x3393".into(),
                can_be_held: true,
                held_by: Vec::new(),
            },
        );
        let guess = |c| Certainty::inference(c, vec!["its stack holds the folio".into()]);
        g.holds.push(Hold {
            lock: 0x10,
            task: 0xa1,
            mode: "read".into(),
            certainty: guess(0.8),
        });
        g.holds.push(Hold {
            lock: 0x20,
            task: 0xa1,
            mode: "exclusive".into(),
            certainty: guess(0.9),
        });
        g.waits.push(Wait {
            task: 0xa1,
            lock: 0x20,
            mode: "exclusive".into(),
            position: Some(0),
            certainty: Certainty::fact("folio_wait_table"),
        });
        g.waits.push(Wait {
            task: 0xa2,
            lock: 0x10,
            mode: "write".into(),
            position: Some(0),
            certainty: Certainty::fact("rw_semaphore.wait_list"),
        });
        g.waits.push(Wait {
            task: 0xa3,
            lock: 0x10,
            mode: "read".into(),
            position: Some(1),
            certainty: Certainty::fact("rw_semaphore.wait_list"),
        });
        let analysis = g.analyse();
        Report {
            tasks_read: 3,
            tasks_unreadable: 0,
            unreadable_tasks: Vec::new(),
            crash: None,
            crash_log: Vec::new(),
            crash_layout: crash::CrashLayout::default(),
            header: Header {
                dump_path: "vmcore".into(),
                release: Some("6.1.0-56-amd64".into()),
                panic_message: Some("hung_task: blocked tasks".into()),
                ..Header::default()
            },
            graph: g,
            analysis,
            problems: vec![],
        }
    }

    #[test]
    fn text_names_the_root_cause_and_marks_guesses() {
        let text = render_text(&seed());
        assert!(text.contains("ROOT CAUSE 1: kscand (pid 99)"), "{text}");
        assert!(text.contains("self-deadlock"), "{text}");
        assert!(
            text.contains("guess 90%: its stack holds the folio"),
            "{text}"
        );
        assert!(
            text.contains("bench (pid 96) waits (read, fact) for mmap_lock"),
            "{text}"
        );
        assert!(
            text.contains("blocked behind it: bench (pid 96) and kcollapsed (pid 100)"),
            "{text}"
        );
        // Why a reader waits on a lock held for read: the writer queued ahead of it.
        assert!(
            text.contains("bench (pid 96) in bench_fn+0x1c6 [hangmod] cannot take mmap_lock of bench (pid 96) for read although it is held for read: kcollapsed (pid 100) in kcollapsed_fn+0x1c6 [hangmod] waits ahead of it (#0) to write"),
            "{text}"
        );
        assert!(text.contains("SUMMARY"), "{text}");
    }

    #[test]
    fn a_pile_up_of_readers_behind_a_writer_is_one_sentence() {
        let r = seed_with_readers(20);
        let text = render_text(&r);
        let notes: Vec<&str> = text.lines().filter(|l| l.contains("cannot take")).collect();
        assert_eq!(notes.len(), 1, "{notes:#?}");
        assert!(
            notes[0].contains("21 readers (") && notes[0].contains("waits ahead of them (#0)"),
            "{}",
            notes[0]
        );
    }

    /// The seed with `n` more bench threads queued for read behind kcollapsed.
    fn seed_with_readers(n: u64) -> Report {
        let mut r = seed();
        for i in 0..n {
            let id = 0x1000 + i;
            let mut t = r.graph.tasks[&0xa3].clone();
            t.id = id;
            t.pid = 1000 + i as u32;
            t.blocked_for_ns = Some(13_000_000_000 + i % 7 * 100_000_000);
            r.graph.tasks.insert(id, t);
            r.graph.waits.push(Wait {
                task: id,
                lock: 0x10,
                mode: "read".into(),
                position: Some(2 + i as usize),
                certainty: Certainty::fact("rw_semaphore.wait_list"),
            });
        }
        r.analysis = r.graph.analyse();
        r
    }

    #[test]
    fn a_pile_up_of_any_size_reads_in_the_same_lines_and_json_keeps_every_waiter() {
        let text_of = |n| {
            render_text_with(
                &seed_with_readers(n),
                TextOptions {
                    width: Some(120),
                    ..TextOptions::default()
                },
            )
        };
        let lines = |t: &str| t.lines().count();
        let (ten, thousand, most) = (text_of(10), text_of(1_000), text_of(100_000));
        // Grouped: the text does not grow with the waiters; only the counts' digits may
        // wrap a line or two more.
        assert!(lines(&thousand) <= lines(&ten) + 2, "{thousand}");
        assert!(lines(&most) <= lines(&ten) + 3, "{most}");
        assert!(
            most.contains("+100000"),
            "the group row counts every reader: {most}"
        );
        assert!(most.contains("bench ×100001"), "{most}");
        assert!(most.contains("... and 99993 more (bench ×99993"), "{most}");
        // JSON lists every task and every relation.
        let v: serde_json::Value =
            serde_json::from_str(&to_json(&seed_with_readers(100_000))).unwrap();
        assert_eq!(v["tasks"].as_array().unwrap().len(), 100_003);
        let waiters = v["locks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["lock"] == "0x10")
            .unwrap()["waiters"]
            .as_array()
            .unwrap()
            .len();
        assert_eq!(waiters, 100_002);
    }

    #[test]
    fn json_is_versioned_and_keeps_addresses_as_strings() {
        let v: serde_json::Value = serde_json::from_str(&to_json(&seed())).unwrap();
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
        assert_eq!(v["root_causes"][0]["kind"], "self_deadlock");
        assert_eq!(v["root_causes"][0]["tasks"][0]["comm"], "kscand");
        assert_eq!(v["root_causes"][0]["lock"], "0x20");
        assert_eq!(v["locks"][0]["waiters"][1]["comm"], "bench");
        assert_eq!(v["locks"][0]["waiters"][1]["evidence"]["kind"], "fact");
        assert_eq!(v["locks"][1]["holders"][0]["evidence"]["kind"], "inference");
    }

    #[test]
    fn dot_draws_inferred_edges_dashed_with_a_legend() {
        let dot = render_dot(&seed());
        assert!(dot.starts_with("digraph holdup {"));
        assert!(
            dot.contains(
                "\"l20\" -> \"ta1\" [label=\"held by (exclusive) guess 90%\", style=dashed]"
            ),
            "{dot}"
        );
        assert!(
            dot.contains("\"ta3\" -> \"l10\" [label=\"waits (read) fact\", style=solid]"),
            "{dot}"
        );
        assert!(dot.contains("subgraph cluster_legend"), "{dot}");
    }
}
