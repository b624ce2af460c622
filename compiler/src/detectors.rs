//! Detectors: Tracee's threat detections as data. Each one is a file of
//! `schema/detectors/` in Tracee's YAML detector format (`type: detector`), embedded at build
//! time: the base events it needs with their data and scope filters, the extra checks as CEL
//! `conditions`, and the threat it reports (severity, MITRE tactic and technique).
//!
//! Also the threat-based selection of Tracee's policies (`event: threat.severity>=high`),
//! resolved here at compile time to the detectors it names.

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

pub mod conditions;
pub mod plan;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_detectors.rs"));
}

/// Tracee's severities, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 5] = [
        Severity::Info,
        Severity::Low,
        Severity::Medium,
        Severity::High,
        Severity::Critical,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// A severity by name, or by Tracee's number (0 info ... 4 critical).
    fn parse(text: &str) -> Option<Severity> {
        let text = text.trim();
        Severity::ALL.into_iter().enumerate().find_map(|(n, s)| {
            (s.name().eq_ignore_ascii_case(text) || text == n.to_string()).then_some(s)
        })
    }
}

/// One detector, as its file says.
#[derive(Debug, Clone, Serialize)]
pub struct Detector {
    /// Tracee's id (`TRC-102`).
    pub id: String,
    /// The event id its detections carry (`event_id_of`).
    pub event_id: u32,
    /// The event it produces (`anti_debugging`).
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    /// The base events, each with the filters a detection needs.
    pub events: Vec<Requirement>,
    pub threat: Threat,
    /// The checks beyond the filters, in CEL.
    pub conditions: Vec<String>,
    /// The file it came from.
    pub file: String,
    /// One of `schema/detectors/`, not the user's.
    pub builtin: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Requirement {
    pub name: String,
    #[serde(default)]
    pub data_filters: Vec<String>,
    #[serde(default)]
    pub scope_filters: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Threat {
    /// Tracee's threat name (`threat.name=` selects on it).
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub technique_id: String,
    pub technique_name: String,
    pub tactic: String,
}

impl Detector {
    /// The event sets its detections belong to, as Tracee registers a detector's event:
    /// `detectors`, `default`, and its tags (`event: tag=defense-evasion`).
    pub fn in_set(&self, set: &str) -> bool {
        set == "detectors" || set == "default" || self.tags.iter().any(|t| t == set)
    }
}

/// The file as Tracee's format spells it (the keys this compiler uses; others are ignored).
#[derive(Deserialize)]
struct File {
    #[serde(rename = "type")]
    kind: String,
    id: String,
    produced_event: ProducedEvent,
    requirements: Requirements,
    threat: Option<FileThreat>,
    #[serde(default)]
    conditions: Vec<String>,
}

#[derive(Deserialize)]
struct ProducedEvent {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct Requirements {
    events: Vec<Requirement>,
}

#[derive(Deserialize)]
struct FileThreat {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    severity: String,
    mitre: Option<Mitre>,
}

#[derive(Deserialize)]
struct Mitre {
    technique: Option<Technique>,
    tactic: Option<Tactic>,
}

#[derive(Deserialize)]
struct Technique {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct Tactic {
    #[serde(default)]
    name: String,
}

/// The event id of a detector's detections, from Tracee's detector id, in Tracee's range for
/// signature events (6000-6999): `TRC-1NN` (101-109) is 6000+NN, `TRC-10NN` (1010-1099)
/// is 6000+NN, `DRV-NNN` is 6100+NNN. `dropped_executable` (TRC-1022) keeps the 6022 the
/// catalog gave it.
pub fn event_id_of(id: &str) -> Option<u32> {
    let (prefix, number) = id.split_once('-')?;
    let n: u32 = number.parse().ok()?;
    match prefix {
        "TRC" if (101..=109).contains(&n) => Some(6000 + n - 100),
        "TRC" if (1010..=1099).contains(&n) => Some(6000 + n - 1000),
        "DRV" if n <= 99 => Some(6100 + n),
        _ => None,
    }
}

/// Parses one built-in detector file.
pub fn parse(file: &str, text: &str) -> Result<Detector, String> {
    from_text(file, text, None).map_err(|(_, e)| format!("{file}: {e}"))
}

/// Parses a user's detector document (Tracee's YAML detector format, next to the policies):
/// its detections take `event_id` unless its id is a Tracee detector id. An error comes with
/// the byte offset in `text` where it was found, when known.
pub fn parse_user(
    file: &str,
    text: &str,
    event_id: u32,
) -> Result<Detector, (Option<usize>, String)> {
    from_text(file, text, Some(event_id))
}

fn from_text(
    file: &str,
    text: &str,
    fallback_id: Option<u32>,
) -> Result<Detector, (Option<usize>, String)> {
    let raw: File = serde_saphyr::from_str(text).map_err(|e| {
        let at = e
            .location()
            .and_then(|l| l.span().byte_offset())
            .and_then(|o| usize::try_from(o).ok());
        // The first line, without the position the diagnostic's label shows.
        let text = e.to_string();
        let first = text.lines().next().unwrap_or_default();
        let first = first.strip_prefix("error: ").unwrap_or(first);
        let message = match first.split_once(": ") {
            Some((position, rest)) if position.starts_with("line ") => rest,
            _ => first,
        };
        (at, message.to_owned())
    })?;
    let whole = |e: String| (None, e);
    if !raw.kind.eq_ignore_ascii_case("detector") {
        return Err(whole(format!("`type` is `{}`, not `detector`", raw.kind)));
    }
    let event_id = event_id_of(&raw.id)
        .or(fallback_id)
        .ok_or_else(|| whole(format!("no event id for `{}`", raw.id)))?;
    let threat = raw
        .threat
        .ok_or_else(|| whole("no `threat`: a detector says what it detects".to_owned()))?;
    let severity = Severity::parse(&threat.severity).ok_or_else(|| {
        whole(format!(
            "unknown severity `{}`: use info, low, medium, high or critical",
            threat.severity
        ))
    })?;
    let mitre = threat.mitre.unwrap_or(Mitre {
        technique: None,
        tactic: None,
    });
    let technique = mitre.technique.unwrap_or(Technique {
        id: String::new(),
        name: String::new(),
    });
    if raw.requirements.events.is_empty() {
        return Err(whole("`requirements.events` is empty".to_owned()));
    }
    for condition in &raw.conditions {
        conditions::parse(condition).map_err(whole)?;
    }
    Ok(Detector {
        id: raw.id,
        event_id,
        name: raw.produced_event.name,
        description: raw.produced_event.description,
        tags: raw.produced_event.tags,
        events: raw.requirements.events,
        threat: Threat {
            name: threat.name,
            description: threat.description,
            severity,
            technique_id: technique.id,
            technique_name: technique.name,
            tactic: mitre.tactic.map(|t| t.name).unwrap_or_default(),
        },
        conditions: raw.conditions,
        file: file.to_owned(),
        builtin: fallback_id.is_none(),
    })
}

/// Every built-in detector, in file order; an error names each file that does not parse
/// (a defect of this build: the tests parse them all).
pub fn builtin() -> Result<&'static [Detector], &'static str> {
    static PARSED: OnceLock<Result<Vec<Detector>, String>> = OnceLock::new();
    PARSED
        .get_or_init(|| {
            let mut all = Vec::new();
            let mut errors = Vec::new();
            for (file, text) in builtin::BUILTIN {
                match parse(file, text) {
                    Ok(d) => all.push(d),
                    Err(e) => errors.push(e),
                }
            }
            if errors.is_empty() {
                Ok(all)
            } else {
                Err(errors.join("; "))
            }
        })
        .as_ref()
        .map(Vec::as_slice)
        .map_err(String::as_str)
}

/// Where each condition runs, for each base event: (condition, [(base event, place)]).
pub fn placements(d: &Detector) -> Vec<(&str, Vec<(&str, conditions::Place)>)> {
    d.conditions
        .iter()
        .map(|c| {
            let places = match conditions::parse(c) {
                Ok(expr) => d
                    .events
                    .iter()
                    .map(|r| {
                        let place = match conditions::place(&expr, &r.name) {
                            conditions::Place::Loader(why) => {
                                let narrowed = conditions::necessary(&expr, &r.name);
                                conditions::Place::Loader(if narrowed.is_empty() {
                                    why
                                } else {
                                    format!(
                                        "{why}; the kernel sends up only what passes {}",
                                        narrowed.join(" ")
                                    )
                                })
                            }
                            other => other,
                        };
                        (r.name.as_str(), place)
                    })
                    .collect(),
                Err(e) => vec![("", conditions::Place::Loader(e))],
            };
            (c.as_str(), places)
        })
        .collect()
}

/// The detectors a compilation knows: the built-in ones and the user's (detector documents
/// next to the policies).
#[derive(Clone, Copy, Default)]
pub struct Known<'a> {
    pub user: &'a [Detector],
}

impl<'a> Known<'a> {
    /// Every known detector: the built-in ones, then the user's.
    pub fn all(&self) -> Vec<&'a Detector> {
        builtin()
            .unwrap_or_default()
            .iter()
            .chain(self.user.iter())
            .collect()
    }

    /// The detector producing `name`, if any.
    pub fn detector(&self, name: &str) -> Option<&'a Detector> {
        self.all().into_iter().find(|d| d.name == name)
    }

    /// A threat-based selection of Tracee's policies: `threat.severity>=high`,
    /// `threat.mitre.technique=T1055`, `threat.mitre.tactic=Defense Evasion`,
    /// `threat.name=...`. `None` when `text` is not one; `Some(Err)` with the reason when
    /// it is one but malformed.
    pub fn threat_selection(&self, text: &str) -> Option<Result<Vec<&'a Detector>, String>> {
        let rest = text.trim().strip_prefix("threat.")?;
        let at = rest.find(['=', '!', '<', '>'])?;
        let (key, tail) = rest.split_at(at);
        let (op, value) = ["!=", ">=", "<=", "=", ">", "<"]
            .into_iter()
            .find_map(|op| tail.strip_prefix(op).map(|v| (op, unquote(v.trim()))))?;
        let key = key.trim();
        if let Err(e) = builtin() {
            return Some(Err(e.to_owned()));
        }
        let all = self.all();
        let ordered = matches!(op, ">=" | "<=" | ">" | "<");
        let selected: Result<Vec<_>, String> = match key {
            "severity" => {
                let Some(wanted) = Severity::parse(value) else {
                    return Some(Err(format!(
                        "`{value}` is not a severity: use info, low, medium, high or critical"
                    )));
                };
                Ok(all
                    .into_iter()
                    .filter(|d| compare(d.threat.severity.cmp(&wanted), op))
                    .collect())
            }
            "mitre.technique" | "mitre.tactic" | "name" if ordered => {
                Err(format!("`threat.{key}` is compared with `=` or `!=` only"))
            }
            "mitre.technique" => Ok(all
                .into_iter()
                .filter(|d| {
                    let hit = d.threat.technique_id.eq_ignore_ascii_case(value)
                        || d.threat.technique_name.eq_ignore_ascii_case(value);
                    hit == (op == "=")
                })
                .collect()),
            "mitre.tactic" => Ok(all
                .into_iter()
                .filter(|d| d.threat.tactic.eq_ignore_ascii_case(value) == (op == "="))
                .collect()),
            "name" => Ok(all
                .into_iter()
                .filter(|d| d.threat.name.eq_ignore_ascii_case(value) == (op == "="))
                .collect()),
            _ => Err(format!(
                "`threat.{key}` is not a threat property: use threat.severity, threat.name, \
                 threat.mitre.technique or threat.mitre.tactic"
            )),
        };
        Some(selected)
    }
}

