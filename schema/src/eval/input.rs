//! Events for the evaluator from what people and tools write: a JSON line as `tracee-load
//! --output json` prints it, or the compact form of test files (`event: openat`, `args:
//! {pathname: /etc/shadow}`, `comm: cat`, ...). Both spellings of the context fields are
//! accepted (Tracee's output names and the names policies filter on), and the task facts no
//! record carries go under `task:`.

use serde_json::{Map, Value as Json};

use super::{ContainerState, Event, Exe, Value};
use crate::catalog::{self, ArgType};

/// Context keys: every accepted spelling, and what it sets.
#[derive(Clone, Copy)]
enum Key {
    Timestamp,
    ProcessorId,
    Pid,
    Tid,
    Ppid,
    HostTid,
    HostPid,
    HostPpid,
    Uid,
    Mntns,
    Pidns,
    CgroupId,
    Comm,
    HostName,
    Syscall,
}

const KEYS: &[(&str, Key)] = &[
    ("timestamp", Key::Timestamp),
    ("processorId", Key::ProcessorId),
    ("processId", Key::Pid),
    ("pid", Key::Pid),
    ("p", Key::Pid),
    ("threadId", Key::Tid),
    ("tid", Key::Tid),
    ("parentProcessId", Key::Ppid),
    ("ppid", Key::Ppid),
    ("hostThreadId", Key::HostTid),
    ("hostTid", Key::HostTid),
    ("hostProcessId", Key::HostPid),
    ("hostPid", Key::HostPid),
    ("hostParentProcessId", Key::HostPpid),
    ("userId", Key::Uid),
    ("uid", Key::Uid),
    ("mountNamespace", Key::Mntns),
    ("mntns", Key::Mntns),
    ("pidNamespace", Key::Pidns),
    ("pidns", Key::Pidns),
    ("cgroupId", Key::CgroupId),
    ("processName", Key::Comm),
    ("comm", Key::Comm),
    ("hostName", Key::HostName),
    ("syscall", Key::Syscall),
];

/// Keys that are not context fields: read elsewhere, or printed by tracee-load and of no
/// use to the decision.
const OTHER_KEYS: &[&str] = &[
    "event",
    "eventName",
    "eventId",
    "args",
    "data",
    "retval",
    "returnValue",
    "task",
    "matchedPolicies",
    "argsNum",
    "audit",
    "expect",
    "name",
    "threadStartTime",
    "executable",
    "containerId",
    "container",
    "kubernetes",
];

fn int(v: &Json) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_i64().map(|i| i as u64))
        .or_else(|| v.as_bool().map(u64::from))
        .or_else(|| {
            let s = v.as_str()?;
            s.parse::<u64>()
                .ok()
                .or_else(|| s.parse::<i64>().ok().map(|i| i as u64))
                .or_else(|| u64::from_str_radix(s.strip_prefix("0x")?, 16).ok())
                .or_else(|| u64::from_str_radix(s.strip_prefix("0o")?, 8).ok())
        })
}

fn text(v: &Json) -> Option<Vec<u8>> {
    match v {
        Json::String(s) => Some(s.as_bytes().to_vec()),
        Json::Number(n) => Some(n.to_string().into_bytes()),
        Json::Bool(b) => Some(b.to_string().into_bytes()),
        _ => None,
    }
}

fn u32_of(key: &str, v: &Json) -> Result<u32, String> {
    int(v)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| format!("`{key}` must be an unsigned 32-bit integer, got {v}"))
}

fn u64_of(key: &str, v: &Json) -> Result<u64, String> {
    int(v).ok_or_else(|| format!("`{key}` must be an integer, got {v}"))
}

/// The event id from `event`/`eventName` (a catalog name) or `eventId`.
fn event_id(obj: &Map<String, Json>) -> Result<u32, String> {
    if let Some(name) = obj.get("event").or_else(|| obj.get("eventName")) {
        let name = name
            .as_str()
            .ok_or_else(|| format!("`event` must be an event name, got {name}"))?;
        return catalog::event(name)
            .map(|e| e.id)
            .ok_or_else(|| format!("unknown event `{name}`"));
    }
    if let Some(id) = obj.get("eventId") {
        return u32_of("eventId", id);
    }
    Err("the event has no `event` (or `eventName`) key".to_owned())
}

