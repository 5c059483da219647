//! The order of the head's series by labels, kept as ranks, so that the
//! series a query selects are sorted by comparing integers instead of
//! label sets. Sorting ~5,000 selected series by labels was 45% of the
//! instructions of an instant `count by (__name__) ({__name__=~"node_.+"})`
//! once sample reads were cheap (docs/benchmarks.md, session 4); Prometheus
//! 2.42 sorts its head postings by labels on every query too.
//!
//! Invariants: `ranks` maps series ids to their positions in the label
//! order of the head's series when it was built. Ids are never reused
//! within a head, and a series' labels never change, so the ranks of the
//! series still alive keep their relative order; series created since
//! have no rank and are sorted by labels and merged in. Rebuilding costs a
//! sort of every head series, so it waits until queries have spent about
//! as many label comparisons on unranked series (`debt`): at most twice
//! the work of sorting by labels alone, and nothing once series stop
//! appearing; it runs on a thread of its own, so no query waits for it.
//!
//! Thread safety: `ranks` is replaced whole under its lock (readers keep
//! the `Arc` they took); `rebuilding` lets one rebuild run at a time, on
//! a thread of its own holding clones of the series it sorts.

use std::cmp::Ordering as CmpOrdering;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Mutex, RwLock};

use crate::head::IdentityHasher;
use crate::series::MemSeries;

type Ranks = HashMap<u32, u32, BuildHasherDefault<IdentityHasher>>;

#[derive(Default)]
pub struct SeriesOrder {
    shared: Arc<Shared>,
    /// The thread of the last rebuild, for tests to wait on.
    rebuilder: Mutex<Option<JoinHandle<()>>>,
}

/// What a rebuild on its own thread shares with the queries.
#[derive(Default)]
struct Shared {
    ranks: RwLock<Arc<Ranks>>,
    /// Estimated label comparisons spent on unranked series since the
    /// ranks were built.
    debt: AtomicU64,
    /// Set while a rebuild runs: at most one at a time.
    rebuilding: AtomicBool,
}

fn by_labels(a: &Arc<MemSeries>, b: &Arc<MemSeries>) -> CmpOrdering {
    a.labels.cmp(&b.labels)
}

/// About `n log2 n`: the comparisons of sorting `n` items.
fn sort_cost(n: usize) -> u64 {
    let n = n as u64;
    n * u64::from(u64::BITS - n.leading_zeros())
}

impl SeriesOrder {
    /// Sorts `series` (distinct series of this head) by labels. `all`
    /// lists every series of the head, `head_series` of them, for when the
    /// ranks are rebuilt.
    pub fn sort(
        &self,
        series: &mut Vec<Arc<MemSeries>>,
        head_series: usize,
        all: impl FnOnce() -> Vec<Arc<MemSeries>>,
    ) {
        let ranks = self.shared.ranks.read().clone();
        let mut ranked: Vec<(u32, Arc<MemSeries>)> = Vec::with_capacity(series.len());
        let mut unranked: Vec<Arc<MemSeries>> = Vec::new();
        for s in series.drain(..) {
            match ranks.get(&s.id) {
                Some(r) => ranked.push((*r, s)),
                None => unranked.push(s),
            }
        }
        ranked.sort_unstable_by_key(|(r, _)| *r);
        if unranked.is_empty() {
            series.extend(ranked.into_iter().map(|(_, s)| s));
            return;
        }
        // Label sets are unique in the head: an unstable sort is exact.
        unranked.sort_unstable_by(by_labels);
        let spent = sort_cost(unranked.len()) + (ranked.len() + unranked.len()) as u64;
        merge_into(series, ranked.into_iter().map(|(_, s)| s), unranked);
        let debt = self.shared.debt.fetch_add(spent, Ordering::Relaxed) + spent;
        if debt >= sort_cost(head_series) {
            self.rebuild(all);
        }
    }

    /// Ranks every series `all` lists by labels, on a thread of its own
    /// (a sort of the whole head is too long a pause for the query that
    /// happens to tip the balance), unless a rebuild is running.
    fn rebuild(&self, all: impl FnOnce() -> Vec<Arc<MemSeries>>) {
        if self.shared.rebuilding.swap(true, Ordering::AcqRel) {
            return;
        }
        let all = all();
        let shared = Arc::clone(&self.shared);
        let spawned = std::thread::Builder::new()
            .name("sonde-series-order".into())
            .spawn(move || shared.rebuild(all));
        match spawned {
            Ok(handle) => *self.rebuilder.lock() = Some(handle),
            // No thread now: a later query tries again.
            Err(_) => self.shared.rebuilding.store(false, Ordering::Release),
        }
    }

