//! `--output json-v1beta1`: events in the JSON shape of Tracee's current API
//! (`tracee.v1beta1.Event`, as Tracee's JSON printer writes it): `timestamp` as RFC 3339,
//! `id`, `name`, `policies.matched`, `workload.process|container|k8s`, `data` as typed
//! values (`{"name":"fd","int32":3}`), and for detections `threat` and `detected_from`.
//! Members Tracee leaves out when empty are left out here too.

use base64::Engine as _;
use schema::catalog;
use schema::image::DetectorMeta;
use schema::record::{ArgValue, Record};

use crate::containers::Lookup;
use crate::print::{event_name, fixed_str, json_str, num, severity_number};
use crate::workload::Workload;

/// Appends one event as a JSON line (with its newline).
pub fn write(
    out: &mut Vec<u8>,
    record: &Record,
    policies: &[String],
    detector: Option<&DetectorMeta>,
    boot_to_epoch_ns: i64,
    workload: &Workload,
) {
    let h = &record.header;
    out.extend_from_slice(b"{\"timestamp\":\"");
    rfc3339(
        out,
        (h.timestamp_ns as i64).saturating_add(boot_to_epoch_ns),
    );
    out.extend_from_slice(b"\",\"id\":");
    match detector {
        Some(d) => {
            num(out, d.event_id);
            out.extend_from_slice(b",\"name\":");
            json_str(out, &d.name);
        }
        None => {
            num(out, h.event_id);
            out.extend_from_slice(b",\"name\":");
            json_str(out, &event_name(h.event_id));
        }
    }
    let matched = h.matched_policies & low_bits(policies.len());
    if matched != 0 {
        out.extend_from_slice(b",\"policies\":{\"matched\":[");
        let mut first = true;
        for (i, name) in policies.iter().enumerate().take(64) {
            if matched & (1u64 << i) != 0 {
                if !first {
                    out.push(b',');
                }
                first = false;
                json_str(out, name);
            }
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b",\"workload\":{");
    process(out, record, boot_to_epoch_ns, workload);
    container(out, workload);
    out.push(b'}');
    let base = if h.detected_from != 0 {
        h.detected_from
    } else {
        h.event_id
    };
    match detector {
        // A detection's own data: none (the base event's is in `detected_from`).
        Some(d) => {
            threat(out, d);
            out.extend_from_slice(b",\"detected_from\":{\"id\":");
            num(out, base);
            out.extend_from_slice(b",\"name\":");
            json_str(out, &event_name(base));
            data(out, record, base);
            out.push(b'}');
        }
        None => data(out, record, base),
    }
    out.extend_from_slice(b"}\n");
}

fn low_bits(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// Go's `time.RFC3339Nano` in UTC: the fraction without trailing zeros, none when whole.
fn rfc3339(out: &mut Vec<u8>, epoch_ns: i64) {
    let secs = epoch_ns.div_euclid(1_000_000_000);
    let nanos = epoch_ns.rem_euclid(1_000_000_000) as u32;
    let Some(time) = chrono::DateTime::from_timestamp(secs, 0) else {
        out.extend_from_slice(b"1970-01-01T00:00:00Z");
        return;
    };
    out.extend_from_slice(time.format("%Y-%m-%dT%H:%M:%S").to_string().as_bytes());
    if nanos != 0 {
        let fraction = format!("{nanos:09}");
        out.push(b'.');
        out.extend_from_slice(fraction.trim_end_matches('0').as_bytes());
    }
    out.push(b'Z');
}

fn process(out: &mut Vec<u8>, record: &Record, boot_to_epoch_ns: i64, workload: &Workload) {
    let h = &record.header;
    out.extend_from_slice(b"\"process\":{");
    if !workload.exe.is_empty() {
        out.extend_from_slice(b"\"executable\":{\"path\":");
        json_str(out, &workload.exe);
        out.extend_from_slice(b"},");
    }
    out.extend_from_slice(b"\"host_pid\":");
    num(out, h.host_pid);
    out.extend_from_slice(b",\"pid\":");
    num(out, h.pid);
    out.extend_from_slice(b",\"real_user\":{\"id\":");
    num(out, h.uid);
    out.extend_from_slice(b"},\"thread\":{");
    if h.thread_start_ns != 0 {
        out.extend_from_slice(b"\"start_time\":\"");
        rfc3339(
            out,
            (h.thread_start_ns as i64).saturating_add(boot_to_epoch_ns),
        );
        out.extend_from_slice(b"\",");
    }
    let comm = fixed_str(&h.comm);
    if !comm.is_empty() {
        out.extend_from_slice(b"\"name\":");
        json_str(out, &comm);
        out.push(b',');
    }
    out.extend_from_slice(b"\"host_tid\":");
    num(out, h.host_tid);
    out.extend_from_slice(b",\"tid\":");
    num(out, h.tid);
    if h.syscall != u32::MAX {
        out.extend_from_slice(b",\"syscall\":");
        json_str(out, &event_name(h.syscall));
    }
    out.push(b'}');
    if h.host_ppid != 0 {
        out.extend_from_slice(b",\"ancestors\":[{\"host_pid\":");
        num(out, h.host_ppid);
        out.extend_from_slice(b",\"pid\":");
        num(out, h.ppid);
        out.extend_from_slice(b"}]");
    }
    out.push(b'}');
}

fn container(out: &mut Vec<u8>, workload: &Workload) {
    let (id, found) = match &*workload.container {
        Lookup::NotContainer => return,
        Lookup::Unknown { id, .. } => (id.as_str(), None),
        Lookup::Found(c) => (c.id.as_str(), Some(c)),
    };
    out.extend_from_slice(b",\"container\":{\"id\":");
    json_str(out, id);
    out.extend_from_slice(b",\"name\":");
    json_str(out, found.map_or("", |c| &c.name));
    if let Some(c) = found.filter(|c| !c.image.is_empty()) {
        out.extend_from_slice(b",\"image\":{\"id\":\"\"");
        if !c.image_digest.is_empty() {
            out.extend_from_slice(b",\"repo_digests\":[");
            json_str(out, &c.image_digest);
            out.push(b']');
        }
        out.extend_from_slice(b",\"name\":");
        json_str(out, &c.image);
        out.push(b'}');
    }
    // The loader does not tell a container's start (runc before the entrypoint) from its
    // run: every event of a container counts as started.
    out.extend_from_slice(b",\"started\":true}");
    if let Some(c) = found.filter(|c| !c.pod_name.is_empty()) {
        out.extend_from_slice(b",\"k8s\":{\"pod\":{\"name\":");
        json_str(out, &c.pod_name);
        out.extend_from_slice(b",\"uid\":");
        json_str(out, &c.pod_uid);
        out.extend_from_slice(b"},\"namespace\":{\"name\":");
        json_str(out, &c.pod_namespace);
        out.extend_from_slice(b"}}");
    }
}

fn threat(out: &mut Vec<u8>, d: &DetectorMeta) {
    let t = &d.threat;
    out.extend_from_slice(b",\"threat\":{\"description\":");
    json_str(out, &t.description);
    out.extend_from_slice(b",\"mitre\":{\"tactic\":{\"name\":");
    json_str(out, &t.tactic);
    out.extend_from_slice(b"},\"technique\":{\"id\":");
    json_str(out, &t.technique_id);
    out.extend_from_slice(b",\"name\":");
    json_str(out, &t.technique_name);
    out.extend_from_slice(b"}},\"severity\":");
    num(out, severity_number(&t.severity));
    out.extend_from_slice(b",\"name\":");
    json_str(out, &t.name);
    if let Some(category) = d.tags.first() {
        out.extend_from_slice(b",\"properties\":{\"Category\":");
        json_str(out, category);
        out.push(b'}');
    }
    out.push(b'}');
}

/// `,"data":[...]`: the record's arguments as Tracee's typed `EventValue`s, named by
/// `event`'s catalog entry; nothing when there are none.
fn data(out: &mut Vec<u8>, record: &Record, event: u32) {
    if record.args.is_empty() {
        return;
    }
    let def = catalog::event_by_id(event);
    out.extend_from_slice(b",\"data\":[");
    for (i, arg) in record.args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let arg_def = def.and_then(|e| e.args.get(usize::from(arg.index)));
        out.extend_from_slice(b"{\"name\":");
        match arg_def {
            Some(d) => json_str(out, d.name),
            None => json_str(out, &format!("arg{}", arg.index)),
        }
        out.push(b',');
        value(out, arg_def.map_or("", |d| d.type_name), &arg.value);
        out.push(b'}');
    }
    out.push(b']');
}

/// `"member":value`, the member Tracee's conversion picks for the argument's Go type
/// (`int32` for `int32`, `u_int64` as a string for `uint64`, ...); by the decoded value's
/// kind when the type says nothing more.
fn value(out: &mut Vec<u8>, type_name: &str, v: &ArgValue) {
    let quoted = |out: &mut Vec<u8>, key: &[u8], n: &dyn Fn(&mut Vec<u8>)| {
        out.extend_from_slice(key);
        out.push(b'"');
        n(out);
        out.push(b'"');
    };
    match (type_name, v) {
        ("int32", ArgValue::Int(n)) => {
            out.extend_from_slice(b"\"int32\":");
            num(out, *n);
        }
        ("int32", ArgValue::UInt(n)) => {
            out.extend_from_slice(b"\"int32\":");
            num(out, *n as u32 as i32);
        }
        ("uint32" | "uint16" | "uint8", ArgValue::UInt(n)) => {
            out.extend_from_slice(b"\"u_int32\":");
            num(out, *n);
        }
        ("uint32" | "uint16" | "uint8", ArgValue::Int(n)) => {
            out.extend_from_slice(b"\"u_int32\":");
            num(out, *n as u32);
        }
        ("trace.Pointer", ArgValue::UInt(n)) => quoted(out, b"\"pointer\":", &|o| num(o, *n)),
        ("trace.Pointer", ArgValue::Int(n)) => quoted(out, b"\"pointer\":", &|o| num(o, *n as u64)),
        ("uint64" | "time.Time", ArgValue::Int(n)) => {
            quoted(out, b"\"u_int64\":", &|o| num(o, *n as u64))
        }
        ("int64", ArgValue::UInt(n)) => quoted(out, b"\"int64\":", &|o| num(o, *n as i64)),
        (_, ArgValue::UInt(n)) => quoted(out, b"\"u_int64\":", &|o| num(o, *n)),
        (_, ArgValue::Int(n)) => quoted(out, b"\"int64\":", &|o| num(o, *n)),
        (_, ArgValue::Str(s)) => {
            out.extend_from_slice(b"\"str\":");
            json_str(out, s);
        }
        (_, ArgValue::Bool(b)) => out.extend_from_slice(if *b {
            b"\"bool\":true"
        } else {
            b"\"bool\":false"
        }),
        (_, ArgValue::Bytes(b)) => {
            out.extend_from_slice(b"\"bytes\":\"");
            out.extend_from_slice(
                base64::engine::general_purpose::STANDARD
                    .encode(b)
                    .as_bytes(),
            );
            out.push(b'"');
        }
        (_, ArgValue::StrArray(items)) => {
            out.extend_from_slice(b"\"str_array\":{");
            if !items.is_empty() {
                out.extend_from_slice(b"\"value\":[");
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    json_str(out, item);
                }
                out.push(b']');
            }
            out.push(b'}');
        }
        (_, ArgValue::SockAddr(b)) => {
            out.extend_from_slice(b"\"sockaddr\":");
            let _ = serde_json::to_writer(&mut *out, &sockaddr(b));
        }
        (_, ArgValue::Cred(c)) => {
            out.extend_from_slice(b"\"credentials\":");
            let _ = serde_json::to_writer(&mut *out, &credentials(c));
        }
        (_, ArgValue::Json(j)) => {
            let member: &[u8] = match type_name {
                "[2]int" => b"int32_array",
                "[]uint64" => b"u_int64_array",
                "trace.ProtoIPv4" => b"ipv4",
                "trace.ProtoIPv6" => b"ipv6",
                "trace.ProtoTCP" => b"tcp",
                "trace.ProtoUDP" => b"udp",
                "trace.ProtoICMP" => b"icmp",
                "trace.ProtoICMPv6" => b"icmpv6",
                "trace.ProtoDNS" => b"dns",
                "[]trace.DnsQueryData" => b"dns_questions",
                "[]trace.DnsResponseData" => b"dns_responses",
                "trace.PacketMetadata" | "trace.PktMeta" => b"packet_metadata",
                "trace.ProtoHTTP" => b"http",
                "trace.ProtoHTTPRequest" => b"http_request",
                "trace.ProtoHTTPResponse" => b"http_response",
                _ => b"struct",
            };
            out.push(b'"');
            out.extend_from_slice(member);
            out.extend_from_slice(b"\":");
            match (member, j) {
                (b"int32_array" | b"u_int64_array", serde_json::Value::Array(items)) => {
                    let items: Vec<serde_json::Value> = if member == b"u_int64_array" {
                        items
                            .iter()
                            .map(|n| serde_json::Value::String(n.to_string()))
                            .collect()
                    } else {
                        items.clone()
                    };
                    let _ = serde_json::to_writer(&mut *out, &serde_json::json!({"value": items}));
                }
                _ => {
                    let _ = serde_json::to_writer(&mut *out, j);
                }
            }
        }
    }
}

