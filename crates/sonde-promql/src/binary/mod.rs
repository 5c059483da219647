//! Binary operators: arithmetic, comparisons (filtering or `bool`),
//! `atan2`, and the set operators `and`, `or`, `unless`, between scalars
//! and instant vectors, with `on`/`ignoring` and `group_left`/`group_right`
//! vector matching and Prometheus 2.42's errors for ambiguous matches.

mod columns;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use sonde_model::{Labels, LabelsBuilder, METRIC_NAME};

use crate::error::{QueryError, Result};
use crate::eval::{drop_metric_name, Evaluator, InSample, OutSample, Series, Val};
use crate::hash::{IdMap, IdSet};
use crate::math::go_pow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

const OPERATORS: &[(&str, BinOp)] = &[
    ("+", BinOp::Add),
    ("-", BinOp::Sub),
    ("*", BinOp::Mul),
    ("/", BinOp::Div),
    ("%", BinOp::Mod),
    ("^", BinOp::Pow),
    ("atan2", BinOp::Atan2),
    ("==", BinOp::Eq),
    ("!=", BinOp::Ne),
    (">", BinOp::Gt),
    ("<", BinOp::Lt),
    (">=", BinOp::Ge),
    ("<=", BinOp::Le),
    ("and", BinOp::And),
    ("or", BinOp::Or),
    ("unless", BinOp::Unless),
];

impl BinOp {
    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    /// Arithmetic changes what the value means, so the name goes.
    fn drops_metric_name(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
        )
    }
}

/// The value and whether to keep the element (comparisons filter).
fn elem_binop(op: BinOp, l: f64, r: f64) -> (f64, bool) {
    match op {
        BinOp::Add => (l + r, true),
        BinOp::Sub => (l - r, true),
        BinOp::Mul => (l * r, true),
        BinOp::Div => (l / r, true),
        BinOp::Mod => (l % r, true),
        BinOp::Pow => (go_pow(l, r), true),
        BinOp::Atan2 => (l.atan2(r), true),
        BinOp::Eq => (l, l == r),
        BinOp::Ne => (l, l != r),
        BinOp::Gt => (l, l > r),
        BinOp::Lt => (l, l < r),
        BinOp::Ge => (l, l >= r),
        BinOp::Le => (l, l <= r),
        BinOp::And | BinOp::Or | BinOp::Unless => {
            panic!("BUG: set operator {op:?} on element values")
        }
    }
}

/// Between two scalars comparisons give 1 or 0.
fn scalar_binop(op: BinOp, l: f64, r: f64) -> f64 {
    let (v, keep) = elem_binop(op, l, r);
    if op.is_comparison() {
        f64::from(u8::from(keep))
    } else {
        v
    }
}

/// How elements of the two sides are paired.
struct Matching {
    card: VectorMatchCardinality,
    on: bool,
    names: Vec<String>,
    include: Vec<String>,
}

impl Matching {
    fn of(b: &BinaryExpr) -> Self {
        let (card, on, names) = match &b.modifier {
            None => (VectorMatchCardinality::OneToOne, false, Vec::new()),
            Some(m) => {
                let (on, names) = match &m.matching {
                    None => (false, Vec::new()),
                    Some(LabelModifier::Include(l)) => (true, l.labels.clone()),
                    Some(LabelModifier::Exclude(l)) => (false, l.labels.clone()),
                };
                (m.card.clone(), on, names)
            }
        };
        let include = card.labels().map(|l| l.labels.clone()).unwrap_or_default();
        Matching {
            card,
            on,
            names,
            include,
        }
    }

    /// The labels two elements must share to match (for error messages).
    fn signature(&self, l: &Labels) -> Labels {
        if self.on {
            Labels::from_sorted(l.iter().filter(|(n, _)| self.names.iter().any(|x| x == n)))
        } else {
            Labels::from_sorted(
                l.iter()
                    .filter(|(n, _)| *n != METRIC_NAME && !self.names.iter().any(|x| x == n)),
            )
        }
    }

    /// A hash of [`Matching::signature`], the key elements are matched by.
    fn signature_hash(&self, l: &Labels, sorted_names: &[&str]) -> u64 {
        l.hash_for(sorted_names, self.on)
    }

    /// The names [`Matching::signature_hash`] includes (`on`) or skips
    /// (`ignoring`, which also skips the metric name), sorted.
    fn hash_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.names.iter().map(String::as_str).collect();
        if !self.on {
            names.push(METRIC_NAME);
        }
        names.sort_unstable();
        names.dedup();
        names
    }
}

