//! `/api/v1/query` and `/api/v1/query_range`: run the PromQL engine on a
//! blocking thread, at most `--query.max-concurrency` at a time, with the
//! request's `timeout` capped by `--query.timeout`. A client that goes away
//! cancels its query, so an abandoned query stops and frees its memory.
//! Recent query texts are parsed once ([`QueryMemory`]), and an instant
//! query whose previous evaluation was quick runs on the request's own
//! thread instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use promql_parser::parser::Expr;
use sonde_model::Queryable;
use sonde_promql::{CancelToken, Engine, QueryError, QueryOptions, QueryStats, Value};
use tokio::sync::Semaphore;

use crate::api::{ApiError, ErrorType};
use crate::params::Params;
use crate::query_cache::QueryCache;
use crate::query_memory::QueryMemory;
use crate::WebContext;

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

/// The query engine, the storage it reads and the concurrency gate.
///
/// Thread safety: shared by all request handlers; the engine is immutable.
pub struct QueryService {
    pub engine: Engine,
    pub storage: Arc<dyn Queryable>,
    gate: Arc<Semaphore>,
    /// `stats=all` adds samples per step (Prometheus'
    /// `--enable-feature=promql-per-step-stats`).
    per_step_stats: bool,
    /// Range query results, reused across dashboard refreshes.
    cache: Option<Arc<QueryCache>>,
    /// Recent query texts: parsed, and what their instant evaluation cost.
    memory: QueryMemory,
}

impl QueryService {
    pub fn new(engine: Engine, storage: Arc<dyn Queryable>, max_concurrency: usize) -> Self {
        QueryService {
            engine,
            storage,
            gate: Arc::new(Semaphore::new(max_concurrency.max(1))),
            per_step_stats: false,
            cache: None,
            memory: QueryMemory::default(),
        }
    }

    /// Serves range queries through `cache` (every writer of `storage`
    /// must record its writes in the cache's tracker).
    pub fn with_cache(mut self, cache: Arc<QueryCache>) -> Self {
        self.cache = Some(cache);
        self
    }

    pub fn cache(&self) -> Option<&Arc<QueryCache>> {
        self.cache.as_ref()
    }

    /// Whether `stats=all` reports `totalQueryableSamplesPerStep`, as
    /// Prometheus does with `--enable-feature=promql-per-step-stats`.
    pub fn with_per_step_stats(mut self, on: bool) -> Self {
        self.per_step_stats = on;
        self
    }

    /// Runs `f` with an engine whose timeout honours the request's `timeout`,
    /// adding the time spent waiting for a slot to its stats. With `cost`
    /// (an instant query's text), `f` runs on this thread when the query
    /// was cheap last time, and its time is recorded.
    async fn run<F>(
        &self,
        timeout: Option<i64>,
        cost: Option<&str>,
        f: F,
    ) -> Result<(Value, QueryStats), ApiError>
    where
        F: FnOnce(&Engine, &dyn Queryable, CancelToken) -> (Result<Value, QueryError>, QueryStats)
            + Send
            + 'static,
    {
        let queued = Instant::now();
        let _permit =
            self.gate.clone().acquire_owned().await.map_err(|_| {
                ApiError::new(ErrorType::Unavailable, "query engine is shutting down")
            })?;
        let mut opts = self.engine.options().clone();
        if let Some(ms) = timeout.filter(|ms| *ms > 0) {
            opts.timeout = opts.timeout.min(Duration::from_millis(ms as u64));
        }
        let engine = self.engine.with_options(opts); // shares the query counters
        let storage = self.storage.clone();
        let queue_secs = queued.elapsed().as_secs_f64();
        let cancel: CancelToken = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let (result, mut stats) = if cost.is_some_and(|q| self.memory.cheap(q)) {
            // Nothing can cancel it while it runs (the request's future is
            // not polled meanwhile), but it was quick last time, and the
            // engine's deadline still applies. A panic is an error answer,
            // as it is from the blocking pool.
            let run = std::panic::AssertUnwindSafe(|| f(&engine, storage.as_ref(), cancel));
            std::panic::catch_unwind(run)
                .map_err(|_| ApiError::new(ErrorType::Internal, "query task failed: it panicked"))?
        } else {
            let guard = CancelOnDrop(cancel.clone());
            let done = tokio::task::spawn_blocking(move || f(&engine, storage.as_ref(), cancel))
                .await
                .map_err(|e| {
                    ApiError::new(ErrorType::Internal, format!("query task failed: {e}"))
                })?;
            std::mem::forget(guard); // finished: nothing to cancel
            done
        };
        if let Some(q) = cost {
            self.memory.record(q, started.elapsed());
        }
        stats.add_queue_time(queue_secs);
        Ok((result.map_err(query_error)?, stats))
    }
}

/// Cancels the query when the request future is dropped (client gone).
struct CancelOnDrop(CancelToken);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Maps an engine error to the API's error type and status.
pub fn query_error(e: QueryError) -> ApiError {
    let kind = match e {
        QueryError::BadData(_) => ErrorType::BadData,
        QueryError::Execution(_) => ErrorType::Execution,
        QueryError::Timeout(_) => ErrorType::Timeout,
        QueryError::Canceled(_) => ErrorType::Canceled,
        QueryError::Storage(_) => ErrorType::Internal,
    };
    ApiError::new(kind, e.to_string())
}

