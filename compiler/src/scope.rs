//! Scope entries (`uid>=1000`, `comm=bash`, `not-container`, ...) -> `Filter<ScopeKey>`.

use crate::ast::Text;
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::filter::{self, Combined, Entry, SplitError, ValueType};
use crate::ir::{Filter, MountNs, Op, ScopeKey, Value};
use crate::source::FileId;
use crate::suggest::did_you_mean;

/// Every spelling of a scope key, with its key and value type (`None`: takes no value).
const KEYS: &[(&str, ScopeKey, Option<ValueType>)] = &[
    ("uid", ScopeKey::Uid, Some(ValueType::UInt(32))),
    ("pid", ScopeKey::Pid, Some(ValueType::UInt(32))),
    ("mntns", ScopeKey::MntNs, Some(ValueType::UInt(64))),
    ("pidns", ScopeKey::PidNs, Some(ValueType::UInt(64))),
    // The kernel's nodename holds 64 bytes; comm 15 (plus NUL).
    (
        "uts",
        ScopeKey::Uts,
        Some(ValueType::Str {
            max: Some(64),
            wildcards: false,
        }),
    ),
    (
        "comm",
        ScopeKey::Comm,
        Some(ValueType::Str {
            max: Some(15),
            wildcards: false,
        }),
    ),
    (
        "container",
        ScopeKey::Container,
        Some(ValueType::Str {
            max: None,
            wildcards: false,
        }),
    ),
    ("tree", ScopeKey::Tree, Some(ValueType::UInt(32))),
    (
        "executable",
        ScopeKey::Executable,
        Some(ValueType::Str {
            max: Some(4095),
            wildcards: false,
        }),
    ),
    (
        "exec",
        ScopeKey::Executable,
        Some(ValueType::Str {
            max: Some(4095),
            wildcards: false,
        }),
    ),
    (
        "binary",
        ScopeKey::Executable,
        Some(ValueType::Str {
            max: Some(4095),
            wildcards: false,
        }),
    ),
    (
        "bin",
        ScopeKey::Executable,
        Some(ValueType::Str {
            max: Some(4095),
            wildcards: false,
        }),
    ),
    ("follow", ScopeKey::Follow, None),
    ("not-container", ScopeKey::NotContainer, None),
];

fn key_names() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|(name, _, _)| *name).chain(["global"])
}

pub struct Scope {
    pub global: bool,
    pub filters: Vec<Filter<ScopeKey>>,
    /// True when some dimension admits nothing (reported as a warning).
    pub selects_nothing: bool,
}

pub fn validate(entries: &[Text], file: FileId, diags: &mut Diagnostics) -> Scope {
    let mut filters = Vec::new();
    let mut global = None;
    for text in entries {
        let entry = Entry::without_spaces(text);
        if entry.text == "global" {
            global = Some(text);
            continue;
        }
        if let Some(filter) = entry_filter(&entry, file, diags) {
            filters.push(filter);
        }
    }
    if let Some(global_text) = global
        && entries.len() > 1
    {
        let mut diagnostic = Diagnostic::new(
            Code::GlobalNotAlone,
            "`global` must be the only scope entry",
        )
        .at(file, global_text.span.clone())
        .label("`global` selects every process")
        .help("remove `global`, or remove the other entries");
        for other in entries.iter().filter(|t| !std::ptr::eq(*t, global_text)) {
            diagnostic = diagnostic.also(other.span.clone(), "other entry");
        }
        diags.push(diagnostic);
    }
    let selects_nothing = combined_checks(&filters, file, diags);
    Scope {
        global: global.is_some(),
        filters,
        selects_nothing,
    }
}

