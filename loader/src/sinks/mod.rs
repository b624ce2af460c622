//! Destinations beside stdout: a file rotated by size, an HTTP webhook, a Fluent Forward
//! receiver. Each takes the events
//! as JSON lines (Tracee's field names, whatever stdout shows) through a bounded queue of its
//! own, drained by a thread of its own. The consumer never waits for one: a chunk its queue
//! has no room for (the receiver is down or slow) is dropped for that sink alone and counted,
//! and stdout and the other sinks go on as if it were not there.

mod batch;
mod file;
mod forward;
mod webhook;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::output::{Chunk, Queue};

pub use batch::{Backoff, Batching};
pub use file::Rotation;

/// One sink's counters, shared with its thread (and whoever exports them). Events only:
/// reports such as `lost_events` records are sent but not counted. At any moment
/// `events = delivered + dropped + in flight` (queued or being sent); once the run has
/// ended, nothing is in flight.
#[derive(Debug)]
pub struct SinkStats {
    /// `file`, `webhook` or `forward`.
    pub kind: &'static str,
    /// The path or URL, as given.
    pub target: String,
    /// Events handed to the sink.
    pub events: AtomicU64,
    /// Events written (file), answered with a 2xx status (webhook) or acknowledged
    /// (forward).
    pub delivered: AtomicU64,
    /// Events that will never be delivered: its queue was full, every attempt failed, or
    /// they were still queued when the loader exited.
    pub dropped: AtomicU64,
    /// Failed attempts: failed writes, failed or non-2xx POSTs, unacknowledged Forward
    /// messages (each retry counted).
    pub failures: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// The thread has sent everything it was handed, and ended.
    finished: AtomicBool,
    /// The loader is exiting and waits no longer: no more retries.
    abandoned: AtomicBool,
}

impl SinkStats {
    fn new(kind: &'static str, target: String) -> SinkStats {
        SinkStats {
            kind,
            target,
            events: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            last_error: Mutex::new(None),
            finished: AtomicBool::new(false),
            abandoned: AtomicBool::new(false),
        }
    }

    /// The last error of a failed attempt, if one failed.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|e| e.clone())
    }

    fn failed(&self, error: String) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error);
        }
    }

    fn abandoned(&self) -> bool {
        self.abandoned.load(Ordering::Relaxed)
    }
}

/// A sink's counters at the end of the run, for the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkSummary {
    pub kind: &'static str,
    pub target: String,
    pub events: u64,
    pub delivered: u64,
    pub dropped: u64,
    pub failures: u64,
    pub last_error: Option<String>,
}

impl std::fmt::Display for SinkSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {} delivered, {} dropped",
            self.kind, self.target, self.delivered, self.dropped
        )?;
        if self.failures > 0 {
            write!(f, ", {} failed attempts", self.failures)?;
            if let Some(error) = &self.last_error {
                write!(f, " (last: {error})")?;
            }
        }
        Ok(())
    }
}

