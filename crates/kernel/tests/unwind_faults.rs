//! The unwinder on a real dump whose memory is made to fail: a stack page missing, a return
//! address overwritten. The backtrace must end with the reason, keep the frames before it,
//! and the other tasks must still unwind completely.

use holdup_kernel::sched::{Task, all_tasks};
use holdup_kernel::stack::{StackEnd, Unwinder};
use holdup_kernel::{Kernel, OpenOptions};
use holdup_kmem::{KernelMemory, ReadError};
use std::path::PathBuf;

fn fixture() -> Kernel {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../dumps/fixtures/6.1/vmcore.kdump-zlib");
    assert!(
        path.exists(),
        "{} is missing (the committed 6.1 fixture)",
        path.display()
    );
    Kernel::open(&path, &OpenOptions::default()).expect("open the 6.1 fixture")
}

/// The dump's memory, with one page failing like a filtered-out page and one word replaced.
struct Faulty<'a> {
    inner: &'a dyn KernelMemory,
    missing_page: Option<u64>,
    word: Option<(u64, u64)>,
}

impl KernelMemory for Faulty<'_> {
    fn read(&self, vaddr: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        let end = vaddr + buf.len() as u64;
        if let Some(p) = self.missing_page
            && vaddr < p + 4096
            && end > p
        {
            return Err(ReadError::NotInDump {
                vaddr: vaddr.max(p),
                paddr: 0x1234000,
                reason: "physical 0x1234000 was filtered out of the dump (test)".into(),
            });
        }
        self.inner.read(vaddr, buf)?;
        if let Some((at, value)) = self.word {
            for (i, b) in value.to_le_bytes().iter().enumerate() {
                let a = at + i as u64;
                if a >= vaddr && a < end {
                    buf[(a - vaddr) as usize] = *b;
                }
            }
        }
        Ok(())
    }
}

fn bench(tasks: &[Task]) -> &Task {
    tasks
        .iter()
        .find(|t| t.comm == "bench" && t.state_char == 'D')
        .expect("the 6.1 fixture has the D-state task bench")
}

#[test]
fn a_missing_stack_page_ends_the_backtrace_with_the_reason() {
    let k = fixture();
    let list = all_tasks(&k).expect("tasks");
    let t = bench(&list.tasks);
    let good = Unwinder::new(&k).backtrace(t);
    assert!(good.end.is_complete(), "intact: {:?}", good.end);
    let frames: Vec<_> = good.reliable().collect();
    assert!(frames.len() >= 6, "bench has a deep stack: {frames:?}");
    // Drop the stack page bench sleeps on: not even the switch frame can be read.
    let victim = frames[0].sp & !0xfff;
    let mem = Faulty {
        inner: k.mem(),
        missing_page: Some(victim),
        word: None,
    };
    let u = Unwinder::with_memory(&k, &mem);
    let bt = u.backtrace(t);
    match &bt.end {
        StackEnd::Stopped(why) => assert!(
            why.contains(&format!("stack page {victim:#x} is not in the dump"))
                && why.contains("switch frame")
                && why.contains("filtered out"),
            "reason: {why}"
        ),
        e => panic!("expected a stop, got {e:?}"),
    }
    assert_eq!(bt.reliable().count(), 0, "no frame can be trusted: {bt:?}");
    // Every other task whose stack is elsewhere still unwinds to its end.
    for other in list.tasks.iter().filter(|o| o.task != t.task) {
        let b = u.backtrace(other);
        assert!(
            b.end.is_complete(),
            "pid {} {}: {:?}",
            other.pid,
            other.comm,
            b.end
        );
    }
}

#[test]
fn a_bad_return_address_ends_the_backtrace_with_the_reason() {
    let k = fixture();
    let list = all_tasks(&k).expect("tasks");
    let t = bench(&list.tasks);
    let good = Unwinder::new(&k).backtrace(t);
    let frames: Vec<_> = good.reliable().collect();
    let slot = frames[3].sp;
    let mem = Faulty {
        inner: k.mem(),
        missing_page: None,
        word: Some((slot, 0xdead_beef)),
    };
    let bt = Unwinder::with_memory(&k, &mem).backtrace(t);
    assert_eq!(
        bt.end,
        StackEnd::Stopped(format!(
            "return address 0xdeadbeef at [{slot:#x}] is not in kernel text"
        ))
    );
    let got: Vec<_> = bt.reliable().map(|f| (f.sp, f.ip)).collect();
    assert_eq!(got.len(), 4, "frames #0-#2 and the bad one: {got:x?}");
    assert_eq!(got[3], (slot, 0xdead_beef));
    for (g, f) in got.iter().zip(&frames[..3]) {
        assert_eq!(*g, (f.sp, f.ip));
    }
}
