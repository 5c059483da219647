use std::collections::VecDeque;

use proptest::prelude::*;
use sonde_model::{Labels, Matcher};

use super::*;

fn series(name: &str) -> Labels {
    Labels::from_pairs(&[("__name__", name), ("job", "j")])
}

fn ex(trace: &str, value: f64, ts: i64) -> StoredExemplar {
    StoredExemplar {
        labels: Labels::from_pairs(&[("trace_id", trace)]),
        value,
        ts,
        has_ts: true,
    }
}

fn all() -> Vec<Vec<Matcher>> {
    vec![vec![Matcher::new(
        sonde_model::MatchOp::Regex,
        "__name__",
        ".+",
    )
    .unwrap()]]
}

/// (series name, trace id, ts) of everything selected, in answer order.
fn flat(store: &ExemplarStore, start: i64, end: i64) -> Vec<(String, String, i64)> {
    store
        .select(start, end, &all())
        .into_iter()
        .flat_map(|s| {
            let name = s.series_labels.get("__name__").unwrap().to_string();
            s.exemplars.into_iter().map(move |e| {
                (
                    name.clone(),
                    e.labels.get("trace_id").unwrap_or("").to_string(),
                    e.ts.unwrap(),
                )
            })
        })
        .collect()
}

#[test]
fn select_filters_by_time_and_matcher_sets_and_sorts_by_series() {
    let s = ExemplarStore::new(10);
    s.add(&series("b"), ex("1", 1.0, 100)).unwrap();
    s.add(&series("a"), ex("2", 2.0, 150)).unwrap();
    s.add(&series("b"), ex("3", 3.0, 200)).unwrap();
    s.add(&series("c"), ex("4", 4.0, 300)).unwrap();
    assert_eq!(
        flat(&s, 0, 1000),
        vec![
            ("a".into(), "2".into(), 150),
            ("b".into(), "1".into(), 100),
            ("b".into(), "3".into(), 200),
            ("c".into(), "4".into(), 300),
        ]
    );
    assert_eq!(
        flat(&s, 150, 200),
        vec![("a".into(), "2".into(), 150), ("b".into(), "3".into(), 200)]
    );
    let sets = vec![
        vec![Matcher::equal("__name__", "c")],
        vec![Matcher::equal("__name__", "a"), Matcher::equal("job", "j")],
        vec![
            Matcher::equal("__name__", "b"),
            Matcher::equal("job", "other"),
        ],
    ];
    let got: Vec<Labels> = s
        .select(0, 1000, &sets)
        .into_iter()
        .map(|x| x.series_labels)
        .collect();
    assert_eq!(got, vec![series("a"), series("c")]);
    assert!(s.select(0, 1000, &[]).is_empty());
}

#[test]
fn duplicates_are_noops_and_out_of_order_is_refused_and_counted() {
    let s = ExemplarStore::new(10);
    let l = series("a");
    s.add(&l, ex("1", 1.0, 100)).unwrap();
    // The same exemplar again: stored once.
    s.add(&l, ex("1", 1.0, 100)).unwrap();
    assert_eq!(s.validate(&l, &ex("1", 1.0, 100), true), Ok(true));
    assert_eq!(s.add(&l, ex("2", 1.0, 100)), Err(Refusal::OutOfOrder));
    assert_eq!(s.add(&l, ex("2", 1.0, 99)), Err(Refusal::OutOfOrder));
    // Without their own timestamps, exemplars scraped again at later
    // scrape times are the same exemplar.
    let no_ts = |ts| StoredExemplar {
        has_ts: false,
        ..ex("3", 3.0, ts)
    };
    s.add(&l, no_ts(200)).unwrap();
    s.add(&l, no_ts(215)).unwrap();
    // A NaN value never equals, so it is stored once newer.
    s.add(&l, ex("4", f64::NAN, 300)).unwrap();
    assert_eq!(s.add(&l, ex("4", f64::NAN, 300)), Err(Refusal::OutOfOrder));
    let st = s.stats();
    assert_eq!(st.appended_total, 3);
    assert_eq!(st.out_of_order_total, 3);
    assert_eq!(st.in_storage, 3);
    assert_eq!(st.series_in_storage, 1);
    assert_eq!(st.oldest_timestamp_seconds, 0.1);
    assert_eq!(st.max_exemplars, 10);
    // Another series is independent.
    s.add(&series("b"), ex("1", 1.0, 50)).unwrap();
}

