//! Prometheus text format 0.0.4 and OpenMetrics 1.0: parsers for the scrape
//! hot path and for validation, encoders for Sonde's own `/metrics` and
//! `/federate`, content negotiation and gzip.
//!
//! * [`Parser`] is a pull parser over a `&[u8]` body yielding borrowed
//!   [`Entry`] values; [`Mode::Scrape`] accepts exactly what a Prometheus
//!   2.42 scrape accepts, [`Mode::Strict`] what the specification allows.
//! * [`check_metrics`] lints a body like `promtool check metrics`.
//! * [`encode`] writes families into a caller-owned `Vec<u8>`.
//! * [`format_for_content_type`], [`negotiate_response_format`] and
//!   [`SCRAPE_ACCEPT_HEADER`] pick formats as Prometheus does.
//! * [`gzip`] decodes with a size limit and encodes.
//!
//! The format notes are in `docs/format/exposition.md`.

pub mod check;
pub mod encode;
mod entry;
mod error;
mod family_rules;
mod float;
pub mod gzip;
mod lexer;
mod negotiate;
mod om_lexer;
mod openmetrics;
mod parser;
mod prom_lexer;
mod prom_text;
mod raw;
pub mod scrape_check;
mod strict;

pub use check::{check_metrics, Problem, Severity};
pub use entry::{Entry, ExemplarRef, LabelsRef, SampleRef, Scratch, NORMAL_NAN_BITS};
pub use error::{GzipError, ParseError};
pub use negotiate::{
    format_for_content_type, negotiate_response_format, Format, SCRAPE_ACCEPT_HEADER,
};
pub use openmetrics::EXEMPLAR_MAX_LABEL_CHARS;
pub use parser::{validate, Mode, Parser};
pub use strict::FamilyInfo;
