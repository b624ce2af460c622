//! End to end, as root on the real kernel: compile policies, run `tracee-load --output json`,
//! make real syscalls/execs under real uids and namespaces, and check what it printed, both
//! the events that must appear and those that must not.

mod deploy;
mod detectors;
mod events;
mod faults;
mod harness;
mod network;
mod operations;
mod reload;
mod robustness;
mod sinks;
mod table;
mod workload;

use harness::*;

fn root_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The bundled seed policy (testdata/policies/overview.yaml): file opens under /tmp, execs
/// by root, failed closes.
#[test]
fn seed_policy_opens_execs_and_closes() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile_paths(
        s.path(),
        &[root_dir().join("testdata/policies/overview.yaml")],
    );
    let under_tmp = s.file("seed-open.txt");
    let outside = tempfile::Builder::new()
        .prefix("tracee-e2e-")
        .tempdir_in("/var/tmp")
        .unwrap_or_else(|e| panic!("{e}"));
    let outside_file = outside.path().join("seed-outside.txt");
    let _ = std::fs::write(&outside_file, "x");
    let t = Tracer::start(&image, &[]);
    run("cat", &[&under_tmp.to_string_lossy()]);
    run("cat", &[&outside_file.to_string_lossy()]);
    run("/bin/sh", &["-c", ":", "seed-exec-as-root"]);
    run(
        "setpriv",
        &[
            "--reuid",
            "4321",
            "--regid",
            "4321",
            "--clear-groups",
            "/bin/sh",
            "-c",
            ":",
            "seed-exec-as-4321",
        ],
    );
    let closer = run_pid(
        "python3",
        &[
            "-c",
            "import os\ntry:\n  os.close(-1)\nexcept OSError:\n  pass\nos.close(os.open('/dev/null', 0))",
        ],
    );
    let run = t.stop();
    run.assert_clean();

    // open under /tmp: one security_file_open with every field; elsewhere: none.
    let opens = run.with_arg(
        "security_file_open",
        "pathname",
        &under_tmp.to_string_lossy(),
    );
    assert_eq!(opens.len(), 1, "{:#?}", run.named("security_file_open"));
    let open = opens[0];
    assert_eq!(open["processName"], "cat");
    assert_eq!(open["syscall"], "openat");
    assert_eq!(policies_of(open), vec!["overview-policy"]);
    assert_eq!(
        arg_str(open, "syscall_pathname").as_deref(),
        Some(&*under_tmp.to_string_lossy())
    );
    let meta = std::fs::metadata(&under_tmp).unwrap_or_else(|e| panic!("{e}"));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        arg(open, "inode").and_then(|v| v.as_u64()),
        Some(meta.ino())
    );
    let ctime_ns = meta.ctime() as u64 * 1_000_000_000 + meta.ctime_nsec() as u64;
    assert_eq!(arg(open, "ctime").and_then(|v| v.as_u64()), Some(ctime_ns));
    assert!(
        run.with_arg(
            "security_file_open",
            "pathname",
            &outside_file.to_string_lossy()
        )
        .is_empty(),
        "an open outside /tmp was reported"
    );

    // exec by root: reported with argv; by uid 4321: not.
    let execs = run.named("sched_process_exec");
    let argv_has = |e: &serde_json::Value, word: &str| {
        arg(e, "argv")
            .and_then(|v| v.as_array())
            .is_some_and(|a| a.iter().any(|w| w == word))
    };
    let by_root: Vec<_> = execs
        .iter()
        .filter(|e| argv_has(e, "seed-exec-as-root"))
        .collect();
    assert_eq!(by_root.len(), 1, "{execs:#?}");
    assert_eq!(by_root[0]["userId"], 0);
    assert_eq!(
        arg_str(by_root[0], "pathname").as_deref(),
        Some("/usr/bin/dash")
    );
    assert!(
        !execs.iter().any(|e| argv_has(e, "seed-exec-as-4321")
            && arg_str(e, "cmdpath").as_deref() == Some("/bin/sh")),
        "an exec by uid 4321 was reported: {execs:#?}"
    );
    // setpriv itself ran as root: its exec is reported (the filter is on the uid, not argv).
    assert!(
        execs
            .iter()
            .any(|e| argv_has(e, "seed-exec-as-4321") && e["processName"] == "setpriv")
    );

    // close(-1) fails and is reported; the close of a real fd is not.
    let closes: Vec<_> = run
        .named("close")
        .into_iter()
        .filter(|e| e["hostProcessId"] == closer)
        .collect();
    assert!(
        closes
            .iter()
            .any(|e| e["returnValue"] == -9 && arg(e, "fd").and_then(|v| v.as_i64()) == Some(-1)),
        "{closes:#?}"
    );
    assert!(
        closes.iter().all(|e| e["returnValue"] != 0),
        "a successful close was reported: {closes:#?}"
    );
}

#[test]
fn scope_uid_and_comm() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let rules = "    - event: openat\n";
    let image = compile(
        s.path(),
        &[
            ("uid.yaml", &policy("by-uid", &["uid=4321"], rules)),
            ("comm.yaml", &policy("by-comm", &["comm=e2ecommcat"], rules)),
        ],
    );
    let renamed_cat = s.path().join("e2ecommcat");
    if let Err(e) = std::fs::copy("/bin/cat", &renamed_cat) {
        panic!("{e}");
    }
    let (a, b, c) = (s.file("uid-a"), s.file("uid-b"), s.file("comm-c"));
    let t = Tracer::start(&image, &[]);
    let setpriv = [
        "--reuid",
        "4321",
        "--regid",
        "4321",
        "--clear-groups",
        "cat",
    ];
    run(
        "setpriv",
        &[&setpriv[..], &[&*a.to_string_lossy()]].concat(),
    );
    run("cat", &[&b.to_string_lossy()]);
    run(&renamed_cat.to_string_lossy(), &[&c.to_string_lossy()]);
    let run = t.stop();
    run.assert_clean();
    let by_a = run.with_arg("openat", "pathname", &a.to_string_lossy());
    assert_eq!(by_a.len(), 1, "{:#?}", run.events);
    assert_eq!(by_a[0]["userId"], 4321);
    assert_eq!(policies_of(by_a[0]), vec!["by-uid"]);
    assert!(
        run.with_arg("openat", "pathname", &b.to_string_lossy())
            .is_empty()
    );
    let by_c = run.with_arg("openat", "pathname", &c.to_string_lossy());
    assert_eq!(by_c.len(), 1);
    assert_eq!(by_c[0]["processName"], "e2ecommcat");
    assert_eq!(policies_of(by_c[0]), vec!["by-comm"]);
    assert!(
        run.events
            .iter()
            .all(|e| e["userId"] == 4321 || e["processName"] == "e2ecommcat")
    );
}

/// A process started before the loader, chosen by pid; its siblings are not.
#[test]
fn scope_pid_and_tree() {
    if !can_bpf() {
        return;
    }
    use std::io::Write;
    let s = Scratch::new();
    let (mine, child_file, other) = (
        s.file("pid-mine"),
        s.file("tree-child"),
        s.file("pid-other"),
    );
    // Waits for a line, opens its file, then runs a child that opens another.
    let script = format!(
        "import sys, subprocess\nsys.stdin.readline()\nopen({:?}).close()\nsubprocess.run(['cat', {:?}], stdout=subprocess.DEVNULL)\n",
        mine.to_string_lossy(),
        child_file.to_string_lossy()
    );
    let mut waiting = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = waiting.id();
    let rules = "    - event: openat\n";
    let image = compile(
        s.path(),
        &[
            (
                "pid.yaml",
                &policy("by-pid", &[&format!("pid={pid}")], rules),
            ),
            (
                "tree.yaml",
                &policy("by-tree", &[&format!("tree={pid}")], rules),
            ),
            (
                "new.yaml",
                &policy(
                    "new-pids",
                    &["pid=new"],
                    &rule(
                        "openat",
                        &[&format!("args.pathname={}/*", s.path().display())],
                    ),
                ),
            ),
        ],
    );
    let t = Tracer::start(&image, &[]);
    if let Some(stdin) = waiting.stdin.as_mut() {
        let _ = stdin.write_all(b"go\n");
    }
    let _ = waiting.wait();
    run("cat", &[&other.to_string_lossy()]);
    let run = t.stop();
    run.assert_clean();
    let own = run.with_arg("openat", "pathname", &mine.to_string_lossy());
    assert_eq!(own.len(), 1, "{:#?}", run.events);
    assert_eq!(own[0]["hostProcessId"], pid);
    assert_eq!(policies_of(own[0]), vec!["by-pid", "by-tree"]);
    let child = run.with_arg("openat", "pathname", &child_file.to_string_lossy());
    assert_eq!(child.len(), 1, "{:#?}", run.events);
    assert_eq!(child[0]["hostParentProcessId"], pid);
    // The child started after the loader: a new pid; its parent did not.
    assert_eq!(policies_of(child[0]), vec!["new-pids", "by-tree"]);
    let unrelated = run.with_arg("openat", "pathname", &other.to_string_lossy());
    assert_eq!(unrelated.len(), 1, "{:#?}", run.events);
    assert_eq!(policies_of(unrelated[0]), vec!["new-pids"]);
}

