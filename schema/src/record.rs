//! Event records as the BPF programs submit them to the ring buffer: an `EventRecord`
//! header, then the arguments (`ArgHeader` + bytes each). Decoding is bounds-checked: a
//! short or inconsistent record is an error, never a panic.

use bytemuck::pod_read_unaligned;

use crate::abi::{ArgHeader, EventRecord, SlimCred, arg_kind};

#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Int(i64),
    UInt(u64),
    Str(String),
    Bytes(Vec<u8>),
    StrArray(Vec<String>),
    SockAddr(Vec<u8>),
    Bool(bool),
    /// Credentials (Tracee's SlimCred).
    Cred(SlimCred),
    /// A structure the loader decoded (a packet's `metadata`, `proto_dns`, ...): never in
    /// a kernel record.
    Json(serde_json::Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    /// Position in the event's argument list in the catalog.
    pub index: u8,
    pub value: ArgValue,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub header: EventRecord,
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("event record of {len} bytes is shorter than its {header}-byte header")]
    ShortHeader { len: usize, header: usize },
    #[error("event record declares {declared} argument bytes, {available} follow the header")]
    ArgsSize { declared: usize, available: usize },
    #[error("argument {index} at offset {offset} declares {len} bytes, {available} remain")]
    ArgTruncated {
        index: u8,
        offset: usize,
        len: usize,
        available: usize,
    },
    #[error("argument {index} has unknown kind {kind}")]
    UnknownKind { index: u8, kind: u8 },
    #[error("argument {index} of kind {kind} has a malformed value of {len} bytes")]
    BadValue { index: u8, kind: u8, len: usize },
}

pub fn decode(bytes: &[u8]) -> Result<Record, RecordError> {
    let header_len = std::mem::size_of::<EventRecord>();
    let Some(header_bytes) = bytes.get(..header_len) else {
        return Err(RecordError::ShortHeader {
            len: bytes.len(),
            header: header_len,
        });
    };
    let header: EventRecord = pod_read_unaligned(header_bytes);
    let rest = &bytes[header_len..];
    let declared = usize::from(header.args_size);
    let Some(mut args_bytes) = rest.get(..declared) else {
        return Err(RecordError::ArgsSize {
            declared,
            available: rest.len(),
        });
    };
    let mut args = Vec::new();
    let mut offset = header_len;
    let arg_header_len = std::mem::size_of::<ArgHeader>();
    while !args_bytes.is_empty() {
        let Some(h) = args_bytes.get(..arg_header_len) else {
            return Err(RecordError::ArgTruncated {
                index: 0,
                offset,
                len: arg_header_len,
                available: args_bytes.len(),
            });
        };
        let h: ArgHeader = pod_read_unaligned(h);
        let len = usize::from(h.len);
        let Some(data) = args_bytes.get(arg_header_len..arg_header_len + len) else {
            return Err(RecordError::ArgTruncated {
                index: h.index,
                offset,
                len,
                available: args_bytes.len().saturating_sub(arg_header_len),
            });
        };
        args.push(Arg {
            index: h.index,
            value: value(h, data)?,
        });
        args_bytes = &args_bytes[arg_header_len + len..];
        offset += arg_header_len + len;
    }
    Ok(Record { header, args })
}

fn value(h: ArgHeader, data: &[u8]) -> Result<ArgValue, RecordError> {
    let bad = || RecordError::BadValue {
        index: h.index,
        kind: h.kind,
        len: data.len(),
    };
    let eight = || -> Result<[u8; 8], RecordError> { data.try_into().map_err(|_| bad()) };
    Ok(match h.kind {
        arg_kind::INT => ArgValue::Int(i64::from_le_bytes(eight()?)),
        arg_kind::UINT => ArgValue::UInt(u64::from_le_bytes(eight()?)),
        arg_kind::STR => ArgValue::Str(String::from_utf8_lossy(data).into_owned()),
        arg_kind::BYTES => ArgValue::Bytes(data.to_vec()),
        arg_kind::SOCKADDR => ArgValue::SockAddr(data.to_vec()),
        arg_kind::CRED => {
            if data.len() != std::mem::size_of::<SlimCred>() {
                return Err(bad());
            }
            ArgValue::Cred(pod_read_unaligned(data))
        }
        arg_kind::BOOL => match data {
            [b] => ArgValue::Bool(*b != 0),
            _ => return Err(bad()),
        },
        arg_kind::STR_ARRAY => {
            let mut items = Vec::new();
            let mut rest = data;
            while !rest.is_empty() {
                let [lo, hi, tail @ ..] = rest else {
                    return Err(bad());
                };
                let len = usize::from(u16::from_le_bytes([*lo, *hi]));
                let item = tail.get(..len).ok_or_else(bad)?;
                items.push(String::from_utf8_lossy(item).into_owned());
                rest = &tail[len..];
            }
            ArgValue::StrArray(items)
        }
        kind => {
            return Err(RecordError::UnknownKind {
                index: h.index,
                kind,
            });
        }
    })
}

/// Encodes a record the way the BPF programs do (for tests and tools).
pub fn encode(header: &EventRecord, args: &[Arg]) -> Vec<u8> {
    let mut body = Vec::new();
    for arg in args {
        let (kind, data): (u8, Vec<u8>) = match &arg.value {
            ArgValue::Int(v) => (arg_kind::INT, v.to_le_bytes().to_vec()),
            ArgValue::UInt(v) => (arg_kind::UINT, v.to_le_bytes().to_vec()),
            ArgValue::Str(s) => (arg_kind::STR, s.as_bytes().to_vec()),
            ArgValue::Bytes(b) => (arg_kind::BYTES, b.clone()),
            ArgValue::SockAddr(b) => (arg_kind::SOCKADDR, b.clone()),
            ArgValue::Bool(b) => (arg_kind::BOOL, vec![u8::from(*b)]),
            ArgValue::Cred(c) => (arg_kind::CRED, bytemuck::bytes_of(c).to_vec()),
            ArgValue::Json(v) => (arg_kind::STR, v.to_string().into_bytes()),
            ArgValue::StrArray(items) => {
                let mut data = Vec::new();
                for item in items {
                    data.extend((item.len() as u16).to_le_bytes());
                    data.extend(item.as_bytes());
                }
                (arg_kind::STR_ARRAY, data)
            }
        };
        let h = ArgHeader {
            index: arg.index,
            kind,
            len: data.len() as u16,
        };
        body.extend(bytemuck::bytes_of(&h));
        body.extend(data);
    }
    let mut header = *header;
    header.args_size = body.len() as u16;
    header.args_num = args.len() as u8;
    let mut out = bytemuck::bytes_of(&header).to_vec();
    out.extend(body);
    out
}
