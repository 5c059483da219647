//! Go's `net.SplitHostPort`, which Prometheus uses to decide whether a target
//! address already has a port. Kept bit-compatible so the same addresses get
//! the same default ports (`:80`, `:443`) as in Prometheus 2.42.

/// Splits `host:port` or `[host]:port`. The error texts are Go's.
pub(crate) fn split_host_port(s: &str) -> Result<(&str, &str), String> {
    let missing = || format!("address {s}: missing port in address");
    let too_many = || format!("address {s}: too many colons in address");
    let Some(i) = s.rfind(':') else {
        return Err(missing());
    };
    let (host, port) = if s.starts_with('[') {
        let Some(end) = s.find(']') else {
            return Err(format!("address {s}: missing ']' in address"));
        };
        if end + 1 == s.len() {
            return Err(missing());
        }
        if end + 1 != i {
            // Either ']' is not followed by ':' or there are more colons after it.
            if s.as_bytes()[end + 1] == b':' {
                return Err(too_many());
            }
            return Err(missing());
        }
        let host = &s[1..end];
        if s[end + 1..].contains('[') || s[..end].get(1..).is_some_and(|h| h.contains('[')) {
            return Err(format!("address {s}: unexpected '[' in address"));
        }
        (host, &s[i + 1..])
    } else {
        let host = &s[..i];
        if host.contains(':') {
            return Err(too_many());
        }
        if host.contains('[') {
            return Err(format!("address {s}: unexpected '[' in address"));
        }
        if host.contains(']') {
            return Err(format!("address {s}: unexpected ']' in address"));
        }
        (host, &s[i + 1..])
    };
    if port.contains(']') {
        return Err(format!("address {s}: unexpected ']' in address"));
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_go() {
        assert_eq!(split_host_port("a:80"), Ok(("a", "80")));
        assert_eq!(split_host_port("[::1]:9090"), Ok(("::1", "9090")));
        assert_eq!(split_host_port("a:"), Ok(("a", "")));
        assert!(split_host_port("a").is_err());
        assert!(split_host_port("::1").is_err());
        assert!(split_host_port("[::1]").is_err());
        assert!(split_host_port("::1:1234").is_err());
        assert_eq!(split_host_port("[::1]:1234"), Ok(("::1", "1234")));
    }
}
