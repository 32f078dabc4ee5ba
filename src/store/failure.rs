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
