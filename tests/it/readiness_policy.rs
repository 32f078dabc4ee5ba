//! Readiness where an expert's review found the verdict wrong in ordinary cases: the
//! domain's own DKIM key broken with an error rather than a fail, a listed server let
//! through by one receiver's exemption, t=y shown only by the receivers' overrides, a
//! record between the domain and its Organizational Domain, mail that passes on SPF alone,
//! and receivers that disagree on the day's policy.

use crate::common::reports::{dmarc_report, Row};
use crate::common::*;
use serde_json::Value;

const LISTED: &str = r#"
[[authorised]]
domain = "example.com"
networks = ["192.0.2.0/24"]
"#;

const DAY: u64 = 1_793_491_200; // 2026-11-01

/// `report readiness --format json` of the database, with the list above.
fn readiness(scratch: &Scratch) -> Value {
    readiness_listing(scratch, LISTED)
}

/// `report readiness --format json` of the database, with `config` listing the senders.
fn readiness_listing(scratch: &Scratch, config: &str) -> Value {
    let config = scratch.write("config.toml", config.as_bytes());
    let output = scratch
        .command()
        .arg("--config")
        .arg(config)
        .args(["report", "readiness", "--format", "json"])
        .output()
        .unwrap();
    assert_success(&output);
    let rows: Value = serde_json::from_slice(&output.stdout).unwrap();
    rows[0].clone()
}

fn ingest(scratch: &Scratch, name: &str, xml: &str) {
    assert_success(&scratch.ingest(&[scratch.write(name, xml.as_bytes())]));
}

/// An ESP signs a third of the mail with the domain's key, whose selector it deleted
/// (permerror) or whose key server did not answer (temperror), beside its own passing
/// signature: the same evidence as a `fail` (RFC 8601 section 2.7.1), so readiness says the
/// reports cannot tell that sender from a forgery, where it said plain "publish p=reject".
#[test]
fn the_domains_own_key_in_error_beside_an_esps_pass_is_not_called_spoofing() {
    for result in ["permerror", "temperror"] {
        let scratch = Scratch::new();
        let esp = Row {
            ip: "198.51.100.77",
            count: 500,
            dkim: "fail",
            spf: "fail",
            from: "example.com",
            dkim_domain: "marker.invalid",
            spf_domain: "bounces.esp.example",
            reason: None,
            selector: None,
        };
        let xml = dmarc_report(
            "google.com",
            result,
            DAY,
            "<p>none</p>",
            &[Row::own("192.0.2.10", 1000, "pass", "pass"), esp],
        )
        .replace(
            "<dkim><domain>marker.invalid</domain><result>fail</result></dkim>",
            &format!(
                "<dkim><domain>example.com</domain><result>{result}</result></dkim>\
                 <dkim><domain>esp.example</domain><result>pass</result></dkim>"
            ),
        )
        .replace(
            "<domain>bounces.esp.example</domain><result>fail</result>",
            "<domain>bounces.esp.example</domain><result>pass</result>",
        );
        assert!(xml.contains(result), "the report was not rewritten");
        ingest(&scratch, "esp.xml", &xml);
        let judged = readiness(&scratch);
        let next = judged["next_step"].as_str().unwrap();
        assert!(
            next.contains("500 messages carrying your DKIM signature broken")
                && next.contains("a sender of yours whose key for your domain fails"),
            "{result}: {judged}"
        );
    }
}

/// A listed server passes neither SPF nor DKIM; one receiver let its mail through by a
/// local policy (RFC 9990 section 3.1.6: that receiver's choice for those messages). Mail
/// to any other receiver fails DMARC, so p=reject would reject the domain's own mail: not
/// ready, with the server's fix, where it said "publish p=reject".
#[test]
fn a_listed_server_exempted_by_one_receiver_still_stands_in_the_way() {
    let scratch = Scratch::new();
    let exempted = Row {
        reason: Some("local_policy"),
        ..Row::own("192.0.2.20", 50, "fail", "fail")
    };
    let exempted = Row {
        dkim_domain: "nobody.invalid",
        spf_domain: "nobody.invalid",
        ..exempted
    };
    let xml = dmarc_report(
        "outlook.com",
        "exempt",
        DAY,
        "<p>quarantine</p>",
        &[Row::own("192.0.2.10", 1000, "pass", "pass"), exempted],
    );
    ingest(&scratch, "exempt.xml", &xml);
    let judged = readiness(&scratch);
    assert_eq!(judged["verdict"], "not_ready", "{judged}");
    assert_eq!(judged["reject_blocks_authorised"], 50, "{judged}");
    assert!(
        judged["next_step"]
            .as_str()
            .unwrap()
            .starts_with("fix 192.0.2.20"),
        "{judged}"
    );
}

