//! Network events as the kernel sends them, turned into Tracee's fields. A packet record
//! carries the packet's first bytes and where it went (abi `PACKET_CAPTURE_SLOT`,
//! `PACKET_INFO_SLOT`) beside the values its filters read; its fields are decoded here
//! (`packet`). Flow and connect records carry the socket's ends as socket addresses, shown
//! as Tracee's address strings and ports.

use std::collections::HashMap;
use std::sync::Mutex;

use schema::abi::{PACKET_CAPTURE_SLOT, PACKET_EVENTS, PACKET_INFO_SLOT};
use schema::catalog;
use schema::record::{Arg, ArgValue, Record};

use crate::packet::{self, Packet};

/// What `expand` made of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expanded {
    /// Not a network event: left as it is.
    Other,
    /// A network event in Tracee's fields, with the one-line summary the table shows.
    Network(String),
    /// A packet the kernel's quick checks took for this event, which the full decode does
    /// not (a DNS-looking header on port 53 over a message that does not parse): Tracee
    /// makes no event of it, nor do we.
    Malformed,
}

/// Rewrites a network event's arguments into Tracee's fields (in its field order, so the
/// catalog names them).
pub fn expand(record: &mut Record, boot_to_epoch_ns: i64) -> Expanded {
    let Some(event) = catalog::event_by_id(record.header.event_id) else {
        return Expanded::Other;
    };
    if PACKET_EVENTS.contains(&event.name) {
        return match expand_packet(record, event.name, boot_to_epoch_ns) {
            Some(summary) => Expanded::Network(summary),
            None => Expanded::Malformed,
        };
    }
    match event.name {
        "net_flow_tcp_begin" | "net_flow_tcp_end" | "net_tcp_connect" => {
            Expanded::Network(expand_socket(record, event.name))
        }
        _ => Expanded::Other,
    }
}

fn expand_packet(record: &mut Record, event: &str, boot_to_epoch_ns: i64) -> Option<String> {
    let mut bytes: &[u8] = &[];
    let mut info = 0u64;
    for arg in &record.args {
        match (&arg.value, arg.index) {
            (ArgValue::Bytes(b), i) if i == PACKET_CAPTURE_SLOT => bytes = b,
            (ArgValue::UInt(v), i) if i == PACKET_INFO_SLOT => info = *v,
            _ => {}
        }
    }
    let iface = interface_name((info >> 8) as u32 & 0xff_ffff);
    let p = Packet {
        bytes,
        len: (info >> 32) as u32,
        ingress: info & 1 == 1,
        iface: &iface,
        timestamp_ns: (record.header.timestamp_ns as i64)
            .saturating_add(boot_to_epoch_ns)
            .max(0) as u64,
    };
    let fields = packet::fields(event, &p)?;
    let summary = packet::summary(event, &p).unwrap_or_default();
    // By name: the catalog's fields are Tracee's event table's (a decoded field it lacks
    // is left out).
    let def = catalog::event(event);
    record.args = fields
        .into_iter()
        .filter_map(|(name, _, value)| {
            let (index, _) = def?.arg_index(name)?;
            Some(Arg {
                index: index as u8,
                value: ArgValue::Json(value),
            })
        })
        .collect();
    record.header.args_num = record.args.len() as u8;
    Some(summary)
}

/// A socket address argument as Tracee's address string and port.
fn end(args: &[Arg], index: u8) -> (String, u16) {
    let Some(ArgValue::SockAddr(b)) = args.iter().find(|a| a.index == index).map(|a| &a.value)
    else {
        return (String::new(), 0);
    };
    let port = b.get(2..4).map_or(0, |p| u16::from_be_bytes([p[0], p[1]]));
    let family = b.get(..2).map(|f| u16::from_le_bytes([f[0], f[1]]));
    let addr = match family {
        Some(2) => b
            .get(4..8)
            .map(|a| std::net::Ipv4Addr::new(a[0], a[1], a[2], a[3]).to_string()),
        Some(10) => b.get(8..24).and_then(|a| {
            let octets: [u8; 16] = a.try_into().ok()?;
            Some(std::net::Ipv6Addr::from(octets).to_string())
        }),
        _ => None,
    };
    (addr.unwrap_or_default(), port)
}

