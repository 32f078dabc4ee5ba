//! The rows a report adds to the big tables (records, auth results, override reasons), as
//! Arrow column batches.
//!
//! They are built where the report is parsed, on all cores, so the single writer only gives
//! them their report id and lets DuckDB read them in place (`scan.rs`).

use crate::authenticity::Authenticity;
use crate::model::{
    AggregateReport, DkimResult, OverrideReason, PolicyPublished, Record, RecordSink, SpfResult,
    Text,
};
use crate::transform::alignment::{Alignment, AlignmentFacts};
use crate::transform::coverage::{self, OverrideFacts};
use duckdb::arrow::array::{
    ArrayBuilder, ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, StringArray,
    StringBuilder,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use duckdb::arrow::record_batch::RecordBatch;
use std::io::Write;
use std::sync::{Arc, LazyLock};

/// Everything a report adds to the database: its `reports` row, and its rows for `records`,
/// `dkim_results`, `spf_results` and `override_reasons` (without their `report` column: the
/// id is given by the writer, and DuckDB reads them through `scan.rs`).
#[derive(Debug)]
pub struct ReportRows {
    pub head: ReportHead,
    tables: [RecordBatch; TABLES],
}

/// The `reports` row of a report (its id is given when it is appended).
#[derive(Debug)]
pub struct ReportHead {
    pub key: String,
    pub org_name: String,
    pub email: Option<String>,
    pub extra_contact_info: Option<String>,
    pub report_id: String,
    pub begin: i64,
    pub end: i64,
    pub policy: PolicyPublished,
    pub schema_version: Option<String>,
    pub generator: Option<String>,
    /// `<error>` entries of the report, one per line.
    pub errors: Option<String>,
    /// What duckmarc changed while reading it, one per line.
    pub notes: Option<String>,
    /// The document, gzip-compressed (`--keep-xml`).
    pub raw_xml_gz: Option<Vec<u8>>,
    /// Whether the e-mail it came in was shown to be genuine.
    pub authenticity: Authenticity,
    pub messages: u64,
}

/// The tables [`ReportRows`] fills, in the order of its batches.
pub const TABLES: usize = 4;
pub const TABLE_NAMES: [&str; TABLES] =
    ["records", "dkim_results", "spf_results", "override_reasons"];

impl ReportRows {
    /// The report's rows (its records were taken apart as they were read); `raw` is the
    /// document, kept only if given.
    pub fn build(
        report: AggregateReport<ReportColumns>,
        raw: Option<&[u8]>,
        authenticity: Authenticity,
    ) -> ReportRows {
        let key = report.key();
        let messages = report.message_count();
        let (tables, worked_out) = report.records.finish(&report.policy);
        let mut notes = report.notes;
        if worked_out > 0 {
            notes.push(verdicts_worked_out_note(worked_out));
        }
        let lines = |items: Vec<String>| (!items.is_empty()).then(|| items.join("\n"));
        ReportRows {
            head: ReportHead {
                key,
                messages,
                org_name: report.org_name,
                email: report.email,
                extra_contact_info: report.extra_contact_info,
                report_id: report.report_id,
                begin: report.begin,
                end: report.end,
                policy: report.policy,
                schema_version: report.schema_version,
                generator: report.generator,
                errors: lines(report.errors),
                notes: lines(notes),
                raw_xml_gz: raw.map(gzip),
                authenticity,
            },
            tables,
        }
    }

    /// How many records the report has.
    pub fn records(&self) -> u64 {
        self.tables[0].num_rows() as u64
    }

    /// Memory its rows take.
    pub fn bytes(&self) -> usize {
        self.tables
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }

    /// The head, and the table batches (in the order of [`TABLE_NAMES`]).
    pub fn into_parts(self) -> (ReportHead, [RecordBatch; TABLES]) {
        (self.head, self.tables)
    }
}

/// The note of a report with `records` records that had a verdict worked out (also written
/// by the upgrade of records stored before, schema.rs).
pub(super) fn verdicts_worked_out_note(records: usize) -> String {
    let noun = if records == 1 { "record" } else { "records" };
    format!(
        "{records} {noun} without the receiver's DKIM or SPF verdict (policy_evaluated): worked \
         out from the auth_results under the published adkim/aspf (RFC 9989 section 4.4), pass \
         where they align, else fail"
    )
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

/// A table's columns after `report`: `record_no`, then `rest`.
fn keys(mut rest: Vec<Field>) -> SchemaRef {
    let mut fields = vec![Field::new("record_no", DataType::Int32, false)];
    fields.append(&mut rest);
    Arc::new(Schema::new(fields))
}

fn text(name: &str) -> Field {
    Field::new(name, DataType::Utf8, true)
}

fn idx() -> Field {
    Field::new("idx", DataType::Int32, false)
}

static RECORDS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    keys(vec![
        Field::new("source_ip", DataType::Utf8, false),
        Field::new("source_ip_bytes", DataType::Binary, true),
        Field::new("count", DataType::Int64, false),
        text("disposition"),
        text("dkim"),
        text("spf"),
        text("header_from"),
        text("envelope_from"),
        text("envelope_to"),
        Field::new("dkim_aligned", DataType::Boolean, false),
        Field::new("spf_aligned", DataType::Boolean, false),
        Field::new("diagnosis", DataType::Utf8, false),
        Field::new("own_dkim_failed", DataType::Boolean, false),
        Field::new("kept_override", DataType::Boolean, false),
        Field::new("forwarding_override", DataType::Boolean, false),
        Field::new("from_subdomain", DataType::Boolean, false),
    ])
});

