//! `duckmarc alerts`: what changed since the last run, for cron. The SQL is in
//! queries/alerts.sql (what to raise) and queries/alerts_record.sql (the state the next run
//! compares with); the state is written only once the alerts are delivered.

use super::reports::{self, Filters};
use super::table::{self, Table};
use anyhow::Result;
use duckdb::Connection;

const ALERTS: &str = include_str!("../../queries/alerts.sql");
const RECORD: &str = include_str!("../../queries/alerts_record.sql");
const POLICIES: &str = include_str!("../../queries/alert_policies.sql");

/// When an alert is raised (README: "Alerts").
#[derive(Debug, Clone)]
pub struct Thresholds {
    /// A drop of the DMARC pass rate, as a fraction (0.10: 10 points), against the 14 days
    /// before.
    pub drop: f64,
    /// Fewest messages on the day and in the baseline for a pass-rate comparison.
    pub min_messages: u64,
    /// Days without a report from a usual reporter.
    pub silent_days: u32,
    /// Hours without any report arriving.
    pub stopped_hours: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            drop: 0.10,
            min_messages: 50,
            silent_days: 3,
            stopped_hours: 48,
        }
    }
}

/// The alerts of this run; `now` is epoch seconds (UTC).
pub fn find(
    conn: &Connection,
    filters: &Filters,
    thresholds: &Thresholds,
    now: i64,
) -> Result<Table> {
    reports::select(conn, filters)?;
    conn.execute_batch(&format!(
        "SET VARIABLE drop_threshold = {}; SET VARIABLE min_messages = {};
         SET VARIABLE silent_days = {}; SET VARIABLE stopped_hours = {};",
        thresholds.drop, thresholds.min_messages, thresholds.silent_days, thresholds.stopped_hours,
    ))?;
    set_now_and_policies(conn, now)?;
    table::run(conn, ALERTS)
}

/// What both halves of a run need, on whichever connection they get.
fn set_now_and_policies(conn: &Connection, now: i64) -> Result<()> {
    conn.execute_batch(&format!(
        "SET VARIABLE now = make_timestamp({}::BIGINT);",
        now * 1_000_000
    ))?;
    conn.execute_batch(POLICIES)?;
    Ok(())
}

/// Remembers this run (what was seen, what was raised) for the next, in one transaction.
pub fn record(conn: &Connection, alerts: &Table, now: i64) -> Result<()> {
    set_now_and_policies(conn, now)?;
    conn.execute_batch(
        "BEGIN TRANSACTION;
         CREATE OR REPLACE TEMP TABLE raised (kind VARCHAR, subject VARCHAR, value VARCHAR);",
    )?;
    let recorded = (|| -> Result<()> {
        let mut insert = conn.prepare("INSERT INTO raised VALUES (?, ?, ?)")?;
        for alert in alerts.to_objects() {
            let text = |key: &str| alert.get(key).and_then(|v| v.as_str()).map(String::from);
            insert.execute(duckdb::params![
                text("kind"),
                text("subject"),
                text("value")
            ])?;
        }
        conn.execute_batch(RECORD)?;
        conn.execute_batch("COMMIT")?;
        Ok(())
    })();
    if recorded.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    recorded
}
