//! `tracee-compile explain CODE`: a code's page of `docs/diagnostics.md`, built into the
//! binary, so a user of an installed `tracee-compile` reads it without the repository (as
//! `rustc --explain` does).

use super::codes;

/// The whole page, as of this build.
const PAGE: &str = include_str!("../../../docs/diagnostics.md");

/// The section of `code` (any case: `e211`, `E211`), from its heading to the next code's;
/// or None for a code that does not exist.
pub fn explain(code: &str) -> Option<&'static str> {
    let info = codes::CODES
        .iter()
        .find(|c| c.id.eq_ignore_ascii_case(code.trim()))?;
    let heading = format!("\n## {} ", info.id);
    let start = PAGE.find(&heading)? + 1;
    let rest = &PAGE[start..];
    // The section ends where the next one's anchor or heading starts.
    let end = ["\n<a id=", "\n## "]
        .iter()
        .filter_map(|next| rest[1..].find(next).map(|i| i + 1))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].trim_end())
}

/// Every code, for the error that names an unknown one.
pub fn known() -> impl Iterator<Item = &'static str> {
    codes::CODES.iter().map(|c| c.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_its_section() {
        for info in codes::CODES {
            let text = explain(info.id).unwrap_or_default();
            assert!(
                text.starts_with(&format!("## {} {}", info.id, info.name)),
                "{}: {text:.80}",
                info.id
            );
            assert!(
                !text[3..].contains("\n## ") && !text.contains("<a id="),
                "{} runs into the next",
                info.id
            );
        }
        assert_eq!(explain("e105"), explain("E105"));
        assert!(explain("E999").is_none());
    }
}
