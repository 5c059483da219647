//! Parser of the OpenMetrics 1.0 text format, line syntax only (the
//! cross-line rules of strict mode live in [`crate::strict`]).
//!
//! In scrape mode it accepts and refuses exactly what Prometheus 2.42's
//! `OpenMetricsParser` does: single spaces between fields, no blank lines,
//! no comments other than HELP/TYPE/UNIT, a mandatory final `# EOF` (with
//! or without a newline) and nothing after it, timestamps in (float)
//! seconds, exemplars only after names ending in `_total` or `_bucket`.
//! Strict mode adds the exemplar label-set limit of 128 code points.
//!
//! Invariant: as for [`crate::prom_text`], spans point into the body or the
//! scratch, which is cleared per line.

use sonde_model::MetricType;

use crate::entry::{canonical, push_label, unescape_into, LabelSpan, Scratch};
use crate::error::{quote, ParseError};
use crate::float::{parse_go_float, seconds_to_millis};
use crate::lexer::Tok;
use crate::om_lexer::OmLexer;
use crate::raw::{Raw, RawExemplar, RawSample, TextLoc};

/// The OpenMetrics limit on an exemplar's label set (names and values),
/// in Unicode code points.
pub const EXEMPLAR_MAX_LABEL_CHARS: usize = 128;

pub(crate) struct OpenMetrics<'a> {
    b: &'a [u8],
    lx: OmLexer<'a>,
    strict: bool,
}

impl<'a> OpenMetrics<'a> {
    pub(crate) fn new(b: &'a [u8], strict: bool) -> Self {
        OpenMetrics {
            b,
            lx: OmLexer::new(b),
            strict,
        }
    }

    fn err(&self, what: impl Into<String>, expected: &'static str) -> ParseError {
        ParseError::at(self.b, self.lx.start, what, expected)
    }

    fn unexpected(&self, t: Tok, expected: &'static str) -> ParseError {
        let found = match t {
            Tok::Invalid => format!("INVALID at {}", quote(&[self.lx.cur()])),
            Tok::Eof => "end of body".to_string(),
            _ => format!("{} {}", t.name(), quote(self.lx.token())),
        };
        self.err(format!("unexpected {found}"), expected)
    }

    fn no_eof(&self) -> ParseError {
        ParseError::at(
            self.b,
            self.lx.i,
            "data does not end with # EOF",
            "a final line \"# EOF\"",
        )
    }

