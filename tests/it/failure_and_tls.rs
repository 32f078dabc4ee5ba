//! Failure reports (RFC 6591) and SMTP TLS reports (RFC 8460) from our own samples: stored,
//! joined to the aggregate data, filtered, and refused with a reason when broken.

use crate::common::*;
use serde_json::{json, Value};

fn column(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter()
        .map(|r| r[key].as_str().unwrap_or_default().to_string())
        .collect()
}

fn with_samples() -> Scratch {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    scratch
}

#[test]
fn a_failing_source_shows_its_samples_and_a_sample_its_source() {
    let scratch = with_samples();
    let stats = scratch.stats();
    assert_eq!(
        (&stats["tls_reports"], &stats["failure_reports"]),
        (&json!(3), &json!(2)),
        "stats counts the other kinds too: {stats}"
    );
    let samples = scratch.report_json(&["failure-samples"]);
    assert_eq!(
        column(&samples, "source_ip"),
        ["198.51.100.77", "203.0.113.200"]
    );
    let google = &samples[0];
    assert_eq!(
        google["subject"], "November news \u{2013} what's new",
        "MIME-decoded"
    );
    assert_eq!(google["auth_failure"], "dkim");
    assert_eq!(google["delivery_result"], "reject");
    assert_eq!(google["reporter"], "noreply-dmarc-support@google.com");
    assert_eq!(
        google["source_messages"], 0,
        "no aggregate data on this source"
    );
    let invoice = &samples[1];
    assert_eq!(invoice["header_from"], "billing@example.com");
    assert_eq!(invoice["source_messages"], 140);
    assert_eq!(invoice["source_dmarc_pass_rate"], 0.0);
    assert_eq!(invoice["source_diagnosis"], "no_authentication");

    let sources = scratch.report_json(&["sources"]);
    let samples_of = |ip: &str| {
        sources
            .iter()
            .find(|r| r["source_ip"] == ip)
            .map(|r| r["failure_samples"].clone())
    };
    assert_eq!(samples_of("203.0.113.200"), Some(1.into()));
    assert_eq!(samples_of("192.0.2.10"), Some(0.into()));

    // A sample about another domain from the same (shared) address is not this domain's,
    // and a sample from before --since is not in the period.
    let other = std::fs::read_to_string(crate::common::samples().join("failure-report.eml"))
        .unwrap()
        .replace(
            "Reported-Domain: example.com",
            "Reported-Domain: other.example",
        );
    assert_success(&scratch.ingest(&[scratch.write("other.eml", other.as_bytes())]));
    let count = |args: &[&str]| {
        let rows = scratch.report_json(&[&["sources", "--ip", "203.0.113.200"], args].concat());
        rows[0]["failure_samples"].clone()
    };
    assert_eq!(count(&["--domain", "example.com"]), 1);
    assert_eq!(count(&[]), 1, "other.example has no aggregate data here");
    assert_eq!(
        count(&["--since", "2025-11-24"]),
        0,
        "the sample came on 2025-11-23"
    );
}

#[test]
fn bodies_are_stored_only_when_asked_for() {
    let message = samples().join("failure-report-google-with-message.eml");
    let stored_body = |extra: &[&str]| {
        let scratch = Scratch::new();
        let mut command = scratch.command();
        command.arg("ingest").args(extra).arg(&message);
        assert_success(&command.output().unwrap());
        let rows = scratch.query("SELECT original_body, original_headers FROM failure_reports");
        assert!(rows[0]["original_headers"]
            .as_str()
            .unwrap()
            .contains("List-Id: <news.list.example>"));
        assert!(!rows[0]["original_headers"]
            .as_str()
            .unwrap()
            .contains("Dear reader"));
        rows[0]["original_body"].as_str().map(String::from)
    };
    assert_eq!(stored_body(&[]), None);
    let body = stored_body(&["--keep-failure-bodies"]).expect("kept when asked");
    assert!(body.starts_with("Dear reader,"), "{body}");
}

