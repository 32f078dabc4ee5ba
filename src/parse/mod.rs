//! Documents -> typed reports: `detect` decides the kind, one module per kind parses it.

mod aggregate;
pub mod bounds;
pub mod detect;
mod encoding;
mod tlsrpt;

pub use tlsrpt::parse_tls_report;

pub use aggregate::{parse_aggregate, parse_aggregates, ParseError};

use crate::model::{Document, DocumentKind, Parsed, Reason};
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

/// The documents of one piece found by `unpack`; the bytes are kept with each report when
/// `keep_raw` (a file holding several `<feedback>` gives several documents).
pub fn parse_piece(piece: Piece, keep_raw: bool) -> Vec<Document> {
    // A piece that is one document, kept without its bytes.
    let single = |parsed: Parsed| {
        vec![Document {
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
                        location: if several {
                            join(&piece.location, &format!("feedback {}", n + 1))
                        } else {
                            piece.location.clone()
                        },
                        parsed: match report {
                            Ok(report) => Parsed::Aggregate(Box::new(report)),
                            Err(error) => Parsed::Refused(error.into()),
                        },
                        raw: keep_raw.then(|| bytes.to_vec()),
                    })
                    .collect()
            }
            DocumentKind::SmtpTls => single(match parse_tls_report(&bytes) {
                Ok(report) => Parsed::SmtpTls(Box::new(report)),
                Err(reason) => Parsed::Refused(reason),
            }),
            DocumentKind::Unknown => single(Parsed::Refused(Reason::NotAReport(
                "JSON document, not a DMARC aggregate report".into(),
            ))),
            kind => single(Parsed::Refused(Reason::Unsupported(kind))),
        },
        Content::ReportlessMail(mail) => single(Parsed::Refused(detect::classify_mail(&mail))),
        Content::Refused(reason) => single(Parsed::Refused(reason)),
    }
}
