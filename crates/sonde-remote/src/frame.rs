//! The framing of STREAMED_XOR_CHUNKS remote-read responses
//! (`storage/remote/chunked.go`): each frame is a `ChunkedReadResponse`
//! message preceded by its length as an unsigned varint and the CRC-32
//! (Castagnoli) of the message as a big-endian u32. The HTTP content type is
//! [`STREAMED_CONTENT_TYPE`]; frames are not snappy-compressed.

use crate::error::DecodeError;

/// Content type of a streamed read response.
pub const STREAMED_CONTENT_TYPE: &str =
    "application/x-streamed-protobuf; proto=prometheus.ChunkedReadResponse";

/// Prometheus keeps a frame near 1 MiB (`maxBytesInFrame`): several series'
/// chunks per frame amortise the header, and a reader's buffer stays small.
pub const MAX_BYTES_IN_FRAME: usize = 1024 * 1024;

/// Appends one frame holding `msg` to `dst`.
pub fn write_frame(msg: &[u8], dst: &mut Vec<u8>) {
    let mut len = msg.len() as u64;
    while len >= 0x80 {
        dst.push((len as u8) | 0x80);
        len >>= 7;
    }
    dst.push(len as u8);
    dst.extend_from_slice(&crc32c::crc32c(msg).to_be_bytes());
    dst.extend_from_slice(msg);
}

/// Splits the first frame off `src`: returns its message and the rest.
/// `limit` bounds the message size a reader accepts.
pub fn read_frame(src: &[u8], limit: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    let bad = |reason: &str| DecodeError::Frame {
        offset: 0,
        reason: reason.to_string(),
    };
    let mut len = 0u64;
    let mut i = 0;
    loop {
        let b = *src.get(i).ok_or_else(|| bad("truncated length"))?;
        if i == 9 {
            return Err(bad("length varint too long"));
        }
        len |= u64::from(b & 0x7f) << (7 * i);
        i += 1;
        if b < 0x80 {
            break;
        }
    }
    let len = usize::try_from(len).map_err(|_| bad("length too large"))?;
    if len > limit {
        return Err(bad(&format!(
            "frame of {len} bytes is over the limit of {limit}"
        )));
    }
    let crc = src.get(i..i + 4).ok_or_else(|| bad("truncated checksum"))?;
    let crc = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
    let body = src
        .get(i + 4..i + 4 + len)
        .ok_or_else(|| bad("truncated message"))?;
    if crc32c::crc32c(body) != crc {
        return Err(bad("checksum mismatch"));
    }
    Ok((body, &src[i + 4 + len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_checksum_is_checked() {
        let mut buf = Vec::new();
        write_frame(b"first", &mut buf);
        write_frame(&[7u8; 300], &mut buf);
        let (a, rest) = read_frame(&buf, 1000).unwrap();
        assert_eq!(a, b"first");
        let (b, rest) = read_frame(rest, 1000).unwrap();
        assert_eq!(b, &[7u8; 300][..]);
        assert!(rest.is_empty());
        // The CRC-32C of "123456789" is the standard check value.
        let mut f = Vec::new();
        write_frame(b"123456789", &mut f);
        assert_eq!(&f[1..5], &0xe306_9283u32.to_be_bytes());
        f[7] ^= 1;
        assert!(read_frame(&f, 100).is_err());
        assert!(read_frame(&buf, 4).is_err());
        assert!(read_frame(&buf[..3], 1000).is_err());
    }
}
