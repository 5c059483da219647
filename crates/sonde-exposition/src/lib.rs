//! sonde-exposition: see ../../README.md and DESIGN.md.
