//! A stack that cannot be unwound ends with a marker saying why, and the other tasks are still
//! unwound: a blocked task of the real 6.1 fixture loses the page its saved stack pointer is
//! in (as if makedumpfile had filtered it out).

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
