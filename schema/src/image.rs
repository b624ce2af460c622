//! The map image: the binary file `tracee-compile -o rules.bin` writes and `tracee-load`
//! installs into kernel BPF maps. This module is the container format only (header,
//! sections, checksum): what the maps *mean* is the business of `abi` and the compiler's
//! lowering. The byte layout is documented in `docs/image-format.md` ("Container").
//!
//! [`encode`] is deterministic (the same [`Image`] gives the same bytes) and [`decode`] is
//! safe on hostile input: it never panics, never recurses on the input, checks every length
//! against the bytes actually present before allocating, and reports which check failed at
//! which byte offset.

use std::collections::HashSet;
use std::fmt;
use std::fs;
use std::io::{self, Write as _};
use std::marker::PhantomData;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::de::{Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};

/// The first 8 bytes of every image: `89 54 52 43 49 4d 47 0a` (`\x89TRCIMG\n`).
///
/// As in PNG, the non-ASCII first byte makes text tools treat the file as binary and
/// detects transfers that strip the 8th bit, and the final `\n` detects newline
/// translation (`\n` -> `\r\n`).
pub const MAGIC: [u8; 8] = *b"\x89TRCIMG\n";
/// The format version this build writes and the only one it reads.
pub const FORMAT_VERSION: u32 = 1;
/// Length of the fixed header that starts every image.
pub const HEADER_LEN: usize = 48;
/// Section kind of the (single, first) META section: postcard-encoded [`Meta`].
pub const SECTION_META: u32 = 1;
/// Section kind of a MAP section: one [`MapSection`].
pub const SECTION_MAP: u32 = 2;
/// Longest map name: `BPF_OBJ_NAME_LEN - 1`.
pub const MAX_MAP_NAME_LEN: usize = 15;
/// Largest key or value size a map section may declare (64 KiB).
pub const MAX_KEY_OR_VALUE_SIZE: u32 = 64 * 1024;
/// `BPF_F_NO_PREALLOC` map flag (required by the kernel for LPM tries).
pub const BPF_F_NO_PREALLOC: u32 = 1;

/// Offsets of the header fields (see `docs/image-format.md`).
const OFF_VERSION: usize = 8;
const OFF_HEADER_LEN: usize = 12;
const OFF_ABI_HASH: usize = 16;
const OFF_CATALOG_HASH: usize = 24;
const OFF_BODY_LEN: usize = 32;
const OFF_CHECKSUM: usize = 40;
const OFF_RESERVED: usize = 44;

/// A decoded (or to-be-encoded) map image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// Hash of the record layouts (abi) the maps were built for; the loader refuses a mismatch.
    pub abi_hash: u64,
    /// Hash of the event catalog the ids refer to.
    pub catalog_hash: u64,
    pub meta: Meta,
    pub maps: Vec<MapSection>,
}

/// Everything that is not raw map bytes, serde + postcard encoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Meta {
    /// The policies, in load order (policy id = bit in the policy bitmaps).
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub policies: Vec<PolicyMeta>,
    /// The events the image needs.
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub events: Vec<EventMeta>,
    /// The kernel hooks the loader must attach, e.g. `tp/syscalls/sys_exit_openat`.
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub probes: Vec<String>,
    /// Rule filters the kernel cannot decide: the loader applies them in userspace.
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub userspace_filters: Vec<UserspaceFilter>,
    /// The detectors the policies select: what a detection record prints as, and the
    /// conditions the loader decides.
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub detectors: Vec<DetectorMeta>,
}

/// One detector of the image (docs/detectors.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DetectorMeta {
    /// The event id its detections carry.
    pub event_id: u32,
    /// Its event name (`anti_debugging`).
    pub name: String,
    /// Tracee's detector id (`TRC-102`).
    pub id: String,
    pub description: String,
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub tags: Vec<String>,
    pub threat: ThreatMeta,
    /// The base events its detections come from, with what the loader decides on each.
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub bases: Vec<DetectBaseMeta>,
}

