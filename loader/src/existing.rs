//! `existing_container`: one event for each container that runs when the image is
//! installed. No kernel hook sees something that happened before the loader started, so the
//! loader makes these events itself, from the cgroup trees and the runtime's state, and
//! decides them with the image's own semantics (`schema::eval`, the reference evaluator of
//! what the programs decide). They carry no process: scopes and filters on containers
//! decide them; process fields read as 0 and empty.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use schema::abi::EventRecord;
use schema::eval::{ContainerState, Evaluator, Event, Value};
use schema::image::Image;
use schema::record::{Arg, ArgValue, Record};

use crate::containers::{self, Runtime};

/// Tracee's id of `existing_container` (its user-space events block).
pub const EXISTING_CONTAINER: u32 = 2016;

/// Tracee's runtime names, as `container_create` prints them.
fn runtime_name(runtime: Runtime) -> &'static str {
    match runtime {
        Runtime::Docker => "docker",
        Runtime::Containerd => "containerd",
        Runtime::Crio => "crio",
        Runtime::Podman => "podman",
        Runtime::Unknown => "unknown",
    }
}

/// The records of the containers running now, for an image that selects the event: only
/// those some policy matches (`matched_policies` as the kernel would set them). `now` is
/// the boot-clock time stamped on them, `generation` the image's.
pub fn records(image: &Image, generation: u32, now: u64, host_root: &Path) -> Vec<Record> {
    if !image.meta.events.iter().any(|e| e.id == EXISTING_CONTAINER) {
        return Vec::new();
    }
    let Ok(eval) = Evaluator::new(image) else {
        return Vec::new();
    };
    let Some(root) = crate::cgroup_v2_root() else {
        return Vec::new();
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for (cgroup_id, path) in crate::cgroup_dirs(root) {
        let name = path.rsplit('/').next().unwrap_or_default();
        // The container's own cgroup (not the cgroups inside it).
        let Some((id, runtime)) = containers::container_of_cgroup(&path) else {
            continue;
        };
        if !name.contains(id.as_str()) || !seen.insert(id.clone()) {
            continue;
        }
        // The cgroup's creation, as wall-clock nanoseconds.
        let ctime = std::fs::metadata(root.join(&path))
            .map(|m| m.ctime() as u64 * 1_000_000_000 + m.ctime_nsec() as u64)
            .unwrap_or(0);
        let mut args = vec![
            (0u8, ArgValue::Str(runtime_name(runtime).to_owned())),
            (1, ArgValue::Str(id.clone())),
            (2, ArgValue::UInt(ctime)),
        ];
        if let Some(c) = containers::metadata(host_root, &id, runtime) {
            args.extend(c.event_args());
        }
        let mut event = Event {
            id: EXISTING_CONTAINER,
            ..Event::default()
        };
        event.context.cgroup_id = cgroup_id;
        event.task.container = ContainerState::Existing;
        for (index, value) in &args {
            let v = match value {
                ArgValue::Str(s) => Value::Str(s.as_bytes().to_vec()),
                ArgValue::UInt(n) => Value::Int(*n),
                ArgValue::Bool(b) => Value::Int(u64::from(*b)),
                _ => continue,
            };
            event.args.insert(*index, v);
        }
        let matched = eval.evaluate(&event).kernel;
        if matched == 0 {
            continue;
        }
        let mut header: EventRecord = bytemuck::Zeroable::zeroed();
        header.event_id = EXISTING_CONTAINER;
        header.timestamp_ns = now;
        header.matched_policies = matched;
        header.cgroup_id = cgroup_id;
        header.syscall = u32::MAX;
        header.generation = generation;
        header.args_num = args.len() as u8;
        out.push(Record {
            header,
            args: args
                .into_iter()
                .map(|(index, value)| Arg { index, value })
                .collect(),
        });
    }
    out
}
