//! What an attacker or a bad deploy throws at a running loader: special files as the image,
//! a FIFO swapped in under `--watch`, SIGHUP storms, a full output disk, a swap during
//! start-up. The loader must neither hang nor stop tracing silently.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

/// A hang guard, not a speed target: a blocked open of a FIFO never returns at all.
const HANG: Duration = Duration::from_secs(10);

/// An image of one policy `name` tracing the opens of files under `dir`.
fn opens_image(s: &Scratch, name: &str, dir: &Path) -> PathBuf {
    let at = s.path().join(format!("img-{name}"));
    let _ = std::fs::create_dir_all(&at);
    compile(
        &at,
        &[(
            "p.yaml",
            &policy(
                name,
                &["global"],
                &rule("openat", &[&format!("args.pathname={}/*", dir.display())]),
            ),
        )],
    )
}

/// Runs `tracee-load ARGS` to its end, killed after `HANG`; returns status, stderr and how
/// long it took.
fn run_loader(args: &[&str]) -> (Option<i32>, String, Duration) {
    let started = Instant::now();
    let mut child = loader()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(stderr) = child.stderr.take() else {
        panic!("no stderr")
    };
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::Read::read_to_string(&mut { stderr }, &mut text);
        text
    });
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let text = reader.join().unwrap_or_default();
                return (status.code(), text, started.elapsed());
            }
            Ok(None) if started.elapsed() < HANG => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tracee-load {args:?} hung for {HANG:?}");
            }
        }
    }
}

/// A FIFO, a directory, a socket, `/dev/zero` and a link loop as the image: each refused at
/// once with what it is, nothing attached.
#[test]
fn special_files_as_the_image_are_refused_by_kind() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let fifo = s.path().join("image.fifo");
    run("mkfifo", &[&fifo.to_string_lossy()]);
    let socket = s.path().join("image.sock");
    let _listener =
        std::os::unix::net::UnixListener::bind(&socket).unwrap_or_else(|e| panic!("bind: {e}"));
    let link = s.path().join("image.loop");
    if let Err(e) = std::os::unix::fs::symlink(&link, &link) {
        panic!("{e}");
    }
    let dir = s.path().to_path_buf();
    for (path, code, says) in [
        (&fifo, 1, "is a FIFO (named pipe), not an image file"),
        (&dir, 1, "is a directory, not an image file"),
        (&socket, 1, "is a socket, not an image file"),
        (
            &PathBuf::from("/dev/zero"),
            1,
            "is a character device, not an image file",
        ),
        (&link, 2, "symbolic link loop"),
    ] {
        let (status, stderr, took) = run_loader(&[&path.to_string_lossy()]);
        assert_eq!(status, Some(code), "{}: {stderr}", path.display());
        assert!(stderr.contains(says), "{}: {stderr}", path.display());
        assert!(!stderr.contains("attached"), "{stderr}");
        assert!(
            took < Duration::from_secs(1),
            "{}: refused after {took:?}",
            path.display()
        );
    }
}

/// Under `--watch`, a FIFO renamed over the image while events flow: the reload is refused
/// with what the file is (the image thread never opens it for reading), every event is
/// still printed, and SIGINT still ends the loader.
#[test]
fn a_fifo_swapped_in_under_watch_is_refused_and_tracing_goes_on() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("stream");
    let _ = std::fs::create_dir_all(&files);
    let image = opens_image(&s, "watched", &files);
    let live = s.path().join("live.bin");
    replace(&live, &read(&image));
    let t = Tracer::start(&live, &["--watch"]);
    const N: usize = 1500;
    let mut writer = stream(&files, N, 0.001);
    std::thread::sleep(Duration::from_millis(300));
    let fifo = s.path().join("next.fifo");
    run("mkfifo", &[&fifo.to_string_lossy()]);
    if let Err(e) = std::fs::rename(&fifo, &live) {
        panic!("{e}");
    }
    assert!(
        t.wait_stderr("reload refused", Duration::from_secs(10)),
        "{:?}",
        t.stderr_so_far()
    );
    let _ = writer.0.wait();
    signal(t.pid(), "INT");
    let stopped = Instant::now();
    let mut t = t;
    let run = t.finish();
    assert!(
        stopped.elapsed() < Duration::from_secs(2),
        "SIGINT took {:?}",
        stopped.elapsed()
    );
    run.assert_clean();
    let refused: Vec<_> = run
        .stderr
        .iter()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{:?}", run.stderr);
    assert!(
        refused[0].contains("is a FIFO (named pipe), not an image file")
            && refused[0].contains("generation 1 keeps running"),
        "{refused:?}"
    );
    let printed = printed_once(&run, &files, N);
    let missing: Vec<usize> = (0..N).filter(|i| printed[*i].is_none()).collect();
    assert!(missing.is_empty(), "not printed: {missing:?}");
}

