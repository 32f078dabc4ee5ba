//! Report e-mails checked for authenticity against keys a real DNS server (dnsmasq) serves:
//! what a signature that verifies, fails or is missing does to a report, and to a copy of it.

use super::identity::{report, row, Rec};
use crate::common::dnsmasq::{Dnsmasq, Silent, Zone};
use crate::common::*;
use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::DkimSigner;
use serde_json::Value;

/// `inputs` ingested with the DNS server at `server` and the flags in `extra`.
pub(crate) fn ingest_with_dns(
    scratch: &Scratch,
    server: &str,
    extra: &[&str],
    inputs: &[impl AsRef<std::ffi::OsStr>],
) -> std::process::Output {
    ingest_with_dns_into(scratch, &scratch.db(), server, extra, inputs)
}

/// As [`ingest_with_dns`], into the database `db`.
pub(crate) fn ingest_with_dns_into(
    scratch: &Scratch,
    db: &std::path::Path,
    server: &str,
    extra: &[&str],
    inputs: &[impl AsRef<std::ffi::OsStr>],
) -> std::process::Output {
    scratch
        .command_with_db(db)
        .env_remove("DUCKMARC_NO_DNS")
        .args(["ingest", "--dns-server", server])
        .args(extra)
        .args(inputs)
        .output()
        .unwrap()
}

/// A report e-mail signed by the test's own key for `domain` (selector `s1`).
pub(crate) struct Signer {
    key_der: Vec<u8>,
    public: String,
}

impl Signer {
    pub(crate) fn new() -> Signer {
        let key_der = Ed25519Key::generate_pkcs8().unwrap();
        let key = Ed25519Key::from_pkcs8_der(&key_der).unwrap();
        let public = base64::engine::general_purpose::STANDARD.encode(key.public_key());
        Signer { key_der, public }
    }

    /// The TXT record of the key (no commas: dnsmasq's command line splits on them).
    pub(crate) fn record(&self) -> String {
        format!("v=DKIM1; k=ed25519; p={}", self.public)
    }

    /// A DNS server with the key for google.com and google.com's DMARC record.
    pub(crate) fn serve_keys(&self) -> Option<Dnsmasq> {
        self.serve_keys_for(&[("google.com", Some("v=DMARC1; p=reject"))])
    }

    /// A DNS server with the key for each of `domains`, and its DMARC record if it has one.
    pub(crate) fn serve_keys_for(&self, domains: &[(&str, Option<&str>)]) -> Option<Dnsmasq> {
        self.serve_keys_and(domains, &[])
    }

    /// The same, and the TXT records `more` (name, text) in zones of their own.
    pub(crate) fn serve_keys_and(
        &self,
        domains: &[(&str, Option<&str>)],
        more: &[(&str, &str)],
    ) -> Option<Dnsmasq> {
        let key = self.record();
        let mut txt: Vec<(String, String)> = more
            .iter()
            .map(|(name, text)| (name.to_string(), text.to_string()))
            .collect();
        for (domain, dmarc) in domains {
            txt.push((format!("s1._domainkey.{domain}"), key.clone()));
            if let Some(record) = dmarc {
                txt.push((format!("_dmarc.{domain}"), record.to_string()));
            }
        }
        let txt: Vec<(&str, &str)> = txt.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let local: Vec<&str> = domains
            .iter()
            .map(|(domain, _)| *domain)
            .chain(more.iter().map(|(name, _)| *name))
            .collect();
        Dnsmasq::start(&Zone {
            txt: &txt,
            local: &local,
            ..Zone::default()
        })
    }

    pub(crate) fn sign(&self, domain: &str, message: &[u8]) -> Vec<u8> {
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

pub(crate) fn report_mail(from: &str, id: &str) -> Vec<u8> {
    report_mail_from_source(from, id, "192.0.2.10")
}

pub(crate) fn report_mail_from_source(from: &str, id: &str, ip: &str) -> Vec<u8> {
    report_mail_with(from, id, passing_record(ip))
}

/// Five messages from `ip` that pass for example.com.
pub(crate) fn passing_record(ip: &str) -> Rec<'_> {
    Rec {
        ip,
        count: 5,
        verdict: "pass",
        from: "example.com",
        envelope_from: "example.com",
        dkim: ("example.com", "pass"),
        spf: ("example.com", "pass"),
    }
}

pub(crate) fn report_mail_with(from: &str, id: &str, record: Rec) -> Vec<u8> {
    report_mail_of(from, id, &report("google.com", id, &[record]))
}

/// `xml` gzip-compressed in a report e-mail from `from`.
pub(crate) fn report_mail_of(from: &str, id: &str, xml: &str) -> Vec<u8> {
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
    let Some(dns) = signer.serve_keys_for(&[
        ("google.com", Some("v=DMARC1; p=reject")),
        ("other.example", None),
    ]) else {
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

/// A forger who guesses a reporter's next Report-ID and mails an unsigned copy first cannot
/// keep the real report out: the genuine copy takes its place (with a warning), a copy not
/// shown genuine never displaces a genuine one, and within one run the order does not matter.
#[test]
fn a_genuine_copy_replaces_a_forged_copy_stored_before_it() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys() else {
        return;
    };
    let from = "noreply-dmarc-support@google.com";
    let forged = report_mail_from_source(from, "d-1", "203.0.113.99");
    let genuine = signer.sign(
        "google.com",
        &report_mail_from_source(from, "d-1", "192.0.2.10"),
    );
    let stored_sources = |scratch: &Scratch| {
        scratch.query(
            "SELECT r.authenticity, c.source_ip FROM reports r JOIN records c ON c.report = r.id",
        )
    };
    let expected = serde_json::json!([{"authenticity": "pass", "source_ip": "192.0.2.10"}]);

    // In three runs: forged, genuine, forged again.
    let scratch = Scratch::new();
    let forged_file = scratch.write("forged.eml", &forged);
    let genuine_file = scratch.write("genuine.eml", &genuine);
    assert_success(&ingest_with_dns(
        &scratch,
        &dns.address,
        &[],
        &[&forged_file],
    ));
    assert_eq!(stored_sources(&scratch)[0]["authenticity"], "none");
    let output = ingest_with_dns(&scratch, &dns.address, &[], &[&genuine_file]);
    assert_success(&output);
    let says = stderr(&output);
    assert!(
        says.contains("warning:") && says.contains("in place of the copy from"),
        "{says}"
    );
    assert!(
        says.contains("forged.eml"),
        "names the copy replaced: {says}"
    );
    // The report was known: not a new one.
    let summary = stdout(&output);
    assert!(summary.contains("0 new reports"), "{summary}");
    assert!(summary.contains("1 duplicate reports"), "{summary}");
    assert_eq!(Value::from(stored_sources(&scratch)), expected);
    // Forged again, with other counts: a duplicate, not a resend of the genuine report.
    let bigger = Rec {
        count: 500,
        ..passing_record("203.0.113.99")
    };
    let again = scratch.write("forged-again.eml", &report_mail_with(from, "d-1", bigger));
    let output = ingest_with_dns(&scratch, &dns.address, &[], &[&again]);
    assert_success(&output);
    assert!(stderr(&output).contains("duplicate"), "{}", stderr(&output));
    assert!(scratch.query("SELECT * FROM resent_reports").is_empty());
    assert_eq!(Value::from(stored_sources(&scratch)), expected);
    let reports = scratch.query("SELECT count(*) AS n FROM reports");
    assert_eq!(reports[0]["n"], 1);

    // In one run, either order.
    for order in [[&forged, &genuine], [&genuine, &forged]] {
        let scratch = Scratch::new();
        let files: Vec<_> = order
            .iter()
            .enumerate()
            .map(|(n, bytes)| scratch.write(&format!("{n}.eml"), bytes))
            .collect();
        assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &files));
        assert_eq!(Value::from(stored_sources(&scratch)), expected);
    }
}

