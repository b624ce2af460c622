//! Random policies and their meaning, for the differential tests (docs/policy-tests.md):
//! `loader/tests/differential.rs` (the kernel, with real syscalls) and
//! `compiler/tests/integration/differential.rs` (offline, with generated events). Shared by
//! the test crates without being a crate: include it with `#[path = ".."] mod policygen;`.
//!
//! Policies use every operator on boundary integers of each width, string patterns cut
//! from the round's paths (often the whole value), `!=` on integers and strings, and bounds
//! in scopes and rules. `oracle` decides an event (in `tracee-load --output json` form)
//! straight from the generated filters, as docs/policies.md defines them: it never looks at
//! the compiler or the image.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use serde_json::Value;

/// An argument of a printed event by name.
pub fn arg<'a>(event: &'a Value, name: &str) -> Option<&'a Value> {
    event["args"]
        .as_array()?
        .iter()
        .find(|a| a["name"] == name)
        .map(|a| &a["value"])
}

/// splitmix64: a small seeded generator, so a failing round replays from its seed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ty {
    I32,
    U16,
    U32,
    I64,
    U64,
    Str,
}

impl Ty {
    pub fn min_max(self) -> (i128, i128) {
        match self {
            Ty::I32 => (i32::MIN.into(), i32::MAX.into()),
            Ty::U16 => (0, u16::MAX.into()),
            Ty::U32 => (0, u32::MAX.into()),
            Ty::I64 | Ty::Str => (i64::MIN.into(), i64::MAX.into()),
            Ty::U64 => (0, u64::MAX.into()),
        }
    }
}

/// Integer boundary values per type: the filters' values and the syscalls' arguments are
/// both drawn from here, so equalities and bounds are hit exactly, one below and one above.
pub fn pool(ty: Ty) -> Vec<i128> {
    let base: Vec<i128> = match ty {
        Ty::I32 => vec![
            i32::MIN.into(),
            -101,
            -100,
            -99,
            -9,
            -2,
            -1,
            0,
            1,
            2,
            3,
            7,
            64,
            65,
            100,
            1000,
            524_288,
            i32::MAX.into(),
        ],
        Ty::U16 => vec![0, 1, 2, 0o644, 0o755, 0o777, 0o4755, 4096, u16::MAX.into()],
        Ty::U32 => vec![
            0,
            1,
            2,
            0o644,
            0o755,
            0o777,
            4096,
            65_536,
            2_147_483_648,
            u32::MAX.into(),
        ],
        Ty::I64 => vec![
            i64::MIN.into(),
            -4096,
            -22,
            -14,
            -9,
            -2,
            -1,
            0,
            1,
            3,
            4,
            5,
            4096,
            1 << 32,
            i64::MAX.into(),
        ],
        Ty::U64 => vec![0, 1, 4096, 1 << 32, (1 << 63) - 1, 1 << 63, u64::MAX.into()],
        Ty::Str => vec![],
    };
    let (lo, hi) = ty.min_max();
    let mut out = Vec::new();
    for v in base {
        for d in [-1, 0, 1] {
            let x = v + d;
            if x >= lo && x <= hi && !out.contains(&x) {
                out.push(x);
            }
        }
    }
    out
}

/// A field a filter can name: an argument, the return value or a context field.
#[derive(Clone, Debug)]
pub struct FieldSpec {
    /// As written in the policy (`args.pathname`, `retval`, `uid`, `comm`).
    pub name: &'static str,
    pub ty: Ty,
    /// Where its value is in the printed event.
    pub source: Source,
}

