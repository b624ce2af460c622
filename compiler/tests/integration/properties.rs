//! Property tests: no input makes the checker panic or point outside the text, and valid
//! values of every numeric type round-trip into the IR. Quick enough for every CI run; the
//! cargo-fuzz targets in `fuzz/` go deeper (docs/development.md).

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

/// Random valid policies (numeric and string scope keys, argument, context and retval
/// filters with every operator and wildcard form) survive lowering, encoding and decoding:
/// the image restates exactly the filters the IR holds.
mod image_round_trip {
    use super::*;

    fn op() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["=", "!=", "<", "<=", ">", ">="])
    }

    fn eq_op() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["=", "!="])
    }

    fn word() -> impl Strategy<Value = String> {
        "[a-z]{1,6}"
    }

    fn path_value() -> impl Strategy<Value = String> {
        (
            "/[a-z]{1,4}(/[a-z]{1,4}){0,2}",
            prop::sample::select(vec!["", "*", "^*", "^*$"]),
        )
            .prop_map(|(p, form)| match form {
                "*" => format!("{p}*"),
                "^*" => format!("*{p}"),
                "^*$" => format!("*{p}*"),
                _ => p,
            })
    }

    fn scope_entry() -> impl Strategy<Value = String> {
        prop_oneof![
            (op(), 0u32..5000).prop_map(|(o, v)| format!("uid{o}{v}")),
            (op(), 1u32..70000).prop_map(|(o, v)| format!("pid{o}{v}")),
            (eq_op(), 1u64..u64::MAX).prop_map(|(o, v)| format!("mntns{o}{v}")),
            (eq_op(), word()).prop_map(|(o, v)| format!("comm{o}{v}")),
            (eq_op(), word()).prop_map(|(o, v)| format!("uts{o}{v}")),
            (eq_op(), 1u32..70000).prop_map(|(o, v)| format!("tree{o}{v}")),
            (eq_op(), "/[a-z]{1,8}").prop_map(|(o, v)| format!("executable{o}{v}")),
            Just("follow".to_owned()),
            Just("container".to_owned()),
        ]
    }

    fn filter() -> impl Strategy<Value = String> {
        prop_oneof![
            (op(), any::<i32>()).prop_map(|(o, v)| format!("args.dirfd{o}{v}")),
            (op(), any::<u16>()).prop_map(|(o, v)| format!("args.mode{o}{v}")),
            (eq_op(), path_value()).prop_map(|(o, v)| format!("args.pathname{o}{v}")),
            (op(), any::<i64>()).prop_map(|(o, v)| format!("retval{o}{v}")),
            (op(), any::<u32>()).prop_map(|(o, v)| format!("uid{o}{v}")),
            (eq_op(), word()).prop_map(|(o, v)| format!("comm{o}{v}")),
            (eq_op(), word()).prop_map(|(o, v)| format!("containerName{o}{v}")),
        ]
    }

    fn policy(index: usize) -> impl Strategy<Value = String> {
        (prop::collection::vec(scope_entry(), 0..4), prop::collection::vec(filter(), 0..6), any::<bool>()).prop_map(
            move |(scope, filters, close)| {
                let scope = if scope.is_empty() { vec!["global".to_owned()] } else { scope };
                let scope: String = scope.iter().map(|s| format!("  - '{s}'\n")).collect();
                let filters: String = filters.iter().map(|f| format!("      - '{f}'\n")).collect();
                let close = if close { "  - event: close\n    filters: ['retval<0']\n" } else { "" };
                format!(
                    "type: policy\nname: p{index}\ndescription: d\nscope:\n{scope}rules:\n  - event: openat\n    filters:\n{filters}{close}"
                )
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn random_policies_round_trip_through_the_image(a in policy(0), b in policy(1), c in policy(2)) {
            let text = format!("{a}---\n{b}---\n{c}");
            let checked = compiler::check_text("prop.yaml", &text);
            prop_assume!(checked.diagnostics.error_count() == 0);
            let Some(lowered) = &checked.lowered else { panic!("not lowered:\n{text}") };
            let bytes = match compiler::encode::encode(&checked.policies, lowered) {
                Ok(b) => b,
                Err(e) => panic!("encode: {e}"),
            };
            let image = match schema::image::decode(&bytes) {
                Ok(i) => i,
                Err(e) => panic!("decode: {e}"),
            };
            let shown = compiler::inspect::filters(&image);
            for (policy, got) in checked.policies.iter().zip(&shown) {
                let want = super::super::roundtrip::expected(policy);
                prop_assert_eq!(got, &want, "policy {}:\n{}", policy.name, text);
            }
        }
    }
}

/// `inspect` reads images it did not write (damaged, foreign, hand-made): any decodable
/// image, whatever its entry bytes and metadata claim, is shown without a panic.
mod inspect_hostile {
    use super::*;
    use schema::image::{Image, UserspaceFilter};

    fn base() -> Image {
        let checked = compiler::check_text("seed.yaml", SEED);
        let Some(lowered) = &checked.lowered else {
            panic!("seed not lowered")
        };
        compiler::encode::image(&checked.policies, lowered)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn any_entry_bytes_and_metadata_are_shown(
            noise in prop::collection::vec(any::<u8>(), 1..4096),
            extra_policies in 0usize..100,
            filter_policy: u8,
            filter_event: u32,
        ) {
            let mut image = base();
            let mut i = 0;
            for map in &mut image.maps {
                for (key, value) in &mut map.entries {
                    for b in key.iter_mut().chain(value.iter_mut()) {
                        *b ^= noise[i % noise.len()];
                        i += 1;
                    }
                }
            }
            for n in 0..extra_policies {
                let mut p = image.meta.policies[0].clone();
                p.name = format!("extra-{n}");
                image.meta.policies.push(p);
            }
            image.meta.userspace_filters.push(UserspaceFilter {
                policy: filter_policy,
                event: filter_event,
                field: "containerName".to_owned(),
                op: "=".to_owned(),
                values: vec!["x".to_owned()],
                reason: "test".to_owned(),
            });
            let report = compiler::inspect::report(&image, 0);
            let _ = compiler::inspect::human(&report, true);
            let _ = serde_json::to_string(&report);
        }
    }
}
