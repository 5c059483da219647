//! One scrape loop: a tokio task per target (Prometheus' `scrapeLoop`).
//!
//! The first scrape waits for the target's offset within the interval
//! ([`Target::offset`]), then one scrape per tick. Each scrape appends the
//! samples, staleness markers for vanished series, and the synthetic series
//! `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//! `scrape_samples_post_metric_relabeling` and `scrape_series_added`, in one
//! batch. A failed scrape appends `up 0` and marks every series stale.
//!
//! How a loop stops decides what happens to its series:
//! * [`StopMode::Removed`] (target gone, pool removed): after the next two
//!   intervals plus 10% (so a target that comes back has taken over), every
//!   series gets a staleness marker;
//! * [`StopMode::Reload`]: no markers; the cache goes to the next loop;
//! * [`StopMode::Shutdown`]: no markers, the server will resume.
//!
//! Thread safety: the task owns its cache; status and metadata are shared
//! with the API behind mutexes; control goes through channels.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sonde_exposition::{format_for_content_type, SCRAPE_ACCEPT_HEADER};
use sonde_model::{Appendable, Appender, Labels, SeriesRef, Timestamp, STALE_NAN};
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::append::{append_body, AppendBuffers, AppendContext, AppendStats};
use crate::cache::{MetadataStore, ScrapeCache};
use crate::error::ScrapeError;
use crate::labels_mutate::report_labels;
use crate::metrics::{add, inc, ScrapeMetrics};
use crate::pool_config::PoolConfig;
use crate::scraper::{scrape, ScrapeRequest};
use crate::status::{ScrapeEvent, TargetHealth, TargetStatus};
use crate::target::Target;

/// The synthetic series, in the order Prometheus appends them.
const REPORT_NAMES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// How a loop is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StopMode {
    Removed,
    Reload,
    Shutdown,
}

/// Options shared by every loop of a manager.
#[derive(Clone)]
pub(crate) struct LoopEnv {
    pub appendable: Arc<dyn Appendable>,
    pub metrics: Arc<ScrapeMetrics>,
    pub jitter_seed: u64,
    /// Overrides the end-of-run staleness wait (tests).
    pub end_of_run_delay: Option<Duration>,
    /// True once the manager shuts down: pending end-of-run markers are
    /// dropped then, as Prometheus does.
    pub shutdown: watch::Receiver<bool>,
    pub events: broadcast::Sender<ScrapeEvent>,
}

/// The pool's handle on a running loop.
pub(crate) struct LoopHandle {
    pub target: Arc<Target>,
    pub status: Arc<Mutex<TargetStatus>>,
    pub metadata: Arc<MetadataStore>,
    pub interval: Duration,
    pub timeout: Duration,
    forced_error: Arc<Mutex<Option<ScrapeError>>>,
    scrape_now: mpsc::Sender<()>,
    stop: watch::Sender<Option<StopMode>>,
    task: JoinHandle<ScrapeCache>,
}