/// A receiver that writes no `<testing>` (RFC 7489's reports have none) but quarantines
/// under p=reject with the reason `policy_test_mode` says t=y is published (RFC 9990
/// section 3.1.6): readiness says so, where it said p=reject was enforced.
#[test]
fn a_policy_test_mode_override_shows_t_y() {
    let scratch = Scratch::new();
    let tested = Row {
        reason: Some("policy_test_mode"),
        ..Row::spoof("203.0.113.5", 10)
    };
    let xml = dmarc_report(
        "mail.example.net",
        "t",
        DAY,
        "<p>reject</p>",
        &[Row::own("192.0.2.10", 100, "pass", "pass"), tested],
    );
    assert!(!xml.contains("<testing>"));
    ingest(&scratch, "t.xml", &xml);
    // The next day nothing failed there, so no reason: no sign of t=n either.
    let quiet = dmarc_report(
        "mail.example.net",
        "t2",
        DAY + 86_400,
        "<p>reject</p>",
        &[Row::own("192.0.2.10", 100, "pass", "pass")],
    );
    ingest(&scratch, "t2.xml", &quiet);
    let judged = readiness(&scratch);
    assert_eq!(judged["testing"], "y", "{judged}");
    assert_ne!(judged["verdict"], "enforced", "{judged}");
    assert!(
        judged["next_step"].as_str().unwrap().contains("remove t=y"),
        "{judged}"
    );
}

/// RFC 9989 section 4.10.2's own example: records at mail.example.com and example.com, none
/// at a.mail.example.com. The Organizational Domain is example.com, whose sp=reject applies
/// (section 4.10.1), not mail.example.com's p=none, which duckmarc took for the nearest.
#[test]
fn the_organizational_domains_record_applies_not_one_in_between() {
    use crate::common::dnsmasq::{Dnsmasq, Zone};
    let Some(dns) = Dnsmasq::start(&Zone {
        txt: &[
            ("_dmarc.example.com", "v=DMARC1; p=reject; sp=reject"),
            ("_dmarc.mail.example.com", "v=DMARC1; p=none"),
        ],
        local: &["example.com"],
        ..Zone::default()
    }) else {
        return;
    };
    let scratch = Scratch::new();
    let xml = dmarc_report(
        "google.com",
        "walk",
        DAY,
        "<p>reject</p>",
        &[Row::own("192.0.2.10", 100, "pass", "pass")],
    )
    .replace("example.com<", "a.mail.example.com<");
    let file = scratch.write("walk.xml", xml.as_bytes());
    let output = scratch
        .command()
        .args(["ingest", "--dns-server", &dns.address])
        .arg(&file)
        .output()
        .unwrap();
    assert_success(&output);
    let judged = readiness(&scratch);
    assert_eq!(judged["domain"], "a.mail.example.com", "{judged}");
    assert_eq!(judged["policy_source"], "dns", "{judged}");
    assert_eq!(
        (&judged["policy"], &judged["policy_found_at"]),
        (&Value::from("reject"), &Value::from("example.com")),
        "{judged}"
    );
    assert_eq!(judged["verdict"], "enforced", "{judged}");
}

