//! Overload, hostile image files, privileges and kernel refusals.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

/// A consumer stalled on purpose (its stdout is a pipe nobody reads for a while) while a
/// burst of exactly N matching opens happens: the kernel drops what the small ring cannot
/// hold, the loader reports those drops as `lost_events` records and in its summary, and
/// printed + lost = N exactly.
#[test]
fn stalled_consumer_reports_exactly_what_the_kernel_dropped() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("burst");
    let _ = std::fs::create_dir_all(&files);
    let image = compile(
        s.path(),
        &[(
            "b.yaml",
            &policy(
                "burst",
                &["global"],
                &rule("openat", &[&format!("args.pathname={}/*", files.display())]),
            ),
        )],
    );
    let mut child = match loader()
        .args(["--output", "json", "--ring-buffer-mb", "1"])
        .args(["--lost-report-interval", "0.2"])
        .arg(&image)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        panic!("no pipes");
    };
    let (tx, rx) = mpsc::channel();
    let err_reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("attached") {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines
    });
    if rx.recv_timeout(Duration::from_secs(30)).is_err() {
        let _ = child.kill();
        panic!("did not attach: {:?}", err_reader.join());
    }
    // Enough JSON (about 20 MB) to overflow the stdout pipe, the output queue (8 MiB) and the
    // 1 MiB ring buffer whatever the scratch path's length: 20,000 was marginal.
    const N: usize = 50_000;
    let status = std::process::Command::new("python3")
        .args([
            "-c",
            &format!(
                "for i in range({N}):\n    open('{}/f%d' % i, 'w').close()\n",
                files.display()
            ),
        ])
        .status();
    assert!(status.is_ok_and(|s| s.success()));
    // Let the loader report drops while still stalled, then drain it and stop it.
    std::thread::sleep(Duration::from_millis(600));
    let out_reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_millis(1500));
    signal(child.id(), "TERM");
    let _ = child.wait();
    let lines = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let records: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let printed = records
        .iter()
        .filter(|r| {
            r["eventName"] == "openat"
                && arg_str(r, "pathname").is_some_and(|p| p.starts_with(&*files.to_string_lossy()))
        })
        .count();
    let reported: u64 = records
        .iter()
        .filter(|r| r["eventName"] == "lost_events")
        .map(|r| r["lostEvents"].as_u64().unwrap_or(0))
        .sum();
    let summary = stderr
        .iter()
        .find(|l| l.contains("events printed"))
        .unwrap_or_else(|| panic!("no summary: {stderr:?}"));
    let lost: u64 = summary
        .split(", ")
        .nth(1)
        .and_then(|p| p.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(lost > 0, "nothing was dropped: {summary}");
    assert_eq!(
        printed as u64 + lost,
        N as u64,
        "printed {printed} + lost {lost} != {N}"
    );
    assert_eq!(
        reported, lost,
        "lost_events records: {reported}, summary: {lost}"
    );
    assert!(
        stderr.iter().any(|l| l.contains("events lost")),
        "{stderr:?}"
    );
}

fn bundled_image(s: &Scratch) -> std::path::PathBuf {
    compile(
        s.path(),
        &[(
            "o.yaml",
            &policy(
                "opens",
                &["global"],
                &rule("openat", &["args.pathname=/etc/*"]),
            ),
        )],
    )
}

/// An image someone other than root could have written is refused before anything is
/// loaded, unless `--allow-insecure-image`.
#[test]
fn insecure_image_files_are_refused() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = bundled_image(&s);
    let attempt = |args: &[&str]| {
        let out = loader()
            .args(args)
            .arg(&image)
            .args(["--duration", "0"])
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    run("chmod", &["666", &image.to_string_lossy()]);
    let (code, err) = attempt(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("writable by every user") && err.contains("help:"),
        "{err}"
    );
    assert!(!err.contains("attached"), "{err}");
    run("chmod", &["644", &image.to_string_lossy()]);
    run("chown", &["4999", &image.to_string_lossy()]);
    let (code, err) = attempt(&[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("owned by uid 4999"), "{err}");
    let (code, err) = attempt(&["--allow-insecure-image"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("attached"), "{err}");
}

/// The threads of a process: (tid, name).
fn threads(pid: u32) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let tid: u32 = e.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(e.path().join("comm")).ok()?;
            Some((tid, name.trim().to_owned()))
        })
        .collect()
}

fn task_field(pid: u32, tid: u32, name: &str) -> String {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

fn status_field(pid: u32, name: &str) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}

