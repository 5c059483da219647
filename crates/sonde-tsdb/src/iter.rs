//! Reading series: a series is a label set and a list of chunk handles
//! (from the head, from blocks, possibly overlapping), decoded lazily.
//!
//! Invariants of [`ChunkSeriesIter`]: chunks are consumed in order of their
//! start time; chunks that do not overlap are decoded one at a time as the
//! cursor reaches them (and skipped undecoded by `seek`), and a run of
//! overlapping chunks (out-of-order data, a block overlapping the head) is
//! decoded together and merged, keeping one sample per timestamp.
//!
//! A selection neither copies label sets nor chunk lists per series: a head
//! series' labels are borrowed through its `Arc` ([`SeriesLabels`]), and
//! the sample iterator borrows the series' chunks (profile of an instant
//! `histogram_quantile` over 1,100 series in docs/benchmarks.md).

use std::cmp::Ordering;
use std::ops::Deref;
use std::sync::Arc;

use sonde_model::{Labels, Sample, SampleIter, Series};

use crate::chunk::{Chunk, ChunkBytes, ChunkData, ChunkIter, XorMark};
use crate::series::MemSeries;

/// The label set of a selected series: built for it (blocks), or the head
/// series' own, shared instead of cloned.
pub enum SeriesLabels {
    Owned(Labels),
    Head(Arc<MemSeries>),
}

impl Deref for SeriesLabels {
    type Target = Labels;

    #[inline]
    fn deref(&self) -> &Labels {
        match self {
            SeriesLabels::Owned(l) => l,
            SeriesLabels::Head(s) => &s.labels,
        }
    }
}

impl From<Labels> for SeriesLabels {
    fn from(l: Labels) -> Self {
        SeriesLabels::Owned(l)
    }
}

impl PartialEq for SeriesLabels {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl Eq for SeriesLabels {}

impl PartialOrd for SeriesLabels {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SeriesLabels {
    fn cmp(&self, other: &Self) -> Ordering {
        (**self).cmp(&**other)
    }
}

/// A series of a selection.
pub struct ChunkSeries {
    pub labels: SeriesLabels,
    /// Sorted by start time (see [`ChunkSeries::new`]).
    chunks: Vec<Chunk>,
    mint: i64,
    maxt: i64,
}

impl ChunkSeries {
    /// A series whose samples are those of `chunks` inside `[mint, maxt]`.
    pub fn new(labels: SeriesLabels, mut chunks: Vec<Chunk>, mint: i64, maxt: i64) -> Self {
        // Stable: on equal start times the earlier source's chunk stays first.
        chunks.sort_by_key(|c| c.mint);
        ChunkSeries {
            labels,
            chunks,
            mint,
            maxt,
        }
    }
}

impl Series for ChunkSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn samples(&self) -> Box<dyn SampleIter + '_> {
        Box::new(ChunkSeriesIter::sorted(&self.chunks, self.mint, self.maxt))
    }
}

/// A chunk's bytes borrowed from its series for the length of a read (no
/// reference count per chunk opened).
struct Borrowed<'a>(&'a ChunkBytes);

impl ChunkData for Borrowed<'_> {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.0.bytes()
    }

    #[inline]
    fn times(&self) -> &[u8] {
        self.0.times()
    }

    #[inline]
    fn mark(&self) -> Option<&XorMark> {
        self.0.mark()
    }
}

fn decode(c: &Chunk) -> ChunkIter<Borrowed<'_>> {
    ChunkIter::new(c.enc, Borrowed(&c.data))
}

enum Group<'a> {
    None,
    Single(ChunkIter<Borrowed<'a>>),
    Merged(std::vec::IntoIter<(i64, f64)>),
}

pub struct ChunkSeriesIter<'a> {
    chunks: &'a [Chunk],
    next_chunk: usize,
    group: Group<'a>,
    mint: i64,
    maxt: i64,
    cur: Option<Sample>,
    done: bool,
}

