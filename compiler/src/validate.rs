//! Phase 2: policy documents -> IR. Checks the meaning of every field, then the rules that
//! span policies (unique names, at most 64). Every problem becomes a diagnostic; a policy
//! with errors is left out of the IR, so later phases only see valid policies.

use std::collections::HashMap;

use crate::ast::{PolicyDoc, Text};
use crate::detectors::Known;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{MAX_POLICIES, Policy, ScopeKey};
use crate::lint;
use crate::rule;
use crate::scope;
use crate::source::{FileId, SourceFile};

pub const MAX_NAME_LEN: usize = 253;

pub fn validate(
    docs: &[PolicyDoc],
    sources: &[SourceFile],
    detectors: Known<'_>,
    diags: &mut Diagnostics,
) -> Vec<Policy> {
    let mut policies = Vec::new();
    let mut names: HashMap<&str, &Text> = HashMap::new();
    let mut name_files: HashMap<&str, FileId> = HashMap::new();
    for doc in docs {
        let errors_before = diags.error_count();
        if let Some(name) = &doc.name {
            check_name(name, doc.file, diags);
            if let Some(first) = names.get(name.value.as_str()) {
                let first_file = name_files
                    .get(name.value.as_str())
                    .copied()
                    .unwrap_or(doc.file);
                diags.push(duplicate_name(name, doc.file, first, first_file, sources));
            } else {
                names.insert(&name.value, name);
                name_files.insert(&name.value, doc.file);
            }
        }
        if let Some(policy) = policy(doc, detectors, diags)
            && diags.error_count() == errors_before
        {
            policies.push(policy);
        }
    }
    if docs.len() > MAX_POLICIES {
        let extra = &docs[MAX_POLICIES];
        let span = extra
            .name
            .as_ref()
            .map_or(extra.anchor.clone(), |n| n.span.clone());
        diags.push(
            Diagnostic::new(Code::TooManyPolicies, format!("{} policies in total; at most {MAX_POLICIES} can be loaded together", docs.len()))
                .at(extra.file, span)
                .label(format!("policy number {}", MAX_POLICIES + 1))
                .help("each policy takes one bit of a 64-bit bitmap in the kernel: merge policies with the same scope, or compile separate images"),
        );
    }
    for (id, policy) in policies.iter_mut().enumerate() {
        policy.id = id;
    }
    lint::duplicate_policies(&policies, sources, diags);
    policies
}

fn policy(doc: &PolicyDoc, detectors: Known<'_>, diags: &mut Diagnostics) -> Option<Policy> {
    let file = doc.file;
    let errors_before = diags.error_count();
    let scope = scope::validate(&doc.scope, file, diags);
    let has = |key| scope.filters.iter().any(|f| f.key == key);
    let containers = match (has(ScopeKey::Container), has(ScopeKey::NotContainer)) {
        (true, false) => rule::ScopeContainers::Only,
        (false, true) => rule::ScopeContainers::Never,
        _ => rule::ScopeContainers::Any,
    };
    let default_actions = rule::actions(&doc.default_actions, file, diags);
    let mut rules: Vec<crate::ir::Rule> = Vec::new();
    let mut detections: Vec<crate::ir::Detection> = Vec::new();
    // By event name: a policy of 100,000 rules must not compare every pair.
    let mut event_spans: HashMap<&str, &Text> = HashMap::new();
    let mut all_rules_empty = !doc.rules.is_empty();
    // Events named by a rule of their own: a selection (list, set) that also covers one
    // leaves it to that rule, and of two selections the first takes an event.
    // Each maps to the first rule (index in `doc.rules`) naming it, for W310.
    let mut named: HashMap<&str, usize> = HashMap::new();
    for (index, rule_doc) in doc.rules.iter().enumerate() {
        if let Some(e) = &rule_doc.event
            && (schema::catalog::event(&e.value).is_some()
                || detectors.detector(&e.value).is_some())
        {
            named.entry(e.value.as_str()).or_insert(index);
        }
    }
    // What each rule kept, and what it left to others, for W310.
    let mut uses: Vec<lint::RuleUse> = Vec::with_capacity(doc.rules.len());
    let mut event_owner: HashMap<u32, usize> = HashMap::new();
    let mut detector_owner: HashMap<String, usize> = HashMap::new();
    let single_detector = |doc: &crate::ast::RuleDoc| {
        doc.event
            .as_ref()
            .is_some_and(|e| detectors.detector(&e.value).is_some())
    };
    for (index, rule_doc) in doc.rules.iter().enumerate() {
        let mut used = lint::RuleUse::default();
        if let Some(event) = &rule_doc.event {
            if let Some(first) = event_spans.get(event.value.as_str()) {
                diags.push(
                    Diagnostic::new(Code::DuplicateRule, format!("another rule for `{}` in this policy", event.value))
                        .at(file, event.span.clone())
                        .label("second rule")
                        .also(first.span.clone(), "first rule")
                        .help("a policy holds one rule per event: merge the two rules' filters into one, or move one into another policy"),
                );
            } else {
                event_spans.insert(&event.value, event);
            }
        }
        let (selected, detected) = rule::validate(rule_doc, file, containers, detectors, diags);
        if selected.is_empty() && detected.is_empty() {
            all_rules_empty = false;
        }
        for detection in detected {
            used.remember(&detection.filters, &detection.actions);
            // A detector named by a rule of its own, or by an earlier selection, stays there.
            let owner = if single_detector(rule_doc) {
                None
            } else {
                named.get(detection.detector.as_str()).copied()
            }
            .or_else(|| detector_owner.get(&detection.detector).copied());
            if let Some(owner) = owner {
                used.left.push((detection.detector.clone(), owner));
                continue;
            }
            used.kept = true;
            detector_owner.insert(detection.detector.clone(), index);
            all_rules_empty = false;
            detections.push(detection);
        }
        let single = rule_doc
            .event
            .as_ref()
            .is_some_and(|e| schema::catalog::event(&e.value).is_some());
        for result in selected {
            let event = result.rule.event;
            used.remember(&result.rule.filters, &result.rule.actions);
            let owner = if single {
                None
            } else {
                named
                    .get(event.name)
                    .or_else(|| event_owner.get(&event.id))
                    .copied()
            };
            if let Some(owner) = owner {
                used.left.push((event.name.to_owned(), owner));
                continue;
            }
            used.kept = true;
            event_owner.insert(event.id, index);
            all_rules_empty &= result.selects_nothing;
            rules.push(result.rule);
        }
        uses.push(used);
    }
    if diags.error_count() == errors_before {
        lint::shadowed_rules(&doc.rules, &uses, file, diags);
    }
    let name = doc.name.as_ref()?;
    // A scope that selects nothing already says so; rules only one by one.
    if all_rules_empty && doc.rules.len() > 1 && diags.error_count() == errors_before {
        diags.push(
            Diagnostic::new(
                Code::SelectsNothing,
                format!(
                    "policy `{}` selects nothing: none of its rules can match",
                    name.value
                ),
            )
            .at(file, name.span.clone())
            .label("this policy never reports an event")
            .help("the other warnings of this policy show which filters exclude everything"),
        );
    }
    Some(Policy {
        id: 0,
        name: name.value.clone(),
        description: doc.description.as_ref()?.value.clone(),
        file,
        name_span: name.span.clone(),
        global: scope.global,
        scope: scope.filters,
        default_actions,
        rules,
        detections,
    })
}