/// Once attached, the loader keeps CAP_BPF and CAP_PERFMON only (what a reload needs; and
/// CAP_NET_ADMIN for an image with network events, whose packet programs need it), or
/// nothing with --no-reload, in its main thread, and nothing in its other threads; the
/// bounding set is emptied and no new privileges can come.
#[test]
fn capabilities_are_dropped_once_attached() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let plain = bundled_image(&s);
    let net_dir = s.path().join("network");
    let _ = std::fs::create_dir_all(&net_dir);
    let network = compile_global(&net_dir, "dns", "    - event: net_packet_dns_request\n");
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let reload_caps = format!("{:016x}", (1u64 << CAP_BPF) | (1u64 << CAP_PERFMON));
    let network_caps = format!(
        "{:016x}",
        (1u64 << CAP_BPF) | (1u64 << CAP_PERFMON) | (1u64 << CAP_NET_ADMIN)
    );
    let sink_file = s.path().join("sink.json");
    let sink_file = sink_file.to_string_lossy();
    let sinks = [
        "--output-file",
        &sink_file,
        "--webhook",
        "http://127.0.0.1:9/",
        "--forward",
        "tcp://127.0.0.1:9",
    ];
    for (image, args, caps) in [
        (&network, &[][..], network_caps.as_str()),
        (&plain, &[][..], reload_caps.as_str()),
        (&network, &["--no-reload"][..], "0000000000000000"),
        (&plain, &sinks[..], reload_caps.as_str()),
    ] {
        let t = Tracer::start(image, args);
        let pid = t.pid();
        assert_eq!(status_field(pid, "CapEff"), caps, "{args:?}");
        assert_eq!(status_field(pid, "CapPrm"), caps, "{args:?}");
        assert_eq!(status_field(pid, "CapInh"), "0000000000000000");
        assert_eq!(status_field(pid, "CapBnd"), caps, "{args:?}");
        assert_eq!(status_field(pid, "NoNewPrivs"), "1");
        // Capabilities belong to threads: the helper threads (signals, image file, output,
        // each sink) hold none at all. Signals are blocked in every thread but the signal thread, so
        // the one loading BPF programs never has one pending.
        let tasks = threads(pid);
        assert!(tasks.len() >= 4, "{tasks:?}");
        if args.contains(&"--webhook") {
            for sink in ["sink-file", "sink-webhook", "sink-forward"] {
                assert!(tasks.iter().any(|(_, n)| n == sink), "{sink}: {tasks:?}");
            }
        }
        let handled: u64 = [1u64, 2, 13, 15].iter().map(|s| 1 << (s - 1)).sum(); // HUP INT PIPE TERM
        let mut unblocked = Vec::new();
        for (tid, name) in &tasks {
            let field = |f: &str| task_field(pid, *tid, f);
            if *tid != pid {
                for f in ["CapEff", "CapPrm"] {
                    assert_eq!(
                        field(f),
                        "0000000000000000",
                        "{name} {f} {args:?} {tasks:?}"
                    );
                }
                assert_eq!(field("CapBnd"), "0000000000000000", "{name} {args:?}");
            }
            assert_eq!(field("NoNewPrivs"), "1", "{name}");
            let blocked = u64::from_str_radix(&field("SigBlk"), 16).unwrap_or(0);
            if blocked & handled != handled {
                unblocked.push(name.clone());
            }
        }
        assert_eq!(unblocked, vec!["signals".to_owned()], "{tasks:?}");
        let run = t.stop();
        run.assert_clean();
        let kept = if caps == "0000000000000000" {
            "capabilities kept: none"
        } else if caps == network_caps {
            "capabilities kept: CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN"
        } else {
            "capabilities kept: CAP_BPF, CAP_PERFMON"
        };
        assert!(
            run.stderr.iter().any(|l| l.contains(kept)),
            "{:?}",
            run.stderr
        );
    }
}

