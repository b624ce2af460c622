//! Running it like a service: `--metrics` and `--healthz` scraped while events flow and
//! reloads succeed or fail, `--config` for the flags, `--log-format json`.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::harness::*;

/// A loopback address with a port free now.
fn free_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    l.local_addr().unwrap_or_else(|e| panic!("{e}"))
}

/// `GET path` over HTTP/1.0: the status code and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, body.to_owned())
}

/// The value of the sample `name` (with its labels, as printed) in an exposition.
fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

fn sha256_of(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Waits until `check` holds for what `path` answers (the loader publishes between drains).
fn eventually(addr: SocketAddr, path: &str, check: impl Fn(u16, &str) -> bool) -> (u16, String) {
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = get(addr, path);
        if check(status, &body) || std::time::Instant::now() >= until {
            return (status, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A load of opens, scraped: the per-event, per-policy and total counters equal the events
/// printed and the summary line; the image's SHA-256 is the file's. A reload to a broken
/// image makes `/readyz` (and `/healthz`) fail with the reason while `/livez` stays up, and
/// the next good image makes it ready again, each step counted.
#[test]
fn metrics_agree_with_the_output_and_health_follows_reloads() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("load");
    std::fs::create_dir_all(&files).unwrap_or_else(|e| panic!("{e}"));
    let opens = rule("openat", &[&format!("args.pathname={}/*", files.display())]);
    let dir = |n: &str| {
        let d = s.path().join(n);
        let _ = std::fs::create_dir_all(&d);
        d
    };
    let first = compile(
        &dir("one"),
        &[
            ("a.yaml", &policy("ops-a", &["global"], &opens)),
            ("b.yaml", &policy("ops-b", &["comm=python3"], &opens)),
        ],
    );
    let second = compile_global(&dir("two"), "ops-next", &opens);
    let live = s.path().join("live.bin");
    std::fs::write(&live, read(&first)).unwrap_or_else(|e| panic!("{e}"));
    let (metrics, health) = (free_addr(), free_addr());
    let sink = s.path().join("events.json");
    let sink_arg = sink.to_string_lossy().into_owned();
    let t = Tracer::start(
        &live,
        &[
            "--output-file",
            &sink_arg,
            "--watch",
            "--metrics",
            &metrics.to_string(),
            "--healthz",
            &health.to_string(),
        ],
    );
    let (code, body) = eventually(health, "/readyz", |c, _| c == 200);
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(health, "/livez").0, 200);
    assert_eq!(
        get(health, "/metrics").0,
        404,
        "metrics only on their address"
    );

    const COUNT: usize = 400;
    let mut load = stream(&files, COUNT, 0.0);
    let _ = load.0.wait();
    let (_, m) = eventually(metrics, "/metrics", |_, m| {
        sample(m, "tracee_load_events_printed_total") == Some(COUNT as f64)
    });
    let count = Some(COUNT as f64);
    assert_eq!(
        sample(&m, "tracee_load_events_total{event=\"openat\"}"),
        count,
        "{m}"
    );
    assert_eq!(
        sample(&m, "tracee_load_policy_events_total{policy=\"ops-a\"}"),
        count,
        "{m}"
    );
    assert_eq!(
        sample(&m, "tracee_load_policy_events_total{policy=\"ops-b\"}"),
        count,
        "{m}"
    );
    assert_eq!(sample(&m, "tracee_load_events_matched_total"), count, "{m}");
    assert_eq!(
        sample(&m, "tracee_load_events_lost_total"),
        Some(0.0),
        "{m}"
    );
    // The file sink's own counters.
    let file_key = |name: &str| {
        format!("tracee_load_sink_{name}_total{{sink=\"file\",target=\"{sink_arg}\"}}")
    };
    let (_, m) = eventually(metrics, "/metrics", |_, m| {
        sample(m, &file_key("delivered")) == count
    });
    assert_eq!(sample(&m, &file_key("events")), count, "{m}");
    assert_eq!(sample(&m, &file_key("delivered")), count, "{m}");
    assert_eq!(sample(&m, &file_key("dropped")), Some(0.0), "{m}");
    assert_eq!(sample(&m, "tracee_load_generation"), Some(1.0), "{m}");
    let image = format!(
        "tracee_load_image{{sha256=\"{}\",generation=\"1\"}}",
        sha256_of(&live)
    );
    assert_eq!(sample(&m, &image), Some(1.0), "{m}");
    assert_eq!(
        sample(&m, "tracee_load_ring_buffer_size_bytes"),
        Some(f64::from(loader::DEFAULT_RING_BYTES)),
        "{m}"
    );

    // A broken image: refused, the first keeps running, unready with the reason.
    replace(&live, b"not an image at all, just text");
    assert!(
        t.wait_stderr("reload refused", Duration::from_secs(20)),
        "{:?}",
        t.stderr_so_far()
    );
    let (code, body) = eventually(health, "/readyz", |c, _| c == 503);
    assert_eq!(code, 503, "{body}");
    assert!(
        body.contains("reload was refused") && body.contains("live.bin"),
        "{body}"
    );
    assert_eq!(get(health, "/healthz").0, 503);
    assert_eq!(
        get(health, "/livez").0,
        200,
        "a refused reload is not a dead loader"
    );
    let (_, m) = eventually(metrics, "/metrics", |_, m| {
        sample(m, "tracee_load_reload_failures_total") == Some(1.0)
    });
    assert_eq!(
        sample(&m, "tracee_load_reload_failures_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(sample(&m, "tracee_load_ready"), Some(0.0), "{m}");
    assert_eq!(sample(&m, "tracee_load_generation"), Some(1.0), "{m}");

    // A good one: ready again, generation 2 with its checksum.
    replace(&live, &read(&second));
    wait_for_generation_2(&t);
    let (code, body) = eventually(health, "/readyz", |c, _| c == 200);
    assert_eq!(code, 200, "{body}");
    assert_eq!(get(health, "/healthz").0, 200);
    let (_, m) = eventually(metrics, "/metrics", |_, m| {
        sample(m, "tracee_load_generation") == Some(2.0)
    });
    assert_eq!(sample(&m, "tracee_load_reloads_total"), Some(1.0), "{m}");
    let image = format!(
        "tracee_load_image{{sha256=\"{}\",generation=\"2\"}}",
        sha256_of(&second)
    );
    assert_eq!(sample(&m, &image), Some(1.0), "{m}");

    let run = t.stop();
    run.assert_clean();
    let printed = run.named("openat").len();
    assert_eq!(printed, COUNT, "only the load's opens were selected");
    let summary = run
        .stderr
        .iter()
        .find(|l| l.contains("events printed"))
        .cloned()
        .unwrap_or_default();
    assert!(
        summary.contains(&format!("{COUNT} events printed")),
        "the summary agrees with the metrics: {summary}"
    );
}

/// `--config FILE` sets the flags (the image among them); the command line wins over it;
/// `--log-format json` (set in the file) makes every stderr line a JSON object.
#[test]
fn config_file_sets_flags_and_logs_as_json() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let target = s.file("config-open");
    let image = compile_global(
        s.path(),
        "from-config",
        &rule("openat", &[&format!("args.pathname={}", target.display())]),
    );
    let config = s.path().join("tracee-load.yaml");
    std::fs::write(
        &config,
        format!(
            "image: {}\noutput: table\nlog-format: json\nmax-events: 1\nduration: 20\n",
            image.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = loader();
    // The command line's `--output json` wins over the file's table.
    cmd.arg("--config").arg(&config).args(["--output", "json"]);
    let mut t = Tracer::spawn(cmd);
    run("cat", &[&target.to_string_lossy()]);
    let run = t.finish();
    assert!(run.status.success(), "{:?}", run.stderr);
    assert_eq!(
        run.events.len(),
        1,
        "max-events 1 from the file: {:?}",
        run.events
    );
    assert_eq!(
        arg_str(&run.events[0], "pathname"),
        Some(target.display().to_string())
    );
    let mut levels = Vec::new();
    for line in &run.stderr {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v["ts"].as_f64().is_some_and(|t| t > 1.5e9), "{line}");
        levels.push(v["level"].as_str().unwrap_or_default().to_owned());
        assert!(v["msg"].is_string(), "{line}");
    }
    assert!(
        run.stderr.iter().any(|l| l.contains("\"msg\":\"attached")),
        "{:?}",
        run.stderr
    );
    assert!(
        run.stderr.iter().any(|l| l.contains("1 events printed")),
        "{:?}",
        run.stderr
    );
    assert!(levels.iter().all(|l| l == "info"), "{levels:?}");

    // A mistake in the file is named, with the fix, before anything is loaded.
    std::fs::write(&config, "image: x\nring-bufer-mb: 4\n").unwrap_or_else(|e| panic!("{e}"));
    let out = loader()
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`ring-bufer-mb` is not a setting") && err.contains("ring-buffer-mb"),
        "{err}"
    );
}

/// README's first command, `scripts/demo`, with the tools already built: it makes activity
/// the bundled policies select as soon as the loader is attached and says so, so its own
/// open, exec and failed close show within seconds even on a quiet machine.
#[test]
fn the_demo_shows_its_own_activity() {
    if !can_bpf() {
        return;
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let load = std::path::Path::new(env!("CARGO_BIN_EXE_tracee-load"));
    let bin_dir = load.parent().unwrap_or_else(|| panic!("no bin dir"));
    if !bin_dir.join("tracee-compile").exists() {
        let built = std::process::Command::new(env!("CARGO"))
            .args(["build", "-p", "tracee-compile"])
            .current_dir(&repo)
            .status()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(built.success());
    }
    let started = std::time::Instant::now();
    let out = std::process::Command::new(repo.join("scripts/demo"))
        .env("BIN_DIR", bin_dir)
        .env("DURATION", "4")
        .current_dir(&repo)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(30), "{stderr}");
    assert!(stderr.contains("scripts/demo: every second"), "{stderr}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.contains("tracee-demo."))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.contains("security_file_open") && r.contains("demo-1.txt")),
        "{stdout:.3000}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("sched_process_exec") && l.contains(": demo exec")),
        "{stdout:.3000}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.contains(" close ") && l.contains("987")),
        "{stdout:.3000}"
    );
}

/// No root needed: the version names the commit; completions and the man page come from the
/// CLI definitions.
#[test]
fn version_completions_and_man_page() {
    let version = loader()
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with("tracee-load ") && version.contains(" ("),
        "{version}"
    );
    let out = loader()
        .args(["--completions", "bash"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(out.status.success());
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("--ring-buffer-mb") && script.contains("--metrics"),
        "{script:.300}"
    );
    let s = Scratch::new();
    let dir = s.path().join("man");
    let out = loader()
        .arg("--man")
        .arg(&dir)
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A value the kernel could never take is a usage error, like a bad flag: exit 2.
    let out = loader()
        .args(["--ring-buffer-mb", "3", "x.bin"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("power of two"), "{err}");
    let page = std::fs::read_to_string(dir.join("tracee-load.1")).unwrap_or_default();
    assert!(
        page.contains(".TH") && page.contains("healthz"),
        "{page:.300}"
    );
}

/// README's sample attach line is what this kernel prints for the bundled policies (hooks,
/// events, policies, map entries; not the milliseconds).
#[test]
fn readme_sample_attach_line_is_true() {
    if !can_bpf() {
        return;
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let s = Scratch::new();
    let image = compile_paths(s.path(), &[repo.join("testdata/policies")]);
    let t = Tracer::start(&image, &[]);
    let run = t.stop();
    let counts = |line: &str| -> Option<String> {
        let rest = line.split_once("tracee-load: attached ")?.1;
        Some(rest.split_once(" in ")?.0.to_owned())
    };
    let printed = run
        .stderr
        .iter()
        .find_map(|l| counts(l))
        .unwrap_or_else(|| panic!("{:?}", run.stderr));
    let readme = std::fs::read_to_string(repo.join("README.md")).unwrap_or_default();
    let sample = readme
        .lines()
        .find_map(counts)
        .unwrap_or_else(|| panic!("README has no attach line"));
    assert_eq!(sample, printed, "update README.md's sample attach line");
}
