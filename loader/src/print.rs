//! Events as the user sees them: one JSON object per line with Tracee's field names, or a
//! table row with Tracee's columns (time, uid, comm, pid, tid, ret, event, args).

use std::borrow::Cow;

use schema::catalog;
use schema::image::DetectorMeta;
use schema::record::{ArgValue, Record};
use serde::Serialize;

use crate::containers::Lookup;
use crate::decode;
use crate::table::{Layout, Row};
use crate::workload::Workload;

/// Names of the policies an event matched, from the image's policy table (bit = position).
pub fn matched_names(bits: u64, policies: &[String]) -> Vec<String> {
    (0..policies.len().min(64))
        .filter(|i| bits & (1u64 << i) != 0)
        .map(|i| policies[i].clone())
        .collect()
}

#[derive(Serialize)]
struct JsonArg {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    value: serde_json::Value,
}

struct Value<'a>(&'a ArgValue);

impl Serialize for Value<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use base64::Engine as _;
        match self.0 {
            ArgValue::Int(v) => s.serialize_i64(*v),
            ArgValue::UInt(v) => s.serialize_u64(*v),
            ArgValue::Str(v) => s.serialize_str(v),
            ArgValue::Bytes(b) => {
                s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(b))
            }
            ArgValue::StrArray(items) => items.serialize(s),
            ArgValue::SockAddr(b) => sockaddr(b).serialize(s),
            ArgValue::Bool(b) => s.serialize_bool(*b),
            ArgValue::Cred(c) => slim_cred(c).serialize(s),
            ArgValue::Json(v) => v.serialize(s),
        }
    }
}

/// Tracee's SlimCred, with its field names.
fn slim_cred(c: &schema::abi::SlimCred) -> serde_json::Value {
    serde_json::json!({
        "Uid": c.uid,
        "Gid": c.gid,
        "Suid": c.suid,
        "Sgid": c.sgid,
        "Euid": c.euid,
        "Egid": c.egid,
        "Fsuid": c.fsuid,
        "Fsgid": c.fsgid,
        "UserNamespace": c.user_ns,
        "SecureBits": c.securebits,
        "CapInheritable": c.cap_inheritable,
        "CapPermitted": c.cap_permitted,
        "CapEffective": c.cap_effective,
        "CapBounding": c.cap_bset,
        "CapAmbient": c.cap_ambient,
    })
}

pub(crate) fn sockaddr(bytes: &[u8]) -> serde_json::Value {
    let family = bytes.get(..2).map(|f| u16::from_le_bytes([f[0], f[1]]));
    match (family, bytes) {
        (Some(2), [_, _, p0, p1, a, b, c, d, ..]) => serde_json::json!({
            "sa_family": "AF_INET",
            "sin_port": u16::from_be_bytes([*p0, *p1]).to_string(),
            "sin_addr": format!("{a}.{b}.{c}.{d}"),
        }),
        (Some(10), [_, _, p0, p1, f0, f1, f2, f3, rest @ ..]) if rest.len() >= 20 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&rest[..16]);
            serde_json::json!({
                "sa_family": "AF_INET6",
                "sin6_port": u16::from_be_bytes([*p0, *p1]).to_string(),
                "sin6_flowinfo": u32::from_be_bytes([*f0, *f1, *f2, *f3]).to_string(),
                "sin6_addr": std::net::Ipv6Addr::from(octets).to_string(),
                "sin6_scope_id": u32::from_le_bytes([rest[16], rest[17], rest[18], rest[19]]).to_string(),
            })
        }
        (Some(1), [_, _, path @ ..]) => {
            serde_json::json!({"sa_family": "AF_UNIX", "sun_path": schema::abi::c_str(path)})
        }
        (Some(f), _) => serde_json::json!({"sa_family": f.to_string()}),
        (None, _) => serde_json::Value::Null,
    }
}

fn arg_json(value: &ArgValue) -> serde_json::Value {
    serde_json::to_value(Value(value)).unwrap_or(serde_json::Value::Null)
}

/// The event whose arguments the record carries (a detection's: the event it was detected
/// from).
fn args_event(record: &Record) -> Option<&'static catalog::EventDef> {
    let h = &record.header;
    catalog::event_by_id(if h.detected_from != 0 {
        h.detected_from
    } else {
        h.event_id
    })
}

