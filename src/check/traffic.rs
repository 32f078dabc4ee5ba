//! SPF held against the traffic: for each domain used as MAIL FROM by the sources seen in
//! the period, the tree's limits, which mechanism authorises each of the domain's own
//! sources, the includes no source used, and for the domain's own mail that SPF does not
//! cover, the include its provider documents (data/spf_includes.csv) with the lookups the
//! record would need after adding it.

use super::spf::{self, Verdict};
use super::{Finding, Lookups, Severity};
use crate::views::table::Table;
use anyhow::{Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

const PROVIDERS: &str = include_str!("../../data/spf_includes.csv");

/// A source seen sending as the domain in the period.
#[derive(Debug, Clone)]
pub struct SourceUse {
    pub ip: String,
    pub sender: Option<String>,
    pub asn: Option<u64>,
    pub base_domain: Option<String>,
    /// DKIM domains that signed its mail and passed.
    pub signers: Vec<String>,
    /// MAIL FROM domains in the policy domain's tree it used (SPF checks those).
    pub mail_from: Vec<String>,
    pub messages: u64,
    /// Messages that are the domain's own: an authorised sender's, or with aligned DKIM.
    pub own_messages: u64,
    /// Of those, the messages an [[authorised]] entry lists.
    pub listed_messages: u64,
}

impl SourceUse {
    pub fn from_row(table: &Table, row: usize) -> SourceUse {
        let list = |column: &str| -> Vec<String> {
            table
                .get(row, column)
                .as_array()
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let text = |column: &str| table.get(row, column).as_str().map(String::from);
        SourceUse {
            ip: text("source_ip").unwrap_or_default(),
            sender: text("sender"),
            asn: table.get(row, "asn").as_u64(),
            base_domain: text("base_domain"),
            signers: list("signers"),
            mail_from: list("mail_from"),
            messages: table.get(row, "messages").as_u64().unwrap_or(0),
            own_messages: table.get(row, "own_messages").as_u64().unwrap_or(0),
            listed_messages: table.get(row, "listed_messages").as_u64().unwrap_or(0),
        }
    }

    fn name(&self) -> String {
        match &self.sender {
            Some(sender) => format!("{} ({sender})", self.ip),
            None => self.ip.clone(),
        }
    }
}

/// A provider and the SPF include it documents for its customers.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Provider {
    pub provider: String,
    /// Its sending network, when the network is the provider's alone.
    pub asn: Option<u64>,
    /// Its domain: a source whose PTR base domain or DKIM signer is this (or under it).
    pub domain: String,
    /// The domain to include (`include:` + this).
    pub include: String,
}

pub fn providers() -> Result<Vec<Provider>> {
    csv::Reader::from_reader(PROVIDERS.as_bytes())
        .deserialize()
        .collect::<Result<Vec<Provider>, _>>()
        .context("data/spf_includes.csv")
}

fn provider_of<'a>(source: &SourceUse, providers: &'a [Provider]) -> Option<&'a Provider> {
    let under = |name: &str, domain: &str| name == domain || name.ends_with(&format!(".{domain}"));
    providers.iter().find(|p| {
        p.asn.is_some() && p.asn == source.asn
            || source
                .base_domain
                .as_deref()
                .is_some_and(|b| under(b, &p.domain))
            || source.signers.iter().any(|s| under(s, &p.domain))
    })
}

/// The SPF findings of `domain` and of the MAIL FROM domains under it that its sources used.
pub fn spf(
    look: &mut Lookups,
    domain: &str,
    sources: &[SourceUse],
    providers: &[Provider],
) -> Vec<Finding> {
    let mut names: BTreeSet<&str> = BTreeSet::from([domain]);
    names.extend(
        sources
            .iter()
            .flat_map(|s| s.mail_from.iter().map(String::as_str)),
    );
    let mut findings = Vec::new();
    for name in names {
        let users: Vec<&SourceUse> = sources
            .iter()
            .filter(|s| s.mail_from.iter().any(|m| m == name))
            .collect();
        findings.extend(mail_from_domain(look, domain, name, &users, providers));
    }
    findings
}

