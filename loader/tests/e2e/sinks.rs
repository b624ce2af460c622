//! Destinations beside stdout: a file rotated by size and an HTTP webhook whose receiver the
//! test runs on 127.0.0.1. Every event reaches each once; a receiver that is down or never
//! answers costs the tracer nothing but drops counted for that sink.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

/// An image tracing the opens of files under `dir`.
fn opens_image(s: &Scratch, dir: &Path) -> PathBuf {
    let at = s.path().join("img");
    let _ = std::fs::create_dir_all(&at);
    compile_global(
        &at,
        "sink-opens",
        &rule("openat", &[&format!("args.pathname={}/*", dir.display())]),
    )
}

/// A directory of marker files, named `f<i>`.
fn markers(s: &Scratch) -> PathBuf {
    let dir = s.path().join("markers");
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// Opens `dir/f0` .. `dir/f<count-1>`, once each, from one child process.
fn open_markers(dir: &Path, count: usize) {
    run(
        "python3",
        &[
            "-c",
            &format!(
                "for i in range({count}):\n    open('{}/f%d' % i, 'w').close()\n",
                dir.display()
            ),
        ],
    );
}

/// How often each marker appears among JSON `lines` (other lines, such as reports, are
/// skipped); fails on a line that is not JSON.
fn marker_counts(lines: &[String], dir: &Path) -> BTreeMap<usize, usize> {
    let prefix = format!("{}/f", dir.display());
    let mut counts = BTreeMap::new();
    for line in lines {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a whole JSON line ({e}): {line:?}"));
        if event["eventName"] != "openat" {
            continue;
        }
        if let Some(i) = arg_str(&event, "pathname")
            .and_then(|p| p.strip_prefix(&prefix).map(str::to_owned))
            .and_then(|i| i.parse::<usize>().ok())
        {
            *counts.entry(i).or_insert(0) += 1;
        }
    }
    counts
}

fn assert_each_once(counts: &BTreeMap<usize, usize>, count: usize, what: &str) {
    let missing: Vec<usize> = (0..count).filter(|i| !counts.contains_key(i)).collect();
    let repeated: Vec<(&usize, &usize)> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        missing.is_empty() && repeated.is_empty() && counts.len() == count,
        "{what}: missing {missing:?}, repeated {repeated:?}"
    );
}

fn summary(stderr: &[String]) -> String {
    stderr
        .iter()
        .find(|l| l.contains("events printed"))
        .cloned()
        .unwrap_or_else(|| panic!("no summary line: {}", stderr.join("\n")))
}

