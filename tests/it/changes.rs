//! `report changes` (this week against the one before) and `report dkim` (the keys that
//! signed), over two weeks of reports built for the purpose.

use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;

const DAY1: u64 = 1_761_955_200; // 2025-11-01
const DAY: u64 = 86_400;

fn row(
    ip: &'static str,
    count: u64,
    pass: bool,
    dkim_domain: &'static str,
    selector: &'static str,
) -> Row<'static> {
    let verdict = if pass { "pass" } else { "fail" };
    Row {
        ip,
        count,
        dkim: verdict,
        spf: verdict,
        from: "example.com",
        dkim_domain,
        spf_domain: dkim_domain,
        reason: None,
        selector: Some(selector),
    }
}

/// Week 1 (Nov 1-7) and week 2 (Nov 8-14). Between them: the domain's key moves from
/// s2025 to s2026, a spoofer stops, SendGrid starts, Google's own mail through the domain
/// fails more, Mail.Ru stops reporting and Yahoo starts, and p=none becomes p=quarantine
/// (Google writes sp out, Outlook does not: one change).
fn two_weeks(scratch: &Scratch) {
    let mut files = Vec::new();
    for n in 1..=14u64 {
        let second = n >= 8;
        let begin = DAY1 + (n - 1) * DAY;
        let selector = if second { "s2026" } else { "s2025" };
        let mut rows = vec![
            row("192.0.2.10", 100, true, "example.com", selector),
            // Google Workspace (named by its network): 10 of 40 fail in week 2.
            row(
                "209.85.220.41",
                if second { 30 } else { 40 },
                true,
                "example.com",
                selector,
            ),
        ];
        if second {
            rows.push(row("209.85.220.41", 10, false, "example.com", selector));
            rows.push(row("167.89.115.25", 5, true, "sendgrid.net", "s1"));
        } else {
            rows.push(row("203.0.113.99", 7, false, "spoof.example", "x"));
        }
        let (google, outlook) = if second {
            ("<p>quarantine</p><sp>quarantine</sp>", "<p>quarantine</p>")
        } else {
            ("<p>none</p><sp>none</sp>", "<p>none</p>")
        };
        let mut reporters = vec![("google.com", google), ("Outlook.com", outlook)];
        reporters.push(if second {
            ("Yahoo", "<p>quarantine</p>")
        } else {
            ("Mail.Ru", "<p>none</p>")
        });
        for (org, policy) in reporters {
            let xml = dmarc_report(org, &format!("{org}-{n}"), begin, policy, &rows);
            files.push(scratch.write(&format!("{org}-{n}.xml"), xml.as_bytes()));
        }
    }
    assert_success(&scratch.ingest(&files));
}

fn changes(rows: &[Value]) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or("").to_string();
            (text("change"), text("subject"))
        })
        .collect();
    found.sort();
    found
}

