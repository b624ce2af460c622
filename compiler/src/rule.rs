//! Rules: the event name, its filters (context fields, `args.`/`data.`, `retval`) and actions.

use schema::catalog::{self, ArgType, EventDef, EventKind};

use crate::ast::{RuleDoc, Text};
use crate::diagnostics::{Code, Diagnostic, Diagnostics};
use crate::filter::{self, Combined, Entry, SplitError, ValueType};
use crate::ir::{Action, ContextField, Detection, Filter, Op, Rule, RuleField, SockPart, Value};
use crate::selection;
use crate::source::FileId;
use crate::suggest::did_you_mean;

/// Context fields and their aliases (Tracee's names), with their types.
const CONTEXT_FIELDS: &[(&str, ContextField, ValueType)] = {
    use ContextField::*;
    use ValueType::{Bool, UInt};
    const STR: ValueType = ValueType::Str {
        max: None,
        wildcards: true,
    };
    const COMM: ValueType = ValueType::Str {
        max: Some(15),
        wildcards: true,
    };
    const HOST: ValueType = ValueType::Str {
        max: Some(64),
        wildcards: true,
    };
    &[
        ("timestamp", Timestamp, UInt(64)),
        ("processorId", ProcessorId, UInt(32)),
        ("p", Pid, UInt(32)),
        ("pid", Pid, UInt(32)),
        ("processId", Pid, UInt(32)),
        ("tid", Tid, UInt(32)),
        ("threadId", Tid, UInt(32)),
        ("ppid", Ppid, UInt(32)),
        ("parentProcessId", Ppid, UInt(32)),
        ("hostTid", HostTid, UInt(32)),
        ("hostThreadId", HostTid, UInt(32)),
        ("hostPid", HostPid, UInt(32)),
        ("hostProcessId", HostPid, UInt(32)),
        ("hostParentProcessId", HostPpid, UInt(32)),
        ("uid", Uid, UInt(32)),
        ("userId", Uid, UInt(32)),
        ("mntns", MntNs, UInt(64)),
        ("mountNamespace", MntNs, UInt(64)),
        ("pidns", PidNs, UInt(64)),
        ("pidNamespace", PidNs, UInt(64)),
        ("comm", Comm, COMM),
        ("processName", Comm, COMM),
        ("hostName", HostName, HOST),
        ("cgroupId", CgroupId, UInt(64)),
        ("container", Container, Bool),
        ("host", Host, Bool),
        ("containerId", ContainerId, STR),
        ("containerImage", ContainerImage, STR),
        ("containerImageDigest", ContainerImageDigest, STR),
        ("containerName", ContainerName, STR),
        ("podName", PodName, STR),
        ("podNamespace", PodNamespace, STR),
        ("podUid", PodUid, STR),
        ("podSandbox", PodSandbox, Bool),
        ("syscall", Syscall, STR),
    ]
};

const RETVAL: ValueType = ValueType::Int(64);

fn arg_value_type(ty: ArgType) -> Option<ValueType> {
    match ty {
        ArgType::Int(bytes) => Some(ValueType::Int(u32::from(bytes) * 8)),
        ArgType::UInt(bytes) => Some(ValueType::UInt(u32::from(bytes) * 8)),
        ArgType::Pointer => Some(ValueType::UInt(64)),
        ArgType::Str => Some(ValueType::Str {
            max: None,
            wildcards: true,
        }),
        ArgType::Bool => Some(ValueType::Bool),
        // A string array matches when one of its entries does.
        ArgType::StrArray => Some(ValueType::Str {
            max: None,
            wildcards: true,
        }),
        ArgType::Bytes | ArgType::SockAddr | ArgType::IntArray => None,
    }
}

pub struct RuleResult {
    pub rule: Rule,
    pub selects_nothing: bool,
}

/// What the policy's scope says about containers, for rule filters that contradict it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScopeContainers {
    Any,
    /// `container` (in any form) in the scope.
    Only,
    /// `not-container` in the scope.
    Never,
}

