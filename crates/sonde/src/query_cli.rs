//! `sonde query EXPR`: runs a PromQL query against a server's HTTP API and
//! prints the result as a table (or the API's JSON with `-o json`). With
//! `--start`, `--end` and `--step` it is a range query.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::Value;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The PromQL expression.
    pub expr: String,
    /// The server to ask (Sonde or Prometheus).
    #[arg(long, default_value = "http://localhost:9090")]
    pub server: String,
    /// Evaluation time of an instant query (Unix seconds or RFC 3339); default now.
    #[arg(long)]
    pub time: Option<String>,
    /// Start of a range query (Unix seconds or RFC 3339).
    #[arg(long, requires_all = ["end", "step"])]
    pub start: Option<String>,
    /// End of a range query.
    #[arg(long, requires_all = ["start", "step"])]
    pub end: Option<String>,
    /// Step of a range query (seconds or a duration such as 15s).
    #[arg(long, requires_all = ["start", "end"])]
    pub step: Option<String>,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Output,
}

pub fn run(args: QueryArgs) -> anyhow::Result<ExitCode> {
    let base = args.server.trim_end_matches('/');
    let mut form = vec![("query", args.expr.clone())];
    let url = if let (Some(start), Some(end), Some(step)) = (&args.start, &args.end, &args.step) {
        form.extend([
            ("start", start.clone()),
            ("end", end.clone()),
            ("step", step.clone()),
        ]);
        format!("{base}/api/v1/query_range")
    } else {
        form.extend(args.time.clone().map(|t| ("time", t)));
        format!("{base}/api/v1/query")
    };
    let response = reqwest::blocking::Client::new()
        .post(&url)
        .form(&form)
        .send()
        .with_context(|| format!("cannot reach {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .with_context(|| format!("{url} answered {status} with a body that is not JSON"))?;
    if body["status"] != "success" {
        eprintln!(
            "query failed ({status}, {}): {}",
            body["errorType"].as_str().unwrap_or("unknown"),
            body["error"].as_str().unwrap_or("no message")
        );
        return Ok(ExitCode::FAILURE);
    }
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&body["data"])?),
        Output::Table => print!("{}", table(&body["data"])),
    }
    Ok(ExitCode::SUCCESS)
}

/// `name{a="1", b="2"}` for a JSON label object.
fn series_name(metric: &Value) -> String {
    let Some(map) = metric.as_object() else {
        return String::new();
    };
    let name = map.get("__name__").and_then(Value::as_str).unwrap_or("");
    let labels: Vec<String> = map
        .iter()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}={}", v))
        .collect();
    if labels.is_empty() && !name.is_empty() {
        name.to_string()
    } else {
        format!("{name}{{{}}}", labels.join(", "))
    }
}

/// `[time, "value"]` as `value @time`.
fn point(p: &Value) -> (String, String) {
    let t = p[0].as_f64().map(|t| format!("{t}")).unwrap_or_default();
    let v = p[1].as_str().unwrap_or("").to_string();
    (t, v)
}

/// The result laid out as aligned columns.
fn table(data: &Value) -> String {
    let mut rows: Vec<[String; 3]> = vec![["SERIES".into(), "VALUE".into(), "TIME".into()]];
    match data["resultType"].as_str() {
        Some("vector") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let (t, v) = point(&s["value"]);
                rows.push([series_name(&s["metric"]), v, t]);
            }
        }
        Some("matrix") => {
            for s in data["result"].as_array().into_iter().flatten() {
                let name = series_name(&s["metric"]);
                for (i, p) in s["values"].as_array().into_iter().flatten().enumerate() {
                    let (t, v) = point(p);
                    rows.push([if i == 0 { name.clone() } else { String::new() }, v, t]);
                }
            }
        }
        Some("scalar") | Some("string") => {
            let (t, v) = point(&data["result"]);
            rows.push([data["resultType"].as_str().unwrap_or("").into(), v, t]);
        }
        _ => return format!("{data}\n"),
    }
    let widths: Vec<usize> = (0..3)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in &rows {
        let _ = writeln!(
            out,
            "{:<w0$}  {:>w1$}  {}",
            r[0],
            r[1],
            r[2],
            w0 = widths[0],
            w1 = widths[1]
        );
    }
    if rows.len() == 1 {
        out.push_str("(empty result)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_table_is_aligned() {
        let data: Value = serde_json::from_str(
            r#"{"resultType":"vector","result":[
                {"metric":{"__name__":"up","job":"node"},"value":[10,"1"]},
                {"metric":{"job":"sonde-long-name"},"value":[10,"0.5"]}]}"#,
        )
        .unwrap();
        let t = table(&data);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].starts_with("SERIES"), "{t}");
        assert!(lines[1].starts_with("up{job=\"node\"} "), "{t}");
        assert!(lines[2].starts_with("{job=\"sonde-long-name\"} "), "{t}");
        // Values are right-aligned: their last characters share a column.
        let value_end = |line: &str, v: &str| line.find(&format!("{v}  10")).unwrap() + v.len();
        assert_eq!(value_end(lines[1], "1"), value_end(lines[2], "0.5"), "{t}");
    }

    #[test]
    fn matrix_names_each_series_once() {
        let data: Value = serde_json::from_str(
            r#"{"resultType":"matrix","result":[{"metric":{"__name__":"x"},"values":[[1,"1"],[2,"2"]]}]}"#,
        )
        .unwrap();
        let t = table(&data);
        assert_eq!(t.lines().count(), 3);
        assert!(t.lines().nth(2).unwrap().starts_with("   "), "{t}");
    }
}
