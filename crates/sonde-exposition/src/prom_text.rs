//! Parser of the Prometheus text format 0.0.4.
//!
//! In scrape mode it accepts and refuses exactly what Prometheus 2.42's
//! `PromParser` does (blank lines and `#` comments allowed, spaces or tabs
//! between fields, an optional trailing comma and even missing commas
//! between labels, a NUL byte at the start of a line or inside a `#x`
//! comment silently ends the body). Strict mode (`promtool check metrics`,
//! whose parser is `expfmt.TextParser`) additionally refuses missing commas,
//! unknown escape sequences, blanks before a metric name and NUL-truncated
//! bodies.
//!
//! Invariant: `next` clears and refills only the scratch's per-line vectors;
//! all spans it returns point into the body or the scratch.

use sonde_model::MetricType;

use crate::entry::{canonical, push_label, unescape_into, Scratch};
use crate::error::{quote, ParseError};
use crate::float::{parse_go_float, parse_go_int};
use crate::lexer::Tok;
use crate::prom_lexer::PromLexer;
use crate::raw::{Raw, RawSample, TextLoc};

pub(crate) struct PromText<'a> {
    b: &'a [u8],
    lx: PromLexer<'a>,
    strict: bool,
}

impl<'a> PromText<'a> {
    pub(crate) fn new(b: &'a [u8], strict: bool) -> Self {
        PromText {
            b,
            lx: PromLexer::new(b),
            strict,
        }
    }

    fn tok(&mut self) -> Tok {
        loop {
            let t = self.lx.lex();
            if t != Tok::Whitespace {
                return t;
            }
        }
    }

    fn err(&self, what: impl Into<String>, expected: &'static str) -> ParseError {
        ParseError::at(self.b, self.lx.start, what, expected)
    }

    /// The error for an unexpected token, naming it as Prometheus does.
    fn unexpected(&self, t: Tok, expected: &'static str) -> ParseError {
        let found = match t {
            Tok::Invalid | Tok::Eof => t.name().to_string(),
            _ => format!("{} {}", t.name(), quote(self.lx.token())),
        };
        self.err(format!("unexpected {found}"), expected)
    }

