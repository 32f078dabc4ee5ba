//! The DuckDB database: opening it safely, its schema, and writing ingested reports.
//!
//! DuckDB lets one process write a database file at a time (it holds an OS file lock while
//! open). duckmarc therefore opens the database only for as long as one batch takes and
//! closes it again, and a process that finds it busy retries with back-off for a bounded
//! time (`lock_timeout`) before failing with a message that says who holds it.

mod checkpoints;
mod clock;
mod columns;
mod failure;
mod ledger;
pub mod names;
pub mod policy;
mod resent;
pub mod scan;
mod schema;
mod tls;
mod upgrades;
mod write;

pub use checkpoints::{load_imap_state, save_checkpoint, Checkpoint, ImapState};
pub use clock::{clock_override, now_micros, now_seconds};
pub use columns::{ReportColumns, ReportHead, ReportRows};
pub use ledger::{rejection_line, OpenInputs};
pub use write::{
    append_batch, take_already_seen, DocumentOutcome, Event, KnownReports, Prepared,
    PreparedContent, PreparedInput,
};

use crate::model::DocumentKind;
use schema::{
    create_or_upgrade, has_column, has_every_column, schema_is_current, LEDGER_KIND_OF_OLD_ROWS,
};

use anyhow::{bail, Context, Result};
use duckdb::{AccessMode, Config, Connection};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// BLAKE3 hashes of inputs, as 32 bytes rather than hex text.
pub type InputHashes = HashSet<blake3::Hash>;

/// DuckDB's memory limit for reports and queries unless `--memory-limit` says otherwise;
/// past it, DuckDB spills to disk or fails cleanly.
const READ_MEMORY_LIMIT: &str = "1GB";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    ReadWrite,
    ReadOnly,
}

/// Where the database lives and how long to wait for another process holding it.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub path: PathBuf,
    pub lock_timeout: Duration,
    /// DuckDB's memory limit when reading (reports, the page, queries), in DuckDB's syntax
    /// (`1GB`, `512MiB`): 1 GB unless the user chose.
    pub read_memory_limit: String,
    /// Wait as long as another process holds the database, saying so every `lock_timeout`:
    /// a watching process (`watch`, `fetch --watch`) has nowhere better to be, and giving up
    /// ended it (systemd then restarts it, or not).
    pub wait_while_busy: bool,
}

impl DbOptions {
    /// The database at `path`, waiting up to `lock_timeout` for another process, reading
    /// within 1 GB.
    pub fn new(path: PathBuf, lock_timeout: Duration) -> DbOptions {
        DbOptions {
            path,
            lock_timeout,
            read_memory_limit: READ_MEMORY_LIMIT.to_string(),
            wait_while_busy: false,
        }
    }
}

/// An open database. Dropping it closes the file and releases the lock.
pub struct Database {
    pub conn: Connection,
}

impl Database {
    /// Opens (creating if needed, in read-write mode) the database, waiting up to
    /// `lock_timeout` while another duckmarc process holds it.
    pub fn open(options: &DbOptions, mode: Mode) -> Result<Database> {
        if mode == Mode::ReadOnly && !options.path.exists() {
            bail!(
                "no database at {} yet: run `duckmarc ingest PATH...` first",
                options.path.display()
            );
        }
        create_parent(&options.path)?;
        let creating = creation_turn(&options.path)?;
        let mut conn = open_with_retry(options, mode)?;
        drop(creating);
        if mode == Mode::ReadOnly && !schema_is_current(&conn)? {
            // Made by an older duckmarc: brought up to date once, so reports can rely on
            // every table and column. One that lacks only an upgrade of its data can still
            // be read as it is by a user who may not write it.
            let columns_current = has_every_column(&conn)?;
            drop(conn);
            match Database::open(options, Mode::ReadWrite) {
                Ok(upgraded) => drop(upgraded),
                Err(error) if columns_current => log::warn!(
                    "{} is read as it is: it needs an upgrade of its data, which this run \
                     cannot write ({}); a run that may write it will do it",
                    options.path.display(),
                    without_duckdb_code(&format!("{error:#}"))
                ),
                Err(error) => return Err(error),
            }
            conn = open_with_retry(options, mode)?;
        }
        if mode == Mode::ReadWrite {
            // A database that has the newest column has every table and column: the schema
            // and upgrades run only on new and older databases (a cron job opens it often).
            if !schema_is_current(&conn)? {
                create_or_upgrade(&conn)?;
            }
            // How the writer hands DuckDB the parsers' rows (scan.rs).
            scan::register_function(&conn)?;
            // Fewer, larger checkpoints make ingest faster; the memory limit keeps a big
            // ingest's footprint flat (DuckDB would otherwise cache up to 80% of RAM).
            conn.execute_batch("SET checkpoint_threshold = '64MB'; SET memory_limit = '96MB'; SET preserve_insertion_order = false; SET threads = 1;")?;
        } else {
            // Reports and queries are bounded too (DuckDB's default is 80% of RAM: a cron
            // job beside a mail server must not take that).
            // The limit's syntax was checked where it was given: digits and a unit.
            conn.execute_batch(&format!(
                "SET memory_limit = '{}'",
                options.read_memory_limit
            ))?;
        }
        Ok(Database { conn })
    }

