//! `tracee-compile list events|sets|detectors`: the events a policy can name, for people and
//! scripts. Every event of Tracee's table (non-internal) and of ours, with its sets, its
//! fields and their types, and whether this loader produces it (and why not); every detector
//! with its threat and what it needs.

use schema::catalog;
use serde::Serialize;

#[derive(Serialize)]
pub struct EventRow {
    pub name: &'static str,
    /// Our event id (the syscall number for syscalls); None when not produced.
    pub id: Option<u32>,
    pub kind: &'static str,
    /// Tracee's sets (event tags).
    pub sets: Vec<&'static str>,
    pub fields: Vec<FieldRow>,
    pub produced: bool,
    /// Why not, when not produced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

#[derive(Serialize)]
pub struct FieldRow {
    pub name: &'static str,
    /// Ours: the C type shown in events (`const char*`); not produced: Tracee's Go type.
    #[serde(rename = "type")]
    pub ty: &'static str,
}

#[derive(Serialize)]
pub struct SetRow {
    pub name: &'static str,
    /// Members this loader produces, and those it does not.
    pub produced: Vec<&'static str>,
    pub not_produced: Vec<&'static str>,
}

/// Our event's row (its sets from Tracee's table, if Tracee has it).
fn ours(event: &'static schema::catalog::EventDef, sets: Vec<&'static str>) -> EventRow {
    EventRow {
        name: event.name,
        id: Some(event.id),
        kind: event.kind.name(),
        sets,
        fields: event
            .args
            .iter()
            .map(|a| FieldRow {
                name: a.name,
                ty: a.type_name,
            })
            .collect(),
        produced: true,
        reason: None,
    }
}

/// Every event: Tracee's non-internal ones in its order, then ours it does not have.
pub fn events() -> Vec<EventRow> {
    let mut rows: Vec<EventRow> = catalog::tracee_events()
        .iter()
        .filter(|t| !t.internal)
        .map(|t| match catalog::event(t.name) {
            Some(event) => ours(event, t.sets.to_vec()),
            None => EventRow {
                name: t.name,
                id: None,
                kind: if t.syscall { "syscall" } else { "other" },
                sets: t.sets.to_vec(),
                fields: t
                    .fields
                    .iter()
                    .map(|f| FieldRow {
                        name: f.name,
                        ty: f.go_type,
                    })
                    .collect(),
                produced: false,
                reason: t.not_produced.map(|r| r.reason()),
            },
        })
        .collect();
    for event in catalog::events() {
        if catalog::tracee_event(event.name).is_none() {
            rows.push(ours(event, Vec::new()));
        }
    }
    rows
}

/// Every set with its members.
pub fn sets() -> Vec<SetRow> {
    catalog::set_names()
        .into_iter()
        .map(|name| {
            let (produced, not_produced): (Vec<_>, Vec<_>) = catalog::set_members(name)
                .into_iter()
                .map(|m| m.name)
                .partition(|n| catalog::event(n).is_some());
            SetRow {
                name,
                produced,
                not_produced,
            }
        })
        .collect()
}

/// The events as text: one paragraph an event.
pub fn events_text(rows: &[EventRow]) -> String {
    let mut out = String::new();
    let produced = rows.iter().filter(|r| r.produced).count();
    for r in rows {
        let id = r.id.map_or_else(String::new, |id| format!("{id}, "));
        out.push_str(&format!("{} ({id}{})", r.name, r.kind));
        if !r.sets.is_empty() {
            out.push_str(&format!("  sets: {}", r.sets.join(",")));
        }
        out.push('\n');
        if !r.fields.is_empty() {
            let fields: Vec<String> = r
                .fields
                .iter()
                .map(|f| format!("{}: {}", f.name, f.ty))
                .collect();
            out.push_str(&format!("    {}\n", fields.join(", ")));
        }
        if let Some(reason) = r.reason {
            out.push_str(&format!("    not produced: {reason}\n"));
        }
    }
    out.push_str(&format!(
        "{} events, {produced} produced by this loader, {} not\n",
        rows.len(),
        rows.len() - produced
    ));
    out
}

/// The sets as text: one line a set.
pub fn sets_text(rows: &[SetRow]) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&format!(
            "{}: {} events ({} produced here): {}\n",
            r.name,
            r.produced.len() + r.not_produced.len(),
            r.produced.len(),
            r.produced.join(", ")
        ));
    }
    out
}