impl LoopHandle {
    /// Starts a loop. `cache` carries series and metadata over a reload.
    pub fn start(
        env: LoopEnv,
        pool: Arc<PoolConfig>,
        client: reqwest::Client,
        target: Arc<Target>,
        cache: Option<ScrapeCache>,
    ) -> LoopHandle {
        let interval = target.interval(pool.target_defaults.scrape_interval);
        let timeout = target.timeout(pool.target_defaults.scrape_timeout);
        let cache = cache.unwrap_or_default();
        let metadata = cache.metadata.clone();
        let status = Arc::new(Mutex::new(TargetStatus::default()));
        let forced_error = Arc::new(Mutex::new(None));
        // One pending "scrape now" is enough.
        let (scrape_now, scrape_rx) = mpsc::channel(1);
        let (stop, stop_rx) = watch::channel(None);
        let target_labels = target.labels();
        let report = REPORT_NAMES.map(|n| report_labels(n, &target_labels));
        let lp = ScrapeLoop {
            env,
            req: ScrapeRequest {
                url: target.url(),
                timeout,
                body_size_limit: pool.body_size_limit,
                accept: SCRAPE_ACCEPT_HEADER,
            },
            pool,
            client,
            target: target.clone(),
            target_labels,
            interval,
            cache,
            bufs: AppendBuffers::default(),
            body: Vec::new(),
            report,
            report_refs: [0; 5],
            target_label_names: Vec::new(),
            job: String::new(),
            status: status.clone(),
            forced_error: forced_error.clone(),
        };
        let mut lp = lp;
        lp.target_label_names = lp
            .target_labels
            .iter()
            .map(|(n, _)| n.to_string())
            .collect();
        lp.job = lp.pool.job_name().to_string();
        let task = tokio::spawn(lp.run(Control { scrape_rx, stop_rx }));
        LoopHandle {
            target,
            status,
            metadata,
            interval,
            timeout,
            forced_error,
            scrape_now,
            stop,
            task,
        }
    }

    pub fn set_forced_error(&self, e: Option<ScrapeError>) {
        if let Ok(mut f) = self.forced_error.lock() {
            *f = e;
        }
    }

    /// Asks for a scrape now (a test hook, also used after a reload).
    pub fn trigger(&self) {
        let _ = self.scrape_now.try_send(());
    }

    /// Stops the loop. With `Reload` returns its cache for the next loop;
    /// with `Removed` the loop finishes its staleness markers on its own.
    pub async fn stop(self, mode: StopMode) -> Option<ScrapeCache> {
        let _ = self.stop.send(Some(mode));
        match mode {
            StopMode::Reload => self.task.await.ok(),
            StopMode::Removed | StopMode::Shutdown => None,
        }
    }
}

struct ScrapeLoop {
    env: LoopEnv,
    pool: Arc<PoolConfig>,
    client: reqwest::Client,
    target: Arc<Target>,
    target_labels: Labels,
    req: ScrapeRequest,
    interval: Duration,
    cache: ScrapeCache,
    bufs: AppendBuffers,
    /// The body buffer, reused across scrapes.
    body: Vec<u8>,
    report: [Labels; 5],
    report_refs: [SeriesRef; 5],
    /// Names of `target_labels`, for the parser.
    target_label_names: Vec<String>,
    job: String,
    status: Arc<Mutex<TargetStatus>>,
    forced_error: Arc<Mutex<Option<ScrapeError>>>,
}

/// The loop's control channels, kept apart from its state so that waiting
/// on them and scraping can be raced.
struct Control {
    scrape_rx: mpsc::Receiver<()>,
    stop_rx: watch::Receiver<Option<StopMode>>,
}

fn now_ms() -> Timestamp {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos().min(i64::MAX as u128) as i64)
        .unwrap_or(0)
}

enum Wake {
    Scrape,
    Stop(StopMode),
}

