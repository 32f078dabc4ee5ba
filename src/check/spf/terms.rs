//! The terms of an SPF record as written, for what mail-auth's parser lets through or reads
//! wrong: a term that is no mechanism (`ipv4:192.0.2.1`, `+-all`), an address or prefix
//! length out of range (`ip4:192.0.2.300`, `ip4:192.0.2.0/33`), which it saturates or
//! clamps, and `/0`, which it reads as `/32` (its mask is shifted by the full width).

use mail_auth::spf::{Mechanism, Spf};
use std::net::{Ipv4Addr, Ipv6Addr};

/// RFC 7208 section 5.
const MECHANISMS: [&str; 8] = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];

/// The mechanism terms of `record` in order (modifiers, `name=value`, left out): each
/// term, and its name (lower-cased) and what follows the name.
fn mechanism_terms(record: &str) -> impl Iterator<Item = (&str, String, &str)> {
    record.split_ascii_whitespace().skip(1).filter_map(|term| {
        // One qualifier at most: `+-all` is a syntax error, not `-all`.
        let body = term.strip_prefix(['+', '-', '~', '?']).unwrap_or(term);
        let name_end = body.find([':', '/', '=']).unwrap_or(body.len());
        let is_modifier = body[name_end..].starts_with('=');
        (!is_modifier).then(|| {
            (
                term,
                body[..name_end].to_ascii_lowercase(),
                &body[name_end..],
            )
        })
    })
}

/// Why `record` is not valid SPF, for what mail-auth does not catch (section 4.6: any
/// syntax error is a permerror); `None` when it is valid as far as these checks go.
pub(super) fn syntax_error(record: &str) -> Option<String> {
    mechanism_terms(record).find_map(|(term, name, rest)| {
        if !MECHANISMS.contains(&name.as_str()) {
            return Some(format!("{term:?} is not a mechanism"));
        }
        let valid = match name.as_str() {
            "ip4" => network::<Ipv4Addr>(rest, 32),
            "ip6" => network::<Ipv6Addr>(rest, 128),
            "a" | "mx" => prefix_lengths(rest).is_some(),
            _ => true,
        };
        (!valid).then(|| {
            format!("{term:?} is not a valid address or prefix length (section 5.6, 5.3, 5.4)")
        })
    })
}

/// `:ADDRESS` or `:ADDRESS/LENGTH`, the length at most `longest`.
fn network<A: std::str::FromStr>(rest: &str, longest: u8) -> bool {
    let Some(value) = rest.strip_prefix(':') else {
        return false;
    };
    let (address, length) = match value.split_once('/') {
        Some((address, length)) => (address, Some(length)),
        None => (value, None),
    };
    address.parse::<A>().is_ok() && length.is_none_or(|l| prefix_length(l, longest).is_some())
}

/// A prefix length as written: digits without a leading zero (RFC 7208 section 5.6's
/// grammar), at most `longest`.
fn prefix_length(text: &str, longest: u8) -> Option<u8> {
    let valid = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && text.len() <= 3
        && (text == "0" || !text.starts_with('0'));
    valid
        .then(|| text.parse().ok())
        .flatten()
        .filter(|l| *l <= longest)
}

/// The dual prefix lengths of an `a` or `mx` (`:domain/24//64`, section 5.3): IPv4's and
/// IPv6's, each `None` when not written; `None` when they are not valid.
fn prefix_lengths(rest: &str) -> Option<(Option<u8>, Option<u8>)> {
    // A macro may hold '/' as a delimiter (`%{d1/}`): the lengths come after it.
    let after_macros = rest.rfind('}').map_or(0, |i| i + 1);
    let Some(slash) = rest[after_macros..].find('/').map(|i| i + after_macros) else {
        return Some((None, None));
    };
    let cidr = &rest[slash..];
    let (v4, v6) = match cidr.strip_prefix("//") {
        Some(v6) => (None, Some(v6)),
        None => match cidr[1..].split_once("//") {
            Some((v4, v6)) => (Some(v4), Some(v6)),
            None => (Some(&cidr[1..]), None),
        },
    };
    let v4 = v4.map(|l| prefix_length(l, 32));
    let v6 = v6.map(|l| prefix_length(l, 128));
    match (v4, v6) {
        (Some(None), _) | (_, Some(None)) => None,
        (v4, v6) => Some((v4.flatten(), v6.flatten())),
    }
}

