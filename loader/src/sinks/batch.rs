//! Batches of lines for a network sink, and their delivery: a batch goes once it holds
//! `events` lines or `bytes` bytes, or its first line has waited `wait`. A failed attempt is
//! retried with exponential backoff; when the retries are spent the batch is dropped and
//! counted. While a batch is retried, the sink's queue fills, and what does not fit is
//! dropped at the consumer: the tracer never waits for a receiver.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::SinkStats;
use crate::output::{Chunk, Popped, Queue};

/// When a batch is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batching {
    pub events: usize,
    pub bytes: usize,
    pub wait: Duration,
}

/// Waits between the attempts of one batch: `first`, doubled each time up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub max: Duration,
    pub retries: u32,
}

impl Backoff {
    /// The wait before retry `n` (0: the first retry).
    pub fn delay(&self, n: u32) -> Duration {
        self.first
            .checked_mul(1u32.checked_shl(n).unwrap_or(u32::MAX))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// The sink thread's loop: takes chunks from `queue`, sends each due batch with `post`
/// (its body: whole JSON lines), until the queue is closed and everything is sent.
pub(super) fn run(
    queue: &Queue,
    stats: &SinkStats,
    batching: Batching,
    backoff: Backoff,
    mut post: impl FnMut(&[u8]) -> Result<(), String>,
) {
    let mut batcher = Batcher::new(batching);
    let mut closed = false;
    loop {
        if let Some(batch) = batcher.take(Instant::now(), closed) {
            deliver(&batch, stats, backoff, &mut post, &mut |d| {
                pause(d, stats);
            });
            batcher.recycle(batch.body);
            continue;
        }
        if closed {
            return;
        }
        match queue.pop_within(batcher.wait_left(Instant::now())) {
            Popped::Chunk(chunk) => batcher.push(chunk),
            Popped::Empty => {}
            Popped::Closed => closed = true,
        }
    }
}

/// Sleeps `d`, cut short when the loader stops waiting for this sink.
fn pause(d: Duration, stats: &SinkStats) {
    let until = Instant::now() + d;
    while !stats.abandoned() {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(20)));
    }
}

/// Sends one batch: tried once and then up to `retries` more times, `sleep`ing between.
fn deliver(
    batch: &Batch,
    stats: &SinkStats,
    backoff: Backoff,
    post: &mut impl FnMut(&[u8]) -> Result<(), String>,
    sleep: &mut impl FnMut(Duration),
) {
    for attempt in 0..=backoff.retries {
        match post(&batch.body) {
            Ok(()) => {
                stats.delivered.fetch_add(batch.events, Ordering::Relaxed);
                return;
            }
            Err(error) => stats.failed(error),
        }
        if attempt == backoff.retries || stats.abandoned() {
            break;
        }
        sleep(backoff.delay(attempt));
    }
    stats.dropped.fetch_add(batch.events, Ordering::Relaxed);
}

/// One POST's body: whole lines, `events` of them events.
#[derive(Debug)]
struct Batch {
    body: Vec<u8>,
    events: u64,
}

/// Lines waiting to be sent, cut into batches by the limits.
struct Batcher {
    limits: Batching,
    /// Whole lines, oldest first.
    buf: Vec<u8>,
    /// Per line in `buf`: whether it is an event (reports are not counted).
    is_event: VecDeque<bool>,
    /// When the oldest line in `buf` came.
    since: Option<Instant>,
    spare: Vec<u8>,
}

impl Batcher {
    fn new(limits: Batching) -> Batcher {
        Batcher {
            limits,
            buf: Vec::new(),
            is_event: VecDeque::new(),
            since: None,
            spare: Vec::new(),
        }
    }

    fn push(&mut self, chunk: Chunk) {
        let (lines, _) = super::whole_lines(&chunk.bytes);
        if lines.is_empty() {
            return;
        }
        let event = chunk.events > 0;
        self.is_event.extend(std::iter::repeat_n(
            event,
            super::count_lines(lines) as usize,
        ));
        self.buf.extend_from_slice(lines);
        self.since.get_or_insert_with(Instant::now);
    }

