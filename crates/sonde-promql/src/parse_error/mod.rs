//! Parse errors worded and placed as Prometheus 2.42 words and places
//! them: `1:8: parse error: unexpected <op:*>`. The `promql-parser` crate
//! says only "invalid promql query" for syntax errors and gives no
//! position, so a query it refuses is read again here by a small
//! recursive-descent checker over a Prometheus-like [`lexer`], which finds
//! the first token Prometheus' grammar would refuse. Errors of types and
//! argument counts (found after parsing) keep the parser's text, reworded
//! to Prometheus' terms, at the position of the node Prometheus names.
//!
//! This module only explains failures; it never decides whether a query
//! is valid.

mod lexer;

use lexer::{Tok, Token};

/// `line:col: parse error: message` for `query`, which the parser refused
/// with `parser_msg`.
pub(crate) fn explain(query: &str, parser_msg: &str) -> String {
    let (pos, msg) = match syntax_error(query) {
        Some(e) => e,
        None => semantic(query, parser_msg),
    };
    format!("{}: parse error: {msg}", position(query, pos))
}

/// Prometheus 2.42's syntax error for a query the parser accepted, if its
/// grammar refuses it.
pub(crate) fn refused_by_242(query: &str) -> Option<String> {
    let (pos, msg) = syntax_error(query)?;
    Some(format!("{}: parse error: {msg}", position(query, pos)))
}

/// Prometheus 2.42's error for a series selector (`match[]`), if its
/// metric-selector grammar (a metric name, label matchers in braces, or
/// both, and nothing else) refuses `selector`.
pub(crate) fn selector_refused(selector: &str) -> Option<String> {
    let mut p = Checker {
        toks: lexer::lex(selector),
        i: 0,
    };
    let (pos, msg) = p.metric_selector().err()?;
    Some(format!("{}: parse error: {msg}", position(selector, pos)))
}

/// `selector` with its metric name moved into the braces, where the name
/// is a PromQL keyword (`sum{job="a"}`): Prometheus' selector grammar
/// takes keywords as metric names, a PromQL expression parser does not.
pub(crate) fn keyword_name_in_braces(selector: &str) -> Option<String> {
    let toks = lexer::lex(selector);
    let (name, next) = (toks.first()?, toks.get(1)?);
    let is_word = name
        .text
        .bytes()
        .all(|b| b.is_ascii_alphabetic() || b == b'_');
    if !matches!(name.tok, Tok::Keyword | Tok::Aggregator | Tok::Operator) || !is_word {
        return None;
    }
    let inside = match next.tok {
        Tok::Eof => "}",
        Tok::Punct if next.text == "{" => &selector[next.pos + 1..],
        _ => return None,
    };
    Some(format!("{{__name__=\"{}\",{inside}", name.text))
}

/// A message of a check made after parsing (`parse error: ...`), placed
/// like the parser's own.
pub(crate) fn locate(query: &str, msg: &str) -> String {
    let (pos, msg) = semantic(query, msg);
    format!("{}: parse error: {msg}", position(query, pos))
}

/// Prometheus' `line:col` of a byte offset (columns count bytes, from 1).
fn position(query: &str, pos: usize) -> String {
    let pos = pos.min(query.len());
    let before = &query.as_bytes()[..pos];
    let line = 1 + before.iter().filter(|b| **b == b'\n').count();
    let col = match before.iter().rposition(|b| *b == b'\n') {
        Some(nl) => pos - nl,
        None => pos + 1,
    };
    format!("{line}:{col}")
}

/// The first syntax error, as `(offset, message)`.
fn syntax_error(query: &str) -> Option<(usize, String)> {
    let toks = lexer::lex(query);
    if toks.first().is_some_and(|t| t.tok == Tok::Eof) {
        return Some((0, "no expression found in input".into()));
    }
    let mut p = Checker { toks, i: 0 };
    p.expr().and_then(|_| p.end()).err()
}

type Res = Result<(), (usize, String)>;

struct Checker {
    toks: Vec<Token>,
    i: usize,
}

impl Checker {
    fn peek(&self) -> &Token {
        // The lexer always ends with Eof or Error.
        &self.toks[self.i.min(self.toks.len() - 1)]
    }

    fn is(&self, tok: Tok, text: &str) -> bool {
        let t = self.peek();
        t.tok == tok && t.text.eq_ignore_ascii_case(text)
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        self.i += 1;
        t
    }

