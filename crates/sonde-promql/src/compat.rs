//! Where the parser's grammar (which follows Prometheus 3.x) and PromQL
//! 2.42's differ: a rewrite for syntax 2.42 accepts but the parser does not
//! (`x @ t[5m]`), and a check for syntax the parser accepts but 2.42 does
//! not (durations without a unit, quoted metric names in braces).

use std::sync::OnceLock;

use promql_parser::parser::Expr;
use regex::Regex;

/// `@ <time>` written between a selector and its range (`x @ 100[5m]`,
/// `x @ start()[1m:10s]`), which means the same as after the range.
fn at_before_range() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"^@\s*(start\s*\(\s*\)|end\s*\(\s*\)|[-+]?(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|[Ii]nf|[Nn]a[Nn]))\s*(\[[^\]\[]*\])",
        )
        .expect("BUG: constant regex does not compile")
    })
}

/// Moves every `@ <time>` that stands right before a range or subquery
/// bracket to after it. Strings and comments are left alone. `None` when
/// there was nothing to move.
pub(crate) fn at_after_range(q: &str) -> Option<String> {
    let mut out = String::with_capacity(q.len());
    let mut moved = false;
    let mut rest = q;
    while let Some(c) = rest.chars().next() {
        match c {
            '"' | '\'' | '`' => {
                let end = string_end(rest, c);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
            '#' => {
                let end = rest.find('\n').unwrap_or(rest.len());
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
            '@' => match at_before_range().captures(rest) {
                Some(caps) => {
                    let (whole, at, range) = (&caps[0], &caps[1], &caps[2]);
                    out.truncate(out.trim_end().len());
                    out.push_str(range);
                    out.push_str(" @ ");
                    out.push_str(at);
                    rest = &rest[whole.len()..];
                    moved = true;
                }
                None => {
                    out.push('@');
                    rest = &rest[1..];
                }
            },
            c => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    moved.then_some(out)
}

/// Rejects 3.x syntax the parser accepts but 2.42 does not, with 2.42's
/// wording: a duration without a unit (`x[300]`, `offset 60`) and a quoted
/// name in braces (`{"metric"}`, `{"a.b"="c"}`).
pub(crate) fn check_242_syntax(q: &str) -> Result<(), String> {
    let mut rest = q;
    let mut pos = 0;
    // Whether the last significant character opens a spot where 2.42 wants
    // a label name (`{` or `,` inside braces).
    let mut in_braces = false;
    let mut expect_label = false;
    let mut expect_duration = false;
    while let Some(c) = rest.chars().next() {
        let len = match c {
            '"' | '\'' | '`' => {
                if expect_label {
                    let end = string_end(rest, c);
                    return Err(format!(
                        "{}: parse error: unexpected string {:?} in label matching, expected label",
                        position(q, pos),
                        &rest[..end]
                    ));
                }
                string_end(rest, c)
            }
            '#' => rest.find('\n').unwrap_or(rest.len()),
            c if c.is_whitespace() => c.len_utf8(),
            c => {
                if expect_duration && c.is_ascii_digit() {
                    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
                    let unit = rest[digits..].starts_with(|u: char| u.is_ascii_alphabetic());
                    if !unit {
                        return Err(format!(
                            "{}: parse error: missing unit character in duration",
                            position(q, pos + digits)
                        ));
                    }
                }
                let was_expecting = expect_duration;
                expect_label = false;
                expect_duration = false;
                match c {
                    '{' => {
                        in_braces = true;
                        expect_label = true;
                    }
                    '}' => in_braces = false,
                    ',' if in_braces => expect_label = true,
                    '[' | ':' => expect_duration = true,
                    '-' => expect_duration = was_expecting, // `offset -5m`
                    _ => {}
                }
                if !in_braces && starts_with_word(rest, "offset") {
                    expect_duration = true;
                    "offset".len()
                } else if c.is_ascii_alphanumeric() || c == '_' {
                    rest.find(|x: char| !(x.is_ascii_alphanumeric() || x == '_' || x == '.'))
                        .unwrap_or(rest.len())
                } else {
                    c.len_utf8()
                }
            }
        };
        rest = &rest[len..];
        pos += len;
    }
    Ok(())
}

fn starts_with_word(s: &str, word: &str) -> bool {
    s.len() >= word.len()
        && s[..word.len()].eq_ignore_ascii_case(word)
        && !s[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
}

/// `line:column` of a byte offset, as Prometheus prints positions.
fn position(q: &str, pos: usize) -> String {
    let before = &q[..pos.min(q.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("{line}:{col}")
}

/// Functions whose result changes with the evaluation time even when
/// their arguments do not (Prometheus 2.42's `AtModifierUnsafeFunctions`).
const TIME_DEPENDENT_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

/// Whether 2.42 treats `e` as step invariant (the same at every step of a
/// range query): literals, and selectors and subqueries pinned with `@`,
/// combined by anything but a time-dependent function. An aggregation's
/// parameter is not looked at, as in 2.42.
pub(crate) fn is_step_invariant(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(ms) => ms.vs.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some(),
        Expr::Paren(p) => is_step_invariant(&p.expr),
        Expr::Unary(u) => is_step_invariant(&u.expr),
        Expr::Binary(b) => is_step_invariant(&b.lhs) && is_step_invariant(&b.rhs),
        Expr::Aggregate(a) => is_step_invariant(&a.expr),
        Expr::Call(c) => {
            !TIME_DEPENDENT_FUNCTIONS.contains(&c.func.name)
                && c.args.args.iter().all(|a| is_step_invariant(a))
        }
        Expr::Extension(_) => false,
    }
}

/// The byte length of the string literal at the start of `s` (to the end
/// of `s` when unterminated).
fn string_end(s: &str, quote: char) -> usize {
    let mut escaped = false;
    for (i, c) in s.char_indices().skip(1) {
        if escaped {
            escaped = false;
        } else if c == '\\' && quote != '`' {
            escaped = true;
        } else if c == quote {
            return i + 1;
        }
    }
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_newer_syntax_only() {
        for ok in [
            "rate(x[5m])",
            "x[1h30m:1m]",
            "x offset -5m",
            "x{a=\"[300]\", b=\"{\\\"q\\\"}\"}",
            "sum by (offset) (x)",
            "x # [300] {\"a\"}",
            "x[5m:]",
            "1 - 2",
            "x{offset=\"1\"}",
        ] {
            assert_eq!(check_242_syntax(ok), Ok(()), "{ok}");
        }
        assert_eq!(
            check_242_syntax("rate(x[300])"),
            Err("1:11: parse error: missing unit character in duration".into())
        );
        assert!(check_242_syntax("x offset 60").is_err());
        assert!(check_242_syntax("x offset -60").is_err());
        assert!(check_242_syntax("x[5m:30]").is_err());
        assert!(check_242_syntax("{\"x\"}").is_err());
        assert!(check_242_syntax("x{a=\"1\", \"b.c\"=\"2\"}").is_err());
    }

    #[test]
    fn moves_at_behind_the_range() {
        assert_eq!(
            at_after_range("rate(x @ start()[5m])").as_deref(),
            Some("rate(x[5m] @ start())")
        );
        assert_eq!(
            at_after_range("x{a=\"@ 1[\"} @ 100 [1m:10s]").as_deref(),
            Some("x{a=\"@ 1[\"}[1m:10s] @ 100")
        );
        assert_eq!(
            at_after_range("x @ 1.5e3[5m] + y @ end()[1m]").as_deref(),
            Some("x[5m] @ 1.5e3 + y[1m] @ end()")
        );
        assert_eq!(at_after_range("x @ 100"), None);
        assert_eq!(at_after_range("x[5m] @ 100"), None);
    }
}
