//! A DMARC policy record (the TXT record at `_dmarc.DOMAIN`, RFC 9989 section 4.7), read as
//! far as `report readiness` needs it: the policy tags. A DNS answer is written by whoever
//! runs the domain's DNS, so every value is checked here and kept only when valid.

/// The policy tags of one record; `None`: the record does not have the tag, or its value is
/// not valid (a `pct` or `t` out of its set is ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmarcRecord {
    /// The first `p`, `sp` or `np` tag whose value is not valid (`sp=rejct`), if any: then
    /// receivers act as if the record said `p=none` and nothing else (RFC 9989 section
    /// 4.10.1), and the other fields say just that.
    pub not_valid: Option<String>,
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    /// Historic under RFC 9989 (section 9.3), still read by RFC 7489 receivers.
    pub pct: Option<i32>,
    pub testing: Option<String>,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
    /// `psd=y`: the record is a public suffix operator's (RFC 9989 sections 3.2.16, 4.7).
    pub psd: bool,
}

/// The names whose `_dmarc` record a receiver asks for, in order, to find the policy of
/// mail from `domain` (the DNS tree walk, RFC 9989 section 4.10): the domain itself, then,
/// for a name of more than 8 labels, its last 7 (so at most 8 queries), then one label fewer
/// at a time, down to the top-level domain (where a public suffix operator may publish a
/// record for the names below it).
pub fn tree_walk(domain: &str) -> Vec<String> {
    let labels: Vec<&str> = domain.split('.').collect();
    let first_parent = labels.len().saturating_sub(7).max(1);
    std::iter::once(domain.to_string())
        .chain((first_parent..labels.len()).map(|start| labels[start..].join(".")))
        .collect()
}

/// Where the DNS tree walk ended, fed the TXT records at each name it asks in turn
/// ([`tree_walk`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WalkEnd {
    /// The one DMARC record that applies, and the name it is at; `None`: no policy at all.
    pub found: Option<(String, String)>,
    /// The first name the walk passed over for holding several DMARC records, and those
    /// records: receivers discard them all and walk on (RFC 9989 section 4.10, step 2).
    pub several: Option<(String, Vec<String>)>,
    /// Names asked so far.
    asked: usize,
}

impl WalkEnd {
    /// Takes the TXT records at `at`, the walk's next name; true when the walk stops there.
    /// TXT records that are not DMARC records are ignored (section 4.10, step 2).
    ///
    /// A record at the domain itself is its policy (section 4.10.1). Above it, the walk goes
    /// on to the top-level domain, or to a record with a `psd` tag, and the record that
    /// applies is the Organizational Domain's (section 4.10.2): the one with `psd=n`, else
    /// the one just below a `psd=y` (or that public suffix's own, when there is none), else
    /// the one with the fewest labels. A record at a name in between (`mail.example.com`
    /// under `example.com`) is not the policy of the names below it.
    pub fn take(&mut self, at: &str, texts: Vec<String>) -> bool {
        let first = self.asked == 0;
        self.asked += 1;
        let mut records: Vec<String> = texts.into_iter().filter(|t| is_dmarc_record(t)).collect();
        let record = match records.pop() {
            None => return false,
            Some(record) if records.is_empty() => record,
            Some(record) => {
                records.push(record);
                self.several.get_or_insert((at.to_string(), records));
                return false;
            }
        };
        let psd = psd_tag(&record);
        let below_is_found = self
            .found
            .as_ref()
            .is_some_and(|(found_at, _)| found_at.split_once('.').map(|(_, up)| up) == Some(at));
        if !(psd.as_deref() == Some("y") && below_is_found) {
            self.found = Some((at.to_string(), record));
        }
        first || psd.is_some_and(|psd| psd == "y" || psd == "n")
    }
}

/// The value of a record's `psd` tag, lower-cased.
fn psd_tag(record: &str) -> Option<String> {
    record
        .split(';')
        .filter_map(|part| part.split_once('='))
        .find(|(tag, _)| tag.trim().eq_ignore_ascii_case("psd"))
        .map(|(_, value)| value.trim().to_ascii_lowercase())
}

impl DmarcRecord {
    /// The policy this record, found above a domain by the tree walk, sets for that domain
    /// (RFC 9989 section 4.10.1): `sp` where it has one, else `p`, for the domain and the
    /// names below it alike; `np` stays as it is.
    pub fn for_subdomain(self) -> DmarcRecord {
        let policy = self.sp.clone().or_else(|| self.p.clone());
        DmarcRecord {
            p: policy.clone(),
            sp: policy,
            ..self
        }
    }
}

