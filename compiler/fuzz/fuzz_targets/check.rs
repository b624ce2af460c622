//! Raw bytes into `check_text`: the parser and checker must not panic on any input, and
//! what they report must render in every format (see `src/lib.rs` for the invariants).

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Files are checked as UTF-8 (the reader reports invalid UTF-8 itself); the lossy text
    // still reaches the parser with every byte sequence libFuzzer can think of.
    let text = String::from_utf8_lossy(data);
    tracee_compile_fuzz::check_invariants(&text);
});
