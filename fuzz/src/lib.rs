//! What each fuzz target does with its input. Kept free of libfuzzer so that
//! `compiler/tests/integration/fuzz_corpus.rs` can include this file (`#[path]`) and replay
//! the committed corpus (crash regressions included) in every `cargo test` on stable.
//!
//! Each function panics only on a broken invariant: a bug.

use compiler::diagnostics::render;
use schema::image;

/// The whole compiler on one policy file: source -> parse -> validate -> lower -> encode,
/// every diagnostic output format, then the image back through the decoder and `inspect`.
pub fn policy(data: &[u8]) {
    // `source::read` refuses invalid UTF-8 with a diagnostic before parsing; parse the
    // lossy text anyway so that byte-level mutations still reach the parser.
    let text = String::from_utf8_lossy(data);
    let checked = compiler::check_text("fuzz.yaml", &text);
    let diagnostics = checked.sorted_diagnostics();
    for d in &diagnostics {
        assert!(!d.message.is_empty(), "empty message: {d:?}");
        let spans = d.span.iter().chain(d.secondary.iter().map(|(s, _)| s));
        for span in spans {
            assert!(
                span.start <= span.end
                    && span.end <= text.len()
                    && text.is_char_boundary(span.start)
                    && text.is_char_boundary(span.end),
                "span {span:?} outside the text or inside a character: {d:?}"
            );
        }
    }
    let errors = checked.diagnostics.error_count();
    let summary = render::Summary {
        files: 1,
        policies: checked.documents,
        errors,
        warnings: diagnostics.len().saturating_sub(errors),
    };
    let _ = checked.render_plain(100);
    let _ = render::json(&diagnostics, &checked.sources, &summary);
    let _ = render::sarif(&diagnostics, &checked.sources);
    let _ = render::github(&diagnostics, &checked.sources);

    let Some(lowered) = checked.lowered.as_ref().filter(|_| errors == 0) else {
        return;
    };
    // What `tracee-compile -o` writes: an encoding failure here is the CLI's "internal
    // error", exit status 2.
    let bytes = match compiler::encode::encode(&checked.policies, lowered) {
        Ok(bytes) => bytes,
        Err(e) => panic!("valid policies give an image the decoder refuses: {e}"),
    };
    let decoded = match image::decode(&bytes) {
        Ok(decoded) => decoded,
        Err(e) => panic!("encode_checked bytes do not decode: {e}"),
    };
    assert!(
        decoded == compiler::encode::image(&checked.policies, lowered),
        "the image does not decode to what was encoded"
    );
    inspect(&decoded, bytes.len());
}

/// The image decoder (what `tracee-load` and `tracee-compile inspect` run first), then on
/// success the loader's compatibility check and `inspect`, and a re-encoding check.
///
/// Almost every mutation breaks the checksum, which the decoder checks before any section:
/// so the input is decoded twice, as it is (the header checks) and with its body length and
/// checksum fixed up (everything behind them).
pub fn image(data: &[u8]) {
    decode_image(data);
    if data.len() >= image::HEADER_LEN {
        let mut sealed = data.to_vec();
        seal(&mut sealed);
        decode_image(&sealed);
    }
}

fn decode_image(data: &[u8]) {
    let decoded = match image::decode(data) {
        Ok(decoded) => decoded,
        Err(e) => {
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let _ = decoded.check_compat(schema::abi::abi_hash(), schema::catalog::catalog_hash());
    inspect(&decoded, data.len());
    // Every accepted image is the encoding of what it decodes to: the decoder accepts no
    // second spelling of the same contents.
    let again = image::encode(&decoded);
    assert!(again == data, "an accepted image is not canonical");
}

/// Writes the body length (offset 32) and the CRC-32 (offset 40, over every other byte) an
/// image of these bytes must have; `bytes` holds at least the header.
pub fn seal(bytes: &mut [u8]) {
    let body = (bytes.len() - image::HEADER_LEN) as u64;
    bytes[32..40].copy_from_slice(&body.to_le_bytes());
    let crc = !crc32(crc32(!0, &bytes[..40]), &bytes[44..]);
    bytes[40..44].copy_from_slice(&crc.to_le_bytes());
}

/// CRC-32/IEEE (reflected, polynomial 0xEDB88320) without the final inversion.
fn crc32(mut crc: u32, bytes: &[u8]) -> u32 {
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (crc & 1).wrapping_neg());
        }
    }
    crc
}

/// The ring-buffer record decoder the loader runs on every event.
pub fn record(data: &[u8]) {
    let Ok(decoded) = schema::record::decode(data) else {
        return;
    };
    let again = schema::record::encode(&decoded.header, &decoded.args);
    match schema::record::decode(&again) {
        Ok(r) => assert!(r.args == decoded.args, "record arguments do not round-trip"),
        Err(e) => panic!("a re-encoded record does not decode: {e}"),
    }
}

fn inspect(decoded: &image::Image, size: usize) {
    let report = compiler::inspect::report(decoded, size);
    let _ = compiler::inspect::human(&report, false);
    let _ = compiler::inspect::human(&report, true);
    let _ = serde_json::to_string_pretty(&report);
}
