//! Times storing alone the way ingest stores: the rows of an ingested database's big tables
//! (records, DKIM, SPF and override results) appended through DuckDB's Appender as Arrow
//! batches of 16,384 rows (as `src/store/write.rs` does), into a fresh file, on one thread,
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
use duckdb::arrow::compute::concat_batches;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::Connection;
use std::error::Error;

const TABLES: [&str; 4] = ["records", "dkim_results", "spf_results", "override_reasons"];
const ROWS_PER_APPEND: usize = 16_384;

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
    let mut rows = 0;
    conn.execute_batch("BEGIN")?;
    for Table {
        name,
        definition,
        batches,
    } in tables
    {
        conn.execute_batch(&definition)?;
        let mut appender = conn.appender(name)?;
        for batch in batches {
            rows += batch.num_rows();
            appender.append_record_batch(batch)?;
        }
        appender.flush()?;
    }
    conn.execute_batch("COMMIT; CHECKPOINT")?;
    drop(conn);
    println!("{rows} rows appended, CPU {:.2}", cpu_seconds() - cpu);
    Ok(())
}

/// One of the big tables as ingest hands it to DuckDB.
struct Table {
    name: &'static str,
    /// Its `CREATE TABLE` statement.
    definition: String,
    /// Its rows, in Arrow batches of about [`ROWS_PER_APPEND`] rows.
    batches: Vec<RecordBatch>,
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
            .prepare(&format!("SELECT * FROM {name}"))?
            .query_arrow([])?
            .collect();
        let mut batches = Vec::new();
        for group in chunks(&read) {
            batches.push(concat_batches(&group[0].schema(), group)?);
        }
        tables.push(Table {
            name,
            definition,
            batches,
        });
    }
    Ok(tables)
}

/// `batches` cut into runs of about [`ROWS_PER_APPEND`] rows.
fn chunks(batches: &[RecordBatch]) -> Vec<&[RecordBatch]> {
    let mut runs = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (end, batch) in batches.iter().enumerate() {
        rows += batch.num_rows();
        if rows >= ROWS_PER_APPEND || end + 1 == batches.len() {
            runs.push(&batches[start..=end]);
            (start, rows) = (end + 1, 0);
        }
    }
    runs
}
