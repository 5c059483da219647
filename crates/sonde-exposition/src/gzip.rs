//! gzip for scrape bodies and responses (flate2).
//!
//! Invariant: [`decode`] never holds more than `limit + 1` decoded bytes, so
//! a gzip bomb costs at most the limit in memory.

use std::io::{Read, Write};

use crate::error::GzipError;

/// True when a `Content-Encoding` header says gzip.
pub fn is_gzip(content_encoding: Option<&str>) -> bool {
    content_encoding.is_some_and(|v| v.trim().eq_ignore_ascii_case("gzip"))
}

/// Decodes the gzip body `src` (one or more members, as Go's reader does)
/// into `dst`, which is cleared first. Fails with
/// [`GzipError::TooLarge`] as soon as the decoded size would exceed
/// `limit` bytes.
pub fn decode(src: &[u8], limit: usize, dst: &mut Vec<u8>) -> Result<(), GzipError> {
    dst.clear();
    let reader = flate2::read::MultiGzDecoder::new(src);
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader.take(cap).read_to_end(dst)?;
    if dst.len() > limit {
        dst.clear();
        return Err(GzipError::TooLarge { limit });
    }
    Ok(())
}

/// Appends the gzip encoding of `src` to `dst` (default compression level,
/// which is what Go's `gzip.NewWriter` uses too).
pub fn encode(src: &[u8], dst: &mut Vec<u8>) {
    let mut enc = flate2::write::GzEncoder::new(dst, flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let _ = enc.write_all(src);
    let _ = enc.finish();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_limit() {
        let body = b"up 1\n".repeat(1000);
        let mut gz = Vec::new();
        encode(&body, &mut gz);
        assert!(gz.len() < body.len());
        let mut out = Vec::new();
        decode(&gz, body.len(), &mut out).expect("fits exactly");
        assert_eq!(out, body);
        // Twice on the same buffers.
        decode(&gz, body.len(), &mut out).expect("fits exactly");
        assert_eq!(out, body);
        let e = decode(&gz, body.len() - 1, &mut out).expect_err("one byte over");
        assert!(matches!(e, GzipError::TooLarge { limit } if limit == body.len() - 1));
        assert!(e.to_string().contains("more than the limit"));
        assert!(decode(b"not gzip", 100, &mut out).is_err());
    }

    #[test]
    fn bomb_is_refused_without_inflating() {
        let zeros = vec![0u8; 64 << 20];
        let mut gz = Vec::new();
        encode(&zeros, &mut gz);
        assert!(gz.len() < 1 << 20);
        let mut out = Vec::new();
        assert!(matches!(
            decode(&gz, 1 << 20, &mut out),
            Err(GzipError::TooLarge { .. })
        ));
        assert!(out.capacity() < 8 << 20, "kept {} bytes", out.capacity());
    }

    #[test]
    fn header_detection() {
        assert!(is_gzip(Some("gzip")));
        assert!(is_gzip(Some(" GZIP ")));
        assert!(!is_gzip(Some("identity")));
        assert!(!is_gzip(None));
    }
}