#[test]
fn filters_narrow_failure_samples_and_tls_reports() {
    let scratch = with_samples();
    let ips = |args: &[&str]| {
        column(
            &scratch.report_json(&[&["failure-samples"], args].concat()),
            "source_ip",
        )
    };
    assert_eq!(ips(&["--domain", "example.org"]), ["198.51.100.77"]);
    assert_eq!(ips(&["--reporter", "google.com"]), ["198.51.100.77"]);
    assert_eq!(ips(&["--ip", "203.0.113.0/24"]), ["203.0.113.200"]);
    assert_eq!(ips(&["--since", "2025-11-24"]), ["198.51.100.77"]);
    assert_eq!(ips(&["--until", "2025-11-23"]), ["203.0.113.200"]);
    assert_eq!(ips(&["--limit", "1"]).len(), 1);

    let tls = scratch.report_json(&["tls", "--ip", "40.107.0.0/16"]);
    assert_eq!(column(&tls, "policy_domain"), ["example.com"]);
    assert_eq!(
        tls[0]["failure_types"],
        json!(["certificate-host-mismatch: 4"])
    );
    let google_v6 = scratch.report_json(&["tls", "--ip", "2607:f8b0::/32"]);
    assert_eq!(
        google_v6[0]["failure_types"],
        json!(["certificate-expired: 3"])
    );
    let mailru = scratch.report_json(&["tls", "--reporter", "mail.ru"]);
    assert_eq!(column(&mailru, "policy_domain"), ["example.org"]);
    // Google's TLS reports are "Google Inc.": its contact address's domain selects them too.
    let google = scratch.report_json(&["tls", "--reporter", "google.com"]);
    assert_eq!(column(&google, "policy_domain"), ["example.com"]);
    assert_eq!(google[0]["reporters"], json!(["Google Inc."]));
    let microsoft = scratch.report_json(&["tls", "--reporter", "Microsoft.com"]);
    assert_eq!(
        column(&microsoft, "policy_domain"),
        ["example.com", "lists.example.com"]
    );
}

#[test]
fn sample_tls_reports_from_three_reporters() {
    let scratch = with_samples();
    let rows = scratch.report_json(&["tls"]);
    let summary: Vec<(String, u64, u64, Value)> = rows
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            let domain = r["policy_domain"].as_str().unwrap().to_string();
            (
                domain,
                n("successful_sessions"),
                n("failed_sessions"),
                r["reporters"].clone(),
            )
        })
        .collect();

    assert_eq!(
        summary,
        [
            (
                "example.com".into(),
                15355,
                16,
                json!(["Google Inc.", "Microsoft Corporation"])
            ),
            ("example.org".into(), 0, 2, json!(["Mail.ru"])),
            (
                "lists.example.com".into(),
                220,
                0,
                json!(["Microsoft Corporation"])
            ),
        ]
    );
    assert_eq!(rows[0]["failing_mx_hosts"], json!(["mx2.example.com"]));
    assert_eq!(rows[2]["policy_types"], json!(["no-policy-found"]));
}

