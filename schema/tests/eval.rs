//! The reference evaluator (`schema::eval`) on images built by hand from
//! `docs/image-format.md` ("Maps", "How one dimension decides", "Rule maps"): every key and
//! value is the bytes of a `schema::abi` struct, never the compiler's output. Also the
//! event readers of `schema::eval::input`.

use bytemuck::{Zeroable, bytes_of};
use schema::abi::{
    self, ContainsEntry, EqBits, EventConfig, FieldConfig, FieldKey, IntKey, LpmStrKey, RangeEntry,
    ScopeConfig, ScopeExeKey, StrKey, context_field as cf, scope_bool, scope_dim,
};
use schema::eval::{
    ContainerState, EvalError, Evaluator, Event, Exe, SCOPE_EVENT, Value, Verdict, input,
};
use schema::image::{
    BPF_F_NO_PREALLOC, Image, MapSection, MapType, Meta, PolicyMeta, UserspaceFilter,
};
use serde_json::json;

// ---------------------------------------------------------------------------------------
// Building images by hand
// ---------------------------------------------------------------------------------------

const P0: u64 = 1 << 0;
const P1: u64 = 1 << 1;
const P2: u64 = 1 << 2;
const P3: u64 = 1 << 3;
const P4: u64 = 1 << 4;

fn event_id(name: &str) -> u32 {
    schema::catalog::event(name)
        .map(|e| e.id)
        .unwrap_or_else(|| panic!("no event `{name}` in the catalog"))
}

fn openat() -> u32 {
    event_id("openat")
}

/// openat's arguments by index: dirfd, pathname, flags, mode.
const PATHNAME: u16 = 1;
const FLAGS: u16 = 2;

fn bits(eq: u64, ne: u64) -> EqBits {
    EqBits { eq, ne }
}

fn range(start: u64, bits: u64) -> RangeEntry {
    RangeEntry { start, bits }
}

