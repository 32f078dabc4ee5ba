//! `duckmarc alerts`: what changed since the last run, for cron. The SQL is in
//! queries/alert_views.sql (what a run reads), queries/alerts.sql (what to raise) and
//! queries/alerts_record.sql (the state the next run compares with).
//!
//! A run is one snapshot: its alerts and what it will record are read in one transaction
//! ([`find`]), and [`record`] stores exactly that once the alerts are delivered, whatever
//! arrived meanwhile. State is kept per scope, the run's filters: `alerts --domain a` neither
//! records nor compares what `alerts --domain b` saw.

use super::filters::Filters;
use super::reports;
use super::table::{self, Table};
use anyhow::Result;
use duckdb::Connection;

const VIEWS: &str = include_str!("../../queries/alert_views.sql");
const ALERTS: &str = include_str!("../../queries/alerts.sql");
const RECORD: &str = include_str!("../../queries/alerts_record.sql");
const STATE_UPGRADE: &str = include_str!("../../queries/alert_state_upgrade.sql");

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
    /// Hours after a day ends when it is judged even if a usual reporter has not reported it.
    pub complete_hours: u32,
    /// Share of a domain's mail (a fraction) a DKIM key must have signed for its silence to
    /// be raised.
    pub selector_share: f64,
    /// Share of a day's SMTP TLS sessions to a policy domain (a fraction) that must fail for
    /// the day to be raised.
    pub tls_failure: f64,
    /// Fewest failed SMTP TLS sessions on a day for it to be raised.
    pub tls_min_failures: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            drop: 0.10,
            min_messages: 50,
            silent_days: 3,
            stopped_hours: 48,
            complete_hours: 48,
            selector_share: 0.10,
            tls_failure: 0.05,
            tls_min_failures: 5,
        }
    }
}

/// One run: its alerts, and what it saw, for [`record`].
#[derive(Debug, Clone)]
pub struct AlertRun {
    pub alerts: Table,
    /// (kind, item, domain, value, as_of) of alert_views.sql's `seen_now`.
    seen: Vec<[Option<String>; 5]>,
    scope: String,
}

/// The alerts of this run and what it saw, from one snapshot; `now` is epoch microseconds
/// (UTC).
pub fn find(
    conn: &Connection,
    filters: &Filters,
    thresholds: &Thresholds,
    now: i64,
) -> Result<AlertRun> {
    upgrade_state(conn)?;
    conn.execute_batch("BEGIN TRANSACTION")?;
    let found = (|| -> Result<AlertRun> {
        reports::select(conn, filters)?;
        conn.execute_batch(&format!(
            "SET VARIABLE drop_threshold = {}; SET VARIABLE min_messages = {};
             SET VARIABLE silent_days = {}; SET VARIABLE stopped_hours = {};
             SET VARIABLE complete_hours = {}; SET VARIABLE selector_share = {};
             SET VARIABLE tls_failure_threshold = {}; SET VARIABLE tls_min_failures = {};",
            thresholds.drop,
            thresholds.min_messages,
            thresholds.silent_days,
            thresholds.stopped_hours,
            thresholds.complete_hours,
            thresholds.selector_share,
            thresholds.tls_failure,
            thresholds.tls_min_failures,
        ))?;
        let scope = filters.scope();
        set_run(conn, now, &scope)?;
        conn.execute_batch(VIEWS)?;
        let alerts = table::run(conn, ALERTS)?;
        let mut statement =
            conn.prepare("SELECT kind, item, domain, value, CAST(as_of AS VARCHAR) FROM seen_now")?;
        let seen = statement
            .query_map([], |row| {
                Ok([
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ])
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AlertRun {
            alerts,
            seen,
            scope,
        })
    })();
    // Read only: nothing to keep.
    let _ = conn.execute_batch("ROLLBACK");
    found
}

/// Brings alert state recorded by an older duckmarc up to what the queries compare with
/// (queries/alert_state_upgrade.sql), once: a run checks for such rows only.
fn upgrade_state(conn: &Connection) -> Result<()> {
    let older: bool = conn.query_row(
        "SELECT count(*) > 0 FROM alert_seen WHERE kind IN ('source', 'sender') AND domain IS NULL",
        [],
        |row| row.get(0),
    )?;
    if older {
        crate::store::in_transaction(conn, |conn| Ok(conn.execute_batch(STATE_UPGRADE)?))?;
    }
    Ok(())
}

/// The run's time and scope, for both halves of a run, on whichever connection they get.
fn set_run(conn: &Connection, now: i64, scope: &str) -> Result<()> {
    conn.execute_batch(&format!(
        "SET VARIABLE now = make_timestamp({}::BIGINT);
         SET VARIABLE alert_scope = {};",
        now,
        reports::sql_string(scope)
    ))?;
    Ok(())
}

/// Remembers this run (what it saw, what it raised) for the next in its scope, in one
/// transaction.
pub fn record(conn: &Connection, run: &AlertRun, now: i64) -> Result<()> {
    set_run(conn, now, &run.scope)?;
    crate::store::in_transaction(conn, |conn| {
        conn.execute_batch(
            "CREATE OR REPLACE TEMP TABLE raised
                 (kind VARCHAR, domain VARCHAR, subject VARCHAR, value VARCHAR);
             CREATE OR REPLACE TEMP TABLE seen_then
                 (kind VARCHAR, item VARCHAR, domain VARCHAR, value VARCHAR, as_of VARCHAR);",
        )?;
        let mut raised = conn.appender_to_catalog_and_db("raised", "temp", "main")?;
        for alert in run.alerts.to_objects() {
            let text = |key: &str| alert.get(key).and_then(|v| v.as_str()).map(String::from);
            raised.append_row([text("kind"), text("domain"), text("subject"), text("value")])?;
        }
        raised.flush()?;
        let mut seen = conn.appender_to_catalog_and_db("seen_then", "temp", "main")?;
        for row in &run.seen {
            seen.append_row(row.clone())?;
        }
        seen.flush()?;
        conn.execute_batch(RECORD)?;
        Ok(())
    })
}
