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
            Diagnosis::NoAuthentication => "no_authentication",
        }
    }
}

/// Recomputes alignment for `record` under `policy` (adkim/aspf default to relaxed).
pub fn align(record: &Record, policy: &PolicyPublished) -> Alignment {
    let Some(from) = record.header_from.as_deref().map(normalize) else {
        return classify(false, false, any_dkim_pass(record), any_spf_pass(record));
    };
    let strict_dkim = policy.adkim.as_deref() == Some("s");
    let strict_spf = policy.aspf.as_deref() == Some("s");
    let dkim_aligned = record
        .dkim_results
        .iter()
        .any(|r| is_pass(r.result.as_deref()) && aligned(r.domain.as_deref(), from, strict_dkim));
    let spf_aligned = spf_checks(record)
        .any(|r| is_pass(r.result.as_deref()) && aligned(r.domain.as_deref(), from, strict_spf));
    classify(
        dkim_aligned,
        spf_aligned,
        any_dkim_pass(record),
        any_spf_pass(record),
    )
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

/// DMARC uses the MAIL FROM identity; HELO results are informational.
fn spf_checks(record: &Record) -> impl Iterator<Item = &crate::model::SpfResult> {
    record
        .spf_results
        .iter()
        .filter(|r| r.scope.as_deref() != Some("helo"))
}

fn any_dkim_pass(record: &Record) -> bool {
    record
        .dkim_results
        .iter()
        .any(|r| is_pass(r.result.as_deref()))
}

fn any_spf_pass(record: &Record) -> bool {
    spf_checks(record).any(|r| is_pass(r.result.as_deref()))
}

fn is_pass(result: Option<&str>) -> bool {
    result == Some("pass")
}

fn normalize(domain: &str) -> &str {
    domain.trim().trim_end_matches('.')
}

/// RFC 7489 section 3.1: strict means the same name; relaxed means the same
/// organizational domain.
pub fn aligned(domain: Option<&str>, header_from: &str, strict: bool) -> bool {
    let Some(domain) = domain.map(normalize).filter(|d| !d.is_empty()) else {
        return false;
    };
    if domain.eq_ignore_ascii_case(header_from) {
        return true;
    }
    !strict
        && organizational_domain(domain).eq_ignore_ascii_case(organizational_domain(header_from))
}

/// The registrable domain by the public suffix list (`mail.example.co.uk` -> `example.co.uk`),
/// or the name itself when it has none (a bare suffix or an invalid name).
pub fn organizational_domain(domain: &str) -> &str {
    let lower = domain.as_bytes();
    match psl::domain(lower) {
        Some(registrable) => {
            let len = registrable.as_bytes().len();
            &domain[domain.len() - len..]
        }
        None => domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{DkimResult, SpfResult};

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
        assert!(aligned(
            Some("mail.example.co.uk"),
            "news.example.co.uk",
            false
        ));
        // "last two labels" would wrongly call these aligned: co.uk is a public suffix.
        assert!(!aligned(Some("other.co.uk"), "example.co.uk", false));
        assert!(!aligned(Some("mail.example.co.uk"), "example.co.uk", true));
        assert!(aligned(Some("Example.CO.uk."), "example.co.uk", true));
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
        assert_eq!(
            align(&r, &policy("r", "s")).diagnosis,
            Diagnosis::SpfOtherDomain
        );
    }

    #[test]
    fn helo_results_do_not_align() {
        let mut r = record("example.com", &[], &[("example.com", "pass")]);
        r.spf_results[0].scope = Some("helo".into());
        assert_eq!(
            align(&r, &policy("r", "r")).diagnosis,
            Diagnosis::NoAuthentication
        );
    }
}
