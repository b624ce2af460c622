//! The real `tracee-compile` binary: exit statuses, input discovery, output formats.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracee-compile"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(args: &[&str], cwd: &Path) -> Output {
    match bin().args(args).current_dir(cwd).output() {
        Ok(output) => output,
        Err(e) => panic!("cannot run tracee-compile: {e}"),
    }
}

fn code(output: &Output) -> i32 {
    output.status.code().unwrap_or(-1)
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("tempdir: {e}"),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    if let Err(e) = fs::write(&path, text) {
        panic!("write {}: {e}", path.display());
    }
    path
}

fn json_of(output: &Output) -> Value {
    match serde_json::from_slice(&output.stdout) {
        Ok(v) => v,
        Err(e) => panic!("stdout is not JSON ({e}): {}", stdout(output)),
    }
}

/// A minimal valid plain-form policy.
fn policy(name: &str) -> String {
    format!(
        "type: policy\nname: {name}\ndescription: test policy\nscope:\n  - comm=bash\nrules:\n  - event: openat\n"
    )
}

const UNKNOWN_EVENT: &str =
    "type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: opennat\n";
const WARNING_ONLY: &str = "type: policy\nname: w\ndescription: d\nscope:\n  - comm=averyveryverylongname\nrules:\n  - event: openat\n";

#[test]
fn seed_policy_checks_clean() {
    let out = run(&["--check", "testdata/policies/overview.yaml"], &repo());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("no problems"), "{}", stderr(&out));
}

#[test]
fn bundled_policies_check_clean() {
    let out = run(&["--check", "testdata/policies/"], &repo());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains(": no problems"), "{}", stderr(&out));
}

#[test]
fn policy_errors_exit_1_and_warnings_only_exit_0_unless_denied() {
    let dir = tempdir();
    let bad = write(dir.path(), "bad.yaml", UNKNOWN_EVENT);
    let out = run(&["--check", &bad.to_string_lossy()], dir.path());
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("E211"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("did you mean `openat`?"),
        "{}",
        stderr(&out)
    );

    let warn = write(dir.path(), "warn.yaml", WARNING_ONLY);
    let out = run(&["--check", &warn.to_string_lossy()], dir.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("W301"), "{}", stderr(&out));
    let out = run(
        &["--check", "--deny-warnings", &warn.to_string_lossy()],
        dir.path(),
    );
    assert_eq!(code(&out), 1, "{}", stderr(&out));
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempdir();
    let out = run(&["--check", "does-not-exist.yaml"], dir.path());
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("does-not-exist.yaml"),
        "{}",
        stderr(&out)
    );

    write(dir.path(), "notes.txt", "not a policy");
    let out = run(&["--check", "."], dir.path());
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("holds no policy files"),
        "{}",
        stderr(&out)
    );

    assert_eq!(code(&run(&["--check"], dir.path())), 2, "no paths");
    assert_eq!(
        code(&run(&["--bogus-flag", "x"], dir.path())),
        2,
        "unknown flag"
    );
    let good = write(dir.path(), "good.yaml", &policy("good"));
    let out = run(&[&good.to_string_lossy()], dir.path());
    assert_eq!(
        code(&out),
        2,
        "-o is required without --check: {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("-o FILE"), "{}", stderr(&out));
}

#[test]
fn nothing_is_written_when_policies_have_errors() {
    let dir = tempdir();
    let bad = write(dir.path(), "bad.yaml", UNKNOWN_EVENT);
    let image = dir.path().join("rules.bin");
    let out = run(
        &[&bad.to_string_lossy(), "-o", &image.to_string_lossy()],
        dir.path(),
    );
    assert_eq!(code(&out), 1);
    assert!(!image.exists());
}