/// A signed value's interval-table start: biased by `1 << 63`.
fn biased(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

fn field_config(enabled: u64, match_missing: u64, ranged: u64, kinds: u32) -> FieldConfig {
    FieldConfig {
        enabled,
        match_missing,
        ranged,
        kinds,
        ..FieldConfig::zeroed()
    }
}

fn int_key(event: u32, field: u16, value: u64) -> IntKey {
    IntKey {
        event,
        field,
        pad: 0,
        value,
    }
}

fn str_key(event: u32, field: u16, s: &[u8]) -> StrKey {
    StrKey {
        event,
        field,
        pad: 0,
        str: abi::fixed(s),
    }
}

/// A stored prefix (or reversed suffix) pattern: `prefixlen` counts the event/field header
/// and the pattern's bytes.
fn lpm_key(event: u32, field: u16, pattern: &[u8]) -> LpmStrKey {
    assert!(pattern.len() <= abi::LPM_STR_MAX);
    LpmStrKey {
        prefixlen: (abi::LPM_HEADER_BYTES + pattern.len() as u32) * 8,
        event,
        field,
        pad: 0,
        str: abi::fixed(pattern),
    }
}

fn contains(pattern: &[u8], eq: u64, ne: u64) -> ContainsEntry {
    ContainsEntry {
        eq,
        ne,
        len: pattern.len() as u32,
        pad: 0,
        str: abi::fixed(pattern),
    }
}

fn reversed(s: &[u8]) -> Vec<u8> {
    s.iter().rev().copied().collect()
}

/// The maps of one image, filled field by field; `image()` writes the MAP sections.
struct Build {
    policies: usize,
    userspace_filters: Vec<UserspaceFilter>,
    scope: ScopeConfig,
    scope_eq: [Vec<(Vec<u8>, EqBits)>; scope_dim::COUNT],
    scope_ranges: Vec<RangeEntry>,
    events: Vec<(u32, EventConfig)>,
    fields: Vec<(FieldKey, FieldConfig)>,
    ints: Vec<(IntKey, EqBits)>,
    strs: Vec<(StrKey, EqBits)>,
    prefixes: Vec<(LpmStrKey, EqBits)>,
    suffixes: Vec<(LpmStrKey, EqBits)>,
    contains: Vec<ContainsEntry>,
    rule_ranges: Vec<RangeEntry>,
    /// Extra raw maps (wrong layouts).
    raw: Vec<MapSection>,
}

impl Build {
    /// `policies` policies, every one's scope able to match, no dimension in use.
    fn new(policies: usize) -> Build {
        let mut scope = ScopeConfig::zeroed();
        scope.policies = all(policies);
        Build {
            policies,
            userspace_filters: Vec::new(),
            scope,
            scope_eq: Default::default(),
            scope_ranges: Vec::new(),
            events: Vec::new(),
            fields: Vec::new(),
            ints: Vec::new(),
            strs: Vec::new(),
            prefixes: Vec::new(),
            suffixes: Vec::new(),
            contains: Vec::new(),
            rule_ranges: Vec::new(),
            raw: Vec::new(),
        }
    }

    /// `events[event]`: the policies with a rule for it, and the fields filtered.
    fn event(mut self, event: u32, policies: u64, fields: &[u16]) -> Build {
        let mut config = EventConfig::zeroed();
        config.policies = policies;
        config.field_count = fields.len() as u16;
        config.fields[..fields.len()].copy_from_slice(fields);
        self.events.push((event, config));
        self
    }

    fn event_userspace(mut self, event: u32, userspace: u64) -> Build {
        for (id, config) in &mut self.events {
            if *id == event {
                config.userspace = userspace;
            }
        }
        self
    }

    fn field(mut self, event: u32, field: u16, config: FieldConfig) -> Build {
        let key = FieldKey {
            event,
            field,
            pad: 0,
        };
        self.fields.push((key, config));
        self
    }

    fn int(mut self, event: u32, field: u16, value: u64, b: EqBits) -> Build {
        self.ints.push((int_key(event, field, value), b));
        self
    }

    fn exact(mut self, event: u32, field: u16, s: &[u8], b: EqBits) -> Build {
        self.strs.push((str_key(event, field, s), b));
        self
    }

    fn prefix(mut self, event: u32, field: u16, pattern: &[u8], b: EqBits) -> Build {
        self.prefixes.push((lpm_key(event, field, pattern), b));
        self
    }

    fn suffix(mut self, event: u32, field: u16, pattern: &[u8], b: EqBits) -> Build {
        self.suffixes
            .push((lpm_key(event, field, &reversed(pattern)), b));
        self
    }

    /// A scope equality entry: `key` the raw key bytes of the dimension's map.
    fn scope_entry(mut self, dim: usize, key: &[u8], b: EqBits) -> Build {
        self.scope_eq[dim].push((key.to_vec(), b));
        self
    }

    fn scope_dim(mut self, dim: usize, enabled: u64, match_missing: u64) -> Build {
        self.scope.eq_enabled[dim] = enabled;
        self.scope.eq_match_missing[dim] = match_missing;
        self
    }

    fn scope_ranged(mut self, dim: usize, ranged: u64, first: u32, count: u32) -> Build {
        self.scope.ranged[dim] = ranged;
        self.scope.range_first[dim] = first;
        self.scope.range_count[dim] = count;
        self
    }

    fn scope_bool(mut self, condition: usize, enabled: u64, expect: u64) -> Build {
        self.scope.bool_enabled[condition] = enabled;
        self.scope.bool_expect[condition] = expect;
        self
    }

    fn image(&self) -> Image {
        let mut maps = Vec::new();
        let index = |i: usize| (i as u32).to_le_bytes().to_vec();
        maps.push(map(
            "scope_config",
            MapType::Array,
            4,
            size_of::<ScopeConfig>(),
            vec![(index(0), bytes_of(&self.scope).to_vec())],
        ));
        let names = [
            "scope_uid",
            "scope_pid",
            "scope_mntns",
            "scope_pidns",
            "scope_uts",
            "scope_comm",
            "scope_tree",
            "scope_exe",
        ];
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
        for dim in 0..scope_dim::COUNT {
            let entries: Vec<_> = self.scope_eq[dim]
                .iter()
                .map(|(k, v)| {
                    assert_eq!(k.len(), key_sizes[dim], "{} key", names[dim]);
                    (k.clone(), bytes_of(v).to_vec())
                })
                .collect();
            if !entries.is_empty() {
                maps.push(map(
                    names[dim],
                    MapType::Hash,
                    key_sizes[dim],
                    size_of::<EqBits>(),
                    entries,
                ));
            }
        }
        let array = |name: &str, values: Vec<Vec<u8>>, size: usize| {
            let entries = values
                .into_iter()
                .enumerate()
                .map(|(i, v)| (index(i), v))
                .collect();
            map(name, MapType::Array, 4, size, entries)
        };
        let ranges = |table: &[RangeEntry]| table.iter().map(|r| bytes_of(r).to_vec()).collect();
        if !self.scope_ranges.is_empty() {
            maps.push(array(
                "scope_ranges",
                ranges(&self.scope_ranges),
                size_of::<RangeEntry>(),
            ));
        }
        if !self.events.is_empty() {
            let entries = self
                .events
                .iter()
                .map(|(id, c)| (id.to_le_bytes().to_vec(), bytes_of(c).to_vec()))
                .collect();
            maps.push(map(
                "events",
                MapType::Hash,
                4,
                size_of::<EventConfig>(),
                entries,
            ));
        }
        let pairs = |name: &str, ty: MapType, entries: Vec<(Vec<u8>, Vec<u8>)>| {
            let key = entries.first().map_or(1, |(k, _)| k.len());
            let value = entries.first().map_or(1, |(_, v)| v.len());
            map(name, ty, key, value, entries)
        };
        macro_rules! rule_map {
            ($name:literal, $ty:expr, $list:expr) => {
                if !$list.is_empty() {
                    maps.push(pairs(
                        $name,
                        $ty,
                        $list
                            .iter()
                            .map(|(k, v)| (bytes_of(k).to_vec(), bytes_of(v).to_vec()))
                            .collect(),
                    ));
                }
            };
        }
        rule_map!("rule_fields", MapType::Hash, self.fields);
        rule_map!("rule_int", MapType::Hash, self.ints);
        rule_map!("rule_str", MapType::Hash, self.strs);
        rule_map!("rule_prefix", MapType::LpmTrie, self.prefixes);
        rule_map!("rule_suffix", MapType::LpmTrie, self.suffixes);
        if !self.contains.is_empty() {
            maps.push(array(
                "rule_contains",
                self.contains.iter().map(|c| bytes_of(c).to_vec()).collect(),
                size_of::<ContainsEntry>(),
            ));
        }
        if !self.rule_ranges.is_empty() {
            maps.push(array(
                "rule_ranges",
                ranges(&self.rule_ranges),
                size_of::<RangeEntry>(),
            ));
        }
        maps.extend(self.raw.iter().cloned());
        Image {
            abi_hash: abi::abi_hash(),
            catalog_hash: schema::catalog::catalog_hash(),
            meta: Meta {
                policies: (0..self.policies)
                    .map(|i| PolicyMeta {
                        id: i as u8,
                        name: format!("p{i}"),
                        description: String::new(),
                        actions: vec!["log".into()],
                    })
                    .collect(),
                events: Vec::new(),
                probes: Vec::new(),
                userspace_filters: self.userspace_filters.clone(),
                detectors: Vec::new(),
            },
            maps,
        }
    }

    fn evaluator(&self) -> Evaluator {
        let image = self.image();
        // The hand-built image is a valid image: it survives the encoder's checks.
        if let Err(e) = schema::image::encode_checked(&image) {
            panic!("the hand-built image does not encode: {e}");
        }
        Evaluator::new(&image).unwrap_or_else(|e| panic!("Evaluator::new: {e}"))
    }
}

fn all(policies: usize) -> u64 {
    if policies >= 64 {
        !0
    } else {
        (1u64 << policies) - 1
    }
}

fn map(
    name: &str,
    map_type: MapType,
    key_size: usize,
    value_size: usize,
    entries: Vec<(Vec<u8>, Vec<u8>)>,
) -> MapSection {
    MapSection {
        name: name.to_owned(),
        map_type,
        key_size: key_size as u32,
        value_size: value_size as u32,
        max_entries: entries.len().max(1) as u32,
        flags: if map_type == MapType::LpmTrie {
            BPF_F_NO_PREALLOC
        } else {
            0
        },
        entries,
    }
}

/// An event of `id` with the given arguments.
fn event(id: u32, args: &[(u8, Value)]) -> Event {
    let mut e = Event {
        id,
        ..Event::default()
    };
    for (i, v) in args {
        e.args.insert(*i, v.clone());
    }
    e
}

fn int(v: u64) -> Value {
    Value::Int(v)
}

fn text(s: &[u8]) -> Value {
    Value::Str(s.to_vec())
}

fn kernel(evaluator: &Evaluator, e: &Event) -> u64 {
    evaluator.evaluate(e).kernel
}

// ---------------------------------------------------------------------------------------
// One dimension: pass = eq | (default & ~ne), result &= pass | ~enabled
// ---------------------------------------------------------------------------------------

#[test]
fn the_dimension_formula_on_an_int_field() {
    // p0: flags=1. p1: flags!=1. p2: flags!=2. p3: no filter on flags. p4: flags=5 or
    // flags>=10 (ranged: its match_missing bit is masked by `ranged`).
    let ev = openat();
    let mut e = Build::new(5)
        .event(ev, all(5), &[FLAGS])
        .field(
            ev,
            FLAGS,
            field_config(P0 | P1 | P2 | P4, P1 | P2 | P4, P4, abi::FIELD_KIND_INT),
        )
        .int(ev, FLAGS, 1, bits(P0, P1))
        .int(ev, FLAGS, 2, bits(0, P2))
        .int(ev, FLAGS, 5, bits(P4, 0));
    e.rule_ranges = vec![range(0, 0), range(10, P4)];
    e.fields[0].1.range_first = 0;
    e.fields[0].1.range_count = 2;
    let evaluator = e.evaluator();
    let with = |v: u64| kernel(&evaluator, &event(ev, &[(FLAGS as u8, int(v))]));
    assert_eq!(with(1), P0 | P2 | P3, "1: p0's =, p1's !=");
    assert_eq!(with(2), P1 | P3, "2: p2's !=; p4 out of range");
    assert_eq!(with(5), P1 | P2 | P3 | P4, "5: p4's =");
    assert_eq!(with(7), P1 | P2 | P3, "7: below p4's bound");
    assert_eq!(with(10), P1 | P2 | P3 | P4, "10: p4's bound, inclusive");
    assert_eq!(with(u64::MAX), P1 | P2 | P3 | P4);
    // A missing integer argument reads as 0.
    assert_eq!(kernel(&evaluator, &event(ev, &[])), P1 | P2 | P3);

    let v = evaluator.evaluate(&event(ev, &[(FLAGS as u8, int(2))]));
    assert_eq!(v.candidates, all(5));
    assert_eq!(v.scope, all(5));
    let step = v
        .steps
        .iter()
        .find(|s| s.what == "openat.args.flags")
        .unwrap_or_else(|| panic!("no flags step: {:?}", v.steps));
    assert_eq!(step.pass, P1 | P3 | !all(5), "pass | ~enabled");
}

#[test]
fn interval_tables_give_the_bits_of_the_last_entry_starting_at_or_below_the_value() {
    let ev = openat();
    let mut b = Build::new(3).event(ev, P0 | P1 | P2, &[FLAGS]).field(
        ev,
        FLAGS,
        field_config(P0 | P1, P0 | P1, P0 | P1, abi::FIELD_KIND_INT),
    );
    // Index 0 belongs to another field: the slice starts at 1.
    b.rule_ranges = vec![
        range(0, P0 | P1),
        range(5, P0),
        range(10, P0 | P1),
        range(20, P1),
    ];
    b.fields[0].1.range_first = 1;
    b.fields[0].1.range_count = 3;
    let evaluator = b.evaluator();
    let with = |v: u64| kernel(&evaluator, &event(ev, &[(FLAGS as u8, int(v))]));
    assert_eq!(with(0), P2, "below the first entry: no bound admits it");
    assert_eq!(with(4), P2);
    assert_eq!(with(5), P0 | P2, "an entry's start is inclusive");
    assert_eq!(with(9), P0 | P2);
    assert_eq!(with(10), P0 | P1 | P2);
    assert_eq!(with(19), P0 | P1 | P2);
    assert_eq!(with(20), P1 | P2);
    assert_eq!(with(u64::MAX), P1 | P2, "the last entry runs to the end");

    // A slice running past the table: the kernel's lookup fails, no bound admits anything.
    b.fields[0].1.range_first = 2;
    b.fields[0].1.range_count = 3;
    let evaluator = b.evaluator();
    for v in [0, 5, 10, 20, u64::MAX] {
        assert_eq!(
            kernel(&evaluator, &event(ev, &[(FLAGS as u8, int(v))])),
            P2,
            "{v}"
        );
    }
    // An empty slice: the same.
    b.fields[0].1.range_first = 1;
    b.fields[0].1.range_count = 0;
    let evaluator = b.evaluator();
    assert_eq!(
        kernel(&evaluator, &event(ev, &[(FLAGS as u8, int(10))])),
        P2
    );
}

#[test]
fn signed_fields_are_biased_and_equality_keys_are_twos_complement() {
    // retval: p0 retval<0; p1 -13 <= retval <= -1; p2 retval=-1; p3 retval>=0.
    let ev = openat();
    let mut b = Build::new(4)
        .event(ev, all(4), &[abi::FIELD_RETVAL])
        .field(
            ev,
            abi::FIELD_RETVAL,
            field_config(
                all(4),
                P0 | P1 | P3,
                P0 | P1 | P3,
                abi::FIELD_KIND_INT | abi::FIELD_KIND_SIGNED,
            ),
        )
        .int(ev, abi::FIELD_RETVAL, (-1i64) as u64, bits(P2, 0));
    b.rule_ranges = vec![
        range(biased(i64::MIN), P0),
        range(biased(-13), P0 | P1),
        range(biased(0), P3),
    ];
    b.fields[0].1.range_count = 3;
    let evaluator = b.evaluator();
    let with = |r: i64| {
        let mut e = event(ev, &[]);
        e.retval = r;
        kernel(&evaluator, &e)
    };
    assert_eq!(with(i64::MIN), P0);
    assert_eq!(with(-100), P0);
    assert_eq!(with(-14), P0);
    assert_eq!(with(-13), P0 | P1);
    assert_eq!(with(-1), P0 | P1 | P2);
    assert_eq!(with(0), P3);
    assert_eq!(with(3), P3);
    assert_eq!(with(i64::MAX), P3);

    // The same table on an unsigned field is compared unbiased: -1 is 2^64 - 1, at or
    // above every start.
    b.fields[0].1.kinds = abi::FIELD_KIND_INT;
    let evaluator = b.evaluator();
    let mut e = event(ev, &[]);
    e.retval = -1;
    assert_eq!(kernel(&evaluator, &e), P2 | P3);
}

// ---------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------

#[test]
fn exact_strings_match_only_values_shorter_than_256_bytes() {
    let ev = openat();
    let long = vec![b'a'; 255];
    let evaluator = Build::new(3)
        .event(ev, all(3), &[PATHNAME])
        .field(
            ev,
            PATHNAME,
            field_config(P0 | P1, P1, 0, abi::FIELD_KIND_EXACT),
        )
        .exact(ev, PATHNAME, b"/etc/shadow", bits(P0, P1))
        .exact(ev, PATHNAME, &long, bits(P0, 0))
        .evaluator();
    let with = |s: &[u8]| kernel(&evaluator, &event(ev, &[(PATHNAME as u8, text(s))]));
    assert_eq!(with(b"/etc/shadow"), P0 | P2);
    assert_eq!(with(b"/etc/shadowx"), P1 | P2);
    assert_eq!(with(b"/etc/shado"), P1 | P2);
    assert_eq!(with(&long), P0 | P1 | P2, "255 bytes: compared");
    let mut longer = long.clone();
    longer.push(b'a');
    assert_eq!(with(&longer), P1 | P2, "256 bytes: never an exact value");
}

#[test]
fn the_longest_stored_prefix_wins() {
    // `/tmp/*` for p0, `/tmp/x/*` for p1 only: the longer entry does not carry p0's bit,
    // so a value under /tmp/x/ gets only p1, as from the kernel's LPM trie.
    let ev = openat();
    let pattern248 = vec![b'b'; abi::LPM_STR_MAX];
    let evaluator = Build::new(4)
        .event(ev, all(4), &[PATHNAME])
        .field(
            ev,
            PATHNAME,
            field_config(P0 | P1 | P2, 0, 0, abi::FIELD_KIND_PREFIX),
        )
        .prefix(ev, PATHNAME, b"/tmp/", bits(P0, 0))
        .prefix(ev, PATHNAME, b"/tmp/x/", bits(P1, 0))
        .prefix(ev, PATHNAME, &pattern248, bits(P2, 0))
        .evaluator();
    let with = |s: &[u8]| kernel(&evaluator, &event(ev, &[(PATHNAME as u8, text(s))]));
    assert_eq!(with(b"/tmp/y"), P0 | P3);
    assert_eq!(with(b"/tmp/x/y"), P1 | P3, "only the longest stored prefix");
    assert_eq!(with(b"/tmp/x/"), P1 | P3);
    assert_eq!(with(b"/tmp/x"), P0 | P3);
    assert_eq!(with(b"/tmp/"), P0 | P3, "a prefix equal to the whole value");
    assert_eq!(with(b"/tmp"), P3);
    assert_eq!(with(b"/var/tmp/"), P3);
    assert_eq!(with(b""), P3);
    // Values longer than 248 bytes are looked up on their first 248.
    let mut long = b"/tmp/".to_vec();
    long.extend(vec![b'a'; 600]);
    assert_eq!(with(&long), P0 | P3);
    assert_eq!(with(&pattern248), P2 | P3);
    let mut longer = pattern248.clone();
    longer.extend_from_slice(b"ccc");
    assert_eq!(with(&longer), P2 | P3);
    assert_eq!(with(&pattern248[..247]), P3);
}

#[test]
fn suffixes_are_looked_up_reversed() {
    let ev = openat();
    let evaluator = Build::new(3)
        .event(ev, all(3), &[PATHNAME])
        .field(
            ev,
            PATHNAME,
            field_config(P0 | P1, P1, 0, abi::FIELD_KIND_SUFFIX),
        )
        .suffix(ev, PATHNAME, b".so", bits(P0, 0))
        .suffix(ev, PATHNAME, b".bash_history", bits(0, P1))
        .evaluator();
    let with = |s: &[u8]| kernel(&evaluator, &event(ev, &[(PATHNAME as u8, text(s))]));
    assert_eq!(with(b"/lib/libc.so"), P0 | P1 | P2);
    assert_eq!(
        with(b".so"),
        P0 | P1 | P2,
        "a suffix equal to the whole value"
    );
    assert_eq!(with(b"/lib/libc.so.6"), P1 | P2);
    assert_eq!(with(b"/root/.bash_history"), P2);
    assert_eq!(with(b"so"), P1 | P2);
    // Values longer than 248 bytes are looked up on their last 248.
    let mut long = vec![b'a'; 700];
    long.extend_from_slice(b"/x.so");
    assert_eq!(with(&long), P0 | P1 | P2);
}

#[test]
fn contains_searches_the_first_255_bytes_with_at_most_32_patterns() {
    let ev = openat();
    let mut b = Build::new(3).event(ev, all(3), &[PATHNAME]).field(
        ev,
        PATHNAME,
        field_config(P0 | P1, 0, 0, abi::FIELD_KIND_CONTAINS),
    );
    // Index 0 belongs to another field; this field's patterns are 1 and 2.
    b.contains = vec![
        contains(b"etc", P0 | P1, 0),
        contains(b"shadow", P0, 0),
        contains(b"passwd", P1, 0),
    ];
    b.fields[0].1.contains_first = 1;
    b.fields[0].1.contains_count = 2;
    let evaluator = b.evaluator();
    let with = |s: &[u8]| kernel(&evaluator, &event(ev, &[(PATHNAME as u8, text(s))]));
    assert_eq!(with(b"/etc/shadow"), P0 | P2);
    assert_eq!(with(b"/backup/passwd-"), P1 | P2);
    assert_eq!(with(b"/etc/hosts"), P2, "index 0 is not this field's");
    assert_eq!(with(b"shadowpasswd"), P0 | P1 | P2);
    let mut at_255 = vec![b'a'; 249];
    at_255.extend_from_slice(b"shadow");
    assert_eq!(at_255.len(), 255);
    assert_eq!(with(&at_255), P0 | P2, "ends at byte 255: found");
    let mut at_256 = vec![b'a'; 250];
    at_256.extend_from_slice(b"shadow");
    assert_eq!(with(&at_256), P2, "ends at byte 256: not searched");

    // 40 patterns listed, 32 tried.
    let mut b = Build::new(2).event(ev, all(2), &[PATHNAME]).field(
        ev,
        PATHNAME,
        field_config(P0, 0, 0, abi::FIELD_KIND_CONTAINS),
    );
    b.contains = (0..40)
        .map(|i| contains(format!("<{i}>").as_bytes(), P0, 0))
        .collect();
    b.fields[0].1.contains_count = 40;
    let evaluator = b.evaluator();
    let with = |s: &[u8]| kernel(&evaluator, &event(ev, &[(PATHNAME as u8, text(s))]));
    assert_eq!(with(b"x<0>x"), P0 | P1);
    assert_eq!(with(b"x<31>x"), P0 | P1, "the 32nd pattern is tried");
    assert_eq!(with(b"x<32>x"), P1, "the 33rd is not");
    assert_eq!(with(b"x<39>x"), P1);
}

#[test]
fn a_missing_string_argument_passes_no_policy_that_filters_it() {
    let ev = openat();
    // p0: pathname!=/etc/shadow (would admit any other value); p1 does not filter it.
    let evaluator = Build::new(2)
        .event(ev, all(2), &[PATHNAME])
        .field(ev, PATHNAME, field_config(P0, P0, 0, abi::FIELD_KIND_EXACT))
        .exact(ev, PATHNAME, b"/etc/shadow", bits(0, P0))
        .evaluator();
    assert_eq!(kernel(&evaluator, &event(ev, &[])), P1);
    assert_eq!(
        kernel(&evaluator, &event(ev, &[(PATHNAME as u8, int(7))])),
        P1,
        "an integer where a string is filtered"
    );
    assert_eq!(
        kernel(
            &evaluator,
            &event(ev, &[(PATHNAME as u8, text(b"/etc/hosts"))])
        ),
        P0 | P1
    );
    assert_eq!(
        kernel(
            &evaluator,
            &event(ev, &[(PATHNAME as u8, text(b"/etc/shadow"))])
        ),
        P1
    );
}

#[test]
fn comm_and_host_name_are_string_context_fields() {
    let ev = openat();
    // p0: comm=bash; p1: hostName!=build-*; p2: comm=abcdefghijklmno (15 bytes).
    let evaluator = Build::new(3)
        .event(ev, all(3), &[cf::COMM, cf::HOST_NAME])
        .field(
            ev,
            cf::COMM,
            field_config(P0 | P2, 0, 0, abi::FIELD_KIND_EXACT),
        )
        .exact(ev, cf::COMM, b"bash", bits(P0, 0))
        .exact(ev, cf::COMM, b"abcdefghijklmno", bits(P2, 0))
        .field(
            ev,
            cf::HOST_NAME,
            field_config(P1, P1, 0, abi::FIELD_KIND_PREFIX),
        )
        .prefix(ev, cf::HOST_NAME, b"build-", bits(0, P1))
        .evaluator();
    let with = |comm: &[u8], host: &[u8]| {
        let mut e = event(ev, &[]);
        e.context.comm = comm.to_vec();
        e.context.host_name = host.to_vec();
        evaluator.evaluate(&e)
    };
    assert_eq!(with(b"bash", b"web-1").kernel, P0 | P1);
    assert_eq!(with(b"bash", b"build-7").kernel, P0);
    assert_eq!(with(b"bashful", b"web-1").kernel, P1);
    assert_eq!(with(b"abcdefghijklmno", b"").kernel, P1 | P2);
    // The kernel's comm is 15 bytes: a longer one is compared on its first 15.
    assert_eq!(with(b"abcdefghijklmnopq", b"").kernel, P1 | P2);
    let v = with(b"sh", b"build-1");
    assert_eq!(v.refused_by(0), Some("openat.comm"));
    assert_eq!(v.refused_by(1), Some("openat.hostName"));
}

// ---------------------------------------------------------------------------------------
// Scope
// ---------------------------------------------------------------------------------------

#[test]
fn scope_uid_with_equality_and_ranges() {
    // p0: uid=0. p1: 0 < uid < 1000. p2: uid!=0. p3: no uid.
    let ev = openat();
    let mut b = Build::new(4)
        .event(ev, all(4), &[])
        .scope_dim(scope_dim::UID, P0 | P1 | P2, P1 | P2)
        .scope_ranged(scope_dim::UID, P1, 1, 3)
        .scope_entry(scope_dim::UID, &0u32.to_le_bytes(), bits(P0, P2));
    b.scope_ranges = vec![range(0, !0), range(0, 0), range(1, P1), range(1000, 0)];
    let evaluator = b.evaluator();
    let with = |uid: u32| {
        let mut e = event(ev, &[]);
        e.context.uid = uid;
        evaluator.evaluate(&e)
    };
    assert_eq!(with(0).kernel, P0 | P3);
    assert_eq!(with(1).kernel, P1 | P2 | P3);
    assert_eq!(with(999).kernel, P1 | P2 | P3);
    assert_eq!(with(1000).kernel, P2 | P3);
    assert_eq!(with(u32::MAX).kernel, P2 | P3);
    let v = with(1000);
    assert_eq!(v.scope, P2 | P3);
    assert_eq!(v.refused_by(1), Some("scope uid"));
    assert_eq!(v.refused_by(3), None, "matched");
}

#[test]
fn scope_comm_keys_are_padded_to_16_bytes() {
    let ev = openat();
    let evaluator = Build::new(2)
        .event(ev, all(2), &[])
        .scope_dim(scope_dim::COMM, P0 | P1, P1)
        .scope_entry(
            scope_dim::COMM,
            &abi::fixed::<{ abi::COMM_LEN }>(b"bash"),
            bits(P0, P1),
        )
        .evaluator();
    let with = |comm: &[u8]| {
        let mut e = event(ev, &[]);
        e.context.comm = comm.to_vec();
        kernel(&evaluator, &e)
    };
    assert_eq!(with(b"bash"), P0);
    assert_eq!(with(b"bash\0junk"), P0, "up to the NUL");
    assert_eq!(with(b"bas"), P1);
    assert_eq!(with(b"bashx"), P1);
    assert_eq!(with(b""), P1);

    // The kernel's comm is 15 bytes: a longer one is looked up by its first 15.
    let long = Build::new(2)
        .event(ev, all(2), &[])
        .scope_dim(scope_dim::COMM, P0 | P1, P1)
        .scope_entry(
            scope_dim::COMM,
            &abi::fixed::<{ abi::COMM_LEN }>(b"abcdefghijklmno"),
            bits(P0, P1),
        )
        .evaluator();
    let mut e = event(ev, &[]);
    e.context.comm = b"abcdefghijklmnopq".to_vec();
    assert_eq!(kernel(&long, &e), P0);
}

#[test]
fn scope_tree_follows_the_ancestors() {
    let ev = openat();
    let evaluator = Build::new(3)
        .event(ev, all(3), &[])
        .scope_dim(scope_dim::TREE, P0 | P1, 0)
        .scope_entry(scope_dim::TREE, &100u32.to_le_bytes(), bits(P0, 0))
        .scope_entry(scope_dim::TREE, &200u32.to_le_bytes(), bits(P1, 0))
        .evaluator();
    let with = |pid: u32, ancestors: &[u32]| {
        let mut e = event(ev, &[]);
        e.context.host_pid = pid;
        e.task.ancestors = ancestors.to_vec();
        evaluator.evaluate(&e)
    };
    assert_eq!(with(100, &[]).kernel, P0 | P2, "the listed pid itself");
    assert_eq!(with(300, &[100, 1]).kernel, P0 | P2);
    assert_eq!(with(400, &[300, 100, 1]).kernel, P0 | P2);
    assert_eq!(with(400, &[300, 50, 1]).kernel, P2);
    assert_eq!(with(300, &[]).kernel, P2);
    // The task's entry is its nearest listed ancestor's.
    assert_eq!(with(300, &[200, 100]).kernel, P1 | P2);
    assert_eq!(with(300, &[50, 1]).refused_by(0), Some("scope tree"));
}

fn exe_key(mount_ns: u64, path: &[u8]) -> Vec<u8> {
    bytes_of(&ScopeExeKey {
        mount_ns,
        path: abi::fixed(path),
    })
    .to_vec()
}

#[test]
fn scope_executable_any_own_and_host_namespaces() {
    // p0: /usr/bin/any in any namespace (0). p1: /usr/bin/python3 in namespace 4026532000.
    // p2: host:/usr/bin/curl (1). p3: executable!=/usr/bin/sudo. p4: no executable.
    let ev = openat();
    let evaluator = Build::new(5)
        .event(ev, all(5), &[])
        .scope_dim(scope_dim::EXE, P0 | P1 | P2 | P3, P3)
        .scope_entry(scope_dim::EXE, &exe_key(0, b"/usr/bin/any"), bits(P0, 0))
        .scope_entry(
            scope_dim::EXE,
            &exe_key(4026532000, b"/usr/bin/python3"),
            bits(P1, 0),
        )
        .scope_entry(scope_dim::EXE, &exe_key(1, b"/usr/bin/curl"), bits(P2, 0))
        .scope_entry(scope_dim::EXE, &exe_key(0, b"/usr/bin/sudo"), bits(0, P3))
        .evaluator();
    let host = 4026531840;
    let with = |exe: Option<(u64, &[u8])>| {
        let mut e = event(ev, &[]);
        e.task.host_mntns = host;
        e.task.exe = exe.map(|(mount_ns, path)| Exe {
            mount_ns,
            path: path.to_vec(),
        });
        evaluator.evaluate(&e)
    };
    assert_eq!(with(Some((777, b"/usr/bin/any"))).kernel, P0 | P3 | P4);
    assert_eq!(with(Some((host, b"/usr/bin/any"))).kernel, P0 | P3 | P4);
    assert_eq!(
        with(Some((4026532000, b"/usr/bin/python3"))).kernel,
        P1 | P3 | P4
    );
    assert_eq!(with(Some((777, b"/usr/bin/python3"))).kernel, P3 | P4);
    assert_eq!(with(Some((host, b"/usr/bin/curl"))).kernel, P2 | P3 | P4);
    assert_eq!(
        with(Some((777, b"/usr/bin/curl"))).kernel,
        P3 | P4,
        "not the host's namespace"
    );
    assert_eq!(with(Some((host, b"/usr/bin/sudo"))).kernel, P4);
    let unknown = with(None);
    assert_eq!(unknown.kernel, P3 | P4, "unknown binary: a missing value");
    assert_eq!(unknown.refused_by(0), Some("scope executable"));
}

#[test]
fn scope_booleans_follow_bool_expect() {
    // p0: container. p1: not-container. p2: pid=new. p3: container=new. p4: nothing.
    let ev = openat();
    let evaluator = Build::new(5)
        .event(ev, all(5), &[])
        .scope_bool(scope_bool::IN_CONTAINER, P0 | P1, P0)
        .scope_bool(scope_bool::NEW_PID, P2, P2)
        .scope_bool(scope_bool::NEW_CONTAINER, P3, P3)
        .evaluator();
    let with = |container: ContainerState, new_pid: bool| {
        let mut e = event(ev, &[]);
        e.task.container = container;
        e.task.new_pid = new_pid;
        evaluator.evaluate(&e)
    };
    assert_eq!(with(ContainerState::None, false).kernel, P1 | P4);
    assert_eq!(with(ContainerState::None, true).kernel, P1 | P2 | P4);
    assert_eq!(with(ContainerState::Existing, false).kernel, P0 | P4);
    assert_eq!(with(ContainerState::New, true).kernel, P0 | P2 | P3 | P4);
    let v = with(ContainerState::Existing, false);
    assert_eq!(v.refused_by(1), Some("scope container"));
    assert_eq!(v.refused_by(2), Some("scope pid=new"));
    assert_eq!(v.refused_by(3), Some("scope container=new"));
}

#[test]
fn scope_config_policies_leave_a_policy_out() {
    let ev = openat();
    let mut b = Build::new(3).event(ev, all(3), &[]);
    b.scope.policies = P0 | P2;
    let evaluator = b.evaluator();
    let v = evaluator.evaluate(&event(ev, &[]));
    assert_eq!(v.candidates, all(3));
    assert_eq!(v.scope, P0 | P2);
    assert_eq!(v.kernel, P0 | P2);
    assert_eq!(v.refused_by(1), Some("scope (a scope no task satisfies)"));
}

// ---------------------------------------------------------------------------------------
// The verdict
// ---------------------------------------------------------------------------------------

#[test]
fn refused_by_names_the_first_failing_step() {
    // p0: uid=0 scope and flags=1. p1: flags=1. p2: pathname=/etc/shadow and flags=1.
    // p3 has no rule for openat.
    let ev = openat();
    let evaluator = Build::new(4)
        .event(ev, P0 | P1 | P2, &[FLAGS, PATHNAME])
        .scope_dim(scope_dim::UID, P0, 0)
        .scope_entry(scope_dim::UID, &0u32.to_le_bytes(), bits(P0, 0))
        .field(
            ev,
            FLAGS,
            field_config(P0 | P1 | P2, 0, 0, abi::FIELD_KIND_INT),
        )
        .int(ev, FLAGS, 1, bits(P0 | P1 | P2, 0))
        .field(ev, PATHNAME, field_config(P2, 0, 0, abi::FIELD_KIND_EXACT))
        .exact(ev, PATHNAME, b"/etc/shadow", bits(P2, 0))
        .evaluator();
    let mut e = event(
        ev,
        &[(FLAGS as u8, int(2)), (PATHNAME as u8, text(b"/etc/hosts"))],
    );
    e.context.uid = 1000;
    let v = evaluator.evaluate(&e);
    assert_eq!(v.kernel, 0);
    assert_eq!(v.refused_by(0), Some("scope uid"));
    assert_eq!(v.refused_by(1), Some("openat.args.flags"));
    assert_eq!(v.refused_by(2), Some("openat.args.flags"), "the first one");
    assert_eq!(v.refused_by(3), Some("no rule for the event"));
    assert_eq!(v.refused_by(64), None);
    let names: Vec<&str> = v.steps.iter().map(|s| s.what.as_str()).collect();
    assert_eq!(
        names,
        [
            "scope (a scope no task satisfies)",
            "scope uid",
            "openat.args.flags",
            "openat.args.pathname"
        ]
    );

    e.args.insert(FLAGS as u8, int(1));
    let v = evaluator.evaluate(&e);
    assert_eq!(v.kernel, P1);
    assert_eq!(v.refused_by(1), None);
    assert_eq!(v.refused_by(2), Some("openat.args.pathname"));

    // An event the image has no rule for: no candidate, no step.
    let v = evaluator.evaluate(&event(event_id("close"), &[]));
    assert_eq!(v, Verdict::default());
    assert_eq!(v.refused_by(0), Some("no rule for the event"));
}

#[test]
fn userspace_bits_come_from_the_event_and_from_scope_filters() {
    let ev = openat();
    let close = event_id("close");
    let filter = |policy: u8, event: u32| UserspaceFilter {
        policy,
        event,
        field: "containerName".into(),
        op: "=".into(),
        values: vec!["web".into()],
        reason: "container metadata".into(),
    };
    let mut b = Build::new(4)
        .event(ev, all(4), &[FLAGS])
        .event_userspace(ev, P1)
        .event(close, all(4), &[])
        .field(ev, FLAGS, field_config(P3, 0, 0, abi::FIELD_KIND_INT))
        .int(ev, FLAGS, 1, bits(P3, 0));
    // p2's scope has `container=ID` (event u32::MAX); p3's filter is on another event's
    // rule, which only `events[id].userspace` marks.
    b.userspace_filters = vec![filter(2, SCOPE_EVENT), filter(3, close)];
    let evaluator = b.evaluator();
    let v = evaluator.evaluate(&event(ev, &[(FLAGS as u8, int(1))]));
    assert_eq!(v.kernel, all(4));
    assert_eq!(v.userspace, P1 | P2);
    let v = evaluator.evaluate(&event(ev, &[(FLAGS as u8, int(2))]));
    assert_eq!(v.kernel, P0 | P1 | P2);
    assert_eq!(v.userspace, P1 | P2);
    let v = evaluator.evaluate(&event(close, &[]));
    assert_eq!(v.kernel, all(4));
    assert_eq!(v.userspace, P2, "the scope filter applies to every event");

    // Only among the kernel's matches: p2 turned away by its scope is not undecided.
    b.scope.policies = P0 | P1 | P3;
    let v = b.evaluator().evaluate(&event(close, &[]));
    assert_eq!(v.kernel, P0 | P1 | P3);
    assert_eq!(v.userspace, 0);
}

#[test]
fn a_map_with_another_layout_is_refused() {
    let mut b = Build::new(1);
    b.raw.push(map(
        "rule_int",
        MapType::Hash,
        12,
        size_of::<EqBits>(),
        vec![(vec![0; 12], vec![0; 16])],
    ));
    match Evaluator::new(&b.image()) {
        Err(EvalError::MapLayout {
            map,
            key,
            value,
            want_key,
            want_value,
        }) => {
            assert_eq!(map, "rule_int");
            assert_eq!((key, value), (12, 16));
            assert_eq!(
                (want_key, want_value),
                (size_of::<IntKey>(), size_of::<EqBits>())
            );
        }
        Ok(_) => panic!("a 12-byte rule_int key was accepted"),
    }

    let mut b = Build::new(1);
    b.raw.push(map(
        "scope_uid",
        MapType::Hash,
        4,
        8,
        vec![(vec![0; 4], vec![0; 8])],
    ));
    let err = Evaluator::new(&b.image()).err();
    assert!(
        matches!(&err, Some(EvalError::MapLayout { map, value: 8, want_value: 16, .. }) if map == "scope_uid"),
        "{err:?}"
    );
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("`scope_uid`"), "{message}");
}

