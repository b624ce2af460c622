//! Runs the real `tracee-load` binary on compiled policies: start it with `--output json`,
//! wait for `attached` on stderr, trigger real activity, stop it with SIGTERM and look at
//! every printed event.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

#[path = "../../../scripts/testing/skip.rs"]
pub mod skip;

/// Root is needed to load BPF programs. Without it the test is skipped, visibly and counted
/// as such (`skip::skip`); in CI (`CI` set, not empty) the tests must run, so not being
/// root fails them.
pub fn can_bpf() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    if !root {
        skip::skip("not root, cannot load BPF programs (run as root, as CI does)");
    }
    root
}

/// A scratch directory under /tmp unique to one test, and markers unique within it.
pub struct Scratch {
    pub dir: tempfile::TempDir,
    counter: AtomicU32,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = match tempfile::Builder::new()
            .prefix("tracee-e2e-")
            .tempdir_in("/tmp")
        {
            Ok(d) => d,
            Err(e) => panic!("tempdir: {e}"),
        };
        // Other users (setpriv tests) must reach files in it.
        set_mode(dir.path(), 0o755);
        Scratch {
            dir,
            counter: AtomicU32::new(0),
        }
    }

    /// A new file path under the scratch dir (created, world-readable).
    pub fn file(&self, name: &str) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let path = self.dir.path().join(format!("{n}-{name}"));
        if let Err(e) = std::fs::write(&path, b"x\n") {
            panic!("write {}: {e}", path.display());
        }
        set_mode(&path, 0o644);
        path
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The directory as the kernel walks it (symlinks resolved): paths events print.
    pub fn real_path(&self) -> PathBuf {
        match self.dir.path().canonicalize() {
            Ok(p) => p,
            Err(e) => panic!("canonicalize {}: {e}", self.dir.path().display()),
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        panic!("chmod {mode:o} {}: {e}", path.display());
    }
}

/// Compiles policy documents (file name, YAML) into an image file in `dir`.
pub fn compile(dir: &Path, policies: &[(&str, &str)]) -> PathBuf {
    let src = dir.join("policies");
    let _ = std::fs::create_dir_all(&src);
    for (name, text) in policies {
        if let Err(e) = std::fs::write(src.join(name), text) {
            panic!("write policy: {e}");
        }
    }
    compile_paths(dir, &[src])
}

/// An image of one policy `name`, global scope, selecting `rules`, compiled in `dir`.
pub fn compile_global(dir: &Path, name: &str, rules: &str) -> PathBuf {
    compile(
        dir,
        &[(&format!("{name}.yaml"), &policy(name, &["global"], rules))],
    )
}

pub fn compile_paths(dir: &Path, paths: &[PathBuf]) -> PathBuf {
    let checked = match compiler::check_paths(paths) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    };
    let Some(lowered) = &checked.lowered else {
        panic!("policies do not compile:\n{}", checked.render_plain(100));
    };
    let image = compiler::encode::image(&checked.policies, lowered);
    let out = dir.join("rules.bin");
    if let Err(e) = schema::image::write_atomic(&out, &schema::image::encode(&image)) {
        panic!("write image: {e}");
    }
    out
}

pub struct Tracer {
    child: Child,
    stdout: Option<JoinHandle<Vec<String>>>,
    stderr: Option<JoinHandle<Vec<String>>>,
    /// Its stderr so far, for tests that wait for a line while it runs.
    stderr_now: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

/// What a finished run printed.
pub struct Run {
    pub events: Vec<Value>,
    pub stderr: Vec<String>,
    pub status: std::process::ExitStatus,
}

pub fn loader() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tracee-load"))
}

