//! The newest sample of a head series without decoding: an instant query's
//! vector selector wants only the newest sample in its lookback window
//! ([`SampleIter::last_in`]), and for a series still being written that is
//! almost always the last one appended, which the head keeps beside the
//! open chunk. Reading it from there instead of decoding the open chunk
//! (up to 120 Gorilla samples, from its start) per series was most of the
//! CPU of instant selector queries (docs/benchmarks.md, session 4).
//!
//! Invariant of [`NewestSeries`]: `newest` is the newest sample of the
//! series' chunk list and no other chunk reaches its time, so it is also
//! the newest sample of the merged series (merging keeps one sample per
//! timestamp, and no other chunk has one at `newest.t`). [`newest_of`]
//! checks this on the selected chunks themselves, after tombstones, so a
//! deleted sample, an out-of-order chunk or a block that reaches as far as
//! the head falls back to decoding.

use sonde_model::{Labels, Sample, SampleIter, Series};

use crate::chunk::Chunk;
use crate::iter::{ChunkSeries, SeriesLabels};

/// The newest sample of a selected series, when the head knows it and it
/// is certainly the newest of `chunks` (the selected chunks, tombstones
/// applied).
pub(crate) fn newest_of(labels: &SeriesLabels, chunks: &[Chunk]) -> Option<Sample> {
    let SeriesLabels::Head(s) = labels else {
        return None;
    };
    let (t, v) = {
        let d = s.data.lock();
        let (t, v) = d.newest()?;
        if d.tombstones().iter().any(|&(a, b)| a <= t && t <= b) {
            return None;
        }
        (t, v)
    };
    // The head's open chunk, as selected, ends at `t`; every other chunk
    // (sealed, out-of-order, frozen, from a block) must end before it. A
    // chunk reaching past `t`, or an open chunk that got a newer sample
    // since it was selected (its snapshot then ends before `t`), is not
    // this case.
    let mut reaching = chunks.iter().filter(|c| c.maxt >= t);
    match (reaching.next(), reaching.next()) {
        (Some(c), None) if c.maxt == t => Some(Sample::new(t, v)),
        _ => None,
    }
}

/// A selected series whose newest sample is known (see the module doc).
pub(crate) struct NewestSeries {
    pub inner: ChunkSeries,
    pub newest: Sample,
    /// The selection's range, as the inner series clamps to it.
    pub mint: i64,
    pub maxt: i64,
}

impl Series for NewestSeries {
    fn labels(&self) -> &Labels {
        self.inner.labels()
    }

    fn samples(&self) -> Box<dyn SampleIter + '_> {
        Box::new(NewestIter {
            series: self,
            inner: None,
        })
    }
}

/// Answers a first `last_in` whose window reaches the newest sample from
/// it; anything else goes to the series' chunk iterator, opened then.
struct NewestIter<'a> {
    series: &'a NewestSeries,
    inner: Option<Box<dyn SampleIter + 'a>>,
}

impl<'a> NewestIter<'a> {
    fn inner(&mut self) -> &mut Box<dyn SampleIter + 'a> {
        let series = self.series;
        self.inner.get_or_insert_with(|| series.inner.samples())
    }
}