    /// "unexpected X[ in context][, expected what]" at the next token; a
    /// lexer error there is reported instead.
    fn unexpected(&self, context: &str, expected: &str) -> Res {
        let t = self.peek();
        if let Tok::Error(m) = &t.tok {
            return Err((t.pos, m.clone()));
        }
        let mut msg = format!("unexpected {}", t.desc());
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        Err((t.pos, msg))
    }

    fn end(&mut self) -> Res {
        if self.peek().tok == Tok::Eof {
            Ok(())
        } else {
            self.unexpected("", "")
        }
    }

    /// A metric name (keywords and word operators included, as in
    /// Prometheus' `metric_identifier`), then optional matchers; or matchers
    /// alone.
    fn metric_selector(&mut self) -> Res {
        let t = self.peek().clone();
        let is_word = t.text.bytes().all(|b| b.is_ascii_alphabetic() || b == b'_');
        match t.tok {
            Tok::Ident | Tok::MetricIdent | Tok::Keyword | Tok::Aggregator => self.bump(),
            Tok::Operator if is_word => self.bump(),
            Tok::Punct if t.text == "{" => return self.matchers().and_then(|_| self.end()),
            _ => return self.unexpected("", ""),
        };
        if self.is(Tok::Punct, "{") {
            self.matchers()?;
        }
        self.end()
    }

    fn expr(&mut self) -> Res {
        self.unary()?;
        while matches!(self.peek().tok, Tok::Operator) {
            self.bump();
            if self.is(Tok::Keyword, "bool") {
                self.bump();
            }
            if self.is(Tok::Keyword, "on") || self.is(Tok::Keyword, "ignoring") {
                self.bump();
                self.label_list("grouping opts")?;
                if self.is(Tok::Keyword, "group_left") || self.is(Tok::Keyword, "group_right") {
                    self.bump();
                    if self.is(Tok::Punct, "(") {
                        self.label_list("grouping opts")?;
                    }
                }
            }
            self.unary()?;
        }
        Ok(())
    }

    fn unary(&mut self) -> Res {
        if self.is(Tok::Operator, "+") || self.is(Tok::Operator, "-") {
            self.bump();
            return self.unary();
        }
        self.primary()?;
        self.postfix()
    }

    fn primary(&mut self) -> Res {
        let t = self.peek().clone();
        match t.tok {
            Tok::Number | Tok::Str => {
                self.bump();
                Ok(())
            }
            Tok::Punct if t.text == "(" => {
                self.bump();
                self.expr()?;
                if self.is(Tok::Punct, ")") {
                    self.bump();
                    Ok(())
                } else {
                    self.unexpected("", "")
                }
            }
            Tok::Punct if t.text == "{" => self.matchers(),
            Tok::Aggregator => self.aggregation(),
            Tok::Ident | Tok::MetricIdent => {
                self.bump();
                if self.is(Tok::Punct, "(") && t.tok == Tok::Ident {
                    self.call_args("")
                } else if self.is(Tok::Punct, "{") {
                    self.matchers()
                } else {
                    Ok(())
                }
            }
            _ => self.unexpected("", ""),
        }
    }

    fn call_args(&mut self, context: &str) -> Res {
        self.bump(); // (
        if self.is(Tok::Punct, ")") {
            self.bump();
            return Ok(());
        }
        loop {
            self.expr()?;
            if self.is(Tok::Punct, ",") {
                self.bump();
                continue;
            }
            if self.is(Tok::Punct, ")") {
                self.bump();
                return Ok(());
            }
            return self.unexpected(context, "");
        }
    }

    fn aggregation(&mut self) -> Res {
        self.bump();
        let grouped = self.grouping()?;
        if !self.is(Tok::Punct, "(") {
            return self.unexpected("aggregation", "");
        }
        self.call_args("")?;
        if !grouped {
            self.grouping()?;
        }
        Ok(())
    }

