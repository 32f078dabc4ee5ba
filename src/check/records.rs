//! The DMARC (RFC 9989), DKIM key (RFC 6376) and SMTP TLS (RFC 8461, RFC 8460) records of
//! a domain, checked as DNS publishes them. Pure functions over [`Lookups`]: a name DNS did
//! not answer gives an `unknown` finding, never an error.

use super::{Finding, Got, Lookups, Severity};
use crate::check::dns::Kind;
use crate::parse::dmarc_record::{is_dmarc_record, tree_walk};
use crate::transform::alignment::organizational_domain;
use base64::Engine;
use mail_auth::common::parse::TxtRecordParser;

/// Tags RFC 9989 section 4.7 defines.
const DMARC_TAGS: [&str; 11] = [
    "v", "p", "sp", "np", "t", "psd", "adkim", "aspf", "rua", "ruf", "fo",
];
/// Tags of RFC 7489 that RFC 9989 removed (section 9.3 and appendix A).
const OBSOLETE_DMARC_TAGS: [&str; 3] = ["pct", "ri", "rf"];

/// The domain's DMARC record: found at `_dmarc.DOMAIN` or by the tree walk, exactly one,
/// valid tags, report destinations that accept the reports; and what the reports last showed.
pub fn dmarc(look: &mut Lookups, domain: &str, reported_p: Option<&str>) -> Vec<Finding> {
    let finding = |severity, code, message: String, fix: Option<String>| {
        Finding::new(domain, "dmarc", severity, code, message, fix)
    };
    let Some((at, records)) = dmarc_records(look, domain) else {
        return Vec::new(); // asked next wave
    };
    let records = match records {
        Ok(records) => records,
        Err(why) => {
            return vec![Finding::unanswered(
                domain,
                "dmarc",
                &format!("_dmarc.{domain}"),
                &why,
            )]
        }
    };
    let mut findings = Vec::new();
    let record = match records.as_slice() {
        [] => {
            return vec![finding(
                Severity::Error,
                "dmarc_missing",
                format!(
                    "no DMARC record at _dmarc.{domain} or above it: receivers apply no policy \
                     and send no reports"
                ),
                Some(format!(
                    "publish a TXT record at _dmarc.{domain}: \"v=DMARC1; p=none; rua=mailto:...\""
                )),
            )]
        }
        [one] => one.clone(),
        several => {
            return vec![finding(
                Severity::Error,
                "dmarc_several",
                format!(
                    "_dmarc.{at} has {} DMARC records: receivers take that for no policy at all \
                     (RFC 9989 section 4.10)",
                    several.len()
                ),
                Some(format!("keep one TXT record at _dmarc.{at}")),
            )]
        }
    };
    if at != domain {
        findings.push(finding(
            Severity::Info,
            "dmarc_tree_walk",
            format!(
                "no record at _dmarc.{domain}: receivers find _dmarc.{at} by the DNS tree walk \
                 (RFC 9989 section 4.10), whose sp (or p) applies"
            ),
            None,
        ));
    } else {
        findings.push(finding(
            Severity::Info,
            "dmarc_found",
            format!("_dmarc.{domain}: {record}"),
            None,
        ));
    }
    let tags = tag_list(&record);
    findings.extend(dmarc_tags(domain, &tags));
    for (tag, destinations) in tags.iter().filter(|(t, _)| t == "rua" || t == "ruf") {
        for destination in destinations.split(',') {
            match has_scheme(destination) {
                true => {
                    findings.extend(destination_authorised(look, domain, &at, tag, destination))
                }
                false => findings.push(finding(
                    Severity::Error,
                    "dmarc_uri_invalid",
                    format!(
                        "{tag}={} is not a URI (no mailto:): receivers discard it and send no \
                         reports there (RFC 9989 section 4.8)",
                        destination.trim()
                    ),
                    Some(format!("write {tag}=mailto:{}", destination.trim())),
                )),
            }
        }
    }
    let published_p = tags
        .iter()
        .find(|(t, _)| t == "p")
        .map(|(_, v)| v.to_ascii_lowercase());
    if let (Some(reported), Some(published)) = (reported_p, published_p.as_deref()) {
        if reported != published {
            findings.push(finding(
                Severity::Info,
                "dmarc_changed_since_reports",
                format!(
                    "DNS publishes p={published}; the latest reports show p={reported} (the \
                     record changed since, or receivers cache it)"
                ),
                None,
            ));
        }
    }
    findings
}

