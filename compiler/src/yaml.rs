//! A YAML (or JSON) document as a plain tree of nodes that each know their byte span.
//!
//! The policy checker walks this tree by hand instead of deserializing into typed structs:
//! serde stops at the first problem, while a linter must report every unknown key, missing
//! field and bad value of the file at once. serde-saphyr does the parsing (budgets against
//! YAML bombs, panic-free) and hands every node over with its location.

use std::fmt;
use std::ops::Range;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// Byte range in the source text.
pub type ByteSpan = Range<usize>;

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: ByteSpan,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    Null,
    /// Any scalar. `text` is the value as YAML resolved it for strings, and the source
    /// spelling for numbers and booleans (`name: 0123` stays `0123`).
    Scalar {
        text: String,
        is_string: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Node {
    pub fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Null => "nothing (null)",
            NodeKind::Scalar { .. } => "a scalar",
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a mapping",
        }
    }

    /// Where the node's text ends in the source: the last end of any node inside it (a
    /// collection's own span may stop at its first token).
    pub fn extent_end(&self) -> usize {
        let inner = match &self.kind {
            NodeKind::Seq(items) => items.iter().map(Node::extent_end).max(),
            NodeKind::Map(entries) => entries
                .iter()
                .map(|(k, v)| k.extent_end().max(v.extent_end()))
                .max(),
            _ => None,
        };
        inner.unwrap_or(0).max(self.span.end)
    }

    /// The scalar's text, if this is a scalar.
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The span of `text[range]` inside the source, when the scalar is written so that its
    /// value appears verbatim (plain or simply quoted, single line). Otherwise the whole node,
    /// since no label beats a wrong one.
    pub fn sub_span(&self, source: &str, range: Range<usize>) -> ByteSpan {
        let NodeKind::Scalar { text, .. } = &self.kind else {
            return self.span.clone();
        };
        let Some(raw) = source.get(self.span.clone()) else {
            return self.span.clone();
        };
        let inner_start = if raw == text {
            Some(self.span.start)
        } else if raw.len() >= 2 + text.len()
            && (raw.starts_with('"') || raw.starts_with('\''))
            && raw.get(1..1 + text.len()) == Some(text.as_str())
        {
            Some(self.span.start + 1)
        } else {
            None
        };
        match inner_start {
            Some(start) if range.end <= text.len() => start + range.start..start + range.end,
            _ => self.span.clone(),
        }
    }
}

