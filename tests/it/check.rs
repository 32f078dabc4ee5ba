//! `duckmarc check` against a real DNS server (dnsmasq on 127.0.0.1) serving records built
//! for the purpose: SPF trees of several levels, one over 10 lookups, one with void lookups,
//! a loop; DKIM keys of 1024 and 2048 bits and a revoked one; DMARC records with an
//! obsolete tag and external report addresses with and without authorisation; and a server
//! that never answers.

use crate::common::dnsmasq::{Dnsmasq, Silent, Zone};
use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;

use crate::check_zone::{zone_mx, zone_txt, CONFIG, LOCAL};

pub(crate) fn row(
    ip: &'static str,
    count: u64,
    dkim: (&'static str, &'static str, &'static str),
    spf: (&'static str, &'static str),
    from: &'static str,
) -> Row<'static> {
    Row {
        ip,
        count,
        dkim: dkim.0,
        spf: spf.0,
        from,
        dkim_domain: dkim.1,
        spf_domain: spf.1,
        reason: None,
        selector: Some(dkim.2),
    }
}

/// A day of reports for the three domains, ending yesterday (the default period is the
/// last 30 days).
fn ingest(scratch: &Scratch) {
    let com = [
        row(
            "192.0.2.10",
            500,
            ("pass", "example.com", "sel1"),
            ("pass", "example.com"),
            "example.com",
        ),
        row(
            "198.51.100.7",
            100,
            ("fail", "esp.example", "e1"),
            ("pass", "example.com"),
            "example.com",
        ),
        row(
            "167.89.115.25",
            50,
            ("fail", "sendgrid.net", "s1"),
            ("fail", "example.com"),
            "example.com",
        ),
        row(
            "203.0.113.200",
            30,
            ("fail", "spoof.example", "x"),
            ("fail", "example.com"),
            "example.com",
        ),
    ];
    let org = [
        row(
            "192.0.2.20",
            40,
            ("fail", "example.org", "srevoked"),
            ("pass", "example.org"),
            "example.org",
        ),
        // Authorised by the second include, and by the eleventh: past the limit.
        row(
            "10.0.2.5",
            20,
            ("pass", "example.org", "srevoked"),
            ("pass", "example.org"),
            "example.org",
        ),
        row(
            "10.0.11.5",
            20,
            ("pass", "example.org", "srevoked"),
            ("pass", "example.org"),
            "example.org",
        ),
    ];
    let net = [
        row(
            "192.0.2.30",
            60,
            ("pass", "example.net", "s1024"),
            ("fail", "example.net"),
            "example.net",
        ),
        row(
            "192.0.2.31",
            60,
            ("pass", "example.net", "s2048"),
            ("fail", "example.net"),
            "example.net",
        ),
        row(
            "192.0.2.31",
            5,
            ("fail", "example.net", "nop"),
            ("fail", "example.net"),
            "example.net",
        ),
    ];
    let mut files = Vec::new();
    for (domain, rows) in [
        ("example.com", &com[..]),
        ("example.org", &org[..]),
        ("example.net", &net[..]),
    ] {
        let xml = google_report_of(domain, &format!("check-{domain}"), rows);
        files.push(scratch.write(&format!("{domain}.xml"), xml.as_bytes()));
    }
    assert_success(&scratch.ingest(&files));
}

/// Google's report of yesterday about `domain` (p=none), with `rows`.
pub(crate) fn google_report_of(domain: &str, id: &str, rows: &[Row]) -> String {
    dmarc_report("google.com", id, yesterday(), "<p>none</p>", rows).replace(
        "<domain>example.com</domain><p>",
        &format!("<domain>{domain}</domain><p>"),
    )
}

