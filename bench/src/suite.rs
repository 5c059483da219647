//! The dashboard query suite (issue 4): one list, used by the whole-system
//! benchmark and, by path, by the evaluator's own bench
//! (`crates/sonde-promql/benches/dashboard.rs`), so both time the same
//! queries.

/// Dashboard queries over the workload: what node_exporter and service
/// dashboards (Grafana's "Node Exporter Full", RED dashboards) ask.
pub const SUITE: &[(&str, &str)] = &[
    (
        "cpu_busy_by_instance",
        r#"100 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m])) * 100"#,
    ),
    (
        "cpu_sum_by_mode",
        r#"sum by (instance, mode) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))"#,
    ),
    ("net_rx_rate", "rate(node_network_receive_bytes_total[5m])"),
    (
        "disk_io_regex",
        r#"rate(node_disk_io_time_seconds_total{device=~"sd.*"}[5m])"#,
    ),
    (
        "mem_used_ratio",
        "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
    ),
    ("load1_avg_over_time", "avg_over_time(node_load1[10m])"),
    (
        "fs_avail_min",
        r#"min by (instance) (node_filesystem_avail_bytes{mountpoint=~"/|/data"})"#,
    ),
    (
        "ctx_switch_increase_1h",
        "increase(node_context_switches_total[1h])",
    ),
    (
        "http_topk_instances",
        "topk(5, sum by (instance) (rate(http_requests_total[5m])))",
    ),
    (
        "http_error_ratio",
        r#"sum(rate(http_requests_total{code=~"5.."}[5m])) / sum(rate(http_requests_total[5m]))"#,
    ),
    (
        "latency_p99",
        "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    ),
    (
        "latency_p90_by_instance",
        r#"histogram_quantile(0.9, sum by (instance, le) (rate(http_request_duration_seconds_bucket{handler="/api/query"}[5m])))"#,
    ),
    ("queue_max_over_time", "max_over_time(app_queue_depth[15m])"),
    (
        "count_by_name",
        r#"count by (__name__) ({__name__=~"node_.+"})"#,
    ),
    ("up_by_job", "sum by (job) (up)"),
];
