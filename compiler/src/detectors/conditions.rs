//! Where a detector's CEL conditions can run: in the kernel, as the filters a rule already
//! has (comparisons of a field with literals, `startsWith`/`endsWith`/`contains`, `in`
//! lists, `&&`, `||`, `!`), or in the loader, from the record (everything else: regular
//! expressions, arithmetic, list functions, bytes). Decided per base event: `eventName`
//! is known for each base event a detection is built from, so `eventName == "x" ? c : true`
//! is `c` on `x` and nothing on the others.

use cel::common::ast::{CallExpr, Expr, IdedExpr, LiteralValue, operators as op};

/// Where one condition runs for one base event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "runs", content = "because")]
pub enum Place {
    /// Always true on this base event (a guard for another one).
    Nowhere,
    /// Always false on this base event: the detection never comes from it.
    Never,
    /// Decided in the kernel with the rule's filters.
    Kernel,
    /// Decided by the loader from the record; why not in the kernel.
    Loader(String),
}

/// Parses a condition.
pub fn parse(condition: &str) -> Result<IdedExpr, String> {
    cel::parser::Parser::new()
        .parse(condition)
        .map_err(|e| format!("`{condition}` is not CEL: {e}"))
}

/// Where `condition` runs on `base`.
pub fn place(condition: &IdedExpr, base: &str) -> Place {
    place_expr(&condition.expr, base)
}

fn loader(why: &str) -> Place {
    Place::Loader(why.to_owned())
}

fn place_expr(expr: &Expr, base: &str) -> Place {
    if let Some((name, equal)) = event_name_test(expr) {
        return if (name == base) == equal {
            Place::Nowhere
        } else {
            Place::Never
        };
    }
    match expr {
        Expr::Literal(LiteralValue::Boolean(b)) if *b.inner() => Place::Nowhere,
        Expr::Call(call) => place_call(call, base),
        Expr::Comprehension(_) => loader("a list function (`exists`, `all`, ...)"),
        _ => loader("not a comparison the kernel filters have"),
    }
}

fn place_call(call: &CallExpr, base: &str) -> Place {
    let args = &call.args;
    match (call.func_name.as_str(), args.as_slice()) {
        (op::LOGICAL_AND | op::LOGICAL_OR, [a, b]) => {
            join(place_expr(&a.expr, base), place_expr(&b.expr, base))
        }
        (op::LOGICAL_NOT, [a]) => match place_expr(&a.expr, base) {
            Place::Nowhere => loader("the negation of a guard"),
            other => other,
        },
        (op::CONDITIONAL, [test, yes, no]) => match event_name_test(&test.expr) {
            Some((name, equal)) => {
                let taken = if (name == base) == equal { yes } else { no };
                place_expr(&taken.expr, base)
            }
            None => loader("a conditional on something other than the base event"),
        },
        (
            op::EQUALS
            | op::NOT_EQUALS
            | op::LESS
            | op::LESS_EQUALS
            | op::GREATER
            | op::GREATER_EQUALS,
            [a, b],
        ) => {
            if is_arithmetic(&a.expr) || is_arithmetic(&b.expr) {
                loader("arithmetic (`%`, `+`, ...): the kernel filters have no bit test yet")
            } else if (is_field(&a.expr) && is_literal(&b.expr))
                || (is_literal(&a.expr) && is_field(&b.expr))
            {
                Place::Kernel
            } else if is_family(&a.expr) || is_family(&b.expr) {
                loader("an address family: the kernel filters have a socket's port, ip and path")
            } else if is_bytes(&a.expr) || is_bytes(&b.expr) {
                loader("a bytes comparison")
            } else {
                loader("a comparison of two computed values")
            }
        }
        (op::IN, [a, list]) if is_field(&a.expr) && is_literal_list(&list.expr) => Place::Kernel,
        ("startsWith" | "endsWith" | "contains", [arg]) => match &call.target {
            Some(target) if is_field(&target.expr) && is_literal(&arg.expr) => Place::Kernel,
            _ => loader("a string test on a computed value"),
        },
        ("matches", _) => loader("a regular expression"),
        ("size", _) => loader("a size"),
        _ => loader("a function the kernel filters do not have"),
    }
}

/// Both must hold (or either): the weaker place wins. (`Never` joined with anything is
/// taken as the other side: an `||` with it is the other side, an `&&` with it is never
/// true, which the detection's other conditions then cannot change; both read the same.)
fn join(a: Place, b: Place) -> Place {
    match (a, b) {
        (Place::Loader(why), _) | (_, Place::Loader(why)) => Place::Loader(why),
        (Place::Kernel, _) | (_, Place::Kernel) => Place::Kernel,
        (Place::Never, _) | (_, Place::Never) => Place::Never,
        _ => Place::Nowhere,
    }
}

/// `eventName == "x"` (or `!=`): the name and whether it is an equality.
fn event_name_test(expr: &Expr) -> Option<(&str, bool)> {
    let Expr::Call(call) = expr else { return None };
    let equal = match call.func_name.as_str() {
        op::EQUALS => true,
        op::NOT_EQUALS => false,
        _ => return None,
    };
    match call.args.as_slice() {
        [a, b] => match (&a.expr, &b.expr) {
            (Expr::Ident(i), Expr::Literal(LiteralValue::String(s)))
            | (Expr::Literal(LiteralValue::String(s)), Expr::Ident(i))
                if i == "eventName" =>
            {
                Some((s.inner(), equal))
            }
            _ => None,
        },
        _ => None,
    }
}

