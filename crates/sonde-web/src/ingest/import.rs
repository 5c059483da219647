//! `POST /api/v1/import/prometheus`: samples in the Prometheus text format
//! (or OpenMetrics, by `Content-Type`), optionally gzip-compressed, as
//! VictoriaMetrics' endpoint of that name takes them.
//!
//! Parameters: `timestamp` (Unix seconds or RFC 3339) for samples without
//! their own, default the time of the request; samples with a timestamp keep
//! it. `extra_label=name=value` (repeatable) adds or replaces a label on
//! every sample. The body is parsed as a scrape would parse it
//! (`Mode::Scrape`); a parse error refuses the whole request with 400 naming
//! the line (nothing stored: unlike the Influx protocol, the text format's
//! lines depend on each other through `# TYPE`). Samples the storage refuses
//! are reported as by remote write, the rest stored.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sonde_exposition::{format_for_content_type, Entry, Mode, Parser, Scratch};
use sonde_model::{is_valid_label_name, Appendable, LabelsBuilder, METRIC_NAME};

use super::append::{now_ms, storage_error_type, Batch, Committed};
use super::body::{self, header_str};
use super::remote_write::unavailable;
use super::{IngestLimits, Protocol};
use crate::api::{ApiError, ErrorType};
use crate::params::parse_time;
use crate::WebContext;

pub(crate) async fn handle(
    State(ctx): State<Arc<WebContext>>,
    Query(q): Query<Vec<(String, String)>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(appendable) = ctx.appendable.clone() else {
        return unavailable();
    };
    let now = now_ms();
    let mut default_ts = now;
    let mut extra = Vec::new();
    for (k, v) in &q {
        match k.as_str() {
            "timestamp" if !v.is_empty() => match parse_time(v) {
                Ok(t) => default_ts = t,
                Err(e) => {
                    return ApiError::bad_data(format!("invalid parameter \"timestamp\": {e}"))
                        .into_response()
                }
            },
            "extra_label" => match v.split_once('=') {
                Some((n, val)) if is_valid_label_name(n) => extra.push((n.to_string(), val.to_string())),
                _ => {
                    return ApiError::bad_data(format!(
                        "invalid parameter \"extra_label\": {v:?} must be name=value with a valid label name"
                    ))
                    .into_response()
                }
            },
            _ => {}
        }
    }
    let ingest = ctx.ingest.clone();
    let limits = ingest.limits();
    let raw = match body::read(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_api_response(),
    };
    ingest.record_body(Protocol::Import, raw.len());
    let result = tokio::task::spawn_blocking(move || {
        let body = body::decode_content_encoding(&headers, raw, limits.max_decompressed_bytes)?;
        let request = Request {
            content_type: header_str(&headers, header::CONTENT_TYPE),
            default_ts,
            extra: &extra,
            now,
        };
        Ok::<_, body::BodyError>(store(appendable.as_ref(), &body, &request, &limits))
    })
    .await;
    let committed = match result {
        Ok(Ok(Ok(committed))) => committed,
        Ok(Ok(Err(e))) => return e.into_response(),
        Ok(Err(e)) => return e.into_api_response(),
        Err(e) => {
            return ApiError::new(ErrorType::Internal, format!("import task failed: {e}"))
                .into_response()
        }
    };
    // The wait for durability happens here, asleep, not on a blocking
    // thread.
    match committed.durable(&ingest, Protocol::Import, false).await {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(refused)) => ApiError::bad_data(refused).into_response(),
        Err(e) => ApiError::new(
            storage_error_type(&e),
            format!("storage failed committing: {e}; nothing of this request was stored"),
        )
        .into_response(),
    }
}

/// What an import request asks besides its body.
struct Request<'a> {
    content_type: &'a str,
    /// For samples without a timestamp of their own.
    default_ts: i64,
    /// `extra_label` pairs, set on every sample.
    extra: &'a [(String, String)],
    now: i64,
}

fn store(
    app: &dyn Appendable,
    body: &Bytes,
    req: &Request<'_>,
    limits: &IngestLimits,
) -> Result<Committed, ApiError> {
    let Request {
        content_type,
        default_ts,
        extra,
        now,
    } = *req;
    let format = format_for_content_type(Some(content_type));
    let mut scratch = Scratch::new();
    let mut parser = Parser::new(body, format, Mode::Scrape, &mut scratch);
    let mut batch = Batch::new(app.appender(), now);
    let mut b = LabelsBuilder::new();
    let mut samples = 0usize;
    loop {
        let entry = match parser.next() {
            Ok(Some(e)) => e,
            Ok(None) => break,
            Err(e) => {
                batch.rollback();
                return Err(ApiError::bad_data(format!(
                    "cannot parse import body, nothing was stored: {e}"
                )));
            }
        };
        let Entry::Sample(s) = entry else { continue };
        samples += 1;
        if samples > limits.max_series_per_request {
            batch.rollback();
            return Err(ApiError::bad_data(format!(
                "more than {} samples in one import (ingest.max_series_per_request), nothing was stored: split the body",
                limits.max_series_per_request
            )));
        }
        b.reset();
        b.set(METRIC_NAME, s.name);
        for (n, v) in s.labels.iter() {
            b.set(n, v);
        }
        for (n, v) in extra {
            b.set(n, v);
        }
        let labels = b.build();
        if labels.len() > limits.max_labels_per_series {
            batch.rollback();
            return Err(ApiError::bad_data(format!(
                "series {labels} has more than {} labels (ingest.max_labels_per_series), nothing was stored",
                limits.max_labels_per_series
            )));
        }
        let t = s.timestamp_ms.unwrap_or(default_ts);
        if let Err(e) = batch.append(0, &labels, t, s.value) {
            batch.rollback();
            return Err(ApiError::new(
                storage_error_type(&e),
                format!("storage failed appending series {labels}: {e}; nothing of this request was stored"),
            ));
        }
    }
    Ok(batch.commit_then_wait())
}
