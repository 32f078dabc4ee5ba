//! Copies of a stored report. RFC 9990 (section 3.5.4) has a resent report reuse its
//! identifiers, so the first copy stored is kept and a later one is a duplicate; but a copy
//! whose counts differ is named as such (a warning, the ledger's reason, `report
//! reporters`), never passed off as "already stored". And anyone can mail a report to a rua=
//! address: a copy whose e-mail was shown not to be genuine gives way to one shown genuine,
//! so a forger who guesses a reporter's next Report-ID cannot keep the real report out.

use super::columns::TABLE_NAMES;
use crate::authenticity::{shown_not_genuine, Authenticity};
use anyhow::Result;
use duckdb::types::Value;
use duckdb::{params, Connection, OptionalExt};

/// A report's size: (records, messages).
pub type Counts = (u64, u64);

/// What the writer needs to know of the copy of a report it stored.
#[derive(Debug, Clone)]
pub struct StoredCopy {
    pub id: i64,
    pub counts: Counts,
    /// Its e-mail was shown not to be genuine (`reports.authenticity` fail, mismatch or none).
    pub not_genuine: bool,
    pub origin: String,
}

impl StoredCopy {
    pub fn new(id: i64, counts: Counts, authenticity: Authenticity, origin: &str) -> StoredCopy {
        StoredCopy {
            id,
            counts,
            not_genuine: shown_not_genuine(authenticity.code()),
            origin: origin.to_string(),
        }
    }

    /// Whether a copy with `authenticity` takes this one's place: only a copy shown genuine
    /// replaces one shown not to be (a bare file or an unverified e-mail shows neither).
    pub fn yields_to(&self, authenticity: Authenticity) -> bool {
        self.not_genuine && authenticity == Authenticity::Pass
    }

    /// Whether a copy with `authenticity` is passed over as a duplicate whatever its counts:
    /// one shown not to be genuine is not a resend of a copy that is not shown forged.
    pub fn dismisses(&self, authenticity: Authenticity) -> bool {
        !self.not_genuine && shown_not_genuine(authenticity.code())
    }

    /// For people: what the new copy replaced.
    pub fn replaced_note(&self) -> String {
        format!(
            "stored in place of the copy from {}, whose e-mail was not shown to be genuine \
             (this one's passed DMARC for the reporter's domain)",
            self.origin
        )
    }
}

/// The stored report `id`, as a copy of it finds it; `None` if it is gone (deleted by hand
/// since the writer read the ids).
pub fn stored_copy(conn: &Connection, id: i64) -> Result<Option<StoredCopy>> {
    let mut statement = conn.prepare_cached(
        "SELECT authenticity, origin, record_count, message_count FROM reports WHERE id = $1",
    )?;
    let copy = statement.query_row([id], |row| {
        Ok(StoredCopy {
            id,
            counts: (row.get::<_, i64>(2)? as u64, row.get::<_, i64>(3)? as u64),
            not_genuine: shown_not_genuine(&row.get::<_, String>(0)?),
            origin: row.get(1)?,
        })
    });
    Ok(copy.optional()?)
}

/// Removes the stored report `id` and everything stored with it, for the copy that replaces it.
pub fn remove(conn: &Connection, id: i64) -> Result<()> {
    for table in TABLE_NAMES.iter().chain(&["resent_reports"]) {
        conn.execute(&format!("DELETE FROM {table} WHERE report = ?"), [id])?;
    }
    conn.execute("DELETE FROM reports WHERE id = ?", [id])?;
    Ok(())
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
