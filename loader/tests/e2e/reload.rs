//! Live reload: SIGHUP or `--watch` installs the image file again next to the running one,
//! switches in one step and frees the old generation.

use std::path::PathBuf;
use std::time::Duration;

use crate::harness::*;

/// An image of one policy `name` selecting `rules`, compiled in its own directory.
fn image_of(s: &Scratch, name: &str, rules: &str) -> PathBuf {
    let dir = s.path().join(name);
    let _ = std::fs::create_dir_all(&dir);
    compile_global(&dir, name, rules)
}

/// `cat` of a new fifo `fifo`: its open blocks until a writer comes (an open armed now and
/// returning whenever the test writes).
fn blocked_on_fifo(fifo: &std::path::Path) -> (u32, KillOnDrop) {
    run("mkfifo", &[&fifo.to_string_lossy()]);
    let blocked = std::process::Command::new("cat")
        .arg(fifo)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    (blocked.id(), KillOnDrop(blocked))
}

/// Two images, `NAME-1` and `NAME-2`, each reporting the opens of files under the scratch
/// directory (the watch tests tell the generations apart by which one reports an open).
fn two_open_images(s: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let dir = s.path().to_string_lossy().into_owned();
    let opens = rule("openat", &[&format!("args.pathname={dir}/*")]);
    (
        image_of(s, &format!("{name}-1"), &opens),
        image_of(s, &format!("{name}-2"), &opens),
    )
}

/// Once the loader runs the second generation: `cat` of `after`, and the stopped run.
fn open_after_reload(t: Tracer, after: &std::path::Path) -> Run {
    wait_for_generation_2(&t);
    run("cat", &[&after.to_string_lossy()]);
    t.stop()
}

/// The BPF programs a process holds (by id), from its descriptors' fdinfo: program fds and
/// the programs behind its links.
fn programs_held(pid: u32) -> std::collections::BTreeSet<u64> {
    let mut ids = std::collections::BTreeSet::new();
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return ids;
    };
    for entry in entries.flatten() {
        let Ok(info) = std::fs::read_to_string(entry.path()) else {
            continue;
        };
        for line in info.lines() {
            if let Some(id) = line.strip_prefix("prog_id:")
                && let Ok(id) = id.trim().parse()
            {
                ids.insert(id);
            }
        }
    }
    ids
}

/// A reload in the middle of a steady stream of opens: every open is printed exactly once,
/// those before the switch by the first image's policy and those after by the second's,
/// with one switch point; the old generation's programs are gone afterwards.
#[test]
fn reload_under_a_steady_stream() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("stream");
    let _ = std::fs::create_dir_all(&files);
    let opens = rule("openat", &[&format!("args.pathname={}/*", files.display())]);
    let first = image_of(&s, "first", &opens);
    let second = image_of(&s, "second", &opens);
    let live = s.path().join("live.bin");
    replace(&live, &read(&first));
    let t = Tracer::start(&live, &[]);
    let before = programs_held(t.pid());
    const N: usize = 3000;
    let mut writer = stream(&files, N, 0.0003);
    // An open armed before the switch and returning after it: opening a fifo blocks until
    // a writer comes. The first generation must finish it, and stay attached until then.
    let fifo = files.join("blocked.fifo");
    let (blocked_pid, mut blocked) = blocked_on_fifo(&fifo);
    std::thread::sleep(Duration::from_millis(300));
    reload_to(&t, &live, &second);
    // Well within the 1 s a generation is kept for its armed syscalls, well past the 20 ms
    // tick at which it would otherwise go.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !t.stderr_so_far()
            .iter()
            .any(|l| l.contains("generation 1 detached")),
        "detached with an open still in flight: {:?}",
        t.stderr_so_far()
    );
    if let Err(e) = std::fs::write(&fifo, b"x") {
        panic!("{e}");
    }
    let _ = blocked.0.wait();
    let _ = writer.0.wait();
    assert!(
        t.wait_stderr("generation 1 detached", Duration::from_secs(5)),
        "{:?}",
        t.stderr_so_far()
    );
    let after = programs_held(t.pid());
    let run = t.stop();
    run.assert_clean();
    // Each file once, by one policy or the other.
    let by_index = printed_once(&run, &files, N);
    // cat's open, armed before the switch, by the first; the writer's (this test), after it,
    // by the second.
    let fifo_opens = run.with_arg("openat", "pathname", &fifo.to_string_lossy());
    assert_eq!(fifo_opens.len(), 2, "{fifo_opens:#?}");
    for e in fifo_opens {
        let expected = if e["hostProcessId"] == blocked_pid {
            "first"
        } else {
            "second"
        };
        assert_eq!(policies_of(e), vec![expected], "{e}");
    }
    let missing: Vec<usize> = (0..N).filter(|i| by_index[*i].is_none()).collect();
    assert!(missing.is_empty(), "not printed: {missing:?}");
    let switch = by_index
        .iter()
        .position(|p| p.as_deref() == Some("second"))
        .unwrap_or(N);
    assert!(
        switch > 0 && switch < N,
        "the reload did not land mid-stream"
    );
    assert!(
        by_index[..switch]
            .iter()
            .all(|p| p.as_deref() == Some("first"))
    );
    assert!(
        by_index[switch..]
            .iter()
            .all(|p| p.as_deref() == Some("second"))
    );
    // The first generation's programs were all released, and the second's are others.
    assert!(!before.is_empty() && !after.is_empty());
    assert!(before.is_disjoint(&after), "{before:?} vs {after:?}");
    assert!(
        run.stderr.iter().any(|l| l.contains("1 reloads")),
        "{:?}",
        run.stderr
    );
}

