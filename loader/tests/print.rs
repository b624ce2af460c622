//! Printing: records become Tracee-shaped JSON lines and table rows (no kernel needed).

use bytemuck::Zeroable;
use schema::abi::EventRecord;
use schema::record::{Arg, ArgValue, decode, encode};
use serde_json::Value;

fn record() -> schema::record::Record {
    let mut h = EventRecord::zeroed();
    h.timestamp_ns = 5_000_000_000;
    h.matched_policies = 0b101;
    h.event_id = 257;
    h.syscall = 257;
    h.cpu = 1;
    h.pid = 10;
    h.tid = 11;
    h.ppid = 9;
    h.host_pid = 1010;
    h.host_tid = 1011;
    h.host_ppid = 1009;
    h.uid = 1000;
    h.mntns = 4026531841;
    h.pidns = 4026531836;
    h.cgroup_id = 77;
    h.retval = 3;
    h.comm = schema::abi::fixed(b"cat");
    h.uts = schema::abi::fixed(b"web-1");
    let args = [
        Arg {
            index: 0,
            value: ArgValue::Int(-100),
        },
        Arg {
            index: 1,
            value: ArgValue::Str("/tmp/x".into()),
        },
        Arg {
            index: 2,
            value: ArgValue::Int(0),
        },
    ];
    match decode(&encode(&h, &args)) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn json_lines_use_tracee_field_names() {
    let policies = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let line = loader::print::json(&record(), &policies, None, 1_700_000_000_000_000_000, false);
    let v: Value = match serde_json::from_str(&line) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {line}"),
    };
    assert_eq!(v["timestamp"], 1_700_000_005_000_000_000i64);
    assert_eq!(v["processorId"], 1);
    assert_eq!(v["processId"], 10);
    assert_eq!(v["threadId"], 11);
    assert_eq!(v["parentProcessId"], 9);
    assert_eq!(v["hostProcessId"], 1010);
    assert_eq!(v["hostThreadId"], 1011);
    assert_eq!(v["hostParentProcessId"], 1009);
    assert_eq!(v["userId"], 1000);
    assert_eq!(v["mountNamespace"], 4026531841u64);
    assert_eq!(v["pidNamespace"], 4026531836u64);
    assert_eq!(v["processName"], "cat");
    assert_eq!(v["hostName"], "web-1");
    assert_eq!(v["cgroupId"], 77);
    assert_eq!(v["eventId"], "257");
    assert_eq!(v["eventName"], "openat");
    assert_eq!(v["matchedPolicies"], serde_json::json!(["a", "c"]));
    assert_eq!(v["argsNum"], 3);
    assert_eq!(v["returnValue"], 3);
    assert_eq!(v["syscall"], "openat");
    assert_eq!(
        v["args"],
        serde_json::json!([
            {"name": "dirfd", "type": "int32", "value": -100},
            {"name": "pathname", "type": "string", "value": "/tmp/x"},
            {"name": "flags", "type": "int32", "value": 0},
        ])
    );
}

#[test]
fn table_rows_have_tracee_columns() {
    let unlimited = loader::table::Layout::new(None);
    let row = loader::print::table(&record(), None, 0, None, &unlimited);
    assert!(
        row.starts_with(
            "00:00:05:000000  1000   cat              10      11      3                openat"
        ),
        "{row}"
    );
    // Flags and the directory decoded; strings as JSON.
    assert!(
        row.ends_with("dirfd: AT_FDCWD, pathname: \"/tmp/x\", flags: O_RDONLY"),
        "{row}"
    );
    assert!(unlimited.header().starts_with("TIME"));
}

