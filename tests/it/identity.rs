//! Identity a spoofer cannot borrow: sources named from evidence about the address (a
//! confirmed PTR, an SPF pass in an authentic report, the network), never from a DKIM
//! domain a report claims; shared senders authorise only the customer's own mail; report
//! e-mails checked for authenticity against keys a real DNS server (dnsmasq) serves.

use crate::common::dnsmasq::{Dnsmasq, Silent, Zone};
use crate::common::*;
use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde_json::Value;

const DAY: u64 = 1_793_491_200;

/// One record of a report, every value written out (the receiver's verdicts and the auth
/// results need not agree: a forger writes what it likes).
struct Rec<'a> {
    ip: &'a str,
    count: u32,
    verdict: &'a str,
    from: &'a str,
    envelope_from: &'a str,
    dkim: (&'a str, &'a str),
    spf: (&'a str, &'a str),
}

fn report(org: &str, id: &str, records: &[Rec]) -> String {
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

fn row<'a>(rows: &'a [Value], key: &str, value: &str) -> &'a Value {
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
         senders = [\"Google (Gmail and Google Workspace)\", \"Google (Including Gmail and Google Workspace)\"]\n",
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
        ip,
        count: 3,
        verdict: "pass",
        from: "example.com",
        envelope_from: "example.com",
        dkim: ("example.com", "pass"),
        spf: ("example.com", "pass"),
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

/// `inputs` ingested with the DNS server at `server` and the flags in `extra`.
fn ingest_with_dns(
    scratch: &Scratch,
    server: &str,
    extra: &[&str],
    inputs: &[impl AsRef<std::ffi::OsStr>],
) -> std::process::Output {
    scratch
        .command()
        .env_remove("DUCKMARC_NO_DNS")
        .args(["ingest", "--dns-server", server])
        .args(extra)
        .args(inputs)
        .output()
        .unwrap()
}

/// A report e-mail signed by the test's own key for `domain` (selector `s1`).
struct Signer {
    key_der: Vec<u8>,
    public: String,
}

impl Signer {
    fn new() -> Signer {
        let key_der = Ed25519Key::generate_pkcs8().unwrap();
        let key = Ed25519Key::from_pkcs8_der(&key_der).unwrap();
        let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
        Signer { key_der, public }
    }

    /// The TXT record of the key (no commas: dnsmasq's command line splits on them).
    fn record(&self) -> String {
        format!("v=DKIM1; k=ed25519; p={}", self.public)
    }

    /// A DNS server with the key for google.com and google.com's DMARC record.
    fn serve_keys(&self) -> Option<Dnsmasq> {
        let key = self.record();
        Dnsmasq::start(&Zone {
            txt: &[
                ("s1._domainkey.google.com", &key),
                ("_dmarc.google.com", "v=DMARC1; p=reject"),
            ],
            local: &["google.com"],
            ..Zone::default()
        })
    }

    fn sign(&self, domain: &str, message: &[u8]) -> Vec<u8> {
        let key = Ed25519Key::from_pkcs8_der(&self.key_der).unwrap();
        let signature = DkimSigner::from_key(key)
            .domain(domain)
            .selector("s1")
            .headers(["From", "To", "Subject"])
            .sign(message)
            .unwrap();
        [signature.to_header().as_bytes(), message].concat()
    }
}

fn report_mail(from: &str, id: &str) -> Vec<u8> {
    report_mail_from_source(from, id, "192.0.2.10")
}

fn report_mail_from_source(from: &str, id: &str, ip: &str) -> Vec<u8> {
    let record = Rec {
        ip,
        count: 5,
        verdict: "pass",
        from: "example.com",
        envelope_from: "example.com",
        dkim: ("example.com", "pass"),
        spf: ("example.com", "pass"),
    };
    report_mail_with(from, id, record)
}

fn report_mail_with(from: &str, id: &str, record: Rec) -> Vec<u8> {
    report_mail_of(from, id, &report("google.com", id, &[record]))
}

/// `xml` gzip-compressed in a report e-mail from `from`.
fn report_mail_of(from: &str, id: &str, xml: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: dmarc@example.com\r\nSubject: Report domain: example.com Submitter: google.com Report-ID: {id}\r\n\
         MIME-Version: 1.0\r\nContent-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
        crate::common::reports::base64_lines(&crate::common::reports::gzip(xml.as_bytes()))
    )
    .into_bytes()
}

