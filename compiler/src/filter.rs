//! What scope entries and rule filters share: splitting `KEY OP VALUES`, parsing each value
//! by the key's type, and the checks on a key's combined values (mixed `=`/`!=`, ranges that
//! leave nothing).

use std::ops::Range;

use crate::ast::Text;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::ir::{Op, StrMatch, Value};
use crate::source::FileId;
use crate::yaml::ByteSpan;

/// An entry's text with a map back to source spans. Scope entries have their spaces
/// deleted before parsing (as Tracee does); `origin[i]` is where byte `i` came from.
pub struct Entry<'t> {
    pub text: String,
    origin: Vec<usize>,
    source: &'t Text,
}

impl<'t> Entry<'t> {
    pub fn verbatim(source: &'t Text) -> Entry<'t> {
        Entry {
            text: source.value.clone(),
            origin: (0..source.value.len()).collect(),
            source,
        }
    }

    pub fn without_spaces(source: &'t Text) -> Entry<'t> {
        let mut text = String::new();
        let mut origin = Vec::new();
        for (i, c) in source.value.char_indices() {
            if c != ' ' {
                text.push(c);
                origin.extend(i..i + c.len_utf8());
            }
        }
        Entry {
            text,
            origin,
            source,
        }
    }

    /// Byte offsets in the original value of the first and one past the last byte of
    /// `text[range]`.
    fn origin_range(&self, range: Range<usize>) -> (Option<usize>, Option<usize>) {
        let start = self.origin.get(range.start).copied();
        let end = range
            .end
            .checked_sub(1)
            .and_then(|last| self.origin.get(last))
            .map(|last| last + 1);
        (start, end)
    }

    /// Source span of `text[range]`.
    pub fn span(&self, range: Range<usize>) -> ByteSpan {
        let end_of_value = self.source.value.len();
        match self.origin_range(range) {
            (Some(start), Some(end)) if start < end => self.source.sub(start..end),
            (Some(start), _) => self.source.sub(start..start),
            _ => self.source.sub(end_of_value..end_of_value),
        }
    }

    /// The original text (spaces included) that `text[range]` came from.
    pub fn original(&self, range: Range<usize>) -> &str {
        match self.origin_range(range) {
            (Some(start), Some(end)) => self.source.value.get(start..end).unwrap_or(""),
            _ => "",
        }
    }

    pub fn whole(&self) -> ByteSpan {
        self.source.span.clone()
    }
}

/// `KEY OP VALUES` split into its parts (byte ranges into `Entry::text`).
pub struct Split {
    pub key: Range<usize>,
    pub op: Op,
    pub op_range: Range<usize>,
    pub values: Range<usize>,
}

pub enum SplitError {
    /// None of `= ! < >` in the text.
    NoOperator,
    /// An operator that is not one of the six (`==`, `=>`, `!`, `<>`).
    BadOperator(Range<usize>),
    /// Nothing after the operator.
    NoValue(Range<usize>),
}

pub fn split(text: &str) -> Result<Split, SplitError> {
    let is_op = |c: char| matches!(c, '=' | '!' | '<' | '>');
    let Some(start) = text.find(is_op) else {
        return Err(SplitError::NoOperator);
    };
    let op_len = text[start..].chars().take_while(|&c| is_op(c)).count();
    let op_range = start..start + op_len;
    let op = match &text[op_range.clone()] {
        "=" => Op::Eq,
        "!=" => Op::Ne,
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        _ => return Err(SplitError::BadOperator(op_range)),
    };
    if op_range.end == text.len() {
        return Err(SplitError::NoValue(op_range));
    }
    Ok(Split {
        key: 0..start,
        op,
        values: op_range.end..text.len(),
        op_range,
    })
}

/// Help for an operator that is not one of the six.
pub fn operator_help(op: &str) -> String {
    let fix = match op {
        "==" => Some("="),
        "=>" => Some(">="),
        "=<" => Some("<="),
        "!" | "=!" | "<>" | "!==" => Some("!="),
        _ => None,
    };
    match fix {
        Some(fix) => format!("did you mean `{fix}`? operators are `=`, `!=`, `<`, `<=`, `>`, `>=`"),
        None => "operators are `=`, `!=`, `<`, `<=`, `>`, `>=`".to_owned(),
    }
}

/// A value for messages: control and invisible characters escaped, long values cut.
pub fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(60)
        .flat_map(|c| {
            if c.is_control() || c == '\u{a0}' || c == '\u{feff}' || c == '\u{200b}' {
                c.escape_unicode().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect();
    if text.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// The type of a key's values, which decides the operators it takes and how values parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// Unsigned integer of this many bits.
    UInt(u32),
    /// Signed integer of this many bits.
    Int(u32),
    /// A string; `max` is the kernel field's capacity (longer never matches), `wildcards`
    /// whether `*` at the start/end is a pattern.
    Str {
        max: Option<usize>,
        wildcards: bool,
    },
    Bool,
}

impl ValueType {
    pub fn is_numeric(self) -> bool {
        matches!(self, ValueType::UInt(_) | ValueType::Int(_))
    }

    pub fn describe(self) -> String {
        match self {
            ValueType::UInt(bits) => format!("an unsigned {bits}-bit integer"),
            ValueType::Int(bits) => format!("a signed {bits}-bit integer"),
            ValueType::Str { .. } => "a string".to_owned(),
            ValueType::Bool => "a boolean (`true` or `false`)".to_owned(),
        }
    }

    fn bounds(self) -> (i128, i128) {
        match self {
            ValueType::UInt(bits) => (0, (1i128 << bits) - 1),
            ValueType::Int(bits) => (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1),
            _ => (i128::MIN, i128::MAX),
        }
    }
}

/// Why one value did not parse: a message and a help line.
pub struct BadValue {
    pub message: String,
    pub help: String,
}

fn bad(message: String, help: impl Into<String>) -> BadValue {
    BadValue {
        message,
        help: help.into(),
    }
}

pub fn parse_int(text: &str, ty: ValueType) -> Result<i128, BadValue> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (radix, body) = if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        (16, hex)
    } else if let Some(oct) = digits.strip_prefix("0o") {
        (8, oct)
    } else {
        (10, digits)
    };
    let expected = format!("`{text}` is not {}", ty.describe());
    if body.is_empty() || !body.chars().all(|c| c.is_digit(radix)) {
        let help = if text.starts_with("O_")
            || text
                .chars()
                .all(|c| c.is_ascii_uppercase() || c == '_' || c == '|')
        {
            "flag names are not decoded: write the number (e.g. `0` for O_RDONLY, `0x241` for O_WRONLY|O_CREAT|O_TRUNC)"
        } else {
            "write a decimal number, or hex with `0x` / octal with `0o`"
        };
        return Err(bad(expected, help));
    }
    if radix == 10 && body.len() > 1 && body.starts_with('0') {
        return Err(bad(
            format!("`{text}` has a leading zero"),
            format!(
                "write it in decimal without the zero, or as octal `0o{}`",
                body.trim_start_matches('0')
            ),
        ));
    }
    let magnitude = u128::from_str_radix(body, radix)
        .ok()
        .and_then(|m| i128::try_from(m).ok());
    let value = magnitude.map(|m| if negative { -m } else { m });
    let (min, max) = ty.bounds();
    match value {
        Some(v) if v >= min && v <= max => Ok(v),
        _ if negative && min == 0 => Err(bad(expected, "this value cannot be negative")),
        _ => Err(bad(
            format!("`{text}` is out of range for {}", ty.describe()),
            format!("use a value from {min} to {max}"),
        )),
    }
}

pub fn parse_bool(text: &str) -> Result<bool, BadValue> {
    match text {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(
            format!("`{text}` is not a boolean"),
            "write `true` or `false`",
        )),
    }
}

/// A string value with its wildcards resolved.
pub fn parse_str(text: &str, wildcards: bool) -> Result<StrMatch, (BadValue, Option<usize>)> {
    let core_start = usize::from(wildcards && text.starts_with('*'));
    let core_end = if wildcards && text.len() > core_start && text.ends_with('*') {
        text.len() - 1
    } else {
        text.len()
    };
    let core = &text[core_start..core_end];
    if core.is_empty() {
        return Err((
            bad(
                format!("`{text}` matches every value"),
                "remove the filter, or give a value next to the `*`",
            ),
            None,
        ));
    }
    if let Some(i) = core.find('*') {
        let problem = if wildcards {
            bad(
                format!("`*` in the middle of `{}`", shown(text)),
                "`*` works only at the start and/or end of a value (prefix, suffix, contains)",
            )
        } else {
            bad(
                format!(
                    "`{}` contains `*`, but this key matches whole values only",
                    shown(text)
                ),
                "remove the `*`: scope values match exactly (rule filters accept `*` at the start or end)",
            )
        };
        return Err((problem, Some(core_start + i)));
    }
    let core = core.to_owned();
    Ok(match (core_start == 1, core_end < text.len()) {
        (false, false) => StrMatch::Exact(core),
        (false, true) => StrMatch::Prefix(core),
        (true, false) => StrMatch::Suffix(core),
        (true, true) => StrMatch::Contains(core),
    })
}

pub fn str_len(value: &StrMatch) -> usize {
    match value {
        StrMatch::Exact(s) | StrMatch::Prefix(s) | StrMatch::Suffix(s) | StrMatch::Contains(s) => {
            s.len()
        }
    }
}

/// Digits of a container id: the runtimes name containers by 64 lower-case hex digits, and
/// the loader reads them from cgroup names in that form.
pub const CONTAINER_ID_LEN: usize = 64;
/// The shortest prefix the `container=ID` scope matches (as `docker ps` shows ids).
pub const CONTAINER_ID_MIN_PREFIX: usize = 12;

/// Why a container id value can match no container's id, if it cannot. `short_prefix`: the
/// `container=ID` scope, which also matches an exact value of at least
/// `CONTAINER_ID_MIN_PREFIX` digits as a prefix; rule filters (`containerId`) compare whole
/// values unless the value has a `*`.
pub fn container_id_problem(value: &StrMatch, short_prefix: bool) -> Option<String> {
    let (StrMatch::Exact(s) | StrMatch::Prefix(s) | StrMatch::Suffix(s) | StrMatch::Contains(s)) =
        value;
    if let Some(c) = s.chars().find(|c| !matches!(c, '0'..='9' | 'a'..='f')) {
        let why = if c.is_ascii_hexdigit() {
            "ids are written in lower case".to_owned()
        } else {
            format!("`{}` is not a hex digit", shown(&c.to_string()))
        };
        return Some(format!("is not a container id: {why}"));
    }
    let len = s.len();
    if len > CONTAINER_ID_LEN {
        return Some(format!(
            "is {len} digits long; container ids have {CONTAINER_ID_LEN}"
        ));
    }
    match value {
        StrMatch::Exact(_) if short_prefix && len < CONTAINER_ID_MIN_PREFIX => Some(format!(
            "is {len} digits long; a container id matches in full ({CONTAINER_ID_LEN} digits) or by its first {CONTAINER_ID_MIN_PREFIX} or more"
        )),
        StrMatch::Exact(_) if !short_prefix && len < CONTAINER_ID_LEN => Some(format!(
            "is {len} digits long; `containerId` is compared with the whole id ({CONTAINER_ID_LEN} digits)"
        )),
        _ => None,
    }
}

/// Splits a comma list, reporting empty items; returns each item's range in `text`.
pub fn items(
    entry: &Entry,
    values: Range<usize>,
    file: FileId,
    diags: &mut Diagnostics,
) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = values.start;
    let text = &entry.text;
    for piece in text[values.clone()].split(',') {
        let range = start..start + piece.len();
        start = range.end + 1;
        if piece.is_empty() {
            let span = entry.span(
                range.start.saturating_sub(1)..(range.end + 1).min(values.end).max(range.start),
            );
            diags.push(
                Diagnostic::new(
                    Code::EmptyListItem,
                    format!(
                        "empty item in the value list of `{}`",
                        &entry.text[..values.start]
                    ),
                )
                .at(file, span)
                .label("empty item")
                .help("remove the extra comma"),
            );
            continue;
        }
        out.push(range);
    }
    out
}

