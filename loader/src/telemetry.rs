//! What an operator watches: counters the consumer keeps, published for the `--metrics`
//! endpoint (Prometheus text, encoded by `prometheus-client`) and the state `--healthz`
//! answers from. The consumer never takes a lock per event: it counts in its own tables
//! and publishes a copy between drains; scrapes read the copy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// How long the consumer may go without a pass of its loop before `/livez` fails: far
/// above its 20 ms drain interval and the longest reload step.
pub const LIVE_WITHIN: Duration = Duration::from_secs(10);

/// The consumer's per-event and per-policy counts, by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tallies {
    pub by_event: BTreeMap<String, u64>,
    pub by_policy: BTreeMap<String, u64>,
}

/// Shared between the consumer (writer) and the HTTP thread (reader).
#[derive(Debug)]
pub struct Telemetry {
    started: Instant,
    tallies: Mutex<Tallies>,
    /// Events handed to the output (matched, formatted).
    pub matched: AtomicU64,
    /// Events the output wrote, and refused.
    pub printed: AtomicU64,
    pub unwritten: AtomicU64,
    /// Events the ring buffer had no room for (the kernel's count).
    pub lost: AtomicU64,
    /// Records dropped by the loader's own filters (container metadata, detector
    /// conditions, packets that do not decode).
    pub filtered: AtomicU64,
    pub reloads: AtomicU64,
    pub reload_failures: AtomicU64,
    pub generation: AtomicU64,
    image_sha256: Mutex<String>,
    pub ring_used: AtomicU64,
    pub ring_size: AtomicU64,
    /// Milliseconds since `started` at the consumer's last pass.
    heartbeat_ms: AtomicU64,
    /// Attached and printing.
    pub attached: AtomicBool,
    /// The last reload was refused (cleared by the next one that succeeds).
    pub reload_refused: AtomicBool,
    refusal: Mutex<String>,
    /// The output sinks' own counters (live atomics the sink threads update).
    sinks: Mutex<Vec<Arc<crate::sinks::SinkStats>>>,
}

impl Default for Telemetry {
    fn default() -> Telemetry {
        Telemetry {
            started: Instant::now(),
            tallies: Mutex::default(),
            matched: AtomicU64::new(0),
            printed: AtomicU64::new(0),
            unwritten: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            filtered: AtomicU64::new(0),
            reloads: AtomicU64::new(0),
            reload_failures: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            image_sha256: Mutex::default(),
            ring_used: AtomicU64::new(0),
            ring_size: AtomicU64::new(0),
            heartbeat_ms: AtomicU64::new(0),
            attached: AtomicBool::new(false),
            reload_refused: AtomicBool::new(false),
            refusal: Mutex::default(),
            sinks: Mutex::default(),
        }
    }
}

/// What `/livez` and `/readyz` answer: the status line's code and a body saying why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub ok: bool,
    pub why: String,
}

impl Telemetry {
    pub fn new() -> Arc<Telemetry> {
        Arc::new(Telemetry::default())
    }

    /// The consumer is alive: called on each pass of its loop.
    pub fn beat(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.heartbeat_ms.store(ms, Ordering::Relaxed);
    }

    pub fn publish(&self, tallies: &Tallies) {
        if let Ok(mut t) = self.tallies.lock() {
            t.clone_from(tallies);
        }
    }

    pub fn tallies(&self) -> Tallies {
        self.tallies.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// A generation is active: its number and its image file's SHA-256.
    pub fn activated(&self, generation: u32, sha256: &str) {
        self.generation
            .store(u64::from(generation), Ordering::Relaxed);
        if let Ok(mut s) = self.image_sha256.lock() {
            sha256.clone_into(&mut s);
        }
        self.reload_refused.store(false, Ordering::Relaxed);
    }

    pub fn refused(&self, why: &str) {
        self.reload_failures.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut r) = self.refusal.lock() {
            why.clone_into(&mut r);
        }
        self.reload_refused.store(true, Ordering::Relaxed);
    }

    /// The sinks whose counters the metrics show.
    pub fn watch_sinks(&self, stats: Vec<Arc<crate::sinks::SinkStats>>) {
        if let Ok(mut s) = self.sinks.lock() {
            *s = stats;
        }
    }

