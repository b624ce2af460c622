//! The output writer: a thread of its own that writes formatted chunks of lines to the
//! output descriptor, so the consumer never blocks on it. A full disk or a failing device
//! does not stop tracing: the chunk that fails is counted as unwritten events, the next
//! chunk tries again, the consumer reports the count on stderr, and once writes work again
//! the gap is marked in the stream itself (an `unwritten_events` JSON record). A line cut by a failed write is
//! never left behind where that can be avoided: in a regular file it is truncated away, on
//! a pipe or terminal its rest is written first once writes succeed again. A closed pipe
//! (EPIPE) ends the run cleanly. A stalled reader (a full pipe) fills the queue (8 MiB); the
//! consumer then stops draining the kernel's ring buffer, whose drops are counted as lost.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustix::io::Errno;

/// Bytes queued for the writer at most: enough for the consumer to format a whole
/// scheduler slice of events while the writer waits for a CPU.
const QUEUE_BYTES: usize = 8 << 20;

/// The chunks between the consumer and a writer thread (stdout's, or a sink's), bounded
/// by bytes.
pub(crate) struct Queue {
    capacity: usize,
    state: Mutex<Queued>,
    not_empty: Condvar,
    not_full: Condvar,
}

#[derive(Default)]
struct Queued {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    closed: bool,
    /// Buffers written out, emptied, for the consumer to fill again: a chunk's buffer is
    /// megabytes, and allocating one per chunk (freed by the other thread) costs page faults.
    spare: Vec<Vec<u8>>,
}

/// Emptied buffers kept for reuse at most.
const SPARE_BUFFERS: usize = 8;

/// What waiting for a chunk came to.
pub(crate) enum Popped {
    Chunk(Chunk),
    /// Nothing came in time.
    Empty,
    /// Closed, and every chunk taken.
    Closed,
}

impl Queue {
    pub(crate) fn new(capacity: usize) -> Queue {
        Queue {
            capacity,
            state: Mutex::default(),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    /// Queues `chunk`, waiting up to `wait` for room; gives it back if there is none.
    pub(crate) fn push(&self, chunk: Chunk, wait: Duration) -> Result<(), Chunk> {
        let Ok(mut q) = self.state.lock() else {
            return Err(chunk);
        };
        let until = Instant::now() + wait;
        // A chunk always fits an empty queue.
        while !q.chunks.is_empty() && q.bytes + chunk.bytes.len() > self.capacity {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(chunk);
            }
            q = match self.not_full.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(_) => return Err(chunk),
            };
        }
        q.bytes += chunk.bytes.len();
        q.chunks.push_back(chunk);
        self.not_empty.notify_one();
        Ok(())
    }

    /// The next chunk, waiting for one; None once closed and empty.
    fn pop(&self) -> Option<Chunk> {
        let mut q = self.state.lock().ok()?;
        loop {
            if let Some(chunk) = q.chunks.pop_front() {
                q.bytes -= chunk.bytes.len();
                self.not_full.notify_one();
                return Some(chunk);
            }
            if q.closed {
                return None;
            }
            q = self.not_empty.wait(q).ok()?;
        }
    }

    /// The next chunk, waiting up to `wait` for one.
    pub(crate) fn pop_within(&self, wait: Duration) -> Popped {
        let Ok(mut q) = self.state.lock() else {
            return Popped::Closed;
        };
        let until = Instant::now() + wait;
        loop {
            if let Some(chunk) = q.chunks.pop_front() {
                q.bytes -= chunk.bytes.len();
                self.not_full.notify_one();
                return Popped::Chunk(chunk);
            }
            if q.closed {
                return Popped::Closed;
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Popped::Empty;
            }
            q = match self.not_empty.wait_timeout(q, left) {
                Ok((q, _)) => q,
                Err(_) => return Popped::Closed,
            };
        }
    }

    /// Keeps a written buffer for reuse.
    pub(crate) fn recycle(&self, mut bytes: Vec<u8>) {
        if let Ok(mut q) = self.state.lock()
            && q.spare.len() < SPARE_BUFFERS
        {
            bytes.clear();
            q.spare.push(bytes);
        }
    }

    /// An emptied buffer, if one is spare.
    pub(crate) fn spare(&self) -> Option<Vec<u8>> {
        self.state.lock().ok()?.spare.pop()
    }

    pub(crate) fn close(&self) {
        if let Ok(mut q) = self.state.lock() {
            q.closed = true;
        }
        self.not_empty.notify_all();
    }
}

/// A run of complete lines, `events` of which are events (the others are reports such as
/// `lost_events` records).
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub events: u64,
}

/// What the writer has done, read by the consumer.
#[derive(Default)]
pub struct Progress {
    /// Events whose lines were written completely.
    pub written: AtomicU64,
    /// Events the output refused (counted once each).
    pub unwritten: AtomicU64,
    /// The output was closed by its reader.
    pub closed: AtomicBool,
    /// The last write error, while writes fail (None once one succeeds again).
    pub failing: Mutex<Option<String>>,
    /// The last write error of the run, kept after writes work again.
    pub last_error: Mutex<Option<String>>,
    /// The writer finished every chunk handed to it.
    pub done: AtomicBool,
}

