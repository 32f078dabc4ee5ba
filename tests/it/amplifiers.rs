//! Small inputs that a stranger can mail, which once grew into values or rows far larger
//! than themselves: a note per item joined into one database value (DuckDB out of memory,
//! the run stopped, every other report of it lost), empty records counted as messages, and
//! unbounded lists. Each is now bounded where it is parsed, and the rest of the batch is
//! stored.

use crate::common::reports::{dmarc_report, gzip, Row};
use crate::common::*;

const EXIT_REJECTED: i32 = 3;

/// An SMTP TLS report (RFC 8460) whose one policy has `details` as its failure-details.
fn tls_report(id: &str, policies: &str) -> String {
    format!(
        r#"{{"organization-name":"X","date-range":{{"start-datetime":"2023-01-10T00:00:00Z","end-datetime":"2023-01-10T23:59:59Z"}},"report-id":"{id}","policies":[{policies}]}}"#
    )
}

fn tls_policy(details: &str) -> String {
    format!(
        r#"{{"policy":{{"policy-type":"sts","policy-domain":"example.com"}},"summary":{{"total-successful-session-count":1,"total-failure-session-count":1}},"failure-details":[{details}]}}"#
    )
}

/// A good report beside the hostile inputs: stored whatever they do.
fn good_report(scratch: &Scratch) -> std::path::PathBuf {
    let xml = dmarc_report(
        "google.com",
        "good",
        1_793_491_200,
        "<p>none</p>",
        &[Row::own("192.0.2.10", 7, "pass", "pass")],
    );
    scratch.write("in/good.xml", xml.as_bytes())
}

fn query_one(scratch: &Scratch, sql: &str) -> serde_json::Value {
    scratch.query(sql)[0].clone()
}

#[test]
fn a_note_per_item_is_kept_for_the_first_few_and_the_batch_is_stored() {
    let scratch = Scratch::new();
    good_report(&scratch);
    // 300,000 failure details without a count, one note each (1 KB gzipped).
    let details = vec!["{}"; 300_000].join(",");
    let tls = tls_report("details", &tls_policy(&details));
    scratch.write("in/tls.json.gz", &gzip(tls.as_bytes()));
    // 400 <error>s of 60,000 bytes each, one value of 24 MB.
    let error = "e".repeat(60_000);
    let errors: String = (0..400)
        .map(|_| format!("<error>{error}</error>"))
        .collect();
    let xml = dmarc_report(
        "errors.example",
        "errors",
        1_793_491_200,
        "<p>none</p>",
        &[Row::own("192.0.2.11", 5, "pass", "pass")],
    )
    .replacen("</report_id>", &format!("</report_id>{errors}"), 1);
    scratch.write("in/errors.xml.gz", &gzip(xml.as_bytes()));
    let output = scratch.ingest(&[scratch.path("in")]);
    assert_success(&output);
    // Two aggregate reports (what stats counts); the TLS report is read below.
    assert_eq!(
        totals(&scratch.stats())[..3],
        [2, 2, 12],
        "{}",
        stderr(&output)
    );
    let tls = query_one(
        &scratch,
        "SELECT len(string_split(notes, chr(10))) AS notes, notes LIKE '%and 299980 more notes%' AS counted FROM tls_reports",
    );
    assert!(tls["notes"].as_u64().unwrap() <= 21, "{tls}");
    assert_eq!(tls["counted"], true, "{tls}");
    let errors = query_one(
        &scratch,
        "SELECT length(errors) < 2000000 AS bounded, errors LIKE '%and 380 more <error> elements%' AS counted FROM reports WHERE org_name = 'errors.example'",
    );
    assert_eq!(
        (&errors["bounded"], &errors["counted"]),
        (&true.into(), &true.into()),
        "{errors}"
    );
}

#[test]
fn records_that_count_nothing_are_left_out_and_said_so() {
    let scratch = Scratch::new();
    let empty = "<record/>".repeat(200_000);
    let xml = dmarc_report(
        "empty.example",
        "empty",
        1_793_491_200,
        "<p>none</p>",
        &[Row::own("192.0.2.10", 3, "pass", "pass")],
    )
    .replacen("<record>", &format!("{empty}<record>"), 1);
    let file = scratch.write("empty.xml.gz", &gzip(xml.as_bytes()));
    assert_success(&scratch.ingest(&[file]));
    assert_eq!(totals(&scratch.stats())[..3], [1, 1, 3]);
    let note = query_one(&scratch, "SELECT notes FROM reports");
    assert!(
        note["notes"]
            .as_str()
            .unwrap()
            .contains("200000 records with neither a source_ip nor a count, left out"),
        "{note}"
    );
}

#[test]
fn lists_past_their_bound_are_cut_or_refused_and_the_rest_is_stored() {
    let scratch = Scratch::new();
    good_report(&scratch);
    // 1,001 policies: refused whole (each took a millisecond to store; 300,000 took minutes).
    let policies = vec![tls_policy(""); 1_001].join(",");
    scratch.write(
        "in/policies.json",
        tls_report("policies", &policies).as_bytes(),
    );
    // An e-mail of 10,001 parts: refused as a zip of 10,001 members is.
    let parts: String = (0..10_001)
        .map(|n| format!("--b\r\nContent-Type: text/plain\r\n\r\npart {n}\r\n"))
        .collect();
    let mail = format!(
        "From: a@example.net\r\nTo: b@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n{parts}--b--\r\n"
    );
    scratch.write("in/parts.eml", mail.as_bytes());
    // 10,000 DKIM results in one record: the first 100 kept.
    let many = "<dkim><domain>x.example</domain><result>fail</result></dkim>".repeat(10_000);
    let xml = dmarc_report(
        "dkim.example",
        "dkim",
        1_793_491_200,
        "<p>none</p>",
        &[Row::own("192.0.2.12", 2, "pass", "pass")],
    )
    .replacen("<auth_results>", &format!("<auth_results>{many}"), 1);
    scratch.write("in/dkim.xml", xml.as_bytes());
    let output = scratch.ingest(&[scratch.path("in")]);
    assert_eq!(
        output.status.code(),
        Some(EXIT_REJECTED),
        "{}",
        stderr(&output)
    );
    let said = stderr(&output);
    assert!(
        said.contains("SMTP TLS report with 1001 policies, more than 1000"),
        "{said}"
    );
    assert!(
        said.contains("e-mail holds more than 10000 parts"),
        "{said}"
    );
    assert_eq!(totals(&scratch.stats())[..3], [2, 2, 9], "{said}");
    let dkim = query_one(
        &scratch,
        "SELECT count(*) AS kept FROM dkim_results d JOIN reports r ON r.id = d.report WHERE r.org_name = 'dkim.example'",
    );
    assert_eq!(dkim["kept"], 100, "{dkim}");
}
