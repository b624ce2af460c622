//! Arbitrary bytes into `schema::image::decode`: it must never panic (nor abort on a huge
//! allocation), and whatever it accepts must re-encode to bytes that decode to the same image.
//!
//! Each input is decoded twice: as is (exercising the header, length and checksum checks)
//! and with its body length and checksum fixed up (so that random mutations reach the section
//! and map parsers instead of stopping at the checksum).

#![no_main]

use libfuzzer_sys::fuzz_target;
use schema::image::{HEADER_LEN, decode, encode};

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= HEADER_LEN {
        let mut fixed = data.to_vec();
        let body_len = (fixed.len() - HEADER_LEN) as u64;
        fixed[32..40].copy_from_slice(&body_len.to_le_bytes());
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&fixed[..40]);
        hasher.update(&fixed[44..]);
        let sum = hasher.finalize();
        fixed[40..44].copy_from_slice(&sum.to_le_bytes());
        check(&fixed);
    }
});

fn check(bytes: &[u8]) {
    if let Ok(image) = decode(bytes) {
        let again = encode(&image);
        match decode(&again) {
            Ok(decoded) => assert_eq!(decoded, image, "re-encoded image decodes differently"),
            Err(e) => panic!("re-encoded image is refused: {e}"),
        }
    }
}
