//! Query-text rewrites for syntax PromQL 2.42 accepts but the parser does
//! not. Only used after the parser has refused the original text.

use std::sync::OnceLock;

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
