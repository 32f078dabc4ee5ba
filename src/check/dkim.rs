//! The DKIM key records of the selectors that signed the domain's mail (RFC 6376 section
//! 3.6.1, RFC 8301), and the selectors the user listed that signed nothing.

use super::records::tag_list;
use super::{Finding, Got, Lookups, Severity};
use crate::check::dns::Kind;
use base64::Engine;
use mail_auth::common::parse::TxtRecordParser;

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
pub fn dkim_key(look: &mut Lookups, domain: &str, key: &SelectorUse) -> Vec<Finding> {
    let name = format!("{}._domainkey.{}", key.selector, key.signing_domain);
    let finding = |severity, code, message: String, fix: Option<String>| {
        vec![Finding::new(domain, "dkim", severity, code, message, fix).about(&name)]
    };
    let used = format!(
        "{} messages signed with it, last on {}",
        key.messages, key.last_seen
    );
    let texts = match look.get(&name, Kind::Txt) {
        Got::Pending => return Vec::new(),
        Got::Failed(why) => {
            return vec![Finding::unanswered(domain, "dkim", &name, &why).about(&name)]
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
    // "TXT RRs MUST be unique for a particular selector name ... if there are multiple
    // records in an RRset, the results are undefined" (RFC 6376 section 3.6.2.2): judging
    // the first would give whichever verdict DNS happened to list first.
    let [record] = texts.as_slice() else {
        return match texts.len() {
            0 => Vec::new(),
            several => finding(
                Severity::Error,
                "dkim_key_several",
                format!(
                    "{name} has {several} TXT records: verifiers may use any of them or none \
                     (RFC 6376 section 3.6.2.2) ({used})"
                ),
                Some(format!("keep one key record at {name}")),
            ),
        };
    };
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
    // h= limits the key to the hashes listed; sha1 alone leaves it only rsa-sha1, which
    // verifiers must not accept (RFC 8301 section 3.1).
    if let Some(hashes) = tag("h").filter(|h| !lists(h, &["sha256"])) {
        return finding(
            Severity::Error,
            "dkim_key_sha1_only",
            format!(
                "{name} has h={hashes}: it may only verify rsa-sha1 signatures, which receivers \
                 must not accept (RFC 8301 section 3.1) ({used})"
            ),
            Some(format!(
                "remove h= from {name} (or write h=sha256) and sign with rsa-sha256"
            )),
        );
    }
    // s= lists the services the key is for; without `email` or `*`, mail signatures made
    // with it do not verify (RFC 6376 section 3.6.1). Receivers that verified them anyway
    // (the reports show passes) may not all do so.
    if let Some(services) = tag("s").filter(|s| !lists(s, &["email", "*"])) {
        return finding(
            match key.verified {
                true => Severity::Warning,
                false => Severity::Error,
            },
            "dkim_key_not_for_email",
            format!(
                "{name} has s={services}: the key is not for e-mail, so receivers that follow \
                 RFC 6376 section 3.6.1 fail its signatures ({used})"
            ),
            Some(format!("remove s= from {name} (or write s=email)")),
        );
    }
    // Flag names are ABNF strings, so `Y` is `y` (RFC 6376 section 3.6.1, RFC 5234 section 2.3).
    let testing =
        tag("t").is_some_and(|t| t.split(':').any(|f| f.trim().eq_ignore_ascii_case("y")));
    let key_type = tag("k")
        .unwrap_or_else(|| "rsa".into())
        .to_ascii_lowercase();
    let bits = if key_type == "rsa" {
        rsa_bits(&public_key)
    } else {
        None
    };
    // A key receivers verified signatures with in the period is usable, whatever it looks
    // like here.
    if let Some(problem) = unusable_key(&key_type, &public_key, bits).filter(|_| !key.verified) {
        return finding(
            Severity::Error,
            "dkim_key_invalid",
            format!("{name}: p= {problem}, so signatures with it fail ({used})"),
            Some(format!(
                "publish the whole public key of {} at {name}",
                key.selector
            )),
        );
    }
    // The key's size and t=y are separate findings: a short key in testing has both.
    let mut findings = match bits {
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
        _ => Vec::new(),
    };
    if testing {
        findings.extend(finding(
            Severity::Warning,
            "dkim_testing",
            format!("{name} has t=y: receivers may treat its signatures as absent (RFC 6376 section 3.6.1)"),
            Some("remove t=y once signing works".into()),
        ));
    }
    if findings.is_empty() {
        findings = finding(
            Severity::Info,
            "dkim_key_ok",
            format!(
                "{name}: {}{} ({used})",
                key_type,
                bits.map(|b| format!(" {b} bits")).unwrap_or_default()
            ),
            None,
        );
    }
    findings
}

/// Base64 as RFC 6376 section 2.4 writes it: the trailing `=` optional.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// What makes `p=` no usable key of its type, if anything: an RSA key is a
/// SubjectPublicKeyInfo (RFC 6376 section 3.6.1), an Ed25519 key its 32 bytes (RFC 8463
/// section 4.2). A key pasted cut short, or a certificate or private key pasted instead,
/// reads as no key; other key types are left to verifiers.
fn unusable_key(key_type: &str, base64_key: &str, rsa_bits: Option<usize>) -> Option<String> {
    match key_type {
        "rsa" if rsa_bits.is_none() => Some("is not an RSA public key".into()),
        "ed25519" => {
            let bytes = BASE64.decode(base64_key).map_or(0, |key| key.len());
            (bytes != 32).then(|| format!("holds {bytes} bytes, not an Ed25519 key's 32"))
        }
        _ => None,
    }
}

/// The modulus size of an RSA key given as base64 SubjectPublicKeyInfo (RFC 6376 section
/// 3.6.1) or, as some publish it, a bare RSAPublicKey.
fn rsa_bits(base64_key: &str) -> Option<usize> {
    use spki::der::Decode;
    let der = BASE64.decode(base64_key).ok()?;
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

/// Whether a colon-separated tag value (`h=sha1:sha256`, `s=email`) lists one of `items`,
/// case aside (RFC 6376 section 3.6.1 values are ABNF literals, case-insensitive).
fn lists(value: &str, items: &[&str]) -> bool {
    value
        .split(':')
        .any(|v| items.iter().any(|item| v.trim().eq_ignore_ascii_case(item)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4096-bit RSA key, whose base64 ends in `==`.
    const RSA_4096: &str = "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA18T8xF5g42bRvNz8tp71Ya0WbL/K/jw1mkZGRD7ZjWV6sbVnLieAjdN5BmL1pNOvsGrTtwgkgzWeV/eBlddfYeuFFMtFAbJqL19DWzUZG3f+YLAVOvBZ5XSjqIC4SENKxL6TfbNOgf39eMWZAAN9cj0QTQxe+7Uq+J0FEwCe9NAvJIbFB8eO9clKKXCYWVeWg7wrvV2ivdaqN7ZPvTsz0I3BdSB/4v+zH/ohvFNZgoWJP/xh1rfnjE7K9Ho8khkWlOLZ2UpBGCsPmOHe9fMUt8v9f6cXb7rg10ak32D5W6ntqDmqf0aeiEZonsMRWhp6kOP35ivaYUmZktIkrmmkPN+1ztDTDy+ywe/z+qWGv8A3B3ciE5jTDt1HK7tIFEv1PsEZb++RE942jfHaAjRmz6rOcnBg6aDZacneahFMzZCiYV+Z6+AFU5cYqjZdsLFP6wgLouFrUgPs9K1HMqi6S9GbQ9Od9w+LeZkkjaK4o1sxECkKBjjn0TQh0c/wvjgMk4VGCFRpBwaaJj0bGdy0zFXp7OD9Ft/L5GsG7ukPgRINtJIFaOmPLKXnX9hBClssW2a2LnBUseQMchoSMyAnizb2T+qUBudD0X2KfhpBEEuvOvx+0tat3Lu8epI3Y+TCJh8xDTBHoDptifxPedjUS1mcs0R+qI3jzNo0qDWQRpsCAwEAAQ==";

    /// RFC 6376 section 2.4: base64 in a key record may leave out its trailing `=`;
    /// verifiers read it, so check does too.
    #[test]
    fn keys_without_base64_padding_are_keys() {
        let unpadded = RSA_4096.trim_end_matches('=');
        assert_ne!(unpadded, RSA_4096);
        assert_eq!(rsa_bits(unpadded), Some(4096));
        assert_eq!(unusable_key("rsa", unpadded, rsa_bits(unpadded)), None);
        let ed25519 = "yV+nEIHBGEr1P30v9iBqHIcy/1z2rErVmTjf9eSVho8";
        assert_eq!(unusable_key("ed25519", ed25519, None), None);
        assert!(unusable_key("ed25519", RSA_4096, None).is_some());
        assert!(unusable_key("rsa", "AAAAAAAA", rsa_bits("AAAAAAAA")).is_some());
    }
}
