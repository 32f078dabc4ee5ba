//! SMTP TLS report e-mails checked for authenticity as aggregate reports are (keys served by a
//! real DNS server, dnsmasq): a forged copy sent first gives way to the genuine one, raises no
//! alert, and is refused under --require-authentic.

use crate::alerts::alerts;
use crate::common::reports::{base64_lines, gzip};
use crate::common::*;
use crate::report_authenticity::{ingest_with_dns, Signer};
use serde_json::Value;

/// Google's TLS report of 2026-11-02 for example.com, `failed` of 100 sessions failing, in a
/// report e-mail from Google's reporting address.
fn tls_mail(failed: u64) -> Vec<u8> {
    tls_mail_from(failed, "google.com")
}

/// The same report ("Google Inc.") mailed from `domain`, its contact-info an address there.
fn tls_mail_from(failed: u64, domain: &str) -> Vec<u8> {
    let json = format!(
        r#"{{"organization-name":"Google Inc.","date-range":{{"start-datetime":"2026-11-02T00:00:00Z","end-datetime":"2026-11-02T23:59:59Z"}},"contact-info":"smtp-tls-reporting@{domain}","report-id":"2026-11-02T00:00:00Z_example.com","policies":[{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce"],"policy-domain":"example.com","mx-host":["mx1.example.com"]}},"summary":{{"total-successful-session-count":{},"total-failure-session-count":{failed}}},"failure-details":[{{"result-type":"certificate-expired","receiving-mx-hostname":"mx1.example.com","failed-session-count":{failed}}}]}}]}}"#,
        100 - failed
    );
    format!(
        "From: noreply-smtp-tls-reporting@{domain}\r\nTo: tls-reports@example.com\r\n\
         Subject: Report Domain: example.com Submitter: google.com Report-ID: <2026.11.02T00.00.00Z+example.com@google.com>\r\n\
         MIME-Version: 1.0\r\nContent-Type: application/tlsrpt+gzip; name=\"google.com!example.com!1793577600!1793663999!001.json.gz\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        base64_lines(&gzip(json.as_bytes()))
    )
    .into_bytes()
}

fn stored(scratch: &Scratch) -> Value {
    Value::from(scratch.query(
        "SELECT r.authenticity, p.failed_sessions
         FROM tls_reports r JOIN tls_policies p ON p.report = r.id",
    ))
}

#[test]
fn a_genuine_tls_report_replaces_a_forged_copy_and_only_it_raises_alerts() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let scratch = Scratch::new();
    // A forger sends the day's report first, unsigned, all sessions failing.
    let forged = scratch.write("forged.eml", &tls_mail(100));
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &[&forged]));
    assert_eq!(
        stored(&scratch),
        serde_json::json!([{"authenticity": "none", "failed_sessions": 100}])
    );
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        found.iter().all(|a| a["kind"] != "tls_failing"),
        "a forged report raises nothing: {found:?}"
    );

    // Google's own, signed: stored in the forged copy's place, and its failures raised.
    let genuine = scratch.write("genuine.eml", &signer.sign("google.com", &tls_mail(10)));
    let output = ingest_with_dns(&scratch, &dns.address, &[], &[&genuine]);
    assert_success(&output);
    let says = stderr(&output);
    assert!(
        says.contains("in place of the copy from") && says.contains("forged.eml"),
        "{says}"
    );
    let expected = serde_json::json!([{"authenticity": "pass", "failed_sessions": 10}]);
    assert_eq!(stored(&scratch), expected);
    let (_, found, _) = alerts(&scratch, &[]);
    let raised: Vec<&Value> = found
        .iter()
        .filter(|a| a["kind"] == "tls_failing")
        .collect();
    assert_eq!(raised.len(), 1, "{found:?}");
    assert!(
        raised[0]["message"]
            .as_str()
            .unwrap()
            .contains(": 10 of 100 sessions failed"),
        "{raised:?}"
    );

    // The forgery again: a duplicate of the genuine report, not a resend with other counts.
    let again = scratch.write("forged-again.eml", &tls_mail(100));
    let output = ingest_with_dns(&scratch, &dns.address, &[], &[&again]);
    assert_success(&output);
    let says = stderr(&output);
    assert!(!says.contains("other counts"), "{says}");
    assert_eq!(stored(&scratch), expected);

    // In one run, either order.
    for order in [[&forged, &genuine], [&genuine, &forged]] {
        let scratch = Scratch::new();
        assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &order));
        assert_eq!(stored(&scratch), expected, "{order:?}");
    }
}

#[test]
fn require_authentic_refuses_an_unsigned_tls_report() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let scratch = Scratch::new();
    let unsigned = scratch.write("unsigned.eml", &tls_mail(5));
    let signed = scratch.write("signed.eml", &signer.sign("google.com", &tls_mail(5)));
    let output = ingest_with_dns(
        &scratch,
        &dns.address,
        &["--require-authentic"],
        &[&unsigned],
    );
    assert_success(&output);
    assert!(stdout(&output).contains("1 skipped"), "{}", stdout(&output));
    assert_eq!(stored(&scratch), serde_json::json!([]));
    let output = ingest_with_dns(&scratch, &dns.address, &["--require-authentic"], &[&signed]);
    assert_success(&output);
    assert_eq!(
        stored(&scratch),
        serde_json::json!([{"authenticity": "pass", "failed_sessions": 5}])
    );
}

/// --require-authentic with DNS off could verify nothing: every report was skipped as
/// unverified, and the run (exit 0, silent under -q) looked fine. It is a bad command line.
#[test]
fn require_authentic_without_dns_is_a_bad_command_line() {
    let scratch = Scratch::new();
    let input = scratch.write("signed.eml", &tls_mail(5));
    // Scratch commands run with DUCKMARC_NO_DNS=1.
    let output = scratch.run([
        "-q".as_ref(),
        "ingest".as_ref(),
        "--require-authentic".as_ref(),
        input.as_os_str(),
    ]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output)
            .contains("--require-authentic (or require_authentic in the config) needs DNS"),
        "{}",
        stderr(&output)
    );
    assert!(!scratch.db().exists(), "nothing was read");
}

/// A forger signs with a domain of its own and gives an address there as contact-info, but
/// names the report "Google Inc.": the pass is for no organisation the report names.
#[test]
fn a_tls_report_signed_by_another_organisation_than_it_names_is_a_mismatch() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys_for(&[
        ("google.com", Some("v=DMARC1; p=reject")),
        ("evil.example", Some("v=DMARC1; p=reject")),
    ]) else {
        return;
    };
    let scratch = Scratch::new();
    let forged = signer.sign("evil.example", &tls_mail_from(100, "evil.example"));
    let forged = scratch.write("forged.eml", &forged);
    let genuine = scratch.write("genuine.eml", &signer.sign("google.com", &tls_mail(10)));
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &[&forged]));
    assert_eq!(
        stored(&scratch),
        serde_json::json!([{"authenticity": "mismatch", "failed_sessions": 100}])
    );
    let output = ingest_with_dns(&scratch, &dns.address, &[], &[&genuine]);
    assert_success(&output);
    assert_eq!(
        stored(&scratch),
        serde_json::json!([{"authenticity": "pass", "failed_sessions": 10}]),
        "{}",
        stderr(&output)
    );
}