/// A Kubernetes DNS-1123 subdomain: lower-case alphanumerics, `-` and `.`, each
/// dot-separated part starting and ending alphanumeric, at most 253 characters.
fn check_name(name: &Text, file: FileId, diags: &mut Diagnostics) {
    let value = name.value.as_str();
    let help = || {
        let fixed = suggested_name(value);
        if fixed.is_empty() {
            "use lower-case letters, digits, `-` and `.`, e.g. `my-policy`".to_owned()
        } else {
            format!("use lower-case letters, digits, `-` and `.`, e.g. `{fixed}`")
        }
    };
    if value.len() > MAX_NAME_LEN {
        diags.push(
            Diagnostic::new(
                Code::InvalidName,
                format!(
                    "policy name is {} characters long; the limit is {MAX_NAME_LEN}",
                    value.len()
                ),
            )
            .at(file, name.span.clone())
            .label("too long")
            .help("shorten the name"),
        );
        return;
    }
    let bad_char = value
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '.'));
    if let Some((i, c)) = bad_char {
        let what = if c.is_ascii_uppercase() {
            format!("upper-case letter `{c}`")
        } else {
            format!("character `{}`", crate::filter::shown(&c.to_string()))
        };
        diags.push(
            Diagnostic::new(
                Code::InvalidName,
                format!("policy name `{value}` contains the {what}"),
            )
            .at(file, name.sub(i..i + c.len_utf8()))
            .label("not allowed in a name")
            .help(help()),
        );
        return;
    }
    let mut offset = 0;
    for part in value.split('.') {
        let starts = part
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let ends = part
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        if !(starts && ends) {
            let (message, at) = if part.is_empty() {
                (
                    "is empty between dots or at an end".to_owned(),
                    offset..offset + 1,
                )
            } else if !starts {
                ("starts with `-`".to_owned(), offset..offset + 1)
            } else {
                (
                    "ends with `-`".to_owned(),
                    offset + part.len() - 1..offset + part.len(),
                )
            };
            let at = at.start.min(value.len())..at.end.min(value.len());
            diags.push(
                Diagnostic::new(
                    Code::InvalidName,
                    format!("policy name `{value}`: a part {message}"),
                )
                .at(file, name.sub(at))
                .label("must be a letter or digit")
                .help(help()),
            );
            return;
        }
        offset += part.len() + 1;
    }
}

fn suggested_name(value: &str) -> String {
    let mapped: String = value
        .chars()
        .map(|c| match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' | '0'..='9' | '.' => c,
            _ => '-',
        })
        .collect();
    let parts: Vec<String> = mapped
        .split('.')
        .map(|p| p.trim_matches('-').to_owned())
        .filter(|p| !p.is_empty())
        .collect();
    let mut name = parts.join(".");
    name.truncate(MAX_NAME_LEN);
    name
}

fn duplicate_name(
    name: &Text,
    file: FileId,
    first: &Text,
    first_file: FileId,
    sources: &[SourceFile],
) -> Diagnostic {
    let diagnostic = Diagnostic::new(
        Code::DuplicatePolicyName,
        format!("another policy named `{}`", name.value),
    )
    .at(file, name.span.clone())
    .label("name used again");
    if first_file == file {
        diagnostic
            .also(first.span.clone(), "first use")
            .help("policy names must be unique across all input files: rename one")
    } else {
        let place = sources.get(first_file).map_or_else(String::new, |s| {
            let (line, column) = s.line_col(first.span.start);
            format!("{}:{line}:{column}", s.name)
        });
        diagnostic.help(format!("the name is already used at {place}; policy names must be unique across all input files"))
    }
}
