//! Storing SMTP TLS reports. They are few and small (one per reporter and day), so plain
//! statements do; de-duplication is the table's own unique key.

use crate::model::{TlsPolicy, TlsReport};
use anyhow::Result;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection};

/// What became of a report: stored, or a copy of one stored before, which keeps its counts.
pub enum Appended {
    New,
    /// How the copy's session counts differ from the stored ones, if they do.
    Copy {
        differs: Option<String>,
    },
}

/// Appends a report unless it is stored already.
pub fn append_tls_report(
    conn: &Connection,
    report: &TlsReport,
    origin: &str,
    now: &Value,
) -> Result<Appended> {
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
        drop(rows);
        return Ok(Appended::Copy {
            differs: counts_differ(conn, report)?,
        });
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
    Ok(Appended::New)
}

/// How a copy's session counts differ from the stored report's: a receiver that sends a
/// report again under its report-id with other counts (RFC 8460 section 4.4 makes the id
/// unique per report) is told apart from a plain duplicate. The first copy is kept.
fn counts_differ(conn: &Connection, copy: &TlsReport) -> Result<Option<String>> {
    let (successful, failed): (i64, i64) = conn.query_row(
        "SELECT coalesce(sum(p.successful_sessions), 0), coalesce(sum(p.failed_sessions), 0)
         FROM tls_reports r LEFT JOIN tls_policies p ON p.report = r.id
         WHERE r.report_key = ?",
        [copy.key()],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let sum = |count: fn(&TlsPolicy) -> u64| -> i64 {
        copy.policies.iter().map(|p| count(p) as i64).sum()
    };
    let copied = (sum(|p| p.successful_sessions), sum(|p| p.failed_sessions));
    Ok(((successful, failed) != copied).then(|| {
        format!(
            "resent with other counts: {successful} successful and {failed} failed sessions \
             stored, this copy has {} and {}; the first copy is kept",
            copied.0, copied.1
        )
    }))
}

/// A JSON array of the strings, for a `VARCHAR[]` column.
fn text_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
