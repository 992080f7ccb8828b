use holdup_kernel::{Kernel, OpenOptions};
fn main() {
    let path = std::env::args().nth(1).unwrap();
    let k = Kernel::open(path.as_ref(), &OpenOptions::default()).unwrap();
    for s in ["__start_init_task", "__end_init_task", "__start_init_stack", "__end_init_stack", "init_stack", "init_thread_union", "vmalloc_base", "vmemmap_base", "page_offset_base"] {
        println!("{s}: {:x?}", k.symbols.address_of(s));
    }
}
