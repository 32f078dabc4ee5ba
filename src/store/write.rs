//! Appending analyzed inputs to an open transaction.
//!
//! Everything of an input (reports, records, auth results, its ledger row) goes into the same
//! transaction, so a crash or kill leaves no half-stored report, and the ledger never claims
//! an input whose reports are missing. Rows go through DuckDB's Appender, the fast bulk path.

use super::columns::{ReportHead, ReportRows, TABLES, TABLE_NAMES};
use crate::model::{AggregateReport, DocumentKind, Reason, TlsReport};
use crate::transform::alignment::Alignment;
use anyhow::Result;
use duckdb::arrow::compute::concat_batches;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Appender};
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

/// One input ready to store: its documents' rows built (in the parallel stage).
#[derive(Debug)]
pub struct PreparedInput {
    /// Where it came from: a file path or `imap://host/folder;UIDVALIDITY=v/;UID=n`.
    pub origin: String,
    pub hash: blake3::Hash,
    /// Settled by an earlier run, so it was not parsed again.
    pub already_settled: bool,
    pub documents: Vec<Prepared>,
}

impl PreparedInput {
    pub fn new(origin: String, hash: blake3::Hash, documents: Vec<Prepared>) -> Self {
        PreparedInput {
            origin,
            hash,
            already_settled: false,
            documents,
        }
    }

    pub fn already_settled(origin: String, hash: blake3::Hash) -> Self {
        PreparedInput {
            origin,
            hash,
            already_settled: true,
            documents: Vec::new(),
        }
    }

    /// An input that could not be read; its hash is its origin's, so it is retried.
    pub fn unreadable(origin: String, reason: String) -> Self {
        let hash = blake3::hash(origin.as_bytes());
        let document = Prepared::refused(String::new(), Reason::Unreadable(reason));
        PreparedInput::new(origin, hash, vec![document])
    }
}

/// One document ready to store.
#[derive(Debug)]
pub struct Prepared {
    /// Where inside its input (`report.zip > report.xml`), empty for the input itself.
    pub location: String,
    pub content: PreparedContent,
}

#[derive(Debug)]
pub enum PreparedContent {
    Report(Box<ReportRows>),
    Tls(Box<TlsReport>),
    Refused(Reason),
}

impl Prepared {
    pub fn report(
        location: String,
        report: AggregateReport,
        alignments: &[Alignment],
        raw: Option<&[u8]>,
    ) -> Self {
        let rows = ReportRows::build(report, alignments, raw);
        Prepared {
            location,
            content: PreparedContent::Report(Box::new(rows)),
        }
    }

    pub fn tls(location: String, report: TlsReport) -> Self {
        Prepared {
            location,
            content: PreparedContent::Tls(Box::new(report)),
        }
    }

    pub fn refused(location: String, reason: Reason) -> Self {
        Prepared {
            location,
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
    },
    Duplicate,
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
    keys: HashSet<[u8; 16]>,
    pub next_id: i64,
}

impl KnownReports {
    pub fn new(keys: impl IntoIterator<Item = String>, next_id: i64) -> KnownReports {
        KnownReports {
            keys: keys.into_iter().map(|key| digest(&key)).collect(),
            next_id,
        }
    }

