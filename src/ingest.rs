//! The ingest pipeline: inputs -> unpack -> parse -> store, in batches.
//!
//! Unpacking and parsing run in parallel on all cores; one writer appends the batches to a
//! transaction that it commits every few seconds, closing the database each time so other
//! duckmarc processes (a cron job beside a watcher) get their turn.

use crate::analyze::alignment::align;
use crate::config::Config;
use crate::model::AggregateReport;
use crate::model::{AnalyzedInput, Document, Parsed, ParsedReport};
use crate::parse::{parse_aggregates, ParseError};
use crate::source::files::FileInput;
pub use crate::store::Event;
use crate::store::{
    self, BatchOutcome, Database, DbOptions, DocumentOutcome, InputHashes, KnownReports, Mode,
    ReportRows,
};
use crate::unpack::{unpack, Content, Limits};
use anyhow::Result;
use rayon::prelude::*;
use std::io::Write;
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

/// Inputs parsed together (the first batch smaller, so writing starts early), and the most
/// input bytes read into memory at once.
const BATCH_INPUTS: usize = 384;
const FIRST_BATCH_INPUTS: usize = 64;
const BATCH_BYTES: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub db: DbOptions,
    pub read: ReadOptions,
}

/// How inputs are read.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    pub limits: Limits,
    /// Store each report's XML too (gzip-compressed, in `reports.raw_xml_gz`). Off by default:
    /// compressing and storing it took a quarter of ingest time, and the inputs themselves
    /// stay where they are (or in the archive folder, or the IMAP folder they were moved to).
    pub keep_xml: bool,
}

/// Flags of every command that ingests.
#[derive(clap::Args)]
pub struct ReadArgs {
    /// Largest decompressed document accepted, in bytes [default: 104857600]
    #[arg(long, value_name = "BYTES")]
    pub max_document_bytes: Option<u64>,
    /// Also store each report's original XML, gzip-compressed, in reports.raw_xml_gz
    #[arg(long)]
    pub keep_xml: bool,
}

impl ReadArgs {
    pub fn ingest_options(&self, db: DbOptions, config: &Config) -> IngestOptions {
        let mut limits = Limits::default();
        if let Some(max) = self.max_document_bytes.or(config.max_document_bytes) {
            limits.max_document_bytes = max;
        }
        let keep_xml = self.keep_xml || config.keep_xml.unwrap_or(false);
        IngestOptions {
            db,
            read: ReadOptions { limits, keep_xml },
        }
    }
}

/// Totals of one ingest run.
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct IngestSummary {
    pub inputs: u64,
    pub new_reports: u64,
    pub new_records: u64,
    pub new_messages: u64,
    pub duplicate_reports: u64,
    pub already_seen_inputs: u64,
    pub skipped: u64,
    pub rejected: u64,
}

impl IngestSummary {
    pub fn add(&mut self, other: &IngestSummary) {
        self.inputs += other.inputs;
        self.new_reports += other.new_reports;
        self.new_records += other.new_records;
        self.new_messages += other.new_messages;
        self.duplicate_reports += other.duplicate_reports;
        self.already_seen_inputs += other.already_seen_inputs;
        self.skipped += other.skipped;
        self.rejected += other.rejected;
    }

    fn count(&mut self, outcome: &DocumentOutcome) {
        match outcome {
            DocumentOutcome::Stored { records, messages } => {
                self.new_reports += 1;
                self.new_records += records;
                self.new_messages += messages;
            }
            DocumentOutcome::Duplicate => self.duplicate_reports += 1,
            DocumentOutcome::AlreadySeen => self.already_seen_inputs += 1,
            DocumentOutcome::Skipped(_) => self.skipped += 1,
            DocumentOutcome::Rejected(_) => self.rejected += 1,
        }
    }
}

/// Ingests files listed with [`crate::source::files::collect`] (so a caller can count them first), calling
/// `on_event` for every document as its batch commits.
pub fn ingest_listed(
    inputs: Vec<FileInput>,
    options: &IngestOptions,
    on_event: impl FnMut(&Event),
) -> Result<IngestSummary> {
    ingest_files(inputs, options, &settled_inputs(&options.db)?, on_event)
}

/// Hashes of the inputs an earlier run settled, read once before a run starts parsing.
/// Read-only: cheaper to open (no schema to check, no checkpoint on close).
pub fn settled_inputs(db: &DbOptions) -> Result<InputHashes> {
    if !db.path.exists() {
        return Ok(InputHashes::new());
    }
    Database::open(db, Mode::ReadOnly)?.settled_input_hashes()
}

