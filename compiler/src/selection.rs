//! What a rule's `event:` selects: one event of the catalog, or, as Tracee documents, a
//! selection: a comma list of event names, event sets (`tag=fs`, or the bare set name of
//! Tracee v0.24's validator: `fs`, `default`) and exclusions (`-openat`), expanded here at
//! compile time. Tracee's rules: sets expand to their members, exclusions are applied after
//! everything else, and a selection of exclusions only starts from the `default` set. A
//! negated set (`-fs`) is refused, as in Tracee.
//!
//! Events Tracee defines that this loader does not produce are their own error (E220), with
//! the reason, instead of "unknown event"; set members among them are left out with a
//! warning (W305), since a set is a convenience, not a promise of each member.

use schema::catalog::{self, EventDef};

use crate::detectors::{self, Detector};

use crate::ast::Text;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::filter;
use crate::source::FileId;
use crate::suggest::closest;

/// What `event:` resolved to.
#[derive(Default)]
pub struct Selection {
    /// The produced events it names or expands to, in order.
    pub events: Vec<&'static EventDef>,
    /// The detectors it names or selects by threat (their event names).
    pub detectors: Vec<String>,
    /// A list, a set, exclusions or a threat selection rather than one name.
    pub many: bool,
}

impl Selection {
    fn one(event: &'static EventDef) -> Selection {
        Selection {
            events: vec![event],
            ..Selection::default()
        }
    }
}

/// Is a detector produced here (some base event it is built from is)?
pub fn produced(d: &Detector) -> bool {
    catalog::event(&d.name).is_some() || !detectors::plan::plan(d).is_empty()
}

/// Is this `event:` text a selection expression rather than one name?
fn is_expression(name: &str, detectors: detectors::Known<'_>) -> bool {
    name.contains(',') || name.starts_with('-') || set_of(name, detectors).is_some()
}

/// The set an item names: `tag=NAME`, or a bare set name that is no event's (detectors'
/// tags are sets too, as in Tracee).
fn set_of<'a>(item: &'a str, detectors: detectors::Known<'_>) -> Option<&'a str> {
    let set = item.strip_prefix("tag=").unwrap_or(item);
    let is_set = catalog::is_set(set) || detectors.all().iter().any(|d| d.in_set(set));
    let is_event = catalog::event(item).is_some()
        || catalog::tracee_event(item).is_some()
        || detectors.detector(item).is_some();
    (is_set && (item.starts_with("tag=") || !is_event)).then_some(set)
}

/// E220 for a Tracee event this loader does not produce; false if `name` is not one.
fn not_produced(
    name: &str,
    at: crate::yaml::ByteSpan,
    file: FileId,
    diags: &mut Diagnostics,
) -> bool {
    let Some(reason) = catalog::tracee_event(name)
        .filter(|e| !e.internal)
        .and_then(|e| e.not_produced)
    else {
        return false;
    };
    diags.push(
        Diagnostic::new(
            Code::EventNotProduced,
            format!(
                "`{name}` is a Tracee event that this loader does not produce: {}",
                reason.reason()
            ),
        )
        .at(file, at)
        .label("not produced here")
        .help(
            "remove this rule (`tracee-compile list events` shows what is produced, and why not)",
        ),
    );
    true
}