#[test]
fn label_set_length_counts_runes_up_to_128() {
    let s = ExemplarStore::new(10);
    let with = |name: &str, value: String| StoredExemplar {
        labels: Labels::from_pairs(&[(name, value.as_str())]),
        ..ex("", 1.0, 1)
    };
    // 8 + 120 = 128 runes, 120 of them two bytes long.
    assert_eq!(
        s.validate(&series("a"), &with("trace_id", "é".repeat(120)), true),
        Ok(false)
    );
    assert_eq!(
        s.add(&series("a"), with("trace_id", "é".repeat(121))),
        Err(Refusal::LabelLength)
    );
    assert_eq!(
        AppendError::from(Refusal::LabelLength).to_string(),
        format!("invalid labels exemplar: {LABEL_LENGTH_ERROR}")
    );
}

#[test]
fn a_full_buffer_overwrites_the_oldest_of_any_series() {
    let s = ExemplarStore::new(3);
    s.add(&series("a"), ex("1", 1.0, 10)).unwrap();
    s.add(&series("b"), ex("2", 1.0, 20)).unwrap();
    s.add(&series("a"), ex("3", 1.0, 30)).unwrap();
    s.add(&series("b"), ex("4", 1.0, 40)).unwrap();
    assert_eq!(
        flat(&s, i64::MIN, i64::MAX),
        vec![
            ("a".into(), "3".into(), 30),
            ("b".into(), "2".into(), 20),
            ("b".into(), "4".into(), 40),
        ]
    );
    // "a" loses its last exemplar and leaves the index.
    s.add(&series("c"), ex("5", 1.0, 50)).unwrap();
    s.add(&series("c"), ex("6", 1.0, 60)).unwrap();
    assert_eq!(
        flat(&s, i64::MIN, i64::MAX),
        vec![
            ("b".into(), "4".into(), 40),
            ("c".into(), "5".into(), 50),
            ("c".into(), "6".into(), 60),
        ]
    );
    assert_eq!(s.stats().series_in_storage, 2);
    assert_eq!(s.stats().oldest_timestamp_seconds, 0.04);
    // "a" is new again: an older time is accepted.
    s.add(&series("a"), ex("7", 1.0, 1)).unwrap();
    let order: Vec<i64> = s.snapshot().iter().map(|(_, e)| e.ts).collect();
    assert_eq!(order, vec![50, 60, 1]);
}

#[test]
fn one_entry_buffer_keeps_the_newest() {
    let s = ExemplarStore::new(1);
    for t in 1..5 {
        s.add(&series("a"), ex("x", t as f64, t)).unwrap();
    }
    assert_eq!(flat(&s, 0, 10), vec![("a".into(), "x".into(), 4)]);
}

#[test]
fn resize_keeps_the_newest_in_order_and_zero_disables() {
    let s = ExemplarStore::new(5);
    for t in 1..=5 {
        let name = if t % 2 == 0 { "a" } else { "b" };
        s.add(&series(name), ex(&t.to_string(), 1.0, t)).unwrap();
    }
    assert_eq!(s.resize(3), 3);
    let order: Vec<i64> = s.snapshot().iter().map(|(_, e)| e.ts).collect();
    assert_eq!(order, vec![3, 4, 5]);
    assert_eq!(s.resize(10), 3);
    s.add(&series("a"), ex("6", 1.0, 6)).unwrap();
    assert_eq!(s.stats().in_storage, 4);
    assert_eq!(s.resize(0), 0);
    assert!(!s.enabled());
    assert_eq!(s.add(&series("a"), ex("7", 1.0, 7)), Err(Refusal::Disabled));
    assert!(flat(&s, i64::MIN, i64::MAX).is_empty());
    assert_eq!(s.stats().max_exemplars, 0);
    assert_eq!(s.resize(-5), 0);
    s.resize(2);
    s.add(&series("a"), ex("8", 1.0, 8)).unwrap();
    assert_eq!(flat(&s, 0, 10), vec![("a".into(), "8".into(), 8)]);
}