    fn grouping(&mut self) -> Result<bool, (usize, String)> {
        if self.is(Tok::Keyword, "by") || self.is(Tok::Keyword, "without") {
            self.bump();
            self.label_list("grouping opts")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn label_list(&mut self, context: &str) -> Res {
        if !self.is(Tok::Punct, "(") {
            return self.unexpected(context, "\"(\"");
        }
        self.bump();
        loop {
            let t = self.peek().clone();
            match t.tok {
                Tok::Punct if t.text == ")" => {
                    self.bump();
                    return Ok(());
                }
                Tok::Ident | Tok::Keyword | Tok::Aggregator | Tok::Operator
                    if t.text
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    self.bump();
                    if self.is(Tok::Punct, ",") {
                        self.bump();
                    } else if !self.is(Tok::Punct, ")") {
                        return self.unexpected(context, "\",\" or \")\"");
                    }
                }
                _ => return self.unexpected(context, "label"),
            }
        }
    }

    fn matchers(&mut self) -> Res {
        self.bump(); // {
        loop {
            if self.is(Tok::Punct, "}") {
                self.bump();
                return Ok(());
            }
            if self.peek().tok != Tok::Ident {
                return self.unexpected("label matching", "identifier or \"}\"");
            }
            self.bump();
            if !["=", "!=", "=~", "!~"]
                .iter()
                .any(|op| self.is(Tok::Punct, op))
            {
                return self.unexpected("label matching", "label matching operator");
            }
            self.bump();
            if self.peek().tok != Tok::Str {
                return self.unexpected("label matching", "string");
            }
            self.bump();
            if self.is(Tok::Punct, ",") {
                self.bump();
            } else if !self.is(Tok::Punct, "}") {
                return self.unexpected("label matching", "\",\" or \"}\"");
            }
        }
    }

    fn postfix(&mut self) -> Res {
        loop {
            if self.is(Tok::Punct, "[") {
                self.bump();
                if self.peek().tok != Tok::Duration {
                    return self.unexpected("subquery or range", "");
                }
                self.bump();
                if self.is(Tok::Punct, ":") {
                    self.bump();
                    if self.peek().tok == Tok::Duration {
                        self.bump();
                    }
                }
                if !self.is(Tok::Punct, "]") {
                    return self.unexpected("subquery or range", "\":\" or \"]\"");
                }
                self.bump();
            } else if self.is(Tok::Keyword, "offset") {
                self.bump();
                if self.is(Tok::Operator, "-") {
                    self.bump();
                }
                if self.peek().tok != Tok::Duration {
                    return self.unexpected("offset", "duration");
                }
                self.bump();
            } else if self.is(Tok::Punct, "@") {
                self.bump();
                let t = self.peek().clone();
                if t.tok == Tok::Ident && (t.text == "start" || t.text == "end") {
                    self.bump();
                    for want in ["(", ")"] {
                        if !self.is(Tok::Punct, want) {
                            return self.unexpected("@", "timestamp");
                        }
                        self.bump();
                    }
                } else if t.tok == Tok::Number {
                    self.bump();
                } else if self.is(Tok::Operator, "-") || self.is(Tok::Operator, "+") {
                    self.bump();
                    if self.peek().tok != Tok::Number {
                        return self.unexpected("@", "timestamp");
                    }
                    self.bump();
                } else {
                    return self.unexpected("@", "timestamp");
                }
            } else {
                return Ok(());
            }
        }
    }
}

/// Errors found after parsing: the parser's text in Prometheus' words, at
/// the node Prometheus reports.
fn semantic(query: &str, msg: &str) -> (usize, String) {
    let toks = lexer::lex(query);
    let first = toks.first().map_or(0, |t| t.pos);
    let msg = msg.trim_start_matches("parse error: ");
    let name_in = |m: &str| -> Option<String> {
        let a = m.find('\'')?;
        let b = m[a + 1..].find('\'')?;
        Some(m[a + 1..a + 1 + b].to_string())
    };
    let words = |m: &str| {
        m.replace("type matrix", "type range vector")
            .replace("type vector", "type instant vector")
            .replace("got matrix", "got range vector")
            .replace("got vector", "got instant vector")
            .replace(", got: string", ", got \"string\"")
            .replace("type scalar or vector", "type scalar or instant vector")
            .replace(
                "an vector selector or matrix selector",
                "an instant vector selector or range vector selector",
            )
            .replace("in aggregation expression", "in aggregation parameter")
            .replace('\'', "\"")
    };
    let calls = calls(&toks);
    let got = msg
        .rsplit("got ")
        .next()
        .unwrap_or("")
        .trim_matches(['\'', '"', ':', ' ']);
    let got = match got {
        "matrix" => "range vector",
        "vector" => "instant vector",
        other => other,
    };
    // The argument Prometheus blames: the first of the call whose type is
    // the one the message says it got.
    let blamed_arg = |c: &Call| {
        c.args
            .iter()
            .find(|a| rough_type(&toks[a.0..a.1]) == got)
            .or(c.args.first())
            .map(|a| toks[a.0].pos)
    };
    let want = msg
        .split("expected type ")
        .nth(1)
        .and_then(|r| r.split(" in ").next())
        .map(|t| match t {
            "matrix" => "range vector",
            "vector" => "instant vector",
            other => other,
        })
        .unwrap_or("");
    let pos = if msg.contains("in call to function") {
        let f = name_in(msg).unwrap_or_default();
        // The argument of the type the message got; when several are, a
        // scalar or string is wanted of a later one (the first argument of
        // a function taking more is its vector).
        calls
            .iter()
            .filter(|c| toks[c.name].text == f)
            .find_map(|c| {
                let hits: Vec<&(usize, usize)> = c
                    .args
                    .iter()
                    .filter(|a| rough_type(&toks[a.0..a.1]) == got)
                    .collect();
                let skip_first = hits.len() > 1 && (want == "scalar" || want == "string");
                hits.into_iter()
                    .find(|a| !(skip_first && a.0 == c.args[0].0))
                    .map(|a| toks[a.0].pos)
            })
            .or_else(|| {
                calls
                    .iter()
                    .find(|c| toks[c.name].text == f)
                    .and_then(blamed_arg)
            })
            .unwrap_or(first)
    } else if msg.contains("argument(s) in call to") {
        let f = name_in(msg).unwrap_or_default();
        calls
            .iter()
            .find(|c| toks[c.name].text == f)
            .map_or(first, |c| toks[c.name].pos)
    } else if msg.contains("in aggregation expression") {
        let aggs = || calls.iter().filter(|c| toks[c.name].tok == Tok::Aggregator);
        aggs()
            .find_map(|c| {
                c.args
                    .first()
                    .filter(|a| rough_type(&toks[a.0..a.1]) == got)
                    .map(|a| toks[a.0].pos)
            })
            .or_else(|| {
                aggs()
                    .next()
                    .and_then(|c| c.args.first())
                    .map(|a| toks[a.0].pos)
            })
            .unwrap_or(first)
    } else if msg.contains("wrong number of arguments for aggregate") {
        calls
            .iter()
            .find(|c| toks[c.name].tok == Tok::Aggregator)
            .map_or(first, |c| toks[c.name].pos)
    } else if msg.contains("comparisons between scalars") {
        toks.iter()
            .find(|t| {
                t.tok == Tok::Operator
                    && ["==", "!=", "<", "<=", ">", ">="].contains(&t.text.as_str())
            })
            .map_or(first, |t| t.pos)
    } else if msg.contains("set operator") {
        // The innermost argument holding the operator.
        let op = toks.iter().position(|t| {
            t.tok == Tok::Operator
                && ["and", "or", "unless"].contains(&t.text.to_ascii_lowercase().as_str())
        });
        op.and_then(|op| {
            calls
                .iter()
                .flat_map(|c| c.args.iter())
                .filter(|a| a.0 <= op && op < a.1)
                .min_by_key(|a| a.1 - a.0)
                .map(|a| toks[a.0].pos)
        })
        .unwrap_or(first)
    } else if msg.contains("may not be set multiple times") {
        let kw = if msg.starts_with("offset") {
            "offset"
        } else {
            "@"
        };
        toks.iter()
            .position(|t| t.text == kw)
            .map_or(first, |i| toks[selector_start(&toks, i)].pos)
    } else if msg.contains("unary expression") {
        toks.windows(2)
            .find(|w| w[0].tok == Tok::Operator && w[1].tok == Tok::Str)
            .map_or(first, |w| w[0].pos)
    } else if msg.contains("ranges only allowed") || msg.contains("modifiers allowed before range")
    {
        toks.windows(2)
            .find(|w| {
                w[1].text == "["
                    && !matches!(w[0].tok, Tok::Ident | Tok::MetricIdent)
                    && w[0].text != "}"
            })
            .map_or(first, |w| w[1].pos)
    } else {
        first
    };
    (pos, words(msg))
}

/// The first token of the selector a modifier at `i` belongs to.
fn selector_start(toks: &[Token], i: usize) -> usize {
    let mut j = i;
    while j > 0 {
        let t = &toks[j - 1];
        match t.text.as_str() {
            "]" | "}" => {
                let open = if t.text == "]" { "[" } else { "{" };
                match toks[..j - 1].iter().rposition(|x| x.text == open) {
                    Some(o) => j = o,
                    None => return 0,
                }
            }
            _ if matches!(t.tok, Tok::Ident | Tok::MetricIdent) => return j - 1,
            _ => return j,
        }
    }
    j
}

/// A function call or aggregation: its name token and its arguments as
/// token ranges.
struct Call {
    name: usize,
    args: Vec<(usize, usize)>,
}

fn calls(toks: &[Token]) -> Vec<Call> {
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if !matches!(t.tok, Tok::Ident | Tok::Aggregator) {
            continue;
        }
        let mut open = i + 1;
        // `sum by (a) (x)`: the arguments follow the grouping.
        if t.tok == Tok::Aggregator && toks.get(open).is_some_and(|n| n.tok == Tok::Keyword) {
            open = close_of(toks, open + 1).map_or(open, |c| c + 1);
        }
        if toks.get(open).is_none_or(|n| n.text != "(") {
            continue;
        }
        let Some(close) = close_of(toks, open) else {
            continue;
        };
        let mut args = Vec::new();
        let (mut depth, mut start) = (0, open + 1);
        for (j, a) in toks.iter().enumerate().take(close).skip(open + 1) {
            match a.text.as_str() {
                "(" | "[" | "{" => depth += 1,
                ")" | "]" | "}" => depth -= 1,
                "," if depth == 0 && a.tok == Tok::Punct => {
                    args.push((start, j));
                    start = j + 1;
                }
                _ => {}
            }
        }
        if start < close {
            args.push((start, close));
        }
        out.push(Call { name: i, args });
    }
    out
}

