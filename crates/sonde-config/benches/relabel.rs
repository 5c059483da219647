//! Relabeling throughput: a Kubernetes-style target relabel chain and a
//! metric relabel drop rule, on caller-owned buffers as the scrape loop
//! runs them. Items are label sets processed.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sonde_config::relabel::{process, process_with, RelabelScratch};
use sonde_config::{load_str, RelabelConfig};
use sonde_model::{Labels, LabelsBuilder};

const RULES: &str = r#"
scrape_configs:
  - job_name: k8s
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
        action: replace
        regex: ([^:]+)(?::\d+)?;(\d+)
        replacement: $1:$2
        target_label: __address__
      - action: labelmap
        regex: __meta_kubernetes_pod_label_(.+)
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__address__]
        modulus: 8
        target_label: __tmp_hash
        action: hashmod
      - action: labeldrop
        regex: __meta_.*
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: go_gc_.*|process_.*
        action: drop
"#;

fn target() -> Labels {
    Labels::from_pairs(&[
        ("__address__", "10.0.3.17:8080"),
        ("__meta_kubernetes_namespace", "inference"),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_port",
            "9100",
        ),
        (
            "__meta_kubernetes_pod_annotation_prometheus_io_scrape",
            "true",
        ),
        ("__meta_kubernetes_pod_label_app", "worker"),
        ("__meta_kubernetes_pod_label_pod_template_hash", "5d8f7c9b6"),
        ("__meta_kubernetes_pod_name", "worker-5d8f7c9b6-x2kqp"),
        ("job", "k8s"),
    ])
}

fn run(c: &mut Criterion, name: &str, rules: &[RelabelConfig], input: &Labels) {
    let mut lb = LabelsBuilder::new();
    let mut scratch = RelabelScratch::default();
    let mut g = c.benchmark_group("relabel");
    g.throughput(Throughput::Elements(1));
    g.bench_function(name, |b| {
        b.iter(|| {
            lb.reset_to(input);
            process_with(&mut lb, rules, &mut scratch)
        })
    });
    g.finish();
}

fn bench(c: &mut Criterion) {
    let cfg = load_str(RULES, "bench.yml").expect("bench rules load");
    let sc = &cfg.scrape_configs[0];
    run(c, "target_chain_6_rules", &sc.relabel_configs, &target());
    let series = Labels::from_pairs(&[
        ("__name__", "http_requests_total"),
        ("code", "200"),
        ("job", "k8s"),
    ]);
    run(c, "metric_drop_rule", &sc.metric_relabel_configs, &series);
    let mut g = c.benchmark_group("relabel");
    g.throughput(Throughput::Elements(1));
    g.bench_function("metric_drop_rule_process", |b| {
        b.iter(|| process(&series, &sc.metric_relabel_configs))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
