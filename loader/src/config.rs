//! `--config FILE`: a YAML mapping of settings, one per flag, named as the long flag
//! without its dashes (`ring-buffer-mb: 32`, `watch: true`, `image: /etc/tracee/rules.bin`).
//! The settings become command-line arguments placed before the real ones, for every flag
//! the command line does not give, so one parser checks both and the command line wins.

use std::collections::BTreeMap;
use std::ffi::OsString;

use clap::parser::ValueSource;

/// A setting's value as YAML gives it.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(untagged)]
enum Value {
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<Value>),
}

impl Value {
    fn text(&self) -> Option<String> {
        match self {
            Value::Bool(b) => Some(b.to_string()),
            Value::Int(i) => Some(i.to_string()),
            Value::Float(f) => Some(f.to_string()),
            Value::Text(t) => Some(t.clone()),
            Value::List(_) => None,
        }
    }
}

/// `argv` with the settings of its `--config FILE`, if it names one; the error says which
/// setting (or the file) is wrong and how to fix it.
pub fn merge(command: &clap::Command, argv: Vec<OsString>) -> Result<Vec<OsString>, String> {
    // A first look at the command line only, to find the file and the flags it gives
    // (errors are left for the real parse).
    let Ok(seen) = command
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)
    else {
        // --help, --version: nothing to merge.
        return Ok(argv);
    };
    let Some(path) = seen.get_one::<std::path::PathBuf>("config") else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--config {}: cannot read it: {e}", path.display()))?;
    let settings = settings(&text).map_err(|e| format!("--config {}: {e}", path.display()))?;
    let mut front = Vec::new();
    for (key, value) in settings {
        let Some(arg) = command.get_arguments().find(|a| {
            a.get_long() == Some(key.as_str()) || (a.is_positional() && a.get_id() == key.as_str())
        }) else {
            let known: Vec<String> = command
                .get_arguments()
                .filter(|a| {
                    a.get_id() != "config" && a.get_id() != "help" && a.get_id() != "version"
                })
                .map(|a| {
                    a.get_long()
                        .map_or_else(|| a.get_id().to_string(), str::to_owned)
                })
                .collect();
            return Err(format!(
                "--config {}: `{key}` is not a setting; the settings are the long flags without `--`: {}",
                path.display(),
                known.join(", ")
            ));
        };
        let id = arg.get_id().as_str();
        if id == "config" {
            return Err(format!(
                "--config {}: a config file cannot name another (`config`)",
                path.display()
            ));
        }
        if seen.value_source(id) == Some(ValueSource::CommandLine) {
            continue;
        }
        let flag = !arg.get_action().takes_values();
        let values = match &value {
            Value::List(items) => items.clone(),
            one => vec![one.clone()],
        };
        for v in values {
            let Some(text) = v.text() else {
                return Err(format!(
                    "--config {}: `{key}`: lists of lists are not settings",
                    path.display()
                ));
            };
            if flag {
                match v {
                    Value::Bool(true) => front.push(OsString::from(format!("--{key}"))),
                    Value::Bool(false) => {}
                    _ => {
                        return Err(format!(
                            "--config {}: `{key}` is a switch: give `true` or `false`, not `{text}`",
                            path.display()
                        ));
                    }
                }
            } else if arg.is_positional() {
                front.push(OsString::from(text));
            } else {
                front.push(OsString::from(format!("--{key}={text}")));
            }
        }
    }
    // After the program name, before the command line's own arguments; a positional from
    // the file goes last, after `--`-less flags (clap takes it wherever it stands).
    let mut merged = Vec::with_capacity(argv.len() + front.len());
    let mut rest = argv.into_iter();
    merged.extend(rest.next());
    merged.extend(front);
    merged.extend(rest);
    Ok(merged)
}

fn settings(text: &str) -> Result<BTreeMap<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    let map: Option<BTreeMap<String, Value>> = serde_saphyr::from_str(text).map_err(|e| {
        format!("{e}; write one `setting: value` per line (the long flags without `--`)")
    })?;
    Ok(map.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction, Command};

    fn command() -> Command {
        Command::new("t")
            .arg(Arg::new("image").required(true))
            .arg(Arg::new("output").long("output").short('o'))
            .arg(Arg::new("watch").long("watch").action(ArgAction::SetTrue))
            .arg(
                Arg::new("config")
                    .long("config")
                    .value_parser(clap::value_parser!(std::path::PathBuf)),
            )
    }

    fn merged(file: &str, args: &[&str]) -> Result<Vec<String>, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let path = dir.path().join("c.yaml");
        std::fs::write(&path, file).map_err(|e| e.to_string())?;
        let mut argv = vec![OsString::from("t"), "--config".into(), path.clone().into()];
        argv.extend(args.iter().map(OsString::from));
        let out = merge(&command(), argv)?;
        Ok(out
            .iter()
            .skip(3 + (out.len() - 3 - args.len()))
            .chain(out.iter().skip(1).take(out.len() - 3 - args.len()))
            .map(|s| s.to_string_lossy().into_owned())
            .collect())
    }

    #[test]
    fn the_file_fills_what_the_command_line_leaves() {
        let out =
            merged("image: /etc/rules.bin\noutput: json\nwatch: true\n", &[]).unwrap_or_default();
        assert!(out.contains(&"/etc/rules.bin".to_owned()), "{out:?}");
        assert!(out.contains(&"--output=json".to_owned()), "{out:?}");
        assert!(out.contains(&"--watch".to_owned()), "{out:?}");
        let m = command()
            .try_get_matches_from(std::iter::once("t".to_owned()).chain(out))
            .map_err(|e| e.to_string());
        assert!(m.is_ok(), "{m:?}");
    }

    #[test]
    fn the_command_line_wins() {
        let out =
            merged("output: json\nwatch: false\n", &["-o", "table", "img"]).unwrap_or_default();
        assert!(!out.iter().any(|a| a.contains("json")), "{out:?}");
        assert!(!out.contains(&"--watch".to_owned()), "{out:?}");
    }

    #[test]
    fn mistakes_name_the_setting_and_the_fix() {
        let e = merged("outptu: json\n", &["img"]).err().unwrap_or_default();
        assert!(
            e.contains("`outptu` is not a setting") && e.contains("output"),
            "{e}"
        );
        let e = merged("watch: 3\n", &["img"]).err().unwrap_or_default();
        assert!(e.contains("`watch` is a switch"), "{e}");
        let e = merged("output: [json\n", &["img"])
            .err()
            .unwrap_or_default();
        assert!(e.contains("line"), "{e}");
        let e = merged("- a\n- b\n", &["img"]).err().unwrap_or_default();
        assert!(!e.is_empty(), "a list is no mapping");
    }
}