/// Mount, pid and UTS namespaces created with unshare.
#[test]
fn scope_namespaces() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let (host_mnt, host_pid) = (own_ns("mnt"), own_ns("pid"));
    let rules = "    - event: openat\n";
    let image = compile(
        s.path(),
        &[
            (
                "a.yaml",
                &policy("other-mntns", &[&format!("mntns!={host_mnt}")], rules),
            ),
            (
                "b.yaml",
                &policy("other-pidns", &[&format!("pidns!={host_pid}")], rules),
            ),
            (
                "c.yaml",
                &policy(
                    "host-mntns",
                    &[&format!("mntns={host_mnt}"), "comm=cat"],
                    rules,
                ),
            ),
            ("d.yaml", &policy("uts", &["uts=e2e-uts-name"], rules)),
        ],
    );
    let (m, p, u, u2, h) = (
        s.file("ns-mnt"),
        s.file("ns-pid"),
        s.file("ns-uts"),
        s.file("ns-uts-other"),
        s.file("ns-host"),
    );
    let t = Tracer::start(&image, &[]);
    run("unshare", &["-m", "cat", &m.to_string_lossy()]);
    run("unshare", &["-p", "-f", "cat", &p.to_string_lossy()]);
    sh(&format!(
        "unshare -u sh -c 'hostname e2e-uts-name; cat {}; true'",
        u.display()
    ));
    sh(&format!(
        "unshare -u sh -c 'hostname e2e-other; cat {}; true'",
        u2.display()
    ));
    run("cat", &[&h.to_string_lossy()]);
    let run = t.stop();
    run.assert_clean();
    let one = |path: &std::path::Path| run.one_with("openat", "pathname", path).clone();
    let ev = one(&m);
    assert_ne!(ev["mountNamespace"], host_mnt);
    assert_eq!(policies_of(&ev), vec!["other-mntns"]);
    let ev = one(&p);
    assert_ne!(ev["pidNamespace"], host_pid);
    assert_eq!(ev["processId"], 1, "cat is pid 1 of its new pid namespace");
    assert_eq!(policies_of(&ev), vec!["other-pidns", "host-mntns"]);
    let ev = one(&u);
    assert_eq!(ev["hostName"], "e2e-uts-name");
    assert_eq!(policies_of(&ev), vec!["host-mntns", "uts"]);
    let ev = one(&u2);
    assert_eq!(policies_of(&ev), vec!["host-mntns"]);
    let ev = one(&h);
    assert_eq!(policies_of(&ev), vec!["host-mntns"]);
}

/// `follow`: children of a process in scope are in scope, whatever their own comm, over
/// several generations, including children that existed before the loader started.
#[test]
fn scope_follow() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let leader = s.path().join("e2efollow");
    if let Err(e) = std::fs::copy("/bin/dash", &leader) {
        panic!("{e}");
    }
    let image = compile(
        s.path(),
        &[
            (
                "f.yaml",
                &policy(
                    "followed",
                    &["comm=e2efollow", "follow"],
                    "    - event: openat\n",
                ),
            ),
            (
                "n.yaml",
                &policy(
                    "not-followed",
                    &["comm=e2enofollow"],
                    "    - event: openat\n",
                ),
            ),
        ],
    );
    let nofollow = s.path().join("e2enofollow");
    if let Err(e) = std::fs::copy("/bin/dash", &nofollow) {
        panic!("{e}");
    }
    let (a, b) = (s.file("follow-child"), s.file("nofollow-child"));
    // Started before the loader: a leader in scope whose child (comm `dash`) waits on a
    // fifo, then opens a file itself and runs a grandchild that opens another.
    let fifo = s.path().join("go.fifo");
    run("mkfifo", &[&fifo.to_string_lossy()]);
    let (own, grand) = (s.file("old-child"), s.file("new-grandchild"));
    let old = std::process::Command::new(&leader)
        .args([
            "-c",
            &format!(
                "dash -c 'read x < {}; read y < {}; cat {} > /dev/null'; true",
                fifo.display(),
                own.display(),
                grand.display()
            ),
        ])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut old = KillOnDrop(old);
    let t = Tracer::start(&image, &[]);
    if let Err(e) = std::fs::write(&fifo, b"go\n") {
        panic!("{e}");
    }
    let _ = old.0.wait();
    run(
        &leader.to_string_lossy(),
        &["-c", &format!("cat {}; true", a.display())],
    );
    run(
        &nofollow.to_string_lossy(),
        &["-c", &format!("cat {}; true", b.display())],
    );
    let run = t.stop();
    run.assert_clean();
    let child = run.with_arg("openat", "pathname", &a.to_string_lossy());
    assert_eq!(child.len(), 1, "{:#?}", run.events);
    assert_eq!(child[0]["processName"], "cat");
    assert_eq!(policies_of(child[0]), vec!["followed"]);
    assert!(
        run.with_arg("openat", "pathname", &b.to_string_lossy())
            .is_empty()
    );
    // The pre-existing child was handed the policy at start, and passed it on at fork.
    let opened = |path: &std::path::Path, comm: &str| {
        let found = run.one_with("openat", "pathname", path);
        assert_eq!(found["processName"], comm);
        assert_eq!(policies_of(found), vec!["followed"]);
    };
    opened(&own, "dash");
    opened(&grand, "cat");
}

/// Several policies at once, argument filters of each kind and return values.
#[test]
fn argument_filters_retval_and_matched_policies() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let exact = s.file("exact.txt");
    let image = compile(
        s.path(),
        &[
            (
                "1.yaml",
                &policy(
                    "prefix",
                    &["global"],
                    &rule("openat", &[&format!("args.pathname={dir}/*")]),
                ),
            ),
            (
                "2.yaml",
                &policy(
                    "suffix",
                    &["global"],
                    &rule("openat", &["args.pathname=*.e2emulti"]),
                ),
            ),
            (
                "3.yaml",
                &policy(
                    "exact",
                    &["global"],
                    &format!(
                        "    - event: openat\n      filters:\n        - args.pathname={}\n",
                        exact.display()
                    ),
                ),
            ),
            (
                "4.yaml",
                &policy(
                    "failed",
                    &["global"],
                    &rule("openat", &[&format!("args.pathname={dir}/*"), "retval<0"]),
                ),
            ),
            (
                "5.yaml",
                &policy(
                    "signal-zero",
                    &["global"],
                    &rule("kill", &["args.sig=0", "args.pid>1"]),
                ),
            ),
            (
                "6.yaml",
                &policy(
                    "contains",
                    &["global"],
                    &rule("openat", &["args.pathname=*e2emid*"]),
                ),
            ),
        ],
    );
    let multi = s.file("both.e2emulti");
    let outside_dir = tempfile::Builder::new()
        .prefix("tracee-e2e-")
        .tempdir_in("/var/tmp")
        .unwrap_or_else(|e| panic!("{e}"));
    let suffix_only = outside_dir.path().join("only.e2emulti");
    let _ = std::fs::write(&suffix_only, "x");
    let missing = s.path().join("missing.txt");
    let middle = s.file("a-e2emid-b.txt");
    let t = Tracer::start(&image, &[]);
    for path in [&multi, &suffix_only, &exact] {
        run("cat", &[&path.to_string_lossy()]);
    }
    // Fails on purpose: the failed openat (ENOENT, checked below) is what the `failed`
    // policy selects.
    run_expect_fail("cat", &[&missing.to_string_lossy()]);
    run("cat", &[&middle.to_string_lossy()]);
    let killer = run_pid(
        "python3",
        &[
            "-c",
            "import os\nos.kill(os.getpid(), 0)\nos.kill(os.getpid(), 18)",
        ],
    );
    let run = t.stop();
    run.assert_clean();
    let policies = |path: &std::path::Path| run.open_policies(path);
    assert_eq!(policies(&multi), vec!["prefix", "suffix"]);
    assert_eq!(policies(&suffix_only), vec!["suffix"]);
    assert_eq!(policies(&exact), vec!["prefix", "exact"]);
    assert_eq!(policies(&missing), vec!["prefix", "failed"]);
    assert_eq!(policies(&middle), vec!["prefix", "contains"]);
    let missing_ev = run.with_arg("openat", "pathname", &missing.to_string_lossy());
    assert_eq!(missing_ev[0]["returnValue"], -2);
    let kills: Vec<_> = run
        .named("kill")
        .into_iter()
        .filter(|e| e["hostProcessId"] == killer)
        .collect();
    assert_eq!(kills.len(), 1, "{kills:#?}");
    assert_eq!(arg(kills[0], "sig").and_then(|v| v.as_i64()), Some(0));
}

