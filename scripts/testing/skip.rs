//! Skipping a test that cannot run here, so that the skip is seen and counted, never taken
//! for a pass. Shared by the test crates without being a crate of its own: include it with
//!
//! ```ignore
//! #[path = "<relative path to>/scripts/testing/skip.rs"]
//! mod skip;
//! ```
//!
//! and call `skip::skip("why")` right before the test returns early.
//!
//! - In CI (`CI` set to anything but the empty string, as every CI service does) nothing may
//!   skip: the call panics with the reason, so the test fails.
//! - Elsewhere it writes `SKIPPED <test name>: <reason>` straight to the process's stderr
//!   (libtest captures only what the `print!`/`eprint!` macros write, so this line shows in
//!   `cargo test`'s output even for a test that passes), and appends the same line to the
//!   file named by `TRACEE_TEST_SKIPS`, if set: `scripts/test` counts those tests as skipped,
//!   not passed.

use std::io::Write as _;

/// Whether this is a CI run: `CI` set and not empty.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// The running test's name (libtest names each test's thread after it).
pub fn test_name() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name != "main" => name.to_owned(),
        _ => "<unnamed test>".to_owned(),
    }
}

/// Marks the calling test as skipped for `reason` (it must return right after), or fails it
/// in CI.
pub fn skip(reason: &str) {
    let name = test_name();
    if in_ci() {
        let ci = std::env::var_os("CI").unwrap_or_default();
        panic!(
            "CI={}: {name} must run in CI, but cannot: {reason}",
            ci.to_string_lossy()
        );
    }
    let line = format!("SKIPPED {name}: {reason}\n");
    // One write of the whole line, so lines of tests running in parallel do not interleave.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
    if let Some(path) = std::env::var_os("TRACEE_TEST_SKIPS").filter(|p| !p.is_empty()) {
        let recorded = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        if let Err(e) = recorded {
            panic!(
                "{name} skipped ({reason}), but the skip could not be recorded in \
                 TRACEE_TEST_SKIPS={}: {e}",
                std::path::Path::new(&path).display()
            );
        }
    }
}
