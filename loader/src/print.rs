//! Events as the user sees them: one JSON object per line with Tracee's field names, or a
//! table row with Tracee's columns (time, uid, comm, pid, tid, ret, event, args).

use schema::catalog;
use schema::record::{ArgValue, Record};
use serde::Serialize;

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

/// Tracee's event JSON (era 1 field names and order).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonEvent {
    timestamp: i64,
    processor_id: u32,
    process_id: u32,
    cgroup_id: u64,
    thread_id: u32,
    parent_process_id: u32,
    host_process_id: u32,
    host_thread_id: u32,
    host_parent_process_id: u32,
    user_id: u32,
    mount_namespace: u64,
    pid_namespace: u64,
    process_name: String,
    host_name: String,
    event_id: String,
    event_name: String,
    matched_policies: Vec<String>,
    args_num: u8,
    return_value: i64,
    syscall: String,
    args: Vec<JsonArg>,
}

fn sockaddr(bytes: &[u8]) -> serde_json::Value {
    let family = bytes.get(..2).map(|f| u16::from_le_bytes([f[0], f[1]]));
    match (family, bytes) {
        (Some(2), [_, _, p0, p1, a, b, c, d, ..]) => serde_json::json!({
            "sa_family": "AF_INET",
            "sin_port": u16::from_be_bytes([*p0, *p1]).to_string(),
            "sin_addr": format!("{a}.{b}.{c}.{d}"),
        }),
        (Some(1), [_, _, path @ ..]) => {
            serde_json::json!({"sa_family": "AF_UNIX", "sun_path": schema::abi::c_str(path)})
        }
        (Some(f), _) => serde_json::json!({"sa_family": f.to_string()}),
        (None, _) => serde_json::Value::Null,
    }
}

fn arg_json(value: &ArgValue) -> serde_json::Value {
    use base64::Engine as _;
    match value {
        ArgValue::Int(v) => (*v).into(),
        ArgValue::UInt(v) => (*v).into(),
        ArgValue::Str(s) => s.clone().into(),
        ArgValue::Bytes(b) => base64::engine::general_purpose::STANDARD.encode(b).into(),
        ArgValue::StrArray(items) => items.clone().into(),
        ArgValue::SockAddr(b) => sockaddr(b),
        ArgValue::Bool(b) => (*b).into(),
    }
}

/// The record's arguments named and typed by the catalog.
fn named_args(record: &Record) -> Vec<JsonArg> {
    let event = catalog::event_by_id(record.header.event_id);
    record
        .args
        .iter()
        .map(|arg| {
            let def = event.and_then(|e| e.args.get(usize::from(arg.index)));
            JsonArg {
                name: def.map_or_else(|| format!("arg{}", arg.index), |d| d.name.to_owned()),
                ty: def.map_or_else(String::new, |d| d.c_type.to_owned()),
                value: arg_json(&arg.value),
            }
        })
        .collect()
}

fn event_name(id: u32) -> String {
    catalog::event_by_id(id).map_or_else(|| id.to_string(), |e| e.name.to_owned())
}

/// One JSON line. `boot_to_epoch_ns` turns the record's CLOCK_BOOTTIME into wall time.
pub fn json(record: &Record, policies: &[String], boot_to_epoch_ns: i64) -> String {
    let h = &record.header;
    let event = JsonEvent {
        timestamp: (h.timestamp_ns as i64).saturating_add(boot_to_epoch_ns),
        processor_id: h.cpu,
        process_id: h.pid,
        cgroup_id: h.cgroup_id,
        thread_id: h.tid,
        parent_process_id: h.ppid,
        host_process_id: h.host_pid,
        host_thread_id: h.host_tid,
        host_parent_process_id: h.host_ppid,
        user_id: h.uid,
        mount_namespace: h.mntns,
        pid_namespace: h.pidns,
        process_name: schema::abi::c_str(&h.comm),
        host_name: schema::abi::c_str(&h.uts),
        event_id: h.event_id.to_string(),
        event_name: event_name(h.event_id),
        matched_policies: matched_names(h.matched_policies, policies),
        args_num: h.args_num,
        return_value: h.retval,
        syscall: if h.syscall == u32::MAX {
            String::new()
        } else {
            event_name(h.syscall)
        },
        args: named_args(record),
    };
    serde_json::to_string(&event).unwrap_or_default()
}

pub const TABLE_HEADER: &str = "TIME             UID    COMM             PID     TID     RET              EVENT                ARGS";

/// One table row. `boot_to_epoch_ns` turns the record's CLOCK_BOOTTIME into wall time.
pub fn table(record: &Record, boot_to_epoch_ns: i64) -> String {
    let h = &record.header;
    let epoch_ns = (h.timestamp_ns as i64).saturating_add(boot_to_epoch_ns);
    let day_ns = epoch_ns.rem_euclid(86_400_000_000_000);
    let (hours, minutes) = (day_ns / 3_600_000_000_000, day_ns / 60_000_000_000 % 60);
    let (seconds, micros) = (day_ns / 1_000_000_000 % 60, day_ns / 1_000 % 1_000_000);
    let args: Vec<String> = named_args(record)
        .iter()
        .map(|a| format!("{}: {}", a.name, a.value))
        .collect();
    format!(
        "{hours:02}:{minutes:02}:{seconds:02}:{micros:06}  {:<6} {:<16} {:<7} {:<7} {:<16} {:<20} {}",
        h.uid,
        schema::abi::c_str(&h.comm),
        h.pid,
        h.tid,
        h.retval,
        event_name(h.event_id),
        args.join(", ")
    )
}
