//! The ingest ledger: every input with its kind and a stable outcome code, and inputs skipped
//! for a kind duckmarc did not store are read again once it does.

use crate::common::reports::*;
use crate::common::*;

fn ledger(scratch: &Scratch) -> Vec<serde_json::Value> {
    scratch.query("SELECT origin, outcome, kind, code FROM ingest_ledger ORDER BY origin")
}

#[test]
fn every_input_has_a_kind_and_a_code() {
    let scratch = Scratch::new();
    scratch.write("in/a-report.xml", report_xml("k-1", 2, 1).as_bytes());
    scratch.write(
        "in/b-tls.json",
        br#"{"organization-name":"Google Inc.","policies":[]}"#,
    );
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
        ("skipped", "smtp_tls", "unsupported_kind"),
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
    let tls = scratch.write(
        "in/tls.json",
        br#"{"organization-name":"Google Inc.","policies":[]}"#,
    );
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
    let again = scratch.ingest(&[&report, &tls]);
    assert_success(&again);
    // The report is read again and stored once; the TLS report, still not stored by this
    // duckmarc, is recognised as settled.
    assert!(
        stdout(&again).starts_with("2 inputs: 1 new reports (2 records, 6 messages), 0 duplicate reports, 1 inputs already seen"),
        "{}",
        stdout(&again)
    );
    assert_eq!(totals(&scratch.stats()), [1, 2, 6, 3]);
}

#[test]
fn ledgers_of_older_duckmarcs_get_kinds_from_their_reasons() {
    let scratch = Scratch::new();
    let tls = scratch.write(
        "tls.json",
        br#"{"organization-name":"Google Inc.","policies":[]}"#,
    );
    assert_success(&scratch.ingest(&[&tls]));
    rewrite(
        &scratch,
        "ALTER TABLE ingest_ledger DROP COLUMN kind; ALTER TABLE ingest_ledger DROP COLUMN code;",
    );
    // The old TLS row is recognised as settled from its reason text...
    let again = scratch.ingest(&[&tls]);
    assert_success(&again);
    assert!(
        stdout(&again).contains("1 inputs already seen"),
        "{}",
        stdout(&again)
    );
    // ...and the next write upgrades the ledger, filling kind and code in.
    let new = scratch.write("new.xml", report_xml("new", 1, 1).as_bytes());
    assert_success(&scratch.ingest(&[&new]));
    let rows = ledger(&scratch);
    let tls_row = rows
        .iter()
        .find(|r| r["origin"].as_str().unwrap().ends_with("tls.json"))
        .unwrap();
    assert_eq!(tls_row["kind"], "smtp_tls");
    assert_eq!(tls_row["code"], "unsupported_kind");
}
