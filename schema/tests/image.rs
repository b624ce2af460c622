//! The map image container: round trips, determinism, the documented byte layout, and a
//! hostile-input-safe decoder (every truncation and bit flip refused, every structural check
//! firing with its exact variant and offset, no panic on random input).
//!
//! Hand-built images (`Body`, `seal`) are written here independently of `encode`, from the
//! layout in `docs/image-format.md`, with a correct checksum so that the structural checks,
//! not the checksum, are what fire.

use std::fs;

use proptest::prelude::*;
use schema::image::{
    BPF_F_NO_PREALLOC, EventMeta, FORMAT_VERSION, HEADER_LEN, Image, ImageError, MAGIC, MapSection,
    MapType, Meta, PolicyMeta, UserspaceFilter, decode, encode, encode_checked, write_atomic,
};

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// `Meta::default()` in postcard: five empty sequences.
const EMPTY_META: [u8; 5] = [0, 0, 0, 0, 0];
/// Offsets in an image built as `Body::new().meta(&EMPTY_META).map(..)` with a 1-byte map name:
/// META section at 48 (16-byte header, 5-byte payload, 3 bytes padding), MAP section at 72.
const MAP_SECTION: usize = 72;
const MAP_PAYLOAD: usize = 88;
const MAP_NAME_PAD: usize = 91;
const MAP_TYPE: usize = 92;
const MAP_KEY_SIZE: usize = 96;
const MAP_MAX_ENTRIES: usize = 104;
const MAP_COUNT: usize = 112;
const MAP_RECORDS: usize = 116;

fn ok<T>(result: Result<T, ImageError>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("{what}: unexpected error: {e}"),
    }
}

fn err(bytes: &[u8], what: &str) -> ImageError {
    match decode(bytes) {
        Ok(image) => panic!("{what}: decoded an image that must be refused: {image:?}"),
        Err(e) => e,
    }
}

/// A body built section by section.
#[derive(Default)]
struct Body(Vec<u8>);

impl Body {
    fn new() -> Self {
        Body::default()
    }

    fn section(mut self, kind: u32, payload: &[u8]) -> Self {
        self.0.extend_from_slice(&kind.to_le_bytes());
        self.0.extend_from_slice(&0u32.to_le_bytes());
        self.0
            .extend_from_slice(&(payload.len() as u64).to_le_bytes());
        self.0.extend_from_slice(payload);
        while !self.0.len().is_multiple_of(8) {
            self.0.push(0);
        }
        self
    }

    fn meta(self, payload: &[u8]) -> Self {
        self.section(1, payload)
    }

    fn map(self, payload: &[u8]) -> Self {
        self.section(2, payload)
    }

    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

/// A MAP payload: name, padding, the six u32 fields, then `records` as given.
struct MapPayload {
    name: Vec<u8>,
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    flags: u32,
    count: u32,
    records: Vec<u8>,
}

impl MapPayload {
    /// Map `m`: hash, 4-byte keys, 4-byte values, 8 max entries, the given records.
    fn new(records: &[[u8; 8]]) -> Self {
        MapPayload {
            name: b"m".to_vec(),
            map_type: 1,
            key_size: 4,
            value_size: 4,
            max_entries: 8,
            flags: 0,
            count: records.len() as u32,
            records: records.concat(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(self.name.len() as u16).to_le_bytes());
        out.extend_from_slice(&self.name);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        for v in [
            self.map_type,
            self.key_size,
            self.value_size,
            self.max_entries,
            self.flags,
            self.count,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.records);
        out
    }
}

/// Header fields for `seal_with`.
struct Header {
    magic: [u8; 8],
    version: u32,
    header_len: u32,
    abi_hash: u64,
    catalog_hash: u64,
    body_len: Option<u64>,
    reserved: u32,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            magic: MAGIC,
            version: 1,
            header_len: 48,
            abi_hash: 0xa1,
            catalog_hash: 0xc1,
            body_len: None,
            reserved: 0,
        }
    }
}

/// CRC-32/IEEE of every byte except the checksum field (offsets 40..44).
fn crc(bytes: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&bytes[..40]);
    h.update(&bytes[44..]);
    h.finalize()
}

fn seal_with(header: Header, body: &Body) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&header.magic);
    out.extend_from_slice(&header.version.to_le_bytes());
    out.extend_from_slice(&header.header_len.to_le_bytes());
    out.extend_from_slice(&header.abi_hash.to_le_bytes());
    out.extend_from_slice(&header.catalog_hash.to_le_bytes());
    let body_len = header.body_len.unwrap_or(body.0.len() as u64);
    out.extend_from_slice(&body_len.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&header.reserved.to_le_bytes());
    out.extend_from_slice(&body.0);
    reseal(&mut out);
    out
}

fn seal(body: &Body) -> Vec<u8> {
    seal_with(Header::default(), body)
}

/// Rewrites the checksum of `bytes` (at least a header) to match its content.
fn reseal(bytes: &mut [u8]) {
    let sum = crc(bytes);
    bytes[40..44].copy_from_slice(&sum.to_le_bytes());
}

