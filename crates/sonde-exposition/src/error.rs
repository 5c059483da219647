//! Errors of this crate. A [`ParseError`] always names the 1-based line of
//! the body where parsing stopped, what was found there and what would have
//! been valid; it is built only on the error path, so the parser's happy path
//! never allocates for it.

use std::borrow::Cow;

/// A body that cannot be parsed (or, in strict mode, is not valid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {what}; expected {expected}")]
pub struct ParseError {
    /// 1-based line number in the body.
    pub line: usize,
    /// What was wrong, e.g. `invalid value "1_2"`.
    pub what: String,
    /// What would have been valid there.
    pub expected: Cow<'static, str>,
}

impl ParseError {
    /// An error at byte offset `pos` of `body`.
    pub(crate) fn at(
        body: &[u8],
        pos: usize,
        what: impl Into<String>,
        expected: impl Into<Cow<'static, str>>,
    ) -> Self {
        ParseError {
            line: line_of(body, pos),
            what: what.into(),
            expected: expected.into(),
        }
    }
}

/// 1-based line number of byte offset `pos` (clamped to the body).
pub(crate) fn line_of(body: &[u8], pos: usize) -> usize {
    let end = pos.min(body.len());
    1 + body[..end].iter().filter(|&&b| b == b'\n').count()
}

/// Quotes a byte slice for an error message, lossily and shortened.
pub(crate) fn quote(b: &[u8]) -> String {
    const MAX: usize = 60;
    let s = String::from_utf8_lossy(&b[..b.len().min(MAX)]);
    if b.len() > MAX {
        format!("{s:?}...")
    } else {
        format!("{s:?}")
    }
}

/// A gzip body that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum GzipError {
    /// The decoded body would exceed the caller's limit (a gzip bomb, or a
    /// target exposing more than the configured body size).
    #[error("gzip body decodes to more than the limit of {limit} bytes; raise the body size limit or fix the target")]
    TooLarge { limit: usize },
    /// The input is not valid gzip.
    #[error("cannot decode gzip body: {0}")]
    Corrupt(#[from] std::io::Error),
}
