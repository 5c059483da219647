//! The evaluator: every node of the syntax tree evaluates over all steps of
//! the query at once (an instant query is a range query with one step), as
//! Prometheus' engine does. [`Evaluator::eval`] hands each node kind to a
//! named function; function calls, aggregations and binary operators live in
//! their own modules, each with one lookup table.
//!
//! Invariants: a [`Val::Vector`] series holds at most one point per step,
//! at the step's timestamp, in step order; a [`Val::Scalar`] holds exactly
//! one value per step.

mod limits;
mod matcher_cache;
mod range_eval;
mod selector;

use promql_parser::parser::{AtModifier, Expr, Offset, UnaryExpr};
use sonde_model::{Labels, Querier, Sample, Timestamp};

use crate::error::{QueryError, Result};

pub(crate) use limits::Limits;
pub(crate) use matcher_cache::MatcherCache;
pub(crate) use range_eval::{gather_columns, InSample, OutSample, StepArg};
pub(crate) use selector::{to_matchers, RangeSource, SliceIter};

/// A series of an intermediate result: step values or raw samples.
#[derive(Debug, Clone)]
pub(crate) struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

/// An intermediate result.
#[derive(Debug)]
pub(crate) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// An instant vector over the steps.
    Vector(Vec<Series>),
    /// A range vector: raw samples (only as a query's top-level result).
    Matrix(Vec<Series>),
    String(String),
}

impl Val {
    /// Samples accounted against the query's limit (scalars are not).
    pub fn sample_count(&self) -> usize {
        match self {
            Val::Vector(s) | Val::Matrix(s) => s.iter().map(|s| s.samples.len()).sum(),
            Val::Scalar(_) | Val::String(_) => 0,
        }
    }
}

/// What stays the same for the whole query, subqueries included.
pub(crate) struct Ctx<'q> {
    pub querier: &'q dyn Querier,
    pub lookback: i64,
    /// The query's own start and end, which `@ start()` and `@ end()` mean.
    pub query_start: Timestamp,
    pub query_end: Timestamp,
    /// Step of a subquery written without one (`x[5m:]`).
    pub default_subquery_step: i64,
    pub limits: Limits,
    /// Compiled matchers of regex selectors, kept by the engine.
    pub matchers: &'q MatcherCache,
}

/// Evaluates expressions over the steps `start, start+interval, ... <= end`.
pub(crate) struct Evaluator<'c, 'q> {
    pub ctx: &'c Ctx<'q>,
    pub start: Timestamp,
    pub end: Timestamp,
    pub interval: i64,
    /// Samples after this evaluation time are not visible to selectors
    /// (shifted by their own offset). Only set inside the range argument
    /// of `predict_linear` with `@`, to reproduce Prometheus 2.42 (see
    /// `functions::range`).
    pub data_cap: Option<Timestamp>,
    /// Inside a subquery's inner evaluation: its selectors' samples are not
    /// the query's queryable samples (2.42 counts the subquery's points in
    /// each outer window instead).
    pub in_subquery: bool,
}

impl<'c, 'q> Evaluator<'c, 'q> {
    pub fn new(ctx: &'c Ctx<'q>, start: Timestamp, end: Timestamp, interval: i64) -> Self {
        Evaluator {
            ctx,
            start,
            end,
            interval: interval.max(1),
            data_cap: None,
            in_subquery: false,
        }
    }

    /// An evaluator of the first step only, seeing what this one sees.
    pub fn first_step_only(&self) -> Self {
        Evaluator {
            ctx: self.ctx,
            start: self.start,
            end: self.start,
            interval: 1,
            data_cap: self.data_cap,
            in_subquery: self.in_subquery,
        }
    }

    /// Accounts for `n` samples a selector read for the step at `ts`
    /// (`totalQueryableSamples` of the query stats).
    pub fn count_queryable(&self, ts: Timestamp, n: usize) {
        if !self.in_subquery && n > 0 {
            self.ctx.limits.count_queryable(ts, n);
        }
    }

    /// The newest sample time a selector with `at` and `offset` may see.
    pub fn sample_cap(
        &self,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
    ) -> Option<Timestamp> {
        match at {
            Some(_) => None, // a selector's own @ overrides everything
            None => self.data_cap.map(|c| c.saturating_sub(offset_ms(offset))),
        }
    }

    /// The number of steps.
    pub fn steps(&self) -> usize {
        (self.end.saturating_sub(self.start) / self.interval + 1).max(0) as usize
    }

    pub fn step_ts(&self, step: usize) -> Timestamp {
        self.start + step as i64 * self.interval
    }

