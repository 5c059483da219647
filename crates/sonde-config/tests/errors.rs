//! Errors a person can act on: file, line, column, key path, all of them.

use sonde_config::{load_str, ConfigError, Diagnostic};

fn diags(text: &str) -> Vec<Diagnostic> {
    match load_str(text, "prometheus.yml") {
        Ok(cfg) => panic!("loaded: {cfg:?}"),
        Err(ConfigError::Invalid(d)) => d,
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn relabel_error_names_file_line_and_path() {
    let text = "\
scrape_configs:
  - job_name: a
    static_configs:
      - targets: [localhost:9090]
  - job_name: b
    relabel_configs:
      - source_labels: [x]
        action: replace
";
    let d = diags(text);
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(
        d[0].to_string(),
        "prometheus.yml:7:9: scrape_configs[1].relabel_configs[0]: relabel configuration for replace action requires 'target_label' value"
    );
}

#[test]
fn every_error_is_reported_in_file_order() {
    let text = "\
global:
  scrape_interval: 1x
  nonsense: 1
scrape_configs:
  - job_name: a
    scrape_interval: 5s
    scrape_timeout: 10s
  - job_name: a
remote_read:
  - name: r
";
    let d = diags(text);
    let summary: Vec<(usize, &str)> = d.iter().map(|d| (d.line, d.path.as_str())).collect();
    assert_eq!(
        summary,
        vec![
            (2, "global.scrape_interval"),
            (3, "global"),
            (7, "scrape_configs[0].scrape_timeout"),
            (8, "scrape_configs[1].job_name"),
            (10, "remote_read[0]"),
        ],
        "{d:#?}"
    );
    assert!(d[1].message.contains("field nonsense not found"));
    assert!(d[4].message.contains("url for remote_read is empty"));
}

#[test]
fn repeated_keys_are_errors_at_any_depth() {
    let d = diags("scrape_configs:\n  - job_name: a\n    scheme: http\n    scheme: https\n");
    assert_eq!((d[0].line, d[0].col), (4, 5));
    assert!(d[0].message.contains("field scheme already set"), "{d:?}");
    let d = diags("global:\n  external_labels:\n    a: x\n    a: y\n");
    assert!(d[0].message.contains("already set"), "{d:?}");
}

#[test]
fn unknown_keys_suggest_the_nearest_valid_key() {
    let d = diags("scrape_configs:\n  - job_name: a\n    metric_path: /m\n");
    assert!(d[0].message.contains("did you mean metrics_path?"), "{d:?}");
}

#[test]
fn syntax_errors_have_a_place() {
    let d = diags("scrape_configs:\n  - job_name: [a\n");
    assert!(d[0].line >= 2, "{d:?}");
    assert!(d[0].message.starts_with("YAML syntax error"), "{d:?}");
}

#[test]
fn wrong_types_are_named() {
    let d =
        diags("scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n    sample_limit: -1\n");
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].message.contains("bool"));
    assert!(d[1].message.contains("u64"));
}
