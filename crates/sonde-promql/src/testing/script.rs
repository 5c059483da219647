//! A runner for Prometheus' PromQL test scripts (`promql/testdata/*.test`
//! of Prometheus 2.42): `load`, `clear`, `eval instant at`, `eval_fail`,
//! `eval_ordered`. Besides each written expectation it performs the two
//! checks upstream's harness adds: the same result in range mode (a range
//! query from t-1m to t+1m, read at t) and `@`-modifier invariance (the
//! expression pinned with `@ t` gives the same result at other times).
//!
//! Unlike upstream, a failing case does not stop the file: every case is
//! run and reported, so a suite can count passes and failures.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use promql_parser::parser::{AtModifier, Expr};
use sonde_model::{parse_duration, Labels, Queryable, Timestamp};

use super::mem_storage::MemStorage;
use super::series_notation::{parse_series_line, parse_values, SeriesValue};
use crate::engine::{parse, Engine, EngineOptions, QueryOptions};
use crate::value::{format_float, Value};

/// The engine settings the 2.42 test files assume.
pub fn test_engine_options() -> EngineOptions {
    EngineOptions {
        lookback_delta: Duration::from_secs(300),
        max_samples: 10_000,
        timeout: Duration::from_secs(100),
        default_subquery_step: Duration::from_secs(60),
        ..EngineOptions::default()
    }
}

/// The outcome of one `eval` command.
#[derive(Debug, Clone)]
pub struct CaseOutcome {
    /// 1-based line of the `eval` command.
    pub line: usize,
    pub expr: String,
    /// `None` when the case passed; otherwise what went wrong.
    pub failure: Option<String>,
}

#[derive(Debug)]
enum Expected {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

#[derive(Debug)]
struct EvalCmd {
    line: usize,
    expr: String,
    at: Timestamp,
    fail: bool,
    ordered: bool,
    expected: Expected,
}

#[derive(Debug)]
enum Command {
    Load(Vec<(Labels, Vec<(Timestamp, f64)>)>),
    Clear,
    Eval(EvalCmd),
}

/// The storage a script runs against: emptied by `clear`, filled by
/// `load`, read by `eval`. [`MemStorage`] is one; a real storage engine can
/// be run through the same scripts by implementing this.
pub trait ScriptStorage {
    fn queryable(&self) -> &dyn Queryable;
    /// Throws everything away.
    fn clear(&mut self) -> Result<(), String>;
    /// Adds one `load` block: every series' samples in time order, as one
    /// batch (a storage may refuse samples far behind what it has seen
    /// before the batch, as Prometheus' head does).
    fn load(&mut self, series: &[(Labels, Vec<(Timestamp, f64)>)]) -> Result<(), String>;
}

impl ScriptStorage for MemStorage {
    fn queryable(&self) -> &dyn Queryable {
        self
    }

    fn clear(&mut self) -> Result<(), String> {
        MemStorage::clear(self);
        Ok(())
    }