#[test]
fn report_emails_are_checked_against_the_reporters_keys() {
    let signer = Signer::new();
    let key = signer.record();
    let Some(dns) = Dnsmasq::start(&Zone {
        txt: &[
            ("s1._domainkey.google.com", &key),
            ("_dmarc.google.com", "v=DMARC1; p=reject"),
            ("s1._domainkey.other.example", &key),
        ],
        local: &["google.com", "other.example"],
        ..Zone::default()
    }) else {
        return;
    };
    let scratch = Scratch::new();
    let from = "noreply-dmarc-support@google.com";
    let good = signer.sign("google.com", &report_mail(from, "a-good"));
    // Changed after signing: the body hash no longer matches.
    let changed = String::from_utf8(signer.sign("google.com", &report_mail(from, "a-changed")))
        .unwrap()
        .replace("\r\n\r\n", "\r\n\r\n\r\n")
        .into_bytes();
    let other = signer.sign("other.example", &report_mail(from, "a-other"));
    let unsigned = report_mail(from, "a-unsigned");
    let inputs: Vec<_> = [
        ("good", good),
        ("changed", changed),
        ("other", other),
        ("unsigned", unsigned),
    ]
    .iter()
    .map(|(name, bytes)| scratch.write(&format!("{name}.eml"), bytes))
    .collect();
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &inputs));
    let stored = scratch.query("SELECT report_id, authenticity FROM reports ORDER BY report_id");
    let of = |id: &str| row(&stored, "report_id", id)["authenticity"].clone();
    assert_eq!(of("a-good"), "pass", "{stored:?}");
    assert_eq!(of("a-changed"), "fail", "{stored:?}");
    assert_eq!(of("a-other"), "fail", "{stored:?}");
    assert_eq!(of("a-unsigned"), "none", "{stored:?}");

    // --require-authentic refuses the others, and reads them again on a run without it.
    let strict = Scratch::new();
    let output = ingest_with_dns(&strict, &dns.address, &["--require-authentic"], &inputs);
    assert_success(&output);
    let stored = strict.query("SELECT report_id FROM reports");
    assert_eq!(stored.len(), 1, "{stored:?}");
    let refused =
        strict.query("SELECT count(*) AS n FROM ingest_ledger WHERE code = 'unauthenticated'");
    assert_eq!(refused[0]["n"], 3);
    assert_success(&strict.ingest(&inputs));
    assert_eq!(strict.query("SELECT report_id FROM reports").len(), 4);
}

#[test]
fn a_dns_server_that_does_not_answer_leaves_report_emails_unverified() {
    let silent = Silent::start();
    let signer = Signer::new();
    let scratch = Scratch::new();
    let mail = signer.sign(
        "google.com",
        &report_mail("noreply-dmarc-support@google.com", "a-down"),
    );
    let input = scratch.write("down.eml", &mail);
    assert_success(&ingest_with_dns(&scratch, &silent.address, &[], &[&input]));
    let stored = scratch.query("SELECT authenticity FROM reports");
    assert_eq!(stored[0]["authenticity"], "unverified");
}

/// Each message of an mbox, and each of a zip of messages, is checked on its own: one
/// signed message does not vouch for its unsigned neighbour, and a report lying in the zip
/// beside the messages, in none of them, is a bare file.
#[test]
fn each_message_of_an_mbox_or_a_zip_is_checked_on_its_own() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let scratch = Scratch::new();
    let from = "noreply-dmarc-support@google.com";
    let mbox = [
        b"From dmarc@google.com Thu Dec  3 00:00:00 2026\n".to_vec(),
        signer.sign("google.com", &report_mail(from, "m-signed")),
        b"\nFrom dmarc@google.com Thu Dec  3 00:00:01 2026\n".to_vec(),
        report_mail(from, "m-unsigned"),
    ]
    .concat();
    let signed = signer.sign("google.com", &report_mail(from, "z-signed"));
    let unsigned = report_mail(from, "z-unsigned");
    let bare = report("google.com", "z-bare", &[]);
    let zip = crate::common::reports::zip(&[
        ("signed.eml", &signed),
        ("bare.xml", bare.as_bytes()),
        ("unsigned.eml", &unsigned),
    ]);
    let inputs = [
        scratch.write("reports.mbox", &mbox),
        scratch.write("messages.zip", &zip),
    ];
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &inputs));
    let stored = scratch.query("SELECT report_id, authenticity FROM reports ORDER BY report_id");
    let of = |id: &str| row(&stored, "report_id", id)["authenticity"].clone();
    assert_eq!(of("m-signed"), "pass", "{stored:?}");
    assert_eq!(of("m-unsigned"), "none", "{stored:?}");
    assert_eq!(of("z-signed"), "pass", "{stored:?}");
    assert_eq!(of("z-bare"), "file", "{stored:?}");
    assert_eq!(of("z-unsigned"), "none", "{stored:?}");
}

