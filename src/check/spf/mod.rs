//! SPF (RFC 7208) as DNS publishes it: the whole `include`/`redirect` tree of a domain,
//! counted against the limits of section 4.6.4 (10 terms that cause DNS lookups, 2 void
//! lookups), and which mechanism authorises a given address. Records are parsed by
//! mail-auth; the walk and the counting are here, over the answers in [`Lookups`].

use super::{Got, Lookups, Severity};
use crate::check::dns::Kind;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::spf::{Directive, Macro, Mechanism, Qualifier, Spf};

mod evaluate;
mod spec;
mod terms;

pub use evaluate::{evaluate, Refusal, Verdict};
pub use spec::term;
use spec::{literal, redirect_term, target};

/// RFC 7208 section 4.6.4.
pub const MAX_LOOKUPS: u32 = 10;
pub const MAX_VOID_LOOKUPS: u32 = 2;
/// Includes followed below a domain: a tree this deep is already far over the lookup limit.
pub(super) const MAX_DEPTH: usize = 12;
/// The most MX records one `mx` may look at (RFC 7208 section 4.6.4).
pub(super) const MAX_MX_NAMES: usize = 10;

pub(super) fn too_many_exchanges(term: &str, exchanges: usize) -> String {
    format!(
        "{term} names {exchanges} MX records, more than the {MAX_MX_NAMES} an mx may look at: \
         a permerror (RFC 7208 section 4.6.4)"
    )
}

/// One domain's SPF record as DNS has it.
pub enum Record {
    Found(Box<Spf>),
    /// No TXT record starting `v=spf1`; `void` when DNS has no TXT record there at all (the
    /// name does not exist, or has no TXT), which is what counts as a void lookup (section
    /// 4.6.4), not other TXT records.
    None {
        void: bool,
    },
    /// Several: a permerror (section 4.5).
    Several(usize),
    /// Not valid SPF: a permerror.
    Syntax(String),
    /// DNS did not answer (or not yet).
    Unknown(String),
    Pending,
}

/// The SPF record of `domain`.
pub fn record(look: &mut Lookups, domain: &str) -> Record {
    let texts = match look.get(domain, Kind::Txt) {
        Got::Records(texts) => texts,
        Got::Missing => return Record::None { void: true },
        Got::Failed(why) => return Record::Unknown(why),
        Got::Pending => return Record::Pending,
    };
    // Section 4.5: "v=spf1" followed by a space or the end, case-insensitively.
    let spf: Vec<&String> = texts
        .iter()
        .filter(|t| {
            let t = t.trim_start().to_ascii_lowercase();
            t == "v=spf1" || t.starts_with("v=spf1 ")
        })
        .collect();
    match spf.as_slice() {
        [] => Record::None { void: false },
        [one] => match terms::syntax_error(one) {
            Some(why) => Record::Syntax(format!(
                "{one:?}: {why} (RFC 7208 section 4.6: any syntax error is a permerror)"
            )),
            None => match Spf::parse(one.as_bytes()) {
                Ok(mut parsed) => {
                    terms::repair_masks(one, &mut parsed);
                    Record::Found(Box::new(parsed))
                }
                Err(error) => Record::Syntax(format!("{one:?}: {error}")),
            },
        },
        several => Record::Several(several.len()),
    }
}

