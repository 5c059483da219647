//! Number syntax.
//!
//! * [`parse_go_float`]: what Prometheus 2.42's text parsers accept for values
//!   and OpenMetrics timestamps, i.e. Go's `strconv.ParseFloat(s, 64)` after
//!   Prometheus refuses any `p`, `P` or `_` (`textparse.parseFloat`). Go's
//!   syntax differs from Rust's `f64::from_str`: Go refuses `+nan`/`-nan`,
//!   and reports overflow (`1e400`) as an error where Rust yields infinity.
//!   The OpenMetrics 1.0 ABNF (`realnumber`, signed `inf`/`infinity`,
//!   unsigned `nan`, case-insensitive) describes the same set apart from
//!   overflow, so strict mode uses this function too and never accepts
//!   what scrape mode refuses.
//!
//! Both only validate the syntax themselves and leave the decimal-to-binary
//! conversion to the standard library, which rounds correctly (as Go does).

/// Go's `strconv.ParseFloat(s, 64)` as wrapped by Prometheus 2.42. `None` on
/// any syntax or range error.
pub fn parse_go_float(s: &[u8]) -> Option<f64> {
    if s.iter().any(|&b| matches!(b, b'p' | b'P' | b'_')) {
        return None;
    }
    if let Some(v) = go_special(s) {
        return Some(v);
    }
    if !is_decimal(s) {
        return None;
    }
    finite_decimal(s)
}

/// Parses an already validated decimal, refusing overflow to infinity.
fn finite_decimal(s: &[u8]) -> Option<f64> {
    // Validated as ASCII digits, sign, '.', 'e' above.
    let text = std::str::from_utf8(s).ok()?;
    let v: f64 = text.parse().ok()?;
    if v.is_infinite() {
        return None;
    }
    Some(v)
}

/// `[+-]inf`, `[+-]infinity` or `nan`, ASCII case-insensitive, whole input.
fn go_special(s: &[u8]) -> Option<f64> {
    let (neg, rest) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return Some(if neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    if rest.len() == s.len() && s.eq_ignore_ascii_case(b"nan") {
        return Some(f64::NAN);
    }
    None
}

/// `[+-] (digits [. digits*] | . digits) [(e|E) [+-] digits]`, whole input.
fn is_decimal(s: &[u8]) -> bool {
    let mut i = 0;
    if matches!(s.first(), Some(b'+' | b'-')) {
        i = 1;
    }
    let mut digits = 0;
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
        digits += 1;
    }
    if i < s.len() && s[i] == b'.' {
        i += 1;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
            digits += 1;
        }
    }
    if digits == 0 {
        return false;
    }
    if i < s.len() && (s[i] == b'e' || s[i] == b'E') {
        i += 1;
        if matches!(s.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == s.len()
}

/// Go's `strconv.ParseInt(s, 10, 64)`: optional sign, decimal digits, no
/// overflow.
pub fn parse_go_int(s: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(s).ok()?;
    if text.is_empty() || text.starts_with("+-") {
        return None;
    }
    text.parse().ok()
}

/// Seconds (as OpenMetrics writes timestamps) to milliseconds the way Go's
/// `int64(ts * 1000)` does for in-range values; out-of-range values saturate
/// (Go's result is unspecified there, and such samples are out of bounds for
/// any storage anyway).
pub fn seconds_to_millis(ts: f64) -> i64 {
    (ts * 1000.0) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_float_syntax() {
        for (s, ok) in [
            ("1", true),
            ("-1.5e3", true),
            (".5", true),
            ("5.", true),
            ("+Inf", true),
            ("-inf", true),
            ("Infinity", true),
            ("NaN", true),
            ("nan", true),
            ("+NaN", false),
            ("-nan", false),
            ("0x1p-3", false),
            ("0x1", false),
            ("1_2", false),
            ("1e400", false),
            ("1e-400", true),
            ("", false),
            (".", false),
            ("1e", false),
            ("1e+", false),
            (" 1", false),
            ("1 ", false),
            ("0000000000000000000000000000000000000000001.2e-1", true),
            ("infin", false),
        ] {
            assert_eq!(parse_go_float(s.as_bytes()).is_some(), ok, "{s:?}");
        }
        assert_eq!(parse_go_float(b"1.5e3"), Some(1500.0));
        assert_eq!(parse_go_float(b"-Inf"), Some(f64::NEG_INFINITY));
    }

    #[test]
    fn ints_and_millis() {
        assert_eq!(parse_go_int(b"123"), Some(123));
        assert_eq!(parse_go_int(b"-5"), Some(-5));
        assert_eq!(parse_go_int(b"99999999999999999999"), None);
        assert_eq!(seconds_to_millis(1.5), 1500);
        assert_eq!(seconds_to_millis(-1.1), -1100);
    }
}
