//! `duckmarc alerts` and the sources new to a domain: state kept per domain and per run's
//! scope, an address known for one domain new to another, and a domain first seen in a report
//! held back for its period.

use crate::alerts::{alerts, kinds, row, CONFIG, FIRST_DAY};
use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;

/// A report of Google's for `domain` on the first day, one source.
pub(crate) fn one_source(
    scratch: &Scratch,
    name: &str,
    domain: &str,
    ip: &'static str,
    policy: &str,
) -> std::path::PathBuf {
    one_source_from(scratch, name, domain, ip, policy, FIRST_DAY)
}

/// The same, for the day that begins at `begin`.
pub(crate) fn one_source_from(
    scratch: &Scratch,
    name: &str,
    domain: &str,
    ip: &'static str,
    policy: &str,
    begin: u64,
) -> std::path::PathBuf {
    let rows = [row(ip, 10, false, "spoof.example")];
    report_for(scratch, name, domain, policy, begin, &rows)
}

/// A report of Google's for `domain` on the day that begins at `begin`.
pub(crate) fn report_for(
    scratch: &Scratch,
    name: &str,
    domain: &str,
    policy: &str,
    begin: u64,
    rows: &[Row],
) -> std::path::PathBuf {
    let xml = dmarc_report("google.com", name, begin, policy, rows).replace(
        "<domain>example.com</domain>",
        &format!("<domain>{domain}</domain>"),
    );
    scratch.write(&format!("{name}.xml"), xml.as_bytes())
}

/// State is kept per scope: a run for one domain records nothing of another's, so a new
/// source of the other domain is still raised by that domain's next run.
#[test]
fn runs_for_different_domains_keep_their_own_state() {
    let scratch = Scratch::new();
    let a = one_source(&scratch, "a1", "a.example", "203.0.113.1", "<p>none</p>");
    let b = one_source(&scratch, "b1", "b.example", "203.0.113.2", "<p>none</p>");
    assert_success(&scratch.ingest(&[&a, &b]));
    for domain in ["a.example", "b.example"] {
        let (code, found, says) = alerts(&scratch, &["--domain", domain]);
        assert_eq!((code, found.len()), (Some(0), 0), "baseline: {says}");
    }
    let b2 = one_source(&scratch, "b2", "b.example", "203.0.113.3", "<p>none</p>");
    assert_success(&scratch.ingest(&[&b2]));
    let (code, found, _) = alerts(&scratch, &["--domain", "a.example"]);
    assert_eq!((code, found.len()), (Some(0), 0), "{found:?}");
    let (code, found, _) = alerts(&scratch, &["--domain", "b.example"]);
    assert_eq!(code, Some(4));
    assert_eq!(
        kinds(&found),
        [("new_source".to_string(), "203.0.113.3".to_string())]
    );
}

/// The baseline of two domains, each with its own source, then a report of a.example's
/// source sending as b.example.
fn one_address_for_two_domains(scratch: &Scratch) -> std::path::PathBuf {
    let a = one_source(scratch, "a1", "a.example", "203.0.113.1", "<p>none</p>");
    let b = one_source(scratch, "b1", "b.example", "203.0.113.2", "<p>none</p>");
    assert_success(&scratch.ingest(&[&a, &b]));
    let (code, found, says) = alerts(scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "baseline: {says}");
    one_source(scratch, "b2", "b.example", "203.0.113.1", "<p>none</p>")
}

/// The new source alerts of a run: (domain, subject).
fn new_sources(found: &[Value]) -> Vec<(String, String)> {
    found
        .iter()
        .filter(|a| a["kind"] == "new_source")
        .map(|a| {
            (
                a["domain"].as_str().unwrap_or("").into(),
                a["subject"].as_str().unwrap_or("").into(),
            )
        })
        .collect()
}

/// Sources are known per domain: an address known to send as a.example that starts sending
/// as b.example is news to b.example's owner (a spoofer of b.example may well be someone's
/// legitimate server).
#[test]
fn an_address_known_for_one_domain_is_new_to_another() {
    let scratch = Scratch::new();
    let b2 = one_address_for_two_domains(&scratch);
    assert_success(&scratch.ingest(&[&b2]));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4), "{says}");
    assert_eq!(
        new_sources(&found),
        [("b.example".to_string(), "203.0.113.1".to_string())]
    );
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "raised once: {found:?}");
    // A shared pool's address (an ESP, Google Workspace) known for a.example that sends
    // b.example's own passing mail is no news: only failing mail is raised.
    let pool = [row("203.0.113.2", 10, true, "esp.example.net")];
    let a2 = report_for(&scratch, "a2", "a.example", "<p>none</p>", FIRST_DAY, &pool);
    assert_success(&scratch.ingest(&[&a2]));
    let (code, found, _) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "{found:?}");
}

