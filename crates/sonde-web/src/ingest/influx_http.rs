//! The InfluxDB write endpoints (`POST /write` of 1.x, `POST /api/v2/write`
//! of 2.x) and what Telegraf checks around them (`/ping`, `/health`,
//! `CREATE DATABASE` on `/query`).
//!
//! Name mapping (VictoriaMetrics' convention, so dashboards made for data
//! Telegraf pushed into VictoriaMetrics work unchanged): every numeric field
//! becomes one series named `{measurement}_{field}` (also when the field is
//! named `value`), tags become labels, and the 1.x `db` query parameter
//! becomes the label `db` unless a tag of that name exists; the 2.x `bucket`
//! adds no label (VictoriaMetrics 1.79 does the same; the peer test
//! `tests/ingest_peer_vm.rs` checks it). Two deliberate differences from
//! VictoriaMetrics: names are sanitised to valid Prometheus names (other
//! characters become `_`, a leading digit gets a `_`; VictoriaMetrics keeps
//! `disk.io` and `cpu-id` as they are, which PromQL cannot select without
//! quoting), and string fields are skipped (VictoriaMetrics stores them as
//! 0). Booleans are 1 and 0. A line without a timestamp gets the time the
//! request arrived.
//!
//! Errors follow InfluxDB: a body with bad lines stores its good lines and
//! answers 400 naming each bad line by number ("partial write", as InfluxDB
//! 1.x does), with 1.x's `{"error": ...}` or 2.x's `{"code", "message"}`
//! body. Authentication parameters (`u`, `p`, `Authorization: Token`) are
//! accepted and ignored. The 1.x `rp` and 2.x `org` parameters are ignored.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sonde_model::{Appendable, LabelsBuilder, METRIC_NAME};

use super::append::{now_ms, storage_error_type, Batch, Committed};
use super::body;
use super::influx::Lines;
use super::sanitize::{label_name, metric_name};
use super::{Ingest, IngestLimits, Protocol};

/// The InfluxDB version Sonde answers as; Telegraf only logs it.
const INFLUX_VERSION: &str = "1.8.10";
/// Bad lines named in an error response; the rest are counted.
const MAX_LINES_DESCRIBED: usize = 10;

/// Which API's error shape and precision names to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    V1,
    V2,
}

fn error(api: Api, status: StatusCode, message: String) -> Response {
    let body = match api {
        Api::V1 => json!({ "error": message }),
        Api::V2 => {
            let code = match status {
                StatusCode::BAD_REQUEST => "invalid",
                StatusCode::PAYLOAD_TOO_LARGE => "request too large",
                StatusCode::SERVICE_UNAVAILABLE => "unavailable",
                StatusCode::NOT_FOUND => "not found",
                _ => "internal error",
            };
            json!({ "code": code, "message": message })
        }
    };
    let mut resp = (status, Json(body)).into_response();
    add_version(&mut resp);
    resp
}

fn add_version(resp: &mut Response) {
    resp.headers_mut().insert(
        "X-Influxdb-Version",
        axum::http::HeaderValue::from_static(INFLUX_VERSION),
    );
    resp.headers_mut().insert(
        "X-Influxdb-Build",
        axum::http::HeaderValue::from_static("OSS"),
    );
}

/// Milliseconds per unit of a precision name, as (multiplier, divisor).
fn precision(api: Api, p: Option<&str>) -> Result<(i64, i64), String> {
    let p = p.unwrap_or("");
    let r = match (api, p) {
        (_, "" | "ns" | "n") => (1, 1_000_000),
        (Api::V1, "u" | "µ") | (_, "us") => (1, 1_000),
        (_, "ms") => (1, 1),
        (_, "s") => (1_000, 1),
        (Api::V1, "m") => (60_000, 1),
        (Api::V1, "h") => (3_600_000, 1),
        (Api::V1, _) => {
            return Err(format!(
                "invalid precision {p:?} (use ns, u, ms, s, m or h)"
            ))
        }
        (Api::V2, _) => return Err(format!("invalid precision {p:?} (use ns, us, ms or s)")),
    };
    Ok(r)
}

pub(crate) async fn write_v1(
    State(ctx): State<Arc<super::super::WebContext>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let db = param(&q, "db");
    if db.is_none() {
        return error(
            Api::V1,
            StatusCode::BAD_REQUEST,
            "database is required (query parameter db)".into(),
        );
    }
    write(&ctx, Api::V1, db, param(&q, "precision"), headers, body).await
}

