//! What valid input turns into: every scope key and alias, every context field alias, every
//! argument type, wildcard form, numeric operator and `retval` form, checked in the IR.

use compiler::ir::{
    Action, ContextField, Filter, MountNs, Op, RuleField, ScopeKey, StrMatch, Value,
};

/// No diagnostics at all, except the `=`/`!=` mix warning (W302) that tests listing both
/// operators for one key cause on purpose.
fn check_clean(text: &str) -> compiler::Checked {
    let checked = compiler::check_text("accept.yaml", text);
    let unexpected = checked
        .diagnostics
        .items
        .iter()
        .any(|d| d.code.id() != "W302");
    assert!(!unexpected, "{text}\n{}", checked.render_plain(100));
    assert_eq!(checked.policies.len(), 1);
    checked
}

fn scope_of(entries: &[&str]) -> Vec<Filter<ScopeKey>> {
    let list: String = entries.iter().map(|e| format!("  - '{e}'\n")).collect();
    let text =
        format!("type: policy\nname: p\ndescription: d\nscope:\n{list}rules:\n  - event: close\n");
    check_clean(&text).policies[0].scope.clone()
}

fn filters_of(event: &str, filters: &[&str]) -> Vec<Filter<RuleField>> {
    let list: String = filters.iter().map(|f| format!("      - '{f}'\n")).collect();
    let text = format!(
        "type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: {event}\n    filters:\n{list}"
    );
    check_clean(&text).policies[0].rules[0].filters.clone()
}

fn one(key: ScopeKey, op: Op, values: Vec<Value>) -> (ScopeKey, Op, Vec<Value>) {
    (key, op, values)
}

fn simplify(filters: &[Filter<ScopeKey>]) -> Vec<(ScopeKey, Op, Vec<Value>)> {
    filters
        .iter()
        .map(|f| (f.key, f.op, f.values.clone()))
        .collect()
}

fn exact(s: &str) -> Value {
    Value::Str(StrMatch::Exact(s.to_owned()))
}

#[test]
fn numeric_scope_keys_take_their_operators() {
    use Op::*;
    use ScopeKey::*;
    let got = scope_of(&[
        "uid=0,1000",
        "uid!=5",
        "uid<10",
        "uid<=20",
        "uid>30",
        "uid>=40",
        "pid=1",
        "pid>=300",
        "mntns=4026531840",
        "pidns!=4026531836",
    ]);
    assert_eq!(
        simplify(&got),
        vec![
            one(Uid, Eq, vec![Value::Int(0), Value::Int(1000)]),
            one(Uid, Ne, vec![Value::Int(5)]),
            one(Uid, Lt, vec![Value::Int(10)]),
            one(Uid, Le, vec![Value::Int(20)]),
            one(Uid, Gt, vec![Value::Int(30)]),
            one(Uid, Ge, vec![Value::Int(40)]),
            one(Pid, Eq, vec![Value::Int(1)]),
            one(Pid, Ge, vec![Value::Int(300)]),
            one(MntNs, Eq, vec![Value::Int(4026531840)]),
            one(PidNs, Ne, vec![Value::Int(4026531836)]),
        ]
    );
}

#[test]
fn scope_entries_lose_their_spaces_as_in_tracee() {
    let got = scope_of(&["uid >= 1000", " comm = bash , zsh"]);
    assert_eq!(
        simplify(&got),
        vec![
            one(ScopeKey::Uid, Op::Ge, vec![Value::Int(1000)]),
            one(ScopeKey::Comm, Op::Eq, vec![exact("bash"), exact("zsh")])
        ]
    );
}

#[test]
fn string_and_special_scope_keys() {
    use Op::*;
    use ScopeKey::*;
    let got = scope_of(&["uts=web-1", "comm!=sshd", "pid=new", "tree=1234", "follow"]);
    assert_eq!(
        simplify(&got),
        vec![
            one(Uts, Eq, vec![exact("web-1")]),
            one(Comm, Ne, vec![exact("sshd")]),
            one(Pid, Eq, vec![Value::New]),
            one(Tree, Eq, vec![Value::Int(1234)]),
            one(Follow, Eq, vec![]),
        ]
    );
    let got = scope_of(&["container"]);
    assert_eq!(simplify(&got), vec![one(Container, Eq, vec![])]);
    let got = scope_of(&["container=new"]);
    assert_eq!(simplify(&got), vec![one(Container, Eq, vec![Value::New])]);
    let got = scope_of(&["container!=new"]);
    assert_eq!(simplify(&got), vec![one(Container, Ne, vec![Value::New])]);
    let got = scope_of(&["container=started"]);
    assert_eq!(
        simplify(&got),
        vec![one(Container, Eq, vec![Value::Started])]
    );
    let got = scope_of(&["container=abc123abc123,def456def456"]);
    assert_eq!(
        simplify(&got),
        vec![one(
            Container,
            Eq,
            vec![exact("abc123abc123"), exact("def456def456")]
        )]
    );
    let got = scope_of(&["not-container"]);
    assert_eq!(simplify(&got), vec![one(NotContainer, Eq, vec![])]);
}

