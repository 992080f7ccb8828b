#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| holdup_fuzz_targets::fixture::analysis(data));
