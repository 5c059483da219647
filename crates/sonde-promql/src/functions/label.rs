//! Functions that rewrite labels (`label_replace`, `label_join`) and the
//! label set `absent` and `absent_over_time` report.

use std::collections::HashMap;

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{Call, Expr};
use sonde_model::{is_valid_label_name, Labels, LabelsBuilder, PromRegex, METRIC_NAME};

use super::instant::{arg, eval_args};
use crate::error::{QueryError, Result};
use crate::eval::{Evaluator, OutSample, Val};

fn string_arg(call: &Call, i: usize) -> Result<&str> {
    match arg(call, i)? {
        Expr::StringLiteral(s) => Ok(&s.val),
        other => Err(QueryError::BadData(format!(
            "expected a string literal as argument {} of {}, got {other}",
            i + 1,
            call.func.name
        ))),
    }
}

/// `label_replace(v, dst, replacement, src, regex)`: where the anchored
/// regex matches the value of `src`, sets `dst` to the expanded
/// replacement (`$1`, `${name}`); an empty result removes `dst`.
pub(crate) fn label_replace(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let dst = string_arg(call, 1)?;
    let replacement = string_arg(call, 2)?;
    let src = string_arg(call, 3)?;
    let pattern = string_arg(call, 4)?;
    let re = PromRegex::new(pattern).map_err(|_| {
        QueryError::exec(format!(
            "invalid regular expression in label_replace(): {pattern}"
        ))
    })?;
    if !is_valid_label_name(dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let args = [ev.eval(arg(call, 0)?)?];
    // The rewrite depends only on the input labels: compute once per series.
    let mut cache: HashMap<usize, Labels> = HashMap::new();
    let mut expanded = String::new();
    ev.range_eval(&args, |a, _| {
        let mut out = Vec::new();
        for s in a[0].vector() {
            let labels = cache.entry(s.idx).or_insert_with(|| {
                let value = s.labels.get(src).unwrap_or("");
                match re.inner().captures(value) {
                    None => s.labels.clone(),
                    Some(caps) => {
                        expanded.clear();
                        caps.expand(replacement, &mut expanded);
                        let mut b = LabelsBuilder::from_labels(s.labels);
                        b.set(dst, &expanded);
                        b.build()
                    }
                }
            });
            out.push(OutSample {
                labels: labels.clone(),
                v: s.v,
            });
        }
        Ok(out)
    })
}

/// `label_join(v, dst, separator, src...)`: sets `dst` to the values of the
/// source labels joined by the separator.
pub(crate) fn label_join(ev: &Evaluator<'_, '_>, call: &Call) -> Result<Val> {
    let dst = string_arg(call, 1)?;
    let sep = string_arg(call, 2)?;
    let srcs = (3..call.args.args.len())
        .map(|i| string_arg(call, i))
        .collect::<Result<Vec<_>>>()?;
    for src in &srcs {
        if !is_valid_label_name(src) {
            return Err(QueryError::exec(format!(
                "invalid source label name in label_join(): {src}"
            )));
        }
    }
    if !is_valid_label_name(dst) {
        return Err(QueryError::exec(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let args = eval_args(ev, call)?;
    let mut cache: HashMap<usize, Labels> = HashMap::new();
    ev.range_eval(&args[..1], |a, _| {
        let mut out = Vec::new();
        for s in a[0].vector() {
            let labels = cache.entry(s.idx).or_insert_with(|| {
                let joined = srcs
                    .iter()
                    .map(|n| s.labels.get(n).unwrap_or(""))
                    .collect::<Vec<_>>()
                    .join(sep);
                let mut b = LabelsBuilder::from_labels(s.labels);
                b.set(dst, &joined);
                b.build()
            });
            out.push(OutSample {
                labels: labels.clone(),
                v: s.v,
            });
        }
        Ok(out)
    })
}

/// The labels `absent(sel)` reports: the selector's equality matchers, except
/// a label matched more than once or by another operator (Prometheus'
/// historic behaviour).
pub(crate) fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::empty(),
    };
    let mut b = LabelsBuilder::new();
    let mut has: Vec<&str> = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if matches!(m.op, PMatchOp::Equal) && !has.contains(&m.name.as_str()) {
            b.set(&m.name, &m.value);
            has.push(&m.name);
        } else {
            b.del(&m.name);
        }
    }
    b.build()
}
