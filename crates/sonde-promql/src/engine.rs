//! The query entry points: parse, check, open one querier over the time
//! range the expression needs, evaluate, and shape the result.
//!
//! Thread safety: an [`Engine`] is immutable and can be shared; each query
//! runs on the calling thread.

use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::{Arc, Once};
use std::time::{Duration, Instant};

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{self, Expr, Function};
use sonde_model::{Queryable, Sample, Timestamp};

use crate::error::{QueryError, Result};
use crate::eval::{duration_ms, offset_ms, Ctx, Evaluator, Limits, MatcherCache, Val};
use crate::stats::{EngineStats, QueryStats};
use crate::value::{RangeSeries, Value, VectorSample};

/// Most steps a range query may have (Prometheus' API limit).
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// Engine settings. [`EngineOptions::default`] gives Prometheus' defaults.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (default 5m,
    /// Prometheus' `--query.lookback-delta`).
    pub lookback_delta: Duration,
    /// Most samples a query may hold in memory at once (default 50,000,000,
    /// Prometheus' `--query.max-samples`).
    pub max_samples: usize,
    /// Longest a query may run (default 2m, `--query.timeout`).
    pub timeout: Duration,
    /// Step of subqueries written without one, `x[1h:]` (default 1m,
    /// Prometheus uses the global evaluation interval).
    pub default_subquery_step: Duration,
    /// Threads one range query may use (runs of steps evaluated side by
    /// side); default: the cores there are, at most 4. 1 evaluates every
    /// query on its caller's thread.
    pub max_threads_per_query: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
            max_threads_per_query: std::thread::available_parallelism()
                .map_or(1, |n| n.get())
                .min(MAX_THREADS_PER_QUERY),
        }
    }
}

/// How to run one query, beyond its expression and times.
#[derive(Debug, Clone, Default)]
pub struct QueryOptions {
    /// Stops the query when set to `true` (a client that went away).
    pub cancel: Option<CancelToken>,
    /// Count queryable samples per step (`stats=all` with
    /// `--enable-feature=promql-per-step-stats`).
    pub per_step_stats: bool,
}

/// A way for a caller to stop a running query: set the flag to `true`.
pub type CancelToken = Arc<AtomicBool>;

/// The PromQL engine.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    opts: EngineOptions,
    stats: Arc<EngineStats>,
    /// Shared by the engines made from this one, like `stats`.
    matchers: Arc<MatcherCache>,
}

impl Engine {
    pub fn new(opts: EngineOptions) -> Self {
        register_holt_winters();
        Engine {
            opts,
            stats: Arc::default(),
            matchers: Arc::default(),
        }
    }

    /// An engine with other options (e.g. a request's shorter timeout) that
    /// counts into the same [`EngineStats`].
    pub fn with_options(&self, opts: EngineOptions) -> Self {
        Engine {
            opts,
            stats: Arc::clone(&self.stats),
            matchers: Arc::clone(&self.matchers),
        }
    }