/// A corrupt new image, or one anybody may write, is refused with a clear message and the
/// running policies go on; a good one after that is installed (as generation 2). The new
/// image's hooks replace the old ones: opens are no longer traced, closes are.
#[test]
fn reload_refuses_bad_images_and_swaps_hooks() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = s.path().to_string_lossy().into_owned();
    let first = image_of(
        &s,
        "opens",
        &rule("openat", &[&format!("args.pathname={dir}/*")]),
    );
    let second = image_of(&s, "closes", &rule("close", &["retval<0"]));
    let live = s.path().join("live.bin");
    replace(&live, &read(&first));
    // (Created before the loader starts: the test's own writes are not the opens looked for.)
    let (marker, after) = (s.file("still-first"), s.file("after-reload"));
    let t = Tracer::start(&live, &[]);
    // Truncated: refused, the running image goes on.
    let good = read(&second);
    replace(&live, &good[..good.len() / 2]);
    signal(t.pid(), "HUP");
    assert!(
        t.wait_stderr("reload refused", Duration::from_secs(10)),
        "{:?}",
        t.stderr_so_far()
    );
    // Writable by everyone: refused too.
    replace(&live, &good);
    run("chmod", &["666", &live.to_string_lossy()]);
    signal(t.pid(), "HUP");
    let refusals = |t: &Tracer| {
        t.stderr_so_far()
            .iter()
            .filter(|l| l.contains("reload refused"))
            .count()
    };
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while refusals(&t) < 2 && std::time::Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(refusals(&t), 2, "{:?}", t.stderr_so_far());
    run("cat", &[&marker.to_string_lossy()]);
    // Fixed: installed.
    run("chmod", &["644", &live.to_string_lossy()]);
    signal(t.pid(), "HUP");
    wait_for_generation_2(&t);
    assert!(t.wait_stderr("generation 1 detached", Duration::from_secs(5)));
    run("cat", &[&after.to_string_lossy()]);
    let closer = run_pid(
        "python3",
        &[
            "-c",
            "import os\ntry: os.close(12345)\nexcept OSError: pass",
        ],
    );
    let run = t.stop();
    run.assert_clean();
    let refused: Vec<&String> = run
        .stderr
        .iter()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert!(
        refused[0].contains(&*live.to_string_lossy())
            && refused[0].contains("generation 1 keeps running"),
        "{refused:?}"
    );
    assert!(refused[1].contains("writable by every user"), "{refused:?}");
    assert_eq!(run.open_policies(&marker), vec!["opens"]);
    assert!(
        run.with_arg("openat", "pathname", &after.to_string_lossy())
            .is_empty()
    );
    let closes: Vec<_> = run
        .named("close")
        .into_iter()
        .filter(|e| e["hostProcessId"] == closer)
        .collect();
    assert_eq!(closes.len(), 1, "{:#?}", run.events);
    assert_eq!(policies_of(closes[0]), vec!["closes"]);
}

/// `--watch`: replacing the file is enough.
#[test]
fn watch_reloads_when_the_file_changes() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let (first, second) = two_open_images(&s, "watched");
    let live = s.path().join("live.bin");
    replace(&live, &read(&first));
    let marker = s.file("watched");
    let t = Tracer::start(&live, &["--watch"]);
    replace(&live, &read(&second));
    let run = open_after_reload(t, &marker);
    run.assert_clean();
    assert_eq!(run.open_policies(&marker), vec!["watched-2"]);
}