/// A valid image with one map built from `payload`.
fn with_map(payload: &MapPayload) -> Vec<u8> {
    seal(&Body::new().meta(&EMPTY_META).map(&payload.bytes()))
}

fn rec(key: u32, value: u32) -> [u8; 8] {
    let mut r = [0u8; 8];
    r[..4].copy_from_slice(&key.to_le_bytes());
    r[4..].copy_from_slice(&value.to_le_bytes());
    r
}

fn lpm_key(prefix_len: u32, data: &[u8]) -> Vec<u8> {
    let mut key = prefix_len.to_le_bytes().to_vec();
    let mut data = data.to_vec();
    data.resize(64, 0);
    key.extend_from_slice(&data);
    key
}

fn empty_image() -> Image {
    Image {
        abi_hash: 0,
        catalog_hash: 0,
        meta: Meta::default(),
        maps: Vec::new(),
    }
}

/// Several maps (hash, array, percpu array, LRU hash, LPM trie with `BPF_F_NO_PREALLOC`),
/// names whose lengths need 0 to 3 bytes of padding, and a Meta with userspace filters.
fn sample() -> Image {
    Image {
        abi_hash: 0x0123_4567_89ab_cdef,
        catalog_hash: 0xfedc_ba98_7654_3210,
        meta: Meta {
            policies: vec![
                PolicyMeta {
                    id: 0,
                    name: "sensitive-files".into(),
                    description: "Reads of /etc/shadow and friends".into(),
                    actions: vec!["log".into()],
                },
                PolicyMeta {
                    id: 1,
                    name: "miners".into(),
                    description: "Crypto miners — ünïcode too".into(),
                    actions: vec!["log".into(), "webhook:alerts".into()],
                },
            ],
            events: vec![
                EventMeta {
                    id: 257,
                    name: "openat".into(),
                },
                EventMeta {
                    id: 59,
                    name: "execve".into(),
                },
            ],
            probes: vec![
                "tp/syscalls/sys_exit_openat".into(),
                "tp/syscalls/sys_enter_execve".into(),
            ],
            userspace_filters: vec![UserspaceFilter {
                policy: 1,
                event: 59,
                field: "args.argv".into(),
                op: "contains".into(),
                values: vec!["xmrig".into(), "--donate-level".into()],
                reason: "string arrays are not decoded in the kernel".into(),
            }],
            detectors: vec![schema::image::DetectorMeta {
                event_id: 6002,
                name: "anti_debugging".into(),
                id: "TRC-102".into(),
                tags: vec!["defense-evasion".into()],
                bases: vec![schema::image::DetectBaseMeta {
                    event: 101,
                    loader: vec![schema::image::LoaderCondition {
                        condition: "true".into(),
                        reason: "a sample".into(),
                    }],
                }],
                ..Default::default()
            }],
        },
        maps: vec![
            MapSection {
                name: "ev".into(), // 2 + 2 bytes: no padding
                map_type: MapType::Hash,
                key_size: 4,
                value_size: 8,
                max_entries: 4,
                flags: 0,
                entries: vec![
                    (
                        257u32.to_le_bytes().to_vec(),
                        0b01u64.to_le_bytes().to_vec(),
                    ),
                    (59u32.to_le_bytes().to_vec(), 0b10u64.to_le_bytes().to_vec()),
                ],
            },
            MapSection {
                name: "c".into(), // 2 + 1: 1 byte of padding
                map_type: MapType::Array,
                key_size: 4,
                value_size: 16,
                max_entries: 1,
                flags: 0,
                entries: vec![(vec![0; 4], (1u8..=16).collect())],
            },
            MapSection {
                name: "uid_eq".into(), // 2 + 6: no padding
                map_type: MapType::PercpuArray,
                key_size: 4,
                value_size: 8,
                max_entries: 2,
                flags: 0,
                entries: vec![],
            },
            MapSection {
                name: "comm".into(), // 2 + 4: 2 bytes of padding
                map_type: MapType::LruHash,
                key_size: 16,
                value_size: 16,
                max_entries: 1024,
                flags: 0,
                entries: vec![(b"xmrig\0\0\0\0\0\0\0\0\0\0\0".to_vec(), vec![0xff; 16])],
            },
            MapSection {
                name: "path_prefix_max".into(), // 2 + 15: 3 bytes of padding
                map_type: MapType::LpmTrie,
                key_size: 68,
                value_size: 16,
                max_entries: 64,
                flags: BPF_F_NO_PREALLOC,
                entries: vec![
                    (lpm_key(5 * 8, b"/etc/"), vec![1; 16]),
                    (lpm_key(11 * 8, b"/etc/shadow"), vec![3; 16]),
                    (lpm_key(0, b""), vec![0; 16]),
                ],
            },
        ],
    }
}

// ---------------------------------------------------------------------------------------
// Round trips, determinism, layout
// ---------------------------------------------------------------------------------------

