//! Rules that select several events (`event: openat,close`, `tag=fs`, bare set names,
//! `-name` exclusions), Tracee events this loader does not produce (E220), and
//! `tracee-compile list`. The selected events are read back from the checked policies and
//! from the image (the events a policy has a rule for).

use compiler::diagnostics::Code;
use schema::catalog;

use super::cli_run::{repo, tracee_compile};

fn policy(event: &str, filters: &[&str]) -> String {
    let filters: String = filters.iter().map(|f| format!("      - {f}\n")).collect();
    let filters = if filters.is_empty() {
        String::new()
    } else {
        format!("    filters:\n{filters}")
    };
    format!(
        "type: policy\nname: p\ndescription: selection\nscope: [global]\nrules:\n  - event: {event}\n{filters}"
    )
}

/// The events the policy selects (its rules' events, in order), and the codes reported.
fn selected(text: &str) -> (Vec<&'static str>, Vec<Code>) {
    let checked = compiler::check_text("selection.yaml", text);
    let codes = checked.diagnostics.items.iter().map(|d| d.code).collect();
    let events = checked
        .policies
        .first()
        .map(|p| p.rules.iter().map(|r| r.event.name).collect())
        .unwrap_or_default();
    (events, codes)
}

/// The members of a set this loader produces, in Tracee's order.
fn produced(set: &str) -> Vec<&'static str> {
    catalog::set_members(set)
        .into_iter()
        .filter_map(|m| catalog::event(m.name).map(|e| e.name))
        .collect()
}

#[test]
fn a_comma_list_selects_each_event_once() {
    let (events, codes) = selected(&policy("openat,close,openat", &["uid>=1000"]));
    assert_eq!(events, ["openat", "close"]);
    assert!(codes.is_empty(), "{codes:?}");
}

#[test]
fn tag_and_bare_set_names_expand_to_the_produced_members() {
    let members = produced("fs_read_write");
    assert!(
        members.contains(&"read") && members.len() > 5,
        "{members:?}"
    );
    for spelling in ["tag=fs_read_write", "fs_read_write"] {
        let (events, codes) = selected(&policy(spelling, &[]));
        assert_eq!(events, members, "{spelling}");
        assert!(codes.is_empty(), "{spelling}: {codes:?}");
    }
    // A set with members not produced here: they are left out, with W305.
    let (events, codes) = selected(&policy("tag=fs_file_ops", &[]));
    assert_eq!(events, produced("fs_file_ops"));
    assert_eq!(codes, [Code::SetMembersNotProduced]);
}

#[test]
fn exclusions_apply_after_everything_else() {
    let (events, codes) = selected(&policy("tag=fs_read_write,-read,-write", &[]));
    let mut expected = produced("fs_read_write");
    expected.retain(|e| *e != "read" && *e != "write");
    assert_eq!(events, expected);
    assert!(codes.is_empty(), "{codes:?}");
    // Exclusion before the set it excludes from: the same.
    let (again, _) = selected(&policy("-read,tag=fs_read_write,-write", &[]));
    assert_eq!(again, expected);
}