/// Each argument of the record: its name, its catalog definition, its value decoded in
/// `mode` (None: left as it is), and its value.
fn each_arg(
    record: &Record,
    mode: Option<decode::Mode>,
) -> impl Iterator<
    Item = (
        String,
        Option<&'static catalog::ArgDef>,
        Option<decode::Decoded>,
        &ArgValue,
    ),
> + '_ {
    let event = args_event(record);
    record.args.iter().map(move |arg| {
        let def = event.and_then(|e| e.args.get(usize::from(arg.index)));
        let name = def.map_or_else(|| format!("arg{}", arg.index), |d| d.name.to_owned());
        let decoded = match (event, def, mode) {
            (Some(e), Some(d), Some(mode)) => decode::decode(e.name, d, &arg.value, mode),
            _ => None,
        };
        (name, def, decoded, &arg.value)
    })
}

/// The record's arguments named and typed by the catalog; with `parse_arguments`, numbers
/// decoded as Tracee's parse-arguments option does (`decode`).
fn named_args(record: &Record, parse_arguments: bool) -> Vec<JsonArg> {
    each_arg(record, parse_arguments.then_some(decode::Mode::Tracee))
        .map(|(name, def, decoded, value)| {
            let ty = match (&decoded, def) {
                (Some(d), _) if d.retyped => "string".to_owned(),
                (_, Some(d)) => d.type_name.to_owned(),
                (_, None) => String::new(),
            };
            JsonArg {
                name,
                ty,
                value: match decoded {
                    Some(d) => serde_json::Value::String(d.text),
                    None => arg_json(value),
                },
            }
        })
        .collect()
}

/// The record's arguments as the table shows them: `name: value`, numbers decoded (flags,
/// modes, commands by name; pointers in hex), other values as JSON.
fn table_args(record: &Record) -> Vec<String> {
    each_arg(record, Some(decode::Mode::Table))
        .map(|(name, _, decoded, value)| match decoded {
            Some(d) => format!("{name}: {}", d.text),
            None => format!("{name}: {}", arg_json(value)),
        })
        .collect()
}

pub(crate) fn event_name(id: u32) -> String {
    catalog::event_by_id(id).map_or_else(|| id.to_string(), |e| e.name.to_owned())
}

/// A fixed, zero-padded buffer's text up to its first NUL, borrowed when it is UTF-8.
pub(crate) fn fixed_str(bytes: &[u8]) -> Cow<'_, str> {
    let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
}

/// A JSON string: copied as-is when it needs no escaping (the usual case), else escaped
/// by serde_json.
pub(crate) fn json_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

pub(crate) fn num(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn arg_value(out: &mut Vec<u8>, value: &ArgValue) {
    match value {
        ArgValue::Int(v) => num(out, *v),
        ArgValue::UInt(v) => num(out, *v),
        ArgValue::Str(v) => json_str(out, v),
        ArgValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        ArgValue::StrArray(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, item);
            }
            out.push(b']');
        }
        other => {
            let _ = serde_json::to_writer(&mut *out, &Value(other));
        }
    }
}

