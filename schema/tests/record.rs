//! Event records: what the BPF side writes decodes back exactly; damaged records are errors.

use bytemuck::Zeroable;
use proptest::prelude::*;
use schema::abi::EventRecord;
use schema::record::{Arg, ArgValue, RecordError, decode, encode};

fn header() -> EventRecord {
    let mut h = EventRecord::zeroed();
    h.event_id = 257;
    h.pid = 42;
    h.retval = -2;
    h.comm = schema::abi::fixed(b"cat");
    h
}

fn args() -> Vec<Arg> {
    vec![
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
            value: ArgValue::UInt(0o644),
        },
        Arg {
            index: 3,
            value: ArgValue::StrArray(vec!["ls".into(), "-la".into(), String::new()]),
        },
        Arg {
            index: 4,
            value: ArgValue::Bytes(vec![0x7f, b'E', b'L', b'F']),
        },
        Arg {
            index: 5,
            value: ArgValue::Bool(true),
        },
        Arg {
            index: 6,
            value: ArgValue::SockAddr(vec![2, 0, 0, 80, 127, 0, 0, 1]),
        },
        Arg {
            index: 7,
            value: ArgValue::Cred(schema::abi::SlimCred {
                uid: 1000,
                euid: 1000,
                user_ns: 4026531837,
                cap_bset: 0x1ff_ffff_ffff,
                ..bytemuck::Zeroable::zeroed()
            }),
        },
    ]
}

#[test]
fn records_round_trip() {
    let bytes = encode(&header(), &args());
    let record = match decode(&bytes) {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(record.args, args());
    assert_eq!(record.header.args_num, 8);
    assert_eq!(record.header.pid, 42);
    assert_eq!(record.header.retval, -2);
}

#[test]
fn damaged_records_are_errors() {
    let bytes = encode(&header(), &args());
    let header_len = std::mem::size_of::<EventRecord>();
    assert!(matches!(
        decode(&bytes[..10]),
        Err(RecordError::ShortHeader { .. })
    ));
    assert!(matches!(
        decode(&bytes[..header_len + 3]),
        Err(RecordError::ArgsSize { .. })
    ));
    let mut bad_kind = bytes.clone();
    bad_kind[header_len + 1] = 99;
    assert!(matches!(
        decode(&bad_kind),
        Err(RecordError::UnknownKind { index: 0, kind: 99 })
    ));
    let mut bad_len = encode(
        &header(),
        &[Arg {
            index: 0,
            value: ArgValue::Int(1),
        }],
    );
    bad_len[header_len + 2] = 200;
    assert!(matches!(
        decode(&bad_len),
        Err(RecordError::ArgTruncated { .. })
    ));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = decode(&bytes);
    }
}

#[test]
fn a_wrong_value_size_is_an_error() {
    let header_len = std::mem::size_of::<EventRecord>();
    let mut short_int = encode(
        &header(),
        &[
            Arg {
                index: 0,
                value: ArgValue::Int(1),
            },
            Arg {
                index: 1,
                value: ArgValue::Bool(false),
            },
        ],
    );
    short_int[header_len + 2] = 7;
    assert!(matches!(
        decode(&short_int),
        Err(RecordError::BadValue { index: 0, .. })
    ));
}
