//! Defaults, inheritance, null handling, secrets, Sonde's own sections and
//! the reload diff.

use std::time::Duration;

use sonde_config::relabel::Action;
use sonde_config::{load_str, process, to_yaml, LabelSet};
use sonde_model::Labels;

#[test]
fn scrape_configs_inherit_globals() {
    let cfg = load_str(
        "global:\n  scrape_interval: 30s\n  sample_limit: 1000\n  body_size_limit: 10MB\nscrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 5s\n    sample_limit: 10\n",
        "p.yml",
    )
    .unwrap();
    let (a, b) = (&cfg.scrape_configs[0], &cfg.scrape_configs[1]);
    assert_eq!(
        (a.scrape_interval, a.scrape_timeout),
        (Duration::from_secs(30), Duration::from_secs(10))
    );
    assert_eq!(
        (b.scrape_interval, b.scrape_timeout),
        (Duration::from_secs(5), Duration::from_secs(5))
    );
    assert_eq!((a.sample_limit, b.sample_limit), (1000, 10));
    assert_eq!(a.body_size_limit.bytes(), 10 << 20);
    assert_eq!(a.metrics_path, "/metrics");
    assert_eq!(a.scheme, "http");
    assert!(a.honor_timestamps && !a.honor_labels);
    assert!(a.http.follow_redirects && a.http.enable_http2);
}

#[test]
fn relabel_defaults_and_null_regex() {
    let cfg = load_str(
        "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - target_label: x\n        replacement: static\n      - regex:\n        target_label: y\n        replacement: z\n        action: Replace\n",
        "p.yml",
    )
    .unwrap();
    let r = &cfg.scrape_configs[0].relabel_configs;
    assert_eq!(r[0].action, Action::Replace);
    assert_eq!(
        (r[0].separator.as_str(), r[0].regex.as_str(), r[0].modulus),
        (";", "(.*)", 0)
    );
    // `regex:` with no value is the empty regex: it matches only "".
    assert_eq!(r[1].regex.as_str(), "");
    let out = process(&Labels::from_pairs(&[("a", "1")]), r).unwrap();
    assert_eq!(
        out,
        Labels::from_pairs(&[("a", "1"), ("x", "static"), ("y", "z")])
    );
}

#[test]
fn secrets_are_hidden_everywhere() {
    let cfg = load_str(
        "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\n    bearer_token_file: /t\nremote_write:\n  - url: http://u:pw@host/write\n    bearer_token: tok\n",
        "p.yml",
    );
    // basic_auth and bearer_token_file together are refused.
    assert!(cfg
        .unwrap_err()
        .to_string()
        .contains("at most one of basic_auth, oauth2, bearer_token & bearer_token_file"));
    let cfg = load_str(
        "scrape_configs:\n  - job_name: a\n    basic_auth:\n      username: u\n      password: hunter2\nremote_write:\n  - url: http://u:pw@host/write\n    bearer_token: tok\n",
        "p.yml",
    )
    .unwrap();
    let yaml = to_yaml(&cfg);
    let debug = format!("{cfg:?}");
    for out in [&yaml, &debug] {
        assert!(
            !out.contains("hunter2") && !out.contains("tok\n") && !out.contains(":pw@"),
            "{out}"
        );
    }
    assert_eq!(yaml.matches("<secret>").count(), 2, "{yaml}");
    assert!(yaml.contains("http://u:xxxxx@host/write"));
    // bearer_token becomes authorization, as in Prometheus.
    let auth = cfg.remote_write[0].http.authorization.as_ref().unwrap();
    assert_eq!(
        (auth.kind.as_str(), auth.credentials.expose()),
        ("Bearer", "tok")
    );
}