/// Tracee's `threat` object of a detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ThreatMeta {
    pub name: String,
    pub description: String,
    /// `info`, `low`, `medium`, `high`, `critical`.
    pub severity: String,
    pub technique_id: String,
    pub technique_name: String,
    pub tactic: String,
}

/// A base event of a detector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct DetectBaseMeta {
    pub event: u32,
    /// CEL conditions the loader evaluates on the record (all must hold).
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub loader: Vec<LoaderCondition>,
}

/// A detector condition the kernel cannot decide.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct LoaderCondition {
    pub condition: String,
    /// Why the kernel cannot decide it (shown by `inspect --explain`).
    pub reason: String,
}

/// One policy of the image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PolicyMeta {
    pub id: u8,
    pub name: String,
    pub description: String,
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub actions: Vec<String>,
}

/// One event the image needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EventMeta {
    pub id: u32,
    pub name: String,
}

/// A rule filter the kernel cannot decide, applied by the loader in userspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UserspaceFilter {
    pub policy: u8,
    pub event: u32,
    pub field: String,
    pub op: String,
    #[serde(deserialize_with = "seq_without_prealloc")]
    pub values: Vec<String>,
    /// Why the kernel cannot decide it (shown by `inspect --explain`).
    pub reason: String,
}

/// The kernel's `enum bpf_map_type` numbers (`include/uapi/linux/bpf.h`) of the map types
/// an image may contain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u32)]
pub enum MapType {
    /// `BPF_MAP_TYPE_HASH`
    Hash = 1,
    /// `BPF_MAP_TYPE_ARRAY`
    Array = 2,
    /// `BPF_MAP_TYPE_PERCPU_ARRAY`
    PercpuArray = 6,
    /// `BPF_MAP_TYPE_LRU_HASH`
    LruHash = 9,
    /// `BPF_MAP_TYPE_LPM_TRIE`
    LpmTrie = 11,
}

impl MapType {
    /// Every map type, in kernel number order.
    pub const ALL: [MapType; 5] = [
        MapType::Hash,
        MapType::Array,
        MapType::PercpuArray,
        MapType::LruHash,
        MapType::LpmTrie,
    ];

    /// The kernel's `bpf_map_type` number.
    pub fn as_u32(self) -> u32 {
        self as u32
    }

    /// The map type with kernel number `value`, if images may contain it.
    pub fn from_u32(value: u32) -> Option<MapType> {
        MapType::ALL.into_iter().find(|t| t.as_u32() == value)
    }

    /// The kernel's name, e.g. `BPF_MAP_TYPE_LPM_TRIE`.
    pub fn kernel_name(self) -> &'static str {
        match self {
            MapType::Hash => "BPF_MAP_TYPE_HASH",
            MapType::Array => "BPF_MAP_TYPE_ARRAY",
            MapType::PercpuArray => "BPF_MAP_TYPE_PERCPU_ARRAY",
            MapType::LruHash => "BPF_MAP_TYPE_LRU_HASH",
            MapType::LpmTrie => "BPF_MAP_TYPE_LPM_TRIE",
        }
    }
}

impl fmt::Display for MapType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kernel_name())
    }
}

/// One BPF map and its entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapSection {
    /// The BPF map name in the loader's object: 1 to 15 bytes of `[a-z0-9_]`.
    pub name: String,
    pub map_type: MapType,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    /// `map_flags`, e.g. [`BPF_F_NO_PREALLOC`] (required for LPM tries).
    pub flags: u32,
    /// Each key exactly `key_size` bytes, each value exactly `value_size` bytes, no key twice.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Image {
    /// The map section named `name`.
    pub fn map(&self, name: &str) -> Option<&MapSection> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// Refuses an image built for other record layouts or another event catalog than the
    /// loader's. The decoder does not compare hashes itself: it returns them.
    pub fn check_compat(&self, abi_hash: u64, catalog_hash: u64) -> Result<(), ImageError> {
        if self.abi_hash != abi_hash {
            return Err(ImageError::AbiMismatch {
                image: self.abi_hash,
                expected: abi_hash,
            });
        }
        if self.catalog_hash != catalog_hash {
            return Err(ImageError::CatalogMismatch {
                image: self.catalog_hash,
                expected: catalog_hash,
            });
        }
        Ok(())
    }
}

