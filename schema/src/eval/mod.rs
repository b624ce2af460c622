//! The reference evaluator: which policies an image matches for one event.
//!
//! It reads the map contents as `docs/image-format.md` describes them and looks them up the
//! way the BPF programs do (`bpf/scope.bpf.c`, `bpf/filter.bpf.c`, `bpf/range.bpf.h`): one
//! equality lookup, one interval search, the longest stored prefix or suffix, substring
//! patterns, per dimension, combined with the same formula. It never looks at the
//! compiler's intermediate form, so the compiler, the kernel and this model can each be
//! caught disagreeing with the others: `tracee-load --audit` prints the kernel's decision
//! for every candidate event, the differential tests compare it with this, and
//! `tracee-compile test` compares this with what a policy's author expects.
//!
//! What an event cannot carry is given as task facts (`Task`): ancestry for `tree`, the
//! executable, `follow` adoption, whether the process or its container is new.
//! Optimisations the kernel layers on top (the syscall gate's return-value classes, the
//! per-CPU memo of scope lookups) are not modelled: a gate that disagrees with the rules
//! shows up as a difference.

pub mod input;

use std::collections::{BTreeMap, HashMap};

use bytemuck::{Pod, Zeroable, bytes_of, pod_read_unaligned};

use crate::abi::{
    self, ContainsEntry, EqBits, EventConfig, FieldConfig, FieldKey, IntKey, LpmStrKey, RangeEntry,
    ScopeConfig, ScopeExeKey, StrKey, context_field as cf, scope_bool, scope_dim,
};
use crate::image::Image;

/// The event a scope-level userspace filter applies to (`UserspaceFilter::event`).
pub const SCOPE_EVENT: u32 = u32::MAX;
/// Longest string argument the programs record (`STR_CAP`).
pub const STR_CAP: usize = 1024;
/// Entries of a string array the programs record (`ARGV_MAX`), and bytes of each (`ARGV_CAP`).
pub const ARGV_MAX: usize = 32;
pub const ARGV_CAP: usize = 256;
/// Substring patterns tried per field (`MAX_CONTAINS`).
pub const MAX_CONTAINS: u32 = 32;
/// Arguments a rule field id can name.
const MAX_ARGS: u16 = abi::FIELD_RETVAL;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error(
        "map `{map}` has {key}-byte keys and {value}-byte values; this build reads {want_key} and {want_value}"
    )]
    MapLayout {
        map: String,
        key: u32,
        value: u32,
        want_key: usize,
        want_value: usize,
    },
}

/// One argument as the kernel captured it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Integers (signed ones as their two's complement), pointers, booleans (0/1).
    Int(u64),
    /// A string, without its NUL.
    Str(Vec<u8>),
    /// A string array (argv, env): a filter matches when one entry does.
    StrArray(Vec<Vec<u8>>),
}

/// Who did it: the record's context fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// CLOCK_BOOTTIME, as the kernel sees it (not the wall time printed).
    pub timestamp: u64,
    pub processor_id: u32,
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub host_tid: u32,
    pub host_pid: u32,
    pub host_ppid: u32,
    pub uid: u32,
    pub mntns: u64,
    pub pidns: u64,
    pub cgroup_id: u64,
    /// The command name, at most 15 bytes.
    pub comm: Vec<u8>,
    /// The UTS name, at most 64 bytes.
    pub host_name: Vec<u8>,
    /// The syscall the event came from; `u32::MAX` for none.
    pub syscall: u32,
}

impl Default for Context {
    fn default() -> Context {
        Context {
            timestamp: 0,
            processor_id: 0,
            pid: 0,
            tid: 0,
            ppid: 0,
            host_tid: 0,
            host_pid: 0,
            host_ppid: 0,
            uid: 0,
            mntns: 0,
            pidns: 0,
            cgroup_id: 0,
            comm: Vec::new(),
            host_name: Vec::new(),
            syscall: u32::MAX,
        }
    }
}

/// Where a task's cgroup puts it (the runtime `containers` map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContainerState {
    /// Not in a container.
    #[default]
    None,
    /// In a container that existed when the loader started.
    Existing,
    /// In a container created since.
    New,
}

