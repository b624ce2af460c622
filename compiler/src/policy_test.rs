//! `tracee-compile test`: policy unit tests, run offline against the compiled image.
//!
//! Test files sit next to the policies (`*.test.yaml`, never read as policies). Each case is
//! an event, in the compact form or as a JSON line `tracee-load --output json` printed, and
//! the policies expected to match it:
//!
//! ```yaml
//! tests:
//!   - name: cat reading the shadow file
//!     event: openat
//!     args: {pathname: /etc/shadow, flags: 0}
//!     comm: cat
//!     uid: 1000
//!     expect: [credential-access]
//!   - name: a line tracee-load printed
//!     line: '{"eventName":"openat","processName":"cat","args":[...]}'
//!     expect: none
//! ```
//!
//! The image is decided by `schema::eval`, the reference evaluator of the map image: what is
//! tested is what the kernel would do with the compiled bytes, not the policy text. A case
//! that fails is an error at its `expect` (E401); a malformed case is E402. Both go through
//! the `--check` renderers, so `--format json|sarif|github` work as for linting.

use serde_json::{Map, Value as Json};

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::source::{FileId, SourceFile};
use crate::yaml::{Node, NodeKind};
use schema::eval::{self, Evaluator};

/// Keys of a case that are about the test, not the event.
const CASE_KEYS: &[&str] = &["name", "expect", "line"];

/// What running the test files gave.
pub struct Outcome {
    pub cases: usize,
    pub failed: usize,
}

/// A scalar or tree of the test file as JSON, for `schema::eval::input` (numbers stay
/// numbers; everything else the YAML resolved as a string stays a string).
fn json(node: &Node) -> Json {
    match &node.kind {
        NodeKind::Null => Json::Null,
        NodeKind::Scalar { text, is_string } => {
            if *is_string {
                return Json::String(text.clone());
            }
            if let Ok(i) = text.parse::<i64>() {
                return Json::from(i);
            }
            if let Ok(u) = text.parse::<u64>() {
                return Json::from(u);
            }
            match text.as_str() {
                "true" => Json::Bool(true),
                "false" => Json::Bool(false),
                "null" | "~" => Json::Null,
                _ => Json::String(text.clone()),
            }
        }
        NodeKind::Seq(items) => Json::Array(items.iter().map(json).collect()),
        NodeKind::Map(pairs) => Json::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.as_scalar().unwrap_or("").to_owned(), json(v)))
                .collect(),
        ),
    }
}

fn get<'a>(map: &'a [(Node, Node)], key: &str) -> Option<&'a Node> {
    map.iter()
        .find(|(k, _)| k.as_scalar() == Some(key))
        .map(|(_, v)| v)
}

fn invalid(file: FileId, node: &Node, message: String, help: &str) -> Diagnostic {
    Diagnostic::new(Code::InvalidTest, message)
        .at(file, node.span.clone())
        .help(help)
}

const CASE_HELP: &str = "a case is a mapping: `name`, `expect` (policy names, or `none`), and the event: `event`, `args`, context fields (`uid`, `comm`, ...), `retval`, `task`; or `line` with a JSON line tracee-load printed";

/// The cases of one test file's document: `tests:` a list of mappings (or the list itself).
fn cases<'a>(file: FileId, doc: &'a Node, out: &mut Diagnostics) -> Vec<&'a Node> {
    let list = match &doc.kind {
        NodeKind::Map(pairs) => match get(pairs, "tests") {
            Some(list) => list,
            None => {
                out.push(invalid(
                    file,
                    doc,
                    "a test document needs a `tests` list".to_owned(),
                    CASE_HELP,
                ));
                return Vec::new();
            }
        },
        NodeKind::Null => return Vec::new(),
        _ => doc,
    };
    match &list.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => {
            out.push(invalid(
                file,
                list,
                format!("`tests` must be a list of cases, not {}", list.describe()),
                CASE_HELP,
            ));
            Vec::new()
        }
    }
}

/// The policies a case expects, by bit; E402 for names the input does not have.
fn expected(file: FileId, node: &Node, names: &[String], out: &mut Diagnostics) -> Option<u64> {
    let items: Vec<&Node> = match &node.kind {
        NodeKind::Scalar { text, .. } if text == "none" => return Some(0),
        NodeKind::Scalar { .. } => vec![node],
        NodeKind::Seq(items) => items.iter().collect(),
        _ => {
            out.push(invalid(
                file,
                node,
                format!(
                    "`expect` must be a list of policy names or `none`, not {}",
                    node.describe()
                ),
                CASE_HELP,
            ));
            return None;
        }
    };
    let mut bits = 0u64;
    let mut ok = true;
    for item in items {
        let name = item.as_scalar().unwrap_or("");
        match names.iter().position(|n| n == name) {
            Some(i) => bits |= 1u64 << i,
            None => {
                ok = false;
                let hint = crate::suggest::closest(name, names.iter().map(String::as_str));
                out.push(invalid(
                    file,
                    item,
                    format!("no policy named `{name}` in the input"),
                    &hint.map_or_else(
                        || format!("the policies are: {}", names.join(", ")),
                        |h| format!("did you mean `{h}`?"),
                    ),
                ));
            }
        }
    }
    ok.then_some(bits)
}

