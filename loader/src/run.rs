//! The consumer: drains the ring buffer on a short timer (records arrive without wakeups),
//! decodes each record by the generation that matched it, applies what only userspace can
//! decide, and prints. Between drains it serves reloads and reports lost events.

use std::cell::RefCell;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libbpf_rs::MapCore;
use schema::image::Image;

use crate::containers::{MetadataFilters, Resolver};
use crate::ring::RingReader;
use crate::session::{Change, Session, Shared};
use crate::{LoadError, print};

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
    /// How often newly lost events are reported (stderr, and a JSON record).
    pub lost_report_interval: Duration,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Events written to the output.
    pub printed: u64,
    /// Records whose policies all failed a filter on container metadata (decided here).
    pub filtered: u64,
    /// Records that did not decode (a loader/program mismatch; never expected).
    pub malformed: u64,
    /// The output was closed (a pipe reader went away).
    pub output_closed: bool,
    /// Reloads served, and syscalls stranded by them (armed by a generation that was
    /// detached before they returned).
    pub reloads: u32,
    pub stranded: i64,
}

/// What decoding a generation's records needs of its image.
struct View {
    policies: Vec<String>,
    metadata: MetadataFilters,
}

impl View {
    fn of(image: &Image) -> View {
        View {
            policies: image.meta.policies.iter().map(|p| p.name.clone()).collect(),
            metadata: MetadataFilters::new(image),
        }
    }
}

/// CLOCK_REALTIME - CLOCK_BOOTTIME: turns the programs' boot-time stamps into wall time.
pub fn boot_to_epoch_ns() -> i64 {
    use rustix::time::{ClockId, clock_gettime};
    let ns = |t: rustix::time::Timespec| t.tv_sec.saturating_mul(1_000_000_000) + t.tv_nsec;
    ns(clock_gettime(ClockId::Realtime)) - ns(clock_gettime(ClockId::Boottime))
}

fn wall_now_ns() -> i64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    t.tv_sec.saturating_mul(1_000_000_000) + t.tv_nsec
}

struct State<'w> {
    out: &'w mut dyn Write,
    /// Lines are formatted here and written out in large chunks: one write per event
    /// through the output's dynamic dispatch would cost more than the formatting.
    batch: Vec<u8>,
    summary: Summary,
    resolver: Resolver,
    /// By generation; a handful at most (the active one and a few retired), newest last:
    /// searched from the end, one comparison per record in the steady state.
    views: Vec<(u32, View)>,
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

    fn flush(&mut self) {
        if self.summary.output_closed || self.error.is_some() {
            self.batch.clear();
            return;
        }
        let written = self
            .out
            .write_all(&self.batch)
            .and_then(|()| self.out.flush());
        self.batch.clear();
        if let Err(e) = written {
            self.write_failed(e);
        }
    }

    /// One decoded record: filtered, formatted into the batch.
    fn record(&mut self, data: &[u8], options: &RunOptions, offset: i64) -> i32 {
        if self.done {
            return -1;
        }
        let mut record = match schema::record::decode(data) {
            Ok(r) => r,
            Err(_) => {
                self.summary.malformed += 1;
                return 0;
            }
        };
        let h = &mut record.header;
        let generation = h.generation;
        let Some((_, view)) = self.views.iter().rev().find(|(g, _)| *g == generation) else {
            // A generation this loader never installed: not ours to decode.
            self.summary.malformed += 1;
            return 0;
        };
        let needs = if view.metadata.is_empty() {
            0
        } else {
            view.metadata.needs(h.event_id, h.matched_policies)
        };
        if needs != 0 {
            let lookup = self.resolver.lookup(h.cgroup_id, h.host_pid);
            for note in self.resolver.take_notes() {
                eprintln!("tracee-load: note: {note}");
            }
            let passed = view.metadata.decide(h.event_id, needs, &lookup);
            h.matched_policies &= !(needs & !passed);
            if h.matched_policies == 0 {
                self.summary.filtered += 1;
                return 0;
            }
        }
        match options.output {
            Output::Json => print::write_json(&mut self.batch, &record, &view.policies, offset),
            Output::Table => {
                let _ = writeln!(self.batch, "{}", print::table(&record, offset));
            }
        }
        if self.batch.len() >= BATCH_BYTES {
            let written = self.out.write_all(&self.batch);
            self.batch.clear();
            if let Err(e) = written {
                self.write_failed(e);
                return -1;
            }
        }
        self.summary.printed += 1;
        if options
            .max_events
            .is_some_and(|max| self.summary.printed >= max)
        {
            self.done = true;
            return -1;
        }
        0
    }
}

/// Lost events seen so far, and when they were last reported.
struct LostReport {
    reported: u64,
    per_cpu: Vec<u64>,
    at: Instant,
}

