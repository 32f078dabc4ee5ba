//! `duckmarc check` against a real DNS server (dnsmasq on 127.0.0.1) serving records built
//! for the purpose: SPF trees of several levels, one over 10 lookups, one with void lookups,
//! a loop; DKIM keys of 1024 and 2048 bits and a revoked one; DMARC records with an
//! obsolete tag and external report addresses with and without authorisation; and a server
//! that never answers.

use crate::common::dnsmasq::{Dnsmasq, Silent, Zone};
use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;

const KEY_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC6BKwJt+4T8OeeclwcKYN5osVQ7ISBMh9RPYCF+1A7yOifLXnQMujTVfdynanvUionjgSEA0tujv6vOYSppmQ+A/xJUNuu591txvfRKlgJ4Az5oyep6rT4O9igJdRlE65XZQmKmcP/rALR2kdYF2u9ScVE9dp8/x7/MBBWA3u8cwIDAQAB";
const KEY_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnzzOvnO07N79v2vevLvxdreyK8odF2l+tQ0kkhFh83QHICmQZ0iqPKsyShAFNYk+u1F+1mG3unYidzADfreFJ9w/ZeZ/pk3OWOKhnOhbtTaZdMFRnla/sjwVNf6+aTdEGNrchId5VZxUU6LoPxUiDfLHkhDIG4cRgABAasrklfzjs/W+XFXOV59SrJupKmZbiICiPVAp+FKL1H9QOZec/+QlhYL7lWKJ7mdVlWfr8xZ27lx9B5G9Rj7yhmRrqquTMxqFeraWBK5cAyLKSubT/tcb0ljhuIq90hfQ/+kTzs5fd7tfuNCpFSdKPaJWCJV//7CIvTZ8AE7uxIjSSBSsaQIDAQAB";

const CONFIG: &str = r#"
[[authorised]]
domain = "example.com"
networks = ["192.0.2.0/24", "198.51.100.7", "167.89.115.25"]

[[authorised]]
domain = "example.biz"
networks = ["192.0.2.0/24", "149.72.10.5"]

[dkim_selectors]
"example.net" = ["s1024", "old"]
"#;

/// Domains dnsmasq is the only authority for: any other name in them does not exist.
const LOCAL: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "esp.example",
    "sendgrid.net",
    "example.info",
    "example.biz",
];