    /// Waits for the running rebuild, if any (for tests).
    #[cfg(test)]
    pub fn wait_rebuilt(&self) {
        let handle = self.rebuilder.lock().take();
        if let Some(h) = handle {
            h.join().expect("BUG: the series order rebuild panicked");
        }
    }

    #[cfg(test)]
    fn ranked(&self) -> usize {
        self.shared.ranks.read().len()
    }
}

impl Shared {
    fn rebuild(&self, mut all: Vec<Arc<MemSeries>>) {
        all.sort_unstable_by(by_labels);
        let ranks: Ranks = all
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id, i as u32))
            .collect();
        *self.ranks.write() = Arc::new(ranks);
        self.debt.store(0, Ordering::Relaxed);
        self.rebuilding.store(false, Ordering::Release);
    }
}

/// Appends the merge of two label-sorted runs to `out`.
fn merge_into(
    out: &mut Vec<Arc<MemSeries>>,
    a: impl Iterator<Item = Arc<MemSeries>>,
    b: Vec<Arc<MemSeries>>,
) {
    let mut a = a.peekable();
    let mut b = b.into_iter().peekable();
    loop {
        let take_a = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => by_labels(x, y) == CmpOrdering::Less,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => return,
        };
        let next = if take_a { a.next() } else { b.next() };
        out.extend(next);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::Head;
    use roaring::RoaringBitmap;
    use sonde_model::Labels;

    fn create(head: &Head, name: &str, i: u32) -> u32 {
        let l = Labels::from_pairs(&[("__name__", name), ("i", &format!("{}", i * 7919 % 1000))]);
        let s = head.get_or_create(&l).unwrap();
        s.release();
        s.id
    }

    fn check_sorted(head: &Head, ids: &RoaringBitmap) {
        let got = head.series_sorted(ids);
        let mut want: Vec<Arc<MemSeries>> = ids
            .iter()
            .filter_map(|id| head.all_series().into_iter().find(|s| s.id == id))
            .collect();
        want.sort_by(by_labels);
        let names =
            |v: &[Arc<MemSeries>]| v.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>();
        assert_eq!(names(&got), names(&want));
    }

    /// Selections stay sorted by labels before any ranks exist, once they
    /// are built, with series created since (merged in) and series
    /// collected since (their stale ranks are harmless).
    #[test]
    fn selections_are_sorted_across_rebuilds_and_new_series() {
        let head = Head::new(4);
        let mut ids = RoaringBitmap::new();
        for i in 0..300 {
            ids.insert(create(&head, if i % 3 == 0 { "b" } else { "a" }, i));
        }
        let mut some = RoaringBitmap::new();
        some.extend(ids.iter().filter(|id| id % 2 == 0));
        for _ in 0..12 {
            check_sorted(&head, &ids);
            check_sorted(&head, &some);
            head.order().wait_rebuilt();
        }
        assert_eq!(head.order().ranked(), 300, "ranks were built");
        for i in 300..340 {
            let id = create(&head, if i % 2 == 0 { "a" } else { "c" }, i);
            ids.insert(id);
            some.insert(id);
        }
        // Merged in until the queries' comparisons pay for a rebuild.
        check_sorted(&head, &ids);
        check_sorted(&head, &some);
        assert_eq!(head.order().ranked(), 300);
        for _ in 0..60 {
            check_sorted(&head, &ids);
            head.order().wait_rebuilt();
        }
        assert_eq!(head.order().ranked(), 340, "rebuilt with the new series");
        // Series without data are collected; the rest keep their order.
        let before = head.num_series();
        for s in head.all_series().iter().filter(|s| s.id % 5 == 0) {
            s.data
                .lock()
                .insert(1, 1.0, crate::series::Placement::InOrder, 7_200_000);
        }
        assert!(head.gc() > 0);
        assert!(head.num_series() < before);
        for _ in 0..12 {
            check_sorted(&head, &ids);
            check_sorted(&head, &some);
        }
    }

    #[test]
    fn merge_keeps_label_order() {
        let head = Head::new(4);
        for i in 0..20 {
            create(&head, "m", i);
        }
        let mut all = head.all_series();
        all.sort_by(by_labels);
        let (a, b): (Vec<_>, Vec<_>) = all
            .iter()
            .cloned()
            .enumerate()
            .partition(|(i, _)| i % 3 == 0);
        let mut out = Vec::new();
        merge_into(
            &mut out,
            a.into_iter().map(|(_, s)| s),
            b.into_iter().map(|(_, s)| s).collect(),
        );
        let ids = |v: &[Arc<MemSeries>]| v.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(&out), ids(&all));
    }
}
