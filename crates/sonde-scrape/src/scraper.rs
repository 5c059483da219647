//! One HTTP scrape of a target, as Prometheus' `targetScraper.scrape`: a GET
//! with the Accept header of the exposition formats, `Accept-Encoding: gzip`,
//! `X-Prometheus-Scrape-Timeout-Seconds`, the scrape timeout over the whole
//! exchange, status 200 required, and the body read up to `body_size_limit`
//! (after gzip decoding) and no further.
//!
//! The body is written into a buffer the caller owns and reuses.

use std::time::Duration;

use crate::client::HttpClientConfig;
use crate::error::ScrapeError;
use crate::http_util::status_text;
pub use crate::http_util::{format_seconds, USER_AGENT};

/// What a scrape needs besides the URL; immutable per loop.
#[derive(Debug, Clone)]
pub struct ScrapeRequest {
    pub url: String,
    pub timeout: Duration,
    /// 0 means no limit.
    pub body_size_limit: u64,
    /// The `Accept` header ([`sonde_exposition::SCRAPE_ACCEPT_HEADER`]).
    pub accept: &'static str,
}

/// The result of a successful scrape: the body is in the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScrapeBody {
    pub content_type: String,
    /// Bytes on the wire before gzip decoding.
    pub wire_bytes: usize,
}

/// Scrapes `req.url` into `dst` (cleared first).
pub async fn scrape(
    client: &reqwest::Client,
    http: &HttpClientConfig,
    req: &ScrapeRequest,
    dst: &mut Vec<u8>,
) -> Result<ScrapeBody, ScrapeError> {
    dst.clear();
    let url = req.url.clone();
    match tokio::time::timeout(req.timeout, scrape_inner(client, http, req, dst)).await {
        Ok(r) => r,
        Err(_) => {
            dst.clear();
            Err(ScrapeError::Timeout { url })
        }
    }
}

async fn scrape_inner(
    client: &reqwest::Client,
    http: &HttpClientConfig,
    req: &ScrapeRequest,
    dst: &mut Vec<u8>,
) -> Result<ScrapeBody, ScrapeError> {
    let http_err = |e: reqwest::Error| ScrapeError::Http {
        url: req.url.clone(),
        reason: error_chain(&e),
    };
    let builder = client
        .get(&req.url)
        .header("Accept", req.accept)
        .header("Accept-Encoding", "gzip")
        .header("User-Agent", USER_AGENT)
        .header(
            "X-Prometheus-Scrape-Timeout-Seconds",
            format_seconds(req.timeout),
        );
    let mut resp = http.authorize(builder)?.send().await.map_err(http_err)?;
    if resp.status() != reqwest::StatusCode::OK {
        return Err(ScrapeError::Status(status_text(resp.status())));
    }
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let content_type = header(reqwest::header::CONTENT_TYPE);
    let gzip = sonde_exposition::gzip::is_gzip(Some(&header(reqwest::header::CONTENT_ENCODING)));
    let limit = if req.body_size_limit == 0 {
        u64::MAX
    } else {
        req.body_size_limit
    };
    let mut wire = Vec::new();
    let raw: &mut Vec<u8> = if gzip { &mut wire } else { &mut *dst };
    while let Some(chunk) = resp.chunk().await.map_err(http_err)? {
        let room = limit.saturating_sub(raw.len() as u64);
        // For gzip the limit is on the decoded size, but the wire bytes are
        // bounded too so memory stays bounded: a compressed body of `limit`
        // bytes decodes to about as much or more (gzip grows incompressible
        // data only by its framing).
        if chunk.len() as u64 >= room {
            raw.extend_from_slice(&chunk[..room as usize]);
            return Err(ScrapeError::BodySizeLimit);
        }
        raw.extend_from_slice(&chunk);
    }
    let wire_bytes = raw.len();
    if gzip {
        decode_gzip(&wire, limit, dst)?;
    }
    Ok(ScrapeBody {
        content_type,
        wire_bytes,
    })
}

/// `reqwest::Error` hides the cause behind "error sending request"; the
/// target's `lastError` should say what went wrong (refused, reset, TLS).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let t = c.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        cur = c.source();
    }
    s
}

/// Decodes a gzip body into `dst`. Prometheus fails when the decoded size
/// reaches the limit (`n >= limit`), hence `limit - 1` for the decoder,
/// which fails only past its limit.
fn decode_gzip(wire: &[u8], limit: u64, dst: &mut Vec<u8>) -> Result<(), ScrapeError> {
    let max = usize::try_from(limit.saturating_sub(1)).unwrap_or(usize::MAX);
    sonde_exposition::gzip::decode(wire, max, dst).map_err(|e| match e {
        sonde_exposition::GzipError::TooLarge { .. } => ScrapeError::BodySizeLimit,
        other => ScrapeError::Decode(other.to_string()),
    })
}