/// Appends one JSON line (with its newline): the consumer's hot path, a million times a
/// second, so keys are written as prepared bytes and numbers with itoa; the field names and
/// order are those of `JsonEvent` (a test checks both give the same object).
/// `boot_to_epoch_ns` turns the record's CLOCK_BOOTTIME into wall time; `parse_arguments`
/// writes numbers decoded, as Tracee's option of that name does.
pub fn write_json(
    out: &mut Vec<u8>,
    record: &Record,
    policies: &[String],
    detector: Option<&DetectorMeta>,
    boot_to_epoch_ns: i64,
    parse_arguments: bool,
    workload: &Workload,
) {
    if let Some(d) = detector {
        // Detections are rare: the serde_json object is fast enough.
        out.extend_from_slice(
            json_reference(
                record,
                policies,
                Some(d),
                boot_to_epoch_ns,
                parse_arguments,
                workload,
            )
            .as_bytes(),
        );
        out.push(b'\n');
        return;
    }
    let h = &record.header;
    out.extend_from_slice(b"{\"timestamp\":");
    num(
        out,
        (h.timestamp_ns as i64).saturating_add(boot_to_epoch_ns),
    );
    out.extend_from_slice(b",\"threadStartTime\":");
    num(out, thread_start(h, boot_to_epoch_ns));
    out.extend_from_slice(b",\"processorId\":");
    num(out, h.cpu);
    out.extend_from_slice(b",\"processId\":");
    num(out, h.pid);
    out.extend_from_slice(b",\"cgroupId\":");
    num(out, h.cgroup_id);
    out.extend_from_slice(b",\"threadId\":");
    num(out, h.tid);
    out.extend_from_slice(b",\"parentProcessId\":");
    num(out, h.ppid);
    out.extend_from_slice(b",\"hostProcessId\":");
    num(out, h.host_pid);
    out.extend_from_slice(b",\"hostThreadId\":");
    num(out, h.host_tid);
    out.extend_from_slice(b",\"hostParentProcessId\":");
    num(out, h.host_ppid);
    out.extend_from_slice(b",\"userId\":");
    num(out, h.uid);
    out.extend_from_slice(b",\"mountNamespace\":");
    num(out, h.mntns);
    out.extend_from_slice(b",\"pidNamespace\":");
    num(out, h.pidns);
    out.extend_from_slice(b",\"processName\":");
    json_str(out, &fixed_str(&h.comm));
    out.extend_from_slice(b",\"executable\":{\"path\":");
    json_str(out, &workload.exe);
    out.extend_from_slice(b"},\"hostName\":");
    json_str(out, &fixed_str(&h.uts));
    out.extend_from_slice(b",\"containerId\":");
    json_str(out, workload.container_id());
    out.extend_from_slice(b",\"container\":{");
    if let Lookup::Found(c) = &*workload.container {
        let mut sep = Sep::default();
        for (key, value) in [
            ("id", &c.id),
            ("name", &c.name),
            ("image", &c.image),
            ("imageDigest", &c.image_digest),
        ] {
            text_field(out, &mut sep, key, value);
        }
        out.extend_from_slice(b"},\"kubernetes\":{");
        let mut sep = Sep::default();
        for (key, value) in [
            ("podName", &c.pod_name),
            ("podNamespace", &c.pod_namespace),
            ("podUID", &c.pod_uid),
        ] {
            text_field(out, &mut sep, key, value);
        }
        if c.sandbox {
            sep.next(out);
            out.extend_from_slice(b"\"podSandbox\":true");
        }
    } else if let Lookup::Unknown { id, .. } = &*workload.container {
        out.extend_from_slice(b"\"id\":");
        json_str(out, id);
        out.extend_from_slice(b"},\"kubernetes\":{");
    } else {
        out.extend_from_slice(b"},\"kubernetes\":{");
    }
    out.extend_from_slice(b"},\"eventId\":\"");
    num(out, h.event_id);
    out.extend_from_slice(b"\",\"eventName\":");
    let event = catalog::event_by_id(h.event_id);
    match event {
        Some(e) => json_str(out, e.name),
        None => json_str(out, &h.event_id.to_string()),
    }
    out.extend_from_slice(b",\"matchedPolicies\":[");
    let mut first = true;
    for (i, name) in policies.iter().enumerate().take(64) {
        if h.matched_policies & (1u64 << i) != 0 {
            if !first {
                out.push(b',');
            }
            first = false;
            json_str(out, name);
        }
    }
    out.extend_from_slice(b"],\"argsNum\":");
    num(out, h.args_num);
    out.extend_from_slice(b",\"returnValue\":");
    num(out, h.retval);
    out.extend_from_slice(b",\"syscall\":");
    if h.syscall == u32::MAX {
        out.extend_from_slice(b"\"\"");
    } else if h.syscall == h.event_id && event.is_some() {
        json_str(out, event.map_or("", |e| e.name));
    } else {
        json_str(out, &event_name(h.syscall));
    }
    out.extend_from_slice(b",\"args\":[");
    for (i, arg) in record.args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let def = event.and_then(|e| e.args.get(usize::from(arg.index)));
        out.extend_from_slice(b"{\"name\":");
        match def {
            Some(d) => json_str(out, d.name),
            None => json_str(out, &format!("arg{}", arg.index)),
        }
        let decoded = match (event, def) {
            (Some(e), Some(d)) if parse_arguments => {
                decode::decode(e.name, d, &arg.value, decode::Mode::Tracee)
            }
            _ => None,
        };
        out.extend_from_slice(b",\"type\":");
        match &decoded {
            Some(d) if d.retyped => json_str(out, "string"),
            _ => json_str(out, def.map_or("", |d| d.type_name)),
        }
        out.extend_from_slice(b",\"value\":");
        match &decoded {
            Some(d) => json_str(out, &d.text),
            None => arg_value(out, &arg.value),
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}\n");
}

