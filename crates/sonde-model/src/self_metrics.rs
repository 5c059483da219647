//! One value of a component's own metric (the `sonde_*` families at
//! `/metrics`), as the component reports it when scraped. Components count
//! with atomics and hand out these values; the binary encodes them, so no
//! component needs a metrics library of its own.

/// One exported value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue {
    /// Full name, e.g. `sonde_scrape_errors_total`.
    pub name: &'static str,
    pub help: &'static str,
    /// `counter` or `gauge`.
    pub kind: &'static str,
    /// Label pairs, e.g. `[("kind", "timeout")]`.
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}
