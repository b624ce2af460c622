//! Rules -> `events`, `rule_fields` and the rule value maps (integers, strings, prefix and
//! suffix tries, contains patterns, interval tables), and the probes the events need.

use std::collections::BTreeMap;

use bytemuck::bytes_of;
use schema::abi::{self, EqBits, RangeEntry};
use schema::catalog::{ArgType, EventKind};
use schema::image::MapType;

use super::*;
use crate::ir::{ContextField, Filter, Op, Policy, RuleField, SockPart, StrMatch, Value};

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
        RuleField::ArgMasked { index, mask, .. } => FieldPlan::Int {
            id: abi::FIELD_MASKED_BASE + index as u16,
            signed: false,
            min: 0,
            max: i128::from(mask),
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
        RuleField::Part { slot, .. } => FieldPlan::Str { id: slot },
        RuleField::SockAddr { index, part, .. } => match part {
            SockPart::Port => uint(part.slot(index), 16),
            SockPart::Ip => uint(part.slot(index), 32),
            SockPart::Path => FieldPlan::Str {
                id: part.slot(index),
            },
        },
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

pub(super) struct RulesOut {
    pub(super) maps: Vec<MapContents>,
    pub(super) events: Vec<(u32, &'static str)>,
    pub(super) probes: Vec<String>,
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

pub(super) fn lower_rules(
    policies: &[Policy],
    pseudo: &[PseudoRule],
    cx: &mut Ctx,
    userspace: &mut Vec<UserspaceFilter>,
) -> RulesOut {
    let mut events: BTreeMap<u32, (abi::EventConfig, &'static str)> = BTreeMap::new();
    let mut fields: BTreeMap<(u32, u16), FieldState> = BTreeMap::new();
    // Per event: the return-value classes some policy's rule admits (for the syscall gate).
    let mut retval_classes: BTreeMap<u32, u32> = BTreeMap::new();
    let mut env_wanted = false;
    for policy in policies {
        for rule in &policy.rules {
            let unit = Unit {
                event_id: rule.event.id,
                name: rule.event.name,
                shown_as: rule.event.id,
                filters: &rule.filters,
                bit: bit(policy),
            };
            let (event, _) = events
                .entry(unit.event_id)
                .or_insert_with(|| (bytemuck::Zeroable::zeroed(), rule.event.name));
            let admitted = lower_unit(
                &unit,
                policy,
                event,
                &mut fields,
                cx,
                userspace,
                &mut env_wanted,
            );
            *retval_classes.entry(unit.event_id).or_insert(0) |= admitted;
        }
    }
    // Detections: each (detector, policy) pair is one bit of its chunk's pseudo event.
    let mut pseudo_events: BTreeMap<u32, abi::EventConfig> = BTreeMap::new();
    for p in pseudo {
        let Some(policy) = policies.get(p.policy) else {
            continue;
        };
        let unit = Unit {
            event_id: p.pseudo,
            name: p.base_name,
            shown_as: p.shown_as,
            filters: &p.filters,
            bit: p.bit,
        };
        let event = pseudo_events
            .entry(p.pseudo)
            .or_insert_with(bytemuck::Zeroable::zeroed);
        lower_unit(
            &unit,
            policy,
            event,
            &mut fields,
            cx,
            userspace,
            &mut env_wanted,
        );
    }
    // The exec handler reads the environment only for filters on it.
    if env_wanted {
        let exec = schema::catalog::event("sched_process_exec").map(|e| e.id);
        if let Some((config, _)) = exec.and_then(|id| events.get_mut(&id)) {
            config.flags |= abi::EVENT_FLAG_ENV;
        }
    }
    assemble_rules(events, pseudo_events, fields, &retval_classes, policies, cx)
}

/// A rule as the maps see it: filters under one event id, for one bit.
struct Unit<'a> {
    event_id: u32,
    /// The event's name, for messages.
    name: &'static str,
    /// The event id the loader sees on the records it matches (a detection's).
    shown_as: u32,
    filters: &'a [Filter<RuleField>],
    bit: u64,
}

/// A detection pair's rule (`lower::detections`): the filters of one (detector, policy)
/// pair on one base event, as bit `bit` of pseudo event `pseudo`.
pub(super) struct PseudoRule {
    pub(super) pseudo: u32,
    pub(super) bit: u64,
    pub(super) policy: usize,
    pub(super) base_name: &'static str,
    pub(super) shown_as: u32,
    pub(super) filters: Vec<Filter<RuleField>>,
}

/// One rule's filters into `event` and the field maps; the return-value classes it admits.
fn lower_unit(
    unit: &Unit,
    policy: &Policy,
    event: &mut abi::EventConfig,
    fields: &mut BTreeMap<(u32, u16), FieldState>,
    cx: &mut Ctx,
    userspace: &mut Vec<UserspaceFilter>,
    env_wanted: &mut bool,
) -> u32 {
    let (event_id, bit) = (unit.event_id, unit.bit);
    let mut admitted = RET_ALL;
    event.policies |= bit;
    let mut seen: Vec<RuleField> = Vec::new();
    for filter in unit.filters {
        if seen.contains(&filter.key) {
            continue;
        }
        seen.push(filter.key);
        let same: Vec<&Filter<RuleField>> = unit
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
                        event: Some(unit.shown_as),
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
                cx.limit(policy, &filter.span, format!("the rules for `{}` filter more than {} different fields", unit.name, abi::MAX_EVENT_FIELDS), "filter fewer fields of this event across the policies, or split the policies into several images");
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
                if let RuleField::ArgMasked { mask, .. } = filter.key {
                    state.config.mask = mask;
                }
                let ints: Vec<(Op, Value)> = same
                    .iter()
                    .flat_map(|f| {
                        f.values
                            .iter()
                            .filter_map(move |v| int_of(v).map(|i| (f.op, Value::Int(i))))
                    })
                    .collect();
                let set = numeric_set(ints.iter().map(|(op, v)| (*op, v)));
                if filter.key == RuleField::Retval {
                    admitted = retval_admits(&set);
                }
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
                let array =
                    matches!(filter.key, RuleField::Arg { def, .. } if def.ty == ArgType::StrArray);
                if array {
                    state.config.kinds |= abi::FIELD_KIND_ARRAY;
                    if unit.name == "sched_process_exec"
                        && matches!(filter.key, RuleField::Arg { def, .. } if def.name == "env")
                    {
                        *env_wanted = true;
                    }
                }
                let mut has_eq = false;
                for f in &same {
                    for value in &f.values {
                        let Value::Str(m) = value else { continue };
                        let text = crate::filter::str_len(m);
                        let affix = matches!(m, StrMatch::Prefix(_) | StrMatch::Suffix(_));
                        if text >= abi::STR_MAX {
                            cx.limit(
                                policy,
                                &f.span,
                                format!(
                                    "string value is {text} bytes; the kernel compares at most {}",
                                    abi::STR_MAX - 1
                                ),
                                "shorten the value (a prefix `...*` often says the same)",
                            );
                            continue;
                        }
                        if affix && text > abi::LPM_STR_MAX {
                            cx.limit(policy, &f.span, format!("prefix/suffix pattern is {text} bytes; the kernel's prefix tries hold at most {}", abi::LPM_STR_MAX), "shorten the pattern: the first (or last) 248 bytes decide the match anyway");
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
                            StrMatch::Suffix(_) if array => {
                                cx.limit(policy, &f.span, format!("`{}` on the string array `{}`: the kernel matches an array's entries by exact string, prefix and substring", value_text(value), crate::rule::field_name(filter.key)), "use a prefix (`x*`) or a substring (`*x*`)");
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
    admitted
}

/// Return-value classes, as the `GATE_NO_*_RET` bits they clear.
const RET_NEGATIVE: u32 = abi::GATE_NO_NEGATIVE_RET;
const RET_ZERO: u32 = abi::GATE_NO_ZERO_RET;
const RET_POSITIVE: u32 = abi::GATE_NO_POSITIVE_RET;
const RET_ALL: u32 = RET_NEGATIVE | RET_ZERO | RET_POSITIVE;

/// The classes of return values (negative, zero, positive) a rule's `retval` filter can pass.
fn retval_admits(set: &NumericSet) -> u32 {
    let (min, max) = (i128::from(i64::MIN), i128::from(i64::MAX));
    [
        (RET_NEGATIVE, min, -1),
        (RET_ZERO, 0, 0),
        (RET_POSITIVE, 1, max),
    ]
    .into_iter()
    .filter(|(_, lo, hi)| set.admits_any(*lo, *hi))
    .fold(0, |admitted, (class, _, _)| admitted | class)
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

/// The kernel evaluates an event's fields in `fields` order and stops once no policy (or
/// pair) is left: cheap and selective first. Integers cost one hash lookup, strings a copy
/// and up to three, a substring search one scan per pattern, a string array all of that per
/// entry.
fn order_fields(
    config: &mut abi::EventConfig,
    event: u32,
    states: &BTreeMap<(u32, u16), FieldState>,
) {
    let cost = |field: &u16| {
        let kinds = states.get(&(event, *field)).map_or(0, |s| s.config.kinds);
        if kinds & abi::FIELD_KIND_ARRAY != 0 {
            3
        } else if kinds & abi::FIELD_KIND_CONTAINS != 0 {
            2
        } else if kinds & abi::FIELD_KIND_INT != 0 {
            0
        } else {
            1
        }
    };
    let count = usize::from(config.field_count).min(abi::MAX_EVENT_FIELDS);
    config.fields[..count].sort_by_key(cost);
}

fn assemble_rules(
    mut events: BTreeMap<u32, (abi::EventConfig, &'static str)>,
    mut pseudo_events: BTreeMap<u32, abi::EventConfig>,
    fields: BTreeMap<(u32, u16), FieldState>,
    retval_classes: &BTreeMap<u32, u32>,
    policies: &[Policy],
    cx: &mut Ctx,
) -> RulesOut {
    for (id, (config, _)) in events.iter_mut() {
        order_fields(config, *id, &fields);
    }
    for (id, config) in pseudo_events.iter_mut() {
        order_fields(config, *id, &fields);
    }
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
    let mut event_entries: BTreeMap<Vec<u8>, Vec<u8>> = events
        .iter()
        .map(|(id, (config, name))| {
            let mut config = *config;
            capture_plan(name, &mut config);
            (id.to_le_bytes().to_vec(), bytes_of(&config).to_vec())
        })
        .collect();
    // The syscalls derived events are built from read their arguments at entry by their own
    // capture plan: one with no policies where the syscall's own event is not selected.
    for (_, name) in events.values() {
        for source in source_syscalls(name, policies) {
            if let Some(def) = schema::catalog::event(source) {
                event_entries
                    .entry(def.id.to_le_bytes().to_vec())
                    .or_insert_with(|| {
                        let mut plan: abi::EventConfig = bytemuck::Zeroable::zeroed();
                        capture_plan(source, &mut plan);
                        // No handler reads a source syscall's string arrays (execve's argv
                        // and envp): the address is enough, and exec does not pay for them.
                        for kind in &mut plan.arg_kinds {
                            if *kind == abi::arg_kind::STR_ARRAY {
                                *kind = abi::arg_kind::UINT;
                            }
                        }
                        bytes_of(&plan).to_vec()
                    });
            }
        }
    }
    for (id, config) in &pseudo_events {
        event_entries.insert(id.to_le_bytes().to_vec(), bytes_of(config).to_vec());
    }
    let lpm = |name, entries: BTreeMap<Vec<u8>, Vec<u8>>| MapContents {
        name,
        map_type: MapType::LpmTrie,
        key_size: std::mem::size_of::<abi::LpmStrKey>() as u32,
        value_size: std::mem::size_of::<EqBits>() as u32,
        max_entries: (entries.len() as u32).max(1),
        flags: BPF_F_NO_PREALLOC,
        entries,
    };
    let mut gates: BTreeMap<u32, abi::SyscallGate> = BTreeMap::new();
    for (id, (config, name)) in &events {
        let mut plan = *config;
        capture_plan(name, &mut plan);
        match schema::catalog::event(name).map(|e| e.kind) {
            Some(EventKind::Syscall) if *id < abi::SYSCALL_GATE_SIZE => {
                let gate = gates.entry(*id).or_insert_with(bytemuck::Zeroable::zeroed);
                gate.policies |= config.policies;
                gate.flags |= u32::from(plan.flags);
                gate.flags |= RET_ALL & !retval_classes.get(id).copied().unwrap_or(RET_ALL);
            }
            _ if !source_syscalls(name, policies).is_empty() => {
                for source in source_syscalls(name, policies) {
                    if let Some(nr) = schema::catalog::event(source).map(|e| e.id) {
                        let gate = gates.entry(nr).or_insert_with(bytemuck::Zeroable::zeroed);
                        gate.derived_policies |= config.policies;
                        gate.derived_handlers |= derived_handler(name);
                    }
                }
            }
            _ => {}
        }
    }
    // A syscall that serves only handlers reading nothing at its entry has no entry hook
    // (`probes`); failed calls stop at the gate where the handlers build nothing for them.
    for (nr, gate) in gates.iter_mut() {
        let entry = u32::from(abi::EVENT_FLAG_ENTRY | abi::EVENT_FLAG_EMIT_AT_ENTRY);
        let name = schema::catalog::event_by_id(*nr).map_or("", |e| e.name);
        if gate.policies != 0 || gate.flags & entry != 0 {
            continue;
        }
        match schema::hooks::exit_only(gate.derived_handlers, name) {
            Some(true) => gate.flags |= abi::GATE_AT_EXIT | abi::GATE_NO_NEGATIVE_RET,
            Some(false) => gate.flags |= abi::GATE_AT_EXIT,
            None => {}
        }
    }
    let gate_entries = gates
        .iter()
        .map(|(nr, gate)| (nr.to_le_bytes().to_vec(), bytes_of(gate).to_vec()))
        .collect();
    let gate_map = MapContents {
        name: "syscall_gate",
        map_type: MapType::Array,
        key_size: 4,
        value_size: std::mem::size_of::<abi::SyscallGate>() as u32,
        max_entries: abi::SYSCALL_GATE_SIZE,
        flags: 0,
        entries: gate_entries,
    };
    let mut events_map = hash_map::<u32>("events", event_entries, 0);
    events_map.value_size = std::mem::size_of::<abi::EventConfig>() as u32;
    let mut fields_map = hash_map::<abi::FieldKey>("rule_fields", field_entries, 0);
    fields_map.value_size = std::mem::size_of::<abi::FieldConfig>() as u32;
    let maps = vec![
        gate_map,
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
        probes: probes(&event_list, policies),
        events: event_list,
        maps,
    }
}

/// Syscalls that never return to user space: their events are emitted at entry.
const NO_RETURN: &[&str] = &["exit", "exit_group"];

/// The syscalls an event is built from (entry and exit hooks), where the kernel offers no
/// hook of its own (`schema::hooks::SOURCES`): each such syscall reports at most one of
/// these events.
pub fn derived_sources(event: &str) -> &'static [&'static str] {
    schema::hooks::source(event).map_or(&[], |s| s.syscalls)
}

/// The syscalls an event is built from: its `SOURCES` row's, or for the events that check
/// the syscalls policies choose (`schema::hooks::SYSCALLS_BY_FILTER`), those their rules
/// name in `args.syscall=`.
fn source_syscalls(name: &str, policies: &[Policy]) -> Vec<&'static str> {
    if !schema::hooks::SYSCALLS_BY_FILTER.contains(&name) {
        return derived_sources(name).to_vec();
    }
    let mut out = Vec::new();
    for rule in policies.iter().flat_map(|p| &p.rules) {
        if rule.event.name != name {
            continue;
        }
        for filter in &rule.filters {
            if !matches!(filter.key, RuleField::Arg { index: 0, .. }) || filter.op != Op::Eq {
                continue;
            }
            for value in &filter.values {
                let syscall = match value {
                    Value::Int(nr) => u32::try_from(*nr)
                        .ok()
                        .and_then(schema::catalog::event_by_id),
                    _ => None,
                };
                if let Some(e) = syscall.filter(|e| e.kind == EventKind::Syscall) {
                    out.push(e.name);
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Where tracee-load takes an event from in the kernel, for docs/events.md (the hooks are
/// those `probes` chooses; docs/loader.md says what each event misses compared with Tracee).
pub fn event_source(name: &str) -> String {
    if let Some(source) = schema::hooks::source(name) {
        return source.describe();
    }
    match schema::catalog::event(name).map(|e| e.kind) {
        Some(EventKind::Syscall) => {
            "its syscall tracepoints, or the generic `sys_enter`/`sys_exit`".to_owned()
        }
        Some(EventKind::Tracepoint) => format!("`tp_btf/{name}`"),
        _ => "not produced yet".to_owned(),
    }
}

/// The BPF handler (a bit of the syscall gate) that builds a derived event.
fn derived_handler(name: &str) -> u64 {
    schema::hooks::source(name).map_or(0, |s| s.handler)
}

/// How the kernel captures a syscall's arguments: each one's kind and width from the
/// catalog, and whether any lives in user memory (then it is read at entry, before the
/// syscall can change it).
fn capture_plan(name: &str, config: &mut abi::EventConfig) {
    use abi::arg_kind as k;
    let Some(def) = schema::catalog::event(name).filter(|e| e.kind == EventKind::Syscall) else {
        return;
    };
    for (i, arg) in def.args.iter().take(abi::MAX_SYSCALL_ARGS).enumerate() {
        let (kind, size) = match arg.ty {
            ArgType::Int(n) => (k::INT, n),
            ArgType::UInt(n) => (k::UINT, n),
            ArgType::Bool => (k::BOOL, 1),
            ArgType::Str => (k::STR, 0),
            ArgType::StrArray => (k::STR_ARRAY, 0),
            ArgType::SockAddr => (k::SOCKADDR, 0),
            // Buffers and int arrays are shown as their address, like other pointers.
            ArgType::Pointer | ArgType::Bytes | ArgType::IntArray => (k::UINT, 8),
        };
        if matches!(kind, k::STR | k::STR_ARRAY | k::SOCKADDR) {
            config.flags |= abi::EVENT_FLAG_ENTRY;
        }
        config.arg_kinds[i] = kind;
        config.arg_sizes[i] = size;
        config.arg_count = i as u8 + 1;
    }
    if NO_RETURN.contains(&name) {
        config.flags |= abi::EVENT_FLAG_EMIT_AT_ENTRY;
    }
}

/// The kernel hooks the loader attaches. Few syscalls get their own tracepoints (an exit
/// hook each, an entry hook only where arguments must be read at entry); many share the
/// generic `sys_enter`/`sys_exit` hooks, which cost every syscall.
fn probes(events: &[(u32, &'static str)], policies: &[Policy]) -> Vec<String> {
    let mut probes = Vec::new();
    // (syscall, needs entry, needs exit)
    let mut syscalls: Vec<(&str, bool, bool)> = Vec::new();
    for (_, name) in events {
        match schema::catalog::event(name).map(|e| e.kind) {
            Some(EventKind::Syscall) => {
                let mut plan: abi::EventConfig = bytemuck::Zeroable::zeroed();
                capture_plan(name, &mut plan);
                let at_entry = plan.flags & abi::EVENT_FLAG_EMIT_AT_ENTRY != 0;
                let entry =
                    plan.flags & (abi::EVENT_FLAG_ENTRY | abi::EVENT_FLAG_EMIT_AT_ENTRY) != 0;
                syscalls.push((name, entry, !at_entry));
            }
            // Every other event: the syscalls and hooks its row of `schema::hooks` names.
            _ => match schema::hooks::source(name) {
                Some(source) => {
                    for syscall in source_syscalls(name, policies) {
                        let entry = schema::hooks::exit_only(source.handler, syscall).is_none();
                        syscalls.push((syscall, entry, true));
                    }
                    probes.extend(source.probes.iter().map(|p| (*p).to_owned()));
                }
                None => probes.push(format!("derived/{name}")),
            },
        }
    }
    syscalls.sort_unstable();
    let mut merged: Vec<(&str, bool, bool)> = Vec::new();
    for (name, entry, exit) in syscalls {
        match merged.last_mut() {
            Some(last) if last.0 == name => {
                last.1 |= entry;
                last.2 |= exit;
            }
            _ => merged.push((name, entry, exit)),
        }
    }
    if merged.len() > MAX_PER_SYSCALL_PROBES {
        if merged.iter().any(|s| s.1) {
            probes.push("tp_btf/sys_enter".to_owned());
        }
        if merged.iter().any(|s| s.2) {
            probes.push("tp_btf/sys_exit".to_owned());
        }
    } else {
        for (name, entry, exit) in merged {
            let tracepoint = schema::hooks::syscall_tracepoint(name);
            if entry {
                probes.push(format!("tp/syscalls/sys_enter_{tracepoint}"));
            }
            if exit {
                probes.push(format!("tp/syscalls/sys_exit_{tracepoint}"));
            }
        }
    }
    probes.sort();
    probes.dedup();
    probes
}
