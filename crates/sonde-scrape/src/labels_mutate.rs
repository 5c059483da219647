//! How an exposed series gets its final labels (Prometheus'
//! `mutateSampleLabels` and `mutateReportSampleLabels`).
//!
//! With `honor_labels: false` (the default) target labels win and a
//! clashing exposed label is kept as `exported_<name>` (more `exported_`
//! prefixes while that name is taken); with `honor_labels: true` exposed
//! labels win. Metric relabeling then runs on the result.

use sonde_config::relabel::{process, RelabelConfig};
use sonde_model::{Labels, LabelsBuilder, METRIC_NAME};

const EXPORTED_PREFIX: &str = "exported_";

/// The final labels of an exposed series, or `None` when relabeling drops it.
/// `exposed_empty` names the labels the target exposed with an empty value:
/// `Labels` drops those, but with `honor_labels` they still count as set
/// (Prometheus checks the parsed label set), so a Pushgateway group pushed
/// without an instance keeps no `instance` label.
pub(crate) fn mutate_sample_labels(
    exposed: &Labels,
    exposed_empty: &[&str],
    target: &Labels,
    honor: bool,
    metric_relabel: &[RelabelConfig],
) -> Option<Labels> {
    let mut lb = LabelsBuilder::from_labels(exposed);
    if honor {
        for (n, v) in target.iter() {
            if !exposed.contains(n) && !exposed_empty.contains(&n) {
                lb.set(n, v);
            }
        }
    } else {
        let mut conflicting: Vec<(String, String)> = Vec::new();
        for (n, v) in target.iter() {
            if let Some(ev) = exposed.get(n) {
                conflicting.push((n.to_string(), ev.to_string()));
            }
            lb.set(n, v);
        }
        if !conflicting.is_empty() {
            resolve_conflicts(&mut lb, exposed, target, conflicting);
        }
    }
    let res = lb.build();
    let res = if metric_relabel.is_empty() {
        res
    } else {
        process(&res, metric_relabel)?
    };
    (!res.is_empty()).then_some(res)
}

fn resolve_conflicts(
    lb: &mut LabelsBuilder,
    exposed: &Labels,
    target: &Labels,
    mut conflicting: Vec<(String, String)>,
) {
    conflicting.sort_by_key(|(n, _)| n.len());
    for i in 0..conflicting.len() {
        let mut name = conflicting[i].0.clone();
        loop {
            name = format!("{EXPORTED_PREFIX}{name}");
            let taken = exposed.contains(&name)
                || target.contains(&name)
                || conflicting[..i].iter().any(|(n, _)| *n == name);
            if !taken {
                conflicting[i].0 = name;
                break;
            }
        }
    }
    for (n, v) in &conflicting {
        lb.set(n, v);
    }
}

/// Labels of a synthetic series (`up`, `scrape_duration_seconds`...): the
/// metric name and the target labels.
pub(crate) fn report_labels(name: &str, target: &Labels) -> Labels {
    let mut lb = LabelsBuilder::from_labels(target);
    lb.set(METRIC_NAME, name);
    lb.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn honored_empty_label_keeps_target_label_out() {
        let exposed = Labels::from_pairs(&[("__name__", "push_time_seconds"), ("job", "batch")]);
        let target = Labels::from_pairs(&[("job", "pushgateway"), ("instance", "pg:9091")]);
        let got = mutate_sample_labels(&exposed, &["instance"], &target, true, &[]).unwrap();
        assert_eq!(
            got,
            Labels::from_pairs(&[("__name__", "push_time_seconds"), ("job", "batch")])
        );
        let got = mutate_sample_labels(&exposed, &[], &target, true, &[]).unwrap();
        assert_eq!(got.get("instance"), Some("pg:9091"));
    }

    #[test]
    fn target_labels_win_and_clashes_are_exported() {
        let exposed = Labels::from_pairs(&[
            ("__name__", "m"),
            ("job", "exp"),
            ("exported_job", "taken"),
            ("x", "1"),
        ]);
        let target = Labels::from_pairs(&[("job", "j"), ("instance", "i:1")]);
        let got = mutate_sample_labels(&exposed, &[], &target, false, &[]).unwrap();
        assert_eq!(
            got,
            Labels::from_pairs(&[
                ("__name__", "m"),
                ("job", "j"),
                ("instance", "i:1"),
                ("exported_job", "taken"),
                ("exported_exported_job", "exp"),
                ("x", "1"),
            ])
        );
        let got = mutate_sample_labels(&exposed, &[], &target, true, &[]).unwrap();
        assert_eq!(got.get("job"), Some("exp"));
        assert_eq!(got.get("instance"), Some("i:1"));
    }

    #[test]
    fn metric_relabeling_can_drop() {
        use sonde_config::relabel::Action;
        let rc = RelabelConfig::new(Action::Drop, &["__name__"], "m", "", "$1").unwrap();
        let exposed = Labels::from_pairs(&[("__name__", "m")]);
        assert_eq!(
            mutate_sample_labels(&exposed, &[], &Labels::empty(), false, &[rc]),
            None
        );
    }
}
