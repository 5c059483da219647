//! Reading request bodies with size limits and decompression.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

/// Why a body could not be read, and the status that says so.
#[derive(Debug)]
pub(crate) struct BodyError {
    /// 400 (malformed), 408 (not received within `--web.read-timeout`),
    /// 413 (over a size limit) or 415 (an encoding not taken).
    pub status: StatusCode,
    pub message: String,
}

impl BodyError {
    /// The answer of the JSON APIs (import, remote read): bad data as their
    /// `bad_data` error, the other statuses as they are.
    pub fn into_api_response(self) -> Response {
        if self.status == StatusCode::BAD_REQUEST {
            ApiError::bad_data(self.message).into_response()
        } else {
            (self.status, self.message).into_response()
        }
    }
}

/// Reads the whole body, refusing more than `max_bytes`
/// (`ingest.max_body_size`).
pub(crate) async fn read(body: Body, max_bytes: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, max_bytes).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit exceeded"))
            || e.to_string().contains("length limit exceeded");
        if too_large {
            BodyError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: format!(
                    "request body is over the limit of {max_bytes} bytes (ingest.max_body_size)"
                ),
            }
        } else if timed_out(&e) {
            // The HTTP server's body deadline (`--web.read-timeout`): answered
            // (and counted) here as the 408 the server sends.
            BodyError {
                status: StatusCode::REQUEST_TIMEOUT,
                message: format!("cannot read request body: {e}"),
            }
        } else {
            BodyError {
                status: StatusCode::BAD_REQUEST,
                message: format!("cannot read request body: {e}"),
            }
        }
    })
}

/// Whether an I/O error of kind `TimedOut` is in `e`'s chain.
fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        next = err.source();
    }
    false
}

/// The body with `Content-Encoding: gzip` undone (other encodings refused),
/// at most `max_bytes` once decompressed (`ingest.max_decompressed_size`).
pub(crate) fn decode_content_encoding(
    headers: &HeaderMap,
    body: Bytes,
    max_bytes: usize,
) -> Result<Bytes, BodyError> {
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if enc.is_empty() || enc.eq_ignore_ascii_case("identity") {
        return Ok(body);
    }
    if !sonde_exposition::gzip::is_gzip(Some(enc)) {
        return Err(BodyError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!("unsupported Content-Encoding {enc:?}: send gzip or no encoding"),
        });
    }
    let mut out = Vec::new();
    sonde_exposition::gzip::decode(&body, max_bytes, &mut out).map_err(|e| BodyError {
        status: match e {
            sonde_exposition::GzipError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        },
        message: e.to_string(),
    })?;
    Ok(Bytes::from(out))
}

/// A header's value as text, or "".
pub(crate) fn header_str(headers: &HeaderMap, name: header::HeaderName) -> &str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}