/// Sets the masks of `spf`'s directives from the prefix lengths of `record`, its text:
/// mail-auth computes `u32::MAX << (32 - length)`, which for `/0` shifts by the full width
/// and matches one address instead of all of them. `record` passed [`syntax_error`].
pub(super) fn repair_masks(record: &str, spf: &mut Spf) {
    let terms: Vec<(&str, String, &str)> = mechanism_terms(record).collect();
    if terms.len() != spf.directives.len() {
        return; // not the terms mail-auth read: leave its masks
    }
    for ((_, name, rest), directive) in terms.iter().zip(&mut spf.directives) {
        let single = |longest| {
            rest.split_once('/')
                .and_then(|(_, l)| prefix_length(l, longest))
        };
        match (&mut directive.mechanism, name.as_str()) {
            (Mechanism::Ip4 { mask, .. }, "ip4") => *mask = mask4(single(32)),
            (Mechanism::Ip6 { mask, .. }, "ip6") => *mask = mask6(single(128)),
            (
                Mechanism::A {
                    ip4_mask, ip6_mask, ..
                }
                | Mechanism::Mx {
                    ip4_mask, ip6_mask, ..
                },
                "a" | "mx",
            ) => {
                let (v4, v6) = prefix_lengths(rest).unwrap_or_default();
                *ip4_mask = mask4(v4);
                *ip6_mask = mask6(v6);
            }
            _ => {}
        }
    }
}

/// The IPv4 mask of a prefix length (none written: the whole address).
fn mask4(length: Option<u8>) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(length.unwrap_or(32)))
        .unwrap_or(0)
}

fn mask6(length: Option<u8>) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(length.unwrap_or(128)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_auth::common::parse::TxtRecordParser;

    #[test]
    fn addresses_and_prefix_lengths_out_of_range_are_syntax_errors() {
        for bad in [
            "v=spf1 ip4:192.0.2.300 -all",
            "v=spf1 ip4:192.0.2.0/33 -all",
            "v=spf1 ip6:2001:db8::/129 -all",
            "v=spf1 a/33 -all",
            "v=spf1 mx:example.com//129 -all",
            "v=spf1 ip4:192.0.2.0/ -all",
            "v=spf1 ip4:192.0.2.0/024 -all",
            "v=spf1 +-all",
            "v=spf1 ipv4:192.0.2.1 -all",
        ] {
            assert!(syntax_error(bad).is_some(), "{bad}");
        }
        for good in [
            "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24 a:x.example/24//64 -all",
            "v=spf1 mx://64 include:_spf.example.com redirect=_spf.example.net",
            "v=spf1 ip4:0.0.0.0/0 ~all",
            "v=spf1 a:%{d1/}.example.com/24 exists:%{i}.%{l1r+-}._spf.%{d} -all",
        ] {
            assert_eq!(syntax_error(good), None, "{good}");
        }
    }

    /// RFC 7208 section 5.6: `/0` matches every address.
    #[test]
    fn a_prefix_length_of_zero_matches_everything() {
        let text = "v=spf1 ip4:0.0.0.0/0 ip6:::/0 a/0//0 ip4:192.0.2.0/24 ip4:192.0.2.1 -all";
        let mut spf = Spf::parse(text.as_bytes()).unwrap();
        repair_masks(text, &mut spf);
        let masks: Vec<(u32, u128)> = spf
            .directives
            .iter()
            .map(|d| match &d.mechanism {
                Mechanism::Ip4 { mask, .. } => (*mask, 0),
                Mechanism::Ip6 { mask, .. } => (0, *mask),
                Mechanism::A {
                    ip4_mask, ip6_mask, ..
                } => (*ip4_mask, *ip6_mask),
                _ => (1, 1),
            })
            .collect();
        assert_eq!(
            masks,
            [
                (0, 0),
                (0, 0),
                (0, 0),
                (0xffff_ff00, 0),
                (u32::MAX, 0),
                (1, 1)
            ]
        );
    }
}
