//! Functions over a range vector: one output value per series and step,
//! computed from the samples in the window `[t-range, t]`. All of them
//! drop the metric name except `last_over_time`, as in Prometheus 2.42.

use promql_parser::parser::{Call, Expr};
use sonde_model::{Labels, Sample, Timestamp};

use crate::error::{QueryError, Result};
use crate::eval::{
    check_same_labelset, drop_metric_name, unwrap_parens, Evaluator, RangeSource, Series, Val,
    SERIES_PER_CHECK,
};
use crate::functions::label::absent_labels;
use crate::math::{kahan_inc, quantile};

/// What a range function sees besides the window's samples.
pub(crate) struct RangeCall<'a> {
    pub mint: Timestamp,
    pub maxt: Timestamp,
    /// The range in seconds (`range_ms as f64 / 1000.0`, divided once).
    pub range_secs: f64,
    pub ts: Timestamp,
    /// The scalar arguments at this step, in call order.
    pub params: &'a [f64],
    /// No sample of the window is below the one before it (only worked
    /// out for `rate` and `increase`; `false` elsewhere).
    pub no_drops: bool,
}

/// Computes one value from a non-empty window, or nothing.
pub(crate) type RangeFn = fn(&[Sample], &RangeCall<'_>) -> Result<Option<f64>>;

const RANGE_FUNCTIONS: &[(&str, RangeFn)] = &[
    ("absent_over_time", |_, _| Ok(Some(1.0))),
    ("avg_over_time", avg_over_time),
    ("changes", changes),
    ("count_over_time", |s, _| Ok(Some(s.len() as f64))),
    ("delta", |s, c| Ok(extrapolated_rate(s, c, false, false))),
    ("deriv", deriv),
    ("holt_winters", holt_winters),
    ("idelta", |s, _| Ok(instant_value(s, false))),
    ("increase", |s, c| Ok(extrapolated_rate(s, c, true, false))),
    ("irate", |s, _| Ok(instant_value(s, true))),
    ("last_over_time", |s, _| Ok(s.last().map(|p| p.v))),
    ("max_over_time", max_over_time),
    ("min_over_time", min_over_time),
    ("predict_linear", predict_linear),
    ("present_over_time", |_, _| Ok(Some(1.0))),
    ("quantile_over_time", quantile_over_time),
    ("rate", |s, c| Ok(extrapolated_rate(s, c, true, true))),
    ("resets", resets),
    ("stddev_over_time", |s, _| Ok(Some(stdvar(s).sqrt()))),
    ("stdvar_over_time", |s, _| Ok(Some(stdvar(s)))),
    ("sum_over_time", sum_over_time),
];

pub(crate) fn lookup(name: &str) -> Option<RangeFn> {
    RANGE_FUNCTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

/// Evaluates a range function: scalar arguments first, then every series
/// of the range argument walked once over all steps.
pub(crate) fn eval(ev: &Evaluator<'_, '_>, call: &Call, f: RangeFn) -> Result<Val> {
    let name = call.func.name;
    let mut params: Vec<Vec<f64>> = Vec::new();
    // Prometheus 2.42 evaluates a call whose arguments are all fixed in
    // time (`@`, literals) once; otherwise, a range argument pinned with `@`
    // is turned into an offset from the query start and so slides with the
    // evaluation time in range queries (`predict_linear` is never fixed).
    // Reproduced, since results must match.
    let slide = name == "predict_linear"
        || call
            .args
            .args
            .iter()
            .any(|a| !is_range_arg(a) && !crate::compat::is_step_invariant(a));
    let mut source: Option<(RangeSource, &Expr)> = None;
    for arg in &call.args.args {
        let arg = unwrap_parens(arg);
        match arg {
            Expr::MatrixSelector(ms) => {
                let mut src = ev.matrix_source(ms)?;
                if slide && ms.vs.at.is_some() {
                    let pinned = ev.ref_time(ev.start, &ms.vs.at, &ms.vs.offset);
                    src.slide_from = Some(ev.start);
                    src.data_max = Some(src.data_max.map_or(pinned, |m| m.min(pinned)));
                }
                source = Some((src, arg));
            }
            Expr::Subquery(sq) => source = Some((ev.subquery_source_with(sq, slide)?, arg)),
            other => params.push(ev.eval_scalar(other)?),
        }
    }
    let Some((src, arg)) = source else {
        return Err(QueryError::BadData(format!(
            "expected a range vector argument in call to {name}"
        )));
    };
    let keep_name = name == "last_over_time";
    // A pinned window with fixed arguments gives the same value at every
    // step: compute it once and repeat it (2.42's step-invariant path).
    let pinned = !slide && src.at.is_some() && ev.steps() > 1;
    let once = ev.first_step_only();
    let walk_ev = if pinned { &once } else { ev };
    let mut out = Vec::new();
    let mut step_params = vec![0.0; params.len()];
    // `rate` and `increase` skip their counter-reset scan over windows
    // without a drop, which `drops` (running count per sample) tells.
    let counts_resets = matches!(name, "rate" | "increase");
    let mut drops: Vec<u32> = Vec::new();
    let mut buf = Vec::new();
    let range_secs = src.range as f64 / 1000.0;
    for (i, s) in src.series.iter().enumerate() {
        if i % SERIES_PER_CHECK == SERIES_PER_CHECK - 1 {
            ev.ctx.limits.check()?;
        }
        let samples = src.load(walk_ev, s, &mut buf);
        if counts_resets {
            running_drops(samples, &mut drops);
        }
        let mut points = Vec::with_capacity(if samples.is_empty() {
            0
        } else {
            walk_ev.steps()
        });
        if params.is_empty() && src.is_plain(walk_ev) {
            plain_points(walk_ev, &src, name, f, samples, &drops, &mut points)?;
        } else {
            src.walk_loaded(walk_ev, samples, |step, w, from| {
                if w.samples.is_empty() {
                    return Ok(());
                }
                for (dst, p) in step_params.iter_mut().zip(&params) {
                    *dst = p[step];
                }
                let ts = ev.step_ts(step);
                let last = from + w.samples.len() - 1;
                let c = RangeCall {
                    mint: w.mint,
                    maxt: w.maxt,
                    range_secs,
                    ts,
                    params: &step_params,
                    no_drops: counts_resets && no_drop_in(&drops, from, last),
                };
                if let Some(v) = f(w.samples, &c)? {
                    points.push(Sample::new(ts, v));
                }
                Ok(())
            })?;
        }
        if let (true, Some(p)) = (pinned, points.first()) {
            let v = p.v;
            points = (0..ev.steps())
                .map(|i| Sample::new(ev.step_ts(i), v))
                .collect();
        }
        if !points.is_empty() {
            ev.ctx.limits.add(points.len())?;
            let labels = if keep_name {
                s.labels().clone()
            } else {
                drop_metric_name(s.labels())
            };
            out.push(Series {
                labels,
                samples: points,
            });
        }
    }
    // A subquery's inner result is consumed now.
    ev.ctx.limits.release(src.memory_samples());
    if name == "absent_over_time" {
        return Ok(Val::Vector(absent_steps(ev, &out, absent_labels(arg))));
    }
    check_same_labelset(&out)?;
    Ok(Val::Vector(out))
}

/// The points of a range function without scalar arguments over a
/// source whose windows are plain ([`RangeSource::is_plain`]): `rate`,
/// `increase` and `delta` computed inline (a third of `latency_p99`'s
/// range query went into the generic call per window), the others through
/// `f`; the same values as the general walk, bit for bit.
fn plain_points(
    ev: &Evaluator<'_, '_>,
    src: &RangeSource,
    name: &str,
    f: RangeFn,
    samples: &[Sample],
    drops: &[u32],
    points: &mut Vec<Sample>,
) -> Result<()> {
    match name {
        "rate" => extrapolated_points::<true, true>(ev, src, samples, drops, points),
        "increase" => extrapolated_points::<true, false>(ev, src, samples, drops, points),
        "delta" => extrapolated_points::<false, false>(ev, src, samples, drops, points),
        _ => {
            let range_secs = src.range as f64 / 1000.0;
            let mut failed = None;
            src.walk_plain(ev, samples, |ts, lo, hi, mint, maxt| {
                if lo == hi || failed.is_some() {
                    return;
                }
                let c = RangeCall {
                    mint,
                    maxt,
                    range_secs,
                    ts,
                    params: &[],
                    no_drops: false,
                };
                match f(&samples[lo..hi], &c) {
                    Ok(Some(v)) => points.push(Sample::new(ts, v)),
                    Ok(None) => {}
                    Err(e) => failed = Some(e),
                }
            })?;
            failed.map_or(Ok(()), Err)
        }
    }
}

/// `rate` (`COUNTER` and `RATE`), `increase` (`COUNTER`) or `delta`
/// (neither) at every step, `drops` being [`running_drops`] of `samples`
/// for counters.
fn extrapolated_points<const COUNTER: bool, const RATE: bool>(
    ev: &Evaluator<'_, '_>,
    src: &RangeSource,
    samples: &[Sample],
    drops: &[u32],
    points: &mut Vec<Sample>,
) -> Result<()> {
    let range_secs = src.range as f64 / 1000.0;
    src.walk_plain(ev, samples, |ts, lo, hi, mint, maxt| {
        if hi - lo < 2 {
            return;
        }
        let c = RangeCall {
            mint,
            maxt,
            range_secs,
            ts,
            params: &[],
            no_drops: COUNTER && no_drop_in(drops, lo, hi - 1),
        };
        if let Some(v) = extrapolated_rate(&samples[lo..hi], &c, COUNTER, RATE) {
            points.push(Sample::new(ts, v));
        }
    })
}

fn is_range_arg(e: &Expr) -> bool {
    matches!(
        unwrap_parens(e),
        Expr::MatrixSelector(_) | Expr::Subquery(_)
    )
}

/// `drops[i]`: how many samples of `samples[..=i]` are below the one
/// before them (`p.v < prev.v`, as the counter-reset scan compares), so a
/// window `from..=last` has `drops[last] - drops[from]` of them; left
/// empty when no sample is below the one before it (a counter that never
/// reset: no window has a drop, and filling the counts was 5% of
/// `latency_p99`'s range query).
fn running_drops(samples: &[Sample], drops: &mut Vec<u32>) {
    drops.clear();
    if !samples.windows(2).any(|w| w[1].v < w[0].v) {
        return;
    }
    let mut n = 0u32;
    let mut prev = f64::NAN;
    for p in samples {
        if p.v < prev {
            n += 1;
        }
        prev = p.v;
        drops.push(n);
    }
}

/// Whether no sample of `from..=last` is below the one before it, by
/// [`running_drops`]' counts.
#[inline(always)]
fn no_drop_in(drops: &[u32], from: usize, last: usize) -> bool {
    drops.is_empty() || drops[last] == drops[from]
}

/// `absent_over_time`: 1 at the steps where no series had a sample.
fn absent_steps(ev: &Evaluator<'_, '_>, present: &[Series], labels: Labels) -> Vec<Series> {
    let mut seen = vec![false; ev.steps()];
    for s in present {
        for p in &s.samples {
            seen[((p.t - ev.start) / ev.interval) as usize] = true;
        }
    }
    let samples: Vec<Sample> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| !**s)
        .map(|(i, _)| Sample::new(ev.step_ts(i), 1.0))
        .collect();
    if samples.is_empty() {
        return Vec::new();
    }
    vec![Series { labels, samples }]
}

/// `rate`, `increase` and `delta`: the change over the window, extrapolated
/// towards the window's edges (Prometheus 2.42's `extrapolatedRate`).
#[inline(always)]
fn extrapolated_rate(
    s: &[Sample],
    c: &RangeCall<'_>,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (first, last) = (s[0], s[s.len() - 1]);
    let mut result = last.v - first.v;
    if is_counter && c.no_drops {
        // What the scan below does when no sample drops: only the first
        // sample is compared, with 0.
        if first.v < 0.0 {
            result += 0.0;
        }
    } else if is_counter {
        let mut last_value = 0.0;
        for p in s {
            if p.v < last_value {
                result += last_value;
            }
            last_value = p.v;
        }
    }
    let mut duration_to_start = (first.t - c.mint) as f64 / 1000.0;
    let duration_to_end = (c.maxt - last.t) as f64 / 1000.0;
    let sampled_interval = (last.t - first.t) as f64 / 1000.0;
    let average_between = sampled_interval / (s.len() - 1) as f64;
    if is_counter && result > 0.0 && first.v >= 0.0 {
        // A counter cannot go below zero: do not extrapolate past the point
        // where it would have been zero.
        let duration_to_zero = sampled_interval * (first.v / result);
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    // Extrapolate to an edge only when it is about one interval away (10%
    // slack for jitter); otherwise extend by half an interval.
    let threshold = average_between * 1.1;
    let mut extrapolate_to = sampled_interval;
    extrapolate_to += if duration_to_start < threshold {
        duration_to_start
    } else {
        average_between / 2.0
    };
    extrapolate_to += if duration_to_end < threshold {
        duration_to_end
    } else {
        average_between / 2.0
    };
    let mut factor = extrapolate_to / sampled_interval;
    if is_rate {
        factor /= c.range_secs;
    }
    Some(result * factor)
}

/// `irate` and `idelta`: from the last two samples only.
fn instant_value(s: &[Sample], is_rate: bool) -> Option<f64> {
    if s.len() < 2 {
        return None;
    }
    let (prev, last) = (s[s.len() - 2], s[s.len() - 1]);
    let mut result = last.v - prev.v;
    if is_rate && last.v < prev.v {
        result = last.v; // counter reset
    }
    let interval = last.t - prev.t;
    if interval == 0 {
        return None;
    }
    if is_rate {
        result /= interval as f64 / 1000.0;
    }
    Some(result)
}

/// Least squares fit of value over time (seconds relative to
/// `intercept_time`), with compensated sums; constant input gives a slope
/// of exactly 0.
fn linear_regression(s: &[Sample], intercept_time: Timestamp) -> (f64, f64) {
    let (mut n, mut sum_x, mut c_x, mut sum_y, mut c_y) = (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut sum_xy, mut c_xy, mut sum_x2, mut c_x2) = (0.0, 0.0, 0.0, 0.0);
    let init_y = s[0].v;
    let mut const_y = true;
    for (i, p) in s.iter().enumerate() {
        if const_y && i > 0 && p.v != init_y {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - intercept_time) as f64 / 1e3;
        (sum_x, c_x) = kahan_inc(x, sum_x, c_x);
        (sum_y, c_y) = kahan_inc(p.v, sum_y, c_y);
        (sum_xy, c_xy) = kahan_inc(x * p.v, sum_xy, c_xy);
        (sum_x2, c_x2) = kahan_inc(x * x, sum_x2, c_x2);
    }
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let (sum_x, sum_y, sum_xy, sum_x2) = (sum_x + c_x, sum_y + c_y, sum_xy + c_xy, sum_x2 + c_x2);
    let cov_xy = sum_xy - sum_x * sum_y / n;
    let var_x = sum_x2 - sum_x * sum_x / n;
    let slope = cov_xy / var_x;
    let intercept = sum_y / n - slope * sum_x / n;
    (slope, intercept)
}

fn deriv(s: &[Sample], _: &RangeCall<'_>) -> Result<Option<f64>> {
    if s.len() < 2 {
        return Ok(None);
    }
    // Relative to the first sample's time, to keep the sums small.
    Ok(Some(linear_regression(s, s[0].t).0))
}

fn predict_linear(s: &[Sample], c: &RangeCall<'_>) -> Result<Option<f64>> {
    if s.len() < 2 {
        return Ok(None);
    }
    let (slope, intercept) = linear_regression(s, c.ts);
    Ok(Some(slope * c.params[0] + intercept))
}

/// Double exponential smoothing with smoothing factor `sf` and trend
/// factor `tf`, both strictly between 0 and 1.
fn holt_winters(s: &[Sample], c: &RangeCall<'_>) -> Result<Option<f64>> {
    let (sf, tf) = (c.params[0], c.params[1]);
    if sf <= 0.0 || sf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"
        )));
    }
    if tf <= 0.0 || tf >= 1.0 {
        return Err(QueryError::exec(format!(
            "invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"
        )));
    }
    if s.len() < 2 {
        return Ok(None);
    }
    let (mut s0, mut s1) = (0.0, s[0].v);
    let mut b = s[1].v - s[0].v;
    for (i, p) in s.iter().enumerate().skip(1) {
        let x = sf * p.v;
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let y = (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    Ok(Some(s1))
}

fn changes(s: &[Sample], _: &RangeCall<'_>) -> Result<Option<f64>> {
    let n = s
        .windows(2)
        .filter(|w| w[0].v != w[1].v && !(w[0].v.is_nan() && w[1].v.is_nan()))
        .count();
    Ok(Some(n as f64))
}

fn resets(s: &[Sample], _: &RangeCall<'_>) -> Result<Option<f64>> {
    Ok(Some(s.windows(2).filter(|w| w[1].v < w[0].v).count() as f64))
}

/// Incremental mean with compensated summation, which cannot overflow and
/// keeps infinities (Prometheus 2.42 already sums this one with Kahan).
fn avg_over_time(s: &[Sample], _: &RangeCall<'_>) -> Result<Option<f64>> {
    let (mut mean, mut count, mut c) = (0.0f64, 0.0f64, 0.0f64);
    for p in s {
        count += 1.0;
        if mean.is_infinite() {
            if p.v.is_infinite() && (mean > 0.0) == (p.v > 0.0) {
                continue;
            }
            if !p.v.is_infinite() && !p.v.is_nan() {
                continue;
            }
        }
        (mean, c) = kahan_inc(p.v / count - mean / count, mean, c);
    }
    Ok(Some(if mean.is_infinite() { mean } else { mean + c }))
}

/// Compensated sum; an infinite sum is returned as is (its compensation
/// term would be NaN).
fn sum_over_time(s: &[Sample], _: &RangeCall<'_>) -> Result<Option<f64>> {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for p in s {
        (sum, c) = kahan_inc(p.v, sum, c);
    }
    Ok(Some(if sum.is_infinite() { sum } else { sum + c }))
}

