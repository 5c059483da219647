//! Aggregation operators (`sum by (job) (x)`, `topk(3, x)` ...), one lookup
//! table from operator name to kind, evaluated step by step. Groups come
//! out in the order they are first seen, as in Prometheus 2.42; `topk` and
//! `bottomk` keep the input series' labels and sort each group.

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};
use sonde_model::{is_valid_label_name, Labels, LabelsBuilder, METRIC_NAME};

use crate::error::{QueryError, Result};
use crate::eval::{Evaluator, InSample, OutSample, StepArg, Val};
use crate::math::{go_sort, heap_pop, heap_push, nan_first_greater, nan_first_less, quantile};
use crate::value::format_float;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AggOp {
    Sum,
    Avg,
    Count,
    Min,
    Max,
    Group,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Quantile,
    CountValues,
}

const AGGREGATIONS: &[(&str, AggOp)] = &[
    ("avg", AggOp::Avg),
    ("bottomk", AggOp::Bottomk),
    ("count", AggOp::Count),
    ("count_values", AggOp::CountValues),
    ("group", AggOp::Group),
    ("max", AggOp::Max),
    ("min", AggOp::Min),
    ("quantile", AggOp::Quantile),
    ("stddev", AggOp::Stddev),
    ("stdvar", AggOp::Stdvar),
    ("sum", AggOp::Sum),
    ("topk", AggOp::Topk),
];

/// Whether `name` is an aggregation of PromQL 2.42.
pub(crate) fn is_known(name: &str) -> bool {
    AGGREGATIONS.iter().any(|(n, _)| *n == name)
}

/// How output labels are derived from input labels.
struct Grouping {
    names: Vec<String>,
    without: bool,
}

impl Grouping {
    fn labels_of(&self, metric: &Labels) -> Labels {
        if self.without {
            Labels::from_sorted(
                metric
                    .iter()
                    .filter(|(n, _)| *n != METRIC_NAME && !self.names.iter().any(|g| g == n)),
            )
        } else if self.names.is_empty() {
            Labels::empty()
        } else {
            Labels::from_sorted(
                metric
                    .iter()
                    .filter(|(n, _)| self.names.iter().any(|g| g == n)),
            )
        }
    }
}

struct Group {
    labels: Labels,
    value: f64,
    mean: f64,
    count: f64,
    heap: Vec<OutSample>,
}

pub(crate) fn eval_aggregate(ev: &Evaluator<'_, '_>, a: &AggregateExpr) -> Result<Val> {
    let name = a.op.to_string();
    let op = AGGREGATIONS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, op)| *op)
        .ok_or_else(|| {
            QueryError::BadData(format!(
                "aggregation {name:?} does not exist in PromQL 2.42"
            ))
        })?;
    let mut grouping = match &a.modifier {
        None => Grouping {
            names: Vec::new(),
            without: false,
        },
        Some(LabelModifier::Include(l)) => Grouping {
            names: l.labels.clone(),
            without: false,
        },
        Some(LabelModifier::Exclude(l)) => Grouping {
            names: l.labels.clone(),
            without: true,
        },
    };
    let mut args = vec![ev.eval_vector(&a.expr).map(Val::Vector)?];
    let mut value_label = String::new();
    if let Some(p) = &a.param {
        let p = ev.eval(p)?;
        if let Val::String(s) = &p {
            if op == AggOp::CountValues {
                if !is_valid_label_name(s) {
                    return Err(QueryError::exec(format!("invalid label name {s:?}")));
                }
                value_label = s.clone();
                if !grouping.without {
                    grouping.names.push(s.clone());
                }
            }
        }
        args.push(p);
    }
    let mut cache: HashMap<usize, Labels> = HashMap::new();
    ev.range_eval(&args, |a, _| {
        let input = a[0].vector();
        let param = a.get(1);
        if op == AggOp::CountValues {
            return Ok(count_values(input, &grouping, &value_label));
        }
        let group_of = |s: &InSample<'_>, cache: &mut HashMap<usize, Labels>| {
            cache
                .entry(s.idx)
                .or_insert_with(|| grouping.labels_of(s.labels))
                .clone()
        };
        aggregate_step(op, input, param, |s| group_of(s, &mut cache))
    })
}

