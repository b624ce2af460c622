//! The committed hostile images in `testdata/hostile/images/`: files a user can hand the
//! tools by mistake or that a broken transfer produces (empty, cut inside the header, an ELF
//! object, a policy file, an image after a text-mode transfer, an image of another format
//! version). Each `NAME.bin` has a `NAME.expected` beside it: the decoder's error as `Debug`
//! (the exact kind and fields) on line 1 and as `Display` (what the tools print) on line 2.
//!
//! The files are generated here from a small valid image: `UPDATE_HOSTILE=1 cargo test -p
//! tracee-schema --test hostile` rewrites them (after a format change), and the test fails
//! when a committed file differs from what the generator makes, so they stay one flaw away
//! from a valid image of the current format. Damage to real compiled images (truncations and
//! bit flips at each header field, section and payload, with and without a fixed-up
//! checksum) is tested in `compiler/tests/integration/hostile.rs`.

use std::fs;
use std::path::{Path, PathBuf};

use schema::image::{
    EventMeta, HEADER_LEN, Image, ImageError, MapSection, MapType, Meta, PolicyMeta, ReadError,
    decode, encode, read_file,
};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/hostile/images")
}

/// A small valid image: one policy, one event, one map.
fn valid() -> Vec<u8> {
    encode(&Image {
        abi_hash: 0x1111_2222_3333_4444,
        catalog_hash: 0x5555_6666_7777_8888,
        meta: Meta {
            policies: vec![PolicyMeta {
                id: 0,
                name: "hostile".into(),
                description: "fixture of testdata/hostile".into(),
                actions: vec!["log".into()],
            }],
            events: vec![EventMeta {
                id: 257,
                name: "openat".into(),
            }],
            probes: vec!["tp/syscalls/sys_exit_openat".into()],
            userspace_filters: vec![],
            detectors: vec![],
        },
        maps: vec![MapSection {
            name: "events".into(),
            map_type: MapType::Hash,
            key_size: 4,
            value_size: 8,
            max_entries: 8,
            flags: 0,
            entries: vec![(257u32.to_le_bytes().to_vec(), 1u64.to_le_bytes().to_vec())],
        }],
    })
}

/// Body length (offset 32) and CRC-32 (offset 40) made right again after an edit.
fn reseal(bytes: &mut [u8]) {
    let body = (bytes.len() - HEADER_LEN) as u64;
    bytes[32..40].copy_from_slice(&body.to_le_bytes());
    let mut hasher = crc32fast_like::Hasher::default();
    hasher.update(&bytes[..40]);
    hasher.update(&bytes[44..]);
    let crc = hasher.finalize();
    bytes[40..44].copy_from_slice(&crc.to_le_bytes());
}

/// CRC-32/IEEE, written out so that this test does not trust the crate's own checksum code.
mod crc32fast_like {
    #[derive(Default)]
    pub struct Hasher(u32);

    impl Hasher {
        pub fn update(&mut self, bytes: &[u8]) {
            let mut crc = !self.0;
            for &b in bytes {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
                }
            }
            self.0 = !crc;
        }

        pub fn finalize(self) -> u32 {
            self.0
        }
    }
}

/// Every committed case: file name and its bytes.
fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let valid = valid();
    let mut elf = valid.clone();
    elf[..8].copy_from_slice(b"\x7fELF\x02\x01\x01\x00");
    let mut version_2 = valid.clone();
    version_2[8..12].copy_from_slice(&2u32.to_le_bytes());
    reseal(&mut version_2);
    let mut version_0 = valid.clone();
    version_0[8..12].copy_from_slice(&0u32.to_le_bytes());
    reseal(&mut version_0);
    // FTP ASCII mode or a Windows editor: every `\n` became `\r\n`, the magic's last byte too.
    let mut text_mode = Vec::new();
    for &b in &valid {
        if b == b'\n' {
            text_mode.push(b'\r');
        }
        text_mode.push(b);
    }
    // A 7-bit transfer clears the high bit of every byte.
    let seven_bit: Vec<u8> = valid.iter().map(|b| b & 0x7f).collect();
    let policy =
        b"type: policy\nname: p\ndescription: d\nscope: [global]\nrules:\n  - event: openat\n";
    vec![
        ("empty.bin", Vec::new()),
        ("cut_in_header.bin", valid[..HEADER_LEN / 2].to_vec()),
        ("cut_after_header.bin", valid[..HEADER_LEN].to_vec()),
        ("elf_object.bin", elf),
        ("policy_yaml.bin", policy.to_vec()),
        ("text_mode_transfer.bin", text_mode),
        ("seven_bit_transfer.bin", seven_bit),
        ("format_version_0.bin", version_0),
        ("format_version_2.bin", version_2),
    ]
}

