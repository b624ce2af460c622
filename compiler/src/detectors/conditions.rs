//! Where a detector's CEL conditions can run: in the kernel, as the filters a rule already
//! has, or in the loader, from the record. A condition runs in the kernel when it lowers
//! to rule filters: each a field with `=`/`!=` and alternatives (literals, `x*`, `*x`,
//! `*x*`), or a numeric comparison; filters on different fields all hold (`&&`); the values
//! of one filter are alternatives (`||` on one field, `in` a list). Everything else runs in
//! the loader, and the reason is kept: regular expressions, arithmetic, list functions,
//! bytes, two computed values compared, alternatives across fields, two conditions on one
//! field (a rule's filters on one field are alternatives, as in Tracee).
//!
//! Decided per base event: `eventName` is known for each base event a detection is built
//! from, so `eventName == "x" ? c : true` is `c` on `x` and nothing on the others.

use cel::common::ast::{
    CallExpr, ComprehensionExpr, Expr, IdedExpr, LiteralValue, operators as op,
};

/// Where one condition runs for one base event.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase", tag = "runs", content = "detail")]
pub enum Place {
    /// Always true on this base event (a guard for another one).
    Nowhere,
    /// Always false on this base event: the detection never comes from it.
    Never,
    /// Decided in the kernel by these rule filters (policy syntax, all must hold).
    Kernel(Vec<String>),
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
    let expr = on_base(condition, base);
    match lower(&expr, base) {
        Ok(Lowered::True) => Place::Nowhere,
        Ok(Lowered::False) => Place::Never,
        Ok(Lowered::Filters(filters)) => Place::Kernel(filters.iter().map(Filter::text).collect()),
        Err(why) => Place::Loader(why),
    }
}