    /// Report keys already stored and the next free id, for set-based de-duplication.
    /// `cached` (what a writer knew when it last closed the database) is reused unless
    /// another process has stored reports since: ids only grow, so the next free id tells.
    pub fn known_reports(&self, cached: Option<KnownReports>) -> Result<KnownReports> {
        // Never an id a Parquet export or naming has already passed: reports deleted by hand
        // would free their ids, and new reports under them would never be exported, nor their
        // sources named (naming reads only the reports after its mark).
        let next_id: i64 = self.conn.query_row(
            "SELECT greatest(
                 (SELECT coalesce(max(id), 0) FROM reports),
                 (SELECT coalesce(max(greatest(last_report, coalesce(pending_to, 0))), 0)
                  FROM parquet_exports),
                 (SELECT coalesce(max(named_through), 0) FROM naming_mark)) + 1",
            [],
            |r| r.get(0),
        )?;
        if let Some(known) = cached.filter(|known| known.next_id == next_id) {
            return Ok(known);
        }
        let mut stmt = self
            .conn
            .prepare("SELECT report_key, id FROM reports ORDER BY id")?;
        let keys = stmt.query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?;
        let keys = keys.collect::<Result<Vec<_>, _>>()?;
        let mut stmt = self
            .conn
            .prepare("SELECT org_name FROM reports GROUP BY org_name ORDER BY min(id)")?;
        let reporters = stmt.query_map([], |row| row.get::<_, String>(0))?;
        Ok(KnownReports::new(
            keys,
            reporters.collect::<Result<Vec<_>, _>>()?,
            next_id,
        ))
    }

    /// Lets DuckDB use every core: for work that runs alone (naming the sources), unlike
    /// ingest, whose writer leaves the cores to the parsers.
    pub fn use_every_core(&self) -> Result<()> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(self.conn.execute_batch(&format!("SET threads = {cores}"))?)
    }

    /// Half the memory of other writers, for ingest and naming: their work is appends and one
    /// DISTINCT over every record (finding the sources to name), which spills to disk sooner
    /// instead of growing the run. 100,000 reports peaked at 190-199 MB RSS with 48 MB,
    /// 207-214 with 64 MB and 224-236 with 96 MB, in the same time (the DISTINCT: 0.65 s
    /// instead of 0.45). Exports and alerts keep 96 MB for their larger queries.
    pub fn limit_memory_for_ingest(&self) -> Result<()> {
        Ok(self.conn.execute_batch("SET memory_limit = '48MB'")?)
    }

    pub fn begin(&self) -> Result<()> {
        Ok(self.conn.execute_batch("BEGIN TRANSACTION")?)
    }

    pub fn commit(&self) -> Result<()> {
        commit(&self.conn).context("cannot commit the batch")
    }

    /// Whether reports were stored past the naming mark (`store/names.rs`): a run that
    /// stored them died or failed before it named their sources, and one that stores nothing
    /// new would otherwise never name them. False where the database lacks either table yet.
    pub fn naming_pending(&self) -> bool {
        self.conn
            .query_row(
                "SELECT coalesce(max(id), 0) > (SELECT coalesce(max(named_through), 0)
                                                FROM naming_mark)
                 FROM reports",
                [],
                |row| row.get(0),
            )
            .unwrap_or(false)
    }

    /// Input hashes that need no second look: stored or duplicate before, or skipped for a
    /// kind this duckmarc does not store either. Rejected inputs are parsed again, since a
    /// newer duckmarc may read them; so are inputs skipped for a kind it now stores.
    pub fn settled_input_hashes(&self) -> Result<InputHashes> {
        let mut settled = InputHashes::new();
        // Opened read-only, a database that duckmarc has not finished setting up may lack it.
        let has_ledger: bool = self.conn.query_row(
            "SELECT count(*) > 0 FROM duckdb_tables() WHERE table_name = 'ingest_ledger'",
            [],
            |row| row.get(0),
        )?;
        if !has_ledger {
            return Ok(settled);
        }
        let stored: Vec<String> = DocumentKind::STORED
            .iter()
            .map(|kind| format!("'{}'", kind.code()))
            .collect();
        // A database opened read-only may come from a duckmarc before the ledger had kinds.
        let kind = if has_column(&self.conn, "ingest_ledger", "kind")? {
            "kind"
        } else {
            LEDGER_KIND_OF_OLD_ROWS
        };
        let mut stmt = self.conn.prepare(&format!(
            "SELECT DISTINCT input_hash FROM ingest_ledger
             WHERE outcome IN ('stored', 'duplicate')
                OR (outcome = 'skipped' AND coalesce({kind}, 'unknown') NOT IN ({}))",
            stored.join(", ")
        ))?;
        let hashes = stmt.query_map([], |row| row.get::<_, String>(0))?;
        for hash in hashes {
            // Every hash duckmarc writes is BLAKE3 hex; anything else cannot match an input.
            settled.extend(blake3::Hash::from_hex(hash?).ok());
        }
        Ok(settled)
    }
}