#[test]
fn web_section() {
    let cfg = load_str(
        "web:\n  listen_address: :9091\n  external_url: https://mon.example.com/sonde/\n",
        "p.yml",
    )
    .unwrap();
    assert_eq!(cfg.web.route_prefix, "/sonde");
    assert_eq!(cfg.web.max_connections, 512);
    let err = load_str(
        "web:\n  listen_address: 9090\n  external_url: mon\n  cors_origin: '('\n",
        "p.yml",
    )
    .unwrap_err();
    assert_eq!(err.diagnostics().len(), 3, "{err}");
    assert_eq!(load_str("", "p.yml").unwrap().web.route_prefix, "/");
}

#[test]
fn ingest_section() {
    let cfg = load_str(
        "ingest:\n  max_body_size: 4MiB\n  max_series_per_request: 5000\n",
        "p.yml",
    )
    .unwrap();
    assert_eq!(cfg.ingest.max_body_size.bytes(), 4 << 20);
    assert_eq!(cfg.ingest.max_series_per_request, 5000);
    assert_eq!(cfg.ingest.max_labels_per_series, 256);
    assert_eq!(cfg.ingest.max_decompressed_size.bytes(), 128 << 20);
    let old = load_str("", "p.yml").unwrap();
    assert!(old.diff(&cfg).ingest);
    let err = load_str(
        "ingest:\n  max_body_size: 256MiB\n  max_concurrent_requests: 0\n",
        "p.yml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("max_decompressed_size 128MiB is smaller than max_body_size 256MiB"),
        "{err}"
    );
    assert!(
        err.contains("ingest.max_concurrent_requests: must be greater than 0"),
        "{err}"
    );
}

#[test]
fn storage_section() {
    let cfg = load_str("storage:\n  tsdb:\n    retention_size: 1GB\n    retention_time: 0s\n    out_of_order_time_window: 30m\n", "p.yml").unwrap();
    assert_eq!(cfg.storage.tsdb.retention_size.bytes(), 1 << 30);
    assert!(cfg.storage.tsdb.retention_time.is_zero());
    assert_eq!(
        cfg.storage.tsdb.out_of_order_time_window,
        Duration::from_secs(1800)
    );
    assert_eq!(cfg.storage.exemplars.max_exemplars, 100_000);
    let d = load_str("", "p.yml").unwrap().storage.tsdb;
    assert_eq!(
        (d.path.as_str(), d.retention_time),
        ("data", Duration::from_secs(15 * 86400))
    );
}

#[test]
fn reload_diff_names_changed_jobs() {
    let old = load_str(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: c\n",
        "p.yml",
    )
    .unwrap();
    let new = load_str(
        "scrape_configs:\n  - job_name: a\n  - job_name: b\n    scrape_interval: 5s\n  - job_name: d\n",
        "p.yml",
    )
    .unwrap();
    let d = old.diff(&new);
    assert_eq!(d.scrape_changed, vec!["b"]);
    assert_eq!(d.scrape_added, vec!["d"]);
    assert_eq!(d.scrape_removed, vec!["c"]);
    assert!(!d.global && !d.remote_write);
    assert!(old.diff(&old.clone()).is_empty());
    assert_eq!(
        old,
        load_str(
            "scrape_configs:\n  - job_name: a\n  - job_name: b\n  - job_name: c\n",
            "q.yml"
        )
        .unwrap()
    );
}

#[test]
fn external_labels_are_a_label_set() {
    let cfg = load_str(
        "global:\n  external_labels:\n    b: '2'\n    a: x\n",
        "p.yml",
    )
    .unwrap();
    assert_eq!(
        cfg.global.external_labels.to_labels(),
        Labels::from_pairs(&[("a", "x"), ("b", "2")])
    );
    assert_eq!(
        cfg.global.external_labels,
        LabelSet(
            [
                ("a".to_string(), "x".to_string()),
                ("b".to_string(), "2".to_string())
            ]
            .into()
        )
    );
}

#[test]
fn config_is_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync + 'static>() {}
    assert_send_sync::<sonde_config::Config>();
    assert_send_sync::<sonde_config::RelabelConfig>();
}
