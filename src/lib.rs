//! duckmarc: DMARC aggregate reports in, answers out.
//!
//! The pipeline reads top to bottom, one module per stage:
//! [`source`] (files) -> [`unpack`] (e-mail, gzip, zip) -> [`parse`] (XML -> [`model`]) ->
//! [`store`] (DuckDB) -> [`analyze`] (SQL in `queries/`) -> [`render`] (table, CSV, JSON).
//! [`ingest`] drives the first four stages.

pub mod analyze;
pub mod config;
pub mod ingest;
pub mod model;
pub mod parse;
pub mod render;
pub mod source;
pub mod store;
pub mod unpack;