    /// How long until the oldest line must go (long when there is none).
    fn wait_left(&self, now: Instant) -> Duration {
        match self.since {
            Some(since) => (since + self.limits.wait).saturating_duration_since(now),
            None => Duration::from_secs(3600),
        }
    }

    /// The next batch, if one is due (`flush`: whatever is here is due).
    fn take(&mut self, now: Instant, flush: bool) -> Option<Batch> {
        if self.buf.is_empty() {
            return None;
        }
        let due = flush
            || self.is_event.len() >= self.limits.events
            || self.buf.len() >= self.limits.bytes
            || self.wait_left(now).is_zero();
        if !due {
            return None;
        }
        // Lines up to the limits, at least one.
        let mut end = 0;
        let mut lines = 0;
        for (i, b) in self.buf.iter().enumerate() {
            if *b != b'\n' {
                continue;
            }
            if lines > 0 && (lines >= self.limits.events || i + 1 > self.limits.bytes) {
                break;
            }
            end = i + 1;
            lines += 1;
        }
        let mut body = std::mem::take(&mut self.spare);
        body.clear();
        body.extend_from_slice(self.buf.get(..end).unwrap_or_default());
        self.buf.drain(..end);
        let events = self.is_event.drain(..lines).filter(|&e| e).count() as u64;
        if self.buf.is_empty() {
            self.since = None;
        }
        Some(Batch { body, events })
    }

    fn recycle(&mut self, body: Vec<u8>) {
        self.spare = body;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(events: usize, bytes: usize) -> Batching {
        Batching {
            events,
            bytes,
            wait: Duration::from_millis(100),
        }
    }

    fn chunk(lines: &[&str], events: bool) -> Chunk {
        Chunk {
            bytes: lines
                .iter()
                .flat_map(|l| format!("{l}\n").into_bytes())
                .collect(),
            events: if events { lines.len() as u64 } else { 0 },
        }
    }

    fn stats() -> SinkStats {
        SinkStats::new("webhook", "http://x/".to_owned())
    }

    #[test]
    fn batches_are_cut_by_count() {
        let mut b = Batcher::new(limits(2, 1000));
        let now = Instant::now();
        b.push(chunk(&["a"], true));
        assert!(b.take(now, false).is_none(), "one line waits for more");
        b.push(chunk(&["b", "c"], true));
        let first = b.take(now, false).unwrap_or_else(|| panic!("due"));
        assert_eq!((first.body.as_slice(), first.events), (&b"a\nb\n"[..], 2));
        assert!(b.take(now, false).is_none());
        let last = b.take(now, true).unwrap_or_else(|| panic!("flushed"));
        assert_eq!((last.body.as_slice(), last.events), (&b"c\n"[..], 1));
        assert!(b.take(now, true).is_none());
    }

    #[test]
    fn batches_are_cut_by_bytes_and_a_long_line_goes_alone() {
        let mut b = Batcher::new(limits(100, 8));
        let now = Instant::now();
        b.push(chunk(&["aaa", "bbb", "cccccccccccc", "d"], true));
        let sizes: Vec<Vec<u8>> =
            std::iter::from_fn(|| b.take(now, true).map(|x| x.body)).collect();
        assert_eq!(
            sizes,
            vec![
                b"aaa\nbbb\n".to_vec(),
                b"cccccccccccc\n".to_vec(),
                b"d\n".to_vec()
            ]
        );
    }

    #[test]
    fn a_batch_is_due_once_its_first_line_has_waited() {
        let mut b = Batcher::new(limits(100, 1000));
        b.push(chunk(&["a"], true));
        let now = Instant::now();
        assert!(b.take(now, false).is_none());
        assert!(b.wait_left(now) <= Duration::from_millis(100));
        let later = now + Duration::from_millis(150);
        assert_eq!(b.wait_left(later), Duration::ZERO);
        assert!(b.take(later, false).is_some());
    }

    #[test]
    fn reports_are_sent_but_not_counted_as_events() {
        let mut b = Batcher::new(limits(100, 1000));
        b.push(chunk(&["e1"], true));
        b.push(chunk(&["report"], false));
        b.push(chunk(&["e2"], true));
        let batch = b
            .take(Instant::now(), true)
            .unwrap_or_else(|| panic!("flushed"));
        assert_eq!(batch.events, 2);
        assert_eq!(batch.body, b"e1\nreport\ne2\n".to_vec());
    }

    #[test]
    fn backoff_doubles_up_to_its_max() {
        let b = Backoff {
            first: Duration::from_millis(200),
            max: Duration::from_secs(5),
            retries: 40,
        };
        let delays: Vec<u128> = (0..6).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![200, 400, 800, 1600, 3200, 5000]);
        assert_eq!(b.delay(39), Duration::from_secs(5));
    }

