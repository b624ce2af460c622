//! `tracee-compile diff OLD NEW`: what a policy change does in the kernel, for a
//! pull-request review. Each side is an image file or policy paths compiled on the fly;
//! both are decoded with `inspect`, then compared **by policy name**, never by bit: a policy
//! inserted before others shifts every later bit, and that is not a change.
//!
//! Every map entry becomes a readable key (inspect's renderers) holding *roles*: policy
//! names with what the entry does for them (`=`, `!=`, `enabled`, `in 1..=999`), plus
//! policy-independent attributes (lookup kinds, capture flags). The index-addressed arrays
//! (`rule_ranges`, `scope_ranges`, `rule_contains`) are keyed by the field or dimension they
//! belong to, since their indexes are layout, not meaning.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use schema::abi::{self, EqBits, RangeEntry};
use schema::image::{Image, MapSection};
use schema::input::FileKind;
use serde::Serialize;

use crate::inspect::{self, Report, SCOPE_BOOL_NAMES, SCOPE_DIM_NAMES, bit, read};

#[derive(clap::Args)]
#[command(
    after_help = "Policies are matched by name, not by bit. Exit status: 0 identical or different (1 when different with --exit-code), 1 policy errors, 2 usage or I/O errors and invalid images.\nThe output is described in docs/ci.md."
)]
pub struct DiffArgs {
    /// Before the change: an image file (recognized by its magic), or a policy file or directory, compiled on the fly.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// After the change, likewise.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiffFormat::Human)]
    pub format: DiffFormat,
    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Exit status 1 when there are differences (like `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DiffFormat {
    /// Readable text, stable, to paste into a review.
    Human,
    /// The text in a fenced `diff` block under a heading, for a pull-request comment.
    Markdown,
    /// One JSON document (docs/ci.md).
    Json,
}

/// Why the comparison could not be made: the message for stderr and the exit status.
#[derive(Debug)]
pub struct Failure {
    pub status: u8,
    pub message: String,
}

/// What to print on stdout, and the exit status.
pub struct Outcome {
    pub text: String,
    pub status: u8,
}

/// Runs `tracee-compile diff`.
pub fn run(args: &DiffArgs) -> Result<Outcome, Failure> {
    let old = load(&args.old)?;
    let new = load(&args.new)?;
    let diff = diff(&old, &new);
    let format = if args.json {
        DiffFormat::Json
    } else {
        args.format
    };
    let text = match format {
        DiffFormat::Human => human(&diff),
        DiffFormat::Markdown => markdown(&diff),
        DiffFormat::Json => serde_json::to_string_pretty(&diff)
            .map(|json| json + "\n")
            .map_err(|e| Failure {
                status: 2,
                message: format!("error: {e}\n"),
            })?,
    };
    let status = u8::from(args.exit_code && !diff.identical);
    Ok(Outcome { text, status })
}

/// One side of the comparison, decoded.
pub struct Side {
    pub path: String,
    /// `image` or `policies`.
    pub kind: &'static str,
    pub image: Image,
    /// The image's size in bytes (as written by `tracee-compile -o`).
    pub bytes: usize,
}

/// Reads an image file, or compiles policy paths. Exit status 2 for unreadable paths and
/// invalid images, 1 for policies with errors (their diagnostics are the message).
pub fn load(path: &Path) -> Result<Side, Failure> {
    let name = path.display().to_string();
    if is_policy_input(path) {
        return compile(path, name);
    }
    match schema::image::read_file(path) {
        Ok((image, bytes)) => Ok(Side {
            path: name,
            kind: "image",
            image,
            bytes,
        }),
        Err(err) => {
            let help = if matches!(err, schema::image::ReadError::Invalid { .. })
                && !has_image_magic(path)
            {
                "help: OLD and NEW are each an image file (`tracee-compile -o`) or policies: \
                 a directory, or a *.yaml, *.yml or *.json file\n"
            } else {
                ""
            };
            Err(Failure {
                status: 2,
                message: format!("error: {err}\n{help}"),
            })
        }
    }
}

/// A directory, or a `.yaml`/`.yml`/`.json` file without the image magic. Everything else
/// (including missing paths and special files) goes to the image reader, which says why it
/// cannot be read.
fn is_policy_input(path: &Path) -> bool {
    match schema::input::kind_of(path) {
        Ok(FileKind::Directory) => true,
        Ok(FileKind::Regular) => {
            let policy_ext = path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            policy_ext && !has_image_magic(path)
        }
        _ => false,
    }
}

fn has_image_magic(path: &Path) -> bool {
    let magic = schema::image::MAGIC;
    schema::input::open_regular(path)
        .and_then(|mut opened| {
            schema::input::read_bounded(&mut opened.file, magic.len() as u64 - 1)
                .map_err(schema::input::OpenError::Io)
        })
        .is_ok_and(|head| head == magic)
}

fn compile(path: &Path, name: String) -> Result<Side, Failure> {
    let checked = crate::check_paths(&[path.to_path_buf()]).map_err(|e| Failure {
        status: 2,
        message: format!("error: {e}\n"),
    })?;
    let errors = checked.diagnostics.error_count();
    let lowered = match &checked.lowered {
        Some(lowered) if errors == 0 => lowered,
        _ => {
            return Err(Failure {
                status: 1,
                message: format!(
                    "{}\nerror: `{name}`: {errors} policy error{}, nothing to compare\n",
                    checked.render_plain(100),
                    if errors == 1 { "" } else { "s" }
                ),
            });
        }
    };
    let internal = |e: schema::image::ImageError| Failure {
        status: 2,
        message: format!("error: internal error, the image of `{name}` does not decode: {e}\n"),
    };
    let bytes = crate::encode::encode(&checked.policies, lowered).map_err(internal)?;
    let image = schema::image::decode(&bytes).map_err(internal)?;
    Ok(Side {
        path: name.clone(),
        kind: "policies",
        image,
        bytes: bytes.len(),
    })
}

// ---------------------------------------------------------------------------------------
// The comparison, as serialized by `--json` (docs/ci.md describes it).

#[derive(Debug, Clone, Serialize)]
pub struct Diff {
    pub old: SideSummary,
    pub new: SideSummary,
    /// No difference in meaning: the same policies, hooks, map contents and sizes.
    pub identical: bool,
    /// The policies both sides have are loaded in another relative order (bits renumbered;
    /// not a difference in what matches).
    pub order_changed: bool,
    pub policies: Vec<PolicyDiff>,
    pub probes: Added<String>,
    pub maps: Vec<MapDiff>,
    pub userspace_filters: Added<UserspaceFilter>,
    pub memory: Memory,
}

#[derive(Debug, Clone, Serialize)]
pub struct SideSummary {
    pub path: String,
    pub kind: &'static str,
    pub policies: usize,
    pub events: usize,
    pub map_entries: usize,
    pub abi_hash: String,
    pub catalog_hash: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Added<T> {
    pub added: Vec<T>,
    pub removed: Vec<T>,
}

impl<T> Added<T> {
    fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty()
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyDiff {
    pub name: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    pub description: Change<String>,
    pub actions: Change<Vec<String>>,
    pub events: Added<String>,
    /// Canonical filter statements (inspect's `filters`, without the bare `rule EVENT`
    /// statements, which are `events`, and the userspace ones, in `userspace_filters`).
    pub filters: Added<String>,
}

/// Old and new value; both null when unchanged, one null when the policy is added/removed.
#[derive(Debug, Clone, Serialize)]
pub struct Change<T> {
    pub old: Option<T>,
    pub new: Option<T>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MapDiff {
    pub name: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    pub old: Option<MapInfo>,
    pub new: Option<MapInfo>,
    pub entries: Vec<EntryDiff>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MapInfo {
    pub map_type: String,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub flags: u32,
    pub entries: usize,
    pub kernel_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct EntryDiff {
    pub key: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    /// Policies that gained a role on this key (every role of an added entry).
    pub gained: Vec<Role>,
    /// Policies that lost a role on this key (every role of a removed entry).
    pub lost: Vec<Role>,
    /// Policy-independent parts of the value that differ (old null: added, new null: removed).
    pub attrs: Vec<AttrChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Role {
    pub policy: String,
    pub role: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct AttrChange {
    pub name: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct UserspaceFilter {
    pub policy: String,
    pub filter: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub old_kernel_bytes: u64,
    pub new_kernel_bytes: u64,
    pub kernel_bytes_delta: i64,
    pub old_image_bytes: usize,
    pub new_image_bytes: usize,
    pub image_bytes_delta: i64,
}

// ---------------------------------------------------------------------------------------
// Semantic model of one image.

/// What one map entry does: roles (policy names per role, in a fixed order) and attributes.
#[derive(Debug, Default, PartialEq, Eq)]
struct Entry {
    roles: Vec<(String, BTreeSet<String>)>,
    attrs: Vec<(String, String)>,
}

impl Entry {
    fn role(&mut self, role: impl Into<String>, bits: u64, names: &[String]) {
        if bits == 0 {
            return;
        }
        let role = role.into();
        let policies = policy_names(bits, names);
        match self.roles.iter_mut().find(|(r, _)| *r == role) {
            Some((_, set)) => set.extend(policies),
            None => self.roles.push((role, policies)),
        }
    }

    fn attr(&mut self, name: &str, value: String) {
        self.attrs.push((name.to_owned(), value));
    }

    fn eq_bits(mut self, bits: EqBits, names: &[String]) -> Self {
        self.role("=", bits.eq, names);
        self.role("!=", bits.ne, names);
        self
    }
}

/// The policy names of `bits` (`#N` for a bit no policy of the image owns).
fn policy_names(bits: u64, names: &[String]) -> BTreeSet<String> {
    (0..64)
        .filter(|i| bits & bit(*i) != 0)
        .map(|i| names.get(i).cloned().unwrap_or_else(|| format!("#{i}")))
        .collect()
}

struct MapModel {
    name: String,
    info: MapInfo,
    entries: Vec<(String, Entry)>,
}

struct Model {
    report: Report,
    maps: Vec<MapModel>,
}

const EQ_MAPS: [&str; 12] = [
    "scope_uid",
    "scope_pid",
    "scope_tree",
    "scope_mntns",
    "scope_pidns",
    "scope_uts",
    "scope_comm",
    "scope_exe",
    "rule_int",
    "rule_str",
    "rule_prefix",
    "rule_suffix",
];

fn model(side: &Side) -> Model {
    let image = &side.image;
    let report = inspect::report(image, side.bytes);
    let names: Vec<String> = image.meta.policies.iter().map(|p| p.name.clone()).collect();
    let maps = image
        .maps
        .iter()
        .zip(&report.maps)
        .map(|(map, view)| {
            let entries = match map.name.as_str() {
                "scope_ranges" => scope_ranges(image, &names),
                "rule_ranges" | "rule_contains" => field_slices(image, &report, map, &names),
                _ => map
                    .entries
                    .iter()
                    .zip(&view.entries)
                    .map(|((k, v), shown)| {
                        let entry = entry(&map.name, k, v, &names).unwrap_or_else(|| {
                            let mut e = Entry::default();
                            e.attr("value", shown.value.clone());
                            e
                        });
                        (shown.key.clone(), entry)
                    })
                    .collect(),
            };
            MapModel {
                name: map.name.clone(),
                info: MapInfo {
                    map_type: view.map_type.clone(),
                    key_size: map.key_size,
                    value_size: map.value_size,
                    max_entries: map.max_entries,
                    flags: map.flags,
                    entries: map.entries.len(),
                    kernel_bytes: view.kernel_bytes,
                },
                entries: unique_keys(entries),
            }
        })
        .collect();
    Model { report, maps }
}

/// Two raw keys rendered alike (a damaged image) stay apart: ` (2)`, ` (3)`...
fn unique_keys(entries: Vec<(String, Entry)>) -> Vec<(String, Entry)> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    entries
        .into_iter()
        .map(|(key, entry)| {
            let n = seen.entry(key.clone()).or_insert(0);
            *n += 1;
            if *n == 1 {
                (key, entry)
            } else {
                (format!("{key} ({n})"), entry)
            }
        })
        .collect()
}

/// The roles and attributes of one entry of a map addressed by meaning (not by index).
fn entry(map: &str, key: &[u8], value: &[u8], names: &[String]) -> Option<Entry> {
    let mut e = Entry::default();
    if EQ_MAPS.contains(&map) {
        return read::<EqBits>(value).map(|b| e.eq_bits(b, names));
    }
    match map {
        "scope_config" => {
            let c = read::<abi::ScopeConfig>(value)?;
            e.role("scope can match", c.policies, names);
            for (d, dim) in SCOPE_DIM_NAMES.iter().enumerate() {
                e.role(format!("{dim} enabled"), c.eq_enabled[d], names);
                e.role(
                    format!("{dim} unlisted-match"),
                    c.eq_match_missing[d],
                    names,
                );
                e.role(format!("{dim} ranged"), c.ranged[d], names);
            }
            for (d, cond) in SCOPE_BOOL_NAMES.iter().enumerate() {
                let (enabled, expect) = (c.bool_enabled[d], c.bool_expect[d]);
                e.role(format!("{cond} = true"), enabled & expect, names);
                e.role(format!("{cond} = false"), enabled & !expect, names);
            }
            e.role("follow", c.follow, names);
        }
        "syscall_gate" => {
            let g = read::<abi::SyscallGate>(value)?;
            e.role("syscall", g.policies, names);
            let derived = if g.derived_handlers == 0 {
                "derived".to_owned()
            } else {
                format!("derived {}", inspect::handler_names(g.derived_handlers))
            };
            e.role(derived, g.derived_policies, names);
            e.attr(
                "flags",
                format!("{:#x}{}", g.flags, inspect::gate_ret_text(g.flags)),
            );
        }
        "events" => {
            let c = read::<abi::EventConfig>(value)?;
            let id = read::<u32>(key)?;
            e.role("rule", c.policies, names);
            e.role("userspace", c.userspace, names);
            let count = usize::from(c.field_count).min(abi::MAX_EVENT_FIELDS);
            let fields: BTreeSet<String> = c.fields[..count]
                .iter()
                .map(|f| inspect::field_name(id, *f))
                .collect();
            e.attr(
                "fields",
                format!("[{}]", fields.into_iter().collect::<Vec<_>>().join(", ")),
            );
            e.attr(
                "capture",
                format!("{} args, flags {:#x}", c.arg_count, c.flags),
            );
        }
        "rule_fields" => {
            let c = read::<abi::FieldConfig>(value)?;
            e.role("enabled", c.enabled, names);
            e.role("unlisted-match", c.match_missing, names);
            e.role("ranged", c.ranged, names);
            let signed = if c.kinds & abi::FIELD_KIND_SIGNED != 0 {
                ", signed"
            } else {
                ""
            };
            e.attr(
                "lookups",
                format!("{}{signed}", inspect::kinds_text(c.kinds)),
            );
        }
        _ => return None,
    }
    Some(e)
}

/// `scope_ranges`, keyed by scope dimension: each policy's interval as a role.
fn scope_ranges(image: &Image, names: &[String]) -> Vec<(String, Entry)> {
    let Some(c) = image
        .map("scope_config")
        .and_then(|m| m.entries.first())
        .and_then(|(_, v)| read::<abi::ScopeConfig>(v))
    else {
        return Vec::new();
    };
    let table = table_of::<RangeEntry>(image.map("scope_ranges"));
    SCOPE_DIM_NAMES
        .iter()
        .enumerate()
        .filter(|(d, _)| c.ranged[*d] != 0)
        .map(|(d, dim)| {
            let slice = slice(&table, c.range_first[d], c.range_count[d]);
            ((*dim).to_owned(), interval_roles(&slice, false, names))
        })
        .collect()
}

/// `rule_ranges` (each policy's interval per field) or `rule_contains` (each pattern per
/// field), keyed by the `rule_fields` entry whose slice holds them.
fn field_slices(
    image: &Image,
    report: &Report,
    map: &MapSection,
    names: &[String],
) -> Vec<(String, Entry)> {
    let Some((fields, view)) = image
        .maps
        .iter()
        .zip(&report.maps)
        .find(|(m, _)| m.name == "rule_fields")
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for ((_, v), shown) in fields.entries.iter().zip(&view.entries) {
        let Some(c) = read::<abi::FieldConfig>(v) else {
            continue;
        };
        if map.name == "rule_ranges" {
            if c.ranged == 0 {
                continue;
            }
            let table = table_of::<RangeEntry>(Some(map));
            let slice = slice(&table, c.range_first, c.range_count);
            let signed = c.kinds & abi::FIELD_KIND_SIGNED != 0;
            out.push((shown.key.clone(), interval_roles(&slice, signed, names)));
        } else {
            let table = table_of::<abi::ContainsEntry>(Some(map));
            for pattern in slice(&table, c.contains_first, c.contains_count) {
                let key = format!("{} *{}*", shown.key, abi::c_str(&pattern.str));
                let bits = EqBits {
                    eq: pattern.eq,
                    ne: pattern.ne,
                };
                out.push((key, Entry::default().eq_bits(bits, names)));
            }
        }
    }
    out
}

fn table_of<T: bytemuck::Pod>(map: Option<&MapSection>) -> Vec<T> {
    map.map_or_else(Vec::new, |m| {
        m.entries.iter().filter_map(|(_, v)| read(v)).collect()
    })
}

fn slice<T: Copy>(table: &[T], first: u32, count: u32) -> Vec<T> {
    table
        .iter()
        .skip(first as usize)
        .take(count as usize)
        .copied()
        .collect()
}

fn interval_roles(table: &[RangeEntry], signed: bool, names: &[String]) -> Entry {
    let mut e = Entry::default();
    for (policy, low, high) in inspect::intervals(table, signed) {
        e.role(format!("in {low}..={high}"), bit(policy), names);
    }
    e
}

// ---------------------------------------------------------------------------------------
// Comparing two models.

/// Compares two decoded sides by policy name.
pub fn diff(old: &Side, new: &Side) -> Diff {
    let (a, b) = (model(old), model(new));
    let policies = policy_diffs(&a.report, &b.report);
    let probes = set_diff(&a.report.probes, &b.report.probes);
    let maps = map_diffs(&a.maps, &b.maps);
    let userspace_filters = set_diff(&userspace(&a.report), &userspace(&b.report));
    let common = |x: &Report, y: &Report| -> Vec<String> {
        x.policies
            .iter()
            .filter(|p| y.policies.iter().any(|q| q.name == p.name))
            .map(|p| p.name.clone())
            .collect()
    };
    let order_changed = common(&a.report, &b.report) != common(&b.report, &a.report);
    let memory = Memory {
        old_kernel_bytes: a.report.header.kernel_bytes,
        new_kernel_bytes: b.report.header.kernel_bytes,
        kernel_bytes_delta: delta(a.report.header.kernel_bytes, b.report.header.kernel_bytes),
        old_image_bytes: old.bytes,
        new_image_bytes: new.bytes,
        image_bytes_delta: delta(old.bytes as u64, new.bytes as u64),
    };
    let hashes_differ = old.image.abi_hash != new.image.abi_hash
        || old.image.catalog_hash != new.image.catalog_hash;
    let identical = policies.is_empty()
        && probes.is_empty()
        && maps.is_empty()
        && userspace_filters.is_empty()
        && memory.kernel_bytes_delta == 0
        && !hashes_differ;
    Diff {
        old: summary(old, &a.report),
        new: summary(new, &b.report),
        identical,
        order_changed,
        policies,
        probes,
        maps,
        userspace_filters,
        memory,
    }
}

fn summary(side: &Side, report: &Report) -> SideSummary {
    SideSummary {
        path: side.path.clone(),
        kind: side.kind,
        policies: report.policies.len(),
        events: report.events.len(),
        map_entries: report.maps.iter().map(|m| m.entry_count).sum(),
        abi_hash: report.header.abi_hash.clone(),
        catalog_hash: report.header.catalog_hash.clone(),
    }
}

/// `new − old` and `old − new`, each in its side's order, without repeats.
fn set_diff<T: Clone + PartialEq>(old: &[T], new: &[T]) -> Added<T> {
    let minus = |x: &[T], y: &[T]| {
        let mut out: Vec<T> = Vec::new();
        for item in x {
            if !y.contains(item) && !out.contains(item) {
                out.push(item.clone());
            }
        }
        out
    };
    Added {
        added: minus(new, old),
        removed: minus(old, new),
    }
}

fn userspace(report: &Report) -> Vec<UserspaceFilter> {
    report
        .policies
        .iter()
        .flat_map(|p| {
            p.filters.iter().filter_map(|f| {
                f.strip_prefix("userspace ").map(|rest| UserspaceFilter {
                    policy: p.name.clone(),
                    filter: rest.to_owned(),
                })
            })
        })
        .collect()
}

/// A policy's events and its kernel filter statements.
fn events_and_filters(p: &inspect::PolicyView) -> (Vec<String>, Vec<String>) {
    let events = p.explain.iter().map(|r| r.event.clone()).collect();
    let filters = p
        .filters
        .iter()
        .filter(|f| !f.starts_with("userspace "))
        .filter(|f| !(f.starts_with("rule ") && f.matches(' ').count() == 1))
        .cloned()
        .collect();
    (events, filters)
}

/// Both values when they differ, neither when they are equal.
fn change<T: Clone + PartialEq>(old: &T, new: &T) -> Change<T> {
    let differ = old != new;
    Change {
        old: differ.then(|| old.clone()),
        new: differ.then(|| new.clone()),
    }
}

fn policy_diffs(old: &Report, new: &Report) -> Vec<PolicyDiff> {
    let find = |r: &'_ Report, name: &str| r.policies.iter().find(|p| p.name == name).cloned();
    let mut out = Vec::new();
    for p in &new.policies {
        let (events, filters) = events_and_filters(p);
        let Some(o) = find(old, &p.name) else {
            out.push(PolicyDiff {
                name: p.name.clone(),
                change: "added",
                description: Change {
                    old: None,
                    new: Some(p.description.clone()),
                },
                actions: Change {
                    old: None,
                    new: Some(p.actions.clone()),
                },
                events: set_diff(&[], &events),
                filters: set_diff(&[], &filters),
            });
            continue;
        };
        let (old_events, old_filters) = events_and_filters(&o);
        let description = change(&o.description, &p.description);
        let actions = change(&o.actions, &p.actions);
        let events = set_diff(&old_events, &events);
        let filters = set_diff(&old_filters, &filters);
        if description.old.is_none()
            && actions.old.is_none()
            && events.is_empty()
            && filters.is_empty()
        {
            continue;
        }
        out.push(PolicyDiff {
            name: p.name.clone(),
            change: "changed",
            description,
            actions,
            events,
            filters,
        });
    }
    for o in &old.policies {
        if find(new, &o.name).is_none() {
            let (events, filters) = events_and_filters(o);
            out.push(PolicyDiff {
                name: o.name.clone(),
                change: "removed",
                description: Change {
                    old: Some(o.description.clone()),
                    new: None,
                },
                actions: Change {
                    old: Some(o.actions.clone()),
                    new: None,
                },
                events: set_diff(&events, &[]),
                filters: set_diff(&filters, &[]),
            });
        }
    }
    out
}

fn map_diffs(old: &[MapModel], new: &[MapModel]) -> Vec<MapDiff> {
    let mut out = Vec::new();
    for m in new {
        let o = old.iter().find(|o| o.name == m.name);
        let entries = entry_diffs(o.map_or(&[], |o| &o.entries), &m.entries);
        let same_info = o.is_some_and(|o| o.info == m.info);
        if o.is_some() && same_info && entries.is_empty() {
            continue;
        }
        out.push(MapDiff {
            name: m.name.clone(),
            change: if o.is_some() { "changed" } else { "added" },
            old: o.map(|o| o.info.clone()),
            new: Some(m.info.clone()),
            entries,
        });
    }
    for o in old {
        if !new.iter().any(|m| m.name == o.name) {
            out.push(MapDiff {
                name: o.name.clone(),
                change: "removed",
                old: Some(o.info.clone()),
                new: None,
                entries: entry_diffs(&o.entries, &[]),
            });
        }
    }
    out
}

fn entry_diffs(old: &[(String, Entry)], new: &[(String, Entry)]) -> Vec<EntryDiff> {
    let old_by_key: HashMap<&str, &Entry> = old.iter().map(|(k, e)| (k.as_str(), e)).collect();
    let new_by_key: HashMap<&str, &Entry> = new.iter().map(|(k, e)| (k.as_str(), e)).collect();
    let empty = Entry::default();
    let mut out = Vec::new();
    for (key, e) in new {
        let before = old_by_key.get(key.as_str()).copied();
        let change = if before.is_some() { "changed" } else { "added" };
        let d = entry_diff(key, change, before.unwrap_or(&empty), e);
        if before.is_none() || !(d.gained.is_empty() && d.lost.is_empty() && d.attrs.is_empty()) {
            out.push(d);
        }
    }
    for (key, e) in old {
        if !new_by_key.contains_key(key.as_str()) {
            out.push(entry_diff(key, "removed", e, &empty));
        }
    }
    out
}

fn entry_diff(key: &str, change: &'static str, old: &Entry, new: &Entry) -> EntryDiff {
    let minus = |x: &Entry, y: &Entry| -> Vec<Role> {
        let mut out = Vec::new();
        for (role, policies) in &x.roles {
            let other = y.roles.iter().find(|(r, _)| r == role).map(|(_, p)| p);
            for policy in policies {
                if !other.is_some_and(|o| o.contains(policy)) {
                    out.push(Role {
                        policy: policy.clone(),
                        role: role.clone(),
                    });
                }
            }
        }
        out
    };
    let mut attrs: Vec<AttrChange> = Vec::new();
    let value = |e: &Entry, name: &str| {
        e.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    for (name, _) in new.attrs.iter().chain(&old.attrs) {
        let (o, n) = (value(old, name), value(new, name));
        if o != n && !attrs.iter().any(|a| a.name == *name) {
            attrs.push(AttrChange {
                name: name.clone(),
                old: o,
                new: n,
            });
        }
    }
    EntryDiff {
        key: key.to_owned(),
        change,
        gained: minus(new, old),
        lost: minus(old, new),
        attrs,
    }
}

// ---------------------------------------------------------------------------------------
// Text.

/// `new - old`, saturated (sizes are far below 2^63).
fn delta(old: u64, new: u64) -> i64 {
    let d = i128::from(new) - i128::from(old);
    i64::try_from(d).unwrap_or(if d < 0 { i64::MIN } else { i64::MAX })
}

fn signed(delta: i64) -> String {
    if delta > 0 {
        format!("+{delta}")
    } else {
        delta.to_string()
    }
}

/// `= a,b; != c` (added or removed entry) or `= +a -b; != +c` (changed entry).
fn roles_text(d: &EntryDiff) -> String {
    let mut roles: Vec<&str> = Vec::new();
    for r in d.gained.iter().chain(&d.lost) {
        if !roles.contains(&r.role.as_str()) {
            roles.push(&r.role);
        }
    }
    let mut parts: Vec<String> = roles
        .iter()
        .map(|role| {
            let of = |list: &[Role], mark: &str| -> Vec<String> {
                list.iter()
                    .filter(|r| r.role == *role)
                    .map(|r| format!("{mark}{}", r.policy))
                    .collect()
            };
            let list = if d.change == "changed" {
                [of(&d.gained, "+"), of(&d.lost, "-")].concat().join(" ")
            } else {
                [of(&d.gained, ""), of(&d.lost, "")].concat().join(",")
            };
            format!("{role} {list}")
        })
        .collect();
    for a in &d.attrs {
        parts.push(match (&a.old, &a.new) {
            (Some(o), Some(n)) => format!("{} {o} -> {n}", a.name),
            (None, Some(v)) | (Some(v), None) => format!("{} {v}", a.name),
            (None, None) => a.name.clone(),
        });
    }
    parts.join("; ")
}

fn mark(change: &str) -> char {
    match change {
        "added" => '+',
        "removed" => '-',
        _ => '~',
    }
}

/// The human form: stable lines, `+` added, `-` removed, `~` changed in column 0.
pub fn human(d: &Diff) -> String {
    let mut out = String::new();
    for (tag, s) in [("---", &d.old), ("+++", &d.new)] {
        let _ = writeln!(
            out,
            "{tag} {} ({}: {} policies, {} events, {} map entries)",
            s.path, s.kind, s.policies, s.events, s.map_entries
        );
    }
    if d.old.abi_hash != d.new.abi_hash || d.old.catalog_hash != d.new.catalog_hash {
        let _ = writeln!(
            out,
            "! built for other record layouts or another event catalog: abi {} -> {}, catalog {} -> {}",
            d.old.abi_hash, d.new.abi_hash, d.old.catalog_hash, d.new.catalog_hash
        );
    }
    if d.identical {
        out.push_str("\nno differences\n");
    }
    if d.order_changed {
        out.push_str("\nnote: the policies are loaded in another order (bits renumbered; what matches is unchanged)\n");
    }
    for p in &d.policies {
        let _ = write!(out, "\n{} policy {}", mark(p.change), p.name);
        let actions = |a: &[String]| {
            if a.is_empty() {
                "none".to_owned()
            } else {
                a.join(", ")
            }
        };
        match p.change {
            "changed" => {
                out.push('\n');
                if let (Some(o), Some(n)) = (&p.description.old, &p.description.new) {
                    let _ = writeln!(out, "~   description: {o:?} -> {n:?}");
                }
                if let (Some(o), Some(n)) = (&p.actions.old, &p.actions.new) {
                    let _ = writeln!(out, "~   actions: {} -> {}", actions(o), actions(n));
                }
            }
            _ => {
                let desc = p.description.new.as_ref().or(p.description.old.as_ref());
                let acts = p.actions.new.as_ref().or(p.actions.old.as_ref());
                let _ = writeln!(
                    out,
                    " ({}): {:?} (actions: {})",
                    p.change,
                    desc.map_or("", String::as_str),
                    acts.map_or_else(|| actions(&[]), |a| actions(a))
                );
            }
        }
        for (list, m) in [(&p.events.added, '+'), (&p.events.removed, '-')] {
            for e in list {
                let _ = writeln!(out, "{m}   event {e}");
            }
        }
        for (list, m) in [(&p.filters.added, '+'), (&p.filters.removed, '-')] {
            for f in list {
                let _ = writeln!(out, "{m}   {f}");
            }
        }
    }
    if !d.probes.is_empty() {
        out.push_str("\nhooks\n");
        for h in &d.probes.added {
            let _ = writeln!(out, "+   {h}");
        }
        for h in &d.probes.removed {
            let _ = writeln!(out, "-   {h}");
        }
    }
    for m in &d.maps {
        let count = |i: &Option<MapInfo>| i.as_ref().map_or(0, |i| i.entries as u64);
        let bytes = |i: &Option<MapInfo>| i.as_ref().map_or(0, |i| i.kernel_bytes);
        let from_to = |o: u64, n: u64| {
            if o == n {
                o.to_string()
            } else {
                format!("{o} -> {n} ({})", signed(delta(o, n)))
            }
        };
        let _ = writeln!(
            out,
            "\n{} map {}: entries {}, kernel bytes {}",
            mark(m.change),
            m.name,
            from_to(count(&m.old), count(&m.new)),
            from_to(bytes(&m.old), bytes(&m.new))
        );
        if let (Some(o), Some(n)) = (&m.old, &m.new) {
            let layout = |i: &MapInfo| {
                format!(
                    "{}, key {} B, value {} B, max {}, flags {:#x}",
                    i.map_type, i.key_size, i.value_size, i.max_entries, i.flags
                )
            };
            let (lo, ln) = (layout(o), layout(n));
            if (o.map_type.as_str(), o.key_size, o.value_size, o.flags)
                != (n.map_type.as_str(), n.key_size, n.value_size, n.flags)
            {
                let _ = writeln!(out, "~   layout: {lo} -> {ln}");
            }
        }
        for e in &m.entries {
            let roles = roles_text(e);
            if roles.is_empty() {
                let _ = writeln!(out, "{}   {}", mark(e.change), e.key);
            } else {
                let _ = writeln!(out, "{}   {}: {roles}", mark(e.change), e.key);
            }
        }
    }
    if !d.userspace_filters.is_empty() {
        out.push_str("\nuserspace filters\n");
        for (list, m) in [
            (&d.userspace_filters.added, '+'),
            (&d.userspace_filters.removed, '-'),
        ] {
            for f in list {
                let _ = writeln!(out, "{m}   {}: {}", f.policy, f.filter);
            }
        }
    }
    let mem = &d.memory;
    let _ = writeln!(
        out,
        "\nkernel memory: {} -> {} bytes ({})\nimage size: {} -> {} bytes ({})",
        mem.old_kernel_bytes,
        mem.new_kernel_bytes,
        signed(mem.kernel_bytes_delta),
        mem.old_image_bytes,
        mem.new_image_bytes,
        signed(mem.image_bytes_delta)
    );
    out
}

/// The human form in a fenced `diff` block (GitHub colours the `+`/`-` lines).
pub fn markdown(d: &Diff) -> String {
    let verdict = if d.identical {
        "no differences"
    } else {
        "differences"
    };
    format!(
        "#### tracee-compile diff: {verdict}\n\n```diff\n{}```\n",
        human(d)
    )
}