/// Size of a DuckDB file's headers, written right after the file is created.
const HEADER_BYTES: u64 = 12_288;

/// DuckDB creates a new database file before it writes the headers and takes its lock, so a
/// second process opening in between would find "not a valid DuckDB database file". While
/// the file is missing or shorter than its headers, processes take turns on a lock file of
/// their own; once it exists, DuckDB's lock does the rest.
fn creation_turn(path: &Path) -> Result<Option<std::fs::File>> {
    let complete = std::fs::metadata(path).is_ok_and(|m| m.len() >= HEADER_BYTES);
    if complete {
        return Ok(None);
    }
    let (lock, lock_path) = lock_file(path, "create")?;
    lock.lock()
        .with_context(|| format!("cannot lock {}", lock_path.display()))?;
    Ok(Some(lock))
}

fn create_parent(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create directory {}", parent.display()))?;
    }
    Ok(())
}

/// The lock file `PATH.WHAT-lock` beside the database at `path`, opened (created if new).
fn lock_file(path: &Path, what: &str) -> Result<(std::fs::File, PathBuf)> {
    let mut lock_path = path.as_os_str().to_owned();
    lock_path.push(format!(".{what}-lock"));
    let lock_path = PathBuf::from(lock_path);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        // Left by another user who runs duckmarc on the same database: a lock needs no
        // write access to the file. When there is none to open either, the reason is the
        // first one (a directory we may not write), not "No such file".
        .or_else(|denied| match denied.kind() {
            std::io::ErrorKind::PermissionDenied => {
                std::fs::File::open(&lock_path).map_err(|_| denied)
            }
            _ => Err(denied),
        })
        .with_context(|| format!("cannot create {}", lock_path.display()))?;
    Ok((lock, lock_path))
}

/// A turn on the database at `path` among the runs that take lock `name`, held while the
/// returned file lives: for a run that lets the database go between its halves (`alerts`
/// while its webhook answers), so that a second run waits for the first to finish instead
/// of finding and posting the same alerts again. Waits up to `timeout`, as for the
/// database; `holder` says who holds it, for the message when the wait is too long.
pub fn run_turn(path: &Path, name: &str, holder: &str, timeout: Duration) -> Result<std::fs::File> {
    create_parent(path)?;
    let (lock, lock_path) = lock_file(path, name)?;
    let held = retry_while_busy(
        timeout,
        || match lock.try_lock() {
            Ok(()) => Ok(Ok(())),
            Err(std::fs::TryLockError::WouldBlock) => Ok(Err(format!("{holder} holds it"))),
            Err(std::fs::TryLockError::Error(e)) => {
                Err(e).with_context(|| format!("cannot lock {}", lock_path.display()))
            }
        },
        |_| {
            anyhow::anyhow!(
                "{holder} holds {}; waited {}s (raise --lock-timeout)",
                lock_path.display(),
                timeout.as_secs()
            )
        },
    );
    held.map(|()| lock)
}

