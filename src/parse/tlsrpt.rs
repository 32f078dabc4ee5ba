//! SMTP TLS reports (RFC 8460): JSON, read with serde into loose types first, then checked
//! against the same bounds as aggregate reports. Real reporters bend the format; what can be
//! read without guessing is read and noted (`notes`), the rest refuses the report:
//! - `mx-host` and `policy-string` as a string or a list, optional fields left out;
//! - date-times without a time zone (Microsoft: `2023-01-10T00:00:00`): read as UTC;
//! - counts written as strings (`"5326"`) or as whole floats (`5326.0`): read as numbers;
//! - a missing count, or `null` where a summary or the failure details belong: 0 / none;
//! - a policy without `policy-domain`: cannot be placed, left out with its sessions noted;
//! - internationalised domain names: stored as A-labels (`xn--...`), as DMARC reports name them.

use super::bounds;
use super::domain::{canonical_domain, invalid_domain_note};
use crate::model::{Reason, SourceIp, TlsFailure, TlsPolicy, TlsReport};
use serde::Deserialize;

// Each type says what it expects in words: serde's errors name the Rust type otherwise
// ("expected struct RawReport"), which tells a user nothing. An untagged enum's text is the
// whole message, so it says "expected" itself.
#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    expecting = "an SMTP TLS report (a JSON object)"
)]
struct RawReport {
    organization_name: String,
    date_range: RawDateRange,
    contact_info: Option<String>,
    report_id: String,
    #[serde(default)]
    policies: Option<Vec<RawPolicy>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", expecting = "a date-range object")]
struct RawDateRange {
    start_datetime: String,
    end_datetime: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", expecting = "a policies entry (an object)")]
struct RawPolicy {
    #[serde(default)]
    policy: Option<RawPolicyDetails>,
    #[serde(default)]
    summary: Option<RawSummary>,
    #[serde(default)]
    failure_details: Option<Vec<RawFailure>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case", expecting = "a policy object")]
struct RawPolicyDetails {
    policy_type: Option<String>,
    policy_domain: Option<String>,
    #[serde(default)]
    policy_string: OneOrMany,
    #[serde(default)]
    mx_host: OneOrMany,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", expecting = "a summary object")]
struct RawSummary {
    total_successful_session_count: Option<RawCount>,
    total_failure_session_count: Option<RawCount>,
}

#[derive(Deserialize)]
#[serde(
    rename_all = "kebab-case",
    expecting = "a failure-details entry (an object)"
)]
struct RawFailure {
    result_type: Option<String>,
    sending_mta_ip: Option<String>,
    receiving_mx_hostname: Option<String>,
    receiving_mx_helo: Option<String>,
    receiving_ip: Option<String>,
    failed_session_count: Option<RawCount>,
    additional_information: Option<String>,
    failure_reason_code: Option<String>,
}

/// A string or a list of strings.
#[derive(Deserialize, Default)]
#[serde(untagged, expecting = "expected a text or a list of texts")]
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

/// A session count as reporters write it: a number, a float, or a number in a string.
#[derive(Deserialize)]
#[serde(untagged, expecting = "expected a session count (a number)")]
enum RawCount {
    Number(u64),
    Float(f64),
    Text(String),
}

/// Why a document is not an SMTP TLS report: broken JSON, or JSON of another shape.
fn json_error(error: &serde_json::Error) -> String {
    match error.classify() {
        serde_json::error::Category::Data => {
            format!("SMTP TLS report has the wrong shape: {error}")
        }
        _ => format!("SMTP TLS report is not valid JSON: {error}"),
    }
}

/// Policies one report may hold: a receiver reports one per policy it applied to the
/// domain's mail (RFC 8460 section 4.3), a handful; 300,000 took minutes to store.
const MAX_POLICIES: usize = 1_000;

/// Parses one SMTP TLS report; `mail_domain` is the `TLS-Report-Domain` of the e-mail it
/// came in, if any.
pub fn parse_tls_report(bytes: &[u8], mail_domain: Option<&str>) -> Result<TlsReport, Reason> {
    let raw: RawReport = serde_json::from_slice(super::detect::without_bom(bytes))
        .map_err(|e| Reason::Invalid(json_error(&e)))?;
    let mut notes = Vec::new();
    let begin = timestamp("start-datetime", &raw.date_range.start_datetime, &mut notes)?;
    let end = timestamp("end-datetime", &raw.date_range.end_datetime, &mut notes)?;
    bounds::check_period(begin, end).map_err(Reason::Invalid)?;
    let raw_policies = raw.policies.unwrap_or_default();
    if raw_policies.len() > MAX_POLICIES {
        return Err(Reason::OverLimit(format!(
            "SMTP TLS report with {} policies, more than {MAX_POLICIES}",
            raw_policies.len()
        )));
    }
    let (mut policies, mut warnings) = (Vec::new(), Vec::new());
    for (no, raw_policy) in raw_policies.into_iter().enumerate() {
        if let Some(policy) = policy(no, raw_policy, mail_domain, &mut notes, &mut warnings)? {
            policies.push(policy);
        }
    }
    bounds::keep_first_items(&mut notes, |more| format!("and {more} more notes"));
    bounds::keep_first_items(&mut warnings, |more| format!("and {more} more warnings"));
    let report = TlsReport {
        org_name: raw.organization_name,
        contact_info: raw.contact_info,
        report_id: raw.report_id,
        begin,
        end,
        policies,
        notes,
        warnings,
    };
    check_lengths(&report)?;
    Ok(report)
}

/// One policy, or `None` for a policy without a domain where the e-mail it came in names
/// none either (`mail_domain`); what the reader must hear of it goes into `warnings` as well
/// as `notes`.
fn policy(
    no: usize,
    raw: RawPolicy,
    mail_domain: Option<&str>,
    notes: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Option<TlsPolicy>, Reason> {
    let details = raw.policy.unwrap_or_default();
    let failures_counted = raw
        .summary
        .as_ref()
        .is_some_and(|s| s.total_failure_session_count.is_some());
    let (successful_sessions, mut failed_sessions) = match raw.summary {
        Some(summary) => (
            count(
                &format!("policies[{no}] total-successful-session-count"),
                summary.total_successful_session_count,
                notes,
            )?,
            count(
                &format!("policies[{no}] total-failure-session-count"),
                summary.total_failure_session_count,
                notes,
            )?,
        ),
        None => {
            notes.push(format!(
                "policies[{no}] has no summary: its session counts stored as 0"
            ));
            (0, 0)
        }
    };
    let written = details.policy_domain.filter(|d| !d.trim().is_empty());
    // Postfix's tlsrpt-reporter leaves out the policy-domain of a no-policy-found policy;
    // the report e-mail's TLS-Report-Domain names the domain it is about (RFC 8460 section
    // 5.3).
    let Some(domain) = written.or_else(|| {
        let domain = mail_domain?;
        notes.push(format!(
            "policies[{no}] has no policy-domain: the report e-mail's TLS-Report-Domain \
             ({domain}) stands for it (RFC 8460 section 5.3)"
        ));
        Some(domain.to_string())
    }) else {
        let why = format!(
            "policies[{no}] has no policy-domain: left out ({successful_sessions} successful, \
             {failed_sessions} failed sessions)"
        );
        notes.push(why.clone());
        warnings.push(why);
        return Ok(None);
    };
    let mut failures = Vec::new();
    for (idx, f) in raw
        .failure_details
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let failed = count(
            &format!("policies[{no}] failure-details[{idx}] failed-session-count"),
            f.failed_session_count,
            notes,
        )?;
        failures.push(TlsFailure {
            failed_sessions: failed,
            result_type: f
                .result_type
                .map_or_else(|| "unspecified".into(), |t| t.to_ascii_lowercase()),
            sending_mta_ip: f.sending_mta_ip.as_deref().map(SourceIp::parse),
            receiving_mx_hostname: f.receiving_mx_hostname.map(|h| ascii_domain(&h, notes)),
            receiving_mx_helo: f.receiving_mx_helo,
            receiving_ip: f.receiving_ip,
            additional_information: f.additional_information,
            failure_reason_code: f.failure_reason_code,
        });
    }
    // RFC 8460 section 4.4 requires the total; without it, the failures the details count
    // are at least that many (0 would contradict the details beside it). A total below its
    // details is the reporter's word against itself (Mail.ru writes 1 beside two policy
    // fetch errors: one session fetched twice, or two sessions): kept, and said.
    let detailed: u64 = failures.iter().map(|f| f.failed_sessions).sum();
    if !failures_counted && detailed > failed_sessions {
        notes.push(format!(
            "policies[{no}] total-failure-session-count missing: the {detailed} failed sessions \
             of its failure-details stored instead"
        ));
        failed_sessions = detailed;
    } else if detailed > failed_sessions {
        let why = format!(
            "policies[{no}] total-failure-session-count {failed_sessions} is less than the \
             {detailed} failed sessions its failure-details count: the total is kept as written"
        );
        notes.push(why.clone());
        warnings.push(why);
    }
    Ok(Some(TlsPolicy {
        policy_type: details
            .policy_type
            .map_or_else(|| "unspecified".into(), |t| t.to_ascii_lowercase()),
        policy_domain: ascii_domain(&domain, notes),
        policy_strings: listed(details.policy_string.into(), no, "policy-string", notes),
        mx_hosts: listed(details.mx_host.into(), no, "mx-host", notes),
        successful_sessions,
        failed_sessions,
        failures,
    }))
}

/// A policy's list of `name` (its policy's lines, its MX hosts), the first
/// [`bounds::MAX_LIST_ITEMS`] of it, and a note when there were more.
fn listed(mut items: Vec<String>, no: usize, name: &str, notes: &mut Vec<String>) -> Vec<String> {
    if items.len() > bounds::MAX_LIST_ITEMS {
        notes.push(format!(
            "policies[{no}] {name}: {} entries, the first {} kept",
            items.len(),
            bounds::MAX_LIST_ITEMS
        ));
        items.truncate(bounds::MAX_LIST_ITEMS);
    }
    items
}

/// A count within the bound; missing is 0, and a count written as text or as a float is
/// read as the number it says (both noted).
fn count(name: &str, value: Option<RawCount>, notes: &mut Vec<String>) -> Result<u64, Reason> {
    let invalid = |what: String| Reason::Invalid(format!("{name} {what}"));
    let value = match value {
        None => {
            notes.push(format!("{name} missing: stored as 0"));
            0
        }
        Some(RawCount::Number(n)) => n,
        Some(RawCount::Float(f))
            if f >= 0.0 && f.fract() == 0.0 && f <= bounds::MAX_COUNT as f64 =>
        {
            notes.push(format!("{name} written as {f:?}: read as {}", f as u64));
            f as u64
        }
        Some(RawCount::Float(f)) => return Err(invalid(format!("{f} is not a count"))),
        Some(RawCount::Text(text)) => {
            let n = text
                .trim()
                .parse::<u64>()
                .map_err(|_| invalid(format!("{text:?} is not a count")))?;
            notes.push(format!(
                "{name} written as the string {text:?}: read as {n}"
            ));
            n
        }
    };
    if value > bounds::MAX_COUNT {
        return Err(invalid(format!(
            "{value} is above the bound of {}",
            bounds::MAX_COUNT
        )));
    }
    Ok(value)
}

/// A domain name as stored (`domain.rs`); one IDNA cannot convert is kept with a note.
fn ascii_domain(name: &str, notes: &mut Vec<String>) -> String {
    canonical_domain(name).unwrap_or_else(|kept| {
        notes.push(invalid_domain_note("domain", &kept));
        kept
    })
}

/// RFC 3339 date-time, as RFC 8460 requires; one without a time zone (as Microsoft writes
/// them) is read as UTC, with a note.
fn timestamp(name: &str, value: &str, notes: &mut Vec<String>) -> Result<i64, Reason> {
    let value = value.trim();
    if let Ok(time) = chrono::DateTime::parse_from_rfc3339(value) {
        return Ok(time.timestamp());
    }
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| chrono::NaiveDateTime::parse_from_str(value, format).ok());
    match naive {
        Some(time) => {
            notes.push(format!("{name} {value:?} has no time zone: read as UTC"));
            Ok(time.and_utc().timestamp())
        }
        None => Err(Reason::Invalid(format!(
            "{name} {value:?} is not an RFC 3339 date-time"
        ))),
    }
}

/// Every text of the report within [`bounds::MAX_VALUE_BYTES`], as for aggregate reports.
fn check_lengths(report: &TlsReport) -> Result<(), Reason> {
    let mut texts = vec![report.org_name.as_str(), report.report_id.as_str()];
    texts.extend(report.contact_info.as_deref());
    for policy in &report.policies {
        texts.extend([policy.policy_type.as_str(), policy.policy_domain.as_str()]);
        texts.extend(policy.policy_strings.iter().map(String::as_str));
        texts.extend(policy.mx_hosts.iter().map(String::as_str));
        for failure in &policy.failures {
            texts.push(&failure.result_type);
            texts.extend(failure.sending_mta_ip.as_ref().map(|ip| ip.text.as_str()));
            for text in [
                &failure.receiving_mx_hostname,
                &failure.receiving_mx_helo,
                &failure.receiving_ip,
                &failure.additional_information,
                &failure.failure_reason_code,
            ] {
                texts.extend(text.as_deref());
            }
        }
    }
    match texts.iter().find(|t| t.len() > bounds::MAX_VALUE_BYTES) {
        Some(text) => Err(Reason::Invalid(format!(
            "a value is longer than {} bytes ({} bytes, starting {:?})",
            bounds::MAX_VALUE_BYTES,
            text.len(),
            text.chars().take(24).collect::<String>()
        ))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Without the required total (RFC 8460 section 4.4), the failure details' sessions
    /// stand for it, not 0 beside them; a total that is written stays as written.
    #[test]
    fn a_missing_failure_total_is_at_least_its_details() {
        let json = |summary: &str| {
            format!(
                r#"{{"organization-name":"X","date-range":{{"start-datetime":"2025-11-23T00:00:00Z","end-datetime":"2025-11-23T23:59:59Z"}},"contact-info":"a@x","report-id":"r","policies":[{{"policy":{{"policy-type":"sts","policy-domain":"example.com"}},"summary":{{{summary}}},"failure-details":[{{"result-type":"certificate-expired","failed-session-count":40}},{{"result-type":"validation-failure","failed-session-count":2}}]}}]}}"#
            )
        };
        let failed = |summary: &str| {
            let report = parse_tls_report(json(summary).as_bytes(), None).unwrap();
            (report.policies[0].failed_sessions, report.notes.len())
        };
        let (missing, notes) = failed(r#""total-successful-session-count":100"#);
        assert_eq!(
            (missing, notes),
            (42, 2),
            "the 0 noted, then the details' 42"
        );
        let written = r#""total-successful-session-count":100,"total-failure-session-count":45"#;
        assert_eq!(failed(written), (45, 0));
    }

    /// A report of the wrong shape is refused in the format's words, not Rust's.
    #[test]
    fn shape_errors_say_what_the_format_expects() {
        let reason = |json: &str| match parse_tls_report(json.as_bytes(), None) {
            Err(Reason::Invalid(reason)) => reason,
            other => panic!("{json}: {other:?}"),
        };
        let report = |policies: &str| {
            format!(
                r#"{{"organization-name":"X","date-range":{{"start-datetime":"2025-11-23T00:00:00Z","end-datetime":"2025-11-23T23:59:59Z"}},"report-id":"r","policies":[{policies}]}}"#
            )
        };
        let cases = [
            (
                r#""report""#.to_string(),
                "an SMTP TLS report (a JSON object)",
            ),
            (report("7"), "a policies entry (an object)"),
            (
                report(r#"{"summary":{"total-successful-session-count":[1]}}"#),
                "a session count (a number)",
            ),
            (
                report(r#"{"policy":{"policy-type":"sts","mx-host":{"a":1}}}"#),
                "a text or a list of texts",
            ),
        ];
        for (json, expected) in cases {
            let reason = reason(&json);
            assert!(reason.contains(expected), "{json}: {reason}");
            assert!(reason.contains("has the wrong shape"), "{reason}");
            assert!(
                !reason.contains("Raw") && !reason.contains("enum"),
                "{reason}"
            );
        }
    }

    #[test]
    fn rfc8460_example_shape() {
        let json = br#"{"organization-name":"Company-X","date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},"contact-info":"sts@x","report-id":"r1","policies":[{"policy":{"policy-type":"sts","policy-string":["version: STSv1"],"policy-domain":"Company-Y.example","mx-host":"*.mail.company-y.example"},"summary":{"total-successful-session-count":5326,"total-failure-session-count":303},"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"2001:db8::1","receiving-mx-hostname":"mx1.example","failed-session-count":100}]}]}"#;
        let report = parse_tls_report(json, None).unwrap();
        assert_eq!(report.begin, 1_459_468_800);
        let policy = &report.policies[0];
        assert_eq!(policy.policy_domain, "company-y.example");
        assert_eq!(policy.mx_hosts, ["*.mail.company-y.example"]);
        assert_eq!(
            (policy.successful_sessions, policy.failed_sessions),
            (5326, 303)
        );
        assert_eq!(policy.failures[0].failed_sessions, 100);

        // A byte order mark in front (RFC 8259 section 8.1) and a fully qualified domain.
        let json = String::from_utf8(json.to_vec()).unwrap();
        let variant = format!(
            "\u{feff}{}",
            json.replace("Company-Y.example", "company-y.example.")
        );
        let report = parse_tls_report(variant.as_bytes(), None).unwrap();
        assert_eq!(report.policies[0].policy_domain, "company-y.example");
    }

    #[test]
    fn broken_or_out_of_bounds_reports_are_refused() {
        assert!(matches!(
            parse_tls_report(b"{\"organization-name\": ", None),
            Err(Reason::Invalid(_))
        ));
        let far = br#"{"organization-name":"X","date-range":{"start-datetime":"1960-01-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},"report-id":"r","policies":[]}"#;
        assert!(matches!(
            parse_tls_report(far, None),
            Err(Reason::Invalid(_))
        ));
    }
}