/// Why an image was refused. Offsets are byte offsets from the start of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error(
        "image too short: {actual} bytes, but the header alone is {needed} bytes \
         (the file is empty or truncated)"
    )]
    TooShort { needed: usize, actual: usize },

    #[error(
        "not a tracee map image: bytes 0..8 are {}, expected {} (\"\\x89TRCIMG\\n\"){}",
        hex(found),
        hex(&MAGIC),
        magic_hint(found)
    )]
    BadMagic { found: [u8; 8] },

    #[error(
        "unsupported image format version {found} (header offset 8): this build reads \
         version {supported}; the image was written by a different tracee-compile release, \
         recompile the policies with the tracee-compile that matches this loader"
    )]
    UnsupportedVersion { found: u32, supported: u32 },

    #[error(
        "bad header length at offset 12: {found}, but format version 1 headers are \
         {expected} bytes (the file is corrupt)"
    )]
    BadHeaderLength { found: u32, expected: u32 },

    #[error("reserved field at offset {offset} is 0x{value:08x}, must be 0 (the file is corrupt)")]
    NonZeroReserved { offset: usize, value: u32 },

    #[error("{}", length_mismatch(*declared, *actual))]
    LengthMismatch { declared: u64, actual: u64 },

    #[error(
        "checksum mismatch: the header (offset 40) says 0x{expected:08x}, but the file's \
         bytes (all except offsets 40..44) give 0x{actual:08x} (the file is corrupt)"
    )]
    Checksum { expected: u32, actual: u32 },

    #[error(
        "truncated {what} at offset {offset}: needs {needed} bytes, only {available} remain \
         in its enclosing section or body (the image was written by a broken encoder)"
    )]
    Truncated {
        offset: usize,
        what: &'static str,
        needed: u64,
        available: u64,
    },

    #[error(
        "unknown section kind {kind} at offset {offset} (known: 1 = META, 2 = MAP); \
         the image may come from a newer tracee-compile"
    )]
    UnknownSection { offset: usize, kind: u32 },

    #[error(
        "missing META section: the body must start with a META section (kind 1) at offset {offset}"
    )]
    MissingMeta { offset: usize },

    #[error("second META section at offset {offset}: an image has exactly one, first")]
    DuplicateMeta { offset: usize },

    #[error("META section payload at offset {offset} does not decode: {message}")]
    Meta { offset: usize, message: String },

    #[error("bad map name at offset {offset}: {reason} (names are 1 to 15 bytes of [a-z0-9_])")]
    BadMapName { offset: usize, reason: &'static str },

    #[error(
        "unknown map type {value} at offset {offset} (known bpf_map_type numbers: 1 hash, \
         2 array, 6 percpu array, 9 LRU hash, 11 LPM trie)"
    )]
    UnknownMapType { offset: usize, value: u32 },

    #[error(
        "map `{map}`: bad key/value size at offset {offset}: key_size {key_size}, \
         value_size {value_size} (each must be 1 to 65536 bytes)"
    )]
    BadSizes {
        offset: usize,
        map: String,
        key_size: u32,
        value_size: u32,
    },

    #[error("map `{map}`: max_entries at offset {offset} is 0 (the kernel refuses empty maps)")]
    ZeroMaxEntries { offset: usize, map: String },

    #[error(
        "map `{map}`: entry count {count} at offset {offset} exceeds its max_entries {max_entries}"
    )]
    TooManyEntries {
        offset: usize,
        map: String,
        count: u32,
        max_entries: u32,
    },

    #[error("second map named `{name}` at offset {offset}: map names are unique")]
    DuplicateMap { offset: usize, name: String },

    #[error(
        "map `{map}`: entry {index} at offset {offset} repeats an earlier key \
         (one of them would be silently lost)"
    )]
    DuplicateKey {
        offset: usize,
        map: String,
        index: u32,
    },

    #[error("non-zero padding byte at offset {offset} (padding must be zero)")]
    NonZeroPadding { offset: usize },

    #[error(
        "{len} trailing bytes at offset {offset}: the section's payload is longer than its \
         content"
    )]
    TrailingBytes { offset: usize, len: u64 },

    #[error(
        "map `{map}`: entry {index} has a {key_len}-byte key and a {value_len}-byte value, \
         but the map declares key_size {key_size} and value_size {value_size}"
    )]
    EntrySize {
        map: String,
        index: usize,
        key_len: usize,
        value_len: usize,
        key_size: u32,
        value_size: u32,
    },

    #[error(
        "image was compiled for record layout (ABI) hash 0x{image:016x}, but this loader \
         expects 0x{expected:016x}: recompile the policies with the tracee-compile that \
         matches this loader"
    )]
    AbiMismatch { image: u64, expected: u64 },

    #[error(
        "image was compiled against event catalog hash 0x{image:016x}, but this loader \
         expects 0x{expected:016x}: recompile the policies with the tracee-compile that \
         matches this loader"
    )]
    CatalogMismatch { image: u64, expected: u64 },
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Printable text (a YAML or JSON policy, say), not the binary an image starts with.
pub fn looks_like_text(bytes: &[u8]) -> bool {
    // A prefix may end inside a character: that is still text.
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !text.is_empty()
        && text
            .chars()
            .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
}

