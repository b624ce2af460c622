//! Tracee's detectors as data (`schema/detectors/*.yaml`): every file reads, names real
//! events and filters that compile on them; a rule naming a detector, or selecting detectors
//! by threat, is a detection (W306 for the four built from events not produced here); `list detectors`.

use std::collections::HashSet;

use compiler::detectors::{self, Detector, Severity};
use compiler::diagnostics::Code;
use schema::catalog;

use super::cli_run::{repo, tracee_compile};

fn all() -> &'static [Detector] {
    detectors::builtin().unwrap_or_else(|e| panic!("built-in detectors: {e}"))
}

fn check(event: &str, scope: &str, filters: &[String]) -> compiler::Checked {
    let filters: String = filters.iter().map(|f| format!("      - {f}\n")).collect();
    let filters = if filters.is_empty() {
        String::new()
    } else {
        format!("    filters:\n{filters}")
    };
    compiler::check_text(
        "detectors.yaml",
        &format!(
            "type: policy\nname: d\ndescription: detectors\nscope: [{scope}]\nrules:\n  - event: '{event}'\n{filters}"
        ),
    )
}

/// Tracee's production detectors at the commit of `schema/detectors/README.md`: 33, each
/// with a unique Tracee id, event id and name, an event id in Tracee's signature range.
#[test]
fn every_detector_reads_with_unique_ids() {
    let all = all();
    assert_eq!(
        all.len(),
        33,
        "{:?}",
        all.iter().map(|d| &d.name).collect::<Vec<_>>()
    );
    let mut ids = HashSet::new();
    let mut event_ids = HashSet::new();
    let mut names = HashSet::new();
    for d in all {
        assert!(ids.insert(&d.id), "{}: id {} twice", d.file, d.id);
        assert!(
            event_ids.insert(d.event_id),
            "{}: event id {} twice",
            d.file,
            d.event_id
        );
        assert!(names.insert(&d.name), "{}: name {} twice", d.file, d.name);
        assert!((6000..7000).contains(&d.event_id), "{}", d.file);
        assert_eq!(
            d.file,
            format!("{}.yaml", d.name),
            "one file per detector, named after it"
        );
        assert!(
            !d.description.is_empty() && !d.threat.description.is_empty(),
            "{}",
            d.file
        );
        // k8s_api_connection's technique has a name and no id in Tracee.
        assert!(
            d.threat.technique_id.starts_with('T') || !d.threat.technique_name.is_empty(),
            "{}",
            d.file
        );
        assert!(
            !d.threat.tactic.is_empty() && !d.threat.name.is_empty(),
            "{}",
            d.file
        );
        // No event of the catalog other than the detector's own may share its name or id.
        if let Some(event) = catalog::event(&d.name) {
            assert_eq!(event.id, d.event_id, "{}: the catalog's id", d.name);
        }
        assert!(
            catalog::event_by_id(d.event_id).is_none_or(|e| e.name == d.name),
            "{}: event id {} is another event's",
            d.name,
            d.event_id
        );
    }
}

/// Each base event is one of Tracee's (ours or not produced); its data filters, with the
/// filters its kernel-side conditions lower to, compile as filters of a rule on it and its
/// scope filters as a policy scope, wherever this loader produces the base event.
#[test]
fn base_events_and_filters_are_real() {
    for d in all() {
        for req in &d.events {
            assert!(
                catalog::event(&req.name).is_some() || catalog::tracee_event(&req.name).is_some(),
                "{}: base event {} is nobody's",
                d.name,
                req.name
            );
            if catalog::event(&req.name).is_none() {
                continue;
            }
            let mut filters: Vec<String> = req
                .data_filters
                .iter()
                .map(|f| format!("args.{f}"))
                .collect();
            // The conditions that run in the kernel on this base event, as the filters
            // they lower to (the masked fields, `args.flags%4`, are detectors' own: checked
            // on the event as the compiler reads them).
            for (_, on) in detectors::placements(d) {
                for (event, place) in on {
                    if let (true, detectors::conditions::Place::Kernel(more)) =
                        (event == req.name, place)
                    {
                        let (masked, plain): (Vec<String>, Vec<String>) =
                            more.into_iter().partition(|f| f.contains('%'));
                        for f in masked {
                            let on =
                                catalog::event(&req.name).unwrap_or_else(|| panic!("{}", req.name));
                            if let Err(e) = compiler::rule::parse_detached(&f, on) {
                                panic!("{}: {e}", d.name);
                            }
                        }
                        filters.extend(plain);
                    }
                }
            }
            let scope = if req.scope_filters.is_empty() {
                "global".to_owned()
            } else {
                req.scope_filters.join(", ")
            };
            let checked = check(&req.name, &scope, &filters);
            assert!(
                checked.diagnostics.items.is_empty(),
                "{}: {}{:?} on {}:\n{}",
                d.name,
                scope,
                filters,
                req.name,
                checked.render_plain(100)
            );
        }
    }
}