/// What the store must answer: the newest `max` accepted exemplars, and
/// acceptance judged against the newest kept exemplar of the series.
#[derive(Default)]
struct Model {
    max: usize,
    kept: VecDeque<(usize, i64, f64)>,
}

impl Model {
    fn add(&mut self, series: usize, ts: i64, v: f64) -> Result<(), Refusal> {
        if self.max == 0 {
            return Err(Refusal::Disabled);
        }
        if let Some(&(_, nt, nv)) = self.kept.iter().rev().find(|(s, _, _)| *s == series) {
            if nt == ts && nv == v {
                return Ok(());
            }
            if ts <= nt {
                return Err(Refusal::OutOfOrder);
            }
        }
        self.kept.push_back((series, ts, v));
        while self.kept.len() > self.max {
            self.kept.pop_front();
        }
        Ok(())
    }

    fn resize(&mut self, max: usize) {
        self.max = max;
        while self.kept.len() > max {
            self.kept.pop_front();
        }
    }
}

#[derive(Debug, Clone)]
enum Op {
    Add(usize, i64, u8),
    Resize(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (0usize..4, 0i64..40, 0u8..3).prop_map(|(s, t, v)| Op::Add(s, t, v)),
        1 => (0usize..8).prop_map(Op::Resize),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]
    #[test]
    fn store_matches_the_model(max in 0usize..8, ops in proptest::collection::vec(op(), 0..80)) {
        let store = ExemplarStore::new(max as i64);
        let mut model = Model { max, ..Model::default() };
        let names = ["a", "b", "c", "d"];
        for op in ops {
            match op {
                Op::Add(s, t, v) => {
                    let e = StoredExemplar { labels: Labels::empty(), value: v as f64, ts: t, has_ts: true };
                    prop_assert_eq!(store.add(&series(names[s]), e), model.add(s, t, v as f64));
                }
                Op::Resize(m) => {
                    store.resize(m as i64);
                    model.resize(m);
                }
            }
            let got: Vec<(String, i64)> = store
                .snapshot()
                .into_iter()
                .map(|(l, e)| (l.get("__name__").unwrap().to_string(), e.ts))
                .collect();
            let want: Vec<(String, i64)> = model
                .kept
                .iter()
                .map(|(s, t, _)| (names[*s].to_string(), *t))
                .collect();
            prop_assert_eq!(&got, &want);
            let mut by_series = want.clone();
            by_series.sort();
            let selected: Vec<(String, i64)> = store
                .select(i64::MIN, i64::MAX, &all())
                .into_iter()
                .flat_map(|s| {
                    let n = s.series_labels.get("__name__").unwrap().to_string();
                    s.exemplars.into_iter().map(move |e| (n.clone(), e.ts.unwrap()))
                })
                .collect();
            prop_assert_eq!(selected, by_series);
            prop_assert_eq!(store.stats().series_in_storage as usize, {
                let mut d: Vec<usize> = model.kept.iter().map(|k| k.0).collect();
                d.sort();
                d.dedup();
                d.len()
            });
        }
    }
}

#[test]
fn an_entry_costs_48_bytes_plus_its_labels() {
    // docs/storage.md states this figure; a bigger entry must update it.
    assert!(
        std::mem::size_of::<Entry>() <= 48,
        "{}",
        std::mem::size_of::<Entry>()
    );
}
