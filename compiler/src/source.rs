//! Reading the input: which files a path names, their text, and positions in them.
//!
//! Decoding problems (invalid UTF-8, a file over the size limit) become diagnostics of that
//! file; only problems with the paths themselves (missing, unreadable, no policy files) are
//! fatal `InputError`s, which the CLI turns into exit status 2.

use std::fs;
use std::path::{Path, PathBuf};

use crate::diagnostics::{Code, Diagnostic};

pub type FileId = usize;

/// Policy files larger than this are refused before parsing (a policy set with 10,000
/// filter values is around 200 KiB).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// File name endings read from a directory.
pub const POLICY_EXTENSIONS: &[&str] = &[".yaml", ".yml", ".json"];

/// Policy test files (`tracee-compile test`): next to the policies, never read as policies.
pub const TEST_EXTENSIONS: &[&str] = &[".test.yaml", ".test.yml"];

/// Is this file name a policy test file's?
pub fn is_test_file(name: &str) -> bool {
    TEST_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
}

#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    /// The path as the user gave it (or as found in the given directory), for messages.
    pub name: String,
    pub text: String,
    /// Byte offset of the start of every line, so positions cost a binary search, not a
    /// scan (a file can carry thousands of diagnostics).
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: PathBuf, name: String, text: String) -> SourceFile {
        // Line breaks as YAML (and miette) count them: `\n`, `\r\n`, or a lone `\r`.
        let bytes = text.as_bytes();
        let line_starts = std::iter::once(0)
            .chain(bytes.iter().enumerate().filter_map(|(i, &b)| {
                let lone_cr = b == b'\r' && bytes.get(i + 1) != Some(&b'\n');
                (b == b'\n' || lone_cr).then_some(i + 1)
            }))
            .collect();
        SourceFile {
            path,
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let mut start = self.line_starts.get(line).copied().unwrap_or(0).min(offset);
        // Editors do not count a byte-order mark as a column.
        if start == 0 && self.text.starts_with('\u{feff}') && offset >= 3 {
            start = 3;
        }
        (line + 1, self.text[start..offset].chars().count() + 1)
    }

    /// 0-based line holding a byte offset.
    pub fn line_of(&self, offset: usize) -> usize {
        self.line_starts
            .partition_point(|&start| start <= offset)
            .saturating_sub(1)
    }

    /// Byte range of 0-based `line` including its newline (clamped to the text).
    pub fn line_range(&self, line: usize) -> std::ops::Range<usize> {
        let start = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.text.len());
        start..end
    }

    pub fn line_count(&self) -> usize {
        self.line_starts.len()
    }
}

pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Byte offset of a 1-based line and character column, clamped to the text.
pub fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let mut line_start = 0;
    for _ in 1..line.max(1) {
        match text[line_start..].find('\n') {
            Some(i) => line_start += i + 1,
            None => return text.len(),
        }
    }
    let rest = &text[line_start..];
    let line_end = rest.find('\n').unwrap_or(rest.len());
    rest[..line_end]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(line_start + line_end, |(i, _)| line_start + i)
}

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read `{path}`: {}", schema::input::describe_io(.source))]
    Unreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "`{path}` holds no policy files (looked for *.yaml, *.yml and *.json, not in sub-directories)"
    )]
    NoPolicyFiles { path: String },
    #[error("no input paths given")]
    NoPaths,
}

