//! Hostile input, end to end. Images: a freshly compiled real image (the bundled policies),
//! damaged at every part of the format (header fields, section table, META and MAP payloads,
//! padding, checksum), truncated, extended; each must be refused by the decoder with the
//! exact error and the byte offset of the damage, and by `tracee-compile inspect` with that
//! message, exit status 1 and no panic. The committed fixed cases (empty file, wrong magic,
//! another format version...) are in `testdata/hostile/images/` (`schema/tests/hostile.rs`);
//! here they go through the CLI too.
//!
//! Policies: multi-megabyte files (generated here, not committed) finish within a time and
//! memory budget, either compiled or refused with a clear diagnostic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use schema::image::{HEADER_LEN, ImageError, decode};

fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_tracee-compile"))
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => panic!("tempdir: {e}"),
    }
}

fn write(path: &Path, bytes: &[u8]) {
    if let Err(e) = std::fs::write(path, bytes) {
        panic!("write {}: {e}", path.display());
    }
}

/// Runs `tracee-compile` under a deadline and, where `prlimit` exists (util-linux), a 2 GiB
/// address-space limit: a hang or a runaway allocation fails the test instead of the machine.
fn run_limited(args: &[&str], cwd: &Path, deadline: Duration) -> (Output, Duration) {
    let limited = Command::new("prlimit").arg("--version").output().is_ok();
    let mut command = if limited {
        let mut c = Command::new("prlimit");
        c.arg("--as=2147483648").arg("--").arg(bin());
        c
    } else {
        Command::new(bin())
    };
    let started = Instant::now();
    let mut child = match command
        .args(args)
        .current_dir(cwd)
        .env_remove("RUST_BACKTRACE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(e) => panic!("cannot run tracee-compile: {e}"),
    };
    // Drain the pipes on threads so that a large output cannot block the child.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err = std::thread::spawn(move || read_all(stderr.as_mut()));
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("tracee-compile {args:?} still running after {deadline:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("wait: {e}"),
        }
    };
    let elapsed = started.elapsed();
    let output = Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    };
    (output, elapsed)
}

fn read_all(pipe: Option<&mut impl std::io::Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    bytes
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// No panic message, no backtrace, no abort: a clean refusal.
fn assert_clean_failure(output: &Output, what: &str) {
    let text = stderr(output);
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "stack backtrace",
        "memory allocation",
    ] {
        assert!(!text.contains(bad), "{what}: `{bad}` in stderr: {text}");
    }
    assert!(
        matches!(output.status.code(), Some(0..=2)),
        "{what}: killed or crashed ({:?}): {text}",
        output.status
    );
}

// ---------------------------------------------------------------------------------------
// Images
// ---------------------------------------------------------------------------------------

/// The bundled policies' image, compiled in-process.
fn real_image() -> Vec<u8> {
    let checked = match compiler::check_paths(&[repo().join("testdata/policies")]) {
        Ok(checked) => checked,
        Err(e) => panic!("{e}"),
    };
    let Some(lowered) = &checked.lowered else {
        panic!("the bundled policies do not compile");
    };
    match compiler::encode::encode(&checked.policies, lowered) {
        Ok(bytes) => bytes,
        Err(e) => panic!("{e}"),
    }
}

fn le_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

fn le_u64(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

fn put_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Body length (offset 32) and CRC-32 (offset 40) made right again after an edit, so that
/// the check behind them is the one that fires.
fn reseal(bytes: &mut [u8]) {
    let body = (bytes.len() - HEADER_LEN) as u64;
    bytes[32..40].copy_from_slice(&body.to_le_bytes());
    let crc = crc32(&[&bytes[..40], &bytes[44..]]);
    bytes[40..44].copy_from_slice(&crc.to_le_bytes());
}

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = !0u32;
    for part in parts {
        for &b in *part {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
            }
        }
    }
    !crc
}

/// Where things are in an image, found by walking its sections (layout of
/// docs/image-format.md), independently of the decoder.
struct Layout {
    meta_len: u64,
    /// Per MAP section: section offset, payload offset, payload length.
    maps: Vec<(usize, usize, usize)>,
}