fn auth_schema(detail: &str) -> SchemaRef {
    keys(vec![
        idx(),
        text("domain"),
        text(detail),
        text("result"),
        text("human_result"),
    ])
}

static DKIM_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| auth_schema("selector"));
static SPF_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| auth_schema("scope"));
static REASONS_SCHEMA: LazyLock<SchemaRef> =
    LazyLock::new(|| keys(vec![idx(), text("type"), text("comment")]));

/// The rows of one report, built as its records are read: the parser's [`RecordSink`] at
/// ingest, so a report is never held as records and as rows at once.
#[derive(Debug)]
pub struct ReportColumns {
    records: RecordColumns,
    dkim: AuthColumns,
    spf: AuthColumns,
    reasons: NumberedColumns<2>,
    /// Settled into the derived columns once the report's policy is known (at `finish`).
    derived: Vec<DerivedFacts>,
    messages: u64,
}

/// Rows to make room for at first: most reports are small, and a builder's default room
/// (1,024 values) would be mostly empty; a large report's builders double as it grows.
const FIRST_ROWS: usize = 64;

impl Default for ReportColumns {
    fn default() -> Self {
        ReportColumns {
            records: RecordColumns::with_capacity(FIRST_ROWS),
            dkim: AuthColumns::with_capacity(FIRST_ROWS),
            spf: AuthColumns::with_capacity(FIRST_ROWS),
            reasons: NumberedColumns::with_capacity(0),
            derived: Vec::with_capacity(FIRST_ROWS),
            messages: 0,
        }
    }
}

impl RecordSink for ReportColumns {
    fn push(&mut self, record: &Record) {
        let no = self.derived.len() as i32;
        self.records.push(no, record);
        self.dkim.push_all(no, &record.dkim_results);
        self.spf.push_all(no, &record.spf_results);
        self.reasons.push_all(no, &record.reasons);
        self.derived.push(DerivedFacts {
            alignment: AlignmentFacts::of(record),
            overrides: OverrideFacts::of(&record.reasons),
            header_from: record.header_from.clone(),
            without_verdict: [record.dkim.is_none(), record.spf.is_none()],
        });
        self.messages += record.count;
    }

    fn len(&self) -> usize {
        self.derived.len()
    }

    fn messages(&self) -> u64 {
        self.messages
    }
}

impl ReportColumns {
    /// The batches for each table, with alignment under the report's `policy`, and how many
    /// records had a verdict worked out (see [`RecordColumns::finish`]).
    fn finish(self, policy: &PolicyPublished) -> ([RecordBatch; TABLES], usize) {
        let (records, worked_out) = self.records.finish(&self.derived, policy);
        let tables = [
            records,
            self.dkim.finish(&DKIM_SCHEMA),
            self.spf.finish(&SPF_SCHEMA),
            self.reasons.finish(&REASONS_SCHEMA),
        ];
        (tables, worked_out)
    }
}

