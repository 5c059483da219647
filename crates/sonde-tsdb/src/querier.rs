//! The querier over the head and the blocks of a time range: each source
//! selects its series (sorted by labels, with chunk handles), and series
//! with the same labels in several sources are merged into one whose chunks
//! are read together by [`ChunkSeriesIter`](crate::iter::ChunkSeriesIter).
//!
//! A querier is a snapshot of which blocks exist when it is created; blocks
//! are reference counted, so compaction or retention deleting one does not
//! disturb a running query.

use std::collections::BTreeSet;
use std::sync::Arc;

use sonde_model::{Matcher, Querier, SelectHints, Series, SeriesSet, StorageError};

use crate::block::Block;
use crate::chunk::Chunk;
use crate::error::TsdbError;
use crate::head::Head;
use crate::iter::{apply_tombstones, ChunkSeries, SeriesLabels};
use crate::newest::{newest_of, NewestSeries};

/// One source of series for a query.
pub trait Source: Send + Sync {
    /// Series matching `matchers` with chunks overlapping `[mint, maxt]`,
    /// sorted by labels, tombstones applied.
    fn select_chunks(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(SeriesLabels, Vec<Chunk>)>, TsdbError>;
    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError>;
    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError>;

    /// [`Source::select_chunks`] for reading the samples in bulk from
    /// `mint` on (range selectors, range queries), where the head's open
    /// chunks come with a decoder mark
    /// ([`crate::series::SeriesData::chunks_from`]).
    fn select_chunks_from(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(SeriesLabels, Vec<Chunk>)>, TsdbError> {
        self.select_chunks(mint, maxt, matchers)
    }
}

impl Head {
    fn select_head_chunks(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
        marked: bool,
    ) -> Vec<(SeriesLabels, Vec<Chunk>)> {
        let ids = self.select_ids(matchers);
        let series = self.series_sorted(&ids);
        let mut out = Vec::with_capacity(series.len());
        for s in series {
            let (chunks, tombstones) = {
                let d = s.data.lock();
                let chunks = if marked {
                    d.chunks_from(mint, maxt)
                } else {
                    d.chunks_in(mint, maxt)
                };
                (chunks, d.tombstones().to_vec())
            };
            let chunks = apply_tombstones(chunks, &tombstones);
            if !chunks.is_empty() {
                out.push((SeriesLabels::Head(s), chunks));
            }
        }
        out
    }
}

impl Source for Head {
    fn select_chunks(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(SeriesLabels, Vec<Chunk>)>, TsdbError> {
        Ok(self.select_head_chunks(mint, maxt, matchers, false))
    }

    fn select_chunks_from(
        &self,
        mint: i64,
        maxt: i64,
        matchers: &[Matcher],
    ) -> Result<Vec<(SeriesLabels, Vec<Chunk>)>, TsdbError> {
        Ok(self.select_head_chunks(mint, maxt, matchers, true))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        if matchers.is_empty() {
            return Ok(self.postings().label_names());
        }
        let ids = self.select_ids(matchers);
        let mut names = BTreeSet::new();
        for s in self.series_sorted(&ids) {
            for (n, _) in s.labels.iter() {
                if !names.contains(n) {
                    names.insert(n.to_string());
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, TsdbError> {
        if matchers.is_empty() {
            return Ok(self.postings().label_values(name));
        }
        let ids = self.select_ids(matchers);
        let mut values = BTreeSet::new();
        for s in self.series_sorted(&ids) {
            if let Some(v) = s.labels.get(name) {
                if !v.is_empty() && !values.contains(v) {
                    values.insert(v.to_string());
                }
            }
        }
        Ok(values.into_iter().collect())
    }
}

/// A read view over the head and the blocks overlapping `[mint, maxt]`.
pub struct DbQuerier {
    pub(crate) sources: Vec<Arc<dyn Source>>,
    pub(crate) mint: i64,
    pub(crate) maxt: i64,
}

impl DbQuerier {
    pub(crate) fn new(
        head: Arc<dyn Source>,
        blocks: Vec<Arc<Block>>,
        mint: i64,
        maxt: i64,
    ) -> Self {
        let mut sources: Vec<Arc<dyn Source>> = blocks
            .into_iter()
            .filter(|b| b.meta.min_time <= maxt && b.meta.max_time > mint)
            .map(|b| b as Arc<dyn Source>)
            .collect();
        sources.push(head);
        DbQuerier {
            sources,
            mint,
            maxt,
        }
    }
}

/// Merges per-source sorted lists of series, joining equal label sets;
/// the chunks of equal sets are concatenated in the order of `lists`, and
/// the label set kept is the last list's (the querier puts the head last,
/// so a series in blocks and the head keeps its head handle, which can
/// answer an instant selector from its newest sample).
pub fn merge_sorted<L: Ord>(lists: Vec<Vec<(L, Vec<Chunk>)>>) -> Vec<(L, Vec<Chunk>)> {
    let mut lists: Vec<_> = lists.into_iter().filter(|l| !l.is_empty()).collect();
    if lists.len() <= 1 {
        return lists.pop().unwrap_or_default();
    }
    // A k-way merge of the sorted lists: a handful of sources (the head and
    // the blocks of the range), so a linear scan for the smallest head.
    // Each list is reversed so that its head is its last element.
    let total = lists.iter().map(Vec::len).sum();
    for l in &mut lists {
        l.reverse();
    }
    let mut out: Vec<(L, Vec<Chunk>)> = Vec::with_capacity(total);
    loop {
        let mut min: Option<(usize, &L)> = None;
        for (i, list) in lists.iter().enumerate() {
            let Some((l, _)) = list.last() else {
                continue;
            };
            if min.is_none_or(|(_, m)| l < m) {
                min = Some((i, l));
            }
        }
        let min = min.map(|(i, _)| i);
        let Some((l, chunks)) = min.and_then(|i| lists[i].pop()) else {
            return out;
        };
        match out.last_mut() {
            Some((last, c)) if *last == l => {
                c.extend(chunks);
                *last = l;
            }
            _ => out.push((l, chunks)),
        }
    }
}

/// A selected series over `[mint, maxt]`: its chunks, read lazily, and
/// (with `newest`) for a head series whose newest sample is known, that
/// sample.
pub(crate) fn selected_series(
    labels: SeriesLabels,
    chunks: Vec<Chunk>,
    mint: i64,
    maxt: i64,
    newest: bool,
) -> Box<dyn Series> {
    let newest = newest.then(|| newest_of(&labels, &chunks)).flatten();
    let inner = ChunkSeries::new(labels, chunks, mint, maxt);
    match newest {
        Some(newest) => Box::new(NewestSeries {
            inner,
            newest,
            mint,
            maxt,
        }),
        None => Box::new(inner),
    }
}

fn merge_strings(lists: Vec<Vec<String>>) -> Vec<String> {
    let mut set: BTreeSet<String> = BTreeSet::new();
    for l in lists {
        set.extend(l);
    }
    set.into_iter().collect()
}

impl Querier for DbQuerier {
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<SeriesSet, StorageError> {
        let (mut mint, mut maxt) = (self.mint, self.maxt);
        if hints.end > hints.start || (hints.start != 0 && hints.end == hints.start) {
            mint = mint.max(hints.start);
            maxt = maxt.min(hints.end);
        }
        // Only a vector selector at one time asks for the newest sample
        // alone (`SampleIter::last_in`); range selectors and steps of a
        // range query read chunks, so they need not look it up, and they
        // may start decoding the open chunk at a mark. (A hint, not a
        // contract: any series answers every read correctly.)
        let newest = hints.range == 0 && hints.step == 0;
        let lists = self
            .sources
            .iter()
            .map(|s| match newest {
                true => s.select_chunks(mint, maxt, matchers),
                false => s.select_chunks_from(mint, maxt, matchers),
            })
            .collect::<Result<Vec<_>, TsdbError>>()?;
        let series = merge_sorted(lists);
        let iter = series
            .into_iter()
            .map(move |(labels, chunks)| Ok(selected_series(labels, chunks, mint, maxt, newest)));
        Ok(Box::new(iter))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let lists = self
            .sources
            .iter()
            .map(|s| s.label_names(matchers))
            .collect::<Result<Vec<_>, TsdbError>>()?;
        Ok(merge_strings(lists))
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let lists = self
            .sources
            .iter()
            .map(|s| s.label_values(name, matchers))
            .collect::<Result<Vec<_>, TsdbError>>()?;
        Ok(merge_strings(lists))
    }
}