/// Two of the domain's servers in one cloud network, named only after it: a monthly sender
/// that failed and went quiet, and one that passes every day. They are two senders, so the
/// failing one is the one to fix, by its address, not a "maybe fixed" network because its
/// neighbour passes (which, followed, made the domain ready).
#[test]
fn servers_named_only_after_their_network_are_senders_of_their_own() {
    let scratch = Scratch::new();
    let config = r#"
[[authorised]]
domain = "example.com"
networks = ["52.1.2.0/24"]
"#;
    let invoices = || Row {
        dkim_domain: "nobody.invalid",
        spf_domain: "nobody.invalid",
        ..Row::own("52.1.2.10", 400, "fail", "fail")
    };
    for day in 0..10u64 {
        let mut rows = vec![Row::own("52.1.2.11", 100, "pass", "pass")];
        if day == 0 {
            rows.push(invoices());
        }
        let id = format!("d{day}");
        let xml = dmarc_report("google.com", &id, DAY + day * 86_400, "<p>none</p>", &rows);
        ingest(&scratch, &format!("{id}.xml"), &xml);
    }
    let named = scratch.query("SELECT DISTINCT sender_type FROM source_names");
    assert_eq!(named.len(), 1, "{named:?}");
    assert_eq!(
        named[0]["sender_type"], "Network",
        "both named after their network"
    );
    let judged = readiness_listing(&scratch, config);
    assert_eq!(
        judged["blocking_senders"],
        serde_json::json!(["52.1.2.10"]),
        "{judged}"
    );
    let next = judged["next_step"].as_str().unwrap();
    assert!(next.starts_with("fix 52.1.2.10: "), "{next}");
    assert!(!next.contains("passing for"), "{next}");
}

/// Under p=reject the receivers' reports say what they did with the failing mail (RFC 9990
/// section 3.1.1.9): the next step says that, where it said all 60 were rejected although
/// the reports show 30 quarantined and 20 delivered.
#[test]
fn enforced_says_what_the_receivers_did() {
    let scratch = Scratch::new();
    let rows = [
        Row::own("192.0.2.10", 100, "pass", "pass"),
        Row::spoof("203.0.113.1", 10),
        Row::spoof("203.0.113.2", 20),
        Row::spoof("203.0.113.3", 30),
    ];
    let disposition = |ip: &str, count: u64, what: &str| {
        (
            format!("<source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated><disposition>none<"),
            format!("<source_ip>{ip}</source_ip><count>{count}</count><policy_evaluated><disposition>{what}<"),
        )
    };
    // Days still at p=none before it, whose failing mail was delivered: not counted.
    let before = dmarc_report(
        "google.com",
        "before",
        DAY - 86_400,
        "<p>none</p>",
        &[Row::spoof("203.0.113.9", 1000)],
    );
    ingest(&scratch, "before.xml", &before);
    let mut xml = dmarc_report("google.com", "enforced", DAY, "<p>reject</p>", &rows);
    for (ip, count, what) in [
        ("203.0.113.1", 10, "reject"),
        ("203.0.113.3", 30, "quarantine"),
    ] {
        let (from, to) = disposition(ip, count, what);
        assert!(xml.contains(&from));
        xml = xml.replace(&from, &to);
    }
    ingest(&scratch, "enforced.xml", &xml);
    let judged = readiness(&scratch);
    assert_eq!(judged["verdict"], "enforced", "{judged}");
    assert_eq!(
        judged["next_step"],
        "none: p=reject is in place; receivers rejected 10 failing messages, quarantined 30 \
         and delivered 20 (their own overrides, or a policy below reject for subdomains)",
        "{judged}"
    );
}

/// An unsigned e-mail (a report not shown to be genuine, RFC 9990 section 8.2) says the
/// domain's own listed server failed 5,000 times, where genuine reports show it passing:
/// it no longer makes the domain not ready with a key to rotate; the next step says what
/// such reports claim.
#[test]
fn a_report_not_shown_genuine_does_not_hold_the_verdict() {
    use crate::common::reports::mail_with_attachment;
    let scratch = Scratch::new();
    let genuine = dmarc_report(
        "google.com",
        "genuine",
        DAY,
        "<p>quarantine</p>",
        &[Row::own("192.0.2.10", 100, "pass", "pass")],
    );
    ingest(&scratch, "genuine.xml", &genuine);
    let forged = dmarc_report(
        "google.com",
        "forged",
        DAY + 86_400,
        "<p>quarantine</p>",
        &[Row::own("192.0.2.10", 5000, "fail", "fail")],
    );
    let mail = mail_with_attachment("Content-Type: text/xml; name=\"r.xml\"", forged.as_bytes());
    // Unsigned, so not genuine without asking DNS; DNS on (at a port nobody answers) for
    // duckmarc to judge it at all.
    let output = scratch
        .command()
        .env_remove("DUCKMARC_NO_DNS")
        .args(["ingest", "--dns-server", "127.0.0.1:9"])
        .arg(scratch.write("forged.eml", &mail))
        .output()
        .unwrap();
    assert_success(&output);
    let genuineness = scratch.query("SELECT authenticity FROM reports WHERE report_id = 'forged'");
    assert_eq!(genuineness[0]["authenticity"], "none");
    let judged = readiness(&scratch);
    assert_eq!(judged["verdict"], "ready", "{judged}");
    assert_eq!(judged["reject_blocks_authorised"], 0, "{judged}");
    assert!(
        judged["next_step"]
            .as_str()
            .unwrap()
            .contains("5000 failing messages of your listed senders are only in reports not shown to be genuine"),
        "{judged}"
    );
}