#[test]
fn empty_image_round_trips() {
    let image = empty_image();
    let bytes = encode(&image);
    // Header + META section (16-byte header, 5-byte payload, 3 bytes padding).
    assert_eq!(bytes.len(), HEADER_LEN + 24);
    assert_eq!(ok(decode(&bytes), "empty image"), image);
}

#[test]
fn image_with_several_maps_round_trips() {
    let image = sample();
    let bytes = encode(&image);
    let decoded = ok(decode(&bytes), "sample image");
    assert_eq!(decoded, image);
    let lpm = match decoded.map("path_prefix_max") {
        Some(map) => map,
        None => panic!("LPM map missing after the round trip"),
    };
    assert_eq!(lpm.map_type, MapType::LpmTrie);
    assert_eq!(lpm.flags, BPF_F_NO_PREALLOC);
    assert_eq!(decoded.meta.userspace_filters.len(), 1);
    assert_eq!(ok(encode_checked(&image), "encode_checked"), bytes);
}

#[test]
fn encoding_is_deterministic_and_keeps_entry_order() {
    let image = sample();
    assert_eq!(encode(&image), encode(&image.clone()));

    let mut reversed = image.clone();
    reversed.maps[0].entries.reverse();
    let decoded = ok(decode(&encode(&reversed)), "reversed entries");
    assert_eq!(decoded.maps[0].entries, reversed.maps[0].entries);
    assert_ne!(
        encode(&reversed),
        encode(&image),
        "entries must not be reordered"
    );
}

#[test]
fn encoding_matches_the_documented_layout() {
    let mut map = MapPayload::new(&[rec(7, 0x0102_0304), rec(9, 5)]);
    map.flags = BPF_F_NO_PREALLOC;
    let expected = seal(&Body::new().meta(&EMPTY_META).map(&map.bytes()));
    let image = Image {
        abi_hash: 0xa1,
        catalog_hash: 0xc1,
        meta: Meta::default(),
        maps: vec![MapSection {
            name: "m".into(),
            map_type: MapType::Hash,
            key_size: 4,
            value_size: 4,
            max_entries: 8,
            flags: BPF_F_NO_PREALLOC,
            entries: vec![
                (
                    7u32.to_le_bytes().to_vec(),
                    0x0102_0304u32.to_le_bytes().to_vec(),
                ),
                (9u32.to_le_bytes().to_vec(), 5u32.to_le_bytes().to_vec()),
            ],
        }],
    };
    let bytes = encode(&image);
    assert_eq!(bytes, expected);
    assert_eq!(&bytes[..8], b"\x89TRCIMG\n");
    assert_eq!(bytes[8..12], FORMAT_VERSION.to_le_bytes());
    assert_eq!(bytes[12..16], 48u32.to_le_bytes());
    assert_eq!(bytes[32..40], ((bytes.len() - 48) as u64).to_le_bytes());
    assert_eq!(bytes[40..44], crc(&bytes).to_le_bytes());
    assert_eq!(bytes[MAP_SECTION..MAP_SECTION + 4], 2u32.to_le_bytes());
    assert_eq!(bytes[MAP_RECORDS..MAP_RECORDS + 4], 7u32.to_le_bytes());
    assert_eq!(bytes.len() % 8, 0);
}

#[test]
fn map_types_have_the_kernels_numbers() {
    let numbers: Vec<u32> = MapType::ALL.iter().map(|t| t.as_u32()).collect();
    assert_eq!(numbers, [1, 2, 6, 9, 11]);
    for t in MapType::ALL {
        assert_eq!(MapType::from_u32(t.as_u32()), Some(t));
    }
    assert_eq!(MapType::from_u32(0), None);
    assert_eq!(MapType::LpmTrie.to_string(), "BPF_MAP_TYPE_LPM_TRIE");
}

// ---------------------------------------------------------------------------------------
// Truncation and bit flips
// ---------------------------------------------------------------------------------------

#[test]
fn every_truncation_is_refused() {
    let bytes = encode(&sample());
    for len in 0..bytes.len() {
        match decode(&bytes[..len]) {
            Err(ImageError::TooShort { needed, actual }) if len < HEADER_LEN => {
                assert_eq!((needed, actual), (HEADER_LEN, len));
            }
            Err(ImageError::LengthMismatch { declared, actual }) if len >= HEADER_LEN => {
                assert_eq!(declared, (bytes.len() - HEADER_LEN) as u64);
                assert_eq!(actual, (len - HEADER_LEN) as u64);
            }
            other => {
                panic!("prefix of {len} bytes: expected TooShort/LengthMismatch, got {other:?}")
            }
        }
    }
    let message = err(&bytes[..bytes.len() - 3], "truncated").to_string();
    assert!(message.starts_with("truncated image"), "{message}");
    assert!(message.contains("3 missing"), "{message}");
}

#[test]
fn every_bit_flip_is_refused() {
    let bytes = encode(&sample());
    let mut flipped = bytes.clone();
    for i in 0..bytes.len() {
        for bit in 0..8 {
            flipped[i] ^= 1 << bit;
            if let Ok(image) = decode(&flipped) {
                panic!("bit {bit} of byte {i} flipped, still decoded: {image:?}");
            }
            flipped[i] ^= 1 << bit;
        }
    }
}

