//! Times storing alone the way ingest stores: the rows of an ingested database's big tables
//! (records, DKIM, SPF and override results), one Arrow batch per report as the parsers
//! build them, inserted a few hundred reports at a time through `duckmarc_rows`
//! (`src/store/scan.rs`, as `src/store/write.rs` does), into a fresh file, on one thread,
//! then committed and checkpointed. Prints CPU seconds last.
//!
//! `cargo run --release --example bench_store -- INGESTED_DB`
//!
//! Set beside `../shared/tools/store-floor.py` (DuckDB writing the same rows from its own
//! memory), it shows what handing rows from Rust to DuckDB costs; set beside
//! `bench_parse`, what the parsers cost: together, the least ingest can take on its cores.

#[path = "common/bench.rs"]
mod bench;

use bench::{allocate_as_the_binary_does, cpu_seconds};
use duckdb::arrow::array::{Array, Int64Array};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;
use duckmarc::store::scan;
use std::error::Error;

const TABLES: [&str; 4] = ["records", "dkim_results", "spf_results", "override_reasons"];
const ROWS_PER_INSERT: usize = 16_384;

fn main() -> Result<(), Box<dyn Error>> {
    allocate_as_the_binary_does();
    let Some(source) = std::env::args().nth(1) else {
        eprintln!("usage: bench_store INGESTED_DB");
        std::process::exit(2);
    };
    let tables = read_tables(&source)?;
    let out = tempfile::tempdir()?;
    let cpu = cpu_seconds();
    let conn = Connection::open(out.path().join("store.duckdb"))?;
    conn.execute_batch("SET threads = 1; SET preserve_insertion_order = false;")?;
    scan::register_function(&conn)?;
    let mut rows = 0;
    conn.execute_batch("BEGIN")?;
    for Table {
        name,
        definition,
        inserts,
    } in tables
    {
        conn.execute_batch(&definition)?;
        for reports in inserts {
            rows += reports
                .iter()
                .map(|(_, batch)| batch.num_rows())
                .sum::<usize>();
            scan::insert(&conn, name, reports)?;
        }
    }
    conn.execute_batch("COMMIT; CHECKPOINT")?;
    drop(conn);
    println!("{rows} rows appended, CPU {:.2}", cpu_seconds() - cpu);
    Ok(())
}

struct Table {
    name: &'static str,
    definition: String,
    /// Each INSERT's reports: a report's id and its rows without the `report` column.
    inserts: Vec<Vec<(i64, RecordBatch)>>,
}

fn read_tables(path: &str) -> Result<Vec<Table>, Box<dyn Error>> {
    let conn = Connection::open(path)?;
    let mut tables = Vec::new();
    for name in TABLES {
        let definition: String = conn.query_row(
            "SELECT sql FROM duckdb_tables() WHERE table_name = ?",
            [name],
            |row| row.get(0),
        )?;
        let read: Vec<RecordBatch> = conn
            .prepare(&format!("SELECT * FROM {name} ORDER BY report"))?
            .query_arrow([])?
            .collect();
        let mut inserts = vec![Vec::new()];
        let mut rows = 0;
        for batch in &read {
            for report in per_report(batch)? {
                rows += report.1.num_rows();
                inserts.last_mut().expect("never empty").push(report);
                if rows >= ROWS_PER_INSERT {
                    inserts.push(Vec::new());
                    rows = 0;
                }
            }
        }
        inserts.retain(|reports| !reports.is_empty());
        tables.push(Table {
            name,
            definition,
            inserts,
        });
    }
    Ok(tables)
}

/// A batch whose first column is `report` as one batch per report, without that column.
fn per_report(batch: &RecordBatch) -> Result<Vec<(i64, RecordBatch)>, Box<dyn Error>> {
    let ids = batch
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or("the first column is not the BIGINT report id")?;
    let rest = batch.project(&(1..batch.num_columns()).collect::<Vec<_>>())?;
    let mut reports = Vec::new();
    let mut start = 0;
    for row in 1..=ids.len() {
        if row == ids.len() || ids.value(row) != ids.value(start) {
            reports.push((ids.value(start), rest.slice(start, row - start)));
            start = row;
        }
    }
    Ok(reports)
}