impl LostReport {
    /// Says how many events the kernel dropped since the last report, if any: on stderr,
    /// and in JSON mode as a `lost_events` record in the stream.
    fn report(&mut self, shared: &Shared, state: &mut State<'_>, output: Output) {
        self.at = Instant::now();
        let c = crate::counters(shared.stats());
        if c.lost <= self.reported {
            return;
        }
        let new = c.lost - self.reported;
        let new_per_cpu: Vec<u64> = c
            .lost_per_cpu
            .iter()
            .enumerate()
            .map(|(cpu, n)| n.saturating_sub(self.per_cpu.get(cpu).copied().unwrap_or(0)))
            .collect();
        eprintln!(
            "tracee-load: warning: {new} events lost (the ring buffer was full; {} in all): the output is not keeping up; a larger --ring-buffer-mb absorbs longer bursts",
            c.lost
        );
        if output == Output::Json && !state.done {
            let record = serde_json::json!({
                "timestamp": wall_now_ns(),
                "eventName": "lost_events",
                "lostEvents": new,
                "lostTotal": c.lost,
                "lostPerCpu": new_per_cpu,
            });
            let _ = writeln!(state.batch, "{record}");
        }
        self.reported = c.lost;
        self.per_cpu = c.lost_per_cpu;
    }
}

/// Prints events until `stop` is set, the duration passes, `max_events` are printed or the
/// output closes, serving reloads when `reload` is set (or the watched image changes).
/// Write errors other than a closed output are returned.
pub fn run(
    session: &mut Session,
    shared: &Shared,
    options: &RunOptions,
    stop: &AtomicBool,
    reload: &AtomicBool,
    out: &mut dyn Write,
) -> Result<Summary, LoadError> {
    let offset = boot_to_epoch_ns();
    let deadline = options.duration.map(|d| Instant::now() + d);
    let views = vec![(session.current().number, View::of(&session.current().image))];
    let state = RefCell::new(State {
        out,
        batch: Vec::with_capacity(BATCH_BYTES + 4096),
        summary: Summary::default(),
        resolver: Resolver::new(&options.host_root),
        views,
        error: None,
        done: false,
    });
    if options.output == Output::Table {
        let mut s = state.borrow_mut();
        let _ = writeln!(s.out, "{}", print::TABLE_HEADER);
    }
    let ring_map = shared.ring();
    let mut ring = RingReader::new(ring_map.as_fd(), u64::from(ring_map.max_entries()))
        .map_err(|e| LoadError::Kernel(format!("map the ring buffer `rb`: {e}")))?;
    let drain = |ring: &mut RingReader<'_>| {
        ring.consume(|data| state.borrow_mut().record(data, options, offset) >= 0)
    };
    let mut lost = LostReport {
        reported: 0,
        per_cpu: Vec::new(),
        at: Instant::now(),
    };
    loop {
        if stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            // What the programs sent before the stop is still printed.
            drain(&mut ring);
            break;
        }
        // An interrupted poll (a signal) returns early; the flags above say why.
        ring.poll(DRAIN_INTERVAL);
        drain(&mut ring);
        let changes = session.tick(shared, reload);
        let mut s = state.borrow_mut();
        for change in changes {
            match change {
                Change::Activated {
                    generation,
                    image,
                    line,
                } => {
                    s.views.push((generation, View::of(&image)));
                    s.summary.reloads += 1;
                    eprintln!("tracee-load: reloaded: generation {generation}: {line}");
                }
                Change::Refused(message) => eprintln!(
                    "tracee-load: error: reload refused, generation {} keeps running: {message}",
                    session.current().number
                ),
                Change::Retired {
                    generation,
                    stranded,
                } => {
                    // A program of it may still be finishing a record on another CPU as
                    // its links go: its view is kept for a few more reloads.
                    s.views.retain(|(g, _)| *g + 4 > generation);
                    s.summary.stranded += stranded;
                    if stranded > 0 {
                        eprintln!(
                            "tracee-load: warning: generation {generation} detached with {stranded} syscalls it selected still blocked: their events are not reported"
                        );
                    } else {
                        eprintln!("tracee-load: generation {generation} detached");
                    }
                }
            }
        }
        if lost.at.elapsed() >= options.lost_report_interval {
            lost.report(shared, &mut s, options.output);
        }
        s.flush();
        if s.done {
            break;
        }
    }
    drop(ring);
    let mut s = state.into_inner();
    lost.report(shared, &mut s, options.output);
    s.flush();
    match s.error.take() {
        Some(e) => Err(LoadError::Kernel(format!("writing events: {e}"))),
        None => Ok(s.summary),
    }
}