fn count_values(input: &[InSample<'_>], grouping: &Grouping, value_label: &str) -> Vec<OutSample> {
    let mut groups: Vec<OutSample> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let mut b = LabelsBuilder::new();
    for s in input {
        b.reset_to(s.labels);
        b.set(value_label, &format_float(s.v));
        let labels = grouping.labels_of(&b.build());
        match index.get(&labels) {
            Some(&i) => groups[i].v += 1.0,
            None => {
                index.insert(labels.clone(), groups.len());
                groups.push(OutSample { labels, v: 1.0 });
            }
        }
    }
    groups
}

fn aggregate_step(
    op: AggOp,
    input: &[InSample<'_>],
    param: Option<&StepArg<'_>>,
    mut group_of: impl FnMut(&InSample<'_>) -> Labels,
) -> Result<Vec<OutSample>> {
    let mut k = 0usize;
    if matches!(op, AggOp::Topk | AggOp::Bottomk) {
        let f = param.map(StepArg::scalar).unwrap_or(f64::NAN);
        // Go's int64 conversion range; NaN is not convertible either.
        if !(-9.223_372_036_854_776e18..=9.223_372_036_854_776e18).contains(&f) {
            return Err(QueryError::exec(format!(
                "Scalar value {} overflows int64",
                format_float(f)
            )));
        }
        if f < 1.0 {
            return Ok(Vec::new());
        }
        k = f as usize;
    }
    let q = if op == AggOp::Quantile {
        param.map(StepArg::scalar).unwrap_or(f64::NAN)
    } else {
        0.0
    };
    let top_less = |a: &OutSample, b: &OutSample| nan_first_less(a.v, b.v);
    let bottom_less = |a: &OutSample, b: &OutSample| nan_first_greater(a.v, b.v);

    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    for s in input {
        let labels = group_of(s);
        let Some(&gi) = index.get(&labels) else {
            index.insert(labels.clone(), groups.len());
            let mut g = Group {
                labels,
                value: s.v,
                mean: s.v,
                count: 1.0,
                heap: Vec::new(),
            };
            match op {
                AggOp::Stddev | AggOp::Stdvar => g.value = 0.0,
                AggOp::Topk | AggOp::Bottomk | AggOp::Quantile => g.heap.push(OutSample {
                    labels: s.labels.clone(),
                    v: s.v,
                }),
                AggOp::Group => g.value = 1.0,
                _ => {}
            }
            groups.push(g);
            continue;
        };
        let g = &mut groups[gi];
        match op {
            AggOp::Sum => g.value += s.v,
            AggOp::Avg => {
                g.count += 1.0;
                if g.mean.is_infinite() {
                    if s.v.is_infinite() && (g.mean > 0.0) == (s.v > 0.0) {
                        continue;
                    }
                    if !s.v.is_infinite() && !s.v.is_nan() {
                        continue;
                    }
                }
                // Divide both sides of `-` by the count to avoid overflow.
                g.mean += s.v / g.count - g.mean / g.count;
            }
            AggOp::Group => {}
            AggOp::Max => {
                if g.value < s.v || g.value.is_nan() {
                    g.value = s.v;
                }
            }
            AggOp::Min => {
                if g.value > s.v || g.value.is_nan() {
                    g.value = s.v;
                }
            }
            AggOp::Count | AggOp::CountValues => g.count += 1.0,
            AggOp::Stddev | AggOp::Stdvar => {
                g.count += 1.0;
                let delta = s.v - g.mean;
                g.mean += delta / g.count;
                g.value += delta * (s.v - g.mean);
            }
            AggOp::Topk => offer(&mut g.heap, s, k, |h| h.v < s.v || h.v.is_nan(), &top_less),
            AggOp::Bottomk => offer(
                &mut g.heap,
                s,
                k,
                |h| h.v > s.v || h.v.is_nan(),
                &bottom_less,
            ),
            AggOp::Quantile => g.heap.push(OutSample {
                labels: s.labels.clone(),
                v: s.v,
            }),
        }
    }

    let mut out = Vec::with_capacity(groups.len());
    for mut g in groups {
        let v = match op {
            AggOp::Avg => g.mean,
            AggOp::Count | AggOp::CountValues => g.count,
            AggOp::Stdvar => g.value / g.count,
            AggOp::Stddev => (g.value / g.count).sqrt(),
            AggOp::Topk | AggOp::Bottomk => {
                let less: &dyn Fn(&OutSample, &OutSample) -> bool = if op == AggOp::Topk {
                    &top_less
                } else {
                    &bottom_less
                };
                // The heap has the least wanted element on top: reverse it.
                go_sort(&mut g.heap, |a, b| less(b, a));
                out.append(&mut g.heap);
                continue;
            }
            AggOp::Quantile => {
                let mut values: Vec<f64> = g.heap.iter().map(|s| s.v).collect();
                quantile(q, &mut values)
            }
            _ => g.value,
        };
        out.push(OutSample {
            labels: g.labels,
            v,
        });
    }
    Ok(out)
}

/// Offers a sample to a bounded `topk`/`bottomk` heap.
fn offer(
    heap: &mut Vec<OutSample>,
    s: &InSample<'_>,
    k: usize,
    beats_top: impl Fn(&OutSample) -> bool,
    less: &impl Fn(&OutSample, &OutSample) -> bool,
) {
    if heap.len() < k || beats_top(&heap[0]) {
        let item = OutSample {
            labels: s.labels.clone(),
            v: s.v,
        };
        if heap.len() == k {
            if k == 1 {
                heap[0] = item; // replaced in place, as upstream does for k=1
                return;
            }
            heap_pop(heap, less);
        }
        heap_push(heap, item, less);
    }
}
