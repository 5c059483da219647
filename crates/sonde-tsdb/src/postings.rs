//! The inverted index: label name -> value -> series ids (roaring bitmaps),
//! and the evaluation of label matchers over any such index (the head's
//! [`MemPostings`] and a block's on-disk postings alike).
//!
//! Matcher semantics are Prometheus': a missing label reads as `""`, so a
//! matcher that matches `""` also selects series without the label. Such a
//! matcher is evaluated as "all series minus those whose value for the
//! label does not match", which needs no list of all series per matcher.

use std::collections::BTreeMap;

use roaring::RoaringBitmap;
use sonde_model::{Labels, MatchOp, Matcher};

/// Read access to an inverted index.
pub trait PostingsSource {
    /// Every series id.
    fn all(&self) -> RoaringBitmap;
    /// Series with `name="value"` (empty when none).
    fn get(&self, name: &str, value: &str) -> RoaringBitmap;
    /// Union of the postings of the values of `name` accepted by `pred`.
    fn union_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap;
}

/// The head's index. Not synchronised itself: the head keeps it behind an
/// `RwLock`, written only when a series is created or removed.
#[derive(Debug, Default)]
pub struct MemPostings {
    map: BTreeMap<String, BTreeMap<String, RoaringBitmap>>,
    all: RoaringBitmap,
}

impl MemPostings {
    pub fn add(&mut self, id: u32, labels: &Labels) {
        for (n, v) in labels.iter() {
            if v.is_empty() {
                continue;
            }
            self.map
                .entry(n.to_string())
                .or_default()
                .entry(v.to_string())
                .or_default()
                .insert(id);
        }
        self.all.insert(id);
    }

    pub fn remove(&mut self, id: u32, labels: &Labels) {
        for (n, v) in labels.iter() {
            let Some(values) = self.map.get_mut(n) else {
                continue;
            };
            if let Some(bm) = values.get_mut(v) {
                bm.remove(id);
                if bm.is_empty() {
                    values.remove(v);
                }
            }
            if values.is_empty() {
                self.map.remove(n);
            }
        }
        self.all.remove(id);
    }

    /// Sorted label names with at least one series.
    pub fn label_names(&self) -> Vec<String> {
        self.map.keys().cloned().collect()
    }

    /// Sorted values of `name`.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        self.map
            .get(name)
            .map(|v| v.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// (name, value, series count) for every label pair, for statistics.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str, u64)> {
        self.map.iter().flat_map(|(n, vals)| {
            vals.iter()
                .map(move |(v, bm)| (n.as_str(), v.as_str(), bm.len()))
        })
    }

    pub fn num_series(&self) -> u64 {
        self.all.len()
    }
}

impl PostingsSource for MemPostings {
    fn all(&self) -> RoaringBitmap {
        self.all.clone()
    }

    fn get(&self, name: &str, value: &str) -> RoaringBitmap {
        self.map
            .get(name)
            .and_then(|v| v.get(value))
            .cloned()
            .unwrap_or_default()
    }

    fn union_where(&self, name: &str, pred: &mut dyn FnMut(&str) -> bool) -> RoaringBitmap {
        let mut out = RoaringBitmap::new();
        if let Some(values) = self.map.get(name) {
            for (v, bm) in values {
                if pred(v) {
                    out |= bm;
                }
            }
        }
        out
    }
}

/// Series ids matching all `matchers` (all series when there are none).
pub fn select_postings(src: &dyn PostingsSource, matchers: &[Matcher]) -> RoaringBitmap {
    let mut result: Option<RoaringBitmap> = None;
    let mut exclude = RoaringBitmap::new();
    for m in matchers {
        if m.matches_empty() {
            exclude |= non_matching_values(src, m);
        } else {
            let p = matching_values(src, m);
            result = Some(match result {
                Some(r) => r & p,
                None => p,
            });
        }
        if result.as_ref().is_some_and(|r| r.is_empty()) {
            return RoaringBitmap::new();
        }
    }
    let base = result.unwrap_or_else(|| src.all());
    base - exclude
}

