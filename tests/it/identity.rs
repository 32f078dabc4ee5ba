//! Identity a spoofer cannot borrow: sources named from evidence about the address (a
//! confirmed PTR, an SPF pass in an authentic report, the network), never from a DKIM
//! domain a report claims; shared senders authorise only the customer's own mail; reports
//! shown not to be genuine (report_authenticity.rs) vouch for nothing.

use super::report_authenticity::{
    ingest_with_dns, passing_record, report_mail_of, report_mail_with, Signer,
};
use crate::common::dnsmasq::{Dnsmasq, Zone};
use crate::common::*;
use serde_json::Value;

const DAY: u64 = 1_793_491_200;

/// One record of a report, every value written out (the receiver's verdicts and the auth
/// results need not agree: a forger writes what it likes).
pub(crate) struct Rec<'a> {
    pub(crate) ip: &'a str,
    pub(crate) count: u32,
    pub(crate) verdict: &'a str,
    pub(crate) from: &'a str,
    pub(crate) envelope_from: &'a str,
    pub(crate) dkim: (&'a str, &'a str),
    pub(crate) spf: (&'a str, &'a str),
}

pub(crate) fn report(org: &str, id: &str, records: &[Rec]) -> String {
    let records: String = records
        .iter()
        .map(|r| {
            format!(
                "<record><row><source_ip>{}</source_ip><count>{}</count><policy_evaluated>\
                 <disposition>none</disposition><dkim>{v}</dkim><spf>{v}</spf></policy_evaluated>\
                 </row><identifiers><envelope_from>{}</envelope_from><header_from>{}</header_from>\
                 </identifiers><auth_results><dkim><domain>{}</domain><result>{}</result></dkim>\
                 <spf><domain>{}</domain><result>{}</result></spf></auth_results></record>",
                r.ip,
                r.count,
                r.envelope_from,
                r.from,
                r.dkim.0,
                r.dkim.1,
                r.spf.0,
                r.spf.1,
                v = r.verdict,
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>{org}</org_name>\
         <email>dmarc@{org}</email><report_id>{id}</report_id><date_range><begin>{DAY}</begin>\
         <end>{}</end></date_range></report_metadata><policy_published><domain>example.com\
         </domain><p>none</p></policy_published>{records}</feedback>",
        DAY + 86_399
    )
}

pub(crate) fn row<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
    rows.iter()
        .find(|r| r[key] == value)
        .unwrap_or_else(|| panic!("no row with {key} = {value}: {rows:?}"))
}

fn config(scratch: &Scratch, text: &str) -> String {
    scratch
        .write("config.toml", text.as_bytes())
        .display()
        .to_string()
}

/// Google reports 100 spoofed messages from 203.0.113.66; a one-message report from nobody
/// claims the address passed `d=google.com` and SPF for google.com.
#[test]
fn a_forged_report_renames_nobody_and_authorises_nothing() {
    let scratch = Scratch::new();
    let spoofed = Rec {
        ip: "203.0.113.66",
        count: 100,
        verdict: "fail",
        from: "example.com",
        envelope_from: "spoof.example",
        dkim: ("spoof.example", "fail"),
        spf: ("spoof.example", "fail"),
    };
    let claimed = Rec {
        count: 1,
        dkim: ("google.com", "pass"),
        spf: ("google.com", "pass"),
        envelope_from: "google.com",
        ..spoofed
    };
    let google = scratch.write(
        "google.xml",
        report("google.com", "g-1", &[spoofed]).as_bytes(),
    );
    let forged = scratch.write(
        "forged.xml",
        report("evil.example", "f-1", &[claimed]).as_bytes(),
    );
    let config = config(
        &scratch,
        "[[authorised]]\ndomain = \"example.com\"\n\
         senders = [\"Google (Including Gmail and Google Workspace)\"]\n",
    );
    let output = scratch
        .command()
        .args(["--config", &config, "ingest"])
        .args([&google, &forged])
        .output()
        .unwrap();
    assert_success(&output);

    let sources = scratch.report_json(&["sources"]);
    let source = row(&sources, "source_ip", "203.0.113.66");
    assert_eq!(source["sender"], "unknown", "{source}");
    assert_eq!(source["named_by"], Value::Null);
    assert_eq!(source["signed_by"], serde_json::json!(["google.com"]));
    let classes = scratch.run(["--config", &config, "report", "senders", "--format", "json"]);
    assert_success(&classes);
    let senders: Vec<Value> = serde_json::from_slice(&classes.stdout).unwrap();
    let spoofer = row(&senders, "sender", "203.0.113.66");
    assert_eq!(spoofer["class"], "unauthorised");
    assert!(
        senders.iter().all(|s| s["class"] != "authorised_failing"),
        "{senders:?}"
    );
    // Both reports are bare files: nothing about them is verified.
    let reporters = scratch.report_json(&["reporters"]);
    assert_eq!(
        row(&reporters, "reporter", "evil.example")["authenticity"],
        "file"
    );
}

/// An address whose confirmed PTR is `mail.attacker.example` replays mail signed by
/// SendGrid: it is the attacker's, and the signature is shown for what it is.
#[test]
fn a_replayed_signature_does_not_name_the_address_that_replays_it() {
    let Some(dns) = Dnsmasq::with_hosts(&[("mail.attacker.example", "203.0.113.67")]) else {
        return;
    };
    let scratch = Scratch::new();
    let replayed = Rec {
        ip: "203.0.113.67",
        count: 40,
        verdict: "fail",
        from: "example.com",
        envelope_from: "attacker.example",
        dkim: ("sendgrid.net", "pass"),
        spf: ("attacker.example", "pass"),
    };
    let input = scratch.write("g.xml", report("google.com", "g-2", &[replayed]).as_bytes());
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &[&input]));
    let sources = scratch.report_json(&["sources"]);
    let source = row(&sources, "source_ip", "203.0.113.67");
    assert_eq!(source["sender"], "attacker.example");
    assert_eq!(source["named_by"], "ptr");
    assert_eq!(source["signed_by"], serde_json::json!(["sendgrid.net"]));
}

