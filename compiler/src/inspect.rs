//! `tracee-compile inspect`: an image decoded back into readable filters. Every map entry
//! is shown with the policies whose bits it sets; `filters` restates each policy's filters
//! as the kernel will apply them (the round-trip test compares them with the input), and
//! `explain` says for each rule which filters run in the kernel and which in userspace.

use std::collections::BTreeMap;

use bytemuck::{Pod, pod_read_unaligned};
use schema::abi::{
    self, EqBits, RangeEntry, context_field as cf, scope_bool as sb, scope_dim as sd,
};
use schema::image::{Image, MapSection};
use serde::Serialize;

use crate::encode::SCOPE_EVENT;

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub header: Header,
    pub policies: Vec<PolicyView>,
    pub events: Vec<EventView>,
    pub probes: Vec<String>,
    pub maps: Vec<MapView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub format_version: u32,
    pub bytes: usize,
    pub abi_hash: String,
    pub abi_matches: bool,
    pub catalog_hash: String,
    pub catalog_matches: bool,
    /// Kernel memory the maps reserve: (key + value) x max entries, summed.
    pub kernel_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    pub id: u8,
    pub name: String,
    pub description: String,
    pub actions: Vec<String>,
    /// The policy's filters as the maps encode them (canonical statements).
    pub filters: Vec<String>,
    /// The scope dimensions the kernel checks for this policy (`global` when none).
    pub scope_kernel: Vec<String>,
    /// Per rule: what the kernel decides and what userspace does.
    pub explain: Vec<RuleExplain>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleExplain {
    pub event: String,
    pub kernel: Vec<String>,
    pub userspace: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    pub id: u32,
    pub name: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct MapView {
    pub name: String,
    pub map_type: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub entry_count: usize,
    pub kernel_bytes: u64,
    pub entries: Vec<EntryView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryView {
    pub key: String,
    pub value: String,
}

/// The bit of policy `p`; none for ids past 63 (a damaged or foreign image may claim them).
pub fn bit(p: usize) -> u64 {
    u32::try_from(p)
        .ok()
        .and_then(|p| 1u64.checked_shl(p))
        .unwrap_or(0)
}

/// Names of the policies whose bits are set.
fn names(bits: u64, policies: &[String]) -> String {
    let list: Vec<&str> = (0..64)
        .filter(|i| bits & bit(*i) != 0)
        .map(|i| policies.get(i).map_or("?", String::as_str))
        .collect();
    if list.is_empty() {
        "-".to_owned()
    } else {
        list.join(",")
    }
}

pub fn read<T: Pod>(bytes: &[u8]) -> Option<T> {
    (bytes.len() == std::mem::size_of::<T>()).then(|| pod_read_unaligned(bytes))
}

fn mount_ns(ns: u64) -> String {
    match ns {
        0 => String::new(),
        1 => "host:".to_owned(),
        n => format!("{n}:"),
    }
}

pub const SCOPE_DIM_NAMES: [&str; sd::COUNT] = [
    "uid",
    "pid",
    "mntns",
    "pidns",
    "uts",
    "comm",
    "tree",
    "executable",
];
pub const SCOPE_BOOL_NAMES: [&str; sb::COUNT] =
    ["container", "new-pid", "new-container", "container-started"];

/// The derived-event handlers of a syscall gate, by the families they build
/// (`security_file_open`, `magic_write+dropped_executable`).
pub fn handler_names(bits: u64) -> String {
    let mut families: Vec<String> = Vec::new();
    for (_, bit) in abi::derived::ALL {
        if bits & bit == 0 {
            continue;
        }
        let events: Vec<&str> = schema::hooks::SOURCES
            .iter()
            .filter(|s| s.handler == *bit)
            .map(|s| s.event)
            .collect();
        families.push(events.join("+"));
    }
    families.join(",")
}

/// A rule field id as the user writes it (`args.pathname`, `retval`, `comm`).
pub fn field_name(event: u32, field: u16) -> String {
    if field == abi::FIELD_RETVAL {
        return "retval".to_owned();
    }
    if field < abi::FIELD_RETVAL {
        let arg = schema::catalog::event_by_id(event).and_then(|e| e.arg_field(field));
        return arg.map_or_else(|| format!("args.{field}"), |a| format!("args.{a}"));
    }
    if let Some(index) = field
        .checked_sub(abi::FIELD_MASKED_BASE)
        .filter(|i| *i < abi::FIELD_RETVAL)
    {
        return format!("{} (low bits)", field_name(event, index));
    }
    let context: BTreeMap<u16, &str> = [
        (cf::TIMESTAMP, "timestamp"),
        (cf::PROCESSOR_ID, "processorId"),
        (cf::PID, "pid"),
        (cf::TID, "tid"),
        (cf::PPID, "ppid"),
        (cf::HOST_TID, "hostTid"),
        (cf::HOST_PID, "hostPid"),
        (cf::HOST_PPID, "hostParentProcessId"),
        (cf::UID, "uid"),
        (cf::MNTNS, "mntns"),
        (cf::PIDNS, "pidns"),
        (cf::COMM, "comm"),
        (cf::HOST_NAME, "hostName"),
        (cf::CGROUP_ID, "cgroupId"),
        (cf::CONTAINER, "container"),
        (cf::HOST, "host"),
        (cf::SYSCALL, "syscall"),
    ]
    .into_iter()
    .collect();
    context
        .get(&field)
        .map_or_else(|| format!("field{field}"), |n| (*n).to_owned())
}

pub fn event_name(id: u32) -> String {
    if let Some(chunk) = id.checked_sub(abi::DETECT_PSEUDO_BASE) {
        return format!("detections#{chunk}");
    }
    schema::catalog::event_by_id(id).map_or_else(|| format!("event{id}"), |e| e.name.to_owned())
}

/// The value of an integer key as the user wrote it.
fn int_text(value: u64, signed: bool, field: u16) -> String {
    if field == cf::SYSCALL {
        return event_name(value as u32);
    }
    if signed {
        (value as i64).to_string()
    } else {
        value.to_string()
    }
}

fn range_text(start: u64, signed: bool) -> String {
    if signed {
        ((start ^ (1 << 63)) as i64).to_string()
    } else {
        start.to_string()
    }
}

/// Per-policy inclusive intervals out of an interval table: (policy, low, high-or-max).
pub fn intervals(table: &[RangeEntry], signed: bool) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for policy in 0..64 {
        let bit = bit(policy);
        let mut low: Option<u64> = None;
        let mut high: Option<String> = None;
        for (i, entry) in table.iter().enumerate() {
            if entry.bits & bit != 0 {
                low.get_or_insert(entry.start);
                high = Some(match table.get(i + 1) {
                    Some(next) => range_text(next.start.wrapping_sub(1), signed),
                    None => "max".to_owned(),
                });
            }
        }
        if let (Some(low), Some(high)) = (low, high) {
            out.push((policy, range_text(low, signed), high));
        }
    }
    out
}

struct Maps<'a> {
    image: &'a Image,
}

