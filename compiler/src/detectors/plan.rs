//! How a detector is decided on each base event it is built from: the rule filters the
//! kernel decides (the data filters, the scope filters, the conditions that lower) and the
//! conditions the loader decides from the record. A rule's filters on one field are
//! alternatives, so a condition on a field the others already filter runs in the loader.

use schema::catalog::EventDef;

use super::Detector;
use super::conditions::{self, Place};

/// One base event of a detector.
#[derive(Debug, Clone)]
pub struct BasePlan<'d> {
    pub base: &'static EventDef,
    /// Rule filters in policy syntax, all of which must hold (several on one field are
    /// alternatives).
    pub kernel: Vec<String>,
    /// Conditions the loader evaluates on the record, each with why it is not the kernel's.
    pub loader: Vec<(&'d str, String)>,
}

/// The base events a detector's detections are built from here: those this loader
/// produces and on which no condition is always false. Empty: the detector is not produced.
pub fn plan(d: &Detector) -> Vec<BasePlan<'_>> {
    let parsed: Vec<(&str, Result<_, String>)> = d
        .conditions
        .iter()
        .map(|c| (c.as_str(), conditions::parse(c)))
        .collect();
    let mut out = Vec::new();
    'bases: for req in &d.events {
        let Some(base) = schema::catalog::event(&req.name) else {
            continue;
        };
        let mut kernel: Vec<String> = req
            .data_filters
            .iter()
            .map(|f| data_filter(f))
            .chain(req.scope_filters.iter().map(|f| scope_filter(f)))
            .collect();
        let mut loader = Vec::new();
        for (text, expr) in &parsed {
            let place = match expr {
                Ok(expr) => conditions::place(expr, &req.name),
                Err(e) => Place::Loader(e.clone()),
            };
            match place {
                Place::Nowhere => {}
                Place::Never => continue 'bases,
                Place::Loader(why) => {
                    // What the condition implies still narrows what the kernel sends up.
                    if let Ok(expr) = expr {
                        let necessary = conditions::necessary(expr, &req.name);
                        let taken: Vec<String> = kernel.iter().map(|f| field_of(f)).collect();
                        if !necessary.iter().any(|f| taken.contains(&field_of(f))) {
                            kernel.extend(necessary);
                        }
                    }
                    loader.push((*text, why));
                }
                Place::Kernel(filters) => {
                    // A filter the others have already (a detector's `container=started`
                    // and its condition `workload.container.id != ""`) says nothing more.
                    let filters: Vec<String> = filters
                        .into_iter()
                        .filter(|f| !kernel.contains(f))
                        .collect();
                    let taken: Vec<String> = kernel.iter().map(|f| field_of(f)).collect();
                    match filters.iter().find(|f| taken.contains(&field_of(f))) {
                        Some(f) => loader.push((
                            *text,
                            format!(
                                "`{}` is filtered already: a rule's filters on one field are \
                                 alternatives",
                                field_of(f)
                            ),
                        )),
                        None => kernel.extend(filters),
                    }
                }
            }
        }
        out.push(BasePlan {
            base,
            kernel,
            loader,
        });
    }
    out
}

/// A data filter of Tracee's detector format (`pathname=/etc/*`) in policy syntax.
fn data_filter(text: &str) -> String {
    let text = text.trim();
    if text.starts_with("data.") || text.starts_with("args.") {
        text.to_owned()
    } else {
        format!("data.{text}")
    }
}

/// A scope filter of a detector requirement as a rule filter. `container=started` (and
/// `=new`) is decided as "in a container": rule filters know whether the task is in one,
/// not whether its container has passed its entrypoint.
fn scope_filter(text: &str) -> String {
    match text.trim() {
        "container=started" | "container=new" | "container" => "container=true".to_owned(),
        other => other.to_owned(),
    }
}

/// The field a filter text names, with `args.`/`data.` taken as one spelling.
pub fn field_of(text: &str) -> String {
    let end = text.find(['=', '!', '<', '>']).unwrap_or(text.len());
    let key = text[..end].trim();
    key.strip_prefix("args.")
        .or_else(|| key.strip_prefix("data."))
        .map_or_else(|| key.to_owned(), |k| format!("data.{k}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_plan_parses_as_rule_filters() {
        for d in super::super::builtin().unwrap_or_default() {
            for p in plan(d) {
                for f in &p.kernel {
                    if let Err(e) = crate::rule::parse_detached(f, p.base) {
                        panic!("{} on {}: {e}", d.name, p.base.name);
                    }
                }
            }
        }
    }

    #[test]
    fn a_condition_on_a_filtered_field_goes_to_the_loader() {
        assert_eq!(field_of("args.pathname=*/x"), field_of("data.pathname=/y"));
        assert_eq!(field_of("comm!=bash"), "comm");
        let Some(d) = super::super::detector("illegitimate_shell") else {
            panic!("built in");
        };
        let p = &plan(d)[0];
        assert!(p.kernel.iter().any(|f| f.starts_with("comm=")), "{p:?}");
        assert!(p.loader.is_empty(), "{p:?}");
    }
}