#[derive(Serialize)]
pub struct DetectorRow {
    pub name: &'static str,
    /// Tracee's detector id (`TRC-102`).
    pub id: &'static str,
    /// The event id of its detections.
    pub event_id: u32,
    pub severity: &'static str,
    pub threat_name: &'static str,
    pub mitre_technique: String,
    pub mitre_tactic: &'static str,
    /// Its event's sets besides `detectors` and `default` (`event: tag=...` selects them).
    pub tags: Vec<&'static str>,
    /// Its base events, each as `name[scope filters]{data filters}`.
    pub needs: Vec<String>,
    /// The checks beyond the filters (CEL), and where each runs for each base event.
    pub conditions: Vec<ConditionRow>,
    pub produced: bool,
}

#[derive(Serialize)]
pub struct ConditionRow {
    pub condition: &'static str,
    pub on: Vec<PlaceRow>,
}

#[derive(Serialize)]
pub struct PlaceRow {
    pub event: &'static str,
    #[serde(flatten)]
    pub place: crate::detectors::conditions::Place,
}

/// Every built-in detector, or why they could not be read.
pub fn detectors() -> Result<Vec<DetectorRow>, &'static str> {
    Ok(crate::detectors::builtin()?
        .iter()
        .map(|d| {
            let produced = crate::selection::produced(d);
            DetectorRow {
                name: &d.name,
                id: &d.id,
                event_id: d.event_id,
                severity: d.threat.severity.name(),
                threat_name: &d.threat.name,
                mitre_technique: format!("{} {}", d.threat.technique_id, d.threat.technique_name)
                    .trim()
                    .to_owned(),
                mitre_tactic: &d.threat.tactic,
                tags: d.tags.iter().map(String::as_str).collect(),
                needs: d
                    .events
                    .iter()
                    .map(|r| {
                        let mut need = r.name.clone();
                        if !r.scope_filters.is_empty() {
                            need.push_str(&format!("[{}]", r.scope_filters.join(", ")));
                        }
                        if !r.data_filters.is_empty() {
                            need.push_str(&format!("{{{}}}", r.data_filters.join(", ")));
                        }
                        need
                    })
                    .collect(),
                conditions: crate::detectors::placements(d)
                    .into_iter()
                    .map(|(condition, on)| ConditionRow {
                        condition,
                        on: on
                            .into_iter()
                            .map(|(event, place)| PlaceRow { event, place })
                            .collect(),
                    })
                    .collect(),
                produced,
            }
        })
        .collect())
}

/// Where a condition runs: one word when it is the same on every base event that it
/// concerns, else per event.
fn places_text(on: &[PlaceRow]) -> String {
    use crate::detectors::conditions::Place;
    let word = |p: &Place| match p {
        Place::Nowhere => "always true".to_owned(),
        Place::Never => "never: not from this event".to_owned(),
        Place::Kernel(filters) => format!("kernel: {}", filters.join(" ")),
        Place::Loader(why) => format!("loader: {why}"),
    };
    let concerned: Vec<&PlaceRow> = on.iter().filter(|p| p.place != Place::Nowhere).collect();
    match concerned.as_slice() {
        [] => "always true".to_owned(),
        [first, rest @ ..]
            if rest.iter().all(|p| p.place == first.place) && on.len() == concerned.len() =>
        {
            word(&first.place)
        }
        _ => concerned
            .iter()
            .map(|p| format!("{}: {}", p.event, word(&p.place)))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The detectors as text: one paragraph a detector.
pub fn detectors_text(rows: &[DetectorRow]) -> String {
    let mut out = String::new();
    for r in rows {
        out.push_str(&format!(
            "{} ({}, event {}): {}, {} / {}{}\n    needs: {}\n",
            r.name,
            r.id,
            r.event_id,
            r.severity,
            r.mitre_tactic,
            r.mitre_technique,
            if r.produced { "" } else { "; not produced yet" },
            r.needs.join("; ")
        ));
        if !r.tags.is_empty() {
            out.push_str(&format!("    tags: {}\n", r.tags.join(", ")));
        }
        for c in &r.conditions {
            out.push_str(&format!(
                "    and: {}  [{}]\n",
                c.condition,
                places_text(&c.on)
            ));
        }
    }
    let produced = rows.iter().filter(|r| r.produced).count();
    out.push_str(&format!(
        "{} detectors, {produced} produced by this loader, {} not yet\n",
        rows.len(),
        rows.len() - produced
    ));
    out
}
