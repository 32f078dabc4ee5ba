//! Transforms between parsing and storing: what duckmarc works out from a report.

pub mod alignment;
pub mod coverage;
