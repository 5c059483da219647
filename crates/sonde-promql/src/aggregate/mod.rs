//! Aggregation operators (`sum by (job) (x)`, `topk(3, x)` ...), one lookup
//! table from operator name to kind, evaluated step by step. Groups come
//! out in the order they are first seen, as in Prometheus 2.42; `topk` and
//! `bottomk` keep the input series' labels and sort each group.

mod columns;
mod groups;

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, LabelModifier};
use sonde_model::{is_valid_label_name, Labels, LabelsBuilder, METRIC_NAME};

use crate::error::{QueryError, Result};
use crate::eval::{Evaluator, InSample, OutSample, StepArg, Val};
use crate::math::{go_sort, heap_pop, heap_push, nan_first_greater, nan_first_less, quantile};
use crate::value::format_float;
use groups::GroupIndex;

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
    /// The pairs of `metric` its group's labels are made of, in order.
    fn pairs<'a>(&'a self, metric: &'a Labels) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        metric.iter().filter(move |(n, _)| {
            let named = self.names.iter().any(|g| g == n);
            if self.without {
                *n != METRIC_NAME && !named
            } else {
                named
            }
        })
    }

    fn labels_of(&self, metric: &Labels) -> Labels {
        if !self.without && self.names.is_empty() {
            return Labels::empty();
        }
        Labels::from_sorted(self.pairs(metric))
    }
}

struct Group<'a> {
    id: usize,
    acc: Acc,
    heap: Vec<InSample<'a>>,
}

/// The running state of one group at one step, for the operators that
/// fold values one by one (all but `topk`, `bottomk`, `quantile`,
/// `count_values`, which keep the samples).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Acc {
    value: f64,
    mean: f64,
    count: f64,
}

impl Acc {
    /// The state after the group's first sample `v`.
    #[inline(always)]
    fn first(op: AggOp, v: f64) -> Acc {
        let value = match op {
            AggOp::Stddev | AggOp::Stdvar => 0.0,
            AggOp::Group => 1.0,
            _ => v,
        };
        Acc {
            value,
            mean: v,
            count: 1.0,
        }
    }

    /// Folds in the group's next sample `v` (Prometheus 2.42's arithmetic
    /// and order of operations).
    #[inline(always)]
    fn fold(&mut self, op: AggOp, v: f64) {
        match op {
            AggOp::Sum => self.value += v,
            AggOp::Avg => {
                self.count += 1.0;
                if self.mean.is_infinite() {
                    if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                        return;
                    }
                    if !v.is_infinite() && !v.is_nan() {
                        return;
                    }
                }
                // Divide both sides of `-` by the count to avoid overflow.
                self.mean += v / self.count - self.mean / self.count;
            }
            AggOp::Group => {}
            AggOp::Max => {
                if self.value < v || self.value.is_nan() {
                    self.value = v;
                }
            }
            AggOp::Min => {
                if self.value > v || self.value.is_nan() {
                    self.value = v;
                }
            }
            AggOp::Count | AggOp::CountValues => self.count += 1.0,
            AggOp::Stddev | AggOp::Stdvar => {
                self.count += 1.0;
                let delta = v - self.mean;
                self.mean += delta / self.count;
                self.value += delta * (v - self.mean);
            }
            AggOp::Topk | AggOp::Bottomk | AggOp::Quantile => {
                panic!("BUG: {op:?} keeps its samples, it does not fold them")
            }
        }
    }

    /// The group's value.
    fn finish(&self, op: AggOp) -> f64 {
        match op {
            AggOp::Avg => self.mean,
            AggOp::Count | AggOp::CountValues => self.count,
            AggOp::Stdvar => self.value / self.count,
            AggOp::Stddev => (self.value / self.count).sqrt(),
            _ => self.value,
        }
    }
}

/// Output label sets of the groups seen so far, with dense ids, and each
/// input series' group id: series labels do not change between steps, so
/// grouping is worked out once per series, not once per sample.
struct GroupTable<'g> {
    groups: GroupIndex<'g>,
    of_series: Vec<Option<usize>>,
}

impl<'g> GroupTable<'g> {
    fn new(grouping: &'g Grouping) -> Self {
        GroupTable {
            groups: GroupIndex::new(grouping),
            of_series: Vec::new(),
        }
    }