/// The sink flags (`tracee-load --help` lists them under "Sinks").
#[derive(clap::Args, Debug, Clone, Default)]
#[command(next_help_heading = "Sinks (JSON lines beside stdout; never slow the tracer)")]
pub struct SinkArgs {
    /// Also write every event as a JSON line to this file (appended to; created 0600).
    #[arg(long, value_name = "PATH")]
    pub output_file: Option<PathBuf>,
    /// Rotate the file once it would grow past this many MiB (fractions allowed): it
    /// becomes PATH.1, PATH.1 becomes PATH.2, and so on.
    #[arg(long, value_name = "MIB", requires = "output_file")]
    pub rotate_mb: Option<f64>,
    /// Rotated files kept (PATH.1 .. PATH.K); older ones are removed.
    #[arg(long, value_name = "K", default_value_t = 5, requires = "rotate_mb")]
    pub rotate_keep: u32,
    /// POST the events in batches as NDJSON (one JSON object per line) to this http:// or
    /// https:// URL.
    #[arg(long, value_name = "URL")]
    pub webhook: Option<String>,
    /// Send the events in batches to a Fluent Bit or Fluentd `forward` input at
    /// tcp://HOST:PORT (Forward mode, acknowledged).
    #[arg(long, value_name = "tcp://HOST:PORT")]
    pub forward: Option<String>,
    /// The tag of the events sent with --forward.
    #[arg(long, value_name = "TAG", default_value = "tracee")]
    pub forward_tag: String,
    /// Network sinks: events per batch at most.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub sink_batch_events: usize,
    /// Network sinks: bytes of JSON per batch at most (a single larger event goes alone).
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub sink_batch_bytes: usize,
    /// Network sinks: seconds the first event of a batch waits for more at most.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    pub sink_flush: f64,
    /// Network sinks: retries of a failed batch (no connection, a timeout, a non-2xx
    /// status, no acknowledgement), with exponential backoff from 0.2 s to 5 s; then the
    /// batch is dropped and counted.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub sink_retries: u32,
    /// Network sinks: seconds one attempt may take in all (connect, send, answer).
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub sink_timeout: f64,
    /// Each sink's queue, in MiB (fractions allowed): what it holds while its destination
    /// is slow or down, before events are dropped for it.
    #[arg(long, value_name = "MIB", default_value_t = 16.0)]
    pub sink_queue_mb: f64,
}

fn mib(name: &str, value: f64) -> Result<usize, String> {
    if value.is_finite() && value > 0.0 && value <= 1e6 {
        Ok(((value * f64::from(1u32 << 20)) as usize).max(1))
    } else {
        Err(format!(
            "{name} must be a positive number of MiB (fractions allowed), got {value}"
        ))
    }
}

fn seconds(name: &str, value: f64) -> Result<Duration, String> {
    if value.is_finite() && value > 0.0 && value <= 1e6 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(format!(
            "{name} must be a positive number of seconds, got {value}"
        ))
    }
}

impl SinkArgs {
    /// Checks the flags, opens the file and starts each sink's thread. Run it before the
    /// loader drops its capabilities (the threads drop theirs at once).
    pub fn start(&self) -> Result<Sinks, String> {
        let queue_bytes = mib("--sink-queue-mb", self.sink_queue_mb)?;
        let mut sinks = Sinks::default();
        if let Some(path) = &self.output_file {
            let rotation = match self.rotate_mb {
                Some(mb) => {
                    if self.rotate_keep == 0 {
                        return Err(
                            "--rotate-keep must be at least 1 (the file rotated last is kept as PATH.1)"
                                .to_owned(),
                        );
                    }
                    Some(Rotation {
                        max_bytes: mib("--rotate-mb", mb)? as u64,
                        keep: self.rotate_keep,
                    })
                }
                None => None,
            };
            let stats = Arc::new(SinkStats::new("file", path.display().to_string()));
            let queue = Arc::new(Queue::new(queue_bytes));
            file::start(path, rotation, Arc::clone(&queue), Arc::clone(&stats))?;
            sinks.sinks.push(Sink { queue, stats });
        }
        let batching = Batching {
            events: self.sink_batch_events.max(1),
            bytes: self.sink_batch_bytes.max(1),
            wait: seconds("--sink-flush", self.sink_flush)?,
        };
        let timeout = seconds("--sink-timeout", self.sink_timeout)?;
        let backoff = Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
            retries: self.sink_retries,
        };
        if let Some(url) = &self.webhook {
            let stats = Arc::new(SinkStats::new("webhook", url.clone()));
            let queue = Arc::new(Queue::new(queue_bytes));
            webhook::start(
                url,
                batching,
                backoff,
                timeout,
                Arc::clone(&queue),
                Arc::clone(&stats),
            )?;
            sinks.sinks.push(Sink { queue, stats });
        }
        if let Some(target) = &self.forward {
            let stats = Arc::new(SinkStats::new("forward", target.clone()));
            let queue = Arc::new(Queue::new(queue_bytes));
            forward::start(
                target,
                self.forward_tag.clone(),
                batching,
                backoff,
                timeout,
                Arc::clone(&queue),
                Arc::clone(&stats),
            )?;
            sinks.sinks.push(Sink { queue, stats });
        }
        Ok(sinks)
    }
}

