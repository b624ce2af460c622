//! Phase 3: IR -> map contents. Every filter of the language becomes map entries that let
//! the kernel decide it; the few that only userspace can decide are listed instead.
//!
//! The scheme (after Tracee's equality maps, see docs/image-format.md): each policy owns one
//! bit. A dimension (a scope key, or one field of one event's rules) maps each listed value
//! to `EqBits { eq, ne }`: the policies listing it with `=` and with `!=`. A policy passes a
//! dimension when the value's `eq` bit is set, or when its default applies (`match_missing`,
//! or for policies with bounds the interval table) and the value's `ne` bit is clear.

use std::collections::BTreeMap;

use bytemuck::bytes_of;
use schema::abi::{EqBits, RangeEntry};
use schema::image::MapType;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{Op, Policy, Value};

mod anchors;
mod detections;
mod rules;

pub use rules::event_source;
mod scope;

pub use schema::image::BPF_F_NO_PREALLOC;

/// The process-tree map also receives every descendant at fork: room for them.
pub const TREE_RUNTIME_ENTRIES: u32 = 65_536;
/// `contains` patterns per field are tried one by one in the kernel: a bounded loop.
pub const MAX_CONTAINS_PER_FIELD: usize = 32;
/// Up to this many syscalls get their own tracepoints; more use the raw hooks. With their
/// own tracepoints, a syscall no rule needs costs the kernel's check of its number; with the
/// raw hooks every syscall runs our programs (getpid 1.14x against 1.33x of the baseline
/// with Tracee's default policy's 27 syscalls, bench/detectors.sh); attaching 54 tracepoints
/// costs the loader's start no more than the two raw hooks did.
pub const MAX_PER_SYSCALL_PROBES: usize = 32;

/// One BPF map's complete contents. Entries are kept sorted by key bytes, so the same
/// policies always give the same image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapContents {
    pub name: &'static str,
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub entries: BTreeMap<Vec<u8>, Vec<u8>>,
}