#[test]
fn directories_are_read_flat_by_extension_in_name_order() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "b.yaml", &policy("dup"));
    write(d, "a.yml", &policy("dup"));
    write(
        d,
        "c.json",
        r#"{"type": "policy", "name": "c", "description": "d", "scope": ["global"], "rules": [{"event": "close"}]}"#,
    );
    // Not policy files: other extensions, upper-case extension, sub-directories.
    write(d, "notes.txt", UNKNOWN_EVENT);
    write(d, "upper.YAML", UNKNOWN_EVENT);
    if let Err(e) = fs::create_dir(d.join("sub")) {
        panic!("mkdir: {e}");
    }
    write(&d.join("sub"), "nested.yaml", UNKNOWN_EVENT);

    let out = run(&["--check", "--format", "json", "."], d);
    let doc = json_of(&out);
    assert_eq!(doc["summary"]["files"], 3, "{doc}");
    assert_eq!(doc["summary"]["policies"], 3, "{doc}");
    let diags = doc["diagnostics"].as_array().cloned().unwrap_or_default();
    // `a.yml` comes first in name order, so the duplicate is the one in `b.yaml`.
    assert_eq!(diags.len(), 1, "{doc}");
    assert_eq!(diags[0]["code"], "E202");
    assert!(
        diags[0]["file"]
            .as_str()
            .unwrap_or_default()
            .ends_with("b.yaml"),
        "{doc}"
    );
    assert!(
        diags[0]["help"]
            .as_str()
            .unwrap_or_default()
            .contains("a.yml:2:7"),
        "{doc}"
    );

    // A file named explicitly is read whatever its extension.
    let out = run(&["--check", "notes.txt"], d);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("E211"));
}