/// Tracee's `threadStartTime`: wall-clock ns, 0 when the record names no thread (the
/// loader's own `existing_container` events).
fn thread_start(h: &schema::abi::EventRecord, boot_to_epoch_ns: i64) -> i64 {
    if h.thread_start_ns == 0 {
        0
    } else {
        (h.thread_start_ns as i64).saturating_add(boot_to_epoch_ns)
    }
}

/// Commas between the members of an object whose members are each optional.
#[derive(Default)]
struct Sep(bool);

impl Sep {
    fn next(&mut self, out: &mut Vec<u8>) {
        if self.0 {
            out.push(b',');
        }
        self.0 = true;
    }
}

/// `"key":"value"`, left out when the value is empty (Go's `omitempty`).
fn text_field(out: &mut Vec<u8>, sep: &mut Sep, key: &str, value: &str) {
    if !value.is_empty() {
        sep.next(out);
        json_str(out, key);
        out.push(b':');
        json_str(out, value);
    }
}

/// Tracee's `container` and `kubernetes` objects (v0.24: each field left out when empty,
/// the objects themselves always there).
fn workload_json(workload: &Workload) -> (serde_json::Value, serde_json::Value) {
    let mut container = serde_json::Map::new();
    let mut kubernetes = serde_json::Map::new();
    let put = |map: &mut serde_json::Map<String, serde_json::Value>, k: &str, v: &str| {
        if !v.is_empty() {
            map.insert(k.to_owned(), v.into());
        }
    };
    match &*workload.container {
        Lookup::NotContainer => {}
        Lookup::Unknown { id, .. } => put(&mut container, "id", id),
        Lookup::Found(c) => {
            put(&mut container, "id", &c.id);
            put(&mut container, "name", &c.name);
            put(&mut container, "image", &c.image);
            put(&mut container, "imageDigest", &c.image_digest);
            put(&mut kubernetes, "podName", &c.pod_name);
            put(&mut kubernetes, "podNamespace", &c.pod_namespace);
            put(&mut kubernetes, "podUID", &c.pod_uid);
            if c.sandbox {
                kubernetes.insert("podSandbox".to_owned(), true.into());
            }
        }
    }
    (container.into(), kubernetes.into())
}

/// Audit mode: turns the line `write_json` just appended into one that also carries the
/// kernel's decision, `"audit":{"generation":G,"kernelPolicies":BITS}` (before any
/// userspace filter; `matchedPolicies` is the final decision).
pub fn audit_json(out: &mut Vec<u8>, generation: u32, kernel: u64) {
    if out.ends_with(b"}\n") {
        out.truncate(out.len() - 2);
        out.extend_from_slice(b",\"audit\":{\"generation\":");
        num(out, generation);
        out.extend_from_slice(b",\"kernelPolicies\":");
        num(out, kernel);
        out.extend_from_slice(b"}}\n");
    }
}

/// The same event built as a plain serde_json object: the reference the hand-written
/// `write_json` is tested against.
pub fn json_reference(
    record: &Record,
    policies: &[String],
    detector: Option<&DetectorMeta>,
    boot_to_epoch_ns: i64,
    parse_arguments: bool,
    workload: &Workload,
) -> String {
    let h = &record.header;
    let (container, kubernetes) = workload_json(workload);
    let mut event = serde_json::json!({
        "timestamp": (h.timestamp_ns as i64).saturating_add(boot_to_epoch_ns),
        "threadStartTime": thread_start(h, boot_to_epoch_ns),
        "processorId": h.cpu,
        "processId": h.pid,
        "cgroupId": h.cgroup_id,
        "threadId": h.tid,
        "parentProcessId": h.ppid,
        "hostProcessId": h.host_pid,
        "hostThreadId": h.host_tid,
        "hostParentProcessId": h.host_ppid,
        "userId": h.uid,
        "mountNamespace": h.mntns,
        "pidNamespace": h.pidns,
        "processName": fixed_str(&h.comm),
        "executable": {"path": &*workload.exe},
        "hostName": fixed_str(&h.uts),
        "containerId": workload.container_id(),
        "container": container,
        "kubernetes": kubernetes,
        "eventId": h.event_id.to_string(),
        "eventName": event_name(h.event_id),
        "matchedPolicies": matched_names(h.matched_policies, policies),
        "argsNum": h.args_num,
        "returnValue": h.retval,
        "syscall": if h.syscall == u32::MAX { String::new() } else { event_name(h.syscall) },
        "args": named_args(record, parse_arguments),
    });
    if let (Some(d), Some(object)) = (detector, event.as_object_mut()) {
        detection_json(object, record, d, parse_arguments);
    }
    event.to_string()
}

