//! Reading what `enrich` has to do and storing what it found (`source_names`).

use crate::model::{DnsState, DnsStatus, SourceName};
use anyhow::Result;
use duckdb::arrow::array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{params, Connection};
use std::sync::Arc;

const PENDING: &str = include_str!("../../queries/names_pending.sql");
const PASSING: &str = include_str!("../../queries/names_passing.sql");
const REPORT_DOMAINS: &str = include_str!("../../queries/names_report_domains.sql");

/// A source address to name, with what reverse DNS said of it before.
#[derive(Debug, Clone)]
pub struct PendingSource {
    pub source_ip: String,
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

/// A domain whose SPF passed for an address, in a verified report (names_passing.sql).
#[derive(Debug, Clone)]
pub struct ReportDomain {
    pub source_ip: String,
    pub domain: String,
    pub header_from: String,
    pub messages: i64,
}

/// How many addresses are to be named now, and how far naming will then have come.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub count: u64,
    /// Every address of reports up to this id was named before (`naming_mark`)...
    pub named_through: i64,
    /// ...and is named once these are stored: the newest report when the list was made.
    pub latest_report: i64,
}

/// Works out which addresses to name now, into the temp table `names_pending` (which
/// [`dns_due`], [`pending_slabs`], [`report_domains`] and [`NameWriter`] read). The list
/// stays in DuckDB: a first ingest can bring 800,000 new sources, and as Rust values they
/// would be the largest allocation of the whole run.
pub fn find_pending(conn: &Connection, query: &PendingQuery) -> Result<Pending> {
    // The mark never goes back, even when the newest reports were deleted by hand: new
    // reports get ids past it (Database::known_reports).
    let (named_through, latest_report): (i64, i64) = conn.query_row(
        "WITH mark AS (SELECT coalesce(max(named_through), 0) AS id FROM naming_mark)
         SELECT mark.id, greatest(mark.id, (SELECT coalesce(max(id), 0) FROM reports))
         FROM mark",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    let timestamp = |seconds: i64| format!("make_timestamp({}::BIGINT)", seconds * 1_000_000);
    conn.execute_batch(&format!(
        "SET VARIABLE dns = {}; SET VARIABLE refresh = {};
         SET VARIABLE answer_cutoff = {}; SET VARIABLE nxdomain_cutoff = {};
         SET VARIABLE named_through = {named_through}::BIGINT;",
        query.dns,
        query.refresh,
        timestamp(query.answer_cutoff),
        timestamp(query.nxdomain_cutoff)
    ))?;
    conn.execute_batch(PENDING)?;
    let count: i64 = conn.query_row("SELECT count(*) FROM names_pending", [], |row| row.get(0))?;
    Ok(Pending {
        count: u64::try_from(count)?,
        named_through,
        latest_report,
    })
}

/// Notes that every address of reports up to `pending.latest_report` is named, when nothing
/// was left to name: otherwise the next run would look at those reports' records again.
pub fn mark_all_named(conn: &Connection, pending: &Pending) -> Result<()> {
    if pending.latest_report == pending.named_through {
        return Ok(());
    }
    super::in_transaction(conn, |conn| set_mark(conn, pending.latest_report))
}

fn set_mark(conn: &Connection, named_through: i64) -> Result<()> {
    conn.execute_batch("DELETE FROM naming_mark")?;
    conn.execute("INSERT INTO naming_mark VALUES (?)", [named_through])?;
    Ok(())
}

/// The pending addresses whose reverse DNS answer is due.
pub fn dns_due(conn: &Connection) -> Result<Vec<String>> {
    let mut statement = conn.prepare("SELECT source_ip FROM names_pending WHERE dns_due")?;
    let due = statement
        .query_map([], |row| row.get(0))?
        .collect::<Result<Vec<String>, _>>()?;
    Ok(due)
}

/// Rows of `names_pending` read by one query: DuckDB's row group size. A query for fewer
/// rows still scans the whole row group they are in (reads of 8,192 rows took 95-114 ms of
/// naming a first ingest's 200,000 sources, reads of whole row groups 49-50 ms). Each query
/// scans one row group, two where a parallel insert left one part-filled.
pub const PENDING_SLAB: u64 = 122_880;

/// The `count` pending addresses, [`PENDING_SLAB`] at a time, each slab as DuckDB's Arrow
/// batches (of 2,048 rows): a few MB, turned into [`PendingSource`]s a few batches at a time
/// by [`pending_sources`].
pub fn pending_slabs(
    conn: &Connection,
    count: u64,
) -> impl Iterator<Item = Result<Vec<RecordBatch>>> + '_ {
    (0..count)
        .step_by(PENDING_SLAB as usize)
        .map(move |start| pending_slab(conn, start))
}