fn magic_hint(found: &[u8; 8]) -> &'static str {
    if found.starts_with(b"\x7fELF") {
        " (this is an ELF file: pass the map image, not the BPF object)"
    } else if found[1..7] == MAGIC[1..7] {
        " (the right name with damaged first or last byte: the file went through a text-mode \
         or 7-bit transfer)"
    } else if found.starts_with(b"TRCIMG") || found.starts_with(b"\xc2\x89TRCIM") {
        " (the file went through a text-mode or 7-bit transfer)"
    } else if looks_like_text(found) {
        " (this is text, a policy file? Compile it first: `tracee-compile FILE -o rules.bin`, \
         and give rules.bin)"
    } else {
        ""
    }
}

fn length_mismatch(declared: u64, actual: u64) -> String {
    if actual < declared {
        format!(
            "truncated image: the header (offset 32) declares {declared} body bytes after \
             offset 48, but only {actual} are present ({} missing)",
            declared - actual
        )
    } else {
        format!(
            "body length mismatch: the header (offset 32) declares {declared} body bytes \
             after offset 48, but {actual} are present ({} extra bytes at offset {})",
            actual - declared,
            declared.saturating_add(HEADER_LEN as u64)
        )
    }
}

// ---------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------

/// Encodes `image`. Deterministic: the same image gives the same bytes; sections and entries
/// are written in the given order, never reordered.
///
/// The image is written as given: one that breaks the rules the decoder checks (a bad map
/// name, an entry of the wrong size, ...) gives bytes that [`decode`] refuses. The compiler
/// should call [`encode_checked`], which guarantees the loader will accept the bytes.
pub fn encode(image: &Image) -> Vec<u8> {
    // postcard fails only for types it cannot represent (none in `Meta`); an empty META
    // payload would be refused by the decoder, so this fallback cannot produce a valid image.
    let meta = postcard::to_stdvec(&image.meta).unwrap_or_default();
    let maps_len: usize = image
        .maps
        .iter()
        .map(|m| {
            m.entries
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
                + 64
        })
        .sum();
    let mut out = Vec::with_capacity(HEADER_LEN + 24 + meta.len() + maps_len);
    out.resize(HEADER_LEN, 0);

    put_section(&mut out, SECTION_META, |out| out.extend_from_slice(&meta));
    for map in &image.maps {
        put_section(&mut out, SECTION_MAP, |out| put_map(out, map));
    }

    let body_len = (out.len() - HEADER_LEN) as u64;
    out[..8].copy_from_slice(&MAGIC);
    out[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    out[OFF_HEADER_LEN..OFF_HEADER_LEN + 4].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    out[OFF_ABI_HASH..OFF_ABI_HASH + 8].copy_from_slice(&image.abi_hash.to_le_bytes());
    out[OFF_CATALOG_HASH..OFF_CATALOG_HASH + 8].copy_from_slice(&image.catalog_hash.to_le_bytes());
    out[OFF_BODY_LEN..OFF_BODY_LEN + 8].copy_from_slice(&body_len.to_le_bytes());
    // The reserved field (44..48) stays zero; the checksum covers it and everything else.
    let sum = checksum(&out);
    out[OFF_CHECKSUM..OFF_CHECKSUM + 4].copy_from_slice(&sum.to_le_bytes());
    out
}

/// Checks that every entry has its map's key and value size, encodes, and decodes the
/// result: `Ok` bytes are exactly what the loader's decoder accepts. What the compiler calls
/// before writing an image.
pub fn encode_checked(image: &Image) -> Result<Vec<u8>, ImageError> {
    for map in &image.maps {
        for (index, (key, value)) in map.entries.iter().enumerate() {
            if key.len() as u64 != u64::from(map.key_size)
                || value.len() as u64 != u64::from(map.value_size)
            {
                return Err(ImageError::EntrySize {
                    map: map.name.clone(),
                    index,
                    key_len: key.len(),
                    value_len: value.len(),
                    key_size: map.key_size,
                    value_size: map.value_size,
                });
            }
        }
    }
    let bytes = encode(image);
    decode(&bytes)?;
    Ok(bytes)
}

/// Appends one section: header, payload written by `write`, zero padding to 8 bytes.
fn put_section(out: &mut Vec<u8>, kind: u32, write: impl FnOnce(&mut Vec<u8>)) {
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    let len_at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    let start = out.len();
    write(out);
    let len = (out.len() - start) as u64;
    out[len_at..len_at + 8].copy_from_slice(&len.to_le_bytes());
    out.resize(out.len() + pad8(len) as usize, 0);
}

fn put_map(out: &mut Vec<u8>, map: &MapSection) {
    // A name longer than u16::MAX is cut here; such a name is invalid (> 15 bytes) anyway.
    let name = map.name.as_bytes();
    let name = &name[..name.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&(name.len() as u16).to_le_bytes());
    out.extend_from_slice(name);
    out.resize(out.len() + pad4(2 + name.len()), 0);
    for field in [
        map.map_type.as_u32(),
        map.key_size,
        map.value_size,
        map.max_entries,
        map.flags,
        u32::try_from(map.entries.len()).unwrap_or(u32::MAX),
    ] {
        out.extend_from_slice(&field.to_le_bytes());
    }
    for (key, value) in &map.entries {
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    }
}

/// Padding after `len` bytes to reach a multiple of 8.
fn pad8(len: u64) -> u64 {
    (8 - len % 8) % 8
}

/// Padding after `len` bytes to reach a multiple of 4.
fn pad4(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// CRC-32/IEEE of every byte of the image except the checksum field (offsets 40..44).
/// `bytes` must hold at least the header.
fn checksum(bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(bytes.get(..OFF_CHECKSUM).unwrap_or_default());
    hasher.update(bytes.get(OFF_RESERVED..).unwrap_or_default());
    hasher.finalize()
}

// ---------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------

/// Decodes and validates an image. Never panics, never allocates more than a small multiple
/// of `bytes.len()`.
///
/// Checks, in order: length of the header, magic, format version, header length, reserved
/// field, body length, checksum; then every section (see `docs/image-format.md`). ABI and
/// catalog hashes are returned, not compared: see [`Image::check_compat`].
pub fn decode(bytes: &[u8]) -> Result<Image, ImageError> {
    let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(ImageError::TooShort {
            needed: HEADER_LEN,
            actual: bytes.len(),
        });
    };
    let mut found = [0u8; 8];
    found.copy_from_slice(&header[..8]);
    if found != MAGIC {
        return Err(ImageError::BadMagic { found });
    }
    let version = le_u32(header, OFF_VERSION);
    if version != FORMAT_VERSION {
        return Err(ImageError::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    let header_len = le_u32(header, OFF_HEADER_LEN);
    if header_len as usize != HEADER_LEN {
        return Err(ImageError::BadHeaderLength {
            found: header_len,
            expected: HEADER_LEN as u32,
        });
    }
    let reserved = le_u32(header, OFF_RESERVED);
    if reserved != 0 {
        return Err(ImageError::NonZeroReserved {
            offset: OFF_RESERVED,
            value: reserved,
        });
    }
    let declared = le_u64(header, OFF_BODY_LEN);
    let actual = (bytes.len() - HEADER_LEN) as u64;
    if declared != actual {
        return Err(ImageError::LengthMismatch { declared, actual });
    }
    let expected = le_u32(header, OFF_CHECKSUM);
    let computed = checksum(bytes);
    if expected != computed {
        return Err(ImageError::Checksum {
            expected,
            actual: computed,
        });
    }

    let mut body = Reader {
        buf: bytes,
        pos: HEADER_LEN,
        end: bytes.len(),
    };
    let mut meta = None;
    let mut maps = Vec::new();
    let mut names = HashSet::new();
    if body.remaining() == 0 {
        return Err(ImageError::MissingMeta { offset: HEADER_LEN });
    }
    while body.remaining() > 0 {
        let offset = body.pos;
        let header: [u8; 16] = body.array("section header")?;
        let kind = le_u32(&header, 0);
        let reserved = le_u32(&header, 4);
        let len = le_u64(&header, 8);
        match kind {
            SECTION_META if meta.is_some() => return Err(ImageError::DuplicateMeta { offset }),
            SECTION_META | SECTION_MAP => {}
            _ => return Err(ImageError::UnknownSection { offset, kind }),
        }
        if meta.is_none() && kind != SECTION_META {
            return Err(ImageError::MissingMeta { offset });
        }
        if reserved != 0 {
            return Err(ImageError::NonZeroReserved {
                offset: offset + 4,
                value: reserved,
            });
        }
        let payload_at = body.pos;
        let payload_what = if kind == SECTION_META {
            "META section payload"
        } else {
            "MAP section payload"
        };
        body.take(len, payload_what)?;
        let mut payload = Reader {
            buf: bytes,
            pos: payload_at,
            end: body.pos,
        };
        let padding = body.take(pad8(len), "section padding")?;
        check_zero(padding, body.pos - padding.len())?;

        if kind == SECTION_META {
            meta = Some(decode_meta(&payload)?);
        } else {
            let map = decode_map(&mut payload)?;
            if !names.insert(map.name.clone()) {
                return Err(ImageError::DuplicateMap {
                    offset: payload_at,
                    name: map.name,
                });
            }
            maps.push(map);
        }
    }
    let Some(meta) = meta else {
        // Unreachable: the first section is META or decoding already failed.
        return Err(ImageError::MissingMeta { offset: HEADER_LEN });
    };
    Ok(Image {
        abi_hash: le_u64(header, OFF_ABI_HASH),
        catalog_hash: le_u64(header, OFF_CATALOG_HASH),
        meta,
        maps,
    })
}

fn decode_meta(payload: &Reader<'_>) -> Result<Meta, ImageError> {
    let bytes = payload.rest();
    match postcard::take_from_bytes::<Meta>(bytes) {
        Ok((meta, [])) => {
            // postcard also reads numbers written with more bytes than they need (`ff 00`
            // for 127): one spelling only, so that an image is the encoding of what it holds.
            let canonical = postcard::to_stdvec(&meta).unwrap_or_default();
            match canonical.iter().zip(bytes).position(|(a, b)| a != b) {
                None if canonical.len() == bytes.len() => Ok(meta),
                at => Err(ImageError::Meta {
                    offset: payload.pos + at.unwrap_or(canonical.len().min(bytes.len())),
                    message: "not in canonical form (a number written with more bytes than it \
                              needs): the file was not written by tracee-compile"
                        .to_owned(),
                }),
            }
        }
        Ok((_, rest)) => Err(ImageError::TrailingBytes {
            offset: payload.pos + (bytes.len() - rest.len()),
            len: rest.len() as u64,
        }),
        Err(e) => Err(ImageError::Meta {
            offset: payload.pos,
            message: format!("postcard: {e}"),
        }),
    }
}

fn decode_map(r: &mut Reader<'_>) -> Result<MapSection, ImageError> {
    let name_at = r.pos;
    let name_len = r.u16("map name length")?;
    let name = r.take(u64::from(name_len), "map name")?;
    let reason = if name.is_empty() {
        Some("empty")
    } else if name.len() > MAX_MAP_NAME_LEN {
        Some("longer than 15 bytes")
    } else if !name
        .iter()
        .all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Some("a byte outside [a-z0-9_]")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Err(ImageError::BadMapName {
            offset: name_at,
            reason,
        });
    }
    // Only [a-z0-9_] bytes: always valid UTF-8.
    let name = String::from_utf8_lossy(name).into_owned();
    let padding = r.take(pad4(2 + usize::from(name_len)) as u64, "map name padding")?;
    check_zero(padding, r.pos - padding.len())?;

    let type_at = r.pos;
    let type_value = r.u32("map type")?;
    let sizes_at = r.pos;
    let key_size = r.u32("map key_size")?;
    let value_size = r.u32("map value_size")?;
    let max_entries_at = r.pos;
    let max_entries = r.u32("map max_entries")?;
    let flags = r.u32("map flags")?;
    let count_at = r.pos;
    let count = r.u32("map entry count")?;

    let Some(map_type) = MapType::from_u32(type_value) else {
        return Err(ImageError::UnknownMapType {
            offset: type_at,
            value: type_value,
        });
    };
    let size_ok = |s: u32| (1..=MAX_KEY_OR_VALUE_SIZE).contains(&s);
    if !size_ok(key_size) || !size_ok(value_size) {
        return Err(ImageError::BadSizes {
            offset: sizes_at,
            map: name,
            key_size,
            value_size,
        });
    }
    if max_entries == 0 {
        return Err(ImageError::ZeroMaxEntries {
            offset: max_entries_at,
            map: name,
        });
    }
    if count > max_entries {
        return Err(ImageError::TooManyEntries {
            offset: count_at,
            map: name,
            count,
            max_entries,
        });
    }

    // Check the whole record area against the payload before allocating anything for it:
    // at most 2^32 * 2^17 bytes, no overflow in u64.
    let record = u64::from(key_size) + u64::from(value_size);
    let records_at = r.pos;
    let records = r.take(u64::from(count) * record, "map entries")?;
    if r.remaining() > 0 {
        return Err(ImageError::TrailingBytes {
            offset: r.pos,
            len: r.remaining() as u64,
        });
    }

    // From here every allocation is bounded by the bytes present: `count` records of at
    // least 2 bytes each were just taken from the input.
    let key_size = key_size as usize;
    let record = key_size + value_size as usize;
    let mut entries = Vec::with_capacity(count as usize);
    let mut seen = HashSet::with_capacity(count as usize);
    for (index, chunk) in records.chunks_exact(record).enumerate() {
        let (key, value) = chunk.split_at(key_size);
        if !seen.insert(key) {
            return Err(ImageError::DuplicateKey {
                offset: records_at + index * record,
                map: name,
                index: index as u32,
            });
        }
        entries.push((key.to_vec(), value.to_vec()));
    }
    Ok(MapSection {
        name,
        map_type,
        key_size: key_size as u32,
        value_size,
        max_entries,
        flags,
        entries,
    })
}

fn check_zero(padding: &[u8], offset: usize) -> Result<(), ImageError> {
    match padding.iter().position(|&b| b != 0) {
        Some(i) => Err(ImageError::NonZeroPadding { offset: offset + i }),
        None => Ok(()),
    }
}

fn le_u32<const N: usize>(header: &[u8; N], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&header[at..at + 4]);
    u32::from_le_bytes(b)
}

fn le_u64<const N: usize>(header: &[u8; N], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&header[at..at + 8]);
    u64::from_le_bytes(b)
}