/// A rule document's rules: one for a named event, one per member of a selection (a list,
/// a set, exclusions: `selection.rs`), each with the same filters and actions. Empty (with
/// diagnostics) when nothing valid is selected.
pub fn validate(
    doc: &RuleDoc,
    file: FileId,
    scope: ScopeContainers,
    detectors: crate::detectors::Known<'_>,
    diags: &mut Diagnostics,
) -> (Vec<RuleResult>, Vec<Detection>) {
    let actions = actions(&doc.actions, file, diags);
    let Some(event_text) = doc.event.as_ref() else {
        return (Vec::new(), Vec::new());
    };
    let Some(selection) = selection::resolve(event_text, file, detectors, diags) else {
        return (Vec::new(), Vec::new());
    };
    // A selection's filters apply to every member, and a detection's fields are its base
    // events': only context fields mean the same for all of them.
    let shared = selection.many || !selection.detectors.is_empty();
    let mut filters = Vec::new();
    for text in &doc.filters {
        if shared && is_event_field(&text.value) {
            let (message, label) = if selection.many {
                ("a selection of events", "each event has its own arguments")
            } else {
                (
                    "a detector",
                    "a detection carries the fields of the event it was detected from",
                )
            };
            diags.push(
                Diagnostic::new(
                    Code::FiltersOnSelection,
                    format!(
                        "`{}` filters an argument or the return value of {message}",
                        filter::shown(&text.value)
                    ),
                )
                .at(file, text.span.clone())
                .label(label)
                .help("write a rule of its own for the event whose field this is; a selection or a detector takes context filters only (`uid`, `comm`, ...)"),
            );
            continue;
        }
        filters.extend(rule_filter(
            text,
            selection.events.first().copied(),
            file,
            diags,
        ));
    }
    let detections: Vec<Detection> = selection
        .detectors
        .iter()
        .map(|name| Detection {
            detector: name.clone(),
            filters: filters.clone(),
            actions: actions.clone(),
            span: doc.span.clone(),
        })
        .collect();
    let Some(first) = selection.events.first() else {
        return (Vec::new(), detections);
    };
    if schema::hooks::SYSCALLS_BY_FILTER.contains(&first.name)
        && !filters
            .iter()
            .any(|f| matches!(f.key, RuleField::Arg { index: 0, .. }) && f.op == Op::Eq)
    {
        diags.push(
            Diagnostic::new(
                Code::SyscallsToCheck,
                format!("`{}` checks the syscalls the rule names, and this rule names none", first.name),
            )
            .at(file, event_text.span.clone())
            .label("no `args.syscall=` filter")
            .help("name the syscalls to check: `args.syscall=execve,execveat,connect` (names or numbers)"),
        );
        return (Vec::new(), detections);
    }
    let selects_nothing = combined_checks(&filters, file, first.name, diags)
        | container_conflict(&filters, scope, file, first.name, diags);
    let rules = selection
        .events
        .into_iter()
        .map(|event| RuleResult {
            rule: Rule {
                event,
                filters: filters.clone(),
                actions: actions.clone(),
                span: doc.span.clone(),
            },
            selects_nothing,
        })
        .collect();
    (rules, detections)
}

/// Does a filter text name an argument or the return value (`args.X`, `data.X`, `retval`)?
fn is_event_field(text: &str) -> bool {
    let Ok(split) = filter::split(text) else {
        return false;
    };
    let key = &text[split.key];
    key.starts_with("args.") || key.starts_with("data.") || key == "retval"
}

pub fn actions(texts: &[Text], file: FileId, diags: &mut Diagnostics) -> Vec<Action> {
    texts
        .iter()
        .filter_map(|t| match t.value.as_str() {
            "log" => Some(Action::Log),
            "print" => Some(Action::Print),
            other => {
                diags.push(
                    Diagnostic::new(Code::InvalidAction, format!("unknown action `{other}`"))
                        .at(file, t.span.clone())
                        .label("not an action")
                        .help(
                            did_you_mean(other, ["log", "print"])
                                .unwrap_or_else(|| "actions are `log` and `print`".to_owned()),
                        ),
                );
                None
            }
        })
        .collect()
}

