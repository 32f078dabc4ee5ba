//! `duckmarc alerts` and the published policy: a change raised once, however receivers
//! word the same record, whichever source (DNS or the reports) it comes from, and however
//! they disagree on the day it changes.

use crate::alerts::{alerts, kinds, row, FIRST_DAY};
use crate::common::reports::dmarc_report;
use crate::common::*;
use serde_json::Value;

/// Reporters describe the same DNS record differently (Google writes sp equal to p, Yahoo
/// leaves it out): no change is raised for that, and a real change once.
#[test]
fn a_policy_change_is_raised_once_and_reporters_wording_is_none() {
    let scratch = Scratch::new();
    let report = |name: &str, org: &str, day: u64, policy: &str| {
        let begin = FIRST_DAY + day * 86_400;
        let xml = dmarc_report(
            org,
            name,
            begin,
            policy,
            &[row("192.0.2.10", 10, true, "example.com")],
        );
        scratch.write(&format!("{name}.xml"), xml.as_bytes())
    };
    let first = report("g1", "google.com", 0, "<p>none</p><sp>none</sp>");
    assert_success(&scratch.ingest(&[&first]));
    alerts(&scratch, &[]);
    let yahoo = report("y1", "Yahoo", 1, "<p>none</p>");
    let google = report("g2", "google.com", 2, "<p>none</p><sp>none</sp>");
    assert_success(&scratch.ingest(&[&yahoo]));
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "policy_changed"),
        "{found:?}"
    );
    assert_success(&scratch.ingest(&[&google]));
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "policy_changed"),
        "{found:?}"
    );
    let tightened = [
        report(
            "g3",
            "google.com",
            3,
            "<p>quarantine</p><sp>quarantine</sp>",
        ),
        report("y2", "Yahoo", 3, "<p>quarantine</p>"),
    ];
    assert_success(&scratch.ingest(&tightened));
    let (_, found, _) = alerts(&scratch, &[]);
    let changes: Vec<&Value> = found
        .iter()
        .filter(|a| a["kind"] == "policy_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{found:?}");
    assert!(
        changes[0]["message"].as_str().unwrap().contains("p=none"),
        "{found:?}"
    );
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "policy_changed"),
        "raised once: {found:?}"
    );
}

/// none -> reject -> none -> reject: each change is raised when it is first seen, the
/// second none -> reject too.
#[test]
fn a_policy_changed_back_and_forth_is_raised_each_time() {
    let scratch = Scratch::new();
    let mut raised = Vec::new();
    for (day, p) in ["none", "reject", "none", "reject"].iter().enumerate() {
        let xml = dmarc_report(
            "google.com",
            &format!("p{day}"),
            FIRST_DAY + day as u64 * 86_400,
            &format!("<p>{p}</p>"),
            &[row("192.0.2.10", 10, true, "example.com")],
        );
        let file = scratch.write(&format!("p{day}.xml"), xml.as_bytes());
        assert_success(&scratch.ingest(&[&file]));
        let (_, found, _) = alerts(&scratch, &[]);
        raised.extend(
            found
                .iter()
                .filter(|a| a["kind"] == "policy_changed")
                .map(|a| a["value"].as_str().unwrap()[..6].to_string()),
        );
    }
    assert_eq!(raised, ["p=none", "p=reje", "p=none"]);
}

/// Google reports p=quarantine for the day of a change; Outlook's report of the same day,
/// arriving later, still shows p=none (it cached the old record): no change back, and the
/// next day's reports bring no third alert. One change, one alert.
#[test]
fn receivers_disagreeing_on_the_day_of_a_change_raise_it_once() {
    let scratch = Scratch::new();
    let mut raised = Vec::new();
    let days = [
        (0, vec![("google.com", "none")]),
        (1, vec![("google.com", "quarantine")]),
        (1, vec![("Outlook.com", "none")]),
        (
            2,
            vec![("google.com", "quarantine"), ("Outlook.com", "quarantine")],
        ),
    ];
    for (run, (day, reports)) in days.iter().enumerate() {
        let files: Vec<_> = reports
            .iter()
            .map(|(org, p)| {
                let id = format!("d{run}-{org}");
                let xml = dmarc_report(
                    org,
                    &id,
                    FIRST_DAY + day * 86_400,
                    &format!("<p>{p}</p>"),
                    &[row("192.0.2.10", 10, true, "example.com")],
                );
                scratch.write(&format!("{id}.xml"), xml.as_bytes())
            })
            .collect();
        let files: Vec<&_> = files.iter().collect();
        assert_success(&scratch.ingest(&files));
        let (_, found, _) = alerts(&scratch, &[]);
        raised.extend(
            found
                .iter()
                .filter(|a| a["kind"] == "policy_changed")
                .map(|a| a["value"].as_str().unwrap().to_string()),
        );
    }
    assert_eq!(raised.len(), 1, "{raised:?}");
    assert!(
        raised[0].starts_with("p=none") && raised[0].contains("-> p=quarantine"),
        "{raised:?}"
    );
}

