//! `sonde tsdb import|dump|stats` as a user runs them: against files, a
//! server started on the imported directory, a running server's directory,
//! and promtool's `create-blocks-from openmetrics` and `dump` as the peer.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use common::peers;

/// Runs `sonde args` with `stdin`; returns (exit code, stdout, stderr).
fn sonde(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sonde"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> String {
    let (code, out, err) = sonde(args, b"");
    assert_eq!(code, 0, "sonde {args:?}: {out}{err}");
    out
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// OpenMetrics over `hours` ending an hour before `end_s`, one sample a
/// minute for four series (escapes, special values, millisecond times),
/// lines interleaved by time as an exporter's history would be.
fn openmetrics(end_s: i64, hours: i64) -> String {
    let mut s = String::from("# HELP m A gauge.\n# TYPE m gauge\n");
    let start = end_s - 3600 - hours * 3600;
    let mut counter = String::from("# TYPE c counter\n");
    for i in 0..hours * 60 {
        let t = start + i * 60;
        let v = match i % 5 {
            0 => "NaN".to_string(),
            1 => "+Inf".to_string(),
            2 => "1.5e-07".to_string(),
            3 => format!("{}", i as f64 * 0.25),
            _ => "-3e+21".to_string(),
        };
        s.push_str(&format!(
            "m{{job=\"a\",path=\"/x\\\"y\\\\z\\n\"}} {v} {t}.25\n"
        ));
        s.push_str(&format!("m{{job=\"b\"}} {} {t}\n", i % 7));
        counter.push_str(&format!("c_total{{k=\"v\"}} {} {t}\n", i * 10));
        counter.push_str(&format!("c_created{{k=\"v\"}} {start} {t}\n"));
    }
    s.push_str(&counter);
    s.push_str("# EOF\n");
    s
}

fn blocks_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn import_writes_blocks_that_dump_and_a_server_started_later_serve() {
    let tmp = tempfile::tempdir().unwrap();
    let end = now_s();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, openmetrics(end, 5)).unwrap();
    let data = tmp.path().join("data");
    let out = ok(&[
        "tsdb",
        "import",
        input.to_str().unwrap(),
        data.to_str().unwrap(),
    ]);
    assert!(out.contains("Imported 1200 samples"), "{out}");
    let blocks = blocks_in(&data);
    // Five hours in aligned 2h windows: three or four blocks, no staging left.
    assert!((3..=4).contains(&blocks.len()), "{blocks:?}");
    assert!(blocks.iter().all(|b| b.len() == 26), "{blocks:?}");

    let dump = ok(&["tsdb", "dump", data.to_str().unwrap()]);
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines.len(), 1200);
    assert!(
        lines[0].starts_with("{__name__=\"c_created\", k=\"v\"} "),
        "{}",
        lines[0]
    );
    let first_t = (end - 3600 - 5 * 3600) * 1000;
    assert!(
        dump.contains(&format!(
            "{{__name__=\"m\", job=\"a\", path=\"/x\\\"y\\\\z\\n\"}} NaN {}\n",
            first_t + 250
        )),
        "{dump}"
    );
    assert!(dump.contains(" 1.5e-07 ") && dump.contains(" -3e+21 ") && dump.contains(" +Inf "));

    // Selected and time-limited dumps.
    let dump = ok(&[
        "tsdb",
        "dump",
        data.to_str().unwrap(),
        "--match",
        "m{job=\"b\"}",
        "--match",
        "c_total",
        "--min-time",
        &first_t.to_string(),
        "--max-time",
        &(first_t + 59 * 60_000).to_string(),
    ]);
    assert_eq!(dump.lines().count(), 120, "{dump}");
    assert!(dump
        .lines()
        .all(|l| l.starts_with("{__name__=\"c_total\"")
            || l.starts_with("{__name__=\"m\", job=\"b\"}")));

    let stats: serde_json::Value = serde_json::from_str(&ok(&[
        "tsdb",
        "stats",
        data.to_str().unwrap(),
        "-o",
        "json",
    ]))
    .unwrap();
    assert_eq!(stats["total"]["series"], 4);
    assert_eq!(stats["total"]["samples"], 1200);
    assert_eq!(stats["head"]["samples"], 0);
    assert_eq!(
        stats["cardinality"]["seriesCountByMetricName"][0],
        serde_json::json!({"name": "m", "value": 2})
    );

    // A server on the directory serves every imported sample.
    let sonde = common::Sonde::start_in(tmp, &[]);
    let q = format!(
        "/api/v1/query?query=count_over_time(m%7Bjob%3D%22b%22%7D%5B6h%5D)&time={}",
        end
    );
    let v = common::get_json(&sonde.url(&q));
    assert_eq!(v["data"]["result"][0]["value"][1], "300", "{v}");
    let q = format!("/api/v1/query?query=c_total&time={}", end - 3600);
    let v = common::get_json(&sonde.url(&q));
    assert_eq!(v["data"]["result"][0]["value"][1], "2990", "{v}");
}

#[test]
fn import_reads_prometheus_text_from_stdin_and_sorts_late_samples() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let t = 1_700_000_000_000i64;
    let body = format!(
        "up{{job=\"x\"}} 1 {}\nup{{job=\"x\"}} 0 {t}\nup{{ job=\"x\" }} 1 {}\nup{{job=\"x\"}} 0 {t}\n",
        t + 15_000,
        t + 30_000
    );
    let (code, out, err) = sonde(
        &["tsdb", "import", "-", data.to_str().unwrap()],
        body.as_bytes(),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("(Prometheus text)"), "{out}");
    let dump = ok(&["tsdb", "dump", data.to_str().unwrap()]);
    assert_eq!(
        dump,
        format!(
            "{{__name__=\"up\", job=\"x\"}} 0 {t}\n{{__name__=\"up\", job=\"x\"}} 1 {}\n{{__name__=\"up\", job=\"x\"}} 1 {}\n",
            t + 15_000,
            t + 30_000
        )
    );
}

