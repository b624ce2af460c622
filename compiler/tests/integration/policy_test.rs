//! `tracee-compile test`, through the real binary: the bundled suite, mutations of the
//! bundled policies it must catch, every output format, malformed cases (E402), exact-set
//! semantics, `line:` cases, task facts, and how test files are found.

use std::fs;
use std::path::{Path, PathBuf};

use super::cli_run::{Run, bundled, repo, tracee_compile};

/// `tracee-compile test ARGS...` in `cwd`, human output without colour.
fn test_cmd(args: &[&str], cwd: &Path) -> Run {
    let mut all = vec!["test", "--color", "never"];
    all.extend_from_slice(args);
    tracee_compile(&all, cwd)
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn put(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir {}: {e}", parent.display()));
    }
    fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// A copy of the bundled policies (and their suite) in `dir/p`, the sub-directory
/// `invalid/` left out (directories are not read recursively anyway).
fn copy_bundled(dir: &Path) -> PathBuf {
    let to = dir.join("p");
    fs::create_dir(&to).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let entries = fs::read_dir(bundled()).unwrap_or_else(|e| panic!("read_dir: {e}"));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("read_dir: {e}"));
        if entry.path().is_file() {
            fs::copy(entry.path(), to.join(entry.file_name()))
                .unwrap_or_else(|e| panic!("copy {}: {e}", entry.path().display()));
        }
    }
    to
}

/// Replaces the one occurrence of `from` in `file` by `to`.
fn mutate(file: &Path, from: &str, to: &str) {
    let text = read(file);
    assert_eq!(
        text.matches(from).count(),
        1,
        "`{from}` must occur exactly once in {}",
        file.display()
    );
    put(file, &text.replacen(from, to, 1));
}

/// The number of cases in the bundled suite: the items of its `tests:` list.
fn case_count(suite: &str) -> usize {
    suite.lines().filter(|l| l.starts_with("  - ")).count()
}

/// Line and column (1-based) of the value of the `expect:` of the case named `name`.
fn expect_position(suite: &str, name: &str) -> (usize, usize) {
    let lines: Vec<&str> = suite.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.trim_start().strip_prefix("- name: ") == Some(name))
        .unwrap_or_else(|| panic!("no case named `{name}` in the suite"));
    for (i, line) in lines.iter().enumerate().skip(start + 1) {
        let trimmed = line.trim_start();
        if trimmed.starts_with("- ") {
            break;
        }
        if let Some(value) = trimmed.strip_prefix("expect:") {
            let value_at = line.len() - value.trim_start().len();
            return (i + 1, value_at + 1);
        }
    }
    panic!("the case `{name}` has no `expect`")
}

// ---------------------------------------------------------------------------------------
// The bundled suite and mutations of the bundled policies
// ---------------------------------------------------------------------------------------

#[test]
fn bundled_suite_passes() {
    let suite = read(&bundled().join("policies.test.yaml"));
    let n = case_count(&suite);
    assert!(n >= 20, "the suite holds {n} cases");
    let run = test_cmd(&["testdata/policies"], &repo());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err.contains(&format!(
            "ran {n} test cases in 1 file: {n} passed, 0 failed"
        )),
        "{}",
        run.err
    );
    assert!(!run.err.contains("E401"), "{}", run.err);
    assert!(!run.err.contains("E402"), "{}", run.err);
}

/// One-line mutations of the bundled policies, and the cases that must catch each.
const MUTATIONS: &[(&str, &str, &str, &[&str])] = &[
    (
        "credential-access.yaml",
        "comm!=unix_chkpwd,passwd,chage",
        "comm!=passwd,chage",
        &["unix_chkpwd is expected to read it"],
    ),
    (
        "credential-access.yaml",
        "retval>=0",
        "retval<0",
        &[
            "a user's cat reading /etc/shadow",
            "the read failed, so nothing was read",
            "shadow anywhere in the path",
        ],
    ),
    (
        "defense-evasion.yaml",
        "args.sig=9,15,19",
        "args.sig=15,19",
        &["bash killing the agent"],
    ),
    (
        "defense-evasion.yaml",
        "args.pid>1",
        "args.pid>=1",
        &["signalling init is not counted (pid > 1)"],
    ),
    (
        "service-account-shells.yaml",
        "uid<1000",
        "uid<=1000",
        &["uid 1000 is not a service account"],
    ),
    (
        "kernel-modules.yml",
        "retval=-1,-13",
        "retval=-1",
        &["a refused removal"],
    ),
    (
        "kernel-modules.yml",
        "args.name!=nf_*",
        "args.name!=nf_x*",
        &["netfilter modules are left out"],
    ),
    (
        "privilege-escalation.yaml",
        "uid>1000",
        "uid>=1000",
        &["uid 1000 is at the bound (uid > 1000)"],
    ),
    (
        "privilege-escalation.yaml",
        "bin!=/usr/bin/sudo,/usr/bin/su",
        "bin!=/usr/bin/su",
        &["sudo is expected to"],
    ),
    (
        "incident-response.yaml",
        "tree=31337",
        "tree=1",
        &[
            "an openat of a descendant of 31337, a world-writable file in /tmp",
            "the same from another tree",
        ],
    ),
    (
        "overview.yaml",
        "retval!=0",
        "retval=0",
        &["a failed close", "a close that worked"],
    ),
    (
        "reverse-shells.json",
        "\"args.oldfd>2\"",
        "\"args.oldfd>3\"",
        &["a dup2 of a socket onto stdout by nc"],
    ),
];

