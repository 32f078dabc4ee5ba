//! Appending analyzed inputs to an open transaction.
//!
//! Everything of an input (reports, records, auth results, its ledger row) goes into the same
//! transaction, so a crash or kill leaves no half-stored report, and the ledger never claims
//! an input whose reports are missing. The reports and ledger rows go through DuckDB's
//! Appender; the big tables' rows are read by DuckDB in place (`scan.rs`).

use super::clock::now_micros;
use super::columns::{ReportColumns, ReportHead, ReportRows, TABLES, TABLE_NAMES};
use super::ledger::{LedgerTally, OpenInputs};
use super::resent::{self, StoredCopy};
use super::scan;
use super::tls::Appended;
use crate::authenticity::Authenticity;
use crate::model::{AggregateReport, DocumentKind, FailureReport, Reason, TlsReport};
use crate::transform::alignment::registrable_domain;
use anyhow::Result;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Appender};
use std::collections::HashMap;

/// One input ready to store: its documents' rows built (in the parallel stage).
#[derive(Debug)]
pub struct PreparedInput {
    /// Where it came from: a file path or `imap://host/folder;UIDVALIDITY=v/;UID=n`.
    pub origin: String,
    pub hash: blake3::Hash,
    /// Settled by an earlier run, so it was not parsed again.
    pub already_settled: bool,
    pub documents: Vec<Prepared>,
    /// How many of the input's documents came in its earlier parts: an input too large to
    /// hold whole (a zip of many large reports) is stored in parts, in one transaction.
    pub documents_before: usize,
    /// Its last part, or its only one: the ledger row is written with it.
    pub last_part: bool,
}

impl PreparedInput {
    pub fn new(origin: String, hash: blake3::Hash, documents: Vec<Prepared>) -> Self {
        PreparedInput::part(origin, hash, documents, 0, true)
    }

    /// `documents`, the part of an input that follows its first `documents_before`.
    pub fn part(
        origin: String,
        hash: blake3::Hash,
        documents: Vec<Prepared>,
        documents_before: usize,
        last_part: bool,
    ) -> Self {
        PreparedInput {
            origin,
            hash,
            already_settled: false,
            documents,
            documents_before,
            last_part,
        }
    }

    pub fn already_settled(origin: String, hash: blake3::Hash) -> Self {
        PreparedInput {
            already_settled: true,
            ..PreparedInput::new(origin, hash, Vec::new())
        }
    }

    /// Memory the rows of its aggregate reports take (the rest is small and bounded).
    pub fn row_bytes(&self) -> usize {
        self.documents.iter().map(Prepared::row_bytes).sum()
    }

    /// An input that could not be read; its hash is its origin's, so it is retried.
    pub fn unreadable(origin: String, reason: String) -> Self {
        let hash = blake3::hash(origin.as_bytes());
        let reason = Reason::Unreadable(reason);
        let document = Prepared::refused(String::new(), DocumentKind::Unknown, reason);
        PreparedInput::new(origin, hash, vec![document])
    }
}

/// One document ready to store.
#[derive(Debug)]
pub struct Prepared {
    /// Where inside its input (`report.zip > report.xml`), empty for the input itself.
    pub location: String,
    /// What it was found to be, stored or not (the ledger's `kind`).
    pub kind: DocumentKind,
    pub content: PreparedContent,
}

#[derive(Debug)]
pub enum PreparedContent {
    Report(Box<ReportRows>),
    Tls(Box<TlsReport>, Authenticity),
    Failure(Box<FailureReport>),
    Refused(Reason),
}

impl Prepared {
    /// Memory its rows take, if it is an aggregate report.
    pub fn row_bytes(&self) -> usize {
        match &self.content {
            PreparedContent::Report(rows) => rows.bytes(),
            _ => 0,
        }
    }

    pub fn report(
        location: String,
        report: AggregateReport<ReportColumns>,
        raw: Option<&[u8]>,
        authenticity: Authenticity,
    ) -> Self {
        let rows = ReportRows::build(report, raw, authenticity);
        Prepared {
            location,
            kind: DocumentKind::Aggregate,
            content: PreparedContent::Report(Box::new(rows)),
        }
    }

    pub fn tls(location: String, report: TlsReport, authenticity: Authenticity) -> Self {
        Prepared {
            location,
            kind: DocumentKind::SmtpTls,
            content: PreparedContent::Tls(Box::new(report), authenticity),
        }
    }

    pub fn failure(location: String, report: FailureReport) -> Self {
        Prepared {
            location,
            kind: DocumentKind::FailureReport,
            content: PreparedContent::Failure(Box::new(report)),
        }
    }

    pub fn refused(location: String, kind: DocumentKind, reason: Reason) -> Self {
        Prepared {
            location,
            kind,
            content: PreparedContent::Refused(reason),
        }
    }
}