#[test]
fn executable_aliases_and_mount_namespace_prefixes() {
    let got = scope_of(&[
        "executable=/usr/bin/ls",
        "exec=host:/bin/sh",
        "binary=4026531840:/usr/bin/curl",
        "bin!=/usr/bin/id",
    ]);
    let exe = |mount_ns, path: &str| Value::Executable {
        mount_ns,
        path: path.to_owned(),
    };
    assert_eq!(
        simplify(&got),
        vec![
            one(
                ScopeKey::Executable,
                Op::Eq,
                vec![exe(MountNs::Any, "/usr/bin/ls")]
            ),
            one(
                ScopeKey::Executable,
                Op::Eq,
                vec![exe(MountNs::Host, "/bin/sh")]
            ),
            one(
                ScopeKey::Executable,
                Op::Eq,
                vec![exe(MountNs::Id(4026531840), "/usr/bin/curl")]
            ),
            one(
                ScopeKey::Executable,
                Op::Ne,
                vec![exe(MountNs::Any, "/usr/bin/id")]
            ),
        ]
    );
}

#[test]
fn global_scope_has_no_filters() {
    let checked = check_clean(
        "type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: close\n",
    );
    assert!(checked.policies[0].global);
    assert!(checked.policies[0].scope.is_empty());
}

#[test]
fn every_context_field_alias_resolves() {
    use ContextField::*;
    let cases: &[(&str, ContextField, Value)] = &[
        ("timestamp>5", Timestamp, Value::Int(5)),
        ("processorId=1", ProcessorId, Value::Int(1)),
        ("p=2", Pid, Value::Int(2)),
        ("pid=2", Pid, Value::Int(2)),
        ("processId=2", Pid, Value::Int(2)),
        ("tid=3", Tid, Value::Int(3)),
        ("threadId=3", Tid, Value::Int(3)),
        ("ppid=4", Ppid, Value::Int(4)),
        ("parentProcessId=4", Ppid, Value::Int(4)),
        ("hostTid=5", HostTid, Value::Int(5)),
        ("hostThreadId=5", HostTid, Value::Int(5)),
        ("hostPid=6", HostPid, Value::Int(6)),
        ("hostProcessId=6", HostPid, Value::Int(6)),
        ("hostParentProcessId=7", HostPpid, Value::Int(7)),
        ("uid=0", Uid, Value::Int(0)),
        ("userId=0", Uid, Value::Int(0)),
        ("mntns=8", MntNs, Value::Int(8)),
        ("mountNamespace=8", MntNs, Value::Int(8)),
        ("pidns=9", PidNs, Value::Int(9)),
        ("pidNamespace=9", PidNs, Value::Int(9)),
        ("comm=bash", Comm, exact("bash")),
        ("processName=bash", Comm, exact("bash")),
        (
            "hostName=web-*",
            HostName,
            Value::Str(StrMatch::Prefix("web-".into())),
        ),
        ("cgroupId=10", CgroupId, Value::Int(10)),
        ("container=true", Container, Value::Bool(true)),
        ("container", Container, Value::Bool(true)),
        ("container=started", Container, Value::Started),
        ("host=false", Host, Value::Bool(false)),
        (
            "containerId=abc*",
            ContainerId,
            Value::Str(StrMatch::Prefix("abc".into())),
        ),
        (
            "containerImage=*nginx*",
            ContainerImage,
            Value::Str(StrMatch::Contains("nginx".into())),
        ),
        (
            "containerImageDigest=sha256:1",
            ContainerImageDigest,
            exact("sha256:1"),
        ),
        ("containerName=web", ContainerName, exact("web")),
        ("podName=p", PodName, exact("p")),
        (
            "podNamespace=kube-system",
            PodNamespace,
            exact("kube-system"),
        ),
        ("podUid=u", PodUid, exact("u")),
        ("podSandbox=1", PodSandbox, Value::Bool(true)),
        ("syscall=openat", Syscall, exact("openat")),
    ];
    for (text, field, value) in cases {
        let got = filters_of("close", &[text]);
        assert_eq!(got[0].key, RuleField::Context(*field), "{text}");
        assert_eq!(got[0].values, vec![value.clone()], "{text}");
    }
}

