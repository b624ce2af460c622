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
use schema::abi::{self, EqBits, RangeEntry};
use schema::catalog::{ArgType, EventKind};
use schema::image::MapType;

use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{ContextField, Filter, MountNs, Op, Policy, RuleField, ScopeKey, StrMatch, Value};

pub use schema::image::BPF_F_NO_PREALLOC;

/// The process-tree map also receives every descendant at fork: room for them.
pub const TREE_RUNTIME_ENTRIES: u32 = 65_536;
/// `contains` patterns per field are tried one by one in the kernel: a bounded loop.
pub const MAX_CONTAINS_PER_FIELD: usize = 32;
/// Up to this many syscall events get their own tracepoints; more use the raw hooks.
pub const MAX_PER_SYSCALL_PROBES: usize = 8;

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

fn bit(policy: &Policy) -> u64 {
    1u64 << policy.id
}

/// Equality entries of one dimension, keyed by the encoded key.
#[derive(Default)]
struct EqMap(BTreeMap<Vec<u8>, EqBits>);

impl EqMap {
    fn add(&mut self, key: Vec<u8>, op: Op, bit: u64) {
        let entry = self.0.entry(key).or_insert(EqBits { eq: 0, ne: 0 });
        match op {
            Op::Ne => entry.ne |= bit,
            _ => entry.eq |= bit,
        }
    }
}

/// Inclusive bounds of one policy on one dimension, in the order-preserving u64 encoding.
struct Bounds {
    bit: u64,
    low: u64,
    high: u64,
}