/// Expands the given paths into the list of policy files, in the documented order: each
/// path in turn; a directory's `*.yaml`, `*.yml` and `*.json` entries sorted by name.
/// Nothing is opened here: a directory entry with a policy name is listed unless it is a
/// directory itself, so `read` reports one that is not a regular file (a FIFO, a socket, a
/// device, a broken or looping link) instead of it being skipped without a word.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    if paths.is_empty() {
        return Err(InputError::NoPaths);
    }
    let mut files = Vec::new();
    for path in paths {
        let unreadable = |source| InputError::Unreadable {
            path: path.display().to_string(),
            source,
        };
        if is_stdin(path) {
            files.push(path.clone());
            continue;
        }
        // stat, not open: a FIFO given here is reported by `read`, never waited on.
        let meta = fs::metadata(path).map_err(unreadable)?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        // Follows symlinks: a link to a directory is a directory (not read: the search is
        // not recursive); a broken link is listed, to be reported.
        let mut found = entries(path, |name, entry| {
            POLICY_EXTENSIONS.iter().any(|ext| name.ends_with(ext))
                && !is_test_file(name)
                && !schema::input::kind_of(entry)
                    .is_ok_and(|k| k == schema::input::FileKind::Directory)
        })
        .map_err(unreadable)?;
        if found.is_empty() {
            return Err(InputError::NoPolicyFiles {
                path: path.display().to_string(),
            });
        }
        files.append(&mut found);
    }
    Ok(files)
}

/// The entries of directory `dir` whose name (and path) `keep` accepts, sorted by name.
fn entries(dir: &Path, keep: impl Fn(&str, &Path) -> bool) -> Result<Vec<PathBuf>, std::io::Error> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| keep(n, &path))
        {
            found.push(path);
        }
    }
    found.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(found)
}

/// The policy test files the paths name: files named `*.test.yaml` or `*.test.yml` given
/// directly, and those in the given directories (sorted by name, not recursively).
pub fn discover_tests(paths: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    let mut files = Vec::new();
    for path in paths {
        let unreadable = |source| InputError::Unreadable {
            path: path.display().to_string(),
            source,
        };
        let meta = fs::metadata(path).map_err(unreadable)?;
        if !meta.is_dir() {
            if path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(is_test_file)
            {
                files.push(path.clone());
            }
            continue;
        }
        files.extend(entries(path, |name, _| is_test_file(name)).map_err(unreadable)?);
    }
    // A file named directly and through its directory runs once.
    let mut seen = std::collections::HashSet::new();
    files.retain(|f| seen.insert(fs::canonicalize(f).unwrap_or_else(|_| f.clone())));
    Ok(files)
}

/// Reads one file. A file that is missing or cannot be opened is fatal; one that is not a
/// regular file (or a link that leads nowhere), too large or not UTF-8 is reported as a
/// diagnostic of that file, with as much of the text as is needed to point at the problem.
pub fn read(path: &Path, id: FileId) -> Result<(SourceFile, Option<Diagnostic>), InputError> {
    use schema::input::OpenError;
    if is_stdin(path) {
        return read_stdin(id);
    }
    let unreadable = |source| InputError::Unreadable {
        path: path.display().to_string(),
        source,
    };
    let name = path.display().to_string();
    let empty = || SourceFile::new(path.to_owned(), name.clone(), String::new());
    let not_a_file = |what: String| {
        let diagnostic = Diagnostic::new(Code::NotAFile, format!("`{name}` {what}"))
            .in_file(id)
            .help("give policy files (YAML or JSON) or directories of them; move anything else out of the policy directory");
        Ok((empty(), Some(diagnostic)))
    };
    let mut opened = match schema::input::open_regular(path) {
        Ok(opened) => opened,
        Err(OpenError::NotRegular(kind)) => {
            return not_a_file(format!("is {}, not a policy file", kind.describe()));
        }
        Err(OpenError::Io(e)) => {
            // A broken or looping link that a directory listed: a problem of that file.
            if fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                return not_a_file(format!(
                    "is a symbolic link that cannot be followed ({})",
                    schema::input::describe_io(&e)
                ));
            }
            return Err(unreadable(e));
        }
        Err(e @ OpenError::Replaced) => {
            return Err(unreadable(std::io::Error::other(e.to_string())));
        }
    };
    // Refuse by size before reading; the bounded read still guards files that grow or lie.
    let too_large = opened.metadata.len() > MAX_FILE_BYTES;
    let mut bytes = Vec::new();
    if !too_large {
        bytes =
            schema::input::read_bounded(&mut opened.file, MAX_FILE_BYTES).map_err(unreadable)?;
    }
    if too_large || bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok((empty(), Some(too_large_diagnostic("file", id))));
    }
    Ok(decode(path.to_owned(), name, bytes, id))
}

