//! Finding an input series' group without building the group's label set:
//! the series' grouping pairs are written into a reused key buffer, hashed
//! in one shot and compared with the key of the group found under that
//! hash. Building a label set per input series (an allocation, a SipHash
//! of it, a free) was 6-12% of the instructions of instant aggregations
//! such as `sum by (instance, mode)` over 2,800 series or
//! `count by (__name__)` over 5,000 (docs/benchmarks.md, session 4);
//! hashing the pairs with a streaming hasher instead cost more than that.
//!
//! Invariant: `labels[g]` is the label set of group `g`, its key is
//! `keys[ranges[g]]`, and every group is reachable from the hash of its
//! key, through `first` or, for the rare second group of a hash,
//! `collided`.

use sonde_model::Labels;

use super::Grouping;
use crate::hash::IdMap;

pub(super) struct GroupIndex<'g> {
    /// One-shot xxh3 of a key; replaceable in tests to force collisions.
    hash: fn(&[u8]) -> u64,
    grouping: &'g Grouping,
    /// The key of the series at hand: each grouping name and value
    /// followed by 0xff, a byte UTF-8 never contains (reused).
    key: Vec<u8>,
    /// The keys of the groups, `keys[ranges[g]]`, in one buffer.
    keys: Vec<u8>,
    ranges: Vec<(usize, usize)>,
    first: IdMap<usize>,
    collided: Vec<(u64, usize)>,
    /// Output labels by group id, in the order groups were first seen.
    pub labels: Vec<Labels>,
}

impl<'g> GroupIndex<'g> {
    pub fn new(grouping: &'g Grouping) -> Self {
        GroupIndex {
            hash: xxhash_rust::xxh3::xxh3_64,
            grouping,
            key: Vec::new(),
            keys: Vec::new(),
            ranges: Vec::new(),
            first: IdMap::default(),
            collided: Vec::new(),
            labels: Vec::new(),
        }
    }

    fn is(&self, g: usize) -> bool {
        let (a, b) = self.ranges[g];
        self.keys[a..b] == self.key[..]
    }

    /// The id of `metric`'s group, a new one when it is the first of it.
    pub fn id(&mut self, metric: &Labels) -> usize {
        self.key.clear();
        for (n, v) in self.grouping.pairs(metric) {
            self.key.extend_from_slice(n.as_bytes());
            self.key.push(0xff);
            self.key.extend_from_slice(v.as_bytes());
            self.key.push(0xff);
        }
        let hash = (self.hash)(&self.key);
        let next = self.labels.len();
        match self.first.get(&hash) {
            None => {
                self.first.insert(hash, next);
            }
            Some(&g) if self.is(g) => return g,
            Some(_) => {
                let found = self
                    .collided
                    .iter()
                    .find(|(h, g)| *h == hash && self.is(*g));
                if let Some(&(_, g)) = found {
                    return g;
                }
                self.collided.push((hash, next));
            }
        }
        let start = self.keys.len();
        self.keys.extend_from_slice(&self.key);
        self.ranges.push((start, self.keys.len()));
        self.labels.push(self.grouping.labels_of(metric));
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grouping(names: &[&str], without: bool) -> Grouping {
        Grouping {
            names: names.iter().map(|s| s.to_string()).collect(),
            without,
        }
    }

    #[test]
    fn groups_are_the_label_sets_of_labels_of() {
        let series: Vec<Labels> = (0..40)
            .map(|i| {
                Labels::from_pairs(&[
                    ("__name__", if i % 2 == 0 { "a" } else { "b" }),
                    ("instance", &format!("h{}", i % 5)),
                    ("mode", &format!("m{}", i % 3)),
                ])
            })
            .collect();
        for g in [
            grouping(&[], false),
            grouping(&["instance"], false),
            grouping(&["mode", "instance"], false),
            grouping(&["__name__"], false),
            grouping(&["nope"], false),
            grouping(&[], true),
            grouping(&["instance"], true),
            grouping(&["instance", "mode"], true),
        ] {
            let mut index = GroupIndex::new(&g);
            let mut seen: Vec<Labels> = Vec::new();
            for s in &series {
                let want = g.labels_of(s);
                let id = index.id(s);
                assert_eq!(index.labels[id], want);
                match seen.iter().position(|l| *l == want) {
                    Some(p) => assert_eq!(p, id, "same group, same id"),
                    None => {
                        assert_eq!(id, seen.len(), "new groups in order");
                        seen.push(want);
                    }
                }
            }
        }
    }

    #[test]
    fn colliding_hashes_keep_groups_apart() {
        let g = grouping(&["job"], false);
        let mut index = GroupIndex::new(&g);
        index.hash = |_| 42;
        let sets: Vec<Labels> = ["a", "b", "c"]
            .iter()
            .map(|j| Labels::from_pairs(&[("__name__", "x"), ("job", j)]))
            .collect();
        for round in 0..2 {
            for (i, l) in sets.iter().enumerate() {
                assert_eq!(index.id(l), i, "round {round}");
                assert_eq!(index.labels[i], g.labels_of(l));
            }
        }
        assert_eq!(index.collided.len(), 2);
    }
}