/// Tracee's `default` set has its detectors too (as Tracee registers a detector's event:
/// sets `detectors`, `default` and its tags): `dropped_executable` as the catalog event it
/// is here, the others as detections.
#[test]
fn only_exclusions_start_from_the_default_set() {
    let (events, codes) = selected(&policy("-openat,-ptrace,-anti_debugging", &[]));
    let mut expected = produced("default");
    expected.retain(|e| *e != "openat" && *e != "ptrace");
    expected.push("dropped_executable");
    assert!(!expected.is_empty());
    assert_eq!(events, expected);
    let checked = compiler::check_text("selection.yaml", &policy("-openat", &[]));
    let detections: Vec<&str> = checked.policies[0]
        .detections
        .iter()
        .map(|d| d.detector.as_str())
        .collect();
    assert_eq!(detections.len(), 28, "{detections:?}");
    assert!(detections.contains(&"anti_debugging"));
    let checked = compiler::check_text(
        "selection.yaml",
        &policy("-openat,-ptrace,-anti_debugging", &[]),
    );
    assert!(
        !checked.policies[0]
            .detections
            .iter()
            .any(|d| d.detector == "anti_debugging")
    );
    // A detector tag is a set: `tag=defense-evasion`.
    let checked = compiler::check_text("selection.yaml", &policy("tag=defense-evasion", &[]));
    let mut tagged: Vec<&str> = checked.policies[0]
        .detections
        .iter()
        .map(|d| d.detector.as_str())
        .collect();
    tagged.sort_unstable();
    assert!(tagged.contains(&"anti_debugging") && !tagged.contains(&"sudoers_modification"));
    assert_eq!(
        codes,
        [Code::SetMembersNotProduced],
        "default has members not produced"
    );
}

#[test]
fn a_rule_of_its_own_keeps_its_event_from_a_selection() {
    let text = "type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: tag=fs_read_write\n    filters:\n      - uid=0\n  - event: read\n    filters:\n      - args.fd=3\n  - event: write,lseek\n";
    let checked = compiler::check_text("selection.yaml", text);
    assert_eq!(
        checked.diagnostics.error_count(),
        0,
        "{}",
        checked.render_plain(100)
    );
    let rules = &checked.policies[0].rules;
    let read: Vec<_> = rules.iter().filter(|r| r.event.name == "read").collect();
    assert_eq!(read.len(), 1, "one rule for read");
    assert_eq!(read[0].filters.len(), 1);
    assert!(matches!(
        read[0].filters[0].key,
        compiler::ir::RuleField::Arg { .. }
    ));
    // write and lseek were taken by the set first (with its uid filter).
    let write: Vec<_> = rules.iter().filter(|r| r.event.name == "write").collect();
    assert_eq!(write.len(), 1);
    assert!(matches!(
        write[0].filters[0].key,
        compiler::ir::RuleField::Context(..)
    ));
}

#[test]
fn a_selection_takes_context_filters_only() {
    let (events, codes) = selected(&policy("openat,close", &["uid>=1000", "comm=cat"]));
    assert_eq!(events, ["openat", "close"]);
    assert!(codes.is_empty(), "{codes:?}");
    let (_, codes) = selected(&policy(
        "openat,close",
        &["args.pathname=/etc/*", "retval<0"],
    ));
    assert_eq!(codes, [Code::FiltersOnSelection, Code::FiltersOnSelection]);
}

#[test]
fn tracee_events_not_produced_say_why_never_unknown() {
    for (name, reason) in [
        ("hooked_syscall", "kprobe"),
        ("symbols_loaded", "not produced by this loader yet"),
    ] {
        let checked = compiler::check_text("selection.yaml", &policy(name, &[]));
        let d: Vec<_> = checked.diagnostics.items.iter().collect();
        assert_eq!(d.len(), 1, "{name}: {}", checked.render_plain(100));
        assert_eq!(d[0].code, Code::EventNotProduced, "{name}");
        assert!(
            d[0].message.contains(name) && d[0].message.contains(reason),
            "{}",
            d[0].message
        );
        assert!(
            !d[0].help.as_deref().unwrap_or("").contains("did you mean"),
            "{:?}",
            d[0].help
        );
    }
    // A 32-bit-only syscall (no x86-64 number).
    let compat = catalog::set_members("32bit_unique");
    let first = compat.first().map(|e| e.name).unwrap_or("stat64");
    let checked = compiler::check_text("selection.yaml", &policy(first, &[]));
    assert_eq!(checked.diagnostics.items[0].code, Code::EventNotProduced);
    assert!(checked.diagnostics.items[0].message.contains("32-bit"));
    // A typo is still E211 with a suggestion.
    let checked = compiler::check_text("selection.yaml", &policy("opnat", &[]));
    assert_eq!(checked.diagnostics.items[0].code, Code::UnknownEvent);
    assert_eq!(
        checked.diagnostics.items[0].help.as_deref(),
        Some("did you mean `openat`?")
    );
}

