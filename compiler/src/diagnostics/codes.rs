//! Every diagnostic code, in one table. Codes are stable: never renumber or reuse one; retire
//! it instead. `docs/diagnostics.md` explains each (a test keeps the two in step).

use super::Severity;

pub struct CodeInfo {
    pub code: Code,
    /// The stable identifier shown to users, e.g. `E220`.
    pub id: &'static str,
    /// Kebab-case name, used as the SARIF rule name and the docs anchor's title.
    pub name: &'static str,
    pub severity: Severity,
    /// One line for SARIF rule descriptions and `docs/diagnostics.md`.
    pub summary: &'static str,
}

use Severity::{Error, Warning};

/// The table below defines both the `Code` enum and `CODES`, so the two cannot drift.
macro_rules! table {
    ($($code:ident $id:literal $name:literal $sev:ident $summary:literal;)*) => {
        /// A diagnostic kind; E1xx the file and document shape, E2xx the policy's meaning,
        /// W3xx legal but suspicious input.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code { $($code,)* }

        pub const CODES: &[CodeInfo] = &[
            $(CodeInfo { code: Code::$code, id: $id, name: $name, severity: $sev, summary: $summary },)*
        ];

        impl Code {
            pub fn info(self) -> &'static CodeInfo {
                match self {
                    $(Code::$code => &CodeInfo { code: Code::$code, id: $id, name: $name, severity: $sev, summary: $summary },)*
                }
            }
        }
    };
}

table! {
    YamlSyntax "E101" "yaml-syntax" Error "the file is not valid YAML or JSON";
    InvalidUtf8 "E102" "invalid-utf8" Error "the file is not valid UTF-8 text";
    EmptyFile "E103" "empty-file" Error "the file holds no policy document";
    FileTooLarge "E104" "file-too-large" Error "the file is larger than the size limit";
    ResourceLimit "E105" "resource-limit" Error "the document exceeds a parser budget (nesting, nodes, aliases)";
    DuplicateKey "E106" "duplicate-key" Error "a mapping has the same key twice";
    UnknownKey "E107" "unknown-key" Error "a key that the policy format does not define";
    WrongType "E108" "wrong-type" Error "a value of the wrong kind (list, mapping or string expected)";
    UnknownFormat "E109" "unknown-format" Error "the document has no recognised apiVersion/kind or type header";
    MissingField "E110" "missing-field" Error "a required field is missing or empty";
    NotAFile "E111" "not-a-file" Error "a policy path names a FIFO, socket, device or broken link, not a file";
    UnrenderedTemplate "E112" "unrendered-template" Error "template syntax (`{{ ... }}`) left in a policy file: render it first";
    InvalidName "E201" "invalid-name" Error "the policy name is not a DNS-1123 subdomain";
    DuplicatePolicyName "E202" "duplicate-policy-name" Error "two policies have the same name";
    NoPolicies "E203" "no-policies" Error "the input holds no policy at all";
    TooManyPolicies "E204" "too-many-policies" Error "more than 64 policies in the input";
    GlobalNotAlone "E205" "global-not-alone" Error "`global` is combined with other scope entries";
    UnknownScopeKey "E206" "unknown-scope-key" Error "a scope entry names no known scope key";
    InvalidOperator "E207" "invalid-operator" Error "an operator that is malformed or not allowed for this key";
    InvalidValue "E208" "invalid-value" Error "a value that does not parse as the key's type";
    EmptyListItem "E209" "empty-list-item" Error "an empty item in a comma-separated list";
    MissingValue "E210" "missing-value" Error "an operator with nothing after it";
    UnknownEvent "E211" "unknown-event" Error "the rule names an event that is not in the catalog";
    DuplicateRule "E212" "duplicate-rule" Error "two rules of one policy select the same event";
    UnknownField "E213" "unknown-field" Error "a rule filter names an unknown context field";
    UnknownArgument "E214" "unknown-argument" Error "an `args.`/`data.` filter names an argument the event does not have";
    UnfilterableArgument "E215" "unfilterable-argument" Error "the argument's type cannot be filtered";
    MisplacedWildcard "E216" "misplaced-wildcard" Error "a `*` that is not at the start or end of a string value";
    InvalidAction "E217" "invalid-action" Error "an action other than `log` or `print`";
    MissingOperator "E218" "missing-operator" Error "a filter without a comparison operator";
    KernelLimit "E219" "kernel-limit" Error "a value or filter set exceeds what the kernel maps can hold";
    EventNotProduced "E220" "event-not-produced" Error "a Tracee event that this loader does not produce";
    FiltersOnSelection "E221" "filters-on-selection" Error "an argument or return-value filter on a list or set of events";
    SyscallsToCheck "E222" "syscalls-to-check" Error "a syscall-checking event without the syscalls it checks";
    InvalidDetector "E224" "invalid-detector" Error "a detector document that does not read as Tracee's YAML detector format, or names what does not exist";
    ValueTooLong "W301" "value-too-long" Warning "a string longer than the kernel field it is compared with";
    MixedEquality "W302" "mixed-equality" Warning "`=` and `!=` mixed on one field";
    ContainerConflict "W303" "container-conflict" Warning "`container` together with `not-container`";
    SelectsNothing "W304" "selects-nothing" Warning "a scope or rule that can never match any event";
    SetMembersNotProduced "W305" "set-members-not-produced" Warning "events of a selected set that this loader does not produce, left out";
    DetectorNotProduced "W306" "detector-not-produced" Warning "a Tracee detector whose base events this loader cannot produce: the rule never fires";
    OtherKindSkipped "W307" "other-kind-skipped" Warning "a Kubernetes object of another kind (a rendered chart's ConfigMap, Deployment, ...) skipped";
    AlwaysMatches "W308" "always-matches" Warning "a filter that every value passes: it does nothing";
    ContainerIdNeverMatches "W309" "container-id-never-matches" Warning "a container id that no container's id can match (too short, too long, or not hex)";
    ShadowedRule "W310" "shadowed-rule" Warning "events of a rule that other rules of the policy decide: its filters do not apply to them";
    DuplicatePolicy "W311" "duplicate-policy" Warning "a policy with the same scope, rules and actions as another";
    TestFailed "E401" "test-failed" Error "a policy test case: the image does not match what the case expects";
    InvalidTest "E402" "invalid-test" Error "a policy test file or case is malformed";
}

impl Code {
    pub fn id(self) -> &'static str {
        self.info().id
    }

    pub fn severity(self) -> Severity {
        self.info().severity
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique_and_match_their_severity() {
        let mut ids = HashSet::new();
        let mut codes = HashSet::new();
        for info in CODES {
            assert!(ids.insert(info.id), "duplicate id {}", info.id);
            assert!(codes.insert(info.code), "duplicate code {:?}", info.code);
            let expected = if info.id.starts_with('W') {
                Warning
            } else {
                Error
            };
            assert_eq!(info.severity, expected, "{}", info.id);
            assert_eq!(info.code.info().id, info.id);
        }
    }
}
