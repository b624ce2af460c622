//! The kernel against the reference evaluator and against the policies' meaning.
//!
//! Each round generates random policies (every operator, boundary values, prefixes equal to
//! the value, suffixes, substrings, `!=` on integers and strings, bounds in the scope and in
//! rules), compiles them, starts `tracee-load --audit` and runs generated syscalls
//! (`openat`, `faccessat`, `close`, `lseek`, `read` with arguments drawn from the same
//! boundary values) from processes with generated uids and command names. Every candidate
//! event of those processes, printed or not, is then decided three ways:
//! - the kernel (the `audit.kernelPolicies` the programs computed),
//! - `schema::eval` on the image and the event's raw values,
//! - `oracle` below, straight from the generated filters and `docs/policies.md`,
//!
//! and the three must agree. The seed is printed; `TRACEE_DIFF_SEED=N` replays one round,
//! `TRACEE_DIFF_ROUNDS=N` runs more (`scripts/differential` runs a long series).

#[path = "e2e/harness.rs"]
#[allow(dead_code)]
mod harness;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use harness::*;
use serde_json::Value;

/// splitmix64: a small seeded generator, so a failing round replays from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Ty {
    I32,
    U32,
    I64,
    U64,
    Str,
}

impl Ty {
    fn min_max(self) -> (i128, i128) {
        match self {
            Ty::I32 => (i32::MIN.into(), i32::MAX.into()),
            Ty::U32 => (0, u32::MAX.into()),
            Ty::I64 | Ty::Str => (i64::MIN.into(), i64::MAX.into()),
            Ty::U64 => (0, u64::MAX.into()),
        }
    }
}