/// The user lists SendGrid; another SendGrid customer spoofs the domain from the same
/// address. Only the mail with the customer's own identifier is theirs.
#[test]
fn a_listed_shared_sender_authorises_only_mail_with_the_customers_identifier() {
    let Some(dns) = Dnsmasq::with_hosts(&[("o1.ptr1234.sendgrid.net", "167.89.115.25")]) else {
        return;
    };
    let scratch = Scratch::new();
    let ours = Rec {
        ip: "167.89.115.25",
        count: 30,
        verdict: "pass",
        from: "example.com",
        envelope_from: "em123.example.com",
        dkim: ("example.com", "pass"),
        spf: ("em123.example.com", "pass"),
    };
    let theirs = Rec {
        count: 12,
        verdict: "fail",
        envelope_from: "sendgrid.net",
        dkim: ("sendgrid.net", "pass"),
        spf: ("sendgrid.net", "pass"),
        ..ours
    };
    // A return path in our domain that SPF did not pass is no identifier: anyone on
    // SendGrid can write it.
    let unproven = Rec {
        count: 5,
        verdict: "fail",
        dkim: ("sendgrid.net", "pass"),
        spf: ("em123.example.com", "fail"),
        ..ours
    };
    let input = scratch.write(
        "g.xml",
        report("google.com", "g-3", &[ours, theirs, unproven]).as_bytes(),
    );
    let config = config(
        &scratch,
        "[[authorised]]\ndomain = \"example.com\"\nsenders = [\"Twilio SendGrid\"]\n",
    );
    let output = scratch
        .command()
        .env_remove("DUCKMARC_NO_DNS")
        .args(["--config", &config, "ingest", "--dns-server", &dns.address])
        .arg(&input)
        .output()
        .unwrap();
    assert_success(&output);
    let senders = scratch.run(["--config", &config, "report", "senders", "--format", "json"]);
    assert_success(&senders);
    let senders: Vec<Value> = serde_json::from_slice(&senders.stdout).unwrap();
    let by_class = |class: &str| {
        senders
            .iter()
            .find(|s| s["sender"] == "Twilio SendGrid" && s["class"] == class)
            .map(|s| s["messages"].as_u64().unwrap())
    };
    assert_eq!(by_class("compliant"), Some(30), "{senders:?}");
    assert_eq!(by_class("authorised_failing"), None, "{senders:?}");
    assert_eq!(by_class("unauthorised"), Some(12 + 5), "{senders:?}");
}

/// A confirmed name may be any of an address's PTR names, and an IPv6 source is confirmed
/// by the AAAA record of a name that has an A record too.
#[test]
fn confirmation_reads_every_ptr_name_and_both_address_families() {
    let Some(dns) = Dnsmasq::start(&Zone {
        hosts: &[
            ("mx.dual.example", "203.0.113.80,2001:db8::80"),
            ("mx.real.example", "203.0.113.81"),
        ],
        // dnsmasq answers these in the reverse order: the claimed name comes first.
        unconfirmed: &[
            ("203.0.113.81", "mx.real.example"),
            ("203.0.113.81", "mx.claimed.example"),
        ],
        ..Zone::default()
    }) else {
        return;
    };
    let scratch = Scratch::new();
    let record = |ip| Rec {
        count: 3,
        ..passing_record(ip)
    };
    let input = scratch.write(
        "g.xml",
        report(
            "google.com",
            "g-4",
            &[record("2001:db8::80"), record("203.0.113.81")],
        )
        .as_bytes(),
    );
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &[&input]));
    let names = scratch.query("SELECT source_ip, ptr, ptr_confirmed, sender FROM source_names");
    let dual = row(&names, "source_ip", "2001:db8::80");
    assert_eq!(
        (dual["ptr"].as_str(), dual["ptr_confirmed"].as_bool()),
        (Some("mx.dual.example"), Some(true)),
        "{dual}"
    );
    let several = row(&names, "source_ip", "203.0.113.81");
    assert_eq!(
        (several["ptr"].as_str(), several["sender"].as_str()),
        (Some("mx.real.example"), Some("real.example")),
        "{several}"
    );
}

