//! Documents -> typed reports: `detect` decides the kind, one module per kind parses it.

mod aggregate;
pub mod bounds;
pub mod detect;
pub mod dmarc_record;
pub mod domain;
mod encoding;
mod failure;
mod tlsrpt;

pub use failure::parse_failure_report;
pub use tlsrpt::parse_tls_report;

pub use aggregate::{parse_aggregate, parse_aggregates, ParseError};

use crate::model::{Document, DocumentKind, Parsed, Reason, RecordSink};
use crate::unpack::{join, Content, Piece};

impl From<ParseError> for Reason {
    fn from(error: ParseError) -> Reason {
        match error {
            ParseError::NotAggregate(_) => Reason::NotAReport(error.to_string()),
            ParseError::Malformed(detail) => Reason::Malformed(detail),
            ParseError::Invalid(detail) => Reason::Invalid(detail),
        }
    }
}

/// What to keep of a document besides its parsed values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Keep {
    /// An aggregate report's XML as found (`--keep-xml`).
    pub raw: bool,
    /// The body of the original message in a failure report (`--keep-failure-bodies`):
    /// personal data, so off unless asked for.
    pub failure_bodies: bool,
}

/// The documents of one piece found by `unpack` (a file holding several `<feedback>` gives
/// several documents). An aggregate report's records go into an `R` as they are read.
pub fn parse_piece<R: RecordSink>(piece: Piece, keep: Keep) -> Vec<Document<R>> {
    // A piece that is one document, kept without its bytes.
    let single = |kind: DocumentKind, parsed: Parsed<R>| {
        vec![Document {
            kind,
            location: piece.location.clone(),
            parsed,
            raw: None,
        }]
    };
    match piece.content {
        Content::Document { bytes, charset } => match detect::kind(&bytes) {
            DocumentKind::Aggregate => {
                let reports = parse_aggregates(&bytes, charset);
                let several = reports.len() > 1;
                reports
                    .into_iter()
                    .enumerate()
                    .map(|(n, report)| Document {
                        kind: DocumentKind::Aggregate,
                        location: if several {
                            join(&piece.location, &format!("feedback {}", n + 1))
                        } else {
                            piece.location.clone()
                        },
                        parsed: match report {
                            Ok(report) => Parsed::Aggregate(Box::new(report)),
                            Err(error) => Parsed::Refused(error.into()),
                        },
                        raw: keep.raw.then(|| bytes.to_vec()),
                    })
                    .collect()
            }
            DocumentKind::SmtpTls => single(
                DocumentKind::SmtpTls,
                match parse_tls_report(&bytes, piece.report_domain.as_deref()) {
                    Ok(report) => Parsed::SmtpTls(Box::new(report)),
                    Err(reason) => Parsed::Refused(reason),
                },
            ),
            DocumentKind::Unknown => single(
                DocumentKind::Unknown,
                Parsed::Refused(Reason::NotAReport(
                    "JSON document, not a DMARC aggregate report".into(),
                )),
            ),
            kind => single(kind, Parsed::Refused(Reason::Unsupported(kind))),
        },
        Content::Mail(mail) => {
            let mut kind = detect::mail_kind(&mail);
            let parsed = match kind {
                DocumentKind::FailureReport => {
                    match parse_failure_report(&mail, keep.failure_bodies) {
                        Ok(report) => Parsed::FailureReport(Box::new(report)),
                        // A complaint is its own kind, which no duckmarc stores: settled.
                        Err(reason @ Reason::OtherFeedback(_)) => {
                            kind = DocumentKind::Feedback;
                            Parsed::Refused(reason)
                        }
                        Err(reason) => Parsed::Refused(reason),
                    }
                }
                DocumentKind::SmtpTls => Parsed::Refused(Reason::NotAReport(
                    "e-mail announces an SMTP TLS report but holds none".into(),
                )),
                DocumentKind::Bounce => Parsed::Refused(Reason::Unsupported(kind)),
                _ => Parsed::Refused(Reason::NotAReport(
                    "e-mail holds no DMARC aggregate, failure or SMTP TLS report".into(),
                )),
            };
            single(kind, parsed)
        }
        Content::Refused(reason) => single(DocumentKind::Unknown, Parsed::Refused(reason)),
        // The envelope of what follows, not a document: its parts come as pieces of their own.
        Content::Message(_) => Vec::new(),
    }
}
