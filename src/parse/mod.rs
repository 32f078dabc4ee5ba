//! Bytes of one XML document -> typed reports.

mod aggregate;
pub mod bounds;
mod encoding;

pub use aggregate::{parse_aggregate, parse_aggregates, ParseError};
