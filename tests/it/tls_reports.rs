//! SMTP TLS reports (RFC 8460) as reporters write them: totals against their details, a
//! resent copy with other totals, policies that name no domain.

use super::check::{check, dns_and_tls_report, find};
use crate::common::dnsmasq::{Dnsmasq, Zone};
use crate::common::reports::mail_with_attachment;
use crate::common::*;
use serde_json::{json, Value};

/// RFC 8460 section 4.4: a total smaller than the failure details' sum is the reporter's
/// word against itself (one session retried, or sessions undercounted): kept as written, and
/// said. Failures tied to no MX host (the policy could not be fetched, section 4.3.2) are
/// `check`'s too, apart from what a summary counts beyond its details.
#[test]
fn failures_the_details_count_and_failures_of_the_policy_itself_are_kept() {
    let scratch = Scratch::new();
    let report = r#"{"organization-name":"Example Receiver","date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},"report-id":"sum-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":100,"total-failure-session-count":1},"failure-details":[{"result-type":"certificate-expired","receiving-mx-hostname":"mx1.example.com","failed-session-count":10},{"result-type":"sts-policy-fetch-error","failed-session-count":5}]},{"policy":{"policy-type":"sts","policy-domain":"example.org"},"summary":{"total-successful-session-count":10,"total-failure-session-count":20},"failure-details":[{"result-type":"starttls-not-supported","failed-session-count":4}]}]}"#;
    let stored = scratch.ingest(&[scratch.write("tls.json", report.as_bytes())]);
    assert_success(&stored);
    let said = stderr(&stored);
    assert!(
        said.starts_with("warning: ")
            && said.contains(
                "policies[0] total-failure-session-count 1 is less than the 15 failed sessions \
                 its failure-details count: the total is kept as written"
            ),
        "{said}"
    );
    let com = |rows: &[Value]| {
        rows.iter()
            .find(|r| r["policy_domain"] == "example.com")
            .cloned()
    };
    let rows = scratch.report_json(&["tls"]);
    assert_eq!(com(&rows).unwrap()["failed_sessions"], 1, "{rows:?}");
    // The same report sent again with other totals is named, not taken for a plain copy.
    let resent = report.replace(
        "\"total-failure-session-count\":20",
        "\"total-failure-session-count\":25",
    );
    let again = scratch.ingest(&[scratch.write("tls-again.json", resent.as_bytes())]);
    assert_success(&again);
    let said = stderr(&again);
    assert!(
        said.contains(
            "resent with other counts: 110 successful and 21 failed sessions stored, this copy \
             has 110 and 26; the first copy is kept"
        ),
        "{said}"
    );
    let codes = scratch.query("SELECT code FROM ingest_ledger WHERE code IS NOT NULL");
    assert_eq!(codes, [json!({"code": "resent_differs"})]);

    let Some(dns) = Dnsmasq::start(&Zone {
        local: &["example.com"],
        ..Zone::default()
    }) else {
        return;
    };
    scratch.write("config.toml", b"");
    // Another reporter's 10 failed sessions without details: the first report's extra
    // details do not cancel them.
    let bare = r#"{"organization-name":"Other Receiver","date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},"report-id":"bare-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":0,"total-failure-session-count":10}}]}"#;
    assert_success(&scratch.ingest(&[scratch.write("bare.json", bare.as_bytes())]));
    let (messages, said) = tls_failures(&scratch, &dns.address, "example.com");
    assert_eq!(messages.len(), 3, "{messages:?} {said}");
    // The policy failure first: a warning (tls_failures_that_cost_mail_are_warnings).
    assert_eq!(
        messages[0],
        "5 failed TLS sessions in the TLS reports name no MX host (sts-policy-fetch-error): the \
         MTA-STS or DANE policy itself could not be fetched or validated (RFC 8460 section 4.3.2)"
    );
    assert!(
        messages[1].starts_with("mx1.example.com: 10 failed"),
        "{messages:?}"
    );
    assert_eq!(
        messages[2],
        "10 failed TLS sessions in the TLS reports' summaries beyond their failure details"
    );
    // A session failure whose detail names no host is no policy failure; what the summary
    // counts beyond the details is said apart.
    let (messages, _) = tls_failures(&scratch, &dns.address, "example.org");
    assert_eq!(
        messages,
        [
            "16 failed TLS sessions in the TLS reports' summaries beyond their failure details",
            "4 failed TLS sessions in the TLS reports name no MX host (starttls-not-supported)"
        ]
    );
}