/// The sorted interval table for a set of per-policy bounds.
fn range_table(bounds: &[Bounds]) -> Vec<RangeEntry> {
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
fn ordered(value: i128, signed: bool) -> u64 {
    if signed {
        (value as i64 as u64) ^ (1 << 63)
    } else {
        value as u64
    }
}

/// Equality-map key of an integer: its two's complement bits.
fn raw_int(value: i128) -> u64 {
    value as u64
}

/// A numeric filter set of one policy on one dimension: `=` values, `!=` values, bounds.
struct NumericSet {
    eq: Vec<i128>,
    ne: Vec<i128>,
    low: Option<i128>,
    high: Option<i128>,
}

fn numeric_set<'a>(filters: impl Iterator<Item = (Op, &'a Value)>) -> NumericSet {
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
struct DimState {
    eq: EqMap,
    enabled: u64,
    match_missing: u64,
    ranged: u64,
    bounds: Vec<Bounds>,
}

impl DimState {
    fn new() -> Self {
        DimState {
            eq: EqMap::default(),
            enabled: 0,
            match_missing: 0,
            ranged: 0,
            bounds: Vec::new(),
        }
    }

    fn add_numeric(
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

struct Ctx<'a> {
    diags: &'a mut Diagnostics,
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
pub fn lower(policies: &[Policy], diags: &mut Diagnostics) -> Lowered {
    let mut cx = Ctx { diags };
    let mut userspace = Vec::new();
    let scope = lower_scope(policies, &mut cx, &mut userspace);
    let rules = lower_rules(policies, &mut cx, &mut userspace);
    let mut maps = scope;
    maps.extend(rules.maps);
    Lowered {
        maps,
        userspace,
        events: rules.events,
        probes: rules.probes,
    }
}

fn hash_map<K: bytemuck::Pod>(
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

fn eq_entries(map: EqMap) -> BTreeMap<Vec<u8>, Vec<u8>> {
    map.0
        .into_iter()
        .map(|(k, v)| (k, bytes_of(&v).to_vec()))
        .collect()
}

fn array_map<V: bytemuck::Pod>(name: &'static str, values: &[V]) -> MapContents {
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

fn lower_scope(
    policies: &[Policy],
    cx: &mut Ctx,
    userspace: &mut Vec<UserspaceFilter>,
) -> Vec<MapContents> {
    use abi::{scope_bool as b, scope_dim as d};
    let mut config: abi::ScopeConfig = bytemuck::Zeroable::zeroed();
    let mut dims: Vec<DimState> = (0..d::COUNT).map(|_| DimState::new()).collect();
    for policy in policies {
        let bit = bit(policy);
        let mut bools: [Option<bool>; b::COUNT] = [None; b::COUNT];
        let mut contradiction = false;
        let mut want = |dim: usize, value: bool, bools: &mut [Option<bool>; b::COUNT]| {
            if bools[dim].is_some_and(|v| v != value) {
                contradiction = true;
            }
            bools[dim] = Some(value);
        };
        let of = |key: ScopeKey| policy.scope.iter().filter(move |f| f.key == key);
        let values = |key: ScopeKey| of(key).flat_map(|f| f.values.iter().map(move |v| (f.op, v)));
        for (key, dim, signed_bits) in [
            (ScopeKey::Uid, d::UID, 32),
            (ScopeKey::Pid, d::PID, 32),
            (ScopeKey::MntNs, d::MNTNS, 64),
            (ScopeKey::PidNs, d::PIDNS, 64),
            (ScopeKey::Tree, d::TREE, 32),
        ] {
            let ints: Vec<(Op, &Value)> = values(key)
                .filter(|(_, v)| matches!(v, Value::Int(_)))
                .collect();
            if ints.is_empty() {
                continue;
            }
            let set = numeric_set(ints.into_iter());
            let width = if signed_bits == 32 { 4 } else { 8 };
            let max = if signed_bits == 32 {
                i128::from(u32::MAX)
            } else {
                i128::from(u64::MAX)
            };
            dims[dim].add_numeric(&set, bit, false, (0, max), |v| {
                raw_int(v).to_le_bytes()[..width].to_vec()
            });
        }
        for (op, value) in values(ScopeKey::Pid) {
            if *value == Value::New {
                want(b::NEW_PID, op == Op::Eq, &mut bools);
            }
        }
        for (key, dim, len) in [
            (ScopeKey::Uts, d::UTS, abi::UTS_LEN),
            (ScopeKey::Comm, d::COMM, abi::COMM_LEN),
        ] {
            let strs: Vec<(Op, &Value)> = values(key).collect();
            if strs.is_empty() {
                continue;
            }
            let state = &mut dims[dim];
            state.enabled |= bit;
            let mut has_eq = false;
            for (op, value) in strs {
                let Value::Str(StrMatch::Exact(s)) = value else {
                    continue;
                };
                has_eq |= op == Op::Eq;
                // Longer than the kernel keeps: can never be equal, so no entry (W301 said so).
                if s.len() < len {
                    let mut key = vec![0u8; len];
                    key[..s.len()].copy_from_slice(s.as_bytes());
                    state.eq.add(key, op, bit);
                }
            }
            if !has_eq {
                state.match_missing |= bit;
            }
        }
        let exes: Vec<&Filter<ScopeKey>> = of(ScopeKey::Executable).collect();
        if !exes.is_empty() {
            let state = &mut dims[d::EXE];
            state.enabled |= bit;
            let mut has_eq = false;
            for filter in exes {
                for value in &filter.values {
                    let Value::Executable { mount_ns, path } = value else {
                        continue;
                    };
                    if path.len() >= abi::PATH_MAX {
                        cx.limit(
                            policy,
                            &filter.span,
                            format!(
                                "executable path is {} bytes; the kernel map holds at most {}",
                                path.len(),
                                abi::PATH_MAX - 1
                            ),
                            "use a shorter path (a symlink, or the directory holding the binary)",
                        );
                        continue;
                    }
                    has_eq |= filter.op == Op::Eq;
                    let key = abi::ScopeExeKey {
                        mount_ns: match mount_ns {
                            MountNs::Any => 0,
                            MountNs::Host => 1,
                            MountNs::Id(id) => u64::from(*id),
                        },
                        path: abi::fixed(path.as_bytes()),
                    };
                    state.eq.add(bytes_of(&key).to_vec(), filter.op, bit);
                }
            }
            if !has_eq {
                state.match_missing |= bit;
            }
        }
        for filter in of(ScopeKey::Container) {
            let positive = filter.op == Op::Eq;
            if filter.values.is_empty() {
                want(b::IN_CONTAINER, true, &mut bools);
            }
            for value in &filter.values {
                match value {
                    Value::New => want(b::NEW_CONTAINER, positive, &mut bools),
                    Value::Started => want(b::CONTAINER_STARTED, positive, &mut bools),
                    Value::Str(StrMatch::Exact(id)) => {
                        if positive {
                            want(b::IN_CONTAINER, true, &mut bools);
                        }
                        userspace.push(UserspaceFilter {
                            policy: policy.id,
                            event: None,
                            field: "container".to_owned(),
                            op: filter.op,
                            values: vec![id.clone()],
                            reason: "container ids are resolved by the container runtime, not in the kernel",
                        });
                    }
                    _ => {}
                }
            }
        }
        if of(ScopeKey::NotContainer).next().is_some() {
            want(b::IN_CONTAINER, false, &mut bools);
        }
        if of(ScopeKey::Follow).next().is_some() {
            config.follow |= bit;
        }
        for (dim, value) in bools.iter().enumerate() {
            if let Some(value) = value {
                config.bool_enabled[dim] |= bit;
                if *value {
                    config.bool_expect[dim] |= bit;
                }
            }
        }
        // A scope that contradicts itself (`container` and `not-container`) selects nothing.
        if !contradiction {
            config.policies |= bit;
        }
    }
    let mut ranges: Vec<RangeEntry> = Vec::new();
    let mut maps = Vec::new();
    for (dim, state) in dims.into_iter().enumerate() {
        config.eq_enabled[dim] = state.enabled;
        config.eq_match_missing[dim] = state.match_missing;
        config.ranged[dim] = state.ranged;
        if state.ranged != 0 {
            let table = range_table(&state.bounds);
            config.range_first[dim] = ranges.len() as u32;
            config.range_count[dim] = table.len() as u32;
            ranges.extend(table);
        }
        let entries = eq_entries(state.eq);
        maps.push(match dim {
            d::UID => hash_map::<u32>("scope_uid", entries, 0),
            d::PID => hash_map::<u32>("scope_pid", entries, 0),
            d::MNTNS => hash_map::<u64>("scope_mntns", entries, 0),
            d::PIDNS => hash_map::<u64>("scope_pidns", entries, 0),
            d::UTS => hash_map::<[u8; abi::UTS_LEN]>("scope_uts", entries, 0),
            d::COMM => hash_map::<[u8; abi::COMM_LEN]>("scope_comm", entries, 0),
            d::TREE => {
                let extra = if state.enabled != 0 {
                    TREE_RUNTIME_ENTRIES
                } else {
                    0
                };
                hash_map::<u32>("scope_tree", entries, extra)
            }
            _ => hash_map::<abi::ScopeExeKey>("scope_exe", entries, 0),
        });
    }
    maps.push(array_map("scope_ranges", &ranges));
    maps.insert(0, array_map("scope_config", &[config]));
    maps
}

/// Field id, value type and whether the kernel can decide a rule filter's field.
enum FieldPlan {
    Int {
        id: u16,
        signed: bool,
        min: i128,
        max: i128,
    },
    Str {
        id: u16,
    },
    Userspace {
        reason: &'static str,
    },
}

fn field_plan(field: RuleField) -> FieldPlan {
    use abi::context_field as cf;
    let uint = |id, bits: u32| FieldPlan::Int {
        id,
        signed: false,
        min: 0,
        max: (1i128 << bits) - 1,
    };
    match field {
        RuleField::Retval => FieldPlan::Int {
            id: abi::FIELD_RETVAL,
            signed: true,
            min: i128::from(i64::MIN),
            max: i128::from(i64::MAX),
        },
        RuleField::Arg { index, def } => {
            let id = abi::FIELD_ARG_BASE + index as u16;
            match def.ty {
                ArgType::Int(bytes) => {
                    let bits = u32::from(bytes) * 8;
                    FieldPlan::Int {
                        id,
                        signed: true,
                        min: -(1i128 << (bits - 1)),
                        max: (1i128 << (bits - 1)) - 1,
                    }
                }
                ArgType::UInt(bytes) => uint(id, u32::from(bytes) * 8),
                ArgType::Pointer => uint(id, 64),
                ArgType::Bool => uint(id, 1),
                _ => FieldPlan::Str { id },
            }
        }
        RuleField::Context(c) if c.from_container_runtime() => FieldPlan::Userspace {
            reason: "container and pod metadata come from the container runtime, not the kernel",
        },
        RuleField::Context(c) => match c {
            ContextField::Timestamp => uint(cf::TIMESTAMP, 64),
            ContextField::ProcessorId => uint(cf::PROCESSOR_ID, 32),
            ContextField::Pid => uint(cf::PID, 32),
            ContextField::Tid => uint(cf::TID, 32),
            ContextField::Ppid => uint(cf::PPID, 32),
            ContextField::HostTid => uint(cf::HOST_TID, 32),
            ContextField::HostPid => uint(cf::HOST_PID, 32),
            ContextField::HostPpid => uint(cf::HOST_PPID, 32),
            ContextField::Uid => uint(cf::UID, 32),
            ContextField::MntNs => uint(cf::MNTNS, 64),
            ContextField::PidNs => uint(cf::PIDNS, 64),
            ContextField::CgroupId => uint(cf::CGROUP_ID, 64),
            ContextField::Container => uint(cf::CONTAINER, 1),
            ContextField::Host => uint(cf::HOST, 1),
            ContextField::Syscall => uint(cf::SYSCALL, 32),
            ContextField::Comm => FieldPlan::Str { id: cf::COMM },
            ContextField::HostName => FieldPlan::Str { id: cf::HOST_NAME },
            _ => FieldPlan::Userspace {
                reason: "container and pod metadata come from the container runtime, not the kernel",
            },
        },
    }
}

/// A filter value as an integer for the kernel (booleans 0/1, syscall names by number).
fn int_of(value: &Value) -> Option<i128> {
    match value {
        Value::Int(v) => Some(*v),
        Value::Bool(b) => Some(i128::from(*b)),
        Value::Str(StrMatch::Exact(name)) => schema::catalog::event(name)
            .filter(|e| e.kind == EventKind::Syscall)
            .map(|e| i128::from(e.id)),
        _ => None,
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::Int(v) => v.to_string(),
        Value::Str(StrMatch::Exact(s)) => s.clone(),
        Value::Str(StrMatch::Prefix(s)) => format!("{s}*"),
        Value::Str(StrMatch::Suffix(s)) => format!("*{s}"),
        Value::Str(StrMatch::Contains(s)) => format!("*{s}*"),
        Value::Bool(b) => b.to_string(),
        Value::New => "new".to_owned(),
        Value::Started => "started".to_owned(),
        Value::Executable { path, .. } => path.clone(),
    }
}

struct RulesOut {
    maps: Vec<MapContents>,
    events: Vec<(u32, &'static str)>,
    probes: Vec<String>,
}

/// One field of one event's rules, across policies.
struct FieldState {
    config: abi::FieldConfig,
    dim: DimState,
    exact: EqMap,
    prefix: Vec<(Vec<u8>, Op, u64)>,
    suffix: Vec<(Vec<u8>, Op, u64)>,
    contains: Vec<(Vec<u8>, Op, u64)>,
}

fn lower_rules(
    policies: &[Policy],
    cx: &mut Ctx,
    userspace: &mut Vec<UserspaceFilter>,
) -> RulesOut {
    let mut events: BTreeMap<u32, (abi::EventConfig, &'static str)> = BTreeMap::new();
    let mut fields: BTreeMap<(u32, u16), FieldState> = BTreeMap::new();
    for policy in policies {
        let bit = bit(policy);
        for rule in &policy.rules {
            let event_id = rule.event.id;
            let (event, _) = events
                .entry(event_id)
                .or_insert_with(|| (bytemuck::Zeroable::zeroed(), rule.event.name));
            event.policies |= bit;
            let mut seen: Vec<RuleField> = Vec::new();
            for filter in &rule.filters {
                if seen.contains(&filter.key) {
                    continue;
                }
                seen.push(filter.key);
                let same: Vec<&Filter<RuleField>> = rule
                    .filters
                    .iter()
                    .filter(|f| f.key == filter.key)
                    .collect();
                let plan = field_plan(filter.key);
                let id = match plan {
                    FieldPlan::Userspace { reason } => {
                        event.userspace |= bit;
                        for f in &same {
                            userspace.push(UserspaceFilter {
                                policy: policy.id,
                                event: Some(event_id),
                                field: crate::rule::field_name(f.key),
                                op: f.op,
                                values: f.values.iter().map(value_text).collect(),
                                reason,
                            });
                        }
                        continue;
                    }
                    FieldPlan::Int { id, .. } | FieldPlan::Str { id } => id,
                };
                if !event.fields[..usize::from(event.field_count)].contains(&id) {
                    if usize::from(event.field_count) == abi::MAX_EVENT_FIELDS {
                        cx.limit(policy, &filter.span, format!("the rules for `{}` filter more than {} different fields", rule.event.name, abi::MAX_EVENT_FIELDS), "filter fewer fields of this event across the policies, or split the policies into several images");
                        continue;
                    }
                    event.fields[usize::from(event.field_count)] = id;
                    event.field_count += 1;
                }
                let state = fields.entry((event_id, id)).or_insert_with(|| FieldState {
                    config: bytemuck::Zeroable::zeroed(),
                    dim: DimState::new(),
                    exact: EqMap::default(),
                    prefix: Vec::new(),
                    suffix: Vec::new(),
                    contains: Vec::new(),
                });
                match plan {
                    FieldPlan::Int {
                        signed, min, max, ..
                    } => {
                        state.config.kinds |=
                            abi::FIELD_KIND_INT | if signed { abi::FIELD_KIND_SIGNED } else { 0 };
                        let ints: Vec<(Op, Value)> = same
                            .iter()
                            .flat_map(|f| {
                                f.values
                                    .iter()
                                    .filter_map(move |v| int_of(v).map(|i| (f.op, Value::Int(i))))
                            })
                            .collect();
                        let set = numeric_set(ints.iter().map(|(op, v)| (*op, v)));
                        let key = |v: i128| {
                            bytes_of(&abi::IntKey {
                                event: event_id,
                                field: id,
                                pad: 0,
                                value: raw_int(v),
                            })
                            .to_vec()
                        };
                        state.dim.add_numeric(&set, bit, signed, (min, max), key);
                    }
                    FieldPlan::Str { .. } => {
                        state.dim.enabled |= bit;
                        let mut has_eq = false;
                        for f in &same {
                            for value in &f.values {
                                let Value::Str(m) = value else { continue };
                                let text = crate::filter::str_len(m);
                                if text >= abi::STR_MAX {
                                    cx.limit(policy, &f.span, format!("string value is {text} bytes; the kernel compares at most {}", abi::STR_MAX - 1), "shorten the value (a prefix `...*` often says the same)");
                                    continue;
                                }
                                has_eq |= f.op == Op::Eq;
                                match m {
                                    StrMatch::Exact(s) => {
                                        state.config.kinds |= abi::FIELD_KIND_EXACT;
                                        let key = abi::StrKey {
                                            event: event_id,
                                            field: id,
                                            pad: 0,
                                            str: abi::fixed(s.as_bytes()),
                                        };
                                        state.exact.add(bytes_of(&key).to_vec(), f.op, bit);
                                    }
                                    StrMatch::Prefix(s) => {
                                        state.config.kinds |= abi::FIELD_KIND_PREFIX;
                                        state.prefix.push((s.as_bytes().to_vec(), f.op, bit));
                                    }
                                    StrMatch::Suffix(s) => {
                                        state.config.kinds |= abi::FIELD_KIND_SUFFIX;
                                        state.suffix.push((s.bytes().rev().collect(), f.op, bit));
                                    }
                                    StrMatch::Contains(s) => {
                                        state.config.kinds |= abi::FIELD_KIND_CONTAINS;
                                        state.contains.push((s.as_bytes().to_vec(), f.op, bit));
                                    }
                                }
                            }
                        }
                        if !has_eq {
                            state.dim.match_missing |= bit;
                        }
                    }
                    FieldPlan::Userspace { .. } => {}
                }
            }
        }
    }
    assemble_rules(events, fields, policies, cx)
}

/// Bits of every stored pattern that is a prefix of `pattern` (itself included): an LPM
/// trie returns only the longest stored match, so it must carry the shorter ones' bits.
fn lpm_entries(
    event: u32,
    field: u16,
    patterns: &[(Vec<u8>, Op, u64)],
    out: &mut BTreeMap<Vec<u8>, Vec<u8>>,
) {
    let mut keys: Vec<&Vec<u8>> = patterns.iter().map(|(p, _, _)| p).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let mut bits = EqBits { eq: 0, ne: 0 };
        for (pattern, op, bit) in patterns {
            if key.starts_with(pattern) {
                match op {
                    Op::Ne => bits.ne |= bit,
                    _ => bits.eq |= bit,
                }
            }
        }
        let lpm = abi::LpmStrKey {
            prefixlen: (abi::LPM_HEADER_BYTES + key.len() as u32) * 8,
            event,
            field,
            pad: 0,
            str: abi::fixed(key),
        };
        out.insert(bytes_of(&lpm).to_vec(), bytes_of(&bits).to_vec());
    }
}

fn assemble_rules(
    events: BTreeMap<u32, (abi::EventConfig, &'static str)>,
    fields: BTreeMap<(u32, u16), FieldState>,
    policies: &[Policy],
    cx: &mut Ctx,
) -> RulesOut {
    let mut field_entries = BTreeMap::new();
    let mut int_entries = BTreeMap::new();
    let mut str_entries = BTreeMap::new();
    let mut prefix_entries = BTreeMap::new();
    let mut suffix_entries = BTreeMap::new();
    let mut contains: Vec<abi::ContainsEntry> = Vec::new();
    let mut ranges: Vec<RangeEntry> = Vec::new();
    for ((event, field), state) in fields {
        let mut config = state.config;
        config.enabled = state.dim.enabled;
        config.match_missing = state.dim.match_missing;
        config.ranged = state.dim.ranged;
        if state.dim.ranged != 0 {
            let table = range_table(&state.dim.bounds);
            config.range_first = ranges.len() as u32;
            config.range_count = table.len() as u32;
            ranges.extend(table);
        }
        if state.contains.len() > MAX_CONTAINS_PER_FIELD {
            if let Some(policy) = policies
                .iter()
                .find(|p| state.contains.iter().any(|(_, _, b)| *b == bit(p)))
            {
                let span = policy.name_span.clone();
                cx.limit(policy, &span, format!("more than {MAX_CONTAINS_PER_FIELD} `*...*` patterns on one field of event {event}"), "the kernel tries contains-patterns one by one: use prefixes/suffixes, or fewer patterns");
            }
        } else {
            config.contains_first = contains.len() as u32;
            config.contains_count = state.contains.len() as u32;
            for (pattern, op, bit) in &state.contains {
                contains.push(abi::ContainsEntry {
                    eq: if *op == Op::Ne { 0 } else { *bit },
                    ne: if *op == Op::Ne { *bit } else { 0 },
                    len: pattern.len() as u32,
                    pad: 0,
                    str: abi::fixed(pattern),
                });
            }
        }
        int_entries.extend(eq_entries(state.dim.eq));
        str_entries.extend(eq_entries(state.exact));
        lpm_entries(event, field, &state.prefix, &mut prefix_entries);
        lpm_entries(event, field, &state.suffix, &mut suffix_entries);
        let key = abi::FieldKey {
            event,
            field,
            pad: 0,
        };
        field_entries.insert(bytes_of(&key).to_vec(), bytes_of(&config).to_vec());
    }
    let event_list: Vec<(u32, &'static str)> =
        events.iter().map(|(id, (_, name))| (*id, *name)).collect();
    let event_entries: BTreeMap<Vec<u8>, Vec<u8>> = events
        .iter()
        .map(|(id, (config, _))| (id.to_le_bytes().to_vec(), bytes_of(config).to_vec()))
        .collect();
    let lpm = |name, entries: BTreeMap<Vec<u8>, Vec<u8>>| MapContents {
        name,
        map_type: MapType::LpmTrie,
        key_size: std::mem::size_of::<abi::LpmStrKey>() as u32,
        value_size: std::mem::size_of::<EqBits>() as u32,
        max_entries: (entries.len() as u32).max(1),
        flags: BPF_F_NO_PREALLOC,
        entries,
    };
    let mut events_map = hash_map::<u32>("events", event_entries, 0);
    events_map.value_size = std::mem::size_of::<abi::EventConfig>() as u32;
    let mut fields_map = hash_map::<abi::FieldKey>("rule_fields", field_entries, 0);
    fields_map.value_size = std::mem::size_of::<abi::FieldConfig>() as u32;
    let maps = vec![
        events_map,
        fields_map,
        hash_map::<abi::IntKey>("rule_int", int_entries, 0),
        hash_map::<abi::StrKey>("rule_str", str_entries, 0),
        lpm("rule_prefix", prefix_entries),
        lpm("rule_suffix", suffix_entries),
        array_map("rule_contains", &contains),
        array_map("rule_ranges", &ranges),
    ];
    RulesOut {
        probes: probes(&event_list),
        events: event_list,
        maps,
    }
}

/// The kernel hooks the loader attaches: few syscalls get their own tracepoints, many share
/// the raw `sys_enter`/`sys_exit` hooks (which cost every syscall).
fn probes(events: &[(u32, &'static str)]) -> Vec<String> {
    let mut probes = Vec::new();
    let mut syscalls: Vec<&str> = Vec::new();
    for (_, name) in events {
        match schema::catalog::event(name).map(|e| e.kind) {
            Some(EventKind::Syscall) => syscalls.push(name),
            Some(EventKind::Tracepoint) => probes.push(format!("tp_btf/{name}")),
            Some(EventKind::Lsm) if *name == "security_file_open" => {
                for open in ["open", "openat", "openat2", "creat", "open_by_handle_at"] {
                    syscalls.push(open);
                }
            }
            Some(EventKind::Lsm | EventKind::Derived) | None => {
                probes.push(format!("derived/{name}"))
            }
        }
    }
    syscalls.sort_unstable();
    syscalls.dedup();
    if syscalls.len() > MAX_PER_SYSCALL_PROBES {
        probes.push("raw_tp/sys_enter".to_owned());
        probes.push("raw_tp/sys_exit".to_owned());
    } else {
        for name in syscalls {
            probes.push(format!("tp/syscalls/sys_enter_{name}"));
            probes.push(format!("tp/syscalls/sys_exit_{name}"));
        }
    }
    probes.sort();
    probes.dedup();
    probes
}
