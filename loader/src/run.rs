//! The consumer: drains the ring buffer on a short timer (records arrive without wakeups),
//! decodes each record, applies what only userspace can decide, and prints.

use std::cell::RefCell;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libbpf_rs::RingBufferBuilder;
use schema::image::Image;

use crate::containers::{MetadataFilters, Resolver};
use crate::{LoadError, TraceeSkel, libbpf, print};

/// How often the ring buffer is drained when no wakeup came: the longest an event waits.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(20);

/// Formatted output is handed to the writer in chunks of about this size.
const BATCH_BYTES: usize = 1 << 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub output: Output,
    pub max_events: Option<u64>,
    pub duration: Option<Duration>,
    /// Where the host's root is mounted (container runtime state is read under it).
    pub host_root: PathBuf,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Events written to the output.
    pub printed: u64,
    /// Records whose policies all failed a filter on container metadata (decided here).
    pub filtered: u64,
    /// Records that did not decode (a loader/program mismatch; never expected).
    pub malformed: u64,
    /// The output was closed (a pipe reader went away).
    pub output_closed: bool,
}

/// CLOCK_REALTIME - CLOCK_BOOTTIME: turns the programs' boot-time stamps into wall time.
pub fn boot_to_epoch_ns() -> i64 {
    use rustix::time::{ClockId, clock_gettime};
    let ns = |t: rustix::time::Timespec| t.tv_sec.saturating_mul(1_000_000_000) + t.tv_nsec;
    ns(clock_gettime(ClockId::Realtime)) - ns(clock_gettime(ClockId::Boottime))
}

struct State<'w> {
    out: &'w mut dyn Write,
    /// Lines are formatted here and written out in large chunks: one write per event
    /// through the output's dynamic dispatch would cost more than the formatting.
    batch: Vec<u8>,
    summary: Summary,
    resolver: Resolver,
    error: Option<io::Error>,
    done: bool,
}

impl State<'_> {
    /// The output refused a write: a closed pipe ends the run cleanly, anything else is an
    /// error to report.
    fn write_failed(&mut self, e: io::Error) {
        self.done = true;
        if e.kind() == io::ErrorKind::BrokenPipe {
            self.summary.output_closed = true;
        } else {
            self.error = Some(e);
        }
    }
}

/// Prints events until `stop` is set, the duration passes, `max_events` are printed or the
/// output closes. Write errors other than a closed output are returned.
pub fn run(
    skel: &TraceeSkel<'_>,
    image: &Image,
    options: &RunOptions,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<Summary, LoadError> {
    let policies: Vec<String> = image.meta.policies.iter().map(|p| p.name.clone()).collect();
    let metadata = MetadataFilters::new(image);
    let offset = boot_to_epoch_ns();
    let deadline = options.duration.map(|d| Instant::now() + d);
    let state = RefCell::new(State {
        out,
        batch: Vec::with_capacity(BATCH_BYTES + 4096),
        summary: Summary::default(),
        resolver: Resolver::new(&options.host_root),
        error: None,
        done: false,
    });
    if options.output == Output::Table {
        let mut s = state.borrow_mut();
        let _ = writeln!(s.out, "{}", print::TABLE_HEADER);
    }
    let mut builder = RingBufferBuilder::new();
    builder
        .add(&skel.maps.rb, |data: &[u8]| {
            let mut s = state.borrow_mut();
            if s.done {
                return -1;
            }
            let mut record = match schema::record::decode(data) {
                Ok(r) => r,
                Err(_) => {
                    s.summary.malformed += 1;
                    return 0;
                }
            };
            let h = &mut record.header;
            let needs = if metadata.is_empty() {
                0
            } else {
                metadata.needs(h.event_id, h.matched_policies)
            };
            if needs != 0 {
                let lookup = s.resolver.lookup(h.cgroup_id, h.host_pid);
                for note in s.resolver.take_notes() {
                    eprintln!("tracee-load: note: {note}");
                }
                let passed = metadata.decide(h.event_id, needs, &lookup);
                h.matched_policies &= !(needs & !passed);
                if h.matched_policies == 0 {
                    s.summary.filtered += 1;
                    return 0;
                }
            }
            let State { out, batch, .. } = &mut *s;
            match options.output {
                Output::Json => {
                    print::write_json(batch, &record, &policies, offset);
                }
                Output::Table => {
                    let _ = writeln!(batch, "{}", print::table(&record, offset));
                }
            }
            if batch.len() >= BATCH_BYTES {
                let written = out.write_all(batch);
                batch.clear();
                if let Err(e) = written {
                    s.write_failed(e);
                    return -1;
                }
            }
            s.summary.printed += 1;
            if options
                .max_events
                .is_some_and(|max| s.summary.printed >= max)
            {
                s.done = true;
                return -1;
            }
            0
        })
        .map_err(libbpf("set up the ring buffer reader"))?;
    let ring = builder
        .build()
        .map_err(libbpf("set up the ring buffer reader"))?;
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            // What the programs sent before the stop is still printed.
            let _ = ring.consume();
            break;
        }
        // Interrupted polls (a signal) and a callback asking to stop surface as errors here;
        // the state says which.
        let _ = ring.poll(DRAIN_INTERVAL);
        let _ = ring.consume();
        let mut s = state.borrow_mut();
        let flushed = if s.done {
            Ok(())
        } else {
            let State { out, batch, .. } = &mut *s;
            let written = out.write_all(batch).and_then(|()| out.flush());
            batch.clear();
            written
        };
        if let Err(e) = flushed {
            s.write_failed(e);
        }
        if s.done {
            break;
        }
    }
    drop(ring);
    let mut s = state.into_inner();
    let last = if s.summary.output_closed || s.error.is_some() {
        Ok(())
    } else {
        s.out.write_all(&s.batch).and_then(|()| s.out.flush())
    };
    if let Err(e) = last {
        s.write_failed(e);
    }
    match s.error.take() {
        Some(e) => Err(LoadError::Kernel(format!("writing events: {e}"))),
        None => Ok(s.summary),
    }
}
