//! The pull parser: one type over both text formats and both modes.
//!
//! ```
//! use sonde_exposition::{Entry, Format, Mode, Parser, Scratch};
//! let body = b"# TYPE up gauge\nup{job=\"node\"} 1\n";
//! let mut scratch = Scratch::new();
//! let mut p = Parser::new(body, Format::PrometheusText, Mode::Scrape, &mut scratch);
//! let mut n = 0;
//! while let Some(entry) = p.next().unwrap() {
//!     if let Entry::Sample(s) = entry {
//!         assert_eq!((s.name, s.labels.get("job"), s.value), ("up", Some("node"), 1.0));
//!         n += 1;
//!     }
//! }
//! assert_eq!(n, 1);
//! ```
//!
//! Invariants: after an error or the end of the body, `next` keeps
//! returning the same outcome's end (`Ok(None)`), never panics, and never
//! reads outside the body. In [`Mode::Scrape`] a body is accepted exactly
//! when a Prometheus 2.42 scrape of it succeeds (for a target whose
//! `Content-Type` selects the same format, with default scrape settings).

use crate::entry::{as_str, Entry, ExemplarRef, LabelsRef, SampleRef, Scratch};
use crate::error::ParseError;
use crate::negotiate::Format;
use crate::openmetrics::OpenMetrics;
use crate::prom_text::PromText;
use crate::raw::{Raw, TextLoc};
use crate::scrape_check::{check_series, DEFAULT_TARGET_LABELS};
use crate::strict::{FamilyInfo, Validator};

/// How strict the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Exactly as lenient and as strict as Prometheus 2.42's scrape: its
    /// text parsers plus the per-sample checks of its scrape loop (see
    /// [`crate::scrape_check`]).
    Scrape,
    /// The specification: every case of the OpenMetrics test suite gets its
    /// expected verdict; for the Prometheus format, what `promtool check
    /// metrics` would refuse plus the same family model.
    Strict,
}

enum Inner<'a> {
    Prom(PromText<'a>),
    Om(OpenMetrics<'a>),
    Unsupported,
}

/// A pull parser over one exposition body.
pub struct Parser<'a, 's> {
    body: &'a [u8],
    format: Format,
    mode: Mode,
    inner: Inner<'a>,
    scratch: &'s mut Scratch,
    validator: Option<Box<Validator>>,
    target_labels: &'a [&'a str],
    finished: bool,
}

impl<'a, 's> Parser<'a, 's> {
    /// A parser of `body` in `format`. The scratch buffers are reused.
    pub fn new(body: &'a [u8], format: Format, mode: Mode, scratch: &'s mut Scratch) -> Self {
        let strict = mode == Mode::Strict;
        let inner = match format {
            Format::PrometheusText => Inner::Prom(PromText::new(body, strict)),
            Format::OpenMetrics => Inner::Om(OpenMetrics::new(body, strict)),
            Format::PrometheusProtobuf => Inner::Unsupported,
        };
        Parser {
            body,
            format,
            mode,
            inner,
            scratch,
            validator: strict.then(|| Box::new(Validator::new(format))),
            target_labels: DEFAULT_TARGET_LABELS,
            finished: false,
        }
    }

    /// Scrape mode: the exposed label names that the scrape engine replaces
    /// with target labels (default `instance`, `job`; pass an empty slice
    /// for `honor_labels: true`). Duplicates of these do not fail a scrape.
    pub fn with_target_labels(mut self, names: &'a [&'a str]) -> Self {
        self.target_labels = names;
        self
    }

    /// The format being parsed.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Strict mode: the metric families seen so far (complete after `next`
    /// returned `Ok(None)`).
    pub fn families(&self) -> &[FamilyInfo] {
        self.validator.as_ref().map_or(&[], |v| v.families())
    }

    /// The next entry, `Ok(None)` at the end of the body.
    #[allow(clippy::should_implement_trait)] // a lending iterator: entries borrow the parser
    pub fn next(&mut self) -> Result<Option<Entry<'_>>, ParseError> {
        if self.finished {
            return Ok(None);
        }
        let raw = match self.next_raw() {
            Ok(Some(raw)) => raw,
            Ok(None) => {
                self.finished = true;
                return Ok(None);
            }
            Err(e) => {
                self.finished = true;
                return Err(e);
            }
        };
        Ok(Some(self.entry(raw)))
    }

    fn next_raw(&mut self) -> Result<Option<Raw<'a>>, ParseError> {
        let s = &mut *self.scratch;
        let raw = match &mut self.inner {
            Inner::Prom(p) => p.next(s)?,
            Inner::Om(p) => p.next(s)?,
            Inner::Unsupported => {
                return Err(ParseError::at(
                    self.body,
                    0,
                    "protobuf exposition is not supported",
                    "a text/plain (0.0.4) or application/openmetrics-text response",
                ))
            }
        };
        let Some(raw) = raw else {
            if let Some(v) = self.validator.as_mut() {
                v.finish(self.body)?;
            }
            return Ok(None);
        };
        if let Raw::Sample(smp) = &raw {
            if self.mode == Mode::Scrape {
                check_series(self.body, smp.leading_blank, s, self.target_labels).map_err(
                    |what| {
                        ParseError::at(self.body, smp.line_start, what, "a valid, unique label set")
                    },
                )?;
            }
        }
        if let Some(v) = self.validator.as_mut() {
            v.on_entry(self.body, &raw, s)?;
        }
        Ok(Some(raw))
    }

    fn entry(&self, raw: Raw<'a>) -> Entry<'_> {
        let b = self.body;
        let s = &*self.scratch;
        let text = |sp: (usize, usize)| as_str(&b[sp.0..sp.1]);
        match raw {
            Raw::Type {
                name, metric_type, ..
            } => Entry::Type {
                name: text(name),
                metric_type,
            },
            Raw::Help { name, text: t, .. } => Entry::Help {
                name: text(name),
                text: match t {
                    TextLoc::Body(t) => t,
                    TextLoc::Help(sp) => as_str(&s.help[sp.0..sp.1]),
                },
            },
            Raw::Unit { name, unit, .. } => Entry::Unit {
                name: text(name),
                unit: text(unit),
            },
            Raw::Comment(sp) => Entry::Comment(&b[sp.0..sp.1]),
            Raw::Sample(smp) => Entry::Sample(SampleRef {
                name: text(smp.name),
                series: &b[smp.series.0..smp.series.1],
                labels: LabelsRef {
                    body: b,
                    unescaped: &s.unescaped,
                    spans: &s.labels,
                },
                value: smp.value,
                timestamp_ms: smp.ts_ms,
                exemplar: smp.exemplar.map(|e| ExemplarRef {
                    labels: LabelsRef {
                        body: b,
                        unescaped: &s.unescaped,
                        spans: &s.exemplar_labels,
                    },
                    value: e.value,
                    timestamp_ms: e.ts_ms,
                }),
            }),
        }
    }
}

/// Parses a whole body and returns the number of samples, or the first
/// error: the verdict of a scrape (in [`Mode::Scrape`]) or of a validator.
pub fn validate(
    body: &[u8],
    format: Format,
    mode: Mode,
    scratch: &mut Scratch,
) -> Result<usize, ParseError> {
    let mut p = Parser::new(body, format, mode, scratch);
    let mut n = 0;
    while let Some(e) = p.next()? {
        if matches!(e, Entry::Sample(_)) {
            n += 1;
        }
    }
    Ok(n)
}