    /// Two failures then success: delivered, two failures counted, the two waits grew.
    #[test]
    fn a_failed_post_is_retried_with_backoff() {
        let stats = stats();
        let backoff = Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_secs(1),
            retries: 3,
        };
        let batch = Batch {
            body: b"e\n".to_vec(),
            events: 1,
        };
        let mut answers = vec![
            Ok(()),
            Err("HTTP 503".to_owned()),
            Err("refused".to_owned()),
        ];
        let mut slept = Vec::new();
        deliver(
            &batch,
            &stats,
            backoff,
            &mut |_| answers.pop().unwrap_or(Ok(())),
            &mut |d| slept.push(d),
        );
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 1);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 0);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 2);
        assert_eq!(stats.last_error().as_deref(), Some("HTTP 503"));
        assert_eq!(
            slept,
            vec![Duration::from_millis(10), Duration::from_millis(20)]
        );
    }

    /// Every attempt failing: the batch's events are dropped, each attempt counted.
    #[test]
    fn a_batch_is_dropped_when_the_retries_are_spent() {
        let stats = stats();
        let backoff = Backoff {
            first: Duration::from_millis(10),
            max: Duration::from_secs(1),
            retries: 2,
        };
        let batch = Batch {
            body: b"e\nf\n".to_vec(),
            events: 2,
        };
        let mut posts = 0;
        deliver(
            &batch,
            &stats,
            backoff,
            &mut |_| {
                posts += 1;
                Err("refused".to_owned())
            },
            &mut |_| {},
        );
        assert_eq!(posts, 3);
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 0);
        assert_eq!(stats.dropped.load(Ordering::Relaxed), 2);
        assert_eq!(stats.failures.load(Ordering::Relaxed), 3);
    }

    /// The thread end to end against a fake receiver: every line once, in order, and the
    /// counters add up once the queue is closed.
    #[test]
    fn the_sink_thread_sends_everything_queued_before_close() {
        let queue = Queue::new(1 << 20);
        let stats = stats();
        for i in 0..10 {
            let line = format!("{{\"n\":{i}}}");
            assert!(queue.push(chunk(&[&line], true), Duration::ZERO).is_ok());
        }
        queue.close();
        let mut received = Vec::new();
        run(
            &queue,
            &stats,
            limits(3, 1000),
            Backoff {
                first: Duration::ZERO,
                max: Duration::ZERO,
                retries: 0,
            },
            |body| {
                received.push(body.to_vec());
                Ok(())
            },
        );
        assert_eq!(received.len(), 4, "10 lines in batches of 3");
        let all: Vec<u8> = received.concat();
        let expected: Vec<u8> = (0..10)
            .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
            .collect();
        assert_eq!(all, expected);
        assert_eq!(stats.delivered.load(Ordering::Relaxed), 10);
    }
}
