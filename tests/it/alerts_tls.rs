//! `duckmarc alerts` and SMTP TLS reports (RFC 8460): a day on which a share of the sessions
//! to a domain failed is raised once, counted over every receiver's report of that day.

use crate::alerts::{alerts, kinds};
use crate::common::*;
use serde_json::Value;

/// A TLS report of `org` for example.com on 2026-11-DAY, with its failures (result type,
/// MX host, sessions).
fn tls_report(
    scratch: &Scratch,
    org: &str,
    day: u32,
    successful: u64,
    failures: &[(&str, &str, u64)],
) -> std::path::PathBuf {
    let failed: u64 = failures.iter().map(|(_, _, n)| n).sum();
    let details: Vec<String> = failures
        .iter()
        .map(|(kind, mx, n)| {
            format!(
                r#"{{"result-type":"{kind}","receiving-mx-hostname":"{mx}","failed-session-count":{n}}}"#
            )
        })
        .collect();
    let json = format!(
        r#"{{"organization-name":"{org}","date-range":{{"start-datetime":"2026-11-{day:02}T00:00:00Z","end-datetime":"2026-11-{day:02}T23:59:59Z"}},"contact-info":"tls@{org}","report-id":"{org}-{day}","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce"],"policy-domain":"example.com","mx-host":["mx1.example.com"]}},"summary":{{"total-successful-session-count":{successful},"total-failure-session-count":{failed}}},"failure-details":[{}]}}]}}"#,
        details.join(",")
    );
    scratch.write(&format!("{org}-{day}.json"), json.as_bytes())
}

fn tls_alerts(found: &[Value]) -> Vec<&Value> {
    found
        .iter()
        .filter(|a| a["kind"] == "tls_failing")
        .collect()
}

#[test]
fn a_day_of_failing_tls_sessions_is_raised_once_over_every_receivers_report() {
    let scratch = Scratch::new();
    let quiet = tls_report(&scratch, "google.com", 1, 100, &[]);
    assert_success(&scratch.ingest(&[&quiet]));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(0), "{found:?} {says}");

    // Two failures in 97 sessions (2%): under the 5% default.
    let few = tls_report(
        &scratch,
        "google.com",
        2,
        95,
        &[("validation-failure", "mx1.example.com", 2)],
    );
    assert_success(&scratch.ingest(&[&few]));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(0), "{found:?} {says}");

    // Another receiver's report of the same day: 32 of 137 sessions of the day failed.
    let expired = tls_report(
        &scratch,
        "microsoft.com",
        2,
        10,
        &[("certificate-expired", "mx1.example.com", 30)],
    );
    assert_success(&scratch.ingest(&[&expired]));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4), "{says}");
    let raised = tls_alerts(&found);
    assert_eq!(raised.len(), 1, "{found:?}");
    assert_eq!(raised[0]["domain"], "example.com");
    assert_eq!(raised[0]["value"], "2026-11-02");
    assert_eq!(
        raised[0]["message"],
        "SMTP TLS to example.com on 2026-11-02: 32 of 137 sessions failed (23.4%): \
         certificate-expired 30 (mx1.example.com), validation-failure 2 (mx1.example.com); \
         reported by google.com, microsoft.com"
    );

    // Raised once: nothing new, then a third receiver's failing report of the same day.
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!(code, Some(0), "{found:?}");
    let third = tls_report(
        &scratch,
        "yahoo.com",
        2,
        0,
        &[("certificate-expired", "mx1.example.com", 5)],
    );
    assert_success(&scratch.ingest(&[&third]));
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(tls_alerts(&found).is_empty(), "{found:?}");

    // The threshold is the run's: a new scope's first run raises the latest failing day
    // (below), but not at 30% when 37 of 142 sessions (26%) failed.
    let (_, found, _) = alerts(
        &scratch,
        &["--domain", "example.com", "--tls-failure-threshold", "0.30"],
    );
    assert!(tls_alerts(&found).is_empty(), "{found:?}");
}

/// The first run over a history of failing days raises the latest and counts the others; a
/// run narrowed by sending address judges no TLS day (sessions are not counted per address).
#[test]
fn the_first_run_raises_the_latest_failing_tls_day_and_counts_the_earlier() {
    let scratch = Scratch::new();
    let days: Vec<_> = (1..=3)
        .map(|day| {
            tls_report(
                &scratch,
                "google.com",
                day,
                10,
                &[("sts-policy-fetch-error", "mx1.example.com", 10)],
            )
        })
        .collect();
    assert_success(&scratch.ingest(&days));
    let (_, narrowed, _) = alerts(&scratch, &["--ip", "192.0.2.0/24"]);
    assert!(tls_alerts(&narrowed).is_empty(), "{narrowed:?}");
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4), "{says}");
    assert_eq!(
        kinds(&found),
        [("tls_failing".into(), "example.com".into())]
    );
    let message = found[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("SMTP TLS to example.com on 2026-11-03: 10 of 20 sessions failed")
            && message.ends_with("(and on 2 earlier days, before the first alerts run)"),
        "{message}"
    );
}

/// One failed session of one (a single sender's try) is no news; a run that asks for it gets it.
#[test]
fn a_single_failed_session_is_raised_only_when_asked() {
    let scratch = Scratch::new();
    let one = tls_report(
        &scratch,
        "small.example",
        4,
        0,
        &[("starttls-not-supported", "mx1.example.com", 1)],
    );
    assert_success(&scratch.ingest(&[&one]));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(0), "{found:?} {says}");
    let (_, found, _) = alerts(
        &scratch,
        &["--domain", "example.com", "--tls-min-failures", "1"],
    );
    assert_eq!(tls_alerts(&found).len(), 1, "{found:?}");
}
