//! Errors of decoding and encoding remote-write and remote-read payloads.
//! Every message names the place (byte offset, message path) and what would
//! be valid, because it is sent back to the client as a 400 body.

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy: {0} (the body must be snappy block format, not framed/stream format)")]
    Snappy(String),
    #[error("{what} of {size} bytes is over the limit of {limit} bytes")]
    TooLarge {
        what: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("malformed protobuf at byte {offset} in {path}: {reason}")]
    Protobuf {
        offset: usize,
        path: String,
        reason: String,
    },
    #[error("{what}: {count} is over the limit of {limit}")]
    Limit {
        what: String,
        count: usize,
        limit: usize,
    },
    #[error("malformed protobuf: {0}")]
    Prost(#[from] prost::DecodeError),
    #[error("bad frame at byte {offset}: {reason}")]
    Frame { offset: usize, reason: String },
}

impl From<snap::Error> for DecodeError {
    fn from(e: snap::Error) -> Self {
        // The crate's own messages start with "snappy: " too.
        let message = e.to_string();
        let reason = message.strip_prefix("snappy: ").unwrap_or(&message);
        DecodeError::Snappy(reason.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_error_names_snappy_once() {
        let e = snap::raw::Decoder::new()
            .decompress_vec(b"garbage")
            .expect_err("not snappy");
        let message = DecodeError::from(e).to_string();
        assert!(message.starts_with("snappy: "), "{message}");
        assert_eq!(message.matches("snappy:").count(), 1, "{message}");
    }
}