fn pending_slab(conn: &Connection, start: u64) -> Result<Vec<RecordBatch>> {
    let mut statement = conn.prepare(
        "SELECT source_ip, dns_due, ptr, ptr_confirmed, dns_status, dns_checked_at
         FROM names_pending
         WHERE rowid >= ? AND rowid < ?
         ORDER BY rowid",
    )?;
    // Materialised by the query (where an error is returned), then handed over: streamed
    // instead, naming held 5-8 MB more, in the same time.
    let batches = statement
        .query_arrow(params![start, start + PENDING_SLAB])?
        .collect();
    Ok(batches)
}

/// The pending addresses of `batches` (from [`pending_slabs`]). Read as Arrow columns: row by
/// row, the reads took a quarter of naming a first ingest's 200,000 sources.
pub fn pending_sources(batches: &[RecordBatch]) -> Result<Vec<PendingSource>> {
    let mut sources = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        let text = |n: usize| column::<StringArray>(batch, n);
        let flag = |n: usize| column::<BooleanArray>(batch, n);
        let (ip, due, ptr, confirmed, status) = (text(0)?, flag(1)?, text(2)?, flag(3)?, text(4)?);
        let checked_at = column::<Int64Array>(batch, 5)?;
        for row in 0..batch.num_rows() {
            sources.push(PendingSource {
                source_ip: ip.value(row).to_string(),
                dns_due: due.value(row),
                ptr: ptr.is_valid(row).then(|| ptr.value(row).to_string()),
                ptr_confirmed: confirmed.value(row),
                dns: DnsState {
                    status: DnsStatus::from_code(status.value(row)),
                    checked_at: checked_at.is_valid(row).then(|| checked_at.value(row)),
                },
            });
        }
    }
    Ok(sources)
}

/// Column `n` of `batch` as the Arrow array type DuckDB gives for its SQL type.
fn column<T: 'static>(batch: &RecordBatch, n: usize) -> Result<&T> {
    super::scan::downcast(
        batch.column(n).as_ref(),
        &format!("names_pending column {n}"),
    )
}