pub(crate) async fn write_v2(
    State(ctx): State<Arc<super::super::WebContext>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    if param(&q, "bucket").is_none() {
        return error(
            Api::V2,
            StatusCode::BAD_REQUEST,
            "bucket is required (query parameter bucket)".into(),
        );
    }
    write(&ctx, Api::V2, None, param(&q, "precision"), headers, body).await
}

fn param(q: &[(String, String)], key: &str) -> Option<String> {
    q.iter()
        .find(|(k, v)| k == key && !v.is_empty())
        .map(|(_, v)| v.clone())
}

async fn write(
    ctx: &super::super::WebContext,
    api: Api,
    db: Option<String>,
    prec: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(appendable) = ctx.appendable.clone() else {
        return error(
            api,
            StatusCode::SERVICE_UNAVAILABLE,
            "this server stores no pushed samples (no appendable storage)".into(),
        );
    };
    let prec = match precision(api, prec.as_deref()) {
        Ok(p) => p,
        Err(e) => return error(api, StatusCode::BAD_REQUEST, e),
    };
    let ingest = ctx.ingest.clone();
    let limits = ingest.limits();
    let raw = match body::read(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => {
            return error(api, e.status, e.message);
        }
    };
    ingest.record_body(Protocol::Influx, raw.len());
    let now = now_ms();
    let result = tokio::task::spawn_blocking(move || {
        let body = body::decode_content_encoding(&headers, raw, limits.max_decompressed_bytes)?;
        let request = Request {
            db: db.as_deref(),
            prec,
            now,
        };
        Ok::<_, body::BodyError>(store(appendable.as_ref(), &body, &request, &limits))
    })
    .await;
    let outcome = match result {
        Ok(Ok(Written::Refused(o))) => o,
        // The wait for durability happens here, asleep, not on a blocking
        // thread.
        Ok(Ok(Written::Committed(c))) => c.durable(&ingest).await,
        Ok(Err(e)) => {
            return error(api, e.status, e.message);
        }
        Err(e) => {
            return error(
                api,
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("write task failed: {e}"),
            )
        }
    };
    match outcome {
        Outcome::Stored { problems: None } => {
            let mut r = StatusCode::NO_CONTENT.into_response();
            add_version(&mut r);
            r
        }
        Outcome::Stored { problems: Some(p) } | Outcome::OverLimit(p) => {
            error(api, StatusCode::BAD_REQUEST, p)
        }
        Outcome::StorageFailed(kind, e) => error(api, kind.status(), e),
    }
}

enum Outcome {
    Stored {
        problems: Option<String>,
    },
    /// More lines than `ingest.max_series_per_request`: nothing stored.
    OverLimit(String),
    /// 503 while the storage is read-only, else 500.
    StorageFailed(crate::api::ErrorType, String),
}

/// What [`store`] did with a body.
enum Written {
    /// Nothing stored; the answer is ready.
    Refused(Outcome),
    /// Committed; stored once durable.
    Committed(Committing),
}

/// A committed Influx batch on its way to durability, with what the
/// parser refused.
struct Committing {
    committed: Committed,
    /// Lines that could not be parsed, described.
    unparsed: Option<String>,
}

impl Committing {
    /// Waits until the batch is durable and says what was stored.
    async fn durable(self, ingest: &Ingest) -> Outcome {
        match self
            .committed
            .durable(ingest, Protocol::Influx, false)
            .await
        {
            Err(e) => Outcome::StorageFailed(
                storage_error_type(&e),
                format!("storage failed committing: {e}; nothing of this request was stored"),
            ),
            Ok(refused) => {
                let parts: Vec<String> = self.unparsed.into_iter().chain(refused).collect();
                Outcome::Stored {
                    problems: (!parts.is_empty()).then(|| parts.join("; ")),
                }
            }
        }
    }
}

/// What a write request asks besides its body.
struct Request<'a> {
    /// v1's `db`, set as a label on series without one.
    db: Option<&'a str>,
    /// Timestamp multiplier and divisor to milliseconds.
    prec: (i64, i64),
    /// For lines without a timestamp.
    now: i64,
}