/// Integer boundary values per type: the filters' values and the syscalls' arguments are
/// both drawn from here, so equalities and bounds are hit exactly, one below and one above.
fn pool(ty: Ty) -> Vec<i128> {
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
struct FieldSpec {
    /// As written in the policy (`args.pathname`, `retval`, `uid`, `comm`).
    name: &'static str,
    ty: Ty,
    /// Where its value is in the printed event.
    source: Source,
}

#[derive(Clone, Copy, Debug)]
enum Source {
    Arg(&'static str),
    Retval,
    Uid,
    Comm,
    HostName,
    HostPid,
}

struct EventSpec {
    name: &'static str,
    fields: Vec<FieldSpec>,
}

fn events() -> Vec<EventSpec> {
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
                arg("data.mode", "mode", Ty::U32),
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
fn context_fields() -> Vec<FieldSpec> {
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
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    fn text(self) -> &'static str {
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
enum FilterValue {
    Int(i128),
    /// A string pattern: `*` at the start and/or end.
    Pattern(String),
}

#[derive(Clone, Debug)]
struct Filter {
    field: FieldSpec,
    op: Op,
    value: FilterValue,
}

impl Filter {
    fn text(&self) -> String {
        let v = match &self.value {
            FilterValue::Int(i) => i.to_string(),
            FilterValue::Pattern(p) => p.clone(),
        };
        format!("{}{}{}", self.field.name, self.op.text(), v)
    }
}

struct Rule {
    event: &'static str,
    filters: Vec<Filter>,
}

struct Policy {
    name: String,
    /// Scope filters (uid, pid: all six operators; comm, uts: `=`/`!=`).
    scope: Vec<Filter>,
    rules: Vec<Rule>,
}

/// Strings of the round: paths under the scratch directory of every length that matters
/// (the 248-byte trie keys, the 255-byte exact keys and substring search), and names.
struct Strings {
    /// Per integer type, a few values of the pool both the filters and the syscalls use
    /// most of the time, so that `=` and `!=` values are hit often.
    hot: HashMap<Ty, Vec<i128>>,
    /// The same for paths.
    hot_paths: Vec<String>,
    paths: Vec<String>,
    comms: Vec<String>,
    hosts: Vec<String>,
}

/// A value of type `ty`: mostly one of the round's hot values, else any of the pool.
fn value(rng: &mut Rng, st: &Strings, ty: Ty) -> i128 {
    match st.hot.get(&ty) {
        Some(hot) if rng.chance(75) => *rng.pick(hot),
        _ => *rng.pick(&pool(ty)),
    }
}

fn strings(rng: &mut Rng, dir: &Path) -> Strings {
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
    let hot = [Ty::I32, Ty::U32, Ty::I64, Ty::U64]
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

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// A pattern that some of `values` match: exact, prefix, suffix or substring, cut at a
/// random place (often the whole value: a prefix equal to the value), within the limits the
/// compiler accepts (255 bytes exact and substring, 248 prefix and suffix).
fn pattern(rng: &mut Rng, values: &[String]) -> String {
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

fn int_filter(rng: &mut Rng, st: &Strings, field: &FieldSpec, ops: &[Op]) -> Filter {
    let op = *rng.pick(ops);
    Filter {
        field: field.clone(),
        op,
        value: FilterValue::Int(value(rng, st, field.ty)),
    }
}

fn str_filter(rng: &mut Rng, field: &FieldSpec, values: &[String], wildcards: bool) -> Filter {
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

const ALL_OPS: [Op; 6] = [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge];

fn generate(rng: &mut Rng, st: &Strings, count: usize) -> Vec<Policy> {
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

fn yaml(p: &Policy) -> String {
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
enum Actual {
    Int(i128),
    Str(String),
    Missing,
}

fn actual(event: &Value, source: Source) -> Actual {
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
fn pattern_matches(pattern: &str, value: &str) -> bool {
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
fn field_passes(filters: &[&Filter], value: &Actual) -> bool {
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

fn filters_pass(filters: &[Filter], event: &Value) -> bool {
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
fn oracle(policies: &[Policy], event: &Value) -> Vec<String> {
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

/// One syscall of the workload: number and arguments (`@last`: the last fd openat gave).
#[derive(Clone, Debug)]
enum Arg {
    Int(i128),
    Str(String),
    LastFd,
}

fn workload(rng: &mut Rng, st: &Strings, ops: usize) -> Vec<(u32, Vec<Arg>)> {
    let int = |rng: &mut Rng, ty: Ty| Arg::Int(value(rng, st, ty));
    let path = |rng: &mut Rng| {
        let paths = if rng.chance(75) {
            &st.hot_paths
        } else {
            &st.paths
        };
        Arg::Str(rng.pick(paths).clone())
    };
    let fd = |rng: &mut Rng| {
        if rng.chance(40) {
            Arg::LastFd
        } else {
            // Never 0-2 or another low fd: the driver's own must stay open.
            let v = value(rng, st, Ty::I32);
            Arg::Int(if (0..1000).contains(&v) { v + 1000 } else { v })
        }
    };
    let dirfd = |rng: &mut Rng| {
        if rng.chance(70) {
            Arg::Int(-100)
        } else {
            int(rng, Ty::I32)
        }
    };
    (0..ops)
        .map(|_| match rng.below(5) {
            0 => {
                let flags = *rng.pick(&[0, 65, 524_288, 577, 2, 64]);
                (
                    257,
                    vec![dirfd(rng), path(rng), Arg::Int(flags), int(rng, Ty::U32)],
                )
            }
            1 => (
                269,
                vec![dirfd(rng), path(rng), Arg::Int(*rng.pick(&[0, 4, 7, -1]))],
            ),
            2 => (3, vec![fd(rng)]),
            3 => {
                // Any fd: seeking the driver's pipes fails harmlessly (ESPIPE).
                let fd = if rng.chance(40) {
                    Arg::LastFd
                } else {
                    int(rng, Ty::I32)
                };
                (
                    8,
                    vec![fd, int(rng, Ty::I64), Arg::Int(*rng.pick(&[0, 1, 2, 5]))],
                )
            }
            _ => (0, vec![fd(rng), int(rng, Ty::U64), int(rng, Ty::U64)]),
        })
        .collect()
}

const DRIVER: &str = r#"
import ctypes, json, sys
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
spec = json.load(open(sys.argv[1]))
libc.prctl(15, spec["comm"].encode(), 0, 0, 0)
last = -1
keep = []
for nr, args in spec["ops"]:
    conv = []
    for a in args:
        if a == "@last":
            conv.append(ctypes.c_long(last))
        elif isinstance(a, str):
            b = ctypes.create_string_buffer(a.encode())
            keep.append(b)
            conv.append(ctypes.cast(b, ctypes.c_void_p))
        elif a >= 2**63:
            conv.append(ctypes.c_ulong(a))
        else:
            conv.append(ctypes.c_long(a))
    r = libc.syscall(ctypes.c_long(nr), *conv)
    if nr == 257 and r >= 0:
        last = r
"#;

struct Actor {
    uid: u32,
    comm: String,
    ops: Vec<(u32, Vec<Arg>)>,
    pid: u64,
}

fn run_actor(dir: &Path, n: usize, actor: &mut Actor) {
    let ops: Vec<Value> = actor
        .ops
        .iter()
        .map(|(nr, args)| {
            let args: Vec<Value> = args
                .iter()
                .map(|a| match a {
                    Arg::Int(i) if *i < 0 => Value::from(*i as i64),
                    Arg::Int(i) => Value::from(*i as u64),
                    Arg::Str(s) => Value::from(s.clone()),
                    Arg::LastFd => Value::from("@last"),
                })
                .collect();
            serde_json::json!([nr, args])
        })
        .collect();
    let spec = dir.join(format!("actor-{n}.json"));
    let driver = dir.join("driver.py");
    let text = serde_json::json!({"comm": actor.comm, "ops": ops}).to_string();
    std::fs::write(&spec, text).unwrap_or_else(|e| panic!("write {}: {e}", spec.display()));
    std::fs::write(&driver, DRIVER).unwrap_or_else(|e| panic!("write driver: {e}"));
    let uid = actor.uid.to_string();
    let mut child = Command::new("setpriv")
        .args([
            "--reuid",
            &uid,
            "--regid",
            &uid,
            "--clear-groups",
            "/usr/bin/python3",
        ])
        .arg(&driver)
        .arg(&spec)
        .current_dir(dir)
        .spawn()
        .unwrap_or_else(|e| panic!("setpriv python3: {e}"));
    actor.pid = u64::from(child.id());
    let status = child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    assert!(status.success(), "actor {n} (uid {uid}) failed: {status}");
}

/// Is this printed event the one op (same syscall, same known arguments)?
fn is_op(event: &Value, nr: u32, args: &[Arg]) -> bool {
    let Some(def) = schema::catalog::event_by_id(nr) else {
        return false;
    };
    if event["eventName"] != def.name {
        return false;
    }
    args.iter().zip(def.args).all(|(a, d)| match a {
        Arg::LastFd => true,
        Arg::Str(s) => arg_str(event, d.name).as_deref() == Some(s.as_str()),
        Arg::Int(i) => arg(event, d.name).is_some_and(|v| {
            v.as_i64()
                .map(i128::from)
                .or_else(|| v.as_u64().map(i128::from))
                == Some(*i)
        }),
    })
}

struct Round {
    seed: u64,
    policies: Vec<Policy>,
    checked: usize,
    /// Candidate events some policy matched.
    matched: usize,
    mismatches: Vec<String>,
}

fn round(seed: u64) -> Round {
    let mut rng = Rng(seed);
    let s = Scratch::new();
    let work = s.path().join("w");
    std::fs::create_dir_all(&work).unwrap_or_else(|e| panic!("mkdir: {e}"));
    // Actors of any uid create files here.
    let _ = Command::new("chmod").arg("1777").arg(&work).status();
    let st = strings(&mut rng, &work);
    let count = 4 + rng.below(5);
    let policies = generate(&mut rng, &st, count);
    let src = s.path().join("policies");
    std::fs::create_dir_all(&src).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for (i, p) in policies.iter().enumerate() {
        let file = src.join(format!("{i:02}.yaml"));
        std::fs::write(&file, yaml(p)).unwrap_or_else(|e| panic!("write: {e}"));
    }
    let image_path = compile_paths(s.path(), &[src]);
    let image = match schema::image::read_file(&image_path) {
        Ok((image, _)) => image,
        Err(e) => panic!("read image: {e}"),
    };
    let evaluator = schema::eval::Evaluator::new(&image).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<String> = image.meta.policies.iter().map(|p| p.name.clone()).collect();

    let mut actors: Vec<Actor> = (0..3 + rng.below(3))
        .map(|_| {
            let uid = *rng.pick(&[0u32, 1000, 1001, 4321, 65534]);
            let comm = rng.pick(&st.comms).clone();
            let ops = 30 + rng.below(30);
            Actor {
                uid,
                comm,
                ops: workload(&mut rng, &st, ops),
                pid: 0,
            }
        })
        .collect();
    let tracer = Tracer::start(&image_path, &["--audit"]);
    for (n, actor) in actors.iter_mut().enumerate() {
        run_actor(&work, n, actor);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let run = tracer.stop();
    run.assert_clean();

    let mut mismatches = Vec::new();
    let mut checked = 0;
    let mut matched = 0;
    let selected: Vec<&str> = image.meta.events.iter().map(|e| e.name.as_str()).collect();
    for actor in &actors {
        let mine: Vec<&Value> = run
            .events
            .iter()
            .filter(|e| e["hostProcessId"].as_u64() == Some(actor.pid))
            .collect();
        for e in &mine {
            checked += 1;
            let kernel = e["audit"]["kernelPolicies"].as_u64().unwrap_or(u64::MAX);
            let mut event = match schema::eval::input::event(e) {
                Ok(ev) => ev,
                Err(err) => panic!("seed {seed}: event not readable ({err}): {e}"),
            };
            event.task.new_pid = true;
            let verdict = evaluator.evaluate(&event);
            let expected = oracle(&policies, e);
            let printed = policies_of(e);
            let by_eval = schema::eval::policy_names(verdict.kernel, &names);
            let by_kernel = schema::eval::policy_names(kernel, &names);
            matched += usize::from(!by_kernel.is_empty());
            if by_kernel != by_eval || by_kernel != expected || printed != by_kernel {
                let why: Vec<String> = names
                    .iter()
                    .enumerate()
                    .map(|(i, n)| format!("{n}: {:?}", verdict.refused_by(i as u8)))
                    .collect();
                mismatches.push(format!(
                    "kernel {by_kernel:?}, evaluator {by_eval:?}, policies' meaning {expected:?}, printed {printed:?}\n  evaluator refusals: {why:?}\n  event: {e}"
                ));
            }
        }
        // Every op of a selected syscall is among the candidates, in order.
        let mut rest = mine.iter();
        for (nr, args) in &actor.ops {
            let Some(def) = schema::catalog::event_by_id(*nr) else {
                continue;
            };
            if !selected.contains(&def.name) {
                continue;
            }
            if !rest.any(|e| is_op(e, *nr, args)) {
                mismatches.push(format!(
                    "no candidate event for {} {args:?} of the actor with pid {} (comm {}, uid {})",
                    def.name, actor.pid, actor.comm, actor.uid
                ));
                break;
            }
        }
    }
    Round {
        seed,
        policies,
        checked,
        matched,
        mismatches,
    }
}

fn seeds() -> Vec<u64> {
    if let Some(seed) = std::env::var("TRACEE_DIFF_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let rounds = std::env::var("TRACEE_DIFF_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64);
    (0..rounds).map(|i| start.wrapping_add(i * 7919)).collect()
}

#[test]
fn kernel_evaluator_and_policies_agree() {
    if !can_bpf() {
        return;
    }
    let (mut total, mut matched) = (0, 0);
    for seed in seeds() {
        eprintln!("differential round: TRACEE_DIFF_SEED={seed}");
        let r = round(seed);
        total += r.checked;
        matched += r.matched;
        if !r.mismatches.is_empty() {
            let shown: Vec<&String> = r.mismatches.iter().take(8).collect();
            let policies: Vec<String> = r.policies.iter().map(yaml).collect();
            panic!(
                "TRACEE_DIFF_SEED={}: {} of {} candidate events disagree (replay with TRACEE_DIFF_SEED={} cargo test -p tracee-load --test differential):\n{}\n\npolicies:\n{}",
                r.seed,
                r.mismatches.len(),
                r.checked,
                r.seed,
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                policies.join("---\n")
            );
        }
        assert!(r.checked > 0, "seed {seed}: no candidate event was checked");
    }
    eprintln!("differential: {total} candidate events agreed, {matched} of them matched");
    // Rounds where nothing matches would prove little about the filters.
    assert!(
        matched > 0 && matched < total,
        "{matched} of {total} candidate events matched: the generator lost its balance"
    );
}
