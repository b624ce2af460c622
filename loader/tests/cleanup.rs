//! After tracee-load exits (SIGTERM, SIGINT, --duration) the kernel holds none of its
//! programs or maps: compared with the kernel's own listing. A separate test binary, so no
//! other loader of this test run is alive meanwhile.

#[path = "e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::os::unix::process::ExitStatusExt;

use harness::*;

/// Kernel objects by id and name: an object is told from a later one of the same name.
type Objects = Vec<(u32, String)>;

/// Our programs (tr_*) and maps (the image's and the runtime ones) loaded in the kernel.
fn ours() -> (Objects, Objects) {
    let progs = libbpf_rs::query::ProgInfoIter::default()
        .map(|p| (p.id, p.name.to_string_lossy().into_owned()))
        .filter(|(_, n)| n.starts_with("tr_") || n == "seed_follow")
        .collect();
    let maps = libbpf_rs::query::MapInfoIter::default()
        .map(|m| (m.id, m.name.to_string_lossy().into_owned()))
        .filter(|(_, n)| {
            loader::RUNTIME_MAPS.contains(&n.as_str())
                || n.starts_with("scope_")
                || n.starts_with("rule_")
                || n == "events"
        })
        .collect();
    (progs, maps)
}

/// What was in the kernel before a test, which the test is not to blame for (a loader of
/// another test binary still exiting, or objects a kernel never freed): said on stderr, and
/// left out of the comparison.
fn before() -> (Objects, Objects) {
    let earlier = ours();
    if earlier != (vec![], vec![]) {
        eprintln!("note: in the kernel before this test (not compared): {earlier:?}");
    }
    earlier
}

/// The kernel frees a program or map after its last reference goes, in an RCU callback:
/// give it a few seconds, and say what is still there after that, beyond `earlier`.
fn assert_gone(after: &str, earlier: &(Objects, Objects)) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (progs, maps) = ours();
        let left = (
            progs
                .into_iter()
                .filter(|p| !earlier.0.contains(p))
                .collect::<Vec<_>>(),
            maps.into_iter()
                .filter(|m| !earlier.1.contains(m))
                .collect::<Vec<_>>(),
        );
        if left == (vec![], vec![]) {
            return;
        }
        if std::time::Instant::now() > deadline {
            panic!("left behind after {after}: {left:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn nothing_stays_in_the_kernel_after_exit() {
    if !can_bpf() {
        return;
    }
    let _alone = ALONE.lock();
    let s = Scratch::new();
    let image = compile_paths(
        s.path(),
        &[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/policies")],
    );
    let earlier = before();
    for how in ["TERM", "INT"] {
        let t = Tracer::start(&image, &[]);
        let (progs, maps) = ours();
        assert!(
            !progs.is_empty() && !maps.is_empty(),
            "nothing loaded while running"
        );
        signal(t.pid(), how);
        let mut t = t;
        let run = t.finish();
        // SIGTERM and SIGINT are a normal stop: exit status 0 (docs/loader.md).
        assert_eq!(run.status.code(), Some(0), "SIG{how}: {}", run.status);
        run.assert_clean();
        assert_gone(&format!("SIG{how}"), &earlier);
    }
    let mut t = Tracer::start(&image, &["--duration", "0.2"]);
    let run = t.finish();
    assert_eq!(run.status.code(), Some(0), "--duration: {}", run.status);
    run.assert_clean();
    assert_gone("--duration", &earlier);
}

/// The child's exit status, or None (after killing it) if it did not exit within `timeout`.
fn wait_within(
    child: &mut std::process::Child,
    timeout: std::time::Duration,
) -> Option<std::process::ExitStatus> {
    let until = std::time::Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if std::time::Instant::now() < until => {
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Err(e) => panic!("wait: {e}"),
        }
    }
}

/// One test at a time in this binary: each compares the kernel's whole listing.
static ALONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A small deterministic generator for the kill points (the seed is printed, so a failing
/// round can be replayed).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}

/// Killed at random points of start-up (SIGKILL, SIGTERM, SIGINT, SIGPIPE), and during a
/// reload: the kernel holds none of our programs or maps afterwards, and a stop that is not
/// SIGKILL is a clean exit (status 0) within a second, wherever it falls.
#[test]
fn killed_at_any_moment_leaves_nothing() {
    if !can_bpf() {
        return;
    }
    let _alone = ALONE.lock();
    let s = Scratch::new();
    // Policies that need every start-up step: tree/follow seeding, containers, tracefs.
    let image = compile(
        s.path(),
        &[(
            "k.yaml",
            &policy(
                "kill-points",
                &["follow", "comm=bash", "container"],
                &rule("openat", &["args.pathname=/etc/*"]),
            ),
        )],
    );
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    eprintln!("kill points: seed {seed}");
    let mut rng = Lcg(seed);
    let earlier = before();
    let signals = ["KILL", "TERM", "INT", "PIPE"];
    for round in 0..16 {
        let how = signals[round % signals.len()];
        // From 5 ms on: before its `main` installs the handlers (about a millisecond after
        // exec), a signal's default action kills any process; that is not a start-up step.
        let delay = 5 + rng.next(250);
        let mut child = match loader()
            .arg("--output")
            .arg("json")
            .arg(&image)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        std::thread::sleep(std::time::Duration::from_millis(delay));
        signal(child.id(), how);
        let signalled = std::time::Instant::now();
        let status = wait_within(&mut child, EXIT_TIMEOUT).unwrap_or_else(|| {
            panic!(
                "SIG{how} {delay} ms into start-up: no exit within {EXIT_TIMEOUT:?} (seed {seed})"
            )
        });
        let took = signalled.elapsed();
        if how == "KILL" {
            assert_eq!(status.signal(), Some(9), "{status} (seed {seed})");
        } else {
            // A stop is served as soon as the step in progress ends: a clean exit (status 0,
            // docs/loader.md), at once.
            assert_eq!(
                status.code(),
                Some(0),
                "SIG{how} {delay} ms into start-up: {status} (seed {seed})"
            );
            assert!(
                took < std::time::Duration::from_secs(1),
                "SIG{how} {delay} ms into start-up: exit after {took:?} (seed {seed})"
            );
        }
        assert_gone(
            &format!("SIG{how} {delay} ms into start-up (seed {seed})"),
            &earlier,
        );
    }
    for round in 0..8 {
        let how = signals[round % signals.len()];
        let delay = rng.next(120);
        let t = Tracer::start(&image, &[]);
        signal(t.pid(), "HUP");
        std::thread::sleep(std::time::Duration::from_millis(delay));
        signal(t.pid(), how);
        let signalled = std::time::Instant::now();
        let mut t = t;
        let (status, _, stderr) = t.finish_lines();
        let took = signalled.elapsed();
        if how == "KILL" {
            assert_eq!(
                status.signal(),
                Some(9),
                "SIG{how} {delay} ms into a reload: {status} (seed {seed})\n{}",
                stderr.join("\n")
            );
        } else {
            assert_eq!(
                status.code(),
                Some(0),
                "SIG{how} {delay} ms into a reload: {status} (seed {seed})\n{}",
                stderr.join("\n")
            );
            assert!(
                took < std::time::Duration::from_secs(1),
                "SIG{how} {delay} ms into a reload: exit after {took:?} (seed {seed})"
            );
        }
        assert_gone(
            &format!("SIG{how} {delay} ms into a reload (seed {seed})"),
            &earlier,
        );
    }
}
