//! The storage traits: how samples go in ([`Appendable`]) and come out
//! ([`Queryable`]). Scraping, ingestion endpoints and rules write through an
//! [`Appender`]; the query engine and the API read through a [`Querier`]. The
//! storage engine implements both, and nothing above it sees more.
//!
//! Thread safety: `Appendable` and `Queryable` are shared across threads; each
//! `Appender` or `Querier` they hand out is used by one task at a time.

use crate::labels::Labels;
use crate::matcher::Matcher;
use crate::sample::{Sample, Timestamp};

/// A storage-assigned handle for a series, returned by [`Appender::append`] so
/// the next append of the same labels can skip the lookup. `0` means unknown.
pub type SeriesRef = u64;

/// Why one sample was refused. The batch it belongs to goes on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AppendError {
    #[error("out of order sample")]
    OutOfOrder,
    #[error("out of bounds")]
    OutOfBounds,
    #[error("duplicate sample for timestamp")]
    DuplicateSampleForTimestamp,
    #[error("too old sample")]
    TooOld,
    #[error("invalid labels {labels}: {reason}")]
    InvalidLabels { labels: String, reason: String },
    #[error("out of order exemplar")]
    OutOfOrderExemplar,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A failure of the storage itself (disk, corruption, read-only mode).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    #[error("storage is read-only: {0}")]
    ReadOnly(String),
    #[error("{0}")]
    Io(String),
    #[error("query was cancelled")]
    Cancelled,
    #[error("{0}")]
    Other(String),
}

/// An exemplar attached to a sample (OpenMetrics `# {trace_id="..."} 1.0 1.5`).
#[derive(Debug, Clone, PartialEq)]
pub struct Exemplar {
    pub labels: Labels,
    pub value: f64,
    pub ts: Option<Timestamp>,
}

/// The exemplars of one series, as `/api/v1/query_exemplars` returns them.
#[derive(Debug, Clone, PartialEq)]
pub struct ExemplarSeries {
    pub series_labels: Labels,
    /// In time order; every `ts` is set.
    pub exemplars: Vec<Exemplar>,
}

/// Something that keeps exemplars and can search them (Prometheus'
/// `ExemplarQueryable`).
pub trait ExemplarQueryable: Send + Sync {
    /// The exemplars with `start <= ts <= end` of the series matching any one
    /// of `matcher_sets` (the matchers of a set all hold), sorted by series
    /// labels. Series without exemplars in the range are left out.
    fn select_exemplars(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Result<Vec<ExemplarSeries>, StorageError>;
}

/// The metric types of the text formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetricType {
    Counter,
    Gauge,
    Histogram,
    GaugeHistogram,
    Summary,
    Info,
    StateSet,
    #[default]
    Unknown,
}

impl MetricType {
    /// The lowercase name used by `# TYPE` and the metadata API.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Histogram => "histogram",
            MetricType::GaugeHistogram => "gaugehistogram",
            MetricType::Summary => "summary",
            MetricType::Info => "info",
            MetricType::StateSet => "stateset",
            MetricType::Unknown => "unknown",
        }
    }
}

/// TYPE, HELP and UNIT of a metric family.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricMetadata {
    pub metric_type: MetricType,
    pub help: String,
    pub unit: String,
}

/// Called with the outcome of [`Appender::commit_then`] once the batch is
/// durable: the [`Apply`] that makes it visible, or why it failed.
pub type CommitDone = Box<dyn FnOnce(Result<Apply, StorageError>) + Send>;

/// The last step of a commit: makes a durable batch visible to queries.
/// It is the CPU-heavy part of a commit, so it is handed to the committer
/// to run on its own thread, before it acknowledges the batch. Dropped
/// without being run, it runs then (a storage may wait for it).
#[must_use = "a commit is visible only once its Apply has run"]
pub struct Apply(Option<Box<dyn FnOnce() + Send>>);

impl Apply {
    pub fn new(apply: impl FnOnce() + Send + 'static) -> Self {
        Apply(Some(Box::new(apply)))
    }

    /// Nothing left to do: the batch is visible already.
    pub fn done() -> Self {
        Apply(None)
    }

    pub fn run(mut self) {
        if let Some(f) = self.0.take() {
            f()
        }
    }

    /// This step, then `next`.
    pub fn then(self, next: impl FnOnce() + Send + 'static) -> Self {
        Apply::new(move || {
            self.run();
            next()
        })
    }
}

impl Drop for Apply {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            f()
        }
    }
}

impl std::fmt::Debug for Apply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Apply(pending)"
        } else {
            "Apply(done)"
        })
    }
}

/// A batch of appends, made visible together by [`Appender::commit`].
pub trait Appender: Send {
    /// Adds one sample. `series_ref` is the value an earlier append of the
    /// same `labels` returned (or 0); the return value is the ref to pass
    /// next time. A refused sample does not spoil the batch.
    fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, AppendError>;

    /// Adds one sample to the series whose label set is exactly `pairs`,
    /// if the storage already holds that series (pairs in any other form
    /// than a stored set's, unsorted, with a repeated name or an empty
    /// value, match none); `Ok(None)` when it does not, and then
    /// nothing was done: the caller builds the [`Labels`] and calls
    /// [`Appender::append`]. `series_ref` and the result are as in
    /// `append`. This lets a receiver that gets every series' labels with
    /// every sample (remote write) skip building a label set for the series
    /// it has seen; the default implementation, for storages without such
    /// a lookup, always answers `Ok(None)`.
    fn append_known(
        &mut self,
        series_ref: SeriesRef,
        pairs: &[(&str, &str)],
        t: Timestamp,
        v: f64,
    ) -> Result<Option<SeriesRef>, AppendError> {
        let _ = (series_ref, pairs, t, v);
        Ok(None)
    }