impl ScrapeLoop {
    async fn run(mut self, mut ctl: Control) -> ScrapeCache {
        let offset = self
            .target
            .offset(self.interval, self.env.jitter_seed, now_nanos());
        let first = tokio::time::Instant::now() + offset;
        if let Wake::Stop(mode) = ctl.wait(tokio::time::sleep_until(first)).await {
            return self.finish(mode, None).await;
        }
        let mut ticker =
            tokio::time::interval_at(tokio::time::Instant::now() + self.interval, self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut last = None;
        loop {
            let scraped = tokio::select! {
                biased;
                m = stop_signal(&mut ctl.stop_rx) => Err(m),
                t = self.scrape_and_report() => Ok(t),
            };
            match scraped {
                Ok(t) => last = Some(t),
                Err(mode) => return self.finish(mode, last).await,
            }
            if let Wake::Stop(mode) = ctl.wait(ticker.tick()).await {
                return self.finish(mode, last).await;
            }
        }
    }

    async fn finish(mut self, mode: StopMode, last: Option<Timestamp>) -> ScrapeCache {
        if mode == StopMode::Removed && last.is_some() {
            self.end_of_run_staleness().await;
        }
        self.cache
    }

    /// Prometheus' `endOfRunStaleness`: wait for when the next scrape would
    /// have been (its time stamps the markers), one more interval, and 10%
    /// more; then mark every series stale unless the manager shut down.
    async fn end_of_run_staleness(&mut self) {
        let mut shutdown = self.env.shutdown.clone();
        if *shutdown.borrow() {
            return;
        }
        let (first, rest) = match self.env.end_of_run_delay {
            Some(d) => (d, Duration::ZERO),
            None => (self.interval, self.interval + self.interval / 10),
        };
        let stale_time;
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(first) => stale_time = now_ms(),
        }
        tokio::select! {
            _ = shutdown.wait_for(|s| *s) => return,
            _ = tokio::time::sleep(rest) => {}
        }
        off_worker(|| self.write_end_of_run_markers(stale_time));
    }

    /// Staleness markers for every series of the target and its report.
    fn write_end_of_run_markers(&mut self, stale_time: Timestamp) {
        let (mut stats, mut app, err) = self.append_checked(&[], "", stale_time);
        if err.is_some() {
            app.rollback();
            return;
        }
        for (i, labels) in self.report.iter().enumerate() {
            if app
                .append(self.report_refs[i], labels, stale_time, STALE_NAN)
                .is_ok()
            {
                stats.appended += 1;
            }
        }
        if app.commit().is_ok() {
            add(&self.env.metrics.samples_appended, stats.appended);
        }
    }

    /// One scrape and its report; returns the scrape's timestamp.
    async fn scrape_and_report(&mut self) -> Timestamp {
        let start = Instant::now();
        let ts = now_ms();
        let forced = self.forced_error.lock().ok().and_then(|f| f.clone());
        let mut body = std::mem::take(&mut self.body);
        let outcome = match forced {
            Some(e) => Err(e),
            None => scrape(&self.client, &self.pool.http, &self.req, &mut body).await,
        };
        // Appending and committing may wait on the storage (WAL writes):
        // keep that off the async workers' other tasks.
        off_worker(|| {
            let (stats, app, err) = match outcome {
                Ok(b) => self.append_checked(&body, &b.content_type, ts),
                Err(e) => {
                    // A failed scrape is an empty scrape: all series stale.
                    let (stats, app, _) = self.append_checked(&[], "", ts);
                    (stats, app, Some(e))
                }
            };
            self.report_and_commit(app, stats, err, start, ts);
        });
        self.body = body;
        ts
    }

    /// Appends a body in a fresh batch; on failure rolls it back and
    /// appends an empty scrape (staleness markers) in a new batch instead.
    /// Returns the first attempt's counts, the batch to add the report to,
    /// and the error.
    fn append_checked(
        &mut self,
        body: &[u8],
        content_type: &str,
        ts: Timestamp,
    ) -> (AppendStats, Box<dyn Appender>, Option<ScrapeError>) {
        let names: Vec<&str> = self.target_label_names.iter().map(String::as_str).collect();
        let cx = AppendContext {
            target_labels: &self.target_labels,
            target_label_names: &names,
            honor_labels: self.pool.honor_labels,
            honor_timestamps: self.pool.honor_timestamps,
            limits: self.pool.limits,
            metric_relabel: &self.pool.metric_relabel_configs,
        };
        let format = format_for_content_type(Some(content_type));
        let mut stats = AppendStats::default();
        let mut app = self.env.appendable.appender();
        let res = append_body(
            &mut self.cache,
            &cx,
            app.as_mut(),
            body,
            format,
            ts,
            &mut self.bufs,
            &mut stats,
        );
        let Err(e) = res else {
            return (stats, app, None);
        };
        app.rollback();
        let mut app = self.env.appendable.appender();
        let mut stale = AppendStats::default();
        let again = append_body(
            &mut self.cache,
            &cx,
            app.as_mut(),
            &[],
            format,
            ts,
            &mut self.bufs,
            &mut stale,
        );
        if again.is_err() {
            app.rollback();
            app = self.env.appendable.appender();
            stale.appended = 0;
        }
        stats.appended = stale.appended;
        (stats, app, Some(e))
    }