/// dnsmasq serving the zone, and a database holding the day of reports with the config;
/// None (after a notice, or a failure in CI) without dnsmasq.
pub(crate) fn dns_and_reports() -> Option<(Dnsmasq, Scratch)> {
    let txt = zone_txt();
    let txt: Vec<(&str, &str)> = txt.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let mx = zone_mx();
    let mx: Vec<(&str, &str)> = mx.iter().map(|(n, e)| (n.as_str(), e.as_str())).collect();
    let Some(dns) = Dnsmasq::start(&Zone {
        txt: &txt,
        mx: &mx,
        hosts: &[
            ("a.example.biz", "192.0.2.200"),
            ("192.0.2.84._spf.example.biz", "127.0.0.2"),
            ("v6.example.biz", "2001:db8::25"),
        ],
        local: LOCAL,
        ..Zone::default()
    }) else {
        skip_or_fail("dnsmasq is not installed");
        return None;
    };
    let scratch = Scratch::new();
    scratch.write("config.toml", CONFIG.as_bytes());
    ingest(&scratch);
    Some((dns, scratch))
}

/// The start of yesterday (UTC), epoch seconds: the default period is the last 30 days.
pub(crate) fn yesterday() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    now - now % 86_400 - 86_400
}

pub(crate) fn check(
    scratch: &Scratch,
    server: &str,
    extra: &[&str],
) -> (Option<i32>, Vec<Value>, String) {
    let output = scratch
        .command()
        .arg("--config")
        .arg(scratch.path("config.toml"))
        .args(["check", "--format", "json", "--dns-server", server])
        .args(extra)
        .output()
        .unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|_| panic!("JSON from check: {}", stderr(&output)));
    (output.status.code(), rows, stderr(&output))
}

/// The findings of `domain` with `code`.
pub(crate) fn find<'a>(rows: &'a [Value], domain: &str, code: &str) -> Vec<&'a Value> {
    rows.iter()
        .filter(|r| r["domain"] == domain && r["code"] == code)
        .collect()
}

pub(crate) fn one<'a>(rows: &'a [Value], domain: &str, code: &str, severity: &str) -> &'a Value {
    let found = find(rows, domain, code);
    assert_eq!(found.len(), 1, "one {code} for {domain} in {rows:#?}");
    assert_eq!(found[0]["severity"], severity, "{:#?}", found[0]);
    found[0]
}