impl Progress {
    pub fn failing(&self) -> Option<String> {
        self.failing.lock().ok().and_then(|f| f.clone())
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().ok().and_then(|f| f.clone())
    }
}

/// The consumer's end.
pub struct Writer {
    queue: Arc<Queue>,
    pub progress: Arc<Progress>,
}

impl Writer {
    /// Starts the writer thread on standard output (`json`: the output is JSON lines, and
    /// a gap left by a failing output is marked with an `unwritten_events` record).
    pub fn stdout(json: bool) -> Result<Writer, String> {
        let queue = Arc::new(Queue::new(QUEUE_BYTES));
        let chunks = Arc::clone(&queue);
        let progress = Arc::new(Progress::default());
        let shared = Arc::clone(&progress);
        crate::harden::spawn_unprivileged("output", move || {
            let stdout = std::io::stdout();
            write_all_chunks(stdout.as_fd(), &chunks, &shared, json);
            shared.done.store(true, Ordering::SeqCst);
        })?;
        Ok(Writer { queue, progress })
    }

    /// Hands a chunk over, waiting up to `wait` for room; gives it back when the queue
    /// stays full (the output is slower than the events) or the writer is gone.
    pub fn offer(&mut self, chunk: Chunk, wait: Duration) -> Result<(), Chunk> {
        self.queue.push(chunk, wait)
    }

    /// An empty buffer for the next chunk, reused when the writer has one spare.
    pub fn buffer(&self, capacity: usize) -> Vec<u8> {
        self.queue
            .spare()
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// No more chunks; waits until `deadline` for the writer to finish them. Returns
    /// whether it did (a writer blocked on a stalled reader does not, and is left behind:
    /// the process exits without it).
    pub fn close(&mut self, deadline: Instant) -> bool {
        self.queue.close();
        while !self.progress.done.load(Ordering::SeqCst) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

fn write_all_chunks(fd: BorrowedFd<'_>, chunks: &Queue, progress: &Progress, json: bool) {
    let mut out = Out {
        fd,
        cut: Vec::new(),
    };
    // Events refused since the last successful write: said in the stream (JSON) and on
    // stderr once writes work again, so a reader of the output knows where the gap is.
    let mut gap = 0u64;
    while let Some(chunk) = chunks.pop() {
        if progress.closed.load(Ordering::Relaxed) {
            continue;
        }
        let result = if gap > 0 {
            let error = progress.failing().unwrap_or_default();
            let notice = Chunk {
                bytes: if json {
                    let mut line = serde_json::json!({
                        "timestamp": crate::run::wall_now_ns(),
                        "eventName": "unwritten_events",
                        "unwrittenEvents": gap,
                        "unwrittenTotal": progress.unwritten.load(Ordering::Relaxed),
                        "error": error,
                    })
                    .to_string();
                    line.push('\n');
                    line.into_bytes()
                } else {
                    Vec::new()
                },
                events: 0,
            };
            out.write(&notice).and_then(|()| {
                crate::say!(
                    "tracee-load: output recovered: {gap} events before this point were not written ({error})"
                );
                gap = 0;
                out.write(&chunk)
            })
        } else {
            out.write(&chunk)
        };
        match result {
            Ok(()) => {
                progress.written.fetch_add(chunk.events, Ordering::Relaxed);
                if let Ok(mut failing) = progress.failing.lock() {
                    *failing = None;
                }
            }
            Err(Failure::Closed) => progress.closed.store(true, Ordering::SeqCst),
            Err(Failure::Error { error, complete }) => {
                // Lines written whole before the failure are printed; each event line of
                // the rest is unwritten. Report chunks count no events.
                let complete = complete.min(chunk.events);
                progress.written.fetch_add(complete, Ordering::Relaxed);
                progress
                    .unwritten
                    .fetch_add(chunk.events - complete, Ordering::Relaxed);
                gap += chunk.events - complete;
                for slot in [&progress.failing, &progress.last_error] {
                    if let Ok(mut slot) = slot.lock() {
                        *slot = Some(error.to_string());
                    }
                }
            }
        }
        chunks.recycle(chunk.bytes);
    }
}

enum Failure {
    Closed,
    /// `complete`: lines of the chunk written whole.
    Error {
        error: Errno,
        complete: u64,
    },
}

struct Out<'fd> {
    fd: BorrowedFd<'fd>,
    /// The rest of a line a failed write cut (on an output that cannot be truncated).
    cut: Vec<u8>,
}

impl Out<'_> {
    fn write(&mut self, chunk: &Chunk) -> Result<(), Failure> {
        if chunk.bytes.is_empty() {
            return Ok(());
        }
        if !self.cut.is_empty() {
            let cut = std::mem::take(&mut self.cut);
            let (written, result) = self.write_bytes(&cut);
            if let Err(error) = result {
                self.cut = cut.get(written..).unwrap_or_default().to_vec();
                return Err(self.failed(error, 0));
            }
        }
        let (written, result) = self.write_bytes(&chunk.bytes);
        match result {
            Ok(()) => Ok(()),
            Err(error) => {
                let done = chunk.bytes.get(..written).unwrap_or_default();
                let complete = done.iter().filter(|&&b| b == b'\n').count() as u64;
                let partial =
                    done.len() - done.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
                if partial > 0 && !self.truncate(partial as u64) {
                    // Finish the cut line before anything else, once writes succeed.
                    let rest = chunk.bytes.get(written..).unwrap_or_default();
                    let end = rest
                        .iter()
                        .position(|&b| b == b'\n')
                        .map_or(rest.len(), |i| i + 1);
                    self.cut = rest.get(..end).unwrap_or_default().to_vec();
                }
                Err(self.failed(error, complete))
            }
        }
    }

    fn failed(&self, error: Errno, complete: u64) -> Failure {
        if error == Errno::PIPE {
            Failure::Closed
        } else {
            Failure::Error { error, complete }
        }
    }

    /// Writes everything or stops at the first error; returns the bytes written.
    fn write_bytes(&self, bytes: &[u8]) -> (usize, Result<(), Errno>) {
        let mut at = 0;
        while at < bytes.len() {
            match rustix::io::write(self.fd, bytes.get(at..).unwrap_or_default()) {
                Ok(0) => return (at, Err(Errno::NOSPC)),
                Ok(n) => at += n,
                Err(Errno::INTR) => {}
                // Someone made the shared descriptor non-blocking: wait until writable.
                Err(Errno::AGAIN) => {
                    let mut fds = [rustix::event::PollFd::new(
                        &self.fd,
                        rustix::event::PollFlags::OUT,
                    )];
                    let timeout = rustix::event::Timespec {
                        tv_sec: 0,
                        tv_nsec: 100_000_000,
                    };
                    let _ = rustix::event::poll(&mut fds, Some(&timeout));
                }
                Err(e) => return (at, Err(e)),
            }
        }
        (at, Ok(()))
    }

    /// Removes the last `partial` bytes just written, if the output is a regular file
    /// that ends with them.
    fn truncate(&self, partial: u64) -> bool {
        let Ok(stat) = rustix::fs::fstat(self.fd) else {
            return false;
        };
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
            return false;
        }
        let Ok(at) = rustix::fs::seek(self.fd, rustix::fs::SeekFrom::Current(0)) else {
            return false;
        };
        // Only when our bytes are the file's last (nobody appended since).
        if u64::try_from(stat.st_size).ok() != Some(at) || at < partial {
            return false;
        }
        let keep = at - partial;
        rustix::fs::ftruncate(self.fd, keep).is_ok()
            && rustix::fs::seek(self.fd, rustix::fs::SeekFrom::Start(keep)).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize, from: usize) -> Chunk {
        let mut bytes = Vec::new();
        for i in from..from + n {
            bytes.extend_from_slice(
                format!("{{\"event\":{i},\"pad\":\"{}\"}}\n", "x".repeat(50)).as_bytes(),
            );
        }
        Chunk {
            bytes,
            events: n as u64,
        }
    }

