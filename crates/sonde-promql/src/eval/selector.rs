//! Selecting data: instant vector selectors (lookback and staleness), range
//! selectors and subqueries as sources of sliding windows.
//!
//! Each selector selects once over the whole time range the query needs and
//! walks every series forward with its sample iterator; evaluation times
//! never go backwards, so a one-sample look-ahead (instant selectors) or
//! two indices into the series' samples (range selectors: each series is
//! read once into a buffer reused from series to series, and every window
//! is a slice of it) is all the state needed. Windows are
//! closed at both ends, `[t-range, t]`, as in Prometheus 2.42; staleness
//! markers end a series for instant selectors and are dropped from windows.

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::{AtModifier, MatrixSelector, Offset, SubqueryExpr, VectorSelector};
use sonde_model::{
    is_stale_nan, Labels, MatchOp, Matcher, Sample, SampleIter, SelectHints, Timestamp, METRIC_NAME,
};

use super::{duration_ms, Evaluator, Series, Val, SERIES_PER_CHECK};
use crate::error::{QueryError, Result};

/// Steps between deadline checks inside one series' walk: a clock read is
/// cheap next to a step's work, but not free.
const CHECK_EVERY: usize = 256;

/// Turns the parser's matchers into storage matchers with Go RE2 regexes.
pub(crate) fn to_matchers(vs: &VectorSelector) -> Result<Vec<Matcher>> {
    if !vs.matchers.or_matchers.is_empty() {
        return Err(QueryError::BadData(format!(
            "'or' inside label matchers is not supported by PromQL 2.42: {vs}"
        )));
    }
    let mut out = Vec::with_capacity(vs.matchers.matchers.len() + 1);
    if let Some(name) = &vs.name {
        out.push(Matcher::equal(METRIC_NAME, name));
    }
    for m in &vs.matchers.matchers {
        let op = match m.op {
            PMatchOp::Equal => MatchOp::Equal,
            PMatchOp::NotEqual => MatchOp::NotEqual,
            PMatchOp::Re(_) => MatchOp::Regex,
            PMatchOp::NotRe(_) => MatchOp::NotRegex,
        };
        out.push(
            Matcher::new(op, &m.name, &m.value).map_err(|e| QueryError::BadData(e.to_string()))?,
        );
    }
    Ok(out)
}

/// A series of a range source: from storage, or computed by a subquery.
pub(crate) enum SourceSeries {
    Stored(Box<dyn sonde_model::Series>),
    Memory(Series),
}

impl SourceSeries {
    pub fn labels(&self) -> &Labels {
        match self {
            SourceSeries::Stored(s) => s.labels(),
            SourceSeries::Memory(s) => &s.labels,
        }
    }
}

/// A [`SampleIter`] over samples in memory.
pub(crate) struct SliceIter<'a> {
    pub samples: &'a [Sample],
    pub pos: usize,
}

impl SampleIter for SliceIter<'_> {
    fn next(&mut self) -> Option<Sample> {
        let s = self.samples.get(self.pos).copied();
        if s.is_some() {
            self.pos += 1;
        }
        s
    }

    fn seek(&mut self, t: Timestamp) -> Option<Sample> {
        // `pos` is one past the current sample; seeking never moves back.
        if self.pos > 0 && self.samples[self.pos - 1].t >= t {
            return Some(self.samples[self.pos - 1]);
        }
        self.pos += self.samples[self.pos..].partition_point(|s| s.t < t);
        self.next()
    }
}

/// The data behind a range-vector argument: a range selector or a subquery.
pub(crate) struct RangeSource {
    pub series: Vec<SourceSeries>,
    pub range: i64,
    pub at: Option<AtModifier>,
    pub offset: Option<Offset>,
    /// Samples after this time are ignored.
    pub data_max: Option<Timestamp>,
    /// When set, windows ending at the pinned `@` time move along with the
    /// evaluation time, counted from this start (Prometheus 2.42's
    /// `predict_linear` with `@`).
    pub slide_from: Option<Timestamp>,
}

/// The samples of one series inside `[mint, maxt]` at one step.
pub(crate) struct Window<'a> {
    pub samples: &'a [Sample],
    pub mint: Timestamp,
    pub maxt: Timestamp,
}

impl RangeSource {
    /// Samples a subquery holds in memory (stored series hold none).
    pub fn memory_samples(&self) -> usize {
        self.series
            .iter()
            .map(|s| match s {
                SourceSeries::Memory(s) => s.samples.len(),
                SourceSeries::Stored(_) => 0,
            })
            .sum()
    }

