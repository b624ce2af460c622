//! "Did you mean" for names the user mistyped: keys, events, fields, scope keys.

/// The closest candidate to `input`, if one is close enough to be a likely typo.
pub fn closest<'a>(input: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Names are short; a long input is no typo of one (and edit distance is quadratic).
    if input.len() > 64 {
        return None;
    }
    let lowered = input.trim().to_ascii_lowercase();
    let input_bag = Bag::of(&lowered);
    let mut best: Option<(f64, &str)> = None;
    for candidate in candidates {
        if candidate.eq_ignore_ascii_case(&lowered) {
            return Some(candidate);
        }
        // Far shorter or longer candidates can never pass the closeness test below.
        if candidate.len() * 2 < lowered.len() || lowered.len() * 2 + 2 < candidate.len() {
            continue;
        }
        let max_distance = (candidate.len() / 3).max(1);
        // Most candidates share few characters with the input: the character counts bound
        // both measures, so those skip the costly ones (a file of 100,000 unknown event
        // names once spent minutes here).
        if !input_bag.may_be_close(&Bag::of(candidate), max_distance) {
            continue;
        }
        let candidate_lowered = candidate.to_ascii_lowercase();
        let score = strsim::jaro_winkler(&lowered, &candidate_lowered);
        let distance = strsim::damerau_levenshtein(&lowered, &candidate_lowered);
        let close = distance <= max_distance || score >= 0.9;
        if close && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, candidate));
        }
    }
    best.map(|(_, c)| c)
}

/// How often each character occurs, ASCII case folded; every non-ASCII character counts
/// as one and the same (which only loosens the bounds below, never breaks them).
struct Bag {
    counts: [u32; 129],
    len: u32,
}

impl Bag {
    fn of(text: &str) -> Bag {
        let mut counts = [0u32; 129];
        let mut len = 0u32;
        for c in text.chars() {
            let slot = if c.is_ascii() {
                usize::from(c.to_ascii_lowercase() as u8)
            } else {
                128
            };
            counts[slot] = counts[slot].saturating_add(1);
            len = len.saturating_add(1);
        }
        Bag { counts, len }
    }

    /// False when `other` can be neither within `max_distance` edits of this text nor
    /// Jaro-Winkler-similar to it by 0.9: then neither test in `closest` can pass.
    fn may_be_close(&self, other: &Bag, max_distance: usize) -> bool {
        let common: u32 = self
            .counts
            .iter()
            .zip(&other.counts)
            .map(|(a, b)| *a.min(b))
            .sum();
        // Every edit (insert, delete, substitute, transpose) changes at most one character
        // count on each side: the bag distance is a lower bound of the edit distance.
        let bag_distance = (self.len - common).max(other.len - common);
        if bag_distance as usize <= max_distance {
            return true;
        }
        // Jaro matches are common characters, so Jaro <= (c/|a| + c/|b| + 1) / 3; and
        // Jaro-Winkler >= 0.9 needs Jaro >= 5/6 (the prefix bonus adds at most 0.4 (1 - j)).
        if common == 0 {
            return false;
        }
        let c = f64::from(common);
        let jaro_max = (c / f64::from(self.len) + c / f64::from(other.len) + 1.0) / 3.0;
        jaro_max >= 0.83
    }
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

    /// `closest` before the character-count shortcut: the shortcut changes no answer.
    fn closest_reference<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
        if input.len() > 64 {
            return None;
        }
        let lowered = input.trim().to_ascii_lowercase();
        let mut best: Option<(f64, &str)> = None;
        for &candidate in candidates {
            if candidate.to_ascii_lowercase() == lowered {
                return Some(candidate);
            }
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

    #[test]
    fn the_shortcut_gives_the_same_answer_for_every_event_and_its_typos() {
        let events: Vec<&str> = schema::catalog::events().iter().map(|e| e.name).collect();
        // Every 8th event: each costs a hundred full searches in a debug build.
        for name in events.iter().step_by(8) {
            let mut inputs = vec![name.to_string(), name.to_uppercase()];
            let bytes = name.as_bytes();
            for i in 0..bytes.len() {
                let mut dropped = bytes.to_vec();
                dropped.remove(i);
                let mut swapped = bytes.to_vec();
                swapped.swap(i, (i + 1) % bytes.len());
                let mut replaced = bytes.to_vec();
                replaced[i] = b'x';
                for b in [dropped, swapped, replaced] {
                    inputs.push(String::from_utf8_lossy(&b).into_owned());
                }
            }
            for input in inputs {
                assert_eq!(
                    closest(&input, events.iter().copied()),
                    closest_reference(&input, &events),
                    "{input}"
                );
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_shortcut_gives_the_same_answer_for_any_text(
            input in "[a-zA-Z_0-9é ]{0,20}",
            candidates in proptest::collection::vec("[a-z_0-9é]{1,16}", 1..30),
        ) {
            let candidates: Vec<&str> = candidates.iter().map(String::as_str).collect();
            proptest::prop_assert_eq!(
                closest(&input, candidates.iter().copied()),
                closest_reference(&input, &candidates)
            );
        }
    }
}
