//! Phase 4: policies + map contents -> the image bytes (`schema::image`), which the loader
//! installs as they are.

use schema::image::{self, EventMeta, Image, ImageError, MapSection, Meta, PolicyMeta};

use crate::ir::{Action, Policy};
use crate::lower::Lowered;

/// `UserspaceFilter::event` of a scope filter (it applies to every event of the policy).
pub const SCOPE_EVENT: u32 = u32::MAX;

pub fn image(policies: &[Policy], lowered: &Lowered) -> Image {
    let policies = policies
        .iter()
        .map(|p| PolicyMeta {
            id: p.id as u8,
            name: p.name.clone(),
            description: p.description.clone(),
            actions: p
                .default_actions
                .iter()
                .map(|a| match a {
                    Action::Log => "log".to_owned(),
                    Action::Print => "print".to_owned(),
                })
                .collect(),
        })
        .collect();
    let meta = Meta {
        policies,
        events: lowered
            .events
            .iter()
            .map(|(id, name)| EventMeta {
                id: *id,
                name: (*name).to_owned(),
            })
            .collect(),
        probes: lowered.probes.clone(),
        userspace_filters: lowered
            .userspace
            .iter()
            .map(|f| image::UserspaceFilter {
                policy: f.policy as u8,
                event: f.event.unwrap_or(SCOPE_EVENT),
                field: f.field.clone(),
                op: f.op.as_str().to_owned(),
                values: f.values.clone(),
                reason: f.reason.to_owned(),
            })
            .collect(),
        detectors: lowered.detectors.clone(),
    };
    let maps = lowered
        .maps
        .iter()
        .map(|m| MapSection {
            name: m.name.to_owned(),
            map_type: m.map_type,
            key_size: m.key_size,
            value_size: m.value_size,
            max_entries: m.max_entries,
            flags: m.flags,
            entries: m
                .entries
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
        .collect();
    Image {
        abi_hash: schema::abi::abi_hash(),
        catalog_hash: schema::catalog::catalog_hash(),
        meta,
        maps,
    }
}

/// The image's bytes, checked by decoding them back (what the loader will accept).
pub fn encode(policies: &[Policy], lowered: &Lowered) -> Result<Vec<u8>, ImageError> {
    image::encode_checked(&image(policies, lowered))
}