    /// The counters of this engine and those made from it.
    pub fn stats(&self) -> &EngineStats {
        &self.stats
    }

    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `time_ms`.
    pub fn instant_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        time_ms: Timestamp,
    ) -> Result<Value> {
        let expr = parse(query)?;
        self.instant_query_expr(storage, &expr, time_ms, &QueryOptions::default())
            .0
    }

    /// Evaluates an expression parsed with [`parse`] at `time_ms` (rules
    /// and the HTTP API parse once), and says what the query cost
    /// (Prometheus' `stats`; the caller adds its parse time if it wants it
    /// counted).
    pub fn instant_query_expr(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        time_ms: Timestamp,
        opts: &QueryOptions,
    ) -> (Result<Value>, QueryStats) {
        let mut stats = QueryStats::default();
        let span = Span {
            start: time_ms,
            end: time_ms,
            step: 1,
            query: (time_ms, time_ms),
            range: false,
            per_step: opts.per_step_stats,
        };
        let res = self.instant_span(storage, expr, span, opts.cancel.clone(), &mut stats);
        stats.finish();
        (res, stats)
    }

    fn instant_span(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        span: Span,
        cancel: Option<CancelToken>,
        stats: &mut QueryStats,
    ) -> Result<Value> {
        let time_ms = span.start;
        let val = self.run(storage, expr, span, cancel, stats)?;
        Ok(match val {
            Val::Scalar(v) => Value::Scalar {
                t: time_ms,
                v: v.first().copied().unwrap_or(f64::NAN),
            },
            Val::String(s) => Value::String { t: time_ms, v: s },
            Val::Vector(series) => Value::Vector(
                series
                    .into_iter()
                    .filter_map(|s| {
                        s.samples.first().map(|p| VectorSample {
                            labels: s.labels,
                            t: time_ms,
                            v: p.v,
                        })
                    })
                    .collect(),
            ),
            Val::Matrix(mut series) => Value::Matrix({
                // Subquery results come in evaluation order: sort them.
                let sorting = Instant::now();
                series.sort_by(|a, b| a.labels.cmp(&b.labels));
                stats.result_sort += sorting.elapsed().as_secs_f64();
                series
                    .into_iter()
                    .map(|s| RangeSeries {
                        labels: s.labels,
                        samples: s.samples,
                    })
                    .collect()
            }),
        })
    }

    /// Evaluates `query` at `start, start+step, ... <= end` and returns a
    /// matrix sorted by labels.
    pub fn range_query(
        &self,
        storage: &dyn Queryable,
        query: &str,
        start: Timestamp,
        end: Timestamp,
        step: i64,
    ) -> Result<Value> {
        let expr = parse(query)?;
        self.range_query_expr(storage, &expr, start, end, step, &QueryOptions::default())
            .0
    }

    /// [`Engine::range_query`] for an expression parsed with [`parse`], and
    /// what the query cost (see [`Engine::instant_query_expr`]).
    pub fn range_query_expr(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        start: Timestamp,
        end: Timestamp,
        step: i64,
        opts: &QueryOptions,
    ) -> (Result<Value>, QueryStats) {
        let mut stats = QueryStats::default();
        let res = self.range_span(
            storage,
            expr,
            start,
            end,
            step,
            opts.cancel.clone(),
            opts.per_step_stats,
            &mut stats,
        );
        stats.finish();
        (res, stats)
    }

    #[allow(clippy::too_many_arguments)] // the query's own parameters
    fn range_span(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        start: Timestamp,
        end: Timestamp,
        step: i64,
        cancel: Option<CancelToken>,
        per_step: bool,
        stats: &mut QueryStats,
    ) -> Result<Value> {
        if step <= 0 {
            return Err(QueryError::BadData(
                "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
            ));
        }
        if end < start {
            return Err(QueryError::BadData(
                "end timestamp must not be before start time".into(),
            ));
        }
        // Prometheus' API refuses more than 11,000 points per series.
        if (end - start) / step > MAX_POINTS_PER_SERIES {
            return Err(QueryError::BadData(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
            ));
        }
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(other)
            )))
            }
        }
        let span = Span {
            start,
            end,
            step,
            query: (start, end),
            range: true,
            per_step,
        };
        let val = self.run(storage, expr, span, cancel, stats)?;
        let mut series: Vec<RangeSeries> = match val {
            Val::Scalar(v) => vec![RangeSeries {
                labels: sonde_model::Labels::empty(),
                samples: v
                    .into_iter()
                    .enumerate()
                    .map(|(i, v)| Sample::new(start + i as i64 * step, v))
                    .collect(),
            }],
            Val::Vector(s) => s
                .into_iter()
                .map(|s| RangeSeries {
                    labels: s.labels,
                    samples: s.samples,
                })
                .collect(),
            other => {
                return Err(QueryError::BadData(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                crate::eval::val_type_name(&other)
            )))
            }
        };
        let sorting = Instant::now();
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        stats.result_sort += sorting.elapsed().as_secs_f64();
        Ok(Value::Matrix(series))
    }

    /// Evaluates `expr` over the span's steps. A range query with many
    /// steps is cut into runs of consecutive steps, one thread each (PromQL
    /// steps are independent: `@ start()`/`end()` still mean the whole
    /// query's, and subquery steps are aligned to absolute time), and the
    /// runs' series are joined; the runs share the query's sample budget,
    /// deadline and cancel flag. The engine's counters record the query
    /// once.
    fn run(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        span: Span,
        cancel: Option<CancelToken>,
        stats: &mut QueryStats,
    ) -> Result<Val> {
        let started = Instant::now();
        let held = Arc::new(AtomicUsize::new(0));
        let parts = span.split(threads_for(expr, &span, self.opts.max_threads_per_query));
        let mut done: Vec<Part> = if parts.len() == 1 {
            vec![self.run_part(storage, expr, span, cancel, held)]
        } else {
            std::thread::scope(|scope| {
                let handles: Vec<_> = parts
                    .iter()
                    .map(|part| {
                        let (cancel, held) = (cancel.clone(), held.clone());
                        scope.spawn(move || self.run_part(storage, expr, *part, cancel, held))
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            Part::failed(QueryError::exec(
                                "BUG: a query evaluation thread panicked",
                            ))
                        })
                    })
                    .collect()
            })
        };
        let samples: u64 = done.iter().map(|p| p.samples).sum();
        let mut first_error = None;
        let mut vals = Vec::with_capacity(done.len());
        for part in &mut done {
            stats.absorb(&part.stats);
            match std::mem::replace(&mut part.result, Ok(Val::Scalar(Vec::new()))) {
                Ok(v) => vals.push(v),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let micros = started.elapsed().as_micros().min(u128::from(u64::MAX)) as u64;
        self.stats
            .record(span.range, micros, samples, first_error.as_ref());
        match first_error {
            Some(e) => Err(e),
            None => Ok(join_parts(vals)),
        }
    }

    /// Evaluates one run of steps on the calling thread.
    fn run_part(
        &self,
        storage: &dyn Queryable,
        expr: &Expr,
        span: Span,
        cancel: Option<CancelToken>,
        held: Arc<AtomicUsize>,
    ) -> Part {
        let Span {
            start,
            end,
            step,
            query,
            per_step,
            ..
        } = span;
        let started = Instant::now();
        let lookback = duration_ms(self.opts.lookback_delta);
        let subquery_step = duration_ms(self.opts.default_subquery_step).max(1);
        let (mint, maxt) =
            time_bounds(expr, start, end, lookback, query, subquery_step).unwrap_or((start, end));
        let querier = match storage.querier(mint, maxt) {
            Ok(q) => q,
            Err(e) => return Part::failed(QueryError::from(e)),
        };
        let deadline = started.checked_add(self.opts.timeout);
        let ctx = Ctx {
            querier: querier.as_ref(),
            lookback,
            query_start: query.0,
            query_end: query.1,
            default_subquery_step: subquery_step,
            limits: Limits::new(self.opts.max_samples, deadline, cancel).sharing(held),
            matchers: &self.matchers,
        };
        if per_step {
            ctx.limits.track_per_step(start, end, step);
        }
        let mut stats = QueryStats {
            query_preparation: started.elapsed().as_secs_f64(),
            ..QueryStats::default()
        };
        let evaluating = Instant::now();
        let result = Evaluator::new(&ctx, start, end, step).eval(expr);
        stats.inner_eval = evaluating.elapsed().as_secs_f64();
        let (queryable, counts) = ctx.limits.queryable();
        stats.total_queryable_samples = queryable;
        stats.peak_samples = ctx.limits.peak() as u64;
        stats.per_step = counts.map(|c| {
            c.into_iter()
                .enumerate()
                .map(|(i, n)| (start + i as i64 * step, n))
                .collect()
        });
        Part {
            result,
            stats,
            samples: ctx.limits.total(),
        }
    }
}