#[test]
fn selections_reach_the_image() {
    let checked = compiler::check_text("selection.yaml", &policy("tag=fs_read_write,-read", &[]));
    let Some(lowered) = &checked.lowered else {
        panic!("{}", checked.render_plain(100));
    };
    let image = compiler::encode::image(&checked.policies, lowered);
    let mut names: Vec<&str> = image.meta.events.iter().map(|e| e.name.as_str()).collect();
    names.sort_unstable();
    let mut expected = produced("fs_read_write");
    expected.retain(|e| *e != "read");
    expected.sort_unstable();
    assert_eq!(names, expected);
}

#[test]
fn list_events_and_sets_for_people_and_scripts() {
    let run = tracee_compile(&["list", "events", "--json"], &repo());
    assert_eq!(run.status, 0, "{}", run.err);
    let rows = run.json();
    let rows = rows.as_array().unwrap_or_else(|| panic!("not a list"));
    let find = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let openat = find("openat");
    assert_eq!(openat["id"], 257);
    assert_eq!(openat["produced"], true);
    assert!(
        openat["sets"]
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x == "fs_file_ops"))
    );
    assert!(
        openat["fields"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x["name"] == "pathname"))
    );
    let hooked = find("hooked_syscall");
    assert_eq!(hooked["produced"], false);
    assert!(
        hooked["reason"]
            .as_str()
            .is_some_and(|r| r.contains("kprobe"))
    );
    // Every non-internal Tracee event is listed, produced or with a reason.
    for t in catalog::tracee_events().iter().filter(|t| !t.internal) {
        let row = find(t.name);
        assert!(
            row["produced"] == true || row["reason"].is_string(),
            "{row}"
        );
    }
    let run = tracee_compile(&["list", "events"], &repo());
    assert!(
        run.out.contains("hooked_syscall (other)"),
        "{}",
        &run.out[..200.min(run.out.len())]
    );
    assert!(run.out.contains("not produced: "));
    let run = tracee_compile(&["list", "sets", "--json"], &repo());
    assert_eq!(run.status, 0);
    let sets = run.json();
    let fs = sets
        .as_array()
        .and_then(|s| s.iter().find(|x| x["name"] == "fs_read_write"))
        .unwrap_or_else(|| panic!("no fs_read_write"));
    assert!(
        fs["produced"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "read"))
    );
}

#[test]
fn fields_the_loader_fills_are_not_filterable() {
    let text = "apiVersion: tracee.aquasec.com/v1beta1\nkind: Policy\nmetadata:\n  name: c\n  annotations:\n    description: d\nspec:\n  scope:\n    - global\n  rules:\n    - event: container_create\n      filters:\n        - args.container_image=nginx*\n        - args.runtime=docker\n";
    let checked = compiler::check_text("c.yaml", text);
    let codes: Vec<_> = checked.diagnostics.items.iter().map(|d| d.code).collect();
    assert_eq!(
        codes,
        [Code::UnfilterableArgument],
        "{}",
        checked.render_plain(100)
    );
    assert!(
        checked.diagnostics.items[0]
            .message
            .contains("filled by tracee-load"),
        "{}",
        checked.diagnostics.items[0].message
    );
}

