//! The DMARC (RFC 9989), DKIM key (RFC 6376) and SMTP TLS (RFC 8461, RFC 8460) records of
//! a domain, checked as DNS publishes them. Pure functions over [`Lookups`]: a name DNS did
//! not answer gives an `unknown` finding, never an error.

use super::{Finding, Got, Lookups, Severity};
use crate::check::dns::Kind;
use crate::parse::dmarc_record::{
    is_dmarc_record, is_public_suffix, is_registry_record, tree_walk, WalkEnd,
};
use crate::transform::alignment::organizational_domain;
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
    let Some((walk, unanswered)) = dmarc_walk(look, domain) else {
        return Vec::new(); // asked next wave
    };
    let mut findings = Vec::new();
    if let Some((several_at, several)) = &walk.several {
        let applied = match (&unanswered, &walk.found) {
            (Some((at, _)), _) => {
                format!(", and what applies instead is unknown: _dmarc.{at} did not answer")
            }
            (None, Some((at, _))) => format!(" and apply the record at _dmarc.{at}"),
            (None, None) => ", so they apply no policy".to_string(),
        };
        findings.push(finding(
            Severity::Error,
            "dmarc_several",
            format!(
                "_dmarc.{several_at} has {} DMARC records: receivers discard them all (RFC \
                 9989 section 4.10){applied}",
                several.len(),
            ),
            Some(format!("keep one TXT record at _dmarc.{several_at}")),
        ));
    }
    // Above a name that did not answer nothing can be said; several records below it are
    // discarded whatever the walk would find there, so they are said all the same.
    if let Some((at, why)) = unanswered {
        findings.push(Finding::unanswered(
            domain,
            "dmarc",
            &format!("_dmarc.{at}"),
            &why,
        ));
        return findings;
    }
    // Section 4.7: a DMARC record starts with exactly "v=DMARC1;". A TXT record that means to
    // be one and does not is ignored; beside a valid record it would, fixed, be a second one
    // (and receivers discard both, section 4.10).
    let unreadable = unreadable_record(look, domain);
    if let Some(text) = &unreadable {
        let beside_valid = walk.found.as_ref().is_some_and(|(at, _)| at == domain);
        findings.push(finding(
            match beside_valid {
                true => Severity::Warning,
                false => Severity::Error,
            },
            "dmarc_malformed_version",
            format!(
                "_dmarc.{domain} has \"{text}\", which does not start with exactly v=DMARC1; \
                 (order, case and the semicolon count, RFC 9989 section 4.7): receivers ignore \
                 it"
            ),
            Some(match beside_valid {
                true => format!(
                    "remove it, or merge what it says into the DMARC record at _dmarc.{domain}"
                ),
                false => format!("start the record at _dmarc.{domain} with exactly v=DMARC1;"),
            }),
        ));
    }
    let Some((at, record)) = walk.found else {
        if walk.several.is_none() && unreadable.is_none() {
            findings.push(finding(
                Severity::Error,
                "dmarc_missing",
                format!(
                    "no DMARC record at _dmarc.{domain} or above it: receivers apply no policy \
                     and send no reports"
                ),
                Some(format!(
                    "publish a TXT record at _dmarc.{domain}: \"v=DMARC1; p=none; rua=mailto:...\""
                )),
            ));
        }
        return findings;
    };
    let tags = dmarc_tag_list(&record);
    let tag = |name: &str| {
        tags.iter()
            .find(|(t, _)| t == name)
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let psd = tag("psd").as_deref() == Some("y");
    if at != domain {
        // A registry's record: the domain's owner can only publish a record of its own.
        let registry = is_registry_record(&at, psd);
        findings.push(finding(
            match registry {
                true => Severity::Warning,
                false => Severity::Info,
            },
            "dmarc_tree_walk",
            format!(
                "no {}record at _dmarc.{domain}: receivers find _dmarc.{at} by the DNS tree \
                 walk (RFC 9989 section 4.10), whose sp (or p) applies{}",
                if walk.several.is_some() {
                    "usable "
                } else {
                    ""
                },
                match registry {
                    true => "; it is a public suffix's, its registry's to change",
                    false => "",
                }
            ),
            registry.then(|| format!("publish a DMARC record of your own at _dmarc.{domain}")),
        ));
    } else {
        findings.push(finding(
            Severity::Info,
            "dmarc_found",
            format!("_dmarc.{domain}: {record}"),
            None,
        ));
    }
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
    // RFC 9989 section 4.10.2: below a record with psd=y, each name is an organizational
    // domain of its own, so mail from a subdomain no longer aligns with the domain.
    // Only the record's own domain can remove it; one found above is said above.
    if psd && at == domain && !is_public_suffix(&at) {
        findings.push(finding(
            Severity::Warning,
            "dmarc_psd",
            format!(
                "_dmarc.{at} has psd=y, which says the names below {at} belong to other \
                 organizations (a public suffix, RFC 9989 sections 3.2.15 and 4.7): receivers \
                 take each as its own organizational domain (section 4.10.2), so a subdomain's \
                 MAIL FROM or DKIM d= no longer aligns with {at}"
            ),
            Some(format!(
                "unless {at} registers names for others, remove psd=y from _dmarc.{at}"
            )),
        ));
    }
    // Found above the domain, the record's sp (else its p) is the domain's policy (RFC 9989
    // section 4.10.1), and what receivers report for it; some copy the record's p as it is.
    let (name, published_p) = match (at != domain, tag("sp")) {
        (true, Some(sp)) => ("sp", Some(sp)),
        _ => ("p", tag("p")),
    };
    let as_written = |reported: &str| at != domain && tag("p").as_deref() == Some(reported);
    if let (Some(reported), Some(published)) = (reported_p, published_p.as_deref()) {
        if reported != published && !as_written(reported) {
            findings.push(finding(
                Severity::Info,
                "dmarc_changed_since_reports",
                format!(
                    "_dmarc.{at} publishes {name}={published}; the latest reports show \
                     p={reported} (the record changed since, or receivers cache it)"
                ),
                None,
            ));
        }
    }
    findings
}

