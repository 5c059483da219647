//! sonde-tsdb: see ../../README.md and DESIGN.md.
