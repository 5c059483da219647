//! The input of `sonde tsdb import`: a file mapped into memory (standard
//! input is first copied to a file in the staging directory), its format,
//! and the walk over its samples that every pass of the import makes.
//!
//! Memory: the input is a read-only file mapping, so its pages are the
//! page cache's, not the process' own; only the parser's scratch buffers
//! are allocated.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::ValueEnum;
use sonde_exposition::{Entry, Format, Mode, Parser, SampleRef, Scratch};
use sonde_tsdb::mmap::MappedFile;

/// The `--format` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InputFormat {
    /// OpenMetrics when the input ends with `# EOF`, else Prometheus text.
    Auto,
    /// OpenMetrics 1.0 (timestamps in seconds), as promtool requires.
    Openmetrics,
    /// Prometheus text format 0.0.4 (timestamps in milliseconds).
    Prometheus,
}

pub struct Input {
    /// What error messages call the input: the path, or `<stdin>`.
    pub name: String,
    map: MappedFile,
}

impl Input {
    /// Maps `path`; `-` copies standard input to `spool` first.
    pub fn open(path: &str, spool: &Path) -> anyhow::Result<Input> {
        let (name, file) = if path == "-" {
            let mut f = fs::File::create(spool)
                .with_context(|| format!("cannot create {}", spool.display()))?;
            io::copy(&mut io::stdin().lock(), &mut f)
                .with_context(|| format!("cannot copy standard input to {}", spool.display()))?;
            ("<stdin>".to_string(), spool.to_path_buf())
        } else {
            (path.to_string(), PathBuf::from(path))
        };
        let map = MappedFile::open(&file).with_context(|| format!("cannot read input {name}"))?;
        Ok(Input { name, map })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }

    pub fn format(&self, flag: InputFormat) -> Format {
        match flag {
            InputFormat::Openmetrics => Format::OpenMetrics,
            InputFormat::Prometheus => Format::PrometheusText,
            InputFormat::Auto => {
                let b = self.bytes().trim_ascii_end();
                if b.ends_with(b"# EOF") {
                    Format::OpenMetrics
                } else {
                    Format::PrometheusText
                }
            }
        }
    }

    /// 1-based line number of byte offset `off`.
    pub fn line_of(&self, off: usize) -> usize {
        let b = self.bytes();
        1 + b[..off.min(b.len())]
            .iter()
            .filter(|&&c| c == b'\n')
            .count()
    }

    /// `name:line`.
    pub fn at(&self, off: usize) -> String {
        format!("{}:{}", self.name, self.line_of(off))
    }
}

/// Offset of the start of the line holding byte `off`.
pub fn line_start(body: &[u8], off: usize) -> usize {
    body[..off.min(body.len())]
        .iter()
        .rposition(|&c| c == b'\n')
        .map_or(0, |p| p + 1)
}

/// Offset just past the end (newline included) of the line holding `off`.
pub fn line_end(body: &[u8], off: usize) -> usize {
    body[off.min(body.len())..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(body.len(), |p| off + p + 1)
}

/// What the walk hands on for each sample: the sample and the offset of
/// its first byte in the whole input.
pub type OnSample<'f> = dyn FnMut(&SampleRef<'_>, usize) -> anyhow::Result<()> + 'f;

/// Parses `input` from byte `start` (a line start) and calls `on_sample`
/// for every sample until one starts at or after `end`. The first pass
/// walks everything (`start` 0, `end` the length) and so validates the
/// whole input; later passes walk ranges of lines that parsed before.
/// Progress is reported to `progress` as the offset reached.
pub fn walk(
    input: &Input,
    format: Format,
    start: usize,
    end: usize,
    scratch: &mut Scratch,
    progress: &mut dyn FnMut(usize),
    on_sample: &mut OnSample<'_>,
) -> anyhow::Result<()> {
    let body = input.bytes();
    let part = &body[start..];
    let base = part.as_ptr() as usize;
    // Duplicated label names are an error: there is no target to override them.
    let mut parser = Parser::new(part, format, Mode::Scrape, scratch).with_target_labels(&[]);
    let mut n = 0u64;
    loop {
        let entry = match parser.next() {
            Ok(Some(e)) => e,
            Ok(None) => return Ok(()),
            Err(e) => {
                let line = input.line_of(start) - 1 + e.line;
                anyhow::bail!(
                    "{}:{line}: {}; expected {} ({} input)",
                    input.name,
                    e.what,
                    e.expected,
                    format_name(format)
                );
            }
        };
        let Entry::Sample(s) = entry else { continue };
        let off = start + (s.series.as_ptr() as usize - base);
        if off >= end {
            return Ok(());
        }
        n += 1;
        if n % 4096 == 0 {
            progress(off);
        }
        on_sample(&s, off)?;
    }
}

pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::OpenMetrics => "OpenMetrics",
        _ => "Prometheus text",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines() {
        let b = b"a 1\nbb 2\nc 3";
        assert_eq!(line_start(b, 6), 4);
        assert_eq!(line_end(b, 6), 9);
        assert_eq!(line_end(b, 10), 12);
        assert_eq!(line_start(b, 2), 0);
    }
}