struct Sink {
    queue: Arc<Queue>,
    stats: Arc<SinkStats>,
}

/// The consumer's end of every sink: event lines are collected here and handed to each
/// sink's queue in chunks, without ever waiting.
#[derive(Default)]
pub struct Sinks {
    sinks: Vec<Sink>,
    batch: Vec<u8>,
    batch_events: u64,
    /// What was last reported on stderr, per sink: dropped, failures.
    reported: Vec<(u64, u64)>,
}

/// The batch is handed over once it reaches this size (and on every drain of the ring).
const BATCH_BYTES: usize = 1 << 20;

impl Sinks {
    /// No sink: nothing is formatted for them.
    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }

    /// Every sink's counters (for a metrics endpoint: they are live).
    pub fn stats(&self) -> Vec<Arc<SinkStats>> {
        self.sinks.iter().map(|s| Arc::clone(&s.stats)).collect()
    }

    /// One event's JSON line (ending in a newline).
    pub fn event_line(&mut self, line: &[u8]) {
        self.batch.extend_from_slice(line);
        self.batch_events += 1;
        if self.batch.len() >= BATCH_BYTES {
            self.hand_over();
        }
    }

    /// One event, formatted by `write` (a JSON line ending in a newline) into the batch.
    pub fn format_event(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.batch);
        self.batch_events += 1;
        if self.batch.len() >= BATCH_BYTES {
            self.hand_over();
        }
    }

    /// A line that is no event (a `lost_events` record): a chunk of its own, so that
    /// every line of an event chunk is one event.
    pub fn report_line(&mut self, line: &str) {
        if self.sinks.is_empty() {
            return;
        }
        self.hand_over();
        let mut bytes = line.as_bytes().to_vec();
        bytes.push(b'\n');
        self.offer(bytes, 0);
    }

    /// Hands the batch to every sink's queue; a sink with no room drops it (counted).
    pub fn hand_over(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.batch);
        let events = std::mem::take(&mut self.batch_events);
        self.offer(bytes, events);
    }

    fn offer(&mut self, bytes: Vec<u8>, events: u64) {
        let last = self.sinks.len().saturating_sub(1);
        let mut bytes = Some(bytes);
        for (i, sink) in self.sinks.iter().enumerate() {
            let bytes = if i == last {
                bytes.take().unwrap_or_default()
            } else {
                bytes.clone().unwrap_or_default()
            };
            sink.stats.events.fetch_add(events, Ordering::Relaxed);
            if sink
                .queue
                .push(Chunk { bytes, events }, Duration::ZERO)
                .is_err()
            {
                sink.stats.dropped.fetch_add(events, Ordering::Relaxed);
            }
        }
        self.batch = self
            .sinks
            .first()
            .and_then(|s| s.queue.spare())
            .unwrap_or_else(|| Vec::with_capacity(64 << 10));
    }

    /// Warnings on stderr for what each sink dropped or failed since the last report.
    pub fn report(&mut self) {
        self.reported.resize(self.sinks.len(), (0, 0));
        for (sink, reported) in self.sinks.iter().zip(self.reported.iter_mut()) {
            let s = &sink.stats;
            let dropped = s.dropped.load(Ordering::Relaxed);
            let failures = s.failures.load(Ordering::Relaxed);
            if dropped > reported.0 || failures > reported.1 {
                eprintln!(
                    "tracee-load: warning: {} {}: {} events dropped, {} failed attempts since the last report ({dropped} dropped in all; last error: {}): tracing and the other outputs go on",
                    s.kind,
                    s.target,
                    dropped - reported.0,
                    failures - reported.1,
                    s.last_error()
                        .unwrap_or_else(|| "none: its queue was full".to_owned())
                );
                *reported = (dropped, failures);
            }
        }
    }

    /// No more events: each sink's thread sends what it holds until `deadline`; what is
    /// not delivered by then is counted as dropped (the process exits without waiting for
    /// a thread blocked on a receiver).
    pub fn close(mut self, deadline: Instant) -> Vec<SinkSummary> {
        self.hand_over();
        for sink in &self.sinks {
            sink.queue.close();
        }
        while Instant::now() < deadline
            && !self
                .sinks
                .iter()
                .all(|s| s.stats.finished.load(Ordering::SeqCst))
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.sinks
            .iter()
            .map(|sink| {
                let s = &sink.stats;
                s.abandoned.store(true, Ordering::SeqCst);
                let events = s.events.load(Ordering::SeqCst);
                let delivered = s.delivered.load(Ordering::SeqCst).min(events);
                // Still queued or in flight: never delivered now.
                let dropped = events - delivered;
                s.dropped.store(dropped, Ordering::SeqCst);
                SinkSummary {
                    kind: s.kind,
                    target: s.target.clone(),
                    events,
                    delivered,
                    dropped,
                    failures: s.failures.load(Ordering::SeqCst),
                    last_error: s.last_error(),
                }
            })
            .collect()
    }
}