fn layout(bytes: &[u8]) -> Layout {
    let mut at = HEADER_LEN;
    let mut meta_len = 0;
    let mut maps = Vec::new();
    while at < bytes.len() {
        let kind = le_u32(bytes, at);
        let len = le_u64(bytes, at + 8) as usize;
        if kind == 1 {
            meta_len = len as u64;
        } else {
            maps.push((at, at + 16, len));
        }
        at += 16 + len + (8 - len % 8) % 8;
    }
    Layout { meta_len, maps }
}

/// Offsets inside one MAP payload.
struct MapAt {
    name: usize,
    map_type: usize,
    key_size: usize,
    max_entries: usize,
    count: usize,
    records: usize,
    record_len: usize,
    entries: u32,
}

fn map_at(bytes: &[u8], payload: usize) -> MapAt {
    let name_len = usize::from(u16::from_le_bytes([bytes[payload], bytes[payload + 1]]));
    let fields = payload + 2 + name_len + (4 - (2 + name_len) % 4) % 4;
    MapAt {
        name: payload + 2,
        map_type: fields,
        key_size: fields + 4,
        max_entries: fields + 12,
        count: fields + 20,
        records: fields + 24,
        record_len: (le_u32(bytes, fields + 4) + le_u32(bytes, fields + 8)) as usize,
        entries: le_u32(bytes, fields + 20),
    }
}

struct Case {
    name: &'static str,
    bytes: Vec<u8>,
    expected: ImageError,
    /// The offset the message must name, where the error has one.
    offset: Option<usize>,
}