/// A bounds-checked cursor over `buf[pos..end]`; offsets are absolute file offsets.
/// Invariant: `pos <= end <= buf.len()`.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..self.end).unwrap_or_default()
    }

    /// The next `n` bytes, or `Truncated` naming `what` if fewer remain.
    fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8], ImageError> {
        let available = self.remaining();
        let truncated = ImageError::Truncated {
            offset: self.pos,
            what,
            needed: n,
            available: available as u64,
        };
        let Ok(n) = usize::try_from(n) else {
            return Err(truncated);
        };
        if n > available {
            return Err(truncated);
        }
        let Some(bytes) = self.buf.get(self.pos..self.pos + n) else {
            return Err(truncated);
        };
        self.pos += n;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ImageError> {
        let bytes = self.take(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ImageError> {
        self.array(what).map(u16::from_le_bytes)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, ImageError> {
        self.array(what).map(u32::from_le_bytes)
    }
}

/// Deserializes a sequence without trusting its declared length for preallocation: serde's
/// `Vec` would reserve up to 1 MiB per sequence on a length prefix alone. Here the vector
/// grows only with elements actually decoded, each of which consumed input bytes.
fn seq_without_prealloc<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct SeqVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for SeqVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a sequence")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(out)
        }
    }

    deserializer.deserialize_seq(SeqVisitor(PhantomData))
}