/// One key's combined entries, for the checks across them.
pub struct Combined<'a> {
    pub name: &'a str,
    pub ty: ValueType,
    /// (operator, parsed value, span of the entry)
    pub values: Vec<(Op, &'a Value, ByteSpan)>,
}

/// What `check_combined` calls a policy's scope (a rule is "the rule for `EVENT`").
pub const SCOPE: &str = "this policy's scope";

/// Warnings on one key's combined values: `=` mixed with `!=`, filters that no value can
/// pass, and bounds that every value passes. Returns true if the key can never match.
pub fn check_combined(c: &Combined, file: FileId, what: &str, diags: &mut Diagnostics) -> bool {
    let eq = c.values.iter().find(|(op, _, _)| *op == Op::Eq);
    let ne = c.values.iter().find(|(op, _, _)| *op == Op::Ne);
    if let (Some(eq), Some(ne)) = (eq, ne) {
        diags.push(
            Diagnostic::new(Code::MixedEquality, format!("`=` and `!=` mixed on `{}`", c.name))
                .at(file, ne.2.clone())
                .label("`!=` here")
                .also(eq.2.clone(), "`=` here")
                .help("a value matches if it equals any `=` value OR differs from every `!=` value; the `!=` entries admit almost everything: keep only one kind"),
        );
        return false;
    }
    if c.ty == ValueType::Bool {
        return check_bools(c, file, what, diags);
    }
    if !c.ty.is_numeric() {
        return false;
    }
    let (min, max) = c.ty.bounds();
    let ints = |op: Op| {
        c.values
            .iter()
            .filter(move |(o, _, _)| *o == op)
            .filter_map(|(_, v, _)| match v {
                Value::Int(i) => Some(*i),
                _ => None,
            })
    };
    // A value matches if it equals an `=` value, or is no `!=` value and lies within the
    // bounds. Bounds in one direction widen each other (the lowest lower bound counts);
    // the two directions intersect. Bounds here are inclusive integers.
    let lower = ints(Op::Gt).map(|v| v + 1).chain(ints(Op::Ge)).min();
    let upper = ints(Op::Lt).map(|v| v - 1).chain(ints(Op::Le)).max();
    if ints(Op::Eq).next().is_some() || (lower.is_none() && upper.is_none() && ne.is_none()) {
        return false;
    }
    let low = lower.unwrap_or(min).max(min);
    let high = upper.unwrap_or(max).min(max);
    let mut excluded: Vec<i128> = ints(Op::Ne).filter(|v| (low..=high).contains(v)).collect();
    excluded.sort_unstable();
    excluded.dedup();
    // Every value left is excluded when there are as many distinct exclusions as values.
    let empty = low > high || i128::try_from(excluded.len()).unwrap_or(i128::MAX) > high - low;
    if !empty {
        // A scope's lone `uid>=0` reads as "every user" (Tracee's own examples write it so):
        // nothing to warn about. Beside other bounds it cancels them, which is.
        let idiom = what == SCOPE && c.values.len() == 1;
        if lower.is_some_and(|l| l <= min) && !idiom {
            no_op_bound(c, file, true, diags);
        }
        if upper.is_some_and(|u| u >= max) && !idiom {
            no_op_bound(c, file, false, diags);
        }
        return false;
    }
    let is_bound = |op: &Op| matches!(op, Op::Lt | Op::Le | Op::Gt | Op::Ge);
    let bounded = lower.is_some() || upper.is_some();
    let span = c
        .values
        .iter()
        .find(|(op, _, _)| if bounded { is_bound(op) } else { *op == Op::Ne })
        .map_or(0..0, |(_, _, span)| span.clone());
    let (message, label, help) = if bounded {
        (
            format!(
                "no value of `{}` passes these bounds: {what} can never match",
                c.name
            ),
            "empty range",
            format!(
                "`{}` is {}: lower bounds (`>`, `>=`) and upper bounds (`<`, `<=`) together keep only the values between them, and `!=` removes values from that range",
                c.name,
                c.ty.describe()
            ),
        )
    } else {
        (
            format!(
                "`!=` excludes every value of `{}`: {what} can never match",
                c.name
            ),
            "excludes every value",
            format!(
                "`{}` is {} and these `!=` values are all it can be: drop a value, or remove the filter",
                c.name,
                c.ty.describe()
            ),
        )
    };
    let mut diagnostic = Diagnostic::new(Code::SelectsNothing, message)
        .at(file, span)
        .label(label)
        .help(help);
    for (op, _, span) in &c.values {
        if (is_bound(op) || *op == Op::Ne) && Some(span) != diagnostic.span.as_ref() {
            let what = if bounded { "bound" } else { "excluded" };
            diagnostic = diagnostic.also(span.clone(), what);
        }
    }
    diags.push(diagnostic);
    true
}

