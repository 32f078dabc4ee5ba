//! The real-world corpus in ../shared/corpus: every file, and the whole folder, through the CLI.

use crate::common::*;

const EXIT_REJECTED: i32 = 3;

/// Corpus README: 34 distinct reports, 2,361 records, 8,566 messages, 6,255 passing.
const CORPUS_TOTALS: [u64; 4] = [34, 2361, 8566, 6255];

#[test]
fn whole_corpus_gives_the_published_totals_and_again_changes_nothing() {
    let Some(corpus) = corpus() else { return };
    let scratch = Scratch::new();
    let first = scratch.ingest(&[&corpus]);
    // empty.xml is a zero-byte file: rejected, and the exit code says so.
    assert_eq!(
        first.status.code(),
        Some(EXIT_REJECTED),
        "{}",
        stderr(&first)
    );
    assert!(
        stderr(&first).contains("empty.xml: empty input"),
        "{}",
        stderr(&first)
    );
    assert_eq!(totals(&scratch.stats()), CORPUS_TOTALS);

    let second = scratch.ingest(&[&corpus]);
    assert_eq!(second.status.code(), Some(EXIT_REJECTED));
    assert!(
        stdout(&second).contains(" 0 new reports"),
        "{}",
        stdout(&second)
    );
    assert_eq!(totals(&scratch.stats()), CORPUS_TOTALS);
}

#[test]
fn every_file_of_expected_tsv_matches() {
    let Some(corpus) = corpus() else { return };
    let expected = std::fs::read_to_string(corpus.join("expected.tsv")).unwrap();
    let mut checked = 0;
    for line in expected.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [path, kind, reports, records, messages, passing, key, ..] = fields[..] else {
            panic!("bad expected.tsv line: {line}");
        };
        let scratch = Scratch::new();
        let file = corpus.join(path);
        let output = scratch.ingest(&[&file]);
        let stats = scratch.stats();
        let want: [u64; 4] = [reports, records, messages, passing].map(|n| n.parse().unwrap());
        assert_eq!(totals(&stats), want, "{path}: {}", stderr(&output));
        if kind == "aggregate" {
            assert_success(&output);
            let keys = scratch.query("SELECT report_key FROM reports");
            assert_eq!(keys.len(), 1, "{path}");
            assert_eq!(keys[0]["report_key"], key, "{path}");
        } else if path.contains("smtp_tls") {
            // Stored as an SMTP TLS report (they are not DMARC aggregate reports).
            assert_success(&output);
            let tls = scratch.query("SELECT count(*) AS n FROM tls_reports");
            assert_eq!(tls[0]["n"], 1, "{path}");
        } else {
            let says = stderr(&output);
            let named = file.display().to_string();
            assert!(
                says.contains(&format!("skipped: {named}"))
                    || says.contains(&format!("rejected: {named}")),
                "{path} must be reported as skipped or rejected with a reason, got: {says}"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 51, "every row of expected.tsv is checked");
}

#[test]
fn failure_reports_are_skipped_and_tls_reports_stored() {
    let Some(corpus) = corpus() else { return };
    let scratch = Scratch::new();
    let output = scratch.ingest(&[
        &corpus.join("parsedmarc/failure"),
        &corpus.join("parsedmarc/smtp_tls"),
    ]);
    assert_success(&output);
    let says = stderr(&output);
    assert_eq!(
        says.matches("failure (forensic) report").count(),
        5,
        "{says}"
    );
    assert!(!says.contains("SMTP TLS"), "{says}");
    let tls = scratch.run(["report", "tls", "--format", "json"]);
    assert_success(&tls);
    let rows: serde_json::Value = serde_json::from_slice(&tls.stdout).unwrap();
    let domains: Vec<(&str, u64, u64)> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            let domain = r["policy_domain"].as_str().unwrap();
            (domain, n("successful_sessions"), n("failed_sessions"))
        })
        .collect();
    // RFC 8460's example, Mail.ru's and parsedmarc's sample (both example.com), Google's.
    assert_eq!(
        domains,
        [
            ("company-y.example", 5326, 303),
            ("example.com", 0, 4),
            ("cardinalhealth.ca", 48, 0)
        ]
    );
}
