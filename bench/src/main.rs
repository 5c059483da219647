//! `sonde-bench`: the whole-system benchmark of issues 3 and 4. Starts
//! Sonde, Prometheus 2.42 and VictoriaMetrics 1.79 in turn on loopback
//! ports with temporary data directories, sends each the same pre-encoded
//! remote-write workload, measures ingest, memory, disk and restart, checks
//! the stored data, runs the dashboard query suite, and prints the results
//! as markdown tables (see docs/benchmarks.md for how to read them).
//!
//! ```sh
//! cargo build --release -p sonde -p sonde-bench
//! target/release/sonde-bench --sonde-bin target/release/sonde          # full run
//! target/release/sonde-bench --sonde-bin target/release/sonde --quick  # 1,000 series, 1 h
//! ```

mod disk;
mod encode;
mod ingest;
mod query;
mod report;
mod server;
mod suite;
mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use report::ServerResult;
use server::{Kind, Server, Spec};

#[derive(Debug, Parser)]
#[command(
    name = "sonde-bench",
    about = "Sonde against Prometheus and VictoriaMetrics: ingest, disk, restart, queries."
)]
struct Args {
    /// Sonde's release binary.
    #[arg(long, env = "SONDE_BIN", default_value = "target/release/sonde")]
    sonde_bin: PathBuf,
    #[arg(long, env = "PROMETHEUS_BIN", default_value = "/usr/bin/prometheus")]
    prometheus_bin: PathBuf,
    #[arg(
        long,
        env = "VICTORIA_METRICS_BIN",
        default_value = "/usr/bin/victoria-metrics"
    )]
    vm_bin: PathBuf,
    /// Servers to run, in this order.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sonde,prometheus,victoria-metrics"
    )]
    servers: Vec<String>,
    /// Series (rounded up to whole instances of 100).
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Hours of data, ending now.
    #[arg(long, default_value_t = 6.0)]
    hours: f64,
    /// Scrape interval, seconds.
    #[arg(long, default_value_t = 15)]
    interval: i64,
    /// Sender connections (Prometheus remote-write shards).
    #[arg(long, default_value_t = 4)]
    shards: usize,
    /// Samples per request (Prometheus 2.42 max_samples_per_send).
    #[arg(long, default_value_t = encode::PROMETHEUS_MAX_SAMPLES_PER_SEND)]
    batch: usize,
    /// Timed repetitions of each query (after one warm-up).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Pause after ingest before reading the steady RSS, seconds.
    #[arg(long, default_value_t = 15)]
    settle: u64,
    /// Extra flag for every Sonde run (repeatable), e.g.
    /// `--sonde-arg=--query.result-cache-size=0` to time queries uncached.
    #[arg(long, allow_hyphen_values = true)]
    sonde_arg: Vec<String>,
    /// Flag that turns Sonde's query result cache on; when given, the query
    /// suite runs a second time on Sonde with it ("sonde+cache").
    #[arg(long, allow_hyphen_values = true)]
    sonde_cache_flag: Option<String>,
    /// Flag for a second ingest run of Sonde, reported as its own row
    /// ("sonde <flag>") with its own ratios, e.g.
    /// `--sonde-ingest-variant=--storage.tsdb.wal-fsync=1s` to measure Sonde
    /// at the peers' durability (no fsync per request). No queries.
    #[arg(long, allow_hyphen_values = true)]
    sonde_ingest_variant: Option<String>,
    /// Small run to check the harness: 1,000 series, 1 h, 2 repetitions.
    #[arg(long)]
    quick: bool,
    /// Skip the query suite.
    #[arg(long)]
    no_queries: bool,
    /// Where data directories go (default: a temporary directory, removed).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Record `perf` profiles of each server's ingest and query phases into
    /// this directory (`<server>-ingest.perf.data`, `<server>-queries...`).
    #[arg(long)]
    perf_dir: Option<PathBuf>,
    /// Keep each server's data directory (under --work-dir) after the run,
    /// e.g. to profile restarts by hand.
    #[arg(long, requires = "work_dir")]
    keep_data: bool,
    /// Also write the report to this file.
    #[arg(long)]
    report: Option<PathBuf>,
    /// Run everything this many times (same workload, servers in the same
    /// order each time) and end with a table of the issue-3 targets run by
    /// run: how often each was met.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if args.quick {
        args.series = args.series.min(1_000);
        args.hours = args.hours.min(1.0);
        args.reps = args.reps.min(2);
        args.settle = args.settle.min(2);
    }
    let parent = args.work_dir.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&parent).with_context(|| format!("--work-dir {}", parent.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix("sonde-bench-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a directory in {}", parent.display()))?;
    let root = if args.keep_data {
        tmp.keep()
    } else {
        tmp.path().to_path_buf()
    };
    let config = root.join("bench.yml");
    // No scrape jobs: the servers hold only what the benchmark sends.
    std::fs::write(&config, "global:\n  scrape_interval: 15s\n")?;

    let steps = (args.hours * 3600.0 / args.interval as f64).round() as usize;
    let w = workload::Workload::new(args.series, steps, args.interval * 1000, now_ms());
    eprintln!(
        "workload: {} series x {} steps = {} samples; encoding {} shards of {}-sample requests...",
        w.series.len(),
        w.steps,
        w.samples(),
        args.shards,
        args.batch
    );
    let started = Instant::now();
    let probes = probe_series(&w);
    let enc = encode::encode(&w, args.shards, args.batch, &probes);
    let requests: usize = enc.shards.iter().map(|s| s.bodies.len()).sum();
    eprintln!(
        "encoded {requests} requests: {:.1} MiB snappy, {:.1} MiB protobuf, in {:.1?}",
        enc.compressed_bytes as f64 / 1048576.0,
        enc.raw_bytes as f64 / 1048576.0,
        started.elapsed()
    );

    let mut specs = Vec::new();
    for name in &args.servers {
        let Some(spec) = spec_for(&args, name)? else {
            continue;
        };
        let variant = match (&args.sonde_ingest_variant, spec.kind) {
            (Some(flag), Kind::Sonde) => Some(Spec {
                name: format!("{} {flag}", spec.name),
                extra_args: spec.extra_args.iter().chain([flag]).cloned().collect(),
                ..spec.clone()
            }),
            _ => None,
        };
        specs.push((spec, !args.no_queries));
        specs.extend(variant.map(|v| (v, false)));
    }

    let mut out = String::new();
    let mut all = Vec::new();
    for run in 1..=args.runs {
        if args.runs > 1 {
            eprintln!("=== run {run} of {}", args.runs);
            out.push_str(&format!("## Run {run} of {}\n\n", args.runs));
        }
        let results = run_all(&args, &specs, run, &root, &config, &w, &enc);
        out.push_str(&run_report(&args, &w, &results));
        all.push(results);
    }
    if args.runs > 1 {
        out.push_str(&format!("## The targets over {} runs\n\n", args.runs));
        for (spec, _) in specs.iter().filter(|(s, _)| s.kind == Kind::Sonde) {
            out.push_str(&format!("{}:\n\n", spec.name));
            out.push_str(&report::runs_table(&spec.name, &all));
            out.push('\n');
        }
    }
    println!("{out}");
    if let Some(path) = &args.report {
        std::fs::write(path, &out).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// One run: every server in turn, each on a fresh data directory.
fn run_all(
    args: &Args,
    specs: &[(Spec, bool)],
    run: u32,
    root: &Path,
    config: &Path,
    w: &workload::Workload,
    enc: &encode::Encoded,
) -> Vec<ServerResult> {
    let mut results = Vec::new();
    for (spec, queries) in specs {
        let name = &spec.name;
        let dir = name.replace(' ', "_");
        let data = root.join(if args.runs > 1 {
            format!("{dir}-run{run}")
        } else {
            dir
        });
        match run_server(args, spec, *queries, &data, config, w, enc) {
            Ok(mut rs) => {
                for r in &rs {
                    eprintln!(
                        "{}",
                        report::ingest_table(std::slice::from_ref(r), w.samples())
                    );
                }
                results.append(&mut rs);
            }
            Err(e) => eprintln!("{name}: FAILED: {e:#}"),
        }
        if !args.keep_data {
            let _ = std::fs::remove_dir_all(&data);
        }
    }
    results
}

/// The tables of one run: ingest, the targets' ratios, queries.
fn run_report(args: &Args, w: &workload::Workload, results: &[ServerResult]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "Workload: {} series, {} steps of {} s ({} samples), {} shards, {} samples per request, {} query repetitions; load average at start: {}\n\n",
        w.series.len(),
        w.steps,
        args.interval,
        w.samples(),
        args.shards,
        args.batch,
        args.reps,
        load_average()
    ));
    out.push_str(&report::ingest_table(results, w.samples()));
    out.push('\n');
    for sonde in results
        .iter()
        .filter(|r| r.name.starts_with("sonde") && !r.name.ends_with("+cache"))
    {
        out.push_str(&format!("Ratios of {}:\n\n", sonde.name));
        out.push_str(&report::ratio_table(sonde, results));
        out.push('\n');
    }
    if !args.no_queries {
        out.push('\n');
        out.push_str(&report::query_table(results, args.hours));
    }
    out
}