/// W308 for the bound that admits every value on its side (`uid>=0`, `uid<=4294967295`):
/// bounds in one direction widen each other, so that side filters nothing at all.
fn no_op_bound(c: &Combined, file: FileId, lower: bool, diags: &mut Diagnostics) {
    let (min, max) = c.ty.bounds();
    let found = c.values.iter().find_map(|(op, v, span)| {
        let Value::Int(v) = v else { return None };
        let reaches = match op {
            Op::Gt if lower => *v < min,
            Op::Ge if lower => *v <= min,
            Op::Lt if !lower => *v > max,
            Op::Le if !lower => *v >= max,
            _ => false,
        };
        reaches.then(|| (*op, *v, span.clone()))
    });
    let Some((op, v, span)) = found else { return };
    let (side, limit) = if lower {
        ("below", min)
    } else {
        ("above", max)
    };
    diags.push(
        Diagnostic::new(
            Code::AlwaysMatches,
            format!(
                "every value of `{}` passes `{}{}{v}`: the bound does nothing",
                c.name,
                c.name,
                op.as_str()
            ),
        )
        .at(file, span)
        .label("always true")
        .help(format!(
            "`{}` is {} and is never {side} {limit}: remove this bound, or correct it{}",
            c.name,
            c.ty.describe(),
            if op == Op::Ge && v == 0 {
                format!(" (`{}>0` leaves out 0)", c.name)
            } else {
                String::new()
            }
        )),
    );
}