/// `delivered` and `dropped` of the sink whose part of the summary starts with `label`.
fn sink_counts(summary: &str, label: &str) -> (u64, u64) {
    let part = summary
        .split("; ")
        .find(|p| p.starts_with(label))
        .unwrap_or_else(|| panic!("no `{label}` in the summary: {summary}"));
    let number = |word: &str| -> u64 {
        part.split(", ")
            .find_map(|p| {
                p.rsplit(": ")
                    .next()
                    .and_then(|p| p.strip_suffix(word))
                    .and_then(|n| n.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no `{word}` count in `{part}`"))
    };
    (number(" delivered"), number(" dropped"))
}

/// The file sink beside JSON stdout, rotated every 4 KiB (about six events): every event is
/// in exactly one file, every line of every file is whole JSON, no file exceeds the limit,
/// and the oldest files beyond `--rotate-keep` are gone.
#[test]
fn the_file_sink_rotates_by_size_and_keeps_every_event_once() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = markers(&s);
    let image = opens_image(&s, &dir);
    let out = s.path().join("events.json");
    const N: usize = 200;
    let limit = 0.004_f64;
    let max_bytes = (limit * f64::from(1u32 << 20)) as u64;
    let mut t = Tracer::start(
        &image,
        &[
            "--max-events",
            &N.to_string(),
            "--output-file",
            &out.to_string_lossy(),
            "--rotate-mb",
            &limit.to_string(),
            "--rotate-keep",
            "1000",
        ],
    );
    open_markers(&dir, N);
    let run = t.finish();
    run.assert_clean();
    let stdout: Vec<String> = run.events.iter().map(|e| e.to_string()).collect();
    assert_each_once(&marker_counts(&stdout, &dir), N, "stdout");
    let mut files = vec![out.clone()];
    for n in 1.. {
        let rotated = PathBuf::from(format!("{}.{n}", out.display()));
        if !rotated.exists() {
            break;
        }
        files.push(rotated);
    }
    assert!(files.len() > 5, "rotated only {} times", files.len() - 1);
    let mut lines = Vec::new();
    for file in &files {
        let text = read(file);
        assert!(
            text.len() as u64 <= max_bytes,
            "{} is {} bytes, over {max_bytes}",
            file.display(),
            text.len()
        );
        assert!(
            text.ends_with(b"\n"),
            "{} ends in a cut line",
            file.display()
        );
        lines.extend(String::from_utf8_lossy(&text).lines().map(str::to_owned));
    }
    assert_each_once(
        &marker_counts(&lines, &dir),
        N,
        "the file and its rotations",
    );
    let summary = summary(&run.stderr);
    assert_eq!(
        sink_counts(&summary, &format!("file {}", out.display())),
        (N as u64, 0),
        "{summary}"
    );

    // Again with --rotate-keep 2: the oldest files go, the newest events are in the three
    // files left, each once and none missing from the first one kept on.
    let kept = s.path().join("kept.json");
    let mut t = Tracer::start(
        &image,
        &[
            "--max-events",
            &N.to_string(),
            "--output-file",
            &kept.to_string_lossy(),
            "--rotate-mb",
            &limit.to_string(),
            "--rotate-keep",
            "2",
        ],
    );
    open_markers(&dir, N);
    t.finish().assert_clean();
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", kept.display()));
    assert!(numbered(2).exists() && !numbered(3).exists());
    let newest: Vec<String> = [numbered(2), numbered(1), kept.clone()]
        .iter()
        .flat_map(|f| {
            String::from_utf8_lossy(&read(f))
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let counts = marker_counts(&newest, &dir);
    assert!(counts.contains_key(&(N - 1)), "{counts:?}");
    assert!(counts.values().all(|&n| n == 1), "{counts:?}");
    let first = counts.keys().next().copied().unwrap_or(N);
    assert!(first > 0, "nothing was removed: {counts:?}");
    assert_eq!(
        counts.len(),
        N - first,
        "a gap in the newest files: {counts:?}"
    );
}

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Request {
    head: String,
    body: Vec<u8>,
}

/// A small HTTP/1.1 receiver on 127.0.0.1: answers each request with `status`, keeps the
/// connection open for the next one.
struct Receiver {
    port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    fn start(status: u16) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let requests = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve(stream, status, &shared));
            }
        });
        Receiver { port, requests }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/events", self.port)
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

fn serve(stream: TcpStream, status: u16, requests: &Mutex<Vec<Request>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut head = String::new();
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let length = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())
                    .flatten()
            })
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        if let Ok(mut r) = requests.lock() {
            r.push(Request { head, body });
        }
        let answer = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// A Fluent Forward receiver on 127.0.0.1: each message's entries kept as (tag, seconds of
/// the EventTime, the record as JSON), each acknowledged.
struct ForwardReceiver {
    port: u16,
    entries: Arc<Mutex<Vec<(String, u32, Value)>>>,
}

impl ForwardReceiver {
    fn start() -> ForwardReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let entries = Arc::new(Mutex::new(Vec::new()));
        let shared = Arc::clone(&entries);
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let shared = Arc::clone(&shared);
                std::thread::spawn(move || serve_forward(stream, &shared));
            }
        });
        ForwardReceiver { port, entries }
    }

    fn entries(&self) -> Vec<(String, u32, Value)> {
        self.entries.lock().map(|e| e.clone()).unwrap_or_default()
    }
}

fn serve_forward(stream: TcpStream, entries: &Mutex<Vec<(String, u32, Value)>>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while let Ok(message) = rmpv::decode::read_value(&mut reader) {
        let Some([tag, batch, option]) = message.as_array().map(Vec::as_slice) else {
            panic!("not Forward mode: {message}");
        };
        for entry in batch.as_array().cloned().unwrap_or_default() {
            let Some([time, record]) = entry.as_array().map(Vec::as_slice) else {
                panic!("not [time, record]: {entry}");
            };
            let rmpv::Value::Ext(0, bytes) = time else {
                panic!("not an EventTime: {time}");
            };
            let seconds = bytes
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_be_bytes);
            if let Ok(mut e) = entries.lock() {
                e.push((
                    tag.as_str().unwrap_or_default().to_owned(),
                    seconds,
                    to_json(record),
                ));
            }
        }
        let ack = rmpv::Value::Map(vec![("ack".into(), option["chunk"].clone())]);
        if rmpv::encode::write_value(&mut writer, &ack).is_err() {
            return;
        }
    }
}

