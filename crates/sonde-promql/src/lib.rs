//! sonde-promql: see ../../README.md and DESIGN.md.
