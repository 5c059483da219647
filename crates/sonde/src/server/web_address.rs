//! The external URL and route prefix, derived from the flags as Prometheus
//! derives them: the external URL defaults to `http://<hostname>:<port>/`, and
//! the route prefix to the external URL's path.

use anyhow::{bail, Context};

/// Resolved `(external_url, route_prefix)`; the prefix is `""` or `/path`
/// without a trailing slash.
pub fn resolve(
    listen_address: &str,
    external_url: &str,
    route_prefix: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let port = listen_address
        .rsplit_once(':')
        .map(|(_, p)| p)
        .with_context(|| {
            format!("--web.listen-address {listen_address} has no port (expected host:port)")
        })?;
    if port.parse::<u16>().is_err() {
        bail!(
            "--web.listen-address {listen_address}: port {port:?} is not a number from 0 to 65535"
        );
    }
    let external = if external_url.is_empty() {
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        format!("http://{host}:{port}/")
    } else {
        external_url.to_string()
    };
    let parsed = url::Url::parse(&external)
        .with_context(|| format!("--web.external-url {external:?} is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--web.external-url {external:?}: scheme must be http or https");
    }
    let prefix = route_prefix.unwrap_or_else(|| parsed.path());
    let prefix = format!("/{}", prefix.trim_matches('/'));
    let prefix = if prefix == "/" { String::new() } else { prefix };
    Ok((external, prefix))
}

/// The address to bind for `listen_address`: as in Go, an empty host
/// (`:9090`) means every address (IPv4 here).
pub fn bind_address(listen_address: &str) -> String {
    match listen_address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => listen_address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_host_binds_every_address() {
        assert_eq!(bind_address(":9090"), "0.0.0.0:9090");
        assert_eq!(bind_address("127.0.0.1:0"), "127.0.0.1:0");
        assert_eq!(bind_address("[::1]:9090"), "[::1]:9090");
    }

    #[test]
    fn prefix_comes_from_external_url_path() {
        let (url, prefix) =
            resolve("0.0.0.0:9090", "http://proxy.example/prometheus/", None).unwrap();
        assert_eq!(url, "http://proxy.example/prometheus/");
        assert_eq!(prefix, "/prometheus");
    }

    #[test]
    fn explicit_prefix_wins_and_default_is_root() {
        let (_, prefix) = resolve(":9090", "http://h/x/", Some("/y/")).unwrap();
        assert_eq!(prefix, "/y");
        let (url, prefix) = resolve("127.0.0.1:9091", "", None).unwrap();
        assert!(
            url.starts_with("http://") && url.ends_with(":9091/"),
            "{url}"
        );
        assert_eq!(prefix, "");
    }

    #[test]
    fn bad_values_are_errors() {
        assert!(resolve("nocolon", "", None).is_err());
        assert!(resolve(":1", "ftp://h/", None).is_err());
        assert!(resolve(":1", "not a url", None).is_err());
    }
}
