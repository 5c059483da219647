//! Output helpers shared by the `tsdb` commands: aligned tables, times,
//! byte sizes, and the size of a directory on disk.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// A table printed with its columns aligned; numbers right-aligned.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for (i, row) in self.rows.iter().enumerate() {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                let numeric = i > 0 && cell.starts_with(|ch: char| ch.is_ascii_digit());
                let w = width[c];
                let _ = match (numeric, c + 1 == row.len()) {
                    (true, _) => write!(line, "{cell:>w$}  "),
                    (false, false) => write!(line, "{cell:<w$}  "),
                    (false, true) => write!(line, "{cell}"),
                };
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A millisecond timestamp as RFC 3339 UTC with milliseconds.
pub fn time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| ms.to_string())
}

/// A span of milliseconds as Prometheus writes durations (`2h`, `1d6h`).
pub fn span(ms: i64) -> String {
    sonde_model::format_duration(Duration::from_millis(ms.max(0) as u64))
}

/// Bytes in binary units with three significant digits: `812B`, `1.73MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n}B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let prec = if v < 10.0 {
        2
    } else if v < 100.0 {
        1
    } else {
        0
    };
    format!("{v:.prec$}{}", UNITS[unit])
}

/// `bytes / samples` with two decimals, or `-` without samples.
pub fn per_sample(bytes: u64, samples: u64) -> String {
    if samples == 0 {
        "-".to_string()
    } else {
        format!("{:.2}", bytes as f64 / samples as f64)
    }
}

/// Total size of the regular files under `dir` (0 when it is missing).
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.filter_map(Result::ok)
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_numbers_go_right() {
        let mut t = Table::new(&["NAME", "SERIES"]);
        t.row(vec!["up".into(), "3".into()]);
        t.row(vec!["node_cpu".into(), "1200".into()]);
        assert_eq!(
            t.render(),
            "NAME      SERIES\nup             3\nnode_cpu    1200\n"
        );
    }

    #[test]
    fn units() {
        assert_eq!(bytes(812), "812B");
        assert_eq!(bytes(1536), "1.50KiB");
        assert_eq!(bytes(150 << 20), "150MiB");
        assert_eq!(time(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(span(7_200_000), "2h");
        assert_eq!(per_sample(173, 100), "1.73");
        assert_eq!(per_sample(1, 0), "-");
    }
}
