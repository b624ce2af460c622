//! The image file is read on a thread of its own, so the consumer never waits on it: a
//! file on a hung network filesystem delays a reload, never the events. The thread reads
//! when asked (start-up, SIGHUP) and, with `--watch`, when the path names another file or
//! the file changed. Requests that arrive while it reads are served by one more read, and
//! the consumer applies only the newest result: a storm of SIGHUPs is a few reloads of
//! the newest file, not a queue of them.

use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harden::{FileStamp, ImageRead, read_image};
use crate::session::WATCH_INTERVAL;

/// One read of the image file: the image, or why it was refused (with its exit status
/// class: `io` for a file that could not be read at all).
pub type ReadResult = Result<ImageRead, Refusal>;

#[derive(Debug)]
pub struct Refusal {
    pub message: String,
    pub io: bool,
}

/// The reading thread, seen from the consumer.
pub struct ImageSource {
    results: Receiver<ReadResult>,
    /// Requests to read (the signal thread holds a clone for SIGHUP).
    requests: Sender<()>,
    /// When the read in progress started (None when the thread is idle), to tell a read
    /// that hangs.
    reading: Arc<Mutex<Option<Instant>>>,
}

impl ImageSource {
    /// Starts the thread. `requests`/`incoming` are the two ends of the request channel
    /// (made by the caller, so the signal thread can hold a sender before this starts).
    pub fn start(
        path: &Path,
        allow_insecure: bool,
        watch: bool,
        requests: Sender<()>,
        incoming: Receiver<()>,
    ) -> Result<ImageSource, String> {
        let (results_tx, results) = std::sync::mpsc::channel();
        let path = path.to_path_buf();
        let reading = Arc::new(Mutex::new(None));
        let busy = Arc::clone(&reading);
        crate::harden::spawn_unprivileged("image", move || {
            serve(&path, allow_insecure, watch, &incoming, &results_tx, &busy);
        })?;
        Ok(ImageSource {
            results,
            requests,
            reading,
        })
    }

    /// Asks for a read (as SIGHUP does).
    pub fn request(&self) {
        let _ = self.requests.send(());
    }

    /// The newest result ready, if any; older ones are dropped (coalesced).
    pub fn newest(&self) -> Option<ReadResult> {
        let mut newest = None;
        while let Ok(r) = self.results.try_recv() {
            newest = Some(r);
        }
        newest
    }

    /// Waits up to `timeout` for a result.
    pub fn wait(&self, timeout: Duration) -> Option<ReadResult> {
        self.results.recv_timeout(timeout).ok()
    }

    /// How long the read in progress has taken, if one is.
    pub fn waiting_for(&self) -> Option<Duration> {
        self.reading
            .lock()
            .ok()
            .and_then(|r| r.map(|t| t.elapsed()))
    }
}

fn serve(
    path: &Path,
    allow_insecure: bool,
    watch: bool,
    incoming: &Receiver<()>,
    results: &Sender<ReadResult>,
    reading: &Mutex<Option<Instant>>,
) {
    // What the path named when it was last read (the descriptor's own stamp when the read
    // got that far): --watch reads again when that differs.
    let mut seen: Option<FileStamp> = None;
    loop {
        let asked = if watch {
            match incoming.recv_timeout(WATCH_INTERVAL) {
                Ok(()) => true,
                Err(RecvTimeoutError::Timeout) => false,
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match incoming.recv() {
                Ok(()) => true,
                Err(_) => return,
            }
        };
        // Every request queued so far is served by this one read.
        loop {
            match incoming.try_recv() {
                Ok(()) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return,
            }
        }
        let now = FileStamp::of_path(path);
        if !asked {
            // A file being replaced may be missing for a moment: wait for the new one.
            if now.is_none() || now == seen {
                continue;
            }
        }
        seen = now;
        let set = |at: Option<Instant>| {
            if let Ok(mut r) = reading.lock() {
                *r = at;
            }
        };
        set(Some(Instant::now()));
        let result = read_image(path, allow_insecure).map_err(|e| {
            let message = e.to_string();
            let name = path.display().to_string();
            Refusal {
                io: matches!(e, crate::LoadError::ImageIo { .. }),
                message: if message.contains(&name) {
                    message
                } else {
                    format!("{name}: {message}")
                },
            }
        });
        set(None);
        if let Ok(read) = &result {
            // From the descriptor read: a swap after the stat above is seen next time.
            seen = Some(read.stamp);
        }
        if results.send(result).is_err() {
            return;
        }
    }
}