/// Boolean fields: `!=true,false` excludes both values (never matches, W304); `=true,false`
/// admits both (does nothing, W308).
fn check_bools(c: &Combined, file: FileId, what: &str, diags: &mut Diagnostics) -> bool {
    let both = |op: Op| {
        let of = |b: bool| {
            c.values
                .iter()
                .find(|(o, v, _)| *o == op && **v == Value::Bool(b))
        };
        of(true).zip(of(false))
    };
    if let Some((t, f)) = both(Op::Ne) {
        let mut diagnostic = Diagnostic::new(
            Code::SelectsNothing,
            format!(
                "`!=` excludes both `true` and `false` of `{}`: {what} can never match",
                c.name
            ),
        )
        .at(file, t.2.clone())
        .label("excludes every value")
        .help(format!(
            "`{}` is a boolean: keep the one value to exclude, or write `{}=VALUE` for the one you want",
            c.name, c.name
        ));
        if f.2 != t.2 {
            diagnostic = diagnostic.also(f.2.clone(), "excludes the other");
        }
        diags.push(diagnostic);
        return true;
    }
    if let Some((t, f)) = both(Op::Eq) {
        let mut diagnostic = Diagnostic::new(
            Code::AlwaysMatches,
            format!(
                "every value of `{}` is `true` or `false`: the filter does nothing",
                c.name
            ),
        )
        .at(file, t.2.clone())
        .label("always true")
        .help(format!(
            "`{}` is a boolean: keep the one value you want, or remove the filter",
            c.name
        ));
        if f.2 != t.2 {
            diagnostic = diagnostic.also(f.2.clone(), "admits the other");
        }
        diags.push(diagnostic);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_accepts_the_six_operators_only() {
        for (text, op) in [
            ("a=1", Op::Eq),
            ("a!=1", Op::Ne),
            ("a<1", Op::Lt),
            ("a<=1", Op::Le),
            ("a>1", Op::Gt),
            ("a>=1", Op::Ge),
        ] {
            let Ok(s) = split(text) else {
                panic!("{text} should split")
            };
            assert_eq!(s.op, op, "{text}");
            assert_eq!(&text[s.key], "a");
            assert_eq!(&text[s.values], "1");
        }
        for text in ["a==1", "a=>1", "a=<1", "a!1", "a<>1", "a>>1", "a=!1"] {
            assert!(
                matches!(split(text), Err(SplitError::BadOperator(_))),
                "{text}"
            );
        }
        assert!(matches!(split("a"), Err(SplitError::NoOperator)));
        assert!(matches!(split("a!="), Err(SplitError::NoValue(_))));
    }

    #[test]
    fn parse_int_checks_width_sign_and_spelling() {
        assert_eq!(
            parse_int("4294967295", ValueType::UInt(32)).ok(),
            Some(4294967295)
        );
        assert!(parse_int("4294967296", ValueType::UInt(32)).is_err());
        assert!(parse_int("-1", ValueType::UInt(32)).is_err());
        assert_eq!(parse_int("-13", ValueType::Int(64)).ok(), Some(-13));
        assert_eq!(parse_int("0x10", ValueType::Int(32)).ok(), Some(16));
        assert_eq!(parse_int("0o644", ValueType::UInt(32)).ok(), Some(420));
        assert!(parse_int("0644", ValueType::UInt(32)).is_err());
        assert!(parse_int("abc", ValueType::Int(32)).is_err());
        assert!(parse_int("", ValueType::Int(32)).is_err());
        assert!(parse_int("-", ValueType::Int(32)).is_err());
        assert!(parse_int("+5", ValueType::Int(32)).is_err());
        assert_eq!(
            parse_int("-9223372036854775808", ValueType::Int(64)).ok(),
            Some(i64::MIN as i128)
        );
        assert!(
            parse_int(
                "99999999999999999999999999999999999999999",
                ValueType::Int(64)
            )
            .is_err()
        );
    }

    #[test]
    fn parse_str_resolves_wildcards_at_the_ends_only() {
        assert_eq!(
            parse_str("/tmp/*", true).ok(),
            Some(StrMatch::Prefix("/tmp/".into()))
        );
        assert_eq!(
            parse_str("*.so", true).ok(),
            Some(StrMatch::Suffix(".so".into()))
        );
        assert_eq!(
            parse_str("*shadow*", true).ok(),
            Some(StrMatch::Contains("shadow".into()))
        );
        assert_eq!(
            parse_str("bash", true).ok(),
            Some(StrMatch::Exact("bash".into()))
        );
        assert!(matches!(parse_str("/a*b", true), Err((_, Some(2)))));
        assert!(parse_str("*", true).is_err());
        assert!(parse_str("**", true).is_err());
        assert!(matches!(parse_str("ba*", false), Err((_, Some(2)))));
    }
}
