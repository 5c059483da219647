//! `sonde tsdb import FILE DIR`: backfills timestamped OpenMetrics (or
//! Prometheus text) into blocks, like `promtool tsdb create-blocks-from
//! openmetrics` of Prometheus 2.42: one block per aligned block-duration
//! window holding data, every sample needing its own timestamp.
//!
//! How: a first pass parses the whole input, which validates it and finds
//! which windows hold how many samples and where in the file; then windows
//! are taken in time order, as many per pass as fit in
//! `--max-samples-in-memory` (at least one), each pass parsing only the
//! lines between its windows' first and last samples and writing their
//! blocks. (promtool parses the whole input once per window.)
//!
//! Nothing is written to DIR on error: blocks are written under
//! `DIR/.sonde-import-<pid>.tmp/` and moved into DIR, each with one rename,
//! only when the whole input is imported. If the process dies first, the
//! next `sonde server` on DIR removes that directory (`*.tmp`).
//! Differences from promtool, all on its error paths: samples out of time
//! order are sorted instead of refused, a timestamp repeated with the same
//! value is kept once, and a failed import leaves no partial blocks.

use std::collections::BTreeMap;
use std::fs;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sonde_exposition::{Format, SampleRef, Scratch};
use sonde_model::{Labels, LabelsBuilder, METRIC_NAME};
use sonde_tsdb::block::Block;
use sonde_tsdb::block_write::write_block;

use super::format::Table;
use super::import_blocks::{Accumulator, Conflict};
use super::import_input::{format_name, line_end, line_start, walk, Input, InputFormat};
use super::stats::{block_part, part_row, PART_HEADER};

/// Prometheus' default block range; imported blocks are this times a
/// power of three, the ranges compaction makes (promtool's rule).
const BASE_BLOCK_MS: i64 = 2 * 3_600_000;

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Input file of samples with timestamps; `-` reads standard input.
    pub file: String,
    /// Data directory to add the blocks to (created if missing).
    pub dir: PathBuf,
    /// Time span of each block: the largest of 2h, 6h, 18h, 54h ... (2h
    /// times a power of 3, at most 2h*3^9) not above this. promtool calls
    /// it --max-block-duration.
    #[arg(
        long = "block-duration",
        alias = "max-block-duration",
        default_value = "2h"
    )]
    pub block_duration: String,
    /// Input format.
    #[arg(long, value_enum, default_value = "auto")]
    pub format: InputFormat,
    /// Samples gathered in memory before their blocks are written (a
    /// window's samples are always gathered together, however many).
    #[arg(long = "max-samples-in-memory", default_value_t = 10_000_000)]
    pub max_samples: u64,
    /// Print nothing on success.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// The block span promtool 2.42 picks for a requested maximum.
pub fn block_span(max_ms: i64) -> i64 {
    let mut span = BASE_BLOCK_MS;
    for _ in 0..9 {
        if span * 3 > max_ms {
            break;
        }
        span *= 3;
    }
    span
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let requested = sonde_model::parse_duration(&args.block_duration)
        .map_err(|e| anyhow::anyhow!("invalid --block-duration {:?}: {e}", args.block_duration))?;
    let span = block_span(requested.as_millis().min(i64::MAX as u128) as i64);
    fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create data directory {}", args.dir.display()))?;
    let staging = Staging::create(&args.dir)?;
    let report = import(args, span, &staging.path)
        .with_context(|| format!("nothing was written to {}", args.dir.display()))?;
    let moved = staging.publish(&args.dir)?;
    if !args.quiet {
        print_report(&report, &moved, &args.dir)?;
    }
    Ok(ExitCode::SUCCESS)
}

struct Report {
    input: String,
    format: Format,
    span: i64,
    samples_read: u64,
}

/// Samples and input range of the windows one pass handles.
#[derive(Debug, Clone, Copy)]
struct Window {
    samples: u64,
    first_off: usize,
    last_off: usize,
}

