#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| tracee_fuzz::record(data));
