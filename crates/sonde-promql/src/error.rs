//! Query errors, with the kind the HTTP API maps to Prometheus' `errorType`.

use sonde_model::StorageError;

/// Why a query failed. [`QueryError::error_type`] gives the `errorType`
/// string of Prometheus' HTTP API for each kind.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    /// The query text or its parameters are invalid (parse errors, bad
    /// regexes in matchers, a range query over a range vector ...).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (duplicate series after dropping the metric name,
    /// many-to-many matching, invalid function arguments, sample limit).
    #[error("{0}")]
    Execution(String),
    /// The query ran past its timeout.
    #[error("query timed out in {0}")]
    Timeout(String),
    /// The query was cancelled by its caller.
    #[error("query was canceled in {0}")]
    Canceled(String),
    /// The storage failed while the query read it.
    #[error("{0}")]
    Storage(String),
}

/// Prometheus' wording for the sample limit (`ErrTooManySamples`).
pub(crate) const TOO_MANY_SAMPLES: &str =
    "query processing would load too many samples into memory in query execution";

impl QueryError {
    /// The `errorType` of Prometheus' HTTP API: `bad_data`, `execution`,
    /// `timeout`, `canceled` or `internal`.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::BadData(_) => "bad_data",
            QueryError::Execution(_) => "execution",
            QueryError::Timeout(_) => "timeout",
            QueryError::Canceled(_) => "canceled",
            QueryError::Storage(_) => "internal",
        }
    }

    pub(crate) fn exec(msg: impl Into<String>) -> Self {
        QueryError::Execution(msg.into())
    }

    pub(crate) fn too_many_samples() -> Self {
        QueryError::Execution(TOO_MANY_SAMPLES.to_string())
    }
}

impl From<StorageError> for QueryError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Cancelled => QueryError::Canceled("query execution".to_string()),
            other => QueryError::Storage(format!("error reading storage: {other}")),
        }
    }
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;
