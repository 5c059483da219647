//! Side by side with the real Prometheus 2.42 (`promtool check config
//! --syntax-only`, Debian's `prometheus` package): every config of a corpus
//! (written here, plus the upstream fixtures that Debian's build can read)
//! must be accepted or rejected by both. Skips with a reason when promtool
//! is absent, unless `SONDE_REQUIRE_PEERS=1`.
//!
//! Debian builds Prometheus without the Consul, Kubernetes, Kuma, Linode and
//! Nomad discovery mechanisms, so files using them are left out here (the
//! fixture test covers them).

use std::path::{Path, PathBuf};
use std::process::Command;

use sonde_config::{load_file, load_file_with, LoadOptions};

/// `(name, config)`: the expected decision is promtool's, not written here.
const CORPUS: &[(&str, &str)] = &[
    ("empty", ""),
    ("global_only", "global:\n"),
    ("global_values", "global:\n  scrape_interval: 15s\n  evaluation_interval: 1m30s\n  external_labels:\n    region: eu\n"),
    ("global_timeout_too_long", "global:\n  scrape_interval: 5s\n  scrape_timeout: 6s\n"),
    ("global_bad_duration", "global:\n  evaluation_interval: abc\n"),
    ("global_unknown_key", "global:\n  scrape_intervall: 5s\n"),
    ("global_is_list", "global: []\n"),
    ("top_level_list", "- a\n- b\n"),
    ("yaml_syntax", "scrape_configs:\n  - job_name: [a\n"),
    ("yaml_tab", "scrape_configs:\n\t- job_name: a\n"),
    ("external_label_bad_name", "global:\n  external_labels:\n    a-b: x\n"),
    ("external_label_dup", "global:\n  external_labels:\n    a: x\n    a: y\n"),
    ("external_label_binary_utf8", "global:\n  external_labels:\n    a: !!binary YWJj\n"),
    ("static", "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['localhost:9090']\n        labels: {env: prod}\n"),
    ("static_url_target", "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['http://localhost:9090']\n"),
    // promtool also relabels static targets and checks the result, so the
    // rules here must really turn the URL into host:port.
    ("static_url_target_relabeled", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [__address__], regex: 'http://(.*)', target_label: __address__}\n    static_configs:\n      - targets: ['http://localhost:9090']\n"),
    ("static_bad_label", "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n        labels: {'a:b': x}\n"),
    ("static_unknown_key", "scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n        label: {}\n"),
    ("job_timeout_too_long", "scrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n    scrape_timeout: 10s\n"),
    ("job_timeout_inherited_capped", "global:\n  scrape_timeout: 15s\nscrape_configs:\n  - job_name: a\n    scrape_interval: 5s\n"),
    ("job_name_missing", "scrape_configs:\n  - scrape_interval: 5s\n"),
    ("job_name_list", "scrape_configs:\n  - job_name: [a]\n"),
    ("scrape_configs_scalar", "scrape_configs: a\n"),
    ("bool_yes", "scrape_configs:\n  - job_name: a\n    honor_labels: yes\n    honor_timestamps: off\n"),
    ("bool_bad", "scrape_configs:\n  - job_name: a\n    honor_labels: maybe\n"),
    ("bool_quoted", "scrape_configs:\n  - job_name: a\n    honor_labels: 'true'\n"),
    ("bool_null", "scrape_configs:\n  - job_name: a\n    honor_timestamps:\n"),
    ("uint_negative", "scrape_configs:\n  - job_name: a\n    sample_limit: -1\n"),
    ("uint_quoted", "scrape_configs:\n  - job_name: a\n    sample_limit: '10'\n"),
    ("uint_hex", "scrape_configs:\n  - job_name: a\n    sample_limit: 0x10\n"),
    ("string_from_int", "scrape_configs:\n  - job_name: 1\n    metrics_path: 2\n"),
    ("body_size_units", "scrape_configs:\n  - job_name: a\n    body_size_limit: 1KiB\n  - job_name: b\n    body_size_limit: 10MB\n  - job_name: c\n    body_size_limit: 0\n"),
    ("body_size_no_unit", "scrape_configs:\n  - job_name: a\n    body_size_limit: 1024\n"),
    ("body_size_bad_unit", "scrape_configs:\n  - job_name: a\n    body_size_limit: 1XB\n"),
    ("params", "scrape_configs:\n  - job_name: a\n    params:\n      module: [http_2xx]\n"),
    ("params_not_list", "scrape_configs:\n  - job_name: a\n    params:\n      module: http_2xx\n"),
    ("scheme_https_tls", "scrape_configs:\n  - job_name: a\n    scheme: https\n    tls_config:\n      insecure_skip_verify: true\n      min_version: TLS12\n      server_name: x\n"),
    ("tls_bad_version", "scrape_configs:\n  - job_name: a\n    tls_config:\n      min_version: TLS14\n"),
    ("tls_unknown_key", "scrape_configs:\n  - job_name: a\n    tls_config:\n      insecure: true\n"),
    ("bearer_both", "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    bearer_token_file: y\n"),
    ("bearer_and_basic", "scrape_configs:\n  - job_name: a\n    bearer_token: x\n    basic_auth: {username: u}\n"),
    ("authorization_basic_type", "scrape_configs:\n  - job_name: a\n    authorization:\n      type: Basic\n      credentials: x\n"),
    ("authorization_and_bearer", "scrape_configs:\n  - job_name: a\n    authorization:\n      credentials: x\n    bearer_token: y\n"),
    ("basic_auth_password_both", "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u, password: p, password_file: f}\n"),
    ("oauth2_ok", "scrape_configs:\n  - job_name: a\n    oauth2:\n      client_id: i\n      client_secret: s\n      token_url: http://t/\n      scopes: [a]\n      endpoint_params: {a: b}\n"),
    ("oauth2_no_token_url", "scrape_configs:\n  - job_name: a\n    oauth2:\n      client_id: i\n      client_secret: s\n"),
    ("oauth2_and_basic", "scrape_configs:\n  - job_name: a\n    basic_auth: {username: u}\n    oauth2: {client_id: i, client_secret: s, token_url: t}\n"),
    ("proxy_header_without_url", "scrape_configs:\n  - job_name: a\n    proxy_connect_header:\n      X: [y]\n"),
    ("proxy_url", "scrape_configs:\n  - job_name: a\n    proxy_url: http://proxy:3128\n    follow_redirects: false\n    enable_http2: false\n"),
    ("dup_key_in_job", "scrape_configs:\n  - job_name: a\n    scheme: http\n    scheme: https\n"),
    ("dup_job", "scrape_configs:\n  - job_name: a\n  - job_name: a\n"),
    ("anchors_and_merge", "scrape_configs:\n  - &base\n    job_name: a\n    scrape_interval: 5s\n  - <<: *base\n    job_name: b\n"),
    ("relabel_all_actions", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [a], target_label: b}\n      - {source_labels: [a], regex: x, action: keep}\n      - {source_labels: [a], regex: x, action: drop}\n      - {source_labels: [a], target_label: b, action: keepequal}\n      - {source_labels: [a], target_label: b, action: dropequal}\n      - {source_labels: [a], modulus: 4, target_label: h, action: hashmod}\n      - {regex: 'x_(.*)', replacement: 'y_$1', action: labelmap}\n      - {regex: x, action: labeldrop}\n      - {regex: x, action: labelkeep}\n      - {source_labels: [a], target_label: b, action: lowercase}\n      - {source_labels: [a], target_label: b, action: uppercase}\n      - {source_labels: [a], target_label: '${1}', regex: '(.*)', action: REPLACE}\n"),
    ("relabel_unknown_action", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - action: foo\n"),
    ("relabel_bad_regex", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {regex: '[a', target_label: b}\n"),
    ("relabel_go_regex", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {regex: '\\d+\\Q.*\\E(?i)x', target_label: b}\n"),
    ("relabel_bad_source_label", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: ['a-b'], target_label: b}\n"),
    ("relabel_replace_bad_target", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [a], target_label: 'a-b'}\n"),
    ("relabel_hashmod_bad_target", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [a], target_label: '${1}', modulus: 2, action: hashmod}\n"),
    ("relabel_hashmod_quoted_modulus", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [a], target_label: h, modulus: '2', action: hashmod}\n"),
    ("relabel_keepequal_regex", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [a], target_label: b, regex: '(.*)', action: keepequal}\n"),
    ("relabel_labeldrop_empty_sources", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [], regex: x, action: labeldrop}\n"),
    ("relabel_labeldrop_null_sources", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: null, regex: x, action: labeldrop}\n"),
    ("relabel_labelmap_bad", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {regex: '(.*)', replacement: '$1-x', action: labelmap}\n"),
    ("relabel_null_separator", "scrape_configs:\n  - job_name: a\n    relabel_configs:\n      - {source_labels: [a, b], separator: null, target_label: c}\n"),
    ("metric_relabel_null", "scrape_configs:\n  - job_name: a\n    metric_relabel_configs:\n      - null\n"),
    ("file_sd", "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['targets/*.json', 'x.yml']\n        refresh_interval: 1m\n"),
    ("file_sd_bad_ext", "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['targets.txt']\n"),
    ("file_sd_glob_dir", "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - files: ['*/x.json']\n"),
    ("file_sd_empty", "scrape_configs:\n  - job_name: a\n    file_sd_configs:\n      - refresh_interval: 1m\n"),
    ("http_sd", "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - url: https://sd.example.com/targets\n        refresh_interval: 30s\n"),
    ("http_sd_ftp", "scrape_configs:\n  - job_name: a\n    http_sd_configs:\n      - url: ftp://sd.example.com/\n"),
    ("dns_a_port", "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x.example.com]\n        type: A\n        port: 9100\n"),
    ("dns_a_no_port", "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x.example.com]\n        type: A\n"),
    ("dns_txt", "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - names: [x.example.com]\n        type: TXT\n"),
    ("dns_no_names", "scrape_configs:\n  - job_name: a\n    dns_sd_configs:\n      - type: SRV\n"),
    ("docker", "scrape_configs:\n  - job_name: a\n    docker_sd_configs:\n      - host: unix:///var/run/docker.sock\n        filters: [{name: label, values: [a=b]}]\n"),
    ("docker_no_host", "scrape_configs:\n  - job_name: a\n    docker_sd_configs:\n      - port: 80\n"),
    ("dockerswarm_bad_role", "scrape_configs:\n  - job_name: a\n    dockerswarm_sd_configs:\n      - host: tcp://h:2375\n        role: pods\n"),
    ("gce_no_zone", "scrape_configs:\n  - job_name: a\n    gce_sd_configs:\n      - project: p\n"),
    ("ec2_no_filters_values", "scrape_configs:\n  - job_name: a\n    ec2_sd_configs:\n      - region: eu-west-1\n        filters: [{name: x}]\n"),
    ("serverset_bad_path", "scrape_configs:\n  - job_name: a\n    serverset_sd_configs:\n      - servers: [zk:2181]\n        paths: [x]\n"),
    ("remote_write_full", "remote_write:\n  - url: http://rw/api/v1/write\n    name: a\n    remote_timeout: 10s\n    headers: {X-Scope-OrgID: t}\n    queue_config: {capacity: 10, max_shards: 2, retry_on_http_429: true}\n    metadata_config: {send: false}\n    write_relabel_configs:\n      - {source_labels: [__name__], regex: 'go_.*', action: drop}\n"),
    ("remote_write_reserved_header", "remote_write:\n  - url: http://rw/\n    headers: {Content-Type: x}\n"),
    ("remote_write_dup_name", "remote_write:\n  - {url: 'http://a/', name: n}\n  - {url: 'http://b/', name: n}\n"),
    ("remote_write_dup_unnamed", "remote_write:\n  - url: http://a/\n  - url: http://a/\n"),
    ("remote_write_no_url", "remote_write:\n  - name: n\n"),
    ("remote_write_sigv4_and_basic", "remote_write:\n  - url: http://a/\n    sigv4: {region: eu-west-1}\n    basic_auth: {username: u}\n"),
    ("remote_read", "remote_read:\n  - url: http://rr/api/v1/read\n    read_recent: true\n    required_matchers: {job: x}\n    filter_external_labels: false\n"),
    ("remote_read_bad_matcher", "remote_read:\n  - url: http://rr/\n    required_matchers: {'a-b': x}\n"),
    ("alerting", "alerting:\n  alert_relabel_configs:\n    - {regex: x, action: labeldrop}\n  alertmanagers:\n    - static_configs: [{targets: ['am:9093']}]\n      api_version: v1\n      path_prefix: /am\n      timeout: 5s\n"),
    ("alerting_bad_api", "alerting:\n  alertmanagers:\n    - api_version: v3\n"),
    ("alerting_url_target", "alerting:\n  alertmanagers:\n    - static_configs: [{targets: ['http://am:9093']}]\n"),
    ("rule_files", "rule_files: ['rules/*.yml', '/etc/x.rules']\n"),
    ("rule_files_bad_glob", "rule_files: ['rules/*/x.yml']\n"),
    ("storage", "storage:\n  tsdb:\n    out_of_order_time_window: 1h\n  exemplars:\n    max_exemplars: 10\n"),
    ("storage_unknown", "storage:\n  tsdb:\n    retention: 1d\n"),
    ("tracing", "tracing:\n  endpoint: localhost:4317\n  client_type: http\n  sampling_fraction: 0.5\n  insecure: true\n  timeout: 5s\n"),
    ("tracing_bad_client", "tracing:\n  endpoint: localhost:4317\n  client_type: udp\n"),
    ("tracing_no_endpoint", "tracing:\n  client_type: grpc\n"),
];

fn promtool() -> Option<PathBuf> {
    let candidates = ["/usr/bin/promtool", "/usr/local/bin/promtool"];
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

fn promtool_accepts(bin: &Path, file: &Path, agent: bool) -> bool {
    let mut cmd = Command::new(bin);
    cmd.args(["check", "config", "--syntax-only"]);
    if agent {
        cmd.arg("--agent");
    }
    let out = cmd.arg(file).output().expect("promtool runs");
    out.status.success()
}

#[test]
fn same_decisions_as_promtool() {
    let Some(bin) = promtool() else {
        let why = "promtool (Debian package prometheus) is not installed";
        assert!(
            std::env::var("SONDE_REQUIRE_PEERS").as_deref() != Ok("1"),
            "SONDE_REQUIRE_PEERS=1 but {why}"
        );
        println!("skipping promtool comparison: {why}");
        return;
    };
    let dir = std::env::temp_dir().join(format!("sonde-config-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut disagree = Vec::new();
    let mut agree = 0;
    for (name, text) in CORPUS {
        let file = dir.join(format!("{name}.yml"));
        std::fs::write(&file, text).unwrap();
        let theirs = promtool_accepts(&bin, &file, false);
        let ours = load_file(&file);
        if theirs == ours.is_ok() {
            agree += 1;
        } else {
            disagree.push(format!(
                "{name}: promtool accepts={theirs}, sonde: {ours:?}"
            ));
        }
    }
    std::fs::remove_dir_all(&dir).ok();

    // The upstream fixtures, except those naming mechanisms Debian leaves out.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/prometheus-v2.42.0/config-testdata");
    let mut fixture_count = 0;
    if let Ok(entries) = std::fs::read_dir(&fixtures) {
        let mut names: Vec<String> = entries
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names
            .iter()
            .filter(|n| n.ends_with(".yml") && !n.starts_with("static_config"))
        {
            let path = fixtures.join(name);
            let text = std::fs::read_to_string(&path).unwrap();
            let unsupported = [
                "consul_sd",
                "kubernetes_sd",
                "kuma_sd",
                "linode_sd",
                "nomad_sd",
            ];
            if unsupported.iter().any(|u| text.contains(u)) || name.contains("windows") {
                continue;
            }
            let agent = name.starts_with("agent_mode");
            let theirs = promtool_accepts(&bin, &path, agent);
            let ours = load_file_with(
                &path,
                &LoadOptions {
                    agent_mode: agent,
                    ..LoadOptions::default()
                },
            );
            fixture_count += 1;
            if theirs == ours.is_ok() {
                agree += 1;
            } else {
                disagree.push(format!(
                    "fixture {name}: promtool accepts={theirs}, sonde: {ours:?}"
                ));
            }
        }
    }
    let total = CORPUS.len() + fixture_count;
    println!(
        "promtool comparison: {agree}/{total} agree ({} corpus configs, {fixture_count} fixtures)",
        CORPUS.len()
    );
    assert!(
        disagree.is_empty(),
        "disagreements with promtool 2.42:\n{}",
        disagree.join("\n")
    );
}