/// The spec of a server by name, or `None` (with a printed reason) when its
/// binary is missing.
fn spec_for(args: &Args, name: &str) -> anyhow::Result<Option<Spec>> {
    let (kind, binary) = match name {
        "sonde" => (Kind::Sonde, args.sonde_bin.clone()),
        "prometheus" => (Kind::Prometheus, args.prometheus_bin.clone()),
        "victoria-metrics" => (Kind::Victoria, args.vm_bin.clone()),
        other => {
            anyhow::bail!("unknown server {other:?}: valid are sonde, prometheus, victoria-metrics")
        }
    };
    if !binary.is_file() {
        eprintln!("SKIPPED {name}: {} does not exist", binary.display());
        return Ok(None);
    }
    Ok(Some(Spec {
        name: name.to_string(),
        kind,
        binary,
        extra_args: if kind == Kind::Sonde {
            args.sonde_arg.clone()
        } else {
            Vec::new()
        },
    }))
}

/// Ingest, settle, verify, disk, restart, queries; for Sonde with a cache
/// flag, a second query pass with the cache on.
fn run_server(
    args: &Args,
    spec: &Spec,
    queries: bool,
    data: &Path,
    config: &Path,
    w: &workload::Workload,
    enc: &encode::Encoded,
) -> anyhow::Result<Vec<ServerResult>> {
    eprintln!("== {}: starting", spec.name);
    let (mut server, _) = Server::start(spec, data, config)?;
    let profile = server::Profile::start(
        args.perf_dir.as_deref(),
        server.pid(),
        &format!("{}-ingest", spec.name),
    );
    let ingest = ingest::run(&server, enc, Duration::from_secs(args.settle))?;
    drop(profile);
    eprintln!(
        "== {}: ingested {} samples in {} requests in {:.1?} ({:.0}/s)",
        spec.name,
        ingest.samples,
        ingest.requests,
        ingest.wall,
        ingest.samples_per_sec()
    );
    let api = query::Api::new(&server.base_url())?;
    disk::make_searchable(&server)?;
    let verify = query::verify(&api, w, &enc.probes)?;
    let disk = disk::measure(&server)?;
    let profile =
        server::Profile::system(args.perf_dir.as_deref(), &format!("{}-restart", spec.name));
    let restart = server.restart(config)?;
    let restart_cpu = server::proc_stats(server.pid())?.cpu_secs;
    drop(profile);
    eprintln!("== {}: restart to ready in {restart:.2?}", spec.name);
    let api = query::Api::new(&server.base_url())?;
    let profile = server::Profile::start(
        args.perf_dir.as_deref(),
        server.pid(),
        &format!("{}-queries", spec.name),
    );
    let suite = queries.then(|| query::run_suite(&api, w, args.reps));
    drop(profile);
    server.stop()?;
    let mut out = vec![ServerResult {
        name: spec.name.clone(),
        ingest,
        verify,
        disk,
        restart,
        restart_cpu,
        suite,
    }];
    if let (Kind::Sonde, Some(flag), true) = (spec.kind, &args.sonde_cache_flag, queries) {
        let cached = Spec {
            name: format!("{}+cache", spec.name),
            // The base flags without the one the cache flag sets again.
            extra_args: spec
                .extra_args
                .iter()
                .filter(|a| a.split('=').next() != flag.split('=').next())
                .chain([flag])
                .cloned()
                .collect(),
            ..spec.clone()
        };
        let (mut server, _) = Server::start(&cached, data, config)?;
        let api = query::Api::new(&server.base_url())?;
        let suite = Some(query::run_suite(&api, w, args.reps));
        server.stop()?;
        out.push(ServerResult {
            name: cached.name,
            suite,
            ..ServerResult::default()
        });
    }
    Ok(out)
}

/// Series checked point by point: a CPU counter, a memory gauge, a load
/// gauge, a bucket and the full-precision scrape duration, on two instances.
fn probe_series(w: &workload::Workload) -> Vec<usize> {
    let last = w.instances - 1;
    let per = workload::SERIES_PER_INSTANCE;
    [0, 33, 43, 46, 70, 99]
        .iter()
        .flat_map(|&o| [o, last * per + o])
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