/// A TXT record at `_dmarc.DOMAIN` that mentions `v=DMARC1` but does not start with it
/// exactly (`p=reject; v=DMARC1`, `v=dmarc1; ...`, `v=DMARC1 p=reject`).
fn unreadable_record(look: &mut Lookups, domain: &str) -> Option<String> {
    let Got::Records(texts) = look.get(&format!("_dmarc.{domain}"), Kind::Txt) else {
        return None;
    };
    texts
        .into_iter()
        .find(|text| !is_dmarc_record(text) && text.to_ascii_lowercase().contains("v=dmarc1"))
}

/// The DMARC record at `_dmarc.DOMAIN`, else its Organizational Domain's (the tree walk, RFC
/// 9989 section 4.10, [`WalkEnd::take`]); `None` while a name is pending; beside the walk as
/// far as DNS answered, the name that did not answer and why.
fn dmarc_walk(look: &mut Lookups, domain: &str) -> Option<(WalkEnd, Option<(String, String)>)> {
    let mut walk = WalkEnd::default();
    for at in tree_walk(domain) {
        let texts = match look.get(&format!("_dmarc.{at}"), Kind::Txt) {
            Got::Pending => return None,
            // Above a record found already: let go, as dns.rs does.
            Got::Failed(_) if walk.found.is_some() => break,
            Got::Failed(why) => return Some((walk, Some((at, why)))),
            Got::Missing => Vec::new(),
            Got::Records(texts) => texts,
        };
        if walk.take(&at, texts) {
            break;
        }
    }
    Some((walk, None))
}