/// One filter entry: usually one filter; a CIDR block becomes its two bounds.
/// A filter text of no file (a detector's data filter or lowered condition) as the rule
/// filters it is on `event`; the first error's message when it is not one.
pub fn parse_detached(
    text: &str,
    event: &'static EventDef,
) -> Result<Vec<Filter<RuleField>>, String> {
    if let Some(masked) = masked_filter(text, event) {
        return masked;
    }
    let mut diags = Diagnostics::default();
    let filters = rule_filter(&Text::detached(text), Some(event), 0, &mut diags);
    match diags
        .items
        .iter()
        .find(|d| d.severity() == crate::diagnostics::Severity::Error)
    {
        Some(d) => Err(format!("`{text}`: {}", d.message)),
        None => Ok(filters),
    }
}

/// `args.NAME%N OP V,...` (a detector's `getEventData("NAME") % N`, N a power of two): the
/// integer argument masked with N - 1. None when `text` is not of that form.
fn masked_filter(
    text: &str,
    event: &'static EventDef,
) -> Option<Result<Vec<Filter<RuleField>>, String>> {
    let split = filter::split(text).ok()?;
    let key = &text[split.key.clone()];
    let (name, modulus) = key.strip_prefix("args.")?.split_once('%')?;
    let result = (|| {
        let modulus: u64 = modulus
            .parse()
            .ok()
            .filter(|m: &u64| m.is_power_of_two() && (2..=1 << 32).contains(m))
            .ok_or_else(|| format!("`{text}`: `%` takes a power of two up to 2^32"))?;
        let (index, def) = event
            .args
            .iter()
            .enumerate()
            .find(|(_, a)| a.name == name)
            .ok_or_else(|| format!("`{text}`: `{}` has no argument `{name}`", event.name))?;
        if !matches!(def.ty, ArgType::Int(_) | ArgType::UInt(_)) {
            return Err(format!("`{text}`: `{name}` is not an integer"));
        }
        let values = text[split.values.clone()]
            .split(',')
            .map(|v| v.trim().parse::<u64>().map(|v| Value::Int(i128::from(v))))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| format!("`{text}`: values are integers"))?;
        Ok(vec![Filter {
            key: RuleField::ArgMasked {
                index,
                def,
                mask: (modulus - 1) as u32,
            },
            op: split.op,
            values,
            span: 0..text.len(),
        }])
    })();
    Some(result)
}

fn rule_filter(
    text: &Text,
    event: Option<&'static EventDef>,
    file: FileId,
    diags: &mut Diagnostics,
) -> Vec<Filter<RuleField>> {
    one_rule_filter(text, event, file, diags).unwrap_or_default()
}