#[derive(Clone, Copy, Debug)]
pub enum Source {
    Arg(&'static str),
    Retval,
    Uid,
    Comm,
    HostName,
    HostPid,
}

pub struct EventSpec {
    pub name: &'static str,
    pub fields: Vec<FieldSpec>,
}

pub fn events() -> Vec<EventSpec> {
    let arg = |name: &'static str, arg: &'static str, ty| FieldSpec {
        name,
        ty,
        source: Source::Arg(arg),
    };
    let retval = FieldSpec {
        name: "retval",
        ty: Ty::I64,
        source: Source::Retval,
    };
    vec![
        EventSpec {
            name: "openat",
            fields: vec![
                arg("args.dirfd", "dirfd", Ty::I32),
                arg("args.pathname", "pathname", Ty::Str),
                arg("args.flags", "flags", Ty::I32),
                arg("data.mode", "mode", Ty::U16),
                retval.clone(),
            ],
        },
        EventSpec {
            name: "faccessat",
            fields: vec![
                arg("args.dirfd", "dirfd", Ty::I32),
                arg("args.pathname", "pathname", Ty::Str),
                arg("args.mode", "mode", Ty::I32),
                retval.clone(),
            ],
        },
        EventSpec {
            name: "close",
            fields: vec![arg("args.fd", "fd", Ty::I32), retval.clone()],
        },
        EventSpec {
            name: "lseek",
            fields: vec![
                arg("args.fd", "fd", Ty::I32),
                arg("args.offset", "offset", Ty::I64),
                arg("args.whence", "whence", Ty::U32),
                retval.clone(),
            ],
        },
        EventSpec {
            name: "read",
            fields: vec![
                arg("args.fd", "fd", Ty::I32),
                arg("args.buf", "buf", Ty::U64),
                arg("args.count", "count", Ty::U64),
                retval,
            ],
        },
    ]
}

/// Context fields rules filter on (the same in every event).
pub fn context_fields() -> Vec<FieldSpec> {
    vec![
        FieldSpec {
            name: "uid",
            ty: Ty::U32,
            source: Source::Uid,
        },
        FieldSpec {
            name: "processName",
            ty: Ty::Str,
            source: Source::Comm,
        },
        FieldSpec {
            name: "hostName",
            ty: Ty::Str,
            source: Source::HostName,
        },
        FieldSpec {
            name: "hostPid",
            ty: Ty::U32,
            source: Source::HostPid,
        },
    ]
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn text(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        }
    }
}

#[derive(Clone, Debug)]
pub enum FilterValue {
    Int(i128),
    /// A string pattern: `*` at the start and/or end.
    Pattern(String),
}

#[derive(Clone, Debug)]
pub struct Filter {
    pub field: FieldSpec,
    pub op: Op,
    pub value: FilterValue,
}

impl Filter {
    pub fn text(&self) -> String {
        let v = match &self.value {
            FilterValue::Int(i) => i.to_string(),
            FilterValue::Pattern(p) => p.clone(),
        };
        format!("{}{}{}", self.field.name, self.op.text(), v)
    }
}

pub struct Rule {
    pub event: &'static str,
    pub filters: Vec<Filter>,
}

pub struct Policy {
    pub name: String,
    /// Scope filters (uid, pid: all six operators; comm, uts: `=`/`!=`).
    pub scope: Vec<Filter>,
    pub rules: Vec<Rule>,
}

/// Strings of the round: paths under the scratch directory of every length that matters
/// (the 248-byte trie keys, the 255-byte exact keys and substring search), and names.
pub struct Strings {
    /// Per integer type, a few values of the pool both the filters and the syscalls use
    /// most of the time, so that `=` and `!=` values are hit often.
    pub hot: HashMap<Ty, Vec<i128>>,
    /// The same for paths.
    pub hot_paths: Vec<String>,
    pub paths: Vec<String>,
    pub comms: Vec<String>,
    pub hosts: Vec<String>,
}

/// A value of type `ty`: mostly one of the round's hot values, else any of the pool.
pub fn value(rng: &mut Rng, st: &Strings, ty: Ty) -> i128 {
    match st.hot.get(&ty) {
        Some(hot) if rng.chance(75) => *rng.pick(hot),
        _ => *rng.pick(&pool(ty)),
    }
}