/// A field the kernel reads: `getEventData("name")`, or the task's context
/// (`workload.process.name`, `.pid`, `.executable.path`, `workload.container.id`).
fn is_field(expr: &Expr) -> bool {
    match expr {
        Expr::Call(call) => {
            call.func_name == "getEventData"
                && call.target.is_none()
                && matches!(call.args.as_slice(), [a] if matches!(&a.expr, Expr::Literal(LiteralValue::String(_))))
        }
        // A socket address's parts: the kernel filters have `.port`, `.ip` and `.path`.
        Expr::Select(select)
            if matches!(
                select.field.as_str(),
                "sin_port" | "sin6_port" | "sin_addr" | "sin6_addr" | "sun_path"
            ) && is_field(&select.operand.expr) =>
        {
            true
        }
        Expr::Select(_) => matches!(
            dotted(expr).as_deref(),
            Some(
                "workload.process.name"
                    | "workload.process.pid"
                    | "workload.process.executable.path"
                    | "workload.container.id"
            )
        ),
        _ => false,
    }
}

/// `a.b.c` as text, for identifiers and field selections only.
fn dotted(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Ident(name) => Some(name.clone()),
        Expr::Select(select) if !select.test => Some(format!(
            "{}.{}",
            dotted(&select.operand.expr)?,
            select.field
        )),
        _ => None,
    }
}

fn is_literal(expr: &Expr) -> bool {
    matches!(
        expr,
        Expr::Literal(
            LiteralValue::String(_)
                | LiteralValue::Int(_)
                | LiteralValue::UInt(_)
                | LiteralValue::Boolean(_)
        )
    ) || matches!(expr, Expr::Call(c) if c.func_name == op::NEGATE && c.args.len() == 1 && is_literal(&c.args[0].expr))
}

fn is_family(expr: &Expr) -> bool {
    matches!(expr, Expr::Select(select) if select.field == "sa_family")
}

fn is_bytes(expr: &Expr) -> bool {
    matches!(expr, Expr::Literal(LiteralValue::Bytes(_)))
}

fn is_literal_list(expr: &Expr) -> bool {
    matches!(expr, Expr::List(list) if list.elements.iter().all(|e| is_literal(&e.expr)))
}

fn is_arithmetic(expr: &Expr) -> bool {
    matches!(expr, Expr::Call(c) if matches!(
        c.func_name.as_str(),
        op::MODULO | op::ADD | op::SUBSTRACT | op::MULTIPLY | op::DIVIDE
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(condition: &str, base: &str) -> Place {
        match parse(condition) {
            Ok(e) => place(&e, base),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn comparisons_string_tests_and_lists_run_in_the_kernel() {
        for c in [
            r#"getEventData("pathname") == "/etc/shadow""#,
            r#"getEventData("fd") in [0, 1, 2]"#,
            r#"getEventData("pathname").startsWith("/proc/") && !getEventData("pathname").endsWith("/mem")"#,
            r#"workload.process.name in ["nginx", "httpd"] || getEventData("newfd") < 3"#,
            r#"getEventData("request") != -1"#,
        ] {
            assert_eq!(at(c, "security_file_open"), Place::Kernel, "{c}");
        }
    }

    #[test]
    fn the_rest_runs_in_the_loader() {
        for (c, why) in [
            (r#"getEventData("flags") % 4 != 0"#, "arithmetic"),
            (
                r#"getEventData("pathname").matches("^/proc/[0-9]+/mem$")"#,
                "regular expression",
            ),
            (
                r#"getEventData("env").exists(e, e.startsWith("LD_PRELOAD="))"#,
                "list function",
            ),
            (r#"getEventData("bytes") >= b"\x7fELF""#, "bytes"),
        ] {
            match at(c, "sched_process_exec") {
                Place::Loader(reason) => assert!(reason.contains(why), "{c}: {reason}"),
                other => panic!("{c}: {other:?}"),
            }
        }
    }

    #[test]
    fn event_name_guards_resolve_per_base_event() {
        let c = r#"eventName == "security_file_open" ? getEventData("pathname") == "/x" : true"#;
        assert_eq!(at(c, "security_file_open"), Place::Kernel);
        assert_eq!(at(c, "security_inode_rename"), Place::Nowhere);
        let c = r#"eventName == "security_socket_connect""#;
        assert_eq!(at(c, "security_socket_connect"), Place::Nowhere);
        assert_eq!(at(c, "sched_process_exec"), Place::Never);
        let c = r#"getEventData("remote_addr").sun_path.endsWith("docker.sock")"#;
        assert_eq!(at(c, "security_socket_connect"), Place::Kernel);
        let c = r#"eventName != "security_file_open" ? true : getEventData("flags") % 4 != 0"#;
        assert!(matches!(at(c, "security_file_open"), Place::Loader(_)));
        assert_eq!(at(c, "sched_process_exec"), Place::Nowhere);
    }
}
