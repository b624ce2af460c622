//! Rendering diagnostics: miette reports for people; JSON, SARIF 2.1.0 and GitHub workflow
//! commands for machines. Every format carries the same fields: file, 1-based line and
//! column, severity, code, message, help.

use std::fmt;

use miette::{
    GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteError, MietteSpanContents,
    SourceCode, SourceSpan, SpanContents,
};
use serde::Serialize;

use super::{Diagnostic, Severity, codes};
use crate::source::SourceFile;

/// The project's home.
pub const PROJECT_URL: &str = "https://github.com/tracee-compile/tracee-compile";

/// Where the docs explain each code, on the web (`tracee-compile explain CODE` prints the
/// same page offline).
pub const DOCS_URL: &str =
    "https://github.com/tracee-compile/tracee-compile/blob/main/docs/diagnostics.md";

/// The web address of a code's page: each section has the anchor of its code (`#e211`).
pub fn help_uri(info: &codes::CodeInfo) -> String {
    format!("{DOCS_URL}#{}", info.id.to_ascii_lowercase())
}

/// A diagnostic resolved to a place: what every machine format prints.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Located {
    /// The file as given on the command line; empty for problems of the whole input.
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub help: Option<String>,
}

pub fn locate(d: &Diagnostic, sources: &[SourceFile]) -> Located {
    let source = d.file.and_then(|f| sources.get(f));
    let (line, column, end_line, end_column) = match (source, &d.span) {
        (Some(s), Some(span)) => {
            let (line, column) = s.line_col(span.start);
            let (end_line, end_column) = s.line_col(span.end);
            (line, column, end_line, end_column)
        }
        _ => (1, 1, 1, 1),
    };
    Located {
        file: source.map_or_else(String::new, |s| s.name.clone()),
        line,
        column,
        end_line,
        end_column,
        severity: d.severity().as_str(),
        code: d.code.id(),
        message: d.message.clone(),
        help: d.help.clone(),
    }
}

/// `--format json`: one document with a `diagnostics` array and a summary.
pub fn json(diagnostics: &[Diagnostic], sources: &[SourceFile], summary: &Summary) -> String {
    #[derive(Serialize)]
    struct Doc<'a> {
        diagnostics: Vec<Located>,
        summary: &'a Summary,
    }
    let doc = Doc {
        diagnostics: diagnostics.iter().map(|d| locate(d, sources)).collect(),
        summary,
    };
    serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub files: usize,
    pub policies: usize,
    pub errors: usize,
    pub warnings: usize,
}

/// `--format github`: workflow commands, which GitHub Actions turns into annotations.
pub fn github(diagnostics: &[Diagnostic], sources: &[SourceFile]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let l = locate(d, sources);
        let level = match d.severity() {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut message = format!("{} {}", l.code, l.message);
        if let Some(help) = &l.help {
            message.push_str("\nhelp: ");
            message.push_str(help);
        }
        let title = format!("{} {}", l.code, d.code.info().name);
        if l.file.is_empty() {
            out.push_str(&format!(
                "::{level} title={}::{}\n",
                escape_property(&title),
                escape_data(&message)
            ));
        } else {
            out.push_str(&format!(
                "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
                escape_property(&l.file),
                l.line,
                l.column,
                l.end_line,
                l.end_column,
                escape_property(&title),
                escape_data(&message)
            ));
        }
    }
    out
}

// The escapes of GitHub's toolkit (`@actions/core` command.ts).
fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// `--format sarif`: SARIF 2.1.0 for code-scanning upload.
pub fn sarif(diagnostics: &[Diagnostic], sources: &[SourceFile]) -> String {
    use serde_sarif::sarif;
    let rules: Vec<sarif::ReportingDescriptor> = codes::CODES
        .iter()
        .map(|info| {
            sarif::ReportingDescriptor::builder()
                .id(info.id)
                .name(info.name)
                .short_description(
                    sarif::MultiformatMessageString::builder()
                        .text(info.summary)
                        .build(),
                )
                .full_description(
                    sarif::MultiformatMessageString::builder()
                        .text(format!(
                            "{}. `tracee-compile explain {}` explains it.",
                            info.summary, info.id
                        ))
                        .build(),
                )
                .help_uri(help_uri(info))
                .default_configuration(
                    sarif::ReportingConfiguration::builder()
                        .level(serde_json::json!(sarif_level(info.severity)))
                        .build(),
                )
                .build()
        })
        .collect();
    let results: Vec<sarif::Result> = diagnostics
        .iter()
        .map(|d| {
            let l = locate(d, sources);
            let mut text = l.message.clone();
            if let Some(help) = &l.help {
                text.push_str("\nhelp: ");
                text.push_str(help);
            }
            let rule_index = codes::CODES
                .iter()
                .position(|c| c.code == d.code)
                .unwrap_or(0);
            let result = sarif::Result::builder()
                .rule_id(l.code)
                .rule_index(rule_index as i64)
                .level(sarif_level(d.severity()))
                .message(sarif::Message::builder().text(text).build());
            if l.file.is_empty() {
                return result.build();
            }
            let region = sarif::Region::builder()
                .start_line(l.line as i64)
                .start_column(l.column as i64)
                .end_line(l.end_line as i64)
                .end_column(l.end_column as i64)
                .build();
            let location = sarif::Location::builder()
                .physical_location(
                    sarif::PhysicalLocation::builder()
                        .artifact_location(
                            sarif::ArtifactLocation::builder()
                                .uri(sarif_uri(&l.file))
                                .build(),
                        )
                        .region(region)
                        .build(),
                )
                .build();
            result.locations(vec![location]).build()
        })
        .collect();
    let driver = sarif::ToolComponent::builder()
        .name("tracee-compile")
        .version(env!("CARGO_PKG_VERSION"))
        .information_uri(PROJECT_URL)
        .rules(rules)
        .build();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .column_kind(serde_json::json!("unicodeCodePoints"))
        .results(results)
        .build();
    let log = sarif::Sarif::builder()
        .version(serde_json::json!("2.1.0"))
        .schema(sarif::SCHEMA_URL)
        .runs(vec![run])
        .build();
    serde_json::to_string_pretty(&log).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn sarif_level(severity: Severity) -> serde_sarif::sarif::ResultLevel {
    match severity {
        Severity::Error => serde_sarif::sarif::ResultLevel::Error,
        Severity::Warning => serde_sarif::sarif::ResultLevel::Warning,
    }
}

/// Relative paths stay relative (code scanning resolves them against the checkout); the
/// separators are `/` as URIs require.
fn sarif_uri(file: &str) -> String {
    let path = file.strip_prefix("./").unwrap_or(file).replace('\\', "/");
    path.replace('%', "%25").replace(' ', "%20")
}

/// A miette view of one diagnostic.
struct Report<'a> {
    diagnostic: &'a Diagnostic,
    source: Option<Named<'a>>,
}