/// A task's running binary, as recorded at exec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exe {
    pub mount_ns: u64,
    pub path: Vec<u8>,
}

/// What the kernel knows of the task beyond the record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Task {
    /// Host pids whose `tree` entries the task inherits, nearest first, after its own
    /// (the programs copy a parent's entry to each child forked while the image is loaded).
    pub ancestors: Vec<u32>,
    /// The binary, if the programs know it (a process exec'd before the loader in another
    /// mount namespace is unknown: a missing value).
    pub exe: Option<Exe>,
    /// The host's mount namespace id (`host:` executables).
    pub host_mntns: u64,
    /// Policies whose `follow` adopted the process.
    pub followed: u64,
    /// Started after the loader (`pid=new`).
    pub new_pid: bool,
    pub container: ContainerState,
}

/// One event: what the programs decide on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    pub id: u32,
    /// By argument index (the catalog's order).
    pub args: BTreeMap<u8, Value>,
    pub retval: i64,
    pub context: Context,
    pub task: Task,
}

/// One step of a decision: a scope dimension or a rule field, and the policies it let
/// through (every policy not using it included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub what: String,
    pub pass: u64,
}

/// The decision for one event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Policies with a rule for the event (`events[id].policies`).
    pub candidates: u64,
    /// Candidates whose scope admits the task.
    pub scope: u64,
    /// Policies the kernel matches: scope and every rule filter the kernel decides.
    pub kernel: u64,
    /// Among `kernel`, those whose decision also needs container metadata (the image's
    /// userspace filters, decided by the loader).
    pub userspace: u64,
    /// Every dimension and field looked at, in the programs' order.
    pub steps: Vec<Step>,
}

impl Verdict {
    /// Why `policy` was not matched: the first step that turned it away.
    pub fn refused_by(&self, policy: u8) -> Option<&str> {
        let bit = 1u64.checked_shl(u32::from(policy))?;
        if self.candidates & bit == 0 {
            return Some("no rule for the event");
        }
        self.steps
            .iter()
            .find(|s| s.pass & bit == 0)
            .map(|s| s.what.as_str())
    }
}

type Raw = Vec<u8>;

/// An image's maps, indexed for lookups.
pub struct Evaluator {
    scope_config: ScopeConfig,
    /// scope_uid, scope_pid, scope_mntns, scope_pidns, scope_uts, scope_comm, scope_tree,
    /// scope_exe by `scope_dim`, keyed by the raw key bytes.
    scope_eq: [HashMap<Raw, EqBits>; scope_dim::COUNT],
    scope_ranges: Vec<RangeEntry>,
    events: HashMap<u32, EventConfig>,
    rule_fields: HashMap<Raw, FieldConfig>,
    rule_int: HashMap<Raw, EqBits>,
    rule_str: HashMap<Raw, EqBits>,
    rule_prefix: Vec<(LpmStrKey, EqBits)>,
    rule_suffix: Vec<(LpmStrKey, EqBits)>,
    rule_contains: Vec<ContainsEntry>,
    rule_ranges: Vec<RangeEntry>,
    /// Policies with a scope filter only userspace decides.
    scope_userspace: u64,
}

const SCOPE_MAPS: [&str; scope_dim::COUNT] = [
    "scope_uid",
    "scope_pid",
    "scope_mntns",
    "scope_pidns",
    "scope_uts",
    "scope_comm",
    "scope_tree",
    "scope_exe",
];

const SCOPE_NAMES: [&str; scope_dim::COUNT] = [
    "scope uid",
    "scope pid",
    "scope mntns",
    "scope pidns",
    "scope uts",
    "scope comm",
    "scope tree",
    "scope executable",
];

const BOOL_NAMES: [&str; scope_bool::COUNT] = [
    "scope container",
    "scope pid=new",
    "scope container=new",
    "scope container=started",
];