/// More syscalls than get tracepoints of their own (32): the generic sys_enter/sys_exit
/// hooks instead of per-syscall tracepoints; same events.
#[test]
fn generic_syscall_hooks() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let mut rules = format!(
        "    - event: openat\n      filters:\n        - args.pathname={dir}/*\n    - event: close\n      filters:\n        - retval!=0\n"
    );
    for e in [
        "read", "write", "mmap", "dup", "pipe", "fork", "getpid", "kill",
    ] {
        rules.push_str(&format!(
            "    - event: {e}\n      filters:\n        - uid=4999\n"
        ));
    }
    rules.push_str(&generic_hook_padding(&[
        "openat", "close", "read", "write", "mmap", "dup", "pipe", "fork", "getpid", "kill",
    ]));
    let image = compile(
        s.path(),
        &[("g.yaml", &policy("generic", &["global"], &rules))],
    );
    let loaded = schema::image::read_file(&image)
        .unwrap_or_else(|e| panic!("{e}"))
        .0;
    assert!(
        loaded.meta.probes.contains(&"tp_btf/sys_exit".to_owned()),
        "{:?}",
        loaded.meta.probes
    );
    let f = s.file("generic.txt");
    let t = Tracer::start(&image, &[]);
    run("cat", &[&f.to_string_lossy()]);
    let closer = run_pid(
        "python3",
        &[
            "-c",
            "import os\ntry:\n  os.close(-1)\nexcept OSError:\n  pass",
        ],
    );
    let run = t.stop();
    run.assert_clean();
    assert_eq!(
        run.with_arg("openat", "pathname", &f.to_string_lossy())
            .len(),
        1
    );
    assert!(
        run.named("close")
            .iter()
            .any(|e| e["hostProcessId"] == closer && e["returnValue"] == -9)
    );
    assert!(
        run.named("read").is_empty() && run.named("getpid").is_empty(),
        "uid filter leaked"
    );
}

/// --max-events and --duration stop it; SIGINT exits 0; a closed stdout ends it cleanly;
/// the table output has Tracee's columns.
#[test]
fn lifecycle_and_outputs() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[(
            "l.yaml",
            &policy(
                "life",
                &["global"],
                &rule("openat", &[&format!("args.pathname={dir}/*")]),
            ),
        )],
    );
    let files: Vec<_> = (0..5).map(|i| s.file(&format!("life-{i}"))).collect();

    // --max-events 3: exits by itself after three.
    let mut t = Tracer::start(&image, &["--max-events", "3"]);
    for f in &files {
        run("cat", &[&f.to_string_lossy()]);
    }
    let done = t.finish();
    done.assert_clean();
    assert_eq!(done.events.len(), 3);

    // --duration: exits by itself.
    let started = std::time::Instant::now();
    let mut t = Tracer::start(&image, &["--duration", "0.5"]);
    let done = t.finish();
    done.assert_clean();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));

    // SIGINT: exit 0 with the summary.
    let t = Tracer::start(&image, &[]);
    run("cat", &[&files[0].to_string_lossy()]);
    signal(t.pid(), "INT");
    let mut t = t;
    let done = t.finish();
    done.assert_clean();
    assert_eq!(done.events.len(), 1);

    // Table output: header and one row per event.
    let mut cmd = loader();
    cmd.arg(&image);
    let t = Tracer::spawn(cmd);
    run("cat", &[&files[1].to_string_lossy()]);
    signal(t.pid(), "TERM");
    let mut t = t;
    let (status, lines, stderr) = t.finish_lines();
    assert!(status.success(), "{stderr:?}");
    assert!(
        lines[0].starts_with("TIME") && lines[0].contains("EVENT"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("openat") && l.contains(&*files[1].to_string_lossy())),
        "{lines:?}"
    );

    // A closed stdout: the reader goes away, the loader ends cleanly on the next event.
    let mut child = loader()
        .arg("--output")
        .arg("json")
        .arg(&image)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let stderr = child.stderr.take().unwrap_or_else(|| panic!("no stderr"));
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(stderr));
    for line in lines.by_ref() {
        if line.map(|l| l.contains("attached")).unwrap_or(false) {
            break;
        }
    }
    drop(child.stdout.take());
    for _ in 0..3 {
        for f in &files {
            run("cat", &[&f.to_string_lossy()]);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // A loader that does not notice the closed output fails the test instead of hanging it.
    let status = wait_within(&mut child, EXIT_TIMEOUT)
        .unwrap_or_else(|killed| panic!("the closed output did not stop it: {killed:?}"));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(status.success(), "{status}: {rest:?}");
    assert!(rest.iter().any(|l| l.contains("output closed")), "{rest:?}");
}

/// The harness's wait for an exit has a deadline: a loader that does not stop (here: one
/// never told to) fails the test with what it printed, instead of hanging the test run.
#[test]
fn waiting_for_an_exit_that_does_not_come_fails() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "w.yaml",
            &policy(
                "waits",
                &["global"],
                &rule("openat", &["args.pathname=/nonexistent/*"]),
            ),
        )],
    );
    let mut t = Tracer::start(&image, &[]);
    let started = std::time::Instant::now();
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        t.finish_lines_within(std::time::Duration::from_secs(1))
    }));
    let message = match waited {
        Ok((status, _, _)) => panic!("a loader never stopped exited: {status}"),
        Err(e) => e
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_else(|| panic!("not a message: {e:?}")),
    };
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(message.contains("did not exit within 1s"), "{message}");
    assert!(
        message.contains("attached"),
        "its stderr is shown: {message}"
    );
}