    /// A regular file whose writes fail part-way (RLIMIT_FSIZE is per process, so a file
    /// on a full filesystem stands in: /dev/full fails every write; a short write is made
    /// with a file limit below). Here: the truncation keeps only whole lines.
    #[test]
    fn a_cut_line_is_truncated_from_a_regular_file() {
        let dir = match tempfile::tempdir() {
            Ok(d) => d,
            Err(e) => panic!("{e}"),
        };
        let path = dir.path().join("out");
        let file = match std::fs::File::create(&path) {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        let out = Out {
            fd: file.as_fd(),
            cut: Vec::new(),
        };
        let chunk = lines(3, 0);
        let (written, result) = out.write_bytes(&chunk.bytes[..100]);
        assert_eq!((written, result), (100, Ok(())));
        let line = chunk.bytes.iter().position(|&b| b == b'\n').unwrap_or(0) + 1;
        assert!(out.truncate((100 - line) as u64));
        let text = std::fs::read(&path).unwrap_or_default();
        assert_eq!(text, chunk.bytes[..line].to_vec());
    }

    /// /dev/full refuses every write with ENOSPC: every event is counted unwritten, none
    /// written, and the error is kept.
    #[test]
    fn a_full_device_counts_unwritten_events() {
        let file = match std::fs::OpenOptions::new().write(true).open("/dev/full") {
            Ok(f) => f,
            Err(e) => panic!("{e}"),
        };
        let queue = Queue::new(QUEUE_BYTES);
        let progress = Progress::default();
        for i in 0..3 {
            assert!(queue.push(lines(10, i * 10), Duration::ZERO).is_ok());
        }
        queue.close();
        write_all_chunks(file.as_fd(), &queue, &progress, true);
        assert_eq!(progress.unwritten.load(Ordering::Relaxed), 30);
        assert_eq!(progress.written.load(Ordering::Relaxed), 0);
        assert!(progress.failing().is_some_and(|e| e.contains("space")));
    }
}