/// What a record's derived columns are made of, read as the record is; its alignment and
/// From domain are settled under the report's policy at finish (a report may list its
/// records before its `<policy_published>`).
#[derive(Debug)]
struct DerivedFacts {
    alignment: AlignmentFacts,
    overrides: OverrideFacts,
    header_from: Option<Text>,
    /// Whether the record lacks the receiver's DKIM and SPF verdicts (`policy_evaluated`).
    without_verdict: [bool; 2],
}

/// The `records` table, column by column (but for `report`, which the writer adds).
#[derive(Debug)]
struct RecordColumns {
    record_no: Int32Builder,
    source_ip: StringBuilder,
    source_ip_bytes: BinaryBuilder,
    count: Int64Builder,
    disposition: StringBuilder,
    dkim: StringBuilder,
    spf: StringBuilder,
    header_from: StringBuilder,
    envelope_from: StringBuilder,
    envelope_to: StringBuilder,
}

/// Bytes to reserve per value of a text column: domains and addresses are short.
const TEXT_BYTES: usize = 16;

fn text_builder(rows: usize) -> StringBuilder {
    StringBuilder::with_capacity(rows, rows * TEXT_BYTES)
}

impl RecordColumns {
    fn with_capacity(rows: usize) -> Self {
        RecordColumns {
            record_no: Int32Builder::with_capacity(rows),
            source_ip: text_builder(rows),
            source_ip_bytes: BinaryBuilder::with_capacity(rows, rows * 16),
            count: Int64Builder::with_capacity(rows),
            disposition: text_builder(rows),
            dkim: text_builder(rows),
            spf: text_builder(rows),
            header_from: text_builder(rows),
            envelope_from: text_builder(rows),
            envelope_to: text_builder(rows),
        }
    }

    fn push(&mut self, no: i32, record: &Record) {
        self.record_no.append_value(no);
        self.source_ip.append_value(&record.source.text);
        self.source_ip_bytes
            .append_option(record.source.bytes.as_ref());
        self.count.append_value(record.count as i64);
        self.disposition
            .append_option(record.disposition.as_deref());
        self.dkim.append_option(record.dkim.as_deref());
        self.spf.append_option(record.spf.as_deref());
        self.header_from
            .append_option(record.header_from.as_deref());
        self.envelope_from
            .append_option(record.envelope_from.as_deref());
        self.envelope_to
            .append_option(record.envelope_to.as_deref());
    }

    /// The batch, and how many records had a missing DKIM or SPF verdict worked out.
    ///
    /// `policy_evaluated` is required (RFC 9990's schema), but a record without it stored
    /// as is had no passing verdict, and counted as failing DMARC: the domain's own aligned
    /// mail showed as spoofing. The verdict it lacks is the alignment of its auth results
    /// (RFC 9989 section 4.4); a report note says so.
    fn finish(
        mut self,
        derived: &[DerivedFacts],
        policy: &PolicyPublished,
    ) -> (RecordBatch, usize) {
        let rows = self.record_no.len();
        let mut dkim_aligned = BooleanBuilder::with_capacity(rows);
        let mut spf_aligned = BooleanBuilder::with_capacity(rows);
        let mut diagnosis = text_builder(rows);
        let mut own_dkim_failed = BooleanBuilder::with_capacity(rows);
        let mut kept_override = BooleanBuilder::with_capacity(rows);
        let mut forwarding_override = BooleanBuilder::with_capacity(rows);
        let mut from_subdomain = BooleanBuilder::with_capacity(rows);
        // The records lacking a verdict (rare): their number, what they lack, their alignment.
        let mut without_verdict = Vec::new();
        for (no, facts) in derived.iter().enumerate() {
            let alignment = facts.alignment.under(policy);
            if facts.without_verdict.contains(&true) {
                without_verdict.push((no, facts.without_verdict, alignment));
            }
            dkim_aligned.append_value(alignment.dkim_aligned);
            spf_aligned.append_value(alignment.spf_aligned);
            diagnosis.append_value(alignment.diagnosis.code());
            own_dkim_failed.append_value(facts.alignment.own_dkim_failed());
            kept_override.append_value(facts.overrides.kept);
            forwarding_override.append_value(facts.overrides.forwarding);
            from_subdomain.append_value(coverage::from_subdomain(
                facts.header_from.as_deref(),
                &policy.domain,
            ));
        }
        let (mut dkim, mut spf) = (self.dkim.finish(), self.spf.finish());
        if !without_verdict.is_empty() {
            dkim = with_verdicts(&dkim, &without_verdict, 0, |a| a.dkim_aligned);
            spf = with_verdicts(&spf, &without_verdict, 1, |a| a.spf_aligned);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.record_no.finish()),
            Arc::new(self.source_ip.finish()),
            Arc::new(self.source_ip_bytes.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.disposition.finish()),
            Arc::new(dkim),
            Arc::new(spf),
            Arc::new(self.header_from.finish()),
            Arc::new(self.envelope_from.finish()),
            Arc::new(self.envelope_to.finish()),
            Arc::new(dkim_aligned.finish()),
            Arc::new(spf_aligned.finish()),
            Arc::new(diagnosis.finish()),
            Arc::new(own_dkim_failed.finish()),
            Arc::new(kept_override.finish()),
            Arc::new(forwarding_override.finish()),
            Arc::new(from_subdomain.finish()),
        ];
        (
            batch_of(RECORDS_SCHEMA.clone(), columns),
            without_verdict.len(),
        )
    }
}

