//! `duckmarc report ...` through the CLI, on reports written for each property under test.

use crate::common::*;
use serde_json::Value;

/// A record: (ip, count, evaluated dkim, evaluated spf, header_from, DKIM auth result and
/// SPF auth result as "domain=result").
pub(crate) struct Rec<'a>(
    pub(crate) &'a str,
    pub(crate) u64,
    pub(crate) &'a str,
    pub(crate) &'a str,
    pub(crate) &'a str,
    pub(crate) &'a str,
    pub(crate) &'a str,
);

fn auth(kind: &str, spec: &str) -> String {
    let (domain, result) = spec.split_once('=').unwrap();
    format!("<{kind}><domain>{domain}</domain><result>{result}</result></{kind}>")
}

pub(crate) fn report(
    org: &str,
    id: &str,
    domain: &str,
    begin: i64,
    end: i64,
    policy: &str,
    recs: &[Rec],
) -> String {
    let records: String = recs
        .iter()
        .map(|Rec(ip, count, dkim, spf, from, dkim_auth, spf_auth)| {
            format!(
                "<record><row><source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated>\
                 <disposition>none</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated></row>\
                 <identifiers><header_from>{from}</header_from></identifiers><auth_results>{}{}</auth_results></record>",
                auth("dkim", dkim_auth),
                auth("spf", spf_auth)
            )
        })
        .collect();
    format!(
        "<feedback><report_metadata><org_name>{org}</org_name><report_id>{id}</report_id>\
         <date_range><begin>{begin}</begin><end>{end}</end></date_range></report_metadata>\
         <policy_published><domain>{domain}</domain>{policy}<p>none</p></policy_published>{records}</feedback>"
    )
}

pub(crate) const DAY: i64 = 86_400;
pub(crate) const NOV_1: i64 = 1_761_955_200; // 2025-11-01T00:00:00Z

pub(crate) fn sum(rows: &[Value], field: &str) -> u64 {
    rows.iter().map(|r| r[field].as_u64().unwrap_or(0)).sum()
}

/// Two reporters, IPv6 written two ways, a 3-day report, a co.uk domain with strict SPF.
/// 131 messages in all, 114 passing DMARC by the receivers' verdicts.
pub(crate) fn fixture() -> Scratch {
    let scratch = Scratch::new();
    let a = report(
        "Google.com",
        "g1",
        "example.com",
        NOV_1,
        NOV_1 + DAY - 1,
        "",
        &[
            Rec(
                "2001:DB8:0:0:0:0:0:1",
                100,
                "pass",
                "pass",
                "example.com",
                "example.com=pass",
                "example.com=pass",
            ),
            Rec(
                "192.0.2.1",
                1,
                "fail",
                "fail",
                "Example.com",
                "esp.example.net=fail",
                "bounces.example.net=pass",
            ),
            Rec(
                "192.0.2.1",
                1,
                "fail",
                "fail",
                "example.com",
                "esp.example.net=fail",
                "bounces.example.net=pass",
            ),
        ],
    );
    let b = report(
        "Yahoo",
        "y1",
        "example.com",
        NOV_1,
        NOV_1 + 3 * DAY - 1,
        "",
        &[
            Rec(
                "2001:db8::1",
                10,
                "PASS",
                "fail",
                "example.com",
                "example.com=pass",
                "other.example.org=pass",
            ),
            Rec(
                "198.51.100.7",
                7,
                "fail",
                "fail",
                "example.com",
                "esp.example.net=pass",
                "example.net=fail",
            ),
        ],
    );
    let uk = report(
        "Yahoo",
        "y2",
        "example.co.uk",
        NOV_1 + DAY,
        NOV_1 + 2 * DAY - 1,
        "<aspf>s</aspf>",
        &[
            Rec(
                "203.0.113.5",
                5,
                "fail",
                "fail",
                "example.co.uk",
                "other.co.uk=pass",
                "mail.example.co.uk=pass",
            ),
            Rec(
                "203.0.113.6",
                4,
                "fail",
                "pass",
                "example.co.uk",
                "x.example=pass",
                "example.co.uk=pass",
            ),
            Rec(
                "203.0.113.8",
                3,
                "fail",
                "fail",
                "example.co.uk",
                "mail.example.co.uk=pass",
                "x.example=fail",
            ),
        ],
    );
    scratch.write("in/a.xml", a.as_bytes());
    scratch.write("in/b.xml", b.as_bytes());
    scratch.write("in/uk.xml", uk.as_bytes());
    assert_success(&scratch.ingest(&[&scratch.path("in")]));
    scratch
}