/// A reload from an image that arms the open family at entry (a rule on `openat` itself) to
/// one that needs no entry hook (`GATE_AT_EXIT`: only `security_file_open`): an open armed by
/// the first generation and returning after the switch is reported once, by the first; an
/// open after the switch once, by the second.
#[test]
fn reload_from_entry_armed_to_exit_only_opens() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let files = s.path().join("fifos");
    let _ = std::fs::create_dir_all(&files);
    let under = format!("{}/*", files.display());
    let first = image_of(
        &s,
        "first",
        &format!(
            "{}{}",
            rule("openat", &[&format!("args.pathname={under}")]),
            rule("security_file_open", &[&format!("data.pathname={under}")])
        ),
    );
    let second = image_of(
        &s,
        "second",
        &rule("security_file_open", &[&format!("data.pathname={under}")]),
    );
    let live = s.path().join("live.bin");
    replace(&live, &read(&first));
    let t = Tracer::start(&live, &[]);
    let fifo = files.join("blocked.fifo");
    let (blocked_pid, mut blocked) = blocked_on_fifo(&fifo);
    std::thread::sleep(Duration::from_millis(300));
    reload_to(&t, &live, &second);
    std::thread::sleep(Duration::from_millis(300));
    if let Err(e) = std::fs::write(&fifo, b"x") {
        panic!("{e}");
    }
    let _ = blocked.0.wait();
    assert!(
        t.wait_stderr("generation 1 detached", Duration::from_secs(5)),
        "{:?}",
        t.stderr_so_far()
    );
    let run = t.stop();
    run.assert_clean();
    let opens = run.with_arg("security_file_open", "pathname", &fifo.to_string_lossy());
    assert_eq!(opens.len(), 2, "{opens:#?}");
    for e in opens {
        let expected = if e["hostProcessId"] == blocked_pid {
            "first"
        } else {
            "second"
        };
        assert_eq!(policies_of(e), vec![expected], "{e}");
    }
}

