//! Phase 1: source text -> policy documents (`ast`). Checks the shape of each document: its
//! header, that every key is known and appears once, that values are of the right kind and
//! that required fields are present. Every problem is reported; a document continues to be
//! read after one, so the next phase sees as much of it as possible.

use crate::ast::{Form, PolicyDoc, RuleDoc, Text};
use crate::detectors::{self, Detector};

/// A detector document of the input, where it is.
pub struct UserDetector {
    pub file: FileId,
    pub span: ByteSpan,
    pub detector: Detector,
}
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, SourceFile};
use crate::suggest::{closest, did_you_mean};
use crate::yaml::{self, ByteSpan, Node, NodeKind};

pub const API_V1: &str = "aquasecurity.github.io/v1beta1";
pub const API_V2: &str = "tracee.aquasec.com/v1beta1";

/// The first event id of the user's detectors' detections (Tracee's signature range).
const USER_DETECTOR_IDS: u32 = 6500;

const CRD_KEYS: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const PLAIN_KEYS: &[&str] = &[
    "type",
    "name",
    "description",
    "version",
    "scope",
    "defaultActions",
    "rules",
];
/// `metadata` keys of a Kubernetes object, so `kubectl get -o yaml` output is accepted.
const METADATA_KEYS: &[&str] = &[
    "name",
    "annotations",
    "labels",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "finalizers",
    "ownerReferences",
    "managedFields",
    "generateName",
    "selfLink",
];
const SPEC_KEYS: &[&str] = &["scope", "defaultActions", "rules"];
const RULE_KEYS: &[&str] = &["event", "filters", "actions"];

/// Parses one file into its policy documents, reporting problems into `diags`.
pub fn parse_file(
    file: FileId,
    source: &SourceFile,
    diags: &mut Diagnostics,
    detectors: &mut Vec<UserDetector>,
) -> Vec<PolicyDoc> {
    let text = source.text.as_str();
    let templates = template_spans(text);
    if !templates.is_empty() {
        for span in templates {
            diags.push(
                Diagnostic::new(
                    Code::UnrenderedTemplate,
                    format!(
                        "template syntax `{}` in a policy file",
                        text.get(span.clone()).unwrap_or("{{ }}")
                    ),
                )
                .at(file, span)
                .label("not rendered")
                .help("render it first (`helm template`), and check the rendered policies"),
            );
        }
        return Vec::new();
    }
    let documents = match yaml::parse_documents(text) {
        Ok(documents) => documents,
        Err(err) => {
            let code = if err.budget {
                Code::ResourceLimit
            } else {
                Code::YamlSyntax
            };
            let help = if err.budget {
                "policy files are small: remove deep nesting or repeated aliases"
            } else if err.message.contains("tab") {
                "indent with spaces: YAML does not allow tabs in indentation"
            } else if err.message.contains("anchor") {
                "define the anchor (`&name`) before using the alias (`*name`)"
            } else {
                "fix the YAML syntax at this place"
            };
            let span = err.span.unwrap_or(0..0);
            diags.push(
                Diagnostic::new(code, err.message)
                    .at(file, span)
                    .label("here")
                    .help(help),
            );
            return Vec::new();
        }
    };
    if documents.is_empty() {
        diags.push(
            Diagnostic::new(Code::EmptyFile, "file holds no policy")
                .at(file, 0..0)
                .help("write a policy here or remove the file from the input"),
        );
        return Vec::new();
    }
    let mut parser = Parser {
        file,
        name: &source.name,
        text,
        diags,
        detectors,
    };
    let mut policies = Vec::new();
    for doc in &documents {
        parser.object(doc, &mut policies);
    }
    policies
}

/// The `{{ ... }}` template expressions of a file (Helm, Go templates), outside YAML
/// comments: byte spans of the first ones.
fn template_spans(text: &str) -> Vec<ByteSpan> {
    let mut spans = Vec::new();
    let mut line_start = 0;
    for line in text.split_inclusive('\n') {
        let code = line.find(" #").map_or(line, |i| &line[..i]);
        let code = if code.trim_start().starts_with('#') {
            ""
        } else {
            code
        };
        let mut from = 0;
        while let Some(open) = code[from..].find("{{") {
            let start = from + open;
            let Some(close) = code[start + 2..].find("}}") else {
                break;
            };
            let end = start + 2 + close + 2;
            spans.push(line_start + start..line_start + end);
            from = end;
            if spans.len() == 5 {
                return spans;
            }
        }
        line_start += line.len();
    }
    spans
}

