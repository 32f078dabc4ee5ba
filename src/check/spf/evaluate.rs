//! Which mechanism of a domain's SPF record authorises a given address (RFC 7208 section 5),
//! following includes and redirects within the limits of section 4.6.4.

use super::{
    record,
    spec::{expanded, macro_text, redirect_term, target_for},
    term, too_many_exchanges, Record, MAX_DEPTH, MAX_LOOKUPS, MAX_MX_NAMES, MAX_VOID_LOOKUPS,
};
use crate::check::dns::Kind;
use crate::check::{Got, Lookups};
use mail_auth::spf::{Mechanism, Qualifier, Spf};
use std::net::IpAddr;

/// A term that refused an address before the final `all`, and the domain whose SPF record
/// holds it: the domain checked, or the one a `redirect=` led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub term: String,
    pub record_of: String,
}

/// Whether SPF of `domain` authorises `ip`, and by which chain of mechanisms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// `include:sendgrid.net > ip4:167.89.0.0/17`
    Pass(String),
    /// No mechanism authorises it (the term that refused it before the final `all`, if one
    /// did: the fix is to remove that term, not to add the address).
    NotAuthorised(Option<Refusal>),
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
        Record::None { .. } if visited.is_empty() => return Verdict::NotAuthorised(None),
        Record::None { .. } => return Verdict::PermError(format!("{domain} has no SPF record")),
        Record::Several(_) | Record::Syntax(_) => {
            return Verdict::PermError(format!("the SPF record of {domain} is not valid"))
        }
    };
    visited.push(domain.to_string());
    let verdict = evaluate_record(look, &spf, domain, ip, visited, spent);
    visited.pop();
    verdict
}

/// A record's verdict. A term the data cannot decide (ptr, a macro, an exists that depends
/// on the message) does not end the check: when every such term would give the same answer
/// as the terms after it (`+ptr ip4:192.0.2.0/24` for an address in the range), that answer
/// stands; otherwise the verdict is unknown.
fn evaluate_record(
    look: &mut Lookups,
    spf: &Spf,
    domain: &str,
    ip: IpAddr,
    visited: &mut Vec<String>,
    spent: &mut Spent,
) -> Verdict {
    let mut undecided = Vec::new();
    let verdict = evaluate_terms(look, spf, domain, ip, visited, spent, &mut undecided);
    let Some((_, why)) = undecided.first() else {
        return verdict;
    };
    let passes_if_matched = |passes: bool| undecided.iter().all(|(p, _)| *p == passes);
    match verdict {
        Verdict::Pass(chain) if passes_if_matched(true) => Verdict::Pass(chain),
        Verdict::NotAuthorised(term) if passes_if_matched(false) => Verdict::NotAuthorised(term),
        Verdict::Pending => Verdict::Pending,
        _ => Verdict::Unknown(why.clone()),
    }
}

/// The terms of a record in order, the first that matches deciding; `undecided` collects
/// the terms that cannot be decided (whether they pass if they match, and why).
fn evaluate_terms(
    look: &mut Lookups,
    spf: &Spf,
    domain: &str,
    ip: IpAddr,
    visited: &mut Vec<String>,
    spent: &mut Spent,
    undecided: &mut Vec<(bool, String)>,
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
            } => match target_for(macro_string, domain, ip) {
                Some(name) => addresses_match(look, &name, ip, *ip4_mask, *ip6_mask),
                None => Match::Undecided(format!("{term} is a macro")),
            },
            Mechanism::Mx {
                macro_string,
                ip4_mask,
                ip6_mask,
            } => match target_for(macro_string, domain, ip) {
                Some(name) => mx_match(look, &name, ip, *ip4_mask, *ip6_mask, &term),
                None => Match::Undecided(format!("{term} is a macro")),
            },
            Mechanism::Include { macro_string } => match expanded(macro_string, domain, ip) {
                Some(next) => match evaluate_at(look, &next, ip, visited, spent) {
                    Verdict::Pass(chain) => Match::Yes(Some(chain)),
                    Verdict::NotAuthorised(_) => Match::No,
                    Verdict::PermError(why) => return Verdict::PermError(why),
                    Verdict::Unknown(why) => Match::Unknown(why),
                    Verdict::Pending => Match::Pending,
                },
                None => Match::Unknown(format!("{term} is a macro")),
            },
            // exists: any A record of the name matches, whatever the address (section 5.7).
            Mechanism::Exists { macro_string } => match expanded(macro_string, domain, ip) {
                Some(name) => match look.get(&name, Kind::A) {
                    Got::Records(addresses) => Match::from(!addresses.is_empty()),
                    Got::Missing => Match::Void,
                    Got::Failed(why) => Match::Unknown(why),
                    Got::Pending => Match::Pending,
                },
                None => Match::Undecided(format!("{term} depends on the message")),
            },
            // ptr matches by the client's reverse and forward DNS (RFC 7208 section 5.5),
            // which the receiver saw at the time: not worked out here.
            Mechanism::Ptr { .. } => Match::Undecided(format!(
                "{term} depends on the sender's reverse DNS at the time, not evaluated"
            )),
        };
        match matched {
            Match::No => continue,
            Match::Void => match spent.void(&term) {
                Ok(()) => continue,
                Err(over) => return over,
            },
            Match::PermError(why) => return Verdict::PermError(why),
            Match::Pending => return Verdict::Pending,
            Match::Undecided(why) => {
                undecided.push((directive.qualifier == Qualifier::Pass, why));
                continue;
            }
            Match::Unknown(why) => return Verdict::Unknown(why),
            Match::Yes(chain) if directive.qualifier == Qualifier::Pass => {
                let chain = match chain {
                    Some(below) => format!("{term} > {below}"),
                    None => term,
                };
                return Verdict::Pass(chain);
            }
            // The final `all` refuses what nothing matched; another term refused it first.
            Match::Yes(_) => {
                let before_all = !matches!(directive.mechanism, Mechanism::All);
                return Verdict::NotAuthorised(before_all.then(|| Refusal {
                    term,
                    record_of: domain.to_string(),
                }));
            }
        }
    }
    let Some(redirect) = &spf.redirect else {
        return Verdict::NotAuthorised(None);
    };
    if let Err(over) = spent.lookup(&redirect_term(redirect)) {
        return over;
    }
    match expanded(redirect, domain, ip) {
        Some(next) => match evaluate_at(look, &next, ip, visited, spent) {
            Verdict::Pass(chain) => Verdict::Pass(format!("redirect={next} > {chain}")),
            other => other,
        },
        None => Verdict::Unknown(format!(
            "redirect={} is a macro of the message (its sender or HELO name)",
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
    /// Matches or not depending on the message (ptr, a macro): the check goes on, and its
    /// answer stands if it is the same either way.
    Undecided(String),
    /// Cannot tell at all (DNS did not answer, or an include could not be decided, which
    /// may hide a permerror): the check stops.
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
