//! `sonde tsdb stats DIR`: what a data directory holds, per block and for
//! the head (series, samples, chunks, bytes on disk, bytes per sample), and
//! its cardinality over all blocks and the head together: the top series
//! counts by metric name, distinct values by label name, bytes of values by
//! label name, and series counts by label pair (the lists of Prometheus'
//! `/api/v1/status/tsdb` and `promtool tsdb analyze`).
//!
//! Series are counted once however many blocks hold them; they are
//! visited one metric name at a time, so memory holds one metric's series
//! plus one counter per distinct label pair.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde::Serialize;
use sonde_model::{Labels, Matcher, Queryable, SelectHints, METRIC_NAME};
use sonde_tsdb::block::Block;
use sonde_tsdb::stats::Stat;
use sonde_tsdb::ReadOnlyDb;

use super::format::{self, Table};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// The data directory (opened read-only; a running server may use it).
    pub dir: PathBuf,
    /// How many entries each top list shows.
    #[arg(long, default_value_t = 10)]
    pub limit: usize,
    /// Output format.
    #[arg(short = 'o', long = "output", value_enum, default_value = "table")]
    pub output: Output,
}

/// Figures of one block, the head, or the total.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PartStats {
    pub name: String,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    pub series: u64,
    pub samples: u64,
    pub chunks: u64,
    /// Bytes on disk: the block directory, or the WAL for the head.
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Cardinality {
    pub series_count_by_metric_name: Vec<Stat>,
    pub label_value_count_by_label_name: Vec<Stat>,
    pub memory_in_bytes_by_label_name: Vec<Stat>,
    pub series_count_by_label_value_pair: Vec<Stat>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DirStats {
    pub blocks: Vec<PartStats>,
    pub head: PartStats,
    pub total: PartStats,
    pub label_names: u64,
    pub label_pairs: u64,
    pub cardinality: Cardinality,
}

pub fn run(args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let db = ReadOnlyDb::open(&args.dir)?;
    let stats = collect(&db, args.limit)?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&stats)?),
        Output::Table => print!("{}", render(&stats, &db)),
    }
    Ok(ExitCode::SUCCESS)
}

pub fn collect(db: &ReadOnlyDb, limit: usize) -> anyhow::Result<DirStats> {
    let blocks: Vec<PartStats> = db.blocks().iter().map(|b| block_part(b)).collect();
    let h = db.head();
    let empty = h.min_time() > h.max_time();
    let head = PartStats {
        name: "head".to_string(),
        min_time: (!empty).then(|| h.min_time()),
        max_time: (!empty).then(|| h.max_time().saturating_add(1)),
        series: h.num_series(),
        samples: db.wal().samples,
        chunks: db.head_chunks(),
        bytes: format::dir_bytes(&db.dir().join("wal")),
    };
    let card = cardinality(db, limit)?;
    let parts = || blocks.iter().chain([&head]);
    let total = PartStats {
        name: "total".to_string(),
        min_time: parts().filter_map(|p| p.min_time).min(),
        max_time: parts().filter_map(|p| p.max_time).max(),
        series: card.series,
        samples: parts().map(|p| p.samples).sum(),
        chunks: parts().map(|p| p.chunks).sum(),
        bytes: parts().map(|p| p.bytes).sum(),
    };
    Ok(DirStats {
        blocks,
        head,
        total,
        label_names: card.label_names,
        label_pairs: card.label_pairs,
        cardinality: card.lists,
    })
}

/// label name -> label value -> series holding the pair.
type PairCounts = HashMap<String, HashMap<String, u64>>;

struct Counted {
    series: u64,
    label_names: u64,
    label_pairs: u64,
    lists: Cardinality,
}

fn cardinality(db: &dyn Queryable, limit: usize) -> anyhow::Result<Counted> {
    let q = db.querier(i64::MIN, i64::MAX)?;
    let names = q.label_values(METRIC_NAME, &[])?;
    let mut series = 0u64;
    let mut by_metric = Vec::with_capacity(names.len());
    let mut by_pair = PairCounts::new();
    for name in names.iter().map(String::as_str).chain([""]) {
        let mut n = 0u64;
        for s in q.select(
            &SelectHints::default(),
            &[Matcher::equal(METRIC_NAME, name)],
        )? {
            count_pairs(s?.labels(), &mut by_pair);
            n += 1;
        }
        series += n;
        if !name.is_empty() {
            by_metric.push(Stat {
                name: name.to_string(),
                value: n,
            });
        }
    }
    let mut values_by_name: HashMap<&str, u64> = HashMap::new();
    let mut bytes_by_name: HashMap<&str, u64> = HashMap::new();
    let mut label_names = BTreeSet::new();
    let mut pairs = Vec::new();
    for (n, values) in &by_pair {
        label_names.insert(n.as_str());
        *values_by_name.entry(n).or_default() += values.len() as u64;
        for (v, count) in values {
            // As Prometheus: bytes of the value times the series holding it.
            *bytes_by_name.entry(n).or_default() += v.len() as u64 * count;
            pairs.push(Stat {
                name: format!("{n}={v}"),
                value: *count,
            });
        }
    }
    let label_pairs = pairs.len() as u64;
    let to_stats = |m: HashMap<&str, u64>| {
        m.into_iter()
            .map(|(k, v)| Stat {
                name: k.to_string(),
                value: v,
            })
            .collect::<Vec<_>>()
    };
    let lists = Cardinality {
        series_count_by_metric_name: top(by_metric, limit),
        label_value_count_by_label_name: top(to_stats(values_by_name), limit),
        memory_in_bytes_by_label_name: top(to_stats(bytes_by_name), limit),
        series_count_by_label_value_pair: top(pairs, limit),
    };
    Ok(Counted {
        series,
        label_names: label_names.len() as u64,
        label_pairs,
        lists,
    })
}

