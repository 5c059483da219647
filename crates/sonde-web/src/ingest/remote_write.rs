//! `POST /api/v1/write`: Prometheus remote write 1.0.
//!
//! Status codes (what a sender does with them: 2xx done, 4xx dropped, 5xx
//! retried):
//! * 204: everything stored.
//! * 400: the body is not snappy, not a `WriteRequest`, over a limit
//!   (`ingest.max_series_per_request`, `max_labels_per_series`,
//!   `max_decompressed_size`): nothing stored. Or some series
//!   had invalid labels, or some samples were refused by storage (out of
//!   order, duplicate timestamp, out of bounds, too old, more than 10m in the
//!   future): the rest of the request is stored and the body names the
//!   refused series. Prometheus 2.42 answers 400 for the same refusals but
//!   rolls back the whole request; Sonde keeps the valid samples because the
//!   sender will not retry a 400 (remote write 2.0 specifies this partial
//!   write), and re-sending identical samples is harmless.
//! * 413: compressed body over `ingest.max_body_size`.
//! * 415: a `Content-Encoding` other than snappy.
//! * 500: the storage failed; nothing of the request is stored (rolled
//!   back), the sender retries. 503 when the storage is read-only (disk
//!   full: the body names the file and the cause) or there is no storage;
//!   also retried.
//!
//! Error bodies are plain text, one line, as Prometheus' `http.Error`
//! writes them (`text/plain; charset=utf-8`): senders log them as they are.
//!
//! Native histograms are not stored: their samples count as refused
//! (invalid) and the response says so. Exemplars go to the appender; one it
//! does not take is dropped without failing the request, as in Prometheus.
//! Metadata is decoded and not stored.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sonde_model::{Appendable, Exemplar, Labels, SeriesRef, StorageError};
use sonde_remote::{snappy, DecodeError, DecodeLimits, SampleRef, WriteDecoder};

use super::append::{now_ms, storage_error_type, Batch, Committed};
use super::body::{self, header_str};
use super::sanitize::{pairs_to_string, series_labels};
use super::{IngestLimits, Protocol};
use crate::api::{ApiError, ErrorType};
use crate::WebContext;

pub(crate) async fn handle(
    State(ctx): State<Arc<WebContext>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(appendable) = ctx.appendable.clone() else {
        return text_error(unavailable_error());
    };
    let enc = header_str(&headers, header::CONTENT_ENCODING);
    if !enc.is_empty() && !enc.eq_ignore_ascii_case("snappy") {
        return text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "Content-Encoding {enc:?} is not accepted: remote write bodies are snappy-compressed"
            ),
        );
    }
    let ingest = ctx.ingest.clone();
    let limits = ingest.limits();
    let body = match body::read(body, limits.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return text(e.status, &e.message),
    };
    ingest.record_body(Protocol::RemoteWrite, body.len());
    // A sender's usual batch (500-2,000 samples) is decoded and appended
    // right here, on the async worker: a hand-off to a blocking thread and
    // back costs as much as the work. Only a large body goes to the
    // blocking pool, so that it does not hold up other requests on this
    // worker. Either way the wait for the fsync happens here, asleep.
    let inline = body.len() <= INLINE_BODY_BYTES;
    let work = move || write(appendable.as_ref(), &body, &limits);
    let written = if inline {
        work()
    } else {
        match tokio::task::spawn_blocking(work).await {
            Ok(w) => w,
            Err(e) => {
                return text_error(ApiError::new(
                    ErrorType::Internal,
                    format!("remote write task failed: {e}"),
                ))
            }
        }
    };
    let (committed, n) = match written {
        Ok(w) => w,
        Err(e) => return text_error(e),
    };
    match committed
        .durable(&ingest, Protocol::RemoteWrite, inline)
        .await
    {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some(refused)) => text_error(ApiError::bad_data(refused)),
        Err(e) => text_error(ApiError::new(
            storage_error_type(&e),
            format!(
                "storage failed committing {n} series: {e}; the request is not acknowledged, \
                 send it again"
            ),
        )),
    }
}

/// Largest compressed body decoded and appended on the async worker
/// (about 2,000 samples, a millisecond or two of work); larger bodies go to
/// the blocking pool.
const INLINE_BODY_BYTES: usize = 32 << 10;

fn unavailable_error() -> ApiError {
    ApiError::new(
        ErrorType::Unavailable,
        "this server stores no pushed samples (no appendable storage)",
    )
}

/// The JSON error of the HTTP API, for the endpoints that answer in JSON.
pub(crate) fn unavailable() -> Response {
    unavailable_error().into_response()
}

/// An error as Prometheus' remote-write receiver answers it: the API
/// error's status, its message as one line of plain text.
fn text_error(e: ApiError) -> Response {
    text(e.kind.status(), &e.message)
}

fn text(status: StatusCode, message: &str) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        format!("{message}\n"),
    )
        .into_response()
}

/// Largest decompressed buffer a blocking thread keeps between requests
/// (a Prometheus batch of 2,000 samples is ~200 KiB decompressed).
const RETAIN_BYTES: usize = 4 << 20;
/// Largest request whose decoding vectors are kept for the next one.
const RETAIN_SERIES: usize = 20_000;

