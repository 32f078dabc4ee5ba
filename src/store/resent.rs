//! Resent reports. RFC 9990 (section 3.5.4) has a resent report reuse its identifiers, so
//! the first copy stored is kept and a later one is a duplicate; but a copy whose counts
//! differ is named as such (a warning, the ledger's reason, `report reporters`), never passed
//! off as "already stored".

use anyhow::Result;
use duckdb::types::Value;
use duckdb::{params, Connection};

/// A report's size: (records, messages).
pub type Counts = (u64, u64);

/// The id and counts of the stored report with `key`, if the database has it.
pub fn stored_counts(conn: &Connection, key: &str) -> Result<Option<(i64, Counts)>> {
    let mut statement = conn.prepare_cached(
        "SELECT r.id, count(c.report), coalesce(sum(c.count), 0)
         FROM reports r LEFT JOIN records c ON c.report = r.id
         WHERE r.report_key = ?
         GROUP BY r.id",
    )?;
    let mut rows = statement.query([key])?;
    Ok(match rows.next()? {
        Some(row) => Some((
            row.get(0)?,
            (row.get::<_, i64>(1)? as u64, row.get::<_, i64>(2)? as u64),
        )),
        None => None,
    })
}

/// How a copy differs from the stored report, for people; `None` when the counts agree.
pub fn difference(stored: Counts, copy: Counts) -> Option<String> {
    (stored != copy).then(|| {
        format!(
            "resent with other counts: {} records and {} messages stored, this copy has {} \
             and {}; the first copy is kept",
            stored.0, stored.1, copy.0, copy.1
        )
    })
}

/// Remembers a differing copy of report `id` (table `resent_reports`).
pub fn remember(conn: &Connection, id: i64, origin: &str, copy: Counts, now: &Value) -> Result<()> {
    conn.prepare_cached("INSERT INTO resent_reports VALUES (?, ?, ?, ?, ?)")?
        .execute(params![id, origin, copy.0 as i64, copy.1 as i64, now])?;
    Ok(())
}