fn cases(valid: &[u8]) -> Vec<Case> {
    let body = (valid.len() - HEADER_LEN) as u64;
    let stored_crc = le_u32(valid, 40);
    let l = layout(valid);
    let (first_map, first_payload, _) = l.maps[0];
    let (_, last_payload, last_len) = l.maps[l.maps.len() - 1];
    let m = map_at(valid, first_payload);
    // A map with two entries or more, for the duplicate key.
    let Some(multi) = l
        .maps
        .iter()
        .map(|&(_, payload, _)| (payload, map_at(valid, payload)))
        .find(|(_, m)| m.entries >= 2)
    else {
        panic!("no map with two entries in the bundled policies' image");
    };
    let edit = |f: &dyn Fn(&mut Vec<u8>), seal: bool| {
        let mut b = valid.to_vec();
        f(&mut b);
        if seal {
            reseal(&mut b);
        }
        b
    };
    let truncated = |len: usize, seal: bool| edit(&|b| b.truncate(len), seal);
    let flip = |at: usize, bit: u8, seal: bool| edit(&|b| b[at] ^= 1 << bit, seal);
    let mut cases = vec![
        // Truncations.
        Case {
            name: "truncated_in_header",
            bytes: truncated(30, false),
            expected: ImageError::TooShort {
                needed: 48,
                actual: 30,
            },
            offset: None,
        },
        Case {
            name: "truncated_in_section_table",
            bytes: truncated(HEADER_LEN + 10, false),
            expected: ImageError::LengthMismatch {
                declared: body,
                actual: 10,
            },
            offset: None,
        },
        Case {
            name: "truncated_in_section_table_resealed",
            bytes: truncated(HEADER_LEN + 10, true),
            expected: ImageError::Truncated {
                offset: 48,
                what: "section header",
                needed: 16,
                available: 10,
            },
            offset: Some(48),
        },
        Case {
            name: "truncated_in_meta_payload_resealed",
            bytes: truncated(64 + 5, true),
            expected: ImageError::Truncated {
                offset: 64,
                what: "META section payload",
                needed: l.meta_len,
                available: 5,
            },
            offset: Some(64),
        },
        Case {
            name: "truncated_in_last_map_resealed",
            bytes: truncated(last_payload + last_len - 1, true),
            expected: ImageError::Truncated {
                offset: last_payload,
                what: "MAP section payload",
                needed: last_len as u64,
                available: last_len as u64 - 1,
            },
            offset: Some(last_payload),
        },
        Case {
            name: "last_byte_missing",
            bytes: truncated(valid.len() - 1, false),
            expected: ImageError::LengthMismatch {
                declared: body,
                actual: body - 1,
            },
            offset: None,
        },
        Case {
            name: "trailing_garbage",
            bytes: edit(&|b| b.extend_from_slice(b"garbage!"), false),
            expected: ImageError::LengthMismatch {
                declared: body,
                actual: body + 8,
            },
            offset: Some(valid.len()),
        },
        // Header fields, checksum left as it was.
        Case {
            name: "flip_magic",
            bytes: flip(3, 5, false),
            expected: ImageError::BadMagic {
                found: *b"\x89TRcIMG\n",
            },
            offset: None,
        },
        Case {
            name: "flip_version",
            bytes: flip(8, 1, false),
            expected: ImageError::UnsupportedVersion {
                found: 3,
                supported: 1,
            },
            offset: Some(8),
        },
        Case {
            name: "flip_header_length",
            bytes: flip(12, 0, false),
            expected: ImageError::BadHeaderLength {
                found: 49,
                expected: 48,
            },
            offset: Some(12),
        },
        Case {
            name: "flip_body_length",
            bytes: flip(32 + 4, 0, false),
            expected: ImageError::LengthMismatch {
                declared: body ^ (1 << 32),
                actual: body,
            },
            offset: Some(32),
        },
        Case {
            name: "flip_checksum",
            bytes: flip(40, 7, false),
            expected: ImageError::Checksum {
                expected: stored_crc ^ 0x80,
                actual: stored_crc,
            },
            offset: Some(40),
        },
        Case {
            name: "flip_reserved",
            bytes: flip(44, 0, false),
            expected: ImageError::NonZeroReserved {
                offset: 44,
                value: 1,
            },
            offset: Some(44),
        },
        // Section table and payloads, with a fixed-up checksum.
        Case {
            name: "flip_meta_kind_resealed",
            bytes: flip(48, 2, true),
            expected: ImageError::UnknownSection {
                offset: 48,
                kind: 5,
            },
            offset: Some(48),
        },
        Case {
            name: "flip_section_reserved_resealed",
            bytes: flip(first_map + 4, 0, true),
            expected: ImageError::NonZeroReserved {
                offset: first_map + 4,
                value: 1,
            },
            offset: Some(first_map + 4),
        },
        Case {
            name: "flip_meta_length_resealed",
            bytes: flip(48 + 15, 7, true),
            expected: ImageError::Truncated {
                offset: 64,
                what: "META section payload",
                needed: l.meta_len | (1 << 63),
                available: body - 16,
            },
            offset: Some(64),
        },
        Case {
            name: "flip_map_name_resealed",
            bytes: flip(m.name, 5, true),
            expected: ImageError::BadMapName {
                offset: first_payload,
                reason: "a byte outside [a-z0-9_]",
            },
            offset: Some(first_payload),
        },
        Case {
            name: "unknown_map_type_resealed",
            bytes: edit(&|b| put_u32(b, m.map_type, 99), true),
            expected: ImageError::UnknownMapType {
                offset: m.map_type,
                value: 99,
            },
            offset: Some(m.map_type),
        },
        Case {
            name: "zero_max_entries_resealed",
            bytes: edit(&|b| put_u32(b, m.max_entries, 0), true),
            expected: ImageError::ZeroMaxEntries {
                offset: m.max_entries,
                map: map_name(valid, first_payload),
            },
            offset: Some(m.max_entries),
        },
        Case {
            name: "count_above_max_entries_resealed",
            bytes: edit(&|b| put_u32(b, m.count, u32::MAX), true),
            expected: ImageError::TooManyEntries {
                offset: m.count,
                map: map_name(valid, first_payload),
                count: u32::MAX,
                max_entries: le_u32(valid, m.max_entries),
            },
            offset: Some(m.count),
        },
        Case {
            name: "duplicate_key_resealed",
            bytes: edit(
                &|b| {
                    let m = &multi.1;
                    let key_len = le_u32(valid, m.key_size) as usize;
                    let first = m.records;
                    let second = m.records + m.record_len;
                    let key = b[first..first + key_len].to_vec();
                    b[second..second + key_len].copy_from_slice(&key);
                },
                true,
            ),
            expected: ImageError::DuplicateKey {
                offset: multi.1.records + multi.1.record_len,
                map: map_name(valid, multi.0),
                index: 1,
            },
            offset: Some(multi.1.records + multi.1.record_len),
        },
        Case {
            name: "second_meta_section_resealed",
            bytes: edit(
                &|b| {
                    let meta = b[48..64 + l.meta_len as usize].to_vec();
                    b.extend_from_slice(&meta);
                    let pad = (8 - b.len() % 8) % 8;
                    b.resize(b.len() + pad, 0);
                },
                true,
            ),
            expected: ImageError::DuplicateMeta {
                offset: valid.len(),
            },
            offset: Some(valid.len()),
        },
        Case {
            name: "map_section_twice_resealed",
            bytes: edit(
                &|b| {
                    let (at, _, len) = l.maps[0];
                    let section = b[at..at + 16 + len + (8 - len % 8) % 8].to_vec();
                    b.extend_from_slice(&section);
                },
                true,
            ),
            expected: ImageError::DuplicateMap {
                offset: valid.len() + 16,
                name: map_name(valid, first_payload),
            },
            offset: Some(valid.len() + 16),
        },
    ];
    // Any byte of the META payload, flipped with the checksum left alone: the checksum.
    for (name, at) in [
        ("flip_meta_payload", 64 + l.meta_len as usize / 2),
        ("flip_map_entries", multi.1.records + 1),
        ("flip_last_byte", valid.len() - 1),
    ] {
        let bytes = flip(at, 4, false);
        let actual = crc32(&[&bytes[..40], &bytes[44..]]);
        cases.push(Case {
            name,
            bytes,
            expected: ImageError::Checksum {
                expected: stored_crc,
                actual,
            },
            offset: Some(40),
        });
    }
    cases
}