    /// True if `key` was not known before; from now on it is.
    pub fn insert(&mut self, key: &str) -> bool {
        self.keys.insert(digest(key))
    }
}

fn digest(key: &str) -> [u8; 16] {
    let hash = blake3::hash(key.as_bytes());
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
) -> Result<Vec<Event>> {
    let now = Value::Timestamp(TimeUnit::Microsecond, now_micros());
    let mut events = take_already_seen(&mut inputs);
    let mut tables = Appenders::new(conn)?;
    for input in inputs {
        let mut ledger = LedgerTally::default();
        let hash = input.hash.to_hex().to_string();
        for (n, document) in input.documents.into_iter().enumerate() {
            let outcome = match document.content {
                PreparedContent::Report(rows) => {
                    if known.insert(&rows.head.key) {
                        let outcome = DocumentOutcome::Stored {
                            records: rows.records(),
                            messages: rows.head.messages,
                        };
                        tables.report(known.next_id, *rows, &input.origin, &now)?;
                        known.next_id += 1;
                        ledger.new += 1;
                        outcome
                    } else {
                        ledger.duplicates += 1;
                        DocumentOutcome::Duplicate
                    }
                }
                PreparedContent::Tls(report) => {
                    if super::tls::append_tls_report(conn, &report, &input.origin, &now)? {
                        ledger.new += 1;
                        ledger.tls = true;
                        DocumentOutcome::Stored {
                            records: report.policies.len() as u64,
                            messages: 0,
                        }
                    } else {
                        ledger.duplicates += 1;
                        ledger.tls = true;
                        DocumentOutcome::Duplicate
                    }
                }
                PreparedContent::Refused(reason) if reason.is_skip() => {
                    ledger.skipped.get_or_insert_with(|| reason.clone());
                    DocumentOutcome::Skipped(reason)
                }
                PreparedContent::Refused(reason) => {
                    ledger.note_reject(&document.location, &reason);
                    DocumentOutcome::Rejected(reason)
                }
            };
            events.push(Event {
                origin: input.origin.clone(),
                input_hash: hash.clone(),
                location: document.location,
                outcome,
                first_of_input: n == 0,
            });
        }
        tables.ledger(&hash, &input.origin, &now, &ledger)?;
    }
    tables.flush()?;
    Ok(events)
}

/// The ledger row of one input.
#[derive(Default)]
struct LedgerTally {
    new: i32,
    duplicates: i32,
    /// What was stored or found duplicate was an SMTP TLS report.
    tls: bool,
    skipped: Option<Reason>,
    /// The first rejected document's reason, and every rejection as `location: reason`.
    first_rejected: Option<Reason>,
    rejected: Vec<String>,
}

/// The ledger's own columns of one input.
struct LedgerRow {
    outcome: &'static str,
    kind: DocumentKind,
    code: Option<&'static str>,
    reason: Option<String>,
}

impl LedgerTally {
    fn note_reject(&mut self, location: &str, reason: &Reason) {
        self.first_rejected.get_or_insert_with(|| reason.clone());
        self.rejected.push(if location.is_empty() {
            reason.to_string()
        } else {
            format!("{location}: {reason}")
        });
    }

    /// Rejection wins: an input with one unreadable document must be listed for retry
    /// even when its other documents were stored.
    fn row(&self) -> LedgerRow {
        let refused = |outcome, reason: &Reason, text: String| LedgerRow {
            outcome,
            kind: reason.kind(),
            code: Some(reason.code()),
            reason: Some(text),
        };
        let kind = if self.tls {
            DocumentKind::SmtpTls
        } else {
            DocumentKind::Aggregate
        };
        let stored = |outcome| LedgerRow {
            outcome,
            kind,
            code: None,
            reason: None,
        };
        match (&self.first_rejected, &self.skipped) {
            (Some(reason), _) => refused("rejected", reason, self.rejected.join("; ")),
            _ if self.new > 0 => stored("stored"),
            _ if self.duplicates > 0 => stored("duplicate"),
            (None, Some(reason)) => refused("skipped", reason, reason.to_string()),
            (None, None) => LedgerRow {
                outcome: "skipped",
                kind: DocumentKind::Unknown,
                code: None,
                reason: None,
            },
        }
    }
}

struct Appenders<'conn> {
    reports: Appender<'conn>,
    ledger: Appender<'conn>,
    /// For the tables of [`TABLE_NAMES`], appended whole at flush.
    big: [Appender<'conn>; TABLES],
    rows: [Vec<RecordBatch>; TABLES],
}

impl<'conn> Appenders<'conn> {
    fn new(conn: &'conn duckdb::Connection) -> Result<Self> {
        let mut big = Vec::with_capacity(TABLES);
        for table in TABLE_NAMES {
            big.push(conn.appender(table)?);
        }
        Ok(Appenders {
            reports: conn.appender("reports")?,
            ledger: conn.appender("ingest_ledger")?,
            big: big
                .try_into()
                .map_err(|_| anyhow::anyhow!("one appender per table"))?,
            rows: Default::default(),
        })
    }

    fn report(&mut self, id: i64, rows: ReportRows, origin: &str, now: &Value) -> Result<()> {
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
        ])?;
        for (batches, batch) in self.rows.iter_mut().zip(ReportRows::with_id(tables, id)) {
            if batch.num_rows() > 0 {
                batches.push(batch);
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
        for (appender, batches) in self.big.iter_mut().zip(&mut self.rows) {
            if let Some(first) = batches.first() {
                let batch = concat_batches(&first.schema(), batches.iter())?;
                batches.clear();
                appender.append_record_batch(batch)?;
            }
            appender.flush()?;
        }
        self.reports.flush()?;
        self.ledger.flush()?;
        Ok(())
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
