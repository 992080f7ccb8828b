#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| holdup_fuzz_targets::parsers::printk(data));
