//! Path anchors (docs/image-format.md, "Path anchors"): for a path field whose handler can
//! look at the dentries before it builds the path (`schema::hooks::PATH_ANCHORS`), the
//! first or last component each policy's filters need. Building a path and looking it up in
//! three maps costs most of what `security_file_open` costs; reading two names and two
//! hash lookups turn away the paths no rule and no detection can take.
//!
//! Anchors are necessary conditions, never sufficient: a path that meets one goes through
//! every filter as before. A policy is anchored on an event when each of its rules and
//! detection pairs there has `=` values on the field and each value needs an anchor (or
//! can only match a path with no root, which the kernel never anchors).

use std::collections::{BTreeMap, BTreeSet};

use bytemuck::bytes_of;
use schema::abi::{self, anchor};
use schema::image::MapType;

use super::MapContents;
use super::detections::Planned;
use crate::ir::{Filter, Op, RuleField, StrMatch, Value};

/// What one `=` value of a path filter needs of the path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// A component: (`anchor::*`, name).
    Anchor(u8, Vec<u8>),
    /// Nothing the kernel checks: the value can only match a path without a root (a
    /// memfd's `memfd:NAME`), or a name longer than an anchor holds (the kernel does not
    /// anchor those paths).
    Unanchored,
}

/// The anchor a value needs; `None` when it can match paths no anchor describes.
fn need(m: &StrMatch) -> Option<Need> {
    let name = |s: &str| {
        if s.len() > abi::ANCHOR_NAME_MAX {
            Need::Unanchored
        } else {
            Need::Anchor(0, s.as_bytes().to_vec())
        }
    };
    let with = |kind: u8, n: Need| match n {
        Need::Anchor(_, bytes) => Need::Anchor(kind, bytes),
        other => other,
    };
    match m {
        StrMatch::Exact(s) if !s.starts_with('/') => Some(Need::Unanchored),
        StrMatch::Exact(s) => {
            let last = s.rsplit('/').next().unwrap_or_default();
            (!last.is_empty()).then(|| with(anchor::LAST, name(last)))
        }
        StrMatch::Prefix(s) if !s.is_empty() && !s.starts_with('/') => Some(Need::Unanchored),
        StrMatch::Prefix(s) => {
            // The first component must be complete: `/etc/cron*` needs `etc`, `/et*` nothing
            // an exact lookup can say.
            let rest = s.strip_prefix('/')?;
            let (top, _) = rest.split_once('/')?;
            (!top.is_empty()).then(|| with(anchor::TOP, name(top)))
        }
        StrMatch::Suffix(s) => match s.rsplit_once('/') {
            Some((_, tail)) => (!tail.is_empty()).then(|| with(anchor::LAST, name(tail))),
            None if s.is_empty() => None,
            None => Some(with(anchor::LAST_SUFFIX, name(s))),
        },
        StrMatch::Contains(_) => None,
    }
}

/// The anchors a rule's (or pair's) filters on argument `index` need, or `None` when the
/// filters let through paths no anchor describes (no `=` values, a substring, `/`).
fn unit_needs(filters: &[Filter<RuleField>], index: usize) -> Option<Vec<Need>> {
    let mut needs = Vec::new();
    for f in filters {
        let on_field = matches!(f.key, RuleField::Arg { index: i, .. } if i == index);
        // `!=` values only narrow what the `=` values of the same rule let through.
        if !on_field || f.op != Op::Eq {
            continue;
        }
        for value in &f.values {
            let Value::Str(m) = value else { return None };
            needs.push(need(m)?);
        }
    }
    (!needs.is_empty()).then_some(needs)
}

/// What one event's `event_config` says of its anchors.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct EventAnchors {
    pub(super) anchored: u64,
    pub(super) suffix_lens: u64,
    pub(super) sketch: [u64; abi::ANCHOR_SKETCH_BITS / 64],
}

/// Per event id, its anchors' part of `event_config`; and the `path_anchors` map.
pub(super) struct Anchors {
    pub(super) events: BTreeMap<u32, EventAnchors>,
    pub(super) map: MapContents,
}