/// A rule naming a produced detector compiles to a detection of the policy; one that is not
/// produced here is E223, with the detector's id, severity and technique.
#[test]
fn a_detector_rule_is_a_detection_or_e223_with_its_threat() {
    let checked = check("anti_debugging", "global", &[]);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    let p = &checked.policies[0];
    assert!(p.rules.is_empty());
    assert_eq!(p.detections.len(), 1);
    assert_eq!(p.detections[0].detector, "anti_debugging");
    let checked = check("syscall_hooking", "global", &[]);
    let d: Vec<_> = checked.diagnostics.items.iter().collect();
    assert_eq!(d.len(), 1, "{}", checked.render_plain(100));
    assert_eq!(d[0].code, Code::DetectorNotProduced);
    for part in ["syscall_hooking", "TRC-1030", "high", "T1014"] {
        assert!(d[0].message.contains(part), "{}", d[0].message);
    }
    // In a comma list too, and never as "unknown event".
    let checked = check("openat,ld_preload", "global", &[]);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    assert_eq!(checked.policies[0].rules.len(), 1);
    assert_eq!(checked.policies[0].detections[0].detector, "ld_preload");
    let checked = check("openat,syscall_hooking", "global", &[]);
    let codes: Vec<Code> = checked.diagnostics.items.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::DetectorNotProduced]);
    // A detection carries its base event's fields: only context filters apply to it.
    let checked = check("anti_debugging", "global", &["comm=gdb".to_owned()]);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    let checked = check("anti_debugging", "global", &["data.request=0".to_owned()]);
    let codes: Vec<Code> = checked.diagnostics.items.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::FiltersOnSelection]);
}

/// The detectors a threat selection names, from the E223 message (or the one produced
/// detector it selects).
fn threat_selected(selection: &str) -> (Vec<String>, Vec<Code>) {
    let checked = check(selection, "global", &[]);
    let codes: Vec<Code> = checked.diagnostics.items.iter().map(|d| d.code).collect();
    let mut names: Vec<String> = checked
        .diagnostics
        .items
        .iter()
        .filter(|d| d.code == Code::DetectorNotProduced)
        .flat_map(|d| {
            all()
                .iter()
                .filter(|det| {
                    d.message
                        .split([' ', ',', ':', '`'])
                        .any(|word| word == det.name)
                })
                .map(|det| det.name.clone())
        })
        .collect();
    if let Some(p) = checked.policies.first() {
        names.extend(p.rules.iter().map(|r| r.event.name.to_owned()));
        names.extend(p.detections.iter().map(|d| d.detector.clone()));
    }
    names.sort();
    (names, codes)
}

fn expected(keep: impl Fn(&Detector) -> bool) -> Vec<String> {
    let mut names: Vec<String> = all()
        .iter()
        .filter(|d| keep(d))
        .map(|d| d.name.clone())
        .collect();
    names.sort();
    names
}

/// Tracee's threat selection, resolved at compile time: exactly the detectors whose threat
/// matches, the produced ones selected and the others named in one warning (W305, as for
/// a set's members).
#[test]
fn threat_selection_names_exactly_the_matching_detectors() {
    let (names, codes) = threat_selected("threat.severity>=high");
    assert_eq!(codes, [Code::DetectorNotProduced]);
    assert_eq!(
        names,
        expected(|d| d.threat.severity >= Severity::High),
        "high and critical"
    );
    assert!(!names.is_empty());
    let (names, _) = threat_selected("threat.severity=3");
    assert_eq!(names, expected(|d| d.threat.severity == Severity::High));
    let (names, _) = threat_selected("threat.severity<low");
    assert_eq!(names, expected(|d| d.threat.severity == Severity::Info));
    let (names, _) = threat_selected("threat.mitre.tactic=\"Defense Evasion\"");
    assert_eq!(names, expected(|d| d.threat.tactic == "Defense Evasion"));
    let (names, _) = threat_selected("threat.mitre.technique=T1622");
    assert_eq!(names, ["anti_debugging"]);
    let (names, _) = threat_selected("threat.mitre.technique!=T1622");
    assert_eq!(names, expected(|d| d.threat.technique_id != "T1622"));
    let name = &all()
        .iter()
        .find(|d| d.name == "anti_debugging")
        .map(|d| d.threat.name.clone())
        .unwrap_or_default();
    let (names, _) = threat_selected(&format!("threat.name={name}"));
    assert_eq!(names, ["anti_debugging"]);
}