/// Kubernetes list kinds whose `items` are the objects (`kubectl get -o yaml|json`).
const LIST_KINDS: &[&str] = &["List", "PolicyList", "TraceePolicyList"];

/// `scope` -> "`scope`"; descriptions that are already phrases stay as they are.
fn quoted(what: &str) -> String {
    if what.contains(' ') || what.contains('`') {
        what.to_owned()
    } else {
        format!("`{what}`")
    }
}

struct Parser<'a> {
    file: FileId,
    /// The file's name, for the detectors read from it.
    name: &'a str,
    text: &'a str,
    diags: &'a mut Diagnostics,
    /// The detector documents found (`type: detector`), checked apart from policies.
    detectors: &'a mut Vec<UserDetector>,
}

/// A mapping's entries after the duplicate and unknown key checks.
struct Fields<'n> {
    entries: Vec<(&'n str, &'n Node, &'n Node)>,
    span: ByteSpan,
    /// Known keys that an unknown key was reported as a likely typo of: not also "missing".
    misspelled: Vec<String>,
}

impl<'n> Fields<'n> {
    fn get(&self, key: &str) -> Option<(&'n Node, &'n Node)> {
        self.entries
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, key, value)| (*key, *value))
    }

    fn value(&self, key: &str) -> Option<&'n Node> {
        self.get(key).map(|(_, value)| value)
    }
}

