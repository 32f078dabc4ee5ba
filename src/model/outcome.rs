//! What kind of document something is, and why a document was not stored: each with a
//! stable code, kept in the ingest ledger and meant for scripts.

use std::fmt;

/// The kinds of document that arrive at a DMARC reporting address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DocumentKind {
    /// A DMARC aggregate report (RFC 7489, RFC 9990).
    Aggregate,
    /// An SMTP TLS report (RFC 8460).
    SmtpTls,
    /// A DMARC failure (forensic) report (RFC 6591 ARF, RFC 9991).
    FailureReport,
    /// A delivery status notification: a bounce of some mail.
    Bounce,
    /// An ARF feedback report that is not a DMARC failure report: a complaint or a
    /// feedback loop (RFC 5965 `abuse`, `fraud`, ...).
    Feedback,
    /// Anything else.
    Unknown,
}

impl DocumentKind {
    /// The kinds this duckmarc stores. An input skipped because its kind was not among them
    /// is read again by a duckmarc that stores that kind (see `store::settled_input_hashes`).
    pub const STORED: &'static [DocumentKind] = &[
        DocumentKind::Aggregate,
        DocumentKind::SmtpTls,
        DocumentKind::FailureReport,
    ];

    /// Stable code (ingest_ledger.kind).
    pub fn code(self) -> &'static str {
        match self {
            DocumentKind::Aggregate => "aggregate",
            DocumentKind::SmtpTls => "smtp_tls",
            DocumentKind::FailureReport => "failure_report",
            DocumentKind::Bounce => "bounce",
            DocumentKind::Feedback => "arf_feedback",
            DocumentKind::Unknown => "unknown",
        }
    }
}

/// Why a document was skipped or rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// A report of a kind this duckmarc does not store (yet): skipped, and read again once it
    /// does. Not an error.
    Unsupported(DocumentKind),
    /// Zero bytes, or only blanks.
    Empty,
    /// Nothing report-like: unknown bytes, a JSON or XML document of another kind, an e-mail
    /// without a report.
    NotAReport(String),
    /// A container (gzip, zip, mbox, e-mail) that cannot be opened.
    Damaged(String),
    /// Over one of the bounds on size, count or nesting.
    OverLimit(String),
    /// A report whose XML cannot be read (truncated, broken markup).
    Malformed(String),
    /// A report whose values are out of their bounds or missing.
    Invalid(String),
    /// The input itself could not be read (a file gone, no permission).
    Unreadable(String),
    /// An ARF feedback report of another type than `auth-failure` (a complaint, a feedback
    /// loop): not a DMARC report, skipped. The type as written.
    OtherFeedback(String),
    /// An aggregate report whose e-mail was not shown to be genuine (`reports.authenticity`
    /// other than `pass`), refused under `--require-authentic`: skipped, and read again by
    /// a run without it.
    Unauthenticated(&'static str),
}

impl Reason {
    /// Stable code (ingest_ledger.code).
    pub fn code(&self) -> &'static str {
        match self {
            Reason::Unsupported(_) => "unsupported_kind",
            Reason::Empty => "empty",
            Reason::NotAReport(_) => "not_a_report",
            Reason::Damaged(_) => "damaged_container",
            Reason::OverLimit(_) => "over_limit",
            Reason::Malformed(_) => "malformed",
            Reason::Invalid(_) => "invalid_value",
            Reason::Unreadable(_) => "unreadable",
            Reason::OtherFeedback(_) => "other_feedback_type",
            Reason::Unauthenticated(_) => "unauthenticated",
        }
    }

    /// Skipped (rightly not stored) rather than rejected (should have been a report).
    pub fn is_skip(&self) -> bool {
        matches!(
            self,
            Reason::Unsupported(_) | Reason::OtherFeedback(_) | Reason::Unauthenticated(_)
        )
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Unsupported(DocumentKind::Bounce) => {
                f.write_str("delivery status notification (bounce), not a DMARC report")
            }
            Reason::Unsupported(kind) => write!(f, "{} documents are not stored", kind.code()),
            Reason::Empty => f.write_str("empty input"),
            Reason::Malformed(detail) => write!(f, "malformed XML: {detail}"),
            Reason::Invalid(detail) => write!(f, "invalid report: {detail}"),
            Reason::OtherFeedback(kind) => write!(
                f,
                "ARF feedback report of type {kind:?} (a complaint or feedback loop), not a \
                 DMARC failure report"
            ),
            Reason::Unauthenticated(authenticity) => write!(
                f,
                "not shown to be genuine (authenticity {authenticity}): --require-authentic \
                 refuses it"
            ),
            Reason::NotAReport(detail)
            | Reason::Damaged(detail)
            | Reason::OverLimit(detail)
            | Reason::Unreadable(detail) => f.write_str(detail),
        }
    }
}
