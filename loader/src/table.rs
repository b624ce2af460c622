//! The table's layout: fixed columns sized for the output's width, and the arguments
//! fitted into what is left.
//!
//! Unlimited (a pipe or a file, or `--width 0`): one line per event, every column at full
//! size, the arguments whole. Limited (a terminal, or `--width N`): no line is longer than
//! the width. The fixed columns are never cut: below `FULL_WIDTH` they are the compact ones
//! (seconds without microseconds, narrower UID, PID, TID, RET and EVENT; a value wider than
//! its column pushes the next ones right until a narrower one lets the row catch up with
//! the header). The arguments follow on the first line as far as they fit, whole, and wrap
//! onto continuation lines indented past the TIME column (so every event starts with its
//! time); an argument wider than a whole line is broken inside (after a `,`, `|`, `/` or
//! space where it can), and after `MAX_CONTINUATION` continuation lines the rest is cut
//! with `…`.

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Widths from which the full columns are used.
pub const FULL_WIDTH: usize = 140;

/// Continuation lines of one event at most.
pub const MAX_CONTINUATION: usize = 3;

/// The narrowest line continuation lines get, whatever the width.
const MIN_ROOM: usize = 20;

/// Column widths: time, uid, comm, pid, tid, ret, event; and the gap after the time.
struct Columns {
    widths: [usize; 7],
    time_gap: usize,
    micros: bool,
}

const FULL: Columns = Columns {
    widths: [15, 6, 16, 7, 7, 16, 20],
    time_gap: 2,
    micros: true,
};

const COMPACT: Columns = Columns {
    widths: [8, 5, 15, 7, 7, 4, 16],
    time_gap: 1,
    micros: false,
};

const HEADER: [&str; 7] = ["TIME", "UID", "COMM", "PID", "TID", "RET", "EVENT"];

/// The fixed columns of one row.
#[derive(Debug, Clone)]
pub struct Row<'a> {
    /// Wall time, in nanoseconds since the epoch.
    pub epoch_ns: i64,
    pub uid: u32,
    pub comm: &'a str,
    pub pid: u32,
    pub tid: u32,
    pub ret: i64,
    pub event: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// None: unlimited.
    width: Option<usize>,
}

impl Layout {
    /// `width` 0 or None: unlimited.
    pub fn new(width: Option<usize>) -> Layout {
        Layout {
            width: width.filter(|w| *w > 0),
        }
    }

    fn columns(&self) -> &'static Columns {
        match self.width {
            Some(w) if w < FULL_WIDTH => &COMPACT,
            _ => &FULL,
        }
    }

    pub fn header(&self) -> String {
        let mut line = String::new();
        self.fixed(&mut line, &HEADER.map(str::to_owned));
        line.push_str("ARGS");
        line
    }

    /// One event: its line, and its continuation lines after newlines (no final newline).
    /// `args` are the arguments as `name: value`, in order.
    pub fn row(&self, row: &Row<'_>, args: &[String]) -> String {
        let columns = self.columns();
        let day_ns = row.epoch_ns.rem_euclid(86_400_000_000_000);
        let (hours, minutes) = (day_ns / 3_600_000_000_000, day_ns / 60_000_000_000 % 60);
        let seconds = day_ns / 1_000_000_000 % 60;
        let time = if columns.micros {
            let micros = day_ns / 1_000 % 1_000_000;
            format!("{hours:02}:{minutes:02}:{seconds:02}:{micros:06}")
        } else {
            format!("{hours:02}:{minutes:02}:{seconds:02}")
        };
        let cells = [
            time,
            row.uid.to_string(),
            printable(row.comm),
            row.pid.to_string(),
            row.tid.to_string(),
            row.ret.to_string(),
            printable(row.event),
        ];
        let mut line = String::with_capacity(128);
        self.fixed(&mut line, &cells);
        let Some(width) = self.width else {
            line.push_str(&args.join(", "));
            return line;
        };
        let indent = columns.widths[0] + columns.time_gap;
        let first_room = width.saturating_sub(line.width());
        let room = width.saturating_sub(indent).max(MIN_ROOM);
        let lines = fit(args, first_room, room);
        let mut lines = lines.into_iter();
        if let Some(first) = lines.next() {
            line.push_str(&first);
        }
        truncate_end(&mut line);
        for more in lines {
            line.push('\n');
            line.extend(std::iter::repeat_n(' ', indent));
            line.push_str(&more);
        }
        line
    }

    /// The fixed columns, each starting where its header does; after a value wider than
    /// its column, the next starts one space later, and the row catches up with the header
    /// as soon as a narrower value leaves room.
    fn fixed(&self, line: &mut String, cells: &[String; 7]) {
        let columns = self.columns();
        let (mut at, mut column_end) = (0, 0);
        for (i, cell) in cells.iter().enumerate() {
            line.push_str(cell);
            at += cell.width();
            let gap = if i == 0 { columns.time_gap } else { 1 };
            column_end += columns.widths[i] + gap;
            let pad = column_end.saturating_sub(at).max(1);
            line.extend(std::iter::repeat_n(' ', pad));
            at += pad;
        }
    }
}