pub(super) fn anchors(planned: &Planned) -> Anchors {
    let mut events = BTreeMap::new();
    let mut keys: BTreeSet<Vec<u8>> = BTreeSet::new();
    for (name, index) in schema::hooks::PATH_ANCHORS {
        let Some(def) = schema::catalog::event(name) else {
            continue;
        };
        let field = abi::FIELD_ARG_BASE + *index as u16;
        let (detect, detect_only) = planned
            .bases
            .get(&def.id)
            .map_or((0, 0), |(d, o, _, _)| (*d, *o));
        let mut anchored = 0u64;
        let mut needs: BTreeSet<Need> = BTreeSet::new();
        for policy in &planned.policies {
            let bit = 1u64 << policy.id;
            let rules: Vec<&[Filter<RuleField>]> = if detect_only & bit != 0 {
                // Its empty rule only arms the event; its pairs (a moved rule of its own
                // among them) say what it takes.
                planned
                    .pseudo
                    .iter()
                    .filter(|p| p.policy == policy.id && p.base_name == def.name)
                    .map(|p| p.filters.as_slice())
                    .collect()
            } else if detect & bit != 0 {
                // A rule of its own without filters: every path.
                continue;
            } else {
                policy
                    .rules
                    .iter()
                    .filter(|r| r.event.id == def.id)
                    .map(|r| r.filters.as_slice())
                    .collect()
            };
            if rules.is_empty() {
                continue;
            }
            let Some(all) = rules
                .iter()
                .map(|filters| unit_needs(filters, *index))
                .collect::<Option<Vec<_>>>()
            else {
                continue;
            };
            anchored |= bit;
            needs.extend(all.into_iter().flatten());
        }
        let mut suffix_lens = 0u64;
        for n in &needs {
            if let Need::Anchor(anchor::LAST_SUFFIX, bytes) = n {
                suffix_lens |= 1 << bytes.len();
            }
        }
        // The kernel tries each suffix length in turn: past the bound, no anchors.
        if anchored == 0 || suffix_lens.count_ones() as usize > abi::ANCHOR_MAX_SUFFIX_LENS {
            continue;
        }
        let mut sketch = [0u64; abi::ANCHOR_SKETCH_BITS / 64];
        for n in needs {
            if let Need::Anchor(kind, bytes) = n {
                let (first, last) = (bytes.first(), bytes.last());
                if let (Some(first), Some(last)) = (first, last) {
                    let bit = abi::anchor_sketch_bit(kind, bytes.len() as u8, *first, *last);
                    sketch[bit as usize / 64] |= 1 << (bit % 64);
                }
                let key = abi::AnchorKey {
                    event: def.id,
                    field,
                    kind,
                    len: bytes.len() as u8,
                    name: abi::fixed(&bytes),
                };
                keys.insert(bytes_of(&key).to_vec());
            }
        }
        events.insert(
            def.id,
            EventAnchors {
                anchored,
                suffix_lens,
                sketch,
            },
        );
    }
    let entries: BTreeMap<Vec<u8>, Vec<u8>> = keys
        .into_iter()
        .map(|k| (k, 1u32.to_le_bytes().to_vec()))
        .collect();
    let map = MapContents {
        name: "path_anchors",
        map_type: MapType::Hash,
        key_size: std::mem::size_of::<abi::AnchorKey>() as u32,
        value_size: 4,
        max_entries: (entries.len() as u32).max(1),
        flags: 0,
        entries,
    };
    Anchors { events, map }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchor(kind: u8, s: &str) -> Option<Need> {
        Some(Need::Anchor(kind, s.as_bytes().to_vec()))
    }

    #[test]
    fn values_need_their_components() {
        let exact = |s: &str| need(&StrMatch::Exact(s.into()));
        let prefix = |s: &str| need(&StrMatch::Prefix(s.into()));
        let suffix = |s: &str| need(&StrMatch::Suffix(s.into()));
        assert_eq!(exact("/etc/sudoers"), anchor(anchor::LAST, "sudoers"));
        assert_eq!(exact("/"), None);
        assert_eq!(exact("/etc/"), None);
        assert_eq!(exact("memfd:x"), Some(Need::Unanchored));
        assert_eq!(prefix("/etc/cron.d/"), anchor(anchor::TOP, "etc"));
        assert_eq!(prefix("/usr/lib/"), anchor(anchor::TOP, "usr"));
        assert_eq!(prefix("/etc"), None, "the first component is not complete");
        assert_eq!(prefix("/"), None);
        assert_eq!(prefix(""), None);
        assert_eq!(prefix("//x/"), None);
        assert_eq!(prefix("var/spool/"), Some(Need::Unanchored));
        assert_eq!(suffix("/mem"), anchor(anchor::LAST, "mem"));
        assert_eq!(suffix("/proc/kcore"), anchor(anchor::LAST, "kcore"));
        assert_eq!(
            suffix("docker.sock"),
            anchor(anchor::LAST_SUFFIX, "docker.sock")
        );
        assert_eq!(suffix("/"), None);
        assert_eq!(suffix(""), None);
        assert_eq!(need(&StrMatch::Contains("etc".into())), None);
        let long = format!("/d/{}", "x".repeat(abi::ANCHOR_NAME_MAX + 1));
        assert_eq!(exact(&long), Some(Need::Unanchored));
        assert_eq!(
            exact(&format!("/d/{}", "x".repeat(abi::ANCHOR_NAME_MAX))),
            anchor(anchor::LAST, &"x".repeat(abi::ANCHOR_NAME_MAX))
        );
    }
}
