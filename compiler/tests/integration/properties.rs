//! Property tests: no input makes the checker panic or point outside the text, and valid
//! values of every numeric type round-trip into the IR. Quick enough for every CI run; the
//! cargo-fuzz targets in `compiler/fuzz/` go deeper.

use compiler::ir::{Op, ScopeKey, Value};
use proptest::prelude::*;

const SEED: &str = include_str!("../../../testdata/policies/overview.yaml");

/// Every diagnostic points inside the text, on character boundaries, and every output
/// format renders.
fn assert_well_formed(text: &str) {
    let checked = compiler::check_text("prop.yaml", text);
    for d in checked.sorted_diagnostics() {
        if let Some(span) = &d.span {
            assert!(
                span.start <= span.end && span.end <= text.len(),
                "{d:?} out of bounds"
            );
            assert!(
                text.is_char_boundary(span.start) && text.is_char_boundary(span.end),
                "{d:?} splits a character"
            );
        }
        for (span, _) in &d.secondary {
            assert!(
                span.end <= text.len()
                    && text.is_char_boundary(span.start)
                    && text.is_char_boundary(span.end)
            );
        }
        assert!(!d.message.is_empty());
    }
    let diagnostics = checked.sorted_diagnostics();
    let _ = checked.render_plain(80);
    let summary = compiler::diagnostics::render::Summary {
        files: 1,
        policies: 0,
        errors: 0,
        warnings: 0,
    };
    let _ = compiler::diagnostics::render::json(&diagnostics, &checked.sources, &summary);
    let _ = compiler::diagnostics::render::sarif(&diagnostics, &checked.sources);
    let _ = compiler::diagnostics::render::github(&diagnostics, &checked.sources);
}

/// Fragments that make YAML and policy structure likely, so random strings get past the
/// parser often enough to exercise the validator.
fn yamlish() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("type: policy\n".to_owned()),
        Just("name: x\n".to_owned()),
        Just("description: d\n".to_owned()),
        Just("scope:\n".to_owned()),
        Just("rules:\n".to_owned()),
        Just("  - ".to_owned()),
        Just("event: ".to_owned()),
        Just("filters:\n".to_owned()),
        Just("    - ".to_owned()),
        Just("uid".to_owned()),
        Just("args.pathname".to_owned()),
        Just("retval".to_owned()),
        Just("=".to_owned()),
        Just("!=".to_owned()),
        Just("<=".to_owned()),
        Just(",".to_owned()),
        Just("*".to_owned()),
        Just("&a ".to_owned()),
        Just("*a".to_owned()),
        Just("---\n".to_owned()),
        Just("\t".to_owned()),
        Just("\n".to_owned()),
        Just("é".to_owned()),
        Just("\"".to_owned()),
        "[a-z0-9/._-]{0,8}",
    ];
    prop::collection::vec(token, 0..40).prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        assert_well_formed(&text);
    }

    #[test]
    fn yaml_like_text_never_panics(text in yamlish()) {
        assert_well_formed(&text);
    }

    #[test]
    fn mutated_seed_policy_never_panics(at in 0..SEED.len(), delete in 0usize..20, insert in "\\PC{0,12}") {
        let mut text = SEED.to_owned();
        let mut start = at.min(text.len());
        while !text.is_char_boundary(start) { start -= 1; }
        let mut end = (start + delete).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        text.replace_range(start..end, &insert);
        assert_well_formed(&text);
    }

    #[test]
    fn every_u32_uid_with_every_operator_reaches_the_ir(uid: u32, op in prop::sample::select(&Op::ALL[..])) {
        let text = format!("type: policy\nname: p\ndescription: d\nscope:\n  - uid{}{uid}\nrules:\n  - event: close\n", op.as_str());
        let checked = compiler::check_text("p.yaml", &text);
        prop_assert_eq!(checked.diagnostics.error_count(), 0, "{}", checked.render_plain(80));
        let policy = &checked.policies[0];
        prop_assert_eq!(policy.scope[0].key, ScopeKey::Uid);
        prop_assert_eq!(policy.scope[0].op, op);
        prop_assert_eq!(&policy.scope[0].values, &vec![Value::Int(i128::from(uid))]);
    }

    #[test]
    fn uids_outside_u32_are_rejected(uid in (1i128 << 32)..(1i128 << 70)) {
        let text = format!("type: policy\nname: p\ndescription: d\nscope:\n  - uid={uid}\nrules:\n  - event: close\n");
        let checked = compiler::check_text("p.yaml", &text);
        let codes: Vec<&str> = checked.diagnostics.items.iter().map(|d| d.code.id()).collect();
        prop_assert_eq!(codes, vec!["E208"]);
    }

    #[test]
    fn every_i64_retval_reaches_the_ir(v: i64, op in prop::sample::select(&Op::ALL[..])) {
        let text = format!("type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: close\n    filters: ['retval{}{v}']\n", op.as_str());
        let checked = compiler::check_text("p.yaml", &text);
        prop_assert_eq!(checked.diagnostics.error_count(), 0, "{}", checked.render_plain(80));
        let filter = &checked.policies[0].rules[0].filters[0];
        prop_assert_eq!(filter.op, op);
        prop_assert_eq!(&filter.values, &vec![Value::Int(i128::from(v))]);
    }
}