/// Mail that passes DMARC for the forger's own domain vouches for nothing a report in it says
/// about itself: a report naming Google as its reporter, mailed and signed by attacker.example,
/// is `mismatch` and counts as not genuine; Google's own, and the domain owner's forward of
/// one, pass.
#[test]
fn mail_signed_by_another_organisation_than_the_reporter_is_a_mismatch() {
    let signer = Signer::new();
    let Some(dns) = signer.serve_keys_for(&[
        ("google.com", Some("v=DMARC1; p=reject")),
        ("attacker.example", Some("v=DMARC1; p=reject")),
        ("example.com", Some("v=DMARC1; p=none")),
    ]) else {
        return;
    };
    let scratch = Scratch::new();
    let google = signer.sign(
        "google.com",
        &report_mail("noreply-dmarc-support@google.com", "e-google"),
    );
    let forged = signer.sign(
        "attacker.example",
        &report_mail("reports@attacker.example", "e-forged"),
    );
    // Its own contact in the report, and Google's name as the reporter's.
    let xml = report(
        "google.com",
        "e-own-contact",
        &[passing_record("192.0.2.10")],
    )
    .replace("dmarc@google.com", "reports@attacker.example");
    let own_contact = signer.sign(
        "attacker.example",
        &report_mail_of("reports@attacker.example", "e-own-contact", &xml),
    );
    let forwarded = signer.sign(
        "example.com",
        &report_mail("postmaster@example.com", "e-forwarded"),
    );
    let inputs = [
        scratch.write("google.eml", &google),
        scratch.write("forged.eml", &forged),
        scratch.write("forwarded.eml", &forwarded),
        scratch.write("own-contact.eml", &own_contact),
    ];
    assert_success(&ingest_with_dns(&scratch, &dns.address, &[], &inputs));
    let stored = scratch.query("SELECT report_id, authenticity FROM reports ORDER BY report_id");
    let of = |id: &str| row(&stored, "report_id", id)["authenticity"].clone();
    assert_eq!(of("e-google"), "pass", "{stored:?}");
    assert_eq!(of("e-forged"), "mismatch", "{stored:?}");
    assert_eq!(of("e-forwarded"), "pass", "{stored:?}");
    assert_eq!(of("e-own-contact"), "mismatch", "{stored:?}");
    let not_genuine = scratch.query(
        "SELECT r.report_id FROM reports r SEMI JOIN not_genuine_reports g ON g.id = r.id \
         ORDER BY r.report_id",
    );
    let forged_ids = serde_json::json!([{"report_id": "e-forged"}, {"report_id": "e-own-contact"}]);
    assert_eq!(Value::from(not_genuine), forged_ids);
    // --require-authentic refuses it, naming why.
    let strict = Scratch::new();
    let output = ingest_with_dns(
        &strict,
        &dns.address,
        &["--require-authentic"],
        &inputs[1..2],
    );
    assert!(stderr(&output).contains("mismatch"), "{}", stderr(&output));
    assert!(strict.query("SELECT id FROM reports").is_empty());

    // A reporter the user knows to mail from another domain, named in the config.
    let trusting = Scratch::new();
    let config = trusting.write(
        "config.toml",
        b"reporter_domains = [[\"google.com\", \"attacker.example\"]]\n",
    );
    let config = config.to_str().unwrap();
    let output = ingest_with_dns(
        &trusting,
        &dns.address,
        &["--config", config],
        &inputs[1..2],
    );
    assert_success(&output);
    let stored = trusting.query("SELECT authenticity FROM reports");
    assert_eq!(stored[0]["authenticity"], "pass");
}