    pub fn image_sha256(&self) -> String {
        self.image_sha256
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// Live: the consumer passed its loop within `LIVE_WITHIN` (before attaching, the
    /// loader is starting, which is alive too).
    pub fn live(&self) -> Health {
        if !self.attached.load(Ordering::Relaxed) {
            return Health {
                ok: true,
                why: "starting".to_owned(),
            };
        }
        let now = self.started.elapsed();
        let beat = Duration::from_millis(self.heartbeat_ms.load(Ordering::Relaxed));
        let since = now.saturating_sub(beat);
        if since <= LIVE_WITHIN {
            Health {
                ok: true,
                why: "the consumer is draining the ring buffer".to_owned(),
            }
        } else {
            Health {
                ok: false,
                why: format!(
                    "the consumer has not drained the ring buffer for {} s",
                    since.as_secs()
                ),
            }
        }
    }

    /// Ready: attached, and the last reload (if any) was not refused.
    pub fn ready(&self) -> Health {
        if !self.attached.load(Ordering::Relaxed) {
            return Health {
                ok: false,
                why: "not attached yet".to_owned(),
            };
        }
        if self.reload_refused.load(Ordering::Relaxed) {
            let why = self.refusal.lock().map(|r| r.clone()).unwrap_or_default();
            return Health {
                ok: false,
                why: format!(
                    "the last reload was refused (generation {} keeps running): {why}",
                    self.generation.load(Ordering::Relaxed)
                ),
            };
        }
        Health {
            ok: true,
            why: format!(
                "attached, generation {}",
                self.generation.load(Ordering::Relaxed)
            ),
        }
    }
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstCounter::new(value);
    let e = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(e)
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    let e = encoder.encode_descriptor(name, help, None, metric.metric_type())?;
    metric.encode(e)
}

fn labelled(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    label: &'static str,
    values: &BTreeMap<String, u64>,
) -> Result<(), std::fmt::Error> {
    let mut e = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (key, n) in values {
        let labels = [(label, key.as_str())];
        let family = e.encode_family(&labels)?;
        ConstCounter::new(*n).encode(family)?;
    }
    Ok(())
}

impl Collector for Telemetry {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let tallies = self.tallies();
        let e = &mut encoder;
        labelled(
            e,
            "tracee_load_events",
            "Events matched and handed to the output, by event.",
            "event",
            &tallies.by_event,
        )?;
        labelled(
            e,
            "tracee_load_policy_events",
            "Events matched, by policy (an event matched by two policies counts for each).",
            "policy",
            &tallies.by_policy,
        )?;
        counter(
            e,
            "tracee_load_events_matched",
            "Events matched and handed to the output, all events.",
            load(&self.matched),
        )?;
        counter(
            e,
            "tracee_load_events_printed",
            "Events the output wrote completely.",
            load(&self.printed),
        )?;
        counter(
            e,
            "tracee_load_events_unwritten",
            "Events matched that the output refused (an I/O error).",
            load(&self.unwritten),
        )?;
        counter(
            e,
            "tracee_load_events_lost",
            "Events the kernel dropped because the ring buffer was full.",
            load(&self.lost),
        )?;
        counter(
            e,
            "tracee_load_events_filtered",
            "Records the loader dropped by the conditions only it decides.",
            load(&self.filtered),
        )?;
        counter(
            e,
            "tracee_load_reloads",
            "Images installed after the first.",
            load(&self.reloads),
        )?;
        counter(
            e,
            "tracee_load_reload_failures",
            "Reloads refused (the running generation went on).",
            load(&self.reload_failures),
        )?;
        gauge(
            e,
            "tracee_load_generation",
            "The active generation (1 for the first image).",
            i64::try_from(load(&self.generation)).unwrap_or(i64::MAX),
        )?;
        {
            let sha = self.image_sha256();
            let generation = load(&self.generation).to_string();
            let labels = [
                ("sha256", sha.as_str()),
                ("generation", generation.as_str()),
            ];
            let mut d = e.encode_descriptor(
                "tracee_load_image",
                "The active image: its file's SHA-256 and generation.",
                None,
                MetricType::Gauge,
            )?;
            let family = d.encode_family(&labels)?;
            ConstGauge::new(1i64).encode(family)?;
        }
        gauge(
            e,
            "tracee_load_ring_buffer_used_bytes",
            "Bytes waiting in the ring buffer when the consumer last drained it.",
            i64::try_from(load(&self.ring_used)).unwrap_or(i64::MAX),
        )?;
        gauge(
            e,
            "tracee_load_ring_buffer_size_bytes",
            "The ring buffer's size.",
            i64::try_from(load(&self.ring_size)).unwrap_or(i64::MAX),
        )?;
        let sinks = self.sinks.lock().map(|s| s.clone()).unwrap_or_default();
        if !sinks.is_empty() {
            for (name, help, value) in [
                (
                    "tracee_load_sink_events",
                    "Events handed to an output sink.",
                    (|s: &crate::sinks::SinkStats| &s.events)
                        as fn(&crate::sinks::SinkStats) -> &AtomicU64,
                ),
                (
                    "tracee_load_sink_delivered",
                    "Events a sink delivered (written, answered 2xx, acknowledged).",
                    |s| &s.delivered,
                ),
                (
                    "tracee_load_sink_dropped",
                    "Events a sink dropped (full queue, retries spent, failed write, left at exit).",
                    |s| &s.dropped,
                ),
                (
                    "tracee_load_sink_failures",
                    "Failed attempts of a sink (each retry counted).",
                    |s| &s.failures,
                ),
            ] {
                let mut d = e.encode_descriptor(name, help, None, MetricType::Counter)?;
                for sink in &sinks {
                    let labels = [("sink", sink.kind), ("target", sink.target.as_str())];
                    let family = d.encode_family(&labels)?;
                    ConstCounter::new(load(value(sink))).encode(family)?;
                }
            }
        }
        gauge(
            e,
            "tracee_load_ready",
            "1 when attached and the last reload was not refused.",
            i64::from(self.ready().ok),
        )?;
        Ok(())
    }
}