fn entry_filter(entry: &Entry, file: FileId, diags: &mut Diagnostics) -> Option<Filter<ScopeKey>> {
    if entry.text.contains('\t') {
        diags.push(
            Diagnostic::new(
                Code::InvalidValue,
                format!(
                    "tab character in scope entry `{}`",
                    entry.text.escape_default()
                ),
            )
            .at(file, entry.whole())
            .label("contains a tab")
            .help("remove the tab"),
        );
        return None;
    }
    if entry.text.starts_with(['=', '!', '<', '>']) {
        let help = if entry.text == "!container" {
            "write `not-container` for host (non-container) processes"
        } else {
            "a scope entry starts with its key, e.g. `uid!=0`"
        };
        diags.push(
            Diagnostic::new(
                Code::UnknownScopeKey,
                format!("scope entry `{}` has no key", filter::shown(&entry.text)),
            )
            .at(file, entry.whole())
            .label("starts with an operator")
            .help(help),
        );
        return None;
    }
    let split = match filter::split(&entry.text) {
        Ok(split) => split,
        Err(SplitError::NoOperator) => return bare_word(entry, file, diags),
        Err(SplitError::BadOperator(range)) => {
            let op = &entry.text[range.clone()];
            diags.push(
                Diagnostic::new(
                    Code::InvalidOperator,
                    format!("invalid operator `{op}` in scope entry `{}`", entry.text),
                )
                .at(file, entry.span(range))
                .label("not an operator")
                .help(filter::operator_help(op)),
            );
            return None;
        }
        Err(SplitError::NoValue(range)) => {
            diags.push(
                Diagnostic::new(
                    Code::MissingValue,
                    format!("no value after the operator in `{}`", entry.text),
                )
                .at(file, entry.span(range))
                .label("value expected after this")
                .help("write a value, e.g. `uid=1000`, or a comma list `comm=bash,sh`"),
            );
            return None;
        }
    };
    let key_text = &entry.text[split.key.clone()];
    let Some(&(_, key, ty)) = KEYS.iter().find(|(name, _, _)| *name == key_text) else {
        let scope_name = match key_text {
            "processName" => Some("comm"),
            "hostName" => Some("uts"),
            "userId" => Some("uid"),
            "hostPid" | "hostProcessId" | "processId" => Some("pid"),
            "mountNamespace" => Some("mntns"),
            "pidNamespace" => Some("pidns"),
            _ => None,
        };
        let help = match scope_name {
            Some(name) => Some(format!("in a scope this key is written `{name}`")),
            None => did_you_mean(key_text, key_names()),
        };
        diags.push(
            Diagnostic::new(
                Code::UnknownScopeKey,
                format!("unknown scope key `{}`", filter::shown(key_text)),
            )
            .at(file, entry.span(split.key.clone()))
            .label("not a scope key")
            .maybe_help(help.or_else(|| {
                Some(format!(
                    "scope keys: {}",
                    key_names().collect::<Vec<_>>().join(", ")
                ))
            })),
        );
        return None;
    };
    let Some(ty) = ty else {
        diags.push(
            Diagnostic::new(
                Code::InvalidOperator,
                format!("`{key_text}` takes no operator or value"),
            )
            .at(file, entry.span(split.op_range.start..entry.text.len()))
            .label("remove this")
            .help(format!("write just `{key_text}`")),
        );
        return None;
    };
    let numeric_ops = matches!(key, ScopeKey::Uid | ScopeKey::Pid);
    if !split.op.is_equality() && !numeric_ops {
        diags.push(
            Diagnostic::new(
                Code::InvalidOperator,
                format!(
                    "`{key_text}` takes only `=` and `!=`, not `{}`",
                    split.op.as_str()
                ),
            )
            .at(file, entry.span(split.op_range.clone()))
            .label("operator not allowed here")
            .help(if ty.is_numeric() {
                "namespace ids and process trees are matched by equality"
            } else {
                "strings are matched by equality"
            }),
        );
        return None;
    }
    let mut values = Vec::new();
    for range in filter::items(entry, split.values.clone(), file, diags) {
        let text = &entry.text[range.clone()];
        let original = entry.original(range.clone());
        if original.contains(' ') {
            diags.push(
                Diagnostic::new(Code::InvalidValue, format!("space inside the scope value `{original}`"))
                    .at(file, entry.span(range.clone()))
                    .label("contains a space")
                    .help(format!(
                        "scope entries lose all their spaces (as in Tracee), so this would match `{text}`: remove the space, or filter in a rule, where values keep their spaces"
                    )),
            );
            continue;
        }
        match scope_value(key, ty, split.op, text) {
            Ok(value) => {
                if let (ValueType::Str { max: Some(max), .. }, Value::Str(s)) = (ty, &value) {
                    let len = filter::str_len(s);
                    if len > max {
                        diags.push(
                            Diagnostic::new(Code::ValueTooLong, format!("`{text}` is {len} bytes; the kernel's {key_text} holds at most {max}"))
                                .at(file, entry.span(range.clone()))
                                .label("can never match")
                                .help(format!("the kernel compares at most {max} bytes, so this value never matches: shorten it to the real {key_text}")),
                        );
                    }
                }
                if let (ScopeKey::Container, Value::Str(id)) = (key, &value)
                    && let Some(why) = filter::container_id_problem(id, true)
                {
                    let matches = if split.op == Op::Eq {
                        "so no container matches it"
                    } else {
                        "so it excludes no container"
                    };
                    diags.push(
                        Diagnostic::new(Code::ContainerIdNeverMatches, format!("`{}` {why}, {matches}", filter::shown(text)))
                            .at(file, entry.span(range.clone()))
                            .label("never matches a container id")
                            .help(format!("give the id as `docker ps` or `crictl ps` shows it (its first {} or more digits), or in full ({} digits, as `docker inspect` shows it); to select containers by name, filter `containerName=NAME` in the rules", filter::CONTAINER_ID_MIN_PREFIX, filter::CONTAINER_ID_LEN)),
                    );
                }
                values.push(value);
            }
            Err((bad, at)) => {
                let span = match at {
                    Some(i) => entry.span(range.start + i..range.start + i + 1),
                    None => entry.span(range.clone()),
                };
                let code = if at.is_some() {
                    Code::MisplacedWildcard
                } else {
                    Code::InvalidValue
                };
                diags.push(
                    Diagnostic::new(code, bad.message)
                        .at(file, span)
                        .label("invalid value")
                        .help(bad.help),
                );
            }
        }
    }
    if values.is_empty() {
        return None;
    }
    Some(Filter {
        key,
        op: split.op,
        values,
        span: entry.whole(),
    })
}