#[test]
fn records_held_against_the_traffic() {
    let Some((dns, scratch)) = dns_and_reports() else {
        return;
    };
    let (code, rows, says) = check(&scratch, &dns.address, &[]);
    assert_eq!(code, Some(5), "errors exit 5: {says}");

    // DMARC (RFC 9989): an obsolete tag, an external rua with and without authorisation, none.
    let pct = one(&rows, "example.com", "dmarc_obsolete_tag", "warning");
    assert_eq!(pct["fix"], "remove pct=50");
    one(
        &rows,
        "example.com",
        "dmarc_destination_unauthorised",
        "error",
    );
    one(&rows, "example.org", "dmarc_destination_authorised", "info");
    one(&rows, "example.net", "dmarc_missing", "error");

    // SPF (RFC 7208): the chain that authorises each of the domain's own sources ...
    let chains: Vec<&str> = find(&rows, "example.com", "spf_authorises")
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(
        chains
            .iter()
            .any(|m| m.starts_with("192.0.2.10") && m.ends_with("by ip4:192.0.2.0/24")),
        "{chains:?}"
    );
    assert!(
        chains.iter().any(|m| m.starts_with("198.51.100.7")
            && m.ends_with(
                "by include:_spf.esp.example > include:_s1.esp.example > ip4:198.51.100.0/24"
            )),
        "{chains:?}"
    );
    // ... the provider include its failing sender needs, with the count after adding it ...
    let missing = one(&rows, "example.com", "spf_include_missing", "warning");
    assert_eq!(
        missing["fix"],
        "add include:sendgrid.net to the SPF record of example.com (4 lookups after the change)"
    );
    let lookups = one(&rows, "example.com", "spf_lookups", "info");
    assert!(
        lookups["message"]
            .as_str()
            .unwrap()
            .contains("3 DNS lookups"),
        "{lookups}"
    );
    // ... the spoofer as one line, not as a problem of the record.
    let others = one(&rows, "example.com", "spf_unauthorised_sources", "info");
    assert!(others["message"]
        .as_str()
        .unwrap()
        .starts_with("1 other sources (30 messages)"));
    // The limits: 11 lookups, 3 void ones, a loop, ptr.
    let over = one(&rows, "example.org", "spf_too_many_lookups", "error");
    assert!(
        over["message"]
            .as_str()
            .unwrap()
            .contains("the 11th is at example.org > include:a11.example.org"),
        "{over}"
    );
    let void = one(&rows, "example.net", "spf_void_lookups", "error");
    assert!(
        void["message"]
            .as_str()
            .unwrap()
            .starts_with("3 void lookups"),
        "{void}"
    );
    one(&rows, "example.net", "spf_loop", "error");
    one(&rows, "example.net", "spf_ptr", "warning");
    let mx = one(&rows, "example.org", "spf_mx_too_many", "error");
    assert!(
        mx["message"]
            .as_str()
            .unwrap()
            .starts_with("example.org > mx:many.example.org names 11 MX records"),
        "{mx}"
    );

    // Evaluated as receivers do (RFC 7208 section 4.6.4): a match before the limit counts,
    // one past the 10th lookup or the 2nd void lookup is a permerror, whatever it matches.
    let org = |ip: &str, code: &str| -> Vec<String> {
        find(&rows, "example.org", code)
            .iter()
            .filter(|r| r["message"].as_str().unwrap().starts_with(ip))
            .map(|r| r["message"].as_str().unwrap().to_string())
            .collect()
    };
    let second = org("10.0.2.5", "spf_authorises");
    assert!(
        second.len() == 1 && second[0].ends_with("by include:a2.example.org > ip4:10.0.2.0/24"),
        "{second:?}"
    );
    assert!(org("10.0.11.5", "spf_authorises").is_empty());
    // The domain's own mail (aligned DKIM passing) failing SPF for the record's sake is a
    // warning; a source whose signature failed, information.
    let permerrors: Vec<(&str, &str)> = find(&rows, "example.org", "spf_permerror")
        .iter()
        .map(|f| {
            (
                f["subject"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        permerrors,
        [("10.0.11.5", "warning"), ("192.0.2.20", "info")]
    );
    let eleventh = org("10.0.11.5", "spf_permerror");
    assert!(
        eleventh.len() == 1
            && eleventh[0].contains("include:a11.example.org would be DNS lookup 11 of at most 10"),
        "{eleventh:?}"
    );
    let voids: Vec<&str> = find(&rows, "example.net", "spf_permerror")
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(
        voids.len() == 2
            && voids
                .iter()
                .all(|m| m.contains("a:nx3.example.net is void lookup 3 of at most 2")),
        "{voids:?}"
    );

    // DKIM (RFC 6376, RFC 8301): key sizes, a revoked key still signing, a listed selector.
    let short = one(&rows, "example.net", "dkim_key_short", "warning");
    assert_eq!(short["subject"], "s1024._domainkey.example.net");
    let testing = one(&rows, "example.net", "dkim_testing", "warning");
    assert_eq!(testing["subject"], "s1024._domainkey.example.net");
    let good: Vec<_> = find(&rows, "example.net", "dkim_key_ok");
    assert!(
        good.iter()
            .any(|r| r["message"].as_str().unwrap().contains("rsa 2048 bits")),
        "{good:?}"
    );
    one(&rows, "example.org", "dkim_key_revoked", "error");
    let no_p = one(&rows, "example.net", "dkim_key_invalid", "error");
    assert_eq!(no_p["subject"], "nop._domainkey.example.net", "{no_p}");
    assert!(find(&rows, "example.net", "dkim_key_revoked").is_empty());
    let listed = one(&rows, "example.net", "dkim_listed_not_published", "error");
    assert_eq!(listed["subject"], "old._domainkey.example.net");
    // SMTP TLS: MTA-STS without TLS reporting, and both.
    one(&rows, "example.com", "tlsrpt_missing", "warning");
    one(&rows, "example.org", "tlsrpt_found", "info");
    assert!(rows.iter().all(|r| r["severity"] != "unknown"), "{rows:#?}");

    // Readiness names the DNS change for the sender p=reject would block.
    let output = scratch
        .command()
        .arg("--config")
        .arg(scratch.path("config.toml"))
        .args([
            "report",
            "readiness",
            "--domain",
            "example.com",
            "--format",
            "json",
        ])
        .output()
        .unwrap();
    let readiness: Vec<Value> = serde_json::from_slice(&output.stdout).unwrap();
    let next = readiness[0]["next_step"].as_str().unwrap();
    assert!(
        next.contains("add include:sendgrid.net to the SPF record of example.com"),
        "{next}"
    );
    assert_eq!(readiness[0]["dns_errors"], 1);

    // The page counts each domain's DNS errors and links them to the findings.
    let page = scratch.path("page.html");
    assert_success(&scratch.run(["html", "-o", page.to_str().unwrap()]));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("data-table=\"dns-findings\""));
    assert!(html.contains("<td data-col=\"dns_errors\" data-label=\"DNS errors\" class=\"n\"><a href=\"#dns-findings\">5</a></td>"), "example.net: 5 errors (no DMARC record, void lookups, a loop, a listed selector unpublished, a key without p=)");
    assert!(html.contains("no DMARC record at _dmarc.example.net"));

    // The answers are cached with their TTL: with the server gone, the same findings.
    drop(dns);
    let silent = Silent::start();
    let (_, cached, says) = check(&scratch, &silent.address, &[]);
    assert_eq!(cached, rows, "{says}");
}

#[test]
fn a_server_that_never_answers_gives_unknown_never_an_error() {
    let scratch = Scratch::new();
    scratch.write("config.toml", CONFIG.as_bytes());
    ingest(&scratch);
    let silent = Silent::start();
    let started = std::time::Instant::now();
    let (code, rows, says) = check(&scratch, &silent.address, &["--dns-budget", "6"]);
    assert_eq!(code, Some(0), "{says}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(says.contains("warning: DNS"), "one warning: {says}");
    assert_eq!(says.matches("warning").count(), 1, "{says}");
    assert!(!rows.is_empty());
    assert!(
        rows.iter()
            .all(|r| r["severity"] == "unknown" || r["severity"] == "info"),
        "{rows:#?}"
    );
    assert!(!find(&rows, "example.com", "dns_unanswered").is_empty());
}

/// A domain whose only reports are SMTP TLS reports is checked when no domain is named:
/// their rua= often goes to another mailbox than DMARC's (RFC 8460 section 3), and a cron
/// job running a bare `check` said nothing of it.
#[test]
fn a_domain_with_only_tls_reports_is_checked() {
    let zone = Zone {
        txt: &[(
            "_smtp._tls.example.info",
            "v=TLSRPTv1 rua=mailto:tls@example.info",
        )],
        local: LOCAL,
        ..Zone::default()
    };
    let report = r#"{"organization-name":"Google Inc.","date-range":{"start-datetime":"2026-11-02T00:00:00Z","end-datetime":"2026-11-02T23:59:59Z"},"contact-info":"smtp-tls-reporting@google.com","report-id":"tls-only-1","policies":[{"policy":{"policy-type":"no-policy-found","policy-domain":"example.info"},"summary":{"total-successful-session-count":40,"total-failure-session-count":0}}]}"#;
    let Some((dns, scratch)) = dns_and_tls_report(&zone, report) else {
        return;
    };
    let (code, rows, says) = check(&scratch, &dns.address, &["--since", "2026-11-01"]);
    assert_eq!(
        code,
        Some(5),
        "the TLS reporting record is an error: {says}"
    );
    one(&rows, "example.info", "tlsrpt_invalid", "error");
}

/// DNS answering from `zone` and a database holding one SMTP TLS report alone, with an empty
/// configuration (None, said by skip_or_fail, where dnsmasq is missing).
pub(crate) fn dns_and_tls_report(zone: &Zone, report: &str) -> Option<(Dnsmasq, Scratch)> {
    let Some(dns) = Dnsmasq::start(zone) else {
        skip_or_fail("dnsmasq is not installed");
        return None;
    };
    let scratch = Scratch::new();
    scratch.write("config.toml", b"");
    assert_success(&scratch.ingest(&[scratch.write("tls.json", report.as_bytes())]));
    Some((dns, scratch))
}