/// Without DNS an address is named only by its network, as a network.
#[test]
fn without_dns_an_address_is_named_by_its_network_never_a_mail_product() {
    let scratch = Scratch::new();
    assert_success(&scratch.ingest(&[&samples()]));
    let sources = scratch.report_json(&["sources"]);
    let sendgrid = row(&sources, "source_ip", "167.89.115.25");
    assert_eq!(sendgrid["named_by"], "network");
    assert_eq!(sendgrid["sender_type"], "Network");
    let name = sendgrid["sender"].as_str().unwrap();
    assert!(name.ends_with(", AS11377"), "{name}");
}

/// An SPF pass for a provider's domain names the address, but only in a report whose e-mail
/// was verified: the same claim in a bare file names nothing. And only where DNS shows the
/// claim true: anyone who owns a domain can send a verified report claiming any pass.
#[test]
fn an_spf_pass_names_a_source_only_in_a_genuine_report_and_where_dns_agrees() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys_and(
        &[
            ("google.com", Some("v=DMARC1; p=reject")),
            ("evil.example", None),
        ],
        &[("mailgun.org", "v=spf1 ip4:203.0.113.48/29 -all")],
    ) else {
        return;
    };
    let via_mailgun = |ip| Rec {
        ip,
        count: 8,
        verdict: "fail",
        from: "example.com",
        envelope_from: "mailgun.org",
        dkim: ("mailgun.org", "pass"),
        spf: ("mailgun.org", "pass"),
    };
    let scratch = Scratch::new();
    let from = "noreply-dmarc-support@google.com";
    let genuine = signer.sign(
        "google.com",
        &report_mail_with(from, "c-genuine", via_mailgun("203.0.113.51")),
    );
    let bare = report("google.com", "c-bare", &[via_mailgun("203.0.113.52")]);
    // Its own domain's report, signed and verified: Mailgun's SPF does not cover the address.
    let forged = signer.sign(
        "evil.example",
        &report_mail_of(
            "dmarc@evil.example",
            "c-evil",
            &report("evil.example", "c-evil", &[via_mailgun("198.51.100.66")]),
        ),
    );
    let inputs = [
        scratch.write("genuine.eml", &genuine),
        scratch.write("bare.xml", bare.as_bytes()),
        scratch.write("evil.eml", &forged),
    ];
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &inputs));
    let reporters = scratch.report_json(&["reporters"]);
    let evil = row(&reporters, "reporter", "evil.example");
    assert_eq!(evil["authenticity"], "pass", "{evil}");
    let sources = scratch.report_json(&["sources"]);
    let named = row(&sources, "source_ip", "203.0.113.51");
    assert_eq!(
        (named["sender"].as_str(), named["named_by"].as_str()),
        (Some("Mailgun"), Some("spf")),
        "{named}"
    );
    let claimed = row(&sources, "source_ip", "203.0.113.52");
    assert_eq!(claimed["sender"], "unknown", "{claimed}");
    let shown_false = row(&sources, "source_ip", "198.51.100.66");
    assert_ne!(shown_false["named_by"], "spf", "{shown_false}");
    assert_ne!(shown_false["sender"], "Mailgun", "{shown_false}");
}

