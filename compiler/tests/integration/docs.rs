//! The user documentation, checked against the code so it cannot rot:
//!
//! - `docs/events.md` is generated from the event catalog (`UPDATE_DOCS=1` rewrites it);
//! - `docs/diagnostics.md` has one `## {id} {name}` section per code, in table order;
//! - every example policy in the docs checks as the docs say. In a ```yaml or ```json
//!   block, a complete policy (first line `apiVersion:` or `type:`, or a JSON object whose
//!   first key is `"apiVersion"` or `"type"`) must check clean; a block whose first line is
//!   `# expect: E211, W302` must produce exactly those codes. Other blocks (fragments,
//!   output, workflows) are not checked.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::PathBuf;

use compiler::diagnostics::codes::CODES;
use schema::catalog::{self, ArgType, EventDef, EventKind};

const REGENERATE: &str = "UPDATE_DOCS=1 cargo test -p tracee-compile --test integration docs";

/// Codes whose example cannot be one small text file: they are explained with a console
/// session instead of an `# expect:` block.
/// E4xx are about test files, not policies: their examples are `tracee-compile test` runs,
/// checked by compiler/tests/integration/policy_test.rs.
const NO_TEXT_EXAMPLE: &[&str] = &["E102", "E104", "E111", "E203", "E204", "E401", "E402"];

fn docs_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
        .join(name)
}

fn read_doc(name: &str) -> String {
    let path = docs_path(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => panic!("cannot read {}: {err}", path.display()),
    }
}

// ---------------------------------------------------------------------------------------
// docs/events.md

/// How the compiler filters an argument of this type, found by asking it: a filter
/// `args.NAME=x` on the argument is clean for strings, names the expected type in its E208
/// message for integers and booleans, and is E215 for types that cannot be filtered.
fn filtered_as(event: &EventDef, arg: &str) -> String {
    let text = format!(
        "type: policy\nname: probe\ndescription: probe\nscope: [global]\nrules:\n  - event: {}\n    filters:\n      - args.{arg}=x\n",
        event.name
    );
    let checked = compiler::check_text("probe.yaml", &text);
    let items = &checked.diagnostics.items;
    match items.as_slice() {
        [] if event
            .args
            .iter()
            .any(|a| a.name == arg && a.ty == schema::catalog::ArgType::StrArray) =>
        {
            "string array: a value matches when one entry does (exact, `x*`, `*x*`)".to_owned()
        }
        [] => "string".to_owned(),
        [d] if d.code.id() == "E215" && d.help.as_deref().is_some_and(|h| h.contains(".port")) => {
            "by its parts: `.port`, `.ip` (IPv4), `.path` (unix); see policies.md".to_owned()
        }
        [d] if d.code.id() == "E215" => "not filterable".to_owned(),
        [d] if d.code.id() == "E208" => {
            let described = d
                .message
                .strip_prefix("`x` is not ")
                .map(|rest| rest.split(" in `").next().unwrap_or(rest));
            match described {
                Some(ty) => ty
                    .trim_start_matches("a ")
                    .trim_start_matches("an ")
                    .to_owned(),
                None => panic!("unexpected E208 message for args.{arg}: {}", d.message),
            }
        }
        _ => panic!(
            "unexpected diagnostics probing args.{arg} of {}:\n{}",
            event.name,
            checked.render_plain(100)
        ),
    }
}

