//! The built-in views of the database: SQL from `queries/`, one file per report.

pub mod alerts;
pub mod filters;
pub mod reports;
pub mod site;
pub mod table;

use anyhow::Result;
use duckdb::Connection;
use table::Table;

const STATS: &str = include_str!("../../queries/stats.sql");

/// Whole-database totals (`duckmarc stats`).
pub fn stats(conn: &Connection) -> Result<Table> {
    table::run(conn, STATS)
}
