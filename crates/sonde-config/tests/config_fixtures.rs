//! Conformance with Prometheus 2.42's configuration fixtures
//! (`shared/reference/prometheus-v2.42.0/config-testdata`, see its README):
//! every file must be accepted or rejected as Prometheus decides. The
//! expected error substrings are Prometheus' wording, kept so a reader sees
//! which rule each bad file tests; the decision is what must agree.

use std::path::{Path, PathBuf};

use sonde_config::{
    load_file, load_file_with, load_str, parse_target_groups, to_yaml, LoadOptions,
};

fn dir() -> PathBuf {
    let d = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference/prometheus-v2.42.0/config-testdata");
    d.canonicalize().unwrap_or(d)
}

/// Files that must fail to load, with the rule's Prometheus message.
const BAD: &[(&str, &str)] = &[
    (
        "azure_authentication_method.bad.yml",
        r#"unknown authentication_type "invalid". Supported types are "OAuth" or "ManagedIdentity""#,
    ),
    (
        "azure_client_id_missing.bad.yml",
        r#"azure SD configuration requires a client_id"#,
    ),
    (
        "azure_client_secret_missing.bad.yml",
        r#"azure SD configuration requires a client_secret"#,
    ),
    (
        "azure_subscription_id_missing.bad.yml",
        r#"azure SD configuration requires a subscription_id"#,
    ),
    (
        "azure_tenant_id_missing.bad.yml",
        r#"azure SD configuration requires a tenant_id"#,
    ),
    (
        "bearertoken.bad.yml",
        r#"at most one of bearer_token & bearer_token_file must be configured"#,
    ),
    (
        "bearertoken_basicauth.bad.yml",
        r#"at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"#,
    ),
    (
        "dropequal.bad.yml",
        r#"relabel configuration for dropequal action requires 'target_label' value"#,
    ),
    (
        "dropequal1.bad.yml",
        r#"dropequal action requires only 'source_labels' and `target_label`, and no other fields"#,
    ),
    (
        "ec2_filters_empty_values.bad.yml",
        r#"EC2 SD configuration filter values cannot be empty"#,
    ),
    (
        "empty_alert_relabel_config.bad.yml",
        r#"empty or null alert relabeling rule"#,
    ),
    (
        "empty_alertmanager_relabel_config.bad.yml",
        r#"empty or null Alertmanager target relabeling rule"#,
    ),
    (
        "empty_metric_relabel_config.bad.yml",
        r#"empty or null metric relabeling rule"#,
    ),
    (
        "empty_rr_config.bad.yml",
        r#"empty or null remote read config section"#,
    ),
    (
        "empty_rw_config.bad.yml",
        r#"empty or null remote write config section"#,
    ),
    (
        "empty_rw_relabel_config.bad.yml",
        r#"empty or null relabeling rule in remote write config"#,
    ),
    (
        "empty_scrape_config.bad.yml",
        r#"empty or null scrape config section"#,
    ),
    (
        "empty_scrape_config_action.bad.yml",
        r#"relabel action cannot be empty"#,
    ),
    (
        "empty_static_config.bad.yml",
        r#"empty or null section in static_configs"#,
    ),
    (
        "empty_target_relabel_config.bad.yml",
        r#"empty or null target relabeling rule"#,
    ),
    (
        "eureka_invalid_server.bad.yml",
        r#"invalid eureka server URL"#,
    ),
    ("eureka_no_server.bad.yml", r#"empty or null eureka server"#),
    ("hetzner_role.bad.yml", r#"unknown role"#),
    (
        "http_url_bad_scheme.bad.yml",
        r#"URL scheme must be 'http' or 'https'"#,
    ),
    ("http_url_no_host.bad.yml", r#"host is missing in URL"#),
    (
        "http_url_no_scheme.bad.yml",
        r#"URL scheme must be 'http' or 'https'"#,
    ),
    (
        "ionos_datacenter.bad.yml",
        r#"datacenter id can't be empty"#,
    ),
    ("jobname.bad.yml", r#"job_name is empty"#),
    (
        "jobname_dup.bad.yml",
        r#"found multiple scrape configs with job name "prometheus""#,
    ),
    (
        "keepequal.bad.yml",
        r#"relabel configuration for keepequal action requires 'target_label' value"#,
    ),
    (
        "keepequal1.bad.yml",
        r#"keepequal action requires only 'source_labels' and `target_label`, and no other fields"#,
    ),
    (
        "kubernetes_api_server_with_own_namespace.bad.yml",
        r#"cannot use 'api_server' and 'namespaces.own_namespace' simultaneously"#,
    ),
    (
        "kubernetes_authorization_basicauth.bad.yml",
        r#"at most one of basic_auth, oauth2 & authorization must be configured"#,
    ),
    (
        "kubernetes_bearertoken.bad.yml",
        r#"at most one of bearer_token & bearer_token_file must be configured"#,
    ),
    (
        "kubernetes_bearertoken_basicauth.bad.yml",
        r#"at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured"#,
    ),
    (
        "kubernetes_http_config_without_api_server.bad.yml",
        r#"to use custom HTTP client configuration please provide the 'api_server' URL explicitly"#,
    ),
    (
        "kubernetes_kubeconfig_with_apiserver.bad.yml",
        r#"cannot use 'kubeconfig_file' and 'api_server' simultaneously"#,
    ),
    (
        "kubernetes_kubeconfig_with_http_config.bad.yml",
        r#"cannot use a custom HTTP client configuration together with 'kubeconfig_file'"#,
    ),
    (
        "kubernetes_kubeconfig_with_own_namespace.bad.yml",
        r#"cannot use 'kubeconfig_file' and 'namespaces.own_namespace' simultaneously"#,
    ),
    (
        "kubernetes_namespace_discovery.bad.yml",
        r#"field foo not found in type kubernetes.plain"#,
    ),
    ("kubernetes_role.bad.yml", r#"role"#),
    (
        "kubernetes_selectors_duplicated_role.bad.yml",
        r#"duplicated selector role: pod"#,
    ),
    (
        "kubernetes_selectors_endpoints.bad.yml",
        r#"endpoints role supports only pod, service, endpoints selectors"#,
    ),
    (
        "kubernetes_selectors_incorrect_selector.bad.yml",
        r#"invalid selector: 'metadata.status-Running'; can't understand 'metadata.status-Running'"#,
    ),
    (
        "kubernetes_selectors_ingress.bad.yml",
        r#"ingress role supports only ingress selectors"#,
    ),
    (
        "kubernetes_selectors_node.bad.yml",
        r#"node role supports only node selectors"#,
    ),
    (
        "kubernetes_selectors_pod.bad.yml",
        r#"pod role supports only pod selectors"#,
    ),
    (
        "kubernetes_selectors_service.bad.yml",
        r#"service role supports only service selectors"#,
    ),
    (
        "labeldrop.bad.yml",
        r#"labeldrop action requires only 'regex', and no other fields"#,
    ),
    (
        "labeldrop2.bad.yml",
        r#"labeldrop action requires only 'regex', and no other fields"#,
    ),
    (
        "labeldrop3.bad.yml",
        r#"labeldrop action requires only 'regex', and no other fields"#,
    ),
    (
        "labeldrop4.bad.yml",
        r#"labeldrop action requires only 'regex', and no other fields"#,
    ),
    (
        "labeldrop5.bad.yml",
        r#"labeldrop action requires only 'regex', and no other fields"#,
    ),
    (
        "labelkeep.bad.yml",
        r#"labelkeep action requires only 'regex', and no other fields"#,
    ),
    (
        "labelkeep2.bad.yml",
        r#"labelkeep action requires only 'regex', and no other fields"#,
    ),
    (
        "labelkeep3.bad.yml",
        r#"labelkeep action requires only 'regex', and no other fields"#,
    ),
    (
        "labelkeep4.bad.yml",
        r#"labelkeep action requires only 'regex', and no other fields"#,
    ),
    (
        "labelkeep5.bad.yml",
        r#"labelkeep action requires only 'regex', and no other fields"#,
    ),
    (
        "labelmap.bad.yml",
        r#""l-$1" is invalid 'replacement' for labelmap action"#,
    ),
    (
        "labelname.bad.yml",
        r#""not$allowed" is not a valid label name"#,
    ),
    (
        "labelname2.bad.yml",
        r#""not:allowed" is not a valid label name"#,
    ),
    ("labelvalue.bad.yml", r#""\xff" is not a valid label value"#),
    (
        "lowercase.bad.yml",
        r#"relabel configuration for lowercase action requires 'target_label' value"#,
    ),
    (
        "lowercase2.bad.yml",
        r#""42lab" is invalid 'target_label' for lowercase action"#,
    ),
    (
        "lowercase3.bad.yml",
        r#"'replacement' can not be set for lowercase action"#,
    ),
    (
        "marathon_authtoken_authorization.bad.yml",
        r#"marathon_sd: at most one of auth_token, auth_token_file & authorization must be configured"#,
    ),
    (
        "marathon_authtoken_authtokenfile.bad.yml",
        r#"marathon_sd: at most one of auth_token & auth_token_file must be configured"#,
    ),
    (
        "marathon_authtoken_basicauth.bad.yml",
        r#"marathon_sd: at most one of basic_auth, auth_token & auth_token_file must be configured"#,
    ),
    (
        "marathon_authtoken_bearertoken.bad.yml",
        r#"marathon_sd: at most one of bearer_token, bearer_token_file, auth_token & auth_token_file must be configured"#,
    ),
    (
        "marathon_no_servers.bad.yml",
        r#"marathon_sd: must contain at least one Marathon server"#,
    ),
    (
        "modulus_missing.bad.yml",
        r#"relabel configuration for hashmod requires non-zero modulus"#,
    ),
    (
        "openstack_availability.bad.yml",
        r#"unknown availability invalid, must be one of admin, internal or public"#,
    ),
    ("openstack_role.bad.yml", r#"unknown OpenStack SD role"#),
    (
        "ovhcloud_bad_service.bad.yml",
        r#"unknown service: fakeservice"#,
    ),
    (
        "ovhcloud_no_secret.bad.yml",
        r#"application secret can not be empty"#,
    ),
    ("puppetdb_bad_url.bad.yml", r#"host is missing in URL"#),
    ("puppetdb_no_query.bad.yml", r#"query missing"#),
    (
        "puppetdb_no_scheme.bad.yml",
        r#"URL scheme must be 'http' or 'https'"#,
    ),
    ("puppetdb_no_url.bad.yml", r#"URL is missing"#),
    ("regex.bad.yml", r#"error parsing regexp"#),
    (
        "remote_read_dup.bad.yml",
        r#"found multiple remote read configs with job name "queue1""#,
    ),
    (
        "remote_read_header.bad.yml",
        r#"x-prometheus-remote-write-version is a reserved header. It must not be changed"#,
    ),
    (
        "remote_read_url_missing.bad.yml",
        r#"url for remote_read is empty"#,
    ),
    (
        "remote_write_authorization_header.bad.yml",
        r#"authorization header must be changed via the basic_auth, authorization, oauth2, or sigv4 parameter"#,
    ),
    (
        "remote_write_dup.bad.yml",
        r#"found multiple remote write configs with job name "queue1""#,
    ),
    (
        "remote_write_header.bad.yml",
        r#"x-prometheus-remote-write-version is a reserved header. It must not be changed"#,
    ),
    (
        "remote_write_url_missing.bad.yml",
        r#"url for remote_write is empty"#,
    ),
    ("rules.bad.yml", r#"invalid rule file path"#),
    (
        "scaleway_no_secret.bad.yml",
        r#"one of secret_key & secret_key_file must be configured"#,
    ),
    ("scaleway_role.bad.yml", r#"unknown role "invalid""#),
    (
        "scaleway_two_secrets.bad.yml",
        r#"at most one of secret_key & secret_key_file must be configured"#,
    ),
    (
        "scrape_body_size_limit.bad.yml",
        r#"units: unknown unit  in 100"#,
    ),
    (
        "scrape_interval.bad.yml",
        r#"scrape timeout greater than scrape interval"#,
    ),
    (
        "section_key_dup.bad.yml",
        r#"field scrape_configs already set in type config.plain"#,
    ),
    (
        "target_label_hashmod_missing.bad.yml",
        r#"relabel configuration for hashmod action requires 'target_label' value"#,
    ),
    (
        "target_label_missing.bad.yml",
        r#"relabel configuration for replace action requires 'target_label' value"#,
    ),
    (
        "tracing_invalid_authorization_header.bad.yml",
        r#"authorization header configuration is not yet supported"#,
    ),
    (
        "tracing_invalid_compression.bad.yml",
        r#"invalid compression type foo provided, valid options: gzip"#,
    ),
    (
        "tracing_invalid_header.bad.yml",
        r#"x-prometheus-remote-write-version is a reserved header. It must not be changed"#,
    ),
    (
        "tracing_missing_endpoint.bad.yml",
        r#"tracing endpoint must be set"#,
    ),
    (
        "unknown_attr.bad.yml",
        r#"field consult_sd_configs not found in type"#,
    ),
    (
        "unknown_global_attr.bad.yml",
        r#"field nonexistent_field not found in type config.plain"#,
    ),
    (
        "uppercase.bad.yml",
        r#"relabel configuration for uppercase action requires 'target_label' value"#,
    ),
    (
        "uppercase2.bad.yml",
        r#""42lab" is invalid 'target_label' for uppercase action"#,
    ),
    (
        "uppercase3.bad.yml",
        r#"'replacement' can not be set for uppercase action"#,
    ),
    (
        "url_in_targetgroup.bad.yml",
        r#""http://bad" is not a valid hostname"#,
    ),
    (
        "uyuni_no_server.bad.yml",
        r#"Uyuni SD configuration requires server host"#,
    ),
];

/// Files that load in normal mode.
const GOOD: &[&str] = &[
    "conf.good.yml",
    "global_timeout.good.yml",
    "roundtrip.good.yml",
    "remote_write_retry_on_rate_limit.good.yml",
    "scrape_interval_larger.good.yml",
    "kubernetes_empty_apiserver.good.yml",
    "kubernetes_kubeconfig_without_apiserver.good.yml",
    "kubernetes_selectors_endpoints.good.yml",
    "kubernetes_selectors_node.good.yml",
    "kubernetes_selectors_ingress.good.yml",
    "kubernetes_selectors_pod.good.yml",
    "kubernetes_selectors_service.good.yml",
    "rules_abs_path.good.yml",
    "rules_abs_path_windows.good.yml",
    "external_labels.good.yml",
];

/// Files loaded in agent mode: `None` loads, `Some(msg)` must fail.
const AGENT: &[(&str, Option<&str>)] = &[
    (
        "agent_mode.with_alert_manager.yml",
        Some("field alerting is not allowed in agent mode"),
    ),
    (
        "agent_mode.with_alert_relabels.yml",
        Some("field alerting is not allowed in agent mode"),
    ),
    (
        "agent_mode.with_rule_files.yml",
        Some("field rule_files is not allowed in agent mode"),
    ),
    (
        "agent_mode.with_remote_reads.yml",
        Some("field remote_read is not allowed in agent mode"),
    ),
    ("agent_mode.without_remote_writes.yml", None),
    ("agent_mode.good.yml", None),
];

/// Parsed on their own as one target group; both must fail.
const TARGET_GROUPS: &[(&str, &str)] = &[
    ("static_config.bad.json", "oops:this-label-is-invalid"),
    ("static_config.bad.yml", "not:valid_label"),
];

fn skip_reason() -> Option<String> {
    let d = dir();
    (!d.is_dir()).then(|| format!("fixture directory {} is absent", d.display()))
}

#[test]
fn config_fixtures_agree_with_prometheus() {
    if let Some(why) = skip_reason() {
        println!("skipping config fixtures: {why}");
        return;
    }
    let d = dir();
    let mut agree = 0;
    let mut disagree: Vec<String> = Vec::new();
    let mut wording_differs = 0;
    for (file, want) in BAD {
        match load_file(d.join(file)) {
            Ok(_) => disagree.push(format!(
                "{file}: loaded, but Prometheus rejects it ({want})"
            )),
            Err(e) => {
                agree += 1;
                let msg = e.to_string();
                if !msg.contains(want) {
                    wording_differs += 1;
                    println!("  {file}: rejected in our words: {msg}");
                }
            }
        }
    }
    for file in GOOD {
        match load_file(d.join(file)) {
            Ok(_) => agree += 1,
            Err(e) => disagree.push(format!("{file}: rejected, but Prometheus loads it: {e}")),
        }
    }
    let agent = LoadOptions {
        agent_mode: true,
        ..LoadOptions::default()
    };
    for (file, want) in AGENT {
        match (load_file_with(d.join(file), &agent), want) {
            (Ok(_), None) => agree += 1,
            (Err(e), Some(w)) if e.to_string().contains(w) => agree += 1,
            (r, w) => disagree.push(format!("{file} (agent mode): got {r:?}, want {w:?}")),
        }
    }
    for (file, want) in TARGET_GROUPS {
        let text = std::fs::read_to_string(d.join(file)).unwrap();
        match parse_target_groups(&text, file) {
            Err(e) if e.to_string().contains(want) => agree += 1,
            r => disagree.push(format!(
                "{file} (target group): got {r:?}, want error about {want}"
            )),
        }
    }
    let total = BAD.len() + GOOD.len() + AGENT.len() + TARGET_GROUPS.len();
    println!("config fixtures: {agree}/{total} agree ({wording_differs} rejected with different wording)");
    assert!(
        disagree.is_empty(),
        "disagreements:\n{}",
        disagree.join("\n")
    );
    // Every data file of the directory is covered by one of the tables.
    let listed: Vec<&str> = BAD
        .iter()
        .map(|(f, _)| *f)
        .chain(GOOD.iter().copied())
        .chain(AGENT.iter().map(|(f, _)| *f))
        .chain(TARGET_GROUPS.iter().map(|(f, _)| *f))
        .collect();
    for entry in std::fs::read_dir(&d).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let data = name.ends_with(".yml") || name.ends_with(".json");
        assert!(
            !data || listed.contains(&name.as_str()),
            "fixture {name} is in no table"
        );
    }
}

#[test]
fn conf_good_hides_its_22_secrets() {
    if skip_reason().is_some() {
        return;
    }
    let cfg = load_file(dir().join("conf.good.yml")).unwrap();
    let out = to_yaml(&cfg);
    assert_eq!(out.matches("<secret>").count(), 22, "{out}");
    assert!(!out.contains("mysecret"));
}

#[test]
fn roundtrip_reparses_equal() {
    if skip_reason().is_some() {
        return;
    }
    for file in [
        "roundtrip.good.yml",
        "conf.good.yml",
        "remote_write_retry_on_rate_limit.good.yml",
    ] {
        let text = std::fs::read_to_string(dir().join(file)).unwrap();
        let first = load_str(&text, file).unwrap();
        let out = to_yaml(&first);
        let second = load_str(&out, "roundtrip")
            .unwrap_or_else(|e| panic!("{file}: re-parse failed: {e}\n{out}"));
        if file != "conf.good.yml" {
            // conf.good.yml has real secrets, which come back as "<secret>".
            assert_eq!(first, second, "{file}");
        }
    }
    let cfg = load_str(
        &std::fs::read_to_string(dir().join("remote_write_retry_on_rate_limit.good.yml")).unwrap(),
        "x",
    )
    .unwrap();
    assert!(cfg.remote_write[0].queue_config.retry_on_rate_limit);
    assert!(!cfg.remote_write[1].queue_config.retry_on_rate_limit);
}

#[test]
fn timeout_is_capped_at_the_job_interval() {
    if skip_reason().is_some() {
        return;
    }
    let cfg = load_file(dir().join("scrape_interval_larger.good.yml")).unwrap();
    let sc = &cfg.scrape_configs[0];
    assert!(sc.scrape_timeout <= sc.scrape_interval, "{sc:?}");
    // Loading a file with 1h globals does not change later defaults.
    load_file(dir().join("global_timeout.good.yml")).unwrap();
    let empty = load_str("", "empty").unwrap();
    assert_eq!(empty.global, sonde_config::global::GlobalConfig::default());
    assert_eq!(load_str("global:\n", "g").unwrap(), empty);
}

#[test]
fn rule_files_are_resolved_against_the_config_dir() {
    if skip_reason().is_some() {
        return;
    }
    let d = dir();
    let cfg = load_file(d.join("rules_abs_path.good.yml")).unwrap();
    let join = |p: &str| d.join(p).to_string_lossy().into_owned();
    assert_eq!(
        cfg.rule_files,
        vec![
            join("first.rules"),
            join("rules/second.rules"),
            "/absolute/third.rules".to_string()
        ]
    );
}

#[test]
fn external_labels_expansion() {
    if skip_reason().is_some() {
        return;
    }
    let path = dir().join("external_labels.good.yml");
    let plain = load_file(&path).unwrap();
    let get = |c: &sonde_config::Config, k: &str| {
        c.global.external_labels.get(k).unwrap_or("").to_string()
    };
    assert_eq!(get(&plain, "baz"), "foo${TEST}bar");
    assert_eq!(get(&plain, "xyz"), "foo$$bar");
    // SAFETY-free env handling: this test is the only user of TEST.
    std::env::set_var("TEST", "TestValue");
    let expanded = load_file_with(
        &path,
        &LoadOptions {
            expand_external_labels: true,
            ..LoadOptions::default()
        },
    )
    .unwrap();
    std::env::remove_var("TEST");
    assert_eq!(get(&expanded, "baz"), "fooTestValuebar");
    assert_eq!(get(&expanded, "foo"), "TestValue");
    assert_eq!(get(&expanded, "qux"), "foo${TEST}");
    assert_eq!(get(&expanded, "xyz"), "foo$bar");
}
