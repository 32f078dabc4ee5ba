//! The ingest ledger: every input with its kind and a stable outcome code, and inputs skipped
//! for a kind duckmarc did not store are read again once it does.

use crate::common::reports::*;
use crate::common::*;
use serde_json::json;

/// A minimal SMTP TLS report (RFC 8460).
const TLS: &[u8] = br#"{"organization-name":"Google Inc.","date-range":{"start-datetime":"2024-09-03T00:00:00Z","end-datetime":"2024-09-03T23:59:59Z"},"report-id":"tls-1","policies":[{"policy":{"policy-type":"sts","policy-domain":"example.com"},"summary":{"total-successful-session-count":40,"total-failure-session-count":2},"failure-details":[{"result-type":"certificate-expired","failed-session-count":2}]}]}"#;

fn failure_report() -> Vec<u8> {
    std::fs::read(samples().join("failure-report.eml")).unwrap()
}

/// A delivery status notification: a kind duckmarc does not store.
const BOUNCE: &[u8] = b"From: MAILER-DAEMON@mx.example.net\r\nSubject: Undelivered Mail\r\n\
    MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
    --b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
    --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n\
    Final-Recipient: rfc822; gone@example.com\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n--b--\r\n";

fn ledger(scratch: &Scratch) -> Vec<serde_json::Value> {
    scratch.query("SELECT origin, outcome, kind, code FROM ingest_ledger ORDER BY origin")
}

#[test]
fn every_input_has_a_kind_and_a_code() {
    let scratch = Scratch::new();
    scratch.write("in/a-report.xml", report_xml("k-1", 2, 1).as_bytes());
    scratch.write("in/b-tls.json", TLS);
    scratch.write("in/b2-failure.eml", &failure_report());
    scratch.write("in/b3-bounce.eml", BOUNCE);
    scratch.write(
        "in/b4-broken-tls.json",
        b"{\"organization-name\": \"X\", \"policies\": [",
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
        ("stored", "smtp_tls", ""),
        ("stored", "failure_report", ""),
        ("skipped", "bounce", "unsupported_kind"),
        ("rejected", "smtp_tls", "invalid_value"),
        ("rejected", "aggregate", "malformed"),
        ("rejected", "unknown", "empty"),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(o, k, c)| (o.to_string(), k.to_string(), c.to_string()))
        .collect();
    assert_eq!(rows, expected);
}

#[test]
fn inputs_skipped_for_their_kind_are_read_again_once_it_is_stored() {
    let scratch = Scratch::new();
    let report = scratch.write("in/report.xml", report_xml("later", 2, 3).as_bytes());
    let bounce = scratch.write("in/bounce.eml", BOUNCE);
    assert_success(&scratch.ingest(&[&scratch.path("in")]));
    // As an older duckmarc that could not read this report's kind left the database: the
    // report skipped for its kind, and ledger rows without kind and code.
    scratch.rewrite("DELETE FROM records; DELETE FROM reports;
         UPDATE ingest_ledger SET outcome = 'skipped', reason = 'an older duckmarc could not read it',
                new_reports = 0, kind = 'aggregate', code = 'unsupported_kind'
         WHERE origin LIKE '%report.xml';
         ALTER TABLE ingest_ledger DROP COLUMN kind; ALTER TABLE ingest_ledger DROP COLUMN code;
         ALTER TABLE ingest_ledger ADD COLUMN kind VARCHAR; ALTER TABLE ingest_ledger ADD COLUMN code VARCHAR;
         UPDATE ingest_ledger SET kind = 'aggregate', code = 'unsupported_kind' WHERE origin LIKE '%report.xml';",
    );
    assert_eq!(totals(&scratch.stats())[0], 0);
    let again = scratch.ingest(&[&report, &bounce]);
    assert_success(&again);
    // The report is read again and stored once; the bounce, still not stored by this
    // duckmarc, is recognised as settled.
    assert!(
        stdout(&again).starts_with("2 inputs: 1 new reports (2 records, 6 messages), 0 duplicate reports, 1 inputs already seen"),
        "{}",
        stdout(&again)
    );
    assert_eq!(totals(&scratch.stats()), [1, 2, 6, 3]);
}

