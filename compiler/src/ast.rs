//! The policy documents as written: strings with their spans, no meaning checked yet.
//! `parse` builds these from the YAML tree; `validate` turns them into the IR.

use std::ops::Range;

use crate::source::FileId;
use crate::yaml::{ByteSpan, Node};

/// A string value and where it is. `verbatim` is the byte offset where the value's text
/// appears unchanged in the source (plain or simply quoted scalars), so a diagnostic can
/// point inside it, at one item of a comma list say.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub value: String,
    pub span: ByteSpan,
    verbatim: Option<usize>,
}

impl Text {
    pub fn from_node(value: String, node: &Node, source: &str) -> Text {
        let probe = node.sub_span(source, 0..value.len());
        let raw = source.get(node.span.clone()).unwrap_or_default();
        let verbatim = if probe != node.span || raw == value {
            Some(probe.start)
        } else if !value.is_empty() && !value.contains('\n') {
            // Block scalars (`|-`, `>-`) and other spellings: the value may still appear
            // as-is on one line inside the node.
            raw.find(value.as_str()).map(|i| node.span.start + i)
        } else {
            None
        };
        Text {
            value,
            span: node.span.clone(),
            verbatim,
        }
    }

    /// A value that is not in any file (a built-in detector's filter), written verbatim at
    /// `0..len`.
    pub fn detached(value: &str) -> Text {
        Text {
            value: value.to_owned(),
            span: 0..value.len(),
            verbatim: Some(0),
        }
    }

    /// The span of `value[range]`, or of the whole value when it is not written verbatim.
    pub fn sub(&self, range: Range<usize>) -> ByteSpan {
        match self.verbatim {
            Some(start) if range.start <= range.end && range.end <= self.value.len() => {
                start + range.start..start + range.end
            }
            _ => self.span.clone(),
        }
    }
}

/// Which header the document used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// `apiVersion: aquasecurity.github.io/v1beta1`, `kind: TraceePolicy` (Tracee v0.17).
    TraceePolicy,
    /// `apiVersion: tracee.aquasec.com/v1beta1`, `kind: Policy` (Tracee v0.18+).
    Policy,
    /// `type: policy` (Tracee after v0.24).
    Plain,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PolicyDoc {
    pub file: FileId,
    pub form: Form,
    /// Where to point for problems of the policy as a whole (the header).
    pub anchor: ByteSpan,
    pub name: Option<Text>,
    pub description: Option<Text>,
    pub scope: Vec<Text>,
    pub default_actions: Vec<Text>,
    pub rules: Vec<RuleDoc>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RuleDoc {
    pub span: ByteSpan,
    pub event: Option<Text>,
    pub filters: Vec<Text>,
    pub actions: Vec<Text>,
}
