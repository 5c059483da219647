//! Relabeling: the rule type with Prometheus 2.42's defaults and validation
//! ([`RelabelConfig`]), and its application to label sets ([`process`],
//! [`process_builder`]). Scraping (target and metric relabeling), remote
//! write and alerting all use it.
//!
//! A [`RelabelConfig`] is immutable after loading and can be shared between
//! threads; applying rules needs only `&self`.

mod config;
mod expand;
mod process;
#[cfg(test)]
mod tests;

pub use config::{Action, RelabelConfig};
pub use expand::expand;
pub use process::{process, process_builder, process_with, RelabelScratch};