#[test]
fn sources_are_weighted_by_count_and_ipv6_is_one_source() {
    let scratch = fixture();
    let rows = scratch.report_json(&["sources"]);
    let first = &rows[0];
    assert_eq!(
        first["source_ip"], "2001:db8::1",
        "two spellings, one source, biggest first"
    );
    assert_eq!(first["messages"], 110);
    assert_eq!(first["dmarc_pass_messages"], 110, "PASS counts as pass");
    assert_eq!(first["dkim_aligned_messages"], 110);
    assert_eq!(first["spf_aligned_messages"], 100);
    assert_eq!(
        first["reporters"],
        serde_json::json!(["Google.com", "Yahoo"])
    );
    let small = rows.iter().find(|r| r["source_ip"] == "192.0.2.1").unwrap();
    assert_eq!(
        small["messages"], 2,
        "two records of one message: weighted by count"
    );
    assert_eq!(
        small["header_from"],
        serde_json::json!(["example.com"]),
        "case-insensitive"
    );
    assert_eq!(
        small["diagnosis"], "spf_other_domain",
        "SPF passes for bounces.example.net"
    );
    assert_eq!(
        first["diagnosis"], "aligned",
        "the bulk of its mail aligns both ways"
    );
    assert_eq!(sum(&rows, "messages"), 131);
    assert_eq!(
        sum(&rows, "messages"),
        scratch.stats()["messages"].as_u64().unwrap()
    );
    assert_eq!(
        sum(&rows, "dmarc_pass_messages"),
        scratch.stats()["dmarc_pass_messages"].as_u64().unwrap()
    );
}

#[test]
fn diagnosis_uses_the_public_suffix_list_and_strict_alignment() {
    let scratch = fixture();
    let rows = scratch.report_json(&["sources", "--domain", "example.co.uk"]);
    assert_eq!(rows.len(), 3);
    let by_ip = |ip: &str| rows.iter().find(|r| r["source_ip"] == ip).unwrap().clone();
    // DKIM passes for other.co.uk: "last two labels" would call it aligned with
    // example.co.uk, the public suffix list does not. SPF passes for mail.example.co.uk,
    // the domain's own subdomain, which aspf=s does not accept.
    assert_eq!(by_ip("203.0.113.5")["diagnosis"], "strict_alignment");
    // Strict SPF with the exact name aligns, and agrees with the receiver.
    let agreeing = by_ip("203.0.113.6");
    assert_eq!(agreeing["diagnosis"], "spf_aligned_dkim_third_party");
    assert_eq!(agreeing["disagreeing_messages"], 0);
    // Relaxed DKIM: mail.example.co.uk aligns with example.co.uk. The receiver said fail;
    // its verdict stays authoritative, and the disagreement is shown.
    let disputed = by_ip("203.0.113.8");
    assert_eq!(disputed["diagnosis"], "forwarded");
    assert_eq!(disputed["dmarc_pass_messages"], 0);
    assert_eq!(disputed["disagreeing_messages"], 3);
    let esp = scratch.report_json(&["sources", "--ip", "198.51.100.0/24"]);
    assert_eq!(esp.len(), 1);
    assert_eq!(esp[0]["diagnosis"], "dkim_third_party");
}