/// A rule filter the kernel cannot decide: the loader applies it to events already matched
/// in the kernel for `policy`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserspaceFilter {
    pub policy: usize,
    /// `None` for a scope filter (applies to every event of the policy).
    pub event: Option<u32>,
    pub field: String,
    pub op: Op,
    pub values: Vec<String>,
    pub reason: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lowered {
    pub maps: Vec<MapContents>,
    pub userspace: Vec<UserspaceFilter>,
    /// (event id, name) of every event some rule selects, by id.
    pub events: Vec<(u32, &'static str)>,
    pub probes: Vec<String>,
    /// The detectors the policies select (image metadata).
    pub detectors: Vec<schema::image::DetectorMeta>,
}

impl Lowered {
    pub fn map(&self, name: &str) -> Option<&MapContents> {
        self.maps.iter().find(|m| m.name == name)
    }

    pub fn entry_count(&self) -> usize {
        self.maps.iter().map(|m| m.entries.len()).sum()
    }

    /// Kernel memory the maps reserve: (key + value) x max entries, summed.
    pub fn kernel_bytes(&self) -> u64 {
        self.maps
            .iter()
            .map(|m| u64::from(m.key_size + m.value_size) * u64::from(m.max_entries))
            .sum()
    }
}

pub(super) fn bit(policy: &Policy) -> u64 {
    1u64 << policy.id
}

/// Equality entries of one dimension, keyed by the encoded key.
#[derive(Default)]
pub(super) struct EqMap(pub(super) BTreeMap<Vec<u8>, EqBits>);

impl EqMap {
    pub(super) fn add(&mut self, key: Vec<u8>, op: Op, bit: u64) {
        let entry = self.0.entry(key).or_insert(EqBits { eq: 0, ne: 0 });
        match op {
            Op::Ne => entry.ne |= bit,
            _ => entry.eq |= bit,
        }
    }
}

/// Inclusive bounds of one policy on one dimension, in the order-preserving u64 encoding.
pub(super) struct Bounds {
    pub(super) bit: u64,
    pub(super) low: u64,
    pub(super) high: u64,
}

/// The sorted interval table for a set of per-policy bounds.
pub(super) fn range_table(bounds: &[Bounds]) -> Vec<RangeEntry> {
    let mut starts: Vec<u64> = vec![0];
    for b in bounds {
        starts.push(b.low);
        if let Some(next) = b.high.checked_add(1) {
            starts.push(next);
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let mut table: Vec<RangeEntry> = Vec::new();
    for start in starts {
        let bits = bounds
            .iter()
            .filter(|b| b.low <= start && start <= b.high)
            .fold(0, |acc, b| acc | b.bit);
        if table.last().is_none_or(|last| last.bits != bits) {
            table.push(RangeEntry { start, bits });
        }
    }
    table
}

/// Order-preserving u64 encoding: signed values are biased so that unsigned comparison of
/// the encoding orders them numerically.
pub(super) fn ordered(value: i128, signed: bool) -> u64 {
    if signed {
        (value as i64 as u64) ^ (1 << 63)
    } else {
        value as u64
    }
}

/// Equality-map key of an integer: its two's complement bits.
pub(super) fn raw_int(value: i128) -> u64 {
    value as u64
}

/// A numeric filter set of one policy on one dimension: `=` values, `!=` values, bounds.
pub(super) struct NumericSet {
    pub(super) eq: Vec<i128>,
    pub(super) ne: Vec<i128>,
    pub(super) low: Option<i128>,
    pub(super) high: Option<i128>,
}

impl NumericSet {
    /// Does some value in `lo..=hi` pass? A value passes if it is an `=` value, or is no
    /// `!=` value and lies within the bounds (without bounds: only when there are no `=`
    /// values); the same rule as `filter::check_combined` and the kernel's `dimension`.
    pub(super) fn admits_any(&self, lo: i128, hi: i128) -> bool {
        if self.eq.iter().any(|v| (lo..=hi).contains(v)) {
            return true;
        }
        let (low, high) = if self.low.is_some() || self.high.is_some() {
            (
                self.low.unwrap_or(lo).max(lo),
                self.high.unwrap_or(hi).min(hi),
            )
        } else if self.eq.is_empty() {
            (lo, hi)
        } else {
            return false;
        };
        // The range is empty of passing values when its every value is a `!=` value.
        let mut excluded: Vec<i128> = self
            .ne
            .iter()
            .copied()
            .filter(|v| (low..=high).contains(v))
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        low <= high && i128::try_from(excluded.len()).unwrap_or(i128::MAX) <= high - low
    }
}

pub(super) fn numeric_set<'a>(filters: impl Iterator<Item = (Op, &'a Value)>) -> NumericSet {
    let mut set = NumericSet {
        eq: Vec::new(),
        ne: Vec::new(),
        low: None,
        high: None,
    };
    for (op, value) in filters {
        let Value::Int(v) = value else { continue };
        let v = *v;
        match op {
            Op::Eq => set.eq.push(v),
            Op::Ne => set.ne.push(v),
            // Several bounds in one direction widen each other: keep the lowest / highest.
            Op::Gt => set.low = Some(set.low.map_or(v + 1, |l| l.min(v + 1))),
            Op::Ge => set.low = Some(set.low.map_or(v, |l| l.min(v))),
            Op::Lt => set.high = Some(set.high.map_or(v - 1, |h| h.max(v - 1))),
            Op::Le => set.high = Some(set.high.map_or(v, |h| h.max(v))),
        }
    }
    set
}

/// Where a numeric set's entries go: equality keys, the default bit, bounds.
pub(super) struct DimState {
    pub(super) eq: EqMap,
    pub(super) enabled: u64,
    pub(super) match_missing: u64,
    pub(super) ranged: u64,
    pub(super) bounds: Vec<Bounds>,
}

impl DimState {
    pub(super) fn new() -> Self {
        DimState {
            eq: EqMap::default(),
            enabled: 0,
            match_missing: 0,
            ranged: 0,
            bounds: Vec::new(),
        }
    }

    pub(super) fn add_numeric(
        &mut self,
        set: &NumericSet,
        bit: u64,
        signed: bool,
        (min, max): (i128, i128),
        key: impl Fn(i128) -> Vec<u8>,
    ) {
        self.enabled |= bit;
        for v in &set.ne {
            self.eq.add(key(*v), Op::Ne, bit);
        }
        for v in &set.eq {
            self.eq.add(key(*v), Op::Eq, bit);
        }
        if set.low.is_some() || set.high.is_some() {
            self.ranged |= bit;
            let low = set.low.unwrap_or(min).max(min);
            let high = set.high.unwrap_or(max).min(max);
            if low <= high {
                // Up to the type's maximum is up to the end of the table.
                let high = if high == max {
                    u64::MAX
                } else {
                    ordered(high, signed)
                };
                self.bounds.push(Bounds {
                    bit,
                    low: ordered(low, signed),
                    high,
                });
            }
        } else if set.eq.is_empty() {
            self.match_missing |= bit;
        }
    }
}

pub(super) struct Ctx<'a> {
    pub(super) diags: &'a mut Diagnostics,
}

impl Ctx<'_> {
    fn limit(
        &mut self,
        policy: &Policy,
        span: &crate::yaml::ByteSpan,
        message: String,
        help: &str,
    ) {
        self.diags.push(
            Diagnostic::new(Code::KernelLimit, message)
                .at(policy.file, span.clone())
                .label("over the kernel limit")
                .help(help),
        );
    }
}

