//! A zero-copy decoder of remote-write `WriteRequest`s.
//!
//! prost decodes every label name and value into its own `String` (two
//! allocations and copies per label, ~10 per series); this decoder borrows
//! them from the decompressed buffer instead and lays the request out in a
//! few flat vectors that a [`WriteDecoder`] keeps between requests, so a
//! steady stream of requests decodes without allocating. It accepts exactly
//! what prost accepts for these messages (tested against it), except that
//! the deprecated group wire types are refused, and it enforces
//! [`DecodeLimits`] while decoding so a hostile body cannot make it allocate
//! more than a small multiple of the body's size.
//!
//! Invariants: the spans in [`SeriesSpan`] index the request's own vectors;
//! a [`WriteRequestRef`] borrows the buffer it was decoded from.

use crate::error::DecodeError;
use crate::proto;
use crate::wire::{Reader, FIXED64, LEN, VARINT};

/// Limits checked while decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// Series in one request. Prometheus sends at most
    /// `max_samples_per_send` (2.42: 500) samples per request, so one
    /// series each at most; 100,000 leaves room for other senders.
    pub max_series: usize,
    /// Labels of one series (and of one exemplar). Prometheus has no default
    /// limit; Mimir's default is 30. 256 keeps a bad payload from being
    /// accepted as one absurd series.
    pub max_labels_per_series: usize,
}

impl Default for DecodeLimits {
    fn default() -> Self {
        DecodeLimits {
            max_series: 100_000,
            max_labels_per_series: 256,
        }
    }
}

/// One sample: milliseconds since the epoch and the value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleRef {
    pub timestamp: i64,
    pub value: f64,
}

/// Where one series' parts lie in the request's vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SeriesSpan {
    labels: (usize, usize),
    samples: (usize, usize),
    exemplars: (usize, usize),
    histograms: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct ExemplarSpan {
    labels: (usize, usize),
    value: f64,
    timestamp: i64,
}

/// An exemplar, borrowed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExemplarRef<'r, 'a> {
    pub labels: &'r [(&'a str, &'a str)],
    pub value: f64,
    pub timestamp: i64,
}

/// A metric's metadata, borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetadataRef<'a> {
    /// `proto::MetricType` as its number.
    pub metric_type: i32,
    pub metric_family_name: &'a str,
    pub help: &'a str,
    pub unit: &'a str,
}

/// A decoded `WriteRequest` borrowing its strings from the buffer.
#[derive(Debug, Default)]
pub struct WriteRequestRef<'a> {
    series: Vec<SeriesSpan>,
    labels: Vec<(&'a str, &'a str)>,
    samples: Vec<SampleRef>,
    exemplars: Vec<ExemplarSpan>,
    exemplar_labels: Vec<(&'a str, &'a str)>,
    metadata: Vec<MetadataRef<'a>>,
}

/// One series of a [`WriteRequestRef`].
#[derive(Debug, Clone, Copy)]
pub struct SeriesRef<'r, 'a> {
    req: &'r WriteRequestRef<'a>,
    span: SeriesSpan,
}

impl<'r, 'a> SeriesRef<'r, 'a> {
    /// The labels as sent: in the sender's order, possibly unsorted or
    /// with duplicates (the receiver validates).
    pub fn labels(&self) -> &'r [(&'a str, &'a str)] {
        &self.req.labels[self.span.labels.0..self.span.labels.1]
    }

    pub fn samples(&self) -> &'r [SampleRef] {
        &self.req.samples[self.span.samples.0..self.span.samples.1]
    }

    pub fn exemplars(&self) -> impl Iterator<Item = ExemplarRef<'r, 'a>> + 'r {
        let req = self.req;
        req.exemplars[self.span.exemplars.0..self.span.exemplars.1]
            .iter()
            .map(move |e| ExemplarRef {
                labels: &req.exemplar_labels[e.labels.0..e.labels.1],
                value: e.value,
                timestamp: e.timestamp,
            })
    }

    /// Native histogram samples sent for this series (not decoded).
    pub fn histogram_count(&self) -> usize {
        self.span.histograms
    }
}

