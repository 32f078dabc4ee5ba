//! Recomputing DMARC alignment from the raw auth results, to explain *why* a source fails.
//!
//! The receiver's `policy_evaluated` stays authoritative for every total; this diagnosis is
//! computed once per record at ingest (from the published adkim/aspf and the public suffix
//! list) and stored beside it, so reports can say "SPF passes, but for your ESP's bounce
//! domain" and flag records where our verdict and the receiver's disagree.

use crate::model::{PolicyPublished, Record};

/// The recomputed view of one record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Alignment {
    pub dkim_aligned: bool,
    pub spf_aligned: bool,
    pub diagnosis: Diagnosis,
}

impl Alignment {
    pub fn dmarc_pass(&self) -> bool {
        self.dkim_aligned || self.spf_aligned
    }
}

/// Why a record passes or fails, from its auth results. Codes are stable (JSON, SQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Diagnosis {
    /// DKIM and SPF both pass and align.
    Aligned,
    /// DKIM aligns; SPF passes only for another domain (typical of an ESP set up with DKIM).
    DkimAlignedSpfOtherDomain,
    /// DKIM aligns and SPF fails: the signature survived forwarding, SPF did not.
    Forwarded,
    /// SPF aligns; DKIM passes only for a third party's domain.
    SpfAlignedDkimThirdParty,
    /// SPF aligns; no DKIM signature passes.
    SpfAlignedOnly,
    /// Nothing aligns; SPF passes for another domain, e.g. an ESP's bounce domain.
    SpfOtherDomain,
    /// Nothing aligns; DKIM passes, but signed by a third party.
    DkimThirdParty,
    /// Nothing aligns, but DKIM or SPF passes for the From domain's own organisation (a
    /// subdomain or parent of it), which strict alignment (adkim=s, aspf=s) does not accept.
    StrictAlignment,
    /// No DKIM signature or SPF check passes at all: spoofing or a broken setup.
    NoAuthentication,
}

impl Diagnosis {
    pub fn code(self) -> &'static str {
        match self {
            Diagnosis::Aligned => "aligned",
            Diagnosis::DkimAlignedSpfOtherDomain => "dkim_aligned_spf_other_domain",
            Diagnosis::Forwarded => "forwarded",
            Diagnosis::SpfAlignedDkimThirdParty => "spf_aligned_dkim_third_party",
            Diagnosis::SpfAlignedOnly => "spf_aligned_only",
            Diagnosis::SpfOtherDomain => "spf_other_domain",
            Diagnosis::DkimThirdParty => "dkim_third_party",
            Diagnosis::StrictAlignment => "strict_alignment",
            Diagnosis::NoAuthentication => "no_authentication",
        }
    }
}

/// How closely the domain of a passing result matches the From domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Closeness {
    Unrelated,
    SameOrganization,
    SameName,
}

impl Closeness {
    /// RFC 7489 section 3.1: strict means the same name; relaxed means the same
    /// organizational domain.
    fn aligns(self, strict: bool) -> bool {
        self == Closeness::SameName || (!strict && self == Closeness::SameOrganization)
    }
}

/// What alignment needs of a record, whatever adkim/aspf the report publishes. A report may
/// list its records before its `<policy_published>`, so rows are built from these as the
/// records are read and settled once the whole report is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlignmentFacts {
    dkim: Closeness,
    spf: Closeness,
    dkim_pass: bool,
    spf_pass: bool,
    own_dkim_failed: bool,
}

impl AlignmentFacts {
    pub fn of(record: &Record) -> AlignmentFacts {
        let from = record.header_from.as_deref().map(normalize);
        // The closest of the passing results (none without a From domain to align with). A
        // pass for a domain the report does not name (an empty <domain>, and for SPF no
        // envelope_from either) aligns as the receiver's own verdict for the mechanism says
        // (policy_evaluated: an aligned pass or not): "another domain" would be a guess.
        let closest = |results: &mut dyn Iterator<Item = (Option<&str>, Option<&str>)>,
                       receiver_verdict: Option<&str>| {
            results
                .filter(|(_, result)| is_pass(*result))
                .map(|(domain, _)| {
                    from.map_or(Closeness::Unrelated, |f| match named(domain) {
                        Some(domain) => closeness(Some(domain), f),
                        None if is_pass(receiver_verdict) => Closeness::SameName,
                        None => Closeness::Unrelated,
                    })
                })
                .max()
        };
        let dkim = closest(
            &mut record
                .dkim_results
                .iter()
                .map(|r| (r.domain.as_deref(), r.result.as_deref())),
            record.dkim.as_deref(),
        );
        let mail_from = record.envelope_from.as_deref().map(address_domain);
        let spf = closest(
            &mut spf_checks(record).map(|r| (checked_domain(r, mail_from), r.result.as_deref())),
            record.spf.as_deref(),
        );
        // The From domain's own signature (its organisation signed), not verified: with
        // another party's pass beside it, what a mailing list that changed the message
        // leaves, or a sender of the domain's whose key is missing or unreachable.
        let own_dkim_failed = from.is_some_and(|from| {
            record.dkim_results.iter().any(|r| {
                is_unverified(r.result.as_deref())
                    && closeness(r.domain.as_deref(), from) >= Closeness::SameOrganization
            })
        });
        AlignmentFacts {
            dkim: dkim.unwrap_or(Closeness::Unrelated),
            spf: spf.unwrap_or(Closeness::Unrelated),
            dkim_pass: dkim.is_some(),
            spf_pass: spf.is_some(),
            own_dkim_failed,
        }
    }

