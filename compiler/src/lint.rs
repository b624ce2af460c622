//! Lints across rules and policies, on validated input: a rule whose events other rules of
//! its policy decide (W310), and a policy that repeats another (W311). The lints on one key's
//! values (W304, W308, W309) sit where the values are parsed (`filter.rs`, `scope.rs`,
//! `rule.rs`).

use std::collections::HashMap;

use crate::ast::RuleDoc;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{Action, Filter, Policy, RuleField};
use crate::source::{FileId, SourceFile};

/// At most this many event names in a message; the rest are counted.
const NAMES_SHOWN: usize = 8;

/// What one rule of a policy selected: whether it kept an event or detector of its own,
/// the ones it left to other rules (name, index of the deciding rule), and its filters and
/// actions, which every event it selects shares.
#[derive(Default)]
pub struct RuleUse {
    pub kept: bool,
    pub left: Vec<(String, usize)>,
    filters: Option<(Vec<Filter<RuleField>>, Vec<Action>)>,
}

impl RuleUse {
    pub fn remember(&mut self, filters: &[Filter<RuleField>], actions: &[Action]) {
        if self.filters.is_none() {
            self.filters = Some((filters.to_vec(), actions.to_vec()));
        }
    }
}

/// W310: a selection whose events are all decided by other rules adds nothing; one whose
/// events are partly decided by rules with other filters or actions does not apply its own
/// to them, which a reader of the policy would not guess.
pub fn shadowed_rules(docs: &[RuleDoc], uses: &[RuleUse], file: FileId, diags: &mut Diagnostics) {
    for (index, used) in uses.iter().enumerate() {
        let Some(event) = docs.get(index).and_then(|d| d.event.as_ref()) else {
            continue;
        };
        let differs = |owner: usize| match (&used.filters, uses.get(owner).map(|u| &u.filters)) {
            (Some((f, a)), Some(Some((of, oa)))) => !same_filters(f, of) || a != oa,
            _ => false,
        };
        let left: Vec<&(String, usize)> = if used.kept {
            used.left
                .iter()
                .filter(|(_, owner)| differs(*owner))
                .collect()
        } else {
            used.left.iter().collect()
        };
        if left.is_empty() {
            continue;
        }
        let mut shown: Vec<String> = left
            .iter()
            .take(NAMES_SHOWN)
            .map(|(name, _)| format!("`{name}`"))
            .collect();
        if left.len() > NAMES_SHOWN {
            shown.push(format!("{} more", left.len() - NAMES_SHOWN));
        }
        let names = shown.join(", ");
        let mut owners: Vec<usize> = left.iter().map(|(_, owner)| *owner).collect();
        owners.sort_unstable();
        owners.dedup();
        let (others, them) = match (owners.len(), left.len()) {
            (1, 1) => ("another rule", "it"),
            (1, _) => ("another rule", "them"),
            _ => ("other rules", "them"),
        };
        let (message, label, help) = if used.kept {
            (
                format!(
                    "this rule's filters do not apply to {names}: {others} of the policy decide{} {them}",
                    if owners.len() == 1 { "s" } else { "" }
                ),
                "filtered differently by another rule",
                "an event named by a rule of its own, or selected by an earlier rule, keeps that rule's filters and actions: write the filters you want on that rule, or select the event in another policy",
            )
        } else {
            (
                format!(
                    "this rule adds nothing: {others} of the policy decide{} all it selects ({names})",
                    if owners.len() == 1 { "s" } else { "" }
                ),
                "selects nothing of its own",
                "remove the rule, or move it into a policy of its own if its filters should apply too",
            )
        };
        let mut diagnostic = Diagnostic::new(Code::ShadowedRule, message)
            .at(file, event.span.clone())
            .label(label)
            .help(help);
        for owner in owners {
            if let Some(text) = docs.get(owner).and_then(|d| d.event.as_ref()) {
                diagnostic = diagnostic.also(text.span.clone(), format!("decides {them}"));
            }
        }
        diags.push(diagnostic);
    }
}

/// The same filters, in any order, spans aside.
fn same_filters<K: PartialEq>(a: &[Filter<K>], b: &[Filter<K>]) -> bool {
    let covers = |x: &[Filter<K>], y: &[Filter<K>]| {
        x.iter().all(|f| {
            y.iter()
                .any(|g| g.key == f.key && g.op == f.op && g.values == f.values)
        })
    };
    a.len() == b.len() && covers(a, b) && covers(b, a)
}

