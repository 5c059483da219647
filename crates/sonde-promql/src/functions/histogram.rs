//! `histogram_quantile` over classic histograms (`le` bucket series), and
//! the native-histogram functions, which find nothing in float samples.

use std::collections::HashMap;

use promql_parser::parser::Call;
use sonde_model::{Labels, LabelsBuilder, METRIC_NAME};

use super::instant::{arg, eval_args};
use crate::error::Result;
use crate::eval::{Evaluator, OutSample, Val};
use crate::math::go_sort;

/// One classic bucket: upper bound and cumulative count.
#[derive(Clone, Copy)]
struct Bucket {
    upper: f64,
    count: f64,
}

/// `histogram_count`, `histogram_sum`, `histogram_fraction`: Prometheus
/// 2.42 computes them for native histograms only, so float series give an
/// empty result.
pub(crate) fn native_only(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let args = eval_args(ev, call)?;
    ev.range_eval(&args, |_, _| Ok(Vec::new()))
}

/// `histogram_quantile(φ, buckets)`: groups bucket series by their labels
/// without `le` (the metric name included, then dropped from the output)
/// and interpolates linearly inside the bucket holding the rank.
pub(crate) fn histogram_quantile(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let args = [ev.eval(arg(call, 0)?)?, ev.eval(arg(call, 1)?)?];
    // Per input series: its group key (labels without `le`) and bound.
    let mut keys: HashMap<usize, Option<(Labels, f64)>> = HashMap::new();
    ev.range_eval(&args, |a, _| {
        let q = a[0].scalar();
        let mut groups: Vec<(Labels, Vec<Bucket>)> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::new();
        for s in a[1].vector() {
            let key = keys.entry(s.idx).or_insert_with(|| {
                let upper = parse_go_float(s.labels.get("le")?)?;
                Some((
                    Labels::from_sorted(s.labels.iter().filter(|(n, _)| *n != "le")),
                    upper,
                ))
            });
            // No or malformed `le`: skipped, as upstream does.
            let Some((key, upper)) = key else { continue };
            let b = Bucket {
                upper: *upper,
                count: s.v,
            };
            match index.get(key) {
                Some(&i) => groups[i].1.push(b),
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push((key.clone(), vec![b]));
                }
            }
        }
        Ok(groups
            .into_iter()
            .map(|(key, mut buckets)| {
                let mut b = LabelsBuilder::from_labels(&key);
                b.del(METRIC_NAME);
                OutSample {
                    labels: b.build(),
                    v: bucket_quantile(q, &mut buckets),
                }
            })
            .collect())
    })
}

/// Go's `strconv.ParseFloat` for bucket bounds (`+Inf`, `1e3`, `0.5`).
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.trim_start_matches(['+', '-']);
    let lower = t.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if lower == "nan" {
        return Some(f64::NAN);
    }
    s.parse().ok()
}

fn bucket_quantile(q: f64, buckets: &mut Vec<Bucket>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    go_sort(buckets, |a, b| a.upper < b.upper);
    if buckets.last().is_none_or(|b| b.upper != f64::INFINITY) {
        return f64::NAN;
    }
    coalesce(buckets);
    ensure_monotonic(buckets);
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let observations = buckets[buckets.len() - 1].count;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = buckets[..buckets.len() - 1].partition_point(|b| b.count < rank);
    if b == buckets.len() - 1 {
        return buckets[buckets.len() - 2].upper;
    }
    if b == 0 && buckets[0].upper <= 0.0 {
        return buckets[0].upper;
    }
    let mut start = 0.0;
    let end = buckets[b].upper;
    let mut count = buckets[b].count;
    if b > 0 {
        start = buckets[b - 1].upper;
        count -= buckets[b - 1].count;
        rank -= buckets[b - 1].count;
    }
    start + (end - start) * (rank / count)
}

/// Merges buckets with the same bound (e.g. `le="1"` and `le="1.0"`).
fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut out: Vec<Bucket> = Vec::with_capacity(buckets.len());
    for b in buckets.iter() {
        match out.last_mut() {
            Some(last) if last.upper == b.upper => last.count += b.count,
            _ => out.push(*b),
        }
    }
    *buckets = out;
}

/// Cumulative counts must not decrease; raise dips to the running maximum.
fn ensure_monotonic(buckets: &mut [Bucket]) {
    let mut max = f64::NEG_INFINITY;
    for b in buckets {
        if b.count > max {
            max = b.count;
        } else if b.count < max {
            b.count = max;
        }
    }
}