/// Filters on container and pod metadata, decided in userspace from the runtimes' state on
/// disk (under `--host-root`): a docker container (config.v2.json), a containerd CRI one
/// (the OCI bundle's annotations), a container whose state is missing (never matched, with
/// a note saying why) and a host process (never matched by them either).
#[test]
fn container_metadata_from_runtime_state() {
    if !can_bpf() {
        return;
    }
    let v2 = cgroup_v2();
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    // Ids that differ in their first 12 digits (the short form `docker ps` shows).
    let id = |n: u8| format!("{n:02x}c0ffee").repeat(8);
    let (docker_id, cri_id, lost_id) = (id(7), id(8), id(9));
    let base = v2.join(format!("tracee-e2e-meta-{}", std::process::id()));
    let cgroups = [
        base.join(format!("docker-{docker_id}.scope")),
        base.join(format!("cri-containerd-{cri_id}.scope")),
        base.join(format!("crio-{lost_id}.scope")),
    ];
    for cg in &cgroups {
        if let Err(e) = std::fs::create_dir_all(cg) {
            panic!("create {}: {e}", cg.display());
        }
    }
    let host = s.path().join("host");
    let write = |path: std::path::PathBuf, json: serde_json::Value| {
        if let Some(parent) = path.parent() {
            let _ = std::fs::create_dir_all(parent);
        }
        if let Err(e) = std::fs::write(&path, json.to_string()) {
            panic!("write {}: {e}", path.display());
        }
    };
    write(
        host.join(format!(
            "var/lib/docker/containers/{docker_id}/config.v2.json"
        )),
        serde_json::json!({
            "ID": docker_id,
            "Name": "/web-1",
            "Image": "sha256:aaaa",
            "Config": {"Image": "nginx:1.27", "Labels": {"io.kubernetes.pod.namespace": "staging"}},
        }),
    );
    write(
        host.join(format!(
            "run/containerd/io.containerd.runtime.v2.task/k8s.io/{cri_id}/config.json"
        )),
        serde_json::json!({
            "ociVersion": "1.1.0",
            "annotations": {
                "io.kubernetes.cri.container-type": "container",
                "io.kubernetes.cri.container-name": "cache",
                "io.kubernetes.cri.image-name": "docker.io/library/redis:7",
                "io.kubernetes.cri.sandbox-name": "pod-a",
                "io.kubernetes.cri.sandbox-namespace": "prod",
                "io.kubernetes.cri.sandbox-uid": "1b2c",
            },
        }),
    );
    let opened = format!("args.pathname={dir}/*");
    let image = compile(
        s.path(),
        &[
            (
                "a.yaml",
                &policy(
                    "nginx",
                    &["global"],
                    &rule("openat", &[&opened, "containerImage=nginx*"]),
                ),
            ),
            (
                "b.yaml",
                &policy(
                    "prod-pods",
                    &["global"],
                    &rule("openat", &[&opened, "podNamespace=prod", "podName=pod-*"]),
                ),
            ),
            (
                "c.yaml",
                &policy(
                    "by-id",
                    &[&format!("container={}", &docker_id[..12])],
                    &rule("openat", &[&opened]),
                ),
            ),
            (
                "d.yaml",
                &policy(
                    "not-web",
                    &["global"],
                    &rule("openat", &[&opened, "containerName!=web-1"]),
                ),
            ),
            (
                "e.yaml",
                &policy("plain", &["global"], &rule("openat", &[&opened])),
            ),
        ],
    );
    let markers: Vec<std::path::PathBuf> = ["in-docker", "in-cri", "in-lost", "on-host"]
        .iter()
        .map(|m| s.file(m))
        .collect();
    let host_arg = host.to_string_lossy().into_owned();
    let t = Tracer::start(&image, &["--host-root", &host_arg]);
    for (cg, marker) in cgroups.iter().zip(&markers) {
        sh(&format!(
            "echo $$ > {}/cgroup.procs && cat {}",
            cg.display(),
            marker.display()
        ));
    }
    run("cat", &[&markers[3].to_string_lossy()]);
    let run = t.stop();
    for cg in &cgroups {
        let _ = std::fs::remove_dir(cg);
    }
    let _ = std::fs::remove_dir(&base);
    run.assert_clean();
    let policies = |path: &std::path::Path| run.open_policies(path);
    assert_eq!(policies(&markers[0]), vec!["nginx", "by-id", "plain"]);
    assert_eq!(policies(&markers[1]), vec!["prod-pods", "not-web", "plain"]);
    assert_eq!(policies(&markers[2]), vec!["plain"]);
    assert_eq!(policies(&markers[3]), vec!["plain"]);
    let said = |needle: &str| {
        assert!(
            run.stderr.iter().filter(|l| l.contains(needle)).count() == 1,
            "not said once: {needle}: {:?}",
            run.stderr
        );
    };
    said(&format!(
        "container {lost_id} (cri-o): no runtime state found"
    ));
    said("events from processes outside containers do not match filters on container metadata");
}

/// Every syscall of the catalog in one policy: the image holds them all, the generic hooks
/// serve them, and a process doing ordinary work shows each syscall it made, with its
/// arguments named by the catalog and `exit_group` (which never returns) at entry.
#[test]
fn every_catalog_syscall_at_once() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let rules: String = schema::catalog::events()
        .iter()
        .filter(|e| e.kind == schema::catalog::EventKind::Syscall)
        .map(|e| format!("    - event: {}\n", e.name))
        .collect();
    let image = compile(
        s.path(),
        &[(
            "all.yaml",
            &policy("all-syscalls", &["comm=e2eallsys"], &rules),
        )],
    );
    let program = s.path().join("e2eallsys");
    if let Err(e) = std::fs::copy("/bin/cat", &program) {
        panic!("{e}");
    }
    let f = s.file("allsys.txt");
    let t = Tracer::start(&image, &[]);
    run(&program.to_string_lossy(), &[&f.to_string_lossy()]);
    let run = t.stop();
    run.assert_clean();
    assert!(run.events.iter().all(|e| e["processName"] == "e2eallsys"));
    let names: std::collections::BTreeSet<&str> = run
        .events
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    for expected in ["openat", "read", "write", "close", "mmap", "exit_group"] {
        assert!(
            names.contains(expected),
            "{expected} missing from {names:?}"
        );
    }
    let open = run.with_arg("openat", "pathname", &f.to_string_lossy());
    assert_eq!(open.len(), 1);
    assert!(open[0]["returnValue"].as_i64().is_some_and(|fd| fd >= 0));
    let exit = run.named("exit_group");
    assert_eq!(arg(exit[0], "status").and_then(|v| v.as_i64()), Some(0));
}

/// security_bprm_check, built from the exec tracepoint: the executed file with its inode,
/// argv and envp; a filter on the path selects it.
#[test]
fn security_bprm_check_from_exec() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let program = s.path().join("e2ebprm");
    if let Err(e) = std::fs::copy("/bin/true", &program) {
        panic!("{e}");
    }
    let image = compile(
        s.path(),
        &[(
            "b.yaml",
            &policy(
                "bprm",
                &["global"],
                &format!(
                    "    - event: security_bprm_check\n      filters:\n        - args.pathname={}\n",
                    program.display()
                ),
            ),
        )],
    );
    let t = Tracer::start(&image, &[]);
    match std::process::Command::new(&program)
        .arg("e2e-bprm-arg")
        .env_clear()
        .env("E2E_BPRM_ENV", "yes")
        .status()
    {
        Ok(status) => assert!(status.success(), "{}: {status}", program.display()),
        Err(e) => panic!("{e}"),
    }
    run("/bin/true", &["not-this-one"]);
    let run = t.stop();
    run.assert_clean();
    let found = run.named("security_bprm_check");
    assert_eq!(found.len(), 1, "{:#?}", run.events);
    let ev = found[0];
    assert_eq!(
        arg_str(ev, "pathname").as_deref(),
        Some(&*program.to_string_lossy())
    );
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&program).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(arg(ev, "inode").and_then(|v| v.as_u64()), Some(meta.ino()));
    let strings = |name: &str| -> Vec<String> {
        arg(ev, name)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(strings("argv")[1..], ["e2e-bprm-arg".to_owned()]);
    assert!(
        strings("envp").contains(&"E2E_BPRM_ENV=yes".to_owned()),
        "{:?}",
        strings("envp")
    );
}

/// security_socket_connect, built from connect: the remote address decoded for IPv4, IPv6
/// and unix sockets; a connect on a fd that is not a socket is not reported (the LSM hook
/// would not run either).
#[test]
fn security_socket_connect_from_connect() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "c.yaml",
            &policy(
                "connects",
                &["global"],
                "    - event: security_socket_connect\n",
            ),
        )],
    );
    let unix_path = s.path().join("e2e.sock");
    let script = format!(
        r#"
import os, socket
srv4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM); srv4.bind(("127.0.0.1", 0)); srv4.listen(1)
srv6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM); srv6.bind(("::1", 0)); srv6.listen(1)
srvu = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM); srvu.bind({unix:?}); srvu.listen(1)
print(srv4.getsockname()[1], srv6.getsockname()[1], flush=True)
for family, addr in ((socket.AF_INET, srv4.getsockname()), (socket.AF_INET6, srv6.getsockname()[:2]), (socket.AF_UNIX, {unix:?})):
    c = socket.socket(family, socket.SOCK_STREAM); c.connect(addr); c.close()