/// Per-series work that stays the same over all steps of a vector-vector
/// operation: match signatures and the labels of each matched pair.
struct PairCache<'m> {
    matching: &'m Matching,
    names: Vec<&'m str>,
    sigs: [Vec<Option<u64>>; 2],
    /// By "many"-side series: the "one"-side series it last matched, and
    /// the result labels with their hash.
    results: Vec<Option<(usize, Labels, u64)>>,
}

impl<'m> PairCache<'m> {
    fn new(matching: &'m Matching, lhs_len: usize, rhs_len: usize) -> Self {
        PairCache {
            matching,
            names: matching.hash_names(),
            sigs: [vec![None; lhs_len], vec![None; rhs_len]],
            results: vec![None; lhs_len.max(rhs_len)],
        }
    }

    fn sig(&mut self, side: usize, s: &InSample<'_>) -> u64 {
        let slot = &mut self.sigs[side][s.idx];
        *slot.get_or_insert_with(|| self.matching.signature_hash(s.labels, &self.names))
    }

    /// The result labels of a pair (and their hash), computed once.
    fn result(
        &mut self,
        many: &InSample<'_>,
        one: &InSample<'_>,
        op: BinOp,
        return_bool: bool,
    ) -> (Labels, u64) {
        let slot = &mut self.results[many.idx];
        if let Some((o, l, h)) = slot {
            if *o == one.idx {
                return (l.clone(), *h);
            }
        }
        let mut l = result_labels(many.labels, one.labels, op, self.matching);
        if return_bool {
            l = drop_metric_name(&l);
        }
        let h = l.stable_hash();
        *slot = Some((one.idx, l.clone(), h));
        (l, h)
    }
}

pub(crate) fn eval_binary(ev: &Evaluator<'_, '_>, b: &BinaryExpr) -> Result<Val> {
    let name = b.op.to_string();
    let op = OPERATORS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, op)| *op)
        .ok_or_else(|| QueryError::BadData(format!("unknown binary operator {name:?}")))?;
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs)?;
    let rhs = ev.eval(&b.rhs)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(|(l, r)| scalar_binop(op, *l, *r))
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(s)) => vector_scalar(ev, op, v, &s, false, return_bool),
        (Val::Scalar(s), Val::Vector(v)) => vector_scalar(ev, op, v, &s, true, return_bool),
        (Val::Vector(l), Val::Vector(r)) => {
            let matching = Matching::of(b);
            if let Some(v) = columns::vector_vector(ev, op, &matching, &l, &r, return_bool)? {
                return Ok(v);
            }
            let (l, r) = (Val::Vector(l), Val::Vector(r));
            let lens = [&l, &r].map(|v| match v {
                Val::Vector(s) => s.len(),
                _ => 0,
            });
            let mut cache = PairCache::new(&matching, lens[0], lens[1]);
            ev.range_eval(&[l, r], |a, _| {
                vector_vector(op, a[0].vector(), a[1].vector(), &mut cache, return_bool)
            })
        }
        (l, r) => Err(QueryError::BadData(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            crate::eval::val_type_name(&l),
            crate::eval::val_type_name(&r)
        ))),
    }
}

/// A vector against a scalar (`swap`: the scalar on the left), series by
/// series: labels are worked out once per series, not once per step.
fn vector_scalar(
    ev: &Evaluator<'_, '_>,
    op: BinOp,
    v: Vec<Series>,
    s: &[f64],
    swap: bool,
    return_bool: bool,
) -> Result<Val> {
    let drop_name = op.drops_metric_name() || return_bool;
    let relabel = |l: Labels| if drop_name { drop_metric_name(&l) } else { l };
    ev.map_series(v, relabel, |step, x| {
        let (l, r) = if swap { (s[step], x) } else { (x, s[step]) };
        let (mut value, mut keep) = elem_binop(op, l, r);
        // A comparison keeps the vector element's value, whichever side.
        if op.is_comparison() && swap {
            value = r;
        }
        if return_bool {
            value = f64::from(u8::from(keep));
            keep = true;
        }
        keep.then_some(value)
    })
}