impl<'a> ChunkSeriesIter<'a> {
    /// An iterator over `chunks`, which must be sorted by start time.
    pub fn sorted(chunks: &'a [Chunk], mint: i64, maxt: i64) -> Self {
        debug_assert!(chunks.windows(2).all(|w| w[0].mint <= w[1].mint));
        ChunkSeriesIter {
            chunks,
            next_chunk: 0,
            group: Group::None,
            mint,
            maxt,
            cur: None,
            done: false,
        }
    }

    /// Opens the next run of overlapping chunks, skipping chunks that end
    /// before `min_t`. False at the end.
    fn open_group(&mut self, min_t: i64) -> bool {
        while self
            .chunks
            .get(self.next_chunk)
            .is_some_and(|c| c.maxt < min_t)
        {
            self.next_chunk += 1;
        }
        let Some(first) = self.chunks.get(self.next_chunk) else {
            return false;
        };
        if first.mint > self.maxt {
            return false;
        }
        let start = self.next_chunk;
        let (end, _) = run_end(self.chunks, start);
        self.next_chunk = end;
        self.group = if end - start == 1 {
            let chunks: &'a [Chunk] = self.chunks;
            Group::Single(decode(&chunks[start]))
        } else {
            Group::Merged(merge_run(&self.chunks[start..end]).into_iter())
        };
        true
    }

    fn raw_next(&mut self, min_t: i64) -> Option<(i64, f64)> {
        loop {
            let s = match &mut self.group {
                Group::None => None,
                Group::Single(it) => it.next(),
                Group::Merged(it) => it.next(),
            };
            if s.is_some() {
                return s;
            }
            if !self.open_group(min_t) {
                self.group = Group::None;
                return None;
            }
        }
    }

    fn advance(&mut self, min_t: i64) -> Option<Sample> {
        if self.done {
            return None;
        }
        while let Some((t, v)) = self.raw_next(min_t) {
            if t < min_t {
                continue;
            }
            if t > self.maxt {
                break;
            }
            self.cur = Some(Sample::new(t, v));
            return self.cur;
        }
        self.done = true;
        self.cur = None;
        None
    }
}

impl SampleIter for ChunkSeriesIter<'_> {
    fn next(&mut self) -> Option<Sample> {
        let min = match self.cur {
            Some(c) => c.t.saturating_add(1).max(self.mint),
            None => self.mint,
        };
        self.advance(min)
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        if let Some(c) = self.cur {
            if c.t >= t {
                return Some(c);
            }
        }
        let min = match self.cur {
            Some(c) => t.max(c.t.saturating_add(1)),
            None => t,
        };
        self.advance(min.max(self.mint))
    }

    /// Decodes only the last run of chunks that starts by `maxt`: runs are
    /// disjoint in time, so the newest sample by `maxt` is in it. Seeking
    /// to an instant query's lookback window instead decoded the previous
    /// chunk from its start whenever the window reached into it (half or
    /// more of instant selector queries' CPU, docs/benchmarks.md).
    fn last_in(&mut self, mint: i64, maxt: i64) -> Option<Sample> {
        let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
        let fresh = self.cur.is_none() && self.next_chunk == 0 && !self.done;
        if !fresh {
            let mut last = None;
            let mut s = self.seek(mint);
            while let Some(x) = s.filter(|x| x.t <= maxt) {
                last = Some(x);
                s = self.next();
            }
            return last;
        }
        self.done = true;
        let chunks = self.chunks;
        let mut run = None;
        let mut start = 0;
        while start < chunks.len() && chunks[start].mint <= maxt {
            let (end, run_max) = run_end(chunks, start);
            run = Some((start, end, run_max));
            start = end;
        }
        let (start, end, _) = run.filter(|r| r.2 >= mint)?;
        let newest = if end - start == 1 {
            decode(&chunks[start]).take_while(|s| s.0 <= maxt).last()
        } else {
            merge_run(&chunks[start..end])
                .into_iter()
                .take_while(|s| s.0 <= maxt)
                .last()
        };
        newest
            .filter(|s| s.0 >= mint)
            .map(|(t, v)| Sample::new(t, v))
    }

    /// Decodes each run of chunks in `[mint, maxt]` straight into `out`,
    /// without the per-sample cursor of `next` (which was a third of the
    /// decoding cost of range queries over many series).
    fn collect_in(&mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        let (mint, maxt) = (mint.max(self.mint), maxt.min(self.maxt));
        let fresh = self.cur.is_none() && self.next_chunk == 0 && !self.done;
        if !fresh {
            let mut s = self.seek(mint);
            while let Some(x) = s.filter(|x| x.t <= maxt) {
                out.push(x);
                s = self.next();
            }
            return;
        }
        self.done = true;
        let chunks = self.chunks;
        let mut start = 0;
        while start < chunks.len() && chunks[start].mint <= maxt {
            let (end, run_max) = run_end(chunks, start);
            if run_max >= mint {
                if end - start == 1 {
                    decode(&chunks[start]).collect_range(mint, maxt, out);
                } else {
                    let keep = |&(t, _): &(i64, f64)| t >= mint;
                    let within = |&(t, _): &(i64, f64)| t <= maxt;
                    let sample = |(t, v): (i64, f64)| Sample::new(t, v);
                    let merged = merge_run(&chunks[start..end]);
                    out.extend(
                        merged
                            .into_iter()
                            .skip_while(|p| !keep(p))
                            .take_while(within)
                            .map(sample),
                    );
                }
            }
            start = end;
        }
    }
}

