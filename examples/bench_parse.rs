//! Times unpacking, parsing and building the rows alone (no database), on one core.
//!
//! `cargo run --release --example bench_parse -- CORPUS_DIR`

use duckmarc::model::{Parsed, RecordSink};
use duckmarc::pipeline::{each_document, ReadOptions};
use duckmarc::source::files::{collect, FileInput};
use std::time::Instant;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: bench_parse CORPUS_DIR");
        std::process::exit(2);
    };
    let inputs: Vec<Vec<u8>> = collect(&[dir.into()])
        .into_iter()
        .filter_map(|input| match input {
            FileInput::File { path, .. } => std::fs::read(path).ok(),
            FileInput::Unreadable { .. } => None,
        })
        .collect();
    let bytes: usize = inputs.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut records = 0;
    let read = ReadOptions::default();
    for data in &inputs {
        each_document(data, &read, &mut |document| {
            if let Parsed::Aggregate(report) = document.parsed {
                records += report.records.len();
            }
        });
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} inputs, {records} records, {:.1} MB in {seconds:.2} s on one core: {:.0} records/s",
        inputs.len(),
        bytes as f64 / 1e6,
        records as f64 / seconds
    );
}
