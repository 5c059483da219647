//! sonde-config: see ../../README.md and DESIGN.md.
