//! Where a source stands, saved in the same transaction as the reports it led to: the IMAP
//! folder's UIDVALIDITY and the highest UID stored.

use super::{Database, DbOptions, Mode};
use anyhow::Result;
use std::collections::HashSet;

/// One folder's position: its UIDVALIDITY and the highest UID stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// `imap://user@host:port/folder`
    pub account: String,
    pub uid_validity: u32,
    pub last_uid: u32,
}

pub fn save_checkpoint(conn: &duckdb::Connection, at: &Checkpoint) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO imap_checkpoints (account, uid_validity, last_uid) VALUES (?, ?, ?)",
        duckdb::params![at.account, i64::from(at.uid_validity), i64::from(at.last_uid)],
    )?;
    Ok(())
}

/// What a folder's source needs to know before a pass.
#[derive(Debug, Default)]
pub struct ImapState {
    /// The highest UID stored at this UIDVALIDITY (0: none, or the folder was renumbered).
    pub last_uid: u32,
    /// UIDs (at this UIDVALIDITY) whose messages were rejected before.
    pub rejected: HashSet<u32>,
}

/// Reads a folder's state; `origin_prefix` is what its messages' origins start with, the
/// UID following it.
pub fn load_imap_state(
    db: &DbOptions,
    account: &str,
    uid_validity: u32,
    origin_prefix: &str,
) -> Result<ImapState> {
    if !db.path.exists() {
        return Ok(ImapState::default());
    }
    let db = Database::open(db, Mode::ReadOnly)?;
    let mut stmt = db
        .conn
        .prepare("SELECT uid_validity, last_uid FROM imap_checkpoints WHERE account = ?")?;
    let mut rows = stmt.query([account])?;
    let last_uid = match rows.next()? {
        Some(row) if row.get::<_, i64>(0)? == i64::from(uid_validity) => row.get::<_, i64>(1)?,
        _ => 0, // new folder, or UIDVALIDITY changed: every UID is new
    };
    let mut stmt = db.conn.prepare(
        "SELECT DISTINCT origin FROM ingest_ledger WHERE outcome = 'rejected' AND starts_with(origin, ?)",
    )?;
    let origins = stmt.query_map([origin_prefix], |row| row.get::<_, String>(0))?;
    let mut rejected = HashSet::new();
    for origin in origins {
        let uid = origin?
            .strip_prefix(origin_prefix)
            .and_then(|u| u.parse::<u32>().ok());
        rejected.extend(uid);
    }
    Ok(ImapState {
        last_uid: u32::try_from(last_uid).unwrap_or(0),
        rejected,
    })
}