fn map_name(bytes: &[u8], payload: usize) -> String {
    let len = usize::from(u16::from_le_bytes([bytes[payload], bytes[payload + 1]]));
    String::from_utf8_lossy(&bytes[payload + 2..payload + 2 + len]).into_owned()
}

#[test]
fn damaged_real_images_are_refused_with_the_failed_check_and_its_offset() {
    let valid = real_image();
    assert!(decode(&valid).is_ok());
    let dir = tempdir();
    for case in cases(&valid) {
        let error = match decode(&case.bytes) {
            Ok(_) => panic!("{}: decoded a damaged image", case.name),
            Err(e) => e,
        };
        assert_eq!(error, case.expected, "{}", case.name);
        let message = error.to_string();
        if let Some(offset) = case.offset {
            assert!(
                message.contains(&format!("offset {offset}")),
                "{}: the message does not name offset {offset}: {message}",
                case.name
            );
        }
        let path = dir.path().join(format!("{}.bin", case.name));
        write(&path, &case.bytes);
        let (output, _) = run_limited(
            &["inspect", &path.to_string_lossy()],
            dir.path(),
            Duration::from_secs(60),
        );
        assert_clean_failure(&output, case.name);
        assert_eq!(output.status.code(), Some(1), "{}", case.name);
        assert_eq!(
            stderr(&output),
            format!(
                "error: `{}` is not a valid image: {message}\n",
                path.display()
            ),
            "{}",
            case.name
        );
    }
}

#[test]
fn resealed_hash_flips_decode_and_fail_the_loaders_compatibility_check() {
    let valid = real_image();
    let abi = schema::abi::abi_hash();
    let catalog = schema::catalog::catalog_hash();
    for (at, abi_differs) in [(16, true), (24, false)] {
        let mut bytes = valid.clone();
        bytes[at] ^= 1;
        reseal(&mut bytes);
        let image = match decode(&bytes) {
            Ok(image) => image,
            Err(e) => panic!("hash flip at {at}: {e}"),
        };
        let error = image.check_compat(abi, catalog);
        let expected = if abi_differs {
            ImageError::AbiMismatch {
                image: abi ^ 1,
                expected: abi,
            }
        } else {
            ImageError::CatalogMismatch {
                image: catalog ^ 1,
                expected: catalog,
            }
        };
        assert_eq!(error, Err(expected), "hash flip at {at}");
    }
}

#[test]
fn committed_hostile_images_are_refused_by_the_cli() {
    let dir = repo().join("testdata/hostile/images");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        let expected = std::fs::read_to_string(path.with_extension("expected")).unwrap_or_default();
        let Some(message) = expected.lines().nth(1) else {
            panic!("{}: no message line in its .expected", path.display());
        };
        let (output, _) = run_limited(
            &["inspect", &path.to_string_lossy()],
            &dir,
            Duration::from_secs(60),
        );
        assert_clean_failure(&output, &path.to_string_lossy());
        assert_eq!(output.status.code(), Some(1), "{}", path.display());
        assert_eq!(
            stderr(&output),
            format!(
                "error: `{}` is not a valid image: {message}\n",
                path.display()
            )
        );
        seen += 1;
    }
    assert!(seen >= 5, "only {seen} committed hostile images");
}