fn service(ctx: &WebContext) -> Result<&QueryService, ApiError> {
    ctx.query
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorType::Unavailable, "this server has no query engine"))
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The success envelope around a value that serialises itself, with the
/// query's `stats` inside `data` when asked for.
fn value_response(v: &Value, stats: Option<&QueryStats>) -> Response {
    let mut body = String::with_capacity(256);
    body.push_str(r#"{"status":"success","data":"#);
    v.write_json(&mut body);
    if let Some(stats) = stats {
        body.pop(); // the closing brace of `data`
        body.push_str(",\"stats\":");
        stats.write_json(&mut body);
        body.push('}');
    }
    body.push('}');
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// What the `stats` parameter asks for: nothing (absent or empty), the
/// totals (any value), or also samples per step (`all`, when enabled).
/// As in Prometheus 2.42's `defaultStatsRenderer` and `extractQueryOpts`.
fn stats_request(params: &Params, svc: &QueryService) -> (bool, bool) {
    match params.get("stats") {
        None => (false, false),
        Some(v) => (true, v == "all" && svc.per_step_stats),
    }
}

/// Parses the `query` parameter (or finds it parsed in `memory`); errors
/// read as Prometheus 2.42's do: `invalid parameter "query": 1:5: parse
/// error: ...` for instant queries and `format_query`, without the prefix
/// for range queries (`named`).
fn parse_query(
    params: &Params,
    named: bool,
    memory: Option<&QueryMemory>,
) -> Result<(String, Arc<Expr>, f64), ApiError> {
    let text = params.get("query").unwrap_or("").to_string();
    let started = Instant::now();
    let parse = |q: &str| {
        sonde_promql::parse(q).map_err(|e| match e {
            QueryError::BadData(m) if named => {
                ApiError::bad_data(format!("invalid parameter \"query\": {m}"))
            }
            other => query_error(other),
        })
    };
    let expr = match memory {
        Some(m) => m.parse(&text, parse)?,
        None => Arc::new(parse(&text)?),
    };
    Ok((text, expr, started.elapsed().as_secs_f64()))
}

pub(crate) async fn instant(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let time = params.time_or("time", now_ms())?;
    let timeout = params.duration("timeout")?;
    let svc = service(&ctx)?;
    let (text, expr, parsing) = parse_query(&params, true, Some(&svc.memory))?;
    let (want_stats, per_step) = stats_request(&params, svc);
    let (value, mut stats) = svc
        .run(timeout, Some(&text), move |engine, storage, cancel| {
            let opts = QueryOptions {
                cancel: Some(cancel),
                per_step_stats: per_step,
            };
            engine.instant_query_expr(storage, &expr, time, &opts)
        })
        .await?;
    stats.add_preparation_time(parsing);
    Ok(value_response(&value, want_stats.then_some(&stats)))
}

pub(crate) async fn range(
    State(ctx): State<Arc<WebContext>>,
    params: Params,
) -> Result<Response, ApiError> {
    let start = required_time(&params, "start")?;
    let end = required_time(&params, "end")?;
    if end < start {
        return Err(ApiError::bad_data(
            "end timestamp must not be before start time",
        ));
    }
    let step = params.duration("step")?.ok_or_else(|| {
        ApiError::bad_data("invalid parameter \"step\": cannot parse \"\" to a valid duration")
    })?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let timeout = params.duration("timeout")?;
    let svc = service(&ctx)?;
    let (text, expr, parsing) = parse_query(&params, false, Some(&svc.memory))?;
    let (want_stats, per_step) = stats_request(&params, svc);
    // Stats describe one evaluation: a query that asks for them is not
    // served from the cache.
    let cache = svc.cache.clone().filter(|_| !want_stats);
    let (value, mut stats) = svc
        .run(timeout, None, move |engine, storage, cancel| match cache {
            Some(cache) => {
                let res = cache.range_query(
                    engine,
                    storage,
                    &text,
                    &expr,
                    start,
                    end,
                    step,
                    Some(cancel),
                );
                (res, QueryStats::default())
            }
            None => {
                let opts = QueryOptions {
                    cancel: Some(cancel),
                    per_step_stats: per_step,
                };
                engine.range_query_expr(storage, &expr, start, end, step, &opts)
            }
        })
        .await?;
    stats.add_preparation_time(parsing);
    Ok(value_response(&value, want_stats.then_some(&stats)))
}

fn required_time(params: &Params, key: &str) -> Result<i64, ApiError> {
    match params.get(key) {
        Some(_) => params.time_or(key, 0),
        None => Err(ApiError::bad_data(format!(
            "invalid parameter {key:?}: cannot parse \"\" to a valid timestamp"
        ))),
    }
}

/// `/api/v1/format_query`: the query pretty-printed, or its parse error.
pub(crate) async fn format_query(params: Params) -> Result<Response, ApiError> {
    let (_, expr, _) = parse_query(&params, true, None)?;
    Ok(crate::api::success(expr.prettify()))
}
