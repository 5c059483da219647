//! The vocabulary shared by every Sonde crate: label sets, samples, label
//! matchers, Prometheus durations, and the [`Appendable`]/[`Queryable`] storage
//! traits that let scraping, ingestion and the query engine meet the storage
//! engine without depending on its internals. This crate does no I/O.

pub mod duration;
pub mod labels;
pub mod matcher;
pub mod regex;
pub mod sample;
pub mod self_metrics;
pub mod storage;

pub use duration::{format_duration, parse_duration, DurationError};
pub use labels::{is_valid_label_name, is_valid_metric_name, Labels, LabelsBuilder, METRIC_NAME};
pub use matcher::{MatchOp, Matcher, MatcherError};
pub use regex::PromRegex;
pub use sample::{is_stale_nan, Sample, Timestamp, STALE_NAN};
pub use self_metrics::MetricValue;
pub use storage::{
    AppendError, Appendable, Appender, Apply, CommitDone, Exemplar, ExemplarQueryable,
    ExemplarSeries, MetricMetadata, MetricType, Querier, Queryable, SampleIter, SelectHints,
    Series, SeriesRef, SeriesSet, StorageError,
};