    fn load(&mut self, series: &[(Labels, Vec<(Timestamp, f64)>)]) -> Result<(), String> {
        for (labels, samples) in series {
            for (t, v) in samples {
                self.add(labels.clone(), *t, *v);
            }
        }
        Ok(())
    }
}

/// Runs a whole script over a fresh [`MemStorage`]. `Err` means the script
/// itself is malformed.
pub fn run_script(text: &str) -> Result<Vec<CaseOutcome>, String> {
    run_script_on(text, &mut MemStorage::new())
}

/// Runs a whole script over `storage`, which should start empty. `Err`
/// means the script is malformed or the storage failed to clear or load.
pub fn run_script_on(
    text: &str,
    storage: &mut dyn ScriptStorage,
) -> Result<Vec<CaseOutcome>, String> {
    let commands = parse_script(text)?;
    let engine = Engine::new(test_engine_options());
    let mut out = Vec::new();
    for cmd in commands {
        match cmd {
            Command::Clear => storage.clear()?,
            Command::Load(series) => storage.load(&series)?,
            Command::Eval(e) => {
                let failure = run_eval(&engine, storage.queryable(), &e).err();
                out.push(CaseOutcome {
                    line: e.line,
                    expr: e.expr,
                    failure,
                });
            }
        }
    }
    Ok(out)
}

fn parse_script(text: &str) -> Result<Vec<Command>, String> {
    // Comments become empty lines: they end blocks.
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| {
            let l = l.trim();
            if l.starts_with('#') {
                ""
            } else {
                l
            }
        })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let lineno = i + 1;
        i += 1;
        if line.is_empty() {
            continue;
        }
        let first = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        let block_end = lines[i..]
            .iter()
            .position(|l| l.is_empty())
            .map_or(lines.len(), |p| i + p);
        if first == "clear" {
            cmds.push(Command::Clear);
        } else if first == "load" {
            let interval = line
                .split_whitespace()
                .nth(1)
                .ok_or(format!("line {lineno}: load without interval"))?;
            let interval = parse_duration(interval)
                .map_err(|e| format!("line {lineno}: {e}"))?
                .as_millis() as i64;
            let mut series: Vec<(Labels, Vec<(Timestamp, f64)>)> = Vec::new();
            for (k, l) in lines[i..block_end].iter().enumerate() {
                let (labels, values) =
                    parse_series_line(l).map_err(|e| format!("line {}: {e}", i + k + 1))?;
                let samples = values
                    .iter()
                    .enumerate()
                    .filter_map(|(slot, v)| v.as_f64().map(|v| (slot as i64 * interval, v)))
                    .collect();
                // A repeated label set replaces the earlier line.
                series.retain(|(l, _)| *l != labels);
                series.push((labels, samples));
            }
            i = block_end;
            cmds.push(Command::Load(series));
        } else if first.starts_with("eval") {
            let mut cmd = parse_eval_line(line, lineno)?;
            let mut expected = Vec::new();
            while i < lines.len() && !lines[i].is_empty() {
                let l = lines[i];
                i += 1;
                if let Ok(values) = parse_values(l) {
                    if let [SeriesValue::Value(v)] = values.as_slice() {
                        if l.split_whitespace().count() == 1 {
                            cmd.expected = Expected::Scalar(*v);
                            break;
                        }
                    }
                }
                let (labels, values) =
                    parse_series_line(l).map_err(|e| format!("line {i}: {e}"))?;
                let [v] = values.as_slice() else {
                    return Err(format!("line {i}: expected exactly one value"));
                };
                expected.push((labels, v.as_f64().unwrap_or(f64::NAN)));
            }
            if !matches!(cmd.expected, Expected::Scalar(_)) {
                cmd.expected = Expected::Vector(expected);
            }
            cmds.push(Command::Eval(cmd));
        } else {
            return Err(format!("line {lineno}: invalid command {line:?}"));
        }
    }
    Ok(cmds)
}

fn parse_eval_line(line: &str, lineno: usize) -> Result<EvalCmd, String> {
    let bad = || format!("line {lineno}: invalid eval command {line:?}");
    let (kind, rest) = line.split_once([' ', '\t']).ok_or_else(bad)?;
    let (fail, ordered) = match kind {
        "eval" => (false, false),
        "eval_fail" => (true, false),
        "eval_ordered" => (false, true),
        _ => return Err(bad()),
    };
    let rest = rest.trim_start();
    let rest = rest.strip_prefix("instant").ok_or_else(bad)?.trim_start();
    let rest = rest.strip_prefix("at").ok_or_else(bad)?.trim_start();
    let (at, expr) = rest.split_once([' ', '\t']).ok_or_else(bad)?;
    let at = parse_duration(at)
        .map_err(|e| format!("line {lineno}: {e}"))?
        .as_millis() as i64;
    Ok(EvalCmd {
        line: lineno,
        expr: expr.trim().to_string(),
        at,
        fail,
        ordered,
        expected: Expected::Vector(Vec::new()),
    })
}

/// Functions whose results depend on the evaluation time itself, for which
/// upstream skips the `@` invariance check.
const AT_UNSAFE_FUNCTIONS: &[&str] = &[
    "days_in_month",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "hour",
    "minute",
    "month",
    "year",
    "predict_linear",
    "time",
    "timestamp",
];

fn run_eval(engine: &Engine, storage: &dyn Queryable, cmd: &EvalCmd) -> Result<(), String> {
    let expr = parse(&cmd.expr).map_err(|e| format!("cannot parse: {e}"))?;
    run_at(engine, storage, cmd, &expr, cmd.at, "")?;
    if AT_UNSAFE_FUNCTIONS.iter().any(|f| calls_function(&expr, f)) {
        return Ok(());
    }
    let mut pinned = expr.clone();
    if !pin_at(&mut pinned, cmd.at) {
        return Ok(());
    }
    let t = cmd.at;
    let times: Vec<Timestamp> = if t == 0 {
        vec![-1000, 0, 1000]
    } else {
        vec![-10 * t, 0, t / 5, t, 10 * t]
    };
    for at in times {
        run_at(
            engine,
            storage,
            cmd,
            &pinned,
            at,
            &format!(
                " (pinned with @ {}, evaluated at {}ms)",
                format_float(t as f64 / 1000.0),
                at
            ),
        )?;
    }
    Ok(())
}

