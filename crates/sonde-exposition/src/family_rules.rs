//! The rules of one metric family that strict mode applies per sample and
//! per label set: sample-name suffixes per type, the names a family claims,
//! value and label rules per type, and the histogram shape checks of the
//! OpenMetrics reference parser.
//!
//! Invariant: pure functions over one sample or one label set's running
//! state; the family bookkeeping lives in [`crate::strict`].

use sonde_model::MetricType;

use crate::entry::LabelsRef;
use crate::float::parse_go_float;
use crate::negotiate::Format;
use crate::raw::RawSample;

/// The running state of one histogram/gaugehistogram label set.
#[derive(Default)]
pub(crate) struct HistGroup {
    pub(crate) key: Option<(Vec<u8>, Option<u64>)>,
    count: Option<f64>,
    last_le: Option<f64>,
    last_bucket: f64,
    neg_buckets: bool,
    sum: bool,
    gsum: bool,
    neg_gsum: bool,
}

/// The sample-name suffixes a family of this type uses.
pub(crate) fn suffixes(format: Format, t: MetricType) -> &'static [&'static str] {
    let om = format == Format::OpenMetrics;
    match t {
        MetricType::Counter if om => &["_total", "_created"],
        MetricType::Histogram if om => &["_bucket", "_count", "_sum", "_created"],
        MetricType::Histogram => &["_bucket", "_count", "_sum"],
        MetricType::GaugeHistogram => &["_bucket", "_gcount", "_gsum"],
        MetricType::Summary if om => &["", "_count", "_sum", "_created"],
        MetricType::Summary => &["", "_count", "_sum"],
        MetricType::Info => &["_info"],
        _ => &[""],
    }
}

/// The suffix of `sample` if it is a sample name of family `family`.
pub(crate) fn sample_suffix(
    format: Format,
    family: &str,
    t: MetricType,
    sample: &str,
) -> Option<&'static str> {
    let rest = sample.strip_prefix(family)?;
    suffixes(format, t).iter().copied().find(|s| *s == rest)
}

/// Every name a family claims: its own and its samples'.
pub(crate) fn claimed_names(format: Format, family: &str, t: MetricType) -> Vec<String> {
    let mut v = vec![family.to_string()];
    for s in suffixes(format, t) {
        if !s.is_empty() {
            v.push(format!("{family}{s}"));
        }
    }
    v
}

pub(crate) fn unique_labels(labels: &LabelsRef<'_>) -> Result<(), String> {
    for (i, (n, _)) in labels.iter().enumerate() {
        if n == "__name__" || labels.iter().take(i).any(|(m, _)| m == n) {
            return Err(format!("label name {n:?} is not unique"));
        }
    }
    Ok(())
}

/// A valid `le`/`quantile` value: a number, infinities spelled `+Inf`/`-Inf`.
pub(crate) fn bound(v: &str) -> Option<f64> {
    let f = parse_go_float(v.as_bytes())?;
    if f.is_nan() || (f.is_infinite() && v != "+Inf" && v != "-Inf") {
        return None;
    }
    Some(f)
}

pub(crate) fn type_rules(
    format: Format,
    t: MetricType,
    family: &str,
    suffix: &str,
    labels: &LabelsRef<'_>,
    v: f64,
) -> Result<(), String> {
    let om = format == Format::OpenMetrics;
    let non_negative = |what: &str| -> Result<(), String> {
        if om && (v.is_nan() || v < 0.0) {
            return Err(format!("{what} value {v} is NaN or negative"));
        }
        Ok(())
    };
    match (t, suffix) {
        (MetricType::Histogram | MetricType::GaugeHistogram, "_bucket") => {
            let le = labels
                .get("le")
                .ok_or("histogram bucket without an \"le\" label")?;
            bound(le).ok_or_else(|| format!("invalid \"le\" label value {le:?}"))?;
            non_negative("bucket")
        }
        (MetricType::Histogram, "_count" | "_sum") | (MetricType::GaugeHistogram, "_gcount") => {
            non_negative(&suffix[1..])
        }
        (MetricType::GaugeHistogram, "_gsum") if om && v.is_nan() => {
            Err("gsum value is NaN".into())
        }
        (MetricType::Counter, "_total") => non_negative("counter"),
        (MetricType::Summary, "_count" | "_sum") => non_negative(&suffix[1..]),
        (MetricType::Summary, "") => {
            let q = labels
                .get("quantile")
                .ok_or("summary sample without a \"quantile\" label")?;
            match bound(q) {
                Some(x) if (0.0..=1.0).contains(&x) => {}
                _ => {
                    return Err(format!(
                        "invalid \"quantile\" label value {q:?}, expected a number from 0 to 1"
                    ))
                }
            }
            if om && v < 0.0 {
                return Err(format!("quantile value {v} is negative"));
            }
            Ok(())
        }
        (MetricType::StateSet, _) => {
            if labels.get(family).is_none() {
                return Err(format!("stateset sample without a {:?} label", family));
            }
            if v != 0.0 && v != 1.0 {
                return Err(format!("stateset value {v} is not 0 or 1"));
            }
            Ok(())
        }
        (MetricType::Info, _) if v != 1.0 => Err(format!("info value {v} is not 1")),
        _ => Ok(()),
    }
}

