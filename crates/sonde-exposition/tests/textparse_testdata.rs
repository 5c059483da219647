//! Prometheus 2.42's own parser fixtures (shared/reference/prometheus-v2.42.0/
//! textparse-testdata): both files parse in both formats with 410 samples,
//! in file order, with a HELP and TYPE before every family in the full file.

mod common;

use sonde_exposition::{validate, Entry, Format, Mode, Parser, Scratch};

fn read(name: &str) -> Vec<u8> {
    std::fs::read(
        common::reference_dir()
            .join("prometheus-v2.42.0/textparse-testdata")
            .join(name),
    )
    .expect("read fixture")
}

#[test]
fn both_files_parse_in_both_formats_with_410_samples() {
    let mut scratch = Scratch::new();
    for file in ["promtestdata.txt", "promtestdata.nometa.txt"] {
        let body = read(file);
        for format in [Format::PrometheusText, Format::OpenMetrics] {
            let n = validate(&body, format, Mode::Scrape, &mut scratch)
                .unwrap_or_else(|e| panic!("{file} {format:?}: {e}"));
            assert_eq!(n, 410, "{file} {format:?}");
        }
        // As the Prometheus text format the files are also valid in strict mode.
        let n = validate(&body, Format::PrometheusText, Mode::Strict, &mut scratch)
            .unwrap_or_else(|e| panic!("{file} strict: {e}"));
        assert_eq!(n, 410);
    }
}

#[test]
fn samples_come_in_file_order_with_their_metadata() {
    let body = read("promtestdata.txt");
    let sample_lines: Vec<&[u8]> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty() && l[0] != b'#')
        .collect();
    assert_eq!(sample_lines.len(), 410);
    let mut scratch = Scratch::new();
    let mut p = Parser::new(&body, Format::PrometheusText, Mode::Scrape, &mut scratch);
    let (mut helped, mut typed) = (String::new(), String::new());
    let mut i = 0;
    let mut nans = 0;
    while let Some(e) = p.next().expect("parses") {
        match e {
            Entry::Help { name, .. } => helped = name.to_string(),
            Entry::Type { name, .. } => typed = name.to_string(),
            Entry::Sample(s) => {
                let line = sample_lines[i];
                assert!(
                    line.starts_with(s.series),
                    "sample {i}: {:?} vs {:?}",
                    String::from_utf8_lossy(s.series),
                    String::from_utf8_lossy(line)
                );
                let family = s.name.trim_end_matches("_sum").trim_end_matches("_count");
                assert!(
                    helped == s.name || helped == family,
                    "HELP before {}",
                    s.name
                );
                assert!(typed == s.name || typed == family, "TYPE before {}", s.name);
                nans += usize::from(s.value.is_nan());
                i += 1;
            }
            _ => {}
        }
    }
    assert_eq!(i, 410);
    assert!(nans > 0, "the fixture has NaN quantiles");
}