/// The argument types grouped by how they are filtered: (filter type, type names, pointer
/// types left out of the list).
fn type_groups() -> Vec<(String, Vec<&'static str>, usize)> {
    let mut groups: Vec<(String, Vec<&'static str>, usize)> = Vec::new();
    let mut seen = BTreeSet::new();
    for event in catalog::events() {
        for arg in event.args {
            if !seen.insert(arg.type_name) {
                continue;
            }
            let class = filtered_as(event, arg.name);
            let index = match groups.iter().position(|(c, _, _)| *c == class) {
                Some(i) => i,
                None => {
                    groups.push((class, Vec::new(), 0));
                    groups.len() - 1
                }
            };
            let group = &mut groups[index];
            if arg.ty == ArgType::Pointer {
                group.2 += 1;
            } else {
                group.1.push(arg.type_name);
            }
        }
    }
    for group in &mut groups {
        group.1.sort_unstable();
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
}

fn render_events() -> String {
    let events = catalog::events();
    let count = |kind| events.iter().filter(|e| e.kind == kind).count();
    let mut out = String::new();
    let _ = writeln!(out, "# Event catalog");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "<!-- Generated from `schema::catalog` by compiler/tests/integration/docs.rs: do not edit.\n     Regenerate with: {REGENERATE} -->"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Every event a rule can select (`- event: NAME`), with the arguments its `args.NAME` /\n`data.NAME` filters can name. {} events: {} syscalls, {} tracepoints, {} LSM hooks, {} derived.\nNames are exact and case-sensitive. How to write rules and filters: [policies.md](policies.md).",
        events.len(),
        count(EventKind::Syscall),
        count(EventKind::Tracepoint),
        count(EventKind::Lsm),
        count(EventKind::Derived),
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "- **id**: for syscalls the x86-64 syscall number; for the other events Tracee's era-1\n  (v0.17) event id (sources: `schema/gen/README.md`). Ids differ between Tracee versions:\n  policies name events, never ids.\n- **kind**: `syscall` (arguments at entry, `retval` at exit), `tracepoint` (a kernel\n  tracepoint such as `sched:sched_process_exec`), `lsm` (an LSM hook, `security_*`),\n  `derived` (computed from other events).\n- **arguments**: `name: type`, names, order and types as in Tracee's current event table\n  (`schema/gen/tracee_events.tsv`, Go types: `int32`, `string`, `[]string`,\n  `trace.Pointer`); older names of renamed fields are accepted and listed after the event's\n  arguments as `old → new`. Where Tracee shows a `timespec` as `float64` seconds, this loader\n  records its address (`trace.Pointer`)."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "## Argument types in filters");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Integer values are written in decimal, `0x` hex or `0o` octal (flag names such as\n`O_RDONLY` are not decoded); strings take `=`/`!=` with `*` at the start and/or end;\nbooleans take `true`/`false` (or `1`/`0`). A filter on a type that cannot be filtered is\n[E215](diagnostics.md#e215-unfilterable-argument)."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| filtered as | types |");
    let _ = writeln!(out, "|---|---|");
    for (class, types, pointers) in type_groups() {
        let mut cells: Vec<String> = types.iter().map(|t| format!("`{t}`")).collect();
        if pointers > 0 {
            cells.push("`trace.Pointer` (a user-space address)".to_owned());
        }
        let _ = writeln!(out, "| {class} | {} |", cells.join(", "));
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "## Events");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "**source**: where `tracee-load` takes the event from in the kernel (tracepoints only;\nno kprobe, fentry or LSM program). What each one sees and misses compared with Tracee's:\n[loader.md](loader.md#how-events-are-produced)."
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| id | event | kind | arguments | source |");
    let _ = writeln!(out, "|---:|---|---|---|---|");
    for event in events {
        let args = if event.args.is_empty() {
            "(none)".to_owned()
        } else {
            event
                .args
                .iter()
                .map(|a| format!("`{}: {}`", a.name, a.type_name))
                .chain(
                    event
                        .aliases
                        .iter()
                        .map(|(old, new)| format!("`{old}` → `{new}`")),
                )
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {args} | {} |",
            event.id,
            event.name,
            event.kind.name(),
            compiler::lower::event_source(event.name)
        );
    }
    render_sets(&mut out);
    render_not_produced(&mut out);
    out
}

/// Tracee's event sets, as a rule selects them (`event: tag=NAME`).
fn render_sets(out: &mut String) {
    let _ = writeln!(out);
    let _ = writeln!(out, "## Event sets");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Tracee's sets (its event tags, at Tracee commit `{}`): `event: tag=NAME` (or the bare
name) selects the members this loader produces, with [W305](diagnostics.md#w305) for the
others; lists and `-name` exclusions: [policies.md](policies.md#rules). `tracee-compile
list sets` prints the members.",
        &catalog::TRACEE_COMMIT[..12.min(catalog::TRACEE_COMMIT.len())]
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| set | events | produced here |");
    let _ = writeln!(out, "|---|---:|---:|");
    for set in catalog::set_names() {
        let members = catalog::set_members(set);
        let produced = members
            .iter()
            .filter(|m| catalog::event(m.name).is_some())
            .count();
        let _ = writeln!(out, "| `{set}` | {} | {produced} |", members.len());
    }
}

/// Tracee's events this loader does not produce, by reason.
fn render_not_produced(out: &mut String) {
    let _ = writeln!(out);
    let _ = writeln!(out, "## Tracee events not produced here");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "A rule naming one of these is [E220](diagnostics.md#e220), with the reason; `tracee-compile
list events` shows their fields (Tracee's Go types)."
    );
    let mut groups: Vec<(&str, Vec<&str>)> = Vec::new();
    for t in catalog::tracee_events().iter().filter(|t| !t.internal) {
        let Some(reason) = t.not_produced else {
            continue;
        };
        match groups.iter_mut().find(|(r, _)| *r == reason.reason()) {
            Some((_, names)) => names.push(t.name),
            None => groups.push((reason.reason(), vec![t.name])),
        }
    }
    for (reason, names) in groups {
        let _ = writeln!(out);
        let _ = writeln!(out, "**{reason}** ({}):", names.len());
        let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
        let _ = writeln!(out, "{}.", names.join(", "));
    }
}

#[test]
fn events_md_is_generated_from_the_catalog() {
    let expected = render_events();
    let path = docs_path("events.md");
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        if let Err(err) = std::fs::write(&path, &expected) {
            panic!("cannot write {}: {err}", path.display());
        }
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    if actual != expected {
        let first_difference = actual
            .lines()
            .zip(expected.lines())
            .position(|(a, e)| a != e)
            .map_or_else(
                || "the files differ in length".to_owned(),
                |i| format!("first difference at line {}", i + 1),
            );
        panic!(
            "docs/events.md is not up to date with the event catalog ({first_difference}).\nRegenerate it with:\n    {REGENERATE}"
        );
    }
}

// ---------------------------------------------------------------------------------------
// docs/diagnostics.md

/// Is this heading text a diagnostic code heading (`E211 ...`, `W301 ...`)?
fn is_code_heading(title: &str) -> bool {
    let word = title.split_whitespace().next().unwrap_or_default();
    let bytes = word.as_bytes();
    bytes.len() == 4
        && bytes[0].is_ascii_uppercase()
        && bytes[1..].iter().all(|b| b.is_ascii_digit())
}

/// `(line number, heading text)` of every `## ` heading outside code blocks.
fn level2_headings(text: &str) -> Vec<(usize, &str)> {
    let mut in_code = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code && let Some(title) = line.strip_prefix("## ") {
            out.push((i + 1, title.trim_end()));
        }
    }
    out
}

#[test]
fn diagnostics_md_has_a_section_per_code_in_table_order() {
    let text = read_doc("diagnostics.md");
    let headings: Vec<(usize, &str)> = level2_headings(&text)
        .into_iter()
        .filter(|(_, title)| is_code_heading(title))
        .collect();
    let found: Vec<&str> = headings.iter().map(|(_, t)| *t).collect();
    let expected: Vec<String> = CODES
        .iter()
        .map(|c| format!("{} {}", c.id, c.name))
        .collect();
    for (line, title) in &headings {
        assert!(
            expected.iter().any(|e| e == title),
            "docs/diagnostics.md:{line}: `## {title}` is not a code of codes.rs (or its name differs)"
        );
    }
    assert_eq!(
        found, expected,
        "docs/diagnostics.md: the `## ID name` headings must follow codes.rs exactly, in order"
    );
}

#[test]
fn diagnostics_md_sections_explain_and_show_each_code() {
    let text = read_doc("diagnostics.md");
    let lines: Vec<&str> = text.lines().collect();
    let headings = level2_headings(&text);
    for info in CODES {
        let title = format!("{} {}", info.id, info.name);
        let Some(pos) = headings.iter().position(|(_, t)| *t == title) else {
            panic!("docs/diagnostics.md has no `## {title}`");
        };
        let start = headings[pos].0;
        let end = headings.get(pos + 1).map_or(lines.len(), |(l, _)| l - 1);
        let section = lines[start..end].join("\n");
        // The SARIF rules link to `diagnostics.md#e211`: an explicit anchor just above.
        let anchor = format!("<a id=\"{}\"></a>", info.id.to_ascii_lowercase());
        let before = lines[..start - 1]
            .iter()
            .rev()
            .find(|l| !l.trim().is_empty())
            .copied()
            .unwrap_or_default();
        assert_eq!(
            before, anchor,
            "docs/diagnostics.md: `## {title}` needs `{anchor}` on the line before it"
        );
        for part in ["**What", "**Why", "**Example"] {
            assert!(
                section.contains(part),
                "docs/diagnostics.md: section `{title}` has no {part}...** paragraph"
            );
        }
        let expect = format!("# expect: {}", info.id);
        let shown = section.lines().any(|l| {
            l.trim_start().starts_with("# expect:")
                && l.split([':', ',', ' ']).any(|word| word.trim() == info.id)
        });
        assert!(
            shown || NO_TEXT_EXAMPLE.contains(&info.id),
            "docs/diagnostics.md: section `{title}` has no example block starting `{expect}`"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Examples in the docs

struct Block {
    /// 1-based line of the opening fence.
    line: usize,
    info: String,
    text: String,
}

/// Every fenced code block, with the fence's indentation removed from its lines.
fn code_blocks(text: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, usize, String, Vec<&str>)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    open = Some((i + 1, indent, info.trim().to_owned(), Vec::new()));
                }
            }
            Some((start, fence_indent, info, body)) => {
                if trimmed.starts_with("```") {
                    blocks.push(Block {
                        line: *start,
                        info: std::mem::take(info),
                        text: body.join("\n") + "\n",
                    });
                    open = None;
                } else {
                    let cut = line
                        .char_indices()
                        .take_while(|(i, c)| *i < *fence_indent && *c == ' ')
                        .count();
                    body.push(&line[cut..]);
                }
            }
        }
    }
    assert!(open.is_none(), "unclosed code block");
    blocks
}

/// What a block claims about itself.
enum Claim {
    Clean,
    Codes(BTreeSet<String>),
    Nothing,
}

fn claim(block: &Block) -> Claim {
    if block.info != "yaml" && block.info != "json" {
        return Claim::Nothing;
    }
    let first = block.text.lines().next().unwrap_or_default().trim_end();
    if let Some(codes) = first.strip_prefix("# expect:") {
        return Claim::Codes(
            codes
                .split([',', ' '])
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(str::to_owned)
                .collect(),
        );
    }
    let is_policy = if block.info == "yaml" {
        first.starts_with("apiVersion:") || first.starts_with("type:")
    } else {
        let body = block.text.trim_start();
        body.strip_prefix('{').is_some_and(|rest| {
            let rest = rest.trim_start();
            rest.starts_with("\"apiVersion\"") || rest.starts_with("\"type\"")
        })
    };
    if is_policy {
        Claim::Clean
    } else {
        Claim::Nothing
    }
}

/// Checks every example of one document; returns (clean examples, expect examples).
fn check_examples(doc: &str) -> (usize, usize) {
    let text = read_doc(doc);
    let mut clean = 0;
    let mut expecting = 0;
    let mut failures = Vec::new();
    for block in code_blocks(&text) {
        let name = format!("docs/{doc}:{}.{}", block.line, block.info);
        match claim(&block) {
            Claim::Nothing => {}
            Claim::Clean => {
                clean += 1;
                let checked = compiler::check_text(&name, &block.text);
                if !checked.diagnostics.items.is_empty() {
                    failures.push(format!(
                        "{name}: example should check clean but gives:\n{}",
                        checked.render_plain(100)
                    ));
                }
            }
            Claim::Codes(expected) => {
                expecting += 1;
                let checked = compiler::check_text(&name, &block.text);
                let got: BTreeSet<String> = checked
                    .diagnostics
                    .items
                    .iter()
                    .map(|d| d.code.id().to_owned())
                    .collect();
                if got != expected {
                    failures.push(format!(
                        "{name}: example expects {expected:?} but gives {got:?}:\n{}",
                        checked.render_plain(100)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} example(s) in docs/{doc} do not check as they claim:\n\n{}",
        failures.len(),
        failures.join("\n")
    );
    (clean, expecting)
}

#[test]
fn policies_md_examples_check_as_claimed() {
    let (clean, _) = check_examples("policies.md");
    // Guards the convention itself: a renamed fence must not silently skip the examples.
    assert!(
        clean >= 10,
        "docs/policies.md: only {clean} complete example policies found"
    );
}

#[test]
fn diagnostics_md_examples_check_as_claimed() {
    let (clean, expecting) = check_examples("diagnostics.md");
    let showable = CODES.len() - NO_TEXT_EXAMPLE.len();
    assert!(
        expecting >= showable && clean >= showable,
        "docs/diagnostics.md: {expecting} bad and {clean} fixed examples for {showable} codes"
    );
}

#[test]
fn ci_md_examples_check_as_claimed() {
    check_examples("ci.md");
}

#[test]
fn docs_link_to_each_other() {
    let policies = read_doc("policies.md");
    for link in ["diagnostics.md", "events.md"] {
        assert!(
            policies.contains(&format!("]({link}")),
            "docs/policies.md does not link {link}"
        );
    }
}

fn readme() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// README's sample `tracee-compile testdata/policies/ -o rules.bin` line is what the command
/// prints today (the loader's attach line is checked by a root test, it needs the kernel).
#[test]
fn readme_sample_compile_line_is_true() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tracee-compile"))
        .args(["testdata/policies/", "-o"])
        .arg(dir.path().join("rules.bin"))
        .current_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let printed = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find_map(|l| {
            l.strip_prefix("wrote ")
                .map(|l| l.split_once(": ").map(|x| x.1.to_owned()))
        })
        .flatten()
        .unwrap_or_else(|| panic!("no `wrote` line: {}", String::from_utf8_lossy(&out.stderr)));
    let readme = readme();
    let sample = readme
        .lines()
        .find_map(|l| l.strip_prefix("wrote rules.bin: "))
        .unwrap_or_else(|| panic!("README has no `wrote rules.bin:` sample line"));
    assert_eq!(sample, printed, "update README.md's sample output");
}

/// README's layout table names every BPF source file, and names no file that is gone.
#[test]
fn readme_layout_lists_every_bpf_file() {
    let readme = readme();
    let row = readme
        .lines()
        .find(|l| l.starts_with("| `bpf/` |"))
        .unwrap_or_else(|| panic!("README's layout table has no bpf/ row"));
    let bpf = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../bpf");
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir(&bpf).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".bpf.c") {
            files.insert(format!("`{stem}`"));
        } else if name.ends_with(".bpf.h") {
            files.insert(format!("`{name}`"));
        }
    }
    assert!(files.len() > 10, "{files:?}");
    let missing: Vec<&String> = files.iter().filter(|f| !row.contains(f.as_str())).collect();
    assert!(missing.is_empty(), "README's bpf/ row misses {missing:?}");
    // Every backticked name in the row's list of programs exists.
    let listed = row
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(l, _)| l)
        .unwrap_or_default();
    for name in listed.split(", ") {
        let stem = name.trim_matches('`');
        assert!(
            bpf.join(format!("{stem}.bpf.c")).exists(),
            "README lists `{stem}`, but bpf/{stem}.bpf.c does not exist"
        );
    }
}