thread_local! {
    /// Decompression buffer and decoder of this blocking thread, reused
    /// across requests (tokio keeps its blocking threads alive for a while).
    static SCRATCH: std::cell::RefCell<(Vec<u8>, WriteDecoder)> =
        std::cell::RefCell::new((Vec::new(), WriteDecoder::new(DecodeLimits::default())));
}

/// Decodes and appends one request, and commits it: on return it is
/// written and visible, and the [`Committed`] says when it is durable and
/// what was refused. Also returns the number of series in the request.
pub(crate) fn write(
    app: &dyn Appendable,
    body: &Bytes,
    limits: &IngestLimits,
) -> Result<(Committed, usize), ApiError> {
    SCRATCH.with(|cell| {
        let mut guard = cell.borrow_mut();
        let (raw, decoder) = &mut *guard;
        // Taken before decoding: from here storage expects this commit, so
        // a group commit forming now can wait for it (see `Appendable`).
        let mut batch = Batch::new(app.appender(), now_ms());
        snappy::decompress_into(body, limits.max_decompressed_bytes, raw).map_err(decode_error)?;
        decoder.set_limits(DecodeLimits {
            max_series: limits.max_series_per_request,
            max_labels_per_series: limits.max_labels_per_series,
        });
        let req = decoder.decode(raw).map_err(decode_error)?;
        // Every series looked up at once (the storage overlaps the memory
        // accesses of the lookups), then appended in the same order.
        let all: Vec<&[(&str, &str)]> = req.series().map(|s| s.labels()).collect();
        let mut refs = Vec::with_capacity(all.len());
        batch.lookup_known(&all, &mut refs);
        for (series, &known) in req.series().zip(&refs) {
            let pairs = series.labels();
            let mut samples = series.samples();
            let plain = series.exemplars().next().is_none() && series.histogram_count() == 0;
            if plain {
                match append_known(&mut batch, known, pairs, samples) {
                    Ok(None) => continue,
                    Ok(Some(rest)) => samples = rest,
                    Err(e) => {
                        batch.rollback();
                        let labels = Labels::from_sorted(pairs.iter().copied());
                        return Err(append_failed(&labels, &e));
                    }
                }
            }
            let labels = match series_labels(pairs) {
                Ok(l) => l,
                Err(why) => {
                    let n = series.samples().len() + series.histogram_count();
                    batch.refuse_invalid(n, || format!("series {}: {why}", pairs_to_string(pairs)));
                    continue;
                }
            };
            let mut r = 0;
            for s in samples {
                match batch.append(r, &labels, s.timestamp, s.value) {
                    Ok(next) => r = next,
                    Err(e) => {
                        batch.rollback();
                        return Err(append_failed(&labels, &e));
                    }
                }
            }
            for e in series.exemplars() {
                let exemplar = Exemplar {
                    labels: Labels::from_pairs(e.labels),
                    value: e.value,
                    ts: Some(e.timestamp),
                };
                batch.append_exemplar(r, &labels, &exemplar);
            }
            if series.histogram_count() > 0 {
                batch.refuse_invalid(series.histogram_count(), || {
                    format!("series {labels}: native histogram samples are not supported")
                });
            }
        }
        let n = req.len();
        // Keep the buffers of ordinary requests for the next one; give a
        // rare huge request's memory back rather than holding it on every
        // blocking thread.
        if n <= RETAIN_SERIES {
            decoder.recycle(req);
        }
        if raw.capacity() > RETAIN_BYTES {
            *raw = Vec::new();
        }
        Ok((batch.commit_then_wait(), n))
    })
}

/// Appends `samples` to the series `pairs` name if the storage holds it
/// (no label set built, no validation: the series passed it when it was
/// created; pairs sent unsorted or with an empty value never match a stored
/// label set, so they take the path that builds one). `known` is the
/// series' ref from the request's lookup (0 if none). Returns the samples
/// left to append through a built label set: `None` when all were taken
/// (stored or refused), all of them when the series is new. A storage
/// failure is returned (the caller rolls back).
fn append_known<'s>(
    batch: &mut Batch,
    known: SeriesRef,
    pairs: &[(&str, &str)],
    samples: &'s [SampleRef],
) -> Result<Option<&'s [SampleRef]>, StorageError> {
    let mut r = known;
    for (i, s) in samples.iter().enumerate() {
        match batch.append_known(r, pairs, s.timestamp, s.value)? {
            Some(next) => r = next,
            // In practice only the first misses: once found, a series
            // stays (garbage collection skips series with pending samples).
            None => return Ok(Some(&samples[i..])),
        }
    }
    Ok(None)
}

fn append_failed(labels: &Labels, e: &StorageError) -> ApiError {
    ApiError::new(
        storage_error_type(e),
        format!(
            "storage failed appending series {labels}: {e}; nothing of this request was stored"
        ),
    )
}

fn decode_error(e: DecodeError) -> ApiError {
    ApiError::bad_data(format!("cannot decode remote write request: {e}"))
}