impl<'a> Maps<'a> {
    fn get(&self, name: &str) -> Option<&'a MapSection> {
        self.image.map(name)
    }

    fn values<T: Pod>(&self, name: &str) -> Vec<T> {
        self.get(name).map_or_else(Vec::new, |m| {
            m.entries.iter().filter_map(|(_, v)| read(v)).collect()
        })
    }

    fn entries<K: Pod, V: Pod>(&self, name: &str) -> Vec<(K, V)> {
        self.get(name).map_or_else(Vec::new, |m| {
            m.entries
                .iter()
                .filter_map(|(k, v)| Some((read::<K>(k)?, read::<V>(v)?)))
                .collect()
        })
    }
}

/// Canonical filter statements per policy, read from the maps. `crate::inspect::expected`
/// states the same from the IR, in the same words.
pub fn filters(image: &Image) -> Vec<Vec<String>> {
    let maps = Maps { image };
    let count = image.meta.policies.len();
    let mut out: Vec<Vec<String>> = vec![Vec::new(); count];
    let mut push = |bits: u64, statement: String| {
        for (p, list) in out.iter_mut().enumerate() {
            if bits & bit(p) != 0 {
                list.push(statement.clone());
            }
        }
    };
    let config: Option<abi::ScopeConfig> = maps.values("scope_config").into_iter().next();
    if let Some(c) = config {
        let scope_ranges: Vec<RangeEntry> = maps.values("scope_ranges");
        for (dim, name) in SCOPE_DIM_NAMES.iter().enumerate() {
            push(
                c.eq_match_missing[dim] & !c.ranged[dim],
                format!("scope {name} matches unlisted values"),
            );
            if c.ranged[dim] != 0 {
                let first = c.range_first[dim] as usize;
                let table: Vec<RangeEntry> = scope_ranges
                    .iter()
                    .skip(first)
                    .take(c.range_count[dim] as usize)
                    .copied()
                    .collect();
                for (p, low, high) in intervals(&table, false) {
                    push(bit(p), format!("scope {name} in {low}..={high}"));
                }
            }
        }
        for (dim, name) in SCOPE_BOOL_NAMES.iter().enumerate() {
            push(
                c.bool_enabled[dim] & c.bool_expect[dim],
                format!("scope {name} = true"),
            );
            push(
                c.bool_enabled[dim] & !c.bool_expect[dim],
                format!("scope {name} = false"),
            );
        }
        push(c.follow, "scope follow".to_owned());
        let all = if count >= 64 {
            u64::MAX
        } else {
            (1u64 << count) - 1
        };
        push(all & !c.policies, "scope never matches".to_owned());
    }
    let mut eq_statements = |statement: &dyn Fn(&str) -> String, bits: EqBits| {
        push(bits.eq, statement("="));
        push(bits.ne, statement("!="));
    };
    for (map, name, width) in [
        ("scope_uid", "uid", 4),
        ("scope_pid", "pid", 4),
        ("scope_tree", "tree", 4),
        ("scope_mntns", "mntns", 8),
        ("scope_pidns", "pidns", 8),
    ] {
        for (key, bits) in maps.get(map).map_or_else(Vec::new, |m| m.entries.clone()) {
            let Some(bits) = read::<EqBits>(&bits) else {
                continue;
            };
            let value = if width == 4 {
                read::<u32>(&key).map(u64::from)
            } else {
                read::<u64>(&key)
            };
            if let Some(value) = value {
                eq_statements(&|op| format!("scope {name} {op} {value}"), bits);
            }
        }
    }
    for (map, name) in [("scope_uts", "uts"), ("scope_comm", "comm")] {
        for (key, bits) in maps.get(map).map_or_else(Vec::new, |m| m.entries.clone()) {
            let Some(bits) = read::<EqBits>(&bits) else {
                continue;
            };
            let text = schema::abi::c_str(&key);
            eq_statements(&|op| format!("scope {name} {op} {text}"), bits);
        }
    }
    for (key, bits) in maps.entries::<abi::ScopeExeKey, EqBits>("scope_exe") {
        let text = format!(
            "{}{}",
            mount_ns(key.mount_ns),
            schema::abi::c_str(&key.path)
        );
        eq_statements(&|op| format!("scope executable {op} {text}"), bits);
    }
    // Rules. A pseudo event's bits are (detector, policy) pairs (docs/detectors.md): each
    // pair's statements go to its policy, as `detect DETECTOR from BASE ...`.
    let pairs = Pairs::of(image);
    let mut rule_push = |event: u32, bits: u64, rest: &str| {
        for (policies, subject) in pairs.owners(event, bits) {
            push(policies, format!("{subject}{rest}"));
        }
    };
    let fname = |event: u32, field: u16| field_name(pairs.base(event), field);
    let fields: BTreeMap<(u32, u16), abi::FieldConfig> = maps
        .entries::<abi::FieldKey, abi::FieldConfig>("rule_fields")
        .into_iter()
        .map(|(k, v)| ((k.event, k.field), v))
        .collect();
    for (id, config) in maps.entries::<u32, abi::EventConfig>("events") {
        rule_push(id, config.policies & !config.detect_only, "");
    }
    let rule_ranges: Vec<RangeEntry> = maps.values("rule_ranges");
    let contains: Vec<abi::ContainsEntry> = maps.values("rule_contains");
    for ((event, field), config) in &fields {
        let prefix = format!(" {}", fname(*event, *field));
        let signed = config.kinds & abi::FIELD_KIND_SIGNED != 0;
        rule_push(
            *event,
            config.match_missing & !config.ranged,
            &format!("{prefix} matches unlisted values"),
        );
        if config.ranged != 0 {
            let table: Vec<RangeEntry> = rule_ranges
                .iter()
                .skip(config.range_first as usize)
                .take(config.range_count as usize)
                .copied()
                .collect();
            for (p, low, high) in intervals(&table, signed) {
                rule_push(*event, bit(p), &format!("{prefix} in {low}..={high}"));
            }
        }
        for entry in contains
            .iter()
            .skip(config.contains_first as usize)
            .take(config.contains_count as usize)
        {
            let text = schema::abi::c_str(&entry.str);
            rule_push(*event, entry.eq, &format!("{prefix} = *{text}*"));
            rule_push(*event, entry.ne, &format!("{prefix} != *{text}*"));
        }
    }
    let signed_of = |event: u32, field: u16| {
        fields
            .get(&(event, field))
            .is_some_and(|c| c.kinds & abi::FIELD_KIND_SIGNED != 0)
    };
    let mut eq_statements = |event: u32, statement: String, bits: EqBits| {
        rule_push(event, bits.eq, &statement.replacen("{op}", "=", 1));
        rule_push(event, bits.ne, &statement.replacen("{op}", "!=", 1));
    };
    for (key, bits) in maps.entries::<abi::IntKey, EqBits>("rule_int") {
        let value = int_text(key.value, signed_of(key.event, key.field), key.field);
        eq_statements(
            key.event,
            format!(" {} {{op}} {value}", fname(key.event, key.field)),
            bits,
        );
    }
    for (key, bits) in maps.entries::<abi::StrKey, EqBits>("rule_str") {
        let value = schema::abi::c_str(&key.str);
        eq_statements(
            key.event,
            format!(" {} {{op}} {value}", fname(key.event, key.field)),
            bits,
        );
    }
    for (map, suffix) in [("rule_prefix", false), ("rule_suffix", true)] {
        let entries = maps.entries::<abi::LpmStrKey, EqBits>(map);
        for (key, bits) in &entries {
            let len = (key.prefixlen / 8).saturating_sub(abi::LPM_HEADER_BYTES) as usize;
            let pattern = &key.str[..len.min(key.str.len())];
            // Undo the propagation: a key's own bits are those no shorter stored prefix has.
            let mut own = *bits;
            for (other, other_bits) in &entries {
                let other_len =
                    (other.prefixlen / 8).saturating_sub(abi::LPM_HEADER_BYTES) as usize;
                if (other.event, other.field) == (key.event, key.field)
                    && other_len < len
                    && pattern.starts_with(&other.str[..other_len.min(other.str.len())])
                {
                    own.eq &= !other_bits.eq;
                    own.ne &= !other_bits.ne;
                }
            }
            let text = if suffix {
                let reversed: Vec<u8> = pattern.iter().rev().copied().collect();
                format!("*{}", String::from_utf8_lossy(&reversed))
            } else {
                format!("{}*", String::from_utf8_lossy(pattern))
            };
            eq_statements(
                key.event,
                format!(" {} {{op}} {text}", fname(key.event, key.field)),
                own,
            );
        }
    }
    for d in &image.meta.detectors {
        for base in &d.bases {
            for c in &base.loader {
                rule_push(
                    d.event_id,
                    u64::MAX,
                    &format!(" from {} loader: {}", event_name(base.event), c.condition),
                );
            }
        }
    }
    for f in &image.meta.userspace_filters {
        let what = if f.event == SCOPE_EVENT {
            "scope".to_owned()
        } else {
            format!("rule {}", pairs.name(f.event))
        };
        push(
            bit(usize::from(f.policy)),
            format!(
                "userspace {what} {} {} {}",
                f.field,
                f.op,
                f.values.join(",")
            ),
        );
    }
    for list in &mut out {
        list.sort();
        list.dedup();
    }
    out
}