fn truncate_end(line: &mut String) {
    let kept = line.trim_end().len();
    line.truncate(kept);
}

/// Control characters (a process may name itself anything) shown as `?`: they would
/// move the cursor or recolour the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The arguments laid out: the first line gets `first_room` columns, the others `room`.
/// An argument goes whole on a line where it fits (the next line when this one has too
/// little room left), broken only when wider than a whole line; the separator `,` stays
/// with the argument before it. More than `MAX_CONTINUATION` continuation lines: the last
/// one ends with `…`.
pub fn fit(args: &[String], first_room: usize, room: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    let mut left = first_room;
    for (i, arg) in args.iter().enumerate() {
        let mut piece = printable(arg);
        if i + 1 < args.len() {
            piece.push(',');
        }
        let on_line = !lines.last().is_some_and(String::is_empty);
        let need = piece.width() + usize::from(on_line);
        if need <= left {
            if let Some(line) = lines.last_mut() {
                if on_line {
                    line.push(' ');
                }
                line.push_str(&piece);
            }
            left -= need;
            continue;
        }
        if on_line || left < room {
            lines.push(String::new());
            left = room;
        }
        // On an empty line of full room: whole if it fits, else broken.
        let mut rest = piece.as_str();
        loop {
            let (head, tail) = break_at_width(rest, left);
            if let Some(line) = lines.last_mut() {
                line.push_str(head);
            }
            left = left.saturating_sub(head.width());
            if tail.is_empty() {
                break;
            }
            lines.push(String::new());
            left = room;
            rest = tail;
        }
        if lines.len() > MAX_CONTINUATION + 1 {
            break;
        }
    }
    if lines.len() > MAX_CONTINUATION + 1 {
        lines.truncate(MAX_CONTINUATION + 1);
        if let Some(last) = lines.last_mut() {
            let (kept, _) = split_at_width(last, room.saturating_sub(1));
            *last = format!("{kept}…");
        }
    }
    lines
}

/// `split_at_width`, but broken after the last `,`, `|`, `/` or space of the prefix when
/// there is one in its second half: a list, a path or a set of flags breaks between its
/// parts.
fn break_at_width(s: &str, width: usize) -> (&str, &str) {
    let (head, tail) = split_at_width(s, width);
    if tail.is_empty() {
        return (head, tail);
    }
    match head.rfind([',', '|', '/', ' ']) {
        Some(at) if (at + 1) * 2 > head.len() => s.split_at(at + 1),
        _ => (head, tail),
    }
}