/// Tries `attempt` until what it wants is free: it answers `Ok(Err(busy))` while another
/// process holds it, and is tried again after growing pauses (50 ms, then 100 ms) for up to
/// `timeout`; then `gave_up(busy)` is the error. Short pauses: a writer that lets the
/// database go waits for those in line (`let_waiting_processes_in`) as long as they take
/// to try again.
fn retry_while_busy<T, B: std::fmt::Display>(
    timeout: Duration,
    mut attempt: impl FnMut() -> Result<Result<T, B>>,
    gave_up: impl FnOnce(B) -> anyhow::Error,
) -> Result<T> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    loop {
        match attempt()? {
            Ok(done) => return Ok(done),
            Err(busy) if started.elapsed() < timeout => {
                log::debug!("busy, retrying in {pause:?}: {busy}");
                std::thread::sleep(pause.min(timeout.saturating_sub(started.elapsed())));
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            Err(busy) => return Err(gave_up(busy)),
        }
    }
}

/// Waits in line for the database at `path` while the returned file lives (a shared lock on
/// `PATH.queue-lock`), so that a writer letting it go lets this process in before it opens
/// it again. Best effort: without the file (a directory not ours), no place in line.
fn wait_in_line(path: &Path) -> Option<std::fs::File> {
    let (line, _) = lock_file(path, "queue").ok()?;
    line.try_lock_shared().ok().map(|()| line)
}

/// How long a writer that let the database go waits for the processes in line to take it.
const HANDOVER_WAIT: Duration = Duration::from_secs(2);

/// Before a writer opens the database at `path` again: waits while other processes wait in
/// line for it (`wait_in_line`, up to [`HANDOVER_WAIT`]), so they take their turn. A writer
/// reopening at once kept it for a whole long ingest: processes that poll for it landed in
/// the gap of a few milliseconds between its transactions too rarely, and a cron `stats`
/// gave up after its `--lock-timeout`.
pub fn let_waiting_processes_in(path: &Path) {
    let Ok((line, _)) = lock_file(path, "queue") else {
        return;
    };
    let started = Instant::now();
    while started.elapsed() < HANDOVER_WAIT {
        match line.try_lock() {
            Ok(()) => return, // nobody in line; closing the file unlocks it
            Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(10)),
            Err(std::fs::TryLockError::Error(_)) => return,
        }
    }
}

fn open_with_retry(options: &DbOptions, mode: Mode) -> Result<Connection> {
    let (path, timeout) = (options.path.as_path(), options.lock_timeout);
    let mut in_line = None;
    let mut attempt = || {
        let config = Config::default()
            .access_mode(match mode {
                Mode::ReadWrite => AccessMode::ReadWrite,
                Mode::ReadOnly => AccessMode::ReadOnly,
            })?
            // There is no network here and none should be needed: never fetch extensions.
            .enable_autoload_extension(false)?;
        match Connection::open_with_flags(path, config) {
            Ok(conn) => Ok(Ok(conn)),
            Err(e) if is_lock_conflict(&e) => {
                if in_line.is_none() {
                    in_line = Some(wait_in_line(path));
                }
                Ok(Err(e))
            }
            Err(e) => Err(e).with_context(|| format!("cannot open database {}", path.display())),
        }
    };
    loop {
        let mut busy = None;
        let opened = retry_while_busy(timeout, &mut attempt, |e| {
            busy = Some(e.to_string());
            anyhow::anyhow!(
                "database {} is busy: other processes held it for all of the {}s waited \
                 (raise --lock-timeout): {e}",
                path.display(),
                timeout.as_secs()
            )
        });
        match (opened, busy) {
            (Err(_), Some(busy)) if options.wait_while_busy => log::warn!(
                "database {} still busy after {}s, waiting on ({busy})",
                path.display(),
                timeout.as_secs()
            ),
            (opened, _) => return opened,
        }
    }
}