    /// The window `[mint, maxt]` of `step`. Both ends never go back as
    /// steps go forward (an `@` pins them; sliding moves them forward).
    fn bounds(&self, ev: &Evaluator<'_, '_>, step: usize) -> (Timestamp, Timestamp) {
        let ts = ev.step_ts(step);
        let mut maxt = ev.ref_time(ts, &self.at, &self.offset);
        if let Some(from) = self.slide_from {
            maxt = maxt.saturating_add(ts - from);
        }
        (maxt.saturating_sub(self.range), maxt)
    }

    /// The samples of `series` that some window of `ev` can see, in time
    /// order, without staleness markers and samples after `data_max`:
    /// borrowed from a subquery's result, or read from storage into `buf`
    /// (the caller's, reused from series to series).
    pub fn load<'a>(
        &self,
        ev: &Evaluator<'_, '_>,
        series: &'a SourceSeries,
        buf: &'a mut Vec<Sample>,
    ) -> &'a [Sample] {
        buf.clear();
        let steps = ev.steps();
        if steps == 0 {
            return buf;
        }
        let first_mint = self.bounds(ev, 0).0;
        let mut last_maxt = self.bounds(ev, steps - 1).1;
        if let Some(m) = self.data_max {
            last_maxt = last_maxt.min(m);
        }
        match series {
            SourceSeries::Memory(s) => {
                let from = s.samples.partition_point(|p| p.t < first_mint);
                let to = s.samples.partition_point(|p| p.t <= last_maxt);
                let cut = &s.samples[from..to.max(from)];
                if !cut.iter().any(|p| is_stale_nan(p.v)) {
                    return cut;
                }
                buf.extend(cut.iter().filter(|p| !is_stale_nan(p.v)));
            }
            SourceSeries::Stored(s) => {
                s.samples().collect_in(first_mint, last_maxt, buf);
                // Most series have no staleness marker: a scan is cheaper
                // than `retain`'s moves.
                if buf.iter().any(|p| is_stale_nan(p.v)) {
                    buf.retain(|p| !is_stale_nan(p.v));
                }
            }
        }
        buf
    }

    /// Calls `f(step, window, from)` for every step of `ev` over the
    /// samples [`RangeSource::load`] gave; the window is
    /// `samples[from..from + window.samples.len()]`. Windows may be empty.
    pub fn walk_loaded(
        &self,
        ev: &Evaluator<'_, '_>,
        samples: &[Sample],
        mut f: impl FnMut(usize, Window<'_>, usize) -> Result<()>,
    ) -> Result<()> {
        let (mut lo, mut hi) = (0, 0);
        // `bounds` with what stays the same over the steps worked out once.
        let pinned = self.at.as_ref().map(|at| ev.at_time(at));
        let offset = super::offset_ms(&self.offset);
        let per_step = ev.ctx.limits.tracks_per_step();
        let mut seen = 0;
        for step in 0..ev.steps() {
            if step % CHECK_EVERY == CHECK_EVERY - 1 {
                ev.ctx.limits.check()?;
            }
            let ts = ev.step_ts(step);
            let mut maxt = pinned.unwrap_or(ts).saturating_sub(offset);
            if let Some(from) = self.slide_from {
                maxt = maxt.saturating_add(ts - from);
            }
            let mint = maxt.saturating_sub(self.range);
            while hi < samples.len() && samples[hi].t <= maxt {
                hi += 1;
            }
            while lo < hi && samples[lo].t < mint {
                lo += 1;
            }
            let n = hi - lo;
            ev.ctx.limits.hold_briefly(n)?;
            if per_step {
                ev.count_queryable(ts, n);
            } else {
                seen += n;
            }
            f(
                step,
                Window {
                    samples: &samples[lo..hi],
                    mint,
                    maxt,
                },
                lo,
            )?;
        }
        ev.count_queryable(ev.start, seen);
        Ok(())
    }

    /// Whether [`RangeSource::walk_plain`] gives `ev`'s windows: no `@`,
    /// no sliding window, no per-step sample counts (a dashboard's range
    /// selector, offset or not).
    pub fn is_plain(&self, ev: &Evaluator<'_, '_>) -> bool {
        self.at.is_none() && self.slide_from.is_none() && !ev.ctx.limits.tracks_per_step()
    }

    /// [`RangeSource::walk_loaded`] for a source that
    /// [`RangeSource::is_plain`]: calls `f(ts, lo, hi, mint, maxt)` for
    /// every step, the window being `samples[lo..hi]` (possibly empty).
    /// The same windows and accounting, with the sample limit checked once
    /// per series on its largest window (the outcome of a check per step,
    /// which, with the call through the generic window and the range
    /// function's pointer, was about 300 instructions per series and step
    /// of `rate`, docs/benchmarks.md "Session 5").
    #[inline(always)]
    pub fn walk_plain(
        &self,
        ev: &Evaluator<'_, '_>,
        samples: &[Sample],
        mut f: impl FnMut(Timestamp, usize, usize, Timestamp, Timestamp),
    ) -> Result<()> {
        debug_assert!(self.is_plain(ev));
        let offset = super::offset_ms(&self.offset);
        let n = samples.len();
        let (mut lo, mut hi) = (0, 0);
        let (mut seen, mut most) = (0, 0);
        let steps = ev.steps();
        // Window ends as plain sums when none of them can overflow (what
        // the saturating ones give then), which is every sane query.
        let last_ts = ev
            .start
            .checked_add(steps.saturating_sub(1) as i64 * ev.interval);
        let exact = match (last_ts, offset.checked_add(self.range)) {
            (Some(l), Some(back)) => [offset, back]
                .iter()
                .all(|&d| ev.start.checked_sub(d).is_some() && l.checked_sub(d).is_some()),
            _ => false,
        };
        let mut ts = ev.start;
        for step in 0..steps {
            if step % CHECK_EVERY == CHECK_EVERY - 1 {
                ev.ctx.limits.check()?;
            }
            let (mint, maxt) = if exact {
                (ts - offset - self.range, ts - offset)
            } else {
                let maxt = ts.saturating_sub(offset);
                (maxt.saturating_sub(self.range), maxt)
            };
            while hi < n && samples[hi].t <= maxt {
                hi += 1;
            }
            while lo < hi && samples[lo].t < mint {
                lo += 1;
            }
            seen += hi - lo;
            most = most.max(hi - lo);
            f(ts, lo, hi, mint, maxt);
            ts += ev.interval;
        }
        ev.ctx.limits.hold_each(seen, most)?;
        ev.count_queryable(ev.start, seen);
        Ok(())
    }

    /// Calls `f(step, window)` for every step of `ev`, walking the series
    /// once. Windows may be empty.
    pub fn walk(
        &self,
        ev: &Evaluator<'_, '_>,
        series: &SourceSeries,
        mut f: impl FnMut(usize, Window<'_>) -> Result<()>,
    ) -> Result<()> {
        let mut buf = Vec::new();
        let samples = self.load(ev, series, &mut buf);
        self.walk_loaded(ev, samples, |step, w, _| f(step, w))
    }

    /// The raw samples of every series at the evaluator's first step: the
    /// value of a range selector or subquery as a query result.
    pub fn into_raw_series(self, ev: &Evaluator<'_, '_>) -> Result<Vec<Series>> {
        let single = ev.first_step_only();
        let mut out = Vec::with_capacity(self.series.len());
        for s in &self.series {
            let mut samples = Vec::new();
            self.walk(&single, s, |_, w| {
                samples.extend_from_slice(w.samples);
                Ok(())
            })?;
            if !samples.is_empty() {
                ev.ctx.limits.add(samples.len())?;
                out.push(Series {
                    labels: s.labels().clone(),
                    samples,
                });
            }
        }
        Ok(out)
    }
}

impl Evaluator<'_, '_> {
    fn select(
        &self,
        vs: &VectorSelector,
        mint: Timestamp,
        maxt: Timestamp,
        range: i64,
    ) -> Result<Vec<Box<dyn sonde_model::Series>>> {
        let matchers = self.ctx.matchers.get(vs)?;
        let hints = SelectHints {
            start: mint,
            end: maxt,
            step: if self.steps() > 1 { self.interval } else { 0 },
            func: String::new(),
            range,
        };
        let set = self.ctx.querier.select(&hints, &matchers)?;
        // Selections know their length: no regrowing of a list of
        // thousands of series.
        let mut out = Vec::with_capacity(set.size_hint().0);
        for (i, s) in set.enumerate() {
            if i % SERIES_PER_CHECK == SERIES_PER_CHECK - 1 {
                self.ctx.limits.check()?;
            }
            out.push(s?);
        }
        Ok(out)
    }

    /// An instant vector selector over all steps. With `sample_time`, each
    /// point's value is the timestamp (in seconds) of the sample it came
    /// from, which is what `timestamp(selector)` returns.
    pub fn eval_vector_selector(&self, vs: &VectorSelector, sample_time: bool) -> Result<Val> {
        let first_ref = self.ref_time(self.start, &vs.at, &vs.offset);
        let last_ref = self.ref_time(self.end, &vs.at, &vs.offset);
        let lookback = self.ctx.lookback;
        let cap = self.sample_cap(&vs.at, &vs.offset);
        let last_ref = cap.map_or(last_ref, |c| last_ref.min(c));
        let selected = self.select(vs, first_ref.saturating_sub(lookback), last_ref, 0)?;
        let steps = self.steps();
        // The reference time of a step is the pinned `@` time or the step's
        // own, less the offset; samples after the cap are never seen.
        let pinned = vs.at.as_ref().map(|at| self.at_time(at));
        let offset = super::offset_ms(&vs.offset);
        let per_step = self.ctx.limits.tracks_per_step();
        // Steps see the data as of their own time: a dashboard's selector.
        let plain = pinned.is_none() && offset == 0 && cap.is_none() && !per_step;
        let mut out = Vec::with_capacity(selected.len());
        // The series' samples any step can see, read in bulk (reused).
        let mut seen: Vec<Sample> = Vec::new();
        for (i, s) in selected.iter().enumerate() {
            if i % SERIES_PER_CHECK == SERIES_PER_CHECK - 1 {
                self.ctx.limits.check()?;
            }
            let mut it = s.samples();
            seen.clear();
            let mut last = if steps == 1 {
                // One step needs only the newest visible sample, which the
                // storage finds without reading what is older.
                let visible = cap.map_or(first_ref, |c| first_ref.min(c));
                it.last_in(first_ref.saturating_sub(lookback), visible)
            } else {
                it.collect_in(first_ref.saturating_sub(lookback), last_ref, &mut seen);
                None
            };
            let mut points = Vec::new();
            if steps > 1 && plain && !sample_time {
                self.plain_steps(&seen, &mut points)?;
            } else {
                let mut pending = seen.iter().peekable();
                for step in 0..steps {
                    if step % CHECK_EVERY == CHECK_EVERY - 1 {
                        self.ctx.limits.check()?;
                    }
                    let ts = self.step_ts(step);
                    let r = pinned.unwrap_or(ts).saturating_sub(offset);
                    let visible = cap.map_or(r, |c| r.min(c));
                    while let Some(smp) = pending.next_if(|smp| smp.t <= visible) {
                        last = Some(*smp);
                    }
                    if let Some(l) = last {
                        if l.t >= r - lookback && !is_stale_nan(l.v) {
                            let v = if sample_time {
                                l.t as f64 / 1000.0
                            } else {
                                l.v
                            };
                            if points.capacity() == 0 {
                                // Most series have a point at every step from
                                // their first on: one allocation.
                                points.reserve_exact(steps - step);
                            }
                            points.push(Sample::new(ts, v));
                            if per_step {
                                self.count_queryable(ts, 1);
                            }
                        }
                    }
                }
            }
            if !per_step {
                self.count_queryable(self.start, points.len());
            }
            if !points.is_empty() {
                self.ctx.limits.add(points.len())?;
                out.push(Series {
                    labels: s.labels().clone(),
                    samples: points,
                });
            }
        }
        Ok(Val::Vector(out))
    }

    /// The points of an instant vector selector without `@`, offset or
    /// cap over the steps (of which there are several), from the samples
    /// `seen` in its time range: at each step the newest sample at or
    /// before it, unless older than the lookback or a staleness marker.
    /// What the general walk gives, with one index into `seen` (it was
    /// about 100 instructions per series and step, a quarter of
    /// `count_by_name`'s range query).
    fn plain_steps(&self, seen: &[Sample], points: &mut Vec<Sample>) -> Result<()> {
        let (steps, lookback) = (self.steps(), self.ctx.lookback);
        let mut next = 0;
        for step in 0..steps {
            if step % CHECK_EVERY == CHECK_EVERY - 1 {
                self.ctx.limits.check()?;
            }
            let ts = self.step_ts(step);
            while next < seen.len() && seen[next].t <= ts {
                next += 1;
            }
            let Some(last) = next.checked_sub(1).map(|k| seen[k]) else {
                continue;
            };
            if last.t >= ts - lookback && !is_stale_nan(last.v) {
                if points.capacity() == 0 {
                    // Most series have a point at every step from their
                    // first on: one allocation.
                    points.reserve_exact(steps - step);
                }
                points.push(Sample::new(ts, last.v));
            }
        }
        Ok(())
    }

    /// The source behind a range selector, selected once for all steps.
    pub fn matrix_source(&self, ms: &MatrixSelector) -> Result<RangeSource> {
        let vs = &ms.vs;
        let range = duration_ms(ms.range);
        let first_ref = self.ref_time(self.start, &vs.at, &vs.offset);
        let last_ref = self.ref_time(self.end, &vs.at, &vs.offset);
        let data_max = self.sample_cap(&vs.at, &vs.offset);
        let last_ref = data_max.map_or(last_ref, |c| last_ref.min(c));
        let selected = self.select(vs, first_ref.saturating_sub(range), last_ref, range)?;
        Ok(RangeSource {
            series: selected.into_iter().map(SourceSeries::Stored).collect(),
            range,
            at: vs.at.clone(),
            offset: vs.offset.clone(),
            data_max,
            slide_from: None,
        })
    }

    /// A range selector as a value (only valid as an instant query's result).
    pub fn eval_matrix_selector(&self, ms: &MatrixSelector) -> Result<Val> {
        let src = self.matrix_source(ms)?;
        Ok(Val::Matrix(src.into_raw_series(self)?))
    }

    /// Evaluates a subquery's inner expression over the steps it needs, once
    /// for all outer steps, and returns it as a range source.
    pub fn subquery_source(&self, sq: &SubqueryExpr) -> Result<RangeSource> {
        self.subquery_source_with(sq, false)
    }

    /// [`Evaluator::subquery_source`]; with `slide`, a subquery pinned by
    /// `@` is evaluated the way Prometheus 2.42 does inside
    /// `predict_linear`: its steps run on past the pinned time by the
    /// length of the outer evaluation, over data that ends at the pinned
    /// time, and windows move with the evaluation time.
    pub fn subquery_source_with(&self, sq: &SubqueryExpr, slide: bool) -> Result<RangeSource> {
        let slide = slide && sq.at.is_some();
        let range = duration_ms(sq.range);
        let step = match sq.step {
            Some(s) if !s.is_zero() => duration_ms(s),
            _ => self.ctx.default_subquery_step,
        }
        .max(1);
        let first_ref = self.ref_time(self.start, &sq.at, &sq.offset);
        let pinned_end = self.ref_time(self.end, &sq.at, &sq.offset);
        let last_ref = if slide {
            pinned_end.saturating_add(self.end - self.start)
        } else {
            pinned_end
        };
        // The first step-aligned time at or after the earliest window start.
        let lowest = first_ref.saturating_sub(range);
        let mut inner_start = step * (lowest / step);
        if inner_start < lowest {
            inner_start = inner_start.saturating_add(step);
        }
        let mut inner = Evaluator::new(self.ctx, inner_start, last_ref, step);
        inner.in_subquery = true;
        inner.data_cap = if slide {
            Some(pinned_end)
        } else {
            self.sample_cap(&sq.at, &sq.offset)
        };
        // Every inner step holds at least a scalar: more steps than the
        // sample limit cannot be evaluated (and must not be allocated).
        if inner.steps() > self.ctx.limits.max_samples {
            return Err(QueryError::too_many_samples());
        }
        let series = if inner_start > last_ref {
            Vec::new()
        } else {
            match inner.eval(&sq.expr)? {
                Val::Vector(s) => s,
                Val::Scalar(v) => vec![Series {
                    labels: Labels::empty(),
                    samples: v
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| Sample::new(inner.step_ts(i), v))
                        .collect(),
                }],
                other => {
                    return Err(QueryError::BadData(format!(
                        "subquery is only allowed on instant vector, got {}",
                        super::val_type_name(&other)
                    )))
                }
            }
        };
        Ok(RangeSource {
            series: series.into_iter().map(SourceSeries::Memory).collect(),
            range,
            at: sq.at.clone(),
            offset: sq.offset.clone(),
            data_max: None,
            slide_from: slide.then_some(self.start),
        })
    }
}