impl Parser<'_> {
    fn push(&mut self, diagnostic: Diagnostic) {
        self.diags.push(diagnostic);
    }

    fn error(
        &mut self,
        code: Code,
        message: String,
        span: ByteSpan,
        label: &str,
        help: Option<String>,
    ) {
        let diagnostic = Diagnostic::new(code, message)
            .at(self.file, span)
            .label(label)
            .maybe_help(help);
        self.push(diagnostic);
    }

    fn wrong_type(&mut self, node: &Node, what: &str, expected: &str, help: &str) {
        self.error(
            Code::WrongType,
            format!(
                "{} must be {expected}, found {}",
                quoted(what),
                node.describe()
            ),
            node.span.clone(),
            "wrong kind of value",
            Some(help.to_owned()),
        );
    }

    /// Reads a mapping, reporting non-string keys, duplicate keys and keys outside `known`
    /// (`None` accepts any key).
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        known: Option<&[&str]>,
    ) -> Option<Fields<'n>> {
        let NodeKind::Map(entries) = &node.kind else {
            if !matches!(node.kind, NodeKind::Null) {
                self.wrong_type(
                    node,
                    what,
                    "a mapping",
                    "write `key: value` pairs, one per line",
                );
            }
            return None;
        };
        let mut fields = Fields {
            entries: Vec::new(),
            span: node.span.clone(),
            misspelled: Vec::new(),
        };
        for (key_node, value) in entries {
            let Some(key) = key_node.as_scalar() else {
                self.wrong_type(
                    key_node,
                    &format!("a key of `{what}`"),
                    "a string",
                    "use a plain word as the key",
                );
                continue;
            };
            if let Some((first, _)) = fields.get(key) {
                let diagnostic = Diagnostic::new(
                    Code::DuplicateKey,
                    format!("duplicate key `{key}` in `{what}`"),
                )
                .at(self.file, key_node.span.clone())
                .label("second occurrence")
                .also(first.span.clone(), "first occurrence")
                .help("remove one of them: YAML keys must be unique");
                self.push(diagnostic);
                continue;
            }
            if let Some(known) = known
                && !known.contains(&key)
            {
                let suggestion = if known.contains(&"kind") && key == "type" {
                    Some("kind")
                } else {
                    closest(key, known.iter().copied())
                };
                if let Some(s) = suggestion {
                    fields.misspelled.push(s.to_owned());
                }
                let help = if known.contains(&"spec") && SPEC_KEYS.contains(&key) {
                    format!("`{key}` belongs under `spec:`")
                } else if known.contains(&"metadata") && key == "name" {
                    "`name` belongs under `metadata:`".to_owned()
                } else if known.contains(&"metadata") && key == "description" {
                    "`description` belongs under `metadata:` `annotations:`".to_owned()
                } else if let Some(s) = suggestion {
                    format!("did you mean `{s}`?")
                } else {
                    format!("`{what}` accepts: {}", known.join(", "))
                };
                self.error(
                    Code::UnknownKey,
                    format!("unknown key `{key}` in `{what}`"),
                    key_node.span.clone(),
                    "unknown key",
                    Some(help),
                );
                continue;
            }
            fields.entries.push((key, key_node, value));
        }
        Some(fields)
    }

    /// A scalar as text; `None` when absent, null or not a scalar (reported).
    fn string(&mut self, node: &Node, what: &str) -> Option<Text> {
        match &node.kind {
            NodeKind::Scalar { text, .. } => Some(Text::from_node(text.clone(), node, self.text)),
            NodeKind::Null => None,
            _ => {
                self.wrong_type(
                    node,
                    what,
                    "a string",
                    "write a single value on the same line as the key",
                );
                None
            }
        }
    }

    /// One item of a list of strings. An empty item (`-` alone, `~`) is an error: dropping
    /// it would silently widen a scope or a rule.
    fn list_item(&mut self, item: &Node, what: &str) -> Option<Text> {
        match &item.kind {
            NodeKind::Null => {
                self.error(
                    Code::MissingField,
                    format!("empty item in `{what}`"),
                    item.span.clone(),
                    "no value",
                    Some("write a value after the `-`, or remove the line".to_owned()),
                );
                None
            }
            NodeKind::Map(entries) if entries.len() == 1 => {
                let (key, value) = &entries[0];
                let help = match (key.as_scalar(), value.as_scalar()) {
                    (Some(k), Some(v)) => format!(
                        "each item is one string such as `{k}=...`: the `: ` made this a mapping; write `{k}={v}`"
                    ),
                    _ => "each item is one string".to_owned(),
                };
                self.wrong_type(item, &format!("an item of `{what}`"), "a string", &help);
                None
            }
            _ => self.string(item, &format!("an item of `{what}`")),
        }
    }

    /// A list of strings. A single scalar where a list belongs is the most common mistake
    /// (`scope: global`): say how to write it.
    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Text> {
        match &node.kind {
            NodeKind::Seq(items) => items
                .iter()
                .filter_map(|item| self.list_item(item, what))
                .collect(),
            NodeKind::Null => Vec::new(),
            NodeKind::Scalar { text, .. } => {
                self.wrong_type(
                    node,
                    what,
                    "a list",
                    &format!(
                        "write it as a list item: `{what}: [{text}]` or `- {text}` on the next line"
                    ),
                );
                Vec::new()
            }
            NodeKind::Map(_) => {
                self.wrong_type(node, what, "a list", "start each item with `- `");
                Vec::new()
            }
        }
    }

    /// `key` is not in `fields`: report it missing, unless a misspelling of it was already
    /// reported (one mistake, one diagnostic).
    fn absent(&mut self, fields: &Fields, key: &str, span: ByteSpan, help: &str) {
        if !fields.misspelled.iter().any(|m| m == key) {
            self.missing(key, span, help);
        }
    }

    fn missing(&mut self, what: &str, span: ByteSpan, help: &str) {
        self.error(
            Code::MissingField,
            format!("missing `{what}`"),
            span,
            &format!("`{what}` required here"),
            Some(help.to_owned()),
        );
    }

    /// One YAML document or list item: a policy, a list of them (`kind: List` or
    /// `PolicyList`, as kubectl prints them, read item by item), or an object of another
    /// API (a rendered chart's ConfigMap, ...), skipped with a warning.
    fn object(&mut self, doc: &Node, out: &mut Vec<PolicyDoc>) {
        if let NodeKind::Map(entries) = &doc.kind {
            let value = |key: &str| {
                entries
                    .iter()
                    .find(|(k, _)| k.as_scalar() == Some(key))
                    .map(|(_, v)| v)
            };
            let kind = value("kind").and_then(Node::as_scalar);
            let api = value("apiVersion").and_then(Node::as_scalar);
            if let Some(kind) = kind.filter(|k| LIST_KINDS.contains(k)) {
                match value("items").map(|v| &v.kind) {
                    Some(NodeKind::Seq(items)) => {
                        for item in items {
                            self.object(item, out);
                        }
                    }
                    Some(NodeKind::Null) | None => {}
                    Some(_) => {
                        if let Some(items) = value("items") {
                            self.wrong_type(
                                items,
                                "`items`",
                                "a list",
                                &format!(
                                    "a `kind: {kind}` holds its objects under `items:`, as a list"
                                ),
                            );
                        }
                    }
                }
                return;
            }
            // Another API's object; a policy kind with a mistyped apiVersion is not one.
            let foreign = api.is_some_and(|a| {
                !a.starts_with("tracee.aquasec.com/") && !a.starts_with("aquasecurity.github.io/")
            }) && !kind.is_some_and(|k| {
                ["policy", "traceepolicy"].contains(&k.to_ascii_lowercase().as_str())
            });
            if let (true, Some(kind)) = (foreign, kind) {
                let anchor = value("kind").map_or(doc.span.clone(), |v| v.span.clone());
                self.push(
                    Diagnostic::new(
                        Code::OtherKindSkipped,
                        format!(
                            "`{kind}` (`{}`) is not a policy: skipped",
                            api.unwrap_or_default()
                        ),
                    )
                    .at(self.file, anchor)
                    .label("not a policy")
                    .help("give the policies alone, or keep this and use `--deny-warnings` to refuse files with other objects"),
                );
                return;
            }
        }
        if let Some(policy) = self.document(doc) {
            out.push(policy);
        }
    }

    fn document(&mut self, doc: &Node) -> Option<PolicyDoc> {
        let NodeKind::Map(entries) = &doc.kind else {
            self.wrong_type(
                doc,
                "the document",
                "a mapping",
                "a policy document starts with `apiVersion:`/`kind:` or `type: policy`",
            );
            return None;
        };
        let anchor = entries
            .first()
            .map_or(doc.span.clone(), |(k, _)| k.span.clone());
        let has = |key: &str| entries.iter().any(|(k, _)| k.as_scalar() == Some(key));
        let is_detector = entries.iter().any(|(k, v)| {
            k.as_scalar() == Some("type")
                && v.as_scalar()
                    .is_some_and(|t| t.trim().eq_ignore_ascii_case("detector"))
        });
        if is_detector {
            self.detector(doc, anchor);
            return None;
        }
        // `type:` written where `kind:` belongs must not turn a CRD into a plain policy.
        let looks_crd = has("apiVersion") && (has("metadata") || has("spec"));
        let form = if has("type") && !looks_crd {
            Form::Plain
        } else if has("apiVersion") || has("kind") {
            Form::Policy // refined by `crd_header`
        } else {
            let looks_plain = has("name") || has("scope") || has("rules");
            let misspelled = entries
                .iter()
                .filter_map(|(k, _)| k.as_scalar())
                .find_map(|k| closest(k, ["type", "apiVersion", "kind"]).map(|c| (k, c)));
            let help = match misspelled {
                Some((k, c)) => format!("`{k}` is not a header key: did you mean `{c}`?"),
                None if looks_plain => "add `type: policy` as the first line (the plain form)".to_owned(),
                None => "start the document with `apiVersion: tracee.aquasec.com/v1beta1` and `kind: Policy`, or with `type: policy`".to_owned(),
            };
            self.error(
                Code::UnknownFormat,
                "cannot tell the policy format: no `apiVersion`/`kind` and no `type: policy`"
                    .to_owned(),
                anchor,
                "document starts here",
                Some(help),
            );
            return None;
        };
        match form {
            Form::Plain => self.plain(doc, anchor),
            _ => self.crd(doc, anchor),
        }
    }

    /// A detector document in Tracee's YAML detector format: read with the built-in
    /// detectors' reader; its detections take an event id of the user range (6500 on).
    fn detector(&mut self, doc: &Node, anchor: ByteSpan) {
        let start = doc.span.start.min(self.text.len());
        let end = doc.extent_end().clamp(start, self.text.len());
        let Some(text) = self.text.get(start..end) else {
            return;
        };
        let index = u32::try_from(self.detectors.len()).unwrap_or(u32::MAX);
        let event_id = USER_DETECTOR_IDS.saturating_add(index);
        match detectors::parse_user(self.name, text, event_id) {
            Ok(detector) => self.detectors.push(UserDetector {
                file: self.file,
                span: anchor,
                detector,
            }),
            Err((at, message)) => {
                let span = at.map_or(anchor, |at| {
                    let at = (start + at).min(end);
                    at..at
                });
                self.error(
                    Code::InvalidDetector,
                    format!("not a detector Tracee's format describes: {message}"),
                    span,
                    "in this detector",
                    Some(
                        "see Tracee's YAML detector format (docs/detectors.md): `type: detector`, `id`, `produced_event.name`, `requirements.events`, `threat`"
                            .to_owned(),
                    ),
                );
            }
        }
    }

    fn plain(&mut self, doc: &Node, anchor: ByteSpan) -> Option<PolicyDoc> {
        let fields = self.fields(doc, "policy", Some(PLAIN_KEYS))?;
        if let Some((_, value)) = fields.get("type") {
            let ok = value
                .as_scalar()
                .is_some_and(|t| t.trim().eq_ignore_ascii_case("policy"));
            if !ok {
                self.error(
                    Code::UnknownFormat,
                    format!(
                        "unsupported `type`: `{}`",
                        value.as_scalar().unwrap_or_default()
                    ),
                    value.span.clone(),
                    "expected `policy`",
                    Some("write `type: policy`".to_owned()),
                );
            }
        }
        let name = self.required_string(
            &fields,
            "name",
            anchor.clone(),
            "give the policy a name: `name: my-policy`",
        );
        let description = self.required_string(
            &fields,
            "description",
            anchor.clone(),
            "say what the policy is for: `description: ...`",
        );
        if let Some(version) = fields.value("version")
            && !matches!(version.kind, NodeKind::Scalar { .. } | NodeKind::Null)
        {
            self.wrong_type(
                version,
                "version",
                "a string or number",
                "write e.g. `version: 1`",
            );
        }
        let (scope, default_actions, rules) = self.body(&fields, anchor.clone());
        Some(PolicyDoc {
            file: self.file,
            form: Form::Plain,
            anchor,
            name,
            description,
            scope,
            default_actions,
            rules,
        })
    }

    fn crd(&mut self, doc: &Node, anchor: ByteSpan) -> Option<PolicyDoc> {
        let fields = self.fields(doc, "policy", Some(CRD_KEYS))?;
        let form = self.crd_header(&fields, anchor.clone());

        let mut name = None;
        let mut description = None;
        match fields.get("metadata") {
            None => self.absent(
                &fields,
                "metadata",
                anchor.clone(),
                "add `metadata:` with `name:` and `annotations: {description: ...}`",
            ),
            Some((key, value)) => {
                if let Some(metadata) = self.fields(value, "metadata", Some(METADATA_KEYS)) {
                    name = self.required_string(
                        &metadata,
                        "name",
                        key.span.clone(),
                        "add `name: my-policy` under `metadata:`",
                    );
                    description = self.annotations_description(&metadata, key.span.clone());
                    if let Some(labels) = metadata.value("labels") {
                        self.fields(labels, "labels", None);
                    }
                } else if matches!(value.kind, NodeKind::Null) {
                    self.missing(
                        "metadata.name",
                        key.span.clone(),
                        "add `name: my-policy` under `metadata:`",
                    );
                }
            }
        }
        let (scope, default_actions, rules) = match fields.get("spec") {
            None => {
                self.absent(
                    &fields,
                    "spec",
                    anchor.clone(),
                    "add `spec:` with `scope:` and `rules:`",
                );
                (Vec::new(), Vec::new(), Vec::new())
            }
            Some((key, value)) => match self.fields(value, "spec", Some(SPEC_KEYS)) {
                Some(spec) => self.body(&spec, key.span.clone()),
                None => {
                    if matches!(value.kind, NodeKind::Null) {
                        self.missing(
                            "spec.scope",
                            key.span.clone(),
                            "add `scope:` and `rules:` under `spec:`",
                        );
                    }
                    (Vec::new(), Vec::new(), Vec::new())
                }
            },
        };
        Some(PolicyDoc {
            file: self.file,
            form: form.unwrap_or(Form::Policy),
            anchor,
            name,
            description,
            scope,
            default_actions,
            rules,
        })
    }

    /// Checks `apiVersion` and `kind` belong together; returns the form they name.
    fn crd_header(&mut self, fields: &Fields, anchor: ByteSpan) -> Option<Form> {
        let api = fields.value("apiVersion");
        let kind = fields.value("kind");
        let api_text = api.and_then(Node::as_scalar);
        let kind_text = kind.and_then(Node::as_scalar);
        let form = match api_text {
            Some(API_V1) => Some(Form::TraceePolicy),
            Some(API_V2) => Some(Form::Policy),
            Some(other) => {
                let help = did_you_mean(other, [API_V2, API_V1]).unwrap_or_else(|| {
                    format!("use `{API_V2}` (kind `Policy`) or `{API_V1}` (kind `TraceePolicy`)")
                });
                let span = api.map_or(anchor.clone(), |n| n.span.clone());
                self.error(
                    Code::UnknownFormat,
                    format!("unsupported `apiVersion`: `{other}`"),
                    span,
                    "unknown apiVersion",
                    Some(help),
                );
                None
            }
            None => {
                let span = api.map_or(anchor.clone(), |n| n.span.clone());
                self.missing("apiVersion", span, &format!("add `apiVersion: {API_V2}`"));
                None
            }
        };
        let expected_kind = match form {
            Some(Form::TraceePolicy) => "TraceePolicy",
            _ => "Policy",
        };
        match (kind_text, kind) {
            (Some(k), Some(node)) if k != expected_kind => {
                let help = match (form, k) {
                    (Some(Form::TraceePolicy), "Policy") => format!(
                        "`{API_V1}` pairs with `kind: TraceePolicy`; or use `apiVersion: {API_V2}`"
                    ),
                    (Some(Form::Policy), "TraceePolicy") => format!(
                        "`{API_V2}` pairs with `kind: Policy`; or use `apiVersion: {API_V1}`"
                    ),
                    _ => format!("write `kind: {expected_kind}`"),
                };
                let message = match form {
                    _ if k.eq_ignore_ascii_case(expected_kind) => {
                        format!(
                            "`kind: {k}` is spelled `{expected_kind}` (kinds are case-sensitive)"
                        )
                    }
                    Some(_) => format!("`kind: {k}` does not go with this `apiVersion`"),
                    None => format!("unsupported `kind`: `{k}`"),
                };
                self.error(
                    Code::UnknownFormat,
                    message,
                    node.span.clone(),
                    &format!("expected `{expected_kind}`"),
                    Some(help),
                );
            }
            (None, _) => {
                let span = kind.map_or(anchor, |n| n.span.clone());
                self.absent(
                    fields,
                    "kind",
                    span,
                    &format!("add `kind: {expected_kind}`"),
                );
            }
            _ => {}
        }
        form
    }

    fn annotations_description(
        &mut self,
        metadata: &Fields,
        metadata_key: ByteSpan,
    ) -> Option<Text> {
        let help =
            "add `annotations:` with `description: what this policy is for` under `metadata:`";
        let Some((key, value)) = metadata.get("annotations") else {
            self.missing("metadata.annotations.description", metadata_key, help);
            return None;
        };
        let annotations = self.fields(value, "annotations", None)?;
        let help = "add `description: what this policy is for` under `annotations:`";
        for (name, _, value) in &annotations.entries {
            if !matches!(value.kind, NodeKind::Scalar { .. } | NodeKind::Null) {
                self.wrong_type(
                    value,
                    &format!("annotations.{name}"),
                    "a string",
                    "annotation values are strings",
                );
            }
        }
        self.required_string(&annotations, "description", key.span.clone(), help)
    }

    /// A required scalar field: missing, null, empty or blank are all reported as missing.
    fn required_string(
        &mut self,
        fields: &Fields,
        key: &str,
        parent: ByteSpan,
        help: &str,
    ) -> Option<Text> {
        match fields.get(key) {
            None => {
                let span = if fields.entries.is_empty() {
                    fields.span.clone()
                } else {
                    parent
                };
                self.absent(fields, key, span, help);
                None
            }
            Some((key_node, value)) => {
                let text = self.string(value, key);
                match text {
                    Some(t) if !t.value.trim().is_empty() => Some(t),
                    _ if matches!(value.kind, NodeKind::Seq(_) | NodeKind::Map(_)) => None,
                    _ => {
                        self.error(
                            Code::MissingField,
                            format!("`{key}` is empty"),
                            key_node.span.clone(),
                            "no value",
                            Some(help.to_owned()),
                        );
                        None
                    }
                }
            }
        }
    }

    /// `scope`, `defaultActions`, `rules`: the same in every form.
    fn body(&mut self, fields: &Fields, parent: ByteSpan) -> (Vec<Text>, Vec<Text>, Vec<RuleDoc>) {
        let scope = self.required_list(
            fields,
            "scope",
            parent.clone(),
            "add `scope:` with at least one entry, e.g. `- global`",
        );
        let default_actions = fields
            .value("defaultActions")
            .map(|n| self.string_list(n, "defaultActions"))
            .unwrap_or_default();
        let mut rules = Vec::new();
        match fields.get("rules") {
            None => self.absent(
                fields,
                "rules",
                parent,
                "add `rules:` with at least one `- event: NAME`",
            ),
            Some((key, value)) => match &value.kind {
                NodeKind::Seq(items) if !items.is_empty() => {
                    rules = items.iter().filter_map(|item| self.rule(item)).collect();
                }
                NodeKind::Seq(_) | NodeKind::Null => self.error(
                    Code::MissingField,
                    "`rules` is empty".to_owned(),
                    key.span.clone(),
                    "no rules",
                    Some("add at least one rule: `- event: NAME`".to_owned()),
                ),
                _ => self.wrong_type(
                    value,
                    "rules",
                    "a list",
                    "start each rule with `- event: NAME`",
                ),
            },
        }
        (scope, default_actions, rules)
    }

    fn required_list(
        &mut self,
        fields: &Fields,
        key: &str,
        parent: ByteSpan,
        help: &str,
    ) -> Vec<Text> {
        match fields.get(key) {
            None => {
                self.absent(fields, key, parent, help);
                Vec::new()
            }
            Some((key_node, value)) => {
                let list = self.string_list(value, key);
                let reported = matches!(value.kind, NodeKind::Scalar { .. } | NodeKind::Map(_));
                let non_scalar_items =
                    matches!(&value.kind, NodeKind::Seq(items) if !items.is_empty());
                if list.is_empty() && !reported && !non_scalar_items {
                    self.error(
                        Code::MissingField,
                        format!("`{key}` is empty"),
                        key_node.span.clone(),
                        "no entries",
                        Some(help.to_owned()),
                    );
                }
                list
            }
        }
    }

    fn rule(&mut self, node: &Node) -> Option<RuleDoc> {
        let fields = self.fields(node, "rule", Some(RULE_KEYS));
        let Some(fields) = fields else {
            if matches!(node.kind, NodeKind::Null) {
                self.error(
                    Code::MissingField,
                    "empty rule".to_owned(),
                    node.span.clone(),
                    "no `event`",
                    Some("write `- event: NAME`".to_owned()),
                );
            }
            return None;
        };
        let anchor = fields
            .entries
            .first()
            .map_or(node.span.clone(), |(_, k, _)| k.span.clone());
        let event = self.required_string(
            &fields,
            "event",
            anchor,
            "name the event this rule selects: `event: openat`",
        );
        let filters = fields
            .value("filters")
            .map(|n| self.string_list(n, "filters"))
            .unwrap_or_default();
        let actions = fields
            .value("actions")
            .map(|n| self.string_list(n, "actions"))
            .unwrap_or_default();
        Some(RuleDoc {
            span: node.span.clone(),
            event,
            filters,
            actions,
        })
    }
}