/// The policy in force comes from DNS, then from newer reports while DNS is off, then from
/// DNS again: the same record (`p=reject; sp=reject; pct=100`, which Google reports as
/// p=reject and the defaults) is no change either way.
#[test]
fn the_same_record_from_dns_or_from_reports_is_no_policy_change() {
    use crate::common::dnsmasq::{Dnsmasq, Zone};
    let Some(dns) = Dnsmasq::start(&Zone {
        txt: &[(
            "_dmarc.example.com",
            "v=DMARC1; p=reject; sp=reject; pct=100",
        )],
        local: &["example.com"],
        ..Zone::default()
    }) else {
        return;
    };
    let scratch = Scratch::new();
    let run = |now: u64, args: &[&str]| {
        let output = scratch
            .command()
            .env("DUCKMARC_NOW", now.to_string())
            .args(args)
            .output()
            .unwrap();
        assert!(
            matches!(output.status.code(), Some(0 | 4)),
            "{}",
            stderr(&output)
        );
        output
    };
    let changes = |now: u64| -> Vec<String> {
        let output = run(now, &["alerts", "--format", "json"]);
        let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
        found
            .iter()
            .filter(|a| a["kind"] == "policy_changed")
            .map(|a| a["value"].as_str().unwrap().to_string())
            .collect()
    };
    let report = |id: &str, begin: u64| {
        let xml = dmarc_report(
            "google.com",
            id,
            begin,
            "<p>reject</p><sp>reject</sp>",
            &[row("192.0.2.10", 10, true, "example.com")],
        );
        scratch.write(&format!("{id}.xml"), xml.as_bytes())
    };
    let asked = FIRST_DAY + 86_400 + 3_600;
    let first = report("dns-1", FIRST_DAY);
    run(
        asked,
        &[
            "ingest",
            "--dns-server",
            &dns.address,
            first.to_str().unwrap(),
        ],
    );
    assert_eq!(
        changes(asked),
        Vec::<String>::new(),
        "the first run records"
    );
    let offline = FIRST_DAY + 4 * 86_400;
    let later = report("dns-2", FIRST_DAY + 2 * 86_400);
    run(offline, &["ingest", "--no-dns", later.to_str().unwrap()]);
    assert_eq!(changes(offline), Vec::<String>::new(), "from the reports");
    run(
        offline + 60,
        &["enrich", "--refresh", "--dns-server", &dns.address],
    );
    assert_eq!(
        changes(offline + 60),
        Vec::<String>::new(),
        "from DNS again"
    );
}

/// A reporter moving from RFC 7489's report format (pct, no np or t) to RFC 9990's (np and t,
/// no pct) shows tags the other format could not: the same record, no change. A real change
/// across the formats is still raised, the unknown tags left out of it.
#[test]
fn a_reporter_moving_to_the_new_report_format_changes_no_policy() {
    let scratch = Scratch::new();
    let report = |name: &str, day: u64, policy: &str| {
        let begin = FIRST_DAY + day * 86_400;
        let rows = [row("192.0.2.10", 10, true, "example.com")];
        let xml = dmarc_report("GMX", name, begin, policy, &rows);
        scratch.write(&format!("{name}.xml"), xml.as_bytes())
    };
    let old_format = report("gmx-1", 0, "<p>none</p><sp>none</sp><pct>50</pct>");
    assert_success(&scratch.ingest(&[&old_format]));
    alerts(&scratch, &[]);
    let new_format = report(
        "gmx-2",
        1,
        "<p>none</p><sp>none</sp><np>reject</np><testing>n</testing>",
    );
    assert_success(&scratch.ingest(&[&new_format]));
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "policy_changed"),
        "{found:?}"
    );
    let tightened = report(
        "gmx-3",
        2,
        "<p>none</p><sp>none</sp><pct>50</pct><fo>1</fo>",
    );
    assert_success(&scratch.ingest(&[&tightened]));
    let (_, found, _) = alerts(&scratch, &[]);
    assert!(
        kinds(&found).iter().all(|(k, _)| k != "policy_changed"),
        "back to the old format: {found:?}"
    );
    let rejected = report("gmx-4", 3, "<p>reject</p><sp>none</sp><np>reject</np>");
    assert_success(&scratch.ingest(&[&rejected]));
    let (_, found, _) = alerts(&scratch, &[]);
    let changes: Vec<&Value> = found
        .iter()
        .filter(|a| a["kind"] == "policy_changed")
        .collect();
    assert_eq!(changes.len(), 1, "{found:?}");
    let value = changes[0]["value"].as_str().unwrap();
    assert!(
        value.starts_with("p=none") && value.contains("-> p=reject") && !value.contains('?'),
        "{value}"
    );
}