import ctypes
f = open("/dev/null")
to_port_7 = bytes([2, 0, 0, 7, 127, 0, 0, 1]) + bytes(8)
assert ctypes.CDLL(None, use_errno=True).connect(f.fileno(), to_port_7, 16) == -1
"#,
        unix = unix_path.to_string_lossy()
    );
    let t = Tracer::start(&image, &[]);
    let child = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let pid = child.id();
    let out = match child.wait_with_output() {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ports: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let run = t.stop();
    run.assert_clean();
    // Other processes connect too (name service lookups): only this script's.
    let connects: Vec<_> = run
        .named("security_socket_connect")
        .into_iter()
        .filter(|e| e["hostProcessId"] == pid)
        .collect();
    let addr = |family: &str| {
        connects
            .iter()
            .filter_map(|e| arg(e, "remote_addr"))
            .find(|a| a["sa_family"] == family)
            .cloned()
            .unwrap_or_else(|| panic!("no {family} connect in {connects:#?}"))
    };
    let v4 = addr("AF_INET");
    assert_eq!(v4["sin_addr"], "127.0.0.1");
    assert_eq!(v4["sin_port"], ports[0]);
    let v6 = addr("AF_INET6");
    assert_eq!(v6["sin6_addr"], "::1");
    assert_eq!(v6["sin6_port"], ports[1]);
    // glibc may also ask nscd over its own unix socket: look for ours among them.
    assert!(
        connects
            .iter()
            .filter_map(|e| arg(e, "remote_addr"))
            .any(|a| a["sa_family"] == "AF_UNIX" && a["sun_path"] == *unix_path.to_string_lossy()),
        "no AF_UNIX connect to {unix_path:?} in {connects:#?}"
    );
    assert!(connects.iter().all(|e| e["syscall"] == "connect"));
    // Tracee's `type`: the socket's type (all stream sockets here).
    assert!(
        connects
            .iter()
            .all(|e| arg(e, "type").and_then(|v| v.as_i64()) == Some(1)),
        "{connects:#?}"
    );
    // connect on /dev/null's fd fails with ENOTSOCK before the LSM hook would run.
    assert!(
        !connects
            .iter()
            .filter_map(|e| arg(e, "remote_addr"))
            .any(|a| a["sin_port"] == "7"),
        "{connects:#?}"
    );
    assert!(connects.iter().all(|e| {
        arg(e, "sockfd")
            .and_then(|v| v.as_i64())
            .is_some_and(|fd| fd >= 0)
    }));
}

/// magic_write and dropped_executable from the write family: an ELF header written to a new
/// file is both; a text file is a magic_write only; an append to a non-empty file and a
/// write to a pipe are neither; a pwrite at offset 0 and a writev count.
#[test]
fn magic_write_and_dropped_executable() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[
            (
                "m.yaml",
                &policy(
                    "magic",
                    &["global"],
                    &rule("magic_write", &[&format!("args.pathname={dir}/*")]),
                ),
            ),
            (
                "d.yaml",
                &policy("dropped", &["global"], "    - event: dropped_executable\n"),
            ),
        ],
    );
    let (elf, text, appended, pwritten, vectored) = (
        s.path().join("dropped.bin"),
        s.path().join("notes.txt"),
        s.file("appended.txt"),
        s.path().join("pwritten.txt"),
        s.path().join("vectored.txt"),
    );
    let script = format!(
        r#"
import os
def fresh(p): return os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o755)
fd = fresh({elf:?}); os.write(fd, b"\x7fELF\x02\x01\x01" + bytes(60)); os.close(fd)
fd = fresh({text:?}); os.write(fd, b"hello, world\n"); os.close(fd)
fd = os.open({appended:?}, os.O_WRONLY | os.O_APPEND); os.write(fd, b"\x7fELF more"); os.close(fd)
fd = fresh({pwritten:?}); os.pwrite(fd, b"PWRITE-AT-0", 0); os.pwrite(fd, b"later", 100); os.close(fd)
fd = fresh({vectored:?}); os.writev(fd, [b"VEC", b"TOR"]); os.close(fd)
r, w = os.pipe(); os.write(w, b"\x7fELF through a pipe")
"#,
        elf = elf.to_string_lossy(),
        text = text.to_string_lossy(),
        appended = appended.to_string_lossy(),
        pwritten = pwritten.to_string_lossy(),
        vectored = vectored.to_string_lossy(),
    );
    let t = Tracer::start(&image, &[]);
    let out = match std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("{e}"),
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = t.stop();
    run.assert_clean();
    let magic =
        |path: &std::path::Path| run.with_arg("magic_write", "pathname", &path.to_string_lossy());
    let bytes = |e: &serde_json::Value| {
        use base64::Engine as _;
        let text = arg_str(e, "bytes").unwrap_or_default();
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    };
    let m = magic(&elf);
    assert_eq!(m.len(), 1, "{:#?}", run.events);
    assert!(bytes(m[0]).starts_with(b"\x7fELF\x02\x01\x01"));
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(&elf).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        arg(m[0], "inode").and_then(|v| v.as_u64()),
        Some(meta.ino())
    );
    let m = magic(&text);
    assert_eq!(m.len(), 1);
    assert_eq!(bytes(m[0]), b"hello, world\n");
    assert!(magic(&appended).is_empty(), "an append to a non-empty file");
    let m = magic(&pwritten);
    assert_eq!(m.len(), 1, "only the pwrite at offset 0");
    assert_eq!(bytes(m[0]), b"PWRITE-AT-0");
    let m = magic(&vectored);
    assert_eq!(m.len(), 1);
    assert_eq!(bytes(m[0]), b"VEC", "the first iovec");
    // Other tests may drop executables elsewhere meanwhile: only this directory's count.
    let dropped: Vec<_> = run
        .named("dropped_executable")
        .into_iter()
        .filter(|e| arg_str(e, "path").is_some_and(|p| p.starts_with(&dir)))
        .collect();
    assert_eq!(dropped.len(), 1, "{dropped:#?}");
    assert_eq!(
        arg_str(dropped[0], "path").as_deref(),
        Some(&*elf.to_string_lossy())
    );
    assert_eq!(policies_of(dropped[0]), vec!["dropped"]);
}

/// `executable`: the binary recorded at exec selects the process, with and without the
/// `host:` prefix, and a forked child that has not exec'd runs its parent's binary; a process
/// that was running before the loader is known too (seeded from /proc); another binary, or
/// the same one in another mount namespace's policy, does not match.
#[test]
fn scope_executable() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let shell = s.path().join("e2eexe-sh");
    if let Err(e) = std::fs::copy("/bin/dash", &shell) {
        panic!("{e}");
    }
    let exe = shell.to_string_lossy().into_owned();
    let rules = "    - event: openat\n";
    let image = compile(
        s.path(),
        &[
            (
                "a.yaml",
                &policy("any-ns", &[&format!("executable={exe}")], rules),
            ),
            (
                "b.yaml",
                &policy("host-ns", &[&format!("executable=host:{exe}")], rules),
            ),
            (
                "c.yaml",
                &policy("other-ns", &[&format!("executable=12345:{exe}")], rules),
            ),
        ],
    );
    let (own, forked, other) = (s.file("exe-own"), s.file("exe-forked"), s.file("exe-other"));
    // Started before the loader: its binary is seeded from /proc, for it and its children.
    let fifo = s.path().join("exe.fifo");
    run("mkfifo", &[&fifo.to_string_lossy()]);
    let (old_own, old_child) = (s.file("exe-old-own"), s.file("exe-old-child"));
    let old = std::process::Command::new(&shell)
        .args([
            "-c",
            &format!(
                "read x < {}; true < {}; (true < {}); true",
                fifo.display(),
                old_own.display(),
                old_child.display()
            ),
        ])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut old = KillOnDrop(old);
    let t = Tracer::start(&image, &[]);
    if let Err(e) = std::fs::write(&fifo, b"go\n") {
        panic!("{e}");
    }
    let _ = old.0.wait();
    run(
        &exe,
        &[
            "-c",
            &format!(
                "true < {}; (true < {}); true",
                own.display(),
                forked.display()
            ),
        ],
    );
    run(
        "/bin/dash",
        &["-c", &format!("true < {}; true", other.display())],
    );
    let run = t.stop();
    run.assert_clean();
    for path in [&own, &forked, &old_own, &old_child] {
        assert_eq!(run.open_policies(path), vec!["any-ns", "host-ns"]);
    }
    assert!(
        run.with_arg("openat", "pathname", &other.to_string_lossy())
            .is_empty()
    );
}

/// `tree` covers descendants that existed before the loader started (seeded from /proc):
/// the grandchild forked afterwards by a pre-existing child of the named process matches.
#[test]
fn scope_tree_seeded_from_proc() {
    if !can_bpf() {
        return;
    }
    use std::io::Write;
    let s = Scratch::new();
    let marker = s.file("seeded-grandchild");
    // The named process starts a child that waits for a line, then runs cat (a fork after
    // the loader attached, from a process that existed before).
    let script = format!(
        "import subprocess, sys\nc = subprocess.Popen(['sh', '-c', 'read x; cat {}'], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)\nprint(c.pid, flush=True)\nsys.stdin.readline()\nc.communicate(b'go\\n')\n",
        marker.display()
    );
    let mut parent = std::process::Command::new("python3")
        .args(["-c", &script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut line = String::new();
    if let Some(out) = parent.stdout.as_mut() {
        let _ = std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line);
    }
    let child: u32 = line
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("child pid {line:?}: {e}"));
    let image = compile(
        s.path(),
        &[(
            "t.yaml",
            &policy(
                "seeded",
                &[&format!("tree={}", parent.id())],
                "    - event: openat\n",
            ),
        )],
    );
    let t = Tracer::start(&image, &[]);
    if let Some(stdin) = parent.stdin.as_mut() {
        let _ = stdin.write_all(b"go\n");
    }
    let _ = parent.wait();
    let run = t.stop();
    run.assert_clean();
    let found = run.with_arg("openat", "pathname", &marker.to_string_lossy());
    assert_eq!(found.len(), 1, "{:#?}", run.events);
    assert_eq!(found[0]["hostParentProcessId"], child);
}

