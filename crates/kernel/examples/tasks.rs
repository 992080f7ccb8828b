//! Lists every task of a dump: `cargo run --example tasks -- DUMP`.
use holdup_kernel::{Kernel, OpenOptions, sched};

fn main() {
    let path = std::env::args().nth(1).expect("usage: tasks DUMP");
    let k = Kernel::open(path.as_ref(), &OpenOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    let (tasks, problems) = sched::for_each_task(&k).expect("tasks");
    for t in &tasks {
        println!(
            "{:>6} {:#x} {}",
            sched::task_pid(&k, *t).unwrap_or(0),
            t,
            sched::task_comm(&k, *t).unwrap_or_default()
        );
    }
    println!("{} tasks; problems: {problems:?}", tasks.len());
}
