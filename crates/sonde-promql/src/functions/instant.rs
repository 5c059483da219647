//! Functions over instant vectors and scalars, applied step by step.
//! Element-wise math drops the metric name; `sort`, `sort_desc`,
//! `label_replace` and `label_join` keep it.

use promql_parser::parser::{Call, Expr};
use sonde_model::Labels;

use super::{date, histogram, label};
use crate::error::{QueryError, Result};
use crate::eval::{drop_metric_name, unwrap_parens, Evaluator, OutSample, Series, Val};
use crate::math::{go_sort, nan_first_greater, nan_first_less};

/// How an instant function is computed.
#[derive(Clone, Copy)]
pub(crate) enum InstantFn {
    /// Element-wise on values, dropping the metric name.
    Math(fn(f64) -> f64),
    /// Anything else.
    Special(fn(&Evaluator<'_, '_>, &Call) -> Result<Val>),
}

use InstantFn::{Math, Special};

const INSTANT_FUNCTIONS: &[(&str, InstantFn)] = &[
    ("abs", Math(f64::abs)),
    ("absent", Special(absent)),
    ("acos", Math(f64::acos)),
    ("acosh", Math(f64::acosh)),
    ("asin", Math(f64::asin)),
    ("asinh", Math(f64::asinh)),
    ("atan", Math(f64::atan)),
    ("atanh", Math(f64::atanh)),
    ("ceil", Math(f64::ceil)),
    ("clamp", Special(clamp)),
    ("clamp_max", Special(clamp_max)),
    ("clamp_min", Special(clamp_min)),
    ("cos", Math(f64::cos)),
    ("cosh", Math(f64::cosh)),
    ("day_of_month", Special(date::day_of_month)),
    ("day_of_week", Special(date::day_of_week)),
    ("day_of_year", Special(date::day_of_year)),
    ("days_in_month", Special(date::days_in_month)),
    ("deg", Math(|v| v * 180.0 / std::f64::consts::PI)),
    ("exp", Math(f64::exp)),
    ("floor", Math(f64::floor)),
    ("histogram_count", Special(histogram::native_only)),
    ("histogram_fraction", Special(histogram::native_only)),
    ("histogram_quantile", Special(histogram::histogram_quantile)),
    ("histogram_sum", Special(histogram::native_only)),
    ("hour", Special(date::hour)),
    ("label_join", Special(label::label_join)),
    ("label_replace", Special(label::label_replace)),
    ("ln", Math(f64::ln)),
    ("log10", Math(f64::log10)),
    ("log2", Math(f64::log2)),
    ("minute", Special(date::minute)),
    ("month", Special(date::month)),
    ("pi", Special(pi)),
    ("rad", Math(|v| v * std::f64::consts::PI / 180.0)),
    ("round", Special(round)),
    ("scalar", Special(scalar)),
    ("sgn", Math(sgn)),
    ("sin", Math(f64::sin)),
    ("sinh", Math(f64::sinh)),
    ("sort", Special(sort)),
    ("sort_desc", Special(sort_desc)),
    ("sqrt", Math(f64::sqrt)),
    ("tan", Math(f64::tan)),
    ("tanh", Math(f64::tanh)),
    ("time", Special(time)),
    ("timestamp", Special(timestamp)),
    ("vector", Special(vector)),
    ("year", Special(date::year)),
];

pub(crate) fn lookup(name: &str) -> Option<InstantFn> {
    INSTANT_FUNCTIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

pub(crate) fn eval(ev: &Evaluator<'_, '_>, call: &Call, f: InstantFn) -> Result<Val> {
    match f {
        Math(op) => map_values(ev, call, |v, _| Some(op(v))),
        Special(f) => f(ev, call),
    }
}

/// The call's arguments, parentheses removed.
pub(crate) fn arg(call: &Call, i: usize) -> Result<&Expr> {
    call.args
        .args
        .get(i)
        .map(|a| unwrap_parens(a))
        .ok_or_else(|| {
            QueryError::BadData(format!(
                "missing argument {} in call to {}",
                i + 1,
                call.func.name
            ))
        })
}

/// Evaluates every argument of the call.
pub(crate) fn eval_args(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Vec<Val>> {
    call.args.args.iter().map(|a| ev.eval(a)).collect()
}

/// Applies `f(value, other scalar args)` to each element of the first
/// argument, dropping the metric name; `None` drops the element.
pub(crate) fn map_values(
    ev: &Evaluator<'_, '_>,
    call: &Call,
    f: impl Fn(f64, &[f64]) -> Option<f64>,
) -> Result<Val> {
    let mut args = eval_args(ev, call)?.into_iter();
    let input = match args.next() {
        Some(Val::Vector(v)) => v,
        _ => {
            return Err(QueryError::BadData(format!(
                "expected an instant vector as the first argument of {}",
                call.func.name
            )))
        }
    };
    let params: Vec<Vec<f64>> = args
        .map(|a| match a {
            Val::Scalar(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected a scalar argument in call to {}, got {}",
                call.func.name,
                crate::eval::val_type_name(&other)
            ))),
        })
        .collect::<Result<_>>()?;
    let mut scalars = vec![0.0; params.len()];
    ev.map_series(
        input,
        |l| drop_metric_name(&l),
        |step, v| {
            for (dst, p) in scalars.iter_mut().zip(&params) {
                *dst = p[step];
            }
            f(v, &scalars)
        },
    )
}

fn sgn(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v // 0 and NaN stay as they are
    }
}

