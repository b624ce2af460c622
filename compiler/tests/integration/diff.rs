//! `tracee-compile diff OLD NEW`, through the real binary: what a policy change does in the
//! kernel, matched by policy name.

use std::fs;
use std::path::Path;

use serde_json::Value;

use super::cli_run::{Run, bundled, tracee_compile};

/// A scratch directory holding `old/` and `new/` policy directories.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
        for side in ["old", "new"] {
            fs::create_dir(dir.path().join(side)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        Scratch { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn put(&self, file: &str, text: &str) {
        fs::write(self.path().join(file), text).unwrap_or_else(|e| panic!("{file}: {e}"));
    }

    /// `tracee-compile diff ARGS... old new` in the scratch directory.
    fn diff(&self, args: &[&str]) -> Run {
        let mut all = vec!["diff"];
        all.extend_from_slice(args);
        all.extend(["old", "new"]);
        tracee_compile(&all, self.path())
    }
}

const READS: &str = "type: policy\nname: a\ndescription: secret reads\nscope:\n  - comm=bash\nrules:\n  - event: openat\n    filters:\n      - args.pathname=/etc/shadow\n  - event: ptrace\n";
const OTHER: &str = "type: policy\nname: b\ndescription: other\nscope: [global]\nrules:\n  - event: openat\n    filters:\n      - args.pathname=/etc/hosts\n";

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn one_added_filter_value_is_one_added_entry_for_that_policy() {
    let s = Scratch::new();
    s.put("old/a.yaml", READS);
    s.put("old/b.yaml", OTHER);
    s.put(
        "new/a.yaml",
        &READS.replace("=/etc/shadow", "=/etc/shadow,/etc/passwd"),
    );
    s.put("new/b.yaml", OTHER);

    let human = s.diff(&[]);
    assert_eq!(human.status, 0, "{}", human.err);
    assert!(
        human
            .out
            .contains("\n+   openat args.pathname /etc/passwd: = a\n"),
        "{}",
        human.out
    );
    assert!(!human.out.contains("no differences"), "{}", human.out);

    let doc = s.diff(&["--json"]).json();
    assert_eq!(doc["identical"], false);
    let maps = doc["maps"].as_array().cloned().unwrap_or_default();
    assert_eq!(maps.len(), 1, "only rule_str changes: {doc:#}");
    assert_eq!(maps[0]["name"], "rule_str");
    let entries = maps[0]["entries"].as_array().cloned().unwrap_or_default();
    assert_eq!(entries.len(), 1, "{doc:#}");
    assert_eq!(entries[0]["key"], "openat args.pathname /etc/passwd");
    assert_eq!(entries[0]["change"], "added");
    assert_eq!(
        entries[0]["gained"],
        serde_json::json!([{"policy": "a", "role": "="}])
    );
    assert_eq!(entries[0]["lost"], serde_json::json!([]));

    let policies = doc["policies"].as_array().cloned().unwrap_or_default();
    assert_eq!(policies.len(), 1, "{doc:#}");
    assert_eq!(policies[0]["name"], "a");
    assert_eq!(
        strings(&policies[0]["filters"]["added"]),
        ["rule openat args.pathname = /etc/passwd"]
    );
    assert_eq!(
        doc["probes"],
        serde_json::json!({"added": [], "removed": []})
    );
    assert_eq!(
        doc["memory"]["kernel_bytes_delta"], 280,
        "one str_key + eq_bits"
    );
}

#[test]
fn a_policy_inserted_before_the_bundled_ones_shows_only_itself() {
    let s = Scratch::new();
    for entry in fs::read_dir(bundled()).unwrap_or_else(|e| panic!("{e}")) {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        if path.is_file() {
            let name = path.file_name().unwrap_or_default();
            fs::copy(&path, s.path().join("new").join(name)).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    // Sorts first: every bundled policy moves one bit up.
    s.put(
        "new/000-first.yaml",
        &OTHER.replace("name: b", "name: first"),
    );
    let old = bundled();
    let run = tracee_compile(&["diff", "--json", &old.to_string_lossy(), "new"], s.path());
    assert_eq!(run.status, 0, "{}", run.err);
    let doc = run.json();
    assert_eq!(doc["order_changed"], false);
    let policies = doc["policies"].as_array().cloned().unwrap_or_default();
    assert_eq!(policies.len(), 1, "{doc:#}");
    assert_eq!(policies[0]["name"], "first");
    assert_eq!(policies[0]["change"], "added");
    let mut roles = 0;
    for map in doc["maps"].as_array().cloned().unwrap_or_default() {
        for entry in map["entries"].as_array().cloned().unwrap_or_default() {
            assert_eq!(entry["lost"], serde_json::json!([]), "{entry:#}");
            for role in entry["gained"].as_array().cloned().unwrap_or_default() {
                assert_eq!(role["policy"], "first", "{} {entry:#}", map["name"]);
                roles += 1;
            }
        }
    }
    assert!(roles >= 4, "scope, gate, event, field, string: {doc:#}");
}

#[test]
fn removing_an_event_shows_the_hook_lost() {
    let s = Scratch::new();
    s.put("old/a.yaml", READS);
    s.put("new/a.yaml", &READS.replace("  - event: ptrace\n", ""));
    let run = s.diff(&[]);
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(run.out.contains("\n-   event ptrace\n"), "{}", run.out);
    assert!(
        run.out.contains("hooks\n-   tp/syscalls/sys_exit_ptrace\n"),
        "{}",
        run.out
    );
    let doc = s.diff(&["--json"]).json();
    assert_eq!(
        strings(&doc["probes"]["removed"]),
        ["tp/syscalls/sys_exit_ptrace"]
    );
    assert_eq!(
        strings(&doc["policies"][0]["events"]["removed"]),
        ["ptrace"]
    );
}

#[test]
fn an_image_and_its_policies_are_identical_and_exit_code_reports_differences() {
    let s = Scratch::new();
    let policies = bundled();
    let policies = policies.to_string_lossy();
    let wrote = tracee_compile(&[&policies, "-o", "rules.bin"], s.path());
    assert_eq!(wrote.status, 0, "{}", wrote.err);
    for (old, new) in [
        ("rules.bin", policies.as_ref()),
        (policies.as_ref(), "rules.bin"),
        ("rules.bin", "rules.bin"),
    ] {
        for extra in [None, Some("--exit-code")] {
            let mut args = vec!["diff"];
            args.extend(extra);
            args.extend([old, new]);
            let run = tracee_compile(&args, s.path());
            assert_eq!(run.status, 0, "{old} {new}: {}", run.err);
            assert!(run.out.contains("\nno differences\n"), "{}", run.out);
        }
    }

    s.put("old/a.yaml", READS);
    s.put("new/a.yaml", &READS.replace("comm=bash", "comm=zsh"));
    assert_eq!(s.diff(&[]).status, 0);
    let run = s.diff(&["--exit-code"]);
    assert_eq!(run.status, 1, "{}", run.err);
    assert!(run.out.contains("+   zsh: = a\n"), "{}", run.out);
    assert!(run.out.contains("-   bash: = a\n"), "{}", run.out);
    let md = s.diff(&["--format", "markdown"]);
    assert!(md.out.starts_with("#### tracee-compile diff"), "{}", md.out);
    assert!(md.out.contains("```diff\n"), "{}", md.out);
}

#[test]
fn corrupt_or_unreadable_inputs_exit_2_and_policy_errors_exit_1() {
    let s = Scratch::new();
    s.put("old/a.yaml", READS);
    let wrote = tracee_compile(&["old", "-o", "good.bin"], s.path());
    assert_eq!(wrote.status, 0, "{}", wrote.err);
    let mut bytes = fs::read(s.path().join("good.bin")).unwrap_or_else(|e| panic!("{e}"));
    if let Some(b) = bytes.get_mut(100) {
        *b ^= 0xff;
    }
    fs::write(s.path().join("bad.bin"), &bytes).unwrap_or_else(|e| panic!("{e}"));

    let run = tracee_compile(&["diff", "bad.bin", "old"], s.path());
    assert_eq!(run.status, 2);
    assert!(
        run.err.contains("`bad.bin` is not a valid image") && run.err.contains("checksum"),
        "{}",
        run.err
    );
    assert!(run.out.is_empty(), "{}", run.out);

    s.put("notes.txt", "not an image");
    let run = tracee_compile(&["diff", "old", "notes.txt"], s.path());
    assert_eq!(run.status, 2);
    assert!(
        run.err.contains("help: OLD and NEW are each"),
        "{}",
        run.err
    );

    let run = tracee_compile(&["diff", "old", "missing.bin"], s.path());
    assert_eq!(run.status, 2);
    assert!(run.err.contains("cannot read `missing.bin`"), "{}", run.err);

    s.put(
        "new/a.yaml",
        &READS.replace("event: ptrace", "event: ptrac"),
    );
    let run = s.diff(&[]);
    assert_eq!(run.status, 1);
    assert!(run.err.contains("E211"), "{}", run.err);
    assert!(
        run.err
            .contains("`new`: 1 policy error, nothing to compare"),
        "{}",
        run.err
    );
}

#[test]
fn json_has_the_documented_shape() {
    let s = Scratch::new();
    s.put("old/a.yaml", READS);
    s.put("new/a.yaml", OTHER);
    let doc = s.diff(&["--json"]).json();
    let keys = |v: &Value| -> Vec<String> {
        v.as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default()
    };
    let mut top = keys(&doc);
    top.sort();
    assert_eq!(
        top,
        [
            "identical",
            "maps",
            "memory",
            "new",
            "old",
            "order_changed",
            "policies",
            "probes",
            "userspace_filters"
        ]
    );
    for side in ["old", "new"] {
        let mut k = keys(&doc[side]);
        k.sort();
        assert_eq!(
            k,
            [
                "abi_hash",
                "catalog_hash",
                "events",
                "kind",
                "map_entries",
                "path",
                "policies"
            ]
        );
        assert_eq!(doc[side]["kind"], "policies");
    }
    let changes: Vec<(String, String)> = doc["policies"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|p| (p["name"].to_string(), p["change"].to_string()))
        .collect();
    assert_eq!(
        changes,
        [
            ("\"b\"".to_owned(), "\"added\"".to_owned()),
            ("\"a\"".to_owned(), "\"removed\"".to_owned())
        ]
    );
    let policy = &doc["policies"][0];
    let mut k = keys(policy);
    k.sort();
    assert_eq!(
        k,
        [
            "actions",
            "change",
            "description",
            "events",
            "filters",
            "name"
        ]
    );
    let map = &doc["maps"][0];
    let mut k = keys(map);
    k.sort();
    assert_eq!(k, ["change", "entries", "name", "new", "old"]);
    let mut k = keys(&map["entries"][0]);
    k.sort();
    assert_eq!(k, ["attrs", "change", "gained", "key", "lost"]);
    let mut k = keys(&doc["memory"]);
    k.sort();
    assert_eq!(
        k,
        [
            "image_bytes_delta",
            "kernel_bytes_delta",
            "new_image_bytes",
            "new_kernel_bytes",
            "old_image_bytes",
            "old_kernel_bytes"
        ]
    );
    assert_eq!(doc["identical"], false);
}