/// `--parse-arguments`: Tracee's decoders only (not `dirfd`), values as strings of type
/// `string`, pointers in hex; without it, the numbers.
#[test]
fn parse_arguments_writes_tracee_strings() {
    let mut r = record();
    r.args[2].value = ArgValue::Int(0o101);
    let arg = |v: &Value, name: &str| -> Value {
        v["args"]
            .as_array()
            .and_then(|a| a.iter().find(|a| a["name"] == name))
            .cloned()
            .unwrap_or(Value::Null)
    };
    let parsed: Value = match serde_json::from_str(&loader::print::json(&r, &[], None, 0, true)) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        arg(&parsed, "flags"),
        serde_json::json!({"name": "flags", "type": "string", "value": "O_WRONLY|O_CREAT"})
    );
    assert_eq!(
        arg(&parsed, "dirfd"),
        serde_json::json!({"name": "dirfd", "type": "int32", "value": -100})
    );
    let plain: Value = match serde_json::from_str(&loader::print::json(&r, &[], None, 0, false)) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        arg(&plain, "flags"),
        serde_json::json!({"name": "flags", "type": "int32", "value": 65})
    );
    // mmap: a pointer in hex (its type kept), prot and flags by name.
    let mut m = record();
    m.header.event_id = 9;
    m.header.syscall = 9;
    m.args = vec![
        Arg {
            index: 0,
            value: ArgValue::UInt(0x7f00_0000_1000),
        },
        Arg {
            index: 2,
            value: ArgValue::Int(5),
        },
        Arg {
            index: 3,
            value: ArgValue::Int(0x22),
        },
    ];
    let v: Value = match serde_json::from_str(&loader::print::json(&m, &[], None, 0, true)) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(arg(&v, "addr")["value"], "0x7f0000001000");
    assert_eq!(arg(&v, "addr")["type"], "trace.Pointer");
    assert_eq!(arg(&v, "prot")["value"], "PROT_READ|PROT_EXEC");
    assert_eq!(arg(&v, "flags")["value"], "MAP_PRIVATE|MAP_ANONYMOUS");
}

/// The hand-written JSON writer (the consumer's hot path) produces the same object as the
/// serde reference, for every kind of argument and for strings that need escaping.
#[test]
fn fast_json_writer_matches_the_serde_reference() {
    let policies = vec!["p0".to_owned(), "quote\"d".to_owned(), "p2".to_owned()];
    let mut variants = Vec::new();
    variants.push(record());
    let mut r = record();
    r.header.comm = schema::abi::fixed("tab\tné\"\\".as_bytes());
    r.header.uts = schema::abi::fixed(b"\x01host");
    r.header.syscall = u32::MAX;
    r.header.event_id = 713;
    r.header.matched_policies = 0b11;
    r.args = vec![
        Arg {
            index: 0,
            value: ArgValue::Str("a\"b\\c\nd ünï".into()),
        },
        Arg {
            index: 10,
            value: ArgValue::StrArray(vec!["ls".into(), "-l\"".into()]),
        },
        Arg {
            index: 3,
            value: ArgValue::UInt(u64::MAX),
        },
    ];
    variants.push(r);
    let mut r = record();
    r.header.event_id = 99_999;
    r.header.syscall = 3;
    r.header.retval = i64::MIN;
    r.args = vec![
        Arg {
            index: 7,
            value: ArgValue::Bytes(vec![0x7f, b'E', b'L', b'F']),
        },
        Arg {
            index: 1,
            value: ArgValue::SockAddr(vec![2, 0, 0x1f, 0x90, 127, 0, 0, 1]),
        },
        Arg {
            index: 2,
            value: ArgValue::Bool(true),
        },
        Arg {
            index: 4,
            value: ArgValue::Int(i64::MIN),
        },
    ];
    variants.push(r);
    let mut r = record();
    r.args[2].value = ArgValue::Int(0o4101);
    variants.push(r);
    for r in &variants {
        for parse in [false, true] {
            let fast = loader::print::json(r, &policies, None, 42, parse);
            let reference = loader::print::json_reference(r, &policies, None, 42, parse);
            let a: Value = match serde_json::from_str(&fast) {
                Ok(v) => v,
                Err(e) => panic!("fast writer gave invalid JSON ({e}): {fast}"),
            };
            let b: Value = match serde_json::from_str(&reference) {
                Ok(v) => v,
                Err(e) => panic!("{e}"),
            };
            assert_eq!(a, b);
            // Same key order as Tracee's (and the reference's).
            let keys = |v: &Value| -> Vec<String> {
                v.as_object()
                    .map(|o| o.keys().cloned().collect())
                    .unwrap_or_default()
            };
            assert_eq!(fast.find("\"timestamp\""), Some(1));
            assert!(fast.ends_with("]}"), "{fast}");
            assert_eq!(keys(&a).len(), 21);
        }
    }
}

/// The runtimes' container cgroup names (the BPF program applies the same rule).
#[test]
fn container_cgroup_names() {
    let id = "0123456789abcdef".repeat(4);
    for name in [
        format!("docker-{id}.scope"),
        format!("cri-containerd-{id}.scope"),
        format!("crio-{id}.scope"),
        format!("libpod-{id}.scope"),
        id.clone(),
    ] {
        assert!(loader::is_container_cgroup(&name), "{name}");
    }
    for name in [
        "system.slice".to_owned(),
        "user-1000.slice".to_owned(),
        format!("docker-{}.scope", &id[..63]),
        format!("docker-{}.scope", id.to_uppercase()),
    ] {
        assert!(!loader::is_container_cgroup(&name), "{name}");
    }
}