/// `check`'s tls_failures messages for `domain` over November 2026, and its stderr.
fn tls_failures(scratch: &Scratch, server: &str, domain: &str) -> (Vec<String>, String) {
    let (_, findings, said) = check(scratch, server, &[domain, "--since", "2026-11-01"]);
    let messages = find(&findings, domain, "tls_failures")
        .iter()
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect();
    (messages, said)
}

/// A policy without a policy-domain cannot be counted for any domain: the report is stored
/// with the others, and the sessions it leaves out are said on stderr, not only noted.
#[test]
fn a_policy_left_out_is_said() {
    let scratch = Scratch::new();
    let report = r#"{"organization-name":"Example Receiver","date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},"report-id":"nodomain-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":10,"total-failure-session-count":0}},{"policy":{"policy-type":"sts"},"summary":{"total-successful-session-count":0,"total-failure-session-count":7}}]}"#;
    let output = scratch.ingest(&[scratch.write("tls.json", report.as_bytes())]);
    assert_success(&output);
    let said = stderr(&output);
    assert!(
        said.starts_with("warning: ")
            && said.contains(
                "tls.json: policies[1] has no policy-domain: left out (0 successful, 7 failed \
                 sessions)"
            ),
        "{said}"
    );
    assert_eq!(scratch.report_json(&["tls"]).len(), 1);
}

