//! `POST /api/v1/read`: Prometheus remote read.
//!
//! The request is a snappy-compressed `ReadRequest`. The first response type
//! in `accepted_response_types` that Sonde speaks is used (both are; an
//! empty list means SAMPLES):
//! * SAMPLES: one snappy-compressed `ReadResponse` with a result per query,
//!   `Content-Type: application/x-protobuf`, `Content-Encoding: snappy`.
//!   Refused with 400 past [`MAX_READ_SAMPLES`] samples, as Prometheus'
//!   `--storage.remote.read-sample-limit` does.
//! * STREAMED_XOR_CHUNKS: `ChunkedReadResponse` frames (see
//!   `sonde_remote::frame`), one series per frame, frames near 1 MiB,
//!   chunks of at most 120 samples in Prometheus' XOR encoding; streamed
//!   while storage is read, so memory stays at a frame or two.
//!
//! Each query selects series matching all its matchers with samples in
//! `[start, end]`; the hints are passed to storage. As in Prometheus, the
//! configuration's external labels are added to every returned series
//! (a series' own label of the same name wins), and an equality matcher
//! on an external label with its value is dropped before selecting, so a
//! reader that filters on its view of the labels finds the series.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prost::Message;
use sonde_model::{Labels, MatchOp, Matcher, Queryable, SelectHints};
use sonde_remote::proto::{
    self, ChunkEncoding, ChunkedReadResponse, ChunkedSeries, MatcherType, QueryResult,
    ReadResponse, ResponseType,
};
use sonde_remote::{frame, xor};

use super::body;
use crate::api::{ApiError, ErrorType};
use crate::WebContext;

/// Prometheus' default `--storage.remote.read-sample-limit`.
pub const MAX_READ_SAMPLES: usize = 50_000_000;

pub(crate) async fn handle(State(ctx): State<Arc<WebContext>>, body: Body) -> Response {
    let Some(q) = ctx.query.as_ref() else {
        return ApiError::new(ErrorType::Unavailable, "this server has no storage to read")
            .into_response();
    };
    let storage = q.storage.clone();
    let external = ctx.control.external_labels();
    let limits = ctx.ingest.limits();
    let raw = match body::read(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return e.into_api_response(),
    };
    let req = match sonde_remote::decode_read_request(&raw, limits.max_decompressed_bytes) {
        Ok(r) => r,
        Err(e) => {
            return ApiError::bad_data(format!("cannot decode remote read request: {e}"))
                .into_response()
        }
    };
    let queries = match req
        .queries
        .iter()
        .enumerate()
        .map(|(i, q)| plan(i, q, &external))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(q) => q,
        Err(e) => return e.into_response(),
    };
    let streamed = req
        .accepted_response_types
        .first()
        .is_some_and(|t| *t == ResponseType::StreamedXorChunks as i32);
    if streamed {
        stream(storage, queries, external)
    } else {
        let r = tokio::task::spawn_blocking(move || samples(storage.as_ref(), &queries, &external))
            .await;
        match r {
            Ok(Ok(body)) => (
                [
                    (header::CONTENT_TYPE, sonde_remote::PROTOBUF_CONTENT_TYPE),
                    (header::CONTENT_ENCODING, "snappy"),
                ],
                body,
            )
                .into_response(),
            Ok(Err(e)) => e.into_response(),
            Err(e) => ApiError::new(ErrorType::Internal, format!("remote read task failed: {e}"))
                .into_response(),
        }
    }
}

/// One query, checked.
struct Plan {
    hints: SelectHints,
    matchers: Vec<Matcher>,
}

fn plan(i: usize, q: &proto::Query, external: &Labels) -> Result<Plan, ApiError> {
    let mut matchers = Vec::with_capacity(q.matchers.len());
    for m in &q.matchers {
        if m.r#type == MatcherType::Eq as i32 && external.get(&m.name) == Some(m.value.as_str()) {
            continue;
        }
        let op = match MatcherType::try_from(m.r#type) {
            Ok(MatcherType::Eq) => MatchOp::Equal,
            Ok(MatcherType::Neq) => MatchOp::NotEqual,
            Ok(MatcherType::Re) => MatchOp::Regex,
            Ok(MatcherType::Nre) => MatchOp::NotRegex,
            Err(_) => {
                return Err(ApiError::bad_data(format!(
                    "query {i}: unknown matcher type {} for label {:?} (0=EQ, 1=NEQ, 2=RE, 3=NRE)",
                    m.r#type, m.name
                )))
            }
        };
        let matcher = Matcher::new(op, &m.name, &m.value)
            .map_err(|e| ApiError::bad_data(format!("query {i}: {e}")))?;
        matchers.push(matcher);
    }
    // Prometheus selects [start, end] of the query itself; the hints only
    // tell storage what the reader will compute.
    let mut hints = SelectHints {
        start: q.start_timestamp_ms,
        end: q.end_timestamp_ms,
        ..SelectHints::default()
    };
    if let Some(h) = &q.hints {
        hints.step = h.step_ms;
        hints.func = h.func.clone();
        hints.range = h.range_ms;
    }
    Ok(Plan { hints, matchers })
}

fn storage_error(e: sonde_model::StorageError) -> ApiError {
    ApiError::new(ErrorType::Internal, format!("remote read failed: {e}"))
}

