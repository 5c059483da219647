//! Errors of this crate. Scrape errors are shown verbatim as a target's
//! `lastError` in `/api/v1/targets`, so their texts follow Prometheus 2.42.

/// A bad HTTP client setting or an unreadable TLS/secret file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
    #[error("cannot read {what} {path}: {reason}")]
    File {
        what: String,
        path: String,
        reason: String,
    },
    #[error("invalid {field}: {reason}")]
    Invalid { field: String, reason: String },
}

/// Why one scrape failed. The `Display` text is the target's `lastError`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScrapeError {
    /// Connection refused, DNS, TLS, reset...: `Get "<url>": <reason>`.
    #[error("Get {url:?}: {reason}")]
    Http { url: String, reason: String },
    #[error("Get {url:?}: context deadline exceeded")]
    Timeout { url: String },
    #[error("server returned HTTP status {0}")]
    Status(String),
    #[error("body size limit exceeded")]
    BodySizeLimit,
    #[error("{0}")]
    Client(#[from] ClientError),
    /// The body could not be parsed (text of the exposition parser).
    #[error("{0}")]
    Parse(String),
    /// A gzip body that cannot be decoded.
    #[error("{0}")]
    Decode(String),
    #[error("sample limit exceeded")]
    SampleLimit,
    #[error("missing metric name (__name__ label)")]
    NameLabelMandatory,
    #[error("invalid metric name or label names: {0}")]
    InvalidLabels(String),
    /// `label_limit`, `label_name_length_limit`, `label_value_length_limit`.
    #[error("{0}")]
    LabelLimit(String),
    #[error("target_limit exceeded (number of targets: {targets}, limit: {limit})")]
    TargetLimit { targets: usize, limit: u64 },
    /// The storage refused the batch.
    #[error("{0}")]
    Storage(String),
}

impl ScrapeError {
    /// A short kind, the `kind` label of `sonde_scrape_errors_total`.
    pub fn kind(&self) -> &'static str {
        match self {
            ScrapeError::Http { .. } => "http",
            ScrapeError::Timeout { .. } => "timeout",
            ScrapeError::Status(_) => "status",
            ScrapeError::BodySizeLimit => "body_size_limit",
            ScrapeError::Client(_) => "client",
            ScrapeError::Parse(_) | ScrapeError::Decode(_) => "parse",
            ScrapeError::SampleLimit => "sample_limit",
            ScrapeError::NameLabelMandatory | ScrapeError::InvalidLabels(_) => "invalid_labels",
            ScrapeError::LabelLimit(_) => "label_limit",
            ScrapeError::TargetLimit { .. } => "target_limit",
            ScrapeError::Storage(_) => "storage",
        }
    }
}

/// Every value of [`ScrapeError::kind`], for exporting zero counters.
pub const SCRAPE_ERROR_KINDS: &[&str] = &[
    "http",
    "timeout",
    "status",
    "body_size_limit",
    "client",
    "parse",
    "sample_limit",
    "invalid_labels",
    "label_limit",
    "target_limit",
    "storage",
];