/// The longest prefix of `s` at most `width` columns wide, and the rest.
fn split_at_width(s: &str, width: usize) -> (&str, &str) {
    let mut used = 0;
    for (i, c) in s.char_indices() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            return s.split_at(i);
        }
        used += w;
    }
    (s, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row<'static> {
        Row {
            // 2023-11-14 22:13:20.093212 UTC
            epoch_ns: 1_700_000_000_000_000_000 + 93_212_000,
            uid: 1000,
            comm: "touch",
            pid: 41230,
            tid: 41231,
            ret: 3,
            event: "openat",
        }
    }

    fn openat_args(path: &str) -> Vec<String> {
        vec![
            "dirfd: AT_FDCWD".into(),
            format!("pathname: \"{path}\""),
            "flags: O_WRONLY|O_CREAT|O_CLOEXEC".into(),
            "mode: S_IRUSR|S_IWUSR|S_IRGRP|S_IWGRP|S_IROTH|S_IWOTH".into(),
        ]
    }

    /// Where each column starts in a line, found by its header name.
    fn starts(header: &str) -> Vec<usize> {
        HEADER
            .iter()
            .chain(&["ARGS"])
            .map(|name| match header.find(name) {
                Some(at) => at,
                None => panic!("{name} not in {header}"),
            })
            .collect()
    }

    #[test]
    fn unlimited_is_one_line_with_full_columns() {
        let layout = Layout::new(None);
        assert_eq!(Layout::new(Some(0)), layout);
        let header = layout.header();
        assert_eq!(
            header,
            "TIME             UID    COMM             PID     TID     RET              EVENT                ARGS"
        );
        let args = openat_args(&"/very/long".repeat(40));
        let line = layout.row(&row(), &args);
        assert!(!line.contains('\n'));
        assert!(
            line.starts_with(
                "22:13:20:093212  1000   touch            41230   41231   3                openat               dirfd: AT_FDCWD, pathname: \"/very/long"
            ),
            "{line}"
        );
        assert!(line.ends_with(&args.join(", ")));
    }

    /// 80 columns: the fixed columns whole and under their headers, no line longer than 80,
    /// the arguments wrapped whole where they fit, cut with … past the last continuation
    /// line.
    #[test]
    fn eighty_columns() {
        let layout = Layout::new(Some(80));
        let header = layout.header();
        assert!(header.width() <= 80, "{header}");
        let columns = starts(&header);
        let text = layout.row(&row(), &openat_args("/tmp/tracee-e2e-AbCdEf/0-created"));
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines {
            assert!(line.width() <= 80, "{} columns: {line}", line.width());
        }
        let first = lines[0];
        for (value, column) in ["22:13:20", "1000", "touch", "41230", "41231", "3", "openat"]
            .iter()
            .zip(&columns)
        {
            assert_eq!(
                first.get(*column..column + value.len()),
                Some(*value),
                "{first}"
            );
        }
        // Each argument whole, on one line.
        for arg in openat_args("/tmp/tracee-e2e-AbCdEf/0-created") {
            assert!(lines.iter().any(|l| l.contains(&arg)), "{arg}: {text}");
        }
        // Continuation lines leave the TIME column empty.
        assert!(lines.len() > 1);
        for line in &lines[1..] {
            assert!(
                line.starts_with("         ") && !line.starts_with("          "),
                "{line:?}"
            );
        }

        // Too much for the lines allowed: cut, with the ellipsis.
        let many: Vec<String> = (0..60).map(|i| format!("arg{i}: {i}")).collect();
        let text = layout.row(&row(), &many);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + MAX_CONTINUATION, "{text}");
        assert!(text.ends_with('…'), "{text}");
        assert!(lines.iter().all(|l| l.width() <= 80), "{text}");
        assert!(text.contains("arg0: 0,") && !text.contains("arg59"));

        // One argument wider than a whole line: broken inside, still within 80.
        let long = vec![format!("pathname: \"/{}\"", "x".repeat(100))];
        let text = layout.row(&row(), &long);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines.iter().all(|l| l.width() <= 80), "{text}");
        assert_eq!(
            lines[1..]
                .iter()
                .map(|l| l.trim_start())
                .collect::<String>(),
            long[0]
        );
    }

    #[test]
    fn wide_values_push_but_never_cut() {
        let layout = Layout::new(Some(80));
        let mut r = row();
        r.pid = 4_194_303;
        r.ret = 140_737_488_355_328;
        r.event = "security_socket_setsockopt";
        r.comm = "a\u{1b}[2Jb";
        let text = layout.row(&r, &["fd: 3".to_owned()]);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains(" 4194303 41231 "), "{text}");
        assert!(lines[0].contains(" 140737488355328 "), "{text}");
        assert!(lines[0].ends_with(" security_socket_setsockopt"), "{text}");
        assert!(lines[0].contains(" a?[2Jb "), "{text}");
        // The fixed columns took the whole width: the arguments go below.
        assert_eq!(lines[1], "         fd: 3");
        // One wide value: the next columns catch up with the header.
        r.event = "openat";
        r.ret = 3;
        let header = layout.header();
        let text = layout.row(&r, &["fd: 3".to_owned()]);
        assert_eq!(
            header.find("RET"),
            text.find(" 3 ").map(|at| at + 1),
            "{header}\n{text}"
        );
        assert_eq!(
            header.find("EVENT"),
            text.find("openat"),
            "{header}\n{text}"
        );
    }

    #[test]
    fn wide_terminals_get_the_full_columns() {
        let layout = Layout::new(Some(FULL_WIDTH));
        assert_eq!(layout.header(), Layout::new(None).header());
        let text = layout.row(&row(), &openat_args("/tmp/x"));
        assert!(text.starts_with("22:13:20:093212  1000"), "{text}");
        assert!(text.lines().all(|l| l.width() <= FULL_WIDTH), "{text}");
    }

    #[test]
    fn fit_keeps_separators_and_handles_no_room() {
        let args = vec!["a: 1".to_owned(), "b: 2".to_owned(), "c: 3".to_owned()];
        assert_eq!(fit(&args, 100, 100), vec!["a: 1, b: 2, c: 3"]);
        assert_eq!(fit(&args, 10, 100), vec!["a: 1,", "b: 2, c: 3"]);
        assert_eq!(fit(&args, 0, 20), vec!["", "a: 1, b: 2, c: 3"]);
        assert_eq!(fit(&[], 10, 20), vec![""]);
    }
}
