//! The Fluent Forward sink: batches sent over TCP to Fluent Bit's or Fluentd's `forward`
//! input in the protocol's Forward mode (`[tag, [[time, record], ...], {chunk, size}]`,
//! MessagePack), the time an EventTime (nanoseconds kept), the record the event's JSON
//! object. Each message asks for an acknowledgement (`chunk`); a batch counts as delivered
//! once the receiver answers `{"ack": chunk}`. A failed connection, write, or a missing or
//! wrong answer is a failed attempt: the connection is dropped and the batch retried on a
//! new one.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rmpv::Value;

use super::SinkStats;
use super::batch::{Backoff, Batching, run};
use crate::output::Queue;

/// `tcp://HOST:PORT` (or `HOST:PORT`; the port defaults to 24224, Fluent's) as
/// `HOST:PORT` for the resolver.
fn address(target: &str) -> Result<String, String> {
    let rest = target.strip_prefix("tcp://").unwrap_or(target);
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let bad = || {
        format!(
            "--forward {target}: give tcp://HOST:PORT (Fluent Bit's or Fluentd's forward input)"
        )
    };
    if rest.is_empty() || rest.contains("://") || rest.contains('/') {
        return Err(bad());
    }
    // An IPv6 address is bracketed: [::1]:24224.
    let has_port = match rest.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') => {
            if host.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad());
            }
            true
        }
        _ => false,
    };
    Ok(if has_port {
        rest.to_owned()
    } else {
        format!("{rest}:24224")
    })
}

pub(super) fn start(
    target: &str,
    tag: String,
    batching: Batching,
    backoff: Backoff,
    timeout: Duration,
    queue: Arc<Queue>,
    stats: Arc<SinkStats>,
) -> Result<(), String> {
    let address = address(target)?;
    let mut connection: Option<TcpStream> = None;
    let mut chunks = 0u64;
    let started = crate::run::wall_now_ns();
    let post = move |body: &[u8]| -> Result<(), String> {
        chunks += 1;
        let id = chunk_id(started, chunks);
        let message = message(&tag, body, &id);
        let stream = match connection.as_mut() {
            Some(stream) => stream,
            None => connection.insert(connect(&address, timeout)?),
        };
        let result = exchange(stream, &message, &id);
        if result.is_err() {
            connection = None;
        }
        result
    };
    crate::harden::spawn_unprivileged("sink-forward", move || {
        run(&queue, &stats, batching, backoff, post);
        stats.finished.store(true, Ordering::SeqCst);
    })
}

fn connect(address: &str, timeout: Duration) -> Result<TcpStream, String> {
    let mut last = format!("{address}: no address");
    let addrs = address
        .to_socket_addrs()
        .map_err(|e| format!("resolving {address}: {e}"))?;
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                stream
                    .set_read_timeout(Some(timeout))
                    .and_then(|()| stream.set_write_timeout(Some(timeout)))
                    .map_err(|e| format!("{addr}: {e}"))?;
                return Ok(stream);
            }
            Err(e) => last = format!("connecting to {addr}: {e}"),
        }
    }
    Err(last)
}

/// Sends one message and waits for its acknowledgement.
fn exchange(stream: &mut TcpStream, message: &[u8], id: &str) -> Result<(), String> {
    stream
        .write_all(message)
        .map_err(|e| format!("sending: {e}"))?;
    let answer = rmpv::decode::read_value(stream)
        .map_err(|e| format!("waiting for the acknowledgement: {e}"))?;
    let acked = answer.as_map().and_then(|m| {
        m.iter()
            .find(|(k, _)| k.as_str() == Some("ack"))
            .and_then(|(_, v)| v.as_str())
    });
    match acked {
        Some(acked) if acked == id => Ok(()),
        _ => Err(format!(
            "the receiver answered {answer} instead of the ack of {id}"
        )),
    }
}

