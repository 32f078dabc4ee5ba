//! Storing failure reports: one row each, de-duplicated by the table's unique key.

use crate::model::{FailureReport, OriginalMessage};
use anyhow::Result;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection};

/// Appends a report unless it is stored already; returns whether it was new.
pub fn append_failure_report(
    conn: &Connection,
    report: &FailureReport,
    origin: &str,
    now: &Value,
) -> Result<bool> {
    if stored_under_earlier_key(conn, report)? {
        return Ok(false);
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO failure_reports VALUES
             (nextval('failure_report_ids'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
              ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (report_key) DO NOTHING",
    )?;
    let time = |seconds: Option<i64>| seconds.map(|s| Value::Timestamp(TimeUnit::Second, s));
    let none = OriginalMessage::default();
    let original = report.original.as_ref().unwrap_or(&none);
    let headers = report.original.as_ref().map(|o| o.headers.as_str());
    let inserted = insert.execute(params![
        report.key,
        report.reporter,
        time(report.reported_at),
        report.feedback_type,
        report.user_agent,
        time(report.arrival_date),
        report.source_ip.as_ref().map(|ip| ip.text.as_str()),
        report
            .source_ip
            .as_ref()
            .and_then(|ip| ip.bytes)
            .map(|b| b.to_vec()),
        report.reported_domain,
        report.original_mail_from,
        report.original_rcpt_to,
        report.auth_failure,
        report.delivery_result,
        report.dkim_domain,
        report.dkim_identity,
        report.dkim_selector,
        report.spf_dns,
        report.identity_alignment,
        report.authentication_results,
        original.from,
        original.to,
        original.subject,
        original.message_id,
        time(original.date),
        headers,
        original.body,
        origin,
        now,
    ])?;
    Ok(inserted > 0)
}

/// Whether `report` was stored by a duckmarc that keyed it without its mail's Date: a row
/// under that key with the same Date is this report.
fn stored_under_earlier_key(conn: &Connection, report: &FailureReport) -> Result<bool> {
    let Some(earlier) = &report.earlier_key else {
        return Ok(false);
    };
    let reported_at = report
        .reported_at
        .map(|s| Value::Timestamp(TimeUnit::Second, s));
    let found: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM failure_reports
             WHERE report_key = ? AND reported_at IS NOT DISTINCT FROM ?",
        )?
        .query_row(params![earlier, reported_at], |row| row.get(0))?;
    Ok(found > 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Database, DbOptions, Mode};

    /// A report stored by a duckmarc that keyed it without its mail's Date is found again by
    /// that key and Date; another report of the same feedback, sent at another time, is not.
    #[test]
    fn a_report_stored_under_its_earlier_key_is_no_new_report() {
        let dir = tempfile::tempdir().unwrap();
        let options = DbOptions::new(
            dir.path().join("test.duckdb"),
            std::time::Duration::from_secs(1),
        );
        let db = Database::open(&options, Mode::ReadWrite).unwrap();
        let now = Value::Timestamp(TimeUnit::Second, 1_764_000_000);
        let report = |key: &str, earlier: Option<&str>, sent: i64| FailureReport {
            key: key.into(),
            earlier_key: earlier.map(Into::into),
            reporter: "reports@receiver.example".into(),
            reported_at: Some(sent),
            reported_domain: "example.com".into(),
            ..FailureReport::default()
        };
        let append = |r: &FailureReport| append_failure_report(&db.conn, r, "test", &now).unwrap();
        assert!(append(&report("failure|old", None, 1_763_870_400)));
        assert!(!append(&report(
            "failure|new",
            Some("failure|old"),
            1_763_870_400
        )));
        assert!(append(&report(
            "failure|later",
            Some("failure|old"),
            1_763_874_000
        )));
    }
}