/// W306 for Tracee detectors whose base events this loader cannot produce: the rule is kept
/// (the policy is valid Tracee) and never fires.
fn detectors_not_produced(
    selected: &[&Detector],
    at: crate::yaml::ByteSpan,
    file: FileId,
    diags: &mut Diagnostics,
) {
    let needs = |d: &Detector| {
        d.events
            .iter()
            .map(|r| format!("`{}`", r.name))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let message = match selected {
        [one] => format!(
            "`{}` is a {} ({}, severity {}, MITRE {} {}) that never fires here: it is built from {}, which this loader does not produce",
            one.name,
            if one.builtin {
                "Tracee detector"
            } else {
                "detector of the input"
            },
            one.id,
            one.threat.severity.name(),
            one.threat.technique_id,
            one.threat.technique_name,
            needs(one)
        ),
        many => {
            let names: Vec<&str> = many.iter().map(|d| d.name.as_str()).collect();
            format!(
                "this selects {} detectors that never fire here (their base events are not produced): {}",
                many.len(),
                names.join(", ")
            )
        }
    };
    diags.push(
        Diagnostic::new(Code::DetectorNotProduced, message)
            .at(file, at)
            .label("never fires here")
            .help(
                "keep it to run the same policy on Tracee, or remove it (`tracee-compile list \
                 detectors` says what each detector needs, `list events` why an event is not \
                 produced)",
            ),
    );
}

/// A threat-based selection (`threat.severity>=high`): the detectors it names that this
/// loader produces; the others are left out with a warning.
fn threat(
    found: Result<Vec<&Detector>, String>,
    text: &Text,
    file: FileId,
    diags: &mut Diagnostics,
) -> Option<Selection> {
    let detectors = match found {
        Ok(detectors) => detectors,
        Err(reason) => {
            diags.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("a threat selection that does not parse: {reason}"),
                )
                .at(file, text.span.clone())
                .label("not a threat selection")
                .help("write e.g. `threat.severity>=high` or `threat.mitre.technique=T1055`"),
            );
            return None;
        }
    };
    let (chosen, missing): (Vec<_>, Vec<_>) = detectors.into_iter().partition(|d| produced(d));
    if !missing.is_empty() {
        detectors_not_produced(&missing, text.span.clone(), file, diags);
        if chosen.is_empty() {
            return None;
        }
    }
    if chosen.is_empty() {
        diags.push(
            Diagnostic::new(
                Code::SelectsNothing,
                "this threat selection names no detector",
            )
            .at(file, text.span.clone())
            .label("no detector matches")
            .help("`tracee-compile list detectors` shows each detector's threat"),
        );
        return None;
    }
    let mut selection = Selection {
        many: true,
        ..Selection::default()
    };
    for d in chosen {
        selection.add_detector(d);
    }
    Some(selection)
}

impl Selection {
    /// A detector: as its catalog event where it is one (`dropped_executable`).
    fn add_detector(&mut self, d: &Detector) {
        match catalog::event(&d.name) {
            Some(event) => self.events.push(event),
            None => self.detectors.push(d.name.clone()),
        }
    }
}

/// A set's members: its events (those not produced left out) and, as Tracee registers them,
/// the detectors in it (`detectors`, `default`, their tags).
fn set_members(
    set: &str,
    detectors: detectors::Known<'_>,
    chosen: &mut Vec<&'static EventDef>,
    chosen_detectors: &mut Selection,
    left_out: &mut Vec<String>,
) {
    for member in catalog::set_members(set) {
        match catalog::event(member.name) {
            Some(event) => chosen.push(event),
            None => left_out.push(member.name.to_owned()),
        }
    }
    for d in detectors.all().into_iter().filter(|d| d.in_set(set)) {
        if produced(d) {
            chosen_detectors.add_detector(d);
        } else {
            left_out.push(d.name.clone());
        }
    }
}

/// E211 for a name that is neither ours nor Tracee's.
fn unknown(name: &str, at: crate::yaml::ByteSpan, file: FileId, diags: &mut Diagnostics) {
    let help = if name.contains('*') {
        "event names take no wildcards: list the events, or use a set (`tag=fs`)".to_owned()
    } else if name.trim() != name && catalog::event(name.trim()).is_some() {
        format!("remove the surrounding spaces: `{}`", name.trim())
    } else {
        let names = catalog::events()
            .iter()
            .map(|e| e.name)
            .chain(
                catalog::tracee_events()
                    .iter()
                    .filter(|e| !e.internal)
                    .map(|e| e.name),
            )
            .chain(catalog::set_names());
        closest(name, names)
            .map(|c| format!("did you mean `{c}`?"))
            .unwrap_or_else(|| {
                "see `tracee-compile list events` (or docs/events.md) for the events".to_owned()
            })
    };
    diags.push(
        Diagnostic::new(
            Code::UnknownEvent,
            format!("unknown event `{}`", filter::shown(name)),
        )
        .at(file, at)
        .label("not in the event catalog")
        .help(help),
    );
}