/// Ingests listed files in batches. Inputs whose hash is in `settled` are not parsed again.
/// Unpacking and parsing of the next batch (on all cores) overlaps with storing this one.
pub fn ingest_files(
    inputs: Vec<FileInput>,
    options: &IngestOptions,
    settled: &InputHashes,
    mut on_event: impl FnMut(&Event),
) -> Result<IngestSummary> {
    // Capacity 1: at most one analyzed batch waits while another is written, which bounds
    // memory to a few batches whatever the corpus size.
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<AnalyzedInput>>(1);
    std::thread::scope(|scope| {
        // Owned by this closure, so a writer error drops it before the scope waits for the
        // parsers: their next send fails and they stop (they would otherwise wait forever).
        let receiver = receiver;
        scope.spawn(move || {
            for batch in batches(inputs) {
                let analyzed = batch
                    .into_par_iter()
                    .map(|input| analyze_file(input, &options.read, settled))
                    .collect();
                if sender.send(analyzed).is_err() {
                    break; // the writer failed and stopped listening
                }
            }
        });
        let mut summary = IngestSummary::default();
        let mut writer = Writer::new(options);
        loop {
            // The database is not held past HOLD while the parsers are slow (a slow disk, a
            // pipe, one huge input): what there is gets committed and others get a turn.
            let next = match writer.hold_left() {
                Some(left) => receiver.recv_timeout(left),
                None => receiver.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            let mut analyzed = match next {
                Ok(analyzed) => analyzed,
                Err(RecvTimeoutError::Timeout) => {
                    writer.commit(&mut summary, &mut on_event)?;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            summary.inputs += analyzed.len() as u64;
            // Inputs stored before need no database: a re-run does not even open it.
            writer
                .appended
                .push(store::take_already_seen(&mut analyzed));
            if !analyzed.is_empty() {
                writer.append(analyzed, |_| Ok(()))?;
            }
            if writer.hold_left() == Some(Duration::ZERO) {
                writer.commit(&mut summary, &mut on_event)?;
            }
        }
        writer.commit(&mut summary, &mut on_event)?;
        Ok(summary)
    })
}

/// Stores analyzed inputs from any source (files, IMAP messages) in one transaction, together
/// with whatever `in_transaction` writes (a source's checkpoint), and closes the database.
pub fn store_batch(
    analyzed: Vec<AnalyzedInput>,
    options: &IngestOptions,
    summary: &mut IngestSummary,
    on_event: &mut impl FnMut(&Event),
    in_transaction: impl FnOnce(&duckdb::Connection) -> Result<()>,
) -> Result<()> {
    let mut writer = Writer::new(options);
    writer.append(analyzed, in_transaction)?;
    writer.commit(summary, on_event)
}

/// How long a writer keeps one transaction, and the database with it, open across batches
/// before it commits and closes the database so other duckmarc processes get their turn.
/// Large transactions are what make DuckDB fast: full row groups are compressed and written
/// once, straight into the file, instead of going through the write-ahead log first.
const HOLD: Duration = Duration::from_secs(3);

/// The single writer of an ingest run: batches are appended to one open transaction, and
/// their documents reported once it commits.
struct Writer<'a> {
    options: &'a IngestOptions,
    open: Option<OpenDatabase>,
    /// Reports in the database, kept current as batches are appended and across openings.
    known: Option<KnownReports>,
    /// Outcomes since the last commit, to report once it is done.
    appended: Vec<BatchOutcome>,
}

struct OpenDatabase {
    db: Database,
    since: Instant,
}

impl<'a> Writer<'a> {
    fn new(options: &'a IngestOptions) -> Self {
        Writer {
            options,
            open: None,
            known: None,
            appended: Vec::new(),
        }
    }

    /// Appends a batch to the open transaction, first opening the database and beginning a
    /// transaction if none is open.
    fn append(
        &mut self,
        analyzed: Vec<AnalyzedInput>,
        in_transaction: impl FnOnce(&duckdb::Connection) -> Result<()>,
    ) -> Result<()> {
        let open = match &mut self.open {
            Some(open) => open,
            None => {
                let db = Database::open(&self.options.db, Mode::ReadWrite)?;
                db.begin()?;
                self.known = Some(db.known_reports(self.known.take())?);
                self.open.insert(OpenDatabase {
                    db,
                    since: Instant::now(),
                })
            }
        };
        let started = Instant::now();
        let conn = &open.db.conn;
        let known = self
            .known
            .as_mut()
            .expect("read when the database was opened");
        let appended = store::append_batch(conn, analyzed, known)
            .and_then(|outcome| in_transaction(conn).map(|()| outcome));
        log::debug!("batch appended in {:?}", started.elapsed());
        match appended {
            Ok(outcome) => self.appended.push(outcome),
            Err(error) => {
                // Closing rolls the transaction back; the known keys held its reports.
                self.open = None;
                self.known = None;
                return Err(error);
            }
        }
        Ok(())
    }

    /// How much longer the open database may be held; `None` when none is open.
    fn hold_left(&self) -> Option<Duration> {
        let open = self.open.as_ref()?;
        Some(HOLD.saturating_sub(open.since.elapsed()))
    }

    /// Commits the open transaction (if any) and closes the database, letting a waiting
    /// process in; then reports every document since the last commit.
    fn commit(
        &mut self,
        summary: &mut IngestSummary,
        on_event: &mut impl FnMut(&Event),
    ) -> Result<()> {
        if let Some(OpenDatabase { db, .. }) = self.open.take() {
            let started = Instant::now();
            db.commit()?;
            drop(db);
            log::debug!("committed and closed in {:?}", started.elapsed());
        }
        let appended = std::mem::take(&mut self.appended);
        for event in appended.into_iter().flat_map(|b| b.documents) {
            summary.count(&event.outcome);
            on_event(&event);
        }
        Ok(())
    }
}

/// Splits inputs into batches bounded by count and by total file size.
fn batches(inputs: Vec<FileInput>) -> Vec<Vec<FileInput>> {
    let mut batches = Vec::new();
    let mut current = Vec::new();
    let mut bytes = 0;
    for input in inputs {
        let size = match &input {
            FileInput::File { size, .. } => *size,
            FileInput::Unreadable { .. } => 0,
        };
        // The first batch is small, so the writer starts while the parsers go on.
        let limit = if batches.is_empty() {
            FIRST_BATCH_INPUTS
        } else {
            BATCH_INPUTS
        };
        if !current.is_empty() && (current.len() >= limit || bytes + size > BATCH_BYTES) {
            batches.push(std::mem::take(&mut current));
            bytes = 0;
        }
        bytes += size;
        current.push(input);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

fn analyze_file(input: FileInput, read: &ReadOptions, settled: &InputHashes) -> AnalyzedInput {
    match input {
        FileInput::File { path, .. } => {
            let origin = path.display().to_string();
            match std::fs::read(&path) {
                Ok(bytes) => analyze(origin, &bytes, read, settled),
                Err(e) => unreadable(origin, format!("cannot read: {e}")),
            }
        }
        FileInput::Unreadable { origin, reason } => unreadable(origin, reason),
    }
}

fn unreadable(origin: String, reason: String) -> AnalyzedInput {
    AnalyzedInput {
        hash: blake3::hash(origin.as_bytes()).to_hex().to_string(),
        origin,
        already_settled: false,
        documents: vec![Document {
            location: String::new(),
            content: Parsed::Rejected(reason),
        }],
    }
}

/// Unpacks and parses one input. Inputs settled by an earlier run are not parsed again.
pub fn analyze(
    origin: String,
    bytes: &[u8],
    read: &ReadOptions,
    settled: &InputHashes,
) -> AnalyzedInput {
    let hash = blake3::hash(bytes);
    if settled.contains(&hash) {
        return AnalyzedInput {
            origin,
            hash: hash.to_hex().to_string(),
            already_settled: true,
            documents: Vec::new(),
        };
    }
    let mut documents = Vec::new();
    for piece in unpack(bytes, &read.limits) {
        let content = match piece.content {
            Content::Xml { bytes, charset } => {
                let reports = parse_aggregates(&bytes, charset);
                let several = reports.len() > 1;
                for (n, report) in reports.into_iter().enumerate() {
                    // Several <feedback> in one document: each is a document of its own.
                    let location = if several {
                        crate::unpack::join(&piece.location, &format!("feedback {}", n + 1))
                    } else {
                        piece.location.clone()
                    };
                    let content = prepare_report(report, &bytes, read.keep_xml);
                    documents.push(Document { location, content });
                }
                continue;
            }
            Content::Skipped(reason) => Parsed::Skipped(reason),
            Content::Rejected(reason) => Parsed::Rejected(reason),
        };
        documents.push(Document {
            location: piece.location,
            content,
        });
    }
    AnalyzedInput {
        origin,
        hash: hash.to_hex().to_string(),
        already_settled: false,
        documents,
    }
}

/// Prepares a parsed report's rows, here on all cores rather than in the writer.
fn prepare_report(
    parsed: Result<AggregateReport, ParseError>,
    xml: &[u8],
    keep_xml: bool,
) -> Parsed {
    let mut report = match parsed {
        Ok(report) => report,
        Err(error) => return Parsed::Rejected(error.to_string()),
    };
    let alignments: Vec<_> = report
        .records
        .iter()
        .map(|record| align(record, &report.policy))
        .collect();
    let rows = ReportRows::build(&report, &alignments);
    let messages = report.message_count();
    // The rows hold everything of the records now.
    report.records = Vec::new();
    Parsed::Report(Box::new(ParsedReport {
        report,
        rows,
        messages,
        raw_xml_gz: keep_xml.then(|| gzip(xml)),
    }))
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 8),
        flate2::Compression::fast(),
    );
    // Writing to a Vec cannot fail.
    encoder.write_all(data).expect("in-memory write");
    encoder.finish().expect("in-memory write")
}