/// What became of one document.
#[derive(Debug, Clone, PartialEq)]
pub enum DocumentOutcome {
    Stored {
        records: u64,
        messages: u64,
        /// Stored in place of a copy whose e-mail was shown not to be genuine: which, and why.
        replaced: Option<String>,
        /// What the reader should hear of it at once (a TLS report's policy left out for
        /// having no domain, a total its own details contradict).
        warnings: Vec<String>,
    },
    /// A report already stored; `differs` says how this copy's counts differ, if they do.
    Duplicate {
        differs: Option<String>,
    },
    /// The whole input was stored, skipped or found duplicate by an earlier run.
    AlreadySeen,
    Skipped(Reason),
    Rejected(Reason),
}

/// One document's fate, as reported to the source and the user once its batch is committed.
#[derive(Debug, Clone)]
pub struct Event {
    /// The input it came from (a path, an IMAP URL), and the input's BLAKE3 hash, hex.
    pub origin: String,
    pub input_hash: String,
    /// Where inside the input (`report.zip > report.xml`), empty for the input itself.
    pub location: String,
    pub outcome: DocumentOutcome,
    /// The first event of its input (each input has at least one).
    pub first_of_input: bool,
}

impl Event {
    /// `path > member` as the user should see it.
    pub fn place(&self) -> String {
        if self.location.is_empty() {
            self.origin.clone()
        } else {
            format!("{} > {}", self.origin, self.location)
        }
    }
}

/// Report keys already stored and the next free report id, kept current by a writer as it
/// appends, so duplicates within one run are caught too. Keys are held as 128-bit digests:
/// 16 bytes each however long the key, so years of reports fit in a few megabytes.
pub struct KnownReports {
    /// The id each key (its digest) is stored under: a copy is looked up by its id, which
    /// DuckDB finds at once, not by its key (a scan of every key per copy: copies cost
    /// five times a new report).
    keys: HashMap<[u8; 16], i64>,
    /// Each reporter's name as first stored, by its lower-case form.
    reporters: HashMap<String, String>,
    pub next_id: i64,
}

impl KnownReports {
    /// `keys`: each stored key with its report's id, oldest first; `reporters`: the names
    /// stored, oldest first.
    pub fn new(
        keys: impl IntoIterator<Item = (String, i64)>,
        reporters: impl IntoIterator<Item = String>,
        next_id: i64,
    ) -> KnownReports {
        let mut known = KnownReports {
            keys: HashMap::new(),
            reporters: HashMap::new(),
            next_id,
        };
        for (key, id) in keys {
            // Two keys differing only in case, stored by an older duckmarc: the first copy.
            known.keys.entry(digest(&key)).or_insert(id);
        }
        for name in reporters {
            known.reporter_name(name);
        }
        known
    }

    /// The id the report `key` is stored under, in any case of the key.
    pub fn stored_id(&self, key: &str) -> Option<i64> {
        self.keys.get(&digest(key)).copied()
    }

    /// Notes that the report `key` is stored under `id` (in place of any copy before).
    pub fn insert(&mut self, key: &str, id: i64) {
        self.keys.insert(digest(key), id);
    }

    /// The name a reporter is stored under: `name` as it was first stored, whatever the
    /// case of this report's. WEB.DE writes `WEB.DE` and `web.de`: two spellings of one
    /// reporter made two reporters (one falsely silent), and a report sent again under the
    /// other spelling was stored twice.
    fn reporter_name(&mut self, name: String) -> &str {
        self.reporters.entry(name.to_lowercase()).or_insert(name)
    }

    /// Gives `head` its reporter's stored name. Its key stays as the report writes it: the
    /// key names the report across databases, which may each have seen another spelling
    /// first.
    fn use_reporter_name(&mut self, head: &mut ReportHead) {
        let stored = self.reporter_name(head.org_name.clone());
        if stored != head.org_name {
            head.org_name = stored.to_string();
        }
    }
}

/// The reports a batch stores, by key digest: a later copy in the same batch is held against
/// them, since their rows reach the transaction only when the batch is flushed (later
/// batches find them there). Per batch, so a `watch` that runs for months does not hold an
/// entry for every report it ever stored.
#[derive(Default)]
struct StoredThisBatch(HashMap<[u8; 16], StoredCopy>);

impl StoredThisBatch {
    fn insert(&mut self, key: &str, copy: StoredCopy) {
        self.0.insert(digest(key), copy);
    }

    /// The stored copy of the known report `key`, stored under `id`; `None` if it is gone.
    fn get(&self, conn: &duckdb::Connection, key: &str, id: i64) -> Result<Option<StoredCopy>> {
        match self.0.get(&digest(key)) {
            Some(stored) => Ok(Some(stored.clone())),
            None => resent::stored_copy(conn, id),
        }
    }
}

