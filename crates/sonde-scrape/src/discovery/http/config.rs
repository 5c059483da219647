//! `http_sd_configs`: target groups fetched from an HTTP endpoint.

use std::time::Duration;

use crate::client::HttpClientConfig;

/// Prometheus' default `refresh_interval` for HTTP SD.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

/// One `http_sd_configs` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSdConfig {
    pub url: String,
    pub refresh_interval: Duration,
    pub http: HttpClientConfig,
}

impl HttpSdConfig {
    /// Checks the URL as Prometheus does.
    pub fn validate(&self) -> Result<(), String> {
        if self.url.is_empty() {
            return Err("URL is missing".to_string());
        }
        let u =
            url::Url::parse(&self.url).map_err(|e| format!("invalid URL {:?}: {e}", self.url))?;
        if u.scheme() != "http" && u.scheme() != "https" {
            return Err(format!(
                "URL scheme must be 'http' or 'https' in {:?}",
                self.url
            ));
        }
        if u.host_str().unwrap_or("").is_empty() {
            return Err(format!("host is missing in URL {:?}", self.url));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_url() {
        let mut c = HttpSdConfig {
            url: "http://a:1/sd".into(),
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            http: HttpClientConfig::default(),
        };
        assert!(c.validate().is_ok());
        c.url = "ftp://a/sd".into();
        assert!(c.validate().unwrap_err().contains("scheme must be"));
        c.url = String::new();
        assert_eq!(c.validate().unwrap_err(), "URL is missing");
    }
}
