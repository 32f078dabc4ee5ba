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
        } else if path.contains("smtp_tls") || path.contains("failure") {
            // Stored as what they are: SMTP TLS reports, failure reports.
            assert_success(&output);
            let table = if path.contains("smtp_tls") {
                "tls_reports"
            } else {
                "failure_reports"
            };
            let stored = scratch.query(&format!("SELECT count(*) AS n FROM {table}"));
            assert_eq!(stored[0]["n"], 1, "{path}: {}", stderr(&output));
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
fn failure_and_tls_reports_are_stored_and_counted_once() {
    let Some(corpus) = corpus() else { return };
    let scratch = Scratch::new();
    let output = scratch.ingest(&[
        &corpus.join("parsedmarc/failure"),
        &corpus.join("parsedmarc/smtp_tls"),
    ]);
    assert_success(&output);
    // LinkedIn's report comes twice (LF and CRLF line ends): one report.
    assert!(
        stdout(&output)
            .starts_with("9 inputs: 8 new reports (4 records, 0 messages), 1 duplicate reports"),
        "{}",
        stdout(&output)
    );
    assert_eq!(
        totals(&scratch.stats()),
        [0, 0, 0, 0],
        "aggregate totals untouched"
    );

    let samples = scratch.run(["report", "failure-samples", "--format", "json"]);
    assert_success(&samples);
    let rows: serde_json::Value = serde_json::from_slice(&samples.stdout).unwrap();
    let text = |row: &serde_json::Value, key: &str| row[key].as_str().unwrap_or("").to_string();
    let seen: Vec<[String; 5]> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            [
                "arrival",
                "source_ip",
                "reported_domain",
                "header_from",
                "subject",
            ]
            .map(|key| text(r, key))
        })
        .collect();
    let expected = [
        // Exim's prose report, read from its text and its copy of the headers.
        [
            "2025-04-07 21:16",
            "203.0.113.68",
            "example.com",
            "user@example.com",
            "Payment from your account.",
        ],
        [
            "2019-04-30 02:09",
            "10.10.10.10",
            "example.com",
            "sender@example.com",
            "Subject line, could be UTF8 encoded",
        ],
        [
            "2018-10-01 09:20",
            "10.10.10.10",
            "domain.de",
            "sharepoint@domain.de",
            "Subject",
        ],
        // Netease: the ARF part is base64 and named ATT00001.
        [
            "2018-09-28 08:48",
            "167.89.69.24",
            "cardinal.com",
            "info@cardinal.com",
            "Rent Reminder",
        ],
    ];
    assert_eq!(seen, expected.map(|row| row.map(String::from)));
    let netease = &rows[3];
    assert_eq!(netease["dkim_domain"], "entrata.com");
    assert_eq!(netease["identity_alignment"], "spf,dkim");
    assert_eq!(netease["delivery_result"], "delivered");
    let bodies = scratch.query(
        "SELECT count(original_body) AS n, count(original_headers) AS h FROM failure_reports",
    );
    assert_eq!(
        (bodies[0]["n"].as_u64(), bodies[0]["h"].as_u64()),
        (Some(0), Some(4)),
        "headers only by default"
    );

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
    // Mail.ru's total says 1 failed session beside two policy fetch errors (404, then 500):
    // one session that fetched twice, or two sessions; its total is kept as written, so 1 + 3.
    assert_eq!(
        domains,
        [
            ("company-y.example", 5326, 303),
            ("example.com", 0, 4),
            ("cardinalhealth.ca", 48, 0)
        ]
    );
}