/// Whether a TXT record is a DMARC record at all: `v=DMARC1` first (section 4.7: the value
/// is case-sensitive, the tag name, an ABNF string, is not (RFC 5234 section 2.3); other TXT
/// records at `_dmarc` are ignored, section 4.10).
pub fn is_dmarc_record(text: &str) -> bool {
    let Some((tag, value)) = text.split(';').next().and_then(|t| t.split_once('=')) else {
        return false;
    };
    tag.trim().eq_ignore_ascii_case("v") && value.trim() == "DMARC1"
}

/// The tags of a record that [`is_dmarc_record`]; unknown tags are ignored (section 4.7).
pub fn parse_dmarc_record(text: &str) -> DmarcRecord {
    let mut record = DmarcRecord::default();
    let mut seen = std::collections::BTreeSet::new();
    for part in text.split(';').skip(1) {
        let Some((tag, value)) = part.split_once('=') else {
            continue;
        };
        let tag = tag.trim().to_ascii_lowercase();
        // A tag written twice makes the record invalid (RFC 6376 section 3.2, whose tag-list
        // syntax section 4.7 takes): read as not valid, as `duckmarc check` says.
        if !seen.insert(tag.clone()) && matches!(tag.as_str(), "p" | "sp" | "np") {
            record
                .not_valid
                .get_or_insert(format!("{tag} written twice"));
        }
        let value = value.trim().to_ascii_lowercase();
        let mode = || matches!(value.as_str(), "r" | "s");
        match tag.as_str() {
            "p" | "sp" | "np" if !matches!(value.as_str(), "none" | "quarantine" | "reject") => {
                record.not_valid.get_or_insert(format!("{tag}={value}"));
            }
            "p" => record.p = Some(value),
            "sp" => record.sp = Some(value),
            "np" => record.np = Some(value),
            "t" if matches!(value.as_str(), "y" | "n") => record.testing = Some(value),
            "adkim" if mode() => record.adkim = Some(value),
            "aspf" if mode() => record.aspf = Some(value),
            "pct" => record.pct = value.parse().ok().filter(|pct| (0..=100).contains(pct)),
            "psd" => record.psd = value == "y",
            _ => {}
        }
    }
    match record.not_valid {
        // Section 4.10.1: "as if a record containing p=none was retrieved" (where the record
        // has no valid rua, no DMARC processing at all: nothing is enforced either way).
        Some(not_valid) => DmarcRecord {
            not_valid: Some(not_valid),
            p: Some("none".into()),
            ..DmarcRecord::default()
        },
        None => record,
    }
}

/// Whether `name` is a public suffix (`com`, `co.uk`, `gov.uk`) by the public suffix list: a
/// DMARC record there is its registry's (a PSD, RFC 9989 section 3.2.15), which the owners
/// of the names below cannot change. A name the list does not know counts by its last label.
pub fn is_public_suffix(name: &str) -> bool {
    psl::suffix_str(name).is_some_and(|suffix| suffix.eq_ignore_ascii_case(name))
}

