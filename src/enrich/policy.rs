//! The policy in force, from DNS: each policy domain's DMARC record and whether the From
//! domains of failing mail below it exist (RFC 9989 sections 4.10.1 and 3.2.13), asked after
//! ingest like reverse DNS and cached in the database. Without DNS, `report readiness`
//! infers the policy from the reports (queries/policy.sql).

use super::dns::{self, DmarcAnswer, DnsOptions, Existence};
use crate::parse::dmarc_record::{is_registry_record, parse_dmarc_record, WalkEnd};
use crate::store::policy::{policy_due, save_policies, PolicyAnswer};
use crate::store::{Database, DbOptions, Mode};
use anyhow::Result;

/// A DMARC record is asked again after an hour: users change it after reading `report
/// readiness`, and the next run should judge the new one. Whether a name exists changes
/// rarely: a day.
pub const POLICY_TTL_SECONDS: i64 = 3_600;
pub const EXISTENCE_TTL_SECONDS: i64 = 86_400;

/// Asks DNS what is due and stores the answers; returns how many names were answered and a
/// warning when DNS did not answer in time. The database is not held while DNS is asked.
pub fn refresh(
    db: &DbOptions,
    options: &DnsOptions,
    now: i64,
    everything: bool,
) -> Result<(u64, Option<String>)> {
    let due = {
        let database = Database::open(db, Mode::ReadWrite)?;
        let cutoff = |ttl: i64| if everything { now + 1 } else { now - ttl };
        policy_due(
            &database.conn,
            cutoff(POLICY_TTL_SECONDS),
            cutoff(EXISTENCE_TTL_SECONDS),
        )?
    };
    if due.domains.is_empty() && due.names.is_empty() {
        return Ok((0, None));
    }
    let (records, existence) = match dns::policy_lookups(&due.domains, &due.names, options) {
        Ok(answers) => answers,
        Err(warning) => return Ok((0, Some(warning))),
    };
    let records: Vec<PolicyAnswer> = records.into_iter().filter_map(policy_answer).collect();
    let existence: Vec<(String, &'static str)> = existence
        .into_iter()
        .filter_map(|(name, answer)| match answer {
            Existence::Exists => Some((name, "exists")),
            Existence::NxDomain => Some((name, "nxdomain")),
            // Not stored: asked again next run.
            Existence::Failed => None,
        })
        .collect();
    let database = Database::open(db, Mode::ReadWrite)?;
    save_policies(&database.conn, &records, &existence, now)?;
    Ok(((records.len() + existence.len()) as u64, None))
}

/// The row for one answer; `None` for a failed lookup (the old answer stays).
fn policy_answer((domain, answer): (String, DmarcAnswer)) -> Option<PolicyAnswer> {
    let walk = match answer {
        DmarcAnswer::Walked(walk) => walk,
        DmarcAnswer::Failed(error) => {
            log::warn!("DMARC record of {domain}: {error}");
            return None;
        }
    };
    let above = |at: String| (at != domain).then_some(at);
    let several_at = walk.several.as_ref().map(|(at, _)| at.clone());
    let (status, record, tags, found_at) = match walk {
        WalkEnd {
            found: Some((at, record)),
            ..
        } => {
            let mut tags = parse_dmarc_record(&record);
            // RFC 9989 section 4.10.1: read as p=none, and said so (`report readiness`).
            let status = if tags.not_valid.is_some() {
                "invalid"
            } else {
                "found"
            };
            let found_at = above(at);
            if found_at.is_some() {
                tags = tags.for_subdomain();
            }
            (status, Some(record), tags, found_at)
        }
        // RFC 9989 section 4.10: several DMARC records at a name are discarded; with none
        // found above them, there is no policy at all.
        WalkEnd {
            found: None,
            several: Some((at, records)),
            ..
        } => (
            "several",
            Some(records.join(" | ")),
            Default::default(),
            above(at),
        ),
        WalkEnd { found: None, .. } => ("none", None, Default::default(), None),
    };
    let found_at_public_suffix = found_at
        .as_deref()
        .map(|at| is_registry_record(at, tags.psd));
    Some(PolicyAnswer {
        domain,
        status,
        record,
        tags,
        found_at,
        several_at,
        found_at_public_suffix,
    })
}
