//! compile -> image -> inspect: the image holds exactly the input's filters, the same input
//! gives the same bytes, and damaged images are refused.

use std::path::Path;
use std::process::Command;

use compiler::ir::{
    ContextField, Filter, MountNs, Op, Policy, RuleField, ScopeKey, StrMatch, Value,
};
use schema::catalog::ArgType;
use serde_json::Value as Json;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracee-compile"))
}

fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn compile(dir: &Path, out: &Path) {
    let output = match bin().arg(dir).arg("-o").arg(out).output() {
        Ok(o) => o,
        Err(e) => panic!("run: {e}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.starts_with("wrote "),
        "one-line summary expected: {stderr}"
    );
    assert!(
        stderr.contains(" policies, ")
            && stderr.contains(" map entries, ")
            && stderr.contains(" bytes"),
        "{stderr}"
    );
}

fn inspect_json(image: &Path) -> Json {
    let output = match bin().arg("inspect").arg("--json").arg(image).output() {
        Ok(o) => o,
        Err(e) => panic!("run: {e}"),
    };
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    match serde_json::from_slice(&output.stdout) {
        Ok(v) => v,
        Err(e) => panic!("inspect --json is not JSON: {e}"),
    }
}

/// The smallest and largest value of a numeric field (inspect writes the largest `max`).
fn field_bounds(field: RuleField) -> (i128, i128) {
    let signed = |bits: u32| (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1);
    let unsigned = |bits: u32| (0, (1i128 << bits) - 1);
    match field {
        RuleField::Retval => signed(64),
        RuleField::Arg { def, .. } => match def.ty {
            ArgType::Int(b) => signed(u32::from(b) * 8),
            ArgType::UInt(b) => unsigned(u32::from(b) * 8),
            ArgType::Bool => unsigned(1),
            _ => unsigned(64),
        },
        RuleField::ArgMasked { mask, .. } => (0, i128::from(mask)),
        RuleField::Part { .. } => unsigned(64),
        RuleField::SockAddr { part, .. } => match part {
            compiler::ir::SockPart::Port => unsigned(16),
            _ => unsigned(32),
        },
        RuleField::Context(c) => match c {
            ContextField::Timestamp
            | ContextField::MntNs
            | ContextField::PidNs
            | ContextField::CgroupId => unsigned(64),
            ContextField::Container | ContextField::Host => unsigned(1),
            _ => unsigned(32),
        },
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Str(StrMatch::Exact(s)) => s.clone(),
        Value::Str(StrMatch::Prefix(s)) => format!("{s}*"),
        Value::Str(StrMatch::Suffix(s)) => format!("*{s}"),
        Value::Str(StrMatch::Contains(s)) => format!("*{s}*"),
        other => format!("{other:?}"),
    }
}

/// `=`, `!=` statements, the bounds as one inclusive interval, or "matches unlisted values".
fn numeric(prefix: &str, values: &[(Op, &Value)], (min, max): (i128, i128), out: &mut Vec<String>) {
    let (mut low, mut high): (Option<i128>, Option<i128>) = (None, None);
    let mut has_eq = false;
    for (op, v) in values {
        let Value::Int(i) = v else {
            out.push(format!("{prefix} {} {}", op.as_str(), value_text(v)));
            has_eq |= *op == Op::Eq;
            continue;
        };
        match op {
            Op::Eq | Op::Ne => {
                has_eq |= *op == Op::Eq;
                out.push(format!("{prefix} {} {i}", op.as_str()));
            }
            Op::Gt => low = Some(low.map_or(i + 1, |l| l.min(i + 1))),
            Op::Ge => low = Some(low.map_or(*i, |l| l.min(*i))),
            Op::Lt => high = Some(high.map_or(i - 1, |h| h.max(i - 1))),
            Op::Le => high = Some(high.map_or(*i, |h| h.max(*i))),
        }
    }
    if low.is_some() || high.is_some() {
        let l = low.unwrap_or(min).max(min);
        let h = high.unwrap_or(max).min(max);
        if l <= h {
            let h = if h == max {
                "max".to_owned()
            } else {
                h.to_string()
            };
            out.push(format!("{prefix} in {l}..={h}"));
        }
    } else if !has_eq {
        out.push(format!("{prefix} matches unlisted values"));
    }
}

/// A prefix (suffix) pattern that extends a shorter prefix (suffix) pattern of the same
/// policy with the same operator can never change the outcome, and the image cannot tell it
/// apart: the trie entry of the longer one carries the shorter one's bits, which inspect
/// subtracts (docs/image-format.md). inspect shows only the shorter one.
fn covered(op: Op, v: &Value, values: &[(Op, &Value)]) -> bool {
    let Value::Str(this) = v else { return false };
    values.iter().any(|(o, other)| {
        *o == op
            && match (this, other) {
                (StrMatch::Prefix(long), Value::Str(StrMatch::Prefix(short))) => {
                    long.len() > short.len() && long.starts_with(short.as_str())
                }
                (StrMatch::Suffix(long), Value::Str(StrMatch::Suffix(short))) => {
                    long.len() > short.len() && long.ends_with(short.as_str())
                }
                _ => false,
            }
    })
}

fn strings(prefix: &str, values: &[(Op, &Value)], capacity: usize, out: &mut Vec<String>) {
    let mut has_eq = false;
    for (op, v) in values {
        has_eq |= *op == Op::Eq;
        if covered(*op, v, values) {
            continue;
        }
        let text = value_text(v);
        if text.len() < capacity {
            out.push(format!("{prefix} {} {text}", op.as_str()));
        }
    }
    if !has_eq {
        out.push(format!("{prefix} matches unlisted values"));
    }
}

fn grouped<K: PartialEq + Copy>(filters: &[Filter<K>]) -> Vec<(K, Vec<(Op, &Value)>)> {
    let mut groups: Vec<(K, Vec<(Op, &Value)>)> = Vec::new();
    for f in filters {
        let values = f.values.iter().map(|v| (f.op, v));
        match groups.iter_mut().find(|(k, _)| *k == f.key) {
            Some((_, list)) => list.extend(values),
            None => groups.push((f.key, values.collect())),
        }
    }
    groups
}

/// What inspect must show for a policy, stated straight from the IR.
pub fn expected(policy: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    for (key, values) in grouped(&policy.scope) {
        let ints: Vec<(Op, &Value)> = values
            .iter()
            .filter(|(_, v)| matches!(v, Value::Int(_)))
            .copied()
            .collect();
        match key {
            ScopeKey::Uid | ScopeKey::Pid | ScopeKey::Tree if !ints.is_empty() => {
                let name = format!("{key:?}").to_lowercase();
                numeric(
                    &format!("scope {name}"),
                    &ints,
                    (0, i128::from(u32::MAX)),
                    &mut out,
                );
            }
            ScopeKey::MntNs | ScopeKey::PidNs => {
                numeric(
                    &format!("scope {}", format!("{key:?}").to_lowercase()),
                    &ints,
                    (0, i128::from(u64::MAX)),
                    &mut out,
                );
            }
            ScopeKey::Uts => strings("scope uts", &values, 65, &mut out),
            ScopeKey::Comm => strings("scope comm", &values, 16, &mut out),
            ScopeKey::Executable => {
                let mut has_eq = false;
                for (op, v) in &values {
                    if let Value::Executable { mount_ns, path } = v {
                        has_eq |= *op == Op::Eq;
                        let ns = match mount_ns {
                            MountNs::Any => String::new(),
                            MountNs::Host => "host:".to_owned(),
                            MountNs::Id(n) => format!("{n}:"),
                        };
                        out.push(format!("scope executable {} {ns}{path}", op.as_str()));
                    }
                }
                if !has_eq {
                    out.push("scope executable matches unlisted values".to_owned());
                }
            }
            ScopeKey::Follow => out.push("scope follow".to_owned()),
            ScopeKey::NotContainer => out.push("scope container = false".to_owned()),
            _ => {}
        }
        for (op, v) in &values {
            let positive = *op == Op::Eq;
            match (key, v) {
                (ScopeKey::Pid, Value::New) => out.push(format!("scope new-pid = {positive}")),
                (ScopeKey::Container, Value::New) => {
                    out.push(format!("scope new-container = {positive}"))
                }
                (ScopeKey::Container, Value::Started) => {
                    out.push(format!("scope container-started = {positive}"))
                }
                (ScopeKey::Container, Value::Str(StrMatch::Exact(id))) => {
                    if positive {
                        out.push("scope container = true".to_owned());
                    }
                    out.push(format!("userspace scope container {} {id}", op.as_str()));
                }
                _ => {}
            }
        }
        if key == ScopeKey::Container && values.is_empty() {
            out.push("scope container = true".to_owned());
        }
    }
    for rule in &policy.rules {
        let event = rule.event.name;
        out.push(format!("rule {event}"));
        for (field, values) in grouped(&rule.filters) {
            let name = compiler::rule::field_name(field);
            let prefix = format!("rule {event} {name}");
            let userspace = matches!(field, RuleField::Context(c) if c.from_container_runtime());
            if userspace {
                for f in rule.filters.iter().filter(|f| f.key == field) {
                    let vals: Vec<String> = f.values.iter().map(value_text).collect();
                    out.push(format!(
                        "userspace rule {event} {name} {} {}",
                        f.op.as_str(),
                        vals.join(",")
                    ));
                }
                continue;
            }
            let is_string = match field {
                RuleField::Arg { def, .. } => def.ty == ArgType::Str,
                RuleField::Context(ContextField::Comm | ContextField::HostName) => true,
                _ => false,
            };
            if is_string {
                strings(&prefix, &values, 256, &mut out);
            } else {
                numeric(&prefix, &values, field_bounds(field), &mut out);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

#[test]
fn inspect_shows_exactly_the_input_filters_of_the_bundled_policies() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let image = dir.path().join("rules.bin");
    let policies_dir = repo().join("testdata/policies");
    compile(&policies_dir, &image);
    let report = inspect_json(&image);
    let checked = match compiler::check_paths(&[policies_dir]) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let shown = report["policies"].as_array().cloned().unwrap_or_default();
    assert_eq!(shown.len(), checked.policies.len());
    assert!(
        checked.policies.len() >= 10,
        "the bundled set should be substantial"
    );
    for (policy, view) in checked.policies.iter().zip(&shown) {
        assert_eq!(view["name"], policy.name.as_str());
        let got: Vec<String> = view["filters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert_eq!(got, expected(policy), "policy `{}`", policy.name);
    }
    assert_eq!(report["header"]["abi_matches"], true);
    assert_eq!(report["header"]["catalog_matches"], true);
    let maps = report["maps"].as_array().cloned().unwrap_or_default();
    assert!(
        maps.iter()
            .any(|m| m["name"] == "rule_prefix" && m["map_type"] == "BPF_MAP_TYPE_LPM_TRIE")
    );
}

#[test]
fn the_same_policies_give_byte_identical_images() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let (a, b) = (dir.path().join("a.bin"), dir.path().join("b.bin"));
    compile(&repo().join("testdata/policies"), &a);
    compile(&repo().join("testdata/policies"), &b);
    let (a, b) = (
        std::fs::read(a).unwrap_or_default(),
        std::fs::read(b).unwrap_or_default(),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
}

#[test]
fn damaged_images_are_refused_with_the_failed_check() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let image = dir.path().join("rules.bin");
    compile(&repo().join("testdata/policies/overview.yaml"), &image);
    let bytes = std::fs::read(&image).unwrap_or_default();
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x10;
    for (name, data, expect) in [
        (
            "truncated.bin",
            bytes[..bytes.len() / 2].to_vec(),
            "truncated",
        ),
        ("flipped.bin", flipped, "checksum"),
        (
            "text.bin",
            b"not an image at all, just some text....................".to_vec(),
            "not a tracee map image",
        ),
    ] {
        let path = dir.path().join(name);
        if let Err(e) = std::fs::write(&path, data) {
            panic!("{e}");
        }
        let output = match bin().arg("inspect").arg(&path).output() {
            Ok(o) => o,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(output.status.code(), Some(1), "{name}");
        let stderr = String::from_utf8_lossy(&output.stderr).to_lowercase();
        assert!(stderr.contains(expect), "{name}: {stderr}");
    }
}

#[test]
fn inspect_explains_kernel_and_userspace_filters() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let policy = dir.path().join("p.yaml");
    let text = "type: policy\nname: p\ndescription: d\nscope: [container]\nrules:\n  - event: openat\n    filters: ['args.pathname=/etc/*', 'containerImage=nginx*']\n";
    if let Err(e) = std::fs::write(&policy, text) {
        panic!("{e}");
    }
    let image = dir.path().join("rules.bin");
    compile(&policy, &image);
    let output = match bin().arg("inspect").arg("--explain").arg(&image).output() {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("scope, in the kernel: container (task state)"),
        "{text}"
    );
    assert!(
        text.contains("kernel:    args.pathname (prefix trie)"),
        "{text}"
    );
    assert!(
        text.contains("userspace: containerImage=nginx*: container and pod metadata"),
        "{text}"
    );
    assert!(
        text.contains("rule_prefix (BPF_MAP_TYPE_LPM_TRIE, 1/1 entries"),
        "{text}"
    );
    assert!(
        text.contains("openat args.pathname /etc/*  ->  = p  != -"),
        "{text}"
    );
}