/// The label set identifying one point of the family: all labels but `le`
/// (histograms), `quantile` (summaries) or the state label (statesets).
pub(crate) fn group_key(t: MetricType, family: &str, labels: &LabelsRef<'_>) -> Vec<u8> {
    let skip = match t {
        MetricType::Histogram | MetricType::GaugeHistogram => "le",
        MetricType::Summary => "quantile",
        MetricType::StateSet => family,
        _ => "\u{0}",
    };
    let mut pairs: Vec<(&str, &str)> = labels.iter().filter(|(n, _)| *n != skip).collect();
    pairs.sort_unstable();
    let mut key = Vec::new();
    for (n, v) in pairs {
        key.extend_from_slice(n.as_bytes());
        key.push(0xff);
        key.extend_from_slice(v.as_bytes());
        key.push(0xfe);
    }
    key
}

pub(crate) fn hist_sample(
    h: &mut HistGroup,
    group: Vec<u8>,
    smp: &RawSample,
    suffix: &str,
    labels: &LabelsRef<'_>,
) -> Result<(), String> {
    let key = (group, smp.ts_raw.map(f64::to_bits));
    if h.key.as_ref() != Some(&key) {
        if h.key.is_some() {
            hist_checks(h, "")?;
        }
        *h = HistGroup {
            key: Some(key),
            ..HistGroup::default()
        };
    }
    let v = smp.value;
    match suffix {
        "_bucket" => {
            let le = labels.get("le").and_then(bound).unwrap_or(f64::NAN);
            if le < 0.0 {
                h.neg_buckets = true;
            }
            if h.last_le.is_some_and(|p| le <= p) {
                return Err(format!("bucket le={le} is not above the previous bucket"));
            }
            if v < h.last_bucket {
                return Err(format!(
                    "bucket le={le} has a smaller count ({v}) than the bucket before it"
                ));
            }
            h.last_le = Some(le);
            h.last_bucket = v;
        }
        "_count" | "_gcount" => h.count = Some(v),
        "_sum" => h.sum = true,
        "_gsum" => {
            h.gsum = true;
            h.neg_gsum |= v < 0.0;
        }
        _ => {}
    }
    Ok(())
}

/// The checks at the end of one histogram label set.
pub(crate) fn hist_checks(h: &HistGroup, name: &str) -> Result<(), String> {
    if h.key.is_none() {
        return Ok(());
    }
    if h.last_le != Some(f64::INFINITY) {
        return Err(format!(
            "histogram {name} has no +Inf bucket as its last bucket"
        ));
    }
    if h.count.is_some_and(|c| c != h.last_bucket) {
        return Err(format!(
            "histogram {name} _count does not equal its +Inf bucket"
        ));
    }
    if h.sum && h.count.is_none() {
        return Err(format!("histogram {name} has _sum without _count"));
    }
    if h.gsum && h.count.is_none() {
        return Err(format!("gauge histogram {name} has _gsum without _gcount"));
    }
    if !(h.sum || h.gsum) && h.count.is_some() {
        return Err(format!("histogram {name} has a count without a sum"));
    }
    if h.neg_buckets && h.sum {
        return Err(format!("histogram {name} has _sum and negative buckets"));
    }
    if !h.neg_buckets && h.neg_gsum {
        return Err(format!(
            "gauge histogram {name} has a negative _gsum without negative buckets"
        ));
    }
    Ok(())
}