fn run_at(
    engine: &Engine,
    storage: &dyn Queryable,
    cmd: &EvalCmd,
    expr: &Expr,
    at: Timestamp,
    variant: &str,
) -> Result<(), String> {
    let opts = QueryOptions::default();
    let (res, _) = engine.instant_query_expr(storage, expr, at, &opts);
    let value = match (res, cmd.fail) {
        (Err(_), true) => return Ok(()),
        (Ok(v), true) => return Err(format!("expected an error{variant}, got {}", show(&v))),
        (Err(e), false) => return Err(format!("unexpected error{variant}: {e}")),
        (Ok(v), false) => v,
    };
    compare(&cmd.expected, &value, cmd.ordered).map_err(|e| format!("{e}{variant}"))?;
    let range = engine
        .range_query_expr(storage, expr, at - 60_000, at + 60_000, 60_000, &opts)
        .0
        .map_err(|e| format!("error in range mode{variant}: {e}"))?;
    if cmd.ordered {
        return Ok(()); // ordering is not defined for range queries
    }
    let Value::Matrix(series) = range else {
        return Err(format!("range mode gave a {}", range.result_type()));
    };
    let at_t: Vec<crate::value::VectorSample> = series
        .into_iter()
        .filter_map(|s| {
            s.samples
                .iter()
                .find(|p| p.t == at)
                .map(|p| crate::value::VectorSample {
                    labels: s.labels.clone(),
                    t: at,
                    v: p.v,
                })
        })
        .collect();
    let from_range = match value {
        Value::Scalar { .. } => Value::Scalar {
            t: at,
            v: at_t.first().map_or(f64::NAN, |s| s.v),
        },
        _ => Value::Vector(at_t),
    };
    compare(&cmd.expected, &from_range, false).map_err(|e| format!("in range mode{variant}: {e}"))
}

fn compare(expected: &Expected, got: &Value, ordered: bool) -> Result<(), String> {
    match (expected, got) {
        (Expected::Scalar(want), Value::Scalar { v, .. }) => {
            if almost_equal(*want, *v) {
                Ok(())
            } else {
                Err(format!(
                    "expected scalar {}, got {}",
                    format_float(*want),
                    format_float(*v)
                ))
            }
        }
        (Expected::Vector(want), Value::Vector(got)) => {
            for (pos, s) in got.iter().enumerate() {
                let Some(k) = want.iter().position(|(l, _)| *l == s.labels) else {
                    return Err(format!(
                        "unexpected series {} {} in result {}",
                        s.labels,
                        format_float(s.v),
                        show(&Value::Vector(got.clone()))
                    ));
                };
                if ordered && k != pos {
                    return Err(format!(
                        "expected {} at position {} but it was at {}",
                        s.labels,
                        k + 1,
                        pos + 1
                    ));
                }
                if !almost_equal(want[k].1, s.v) {
                    return Err(format!(
                        "expected {} for {}, got {}",
                        format_float(want[k].1),
                        s.labels,
                        format_float(s.v)
                    ));
                }
            }
            for (l, v) in want {
                if !got.iter().any(|s| s.labels == *l) {
                    return Err(format!(
                        "expected series {l} {} not found in result {}",
                        format_float(*v),
                        show(&Value::Vector(got.clone()))
                    ));
                }
            }
            Ok(())
        }
        (Expected::Scalar(_), other) => Err(format!("expected a scalar, got {}", show(other))),
        (Expected::Vector(_), other) => {
            Err(format!("expected an instant vector, got {}", show(other)))
        }
    }
}

