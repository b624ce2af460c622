//! Replays the committed fuzz corpus (`fuzz/corpus/<target>/`, crash regressions included)
//! through the fuzz targets' own code, on stable and without cargo-fuzz: a crash once found
//! stays fixed. See docs/development.md.

use std::path::{Path, PathBuf};

#[path = "../../../fuzz/src/lib.rs"]
mod targets;

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries.flatten().map(|e| e.path()).collect(),
        Err(e) => panic!("{}: {e}", dir.display()),
    };
    files.sort();
    assert!(!files.is_empty(), "{} is empty", dir.display());
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    for path in corpus(target) {
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) => panic!("{}: {e}", path.display()),
        };
        // A panic names the input: rerun it with `cargo fuzz run <target> <file>`.
        eprintln!("{}", path.display());
        run(&bytes);
    }
}

#[test]
fn policy_corpus_replays() {
    replay("policy", targets::policy);
}

#[test]
fn image_corpus_replays() {
    replay("image", targets::image);
}

#[test]
fn record_corpus_replays() {
    replay("record", targets::record);
}