/// A threat selection of produced detectors only compiles; malformed ones are E208; one that
/// names no detector selects nothing (W304).
#[test]
fn threat_selection_edges() {
    let dropped = all()
        .iter()
        .find(|d| d.name == "dropped_executable")
        .map(|d| d.threat.name.clone())
        .unwrap_or_default();
    let (names, codes) = threat_selected(&format!("threat.name={dropped}"));
    assert_eq!(
        (names, codes),
        (vec!["dropped_executable".to_owned()], vec![])
    );
    for bad in [
        "threat.severity>=severe",
        "threat.color=red",
        "threat.mitre.tactic>=x",
    ] {
        let (_, codes) = threat_selected(bad);
        assert_eq!(codes, [Code::InvalidValue], "{bad}");
    }
    let (names, codes) = threat_selected("threat.mitre.technique=T9999");
    assert!(names.is_empty());
    assert_eq!(codes, [Code::SelectsNothing]);
}

/// `list detectors`: every detector with its threat and needs, as text and JSON.
#[test]
fn list_detectors() {
    let run = tracee_compile(&["list", "detectors", "--json"], &repo());
    assert_eq!(run.status, 0, "{}", run.err);
    let rows: serde_json::Value =
        serde_json::from_str(&run.out).unwrap_or_else(|e| panic!("{e}: {}", run.out));
    let rows = rows.as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), all().len());
    let anti = rows
        .iter()
        .find(|r| r["name"] == "anti_debugging")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(anti["id"], "TRC-102");
    assert_eq!(anti["event_id"], 6002);
    assert_eq!(anti["severity"], "low");
    assert_eq!(anti["needs"][0], "ptrace{request=0}");
    assert_eq!(anti["produced"], true);
    let hooking = rows
        .iter()
        .find(|r| r["name"] == "syscall_hooking")
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(hooking["produced"], false);
    let run = tracee_compile(&["list", "detectors"], &repo());
    assert_eq!(run.status, 0, "{}", run.err);
    assert!(
        run.out
            .contains("anti_debugging (TRC-102, event 6002): low"),
        "{}",
        run.out
    );
    assert!(
        run.out
            .ends_with("33 detectors, 29 produced by this loader, 4 not yet\n"),
        "{}",
        run.out
    );
}

/// Tracee's default Helm policy compiles unchanged: every rule resolves to a produced event
/// or detector, except the four detectors built from events this loader cannot produce
/// (W306 each), never to an unknown event; and it lowers into an image.
#[test]
fn helm_default_policy_compiles() {
    let path = repo().join("testdata/tracee-detector-policies/helm_default_policy.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{e}"));
    let checked = compiler::check_text("helm_default_policy.yaml", &text);
    let mut flagged: Vec<String> = Vec::new();
    for d in &checked.diagnostics.items {
        assert_eq!(d.code, Code::DetectorNotProduced, "{}", d.message);
        let name = d.message.split('`').nth(1).unwrap_or_default();
        flagged.push(name.to_owned());
    }
    flagged.sort();
    let rules: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- event: "))
        .collect();
    assert_eq!(rules.len(), 32);
    let mut never: Vec<String> = all()
        .iter()
        .filter(|d| !compiler::selection::produced(d) && rules.contains(&d.name.as_str()))
        .map(|d| d.name.clone())
        .collect();
    never.sort();
    assert_eq!(flagged, never);
    assert_eq!(flagged, ["proc_fops_hooking", "syscall_hooking"]);
    let p = &checked.policies[0];
    assert_eq!(p.rules.len() + p.detections.len() + flagged.len(), 32);
    assert!(checked.lowered.is_some(), "{}", checked.render_plain(100));
}

