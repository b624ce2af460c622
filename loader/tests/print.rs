//! Printing: records become Tracee-shaped JSON lines and table rows (no kernel needed).

use std::rc::Rc;

use bytemuck::Zeroable;
use schema::abi::EventRecord;
use schema::record::{Arg, ArgValue, decode, encode};
use serde_json::Value;

use loader::containers::{Container, Lookup};
use loader::workload::Workload;

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

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// A pod's container, as the runtime state names it.
fn workload() -> Workload {
    Workload {
        container: Rc::new(Lookup::Found(Container {
            id: ID.to_owned(),
            name: "api".to_owned(),
            image: "quay.io/shop/api:2".to_owned(),
            image_digest: "sha256:feed".to_owned(),
            pod_name: "api-7d9".to_owned(),
            pod_namespace: "shop".to_owned(),
            pod_uid: "u-1".to_owned(),
            sandbox: false,
        })),
        exe: Rc::from("/usr/bin/cat"),
    }
}

/// A container whose runtime state was not found: its id only.
fn unknown_container() -> Workload {
    Workload {
        container: Rc::new(Lookup::Unknown {
            id: ID.to_owned(),
            runtime: loader::containers::Runtime::Docker,
        }),
        exe: Rc::from(""),
    }
}

/// Tracee v0.24's `trace.Event`, exactly: the workload after the process and host names
/// (`container` and `kubernetes` always present, their empty members left out).
#[test]
fn json_carries_the_workload_in_tracee_v0_24_shape() {
    let policies = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let mut r = record();
    r.header.thread_start_ns = 4_000_000_000;
    let line = loader::print::json(
        &r,
        &policies,
        None,
        1_700_000_000_000_000_000,
        false,
        &workload(),
    );
    assert_eq!(
        line,
        format!(
            concat!(
                r#"{{"timestamp":1700000005000000000,"threadStartTime":1700000004000000000,"#,
                r#""processorId":1,"processId":10,"cgroupId":77,"threadId":11,"parentProcessId":9,"#,
                r#""hostProcessId":1010,"hostThreadId":1011,"hostParentProcessId":1009,"userId":1000,"#,
                r#""mountNamespace":4026531841,"pidNamespace":4026531836,"processName":"cat","#,
                r#""executable":{{"path":"/usr/bin/cat"}},"hostName":"web-1","containerId":"{id}","#,
                r#""container":{{"id":"{id}","name":"api","image":"quay.io/shop/api:2","imageDigest":"sha256:feed"}},"#,
                r#""kubernetes":{{"podName":"api-7d9","podNamespace":"shop","podUID":"u-1"}},"#,
                r#""eventId":"257","eventName":"openat","matchedPolicies":["a","c"],"argsNum":3,"#,
                r#""returnValue":3,"syscall":"openat","args":[{{"name":"dirfd","type":"int32","value":-100}},"#,
                r#"{{"name":"pathname","type":"string","value":"/tmp/x"}},{{"name":"flags","type":"int32","value":0}}]}}"#
            ),
            id = ID
        )
    );
    // A host process: empty container objects, as Tracee prints them.
    let line = loader::print::json(&record(), &policies, None, 0, false, &Workload::none());
    assert!(
        line.contains(r#""threadStartTime":0,"#)
            && line.contains(r#""executable":{"path":""},"hostName":"web-1","containerId":"","container":{},"kubernetes":{},"eventId""#),
        "{line}"
    );
}

/// Tracee's current `v1beta1.Event`, exactly as its JSON printer writes one.
#[test]
fn json_v1beta1_shape() {
    let policies = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let mut r = record();
    r.header.thread_start_ns = 4_000_000_000;
    let mut out = Vec::new();
    loader::v1beta1::write(
        &mut out,
        &r,
        &policies,
        None,
        1_700_000_000_000_000_000,
        &workload(),
    );
    let line = String::from_utf8_lossy(&out);
    assert_eq!(
        line,
        format!(
            concat!(
                r#"{{"timestamp":"2023-11-14T22:13:25Z","id":257,"name":"openat","#,
                r#""policies":{{"matched":["a","c"]}},"workload":{{"process":{{"#,
                r#""executable":{{"path":"/usr/bin/cat"}},"host_pid":1010,"pid":10,"real_user":{{"id":1000}},"#,
                r#""thread":{{"start_time":"2023-11-14T22:13:24Z","name":"cat","host_tid":1011,"tid":11,"syscall":"openat"}},"#,
                r#""ancestors":[{{"host_pid":1009,"pid":9}}]}},"#,
                r#""container":{{"id":"{id}","name":"api","image":{{"id":"","repo_digests":["sha256:feed"],"name":"quay.io/shop/api:2"}},"started":true}},"#,
                r#""k8s":{{"pod":{{"name":"api-7d9","uid":"u-1"}},"namespace":{{"name":"shop"}}}}}},"#,
                r#""data":[{{"name":"dirfd","int32":-100}},{{"name":"pathname","str":"/tmp/x"}},{{"name":"flags","int32":0}}]}}"#,
                "\n"
            ),
            id = ID
        )
    );
    // A host process: no container, no k8s, no executable when unknown.
    let mut out = Vec::new();
    loader::v1beta1::write(&mut out, &record(), &[], None, 0, &Workload::none());
    let line = String::from_utf8_lossy(&out);
    let v: Value = match serde_json::from_str(&line) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {line}"),
    };
    assert_eq!(
        v["workload"]
            .as_object()
            .map(|w| w.keys().cloned().collect::<Vec<_>>()),
        Some(vec!["process".to_owned()])
    );
    assert!(v["workload"]["process"].get("executable").is_none());
    assert!(v.get("policies").is_none(), "{line}");
    assert_eq!(v["timestamp"], "1970-01-01T00:00:05Z");
}

/// v1beta1 data values take the member of their Go type, as Tracee's conversion does.
#[test]
fn json_v1beta1_values_are_typed_like_tracee() {
    let mut r = record();
    r.header.event_id = 42; // connect(sockfd int32, addr SockAddr, addrlen int32)
    r.header.syscall = 42;
    r.args = vec![
        Arg {
            index: 0,
            value: ArgValue::Int(3),
        },
        Arg {
            index: 1,
            value: ArgValue::SockAddr(vec![2, 0, 0x1f, 0x90, 127, 0, 0, 1]),
        },
    ];
    let mut out = Vec::new();
    loader::v1beta1::write(&mut out, &r, &[], None, 0, &Workload::none());
    let v: Value = match serde_json::from_slice(&out) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(
        v["data"],
        serde_json::json!([
            {"name": "sockfd", "int32": 3},
            {"name": "addr", "sockaddr": {"sa_family": "AF_INET", "sin_addr": "127.0.0.1", "sin_port": 8080}},
        ])
    );
}

/// The table names the container (its name, else the short id) in its own column.
#[test]
fn table_rows_name_the_container() {
    let full = loader::table::Layout::new(None);
    let row = loader::print::table(&record(), None, 0, None, &full, &workload());
    assert!(
        row.starts_with("00:00:05:000000  api          1000   cat"),
        "{row}"
    );
    let row = loader::print::table(&record(), None, 0, None, &full, &unknown_container());
    assert!(
        row.starts_with("00:00:05:000000  0123456789ab 1000   cat"),
        "{row}"
    );
    assert!(
        full.header()
            .starts_with("TIME             CONTAINER    UID")
    );
    // At 80 columns there is no room for the column: the container is the first argument.
    let narrow = loader::table::Layout::new(Some(80));
    let row = loader::print::table(&record(), None, 0, None, &narrow, &workload());
    assert!(row.starts_with("00:00:05 1000  cat"), "{row}");
    assert!(row.contains("container: api"), "{row}");
    assert!(!narrow.header().contains("CONTAINER"));
}

#[test]
fn json_lines_use_tracee_field_names() {
    let policies = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
    let line = loader::print::json(
        &record(),
        &policies,
        None,
        1_700_000_000_000_000_000,
        false,
        &Workload::none(),
    );
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
    let row = loader::print::table(&record(), None, 0, None, &unlimited, &Workload::none());
    assert!(
        row.starts_with(
            "00:00:05:000000               1000   cat              10      11      3                openat"
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
    let parsed: Value = match serde_json::from_str(&loader::print::json(
        &r,
        &[],
        None,
        0,
        true,
        &Workload::none(),
    )) {
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
    let plain: Value = match serde_json::from_str(&loader::print::json(
        &r,
        &[],
        None,
        0,
        false,
        &Workload::none(),
    )) {
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
    let v: Value = match serde_json::from_str(&loader::print::json(
        &m,
        &[],
        None,
        0,
        true,
        &Workload::none(),
    )) {
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
    let workloads = [Workload::none(), workload(), unknown_container()];
    for r in &variants {
        for (parse, workload) in [false, true]
            .into_iter()
            .flat_map(|p| workloads.iter().map(move |w| (p, w)))
        {
            let fast = loader::print::json(r, &policies, None, 42, parse, workload);
            let reference = loader::print::json_reference(r, &policies, None, 42, parse, workload);
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
            assert_eq!(keys(&a).len(), 26);
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

/// A detection in the v1beta1 shape: the detector's event, its `threat` (severity as
/// Tracee's enum number), and the event it was detected from with that event's data.
#[test]
fn json_v1beta1_detection() {
    let detector = schema::image::DetectorMeta {
        event_id: 6002,
        name: "anti_debugging".to_owned(),
        id: "TRC-102".to_owned(),
        description: "ptrace used to stop debuggers".to_owned(),
        tags: vec!["defense-evasion".to_owned()],
        threat: schema::image::ThreatMeta {
            name: "Anti-Debugging detected".to_owned(),
            description: "a process blocks debuggers".to_owned(),
            severity: "low".to_owned(),
            technique_id: "T1622".to_owned(),
            technique_name: "Debugger Evasion".to_owned(),
            tactic: "Defense Evasion".to_owned(),
        },
        bases: Vec::new(),
    };
    let mut r = record();
    r.header.detected_from = 257;
    r.header.event_id = 6002;
    let mut out = Vec::new();
    let policies = vec!["a".to_owned()];
    loader::v1beta1::write(&mut out, &r, &policies, Some(&detector), 0, &workload());
    let v: Value = match serde_json::from_slice(&out) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(v["id"], 6002);
    assert_eq!(v["name"], "anti_debugging");
    assert!(v.get("data").is_none());
    assert_eq!(
        v["threat"],
        serde_json::json!({
            "description": "a process blocks debuggers",
            "mitre": {"tactic": {"name": "Defense Evasion"}, "technique": {"id": "T1622", "name": "Debugger Evasion"}},
            "severity": 1,
            "name": "Anti-Debugging detected",
            "properties": {"Category": "defense-evasion"},
        })
    );
    assert_eq!(
        v["detected_from"],
        serde_json::json!({
            "id": 257,
            "name": "openat",
            "data": [{"name": "dirfd", "int32": -100}, {"name": "pathname", "str": "/tmp/x"}, {"name": "flags", "int32": 0}],
        })
    );
    assert_eq!(v["workload"]["container"]["name"], "api");
}