#[test]
fn bit_flips_in_each_header_field_hit_their_check() {
    let bytes = encode(&sample());
    let body_len = (bytes.len() - HEADER_LEN) as u64;
    let stored = u32::from_le_bytes([bytes[40], bytes[41], bytes[42], bytes[43]]);
    let flip = |offset: usize, bit: u8| {
        let mut b = bytes.clone();
        b[offset] ^= 1 << bit;
        err(&b, "flipped")
    };

    let mut magic = MAGIC;
    magic[0] ^= 1;
    assert_eq!(flip(0, 0), ImageError::BadMagic { found: magic });
    assert_eq!(
        flip(8, 1),
        ImageError::UnsupportedVersion {
            found: 3,
            supported: 1
        }
    );
    assert_eq!(
        flip(12, 0),
        ImageError::BadHeaderLength {
            found: 49,
            expected: 48
        }
    );
    // The hashes are covered by the checksum.
    assert!(matches!(flip(16, 0), ImageError::Checksum { .. }));
    assert!(matches!(flip(31, 7), ImageError::Checksum { .. }));
    assert_eq!(
        flip(32, 0),
        ImageError::LengthMismatch {
            declared: body_len ^ 1,
            actual: body_len
        }
    );
    assert_eq!(
        flip(40, 4),
        ImageError::Checksum {
            expected: stored ^ 0x10,
            actual: stored
        }
    );
    assert_eq!(
        flip(44, 0),
        ImageError::NonZeroReserved {
            offset: 44,
            value: 1
        }
    );
    // Body flips: the checksum.
    for offset in [48, 60, 100, bytes.len() - 1] {
        match flip(offset, 3) {
            ImageError::Checksum { expected, actual } => {
                assert_eq!(expected, stored);
                assert_ne!(actual, stored);
            }
            other => panic!("flip at {offset}: expected Checksum, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Header checks on hand-built images
// ---------------------------------------------------------------------------------------

#[test]
fn too_short_input_is_refused() {
    assert_eq!(
        err(&[], "empty"),
        ImageError::TooShort {
            needed: 48,
            actual: 0
        }
    );
    assert_eq!(
        err(&[0; 47], "47 bytes"),
        ImageError::TooShort {
            needed: 48,
            actual: 47
        }
    );
}

#[test]
fn wrong_magic_is_refused() {
    let body = Body::new().meta(&EMPTY_META);
    let elf = *b"\x7fELF\x02\x01\x01\0";
    let bytes = seal_with(
        Header {
            magic: elf,
            ..Header::default()
        },
        &body,
    );
    let e = err(&bytes, "ELF magic");
    assert_eq!(e, ImageError::BadMagic { found: elf });
    let message = e.to_string();
    assert!(message.contains("7f 45 4c 46"), "{message}");
    assert!(message.contains("ELF file"), "{message}");

    // The magic after a CRLF translation of its last byte.
    let mut crlf = MAGIC;
    crlf[7] = b'\r';
    let bytes = seal_with(
        Header {
            magic: crlf,
            ..Header::default()
        },
        &body,
    );
    assert!(err(&bytes, "CR magic").to_string().contains("text-mode"));
}

#[test]
fn wrong_version_is_refused() {
    let bytes = seal_with(
        Header {
            version: 2,
            ..Header::default()
        },
        &Body::new().meta(&EMPTY_META),
    );
    let e = err(&bytes, "version 2");
    assert_eq!(
        e,
        ImageError::UnsupportedVersion {
            found: 2,
            supported: 1
        }
    );
    assert!(e.to_string().contains("recompile the policies"), "{e}");
}

#[test]
fn wrong_header_length_is_refused() {
    let bytes = seal_with(
        Header {
            header_len: 64,
            ..Header::default()
        },
        &Body::new().meta(&EMPTY_META),
    );
    assert_eq!(
        err(&bytes, "header_len 64"),
        ImageError::BadHeaderLength {
            found: 64,
            expected: 48
        }
    );
}

#[test]
fn non_zero_reserved_header_field_is_refused() {
    let bytes = seal_with(
        Header {
            reserved: 7,
            ..Header::default()
        },
        &Body::new().meta(&EMPTY_META),
    );
    assert_eq!(
        err(&bytes, "reserved"),
        ImageError::NonZeroReserved {
            offset: 44,
            value: 7
        }
    );
}

#[test]
fn body_length_mismatch_is_refused() {
    let body = Body::new().meta(&EMPTY_META);
    for declared in [25u64, 23, 0, u64::MAX] {
        let bytes = seal_with(
            Header {
                body_len: Some(declared),
                ..Header::default()
            },
            &body,
        );
        assert_eq!(
            err(&bytes, "body_len"),
            ImageError::LengthMismatch {
                declared,
                actual: 24
            }
        );
    }
    // Extra bytes after a valid image.
    let mut bytes = seal(&body);
    bytes.push(0);
    let e = err(&bytes, "appended byte");
    assert_eq!(
        e,
        ImageError::LengthMismatch {
            declared: 24,
            actual: 25
        }
    );
    assert!(e.to_string().contains("1 extra bytes at offset 72"), "{e}");
}

#[test]
fn checksum_mismatch_names_both_values() {
    let mut bytes = seal(&Body::new().meta(&EMPTY_META));
    bytes[40..44].copy_from_slice(&0x1234_abcdu32.to_le_bytes());
    let e = err(&bytes, "bad checksum");
    assert_eq!(
        e,
        ImageError::Checksum {
            expected: 0x1234_abcd,
            actual: crc(&bytes)
        }
    );
    let message = e.to_string();
    assert!(message.contains("0x1234abcd"), "{message}");
    assert!(
        message.contains(&format!("0x{:08x}", crc(&bytes))),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------
// Section checks on hand-built images (correct checksums)
// ---------------------------------------------------------------------------------------

#[test]
fn hand_built_images_decode() {
    // The helpers themselves produce valid images, so the tests below change one thing each.
    let image = ok(
        decode(&with_map(&MapPayload::new(&[rec(1, 2), rec(3, 4)]))),
        "hand-built",
    );
    assert_eq!(image.abi_hash, 0xa1);
    assert_eq!(image.catalog_hash, 0xc1);
    assert_eq!(image.maps.len(), 1);
    assert_eq!(image.maps[0].entries.len(), 2);
    // The largest allowed key and value: 64 KiB.
    let mut big = MapPayload::new(&[]);
    big.key_size = 65536;
    big.value_size = 65536;
    big.count = 1;
    big.records = vec![0; 2 * 65536];
    ok(decode(&with_map(&big)), "64 KiB key and value");
}

#[test]
fn unknown_section_kind_is_refused() {
    let bytes = seal(&Body::new().meta(&EMPTY_META).section(7, &[1, 2, 3]));
    let e = err(&bytes, "kind 7");
    assert_eq!(
        e,
        ImageError::UnknownSection {
            offset: MAP_SECTION,
            kind: 7
        }
    );
    assert!(e.to_string().contains("offset 72"), "{e}");
}

#[test]
fn meta_must_come_first_and_once() {
    assert_eq!(
        err(&seal(&Body::new()), "empty body"),
        ImageError::MissingMeta { offset: 48 }
    );
    let map = MapPayload::new(&[]).bytes();
    assert_eq!(
        err(&seal(&Body::new().map(&map)), "map first"),
        ImageError::MissingMeta { offset: 48 }
    );
    assert_eq!(
        err(
            &seal(&Body::new().meta(&EMPTY_META).meta(&EMPTY_META)),
            "two metas"
        ),
        ImageError::DuplicateMeta {
            offset: MAP_SECTION
        }
    );
}

#[test]
fn corrupt_meta_is_refused() {
    // A string with invalid UTF-8 (policies: 1 element, id 0, name of length 1 = 0xff).
    let bytes = seal(&Body::new().meta(&[1, 0, 1, 0xff, 0, 0, 0, 0, 0]));
    match err(&bytes, "bad utf-8") {
        ImageError::Meta { offset, message } => {
            assert_eq!(offset, 64);
            assert!(message.starts_with("postcard"), "{message}");
        }
        other => panic!("expected Meta, got {other:?}"),
    }
    // 2^32-1 policies claimed in a 5-byte payload: refused (by running out of input, with no
    // allocation sized by the claim).
    let bytes = seal(&Body::new().meta(&[0xff, 0xff, 0xff, 0xff, 0x0f]));
    assert!(matches!(
        err(&bytes, "huge count"),
        ImageError::Meta { offset: 64, .. }
    ));
    // Empty payload.
    assert!(matches!(
        err(&seal(&Body::new().meta(&[])), "empty meta"),
        ImageError::Meta { offset: 64, .. }
    ));
}

#[test]
fn trailing_bytes_in_a_section_are_refused() {
    let bytes = seal(&Body::new().meta(&[0, 0, 0, 0, 0, 9]));
    assert_eq!(
        err(&bytes, "meta + 1"),
        ImageError::TrailingBytes { offset: 69, len: 1 }
    );
    let mut map = MapPayload::new(&[rec(1, 1)]);
    map.records.extend_from_slice(&[0, 0, 0]);
    assert_eq!(
        err(&with_map(&map), "map + 3"),
        ImageError::TrailingBytes {
            offset: MAP_RECORDS + 8,
            len: 3
        }
    );
}

#[test]
fn leftover_bytes_after_the_last_section_are_refused() {
    let bytes = seal(&Body::new().meta(&EMPTY_META).raw(&[0; 8]));
    assert_eq!(
        err(&bytes, "8 stray bytes"),
        ImageError::Truncated {
            offset: MAP_SECTION,
            what: "section header",
            needed: 16,
            available: 8
        }
    );
}

#[test]
fn section_lengths_beyond_the_body_are_refused() {
    let mut body = Body::new()
        .meta(&EMPTY_META)
        .map(&MapPayload::new(&[]).bytes());
    // The MAP section claims u64::MAX payload bytes.
    body.0[MAP_SECTION - 48 + 8..MAP_SECTION - 48 + 16].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(
        err(&seal(&body), "section len"),
        ImageError::Truncated {
            offset: MAP_PAYLOAD,
            what: "MAP section payload",
            needed: u64::MAX,
            available: 32
        }
    );
    // A section without its padding.
    let body = Body::new().meta(&EMPTY_META);
    let cut = Body(body.0[..body.0.len() - 1].to_vec());
    assert_eq!(
        err(&seal(&cut), "missing padding"),
        ImageError::Truncated {
            offset: 69,
            what: "section padding",
            needed: 3,
            available: 2
        }
    );
}

#[test]
fn non_zero_reserved_section_field_is_refused() {
    let mut body = Body::new().meta(&EMPTY_META);
    body.0[4] = 1;
    assert_eq!(
        err(&seal(&body), "section reserved"),
        ImageError::NonZeroReserved {
            offset: 52,
            value: 1
        }
    );
}

#[test]
fn non_zero_padding_is_refused() {
    // Section padding: META payload at 64..68, padding 68..72.
    let mut body = Body::new().meta(&EMPTY_META);
    body.0[69 - 48] = 1;
    assert_eq!(
        err(&seal(&body), "section padding"),
        ImageError::NonZeroPadding { offset: 69 }
    );
    // Map name padding: name "m" at 90, one padding byte at 91.
    let mut body = Body::new()
        .meta(&EMPTY_META)
        .map(&MapPayload::new(&[]).bytes());
    body.0[MAP_NAME_PAD - 48] = 0x80;
    let e = err(&seal(&body), "name padding");
    assert_eq!(
        e,
        ImageError::NonZeroPadding {
            offset: MAP_NAME_PAD
        }
    );
    assert!(e.to_string().contains("offset 91"), "{e}");
}

#[test]
fn bad_map_names_are_refused() {
    for (name, reason) in [
        (&b""[..], "empty"),
        (b"sixteen_bytes_xx", "longer than 15 bytes"),
        (b"Upper", "a byte outside [a-z0-9_]"),
        (b"a-b", "a byte outside [a-z0-9_]"),
        (b"caf\xc3\xa9", "a byte outside [a-z0-9_]"),
    ] {
        let mut map = MapPayload::new(&[]);
        map.name = name.to_vec();
        assert_eq!(
            err(&with_map(&map), "bad name"),
            ImageError::BadMapName {
                offset: MAP_PAYLOAD,
                reason
            },
            "name {name:?}"
        );
    }
}

#[test]
fn unknown_map_type_is_refused() {
    for value in [0, 3, 12, u32::MAX] {
        let mut map = MapPayload::new(&[]);
        map.map_type = value;
        assert_eq!(
            err(&with_map(&map), "map type"),
            ImageError::UnknownMapType {
                offset: MAP_TYPE,
                value
            }
        );
    }
}

#[test]
fn bad_key_and_value_sizes_are_refused() {
    for (key_size, value_size) in [(0, 4), (4, 0), (65537, 4), (4, u32::MAX)] {
        let mut map = MapPayload::new(&[]);
        map.key_size = key_size;
        map.value_size = value_size;
        assert_eq!(
            err(&with_map(&map), "sizes"),
            ImageError::BadSizes {
                offset: MAP_KEY_SIZE,
                map: "m".into(),
                key_size,
                value_size
            }
        );
    }
}

#[test]
fn zero_max_entries_is_refused() {
    let mut map = MapPayload::new(&[]);
    map.max_entries = 0;
    assert_eq!(
        err(&with_map(&map), "max_entries 0"),
        ImageError::ZeroMaxEntries {
            offset: MAP_MAX_ENTRIES,
            map: "m".into()
        }
    );
}

#[test]
fn count_above_max_entries_is_refused() {
    let mut map = MapPayload::new(&[rec(1, 1), rec(2, 2), rec(3, 3)]);
    map.max_entries = 2;
    assert_eq!(
        err(&with_map(&map), "count 3 > 2"),
        ImageError::TooManyEntries {
            offset: MAP_COUNT,
            map: "m".into(),
            count: 3,
            max_entries: 2
        }
    );
}

#[test]
fn count_needing_more_bytes_than_present_is_refused_before_allocating() {
    // 2^32-1 one-byte keys with one-byte values claimed, 2 bytes present. Refused by the
    // length check: allocating for the claim first would reserve ~200 GiB and abort.
    let mut map = MapPayload::new(&[]);
    map.key_size = 1;
    map.value_size = 1;
    map.max_entries = u32::MAX;
    map.count = u32::MAX;
    map.records = vec![1, 2];
    let e = err(&with_map(&map), "huge count");
    assert_eq!(
        e,
        ImageError::Truncated {
            offset: MAP_RECORDS,
            what: "map entries",
            needed: 2 * u64::from(u32::MAX),
            available: 2
        }
    );
    assert!(e.to_string().contains("offset 116"), "{e}");
}

#[test]
fn duplicate_map_names_are_refused() {
    let map = MapPayload::new(&[]).bytes();
    let bytes = seal(&Body::new().meta(&EMPTY_META).map(&map).map(&map));
    let second = MAP_SECTION + 16 + map.len().next_multiple_of(8);
    assert_eq!(
        err(&bytes, "two maps named m"),
        ImageError::DuplicateMap {
            offset: second + 16,
            name: "m".into()
        }
    );
}

#[test]
fn duplicate_keys_are_refused() {
    let map = MapPayload::new(&[rec(1, 1), rec(2, 2), rec(1, 3)]);
    assert_eq!(
        err(&with_map(&map), "key 1 twice"),
        ImageError::DuplicateKey {
            offset: MAP_RECORDS + 16,
            map: "m".into(),
            index: 2
        }
    );
}

// ---------------------------------------------------------------------------------------
// encode_checked, check_compat
// ---------------------------------------------------------------------------------------

#[test]
fn encode_checked_refuses_what_the_decoder_would() {
    let mut image = sample();
    image.maps[0].entries[1].0.push(0);
    assert_eq!(
        encode_checked(&image),
        Err(ImageError::EntrySize {
            map: "ev".into(),
            index: 1,
            key_len: 5,
            value_len: 8,
            key_size: 4,
            value_size: 8
        })
    );
    let mut image = sample();
    image.maps[1].name = "Config".into();
    assert!(matches!(
        encode_checked(&image),
        Err(ImageError::BadMapName { .. })
    ));
    let mut image = sample();
    image.maps[1].max_entries = 0;
    assert!(matches!(
        encode_checked(&image),
        Err(ImageError::ZeroMaxEntries { .. })
    ));
}

#[test]
fn check_compat_compares_both_hashes() {
    let image = sample();
    assert_eq!(
        image.check_compat(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210),
        Ok(())
    );
    let e = match image.check_compat(1, 0xfedc_ba98_7654_3210) {
        Err(e) => e,
        Ok(()) => panic!("ABI mismatch accepted"),
    };
    assert_eq!(
        e,
        ImageError::AbiMismatch {
            image: 0x0123_4567_89ab_cdef,
            expected: 1
        }
    );
    assert!(e.to_string().contains("0x0123456789abcdef"), "{e}");
    assert!(e.to_string().contains("recompile the policies"), "{e}");
    let e = match image.check_compat(0x0123_4567_89ab_cdef, 2) {
        Err(e) => e,
        Ok(()) => panic!("catalog mismatch accepted"),
    };
    assert_eq!(
        e,
        ImageError::CatalogMismatch {
            image: 0xfedc_ba98_7654_3210,
            expected: 2
        }
    );
    assert!(e.to_string().contains("recompile the policies"), "{e}");
}

// ---------------------------------------------------------------------------------------
// write_atomic
// ---------------------------------------------------------------------------------------

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("tempdir: {e}"),
    }
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => panic!("read_dir: {e}"),
    };
    let mut names: Vec<String> = entries
        .map(|entry| match entry {
            Ok(entry) => entry.file_name().to_string_lossy().into_owned(),
            Err(e) => panic!("read_dir entry: {e}"),
        })
        .collect();
    names.sort();
    names
}

#[test]
fn write_atomic_replaces_the_target_and_leaves_no_temp_file() {
    let dir = tempdir();
    let path = dir.path().join("rules.bin");
    let first = encode(&empty_image());
    let second = encode(&sample());
    for bytes in [&first, &second] {
        if let Err(e) = write_atomic(&path, bytes) {
            panic!("write_atomic: {e}");
        }
        match fs::read(&path) {
            Ok(read) => assert_eq!(&read, bytes),
            Err(e) => panic!("read back: {e}"),
        }
        assert_eq!(listing(dir.path()), ["rules.bin"]);
    }
}

#[test]
fn write_atomic_failure_leaves_no_temp_file() {
    let dir = tempdir();
    // The target is a non-empty directory: the rename fails after the temp file was written.
    let target = dir.path().join("rules.bin");
    if let Err(e) = fs::create_dir(&target).and_then(|()| fs::write(target.join("x"), b"x")) {
        panic!("setup: {e}");
    }
    assert!(write_atomic(&target, b"image").is_err());
    assert_eq!(listing(dir.path()), ["rules.bin"]);
    // A missing directory: nothing is created.
    assert!(write_atomic(&dir.path().join("missing/rules.bin"), b"image").is_err());
    assert_eq!(listing(dir.path()), ["rules.bin"]);
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

/// Makes `bytes` pass the header length and checksum checks, so decoding reaches the
/// structural checks.
fn fix_up(bytes: &mut [u8]) {
    if bytes.len() >= HEADER_LEN {
        let body_len = (bytes.len() - HEADER_LEN) as u64;
        bytes[32..40].copy_from_slice(&body_len.to_le_bytes());
        reseal(bytes);
    }
}

/// Decoding never panics; whatever decodes re-encodes to an image that decodes equal.
fn decode_invariants(bytes: &[u8]) -> Result<(), TestCaseError> {
    if let Ok(image) = decode(bytes) {
        let again = decode(&encode(&image));
        prop_assert_eq!(again, Ok(image));
    }
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(usize, u8),
    SetByte(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    SetU32(usize, u32),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(i, b)| Mutation::FlipBit(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, v)| Mutation::SetByte(i, v)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..32).prop_map(|(i, n)| Mutation::Remove(i, n)),
        (
            any::<usize>(),
            prop_oneof![Just(0u32), Just(u32::MAX), Just(1 << 31), any::<u32>()]
        )
            .prop_map(|(i, v)| Mutation::SetU32(i, v)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let len = bytes.len();
    match m {
        Mutation::FlipBit(i, b) => bytes[i % len] ^= 1 << b,
        Mutation::SetByte(i, v) => bytes[i % len] = *v,
        Mutation::Truncate(i) => bytes.truncate(i % len),
        Mutation::Insert(i, v) => {
            let at = i % (len + 1);
            bytes.splice(at..at, v.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let at = i % len;
            bytes.drain(at..(at + n).min(len));
        }
        Mutation::SetU32(i, v) => {
            let at = (i % (len / 4)) * 4;
            bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
}

fn map_strategy() -> impl Strategy<Value = MapSection> {
    (
        "[a-z0-9_]{1,15}",
        prop::sample::select(MapType::ALL.to_vec()),
        1usize..=9,
        1usize..=9,
        any::<u32>(),
        0u32..4,
    )
        .prop_flat_map(|(name, map_type, key_size, value_size, flags, spare)| {
            prop::collection::btree_map(
                prop::collection::vec(any::<u8>(), key_size),
                prop::collection::vec(any::<u8>(), value_size),
                0..8,
            )
            .prop_map(|m| m.into_iter().collect::<Vec<_>>())
            .prop_shuffle()
            .prop_map(move |entries| MapSection {
                name: name.clone(),
                map_type,
                key_size: key_size as u32,
                value_size: value_size as u32,
                max_entries: entries.len().max(1) as u32 + spare,
                flags,
                entries,
            })
        })
}

fn meta_strategy() -> impl Strategy<Value = Meta> {
    let s = || "\\PC{0,12}";
    let strings = move || prop::collection::vec(s(), 0..4);
    (
        prop::collection::vec(
            (any::<u8>(), s(), s(), strings()).prop_map(|(id, name, description, actions)| {
                PolicyMeta {
                    id,
                    name,
                    description,
                    actions,
                }
            }),
            0..4,
        ),
        prop::collection::vec(
            (any::<u32>(), s()).prop_map(|(id, name)| EventMeta { id, name }),
            0..4,
        ),
        strings(),
        prop::collection::vec(
            (any::<u8>(), any::<u32>(), s(), s(), strings(), s()).prop_map(
                |(policy, event, field, op, values, reason)| UserspaceFilter {
                    policy,
                    event,
                    field,
                    op,
                    values,
                    reason,
                },
            ),
            0..3,
        ),
    )
        .prop_map(|(policies, events, probes, userspace_filters)| Meta {
            policies,
            events,
            probes,
            userspace_filters,
            detectors: Vec::new(),
        })
}

fn image_strategy() -> impl Strategy<Value = Image> {
    (
        any::<u64>(),
        any::<u64>(),
        meta_strategy(),
        prop::collection::vec(map_strategy(), 0..5),
    )
        .prop_map(|(abi_hash, catalog_hash, meta, mut maps)| {
            let mut seen = std::collections::HashSet::new();
            maps.retain(|m| seen.insert(m.name.clone()));
            Image {
                abi_hash,
                catalog_hash,
                meta,
                maps,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        decode_invariants(&bytes)?;
        // The same bytes behind a valid header prefix, with a fixed-up checksum.
        let mut framed = encode(&empty_image())[..HEADER_LEN].to_vec();
        framed.extend_from_slice(&bytes);
        fix_up(&mut framed);
        decode_invariants(&framed)?;
    }

    #[test]
    fn mutated_images_never_panic(
        image in image_strategy(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let original = encode(&image);
        let mut bytes = original.clone();
        for m in &mutations {
            apply(&mut bytes, m);
            if bytes.len() < 8 {
                break;
            }
        }
        if bytes != original {
            // Raw: the checksum or a header check must catch a single bit flip or byte change.
            let single_byte = matches!(
                mutations.as_slice(),
                [Mutation::FlipBit(..) | Mutation::SetByte(..)]
            );
            if single_byte {
                prop_assert!(decode(&bytes).is_err());
            }
        }
        decode_invariants(&bytes)?;
        // With the length and checksum fixed up, the structural checks see the damage.
        fix_up(&mut bytes);
        decode_invariants(&bytes)?;
    }

    #[test]
    fn valid_images_round_trip(image in image_strategy()) {
        let bytes = encode(&image);
        prop_assert_eq!(&bytes, &encode(&image));
        prop_assert_eq!(decode(&bytes), Ok(image.clone()));
        prop_assert_eq!(encode_checked(&image), Ok(bytes));
    }
}