/// A listed ESP passes DMARC by SPF alone (its DKIM signature is its own domain's): a
/// domain at p=reject "MUST NOT rely solely on SPF" (RFC 9989 section 7.4), since the
/// forwarded copies of that mail fail SPF and carry no aligned signature. Not ready, with
/// the sender to sign, where it said "publish p=quarantine, then p=reject"; at p=reject
/// already, enforced with the same advice.
#[test]
fn mail_that_passes_on_spf_alone_is_not_ready_for_p_reject() {
    for (policy, verdict) in [("none", "not_ready"), ("reject", "enforced")] {
        let scratch = Scratch::new();
        let esp = Row {
            dkim_domain: "esp.example",
            ..Row::own("192.0.2.20", 300, "pass", "pass")
        };
        let xml = dmarc_report(
            "google.com",
            policy,
            DAY,
            &format!("<p>{policy}</p>"),
            &[Row::own("192.0.2.10", 1000, "pass", "pass"), esp],
        );
        ingest(&scratch, "spf-only.xml", &xml);
        let judged = readiness(&scratch);
        assert_eq!(judged["verdict"], verdict, "{judged}");
        assert_eq!(judged["spf_only_messages"], 300, "{judged}");
        assert_eq!(
            judged["spf_only_senders"],
            serde_json::json!(["192.0.2.20"])
        );
        let next = judged["next_step"].as_str().unwrap();
        assert!(
            next.contains("sign the mail of 192.0.2.20 with DKIM for example.com")
                || next.contains("300 messages of 192.0.2.20 pass on SPF alone"),
            "{judged}"
        );
    }

    // Signed with the domain's key, the same mail is ready.
    let scratch = Scratch::new();
    let xml = dmarc_report(
        "google.com",
        "signed",
        DAY,
        "<p>none</p>",
        &[
            Row::own("192.0.2.10", 1000, "pass", "pass"),
            Row::own("192.0.2.20", 300, "pass", "pass"),
        ],
    );
    ingest(&scratch, "signed.xml", &xml);
    let judged = readiness(&scratch);
    assert_eq!(judged["verdict"], "ready", "{judged}");
    assert_eq!(judged["spf_only_messages"], 0, "{judged}");
}

/// Two receivers report the same day, one with the new p=reject, one still caching
/// p=none: which is in force the reports cannot tell, and the order they were stored in
/// decided it (enforced one way, "publish p=quarantine" the other). The less enforcing
/// counts, whatever the order, as for pct and t.
#[test]
fn receivers_disagreeing_on_the_days_policy_do_not_depend_on_the_order_stored() {
    let report = |org: &str, p: &str| {
        dmarc_report(
            org,
            &format!("{org}-{p}"),
            DAY,
            &format!("<p>{p}</p>"),
            &[Row::own("192.0.2.10", 100, "pass", "pass")],
        )
    };
    let reject = report("google.com", "reject");
    let none = report("outlook.com", "none");
    for order in [[&reject, &none], [&none, &reject]] {
        let scratch = Scratch::new();
        ingest(&scratch, "first.xml", order[0]);
        ingest(&scratch, "second.xml", order[1]);
        let judged = readiness(&scratch);
        assert_eq!(judged["policy"], "none", "{judged}");
        assert_eq!(judged["verdict"], "ready", "{judged}");
    }
}
