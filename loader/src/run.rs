//! The consumer: drains the ring buffer on a short timer (records arrive without wakeups),
//! decodes each record by the generation that matched it, applies what only userspace can
//! decide, and formats it for the output thread. Between drains it serves reloads and
//! reports lost and unwritten events. Nothing here waits on the output or the image file.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use libbpf_rs::MapCore;
use schema::image::Image;

use crate::containers::{MetadataFilters, Resolver};
use crate::output::{Chunk, Writer};
use crate::ring::RingReader;
use crate::session::{Change, Session, Shared};
use crate::sinks::Sinks;
use crate::telemetry::{Tallies, Telemetry};
use crate::{LoadError, print};

/// How often the ring buffer is drained when no wakeup came: the longest an event waits.
pub const DRAIN_INTERVAL: Duration = Duration::from_millis(20);

/// Formatted output is handed to the writer in chunks of about this size.
const BATCH_BYTES: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Json,
    JsonV1beta1,
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
    /// `--audit`: records no policy matched are printed too, and every event carries the
    /// kernel's decision.
    pub audit: bool,
    /// `--metrics`/`--healthz`: counts and state published for the HTTP thread.
    pub telemetry: Option<Arc<Telemetry>>,
    /// The table's layout (its width).
    pub layout: crate::table::Layout,
    /// `--parse-arguments`: JSON numbers decoded as Tracee's option of that name does (the
    /// table always decodes).
    pub parse_arguments: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Events written to the output.
    pub printed: u64,
    /// Events matched but not written: the output refused them (a full disk, an I/O
    /// error), or did not take them before the loader had to exit.
    pub unwritten: u64,
    /// The last output error, if writes failed at some point.
    pub output_error: Option<String>,
    /// Records whose policies all failed a filter on container metadata (decided here).
    pub filtered: u64,
    /// Detections whose detector's conditions for the loader did not hold.
    pub undetected: u64,
    /// Records that did not decode (a loader/program mismatch; never expected).
    pub malformed: u64,
    /// The output was closed (a pipe reader went away).
    pub output_closed: bool,
    /// Reloads served, and syscalls stranded by them (armed by a generation that was
    /// detached before they returned).
    pub reloads: u32,
    pub stranded: i64,
    /// Each sink's counters at the end (`delivered + dropped = events`).
    pub sinks: Vec<crate::sinks::SinkSummary>,
}

/// What decoding a generation's records needs of its image.
struct View {
    policies: Vec<String>,
    metadata: MetadataFilters,
    detections: crate::detect::Detections,
}

impl View {
    fn of(image: &Image) -> View {
        View {
            policies: image.meta.policies.iter().map(|p| p.name.clone()).collect(),
            metadata: MetadataFilters::new(image),
            detections: crate::detect::Detections::new(image),
        }
    }
}

/// CLOCK_REALTIME - CLOCK_BOOTTIME: turns the programs' boot-time stamps into wall time.
pub fn boot_to_epoch_ns() -> i64 {
    use rustix::time::{ClockId, clock_gettime};
    let ns = |t: rustix::time::Timespec| t.tv_sec.saturating_mul(1_000_000_000) + t.tv_nsec;
    ns(clock_gettime(ClockId::Realtime)) - ns(clock_gettime(ClockId::Boottime))
}

pub fn wall_now_ns() -> i64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Realtime);
    t.tv_sec.saturating_mul(1_000_000_000) + t.tv_nsec
}

/// How long the loader waits at exit for the output to take what is left.
pub const EXIT_FLUSH: Duration = Duration::from_secs(1);

struct State {
    writer: Writer,
    /// The other destinations: each event as a JSON line, whatever stdout shows.
    sinks: Sinks,
    /// Lines are formatted here and handed to the writer in large chunks.
    batch: Vec<u8>,
    batch_events: u64,
    /// A chunk the writer's queue had no room for: the ring buffer is not drained until it
    /// goes (the kernel then counts what does not fit as lost).
    pending: Option<Chunk>,
    /// Events matched (formatted), whatever became of them.
    matched: u64,
    /// Exiting: records are taken until then at most.
    stop_at: Option<Instant>,
    summary: Summary,
    resolver: Resolver,
    workloads: crate::workload::Workloads,
    /// By generation; a handful at most (the active one and a few retired), newest last:
    /// searched from the end, one comparison per record in the steady state.
    views: Vec<(u32, View)>,
    done: bool,
    /// At exit with a stalled output: records are counted, not formatted.
    discarding: bool,
    /// Kept only with telemetry on.
    counting: Option<Counting>,
}