/// Go's `math.Max`: +Inf wins even over NaN, then NaN wins, +0 beats -0.
pub(crate) fn go_max(a: f64, b: f64) -> f64 {
    if a == f64::INFINITY || b == f64::INFINITY {
        return f64::INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    if a > b {
        a
    } else {
        b
    }
}

/// Go's `math.Min`: -Inf wins even over NaN, then NaN wins, -0 beats +0.
pub(crate) fn go_min(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY || b == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    if a < b {
        a
    } else {
        b
    }
}

fn clamp(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    map_values(ev, call, |v, p| {
        let (min, max) = (p[0], p[1]);
        if max < min {
            return None;
        }
        Some(go_max(min, go_min(max, v)))
    })
}

fn clamp_max(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    map_values(ev, call, |v, p| Some(go_min(v, p[0])))
}

fn clamp_min(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    map_values(ev, call, |v, p| Some(go_max(v, p[0])))
}

fn round(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    map_values(ev, call, |v, p| {
        // Dividing by the inverse, as Prometheus does, avoids 0.1*3 noise.
        let inverse = 1.0 / p.first().copied().unwrap_or(1.0);
        Some((v * inverse + 0.5).floor() / inverse)
    })
}

fn pi(ev: &Evaluator<'_, '_>, _: &Call) -> Result<Val> {
    Ok(Val::Scalar(vec![std::f64::consts::PI; ev.steps()]))
}

fn time(ev: &Evaluator<'_, '_>, _: &Call) -> Result<Val> {
    Ok(Val::Scalar(
        (0..ev.steps())
            .map(|i| ev.step_ts(i) as f64 / 1000.0)
            .collect(),
    ))
}

fn vector(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let v = ev.eval_scalar(arg(call, 0)?)?;
    let samples = v
        .into_iter()
        .enumerate()
        .map(|(i, v)| sonde_model::Sample::new(ev.step_ts(i), v))
        .collect();
    Ok(Val::Vector(vec![Series {
        labels: Labels::empty(),
        samples,
    }]))
}

/// The single element's value, or NaN when there is not exactly one.
fn scalar(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let series = ev.eval_vector(arg(call, 0)?)?;
    let mut out = vec![f64::NAN; ev.steps()];
    let mut count = vec![0u32; ev.steps()];
    for s in &series {
        for p in &s.samples {
            let i = ((p.t - ev.start) / ev.interval) as usize;
            count[i] += 1;
            out[i] = p.v;
        }
    }
    for (o, c) in out.iter_mut().zip(count) {
        if c != 1 {
            *o = f64::NAN;
        }
    }
    Ok(Val::Scalar(out))
}

fn absent(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let a = arg(call, 0)?;
    let labels = label::absent_labels(a);
    let args = [ev.eval(a)?];
    ev.range_eval(&args, |a, _| {
        if a[0].vector().is_empty() {
            Ok(vec![OutSample {
                labels: labels.clone(),
                v: 1.0,
            }])
        } else {
            Ok(Vec::new())
        }
    })
}

fn sort(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    sort_by(ev, call, |a, b| nan_first_greater(b, a))
}

fn sort_desc(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    sort_by(ev, call, |a, b| nan_first_less(b, a))
}

fn sort_by(ev: &Evaluator<'_, '_>, call: &Call, less: fn(f64, f64) -> bool) -> Result<Val> {
    let args = eval_args(ev, call)?;
    ev.range_eval(&args, |a, _| {
        let mut out: Vec<OutSample> = a[0]
            .vector()
            .iter()
            .map(|s| OutSample {
                labels: s.labels.clone(),
                v: s.v,
            })
            .collect();
        go_sort(&mut out, |x, y| less(x.v, y.v));
        Ok(out)
    })
}

/// The time of each element in seconds: for a plain selector the time of
/// the sample it came from, otherwise the evaluation time.
fn timestamp(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let a = arg(call, 0)?;
    if let Expr::VectorSelector(vs) = a {
        // Prometheus 2.42 drops the offset of a selector pinned with `@`
        // here (it re-derives the offset from the `@` time at each step).
        let mut vs = vs.clone();
        if vs.at.is_some() {
            vs.offset = None;
        }
        // Step by step, as upstream: series that differ only by name and
        // never meet at one step merge instead of failing.
        let args = [ev.eval_vector_selector(&vs, true)?];
        return ev.range_eval(&args, |a, _| {
            Ok(a[0]
                .vector()
                .iter()
                .map(|s| OutSample {
                    labels: drop_metric_name(s.labels),
                    v: s.v,
                })
                .collect())
        });
    }
    let args = [ev.eval(a)?];
    ev.range_eval(&args, |a, ts| {
        Ok(a[0]
            .vector()
            .iter()
            .map(|s| OutSample {
                labels: drop_metric_name(s.labels),
                v: ts as f64 / 1000.0,
            })
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_min_max_special_cases() {
        assert_eq!(go_min(f64::NAN, f64::NEG_INFINITY), f64::NEG_INFINITY);
        assert_eq!(go_max(f64::INFINITY, f64::NAN), f64::INFINITY);
        assert!(go_min(f64::NAN, 1.0).is_nan());
        assert!(go_max(1.0, f64::NAN).is_nan());
        assert!(go_min(0.0, -0.0).is_sign_negative());
        assert!(go_max(-0.0, 0.0).is_sign_positive());
        assert_eq!(go_max(-1.0, go_min(f64::NAN, f64::NEG_INFINITY)), -1.0);
    }
}