impl<'a> WriteRequestRef<'a> {
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }

    pub fn series(&self) -> impl ExactSizeIterator<Item = SeriesRef<'_, 'a>> + '_ {
        self.series.iter().map(move |s| SeriesRef {
            req: self,
            span: *s,
        })
    }

    pub fn metadata(&self) -> &[MetadataRef<'a>] {
        &self.metadata
    }

    /// Samples in the whole request.
    pub fn sample_count(&self) -> usize {
        self.samples.len()
    }

    /// An owned copy as prost's message (tests, tools).
    pub fn to_owned_proto(&self) -> proto::WriteRequest {
        let label = |(n, v): &(&str, &str)| proto::Label {
            name: (*n).to_string(),
            value: (*v).to_string(),
        };
        proto::WriteRequest {
            timeseries: self
                .series()
                .map(|s| proto::TimeSeries {
                    labels: s.labels().iter().map(label).collect(),
                    samples: s
                        .samples()
                        .iter()
                        .map(|x| proto::Sample {
                            value: x.value,
                            timestamp: x.timestamp,
                        })
                        .collect(),
                    exemplars: s
                        .exemplars()
                        .map(|e| proto::Exemplar {
                            labels: e.labels.iter().map(label).collect(),
                            value: e.value,
                            timestamp: e.timestamp,
                        })
                        .collect(),
                    histograms: Vec::new(),
                })
                .collect(),
            metadata: self
                .metadata
                .iter()
                .map(|m| proto::MetricMetadata {
                    r#type: m.metric_type,
                    metric_family_name: m.metric_family_name.to_string(),
                    help: m.help.to_string(),
                    unit: m.unit.to_string(),
                })
                .collect(),
        }
    }
}

/// Decodes requests, reusing the vectors of the previous one.
///
/// Thread safety: one decoder per task; it is `Send`.
#[derive(Debug, Default)]
pub struct WriteDecoder {
    limits: DecodeLimits,
    spare: WriteRequestRef<'static>,
}

impl WriteDecoder {
    pub fn new(limits: DecodeLimits) -> Self {
        WriteDecoder {
            limits,
            spare: WriteRequestRef::default(),
        }
    }

    /// Changes the limits for the requests decoded from now on.
    pub fn set_limits(&mut self, limits: DecodeLimits) {
        self.limits = limits;
    }

    /// Decodes `buf` (a decompressed `WriteRequest`).
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Result<WriteRequestRef<'a>, DecodeError> {
        let spare = std::mem::take(&mut self.spare);
        let mut req = WriteRequestRef {
            series: reuse(spare.series),
            labels: reuse(spare.labels),
            samples: reuse(spare.samples),
            exemplars: reuse(spare.exemplars),
            exemplar_labels: reuse(spare.exemplar_labels),
            metadata: reuse(spare.metadata),
        };
        let mut r = Reader::new(buf);
        let top = || "WriteRequest".to_string();
        while !r.at_end() {
            match r.key(&top)? {
                (1, LEN) => {
                    let idx = req.series.len();
                    if idx >= self.limits.max_series {
                        return Err(DecodeError::Limit {
                            what: "series in one request".into(),
                            count: idx + 1,
                            limit: self.limits.max_series,
                        });
                    }
                    let mut sub = r.sub(&top)?;
                    let span = decode_series(&mut sub, idx, &self.limits, &mut req)?;
                    req.series.push(span);
                }
                (3, LEN) => {
                    let idx = req.metadata.len();
                    let mut sub = r.sub(&top)?;
                    let m = decode_metadata(&mut sub, idx)?;
                    req.metadata.push(m);
                }
                (f @ (1 | 3), w) => return Err(r.wrong_wire(f, w, &top)),
                (_, w) => r.skip(w, &top)?,
            }
        }
        Ok(req)
    }

    /// Gives a request's vectors back for the next [`WriteDecoder::decode`].
    pub fn recycle(&mut self, req: WriteRequestRef<'_>) {
        self.spare = WriteRequestRef {
            series: reuse(req.series),
            labels: reuse(req.labels),
            samples: reuse(req.samples),
            exemplars: reuse(req.exemplars),
            exemplar_labels: reuse(req.exemplar_labels),
            metadata: reuse(req.metadata),
        };
    }
}

/// Empties `v` and returns its allocation typed for another lifetime. The
/// standard library collects a mapped `IntoIter` in place when the element
/// layouts match (they do: only the lifetime differs), so no allocation.
fn reuse<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter()
        .map(|_| -> U { unreachable!("BUG: a cleared vector yielded an element") })
        .collect()
}

