//! The HTTP client settings of a scrape config or an HTTP SD config
//! (Prometheus' `common/config.HTTPClientConfig`): basic auth, the
//! `Authorization` header, TLS (CA, client certificate, skipping
//! verification), a proxy and whether redirects are followed.
//!
//! Secrets in files (`password_file`, `credentials_file`) are read at each
//! request, as Prometheus does, so a rotated token is picked up without a
//! reload. TLS files are read when the client is built (on config load).

use std::path::PathBuf;
use std::time::Duration;

use crate::error::ClientError;

/// `basic_auth`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<String>,
    pub password_file: Option<PathBuf>,
}

/// `authorization` (and the deprecated `bearer_token[_file]`, which is
/// `type: Bearer`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The scheme, `Bearer` by default.
    pub kind: String,
    pub credentials: Option<String>,
    pub credentials_file: Option<PathBuf>,
}

/// `tls_config`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub insecure_skip_verify: bool,
}

/// HTTP client settings shared by scraping and HTTP SD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpClientConfig {
    pub basic_auth: Option<BasicAuth>,
    pub authorization: Option<Authorization>,
    pub tls: TlsConfig,
    pub proxy_url: Option<String>,
    pub follow_redirects: bool,
}

impl Default for HttpClientConfig {
    fn default() -> Self {
        HttpClientConfig {
            basic_auth: None,
            authorization: None,
            tls: TlsConfig::default(),
            proxy_url: None,
            // Prometheus' default.
            follow_redirects: true,
        }
    }
}

/// Go's http.Client follows at most 10 redirects.
const MAX_REDIRECTS: usize = 10;

fn read_file(path: &PathBuf, what: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path).map_err(|e| ClientError::File {
        what: what.to_string(),
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

impl HttpClientConfig {
    /// Builds a client. `connect_timeout` bounds connection set-up; each
    /// request has its own overall timeout set by the caller.
    pub fn build(&self, connect_timeout: Duration) -> Result<reqwest::Client, ClientError> {
        let mut b = reqwest::Client::builder()
            .connect_timeout(connect_timeout)
            // We decode gzip ourselves, to enforce the body size limit on the
            // decoded bytes, and send `Accept-Encoding: gzip` explicitly.
            .no_proxy()
            .redirect(if self.follow_redirects {
                reqwest::redirect::Policy::limited(MAX_REDIRECTS)
            } else {
                reqwest::redirect::Policy::none()
            });
        if let Some(proxy) = &self.proxy_url {
            let p = reqwest::Proxy::all(proxy).map_err(|e| ClientError::Invalid {
                field: "proxy_url".into(),
                reason: format!("{proxy:?}: {e}"),
            })?;
            b = b.proxy(p);
        }
        if let Some(ca) = &self.tls.ca_file {
            let pem = read_file(ca, "tls_config.ca_file")?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ClientError::Invalid {
                    field: "tls_config.ca_file".into(),
                    reason: format!("{}: {e}", ca.display()),
                })?;
            if certs.is_empty() {
                return Err(ClientError::Invalid {
                    field: "tls_config.ca_file".into(),
                    reason: format!("{}: no PEM certificate found", ca.display()),
                });
            }
            b = b.tls_built_in_root_certs(false);
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        match (&self.tls.cert_file, &self.tls.key_file) {
            (Some(cert), Some(key)) => {
                let mut pem = read_file(cert, "tls_config.cert_file")?;
                pem.push(b'\n');
                pem.extend(read_file(key, "tls_config.key_file")?);
                let id = reqwest::Identity::from_pem(&pem).map_err(|e| ClientError::Invalid {
                    field: "tls_config.cert_file".into(),
                    reason: format!("{} / {}: {e}", cert.display(), key.display()),
                })?;
                b = b.identity(id);
            }
            (None, None) => {}
            _ => {
                return Err(ClientError::Invalid {
                    field: "tls_config".into(),
                    reason: "cert_file and key_file must both be set or both be empty".into(),
                })
            }
        }
        if self.tls.insecure_skip_verify {
            b = b.danger_accept_invalid_certs(true);
        }
        b.build().map_err(|e| ClientError::Invalid {
            field: "http client".into(),
            reason: e.to_string(),
        })
    }

    /// Adds the authentication headers to a request, reading secret files now.
    pub fn authorize(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let mut req = req;
        if let Some(ba) = &self.basic_auth {
            let password = match (&ba.password, &ba.password_file) {
                (_, Some(f)) => Some(trim_secret(read_file(f, "basic_auth.password_file")?)),
                (Some(p), None) => Some(p.clone()),
                (None, None) => None,
            };
            req = req.basic_auth(&ba.username, password);
        }
        if let Some(a) = &self.authorization {
            let creds = match (&a.credentials, &a.credentials_file) {
                (_, Some(f)) => trim_secret(read_file(f, "authorization.credentials_file")?),
                (Some(c), None) => c.clone(),
                (None, None) => String::new(),
            };
            req = req.header(
                reqwest::header::AUTHORIZATION,
                format!("{} {creds}", a.kind),
            );
        }
        Ok(req)
    }
}

/// Prometheus trims surrounding whitespace from secrets read from files.
fn trim_secret(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).trim().to_string()
}