fn show(v: &Value) -> String {
    let mut s = String::new();
    v.write_json(&mut s);
    if s.len() > 400 {
        let mut cut = 400;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Upstream's `almostEqual`: NaNs are equal, otherwise equal within a
/// relative error of 1e-6.
pub fn almost_equal(a: f64, b: f64) -> bool {
    const MIN_NORMAL: f64 = 2.2250738585072014e-308;
    const EPSILON: f64 = 1e-6;
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || diff < MIN_NORMAL {
        return diff < EPSILON * MIN_NORMAL;
    }
    diff / (a.abs() + b.abs()) < EPSILON
}

fn calls_function(e: &Expr, name: &str) -> bool {
    match e {
        Expr::Call(c) => c.func.name == name || c.args.args.iter().any(|a| calls_function(a, name)),
        Expr::Aggregate(a) => {
            calls_function(&a.expr, name)
                || a.param.as_deref().is_some_and(|p| calls_function(p, name))
        }
        Expr::Unary(u) => calls_function(&u.expr, name),
        Expr::Binary(b) => calls_function(&b.lhs, name) || calls_function(&b.rhs, name),
        Expr::Paren(p) => calls_function(&p.expr, name),
        Expr::Subquery(s) => calls_function(&s.expr, name),
        _ => false,
    }
}

fn at_modifier(t: Timestamp) -> AtModifier {
    let d = Duration::from_millis(t.unsigned_abs());
    let st: SystemTime = if t >= 0 {
        UNIX_EPOCH + d
    } else {
        UNIX_EPOCH - d
    };
    AtModifier::At(st)
}

/// Adds `@ t` to every selector and subquery without one (not inside
/// subqueries). Returns whether anything was pinned.
fn pin_at(e: &mut Expr, t: Timestamp) -> bool {
    match e {
        Expr::VectorSelector(vs) => {
            if vs.at.is_none() {
                vs.at = Some(at_modifier(t));
            }
            true
        }
        Expr::MatrixSelector(ms) => {
            if ms.vs.at.is_none() {
                ms.vs.at = Some(at_modifier(t));
            }
            true
        }
        Expr::Subquery(sq) => {
            if sq.at.is_none() {
                sq.at = Some(at_modifier(t));
            }
            true
        }
        Expr::Call(c) => {
            let mut any = false;
            for a in &mut c.args.args {
                any |= pin_at(a, t);
            }
            any
        }
        Expr::Aggregate(a) => {
            let p = a.param.as_deref_mut().is_some_and(|p| pin_at(p, t));
            pin_at(&mut a.expr, t) || p
        }
        Expr::Unary(u) => pin_at(&mut u.expr, t),
        Expr::Binary(b) => {
            let l = pin_at(&mut b.lhs, t);
            pin_at(&mut b.rhs, t) || l
        }
        Expr::Paren(p) => pin_at(&mut p.expr, t),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRIPT: &str = r#"
load 5m
  m{a="1"} 0+10x10
  m{a="2"} 0+20x10

# right
eval instant at 50m sum(m)
  {} 300

# wrong value
eval instant at 50m sum(m)
  {} 301

# a series missing from the expectations
eval instant at 50m m
  m{a="1"} 100

eval_fail instant at 50m sum(m)

eval instant at 50m 1 + 1
  2

eval_ordered instant at 50m sort_desc(m)
  m{a="1"} 100
  m{a="2"} 200

clear

eval instant at 50m m
"#;

    #[test]
    fn runner_reports_each_kind_of_mismatch() {
        let out = run_script(SCRIPT).unwrap();
        let failed: Vec<usize> = out
            .iter()
            .filter(|o| o.failure.is_some())
            .map(|o| o.line)
            .collect();
        assert_eq!(out.len(), 7);
        assert_eq!(failed, vec![11, 15, 18, 23], "{out:#?}");
        assert!(out[1].failure.as_deref().unwrap().contains("expected 301"));
        assert!(out[3]
            .failure
            .as_deref()
            .unwrap()
            .contains("expected an error"));
        assert!(out[5].failure.as_deref().unwrap().contains("position"));
    }

    #[test]
    fn malformed_scripts_are_errors() {
        assert!(run_script("bogus command").is_err());
        assert!(run_script("load 5m\n  m{a=~\"x\"} 1").is_err());
        assert!(run_script("eval instant at 5m").is_err());
    }

    #[test]
    fn almost_equal_is_relative() {
        assert!(almost_equal(f64::NAN, STALE));
        assert!(almost_equal(1.0, 1.0 + 1e-9));
        assert!(!almost_equal(1.0, 1.001));
        assert!(!almost_equal(0.0, 1e-300));
    }

    const STALE: f64 = sonde_model::STALE_NAN;
}