/// One receiver writes an internationalised domain as U-labels, the DKIM signature and
/// another receiver name it as A-labels (RFC 8616): one domain, aligned, found by either
/// name. A name IDNA refuses is kept as written, with a note.
#[test]
fn an_internationalised_domain_is_one_domain_whichever_way_it_is_written() {
    let scratch = Scratch::new();
    let (end, ascii) = (NOV_1 + DAY - 1, "xn--80a1acny.xn--p1ai");
    let unicode = report(
        "Mail.Ru",
        "idn-1",
        "Почта.рф",
        NOV_1,
        end,
        "",
        &[
            Rec(
                "192.0.2.10",
                4,
                "pass",
                "pass",
                "почта.рф",
                "xn--80a1acny.xn--p1ai=pass",
                "mail.почта.рф=pass",
            ),
            Rec(
                "192.0.2.11",
                1,
                "fail",
                "fail",
                "bad name.рф",
                "spoof.example=pass",
                "spoof.example=pass",
            ),
        ],
    );
    let written_ascii = report(
        "Yandex",
        "idn-2",
        ascii,
        NOV_1,
        end,
        "",
        &[Rec(
            "192.0.2.10",
            6,
            "pass",
            "pass",
            ascii,
            "xn--80a1acny.xn--p1ai=pass",
            "mail.xn--80a1acny.xn--p1ai=pass",
        )],
    );
    let files = [
        scratch.write("unicode.xml", unicode.as_bytes()),
        scratch.write("ascii.xml", written_ascii.as_bytes()),
    ];
    assert_success(&scratch.ingest(&files));

    let domains = scratch.report_json(&["domains"]);
    assert_eq!(domains.len(), 1, "{domains:?}");
    assert_eq!(
        (&domains[0]["domain"], sum(&domains, "messages")),
        (&Value::from(ascii), 11)
    );
    let own = scratch.query(
        "SELECT header_from, dkim_aligned, spf_aligned FROM records \
         WHERE source_ip = '192.0.2.10'",
    );
    for record in &own {
        assert_eq!(record["header_from"], ascii, "{own:?}");
        assert_eq!(
            (&record["dkim_aligned"], &record["spf_aligned"]),
            (&Value::from(true), &Value::from(true)),
            "{own:?}"
        );
    }
    assert_eq!(own.len(), 2);
    assert_eq!(
        scratch
            .report_json(&["domains", "--domain", "ПОЧТА.рф"])
            .len(),
        1
    );

    let notes = scratch.query("SELECT notes FROM reports WHERE report_id = 'idn-1'");
    let notes = notes[0]["notes"].as_str().unwrap_or_default();
    assert!(
        notes.contains("header_from \"bad name.рф\" is not a valid internationalised domain name"),
        "{notes}"
    );

    // Stored as written by an older duckmarc: upgraded in place, once, and the same report
    // sent again is known by its key.
    scratch.rewrite(
        "UPDATE reports SET domain = 'Почта.рф', report_key = replace(report_key, '|xn--80a1acny.xn--p1ai|', '|Почта.рф|') WHERE report_id = 'idn-1';
         UPDATE records SET header_from = 'почта.рф' WHERE header_from = 'xn--80a1acny.xn--p1ai';
         DROP TABLE data_upgrades;",
    );
    let domains = scratch.report_json(&["domains"]);
    assert_eq!(domains.len(), 1, "{domains:?}");
    assert_eq!(
        (&domains[0]["domain"], sum(&domains, "messages")),
        (&Value::from(ascii), 11)
    );
    let stored =
        scratch.query("SELECT DISTINCT header_from FROM records WHERE source_ip = '192.0.2.10'");
    assert_eq!(stored.len(), 1, "{stored:?}");
    let again = crate::common::reports::gzip(unicode.as_bytes());
    assert_success(&scratch.ingest(&[scratch.write("again.xml.gz", &again)]));
    assert_eq!(sum(&scratch.report_json(&["domains"]), "messages"), 11);
}

#[test]
fn filters_narrow_every_report() {
    let scratch = fixture();
    let yahoo = scratch.report_json(&["reporters", "--reporter", "YAHOO"]);
    assert_eq!(yahoo.len(), 1);
    assert_eq!(yahoo[0]["messages"], 29);
    assert_eq!(yahoo[0]["reports"], 2);
    assert_eq!(
        yahoo[0]["sources"], 5,
        "2001:db8::1, 198.51.100.7, three in 203.0.113/24"
    );
    let domains = scratch.report_json(&["domains", "--domain", "example.com"]);
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0]["reject_blocks_messages"], 9);
    let late = scratch.report_json(&["sources", "--since", "2025-11-03"]);
    assert_eq!(
        sum(&late, "messages"),
        17,
        "only the 3-day report reaches Nov 3"
    );
    let top = scratch.report_json(&["sources", "--limit", "1"]);
    assert_eq!(top.len(), 1);
    let failures = scratch.report_json(&["failures", "--ip", "198.51.100.7"]);
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["dkim_results"], "esp.example.net=pass");
    assert_eq!(failures[0]["spf_results"], "example.net=fail");
    assert_eq!(failures[0]["diagnosis"], "dkim_third_party");
    let none = scratch.report_json(&["sources", "--domain", "nothing.example"]);
    assert!(none.is_empty());
}

#[test]
fn corpus_totals_agree_across_reports_and_stats() {
    let Some(corpus) = corpus() else { return };
    let scratch = Scratch::new();
    scratch.ingest(&[&corpus]);
    let stats = scratch.stats();
    for report in ["sources", "domains", "reporters", "daily"] {
        let rows = scratch.report_json(&[report]);
        assert_eq!(sum(&rows, "messages"), 8566, "{report}");
        assert_eq!(sum(&rows, "dmarc_pass_messages"), 6255, "{report}");
    }
    assert_eq!(stats["messages"], 8566);
    let failures = scratch.report_json(&["failures"]);
    assert_eq!(sum(&failures, "messages"), 8566 - 6255);
}