fn mail_from_domain(
    look: &mut Lookups,
    domain: &str,
    name: &str,
    users: &[&SourceUse],
    providers: &[Provider],
) -> Vec<Finding> {
    let tree = spf::tree(look, name);
    let finding = |severity, code, message: String, fix: Option<String>| {
        Finding::new(domain, "spf", severity, code, message, fix)
    };
    let mut findings: Vec<Finding> = tree
        .issues
        .iter()
        .map(|(severity, code, message, fix)| {
            finding(*severity, code, message.clone(), fix.clone()).about(name)
        })
        .collect();
    if let Some(why) = &tree.unknown {
        findings
            .push(Finding::unanswered(domain, "spf", &format!("SPF of {name}"), why).about(name));
    } else if tree.has_record {
        findings.push(
            finding(
                Severity::Info,
                "spf_lookups",
                format!(
                    "SPF of {name}: {} DNS lookups of {} allowed, {} void of {}",
                    tree.lookups,
                    spf::MAX_LOOKUPS,
                    tree.void_lookups,
                    spf::MAX_VOID_LOOKUPS
                ),
                None,
            )
            .about(name),
        );
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    // Per provider include, the domain's own sources SPF does not cover: (sources, messages).
    let mut missing: BTreeMap<String, (Vec<String>, u64)> = BTreeMap::new();
    let mut others = (0u64, 0u64);
    for source in users {
        let Ok(ip) = source.ip.parse::<IpAddr>() else {
            continue;
        };
        match spf::evaluate(look, name, ip) {
            Verdict::Pass(chain) => {
                used.insert(chain.split(" > ").next().unwrap_or_default().to_string());
                if source.own_messages > 0 {
                    findings.push(
                        finding(
                            Severity::Info,
                            "spf_authorises",
                            // One finding per MAIL FROM domain the source used, each naming
                            // it; the count is the source's, under every MAIL FROM.
                            format!(
                                "{} ({} messages in all) is, as MAIL FROM {name}, authorised by {chain}",
                                source.name(),
                                source.messages
                            ),
                            None,
                        )
                        .about(&source.ip),
                    );
                }
            }
            // Only aligned DKIM says the mail is the domain's own: a forwarder (DKIM survives
            // the relay, SPF does not) looks the same, and adding its network to SPF would
            // authorise everyone on it. Said, not prescribed, until the sender is listed.
            Verdict::NotAuthorised(_) if source.own_messages > 0 && source.listed_messages == 0 => {
                findings.push(
                    finding(
                        Severity::Info,
                        "spf_not_covered_unlisted",
                        format!(
                            "{} sent {} messages with your aligned DKIM and MAIL FROM {name}, which \
                             its SPF does not authorise: a forwarder or mailing list (RFC 7960 \
                             section 3.2.1), or your own server missing from SPF",
                            source.name(),
                            source.own_messages
                        ),
                        Some(format!(
                            "if it is yours, list it under [[authorised]] and check again; if it \
                             forwards, nothing to change in the SPF record of {name}"
                        )),
                    )
                    .about(&source.ip),
                )
            }
            Verdict::NotAuthorised(refused_by) if source.own_messages > 0 => match provider_of(source, providers) {
                Some(provider) => {
                    let entry = missing.entry(provider.include.clone()).or_default();
                    entry.0.push(source.name());
                    entry.1 += source.own_messages;
                }
                None => findings.push(
                    finding(
                        Severity::Warning,
                        "spf_not_covered",
                        format!(
                            "{} sent {} of your own messages with MAIL FROM {name}, and its SPF \
                             does not authorise it: SPF fails for them",
                            source.name(),
                            source.own_messages
                        ),
                        Some(match refused_by {
                            // RFC 7208 section 4.6.2: the first match wins, so adding the
                            // address after the term that refuses it changes nothing.
                            Some(spf::Refusal { term, record_of }) => format!(
                                "remove {term} from the SPF record of {record_of}: it refuses \
                                 the address before anything can authorise it"
                            ),
                            None => format!(
                                "add the address (or its provider's include) to the SPF record of {name}"
                            ),
                        }),
                    )
                    .about(&source.ip),
                ),
            },
            Verdict::NotAuthorised(_) => {
                others.0 += 1;
                others.1 += source.messages;
            }
            // The domain's own mail failing SPF for the record's sake is the domain's to fix.
            Verdict::PermError(why) => findings.push(
                finding(
                    match source.own_messages > 0 {
                        true => Severity::Warning,
                        false => Severity::Info,
                    },
                    "spf_permerror",
                    format!("{}: SPF of {name} gives permerror ({why}), so SPF fails for its mail", source.name()),
                    None,
                )
                .about(&source.ip),
            ),
            Verdict::Unknown(why) => findings.push(
                finding(Severity::Unknown, "spf_undecided", format!("{}: SPF of {name} cannot tell ({why})", source.name()), None)
                    .about(&source.ip),
            ),
            Verdict::Pending => {}
        }
    }
    for (include, (names, messages)) in missing {
        // Already in the tree, yet not covering them: adding it again changes nothing.
        if let Some(top_term) = tree.followed.get(&include) {
            used.insert(top_term.clone());
            findings.push(
                finding(
                    Severity::Warning,
                    "spf_include_not_covering",
                    format!(
                        "{} sent {messages} of your own messages with MAIL FROM {name}, not \
                         authorised by its SPF, although it includes include:{include}, their \
                         provider's (through {top_term}): these addresses are not in it",
                        names.join(", ")
                    ),
                    Some(format!(
                        "ask the provider which include covers these addresses (dedicated \
                         addresses often have their own), or add them to the SPF record of {name}"
                    )),
                )
                .about(&include),
            );
            continue;
        }
        let added = spf::tree(look, &include);
        let after = tree.lookups + 1 + added.lookups;
        findings.push(
            finding(
                Severity::Warning,
                "spf_include_missing",
                format!(
                    "{} sent {messages} of your own messages with MAIL FROM {name}, not \
                     authorised by its SPF; their provider documents include:{include}",
                    names.join(", ")
                ),
                Some(format!(
                    "add include:{include} to the SPF record of {name} ({after} lookups after the change{})",
                    if after > spf::MAX_LOOKUPS { ", over the limit of 10: flatten first" } else { "" }
                )),
            )
            .about(&include),
        );
    }
    if others.0 > 0 {
        findings.push(
            finding(
                Severity::Info,
                "spf_unauthorised_sources",
                format!(
                    "{} other sources ({} messages) used MAIL FROM {name} and SPF does not \
                     authorise them: spoofing, or senders not listed as yours",
                    others.0, others.1
                ),
                None,
            )
            .about(name),
        );
    }
    if !users.is_empty() {
        for (term, lookups) in &tree.includes {
            if !used.contains(term) {
                findings.push(
                    finding(
                        Severity::Info,
                        "spf_include_unused",
                        format!(
                            "{term} in the SPF record of {name} authorised none of the {} \
                             sources seen in the period",
                            users.len()
                        ),
                        Some(unused_term_fix(term, *lookups)),
                    )
                    .about(term),
                );
            }
        }
    }
    findings
}

/// What to do with a term of the SPF record that authorised no source. A redirect ends the
/// record (RFC 7208 section 6.1): removed, it would leave every address neutral (section
/// 4.7), so it is replaced with an `all` of the record's own.
fn unused_term_fix(term: &str, lookups: u32) -> String {
    match term.starts_with("redirect=") {
        true => format!(
            "if no one sends through it any more, end the record with -all instead of {term} \
             ({lookups} lookups saved)"
        ),
        false => {
            format!("if no one sends through it any more, remove {term} ({lookups} lookups saved)")
        }
    }
}
