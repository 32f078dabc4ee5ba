//! SPF (RFC 7208) as DNS publishes it: the whole `include`/`redirect` tree of a domain,
//! counted against the limits of section 4.6.4 (10 terms that cause DNS lookups, 2 void
//! lookups), and which mechanism authorises a given address. Records are parsed by
//! mail-auth; the walk and the counting are here, over the answers in [`Lookups`].

use super::{Got, Lookups, Severity};
use crate::check::dns::Kind;
use mail_auth::common::parse::TxtRecordParser;
use mail_auth::spf::{Directive, Macro, Mechanism, Qualifier, Spf};
use std::net::IpAddr;

/// RFC 7208 section 4.6.4.
pub const MAX_LOOKUPS: u32 = 10;
pub const MAX_VOID_LOOKUPS: u32 = 2;
/// Includes followed below a domain: a tree this deep is already far over the lookup limit.
const MAX_DEPTH: usize = 12;
/// The most MX records one `mx` may look at (RFC 7208 section 4.6.4).
const MAX_MX_NAMES: usize = 10;

fn too_many_exchanges(term: &str, exchanges: usize) -> String {
    format!(
        "{term} names {exchanges} MX records, more than the {MAX_MX_NAMES} an mx may look at: \
         a permerror (RFC 7208 section 4.6.4)"
    )
}

/// One domain's SPF record as DNS has it.
pub enum Record {
    Found(Box<Spf>),
    /// No TXT record starting `v=spf1`.
    None,
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
        Got::Missing => return Record::None,
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
        [] => Record::None,
        [one] if unknown_mechanism(one).is_some() => Record::Syntax(format!(
            "{one:?}: {:?} is not a mechanism (RFC 7208 section 4.6: any syntax error is a permerror)",
            unknown_mechanism(one).unwrap_or_default()
        )),
        [one] => match Spf::parse(one.as_bytes()) {
            Ok(parsed) => Record::Found(Box::new(parsed)),
            Err(error) => Record::Syntax(format!("{one:?}: {error}")),
        },
        several => Record::Several(several.len()),
    }
}

