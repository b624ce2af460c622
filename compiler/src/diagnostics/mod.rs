//! Diagnostics as data: a stable code, a message, an exact span, a help line. Rendering
//! (miette for people, JSON/SARIF/GitHub for machines) lives in `render`.

pub mod codes;
pub mod explain;
pub mod render;

pub use codes::Code;

use crate::source::FileId;
use crate::yaml::ByteSpan;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub code: Code,
    /// Lower-case, no final period, values in backticks.
    pub message: String,
    /// `None` for problems of the input as a whole (no policies at all).
    pub file: Option<FileId>,
    pub span: Option<ByteSpan>,
    /// Text of the primary label at `span`.
    pub label: Option<String>,
    /// The fix, as one line.
    pub help: Option<String>,
    /// Further labelled places in the same file (the first of two duplicates).
    pub secondary: Vec<(ByteSpan, String)>,
}

impl Diagnostic {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            file: None,
            span: None,
            label: None,
            help: None,
            secondary: Vec::new(),
        }
    }

    pub fn severity(&self) -> Severity {
        self.code.info().severity
    }

    pub fn in_file(mut self, file: FileId) -> Self {
        self.file = Some(file);
        self
    }

    pub fn at(mut self, file: FileId, span: ByteSpan) -> Self {
        self.file = Some(file);
        self.span = Some(span);
        self
    }

    pub fn label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn maybe_help(mut self, help: Option<String>) -> Self {
        if help.is_some() {
            self.help = help;
        }
        self
    }

    pub fn also(mut self, span: ByteSpan, label: impl Into<String>) -> Self {
        self.secondary.push((span, label.into()));
        self
    }
}

/// Collects diagnostics while the phases run; nothing stops at the first problem.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, more: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(more);
    }

    pub fn error_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity() == Severity::Error)
            .count()
    }

    pub fn warning_count(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity() == Severity::Warning)
            .count()
    }
}
