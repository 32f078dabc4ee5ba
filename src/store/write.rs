//! Writing a batch of analyzed inputs in one transaction.
//!
//! Everything of a batch (reports, records, auth results, ledger rows) commits together or not
//! at all, so a crash or kill leaves no half-stored report, and the ledger never claims an
//! input whose reports are missing. Rows go through DuckDB's Appender, the fast bulk path.

use super::columns::{AuthColumns, RecordColumns};
use super::Database;
use crate::analyze::alignment::Alignment;
use crate::model::{AggregateReport, AnalyzedInput, Parsed};
use anyhow::{Context, Result};
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

/// Outcomes of a batch, in input order: (origin, location inside the input, outcome).
#[derive(Debug, Default)]
pub struct BatchOutcome {
    pub documents: Vec<(String, String, DocumentOutcome)>,
}

/// Stores `inputs` in one transaction. `known_keys` holds the report keys already in the
/// database and gains the new ones, so duplicates within one batch are caught too.
/// `in_transaction` runs last, inside the same transaction.
pub fn write_batch(
    db: &mut Database,
    inputs: Vec<AnalyzedInput>,
    known_keys: &mut HashSet<String>,
    in_transaction: impl FnOnce(&duckdb::Connection) -> Result<()>,
) -> Result<BatchOutcome> {
    let mut next_id = db.next_report_id()?;
    let now = Value::Timestamp(TimeUnit::Microsecond, now_micros());
    let tx = db.conn.transaction()?;
    let mut outcome = BatchOutcome::default();
    {
        let mut tables = Appenders::new(&tx)?;
        for input in inputs {
            let mut ledger = LedgerTally::default();
            if input.already_settled {
                ledger.duplicates += 1;
                let doc = (
                    input.origin.clone(),
                    String::new(),
                    DocumentOutcome::AlreadySeen,
                );
                outcome.documents.push(doc);
            }
            for document in input.documents {
                let result = match document.content {
                    Parsed::Report {
                        report,
                        alignments,
                        raw_xml_gz,
                    } => {
                        if known_keys.insert(report.key()) {
                            let stored = StoredReport {
                                id: next_id,
                                report: &report,
                                alignments: &alignments,
                                raw_xml_gz: &raw_xml_gz,
                                origin: &input.origin,
                            };
                            tables.report(&stored, &now)?;
                            next_id += 1;
                            ledger.new += 1;
                            DocumentOutcome::Stored {
                                records: report.records.len() as u64,
                                messages: report.message_count(),
                            }
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
                let origin = input.origin.clone();
                outcome.documents.push((origin, document.location, result));
            }
            tables.ledger(&input.hash, &input.origin, &now, &ledger)?;
        }
        tables.flush()?;
    }
    in_transaction(&tx)?;
    tx.commit().context("cannot commit the batch")?;
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

/// A report with everything stored beside it.
struct StoredReport<'a> {
    id: i64,
    report: &'a AggregateReport,
    alignments: &'a [Alignment],
    raw_xml_gz: &'a [u8],
    origin: &'a str,
}

struct Appenders<'conn> {
    reports: Appender<'conn>,
    records: Appender<'conn>,
    dkim: Appender<'conn>,
    spf: Appender<'conn>,
    reasons: Appender<'conn>,
    ledger: Appender<'conn>,
    // The big tables are gathered column-wise and appended whole at flush.
    record_columns: RecordColumns,
    dkim_columns: AuthColumns,
    spf_columns: AuthColumns,
}

impl<'conn> Appenders<'conn> {
    fn new(conn: &'conn duckdb::Connection) -> Result<Self> {
        Ok(Appenders {
            reports: conn.appender("reports")?,
            records: conn.appender("records")?,
            dkim: conn.appender("dkim_results")?,
            spf: conn.appender("spf_results")?,
            reasons: conn.appender("override_reasons")?,
            ledger: conn.appender("ingest_ledger")?,
            record_columns: RecordColumns::default(),
            dkim_columns: AuthColumns::default(),
            spf_columns: AuthColumns::default(),
        })
    }

    fn report(&mut self, stored: &StoredReport, now: &Value) -> Result<()> {
        let StoredReport {
            id,
            report,
            alignments,
            raw_xml_gz,
            origin,
        } = *stored;
        let policy = &report.policy;
        let errors = (!report.errors.is_empty()).then(|| report.errors.join("\n"));
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
        ])?;
        for (no, (record, alignment)) in report.records.iter().zip(alignments).enumerate() {
            let no = no as i32;
            self.record_columns.push(id, no, record, alignment);
            self.dkim_columns.push_all(id, no, &record.dkim_results);
            self.spf_columns.push_all(id, no, &record.spf_results);
            for (idx, r) in record.reasons.iter().enumerate() {
                self.reasons
                    .append_row(params![id, no, idx as i32, r.kind, r.comment])?;
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
        self.records
            .append_record_batch(self.record_columns.finish()?)?;
        self.dkim
            .append_record_batch(self.dkim_columns.finish("selector")?)?;
        self.spf
            .append_record_batch(self.spf_columns.finish("scope")?)?;
        for appender in [
            &mut self.reports,
            &mut self.records,
            &mut self.dkim,
            &mut self.spf,
            &mut self.reasons,
            &mut self.ledger,
        ] {
            appender.flush()?;
        }
        Ok(())
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}
