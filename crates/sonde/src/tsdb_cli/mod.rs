//! `sonde tsdb stats|dump|import`: the admin tools over a data directory,
//! like `promtool tsdb analyze|dump|create-blocks-from openmetrics`.
//!
//! `stats` and `dump` open the directory read-only
//! ([`sonde_tsdb::ReadOnlyDb`]), so they work beside a running server;
//! `import` writes complete blocks only (see [`import`]).

mod dump;
mod format;
mod import;
mod import_blocks;
mod import_input;
mod stats;

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TsdbCommand {
    /// Series, samples, chunks and bytes per block and for the head, and the
    /// top cardinality by metric name, label name and label pair.
    Stats(stats::StatsArgs),
    /// Print every sample as `{labels} value timestamp_ms`, like `promtool tsdb dump`.
    Dump(dump::DumpArgs),
    /// Backfill OpenMetrics or Prometheus text with timestamps into blocks,
    /// like `promtool tsdb create-blocks-from openmetrics`.
    Import(import::ImportArgs),
}

pub fn run(cmd: TsdbCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TsdbCommand::Stats(args) => stats::run(&args),
        TsdbCommand::Dump(args) => dump::run(&args),
        TsdbCommand::Import(args) => import::run(&args),
    }
}
