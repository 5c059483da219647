//! What the pull parser yields: borrowed entries, and the caller-owned
//! [`Scratch`] that holds label spans and unescaped label values.
//!
//! Invariants: an [`Entry`] borrows the body and the scratch and is valid
//! until the next call to [`crate::Parser::next`]. Label names and values
//! are slices of the body unless the value contained a backslash escape, in
//! which case the decoded value lives in the scratch. Once the scratch's
//! vectors have grown to the largest line of a body, parsing allocates
//! nothing per sample.

use sonde_model::MetricType;

/// Where a label value lives: in the body, or decoded in the scratch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LabelSpan {
    pub(crate) name: (usize, usize),
    pub(crate) value: (usize, usize),
    pub(crate) in_scratch: bool,
}

/// Reusable buffers for a parser. Keep one per scrape loop and hand it to
/// each [`crate::Parser`]; the parser clears what it uses.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) labels: Vec<LabelSpan>,
    pub(crate) exemplar_labels: Vec<LabelSpan>,
    pub(crate) unescaped: Vec<u8>,
    pub(crate) help: Vec<u8>,
    pub(crate) sort: Vec<(usize, usize)>,
}

impl Scratch {
    /// Empty buffers; they grow to the largest line seen and are kept.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn reset_line(&mut self) {
        self.labels.clear();
        self.exemplar_labels.clear();
        self.unescaped.clear();
    }
}

/// The label pairs of a sample or exemplar, in exposition order (not
/// sorted, and not deduplicated), without the metric name.
#[derive(Clone, Copy)]
pub struct LabelsRef<'e> {
    pub(crate) body: &'e [u8],
    pub(crate) unescaped: &'e [u8],
    pub(crate) spans: &'e [LabelSpan],
}

impl<'e> LabelsRef<'e> {
    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The pairs as `(name, value)`, in the order written.
    pub fn iter(&self) -> impl Iterator<Item = (&'e str, &'e str)> + 'e {
        let (body, unescaped) = (self.body, self.unescaped);
        self.spans.iter().map(move |s| pair(body, unescaped, s))
    }

    /// The value of the first label called `name`.
    pub fn get(&self, name: &str) -> Option<&'e str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }
}

impl std::fmt::Debug for LabelsRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

fn pair<'e>(body: &'e [u8], unescaped: &'e [u8], s: &LabelSpan) -> (&'e str, &'e str) {
    let name = as_str(&body[s.name.0..s.name.1]);
    let src = if s.in_scratch { unescaped } else { body };
    (name, as_str(&src[s.value.0..s.value.1]))
}

/// The parsers validate UTF-8 of every slice they hand out as `&str`; the
/// fallback is unreachable in practice and avoids a panic path.
pub(crate) fn as_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// One parsed line.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'e> {
    /// `# TYPE name type` (`untyped` in the Prometheus format is
    /// [`MetricType::Unknown`]).
    Type {
        name: &'e str,
        metric_type: MetricType,
    },
    /// `# HELP name text`, with escapes decoded.
    Help { name: &'e str, text: &'e str },
    /// `# UNIT name unit` (OpenMetrics only).
    Unit { name: &'e str, unit: &'e str },
    /// Any other `#` line of the Prometheus format, raw bytes including `#`.
    Comment(&'e [u8]),
    /// A sample line.
    Sample(SampleRef<'e>),
}

/// A sample line.
#[derive(Debug, Clone, Copy)]
pub struct SampleRef<'e> {
    /// The metric name.
    pub name: &'e str,
    /// The raw bytes of name and label set as written, e.g.
    /// `http_requests_total{code="200"}`: a cheap cache key for the series
    /// (what Prometheus' scrape cache keys on).
    pub series: &'e [u8],
    /// The label pairs, without the name.
    pub labels: LabelsRef<'e>,
    /// The value (NaN values are all the same NaN bit pattern as
    /// Prometheus' `value.NormalNaN`).
    pub value: f64,
    /// Explicit timestamp in milliseconds (OpenMetrics seconds converted as
    /// Prometheus does, `int64(ts*1000)`).
    pub timestamp_ms: Option<i64>,
    /// OpenMetrics exemplar, if any.
    pub exemplar: Option<ExemplarRef<'e>>,
}

/// An OpenMetrics exemplar (`# {trace_id="..."} 1.0 1.5`).
#[derive(Debug, Clone, Copy)]
pub struct ExemplarRef<'e> {
    /// Label pairs, escapes decoded (Prometheus 2.42 keeps them raw).
    pub labels: LabelsRef<'e>,
    pub value: f64,
    pub timestamp_ms: Option<i64>,
}

/// The bit pattern of the NaN Prometheus stores for a NaN sample value
/// (`value.NormalNaN`), distinct from the stale marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Canonical NaN, as Prometheus' parsers do.
pub(crate) fn canonical(v: f64) -> f64 {
    if v.is_nan() {
        f64::from_bits(NORMAL_NAN_BITS)
    } else {
        v
    }
}

/// Appends the label value `raw` (between the quotes) to `dst` with `\"`,
/// `\\` and `\n` decoded; other backslash pairs are kept as written (as
/// Prometheus' `lvalReplacer` does). With `quote == false` `\"` is kept too
/// (Prometheus format HELP text).
pub(crate) fn unescape_into(raw: &[u8], quote: bool, dst: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if c == b'\\' && i + 1 < raw.len() {
            let d = raw[i + 1];
            let out = match d {
                b'\\' => Some(b'\\'),
                b'n' => Some(b'\n'),
                b'"' if quote => Some(b'"'),
                _ => None,
            };
            if let Some(o) = out {
                dst.push(o);
                i += 2;
                continue;
            }
        }
        dst.push(c);
        i += 1;
    }
}

/// Pushes a label span for name `name` and raw value `value` (without the
/// quotes), decoding escapes into `unescaped` only when there are any.
pub(crate) fn push_label(
    body: &[u8],
    spans: &mut Vec<LabelSpan>,
    unescaped: &mut Vec<u8>,
    name: (usize, usize),
    value: (usize, usize),
) {
    let raw = &body[value.0..value.1];
    if raw.contains(&b'\\') {
        let start = unescaped.len();
        unescape_into(raw, true, unescaped);
        spans.push(LabelSpan {
            name,
            value: (start, unescaped.len()),
            in_scratch: true,
        });
    } else {
        spans.push(LabelSpan {
            name,
            value,
            in_scratch: false,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unescape_like_prometheus() {
        let mut out = Vec::new();
        unescape_into(br#"a\"b\\c\nd\ze\\n"#, true, &mut out);
        assert_eq!(out, b"a\"b\\c\nd\\ze\\n");
        out.clear();
        unescape_into(br#"x\"y\\"#, false, &mut out);
        assert_eq!(out, b"x\\\"y\\");
    }
}