/// Lowers valid policies into map contents. Problems are limits of the kernel maps
/// (strings too long, too many fields), reported as diagnostics.
pub fn lower(
    policies: &[Policy],
    known: crate::detectors::Known<'_>,
    diags: &mut Diagnostics,
) -> Lowered {
    let mut cx = Ctx { diags };
    let mut userspace = Vec::new();
    let (scope, hooks) = scope::lower_scope(policies, &mut cx, &mut userspace);
    let planned = detections::plan(policies, known, &mut cx);
    let mut rules = rules::lower_rules(&planned.policies, &planned.pseudo, &mut cx, &mut userspace);
    mark_detections(&mut rules.maps, &planned);
    let anchors = anchors::anchors(&planned);
    mark_anchors(&mut rules.maps, &anchors.events);
    let mut maps = scope;
    maps.extend(rules.maps);
    maps.push(array_map("detect_chunks", &planned.chunks));
    maps.push(anchors.map);
    let mut probes = rules.probes;
    // `tree` and `follow` learn new processes at fork and forget them at exit; `executable`
    // records binaries at exec and hands them down at fork.
    if hooks.lineage {
        probes.push("tp_btf/sched_process_fork".to_owned());
        probes.push("tp_btf/sched_process_exit".to_owned());
    }
    // Containers are tracked for a rule's `container`/`host` filters (a detector's
    // `container=started` among them) as for a scope's.
    let in_container = |f: &crate::ir::Filter<crate::ir::RuleField>| {
        matches!(
            f.key,
            crate::ir::RuleField::Context(
                crate::ir::ContextField::Container | crate::ir::ContextField::Host
            )
        )
    };
    let rule_containers = planned
        .policies
        .iter()
        .flat_map(|p| &p.rules)
        .flat_map(|r| &r.filters)
        .chain(planned.pseudo.iter().flat_map(|p| &p.filters))
        .any(in_container);
    if hooks.containers || rule_containers {
        probes.push("tp_btf/cgroup_mkdir".to_owned());
    }
    // A task iterator run once at start: the running processes a `follow` scope admits hand
    // it to their existing descendants.
    if hooks.follow {
        probes.push("iter/task".to_owned());
    }
    if hooks.executables {
        probes.push("tp_btf/sched_process_exec".to_owned());
        probes.push("tp_btf/sched_process_fork".to_owned());
    }
    probes.sort();
    probes.dedup();
    Lowered {
        maps,
        userspace,
        events: rules.events,
        probes,
        detectors: planned.detectors,
    }
}

/// The base events' `detect` fields in the `events` map.
fn mark_detections(maps: &mut [MapContents], planned: &detections::Planned) {
    let Some(events) = maps.iter_mut().find(|m| m.name == "events") else {
        return;
    };
    for (id, (detect, detect_only, first, chunks)) in &planned.bases {
        let Some(value) = events.entries.get_mut(id.to_le_bytes().as_slice()) else {
            continue;
        };
        let mut config: schema::abi::EventConfig = bytemuck::pod_read_unaligned(value);
        config.detect = *detect;
        config.detect_only = *detect_only;
        config.detect_first = *first;
        config.detect_chunks = *chunks;
        *value = bytes_of(&config).to_vec();
    }
}

/// The path events' anchor fields (`anchored`, `anchor_suffix_lens`, `anchor_sketch`) in
/// the `events` map.
fn mark_anchors(maps: &mut [MapContents], anchored: &BTreeMap<u32, anchors::EventAnchors>) {
    let Some(events) = maps.iter_mut().find(|m| m.name == "events") else {
        return;
    };
    for (id, a) in anchored {
        let Some(value) = events.entries.get_mut(id.to_le_bytes().as_slice()) else {
            continue;
        };
        let mut config: schema::abi::EventConfig = bytemuck::pod_read_unaligned(value);
        config.anchored = a.anchored;
        config.anchor_suffix_lens = a.suffix_lens;
        config.anchor_sketch = a.sketch;
        *value = bytes_of(&config).to_vec();
    }
}

pub(super) fn hash_map<K: bytemuck::Pod>(
    name: &'static str,
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    extra: u32,
) -> MapContents {
    let max_entries = u32::try_from(entries.len())
        .unwrap_or(u32::MAX)
        .saturating_add(extra)
        .max(1);
    MapContents {
        name,
        map_type: MapType::Hash,
        key_size: std::mem::size_of::<K>() as u32,
        value_size: std::mem::size_of::<EqBits>() as u32,
        max_entries,
        flags: 0,
        entries,
    }
}

pub(super) fn eq_entries(map: EqMap) -> BTreeMap<Vec<u8>, Vec<u8>> {
    map.0
        .into_iter()
        .map(|(k, v)| (k, bytes_of(&v).to_vec()))
        .collect()
}

pub(super) fn array_map<V: bytemuck::Pod>(name: &'static str, values: &[V]) -> MapContents {
    let entries = values
        .iter()
        .enumerate()
        .map(|(i, v)| ((i as u32).to_le_bytes().to_vec(), bytes_of(v).to_vec()))
        .collect();
    MapContents {
        name,
        map_type: MapType::Array,
        key_size: 4,
        value_size: std::mem::size_of::<V>() as u32,
        max_entries: (values.len() as u32).max(1),
        flags: 0,
        entries,
    }
}