#[test]
fn user_queries_see_the_filtered_selection() {
    let scratch = fixture();
    let file = scratch.write(
        "mine.sql",
        b"-- my report\nSELECT sum(count) AS n FROM selected;",
    );
    let output = scratch.run([
        "query".as_ref(),
        file.as_os_str(),
        "--reporter".as_ref(),
        "google.com".as_ref(),
        "--format".as_ref(),
        "csv".as_ref(),
    ]);
    assert_success(&output);
    assert_eq!(stdout(&output), "n\n102\n");
}

/// A report may list its records before its `<policy_published>`: alignment follows the
/// adkim published there, though the records were taken apart into rows as they were read.
#[test]
fn alignment_follows_a_policy_published_after_the_records() {
    let scratch = Scratch::new();
    // DKIM passes for a subdomain of the From domain: aligned when relaxed, not when strict.
    let recs = [Rec(
        "192.0.2.10",
        4,
        "fail",
        "fail",
        "example.com",
        "mail.example.com=pass",
        "example.net=fail",
    )];
    let policy_last = |id: &str, adkim: &str| {
        let xml = report(
            "Example",
            id,
            "example.com",
            NOV_1,
            NOV_1 + DAY - 1,
            &format!("<adkim>{adkim}</adkim>"),
            &recs,
        );
        let start = xml.find("<policy_published>").unwrap();
        let end = xml.find("</policy_published>").unwrap() + "</policy_published>".len();
        let policy = &xml[start..end];
        let moved = xml
            .replace(policy, "")
            .replace("</feedback>", &format!("{policy}</feedback>"));
        assert!(moved.find("<record>").unwrap() < moved.find("<policy_published>").unwrap());
        scratch.write(&format!("{id}.xml"), moved.as_bytes())
    };
    let strict = policy_last("strict", "s");
    let relaxed = policy_last("relaxed", "r");
    assert_success(&scratch.ingest(&[&strict, &relaxed]));
    let rows = scratch.query(
        "SELECT r.adkim, rec.dkim_aligned, rec.diagnosis
         FROM records rec JOIN reports r ON r.id = rec.report ORDER BY r.adkim",
    );
    let got: Vec<(&str, bool, &str)> = rows
        .iter()
        .map(|r| {
            (
                r["adkim"].as_str().unwrap(),
                r["dkim_aligned"].as_bool().unwrap(),
                r["diagnosis"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [("r", true, "forwarded"), ("s", false, "strict_alignment")]
    );
}

/// A record of `<count>0` tells of no mail: its address is no source, no sender and no
/// unauthorised sender. Failing mail From another organisation's domain, filed in this
/// domain's report, is that domain's policy's to judge: not this domain's unauthorised sender.
#[test]
fn a_record_of_no_message_and_mail_from_elsewhere_make_no_sender() {
    let scratch = Scratch::new();
    let failing = |ip, count, from| {
        Rec(
            ip,
            count,
            "fail",
            "fail",
            from,
            "spoof.example=pass",
            "spoof.example=pass",
        )
    };
    let recs = [
        Rec(
            "192.0.2.1",
            10,
            "pass",
            "pass",
            "example.com",
            "example.com=pass",
            "example.com=pass",
        ),
        failing("198.51.100.1", 5, "example.com"),
        failing("203.0.113.99", 0, "example.com"),
        failing("198.51.100.6", 15, "other.org"),
    ];
    let xml = report(
        "Receiver",
        "zero-1",
        "example.com",
        NOV_1,
        NOV_1 + DAY,
        "",
        &recs,
    );
    assert_success(&scratch.ingest(&[scratch.write("zero.xml", xml.as_bytes())]));
    let sources = scratch.report_json(&["sources"]);
    let addresses: Vec<&str> = sources
        .iter()
        .map(|s| s["source_ip"].as_str().unwrap())
        .collect();
    assert!(!addresses.contains(&"203.0.113.99"), "{sources:#?}");
    assert_eq!(addresses.len(), 3, "{sources:#?}");
    let senders = scratch.report_json(&["senders"]);
    assert!(
        senders.iter().all(|s| s["sender"] != "203.0.113.99"),
        "{senders:#?}"
    );
    let readiness = scratch.report_json(&["readiness"]);
    assert_eq!(readiness[0]["unauthorised_senders"], 1, "{readiness:#?}");
    assert_eq!(totals(&scratch.stats())[..2], [1, 4]);
    assert_eq!(scratch.stats()["sources"], 3);
}