/// Parses and appends a body; good lines are stored even when others fail.
fn store(app: &dyn Appendable, body: &Bytes, req: &Request<'_>, limits: &IngestLimits) -> Written {
    let Request { db, prec, now } = *req;
    let mut batch = Batch::new(app.appender(), now);
    let mut bad: Vec<String> = Vec::new();
    let mut bad_count = 0usize;
    let mut b = LabelsBuilder::new();
    let mut name = String::new();
    for (line_count, point) in Lines::new(body).enumerate() {
        if line_count >= limits.max_series_per_request {
            batch.rollback();
            return Written::Refused(Outcome::OverLimit(format!(
                "more than {} lines in one request (ingest.max_series_per_request), nothing was stored: send smaller batches",
                limits.max_series_per_request
            )));
        }
        let p = match point {
            Ok(p) => p,
            Err(e) => {
                bad_count += 1;
                if bad.len() < MAX_LINES_DESCRIBED {
                    bad.push(e.to_string());
                }
                continue;
            }
        };
        let t = match p.timestamp {
            None => now,
            Some(ts) => match ts.checked_mul(prec.0) {
                Some(x) => x.div_euclid(prec.1),
                None => {
                    bad_count += 1;
                    if bad.len() < MAX_LINES_DESCRIBED {
                        bad.push(format!(
                            "measurement {:?}: timestamp {ts} out of range",
                            p.measurement
                        ));
                    }
                    continue;
                }
            },
        };
        b.reset();
        for (k, v) in &p.tags {
            let k = label_name(k);
            if k != METRIC_NAME {
                b.set(&k, v);
            }
        }
        if let Some(db) = db {
            if b.get("db").is_none() {
                b.set("db", db);
            }
        }
        for (field, value) in &p.fields {
            let Some(v) = value.as_f64() else { continue };
            name.clear();
            name.push_str(&p.measurement);
            name.push('_');
            name.push_str(field);
            b.set(METRIC_NAME, &metric_name(&name));
            let labels = b.build();
            if labels.len() > limits.max_labels_per_series {
                batch.refuse_invalid(1, || {
                    format!(
                        "series {labels}: more than {} labels (ingest.max_labels_per_series)",
                        limits.max_labels_per_series
                    )
                });
                continue;
            }
            if let Err(e) = batch.append(0, &labels, t, v) {
                batch.rollback();
                return Written::Refused(Outcome::StorageFailed(storage_error_type(&e), format!(
                    "storage failed appending series {labels}: {e}; nothing of this request was stored"
                )));
            }
        }
    }
    let unparsed = (bad_count > 0).then(|| {
        let more = bad_count.saturating_sub(bad.len());
        let mut s = format!("partial write: {bad_count} lines could not be parsed and were dropped, the other lines were stored: {}", bad.join("; "));
        if more > 0 {
            s.push_str(&format!("; and {more} more"));
        }
        s
    });
    Written::Committed(Committing {
        committed: batch.commit_then_wait(),
        unparsed,
    })
}

/// `GET|HEAD /ping`: InfluxDB's liveness answer.
pub(crate) async fn ping() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    add_version(&mut r);
    r
}

/// `GET /health`: InfluxDB 2.x's health document.
pub(crate) async fn health(State(ctx): State<Arc<super::super::WebContext>>) -> Response {
    let ok = ctx.appendable.is_some() && ctx.control.ready();
    let (status, state, msg) = if ok {
        (StatusCode::OK, "pass", "ready for queries and writes")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "fail",
            "not ready for writes",
        )
    };
    let body = json!({
        "name": "influxdb",
        "message": msg,
        "status": state,
        "checks": [],
        "version": INFLUX_VERSION,
        "commit": "sonde",
    });
    (status, Json(body)).into_response()
}

/// `/query`: only `CREATE DATABASE`, which Telegraf's `outputs.influxdb`
/// sends at startup, is answered (databases are labels here, nothing to
/// create); other InfluxQL is refused with a pointer to PromQL.
pub(crate) async fn query(
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut stmt = param(&q, "q");
    let is_form = body::header_str(&headers, axum::http::header::CONTENT_TYPE)
        .starts_with("application/x-www-form-urlencoded");
    if stmt.is_none() && is_form {
        stmt = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "q")
            .map(|(_, v)| v.into_owned());
    }
    let stmt = stmt.unwrap_or_default();
    let is_create = stmt
        .trim_start()
        .get(..15)
        .is_some_and(|s| s.eq_ignore_ascii_case("create database"));
    if is_create {
        let mut r = Json(json!({ "results": [{ "statement_id": 0 }] })).into_response();
        add_version(&mut r);
        return r;
    }
    error(
        Api::V1,
        StatusCode::BAD_REQUEST,
        format!("Sonde accepts only CREATE DATABASE on /query (got {stmt:?}); query with PromQL at /api/v1/query"),
    )
}
