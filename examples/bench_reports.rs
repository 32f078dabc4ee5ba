//! Times every built-in report on a large database.
//!
//! `cargo run --release --example bench_reports -- DB TARGET_RECORDS`
//!
//! DB must already hold ingested reports (e.g. the gen_corpus corpus). Its reports and records
//! are copied under new ids until it holds at least TARGET_RECORDS records, then each report
//! runs three times and the best wall time is printed; then the HTML page, once.

use duckmarc::store::{Database, DbOptions, Mode};
use duckmarc::views::filters::Filters;
use duckmarc::views::reports::{self, Report};
use std::time::{Duration, Instant};

fn grow(db: &Database, target: u64) -> duckdb::Result<u64> {
    let count = |sql: &str| {
        db.conn
            .query_row(sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
    };
    let records = count("SELECT count(*) FROM records")?;
    let copies = target.div_ceil(records.max(1));
    if copies > 1 {
        let offset = count("SELECT max(id) FROM reports")?;
        db.conn.execute_batch(&format!(
            "INSERT INTO reports SELECT reports.* REPLACE (id + k * {offset} AS id, report_key || '#' || k AS report_key)
               FROM reports, range(1, {copies}) t(k) WHERE id <= {offset};
             INSERT INTO records SELECT records.* REPLACE (report + k * {offset} AS report)
               FROM records, range(1, {copies}) t(k) WHERE report <= {offset};
             CHECKPOINT;"
        ))?;
    }
    count("SELECT count(*) FROM records")
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(path), Some(target)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: bench_reports DB TARGET_RECORDS");
        std::process::exit(2);
    };
    let options = DbOptions::new(path.into(), Duration::from_secs(10));
    let records = grow(&Database::open(&options, Mode::ReadWrite)?, target)?;
    println!("{records} records");
    let db = Database::open(&options, Mode::ReadOnly)?;
    let filters = Filters {
        limit: Some(50),
        ..Filters::default()
    };
    for report in [
        Report::Sources,
        Report::Senders,
        Report::Domains,
        Report::Readiness,
        Report::Reporters,
        Report::Daily,
        Report::Failures,
    ] {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let started = Instant::now();
            let table = reports::run(&db.conn, report, &filters)?;
            best = best.min(started.elapsed());
            assert!(!table.rows.is_empty());
        }
        println!("report {report:?}: {:.3} s", best.as_secs_f64());
    }
    let started = Instant::now();
    let dashboard = reports::dashboard(&db.conn, &Filters::default())?;
    let page = duckmarc::render::html::page(&dashboard, "all reports")?;
    println!(
        "html page: {:.3} s, {} KB",
        started.elapsed().as_secs_f64(),
        page.len() / 1024
    );
    Ok(())
}