/// Union of postings of non-empty values that `m` accepts.
fn matching_values(src: &dyn PostingsSource, m: &Matcher) -> RoaringBitmap {
    match m.op {
        MatchOp::Equal => src.get(&m.name, &m.value),
        MatchOp::Regex => match literal_alternatives(&m.value) {
            Some(alts) => union_of(src, &m.name, &alts),
            None if m.value == ".+" => src.union_where(&m.name, &mut |_| true),
            None => src.union_where(&m.name, &mut |v| m.matches(v)),
        },
        // `!=""` and `!~` patterns that reject "": every value but those.
        MatchOp::NotEqual | MatchOp::NotRegex => src.union_where(&m.name, &mut |v| m.matches(v)),
    }
}

/// Union of postings of non-empty values that `m` rejects.
fn non_matching_values(src: &dyn PostingsSource, m: &Matcher) -> RoaringBitmap {
    match m.op {
        MatchOp::NotEqual => src.get(&m.name, &m.value),
        MatchOp::NotRegex => match literal_alternatives(&m.value) {
            Some(alts) => union_of(src, &m.name, &alts),
            None => src.union_where(&m.name, &mut |v| !m.matches(v)),
        },
        MatchOp::Regex if m.value == ".*" => RoaringBitmap::new(),
        MatchOp::Equal | MatchOp::Regex => src.union_where(&m.name, &mut |v| !m.matches(v)),
    }
}

fn union_of(src: &dyn PostingsSource, name: &str, values: &[&str]) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    for v in values {
        if !v.is_empty() {
            out |= src.get(name, v);
        }
    }
    out
}

/// `a|b|c` made only of literal characters, split into its alternatives
/// (the fast path Prometheus has for `job=~"api|web"`).
pub fn literal_alternatives(pattern: &str) -> Option<Vec<&str>> {
    const META: &[char] = &[
        '.', '*', '+', '?', '(', ')', '[', ']', '{', '}', '\\', '^', '$',
    ];
    if pattern.contains(META) {
        return None;
    }
    Some(pattern.split('|').collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> (MemPostings, Vec<Labels>) {
        let series = vec![
            Labels::from_pairs(&[("__name__", "up"), ("job", "api"), ("env", "prod")]),
            Labels::from_pairs(&[("__name__", "up"), ("job", "web")]),
            Labels::from_pairs(&[("__name__", "up"), ("job", "db"), ("env", "dev")]),
            Labels::from_pairs(&[("__name__", "other"), ("job", "api")]),
        ];
        let mut p = MemPostings::default();
        for (i, l) in series.iter().enumerate() {
            p.add(i as u32, l);
        }
        (p, series)
    }

    fn m(op: MatchOp, n: &str, v: &str) -> Matcher {
        Matcher::new(op, n, v).unwrap()
    }

    /// Checks the index against the matchers applied to each label set.
    fn check(ms: &[Matcher]) {
        let (p, series) = index();
        let got: Vec<u32> = select_postings(&p, ms).iter().collect();
        let want: Vec<u32> = series
            .iter()
            .enumerate()
            .filter(|(_, l)| ms.iter().all(|m| m.matches_labels(l)))
            .map(|(i, _)| i as u32)
            .collect();
        assert_eq!(got, want, "{ms:?}");
    }

    #[test]
    fn matchers_agree_with_brute_force() {
        use MatchOp::*;
        let cases = [
            vec![m(Equal, "__name__", "up")],
            vec![m(Equal, "env", "")],
            vec![m(NotEqual, "env", "")],
            vec![m(NotEqual, "env", "prod")],
            vec![m(Regex, "job", "api|web")],
            vec![m(Regex, "job", "a.*")],
            vec![m(Regex, "env", "prod|")],
            vec![m(Regex, "env", ".*")],
            vec![m(Regex, "env", ".+")],
            vec![m(NotRegex, "job", "api|db")],
            vec![m(NotRegex, "env", ".*")],
            vec![m(NotRegex, "env", "")],
            vec![m(Equal, "__name__", "up"), m(NotRegex, "job", "w.*")],
            vec![m(Equal, "nope", "x")],
            vec![],
        ];
        for c in &cases {
            check(c);
        }
    }

    #[test]
    fn remove_drops_empty_entries() {
        let (mut p, series) = index();
        p.remove(3, &series[3]);
        assert_eq!(p.label_values("__name__"), vec!["up"]);
        assert_eq!(p.num_series(), 3);
    }

    #[test]
    fn literal_alternatives_fast_path_only_for_literals() {
        assert_eq!(literal_alternatives("a|b-c"), Some(vec!["a", "b-c"]));
        assert_eq!(literal_alternatives("a.*"), None);
        assert_eq!(literal_alternatives("(?i)a"), None);
    }
}
