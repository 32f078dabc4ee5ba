//! Storing SMTP TLS reports. They are few and small (one per reporter and day), so plain
//! statements do; de-duplication is the table's own unique key.

use crate::model::TlsReport;
use anyhow::Result;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection};

/// Appends a report unless it is stored already; returns whether it was new.
pub fn append_tls_report(
    conn: &Connection,
    report: &TlsReport,
    origin: &str,
    now: &Value,
) -> Result<bool> {
    let mut insert = conn.prepare_cached(
        "INSERT INTO tls_reports (id, report_key, org_name, contact_info, report_id, begin_time,
                                  end_time, origin, ingested_at, notes)
         VALUES (nextval('tls_report_ids'), ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (report_key) DO NOTHING
         RETURNING id",
    )?;
    let mut rows = insert.query(params![
        report.key(),
        report.org_name,
        report.contact_info,
        report.report_id,
        Value::Timestamp(TimeUnit::Second, report.begin),
        Value::Timestamp(TimeUnit::Second, report.end),
        origin,
        now,
        (!report.notes.is_empty()).then(|| report.notes.join("\n")),
    ])?;
    let Some(row) = rows.next()? else {
        return Ok(false);
    };
    let id: i64 = row.get(0)?;
    drop(rows);
    let mut policies = conn.prepare_cached(
        "INSERT INTO tls_policies VALUES (?, ?, ?, ?, ?::JSON::VARCHAR[], ?::JSON::VARCHAR[], ?, ?)",
    )?;
    let mut failures = conn.appender("tls_failures")?;
    for (no, policy) in report.policies.iter().enumerate() {
        let no = no as i32;
        policies.execute(params![
            id,
            no,
            policy.policy_type,
            policy.policy_domain,
            text_list(&policy.policy_strings),
            text_list(&policy.mx_hosts),
            policy.successful_sessions as i64,
            policy.failed_sessions as i64,
        ])?;
        for (idx, failure) in policy.failures.iter().enumerate() {
            failures.append_row(params![
                id,
                no,
                idx as i32,
                failure.result_type,
                failure.sending_mta_ip.as_ref().map(|ip| ip.text.as_str()),
                failure.receiving_mx_hostname,
                failure.receiving_mx_helo,
                failure.receiving_ip,
                failure.failed_sessions as i64,
                failure.additional_information,
                failure.failure_reason_code,
                failure
                    .sending_mta_ip
                    .as_ref()
                    .and_then(|ip| ip.bytes)
                    .map(|b| b.to_vec()),
            ])?;
        }
    }
    failures.flush()?;
    Ok(true)
}

/// A JSON array of the strings, for a `VARCHAR[]` column.
fn text_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
