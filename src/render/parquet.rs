//! `duckmarc export --parquet DIR`: the reports as a Hive-partitioned Parquet dataset that
//! Spark, Trino, DuckDB or pandas read, written incrementally.
//!
//! Each run exports the reports stored since the last run to the same directory (ids in
//! `(last_report, to]`, table `parquet_exports`), as new files named after that range:
//! `DIR/records/day=2025-11-24/reports-101-250-0.parquet`. The files are written in a hidden
//! staging directory and renamed into place, so a reader never sees half a file. The range is
//! recorded before writing: a run that is cut short is redone by the next one under the same
//! names, replacing what it left, so no report is exported twice.

use crate::store::Database;
use crate::views::reports::sql_string;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};

const EXPORT_VIEWS: &str = include_str!("../../queries/export.sql");

/// DuckDB's memory limit while exporting (it spills to disk beyond it).
const EXPORT_MEMORY: &str = "256MB";

/// The datasets, each a directory of `day=YYYY-MM-DD` partitions.
const DATASETS: [&str; 5] = [
    "reports",
    "records",
    "dkim_results",
    "spf_results",
    "override_reasons",
];

#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    pub reports: u64,
    pub records: u64,
    pub files: usize,
}

/// Exports what `dir` does not hold yet.
pub fn export(db: &Database, dir: &Path) -> Result<ExportSummary> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot open {}", dir.display()))?;
    let key = dir.display().to_string();
    let Some((from, to)) = next_range(db, &dir, &key)? else {
        return Ok(ExportSummary::default());
    };
    // A partitioned COPY keeps a buffer per open day: more room than a writer's 96 MB (which
    // fails on a few hundred days of millions of records), and every core.
    db.conn.execute_batch(&format!(
        "SET memory_limit = '{EXPORT_MEMORY}'; SET threads = {}; \
         SET partitioned_write_flush_threshold = 65536; SET partitioned_write_max_open_files = 32; \
         SET VARIABLE export_from = {from}; SET VARIABLE export_to = {to};",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    ))?;
    crate::views::table::run(&db.conn, EXPORT_VIEWS)?;
    let count = |sql: &str| db.conn.query_row(sql, [], |row| row.get::<_, i64>(0));
    let summary = ExportSummary {
        reports: count("SELECT count(*) FROM export_reports")? as u64,
        records: count("SELECT count(*) FROM export_records")? as u64,
        files: write_datasets(db, &dir, from, to)?,
    };
    db.conn.execute(
        "UPDATE parquet_exports SET last_report = ?, pending_to = NULL WHERE directory = ?",
        duckdb::params![to, key],
    )?;
    Ok(summary)
}

/// The file in an export directory that names the export it holds (hidden: Spark, DuckDB
/// and pandas skip it), so the directory itself tells whether it still holds this
/// database's earlier exports.
const MARKER: &str = ".duckmarc-export";

/// What this database recorded of its export to a directory.
struct Recorded {
    last_report: i64,
    pending_to: Option<i64>,
    export_id: Option<String>,
}

/// The id range to export: one cut short before, else everything stored since the last
/// export (recorded as pending before any file is written). None when there is nothing.
fn next_range(db: &Database, dir: &Path, key: &str) -> Result<Option<(i64, i64)>> {
    let recorded = recorded_export(db, key)?;
    let (last, pending, export_id) = what_the_directory_holds(db, dir, recorded)?;
    db.conn.execute(
        "INSERT OR REPLACE INTO parquet_exports VALUES (?, ?, ?, ?)",
        duckdb::params![key, last, pending, export_id],
    )?;
    write_marker(dir, &export_id)?;
    if let Some(to) = pending {
        log::warn!(
            "the export of reports {}-{to} was cut short: writing it again",
            last + 1
        );
        return Ok(Some((last, to)));
    }
    let newest: i64 = db
        .conn
        .query_row("SELECT coalesce(max(id), 0) FROM reports", [], |row| {
            row.get(0)
        })?;
    if newest <= last {
        return Ok(None);
    }
    db.conn.execute(
        "UPDATE parquet_exports SET pending_to = ? WHERE directory = ?",
        duckdb::params![newest, key],
    )?;
    Ok(Some((last, newest)))
}

fn recorded_export(db: &Database, key: &str) -> Result<Option<Recorded>> {
    let mut statement = db.conn.prepare(
        "SELECT last_report, pending_to, export_id FROM parquet_exports WHERE directory = ?",
    )?;
    let mut rows = statement.query_map([key], |row| {
        Ok(Recorded {
            last_report: row.get(0)?,
            pending_to: row.get(1)?,
            export_id: row.get(2)?,
        })
    })?;
    Ok(rows.next().transpose()?)
}