/// Where each built-in condition runs, per base event, in `list detectors --json`: a list
/// of process names runs in the kernel; a regular expression, arithmetic on open flags and a
/// list function run in the loader; a guard for another base event is always true.
#[test]
fn conditions_say_where_they_run() {
    let run = tracee_compile(&["list", "detectors", "--json"], &repo());
    assert_eq!(run.status, 0, "{}", run.err);
    let rows: serde_json::Value =
        serde_json::from_str(&run.out).unwrap_or_else(|e| panic!("{e}: {}", run.out));
    let runs = |name: &str, nth: usize, event: &str| -> String {
        let row = rows
            .as_array()
            .and_then(|r| r.iter().find(|r| r["name"] == name))
            .unwrap_or_else(|| panic!("{name}"));
        let on = &row["conditions"][nth]["on"];
        on.as_array()
            .and_then(|on| on.iter().find(|p| p["event"] == event))
            .map(|p| p["runs"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_else(|| panic!("{name} #{nth} on {event}: {row}"))
    };
    let shell = all()
        .iter()
        .find(|d| d.name == "illegitimate_shell")
        .map(|d| d.conditions.clone())
        .unwrap_or_default();
    let kernel = shell
        .iter()
        .position(|c| !c.contains('%') && !c.contains("matches"))
        .unwrap_or_else(|| panic!("{shell:?}"));
    assert_eq!(
        runs("illegitimate_shell", kernel, "sched_process_exec"),
        "kernel"
    );
    // The access mode in the kernel; the regular expression in the loader, narrowed.
    assert_eq!(
        runs("proc_mem_access", 0, "security_file_open").as_str(),
        "kernel"
    );
    assert_eq!(
        runs("proc_mem_access", 1, "security_file_open").as_str(),
        "loader"
    );
    // The open flags' access mode is the argument's low bits.
    assert_eq!(
        runs("sudoers_modification", 0, "security_file_open"),
        "kernel"
    );
    assert_eq!(
        runs("sudoers_modification", 0, "security_inode_rename"),
        "nowhere"
    );
    // `exists` over the environment's entries: an array filter.
    assert_eq!(runs("ld_preload", 0, "sched_process_exec"), "kernel");
    let reasons: Vec<String> = rows
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["conditions"].as_array().cloned().unwrap_or_default())
        .flat_map(|c| c["on"].as_array().cloned().unwrap_or_default())
        .filter(|p| p["runs"] == "loader")
        .map(|p| p["detail"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(reasons.iter().any(|r| r.contains("regular expression")));
    assert!(reasons.iter().all(|r| !r.is_empty()));
}

const NETCAT: &str = "type: detector
id: yaml-001
produced_event:
  name: netcat_execution
  version: 1.0.0
  description: a netcat binary ran
requirements:
  events:
    - name: sched_process_exec
      data_filters:
        - pathname=/usr/bin/nc
threat:
  severity: high
  description: netcat is a common tool for reverse shells
  mitre:
    technique:
      id: T1059
      name: Command and Scripting Interpreter
    tactic:
      name: Execution
conditions:
  - workload.process.name != \"apt\"
";

fn check_files(files: &[(&str, &str)]) -> compiler::Checked {
    let sources = files
        .iter()
        .map(|(name, text)| {
            compiler::source::SourceFile::new(
                std::path::PathBuf::from(name),
                (*name).to_owned(),
                (*text).to_owned(),
            )
        })
        .collect();
    compiler::check_sources(sources, compiler::diagnostics::Diagnostics::default())
}

/// A user's detector in Tracee's YAML format, next to the policies: selected by name and by
/// threat like the built-in ones, with its condition placed (here: in the kernel), never
/// "unknown".
#[test]
fn user_detectors_next_to_policies() {
    let policy = |event: &str| {
        format!(
            "type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: '{event}'\n"
        )
    };
    let checked = check_files(&[("nc.yaml", NETCAT), ("p.yaml", &policy("netcat_execution"))]);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    assert_eq!(
        checked.policies[0].detections[0].detector,
        "netcat_execution"
    );
    let lowered = checked
        .lowered
        .as_ref()
        .unwrap_or_else(|| panic!("not lowered"));
    let meta = &lowered.detectors[0];
    assert_eq!(
        (meta.name.as_str(), meta.event_id),
        ("netcat_execution", 6500)
    );
    assert!(meta.bases[0].loader.is_empty(), "{meta:?}");
    let checked = check_files(&[
        ("nc.yaml", NETCAT),
        ("p.yaml", &policy("threat.mitre.tactic=Execution")),
    ]);
    assert!(
        checked.diagnostics.items.is_empty(),
        "{}",
        checked.render_plain(100)
    );
    assert!(
        checked.policies[0]
            .detections
            .iter()
            .any(|d| d.detector == "netcat_execution")
    );
    // Without the detector file, the same rule is an unknown event.
    let checked = check_files(&[("p.yaml", &policy("netcat_execution"))]);
    assert_eq!(checked.diagnostics.items[0].code, Code::UnknownEvent);
}

/// A detector document that does not read, takes a built-in's name, or needs an event that
/// does not exist is E224, at the place.
#[test]
fn broken_user_detectors_are_e224() {
    let bad_list = NETCAT.replace(
        "  events:\n    - name: sched_process_exec\n      data_filters:\n        - pathname=/usr/bin/nc\n",
        "  events: sched_process_exec\n",
    );
    let checked = check_files(&[("nc.yaml", &bad_list)]);
    let d = &checked.diagnostics.items[0];
    assert_eq!(
        d.code,
        Code::InvalidDetector,
        "{}",
        checked.render_plain(100)
    );
    let at = d.span.clone().map(|s| s.start).unwrap_or_default();
    assert_eq!(
        &bad_list[at..at + "sched_process_exec".len()],
        "sched_process_exec"
    );
    for (text, says) in [
        (
            NETCAT.replace("name: netcat_execution", "name: anti_debugging"),
            "already a built-in detector",
        ),
        (
            NETCAT.replace("name: netcat_execution", "name: openat"),
            "already an event",
        ),
        (
            NETCAT.replace("name: sched_process_exec", "name: no_such_event"),
            "`no_such_event`, which is no event",
        ),
        (
            NETCAT.replace(
                "workload.process.name != \"apt\"",
                "workload.process.name !==",
            ),
            "is not CEL",
        ),
    ] {
        let checked = check_files(&[("nc.yaml", &text)]);
        let codes: Vec<Code> = checked.diagnostics.items.iter().map(|d| d.code).collect();
        assert_eq!(
            codes,
            [Code::InvalidDetector],
            "{}",
            checked.render_plain(100)
        );
        assert!(
            checked.diagnostics.items[0].message.contains(says),
            "{}",
            checked.diagnostics.items[0].message
        );
    }
}

/// `inspect --explain` lists each detection of a policy as a rule of its own, per base
/// event: what the kernel decides, and the detector's conditions the loader decides with the
/// reason; the maps dump names the pairs of each chunk. A policy's own rule on a base event
/// of its detections stays its own.
#[test]
fn inspect_explains_detections() {
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("{e}"),
    };
    let policy = dir.path().join("p.yaml");
    let text = "type: policy\nname: det\ndescription: d\nscope: [global]\nrules:\n  - event: anti_debugging\n  - event: proc_mem_access\n  - event: ptrace\n    filters:\n      - args.request=16\n";
    if let Err(e) = std::fs::write(&policy, text) {
        panic!("{e}");
    }
    let image = dir.path().join("rules.bin");
    let (p, i) = (policy.to_string_lossy(), image.to_string_lossy());
    let run = tracee_compile(&[&p, "-o", &i], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    let run = tracee_compile(&["inspect", "--explain", &i], dir.path());
    assert_eq!(run.status, 0, "{}", run.err);
    let out = run.out;
    for line in [
        "      anti_debugging (detected from ptrace)\n        kernel:    args.request (integer map)\n",
        "      proc_mem_access (detected from security_file_open)\n        kernel:    args.pathname (path anchors, 1: first and last components, before the path is built)\n        kernel:    args.flags (low bits) (integer map)\n        kernel:    args.pathname (suffix trie)\n        userspace: detector condition `getEventData(\"pathname\").matches(\"/proc/(self|[0-9]+)/mem$\")`: a regular expression\n",
        "      ptrace\n        kernel:    args.request (integer map)\n",
        "anti_debugging for det",
    ] {
        assert!(out.contains(line), "{line}\nnot in:\n{out}");
    }
}