/// 100 SIGHUPs in a second while the image file is swapped between two policies and
/// events flow: no reload is refused (the verifier is never interrupted: signals go to a
/// thread of their own), no verifier log is printed, every event is printed exactly once
/// (one generation decides each syscall, however the switch falls: no event twice, none
/// missed, no syscall left counted as in flight), and the newest image is the one active
/// at the end.
#[test]
fn a_sighup_storm_coalesces_into_reloads_of_the_newest_image() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("stream");
    let _ = std::fs::create_dir_all(&files);
    let first = read(&opens_image(&s, "first", &files));
    let second = read(&opens_image(&s, "second", &files));
    let live = s.path().join("live.bin");
    replace(&live, &first);
    let t = Tracer::start(&live, &[]);
    const N: usize = 4000;
    let mut writers = vec![stream(&files, N, 0.0002)];
    // A second stream, in a sub-directory (matched too), keeps the other CPU busy: more
    // syscalls in flight at every switch.
    let other = files.join("other");
    let _ = std::fs::create_dir_all(&other);
    writers.push(stream(&other, N, 0.0002));
    std::thread::sleep(Duration::from_millis(200));
    for i in 0..100 {
        replace(&live, if i % 2 == 0 { &second } else { &first });
        signal(t.pid(), "HUP");
        std::thread::sleep(Duration::from_millis(10));
    }
    // The newest file is `first` (i = 99); make it `second` once more, then quiet.
    replace(&live, &second);
    signal(t.pid(), "HUP");
    for w in &mut writers {
        let _ = w.0.wait();
    }
    // Settle: the last reload lands, its predecessor is detached, and nothing follows.
    settle(&t);
    let marker_in_dir = files.join("marker");
    run("touch", &[&marker_in_dir.to_string_lossy()]);
    let run = t.stop();
    run.assert_clean();
    for line in &run.stderr {
        assert!(
            !line.contains("refused") && !line.contains("error") && !line.contains("libbpf"),
            "{line}\n{:?}",
            run.stderr
        );
        assert!(!line.contains("still blocked"), "{line}");
    }
    assert!(run.stderr.len() < 120, "{} stderr lines", run.stderr.len());
    let reloads = run
        .stderr
        .iter()
        .filter(|l| l.contains("reloaded: generation"))
        .count();
    assert!(reloads >= 2, "{:?}", run.stderr);
    let printed = printed_once(&run, &files, N);
    let missing: Vec<usize> = (0..N).filter(|i| printed[*i].is_none()).collect();
    assert!(missing.is_empty(), "not printed: {missing:?}");
    let by_other = printed_once(&run, &other, N);
    let missing: Vec<usize> = (0..N).filter(|i| by_other[*i].is_none()).collect();
    assert!(
        missing.is_empty(),
        "not printed (second stream): {missing:?}"
    );
    let last = run.with_arg("openat", "pathname", &marker_in_dir.to_string_lossy());
    assert_eq!(last.len(), 1, "{:?}", run.stderr);
    assert_eq!(policies_of(last[0]), vec!["second"]);
}

