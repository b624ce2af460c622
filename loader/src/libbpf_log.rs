//! libbpf's messages. A refused load makes libbpf print the verifier's whole log (thousands
//! of lines); an operator needs one line saying what was refused and why, and the log where
//! it can be read later. So the messages of each load are kept here, not printed: what the
//! kernel refused is named from them (`refused`), and on a refusal they are saved to a file
//! the error line names (`note`). `--verbose` prints them as they come, as libbpf would.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::LoadError;

/// The messages of the load in progress (bounded: a verifier log can be megabytes).
static LOG: Mutex<Vec<String>> = Mutex::new(Vec::new());
const MAX_LINES: usize = 200_000;

/// Routes libbpf's warnings here (and, with `verbose`, its messages to stderr too).
pub fn capture(verbose: bool) {
    fn keep(msg: &str) {
        if let Ok(mut log) = LOG.lock()
            && log.len() < MAX_LINES
        {
            log.push(msg.trim_end().to_owned());
        }
    }
    if verbose {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Info, |_, msg: String| {
            eprint!("{msg}");
            keep(&msg);
        })));
    } else {
        libbpf_rs::set_print(Some((libbpf_rs::PrintLevel::Warn, |_, msg: String| {
            keep(&msg)
        })));
    }
}

/// Forgets the messages of earlier loads.
pub fn clear() {
    if let Ok(mut log) = LOG.lock() {
        log.clear();
    }
}

/// What the kernel refused while libbpf loaded the object, from its messages: "create map
/// `rb`", "load program `x`".
pub fn refused() -> Option<String> {
    let log = LOG.lock().ok()?;
    log.iter().rev().find_map(|line| {
        if line.contains("bpf_object__probe_loading") {
            return Some("load libbpf's trivial test program (BPF is not allowed here)".to_owned());
        }
        let (what, rest) = if let Some(rest) = line.strip_prefix("libbpf: prog '") {
            ("load program", rest)
        } else if let Some(rest) = line.strip_prefix("libbpf: map '") {
            ("create map", rest)
        } else {
            return None;
        };
        let (name, tail) = rest.split_once('\'')?;
        (tail.contains("failed") || tail.contains("error")).then(|| format!("{what} `{name}`"))
    })
}

/// For the error line of a refused load: where libbpf's messages (the verifier's log
/// among them) were saved, or how to see them. Empty for errors that are not the kernel's.
pub fn note(error: &LoadError, generation: u32) -> String {
    if !matches!(error, LoadError::Libbpf { .. }) {
        return String::new();
    }
    let lines = match LOG.lock() {
        Ok(log) if !log.is_empty() => log.clone(),
        _ => return String::new(),
    };
    match save(&lines, generation) {
        Some(path) => format!(
            " (libbpf's log, with the verifier's, is in {}; --verbose prints it)",
            path.display()
        ),
        None => " (--verbose prints libbpf's log, with the verifier's)".to_owned(),
    }
}

/// Writes the lines to a file of the temporary directory, readable by root only, one per
/// loader and generation number (a refused reload keeps its number, so refusals repeated by
/// a deploy loop replace their file instead of filling the directory). Created exclusively:
/// a link planted under that name is removed, never followed.
fn save(lines: &[String], generation: u32) -> Option<PathBuf> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = std::env::temp_dir().join(format!(
        "tracee-load-{}-generation-{generation}.log",
        std::process::id()
    ));
    let create = || {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
    };
    let mut file = match create() {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            std::fs::remove_file(&path).ok()?;
            create().ok()?
        }
        Err(_) => return None,
    };
    for line in lines {
        writeln!(file, "{line}").ok()?;
    }
    Some(path)
}