// ---------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------

/// Writes `bytes` to `path` atomically: to a temporary file in the same directory
/// (`.{name}.tmp-{pid}-{n}`), fsynced, then renamed over `path` (and the directory fsynced
/// on Unix). Readers see the old file or the new one, never a partial one. On error the
/// temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file path", path.display()),
        ));
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);

    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)?;
    let written = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| {
            drop(file);
            fs::rename(&tmp, path)
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    #[cfg(unix)]
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Why an image file could not be used: unreadable (exit status 2 in the tools) or not a
/// valid image (exit status 1).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read `{path}`: {source}")]
    Io {
        path: String,
        #[source]
        source: crate::input::OpenError,
    },
    #[error("`{path}` is not a valid image: {source}")]
    Invalid {
        path: String,
        #[source]
        source: ImageError,
    },
}

/// The largest image file read: far above what the format's own limits allow, it only
/// bounds the read.
pub const MAX_IMAGE_FILE_BYTES: u64 = 64 << 20;

/// Reads and decodes an image file (a regular file: anything else is refused without
/// being opened); also returns its size in bytes.
pub fn read_file(path: &Path) -> Result<(Image, usize), ReadError> {
    let name = || path.display().to_string();
    let io = |source| ReadError::Io {
        path: name(),
        source,
    };
    let mut opened = crate::input::open_regular(path).map_err(io)?;
    let bytes = crate::input::read_bounded(&mut opened.file, MAX_IMAGE_FILE_BYTES)
        .map_err(|e| io(crate::input::OpenError::Io(e)))?;
    let image = decode(&bytes).map_err(|source| ReadError::Invalid {
        path: name(),
        source,
    })?;
    Ok((image, bytes.len()))
}