/// The detection pairs of an image: which pseudo event is which base event's chunk, and
/// which (detector, policy) pair each of its bits is.
struct Pairs<'a> {
    image: &'a Image,
    /// Pseudo event id -> (base event id, chunk).
    chunks: BTreeMap<u32, (u32, abi::DetectChunk)>,
}

impl<'a> Pairs<'a> {
    fn of(image: &'a Image) -> Pairs<'a> {
        let maps = Maps { image };
        let all: Vec<abi::DetectChunk> = maps.values("detect_chunks");
        let mut chunks = BTreeMap::new();
        for (id, c) in maps.entries::<u32, abi::EventConfig>("events") {
            for i in 0..u32::from(c.detect_chunks) {
                let index = c.detect_first.saturating_add(i);
                if let Some(chunk) = all.get(index as usize) {
                    chunks.insert(abi::DETECT_PSEUDO_BASE.saturating_add(index), (id, *chunk));
                }
            }
        }
        Pairs { image, chunks }
    }

    /// The event whose fields `event`'s rules read (a pseudo event's base event).
    fn base(&self, event: u32) -> u32 {
        self.chunks.get(&event).map_or(event, |(base, _)| *base)
    }

    /// An event's or detector's name.
    fn name(&self, event: u32) -> String {
        self.image
            .meta
            .detectors
            .iter()
            .find(|d| d.event_id == event)
            .map_or_else(|| event_name(event), |d| d.name.clone())
    }

    /// The pairs `bits` of a pseudo event's rules are: `detector/policy, ...`.
    fn pair_names(&self, event: u32, bits: u64, policies: &[String]) -> String {
        let Some((base, chunk)) = self.chunks.get(&event) else {
            return names(bits, policies);
        };
        let listed: Vec<String> = (0..abi::DETECT_PAIRS)
            .filter(|b| bits & (1u64 << b) != 0)
            .map(|b| {
                let what = if chunk.event[b] == *base {
                    event_name(*base)
                } else {
                    self.name(chunk.event[b])
                };
                format!("{what}/{}", names(chunk.policy[b], policies))
            })
            .collect();
        if listed.is_empty() {
            "-".to_owned()
        } else {
            listed.join(",")
        }
    }

    /// Who `bits` of `event`'s rules are: (policies, subject of the statement). A detector's
    /// own event (its loader conditions): every policy that selects it.
    fn owners(&self, event: u32, bits: u64) -> Vec<(u64, String)> {
        if let Some(d) = self
            .image
            .meta
            .detectors
            .iter()
            .find(|d| d.event_id == event)
        {
            let policies = self
                .chunks
                .values()
                .flat_map(|(_, c)| c.event.iter().zip(c.policy.iter()))
                .filter(|(e, _)| **e == event)
                .fold(0, |acc, (_, p)| acc | p);
            return vec![(policies & bits, format!("detect {}", d.name))];
        }
        let Some((base, chunk)) = self.chunks.get(&event) else {
            return vec![(bits, format!("rule {}", event_name(event)))];
        };
        (0..abi::DETECT_PAIRS)
            .filter(|b| bits & (1u64 << b) != 0)
            .map(|b| {
                let subject = if chunk.event[b] == *base {
                    format!("rule {}", event_name(*base))
                } else {
                    format!(
                        "detect {} from {}",
                        self.name(chunk.event[b]),
                        event_name(*base)
                    )
                };
                (chunk.policy[b], subject)
            })
            .collect()
    }
}

/// Per policy: the scope dimensions the kernel checks.
fn scope_kernel(image: &Image) -> Vec<Vec<String>> {
    let maps = Maps { image };
    let config: Option<abi::ScopeConfig> = maps.values("scope_config").into_iter().next();
    (0..image.meta.policies.len())
        .map(|p| {
            let bit = bit(p);
            let Some(c) = config else { return Vec::new() };
            let mut dims: Vec<String> = SCOPE_DIM_NAMES
                .iter()
                .enumerate()
                .filter(|(d, _)| c.eq_enabled[*d] & bit != 0)
                .map(|(d, name)| {
                    if c.ranged[d] & bit != 0 {
                        format!("{name} (equality map, interval table)")
                    } else {
                        format!("{name} (equality map)")
                    }
                })
                .collect();
            dims.extend(
                SCOPE_BOOL_NAMES
                    .iter()
                    .enumerate()
                    .filter(|(d, _)| c.bool_enabled[*d] & bit != 0)
                    .map(|(_, name)| format!("{name} (task state)")),
            );
            if c.follow & bit != 0 {
                dims.push("follow (inherited at fork)".to_owned());
            }
            if c.policies & bit == 0 {
                dims.push("never matches (contradictory scope)".to_owned());
            }
            if dims.is_empty() {
                dims.push("global".to_owned());
            }
            dims
        })
        .collect()
}

/// Per policy and rule: the fields the kernel decides, and the userspace filters. A
/// detection (docs/detectors.md) is one rule of its policy: what the kernel decides of it on
/// each base event, and the detector's conditions the loader decides.
fn explain(image: &Image) -> Vec<Vec<RuleExplain>> {
    let maps = Maps { image };
    let pairs = Pairs::of(image);
    let fields: BTreeMap<(u32, u16), abi::FieldConfig> = maps
        .entries::<abi::FieldKey, abi::FieldConfig>("rule_fields")
        .into_iter()
        .map(|(k, v)| ((k.event, k.field), v))
        .collect();
    let events = maps.entries::<u32, abi::EventConfig>("events");
    let config_of = |id: u32| events.iter().find(|(e, _)| *e == id).map(|(_, c)| *c);
    // The fields `bits` of `event`'s rules filter.
    let kernel = |event: u32, bits: u64| -> Vec<String> {
        let Some(c) = config_of(event) else {
            return Vec::new();
        };
        c.fields[..usize::from(c.field_count).min(abi::MAX_EVENT_FIELDS)]
            .iter()
            .filter(|f| {
                fields
                    .get(&(event, **f))
                    .is_some_and(|fc| fc.enabled & bits != 0)
            })
            .map(|f| {
                let kinds = fields.get(&(event, *f)).map_or(0, |fc| fc.kinds);
                format!(
                    "{} ({})",
                    field_name(pairs.base(event), *f),
                    kinds_text(kinds)
                )
            })
            .collect()
    };
    // The anchors a base event's path fields have, for the policies it anchors.
    let anchors = maps.entries::<abi::AnchorKey, u32>("path_anchors");
    let anchored = |event: u32, bit: u64| -> Vec<String> {
        if config_of(event).is_none_or(|c| c.anchored & bit == 0) {
            return Vec::new();
        }
        let mut fields: Vec<u16> = anchors
            .iter()
            .filter(|(a, _)| a.event == event)
            .map(|(a, _)| a.field)
            .collect();
        fields.dedup();
        fields
            .into_iter()
            .map(|f| {
                let count = anchors
                    .iter()
                    .filter(|(a, _)| a.event == event && a.field == f)
                    .count();
                format!(
                    "{} (path anchors, {count}: first and last components, before the path is built)",
                    field_name(event, f)
                )
            })
            .collect()
    };
    let userspace_of = |p: usize, event: u32| -> Vec<String> {
        image
            .meta
            .userspace_filters
            .iter()
            .filter(|u| usize::from(u.policy) == p && (u.event == event || u.event == SCOPE_EVENT))
            .map(|u| format!("{}{}{}: {}", u.field, u.op, u.values.join(","), u.reason))
            .collect()
    };
    (0..image.meta.policies.len())
        .map(|p| {
            let bit = bit(p);
            let mut rules: Vec<RuleExplain> = events
                .iter()
                .filter(|(id, c)| {
                    *id < abi::DETECT_PSEUDO_BASE && c.policies & bit & !c.detect_only != 0
                })
                .map(|(id, _)| RuleExplain {
                    event: event_name(*id),
                    kernel: [anchored(*id, bit), kernel(*id, bit)].concat(),
                    userspace: userspace_of(p, *id),
                })
                .collect();
            for (pseudo, (base, chunk)) in &pairs.chunks {
                for b in 0..abi::DETECT_PAIRS {
                    if chunk.policy[b] & bit == 0 {
                        continue;
                    }
                    let shown = chunk.event[b];
                    let mut userspace = userspace_of(p, shown);
                    let event = if shown == *base {
                        event_name(*base)
                    } else {
                        let loader = image
                            .meta
                            .detectors
                            .iter()
                            .filter(|d| d.event_id == shown)
                            .flat_map(|d| &d.bases)
                            .filter(|db| db.event == *base)
                            .flat_map(|db| &db.loader)
                            .map(|c| format!("detector condition `{}`: {}", c.condition, c.reason));
                        userspace.extend(loader);
                        format!(
                            "{} (detected from {})",
                            pairs.name(shown),
                            event_name(*base)
                        )
                    };
                    rules.push(RuleExplain {
                        event,
                        kernel: [anchored(*base, bit), kernel(*pseudo, 1u64 << b)].concat(),
                        userspace,
                    });
                }
            }
            rules
        })
        .collect()
}

pub fn kinds_text(kinds: u32) -> String {
    let mut parts = Vec::new();
    for (bit, name) in [
        (abi::FIELD_KIND_INT, "integer map"),
        (abi::FIELD_KIND_EXACT, "exact string map"),
        (abi::FIELD_KIND_PREFIX, "prefix trie"),
        (abi::FIELD_KIND_SUFFIX, "suffix trie"),
        (abi::FIELD_KIND_CONTAINS, "substring scan"),
        (abi::FIELD_KIND_ARRAY, "each entry of the array"),
    ] {
        if kinds & bit != 0 {
            parts.push(name);
        }
    }
    parts.join(", ")
}

/// Readable entries of one map.
fn entries(map: &MapSection, policies: &[String], image: &Image) -> Vec<EntryView> {
    let maps = Maps { image };
    let pairs = Pairs::of(image);
    // Bits of a pseudo event's rules are (detector, policy) pairs, not policies.
    let who = |event: Option<u32>, bits: u64| match event {
        Some(e) if e >= abi::DETECT_PSEUDO_BASE => pairs.pair_names(e, bits, policies),
        _ => names(bits, policies),
    };
    let eq_text = |event: Option<u32>, v: &[u8]| {
        read::<EqBits>(v).map_or_else(
            || hex(v),
            |b| format!("= {}  != {}", who(event, b.eq), who(event, b.ne)),
        )
    };
    let signed_of = |event: u32, field: u16| {
        maps.entries::<abi::FieldKey, abi::FieldConfig>("rule_fields")
            .iter()
            .any(|(k, c)| {
                k.event == event && k.field == field && c.kinds & abi::FIELD_KIND_SIGNED != 0
            })
    };
    map.entries
        .iter()
        .map(|(k, v)| {
            let key_event = match map.name.as_str() {
                "rule_fields" | "rule_int" | "rule_str" => read::<u32>(&k[..k.len().min(4)]),
                "rule_prefix" | "rule_suffix" => read::<abi::LpmStrKey>(k).map(|l| l.event),
                _ => None,
            };
            let key = match map.name.as_str() {
                "scope_uid" | "scope_pid" | "scope_tree" => read::<u32>(k).map(|x| x.to_string()),
                "scope_mntns" | "scope_pidns" => read::<u64>(k).map(|x| x.to_string()),
                "scope_uts" | "scope_comm" => Some(schema::abi::c_str(k)),
                "scope_exe" => read::<abi::ScopeExeKey>(k)
                    .map(|e| format!("{}{}", mount_ns(e.mount_ns), schema::abi::c_str(&e.path))),
                "events" | "syscall_gate" => read::<u32>(k).map(event_name),
                "rule_fields" => read::<abi::FieldKey>(k)
                    .map(|f| format!("{} {}", event_name(f.event), field_name(pairs.base(f.event), f.field))),
                "rule_int" => read::<abi::IntKey>(k).map(|i| {
                    format!(
                        "{} {} {}",
                        event_name(i.event),
                        field_name(pairs.base(i.event), i.field),
                        int_text(i.value, signed_of(i.event, i.field), i.field)
                    )
                }),
                "rule_str" => read::<abi::StrKey>(k).map(|s| {
                    format!(
                        "{} {} {}",
                        event_name(s.event),
                        field_name(pairs.base(s.event), s.field),
                        schema::abi::c_str(&s.str)
                    )
                }),
                "path_anchors" => read::<abi::AnchorKey>(k).map(|a| {
                    format!(
                        "{} {} {}",
                        event_name(a.event),
                        field_name(a.event, a.field),
                        anchor_text(&a)
                    )
                }),
                "rule_prefix" | "rule_suffix" => read::<abi::LpmStrKey>(k).map(|s| {
                    let len = ((s.prefixlen / 8).saturating_sub(abi::LPM_HEADER_BYTES) as usize)
                        .min(s.str.len());
                    let mut text: Vec<u8> = s.str[..len].to_vec();
                    let shown = if map.name == "rule_suffix" {
                        text.reverse();
                        format!("*{}", String::from_utf8_lossy(&text))
                    } else {
                        format!("{}*", String::from_utf8_lossy(&text))
                    };
                    format!(
                        "{} {} {shown}",
                        event_name(s.event),
                        field_name(pairs.base(s.event), s.field)
                    )
                }),
                _ => read::<u32>(k).map(|i| format!("[{i}]")),
            }
            .unwrap_or_else(|| hex(k));
            let value = match map.name.as_str() {
                "scope_config" => {
                    read::<abi::ScopeConfig>(v).map(|c| scope_config_text(&c, policies))
                }
                "syscall_gate" => read::<abi::SyscallGate>(v).map(|g| {
                    format!(
                        "policies {}  {} {}  flags {:#x}{}",
                        names(g.policies, policies),
                        if g.derived_handlers == 0 {
                            "derived".to_owned()
                        } else {
                            handler_names(g.derived_handlers)
                        },
                        names(g.derived_policies, policies),
                        g.flags,
                        gate_ret_text(g.flags)
                    )
                }),
                "events" => read::<abi::EventConfig>(v).map(|c| {
                    let id = read::<u32>(k).unwrap_or(0);
                    let fields: Vec<String> = c.fields
                        [..usize::from(c.field_count).min(abi::MAX_EVENT_FIELDS)]
                        .iter()
                        .map(|f| field_name(pairs.base(id), *f))
                        .collect();
                    if id >= abi::DETECT_PSEUDO_BASE {
                        return format!(
                            "{} detection pairs on {}  fields [{}]",
                            c.policies.count_ones(),
                            event_name(pairs.base(id)),
                            fields.join(", ")
                        );
                    }
                    let mut text = format!(
                        "policies {}  userspace {}  fields [{}]",
                        names(c.policies, policies),
                        names(c.userspace, policies),
                        fields.join(", ")
                    );
                    if c.anchored != 0 {
                        text.push_str(&format!(
                            "  path anchors for {}",
                            names(c.anchored, policies)
                        ));
                    }
                    if c.detect != 0 {
                        text.push_str(&format!(
                            "  detections for {} (of them without a rule of their own: {})  chunks {}..{}",
                            names(c.detect, policies),
                            names(c.detect_only, policies),
                            c.detect_first,
                            c.detect_first + u32::from(c.detect_chunks)
                        ));
                    }
                    text
                }),
                "path_anchors" => Some("anchor".to_owned()),
                "detect_chunks" => read::<abi::DetectChunk>(v).map(|c| {
                    (0..abi::DETECT_PAIRS)
                        .filter(|b| c.policy[*b] != 0)
                        .map(|b| format!("{} for {}", pairs.name(c.event[b]), names(c.policy[b], policies)))
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
                "rule_fields" => read::<abi::FieldConfig>(v).map(|c| {
                    format!(
                        "enabled {}  unlisted-match {}  ranged {}  {}",
                        who(key_event, c.enabled),
                        who(key_event, c.match_missing),
                        who(key_event, c.ranged),
                        kinds_text(c.kinds)
                    )
                }),
                "scope_ranges" | "rule_ranges" => read::<RangeEntry>(v)
                    .map(|r| format!("from {}: {}", r.start, names(r.bits, policies))),
                "rule_contains" => read::<abi::ContainsEntry>(v).map(|c| {
                    format!(
                        "*{}*  = {}  != {}",
                        schema::abi::c_str(&c.str),
                        names(c.eq, policies),
                        names(c.ne, policies)
                    )
                }),
                _ => Some(eq_text(key_event, v)),
            }
            .unwrap_or_else(|| hex(v));
            EntryView { key, value }
        })
        .collect()
}

fn scope_config_text(c: &abi::ScopeConfig, policies: &[String]) -> String {
    let mut parts = vec![format!("policies {}", names(c.policies, policies))];
    for (dim, name) in SCOPE_DIM_NAMES.iter().enumerate() {
        if c.eq_enabled[dim] != 0 {
            parts.push(format!(
                "{name}: enabled {} unlisted-match {} ranged {}",
                names(c.eq_enabled[dim], policies),
                names(c.eq_match_missing[dim], policies),
                names(c.ranged[dim], policies)
            ));
        }
    }
    for (dim, name) in SCOPE_BOOL_NAMES.iter().enumerate() {
        if c.bool_enabled[dim] != 0 {
            parts.push(format!(
                "{name}: true for {} false for {}",
                names(c.bool_enabled[dim] & c.bool_expect[dim], policies),
                names(c.bool_enabled[dim] & !c.bool_expect[dim], policies)
            ));
        }
    }
    if c.follow != 0 {
        parts.push(format!("follow {}", names(c.follow, policies)));
    }
    parts.join("; ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn report(image: &Image, bytes: usize) -> Report {
    let policy_names: Vec<String> = image.meta.policies.iter().map(|p| p.name.clone()).collect();
    let filters = filters(image);
    let explain = explain(image);
    let scopes = scope_kernel(image);
    let policies = image
        .meta
        .policies
        .iter()
        .enumerate()
        .map(|(i, p)| PolicyView {
            id: p.id,
            name: p.name.clone(),
            description: p.description.clone(),
            actions: p.actions.clone(),
            filters: filters.get(i).cloned().unwrap_or_default(),
            explain: explain.get(i).cloned().unwrap_or_default(),
            scope_kernel: scopes.get(i).cloned().unwrap_or_default(),
        })
        .collect();
    let maps: Vec<MapView> = image
        .maps
        .iter()
        .map(|m| MapView {
            name: m.name.clone(),
            map_type: m.map_type.kernel_name().to_owned(),
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            flags: m.flags,
            entry_count: m.entries.len(),
            kernel_bytes: u64::from(m.key_size + m.value_size) * u64::from(m.max_entries),
            entries: entries(m, &policy_names, image),
        })
        .collect();
    Report {
        header: Header {
            format_version: schema::image::FORMAT_VERSION,
            bytes,
            abi_hash: format!("{:016x}", image.abi_hash),
            abi_matches: image.abi_hash == abi::abi_hash(),
            catalog_hash: format!("{:016x}", image.catalog_hash),
            catalog_matches: image.catalog_hash == schema::catalog::catalog_hash(),
            kernel_bytes: maps.iter().map(|m| m.kernel_bytes).sum(),
        },
        policies,
        events: image
            .meta
            .events
            .iter()
            .map(|e| EventView {
                id: e.id,
                name: e.name.clone(),
            })
            .collect(),
        probes: image.meta.probes.clone(),
        maps,
    }
}

/// The human view of a report.
pub fn human(report: &Report, explain: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let h = &report.header;
    let _ = writeln!(
        out,
        "image: format {}, {} bytes, kernel maps reserve {} bytes",
        h.format_version, h.bytes, h.kernel_bytes
    );
    let _ = writeln!(
        out,
        "  abi {} ({}), catalog {} ({})",
        h.abi_hash,
        if h.abi_matches {
            "matches this build"
        } else {
            "DIFFERS from this build"
        },
        h.catalog_hash,
        if h.catalog_matches {
            "matches this build"
        } else {
            "DIFFERS from this build"
        }
    );
    let _ = writeln!(out, "\npolicies:");
    for p in &report.policies {
        let _ = writeln!(
            out,
            "  [{}] {}: {}{}",
            p.id,
            p.name,
            p.description,
            if p.actions.is_empty() {
                String::new()
            } else {
                format!(" (actions: {})", p.actions.join(", "))
            }
        );
        if explain {
            let _ = writeln!(
                out,
                "      scope, in the kernel: {}",
                p.scope_kernel.join(", ")
            );
            for rule in &p.explain {
                let _ = writeln!(out, "      {}", rule.event);
                for k in &rule.kernel {
                    let _ = writeln!(out, "        kernel:    {k}");
                }
                for u in &rule.userspace {
                    let _ = writeln!(out, "        userspace: {u}");
                }
                if rule.kernel.is_empty() && rule.userspace.is_empty() {
                    let _ = writeln!(out, "        kernel:    every event in scope (no filters)");
                }
            }
        }
    }
    let events: Vec<String> = report
        .events
        .iter()
        .map(|e| format!("{} ({})", e.name, e.id))
        .collect();
    let _ = writeln!(out, "\nevents: {}", events.join(", "));
    let _ = writeln!(out, "probes: {}", report.probes.join(", "));
    let _ = writeln!(out, "\nmaps:");
    for m in &report.maps {
        let _ = writeln!(
            out,
            "  {} ({}, {}/{} entries, key {} B, value {} B, {} bytes)",
            m.name,
            m.map_type,
            m.entry_count,
            m.max_entries,
            m.key_size,
            m.value_size,
            m.kernel_bytes
        );
        for e in &m.entries {
            let _ = writeln!(out, "    {}  ->  {}", e.key, e.value);
        }
    }
    out
}

/// The return values a syscall's exit turns away on the gate (`GATE_NO_*_RET`).
pub fn gate_ret_text(flags: u32) -> String {
    let classes: Vec<&str> = [
        (abi::GATE_NO_NEGATIVE_RET, "negative"),
        (abi::GATE_NO_ZERO_RET, "zero"),
        (abi::GATE_NO_POSITIVE_RET, "positive"),
    ]
    .iter()
    .filter(|(bit, _)| flags & bit != 0)
    .map(|(_, name)| *name)
    .collect();
    let mut text = if classes.is_empty() {
        String::new()
    } else {
        format!(" (exit turns away {} return values)", classes.join(", "))
    };
    if flags & abi::GATE_AT_EXIT != 0 {
        text.push_str(" (no entry hook: arguments read at the exit)");
    }
    text
}

/// A path anchor as what it asks of the path: `first component = etc`, ...
pub(crate) fn anchor_text(a: &abi::AnchorKey) -> String {
    let name = String::from_utf8_lossy(&a.name[..usize::from(a.len).min(a.name.len())]);
    match a.kind {
        abi::anchor::TOP => format!("first component = {name}"),
        abi::anchor::LAST => format!("last component = {name}"),
        abi::anchor::LAST_SUFFIX => format!("last component = *{name}"),
        other => format!("anchor kind {other}: {name}"),
    }
}