fn one_rule_filter(
    text: &Text,
    event: Option<&'static EventDef>,
    file: FileId,
    diags: &mut Diagnostics,
) -> Option<Vec<Filter<RuleField>>> {
    let entry = Entry::verbatim(text);
    let split = match filter::split(&entry.text) {
        Ok(split) => split,
        Err(SplitError::NoOperator) => {
            // A boolean context field alone means `=true` (`container`, `host`).
            if let Some(&(_, field, ValueType::Bool)) =
                CONTEXT_FIELDS.iter().find(|(n, _, _)| *n == entry.text)
            {
                return Some(vec![Filter {
                    key: RuleField::Context(field),
                    op: Op::Eq,
                    values: vec![Value::Bool(true)],
                    span: entry.whole(),
                }]);
            }
            diags.push(
                Diagnostic::new(
                    Code::MissingOperator,
                    format!("filter `{}` has no operator", entry.text),
                )
                .at(file, entry.whole())
                .label("no `=`, `!=`, `<`, `<=`, `>` or `>=`")
                .help("write `FIELD OP VALUE`, e.g. `args.pathname=/tmp/*` or `retval<0`"),
            );
            return None;
        }
        Err(SplitError::BadOperator(range)) => {
            let op = &entry.text[range.clone()];
            diags.push(
                Diagnostic::new(
                    Code::InvalidOperator,
                    format!("invalid operator `{op}` in filter `{}`", entry.text),
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
                .help("write a value, e.g. `retval=0`, or a comma list `comm=bash,sh`"),
            );
            return None;
        }
    };
    let key_text = &entry.text[split.key.clone()];
    let key_span = entry.span(split.key.clone());
    if key_text.trim() != key_text || entry.text[split.values.clone()].starts_with(' ') {
        diags.push(
            Diagnostic::new(
                Code::InvalidValue,
                format!("spaces around the operator in `{}`", entry.text),
            )
            .at(file, entry.whole())
            .label("remove the spaces")
            .help(format!(
                "write `{}{}{}`",
                key_text.trim(),
                split.op.as_str(),
                entry.text[split.values.clone()].trim()
            )),
        );
        return None;
    }
    let (field, ty, name) = resolve_field(key_text, event, file, key_span, diags)?;
    if ty.is_numeric() || split.op.is_equality() {
        // allowed
    } else {
        diags.push(
            Diagnostic::new(
                Code::InvalidOperator,
                format!("`{name}` is {} and takes only `=` and `!=`", ty.describe()),
            )
            .at(file, entry.span(split.op_range.clone()))
            .label("operator not allowed here")
            .help(match ty {
                ValueType::Str { .. } => "for prefixes and suffixes use `*`: `=/tmp/*`, `=*.so`",
                _ => "use `=` or `!=`",
            }),
        );
        return None;
    }
    if let RuleField::SockAddr {
        part: SockPart::Ip, ..
    } = field
        && let Some(bounds) = cidr_filters(field, &entry, &split, file, diags)
    {
        return bounds;
    }
    let mut values = Vec::new();
    for range in filter::items(&entry, split.values.clone(), file, diags) {
        let value_text = &entry.text[range.clone()];
        if value_text.trim() != value_text {
            diags.push(
                Diagnostic::new(
                    Code::InvalidValue,
                    format!("`{value_text}` has surrounding spaces"),
                )
                .at(file, entry.span(range.clone()))
                .label("spaces are part of the value")
                .help("remove the spaces: filter values are compared byte for byte"),
            );
            continue;
        }
        match parse_value(field, ty, value_text) {
            Ok(value) => {
                check_length(&value, ty, &name, file, entry.span(range.clone()), diags);
                if let (RuleField::Context(ContextField::ContainerId), Value::Str(id)) =
                    (field, &value)
                    && let Some(why) = filter::container_id_problem(id, false)
                {
                    diags.push(
                        Diagnostic::new(Code::ContainerIdNeverMatches, format!("`{name}` value `{}` {why}, so no container's id matches it", filter::shown(value_text)))
                            .at(file, entry.span(range.clone()))
                            .label("never matches a container id")
                            .help(format!("give the full id ({} lower-case hex digits), or a prefix with `*`: `{name}={}*`", filter::CONTAINER_ID_LEN, filter::shown(value_text.trim_end_matches('*')))),
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
    Some(vec![Filter {
        key: field,
        op: split.op,
        values,
        span: entry.whole(),
    }])
}

fn resolve_field(
    key: &str,
    event: Option<&'static EventDef>,
    file: FileId,
    span: crate::yaml::ByteSpan,
    diags: &mut Diagnostics,
) -> Option<(RuleField, ValueType, String)> {
    if key == "retval" {
        if let Some(event) = event
            && event.kind != EventKind::Syscall
        {
            diags.push(
                Diagnostic::new(
                    Code::UnknownField,
                    format!("`{}` has no return value", event.name),
                )
                .at(file, span)
                .label("only syscall events have `retval`")
                .help("filter on the event's arguments (`args.NAME`) or context fields instead"),
            );
            return None;
        }
        return Some((RuleField::Retval, RETVAL, "retval".to_owned()));
    }
    let arg_name = key
        .strip_prefix("args.")
        .or_else(|| key.strip_prefix("data."));
    if let Some(arg_name) = arg_name {
        // Without a known event there is nothing to check the argument against.
        let event = event?;
        if arg_name.is_empty() {
            diags.push(
                Diagnostic::new(Code::UnknownArgument, format!("`{key}` names no argument"))
                    .at(file, span)
                    .label("argument name expected after the dot")
                    .help(format!(
                        "write `{key}NAME`; `{}` has: {}",
                        event.name,
                        event
                            .args
                            .iter()
                            .map(|a| a.name)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
            );
            return None;
        }
        if event.arg_index(arg_name).is_none()
            && let Some((base, part)) = arg_name.split_once('.')
            && let Some((_, def)) = event.arg_index(base)
            && let Some(parts) = schema::hooks::packet_parts(event.name, def.name)
        {
            let Some(&(part, slot)) = parts.iter().find(|(p, _)| *p == part) else {
                let names: Vec<&str> = parts.iter().map(|(p, _)| *p).collect();
                diags.push(
                    Diagnostic::new(
                        Code::UnknownArgument,
                        format!("`{base}` has no part `{part}` the kernel can filter"),
                    )
                    .at(file, span)
                    .label("unknown part")
                    .help(format!(
                        "filter {}",
                        names
                            .iter()
                            .map(|n| format!("`args.{base}.{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                );
                return None;
            };
            let ty = ValueType::Str {
                max: None,
                wildcards: true,
            };
            return Some((RuleField::Part { def, part, slot }, ty, key.to_owned()));
        }
        if event.arg_index(arg_name).is_none()
            && let Some((base, part)) = arg_name.split_once('.')
            && let Some((index, def)) = event.arg_index(base)
            && def.ty == ArgType::SockAddr
        {
            let Some(part) = SockPart::parse(part) else {
                diags.push(
                    Diagnostic::new(
                        Code::UnknownArgument,
                        format!("socket address `{base}` has no part `{part}`"),
                    )
                    .at(file, span)
                    .label("unknown part")
                    .help(format!(
                        "filter `args.{base}.port`, `args.{base}.ip` (IPv4) or `args.{base}.path` (unix sockets)"
                    )),
                );
                return None;
            };
            let ty = sock_part_type(part);
            return Some((RuleField::SockAddr { index, def, part }, ty, key.to_owned()));
        }
        let Some((index, def)) = event.arg_index(arg_name) else {
            let names: Vec<&str> = event.args.iter().map(|a| a.name).collect();
            let help = did_you_mean(arg_name, names.iter().copied()).unwrap_or_else(|| {
                if names.is_empty() {
                    format!("`{}` has no arguments", event.name)
                } else {
                    format!("`{}` has: {}", event.name, names.join(", "))
                }
            });
            diags.push(
                Diagnostic::new(
                    Code::UnknownArgument,
                    format!("event `{}` has no argument `{arg_name}`", event.name),
                )
                .at(file, span)
                .label("unknown argument")
                .help(help),
            );
            return None;
        };
        if schema::hooks::loader_filled(event.name, def.name) {
            diags.push(
                Diagnostic::new(Code::UnfilterableArgument, format!("argument `{arg_name}` of `{}` is filled by tracee-load from the container runtime's state, after the kernel decided the event, and cannot be filtered", event.name))
                    .at(file, span)
                    .label("not filterable")
                    .help("filter on `container_id` or `runtime`, or use the scope's container filters (`container=...`)"),
            );
            return None;
        }
        // Packet addresses are filtered as a socket address's IPv4 part (CIDR blocks too),
        // in the slot the packet programs write; the DNS question's name as a string.
        if schema::hooks::packet_address(event.name, def.name) {
            let part = SockPart::Ip;
            return Some((
                RuleField::SockAddr { index, def, part },
                sock_part_type(part),
                key.to_owned(),
            ));
        }
        if schema::hooks::PACKET_DNS_NAME.contains(&(event.name, def.name)) {
            let ty = ValueType::Str {
                max: None,
                wildcards: true,
            };
            return Some((RuleField::Arg { index, def }, ty, key.to_owned()));
        }
        let Some(ty) = arg_value_type(def.ty) else {
            let parts = schema::hooks::packet_parts(event.name, def.name);
            let help = if let Some(parts) = parts {
                format!(
                    "filter its parts: {}",
                    parts
                        .iter()
                        .map(|(n, _)| format!("`{key}.{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else if def.ty == ArgType::SockAddr {
                format!(
                    "filter its parts: `{key}.port`, `{key}.ip` (IPv4, or a CIDR block `=10.0.0.0/8`), `{key}.path` (unix sockets)"
                )
            } else {
                "filters compare integers and strings; filter on another argument or a context field".to_owned()
            };
            diags.push(
                Diagnostic::new(
                    Code::UnfilterableArgument,
                    format!(
                        "argument `{arg_name}` of `{}` is `{}` and cannot be filtered",
                        event.name, def.type_name
                    ),
                )
                .at(file, span)
                .label("not filterable")
                .help(help),
            );
            return None;
        };
        return Some((RuleField::Arg { index, def }, ty, key.to_owned()));
    }
    if let Some(&(name, field, ty)) = CONTEXT_FIELDS.iter().find(|(n, _, _)| *n == key) {
        return Some((RuleField::Context(field), ty, name.to_owned()));
    }
    if key.is_empty() {
        diags.push(
            Diagnostic::new(Code::UnknownField, "filter has no field name")
                .at(file, span)
                .label("field name expected before the operator")
                .help(
                    "a filter starts with the field name, e.g. `uid=0` or `args.pathname=/tmp/*`",
                ),
        );
        return None;
    }
    let help = if key == "returnValue" {
        "the return value is written `retval`".to_owned()
    } else if key == "args" || key == "data" {
        format!("name the argument: `{key}.NAME`")
    } else if let Some(hint) = did_you_mean(
        key,
        CONTEXT_FIELDS.iter().map(|(n, _, _)| *n).chain(["retval"]),
    ) {
        hint
    } else if event.is_some_and(|e| e.arg(key).is_some()) {
        format!("`{key}` is an argument of the event: write `args.{key}`")
    } else {
        "filter fields are `args.NAME`, `retval` or a context field such as `uid`, `comm`, `pid`"
            .to_owned()
    };
    diags.push(
        Diagnostic::new(
            Code::UnknownField,
            format!("unknown filter field `{}`", filter::shown(key)),
        )
        .at(file, span)
        .label("unknown field")
        .help(help),
    );
    None
}

type ValueError = (filter::BadValue, Option<usize>);

fn parse_value(field: RuleField, ty: ValueType, text: &str) -> Result<Value, ValueError> {
    let plain = |e| (e, None);
    match (field, ty) {
        (RuleField::Context(ContextField::Container), _) if text == "started" => Ok(Value::Started),
        (RuleField::Context(ContextField::Syscall), _) => {
            let is_syscall = catalog::event(text).is_some_and(|e| e.kind == EventKind::Syscall);
            if is_syscall {
                Ok(Value::Str(crate::ir::StrMatch::Exact(text.to_owned())))
            } else {
                let names = catalog::events()
                    .iter()
                    .filter(|e| e.kind == EventKind::Syscall)
                    .map(|e| e.name);
                Err(plain(filter::BadValue {
                    message: format!("`{text}` is not a syscall"),
                    help: did_you_mean(text, names)
                        .unwrap_or_else(|| "give a syscall name, e.g. `syscall=openat`".to_owned()),
                }))
            }
        }
        (
            RuleField::SockAddr {
                part: SockPart::Ip, ..
            },
            _,
        ) if text.contains('.') => parse_ipv4(text).map(Value::Int).map_err(plain),
        (
            RuleField::SockAddr {
                part: SockPart::Ip, ..
            },
            _,
        ) if text.contains(':') => Err(plain(filter::BadValue {
            message: format!("`{text}` is an IPv6 address: only IPv4 addresses are compared in the kernel"),
            help: "filter IPv4 addresses or blocks (`=10.0.0.0/8`); for IPv6 traffic filter the ports, or the event's scope".to_owned(),
        })),
        (RuleField::Arg { def, .. }, _)
            if def.name == "syscall"
                && def.ty == ArgType::Int(4)
                && !text.starts_with(|c: char| c.is_ascii_digit() || c == '-') =>
        {
            // The syscall-checking events name syscalls (`args.syscall=execve`).
            match catalog::event(text).filter(|e| e.kind == EventKind::Syscall) {
                Some(e) => Ok(Value::Int(i128::from(e.id))),
                None => {
                    let names = catalog::events()
                        .iter()
                        .filter(|e| e.kind == EventKind::Syscall)
                        .map(|e| e.name);
                    Err(plain(filter::BadValue {
                        message: format!("`{text}` is not a syscall"),
                        help: did_you_mean(text, names).unwrap_or_else(|| {
                            "give syscall names or numbers, e.g. `args.syscall=execve,connect`"
                                .to_owned()
                        }),
                    }))
                }
            }
        }
        (_, ValueType::Bool) => filter::parse_bool(text).map(Value::Bool).map_err(plain),
        (_, ValueType::Str { wildcards, .. }) => filter::parse_str(text, wildcards).map(Value::Str),
        _ => filter::parse_int(text, ty).map(Value::Int).map_err(plain),
    }
}

/// How a socket address's part is compared.
fn sock_part_type(part: SockPart) -> ValueType {
    match part {
        SockPart::Port => ValueType::UInt(16),
        SockPart::Ip => ValueType::UInt(32),
        SockPart::Path => ValueType::Str {
            max: None,
            wildcards: true,
        },
    }
}

/// An IPv4 address in dotted form, as the number the kernel compares (network order).
fn parse_ipv4(text: &str) -> Result<i128, filter::BadValue> {
    match text.parse::<std::net::Ipv4Addr>() {
        Ok(ip) => Ok(i128::from(u32::from(ip))),
        Err(_) => Err(filter::BadValue {
            message: format!("`{text}` is not an IPv4 address"),
            help: "write an address such as `10.0.0.1`, or a CIDR block `10.0.0.0/8` as the filter's only value with `=`"
                .to_owned(),
        }),
    }
}

/// `args.X.ip=A.B.C.D/N`, the filter's only value: the block's first and last addresses, as
/// the `>=`/`<=` pair the kernel's interval search decides.
fn cidr_filters(
    field: RuleField,
    entry: &Entry,
    split: &filter::Split,
    file: FileId,
    diags: &mut Diagnostics,
) -> Option<Option<Vec<Filter<RuleField>>>> {
    let values = &entry.text[split.values.clone()];
    if !values.contains('/') {
        return None;
    }
    let bad = |diags: &mut Diagnostics, message: String| {
        diags.push(
            Diagnostic::new(Code::InvalidValue, message)
                .at(file, entry.span(split.values.clone()))
                .label("invalid CIDR block")
                .help("a CIDR block is written `=10.0.0.0/8`, as the filter's only value; for several blocks write a rule per block in separate policies, or use `>=`/`<=`"),
        );
        Some(None)
    };
    if split.op != Op::Eq || values.contains(',') {
        return bad(
            diags,
            format!("`{values}`: a CIDR block takes `=` and must be the only value"),
        );
    }
    let Some((addr, len)) = values.split_once('/') else {
        return bad(diags, format!("`{values}` is not a CIDR block"));
    };
    let (Ok(ip), Ok(len)) = (addr.parse::<std::net::Ipv4Addr>(), len.parse::<u32>()) else {
        return bad(diags, format!("`{values}` is not an IPv4 CIDR block"));
    };
    if len > 32 {
        return bad(diags, format!("`{values}`: a prefix length is at most 32"));
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let first = u32::from(ip) & mask;
    let last = first | !mask;
    let span = entry.whole();
    let bound = |op, v: u32| Filter {
        key: field,
        op,
        values: vec![Value::Int(i128::from(v))],
        span: span.clone(),
    };
    Some(Some(vec![bound(Op::Ge, first), bound(Op::Le, last)]))
}

fn check_length(
    value: &Value,
    ty: ValueType,
    name: &str,
    file: FileId,
    span: crate::yaml::ByteSpan,
    diags: &mut Diagnostics,
) {
    let (ValueType::Str { max: Some(max), .. }, Value::Str(s)) = (ty, value) else {
        return;
    };
    let len = filter::str_len(s);
    if len > max {
        diags.push(
            Diagnostic::new(Code::ValueTooLong, format!("this `{name}` value is {len} bytes; the kernel's field holds at most {max}"))
                .at(file, span)
                .label("can never match")
                .help(format!("the kernel keeps only {max} bytes of `{name}`, so this value never matches: shorten it")),
        );
    }
}

pub fn field_name(field: RuleField) -> String {
    match field {
        RuleField::Retval => "retval".to_owned(),
        RuleField::Arg { def, .. } => format!("args.{}", def.name),
        RuleField::ArgMasked { def, mask, .. } => {
            format!("args.{}%{}", def.name, u64::from(mask) + 1)
        }
        RuleField::SockAddr { def, part, .. } => format!("args.{}.{}", def.name, part.name()),
        RuleField::Part { def, part, .. } => format!("args.{}.{part}", def.name),
        RuleField::Context(c) => CONTEXT_FIELDS
            .iter()
            .find(|(_, f, _)| *f == c)
            .map_or_else(|| format!("{c:?}"), |(n, _, _)| (*n).to_owned()),
    }
}

fn field_type(field: RuleField) -> Option<ValueType> {
    match field {
        RuleField::Retval => Some(RETVAL),
        RuleField::Arg { def, .. } if def.ty == ArgType::Bytes => {
            // A packet's DNS question name, the only Bytes field a filter reaches.
            Some(ValueType::Str {
                max: None,
                wildcards: true,
            })
        }
        RuleField::Arg { def, .. } => arg_value_type(def.ty),
        RuleField::ArgMasked { .. } => Some(ValueType::UInt(32)),
        RuleField::SockAddr { part, .. } => Some(sock_part_type(part)),
        RuleField::Part { .. } => Some(ValueType::Str {
            max: None,
            wildcards: true,
        }),
        RuleField::Context(c) => CONTEXT_FIELDS
            .iter()
            .find(|(_, f, _)| *f == c)
            .map(|(_, _, t)| *t),
    }
}

/// Whether a filter demands a container (`Some(true)`), the host (`Some(false)`), or neither.
fn demands_container(filter: &Filter<RuleField>) -> Option<bool> {
    use ContextField::*;
    let RuleField::Context(field) = filter.key else {
        return None;
    };
    let positive = filter.op == Op::Eq;
    let truth = |v: &Value| match v {
        Value::Bool(b) => Some(*b == positive),
        Value::Started => positive.then_some(true),
        _ => None,
    };
    match field {
        Container => filter.values.iter().find_map(truth),
        Host => filter.values.iter().find_map(truth).map(|host| !host),
        ContainerId | ContainerImage | ContainerImageDigest | ContainerName | PodName
        | PodNamespace | PodUid => positive.then_some(true),
        PodSandbox => positive.then_some(true),
        _ => None,
    }
}

/// A rule whose filters demand a container where the scope (or another filter) demands the
/// host, or the reverse, never matches.
fn container_conflict(
    filters: &[Filter<RuleField>],
    scope: ScopeContainers,
    file: FileId,
    event: &str,
    diags: &mut Diagnostics,
) -> bool {
    let in_container = filters.iter().find(|f| demands_container(f) == Some(true));
    let on_host = filters.iter().find(|f| demands_container(f) == Some(false));
    let (span, also, why) = match (in_container, on_host, scope) {
        (Some(c), Some(h), _) => (
            c.span.clone(),
            Some(h.span.clone()),
            "it asks for a container and for the host",
        ),
        (Some(c), None, ScopeContainers::Never) => (
            c.span.clone(),
            None,
            "the policy's scope is `not-container`",
        ),
        (None, Some(h), ScopeContainers::Only) => (
            h.span.clone(),
            None,
            "the policy's scope selects containers only",
        ),
        _ => return false,
    };
    let mut diagnostic = Diagnostic::new(
        Code::SelectsNothing,
        format!("the rule for `{event}` can never match: {why}"),
    )
    .at(file, span)
    .label("contradicts")
    .help("remove the contradicting filter, or move the rule into a policy with a fitting scope");
    if let Some(also) = also {
        diagnostic = diagnostic.also(also, "contradicts");
    }
    diags.push(diagnostic);
    true
}

fn combined_checks(
    filters: &[Filter<RuleField>],
    file: FileId,
    event: &str,
    diags: &mut Diagnostics,
) -> bool {
    let mut nothing = false;
    let mut seen: Vec<RuleField> = Vec::new();
    for filter in filters {
        if seen.contains(&filter.key) {
            continue;
        }
        seen.push(filter.key);
        let Some(ty) = field_type(filter.key) else {
            continue;
        };
        let name = field_name(filter.key);
        let combined = Combined {
            name: &name,
            ty,
            values: filters
                .iter()
                .filter(|f| f.key == filter.key)
                .flat_map(|f| f.values.iter().map(move |v| (f.op, v, f.span.clone())))
                .collect(),
        };
        nothing |=
            filter::check_combined(&combined, file, &format!("the rule for `{event}`"), diags);
    }
    nothing
}