/// `container` / `not-container` from cgroups: a process moved into a cgroup named like a
/// docker container's (`docker-<64 hex>.scope`) is in a container, whether the cgroup
/// existed before the loader started (found at start) or was created after (learned at
/// cgroup_mkdir, and only that one is `container=new`); a sibling outside is on the host.
/// The `container` context field of a rule agrees.
#[test]
fn container_scopes_from_cgroups() {
    if !can_bpf() {
        return;
    }
    let v2 = cgroup_v2();
    let s = Scratch::new();
    let base = v2.join(format!("tracee-e2e-{}", std::process::id()));
    let id = |n: u8| format!("{:064x}", u128::from(n) * 0x1234_5678_9abc_def1);
    let before = base.join(format!("docker-{}.scope", id(1)));
    let after = base.join(format!("docker-{}.scope", id(2)));
    if let Err(e) = std::fs::create_dir_all(&before) {
        panic!("create {}: {e}", before.display());
    }
    let dir = s.path().to_string_lossy().into_owned();
    let rules = rule("openat", &[&format!("args.pathname={dir}/*")]);
    let image = compile(
        s.path(),
        &[
            ("a.yaml", &policy("in-container", &["container"], &rules)),
            ("b.yaml", &policy("on-host", &["not-container"], &rules)),
            (
                "c.yaml",
                &policy("new-container", &["container=new"], &rules),
            ),
            (
                "d.yaml",
                &policy(
                    "context-field",
                    &["global"],
                    &rule(
                        "openat",
                        &[&format!("args.pathname={dir}/*"), "container=true"],
                    ),
                ),
            ),
        ],
    );
    let (m1, m2, m3) = (s.file("cg-before"), s.file("cg-after"), s.file("cg-host"));
    let t = Tracer::start(&image, &[]);
    if let Err(e) = std::fs::create_dir_all(&after) {
        panic!("create {}: {e}", after.display());
    }
    let inside = |cg: &std::path::Path, marker: &std::path::Path| {
        sh(&format!(
            "echo $$ > {}/cgroup.procs && cat {}",
            cg.display(),
            marker.display()
        ))
    };
    inside(&before, &m1);
    inside(&after, &m2);
    run("cat", &[&m3.to_string_lossy()]);
    let run = t.stop();
    let _ = std::fs::remove_dir(&before);
    let _ = std::fs::remove_dir(&after);
    let _ = std::fs::remove_dir(&base);
    run.assert_clean();
    let policies = |path: &std::path::Path| run.open_policies(path);
    assert_eq!(policies(&m1), vec!["in-container", "context-field"]);
    assert_eq!(
        policies(&m2),
        vec!["in-container", "new-container", "context-field"]
    );
    assert_eq!(policies(&m3), vec!["on-host"]);
}

/// Containers in a cgroup v1 hierarchy (legacy and hybrid hosts, such as this VM: docker's
/// cgroupfs driver puts containers only there): found at start and learned at cgroup_mkdir
/// as in v2, and their metadata found from the process's cgroups in /proc.
#[test]
fn container_scopes_from_cgroup_v1() {
    if !can_bpf() {
        return;
    }
    let Some(v1) = loader::cgroup_v1() else {
        // The CI machines are hybrid: there, `skip` fails the test.
        skip::skip("no cgroup v1 hierarchy on this host");
        return;
    };
    let s = Scratch::new();
    let base = v1
        .mount
        .join(format!("tracee-e2e-v1-{}", std::process::id()));
    let id = |n: u8| format!("{n:02x}beef00").repeat(8);
    let before = base.join(id(1));
    let after = base.join(format!("docker-{}.scope", id(2)));
    // cpuset cgroups take no task until they have cpus and memory nodes.
    let make = |dir: &std::path::Path| {
        if let Err(e) = std::fs::create_dir_all(dir) {
            panic!("create {}: {e}", dir.display());
        }
        for file in ["cpuset.cpus", "cpuset.mems"] {
            let parent = dir.parent().map(|p| p.join(file));
            if let Some(Ok(value)) = parent.map(std::fs::read_to_string) {
                let _ = std::fs::write(dir.join(file), value.trim());
            }
        }
    };
    make(&base);
    make(&before);
    let host = s.path().join("host");
    let state = host.join(format!(
        "var/lib/docker/containers/{}/config.v2.json",
        id(1)
    ));
    if let Some(parent) = state.parent() {
        let _ = std::fs::create_dir_all(parent);
    }
    let _ = std::fs::write(
        &state,
        r#"{"Name": "/legacy", "Config": {"Image": "busybox:1"}}"#,
    );
    let dir = s.path().to_string_lossy().into_owned();
    let opened = format!("args.pathname={dir}/*");
    let rules = rule("openat", &[&opened]);
    let image = compile(
        s.path(),
        &[
            ("a.yaml", &policy("in-container", &["container"], &rules)),
            ("b.yaml", &policy("on-host", &["not-container"], &rules)),
            (
                "c.yaml",
                &policy("new-container", &["container=new"], &rules),
            ),
            (
                "d.yaml",
                &policy(
                    "named",
                    &["global"],
                    &rule("openat", &[&opened, "containerName=legacy"]),
                ),
            ),
        ],
    );
    let (m1, m2, m3) = (s.file("v1-before"), s.file("v1-after"), s.file("v1-host"));
    let host_arg = host.to_string_lossy().into_owned();
    let t = Tracer::start(&image, &["--host-root", &host_arg]);
    make(&after);
    // The shell opens the file itself and lives on a moment, so that its cgroups can still be
    // read from /proc when the event is decoded.
    let inside = |cg: &std::path::Path, marker: &std::path::Path| {
        sh(&format!(
            "echo $$ > {}/cgroup.procs && read x < {}; sleep 0.3",
            cg.display(),
            marker.display()
        ))
    };
    inside(&before, &m1);
    inside(&after, &m2);
    run("cat", &[&m3.to_string_lossy()]);
    let run = t.stop();
    let _ = std::fs::remove_dir(&before);
    let _ = std::fs::remove_dir(&after);
    let _ = std::fs::remove_dir(&base);
    run.assert_clean();
    let policies = |path: &std::path::Path| run.open_policies(path);
    assert_eq!(policies(&m1), vec!["in-container", "named"]);
    assert_eq!(policies(&m2), vec!["in-container", "new-container"]);
    assert_eq!(policies(&m3), vec!["on-host"]);
}

/// security_inode_unlink from unlink/unlinkat: the absolute path (relative ones resolved
/// against the directory fd or the working directory), and the inode while it existed (from
/// ext4's tracepoint, where the test directory is on ext4); a failed unlink is not reported.
#[test]
fn security_inode_unlink_from_unlink() {
    if !can_bpf() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let image = compile(
        s.path(),
        &[(
            "u.yaml",
            &policy(
                "unlinks",
                &["global"],
                &rule(
                    "security_inode_unlink",
                    &[&format!("args.pathname={dir}/*")],
                ),
            ),
        )],
    );
    let (abs, rel_cwd, rel_dirfd) = (s.file("by-path"), s.file("by-cwd"), s.file("by-dirfd"));
    let ino = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.ino()).unwrap_or(0);
    let inodes = [ino(&abs), ino(&rel_cwd), ino(&rel_dirfd)];
    let script = format!(
        "import os\nos.unlink({abs:?})\nos.chdir({dir:?})\nos.unlink('1-by-cwd')\nfd = os.open('/', os.O_RDONLY)\nos.unlink({dirfd_rel:?}, dir_fd=fd)\ntry:\n    os.unlink('never-there')\nexcept FileNotFoundError:\n    pass\n",
        abs = abs.to_string_lossy(),
        dirfd_rel = rel_dirfd.to_string_lossy().trim_start_matches('/'),
    );
    let t = Tracer::start(&image, &[]);
    run("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    // The inode comes from ext4's tracepoint: on ext4 (this machine's /tmp) it must be the
    // file's; on other filesystems it is 0.
    let on_ext4 = std::process::Command::new("stat")
        .args(["-f", "-c", "%T", &dir])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("ext2/ext3"))
        .unwrap_or(false);
    for (path, inode) in [&abs, &rel_cwd, &rel_dirfd].iter().zip(inodes) {
        let found = run.one_with("security_inode_unlink", "pathname", path);
        let got = arg(found, "inode").and_then(|v| v.as_u64());
        assert_eq!(
            got,
            Some(if on_ext4 { inode } else { 0 }),
            "{}",
            path.display()
        );
    }
    assert!(run.named("security_inode_unlink").iter().all(|e| {
        !arg_str(e, "pathname")
            .unwrap_or_default()
            .ends_with("never-there")
    }));
}

