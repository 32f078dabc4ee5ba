//! Column builders for the big tables (records and auth results).
//!
//! Rows are gathered column by column in Arrow arrays and handed to DuckDB's Appender a whole
//! batch at a time: one copy per column instead of a conversion and an FFI call per value,
//! which made row-by-row appending the slowest part of ingest.

use crate::analyze::alignment::Alignment;
use crate::model::{DkimResult, Record, SpfResult};
use anyhow::Result;
use duckdb::arrow::array::{
    ArrayRef, BinaryBuilder, BooleanBuilder, Int32Builder, Int64Builder, StringBuilder,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use std::sync::Arc;

/// The `records` table, column by column.
#[derive(Default)]
pub struct RecordColumns {
    report: Int64Builder,
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
    dkim_aligned: BooleanBuilder,
    spf_aligned: BooleanBuilder,
    diagnosis: StringBuilder,
}

impl RecordColumns {
    pub fn push(&mut self, report: i64, no: i32, record: &Record, alignment: &Alignment) {
        self.report.append_value(report);
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
        self.dkim_aligned.append_value(alignment.dkim_aligned);
        self.spf_aligned.append_value(alignment.spf_aligned);
        self.diagnosis.append_value(alignment.diagnosis.code());
    }

    /// Everything pushed so far as one batch; the builders start empty again.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let text = |name| Field::new(name, DataType::Utf8, true);
        let schema = Schema::new(vec![
            Field::new("report", DataType::Int64, false),
            Field::new("record_no", DataType::Int32, false),
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
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.report.finish()),
            Arc::new(self.record_no.finish()),
            Arc::new(self.source_ip.finish()),
            Arc::new(self.source_ip_bytes.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.disposition.finish()),
            Arc::new(self.dkim.finish()),
            Arc::new(self.spf.finish()),
            Arc::new(self.header_from.finish()),
            Arc::new(self.envelope_from.finish()),
            Arc::new(self.envelope_to.finish()),
            Arc::new(self.dkim_aligned.finish()),
            Arc::new(self.spf_aligned.finish()),
            Arc::new(self.diagnosis.finish()),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
    }
}

/// The `dkim_results` and `spf_results` tables: (report, record_no, idx, domain, selector or
/// scope, result, human_result).
#[derive(Default)]
pub struct AuthColumns {
    report: Int64Builder,
    record_no: Int32Builder,
    idx: Int32Builder,
    domain: StringBuilder,
    detail: StringBuilder,
    result: StringBuilder,
    human_result: StringBuilder,
}

/// One DKIM or SPF result, as the columns they share.
pub struct AuthRow<'a> {
    pub domain: Option<&'a str>,
    /// The DKIM selector or the SPF scope.
    pub detail: Option<&'a str>,
    pub result: Option<&'a str>,
    pub human_result: Option<&'a str>,
}

impl<'a> From<&'a DkimResult> for AuthRow<'a> {
    fn from(r: &'a DkimResult) -> Self {
        AuthRow {
            domain: r.domain.as_deref(),
            detail: r.selector.as_deref(),
            result: r.result.as_deref(),
            human_result: r.human_result.as_deref(),
        }
    }
}

impl<'a> From<&'a SpfResult> for AuthRow<'a> {
    fn from(r: &'a SpfResult) -> Self {
        AuthRow {
            domain: r.domain.as_deref(),
            detail: r.scope.as_deref(),
            result: r.result.as_deref(),
            human_result: r.human_result.as_deref(),
        }
    }
}

impl AuthColumns {
    /// Every result of one record, numbered in report order.
    pub fn push_all<'a, R: 'a>(&mut self, report: i64, no: i32, results: &'a [R])
    where
        AuthRow<'a>: From<&'a R>,
    {
        for (idx, result) in results.iter().enumerate() {
            self.push(report, no, idx as i32, AuthRow::from(result));
        }
    }

    fn push(&mut self, report: i64, no: i32, idx: i32, row: AuthRow) {
        self.report.append_value(report);
        self.record_no.append_value(no);
        self.idx.append_value(idx);
        self.domain.append_option(row.domain);
        self.detail.append_option(row.detail);
        self.result.append_option(row.result);
        self.human_result.append_option(row.human_result);
    }

    pub fn finish(&mut self, detail_name: &str) -> Result<RecordBatch> {
        let schema = Schema::new(vec![
            Field::new("report", DataType::Int64, false),
            Field::new("record_no", DataType::Int32, false),
            Field::new("idx", DataType::Int32, false),
            Field::new("domain", DataType::Utf8, true),
            Field::new(detail_name, DataType::Utf8, true),
            Field::new("result", DataType::Utf8, true),
            Field::new("human_result", DataType::Utf8, true),
        ]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.report.finish()),
            Arc::new(self.record_no.finish()),
            Arc::new(self.idx.finish()),
            Arc::new(self.domain.finish()),
            Arc::new(self.detail.finish()),
            Arc::new(self.result.finish()),
            Arc::new(self.human_result.finish()),
        ];
        Ok(RecordBatch::try_new(Arc::new(schema), columns)?)
    }
}