/// `message` without the generic ": Error code 1: Unknown error code" that DuckDB's C API
/// appends to every message: for errors that reach the user without `duckdb_message`.
pub fn without_duckdb_code(message: &str) -> String {
    message.replace(": Error code 1: Unknown error code", "")
}

/// DuckDB's own message, without the generic "Error code 1: Unknown error code" that the
/// C API appends.
pub fn duckdb_message(error: duckdb::Error) -> String {
    match error {
        duckdb::Error::DuckDBFailure(_, Some(message)) => message,
        other => other.to_string(),
    }
}

fn is_lock_conflict(error: &duckdb::Error) -> bool {
    let text = error.to_string();
    text.contains("Could not set lock") || text.contains("Conflicting lock")
}

/// Commits the transaction open on `conn`, or fails if a statement failed inside it: DuckDB
/// takes COMMIT after a failed statement as a rollback without an error, and the caller would
/// report stored what was lost. A statement first tells: an aborted transaction refuses it.
pub fn commit(conn: &duckdb::Connection) -> Result<()> {
    conn.execute_batch("SELECT 1")
        .and_then(|()| conn.execute_batch("COMMIT"))
        .map_err(|e| anyhow::anyhow!(duckdb_message(e)))
}

/// Runs `work` in one transaction: committed when it succeeds, rolled back when it fails
/// (the failure is what is returned; a failed rollback adds nothing to it).
pub fn in_transaction<T>(
    conn: &duckdb::Connection,
    work: impl FnOnce(&duckdb::Connection) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    conn.execute_batch("BEGIN TRANSACTION")?;
    match work(conn) {
        Ok(value) => {
            commit(conn)?;
            Ok(value)
        }
        Err(error) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_report_elsewhere(db: &Database, id: i64, key: &str) {
        db.conn
            .execute(
                "INSERT INTO reports (id, report_key, org_name, report_id, domain, begin_time,
                   end_time, origin, ingested_at)
                 VALUES (?, ?, 'org', 'r', 'example.com', now()::TIMESTAMP, now()::TIMESTAMP,
                   'test', now()::TIMESTAMP)",
                duckdb::params![id, key],
            )
            .unwrap();
    }

    #[test]
    fn a_transaction_a_failed_statement_aborted_is_not_committed_in_silence() {
        let dir = tempfile::tempdir().unwrap();
        let options = DbOptions::new(dir.path().join("test.duckdb"), Duration::from_secs(1));
        let db = Database::open(&options, Mode::ReadWrite).unwrap();
        db.begin().unwrap();
        store_report_elsewhere(&db, 1, "appended before the failure");
        assert!(db
            .conn
            .execute_batch("SELECT * FROM no_such_table")
            .is_err());
        let error = format!("{:#}", db.commit().unwrap_err());
        assert!(error.contains("transaction is aborted"), "{error}");
        db.conn.execute_batch("ROLLBACK").unwrap();

        // A healthy transaction commits, and only its report is there.
        db.begin().unwrap();
        store_report_elsewhere(&db, 2, "appended in a healthy transaction");
        db.commit().unwrap();
        let keys: Vec<String> = db
            .conn
            .prepare("SELECT report_key FROM reports")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(keys, ["appended in a healthy transaction"]);
    }

    #[test]
    fn known_reports_are_reused_until_another_writer_stores_some() {
        let dir = tempfile::tempdir().unwrap();
        let options = DbOptions::new(dir.path().join("test.duckdb"), Duration::from_secs(1));
        let db = Database::open(&options, Mode::ReadWrite).unwrap();
        let mut known = db.known_reports(None).unwrap();
        assert_eq!(known.stored_id("appended, not yet committed"), None);
        known.insert("appended, not yet committed", 7);

        // Nobody else wrote: the cache (with what this writer appended) is kept.
        let known = db.known_reports(Some(known)).unwrap();
        assert_eq!(known.stored_id("appended, not yet committed"), Some(7));

        // Another process stored a report: everything is read again.
        store_report_elsewhere(&db, 1, "stored by another process");
        let known = db.known_reports(Some(known)).unwrap();
        assert_eq!(known.next_id, 2);
        assert_eq!(known.stored_id("stored by another process"), Some(1));
        assert_eq!(known.stored_id("appended, not yet committed"), None);
    }
}