/// `--watch` on a ConfigMap volume, updated the way kubelet does: the file is a symlink into
/// `..data`, itself a symlink to a timestamped directory; an update writes a new directory,
/// points `..data_tmp` at it, renames that over `..data` (one atomic step) and removes the
/// old directory. The loader follows the swap: an open before it is reported under the first
/// image only, one after it under the second only.
#[test]
fn watch_follows_a_kubelet_configmap_update() {
    if !can_bpf() {
        return;
    }
    use std::os::unix::fs::symlink;
    let s = Scratch::new();
    let (first, second) = two_open_images(&s, "configmap");
    let volume = s.path().join("volume");
    let old = volume.join("..2026_12_06_10_00_00.000000001");
    let new = volume.join("..2026_12_06_10_05_00.000000002");
    for d in [&old, &new] {
        std::fs::create_dir_all(d).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(old.join("rules.bin"), read(&first)).unwrap_or_else(|e| panic!("{e}"));
    symlink(old.file_name().unwrap_or_default(), volume.join("..data"))
        .unwrap_or_else(|e| panic!("{e}"));
    symlink("..data/rules.bin", volume.join("rules.bin")).unwrap_or_else(|e| panic!("{e}"));
    let before = s.file("before-update");
    let after = s.file("after-update");
    let t = Tracer::start(&volume.join("rules.bin"), &["--watch"]);
    run("cat", &[&before.to_string_lossy()]);
    // kubelet's update.
    std::fs::write(new.join("rules.bin"), read(&second)).unwrap_or_else(|e| panic!("{e}"));
    symlink(
        new.file_name().unwrap_or_default(),
        volume.join("..data_tmp"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::fs::rename(volume.join("..data_tmp"), volume.join("..data"))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&old).unwrap_or_else(|e| panic!("{e}"));
    let run = open_after_reload(t, &after);
    run.assert_clean();
    assert_eq!(run.open_policies(&before), vec!["configmap-1"]);
    assert_eq!(run.open_policies(&after), vec!["configmap-2"]);
}

/// `--watch` and a file rewritten in place (truncated, then written, as `cp` or an editor
/// does): the loader ends on the new image, whatever it saw half-written on the way.
#[test]
fn watch_follows_a_file_rewritten_in_place() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let (first, second) = two_open_images(&s, "in-place");
    let live = s.path().join("live.bin");
    std::fs::write(&live, read(&first)).unwrap_or_else(|e| panic!("{e}"));
    let after = s.file("after-rewrite");
    let t = Tracer::start(&live, &["--watch"]);
    std::fs::write(&live, read(&second)).unwrap_or_else(|e| panic!("{e}"));
    let run = open_after_reload(t, &after);
    assert_eq!(run.open_policies(&after), vec!["in-place-2"]);
}

/// kubelet's ConfigMap update, 20 times while a process opens files without pause, with a
/// broken image in the middle: every swap is installed once (generations 2..=21, each line
/// once), the broken one is refused with its reason and the running image goes on, and
/// every file opened is printed exactly once, by the image active at the time (the
/// generations never go backwards along the stream, and each one prints something).
#[test]
fn watch_follows_twenty_configmap_swaps_while_events_flow() {
    if !can_bpf() {
        return;
    }
    use std::os::unix::fs::symlink;
    const SWAPS: usize = 20;
    let s = Scratch::new();
    let files = s.path().join("stream");
    std::fs::create_dir_all(&files).unwrap_or_else(|e| panic!("{e}"));
    let opens = rule(
        "openat",
        &[&format!("args.pathname={}/f*", files.display())],
    );
    let images: Vec<Vec<u8>> = (0..=SWAPS)
        .map(|i| read(&image_of(&s, &format!("swap-{i:02}"), &opens)))
        .collect();
    let volume = s.path().join("volume");
    std::fs::create_dir_all(&volume).unwrap_or_else(|e| panic!("{e}"));
    // One kubelet update: a new timestamped directory, `..data_tmp` pointed at it and
    // renamed over `..data`, the old directory removed.
    let mut current: Option<std::path::PathBuf> = None;
    let mut update = |version: usize, bytes: &[u8]| {
        let dir = volume.join(format!("..2026_12_06_10_{version:02}_00.{version:09}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(dir.join("rules.bin"), bytes).unwrap_or_else(|e| panic!("{e}"));
        let tmp = volume.join("..data_tmp");
        symlink(dir.file_name().unwrap_or_default(), &tmp).unwrap_or_else(|e| panic!("{e}"));
        std::fs::rename(&tmp, volume.join("..data")).unwrap_or_else(|e| panic!("{e}"));
        if let Some(old) = current.replace(dir) {
            std::fs::remove_dir_all(old).unwrap_or_else(|e| panic!("{e}"));
        }
    };
    update(0, &images[0]);
    symlink("..data/rules.bin", volume.join("rules.bin")).unwrap_or_else(|e| panic!("{e}"));
    let t = Tracer::start(&volume.join("rules.bin"), &["--watch"]);
    let mut load = stream(&files, 1_000_000, 0.001);
    let mut version = 1;
    for (i, image) in images.iter().enumerate().skip(1) {
        if i == SWAPS / 2 {
            update(version, b"a truncated upload, not an image");
            version += 1;
            assert!(
                t.wait_stderr("reload refused", Duration::from_secs(20)),
                "{:?}",
                t.stderr_so_far()
            );
        }
        // Some events under each generation before the next swap.
        std::thread::sleep(Duration::from_millis(100));
        update(version, image);
        version += 1;
        let line = format!("reloaded: generation {}:", i + 1);
        assert!(
            t.wait_stderr(&line, Duration::from_secs(20)),
            "swap {i}: {:?}",
            t.stderr_so_far()
        );
    }
    std::thread::sleep(Duration::from_millis(100));
    let _ = load.0.kill();
    let _ = load.0.wait();
    let opened = std::fs::read_dir(&files).map(|d| d.count()).unwrap_or(0);
    let run = t.stop();
    run.assert_clean();
    for generation in 2..=SWAPS + 1 {
        let line = format!("reloaded: generation {generation}:");
        let seen = run.stderr.iter().filter(|l| l.contains(&line)).count();
        assert_eq!(seen, 1, "{line} seen {seen} times: {:?}", run.stderr);
    }
    assert!(
        !run.stderr
            .iter()
            .any(|l| l.contains(&format!("generation {}:", SWAPS + 2))),
        "no generation beyond the last swap: {:?}",
        run.stderr
    );
    let refused: Vec<_> = run
        .stderr
        .iter()
        .filter(|l| l.contains("reload refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].contains(&format!("generation {} keeps running", SWAPS / 2)),
        "{refused:?}"
    );
    let by_index = printed_once(&run, &files, opened + 1);
    let printed: Vec<usize> = by_index
        .iter()
        .map(|p| {
            p.as_deref()
                .and_then(|p| p.strip_prefix("swap-"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(usize::MAX)
        })
        .collect();
    let missing: Vec<usize> = (0..opened).filter(|i| printed[*i] == usize::MAX).collect();
    assert!(
        missing.is_empty(),
        "{} of {opened} opened files not printed, e.g. f{:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    let order = &printed[..opened];
    assert!(
        order.windows(2).all(|w| w[0] <= w[1]),
        "a file was printed by an older image than one opened before it"
    );
    for i in 0..=SWAPS {
        assert!(order.contains(&i), "nothing printed under swap-{i:02}");
    }
}