fn to_json(v: &rmpv::Value) -> Value {
    use rmpv::Value as M;
    match v {
        M::Nil => Value::Null,
        M::Boolean(b) => Value::Bool(*b),
        M::Integer(i) => i
            .as_i64()
            .map(Value::from)
            .or_else(|| i.as_u64().map(Value::from))
            .unwrap_or(Value::Null),
        M::F32(f) => Value::from(f64::from(*f)),
        M::F64(f) => Value::from(*f),
        M::String(s) => Value::from(s.as_str().unwrap_or_default()),
        M::Array(a) => Value::Array(a.iter().map(to_json).collect()),
        M::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.as_str().unwrap_or_default().to_owned(), to_json(v)))
                .collect(),
        ),
        M::Binary(_) | M::Ext(..) => Value::Null,
    }
}

/// The webhook and a Fluent Forward receiver at once, beside a table on stdout: the webhook
/// gets every event once, as JSON lines with Tracee's field names, in POSTs of at most the
/// batch size, as NDJSON; the Forward receiver gets every event once, acknowledged.
#[test]
fn network_sinks_deliver_every_event_once_beside_a_table() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = markers(&s);
    let image = opens_image(&s, &dir);
    let receiver = Receiver::start(200);
    let forward = ForwardReceiver::start();
    const N: usize = 150;
    let mut cmd = loader();
    cmd.arg(&image).args([
        "--max-events",
        &N.to_string(),
        "--webhook",
        &receiver.url(),
        "--forward",
        &format!("tcp://127.0.0.1:{}", forward.port),
        "--forward-tag",
        "tracee.events",
        "--sink-batch-events",
        "7",
        "--sink-flush",
        "0.1",
    ]);
    let mut t = Tracer::spawn(cmd);
    open_markers(&dir, N);
    let (status, stdout, stderr) = t.finish_lines();
    assert!(status.success(), "{}", stderr.join("\n"));
    // The table on stdout has every marker too.
    for i in [0, N / 2, N - 1] {
        let marker = format!("{}/f{i}", dir.display());
        assert_eq!(
            stdout
                .iter()
                .filter(|l| l.contains(&format!("\"{marker}\"")))
                .count(),
            1,
            "{marker} in the table: {:?}",
            stdout.get(1..3)
        );
    }
    let requests = receiver.requests();
    let mut lines = Vec::new();
    for r in &requests {
        assert!(r.head.starts_with("POST /events HTTP/1.1"), "{}", r.head);
        assert!(
            r.head
                .to_ascii_lowercase()
                .contains("content-type: application/x-ndjson"),
            "{}",
            r.head
        );
        let text = String::from_utf8_lossy(&r.body).into_owned();
        assert!(text.ends_with('\n'), "a body of whole lines: {text:?}");
        let batch: Vec<String> = text.lines().map(str::to_owned).collect();
        assert!(batch.len() <= 7, "a batch of {} lines", batch.len());
        lines.extend(batch);
    }
    assert!(requests.len() >= N / 7, "{} POSTs", requests.len());
    assert_each_once(&marker_counts(&lines, &dir), N, "the webhook");
    let first: Value = serde_json::from_str(&lines[0]).unwrap_or_default();
    for field in [
        "timestamp",
        "processId",
        "eventName",
        "matchedPolicies",
        "args",
    ] {
        assert!(first.get(field).is_some(), "no {field} in {first}");
    }
    let summary = summary(&stderr);
    assert_eq!(
        sink_counts(&summary, &format!("webhook {}", receiver.url())),
        (N as u64, 0),
        "{summary}"
    );
    // The Forward receiver, at the same time: every event once, tagged, timed by the event.
    let entries = forward.entries();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (tag, seconds, record) in &entries {
        assert_eq!(tag, "tracee.events");
        let stamp = record["timestamp"].as_u64().unwrap_or(0) / 1_000_000_000;
        assert_eq!(u64::from(*seconds), stamp, "{record}");
        assert!(now.abs_diff(stamp) < 600, "{record}");
    }
    let lines: Vec<String> = entries.iter().map(|(_, _, r)| r.to_string()).collect();
    assert_each_once(&marker_counts(&lines, &dir), N, "the forward receiver");
    assert_eq!(
        sink_counts(
            &summary,
            &format!("forward tcp://127.0.0.1:{}", forward.port)
        ),
        (N as u64, 0),
        "{summary}"
    );
}