#[test]
fn argument_filters_are_typed_by_the_catalog() {
    let got = filters_of(
        "openat",
        &[
            "args.pathname=/etc/shadow",
            "data.pathname=/tmp/*",
            "args.pathname=*.so",
            "args.pathname=*passwd*",
            "args.pathname!=/proc/*",
            "args.dirfd=-100",
            "args.flags>=0x40",
            "args.mode=0o644",
        ],
    );
    let values: Vec<(Op, Value)> = got.iter().map(|f| (f.op, f.values[0].clone())).collect();
    assert_eq!(
        values,
        vec![
            (Op::Eq, exact("/etc/shadow")),
            (Op::Eq, Value::Str(StrMatch::Prefix("/tmp/".into()))),
            (Op::Eq, Value::Str(StrMatch::Suffix(".so".into()))),
            (Op::Eq, Value::Str(StrMatch::Contains("passwd".into()))),
            (Op::Ne, Value::Str(StrMatch::Prefix("/proc/".into()))),
            (Op::Eq, Value::Int(-100)),
            (Op::Ge, Value::Int(0x40)),
            (Op::Eq, Value::Int(0o644)),
        ]
    );
    let names: Vec<&str> = got
        .iter()
        .map(|f| match f.key {
            RuleField::Arg { def, .. } => def.name,
            _ => "?",
        })
        .collect();
    assert_eq!(
        names,
        [
            "pathname", "pathname", "pathname", "pathname", "pathname", "dirfd", "flags", "mode"
        ]
    );
    // Unsigned arguments span their whole width; pointers are unsigned 64-bit.
    let got = filters_of("read", &["args.count=18446744073709551615", "args.buf=0"]);
    assert_eq!(got[0].values, vec![Value::Int(i128::from(u64::MAX))]);
    assert_eq!(got[1].values, vec![Value::Int(0)]);
}

#[test]
fn retval_takes_every_operator_and_lists() {
    let got = filters_of(
        "close",
        &[
            "retval=0,-9",
            "retval!=0",
            "retval<0",
            "retval<=-1",
            "retval>0",
            "retval>=1",
        ],
    );
    let got: Vec<(Op, Vec<Value>)> = got.iter().map(|f| (f.op, f.values.clone())).collect();
    assert_eq!(
        got,
        vec![
            (Op::Eq, vec![Value::Int(0), Value::Int(-9)]),
            (Op::Ne, vec![Value::Int(0)]),
            (Op::Lt, vec![Value::Int(0)]),
            (Op::Le, vec![Value::Int(-1)]),
            (Op::Gt, vec![Value::Int(0)]),
            (Op::Ge, vec![Value::Int(1)]),
        ]
    );
}

#[test]
fn actions_and_the_three_headers() {
    let crd = |api: &str, kind: &str| {
        format!(
            "apiVersion: {api}\nkind: {kind}\nmetadata:\n  name: p\n  annotations:\n    description: d\nspec:\n  scope: [global]\n  defaultActions: [log]\n  rules:\n    - event: close\n      actions: [print, log]\n"
        )
    };
    for text in [
        crd("aquasecurity.github.io/v1beta1", "TraceePolicy"),
        crd("tracee.aquasec.com/v1beta1", "Policy"),
    ] {
        let checked = check_clean(&text);
        let policy = &checked.policies[0];
        assert_eq!(
            (policy.name.as_str(), policy.description.as_str()),
            ("p", "d")
        );
        assert_eq!(policy.default_actions, vec![Action::Log]);
        assert_eq!(policy.rules[0].actions, vec![Action::Print, Action::Log]);
    }
    let checked = check_clean(
        "type: ' POLICY '\nname: p\ndescription: d\nversion: 1\nscope: [global]\nrules: [{event: close}]\n",
    );
    assert_eq!(checked.policies[0].rules[0].event.name, "close");
    let json = r#"{"apiVersion": "tracee.aquasec.com/v1beta1", "kind": "Policy", "metadata": {"name": "j", "annotations": {"description": "d"}}, "spec": {"scope": ["global"], "rules": [{"event": "close"}]}}"#;
    assert_eq!(check_clean(json).policies[0].name, "j");
}

