//! One request's appends: samples the storage refuses are counted by reason
//! and the first few described (series, timestamp, reason); a storage
//! failure aborts the request.
//!
//! Thread safety: a `Batch` is used by one blocking task.

use std::fmt::Write as _;

use sonde_model::{
    AppendError, Appender, Apply, Exemplar, Labels, SeriesRef, StorageError, Timestamp,
};

use super::sanitize::pairs_to_string;
use super::state::{Ingest, Protocol};

/// Refused samples described in the response; the rest are only counted.
const MAX_DESCRIBED: usize = 10;
/// Samples more than this ahead of the server's clock are refused as out of
/// bounds (Prometheus' remote-write handler uses the same 10 minutes), so a
/// sender with a broken clock cannot push the head's time far ahead.
pub(crate) const MAX_AHEAD_MS: i64 = 10 * 60 * 1000;

/// Counters of refused samples by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub out_of_order: usize,
    pub duplicate: usize,
    pub out_of_bounds: usize,
    pub too_old: usize,
    pub invalid: usize,
}

impl Refused {
    pub fn total(&self) -> usize {
        self.out_of_order + self.duplicate + self.out_of_bounds + self.too_old + self.invalid
    }
}

pub(crate) struct Batch {
    app: Box<dyn Appender>,
    now_ms: i64,
    pub appended: usize,
    pub refused: Refused,
    /// Exemplars the storage did not take (not reported to the sender).
    pub exemplars_dropped: usize,
    described: Vec<String>,
}

impl Batch {
    pub fn new(app: Box<dyn Appender>, now_ms: i64) -> Self {
        Batch {
            app,
            now_ms,
            appended: 0,
            refused: Refused::default(),
            exemplars_dropped: 0,
            described: Vec::new(),
        }
    }

    /// Appends one sample; a refused sample is recorded, a storage failure
    /// is returned (the caller rolls back).
    pub fn append(
        &mut self,
        series_ref: SeriesRef,
        labels: &Labels,
        t: Timestamp,
        v: f64,
    ) -> Result<SeriesRef, StorageError> {
        if let Some(why) = self.time_refusal(t) {
            self.refused.out_of_bounds += 1;
            self.describe(|| format!("series {labels} timestamp {t}: {why}"));
            return Ok(series_ref);
        }
        match self.app.append(series_ref, labels, t, v) {
            Ok(r) => {
                self.appended += 1;
                Ok(r)
            }
            Err(e) => self
                .refusal(e, || labels.to_string(), t)
                .map(|()| series_ref),
        }
    }

    /// Why the batch refuses a sample at `t` whatever its series, if it does.
    fn time_refusal(&self, t: Timestamp) -> Option<String> {
        if t < crate::params::MIN_TIME_MS {
            return Some(format!(
                "before the earliest representable time {}",
                crate::params::MIN_TIME_MS
            ));
        }
        if t > self.now_ms.saturating_add(MAX_AHEAD_MS) {
            return Some("more than 10m ahead of the server's clock".into());
        }
        None
    }

    /// Records a sample the storage refused; a storage failure is returned.
    fn refusal(
        &mut self,
        e: AppendError,
        series: impl FnOnce() -> String,
        t: Timestamp,
    ) -> Result<(), StorageError> {
        match e {
            AppendError::Storage(e) => return Err(e),
            AppendError::OutOfOrder => self.refused.out_of_order += 1,
            AppendError::DuplicateSampleForTimestamp => self.refused.duplicate += 1,
            AppendError::OutOfBounds => self.refused.out_of_bounds += 1,
            AppendError::TooOld => self.refused.too_old += 1,
            _ => self.refused.invalid += 1,
        }
        self.describe(|| format!("series {} timestamp {t}: {e}", series()));
        Ok(())
    }

    /// Appends one sample to the series whose canonical label pairs these
    /// are, if the storage holds it ([`Appender::append_known`]);
    /// `Ok(None)` when it does not (nothing recorded). A refused sample is
    /// recorded, a storage failure returned.
    pub fn append_known(
        &mut self,
        series_ref: SeriesRef,
        pairs: &[(&str, &str)],
        t: Timestamp,
        v: f64,
    ) -> Result<Option<SeriesRef>, StorageError> {
        if let Some(why) = self.time_refusal(t) {
            self.refused.out_of_bounds += 1;
            self.describe(|| format!("series {} timestamp {t}: {why}", pairs_to_string(pairs)));
            return Ok(Some(series_ref));
        }
        match self.app.append_known(series_ref, pairs, t, v) {
            Ok(Some(r)) => {
                self.appended += 1;
                Ok(Some(r))
            }
            Ok(None) => Ok(None),
            Err(e) => self
                .refusal(e, || pairs_to_string(pairs), t)
                .map(|()| Some(series_ref)),
        }
    }

