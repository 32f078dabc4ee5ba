//! Storing SMTP TLS reports. They are few and small (one per reporter and day), so plain
//! statements do; a copy of a stored report is found by its key.

use super::resent::StoredCopy;
use crate::authenticity::{shown_not_genuine, Authenticity};
use crate::model::{TlsPolicy, TlsReport};
use anyhow::Result;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection, OptionalExt};

/// What became of a report: stored (in place of a copy shown not to be genuine, said in
/// `replaced`), or a copy of one stored before, which keeps its counts.
pub enum Appended {
    New {
        replaced: Option<String>,
    },
    /// How the copy's session counts differ from the stored ones, if they do.
    Copy {
        differs: Option<String>,
    },
}

/// Appends a report unless it is stored already. As for aggregate reports (`resent.rs`),
/// a copy shown genuine takes the place of one shown not to be: anyone can mail a TLS
/// report to a `rua=` address, and RFC 8460 section 5.3 has report e-mail signed with DKIM.
pub fn append_tls_report(
    conn: &Connection,
    report: &TlsReport,
    authenticity: Authenticity,
    origin: &str,
    now: &Value,
) -> Result<Appended> {
    let mut replaced = None;
    if let Some(stored) = stored_copy(conn, &report.key())? {
        if !stored.yields_to(authenticity) {
            let resend = !stored.dismisses(authenticity);
            return Ok(Appended::Copy {
                differs: resend
                    .then(|| counts_differ(stored.counts, report))
                    .flatten(),
            });
        }
        remove(conn, stored.id)?;
        replaced = Some(stored.replaced_note());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO tls_reports (id, report_key, org_name, contact_info, report_id, begin_time,
                                  end_time, origin, ingested_at, notes, authenticity)
         VALUES (nextval('tls_report_ids'), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING id",
    )?;
    let id: i64 = insert.query_row(
        params![
            report.key(),
            reporter_name(conn, &report.org_name)?,
            report.contact_info,
            report.report_id,
            Value::Timestamp(TimeUnit::Second, report.begin),
            Value::Timestamp(TimeUnit::Second, report.end),
            origin,
            now,
            (!report.notes.is_empty()).then(|| report.notes.join("\n")),
            authenticity.code(),
        ],
        |row| row.get(0),
    )?;
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
    Ok(Appended::New { replaced })
}

/// The name the reporter is stored under: as its first stored TLS report wrote it, whatever
/// the case of this one's, as for aggregate reports (write.rs `KnownReports`), and without
/// the spaces around it that some reports add (`"Microsoft Corporation "` is the same
/// reporter). The report's key keeps the name as written, so a resend still matches.
fn reporter_name(conn: &Connection, name: &str) -> Result<String> {
    let name = name.trim();
    let mut first = conn.prepare_cached(
        "SELECT org_name FROM tls_reports WHERE lower(trim(org_name)) = lower(?)
         ORDER BY id LIMIT 1",
    )?;
    let stored: Option<String> = first.query_row([name], |row| row.get(0)).optional()?;
    Ok(stored.map_or_else(|| name.to_string(), |stored| stored.trim().to_string()))
}

/// The stored copy of the TLS report with `key`, its counts its (successful, failed)
/// sessions: the one stored under the key as written first, else one under the key in
/// another case (a reporter's name written in several). TLS reports are few: every key is
/// read.
fn stored_copy(conn: &Connection, key: &str) -> Result<Option<StoredCopy>> {
    let mut statement = conn.prepare_cached(
        "SELECT r.id, coalesce(sum(p.successful_sessions), 0), coalesce(sum(p.failed_sessions), 0),
                r.authenticity, r.origin
         FROM tls_reports r LEFT JOIN tls_policies p ON p.report = r.id
         WHERE lower(r.report_key) = lower($1)
         GROUP BY r.id, r.report_key, r.authenticity, r.origin
         ORDER BY r.report_key = $1 DESC, r.id LIMIT 1",
    )?;
    let copy = statement.query_row([key], |row| {
        Ok(StoredCopy {
            id: row.get(0)?,
            counts: (row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64),
            not_genuine: shown_not_genuine(&row.get::<_, String>(3)?),
            origin: row.get(4)?,
        })
    });
    Ok(copy.optional()?)
}

/// Removes the stored TLS report `id` with its policies and failures.
fn remove(conn: &Connection, id: i64) -> Result<()> {
    for (table, column) in [
        ("tls_failures", "report"),
        ("tls_policies", "report"),
        ("tls_reports", "id"),
    ] {
        conn.execute(&format!("DELETE FROM {table} WHERE {column} = ?"), [id])?;
    }
    Ok(())
}

/// How a copy's session counts differ from the stored report's (`stored`: successful and
/// failed sessions): a receiver that sends a report again under its report-id with other
/// counts (RFC 8460 section 4.4 makes the id unique per report) is told apart from a plain
/// duplicate. The first copy is kept.
fn counts_differ(stored: (u64, u64), copy: &TlsReport) -> Option<String> {
    let sum = |count: fn(&TlsPolicy) -> u64| -> u64 { copy.policies.iter().map(count).sum() };
    let copied = (sum(|p| p.successful_sessions), sum(|p| p.failed_sessions));
    (stored != copied).then(|| {
        format!(
            "resent with other counts: {} successful and {} failed sessions stored, this copy \
             has {} and {}; the first copy is kept",
            stored.0, stored.1, copied.0, copied.1
        )
    })
}

/// A JSON array of the strings, for a `VARCHAR[]` column.
fn text_list(items: &[String]) -> String {
    serde_json::Value::from(items.to_vec()).to_string()
}