/// The entries of map `name` as raw key and value bytes, checked against the sizes this
/// build reads (no map: no entries, as an empty kernel map).
fn raw_entries(
    image: &Image,
    name: &str,
    key: usize,
    value: usize,
) -> Result<Vec<(Raw, Raw)>, EvalError> {
    let Some(map) = image.map(name) else {
        return Ok(Vec::new());
    };
    if map.key_size as usize != key || map.value_size as usize != value {
        return Err(EvalError::MapLayout {
            map: name.to_owned(),
            key: map.key_size,
            value: map.value_size,
            want_key: key,
            want_value: value,
        });
    }
    Ok(map.entries.clone())
}

fn hash<V: Pod>(image: &Image, name: &str, key: usize) -> Result<HashMap<Raw, V>, EvalError> {
    Ok(raw_entries(image, name, key, size_of::<V>())?
        .into_iter()
        .map(|(k, v)| (k, pod_read_unaligned(&v)))
        .collect())
}

/// An array map: every index up to the highest written, unwritten slots zero (as the
/// kernel's arrays start).
fn array<V: Pod>(image: &Image, name: &str) -> Result<Vec<V>, EvalError> {
    let mut out: Vec<V> = Vec::new();
    for (k, v) in raw_entries(image, name, 4, size_of::<V>())? {
        let index = pod_read_unaligned::<u32>(&k) as usize;
        if index >= out.len() {
            out.resize(index + 1, V::zeroed());
        }
        out[index] = pod_read_unaligned(&v);
    }
    Ok(out)
}

fn lpm(image: &Image, name: &str) -> Result<Vec<(LpmStrKey, EqBits)>, EvalError> {
    Ok(
        raw_entries(image, name, size_of::<LpmStrKey>(), size_of::<EqBits>())?
            .into_iter()
            .map(|(k, v)| (pod_read_unaligned(&k), pod_read_unaligned(&v)))
            .collect(),
    )
}

/// `dimension()` of range.bpf.h: the policies a value passes, given its equality bits.
fn dimension(
    bits: Option<EqBits>,
    enabled: u64,
    match_missing: u64,
    ranged: u64,
    range: u64,
) -> u64 {
    let (eq, ne) = bits.map_or((0, 0), |b| (b.eq, b.ne));
    let default = (match_missing & !ranged) | range;
    (eq | (default & !ne)) | !enabled
}

/// `range_bits()`: the bits of the last entry of the slice whose start is at most `v`;
/// 0 when none, or when the slice runs past the table (the kernel's lookup fails).
fn range_bits(table: &[RangeEntry], first: u32, count: u32, v: u64) -> u64 {
    let (first, count) = (first as usize, count as usize);
    let Some(slice) = first
        .checked_add(count)
        .and_then(|end| table.get(first..end))
    else {
        return 0;
    };
    let after = slice.partition_point(|e| e.start <= v);
    after.checked_sub(1).map_or(0, |i| slice[i].bits)
}