fn import(args: &ImportArgs, span: i64, staging: &Path) -> anyhow::Result<Report> {
    let input = Input::open(&args.file, &staging.join("stdin"))?;
    let format = input.format(args.format);
    let len = input.bytes().len();
    let bar = progress_bar(len as u64);
    let mut scratch = Scratch::new();

    bar.set_message("checking");
    let mut windows: BTreeMap<i64, Window> = BTreeMap::new();
    let mut read = 0u64;
    walk(
        &input,
        format,
        0,
        len,
        &mut scratch,
        &mut |o| bar.set_position(o as u64),
        &mut |s, off| {
            let t = timestamp(&input, s, off)?;
            let w = windows.entry(t.div_euclid(span) * span).or_insert(Window {
                samples: 0,
                first_off: off,
                last_off: off,
            });
            w.samples += 1;
            w.last_off = off;
            read += 1;
            Ok(())
        },
    )?;

    let passes = plan(&windows, args.max_samples, span, input.bytes());
    let work: usize = passes.iter().map(|p| p.end - p.start).sum();
    bar.set_length((len + work) as u64);
    let mut done = len;
    let mut b = LabelsBuilder::new();
    for (i, p) in passes.iter().enumerate() {
        bar.set_message(format!("pass {}/{}", i + 1, passes.len()));
        let mut acc = Accumulator::new(span);
        walk(
            &input,
            format,
            p.start,
            p.end,
            &mut scratch,
            &mut |o| bar.set_position((done + o - p.start) as u64),
            &mut |s, off| {
                let t = timestamp(&input, s, off)?;
                if t < p.mint || t >= p.maxt {
                    return Ok(());
                }
                let labels = || build_labels(&mut b, s);
                acc.add(s.series, labels, t, s.value, off)
                    .map_err(|c| conflict(&input, c))
            },
        )?;
        done += p.end - p.start;
        for (_, series) in acc.finish().map_err(|c| conflict(&input, c))? {
            write_block(staging, &series, 1, Vec::new())?;
        }
    }
    bar.finish_and_clear();
    Ok(Report {
        input: input.name.clone(),
        format,
        span,
        samples_read: read,
    })
}

/// One pass: the windows in `[mint, maxt)`, found between input offsets
/// `start` (a line start) and `end` (past the last sample's line).
struct Pass {
    mint: i64,
    maxt: i64,
    start: usize,
    end: usize,
}

/// Groups consecutive windows into passes of at most `budget` samples
/// (one window at least).
fn plan(windows: &BTreeMap<i64, Window>, budget: u64, span: i64, body: &[u8]) -> Vec<Pass> {
    let mut passes: Vec<Pass> = Vec::new();
    let mut in_pass = 0u64;
    for (&w, win) in windows {
        let start = line_start(body, win.first_off);
        let end = line_end(body, win.last_off);
        match passes.last_mut() {
            Some(p) if in_pass + win.samples <= budget => {
                p.maxt = w + span;
                p.start = p.start.min(start);
                p.end = p.end.max(end);
                in_pass += win.samples;
            }
            _ => {
                passes.push(Pass {
                    mint: w,
                    maxt: w + span,
                    start,
                    end,
                });
                in_pass = win.samples;
            }
        }
    }
    passes
}

fn timestamp(input: &Input, s: &SampleRef<'_>, off: usize) -> anyhow::Result<i64> {
    s.timestamp_ms.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: sample of {} has no timestamp; expected one after the value (an import stores each sample at its own time)",
            input.at(off),
            String::from_utf8_lossy(s.series)
        )
    })
}

fn build_labels(b: &mut LabelsBuilder, s: &SampleRef<'_>) -> Labels {
    b.reset();
    b.set(METRIC_NAME, s.name);
    for (n, v) in s.labels.iter() {
        b.set(n, v);
    }
    b.build()
}

