//! Detections -> rule bits of pseudo events (docs/detectors.md, "In the kernel").
//!
//! Every (detector, policy) pair a policy selects becomes, on each base event the detector is
//! built from, one bit of a pseudo event's rules: the detector's data and scope filters, the
//! conditions that lower to filters, and the policy's own filters. Up to 64 pairs of one base
//! event share a chunk (one pseudo event, one `detect_chunks` entry), so the kernel decides
//! them all in one pass over the record. Policy bits stay the policies': the base event is
//! built for a policy with a detection on it (an empty rule of the policy on it, marked
//! `detect_only` so it is not printed for that policy), and a policy's own rule on a base
//! event with filters moves beside its detections as a pair of its own, so neither its
//! filters nor the detections' turn the other away.

use std::collections::BTreeMap;

use schema::abi;
use schema::catalog::EventDef;
use schema::image::{DetectBaseMeta, DetectorMeta, LoaderCondition, ThreatMeta};

use super::Ctx;
use super::rules::PseudoRule;
use crate::detectors::{self, Known};
use crate::ir::{Filter, Policy, Rule, RuleField};

/// What the detections of the policies add to the rule maps.
pub(super) struct Planned {
    /// The policies with an empty rule on each base event of their detections they have no
    /// rule for, and the filters of their own rules that moved into a chunk removed.
    pub(super) policies: Vec<Policy>,
    pub(super) pseudo: Vec<PseudoRule>,
    /// Per base event: `detect`, `detect_only`, first chunk, chunk count.
    pub(super) bases: BTreeMap<u32, (u64, u64, u32, u16)>,
    pub(super) chunks: Vec<abi::DetectChunk>,
    pub(super) detectors: Vec<DetectorMeta>,
}

/// One (detector or own rule, policy) pair on one base event.
struct Pair {
    /// What a match prints as: the detector's event id, or the base event's own.
    event: u32,
    policy: usize,
    filters: Vec<Filter<RuleField>>,
}

pub(super) fn plan(policies: &[Policy], known: Known<'_>, cx: &mut Ctx) -> Planned {
    let mut out_policies = policies.to_vec();
    let mut pairs: BTreeMap<u32, (&'static EventDef, Vec<Pair>)> = BTreeMap::new();
    let mut metas: BTreeMap<u32, DetectorMeta> = BTreeMap::new();
    for policy in policies {
        for detection in &policy.detections {
            let Some(d) = known.detector(&detection.detector) else {
                continue;
            };
            let bases = detectors::plan::plan(d);
            metas.entry(d.event_id).or_insert_with(|| DetectorMeta {
                event_id: d.event_id,
                name: d.name.clone(),
                id: d.id.clone(),
                description: d.description.clone(),
                tags: d.tags.clone(),
                threat: ThreatMeta {
                    name: d.threat.name.clone(),
                    description: d.threat.description.clone(),
                    severity: d.threat.severity.name().to_owned(),
                    technique_id: d.threat.technique_id.clone(),
                    technique_name: d.threat.technique_name.clone(),
                    tactic: d.threat.tactic.clone(),
                },
                bases: bases
                    .iter()
                    .map(|b| DetectBaseMeta {
                        event: b.base.id,
                        loader: b
                            .loader
                            .iter()
                            .map(|(condition, reason)| LoaderCondition {
                                condition: (*condition).to_owned(),
                                reason: reason.clone(),
                            })
                            .collect(),
                    })
                    .collect(),
            });
            for base in bases {
                let mut filters = Vec::new();
                for text in &base.kernel {
                    match crate::rule::parse_detached(text, base.base) {
                        Ok(parsed) => filters.extend(parsed),
                        Err(e) => cx.limit(
                            policy,
                            &detection.span,
                            format!("detector `{}` does not lower on `{}`: {e}", d.name, base.base.name),
                            "fix the detector's filters (`tracee-compile list detectors` shows them)",
                        ),
                    }
                }
                for own in &detection.filters {
                    if filters.iter().any(|f| f.key == own.key) {
                        cx.limit(
                            policy,
                            &own.span,
                            format!(
                                "detector `{}` filters `{}` already on `{}`: a rule's filters on one field are alternatives",
                                d.name,
                                crate::rule::field_name(own.key),
                                base.base.name
                            ),
                            "filter the detections on another field, or in the policy's scope",
                        );
                    }
                }
                filters.extend(detection.filters.iter().cloned());
                pairs
                    .entry(base.base.id)
                    .or_insert_with(|| (base.base, Vec::new()))
                    .1
                    .push(Pair {
                        event: d.event_id,
                        policy: policy.id,
                        filters,
                    });
            }
        }
    }
    let mut planned = Planned {
        policies: Vec::new(),
        pseudo: Vec::new(),
        bases: BTreeMap::new(),
        chunks: Vec::new(),
        detectors: metas.into_values().collect(),
    };
    for (base_id, (base, mut list)) in pairs {
        let mut detect = 0u64;
        let mut detect_only = 0u64;
        let mut with_pairs: Vec<usize> = list.iter().map(|p| p.policy).collect();
        with_pairs.sort_unstable();
        with_pairs.dedup();
        for id in with_pairs {
            let Some(policy) = out_policies.get_mut(id) else {
                continue;
            };
            detect |= 1u64 << id;
            match policy.rules.iter_mut().find(|r| r.event.id == base_id) {
                Some(rule) if rule.filters.is_empty() => {}
                Some(rule) => {
                    detect_only |= 1u64 << id;
                    list.push(Pair {
                        event: base_id,
                        policy: id,
                        filters: std::mem::take(&mut rule.filters),
                    });
                }
                None => {
                    detect_only |= 1u64 << id;
                    let span = policy.name_span.clone();
                    policy.rules.push(Rule {
                        event: base,
                        filters: Vec::new(),
                        actions: Vec::new(),
                        span,
                    });
                }
            }
        }
        list.sort_by_key(|p| (p.event, p.policy));
        let chunks = list.len().div_ceil(abi::DETECT_PAIRS);
        if chunks > abi::DETECT_MAX_CHUNKS {
            if let Some(policy) = policies.get(list[0].policy) {
                cx.limit(
                    policy,
                    &policy.name_span.clone(),
                    format!(
                        "{} detections are built from `{}`; the kernel decides at most {}",
                        list.len(),
                        base.name,
                        abi::DETECT_PAIRS * abi::DETECT_MAX_CHUNKS
                    ),
                    "select fewer detectors, or split the policies into several images",
                );
            }
            continue;
        }
        let first = planned.chunks.len() as u32;
        for (c, group) in list.chunks(abi::DETECT_PAIRS).enumerate() {
            let index = first + c as u32;
            let mut chunk: abi::DetectChunk = bytemuck::Zeroable::zeroed();
            for (b, pair) in group.iter().enumerate() {
                chunk.event[b] = pair.event;
                chunk.policy[b] = 1u64 << pair.policy;
                planned.pseudo.push(PseudoRule {
                    pseudo: abi::DETECT_PSEUDO_BASE + index,
                    bit: 1u64 << b,
                    policy: pair.policy,
                    base_name: base.name,
                    shown_as: pair.event,
                    filters: pair.filters.clone(),
                });
            }
            planned.chunks.push(chunk);
        }
        planned
            .bases
            .insert(base_id, (detect, detect_only, first, chunks as u16));
    }
    planned.policies = out_policies;
    planned
}