/// A rule selecting several events (a set less one member, with a context filter) installs
/// a rule for each member: `cp` (renamed, so its comm is unique) reads and writes and seeks,
/// all reported; the excluded member and other processes are not.
#[test]
fn event_sets_expand_into_rules_for_each_member() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "set.yaml",
            "type: policy\nname: rw\ndescription: reads and writes of one command\nscope: [global]\nrules:\n  - event: tag=fs_read_write,-lseek\n    filters:\n      - comm=tracee-setcp\n",
        )],
    );
    let cp = s.path().join("tracee-setcp");
    if let Err(e) = std::fs::copy("/bin/cp", &cp) {
        panic!("copy cp: {e}");
    }
    let from = s.file("set-from.txt");
    let to = s.path().join("set-to.txt");
    let t = Tracer::start(&image, &[]);
    let pid = run_pid(
        &cp.to_string_lossy(),
        &[&from.to_string_lossy(), &to.to_string_lossy()],
    );
    run("cat", &[&from.to_string_lossy()]);
    let run = t.stop();
    run.assert_clean();
    let mine: Vec<&serde_json::Value> = run
        .events
        .iter()
        .filter(|e| e["hostProcessId"].as_u64() == Some(pid))
        .collect();
    let names: std::collections::BTreeSet<&str> = mine
        .iter()
        .filter_map(|e| e["eventName"].as_str())
        .collect();
    assert!(names.contains("read"), "{names:?}");
    assert!(
        names.contains("write") || names.contains("copy_file_range"),
        "{names:?}"
    );
    assert!(!names.contains("lseek"), "excluded: {names:?}");
    assert!(mine.iter().all(|e| policies_of(e) == ["rw"]));
    assert!(
        run.events
            .iter()
            .all(|e| e["processName"] == "tracee-setcp"),
        "only the named command: {:?}",
        run.events
            .iter()
            .map(|e| e["processName"].as_str())
            .collect::<Vec<_>>()
    );
}

/// task_rename: a process renaming itself (prctl PR_SET_NAME) is reported with its old and
/// new names; a rename the filter does not admit is not.
#[test]
fn task_rename_reports_old_and_new_names() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "rename.yaml",
            &policy(
                "renames",
                &["global"],
                &rule("task_rename", &["args.new_name=tr-e2e-*"]),
            ),
        )],
    );
    let t = Tracer::start(&image, &[]);
    let pid = run_pid(
        "python3",
        &[
            "-c",
            "import ctypes\nl = ctypes.CDLL(None)\nl.prctl(15, b'tr-e2e-new', 0, 0, 0)\nl.prctl(15, b'other-name', 0, 0, 0)",
        ],
    );
    let run = t.stop();
    run.assert_clean();
    let mine: Vec<&serde_json::Value> = run.named_of("task_rename", pid);
    assert_eq!(mine.len(), 1, "{:#?}", run.events);
    assert_eq!(arg_str(mine[0], "old_name").as_deref(), Some("python3"));
    assert_eq!(arg_str(mine[0], "new_name").as_deref(), Some("tr-e2e-new"));
    assert_eq!(policies_of(mine[0]), ["renames"]);
}

/// cgroup_mkdir and cgroup_rmdir: a cgroup created and removed under the cgroup v2 root (a
/// directory of this test's own, gone when it ends) is reported with its id (the
/// directory's inode), its path and hierarchy 0; one the path filter excludes is not.
#[test]
fn cgroup_mkdir_and_rmdir_report_the_cgroup() {
    if !can_bpf() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "cgroups.yaml",
            &policy(
                "cgroups",
                &["global"],
                &format!(
                    "{}{}",
                    rule("cgroup_mkdir", &["args.cgroup_path=*tracee-e2e-cg*"]),
                    rule("cgroup_rmdir", &["args.cgroup_path=*tracee-e2e-cg*"])
                ),
            ),
        )],
    );
    let root = cgroup_v2();
    let name = format!("tracee-e2e-cg-{}", std::process::id());
    let other = format!("tracee-other-{}", std::process::id());
    let t = Tracer::start(&image, &[]);
    let dir = root.join(&name);
    if let Err(e) = std::fs::create_dir(&dir) {
        panic!("mkdir {}: {e}", dir.display());
    }
    let id = std::fs::metadata(&dir).map(|m| m.ino()).unwrap_or(0);
    let _ = std::fs::remove_dir(&dir);
    let _ = std::fs::create_dir(root.join(&other));
    let _ = std::fs::remove_dir(root.join(&other));
    let run = t.stop();
    run.assert_clean();
    for event in ["cgroup_mkdir", "cgroup_rmdir"] {
        let found = run.named(event);
        assert_eq!(found.len(), 1, "{event}: {:#?}", run.events);
        let e = found[0];
        assert_eq!(arg_str(e, "cgroup_path"), Some(format!("/{name}")), "{e}");
        assert_eq!(
            arg(e, "cgroup_id").and_then(|v| v.as_u64()),
            Some(id),
            "{e}"
        );
        assert_eq!(
            arg(e, "hierarchy_id").and_then(|v| v.as_u64()),
            Some(0),
            "{e}"
        );
    }
}

/// sched_switch, do_exit and cap_capable from their tracepoints: a renamed process that
/// sleeps (switched out), checks a capability (setuid as root: CAP_SETUID, 7) and exits is
/// reported with its own values; the filters keep every other process out.
#[test]
fn sched_switch_do_exit_and_cap_capable() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "tp.yaml",
            &policy(
                "tp",
                &["comm=tr-e2e-tp"],
                &format!(
                    "{}{}{}",
                    rule("sched_switch", &["args.prev_comm=tr-e2e-tp"]),
                    rule("do_exit", &["comm=tr-e2e-tp"]),
                    rule("cap_capable", &["args.cap=7"])
                ),
            ),
        )],
    );
    let t = Tracer::start(&image, &[]);
    let pid = run_pid(
        "python3",
        &[
            "-c",
            "import ctypes, os, time\nctypes.CDLL(None).prctl(15, b'tr-e2e-tp', 0, 0, 0)\ntime.sleep(0.05)\nos.setuid(0)\ntime.sleep(0.05)",
        ],
    );
    let run = t.stop();
    run.assert_clean();
    let mine = |name: &str| -> Vec<&serde_json::Value> { run.named_of(name, pid) };
    let switches = mine("sched_switch");
    assert!(!switches.is_empty(), "{:#?}", run.events);
    for e in &switches {
        assert_eq!(arg_str(e, "prev_comm").as_deref(), Some("tr-e2e-tp"), "{e}");
        assert_eq!(
            arg(e, "prev_tid").and_then(|v| v.as_u64()),
            Some(pid),
            "{e}"
        );
        assert!(
            arg(e, "next_comm").is_some() && arg(e, "cpu").is_some(),
            "{e}"
        );
    }
    assert_eq!(
        mine("do_exit").len(),
        1,
        "one thread exited: {:#?}",
        run.named("do_exit")
    );
    let caps = mine("cap_capable");
    assert!(
        !caps.is_empty(),
        "setuid(0) checks CAP_SETUID: {:#?}",
        run.events
    );
    assert!(
        caps.iter()
            .all(|e| arg(e, "cap").and_then(|v| v.as_i64()) == Some(7))
    );
    // The scope keeps other processes out.
    assert!(
        run.events.iter().all(|e| e["processName"] == "tr-e2e-tp"),
        "{:?}",
        run.events
            .iter()
            .map(|e| &e["processName"])
            .collect::<Vec<_>>()
    );
}

