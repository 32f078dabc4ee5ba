//! `duckmarc check` against the rules expert reads found it getting wrong: URI schemes,
//! SPF typos, terms after `all`, forgeries and forwarders; what mail-auth's SPF parser reads
//! wrong, refusing terms, includes already there, tags written twice, macros, redirects and
//! several DMARC records at a name. The zone and the reports are check.rs's.

use crate::check::{check, dns_and_reports, find, google_report_of, one, row};
use crate::common::dnsmasq::Silent;
use crate::common::*;

/// The rules an expert read found wrong (RFC 9989 section 4.8, RFC 7208 sections 4.6, 5.1
/// and 6.1, RFC 7960 section 3.2.1): each now gives the verdict the RFC does.
#[test]
fn uri_schemes_spf_typos_terms_after_all_forgeries_and_forwarders() {
    let Some((dns, scratch)) = dns_and_reports() else {
        return;
    };
    let rows = [
        row(
            "192.0.2.40",
            80,
            ("pass", "example.info", "good"),
            ("pass", "mail.example.info"),
            "example.info",
        ),
        row(
            "192.0.2.40",
            5,
            ("pass", "example.info", "twice"),
            ("pass", "mail.example.info"),
            "example.info",
        ),
        // Forwarded, or the domain's own server missing from SPF: the data cannot tell.
        row(
            "198.51.100.50",
            10,
            ("pass", "example.info", "good"),
            ("fail", "mail.example.info"),
            "example.info",
        ),
        // Someone else's mail that names the domain and a selector it never published.
        row(
            "203.0.113.99",
            20,
            ("fail", "example.info", "forged"),
            ("fail", "example.info"),
            "example.info",
        ),
    ];
    let xml = google_report_of("example.info", "check-info", &rows);
    assert_success(&scratch.ingest(&[&scratch.write("info.xml", xml.as_bytes())]));
    let (_, found, says) = check(&scratch, &dns.address, &[]);

    let uri = one(&found, "example.info", "dmarc_uri_invalid", "error");
    assert_eq!(uri["fix"], "write rua=mailto:dmarc@example.info", "{says}");
    let typo = one(&found, "example.info", "spf_syntax", "error");
    assert!(
        typo["message"]
            .as_str()
            .unwrap()
            .contains("ipv4:192.0.2.0/24"),
        "{typo:#?}"
    );
    // mail.example.info: the include after -all and the redirect beside it cost nothing.
    let lookups = find(&found, "example.info", "spf_lookups");
    let mail = lookups
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .starts_with("SPF of mail.example.info")
        })
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert!(
        mail["message"]
            .as_str()
            .unwrap()
            .contains(": 0 DNS lookups"),
        "{mail:#?}"
    );
    // A selector no signature ever verified with: a forgery, or a key never published.
    let forged = one(&found, "example.info", "dkim_key_never_verified", "warning");
    assert_eq!(forged["subject"], "forged._domainkey.example.info");
    assert!(find(&found, "example.info", "dkim_key_missing").is_empty());
    // Two key records at one selector: verifiers may use either (RFC 6376 section 3.6.2.2),
    // so neither is judged, whichever DNS lists first.
    let twice = one(&found, "example.info", "dkim_key_several", "error");
    assert_eq!(twice["subject"], "twice._domainkey.example.info");
    assert!(find(&found, "example.info", "dkim_key_revoked").is_empty());
    // 198.51.100.50 passes the domain's aligned DKIM and fails SPF, and no sender is listed
    // for it: a forwarder looks just the same, so duckmarc says so rather than asking for an
    // SPF change.
    let unlisted = one(&found, "example.info", "spf_not_covered_unlisted", "info");
    assert_eq!(unlisted["subject"], "198.51.100.50", "{unlisted:#?}");
    assert!(find(&found, "example.info", "spf_not_covered").is_empty());
    assert!(find(&found, "example.info", "spf_include_missing").is_empty());
}