/// Tracee's severity numbers (`Severity` in its threat metadata, 0-4).
pub(crate) fn severity_number(name: &str) -> u8 {
    match name {
        "low" => 1,
        "medium" => 2,
        "high" => 3,
        "critical" => 4,
        _ => 0,
    }
}

/// A detection in Tracee's shapes: its name, the `detectedFrom` argument of Tracee's
/// findings (the base event's id, name, arguments and return value), `metadata` as Tracee
/// fills it from a signature's, and `threat` with the names of Tracee's current API.
fn detection_json(
    object: &mut serde_json::Map<String, serde_json::Value>,
    record: &Record,
    d: &DetectorMeta,
    parse_arguments: bool,
) {
    use serde_json::json;
    let h = &record.header;
    let base = h.detected_from;
    let t = &d.threat;
    let category = d.tags.first().cloned().unwrap_or_default();
    object.insert("eventName".into(), json!(d.name));
    object.insert("argsNum".into(), json!(1));
    object.insert(
        "args".into(),
        json!([{
            "name": "detectedFrom",
            "type": "unknown",
            "value": {
                "id": base,
                "name": event_name(base),
                "args": named_args(record, parse_arguments),
                "returnValue": h.retval,
            },
        }]),
    );
    object.insert(
        "metadata".into(),
        json!({
            "Version": "1.0.0",
            "Description": d.description,
            "Tags": d.tags,
            "Properties": {
                "signatureID": d.id,
                "signatureName": t.name,
                "Severity": severity_number(&t.severity),
                "Category": category,
                "Technique": t.technique_name,
                "external_id": t.technique_id,
            },
        }),
    );
    object.insert(
        "threat".into(),
        json!({
            "description": t.description,
            "mitre": {
                "tactic": {"name": t.tactic},
                "technique": {"id": t.technique_id, "name": t.technique_name},
            },
            "severity": t.severity.to_uppercase(),
            "name": t.name,
            "properties": {"Category": category},
        }),
    );
}

/// One JSON line (no newline).
pub fn json(
    record: &Record,
    policies: &[String],
    detector: Option<&DetectorMeta>,
    boot_to_epoch_ns: i64,
    parse_arguments: bool,
    workload: &Workload,
) -> String {
    let mut out = Vec::with_capacity(512);
    write_json(
        &mut out,
        record,
        policies,
        detector,
        boot_to_epoch_ns,
        parse_arguments,
        workload,
    );
    out.pop();
    String::from_utf8(out).unwrap_or_default()
}

/// One table row (with its continuation lines, without a final newline), laid out by
/// `layout`. `boot_to_epoch_ns` turns the record's CLOCK_BOOTTIME into wall time.
/// `summary`: the arguments as one readable line instead of `name: value` pairs (network
/// events).
pub fn table(
    record: &Record,
    detector: Option<&DetectorMeta>,
    boot_to_epoch_ns: i64,
    summary: Option<&str>,
    layout: &Layout,
    workload: &Workload,
) -> String {
    let h = &record.header;
    let mut args: Vec<String> = match summary {
        Some(line) => vec![line.to_owned()],
        None => table_args(record),
    };
    let name = match detector {
        Some(d) => {
            let t = &d.threat;
            args = vec![
                format!("severity: {}", t.severity),
                format!(
                    "mitre: {} {} ({})",
                    t.technique_id, t.technique_name, t.tactic
                ),
                format!(
                    "detected_from: {}({})",
                    event_name(h.detected_from),
                    args.join(", ")
                ),
            ];
            d.name.clone()
        }
        None => event_name(h.event_id),
    };
    let comm = schema::abi::c_str(&h.comm);
    let row = Row {
        epoch_ns: (h.timestamp_ns as i64).saturating_add(boot_to_epoch_ns),
        uid: h.uid,
        comm: &comm,
        pid: h.pid,
        tid: h.tid,
        ret: h.retval,
        event: &name,
        container: &container_cell(workload),
    };
    layout.row(&row, &args)
}

/// The table's CONTAINER cell: the container's name (else its id), cut to 12 characters
/// like `docker ps` ids; empty outside containers.
pub fn container_cell(workload: &Workload) -> String {
    let name = match &*workload.container {
        Lookup::NotContainer => "",
        Lookup::Found(c) if !c.name.is_empty() => &c.name,
        _ => workload.container_id(),
    };
    name.chars().take(12).collect()
}
