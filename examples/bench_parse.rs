//! Times unpacking and parsing alone (no database), on one core.
//!
//! `cargo run --release --example bench_parse -- CORPUS_DIR`

use duckmarc::ingest::{analyze, ReadOptions};
use duckmarc::model::Parsed;
use duckmarc::source::files::{collect, FileInput};
use std::collections::HashSet;
use std::time::Instant;

fn main() {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: bench_parse CORPUS_DIR");
        std::process::exit(2);
    };
    let inputs: Vec<(String, Vec<u8>)> = collect(&[dir.into()])
        .into_iter()
        .filter_map(|input| match input {
            FileInput::File { path, .. } => {
                Some((path.display().to_string(), std::fs::read(path).ok()?))
            }
            FileInput::Unreadable { .. } => None,
        })
        .collect();
    let bytes: usize = inputs.iter().map(|(_, b)| b.len()).sum();
    let started = Instant::now();
    let mut records = 0;
    for (origin, data) in &inputs {
        let read = ReadOptions::default();
        for document in analyze(origin.clone(), data, &read, &HashSet::new()).documents {
            if let Parsed::Report(parsed) = document.content {
                records += parsed.rows.records();
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{} inputs, {records} records, {:.1} MB in {seconds:.2} s on one core: {:.0} records/s",
        inputs.len(),
        bytes as f64 / 1e6,
        records as f64 / seconds
    );
}