/// Splits `bytes` after its last newline: the whole lines, and the rest.
fn whole_lines(bytes: &[u8]) -> (&[u8], &[u8]) {
    let end = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    bytes.split_at(end)
}

/// Lines in `bytes` (each ending in a newline).
fn count_lines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> Arc<SinkStats> {
        Arc::new(SinkStats::new("file", "x".to_owned()))
    }

    /// A queue with no room drops the chunk for its sink only, and counts it; the other
    /// sink gets it.
    #[test]
    fn a_full_queue_drops_for_its_sink_alone() {
        let small = Arc::new(Queue::new(10));
        let large = Arc::new(Queue::new(1 << 20));
        let mut sinks = Sinks {
            sinks: vec![
                Sink {
                    queue: Arc::clone(&small),
                    stats: stats(),
                },
                Sink {
                    queue: Arc::clone(&large),
                    stats: stats(),
                },
            ],
            ..Sinks::default()
        };
        for i in 0..3 {
            sinks
                .event_line(format!("{{\"n\":{i},\"pad\":\"xxxxxxxxxxxxxxxxxxxx\"}}\n").as_bytes());
            sinks.hand_over();
        }
        sinks.report_line("{\"eventName\":\"lost_events\"}");
        let [small_stats, large_stats] = [&sinks.sinks[0].stats, &sinks.sinks[1].stats];
        // A chunk always fits an empty queue: the first one went in.
        assert_eq!(small_stats.events.load(Ordering::Relaxed), 3);
        assert_eq!(small_stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(large_stats.events.load(Ordering::Relaxed), 3);
        assert_eq!(large_stats.dropped.load(Ordering::Relaxed), 0);
        let summaries = sinks.close(Instant::now());
        // Nothing was taken from the queues: everything counts as dropped at the end.
        assert_eq!(summaries[0].dropped, 3);
        assert_eq!(summaries[1].dropped, 3);
        assert_eq!(summaries[1].delivered, 0);
    }

    #[test]
    fn lines_split_after_the_last_newline() {
        assert_eq!(whole_lines(b"a\nb\nc"), (&b"a\nb\n"[..], &b"c"[..]));
        assert_eq!(whole_lines(b"abc"), (&b""[..], &b"abc"[..]));
        assert_eq!(count_lines(b"a\nb\n"), 2);
    }

    #[test]
    fn bad_sizes_are_refused_with_the_flag_named() {
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(mib("--rotate-mb", bad).is_err_and(|e| e.contains("--rotate-mb")));
        }
        assert_eq!(mib("--rotate-mb", 0.5), Ok(512 << 10));
    }
}
