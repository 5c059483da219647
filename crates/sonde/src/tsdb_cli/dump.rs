//! `sonde tsdb dump DIR`: every sample as `{labels} value timestamp_ms`,
//! one per line, in the shape of `promtool tsdb dump` (labels as Go prints
//! them, the value as Go's `%g`).
//!
//! Streaming: series are selected one metric name at a time (names in
//! sorted order, then the series without a name), so memory holds one
//! metric's series handles, never the whole database. Series come out in
//! label order, as promtool's, whenever no label name sorts before
//! `__name__` (upper-case or `_A`-like names).

use std::collections::BTreeMap;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use sonde_model::{Labels, Matcher, Queryable, SelectHints, Series, METRIC_NAME};
use sonde_tsdb::ReadOnlyDb;

#[derive(Debug, Args)]
pub struct DumpArgs {
    /// The data directory (opened read-only; a running server may use it).
    pub dir: PathBuf,
    /// Oldest sample to print, in milliseconds since the epoch (inclusive).
    #[arg(long = "min-time", default_value_t = i64::MIN, allow_negative_numbers = true)]
    pub min_time: i64,
    /// Newest sample to print, in milliseconds since the epoch (inclusive).
    #[arg(long = "max-time", default_value_t = i64::MAX, allow_negative_numbers = true)]
    pub max_time: i64,
    /// Series selector such as `up{job="node"}`; repeat for several (their
    /// union). Default: every series.
    #[arg(long = "match", value_name = "SELECTOR")]
    pub matches: Vec<String>,
}

pub fn run(args: &DumpArgs) -> anyhow::Result<ExitCode> {
    let selectors = args
        .matches
        .iter()
        .map(|s| {
            sonde_promql::parse_selector(s)
                .map_err(|e| anyhow::anyhow!("invalid --match {s:?}: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let db = ReadOnlyDb::open(&args.dir)?;
    let mut out = BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    match dump(&db, args.min_time, args.max_time, &selectors, &mut out) {
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        Err(e) => Err(e),
        Ok(()) => match out.flush() {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
            r => r
                .context("cannot write to standard output")
                .map(|_| ExitCode::SUCCESS),
        },
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Writes the samples of `[mint, maxt]` of the series matching any of
/// `selectors` (all series when empty) to `out`.
pub fn dump(
    db: &dyn Queryable,
    mint: i64,
    maxt: i64,
    selectors: &[Vec<Matcher>],
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let q = db.querier(mint, maxt)?;
    let names = q.label_values(METRIC_NAME, &[])?;
    let everything = [Vec::new()];
    let selectors = if selectors.is_empty() {
        &everything[..]
    } else {
        selectors
    };
    let mut line = Vec::with_capacity(256);
    // The empty name last selects the series that have no name.
    for name in names.iter().map(String::as_str).chain([""]) {
        let mut batch: BTreeMap<Labels, Box<dyn Series>> = BTreeMap::new();
        for sel in selectors {
            let mut matchers = Vec::with_capacity(sel.len() + 1);
            matchers.push(Matcher::equal(METRIC_NAME, name));
            matchers.extend(sel.iter().cloned());
            for s in q.select(&SelectHints::default(), &matchers)? {
                let s = s?;
                batch.entry(s.labels().clone()).or_insert(s);
            }
        }
        for (labels, series) in &batch {
            let mut it = series.samples();
            while let Some(smp) = it.next() {
                line.clear();
                write!(line, "{labels} ")?;
                sonde_exposition::encode::float(&mut line, smp.v);
                writeln!(line, " {}", smp.t)?;
                out.write_all(&line)?;
            }
        }
    }
    Ok(())
}