fn expected_text(error: &ImageError) -> String {
    format!("{error:?}\n{error}\n")
}

fn decode_err(name: &str, bytes: &[u8]) -> ImageError {
    match decode(bytes) {
        Ok(_) => panic!("{name}: decoded, but must be refused"),
        Err(e) => e,
    }
}

#[test]
fn committed_hostile_images_are_refused_with_their_expected_error() {
    let update = std::env::var_os("UPDATE_HOSTILE").is_some_and(|v| v == "1");
    let dir = dir();
    if update && let Err(e) = fs::create_dir_all(&dir) {
        panic!("{}: {e}", dir.display());
    }
    let cases = cases();
    for (name, bytes) in &cases {
        let path = dir.join(name);
        let expected_path = path.with_extension("expected");
        let error = decode_err(name, bytes);
        if update {
            for (p, data) in [
                (&path, bytes.clone()),
                (&expected_path, expected_text(&error).into_bytes()),
            ] {
                if let Err(e) = fs::write(p, data) {
                    panic!("{}: {e}", p.display());
                }
            }
        }
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == *bytes,
            "{name} differs from what the generator makes (format change?): rerun with \
             UPDATE_HOSTILE=1 cargo test -p tracee-schema --test hostile and review the diff"
        );
        let expected = fs::read_to_string(&expected_path).unwrap_or_default();
        assert_eq!(expected_text(&error), expected, "{name}");

        // What the tools print: the path, then the decoder's message.
        match read_file(&path) {
            Err(ReadError::Invalid { path: p, source }) => {
                assert_eq!(source, error, "{name}");
                assert_eq!(p, path.display().to_string());
            }
            Err(e) => panic!("{name}: expected an invalid-image error, got {e}"),
            Ok(_) => panic!("{name}: read_file accepted it"),
        }
    }
    // No stray fixture without a case.
    let mut on_disk: Vec<String> = fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    on_disk.sort();
    let mut listed: Vec<String> = cases
        .iter()
        .flat_map(|(n, _)| [n.to_string(), n.replace(".bin", ".expected")])
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed, "files in {}", dir.display());
}

#[test]
fn hostile_cases_hit_the_intended_check() {
    let found = |name: &str| -> ImageError {
        let Some((_, bytes)) = cases().into_iter().find(|(n, _)| *n == name) else {
            panic!("no case {name}");
        };
        decode_err(name, &bytes)
    };
    assert_eq!(
        found("empty.bin"),
        ImageError::TooShort {
            needed: 48,
            actual: 0
        }
    );
    assert_eq!(
        found("cut_in_header.bin"),
        ImageError::TooShort {
            needed: 48,
            actual: 24
        }
    );
    // A bare header declares a body it does not have.
    assert!(matches!(
        found("cut_after_header.bin"),
        ImageError::LengthMismatch { actual: 0, .. }
    ));
    for (name, hint) in [
        ("elf_object.bin", "this is an ELF file"),
        ("policy_yaml.bin", "bytes 0..8 are 74 79 70 65 3a 20 70 6f"),
        ("text_mode_transfer.bin", "text-mode or 7-bit transfer"),
        ("seven_bit_transfer.bin", "text-mode or 7-bit transfer"),
    ] {
        let error = found(name);
        assert!(matches!(error, ImageError::BadMagic { .. }), "{name}");
        assert!(error.to_string().contains(hint), "{name}: {error}");
    }
    for (name, version) in [("format_version_0.bin", 0), ("format_version_2.bin", 2)] {
        let error = found(name);
        assert_eq!(
            error,
            ImageError::UnsupportedVersion {
                found: version,
                supported: 1
            }
        );
        assert!(error.to_string().contains("header offset 8"), "{error}");
    }
    // The version fixtures are otherwise valid: back to version 1, they decode.
    let Some((_, mut bytes)) = cases()
        .into_iter()
        .find(|(n, _)| *n == "format_version_2.bin")
    else {
        panic!("no version case");
    };
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    reseal(&mut bytes);
    assert_eq!(bytes, valid());
    assert!(decode(&bytes).is_ok());
}