#[test]
fn policies_get_ids_in_load_order() {
    let doc = |name: &str| {
        format!(
            "type: policy\nname: {name}\ndescription: d\nscope: [global]\nrules: [{{event: close}}]\n"
        )
    };
    let text = format!(
        "{}---\n{}---\n{}",
        doc("first"),
        doc("second"),
        doc("third")
    );
    let checked = compiler::check_text("ids.yaml", &text);
    let ids: Vec<(usize, &str)> = checked
        .policies
        .iter()
        .map(|p| (p.id, p.name.as_str()))
        .collect();
    assert_eq!(ids, [(0, "first"), (1, "second"), (2, "third")]);
}

fn codes_of(checked: &compiler::Checked) -> Vec<&'static str> {
    checked
        .diagnostics
        .items
        .iter()
        .map(|d| d.code.id())
        .collect()
}

/// `kubectl get policies.tracee.aquasec.com -o yaml|json` prints a `kind: List` (or a typed
/// `PolicyList`): each item is read as a policy of its own, and a problem in one is reported
/// at its place inside the list.
#[test]
fn kubectl_lists_are_read_item_by_item() {
    let item = |name: &str, event: &str| {
        format!(
            "  - apiVersion: tracee.aquasec.com/v1beta1\n    kind: Policy\n    metadata:\n      name: {name}\n      uid: 6f1c2a3b-0000-4000-8000-000000000001\n      resourceVersion: \"4711\"\n      annotations:\n        description: d\n        kubectl.kubernetes.io/last-applied-configuration: '{{}}'\n    spec:\n      scope: [global]\n      rules:\n        - event: {event}\n"
        )
    };
    let yaml = format!(
        "apiVersion: v1\nkind: List\nmetadata:\n  resourceVersion: \"\"\nitems:\n{}{}",
        item("a", "openat"),
        item("b", "close")
    );
    let checked = compiler::check_text("list.yaml", &yaml);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    let names: Vec<&str> = checked.policies.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);

    // A bad event in the second item: reported on its own line, inside the list.
    let bad = yaml.replace("event: close", "event: clsoe");
    let checked = compiler::check_text("list.yaml", &bad);
    let d = &checked.diagnostics.items;
    assert_eq!(d.len(), 1, "{}", checked.render_plain(100));
    let span = d[0].span.clone().unwrap_or(0..0);
    let line = compiler::source::line_col(&bad, span.start).0;
    assert_eq!(
        bad.lines().nth(line - 1).map(str::trim),
        Some("- event: clsoe")
    );

    // The typed list, in JSON, as `-o json` prints it.
    let json = r#"{"apiVersion": "tracee.aquasec.com/v1beta1", "kind": "PolicyList", "items": [
        {"apiVersion": "tracee.aquasec.com/v1beta1", "kind": "Policy",
         "metadata": {"name": "j", "annotations": {"description": "d"}},
         "spec": {"scope": ["global"], "rules": [{"event": "openat"}]}}]}"#;
    let checked = compiler::check_text("list.json", json);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    assert_eq!(checked.policies.len(), 1);

    // `items` that is not a list is said so.
    let checked = compiler::check_text("list.yaml", "apiVersion: v1\nkind: List\nitems: {}\n");
    let codes = codes_of(&checked);
    assert!(codes.contains(&"E108"), "{codes:?}");
}

/// A rendered chart: other objects are skipped with W307, the policies read; a policy kind
/// with a mistyped apiVersion is still an error (E109), not another object.
#[test]
fn other_kinds_are_skipped_and_policies_kept() {
    let text = "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: tracee\n---\napiVersion: tracee.aquasec.com/v1beta1\nkind: Policy\nmetadata:\n  name: p\n  annotations:\n    description: d\nspec:\n  scope: [global]\n  rules:\n    - event: openat\n";
    let checked = compiler::check_text("chart.yaml", text);
    let codes = codes_of(&checked);
    assert_eq!(codes, ["W307"]);
    assert_eq!(checked.policies.len(), 1);
    let typo = text.replace("tracee.aquasec.com/v1beta1", "tracee.aquasec.io/v1beta1");
    let checked = compiler::check_text("chart.yaml", &typo);
    let codes = codes_of(&checked);
    assert!(codes.contains(&"E109"), "{codes:?}");
}