    /// A DKIM signature of the From domain's organisation failed (`records.own_dkim_failed`).
    pub fn own_dkim_failed(self) -> bool {
        self.own_dkim_failed
    }

    /// The alignment under the report's adkim/aspf (relaxed unless `s`).
    pub fn under(self, policy: &PolicyPublished) -> Alignment {
        let strict = |mode: &Option<String>| mode.as_deref() == Some("s");
        let mut alignment = classify(
            self.dkim.aligns(strict(&policy.adkim)),
            self.spf.aligns(strict(&policy.aspf)),
            self.dkim_pass,
            self.spf_pass,
        );
        // The domain's own key or MAIL FROM, refused only for not being the same name: the
        // fix is the name (or relaxed alignment), not setting DKIM or SPF up (RFC 9989
        // section 4.4: strict mode needs the exact domain).
        let own =
            |pass: bool, closeness: Closeness| pass && closeness == Closeness::SameOrganization;
        if !alignment.dmarc_pass()
            && (own(self.dkim_pass, self.dkim) || own(self.spf_pass, self.spf))
        {
            alignment.diagnosis = Diagnosis::StrictAlignment;
        }
        alignment
    }
}

fn classify(dkim_aligned: bool, spf_aligned: bool, dkim_pass: bool, spf_pass: bool) -> Alignment {
    let diagnosis = match (dkim_aligned, spf_aligned) {
        (true, true) => Diagnosis::Aligned,
        (true, false) if spf_pass => Diagnosis::DkimAlignedSpfOtherDomain,
        (true, false) => Diagnosis::Forwarded,
        (false, true) if dkim_pass => Diagnosis::SpfAlignedDkimThirdParty,
        (false, true) => Diagnosis::SpfAlignedOnly,
        (false, false) if spf_pass => Diagnosis::SpfOtherDomain,
        (false, false) if dkim_pass => Diagnosis::DkimThirdParty,
        (false, false) => Diagnosis::NoAuthentication,
    };
    Alignment {
        dkim_aligned,
        spf_aligned,
        diagnosis,
    }
}

/// DMARC uses the MAIL FROM identity (RFC 9989 section 4.4.2); HELO results are
/// informational, but for mail with a null MAIL FROM (a bounce): its MAIL FROM identity is
/// postmaster at the HELO name (RFC 7208 section 2.4, RFC 9989 section 3.2.4), so a record
/// with no envelope_from and only HELO results was checked on what DMARC uses.
fn spf_checks(record: &Record) -> impl Iterator<Item = &crate::model::SpfResult> {
    let is_helo = |r: &&crate::model::SpfResult| r.scope.as_deref() == Some("helo");
    let null_mail_from =
        record.envelope_from.is_none() && record.spf_results.iter().all(|r| is_helo(&r));
    record
        .spf_results
        .iter()
        .filter(move |r| null_mail_from || !is_helo(r))
}

/// The domain an SPF result is for. A result that names none checked the MAIL FROM
/// identity (RFC 7208 section 2.4; RFC 9989 section 4.4.2), which the record's
/// `envelope_from` gives: without it an aligned pass read as "another domain's".
fn checked_domain<'a>(
    result: &'a crate::model::SpfResult,
    mail_from: Option<&'a str>,
) -> Option<&'a str> {
    named(result.domain.as_deref()).or(mail_from)
}

/// The domain of `envelope_from`, which some receivers write as a whole address.
fn address_domain(envelope_from: &str) -> &str {
    envelope_from.rsplit('@').next().unwrap_or(envelope_from)
}

fn is_pass(result: Option<&str>) -> bool {
    result == Some("pass")
}

