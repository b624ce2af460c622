//! Snapshot tests of the diagnostics: every fixture in `testdata/policies/invalid/` is checked
//! and its report compared with `snapshots/<fixture stem>.snap`.
//!
//! A fixture is a file (`<CODE>_<slug>.yaml|.yml|.json`), or a directory of policy files
//! checked together (`E202_across_files/`) for problems that span files. Its name says what
//! it tests: `<CODE>_...` must report that code, `many_...` holds many problems at once and
//! must report at least `MANY_MIN_CODES` different codes in one run.
//!
//! A snapshot holds one line per diagnostic, `FILE:LINE:COL: severity[CODE]: message`, a blank
//! line, then the reports as `--format human --color never` prints them (80 columns).
//!
//! Update with `INSTA_UPDATE=always cargo test -p tracee-compile --test integration snapshots`
//! (or `cargo insta review`), then read every changed snapshot.

use std::collections::BTreeSet;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use compiler::Checked;
use compiler::diagnostics::Diagnostics;
use compiler::diagnostics::codes::CODES;
use compiler::diagnostics::render::locate;
use compiler::source::{POLICY_EXTENSIONS, SourceFile};

/// The bundled valid policies, relative to the repository root.
const VALID_DIR: &str = "testdata/policies";
/// The invalid fixtures, relative to the repository root.
const INVALID_DIR: &str = "testdata/policies/invalid";
/// Codes that no fixture can produce: E104 needs a file over 8 MiB, E111 a FIFO, socket or
/// broken link (both tested in cli.rs).
/// E4xx come from policy test files, which have fixtures of their own
/// (compiler/tests/integration/policy_test.rs).
const NO_FIXTURE: &[&str] = &["E104", "E111", "E401", "E402"];
/// A `many_*` fixture must show at least this many different codes.
const MANY_MIN_CODES: usize = 5;
/// Width of the human reports in the snapshots.
const WIDTH: usize = 80;
/// Fixtures that do not (yet) report the code in their name: known checker bugs, each with
/// what is wrong. The test fails once one is fixed, so that it is taken off this list.
const KNOWN_MISSING: &[(&str, &str)] = &[];

/// The repository root: tests run with the current directory at `compiler/`, and file names
/// in the output must not depend on it, so every path is made relative to this.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn is_policy_file(path: &Path) -> bool {
    let is_file = path.is_file();
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    is_file
        && POLICY_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
        && !compiler::source::is_test_file(name)
}

/// Entries of `dir` (relative to the root) as root-relative `/`-separated paths, sorted.
fn list(dir: &str) -> Vec<String> {
    let path = root().join(dir);
    let entries = match fs::read_dir(&path) {
        Ok(entries) => entries,
        Err(e) => panic!("cannot list {}: {e}", path.display()),
    };
    let mut names: Vec<String> = entries
        .map(|entry| match entry {
            Ok(entry) => entry.file_name().to_string_lossy().into_owned(),
            Err(e) => panic!("cannot list {}: {e}", path.display()),
        })
        .collect();
    names.sort();
    names.into_iter().map(|n| format!("{dir}/{n}")).collect()
}

/// Every fixture (policy file or directory) in `testdata/policies/invalid/`, sorted.
fn fixtures() -> Vec<String> {
    let fixtures: Vec<String> = list(INVALID_DIR)
        .into_iter()
        .filter(|rel| {
            let path = root().join(rel);
            path.is_dir() || is_policy_file(&path)
        })
        .collect();
    assert!(!fixtures.is_empty(), "no fixtures in {INVALID_DIR}");
    fixtures
}

/// The fixture's name without directory and extension: its snapshot's name.
fn stem(rel: &str) -> &str {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    POLICY_EXTENSIONS
        .iter()
        .find_map(|ext| name.strip_suffix(ext))
        .unwrap_or(name)
}

/// The code a fixture's name promises (`E211_unknown_event` -> `E211`).
fn promised_code(stem: &str) -> Option<&str> {
    let code = stem.split('_').next()?;
    let ok = code.len() == 4
        && (code.starts_with('E') || code.starts_with('W'))
        && code[1..].chars().all(|c| c.is_ascii_digit());
    ok.then_some(code)
}

/// Loads one file as the CLI would, named by its root-relative path. UTF-8 text goes through
/// `check_text`'s loader; anything else through the real reader (`source::read`), which
/// reports the encoding problem.
fn load(rel: &str, id: usize) -> (SourceFile, Option<compiler::diagnostics::Diagnostic>) {
    let path = root().join(rel);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    };
    match String::from_utf8(bytes) {
        Ok(text) => (
            SourceFile::new(PathBuf::from(rel), rel.to_owned(), text),
            None,
        ),
        Err(_) => match compiler::source::read(&path, id) {
            Ok((mut source, problem)) => {
                source.name = rel.to_owned();
                source.path = PathBuf::from(rel);
                (source, problem)
            }
            Err(e) => panic!("cannot read {}: {e}", path.display()),
        },
    }
}

