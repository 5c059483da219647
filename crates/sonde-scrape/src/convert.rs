//! From sonde-config's checked `scrape_configs` to the runtime
//! [`PoolConfig`]s of this crate. sonde-config has already applied the
//! global defaults (interval, timeout, limits) and validated everything;
//! what is left is choosing the runtime form and refusing the settings the
//! scraper does not implement, by name.

use std::path::PathBuf;

use sonde_config::http::HttpClientConfig as CfgHttp;
use sonde_config::scrape::ScrapeConfig;
use sonde_config::sd::SdConfigs;

use crate::append::Limits;
use crate::client::{Authorization, BasicAuth, HttpClientConfig, TlsConfig};
use crate::discovery::file::FileSdConfig;
use crate::discovery::http::HttpSdConfig;
use crate::discovery::static_sd::StaticConfig;
use crate::discovery::SdConfig;
use crate::pool_config::PoolConfig;
use crate::target::TargetDefaults;
use crate::targetgroup::Group;

fn opt_path(s: &str) -> Option<PathBuf> {
    (!s.is_empty()).then(|| PathBuf::from(s))
}

/// The runtime HTTP client settings. `Err` names a setting Sonde does not
/// support (`oauth2`, `tls_config.server_name`, TLS versions).
pub fn http_client_config(c: &CfgHttp) -> Result<HttpClientConfig, String> {
    if c.oauth2.is_some() {
        return Err("oauth2 is not supported by the scraper yet".into());
    }
    if !c.tls_config.server_name.is_empty() {
        return Err("tls_config.server_name is not supported by the scraper yet".into());
    }
    if c.tls_config.min_version.is_some() || c.tls_config.max_version.is_some() {
        return Err(
            "tls_config.min_version/max_version are not supported by the scraper yet".into(),
        );
    }
    let basic_auth = c.basic_auth.as_ref().map(|b| BasicAuth {
        username: b.username.clone(),
        password: (!b.password.is_empty()).then(|| b.password.expose().to_string()),
        password_file: opt_path(&b.password_file),
    });
    let authorization = match &c.authorization {
        Some(a) => Some(Authorization {
            kind: if a.kind.is_empty() {
                "Bearer".into()
            } else {
                a.kind.clone()
            },
            credentials: (!a.credentials.is_empty()).then(|| a.credentials.expose().to_string()),
            credentials_file: opt_path(&a.credentials_file),
        }),
        None if !c.bearer_token.is_empty() || !c.bearer_token_file.is_empty() => {
            Some(Authorization {
                kind: "Bearer".into(),
                credentials: (!c.bearer_token.is_empty())
                    .then(|| c.bearer_token.expose().to_string()),
                credentials_file: opt_path(&c.bearer_token_file),
            })
        }
        None => None,
    };
    Ok(HttpClientConfig {
        basic_auth,
        authorization,
        tls: TlsConfig {
            ca_file: opt_path(&c.tls_config.ca_file),
            cert_file: opt_path(&c.tls_config.cert_file),
            key_file: opt_path(&c.tls_config.key_file),
            insecure_skip_verify: c.tls_config.insecure_skip_verify,
        },
        proxy_url: c.proxy_url.as_ref().map(|u| u.as_str().to_string()),
        follow_redirects: c.follow_redirects,
    })
}

