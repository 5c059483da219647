//! Reading request bodies with size limits and decompression.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap};

/// Why a body could not be read; `status` is 400 or 413.
#[derive(Debug)]
pub(crate) struct BodyError {
    pub too_large: bool,
    pub message: String,
}

/// Reads the whole body, refusing more than `max_bytes`
/// (`ingest.max_body_size`).
pub(crate) async fn read(body: Body, max_bytes: usize) -> Result<Bytes, BodyError> {
    axum::body::to_bytes(body, max_bytes).await.map_err(|e| {
        let too_large = std::error::Error::source(&e)
            .is_some_and(|s| s.to_string().contains("length limit exceeded"))
            || e.to_string().contains("length limit exceeded");
        BodyError {
            too_large,
            message: if too_large {
                format!(
                    "request body is over the limit of {max_bytes} bytes (ingest.max_body_size)"
                )
            } else {
                format!("cannot read request body: {e}")
            },
        }
    })
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
            too_large: false,
            message: format!("unsupported Content-Encoding {enc:?}: send gzip or no encoding"),
        });
    }
    let mut out = Vec::new();
    sonde_exposition::gzip::decode(&body, max_bytes, &mut out).map_err(|e| BodyError {
        too_large: matches!(e, sonde_exposition::GzipError::TooLarge { .. }),
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
