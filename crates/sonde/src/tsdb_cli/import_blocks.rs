//! Gathering the samples of one pass of `sonde tsdb import` into chunks,
//! and cutting them into one block per block-duration window.
//!
//! Samples arriving in time order for their series (the usual case) go
//! straight into a compressing chunk appender, so a pass holds about two
//! bytes per sample; a sample older than its series' newest is kept aside
//! raw (24 bytes) and the series is sorted and re-encoded when the pass
//! ends. A timestamp given twice with the same value is kept once; with
//! two different values it is an error naming the later line.
//!
//! Chunks hold at most 120 samples (as the head's) and never cross a window
//! boundary, so each block gets whole chunks.

use std::collections::{BTreeMap, HashMap};

use sonde_model::Labels;
use sonde_tsdb::chunk::{Chunk, XorAppender, MAX_SAMPLES_PER_CHUNK};

/// A timestamp given two different values.
#[derive(Debug)]
pub struct Conflict {
    pub labels: Labels,
    pub t: i64,
    pub values: (f64, f64),
    /// Input offset of the later of the two samples, when known.
    pub off: Option<usize>,
}

struct Late {
    t: i64,
    v: f64,
    off: Option<usize>,
}

struct SeriesAcc {
    labels: Labels,
    sealed: Vec<Chunk>,
    open: Option<XorAppender>,
    last_t: i64,
    last_bits: u64,
    late: Vec<Late>,
}

/// The samples of one pass: series found by their text as written.
pub struct Accumulator {
    window: i64,
    by_text: HashMap<Box<[u8]>, usize>,
    series: Vec<SeriesAcc>,
    /// Samples added in this pass (repeats included).
    pub samples: u64,
}

/// Series of one window, sorted by labels, ready for `write_block`.
pub type WindowSeries = Vec<(Labels, Vec<Chunk>)>;

impl Accumulator {
    pub fn new(window: i64) -> Self {
        Accumulator {
            window,
            by_text: HashMap::new(),
            series: Vec::new(),
            samples: 0,
        }
    }

    /// Adds a sample of the series written as `text`; `labels` builds its
    /// label set the first time the text is seen.
    pub fn add(
        &mut self,
        text: &[u8],
        labels: impl FnOnce() -> Labels,
        t: i64,
        v: f64,
        off: usize,
    ) -> Result<(), Conflict> {
        let i = match self.by_text.get(text) {
            Some(i) => *i,
            None => {
                self.series.push(SeriesAcc {
                    labels: labels(),
                    sealed: Vec::new(),
                    open: None,
                    last_t: i64::MIN,
                    last_bits: 0,
                    late: Vec::new(),
                });
                self.by_text.insert(text.into(), self.series.len() - 1);
                self.series.len() - 1
            }
        };
        self.samples += 1;
        let window = self.window;
        let end_of = |t: i64| (t.div_euclid(window) + 1).saturating_mul(window);
        let s = &mut self.series[i];
        if t > s.last_t {
            let cut = s
                .open
                .as_ref()
                .is_some_and(|o| o.num_samples() >= MAX_SAMPLES_PER_CHUNK || t >= end_of(o.mint()));
            if cut {
                if let Some(o) = s.open.take() {
                    s.sealed.push(o.seal());
                }
            }
            s.open.get_or_insert_with(XorAppender::new).append(t, v);
            s.last_t = t;
            s.last_bits = v.to_bits();
            return Ok(());
        }
        if t == s.last_t {
            if v.to_bits() == s.last_bits {
                return Ok(());
            }
            return Err(Conflict {
                labels: s.labels.clone(),
                t,
                values: (f64::from_bits(s.last_bits), v),
                off: Some(off),
            });
        }
        s.late.push(Late {
            t,
            v,
            off: Some(off),
        });
        Ok(())
    }

    /// Series merged by label set (different spellings of one set join),
    /// sorted, and their chunks split by window: window start -> series.
    pub fn finish(self) -> Result<BTreeMap<i64, WindowSeries>, Conflict> {
        let window = self.window;
        let mut series = self.series;
        series.sort_by(|a, b| a.labels.cmp(&b.labels));
        let mut out: BTreeMap<i64, WindowSeries> = BTreeMap::new();
        let mut iter = series.into_iter().peekable();
        while let Some(first) = iter.next() {
            let mut group = vec![first];
            while iter.peek().is_some_and(|n| n.labels == group[0].labels) {
                group.extend(iter.next());
            }
            let labels = group[0].labels.clone();
            let chunks = match group.pop() {
                Some(s) if group.is_empty() && s.late.is_empty() => s.chunks(),
                Some(s) => {
                    group.push(s);
                    rechunk(&labels, group, window)?
                }
                None => continue,
            };
            let mut per_window: Vec<(i64, Vec<Chunk>)> = Vec::new();
            for c in chunks {
                let w = c.mint.div_euclid(window) * window;
                match per_window.last_mut() {
                    Some((lw, cs)) if *lw == w => cs.push(c),
                    _ => per_window.push((w, vec![c])),
                }
            }
            for (w, cs) in per_window {
                out.entry(w).or_default().push((labels.clone(), cs));
            }
        }
        Ok(out)
    }
}