#[test]
fn an_image_without_maps_matches_nothing() {
    let evaluator = Evaluator::new(&Image {
        abi_hash: 0,
        catalog_hash: 0,
        meta: Meta::default(),
        maps: Vec::new(),
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        evaluator.evaluate(&event(openat(), &[])),
        Verdict::default()
    );
}

// ---------------------------------------------------------------------------------------
// Events from JSON (`schema::eval::input`)
// ---------------------------------------------------------------------------------------

fn read(v: serde_json::Value) -> Event {
    input::event(&v).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn refused(v: serde_json::Value) -> String {
    match input::event(&v) {
        Ok(e) => panic!("{v} was read: {e:?}"),
        Err(message) => message,
    }
}

#[test]
fn input_reads_a_tracee_load_json_line() {
    let line = r#"{"timestamp":1719400000123456789,"processorId":3,"processId":42,"cgroupId":8123,"threadId":43,"parentProcessId":40,"hostProcessId":4242,"hostThreadId":4243,"hostParentProcessId":4000,"userId":1000,"mountNamespace":4026531841,"pidNamespace":4026531836,"processName":"cat","hostName":"build-7","eventId":"257","eventName":"openat","matchedPolicies":["a"],"argsNum":4,"returnValue":-13,"syscall":"openat","args":[{"name":"dirfd","type":"int","value":-100},{"name":"pathname","type":"const char*","value":"/etc/shadow"},{"name":"flags","type":"int","value":524288},{"name":"mode","type":"mode_t","value":0}],"audit":{"generation":1,"kernelPolicies":1}}"#;
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}"));
    let e = read(v);
    assert_eq!(e.id, openat());
    assert_eq!(e.retval, -13);
    assert_eq!(e.args.get(&0), Some(&Value::Int((-100i64) as u64)));
    assert_eq!(e.args.get(&1), Some(&text(b"/etc/shadow")));
    assert_eq!(e.args.get(&2), Some(&Value::Int(524288)));
    assert_eq!(e.args.get(&3), Some(&Value::Int(0)));
    let c = &e.context;
    assert_eq!(c.timestamp, 1719400000123456789);
    assert_eq!(c.processor_id, 3);
    assert_eq!((c.pid, c.tid, c.ppid), (42, 43, 40));
    assert_eq!((c.host_pid, c.host_tid, c.host_ppid), (4242, 4243, 4000));
    assert_eq!(c.uid, 1000);
    assert_eq!(
        (c.mntns, c.pidns, c.cgroup_id),
        (4026531841, 4026531836, 8123)
    );
    assert_eq!(c.comm, b"cat");
    assert_eq!(c.host_name, b"build-7");
    assert_eq!(c.syscall, openat());
    assert_eq!(e.task, Default::default());

    // `syscall` names the syscall an event came from; "" for none.
    let e = read(json!({"eventName": "security_file_open", "syscall": "openat"}));
    assert_eq!(e.context.syscall, openat());
    let e = read(json!({"eventName": "security_file_open", "syscall": ""}));
    assert_eq!(e.context.syscall, u32::MAX);
    let e = read(json!({"eventName": "security_file_open"}));
    assert_eq!(
        e.context.syscall,
        u32::MAX,
        "not a syscall: none by default"
    );
    let e = read(json!({"eventId": "257"}));
    assert_eq!((e.id, e.context.syscall), (openat(), openat()));
}

#[test]
fn input_reads_the_compact_form() {
    let e = read(json!({
        "event": "openat",
        "args": {"pathname": "/tmp/x", "flags": "0x241", "mode": "0o755", "dirfd": "-100"},
        "retval": "-2",
        "pid": 77,
        "comm": "cat",
        "uid": "0x3e8",
        "task": {
            "ancestors": [76, "1"],
            "executable": "/usr/bin/cat",
            "hostMntns": 5,
            "newPid": true,
            "container": "new"
        },
        "mntns": 9
    }));
    assert_eq!(e.args.get(&1), Some(&text(b"/tmp/x")));
    assert_eq!(e.args.get(&2), Some(&Value::Int(0x241)));
    assert_eq!(e.args.get(&3), Some(&Value::Int(0o755)));
    assert_eq!(e.args.get(&0), Some(&Value::Int((-100i64) as u64)));
    assert_eq!(e.retval, -2);
    assert_eq!(e.context.uid, 1000);
    assert_eq!(e.context.comm, b"cat");
    // pid and hostPid default to each other, tids to the pids.
    assert_eq!((e.context.pid, e.context.host_pid), (77, 77));
    assert_eq!((e.context.tid, e.context.host_tid), (77, 77));
    assert_eq!(e.task.ancestors, [76, 1]);
    assert_eq!(
        e.task.exe,
        Some(Exe {
            mount_ns: 9,
            path: b"/usr/bin/cat".to_vec()
        }),
        "in the event's mount namespace"
    );
    assert_eq!(e.task.host_mntns, 5);
    assert!(e.task.new_pid);
    assert_eq!(e.task.container, ContainerState::New);

    let e = read(json!({"event": "openat", "hostPid": 500, "ppid": 4}));
    assert_eq!((e.context.pid, e.context.host_pid), (500, 500));
    assert_eq!(e.context.host_ppid, 4);
    let e = read(json!({"event": "openat", "pid": 3, "hostPid": 500}));
    assert_eq!((e.context.pid, e.context.host_pid), (3, 500));
    // `data` is `args`' other name; numbers and booleans are read as strings where the
    // argument is one.
    let e = read(json!({"event": "openat", "data": {"pathname": 123}}));
    assert_eq!(e.args.get(&1), Some(&text(b"123")));
    let e = read(json!({"event": "close", "args": {"fd": -1}, "returnValue": -9}));
    assert_eq!(e.args.get(&0), Some(&Value::Int(u64::MAX)));
    assert_eq!(e.retval, -9);
    let e = read(json!({"event": "kill", "args": {"pid": 18446744073709551615u64}}));
    assert_eq!(e.args.get(&0), Some(&Value::Int(u64::MAX)));
}

#[test]
fn input_refuses_what_it_cannot_read_with_a_message() {
    let cases = [
        (json!(["openat"]), "an event must be a mapping"),
        (json!({"comm": "cat"}), "the event has no `event`"),
        (json!({"event": "opennat"}), "unknown event `opennat`"),
        (json!({"event": 7}), "`event` must be an event name"),
        (json!({"eventId": 99999}), "unknown event id 99999"),
        (json!({"event": "openat", "usr": 0}), "unknown key `usr`"),
        (
            json!({"event": "openat", "args": {"path": "/x"}}),
            "openat has no argument `path`",
        ),
        (
            json!({"event": "openat", "args": [{"name": "path", "value": "/x"}]}),
            "openat has no argument `path`",
        ),
        (
            json!({"event": "openat", "args": [{"value": "/x"}]}),
            "each of `args` must have a `name`",
        ),
        (
            json!({"event": "openat", "args": "/x"}),
            "`args` must be a list or a mapping",
        ),
        (
            json!({"event": "openat", "args": {"flags": "lots"}}),
            "argument `flags` of openat is an integer, got \"lots\"",
        ),
        (
            json!({"event": "openat", "args": {"pathname": ["/x"]}}),
            "argument `pathname` of openat is a string",
        ),
        (
            json!({"event": "openat", "retval": "ok"}),
            "`retval` must be an integer",
        ),
        (
            json!({"event": "openat", "uid": -1}),
            "`uid` must be an unsigned 32-bit integer",
        ),
        (
            json!({"event": "openat", "pid": 4294967296u64}),
            "`pid` must be an unsigned 32-bit integer",
        ),
        (
            json!({"event": "openat", "mntns": "x"}),
            "`mntns` must be an integer",
        ),
        (
            json!({"event": "openat", "comm": []}),
            "`comm` must be a string",
        ),
        (
            json!({"event": "openat", "syscall": "sched_process_exec"}),
            "`syscall`: `sched_process_exec` is not a syscall",
        ),
        (
            json!({"event": "openat", "task": 1}),
            "`task` must be a mapping",
        ),
        (
            json!({"event": "openat", "task": {"parent": 1}}),
            "unknown key `task.parent`",
        ),
        (
            json!({"event": "openat", "task": {"container": "maybe"}}),
            "`task.container` is one of none, existing, new",
        ),
        (
            json!({"event": "openat", "task": {"newPid": "yes"}}),
            "`task.newPid` must be true or false",
        ),
        (
            json!({"event": "openat", "task": {"ancestors": 1}}),
            "`task.ancestors` must be a list of host pids",
        ),
        (
            json!({"event": "openat", "task": {"executable": 1}}),
            "`task.executable` must be a path",
        ),
    ];
    for (value, want) in cases {
        let message = refused(value.clone());
        assert!(
            message.starts_with(want),
            "{value}: `{message}` does not start with `{want}`"
        );
    }
}

/// A socket address read from tracee-load's JSON gives the kernel's part slots: port and
/// IPv4 address as numbers, a unix path as a string under its own field id.
#[test]
fn socket_address_parts_from_json() {
    let connect = event_id("security_socket_connect");
    let inet = input::event(&json!({
        "eventName": "security_socket_connect",
        "args": [{"name": "remote_addr", "value": {"sa_family": "AF_INET", "sin_port": "443", "sin_addr": "10.1.2.3"}}],
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inet.id, connect);
    assert_eq!(inet.args.get(&22), Some(&Value::Int(443)));
    assert_eq!(inet.args.get(&28), Some(&Value::Int(0x0a01_0203)));
    assert_eq!(inet.args.get(&60), None);
    let unix = input::event(&json!({
        "eventName": "security_socket_connect",
        "args": [{"name": "remote_addr", "value": {"sa_family": "AF_UNIX", "sun_path": "/run/docker.sock"}}],
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(unix.args.get(&22), Some(&Value::Int(0)));
    assert_eq!(
        unix.args.get(&60),
        Some(&Value::Str(b"/run/docker.sock".to_vec()))
    );
}