/// Every domain whose SPF passed in a verified report, lower-cased: few, however many records.
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
    // None listed (no SPF domain passing in a verified report is a provider's: always so when
    // every report was stored with --no-dns): the query, which keeps only listed domains,
    // would still join every new record to the pending addresses, for nothing.
    if mapped.is_empty() {
        return Ok(Vec::new());
    }
    temp_text_table(conn, "mapped_domains", "domain", mapped)?;
    let mut statement = conn.prepare(REPORT_DOMAINS)?;
    let domains = statement
        .query_map([], |row| {
            Ok(ReportDomain {
                source_ip: row.get(0)?,
                domain: row.get(1)?,
                header_from: row.get(2)?,
                messages: row.get(3)?,
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

/// Stores names in `source_names`, in one transaction: the pending addresses that have a
/// row already (every address with `enrich --refresh`) lose it when the writer begins, and
/// the new rows are appended as they come, so a caller can name a chunk at a time. Nothing
/// is kept unless [`NameWriter::finish`] commits.
pub struct NameWriter<'conn> {
    conn: &'conn Connection,
    now: i64,
    /// Stored as the `naming_mark` with the names: every address of reports up to it then
    /// has one.
    latest_report: i64,
    committed: bool,
}

impl<'conn> NameWriter<'conn> {
    pub fn begin(conn: &'conn Connection, now: i64, pending: &Pending) -> Result<Self> {
        conn.execute_batch("BEGIN TRANSACTION")?;
        // Rolled back on drop from here on, whatever fails.
        let writer = NameWriter {
            conn,
            now,
            latest_report: pending.latest_report,
            committed: false,
        };
        conn.execute_batch(
            "DELETE FROM source_names
             WHERE source_ip IN (SELECT source_ip FROM names_pending WHERE named)",
        )?;
        Ok(writer)
    }

    /// Inserts `names` as one Arrow batch, read in place (scan.rs): whole columns instead
    /// of a call per value, and at once, never collected first (DuckDB's Appender held
    /// 204,800 rows before inserting them, a 40 MB copy: heaptrack).
    pub fn append_all(&mut self, names: &[SourceName]) -> Result<()> {
        super::scan::insert_batch(self.conn, "source_names", name_rows(names, self.now))
    }

    pub fn finish(mut self) -> Result<()> {
        set_mark(self.conn, self.latest_report)?;
        super::commit(self.conn)?;
        self.committed = true;
        Ok(())
    }
}

/// The `source_names` rows of `names`, named at `now` (epoch seconds).
fn name_rows(names: &[SourceName], now: i64) -> RecordBatch {
    let text = |value: fn(&SourceName) -> Option<&str>| -> ArrayRef {
        Arc::new(names.iter().map(value).collect::<StringArray>())
    };
    let micros = |seconds: Option<i64>| seconds.map(|s| s * 1_000_000);
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("source_ip", text(|n| Some(&n.source_ip))),
        ("ptr", text(|n| n.ptr.as_deref())),
        (
            "ptr_confirmed",
            Arc::new(
                names
                    .iter()
                    .map(|n| Some(n.ptr_confirmed))
                    .collect::<BooleanArray>(),
            ),
        ),
        ("base_domain", text(|n| n.base_domain.as_deref())),
        // ASNs are below 2^31 in every IP database; a larger one is stored as unknown.
        (
            "asn",
            Arc::new(
                names
                    .iter()
                    .map(|n| n.asn.and_then(|a| i32::try_from(a).ok()))
                    .collect::<Int32Array>(),
            ),
        ),
        ("as_name", text(|n| n.as_name.as_deref())),
        ("as_domain", text(|n| n.as_domain.as_deref())),
        ("country", text(|n| n.country.as_deref())),
        ("sender", text(|n| n.sender.as_deref())),
        ("sender_type", text(|n| n.sender_type.as_deref())),
        ("named_by", text(|n| n.named_by)),
        ("dns_status", text(|n| Some(n.dns.status.code()))),
        (
            "dns_checked_at",
            Arc::new(
                names
                    .iter()
                    .map(|n| micros(n.dns.checked_at))
                    .collect::<TimestampMicrosecondArray>(),
            ),
        ),
        (
            "named_at",
            Arc::new(TimestampMicrosecondArray::from_value(
                now * 1_000_000,
                names.len(),
            )),
        ),
    ];
    RecordBatch::try_from_iter(columns).expect("columns of one length")
}

impl Drop for NameWriter<'_> {
    fn drop(&mut self) {
        if !self.committed {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pending list read a row group at a time gives every row once, in order, across
    /// the boundary of DuckDB's row groups.
    #[test]
    fn pending_slabs_read_every_address_once_in_order() {
        let conn = Connection::open_in_memory().unwrap();
        let rows = PENDING_SLAB + 5_000;
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE names_pending AS
             SELECT i::VARCHAR AS source_ip, false AS named, i % 2 = 0 AS dns_due,
                    NULL::VARCHAR AS ptr, false AS ptr_confirmed, 'skipped' AS dns_status,
                    NULL::BIGINT AS dns_checked_at
             FROM range({rows}) t(i) ORDER BY i"
        ))
        .unwrap();
        let mut read = Vec::new();
        for slab in pending_slabs(&conn, rows) {
            read.extend(pending_sources(&slab.unwrap()).unwrap());
        }
        assert_eq!(read.len() as u64, rows);
        for (i, source) in read.iter().enumerate() {
            assert_eq!(source.source_ip, i.to_string());
            assert_eq!(source.dns_due, i % 2 == 0);
        }
    }
}