/// Per-event and per-policy counts since the last publication, by number (a hash lookup
/// and an add per event), folded into the totals by name when published.
#[derive(Default)]
struct Counting {
    events: HashMap<u32, u64>,
    /// By generation: the count of each policy bit.
    policies: Vec<(u32, [u64; 64])>,
    totals: Tallies,
}

impl Counting {
    fn count(&mut self, event: u32, generation: u32, mut matched: u64) {
        *self.events.entry(event).or_default() += 1;
        let slot = match self.policies.iter().position(|(g, _)| *g == generation) {
            Some(i) => i,
            None => {
                self.policies.push((generation, [0; 64]));
                self.policies.len() - 1
            }
        };
        if let Some((_, bits)) = self.policies.get_mut(slot) {
            while matched != 0 {
                let bit = matched.trailing_zeros() as usize;
                if let Some(n) = bits.get_mut(bit) {
                    *n += 1;
                }
                matched &= matched - 1;
            }
        }
    }

    /// Folds what was counted into the totals, naming policies by each generation's view.
    fn fold(&mut self, views: &[(u32, View)]) -> &Tallies {
        for (id, n) in self.events.drain() {
            *self
                .totals
                .by_event
                .entry(print::event_name(id))
                .or_default() += n;
        }
        for (generation, bits) in self.policies.drain(..) {
            let names = views
                .iter()
                .find(|(g, _)| *g == generation)
                .map(|(_, v)| v.policies.as_slice())
                .unwrap_or_default();
            for (bit, n) in bits.iter().enumerate().filter(|(_, n)| **n > 0) {
                let name = names
                    .get(bit)
                    .cloned()
                    .unwrap_or_else(|| format!("policy {bit}"));
                *self.totals.by_policy.entry(name).or_default() += n;
            }
        }
        &self.totals
    }
}

impl State {
    /// Hands the batch to the writer (or keeps it pending when the queue is full).
    fn hand_over(&mut self) {
        self.sinks.hand_over();
        if self.pending.is_some() || self.batch.is_empty() {
            return;
        }
        let chunk = Chunk {
            bytes: std::mem::replace(&mut self.batch, self.writer.buffer(BATCH_BYTES + 4096)),
            events: std::mem::take(&mut self.batch_events),
        };
        if let Err(chunk) = self.writer.offer(chunk, Duration::ZERO) {
            self.pending = Some(chunk);
        }
    }

    /// Retries a pending chunk, waiting up to `wait` for room; true when nothing is
    /// pending any more.
    fn retry_pending(&mut self, wait: Duration) -> bool {
        if let Some(chunk) = self.pending.take()
            && let Err(chunk) = self.writer.offer(chunk, wait)
        {
            self.pending = Some(chunk);
        }
        self.pending.is_none()
    }