/// Steps one evaluation thread takes at least: below this, a thread costs
/// more than it saves.
const MIN_STEPS_PER_THREAD: i64 = 50;
/// Default for [`EngineOptions::max_threads_per_query`] at most: dashboards
/// send several queries at once, which share the cores too.
const MAX_THREADS_PER_QUERY: usize = 4;

/// How many threads evaluate `expr` over `span`: 1 for instant queries,
/// short ranges and step-invariant expressions (pinned with `@`, computed
/// once whatever the steps), else up to `max`.
fn threads_for(expr: &Expr, span: &Span, max: usize) -> usize {
    if !span.range || crate::compat::is_step_invariant(expr) {
        return 1;
    }
    let steps = (span.end - span.start) / span.step + 1;
    let by_steps = usize::try_from(steps / MIN_STEPS_PER_THREAD).unwrap_or(usize::MAX);
    by_steps.min(max).max(1)
}

/// What evaluating one run of steps gave.
struct Part {
    result: Result<Val>,
    stats: QueryStats,
    /// Samples accounted, for the engine's counters.
    samples: u64,
}

impl Part {
    fn failed(e: QueryError) -> Self {
        Part {
            result: Err(e),
            stats: QueryStats::default(),
            samples: 0,
        }
    }
}

/// Joins the results of consecutive runs of steps, in step order: scalars
/// end to end, series by label set (first-seen order; range results are
/// sorted afterwards).
fn join_parts(mut vals: Vec<Val>) -> Val {
    if vals.len() == 1 {
        return vals.pop().unwrap_or(Val::Scalar(Vec::new()));
    }
    let mut scalar: Option<Vec<f64>> = None;
    let mut series: Vec<crate::eval::Series> = Vec::new();
    let mut index: std::collections::HashMap<sonde_model::Labels, usize> =
        std::collections::HashMap::new();
    for v in vals {
        match v {
            Val::Scalar(s) => scalar.get_or_insert_with(Vec::new).extend(s),
            Val::Vector(part) | Val::Matrix(part) => {
                for s in part {
                    match index.get(&s.labels) {
                        Some(&i) => series[i].samples.extend(s.samples),
                        None => {
                            index.insert(s.labels.clone(), series.len());
                            series.push(s);
                        }
                    }
                }
            }
            Val::String(s) => return Val::String(s),
        }
    }
    match scalar {
        Some(s) => Val::Scalar(s),
        None => Val::Vector(series),
    }
}