    /// Evaluates one node.
    pub fn eval(&self, expr: &Expr) -> Result<Val> {
        self.ctx.limits.check()?;
        match expr {
            Expr::Aggregate(a) => crate::aggregate::eval_aggregate(self, a),
            Expr::Unary(u) => self.eval_unary(u),
            Expr::Binary(b) => crate::binary::eval_binary(self, b),
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::Subquery(s) => {
                let src = self.subquery_source(s)?;
                Ok(Val::Matrix(src.into_raw_series(self)?))
            }
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.steps()])),
            Expr::StringLiteral(s) => Ok(Val::String(s.val.clone())),
            Expr::VectorSelector(vs) => self.eval_vector_selector(vs, false),
            Expr::MatrixSelector(ms) => self.eval_matrix_selector(ms),
            Expr::Call(c) => crate::functions::eval_call(self, c),
            Expr::Extension(_) => Err(QueryError::BadData(
                "extension expressions are not supported".to_string(),
            )),
        }
    }

    /// Evaluates a node that must be a scalar, e.g. a function parameter.
    pub fn eval_scalar(&self, expr: &Expr) -> Result<Vec<f64>> {
        match self.eval(expr)? {
            Val::Scalar(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected a scalar in {expr}, got {}",
                val_type_name(&other)
            ))),
        }
    }

    /// Evaluates a node that must be an instant vector.
    pub fn eval_vector(&self, expr: &Expr) -> Result<Vec<Series>> {
        match self.eval(expr)? {
            Val::Vector(v) => Ok(v),
            other => Err(QueryError::BadData(format!(
                "expected an instant vector in {expr}, got {}",
                val_type_name(&other)
            ))),
        }
    }

    /// Unary minus negates and drops the metric name; the parser folds away
    /// unary plus.
    fn eval_unary(&self, u: &UnaryExpr) -> Result<Val> {
        match self.eval(&u.expr)? {
            Val::Scalar(mut v) => {
                v.iter_mut().for_each(|x| *x = -*x);
                Ok(Val::Scalar(v))
            }
            Val::Vector(mut series) => {
                for s in &mut series {
                    s.labels = drop_metric_name(&s.labels);
                    s.samples.iter_mut().for_each(|p| p.v = -p.v);
                }
                check_same_labelset(&series)?;
                Ok(Val::Vector(series))
            }
            other => Err(QueryError::BadData(format!(
                "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                val_type_name(&other)
            ))),
        }
    }

    /// The time a selector or subquery reads at, for the evaluation time `ts`.
    pub fn ref_time(
        &self,
        ts: Timestamp,
        at: &Option<AtModifier>,
        offset: &Option<Offset>,
    ) -> Timestamp {
        let base = match at {
            None => ts,
            Some(at) => self.at_time(at),
        };
        base.saturating_sub(offset_ms(offset))
    }

    pub fn at_time(&self, at: &AtModifier) -> Timestamp {
        match at {
            AtModifier::Start => self.ctx.query_start,
            AtModifier::End => self.ctx.query_end,
            AtModifier::At(t) => system_time_ms(*t),
        }
    }
}

pub(crate) fn offset_ms(offset: &Option<Offset>) -> i64 {
    match offset {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

/// Milliseconds of a duration, saturating: absurd durations in a query
/// (`x[292277024y]`) must not wrap around.
pub(crate) fn duration_ms(d: std::time::Duration) -> i64 {
    d.as_millis().min(i64::MAX as u128) as i64
}

pub(crate) fn system_time_ms(t: std::time::SystemTime) -> Timestamp {
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => duration_ms(d),
        Err(e) => -duration_ms(e.duration()),
    }
}

pub(crate) fn val_type_name(v: &Val) -> &'static str {
    match v {
        Val::Scalar(_) => "scalar",
        Val::Vector(_) => "instant vector",
        Val::Matrix(_) => "range vector",
        Val::String(_) => "string",
    }
}

/// The label set without `__name__`.
pub(crate) fn drop_metric_name(labels: &Labels) -> Labels {
    if !labels.contains(sonde_model::METRIC_NAME) {
        return labels.clone();
    }
    Labels::from_sorted(
        labels
            .iter()
            .filter(|(n, _)| *n != sonde_model::METRIC_NAME),
    )
}

/// Series between deadline checks in loops over a selection: a check
/// reads the clock, which was about 2% of an instant query over a few
/// thousand series when done for each.
pub(crate) const SERIES_PER_CHECK: usize = 64;

pub(crate) const SAME_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// Prometheus refuses results where two series share a label set (typically
/// after the metric name was dropped).
pub(crate) fn check_same_labelset(series: &[Series]) -> Result<()> {
    if series.len() < 2 {
        return Ok(());
    }
    let mut seen = std::collections::HashSet::with_capacity(series.len());
    for s in series {
        if !seen.insert(&s.labels) {
            return Err(QueryError::exec(SAME_LABELSET));
        }
    }
    Ok(())
}

/// Strips any number of parentheses.
pub(crate) fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// Checks a selector's matchers (regexes compile with Go RE2 semantics).
pub(crate) fn check_selector(vs: &promql_parser::parser::VectorSelector) -> Result<()> {
    selector::to_matchers(vs).map(|_| ())
}
