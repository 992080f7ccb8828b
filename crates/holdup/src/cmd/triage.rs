//! `holdup triage PATH...`: many dumps, in parallel, one JSON line each on stdout (schema in
//! `docs/triage.md`), and on a terminal a summary on stderr grouping dumps by hang signature.

use super::{Failure, style};
use crate::exit;
use clap::Args;
use comfy_table::{Cell, Color, ContentArrangement, Table, presets::UTF8_BORDERS_ONLY};
use holdup_triage::discover::{DiscoverOptions, discover};
use holdup_triage::{Options, Status, TriageLine, to_json_line, triage};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

pub const AFTER_HELP: &str = "\
Folders are searched (4 levels deep by default) for the layouts kdump tools leave:
  /var/crash/<stamp>/dump.<stamp> with dmesg.<stamp>     (kdump-tools: Debian, Ubuntu)
  /var/crash/<host>-<date>/vmcore with vmcore-dmesg.txt  (kexec-tools: Fedora, RHEL, SUSE)
and for any other file that starts like a dump (ELF core, kdump-compressed, flattened).

Each line: schema_version, path, status (hang, no_hang, error), release, panic, blocked_tasks,
root_causes (kind, lock_kinds, comms, pids, signature, label), signature, signature_text,
crash (a dump with no blocked task that crashed: kind oops or panic, function, module; its
signature is \"oops in FUNCTION [MODULE]\"), errors. Lines come in the order dumps finish. The signature names the hang, not the instance
(lock kinds and classes, the functions of the root-cause and waiting tasks, modules; never
addresses, pids or times): the same bug gets the same signature on other machines and kernels.

Examples:
  holdup triage /var/crash > triage.jsonl
  holdup triage -j 8 dumps/*/vmcore | jq -c '{path, signature, signature_text}'
  jq -s 'group_by(.signature) | map({n: length, what: .[0].signature_text})' triage.jsonl

Exit status: 0 every dump analysed (with or without a hang), 3 some dumps could not be
analysed (their lines have \"errors\"; the others are complete), 2 nothing to triage.";

/// Options of `holdup triage`.
#[derive(Args, Clone)]
pub struct TriageArgs {
    /// Dumps, or folders to search for dumps.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// A vmlinux with DWARF, used for every dump (all must then be of its kernel); without it,
    /// each dump uses its release's debug vmlinux when installed, else its own kallsyms and BTF.
    #[arg(long, global = true, value_name = "PATH")]
    pub vmlinux: Option<PathBuf>,
    /// Dumps analysed at once (default: one per CPU).
    #[arg(short, long, value_name = "N")]
    pub jobs: Option<usize>,
    /// How many folders deep to search a folder given (1: only its own files).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub max_depth: usize,
    /// Skip the scan of every struct page for locked pages nobody waits on (faster).
    #[arg(long)]
    pub no_page_scan: bool,
    /// Print the summary table on stderr even when stderr is not a terminal.
    #[arg(long)]
    pub summary: bool,
    /// Accepted for symmetry with the other commands: triage always writes JSON lines.
    #[arg(long, global = true, hide = true)]
    pub json: bool,
}

pub fn run(args: &TriageArgs) -> Result<(), Failure> {
    // Paths none of which exists are "no dump found" (status 2), not dumps that failed
    // (status 3); among paths that exist, a missing one still gets its error line.
    let missing: Vec<String> = args
        .paths
        .iter()
        .filter_map(|p| {
            std::fs::symlink_metadata(p)
                .err()
                .map(|e| format!("{}: {e}", p.display()))
        })
        .collect();
    if missing.len() == args.paths.len() {
        return Err(Failure::new(
            exit::UNREADABLE,
            format!("no dump to triage: {}", missing.join("; ")),
        ));
    }
    let found = discover(
        &args.paths,
        &DiscoverOptions {
            max_depth: args.max_depth.max(1),
            ..DiscoverOptions::default()
        },
    );
    for p in &found.problems {
        ::log::warn!("{p}");
    }
    if found.dumps.is_empty() {
        return Err(Failure::new(exit::UNREADABLE, "no dump to triage"));
    }
    ::log::info!("{} dump(s) to triage", found.dumps.len());
    let opts = Options {
        vmlinux: args.vmlinux.clone(),
        no_page_scan: args.no_page_scan,
        ..Options::default()
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()
        .map_err(|e| Failure::new(exit::UNREADABLE, format!("threads: {e}")))?;
    let jobs = pool.current_num_threads().clamp(1, found.dumps.len());

    // A panic in one dump's analysis becomes that dump's error line; say it only with -vv.
    std::panic::set_hook(Box::new(|info| ::log::debug!("{info}")));

    // One task per thread of the pool, each taking the next dump until none is left, the
    // largest files first (a big dump left for last keeps one core busy while the others
    // idle). The parallel steps of a dump (inflating pages, the page scan, ...) run in the
    // same pool: a thread waiting for one helps with any dump's parallel steps, and with no
    // dump left to take it helps finish the others. Not a parallel iterator over the dumps:
    // its pending dumps would be rayon work too, and a thread waiting inside one dump's
    // parallel step could start a whole other dump there, leaving its own unfinished behind
    // it and the other cores without work at the end.
    let mut order: Vec<usize> = (0..found.dumps.len()).collect();
    let size = |i: &usize| std::fs::metadata(&found.dumps[*i].path).map_or(0, |m| m.len());
    order.sort_by_key(|i| std::cmp::Reverse(size(i)));
    let next = AtomicUsize::new(0);
    let bar = style::bar(found.dumps.len() as u64, "dumps");
    let out = Mutex::new(std::io::stdout());
    let done: Mutex<Vec<(usize, TriageLine)>> = Mutex::new(Vec::with_capacity(order.len()));
    pool.scope(|s| {
        for _ in 0..jobs {
            s.spawn(|_| {
                while let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let line = triage(&found.dumps[i], &opts);
                    // The whole line in one write: lines of parallel jobs never interleave.
                    let json = to_json_line(&line) + "\n";
                    {
                        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                        bar.suspend(|| {
                            // A closed stdout (`| head`) is not a reason to stop the others.
                            let _ = out.write_all(json.as_bytes());
                            let _ = out.flush();
                        });
                    }
                    bar.inc(1);
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, line));
                }
            });
        }
    });
    // In the order the dumps were found, as the summary lists them.
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(i, _)| *i);
    let lines: Vec<TriageLine> = done.into_iter().map(|(_, l)| l).collect();
    bar.finish_and_clear();
    let _ = std::panic::take_hook();

    if !style::ui().quiet && (args.summary || style::Stream::Stderr.is_terminal()) {
        eprint!(
            "{}",
            summary(&lines, style::color_on(style::Stream::Stderr))
        );
    }
    let failed = lines.iter().filter(|l| l.status == Status::Error).count();
    if failed > 0 {
        return Err(Failure::new(
            exit::SOME_FAILED,
            format!(
                "{failed} of {} dump(s) could not be analysed (see their \"errors\")",
                lines.len()
            ),
        ));
    }
    Ok(())
}

/// The summary table: dumps grouped by signature, most frequent first; failures last.
pub fn summary(lines: &[TriageLine], color: bool) -> String {
    struct Group<'a> {
        count: usize,
        what: String,
        example: &'a str,
        status: Status,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for l in lines {
        let (key, what) = match (&l.signature, l.status) {
            (Some(s), _) => (s.clone(), l.signature_text.clone().unwrap_or_default()),
            (None, _) => (
                "error".to_string(),
                format!(
                    "could not be analysed, e.g.: {}",
                    shorten(l.errors.first().map_or("?", String::as_str), 120)
                ),
            ),
        };
        let g = groups.entry(key).or_insert(Group {
            count: 0,
            what,
            example: &l.path,
            status: l.status,
        });
        g.count += 1;
    }
    let mut rows: Vec<(&String, &Group)> = groups.iter().collect();
    rows.sort_by(|a, b| {
        (a.1.status == Status::Error)
            .cmp(&(b.1.status == Status::Error))
            .then(b.1.count.cmp(&a.1.count))
            .then(a.0.cmp(b.0))
    });
    let mut table = Table::new();
    table
        .load_preset(UTF8_BORDERS_ONLY)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(
            std::env::var("COLUMNS")
                .ok()
                .and_then(|c| c.parse().ok())
                .unwrap_or(140),
        );
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    let head = |s: &str| {
        let c = Cell::new(s);
        if color {
            c.add_attribute(comfy_table::Attribute::Bold)
        } else {
            c
        }
    };
    table.set_header(vec![
        head("DUMPS"),
        head("SIGNATURE"),
        head("HANG"),
        head("EXAMPLE"),
    ]);
    for (sig, g) in rows {
        let mut what = Cell::new(&g.what);
        if color {
            what = what.fg(match g.status {
                Status::Error => Color::Red,
                Status::NoHang => Color::Green,
                Status::Hang => Color::Yellow,
            });
        }
        table.add_row(vec![
            Cell::new(g.count),
            Cell::new(sig),
            what,
            Cell::new(g.example),
        ]);
    }
    let count = |s: Status| lines.iter().filter(|l| l.status == s).count();
    let hangs: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l.status == Status::Hang)
        .filter_map(|l| l.signature.as_deref())
        .collect();
    format!(
        "{table}\n{} dump(s): {} hung ({} signature(s)), {} without a blocked task, {} could not be analysed\n",
        lines.len(),
        count(Status::Hang),
        hangs.len(),
        count(Status::NoHang),
        count(Status::Error)
    )
}

/// At most `max` characters, with `...` when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}...")
    }
}
