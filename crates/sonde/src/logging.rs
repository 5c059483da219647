//! Log output as `--log.level` and `--log.format` ask: logfmt
//! (`ts=... level=info target=... msg="..." key=value`, as Prometheus logs) or
//! JSON, on standard error.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::{LogFormat, LogLevel};

pub fn init(level: LogLevel, format: LogFormat) {
    let level = match level {
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Error => LevelFilter::ERROR,
    };
    // A second init (two servers in one test process) keeps the first logger.
    let _ = match format {
        LogFormat::Logfmt => tracing_subscriber::registry()
            .with(level)
            .with(
                tracing_logfmt::builder()
                    .layer()
                    .with_writer(std::io::stderr),
            )
            .try_init(),
        LogFormat::Json => fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .json()
            .finish()
            .try_init(),
    };
}
