//! Appending analyzed inputs to an open transaction.
//!
//! Everything of an input (reports, records, auth results, its ledger row) goes into the same
//! transaction, so a crash or kill leaves no half-stored report, and the ledger never claims
//! an input whose reports are missing. Rows go through DuckDB's Appender, the fast bulk path.

use super::columns::{TABLES, TABLE_NAMES};
use crate::model::{AnalyzedInput, Parsed, ParsedReport};
use anyhow::Result;
use duckdb::arrow::compute::concat_batches;
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::{TimeUnit, Value};
use duckdb::{params, Appender};
use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

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
    Skipped(String),
    Rejected(String),
}

/// One document's fate, as reported to the user once its batch is committed.
#[derive(Debug, Clone)]
pub struct Event {
    /// The input it came from (a path, an IMAP URL), and the input's BLAKE3 hash, hex.
    pub origin: String,
    pub input_hash: String,
    /// Where inside the input (`report.zip > report.xml`), empty for the input itself.
    pub location: String,
    pub outcome: DocumentOutcome,
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

/// Outcomes of a batch, in input order.
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub documents: Vec<Event>,
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
pub fn take_already_seen(inputs: &mut Vec<AnalyzedInput>) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    inputs.retain(|input| {
        if input.already_settled {
            outcome.documents.push(Event {
                origin: input.origin.clone(),
                input_hash: input.hash.clone(),
                location: String::new(),
                outcome: DocumentOutcome::AlreadySeen,
            });
        }
        !input.already_settled
    });
    outcome
}

/// Appends `inputs` to the transaction open on `conn`; nothing is stored until the caller
/// commits it, and the outcomes are the caller's to report then.
pub fn append_batch(
    conn: &duckdb::Connection,
    mut inputs: Vec<AnalyzedInput>,
    known: &mut KnownReports,
) -> Result<BatchOutcome> {
    let now = Value::Timestamp(TimeUnit::Microsecond, now_micros());
    let mut outcome = take_already_seen(&mut inputs);
    let mut tables = Appenders::new(conn)?;
    for input in inputs {
        let mut ledger = LedgerTally::default();
        for document in input.documents {
            let result = match document.content {
                Parsed::Report(parsed) => {
                    if known.insert(&parsed.report.key()) {
                        let outcome = DocumentOutcome::Stored {
                            records: parsed.rows.records(),
                            messages: parsed.messages,
                        };
                        tables.report(known.next_id, *parsed, &input.origin, &now)?;
                        known.next_id += 1;
                        ledger.new += 1;
                        outcome
                    } else {
                        ledger.duplicates += 1;
                        DocumentOutcome::Duplicate
                    }
                }
                Parsed::Skipped(reason) => {
                    ledger.note_skip(&reason);
                    DocumentOutcome::Skipped(reason)
                }
                Parsed::Rejected(reason) => {
                    ledger.note_reject(&document.location, &reason);
                    DocumentOutcome::Rejected(reason)
                }
            };
            outcome.documents.push(Event {
                origin: input.origin.clone(),
                input_hash: input.hash.clone(),
                location: document.location,
                outcome: result,
            });
        }
        tables.ledger(&input.hash, &input.origin, &now, &ledger)?;
    }
    tables.flush()?;
    Ok(outcome)
}

/// The ledger row of one input.
#[derive(Default)]
struct LedgerTally {
    new: i32,
    duplicates: i32,
    skipped: Option<String>,
    rejected: Vec<String>,
}

impl LedgerTally {
    fn note_skip(&mut self, reason: &str) {
        self.skipped.get_or_insert_with(|| reason.to_string());
    }

    fn note_reject(&mut self, location: &str, reason: &str) {
        self.rejected.push(if location.is_empty() {
            reason.to_string()
        } else {
            format!("{location}: {reason}")
        });
    }

    /// Rejection wins: an input with one unreadable document must be listed for retry
    /// even when its other documents were stored.
    fn outcome(&self) -> (&'static str, Option<String>) {
        if !self.rejected.is_empty() {
            ("rejected", Some(self.rejected.join("; ")))
        } else if self.new > 0 {
            ("stored", None)
        } else if self.duplicates > 0 {
            ("duplicate", None)
        } else {
            ("skipped", self.skipped.clone())
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

    fn report(&mut self, id: i64, parsed: ParsedReport, origin: &str, now: &Value) -> Result<()> {
        let ParsedReport {
            report,
            rows,
            raw_xml_gz,
            ..
        } = parsed;
        let policy = &report.policy;
        let errors = (!report.errors.is_empty()).then(|| report.errors.join("\n"));
        let notes = (!report.notes.is_empty()).then(|| report.notes.join("\n"));
        self.reports.append_row(params![
            id,
            report.key(),
            report.org_name,
            report.email,
            report.extra_contact_info,
            report.report_id,
            policy.domain,
            Value::Timestamp(TimeUnit::Second, report.begin),
            Value::Timestamp(TimeUnit::Second, report.end),
            policy.adkim,
            policy.aspf,
            policy.p,
            policy.sp,
            policy.np,
            policy.pct,
            policy.fo,
            policy.testing,
            policy.discovery_method,
            report.schema_version,
            report.generator,
            errors,
            origin,
            now,
            raw_xml_gz,
            notes,
        ])?;
        for (batches, batch) in self.rows.iter_mut().zip(rows.with_id(id)) {
            if batch.num_rows() > 0 {
                batches.push(batch);
            }
        }
        Ok(())
    }

    fn ledger(&mut self, hash: &str, origin: &str, now: &Value, tally: &LedgerTally) -> Result<()> {
        let (outcome, reason) = tally.outcome();
        self.ledger.append_row(params![
            hash,
            origin,
            now,
            outcome,
            reason,
            tally.new,
            tally.duplicates
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