/// A kernel refusal is one clear line naming what was refused, the errno and a hint; no
/// backtrace. Here the loader runs in a memory cgroup too small for its ring buffer, so
/// creating map `rb` fails with ENOMEM; and without privileges, the first BPF call fails.
#[test]
fn kernel_refusals_name_the_map_and_errno() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    // tp_btf hooks only: no tracefs is needed, the BPF syscall is the first kernel call.
    let image = compile(
        s.path(),
        &[(
            "x.yaml",
            &policy("execs", &["global"], "    - event: sched_process_exec\n"),
        )],
    );
    let error_line = |out: std::process::Output| {
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            !err.contains("panicked") && !err.contains("stack backtrace"),
            "{err}"
        );
        // libbpf's messages are saved, not printed: the refusal is one line.
        assert!(!err.contains("libbpf:"), "{err}");
        err.lines()
            .find(|l| l.starts_with("tracee-load: error:"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{err}"))
    };
    // A memory cgroup of 20 MiB (v2, or v1's memory controller on hybrid hosts), and a
    // 64 MiB ring buffer.
    let v2 = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]
        .into_iter()
        .map(std::path::Path::new)
        .find(|p| {
            std::fs::read_to_string(p.join("cgroup.subtree_control"))
                .is_ok_and(|c| c.split_whitespace().any(|c| c == "memory"))
        });
    let (cgroup, limit_file) = match v2 {
        Some(root) => (
            root.join(format!("tracee-e2e-mem-{}", std::process::id())),
            "memory.max",
        ),
        None => (
            std::path::PathBuf::from(format!(
                "/sys/fs/cgroup/memory/tracee-e2e-mem-{}",
                std::process::id()
            )),
            "memory.limit_in_bytes",
        ),
    };
    if let Err(e) = std::fs::create_dir_all(&cgroup) {
        panic!("create {}: {e}", cgroup.display());
    }
    if let Err(e) = std::fs::write(cgroup.join(limit_file), "20971520") {
        panic!("limit {}: {e}", cgroup.display());
    }
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "echo $$ > {}/cgroup.procs && exec {} --ring-buffer-mb 64 --duration 0 {}",
            cgroup.display(),
            env!("CARGO_BIN_EXE_tracee-load"),
            image.display()
        ))
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir(&cgroup);
    let line = error_line(out);
    assert!(line.contains("create map `rb`"), "{line}");
    assert!(
        line.contains("Cannot allocate memory (os error 12)"),
        "{line}"
    );
    assert!(line.contains("--ring-buffer-mb"), "{line}");
    // ... and they are in the file the line names, readable by root only.
    let log = line
        .split_once("is in ")
        .and_then(|(_, rest)| rest.split_once(';'))
        .map(|(path, _)| std::path::PathBuf::from(path))
        .unwrap_or_else(|| panic!("no log file named: {line}"));
    let text = std::fs::read_to_string(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).map_or(0o777, |m| m.permissions().mode());
    let _ = std::fs::remove_file(&log);
    assert!(text.contains("libbpf: map 'rb'"), "{text}");
    assert_eq!(mode & 0o077, 0, "{mode:o}");
    // No privileges at all.
    let out = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "4999",
            "--regid",
            "4999",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(env!("CARGO_BIN_EXE_tracee-load"))
        .arg(&image)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    // Said at once, in one line, before any kernel call fails.
    let line = error_line(out);
    assert!(
        line.contains("needs root or at least CAP_BPF and CAP_PERFMON")
            && line.contains("run it with sudo"),
        "{line}"
    );
}

/// tracefs, which per-syscall tracepoints need: mounted by the loader with mount(2) when
/// missing (no `mount` program is looked up: PATH leads nowhere here), and, for a user who
/// cannot read a mounted one, an error that names the cause (privileges), not a missing
/// mount. Both in private mount namespaces.
#[test]
fn tracefs_is_mounted_by_syscall_and_privileges_are_named() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    // Opens: per-syscall tracepoints, which tracefs lists.
    let image = bundled_image(&s);
    let loader = env!("CARGO_BIN_EXE_tracee-load");
    let in_namespace = |script: &str| {
        std::process::Command::new("unshare")
            .args(["-m", "--propagation", "private", "sh", "-c", script])
            .output()
            .unwrap_or_else(|e| panic!("{e}"))
    };
    // No tracefs anywhere (debugfs's automount hidden under an empty tmpfs).
    let out = in_namespace(&format!(
        "umount /sys/kernel/tracing 2>/dev/null; mount -t tmpfs none /sys/kernel/debug && \
         PATH=/nonexistent exec {loader} --duration 0 {}",
        image.display()
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("mounted tracefs at /sys/kernel/tracing"),
        "{err}"
    );
    assert!(err.contains("attached"), "{err}");
    // Mounted, but unreadable to uid 4999 (mode 700), which has CAP_BPF and CAP_PERFMON.
    let out = in_namespace(&format!(
        "mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; \
         exec setpriv --reuid 4999 --regid 4999 --clear-groups --inh-caps=-all,+bpf,+perfmon \
         --ambient-caps=-all,+bpf,+perfmon --bounding-set=-all,+bpf,+perfmon {loader} {}",
        image.display()
    ));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("tracee-load: error:"))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(
        line.contains("tracefs is mounted at /sys/kernel/tracing, but this user cannot read it")
            && line.contains("run tracee-load as root"),
        "{line}"
    );
    assert!(!line.contains("mount -t"), "{line}");
}
