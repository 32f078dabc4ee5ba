//! The ingest ledger: every input with its kind and a stable outcome code, and inputs skipped
//! for a kind duckmarc did not store are read again once it does.

use crate::common::reports::*;
use crate::common::*;

/// A minimal SMTP TLS report (RFC 8460).
const TLS: &[u8] = br#"{"organization-name":"Google Inc.","date-range":{"start-datetime":"2024-09-03T00:00:00Z","end-datetime":"2024-09-03T23:59:59Z"},"report-id":"tls-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":40,"total-failure-session-count":2},"failure-details":[{"result-type":"certificate-expired","failed-session-count":2}]}]}"#;

fn failure_report() -> Vec<u8> {
    std::fs::read(samples().join("failure-report.eml")).unwrap()
}

fn ledger(scratch: &Scratch) -> Vec<serde_json::Value> {
    scratch.query("SELECT origin, outcome, kind, code FROM ingest_ledger ORDER BY origin")
}

#[test]
fn every_input_has_a_kind_and_a_code() {
    let scratch = Scratch::new();
    scratch.write("in/a-report.xml", report_xml("k-1", 2, 1).as_bytes());
    scratch.write("in/b-tls.json", TLS);
    scratch.write("in/b2-failure.eml", &failure_report());
    scratch.write("in/c-broken.xml", b"<feedback><report_metadata>");
    scratch.write("in/d-empty.xml", b"");
    let output = scratch.ingest(&[&scratch.path("in")]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let rows: Vec<(String, String, String)> = ledger(&scratch)
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
            (text("outcome"), text("kind"), text("code"))
        })
        .collect();
    let expected = [
        ("stored", "aggregate", ""),
        ("stored", "smtp_tls", ""),
        ("skipped", "failure_report", "unsupported_kind"),
        ("rejected", "aggregate", "malformed"),
        ("rejected", "unknown", "empty"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(o, k, c)| (o.to_string(), k.to_string(), c.to_string()))
        .collect();
    assert_eq!(rows, expected);
}

/// Opens the database directly, as an older duckmarc would have left it.
fn rewrite(scratch: &Scratch, sql: &str) {
    let conn = duckdb::Connection::open(scratch.db()).unwrap();
    conn.execute_batch(sql).unwrap();
}

#[test]
fn inputs_skipped_for_their_kind_are_read_again_once_it_is_stored() {
    let scratch = Scratch::new();
    let report = scratch.write("in/report.xml", report_xml("later", 2, 3).as_bytes());
    let failure = scratch.write("in/failure.eml", &failure_report());
    assert_success(&scratch.ingest(&[&scratch.path("in")]));
    // As an older duckmarc that could not read this report's kind left the database: the
    // report skipped for its kind, and ledger rows without kind and code.
    rewrite(
        &scratch,
        "DELETE FROM records; DELETE FROM reports;
         UPDATE ingest_ledger SET outcome = 'skipped', reason = 'an older duckmarc could not read it',
                new_reports = 0, kind = 'aggregate', code = 'unsupported_kind'
         WHERE origin LIKE '%report.xml';
         ALTER TABLE ingest_ledger DROP COLUMN kind; ALTER TABLE ingest_ledger DROP COLUMN code;
         ALTER TABLE ingest_ledger ADD COLUMN kind VARCHAR; ALTER TABLE ingest_ledger ADD COLUMN code VARCHAR;
         UPDATE ingest_ledger SET kind = 'aggregate', code = 'unsupported_kind' WHERE origin LIKE '%report.xml';",
    );
    assert_eq!(totals(&scratch.stats())[0], 0);
    let again = scratch.ingest(&[&report, &failure]);
    assert_success(&again);
    // The report is read again and stored once; the failure report, still not stored by
    // this duckmarc, is recognised as settled.
    assert!(
        stdout(&again).starts_with("2 inputs: 1 new reports (2 records, 6 messages), 0 duplicate reports, 1 inputs already seen"),
        "{}",
        stdout(&again)
    );
    assert_eq!(totals(&scratch.stats()), [1, 2, 6, 3]);
}

/// An older duckmarc skipped SMTP TLS reports; this one stores them, and reads again what
/// the older one skipped, once.
#[test]
fn tls_reports_an_older_duckmarc_skipped_are_read_again() {
    let scratch = Scratch::new();
    let tls = scratch.write("tls.json", TLS);
    assert_success(&scratch.ingest(&[&tls]));
    rewrite(
        &scratch,
        "DELETE FROM tls_failures; DELETE FROM tls_policies; DELETE FROM tls_reports;
         UPDATE ingest_ledger SET outcome = 'skipped', new_reports = 0,
                reason = 'SMTP TLS report (RFC 8460), not a DMARC aggregate report';
         ALTER TABLE ingest_ledger DROP COLUMN kind; ALTER TABLE ingest_ledger DROP COLUMN code;",
    );
    let again = scratch.ingest(&[&tls]);
    assert_success(&again);
    assert!(
        stdout(&again).starts_with("1 inputs: 1 new reports"),
        "{}",
        stdout(&again)
    );
    let third = scratch.ingest(&[&tls]);
    assert!(
        stdout(&third).contains("1 inputs already seen"),
        "{}",
        stdout(&third)
    );
    let tls_rows = scratch.query("SELECT count(*) AS n FROM tls_reports");
    assert_eq!(tls_rows[0]["n"], 1);
    let rows = ledger(&scratch);
    assert!(rows.iter().all(|r| r["kind"] == "smtp_tls"), "{rows:?}");
}
