//! sonde-web: see ../../README.md and DESIGN.md.
