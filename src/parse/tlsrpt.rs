//! SMTP TLS reports (RFC 8460): JSON, read with serde into loose types first (real
//! reporters write `mx-host` as a string or a list, leave optional fields out), then checked
//! against the same bounds as aggregate reports.

use super::bounds;
use crate::model::{Reason, SourceIp, TlsFailure, TlsPolicy, TlsReport};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawReport {
    organization_name: String,
    date_range: RawDateRange,
    contact_info: Option<String>,
    report_id: String,
    #[serde(default)]
    policies: Vec<RawPolicy>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawDateRange {
    start_datetime: String,
    end_datetime: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawPolicy {
    policy: RawPolicyDetails,
    summary: RawSummary,
    #[serde(default)]
    failure_details: Vec<RawFailure>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawPolicyDetails {
    policy_type: String,
    policy_domain: String,
    #[serde(default)]
    policy_string: OneOrMany,
    #[serde(default)]
    mx_host: OneOrMany,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawSummary {
    total_successful_session_count: u64,
    total_failure_session_count: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case")]
struct RawFailure {
    result_type: String,
    sending_mta_ip: Option<String>,
    receiving_mx_hostname: Option<String>,
    receiving_mx_helo: Option<String>,
    receiving_ip: Option<String>,
    failed_session_count: u64,
    additional_information: Option<String>,
    failure_reason_code: Option<String>,
}

/// A string or a list of strings.
#[derive(Deserialize, Default)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl From<OneOrMany> for Vec<String> {
    fn from(value: OneOrMany) -> Vec<String> {
        match value {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// Parses one SMTP TLS report.
pub fn parse_tls_report(bytes: &[u8]) -> Result<TlsReport, Reason> {
    let raw: RawReport = serde_json::from_slice(bytes)
        .map_err(|e| Reason::Invalid(format!("SMTP TLS report is not valid JSON: {e}")))?;
    let begin = timestamp("start-datetime", &raw.date_range.start_datetime)?;
    let end = timestamp("end-datetime", &raw.date_range.end_datetime)?;
    bounds::check_period(begin, end).map_err(Reason::Invalid)?;
    let policies = raw
        .policies
        .into_iter()
        .map(policy)
        .collect::<Result<_, _>>()?;
    let report = TlsReport {
        org_name: raw.organization_name,
        contact_info: raw.contact_info,
        report_id: raw.report_id,
        begin,
        end,
        policies,
    };
    check_lengths(&report)?;
    Ok(report)
}

fn policy(raw: RawPolicy) -> Result<TlsPolicy, Reason> {
    let count = |name: &str, value: u64| {
        if value > bounds::MAX_COUNT {
            Err(Reason::Invalid(format!(
                "{name} {value} is above the bound of {}",
                bounds::MAX_COUNT
            )))
        } else {
            Ok(value)
        }
    };
    let failures = raw
        .failure_details
        .into_iter()
        .map(|f| {
            Ok(TlsFailure {
                failed_sessions: count("failed-session-count", f.failed_session_count)?,
                result_type: f.result_type.to_ascii_lowercase(),
                sending_mta_ip: f.sending_mta_ip.as_deref().map(SourceIp::parse),
                receiving_mx_hostname: f.receiving_mx_hostname.map(|h| h.to_ascii_lowercase()),
                receiving_mx_helo: f.receiving_mx_helo,
                receiving_ip: f.receiving_ip,
                additional_information: f.additional_information,
                failure_reason_code: f.failure_reason_code,
            })
        })
        .collect::<Result<_, Reason>>()?;
    Ok(TlsPolicy {
        policy_type: raw.policy.policy_type.to_ascii_lowercase(),
        policy_domain: raw.policy.policy_domain.to_ascii_lowercase(),
        policy_strings: raw.policy.policy_string.into(),
        mx_hosts: raw.policy.mx_host.into(),
        successful_sessions: count(
            "total-successful-session-count",
            raw.summary.total_successful_session_count,
        )?,
        failed_sessions: count(
            "total-failure-session-count",
            raw.summary.total_failure_session_count,
        )?,
        failures,
    })
}

/// RFC 3339 date-time, as RFC 8460 requires.
fn timestamp(name: &str, value: &str) -> Result<i64, Reason> {
    chrono::DateTime::parse_from_rfc3339(value.trim())
        .map(|t| t.timestamp())
        .map_err(|_| Reason::Invalid(format!("{name} {value:?} is not an RFC 3339 date-time")))
}

fn check_lengths(report: &TlsReport) -> Result<(), Reason> {
    let mut texts = vec![report.org_name.as_str(), report.report_id.as_str()];
    for policy in &report.policies {
        texts.push(&policy.policy_domain);
        texts.extend(policy.policy_strings.iter().map(String::as_str));
        for failure in &policy.failures {
            texts.extend(failure.additional_information.as_deref());
            texts.extend(failure.failure_reason_code.as_deref());
        }
    }
    match texts.iter().find(|t| t.len() > bounds::MAX_VALUE_BYTES) {
        Some(_) => Err(Reason::Invalid(format!(
            "a value is longer than {} bytes",
            bounds::MAX_VALUE_BYTES
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8460_example_shape() {
        let json = br#"{"organization-name":"Company-X","date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},"contact-info":"sts@x","report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1"],"policy-domain":"Company-Y.example","mx-host":"*.mail.company-y.example"},"summary":{"total-successful-session-count":5326,"total-failure-session-count":303},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"2001:db8::1","receiving-mx-hostname":"mx1.example","failed-session-count":100}]}]}"#;
        let report = parse_tls_report(json).unwrap();
        assert_eq!(report.begin, 1_459_468_800);
        let policy = &report.policies[0];
        assert_eq!(policy.policy_domain, "company-y.example");
        assert_eq!(policy.mx_hosts, ["*.mail.company-y.example"]);
        assert_eq!(
            (policy.successful_sessions, policy.failed_sessions),
            (5326, 303)
        );
        assert_eq!(policy.failures[0].failed_sessions, 100);
    }

    #[test]
    fn broken_or_out_of_bounds_reports_are_refused() {
        assert!(matches!(
            parse_tls_report(b"{\"organization-name\": "),
            Err(Reason::Invalid(_))
        ));
        let far = br#"{"organization-name":"X","date-range":{"start-datetime":"1960-01-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},"report-id":"r","policies":[]}"#;
        assert!(matches!(parse_tls_report(far), Err(Reason::Invalid(_))));
    }
}