/// An older duckmarc skipped SMTP TLS and failure reports; this one stores them, and reads
/// again what the older one skipped, once.
#[test]
fn tls_and_failure_reports_an_older_duckmarc_skipped_are_read_again() {
    let kinds = [
        (
            "tls.json",
            TLS.to_vec(),
            "tls_reports",
            "smtp_tls",
            "SMTP TLS report (RFC 8460), not a DMARC aggregate report",
        ),
        (
            "failure.eml",
            failure_report(),
            "failure_reports",
            "failure_report",
            "DMARC failure (forensic) report, not an aggregate report",
        ),
    ];
    for (name, bytes, table, kind, old_reason) in kinds {
        let scratch = Scratch::new();
        let input = scratch.write(name, &bytes);
        assert_success(&scratch.ingest(&[&input]));
        // As the older duckmarc left it: nothing stored, the ledger without kinds.
        let emptied = if table == "tls_reports" {
            "DELETE FROM tls_failures; DELETE FROM tls_policies; DELETE FROM tls_reports;"
        } else {
            "DELETE FROM failure_reports;"
        };
        scratch.rewrite(&format!(
                "{emptied}
                 UPDATE ingest_ledger SET outcome = 'skipped', new_reports = 0, reason = '{old_reason}';
                 ALTER TABLE ingest_ledger DROP COLUMN kind; ALTER TABLE ingest_ledger DROP COLUMN code;
                 DROP TABLE check_findings; DROP TABLE dns_cache; DROP TABLE naming_mark;"
            ),
        );
        let again = scratch.ingest(&[&input]);
        assert_success(&again);
        assert!(
            stdout(&again).starts_with("1 inputs: 1 new reports"),
            "{name}: {}",
            stdout(&again)
        );
        let third = scratch.ingest(&[&input]);
        assert!(
            stdout(&third).contains("1 inputs already seen"),
            "{name}: {}",
            stdout(&third)
        );
        let stored = scratch.query(&format!("SELECT count(*) AS n FROM {table}"));
        assert_eq!(stored[0]["n"], 1, "{name}");
        let rows = ledger(&scratch);
        assert!(rows.iter().all(|r| r["kind"] == kind), "{rows:?}");
    }
}

/// RFC 9990 has a resent report reuse its identifiers: the first copy stays, and a copy with
/// other counts is named as such (stderr, ledger, `report reporters`); an identical copy in
/// another container is a plain duplicate.
#[test]
fn a_resent_report_with_other_counts_is_named_and_the_first_copy_kept() {
    let scratch = Scratch::new();
    let err = store_then_resend(&scratch, "");
    assert!(
        err.contains(
            "c-other.xml: resent with other counts: 2 records and 6 messages stored, \
                      this copy has 3 and 15; the first copy is kept"
        ),
        "{err}"
    );
    let codes = scratch.query(
        "SELECT origin, outcome, coalesce(code, '') AS code FROM ingest_ledger ORDER BY origin",
    );
    let code_of = |name: &str| {
        codes
            .iter()
            .find(|r| r["origin"].as_str().unwrap().ends_with(name))
            .map(|r| (r["outcome"].clone(), r["code"].clone()))
            .unwrap()
    };
    assert_eq!(code_of("b-same.xml.gz"), ("duplicate".into(), "".into()));
    assert_eq!(
        code_of("c-other.xml"),
        ("duplicate".into(), "resent_differs".into())
    );
    assert_eq!(
        totals(&scratch.stats())[..2],
        [1, 2],
        "the first copy is kept"
    );
    let reporters = scratch.report_json(&["reporters"]);
    assert_eq!(reporters[0]["resent_with_other_counts"], 1);
    assert_eq!(reporters[0]["messages"], 6);
}

/// Stores report resent-1 (2 records of 3 messages), runs `before` on the database, then
/// ingests the same report again in a gzip (a plain duplicate) and with other counts (3
/// records of 5); returns what that ingest said on stderr.
fn store_then_resend(scratch: &Scratch, before: &str) -> String {
    let first = scratch.write("a-first.xml", report_xml("resent-1", 2, 3).as_bytes());
    assert_success(&scratch.ingest(&[&first]));
    scratch.rewrite(before);
    let same = scratch.write(
        "b-same.xml.gz",
        &gzip(report_xml("resent-1", 2, 3).as_bytes()),
    );
    let other = scratch.write("c-other.xml", report_xml("resent-1", 3, 5).as_bytes());
    let output = scratch.ingest(&[&same, &other]);
    assert_success(&output);
    let err = stderr(&output);
    assert!(
        err.contains("b-same.xml.gz: report already stored"),
        "{err}"
    );
    err
}

/// A database stored before reports kept their size (record_count, message_count) gets
/// it on open, so a copy is still held against the stored counts; and so does one whose
/// upgrade was killed after the columns were added, before they were filled.
#[test]
fn a_copy_is_held_against_the_counts_of_a_report_stored_before_they_were_kept() {
    for before in [
        "ALTER TABLE reports DROP COLUMN record_count;
         ALTER TABLE reports DROP COLUMN message_count;
         DELETE FROM data_upgrades WHERE name = 'report_sizes';",
        "UPDATE reports SET record_count = NULL, message_count = NULL;
         DELETE FROM data_upgrades WHERE name = 'report_sizes';",
    ] {
        a_copy_is_held_against_the_counts_stored(before);
    }
}