/// The Prometheus text exposition of everything above.
pub fn exposition(telemetry: &Arc<Telemetry>) -> Result<String, std::fmt::Error> {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(Arc::clone(telemetry)));
    let mut out = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_names_every_counter_with_its_labels() {
        let t = Telemetry::new();
        let mut tallies = Tallies::default();
        tallies.by_event.insert("openat".to_owned(), 3);
        tallies.by_policy.insert("files".to_owned(), 2);
        tallies.by_policy.insert("all \"quoted\"".to_owned(), 1);
        t.publish(&tallies);
        t.matched.store(3, Ordering::Relaxed);
        t.lost.store(7, Ordering::Relaxed);
        t.activated(2, "ab12");
        t.attached.store(true, Ordering::Relaxed);
        let text = exposition(&t).unwrap_or_default();
        for line in [
            "tracee_load_events_total{event=\"openat\"} 3",
            "tracee_load_policy_events_total{policy=\"files\"} 2",
            "tracee_load_policy_events_total{policy=\"all \\\"quoted\\\"\"} 1",
            "tracee_load_events_matched_total 3",
            "tracee_load_events_lost_total 7",
            "tracee_load_generation 2",
            "tracee_load_image{sha256=\"ab12\",generation=\"2\"} 1",
            "tracee_load_ready 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "missing `{line}` in:\n{text}"
            );
        }
        assert!(
            text.contains("# TYPE tracee_load_events_lost_total counter"),
            "{text}"
        );
    }

    #[test]
    fn a_refused_reload_is_unready_until_one_succeeds() {
        let t = Telemetry::new();
        assert!(!t.ready().ok, "not attached yet");
        assert!(t.live().ok, "starting is alive");
        t.attached.store(true, Ordering::Relaxed);
        t.activated(1, "aa");
        t.beat();
        assert!(t.ready().ok);
        assert!(t.live().ok);
        t.refused("bad image");
        let h = t.ready();
        assert!(!h.ok && h.why.contains("bad image"), "{h:?}");
        t.activated(2, "bb");
        assert!(t.ready().ok);
        assert_eq!(t.reload_failures.load(Ordering::Relaxed), 1);
    }
}