struct Named<'a> {
    file: &'a SourceFile,
}

impl SourceCode for Named<'_> {
    /// miette scans the text from its start for every label; a file with thousands of
    /// diagnostics makes that quadratic. Give it only the lines around the span (plus the
    /// context it asks for) and shift the answer back into whole-file positions.
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn SpanContents<'b> + 'b>, MietteError> {
        let file = self.file;
        let first = file.line_of(span.offset()).saturating_sub(before);
        let last = file
            .line_of(span.offset() + span.len())
            .saturating_add(after + 1);
        let start = file.line_range(first).start;
        let end = file
            .line_range(last.min(file.line_count().saturating_sub(1)))
            .end;
        let window = file.text.get(start..end).ok_or(MietteError::OutOfBounds)?;
        let relative = SourceSpan::new(span.offset().saturating_sub(start).into(), span.len());
        let inner = window.read_span(&relative, before, after)?;
        Ok(Box::new(MietteSpanContents::new_named(
            file.name.clone(),
            inner.data(),
            SourceSpan::new((inner.span().offset() + start).into(), inner.span().len()),
            inner.line() + first,
            // The header's column (asked for without context) in characters, as in the
            // machine formats; miette counts bytes.
            if before == 0 && after == 0 {
                file.line_col(span.offset()).1 - 1
            } else {
                inner.column()
            },
            inner.line_count() + first,
        )))
    }
}

impl fmt::Debug for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.diagnostic, f)
    }
}

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report<'_> {}

impl miette::Diagnostic for Report<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(self.diagnostic.code.id()))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity() {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.diagnostic.span.as_ref()?;
        self.source.as_ref()?;
        let primary =
            LabeledSpan::new_primary_with_span(self.diagnostic.label.clone(), span.start..span.end);
        let secondary = self.diagnostic.secondary.iter().map(|(span, label)| {
            LabeledSpan::new_with_span(Some(label.clone()), span.start..span.end)
        });
        Some(Box::new(std::iter::once(primary).chain(secondary)))
    }
}

/// Renders one diagnostic as a miette report (no colour when `color` is false).
/// Lines longer than this are not drawn: a 10,000-value filter list on one line would be
/// reprinted, wrapped, for each of its diagnostics.
const MAX_SNIPPET_LINE: usize = 1000;

/// Renders one diagnostic as a miette report (no colour when `color` is false).
pub fn human(d: &Diagnostic, sources: &[SourceFile], color: bool, width: usize) -> String {
    let file = d.file.and_then(|f| sources.get(f));
    let short_line =
        |s: &SourceFile, offset: usize| s.line_range(s.line_of(offset)).len() <= MAX_SNIPPET_LINE;
    let drawable = |s: &&SourceFile| {
        d.span.as_ref().is_some_and(|span| {
            !s.text.is_empty()
                && short_line(s, span.start)
                && d.secondary
                    .iter()
                    .all(|(other, _)| short_line(s, other.start))
        })
    };
    let source = file.filter(drawable);
    let report = Report {
        diagnostic: d,
        source: source.map(|file| Named { file }),
    };
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false);
    // miette is a dependency: whatever it does with odd input, a report must not panic.
    let rendered = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut out = String::new();
        handler.render_report(&mut out, &report).map(|()| out)
    }));
    let mut out = match rendered {
        Ok(Ok(out)) => out,
        _ => format!("{}: {}\n", d.code.id(), d.message),
    };
    // Without a drawn snippet, still say where.
    if source.is_none()
        && let Some(s) = file
    {
        match &d.span {
            Some(span) if !s.text.is_empty() => {
                let (line, column) = s.line_col(span.start);
                out.push_str(&format!("  at {}:{line}:{column}\n", s.name));
            }
            _ => out.push_str(&format!("  in {}\n", s.name)),
        }
    }
    out
}