fn zone_txt() -> Vec<(String, String)> {
    let key = |k: &str| format!("v=DKIM1; k=rsa; p={k}");
    let mut txt: Vec<(String, String)> = vec![
        // example.com: a tree four levels deep, an external rua without authorisation, pct.
        ("_dmarc.example.com", "v=DMARC1; p=none; pct=50; rua=mailto:d@reports.example.net".into()),
        ("example.com", "v=spf1 ip4:192.0.2.0/24 include:_spf.esp.example -all".into()),
        ("_spf.esp.example", "v=spf1 include:_s1.esp.example ~all".into()),
        ("_s1.esp.example", "v=spf1 ip4:198.51.100.0/24 include:_s2.esp.example ~all".into()),
        ("_s2.esp.example", "v=spf1 ip4:203.0.113.0/28 ~all".into()),
        ("sendgrid.net", "v=spf1 ip4:167.89.0.0/17 -all".into()),
        ("sel1._domainkey.example.com", key(KEY_2048)),
        ("_mta-sts.example.com", "v=STSv1; id=2025".into()),
        // example.org: 11 includes, an authorised external rua, a revoked key, TLS reporting.
        ("_dmarc.example.org", "v=DMARC1; p=reject; rua=mailto:d@reports.example.net".into()),
        ("example.org._report._dmarc.reports.example.net", "v=DMARC1".into()),
        ("srevoked._domainkey.example.org", "v=DKIM1; k=rsa; p=".into()),
        ("_mta-sts.example.org", "v=STSv1; id=1".into()),
        ("_smtp._tls.example.org", "v=TLSRPTv1; rua=mailto:tls@example.org".into()),
        // example.net: no DMARC record, void lookups, a loop, ptr; keys of 1024 and 2048 bits.
        (
            "example.net",
            "v=spf1 a:nx1.example.net a:nx2.example.net a:nx3.example.net include:loop.example.net ptr -all".into(),
        ),
        ("loop.example.net", "v=spf1 include:loop2.example.net -all".into()),
        ("loop2.example.net", "v=spf1 include:loop.example.net -all".into()),
        // Short, and in testing (t=Y is t=y): both are said.
        ("s1024._domainkey.example.net", format!("v=DKIM1; t=Y; k=rsa; p={KEY_1024}")),
        ("s2048._domainkey.example.net", key(KEY_2048)),
        // No p= at all: not a key record, which is not the same as revoked (an empty p=). Tag
        // names are case-sensitive (RFC 6376 section 3.2): its P= is not a p=.
        (
            "nop._domainkey.example.net",
            format!("v=DKIM1; k=rsa; P={KEY_2048}"),
        ),
        // example.info (the review's rules): an rua without mailto:, an SPF typo (ipv4:),
        // SPF terms after -all, a redirect beside all, a key that verifies.
        ("_dmarc.example.info", "v=DMARC1; p=none; rua=dmarc@example.info".into()),
        ("example.info", "v=spf1 ipv4:192.0.2.0/24 -all".into()),
        ("mail.example.info", "v=spf1 ip4:192.0.2.0/24 -all include:a1.example.org redirect=example.org".into()),
        ("good._domainkey.example.info", key(KEY_2048)),
        // A key added beside the one it replaces, at the same name.
        ("twice._domainkey.example.info", key(KEY_2048)),
        ("twice._domainkey.example.info", "v=DKIM1; k=rsa; p=".into()),
        // External report destinations that send the reports on (check_rules.rs).
        ("_dmarc.over.example.biz", "v=DMARC1; p=none; rua=mailto:r@reports.example.net".into()),
        ("over.example.biz._report._dmarc.reports.example.net", "v=DMARC1; rua=mailto:x@elsewhere.example.org".into()),
        ("_dmarc.moved.example.biz", "v=DMARC1; p=none; rua=mailto:r@reports.example.net".into()),
        ("moved.example.biz._report._dmarc.reports.example.net", "v=DMARC1; rua=mailto:inbox@reports.example.net".into()),
        // Key records whose p= holds no key of their type (check_rules.rs).
        ("garb._domainkey.example.info", key("AAAAAAAA")),
        ("edbad._domainkey.example.info", format!("v=DKIM1; k=ed25519; p={KEY_2048}")),
        // example.biz (the second review's rules): a tag twice, an address refused before
        // its network authorises it, SendGrid's include that does not cover a dedicated
        // address, /0, an address out of range, a key limited to sha1, an MTA-STS id that
        // is not letters and digits.
        ("_dmarc.example.biz", "v=DMARC1; p=reject; sp=reject; p=none".into()),
        ("example.biz", "v=spf1 -ip4:192.0.2.5 ip4:192.0.2.0/24 include:sendgrid.net -all".into()),
        ("zero.example.biz", "v=spf1 ip4:0.0.0.0/0 -all".into()),
        ("bad.example.biz", "v=spf1 ip4:192.0.2.300 -all".into()),
        ("old._domainkey.example.biz", format!("v=DKIM1; h=sha1; k=rsa; p={KEY_2048}")),
        ("tls._domainkey.example.biz", format!("v=DKIM1; k=rsa; s=tlsrpt; p={KEY_2048}")),
        ("caps._domainkey.example.biz", format!("v=DKIM1; k=rsa; s=Email; p={KEY_2048}")),
        ("_mta-sts.example.biz", "v=STSv1; id=2024-01-01".into()),
        // A refusing term reached through redirect=: the fix names the record it is in.
        ("redir.example.biz", "v=spf1 redirect=_r.example.biz".into()),
        ("_r.example.biz", "v=spf1 -ip4:192.0.2.83 ip4:192.0.2.0/24 -all".into()),
        // exists with the address as a macro (RFC 7208 section 7.3): expanded, then asked.
        ("macro.example.biz", "v=spf1 exists:%{i}._spf.example.biz -all".into()),
        // Two DMARC records at a name: discarded, and the walk goes on above them.
        ("_dmarc.walk.example.biz", "v=DMARC1; p=reject; sp=none; psd=n".into()),
        ("_dmarc.psd.example.biz", "v=DMARC1; p=reject; psd=y".into()),
        ("_dmarc.vlast.example.biz", "p=reject; v=DMARC1".into()),
        ("_dmarc.vdup.example.biz", "v=DMARC1; p=none".into()),
        ("_dmarc.vdup.example.biz", "v=DMARC1 p=reject".into()),
        ("_dmarc.two.example.biz", "v=DMARC1; p=none".into()),
        ("_dmarc.two.example.biz", "v=DMARC1; p=quarantine".into()),
        // ptr decides nothing here: an address in the range passes whatever it says. A
        // literal exists is a DNS question. A TXT record that is not SPF is no void lookup.
        ("ptr.example.biz", "v=spf1 ptr ip4:192.0.2.0/24 -all".into()),
        ("exists.example.biz", "v=spf1 exists:a.example.biz -all".into()),
        ("notspf.example.biz", "v=spf1 include:text.example.biz -all".into()),
        ("text.example.biz", "google-site-verification=abc".into()),
        // An include that cannot be decided may hide a permerror (ptr, then an include of a
        // name without SPF): what comes after it decides nothing.
        ("incl.example.biz", "v=spf1 include:in6.example.biz ip4:192.0.2.0/24 -all".into()),
        ("in6.example.biz", "v=spf1 ptr include:nospf.example.biz -all".into()),
        // +all reached through an include, ?all through a redirect (RFC 7208 sections 5.2
        // and 6.1); void lookups of a literal exists and of an a whose name has no A record.
        ("open.example.biz", "v=spf1 include:all.example.biz -all".into()),
        ("all.example.biz", "v=spf1 +all".into()),
        ("nr.example.biz", "v=spf1 redirect=nr2.example.biz".into()),
        ("nr2.example.biz", "v=spf1 ip4:203.0.113.0/24 ?all".into()),
        ("nr3.example.biz", "v=spf1 redirect=nr4.example.biz".into()),
        ("nr4.example.biz", "v=spf1 ip4:203.0.113.0/24".into()),
        ("neg.example.biz", "v=spf1 -include:all.example.biz ip4:192.0.2.0/24 -all".into()),
        ("twice.example.biz", "v=spf1 include:open.example.biz include:all.example.biz -all".into()),
        ("voids.example.biz", "v=spf1 exists:nx1.example.biz exists:nx2.example.biz a:v6.example.biz ip4:192.0.2.0/24 -all".into()),
    ]
    .into_iter()
    .map(|(n, t)| (n.to_string(), t))
    .collect();
    // Eleven includes, then an mx whose name has eleven MX records.
    let includes: String = (1..=11)
        .map(|i| format!(" include:a{i}.example.org"))
        .collect();
    txt.push((
        "example.org".into(),
        format!("v=spf1{includes} mx:many.example.org -all"),
    ));
    for i in 1..=11 {
        txt.push((
            format!("a{i}.example.org"),
            format!("v=spf1 ip4:10.0.{i}.0/24 ~all"),
        ));
    }
    txt
}

/// many.example.org: eleven MX records, one more than an mx may look at.
fn zone_mx() -> Vec<(String, String)> {
    (1..=11)
        .map(|i| ("many.example.org".to_string(), format!("mx{i}.example.org")))
        .collect()
}

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