/// One argument's value by its catalog type.
fn arg_value(event: &str, name: &str, ty: ArgType, v: &Json) -> Result<Option<Value>, String> {
    Ok(match ty {
        ArgType::Int(_) | ArgType::UInt(_) | ArgType::Pointer | ArgType::Bool => {
            Some(Value::Int(int(v).ok_or_else(|| {
                format!("argument `{name}` of {event} is an integer, got {v}")
            })?))
        }
        ArgType::Str => Some(Value::Str(text(v).ok_or_else(|| {
            format!("argument `{name}` of {event} is a string, got {v}")
        })?)),
        ArgType::StrArray => {
            let items = v.as_array().ok_or_else(|| {
                format!("argument `{name}` of {event} is a list of strings, got {v}")
            })?;
            Some(Value::StrArray(
                items
                    .iter()
                    .map(|i| {
                        text(i).ok_or_else(|| {
                            format!("argument `{name}` of {event} is a list of strings, got {i}")
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ))
        }
        // Not filterable: carried by the record, never decided on.
        _ => None,
    })
}

/// The parts of a socket address the kernel filters on, in the slots it keeps them in
/// (`abi::SOCK_PORT_SLOT`, `SOCK_IP_SLOT`, `SOCK_PATH_FIELD`): from tracee-load's decoded form
/// (`{"sa_family": "AF_INET", "sin_port": "80", "sin_addr": "10.0.0.1"}`).
fn sockaddr_parts(e: &mut Event, index: usize, v: &Json) {
    use crate::abi::{SOCK_ADDR_MAX_INDEX, SOCK_IP_SLOT, SOCK_PATH_FIELD, SOCK_PORT_SLOT};
    if index >= SOCK_ADDR_MAX_INDEX {
        return;
    }
    let port_slot = (SOCK_PORT_SLOT as usize + index) as u8;
    let ip_slot = (SOCK_IP_SLOT as usize + index) as u8;
    let path_field = (SOCK_PATH_FIELD as usize + index) as u8;
    let field = |k: &str| {
        v.get(k).and_then(|x| {
            x.as_str()
                .map(str::to_owned)
                .or_else(|| Some(x.to_string()))
        })
    };
    match v.get("sa_family").and_then(Json::as_str) {
        Some("AF_INET") | Some("AF_INET6") => {
            let port = field("sin_port")
                .or_else(|| field("sin6_port"))
                .and_then(|p| p.parse::<u16>().ok())
                .unwrap_or(0);
            e.args.insert(port_slot, Value::Int(port.into()));
            let ip = field("sin_addr")
                .and_then(|a| a.parse::<std::net::Ipv4Addr>().ok())
                .map_or(0, |a| u32::from(a).into());
            e.args.insert(ip_slot, Value::Int(ip));
        }
        Some("AF_UNIX") => {
            e.args.insert(port_slot, Value::Int(0));
            e.args.insert(ip_slot, Value::Int(0));
            if let Some(path) = field("sun_path").filter(|p| !p.is_empty()) {
                e.args.insert(path_field, Value::Str(path.into_bytes()));
            }
        }
        _ => {
            e.args.insert(port_slot, Value::Int(0));
            e.args.insert(ip_slot, Value::Int(0));
        }
    }
}

/// An event from a JSON object (a tracee-load line, or a test case read from YAML).
pub fn event(v: &Json) -> Result<Event, String> {
    let obj = v
        .as_object()
        .ok_or_else(|| "an event must be a mapping (an object)".to_owned())?;
    let id = event_id(obj)?;
    let def = catalog::event_by_id(id).ok_or_else(|| format!("unknown event id {id}"))?;
    let mut e = Event {
        id,
        ..Event::default()
    };
    if def.kind == catalog::EventKind::Syscall {
        e.context.syscall = id;
    }
    // Arguments: tracee-load's list of {name, value}, or a mapping name -> value.
    for key in ["args", "data"] {
        let Some(args) = obj.get(key) else { continue };
        let pairs: Vec<(String, &Json)> = match args {
            Json::Array(list) => list
                .iter()
                .map(|a| {
                    let name = a["name"]
                        .as_str()
                        .ok_or_else(|| format!("each of `{key}` must have a `name`, got {a}"))?;
                    Ok((name.to_owned(), &a["value"]))
                })
                .collect::<Result<_, String>>()?,
            Json::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
            other => return Err(format!("`{key}` must be a list or a mapping, got {other}")),
        };
        for (name, value) in pairs {
            let index = def
                .args
                .iter()
                .position(|a| a.name == name)
                .ok_or_else(|| format!("{} has no argument `{name}`", def.name))?;
            if def.args[index].ty == ArgType::SockAddr {
                sockaddr_parts(&mut e, index, value);
            } else if let Some(value) = arg_value(def.name, &name, def.args[index].ty, value)? {
                e.args.insert(index as u8, value);
            }
        }
    }
    if let Some(r) = obj.get("retval").or_else(|| obj.get("returnValue")) {
        e.retval = int(r).ok_or_else(|| format!("`retval` must be an integer, got {r}"))? as i64;
    }
    let c = &mut e.context;
    for (key, value) in obj {
        let Some((_, k)) = KEYS.iter().find(|(name, _)| name == key) else {
            if OTHER_KEYS.contains(&key.as_str()) {
                continue;
            }
            return Err(format!(
                "unknown key `{key}` (context fields: uid, pid, tid, ppid, hostPid, hostTid, hostParentProcessId, comm, hostName, mntns, pidns, cgroupId, processorId, timestamp, syscall; or their tracee-load names)"
            ));
        };
        match k {
            Key::Timestamp => c.timestamp = u64_of(key, value)?,
            Key::ProcessorId => c.processor_id = u32_of(key, value)?,
            Key::Pid => c.pid = u32_of(key, value)?,
            Key::Tid => c.tid = u32_of(key, value)?,
            Key::Ppid => c.ppid = u32_of(key, value)?,
            Key::HostTid => c.host_tid = u32_of(key, value)?,
            Key::HostPid => c.host_pid = u32_of(key, value)?,
            Key::HostPpid => c.host_ppid = u32_of(key, value)?,
            Key::Uid => c.uid = u32_of(key, value)?,
            Key::Mntns => c.mntns = u64_of(key, value)?,
            Key::Pidns => c.pidns = u64_of(key, value)?,
            Key::CgroupId => c.cgroup_id = u64_of(key, value)?,
            Key::Comm => c.comm = text(value).ok_or_else(|| format!("`{key}` must be a string"))?,
            Key::HostName => {
                c.host_name = text(value).ok_or_else(|| format!("`{key}` must be a string"))?
            }
            Key::Syscall => {
                c.syscall = match value {
                    Json::String(s) if s.is_empty() => u32::MAX,
                    Json::String(s) => catalog::event(s)
                        .filter(|e| e.kind == catalog::EventKind::Syscall)
                        .map(|e| e.id)
                        .ok_or_else(|| format!("`syscall`: `{s}` is not a syscall"))?,
                    other => u32_of(key, other)?,
                }
            }
        }
    }
    // A process's own ids default to each other, as for a process in the host's namespace.
    if c.host_pid == 0 {
        c.host_pid = c.pid;
    }
    if c.pid == 0 {
        c.pid = c.host_pid;
    }
    if c.tid == 0 {
        c.tid = c.pid;
    }
    if c.host_tid == 0 {
        c.host_tid = c.host_pid;
    }
    if c.host_ppid == 0 {
        c.host_ppid = c.ppid;
    }
    if let Some(task) = obj.get("task") {
        read_task(&mut e, task)?;
    }
    Ok(e)
}

/// `task:` the facts no record carries.
fn read_task(e: &mut Event, v: &Json) -> Result<(), String> {
    let obj = v
        .as_object()
        .ok_or_else(|| "`task` must be a mapping".to_owned())?;
    let t = &mut e.task;
    for (key, value) in obj {
        match key.as_str() {
            "ancestors" => {
                t.ancestors = value
                    .as_array()
                    .ok_or_else(|| "`task.ancestors` must be a list of host pids".to_owned())?
                    .iter()
                    .map(|p| u32_of("task.ancestors", p))
                    .collect::<Result<_, _>>()?
            }
            "executable" => {
                let path = value
                    .as_str()
                    .ok_or_else(|| "`task.executable` must be a path".to_owned())?;
                t.exe = Some(Exe {
                    mount_ns: e.context.mntns,
                    path: path.as_bytes().to_vec(),
                });
            }
            "hostMntns" => t.host_mntns = u64_of(key, value)?,
            "newPid" => {
                t.new_pid = value
                    .as_bool()
                    .ok_or_else(|| "`task.newPid` must be true or false".to_owned())?
            }
            "container" => {
                t.container = match value.as_str() {
                    Some("none") => ContainerState::None,
                    Some("existing") => ContainerState::Existing,
                    Some("new") => ContainerState::New,
                    _ => {
                        return Err(format!(
                            "`task.container` is one of none, existing, new; got {value}"
                        ));
                    }
                }
            }
            other => {
                return Err(format!(
                    "unknown key `task.{other}` (ancestors, executable, hostMntns, newPid, container)"
                ));
            }
        }
    }
    // The executable's namespace is the event's (set once both are read).
    if let Some(exe) = &mut t.exe {
        exe.mount_ns = e.context.mntns;
    }
    Ok(())
}
