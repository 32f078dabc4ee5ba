//! Plain data types that travel between the pipeline stages: no stage's machinery (no
//! database, no parser state) inside them, so each stage can be tested alone.

mod aggregate;
mod failure;
mod names;
mod outcome;
mod tls;

pub use aggregate::*;
pub use failure::{FailureReport, OriginalMessage};
pub use names::{DnsState, DnsStatus, SourceName};
pub use outcome::{DocumentKind, Reason};
pub use tls::{TlsFailure, TlsPolicy, TlsReport};

/// One document found in an input, parsed (an aggregate report's records in `R`, see
/// [`RecordSink`]).
#[derive(Debug)]
pub struct Document<R = Vec<Record>> {
    /// What `parse::detect` found it to be, whether or not it could be read.
    pub kind: DocumentKind,
    /// Path inside the input (`report.zip > report.xml`), empty for the input itself.
    pub location: String,
    pub parsed: Parsed<R>,
    /// The document's bytes as found, kept only when asked to (`--keep-xml`).
    pub raw: Option<Vec<u8>>,
}

/// What a document turned out to be.
#[derive(Debug)]
pub enum Parsed<R = Vec<Record>> {
    Aggregate(Box<AggregateReport<R>>),
    SmtpTls(Box<TlsReport>),
    FailureReport(Box<FailureReport>),
    /// Not stored, and why (skipped or rejected: see [`Reason::is_skip`]).
    Refused(Reason),
}
