//! The policy JSON Schema (`schema/policy.schema.json`, exported as
//! `schema::POLICY_JSON_SCHEMA`) compiles as draft 2020-12, accepts the three document forms and
//! the bundled policies, and rejects the usual mistakes at the right place.
//!
//! Invalid fixtures are one-line edits of a valid document, and each names the instance path
//! where the schema must complain, so a fixture cannot pass by failing for another reason.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use jsonschema::Validator;
use serde_json::{Value, json};

/// The seed policy of the brief (era 1 CRD form).
const SEED: &str = "\
apiVersion: aquasecurity.github.io/v1beta1
kind: TraceePolicy
metadata:
    name: overview-policy
    annotations:
        description: sample overview policy
spec:
    scope:
      - global
    rules:
      - event: dropped_executable
      - event: security_file_open
        filters:
        - args.pathname=/tmp/*
      - event: sched_process_exec
        filters:
        - uid=0
      - event: close
        filters:
        - retval!=0
";

/// Era 2 CRD form, with actions and `data.` filters.
const ERA2: &str = "\
apiVersion: tracee.aquasec.com/v1beta1
kind: Policy
metadata:
  name: exec-audit
  annotations:
    description: executions by root in bash shells
spec:
  scope:
    - comm=bash,sh
    - uid = 0
    - follow
  defaultActions:
    - log
  rules:
    - event: sched_process_exec
      actions: [print]
    - event: openat
      filters:
        - data.pathname=/etc/*
        - retval<0
        - uid>=1000
";

/// Plain form.
const PLAIN: &str = "\
type: Policy
name: tmp.writers
description: who opens files under /tmp
version: 1
scope:
  - not-container
  - executable=/usr/bin/ls
defaultActions: [log, print]
rules:
  - event: security_file_open
    filters:
      - data.pathname=/tmp/*
  - event: close
    filters: []
    actions: []
";

/// Era 2 CRD as `kubectl get -o yaml` prints it: standard object metadata and a status.
const KUBECTL: &str = r#"
apiVersion: tracee.aquasec.com/v1beta1
kind: Policy
metadata:
  annotations:
    description: sample overview policy
    kubectl.kubernetes.io/last-applied-configuration: "{}"
  creationTimestamp: "2024-01-31T12:00:00Z"
  generation: 1
  labels:
    app.kubernetes.io/name: tracee
  name: overview-policy
  namespace: tracee-system
  resourceVersion: "123456"
  uid: 6b1c3f5e-0d1a-4c1e-9a53-1f3b8f0c2d11
  finalizers:
    - example.com/cleanup
  ownerReferences:
    - apiVersion: v1
      kind: ConfigMap
      name: policies
      uid: 0f4e1a2b-3c4d-5e6f-7a8b-9c0d1e2f3a4b
      controller: true
  managedFields:
    - apiVersion: tracee.aquasec.com/v1beta1
      fieldsType: FieldsV1
      fieldsV1:
        f:spec:
          f:scope: {}
      manager: kubectl-client-side-apply
      operation: Update
      time: "2024-01-31T12:00:00Z"
spec:
  scope:
    - global
  rules:
    - event: sched_process_exec
status: {}
"#;

fn schema_value() -> Value {
    serde_json::from_str(schema::POLICY_JSON_SCHEMA)
        .unwrap_or_else(|e| panic!("schema/policy.schema.json is not JSON: {e}"))
}

#[track_caller]
fn compile(schema: &Value) -> Validator {
    jsonschema::draft202012::new(schema)
        .unwrap_or_else(|e| panic!("schema does not compile as draft 2020-12: {e}"))
}

/// Validator of the whole schema (the top-level `oneOf`).
fn validator() -> &'static Validator {
    static VALIDATOR: LazyLock<Validator> = LazyLock::new(|| compile(&schema_value()));
    &VALIDATOR
}

/// Validator of one branch (`crdDocument` or `plainDocument`) instead of the `oneOf`, so that
/// errors point inside the document rather than at "not valid under any of the schemas".
fn branch_validator(def: &str) -> Validator {
    let mut schema = schema_value();
    let Some(root) = schema.as_object_mut() else {
        panic!("schema root is not an object");
    };
    assert!(root.remove("oneOf").is_some(), "schema root has no oneOf");
    root.insert("$ref".to_owned(), json!(format!("#/$defs/{def}")));
    compile(&schema)
}

fn branch_for(doc: &Value) -> &'static Validator {
    static CRD: LazyLock<Validator> = LazyLock::new(|| branch_validator("crdDocument"));
    static PLAIN: LazyLock<Validator> = LazyLock::new(|| branch_validator("plainDocument"));
    if doc.get("type").is_some() {
        &PLAIN
    } else {
        &CRD
    }
}

/// `(instance path, message)` of every error the matching branch reports.
fn branch_errors(doc: &Value) -> Vec<(String, String)> {
    branch_for(doc)
        .iter_errors(doc)
        .map(|e| (e.instance_path.as_str().to_owned(), e.to_string()))
        .collect()
}

#[track_caller]
fn yaml(text: &str) -> Value {
    serde_saphyr::from_str::<Value>(text)
        .unwrap_or_else(|e| panic!("fixture is not YAML: {e}\n{text}"))
}

/// `base` with `from` (which must occur exactly once) replaced by `to`.
#[track_caller]
fn edit(base: &str, from: &str, to: &str) -> String {
    assert_eq!(
        base.matches(from).count(),
        1,
        "{from:?} must occur once in the fixture"
    );
    base.replacen(from, to, 1)
}

#[track_caller]
fn assert_valid_doc(what: &str, doc: &Value) {
    if !validator().is_valid(doc) {
        panic!(
            "{what} should be VALID; errors: {:#?}\n{doc:#}",
            branch_errors(doc)
        );
    }
}

#[track_caller]
fn assert_valid(what: &str, text: &str) {
    assert_valid_doc(what, &yaml(text));
}

/// The document is rejected, and the branch it belongs to reports an error at `path`.
#[track_caller]
fn assert_invalid(what: &str, text: &str, path: &str) {
    let doc = yaml(text);
    assert!(
        !validator().is_valid(&doc),
        "{what} should be INVALID\n{text}"
    );
    let errors = branch_errors(&doc);
    assert!(
        errors.iter().any(|(p, _)| p == path),
        "{what}: expected an error at {path:?}, got {errors:#?}"
    );
}

#[test]
fn schema_is_valid_draft_2020_12() {
    let schema = schema_value();
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("schema violates the draft 2020-12 meta-schema: {e}");
    }
    assert_eq!(
        schema.get("$schema").and_then(Value::as_str),
        Some("https://json-schema.org/draft/2020-12/schema")
    );
    assert!(
        schema.get("$id").and_then(Value::as_str).is_some(),
        "schema has no $id"
    );
    compile(&schema);
    branch_validator("crdDocument");
    branch_validator("plainDocument");
}

/// Every property an editor can hover over carries a `description` and a `markdownDescription`.
#[test]
fn every_property_is_documented() {
    fn walk(node: &Value, at: &str, missing: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::Object(props)) = map.get("properties") {
                    for (name, prop) in props {
                        let resolved_by_ref = prop.get("$ref").is_some();
                        let documented = prop.get("description").is_some()
                            && prop.get("markdownDescription").is_some();
                        // Properties inside `if` only select a branch; nobody hovers over them.
                        if !resolved_by_ref && !documented && !at.contains("/if") {
                            missing.push(format!("{at}/properties/{name}"));
                        }
                    }
                }
                for (key, child) in map {
                    walk(child, &format!("{at}/{key}"), missing);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    walk(child, &format!("{at}/{i}"), missing);
                }
            }
            _ => {}
        }
    }
    let schema = schema_value();
    let mut missing = Vec::new();
    walk(&schema, "#", &mut missing);
    // Targets of `$ref` must be documented themselves.
    if let Some(Value::Object(defs)) = schema.get("$defs") {
        for (name, def) in defs {
            if def.get("description").is_none() || def.get("markdownDescription").is_none() {
                missing.push(format!("#/$defs/{name}"));
            }
        }
    }
    assert!(missing.is_empty(), "undocumented: {missing:#?}");
}

#[test]
fn yaml_converts_to_json_values() {
    let doc = yaml(SEED);
    assert_eq!(
        doc["spec"]["rules"][1]["filters"][0],
        json!("args.pathname=/tmp/*")
    );
    assert_eq!(yaml(PLAIN)["version"], json!(1));
}

#[test]
fn valid_documents() {
    assert_valid("seed policy (era 1 TraceePolicy)", SEED);
    assert_valid("era 2 Policy", ERA2);
    assert_valid("plain form", PLAIN);
    assert_valid("CRD with Kubernetes metadata and status", KUBECTL);
    assert_valid(
        "plain form, type in capitals with spaces, string version",
        &edit(
            &edit(PLAIN, "type: Policy", "type: ' POLICY '"),
            "version: 1",
            "version: '1.0'",
        ),
    );
    assert_valid(
        "plain form without the optional keys",
        &edit(
            &edit(PLAIN, "version: 1\n", ""),
            "defaultActions: [log, print]\n",
            "",
        ),
    );
    assert_valid(
        "name of exactly 253 characters",
        &edit(
            SEED,
            "name: overview-policy",
            &format!("name: {}", "a".repeat(253)),
        ),
    );
    assert_valid(
        "dotted name",
        &edit(SEED, "name: overview-policy", "name: a.b-c.0"),
    );
    assert_valid("empty status", &format!("{SEED}status:\n  phase: ok\n"));
}

/// Scope entries and filters the patterns must not reject.
#[test]
fn valid_scope_entries_and_filters() {
    let scope = [
        "global",
        "follow",
        "container",
        "not-container",
        "uid=0",
        "uid = 0",
        " uid != 0 ",
        "uid<=1000",
        "uid < = 1000",
        "uid>1000",
        "pid=new",
        "pid!=new",
        "pid>=1",
        "mntns=4026531840",
        "pidns!=4026531836",
        "uts=myhost",
        "comm=bash,sh",
        "comm=my proc",
        "container=new",
        "container!=new",
        "container=started",
        "container=0123456789ab",
        "tree=1234",
        "tree!=1,2",
        "executable=/usr/bin/ls",
        "executable=host:/usr/bin/ls",
        "exec=4026531840:/bin/sh",
        "binary=/bin/sh",
        "bin=/bin/sh",
    ];
    for entry in scope {
        assert_valid_doc(
            &format!("scope entry {entry:?}"),
            &json!({"type": "policy", "name": "p", "description": "d", "scope": [entry],
                    "rules": [{"event": "openat"}]}),
        );
    }
    let filters = [
        "args.pathname=/tmp/*",
        "data.pathname!=*.so",
        "data.fd=3",
        "data.argv=ls -la",
        "retval<0",
        "retval>=0",
        "retval<=-1",
        "retval!=0",
        "retval=1,2",
        "uid>=1000",
        "uid=1000",
        "comm=bash",
        "processName!=sshd",
        "container",
        "host",
        "containerImage=nginx:*",
        "host=true",
        "container=started",
    ];
    for filter in filters {
        assert_valid_doc(
            &format!("filter {filter:?}"),
            &json!({"type": "policy", "name": "p", "description": "d", "scope": ["global"],
                    "rules": [{"event": "openat", "filters": [filter]}]}),
        );
    }
}

/// The `examples` shown by editors are themselves valid.
#[test]
fn schema_examples_are_valid() {
    let schema = schema_value();
    let examples = |def: &str| -> Vec<Value> {
        schema["$defs"][def]["examples"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| panic!("$defs/{def} has no examples"))
    };
    for entry in examples("scopeEntry") {
        assert_valid_doc(
            &format!("scope example {entry}"),
            &json!({"type": "policy", "name": "p", "description": "d", "scope": [entry],
                    "rules": [{"event": "openat"}]}),
        );
    }
    for filter in examples("filter") {
        assert_valid_doc(
            &format!("filter example {filter}"),
            &json!({"type": "policy", "name": "p", "description": "d", "scope": ["global"],
                    "rules": [{"event": "openat", "filters": [filter]}]}),
        );
    }
    for name in examples("name") {
        assert_valid_doc(
            &format!("name example {name}"),
            &json!({"type": "policy", "name": name, "description": "d", "scope": ["global"],
                    "rules": [{"event": "openat"}]}),
        );
    }
}

#[test]
fn invalid_documents() {
    let no_description = "        description: sample overview policy\n";
    assert_invalid(
        "missing description",
        &edit(SEED, no_description, "        owner: sec-team\n"),
        "/metadata/annotations",
    );
    assert_invalid(
        "empty description",
        &edit(
            SEED,
            "description: sample overview policy",
            "description: ''",
        ),
        "/metadata/annotations/description",
    );
    assert_invalid(
        "blank description",
        &edit(
            SEED,
            "description: sample overview policy",
            "description: '   '",
        ),
        "/metadata/annotations/description",
    );
    assert_invalid(
        "plain form without description",
        &edit(PLAIN, "description: who opens files under /tmp\n", ""),
        "",
    );
    assert_invalid("unknown top-level key", &edit(SEED, "spec:", "spek:"), "");
    assert_invalid(
        "unknown metadata key",
        &edit(SEED, "    name:", "    nmae:"),
        "/metadata",
    );
    assert_invalid(
        "unknown rule key",
        &edit(
            SEED,
            "        filters:\n        - args",
            "        filter:\n        - args",
        ),
        "/spec/rules/1",
    );
    assert_invalid(
        "unknown spec key",
        &edit(ERA2, "  defaultActions:", "  defaultAction:"),
        "/spec",
    );
    assert_invalid("unknown plain key", &edit(PLAIN, "scope:", "Scope:"), "");
    assert_invalid(
        "scope is a string",
        &edit(SEED, "    scope:\n      - global", "    scope: global"),
        "/spec/scope",
    );
    assert_invalid(
        "empty scope",
        &edit(SEED, "    scope:\n      - global", "    scope: []"),
        "/spec/scope",
    );
    let rules_start = SEED
        .find("    rules:")
        .unwrap_or_else(|| panic!("seed has no rules"));
    assert_invalid(
        "empty rules",
        &format!("{}    rules: []\n", &SEED[..rules_start]),
        "/spec/rules",
    );
    assert_invalid(
        "rule without event",
        &edit(
            SEED,
            "      - event: dropped_executable",
            "      - actions: [log]",
        ),
        "/spec/rules/0",
    );
    assert_invalid(
        "name with uppercase letters",
        &edit(SEED, "name: overview-policy", "name: Overview-Policy"),
        "/metadata/name",
    );
    assert_invalid(
        "name with 254 characters",
        &edit(
            SEED,
            "name: overview-policy",
            &format!("name: {}", "a".repeat(254)),
        ),
        "/metadata/name",
    );
    assert_invalid(
        "name ending with a dash",
        &edit(SEED, "name: overview-policy", "name: overview-"),
        "/metadata/name",
    );
    assert_invalid(
        "name with an underscore",
        &edit(PLAIN, "name: tmp.writers", "name: tmp_writers"),
        "/name",
    );
    assert_invalid(
        "scope entry uid==0",
        &edit(SEED, "      - global", "      - uid==0"),
        "/spec/scope/0",
    );
    assert_invalid(
        "filter without operator",
        &edit(SEED, "- args.pathname=/tmp/*", "- args.pathname"),
        "/spec/rules/1/filters/0",
    );
    assert_invalid(
        "rule action alert",
        &edit(
            SEED,
            "      - event: dropped_executable",
            "      - event: dropped_executable\n        actions: [alert]",
        ),
        "/spec/rules/0/actions/0",
    );
    assert_invalid(
        "default action alert",
        &edit(ERA2, "    - log", "    - alert"),
        "/spec/defaultActions/0",
    );
    assert_invalid(
        "era 1 apiVersion with kind Policy",
        &edit(SEED, "kind: TraceePolicy", "kind: Policy"),
        "/kind",
    );
    assert_invalid(
        "era 2 apiVersion with kind TraceePolicy",
        &edit(ERA2, "kind: Policy", "kind: TraceePolicy"),
        "/kind",
    );
    assert_invalid(
        "unknown apiVersion",
        &edit(ERA2, "tracee.aquasec.com/v1beta1", "tracee.aquasec.com/v1"),
        "/apiVersion",
    );
    assert_invalid(
        "plain type misspelt",
        &edit(PLAIN, "type: Policy", "type: policies"),
        "/type",
    );
    assert_invalid("no header at all", &edit(PLAIN, "type: Policy\n", ""), "");
}

/// Scope entries and filters the patterns must reject.
#[test]
fn invalid_scope_entries_and_filters() {
    let scope = [
        "uid==0",
        "uid=>0",
        "uid=<0",
        "uid<>0",
        "uid=",
        "uid = ",
        "=0",
        "!container",
        "not-container=1",
        "user=0",
        "Comm=bash",
        "globa",
        "",
    ];
    for entry in scope {
        let doc = json!({"type": "policy", "name": "p", "description": "d", "scope": [entry],
                         "rules": [{"event": "openat"}]});
        assert!(
            !validator().is_valid(&doc),
            "scope entry {entry:?} should be INVALID"
        );
    }
    for scope in [
        json!(["global", "uid=0"]),
        json!(["global", "global"]),
        json!(["follow", " global "]),
    ] {
        let doc = json!({"type": "policy", "name": "p", "description": "d", "scope": scope,
                         "rules": [{"event": "openat"}]});
        assert!(
            !validator().is_valid(&doc),
            "scope {scope} should be INVALID (global not alone)"
        );
    }
    let filters = [
        "args.pathname",
        "uid==0",
        "uid!==0",
        "retval=>0",
        "uid = 0",
        "uid=",
        "=0",
        " uid=0",
        "data.path name=x",
        "",
    ];
    for filter in filters {
        let doc = json!({"type": "policy", "name": "p", "description": "d", "scope": ["global"],
                         "rules": [{"event": "openat", "filters": [filter]}]});
        assert!(
            !validator().is_valid(&doc),
            "filter {filter:?} should be INVALID"
        );
    }
    for event in ["", " openat", "openat "] {
        let doc = json!({"type": "policy", "name": "p", "description": "d", "scope": ["global"],
                         "rules": [{"event": event}]});
        assert!(
            !validator().is_valid(&doc),
            "event {event:?} should be INVALID"
        );
    }
}

fn policies_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/policies")
}

/// Every bundled policy (`*.yaml`, `*.yml`, `*.json` directly in testdata/policies) is valid;
/// YAML files may hold several documents.
#[test]
fn bundled_policies_are_valid() {
    let dir = policies_dir();
    let entries =
        fs::read_dir(&dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    let validator = validator();
    let mut checked = 0;
    let mut failures = Vec::new();
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .path();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        // Policy test files (`*.test.yaml`) are not policies.
        let test_file = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"));
        if !path.is_file() || test_file || !matches!(ext, "yaml" | "yml" | "json") {
            continue;
        }
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let docs: Vec<Value> = if ext == "json" {
            vec![serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))]
        } else {
            serde_saphyr::from_multiple::<Value>(&text)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        };
        for (i, doc) in docs.iter().enumerate() {
            checked += 1;
            if !validator.is_valid(doc) {
                failures.push(format!(
                    "{} (document {}): {:#?}",
                    path.display(),
                    i + 1,
                    branch_errors(doc)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "bundled policies rejected by the schema:\n{}",
        failures.join("\n")
    );
    eprintln!(
        "{checked} bundled policy document(s) valid in {}",
        dir.display()
    );
}
