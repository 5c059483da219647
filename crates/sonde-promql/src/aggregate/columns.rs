//! Column-wise evaluation of the folding aggregations (`sum`, `avg`,
//! `count`, `min`, `max`, `group`, `stddev`, `stdvar`): each input
//! series' group is worked out once per query, and its points are folded
//! into dense per-group arrays indexed by step, walking the input series
//! one after the other instead of cutting an instant vector at every step.
//!
//! Invariant: at each (group, step) the series are folded in input order,
//! the order the step-wise evaluation folds them in, so values are
//! bit-identical to it; groups come out in the order the step-wise
//! evaluation first sees them (their first step with a value, then the
//! first input series with a point at that step).

use sonde_model::Sample;

use super::groups::GroupIndex;
use super::{Acc, AggOp, Grouping};
use crate::error::Result;
use crate::eval::{Evaluator, Series};

/// Input series between deadline checks.
const CHECK_EVERY: usize = 256;

/// The dense arrays hold `groups * steps` cells; above this many per input
/// point (plus one row), the step-wise evaluation, whose memory follows the
/// points, is used instead.
const MAX_CELLS_PER_POINT: usize = 4;

/// Aggregates `input` over the steps of `ev`, or gives `None` when there
/// are so many groups over so many steps that dense arrays would take far
/// more memory than the input.
pub(super) fn aggregate(
    ev: &Evaluator<'_, '_>,
    op: AggOp,
    input: &[Series],
    grouping: &Grouping,
) -> Result<Option<Vec<Series>>> {
    let steps = ev.steps();
    let mut groups = GroupIndex::new(grouping);
    let group_of: Vec<usize> = input.iter().map(|s| groups.id(&s.labels)).collect();
    let mut labels = groups.labels;
    let points: usize = input.iter().map(|s| s.samples.len()).sum();
    if labels.len().saturating_mul(steps) > MAX_CELLS_PER_POINT * points + steps {
        return Ok(None);
    }
    let mut cells = vec![Acc::default(); labels.len() * steps];
    // Per group: (first step with a value, first input series there).
    let mut first = vec![(usize::MAX, usize::MAX); labels.len()];
    for (i, (s, &g)) in input.iter().zip(&group_of).enumerate() {
        if i % CHECK_EVERY == CHECK_EVERY - 1 {
            ev.ctx.limits.check()?;
        }
        let row = &mut cells[g * steps..(g + 1) * steps];
        // The usual ones with their arithmetic inlined (a call per point
        // was half of the fold's cost).
        match op {
            AggOp::Sum => fold_series(ev, AggOp::Sum, row, &s.samples),
            AggOp::Count => fold_series(ev, AggOp::Count, row, &s.samples),
            AggOp::Avg => fold_series(ev, AggOp::Avg, row, &s.samples),
            AggOp::Min => fold_series(ev, AggOp::Min, row, &s.samples),
            AggOp::Max => fold_series(ev, AggOp::Max, row, &s.samples),
            _ => fold_series(ev, op, row, &s.samples),
        }
        if let Some(p) = s.samples.first() {
            let step = ((p.t - ev.start) / ev.interval) as usize;
            if step < first[g].0 {
                first[g] = (step, i);
            }
        }
    }
    let mut order: Vec<usize> = (0..labels.len())
        .filter(|&g| first[g].0 != usize::MAX)
        .collect();
    order.sort_unstable_by_key(|&g| first[g]);
    let mut out = Vec::with_capacity(order.len());
    let mut held = 0;
    for g in order {
        let row = &cells[g * steps..(g + 1) * steps];
        let samples: Vec<Sample> = row
            .iter()
            .enumerate()
            .filter(|(_, c)| c.count != 0.0)
            .map(|(step, c)| Sample::new(ev.step_ts(step), c.finish(op)))
            .collect();
        held += samples.len();
        out.push(Series {
            labels: std::mem::take(&mut labels[g]),
            samples,
        });
    }
    ev.ctx.limits.add(held)?;
    ev.ctx.limits.release(points);
    Ok(Some(out))
}

/// Folds one series' points into its group's row of cells.
#[inline(always)]
fn fold_series(ev: &Evaluator<'_, '_>, op: AggOp, row: &mut [Acc], samples: &[Sample]) {
    let dense = samples.len() == row.len();
    for (k, p) in samples.iter().enumerate() {
        let step = if dense {
            k
        } else {
            ((p.t - ev.start) / ev.interval) as usize
        };
        let cell = &mut row[step];
        if cell.count == 0.0 {
            *cell = Acc::first(op, p.v);
        } else {
            cell.fold(op, p.v);
        }
    }
}