/// The steps a query evaluates at, and whether it is a range query.
#[derive(Clone, Copy)]
struct Span {
    start: Timestamp,
    end: Timestamp,
    step: i64,
    /// The whole query's start and end, which `@ start()` and `@ end()`
    /// mean when the steps are cut into runs.
    query: (Timestamp, Timestamp),
    range: bool,
    /// Count queryable samples per step (`stats=all` with per-step stats).
    per_step: bool,
}

impl Span {
    /// Cuts the steps into `n` runs of consecutive steps (fewer when there
    /// are fewer steps).
    fn split(self, n: usize) -> Vec<Span> {
        let steps = (self.end - self.start) / self.step + 1;
        let n = i64::try_from(n).unwrap_or(1).clamp(1, steps.max(1));
        let per = (steps + n - 1) / n;
        (0..n)
            .map(|i| self.start + i * per * self.step)
            .take_while(|&start| start <= self.end)
            .map(|start| Span {
                start,
                end: (start + (per - 1) * self.step).min(self.end),
                ..self
            })
            .collect()
    }
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Scalar => "scalar",
        ValueType::Vector => "vector",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// `holt_winters` is PromQL 2.42's name for what the parser knows as
/// `double_exponential_smoothing`; teach the parser the old name once.
fn register_holt_winters() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let f = Function::new(
            "holt_winters",
            vec![ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
            0,
            ValueType::Vector,
            false,
        );
        // Fails only if the parser ever gains a built-in of that name, in
        // which case the built-in is what we want anyway.
        let _ = parser::register_extra_functions(vec![f]);
    });
}

/// Parses and checks a query, with Prometheus' `bad_data` wording.
pub fn parse(query: &str) -> Result<Expr> {
    register_holt_winters();
    let expr = match parser::parse(query) {
        Ok(e) => e,
        // PromQL 2.42 accepts `x @ t[5m]`; the parser only `x[5m] @ t`.
        Err(e) if e.contains("no @ modifiers allowed before range") => {
            let moved = crate::compat::at_after_range(query);
            match moved.as_deref().map(parser::parse) {
                Some(Ok(expr)) => expr,
                _ => return Err(QueryError::BadData(crate::parse_error::explain(query, &e))),
            }
        }
        Err(e) => return Err(QueryError::BadData(crate::parse_error::explain(query, &e))),
    };
    // What the parser accepts beyond 2.42's grammar (durations as numbers,
    // `100m`, and other later additions) is refused with 2.42's message.
    if let Some(e) = crate::parse_error::refused_by_242(query) {
        return Err(QueryError::BadData(e));
    }
    let located = |e: QueryError| match e {
        QueryError::BadData(m) if m.starts_with("parse error: ") => {
            QueryError::BadData(crate::parse_error::locate(query, &m))
        }
        other => other,
    };
    crate::compat::check_242_syntax(query)
        .map_err(QueryError::BadData)
        .map_err(located)?;
    check(&expr).map_err(located)?;
    Ok(expr)
}