/// `follow`, `container`, `not-container` (and mistakes like `!container`).
fn bare_word(entry: &Entry, file: FileId, diags: &mut Diagnostics) -> Option<Filter<ScopeKey>> {
    let key = match entry.text.as_str() {
        "follow" => ScopeKey::Follow,
        "container" => ScopeKey::Container,
        "not-container" => ScopeKey::NotContainer,
        other => {
            let help = match other {
                "host" | "!container" | "notcontainer" | "no-container" => {
                    Some("write `not-container` for host (non-container) processes".to_owned())
                }
                _ if KEYS
                    .iter()
                    .any(|(name, _, ty)| *name == other && ty.is_some()) =>
                {
                    Some(format!(
                        "`{other}` needs an operator and a value, e.g. `{other}=...`"
                    ))
                }
                _ => did_you_mean(other, ["follow", "container", "not-container", "global"]),
            };
            diags.push(
                Diagnostic::new(Code::UnknownScopeKey, format!("`{other}` is not a valid scope entry"))
                    .at(file, entry.whole())
                    .label("unknown scope entry")
                    .maybe_help(help.or_else(|| Some("entries are `global`, `follow`, `container`, `not-container` or `KEY OP VALUE`".to_owned()))),
            );
            return None;
        }
    };
    Some(Filter {
        key,
        op: Op::Eq,
        values: Vec::new(),
        span: entry.whole(),
    })
}

type ValueError = (filter::BadValue, Option<usize>);