    /// Looks up the series of a whole request ahead of its appends
    /// ([`Appender::lookup_known`]): `refs[i]` is `series[i]`'s ref, 0
    /// when the storage does not hold it (or has no such lookup).
    pub fn lookup_known(&mut self, series: &[&[(&str, &str)]], refs: &mut Vec<SeriesRef>) {
        self.app.lookup_known(series, refs);
    }

    /// Attaches an exemplar. Like Prometheus' remote-write handler, an
    /// exemplar that cannot be stored (out of order, exemplar storage
    /// disabled) never fails the request: it is dropped, and counted.
    pub fn append_exemplar(&mut self, series_ref: SeriesRef, labels: &Labels, e: &Exemplar) {
        if self.app.append_exemplar(series_ref, labels, e).is_err() {
            self.exemplars_dropped += 1;
        }
    }

    /// Records bad input that never reached storage (`count` samples).
    pub fn refuse_invalid(&mut self, count: usize, what: impl FnOnce() -> String) {
        self.refused.invalid += count;
        self.describe(what);
    }

    fn describe(&mut self, what: impl FnOnce() -> String) {
        if self.described.len() < MAX_DESCRIBED {
            self.described.push(what());
        }
    }

    /// Commits without waiting for durability: on return the batch is on
    /// its way to the WAL; [`Committed::durable`] waits for it and makes it
    /// visible.
    pub fn commit_then_wait(self) -> Committed {
        let (app, outcome) = self.split();
        let (tx, rx) = tokio::sync::oneshot::channel();
        app.commit_then(Box::new(move |res| {
            let _ = tx.send(res);
        }));
        Committed { rx, outcome }
    }

    fn split(self) -> (Box<dyn Appender>, Outcome) {
        let Batch {
            app,
            appended,
            refused,
            described,
            exemplars_dropped,
            ..
        } = self;
        let outcome = Outcome {
            appended,
            refused,
            described,
            exemplars_dropped,
        };
        (app, outcome)
    }

    pub fn rollback(self) {
        self.app.rollback();
    }
}

/// A committed batch on its way to durability.
pub(crate) struct Committed {
    rx: tokio::sync::oneshot::Receiver<Result<Apply, StorageError>>,
    outcome: Outcome,
}

impl Committed {
    /// Waits until the batch is durable, makes it visible (on this async
    /// worker when `inline`, else on the blocking pool: applying is about
    /// as much work as appending), then counts it in `ingest`'s metrics:
    /// `Ok(None)` when nothing was refused, `Ok(Some(message))` naming what
    /// was.
    pub async fn durable(
        self,
        ingest: &Ingest,
        protocol: Protocol,
        inline: bool,
    ) -> Result<Option<String>, StorageError> {
        let apply = match self.rx.await {
            Ok(res) => res?,
            Err(_) => {
                return Err(StorageError::Other(
                    "BUG: the storage dropped a commit without answering".into(),
                ))
            }
        };
        if inline {
            apply.run();
        } else {
            tokio::task::spawn_blocking(move || apply.run())
                .await
                .map_err(|e| StorageError::Other(format!("applying a commit failed: {e}")))?;
        }
        Ok(self.outcome.report(ingest, protocol))
    }
}

/// What a batch did, reported once it is committed.
struct Outcome {
    appended: usize,
    refused: Refused,
    described: Vec<String>,
    exemplars_dropped: usize,
}

impl Outcome {
    /// Counts the batch in `ingest`'s metrics; `None` when nothing was
    /// refused, else a message naming what was.
    fn report(self, ingest: &Ingest, protocol: Protocol) -> Option<String> {
        let Outcome {
            appended,
            refused,
            described,
            exemplars_dropped,
        } = self;
        ingest.record_batch(protocol, appended, &refused, exemplars_dropped);
        if exemplars_dropped > 0 {
            tracing::debug!(exemplars_dropped, "exemplars not stored");
        }
        if refused.total() == 0 {
            return None;
        }
        let mut msg = format!("{} samples refused, {appended} accepted (", refused.total());
        let mut first = true;
        for (n, what) in [
            (refused.out_of_order, "out of order"),
            (refused.duplicate, "duplicate sample for timestamp"),
            (refused.out_of_bounds, "out of bounds"),
            (refused.too_old, "too old"),
            (refused.invalid, "invalid"),
        ] {
            if n > 0 {
                let sep = if first { "" } else { ", " };
                first = false;
                let _ = write!(msg, "{sep}{what}: {n}");
            }
        }
        msg.push_str("): ");
        msg.push_str(&described.join("; "));
        if refused.total() > described.len() {
            let _ = write!(msg, "; and {} more", refused.total() - described.len());
        }
        Some(msg)
    }
}

/// The error type of a storage failure: `unavailable` (503) while the
/// storage is read-only (a full disk), so that senders keep the data and
/// retry; `internal` (500, also retried) for any other failure.
pub(crate) fn storage_error_type(e: &StorageError) -> crate::api::ErrorType {
    match e {
        StorageError::ReadOnly(_) => crate::api::ErrorType::Unavailable,
        _ => crate::api::ErrorType::Internal,
    }
}

/// Milliseconds since the epoch, now.
pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
