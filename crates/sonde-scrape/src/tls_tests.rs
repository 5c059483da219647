//! `tls_config` against a real TLS target on 127.0.0.1 with certificates
//! made for the test: a private CA, a server certificate for 127.0.0.1,
//! and a client certificate for mutual TLS.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls;

use crate::discovery::static_sd::StaticConfig;
use crate::discovery::SdConfig;
use crate::testutil::{appendable, Recorder};
use crate::*;

struct Pki {
    ca_pem: String,
    ca: rcgen::Certificate,
    ca_key: KeyPair,
}

impl Pki {
    fn new() -> Pki {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_key = KeyPair::generate().unwrap();
        let ca = p.self_signed(&ca_key).unwrap();
        Pki {
            ca_pem: ca.pem(),
            ca,
            ca_key,
        }
    }

    fn issue(&self, names: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let p = CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .unwrap();
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.ca, &self.ca_key).unwrap();
        (cert, key)
    }
}

/// A one-route HTTPS server answering `tls_ok 1`.
async fn serve_tls(pki: &Pki, client_auth: bool) -> (String, tokio::task::JoinHandle<()>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (cert, key) = pki.issue(&["127.0.0.1"]);
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = if client_auth {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(pki.ca.der().clone()).unwrap();
        let v =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .unwrap();
        builder.with_client_cert_verifier(v)
    } else {
        builder.with_no_client_auth()
    };
    let key_der = rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into());
    let cfg = builder
        .with_single_cert(vec![cert.der().clone()], key_der)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let body = "tls_ok 1\n";
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (addr, task)
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

async fn scrape_once(job: &str, addr: &str, tls: crate::client::TlsConfig) -> ScrapeEvent {
    let rec = Arc::new(Recorder::default());
    let mgr = ScrapeManager::new(
        appendable(&rec),
        ManagerOptions {
            discovery_update_interval: Duration::from_millis(1),
            ..ManagerOptions::default()
        },
    );
    let mut events = mgr.subscribe_scrapes();
    let mut cfg = PoolConfig::new(job);
    cfg.target_defaults.scheme = "https".into();
    cfg.target_defaults.scrape_interval = Duration::from_secs(3600);
    cfg.http.tls = tls;
    let g = Group::from_parts(String::new(), &[addr.to_string()], &BTreeMap::new()).unwrap();
    cfg.service_discovery = vec![SdConfig::Static(StaticConfig::new(vec![g]))];
    mgr.apply_pools(vec![cfg]).await.unwrap();
    let mut syncs = mgr.subscribe_syncs();
    while mgr.active_targets().is_empty() {
        tokio::time::timeout(Duration::from_secs(20), syncs.changed())
            .await
            .unwrap()
            .unwrap();
    }
    mgr.scrape_now(None).await;
    let e = tokio::time::timeout(Duration::from_secs(20), events.recv())
        .await
        .unwrap()
        .unwrap();
    if e.error.is_none() {
        assert_eq!(rec.last("tls_ok"), Some(1.0));
    }
    mgr.shutdown().await;
    e
}

#[tokio::test]
async fn ca_file_insecure_skip_verify_and_client_certificates() {
    let pki = Pki::new();
    let dir = tempfile::tempdir().unwrap();
    let ca = write(dir.path(), "ca.pem", &pki.ca_pem);
    let (addr, server) = serve_tls(&pki, false).await;

    let e = scrape_once(
        "ca",
        &addr,
        crate::client::TlsConfig {
            ca_file: Some(ca.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(e.health, TargetHealth::Up, "{e:?}");

    let e = scrape_once("untrusted", &addr, Default::default()).await;
    let err = e.error.unwrap();
    assert!(
        err.starts_with(&format!("Get \"https://{addr}/metrics\":")),
        "{err}"
    );
    assert!(err.to_lowercase().contains("certificate"), "{err}");

    let e = scrape_once(
        "insecure",
        &addr,
        crate::client::TlsConfig {
            insecure_skip_verify: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(e.health, TargetHealth::Up, "{e:?}");
    server.abort();

    // Mutual TLS: refused without a client certificate, fine with one.
    let (addr, server) = serve_tls(&pki, true).await;
    let e = scrape_once(
        "no-cert",
        &addr,
        crate::client::TlsConfig {
            ca_file: Some(ca.clone()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(e.health, TargetHealth::Down);
    let (cert, key) = pki.issue(&["scraper"]);
    let e = scrape_once(
        "mtls",
        &addr,
        crate::client::TlsConfig {
            ca_file: Some(ca),
            cert_file: Some(write(dir.path(), "c.pem", &cert.pem())),
            key_file: Some(write(dir.path(), "c.key", &key.serialize_pem())),
            insecure_skip_verify: false,
        },
    )
    .await;
    assert_eq!(e.health, TargetHealth::Up, "{e:?}");
    server.abort();
}
