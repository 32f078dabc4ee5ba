//! Reading what `enrich` has to do and storing what it found (`source_names`).

use crate::model::{DnsState, DnsStatus, SourceName};
use anyhow::Result;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Connection};

const PENDING: &str = include_str!("../../queries/names_pending.sql");
const PASSING: &str = include_str!("../../queries/names_passing.sql");
const REPORT_DOMAINS: &str = include_str!("../../queries/names_report_domains.sql");

/// A source address to name, with what reverse DNS said of it before.
#[derive(Debug, Clone)]
pub struct PendingSource {
    pub source_ip: String,
    /// It has a row in `source_names` already, which its new one replaces.
    pub named: bool,
    /// Reverse DNS should be asked (again).
    pub dns_due: bool,
    pub ptr: Option<String>,
    pub ptr_confirmed: bool,
    pub dns: DnsState,
}

/// What decides which addresses are named now.
pub struct PendingQuery {
    pub dns: bool,
    pub refresh: bool,
    /// Answers and NXDOMAINs checked before these (epoch seconds) are due again.
    pub answer_cutoff: i64,
    pub nxdomain_cutoff: i64,
}

/// A domain that passed DKIM or SPF for an address.
#[derive(Debug, Clone)]
pub struct ReportDomain {
    pub source_ip: String,
    /// `dkim` or `spf`.
    pub method: String,
    pub domain: String,
    pub header_from: String,
    pub messages: i64,
}

/// The addresses to name (kept in the temp table `names_pending` for [`report_domains`]).
pub fn pending(conn: &Connection, query: &PendingQuery) -> Result<Vec<PendingSource>> {
    let timestamp = |seconds: i64| format!("make_timestamp({}::BIGINT)", seconds * 1_000_000);
    conn.execute_batch(&format!(
        "SET VARIABLE dns = {}; SET VARIABLE refresh = {};
         SET VARIABLE answer_cutoff = {}; SET VARIABLE nxdomain_cutoff = {};",
        query.dns,
        query.refresh,
        timestamp(query.answer_cutoff),
        timestamp(query.nxdomain_cutoff)
    ))?;
    conn.execute_batch(PENDING)?;
    // Sized up front: grown by doubling, a list of 800,000 sources would need its old and
    // new buffers at once, the largest allocation of a first ingest's naming.
    let count: i64 = conn.query_row("SELECT count(*) FROM names_pending", [], |row| row.get(0))?;
    let mut sources = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut statement = conn.prepare(
        "SELECT source_ip, dns_due, ptr, ptr_confirmed, dns_status, dns_checked_at, named
         FROM names_pending",
    )?;
    let rows = statement.query_map([], |row| {
        let status: String = row.get(4)?;
        Ok(PendingSource {
            source_ip: row.get(0)?,
            named: row.get(6)?,
            dns_due: row.get(1)?,
            ptr: row.get(2)?,
            ptr_confirmed: row.get(3)?,
            dns: DnsState {
                status: DnsStatus::from_code(&status),
                checked_at: row.get(5)?,
            },
        })
    })?;
    for row in rows {
        sources.push(row?);
    }
    Ok(sources)
}

/// Every domain that passed DKIM or SPF anywhere, lower-cased: few, however many records.
pub fn passing_domains(conn: &Connection) -> Result<Vec<String>> {
    conn.execute_batch(PASSING)?;
    let mut statement = conn.prepare("SELECT DISTINCT domain FROM passing_domains")?;
    let domains = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(domains)
}

/// For the pending addresses, the passing domains among `mapped` with their messages (after
/// [`passing_domains`], which defines the view it reads).
pub fn report_domains(conn: &Connection, mapped: &[&str]) -> Result<Vec<ReportDomain>> {
    temp_text_table(conn, "mapped_domains", "domain", mapped)?;
    let mut statement = conn.prepare(REPORT_DOMAINS)?;
    let domains = statement
        .query_map([], |row| {
            Ok(ReportDomain {
                source_ip: row.get(0)?,
                method: row.get(1)?,
                domain: row.get(2)?,
                header_from: row.get(3)?,
                messages: row.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(domains)
}

/// A temp table `table` with one VARCHAR `column` holding `values`, for queries to join.
fn temp_text_table(conn: &Connection, table: &str, column: &str, values: &[&str]) -> Result<()> {
    conn.execute_batch(&format!(
        "CREATE OR REPLACE TEMP TABLE {table} ({column} VARCHAR)"
    ))?;
    let mut appender = conn.appender_to_catalog_and_db(table, "temp", "main")?;
    for value in values {
        appender.append_row([value])?;
    }
    appender.flush()?;
    Ok(())
}

/// Stores the names of these addresses, in one transaction, replacing the rows of those in
/// `replaced` (none on a first naming, every address with `enrich --refresh`). `names` is
/// consumed as it is stored, so a caller can produce it a chunk at a time; the rows go
/// straight into `source_names`, not through a copy.
pub fn save(
    conn: &Connection,
    replaced: &[&str],
    names: impl IntoIterator<Item = SourceName>,
    now: i64,
) -> Result<()> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    let stored = (|| -> Result<()> {
        if !replaced.is_empty() {
            temp_text_table(conn, "names_replaced", "source_ip", replaced)?;
            conn.execute_batch(
                "DELETE FROM source_names WHERE source_ip IN (SELECT source_ip FROM names_replaced);
                 DROP TABLE names_replaced;",
            )?;
        }
        let mut appender = conn.appender("source_names")?;
        let time = |seconds: Option<i64>| seconds.map(|s| Value::Timestamp(TimeUnit::Second, s));
        for name in names {
            appender.append_row(params![
                name.source_ip,
                name.ptr,
                name.ptr_confirmed,
                name.base_domain,
                name.asn,
                name.as_name,
                name.as_domain,
                name.country,
                name.sender,
                name.sender_type,
                name.named_by,
                name.dns.status.code(),
                time(name.dns.checked_at),
                time(Some(now)),
            ])?;
        }
        appender.flush()?;
        drop(appender);
        conn.execute_batch("COMMIT")?;
        Ok(())
    })();
    if stored.is_err() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    stored
}