/// Parses a series selector such as `up{job="node"}`, the `match[]`
/// parameter of the series, label and federation APIs, into storage matchers.
pub fn parse_selector(selector: &str) -> Result<Vec<sonde_model::Matcher>> {
    if let Some(e) = crate::parse_error::selector_refused(selector) {
        return Err(QueryError::BadData(e));
    }
    let renamed = crate::parse_error::keyword_name_in_braces(selector);
    match parse(renamed.as_deref().unwrap_or(selector))? {
        // Prometheus' selector grammar has no offset or @ here.
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => {
            crate::eval::to_matchers(&vs)
        }
        other => Err(QueryError::BadData(format!(
            "parse error: {selector:?} is a {} or has a modifier, expected a series selector such as up{{job=\"node\"}}",
            type_name(other.value_type())
        ))),
    }
}

/// The matchers of every vector selector in `query`, those inside range
/// selectors and subqueries included, as Prometheus'
/// `parser.ExtractSelectors`: what `/api/v1/query_exemplars` selects
/// series by. Empty for a query without selectors (`1 + 1`).
pub fn extract_selectors(query: &str) -> Result<Vec<Vec<sonde_model::Matcher>>> {
    let mut out = Vec::new();
    collect_selectors(&parse(query)?, &mut out)?;
    Ok(out)
}

fn collect_selectors(e: &Expr, out: &mut Vec<Vec<sonde_model::Matcher>>) -> Result<()> {
    match e {
        Expr::VectorSelector(vs) => out.push(crate::eval::to_matchers(vs)?),
        Expr::MatrixSelector(ms) => out.push(crate::eval::to_matchers(&ms.vs)?),
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                collect_selectors(p, out)?;
            }
            collect_selectors(&a.expr, out)?;
        }
        Expr::Unary(u) => collect_selectors(&u.expr, out)?,
        Expr::Binary(b) => {
            collect_selectors(&b.lhs, out)?;
            collect_selectors(&b.rhs, out)?;
        }
        Expr::Paren(p) => collect_selectors(&p.expr, out)?,
        Expr::Subquery(s) => collect_selectors(&s.expr, out)?,
        Expr::Call(c) => {
            for a in &c.args.args {
                collect_selectors(a, out)?;
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
    Ok(())
}

/// Rejects what the parser accepts but PromQL 2.42 does not have.
fn check(e: &Expr) -> Result<()> {
    match e {
        Expr::Aggregate(a) => {
            let op = a.op.to_string();
            if !crate::aggregate::is_known(&op) {
                return Err(QueryError::BadData(format!(
                    "parse error: unknown aggregation {op:?} in PromQL 2.42"
                )));
            }
            if let Some(p) = &a.param {
                check(p)?;
            }
            check(&a.expr)
        }
        Expr::Unary(u) => check(&u.expr),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return Err(QueryError::BadData(
                        "parse error: fill modifiers do not exist in PromQL 2.42".into(),
                    ));
                }
            }
            check(&b.lhs)?;
            check(&b.rhs)
        }
        Expr::Paren(p) => check(&p.expr),
        Expr::Subquery(s) => check(&s.expr),
        Expr::Call(c) => {
            if !crate::functions::is_known(c.func.name) {
                return Err(QueryError::BadData(format!(
                    "parse error: unknown function with name {:?}",
                    c.func.name
                )));
            }
            c.args.args.iter().try_for_each(|a| check(a))
        }
        Expr::VectorSelector(vs) => crate::eval::check_selector(vs),
        Expr::MatrixSelector(ms) => crate::eval::check_selector(&ms.vs),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => Ok(()),
        Expr::Extension(_) => Err(QueryError::BadData(
            "parse error: extension expressions are not PromQL".into(),
        )),
    }
}