    /// Publishes the counts for the HTTP thread (between drains: no lock per event).
    fn publish(&mut self, telemetry: &Telemetry) {
        telemetry.beat();
        if let Some(counting) = &mut self.counting {
            telemetry.publish(counting.fold(&self.views));
        }
        let progress = &self.writer.progress;
        telemetry.matched.store(self.matched, Ordering::Relaxed);
        telemetry
            .printed
            .store(progress.written.load(Ordering::Relaxed), Ordering::Relaxed);
        telemetry.unwritten.store(
            progress.unwritten.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        telemetry.filtered.store(
            self.summary.filtered + self.summary.undetected,
            Ordering::Relaxed,
        );
        telemetry
            .reloads
            .store(u64::from(self.summary.reloads), Ordering::Relaxed);
    }

    /// A line that is not an event (a report), in the stream.
    fn report_line(&mut self, line: &str) {
        self.batch.extend_from_slice(line.as_bytes());
        self.batch.push(b'\n');
    }

    /// One record: decoded, filtered, formatted into the batch. False: leave it (and the
    /// rest) in the ring for now.
    fn record(&mut self, data: &[u8], options: &RunOptions, offset: i64) -> bool {
        if self.done || self.pending.is_some() || self.stop_at.is_some_and(|t| Instant::now() >= t)
        {
            return false;
        }
        let mut record = match schema::record::decode(data) {
            Ok(r) => r,
            Err(_) => {
                self.summary.malformed += 1;
                return true;
            }
        };
        if crate::complete::complete(&mut record, offset, self.resolver.host_root())
            == crate::complete::Completion::Drop
        {
            self.summary.filtered += 1;
            return true;
        }
        let h = &mut record.header;
        let generation = h.generation;
        let kernel = h.matched_policies;
        let Some((_, view)) = self.views.iter().rev().find(|(g, _)| *g == generation) else {
            // A generation this loader never installed: not ours to decode.
            self.summary.malformed += 1;
            return true;
        };
        let needs = if view.metadata.is_empty() {
            0
        } else {
            view.metadata.needs(h.event_id, h.matched_policies)
        };
        if needs != 0 {
            let lookup = self.resolver.lookup(h.cgroup_id, h.host_pid);
            for note in self.resolver.take_notes() {
                crate::say!("tracee-load: note: {note}");
            }
            let passed = view.metadata.decide(h.event_id, needs, &lookup);
            h.matched_policies &= !(needs & !passed);
            if h.matched_policies == 0 {
                self.summary.filtered += 1;
                if !options.audit {
                    return true;
                }
            }
        }
        let detector = if record.header.detected_from != 0 {
            let (cgroup, pid) = (record.header.cgroup_id, record.header.host_pid);
            let resolver = &mut self.resolver;
            let container_id = || match &*resolver.lookup(cgroup, pid) {
                crate::containers::Lookup::NotContainer => String::new(),
                crate::containers::Lookup::Unknown { id, .. } => id.clone(),
                crate::containers::Lookup::Found(c) => c.id.clone(),
            };
            let Some(d) = view.detections.decide(&record, container_id) else {
                self.summary.undetected += 1;
                return true;
            };
            Some(d)
        } else {
            None
        };
        // A packet the full decode does not take for its event is no event (Tracee's
        // userspace makes none of it either): counted with the ones filtered here.
        let summary = match crate::network::expand(&mut record, offset) {
            crate::network::Expanded::Malformed => {
                self.summary.filtered += 1;
                return true;
            }
            crate::network::Expanded::Network(line) => Some(line),
            crate::network::Expanded::Other => None,
        };
        self.matched += 1;
        if let Some(counting) = &mut self.counting {
            let h = &record.header;
            counting.count(h.event_id, generation, h.matched_policies);
        }
        let start = self.batch.len();
        let workload = if !self.discarding || !self.sinks.is_empty() {
            self.workloads.of(&mut self.resolver, &record)
        } else {
            crate::workload::Workload::none()
        };
        // The v0.24 JSON line, for stdout and the sinks alike.
        let json = |out: &mut Vec<u8>| {
            print::write_json(
                out,
                &record,
                &view.policies,
                detector,
                offset,
                options.parse_arguments,
                &workload,
            );
            if options.audit {
                print::audit_json(out, generation, kernel);
            }
        };
        if !self.discarding {
            let batch = &mut self.batch;
            match options.output {
                Output::Json => json(batch),
                Output::JsonV1beta1 => {
                    crate::v1beta1::write(
                        batch,
                        &record,
                        &view.policies,
                        detector,
                        offset,
                        &workload,
                    );
                    if options.audit {
                        print::audit_json(batch, generation, kernel);
                    }
                }
                Output::Table => {
                    let line = print::table(
                        &record,
                        detector,
                        offset,
                        summary.as_deref(),
                        &options.layout,
                        &workload,
                    );
                    let _ = writeln!(batch, "{line}");
                }
            }
            self.batch_events += 1;
        }
        if !self.sinks.is_empty() {
            if options.output == Output::Json && !self.discarding {
                self.sinks
                    .event_line(self.batch.get(start..).unwrap_or_default());
            } else {
                self.sinks.format_event(json);
            }
        }
        if self.batch.len() >= BATCH_BYTES {
            self.hand_over();
        }
        if options.max_events.is_some_and(|max| self.matched >= max) {
            self.done = true;
        }
        true
    }
}

/// Lost events seen so far, and when they were last reported.
struct LostReport {
    reported: u64,
    per_cpu: Vec<u64>,
    unwritten: u64,
    at: Instant,
}

impl LostReport {
    /// Says how many events the kernel dropped, and how many the output refused, since the
    /// last report, if any: on stderr, and the drops in JSON mode also as a `lost_events`
    /// record in the stream.
    fn report(&mut self, shared: &Shared, state: &mut State, options: &RunOptions) {
        let output = options.output;
        self.at = Instant::now();
        let c = crate::counters(shared.stats());
        if let Some(t) = &options.telemetry {
            t.lost.store(c.lost, Ordering::Relaxed);
        }
        if c.lost > self.reported {
            let new = c.lost - self.reported;
            let new_per_cpu: Vec<u64> = c
                .lost_per_cpu
                .iter()
                .enumerate()
                .map(|(cpu, n)| n.saturating_sub(self.per_cpu.get(cpu).copied().unwrap_or(0)))
                .collect();
            crate::say!(
                "tracee-load: warning: {new} events lost (the ring buffer was full; {} in all): the output is not keeping up; a larger --ring-buffer-mb absorbs longer bursts",
                c.lost
            );
            if !state.done {
                let record = serde_json::json!({
                    "timestamp": wall_now_ns(),
                    "eventName": "lost_events",
                    "lostEvents": new,
                    "lostTotal": c.lost,
                    "lostPerCpu": new_per_cpu,
                })
                .to_string();
                if output != Output::Table {
                    state.report_line(&record);
                }
                state.sinks.report_line(&record);
            }
            self.reported = c.lost;
            self.per_cpu = c.lost_per_cpu;
        }
        let unwritten = state.writer.progress.unwritten.load(Ordering::Relaxed);
        if unwritten > self.unwritten {
            // On stderr only: the output is what fails (the writer marks the gap in the
            // stream once it works again).
            let error = state
                .writer
                .progress
                .failing()
                .unwrap_or_else(|| "recovered since".to_owned());
            crate::say!(
                "tracee-load: warning: {} events unwritten (writing the output failed: {error}; {unwritten} in all): tracing goes on, each new chunk is tried again",
                unwritten - self.unwritten
            );
            self.unwritten = unwritten;
        }
        state.sinks.report();
    }
}

/// Prints events until `stop` is set, the duration passes, `max_events` are printed or the
/// output closes, installing the images the session's reader thread provides. The output
/// is written by `writer`'s thread, and each sink's by its own: a slow or failing output
/// never blocks this loop.
pub fn run(
    session: &mut Session,
    shared: &Shared,
    options: &RunOptions,
    stop: &AtomicBool,
    writer: Writer,
    sinks: Sinks,
) -> Result<Summary, LoadError> {
    let offset = boot_to_epoch_ns();
    let deadline = options.duration.map(|d| Instant::now() + d);
    let views = vec![(session.current().number, View::of(&session.current().image))];
    let state = RefCell::new(State {
        writer,
        sinks,
        batch: Vec::with_capacity(BATCH_BYTES + 4096),
        batch_events: 0,
        pending: None,
        matched: 0,
        stop_at: None,
        summary: Summary::default(),
        resolver: Resolver::new(&options.host_root),
        workloads: crate::workload::Workloads::new(shared.exe_store()),
        views,
        done: false,
        discarding: false,
        counting: options.telemetry.as_ref().map(|_| Counting::default()),
    });
    if options.output == Output::Table {
        state.borrow_mut().report_line(&options.layout.header());
    }
    // existing_container: the containers running now, once, before the kernel's events.
    let boot_now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    let boot_now = (boot_now.tv_sec as u64).saturating_mul(1_000_000_000) + boot_now.tv_nsec as u64;
    for record in crate::existing::records(
        &session.current().image,
        session.current().number,
        boot_now,
        &options.host_root,
    ) {
        let bytes = schema::record::encode(&record.header, &record.args);
        state.borrow_mut().record(&bytes, options, offset);
    }
    let ring_map = shared.ring();
    let mut ring = RingReader::new(ring_map.as_fd(), u64::from(ring_map.max_entries()))
        .map_err(|e| LoadError::Kernel(format!("map the ring buffer `rb`: {e}")))?;
    if let Some(t) = &options.telemetry {
        t.ring_size
            .store(u64::from(ring_map.max_entries()), Ordering::Relaxed);
        t.activated(session.current().number, &session.current().sha256);
        state.borrow_mut().publish(t);
        t.attached.store(true, Ordering::Relaxed);
    }
    let drain = |ring: &mut RingReader<'_>| {
        ring.consume(|data| state.borrow_mut().record(data, options, offset))
    };
    let mut lost = LostReport {
        reported: 0,
        per_cpu: Vec::new(),
        unwritten: 0,
        at: Instant::now(),
    };
    let cancelled = || stop.load(Ordering::Relaxed);
    loop {
        if cancelled() || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        // While the output is behind, the ring buffer holds the events.
        if state.borrow_mut().retry_pending(DRAIN_INTERVAL) {
            ring.poll(DRAIN_INTERVAL);
            if let Some(t) = &options.telemetry {
                t.ring_used.store(ring.pending_bytes(), Ordering::Relaxed);
            }
            drain(&mut ring);
        }
        let changes = session.tick(shared, &cancelled);
        let mut s = state.borrow_mut();
        for change in changes {
            match change {
                Change::Activated {
                    generation,
                    image,
                    line,
                    sha256,
                } => {
                    if let Some(t) = &options.telemetry {
                        t.activated(generation, &sha256);
                    }
                    s.views.push((generation, View::of(&image)));
                    s.summary.reloads += 1;
                    crate::say!("tracee-load: reloaded: generation {generation}: {line}");
                }
                Change::Refused(message) => {
                    if let Some(t) = &options.telemetry {
                        t.refused(&message);
                    }
                    crate::say!(
                        "tracee-load: error: reload refused, generation {} keeps running: {message}",
                        session.current().number
                    )
                }
                Change::Retired {
                    generation,
                    stranded,
                } => {
                    // A program of it may still be finishing a record on another CPU as
                    // its links go: its view is kept for a few more reloads.
                    s.views.retain(|(g, _)| *g + 4 > generation);
                    s.summary.stranded += stranded;
                    if stranded > 0 {
                        crate::say!(
                            "tracee-load: warning: generation {generation} detached with {stranded} syscalls it selected still blocked: their events are not reported"
                        );
                    } else {
                        crate::say!("tracee-load: generation {generation} detached");
                    }
                }
                Change::ReadStalled(waited) => crate::say!(
                    "tracee-load: warning: reading the image file has taken {} s (a hung filesystem?): events go on; the reload waits for it",
                    waited.as_secs()
                ),
            }
        }
        if lost.at.elapsed() >= options.lost_report_interval {
            lost.report(shared, &mut s, options);
        }
        s.hand_over();
        if let Some(t) = &options.telemetry {
            s.publish(t);
        }
        if s.writer.progress.closed.load(Ordering::Relaxed) {
            s.summary.output_closed = true;
            s.done = true;
        }
        if s.done {
            break;
        }
    }
    // Nothing new arrives once detached; what the programs sent before the stop is still
    // printed, if the output takes it within EXIT_FLUSH; what it does not take is counted
    // as unwritten.
    session.detach();
    let flush_by = Instant::now() + EXIT_FLUSH;
    state.borrow_mut().stop_at = Some(flush_by + EXIT_FLUSH);
    loop {
        let mut s = state.borrow_mut();
        if !s.retry_pending(Duration::from_millis(2)) {
            if Instant::now() >= flush_by || s.writer.progress.closed.load(Ordering::Relaxed) {
                // The output takes no more: the rest is counted, not formatted.
                s.discarding = true;
                s.pending = None;
                s.batch.clear();
                s.batch_events = 0;
            } else {
                continue;
            }
        }
        drop(s);
        let taken = drain(&mut ring);
        let s = state.borrow();
        if (taken == 0 && s.pending.is_none()) || s.stop_at.is_some_and(|t| Instant::now() >= t) {
            break;
        }
        drop(s);
        state.borrow_mut().hand_over();
    }
    drop(ring);
    let mut s = state.into_inner();
    lost.report(shared, &mut s, options);
    s.hand_over();
    while !s.retry_pending(Duration::from_millis(2)) && Instant::now() < flush_by {}
    let finished = s
        .writer
        .close(flush_by.max(Instant::now() + Duration::from_millis(50)));
    if let Some(t) = &options.telemetry {
        s.publish(t);
    }
    let sinks = std::mem::take(&mut s.sinks);
    s.summary.sinks = sinks.close(flush_by.max(Instant::now() + Duration::from_millis(50)));
    let progress = &s.writer.progress;
    s.summary.printed = progress.written.load(Ordering::SeqCst);
    s.summary.output_closed |= progress.closed.load(Ordering::SeqCst);
    if !s.summary.output_closed {
        // Handed over but not written (refused, or still queued when the writer was left
        // behind), never handed over, or not formatted at all.
        s.summary.unwritten = s.matched - s.summary.printed.min(s.matched);
        if !finished || s.summary.unwritten > 0 {
            s.summary.output_error = Some(
                progress
                    .last_error()
                    .unwrap_or_else(|| "the output did not take them before exit".to_owned()),
            );
        }
    }
    Ok(s.summary)
}