/// The index of the `)` closing the `(` at `open`.
fn close_of(toks: &[Token], open: usize) -> Option<usize> {
    let mut depth = 0;
    for (j, t) in toks.iter().enumerate().skip(open) {
        match (t.tok.clone(), t.text.as_str()) {
            (Tok::Punct, "(") => depth += 1,
            (Tok::Punct, ")") => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
    }
    None
}

/// The type of an argument as far as its tokens tell, in Prometheus' words.
fn rough_type(arg: &[Token]) -> &'static str {
    let lits: Vec<&Token> = arg
        .iter()
        .filter(|t| !(t.tok == Tok::Operator && (t.text == "-" || t.text == "+")))
        .collect();
    match lits.as_slice() {
        [t] if t.tok == Tok::Str => "string",
        [t] if t.tok == Tok::Number => "scalar",
        _ if arg.last().is_some_and(|t| t.text == "]") => "range vector",
        _ => "instant vector",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_lines_and_bytes() {
        assert_eq!(position("abc", 0), "1:1");
        assert_eq!(position("abc", 3), "1:4");
        assert_eq!(position("a\nbc", 3), "2:2");
    }

    #[test]
    fn any_input_is_explained_without_panicking() {
        let pieces = [
            "sum", "(", ")", "{", "}", "[", "]", "5m", ":", ",", "\"", "'", "`", "\\", "é", "#",
            "\n", " ", "offset", "@", "-", "by", "and", "==", "foo", "=~", "!", "1e", "0x", "ü\"",
        ];
        let mut state = 7u64;
        for _ in 0..20_000 {
            let mut q = String::new();
            for _ in 0..(state % 9) {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                q.push_str(pieces[(state >> 33) as usize % pieces.len()]);
            }
            let e = explain(&q, "invalid promql query");
            assert!(e.contains(": parse error: "), "{q:?}: {e}");
            let _ = locate(
                &q,
                "parse error: expected type scalar in call to function 'x', got vector",
            );
        }
    }

    #[test]
    fn syntax_errors_name_the_token() {
        let e = |q: &str| explain(q, "invalid promql query");
        assert_eq!(e("1 * * 2"), "1:5: parse error: unexpected <op:*>");
        assert_eq!(e("sum("), "1:5: parse error: unclosed left parenthesis");
        assert_eq!(
            e("foo bar"),
            "1:5: parse error: unexpected identifier \"bar\""
        );
        assert_eq!(
            e("sum(foo) by"),
            "1:12: parse error: unexpected end of input in grouping opts, expected \"(\""
        );
    }
}