/// Waits (20 s at most) until the loader's last reload, if any, has detached its
/// predecessor and no other reload has come for half a second.
fn settle(t: &Tracer) {
    let reloaded = |lines: &[String]| {
        lines
            .iter()
            .filter(|l| l.contains("reloaded: generation"))
            .count()
    };
    let until = Instant::now() + Duration::from_secs(20);
    let mut seen = usize::MAX;
    let mut quiet_since = Instant::now();
    while Instant::now() < until {
        let lines = t.stderr_so_far();
        let n = reloaded(&lines);
        let detached = lines.iter().filter(|l| l.contains("detached")).count();
        if n != seen {
            seen = n;
            quiet_since = Instant::now();
        } else if detached >= n && quiet_since.elapsed() >= Duration::from_millis(500) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("reloads did not settle: {:?}", t.stderr_so_far());
}

/// An image swapped in while the loader starts (--watch): whenever the swap falls, the
/// newest image ends up active, because the stamp watched is the one of the descriptor the
/// image was read through.
#[test]
fn watch_sees_a_swap_during_start_up() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("swapped");
    let _ = std::fs::create_dir_all(&files);
    let old = read(&opens_image(&s, "old", &files));
    let new = read(&opens_image(&s, "new", &files));
    for (round, delay) in [0u64, 2, 5, 10, 30].into_iter().enumerate() {
        let live = s.path().join(format!("live-{round}.bin"));
        replace(&live, &old);
        let mut cmd = loader();
        cmd.args(["--output", "json", "--watch"]).arg(&live);
        let swapper = {
            let live = live.clone();
            let new = new.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(delay));
                replace(&live, &new);
            })
        };
        let t = Tracer::spawn(cmd);
        let _ = swapper.join();
        // `new` is active, from the start or by a reload within a watch interval or two
        // (250 ms) of the swap.
        let _ = t.wait_stderr("reloaded: generation 2", Duration::from_millis(2500));
        settle(&t);
        let marker = files.join(format!("marker-{round}"));
        run("touch", &[&marker.to_string_lossy()]);
        let run = t.stop();
        run.assert_clean();
        let seen = run.with_arg("openat", "pathname", &marker.to_string_lossy());
        assert_eq!(seen.len(), 1, "round {round}: {:?}", run.stderr);
        assert_eq!(
            policies_of(seen[0]),
            vec!["new"],
            "round {round} (swap after {delay} ms): {:?}",
            run.stderr
        );
    }
}

