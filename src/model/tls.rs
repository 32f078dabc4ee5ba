//! An SMTP TLS report (RFC 8460) as parsed: every policy with its summary and every failure
//! detail, never collapsed.

use super::SourceIp;

/// One report: one reporting organisation, one period, one or more policies.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsReport {
    pub org_name: String,
    pub contact_info: Option<String>,
    pub report_id: String,
    /// Seconds since the Unix epoch, UTC.
    pub begin: i64,
    pub end: i64,
    pub policies: Vec<TlsPolicy>,
    /// What duckmarc changed while reading it (a date-time without a time zone read as
    /// UTC, a count written as a string ...), one per line in `tls_reports.notes`.
    pub notes: Vec<String>,
    /// What a reader should hear at once (also in `notes`): a policy left out, whose
    /// sessions are in no total; a total its own failure details contradict.
    pub warnings: Vec<String>,
}

impl TlsReport {
    /// The identity used for de-duplication, as for aggregate reports.
    pub fn key(&self) -> String {
        format!(
            "tls|{}|{}|{}|{}",
            self.org_name, self.report_id, self.begin, self.end
        )
    }
}

/// One `policies[]` entry: the policy the sender found, and how its sessions went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsPolicy {
    /// `sts`, `tlsa` or `no-policy-found`.
    pub policy_type: String,
    pub policy_domain: String,
    pub policy_strings: Vec<String>,
    pub mx_hosts: Vec<String>,
    pub successful_sessions: u64,
    pub failed_sessions: u64,
    pub failures: Vec<TlsFailure>,
}

/// One `failure-details[]` entry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TlsFailure {
    pub result_type: String,
    pub sending_mta_ip: Option<SourceIp>,
    pub receiving_mx_hostname: Option<String>,
    pub receiving_mx_helo: Option<String>,
    pub receiving_ip: Option<String>,
    pub failed_sessions: u64,
    pub additional_information: Option<String>,
    pub failure_reason_code: Option<String>,
}