fn max_over_time(s: &[Sample], _: &RangeCall<'_>) -> Result<Option<f64>> {
    let mut m = s[0].v;
    for p in &s[1..] {
        if p.v > m || m.is_nan() {
            m = p.v;
        }
    }
    Ok(Some(m))
}

fn min_over_time(s: &[Sample], _: &RangeCall<'_>) -> Result<Option<f64>> {
    let mut m = s[0].v;
    for p in &s[1..] {
        if p.v < m || m.is_nan() {
            m = p.v;
        }
    }
    Ok(Some(m))
}

fn quantile_over_time(s: &[Sample], c: &RangeCall<'_>) -> Result<Option<f64>> {
    let mut values: Vec<f64> = s.iter().map(|p| p.v).collect();
    Ok(Some(quantile(c.params[0], &mut values)))
}

/// Population variance by Welford's method with compensated sums.
fn stdvar(s: &[Sample]) -> f64 {
    let (mut count, mut mean, mut c_mean, mut aux, mut c_aux) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in s {
        count += 1.0;
        let delta = p.v - (mean + c_mean);
        (mean, c_mean) = kahan_inc(delta / count, mean, c_mean);
        (aux, c_aux) = kahan_inc(delta * (p.v - (mean + c_mean)), aux, c_aux);
    }
    (aux + c_aux) / count
}
