//! The Prometheus API's JSON envelope and its error mapping: every handler
//! answers `{"status":"success","data":...}` or
//! `{"status":"error","errorType":"...","error":"..."}` with the HTTP status
//! Prometheus uses for that error type.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::json;

/// Prometheus' `errorType` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    BadData,
    Execution,
    Timeout,
    Canceled,
    Unavailable,
    Internal,
    NotFound,
}

impl ErrorType {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::BadData => "bad_data",
            ErrorType::Execution => "execution",
            ErrorType::Timeout => "timeout",
            ErrorType::Canceled => "canceled",
            ErrorType::Unavailable => "unavailable",
            ErrorType::Internal => "internal",
            ErrorType::NotFound => "not_found",
        }
    }

    /// The HTTP status Prometheus 2.42 sends with each error type.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorType::BadData => StatusCode::BAD_REQUEST,
            ErrorType::Execution => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Canceled | ErrorType::Timeout => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorType::NotFound => StatusCode::NOT_FOUND,
        }
    }
}

/// An API error: its type and a message a person can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub kind: ErrorType,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    pub fn bad_data(message: impl Into<String>) -> Self {
        Self::new(ErrorType::BadData, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "status": "error",
            "errorType": self.kind.as_str(),
            "error": self.message,
        });
        (self.kind.status(), Json(body)).into_response()
    }
}

/// A successful answer wrapping `data`.
pub fn success<T: Serialize>(data: T) -> Response {
    Json(json!({ "status": "success", "data": data })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_map_to_prometheus_statuses() {
        assert_eq!(ErrorType::BadData.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            ErrorType::Execution.status(),
            StatusCode::UNPROCESSABLE_ENTITY
        );
        assert_eq!(ErrorType::Timeout.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ErrorType::Execution.as_str(), "execution");
    }
}