/// The span of sample times the expression reads when evaluated over
/// `[start, end]`, so one querier covers the whole query.
fn time_bounds(
    e: &Expr,
    start: Timestamp,
    end: Timestamp,
    lookback: i64,
    query: (Timestamp, Timestamp),
    subquery_step: i64,
) -> Option<(Timestamp, Timestamp)> {
    let refs = |at: &Option<parser::AtModifier>, off: &Option<parser::Offset>| {
        let (s, e) = match at {
            None => (start, end),
            Some(parser::AtModifier::Start) => (query.0, query.0),
            Some(parser::AtModifier::End) => (query.1, query.1),
            Some(parser::AtModifier::At(t)) => {
                let t = crate::eval::system_time_ms(*t);
                (t, t)
            }
        };
        (
            s.saturating_sub(offset_ms(off)),
            e.saturating_sub(offset_ms(off)),
        )
    };
    let merge = |a: Option<(i64, i64)>, b: Option<(i64, i64)>| match (a, b) {
        (Some(a), Some(b)) => Some((a.0.min(b.0), a.1.max(b.1))),
        (a, None) => a,
        (None, b) => b,
    };
    let rec = |x: &Expr| time_bounds(x, start, end, lookback, query, subquery_step);
    match e {
        Expr::VectorSelector(vs) => {
            let (s, e) = refs(&vs.at, &vs.offset);
            Some((s.saturating_sub(lookback), e))
        }
        Expr::MatrixSelector(ms) => {
            let (s, e) = refs(&ms.vs.at, &ms.vs.offset);
            Some((s.saturating_sub(duration_ms(ms.range)), e))
        }
        Expr::Subquery(sq) => {
            let (s, e) = refs(&sq.at, &sq.offset);
            let s = s
                .saturating_sub(duration_ms(sq.range))
                .saturating_sub(subquery_step);
            time_bounds(&sq.expr, s, e, lookback, query, subquery_step)
        }
        Expr::Aggregate(a) => merge(rec(&a.expr), a.param.as_deref().and_then(rec)),
        Expr::Unary(u) => rec(&u.expr),
        Expr::Binary(b) => merge(rec(&b.lhs), rec(&b.rhs)),
        Expr::Paren(p) => rec(&p.expr),
        Expr::Call(c) => c.args.args.iter().fold(None, |acc, a| merge(acc, rec(a))),
        _ => None,
    }
}

#[cfg(test)]
mod selector_tests {
    use super::*;

    #[test]
    fn parse_selector_gives_matchers_or_a_clear_error() {
        let m = parse_selector(r#"up{job=~"n.*"}"#).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].to_string(), r#"__name__="up""#);
        assert!(m[1].matches("node") && !m[1].matches("xnode"));
        // Prometheus' selector grammar: the first token it refuses.
        let e = parse_selector("sum(up)").unwrap_err().to_string();
        assert_eq!(e, r#"1:4: parse error: unexpected "(""#);
        assert!(parse_selector("up{").is_err());
        // A keyword is a metric name there.
        let m = parse_selector(r#"sum{a="b"}"#).unwrap();
        assert_eq!(m[0].to_string(), r#"__name__="sum""#);
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn extract_selectors_finds_every_vector_selector() {
        let sets = extract_selectors(
            r#"sum by (job) (rate(a_total{job="x"}[5m])) / on() group_left max_over_time(b[1h:1m]) + topk(scalar(d), c)"#,
        );
        let sets = sets.unwrap_or_else(|e| panic!("{e}"));
        let text: Vec<String> = sets
            .iter()
            .map(|ms| {
                ms.iter()
                    .map(|m| m.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        assert_eq!(
            text,
            vec![
                r#"__name__="a_total",job="x""#,
                r#"__name__="b""#,
                r#"__name__="d""#,
                r#"__name__="c""#
            ]
        );
        assert_eq!(extract_selectors("1 + 1").map(|s| s.len()).ok(), Some(0));
        assert!(extract_selectors("up{").is_err());
    }
}
