//! Cardinality statistics of the head, in the shape of Prometheus'
//! `/api/v1/status/tsdb` (and `promtool tsdb analyze`'s top lists).

use std::collections::HashMap;

use serde::Serialize;

use crate::head::Head;

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeadStats {
    pub num_series: u64,
    pub num_label_pairs: u64,
    pub chunk_count: u64,
    /// Milliseconds; Prometheus reports these even for an empty head.
    pub min_time: i64,
    pub max_time: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Stat {
    pub name: String,
    pub value: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TsdbStats {
    pub head_stats: HeadStats,
    pub series_count_by_metric_name: Vec<Stat>,
    pub label_value_count_by_label_name: Vec<Stat>,
    pub memory_in_bytes_by_label_name: Vec<Stat>,
    pub series_count_by_label_value_pair: Vec<Stat>,
}

/// The statistics with each top list cut to `limit` entries (Prometheus
/// uses 10), largest first, ties by name.
pub fn head_stats(head: &Head, limit: usize) -> TsdbStats {
    let chunk_count = head
        .all_series()
        .iter()
        .map(|s| s.data.lock().num_chunks() as u64)
        .sum();
    let p = head.postings();
    let mut by_metric = Vec::new();
    let mut values_by_name: HashMap<&str, u64> = HashMap::new();
    let mut memory_by_name: HashMap<&str, u64> = HashMap::new();
    let mut by_pair = Vec::new();
    let mut pairs = 0u64;
    for (n, v, count) in p.pairs() {
        pairs += 1;
        if n == sonde_model::METRIC_NAME {
            by_metric.push(Stat {
                name: v.to_string(),
                value: count,
            });
        }
        *values_by_name.entry(n).or_default() += 1;
        // As Prometheus: bytes of the value times the series holding it.
        *memory_by_name.entry(n).or_default() += v.len() as u64 * count;
        by_pair.push(Stat {
            name: format!("{n}={v}"),
            value: count,
        });
    }
    let to_stats = |m: HashMap<&str, u64>| {
        m.into_iter()
            .map(|(k, v)| Stat {
                name: k.to_string(),
                value: v,
            })
            .collect::<Vec<_>>()
    };
    let (min, max) = (head.min_time(), head.max_time());
    let empty = min == i64::MAX;
    TsdbStats {
        head_stats: HeadStats {
            num_series: head.num_series(),
            num_label_pairs: pairs,
            chunk_count,
            min_time: if empty { i64::MAX } else { min },
            max_time: if empty { i64::MIN } else { max },
        },
        series_count_by_metric_name: top(by_metric, limit),
        label_value_count_by_label_name: top(to_stats(values_by_name), limit),
        memory_in_bytes_by_label_name: top(to_stats(memory_by_name), limit),
        series_count_by_label_value_pair: top(by_pair, limit),
    }
}

fn top(mut v: Vec<Stat>, limit: usize) -> Vec<Stat> {
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    v.truncate(limit);
    v
}