/// A DNS server that never answers costs a few checks' timeouts, not one per message: after
/// three in a row the checks pause, and the rest of an mbox is stored unverified without
/// asking for its keys.
#[test]
fn a_dns_server_that_never_answers_is_not_asked_for_every_message_of_an_mbox() {
    let silent = Silent::start();
    let signer = Signer::new();
    let scratch = Scratch::new();
    let from = "noreply-dmarc-support@google.com";
    let messages = 8;
    let mbox: Vec<u8> = (0..messages)
        .flat_map(|n| {
            let mail = signer.sign("google.com", &report_mail(from, &format!("p-{n}")));
            let separator = format!("From dmarc@google.com Thu Dec  3 00:00:0{n} 2026\n");
            [separator.into_bytes(), mail, b"\n".to_vec()].concat()
        })
        .collect();
    let input = scratch.write("slow.mbox", &mbox);
    let output = ingest_with_dns(&scratch, &silent.address, &[], &[&input]);
    assert_success(&output);
    assert!(stderr(&output).contains("did not answer 3 report e-mail checks in a row"));
    let stored = scratch.query("SELECT authenticity, count(*) AS n FROM reports GROUP BY ALL");
    assert_eq!(
        stored,
        [serde_json::json!({"authenticity": "unverified", "n": messages})]
    );
    let asked = silent.queries_containing(b"_domainkey");
    assert!(
        (1..messages).contains(&asked),
        "{asked} key lookups for {messages} messages"
    );
}

/// A report e-mail that fails its check, or is unsigned, raises no alert on its own; a
/// genuine one does.
#[test]
fn reports_that_are_not_genuine_raise_no_alert_on_their_own() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let scratch = Scratch::new();
    let from = "noreply-dmarc-support@google.com";
    let ingest = |name: &str, mail: Vec<u8>| {
        let input = scratch.write(name, &mail);
        assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &[&input]));
    };
    ingest(
        "first.eml",
        signer.sign("google.com", &report_mail(from, "b-first")),
    );
    scratch.run(["alerts"]); // the first run records what there is
    let forged = String::from_utf8(signer.sign(
        "google.com",
        &report_mail_from_source(from, "b-forged", "203.0.113.99"),
    ))
    .unwrap()
    .replace("Report-ID: b-forged", "Report-ID: b-forged-again")
    .into_bytes();
    ingest("forged.eml", forged);
    ingest(
        "unsigned.eml",
        report_mail_from_source(from, "b-unsigned", "203.0.113.98"),
    );
    ingest(
        "genuine.eml",
        signer.sign(
            "google.com",
            &report_mail_from_source(from, "b-genuine", "203.0.113.97"),
        ),
    );
    let alerts = scratch.run(["alerts"]);
    let text = stdout(&alerts);
    assert!(text.contains("203.0.113.97"), "{text}");
    assert!(!text.contains("203.0.113.99"), "{text}");
    assert!(!text.contains("203.0.113.98"), "{text}");
    let stored = scratch.query("SELECT authenticity FROM reports WHERE report_id = 'b-forged'");
    assert_eq!(stored[0]["authenticity"], "fail");
}

/// An SPF pass for a provider's domain names the address, but only in a report whose e-mail
/// was verified: the same claim in a bare file names nothing.
#[test]
fn an_spf_pass_names_a_source_only_in_a_genuine_report() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
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
    let inputs = [
        scratch.write("genuine.eml", &genuine),
        scratch.write("bare.xml", bare.as_bytes()),
    ];
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &inputs));
    let sources = scratch.report_json(&["sources"]);
    let named = row(&sources, "source_ip", "203.0.113.51");
    assert_eq!(
        (named["sender"].as_str(), named["named_by"].as_str()),
        (Some("Mailgun"), Some("spf")),
        "{named}"
    );
    let claimed = row(&sources, "source_ip", "203.0.113.52");
    assert_eq!(claimed["sender"], "unknown", "{claimed}");
}

/// Listing a provider by name is allowed, and said to be shared infrastructure: by `config
/// check`, and as a warning wherever the list is used.
#[test]
fn listing_shared_infrastructure_is_pointed_out() {
    let scratch = Scratch::new();
    let config = config(
        &scratch,
        "[[authorised]]\ndomain = \"example.com\"\n\
         senders = [\"Twilio SendGrid\", \"Google LLC, AS396982\", \"example.com\"]\n\
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

    assert_success(&scratch.ingest(&[&samples()]));
    let report = scratch.run(["--config", &config, "report", "senders"]);
    assert_success(&report);
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
        ip,
        count: 7,
        verdict: "pass",
        from: "example.com",
        envelope_from: "example.com",
        dkim: ("example.com", "pass"),
        spf: ("example.com", "pass"),
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