/// `tag=value` pairs (RFC 6376 section 3.2), trimmed, names as written: a DKIM key record's
/// are case-sensitive (its `P=` is no `p=`).
pub(super) fn tag_list(record: &str) -> Vec<(String, String)> {
    record
        .split(';')
        .filter_map(|part| part.split_once('='))
        .map(|(t, v)| (t.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// A DMARC record's tags, names lower-cased: RFC 9989's grammar writes them as ABNF strings,
/// which match either case (RFC 5234 section 2.3).
fn dmarc_tag_list(record: &str) -> Vec<(String, String)> {
    let mut tags = tag_list(record);
    for (name, _) in &mut tags {
        name.make_ascii_lowercase();
    }
    tags
}

fn dmarc_tags(domain: &str, tags: &[(String, String)]) -> Vec<Finding> {
    let finding = |severity, code, message: String, fix: Option<String>| {
        Finding::new(domain, "dmarc", severity, code, message, fix)
    };
    let mut findings = Vec::new();
    // RFC 9989 section 4.7 takes DKIM's tag-list syntax, in which a tag written twice makes
    // the whole list invalid (RFC 6376 section 3.2): receivers may read either value, or none.
    let mut seen = std::collections::BTreeSet::new();
    let twice: std::collections::BTreeSet<&str> = tags
        .iter()
        .filter(|(tag, _)| !seen.insert(tag.as_str()))
        .map(|(tag, _)| tag.as_str())
        .collect();
    for tag in twice {
        findings.push(finding(
            Severity::Error,
            "dmarc_duplicate_tag",
            format!(
                "the DMARC record of {domain} has {tag}= more than once, which makes it \
                     invalid (RFC 6376 section 3.2, the syntax RFC 9989 section 4.7 uses)"
            ),
            Some(format!("keep one {tag}= in the record")),
        ));
    }
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
    let (address, dest) = report_address(destination)?;
    if organizational_domain(&dest) == organizational_domain(domain) {
        return None;
    }
    let name = format!("{at}._report._dmarc.{dest}");
    let unauthorised = |message: String| {
        (
            Severity::Error,
            "dmarc_destination_unauthorised",
            message,
            Some(format!("ask {dest} to publish TXT {name} \"v=DMARC1\"")),
        )
    };
    let (severity, code, message, fix) = match look.get(&name, Kind::Txt) {
        Got::Pending => return None,
        Got::Failed(why) => {
            return Some(Finding::unanswered(domain, "dmarc", &name, &why).about(&name))
        }
        Got::Records(texts) if texts.iter().any(|t| is_dmarc_record(t)) => {
            let record = texts.iter().find(|t| is_dmarc_record(t))?;
            // Step 9: the destination may name where its reports go instead, at its own
            // host; an override at another host stops reports to either address.
            let overrides: Vec<(String, String)> = dmarc_tag_list(record)
                .into_iter()
                .find(|(t, _)| t == tag)
                .map(|(_, uris)| uris.split(',').filter_map(report_address).collect())
                .unwrap_or_default();
            let elsewhere = overrides.iter().find(|(_, host)| *host != dest);
            let named: Vec<&str> = overrides.iter().map(|(uri, _)| uri.as_str()).collect();
            match elsewhere {
                Some((uri, host)) => unauthorised(format!(
                    "{tag} {address}: {name} sends the reports on to {uri}, at {host}, not \
                     {dest}: receivers send reports to neither (RFC 9990, \"Verifying External \
                     Destinations\")"
                )),
                None if !named.is_empty() => (
                    Severity::Info,
                    "dmarc_destination_authorised",
                    format!(
                        "{tag} {address}: {dest} accepts reports for {domain} and has them sent \
                         to {} ({name})",
                        named.join(", ")
                    ),
                    None,
                ),
                None => (
                    Severity::Info,
                    "dmarc_destination_authorised",
                    format!("{tag} {address}: {dest} accepts reports for {domain} ({name})"),
                    None,
                ),
            }
        }
        _ => unauthorised(format!(
            "{tag} {address} is outside {domain}, and {dest} does not publish {name}: \
             receivers send it no reports"
        )),
    };
    Some(Finding::new(domain, "dmarc", severity, code, message, fix).about(&name))
}

/// A report URI's address (a `mailto:` taken off, a size limit `!10m` too) and its host,
/// lower-cased (RFC 9990, "Verifying External Destinations", step 1).
fn report_address(uri: &str) -> Option<(String, String)> {
    let address = uri.trim();
    let address = address
        .strip_prefix("mailto:")
        .or_else(|| address.strip_prefix("MAILTO:"))
        .unwrap_or(address);
    let address = address.split('!').next().unwrap_or(address);
    let host = address
        .rsplit_once('@')?
        .1
        .trim_end_matches('.')
        .to_ascii_lowercase();
    Some((address.to_string(), host))
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
                // RFC 8461 section 3.1: records that do not begin "v=STSv1;" are discarded.
                .filter(|t| {
                    t.trim_start()
                        .strip_prefix("v=STSv1")
                        .is_some_and(|rest| rest.trim_start().starts_with(';'))
                })
                .collect();
            match records.as_slice() {
                [] => false,
                [one] => {
                    let valid = mail_auth::mta_sts::MtaSts::parse(one.as_bytes()).is_ok()
                        && has_valid_sts_id(one);
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
                            format!(
                                "{sts_name} is not a valid MTA-STS record (an id is 1 to 32 \
                                 letters and digits, RFC 8461 section 3.1): {one}"
                            ),
                            Some("publish \"v=STSv1; id=...\" with an id of letters and digits, such as 20260101T000000".into()),
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

/// The `id` of an MTA-STS record: 1 to 32 letters and digits (RFC 8461 section 3.1).
fn has_valid_sts_id(record: &str) -> bool {
    record
        .split(';')
        .filter_map(|field| field.split_once('='))
        .find(|(name, _)| name.trim() == "id")
        .is_some_and(|(_, id)| {
            let id = id.trim();
            (1..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}
