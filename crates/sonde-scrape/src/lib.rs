//! sonde-scrape: see ../../README.md and DESIGN.md.