/// The first term of `record` that is neither one of RFC 7208's mechanisms (section 5) nor a
/// modifier (`name=value`, section 6, which receivers ignore when unknown): a typo such as
/// `ipv4:192.0.2.1` or `inlcude:_spf.example.com`, which mail-auth's parser lets through.
fn unknown_mechanism(record: &str) -> Option<&str> {
    const MECHANISMS: [&str; 8] = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];
    record.split_ascii_whitespace().skip(1).find(|term| {
        let body = term.trim_start_matches(['+', '-', '~', '?']);
        let name_end = body.find([':', '/', '=']).unwrap_or(body.len());
        let is_modifier = body[name_end..].starts_with('=');
        let name = body[..name_end].to_ascii_lowercase();
        !is_modifier && !MECHANISMS.contains(&name.as_str())
    })
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
    /// A part DNS did not answer: the counts are a floor.
    pub unknown: Option<String>,
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
                 receivers return permerror, and SPF fails for all mail; the 11th is at {at}",
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
        Record::None if top => {
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
        Record::None => {
            tree.void_lookups += 1;
            tree.void_at.push(path.join(" > "));
            tree.issues.push((
                Severity::Error,
                "spf_include_without_record",
                format!(
                    "{} names {domain}, which publishes no SPF record: a permerror for every \
                     message whose check reaches it (RFC 7208 section 5.2)",
                    path[..path.len() - 1].join(" > ")
                ),
                Some(format!(
                    "remove {}",
                    path.last().cloned().unwrap_or_default()
                )),
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
        check_all(&spf, domain, tree);
    }
    // Section 5.1: mechanisms after "all" are never reached; section 6.1: with "all"
    // anywhere, "redirect" is ignored. Neither costs a lookup.
    let reached = spf
        .directives
        .iter()
        .position(|d| matches!(d.mechanism, Mechanism::All))
        .map_or(spf.directives.len(), |all| all + 1);
    for directive in &spf.directives[..reached] {
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
                if let Some(name) = name {
                    let a = look.get(&name, Kind::A);
                    let aaaa = look.get(&name, Kind::Aaaa);
                    if matches!(a, Got::Missing) && matches!(aaaa, Got::Missing) {
                        void(tree, path, &term);
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
            Mechanism::Exists { .. } => count(tree, path, &term),
            Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. } => {}
        }
    }
    let has_all = spf.directives[..reached]
        .last()
        .is_some_and(|d| matches!(d.mechanism, Mechanism::All));
    if let Some(redirect) = spf.redirect.as_ref().filter(|_| !has_all) {
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
                "{} > {term} is a macro, expanded per message: not followed",
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

/// The top-level record's `all`: `+all` authorises the whole Internet, `?all` nothing.
fn check_all(spf: &Spf, domain: &str, tree: &mut Tree) {
    let all = spf
        .directives
        .iter()
        .find(|d| matches!(d.mechanism, Mechanism::All));
    match all.map(|d| &d.qualifier) {
        Some(Qualifier::Pass) => tree.issues.push((
            Severity::Error,
            "spf_pass_all",
            format!("the SPF record of {domain} ends with +all: every address on the Internet passes"),
            Some("end it with -all (or ~all while you check the senders)".into()),
        )),
        Some(Qualifier::Neutral) => tree.issues.push((
            Severity::Warning,
            "spf_neutral_all",
            format!("the SPF record of {domain} ends with ?all: other addresses are neither authorised nor refused"),
            Some("end it with ~all, then -all".into()),
        )),
        None if spf.redirect.is_none() => tree.issues.push((
            Severity::Info,
            "spf_no_all",
            format!("the SPF record of {domain} has no all: other addresses get neutral (RFC 7208 section 4.7)"),
            Some("end it with ~all, then -all".into()),
        )),
        _ => {}
    }
}

/// Whether SPF of `domain` authorises `ip`, and by which chain of mechanisms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `include:sendgrid.net > ip4:167.89.0.0/17`
    Pass(String),
    /// No mechanism authorises it (the term that refused it, if one did).
    NotAuthorised(Option<String>),
    /// The record is broken where the check reaches it (a loop, several records, bad
    /// syntax): receivers return permerror, which fails DMARC's SPF.
    PermError(String),
    /// The record or DNS cannot tell (ptr, exists, a macro, no answer).
    Unknown(String),
    Pending,
}

/// What one evaluation has spent of the limits of RFC 7208 section 4.6.4, across its whole
/// tree: receivers stop there with permerror, so a mechanism past the limit authorises
/// nothing, whatever it would match.
#[derive(Default)]
struct Spent {
    /// Terms that query DNS: include, a, mx, ptr, exists, redirect.
    lookups: u32,
    /// Of those, the ones whose name had no answer (NXDOMAIN or no record of the type).
    voids: u32,
}

impl Spent {
    /// Counts `term`, a term that queries DNS, before its query is made.
    fn lookup(&mut self, term: &str) -> Result<(), Verdict> {
        self.lookups += 1;
        if self.lookups > MAX_LOOKUPS {
            return Err(Verdict::PermError(format!(
                "{term} would be DNS lookup {} of at most {MAX_LOOKUPS} (RFC 7208 section 4.6.4)",
                self.lookups
            )));
        }
        Ok(())
    }

    /// Counts a query of `term` that had no answer.
    fn void(&mut self, term: &str) -> Result<(), Verdict> {
        self.voids += 1;
        if self.voids > MAX_VOID_LOOKUPS {
            return Err(Verdict::PermError(format!(
                "{term} is void lookup {} of at most {MAX_VOID_LOOKUPS} (RFC 7208 section 4.6.4)",
                self.voids
            )));
        }
        Ok(())
    }
}

pub fn evaluate(look: &mut Lookups, domain: &str, ip: IpAddr) -> Verdict {
    evaluate_at(look, domain, ip, &mut Vec::new(), &mut Spent::default())
}

/// `visited`: the domains on the way here, to stop at a loop.
fn evaluate_at(
    look: &mut Lookups,
    domain: &str,
    ip: IpAddr,
    visited: &mut Vec<String>,
    spent: &mut Spent,
) -> Verdict {
    if visited.iter().any(|v| v == domain) {
        return Verdict::PermError(format!("the SPF tree loops back to {domain}"));
    }
    if visited.len() > MAX_DEPTH {
        return Verdict::PermError("the SPF tree is too deep".into());
    }
    let spf = match record(look, domain) {
        Record::Found(spf) => spf,
        Record::Pending => return Verdict::Pending,
        Record::Unknown(why) => return Verdict::Unknown(why),
        // Top level: no SPF at all (none); below an include: a permerror (section 5.2).
        Record::None if visited.is_empty() => return Verdict::NotAuthorised(None),
        Record::None => return Verdict::PermError(format!("{domain} has no SPF record")),
        Record::Several(_) | Record::Syntax(_) => {
            return Verdict::PermError(format!("the SPF record of {domain} is not valid"))
        }
    };
    visited.push(domain.to_string());
    let verdict = evaluate_record(look, &spf, domain, ip, visited, spent);
    visited.pop();
    verdict
}

fn evaluate_record(
    look: &mut Lookups,
    spf: &Spf,
    domain: &str,
    ip: IpAddr,
    visited: &mut Vec<String>,
    spent: &mut Spent,
) -> Verdict {
    for directive in &spf.directives {
        let term = term(directive);
        if queries_dns(&directive.mechanism) {
            if let Err(over) = spent.lookup(&term) {
                return over;
            }
        }
        let matched = match &directive.mechanism {
            Mechanism::All => Match::Yes(None),
            Mechanism::Ip4 { addr, mask } => Match::from(match ip {
                IpAddr::V4(v4) => u32::from(v4) & mask == u32::from(*addr) & mask,
                IpAddr::V6(_) => false,
            }),
            Mechanism::Ip6 { addr, mask } => Match::from(match ip {
                IpAddr::V6(v6) => u128::from(v6) & mask == u128::from(*addr) & mask,
                IpAddr::V4(_) => false,
            }),
            Mechanism::A {
                macro_string,
                ip4_mask,
                ip6_mask,
            } => match target(macro_string, domain) {
                Some(name) => addresses_match(look, &name, ip, *ip4_mask, *ip6_mask),
                None => Match::Unknown(format!("{term} is a macro")),
            },
            Mechanism::Mx {
                macro_string,
                ip4_mask,
                ip6_mask,
            } => match target(macro_string, domain) {
                Some(name) => mx_match(look, &name, ip, *ip4_mask, *ip6_mask, &term),
                None => Match::Unknown(format!("{term} is a macro")),
            },
            Mechanism::Include { macro_string } => match literal(macro_string) {
                Some(next) => match evaluate_at(look, &next, ip, visited, spent) {
                    Verdict::Pass(chain) => Match::Yes(Some(chain)),
                    Verdict::NotAuthorised(_) => Match::No,
                    Verdict::PermError(why) => return Verdict::PermError(why),
                    Verdict::Unknown(why) => Match::Unknown(why),
                    Verdict::Pending => Match::Pending,
                },
                None => Match::Unknown(format!("{term} is a macro")),
            },
            Mechanism::Ptr { .. } | Mechanism::Exists { .. } => {
                Match::Unknown(format!("{term} depends on the message"))
            }
        };
        match matched {
            Match::No => continue,
            Match::Void => match spent.void(&term) {
                Ok(()) => continue,
                Err(over) => return over,
            },
            Match::PermError(why) => return Verdict::PermError(why),
            Match::Pending => return Verdict::Pending,
            Match::Unknown(why) => return Verdict::Unknown(why),
            Match::Yes(chain) if directive.qualifier == Qualifier::Pass => {
                let chain = match chain {
                    Some(below) => format!("{term} > {below}"),
                    None => term,
                };
                return Verdict::Pass(chain);
            }
            Match::Yes(_) => return Verdict::NotAuthorised(Some(term)),
        }
    }
    let Some(redirect) = &spf.redirect else {
        return Verdict::NotAuthorised(None);
    };
    if let Err(over) = spent.lookup(&redirect_term(redirect)) {
        return over;
    }
    match literal(redirect) {
        Some(next) => match evaluate_at(look, &next, ip, visited, spent) {
            Verdict::Pass(chain) => Verdict::Pass(format!("redirect={next} > {chain}")),
            other => other,
        },
        None => Verdict::Unknown(format!(
            "redirect={} is a macro, expanded per message",
            macro_text(redirect)
        )),
    }
}

enum Match {
    Yes(Option<String>),
    No,
    /// No: the term's name had no answer at all (a void lookup, counted against its
    /// limit where the term is evaluated).
    Void,
    /// Receivers stop here with permerror.
    PermError(String),
    Unknown(String),
    Pending,
}

/// Whether a mechanism queries DNS, and so counts against the limit of 10 lookups.
fn queries_dns(mechanism: &Mechanism) -> bool {
    !matches!(
        mechanism,
        Mechanism::All | Mechanism::Ip4 { .. } | Mechanism::Ip6 { .. }
    )
}

impl From<bool> for Match {
    fn from(matched: bool) -> Match {
        if matched {
            Match::Yes(None)
        } else {
            Match::No
        }
    }
}

fn addresses_match(look: &mut Lookups, name: &str, ip: IpAddr, mask4: u32, mask6: u128) -> Match {
    let kind = if ip.is_ipv4() { Kind::A } else { Kind::Aaaa };
    let addresses = match look.get(name, kind) {
        Got::Records(addresses) => addresses,
        Got::Missing => return Match::Void,
        Got::Failed(why) => return Match::Unknown(why),
        Got::Pending => return Match::Pending,
    };
    let hit = addresses
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .any(|a| match (a, ip) {
            (IpAddr::V4(a), IpAddr::V4(ip)) => u32::from(a) & mask4 == u32::from(ip) & mask4,
            (IpAddr::V6(a), IpAddr::V6(ip)) => u128::from(a) & mask6 == u128::from(ip) & mask6,
            _ => false,
        });
    Match::from(hit)
}

/// RFC 7208 section 4.6.4: an mx whose name has more than 10 MX records is a permerror.
fn mx_match(
    look: &mut Lookups,
    name: &str,
    ip: IpAddr,
    mask4: u32,
    mask6: u128,
    term: &str,
) -> Match {
    let exchanges = match look.get(name, Kind::Mx) {
        Got::Records(exchanges) => exchanges,
        Got::Missing => return Match::Void,
        Got::Failed(why) => return Match::Unknown(why),
        Got::Pending => return Match::Pending,
    };
    if exchanges.len() > MAX_MX_NAMES {
        return Match::PermError(too_many_exchanges(term, exchanges.len()));
    }
    let mut result = Match::No;
    for exchange in exchanges.iter() {
        match addresses_match(look, exchange, ip, mask4, mask6) {
            Match::No | Match::Void => {}
            Match::Pending => result = Match::Pending,
            other => return other,
        }
    }
    result
}

/// A domain written out (no macro), lower-cased, without a trailing dot.
fn literal(target: &Macro) -> Option<String> {
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
fn target(target: &Macro, domain: &str) -> Option<String> {
    match target {
        Macro::None => Some(domain.to_string()),
        other => literal(other),
    }
}

/// `redirect=TARGET` as written.
fn redirect_term(target: &Macro) -> String {
    format!("redirect={}", macro_text(target))
}

fn macro_text(target: &Macro) -> String {
    literal(target).unwrap_or_else(|| "%{...}".into())
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
    let mechanism = match &directive.mechanism {
        Mechanism::All => "all".to_string(),
        Mechanism::Include { macro_string } => format!("include:{}", macro_text(macro_string)),
        Mechanism::A { macro_string, .. } => with_target("a", macro_string),
        Mechanism::Mx { macro_string, .. } => with_target("mx", macro_string),
        Mechanism::Ptr { macro_string } => with_target("ptr", macro_string),
        Mechanism::Exists { macro_string } => format!("exists:{}", macro_text(macro_string)),
        Mechanism::Ip4 { addr, mask } => format!("ip4:{addr}/{}", mask.count_ones()),
        Mechanism::Ip6 { addr, mask } => format!("ip6:{addr}/{}", mask.count_ones()),
    };
    format!("{qualifier}{mechanism}")
}