    pub(crate) fn next(&mut self, s: &mut Scratch) -> Result<Option<Raw<'a>>, ParseError> {
        let line_start = self.lx.i;
        s.reset_line();
        match self.lx.lex() {
            Tok::EofWord => {
                if self.lx.lex() != Tok::Eof {
                    return Err(self.err("unexpected data after # EOF", "nothing after the \"# EOF\" line"));
                }
                Ok(None)
            }
            Tok::Eof => Err(self.no_eof()),
            t @ (Tok::Help | Tok::Type | Tok::Unit) => self.metadata(t, s).map(Some),
            Tok::MName => self.sample(line_start, s).map(Some),
            t => Err(self.unexpected(
                t,
                "a metric name, \"# HELP\", \"# TYPE\", \"# UNIT\" or \"# EOF\" at the start of a line",
            )),
        }
    }

    fn metadata(&mut self, kind: Tok, s: &mut Scratch) -> Result<Raw<'a>, ParseError> {
        let at = self.lx.start;
        let t = self.lx.lex();
        if t != Tok::MName {
            return Err(self.unexpected(t, "a metric name after HELP, TYPE or UNIT"));
        }
        let name = (self.lx.start, self.lx.i);
        if self.lx.lex() != Tok::Text {
            return Err(self.err(
                format!("expected text in {}", kind.name()),
                "a space and text after the metric name",
            ));
        }
        // The token is " text\n" (at least " \n").
        let text = (
            self.lx.start + 1,
            self.lx.start + self.lx.token().len().max(1) - 1,
        );
        let text = (text.0.min(text.1), text.1);
        let b: &'a [u8] = self.b;
        let raw = &b[text.0..text.1];
        match kind {
            Tok::Type => {
                let metric_type = om_type(raw).ok_or_else(|| {
                    self.err(
                        format!("invalid metric type {}", quote(raw)),
                        "counter, gauge, histogram, gaugehistogram, summary, info, stateset or unknown",
                    )
                })?;
                Ok(Raw::Type {
                    name,
                    metric_type,
                    at,
                })
            }
            Tok::Help => {
                let Ok(utf8) = std::str::from_utf8(raw) else {
                    return Err(self.err("HELP text is not valid UTF-8", "UTF-8 text"));
                };
                let text = if raw.contains(&b'\\') {
                    s.help.clear();
                    unescape_into(raw, true, &mut s.help);
                    TextLoc::Help((0, s.help.len()))
                } else {
                    TextLoc::Body(utf8)
                };
                Ok(Raw::Help { name, text, at })
            }
            _ => {
                let m = &self.b[name.0..name.1];
                if !raw.is_empty() && !is_unit_suffix(m, raw) {
                    return Err(self.err(
                        format!("unit {} is not a suffix of metric {}", quote(raw), quote(m)),
                        "a UNIT that the metric name ends with, after '_'",
                    ));
                }
                Ok(Raw::Unit {
                    name,
                    unit: text,
                    at,
                })
            }
        }
    }

    fn sample(&mut self, line_start: usize, s: &mut Scratch) -> Result<Raw<'a>, ParseError> {
        let name = (self.lx.start, self.lx.i);
        let mut series = name;
        let mut t = self.lx.lex();
        if t == Tok::BraceOpen {
            self.labels(s, false)?;
            series.1 = self.lx.i;
            t = self.lx.lex();
        }
        let value = self.value(t, "a space and a value after the metric")?;
        let mut sample = RawSample {
            name,
            series,
            value: canonical(value),
            ts_ms: None,
            ts_raw: None,
            exemplar: None,
            line_start,
            leading_blank: false,
        };
        match self.lx.lex() {
            Tok::Eof => return Err(self.no_eof()),
            Tok::Linebreak => {}
            Tok::Comment => sample.exemplar = Some(self.exemplar(name, s)?),
            Tok::Timestamp => {
                let ts = self.timestamp("invalid timestamp")?;
                sample.ts_ms = Some(seconds_to_millis(ts));
                sample.ts_raw = Some(ts);
                match self.lx.lex() {
                    Tok::Linebreak => {}
                    Tok::Comment => sample.exemplar = Some(self.exemplar(name, s)?),
                    t => {
                        return Err(
                            self.unexpected(t, "a line break or an exemplar after the timestamp")
                        )
                    }
                }
            }
            t => {
                return Err(self.unexpected(
                    t,
                    "a timestamp, an exemplar or a line break after the value",
                ))
            }
        }
        Ok(Raw::Sample(sample))
    }

    fn value(&self, t: Tok, expected: &'static str) -> Result<f64, ParseError> {
        if t != Tok::Value {
            return Err(self.unexpected(t, expected));
        }
        let raw = &self.lx.token()[1..];
        parse_go_float(raw).ok_or_else(|| {
            self.err(
                format!("invalid value {}", quote(raw)),
                "a float such as 1, -2.5e3, NaN or +Inf",
            )
        })
    }

    /// The current timestamp token as seconds; NaN and infinities refused.
    fn timestamp(&self, what: &'static str) -> Result<f64, ParseError> {
        let raw = &self.lx.token()[1..];
        let ts = parse_go_float(raw).ok_or_else(|| {
            self.err(
                format!("{what} {}", quote(raw)),
                "a timestamp in seconds such as 1520879607.789",
            )
        })?;
        if !ts.is_finite() {
            return Err(self.err(
                format!("{what} {}", quote(raw)),
                "a finite timestamp in seconds",
            ));
        }
        Ok(ts)
    }

    /// After ` # {`: the exemplar of the sample named `name`.
    fn exemplar(
        &mut self,
        name: (usize, usize),
        s: &mut Scratch,
    ) -> Result<RawExemplar, ParseError> {
        let m = &self.b[name.0..name.1];
        if !(m.ends_with(b"_total") || m.ends_with(b"_bucket")) {
            return Err(self.err(
                format!("metric name {} does not support exemplars", quote(m)),
                "exemplars only on names ending in _total or _bucket",
            ));
        }
        self.labels(s, true)?;
        if self.strict {
            let chars = exemplar_chars(self.b, &s.exemplar_labels, &s.unescaped);
            if chars > EXEMPLAR_MAX_LABEL_CHARS {
                return Err(self.err(
                    format!("exemplar label set has {chars} characters"),
                    "at most 128 characters of exemplar label names and values",
                ));
            }
        }
        let t = self.lx.lex();
        let value = self.value(t, "a space and a value after the exemplar labels")?;
        let mut ex = RawExemplar {
            value,
            ts_ms: None,
            ts_raw: None,
        };
        match self.lx.lex() {
            Tok::Eof => return Err(self.no_eof()),
            Tok::Linebreak => {}
            Tok::Timestamp => {
                let ts = self.timestamp("invalid exemplar timestamp")?;
                ex.ts_ms = Some(seconds_to_millis(ts));
                ex.ts_raw = Some(ts);
                let t = self.lx.lex();
                if t != Tok::Linebreak {
                    return Err(self.unexpected(t, "a line break after the exemplar timestamp"));
                }
            }
            t => return Err(self.unexpected(t, "an exemplar timestamp or a line break")),
        }
        Ok(ex)
    }

    /// After `{` (or ` # {`): `name="value"` pairs separated by single
    /// commas, then `}`.
    fn labels(&mut self, s: &mut Scratch, exemplar: bool) -> Result<(), ParseError> {
        let mut first = true;
        loop {
            let mut t = self.lx.lex();
            match t {
                Tok::BraceClose => return Ok(()),
                Tok::Comma if !first => {
                    t = self.lx.lex();
                    if t != Tok::LName {
                        return Err(self.unexpected(t, "a label name after ','"));
                    }
                }
                Tok::LName if first => {}
                _ if first => return Err(self.unexpected(t, "a label name or '}'")),
                _ => return Err(self.unexpected(t, "',' or '}' after a label value")),
            }
            first = false;
            let name = (self.lx.start, self.lx.i);
            let t = self.lx.lex();
            if t != Tok::Equal {
                return Err(self.unexpected(t, "'=' after the label name"));
            }
            let t = self.lx.lex();
            if t != Tok::LValue {
                return Err(self.unexpected(t, "a double-quoted label value"));
            }
            let value = (self.lx.start + 1, self.lx.i - 1);
            if std::str::from_utf8(&self.b[value.0..value.1]).is_err() {
                return Err(self.err("label value is not valid UTF-8", "UTF-8 label values"));
            }
            let spans = if exemplar {
                &mut s.exemplar_labels
            } else {
                &mut s.labels
            };
            push_label(self.b, spans, &mut s.unescaped, name, value);
        }
    }
}