/// Tracee's `SockAddr` message: the family by name, ports and flow info as numbers, members
/// left out when zero or empty.
fn sockaddr(bytes: &[u8]) -> serde_json::Value {
    let v024 = crate::print::sockaddr(bytes);
    let Some(fields) = v024.as_object() else {
        return serde_json::json!({});
    };
    let mut out = serde_json::Map::new();
    for (key, value) in fields {
        let key = if key == "sin6_scope_id" {
            "sin6_scopeid"
        } else {
            key.as_str()
        };
        let text = value.as_str().unwrap_or_default();
        match key {
            "sin_port" | "sin6_port" | "sin6_flowinfo" | "sin6_scopeid" => {
                if let Ok(n) = text.parse::<u32>()
                    && n != 0
                {
                    out.insert(key.to_owned(), n.into());
                }
            }
            _ if !text.is_empty() => {
                out.insert(key.to_owned(), text.into());
            }
            _ => {}
        }
    }
    out.into()
}

/// Tracee's `Credentials` message: capability sets as lists of capability numbers.
fn credentials(c: &schema::abi::SlimCred) -> serde_json::Value {
    let caps = |set: u64| -> Vec<u32> { (0..64).filter(|i| set & (1u64 << i) != 0).collect() };
    let mut v = serde_json::json!({
        "uid": c.uid,
        "gid": c.gid,
        "suid": c.suid,
        "sgid": c.sgid,
        "euid": c.euid,
        "egid": c.egid,
        "fsuid": c.fsuid,
        "fsgid": c.fsgid,
        "user_namespace": c.user_ns,
        "secure_bits": c.securebits,
    });
    if let Some(object) = v.as_object_mut() {
        for (key, set) in [
            ("cap_inheritable", c.cap_inheritable),
            ("cap_permitted", c.cap_permitted),
            ("cap_effective", c.cap_effective),
            ("cap_bounding", c.cap_bset),
            ("cap_ambient", c.cap_ambient),
        ] {
            if set != 0 {
                object.insert(key.to_owned(), caps(set).into());
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(ns: i64) -> String {
        let mut out = Vec::new();
        rfc3339(&mut out, ns);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn timestamps_are_go_rfc3339_nano() {
        assert_eq!(stamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(stamp(1_700_000_005_120_000_000), "2023-11-14T22:13:25.12Z");
        assert_eq!(
            stamp(1_700_000_005_000_000_001),
            "2023-11-14T22:13:25.000000001Z"
        );
    }
}