/// A node's span, a flow list's from its first item to its last (the parser gives a flow
/// list the span of its opening bracket).
fn whole(node: &Node) -> std::ops::Range<usize> {
    match &node.kind {
        NodeKind::Seq(items) => match (items.first(), items.last()) {
            (Some(first), Some(last)) => first.span.start.min(node.span.start)..last.span.end,
            _ => node.span.clone(),
        },
        _ => node.span.clone(),
    }
}

fn list(bits: u64, names: &[String]) -> String {
    let names = eval::policy_names(bits, names);
    if names.is_empty() {
        "none".to_owned()
    } else {
        format!("[{}]", names.join(", "))
    }
}

/// Runs one case; a failure or a malformed case goes to `out`.
fn run_case(
    file: FileId,
    case: &Node,
    index: usize,
    evaluator: &Evaluator,
    names: &[String],
    out: &mut Diagnostics,
) -> bool {
    let NodeKind::Map(pairs) = &case.kind else {
        out.push(invalid(
            file,
            case,
            format!("a test case must be a mapping, not {}", case.describe()),
            CASE_HELP,
        ));
        return false;
    };
    let title = get(pairs, "name")
        .and_then(Node::as_scalar)
        .map_or_else(|| format!("case {}", index + 1), |n| format!("`{n}`"));
    let Some(expect_node) = get(pairs, "expect") else {
        out.push(invalid(
            file,
            case,
            format!("test {title} has no `expect`"),
            "add `expect:` with the policies that must match, or `expect: none`",
        ));
        return false;
    };
    let Some(want) = expected(file, expect_node, names, out) else {
        return false;
    };
    let event_json = match get(pairs, "line") {
        Some(line) => match serde_json::from_str::<Json>(line.as_scalar().unwrap_or("")) {
            Ok(v) => v,
            Err(e) => {
                out.push(invalid(
                    file,
                    line,
                    format!("`line` of test {title} is not a JSON object: {e}"),
                    "paste one line of `tracee-load --output json` output, in single quotes",
                ));
                return false;
            }
        },
        None => Json::Object(
            pairs
                .iter()
                .filter(|(k, _)| !CASE_KEYS.contains(&k.as_scalar().unwrap_or("")))
                .map(|(k, v)| (k.as_scalar().unwrap_or("").to_owned(), json(v)))
                .collect::<Map<_, _>>(),
        ),
    };
    let event = match eval::input::event(&event_json) {
        Ok(e) => e,
        Err(e) => {
            out.push(invalid(
                file,
                case,
                format!("the event of test {title} is not readable: {e}"),
                CASE_HELP,
            ));
            return false;
        }
    };
    let verdict = evaluator.evaluate(&event);
    // Policies the kernel matches but the loader may still drop (container metadata).
    let undecided = verdict.userspace;
    if verdict.kernel == want && undecided & want == 0 {
        return true;
    }
    let mut why = Vec::new();
    let extra = verdict.kernel & !want;
    if extra != 0 {
        why.push(format!("{} also matched", list(extra, names)));
    }
    for (i, name) in names.iter().enumerate().take(64) {
        let bit = 1u64 << i;
        if want & !verdict.kernel & bit != 0 {
            let by = verdict.refused_by(i as u8).unwrap_or("its filters");
            why.push(format!("`{name}` was turned away by {by}"));
        }
        if undecided & bit != 0 {
            why.push(format!(
                "`{name}` also needs container metadata, which the loader decides from the container runtime (its userspace filters): a test case cannot give it"
            ));
        }
    }
    out.push(
        Diagnostic::new(
            Code::TestFailed,
            format!(
                "test {title}: expected {}, the image matches {}",
                list(want, names),
                list(verdict.kernel, names)
            ),
        )
        .at(file, whole(expect_node))
        .label(format!("expected {}", list(want, names)))
        .help(why.join("; ")),
    );
    false
}

/// Runs every case of `tests` (parsed test files, ids after the policies') against the
/// image of `image`.
pub fn run(
    image: &schema::image::Image,
    tests: &[SourceFile],
    first_id: FileId,
    out: &mut Diagnostics,
) -> Outcome {
    let mut outcome = Outcome {
        cases: 0,
        failed: 0,
    };
    let evaluator = match Evaluator::new(image) {
        Ok(e) => e,
        Err(e) => {
            out.push(Diagnostic::new(
                Code::InvalidTest,
                format!("internal error: the image cannot be evaluated: {e}"),
            ));
            return outcome;
        }
    };
    let names: Vec<String> = image.meta.policies.iter().map(|p| p.name.clone()).collect();
    for (offset, source) in tests.iter().enumerate() {
        let file = first_id + offset;
        let docs = match crate::yaml::parse_documents(&source.text) {
            Ok(docs) => docs,
            Err(err) => {
                let mut d = Diagnostic::new(Code::YamlSyntax, err.message).in_file(file);
                if let Some(span) = err.span {
                    d = d.at(file, span);
                }
                out.push(d);
                continue;
            }
        };
        for doc in &docs {
            for (i, case) in cases(file, doc, out).into_iter().enumerate() {
                outcome.cases += 1;
                if !run_case(file, case, i, &evaluator, &names, out) {
                    outcome.failed += 1;
                }
            }
        }
    }
    outcome
}