/// A verdict column (`which`: 0 DKIM, 1 SPF) as written, with the verdict of each record
/// that lacks it worked out from its alignment: `pass` when aligned, else `fail`.
fn with_verdicts(
    written: &StringArray,
    without_verdict: &[(usize, [bool; 2], Alignment)],
    which: usize,
    aligned: fn(&Alignment) -> bool,
) -> StringArray {
    let mut column: Vec<Option<&str>> = written.iter().collect();
    for (no, lacks, alignment) in without_verdict {
        if lacks[which] {
            column[*no] = Some(if aligned(alignment) { "pass" } else { "fail" });
        }
    }
    column.into_iter().collect()
}

/// The builders above make exactly the columns of their schema, so this cannot fail.
fn batch_of(schema: SchemaRef, columns: Vec<ArrayRef>) -> RecordBatch {
    RecordBatch::try_new(schema, columns).expect("columns match their schema")
}

/// Rows numbered within their record: `(record_no, idx)` and then text columns.
#[derive(Debug)]
struct NumberedColumns<const N: usize> {
    record_no: Int32Builder,
    idx: Int32Builder,
    text: [StringBuilder; N],
}

impl<const N: usize> NumberedColumns<N> {
    fn with_capacity(rows: usize) -> Self {
        NumberedColumns {
            record_no: Int32Builder::with_capacity(rows),
            idx: Int32Builder::with_capacity(rows),
            text: std::array::from_fn(|_| text_builder(rows)),
        }
    }

    /// Every row of one record, numbered in report order.
    fn push_all<'a, R: 'a>(&mut self, no: i32, rows: &'a [R])
    where
        [Option<&'a str>; N]: From<&'a R>,
    {
        for (idx, row) in rows.iter().enumerate() {
            self.record_no.append_value(no);
            self.idx.append_value(idx as i32);
            let values: [Option<&str>; N] = row.into();
            for (builder, value) in self.text.iter_mut().zip(values) {
                builder.append_option(value);
            }
        }
    }

    fn finish(mut self, schema: &SchemaRef) -> RecordBatch {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.record_no.finish()),
            Arc::new(self.idx.finish()),
        ];
        columns.extend(
            self.text
                .iter_mut()
                .map(|builder| Arc::new(builder.finish()) as ArrayRef),
        );
        batch_of(schema.clone(), columns)
    }
}

/// `dkim_results` and `spf_results`: domain, selector or scope, result, human_result.
type AuthColumns = NumberedColumns<4>;

impl<'a> From<&'a DkimResult> for [Option<&'a str>; 4] {
    fn from(r: &'a DkimResult) -> Self {
        [
            r.domain.as_deref(),
            r.selector.as_deref(),
            r.result.as_deref(),
            r.human_result.as_deref(),
        ]
    }
}

impl<'a> From<&'a SpfResult> for [Option<&'a str>; 4] {
    fn from(r: &'a SpfResult) -> Self {
        [
            r.domain.as_deref(),
            r.scope.as_deref(),
            r.result.as_deref(),
            r.human_result.as_deref(),
        ]
    }
}

impl<'a> From<&'a OverrideReason> for [Option<&'a str>; 2] {
    fn from(r: &'a OverrideReason) -> Self {
        [r.kind.as_deref(), r.comment.as_deref()]
    }
}