/// A signature that was there and did not verify (RFC 8601 section 2.7.1): `fail`, and as
/// much `permerror` (no usable key: a selector deleted or mistyped), `temperror` (the key
/// not fetched), `neutral` and `policy`. Not `none`: no signature at all.
pub const UNVERIFIED_DKIM_RESULTS: [&str; 5] =
    ["fail", "permerror", "temperror", "neutral", "policy"];

fn is_unverified(result: Option<&str>) -> bool {
    result.is_some_and(|result| UNVERIFIED_DKIM_RESULTS.contains(&result))
}

fn normalize(domain: &str) -> &str {
    domain.trim().trim_end_matches('.')
}

/// A domain a result names: not an empty or blank one.
fn named(domain: Option<&str>) -> Option<&str> {
    domain.map(normalize).filter(|d| !d.is_empty())
}

fn closeness(domain: Option<&str>, header_from: &str) -> Closeness {
    let Some(domain) = named(domain) else {
        return Closeness::Unrelated;
    };
    if domain.eq_ignore_ascii_case(header_from) {
        Closeness::SameName
    } else if organizational_domain(domain).eq_ignore_ascii_case(organizational_domain(header_from))
    {
        Closeness::SameOrganization
    } else {
        Closeness::Unrelated
    }
}

/// The organisational domain a report's policy domain is stored with (`reports.org_domain`):
/// its registrable domain, or none for a public suffix (a PSD's report covers other
/// organisations' domains, whose keys are not its own) or an invalid name.
pub fn registrable_domain(domain: &str) -> Option<&str> {
    psl::domain(domain.as_bytes()).map(|registrable| {
        let len = registrable.as_bytes().len();
        &domain[domain.len() - len..]
    })
}

