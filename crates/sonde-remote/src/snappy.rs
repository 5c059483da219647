//! Snappy block format (not the framed stream format), as remote write and
//! the SAMPLES remote-read response use it. Both directions write into a
//! buffer the caller owns and reuses.

use crate::error::DecodeError;

/// Decompresses `src` into `dst` (replacing what it held). The decompressed length
/// written in the block's header is checked against `limit` before anything
/// is allocated, so a small body claiming gigabytes is refused cheaply.
pub fn decompress_into(src: &[u8], limit: usize, dst: &mut Vec<u8>) -> Result<(), DecodeError> {
    let len = snap::raw::decompress_len(src)?;
    if len > limit {
        return Err(DecodeError::TooLarge {
            what: "decompressed body",
            size: len,
            limit,
        });
    }
    // The decoder writes every byte of its output (it fails otherwise), so
    // only bytes the buffer never held are zeroed: a reused buffer keeps
    // the previous body's bytes until they are overwritten, instead of
    // being zeroed for every request (2% of the server's instructions).
    if dst.len() > len {
        dst.truncate(len);
    } else {
        dst.resize(len, 0);
    }
    let n = snap::raw::Decoder::new().decompress(src, dst)?;
    dst.truncate(n);
    Ok(())
}

/// Compresses `src` into `dst` (cleared first).
pub fn compress_into(src: &[u8], dst: &mut Vec<u8>) {
    dst.clear();
    dst.resize(snap::raw::max_compress_len(src.len()), 0);
    // Compressing into a buffer of max_compress_len bytes cannot fail for
    // inputs snap accepts (up to 2^32 - 1 bytes); an oversized input gives
    // an empty body, which the receiver refuses as malformed.
    let n = snap::raw::Encoder::new().compress(src, dst).unwrap_or(0);
    dst.truncate(n);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_twice_on_the_same_buffers() {
        let (mut c, mut d) = (Vec::new(), Vec::new());
        // Shorter, then longer than what the buffer held: no byte of an
        // earlier body survives.
        for input in [
            &b"hello hello hello hello"[..],
            b"other",
            b"a longer body again, longer",
        ] {
            compress_into(input, &mut c);
            decompress_into(&c, 1 << 20, &mut d).unwrap();
            assert_eq!(d, input);
        }
    }

    #[test]
    fn limit_is_checked_before_allocating() {
        let mut c = Vec::new();
        compress_into(&vec![0u8; 10_000], &mut c);
        let mut d = Vec::new();
        let e = decompress_into(&c, 9_999, &mut d).unwrap_err();
        assert_eq!(
            e.to_string(),
            "decompressed body of 10000 bytes is over the limit of 9999 bytes"
        );
        assert!(d.capacity() < 10_000);
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut d = Vec::new();
        for bad in [
            &b""[..],
            b"\xff\xff\xff\xff\xff\xff",
            b"\x05abc",
            b"hello world",
        ] {
            assert!(decompress_into(bad, 1 << 20, &mut d).is_err(), "{bad:?}");
        }
    }
}
