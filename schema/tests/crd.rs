//! The Policy CRD shipped in `deploy/crds/` and the policy JSON Schema describe the same
//! object: the spec's and a rule's properties and required fields are the same, and the CRD
//! names Tracee's group, kind and list kind (what `kubectl get -o yaml` prints).

use serde_json::Value;

fn crd() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/crds/policies.tracee.aquasec.com.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

fn schema() -> Value {
    serde_json::from_str(schema::POLICY_JSON_SCHEMA).unwrap_or_else(|e| panic!("{e}"))
}

fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

fn strings(v: &Value) -> Vec<String> {
    let mut s: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    s.sort();
    s
}

#[test]
fn the_crd_names_tracees_resource() {
    let c = crd();
    assert_eq!(c["kind"], "CustomResourceDefinition");
    assert_eq!(c["metadata"]["name"], "policies.tracee.aquasec.com");
    let spec = &c["spec"];
    assert_eq!(spec["group"], "tracee.aquasec.com");
    assert_eq!(spec["names"]["kind"], "Policy");
    assert_eq!(spec["names"]["listKind"], "PolicyList");
    assert_eq!(spec["names"]["plural"], "policies");
    assert_eq!(spec["versions"][0]["name"], "v1beta1");
    // The same group/version as the schema's current CRD form.
    let s = schema();
    let versions = strings(&s["$defs"]["crdDocument"]["properties"]["apiVersion"]["enum"]);
    assert!(
        versions.contains(&"tracee.aquasec.com/v1beta1".to_owned()),
        "{versions:?}"
    );
}

#[test]
fn the_crd_and_the_json_schema_agree_on_spec_and_rules() {
    let c = crd();
    let open_api = &c["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
    let s = schema();
    let defs = &s["$defs"];
    let crd_spec = &open_api["properties"]["spec"];
    assert_eq!(
        keys(&crd_spec["properties"]),
        keys(&defs["spec"]["properties"])
    );
    assert_eq!(
        strings(&crd_spec["required"]),
        strings(&defs["spec"]["required"])
    );
    let crd_rule = &crd_spec["properties"]["rules"]["items"];
    assert_eq!(
        keys(&crd_rule["properties"]),
        keys(&defs["rule"]["properties"])
    );
    assert_eq!(
        strings(&crd_rule["required"]),
        strings(&defs["rule"]["required"])
    );
    // The document: what both require of a policy object.
    let required = strings(&open_api["required"]);
    let schema_required = strings(&defs["crdDocument"]["required"]);
    for r in &required {
        assert!(schema_required.contains(r), "{r}: {schema_required:?}");
    }
}
