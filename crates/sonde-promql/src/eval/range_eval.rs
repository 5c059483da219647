//! Step-wise application of an operation to already evaluated arguments
//! (Prometheus' `rangeEval`): at each step the arguments are cut into an
//! instant vector or a scalar, the operation runs, and its outputs are
//! gathered into series. Each input series is walked once with a cursor.

use sonde_model::{Labels, Sample, Timestamp};

use super::{Evaluator, Series, Val, SAME_LABELSET};
use crate::error::{QueryError, Result};
use crate::hash::IdMap;

/// One element of an argument's instant vector at a step. `idx` is the
/// index of its series in the argument, stable over all steps, so callers
/// can cache per-series work (grouping keys, match signatures).
#[derive(Debug, Clone, Copy)]
pub(crate) struct InSample<'a> {
    pub idx: usize,
    pub labels: &'a Labels,
    pub v: f64,
}

/// One element of an operation's output at a step.
#[derive(Debug, Clone)]
pub(crate) struct OutSample {
    pub labels: Labels,
    pub v: f64,
}

/// An argument at one step.
pub(crate) enum StepArg<'a> {
    Scalar(f64),
    Vector(Vec<InSample<'a>>),
    /// A string argument; operations read strings from the syntax tree.
    String,
}

impl StepArg<'_> {
    pub fn scalar(&self) -> f64 {
        match self {
            StepArg::Scalar(v) => *v,
            _ => panic!("BUG: argument is not a scalar"),
        }
    }

    pub fn vector(&self) -> &[InSample<'_>] {
        match self {
            StepArg::Vector(v) => v,
            _ => panic!("BUG: argument is not an instant vector"),
        }
    }
}

/// Gathers per-step outputs into series, keeping first-seen order. Series
/// are found by label-set hash; equal hashes of different label sets chain.
struct Gather {
    index: IdMap<Vec<usize>>,
    series: Vec<Series>,
}

impl Gather {
    fn push(&mut self, ts: Timestamp, out: Vec<OutSample>) {
        for o in out {
            let point = Sample::new(ts, o.v);
            let chain = self.index.entry(o.labels.stable_hash()).or_default();
            match chain.iter().find(|&&i| self.series[i].labels == o.labels) {
                Some(&i) => self.series[i].samples.push(point),
                None => {
                    chain.push(self.series.len());
                    self.series.push(Series {
                        labels: o.labels,
                        samples: vec![point],
                    });
                }
            }
        }
    }
}

impl Evaluator<'_, '_> {
    /// Runs `op` at every step over `args` (scalars, vectors, strings) and
    /// returns the gathered instant vector. Outputs with duplicate label
    /// sets at one step are an error, as in Prometheus.
    pub fn range_eval<F>(&self, args: &[Val], mut op: F) -> Result<Val>
    where
        F: for<'a> FnMut(&[StepArg<'a>], Timestamp) -> Result<Vec<OutSample>>,
    {
        let steps = self.steps();
        let mut cursors: Vec<Vec<usize>> = args
            .iter()
            .map(|a| match a {
                Val::Vector(s) => vec![0; s.len()],
                _ => Vec::new(),
            })
            .collect();
        let mut gather = Gather {
            index: IdMap::default(),
            series: Vec::new(),
        };
        let mut step_args: Vec<StepArg<'_>> = Vec::with_capacity(args.len());
        for step in 0..steps {
            self.ctx.limits.check()?;
            let ts = self.step_ts(step);
            step_args.clear();
            for (arg, cur) in args.iter().zip(cursors.iter_mut()) {
                step_args.push(match arg {
                    Val::Scalar(v) => StepArg::Scalar(v[step]),
                    Val::String(_) => StepArg::String,
                    Val::Vector(series) => StepArg::Vector(vector_at(series, cur, ts)),
                    Val::Matrix(_) => {
                        return Err(QueryError::BadData(
                            "range vector argument where an instant vector was expected".into(),
                        ))
                    }
                });
            }
            let out = op(&step_args, ts)?;
            check_unique(&out)?;
            self.ctx.limits.add(out.len())?;
            if step + 1 == steps {
                // The inputs are consumed: give their samples back.
                self.ctx
                    .limits
                    .release(args.iter().map(Val::sample_count).sum());
            }
            if steps == 1 {
                // An instant query keeps the operation's order (sort, topk).
                return Ok(Val::Vector(
                    out.into_iter()
                        .map(|o| Series {
                            labels: o.labels,
                            samples: vec![Sample::new(ts, o.v)],
                        })
                        .collect(),
                ));
            }
            gather.push(ts, out);
        }
        Ok(Val::Vector(gather.series))
    }
}