/// The DMARC records at `_dmarc.DOMAIN`, else at the nearest parent that has one (the tree
/// walk, RFC 9989 section 4.10, at most 8 names up); `None` while a name is pending.
fn dmarc_records(
    look: &mut Lookups,
    domain: &str,
) -> Option<(String, Result<Vec<String>, String>)> {
    for at in tree_walk(domain) {
        match look.get(&format!("_dmarc.{at}"), Kind::Txt) {
            Got::Pending => return None,
            Got::Failed(why) => return Some((at, Err(why))),
            Got::Missing => continue,
            Got::Records(texts) => {
                let found: Vec<String> = texts.into_iter().filter(|t| is_dmarc_record(t)).collect();
                if !found.is_empty() {
                    return Some((at, Ok(found)));
                }
            }
        }
    }
    Some((domain.to_string(), Ok(Vec::new())))
}

/// `tag=value` pairs, tags lower-cased, values trimmed.
fn tag_list(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(t, v)| (t.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect()
}

fn dmarc_tags(domain: &str, tags: &[(String, String)]) -> Vec<Finding> {
    let finding = |severity, code, message: String, fix: Option<String>| {
        Finding::new(domain, "dmarc", severity, code, message, fix)
    };
    let mut findings = Vec::new();
    for (tag, value) in tags {
        let lower = value.to_ascii_lowercase();
        let valid = match tag.as_str() {
            "p" | "sp" | "np" => matches!(lower.as_str(), "none" | "quarantine" | "reject"),
            "adkim" | "aspf" => matches!(lower.as_str(), "r" | "s"),
            "t" | "psd" if tag == "t" => matches!(lower.as_str(), "y" | "n"),
            "psd" => matches!(lower.as_str(), "y" | "n" | "u"),
            "fo" => lower
                .split(':')
                .all(|o| matches!(o.trim(), "0" | "1" | "d" | "s")),
            _ => true,
        };
        if OBSOLETE_DMARC_TAGS.contains(&tag.as_str()) {
            findings.push(finding(
                Severity::Warning,
                "dmarc_obsolete_tag",
                format!(
                    "{tag}={value} was removed by RFC 9989 (section 9.3): receivers following it \
                     ignore it{}",
                    if tag == "pct" {
                        ", older ones still sample by it"
                    } else {
                        ""
                    }
                ),
                Some(format!("remove {tag}={value}")),
            ));
        } else if !DMARC_TAGS.contains(&tag.as_str()) {
            findings.push(finding(
                Severity::Warning,
                "dmarc_unknown_tag",
                format!("{tag}={value} is not a DMARC tag: receivers ignore it"),
                Some(format!("remove {tag}={value}")),
            ));
        } else if !valid {
            findings.push(finding(
                Severity::Error,
                "dmarc_invalid_value",
                format!("{tag}={value} is not a valid value for {tag} (RFC 9989 section 4.7)"),
                None,
            ));
        }
    }
    if !tags.iter().any(|(t, _)| t == "p") {
        findings.push(finding(
            Severity::Warning,
            "dmarc_no_p",
            "the record has no p=: receivers read it as p=none".into(),
            Some("add p=none (then quarantine, then reject)".into()),
        ));
    }
    findings
}

/// Whether a `rua`/`ruf` element starts with a URI scheme (`mailto:`): RFC 9989 section 4.8
/// has the values be URIs (RFC 3986 section 3.1: a letter, then letters, digits, + - .).
fn has_scheme(destination: &str) -> bool {
    destination
        .trim()
        .split_once(':')
        .is_some_and(|(scheme, _)| {
            scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        })
}

/// A `rua`/`ruf` address outside the domain's organisation receives reports only when its
/// domain publishes `AT._report._dmarc.DEST`, AT being the domain whose record named it
/// (RFC 9990, "Verifying External Destinations", step 3: the domain the policy was
/// retrieved from); otherwise receivers send it nothing.
fn destination_authorised(
    look: &mut Lookups,
    domain: &str,
    at: &str,
    tag: &str,
    destination: &str,
) -> Option<Finding> {
    let address = destination.trim();
    let address = address
        .strip_prefix("mailto:")
        .or_else(|| address.strip_prefix("MAILTO:"))
        .unwrap_or(address);
    let address = address.split('!').next().unwrap_or(address);
    let dest = address
        .rsplit_once('@')?
        .1
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if organizational_domain(&dest) == organizational_domain(domain) {
        return None;
    }
    let name = format!("{at}._report._dmarc.{dest}");
    let (severity, code, message, fix) = match look.get(&name, Kind::Txt) {
        Got::Pending => return None,
        Got::Failed(why) => return Some(Finding::unanswered(domain, "dmarc", &name, &why)),
        Got::Records(texts) if texts.iter().any(|t| is_dmarc_record(t)) => (
            Severity::Info,
            "dmarc_destination_authorised",
            format!("{tag} {address}: {dest} accepts reports for {domain} ({name})"),
            None,
        ),
        _ => (
            Severity::Error,
            "dmarc_destination_unauthorised",
            format!(
                "{tag} {address} is outside {domain}, and {dest} does not publish {name}: \
                 receivers send it no reports"
            ),
            Some(format!("ask {dest} to publish TXT {name} \"v=DMARC1\"")),
        ),
    };
    Some(Finding::new(domain, "dmarc", severity, code, message, fix))
}

/// A DKIM key seen signing the domain's mail in the period.
#[derive(Debug, Clone)]
pub struct SelectorUse {
    pub signing_domain: String,
    pub selector: String,
    pub messages: u64,
    pub last_seen: String,
    /// It signed in the last days of the domain's reports.
    pub recent: bool,
    /// A signature with it passed at least once in the period.
    pub verified: bool,
}

/// RSA keys shorter than this are an error (RFC 8301 section 3.2), shorter than the second
/// a warning.
const RSA_MINIMUM_BITS: usize = 1024;
const RSA_RECOMMENDED_BITS: usize = 2048;

/// The key record of a selector that signed the domain's mail.
pub fn dkim_key(look: &mut Lookups, domain: &str, key: &SelectorUse) -> Option<Finding> {
    let name = format!("{}._domainkey.{}", key.selector, key.signing_domain);
    let finding = |severity, code, message: String, fix: Option<String>| {
        Some(Finding::new(domain, "dkim", severity, code, message, fix).about(&name))
    };
    let used = format!(
        "{} messages signed with it, last on {}",
        key.messages, key.last_seen
    );
    let texts = match look.get(&name, Kind::Txt) {
        Got::Pending => return None,
        Got::Failed(why) => {
            return Some(Finding::unanswered(domain, "dkim", &name, &why).about(&name))
        }
        Got::Missing if !key.verified => {
            return finding(
                Severity::Warning,
                "dkim_key_never_verified",
                format!(
                    "{name} has no key record, and no signature with it passed in the period \
                     ({used}): a forgery naming {}, or a key you never published",
                    key.signing_domain
                ),
                Some(format!(
                    "if one of your senders signs with {}, publish its key at {name}",
                    key.selector
                )),
            );
        }
        Got::Missing => {
            let severity = if key.recent {
                Severity::Error
            } else {
                Severity::Warning
            };
            return finding(
                severity,
                "dkim_key_missing",
                format!("{name} has no key record ({used}): signatures with it fail"),
                Some(format!(
                    "publish the key at {name}, or stop signing with {}",
                    key.selector
                )),
            );
        }
        Got::Records(texts) => texts,
    };
    let record = texts.first()?;
    let tags = tag_list(record);
    let tag = |t: &str| tags.iter().find(|(k, _)| k == t).map(|(_, v)| v.clone());
    // An empty p= revokes the key; no p= at all is no key record (RFC 6376 section 3.6.1).
    let Some(public_key) = tag("p") else {
        return finding(
            Severity::Error,
            "dkim_key_invalid",
            format!(
                "{name} has no p= tag, which a key record must have (RFC 6376 section 3.6.1): \
                 signatures with it fail ({used})"
            ),
            Some(format!("publish the public key at {name} as p=...")),
        );
    };
    let public_key: String = public_key.split_whitespace().collect();
    if public_key.is_empty() {
        let severity = if key.recent {
            Severity::Error
        } else {
            Severity::Info
        };
        return finding(
            severity,
            "dkim_key_revoked",
            format!("{name} is revoked (empty p=, RFC 6376 section 3.6.1) ({used})"),
            key.recent
                .then(|| format!("sign with a published key instead of {}", key.selector)),
        );
    }
    if let Err(error) = mail_auth::common::verify::DomainKey::parse(record.as_bytes()) {
        return finding(
            Severity::Error,
            "dkim_key_invalid",
            format!("{name} is not a valid key record ({error}) ({used})"),
            None,
        );
    }
    let testing = tag("t").is_some_and(|t| t.split(':').any(|f| f.trim() == "y"));
    let key_type = tag("k")
        .unwrap_or_else(|| "rsa".into())
        .to_ascii_lowercase();
    let bits = if key_type == "rsa" {
        rsa_bits(&public_key)
    } else {
        None
    };
    match bits {
        Some(bits) if bits < RSA_MINIMUM_BITS => finding(
            Severity::Error,
            "dkim_key_weak",
            format!("{name} is an RSA key of {bits} bits: receivers must not accept keys under 1024 (RFC 8301)"),
            Some(format!("publish a {RSA_RECOMMENDED_BITS}-bit key under a new selector and sign with it")),
        ),
        Some(bits) if bits < RSA_RECOMMENDED_BITS => finding(
            Severity::Warning,
            "dkim_key_short",
            format!("{name} is an RSA key of {bits} bits; 2048 is recommended (RFC 8301)"),
            Some(format!("publish a {RSA_RECOMMENDED_BITS}-bit key under a new selector and sign with it")),
        ),
        _ if testing => finding(
            Severity::Warning,
            "dkim_testing",
            format!("{name} has t=y: receivers may treat its signatures as absent (RFC 6376 section 3.6.1)"),
            Some("remove t=y once signing works".into()),
        ),
        _ => finding(
            Severity::Info,
            "dkim_key_ok",
            format!(
                "{name}: {}{} ({used})",
                key_type,
                bits.map(|b| format!(" {b} bits")).unwrap_or_default()
            ),
            None,
        ),
    }
}

/// The modulus size of an RSA key given as base64 SubjectPublicKeyInfo (RFC 6376 section
/// 3.6.1) or, as some publish it, a bare RSAPublicKey.
fn rsa_bits(base64_key: &str) -> Option<usize> {
    use spki::der::Decode;
    let der = base64::engine::general_purpose::STANDARD
        .decode(base64_key)
        .ok()?;
    let rsa_der = match spki::SubjectPublicKeyInfoRef::from_der(&der) {
        Ok(info) => info.subject_public_key.raw_bytes().to_vec(),
        Err(_) => der,
    };
    let key = pkcs1::RsaPublicKey::from_der(&rsa_der).ok()?;
    let modulus = key.modulus.as_bytes();
    let leading = modulus.iter().take_while(|b| **b == 0).count();
    let significant = &modulus[leading..];
    let first = *significant.first()?;
    Some((significant.len() - 1) * 8 + (8 - first.leading_zeros() as usize))
}

/// A selector the user listed in the config (`dkim_selectors`) that signed nothing in the
/// period: published (a key to retire, or a sender that stopped) or not.
pub fn listed_selector(
    look: &mut Lookups,
    domain: &str,
    selector: &str,
    since: &str,
) -> Option<Finding> {
    let name = format!("{selector}._domainkey.{domain}");
    let (severity, code, message, fix) = match look.get(&name, Kind::Txt) {
        Got::Pending => return None,
        Got::Failed(why) => {
            return Some(Finding::unanswered(domain, "dkim", &name, &why).about(&name))
        }
        Got::Missing => (
            Severity::Error,
            "dkim_listed_not_published",
            format!("{name} is listed in the configuration but has no key record"),
            Some(format!(
                "publish the key at {name}, or remove {selector} from dkim_selectors"
            )),
        ),
        Got::Records(_) => (
            Severity::Info,
            "dkim_selector_unused",
            format!("{name} is published but signed nothing seen since {since}"),
            Some(format!(
                "if {selector} is retired, revoke it (p=) and later remove it"
            )),
        ),
    };
    Some(Finding::new(domain, "dkim", severity, code, message, fix).about(&name))
}

/// MTA-STS (`_mta-sts`, RFC 8461 section 3.1) and TLS reporting (`_smtp._tls`, RFC 8460
/// section 3), when the domain uses them: it receives TLS reports or publishes MTA-STS.
pub fn smtp_tls(look: &mut Lookups, domain: &str, tls_reports: bool) -> Vec<Finding> {
    let sts_name = format!("_mta-sts.{domain}");
    let rpt_name = format!("_smtp._tls.{domain}");
    let sts = look.get(&sts_name, Kind::Txt);
    let rpt = look.get(&rpt_name, Kind::Txt);
    if matches!(sts, Got::Pending) || matches!(rpt, Got::Pending) {
        return Vec::new();
    }
    let mut findings = Vec::new();
    let finding = |record, severity, code, message: String, fix: Option<String>| {
        Finding::new(domain, record, severity, code, message, fix)
    };
    let sts_published = match &sts {
        Got::Records(texts) => {
            let records: Vec<&String> = texts
                .iter()
                .filter(|t| t.trim_start().starts_with("v=STSv1"))
                .collect();
            match records.as_slice() {
                [] => false,
                [one] => {
                    let valid = mail_auth::mta_sts::MtaSts::parse(one.as_bytes()).is_ok();
                    findings.push(if valid {
                        finding(
                            "mta-sts",
                            Severity::Info,
                            "mta_sts_found",
                            format!("{sts_name}: {one}"),
                            None,
                        )
                    } else {
                        finding(
                            "mta-sts",
                            Severity::Error,
                            "mta_sts_invalid",
                            format!("{sts_name} is not a valid MTA-STS record: {one}"),
                            Some("publish \"v=STSv1; id=...\"".into()),
                        )
                    });
                    true
                }
                several => {
                    findings.push(finding("mta-sts", Severity::Error, "mta_sts_several",
                        format!("{sts_name} has {} MTA-STS records: senders take that for none (RFC 8461 section 3.1)", several.len()),
                        Some(format!("keep one TXT record at {sts_name}"))));
                    true
                }
            }
        }
        Got::Failed(why) => {
            findings.push(Finding::unanswered(domain, "mta-sts", &sts_name, why));
            false
        }
        _ => false,
    };
    if !(sts_published || tls_reports) {
        return findings;
    }
    match rpt {
        Got::Records(texts) => {
            let records: Vec<&String> = texts
                .iter()
                .filter(|t| t.trim_start().starts_with("v=TLSRPTv1"))
                .collect();
            match records.as_slice() {
                [one] if mail_auth::mta_sts::TlsRpt::parse(one.as_bytes()).is_ok() => findings.push(
                    finding("tlsrpt", Severity::Info, "tlsrpt_found", format!("{rpt_name}: {one}"), None)),
                [] => findings.push(tlsrpt_missing(domain, &rpt_name)),
                [one] => findings.push(finding("tlsrpt", Severity::Error, "tlsrpt_invalid",
                    format!("{rpt_name} is not a valid TLS reporting record: {one}"),
                    Some("publish \"v=TLSRPTv1; rua=mailto:...\"".into()))),
                several => findings.push(finding("tlsrpt", Severity::Error, "tlsrpt_several",
                    format!("{rpt_name} has {} TLS reporting records: senders send no reports (RFC 8460 section 3)", several.len()),
                    Some(format!("keep one TXT record at {rpt_name}")))),
            }
        }
        Got::Missing => findings.push(tlsrpt_missing(domain, &rpt_name)),
        Got::Failed(why) => findings.push(Finding::unanswered(domain, "tlsrpt", &rpt_name, &why)),
        Got::Pending => {}
    }
    findings
}

fn tlsrpt_missing(domain: &str, name: &str) -> Finding {
    Finding::new(
        domain,
        "tlsrpt",
        Severity::Warning,
        "tlsrpt_missing",
        format!("{name} publishes no TLS reporting record: senders cannot tell you when TLS to your MX fails"),
        Some(format!("publish TXT {name} \"v=TLSRPTv1; rua=mailto:...\"")),
    )
}
