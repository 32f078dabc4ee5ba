//! Golden fixtures, one folder per kind (`tests/fixtures/<kind>/NNN.<ext>`), each beside what
//! duckmarc stores of it (`NNN.stored.json`: the ledger row and the kind's rows), checked by
//! one loop through the real binary: the next quirk a reporter invents is one file pair.
//! `DUCKMARC_BLESS=1` writes a missing `.stored.json` from what is stored now, to be read
//! and checked by hand before it is committed.

use crate::common::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// What is compared per kind: every table's rows that the kind fills, in a stable order.
fn stored_form(scratch: &Scratch, kind: &str) -> Value {
    let ledger = scratch.query("SELECT outcome, kind, code, reason FROM ingest_ledger");
    let rows = match kind {
        "aggregate" => json!({
            "reports": scratch.query(
                "SELECT org_name, report_id, domain, strftime(begin_time, '%Y-%m-%dT%H:%M:%S') AS begin,
                        strftime(end_time, '%Y-%m-%dT%H:%M:%S') AS end, p, sp, pct, notes,
                        (SELECT count(*) FROM records WHERE report = r.id) AS records,
                        (SELECT sum(count) FROM records WHERE report = r.id) AS messages
                 FROM reports r ORDER BY id"),
            "records": scratch.query(
                "SELECT source_ip, count, disposition, dkim, spf, header_from, diagnosis
                 FROM records ORDER BY report, record_no"),
        }),
        "smtp_tls" => json!({
            "reports": scratch.query(
                "SELECT org_name, report_id, contact_info,
                        strftime(begin_time, '%Y-%m-%dT%H:%M:%S') AS begin,
                        strftime(end_time, '%Y-%m-%dT%H:%M:%S') AS end, notes
                 FROM tls_reports ORDER BY id"),
            "policies": scratch.query(
                "SELECT policy_no, policy_type, policy_domain, policy_strings, mx_hosts,
                        successful_sessions, failed_sessions
                 FROM tls_policies ORDER BY report, policy_no"),
            "failures": scratch.query(
                "SELECT policy_no, idx, result_type, sending_mta_ip, receiving_mx_hostname,
                        failed_sessions
                 FROM tls_failures ORDER BY report, policy_no, idx"),
        }),
        "failure_report" => json!({
            "reports": scratch.query(
                "SELECT reporter, feedback_type, user_agent, source_ip, reported_domain,
                        original_mail_from, original_rcpt_to, auth_failure, delivery_result,
                        header_from, subject, message_id,
                        strftime(arrival_date, '%Y-%m-%dT%H:%M:%S') AS arrival
                 FROM failure_reports ORDER BY id"),
        }),
        other => panic!("no stored form for fixtures of kind {other}"),
    };
    json!({ "ledger": ledger, "stored": rows })
}

#[test]
fn every_fixture_is_stored_as_its_golden_file_says() {
    let root = repo().join("tests/fixtures");
    let mut checked = 0;
    let mut failures = Vec::new();
    for kind in ["aggregate", "smtp_tls", "failure_report"] {
        for input in inputs(&root.join(kind)) {
            let golden = input.with_extension("stored.json");
            let scratch = Scratch::new();
            let output = scratch.ingest(&[&input]);
            let code = output.status.code();
            assert!(
                matches!(code, Some(0 | 3)),
                "{input:?}: {}",
                stderr(&output)
            );
            let stored = stored_form(&scratch, kind);
            match std::fs::read(&golden) {
                Ok(bytes) => {
                    let expected: Value = serde_json::from_slice(&bytes).unwrap();
                    if expected != stored {
                        failures.push(format!(
                            "{}: stored\n{}\ninstead of\n{}",
                            input.display(),
                            serde_json::to_string_pretty(&stored).unwrap(),
                            serde_json::to_string_pretty(&expected).unwrap()
                        ));
                    }
                }
                Err(_) if std::env::var_os("DUCKMARC_BLESS").is_some() => {
                    let text = serde_json::to_string_pretty(&stored).unwrap() + "\n";
                    std::fs::write(&golden, text).unwrap();
                }
                Err(_) => failures.push(format!("{}: no {}", input.display(), golden.display())),
            }
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} fixtures");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The inputs of one kind's folder, in name order (every file but the golden ones).
fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| !path.to_string_lossy().ends_with(".stored.json"))
        .collect();
    files.sort();
    files
}
