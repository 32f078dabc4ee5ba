//! Times unpacking and parsing alone (no database), on one core.
//!
//! `cargo run --release --example bench_parse -- [--bare] CORPUS_DIR`
//!
//! By default each report is parsed and its rows built, as ingest does. `--bare` is the floor
//! issue 34 measures ingest against: the same files read, unpacked (e-mail, zip, gzip) and run
//! through a bare quick-xml event loop that looks at nothing. Prints CPU seconds last.

#[path = "common/bench.rs"]
mod bench;

use bench::{allocate_as_the_binary_does, cpu_seconds};
use duckmarc::model::{Parsed, RecordSink};
use duckmarc::pipeline::{each_document, ReadOptions};
use duckmarc::source::files::{collect, FileInput};
use duckmarc::unpack::{unpack, Content};
use quick_xml::events::Event;
use std::time::Instant;

fn main() {
    allocate_as_the_binary_does();
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let bare = args.first().is_some_and(|a| a == "--bare");
    if bare {
        args.remove(0);
    }
    let Some(dir) = args.first() else {
        eprintln!("usage: bench_parse [--bare] CORPUS_DIR");
        std::process::exit(2);
    };
    let paths: Vec<_> = collect(&[dir.into()])
        .into_iter()
        .filter_map(|input| match input {
            FileInput::File { path, .. } => Some(path),
            FileInput::Unreadable { .. } => None,
        })
        .collect();
    let started = Instant::now();
    let cpu = cpu_seconds();
    let (mut bytes, mut count) = (0, 0);
    let read = ReadOptions::default();
    for path in &paths {
        let Ok(data) = std::fs::read(path) else {
            continue;
        };
        bytes += data.len();
        count += match bare {
            true => bare_events(&data, &read),
            false => records(&data, &read),
        };
    }
    let cpu = cpu_seconds() - cpu;
    let seconds = started.elapsed().as_secs_f64();
    let what = if bare { "XML events" } else { "records" };
    println!(
        "{} inputs, {count} {what}, {:.1} MB in {seconds:.2} s on one core, CPU {cpu:.2}",
        paths.len(),
        bytes as f64 / 1e6,
    );
}

fn records(data: &[u8], read: &ReadOptions) -> usize {
    let mut records = 0;
    each_document(data, read, &mut |document| {
        if let Parsed::Aggregate(report) = document.parsed {
            records += report.records.len();
        }
    });
    records
}

/// Unpacks `data` and reads every document's XML events without looking at them.
fn bare_events(data: &[u8], read: &ReadOptions) -> usize {
    let mut events = 0;
    unpack(data, &read.limits, &mut |piece| {
        if let Content::Document { bytes, .. } = piece.content {
            let mut reader = quick_xml::Reader::from_reader(&bytes[..]);
            let mut buf = Vec::new();
            loop {
                match reader.read_event_into(&mut buf) {
                    Ok(Event::Eof) | Err(_) => break,
                    Ok(_) => events += 1,
                }
                buf.clear();
            }
        }
    });
    events
}