/// A policy's meaning without its name, description and positions: two policies with the
/// same key select and report the same events.
fn meaning(policy: &Policy) -> String {
    fn filter<K: std::fmt::Debug>(f: &Filter<K>) -> String {
        let mut values: Vec<String> = f.values.iter().map(|v| format!("{v:?}")).collect();
        values.sort();
        values.dedup();
        format!("{:?} {} {}", f.key, f.op.as_str(), values.join(","))
    }
    fn filters<K: std::fmt::Debug>(fs: &[Filter<K>]) -> String {
        let mut all: Vec<String> = fs.iter().map(filter).collect();
        all.sort();
        all.join(";")
    }
    let mut rules: Vec<String> = policy
        .rules
        .iter()
        .map(|r| format!("{} [{}] {:?}", r.event.id, filters(&r.filters), r.actions))
        .chain(policy.detections.iter().map(|d| {
            format!(
                "detector {} [{}] {:?}",
                d.detector,
                filters(&d.filters),
                d.actions
            )
        }))
        .collect();
    rules.sort();
    format!(
        "{} [{}] {:?}\n{}",
        policy.global,
        filters(&policy.scope),
        policy.default_actions,
        rules.join("\n")
    )
}

/// W311: a policy with the same scope, rules and actions as an earlier one, under another
/// name. It reports every event twice and takes one of the 64 policy bits.
pub fn duplicate_policies(policies: &[Policy], sources: &[SourceFile], diags: &mut Diagnostics) {
    let mut seen: HashMap<String, &Policy> = HashMap::new();
    for policy in policies {
        let key = meaning(policy);
        let Some(first) = seen.get(&key).copied() else {
            seen.insert(key, policy);
            continue;
        };
        let diagnostic = Diagnostic::new(
            Code::DuplicatePolicy,
            format!(
                "policy `{}` is the same as policy `{}`: same scope, rules and actions",
                policy.name, first.name
            ),
        )
        .at(policy.file, policy.name_span.clone())
        .label("repeats another policy");
        let help = "each event is reported once per policy that selects it: remove one of the two, or change what one of them selects";
        let diagnostic = if first.file == policy.file {
            diagnostic
                .also(first.name_span.clone(), "first policy")
                .help(help)
        } else {
            let place = sources.get(first.file).map_or_else(String::new, |s| {
                let (line, column) = s.line_col(first.name_span.start);
                format!(" (`{}` is at {}:{line}:{column})", first.name, s.name)
            });
            diagnostic.help(format!("{help}{place}"))
        };
        diags.push(diagnostic);
    }
}