#[test]
fn an_image_given_as_a_policy_is_reported_as_not_utf8() {
    let dir = tempdir();
    let path = dir.path().join("rules.yaml");
    write(&path, &real_image());
    let (output, _) = run_limited(
        &["--check", "--format", "json", "rules.yaml"],
        dir.path(),
        Duration::from_secs(60),
    );
    assert_clean_failure(&output, "image as policy");
    assert_eq!(output.status.code(), Some(1));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("\"code\": \"E102\""), "{text}");
    assert!(text.contains("invalid UTF-8 at byte offset 0"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Multi-megabyte policies
// ---------------------------------------------------------------------------------------

const HEADER: &str = "type: policy\nname: big\ndescription: d\nscope: [global]\nrules:\n";

/// Checks `text` as `name` with the CLI (JSON output) within the budget; returns the
/// output, the diagnostic codes and the directory it ran in.
fn check_big(name: &str, text: &str, extra: &[&str]) -> (Output, Vec<String>, tempfile::TempDir) {
    assert!(
        text.len() > 1024 * 1024,
        "{name}: {} bytes is not multi-megabyte",
        text.len()
    );
    let dir = tempdir();
    write(&dir.path().join(name), text.as_bytes());
    let mut args = vec!["--check", "--format", "json", name];
    args.extend_from_slice(extra);
    if !extra.is_empty() {
        args.retain(|a| *a != "--check");
    }
    // A debug build takes seconds; minutes would be a hang.
    let (output, elapsed) = run_limited(&args, dir.path(), Duration::from_secs(120));
    assert_clean_failure(&output, name);
    eprintln!("{name}: {} bytes checked in {elapsed:?}", text.len());
    let json: serde_json::Value = match serde_json::from_slice(&output.stdout) {
        Ok(v) => v,
        Err(e) => panic!("{name}: not JSON ({e}): {}", stderr(&output)),
    };
    let codes = json["diagnostics"]
        .as_array()
        .map(|d| {
            d.iter()
                .map(|d| d["code"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default();
    (output, codes, dir)
}

#[test]
fn a_seven_megabyte_line_is_one_clear_error() {
    let text = format!("{HEADER}  - event: {}\n", "a".repeat(7 << 20));
    let (output, codes, _) = check_big("line.yaml", &text, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(codes, ["E211"]);
}

#[test]
fn tens_of_thousands_of_documents_stop_at_the_document_budget() {
    let doc =
        "---\ntype: policy\nname: p\ndescription: d\nscope: [global]\nrules: [{event: openat}]\n";
    let text = doc.repeat((6 << 20) / doc.len());
    let (output, codes, _) = check_big("docs.yaml", &text, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(codes, ["E105"]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("more than 1024 documents"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn six_hundred_thousand_nodes_stop_at_the_node_budget() {
    let text = format!(
        "{HEADER}  - event: openat\n    filters: [{}]\n",
        vec!["1"; 600_000].join(",")
    );
    let (output, codes, _) = check_big("nodes.yaml", &text, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(codes, ["E105"]);
}

/// 50,000 rules for distinct unknown events: 50,000 errors, found in linear time (the
/// duplicate-rule check once compared every pair of rules).
#[test]
fn fifty_thousand_errors_are_reported_in_linear_time() {
    let mut text = String::from(HEADER);
    for i in 0..50_000 {
        text.push_str(&format!("  - event: {}{i:08}\n", "x".repeat(64)));
    }
    let (output, codes, _) = check_big("errors.yaml", &text, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(codes.len(), 50_000);
    assert!(codes.iter().all(|c| c == "E211"));
}

/// A valid policy with 50,000 filter values compiles, and the image reads back.
#[test]
fn a_valid_multi_megabyte_policy_compiles() {
    let mut text = String::from(HEADER);
    text.push_str("  - event: openat\n    filters:\n");
    for i in 0..50_000 {
        text.push_str(&format!("      - args.pathname=/var/lib/app/{i:08}\n"));
    }
    let (output, codes, dir) = check_big("valid.yaml", &text, &["-o", "rules.bin"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(codes.is_empty(), "{codes:?}");
    assert!(stderr(&output).starts_with("wrote rules.bin: 1 policies"));
    match schema::image::read_file(&dir.path().join("rules.bin")) {
        Ok((image, _)) => assert_eq!(image.meta.policies.len(), 1),
        Err(e) => panic!("{e}"),
    }
}
