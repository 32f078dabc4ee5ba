//! A DMARC policy record (the TXT record at `_dmarc.DOMAIN`, RFC 9989 section 4.7), read as
//! far as `report readiness` needs it: the policy tags. A DNS answer is written by whoever
//! runs the domain's DNS, so every value is checked here and kept only when valid.

/// The policy tags of one record; `None`: the record does not have the tag (or its value is
/// not valid, which RFC 9989 section 4.10.1 treats as absent for `sp`/`np` and as `none` for
/// `p`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DmarcRecord {
    pub p: Option<String>,
    pub sp: Option<String>,
    pub np: Option<String>,
    /// Historic under RFC 9989 (section 9.3), still read by RFC 7489 receivers.
    pub pct: Option<i32>,
    pub testing: Option<String>,
    pub adkim: Option<String>,
    pub aspf: Option<String>,
}

/// Whether a TXT record is a DMARC record at all: `v=DMARC1` first (section 4.7: the value
/// is case-sensitive; other TXT records at `_dmarc` are ignored, section 4.10).
pub fn is_dmarc_record(text: &str) -> bool {
    let Some((tag, value)) = text.split(';').next().and_then(|t| t.split_once('=')) else {
        return false;
    };
    tag.trim() == "v" && value.trim() == "DMARC1"
}

/// The tags of a record that [`is_dmarc_record`]; unknown tags are ignored (section 4.7).
pub fn parse_dmarc_record(text: &str) -> DmarcRecord {
    let mut record = DmarcRecord::default();
    for part in text.split(';').skip(1) {
        let Some((tag, value)) = part.split_once('=') else {
            continue;
        };
        let value = value.trim().to_ascii_lowercase();
        let policy = || matches!(value.as_str(), "none" | "quarantine" | "reject");
        let mode = || matches!(value.as_str(), "r" | "s");
        match tag.trim().to_ascii_lowercase().as_str() {
            "p" if policy() => record.p = Some(value),
            "sp" if policy() => record.sp = Some(value),
            "np" if policy() => record.np = Some(value),
            "t" if matches!(value.as_str(), "y" | "n") => record.testing = Some(value),
            "adkim" if mode() => record.adkim = Some(value),
            "aspf" if mode() => record.aspf = Some(value),
            "pct" => record.pct = value.parse().ok().filter(|pct| (0..=100).contains(pct)),
            _ => {}
        }
    }
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_policy_tags_and_skips_what_is_not_valid() {
        let text = "v=DMARC1; p=Reject; sp=none; np=quarantine; pct=50; t=y; adkim=s; \
                    rua=mailto:d@example.com; aspf=x; foo=bar";
        assert!(is_dmarc_record(text));
        assert_eq!(
            parse_dmarc_record(text),
            DmarcRecord {
                p: Some("reject".into()),
                sp: Some("none".into()),
                np: Some("quarantine".into()),
                pct: Some(50),
                testing: Some("y".into()),
                adkim: Some("s".into()),
                aspf: None,
            }
        );
        assert_eq!(parse_dmarc_record("v=DMARC1; p=block; pct=500").p, None);
        assert_eq!(parse_dmarc_record("v=DMARC1; pct=500").pct, None);
    }

    #[test]
    fn only_records_that_start_with_the_version_are_dmarc_records() {
        assert!(is_dmarc_record("v = DMARC1 ;p=none"));
        assert!(!is_dmarc_record("v=spf1 -all"));
        assert!(!is_dmarc_record("p=none; v=DMARC1"));
        assert!(!is_dmarc_record("v=dmarc1; p=none"));
    }
}