/// The end (exclusive) and the newest time of the run of overlapping
/// chunks that starts at `start`.
fn run_end(chunks: &[Chunk], start: usize) -> (usize, i64) {
    let mut end = start + 1;
    let mut run_max = chunks[start].maxt;
    while let Some(c) = chunks.get(end) {
        if c.mint > run_max {
            break;
        }
        run_max = run_max.max(c.maxt);
        end += 1;
    }
    (end, run_max)
}

/// The samples of a run of overlapping chunks, one per timestamp.
fn merge_run(chunks: &[Chunk]) -> Vec<(i64, f64)> {
    let mut all: Vec<(i64, f64)> = chunks.iter().flat_map(decode).collect();
    // Stable: on equal timestamps the earlier-starting chunk wins.
    all.sort_by_key(|s| s.0);
    all.dedup_by_key(|s| s.0);
    all
}

/// Removes samples inside any of `intervals` (inclusive), re-encoding the
/// chunks they touch. Chunks entirely deleted disappear.
pub fn apply_tombstones(chunks: Vec<Chunk>, intervals: &[(i64, i64)]) -> Vec<Chunk> {
    if intervals.is_empty() {
        return chunks;
    }
    let deleted = |t: i64| intervals.iter().any(|(a, b)| *a <= t && t <= *b);
    let mut out = Vec::with_capacity(chunks.len());
    for c in chunks {
        let touched = intervals.iter().any(|(a, b)| *a <= c.maxt && c.mint <= *b);
        if !touched {
            out.push(c);
            continue;
        }
        let kept: Vec<(i64, f64)> = c.iter().filter(|s| !deleted(s.0)).collect();
        if !kept.is_empty() {
            out.push(Chunk::from_samples(&kept));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(ts: &[i64]) -> Chunk {
        let s: Vec<(i64, f64)> = ts.iter().map(|t| (*t, *t as f64)).collect();
        Chunk::from_samples(&s)
    }

    fn collect(it: &mut ChunkSeriesIter<'_>) -> Vec<i64> {
        let mut out = Vec::new();
        while let Some(s) = it.next() {
            out.push(s.t);
        }
        out
    }

    #[test]
    fn merges_overlapping_and_dedups() {
        let chunks = vec![
            chunk(&[10, 20, 30]),
            chunk(&[1, 2, 3]),
            chunk(&[15, 20, 25]),
            chunk(&[40]),
        ];
        let s = ChunkSeries::new(Labels::empty().into(), chunks, i64::MIN, i64::MAX);
        let mut it = ChunkSeriesIter::sorted(&s.chunks, s.mint, s.maxt);
        assert_eq!(collect(&mut it), vec![1, 2, 3, 10, 15, 20, 25, 30, 40]);
        assert_eq!(it.next(), None);
    }

    #[test]
    fn respects_range_and_seek_never_goes_back() {
        let chunks = vec![chunk(&[1, 2, 3]), chunk(&[10, 20, 30]), chunk(&[40, 50])];
        let mut it = ChunkSeriesIter::sorted(&chunks, 2, 40);
        assert_eq!(it.seek(0).map(|s| s.t), Some(2));
        assert_eq!(it.seek(15).map(|s| s.t), Some(20));
        assert_eq!(it.seek(5).map(|s| s.t), Some(20));
        assert_eq!(it.next().map(|s| s.t), Some(30));
        assert_eq!(it.seek(35).map(|s| s.t), Some(40));
        assert_eq!(it.next(), None);
        assert_eq!(it.seek(100), None);
    }

    #[test]
    fn last_in_and_collect_in_agree_with_walking_the_window() {
        // Runs of chunks: apart, touching, overlapping, with duplicates.
        let layouts: Vec<Vec<Vec<i64>>> = vec![
            vec![vec![1, 2, 3], vec![10, 20, 30], vec![40, 50]],
            vec![vec![1, 5, 9], vec![3, 5, 7], vec![9, 12]],
            vec![vec![10, 20, 30], vec![25, 26], vec![31]],
            vec![vec![5]],
            vec![],
        ];
        for layout in &layouts {
            let chunks: Vec<Chunk> = layout.iter().map(|ts| chunk(ts)).collect();
            let s = ChunkSeries::new(Labels::empty().into(), chunks, 2, 45);
            for mint in -1..=55 {
                for maxt in mint - 1..=56 {
                    let mut walk = ChunkSeriesIter::sorted(&s.chunks, s.mint, s.maxt);
                    let mut walked = Vec::new();
                    let mut x = walk.seek(mint);
                    while let Some(smp) = x.filter(|smp| smp.t <= maxt) {
                        walked.push((smp.t, smp.v.to_bits()));
                        x = walk.next();
                    }
                    let mut it = ChunkSeriesIter::sorted(&s.chunks, s.mint, s.maxt);
                    let got = it.last_in(mint, maxt);
                    assert_eq!(
                        got.map(|s| (s.t, s.v.to_bits())),
                        walked.last().copied(),
                        "{layout:?} [{mint}, {maxt}]"
                    );
                    let mut it = ChunkSeriesIter::sorted(&s.chunks, s.mint, s.maxt);
                    let mut all = Vec::new();
                    it.collect_in(mint, maxt, &mut all);
                    let all: Vec<_> = all.iter().map(|s| (s.t, s.v.to_bits())).collect();
                    assert_eq!(all, walked, "collect_in {layout:?} [{mint}, {maxt}]");
                    // After the cursor moved, the same through seek and next.
                    let mut it = ChunkSeriesIter::sorted(&s.chunks, s.mint, s.maxt);
                    it.seek(mint);
                    let mut rest = Vec::new();
                    it.collect_in(mint, maxt, &mut rest);
                    let rest: Vec<_> = rest.iter().map(|s| (s.t, s.v.to_bits())).collect();
                    assert_eq!(
                        rest, walked,
                        "collect_in after seek {layout:?} [{mint}, {maxt}]"
                    );
                }
            }
        }
    }

    #[test]
    fn tombstones_cut_samples() {
        let c = apply_tombstones(
            vec![chunk(&[1, 2, 3, 4]), chunk(&[5, 6])],
            &[(2, 3), (5, 6)],
        );
        let mut it = ChunkSeriesIter::sorted(&c, i64::MIN, i64::MAX);
        assert_eq!(collect(&mut it), vec![1, 4]);
    }
}