/// The import fails with `needle` in its message and leaves `data` empty.
fn import_fails(input: &str, needle: &str, extra: &[&str]) {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("bad.om");
    std::fs::write(&file, input).unwrap();
    let data = tmp.path().join("data");
    let mut args = vec![
        "tsdb",
        "import",
        file.to_str().unwrap(),
        data.to_str().unwrap(),
        "--max-samples-in-memory",
        "1",
    ];
    args.extend_from_slice(extra);
    let (code, out, err) = sonde(&args, b"");
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(err.contains("nothing was written to"), "{err}");
    assert_eq!(blocks_in(&data), Vec::<String>::new());
}

#[test]
fn import_errors_name_file_and_line_and_write_nothing() {
    import_fails(
        "a 1 1\na 2 2\nb 3\n# EOF\n",
        "bad.om:3: sample of b has no timestamp",
        &[],
    );
    import_fails("a 1 1\na{x=\"1\" 2 2\n# EOF\n", "bad.om:2: ", &[]);
    import_fails(
        "a 1 1\na 2 2\n",
        "bad.om:3: data does not end with # EOF",
        &["--format", "openmetrics"],
    );
    // The conflict is found in a later pass, after a first block was
    // written to the staging directory: still nothing in data/.
    import_fails(
        "a 1 1\na 1 8000\nb 1 8000.5\nb 2 9000\nb 3 8000.5\n# EOF\n",
        "bad.om:5: series {__name__=\"b\"} has two values at timestamp 8000500 ms: 1 and 3",
        &[],
    );
}

#[test]
fn stats_and_dump_read_the_directory_of_a_running_server() {
    let sonde = common::Sonde::start(&[]);
    let t = now_s() * 1000;
    let body = format!("pushed{{k=\"1\"}} 7 {t}\npushed{{k=\"2\"}} 8 {t}\n");
    let resp = reqwest::blocking::Client::new()
        .post(sonde.url("/api/v1/import/prometheus"))
        .body(body)
        .send()
        .unwrap();
    assert!(resp.status().is_success(), "{:?}", resp.text());
    let data = sonde.data_dir();
    let dump = ok(&["tsdb", "dump", data.to_str().unwrap(), "--match", "pushed"]);
    assert_eq!(
        dump,
        format!("{{__name__=\"pushed\", k=\"1\"}} 7 {t}\n{{__name__=\"pushed\", k=\"2\"}} 8 {t}\n")
    );
    // The self-scrape may already have written its ~75 metric names, so the
    // limit is wide enough that `pushed` (2 series) is always listed.
    let out = ok(&["tsdb", "stats", data.to_str().unwrap(), "--limit", "1000"]);
    assert!(out.contains("Highest cardinality metric names"), "{out}");
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("2  pushed")),
        "{out}"
    );
    // The server still works and still holds its lock.
    let v = common::get_json(&sonde.url("/api/v1/query?query=sum(pushed)"));
    assert_eq!(v["data"]["result"][0]["value"][1], "15", "{v}");
}

#[test]
fn dump_of_a_missing_directory_fails_without_creating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope");
    let (code, _, err) = sonde(&["tsdb", "dump", missing.to_str().unwrap()], b"");
    assert_eq!(code, 1);
    assert!(err.contains("nope"), "{err}");
    assert!(!missing.exists());
    let (code, _, err) = sonde(
        &[
            "tsdb",
            "dump",
            tmp.path().to_str().unwrap(),
            "--match",
            "up{",
        ],
        b"",
    );
    assert_eq!(code, 1);
    assert!(err.contains("invalid --match \"up{\""), "{err}");
}

#[test]
fn peer_promtool_imports_and_dumps_the_same_samples() {
    let Some(promtool) = peers::find("promtool") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.om");
    std::fs::write(&input, openmetrics(1_700_000_000, 30)).unwrap();
    let theirs = tmp.path().join("prom");
    let ours = tmp.path().join("sonde");
    let st = Command::new(&promtool)
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&input)
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // promtool 2.42's dump wants a WAL directory even for blocks only.
    std::fs::create_dir_all(theirs.join("wal")).unwrap();
    let st = Command::new(&promtool)
        .args(["tsdb", "dump"])
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    let expected = String::from_utf8(st.stdout).unwrap();

    ok(&[
        "tsdb",
        "import",
        input.to_str().unwrap(),
        ours.to_str().unwrap(),
    ]);
    let got = ok(&["tsdb", "dump", ours.to_str().unwrap()]);
    assert_eq!(got.lines().count(), 30 * 60 * 4);
    assert!(
        got == expected,
        "sonde and promtool dumps differ:\n{}",
        first_difference(&got, &expected)
    );
    // Same blocks: one per 2h window with data.
    let count = |d: &Path| blocks_in(d).iter().filter(|n| n.len() == 26).count();
    assert_eq!(count(&ours), count(&theirs));
}

fn first_difference(a: &str, b: &str) -> String {
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            return format!("line {}: sonde {x:?}, promtool {y:?}", i + 1);
        }
    }
    format!("lengths {} and {}", a.lines().count(), b.lines().count())
}
