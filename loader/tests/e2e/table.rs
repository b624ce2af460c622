//! The table as a person reads it, at 80 columns, and the JSON with and without
//! `--parse-arguments`: one policy on openat and execve, a file opened O_WRONLY|O_CREAT and
//! a program run with a long command line, seen by three loaders at once.

use std::process::Command;

use crate::harness::*;

/// Whether `flags` carries O_WRONLY|O_CREAT (Python adds O_CLOEXEC).
fn write_create(flags: u64) -> bool {
    flags & 0o3 == 0o1 && flags & 0o100 != 0
}

#[test]
fn table_fits_80_columns_and_json_parses_arguments_on_request() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.real_path();
    let under = format!("args.pathname={}/*", dir.display());
    let image = compile(
        s.path(),
        &[(
            "table.yaml",
            &policy(
                "table",
                &["global"],
                &format!("{}{}", rule("openat", &[&under]), rule("execve", &[&under])),
            ),
        )],
    );
    let program = dir.join("tbl-true");
    if let Err(e) = std::fs::copy("/usr/bin/true", &program) {
        panic!("copy true: {e}");
    }
    let created = dir.join("created");
    let mut table = {
        let mut cmd = loader();
        cmd.args(["--width", "80"]).arg(&image);
        Tracer::spawn(cmd)
    };
    let parsed = Tracer::start(&image, &["--parse-arguments"]);
    let plain = Tracer::start(&image, &[]);

    run(
        "python3",
        &[
            "-c",
            &format!(
                "import os\nos.close(os.open({:?}, os.O_WRONLY | os.O_CREAT, 0o644))",
                created.display()
            ),
        ],
    );
    let long_args: Vec<String> = (0..60).map(|i| format!("argument-{i:02}")).collect();
    let status = Command::new(&program).args(&long_args).status();
    assert!(status.as_ref().is_ok_and(|s| s.success()), "{status:?}");
    // The missing file: an openat that fails, with its flags decoded all the same.
    let _ = std::fs::File::open(dir.join("missing"));

    signal(table.pid(), "TERM");
    let (status, lines, stderr) = table.finish_lines();
    assert!(status.success(), "{status}: {}", stderr.join("\n"));
    let parsed = parsed.stop();
    parsed.assert_clean();
    let plain = plain.stop();
    plain.assert_clean();

    // The table: a header, then events whose continuation lines start with spaces.
    let text = lines.join("\n");
    assert!(
        lines.first().is_some_and(|h| h.starts_with("TIME ")),
        "{text}"
    );
    for line in &lines {
        assert!(
            line.chars().count() <= 80,
            "{} columns: {line}\n{text}",
            line.chars().count()
        );
    }
    let mut events: Vec<Vec<&str>> = Vec::new();
    for line in &lines[1..] {
        if line.starts_with(' ') {
            if let Some(event) = events.last_mut() {
                event.push(line);
            }
        } else {
            events.push(vec![line]);
        }
    }
    let find = |needle: &str| -> Vec<&Vec<&str>> {
        events
            .iter()
            .filter(|e| e.iter().any(|l| l.contains(needle)))
            .collect()
    };
    let opens = find(&format!("pathname: \"{}\"", created.display()));
    assert_eq!(opens.len(), 1, "{text}");
    let open = opens[0];
    let header = &lines[0];
    for (column, value) in [("COMM", "python3"), ("EVENT", "openat")] {
        let at = header.find(column).unwrap_or_default();
        assert_eq!(open[0].get(at..at + value.len()), Some(value), "{text}");
    }
    let open_text = open.join("\n");
    assert!(open_text.contains("flags: O_WRONLY|O_CREAT"), "{text}");
    assert!(open_text.contains("dirfd: AT_FDCWD"), "{text}");
    assert!(
        open_text.contains("mode: S_IRUSR|S_IWUSR|S_IRGRP|S_IROTH"),
        "{text}"
    );
    let missing = find(&format!("pathname: \"{}/missing\"", dir.display()));
    assert_eq!(missing.len(), 1, "{text}");
    assert!(
        missing[0].join("\n").contains("flags: O_RDONLY|O_CLOEXEC"),
        "{text}"
    );
    // The long command line: wrapped, then cut.
    let execs = find("argument-00");
    assert_eq!(execs.len(), 1, "{text}");
    let exec = execs[0];
    assert!(exec[0].split_whitespace().any(|w| w == "execve"), "{text}");
    assert_eq!(exec.len(), 4, "{text}");
    assert!(exec[3].ends_with('…'), "{text}");
    assert!(!exec.join("").contains("argument-59"), "{text}");

    // JSON: strings on request (typed `string`), numbers otherwise.
    let path = created.to_string_lossy();
    let e = parsed.one_with("openat", "pathname", &created);
    let flags = e["args"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "flags"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(flags["type"], "string", "{e}");
    assert!(
        flags["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("O_WRONLY|O_CREAT")),
        "{e}"
    );
    let e = plain.one_with("openat", "pathname", &created);
    let flags = e["args"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "flags"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(flags["type"], "int32", "{e}");
    assert!(flags["value"].as_u64().is_some_and(write_create), "{e}");
    // Tracee decodes dirfd only with its fd option: a number in both.
    for run in [&parsed, &plain] {
        let e = run.one_with("openat", "pathname", &created);
        assert_eq!(
            arg(e, "dirfd"),
            Some(&serde_json::json!(-100)),
            "{e} ({path})"
        );
    }
}

/// `--width` lays out the table: with JSON it is refused, before anything is loaded.
#[test]
fn width_is_for_the_table() {
    let out = loader()
        .args([
            "--output",
            "json",
            "--width",
            "80",
            "/nonexistent/rules.bin",
        ])
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("run tracee-load: {e}"),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--width lays out the table"), "{stderr}");
    assert!(out.stdout.is_empty());
}

/// On a terminal the table takes the terminal's width (its window size, asked with
/// TIOCGWINSZ): the loader runs under `script`, in a pseudo-terminal of 100 columns.
#[test]
fn a_terminal_gives_its_width() {
    if !can_bpf() {
        return;
    }
    use std::io::BufRead;
    let s = Scratch::new();
    let dir = s.real_path();
    let under = format!("args.pathname={}/*", dir.display());
    let image = compile_global(s.path(), "tty", &rule("openat", &[&under]));
    let inner = format!(
        "stty cols 100 && exec {} --duration 4 {}",
        env!("CARGO_BIN_EXE_tracee-load"),
        image.display()
    );
    let mut child = match Command::new("script")
        .args(["-q", "-e", "-c", &inner, "/dev/null"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .spawn()
    {
        Ok(c) => KillOnDrop(c),
        Err(e) => panic!("script: {e}"),
    };
    let Some(out) = child.0.stdout.take() else {
        panic!("no stdout");
    };
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            if line.contains("attached") {
                let _ = tx.send(());
            }
            lines.push(line.trim_end_matches('\r').to_owned());
        }
        lines
    });
    assert!(
        rx.recv_timeout(std::time::Duration::from_secs(30)).is_ok(),
        "tracee-load did not attach"
    );
    let long = dir.join(format!("{}-tty", "long-name-".repeat(8)));
    run(
        "python3",
        &["-c", &format!("open({:?}, 'w').close()", long.display())],
    );
    let lines = reader.join().unwrap_or_default();
    let _ = child.0.wait();
    let text = lines.join("\n");
    let table: Vec<&String> = lines
        .iter()
        .filter(|l| !l.starts_with("tracee-load:"))
        .collect();
    assert!(
        table
            .first()
            .is_some_and(|h| h.starts_with("TIME     UID   COMM")),
        "the compact header: {text}"
    );
    assert!(table.iter().all(|l| l.chars().count() <= 100), "{text}");
    assert!(
        table.iter().any(|l| l.contains("flags: O_WRONLY|O_CREAT")),
        "{text}"
    );
    // Longer than 100 whole: so it was wrapped.
    assert!(table.len() >= 3, "{text}");
}
