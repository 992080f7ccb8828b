//! Every blocked task's wait and every lock's holders and waiters:
//! `cargo run --release --example locks -- DUMP [--json]`.
use holdup_kernel::locking::{self, LockObject};
use holdup_kernel::{Kernel, OpenOptions, sched};

fn who(k: &Kernel, t: u64) -> String {
    format!(
        "{} ({}, {t:#x})",
        sched::task_comm(k, t).unwrap_or_else(|_| "?".into()),
        sched::task_pid(k, t).map_or("?".into(), |p| p.to_string())
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: locks DUMP [--json]");
    let json = args.any(|a| a == "--json");
    let k = Kernel::open(path.as_ref(), &OpenOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let (tasks, problems) = sched::for_each_task(&k).expect("tasks");
    let t0 = std::time::Instant::now();
    let a = locking::analyze(&k, &tasks).expect("lock analysis");
    let took = t0.elapsed();
    if json {
        println!("{}", serde_json::to_string_pretty(&a).expect("json"));
        return;
    }
    println!(
        "== waits ({} tasks, {:.1} ms)",
        tasks.len(),
        took.as_secs_f64() * 1e3
    );
    for w in &a.waits {
        let name = a
            .lock(w.lock)
            .and_then(|l| l.name.as_ref())
            .map(|n| format!(" \"{}\"", n.text))
            .unwrap_or_default();
        println!(
            "{:<34} waits for {} {:#x}{name} mode {} (record {:#x}, #{})\n{:>38}{}",
            who(&k, w.task),
            w.lock.kind,
            w.lock.addr,
            w.mode,
            w.record,
            w.position.map_or("?".into(), |p| p.to_string()),
            "",
            w.evidence
        );
        for (key, v) in &w.detail {
            println!("{:>40}{key} = {v}", "");
        }
    }
    println!("\n== locks");
    for l in &a.locks {
        let name = l.name.as_ref().map(|n| n.text.as_str()).unwrap_or("");
        let state = match &l.object {
            LockObject::Rwsem(s) => format!(
                "count {:#x} (readers {}, writer {}, waiters {}, handoff {}), owner {:#x}",
                s.count.value.raw,
                s.count.value.readers,
                s.count.value.writer_locked,
                s.count.value.waiters,
                s.count.value.handoff,
                s.owner.value.raw
            ),
            LockObject::Mutex(m) => format!("owner {:#x}", m.owner.value.raw),
            LockObject::Semaphore(s) => format!("count {}", s.count.value),
            LockObject::Completion(c) => format!("done {}", c.done.value),
            LockObject::Folio(p) => format!(
                "pfn {:?} flags {:#x} [{}]",
                p.pfn,
                p.flags.value.raw,
                p.folio_flags.value.names.join(",")
            ),
            LockObject::RtMutex(r) => format!("owner {:#x}", r.owner_raw),
            LockObject::RwbaseRt(r) => format!("readers {:#x}", r.readers_raw),
            LockObject::PercpuRwsem(p) => format!("readers {}", p.readers.value),
            LockObject::WaitBit(b) => format!("word {:#x}", b.value),
            LockObject::WaitQueue => "wait queue".to_string(),
            LockObject::Unreadable { error } => format!("unreadable: {error}"),
        };
        println!("{} {name}: {state}", l.id);
        for h in &l.holders {
            let w = match h.who.task() {
                Some(t) => who(&k, t),
                None => format!("{:?}", h.who),
            };
            println!("  holder {w} mode {}: {}", h.mode, h.evidence);
        }
        for w in &l.waiters {
            println!("  waiter {} mode {}", who(&k, w.task), w.mode);
        }
        for n in &l.notes {
            println!("  note: {n}");
        }
    }
    if let Some(s) = &a.page_scan {
        println!(
            "\n== page scan: {} struct pages read ({} MB) in {:.2} ms = {:.2} GB/s; {} tail, {} without memmap, {} unreadable; {} locked",
            s.struct_pages_read,
            s.bytes_read / 1_000_000,
            s.seconds * 1e3,
            s.gigabytes_per_second(),
            s.tail_pages,
            s.no_memmap,
            s.unreadable,
            s.locked.len()
        );
    }
    for p in problems.iter().chain(&a.problems) {
        println!("problem: {p}");
    }
}