#[test]
fn every_problem_of_every_file_is_reported_in_one_run() {
    let dir = tempdir();
    let d = dir.path();
    write(d, "one.yaml", UNKNOWN_EVENT);
    write(
        d,
        "two.yaml",
        "type: policy\nname: Two\ndescription: d\nscope: [uid=-1]\nrules:\n  - event: close\n    filter: [retval<0]\n",
    );
    let out = run(&["--check", "--format", "json", "one.yaml", "two.yaml"], d);
    assert_eq!(code(&out), 1);
    let doc = json_of(&out);
    let codes: Vec<String> = doc["diagnostics"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|d| {
            format!(
                "{}:{}",
                d["file"].as_str().unwrap_or_default(),
                d["code"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        codes,
        [
            "one.yaml:E211",
            "two.yaml:E201",
            "two.yaml:E208",
            "two.yaml:E107"
        ],
        "{doc}"
    );
}

#[test]
fn json_output_has_exact_positions() {
    let dir = tempdir();
    write(dir.path(), "p.yaml", UNKNOWN_EVENT);
    let out = run(&["--check", "--format", "json", "p.yaml"], dir.path());
    let doc = json_of(&out);
    let d = &doc["diagnostics"][0];
    assert_eq!(d["file"], "p.yaml");
    assert_eq!(d["line"], 6);
    assert_eq!(d["column"], 12);
    assert_eq!(d["end_line"], 6);
    assert_eq!(d["end_column"], 19);
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "E211");
    assert_eq!(d["message"], "unknown event `opennat`");
    assert_eq!(d["help"], "did you mean `openat`?");
    assert_eq!(doc["summary"]["errors"], 1);
    assert_eq!(doc["summary"]["warnings"], 0);
}

#[test]
fn sarif_output_is_sarif_2_1_0_with_rules_and_regions() {
    let dir = tempdir();
    write(dir.path(), "p.yaml", UNKNOWN_EVENT);
    let out = run(&["--check", "--format", "sarif", "p.yaml"], dir.path());
    assert_eq!(code(&out), 1);
    let doc = json_of(&out);
    assert_eq!(doc["version"], "2.1.0");
    assert!(
        doc["$schema"]
            .as_str()
            .unwrap_or_default()
            .contains("sarif-2.1.0")
    );
    let run0 = &doc["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "tracee-compile");
    let rules = run0["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(rules.len(), compiler::diagnostics::codes::CODES.len());
    let result = &run0["results"][0];
    assert_eq!(result["ruleId"], "E211");
    assert_eq!(result["level"], "error");
    let rule_index = result["ruleIndex"].as_u64().unwrap_or(u64::MAX) as usize;
    assert_eq!(
        rules.get(rule_index).map(|r| r["id"].clone()),
        Some(Value::from("E211"))
    );
    let location = &result["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "p.yaml");
    assert_eq!(location["region"]["startLine"], 6);
    assert_eq!(location["region"]["startColumn"], 12);
    assert!(
        result["message"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("did you mean `openat`?")
    );
}

#[test]
fn github_output_is_workflow_commands() {
    let dir = tempdir();
    write(dir.path(), "p.yaml", UNKNOWN_EVENT);
    write(dir.path(), "w.yaml", WARNING_ONLY);
    let out = run(
        &["--check", "--format", "github", "p.yaml", "w.yaml"],
        dir.path(),
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("::error file=p.yaml,line=6,col=12,"),
        "{text}"
    );
    assert!(
        lines[0].contains("::E211 unknown event `opennat`%0Ahelp: did you mean `openat`?"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("::warning file=w.yaml,line=5,col=10,"),
        "{text}"
    );
}

#[test]
fn policy_count_is_limited_to_64_across_files_and_documents() {
    let dir = tempdir();
    let d = dir.path();
    // 32 files of 2 documents each: exactly 64.
    for i in 0..32 {
        write(
            d,
            &format!("p{i:02}.yaml"),
            &format!(
                "{}---\n{}",
                policy(&format!("a{i}")),
                policy(&format!("b{i}"))
            ),
        );
    }
    let out = run(&["--check", "."], d);
    assert_eq!(code(&out), 0, "64 policies are allowed: {}", stderr(&out));
    write(d, "p99.yaml", &policy("one-too-many"));
    let out = run(&["--check", "--format", "json", "."], d);
    assert_eq!(code(&out), 1);
    let doc = json_of(&out);
    // The copies are also W311 (duplicate-policy): the one error is E204.
    let errors: Vec<&Value> = doc["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["severity"] == "error")
        .collect();
    assert_eq!(errors.len(), 1, "{doc}");
    assert_eq!(errors[0]["code"], "E204", "{doc}");
    assert_eq!(
        errors[0]["message"],
        "65 policies in total; at most 64 can be loaded together"
    );
    assert!(
        errors[0]["file"]
            .as_str()
            .unwrap_or_default()
            .ends_with("p99.yaml")
    );
}

#[test]
fn oversized_and_undecodable_files_are_reported_with_their_name() {
    let dir = tempdir();
    let d = dir.path();
    let mut big =
        String::from("type: policy\nname: big\ndescription: d\nscope: [global]\nrules:\n");
    while big.len() <= 8 * 1024 * 1024 {
        big.push_str("  # padding padding padding padding padding padding padding padding\n");
    }
    write(d, "big.yaml", &big);
    let mut bytes = policy("utf").into_bytes();
    bytes.splice(20..20, [0xC3, 0x28]);
    if let Err(e) = fs::write(d.join("bad-utf8.yaml"), &bytes) {
        panic!("{e}");
    }
    let out = run(
        &["--check", "--format", "json", "big.yaml", "bad-utf8.yaml"],
        d,
    );
    assert_eq!(code(&out), 1);
    let doc = json_of(&out);
    assert_eq!(doc["diagnostics"][0]["code"], "E104", "{doc}");
    assert_eq!(doc["diagnostics"][0]["file"], "big.yaml");
    assert_eq!(doc["diagnostics"][1]["code"], "E102", "{doc}");
    assert_eq!(
        doc["diagnostics"][1]["message"],
        "invalid UTF-8 at byte offset 20"
    );
    assert_eq!(doc["diagnostics"][1]["line"], 2);
}

#[test]
fn yaml_bombs_stop_with_a_resource_error() {
    let dir = tempdir();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for i in 1..9u8 {
        let (p, c) = ((b'a' + i - 1) as char, (b'a' + i) as char);
        let refs = vec![format!("*{p}"); 9].join(",");
        let _ = writeln!(bomb, "{c}: &{c} [{refs}]");
    }
    write(dir.path(), "bomb.yaml", &bomb);
    let out = run(&["--check", "--format", "json", "bomb.yaml"], dir.path());
    assert_eq!(code(&out), 1);
    let doc = json_of(&out);
    assert_eq!(doc["diagnostics"][0]["code"], "E105", "{doc}");
}

/// Many aliases of one anchor trip the parser's aliases-per-anchor budget: the message says
/// so in words (it was a `Debug` dump of the parser's breach).
#[test]
fn alias_ratio_is_explained_in_words() {
    let dir = tempdir();
    let refs = vec!["*a"; 150].join(", ");
    write(
        dir.path(),
        "ratio.yaml",
        &format!(
            "type: policy\nname: r\ndescription: d\nscope: [global]\nrules: [{{event: openat}}]\nx: &a v\ny: [{refs}]\n"
        ),
    );
    let out = run(&["--check", "--format", "json", "ratio.yaml"], dir.path());
    assert_eq!(code(&out), 1);
    let doc = json_of(&out);
    assert_eq!(doc["diagnostics"][0]["code"], "E105", "{doc}");
    let message = doc["diagnostics"][0]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("150 aliases for 1 anchors")
            && message.contains("10 aliases per anchor")
            && !message.contains('{'),
        "{message}"
    );
}

#[test]
fn human_output_has_the_exact_label_and_help() {
    let dir = tempdir();
    write(dir.path(), "p.yaml", UNKNOWN_EVENT);
    let out = run(&["--check", "--color", "never", "p.yaml"], dir.path());
    let text = stderr(&out);
    assert!(text.contains("[p.yaml:6:12]"), "{text}");
    assert!(text.contains("unknown event `opennat`"), "{text}");
    assert!(text.contains("not in the event catalog"), "{text}");
    assert!(text.contains("help: did you mean `openat`?"), "{text}");
    assert!(
        !text.contains('\u{1b}'),
        "no colour codes with --color never: {text}"
    );
    assert!(
        text.contains("checked 1 policy document in 1 file: 1 error, 0 warnings"),
        "{text}"
    );
}

/// A secondary label far right on a long line once made miette's padding panic (found by
/// the benchmark helper); the report must render, without the snippet.
#[test]
fn labels_on_very_long_lines_render_without_panicking() {
    let dir = tempdir();
    let text = format!(
        "{{\"x\": \"{}\", \"kind\": 1,\n \"kind\": 1}}\n",
        "\t".repeat(16_384)
    );
    write(dir.path(), "tabs.json", &text);
    let out = run(&["--check", "--color", "never", "tabs.json"], dir.path());
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let text = stderr(&out);
    assert!(text.contains("duplicate key `kind`"), "{text}");
    assert!(text.contains("at tabs.json:2:2"), "{text}");
}

/// Runs the binary, killed if it has not finished within `limit` (a hang guard: a FIFO
/// opened for reading waits for a writer forever; `/dev/zero` never ends).
fn run_bounded(args: &[&str], cwd: &Path, limit: std::time::Duration) -> Output {
    use std::process::Stdio;
    let mut child = match bin()
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("cannot run tracee-compile: {e}"),
    };
    let until = std::time::Instant::now() + limit;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tracee-compile {args:?} hung for {limit:?}");
            }
        }
    }
    match child.wait_with_output() {
        Ok(out) => out,
        Err(e) => panic!("{e}"),
    }
}

/// A FIFO, a socket, a device, a broken link and a link loop, given directly or found in a
/// policy directory under a policy's name: each is reported as E111 naming what it is, at
/// once, beside the good files' problems; nothing waits on the FIFO or reads `/dev/zero`.
/// A sub-directory named like a policy is not read (the search is flat), as documented.
#[test]
fn special_files_are_reported_by_kind_without_waiting() {
    let dir = tempdir();
    let d = dir.path();
    let policies = d.join("policies");
    if let Err(e) = fs::create_dir(&policies) {
        panic!("{e}");
    }
    write(&policies, "a-good.yaml", &policy("good"));
    write(&policies, "b-bad.yaml", UNKNOWN_EVENT);
    let fifo = policies.join("fifo.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let socket = policies.join("socket.yaml");
    let _listener =
        std::os::unix::net::UnixListener::bind(&socket).unwrap_or_else(|e| panic!("bind: {e}"));
    let link = |target: &Path, name: &str| {
        if let Err(e) = std::os::unix::fs::symlink(target, policies.join(name)) {
            panic!("symlink: {e}");
        }
    };
    link(Path::new("/dev/zero"), "zero.yaml");
    link(&policies.join("loop.yaml"), "loop.yaml");
    link(&d.join("gone.yaml"), "dangling.yaml");
    if let Err(e) = fs::create_dir(policies.join("sub.yaml")) {
        panic!("{e}");
    }
    let limit = std::time::Duration::from_secs(10);
    let out = run_bounded(&["--check", "--format", "json", "policies"], d, limit);
    assert_eq!(code(&out), 1, "{}", stderr(&out));
    let doc = json_of(&out);
    let diagnostics = doc["diagnostics"].as_array().cloned().unwrap_or_default();
    let by_file = |name: &str| -> Vec<(String, String)> {
        diagnostics
            .iter()
            .filter(|d| d["file"].as_str().is_some_and(|f| f.ends_with(name)))
            .map(|d| {
                (
                    d["code"].as_str().unwrap_or_default().to_owned(),
                    d["message"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    };
    for (name, says) in [
        ("fifo.yaml", "is a FIFO (named pipe), not a policy file"),
        ("socket.yaml", "is a socket, not a policy file"),
        ("zero.yaml", "is a character device, not a policy file"),
        ("loop.yaml", "symbolic link loop"),
        (
            "dangling.yaml",
            "is a symbolic link that cannot be followed",
        ),
    ] {
        let found = by_file(name);
        assert_eq!(found.len(), 1, "{name}: {doc}");
        assert_eq!(found[0].0, "E111", "{name}: {doc}");
        assert!(found[0].1.contains(says), "{name}: {}", found[0].1);
    }
    assert_eq!(by_file("b-bad.yaml")[0].0, "E211", "{doc}");
    assert!(by_file("a-good.yaml").is_empty(), "{doc}");
    assert!(by_file("sub.yaml").is_empty(), "{doc}");

    // Given directly: the same report (and -o writes nothing).
    let image = d.join("rules.bin");
    for path in [fifo.as_path(), socket.as_path(), Path::new("/dev/zero")] {
        let out = run_bounded(
            &[&path.to_string_lossy(), "-o", &image.to_string_lossy()],
            d,
            limit,
        );
        assert_eq!(code(&out), 1, "{}", stderr(&out));
        assert!(stderr(&out).contains("E111"), "{}", stderr(&out));
        assert!(!image.exists());
    }
    // A link loop given directly does not resolve at all: an I/O error, exit 2.
    let out = run_bounded(&["--check", "policies/loop.yaml"], d, limit);
    assert_eq!(code(&out), 2, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("symbolic link loop"),
        "{}",
        stderr(&out)
    );
    // `inspect` opens images the same way.
    for path in [fifo.as_path(), Path::new("/dev/zero"), socket.as_path()] {
        let out = run_bounded(&["inspect", &path.to_string_lossy()], d, limit);
        assert_eq!(code(&out), 2, "{}", stderr(&out));
        assert!(
            stderr(&out).contains("not a regular file"),
            "{}",
            stderr(&out)
        );
    }
}

/// `--emit configmap` writes a ConfigMap whose `binaryData.rules.bin` is exactly the image
/// `-o` writes, named and placed as asked, with the policies and the checksum annotated; a
/// name Kubernetes refuses writes nothing.
#[test]
fn emit_configmap_carries_the_same_image() {
    use base64::Engine as _;
    let dir = tempdir();
    let seed = repo().join("testdata/policies/overview.yaml");
    let seed = seed.to_string_lossy();
    let image = dir.path().join("rules.bin");
    let cm = dir.path().join("rules.yaml");
    let out = run(&[&seed, "-o", &image.to_string_lossy()], &repo());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let args = [
        &*seed,
        "-o",
        &cm.to_string_lossy(),
        "--emit",
        "configmap",
        "--configmap-name",
        "node-rules",
        "--namespace",
        "security",
    ];
    let out = run(&args, &repo());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = fs::read_to_string(&cm).unwrap_or_else(|e| panic!("{e}"));
    let doc: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    assert_eq!(
        (&doc["apiVersion"], &doc["kind"]),
        (&Value::from("v1"), &Value::from("ConfigMap"))
    );
    assert_eq!(doc["metadata"]["name"], "node-rules");
    assert_eq!(doc["metadata"]["namespace"], "security");
    let data = doc["binaryData"]["rules.bin"].as_str().unwrap_or_default();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bytes, fs::read(&image).unwrap_or_else(|e| panic!("{e}")));
    assert!(schema::image::decode(&bytes).is_ok());
    let checksum = format!(
        "{:016x}",
        schema::abi::fnv1a(schema::abi::FNV_OFFSET, &bytes)
    );
    assert_eq!(
        doc["metadata"]["annotations"]["tracee-compile/image-fnv1a64"],
        checksum.as_str()
    );
    assert!(
        doc["metadata"]["annotations"]["tracee-compile/policies"]
            .as_str()
            .is_some_and(|p| !p.is_empty())
    );

    let bad = dir.path().join("bad.yaml");
    let out = run(
        &[
            &seed,
            "-o",
            &bad.to_string_lossy(),
            "--emit",
            "configmap",
            "--configmap-name",
            "Rules",
        ],
        &repo(),
    );
    assert_eq!(code(&out), 2);
    assert!(
        stderr(&out).contains("not a valid Kubernetes name"),
        "{}",
        stderr(&out)
    );
    assert!(!bad.exists());
}

/// `--check` writes nothing, even given `-o` (as the README, docs/ci.md and --help say).
#[test]
fn check_never_writes_even_with_an_output() {
    let dir = tempdir();
    write(dir.path(), "p.yaml", &policy("p"));
    let out = run(&["--check", "-o", "rules.bin", "p.yaml"], dir.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(
        !dir.path().join("rules.bin").exists(),
        "--check wrote the image"
    );
}

/// Without `-o` or `--check`: a usage error that names both ways out.
#[test]
fn missing_output_names_check() {
    let dir = tempdir();
    write(dir.path(), "p.yaml", &policy("p"));
    let out = run(&["p.yaml"], dir.path());
    assert_eq!(code(&out), 2);
    let err = stderr(&out);
    assert!(err.contains("-o FILE") && err.contains("--check"), "{err}");
}

/// `-` is standard input, named `<stdin>` in diagnostics, beside files.
#[test]
fn dash_reads_a_policy_from_stdin() {
    use std::io::Write as _;
    use std::process::Stdio;
    let dir = tempdir();
    write(dir.path(), "p.yaml", &policy("from-file"));
    let piped = |text: &str, args: &[&str]| {
        let mut child = bin()
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{e}"));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text.as_bytes());
        }
        child.wait_with_output().unwrap_or_else(|e| panic!("{e}"))
    };
    let out = piped(&policy("from-stdin"), &["-o", "rules.bin", "p.yaml", "-"]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("2 policies"), "{}", stderr(&out));
    let out = piped(UNKNOWN_EVENT, &["--check", "--format", "json", "-"]);
    assert_eq!(code(&out), 1);
    let doc = json_of(&out);
    assert_eq!(doc["diagnostics"][0]["file"], "<stdin>", "{doc}");
    assert_eq!(doc["diagnostics"][0]["line"], 6, "{doc}");
}

/// Human output stops after --max-diagnostics (100 by default) and says how many more
/// there are; JSON keeps every one.
#[test]
fn printed_diagnostics_are_capped_with_the_total() {
    let dir = tempdir();
    let mut text = String::from(
        "type: policy\nname: many\ndescription: d\nscope: [global]\nrules:\n  - event: openat\n    filters:\n",
    );
    for i in 0..150 {
        let _ = writeln!(text, "      - args.pathnam{i}=/x");
    }
    write(dir.path(), "many.yaml", &text);
    let out = run(&["--check", "--color", "never", "many.yaml"], dir.path());
    assert_eq!(code(&out), 1);
    let err = stderr(&out);
    assert_eq!(err.matches("E214").count(), 100, "{err:.2000}");
    assert!(
        err.contains("... and 50 more diagnostics not shown (150 in all; --max-diagnostics 0 shows every one)"),
        "{err:.2000}"
    );
    assert!(
        err.contains("150 errors"),
        "the summary counts all: {err:.2000}"
    );
    let out = run(
        &[
            "--check",
            "--color",
            "never",
            "--max-diagnostics",
            "0",
            "many.yaml",
        ],
        dir.path(),
    );
    assert_eq!(stderr(&out).matches("E214").count(), 150);
    let out = run(&["--check", "--format", "json", "many.yaml"], dir.path());
    assert_eq!(
        json_of(&out)["diagnostics"].as_array().map(Vec::len),
        Some(150)
    );
}

/// Every SARIF rule carries a helpUri: the web page of its code, whose anchor is a heading
/// of docs/diagnostics.md; the description names `tracee-compile explain`, which prints it.
#[test]
fn sarif_rules_carry_help_uris_and_explain_prints_the_page() {
    let dir = tempdir();
    write(dir.path(), "p.yaml", UNKNOWN_EVENT);
    let out = run(&["--check", "--format", "sarif", "p.yaml"], dir.path());
    let doc = json_of(&out);
    let page = fs::read_to_string(repo().join("docs/diagnostics.md")).unwrap_or_default();
    let rules = doc["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(rules.len() > 20, "{doc}");
    for rule in &rules {
        let id = rule["id"].as_str().unwrap_or_default();
        let uri = rule["helpUri"].as_str().unwrap_or_default();
        let anchor = uri.rsplit_once('#').map(|(_, a)| a).unwrap_or_default();
        assert!(uri.starts_with("https://"), "{rule}");
        let heading = format!("\n## {id} {}\n", rule["name"].as_str().unwrap_or_default());
        assert!(page.contains(&heading), "{heading}");
        assert_eq!(anchor, id.to_ascii_lowercase());
        assert!(
            page.contains(&format!("<a id=\"{anchor}\"></a>")),
            "{anchor}"
        );
        let full = rule["fullDescription"]["text"].as_str().unwrap_or_default();
        assert!(
            full.contains(&format!("tracee-compile explain {id}")),
            "{full}"
        );
    }
    let out = run(&["explain", "e211"], dir.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("## E211 "), "{text:.200}");
    assert!(text.contains("# expect: E211"), "{text:.2000}");
    assert!(!text.contains("## E212"), "one code only");
    let out = run(&["explain", "E999"], dir.path());
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("E211"), "the error lists the codes");
}

/// The version names the commit built; completions and man pages come from the CLI
/// definitions (every subcommand has its page).
#[test]
fn version_completions_and_man_pages() {
    let dir = tempdir();
    let out = run(&["--version"], dir.path());
    let version = stdout(&out);
    assert!(
        version.starts_with(&format!("tracee-compile {} (", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    if let Ok(head) = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(repo())
        .output()
        && head.status.success()
    {
        let head = String::from_utf8_lossy(&head.stdout).trim().to_owned();
        assert!(
            version.contains(&format!("(commit {head})")),
            "{version} vs {head}"
        );
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell], dir.path());
        assert_eq!(code(&out), 0);
        let script = stdout(&out);
        assert!(
            script.contains("tracee-compile") && script.contains("max-diagnostics"),
            "{shell}"
        );
    }
    let out = run(&["man", "pages"], dir.path());
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    for page in [
        "tracee-compile.1",
        "tracee-compile-inspect.1",
        "tracee-compile-explain.1",
    ] {
        let text = fs::read_to_string(dir.path().join("pages").join(page)).unwrap_or_default();
        assert!(text.contains(".TH"), "{page}: {text:.200}");
    }
    let license = fs::read_to_string(repo().join("LICENSE")).unwrap_or_default();
    let manifest = fs::read_to_string(repo().join("Cargo.toml")).unwrap_or_default();
    assert!(manifest.contains("license = \"Apache-2.0\""));
    assert!(license.contains("Apache License") && license.contains("Version 2.0"));
}
