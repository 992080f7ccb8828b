//! Pages of blocked tasks missing from the real 6.1 fixture (as if makedumpfile had filtered
//! them out): a stack that cannot be unwound ends with a marker saying why and the other tasks
//! are still unwound; blocked tasks that cannot be read at all leave the report undecided,
//! not "no hang".

use holdup_fuzz_targets::fixture::{Interest, Patched};
use holdup_kernel::stack::unwind::{StackEnd, Unwinder};

#[test]
fn a_stack_page_missing_from_the_dump_ends_the_backtrace_with_its_reason() {
    let p = Patched::open();
    let it = Interest::find(&p);
    let blocked: Vec<_> = it
        .tasks
        .iter()
        .filter(|t| t.state_char == 'D' && !t.current)
        .collect();
    assert!(blocked.len() > 2, "the 6.1 fixture has blocked tasks");
    let victim = blocked[0];
    let pfn = p
        .paddr(victim.thread_sp)
        .expect("the victim's stack is in the clean dump")
        >> 12;
    p.with(
        |o| o.remove(pfn),
        |k| {
            let u = Unwinder::new(k);
            let bt = u.backtrace(victim);
            match &bt.end {
                StackEnd::Stopped(why) => assert!(
                    why.contains("not in the dump"),
                    "pid {}: the end says why: {why}",
                    victim.pid
                ),
                end => panic!("pid {}: unwinding should stop, got {end:?}", victim.pid),
            }
            for t in &blocked[1..] {
                let bt = u.backtrace(t);
                assert!(
                    bt.end.is_complete() && bt.reliable().count() > 0,
                    "pid {}: still unwound: {:?}",
                    t.pid,
                    bt.end
                );
            }
        },
    );
}

/// When the blocked tasks themselves cannot be read (their task structs filtered out of the
/// dump), the report finds no blocked task but does not call that "no hang": its outcome is
/// undecided (`holdup DUMP` exits 2), and it names what it could not read.
#[test]
fn unreadable_blocked_tasks_leave_the_outcome_undecided() {
    use holdup_fuzz_targets::fixture::report;
    use holdup_report::Outcome;
    let p = Patched::open();
    let it = Interest::find(&p);
    let task_size = p.kernel.types.sizeof("task_struct").expect("task_struct");
    let blocked: Vec<_> = it.tasks.iter().filter(|t| t.state_char == 'D').collect();
    assert!(blocked.len() > 2, "the 6.1 fixture has blocked tasks");
    let clean = report(&p.kernel, false).expect("report");
    assert_eq!(clean.outcome(), Outcome::Hang);
    let r = p.with(
        |o| {
            for t in &blocked {
                let mut a = t.task & !0xfff;
                while a < t.task + task_size {
                    o.remove(p.paddr(a).expect("task struct in the clean dump") >> 12);
                    a += 0x1000;
                }
            }
        },
        |k| report(k, false).expect("report"),
    );
    assert!(
        r.tasks_unreadable > 0 && !r.graph.tasks.values().any(|t| t.blocked),
        "{} read, {} unreadable",
        r.tasks_read,
        r.tasks_unreadable
    );
    assert_eq!(r.outcome(), Outcome::Undecided);
    assert!(
        !r.problems.is_empty(),
        "the report says what it could not read"
    );
}