    fn id(&mut self, s: &InSample<'_>) -> usize {
        if s.idx >= self.of_series.len() {
            self.of_series.resize(s.idx + 1, None);
        }
        if let Some(id) = self.of_series[s.idx] {
            return id;
        }
        let id = self.groups.id(s.labels);
        self.of_series[s.idx] = Some(id);
        id
    }
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
    let input = ev.eval_vector(&a.expr)?;
    if a.param.is_none() && !matches!(op, AggOp::Topk | AggOp::Bottomk | AggOp::Quantile) {
        if let Some(out) = columns::aggregate(ev, op, &input, &grouping)? {
            return Ok(Val::Vector(out));
        }
    }
    let mut args = vec![Val::Vector(input)];
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
    let mut table = GroupTable::new(&grouping);
    let mut slots: Vec<usize> = Vec::new();
    ev.range_eval(&args, |a, _| {
        let input = a[0].vector();
        if op == AggOp::CountValues {
            return Ok(count_values(input, &grouping, &value_label));
        }
        let param = a.get(1).map(StepArg::scalar);
        aggregate_step(op, input, param, &mut table, &mut slots)
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

/// Go's `int64(f)` range; NaN is outside it too.
const I64_RANGE: std::ops::RangeInclusive<f64> =
    -9.223_372_036_854_776e18..=9.223_372_036_854_776e18;

fn aggregate_step<'a>(
    op: AggOp,
    input: &[InSample<'a>],
    param: Option<f64>,
    table: &mut GroupTable,
    slots: &mut Vec<usize>,
) -> Result<Vec<OutSample>> {
    let mut k = 0usize;
    if matches!(op, AggOp::Topk | AggOp::Bottomk) {
        let f = param.unwrap_or(f64::NAN);
        if !I64_RANGE.contains(&f) {
            return Err(QueryError::exec(format!(
                "Scalar value {} overflows int64",
                crate::value::format_go_v(f)
            )));
        }
        if f < 1.0 {
            return Ok(Vec::new());
        }
        k = f as usize;
    }
    let q = param.unwrap_or(f64::NAN);
    let top_less = |a: &InSample<'a>, b: &InSample<'a>| nan_first_less(a.v, b.v);
    let bottom_less = |a: &InSample<'a>, b: &InSample<'a>| nan_first_greater(a.v, b.v);

    // `slots[group id]` is the group's position in `groups` at this step.
    const NONE: usize = usize::MAX;
    let mut groups: Vec<Group<'a>> = Vec::new();
    for s in input {
        let id = table.id(s);
        if id >= slots.len() {
            slots.resize(id + 1, NONE);
        }
        if slots[id] == NONE {
            slots[id] = groups.len();
            let mut g = Group {
                id,
                acc: Acc::first(op, s.v),
                heap: Vec::new(),
            };
            if matches!(op, AggOp::Topk | AggOp::Bottomk | AggOp::Quantile) {
                g.heap.push(*s);
            }
            groups.push(g);
            continue;
        }
        let g = &mut groups[slots[id]];
        match op {
            AggOp::Topk => offer(&mut g.heap, *s, k, |h| h.v < s.v || h.v.is_nan(), &top_less),
            AggOp::Bottomk => offer(
                &mut g.heap,
                *s,
                k,
                |h| h.v > s.v || h.v.is_nan(),
                &bottom_less,
            ),
            AggOp::Quantile => g.heap.push(*s),
            _ => g.acc.fold(op, s.v),
        }
    }

    let mut out = Vec::with_capacity(groups.len());
    for mut g in groups {
        slots[g.id] = NONE;
        let v = match op {
            AggOp::Topk | AggOp::Bottomk => {
                // The heap has the least wanted element on top: reverse it.
                if op == AggOp::Topk {
                    go_sort(&mut g.heap, |a, b| top_less(b, a));
                } else {
                    go_sort(&mut g.heap, |a, b| bottom_less(b, a));
                }
                out.extend(g.heap.iter().map(|s| OutSample {
                    labels: s.labels.clone(),
                    v: s.v,
                }));
                continue;
            }
            AggOp::Quantile => {
                let mut values: Vec<f64> = g.heap.iter().map(|s| s.v).collect();
                quantile(q, &mut values)
            }
            _ => g.acc.finish(op),
        };
        out.push(OutSample {
            labels: table.groups.labels[g.id].clone(),
            v,
        });
    }
    Ok(out)
}

/// Offers a sample to a bounded `topk`/`bottomk` heap.
fn offer<'a>(
    heap: &mut Vec<InSample<'a>>,
    s: InSample<'a>,
    k: usize,
    beats_top: impl Fn(&InSample<'a>) -> bool,
    less: &impl Fn(&InSample<'a>, &InSample<'a>) -> bool,
) {
    if heap.len() < k || beats_top(&heap[0]) {
        if heap.len() == k {
            if k == 1 {
                heap[0] = s; // replaced in place, as upstream does for k=1
                return;
            }
            heap_pop(heap, less);
        }
        heap_push(heap, s, less);
    }
}
