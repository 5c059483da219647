//! Text that is plain ASCII, taken as `&str` after a check a word at a
//! time: label names and values of remote write nearly always are, and
//! `std::str::from_utf8` spent about 130 instructions on each series'
//! ~100 bytes of labels (3% of the server's instructions per sample).
//!
//! This module is allowed `unsafe` for one call, `from_utf8_unchecked`,
//! made only on bytes checked to be ASCII (which is valid UTF-8).

#![allow(unsafe_code)]

/// `bytes` as text if it is valid UTF-8: checked as ASCII a word at a
/// time ([`is_ascii`]), and by `std::str::from_utf8` only when it is not
/// ASCII.
#[inline]
pub(crate) fn text(bytes: &[u8]) -> Option<&str> {
    if is_ascii(bytes) {
        // SAFETY: every byte is below 0x80, and a sequence of ASCII bytes
        // is valid UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(bytes) });
    }
    std::str::from_utf8(bytes).ok()
}

/// The high bit of every byte of a word.
const HIGH: u64 = 0x8080_8080_8080_8080;

/// Whether every byte is below 0x80: the bytes ORed together a word at a
/// time, the last word overlapping the one before (`<[u8]>::is_ascii`
/// took more instructions than `from_utf8` on these ~100-byte runs).
#[inline]
fn is_ascii(bytes: &[u8]) -> bool {
    let mut acc = 0u64;
    let mut rest = bytes;
    while let Some((word, tail)) = rest.split_first_chunk::<8>() {
        acc |= u64::from_ne_bytes(*word);
        rest = tail;
    }
    match bytes.last_chunk::<8>() {
        Some(word) => acc |= u64::from_ne_bytes(*word),
        None => rest.iter().for_each(|&b| acc |= u64::from(b)),
    }
    acc & HIGH == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agrees_with_from_utf8_at_every_length_and_position() {
        for n in 0..40usize {
            let ascii: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(text(&ascii), std::str::from_utf8(&ascii).ok(), "{n}");
            assert!(is_ascii(&ascii), "{n}");
            for i in 0..n {
                // A non-ASCII byte anywhere: invalid alone, valid as ü.
                let mut bad = ascii.clone();
                bad[i] = 0xff;
                assert!(!is_ascii(&bad), "{n} {i}");
                assert_eq!(text(&bad), None, "{n} {i}");
                let mut good = ascii.clone();
                good.splice(i..=i, "ü".bytes());
                assert_eq!(text(&good), std::str::from_utf8(&good).ok());
                assert!(text(&good).is_some());
            }
        }
    }
}