impl SampleIter for NewestIter<'_> {
    fn next(&mut self) -> Option<Sample> {
        self.inner().next()
    }

    fn seek(&mut self, t: i64) -> Option<Sample> {
        self.inner().seek(t)
    }

    fn last_in(&mut self, mint: i64, maxt: i64) -> Option<Sample> {
        let s = self.series;
        let (lo, hi) = (mint.max(s.mint), maxt.min(s.maxt));
        if self.inner.is_none() && s.newest.t <= hi {
            // Nothing is newer than `newest`, so it is the newest sample
            // by `hi`; an older window holds nothing at all.
            return (s.newest.t >= lo).then_some(s.newest);
        }
        self.inner().last_in(mint, maxt)
    }

    fn collect_in(&mut self, mint: i64, maxt: i64, out: &mut Vec<Sample>) {
        self.inner().collect_in(mint, maxt, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Head;
    use crate::querier::{selected_series, Source};
    use sonde_model::{Matcher, STALE_NAN};

    const RANGE: i64 = 7_200_000;

    /// One series holding `in_order` then `ooo` samples, with tombstones.
    fn head_with(in_order: &[(i64, f64)], ooo: &[(i64, f64)], tombstones: &[(i64, i64)]) -> Head {
        let head = Head::new(4);
        let s = head
            .get_or_create(&Labels::from_pairs(&[("__name__", "x")]))
            .unwrap();
        {
            let mut d = s.data.lock();
            for &(t, v) in in_order.iter().chain(ooo) {
                let p = d.placement(t, v, true).unwrap();
                d.insert(t, v, p, RANGE);
            }
            for &(a, b) in tombstones {
                d.add_tombstone(a, b);
            }
        }
        s.release();
        head
    }

    fn walk(s: &dyn Series, mint: i64, maxt: i64) -> Option<(i64, u64)> {
        let mut it = s.samples();
        let mut last = None;
        let mut x = it.seek(mint);
        while let Some(smp) = x.filter(|smp| smp.t <= maxt) {
            last = Some((smp.t, smp.v.to_bits()));
            x = it.next();
        }
        last
    }

    /// Selects the series over several ranges, adds `block` chunks in
    /// front as a block's would be merged, and checks every window's
    /// `last_in` against walking the plain chunk series. Returns whether
    /// the newest sample was known for the widest range.
    fn check(head: &Head, block: &[Vec<(i64, f64)>]) -> bool {
        let m = [Matcher::equal("__name__", "x")];
        let mut fast_wide = false;
        for (smin, smax) in [
            (-50, 500),
            (0, 100),
            (0, 99),
            (55, 150),
            (101, 400),
            (-50, 40),
        ] {
            let mut sel = head.select_chunks(smin, smax, &m).unwrap();
            let Some((labels, head_chunks)) = sel.pop() else {
                continue;
            };
            let mut chunks: Vec<Chunk> = block.iter().map(|b| Chunk::from_samples(b)).collect();
            chunks.extend(head_chunks);
            if (smin, smax) == (-50, 500) {
                fast_wide = newest_of(&labels, &chunks).is_some();
            }
            let SeriesLabels::Head(arc) = &labels else {
                panic!("head series");
            };
            let plain =
                ChunkSeries::new(SeriesLabels::Head(arc.clone()), chunks.clone(), smin, smax);
            let fast = selected_series(labels, chunks, smin, smax, true);
            for a in (-20..=130).step_by(5) {
                for b in (a - 5..=140).step_by(5) {
                    let want = walk(&plain, a.max(smin), b.min(smax));
                    let got = fast.samples().last_in(a, b).map(|s| (s.t, s.v.to_bits()));
                    assert_eq!(got, want, "select [{smin}, {smax}], last_in [{a}, {b}]");
                    // After the cursor moved, the chunks answer.
                    let mut it = fast.samples();
                    it.seek(a);
                    let mut all = Vec::new();
                    it.collect_in(a, b, &mut all);
                    assert_eq!(all.last().map(|s| (s.t, s.v.to_bits())), want);
                }
            }
        }
        fast_wide
    }

    fn every_ten(from: i64, to: i64) -> Vec<(i64, f64)> {
        (from..=to)
            .step_by(10)
            .map(|t| (t, t as f64 / 10.0))
            .collect()
    }

    #[test]
    fn in_order_samples_answer_from_the_newest() {
        let head = head_with(&every_ten(0, 100), &[], &[]);
        assert!(check(&head, &[]));
        // A block's chunk older than the head's data changes nothing.
        assert!(check(&head, &[vec![(-40, 1.0), (-30, 2.0)]]));
    }

    #[test]
    fn a_stale_marker_is_the_newest_sample() {
        let mut s = every_ten(0, 90);
        s.push((100, STALE_NAN));
        let head = head_with(&s, &[], &[]);
        assert!(check(&head, &[]));
        let d = head.all_series()[0].data.lock().newest();
        assert_eq!(
            d.map(|(t, v)| (t, v.to_bits())),
            Some((100, STALE_NAN.to_bits()))
        );
    }

    #[test]
    fn out_of_order_samples_are_merged() {
        let head = head_with(
            &every_ten(0, 100),
            &[(95, -1.0), (42, -2.0), (1, -3.0)],
            &[],
        );
        assert!(check(&head, &[]));
    }

    #[test]
    fn a_deleted_newest_sample_is_not_answered() {
        let head = head_with(&every_ten(0, 100), &[], &[(95, 100)]);
        assert!(!check(&head, &[]));
        // Deleting older samples keeps the shortcut.
        let head = head_with(&every_ten(0, 100), &[], &[(15, 35)]);
        assert!(check(&head, &[]));
    }

    #[test]
    fn a_block_reaching_the_newest_time_is_merged() {
        let head = head_with(&every_ten(0, 100), &[], &[]);
        // Same time, other value: the block's chunk starts first and wins.
        assert!(!check(&head, &[vec![(-10, 5.0), (100, 7.0)]]));
        // Newer than the head.
        assert!(!check(&head, &[vec![(105, 7.0), (120, 8.0)]]));
    }

    #[test]
    fn a_frozen_open_chunk_is_decoded() {
        let head = head_with(&every_ten(0, 100), &[], &[]);
        head.all_series()[0].data.lock().freeze(RANGE);
        assert!(!check(&head, &[]));
    }
}
