//! CORS for the `/api/v1` endpoints, as Prometheus 2.42 sets it
//! (`util/httputil/cors.go`, called for every API v1 route but remote read
//! and write): when a request carries an `Origin` header the response gets
//! `Access-Control-Allow-{Headers,Methods}`, `Access-Control-Expose-Headers`
//! and `Vary: Origin`, and `Access-Control-Allow-Origin` when the origin
//! matches `--web.cors.origin` (an anchored regex): `*` for the default
//! `.*`, the origin itself otherwise. `OPTIONS` on any `/api/v1/` path is a
//! pre-flight request, answered `204 No Content` with those headers.
//!
//! Tower-http's CORS layer cannot express this (it answers pre-flights
//! itself with its own header set and never sends the headers on a
//! non-matching origin), hence this small middleware.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sonde_model::PromRegex;

use crate::WebContext;

/// The headers Prometheus sets on every API response to a request with an
/// `Origin`, whether it matches or not.
fn cors_headers() -> [(HeaderName, &'static str); 4] {
    [
        (
            ACCESS_CONTROL_ALLOW_HEADERS,
            "Accept, Authorization, Content-Type, Origin",
        ),
        (ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"),
        (ACCESS_CONTROL_EXPOSE_HEADERS, "Date"),
        (VARY, "Origin"),
    ]
}

/// Paths below `/api/v1/` that get no CORS headers: the push and remote
/// read endpoints, which Prometheus registers without its CORS wrapper.
const WITHOUT_CORS: [&str; 3] = ["/api/v1/write", "/api/v1/read", "/api/v1/import/prometheus"];

/// The origins allowed to call the API from a browser: an anchored regex.
/// Immutable; replaced whole when the setting changes.
#[derive(Debug, Clone)]
pub struct CorsOrigin {
    regex: PromRegex,
}

impl CorsOrigin {
    /// Compiles `pattern` (anchored at both ends, as Prometheus does). The
    /// error names the pattern and what is wrong with it.
    pub fn new(pattern: &str) -> Result<CorsOrigin, String> {
        PromRegex::new(pattern)
            .map(|regex| CorsOrigin { regex })
            .map_err(|e| {
                let detail = e.to_string();
                let detail = detail.lines().last().unwrap_or_default().trim();
                format!("invalid CORS origin regex {pattern:?}: {detail}")
            })
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        self.regex.as_str()
    }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`,
    /// `None` when it is not allowed. Like Prometheus, the default pattern
    /// `.*` allows every origin as `*`.
    fn allow(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        if self.regex.as_str() == ".*" {
            return Some(HeaderValue::from_static("*"));
        }
        let text = origin.to_str().ok()?;
        self.regex.is_match(text).then(|| origin.clone())
    }

    /// Sets the CORS headers on `headers` for a request from `origin`.
    fn apply(&self, origin: &HeaderValue, headers: &mut HeaderMap) {
        for (name, value) in cors_headers() {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if let Some(allowed) = self.allow(origin) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, allowed);
        }
    }
}

impl Default for CorsOrigin {
    /// Prometheus' default: every origin.
    fn default() -> Self {
        CorsOrigin::new(".*").unwrap_or_else(|e| panic!("BUG: the default CORS regex: {e}"))
    }
}

/// Middleware: CORS headers on `/api/v1/` responses, and the answer to
/// pre-flight `OPTIONS` requests. Paths are those below the route prefix.
pub(crate) async fn cors(State(ctx): State<Arc<WebContext>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !path.starts_with("/api/v1/") {
        return next.run(req).await;
    }
    let preflight = req.method() == Method::OPTIONS;
    if !preflight && WITHOUT_CORS.contains(&path) {
        return next.run(req).await;
    }
    let origin = req.headers().get(ORIGIN).cloned();
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(req).await
    };
    if let Some(origin) = origin.filter(|o| !o.is_empty()) {
        ctx.http
            .cors_origin()
            .apply(&origin, response.headers_mut());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(pattern: &str, origin: &str) -> Option<String> {
        CorsOrigin::new(pattern)
            .unwrap()
            .allow(&HeaderValue::from_str(origin).unwrap())
            .map(|v| v.to_str().unwrap().to_string())
    }

    #[test]
    fn default_allows_every_origin_as_star() {
        assert_eq!(allowed(".*", "https://x.example").as_deref(), Some("*"));
    }

    #[test]
    fn a_pattern_is_anchored_and_echoes_the_origin() {
        let p = r"https?://(grafana|dash)\.example\.com";
        assert_eq!(
            allowed(p, "https://grafana.example.com").as_deref(),
            Some("https://grafana.example.com")
        );
        assert_eq!(allowed(p, "https://grafana.example.com.evil.net"), None);
        assert_eq!(allowed(p, "xhttps://dash.example.com"), None);
        // `.*` only as the whole pattern means `*`.
        assert_eq!(allowed("(.*)", "http://a").as_deref(), Some("http://a"));
    }

    #[test]
    fn an_invalid_pattern_is_an_error_naming_it() {
        let e = CorsOrigin::new("https://(a|b").unwrap_err();
        assert!(e.contains("\"https://(a|b\""), "{e}");
        assert!(e.contains("invalid CORS origin regex"), "{e}");
    }
}