impl SeriesAcc {
    /// The in-order chunks, the open one sealed.
    fn chunks(self) -> Vec<Chunk> {
        let mut c = self.sealed;
        c.extend(self.open.map(XorAppender::seal));
        c
    }
}

/// The slow path: every sample of `group` (one label set) sorted by time,
/// repeats of a (time, value) dropped, and chunked again.
fn rechunk(labels: &Labels, group: Vec<SeriesAcc>, window: i64) -> Result<Vec<Chunk>, Conflict> {
    let mut all: Vec<Late> = Vec::new();
    for mut s in group {
        let late = std::mem::take(&mut s.late);
        for c in s.chunks() {
            all.extend(c.iter().map(|(t, v)| Late { t, v, off: None }));
        }
        all.extend(late);
    }
    // Stable: of two samples at one time, the earlier in the input stays first.
    all.sort_by_key(|x| x.t);
    let mut samples: Vec<(i64, f64)> = Vec::with_capacity(all.len());
    let mut last_off = None;
    for x in all {
        if let Some(&(t, v)) = samples.last() {
            if t == x.t {
                if v.to_bits() != x.v.to_bits() {
                    return Err(Conflict {
                        labels: labels.clone(),
                        t,
                        values: (v, x.v),
                        off: x.off.max(last_off),
                    });
                }
                last_off = x.off.max(last_off);
                continue;
            }
        }
        samples.push((x.t, x.v));
        last_off = x.off;
    }
    let end_of = |t: i64| (t.div_euclid(window) + 1).saturating_mul(window);
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=samples.len() {
        let cut = i == samples.len()
            || i - start >= MAX_SAMPLES_PER_CHUNK as usize
            || samples[i].0 >= end_of(samples[start].0);
        if cut {
            out.push(Chunk::from_samples(&samples[start..i]));
            start = i;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn l(v: &str) -> Labels {
        Labels::from_pairs(&[("__name__", "m"), ("i", v)])
    }

    fn samples(chunks: &[Chunk]) -> Vec<(i64, f64)> {
        chunks.iter().flat_map(|c| c.iter()).collect()
    }

    #[test]
    fn in_order_samples_are_chunked_per_window_and_120() {
        let mut a = Accumulator::new(2 * H);
        for i in 0..500 {
            let t = i * 30_000; // 0 .. 4h10m
            a.add(b"m{i=\"a\"}", || l("a"), t, i as f64, 0).unwrap();
        }
        let w = a.finish().unwrap();
        assert_eq!(w.keys().copied().collect::<Vec<_>>(), vec![0, 2 * H, 4 * H]);
        let first = &w[&0][0].1;
        assert_eq!(samples(first).len(), 240);
        assert!(first
            .iter()
            .all(|c| c.num_samples() <= 120 && c.maxt < 2 * H));
        let total: usize = w.values().map(|s| samples(&s[0].1).len()).sum();
        assert_eq!(total, 500);
    }

    #[test]
    fn late_samples_and_spellings_merge_sorted_and_repeats_collapse() {
        let mut a = Accumulator::new(2 * H);
        a.add(b"x", || l("a"), 3000, 3.0, 10).unwrap();
        a.add(b"x", || l("a"), 1000, 1.0, 20).unwrap();
        a.add(b"y", || l("a"), 2000, 2.0, 30).unwrap();
        a.add(b"y", || l("a"), 3000, 3.0, 40).unwrap();
        a.add(b"x", || l("a"), 3000, 3.0, 50).unwrap();
        a.add(b"z", || l("b"), 5, 1.0, 60).unwrap();
        let w = a.finish().unwrap();
        let series = &w[&0];
        assert_eq!(series.len(), 2);
        assert_eq!(series[0].0, l("a"));
        assert_eq!(
            samples(&series[0].1),
            vec![(1000, 1.0), (2000, 2.0), (3000, 3.0)]
        );
        assert_eq!(series[1].0, l("b"));
    }

    #[test]
    fn two_values_at_one_time_name_the_later_sample() {
        let mut a = Accumulator::new(2 * H);
        a.add(b"x", || l("a"), 1000, 1.0, 10).unwrap();
        let e = a.add(b"x", || l("a"), 1000, 2.0, 20).unwrap_err();
        assert_eq!((e.t, e.values, e.off), (1000, (1.0, 2.0), Some(20)));

        let mut a = Accumulator::new(2 * H);
        a.add(b"x", || l("a"), 1000, 1.0, 10).unwrap();
        a.add(b"x", || l("a"), 2000, 1.0, 20).unwrap();
        a.add(b"y", || l("a"), 1000, 5.0, 30).unwrap();
        let e = a.finish().unwrap_err();
        // In-order samples of two spellings of one series: no line kept.
        assert_eq!((e.t, e.values, e.off), (1000, (1.0, 5.0), None));

        let mut a = Accumulator::new(2 * H);
        a.add(b"x", || l("a"), 2000, 1.0, 10).unwrap();
        a.add(b"x", || l("a"), 1000, 1.0, 20).unwrap();
        a.add(b"x", || l("a"), 1000, 3.0, 30).unwrap();
        let e = a.finish().unwrap_err();
        assert_eq!((e.t, e.values, e.off), (1000, (1.0, 3.0), Some(30)));
    }
}
