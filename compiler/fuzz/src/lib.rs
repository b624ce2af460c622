//! Invariants that every input must satisfy, shared by the fuzz targets.
//!
//! `check_text` must never panic, and whatever it reports must be renderable in every
//! output format: spans inside the text and on character boundaries, every renderer
//! panic-free, the JSON output valid JSON, one GitHub annotation line per diagnostic.

use compiler::diagnostics::Severity;
use compiler::diagnostics::render::{self, Summary};

/// The file name the targets check the text under.
pub const FILE_NAME: &str = "fuzz.yaml";

/// Checks `text` and asserts every invariant; a panic is a bug found.
pub fn check_invariants(text: &str) {
    let checked = compiler::check_text(FILE_NAME, text);

    for d in &checked.diagnostics.items {
        if let Some(file) = d.file {
            assert_eq!(file, 0, "diagnostic {d:?} names a file that was not given");
        }
        let spans = d
            .span
            .iter()
            .chain(d.secondary.iter().map(|(span, _)| span));
        for span in spans {
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "span {span:?} of {d:?} is outside the text ({} bytes)",
                text.len()
            );
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "span {span:?} of {d:?} splits a character"
            );
            if d.span.is_some() {
                assert!(d.file.is_some(), "diagnostic {d:?} has a span but no file");
            }
        }
    }

    // The valid policies are exactly the documents of an input without errors.
    let errors = checked.diagnostics.error_count();
    assert!(checked.policies.len() <= checked.documents);
    if errors == 0 {
        assert_eq!(
            checked.policies.len(),
            checked.documents,
            "no errors, yet some document did not become a policy"
        );
    }

    // Every renderer (the human one at the width of the snapshot tests).
    let _ = checked.render_plain(80);
    let sorted = checked.sorted_diagnostics();
    assert_eq!(sorted.len(), checked.diagnostics.items.len());
    let warnings = sorted
        .iter()
        .filter(|d| d.severity() == Severity::Warning)
        .count();
    let summary = Summary {
        files: checked.sources.len(),
        policies: checked.documents,
        errors,
        warnings,
    };
    let json = render::json(&sorted, &checked.sources, &summary);
    assert!(
        serde_json::from_str::<serde_json::Value>(&json).is_ok(),
        "--format json printed invalid JSON"
    );
    // Built by serde from typed structs like the JSON output, and several times larger:
    // re-parsing it would halve the executions per second for little gain.
    let _ = render::sarif(&sorted, &checked.sources);
    let github = render::github(&sorted, &checked.sources);
    // One workflow command per diagnostic: messages must not break out of their line.
    assert_eq!(
        github.lines().count(),
        sorted.len(),
        "--format github printed a diagnostic over several lines"
    );
    for d in &sorted {
        let located = render::locate(d, &checked.sources);
        assert!(located.line >= 1 && located.column >= 1);
        assert!(
            (located.line, located.column) <= (located.end_line, located.end_column),
            "{located:?} ends before it starts"
        );
    }
}