/// The condition as it reads on `base`: on `sched_process_exec` the task's executable is
/// the file the event executed (`workload.process.executable.path` is its `pathname`).
fn on_base(condition: &IdedExpr, base: &str) -> Expr {
    let mut expr = condition.expr.clone();
    if base == "sched_process_exec"
        && let Ok(pathname) = parse(r#"getEventData("pathname")"#)
    {
        substitute_path(
            &mut expr,
            "workload.process.executable.path",
            &pathname.expr,
        );
    }
    expr
}

/// Rule filters that hold whenever `condition` holds on `base`, for a condition that runs
/// in the loader: the kernel sends up only records that may pass it (the condition is still
/// decided in the loader). A conjunction's filters on distinct fields; a regular
/// expression's literal start (`^/proc/`) or end (`/mem$`); the filters of the parts that
/// lower. Empty when nothing narrows it.
pub fn necessary(condition: &IdedExpr, base: &str) -> Vec<String> {
    match implied(&on_base(condition, base), base) {
        Some(Lowered::Filters(filters)) => filters.iter().map(Filter::text).collect(),
        _ => Vec::new(),
    }
}

fn implied(expr: &Expr, base: &str) -> Option<Lowered> {
    if let Ok(lowered) = lower(expr, base) {
        return Some(lowered);
    }
    let Expr::Call(call) = expr else {
        return None;
    };
    match (call.func_name.as_str(), call.args.as_slice()) {
        (op::LOGICAL_AND, [a, b]) => match (implied(&a.expr, base), implied(&b.expr, base)) {
            (Some(Lowered::Filters(mut fa)), Some(Lowered::Filters(fb))) => {
                for f in fb {
                    if !fa.iter().any(|g| g.field == f.field) {
                        fa.push(f);
                    }
                }
                Some(Lowered::Filters(fa))
            }
            (Some(x), None) | (None, Some(x)) => Some(x),
            (Some(a), Some(_)) => Some(a),
            (None, None) => None,
        },
        (op::LOGICAL_OR, [a, b]) => or(implied(&a.expr, base)?, implied(&b.expr, base)?).ok(),
        (op::CONDITIONAL, [test, yes, no]) => {
            let (name, equal) = event_name_test(&test.expr)?;
            implied(&(if (name == base) == equal { yes } else { no }).expr, base)
        }
        ("matches", [regex]) => {
            let field = field(&call.target.as_ref()?.expr).ok()?;
            let Expr::Literal(LiteralValue::String(r)) = &regex.expr else {
                return None;
            };
            let pattern = regex_literal(r.inner())?;
            one(field, "=", vec![pattern]).ok()
        }
        _ => None,
    }
}

/// A regular expression's literal start or end (the longer one, of 2 bytes or more), as a
/// filter pattern: `^/proc/` is `/proc/*`, `/mem$` is `*/mem`.
fn regex_literal(regex: &str) -> Option<String> {
    const META: &[char] = &[
        '.', '[', ']', '(', ')', '|', '*', '+', '?', '{', '}', '\\', '^', '$',
    ];
    let start = regex
        .strip_prefix('^')
        .map(|r| {
            r.chars()
                .take_while(|c| !META.contains(c))
                .collect::<String>()
        })
        .unwrap_or_default();
    let end = regex
        .strip_suffix('$')
        .map(|r| {
            let tail: String = r.chars().rev().take_while(|c| !META.contains(c)).collect();
            tail.chars().rev().collect::<String>()
        })
        .unwrap_or_default();
    // A quantifier applies to the character before it: it is not part of the literal.
    let start = match regex
        .strip_prefix('^')
        .and_then(|r| r.chars().nth(start.chars().count()))
    {
        Some('*' | '+' | '?' | '{') => start
            .chars()
            .take(start.chars().count().saturating_sub(1))
            .collect(),
        _ => start,
    };
    let pattern = if end.len() >= start.len() {
        format!("*{end}")
    } else {
        format!("{start}*")
    };
    (end.len().max(start.len()) >= 2 && !pattern[1..pattern.len() - 1].contains([',', '*']))
        .then_some(pattern)
}

/// Replaces the dotted selection `path` (`a.b.c`) by `with` throughout `expr`.
fn substitute_path(expr: &mut Expr, path: &str, with: &Expr) {
    replace(expr, &|e| dotted(e).as_deref() == Some(path), with);
}

/// Replaces every subexpression `is` picks by `with` (not looking inside a replaced one).
fn replace(expr: &mut Expr, is: &dyn Fn(&Expr) -> bool, with: &Expr) {
    if is(expr) {
        *expr = with.clone();
        return;
    }
    match expr {
        Expr::Call(call) => {
            if let Some(target) = call.target.as_mut() {
                replace(&mut target.expr, is, with);
            }
            for arg in &mut call.args {
                replace(&mut arg.expr, is, with);
            }
        }
        Expr::Select(select) => replace(&mut select.operand.expr, is, with),
        Expr::List(list) => {
            for e in &mut list.elements {
                replace(&mut e.expr, is, with);
            }
        }
        _ => {}
    }
}

/// One rule filter: a field, an operator, alternatives.
#[derive(Debug, Clone, PartialEq)]
struct Filter {
    field: String,
    op: &'static str,
    values: Vec<String>,
}

impl Filter {
    fn text(&self) -> String {
        format!("{}{}{}", self.field, self.op, self.values.join(","))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Lowered {
    True,
    False,
    /// All hold; one filter per field.
    Filters(Vec<Filter>),
}

fn lower(expr: &Expr, base: &str) -> Result<Lowered, String> {
    if let Some((name, equal)) = event_name_test(expr) {
        return Ok(if (name == base) == equal {
            Lowered::True
        } else {
            Lowered::False
        });
    }
    match expr {
        Expr::Literal(LiteralValue::Boolean(b)) => Ok(if *b.inner() {
            Lowered::True
        } else {
            Lowered::False
        }),
        Expr::Call(call) => lower_call(call, base),
        Expr::Comprehension(c) => exists(c, base),
        _ => Err("not a comparison the kernel filters have".to_owned()),
    }
}

fn lower_call(call: &CallExpr, base: &str) -> Result<Lowered, String> {
    let args = &call.args;
    match (call.func_name.as_str(), args.as_slice()) {
        (op::LOGICAL_AND, [a, b]) => and(lower(&a.expr, base)?, lower(&b.expr, base)?),
        (op::LOGICAL_OR, [a, b]) => or(lower(&a.expr, base)?, lower(&b.expr, base)?),
        (op::LOGICAL_NOT, [a]) => not(lower(&a.expr, base)?),
        (op::CONDITIONAL, [test, yes, no]) => match event_name_test(&test.expr) {
            Some((name, equal)) => {
                let taken = if (name == base) == equal { yes } else { no };
                lower(&taken.expr, base)
            }
            None => Err("a conditional on something other than the base event".to_owned()),
        },
        (
            op::EQUALS
            | op::NOT_EQUALS
            | op::LESS
            | op::LESS_EQUALS
            | op::GREATER
            | op::GREATER_EQUALS,
            [a, b],
        ) => compare(call.func_name.as_str(), &a.expr, &b.expr),
        (op::IN, [a, list]) => {
            let field = field(&a.expr)?;
            let Expr::List(list) = &list.expr else {
                return Err("`in` something other than a list of literals".to_owned());
            };
            let values = list
                .elements
                .iter()
                .map(|e| literal(&e.expr))
                .collect::<Result<Vec<_>, _>>()?;
            one(field, "=", values)
        }
        (test @ ("startsWith" | "endsWith" | "contains"), [arg]) => {
            let Some(target) = &call.target else {
                return Err("a string test on nothing".to_owned());
            };
            let field = field(&target.expr)?;
            let value = literal(&arg.expr)?;
            if value.contains('*') {
                return Err("a `*` in the text a string test looks for".to_owned());
            }
            let pattern = match test {
                "startsWith" => format!("{value}*"),
                "endsWith" => format!("*{value}"),
                _ => format!("*{value}*"),
            };
            one(field, "=", vec![pattern])
        }
        ("matches", _) => Err("a regular expression".to_owned()),
        ("size", _) => Err("a size".to_owned()),
        _ => Err("a function the kernel filters do not have".to_owned()),
    }
}

/// `list.exists(e, P(e))` on a string array, where `P` is string tests of `e` joined by
/// `||`: the array filter with those alternatives (a filter on a string array matches when
/// one of its entries does). Other list functions, and other predicates, run in the loader.
fn exists(c: &ComprehensionExpr, base: &str) -> Result<Lowered, String> {
    let other = || Err("a list function (`exists`, `all`, ...)".to_owned());
    let accu = |e: &Expr| matches!(e, Expr::Ident(name) if *name == c.accu_var);
    let is_false =
        matches!(&c.accu_init.expr, Expr::Literal(LiteralValue::Boolean(b)) if !*b.inner());
    let Expr::Call(step) = &c.loop_step.expr else {
        return other();
    };
    let predicate = match step.args.as_slice() {
        [a, p] if step.func_name == op::LOGICAL_OR && accu(&a.expr) => p,
        _ => return other(),
    };
    if !is_false || !accu(&c.result.expr) || c.iter_var2.is_some() {
        return other();
    }
    let array = field(&c.iter_range.expr)?;
    let mut predicate = predicate.expr.clone();
    substitute(&mut predicate, &c.iter_var, &c.iter_range.expr);
    match lower(&predicate, base) {
        Ok(Lowered::Filters(filters))
            if filters.iter().all(|f| f.field == array && f.op == "=") =>
        {
            Ok(Lowered::Filters(filters))
        }
        _ => Err(
            "a list function (`exists`) whose test is not string matches of the entry".to_owned(),
        ),
    }
}

/// Replaces the identifier `name` by `with` throughout `expr`.
fn substitute(expr: &mut Expr, name: &str, with: &Expr) {
    replace(expr, &|e| matches!(e, Expr::Ident(id) if id == name), with);
}

fn one(field: String, op: &'static str, values: Vec<String>) -> Result<Lowered, String> {
    Ok(Lowered::Filters(vec![Filter { field, op, values }]))
}

fn compare(func: &str, a: &Expr, b: &Expr) -> Result<Lowered, String> {
    // `field % 2^k OP literal`: the argument's low bits (the open flags' access mode).
    for (x, y, func) in [(a, b, func), (b, a, mirror(func))] {
        if let Some(masked) = modulo(x) {
            let value = literal(y)?;
            if value.parse::<u64>().is_err() {
                return Err("a remainder compared with something other than a number".to_owned());
            }
            return one(masked, op_text(func), vec![value]);
        }
    }
    if is_arithmetic(a) || is_arithmetic(b) {
        return Err(
            "arithmetic (`%`, `+`, ...): the kernel filters have no bit test yet".to_owned(),
        );
    }
    if is_family(a) || is_family(b) {
        return Err(
            "an address family: the kernel filters have a socket's port, ip and path".to_owned(),
        );
    }
    if is_bytes(a) || is_bytes(b) {
        return Err("a bytes comparison".to_owned());
    }
    // `literal OP field` is `field OP' literal`.
    let (field_expr, value_expr, func) = match (field(a), field(b)) {
        (Ok(_), _) => (a, b, func),
        (Err(_), Ok(_)) => (b, a, mirror(func)),
        (Err(ea), Err(eb)) => {
            return Err(if literal(b).is_ok() {
                ea
            } else if literal(a).is_ok() {
                eb
            } else {
                "a comparison of two computed values".to_owned()
            });
        }
    };
    let field = field(field_expr)?;
    let value =
        literal(value_expr).map_err(|_| "a comparison of two computed values".to_owned())?;
    let op = op_text(func);
    if value.contains('*') && matches!(op, "=" | "!=") {
        return Err("a `*` in a value compared exactly".to_owned());
    }
    // A container id compared with nothing: in a container or not.
    if field == "containerId" && value.is_empty() && matches!(op, "=" | "!=") {
        return one("container".to_owned(), "=", vec![(op == "!=").to_string()]);
    }
    if value.is_empty() {
        return Err("an empty value (filters take none)".to_owned());
    }
    one(field, op, vec![value])
}

/// `getEventData("f") % N` with N a power of two: the masked field `args.f%N`.
fn modulo(expr: &Expr) -> Option<String> {
    let Expr::Call(call) = expr else {
        return None;
    };
    let [x, n] = call.args.as_slice() else {
        return None;
    };
    if call.func_name != op::MODULO {
        return None;
    }
    let n: u64 = literal(&n.expr).ok()?.parse().ok()?;
    let field = field(&x.expr).ok()?;
    (n.is_power_of_two() && n >= 2 && field.starts_with("args.")).then(|| format!("{field}%{n}"))
}

fn op_text(func: &str) -> &'static str {
    match func {
        op::EQUALS => "=",
        op::NOT_EQUALS => "!=",
        op::LESS => "<",
        op::LESS_EQUALS => "<=",
        op::GREATER => ">",
        _ => ">=",
    }
}

fn mirror(func: &str) -> &str {
    match func {
        op::LESS => op::GREATER,
        op::LESS_EQUALS => op::GREATER_EQUALS,
        op::GREATER => op::LESS,
        op::GREATER_EQUALS => op::LESS_EQUALS,
        other => other,
    }
}

/// Both hold: filters on different fields.
fn and(a: Lowered, b: Lowered) -> Result<Lowered, String> {
    match (a, b) {
        (Lowered::False, _) | (_, Lowered::False) => Ok(Lowered::False),
        (Lowered::True, x) | (x, Lowered::True) => Ok(x),
        (Lowered::Filters(mut a), Lowered::Filters(b)) => {
            for f in b {
                if a.iter().any(|g| g.field == f.field) {
                    return Err(format!(
                        "two conditions on `{}`: a rule's filters on one field are alternatives",
                        f.field
                    ));
                }
                a.push(f);
            }
            Ok(Lowered::Filters(a))
        }
    }
}

/// Either holds: alternatives of one `=` filter.
fn or(a: Lowered, b: Lowered) -> Result<Lowered, String> {
    match (a, b) {
        (Lowered::True, _) | (_, Lowered::True) => Ok(Lowered::True),
        (Lowered::False, x) | (x, Lowered::False) => Ok(x),
        (Lowered::Filters(a), Lowered::Filters(b)) => match (a.as_slice(), b.as_slice()) {
            ([f], [g]) if f.field == g.field && f.op == "=" && g.op == "=" => {
                let mut values = f.values.clone();
                values.extend(g.values.iter().cloned());
                one(f.field.clone(), "=", values)
            }
            _ => Err("alternatives across fields (`||`)".to_owned()),
        },
    }
}

fn not(a: Lowered) -> Result<Lowered, String> {
    match a {
        Lowered::True => Ok(Lowered::False),
        Lowered::False => Ok(Lowered::True),
        Lowered::Filters(filters) => match filters.as_slice() {
            [f] => {
                let op = match f.op {
                    "=" => "!=",
                    "!=" => "=",
                    "<" => ">=",
                    "<=" => ">",
                    ">" => "<=",
                    _ => "<",
                };
                if f.op == "!=" && f.values.len() > 1 {
                    return Err("the negation of a negated list".to_owned());
                }
                one(f.field.clone(), op, f.values.clone())
            }
            _ => Err("the negation of several conditions".to_owned()),
        },
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

/// The rule field an expression reads: `getEventData("name")` (`args.name`), a socket
/// address's part (`args.name.port`, `.ip`, `.path`), or the task's context
/// (`workload.process.name` is `comm`, `.pid` is `pid`, `workload.container.id` is
/// `containerId`).
fn field(expr: &Expr) -> Result<String, String> {
    match expr {
        Expr::Call(call) if call.func_name == "getEventData" && call.target.is_none() => {
            match call.args.as_slice() {
                [a] => match &a.expr {
                    Expr::Literal(LiteralValue::String(s)) => Ok(format!("args.{}", s.inner())),
                    _ => Err("a field named by a computed value".to_owned()),
                },
                _ => Err("`getEventData` takes one field name".to_owned()),
            }
        }
        Expr::Select(select) if !select.test => {
            let part = match select.field.as_str() {
                "sin_port" | "sin6_port" => Some("port"),
                "sin_addr" | "sin6_addr" => Some("ip"),
                "sun_path" => Some("path"),
                _ => None,
            };
            if let Some(part) = part {
                return field(&select.operand.expr).map(|f| format!("{f}.{part}"));
            }
            match dotted(expr).as_deref() {
                Some("workload.process.name") => Ok("comm".to_owned()),
                Some("workload.process.pid") => Ok("pid".to_owned()),
                Some("workload.container.id") => Ok("containerId".to_owned()),
                Some("workload.process.executable.path") => Err(
                    "the executable's path: the kernel has it as a scope, not a rule filter"
                        .to_owned(),
                ),
                _ => Err("a value the kernel filters do not read".to_owned()),
            }
        }
        _ => Err("a value the kernel filters do not read".to_owned()),
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

/// A literal's text in policy syntax.
fn literal(expr: &Expr) -> Result<String, String> {
    match expr {
        Expr::Literal(LiteralValue::String(s)) => {
            let s = s.inner();
            if s.contains(',') {
                Err("a `,` in a value (it separates alternatives in filters)".to_owned())
            } else {
                Ok(s.to_owned())
            }
        }
        Expr::Literal(LiteralValue::Int(i)) => Ok(i.inner().to_string()),
        Expr::Literal(LiteralValue::UInt(u)) => Ok(u.inner().to_string()),
        Expr::Literal(LiteralValue::Boolean(b)) => Ok(b.inner().to_string()),
        Expr::Call(c) if c.func_name == op::NEGATE => match c.args.as_slice() {
            [a] => match &a.expr {
                Expr::Literal(LiteralValue::Int(i)) => Ok((-i.inner()).to_string()),
                _ => Err("a computed value".to_owned()),
            },
            _ => Err("a computed value".to_owned()),
        },
        _ => Err("a computed value".to_owned()),
    }
}

fn is_family(expr: &Expr) -> bool {
    matches!(expr, Expr::Select(select) if select.field == "sa_family")
}

fn is_bytes(expr: &Expr) -> bool {
    matches!(expr, Expr::Literal(LiteralValue::Bytes(_)))
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

    fn kernel(filters: &[&str]) -> Place {
        Place::Kernel(filters.iter().map(|f| (*f).to_owned()).collect())
    }

    #[test]
    fn conditions_lower_to_rule_filters() {
        for (c, filters) in [
            (
                r#"getEventData("pathname") == "/etc/shadow""#,
                &["args.pathname=/etc/shadow"][..],
            ),
            (r#"getEventData("fd") in [0, 1, 2]"#, &["args.fd=0,1,2"]),
            (
                r#"getEventData("pathname").startsWith("/proc/") && !getEventData("flags").endsWith("x")"#,
                &["args.pathname=/proc/*", "args.flags!=*x"],
            ),
            (
                r#"workload.process.name == "nginx" || workload.process.name.contains("http")"#,
                &["comm=nginx,*http*"],
            ),
            (r#"3 > getEventData("newfd")"#, &["args.newfd<3"]),
            (r#"getEventData("request") != -1"#, &["args.request!=-1"]),
            (r#"workload.container.id != """#, &["container=true"]),
            (
                r#"getEventData("remote_addr").sun_path.endsWith("docker.sock")"#,
                &["args.remote_addr.path=*docker.sock"],
            ),
        ] {
            assert_eq!(at(c, "security_file_open"), kernel(filters), "{c}");
        }
    }

    #[test]
    fn the_rest_runs_in_the_loader() {
        for (c, why) in [
            (r#"getEventData("flags") % 3 != 0"#, "arithmetic"),
            (r#"getEventData("flags") + 4 != 0"#, "arithmetic"),
            (
                r#"getEventData("pathname").matches("^/proc/[0-9]+/mem$")"#,
                "regular expression",
            ),
            (
                r#"getEventData("env").all(e, e.startsWith("LD_PRELOAD="))"#,
                "list function",
            ),
            (
                r#"getEventData("env").exists(e, e != "LD_PRELOAD=")"#,
                "not string matches of the entry",
            ),
            (r#"getEventData("bytes") >= b"\x7fELF""#, "bytes"),
            (
                r#"getEventData("a") == "x" || getEventData("b") == "y""#,
                "across fields",
            ),
            (
                r#"getEventData("p").startsWith("/a") && getEventData("p").endsWith("b")"#,
                "two conditions on `args.p`",
            ),
            (
                r#"getEventData("pid") != workload.process.pid"#,
                "two computed values",
            ),
        ] {
            match at(c, "sched_process_exec") {
                Place::Loader(reason) => assert!(reason.contains(why), "{c}: {reason}"),
                other => panic!("{c}: {other:?}"),
            }
        }
    }

    /// The executable's path is a scope, not a rule filter, except on `sched_process_exec`,
    /// where it is the file the event executed.
    #[test]
    fn the_executable_is_the_exec_events_pathname() {
        let c = r#"workload.process.executable.path == "/bin/sh""#;
        assert!(matches!(at(c, "security_file_open"), Place::Loader(r) if r.contains("scope")));
        assert_eq!(
            at(c, "sched_process_exec"),
            kernel(&["args.pathname=/bin/sh"])
        );
    }

    /// A remainder by a power of two is the argument's low bits: the open flags' access mode.
    #[test]
    fn a_remainder_by_a_power_of_two_is_a_masked_field() {
        let c = r#"getEventData("flags") % 4 != 1"#;
        assert_eq!(at(c, "security_file_open"), kernel(&["args.flags%4!=1"]));
        let c = r#"0 == getEventData("flags") % 8"#;
        assert_eq!(at(c, "security_file_open"), kernel(&["args.flags%8=0"]));
    }

    /// `exists` over an array whose test is string matches of the entry is the array filter
    /// (one entry matching is enough).
    #[test]
    fn exists_of_string_tests_is_an_array_filter() {
        let c = r#"getEventData("env").exists(e, e.startsWith("LD_PRELOAD=") || e == "X=1")"#;
        assert_eq!(
            at(c, "sched_process_exec"),
            kernel(&["args.env=LD_PRELOAD=*,X=1"])
        );
    }

    #[test]
    fn event_name_guards_resolve_per_base_event() {
        let c = r#"eventName == "security_file_open" ? getEventData("pathname") == "/x" : true"#;
        assert_eq!(at(c, "security_file_open"), kernel(&["args.pathname=/x"]));
        assert_eq!(at(c, "security_inode_rename"), Place::Nowhere);
        let c = r#"eventName == "security_socket_connect""#;
        assert_eq!(at(c, "security_socket_connect"), Place::Nowhere);
        assert_eq!(at(c, "sched_process_exec"), Place::Never);
        let c = r#"eventName != "security_file_open" ? true : getEventData("flags") % 4 != 0"#;
        assert_eq!(at(c, "security_file_open"), kernel(&["args.flags%4!=0"]));
        assert_eq!(at(c, "sched_process_exec"), Place::Nowhere);
    }
}