/// The discovery configs Sonde runs, and one message per section it does
/// not run (the job gets no targets from those).
pub fn sd_configs(sd: &SdConfigs) -> (Vec<SdConfig>, Vec<String>) {
    let mut out = Vec::new();
    let mut unsupported = Vec::new();
    if !sd.static_configs.is_empty() {
        let mut groups = Vec::new();
        for tg in &sd.static_configs {
            match Group::from_parts(String::new(), &tg.targets, &tg.labels.0) {
                Ok(g) => groups.push(g),
                Err(e) => unsupported.push(format!("static_configs: {e}")),
            }
        }
        out.push(SdConfig::Static(StaticConfig::new(groups)));
    }
    for f in &sd.file_sd_configs {
        out.push(SdConfig::File(FileSdConfig {
            files: f.files.clone(),
            refresh_interval: f.refresh_interval,
        }));
    }
    for h in &sd.http_sd_configs {
        match http_client_config(&h.http) {
            Ok(http) => out.push(SdConfig::Http(Box::new(HttpSdConfig {
                url: h.url.clone(),
                refresh_interval: h.refresh_interval,
                http,
            }))),
            Err(e) => unsupported.push(format!("http_sd_configs: {e}")),
        }
    }
    let others = [
        ("dns_sd_configs", sd.dns_sd_configs.len()),
        ("consul_sd_configs", sd.consul_sd_configs.len()),
        ("docker_sd_configs", sd.docker_sd_configs.len()),
        ("dockerswarm_sd_configs", sd.dockerswarm_sd_configs.len()),
        ("kubernetes_sd_configs", sd.kubernetes_sd_configs.len()),
    ];
    for (name, n) in others {
        if n > 0 {
            unsupported.push(format!("{name} is not supported by the scraper yet"));
        }
    }
    for g in &sd.other {
        unsupported.push(format!("{} is not supported by the scraper yet", g.section));
    }
    (out, unsupported)
}

/// The pool settings of one scrape config, and the parts that are not run.
pub fn pool_config(sc: &ScrapeConfig) -> Result<(PoolConfig, Vec<String>), String> {
    let http = http_client_config(&sc.http)?;
    let (service_discovery, unsupported) = sd_configs(&sc.service_discovery);
    Ok((
        PoolConfig {
            target_defaults: TargetDefaults {
                job_name: sc.job_name.clone(),
                scrape_interval: sc.scrape_interval,
                scrape_timeout: sc.scrape_timeout,
                metrics_path: sc.metrics_path.clone(),
                scheme: sc.scheme.clone(),
                params: sc.params.clone(),
            },
            honor_labels: sc.honor_labels,
            honor_timestamps: sc.honor_timestamps,
            body_size_limit: sc.body_size_limit.bytes(),
            limits: Limits {
                sample_limit: sc.sample_limit,
                label_limit: sc.label_limit,
                label_name_length_limit: sc.label_name_length_limit,
                label_value_length_limit: sc.label_value_length_limit,
            },
            target_limit: sc.target_limit,
            http,
            relabel_configs: sc.relabel_configs.clone(),
            metric_relabel_configs: sc.metric_relabel_configs.clone(),
            service_discovery,
        },
        unsupported,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_a_prometheus_yml() {
        let text = r#"
global:
  scrape_interval: 30s
  sample_limit: 500
scrape_configs:
  - job_name: node
    metrics_path: /m
    params: {module: [a]}
    bearer_token: secret
    static_configs:
      - targets: ['h:9100']
        labels: {env: prod}
    file_sd_configs:
      - files: ['/tmp/*.json']
  - job_name: k
    kubernetes_sd_configs:
      - role: pod
"#;
        let cfg = sonde_config::load_str(text, "prometheus.yml").unwrap();
        let (p, unsupported) = pool_config(&cfg.scrape_configs[0]).unwrap();
        assert!(unsupported.is_empty());
        assert_eq!(p.job_name(), "node");
        assert_eq!(p.target_defaults.scrape_interval.as_secs(), 30);
        assert_eq!(p.target_defaults.metrics_path, "/m");
        assert_eq!(p.limits.sample_limit, 500);
        assert_eq!(p.http.authorization.as_ref().unwrap().kind, "Bearer");
        assert_eq!(p.service_discovery.len(), 2);
        let (_, unsupported) = pool_config(&cfg.scrape_configs[1]).unwrap();
        assert_eq!(
            unsupported,
            vec!["kubernetes_sd_configs is not supported by the scraper yet"]
        );
    }
}