impl Evaluator<'_, '_> {
    /// An element-wise operation column by column: each series of `input`
    /// gets its output labels from `relabel` once, and `f(step, value)`
    /// maps each of its points (`None` drops the point); the result is the
    /// one [`Evaluator::range_eval`] gives for the same operation.
    pub fn map_series(
        &self,
        input: Vec<Series>,
        relabel: impl Fn(Labels) -> Labels,
        mut f: impl FnMut(usize, f64) -> Option<f64>,
    ) -> Result<Val> {
        let steps = self.steps();
        let input_points: usize = input.iter().map(|s| s.samples.len()).sum();
        let mut held = 0;
        let mut parts = Vec::with_capacity(input.len());
        for (i, mut s) in input.into_iter().enumerate() {
            if i % 256 == 255 {
                self.ctx.limits.check()?;
            }
            let dense = s.samples.len() == steps;
            let mut first = usize::MAX;
            let mut k = 0;
            s.samples.retain_mut(|p| {
                // A point per step needs no division to find its step.
                let step = if dense {
                    k
                } else {
                    ((p.t - self.start) / self.interval) as usize
                };
                k += 1;
                match f(step, p.v) {
                    Some(v) => {
                        p.v = v;
                        first = first.min(step);
                        true
                    }
                    None => false,
                }
            });
            held += s.samples.len();
            let labels = relabel(s.labels);
            parts.push((
                (first, i),
                Series {
                    labels,
                    samples: s.samples,
                },
            ));
        }
        let out = gather_columns(parts)?;
        self.ctx.limits.add(held)?;
        self.ctx.limits.release(input_points);
        Ok(Val::Vector(out))
    }
}

/// Series computed column by column, each with the step-wise evaluation's
/// sort key (its first step with a point, then the input series that gave
/// that point), as [`Evaluator::range_eval`] would have gathered them: in
/// first-seen order, series with equal labels merged, and an error where
/// two of them have a point at the same step.
pub(crate) fn gather_columns(
    parts: impl IntoIterator<Item = ((usize, usize), Series)>,
) -> Result<Vec<Series>> {
    let mut parts: Vec<((usize, usize), Series)> = parts
        .into_iter()
        .filter(|(_, s)| !s.samples.is_empty())
        .collect();
    parts.sort_unstable_by_key(|(key, _)| *key);
    let mut out: Vec<Series> = Vec::with_capacity(parts.len());
    let mut index: IdMap<Vec<usize>> = IdMap::default();
    for (_, s) in parts {
        let chain = index.entry(s.labels.stable_hash()).or_default();
        match chain.iter().find(|&&i| out[i].labels == s.labels) {
            None => {
                chain.push(out.len());
                out.push(s);
            }
            Some(&i) => {
                let merged = merge_points(&out[i].samples, &s.samples)?;
                out[i].samples = merged;
            }
        }
    }
    Ok(out)
}

/// Two series' points in step order; a step in both is an error.
fn merge_points(a: &[Sample], b: &[Sample]) -> Result<Vec<Sample>> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i].t == b[j].t {
            return Err(QueryError::exec(SAME_LABELSET));
        }
        if a[i].t < b[j].t {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    Ok(out)
}

/// The elements of `series` that have a point at `ts`, advancing cursors.
fn vector_at<'a>(series: &'a [Series], cursors: &mut [usize], ts: Timestamp) -> Vec<InSample<'a>> {
    let mut out = Vec::with_capacity(series.len());
    for (idx, (s, c)) in series.iter().zip(cursors.iter_mut()).enumerate() {
        while *c < s.samples.len() && s.samples[*c].t < ts {
            *c += 1;
        }
        if let Some(p) = s.samples.get(*c) {
            if p.t == ts {
                out.push(InSample {
                    idx,
                    labels: &s.labels,
                    v: p.v,
                });
            }
        }
    }
    out
}

fn check_unique(out: &[OutSample]) -> Result<()> {
    if out.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(out.len());
    for o in out {
        if !seen.insert(&o.labels) {
            return Err(QueryError::exec(SAME_LABELSET));
        }
    }
    Ok(())
}
