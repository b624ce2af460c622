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

/// Parses one detector file.
pub fn parse(file: &str, text: &str) -> Result<Detector, String> {
    let raw: File = serde_saphyr::from_str(text).map_err(|e| format!("{file}: {e}"))?;
    if !raw.kind.eq_ignore_ascii_case("detector") {
        return Err(format!("{file}: `type` is `{}`, not `detector`", raw.kind));
    }
    let event_id =
        event_id_of(&raw.id).ok_or_else(|| format!("{file}: no event id for `{}`", raw.id))?;
    let threat = raw.threat.ok_or_else(|| format!("{file}: no `threat`"))?;
    let severity = Severity::parse(&threat.severity)
        .ok_or_else(|| format!("{file}: unknown severity `{}`", threat.severity))?;
    let mitre = threat.mitre.unwrap_or(Mitre {
        technique: None,
        tactic: None,
    });
    let technique = mitre.technique.unwrap_or(Technique {
        id: String::new(),
        name: String::new(),
    });
    if raw.requirements.events.is_empty() {
        return Err(format!("{file}: `requirements.events` is empty"));
    }
    for condition in &raw.conditions {
        conditions::parse(condition).map_err(|e| format!("{file}: {e}"))?;
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
                    .map(|r| (r.name.as_str(), conditions::place(&expr, &r.name)))
                    .collect(),
                Err(e) => vec![("", conditions::Place::Loader(e))],
            };
            (c.as_str(), places)
        })
        .collect()
}

/// The built-in detector producing `name`, if any.
pub fn detector(name: &str) -> Option<&'static Detector> {
    builtin().ok()?.iter().find(|d| d.name == name)
}

/// A threat-based selection of Tracee's policies: `threat.severity>=high`,
/// `threat.mitre.technique=T1055`, `threat.mitre.tactic=Defense Evasion`,
/// `threat.name=...`. `None` when `text` is not one; `Some(Err)` with the reason when it is
/// one but malformed.
pub fn threat_selection(text: &str) -> Option<Result<Vec<&'static Detector>, String>> {
    let rest = text.trim().strip_prefix("threat.")?;
    let at = rest.find(['=', '!', '<', '>'])?;
    let (key, tail) = rest.split_at(at);
    let (op, value) = ["!=", ">=", "<=", "=", ">", "<"]
        .into_iter()
        .find_map(|op| tail.strip_prefix(op).map(|v| (op, unquote(v.trim()))))?;
    let key = key.trim();
    let all = match builtin() {
        Ok(all) => all,
        Err(e) => return Some(Err(e.to_owned())),
    };
    let ordered = matches!(op, ">=" | "<=" | ">" | "<");
    let selected: Result<Vec<_>, String> = match key {
        "severity" => {
            let Some(wanted) = Severity::parse(value) else {
                return Some(Err(format!(
                    "`{value}` is not a severity: use info, low, medium, high or critical"
                )));
            };
            Ok(all
                .iter()
                .filter(|d| compare(d.threat.severity.cmp(&wanted), op))
                .collect())
        }
        "mitre.technique" | "mitre.tactic" | "name" if ordered => {
            Err(format!("`threat.{key}` is compared with `=` or `!=` only"))
        }
        "mitre.technique" => Ok(all
            .iter()
            .filter(|d| {
                let hit = d.threat.technique_id.eq_ignore_ascii_case(value)
                    || d.threat.technique_name.eq_ignore_ascii_case(value);
                hit == (op == "=")
            })
            .collect()),
        "mitre.tactic" => Ok(all
            .iter()
            .filter(|d| d.threat.tactic.eq_ignore_ascii_case(value) == (op == "="))
            .collect()),
        "name" => Ok(all
            .iter()
            .filter(|d| d.threat.name.eq_ignore_ascii_case(value) == (op == "="))
            .collect()),
        _ => Err(format!(
            "`threat.{key}` is not a threat property: use threat.severity, threat.name, \
             threat.mitre.technique or threat.mitre.tactic"
        )),
    };
    Some(selected)
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
