//! `tracee-compile`: Tracee-style security policies in, checked policies (and, with the
//! next phases, a BPF map image) out. The pipeline reads top-down:
//!
//! ```text
//! source::discover/read -> parse (YAML tree -> ast) -> validate (ast -> ir) -> [lower -> encode]
//! ```
//!
//! Every phase reports into one `Diagnostics` and keeps going, so one run shows every
//! problem of every file.

pub mod ast;
pub mod detectors;
pub mod diagnostics;
pub mod diff;
pub mod emit;
pub mod encode;
pub mod filter;
pub mod inspect;
pub mod ir;
pub mod lint;
pub mod list;
pub mod lower;
pub mod parse;
pub mod policy_test;
pub mod rule;
pub mod scope;
pub mod selection;
pub mod source;
pub mod suggest;
pub mod validate;
pub mod yaml;

use std::path::PathBuf;

use diagnostics::{Code, Diagnostic, Diagnostics};
use source::{InputError, SourceFile};

/// The result of checking a set of inputs.
pub struct Checked {
    pub sources: Vec<SourceFile>,
    pub diagnostics: Diagnostics,
    /// The valid policies (those without errors), in load order.
    pub policies: Vec<ir::Policy>,
    /// Policy documents found, valid or not.
    pub documents: usize,
    /// The map contents, when every policy is valid.
    pub lowered: Option<lower::Lowered>,
}

impl Checked {
    /// Diagnostics in reading order: by file, then position; input-wide ones last.
    pub fn sorted_diagnostics(&self) -> Vec<Diagnostic> {
        let mut items = self.diagnostics.items.clone();
        items.sort_by_key(|d| {
            (
                d.file.unwrap_or(usize::MAX),
                d.span.as_ref().map_or(0, |s| s.start),
            )
        });
        items
    }

    /// Every diagnostic rendered as miette reports without colour: what `--format human`
    /// prints with `--color never`, and what the snapshot tests compare.
    pub fn render_plain(&self, width: usize) -> String {
        self.sorted_diagnostics()
            .iter()
            .map(|d| diagnostics::render::human(d, &self.sources, false, width))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Reads every path and checks every policy in it.
pub fn check_paths(paths: &[PathBuf]) -> Result<Checked, InputError> {
    let files = source::discover(paths)?;
    let mut sources = Vec::with_capacity(files.len());
    let mut diagnostics = Diagnostics::default();
    for (id, path) in files.iter().enumerate() {
        let (file, problem) = source::read(path, id)?;
        // A file that could not be decoded keeps its id (and lossy text for the report);
        // `check_sources` skips parsing it.
        diagnostics.extend(problem);
        sources.push(file);
    }
    Ok(check_sources(sources, diagnostics))
}

/// Checks already loaded sources (`diagnostics` may hold problems found while reading).
pub fn check_sources(sources: Vec<SourceFile>, mut diagnostics: Diagnostics) -> Checked {
    let unreadable: Vec<usize> = diagnostics.items.iter().filter_map(|d| d.file).collect();
    let mut docs = Vec::new();
    let mut user_detectors = Vec::new();
    for (id, source) in sources.iter().enumerate() {
        if !unreadable.contains(&id) {
            docs.extend(parse::parse_file(
                id,
                source,
                &mut diagnostics,
                &mut user_detectors,
            ));
        }
    }
    let detectors = detectors::check_user(user_detectors, &mut diagnostics);
    let known = detectors::Known { user: &detectors };
    let policies = validate::validate(&docs, &sources, known, &mut diagnostics);
    // Lowering also runs in lint mode: kernel limits are policy errors too.
    let lowered = (diagnostics.error_count() == 0 && !policies.is_empty())
        .then(|| lower::lower(&policies, known, &mut diagnostics));
    if docs.is_empty() && detectors.is_empty() && diagnostics.error_count() == 0 {
        diagnostics.push(
            Diagnostic::new(Code::NoPolicies, "the input holds no policy")
                .help("give at least one policy file or directory of policy files"),
        );
    }
    Checked {
        sources,
        diagnostics,
        policies,
        documents: docs.len(),
        lowered,
    }
}

/// Checks one in-memory file; for tests, the fuzzer and benchmarks.
pub fn check_text(name: &str, text: &str) -> Checked {
    let source = SourceFile::new(PathBuf::from(name), name.to_owned(), text.to_owned());
    check_sources(vec![source], Diagnostics::default())
}