/// Adds one series' label pairs to the per-name, per-value counts,
/// allocating only for pairs not seen before.
fn count_pairs(labels: &Labels, by_pair: &mut PairCounts) {
    for (n, v) in labels.iter().filter(|(_, v)| !v.is_empty()) {
        let values = match by_pair.get_mut(n) {
            Some(values) => values,
            None => by_pair.entry(n.to_string()).or_default(),
        };
        match values.get_mut(v) {
            Some(c) => *c += 1,
            None => {
                values.insert(v.to_string(), 1);
            }
        }
    }
}

/// Largest first, ties by name, cut to `limit` (as Prometheus' lists).
fn top(mut v: Vec<Stat>, limit: usize) -> Vec<Stat> {
    v.sort_by(|a, b| b.value.cmp(&a.value).then_with(|| a.name.cmp(&b.name)));
    v.truncate(limit);
    v
}

/// The figures of one block, from its `meta.json` and its files.
pub fn block_part(b: &Block) -> PartStats {
    PartStats {
        name: b.meta.ulid.clone(),
        min_time: Some(b.meta.min_time),
        max_time: Some(b.meta.max_time),
        series: b.meta.stats.num_series,
        samples: b.meta.stats.num_samples,
        chunks: b.meta.stats.num_chunks,
        bytes: format::dir_bytes(&b.dir),
    }
}

pub const PART_HEADER: [&str; 9] = [
    "BLOCK",
    "MIN TIME",
    "MAX TIME",
    "SPAN",
    "SERIES",
    "SAMPLES",
    "CHUNKS",
    "BYTES",
    "BYTES/SAMPLE",
];

pub fn part_row(p: &PartStats) -> Vec<String> {
    let t = |x: Option<i64>| x.map_or_else(|| "-".to_string(), format::time);
    let span = match (p.min_time, p.max_time) {
        (Some(a), Some(b)) => format::span(b - a),
        _ => "-".to_string(),
    };
    vec![
        p.name.clone(),
        t(p.min_time),
        t(p.max_time),
        span,
        p.series.to_string(),
        p.samples.to_string(),
        p.chunks.to_string(),
        format::bytes(p.bytes),
        format::per_sample(p.bytes, p.samples),
    ]
}

fn render(s: &DirStats, db: &ReadOnlyDb) -> String {
    let mut out = format!("Data directory: {}\n\n", db.dir().display());
    let mut t = Table::new(&PART_HEADER);
    for p in s.blocks.iter().chain([&s.head, &s.total]) {
        t.row(part_row(p));
    }
    out.push_str(&t.render());
    let w = db.wal();
    out.push_str(&format!(
        "\nHead: rebuilt from the WAL ({} segments{}, {}; its bytes are the WAL's, uncompressed){}\n",
        w.segments,
        w.checkpoint
            .map_or_else(String::new, |c| format!(" after checkpoint {c}")),
        format::bytes(w.bytes),
        if w.torn_bytes > 0 {
            format!("; {} bytes at the end of the last segment not yet readable (left as they are)", w.torn_bytes)
        } else {
            String::new()
        },
    ));
    out.push_str(&format!(
        "Series (distinct over blocks and head): {}\nLabel names: {}\nLabel pairs: {}\n",
        s.total.series, s.label_names, s.label_pairs
    ));
    let c = &s.cardinality;
    for (title, col, list) in [
        (
            "Highest cardinality metric names",
            "SERIES",
            &c.series_count_by_metric_name,
        ),
        (
            "Highest cardinality labels",
            "VALUES",
            &c.label_value_count_by_label_name,
        ),
        (
            "Label names with most bytes of values",
            "BYTES",
            &c.memory_in_bytes_by_label_name,
        ),
        (
            "Most common label pairs",
            "SERIES",
            &c.series_count_by_label_value_pair,
        ),
    ] {
        out.push_str(&format!("\n{title}:\n"));
        let mut t = Table::new(&[col, "NAME"]);
        for st in list {
            t.row(vec![st.value.to_string(), st.name.clone()]);
        }
        out.push_str(&t.render());
    }
    out
}
