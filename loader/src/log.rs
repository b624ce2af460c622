//! The loader's messages on stderr: `tracee-load: warning: ...` lines, or with
//! `--log-format json` one JSON object per line in the shape Tracee's own logs have
//! (`level`, `ts` in epoch seconds, `msg`), for log pipelines that parse them.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static JSON: AtomicBool = AtomicBool::new(false);

/// Every message from now on as JSON.
pub fn use_json(json: bool) {
    JSON.store(json, Ordering::Relaxed);
}

const PREFIX: &str = "tracee-load: ";

/// The level and message of a `tracee-load: [level: ]message` line.
fn split(line: &str) -> (&'static str, &str) {
    let rest = line.strip_prefix(PREFIX).unwrap_or(line);
    for (word, level) in [
        ("error: ", "error"),
        ("warning: ", "warn"),
        ("note: ", "info"),
    ] {
        if let Some(msg) = rest.strip_prefix(word) {
            return (level, msg);
        }
    }
    ("info", rest)
}

/// One message as a JSON log line (without the newline).
pub fn json_line(line: &str, epoch_ns: i64) -> String {
    let (level, msg) = split(line);
    serde_json::json!({
        "level": level,
        "ts": epoch_ns as f64 / 1e9,
        "msg": msg,
    })
    .to_string()
}

/// Writes a `tracee-load: ...` message to stderr in the chosen format.
pub fn emit(line: &str) {
    let mut err = std::io::stderr().lock();
    let _ = if JSON.load(Ordering::Relaxed) {
        writeln!(err, "{}", json_line(line, crate::run::wall_now_ns()))
    } else {
        writeln!(err, "{line}")
    };
}

/// `eprintln!` for the loader's messages: formats, then `log::emit`s.
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::log::emit(&format!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::json_line;

    #[test]
    fn levels_come_from_the_prefix() {
        let v: serde_json::Value = serde_json::from_str(&json_line(
            "tracee-load: warning: 3 events lost",
            1_500_000_000,
        ))
        .unwrap_or_default();
        assert_eq!(v["level"], "warn");
        assert_eq!(v["msg"], "3 events lost");
        assert_eq!(v["ts"], 1.5);
        let v: serde_json::Value =
            serde_json::from_str(&json_line("tracee-load: attached 3 hooks", 0))
                .unwrap_or_default();
        assert_eq!(v["level"], "info");
        assert_eq!(v["msg"], "attached 3 hooks");
        let v: serde_json::Value =
            serde_json::from_str(&json_line("tracee-load: error: \"quoted\"", 0))
                .unwrap_or_default();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "\"quoted\"");
    }
}
