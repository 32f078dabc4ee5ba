//! Domain-specs (RFC 7208 section 7) and terms as a record writes them and as they are looked
//! up: `include:_spf.example.com`, `exists:%{i}._spf.%{d}` written back as they were, and
//! expanded for one address where the macros depend only on the address and the domain.

use mail_auth::spf::{Directive, Macro, Mechanism, Qualifier, Variable, Variables};
use std::net::IpAddr;

/// A domain written out (no macro), lower-cased, without a trailing dot.
pub(super) fn literal(target: &Macro) -> Option<String> {
    match target {
        Macro::Literal(bytes) => Some(
            String::from_utf8_lossy(bytes)
                .trim_end_matches('.')
                .to_ascii_lowercase(),
        ),
        _ => None,
    }
}

/// The name an `a` or `mx` looks up: its own, or the record's domain.
pub(super) fn target(target: &Macro, domain: &str) -> Option<String> {
    match target {
        Macro::None => Some(domain.to_string()),
        other => literal(other),
    }
}

/// A domain-spec for the address `ip`, checked in the SPF record of `domain`: written out,
/// or with macros of the address and the domain only (`%{i}`, `%{ir}`, `%{v}`, `%{d}`, RFC
/// 7208 section 7.3), expanded; `None` when it depends on the message (the sender `%{s}`
/// `%{l}` `%{o}`, the HELO name `%{h}`, a validated PTR name `%{p}`).
pub(super) fn expanded(target: &Macro, domain: &str, ip: IpAddr) -> Option<String> {
    let known = |m: &Macro| match m {
        Macro::Variable { letter, .. } => {
            matches!(
                letter,
                Variable::Ip | Variable::IpVersion | Variable::Domain
            )
        }
        Macro::Literal(_) => true,
        Macro::List(_) | Macro::None => false,
    };
    let settled = match target {
        Macro::List(parts) => parts.iter().all(known),
        other => known(other),
    };
    if !settled {
        return None;
    }
    let mut variables = Variables::new();
    variables.set_ip(&ip);
    variables.set_domain(domain.as_bytes());
    let name = target.eval(&variables, domain, false);
    let mut name = name.trim_end_matches('.').to_ascii_lowercase();
    // Section 7.3: a name over 253 characters loses labels from the left until it fits.
    while name.len() > 253 {
        name = name.split_once('.')?.1.to_string();
    }
    // A label that is empty or over 63 octets is no name to ask DNS (RFC 1035 section 2.3.4).
    let valid = name.split('.').all(|label| (1..=63).contains(&label.len()));
    valid.then_some(name)
}

/// [`target`] for the address `ip`: its own name expanded ([`expanded`]), or the domain.
pub(super) fn target_for(target: &Macro, domain: &str, ip: IpAddr) -> Option<String> {
    match target {
        Macro::None => Some(domain.to_string()),
        other => expanded(other, domain, ip),
    }
}

/// `redirect=TARGET` as written.
pub(super) fn redirect_term(target: &Macro) -> String {
    format!("redirect={}", macro_text(target))
}

/// A domain-spec as written: `_spf.example.com`, `%{i}._spf.%{d}` (RFC 7208 section 7.1).
pub(super) fn macro_text(target: &Macro) -> String {
    match target {
        Macro::List(parts) => parts.iter().map(macro_part).collect(),
        Macro::Variable { .. } => macro_part(target),
        other => literal(other).unwrap_or_default(),
    }
}