/// Tracee's own example policies (testdata/tracee-examples) compile unchanged, with no
/// diagnostic at all.
#[test]
fn tracee_example_policies_compile() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/tracee-examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.extension().is_some_and(|x| x == "md") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
        let checked = compiler::check_text(&path.to_string_lossy(), &text);
        // signature_events names the two hooking detectors this loader cannot produce:
        // each is kept with W306, nothing else. uid_higher_than_or_equal_to_zero scopes on a
        // lone `uid>=0`, "every user", which W308 leaves alone.
        let name = path.to_string_lossy();
        let expected: &[Code] = if name.contains("signature_events") {
            &[Code::DetectorNotProduced, Code::DetectorNotProduced]
        } else {
            &[]
        };
        let codes: Vec<Code> = checked.diagnostics.items.iter().map(|d| d.code).collect();
        assert_eq!(codes, expected, "{}", checked.render_plain(100));
        seen += 1;
    }
    assert_eq!(seen, 30, "testdata/tracee-examples/README.md lists all 30");
}

fn connect_rule(filters: &[&str]) -> compiler::Checked {
    let list: String = filters
        .iter()
        .map(|f| format!("        - '{f}'\n"))
        .collect();
    let text = format!(
        "apiVersion: tracee.aquasec.com/v1beta1\nkind: Policy\nmetadata:\n  name: c\n  annotations:\n    description: d\nspec:\n  scope:\n    - global\n  rules:\n    - event: security_socket_connect\n      filters:\n{list}"
    );
    compiler::check_text("c.yaml", &text)
}

#[test]
fn socket_address_parts_are_filters() {
    use compiler::ir::{Op, RuleField, SockPart, Value};
    let checked = connect_rule(&[
        "args.remote_addr.port=443,8443",
        "args.remote_addr.ip=10.0.0.0/8",
        "args.remote_addr.sin_addr!=10.0.0.1",
        "args.remote_addr.path=/run/*",
    ]);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    let filters = &checked.policies[0].rules[0].filters;
    let shown: Vec<(SockPart, Op, Vec<Value>)> = filters
        .iter()
        .map(|f| match f.key {
            RuleField::SockAddr { index, part, .. } => {
                assert_eq!(
                    index, 2,
                    "remote_addr is security_socket_connect's third field"
                );
                (part, f.op, f.values.clone())
            }
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        shown,
        [
            (
                SockPart::Port,
                Op::Eq,
                vec![Value::Int(443), Value::Int(8443)]
            ),
            (SockPart::Ip, Op::Ge, vec![Value::Int(0x0a00_0000)]),
            (SockPart::Ip, Op::Le, vec![Value::Int(0x0aff_ffff)]),
            (SockPart::Ip, Op::Ne, vec![Value::Int(0x0a00_0001)]),
            (
                SockPart::Path,
                Op::Eq,
                vec![Value::Str(compiler::ir::StrMatch::Prefix(
                    "/run/".to_owned()
                ))]
            ),
        ]
    );
    assert_eq!(SockPart::Port.slot(2), 22);
    assert_eq!(SockPart::Ip.slot(2), 28);
    assert_eq!(SockPart::Path.slot(2), 60);
}

#[test]
fn socket_address_filters_refuse_what_the_kernel_cannot_decide() {
    for (filter, code) in [
        ("args.remote_addr=10.0.0.1", Code::UnfilterableArgument),
        ("args.remote_addr.flowinfo=1", Code::UnknownArgument),
        (
            "args.remote_addr.ip=10.0.0.0/8,192.168.0.0/16",
            Code::InvalidValue,
        ),
        ("args.remote_addr.ip!=10.0.0.0/8", Code::InvalidValue),
        ("args.remote_addr.ip=10.0.0.0/33", Code::InvalidValue),
        ("args.remote_addr.ip=300.1.1.1", Code::InvalidValue),
        ("args.remote_addr.port=70000", Code::InvalidValue),
    ] {
        let checked = connect_rule(&[filter]);
        let codes: Vec<_> = checked.diagnostics.items.iter().map(|d| d.code).collect();
        assert_eq!(codes, [code], "{filter}: {}", checked.render_plain(100));
    }
    let checked = connect_rule(&["args.remote_addr=10.0.0.1"]);
    let help = checked.diagnostics.items[0]
        .help
        .clone()
        .unwrap_or_default();
    assert!(help.contains("args.remote_addr.port"), "{help}");
}