/// security_socket_create from the exit of socket: a UDP and a unix socket are reported with
/// their family, type and protocol; the filter on the family keeps the unix one out, and a
/// call refused for an invalid family (the hook would never run) is not reported.
#[test]
fn security_socket_create_from_socket() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "sock.yaml",
            &policy(
                "sockets",
                &["comm=tr-e2e-sock"],
                &rule("security_socket_create", &["args.family=2,10,12345"]),
            ),
        )],
    );
    let t = Tracer::start(&image, &[]);
    let pid = run_pid(
        "python3",
        &[
            "-c",
            "import ctypes, socket\nl = ctypes.CDLL(None, use_errno=True)\nl.prctl(15, b'tr-e2e-sock', 0, 0, 0)\nsocket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()\nsocket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()\nassert l.socket(12345, 1, 0) == -1",
        ],
    );
    let run = t.stop();
    run.assert_clean();
    let mine: Vec<&serde_json::Value> = run.named_of("security_socket_create", pid);
    assert_eq!(mine.len(), 1, "{:#?}", run.events);
    let e = mine[0];
    let int = |name: &str| arg(e, name).and_then(|v| v.as_i64());
    assert_eq!(int("family"), Some(2), "{e}");
    assert_eq!(int("type"), Some(2), "SOCK_DGRAM: {e}");
    assert_eq!(int("protocol"), Some(0), "{e}");
    assert_eq!(int("kern"), Some(0), "{e}");
    assert_eq!(e["syscall"], "socket", "{e}");
}

/// security_socket_bind from the entry (the address) and exit of bind: a TCP socket bound
/// to a loopback port is reported with its address; a bind on a fd that is not a socket is
/// not (the hook would not run), nor is a port the filter leaves out.
#[test]
fn security_socket_bind_from_bind() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "bind.yaml",
            &policy(
                "binds",
                &["comm=tr-e2e-bind"],
                &rule("security_socket_bind", &["args.sockfd>=0"]),
            ),
        )],
    );
    let t = Tracer::start(&image, &[]);
    let pid = run_pid(
        "python3",
        &[
            "-c",
            "import ctypes, socket, os\nl = ctypes.CDLL(None, use_errno=True)\nl.prctl(15, b'tr-e2e-bind', 0, 0, 0)\ns = socket.socket()\ns.bind(('127.0.0.1', 0))\nport = s.getsockname()[1]\nfd = os.open('/dev/null', os.O_RDONLY)\nassert l.bind(fd, ctypes.create_string_buffer(16), 16) == -1\nprint(port)",
        ],
    );
    let run = t.stop();
    run.assert_clean();
    let mine: Vec<&serde_json::Value> = run.named_of("security_socket_bind", pid);
    assert_eq!(mine.len(), 1, "{:#?}", run.events);
    let addr = arg(mine[0], "local_addr").unwrap_or_else(|| panic!("{}", mine[0]));
    assert_eq!(addr["sa_family"], "AF_INET", "{addr}");
    assert_eq!(addr["sin_addr"], "127.0.0.1", "{addr}");
}

/// security_sb_mount from mount(2), in a private mount namespace over this test's own
/// directory (the host's mounts are never touched): the mount is reported with its source,
/// absolute target, type and flags; a mount on a missing target (refused before the hook)
/// and one whose source the filter leaves out are not.
#[test]
fn security_sb_mount_from_mount() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[(
            "mount.yaml",
            &policy(
                "mounts",
                &["global"],
                &rule(
                    "security_sb_mount",
                    &["args.dev_name=tr-e2e-*", "args.type=tmpfs"],
                ),
            ),
        )],
    );
    let target = s.path().join("mnt");
    if let Err(e) = std::fs::create_dir(&target) {
        panic!("mkdir: {e}");
    }
    let t = Tracer::start(&image, &[]);
    let script = format!(
        "import ctypes, os\nl = ctypes.CDLL(None, use_errno=True)\nos.chdir('{dir}')\nassert l.mount(b'tr-e2e-src', b'mnt', b'tmpfs', 1, None) == 0\nassert l.mount(b'tr-e2e-src', b'missing', b'tmpfs', 0, None) == -1\nassert l.mount(b'other-src', b'mnt', b'tmpfs', 0, None) == 0",
        dir = s.path().display()
    );
    run(
        "unshare",
        &["-m", "--propagation", "private", "python3", "-c", &script],
    );
    let run = t.stop();
    run.assert_clean();
    let mounts = run.named("security_sb_mount");
    assert_eq!(mounts.len(), 1, "{:#?}", run.events);
    let e = mounts[0];
    assert_eq!(arg_str(e, "dev_name").as_deref(), Some("tr-e2e-src"), "{e}");
    assert_eq!(
        arg_str(e, "path"),
        Some(target.display().to_string()),
        "{e}"
    );
    assert_eq!(arg_str(e, "type").as_deref(), Some("tmpfs"), "{e}");
    assert_eq!(
        arg(e, "flags").and_then(|v| v.as_u64()),
        Some(1),
        "MS_RDONLY: {e}"
    );
    assert_eq!(e["syscall"], "mount", "{e}");
}

/// Fields Tracee added since its older releases: sched_process_exec's `prev_comm` (the name
/// before exec) and `pwd`, sched_process_exit's `exit_code` (the status, as wait(2) decodes
/// it) and `signal_code` (only for a task killed by a signal). The exec filter on
/// `prev_comm` keeps a third child out.
#[test]
fn exec_and_exit_carry_tracees_current_fields() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[
            (
                "exec.yaml",
                &policy(
                    "exec-prev",
                    &["global"],
                    &rule("sched_process_exec", &["args.prev_comm=tr-e2e-*"]),
                ),
            ),
            (
                "exit.yaml",
                &policy("exits", &["comm=sh"], "    - event: sched_process_exit\n"),
            ),
        ],
    );
    let dir = s.path().canonicalize().unwrap_or_else(|e| panic!("{e}"));
    let script = format!(
        r#"
import ctypes, os
libc = ctypes.CDLL(None)
for name, cmd in ((b"tr-e2e-prev", "exit 3"), (b"tr-e2e-killed", "kill -TERM $$"), (b"tr-x-other", "true")):
    pid = os.fork()
    if pid == 0:
        libc.prctl(15, name, 0, 0, 0)
        os.chdir({dir:?})
        os.execv("/bin/sh", ["sh", "-c", cmd])
    os.waitpid(pid, 0)
"#,
        dir = dir.to_string_lossy()
    );
    let t = Tracer::start(&image, &[]);
    let parent = run_pid("python3", &["-c", &script]);
    let run = t.stop();
    run.assert_clean();
    let execs: Vec<_> = run
        .named("sched_process_exec")
        .into_iter()
        .filter(|e| e["hostParentProcessId"] == parent)
        .collect();
    let exec_of = |prev: &str| {
        execs
            .iter()
            .find(|e| arg_str(e, "prev_comm").as_deref() == Some(prev))
            .unwrap_or_else(|| panic!("no exec from {prev} in {execs:#?}"))
    };
    let exited = exec_of("tr-e2e-prev");
    let killed = exec_of("tr-e2e-killed");
    assert_eq!(execs.len(), 2, "tr-x-other is filtered out: {execs:#?}");
    for e in [exited, killed] {
        assert_eq!(e["processName"], "sh", "{e}");
        assert_eq!(
            arg_str(e, "pwd").as_deref(),
            Some(&*dir.to_string_lossy()),
            "{e}"
        );
        assert_eq!(
            arg(e, "invoked_from_kernel"),
            Some(&serde_json::json!(false)),
            "{e}"
        );
    }
    let exit_of = |exec: &serde_json::Value| {
        run.named_of(
            "sched_process_exit",
            exec["hostProcessId"].as_u64().unwrap_or(0),
        )
        .into_iter()
        .next()
        .cloned()
        .unwrap_or_else(|| panic!("no exit for {exec} in {:#?}", run.events))
    };
    let e = exit_of(exited);
    assert_eq!(
        arg(&e, "exit_code").and_then(|v| v.as_i64()),
        Some(3),
        "{e}"
    );
    assert!(arg(&e, "signal_code").is_none(), "{e}");
    assert_eq!(
        arg(&e, "process_group_exit"),
        Some(&serde_json::json!(true)),
        "{e}"
    );
    let e = exit_of(killed);
    assert_eq!(
        arg(&e, "exit_code").and_then(|v| v.as_i64()),
        Some(0),
        "{e}"
    );
    assert_eq!(
        arg(&e, "signal_code").and_then(|v| v.as_i64()),
        Some(15),
        "{e}"
    );
}