fn decode_series<'a>(
    r: &mut Reader<'a>,
    idx: usize,
    limits: &DecodeLimits,
    req: &mut WriteRequestRef<'a>,
) -> Result<SeriesSpan, DecodeError> {
    let path = || format!("timeseries[{idx}]");
    let mut span = SeriesSpan {
        labels: (req.labels.len(), req.labels.len()),
        samples: (req.samples.len(), req.samples.len()),
        exemplars: (req.exemplars.len(), req.exemplars.len()),
        histograms: 0,
    };
    // Senders put the labels first: taken in one go.
    r.labels_run(limits.max_labels_per_series, &mut req.labels);
    while !r.at_end() {
        match r.key(&path)? {
            (1, LEN) => {
                if req.labels.len() - span.labels.0 >= limits.max_labels_per_series {
                    return Err(DecodeError::Limit {
                        what: format!("labels of timeseries[{idx}]"),
                        count: req.labels.len() - span.labels.0 + 1,
                        limit: limits.max_labels_per_series,
                    });
                }
                let mut sub = r.sub(&path)?;
                let lp = || format!("timeseries[{idx}].labels");
                req.labels.push(decode_label(&mut sub, &lp)?);
            }
            (2, LEN) => {
                if let Some((v, t)) = r.sample_fast() {
                    req.samples.push(SampleRef {
                        timestamp: t as i64,
                        value: f64::from_bits(v),
                    });
                    continue;
                }
                let mut sub = r.sub(&path)?;
                req.samples.push(decode_sample(&mut sub, idx)?);
            }
            (3, LEN) => {
                let mut sub = r.sub(&path)?;
                let e = decode_exemplar(&mut sub, idx, limits, &mut req.exemplar_labels)?;
                req.exemplars.push(e);
            }
            (4, LEN) => {
                r.sub(&path)?;
                span.histograms += 1;
            }
            (f @ 1..=4, w) => return Err(r.wrong_wire(f, w, &path)),
            (_, w) => r.skip(w, &path)?,
        }
    }
    span.labels.1 = req.labels.len();
    span.samples.1 = req.samples.len();
    span.exemplars.1 = req.exemplars.len();
    Ok(span)
}

#[inline]
fn decode_label<'a>(
    r: &mut Reader<'a>,
    path: &dyn Fn() -> String,
) -> Result<(&'a str, &'a str), DecodeError> {
    let (mut name, mut value) = ("", "");
    while !r.at_end() {
        match r.key(path)? {
            (1, LEN) => name = r.string(path)?,
            (2, LEN) => value = r.string(path)?,
            (f @ (1 | 2), w) => return Err(r.wrong_wire(f, w, path)),
            (_, w) => r.skip(w, path)?,
        }
    }
    Ok((name, value))
}

#[inline]
fn decode_sample(r: &mut Reader<'_>, idx: usize) -> Result<SampleRef, DecodeError> {
    let path = || format!("timeseries[{idx}].samples");
    let mut s = SampleRef {
        timestamp: 0,
        value: 0.0,
    };
    while !r.at_end() {
        match r.key(&path)? {
            (1, FIXED64) => s.value = f64::from_bits(r.fixed64(&path)?),
            (2, VARINT) => s.timestamp = r.varint(&path)? as i64,
            (f @ (1 | 2), w) => return Err(r.wrong_wire(f, w, &path)),
            (_, w) => r.skip(w, &path)?,
        }
    }
    Ok(s)
}

fn decode_exemplar<'a>(
    r: &mut Reader<'a>,
    idx: usize,
    limits: &DecodeLimits,
    labels: &mut Vec<(&'a str, &'a str)>,
) -> Result<ExemplarSpan, DecodeError> {
    let path = || format!("timeseries[{idx}].exemplars");
    let start = labels.len();
    let (mut value, mut timestamp) = (0.0, 0);
    while !r.at_end() {
        match r.key(&path)? {
            (1, LEN) => {
                if labels.len() - start >= limits.max_labels_per_series {
                    return Err(DecodeError::Limit {
                        what: format!("labels of an exemplar of timeseries[{idx}]"),
                        count: labels.len() - start + 1,
                        limit: limits.max_labels_per_series,
                    });
                }
                let mut sub = r.sub(&path)?;
                labels.push(decode_label(&mut sub, &path)?);
            }
            (2, FIXED64) => value = f64::from_bits(r.fixed64(&path)?),
            (3, VARINT) => timestamp = r.varint(&path)? as i64,
            (f @ 1..=3, w) => return Err(r.wrong_wire(f, w, &path)),
            (_, w) => r.skip(w, &path)?,
        }
    }
    Ok(ExemplarSpan {
        labels: (start, labels.len()),
        value,
        timestamp,
    })
}

fn decode_metadata<'a>(r: &mut Reader<'a>, idx: usize) -> Result<MetadataRef<'a>, DecodeError> {
    let path = || format!("metadata[{idx}]");
    let mut m = MetadataRef::default();
    while !r.at_end() {
        match r.key(&path)? {
            (1, VARINT) => m.metric_type = r.varint(&path)? as i32,
            (2, LEN) => m.metric_family_name = r.string(&path)?,
            (4, LEN) => m.help = r.string(&path)?,
            (5, LEN) => m.unit = r.string(&path)?,
            (f @ (1 | 2 | 4 | 5), w) => return Err(r.wrong_wire(f, w, &path)),
            (_, w) => r.skip(w, &path)?,
        }
    }
    Ok(m)
}