/// A report key's digest, whatever its case: `Google.com|1|...` and `google.com|1|...` are
/// one report sent twice (the domain in a key is lower-cased already; a report id that
/// differs only in case from another of the same reporter, period and domain is taken for
/// the same report).
fn digest(key: &str) -> [u8; 16] {
    let hash = blake3::hash(key.to_lowercase().as_bytes());
    hash.as_bytes()[..16].try_into().expect("16 of 32 bytes")
}

/// Takes the inputs an earlier run settled out of `inputs`. They need nothing from the
/// database, not even a ledger row (the ledger has theirs, and a directory ingested hourly
/// would otherwise add a row per file every hour): only their "already seen" outcomes.
pub fn take_already_seen(inputs: &mut Vec<PreparedInput>) -> Vec<Event> {
    let mut events = Vec::new();
    inputs.retain(|input| {
        if input.already_settled {
            events.push(Event {
                origin: input.origin.clone(),
                input_hash: input.hash.to_hex().to_string(),
                location: String::new(),
                outcome: DocumentOutcome::AlreadySeen,
                first_of_input: true,
            });
        }
        !input.already_settled
    });
    events
}

/// Appends `inputs` to the transaction open on `conn`; nothing is stored until the caller
/// commits it, and the events are the caller's to report then.
pub fn append_batch(
    conn: &duckdb::Connection,
    mut inputs: Vec<PreparedInput>,
    known: &mut KnownReports,
    open: &mut OpenInputs,
) -> Result<Vec<Event>> {
    let now = Value::Timestamp(TimeUnit::Microsecond, now_micros());
    let mut events = take_already_seen(&mut inputs);
    let mut tables = Appenders::new(conn)?;
    let mut this_batch = StoredThisBatch::default();
    for input in inputs {
        // Only an input's later parts have a tally waiting: a whole input needs no lookup.
        let mut ledger = match input.documents_before {
            0 => LedgerTally::default(),
            _ => open.take(&input.origin, &input.hash),
        };
        let hash = input.hash.to_hex().to_string();
        for (n, document) in input.documents.into_iter().enumerate() {
            let kind = document.kind;
            let outcome = match document.content {
                PreparedContent::Report(rows) => {
                    let batch = (&mut tables, &mut this_batch);
                    store_report(conn, batch, known, *rows, &input.origin, &now)?
                }
                PreparedContent::Tls(report, authenticity) => {
                    let records = report.policies.len() as u64;
                    let appended = super::tls::append_tls_report(
                        conn,
                        &report,
                        authenticity,
                        &input.origin,
                        &now,
                    )?;
                    match appended {
                        Appended::New { replaced } => DocumentOutcome::Stored {
                            records,
                            messages: 0,
                            replaced,
                            warnings: report.warnings.clone(),
                        },
                        Appended::Copy { differs } => DocumentOutcome::Duplicate { differs },
                    }
                }
                PreparedContent::Failure(report) => {
                    match super::failure::append_failure_report(conn, &report, &input.origin, &now)?
                    {
                        // A sample of one message, not a count: aggregate totals stay apart.
                        true => DocumentOutcome::Stored {
                            records: 0,
                            messages: 0,
                            replaced: None,
                            warnings: Vec::new(),
                        },
                        false => DocumentOutcome::Duplicate { differs: None },
                    }
                }
                PreparedContent::Refused(reason) if reason.is_skip() => {
                    DocumentOutcome::Skipped(reason)
                }
                PreparedContent::Refused(reason) => DocumentOutcome::Rejected(reason),
            };
            ledger.count(kind, &document.location, &outcome);
            events.push(Event {
                origin: input.origin.clone(),
                input_hash: hash.clone(),
                location: document.location,
                outcome,
                first_of_input: input.documents_before + n == 0,
            });
        }
        if input.last_part {
            tables.ledger(&hash, &input.origin, &now, &ledger)?;
        } else {
            open.keep(&input.origin, &input.hash, ledger);
        }
    }
    tables.flush()?;
    Ok(events)
}

