//! The conformance runner's storage: series in a sorted map, samples in
//! time order, range cuts by binary search. Small and obviously right, not
//! fast; production queries go to the tsdb head and blocks.
//!
//! Thread safety: queriers hold an `Arc` snapshot, so a query sees the data
//! as it was when the querier was made; [`MemStorage::add`] needs `&mut`.

use std::collections::BTreeMap;
use std::sync::Arc;

use sonde_model::{
    Labels, Matcher, Querier, Queryable, Sample, SampleIter, SelectHints, Series, SeriesSet,
    StorageError, Timestamp,
};

use crate::eval::SliceIter;

type Data = BTreeMap<Labels, Arc<Vec<Sample>>>;

/// An in-memory [`Queryable`].
#[derive(Debug, Clone, Default)]
pub struct MemStorage {
    data: Arc<Data>,
}

impl MemStorage {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a sample. A sample at an existing time replaces it; an older
    /// one is inserted in order.
    pub fn add(&mut self, labels: Labels, t: Timestamp, v: f64) {
        let data = Arc::make_mut(&mut self.data);
        let samples = Arc::make_mut(data.entry(labels).or_default());
        match samples.last() {
            Some(last) if last.t < t => samples.push(Sample::new(t, v)),
            None => samples.push(Sample::new(t, v)),
            Some(_) => {
                let i = samples.partition_point(|s| s.t < t);
                if samples.get(i).is_some_and(|s| s.t == t) {
                    samples[i].v = v;
                } else {
                    samples.insert(i, Sample::new(t, v));
                }
            }
        }
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.data = Arc::default();
    }

    pub fn series_count(&self) -> usize {
        self.data.len()
    }
}

impl Queryable for MemStorage {
    fn querier(&self, mint: Timestamp, maxt: Timestamp) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MemQuerier {
            data: Arc::clone(&self.data),
            mint,
            maxt,
        }))
    }
}

struct MemQuerier {
    data: Arc<Data>,
    mint: Timestamp,
    maxt: Timestamp,
}

impl MemQuerier {
    fn matching<'a>(&'a self, matchers: &'a [Matcher]) -> impl Iterator<Item = &'a Labels> + 'a {
        self.data
            .keys()
            .filter(move |l| matchers.iter().all(|m| m.matches_labels(l)))
    }
}

impl Querier for MemQuerier {
    fn select(&self, hints: &SelectHints, matchers: &[Matcher]) -> Result<SeriesSet, StorageError> {
        let mint = hints.start.max(self.mint);
        let maxt = hints.end.min(self.maxt);
        let mut out: Vec<Result<Box<dyn Series>, StorageError>> = Vec::new();
        for labels in self.matching(matchers) {
            let samples = &self.data[labels];
            let from = samples.partition_point(|s| s.t < mint);
            let to = samples.partition_point(|s| s.t <= maxt);
            if from < to {
                out.push(Ok(Box::new(MemSeries {
                    labels: labels.clone(),
                    samples: Arc::clone(samples),
                    from,
                    to,
                })));
            }
        }
        Ok(Box::new(out.into_iter()))
    }

    fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut names: Vec<String> = self
            .matching(matchers)
            .flat_map(|l| l.iter().map(|(n, _)| n.to_string()).collect::<Vec<_>>())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        let mut values: Vec<String> = self
            .matching(matchers)
            .filter_map(|l| l.get(name).map(str::to_string))
            .collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}

struct MemSeries {
    labels: Labels,
    samples: Arc<Vec<Sample>>,
    from: usize,
    to: usize,
}

impl Series for MemSeries {
    fn labels(&self) -> &Labels {
        &self.labels
    }

    fn samples(&self) -> Box<dyn SampleIter + '_> {
        Box::new(SliceIter {
            samples: &self.samples[self.from..self.to],
            pos: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_cuts_range_and_seeks() {
        let mut s = MemStorage::new();
        let l = Labels::from_pairs(&[("__name__", "a")]);
        for t in [30, 10, 20, 40] {
            s.add(l.clone(), t, t as f64);
        }
        s.add(l.clone(), 20, 2.0);
        let q = s.querier(0, 100).unwrap();
        let hints = SelectHints {
            start: 15,
            end: 35,
            ..Default::default()
        };
        let set: Vec<_> = q
            .select(&hints, &[Matcher::equal("__name__", "a")])
            .unwrap()
            .collect();
        assert_eq!(set.len(), 1);
        let series = set.into_iter().next().unwrap().unwrap();
        let mut it = series.samples();
        assert_eq!(it.next(), Some(Sample::new(20, 2.0)));
        assert_eq!(it.seek(25), Some(Sample::new(30, 30.0)));
        assert_eq!(it.seek(0), Some(Sample::new(30, 30.0)));
        assert_eq!(it.next(), None);
        assert!(q
            .select(&hints, &[Matcher::equal("__name__", "b")])
            .unwrap()
            .next()
            .is_none());
    }
}
