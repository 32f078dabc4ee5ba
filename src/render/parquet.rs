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
use anyhow::{Context, Result};
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
    let Some((from, to)) = next_range(db, &key)? else {
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

/// The id range to export: one cut short before, else everything stored since the last
/// export (recorded as pending before any file is written). None when there is nothing.
fn next_range(db: &Database, key: &str) -> Result<Option<(i64, i64)>> {
    db.conn.execute(
        "INSERT INTO parquet_exports VALUES (?, 0, NULL) ON CONFLICT DO NOTHING",
        [key],
    )?;
    let (last, pending): (i64, Option<i64>) = db.conn.query_row(
        "SELECT last_report, pending_to FROM parquet_exports WHERE directory = ?",
        [key],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
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
