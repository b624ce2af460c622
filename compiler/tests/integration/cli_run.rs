//! Running the real `tracee-compile` binary: shared by the tests of its subcommands.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Exit status, stdout and stderr of one `tracee-compile` run.
pub struct Run {
    pub status: i32,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.out)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.out, self.err))
    }

    /// The `diagnostics` array of `--format json` output.
    pub fn diagnostics(&self) -> Vec<Value> {
        self.json()["diagnostics"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("no diagnostics array:\n{}", self.out))
    }
}

/// `tracee-compile ARGS...` in `cwd`.
pub fn tracee_compile(args: &[&str], cwd: &Path) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_tracee-compile"))
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run tracee-compile: {e}"));
    Run {
        status: output.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The bundled policies.
pub fn bundled() -> PathBuf {
    repo().join("testdata/policies")
}
