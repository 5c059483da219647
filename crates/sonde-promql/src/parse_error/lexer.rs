//! A lexer with the token kinds, positions and error texts of Prometheus
//! 2.42's PromQL lexer, used only to explain why a query does not parse.
//! It stops at the first error, which becomes an [`Tok::Error`] token at
//! the position Prometheus reports it.

/// A token kind, as Prometheus names it in "unexpected ..." messages.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident,
    MetricIdent,
    Number,
    Str,
    Duration,
    Keyword,
    Operator,
    Aggregator,
    /// `( ) { } [ ] , = : @` and the matching operators inside braces.
    Punct,
    Eof,
    /// A lexer error: its message.
    Error(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub text: String,
    /// Byte offset where Prometheus places it.
    pub pos: usize,
}

impl Token {
    /// How Prometheus' parser describes the token (`Item.desc`).
    pub fn desc(&self) -> String {
        let quoted = if self.text.chars().count() > 10 {
            format!(
                "{}...",
                go_quote(&self.text.chars().take(10).collect::<String>())
            )
        } else {
            go_quote(&self.text)
        };
        match &self.tok {
            Tok::Eof => "end of input".into(),
            Tok::Keyword => format!("<{}>", self.text),
            Tok::Operator => format!("<op:{}>", self.text),
            Tok::Aggregator => format!("<aggr:{}>", self.text),
            Tok::Punct => go_quote(&self.text),
            Tok::Ident => format!("identifier {quoted}"),
            Tok::MetricIdent => format!("metric identifier {quoted}"),
            Tok::Number => format!("number {quoted}"),
            Tok::Str => format!("string {quoted}"),
            Tok::Duration => format!("duration {quoted}"),
            Tok::Error(m) => m.clone(),
        }
    }
}