impl Tracer {
    /// Starts `tracee-load --output json IMAGE ARGS` and waits for `attached`.
    pub fn start(image: &Path, args: &[&str]) -> Tracer {
        let mut cmd = loader();
        cmd.arg("--output").arg("json").arg(image).args(args);
        Tracer::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Tracer {
        let mut child = match cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("spawn tracee-load: {e}"),
        };
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            panic!("no pipes");
        };
        let (tx, rx) = mpsc::channel();
        let stderr_now = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let shared = std::sync::Arc::clone(&stderr_now);
        let stderr = std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if line.contains("attached") {
                    let _ = tx.send(true);
                }
                if let Ok(mut now) = shared.lock() {
                    now.push(line.clone());
                }
                lines.push(line);
            }
            let _ = tx.send(false);
            lines
        });
        let stdout = std::thread::spawn(move || {
            BufReader::new(out)
                .lines()
                .map_while(Result::ok)
                .collect::<Vec<_>>()
        });
        let tracer = Tracer {
            child,
            stdout: Some(stdout),
            stderr: Some(stderr),
            stderr_now,
        };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(true) => tracer,
            _ => {
                let run = tracer.stop();
                panic!(
                    "tracee-load did not attach ({}):\n{}",
                    run.status,
                    run.stderr.join("\n")
                );
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for a stderr line containing `needle`; false if none came.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let until = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < until {
            if self
                .stderr_now
                .lock()
                .is_ok_and(|l| l.iter().any(|l| l.contains(needle)))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    /// Its stderr so far.
    pub fn stderr_so_far(&self) -> Vec<String> {
        self.stderr_now
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }

    /// SIGTERM, then everything it printed.
    pub fn stop(mut self) -> Run {
        signal(self.child.id(), "TERM");
        self.finish()
    }

    /// Waits for it to exit on its own (--max-events, --duration, closed output).
    pub fn finish(&mut self) -> Run {
        let (status, lines, stderr) = self.finish_lines();
        let events = lines
            .iter()
            .map(|l| match serde_json::from_str::<Value>(l) {
                Ok(v) => v,
                Err(e) => panic!("not a JSON line ({e}): {l}"),
            })
            .collect();
        Run {
            events,
            stderr,
            status,
        }
    }

    /// Waits for the exit: status, stdout lines, stderr lines. Fails the test (after killing
    /// the loader) if it has not exited within `EXIT_TIMEOUT`: a stop that does not work
    /// must not hang the test run.
    pub fn finish_lines(&mut self) -> (std::process::ExitStatus, Vec<String>, Vec<String>) {
        self.finish_lines_within(EXIT_TIMEOUT)
    }

    /// `finish_lines` with a deadline of its own.
    pub fn finish_lines_within(
        &mut self,
        timeout: Duration,
    ) -> (std::process::ExitStatus, Vec<String>, Vec<String>) {
        let pid = self.child.id();
        let status = match wait_within(&mut self.child, timeout) {
            Ok(status) => status,
            Err(killed) => {
                let (lines, stderr) = self.join_output();
                let tail = lines.len().saturating_sub(20);
                panic!(
                    "tracee-load (pid {pid}) did not exit within {timeout:?}: killed ({killed:?}). Its stderr:\n{}\nits stdout ({} lines, the last {}):\n{}",
                    stderr.join("\n"),
                    lines.len(),
                    lines.len() - tail,
                    lines[tail..].join("\n")
                );
            }
        };
        let (lines, stderr) = self.join_output();
        (status, lines, stderr)
    }

    /// What the reader threads collected (they end when the loader's pipes close).
    fn join_output(&mut self) -> (Vec<String>, Vec<String>) {
        let lines = self
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = self
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        (lines, stderr)
    }
}

/// Waits up to `timeout` for `child` to exit; past it, kills it and returns how that went.
pub fn wait_within(
    child: &mut Child,
    timeout: Duration,
) -> Result<std::process::ExitStatus, std::io::Result<std::process::ExitStatus>> {
    let until = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Ok(None) => {
                let _ = child.kill();
                return Err(child.wait());
            }
            Err(e) => panic!("wait: {e}"),
        }
    }
}

/// How long `Tracer::finish`/`finish_lines`/`stop` wait for the loader to exit.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