#[test]
fn the_unmutated_copy_passes() {
    let dir = tempdir();
    copy_bundled(dir.path());
    let suite = read(&dir.path().join("p/policies.test.yaml"));
    let n = case_count(&suite);
    let run = test_cmd(&["p"], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err.contains(&format!(
            "ran {n} test cases in 1 file: {n} passed, 0 failed"
        )),
        "{}",
        run.err
    );
}

#[test]
fn the_bundled_suite_catches_policy_mutations() {
    for (file, from, to, failing) in MUTATIONS {
        let dir = tempdir();
        let copy = copy_bundled(dir.path());
        let suite = read(&copy.join("policies.test.yaml"));
        let n = case_count(&suite);
        mutate(&copy.join(file), from, to);
        let what = format!("{file}: `{from}` -> `{to}`");

        let human = test_cmd(&["p"], dir.path());
        assert_eq!(human.status, 1, "{what} survived:\n{}", human.err);
        assert!(
            human.err.contains(&format!(
                "ran {n} test cases in 1 file: {} passed, {} failed",
                n - failing.len(),
                failing.len()
            )),
            "{what}:\n{}",
            human.err
        );
        assert_eq!(
            human.err.matches("E401").count(),
            failing.len(),
            "{what}:\n{}",
            human.err
        );
        for name in *failing {
            let (line, col) = expect_position(&suite, name);
            let at = format!("p/policies.test.yaml:{line}:{col}");
            assert!(
                human.err.contains(&at),
                "{what}: no report at {at}:\n{}",
                human.err
            );
        }

        let json = tracee_compile(&["test", "--format", "json", "p"], dir.path());
        assert_eq!(json.status, 1, "{what}: {}", json.err);
        let diagnostics = json.diagnostics();
        assert_eq!(diagnostics.len(), failing.len(), "{what}: {}", json.out);
        for (d, name) in diagnostics.iter().zip(*failing) {
            let (line, col) = expect_position(&suite, name);
            assert_eq!(d["code"], "E401", "{what}: {d}");
            assert_eq!(d["line"], line, "{what}: {d}");
            assert_eq!(d["column"], col, "{what}: {d}");
            let message = d["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with(&format!("test `{name}`: expected ")),
                "{what}: {d}"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------
// Output formats
// ---------------------------------------------------------------------------------------

/// A copy of the bundled policies where `unix_chkpwd` is no longer exempt: one failure.
fn one_failure() -> (tempfile::TempDir, usize, usize) {
    let dir = tempdir();
    let copy = copy_bundled(dir.path());
    mutate(
        &copy.join("credential-access.yaml"),
        "comm!=unix_chkpwd,passwd,chage",
        "comm!=passwd,chage",
    );
    let suite = read(&copy.join("policies.test.yaml"));
    let (line, col) = expect_position(&suite, "unix_chkpwd is expected to read it");
    (dir, line, col)
}

#[test]
fn json_output_lists_the_failure() {
    let (dir, line, col) = one_failure();
    let run = tracee_compile(&["test", "--format", "json", "p"], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    let diagnostics = run.diagnostics();
    assert_eq!(diagnostics.len(), 1, "{}", run.out);
    let d = &diagnostics[0];
    assert_eq!(d["code"], "E401");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["file"], "p/policies.test.yaml");
    assert_eq!(d["line"], line);
    assert_eq!(d["column"], col);
    assert_eq!(
        d["message"],
        "test `unix_chkpwd is expected to read it`: expected none, the image matches [shadow-file-readers]"
    );
    assert_eq!(d["help"], "[shadow-file-readers] also matched");
    assert_eq!(run.json()["summary"]["errors"], 1);
}

#[test]
fn github_output_is_a_workflow_command() {
    let (dir, line, col) = one_failure();
    let run = tracee_compile(&["test", "--format", "github", "p"], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    let lines: Vec<&str> = run
        .out
        .lines()
        .filter(|l| l.starts_with("::error"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", run.out);
    assert!(
        lines[0].starts_with(&format!(
            "::error file=p/policies.test.yaml,line={line},col={col},"
        )),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains(",title=E401 test-failed::"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("unix_chkpwd is expected to read it"),
        "{}",
        lines[0]
    );
}

#[test]
fn sarif_output_parses_with_rule_e401() {
    let (dir, line, col) = one_failure();
    let run = tracee_compile(&["test", "--format", "sarif", "p"], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    let sarif = run.json();
    let results = sarif["runs"][0]["results"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("no results: {}", run.out));
    assert_eq!(results.len(), 1, "{}", run.out);
    assert_eq!(results[0]["ruleId"], "E401");
    assert_eq!(results[0]["level"], "error");
    let location = &results[0]["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "p/policies.test.yaml");
    assert_eq!(location["region"]["startLine"], line);
    assert_eq!(location["region"]["startColumn"], col);
}

// ---------------------------------------------------------------------------------------
// Malformed cases (E402)
// ---------------------------------------------------------------------------------------

const SHADOW: &str = "type: policy\nname: shadow-readers\ndescription: d\nscope:\n  - comm=cat\nrules:\n  - event: openat\n    filters:\n      - args.pathname=/etc/shadow\n";

const MALFORMED: &str = r#"tests:
  - name: unknown policy
    event: openat
    args: {pathname: /etc/shadow}
    comm: cat
    expect: [shadow-reader]
  - name: no expect
    event: openat
  - name: unknown event
    event: opennat
    expect: none
  - name: unknown argument
    event: openat
    args: {path: /etc/shadow}
    expect: none
  - name: wrong type
    event: openat
    args: {flags: lots}
    expect: none
  - name: not json
    line: '{"eventName": openat'
    expect: none
---
cases: []
"#;

#[test]
fn every_malformed_case_is_reported_in_one_run() {
    let dir = tempdir();
    put(&dir.path().join("p.yaml"), SHADOW);
    put(&dir.path().join("bad.test.yaml"), MALFORMED);
    let run = tracee_compile(&["test", "--format", "json", "."], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    let diagnostics = run.diagnostics();
    // (line, column, message, help) of each problem, in file order.
    let want: &[(usize, usize, &str, &str)] = &[
        (
            6,
            14,
            "no policy named `shadow-reader` in the input",
            "did you mean `shadow-readers`?",
        ),
        (
            7,
            5,
            "test `no expect` has no `expect`",
            "add `expect:` with the policies that must match, or `expect: none`",
        ),
        (
            9,
            5,
            "the event of test `unknown event` is not readable: unknown event `opennat`",
            "a case is a mapping",
        ),
        (
            12,
            5,
            "the event of test `unknown argument` is not readable: openat has no argument `path`",
            "a case is a mapping",
        ),
        (
            16,
            5,
            "the event of test `wrong type` is not readable: argument `flags` of openat is an integer, got \"lots\"",
            "a case is a mapping",
        ),
        (
            21,
            11,
            "`line` of test `not json` is not a JSON object:",
            "paste one line of `tracee-load --output json` output",
        ),
        (
            24,
            1,
            "a test document needs a `tests` list",
            "a case is a mapping",
        ),
    ];
    assert_eq!(diagnostics.len(), want.len(), "{}", run.out);
    for (d, (line, col, message, help)) in diagnostics.iter().zip(want) {
        assert_eq!(d["code"], "E402", "{d}");
        assert_eq!(d["file"], "./bad.test.yaml", "{d}");
        assert_eq!(d["line"], *line, "{d}");
        assert_eq!(d["column"], *col, "{d}");
        let m = d["message"].as_str().unwrap_or_default();
        assert!(m.starts_with(message), "{d}");
        let h = d["help"].as_str().unwrap_or_default();
        assert!(h.starts_with(help), "{d}");
    }

    let human = test_cmd(&["."], dir.path());
    assert_eq!(human.status, 1, "{}", human.err);
    assert_eq!(human.err.matches("E402").count(), 7, "{}", human.err);
    assert!(
        human
            .err
            .contains("ran 6 test cases in 1 file: 0 passed, 6 failed, 1 other error(s)"),
        "{}",
        human.err
    );
}

// ---------------------------------------------------------------------------------------
// Exact sets, `expect: none`
// ---------------------------------------------------------------------------------------

/// `cat-reads`: cat opening anything; `shadow`: anyone opening /etc/shadow.
const TWO: &str = "type: policy\nname: cat-reads\ndescription: d\nscope:\n  - comm=cat\nrules:\n  - event: openat\n---\ntype: policy\nname: shadow\ndescription: d\nscope: [global]\nrules:\n  - event: openat\n    filters:\n      - args.pathname=/etc/shadow\n";

#[test]
fn expect_is_the_exact_set_of_matching_policies() {
    let dir = tempdir();
    put(&dir.path().join("p.yaml"), TWO);
    put(
        &dir.path().join("pass.test.yaml"),
        "tests:\n  - name: both\n    event: openat\n    args: {pathname: /etc/shadow}\n    comm: cat\n    expect: [shadow, cat-reads]\n  - name: neither\n    event: openat\n    args: {pathname: /etc/hosts}\n    comm: less\n    expect: none\n  - name: only cat\n    event: openat\n    args: {pathname: /etc/hosts}\n    comm: cat\n    expect: [cat-reads]\n  - event: close\n    comm: cat\n    expect: none\n",
    );
    let run = test_cmd(&["p.yaml", "pass.test.yaml"], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err
            .contains("ran 4 test cases in 1 file: 4 passed, 0 failed"),
        "{}",
        run.err
    );

    put(
        &dir.path().join("fail.test.yaml"),
        "tests:\n  - name: an extra policy\n    event: openat\n    args: {pathname: /etc/shadow}\n    comm: cat\n    expect: [cat-reads]\n  - name: none is not none\n    event: openat\n    args: {pathname: /etc/shadow}\n    comm: less\n    expect: none\n  - event: openat\n    args: {pathname: /etc/hosts}\n    comm: less\n    expect: [cat-reads]\n",
    );
    let run = tracee_compile(
        &["test", "--format", "json", "p.yaml", "fail.test.yaml"],
        dir.path(),
    );
    assert_eq!(run.status, 1, "{}", run.err);
    let diagnostics = run.diagnostics();
    assert_eq!(diagnostics.len(), 3, "{}", run.out);
    let want: &[(usize, usize, &str, &str)] = &[
        (
            6,
            13,
            "test `an extra policy`: expected [cat-reads], the image matches [cat-reads, shadow]",
            "[shadow] also matched",
        ),
        (
            11,
            13,
            "test `none is not none`: expected none, the image matches [shadow]",
            "[shadow] also matched",
        ),
        (
            15,
            13,
            "test case 3: expected [cat-reads], the image matches none",
            "`cat-reads` was turned away by scope comm",
        ),
    ];
    for (d, (line, col, message, help)) in diagnostics.iter().zip(want) {
        assert_eq!(d["code"], "E401", "{d}");
        assert_eq!(d["file"], "fail.test.yaml", "{d}");
        assert_eq!(d["line"], *line, "{d}");
        assert_eq!(d["column"], *col, "{d}");
        assert_eq!(d["message"], *message, "{d}");
        assert_eq!(d["help"], *help, "{d}");
    }
}

// ---------------------------------------------------------------------------------------
// `line:` cases and task facts
// ---------------------------------------------------------------------------------------

#[test]
fn a_line_as_tracee_load_prints_it_is_a_case() {
    let dir = tempdir();
    put(&dir.path().join("p.yaml"), SHADOW);
    // Every key `tracee-load --output json` prints (loader/src/print.rs), `eventId` a string,
    // `args` a list of {name, type, value}.
    let matched = r#"{"timestamp":1719400000123456789,"processorId":3,"processId":4242,"cgroupId":8123,"threadId":4242,"parentProcessId":4000,"hostProcessId":4242,"hostThreadId":4242,"hostParentProcessId":4000,"userId":1000,"mountNamespace":4026531841,"pidNamespace":4026531836,"processName":"cat","hostName":"build-7","eventId":"257","eventName":"openat","matchedPolicies":["shadow-readers"],"argsNum":4,"returnValue":3,"syscall":"openat","args":[{"name":"dirfd","type":"int","value":-100},{"name":"pathname","type":"const char*","value":"/etc/shadow"},{"name":"flags","type":"int","value":0},{"name":"mode","type":"mode_t","value":0}]}"#;
    let other = matched
        .replace("\"processName\":\"cat\"", "\"processName\":\"less\"")
        .replace("[\"shadow-readers\"]", "[]");
    put(
        &dir.path().join("line.test.yaml"),
        &format!(
            "tests:\n  - name: as printed\n    line: '{matched}'\n    expect: [shadow-readers]\n  - name: another comm\n    line: '{other}'\n    expect: none\n"
        ),
    );
    let run = test_cmd(&["."], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err
            .contains("ran 2 test cases in 1 file: 2 passed, 0 failed"),
        "{}",
        run.err
    );

    // `expect` is the case's, not the line's `matchedPolicies`.
    put(
        &dir.path().join("line.test.yaml"),
        &format!("tests:\n  - name: as printed\n    line: '{matched}'\n    expect: none\n"),
    );
    let run = test_cmd(&["."], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    assert!(run.err.contains("E401"), "{}", run.err);
}

/// One policy per task fact, each on its own event.
const TASK_POLICIES: &str = "type: policy\nname: tree\ndescription: d\nscope:\n  - tree=100\nrules:\n  - event: openat\n---\ntype: policy\nname: exe\ndescription: d\nscope:\n  - executable=/usr/bin/curl\nrules:\n  - event: close\n---\ntype: policy\nname: new-pid\ndescription: d\nscope:\n  - pid=new\nrules:\n  - event: setuid\n---\ntype: policy\nname: new-container\ndescription: d\nscope:\n  - container=new\nrules:\n  - event: ptrace\n";

/// Task-fact cases: the event, and the policy it must match (or none).
const TASK_CASES: &[(&str, &str, Option<&str>)] = &[
    (
        "a descendant of 100",
        "event: openat\n    hostPid: 300\n    task: {ancestors: [200, 100, 1]}",
        Some("tree"),
    ),
    (
        "100 itself",
        "event: openat\n    hostPid: 100",
        Some("tree"),
    ),
    (
        "another tree",
        "event: openat\n    hostPid: 300\n    task: {ancestors: [200, 1]}",
        None,
    ),
    (
        "curl",
        "event: close\n    task: {executable: /usr/bin/curl}",
        Some("exe"),
    ),
    (
        "wget",
        "event: close\n    task: {executable: /usr/bin/wget}",
        None,
    ),
    ("unknown binary", "event: close", None),
    (
        "a new process",
        "event: setuid\n    task: {newPid: true}",
        Some("new-pid"),
    ),
    (
        "an old process",
        "event: setuid\n    task: {newPid: false}",
        None,
    ),
    (
        "in a new container",
        "event: ptrace\n    task: {container: new}",
        Some("new-container"),
    ),
    (
        "in an old container",
        "event: ptrace\n    task: {container: existing}",
        None,
    ),
    (
        "on the host",
        "event: ptrace\n    task: {container: none}",
        None,
    ),
];

/// The policy of the event each case uses.
fn policy_of(event: &str) -> &'static str {
    match event.lines().next().unwrap_or_default() {
        "event: openat" => "tree",
        "event: close" => "exe",
        "event: setuid" => "new-pid",
        _ => "new-container",
    }
}

/// The task cases as a test file, each expectation turned around when `flip`.
fn task_cases(flip: bool) -> String {
    let mut text = String::from("tests:\n");
    for (name, event, want) in TASK_CASES {
        let want = if flip {
            match want {
                Some(_) => None,
                None => Some(policy_of(event)),
            }
        } else {
            *want
        };
        let expect = want.map_or_else(|| "none".to_owned(), |p| format!("[{p}]"));
        text.push_str(&format!(
            "  - name: {name}\n    {event}\n    expect: {expect}\n"
        ));
    }
    text
}

#[test]
fn task_facts_decide_tree_executable_new_pid_and_new_container() {
    let dir = tempdir();
    put(&dir.path().join("p.yaml"), TASK_POLICIES);
    put(&dir.path().join("task.test.yaml"), &task_cases(false));
    let run = test_cmd(&["."], dir.path());
    let n = TASK_CASES.len();
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err.contains(&format!(
            "ran {n} test cases in 1 file: {n} passed, 0 failed"
        )),
        "{}",
        run.err
    );

    // Each fact is what decides: with every expectation turned around, every case fails,
    // and a policy expected in vain is reported with the scope step that turned it away.
    put(&dir.path().join("task.test.yaml"), &task_cases(true));
    let run = tracee_compile(&["test", "--format", "json", "."], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    let diagnostics = run.diagnostics();
    assert_eq!(diagnostics.len(), n, "{}", run.out);
    for (d, (name, event, want)) in diagnostics.iter().zip(TASK_CASES) {
        assert_eq!(d["code"], "E401", "{d}");
        let message = d["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(&format!("test `{name}`:")), "{d}");
        let help = d["help"].as_str().unwrap_or_default();
        let policy = policy_of(event);
        let step = match policy {
            "tree" => "scope tree",
            "exe" => "scope executable",
            "new-pid" => "scope pid=new",
            _ => "scope container=new",
        };
        let want_help = match want {
            Some(p) => format!("[{p}] also matched"),
            None => format!("`{policy}` was turned away by {step}"),
        };
        assert_eq!(help, want_help, "{d}");
    }
}

// ---------------------------------------------------------------------------------------
// Finding the test files
// ---------------------------------------------------------------------------------------

const GLOBAL: &str =
    "type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: openat\n";
const UNKNOWN_EVENT: &str =
    "type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: opennat\n";
const ONE_CASE: &str = "tests:\n  - event: openat\n    expect: [p]\n";

#[test]
fn no_test_files_exits_1() {
    let dir = tempdir();
    put(&dir.path().join("p.yaml"), GLOBAL);
    let run = test_cmd(&["."], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    assert!(
        run.err
            .contains("no test files: name them *.test.yaml next to the policies"),
        "{}",
        run.err
    );
}

#[test]
fn policy_errors_run_no_test() {
    let dir = tempdir();
    put(&dir.path().join("p.yaml"), UNKNOWN_EVENT);
    put(&dir.path().join("p.test.yaml"), ONE_CASE);
    let run = test_cmd(&["."], dir.path());
    assert_eq!(run.status, 1, "{}", run.err);
    assert!(run.err.contains("E211"), "{}", run.err);
    assert!(
        run.err
            .contains("the policies do not compile: no test was run"),
        "{}",
        run.err
    );
    assert!(!run.err.contains("ran "), "{}", run.err);
}

#[test]
fn test_files_given_as_paths() {
    let dir = tempdir();
    put(&dir.path().join("policies/p.yaml"), GLOBAL);
    put(&dir.path().join("elsewhere/cases.test.yml"), ONE_CASE);
    let run = test_cmd(&["policies/p.yaml", "elsewhere/cases.test.yml"], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err
            .contains("ran 1 test case in 1 file: 1 passed, 0 failed"),
        "{}",
        run.err
    );

    // A directory and a test file elsewhere: both files' cases run.
    put(&dir.path().join("policies/here.test.yaml"), ONE_CASE);
    let run = test_cmd(&["policies", "elsewhere/cases.test.yml"], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err
            .contains("ran 2 test cases in 2 files: 2 passed, 0 failed"),
        "{}",
        run.err
    );

    // Only a test file: the policies are missing (a usage error).
    let run = test_cmd(&["elsewhere/cases.test.yml"], dir.path());
    assert_eq!(run.status, 2, "{}", run.err);
    assert!(run.err.contains("give the policies too"), "{}", run.err);
}

#[test]
fn policy_directories_never_read_test_files_as_policies() {
    let dir = tempdir();
    put(&dir.path().join("d/p.yaml"), GLOBAL);
    put(&dir.path().join("d/p.test.yaml"), ONE_CASE);
    put(&dir.path().join("d/q.test.yml"), ONE_CASE);
    let run = tracee_compile(&["--check", "d"], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.err
            .contains("checked 1 policy document in 1 file: no problems"),
        "{}",
        run.err
    );

    // The bundled directory holds its suite: `--check` reads the policies only.
    let run = tracee_compile(
        &["--check", "--format", "json", "testdata/policies"],
        &repo(),
    );
    assert_eq!(run.status, 0, "{}", run.err);
    let policy_files = fs::read_dir(bundled())
        .unwrap_or_else(|e| panic!("read_dir: {e}"))
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            [".yaml", ".yml", ".json"].iter().any(|x| name.ends_with(x))
                && !name.ends_with(".test.yaml")
        })
        .count();
    assert_eq!(run.json()["summary"]["files"], policy_files, "{}", run.out);
    assert!(run.diagnostics().is_empty(), "{}", run.out);
}