/// The registrable domain by the public suffix list (`mail.example.co.uk` -> `example.co.uk`),
/// or the name itself when it has none (a bare suffix or an invalid name).
pub fn organizational_domain(domain: &str) -> &str {
    registrable_domain(domain).unwrap_or(domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DkimResult, SpfResult};

    /// Alignment for `record` under `policy`, as ingest settles it.
    fn align(record: &Record, policy: &PolicyPublished) -> Alignment {
        AlignmentFacts::of(record).under(policy)
    }

    fn record(from: &str, dkim: &[(&str, &str)], spf: &[(&str, &str)]) -> Record {
        Record {
            header_from: Some(from.into()),
            dkim_results: dkim
                .iter()
                .map(|(d, r)| DkimResult {
                    domain: Some((*d).into()),
                    result: Some((*r).into()),
                    ..Default::default()
                })
                .collect(),
            spf_results: spf
                .iter()
                .map(|(d, r)| SpfResult {
                    domain: Some((*d).into()),
                    result: Some((*r).into()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }

    fn policy(adkim: &str, aspf: &str) -> PolicyPublished {
        PolicyPublished {
            adkim: Some(adkim.into()),
            aspf: Some(aspf.into()),
            ..Default::default()
        }
    }

    #[test]
    fn organizational_domain_uses_multi_label_suffixes() {
        assert_eq!(organizational_domain("mail.example.co.uk"), "example.co.uk");
        assert_eq!(organizational_domain("a.b.example.com"), "example.com");
        assert_eq!(organizational_domain("co.uk"), "co.uk");
    }

    #[test]
    fn relaxed_aligns_subdomains_under_one_registrable_domain() {
        let aligned = |domain, from, strict| closeness(Some(domain), from).aligns(strict);
        assert!(aligned("mail.example.co.uk", "news.example.co.uk", false));
        // "last two labels" would wrongly call these aligned: co.uk is a public suffix.
        assert!(!aligned("other.co.uk", "example.co.uk", false));
        assert!(!aligned("mail.example.co.uk", "example.co.uk", true));
        assert!(aligned("Example.CO.uk.", "example.co.uk", true));
    }

    #[test]
    fn diagnoses() {
        let relaxed = policy("r", "r");
        let cases = [
            (
                record(
                    "example.com",
                    &[("example.com", "pass")],
                    &[("example.com", "pass")],
                ),
                Diagnosis::Aligned,
            ),
            (
                record(
                    "example.com",
                    &[("example.com", "pass")],
                    &[("esp.example.net", "pass")],
                ),
                Diagnosis::DkimAlignedSpfOtherDomain,
            ),
            (
                record(
                    "example.com",
                    &[("example.com", "pass")],
                    &[("example.com", "fail")],
                ),
                Diagnosis::Forwarded,
            ),
            (
                record(
                    "example.com",
                    &[("esp.example.net", "pass")],
                    &[("example.com", "pass")],
                ),
                Diagnosis::SpfAlignedDkimThirdParty,
            ),
            (
                record("example.com", &[], &[("bounce.example.com", "pass")]),
                Diagnosis::SpfAlignedOnly,
            ),
            (
                record("example.com", &[], &[("bounces.esp.example.net", "pass")]),
                Diagnosis::SpfOtherDomain,
            ),
            (
                record("example.com", &[("esp.example.net", "pass")], &[]),
                Diagnosis::DkimThirdParty,
            ),
            (
                record(
                    "example.com",
                    &[("example.com", "fail")],
                    &[("example.com", "softfail")],
                ),
                Diagnosis::NoAuthentication,
            ),
        ];
        for (record, want) in cases {
            assert_eq!(align(&record, &relaxed).diagnosis, want, "{record:?}");
        }
    }

    #[test]
    fn strict_spf_needs_the_exact_name() {
        let r = record("example.com", &[], &[("bounce.example.com", "pass")]);
        assert!(align(&r, &policy("r", "r")).spf_aligned);
        assert!(!align(&r, &policy("r", "s")).spf_aligned);
        // The domain's own MAIL FROM on the wrong name: not another domain's.
        assert_eq!(
            align(&r, &policy("r", "s")).diagnosis,
            Diagnosis::StrictAlignment
        );
        let other = record("example.com", &[], &[("esp.example", "pass")]);
        assert_eq!(
            align(&other, &policy("r", "s")).diagnosis,
            Diagnosis::SpfOtherDomain
        );
    }

    #[test]
    fn strict_dkim_refuses_the_domains_own_subdomain_key() {
        let r = record(
            "example.com",
            &[("news.example.com", "pass")],
            &[("esp.example", "pass")],
        );
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::DkimAlignedSpfOtherDomain
        );
        assert_eq!(
            align(&r, &policy("s", "r")).diagnosis,
            Diagnosis::StrictAlignment
        );
        let third = record("example.com", &[("esp.example", "pass")], &[]);
        assert_eq!(
            align(&third, &policy("s", "s")).diagnosis,
            Diagnosis::DkimThirdParty
        );
    }

    /// An SPF result without a domain was for the MAIL FROM: the envelope's domain; with
    /// none, the receiver's own verdict tells whether it aligned.
    #[test]
    fn an_spf_result_naming_no_domain_is_for_the_envelope_from() {
        let mut r = record("example.com", &[], &[("", "pass")]);
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::SpfOtherDomain,
            "nothing says which domain passed, and the receiver's verdict is missing"
        );
        // The receiver's verdict for SPF (policy_evaluated) says whether it aligned.
        r.spf = Some("pass".into());
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::SpfAlignedOnly
        );
        r.spf = Some("fail".into());
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::SpfOtherDomain
        );
        // So for a DKIM pass whose domain the report leaves empty.
        let mut signed = record("example.com", &[("", "pass")], &[]);
        signed.dkim = Some("pass".into());
        assert_eq!(
            align(&signed, &policy("r", "r")).diagnosis,
            Diagnosis::Forwarded
        );
        for envelope in ["bounce.example.com", "bounces@bounce.example.com"] {
            r.envelope_from = Some(envelope.into());
            assert_eq!(
                align(&r, &policy("r", "r")).diagnosis,
                Diagnosis::SpfAlignedOnly,
                "{envelope}"
            );
        }
        r.spf_results[0].domain = Some("esp.example".into());
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::SpfOtherDomain,
            "a domain named wins over the envelope"
        );
    }

    #[test]
    fn helo_results_do_not_align() {
        let mut r = record("example.com", &[], &[("example.com", "pass")]);
        r.envelope_from = Some("bounce.example.com".into());
        r.spf_results[0].scope = Some("helo".into());
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::NoAuthentication
        );
        // Beside a MAIL FROM result, without envelope_from too, HELO is informational.
        r.envelope_from = None;
        r.spf_results.push(SpfResult {
            domain: Some("other.example".into()),
            result: Some("fail".into()),
            ..SpfResult::default()
        });
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::NoAuthentication
        );
    }

    /// A bounce (null MAIL FROM): its MAIL FROM identity is postmaster at the HELO name (RFC
    /// 7208 section 2.4), so the receiver's HELO check is the one DMARC uses.
    #[test]
    fn a_bounces_helo_result_is_its_mail_from_result() {
        let mut r = record("example.com", &[], &[("mail.example.com", "pass")]);
        r.envelope_from = None;
        r.spf_results[0].scope = Some("helo".into());
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::SpfAlignedOnly
        );
    }
}