/// stdout on a full 256 KiB tmpfs (in a private mount namespace): tracing goes on, the
/// events the disk refused are counted and reported (stderr and, once space is freed, an
/// `unwritten_events` record), the output holds only whole lines, writes resume when space
/// comes back, and the exit status (2) says the output is incomplete.
#[test]
fn a_full_output_disk_counts_unwritten_events_and_tracing_goes_on() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("full");
    let _ = std::fs::create_dir_all(&files);
    let image = opens_image(&s, "fill", &files);
    let outside = s.path().join("outside");
    let _ = std::fs::create_dir_all(&outside);
    let mnt = s.path().join("mnt");
    let _ = std::fs::create_dir_all(&mnt);
    // The loader runs inside the namespace; the script keeps what the test reads outside.
    let script = format!(
        "set -e\nmount -t tmpfs -o size=256k tmpfs {mnt}\nhead -c 65536 /dev/zero > {mnt}/filler\n\
         {loader} --output json {image} > {mnt}/out.json 2> {out}/err.txt &\n\
         echo $! > {out}/pid\nset +e\nwait $!\necho $? > {out}/code\ncp {mnt}/out.json {out}/out.json\n",
        mnt = mnt.display(),
        loader = env!("CARGO_BIN_EXE_tracee-load"),
        image = image.display(),
        out = outside.display(),
    );
    let ns = std::process::Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut ns = KillOnDrop(ns);
    let err = outside.join("err.txt");
    let stderr = || std::fs::read_to_string(&err).unwrap_or_default();
    let until = Instant::now() + Duration::from_secs(30);
    while !stderr().contains("attached") {
        assert!(Instant::now() < until, "did not attach: {}", stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid: u32 = std::fs::read_to_string(outside.join("pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pid"));
    // Long names make long lines: 3,000 of them fill 192 KiB many times over.
    let long = "x".repeat(200);
    const N: usize = 3000;
    let opens = |from: usize, to: usize| {
        run(
            "python3",
            &[
                "-c",
                &format!(
                    "for i in range({from}, {to}):\n    open('{}/{long}-%d' % i, 'w').close()\n",
                    files.display()
                ),
            ],
        );
    };
    opens(0, N);
    let until = Instant::now() + Duration::from_secs(20);
    while !stderr().contains("events unwritten") {
        assert!(Instant::now() < until, "no unwritten report: {}", stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // Space comes back: the writer's next chunks go through.
    let filler = PathBuf::from(format!("/proc/{pid}/root{}/filler", mnt.display()));
    if let Err(e) = std::fs::remove_file(&filler) {
        panic!("remove {}: {e}", filler.display());
    }
    const M: usize = 20;
    opens(N, N + M);
    std::thread::sleep(Duration::from_millis(1500));
    signal(pid, "INT");
    let status = ns.0.wait();
    assert!(status.is_ok_and(|s| s.success()));
    let code = std::fs::read_to_string(outside.join("code")).unwrap_or_default();
    assert_eq!(code.trim(), "2", "{}", stderr());
    let text = read(&outside.join("out.json"));
    assert!(
        text.is_empty() || text.ends_with(b"\n"),
        "a cut line at the end"
    );
    let mut printed = 0;
    let mut after = 0;
    let mut reported = 0;
    for line in String::from_utf8_lossy(&text).lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        if v["eventName"] == "unwritten_events" {
            reported += 1;
            continue;
        }
        let Some(i) = arg_str(&v, "pathname")
            .and_then(|p| p.rsplit('-').next().and_then(|i| i.parse::<usize>().ok()))
        else {
            continue;
        };
        printed += 1;
        if i >= N {
            after += 1;
        }
    }
    let err = stderr();
    let summary = err
        .lines()
        .find(|l| l.contains("events printed"))
        .unwrap_or_else(|| panic!("no summary: {err}"));
    // "tracee-load: P events printed, L lost, U unwritten (the output failed: ...)"
    let words: Vec<&str> = summary
        .split([' ', ','])
        .filter(|w| !w.is_empty())
        .collect();
    let number = |word: &str| -> u64 {
        words
            .windows(2)
            .find(|w| w[1] == word)
            .and_then(|w| w[0].parse().ok())
            .unwrap_or_else(|| panic!("no `{word}` in {summary}"))
    };
    let (shown, lost, unwritten) = (number("events"), number("lost"), number("unwritten"));
    assert_eq!(lost, 0, "{summary}");
    assert!(unwritten > 0, "{summary}");
    assert_eq!(shown, printed, "{summary}");
    assert_eq!(shown + unwritten, (N + M) as u64, "{summary}");
    assert!(
        after > 0,
        "nothing written after space came back: {summary}"
    );
    assert!(reported > 0, "no unwritten_events record in the output");
    assert!(summary.contains("No space left on device"), "{summary}");
}

/// Many reloads while two tight loops open a file whose syscalls are armed at entry (the
/// path matches) and never printed (the return value never does): however a switch falls
/// between the two generations' programs of one syscall entry, exactly one arms it, so no
/// generation is left with a syscall counted in flight and detached with a false "still
/// blocked" warning.
#[test]
fn reloads_under_tight_loops_leave_no_syscall_counted_in_flight() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let hot = s.path().join("hot");
    let _ = std::fs::create_dir_all(&hot);
    let target = hot.join("file");
    let _ = std::fs::write(&target, "x");
    let image = compile(
        s.path(),
        &[(
            "p.yaml",
            &policy(
                "armed",
                &["global"],
                &rule(
                    "openat",
                    &[
                        &format!("args.pathname={}/*", hot.display()),
                        "retval=-12345",
                    ],
                ),
            ),
        )],
    );
    let t = Tracer::start(&image, &[]);
    let loops: Vec<KillOnDrop> = (0..2)
        .map(|_| {
            let child = std::process::Command::new("python3")
                .args([
                    "-c",
                    &format!(
                        "import os\nwhile True:\n    os.close(os.open('{}', os.O_RDONLY))\n",
                        target.display()
                    ),
                ])
                .spawn()
                .unwrap_or_else(|e| panic!("{e}"));
            KillOnDrop(child)
        })
        .collect();
    const RELOADS: usize = 12;
    for n in 2..RELOADS + 2 {
        signal(t.pid(), "HUP");
        assert!(
            t.wait_stderr(
                &format!("generation {} detached", n - 1),
                Duration::from_secs(20)
            ),
            "{:?}",
            t.stderr_so_far()
        );
    }
    drop(loops);
    let run = t.stop();
    run.assert_clean();
    let stranded: Vec<_> = run
        .stderr
        .iter()
        .filter(|l| l.contains("still blocked"))
        .collect();
    assert!(stranded.is_empty(), "{stranded:?}");
    assert!(run.events.is_empty(), "{:?}", run.events.first());
}