/// The second review's rules (example.biz): what mail-auth's SPF parser reads wrong (`/0`
/// as `/32`, `192.0.2.300` as `.255`), a refusing term before the authorising one, a
/// provider's include already there, a duplicated DMARC tag, h=sha1, an MTA-STS id; two
/// DMARC records at a name.
#[test]
fn ranges_refusals_includes_already_there_and_tags_written_twice() {
    let Some((dns, scratch)) = dns_and_reports() else {
        return;
    };
    let own = |ip, count, mail_from| {
        row(
            ip,
            count,
            ("pass", "example.biz", "old"),
            ("fail", mail_from),
            "example.biz",
        )
    };
    let mut rows = [
        own("192.0.2.5", 10, "example.biz"),
        own("149.72.10.5", 20, "example.biz"),
        own("192.0.2.77", 5, "zero.example.biz"),
        own("192.0.2.78", 5, "bad.example.biz"),
        own("192.0.2.79", 5, "ptr.example.biz"),
        own("192.0.2.80", 5, "exists.example.biz"),
        own("192.0.2.81", 5, "notspf.example.biz"),
        own("192.0.2.82", 5, "incl.example.biz"),
        own("192.0.2.83", 5, "redir.example.biz"),
        own("192.0.2.84", 5, "macro.example.biz"),
    ];
    rows[2].spf = "pass";
    let xml = google_report_of("example.biz", "check-biz", &rows);
    assert_success(&scratch.ingest(&[&scratch.write("biz.xml", xml.as_bytes())]));
    let (_, found, says) = check(&scratch, &dns.address, &["example.biz"]);

    // RFC 7208 section 4.6.2: the first match wins; adding the address changes nothing.
    let refused = find(&found, "example.biz", "spf_not_covered");
    let refused = refused
        .iter()
        .find(|f| f["subject"] == "192.0.2.5")
        .unwrap_or_else(|| panic!("{says}\n{found:#?}"));
    assert_eq!(
        refused["fix"],
        "remove -ip4:192.0.2.5/32 from the SPF record of example.biz: it refuses the address \
         before anything can authorise it"
    );
    let redirected = find(&found, "example.biz", "spf_not_covered");
    let redirected = redirected
        .iter()
        .find(|f| f["subject"] == "192.0.2.83")
        .unwrap_or_else(|| panic!("{says}\n{found:#?}"));
    assert_eq!(
        redirected["fix"],
        "remove -ip4:192.0.2.83/32 from the SPF record of _r.example.biz: it refuses the \
         address before anything can authorise it"
    );
    // SendGrid's include is there already, but not for this address.
    let include = one(&found, "example.biz", "spf_include_not_covering", "warning");
    assert!(
        include["message"]
            .as_str()
            .unwrap()
            .contains("include:sendgrid.net"),
        "{include:#?}"
    );
    assert!(find(&found, "example.biz", "spf_include_missing").is_empty());
    let unused = find(&found, "example.biz", "spf_include_unused");
    assert!(
        unused
            .iter()
            .all(|f| f["subject"] != "include:sendgrid.net"),
        "{unused:#?}"
    );
    // ip4:0.0.0.0/0 authorises everyone (section 5.6), and is an error.
    let zero = find(&found, "example.biz", "spf_authorises");
    assert!(
        zero.iter().any(|f| f["subject"] == "192.0.2.77"
            && f["message"].as_str().unwrap().ends_with("ip4:0.0.0.0/0")),
        "{zero:#?}"
    );
    let everyone = one(&found, "example.biz", "spf_pass_all", "error");
    assert!(
        everyone["message"]
            .as_str()
            .unwrap()
            .contains("zero.example.biz has ip4:0.0.0.0/0"),
        "{everyone:#?}"
    );
    // 192.0.2.300 is no address: a permerror, not 192.0.2.255.
    let bad = one(&found, "example.biz", "spf_syntax", "error");
    assert!(
        bad["message"].as_str().unwrap().contains("192.0.2.300"),
        "{bad:#?}"
    );
    let twice = one(&found, "example.biz", "dmarc_duplicate_tag", "error");
    assert!(twice["message"]
        .as_str()
        .unwrap()
        .contains("p= more than once"));
    one(&found, "example.biz", "dkim_key_sha1_only", "error");
    let authorised = |ip: &str| {
        find(&found, "example.biz", "spf_authorises")
            .iter()
            .find(|f| f["subject"] == ip)
            .map(|f| f["message"].as_str().unwrap().to_string())
    };
    let ptr = authorised("192.0.2.79").unwrap_or_else(|| panic!("{found:#?}"));
    assert!(ptr.ends_with("ip4:192.0.2.0/24"), "{ptr}");
    let by_macro = authorised("192.0.2.84").unwrap_or_else(|| panic!("{found:#?}"));
    assert!(
        by_macro.ends_with(
            "as MAIL FROM macro.example.biz, authorised by exists:%{i}._spf.example.biz"
        ),
        "{by_macro}"
    );
    let exists = authorised("192.0.2.80").unwrap_or_else(|| panic!("{found:#?}"));
    assert!(exists.ends_with("exists:a.example.biz"), "{exists}");
    let undecided = find(&found, "example.biz", "spf_undecided");
    assert_eq!(undecided.len(), 1, "{undecided:#?}");
    assert_eq!(undecided[0]["subject"], "192.0.2.82");
    assert_eq!(authorised("192.0.2.82"), None);
    let lookups = find(&found, "example.biz", "spf_lookups");
    let not_spf = lookups
        .iter()
        .find(|f| {
            f["message"]
                .as_str()
                .unwrap()
                .starts_with("SPF of notspf.example.biz")
        })
        .unwrap_or_else(|| panic!("{lookups:#?}"));
    assert!(
        not_spf["message"]
            .as_str()
            .unwrap()
            .ends_with(" 0 void of 2"),
        "{not_spf:#?}"
    );
    one(&found, "example.biz", "mta_sts_invalid", "error");

    // RFC 9989 section 4.10, step 2: several records at a name are all discarded, and the
    // walk goes on to the record above them.
    let (_, two, says) = check(&scratch, &dns.address, &["two.example.biz"]);
    let several = one(&two, "two.example.biz", "dmarc_several", "error");
    assert!(
        several["message"]
            .as_str()
            .unwrap()
            .ends_with("and apply the record at _dmarc.example.biz"),
        "{says}\n{several:#?}"
    );
    one(&two, "two.example.biz", "dmarc_tree_walk", "info");
    assert!(find(&two, "two.example.biz", "dmarc_missing").is_empty());
    // Discarded whatever the walk finds above them: a name above that DNS does not answer
    // leaves what applies unknown, not the two records (it hid them behind "unknown").
    let (code, two, says) = check(&scratch, &dns.address, &["two.unanswered.example"]);
    let several = one(&two, "two.unanswered.example", "dmarc_several", "error");
    assert!(
        several["message"]
            .as_str()
            .unwrap()
            .ends_with("what applies instead is unknown: _dmarc.unanswered.example did not answer"),
        "{says}\n{several:#?}"
    );
    assert!(!find(&two, "two.unanswered.example", "dns_unanswered").is_empty());
    assert_eq!(code, Some(5), "{says}");

    // Section 4.10.1: below walk.example.biz (p=reject; sp=none; psd=n: its own
    // Organizational Domain, section 4.10.2), a name without a record of its own is under
    // sp=none, as the reports of it show: no change. walk.example.biz's own
    // reports showing p=none are one.
    let reported = ["news.walk.example.biz", "walk.example.biz"].map(|domain| {
        let xml = google_report_of(domain, domain, &[]);
        scratch.write(&format!("{domain}.xml"), xml.as_bytes())
    });
    assert_success(&scratch.ingest(&reported));
    let (_, walked, says) = check(
        &scratch,
        &dns.address,
        &["news.walk.example.biz", "walk.example.biz"],
    );
    one(&walked, "news.walk.example.biz", "dmarc_tree_walk", "info");
    assert!(
        find(
            &walked,
            "news.walk.example.biz",
            "dmarc_changed_since_reports"
        )
        .is_empty(),
        "{says}\n{walked:#?}"
    );
    one(
        &walked,
        "walk.example.biz",
        "dmarc_changed_since_reports",
        "info",
    );

    // RFC 7208 section 5.2: an include whose record passes everyone passes everyone for
    // the record that includes it; section 6.1: a redirect's ?all ends the record.
    // RFC 6376 section 3.6.1: a key whose s= leaves out email verifies no mail.
    let tls_key = row(
        "192.0.2.85",
        5,
        ("fail", "example.biz", "tls"),
        ("pass", "example.biz"),
        "example.biz",
    );
    let caps_key = row(
        "192.0.2.86",
        5,
        ("fail", "example.biz", "caps"),
        ("pass", "example.biz"),
        "example.biz",
    );
    let xml = google_report_of("example.biz", "check-biz-tls", &[tls_key, caps_key]);
    assert_success(&scratch.ingest(&[&scratch.write("biz-tls.xml", xml.as_bytes())]));
    let domains = [
        "open.example.biz",
        "nr.example.biz",
        "voids.example.biz",
        "example.biz",
        "psd.example.biz",
        "vlast.example.biz",
        "vdup.example.biz",
        "nr3.example.biz",
        "neg.example.biz",
        "shop.psd.example.biz",
        "twice.example.biz",
    ];
    let (code, ends, says) = check(&scratch, &dns.address, &domains);
    // One: s=Email is e-mail, case aside.
    let not_for_email = one(&ends, "example.biz", "dkim_key_not_for_email", "error");
    assert_eq!(not_for_email["subject"], "tls._domainkey.example.biz");
    // RFC 9989 section 4.10.2: psd=y makes each name below its own organizational domain.
    one(&ends, "psd.example.biz", "dmarc_psd", "warning");
    // Below it, the record is a registry's to its owner: publish your own, not "remove psd=y".
    let below = one(&ends, "shop.psd.example.biz", "dmarc_tree_walk", "warning");
    assert_eq!(
        below["fix"],
        "publish a DMARC record of your own at _dmarc.shop.psd.example.biz"
    );
    assert!(
        find(&ends, "shop.psd.example.biz", "dmarc_psd").is_empty(),
        "{ends:#?}"
    );
    // Section 4.7: v=DMARC1 first, or receivers ignore the record.
    one(
        &ends,
        "vlast.example.biz",
        "dmarc_malformed_version",
        "error",
    );
    // Beside a valid record, fixing it would make two: receivers would discard both.
    let beside = one(
        &ends,
        "vdup.example.biz",
        "dmarc_malformed_version",
        "warning",
    );
    assert!(
        beside["fix"].as_str().unwrap().starts_with("remove it"),
        "{beside:#?}"
    );
    assert_eq!(code, Some(5), "{says}");
    let open = one(&ends, "open.example.biz", "spf_pass_all", "error");
    assert!(
        open["message"]
            .as_str()
            .unwrap()
            .starts_with("open.example.biz > include:all.example.biz has +all"),
        "{open:#?}"
    );
    one(&ends, "nr.example.biz", "spf_neutral_all", "warning");
    // Reached through two includes, the record is said once.
    one(&ends, "twice.example.biz", "spf_pass_all", "error");
    // A redirect's record without all ends the record without one (section 4.7); an
    // include that refuses what matches it authorises no one (section 5.2).
    one(&ends, "nr3.example.biz", "spf_no_all", "info");
    assert!(
        find(&ends, "neg.example.biz", "spf_pass_all").is_empty(),
        "{ends:#?}"
    );
    // Section 4.6.4: exists and a (A records, for IPv4 senders) count void lookups too.
    let voids = one(&ends, "voids.example.biz", "spf_void_lookups", "error");
    assert!(
        voids["message"]
            .as_str()
            .unwrap()
            .starts_with("3 void lookups"),
        "{voids:#?}"
    );
}

