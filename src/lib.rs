//! duckmarc: DMARC reports in, answers out.
//!
//! The pipeline reads top to bottom, one module per stage:
//! [`source`] (files, watched folders, IMAP) -> [`authenticity`] (is a report e-mail
//! genuine) -> [`unpack`] (e-mail, gzip, zip) ->
//! [`parse`] (detect the kind, parse it into [`model`] types) -> [`transform`] (alignment) ->
//! [`store`] (DuckDB) -> [`enrich`] (who each source is, after the commit) -> [`views`] (SQL
//! in `queries/`) -> [`render`] (table, CSV, JSON, HTML). [`pipeline`] runs the first five
//! for any source, then `enrich`; [`memory`] tunes when freed memory goes back to the system.
//! See ARCHITECTURE.md.

pub mod authenticity;
pub mod check;
pub mod enrich;
pub mod memory;
pub mod model;
pub mod parse;
pub mod pipeline;
pub mod render;
pub mod source;
pub mod store;
pub mod transform;
pub mod unpack;
pub mod views;
