//! The DNS zone `duckmarc check`'s tests are served by dnsmasq (check.rs, check_rules.rs):
//! the records each rule is held against, and the config naming the authorised senders.

pub(crate) const KEY_1024: &str = "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC6BKwJt+4T8OeeclwcKYN5osVQ7ISBMh9RPYCF+1A7yOifLXnQMujTVfdynanvUionjgSEA0tujv6vOYSppmQ+A/xJUNuu591txvfRKlgJ4Az5oyep6rT4O9igJdRlE65XZQmKmcP/rALR2kdYF2u9ScVE9dp8/x7/MBBWA3u8cwIDAQAB";
pub(crate) const KEY_2048: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAnzzOvnO07N79v2vevLvxdreyK8odF2l+tQ0kkhFh83QHICmQZ0iqPKsyShAFNYk+u1F+1mG3unYidzADfreFJ9w/ZeZ/pk3OWOKhnOhbtTaZdMFRnla/sjwVNf6+aTdEGNrchId5VZxUU6LoPxUiDfLHkhDIG4cRgABAasrklfzjs/W+XFXOV59SrJupKmZbiICiPVAp+FKL1H9QOZec/+QlhYL7lWKJ7mdVlWfr8xZ27lx9B5G9Rj7yhmRrqquTMxqFeraWBK5cAyLKSubT/tcb0ljhuIq90hfQ/+kTzs5fd7tfuNCpFSdKPaJWCJV//7CIvTZ8AE7uxIjSSBSsaQIDAQAB";

pub(crate) const CONFIG: &str = r#"
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
pub(crate) const LOCAL: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "esp.example",
    "sendgrid.net",
    "example.info",
    "example.biz",
];

pub(crate) fn zone_txt() -> Vec<(String, String)> {
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
        // Two records below a name DNS does not answer (unanswered.example is in no local
        // zone, and dnsmasq has no upstream: REFUSED).
        ("_dmarc.two.unanswered.example", "v=DMARC1; p=none".into()),
        ("_dmarc.two.unanswered.example", "v=DMARC1; p=reject".into()),
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
pub(crate) fn zone_mx() -> Vec<(String, String)> {
    (1..=11)
        .map(|i| ("many.example.org".to_string(), format!("mx{i}.example.org")))
        .collect()
}