fn expand_socket(record: &mut Record, event: &str) -> String {
    use serde_json::json;
    let args = std::mem::take(&mut record.args);
    let values: Vec<serde_json::Value> = if event == "net_tcp_connect" {
        let (dst, port) = end(&args, 0);
        vec![json!(dst), json!(port), json!([])]
    } else {
        let direction = args
            .iter()
            .find_map(|a| match (&a.value, a.index) {
                (ArgValue::Str(s), 0) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let (src, src_port) = end(&args, 1);
        let (dst, dst_port) = end(&args, 2);
        vec![
            json!(direction),
            json!(src),
            json!(dst),
            json!(src_port),
            json!(dst_port),
            json!([]),
            json!([]),
        ]
    };
    let summary = match values.as_slice() {
        [dst, port, _] => format!("connect to {}:{port}", dst.as_str().unwrap_or("")),
        [direction, src, dst, sp, dp, ..] => format!(
            "{} {}:{sp} -> {}:{dp}",
            direction.as_str().unwrap_or(""),
            src.as_str().unwrap_or(""),
            dst.as_str().unwrap_or("")
        ),
        _ => String::new(),
    };
    record.args = values
        .into_iter()
        .enumerate()
        .map(|(i, value)| Arg {
            index: i as u8,
            value: ArgValue::Json(value),
        })
        .collect();
    record.header.args_num = record.args.len() as u8;
    summary
}

/// A network interface's name by index (as this network namespace names it; another
/// namespace's interface may have another name or none), cached.
fn interface_name(index: u32) -> String {
    static NAMES: Mutex<Option<HashMap<u32, String>>> = Mutex::new(None);
    if index == 0 {
        return String::new();
    }
    let Ok(mut guard) = NAMES.lock() else {
        return index.to_string();
    };
    let names = guard.get_or_insert_with(HashMap::new);
    if let Some(name) = names.get(&index) {
        return name.clone();
    }
    if let Ok(entries) = std::fs::read_dir("/sys/class/net") {
        for entry in entries.flatten() {
            let path = entry.path().join("ifindex");
            if let Some(i) = std::fs::read_to_string(path)
                .ok()
                .and_then(|t| t.trim().parse::<u32>().ok())
            {
                names.insert(i, entry.file_name().to_string_lossy().into_owned());
            }
        }
    }
    names
        .entry(index)
        .or_insert_with(|| index.to_string())
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use schema::abi::EventRecord;

    /// An IPv4/UDP DNS query for `name` from 10.0.0.1:5353 to 10.0.0.2:53.
    fn dns_query(name: &str) -> Vec<u8> {
        let mut dns = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            dns.push(label.len() as u8);
            dns.extend(label.as_bytes());
        }
        dns.extend([0, 0, 1, 0, 1]);
        let udp_len = (8 + dns.len()) as u16;
        let total = 20 + udp_len;
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend(5353u16.to_be_bytes());
        p.extend(53u16.to_be_bytes());
        p.extend(udp_len.to_be_bytes());
        p.extend([0, 0]);
        p.extend(dns);
        p
    }

    fn record(event: &str, capture: Vec<u8>) -> Record {
        let mut header: EventRecord = bytemuck::Zeroable::zeroed();
        header.event_id = catalog::event(event).map_or(0, |e| e.id);
        let len = capture.len() as u64;
        Record {
            header,
            args: vec![
                Arg {
                    index: 1,
                    value: ArgValue::Str("example.com".to_owned()),
                },
                Arg {
                    index: PACKET_INFO_SLOT,
                    value: ArgValue::UInt(len << 32),
                },
                Arg {
                    index: PACKET_CAPTURE_SLOT,
                    value: ArgValue::Bytes(capture),
                },
            ],
        }
    }

    #[test]
    fn a_packet_becomes_tracees_fields_and_one_line() {
        let mut r = record("net_packet_dns_request", dns_query("www.example.com"));
        let Expanded::Network(line) = expand(&mut r, 0) else {
            panic!("not expanded: {r:?}");
        };
        assert!(
            line.contains("10.0.0.1:5353 -> 10.0.0.2:53") && line.contains("A www.example.com"),
            "{line}"
        );
        // The filter slots and the capture are gone; the fields are the catalog's, in order.
        let indices: Vec<u8> = r.args.iter().map(|a| a.index).collect();
        assert_eq!(indices, [0, 1]);
        assert_eq!(r.header.args_num, 2);
        let Some(ArgValue::Json(questions)) = r.args.get(1).map(|a| &a.value) else {
            panic!("{r:?}");
        };
        assert_eq!(questions[0]["query"], "www.example.com");
    }

    #[test]
    fn a_packet_the_decoder_refuses_is_no_event() {
        let mut query = dns_query("www.example.com");
        query.truncate(30); // the DNS header cut short
        let mut r = record("net_packet_dns_request", query);
        assert_eq!(expand(&mut r, 0), Expanded::Malformed);
        let mut other = record("openat", Vec::new());
        assert_eq!(expand(&mut other, 0), Expanded::Other);
    }

    #[test]
    fn flows_show_addresses_and_ports() {
        let mut header: EventRecord = bytemuck::Zeroable::zeroed();
        header.event_id = catalog::event("net_flow_tcp_begin").map_or(0, |e| e.id);
        let end = |port: u16, ip: [u8; 4]| {
            let mut b = 2u16.to_le_bytes().to_vec();
            b.extend(port.to_be_bytes());
            b.extend(ip);
            b.extend([0; 8]);
            ArgValue::SockAddr(b)
        };
        let mut r = Record {
            header,
            args: vec![
                Arg {
                    index: 0,
                    value: ArgValue::Str("outgoing".to_owned()),
                },
                Arg {
                    index: 1,
                    value: end(40000, [127, 0, 0, 1]),
                },
                Arg {
                    index: 2,
                    value: end(8080, [10, 1, 2, 3]),
                },
            ],
        };
        let Expanded::Network(line) = expand(&mut r, 0) else {
            panic!("{r:?}");
        };
        assert_eq!(line, "outgoing 127.0.0.1:40000 -> 10.1.2.3:8080");
        let values: Vec<String> = r
            .args
            .iter()
            .map(|a| match &a.value {
                ArgValue::Json(v) => v.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            values,
            [
                "\"outgoing\"",
                "\"127.0.0.1\"",
                "\"10.1.2.3\"",
                "40000",
                "8080",
                "[]",
                "[]"
            ]
        );
    }
}