/// Stores a report unless a copy of it is stored already: then this copy is a duplicate,
/// or replaces the stored one if that was shown not to be genuine and this one genuine.
fn store_report(
    conn: &duckdb::Connection,
    (tables, this_batch): (&mut Appenders, &mut StoredThisBatch),
    known: &mut KnownReports,
    mut rows: ReportRows,
    origin: &str,
    now: &Value,
) -> Result<DocumentOutcome> {
    let counts = (rows.records(), rows.head.messages);
    let mut replaced = None;
    known.use_reporter_name(&mut rows.head);
    // A report deleted by hand since the ids were read is gone: stored again.
    let stored = match known.stored_id(&rows.head.key) {
        Some(id) => this_batch.get(conn, &rows.head.key, id)?,
        None => None,
    };
    if let Some(old) = stored {
        if !old.yields_to(rows.head.authenticity) {
            let resend = !old.dismisses(rows.head.authenticity);
            let differs = resend
                .then(|| resent::difference(old.counts, counts))
                .flatten();
            if differs.is_some() {
                resent::remember(conn, old.id, origin, counts, now)?;
            }
            return Ok(DocumentOutcome::Duplicate { differs });
        }
        // The old copy's rows may still be waiting in `tables`.
        tables.flush()?;
        resent::remove(conn, old.id)?;
        replaced = Some(old.replaced_note());
    }
    let id = known.next_id;
    let copy = StoredCopy::new(id, counts, rows.head.authenticity, origin);
    known.insert(&rows.head.key, id);
    this_batch.insert(&rows.head.key, copy);
    tables.report(id, rows, origin, now)?;
    known.next_id += 1;
    Ok(DocumentOutcome::Stored {
        records: counts.0,
        messages: counts.1,
        replaced,
        warnings: Vec::new(),
    })
}

/// The columns of `reports` and `ingest_ledger` the writer fills, in its order: named, since a
/// database an older duckmarc made has the columns added since in the order they came.
const REPORT_COLUMNS: [&str; 29] = [
    "id",
    "report_key",
    "org_name",
    "email",
    "extra_contact_info",
    "report_id",
    "domain",
    "begin_time",
    "end_time",
    "adkim",
    "aspf",
    "p",
    "sp",
    "np",
    "pct",
    "fo",
    "testing",
    "discovery_method",
    "schema_version",
    "generator",
    "errors",
    "origin",
    "ingested_at",
    "raw_xml_gz",
    "notes",
    "authenticity",
    "org_domain",
    "record_count",
    "message_count",
];
const LEDGER_COLUMNS: [&str; 9] = [
    "input_hash",
    "origin",
    "seen_at",
    "outcome",
    "reason",
    "new_reports",
    "duplicate_reports",
    "kind",
    "code",
];

struct Appenders<'conn> {
    conn: &'conn duckdb::Connection,
    reports: Appender<'conn>,
    ledger: Appender<'conn>,
    /// For the tables of [`TABLE_NAMES`], each report's id and rows as they came from the
    /// parsers, inserted at flush.
    rows: [Vec<(i64, RecordBatch)>; TABLES],
}

impl<'conn> Appenders<'conn> {
    fn new(conn: &'conn duckdb::Connection) -> Result<Self> {
        Ok(Appenders {
            conn,
            reports: conn.appender_with_columns("reports", &REPORT_COLUMNS)?,
            ledger: conn.appender_with_columns("ingest_ledger", &LEDGER_COLUMNS)?,
            rows: Default::default(),
        })
    }

    fn report(&mut self, id: i64, rows: ReportRows, origin: &str, now: &Value) -> Result<()> {
        let record_count = rows.records();
        let (head, tables) = rows.into_parts();
        let ReportHead {
            key,
            org_name,
            email,
            extra_contact_info,
            report_id,
            begin,
            end,
            policy,
            schema_version,
            generator,
            errors,
            notes,
            raw_xml_gz,
            authenticity,
            messages,
            ..
        } = head;
        self.reports.append_row(params![
            id,
            key,
            org_name,
            email,
            extra_contact_info,
            report_id,
            policy.domain,
            Value::Timestamp(TimeUnit::Second, begin),
            Value::Timestamp(TimeUnit::Second, end),
            policy.adkim,
            policy.aspf,
            policy.p,
            policy.sp,
            policy.np,
            policy.pct,
            policy.fo,
            policy.testing,
            policy.discovery_method,
            schema_version,
            generator,
            errors,
            origin,
            now,
            raw_xml_gz,
            notes,
            authenticity.code(),
            registrable_domain(&policy.domain),
            record_count,
            messages,
        ])?;
        for (batches, batch) in self.rows.iter_mut().zip(tables) {
            if batch.num_rows() > 0 {
                batches.push((id, batch));
            }
        }
        Ok(())
    }

    fn ledger(&mut self, hash: &str, origin: &str, now: &Value, tally: &LedgerTally) -> Result<()> {
        let row = tally.row();
        self.ledger.append_row(params![
            hash,
            origin,
            now,
            row.outcome,
            row.reason,
            tally.new,
            tally.duplicates,
            row.kind.code(),
            row.code,
        ])?;
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for (table, rows) in TABLE_NAMES.iter().zip(&mut self.rows) {
            if !rows.is_empty() {
                scan::insert(self.conn, table, std::mem::take(rows))?;
            }
        }
        self.reports.flush()?;
        self.ledger.flush()?;
        Ok(())
    }
}