    fn end_of_input(&self) -> Result<Option<Raw<'a>>, ParseError> {
        if self.strict && self.lx.i < self.b.len() {
            return Err(self.err(
                "NUL byte ends the body early",
                "no NUL bytes outside label values and HELP text",
            ));
        }
        Ok(None)
    }

    pub(crate) fn next(&mut self, s: &mut Scratch) -> Result<Option<Raw<'a>>, ParseError> {
        loop {
            let line_start = self.lx.i;
            s.reset_line();
            let t = self.tok();
            return match t {
                Tok::Eof => self.end_of_input(),
                Tok::Linebreak => continue,
                Tok::Help | Tok::Type => self.metadata(t, s).map(Some),
                Tok::Comment => {
                    let text = (self.lx.start, self.lx.i.min(self.b.len()));
                    let t = self.tok();
                    if t != Tok::Linebreak {
                        return Err(self.unexpected(t, "a line break after a comment"));
                    }
                    Ok(Some(Raw::Comment(text)))
                }
                Tok::MName => self.sample(line_start, s).map(Some),
                _ => Err(self.unexpected(
                    t,
                    "a metric name, a comment, # HELP or # TYPE at the start of a line",
                )),
            };
        }
    }

    fn metadata(&mut self, kind: Tok, s: &mut Scratch) -> Result<Raw<'a>, ParseError> {
        let at = self.lx.start;
        let t = self.tok();
        if t != Tok::MName {
            return Err(self.unexpected(t, "a metric name after # HELP or # TYPE"));
        }
        let name = (self.lx.start, self.lx.i);
        let t = self.tok();
        if t != Tok::Text {
            return Err(self.unexpected(t, "text after the metric name"));
        }
        let tok = self.lx.token();
        let text = if tok.len() > 1 {
            (self.lx.start + 1, self.lx.start + tok.len())
        } else {
            (self.lx.start, self.lx.start)
        };
        let b: &'a [u8] = self.b;
        let raw = &b[text.0..text.1];
        let entry = if kind == Tok::Type {
            let metric_type = match raw {
                b"counter" => MetricType::Counter,
                b"gauge" => MetricType::Gauge,
                b"histogram" => MetricType::Histogram,
                b"summary" => MetricType::Summary,
                b"untyped" => MetricType::Unknown,
                _ => {
                    return Err(self.err(
                        format!("invalid metric type {}", quote(raw)),
                        "counter, gauge, histogram, summary or untyped",
                    ))
                }
            };
            Raw::Type {
                name,
                metric_type,
                at,
            }
        } else {
            let Ok(utf8) = std::str::from_utf8(raw) else {
                return Err(self.err("HELP text is not valid UTF-8", "UTF-8 text"));
            };
            Raw::Help {
                name,
                text: self.help_text(utf8, s)?,
                at,
            }
        };
        let t = self.tok();
        if t != Tok::Linebreak {
            return Err(self.unexpected(t, "a line break after metadata"));
        }
        Ok(entry)
    }

    fn help_text(&self, text: &'a str, s: &mut Scratch) -> Result<TextLoc<'a>, ParseError> {
        let raw = text.as_bytes();
        if !raw.contains(&b'\\') {
            return Ok(TextLoc::Body(text));
        }
        if self.strict {
            check_escapes(raw, b"\\n")
                .map_err(|e| self.err(e, "only \\\\ and \\n escapes in HELP"))?;
        }
        s.help.clear();
        unescape_into(raw, false, &mut s.help);
        Ok(TextLoc::Help((0, s.help.len())))
    }

    fn sample(&mut self, line_start: usize, s: &mut Scratch) -> Result<Raw<'a>, ParseError> {
        let name = (self.lx.start, self.lx.i);
        let leading_blank = name.0 != line_start;
        if leading_blank && self.strict {
            return Err(self.err(
                "blanks before the metric name",
                "the metric name at the start of the line",
            ));
        }
        let mut series = (name.0, name.1);
        let mut t = self.tok();
        if t == Tok::BraceOpen {
            self.labels(s)?;
            series.1 = self.lx.i;
            t = self.tok();
        }
        if t != Tok::Value {
            return Err(self.unexpected(t, "a value after the metric"));
        }
        let raw = self.lx.token();
        let value = parse_go_float(raw).ok_or_else(|| {
            self.err(
                format!("invalid value {}", quote(raw)),
                "a float such as 1, -2.5e3, NaN or +Inf",
            )
        })?;
        let (ts_ms, ts_raw) = match self.tok() {
            Tok::Linebreak => (None, None),
            Tok::Timestamp => {
                let raw = self.lx.token();
                let ts = parse_go_int(raw).ok_or_else(|| {
                    self.err(
                        format!("invalid timestamp {}", quote(raw)),
                        "an integer timestamp in milliseconds",
                    )
                })?;
                let t = self.tok();
                if t != Tok::Linebreak {
                    return Err(self.unexpected(t, "a line break after the timestamp"));
                }
                (Some(ts), Some(ts as f64))
            }
            t => return Err(self.unexpected(t, "a timestamp or a line break after the value")),
        };
        Ok(Raw::Sample(RawSample {
            name,
            series,
            value: canonical(value),
            ts_ms,
            ts_raw,
            exemplar: None,
            line_start,
            leading_blank,
        }))
    }

    /// After `{`: label pairs until `}`.
    fn labels(&mut self, s: &mut Scratch) -> Result<(), ParseError> {
        let mut t = self.tok();
        loop {
            match t {
                Tok::BraceClose => return Ok(()),
                Tok::LName => {}
                _ => return Err(self.unexpected(t, "a label name or '}'")),
            }
            let name = (self.lx.start, self.lx.i);
            let t2 = self.tok();
            if t2 != Tok::Equal {
                return Err(self.unexpected(t2, "'=' after the label name"));
            }
            let t2 = self.tok();
            if t2 != Tok::LValue {
                return Err(self.unexpected(t2, "a double-quoted label value"));
            }
            let value = (self.lx.start + 1, self.lx.i - 1);
            let raw = &self.b[value.0..value.1];
            if std::str::from_utf8(raw).is_err() {
                return Err(self.err("label value is not valid UTF-8", "UTF-8 label values"));
            }
            if self.strict {
                check_escapes(raw, b"\\\"n")
                    .map_err(|e| self.err(e, "only \\\\, \\\" and \\n escapes in label values"))?;
            }
            push_label(self.b, &mut s.labels, &mut s.unescaped, name, value);
            t = self.tok();
            if t == Tok::Comma {
                t = self.tok();
            } else if self.strict && t != Tok::BraceClose {
                return Err(self.unexpected(t, "',' or '}' after a label value"));
            }
        }
    }
}

/// Refuses a backslash followed by anything but the bytes in `allowed`.
pub(crate) fn check_escapes(raw: &[u8], allowed: &[u8]) -> Result<(), String> {
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'\\' {
            match raw.get(i + 1) {
                Some(c) if allowed.contains(c) => i += 2,
                Some(&c) => return Err(format!("invalid escape sequence \\{}", c as char)),
                None => return Err("backslash at the end of the text".into()),
            }
        } else {
            i += 1;
        }
    }
    Ok(())
}
