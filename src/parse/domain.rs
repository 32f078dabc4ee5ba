//! Domain names as duckmarc stores and compares them: lower case, without the trailing dot
//! of a fully qualified name, internationalised labels as A-labels (`xn--bcher-kva`).
//!
//! In internationalised mail a domain may be written as U-labels (`bücher.example`) in the
//! From header and in a DKIM signature (RFC 8616 section 5), and a receiver may report it
//! either way, while another receiver or the signature names it as A-labels. Compared as
//! written they never align, and one domain is counted as two. RFC 8616 section 6 has DMARC
//! convert every U-label to its A-label before it does anything else with a domain (so does
//! RFC 9989's extraction of the Author Domain); so does every value duckmarc stores.

/// `name` as stored: `Err` holds it lower-cased and trimmed when IDNA cannot convert it (it
/// is not a domain name: the caller says so in the report's notes). An address
/// (`User@Bücher.example`, as some receivers write envelope_from) keeps its local part.
pub fn canonical_domain(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_ascii() {
        return Ok(name.trim_end_matches('.').to_ascii_lowercase());
    }
    if let Some((local, domain)) = name.rsplit_once('@') {
        return canonical_domain(domain)
            .map(|domain| format!("{}@{domain}", local.to_lowercase()))
            .map_err(|_| name.to_lowercase());
    }
    whole(name)
        .or_else(|| label_by_label(name))
        .map(|ascii| ascii.trim_end_matches('.').to_string())
        .ok_or_else(|| name.trim_end_matches(DOTS).to_lowercase())
}

/// The name converted as one (UTS 46: its dots, fullwidth and ideographic too, its case and
/// compatibility forms mapped).
fn whole(name: &str) -> Option<String> {
    // The URL deny list refuses what no host name holds (NUL, spaces, `<>`, `@`...) but keeps
    // the underscores of real names (`_spf.`); IDNA's own default refuses nothing.
    idna::domain_to_ascii_cow(name.as_bytes(), idna::AsciiDenyList::URL)
        .ok()
        .map(|ascii| ascii.into_owned())
}

/// IDNA checks the right-to-left rules over the whole name, so a name with an Arabic or
/// Hebrew label fails as one where another label starts with a digit or an underscore
/// (`_spf.مثال.example`), which the DNS and DKIM take as they are: each label on its own.
fn label_by_label(name: &str) -> Option<String> {
    let labels: Option<Vec<String>> = name.trim_end_matches(DOTS).split(DOTS).map(whole).collect();
    Some(labels?.join("."))
}

/// What UTS 46 reads as the dot between labels.
const DOTS: [char; 4] = ['.', '。', '．', '｡'];

/// The note for a value IDNA could not convert.
pub fn invalid_domain_note(what: &str, name: &str) -> String {
    format!("{what} {name:?} is not a valid internationalised domain name: stored lower-cased")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(name: &str) -> String {
        canonical_domain(name).unwrap_or_else(|kept| panic!("{name:?} refused, kept {kept:?}"))
    }

    #[test]
    fn u_labels_become_a_labels_and_ascii_is_only_lower_cased() {
        assert_eq!(stored("Bücher.Example."), "xn--bcher-kva.example");
        assert_eq!(stored("bücher.example。"), "xn--bcher-kva.example");
        assert_eq!(stored("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
        assert_eq!(stored(" Mail.Example.COM "), "mail.example.com");
        assert_eq!(stored("почта．рф"), "xn--80a1acny.xn--p1ai");
        assert_eq!(stored("_spf.bücher.example"), "_spf.xn--bcher-kva.example");
    }

    #[test]
    fn an_address_keeps_its_local_part() {
        assert_eq!(
            stored("Bounce@Bücher.example"),
            "bounce@xn--bcher-kva.example"
        );
    }

    #[test]
    fn right_to_left_labels_are_converted_beside_any_ascii_label() {
        for name in ["_spf.مثال.example", "1mail.مثال.example"] {
            let (first, _) = name.split_once('.').unwrap();
            assert_eq!(stored(name), format!("{first}.xn--mgbh0fb.example"));
        }
    }

    #[test]
    fn what_idna_refuses_is_kept_lower_cased() {
        for refused in ["Bad\u{0}ü.example", "bü <x>.example", "bad name.рф"] {
            assert_eq!(canonical_domain(refused), Err(refused.to_lowercase()));
        }
    }
}