/// Whether the DMARC record found at `at` (with `psd=y` or not) is a registry's: `at` is a
/// public suffix by the list, or the record says it is one (RFC 9989 section 3.2.16, and
/// appendix B.4.3's `bank.example`, which no list knows).
pub fn is_registry_record(at: &str, psd: bool) -> bool {
    psd || is_public_suffix(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_policy_tags_and_skips_what_is_not_valid() {
        let text = "v=DMARC1; p=Reject; sp=none; np=quarantine; pct=50; t=y; adkim=s; \
                    rua=mailto:d@example.com; aspf=x; foo=bar; psd=Y";
        assert!(is_dmarc_record(text));
        assert_eq!(
            parse_dmarc_record(text),
            DmarcRecord {
                not_valid: None,
                p: Some("reject".into()),
                sp: Some("none".into()),
                np: Some("quarantine".into()),
                pct: Some(50),
                testing: Some("y".into()),
                adkim: Some("s".into()),
                aspf: None,
                psd: true,
            }
        );
        assert_eq!(parse_dmarc_record("v=DMARC1; pct=500").pct, None);
        assert_eq!(parse_dmarc_record("v=DMARC1; pct=50").p, None);
    }

    /// RFC 9989 section 4.10.1: a p, sp or np that is not valid makes the record p=none.
    #[test]
    fn a_policy_tag_that_is_not_valid_makes_the_record_p_none() {
        for (text, not_valid) in [
            ("v=DMARC1; p=reject; sp=rejct; pct=50; t=y", "sp=rejct"),
            ("v=DMARC1; p=reject; np=never", "np=never"),
            ("v=DMARC1; p=block; sp=reject", "p=block"),
            ("v=DMARC1; p=reject; sp=reject; p=none", "p written twice"),
        ] {
            assert_eq!(
                parse_dmarc_record(text),
                DmarcRecord {
                    not_valid: Some(not_valid.into()),
                    p: Some("none".into()),
                    ..DmarcRecord::default()
                },
                "{text}"
            );
        }
    }

    /// RFC 9989 section 4.10.1: a record found above the domain applies by its sp, else p.
    #[test]
    fn a_record_found_above_the_domain_applies_by_its_sp_else_its_p() {
        let found = |text| parse_dmarc_record(text).for_subdomain();
        let sp = found("v=DMARC1; p=reject; sp=quarantine; np=reject");
        assert_eq!(
            (sp.p.as_deref(), sp.sp.as_deref(), sp.np.as_deref()),
            (Some("quarantine"), Some("quarantine"), Some("reject"))
        );
        let p = found("v=DMARC1; p=reject");
        assert_eq!(
            (p.p.as_deref(), p.sp.as_deref()),
            (Some("reject"), Some("reject"))
        );
        assert_eq!(
            tree_walk("a.news.example.com"),
            [
                "a.news.example.com",
                "news.example.com",
                "example.com",
                "com"
            ]
        );
        assert_eq!(tree_walk("example.com"), ["example.com", "com"]);
        // Ten labels: the name, then its last seven and down, eight queries in all (RFC 9989
        // section 4.10).
        let long = tree_walk("a.b.c.d.e.f.g.h.example.com");
        assert_eq!(long.len(), 8, "{long:?}");
        assert_eq!(long[1], "d.e.f.g.h.example.com");
        assert_eq!(long.last().unwrap(), "com");
    }

    #[test]
    fn the_walk_passes_over_a_name_with_several_records_and_stops_at_one() {
        let texts = |t: &[&str]| t.iter().map(|t| t.to_string()).collect::<Vec<_>>();
        let mut walk = WalkEnd::default();
        assert!(!walk.take(
            "news.example.com",
            texts(&["v=DMARC1; p=none", "v=DMARC1; p=reject"])
        ));
        assert!(!walk.take("example.com", texts(&["v=spf1 -all"])));
        assert!(walk.take(
            "com",
            texts(&["v=DMARC1; p=reject; psd=y", "google-site=x"])
        ));
        assert_eq!(
            walk.found,
            Some(("com".to_string(), "v=DMARC1; p=reject; psd=y".to_string()))
        );
        let (at, several) = walk.several.expect("passed over");
        assert_eq!((at.as_str(), several.len()), ("news.example.com", 2));
    }

    #[test]
    fn above_the_domain_the_organizational_domains_record_applies() {
        let walk = |records: &[(&str, &str)], domain: &str| {
            let mut walk = WalkEnd::default();
            for at in tree_walk(domain) {
                let texts = records
                    .iter()
                    .filter(|(name, _)| *name == at)
                    .map(|(_, text)| text.to_string())
                    .collect();
                if walk.take(&at, texts) {
                    break;
                }
            }
            walk.found.map(|(at, _)| at)
        };
        let org = ("example.com", "v=DMARC1; p=reject");
        // RFC 9989 section 4.10.2's own example: mail.example.com's record is passed over.
        let between = ("mail.example.com", "v=DMARC1; p=none");
        assert_eq!(
            walk(&[org, between], "a.mail.example.com").as_deref(),
            Some("example.com")
        );
        // The domain's own record, whatever is above it.
        assert_eq!(
            walk(&[org, between], "mail.example.com").as_deref(),
            Some("mail.example.com")
        );
        // psd=n makes the name in between the Organizational Domain.
        let zone_cut = ("mail.example.com", "v=DMARC1; p=none; psd=n");
        assert_eq!(
            walk(&[org, zone_cut], "a.mail.example.com").as_deref(),
            Some("mail.example.com")
        );
        // psd=y: the name just below it, else the public suffix's own record.
        let registry = ("example.com", "v=DMARC1; p=reject; psd=y");
        assert_eq!(
            walk(&[registry, between], "a.mail.example.com").as_deref(),
            Some("mail.example.com")
        );
        assert_eq!(
            walk(&[registry], "a.mail.example.com").as_deref(),
            Some("example.com")
        );
        assert_eq!(walk(&[], "a.mail.example.com"), None);
    }

    #[test]
    fn only_records_that_start_with_the_version_are_dmarc_records() {
        assert!(is_dmarc_record("v = DMARC1 ;p=none"));
        assert!(!is_dmarc_record("v=spf1 -all"));
        assert!(!is_dmarc_record("p=none; v=DMARC1"));
        assert!(!is_dmarc_record("v=dmarc1; p=none"));
        assert!(is_dmarc_record("V=DMARC1; p=reject"));
    }
}