/// A problem found in the tree: severity, code, message, fix.
pub type Issue = (Severity, &'static str, String, Option<String>);

/// The tree below one domain, counted.
#[derive(Default)]
pub struct Tree {
    /// Terms that cause DNS lookups (include, a, mx, ptr, exists, redirect).
    pub lookups: u32,
    pub void_lookups: u32,
    /// Where the 11th lookup is: `example.com > include:a.example > include:b.example`.
    pub over_at: Option<String>,
    pub void_at: Vec<String>,
    pub issues: Vec<Issue>,
    /// The top-level record's includes (and redirect), with the lookups each brings.
    pub includes: Vec<(String, u32)>,
    /// Every domain an include or redirect leads to, anywhere in the tree, with the
    /// top-level record's term it is reached through.
    pub followed: std::collections::BTreeMap<String, String>,
    /// A part DNS did not answer: the counts are a floor.
    pub unknown: Option<String>,
    /// Records whose end was checked: one reached twice is said once.
    ends_checked: std::collections::BTreeSet<String>,
    pub has_record: bool,
}

/// Walks the SPF tree of `domain`.
pub fn tree(look: &mut Lookups, domain: &str) -> Tree {
    let mut tree = Tree::default();
    walk(look, domain, &mut vec![domain.to_string()], &mut tree);
    if let Some(at) = &tree.over_at {
        tree.issues.push((
            Severity::Error,
            "spf_too_many_lookups",
            format!(
                "{} DNS lookups, over the limit of {MAX_LOOKUPS} (RFC 7208 section 4.6.4): \
                 receivers return permerror, and SPF fails, for all mail whose check gets that \
                 far (every address not matched before it); the 11th is at {at}",
                tree.lookups
            ),
            Some("flatten or drop includes until the tree needs 10 lookups or fewer".into()),
        ));
    }
    if tree.void_lookups > MAX_VOID_LOOKUPS {
        tree.issues.push((
            Severity::Error,
            "spf_void_lookups",
            format!(
                "{} void lookups (names with no answer), over the limit of {MAX_VOID_LOOKUPS} \
                 (RFC 7208 section 4.6.4): receivers may return permerror; at {}",
                tree.void_lookups,
                tree.void_at.join(", ")
            ),
            Some("remove the mechanisms that name domains without records".into()),
        ));
    }
    tree
}

fn walk(look: &mut Lookups, domain: &str, path: &mut Vec<String>, tree: &mut Tree) {
    let top = path.len() == 1;
    let spf = match record(look, domain) {
        Record::Found(spf) => spf,
        Record::Pending => return,
        Record::Unknown(why) => {
            tree.unknown.get_or_insert(format!("{domain}: {why}"));
            return;
        }
        Record::None { .. } if top => {
            tree.issues.push((
                Severity::Warning,
                "spf_missing",
                format!(
                    "{domain} publishes no SPF record: no receiver can authorise its mail by SPF"
                ),
                Some(format!(
                    "publish a TXT record at {domain}: \"v=spf1 ... -all\""
                )),
            ));
            return;
        }
        Record::None { void } => {
            if void {
                tree.void_lookups += 1;
                tree.void_at.push(path.join(" > "));
            }
            let term = path.last().cloned().unwrap_or_default();
            // Section 5.2 for include, 6.1 for redirect; removing a redirect would leave
            // the record without an end, every address neutral.
            let (section, fix) = match term.starts_with("redirect=") {
                true => (
                    "6.1",
                    format!("point {term} at a domain that publishes SPF, or end the record with -all instead"),
                ),
                false => ("5.2", format!("remove {term}")),
            };
            tree.issues.push((
                Severity::Error,
                "spf_include_without_record",
                format!(
                    "{} names {domain}, which publishes no SPF record: a permerror for every \
                     message whose check reaches it (RFC 7208 section {section})",
                    path[..path.len() - 1].join(" > ")
                ),
                Some(fix),
            ));
            return;
        }
        Record::Several(n) => {
            tree.issues.push((
                Severity::Error,
                "spf_several_records",
                format!("{domain} publishes {n} SPF records: a permerror (RFC 7208 section 4.5)"),
                Some(format!("merge them into one TXT record at {domain}")),
            ));
            return;
        }
        Record::Syntax(error) => {
            tree.issues.push((
                Severity::Error,
                "spf_syntax",
                format!("the SPF record of {domain} is not valid ({error}): a permerror"),
                None,
            ));
            return;
        }
    };
    if top {
        tree.has_record = true;
    }
    if passes_results_through(path) && tree.ends_checked.insert(domain.to_string()) {
        check_end(&spf, domain, path, tree);
    }
    // Section 6.1: with "all" anywhere, "redirect" is ignored. Neither it nor what follows
    // "all" costs a lookup.
    let reached = reached_terms(&spf);
    for directive in reached {
        let term = term(directive);
        match &directive.mechanism {
            Mechanism::Include { macro_string } => {
                let before = tree.lookups;
                count(tree, path, &term);
                follow(look, macro_string, &term, path, tree);
                if top {
                    tree.includes.push((term, tree.lookups - before));
                }
            }
            Mechanism::A { macro_string, .. } => {
                count(tree, path, &term);
                let name = target(macro_string, domain);
                // Section 5.3: an IPv4 sender's check asks for A records only, so a name
                // without them is a void lookup for the senders most mail comes from.
                if let Some(name) = name {
                    match (look.get(&name, Kind::A), look.get(&name, Kind::Aaaa)) {
                        (Got::Missing, Got::Missing) => void(tree, path, &term),
                        (Got::Missing, _) => void(tree, path, &format!("{term} (no A record)")),
                        _ => {}
                    }
                }
            }
            Mechanism::Mx { macro_string, .. } => {
                count(tree, path, &term);
                if let Some(name) = target(macro_string, domain) {
                    match look.get(&name, Kind::Mx) {
                        Got::Missing => void(tree, path, &term),
                        Got::Records(exchanges) if exchanges.len() > MAX_MX_NAMES => {
                            tree.issues.push((
                                Severity::Error,
                                "spf_mx_too_many",
                                format!(
                                    "{}: SPF fails for every message whose check reaches it",
                                    too_many_exchanges(&format!("{} > {term}", path.join(" > ")), exchanges.len())
                                ),
                                Some(format!("replace {term} with the ip4:/ip6: ranges of the mail servers that send")),
                            ));
                        }
                        _ => {}
                    }
                }
            }
            Mechanism::Ptr { .. } => {
                count(tree, path, &term);
                tree.issues.push((
                    Severity::Warning,
                    "spf_ptr",
                    format!(
                        "{} uses ptr, which RFC 7208 section 5.5 says not to use: slow, \
                         unreliable, and some receivers skip it",
                        path.join(" > ")
                    ),
                    Some("replace ptr with ip4:/ip6: ranges or an include".into()),
                ));
            }
            // Section 5.7 asks for an A record; a name written out can be asked here.
            Mechanism::Exists { macro_string } => {
                count(tree, path, &term);
                let name = literal(macro_string);
                if name.is_some_and(|name| matches!(look.get(&name, Kind::A), Got::Missing)) {
                    void(tree, path, &term);
                }
            }
            Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => {}
        }
    }
    if let Some(redirect) = spf.redirect.as_ref().filter(|_| final_all(&spf).is_none()) {
        let term = redirect_term(redirect);
        let before = tree.lookups;
        count(tree, path, &term);
        follow(look, redirect, &term, path, tree);
        if top {
            tree.includes.push((term, tree.lookups - before));
        }
    }
}

/// Follows an include or redirect to its domain, unless it loops or is a macro.
fn follow(look: &mut Lookups, target: &Macro, term: &str, path: &mut Vec<String>, tree: &mut Tree) {
    let Some(next) = literal(target) else {
        tree.issues.push((
            Severity::Info,
            "spf_macro",
            format!(
                "{} > {term} is a macro, expanded for each connection: the lookups below it \
                 are not counted here",
                path.join(" > ")
            ),
            None,
        ));
        return;
    };
    let looping = path.iter().any(|p| {
        p == &next || p.ends_with(&format!(":{next}")) || p.ends_with(&format!("={next}"))
    });
    if looping {
        tree.issues.push((
            Severity::Error,
            "spf_loop",
            format!(
                "{} > {term} loops back to a record already on the path: a permerror",
                path.join(" > ")
            ),
            Some(format!("remove {term}")),
        ));
        return;
    }
    if path.len() > MAX_DEPTH {
        return;
    }
    let top_term = path.get(1).map_or(term, String::as_str);
    tree.followed
        .entry(next.clone())
        .or_insert_with(|| top_term.to_string());
    path.push(term.to_string());
    walk(look, &next, path, tree);
    path.pop();
}

fn count(tree: &mut Tree, path: &[String], term: &str) {
    tree.lookups += 1;
    if tree.lookups == MAX_LOOKUPS + 1 && tree.over_at.is_none() {
        tree.over_at = Some(format!("{} > {term}", path.join(" > ")));
    }
}

fn void(tree: &mut Tree, path: &[String], term: &str) {
    tree.void_lookups += 1;
    tree.void_at.push(format!("{} > {term}", path.join(" > ")));
}

/// A passing term that matches every address: `+all`, `ip4:0.0.0.0/0`, `ip6:::/0`, and `a/0`
/// or `mx/0` (every address, once the name has an address at all).
fn passes_everyone(spf: &Spf) -> Option<String> {
    reached_terms(spf)
        .iter()
        .find(|d| {
            d.qualifier == Qualifier::Pass
                && matches!(
                    d.mechanism,
                    Mechanism::All
                        | Mechanism::Ip4 { mask: 0, .. }
                        | Mechanism::Ip6 { mask: 0, .. }
                        | Mechanism::A { ip4_mask: 0, .. }
                        | Mechanism::A { ip6_mask: 0, .. }
                        | Mechanism::Mx { ip4_mask: 0, .. }
                        | Mechanism::Mx { ip6_mask: 0, .. }
                )
        })
        .map(term)
        .or_else(|| ranges_covering_everyone(spf))
}

/// Passing `ip4` (or `ip6`) ranges that together hold every address, such as
/// `ip4:0.0.0.0/1 ip4:128.0.0.0/1`: `+all` in effect. Only those before the first term
/// that does not pass count, as that one may take some addresses out first (section 4.6.2).
fn ranges_covering_everyone(spf: &Spf) -> Option<String> {
    // Each family's ranges (inclusive) with the terms that give them.
    let mut v4: Vec<((u128, u128), String)> = Vec::new();
    let mut v6: Vec<((u128, u128), String)> = Vec::new();
    let passing = reached_terms(spf)
        .iter()
        .take_while(|d| d.qualifier == Qualifier::Pass);
    for directive in passing {
        match directive.mechanism {
            Mechanism::Ip4 { addr, mask } => {
                let start = u32::from(addr) & mask;
                let range = (u128::from(start), u128::from(start | !mask));
                v4.push((range, term(directive)));
            }
            Mechanism::Ip6 { addr, mask } => {
                let start = u128::from(addr) & mask;
                v6.push(((start, start | !mask), term(directive)));
            }
            _ => {}
        }
    }
    let family = |ranges: Vec<((u128, u128), String)>, last: u128| {
        let (ranges, terms): (Vec<_>, Vec<_>) = ranges.into_iter().unzip();
        (ranges.len() > 1 && covers(ranges, last)).then(|| terms.join(" "))
    };
    family(v4, u128::from(u32::MAX)).or_else(|| family(v6, u128::MAX))
}

/// Whether `ranges` (inclusive) together cover `0..=last`.
fn covers(mut ranges: Vec<(u128, u128)>, last: u128) -> bool {
    ranges.sort_unstable();
    let mut next = 0u128; // the first address not yet covered
    for (start, end) in ranges {
        if start > next {
            return false;
        }
        if end >= last {
            return true;
        }
        next = next.max(end + 1);
    }
    false
}

/// The record's terms up to its `all`: those after it are never reached (section 5.1).
fn reached_terms(spf: &Spf) -> &[Directive] {
    let end = spf
        .directives
        .iter()
        .position(|d| matches!(d.mechanism, Mechanism::All))
        .map_or(spf.directives.len(), |all| all + 1);
    &spf.directives[..end]
}

/// The record's `all`, which ends it (section 5.1).
fn final_all(spf: &Spf) -> Option<&Directive> {
    reached_terms(spf)
        .last()
        .filter(|d| matches!(d.mechanism, Mechanism::All))
}

/// Whether the record at the end of `path` decides the top-level record's result: reached
/// through passing includes (an include that matches passes, RFC 7208 section 5.2) and
/// redirects (whose result is the record's, section 6.1) only.
fn passes_results_through(path: &[String]) -> bool {
    path[1..]
        .iter()
        .all(|term| term.starts_with("include:") || term.starts_with("redirect="))
}

/// How the record of `domain`, reached from the top-level record by `path` (see
/// [`passes_results_through`]), decides the top-level record's result for the addresses no
/// other term matched: a term that passes everyone (`+all`, `ip4:0.0.0.0/0`, `a/0` ...)
/// passes everyone for the top-level record too (RFC 7208 section 5.2); through redirects
/// only, the record's end is the top-level record's (section 6.1): `?all`, or no `all` at
/// all (neutral, section 4.7).
fn check_end(spf: &Spf, domain: &str, path: &[String], tree: &mut Tree) {
    let top = &path[0];
    let reached = path.get(1);
    let (record, of_top) = match reached {
        None => (format!("the SPF record of {domain}"), String::new()),
        Some(_) => (path.join(" > "), format!(" for the SPF record of {top}")),
    };
    // What to change: the term itself, or the include or redirect that reaches it.
    let fix = |own: &str| match reached {
        None => own.to_string(),
        Some(through) if through.starts_with("redirect=") => format!(
            "have {domain} {own}, or end the SPF record of {top} with its own ranges and -all \
             instead of {through}"
        ),
        Some(through) => format!("remove {through}, or have {domain} {own}"),
    };
    if let Some(everyone) = passes_everyone(spf) {
        let (term, own) = match everyone.as_str() {
            "all" => (
                "+all".to_string(),
                "end it with -all (or ~all while you check the senders)".to_string(),
            ),
            _ => (
                everyone.clone(),
                format!("remove {everyone} and list your own ranges"),
            ),
        };
        tree.issues.push((
            Severity::Error,
            "spf_pass_all",
            format!("{record} has {term}: every address of the Internet passes{of_top}"),
            Some(fix(&own)),
        ));
        return;
    }
    if path[1..].iter().any(|term| !term.starts_with("redirect=")) {
        return; // an include that does not match lets the record go on
    }
    match final_all(spf).map(|d| &d.qualifier) {
        Some(Qualifier::Neutral) => tree.issues.push((
            Severity::Warning,
            "spf_neutral_all",
            format!("{record} ends with ?all: other addresses are neither authorised nor refused{of_top}"),
            Some(fix("end it with ~all, then -all")),
        )),
        None if spf.redirect.is_none() => tree.issues.push((
            Severity::Info,
            "spf_no_all",
            format!("{record} has no all: other addresses get neutral{of_top} (RFC 7208 section 4.7)"),
            Some(fix("end it with ~all, then -all")),
        )),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Spf {
        let mut spf = Spf::parse(text.as_bytes()).unwrap();
        terms::repair_masks(text, &mut spf);
        spf
    }

    /// Ranges that together hold every address are `+all` in effect (RFC 7208 section
    /// 5.6): the two halves of IPv4, or of IPv6; not when a gap is left, nor when a term
    /// before them takes an address out.
    #[test]
    fn ranges_that_hold_every_address_pass_everyone() {
        let everyone = |text| passes_everyone(&parsed(text));
        assert_eq!(
            everyone("v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all").as_deref(),
            Some("ip4:0.0.0.0/1 ip4:128.0.0.0/1")
        );
        assert!(everyone("v=spf1 ip4:128.0.0.0/1 ip4:64.0.0.0/2 ip4:0.0.0.0/2 -all").is_some());
        assert!(everyone("v=spf1 ip6:::/1 ip6:8000::/1 -all").is_some());
        assert_eq!(everyone("v=spf1 ip4:0.0.0.0/1 ip4:128.0.0.0/2 -all"), None);
        assert_eq!(
            everyone("v=spf1 -ip4:192.0.2.5 ip4:0.0.0.0/1 ip4:128.0.0.0/1 -all"),
            None
        );
        assert_eq!(everyone("v=spf1 ip4:192.0.2.0/24 -all"), None);
    }
}