    /// Appends the synthetic series, commits, and publishes the outcome.
    fn report_and_commit(
        &mut self,
        mut app: Box<dyn Appender>,
        stats: AppendStats,
        err: Option<ScrapeError>,
        start: Instant,
        ts: Timestamp,
    ) {
        let duration = start.elapsed();
        let up = if err.is_none() { 1.0 } else { 0.0 };
        let values = [
            up,
            duration.as_secs_f64(),
            stats.total as f64,
            stats.added as f64,
            stats.series_added as f64,
        ];
        let mut appended = stats.appended;
        for (i, v) in values.into_iter().enumerate() {
            if let Ok(r) = app.append(self.report_refs[i], &self.report[i], ts, v) {
                self.report_refs[i] = r;
                appended += 1;
            }
        }
        let m = &self.env.metrics;
        match app.commit() {
            Ok(()) => add(&m.samples_appended, appended),
            Err(_) => {
                self.report_refs = [0; 5];
                m.record_error("storage");
            }
        }
        inc(&m.scrapes);
        add(&m.scrape_duration_micros, duration.as_micros() as u64);
        add(&m.samples_out_of_order, stats.out_of_order);
        add(&m.samples_duplicate, stats.duplicates);
        add(&m.samples_out_of_bounds, stats.out_of_bounds);
        if let Some(e) = &err {
            m.record_error(e.kind());
            match e {
                ScrapeError::SampleLimit => inc(&m.exceeded_sample_limit),
                ScrapeError::BodySizeLimit => inc(&m.exceeded_body_size_limit),
                ScrapeError::LabelLimit(_) => inc(&m.exceeded_label_limits),
                _ => {}
            }
        }
        let scrapes = if let Ok(mut st) = self.status.lock() {
            st.health = if err.is_none() {
                TargetHealth::Up
            } else {
                TargetHealth::Down
            };
            st.last_error = err.as_ref().map(|e| e.to_string()).unwrap_or_default();
            st.last_scrape = Some(SystemTime::now() - duration);
            st.last_scrape_duration = duration;
            st.scrapes += 1;
            st.scrapes
        } else {
            0
        };
        let _ = self.env.events.send(ScrapeEvent {
            job: self.job.clone(),
            url: self.req.url.clone(),
            health: if err.is_none() {
                TargetHealth::Up
            } else {
                TargetHealth::Down
            },
            error: err.map(|e| e.to_string()),
            scrapes,
            samples: stats.total,
        });
    }
}

impl Control {
    /// Waits for `until`, a "scrape now" or a stop.
    async fn wait(&mut self, until: impl std::future::Future) -> Wake {
        tokio::select! {
            biased;
            m = stop_signal(&mut self.stop_rx) => Wake::Stop(m),
            _ = until => Wake::Scrape,
            r = self.scrape_rx.recv() => match r {
                Some(()) => Wake::Scrape,
                None => Wake::Stop(StopMode::Shutdown),
            },
        }
    }
}

/// Runs blocking work from a task: on a multi-threaded runtime the worker
/// hands its other tasks over first (`block_in_place`); elsewhere (tests on
/// a current-thread runtime) it just runs.
fn off_worker<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

async fn stop_signal(rx: &mut watch::Receiver<Option<StopMode>>) -> StopMode {
    match rx.wait_for(Option::is_some).await {
        Ok(m) => m.unwrap_or(StopMode::Shutdown),
        // The handle is gone: the pool was dropped without stopping us.
        Err(_) => StopMode::Shutdown,
    }
}