fn conflict(input: &Input, c: Conflict) -> anyhow::Error {
    let at = c
        .off
        .map_or_else(|| input.name.clone(), |off| input.at(off));
    let mut a = Vec::new();
    let mut b = Vec::new();
    sonde_exposition::encode::float(&mut a, c.values.0);
    sonde_exposition::encode::float(&mut b, c.values.1);
    anyhow::anyhow!(
        "{at}: series {} has two values at timestamp {} ms: {} and {}; expected one value per series and timestamp",
        c.labels,
        c.t,
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b)
    )
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

fn print_report(r: &Report, moved: &[PathBuf], dir: &Path) -> anyhow::Result<()> {
    let mut t = Table::new(&PART_HEADER);
    let mut samples = 0;
    for path in moved {
        let b = Block::open(path)?;
        samples += b.meta.stats.num_samples;
        t.row(part_row(&block_part(&b)));
    }
    if !moved.is_empty() {
        print!("{}", t.render());
    }
    println!(
        "Imported {samples} samples ({} read) from {} ({}) into {} blocks of {} in {}",
        r.samples_read,
        r.input,
        format_name(r.format),
        moved.len(),
        super::format::span(r.span),
        dir.display()
    );
    Ok(())
}

/// The directory blocks are written to before they are moved into place;
/// removed when dropped (after success, it holds nothing of value).
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn create(dir: &Path) -> anyhow::Result<Staging> {
        let path = dir.join(format!(".sonde-import-{}.tmp", std::process::id()));
        // A leftover of a dead process that had the same id.
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path)
            .with_context(|| format!("cannot create staging directory {}", path.display()))?;
        Ok(Staging { path })
    }

    /// Moves every complete block into `dir`, oldest data first; returns
    /// their new paths.
    fn publish(&self, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
        let mut staged = Vec::new();
        for e in fs::read_dir(&self.path)
            .with_context(|| format!("cannot list {}", self.path.display()))?
        {
            let e = e?;
            if e.path().join("meta.json").is_file() {
                staged.push((Block::open(&e.path())?.meta.min_time, e.file_name()));
            }
        }
        staged.sort();
        let mut moved = Vec::new();
        for (_, name) in staged {
            let to = dir.join(&name);
            if let Err(e) = fs::rename(self.path.join(&name), &to) {
                let done: Vec<String> = moved
                    .iter()
                    .map(|p: &PathBuf| p.display().to_string())
                    .collect();
                anyhow::bail!(
                    "cannot move block {} into {}: {e}; blocks moved before the failure (complete, and served by a server started on {}): [{}]; the others are removed",
                    name.to_string_lossy(),
                    dir.display(),
                    dir.display(),
                    done.join(", ")
                );
            }
            moved.push(to);
        }
        sonde_tsdb::wal::sync_dir(dir)?;
        Ok(moved)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.path) {
            eprintln!("sonde: cannot remove {}: {e}", self.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_spans_follow_promtool() {
        let h = 3_600_000;
        assert_eq!(block_span(0), 2 * h);
        assert_eq!(block_span(2 * h), 2 * h);
        assert_eq!(block_span(5 * h), 2 * h);
        assert_eq!(block_span(6 * h), 6 * h);
        assert_eq!(block_span(24 * h), 18 * h);
        assert_eq!(block_span(i64::MAX), 2 * h * 3i64.pow(9));
    }

    #[test]
    fn plan_groups_windows_up_to_the_budget() {
        let body = b"a 1 0\na 1 7200000\na 1 14400000\n";
        let w = |s, f, l| Window {
            samples: s,
            first_off: f,
            last_off: l,
        };
        let mut windows = BTreeMap::new();
        windows.insert(0, w(1, 0, 0));
        windows.insert(7_200_000, w(1, 6, 6));
        windows.insert(14_400_000, w(1, 18, 18));
        let p = plan(&windows, 2, 7_200_000, body);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (p[0].mint, p[0].maxt, p[0].start, p[0].end),
            (0, 14_400_000, 0, 18)
        );
        assert_eq!(
            (p[1].mint, p[1].start, p[1].end),
            (14_400_000, 18, body.len())
        );
    }
}