fn vector_vector(
    op: BinOp,
    lhs: &[InSample<'_>],
    rhs: &[InSample<'_>],
    cache: &mut PairCache<'_>,
    return_bool: bool,
) -> Result<Vec<OutSample>> {
    let copy = |s: &InSample<'_>| OutSample {
        labels: s.labels.clone(),
        v: s.v,
    };
    match op {
        BinOp::And => {
            if lhs.is_empty() || rhs.is_empty() {
                return Ok(Vec::new());
            }
            let right: IdSet = rhs.iter().map(|s| cache.sig(1, s)).collect();
            Ok(lhs
                .iter()
                .filter(|s| right.contains(&cache.sig(0, s)))
                .map(copy)
                .collect())
        }
        BinOp::Or => {
            let left: IdSet = lhs.iter().map(|s| cache.sig(0, s)).collect();
            let mut out: Vec<OutSample> = lhs.iter().map(copy).collect();
            out.extend(
                rhs.iter()
                    .filter(|s| !left.contains(&cache.sig(1, s)))
                    .map(copy),
            );
            Ok(out)
        }
        BinOp::Unless => {
            let right: IdSet = rhs.iter().map(|s| cache.sig(1, s)).collect();
            Ok(lhs
                .iter()
                .filter(|s| !right.contains(&cache.sig(0, s)))
                .map(copy)
                .collect())
        }
        _ => vector_binop(op, lhs, rhs, cache, return_bool),
    }
}

fn vector_binop(
    op: BinOp,
    lhs: &[InSample<'_>],
    rhs: &[InSample<'_>],
    cache: &mut PairCache<'_>,
    return_bool: bool,
) -> Result<Vec<OutSample>> {
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    // One-to-many: swap so that the right side is always the "one" side.
    let one_to_many = matches!(cache.matching.card, VectorMatchCardinality::OneToMany(_));
    let (many, one, many_side, one_side) = if one_to_many {
        (rhs, lhs, 1, 0)
    } else {
        (lhs, rhs, 0, 1)
    };
    let mut one_by_sig: IdMap<&InSample<'_>> = IdMap::default();
    one_by_sig.reserve(one.len());
    for s in one {
        let key = cache.sig(one_side, s);
        if let Some(dup) = one_by_sig.get(&key) {
            return Err(QueryError::exec(format!(
                "found duplicate series for the match group {} on the {} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                cache.matching.signature(s.labels),
                if one_to_many { "left" } else { "right" },
                s.labels,
                dup.labels
            )));
        }
        one_by_sig.insert(key, s);
    }
    let one_to_one = matches!(cache.matching.card, VectorMatchCardinality::OneToOne);
    // Per match group: nothing (one-to-one) or the result label sets seen.
    let mut matched: IdMap<IdSet> = IdMap::default();
    let mut out = Vec::with_capacity(many.len());
    for s in many {
        let key = cache.sig(many_side, s);
        let Some(r) = one_by_sig.get(&key) else {
            continue;
        };
        let (vl, vr) = if one_to_many { (r.v, s.v) } else { (s.v, r.v) };
        let (mut value, keep) = elem_binop(op, vl, vr);
        if return_bool {
            value = f64::from(u8::from(keep));
        } else if !keep {
            continue;
        }
        let (labels, hash) = cache.result(s, r, op, return_bool);
        match matched.get_mut(&key) {
            Some(_) if one_to_one => {
                return Err(QueryError::exec(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                ))
            }
            Some(seen) => {
                if !seen.insert(hash) {
                    return Err(QueryError::exec(
                        "multiple matches for labels: grouping labels must ensure unique matches",
                    ));
                }
            }
            None => {
                let mut seen = IdSet::default();
                if !one_to_one {
                    seen.insert(hash);
                }
                matched.insert(key, seen);
            }
        }
        out.push(OutSample { labels, v: value });
    }
    Ok(out)
}

/// The labels of a matched pair: the "many" side's, less the name for
/// arithmetic, cut to the matching labels for one-to-one, plus the
/// `group_left`/`group_right` labels taken from the "one" side.
fn result_labels(many: &Labels, one: &Labels, op: BinOp, m: &Matching) -> Labels {
    let mut b = LabelsBuilder::from_labels(many);
    if op.drops_metric_name() {
        b.del(METRIC_NAME);
    }
    if matches!(m.card, VectorMatchCardinality::OneToOne) {
        if m.on {
            b.retain(|n, _| m.names.iter().any(|x| x == n));
        } else {
            for n in &m.names {
                b.del(n);
            }
        }
    }
    for n in &m.include {
        match one.get(n) {
            Some(v) => b.set(n, v),
            None => b.del(n),
        }
    }
    b.build()
}
