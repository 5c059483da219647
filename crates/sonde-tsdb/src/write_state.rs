//! Read-only mode: what the database does when it cannot write.
//!
//! A failed WAL write (any cause: the batch cannot be acknowledged) or a
//! block or checkpoint write that fails because the disk is full
//! (`ENOSPC`, `EDQUOT`, `EFBIG`) puts the database in read-only mode:
//! commits are refused with [`StorageError::ReadOnly`] naming the file and
//! the cause, queries keep working. The mode is left by itself: after a
//! back-off (1s, doubling up to [`MAX_BACKOFF`]) the next commit is let
//! through as a probe: if a 1 MiB probe file and then its WAL write
//! succeed, the database is writable again, otherwise the back-off grows.
//! A restart also starts writable.
//!
//! Thread safety: `read_only` is the lock-free fast path of every commit;
//! the rest is under `state`'s mutex, taken only while read-only.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use sonde_model::StorageError;

/// First wait before a probe: long enough not to hammer a full disk with
/// every sender's retry, short enough that ingestion resumes within about a
/// second of space being freed.
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between probes (senders such as Prometheus retry at most
/// every 5s by default, so a probe is rarely later than two retries).
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// What a commit may do now.
#[derive(Debug, PartialEq)]
pub(crate) enum Gate {
    /// Writable: write as usual.
    Open,
    /// Read-only, and this commit is the probe: write, then report with
    /// [`WriteState::probe_done`].
    Probe,
    /// Read-only: refuse with this error.
    Refused(StorageError),
}

#[derive(Debug, Default)]
pub(crate) struct WriteState {
    read_only: AtomicBool,
    /// Times read-only mode was entered (`sonde_tsdb_read_only_entered_total`).
    pub(crate) entered: AtomicU64,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    reason: String,
    next_probe: Option<Instant>,
    backoff: Duration,
    probing: bool,
}

impl WriteState {
    pub(crate) fn is_read_only(&self) -> bool {
        self.read_only.load(Ordering::Acquire)
    }

    /// Why the database is read-only, if it is.
    pub(crate) fn reason(&self) -> Option<String> {
        self.is_read_only()
            .then(|| self.state.lock().reason.clone())
    }

    pub(crate) fn gate(&self) -> Gate {
        if !self.is_read_only() {
            return Gate::Open;
        }
        let mut s = self.state.lock();
        if !self.is_read_only() {
            return Gate::Open;
        }
        let due = s.next_probe.is_none_or(|t| Instant::now() >= t);
        if due && !s.probing {
            s.probing = true;
            return Gate::Probe;
        }
        Gate::Refused(StorageError::ReadOnly(s.reason.clone()))
    }

    /// Enters read-only mode (or stays in it with a new reason).
    pub(crate) fn enter(&self, reason: String) {
        let mut s = self.state.lock();
        if !self.is_read_only() {
            self.entered.fetch_add(1, Ordering::Relaxed);
            tracing::error!(reason = %reason,
                "storage is now read-only: writes are refused until a write succeeds again \
                 (retried after a back-off) or Sonde restarts; queries keep working");
            s.backoff = FIRST_BACKOFF;
        }
        s.next_probe = Some(Instant::now() + s.backoff);
        s.reason = reason;
        self.read_only.store(true, Ordering::Release);
    }

    /// The probe's outcome: `None` when its write succeeded.
    pub(crate) fn probe_done(&self, failure: Option<String>) {
        let mut s = self.state.lock();
        s.probing = false;
        match failure {
            None => {
                if self.read_only.swap(false, Ordering::AcqRel) {
                    tracing::info!(was = %s.reason, "storage is writable again");
                }
                s.reason.clear();
                s.next_probe = None;
            }
            Some(reason) => {
                s.backoff = (s.backoff * 2).clamp(FIRST_BACKOFF, MAX_BACKOFF);
                s.next_probe = Some(Instant::now() + s.backoff);
                tracing::warn!(reason = %reason, retry_in = ?s.backoff, "storage is still read-only");
                s.reason = reason;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_probe_at_a_time_and_success_leaves_the_mode() {
        let w = WriteState::default();
        assert_eq!(w.gate(), Gate::Open);
        w.enter("cannot write /d/wal/00000001: disk full".into());
        assert!(w.is_read_only());
        // Not due yet: refused with the reason.
        match w.gate() {
            Gate::Refused(StorageError::ReadOnly(r)) => assert!(r.contains("disk full"), "{r}"),
            g => panic!("expected refusal, got {g:?}"),
        }
        w.state.lock().next_probe = Some(Instant::now());
        assert_eq!(w.gate(), Gate::Probe);
        // A second commit while the probe runs is refused.
        assert!(matches!(w.gate(), Gate::Refused(_)));
        w.probe_done(Some("still full".into()));
        assert!(w.is_read_only());
        assert_eq!(w.state.lock().backoff, FIRST_BACKOFF * 2);
        w.state.lock().next_probe = Some(Instant::now());
        assert_eq!(w.gate(), Gate::Probe);
        w.probe_done(None);
        assert!(!w.is_read_only());
        assert_eq!(w.reason(), None);
        assert_eq!(w.gate(), Gate::Open);
        assert_eq!(w.entered.load(Ordering::Relaxed), 1);
    }
}
