//! The exemplar store: one bounded circular buffer of exemplars shared by
//! all series, with a per-series index, as Prometheus 2.42's
//! `CircularExemplarStorage` (`tsdb/exemplar.go`).
//!
//! Invariants:
//! - the buffer holds at most `max` exemplars; when full, each new one
//!   overwrites the oldest appended (of whatever series);
//! - the exemplars of one series form a chain from its `oldest` to its
//!   `newest` entry, in the order they were added, which is also time order
//!   (an exemplar not newer than its series' newest is refused as out of
//!   order, one equal to it is a no-op);
//! - a series is in the index exactly while it has an exemplar in the
//!   buffer; the index is keyed by the series' labels, so exemplars outlive
//!   the head series they were attached to (as in Prometheus).
//!
//! Thread safety: the buffer and index sit behind one `RwLock` (appends at
//! commit take it for writing, queries for reading); counters are atomics.
//! Prometheus also uses a single lock here; exemplars are a few per scrape,
//! not per sample, so the lock is not on the sample hot path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::RwLock;
use sonde_model::{AppendError, Exemplar, ExemplarSeries, Labels, Matcher, Timestamp};

/// Most runes (Unicode scalar values) the names and values of an
/// exemplar's labels may have together: OpenMetrics' limit, which
/// Prometheus enforces (`exemplar.ExemplarMaxLabelSetLength`).
pub const MAX_LABEL_SET_RUNES: usize = 128;

/// Prometheus' `storage.ErrExemplarLabelLength` message.
pub const LABEL_LENGTH_ERROR: &str =
    "label length for exemplar exceeds maximum of 128 UTF-8 characters";

/// Marks the end of a series' chain.
const NONE: u32 = u32::MAX;

/// The buffer grows in steps of at least this many entries up to `max`,
/// so a large `max_exemplars` costs memory only once it is used.
const GROW_STEP: usize = 1024;

/// An exemplar as stored: its time is always known (an exemplar exposed
/// without a timestamp gets its sample's), and `has_ts` remembers whether
/// it came with one, because two exemplars without their own timestamps are
/// the same exemplar whatever times they were given (Prometheus'
/// `Exemplar.Equals`).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredExemplar {
    pub labels: Labels,
    pub value: f64,
    pub ts: Timestamp,
    pub has_ts: bool,
}

impl StoredExemplar {
    /// Prometheus' `Exemplar.Equals`: same labels and value (so a NaN value
    /// never equals), and the same time when either has its own timestamp.
    pub fn same_as(&self, other: &StoredExemplar) -> bool {
        self.labels == other.labels
            && (!(self.has_ts || other.has_ts) || self.ts == other.ts)
            && self.value == other.value
    }

    fn to_model(&self) -> Exemplar {
        Exemplar {
            labels: self.labels.clone(),
            value: self.value,
            ts: Some(self.ts),
        }
    }
}

/// Why an exemplar was not stored (besides being a duplicate, a no-op).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Disabled,
    LabelLength,
    OutOfOrder,
}

impl From<Refusal> for AppendError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::OutOfOrder => AppendError::OutOfOrderExemplar,
            Refusal::LabelLength => AppendError::InvalidLabels {
                labels: "exemplar".into(),
                reason: LABEL_LENGTH_ERROR.into(),
            },
            Refusal::Disabled => AppendError::Storage(sonde_model::StorageError::Other(
                "exemplar storage is disabled or max exemplars is less than or equal to 0".into(),
            )),
        }
    }
}

struct Entry {
    ex: StoredExemplar,
    /// The next (newer) entry of the same series, or [`NONE`].
    next: u32,
    /// The slot of its series in `Ring::series`.
    series: u32,
}

struct SeriesSlot {
    labels: Labels,
    oldest: u32,
    newest: u32,
}

#[derive(Default)]
struct Ring {
    max: usize,
    /// Grows to `max`, then entry `next` is overwritten by each add.
    entries: Vec<Entry>,
    next: usize,
    series: Vec<SeriesSlot>,
    free_slots: Vec<u32>,
    index: HashMap<Labels, u32>,
}

/// Counters and gauges of the store (Prometheus' `prometheus_tsdb_exemplar_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ExemplarStats {
    pub appended_total: u64,
    pub out_of_order_total: u64,
    pub in_storage: u64,
    pub series_in_storage: u64,
    /// Time of the oldest exemplar kept, in seconds (0 when empty).
    pub oldest_timestamp_seconds: f64,
    pub max_exemplars: u64,
}

/// The store. See the module documentation.
pub struct ExemplarStore {
    ring: RwLock<Ring>,
    appended: AtomicU64,
    out_of_order: AtomicU64,
}