#[test]
fn broken_failure_and_tls_reports_are_rejected_and_the_batch_goes_on() {
    let scratch = Scratch::new();
    let arf = |fields: &str| {
        format!(
            "From: reports@receiver.example\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n\
             --b\r\nContent-Type: message/feedback-report\r\n\r\n{fields}\r\n--b--\r\n"
        )
    };
    scratch.write(
        "in/a-truncated-tls.json",
        br#"{"organization-name":"X","policies":["#,
    );
    let no_subject = arf("Feedback-Type: auth-failure\r\nAuth-Failure: dmarc");
    scratch.write("in/b-names-nothing.eml", no_subject.as_bytes());
    let huge = arf(&format!(
        "Source-IP: 192.0.2.1\r\nReported-Domain: {}",
        "a".repeat(70_000)
    ));
    scratch.write("in/c-huge-field.eml", huge.as_bytes());
    let good = arf("Source-IP: 192.0.2.1\r\nReported-Domain: example.com");
    scratch.write("in/d-good.eml", good.as_bytes());
    // Every value of a TLS report is bounded, as an aggregate report's are.
    let helo = format!(
        r#"{{"organization-name":"X","date-range":{{"start-datetime":"2026-11-01T00:00:00Z","end-datetime":"2026-11-01T23:59:59Z"}},"report-id":"r","policies":[{{"policy":{{"policy-type":"sts","policy-domain":"example.com"}},"summary":{{"total-successful-session-count":1,"total-failure-session-count":1}},"failure-details":[{{"result-type":"starttls-not-supported","receiving-mx-helo":"{}","failed-session-count":1}}]}}]}}"#,
        "h".repeat(70_000)
    );
    scratch.write("in/e-huge-helo.json", helo.as_bytes());
    let output = scratch.ingest(&[&scratch.path("in")]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let says = stderr(&output);
    for (file, reason) in [
        ("a-truncated-tls.json", "SMTP TLS report is not valid JSON"),
        (
            "b-names-nothing.eml",
            "names neither a reported domain nor a source IP",
        ),
        ("c-huge-field.eml", "longer than 65536 bytes"),
        ("e-huge-helo.json", "longer than 65536 bytes"),
    ] {
        assert!(
            says.lines()
                .any(|l| l.starts_with("rejected: ") && l.contains(file) && l.contains(reason)),
            "{file}: {says}"
        );
    }
    let ledger = scratch.query("SELECT outcome, kind FROM ingest_ledger ORDER BY origin");
    let rows: Vec<(String, String)> = ledger
        .iter()
        .map(|r| {
            (
                r["outcome"].as_str().unwrap().into(),
                r["kind"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expected = [
        ("rejected", "smtp_tls"),
        ("rejected", "failure_report"),
        ("rejected", "failure_report"),
        ("stored", "failure_report"),
        ("rejected", "smtp_tls"),
    ];
    assert_eq!(rows, expected.map(|(o, k)| (o.to_string(), k.to_string())));
}

#[test]
fn reports_work_on_a_database_from_before_failure_reports() {
    use crate::common::reports::{dmarc_report, Row};
    // The samples, and mail from a subdomain that a mailing list forwarded (what the flags
    // below read).
    let with_forwarded = || {
        let scratch = with_samples();
        let listed = Row {
            ip: "198.51.100.7",
            count: 4,
            dkim: "fail",
            spf: "fail",
            from: "news.example.com",
            dkim_domain: "lists.example.org",
            spf_domain: "lists.example.org",
            reason: Some("mailing_list"),
            selector: None,
        };
        let report = dmarc_report(
            "google.com",
            "fw-1",
            1_793_491_200,
            "<p>none</p>",
            &[listed],
        );
        assert_success(&scratch.ingest(&[&scratch.write("forwarded.xml", report.as_bytes())]));
        scratch
    };
    let scratch = with_forwarded();
    // As the duckmarc before failure reports and `report tls --ip` left it (and so before
    // sources were named).
    scratch.rewrite(
        "DROP TABLE alert_seen; DROP TABLE alert_runs; DROP TABLE source_names;
         DROP TABLE check_findings; DROP TABLE dns_cache; DROP TABLE naming_mark;
         DROP TABLE failure_reports; DROP SEQUENCE failure_report_ids;
         ALTER TABLE tls_failures DROP COLUMN sending_mta_ip_bytes;
         ALTER TABLE tls_reports DROP COLUMN notes; DROP TABLE resent_reports;
         DROP TABLE dmarc_records; DROP TABLE domain_existence;
         ALTER TABLE records DROP COLUMN own_dkim_failed;
         ALTER TABLE records DROP COLUMN kept_override;
         ALTER TABLE records DROP COLUMN forwarding_override;
         ALTER TABLE records DROP COLUMN from_subdomain;
         ALTER TABLE reports DROP COLUMN authenticity;",
    );
    // Read-only commands bring it up to date first.
    assert!(scratch.report_json(&["failure-samples"]).is_empty());
    assert_eq!(scratch.report_json(&["tls"]).len(), 3);
    // Reports stored before duckmarc checked their e-mails were never verified.
    let checked = scratch.query("SELECT DISTINCT authenticity FROM reports");
    assert_eq!(checked, [serde_json::json!({"authenticity": "unverified"})]);
    // Records stored before `own_dkim_failed`, `kept_override`, `forwarding_override` and
    // `from_subdomain` get them from their DKIM results, override reasons and From domain:
    // the same records as a fresh ingest flags.
    let fresh = with_forwarded();
    for flag in [
        "own_dkim_failed",
        "kept_override",
        "forwarding_override",
        "from_subdomain",
    ] {
        let flagged = |s: &Scratch| {
            s.query(&format!(
                "SELECT r.report_key, c.record_no FROM records c JOIN reports r ON r.id = c.report
                 WHERE c.{flag} ORDER BY 1, 2"
            ))
        };
        assert!(!flagged(&fresh).is_empty(), "{flag}: no sample has it");
        assert_eq!(flagged(&scratch), flagged(&fresh), "{flag}");
    }
    let sample = std::fs::read_to_string(samples().join("failure-report.eml")).unwrap();
    let another = scratch.write(
        "new.eml",
        sample.replace("203.0.113.200", "203.0.113.201").as_bytes(),
    );
    assert_success(&scratch.ingest(&[&another]));
    let rows = scratch.report_json(&["failure-samples"]);
    assert_eq!(column(&rows, "source_ip"), ["203.0.113.201"]);
}

/// A sample's source figures are those of the same source and domain, not of every domain
/// the source sent for.
#[test]
fn a_sample_is_shown_beside_its_own_domain_s_figures() {
    use crate::common::reports::{dmarc_report, Row};
    let scratch = Scratch::new();
    let row = |count| Row::spoof("203.0.113.9", count);
    let ours = dmarc_report("google.com", "g-1", 1_793_491_200, "<p>none</p>", &[row(7)]);
    let theirs = dmarc_report(
        "google.com",
        "g-2",
        1_793_491_200,
        "<p>none</p>",
        &[row(500)],
    )
    .replace(
        "<domain>example.com</domain>",
        "<domain>other.example</domain>",
    )
    .replace(
        "<header_from>example.com</header_from>",
        "<header_from>other.example</header_from>",
    );
    let sample = "From: reports@receiver.example\r\nSubject: report\r\nMIME-Version: 1.0\r\n\
        Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nA failure report.\r\n\
        --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\n\
        Source-IP: 203.0.113.9\r\nReported-Domain: example.com\r\n--b--\r\n";
    let files = [
        scratch.write("ours.xml", ours.as_bytes()),
        scratch.write("theirs.xml", theirs.as_bytes()),
        scratch.write("sample.eml", sample.as_bytes()),
    ];
    assert_success(&scratch.ingest(&files));
    let samples = scratch.report_json(&["failure-samples"]);
    assert_eq!(samples.len(), 1);
    assert_eq!(samples[0]["source_messages"], 7, "{samples:?}");
}

/// `message` as a mail client forwards it: attached whole (`message/rfc822`, 7bit) below a
/// note of the forwarder's.
fn forwarded(message: &[u8]) -> Vec<u8> {
    let mut mail = b"From: postmaster@example.com\nTo: dmarc@example.com\nSubject: Fwd: report\n\
        MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"fwd\"\n\n--fwd\n\
        Content-Type: text/plain\n\nForwarded, as asked.\n--fwd\nContent-Type: message/rfc822\n\n"
        .to_vec();
    mail.extend_from_slice(message);
    mail.extend_from_slice(b"\n--fwd--\n");
    mail
}

/// Reports forwarded as attachments, as they are, are read from the forwarded message: a
/// failure report (it was refused as naming no domain: its parts were read at the outer
/// message's offsets) and an aggregate report attached as text (the e-mail was said to hold
/// none).
#[test]
fn reports_forwarded_as_attachments_are_read() {
    let scratch = Scratch::new();
    let failure = std::fs::read(samples().join("failure-report.eml")).unwrap();
    let xml =
        std::fs::read_to_string(samples().join("gmx.net!example.org!1763942400!1764028799.xml"))
            .unwrap();
    let aggregate = format!(
        "From: noreply@gmx.net\nTo: dmarc@example.org\nSubject: Report Domain: example.org\n\
         MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"in\"\n\n--in\n\
         Content-Type: text/plain\n\nThe report is attached.\n--in\n\
         Content-Type: text/xml; name=\"report.xml\"\n\
         Content-Disposition: attachment; filename=\"report.xml\"\n\n{xml}\n--in--\n"
    );
    let inputs = [
        scratch.write("fwd-failure.eml", &forwarded(&failure)),
        scratch.write("fwd-aggregate.eml", &forwarded(aggregate.as_bytes())),
    ];
    assert_success(&scratch.ingest(&inputs));
    let samples_found = scratch.report_json(&["failure-samples"]);
    assert_eq!(column(&samples_found, "source_ip"), ["203.0.113.200"]);
    assert_eq!(column(&samples_found, "reported_domain"), ["example.com"]);
    assert_eq!(scratch.stats()["messages"], 62, "the GMX report's messages");
    // The same failure report sent directly is the one already stored.
    let again = scratch.ingest(&[samples().join("failure-report.eml")]);
    assert_success(&again);
    assert!(
        stdout(&again).contains("0 new reports"),
        "{}",
        stdout(&again)
    );
}

/// An e-mail with two feedback reports (RFC 5965 section 2 allows one), each with its own
/// original message: both are stored, each with its own original, none dropped unsaid.
#[test]
fn two_feedback_reports_in_one_mail_are_both_stored() {
    let scratch = Scratch::new();
    let part = |ip: &str, subject: &str| {
        format!(
            "--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: auth-failure\r\n\
             Auth-Failure: dmarc\r\nSource-IP: {ip}\r\nReported-Domain: example.com\r\n\
             --b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: boss@example.com\r\n\
             Subject: {subject}\r\n\r\n"
        )
    };
    let mail = format!(
        "From: reports@receiver.example\r\nSubject: reports\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nTwo failure reports.\r\n{}{}--b--\r\n",
        part("203.0.113.31", "first"),
        part("203.0.113.32", "second")
    );
    let file = scratch.write("two.eml", mail.as_bytes());
    let output = scratch.ingest(&[&file]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("2 new reports"),
        "{}",
        stdout(&output)
    );
    let mut samples: Vec<(String, String)> = scratch
        .report_json(&["failure-samples"])
        .iter()
        .map(|s| {
            (
                s["source_ip"].as_str().unwrap().to_string(),
                s["subject"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    samples.sort();
    assert_eq!(
        samples,
        [
            ("203.0.113.31".to_string(), "first".to_string()),
            ("203.0.113.32".to_string(), "second".to_string())
        ]
    );
}

/// Two failure reports of one kind about one source, without an Arrival-Date or the
/// original's headers, differ only in when they were sent: both are stored, and each counts
/// once however often it comes.
#[test]
fn failure_reports_that_differ_only_in_their_date_are_two() {
    let scratch = Scratch::new();
    let mail = |date: &str| {
        format!(
            "From: dmarc-failures@mx.example.net\r\nTo: ruf@example.com\r\nDate: {date}\r\n\
             Subject: DMARC failure report\r\nMIME-Version: 1.0\r\n\
             Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n\r\n\
             --b\r\nContent-Type: text/plain\r\n\r\nFailure report.\r\n\
             --b\r\nContent-Type: message/feedback-report\r\n\r\n\
             Feedback-Type: auth-failure\r\nVersion: 1\r\nSource-IP: 203.0.113.200\r\n\
             Reported-Domain: example.com\r\nAuth-Failure: spf\r\n\r\n--b--\r\n"
        )
    };
    let first = scratch.write(
        "first.eml",
        mail("Sun, 23 Nov 2025 04:00:00 GMT").as_bytes(),
    );
    let second = scratch.write(
        "second.eml",
        mail("Sun, 23 Nov 2025 05:00:00 GMT").as_bytes(),
    );
    let again = scratch.write(
        "again.eml",
        mail("Sun, 23 Nov 2025 04:00:00 GMT").as_bytes(),
    );
    assert_success(&scratch.ingest(&[first, second, again]));
    let stored = scratch.query("SELECT count(*) AS n FROM failure_reports");
    assert_eq!(stored, [json!({"n": 2})]);
}