/// Does the key's data (from `event` on) start with the entry's first `prefixlen` bits?
/// The LPM trie's rule: the entry's prefix may not be longer than the key's.
fn lpm_matches(entry: &LpmStrKey, key: &LpmStrKey) -> bool {
    if entry.prefixlen > key.prefixlen {
        return false;
    }
    let a = &bytes_of(entry)[4..];
    let b = &bytes_of(key)[4..];
    let bits = entry.prefixlen as usize;
    let (whole, rest) = (bits / 8, bits % 8);
    if whole > a.len() || a[..whole] != b[..whole] {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    whole < a.len() && (a[whole] & mask) == (b[whole] & mask)
}

/// The value of the longest stored prefix of `key`, as an LPM trie lookup returns it.
fn lpm_lookup(entries: &[(LpmStrKey, EqBits)], key: &LpmStrKey) -> Option<EqBits> {
    entries
        .iter()
        .filter(|(e, _)| lpm_matches(e, key))
        .max_by_key(|(e, _)| e.prefixlen)
        .map(|(_, v)| *v)
}

/// Bytes up to the first NUL (C string semantics of the fixed buffers).
fn c_bytes(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

fn find(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A raw fixed-size key: `bytes` zero-padded (or cut) to `len`.
fn padded(bytes: &[u8], len: usize) -> Raw {
    let mut out = vec![0u8; len];
    let n = bytes.len().min(len);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

impl Evaluator {
    pub fn new(image: &Image) -> Result<Evaluator, EvalError> {
        let scope_config = array::<ScopeConfig>(image, "scope_config")?
            .first()
            .copied()
            .unwrap_or_else(ScopeConfig::zeroed);
        let key_sizes = [
            4,
            4,
            8,
            8,
            abi::UTS_LEN,
            abi::COMM_LEN,
            4,
            size_of::<ScopeExeKey>(),
        ];
        let mut scope_eq: [HashMap<Raw, EqBits>; scope_dim::COUNT] = Default::default();
        for (dim, map) in scope_eq.iter_mut().enumerate() {
            *map = hash(image, SCOPE_MAPS[dim], key_sizes[dim])?;
        }
        let events = hash::<EventConfig>(image, "events", 4)?
            .into_iter()
            .map(|(k, v)| (pod_read_unaligned::<u32>(&k), v))
            .collect();
        let scope_userspace = image
            .meta
            .userspace_filters
            .iter()
            .filter(|f| f.event == SCOPE_EVENT)
            .filter_map(|f| 1u64.checked_shl(u32::from(f.policy)))
            .fold(0, |a, b| a | b);
        Ok(Evaluator {
            scope_config,
            scope_eq,
            scope_ranges: array(image, "scope_ranges")?,
            events,
            rule_fields: hash(image, "rule_fields", size_of::<FieldKey>())?,
            rule_int: hash(image, "rule_int", size_of::<IntKey>())?,
            rule_str: hash(image, "rule_str", size_of::<StrKey>())?,
            rule_prefix: lpm(image, "rule_prefix")?,
            rule_suffix: lpm(image, "rule_suffix")?,
            rule_contains: array(image, "rule_contains")?,
            rule_ranges: array(image, "rule_ranges")?,
            scope_userspace,
        })
    }

    /// The decision for one event.
    pub fn evaluate(&self, event: &Event) -> Verdict {
        let mut verdict = Verdict::default();
        let Some(ev) = self.events.get(&event.id) else {
            return verdict;
        };
        verdict.candidates = ev.policies;
        let scope = self.scope(event, ev.policies, &mut verdict.steps);
        verdict.scope = scope;
        let mut result = scope & ev.policies;
        let count = usize::from(ev.field_count).min(abi::MAX_EVENT_FIELDS);
        for &field in &ev.fields[..count] {
            let key = FieldKey {
                event: event.id,
                field,
                pad: 0,
            };
            let Some(fc) = self.rule_fields.get(bytes_of(&key)) else {
                continue;
            };
            let pass = if fc.kinds & abi::FIELD_KIND_INT != 0 {
                self.int_field(event, field, fc)
            } else {
                self.str_field(event, field, fc)
            };
            verdict.steps.push(Step {
                what: field_name(event.id, field),
                pass,
            });
            result &= pass;
        }
        verdict.kernel = result;
        verdict.userspace = result & (ev.userspace | self.scope_userspace);
        verdict
    }

    fn scope_dim(&self, dim: usize, key: &[u8], value: u64) -> u64 {
        let sc = &self.scope_config;
        let enabled = sc.eq_enabled[dim];
        if enabled == 0 {
            return !0;
        }
        let range = if sc.ranged[dim] != 0 {
            range_bits(
                &self.scope_ranges,
                sc.range_first[dim],
                sc.range_count[dim],
                value,
            )
        } else {
            0
        };
        dimension(
            self.scope_eq[dim].get(key).copied(),
            enabled,
            sc.eq_match_missing[dim],
            sc.ranged[dim],
            range,
        )
    }

    /// `scope_of()`: the candidates whose scope admits the task.
    fn scope(&self, event: &Event, candidates: u64, steps: &mut Vec<Step>) -> u64 {
        let sc = &self.scope_config;
        let c = &event.context;
        let t = &event.task;
        let mut result = candidates & sc.policies;
        steps.push(Step {
            what: "scope (a scope no task satisfies)".to_owned(),
            pass: sc.policies,
        });
        let adopted = t.followed & sc.follow;
        let dim = |d: usize, key: &[u8], value: u64, steps: &mut Vec<Step>| {
            if sc.eq_enabled[d] == 0 {
                return !0;
            }
            let pass = self.scope_dim(d, key, value) | adopted;
            steps.push(Step {
                what: SCOPE_NAMES[d].to_owned(),
                pass,
            });
            pass
        };
        result &= dim(scope_dim::UID, &c.uid.to_le_bytes(), c.uid.into(), steps);
        let pid = c.host_pid;
        result &= dim(scope_dim::PID, &pid.to_le_bytes(), pid.into(), steps);
        // The tree map holds the listed pids and every descendant forked since: the task's
        // own entry is its nearest listed ancestor's.
        let tree_key = std::iter::once(pid)
            .chain(t.ancestors.iter().copied())
            .find(|p| self.scope_eq[scope_dim::TREE].contains_key(&p.to_le_bytes()[..]))
            .unwrap_or(pid);
        result &= dim(scope_dim::TREE, &tree_key.to_le_bytes(), pid.into(), steps);
        // The kernel's comm holds at most 15 bytes and its NUL.
        let comm = padded(
            c_bytes(&c.comm[..c.comm.len().min(abi::COMM_LEN - 1)]),
            abi::COMM_LEN,
        );
        result &= dim(scope_dim::COMM, &comm, 0, steps);
        result &= dim(scope_dim::MNTNS, &c.mntns.to_le_bytes(), c.mntns, steps);
        result &= dim(scope_dim::PIDNS, &c.pidns.to_le_bytes(), c.pidns, steps);
        let uts = padded(c_bytes(&c.host_name), abi::UTS_LEN - 1);
        result &= dim(scope_dim::UTS, &padded(&uts, abi::UTS_LEN), 0, steps);
        if sc.eq_enabled[scope_dim::EXE] != 0 {
            let pass = self.exe(t) | adopted;
            steps.push(Step {
                what: SCOPE_NAMES[scope_dim::EXE].to_owned(),
                pass,
            });
            result &= pass;
        }
        for (i, name) in BOOL_NAMES.iter().enumerate() {
            let enabled = sc.bool_enabled[i];
            if enabled == 0 {
                continue;
            }
            let holds = match i {
                scope_bool::NEW_PID => t.new_pid,
                scope_bool::NEW_CONTAINER => t.container == ContainerState::New,
                _ => t.container != ContainerState::None,
            };
            let expect = sc.bool_expect[i];
            let pass = (if holds { expect } else { !expect }) | !enabled | adopted;
            steps.push(Step {
                what: (*name).to_owned(),
                pass,
            });
            result &= pass;
        }
        result
    }

    /// `exe_dim()`: the binary looked up for any namespace, its own, and `host:`.
    fn exe(&self, t: &Task) -> u64 {
        let sc = &self.scope_config;
        let d = scope_dim::EXE;
        let mut bits = EqBits { eq: 0, ne: 0 };
        let mut found = false;
        if let Some(exe) = &t.exe {
            let path = padded(&exe.path, abi::PATH_MAX);
            let mut namespaces = vec![0, exe.mount_ns];
            if exe.mount_ns == t.host_mntns {
                namespaces.push(1);
            }
            for ns in namespaces {
                let mut key = ns.to_le_bytes().to_vec();
                key.extend_from_slice(&path);
                if let Some(b) = self.scope_eq[d].get(&key) {
                    bits.eq |= b.eq;
                    bits.ne |= b.ne;
                    found = true;
                }
            }
        }
        dimension(
            found.then_some(bits),
            sc.eq_enabled[d],
            sc.eq_match_missing[d],
            sc.ranged[d],
            0,
        )
    }

    /// `int_field()`.
    fn int_field(&self, event: &Event, field: u16, fc: &FieldConfig) -> u64 {
        let masked = (abi::FIELD_MASKED_BASE..abi::FIELD_MASKED_BASE + MAX_ARGS).contains(&field);
        let value = if masked {
            int_value(event, field - abi::FIELD_MASKED_BASE).map(|v| v & u64::from(fc.mask))
        } else {
            int_value(event, field)
        };
        let Some(v) = value else {
            return !0;
        };
        let range = if fc.ranged != 0 {
            let biased = if fc.kinds & abi::FIELD_KIND_SIGNED != 0 {
                v ^ (1 << 63)
            } else {
                v
            };
            range_bits(&self.rule_ranges, fc.range_first, fc.range_count, biased)
        } else {
            0
        };
        let key = IntKey {
            event: event.id,
            field,
            pad: 0,
            value: v,
        };
        dimension(
            self.rule_int.get(bytes_of(&key)).copied(),
            fc.enabled,
            fc.match_missing,
            fc.ranged,
            range,
        )
    }

    /// `str_field()`.
    fn str_field(&self, event: &Event, field: u16, fc: &FieldConfig) -> u64 {
        let c = &event.context;
        if fc.kinds & abi::FIELD_KIND_ARRAY != 0 {
            // The kernel's array_field: each of the first ARGV_MAX entries, as a string.
            let Some(Value::StrArray(items)) =
                u8::try_from(field).ok().and_then(|i| event.args.get(&i))
            else {
                return !fc.enabled;
            };
            let (mut eq, mut ne) = (0, 0);
            for item in items.iter().take(ARGV_MAX) {
                let (e, n) = self.str_bits(event, field, fc, &item[..item.len().min(ARGV_CAP)]);
                eq |= e;
                ne |= n;
            }
            let default = fc.match_missing & !fc.ranged;
            return (eq | (default & !ne)) | !fc.enabled;
        }
        let value: &[u8] = if field < MAX_ARGS {
            match u8::try_from(field).ok().and_then(|i| event.args.get(&i)) {
                Some(Value::Str(s)) => &s[..s.len().min(STR_CAP)],
                // No such string: no policy filtering it passes.
                _ => return !fc.enabled,
            }
        } else if field == cf::COMM {
            c_bytes(&c.comm[..c.comm.len().min(abi::COMM_LEN - 1)])
        } else if field == cf::HOST_NAME {
            c_bytes(&c.host_name[..c.host_name.len().min(abi::UTS_LEN - 1)])
        } else {
            return !0;
        };
        let (eq, ne) = self.str_bits(event, field, fc, value);
        let default = fc.match_missing & !fc.ranged;
        (eq | (default & !ne)) | !fc.enabled
    }

    /// The `=` and `!=` policies of one string value of a field.
    fn str_bits(&self, event: &Event, field: u16, fc: &FieldConfig, value: &[u8]) -> (u64, u64) {
        let array = fc.kinds & abi::FIELD_KIND_ARRAY != 0;
        let len = value.len();
        // The filters compare the first 255 bytes (exact strings are shorter than 256, and
        // substring patterns are searched for there).
        let head = c_bytes(&value[..len.min(abi::STR_MAX - 1)]);
        let mut eq = 0;
        let mut ne = 0;
        let mut add = |b: Option<EqBits>| {
            if let Some(b) = b {
                eq |= b.eq;
                ne |= b.ne;
            }
        };
        if fc.kinds & abi::FIELD_KIND_EXACT != 0 && len < abi::STR_MAX {
            let key = StrKey {
                event: event.id,
                field,
                pad: 0,
                str: abi::fixed(head),
            };
            add(self.rule_str.get(bytes_of(&key)).copied());
        }
        let n = len.min(abi::LPM_STR_MAX);
        let prefixlen = (abi::LPM_HEADER_BYTES + n as u32) * 8;
        if fc.kinds & abi::FIELD_KIND_PREFIX != 0 {
            let key = LpmStrKey {
                prefixlen,
                event: event.id,
                field,
                pad: 0,
                str: abi::fixed(&value[..n]),
            };
            add(lpm_lookup(&self.rule_prefix, &key));
        }
        if fc.kinds & abi::FIELD_KIND_SUFFIX != 0 && !array {
            let reversed: Vec<u8> = value[len - n..].iter().rev().copied().collect();
            let key = LpmStrKey {
                prefixlen,
                event: event.id,
                field,
                pad: 0,
                str: abi::fixed(&reversed),
            };
            add(lpm_lookup(&self.rule_suffix, &key));
        }
        if fc.kinds & abi::FIELD_KIND_CONTAINS != 0 {
            let first = fc.contains_first as usize;
            let count = fc.contains_count.min(MAX_CONTAINS) as usize;
            for i in first..first.saturating_add(count) {
                // The kernel's loop stops at the first index the table lacks.
                let Some(ce) = self.rule_contains.get(i) else {
                    break;
                };
                if find(head, c_bytes(&ce.str)) {
                    add(Some(EqBits {
                        eq: ce.eq,
                        ne: ce.ne,
                    }));
                }
            }
        }
        (eq, ne)
    }
}

/// `int_value()`: an integer field of the event; None for fields the kernel passes.
fn int_value(event: &Event, field: u16) -> Option<u64> {
    let c = &event.context;
    if field < MAX_ARGS {
        // A missing argument reads as 0 (the kernel reads its slot).
        return Some(
            match u8::try_from(field).ok().and_then(|i| event.args.get(&i)) {
                Some(Value::Int(v)) => *v,
                _ => 0,
            },
        );
    }
    let in_container = event.task.container != ContainerState::None;
    Some(match field {
        abi::FIELD_RETVAL => event.retval as u64,
        cf::TIMESTAMP => c.timestamp,
        cf::PROCESSOR_ID => c.processor_id.into(),
        cf::PID => c.pid.into(),
        cf::TID => c.tid.into(),
        cf::PPID => c.ppid.into(),
        cf::HOST_TID => c.host_tid.into(),
        cf::HOST_PID => c.host_pid.into(),
        cf::HOST_PPID => c.host_ppid.into(),
        cf::UID => c.uid.into(),
        cf::MNTNS => c.mntns,
        cf::PIDNS => c.pidns,
        cf::CGROUP_ID => c.cgroup_id,
        cf::CONTAINER => in_container.into(),
        cf::HOST => (!in_container).into(),
        cf::SYSCALL => c.syscall.into(),
        _ => return None,
    })
}

/// A field's name as a policy writes it (`openat.pathname`, `openat.retval`, `comm`).
pub fn field_name(event: u32, field: u16) -> String {
    let ev = crate::catalog::event_by_id(event);
    let event_name = ev.map_or_else(|| event.to_string(), |e| e.name.to_owned());
    if field < MAX_ARGS {
        let arg = ev
            .and_then(|e| e.arg_field(field))
            .unwrap_or_else(|| format!("arg{field}"));
        return format!("{event_name}.args.{arg}");
    }
    if field == abi::FIELD_RETVAL {
        return format!("{event_name}.retval");
    }
    let name = field
        .checked_sub(abi::FIELD_CONTEXT_BASE)
        .and_then(|i| CONTEXT_NAMES.get(usize::from(i)))
        .map_or_else(|| format!("field{field}"), |n| (*n).to_owned());
    format!("{event_name}.{name}")
}

/// Context fields as policies spell them, by id from `FIELD_CONTEXT_BASE` on.
const CONTEXT_NAMES: [&str; 25] = [
    "timestamp",
    "processorId",
    "pid",
    "tid",
    "ppid",
    "hostTid",
    "hostPid",
    "hostParentProcessId",
    "uid",
    "mntns",
    "pidns",
    "comm",
    "hostName",
    "cgroupId",
    "container",
    "host",
    "containerId",
    "containerImage",
    "containerImageDigest",
    "containerName",
    "podName",
    "podNamespace",
    "podUid",
    "podSandbox",
    "syscall",
];

/// The policies of `bits` by name, in bit order.
pub fn policy_names(bits: u64, policies: &[String]) -> Vec<String> {
    policies
        .iter()
        .enumerate()
        .take(abi::MAX_POLICIES)
        .filter(|(i, _)| bits & (1u64 << i) != 0)
        .map(|(_, n)| n.clone())
        .collect()
}