impl ExemplarStore {
    /// A store of at most `max` exemplars; 0 or less disables it (it can be
    /// enabled later with [`ExemplarStore::resize`]).
    pub fn new(max: i64) -> Self {
        ExemplarStore {
            ring: RwLock::new(Ring {
                max: clamp_max(max),
                ..Ring::default()
            }),
            appended: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.ring.read().max > 0
    }

    /// Checks `e` for series `series` without storing it. `Ok(true)`: it
    /// duplicates the series' newest exemplar (storing it is a no-op).
    /// `count` says whether an out-of-order refusal is counted.
    pub fn validate(
        &self,
        series: &Labels,
        e: &StoredExemplar,
        count: bool,
    ) -> Result<bool, Refusal> {
        let ring = self.ring.read();
        self.check(&ring, series, e, count)
    }

    fn check(
        &self,
        ring: &Ring,
        series: &Labels,
        e: &StoredExemplar,
        count: bool,
    ) -> Result<bool, Refusal> {
        if ring.max == 0 {
            return Err(Refusal::Disabled);
        }
        let runes: usize = e
            .labels
            .iter()
            .map(|(n, v)| n.chars().count() + v.chars().count())
            .sum();
        if runes > MAX_LABEL_SET_RUNES {
            return Err(Refusal::LabelLength);
        }
        let Some(&slot) = ring.index.get(series) else {
            return Ok(false);
        };
        let newest = &ring.entries[ring.series[slot as usize].newest as usize].ex;
        if newest.same_as(e) {
            return Ok(true);
        }
        if e.ts <= newest.ts {
            if count {
                self.out_of_order.fetch_add(1, Ordering::Relaxed);
            }
            return Err(Refusal::OutOfOrder);
        }
        Ok(false)
    }

    /// Validates and stores `e` for series `series`. A duplicate of the
    /// series' newest exemplar is a no-op and `Ok`.
    pub fn add(&self, series: &Labels, e: StoredExemplar) -> Result<(), Refusal> {
        let mut ring = self.ring.write();
        if self.check(&ring, series, &e, true)? {
            return Ok(());
        }
        ring.push(series, e);
        self.appended.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Changes the capacity, keeping the newest exemplars that fit (in the
    /// order they were added). Returns how many were kept.
    pub fn resize(&self, max: i64) -> usize {
        let max = clamp_max(max);
        let mut ring = self.ring.write();
        if max == ring.max {
            return ring.entries.len();
        }
        let old = std::mem::take(&mut *ring);
        ring.max = max;
        let items = old.into_ordered();
        let skip = items.len().saturating_sub(max);
        let mut kept = 0;
        for (series, e) in items.into_iter().skip(skip) {
            ring.push(&series, e);
            kept += 1;
        }
        kept
    }

    /// Every stored exemplar with its series' labels, oldest added first
    /// (what a WAL checkpoint rewrites).
    pub fn snapshot(&self) -> Vec<(Labels, StoredExemplar)> {
        let ring = self.ring.read();
        ring.ordered_indices()
            .map(|i| {
                let e = &ring.entries[i];
                (ring.series[e.series as usize].labels.clone(), e.ex.clone())
            })
            .collect()
    }

    /// The exemplars with `start <= ts <= end` of the series matching any
    /// one of `matcher_sets`, sorted by series labels.
    pub fn select(
        &self,
        start: Timestamp,
        end: Timestamp,
        matcher_sets: &[Vec<Matcher>],
    ) -> Vec<ExemplarSeries> {
        let ring = self.ring.read();
        let mut out = Vec::new();
        for slot in ring.index.values() {
            let s = &ring.series[*slot as usize];
            let oldest = &ring.entries[s.oldest as usize];
            if oldest.ex.ts > end || ring.entries[s.newest as usize].ex.ts < start {
                continue;
            }
            if !matcher_sets
                .iter()
                .any(|set| set.iter().all(|m| m.matches_labels(&s.labels)))
            {
                continue;
            }
            let mut exemplars = Vec::new();
            let mut e = oldest;
            while e.ex.ts <= end {
                if e.ex.ts >= start {
                    exemplars.push(e.ex.to_model());
                }
                if e.next == NONE {
                    break;
                }
                e = &ring.entries[e.next as usize];
            }
            if !exemplars.is_empty() {
                out.push(ExemplarSeries {
                    series_labels: s.labels.clone(),
                    exemplars,
                });
            }
        }
        out.sort_by(|a, b| a.series_labels.cmp(&b.series_labels));
        out
    }

    pub fn stats(&self) -> ExemplarStats {
        let ring = self.ring.read();
        let oldest = ring.ordered_indices().next();
        ExemplarStats {
            appended_total: self.appended.load(Ordering::Relaxed),
            out_of_order_total: self.out_of_order.load(Ordering::Relaxed),
            in_storage: ring.entries.len() as u64,
            series_in_storage: ring.index.len() as u64,
            oldest_timestamp_seconds: oldest.map_or(0.0, |i| ring.entries[i].ex.ts as f64 / 1000.0),
            max_exemplars: ring.max as u64,
        }
    }
}

/// A capacity from configuration: negative is 0; more entries than a u32
/// index can name are capped (Prometheus' default is 100,000).
fn clamp_max(max: i64) -> usize {
    max.clamp(0, i64::from(NONE - 1)) as usize
}

impl Ring {
    /// Indices of the entries from oldest to newest added.
    fn ordered_indices(&self) -> impl Iterator<Item = usize> + '_ {
        let n = self.entries.len();
        let start = if n < self.max { 0 } else { self.next };
        (0..n).map(move |i| (start + i) % n.max(1))
    }

    /// The entries, oldest added first, with their series' labels.
    fn into_ordered(mut self) -> Vec<(Labels, StoredExemplar)> {
        if self.entries.len() == self.max {
            self.entries.rotate_left(self.next);
        }
        let series = self.series;
        self.entries
            .into_iter()
            .map(|e| (series[e.series as usize].labels.clone(), e.ex))
            .collect()
    }

    /// Stores `ex` (already validated) at `next`, evicting what was there.
    fn push(&mut self, series: &Labels, ex: StoredExemplar) {
        let at = self.next;
        let growing = at >= self.entries.len();
        if !growing {
            self.evict(at);
        }
        // After the eviction, a series still indexed has its newest entry
        // elsewhere than `at`.
        let slot = match self.index.get(series) {
            Some(&slot) => {
                let newest = self.series[slot as usize].newest;
                self.entries[newest as usize].next = at as u32;
                self.series[slot as usize].newest = at as u32;
                slot
            }
            None => self.new_slot(series, at as u32),
        };
        let entry = Entry {
            ex,
            next: NONE,
            series: slot,
        };
        if growing {
            if self.entries.len() == self.entries.capacity() {
                let grow = self.entries.len().max(GROW_STEP);
                self.entries
                    .reserve_exact(grow.min(self.max - self.entries.len()));
            }
            self.entries.push(entry);
        } else {
            self.entries[at] = entry;
        }
        self.next = (at + 1) % self.max;
    }

    /// Unlinks entry `at`, the oldest of its series, before it is reused.
    fn evict(&mut self, at: usize) {
        let e = &self.entries[at];
        let slot = e.series;
        if e.next == NONE {
            let s = &mut self.series[slot as usize];
            let labels = std::mem::take(&mut s.labels);
            self.index.remove(&labels);
            self.free_slots.push(slot);
        } else {
            self.series[slot as usize].oldest = e.next;
        }
    }

    fn new_slot(&mut self, series: &Labels, at: u32) -> u32 {
        let s = SeriesSlot {
            labels: series.clone(),
            oldest: at,
            newest: at,
        };
        let slot = match self.free_slots.pop() {
            Some(slot) => {
                self.series[slot as usize] = s;
                slot
            }
            None => {
                self.series.push(s);
                (self.series.len() - 1) as u32
            }
        };
        self.index.insert(series.clone(), slot);
        slot
    }
}

/// Exemplars per record in a checkpoint: bounds the record size (about
/// 100 bytes each) and the buffer.
const CHECKPOINT_BATCH: usize = 4096;

/// Writes the store into a WAL checkpoint as exemplar records, oldest
/// first, for the series still in the head (their series records are in
/// the checkpoint already); the exemplars of series gone from the head are
/// not kept across a restart, as in Prometheus' checkpoint.
pub(crate) fn write_checkpoint(
    store: &ExemplarStore,
    head: &crate::head::Head,
    cp: &mut crate::wal::Checkpoint,
) -> Result<(), crate::error::TsdbError> {
    let all = store.snapshot();
    if all.is_empty() {
        return Ok(());
    }
    let wanted: std::collections::HashSet<&Labels> = all.iter().map(|(l, _)| l).collect();
    let ids: HashMap<Labels, u32> = head
        .all_series()
        .iter()
        .filter(|s| wanted.contains(&s.labels))
        .map(|s| (s.labels.clone(), s.id))
        .collect();
    let mut buf = Vec::new();
    let mut batch: Vec<(u32, &StoredExemplar)> = Vec::with_capacity(CHECKPOINT_BATCH);
    for (labels, e) in &all {
        if let Some(&id) = ids.get(labels) {
            batch.push((id, e));
        }
        if batch.len() == CHECKPOINT_BATCH {
            flush_checkpoint_batch(&mut batch, &mut buf, cp)?;
        }
    }
    flush_checkpoint_batch(&mut batch, &mut buf, cp)
}

fn flush_checkpoint_batch(
    batch: &mut Vec<(u32, &StoredExemplar)>,
    buf: &mut Vec<u8>,
    cp: &mut crate::wal::Checkpoint,
) -> Result<(), crate::error::TsdbError> {
    if batch.is_empty() {
        return Ok(());
    }
    buf.clear();
    crate::wal::append_frame(buf, crate::wal_record::REC_EXEMPLARS, |dst| {
        crate::wal_record::encode_exemplars(dst, batch.drain(..));
    });
    cp.write(buf)
}

#[cfg(test)]
mod tests;