/// The built-in detector producing `name`, if any.
pub fn detector(name: &str) -> Option<&'static Detector> {
    Known::default().detector(name)
}

/// A value as written, without the quotes a shell-style selection may keep around it.
fn unquote(value: &str) -> &str {
    ['"', '\'']
        .into_iter()
        .find_map(|q| value.strip_prefix(q).and_then(|v| v.strip_suffix(q)))
        .unwrap_or(value)
}

fn compare(ord: Ordering, op: &str) -> bool {
    match op {
        "=" => ord == Ordering::Equal,
        "!=" => ord != Ordering::Equal,
        ">=" => ord != Ordering::Less,
        "<=" => ord != Ordering::Greater,
        ">" => ord == Ordering::Greater,
        _ => ord == Ordering::Less,
    }
}

/// The user's detectors that can be selected: a name no event or other detector has, and
/// base events that exist (Tracee's events, or detectors, which chain). E224 for the others.
pub fn check_user(
    found: Vec<crate::parse::UserDetector>,
    diags: &mut crate::diagnostics::Diagnostics,
) -> Vec<Detector> {
    use crate::diagnostics::{Code, Diagnostic};
    let mut kept: Vec<Detector> = Vec::new();
    for user in found {
        let d = &user.detector;
        let taken = if schema::catalog::event(&d.name).is_some()
            || schema::catalog::tracee_event(&d.name).is_some()
        {
            Some("an event")
        } else if detector(&d.name).is_some() {
            Some("a built-in detector")
        } else if kept.iter().any(|k| k.name == d.name) {
            Some("another detector of the input")
        } else {
            None
        };
        let unknown_base = d.events.iter().find(|r| {
            schema::catalog::event(&r.name).is_none()
                && schema::catalog::tracee_event(&r.name).is_none()
                && detector(&r.name).is_none()
                && !kept.iter().any(|k| k.name == r.name)
        });
        let problem = match (taken, unknown_base) {
            (Some(what), _) => Some((
                format!("the detector's event `{}` is already {what}", d.name),
                "give `produced_event.name` a name of its own",
            )),
            (None, Some(base)) => Some((
                format!("the detector needs `{}`, which is no event", base.name),
                "name Tracee events (`tracee-compile list events`) or detectors in `requirements.events`",
            )),
            (None, None) => None,
        };
        match problem {
            Some((message, help)) => diags.push(
                Diagnostic::new(Code::InvalidDetector, message)
                    .at(user.file, user.span)
                    .label("this detector")
                    .help(help),
            ),
            None => kept.push(user.detector),
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_follow_tracee_ids() {
        assert_eq!(event_id_of("TRC-102"), Some(6002));
        assert_eq!(event_id_of("TRC-1022"), Some(6022));
        assert_eq!(event_id_of("TRC-1031"), Some(6031));
        assert_eq!(event_id_of("DRV-002"), Some(6102));
        assert_eq!(event_id_of("TRC-100"), None);
        assert_eq!(event_id_of("yaml-001"), None);
    }

    #[test]
    fn severities_are_ordered() {
        assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Info);
        assert_eq!(Severity::parse(" High "), Some(Severity::High));
        assert_eq!(Severity::parse("4"), Some(Severity::Critical));
        assert_eq!(Severity::parse("5"), None);
        assert_eq!(unquote("\"Defense Evasion\""), "Defense Evasion");
        assert_eq!(Severity::parse("severe"), None);
    }
}
