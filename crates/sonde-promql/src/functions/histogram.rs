//! `histogram_quantile` over classic histograms (`le` bucket series), and
//! the native-histogram functions, which find nothing in float samples.

use std::collections::HashMap;

use promql_parser::parser::Call;
use sonde_model::{Labels, LabelsBuilder, Sample, METRIC_NAME};

use super::instant::{arg, eval_args};
use crate::error::Result;
use crate::eval::{gather_columns, Evaluator, Series, Val};
use crate::math::go_sort;

/// Steps between deadline checks.
const CHECK_EVERY: usize = 256;

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
///
/// Groups, bounds and output labels are worked out once per query; each
/// step then gathers every group's buckets from its member series in input
/// order (the order a step's instant vector has), and groups come out in
/// the order the step-wise evaluation first sees them.
pub(crate) fn histogram_quantile(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let q = ev.eval_scalar(arg(call, 0)?)?;
    let input = match ev.eval(arg(call, 1)?)? {
        Val::Vector(v) => v,
        other => {
            // Let the step-wise evaluation word the type error.
            let args = [Val::Scalar(q), other];
            return ev.range_eval(&args, |_, _| Ok(Vec::new()));
        }
    };
    let mut index: HashMap<Labels, usize> = HashMap::new();
    // Per group: output labels and member series (input order) with bounds.
    let mut groups: Vec<(Labels, Vec<(usize, f64)>)> = Vec::new();
    for (i, s) in input.iter().enumerate() {
        // No or malformed `le`: skipped, as upstream does.
        let Some(upper) = s.labels.get("le").and_then(parse_go_float) else {
            continue;
        };
        let key = Labels::from_sorted(s.labels.iter().filter(|(n, _)| *n != "le"));
        let g = match index.get(&key) {
            Some(&g) => g,
            None => {
                let mut b = LabelsBuilder::from_labels(&key);
                b.del(METRIC_NAME);
                index.insert(key, groups.len());
                groups.push((b.build(), Vec::new()));
                groups.len() - 1
            }
        };
        groups[g].1.push((i, upper));
    }
    let steps = ev.steps();
    let mut cursors = vec![0usize; input.len()];
    let mut out: Vec<Vec<Sample>> = vec![Vec::new(); groups.len()];
    // Per group: (first step with a value, first member series there).
    let mut first = vec![(usize::MAX, usize::MAX); groups.len()];
    let mut buckets: Vec<Bucket> = Vec::new();
    let mut held = 0;
    for (step, &q) in q.iter().enumerate().take(steps) {
        if step % CHECK_EVERY == CHECK_EVERY - 1 {
            ev.ctx.limits.check()?;
        }
        let ts = ev.step_ts(step);
        for (g, (_, members)) in groups.iter().enumerate() {
            buckets.clear();
            let mut first_member = usize::MAX;
            for &(i, upper) in members {
                let samples = &input[i].samples;
                let c = &mut cursors[i];
                while *c < samples.len() && samples[*c].t < ts {
                    *c += 1;
                }
                if let Some(p) = samples.get(*c).filter(|p| p.t == ts) {
                    first_member = first_member.min(i);
                    buckets.push(Bucket { upper, count: p.v });
                }
            }
            if buckets.is_empty() {
                continue;
            }
            if first[g].0 == usize::MAX {
                first[g] = (step, first_member);
            }
            out[g].push(Sample::new(ts, bucket_quantile(q, &mut buckets)));
            held += 1;
        }
    }
    ev.ctx.limits.add(held)?;
    ev.ctx
        .limits
        .release(input.iter().map(|s| s.samples.len()).sum());
    let gathered = groups
        .into_iter()
        .zip(out)
        .zip(first)
        .map(|(((labels, _), samples), first)| (first, Series { labels, samples }));
    Ok(Val::Vector(gather_columns(gathered)?))
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

/// Merges buckets with the same bound (e.g. `le="1"` and `le="1.0"`), in
/// place.
fn coalesce(buckets: &mut Vec<Bucket>) {
    let mut kept = 0;
    for i in 0..buckets.len() {
        let b = buckets[i];
        if kept > 0 && buckets[kept - 1].upper == b.upper {
            buckets[kept - 1].count += b.count;
        } else {
            buckets[kept] = b;
            kept += 1;
        }
    }
    buckets.truncate(kept);
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