/// Postfix's tlsrpt-reporter leaves out a no-policy-found policy's policy-domain; the report
/// e-mail's TLS-Report-Domain header names the domain (RFC 8460 section 5.3), so its
/// sessions are counted for it, with a note. The same JSON as a bare file names no domain.
#[test]
fn a_policy_without_a_domain_takes_the_e_mails_tls_report_domain() {
    let scratch = Scratch::new();
    let report = r#"{"organization-name":"mail.example.net","date-range":{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"},"contact-info":"tlsrpt@mail.example.net","report-id":"postfix-1","policies":[{"policy":{"policy-type":"no-policy-found"},"summary":{"total-successful-session-count":40,"total-failure-session-count":2},"failure-details":[{"result-type":"starttls-not-supported","failed-session-count":2}]}]}"#;
    let mail = mail_with_attachment(
        "Content-Type: application/tlsrpt+json\r\nContent-Disposition: attachment; filename=\"report.json\"",
        report.as_bytes(),
    );
    let mail = [b"TLS-Report-Domain: Example.COM\r\n".as_slice(), &mail].concat();
    let output = scratch.ingest(&[scratch.write("postfix.eml", &mail)]);
    assert_success(&output);
    assert!(!stderr(&output).contains("left out"), "{}", stderr(&output));
    let rows = scratch.report_json(&["tls"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["policy_domain"], "example.com");
    assert_eq!(rows[0]["failed_sessions"], 2);
    let notes = scratch.query("SELECT notes FROM tls_reports");
    assert!(
        notes[0]["notes"]
            .as_str()
            .unwrap()
            .contains("TLS-Report-Domain (example.com) stands for it"),
        "{notes:?}"
    );
    // Without the e-mail there is nothing to name the domain: left out, and said.
    let bare = Scratch::new();
    let output = bare.ingest(&[bare.write("report.json", report.as_bytes())]);
    assert!(stderr(&output).contains("has no policy-domain: left out"));
}

/// A TLS reporter's name in another case is the same reporter, as for aggregate reports
/// (`ledger::a_reporters_name_in_another_case_is_the_same_reporter`): one name in `report
/// tls`, the first stored, and one report sent again under another spelling stored once. A
/// database that stored each spelling as written is brought to that once. Spaces around the
/// name (Microsoft's reports have had a trailing one) do not make another reporter either.
#[test]
fn a_tls_reporters_name_in_another_case_is_the_same_reporter() {
    let scratch = Scratch::new();
    let spelt = |name: &str, id: &str, day: u32| {
        let report = format!(
            r#"{{"organization-name":"{name}","date-range":{{"start-datetime":"2026-11-{day:02}T00:00:00Z","end-datetime":"2026-11-{day:02}T23:59:59Z"}},"contact-info":"tlsrpt@example.net","report-id":"{id}","policies":[{{"policy":{{"policy-type":"sts","policy-domain":"example.com"}},"summary":{{"total-successful-session-count":10,"total-failure-session-count":1}}}}]}}"#
        );
        scratch.write(&format!("{id}-{name}.json"), report.as_bytes())
    };
    let first = spelt("Microsoft Corporation", "tls-1", 1);
    let second = spelt("MICROSOFT CORPORATION", "tls-2", 2);
    assert_success(&scratch.ingest(&[&first, &second]));
    // As duckmarc stored the second before: under the name as written.
    scratch.rewrite(
        "UPDATE tls_reports SET org_name = 'MICROSOFT CORPORATION' WHERE report_id = 'tls-2';
         DELETE FROM data_upgrades WHERE name = 'tls_reporters_case_folded';",
    );
    let again = spelt("microsoft corporation", "tls-1", 1);
    let next = spelt("Microsoft corporation", "tls-3", 3);
    let spaced = spelt("Microsoft Corporation ", "tls-4", 4);
    let output = scratch.ingest(&[&again, &next, &spaced]);
    assert_success(&output);
    assert!(
        stderr(&output).contains("tls-1-microsoft corporation.json: report already stored"),
        "{}",
        stderr(&output)
    );
    let rows = scratch.report_json(&["tls"]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["reporters"], json!(["Microsoft Corporation"]));
    assert_eq!(rows[0]["reports"], 4);
    assert_eq!(rows[0]["failed_sessions"], 4);
}

/// TLS failures that cost mail are warnings: sessions that failed under MTA-STS `mode:
/// enforce` were not delivered to that MX (RFC 8461 section 5), and a policy that could not
/// be fetched protects nothing (RFC 8460 section 4.3.2); in testing mode the mail went
/// through, in the clear: information.
#[test]
fn tls_failures_that_cost_mail_are_warnings() {
    // `mode` as the policy line writes it after "mode:".
    let policy = |domain: &str, mode: &str, detail: &str| {
        format!(
            r#"{{"policy":{{"policy-type":"sts","policy-string":["version: STSv1","mode:{mode}","mx: mx1.{domain}","max_age: 86400"],"policy-domain":"{domain}"}},"summary":{{"total-successful-session-count":90,"total-failure-session-count":10}},"failure-details":[{detail}]}}"#
        )
    };
    let at_mx = |domain: &str| {
        format!(
            r#"{{"result-type":"certificate-expired","receiving-mx-hostname":"mx1.{domain}","failed-session-count":10}}"#
        )
    };
    let policies = [
        policy("example.com", " enforce", &at_mx("example.com")),
        policy("example.org", " testing", &at_mx("example.org")),
        // The same MX under enforce in another report's policy: said apart.
        policy("example.org", " enforce", &at_mx("example.org")),
        policy(
            "example.net",
            " testing",
            r#"{"result-type":"sts-policy-fetch-error","failed-session-count":10}"#,
        ),
        // Written with a tab, failing at no named MX: not delivered either.
        policy(
            "example.edu",
            "\\tenforce",
            r#"{"result-type":"starttls-not-supported","failed-session-count":10}"#,
        ),
    ];
    let report = format!(
        r#"{{"organization-name":"Google Inc.","date-range":{{"start-datetime":"2026-11-02T00:00:00Z","end-datetime":"2026-11-02T23:59:59Z"}},"contact-info":"smtp-tls-reporting@google.com","report-id":"modes-1","policies":[{}]}}"#,
        policies.join(",")
    );
    let zone = Zone {
        local: &["example.com", "example.org", "example.net", "example.edu"],
        ..Zone::default()
    };
    let Some((dns, scratch)) = dns_and_tls_report(&zone, &report) else {
        return;
    };
    let (_, findings, said) = check(&scratch, &dns.address, &["--since", "2026-11-01"]);
    let severities = |domain: &str| -> Vec<String> {
        find(&findings, domain, "tls_failures")
            .iter()
            .map(|f| f["severity"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(severities("example.com"), ["warning"], "{said}");
    let enforced = &find(&findings, "example.com", "tls_failures")[0]["message"];
    assert!(
        enforced
            .as_str()
            .unwrap()
            .contains("did not deliver that mail there"),
        "{enforced}"
    );
    assert_eq!(severities("example.org"), ["warning", "info"]);
    assert_eq!(severities("example.net"), ["warning"]);
    assert_eq!(severities("example.edu"), ["warning"]);
    // A run narrowed to a sending address checks no domain for its TLS reports alone: they
    // count sessions per policy, not per address.
    let narrowed = ["--since", "2026-11-01", "--ip", "192.0.2.1"];
    let (_, narrowed, _) = check(&scratch, &dns.address, &narrowed);
    assert!(narrowed.is_empty(), "{narrowed:#?}");
}