/// A chunk id unique to this process's run: what the receiver echoes back.
fn chunk_id(started: i64, n: u64) -> String {
    use base64::Engine;
    let mut bytes = Vec::with_capacity(20);
    bytes.extend_from_slice(&std::process::id().to_be_bytes());
    bytes.extend_from_slice(&started.to_be_bytes());
    bytes.extend_from_slice(&n.to_be_bytes());
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The Forward-mode message of a batch of JSON lines (a line that is not JSON, never
/// expected, is left out).
fn message(tag: &str, body: &[u8], id: &str) -> Vec<u8> {
    let entries: Vec<Value> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .map(|event| {
            let ns = event["timestamp"]
                .as_i64()
                .unwrap_or_else(crate::run::wall_now_ns);
            Value::Array(vec![event_time(ns), to_msgpack(event)])
        })
        .collect();
    let size = entries.len() as u64;
    let message = Value::Array(vec![
        Value::from(tag),
        Value::Array(entries),
        Value::Map(vec![
            (Value::from("chunk"), Value::from(id)),
            (Value::from("size"), Value::from(size)),
        ]),
    ]);
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, &message);
    out
}

/// Fluent's EventTime: ext type 0, seconds and nanoseconds as big-endian u32.
fn event_time(ns: i64) -> Value {
    let ns = ns.max(0);
    let seconds = u32::try_from(ns / 1_000_000_000).unwrap_or(u32::MAX);
    let nanos = (ns % 1_000_000_000) as u32;
    let mut bytes = seconds.to_be_bytes().to_vec();
    bytes.extend_from_slice(&nanos.to_be_bytes());
    Value::Ext(0, bytes)
}

fn to_msgpack(json: serde_json::Value) -> Value {
    use serde_json::Value as J;
    match json {
        J::Null => Value::Nil,
        J::Bool(b) => Value::Boolean(b),
        J::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Value::from(u),
            (None, Some(i)) => Value::from(i),
            _ => Value::F64(n.as_f64().unwrap_or(0.0)),
        },
        J::String(s) => Value::from(s),
        J::Array(a) => Value::Array(a.into_iter().map(to_msgpack).collect()),
        J::Object(o) => Value::Map(
            o.into_iter()
                .map(|(k, v)| (Value::from(k), to_msgpack(v)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_become_host_and_port() {
        assert_eq!(
            address("tcp://127.0.0.1:24225"),
            Ok("127.0.0.1:24225".to_owned())
        );
        assert_eq!(address("fluent-bit"), Ok("fluent-bit:24224".to_owned()));
        assert_eq!(address("tcp://[::1]:9"), Ok("[::1]:9".to_owned()));
        assert_eq!(address("tcp://[::1]"), Ok("[::1]:24224".to_owned()));
        for bad in [
            "",
            "tcp://",
            "http://x:1",
            "x:notaport",
            ":24224",
            "x:1/path",
        ] {
            assert!(
                address(bad).is_err_and(|e| e.contains("tcp://HOST:PORT")),
                "{bad}"
            );
        }
    }

    /// The message decodes as Forward mode: the tag, one entry per line with its EventTime
    /// and record, and the chunk option.
    #[test]
    fn a_batch_is_one_forward_mode_message() {
        let body = b"{\"timestamp\":1700000000123456789,\"eventName\":\"openat\",\"args\":[{\"name\":\"fd\",\"value\":-1}]}\n{\"timestamp\":5,\"eventName\":\"close\"}\n";
        let bytes = message("tracee", body, "abc");
        let value = rmpv::decode::read_value(&mut bytes.as_slice()).unwrap_or(Value::Nil);
        let Some([tag, entries, option]) = value.as_array().map(Vec::as_slice) else {
            panic!("not [tag, entries, option]: {value}");
        };
        assert_eq!(tag.as_str(), Some("tracee"));
        let entries = entries.as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 2);
        let first = entries[0].as_array().cloned().unwrap_or_default();
        let mut time = 1_700_000_000u32.to_be_bytes().to_vec();
        time.extend_from_slice(&123_456_789u32.to_be_bytes());
        assert_eq!(first[0], Value::Ext(0, time));
        let record = &first[1];
        assert_eq!(record["eventName"].as_str(), Some("openat"));
        assert_eq!(record["args"][0]["value"].as_i64(), Some(-1));
        assert_eq!(option["chunk"].as_str(), Some("abc"));
        assert_eq!(option["size"].as_u64(), Some(2));
    }

    #[test]
    fn chunk_ids_differ() {
        assert_ne!(chunk_id(1, 1), chunk_id(1, 2));
    }
}