    /// Looks up, ahead of the appends, the series whose label sets are
    /// exactly `series[i]` (as [`Appender::append_known`] does), and sets
    /// `refs[i]` to each one's ref, 0 for a series the storage does not
    /// hold; the refs are then passed to `append_known` (or `append`). A
    /// receiver that has a whole request decoded (remote write) calls this
    /// once for the request: a storage can do many lookups faster at once
    /// than one at a time (their memory accesses overlap) and keep what it
    /// found for the appends of this batch: passed with `refs[i]`, the
    /// same slice `series[i]` (not a copy) lets it take the series found
    /// without comparing the labels again, so that slice must not change
    /// until the batch ends. The default, for storages without such a
    /// lookup, sets every ref to 0.
    fn lookup_known(&mut self, series: &[&[(&str, &str)]], refs: &mut Vec<SeriesRef>) {
        refs.clear();
        refs.resize(series.len(), 0);
    }

    /// Attaches an exemplar to a series.
    fn append_exemplar(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        exemplar: &Exemplar,
    ) -> Result<SeriesRef, AppendError>;

    /// Makes the batch durable and visible. Returns only once it is safe to
    /// acknowledge the batch to whoever sent it.
    fn commit(self: Box<Self>) -> Result<(), StorageError>;

    /// Commits without waiting on this thread: `done` is called, on this
    /// thread or another, possibly before this returns, once the batch is
    /// durable, with the [`Apply`] that makes it visible (run it, then
    /// acknowledge the batch to whoever sent it), or with why the batch
    /// was not stored. A server handling many senders uses it so that no
    /// thread sleeps through an fsync. The default commits and calls `done`
    /// at once.
    fn commit_then(self: Box<Self>, done: CommitDone) {
        done(self.commit().map(|()| Apply::done()))
    }

    /// Drops the batch.
    fn rollback(self: Box<Self>);
}

/// Something that accepts samples.
pub trait Appendable: Send + Sync {
    /// A batch to append to. Take it when the samples are at hand and
    /// commit (or roll back) promptly: storage may hold a group commit open
    /// for a batch in progress.
    fn appender(&self) -> Box<dyn Appender>;
}

/// What the query engine knows about a selection, so storage can avoid work.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SelectHints {
    /// Inclusive time range of samples wanted, in milliseconds.
    pub start: Timestamp,
    pub end: Timestamp,
    /// Evaluation step of a range query, 0 for an instant query.
    pub step: i64,
    /// The function the selection feeds, e.g. `rate`, or empty.
    pub func: String,
    /// The range of a range selector (`[5m]`) in milliseconds, or 0.
    pub range: i64,
}

/// Series as a stream, sorted by labels.
pub type SeriesSet = Box<dyn Iterator<Item = Result<Box<dyn Series>, StorageError>> + Send>;

/// One series of a selection.
pub trait Series: Send {
    fn labels(&self) -> &Labels;
    /// The series' samples within the selection's range, in time order.
    fn samples(&self) -> Box<dyn SampleIter + '_>;
}

/// A forward-only cursor over samples.
pub trait SampleIter {
    /// The next sample, or `None` at the end.
    fn next(&mut self) -> Option<Sample>;
    /// Moves to the first sample at or after `t` and returns it; never moves
    /// backwards (seeking to an earlier time returns the current sample).
    fn seek(&mut self, t: Timestamp) -> Option<Sample>;

    /// The newest sample with `mint <= t <= maxt`, for a reader that needs
    /// only that one (an instant vector selector at one time); a storage
    /// can find it without reading the older samples. The cursor is left
    /// anywhere: use the iterator no further.
    fn last_in(&mut self, mint: Timestamp, maxt: Timestamp) -> Option<Sample> {
        let mut last = None;
        let mut s = self.seek(mint);
        while let Some(x) = s.filter(|x| x.t <= maxt) {
            last = Some(x);
            s = self.next();
        }
        last
    }

    /// Appends every sample with `mint <= t <= maxt` to `out`, in order,
    /// for a reader that takes a whole range at once (a range function over
    /// a query's steps); a storage can decode its chunks in bulk instead of
    /// sample by sample. The cursor is left anywhere: use the iterator no
    /// further.
    fn collect_in(&mut self, mint: Timestamp, maxt: Timestamp, out: &mut Vec<Sample>) {
        let mut s = self.seek(mint);
        while let Some(x) = s.filter(|x| x.t <= maxt) {
            out.push(x);
            s = self.next();
        }
    }
}

/// A read view over a time range.
pub trait Querier: Send {
    /// Series matching all `matchers` that have samples in the hinted range,
    /// sorted by labels.
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<SeriesSet, StorageError>;
    /// Sorted label names of the series matching `matchers` (all when empty).
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
    /// Sorted values of label `name` over the series matching `matchers`.
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError>;
}

/// Something that can be read.
pub trait Queryable: Send + Sync {
    /// A querier over samples with `mint <= t <= maxt`.
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError>;
}