fn scope_value(key: ScopeKey, ty: ValueType, op: Op, text: &str) -> Result<Value, ValueError> {
    let plain = |e| (e, None);
    match key {
        ScopeKey::Pid if text == "new" => {
            if op.is_equality() {
                Ok(Value::New)
            } else {
                Err(plain(filter::BadValue {
                    message: "`new` compares only with `=` or `!=`".to_owned(),
                    help: "write `pid=new` (started after the loader) or `pid!=new`".to_owned(),
                }))
            }
        }
        ScopeKey::Container => match text {
            "new" => Ok(Value::New),
            "started" => Ok(Value::Started),
            id => filter::parse_str(id, false).map(Value::Str),
        },
        ScopeKey::Tree => match filter::parse_int(text, ty).map_err(plain)? {
            0 => Err(plain(filter::BadValue {
                message: "`0` is not a process id".to_owned(),
                help: "give the pid of the process tree's root, e.g. `tree=1234`".to_owned(),
            })),
            pid => Ok(Value::Int(pid)),
        },
        ScopeKey::Executable => executable(text),
        _ => match ty {
            ValueType::Str { wildcards, .. } => filter::parse_str(text, wildcards).map(Value::Str),
            _ => filter::parse_int(text, ty).map(Value::Int).map_err(plain),
        },
    }
}

fn executable(text: &str) -> Result<Value, ValueError> {
    let bad = |message: String, help: &str| {
        (
            filter::BadValue {
                message,
                help: help.to_owned(),
            },
            None,
        )
    };
    let (mount_ns, path) = match text.split_once(':') {
        None => (MountNs::Any, text),
        Some(("host", path)) => (MountNs::Host, path),
        Some((ns, path)) => match ns.parse::<u32>() {
            Ok(id) if ns.chars().all(|c| c.is_ascii_digit()) => (MountNs::Id(id), path),
            _ => {
                return Err(bad(
                    format!("`{ns}` is not `host` or a mount namespace id"),
                    "write `/path`, `host:/path` or `MNTNS:/path` (MNTNS a decimal id)",
                ));
            }
        },
    };
    if path.contains(':') {
        return Err(bad(
            format!("`{text}` has more than one `:`"),
            "write `/path`, `host:/path` or `MNTNS:/path`",
        ));
    }
    if !path.starts_with('/') {
        return Err(bad(
            format!("`{path}` is not an absolute path"),
            "executables are matched by absolute path, e.g. `/usr/bin/curl`",
        ));
    }
    if let Some(i) = path.find('*') {
        return Err((
            filter::BadValue {
                message: format!("`*` in `{path}`"),
                help: "executables are matched by their exact path".to_owned(),
            },
            Some(text.len() - path.len() + i),
        ));
    }
    Ok(Value::Executable {
        mount_ns,
        path: path.to_owned(),
    })
}

/// Checks across all entries of the scope: mixed `=`/`!=` per key, empty ranges,
/// `container` with `not-container`. Returns true if the scope can never match.
fn combined_checks(filters: &[Filter<ScopeKey>], file: FileId, diags: &mut Diagnostics) -> bool {
    let mut nothing = false;
    let mut seen = Vec::new();
    for filter in filters {
        if seen.contains(&filter.key)
            || matches!(
                filter.key,
                ScopeKey::Container | ScopeKey::NotContainer | ScopeKey::Follow
            )
        {
            continue;
        }
        seen.push(filter.key);
        let Some(&(name, _, Some(ty))) = KEYS.iter().find(|(_, key, _)| *key == filter.key) else {
            continue;
        };
        let combined = Combined {
            name,
            ty,
            values: filters
                .iter()
                .filter(|f| f.key == filter.key)
                .flat_map(|f| f.values.iter().map(move |v| (f.op, v, f.span.clone())))
                .collect(),
        };
        nothing |= filter::check_combined(&combined, file, filter::SCOPE, diags);
    }
    let container = filters.iter().find(|f| f.key == ScopeKey::Container);
    let host = filters.iter().find(|f| f.key == ScopeKey::NotContainer);
    if let (Some(container), Some(host)) = (container, host) {
        diags.push(
            Diagnostic::new(
                Code::ContainerConflict,
                "`container` together with `not-container`: no process is both",
            )
            .at(file, host.span.clone())
            .label("host processes only")
            .also(container.span.clone(), "container processes only")
            .help("keep one of them; to select both, remove both"),
        );
        nothing = true;
    }
    nothing
}
