//! `sonde check config|metrics`: validation like `promtool check`, with the
//! file and line of every problem and promtool's exit codes (0 valid, 1
//! invalid, 3 valid but with lint problems).

use std::io::Read;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use sonde_exposition::{check_metrics, Format, Severity};

/// promtool's exit code when a file is valid but breaks a lint rule.
const LINT_EXIT_CODE: u8 = 3;

#[derive(Debug, Subcommand)]
pub enum CheckCommand {
    /// Check configuration files (prometheus.yml syntax plus Sonde's sections).
    Config(ConfigArgs),
    /// Check and lint metrics in the text exposition formats, read from FILE or standard input.
    Metrics(MetricsArgs),
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// The configuration files to check.
    #[arg(required = true)]
    pub files: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum MetricsFormat {
    Prometheus,
    Openmetrics,
}

#[derive(Debug, Args)]
pub struct MetricsArgs {
    /// The format to check against.
    #[arg(long, value_enum, default_value = "prometheus")]
    pub format: MetricsFormat,
    /// The file to check; standard input when absent.
    pub file: Option<String>,
}

pub fn run(cmd: CheckCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CheckCommand::Config(args) => Ok(check_config(&args.files)),
        CheckCommand::Metrics(args) => check_metrics_file(&args),
    }
}

fn check_config(files: &[String]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Checking {file}");
        match sonde_config::load_file(file) {
            Ok(config) => {
                println!(" SUCCESS: {file} is valid prometheus config file syntax");
                for warning in config.web.not_applied_warnings() {
                    println!(" WARNING: {warning}");
                }
                for rules in &config.rule_files {
                    println!("  rule files: {rules}");
                }
            }
            Err(e) => {
                failed = true;
                println!(" FAILED:\n{e}");
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn check_metrics_file(args: &MetricsArgs) -> anyhow::Result<ExitCode> {
    let (name, body) = match &args.file {
        Some(path) => (
            path.clone(),
            std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {path}: {e}"))?,
        ),
        None => {
            let mut body = Vec::new();
            std::io::stdin()
                .read_to_end(&mut body)
                .map_err(|e| anyhow::anyhow!("cannot read standard input: {e}"))?;
            ("<stdin>".to_string(), body)
        }
    };
    let format = match args.format {
        MetricsFormat::Prometheus => Format::PrometheusText,
        MetricsFormat::Openmetrics => Format::OpenMetrics,
    };
    let problems = check_metrics(&body, format);
    for p in &problems {
        eprintln!("{name}:{p}");
    }
    Ok(if problems.iter().any(|p| p.severity == Severity::Error) {
        ExitCode::FAILURE
    } else if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(LINT_EXIT_CODE)
    })
}