/// An OpenMetrics `# TYPE` word.
fn om_type(raw: &[u8]) -> Option<MetricType> {
    Some(match raw {
        b"counter" => MetricType::Counter,
        b"gauge" => MetricType::Gauge,
        b"histogram" => MetricType::Histogram,
        b"gaugehistogram" => MetricType::GaugeHistogram,
        b"summary" => MetricType::Summary,
        b"info" => MetricType::Info,
        b"stateset" => MetricType::StateSet,
        b"unknown" => MetricType::Unknown,
        _ => return None,
    })
}

/// `metric` ends with `_` + `unit`.
fn is_unit_suffix(metric: &[u8], unit: &[u8]) -> bool {
    metric.len() > unit.len()
        && metric.ends_with(unit)
        && metric[metric.len() - unit.len() - 1] == b'_'
}

/// Code points in an exemplar's label names and decoded values.
fn exemplar_chars(b: &[u8], spans: &[LabelSpan], unescaped: &[u8]) -> usize {
    spans
        .iter()
        .map(|sp| {
            let src = if sp.in_scratch { unescaped } else { b };
            let v = &src[sp.value.0..sp.value.1];
            (sp.name.1 - sp.name.0) + v.iter().filter(|&&c| (c & 0xC0) != 0x80).count()
        })
        .sum()
}