/// Listing a provider by name is allowed, and said to be shared infrastructure: by `config
/// check`, and as a warning wherever the list is used; `config check` also points out a
/// name in none of the maps.
#[test]
fn listing_shared_infrastructure_is_pointed_out() {
    let scratch = Scratch::new();
    let config = config(
        &scratch,
        "[[authorised]]\ndomain = \"example.com\"\n\
         senders = [\"Twilio SendGrid\", \"Google LLC, AS396982\", \"example.com\", \"SendGrid\"]\n\
         dkim = [\"sendgrid.net\", \"example.com\"]\n",
    );
    let check = scratch.run(["--config", &config, "config", "check"]);
    assert_success(&check);
    let lines: Vec<String> = stdout(&check).lines().map(str::to_string).collect();
    let shared: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("shared infrastructure"))
        .collect();
    assert_eq!(shared.len(), 2, "{lines:?}");
    assert!(shared[0].contains("\"Twilio SendGrid\"") && shared[0].contains("Marketing"));
    assert!(shared[1].contains("AS396982") && shared[1].contains("Network"));
    let signers: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("[[authorised]] dkim"))
        .collect();
    assert_eq!(signers.len(), 1, "{lines:?}");
    assert!(signers[0].contains("\"sendgrid.net\""), "{lines:?}");
    assert!(
        lines.iter().all(|l| !l.contains("\"example.com\"")),
        "{lines:?}"
    );
    // A name in no map (the map says "Twilio SendGrid") would match nothing: said so.
    let unknown: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("is in none of the sender maps"))
        .collect();
    assert_eq!(unknown.len(), 1, "{lines:?}");
    assert!(
        unknown[0].starts_with("[[authorised]] senders: \"SendGrid\"")
            && unknown[0].ends_with("did you mean \"Twilio SendGrid\"?"),
        "{lines:?}"
    );

    assert_success(&scratch.ingest(&[&samples()]));
    let report = scratch.run(["--config", &config, "report", "senders"]);
    assert_success(&report);
    // Reports warn about shared infrastructure only: a name only a --sender-map given to
    // ingest knows is no mistake, and readiness says when no source is named so.
    assert_eq!(
        stderr(&report).matches("[[authorised]]").count(),
        3,
        "{}",
        stderr(&report)
    );
}

/// Without a list, aligned DKIM passing makes an address "probably yours" only in a report
/// not shown to be forged; and a forged report says nothing about the policy in force (here
/// from the reports: DNS has no answer for example.com).
#[test]
fn a_report_shown_not_genuine_makes_no_address_yours_and_sets_no_policy() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let scratch = Scratch::new();
    let passing = |ip| Rec {
        count: 7,
        ..passing_record(ip)
    };
    let from = "noreply-dmarc-support@google.com";
    let at_reject = report("google.com", "e-genuine", &[passing("192.0.2.11")])
        .replace("<p>none</p>", "<p>reject</p>");
    let genuine = signer.sign("google.com", &report_mail_of(from, "e-genuine", &at_reject));
    // Stored second, so before the fix its p=none was "the latest".
    let unsigned = report_mail_with(from, "e-unsigned", passing("203.0.113.97"));
    let inputs = [
        scratch.write("genuine.eml", &genuine),
        scratch.write("unsigned.eml", &unsigned),
    ];
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &inputs));
    let sources = scratch.report_json(&["sources"]);
    assert_eq!(
        row(&sources, "source_ip", "192.0.2.11")["class"],
        "compliant"
    );
    assert_eq!(
        row(&sources, "source_ip", "203.0.113.97")["class"],
        "unknown"
    );
    let readiness = scratch.report_json(&["readiness"]);
    let domain = row(&readiness, "domain", "example.com");
    assert_eq!(domain["policy_source"], "reports", "{domain}");
    assert_eq!(domain["policy"], "reject", "{domain}");
}

/// A listed DKIM domain authorises a record only in a report not shown to be forged: an
/// unsigned report claiming `d=example.com` passed for an address makes nothing authorised.
#[test]
fn a_report_shown_not_genuine_authorises_nothing() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let scratch = Scratch::new();
    let claiming = |ip| Rec {
        ip,
        count: 6,
        verdict: "fail",
        from: "example.com",
        envelope_from: "spoof.example",
        dkim: ("example.com", "pass"),
        // SPF passing for another domain: no sign of forwarding (see classes.sql).
        spf: ("spoof.example", "pass"),
    };
    let from = "noreply-dmarc-support@google.com";
    let genuine = signer.sign(
        "google.com",
        &report_mail_with(from, "d-genuine", claiming("203.0.113.95")),
    );
    let unsigned = report_mail_with(from, "d-unsigned", claiming("203.0.113.96"));
    let inputs = [
        scratch.write("genuine.eml", &genuine),
        scratch.write("unsigned.eml", &unsigned),
    ];
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &inputs));
    let config = config(
        &scratch,
        "[[authorised]]\ndomain = \"example.com\"\ndkim = [\"example.com\"]\n",
    );
    let senders = scratch.run(["--config", &config, "report", "senders", "--format", "json"]);
    assert_success(&senders);
    let senders: Vec<Value> = serde_json::from_slice(&senders.stdout).unwrap();
    assert_eq!(
        row(&senders, "sender", "203.0.113.95")["class"],
        "authorised_failing"
    );
    assert_eq!(
        row(&senders, "sender", "203.0.113.96")["class"],
        "unauthorised"
    );
}