/// What serde-saphyr hands us: a node without its span (the span comes from `Spanned`).
enum RawNode {
    Null,
    Str(String),
    /// Numbers and booleans: the text is taken from the source afterwards.
    Other(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(d)
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Other(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Other(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNode, E> {
        Ok(RawNode::Other(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        Ok(RawNode::Other(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNode, E> {
        Ok(RawNode::Other(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Other(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawNode>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

/// Converts a serde-saphyr location into a byte range of `source`, clamped to it.
pub fn byte_span(location: &Location, source: &str) -> ByteSpan {
    let span = location.span();
    let start = span
        .byte_offset()
        .and_then(|o| usize::try_from(o).ok())
        .unwrap_or(0)
        .min(source.len());
    let len = span
        .byte_len()
        .and_then(|l| usize::try_from(l).ok())
        .unwrap_or(0);
    start..start.saturating_add(len).min(source.len())
}

fn convert(raw: Spanned<RawNode>, source: &str) -> Node {
    let span = byte_span(&raw.referenced, source);
    let kind = match raw.value {
        RawNode::Null => NodeKind::Null,
        RawNode::Str(text) => NodeKind::Scalar {
            text,
            is_string: true,
        },
        RawNode::Other(fallback) => {
            let text = source
                .get(span.clone())
                .filter(|t| !t.is_empty())
                .map_or(fallback, str::to_owned);
            NodeKind::Scalar {
                text,
                is_string: false,
            }
        }
        RawNode::Seq(items) => {
            NodeKind::Seq(items.into_iter().map(|n| convert(n, source)).collect())
        }
        RawNode::Map(entries) => NodeKind::Map(
            entries
                .into_iter()
                .map(|(k, v)| (convert(k, source), convert(v, source)))
                .collect(),
        ),
    };
    Node { kind, span }
}

/// A parse failure: serde-saphyr's message and where it points.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub message: String,
    pub span: Option<ByteSpan>,
    /// A resource budget (depth, nodes, aliases) stopped the parser, not a syntax error.
    pub budget: bool,
}

/// Values of the text at most, in bytes.
const MAX_SCALAR_BYTES: usize = 32 * 1024 * 1024;
/// Aliases per anchor at most, checked once a document has this many aliases (E105's page
/// documents both).
const ALIASES_PER_ANCHOR: usize = 10;
const MIN_ALIASES_FOR_RATIO: usize = 100;

/// A plain description of a resource-budget stop, or `None` for other errors.
fn budget_message(err: &serde_saphyr::Error) -> Option<String> {
    use serde_saphyr::budget::BudgetBreach as B;
    let mut err = err;
    loop {
        match err {
            serde_saphyr::Error::WithSnippet { error, .. }
            | serde_saphyr::Error::AliasError { error, .. } => err = error,
            serde_saphyr::Error::AliasReplayLimitExceeded { .. } => {
                return Some(
                    "aliases expand to too much data (a \"billion laughs\" pattern?)".to_owned(),
                );
            }
            serde_saphyr::Error::Budget { breach, .. } => {
                return Some(match breach {
                    B::Nodes { nodes } => {
                        format!("document has more than {} nodes", nodes.saturating_sub(1))
                    }
                    B::Depth { depth } => format!(
                        "document nests deeper than {} levels",
                        depth.saturating_sub(1)
                    ),
                    B::Aliases { aliases } => format!(
                        "document uses more than {} aliases",
                        aliases.saturating_sub(1)
                    ),
                    B::Anchors { anchors } => format!(
                        "document defines more than {} anchors",
                        anchors.saturating_sub(1)
                    ),
                    B::Documents { documents } => format!(
                        "file has more than {} documents",
                        documents.saturating_sub(1)
                    ),
                    B::AliasAnchorRatio { aliases, anchors } => format!(
                        "document uses {aliases} aliases for {anchors} anchors: more than {ALIASES_PER_ANCHOR} aliases per anchor (once there are {MIN_ALIASES_FOR_RATIO} aliases) looks like a \"billion laughs\" pattern"
                    ),
                    B::ScalarBytes { .. } => format!(
                        "document holds more than {} MiB of text in its values",
                        MAX_SCALAR_BYTES >> 20
                    ),
                    B::Events { .. } => "document is too large to parse (over a million YAML events)".to_owned(),
                    B::MergeKeys { .. } => "document uses too many merge keys (`<<`)".to_owned(),
                    B::SequenceUnbalanced => "document ends in the middle of a list or mapping".to_owned(),
                    B::InputBytes { .. } | B::RecordedAnchorEvents { .. } | B::RecordedAnchorBytes { .. } => {
                        "aliases expand to too much data (a \"billion laughs\" pattern?)".to_owned()
                    }
                    // Breaches of features policies do not use (includes, properties), or
                    // ones a newer parser adds.
                    _ => "document exceeds a YAML parser limit (includes, properties or similar features policies never need)".to_owned(),
                });
            }
            _ => return None,
        }
    }
}

/// Drops serde-saphyr's " at line N, column M" (the diagnostic shows the place itself).
fn strip_location(message: &str) -> String {
    let Some(start) = message.find(" at line ") else {
        return message.to_owned();
    };
    let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = &message[start + " at line ".len()..];
    let after_line = &rest[digits(rest)..];
    let Some(after_column) = after_line.strip_prefix(", column ") else {
        return message.to_owned();
    };
    let tail = &after_column[digits(after_column)..];
    format!("{}{}", &message[..start], tail)
        .trim_end()
        .to_owned()
}

/// Parses every document of `source`. Duplicate keys are kept (the checker reports them
/// with both locations); the budget stops YAML bombs and oversized inputs early.
pub fn parse_documents(source: &str) -> Result<Vec<Node>, SyntaxError> {
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: 32,
            max_documents: 1024,
            max_nodes: 500_000,
            max_aliases: 1_000,
            max_anchors: 1_000,
            max_total_scalar_bytes: MAX_SCALAR_BYTES,
            enforce_alias_anchor_ratio: true,
            alias_anchor_min_aliases: MIN_ALIASES_FOR_RATIO,
            alias_anchor_ratio_multiplier: ALIASES_PER_ANCHOR,
        },
        duplicate_keys: serde_saphyr::options::DuplicateKeyPolicy::PassThrough,
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: 10_000,
        },
    };
    match serde_saphyr::from_multiple_with_options::<Spanned<RawNode>>(source, options) {
        Ok(docs) => Ok(docs.into_iter().map(|d| convert(d, source)).collect()),
        Err(err) => {
            // Parser errors carry a line and column but not always a byte offset.
            let span = err.location().map(|l| {
                let start = crate::source::offset_of(
                    source,
                    usize::try_from(l.line()).unwrap_or(usize::MAX),
                    usize::try_from(l.column()).unwrap_or(usize::MAX),
                );
                let len = l
                    .span()
                    .byte_len()
                    .and_then(|n| usize::try_from(n).ok())
                    .unwrap_or(0);
                start..start.saturating_add(len).min(source.len())
            });
            let (message, budget) = match budget_message(&err) {
                Some(message) => (message, true),
                None => (strip_location(&err.without_snippet().to_string()), false),
            };
            Err(SyntaxError {
                message,
                span,
                budget,
            })
        }
    }
}