/// Go's `%q` for printable text.
fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` for one rune: `'0'`.
fn go_quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '\\' => "'\\\\'".into(),
        '\n' => "'\\n'".into(),
        c => format!("'{c}'"),
    }
}

const KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "offset",
    "bool",
];
const WORD_OPERATORS: &[&str] = &["and", "or", "unless", "atan2"];
const AGGREGATORS: &[&str] = &[
    "sum",
    "avg",
    "count",
    "min",
    "max",
    "group",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "count_values",
    "quantile",
];

pub(crate) fn lex(input: &str) -> Vec<Token> {
    let mut l = Lexer {
        s: input.as_bytes(),
        input,
        i: 0,
        out: Vec::new(),
        parens: 0,
    };
    l.run();
    l.out
}

struct Lexer<'a> {
    s: &'a [u8],
    input: &'a str,
    i: usize,
    out: Vec<Token>,
    parens: i64,
}

enum Mode {
    Normal,
    Braces,
    Brackets,
}

impl Lexer<'_> {
    fn push(&mut self, tok: Tok, start: usize) {
        let text = self.input[start..self.i].to_string();
        self.out.push(Token {
            tok,
            text,
            pos: start,
        });
    }

    fn error(&mut self, msg: String, pos: usize) {
        self.out.push(Token {
            tok: Tok::Error(msg),
            text: String::new(),
            pos,
        });
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn run(&mut self) {
        let mut mode = Mode::Normal;
        let mut bracket_colons = 0;
        let mut bracket_items = 0;
        loop {
            loop {
                while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    self.i += 1;
                }
                // A comment runs to the end of the line.
                if self.peek() == Some(b'#') && !matches!(mode, Mode::Braces) {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.i += 1;
                    }
                    continue;
                }
                break;
            }
            let start = self.i;
            let Some(c) = self.peek() else {
                match mode {
                    Mode::Braces => {
                        self.error("unexpected end of input inside braces".into(), start)
                    }
                    Mode::Brackets => self.error("unclosed left bracket".into(), start),
                    Mode::Normal if self.parens > 0 => {
                        self.error("unclosed left parenthesis".into(), start)
                    }
                    Mode::Normal => self.push(Tok::Eof, start),
                }
                return;
            };
            let ok = match mode {
                Mode::Braces => match c {
                    b'}' => {
                        self.i += 1;
                        self.push(Tok::Punct, start);
                        mode = Mode::Normal;
                        true
                    }
                    b',' | b'=' => {
                        self.i += 1;
                        if c == b'=' && self.peek() == Some(b'~') {
                            self.i += 1;
                        }
                        self.push(Tok::Punct, start);
                        true
                    }
                    b'!' => {
                        self.i += 1;
                        if matches!(self.peek(), Some(b'=') | Some(b'~')) {
                            self.i += 1;
                            self.push(Tok::Punct, start);
                            true
                        } else {
                            self.error(
                                "unexpected character after '!' inside braces: ".to_string()
                                    + &self.rune_at(self.i),
                                start,
                            );
                            false
                        }
                    }
                    b'"' | b'\'' | b'`' => self.string(c),
                    c if c.is_ascii_alphabetic() || c == b'_' => {
                        while self
                            .peek()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
                        {
                            self.i += 1;
                        }
                        self.push(Tok::Ident, start);
                        true
                    }
                    _ => {
                        let r = self.rune_at(start);
                        self.error(format!("unexpected character inside braces: {r}"), start);
                        false
                    }
                },
                Mode::Brackets => match c {
                    b']' => {
                        self.i += 1;
                        self.push(Tok::Punct, start);
                        mode = Mode::Normal;
                        true
                    }
                    b':' => {
                        if bracket_items == 0 {
                            self.error("missing unit character in duration".into(), start);
                            false
                        } else if bracket_colons > 0 {
                            self.error("unexpected colon ':'".into(), start);
                            false
                        } else {
                            bracket_colons += 1;
                            bracket_items += 1;
                            self.i += 1;
                            self.push(Tok::Punct, start);
                            true
                        }
                    }
                    c if c.is_ascii_digit() => {
                        bracket_items += 1;
                        self.number_or_duration(true)
                    }
                    _ => {
                        // Anything else ends the range in Prometheus' lexer
                        // and is lexed as a normal token.
                        bracket_items += 1;
                        self.normal(c, &mut mode)
                    }
                },
                Mode::Normal => {
                    let ok = self.normal(c, &mut mode);
                    if matches!(mode, Mode::Brackets) {
                        bracket_colons = 0;
                        bracket_items = 0;
                    }
                    ok
                }
            };
            if !ok {
                return;
            }
        }
    }

    fn rune_at(&self, i: usize) -> String {
        self.input[i..]
            .chars()
            .next()
            .map(go_quote_rune)
            .unwrap_or_default()
    }

    fn normal(&mut self, c: u8, mode: &mut Mode) -> bool {
        let start = self.i;
        match c {
            b'(' => {
                self.parens += 1;
                self.i += 1;
                self.push(Tok::Punct, start);
            }
            b')' => {
                self.i += 1;
                self.parens -= 1;
                if self.parens < 0 {
                    self.error("unexpected right parenthesis ')'".into(), self.i);
                    return false;
                }
                self.push(Tok::Punct, start);
            }
            b'}' => {
                self.error("unexpected character: '}'".into(), start);
                return false;
            }
            b']' => {
                self.error("unexpected right bracket ']'".into(), start);
                return false;
            }
            b'{' => {
                self.i += 1;
                self.push(Tok::Punct, start);
                *mode = Mode::Braces;
            }
            b'[' => {
                self.i += 1;
                self.push(Tok::Punct, start);
                *mode = Mode::Brackets;
            }
            b',' | b'@' | b':' => {
                self.i += 1;
                self.push(Tok::Punct, start);
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'^' => {
                self.i += 1;
                self.push(Tok::Operator, start);
            }
            b'=' | b'!' | b'<' | b'>' => {
                self.i += 1;
                if self.peek() == Some(b'=') {
                    self.i += 1;
                } else if c == b'!' {
                    self.error(
                        "unexpected character after '!': ".to_string() + &self.rune_at(self.i),
                        start,
                    );
                    return false;
                } else if c == b'=' && self.peek() == Some(b'~') {
                    self.i += 1;
                } else if c == b'=' {
                    self.push(Tok::Punct, start);
                    return true;
                }
                self.push(Tok::Operator, start);
            }
            b'"' | b'\'' | b'`' => return self.string(c),
            b'.' | b'0'..=b'9' => return self.number_or_duration(false),
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b':')
                {
                    self.i += 1;
                }
                let word = &self.input[start..self.i];
                let lower = word.to_ascii_lowercase();
                let tok = if word.contains(':') {
                    Tok::MetricIdent
                } else if lower == "inf" || lower == "nan" {
                    Tok::Number
                } else if KEYWORDS.contains(&lower.as_str()) {
                    Tok::Keyword
                } else if WORD_OPERATORS.contains(&lower.as_str()) {
                    Tok::Operator
                } else if AGGREGATORS.contains(&lower.as_str()) {
                    Tok::Aggregator
                } else {
                    Tok::Ident
                };
                self.push(tok, start);
            }
            _ => {
                let r = self.rune_at(start);
                self.error(format!("unexpected character: {r}"), start);
                return false;
            }
        }
        true
    }

    fn string(&mut self, quote: u8) -> bool {
        let start = self.i;
        self.i += 1;
        loop {
            let Some(c) = self.peek() else {
                let what = if quote == b'`' {
                    "raw string"
                } else {
                    "quoted string"
                };
                self.error(format!("unterminated {what}"), start);
                return false;
            };
            self.i += 1;
            if c == quote {
                break;
            }
            if c == b'\\' && quote != b'`' {
                if let Err(m) = self.escape(quote) {
                    self.error(m, start);
                    return false;
                }
            } else if c == b'\n' && quote != b'`' {
                self.error("unterminated quoted string".into(), start);
                return false;
            }
        }
        self.push(Tok::Str, start);
        true
    }

    /// Checks one escape sequence after a backslash, as Go's lexer does.
    fn escape(&mut self, quote: u8) -> Result<(), String> {
        let Some(c) = self.input[self.i..].chars().next() else {
            return Err("escape sequence not terminated".into());
        };
        self.i += c.len_utf8();
        let (digits, base) = match c {
            'a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\' => return Ok(()),
            c if c as u32 == u32::from(quote) => return Ok(()),
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            c => return Err(format!("unknown escape sequence U+{:04X} '{c}'", c as u32)),
        };
        for _ in 0..digits {
            let Some(d) = self.input[self.i..].chars().next() else {
                return Err("escape sequence not terminated".into());
            };
            if !d.is_digit(base) {
                return Err(format!(
                    "illegal character U+{:04X} '{d}' in escape sequence",
                    d as u32
                ));
            }
            self.i += d.len_utf8();
        }
        Ok(())
    }

    fn number_or_duration(&mut self, in_brackets: bool) -> bool {
        let start = self.i;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_')
        {
            // An exponent's sign belongs to the number.
            self.i += 1;
            if matches!(self.s.get(self.i - 1), Some(b'e') | Some(b'E'))
                && matches!(self.peek(), Some(b'+') | Some(b'-'))
                && !self.input[start..self.i].starts_with("0x")
            {
                self.i += 1;
            }
        }
        let word = &self.input[start..self.i];
        if is_duration(word) {
            self.push(Tok::Duration, start);
            return true;
        }
        if word.parse::<f64>().is_ok() || parse_hex(word) {
            if in_brackets {
                self.error("missing unit character in duration".into(), start);
                return false;
            }
            self.push(Tok::Number, start);
            return true;
        }
        // Prometheus reports the part up to the first character that is
        // neither a digit nor a unit.
        if word.as_bytes()[0].is_ascii_digit() && word.bytes().any(|b| b"smhdwy".contains(&b)) {
            let cut = word
                .find(|c: char| !(c.is_ascii_digit() || "smhdwy".contains(c)))
                .unwrap_or(word.len());
            self.error(
                format!("bad duration syntax: {}", go_quote(&word[..cut])),
                start,
            );
        } else {
            self.error(
                format!("bad number or duration syntax: {}", go_quote(word)),
                start,
            );
        }
        false
    }
}

fn parse_hex(w: &str) -> bool {
    w.strip_prefix("0x")
        .or_else(|| w.strip_prefix("0X"))
        .is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `1h30m`, `5m`, `100ms`: units in decreasing order, each once.
fn is_duration(w: &str) -> bool {
    const UNITS: [&str; 7] = ["y", "w", "d", "h", "m", "s", "ms"];
    let mut rest = w;
    let mut last = None::<usize>;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let n = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
        let unit = if rest.starts_with("ms") {
            6
        } else {
            match UNITS.iter().position(|u| rest.starts_with(u)) {
                Some(u) => u,
                None => return false,
            }
        };
        if last.is_some_and(|l| unit <= l) {
            return false;
        }
        last = Some(unit);
        rest = &rest[UNITS[unit].len()..];
    }
    true
}
