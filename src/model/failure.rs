//! A DMARC failure (forensic) report as parsed: the ARF `message/feedback-report` fields
//! (RFC 5965, RFC 6591) and the original message's headers. The body of the original is
//! personal data and is carried only when the user asked for it.

use super::SourceIp;

/// One failure report: one message that failed DMARC (or SPF/DKIM) at one receiver.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FailureReport {
    /// Identity for de-duplication: a digest of what the reporter wrote (feedback fields and
    /// the original's headers), so the same report forwarded again is found duplicate.
    pub key: String,
    /// The key duckmarc gave it before the report mail's Date was part of it (reports without
    /// an Arrival-Date or the original's headers): a row stored under it with the same
    /// `reported_at` is this report.
    pub earlier_key: Option<String>,
    /// Who sent the report (the report e-mail's From address).
    pub reporter: String,
    /// The report e-mail's Date, epoch seconds.
    pub reported_at: Option<i64>,
    /// `auth-failure` for DMARC failure reports; `abuse`, `fraud` ... in other ARF reports.
    pub feedback_type: String,
    pub user_agent: Option<String>,
    /// When the receiver got the original message, epoch seconds.
    pub arrival_date: Option<i64>,
    /// As in aggregate records, so samples join the aggregate data.
    pub source_ip: Option<SourceIp>,
    /// Lower-cased.
    pub reported_domain: String,
    pub original_mail_from: Option<String>,
    pub original_rcpt_to: Option<String>,
    /// `dkim`, `spf`, `dmarc` ...
    pub auth_failure: Option<String>,
    /// `delivered`, `spam`, `policy`, `reject` ...
    pub delivery_result: Option<String>,
    pub dkim_domain: Option<String>,
    pub dkim_identity: Option<String>,
    pub dkim_selector: Option<String>,
    pub spf_dns: Option<String>,
    pub identity_alignment: Option<String>,
    pub authentication_results: Option<String>,
    /// The original message, when the reporter included it (or its headers).
    pub original: Option<OriginalMessage>,
}

/// What a failure report shows of the message that failed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OriginalMessage {
    pub from: Option<String>,
    pub to: Option<String>,
    pub subject: Option<String>,
    pub message_id: Option<String>,
    /// The Date header, epoch seconds.
    pub date: Option<i64>,
    /// Every header line, as sent (unfolded text, decoded to UTF-8).
    pub headers: String,
    /// The body, only with `--keep-failure-bodies`.
    pub body: Option<String>,
}