/// One part of a domain-spec: its text, or a macro as `%{ir}`, `%{d2}`, `%{l-}`.
fn macro_part(part: &Macro) -> String {
    let Macro::Variable {
        letter,
        num_parts,
        reverse,
        escape,
        delimiters,
    } = part
    else {
        return match part {
            Macro::Literal(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            _ => String::new(),
        };
    };
    let letter = match letter {
        Variable::Sender => 's',
        Variable::SenderLocalPart => 'l',
        Variable::SenderDomainPart => 'o',
        Variable::Domain => 'd',
        Variable::Ip => 'i',
        Variable::ValidatedDomain => 'p',
        Variable::IpVersion => 'v',
        Variable::HeloDomain => 'h',
        Variable::SmtpIp => 'c',
        Variable::HostDomain => 'r',
        Variable::CurrentTime => 't',
    };
    let letter = match escape {
        true => letter.to_ascii_uppercase(),
        false => letter,
    };
    let parts = match num_parts {
        0 => String::new(),
        n => n.to_string(),
    };
    let reversed = if *reverse { "r" } else { "" };
    // mail-auth keeps the delimiters as bits from '+'; '.' alone is the default, not written.
    let delimiters: String = match *delimiters == 1u64 << (b'.' - b'+') {
        true => String::new(),
        false => (0..64u8)
            .filter(|bit| delimiters & (1u64 << bit) != 0)
            .map(|bit| (b'+' + bit) as char)
            .collect(),
    };
    format!("%{{{letter}{parts}{reversed}{delimiters}}}")
}

/// A directive as written: `include:sendgrid.net`, `-all`, `ip4:192.0.2.0/24`.
pub fn term(directive: &Directive) -> String {
    let qualifier = match directive.qualifier {
        Qualifier::Pass => "",
        Qualifier::Fail => "-",
        Qualifier::SoftFail => "~",
        Qualifier::Neutral => "?",
    };
    let with_target = |name: &str, target: &Macro| match target {
        Macro::None => name.to_string(),
        other => format!("{name}:{}", macro_text(other)),
    };
    // `a/24//64`: the prefix lengths written, as an IPv4 and an IPv6 mask.
    let with_lengths = |term: String, ip4_mask: u32, ip6_mask: u128| {
        let v4 = (ip4_mask != u32::MAX).then(|| format!("/{}", ip4_mask.count_ones()));
        let v6 = (ip6_mask != u128::MAX).then(|| format!("//{}", ip6_mask.count_ones()));
        format!("{term}{}{}", v4.unwrap_or_default(), v6.unwrap_or_default())
    };
    let mechanism = match &directive.mechanism {
        Mechanism::All => "all".to_string(),
        Mechanism::Include { macro_string } => format!("include:{}", macro_text(macro_string)),
        Mechanism::A {
            macro_string,
            ip4_mask,
            ip6_mask,
        } => with_lengths(with_target("a", macro_string), *ip4_mask, *ip6_mask),
        Mechanism::Mx {
            macro_string,
            ip4_mask,
            ip6_mask,
        } => with_lengths(with_target("mx", macro_string), *ip4_mask, *ip6_mask),
        Mechanism::Ptr { macro_string } => with_target("ptr", macro_string),
        Mechanism::Exists { macro_string } => format!("exists:{}", macro_text(macro_string)),
        Mechanism::Ip4 { addr, mask } => format!("ip4:{addr}/{}", mask.count_ones()),
        Mechanism::Ip6 { addr, mask } => format!("ip6:{addr}/{}", mask.count_ones()),
    };
    format!("{qualifier}{mechanism}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::parse::TxtRecordParser;
    use mail_auth::spf::Spf;

    /// The target of the record's first term.
    fn first_target(record: &str) -> Macro {
        let spf = Spf::parse(record.as_bytes()).expect("an SPF record");
        match &spf.directives[0].mechanism {
            Mechanism::Exists { macro_string } | Mechanism::Include { macro_string } => {
                macro_string.clone()
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn macros_of_the_address_and_domain_are_expanded_and_the_message_s_are_not() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let expand = |record: &str| expanded(&first_target(record), "example.com", ip);
        assert_eq!(
            expand("v=spf1 exists:%{i}._spf.example.com -all").as_deref(),
            Some("192.0.2.1._spf.example.com")
        );
        assert_eq!(
            expand("v=spf1 exists:%{ir}.%{v}._spf.%{d} -all").as_deref(),
            Some("1.2.0.192.in-addr._spf.example.com")
        );
        assert_eq!(
            expand("v=spf1 include:_spf.Example.NET. -all").as_deref(),
            Some("_spf.example.net")
        );
        assert_eq!(expand("v=spf1 exists:%{l}._spf.example.com -all"), None);
        assert_eq!(
            macro_text(&first_target("v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all")),
            "%{ir}.%{v}._spf.%{d2}"
        );
        assert_eq!(
            macro_text(&first_target("v=spf1 exists:%{l-}.%{I}.x.example -all")),
            "%{l-}.%{I}.x.example"
        );
        // Section 7.3: over 253 characters, labels go from the left.
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let label = "x".repeat(60);
        let long_domain = format!("{label}.{label}.{label}.example.com");
        let long = expanded(
            &first_target("v=spf1 exists:%{i}.%{d} -all"),
            &long_domain,
            v6,
        )
        .unwrap();
        assert!(long.len() <= 253 && long.ends_with(&long_domain), "{long}");
        assert_eq!(expand("v=spf1 exists:%{h}.example.com -all"), None);
    }
}