/// From what the database recorded and what `dir` holds: the last report exported there,
/// the range being written and the export's id. A directory with no marker and no datasets
/// (removed or emptied since) is exported to from the first report again; a directory
/// holding another database's export (its marker, or datasets this database never
/// recorded) is refused, since the same file names would overwrite its files.
fn what_the_directory_holds(
    db: &Database,
    dir: &Path,
    recorded: Option<Recorded>,
) -> Result<(i64, Option<i64>, String)> {
    let marker = read_marker(dir)?;
    // A dataset folder with something in it (`rm -rf DIR/*` leaves the hidden marker alone).
    let holds_datasets = DATASETS.iter().any(|dataset| {
        std::fs::read_dir(dir.join(dataset)).is_ok_and(|mut entries| entries.next().is_some())
    });
    match (recorded, marker) {
        (Some(recorded), Some(marker)) if recorded.export_id.as_deref() == Some(&marker) => {
            match holds_datasets {
                true => Ok((recorded.last_report, recorded.pending_to, marker)),
                false => Ok(start_over(dir, Some(recorded), marker)),
            }
        }
        (_, Some(_)) => bail!(
            "{} holds another database's export (its {MARKER} is not this database's): \
             give each database a directory of its own",
            dir.display()
        ),
        (None, None) if holds_datasets => bail!(
            "{} holds datasets this database did not export: give each database a directory \
             of its own",
            dir.display()
        ),
        // Exported by a duckmarc from before the marker, or the marker alone was deleted.
        (Some(recorded), None) if holds_datasets => Ok((
            recorded.last_report,
            recorded.pending_to,
            recorded.export_id.map_or_else(|| new_export_id(db), Ok)?,
        )),
        (recorded, None) => Ok(start_over(dir, recorded, new_export_id(db)?)),
    }
}

/// Every report again into `dir`, which holds none of the reports recorded as exported to
/// it (removed or emptied since): said when some were.
fn start_over(
    dir: &Path,
    recorded: Option<Recorded>,
    export_id: String,
) -> (i64, Option<i64>, String) {
    if recorded.is_some_and(|r| r.pending_to.unwrap_or(r.last_report) > 0) {
        log::warn!(
            "{} no longer holds the reports exported to it (removed or emptied since): \
             exporting every report again",
            dir.display()
        );
    }
    (0, None, export_id)
}

fn new_export_id(db: &Database) -> Result<String> {
    Ok(db
        .conn
        .query_row("SELECT uuid()::VARCHAR", [], |row| row.get(0))?)
}

fn read_marker(dir: &Path) -> Result<Option<String>> {
    let path = dir.join(MARKER);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text.trim().to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Written before any file of the export, by a rename, so it is never half written.
fn write_marker(dir: &Path, export_id: &str) -> Result<()> {
    let path = dir.join(MARKER);
    if read_marker(dir)?.as_deref() == Some(export_id) {
        return Ok(());
    }
    let staged = dir.join(format!("{MARKER}.new"));
    std::fs::write(&staged, format!("{export_id}\n"))
        .and_then(|()| std::fs::rename(&staged, &path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Writes every dataset into a staging directory, then renames each file into its
/// partition. Returns how many files were published.
fn write_datasets(db: &Database, dir: &Path, from: i64, to: i64) -> Result<usize> {
    let range = format!("reports-{}-{to}", from + 1);
    let staging = dir.join(format!(".staging-{range}"));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("cannot create {}", staging.display()))?;
    let mut published = 0;
    for dataset in DATASETS {
        let target = staging.join(dataset);
        db.conn
            .execute_batch(&format!(
                "COPY (SELECT * FROM export_{dataset}) TO {} \
                 (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (day), \
                  FILENAME_PATTERN '{range}-{{i}}', OVERWRITE_OR_IGNORE)",
                sql_string(&target.display().to_string())
            ))
            .with_context(|| format!("cannot write {}", target.display()))?;
        published += publish(&target, &dir.join(dataset))?;
    }
    std::fs::remove_dir_all(&staging)?;
    Ok(published)
}

/// Moves `staged/day=X/FILE` to `dataset/day=X/FILE`: one rename each, atomic.
fn publish(staged: &Path, dataset: &Path) -> Result<usize> {
    let mut moved = 0;
    if !staged.exists() {
        return Ok(0); // nothing of this kind in the range
    }
    for partition in std::fs::read_dir(staged)? {
        let partition = partition?.path();
        let Some(name) = partition.file_name() else {
            continue;
        };
        let destination: PathBuf = dataset.join(name);
        std::fs::create_dir_all(&destination)
            .with_context(|| format!("cannot create {}", destination.display()))?;
        for file in std::fs::read_dir(&partition)? {
            let file = file?.path();
            let Some(file_name) = file.file_name() else {
                continue;
            };
            let published = destination.join(file_name);
            std::fs::rename(&file, &published)
                .with_context(|| format!("cannot move {} into place", file.display()))?;
            moved += 1;
        }
    }
    Ok(moved)
}