impl Drop for Tracer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// Runs a command to completion and returns its exit status (and what it wrote to stderr,
/// for messages); fails only if it cannot be started.
pub fn run_status(program: &str, args: &[&str]) -> (std::process::ExitStatus, String) {
    match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
    {
        Ok(out) => (
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Err(e) => panic!("run {program} {args:?}: {e}"),
    }
}

/// Runs a command to completion (the activity under test, or a setup step) and fails the
/// test unless it succeeded: a check that an event did not come means nothing if the
/// activity never ran.
pub fn run(program: &str, args: &[&str]) {
    let (status, stderr) = run_status(program, args);
    assert!(
        status.success(),
        "{program} {args:?} failed ({status}):\n{stderr}"
    );
}

/// Runs a command that must fail (a deliberate failed syscall, such as opening a missing
/// file): fails the test if it succeeded. Returns its stderr, for the caller to check the
/// failure was the one meant.
pub fn run_expect_fail(program: &str, args: &[&str]) -> String {
    let (status, stderr) = run_status(program, args);
    assert!(
        !status.success() && status.code().is_some(),
        "{program} {args:?} was expected to fail with an exit status, but: {status}\n{stderr}"
    );
    stderr
}

/// Runs a command to completion and returns its pid (events carry it as hostProcessId);
/// fails the test unless it succeeded.
pub fn run_pid(program: &str, args: &[&str]) -> u64 {
    let child = match Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!("run {program} {args:?}: {e}"),
    };
    let pid = u64::from(child.id());
    match child.wait_with_output() {
        Ok(out) => assert!(
            out.status.success(),
            "{program} {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!("wait for {program}: {e}"),
    }
    pid
}

/// Runs a shell script (`sh -c`) and fails the test unless it succeeded.
pub fn sh(script: &str) {
    run("sh", &["-c", script]);
}

impl Run {
    /// Exited 0 with the summary line, and nothing was lost.
    pub fn assert_clean(&self) {
        assert!(
            self.status.success(),
            "exit {}: {}",
            self.status,
            self.stderr.join("\n")
        );
        let summary = self
            .stderr
            .iter()
            .find(|l| l.contains("events printed"))
            .unwrap_or_else(|| panic!("no summary line: {}", self.stderr.join("\n")));
        assert!(summary.contains(" 0 lost"), "{summary}");
    }

    /// Events named `event` with an argument `arg` whose value is the string `value`.
    pub fn with_arg(&self, event: &str, arg: &str, value: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["eventName"] == event && arg_str(e, arg).as_deref() == Some(value))
            .collect()
    }

    /// Events named `event` of the process with host pid `pid`.
    pub fn named_of(&self, event: &str, pid: u64) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["eventName"] == event && e["hostProcessId"].as_u64() == Some(pid))
            .collect()
    }

    pub fn named(&self, event: &str) -> Vec<&Value> {
        self.events
            .iter()
            .filter(|e| e["eventName"] == event)
            .collect()
    }

    /// The one `event` whose `arg` is `path`: fails unless there is exactly one.
    pub fn one_with(&self, event: &str, arg: &str, path: &Path) -> &Value {
        let found = self.with_arg(event, arg, &path.to_string_lossy());
        assert_eq!(found.len(), 1, "{}: {:#?}", path.display(), self.events);
        found[0]
    }

    /// The policies that matched the one `openat` of `path`.
    pub fn open_policies(&self, path: &Path) -> Vec<String> {
        policies_of(self.one_with("openat", "pathname", path))
    }
}

/// Where the cgroup v2 tree is mounted (the loader's own answer); the container tests need one.
pub fn cgroup_v2() -> &'static Path {
    loader::cgroup_v2_root().unwrap_or_else(|| panic!("no cgroup v2 hierarchy mounted"))
}

pub fn arg<'a>(event: &'a Value, name: &str) -> Option<&'a Value> {
    event["args"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| &a["value"])
}

pub fn arg_str(event: &Value, name: &str) -> Option<String> {
    arg(event, name).and_then(|v| v.as_str()).map(str::to_owned)
}