/// State recorded before sources were kept per domain is upgraded to the domains each
/// address sent as in what the last run judged: nothing it knew is raised again (even an
/// address it had judged for a second domain after first seeing it for another), and what
/// comes afterwards is judged per domain.
#[test]
fn sources_known_before_they_were_kept_per_domain_stay_known() {
    let scratch = Scratch::new();
    let b2 = one_address_for_two_domains(&scratch);
    assert_success(&scratch.ingest(&[&b2]));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!((code, new_sources(&found).len()), (Some(4), 1), "{says}");
    {
        let old = duckdb::Connection::open(scratch.db()).unwrap();
        let rows = old
            .execute(
                "UPDATE alert_seen SET domain = NULL WHERE kind IN ('source', 'sender')",
                [],
            )
            .unwrap();
        assert!(rows >= 3, "the runs recorded their sources: {rows}");
    }
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!((code, found.len()), (Some(0), 0), "nothing new: {says}");
    let a2 = one_source(&scratch, "a2", "a.example", "203.0.113.2", "<p>none</p>");
    let a3 = one_source(&scratch, "a3", "a.example", "203.0.113.1", "<p>none</p>");
    assert_success(&scratch.ingest(&[&a2, &a3]));
    let (code, found, says) = alerts(&scratch, &[]);
    assert_eq!(code, Some(4), "{says}");
    assert_eq!(
        new_sources(&found),
        [("a.example".to_string(), "203.0.113.2".to_string())]
    );
}

/// A domain first seen in a report held back for its period (the reporter's clock ahead) is
/// judged for the first time once the period ends: that is its baseline, not news of new
/// sources (its policy was known from the run that held the report back).
#[test]
fn a_domain_first_seen_in_a_report_held_back_raises_no_new_sources() {
    let scratch = Scratch::new();
    scratch.write("config.toml", CONFIG.as_bytes());
    let run = |now: u64, args: &[&std::ffi::OsStr]| {
        crate::alerts_scenario::at(&scratch, now)
            .args(args)
            .output()
            .unwrap()
    };
    let alerts_at = |now: u64| {
        let output = run(
            now,
            &["alerts".as_ref(), "--format".as_ref(), "json".as_ref()],
        );
        let found: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap_or_default();
        (output.status.code(), found)
    };
    let day = |n: u64| FIRST_DAY + (n - 1) * 86_400;
    let a = one_source_from(
        &scratch,
        "a1",
        "a.example",
        "203.0.113.1",
        "<p>none</p>",
        day(1),
    );
    assert_success(&run(day(2) + 3_600, &["ingest".as_ref(), a.as_os_str()]));
    assert_eq!(alerts_at(day(2) + 3_600), (Some(0), vec![]), "baseline");
    // b.example's first report, of day 4, arrives early on day 2.
    let b = one_source_from(
        &scratch,
        "b1",
        "b.example",
        "203.0.113.2",
        "<p>none</p>",
        day(4),
    );
    assert_success(&run(day(2) + 7_200, &["ingest".as_ref(), b.as_os_str()]));
    assert_eq!(alerts_at(day(2) + 7_200), (Some(0), vec![]), "held back");
    let (code, found) = alerts_at(day(4) + 3_600);
    assert!(new_sources(&found).is_empty(), "{found:?}");
    assert_eq!((code, found.len()), (Some(0), 0), "{found:?}");
    // From then on its new sources are news.
    let b2 = one_source_from(
        &scratch,
        "b2",
        "b.example",
        "203.0.113.3",
        "<p>none</p>",
        day(5),
    );
    assert_success(&run(day(6) + 3_600, &["ingest".as_ref(), b2.as_os_str()]));
    let (_, found) = alerts_at(day(6) + 3_600);
    assert_eq!(
        new_sources(&found),
        [("b.example".to_string(), "203.0.113.3".to_string())]
    );
}
