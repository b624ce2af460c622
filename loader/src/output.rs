//! The output writer: a thread of its own that writes formatted chunks of lines to the
//! output descriptor, so the consumer never blocks on it. A full disk or a failing device
//! does not stop tracing: the chunk that fails is counted as unwritten events, the next
//! chunk tries again, the consumer reports the count on stderr, and once writes work again
//! the gap is marked in the stream itself (an `unwritten_events` JSON record). A line cut by a failed write is
//! never left behind where that can be avoided: in a regular file it is truncated away, on
//! a pipe or terminal its rest is written first once writes succeed again. A closed pipe
//! (EPIPE) ends the run cleanly. A stalled reader (a full pipe) fills the small queue; the
//! consumer then stops draining the kernel's ring buffer, whose drops are counted as lost.

use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::io::Errno;

/// Chunks queued for the writer at most (each up to about 64 KiB).
const QUEUE_CHUNKS: usize = 4;

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
    queue: Option<SyncSender<Chunk>>,
    pub progress: Arc<Progress>,
    /// Events handed to the writer.
    pub handed: u64,
}

impl Writer {
    /// Starts the writer thread on standard output (`json`: the output is JSON lines, and
    /// a gap left by a failing output is marked with an `unwritten_events` record).
    pub fn stdout(json: bool) -> Result<Writer, String> {
        let (queue, chunks) = std::sync::mpsc::sync_channel(QUEUE_CHUNKS);
        let progress = Arc::new(Progress::default());
        let shared = Arc::clone(&progress);
        crate::harden::spawn_unprivileged("output", move || {
            let stdout = std::io::stdout();
            write_all_chunks(stdout.as_fd(), &chunks, &shared, json);
            shared.done.store(true, Ordering::SeqCst);
        })?;
        Ok(Writer {
            queue: Some(queue),
            progress,
            handed: 0,
        })
    }

    /// Hands a chunk over without waiting; gives it back when the queue is full (the
    /// output is slower than the events) or the writer is gone.
    pub fn offer(&mut self, chunk: Chunk) -> Result<(), Chunk> {
        let Some(queue) = &self.queue else {
            return Err(chunk);
        };
        let events = chunk.events;
        match queue.try_send(chunk) {
            Ok(()) => {
                self.handed += events;
                Ok(())
            }
            Err(TrySendError::Full(chunk) | TrySendError::Disconnected(chunk)) => Err(chunk),
        }
    }

    /// No more chunks; waits until `deadline` for the writer to finish them. Returns
    /// whether it did (a writer blocked on a stalled reader does not, and is left behind:
    /// the process exits without it).
    pub fn close(&mut self, deadline: Instant) -> bool {
        self.queue = None;
        while !self.progress.done.load(Ordering::SeqCst) {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        true
    }
}

fn write_all_chunks(fd: BorrowedFd<'_>, chunks: &Receiver<Chunk>, progress: &Progress, json: bool) {
    let mut out = Out {
        fd,
        cut: Vec::new(),
    };
    // Events refused since the last successful write: said in the stream (JSON) and on
    // stderr once writes work again, so a reader of the output knows where the gap is.
    let mut gap = 0u64;
    for chunk in chunks {
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
                eprintln!(
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
        let (queue, chunks) = std::sync::mpsc::sync_channel(8);
        let progress = Progress::default();
        for i in 0..3 {
            let _ = queue.send(lines(10, i * 10));
        }
        drop(queue);
        write_all_chunks(file.as_fd(), &chunks, &progress, true);
        assert_eq!(progress.unwritten.load(Ordering::Relaxed), 30);
        assert_eq!(progress.written.load(Ordering::Relaxed), 0);
        assert!(progress.failing().is_some_and(|e| e.contains("space")));
    }
}