/// An SPF result that names no domain was for the MAIL FROM (RFC 7208 section 2.4): the SPF
/// record check holds against the source is the envelope_from's.
#[test]
fn an_spf_result_without_a_domain_is_checked_as_the_envelope_from() {
    let Some((dns, scratch)) = dns_and_reports() else {
        return;
    };
    let rows = [row(
        "192.0.2.40",
        80,
        ("pass", "example.info", "good"),
        ("pass", ""),
        "example.info",
    )];
    let xml = google_report_of("example.info", "check-envelope", &rows).replace(
        "<header_from>example.info</header_from>",
        "<header_from>example.info</header_from><envelope_from>mail.example.info</envelope_from>",
    );
    assert_success(&scratch.ingest(&[&scratch.write("envelope.xml", xml.as_bytes())]));
    let (_, found, says) = check(&scratch, &dns.address, &["example.info"]);
    let lookups = find(&found, "example.info", "spf_lookups");
    assert!(
        lookups.iter().any(|f| f["message"]
            .as_str()
            .unwrap()
            .starts_with("SPF of mail.example.info")),
        "{says}\n{lookups:#?}"
    );
}

/// A key record whose p= is no key of its type (a key cut short, an RSA key under
/// k=ed25519) fails every signature: an error, not "ok" (RFC 6376 section 3.6.1, RFC 8463
/// section 4.2). And a later check whose resolver is down keeps the errors found: an
/// outage is no sign that the records were mended, so readiness's dns_errors stays.
#[test]
fn a_key_that_is_no_key_is_an_error_which_an_outage_does_not_clear() {
    let Some((dns, scratch)) = dns_and_reports() else {
        return;
    };
    let rows = [
        row(
            "192.0.2.41",
            10,
            ("fail", "example.info", "garb"),
            ("pass", "mail.example.info"),
            "example.info",
        ),
        row(
            "192.0.2.42",
            10,
            ("fail", "example.info", "edbad"),
            ("pass", "mail.example.info"),
            "example.info",
        ),
    ];
    let xml = google_report_of("example.info", "keys", &rows);
    assert_success(&scratch.ingest(&[scratch.write("keys.xml", xml.as_bytes())]));
    let (_, found, says) = check(&scratch, &dns.address, &["example.info"]);
    let invalid: Vec<String> = find(&found, "example.info", "dkim_key_invalid")
        .iter()
        .filter(|f| f["severity"] == "error")
        .map(|f| f["subject"].as_str().unwrap_or_default().to_string())
        .collect();
    for selector in [
        "garb._domainkey.example.info",
        "edbad._domainkey.example.info",
    ] {
        assert!(
            invalid.iter().any(|s| s == selector),
            "{selector}: {found:#?} {says}"
        );
    }
    assert!(find(&found, "example.info", "dkim_key_ok")
        .iter()
        .all(|f| !f["message"].as_str().unwrap().contains("garb")));

    let errors = || {
        let rows = scratch.report_json(&["readiness", "--domain", "example.info"]);
        rows[0]["dns_errors"].as_u64().expect("a count")
    };
    let before = errors();
    assert!(
        before >= 3,
        "the rua, the SPF typo and two keys at least: {before}"
    );
    drop(dns);
    let silent = Silent::start();
    let (code, undecided, says) = check(
        &scratch,
        &silent.address,
        &["example.info", "--refresh", "--dns-budget", "3"],
    );
    assert_eq!(code, Some(0), "{says}");
    assert!(
        !find(&undecided, "example.info", "dns_unanswered").is_empty(),
        "{undecided:#?}"
    );
    assert_eq!(
        errors(),
        before,
        "an outage cleared the errors found before"
    );
    check(
        &scratch,
        &silent.address,
        &["example.info", "--refresh", "--dns-budget", "3"],
    );
    assert_eq!(errors(), before, "kept errors are kept once");
}

/// RFC 9990, "Verifying External Destinations", step 9: the destination's record may send
/// the reports on to another address at its own host, which check names; one at another
/// host means receivers send reports to neither address (it said "accepts reports").
#[test]
fn a_destination_that_sends_the_reports_elsewhere_is_named() {
    let Some((dns, scratch)) = dns_and_reports() else {
        return;
    };
    let (_, rows, says) = check(
        &scratch,
        &dns.address,
        &["over.example.biz", "moved.example.biz"],
    );
    let over = one(
        &rows,
        "over.example.biz",
        "dmarc_destination_unauthorised",
        "error",
    );
    assert!(
        over["message"]
            .as_str()
            .unwrap()
            .contains("x@elsewhere.example.org")
            && over["message"]
                .as_str()
                .unwrap()
                .contains("receivers send reports to neither"),
        "{says}\n{over:#?}"
    );
    let moved = one(
        &rows,
        "moved.example.biz",
        "dmarc_destination_authorised",
        "info",
    );
    assert!(
        moved["message"]
            .as_str()
            .unwrap()
            .contains("has them sent to inbox@reports.example.net"),
        "{moved:#?}"
    );
}