pub fn policies_of(event: &Value) -> Vec<String> {
    event["matchedPolicies"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A policy document in the current form.
pub fn policy(name: &str, scope: &[&str], rules: &str) -> String {
    let scope: String = scope.iter().map(|s| format!("    - {s}\n")).collect();
    format!(
        "apiVersion: tracee.aquasec.com/v1beta1\nkind: Policy\nmetadata:\n  name: {name}\n  annotations:\n    description: e2e\nspec:\n  scope:\n{scope}  rules:\n{rules}"
    )
}

/// The namespace id of this process (`/proc/self/ns/<kind>` is `kind:[id]`).
pub fn own_ns(kind: &str) -> u64 {
    let link = match std::fs::read_link(format!("/proc/self/ns/{kind}")) {
        Ok(l) => l.to_string_lossy().into_owned(),
        Err(e) => panic!("read ns: {e}"),
    };
    link.trim_start_matches(&format!("{kind}:["))
        .trim_end_matches(']')
        .parse()
        .unwrap_or_else(|e| panic!("ns id of {link}: {e}"))
}

/// One rule of a policy document: the event and its filters.
pub fn rule(event: &str, filters: &[&str]) -> String {
    let filters: String = filters.iter().map(|f| format!("        - {f}\n")).collect();
    format!("    - event: {event}\n      filters:\n{filters}")
}

/// A helper process killed when the test ends, even by a panic (a child blocked on a fifo
/// would otherwise outlive the test and hold its output pipes open).
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until the loader says it runs the second generation (a reload went through).
pub fn wait_for_generation_2(t: &Tracer) {
    assert!(
        t.wait_stderr("reloaded: generation 2", Duration::from_secs(20)),
        "{:?}",
        t.stderr_so_far()
    );
}

/// Installs `image` as `live` and reloads the loader with SIGHUP, up to generation 2.
pub fn reload_to(t: &Tracer, live: &Path, image: &Path) {
    replace(live, &read(image));
    signal(t.pid(), "HUP");
    wait_for_generation_2(t);
}

/// Replaces `live` with `bytes` the way a deploy would: a new file renamed over it.
pub fn replace(live: &Path, bytes: &[u8]) {
    let tmp = live.with_extension("swap");
    if let Err(e) = std::fs::write(&tmp, bytes) {
        panic!("write {}: {e}", tmp.display());
    }
    if let Err(e) = std::fs::rename(&tmp, live) {
        panic!("rename over {}: {e}", live.display());
    }
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Opens `count` files `dir/f<i>` at a steady pace (one every `pause` seconds).
pub fn stream(dir: &Path, count: usize, pause: f64) -> KillOnDrop {
    let child = std::process::Command::new("python3")
        .args([
            "-c",
            &format!(
                "import time\nfor i in range({count}):\n    open('{}/f%d' % i, 'w').close()\n    time.sleep({pause})\n",
                dir.display()
            ),
        ])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    KillOnDrop(child)
}

/// Which stream files were printed, and by which policy; fails on a file printed twice.
pub fn printed_once(run: &Run, dir: &Path, count: usize) -> Vec<Option<String>> {
    let mut by_index: Vec<Option<String>> = vec![None; count];
    let prefix = format!("{}/f", dir.display());
    for e in run.named("openat") {
        let Some(i) = arg_str(e, "pathname")
            .and_then(|p| p.strip_prefix(&prefix).map(str::to_owned))
            .and_then(|i| i.parse::<usize>().ok())
        else {
            continue;
        };
        let policies = policies_of(e);
        assert_eq!(policies.len(), 1, "{e}");
        assert!(by_index[i].is_none(), "f{i} printed twice");
        by_index[i] = policies.into_iter().next();
    }
    by_index
}

/// Rules that never match (`uid=4999`) on more syscalls than get tracepoints of their own,
/// none of `except`: an image with them uses the generic `sys_enter`/`sys_exit` hooks.
pub fn generic_hook_padding(except: &[&str]) -> String {
    schema::catalog::events()
        .iter()
        .filter(|e| {
            e.kind == schema::catalog::EventKind::Syscall
                && !["exit", "exit_group"].contains(&e.name)
                && !except.contains(&e.name)
        })
        .take(compiler::lower::MAX_PER_SYSCALL_PROBES + 1)
        .map(|e| {
            format!(
                "    - event: {}\n      filters:\n        - uid=4999\n",
                e.name
            )
        })
        .collect()
}
