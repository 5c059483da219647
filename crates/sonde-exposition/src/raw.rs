//! Entries as byte spans, before they are turned into borrowed
//! [`crate::Entry`] values. The format parsers produce these so that they
//! never hold a borrow of the scratch across calls.

use sonde_model::MetricType;

pub(crate) type Span = (usize, usize);

/// Where decoded text lives.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TextLoc<'a> {
    /// In the body, already checked to be UTF-8.
    Body(&'a str),
    /// In `Scratch::help`.
    Help(Span),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RawExemplar {
    pub(crate) value: f64,
    pub(crate) ts_ms: Option<i64>,
    /// The timestamp as written, in seconds (for strict ordering checks).
    pub(crate) ts_raw: Option<f64>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct RawSample {
    pub(crate) name: Span,
    pub(crate) series: Span,
    pub(crate) value: f64,
    pub(crate) ts_ms: Option<i64>,
    /// The timestamp as written (seconds in OpenMetrics, milliseconds in the
    /// Prometheus format), for strict ordering checks.
    pub(crate) ts_raw: Option<f64>,
    pub(crate) exemplar: Option<RawExemplar>,
    /// Byte offset of the line start (for errors), and whether blanks came
    /// before the name (Prometheus then takes them into the name).
    pub(crate) line_start: usize,
    pub(crate) leading_blank: bool,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Raw<'a> {
    Type {
        name: Span,
        metric_type: MetricType,
        at: usize,
    },
    Help {
        name: Span,
        text: TextLoc<'a>,
        at: usize,
    },
    Unit {
        name: Span,
        unit: Span,
        at: usize,
    },
    Comment(Span),
    Sample(RawSample),
}
