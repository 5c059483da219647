//! One-to-one arithmetic and comparisons between two instant vectors,
//! series by series: when no two series of a side share a match signature
//! (the usual case, e.g. `a / b` over the same targets), each left series
//! has at most one partner for the whole query, so pairs, result labels and
//! hashes are worked out once, and each pair's points are joined by step.
//! Otherwise the step-wise evaluation, which words the errors about
//! ambiguous matches, is used.

use promql_parser::parser::VectorMatchCardinality;

use super::{elem_binop, result_labels, BinOp, Matching};
use crate::error::Result;
use crate::eval::{drop_metric_name, gather_columns, Evaluator, Series, Val};
use crate::hash::IdMap;

/// The result of `lhs op rhs`, or `None` when the step-wise evaluation
/// must do it (set operators, group modifiers, repeated signatures).
pub(super) fn vector_vector(
    ev: &Evaluator<'_, '_>,
    op: BinOp,
    m: &Matching,
    lhs: &[Series],
    rhs: &[Series],
    return_bool: bool,
) -> Result<Option<Val>> {
    if matches!(op, BinOp::And | BinOp::Or | BinOp::Unless)
        || !matches!(m.card, VectorMatchCardinality::OneToOne)
    {
        return Ok(None);
    }
    let names = m.hash_names();
    let Some(left) = unique_signatures(lhs, m, &names) else {
        return Ok(None);
    };
    let Some(right) = unique_signatures(rhs, m, &names) else {
        return Ok(None);
    };
    let by_sig: IdMap<usize> = right.into_iter().enumerate().map(|(j, h)| (h, j)).collect();
    let mut held = 0;
    let mut parts = Vec::new();
    for (i, (l, sig)) in lhs.iter().zip(left).enumerate() {
        if i % 256 == 255 {
            ev.ctx.limits.check()?;
        }
        let Some(&j) = by_sig.get(&sig) else {
            continue;
        };
        let r = &rhs[j];
        let samples = join(op, &l.samples, &r.samples, return_bool);
        let Some(first) = samples.first() else {
            continue;
        };
        let first_step = ((first.t - ev.start) / ev.interval) as usize;
        let mut labels = result_labels(&l.labels, &r.labels, op, m);
        if return_bool {
            labels = drop_metric_name(&labels);
        }
        held += samples.len();
        parts.push(((first_step, i), Series { labels, samples }));
    }
    let out = gather_columns(parts)?;
    ev.ctx.limits.add(held)?;
    let input: usize = lhs.iter().chain(rhs).map(|s| s.samples.len()).sum();
    ev.ctx.limits.release(input);
    Ok(Some(Val::Vector(out)))
}

/// Each series' match signature hash, or `None` if two share one.
fn unique_signatures(side: &[Series], m: &Matching, names: &[&str]) -> Option<Vec<u64>> {
    let sigs: Vec<u64> = side
        .iter()
        .map(|s| m.signature_hash(&s.labels, names))
        .collect();
    let mut seen = crate::hash::IdSet::default();
    sigs.iter().all(|h| seen.insert(*h)).then_some(sigs)
}

/// The points of a pair at the steps both have one.
fn join(
    op: BinOp,
    l: &[sonde_model::Sample],
    r: &[sonde_model::Sample],
    return_bool: bool,
) -> Vec<sonde_model::Sample> {
    let mut out = Vec::with_capacity(l.len().min(r.len()));
    let (mut i, mut j) = (0, 0);
    while i < l.len() && j < r.len() {
        if l[i].t < r[j].t {
            i += 1;
        } else if l[i].t > r[j].t {
            j += 1;
        } else {
            let (mut value, keep) = elem_binop(op, l[i].v, r[j].v);
            if return_bool {
                value = f64::from(u8::from(keep));
            }
            if keep || return_bool {
                out.push(sonde_model::Sample::new(l[i].t, value));
            }
            i += 1;
            j += 1;
        }
    }
    out
}