/// Checks one fixture: a file alone, or a directory's policy files together (in name order,
/// as `tracee-compile DIR` reads them).
fn check(rel: &str) -> Checked {
    let path = root().join(rel);
    let files: Vec<String> = if path.is_dir() {
        list(rel)
            .into_iter()
            .filter(|f| is_policy_file(&root().join(f)))
            .collect()
    } else {
        vec![rel.to_owned()]
    };
    let mut sources = Vec::new();
    let mut diagnostics = Diagnostics::default();
    for (id, file) in files.iter().enumerate() {
        let (source, problem) = load(file, id);
        sources.push(source);
        diagnostics.extend(problem);
    }
    // A single UTF-8 file goes through the same entry point as the fuzzer and benchmarks.
    if let ([source], true) = (sources.as_slice(), diagnostics.items.is_empty()) {
        return compiler::check_text(&source.name, &source.text);
    }
    compiler::check_sources(sources, diagnostics)
}

/// The snapshot text: one line per diagnostic, a blank line, the human reports.
fn render(checked: &Checked) -> String {
    let mut out = String::new();
    for d in checked.sorted_diagnostics() {
        let l = locate(&d, &checked.sources);
        // Problems of the input as a whole have no file.
        let file = if l.file.is_empty() {
            "<input>"
        } else {
            &l.file
        };
        out.push_str(&format!(
            "{file}:{}:{}: {}[{}]: {}\n",
            l.line, l.column, l.severity, l.code, l.message
        ));
    }
    out.push('\n');
    out.push_str(&checked.render_plain(WIDTH));
    out
}

fn codes_of(checked: &Checked) -> BTreeSet<&'static str> {
    checked
        .diagnostics
        .items
        .iter()
        .map(|d| d.code.id())
        .collect()
}

#[test]
fn invalid_fixtures_match_their_snapshots() {
    let mut failed = Vec::new();
    for rel in fixtures() {
        let checked = check(&rel);
        let text = render(&checked);
        let mut settings = insta::Settings::clone_current();
        settings.set_prepend_module_to_snapshot(false);
        settings.set_omit_expression(true);
        settings.set_description(rel.clone());
        let name = stem(&rel).to_owned();
        let result = catch_unwind(AssertUnwindSafe(|| {
            settings.bind(|| insta::assert_snapshot!(name, text));
        }));
        if result.is_err() {
            failed.push(rel);
        }
    }
    assert!(
        failed.is_empty(),
        "snapshots differ for {} fixture(s): {failed:#?}",
        failed.len()
    );
}

/// A fixture cannot silently stop testing what its name says.
#[test]
fn every_fixture_reports_the_code_in_its_name() {
    let mut wrong = Vec::new();
    for rel in fixtures() {
        let stem = stem(&rel);
        let codes = codes_of(&check(&rel));
        let known = KNOWN_MISSING.iter().find(|(name, _)| *name == stem);
        if let Some(code) = promised_code(stem) {
            if !CODES.iter().any(|c| c.id == code) {
                wrong.push(format!("{rel}: `{code}` is not a diagnostic code"));
            } else if let Some((_, why)) = known {
                if codes.contains(code) {
                    wrong.push(format!(
                        "{rel}: now reports {code}: take it off KNOWN_MISSING ({why})"
                    ));
                }
            } else if !codes.contains(code) {
                wrong.push(format!("{rel}: expected {code}, got {codes:?}"));
            }
        } else if stem.starts_with("many_") {
            if codes.len() < MANY_MIN_CODES {
                wrong.push(format!(
                    "{rel}: expected at least {MANY_MIN_CODES} different codes, got {codes:?}"
                ));
            }
        } else {
            wrong.push(format!(
                "{rel}: name it `<CODE>_<slug>` (e.g. `E211_unknown_event.yaml`) or `many_<slug>`"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_code_has_a_fixture() {
    let fixtures = fixtures();
    let stems: Vec<&str> = fixtures.iter().map(|rel| stem(rel)).collect();
    for (name, _) in KNOWN_MISSING {
        assert!(
            stems.contains(name),
            "KNOWN_MISSING names no fixture: {name}"
        );
    }
    // A known-broken fixture does not count as covering its code.
    let covered: BTreeSet<&str> = stems
        .iter()
        .filter(|stem| !KNOWN_MISSING.iter().any(|(name, _)| name == *stem))
        .filter_map(|stem| promised_code(stem))
        .collect();
    let missing: Vec<&str> = CODES
        .iter()
        .map(|c| c.id)
        .filter(|id| !NO_FIXTURE.contains(id) && !covered.contains(id))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a fixture in {INVALID_DIR}: {missing:?}"
    );
}

/// The bundled policies have no diagnostic at all, each file alone and all files together
/// (names must be unique across files, at most 64 policies).
#[test]
fn bundled_policies_check_clean() {
    let files: Vec<String> = list(VALID_DIR)
        .into_iter()
        .filter(|rel| is_policy_file(&root().join(rel)))
        .collect();
    assert!(!files.is_empty(), "no policies in {VALID_DIR}");
    for rel in &files {
        let checked = check(rel);
        assert!(
            checked.diagnostics.items.is_empty(),
            "{rel} should check clean:\n{}",
            render(&checked)
        );
        assert!(checked.documents > 0, "{rel} holds no policy");
    }
    let all = match compiler::check_paths(&[root().join(VALID_DIR)]) {
        Ok(checked) => checked,
        Err(e) => panic!("cannot read {VALID_DIR}: {e}"),
    };
    assert!(
        all.diagnostics.items.is_empty(),
        "{VALID_DIR} as a whole should check clean:\n{}",
        render(&all)
    );
    assert_eq!(all.sources.len(), files.len());
    assert_eq!(
        all.policies.len(),
        all.documents,
        "every bundled policy is valid"
    );
}