#[test]
fn this_week_against_the_last() {
    let scratch = Scratch::new();
    two_weeks(&scratch);
    // By default: the 7 days up to the latest day reported, against the 7 before.
    let rows = scratch.report_json(&["changes"]);
    let google = rows
        .iter()
        .find(|r| r["change"] == "sender")
        .expect("a sender seen in both weeks");
    let google_name = google["subject"].as_str().unwrap().to_string();
    assert!(google_name.contains("Google"), "{google_name}");
    let sendgrid = rows
        .iter()
        .find(|r| r["change"] == "new_sender")
        .and_then(|r| r["subject"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(sendgrid.contains("SendGrid"), "{rows:#?}");
    // pct is left out: RFC 9990's reports have none.
    let policy = "p=none sp=none np=none t=n adkim=r aspf=r -> \
                  p=quarantine sp=quarantine np=quarantine t=n adkim=r aspf=r";
    let mut expected: Vec<(String, String)> = [
        ("policy_changed", policy),
        ("new_sender", sendgrid.as_str()),
        ("sender", google_name.as_str()),
        ("new_source", "167.89.115.25"),
        ("vanished_source", "203.0.113.99"),
        ("new_reporter", "Yahoo"),
        ("vanished_reporter", "Mail.Ru"),
        ("new_dkim_selector", "s2026._domainkey.example.com"),
        ("new_dkim_selector", "s1._domainkey.sendgrid.net"),
        ("vanished_dkim_selector", "s2025._domainkey.example.com"),
    ]
    .into_iter()
    .map(|(c, s)| (c.to_string(), s.to_string()))
    .collect();
    expected.sort();
    assert_eq!(changes(&rows), expected, "{rows:#?}");

    // Google's mail: 7 x 3 reporters x 40 messages in each week; all passed, then 3 in 4.
    assert_eq!(google["messages_before"], 840);
    assert_eq!(google["messages_after"], 840);
    assert_eq!(google["dmarc_pass_rate_before"], 1.0);
    assert_eq!(google["dmarc_pass_rate_after"], 0.75);
    assert_eq!(google["dmarc_pass_rate_change"], -0.25);
    let policy_row = rows
        .iter()
        .find(|r| r["change"] == "policy_changed")
        .unwrap();
    assert_eq!(policy_row["detail"], "shown by Outlook.com, google.com");

    // The same periods named explicitly give the same answer.
    let explicit = scratch.report_json(&[
        "changes",
        "--since",
        "2025-11-08",
        "--until",
        "2025-11-14",
        "--compare-since",
        "2025-11-01",
        "--compare-until",
        "2025-11-07",
    ]);
    assert_eq!(explicit, rows);
    // A shorter comparison period: its own totals.
    let short = scratch.report_json(&[
        "changes",
        "--compare-since",
        "2025-11-01",
        "--compare-until",
        "2025-11-03",
    ]);
    let google_short = short.iter().find(|r| r["change"] == "sender").unwrap();
    assert_eq!(google_short["messages_before"], 360);
    // --limit applies to each kind of change.
    let limited = scratch.report_json(&["changes", "--limit", "1"]);
    let dkim = limited
        .iter()
        .filter(|r| r["change"] == "new_dkim_selector")
        .count();
    assert_eq!(dkim, 1);
    // The comparison flags belong to `report changes` only.
    let output = scratch.run(["report", "sources", "--compare-since", "2025-11-01"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("report changes"));
}

/// A reporter moving from RFC 7489's report format (pct, no np or t) to RFC 9990's (np and t,
/// no pct) between the weeks shows no policy change: the tags one format cannot hold are
/// unknown there, not their defaults.
#[test]
fn a_reporter_moving_to_the_new_report_format_changes_no_policy() {
    let scratch = Scratch::new();
    let files: Vec<_> = (1..=14u64)
        .map(|n| {
            let policy = if n >= 8 {
                "<p>none</p><sp>none</sp><np>reject</np>"
            } else {
                "<p>none</p><sp>none</sp><pct>50</pct>"
            };
            let begin = DAY1 + (n - 1) * DAY;
            let rows = [row("192.0.2.10", 100, true, "example.com", "s1")];
            let xml = dmarc_report("GMX", &format!("gmx-{n}"), begin, policy, &rows);
            scratch.write(&format!("gmx-{n}.xml"), xml.as_bytes())
        })
        .collect();
    assert_success(&scratch.ingest(&files));
    let rows = scratch.report_json(&["changes"]);
    assert!(
        rows.iter().all(|r| r["change"] != "policy_changed"),
        "{rows:#?}"
    );
}

#[test]
fn dkim_keys_with_their_first_and_last_day() {
    let scratch = Scratch::new();
    two_weeks(&scratch);
    let rows = scratch.report_json(&["dkim", "--domain", "example.com"]);
    let key = |selector: &str| {
        rows.iter()
            .find(|r| r["selector"] == selector)
            .unwrap_or_else(|| panic!("{selector} in {rows:#?}"))
            .clone()
    };
    let old = key("s2025");
    assert_eq!(old["signing_domain"], "example.com");
    assert_eq!(old["own_domain"], true);
    assert_eq!(
        (old["first_seen"].as_str(), old["last_seen"].as_str()),
        (Some("2025-11-01"), Some("2025-11-07"))
    );
    // 7 days x 3 reporters x (100 + 40) messages, all passing, from two addresses.
    assert_eq!(old["messages"], 2940);
    assert_eq!(old["pass_rate"], 1.0);
    assert_eq!(old["sources"], 2);
    let new = key("s2026");
    assert_eq!(new["first_seen"], "2025-11-08");
    // 7 x 3 x (100 + 30 + 10), of which the 10 from Google's failing rows did not pass.
    assert_eq!(new["messages"], 2940);
    assert_eq!(new["pass_messages"], 2730);
    let spoof = key("x");
    assert_eq!(spoof["own_domain"], false);
    assert_eq!(spoof["pass_rate"], 0.0);
    // The domain's own keys come first.
    assert_eq!(rows[0]["own_domain"], true);
    assert_eq!(rows.last().unwrap()["own_domain"], false);
}

/// A key of the domain's organisation is its own wherever it sits in it: the organisational
/// domain above the policy domain, or a sibling subdomain, both align under relaxed
/// alignment (RFC 9989 section 4.4.1); a public suffix above it is nobody's own.
#[test]
fn a_key_of_the_domains_organisation_is_its_own() {
    let scratch = Scratch::new();
    let signed = |ip, dkim_domain, selector| Row {
        ip,
        count: 10,
        dkim: "pass",
        spf: "pass",
        from: "news.example.co.uk",
        dkim_domain,
        spf_domain: dkim_domain,
        reason: None,
        selector: Some(selector),
    };
    let rows = [
        signed("192.0.2.1", "em.example.co.uk", "sibling"),
        signed("192.0.2.2", "example.co.uk", "parent"),
        signed("192.0.2.3", "co.uk", "suffix"),
        signed("192.0.2.4", "esp.example", "esp"),
    ];
    let xml = dmarc_report("google.com", "sibling-1", DAY1, "<p>none</p>", &rows).replace(
        "<policy_published><domain>example.com</domain>",
        "<policy_published><domain>news.example.co.uk</domain>",
    );
    // A public suffix's own report (PSD DMARC) covers other organisations' domains: a key
    // below it is theirs, its own name's is its own.
    let psd_rows = [
        signed("192.0.2.5", "agency.co.uk", "psd-other"),
        signed("192.0.2.6", "co.uk", "psd-own"),
    ];
    let psd = dmarc_report("psd.example", "psd-1", DAY1, "<p>none</p>", &psd_rows).replace(
        "<policy_published><domain>example.com</domain>",
        "<policy_published><domain>co.uk</domain>",
    );
    let files = [
        scratch.write("sibling.xml", xml.as_bytes()),
        scratch.write("psd.xml", psd.as_bytes()),
    ];
    assert_success(&scratch.ingest(&files));
    let keys = scratch.report_json(&["dkim"]);
    let own = |selector: &str| {
        keys.iter()
            .find(|r| r["selector"] == selector)
            .unwrap_or_else(|| panic!("{selector} in {keys:#?}"))["own_domain"]
            .clone()
    };
    assert_eq!(
        ["sibling", "parent", "suffix", "esp", "psd-other", "psd-own"].map(own),
        [true, true, false, false, false, true].map(Value::Bool)
    );
}

/// A report whose period ends more than a day after it arrived (a receiver's clock a year
/// ahead, or a forged report) does not move the digest's week: the latest day reported is
/// that of the reports dated as they arrived.
#[test]
fn a_report_dated_ahead_does_not_move_the_week() {
    let scratch = Scratch::new();
    two_weeks(&scratch);
    let before = scratch.report_json(&["changes"]);
    let trend = |scratch: &Scratch| {
        let readiness = scratch.report_json(&["readiness"]);
        [
            "dmarc_pass_rate_last_7_days",
            "dmarc_pass_rate_previous_7_days",
        ]
        .map(|field| readiness[0][field].clone())
    };
    let trend_before = trend(&scratch);
    assert!(
        trend_before.iter().all(Value::is_number),
        "{trend_before:?}"
    );
    let ahead = dmarc_report(
        "clock.example",
        "ahead-1",
        DAY1 + 600 * DAY,
        "<p>none</p>",
        &[row("198.51.100.99", 3, true, "example.com", "s2026")],
    );
    assert_success(&scratch.ingest(&[scratch.write("ahead.xml", ahead.as_bytes())]));
    assert_eq!(scratch.report_json(&["changes"]), before);
    assert_eq!(
        trend(&scratch),
        trend_before,
        "the readiness trend keeps its weeks"
    );
}