/// A receiver that accepts the connection and never answers, and a port nobody listens on,
/// each as the webhook and the Forward receiver: stdout still gets every event, the run ends
/// promptly, and each sink's events are all accounted for (delivered + dropped = events),
/// the drops reported on stderr.
#[test]
fn a_stopped_receiver_costs_the_tracer_only_counted_drops() {
    if !can_bpf() {
        return;
    }
    // Accepts, then holds the connections without reading or answering.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let silent_port = silent.local_addr().map(|a| a.port()).unwrap_or(0);
    let held = Arc::new(Mutex::new(Vec::new()));
    let holder = Arc::clone(&held);
    std::thread::spawn(move || {
        for stream in silent.incoming().map_while(Result::ok) {
            if let Ok(mut h) = holder.lock() {
                h.push(stream);
            }
        }
    });
    // A port closed: bound for a moment, then released.
    let closed_port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    for (name, port) in [("silent", silent_port), ("closed", closed_port)] {
        let s = Scratch::new();
        let dir = markers(&s);
        let image = opens_image(&s, &dir);
        let url = format!("http://127.0.0.1:{port}/events");
        let forward = format!("tcp://127.0.0.1:{port}");
        const N: usize = 400;
        let mut t = Tracer::start(
            &image,
            &[
                "--max-events",
                &N.to_string(),
                "--webhook",
                &url,
                "--forward",
                &forward,
                "--sink-batch-events",
                "5",
                "--sink-flush",
                "0.05",
                "--sink-timeout",
                "60",
                "--sink-retries",
                "100",
                // About 20 events: most of them find the queue full.
                "--sink-queue-mb",
                "0.01",
            ],
        );
        open_markers(&dir, N);
        let opened = Instant::now();
        let run = t.finish();
        let took = opened.elapsed();
        run.assert_clean();
        assert!(
            took < Duration::from_secs(8),
            "{name}: the run took {took:?} to end after the last event"
        );
        let stdout: Vec<String> = run.events.iter().map(|e| e.to_string()).collect();
        assert_each_once(&marker_counts(&stdout, &dir), N, "stdout");
        let summary = summary(&run.stderr);
        for sink in [format!("webhook {url}"), format!("forward {forward}")] {
            let (delivered, dropped) = sink_counts(&summary, &sink);
            assert_eq!(
                (delivered, delivered + dropped),
                (0, N as u64),
                "{name}: {summary}"
            );
        }
        assert!(
            summary.contains(&format!("{N} events printed")),
            "{name}: {summary}"
        );
        // Drops are warned about by the periodic report when they happen while the loader
        // runs; on a loaded machine every drop may come at exit, which only the summary
        // (checked above) can count.
        let warned = run
            .stderr
            .iter()
            .any(|l| l.contains(&format!("webhook {url}")) && l.contains("events dropped"));
        let at_exit_only = summary.contains(&format!("webhook {url}: 0 delivered, {N} dropped"));
        assert!(
            warned || at_exit_only,
            "{name}: no drop warning: {}",
            run.stderr.join("\n")
        );
        if name == "closed" {
            assert_eq!(summary.matches("failed attempts").count(), 2, "{summary}");
        }
    }
    drop(held);
}

/// Bad sink flags are refused before anything is attached, exit 2, naming the flag and
/// what to give; a FIFO as the file does not hang the start.
#[test]
fn bad_sink_flags_are_refused_before_attaching() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let dir = markers(&s);
    let image = opens_image(&s, &dir);
    let fifo = s.path().join("fifo");
    run("mkfifo", &[&fifo.to_string_lossy()]);
    let fifo = fifo.to_string_lossy().into_owned();
    let cases: [(&[&str], &str); 6] = [
        (
            &["--output-file", "/nonexistent-dir/x.json"],
            "--output-file",
        ),
        (&["--output-file", &fifo], "not a regular file"),
        (&["--webhook", "ftp://example.org/"], "http:// or https://"),
        (&["--forward", "http://127.0.0.1:24224"], "tcp://HOST:PORT"),
        (
            &["--output-file", "/tmp/x.json", "--rotate-mb", "0"],
            "--rotate-mb must be a positive number",
        ),
        (
            &["--webhook", "http://127.0.0.1:9/", "--sink-flush=-1"],
            "--sink-flush",
        ),
    ];
    for (args, expected) in cases {
        let started = Instant::now();
        let out = loader()
            .arg(&image)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("attached"), "{args:?}: {stderr}");
        assert!(started.elapsed() < Duration::from_secs(10), "{args:?}");
    }
}