fn samples(
    storage: &dyn Queryable,
    queries: &[Plan],
    external: &Labels,
) -> Result<Vec<u8>, ApiError> {
    let mut resp = ReadResponse::default();
    let mut total = 0usize;
    for q in queries {
        let querier = storage
            .querier(q.hints.start, q.hints.end)
            .map_err(storage_error)?;
        let set = querier
            .select(&q.hints, &q.matchers)
            .map_err(storage_error)?;
        let mut result = QueryResult::default();
        for series in set {
            let series = series.map_err(storage_error)?;
            let mut ts = proto::TimeSeries {
                labels: to_proto_labels(series.labels(), external),
                ..Default::default()
            };
            let mut it = series.samples();
            while let Some(s) = it.next() {
                if s.t > q.hints.end {
                    break;
                }
                if s.t < q.hints.start {
                    continue;
                }
                total += 1;
                if total > MAX_READ_SAMPLES {
                    return Err(ApiError::bad_data(format!(
                        "exceeded sample limit ({MAX_READ_SAMPLES}): narrow the time range or the matchers, or use STREAMED_XOR_CHUNKS"
                    )));
                }
                ts.samples.push(proto::Sample {
                    value: s.v,
                    timestamp: s.t,
                });
            }
            if !ts.samples.is_empty() {
                result.timeseries.push(ts);
            }
        }
        resp.results.push(result);
    }
    Ok(sonde_remote::encode_read_response(&resp))
}

/// The series' labels with the external labels it lacks, sorted.
fn to_proto_labels(l: &Labels, external: &Labels) -> Vec<proto::Label> {
    let mut out: Vec<proto::Label> = l
        .iter()
        .map(|(n, v)| proto::Label {
            name: n.to_string(),
            value: v.to_string(),
        })
        .collect();
    let mut added = false;
    for (n, v) in external.iter() {
        if l.get(n).is_none() {
            out.push(proto::Label {
                name: n.to_string(),
                value: v.to_string(),
            });
            added = true;
        }
    }
    if added {
        out.sort_by(|a, b| a.name.cmp(&b.name));
    }
    out
}

/// Answers with a body fed frame by frame from a blocking reader task;
/// the bounded channel makes the reader wait for a slow client.
fn stream(storage: Arc<dyn Queryable>, queries: Vec<Plan>, external: Labels) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = stream_frames(storage.as_ref(), &queries, &external, &tx) {
            // Headers are gone already: end the body with an error so the
            // client sees a broken stream rather than a short answer.
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    (
        [(header::CONTENT_TYPE, frame::STREAMED_CONTENT_TYPE)],
        Body::from_stream(body),
    )
        .into_response()
}

type Sender = tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>;

fn stream_frames(
    storage: &dyn Queryable,
    queries: &[Plan],
    external: &Labels,
    tx: &Sender,
) -> Result<(), String> {
    let mut msg = Vec::new();
    for (qi, q) in queries.iter().enumerate() {
        let querier = storage
            .querier(q.hints.start, q.hints.end)
            .map_err(|e| e.to_string())?;
        let set = querier
            .select(&q.hints, &q.matchers)
            .map_err(|e| e.to_string())?;
        for series in set {
            let series = series.map_err(|e| e.to_string())?;
            let labels = to_proto_labels(series.labels(), external);
            let mut out = ChunkedSeries {
                labels: labels.clone(),
                chunks: Vec::new(),
            };
            let mut bytes = 0usize;
            let mut enc = xor::XorEncoder::new();
            let (mut mint, mut maxt) = (0i64, 0i64);
            let mut it = series.samples();
            while let Some(s) = it.next() {
                if s.t > q.hints.end {
                    break;
                }
                if s.t < q.hints.start {
                    continue;
                }
                if enc.is_empty() {
                    mint = s.t;
                }
                maxt = s.t;
                enc.append(s.t, s.v);
                if enc.len() >= xor::SAMPLES_PER_CHUNK {
                    bytes += push_chunk(&mut out, std::mem::take(&mut enc), mint, maxt);
                    if bytes >= frame::MAX_BYTES_IN_FRAME {
                        send(tx, qi, &mut out, &mut msg)?;
                        out.labels = labels.clone();
                        bytes = 0;
                    }
                }
            }
            if !enc.is_empty() {
                push_chunk(&mut out, enc, mint, maxt);
            }
            if !out.chunks.is_empty() {
                send(tx, qi, &mut out, &mut msg)?;
            }
        }
    }
    Ok(())
}

fn push_chunk(out: &mut ChunkedSeries, enc: xor::XorEncoder, mint: i64, maxt: i64) -> usize {
    let data = enc.finish();
    let n = data.len();
    out.chunks.push(proto::Chunk {
        min_time_ms: mint,
        max_time_ms: maxt,
        r#type: ChunkEncoding::Xor as i32,
        data,
    });
    n
}

fn send(
    tx: &Sender,
    qi: usize,
    series: &mut ChunkedSeries,
    msg: &mut Vec<u8>,
) -> Result<(), String> {
    let resp = ChunkedReadResponse {
        chunked_series: vec![std::mem::take(series)],
        query_index: qi as i64,
    };
    msg.clear();
    resp.encode(msg).map_err(|e| e.to_string())?;
    let mut framed = Vec::with_capacity(msg.len() + 16);
    frame::write_frame(msg, &mut framed);
    tx.blocking_send(Ok(Bytes::from(framed)))
        .map_err(|_| "client went away".to_string())
}