pub fn strings(rng: &mut Rng, dir: &Path) -> Strings {
    let base = dir.display().to_string();
    let mut paths = vec![
        format!("{base}/secret"),
        format!("{base}/secret.so"),
        format!("{base}/secrets/x"),
        format!("{base}/secre"),
        format!("{base}/x/secret"),
        "secret".to_owned(),
        "/etc/hostname".to_owned(),
    ];
    for total in [247usize, 248, 249, 255, 256, 257, 300] {
        let fill = total.saturating_sub(base.len() + 1);
        paths.push(format!("{base}/{}", "a".repeat(fill)));
    }
    // A long name that differs only past the 255th byte from another.
    paths.push(format!("{base}/{}b", "a".repeat(299 - base.len())));
    let hot = [Ty::I32, Ty::U16, Ty::U32, Ty::I64, Ty::U64]
        .into_iter()
        .map(|ty| {
            let pool = pool(ty);
            (ty, (0..4).map(|_| *rng.pick(&pool)).collect())
        })
        .collect();
    let hot_paths = (0..3).map(|_| rng.pick(&paths).clone()).collect();
    Strings {
        hot,
        hot_paths,
        paths,
        comms: ["alpha", "alphabet", "alph", "beta", "zzzzzzzzzzzzzzz"]
            .map(str::to_owned)
            .to_vec(),
        hosts: vec![hostname(), "other-host".to_owned()],
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// A pattern that some of `values` match: exact, prefix, suffix or substring, cut at a
/// random place (often the whole value: a prefix equal to the value), within the limits the
/// compiler accepts (255 bytes exact and substring, 248 prefix and suffix).
pub fn pattern(rng: &mut Rng, values: &[String]) -> String {
    let v = rng.pick(values).as_bytes();
    let cut = |rng: &mut Rng, max: usize| -> usize {
        let max = max.min(v.len()).max(1);
        match rng.below(4) {
            0 => max,
            1 => max.saturating_sub(1).max(1),
            2 => 1,
            _ => 1 + rng.below(max),
        }
    };
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    match rng.below(4) {
        0 if v.len() <= 255 => s(v),
        1 => {
            let k = cut(rng, 248);
            format!("{}*", s(&v[..k]))
        }
        2 => {
            let k = cut(rng, 248);
            format!("*{}", s(&v[v.len() - k..]))
        }
        _ => {
            let k = cut(rng, 255);
            let start = rng.below(v.len() - k + 1);
            format!("*{}*", s(&v[start..start + k]))
        }
    }
}

pub fn int_filter(rng: &mut Rng, st: &Strings, field: &FieldSpec, ops: &[Op]) -> Filter {
    let op = *rng.pick(ops);
    Filter {
        field: field.clone(),
        op,
        value: FilterValue::Int(value(rng, st, field.ty)),
    }
}

pub fn str_filter(rng: &mut Rng, field: &FieldSpec, values: &[String], wildcards: bool) -> Filter {
    let op = if rng.chance(35) { Op::Ne } else { Op::Eq };
    let value = if wildcards {
        pattern(rng, values)
    } else {
        rng.pick(values).clone()
    };
    Filter {
        field: field.clone(),
        op,
        value: FilterValue::Pattern(value),
    }
}

pub const ALL_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

pub fn generate(rng: &mut Rng, st: &Strings, count: usize) -> Vec<Policy> {
    let events = events();
    let ctx = context_fields();
    let mut policies = Vec::new();
    for i in 0..count {
        let mut scope = Vec::new();
        for _ in 0..rng.below(3) {
            let f = match rng.below(4) {
                0 => int_filter(
                    rng,
                    st,
                    &FieldSpec {
                        name: "uid",
                        ty: Ty::U32,
                        source: Source::Uid,
                    },
                    &ALL_OPS,
                ),
                1 => {
                    let threshold = 100 + rng.below(200_000) as i128;
                    Filter {
                        field: FieldSpec {
                            name: "pid",
                            ty: Ty::U32,
                            source: Source::HostPid,
                        },
                        op: *rng.pick(&[Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::Ne]),
                        value: FilterValue::Int(threshold),
                    }
                }
                2 => str_filter(
                    rng,
                    &FieldSpec {
                        name: "comm",
                        ty: Ty::Str,
                        source: Source::Comm,
                    },
                    &st.comms,
                    false,
                ),
                _ => str_filter(
                    rng,
                    &FieldSpec {
                        name: "uts",
                        ty: Ty::Str,
                        source: Source::HostName,
                    },
                    &st.hosts,
                    false,
                ),
            };
            scope.push(f);
        }
        let mut rules = Vec::new();
        let mut chosen: Vec<usize> = (0..events.len()).collect();
        let n = 1 + rng.below(3);
        for _ in 0..n {
            let e = chosen.remove(rng.below(chosen.len()));
            let ev = &events[e];
            let mut filters = Vec::new();
            for _ in 0..rng.below(4) {
                let use_ctx = rng.chance(25);
                let field = if use_ctx {
                    rng.pick(&ctx).clone()
                } else {
                    rng.pick(&ev.fields).clone()
                };
                let f = match (field.ty, field.source) {
                    (Ty::Str, Source::Arg(_)) => {
                        let paths = if rng.chance(75) {
                            &st.hot_paths
                        } else {
                            &st.paths
                        };
                        str_filter(rng, &field, paths, true)
                    }
                    (Ty::Str, Source::Comm) => str_filter(rng, &field, &st.comms, true),
                    (Ty::Str, _) => str_filter(rng, &field, &st.hosts, true),
                    (_, Source::HostPid) => Filter {
                        field: field.clone(),
                        op: *rng.pick(&ALL_OPS[1..]),
                        value: FilterValue::Int(100 + rng.below(200_000) as i128),
                    },
                    _ => int_filter(rng, st, &field, &ALL_OPS),
                };
                filters.push(f);
            }
            rules.push(Rule {
                event: ev.name,
                filters,
            });
        }
        policies.push(Policy {
            name: format!("p{i}"),
            scope,
            rules,
        });
    }
    policies
}

pub fn yaml(p: &Policy) -> String {
    let mut out = format!(
        "apiVersion: tracee.aquasec.com/v1beta1\nkind: Policy\nmetadata:\n  name: {}\n  annotations:\n    description: differential\nspec:\n  scope:\n",
        p.name
    );
    if p.scope.is_empty() {
        out.push_str("    - global\n");
    }
    for f in &p.scope {
        let _ = writeln!(out, "    - '{}'", f.text());
    }
    out.push_str("  rules:\n");
    for r in &p.rules {
        let _ = writeln!(out, "    - event: {}", r.event);
        if !r.filters.is_empty() {
            out.push_str("      filters:\n");
            for f in &r.filters {
                let _ = writeln!(out, "        - '{}'", f.text());
            }
        }
    }
    out
}

/// A value of the printed event, as the oracle compares it.
pub enum Actual {
    Int(i128),
    Str(String),
    Missing,
}

pub fn actual(event: &Value, source: Source) -> Actual {
    let num = |v: &Value| {
        v.as_i64()
            .map(i128::from)
            .or_else(|| v.as_u64().map(i128::from))
            .map_or(Actual::Missing, Actual::Int)
    };
    match source {
        Source::Arg(name) => match arg(event, name) {
            Some(Value::String(s)) => Actual::Str(s.clone()),
            Some(v) => num(v),
            None => Actual::Missing,
        },
        Source::Retval => num(&event["returnValue"]),
        Source::Uid => num(&event["userId"]),
        Source::HostPid => num(&event["hostProcessId"]),
        Source::Comm => Actual::Str(event["processName"].as_str().unwrap_or("").to_owned()),
        Source::HostName => Actual::Str(event["hostName"].as_str().unwrap_or("").to_owned()),
    }
}

/// Does a string pattern match? Substrings are searched for in the first 255 bytes, as the
/// kernel does (docs/policies.md).
pub fn pattern_matches(pattern: &str, value: &str) -> bool {
    let lead = pattern.starts_with('*');
    let trail = pattern.len() > 1 && pattern.ends_with('*');
    let core = &pattern[usize::from(lead)..pattern.len() - usize::from(trail)];
    match (lead, trail) {
        (true, true) => {
            let head = &value.as_bytes()[..value.len().min(255)];
            head.windows(core.len()).any(|w| w == core.as_bytes())
        }
        (false, true) => value.starts_with(core),
        (true, false) => value.ends_with(core),
        (false, false) => value == core,
    }
}

/// One field's filters of one policy, decided as docs/policies.md says: `=` values ORed,
/// `!=` values ANDed, bounds widening in one direction and intersecting across; an integer
/// matches an `=` value, or is no `!=` value and lies within the bounds (no bounds and no
/// `=` value: anything).
pub fn field_passes(filters: &[&Filter], value: &Actual) -> bool {
    match value {
        Actual::Missing => false,
        Actual::Str(s) => {
            let eq: Vec<&str> = filters
                .iter()
                .filter(|f| f.op == Op::Eq)
                .filter_map(|f| match &f.value {
                    FilterValue::Pattern(p) => Some(p.as_str()),
                    FilterValue::Int(_) => None,
                })
                .collect();
            let ne: Vec<&str> = filters
                .iter()
                .filter(|f| f.op == Op::Ne)
                .filter_map(|f| match &f.value {
                    FilterValue::Pattern(p) => Some(p.as_str()),
                    FilterValue::Int(_) => None,
                })
                .collect();
            eq.iter().any(|p| pattern_matches(p, s))
                || (eq.is_empty() && !ne.iter().any(|p| pattern_matches(p, s)))
        }
        Actual::Int(x) => {
            let (mut eq, mut ne) = (Vec::new(), Vec::new());
            let (mut lower, mut upper): (Option<i128>, Option<i128>) = (None, None);
            for f in filters {
                let FilterValue::Int(v) = f.value else {
                    continue;
                };
                match f.op {
                    Op::Eq => eq.push(v),
                    Op::Ne => ne.push(v),
                    Op::Gt => lower = Some(lower.map_or(v + 1, |l| l.min(v + 1))),
                    Op::Ge => lower = Some(lower.map_or(v, |l| l.min(v))),
                    Op::Lt => upper = Some(upper.map_or(v - 1, |u| u.max(v - 1))),
                    Op::Le => upper = Some(upper.map_or(v, |u| u.max(v))),
                }
            }
            let bounded = lower.is_some() || upper.is_some();
            let in_bounds = lower.is_none_or(|l| *x >= l) && upper.is_none_or(|u| *x <= u);
            eq.contains(x) || (!ne.contains(x) && if bounded { in_bounds } else { eq.is_empty() })
        }
    }
}

pub fn filters_pass(filters: &[Filter], event: &Value) -> bool {
    let mut by_field: HashMap<&str, Vec<&Filter>> = HashMap::new();
    for f in filters {
        by_field.entry(f.field.name).or_default().push(f);
    }
    by_field.values().all(|fs| {
        let value = actual(event, fs[0].field.source);
        field_passes(fs, &value)
    })
}

/// The policies' meaning: which of them match this printed event.
pub fn oracle(policies: &[Policy], event: &Value) -> Vec<String> {
    let name = event["eventName"].as_str().unwrap_or("");
    policies
        .iter()
        .filter(|p| {
            p.rules
                .iter()
                .find(|r| r.event == name)
                .is_some_and(|r| filters_pass(&p.scope, event) && filters_pass(&r.filters, event))
        })
        .map(|p| p.name.clone())
        .collect()
}