fn too_large_diagnostic(what: &str, id: FileId) -> Diagnostic {
    Diagnostic::new(
        Code::FileTooLarge,
        format!(
            "{what} is larger than the limit of {} MiB",
            MAX_FILE_BYTES / 1024 / 1024
        ),
    )
    .in_file(id)
    .help("split the policies into several files, or move long value lists into fewer, broader filters")
}

/// The text of a policy file's bytes, or the lossy text and the encoding problem.
fn decode(
    path: PathBuf,
    name: String,
    bytes: Vec<u8>,
    id: FileId,
) -> (SourceFile, Option<Diagnostic>) {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        let diagnostic = Diagnostic::new(Code::InvalidUtf8, "file is UTF-16 encoded")
            .in_file(id)
            .help("save the file as UTF-8");
        return (SourceFile::new(path, name, String::new()), Some(diagnostic));
    }
    match String::from_utf8(bytes) {
        Ok(text) => (SourceFile::new(path, name, text), None),
        Err(err) => {
            let valid = err.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(err.as_bytes()).into_owned();
            // The lossy text has the same bytes up to the first invalid one.
            let diagnostic = Diagnostic::new(
                Code::InvalidUtf8,
                format!("invalid UTF-8 at byte offset {valid}"),
            )
            .at(id, valid..valid)
            .label("not UTF-8")
            .help("policy files must be UTF-8 text: re-encode the file (e.g. `iconv -t UTF-8`)");
            (SourceFile::new(path, name, text), Some(diagnostic))
        }
    }
}

/// `-` on the command line: a policy read from standard input.
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

/// The name standard input has in diagnostics.
pub const STDIN_NAME: &str = "<stdin>";

fn read_stdin(id: FileId) -> Result<(SourceFile, Option<Diagnostic>), InputError> {
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut std::io::Read::take(std::io::stdin().lock(), MAX_FILE_BYTES + 1),
        &mut bytes,
    )
    .map_err(|source| InputError::Unreadable {
        path: STDIN_NAME.to_owned(),
        source,
    })?;
    let path = PathBuf::from(STDIN_NAME);
    if bytes.len() as u64 > MAX_FILE_BYTES {
        let empty = SourceFile::new(path, STDIN_NAME.to_owned(), String::new());
        return Ok((empty, Some(too_large_diagnostic("standard input", id))));
    }
    Ok(decode(path, STDIN_NAME.to_owned(), bytes, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_file_positions_skip_the_bom_and_count_lone_carriage_returns() {
        let file = SourceFile::new(PathBuf::new(), String::new(), "\u{feff}ab\rcd".to_owned());
        assert_eq!(file.line_col(3), (1, 1));
        assert_eq!(file.line_col(4), (1, 2));
        assert_eq!(file.line_col(6), (2, 1));
    }

    #[test]
    fn source_file_positions_match_the_scanning_version() {
        let text = "ab\nçd: x\n\nlast";
        let file = SourceFile::new(PathBuf::new(), String::new(), text.to_owned());
        for offset in 0..=text.len() + 2 {
            assert_eq!(
                file.line_col(offset),
                line_col(text, offset),
                "offset {offset}"
            );
        }
        assert_eq!(file.line_range(1), 3..10);
        assert_eq!(file.line_count(), 4);
    }

    #[test]
    fn line_col_counts_characters_from_one() {
        let text = "ab\nçd: x\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 3), (2, 1));
        assert_eq!(line_col(text, 5), (2, 2)); // after the two-byte `ç`
        assert_eq!(line_col(text, 999), (3, 1));
    }

    #[test]
    fn offset_of_inverts_line_col() {
        let text = "ab\nçd: x\nlast";
        for offset in [0, 1, 3, 5, 6, 9, 12] {
            let (line, col) = line_col(text, offset);
            assert_eq!(offset_of(text, line, col), offset, "offset {offset}");
        }
        assert_eq!(offset_of(text, 99, 1), text.len());
    }
}