#[cfg(test)]
mod tests {
    /// The codes a policy text gets, in order of position.
    fn codes(text: &str) -> Vec<&'static str> {
        crate::check_text("t.yaml", text)
            .sorted_diagnostics()
            .iter()
            .map(|d| d.code.id())
            .collect()
    }

    fn policy(name: &str, scope: &str, rules: &str) -> String {
        format!("type: policy\nname: {name}\ndescription: d\nscope: [{scope}]\nrules:\n{rules}")
    }

    fn rule(event: &str, filters: &[&str]) -> String {
        let list: Vec<String> = filters.iter().map(|f| format!("'{f}'")).collect();
        format!("  - event: {event}\n    filters: [{}]\n", list.join(", "))
    }

    #[test]
    fn a_bound_at_the_type_limit_does_nothing() {
        let one = |scope: &str| codes(&policy("p", scope, "  - event: openat\n"));
        // A lone scope bound that admits everything is the "every user" idiom.
        assert!(one("uid>=0").is_empty());
        assert!(one("uid<=4294967295").is_empty());
        assert_eq!(one("uid>5, uid>=0"), ["W308"]);
        assert_eq!(one("uid<=4294967295, uid<10"), ["W308"]);
        assert!(one("uid>=1").is_empty());
        assert!(one("uid>=0, uid<0").contains(&"W304"));
        assert!(!one("uid>=0, uid<0").contains(&"W308"));
        let r = |filters: &[&str]| codes(&policy("p", "global", &rule("write", filters)));
        assert_eq!(r(&["retval>=-9223372036854775808"]), ["W308"]);
        assert!(r(&["retval>=-1"]).is_empty());
        assert_eq!(r(&["container=true,false"]), ["W308"]);
        assert!(r(&["container=true"]).is_empty());
    }

    #[test]
    fn not_equal_to_every_value_never_matches() {
        let r = |filters: &[&str]| codes(&policy("p", "global", &rule("write", filters)));
        assert_eq!(r(&["podSandbox!=true,false"]), ["W304"]);
        assert_eq!(r(&["podSandbox!=true", "podSandbox!=false"]), ["W304"]);
        assert!(r(&["podSandbox!=true"]).is_empty());
        assert_eq!(r(&["retval>=0", "retval<=2", "retval!=0,1,2"]), ["W304"]);
        assert!(r(&["retval>=0", "retval<=2", "retval!=0,1"]).is_empty());
    }

    #[test]
    fn container_ids_the_loader_cannot_match() {
        let hex64 = "0123456789abcdef".repeat(4);
        let scope = |id: &str| {
            codes(&policy(
                "p",
                &format!("'container={id}'"),
                "  - event: openat\n",
            ))
        };
        assert!(scope("3f2504e0a1b2").is_empty());
        assert!(scope(&hex64).is_empty());
        assert_eq!(scope("3f2504e0a1b"), ["W309"]);
        assert_eq!(scope(&format!("{hex64}0")), ["W309"]);
        assert_eq!(scope("3F2504E0A1B2"), ["W309"]);
        assert_eq!(scope("my-web-container"), ["W309"]);
        assert!(scope("new").is_empty());
        let ne = codes(&policy("p", "'container!=abc'", "  - event: openat\n"));
        assert_eq!(ne, ["W309"]);
        let r = |f: &str| codes(&policy("p", "container", &rule("openat", &[f])));
        assert!(r(&format!("containerId={hex64}")).is_empty());
        assert!(r("containerId=3f2504e0*").is_empty());
        assert_eq!(r("containerId=3f2504e0a1b2"), ["W309"]);
        assert_eq!(r("containerId=web*"), ["W309"]);
    }

    #[test]
    fn a_selection_shadowed_by_other_rules() {
        let check = |rules: &[String]| codes(&policy("p", "global", &rules.concat()));
        // Same filters: the other rule decides as this one would.
        assert!(check(&[rule("openat", &["uid=0"]), rule("openat,close", &["uid=0"])]).is_empty());
        // Other filters, whichever rule comes first.
        assert_eq!(
            check(&[rule("openat", &["uid=0"]), rule("openat,close", &["uid=1"])]),
            ["W310"]
        );
        assert_eq!(
            check(&[rule("openat,close", &["uid=1"]), rule("openat", &["uid=0"])]),
            ["W310"]
        );
        // Of two selections the first takes an event.
        assert_eq!(
            check(&[
                rule("openat,close", &["uid=1"]),
                rule("close,read", &["uid=0"])
            ]),
            ["W310"]
        );
        // Nothing of its own: reported even with the same filters.
        assert_eq!(
            check(&[
                rule("openat", &["uid=0"]),
                rule("close", &["uid=0"]),
                rule("openat,close", &["uid=0"])
            ]),
            ["W310"]
        );
        assert!(check(&[rule("openat", &[]), rule("close,read", &[])]).is_empty());
    }

    #[test]
    fn a_policy_that_repeats_another() {
        let a = policy(
            "a",
            "uid=0, 'comm=cat,less'",
            &rule("openat", &["args.pathname=/etc/*"]),
        );
        let b = policy(
            "b",
            "'comm=less,cat', uid=0",
            &rule("openat", &["args.pathname=/etc/*"]),
        );
        assert_eq!(codes(&format!("{a}---\n{b}")), ["W311"]);
        let c = policy(
            "c",
            "uid=0, 'comm=cat,less'",
            &rule("openat", &["args.pathname=/tmp/*"]),
        );
        assert!(codes(&format!("{a}---\n{c}")).is_empty());
        let d = policy(
            "d",
            "uid=0, 'comm=cat,less'",
            "  - event: openat\n    filters: ['args.pathname=/etc/*']\n    actions: [log]\n",
        );
        assert!(codes(&format!("{a}---\n{d}")).is_empty());
        let e = policy(
            "e",
            "uid=1, 'comm=cat,less'",
            &rule("openat", &["args.pathname=/etc/*"]),
        );
        assert!(codes(&format!("{a}---\n{e}")).is_empty());
    }
}