fn a_copy_is_held_against_the_counts_stored(before: &str) {
    let scratch = Scratch::new();
    let err = store_then_resend(&scratch, before);
    assert!(
        err.contains("c-other.xml: resent with other counts: 2 records and 6 messages stored"),
        "{err}"
    );
    let sizes = scratch.query("SELECT record_count, message_count FROM reports");
    assert_eq!(sizes, [json!({"record_count": 2, "message_count": 6})]);
}

/// Within one run a differing copy is held against the first whether it comes in the first
/// copy's batch (the writer remembers that batch's reports) or in a later one (found in the
/// open transaction): the first batch of a run holds 64 inputs.
#[test]
fn a_resent_report_is_named_within_one_run_in_the_same_batch_and_a_later_one() {
    let scratch = Scratch::new();
    let mut inputs = vec![
        scratch.write("a-first.xml", report_xml("resent-1", 2, 3).as_bytes()),
        scratch.write("b-same-batch.xml", report_xml("resent-1", 3, 5).as_bytes()),
    ];
    for n in 0..70 {
        let filler = report_xml(&format!("filler-{n}"), 1, 1);
        inputs.push(scratch.write(&format!("m-{n:02}.xml"), filler.as_bytes()));
    }
    inputs.push(scratch.write("z-later-batch.xml", report_xml("resent-1", 4, 7).as_bytes()));
    let output = scratch.ingest(&inputs);
    assert_success(&output);
    let err = stderr(&output);
    for (name, copy) in [
        ("b-same-batch.xml", "3 and 15"),
        ("z-later-batch.xml", "4 and 28"),
    ] {
        assert!(
            err.contains(&format!(
                "{name}: resent with other counts: 2 records and 6 messages stored, \
                 this copy has {copy}; the first copy is kept"
            )),
            "{name}: {err}"
        );
    }
    let resent = scratch.query("SELECT count(*) AS n FROM resent_reports");
    assert_eq!(resent[0]["n"], 2);
    assert_eq!(
        totals(&scratch.stats())[..2],
        [71, 72],
        "first copies and fillers"
    );
}

/// A reporter's name in another case is the same reporter (web.de writes `WEB.DE` and
/// `web.de`): one reporter in the reports, under the name first stored, and one report sent
/// under either spelling is stored once. Report keys stay as each report wrote them: they
/// name reports across databases. A database that stored each spelling as a reporter of
/// its own is brought to that once.
#[test]
fn a_reporters_name_in_another_case_is_the_same_reporter() {
    let scratch = Scratch::new();
    let spelt = |name: &str, id: &str| report_xml(id, 2, 3).replace("Test Org", name);
    let first = scratch.write("a.xml", spelt("WEB.DE", "case-1").as_bytes());
    let second = scratch.write("b.xml", spelt("web.de", "case-2").as_bytes());
    assert_success(&scratch.ingest(&[&first, &second]));
    // As duckmarc stored the second before: under the name as written.
    scratch.rewrite(
        "UPDATE reports SET org_name = 'web.de' WHERE report_id = 'case-2';
         DELETE FROM data_upgrades WHERE name = 'reporters_case_folded';
         ALTER TABLE reports DROP COLUMN org_domain;",
    );
    let again = scratch.write("c.xml", spelt("web.de", "case-1").as_bytes());
    let next = scratch.write("d.xml", spelt("Web.De", "case-3").as_bytes());
    let output = scratch.ingest(&[&again, &next]);
    assert_success(&output);
    assert!(
        stderr(&output).contains("c.xml: report already stored"),
        "{}",
        stderr(&output)
    );
    assert_eq!(totals(&scratch.stats())[..2], [3, 6]);
    let reporters = scratch.report_json(&["reporters"]);
    assert_eq!(reporters.len(), 1, "{reporters:#?}");
    assert_eq!(reporters[0]["reporter"], "WEB.DE");
    assert_eq!(reporters[0]["messages"], 18);
    let keys = scratch.query("SELECT report_key FROM reports ORDER BY report_id");
    let written: Vec<&str> = keys
        .iter()
        .map(|k| k["report_key"].as_str().unwrap().split('|').next().unwrap())
        .collect();
    assert_eq!(written, ["WEB.DE", "web.de", "Web.De"]);
}