/// Resolves `event:`; None (with diagnostics) when nothing valid is selected.
pub fn resolve(
    text: &Text,
    file: FileId,
    detectors: detectors::Known<'_>,
    diags: &mut Diagnostics,
) -> Option<Selection> {
    let name = text.value.as_str();
    if let Some(event) = catalog::event(name) {
        return Some(Selection::one(event));
    }
    if let Some(found) = detectors.threat_selection(name) {
        return threat(found, text, file, diags);
    }
    if !is_expression(name, detectors) {
        if let Some(d) = detectors.detector(name) {
            if produced(d) {
                let mut selection = Selection::default();
                selection.add_detector(d);
                return Some(selection);
            }
            detectors_not_produced(&[d], text.span.clone(), file, diags);
        } else if !not_produced(name, text.span.clone(), file, diags) {
            unknown(name, text.span.clone(), file, diags);
        }
        return None;
    }
    let mut chosen: Vec<&'static EventDef> = Vec::new();
    let mut chosen_detectors = Selection::default();
    let mut excluded: Vec<&'static EventDef> = Vec::new();
    let mut excluded_detectors: Vec<&str> = Vec::new();
    let mut left_out: Vec<String> = Vec::new();
    let mut positive = false;
    let mut ok = true;
    let mut at = 0;
    for item in name.split(',') {
        let span = text.sub(at..at + item.len());
        at += item.len() + 1;
        if item.is_empty() {
            diags.push(
                Diagnostic::new(Code::EmptyListItem, "an empty item in the event list")
                    .at(file, span)
                    .label("nothing here")
                    .help("remove the extra comma"),
            );
            ok = false;
            continue;
        }
        if let Some(name) = item.strip_prefix('-') {
            if set_of(name, detectors).is_some() {
                diags.push(
                    Diagnostic::new(
                        Code::UnknownEvent,
                        format!("a set cannot be excluded: `{item}`"),
                    )
                    .at(file, span)
                    .label("a negated set")
                    .help("exclude the set's events one by one (`-openat`), as in Tracee"),
                );
                ok = false;
            } else if let Some(event) = catalog::event(name) {
                excluded.push(event);
            } else if detectors.detector(name).is_some() {
                excluded_detectors.push(name);
            } else if catalog::tracee_event(name).is_none() {
                unknown(name, span, file, diags);
                ok = false;
            }
            continue;
        }
        positive = true;
        if let Some(set) = set_of(item, detectors) {
            set_members(
                set,
                detectors,
                &mut chosen,
                &mut chosen_detectors,
                &mut left_out,
            );
        } else if let Some(event) = catalog::event(item) {
            chosen.push(event);
        } else if let Some(d) = detectors.detector(item) {
            if produced(d) {
                chosen_detectors.add_detector(d);
            } else {
                detectors_not_produced(&[d], span, file, diags);
            }
        } else {
            if !not_produced(item, span.clone(), file, diags) {
                unknown(item, span, file, diags);
            }
            ok = false;
        }
    }
    if !positive {
        // Only exclusions: Tracee starts from the `default` set.
        set_members(
            "default",
            detectors,
            &mut chosen,
            &mut chosen_detectors,
            &mut left_out,
        );
    }
    if !ok {
        return None;
    }
    chosen.extend(chosen_detectors.events);
    let mut seen = std::collections::HashSet::new();
    chosen.retain(|e| !excluded.contains(e) && seen.insert(e.id));
    let mut detector_names = chosen_detectors.detectors;
    detector_names.retain(|d| !excluded_detectors.contains(&d.as_str()));
    let mut seen_detectors = std::collections::HashSet::new();
    detector_names.retain(|d| seen_detectors.insert(d.clone()));
    left_out.sort_unstable();
    left_out.dedup();
    if !left_out.is_empty() {
        let shown: Vec<&str> = left_out.iter().take(12).map(String::as_str).collect();
        let more = left_out.len().saturating_sub(shown.len());
        diags.push(
            Diagnostic::new(
                Code::SetMembersNotProduced,
                format!(
                    "{} event{} of this selection {} not produced by this loader and left out: {}{}",
                    left_out.len(),
                    if left_out.len() == 1 { "" } else { "s" },
                    if left_out.len() == 1 { "is" } else { "are" },
                    shown.join(", "),
                    if more > 0 { format!(" and {more} more") } else { String::new() }
                ),
            )
            .at(file, text.span.clone())
            .label(format!("selects {} produced events", chosen.len() + detector_names.len()))
            .help("`tracee-compile list events` says why each is not produced; `inspect` shows the events selected"),
        );
    }
    if chosen.is_empty() && detector_names.is_empty() {
        diags.push(
            Diagnostic::new(Code::SelectsNothing, "this selection leaves no event")
                .at(file, text.span.clone())
                .label("no event left")
                .help("every event it names is excluded or not produced here: remove the rule"),
        );
        return None;
    }
    Some(Selection {
        events: chosen,
        detectors: detector_names,
        many: true,
    })
}
