//! "Did you mean" for names the user mistyped: keys, events, fields, scope keys.

/// The closest candidate to `input`, if one is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Names are short; a long input is no typo of one (and edit distance is quadratic).
    if input.len() > 64 {
        return None;
    }
    let lowered = input.trim().to_ascii_lowercase();
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate.to_ascii_lowercase() == lowered {
            return Some(candidate);
        }
        // Far shorter or longer candidates can never pass the closeness test below.
        if candidate.len() * 2 < lowered.len() || lowered.len() * 2 + 2 < candidate.len() {
            continue;
        }
        let score = strsim::jaro_winkler(&lowered, &candidate.to_ascii_lowercase());
        let distance = strsim::damerau_levenshtein(&lowered, &candidate.to_ascii_lowercase());
        let close = distance <= (candidate.len() / 3).max(1) || score >= 0.9;
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// `did you mean `x`?` help text, when a candidate is close.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(input, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_typos_and_case_mistakes() {
        let keys = ["scope", "rules", "defaultActions"];
        assert_eq!(closest("scpoe", keys), Some("scope"));
        assert_eq!(closest("Scope", keys), Some("scope"));
        assert_eq!(closest("rule", keys), Some("rules"));
        assert_eq!(closest("defaultAction", keys), Some("defaultActions"));
        assert_eq!(closest("banana", keys), None);
        assert_eq!(closest(&"x".repeat(100_000), keys), None);
    }
}
