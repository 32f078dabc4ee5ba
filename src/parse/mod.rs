//! Bytes of one XML document -> typed reports.

mod aggregate;
mod encoding;

pub use aggregate::{parse_aggregate, ParseError};
