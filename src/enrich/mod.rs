//! Naming the sources: who each source address is. Runs after ingest has committed (never on
//! the parse path), only for addresses not named yet or whose reverse DNS answer is due, and
//! holds the database only to read what to do and to store the answers, not while DNS is
//! asked.
//!
//! A source is named from evidence about its address, in this order (`named_by`):
//!   ptr      its forward-confirmed PTR name: the base domain through the sender map, or as
//!            it is when the map does not know it (whoever runs the address wrote both
//!            records);
//!   spf      a domain whose SPF record authorises the address (an SPF `pass` in a report
//!            whose authenticity was verified, for a domain other than the From domain's,
//!            that DNS shows true), through the map of provider domains only (anyone can
//!            publish SPF for a domain of their own, RFC 9989 section 4.4.2);
//!   network  the autonomous system of the IP database, named as a network ("Google LLC,
//!            AS396982"), never as a mail product: anyone can rent an address there.
//! DKIM signing domains never name a source: a `d=` says who signed a message, and a signed
//! message can be replayed from any address. So a report that is not verified names nothing;
//! a verified one is still its reporter's word (anyone who owns a domain can send one), and
//! can name an address only after a provider whose SPF it claims passed and DNS shows
//! authorising the address.
//!
//! With DNS on, it first asks for what `report readiness` judges: each policy domain's DMARC
//! record and whether the From domains of failing mail exist (`policy.rs`).

pub mod dns;
pub mod ipdb;
pub mod names;
pub mod policy;

use crate::check;
use crate::model::{DnsState, DnsStatus, SourceName};
use crate::store::names::{PendingQuery, PendingSource, ReportDomain};
use crate::store::{self, Database, DbOptions, Mode};
use anyhow::Result;
use dns::{DnsOptions, Ptr};
use duckdb::arrow::record_batch::RecordBatch;
use ipdb::IpDatabase;
use names::SenderMap;
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Instant;

/// A reverse DNS answer is asked again after this long; NXDOMAIN after a day (an address
/// may get a name); a failure at the next run.
pub const ANSWER_TTL_SECONDS: i64 = 7 * 86_400;
pub const NXDOMAIN_TTL_SECONDS: i64 = 86_400;

#[derive(Debug, Clone, Default)]
pub struct EnrichOptions {
    /// An MMDB file instead of the bundled IPinfo Lite.
    pub ip_db: Option<PathBuf>,
    /// CSV files of `base_reverse_dns,name,type` over the bundled sender map.
    pub sender_maps: Vec<PathBuf>,
    /// `None`: no reverse DNS (`--no-dns`).
    pub dns: Option<DnsOptions>,
    /// Name every source again and ask DNS again, whatever the cache says.
    pub refresh: bool,
}

impl EnrichOptions {
    /// Names data files the user gave (`--ip-db`, `--sender-map`), rather than the bundled ones.
    pub fn uses_own_files(&self) -> bool {
        self.ip_db.is_some() || !self.sender_maps.is_empty()
    }
}

/// What one run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EnrichSummary {
    pub named: u64,
    pub with_sender: u64,
    pub dns_lookups: u64,
    /// DMARC records and From domains answered (the policy in force, `policy.rs`).
    pub policy_lookups: u64,
    /// Why reverse DNS was cut short, if it was (one line, for stderr).
    pub warning: Option<String>,
}

/// The data naming needs, loaded once: checked before an ingest starts, so a bad `--ip-db`
/// fails at once, naming the file.
pub struct Namer {
    ip_db: IpDatabase,
    senders: SenderMap,
}

impl Namer {
    pub fn load(options: &EnrichOptions) -> Result<Namer> {
        let ip_db = match &options.ip_db {
            Some(path) => IpDatabase::open(path)?,
            None => IpDatabase::bundled()?,
        };
        Ok(Namer {
            ip_db,
            senders: SenderMap::load(&options.sender_maps)?,
        })
    }

    /// Names one source from its DNS answer (new, or as cached), its own passing domains
    /// (SPF, most messages first) and the IP database.
    fn name(
        &self,
        source: &PendingSource,
        fresh: Option<&Answer>,
        own: &[ReportDomain],
    ) -> SourceName {
        let (ptr, dns) = match fresh {
            Some(answer) => (answer.ptr.clone(), answer.state.clone()),
            // Not asked this run: what was known stays (a failed or cut-short lookup keeps
            // its old answer and is asked again next run).
            None => {
                let known = source.ptr.clone().map(|p| (p, source.ptr_confirmed));
                let mut state = source.dns.clone();
                if source.dns_due && state.status == DnsStatus::Ok {
                    state.status = DnsStatus::Skipped;
                }
                (known, state)
            }
        };
        let facts = source
            .source_ip
            .parse::<IpAddr>()
            .map(|ip| self.ip_db.lookup(ip))
            .unwrap_or_default();
        let confirmed_ptr = ptr.as_ref().filter(|(_, confirmed)| *confirmed);
        let base_domain = confirmed_ptr.and_then(|(name, _)| self.senders.base_domain(name));
        let by_ptr = confirmed_ptr.map(|(name, _)| match self.senders.sender_of(name) {
            Some(found) => (found.name.clone(), Some(found.kind.clone())),
            None => (base_domain.clone().unwrap_or_else(|| name.clone()), None),
        });
        let by_spf = || {
            own.iter()
                .find_map(|d| self.senders.sender_of_spf_domain(&d.domain))
                .map(|found| (found.name.clone(), Some(found.kind.clone())))
        };
        let by_network = || {
            facts.asn.map(|asn| {
                (
                    network_name(facts.as_name.as_deref(), asn),
                    Some(NETWORK.into()),
                )
            })
        };
        let named = by_ptr
            .map(|name| (name, "ptr"))
            .or_else(|| by_spf().map(|name| (name, "spf")))
            .or_else(|| by_network().map(|name| (name, "network")));
        let (sender, sender_type, named_by) = match named {
            Some(((name, kind), by)) => (Some(name), kind.filter(|k| !k.is_empty()), Some(by)),
            None => (None, None, None),
        };
        SourceName {
            source_ip: source.source_ip.clone(),
            ptr: ptr.as_ref().map(|(name, _)| name.clone()),
            ptr_confirmed: ptr.as_ref().is_some_and(|(_, confirmed)| *confirmed),
            base_domain,
            asn: facts.asn,
            as_name: facts.as_name,
            as_domain: facts.as_domain,
            country: facts.country,
            sender,
            sender_type,
            named_by,
            dns,
        }
    }

    /// The SPF passes that verified reports claim for the addresses to name and that could
    /// name them: for a domain of the sender map's providers, of another organisation than
    /// the From domain's (a provider's bounce domain). A verified report is still only its
    /// reporter's word, and anyone who owns a domain can send one: DNS has to show each
    /// claim true before it names anything ([`run`]).
    fn spf_claims(&self, conn: &duckdb::Connection) -> Result<Vec<ReportDomain>> {
        // Only domains the map knows can name a sender: picked here, so the per-address
        // query returns a handful of rows rather than one per record.
        let passing = store::names::passing_domains(conn)?;
        let mapped: Vec<&str> = passing
            .iter()
            .map(String::as_str)
            .filter(|d| self.senders.sender_of_spf_domain(d).is_some())
            .collect();
        Ok(store::names::report_domains(conn, &mapped)?
            .into_iter()
            .filter(|d| {
                self.senders.base_domain(&d.domain) != self.senders.base_domain(&d.header_from)
            })
            .collect())
    }
}

/// The (address, domain) pairs of `claims`, once each.
fn claim_pairs(claims: &[ReportDomain]) -> Vec<(IpAddr, String)> {
    let pairs: HashSet<(IpAddr, String)> = claims
        .iter()
        .filter_map(|d| Some((d.source_ip.parse().ok()?, d.domain.clone())))
        .collect();
    pairs.into_iter().collect()
}

/// The sender type of a source named after its network (`named_by` = `network`).
pub const NETWORK: &str = "Network";

/// A network as the IP database names it: its AS name and number ("Google LLC, AS396982").
fn network_name(as_name: Option<&str>, asn: u32) -> String {
    match as_name.map(str::trim).filter(|n| !n.is_empty()) {
        Some(name) => format!("{name}, AS{asn}"),
        None => format!("AS{asn}"),
    }
}

/// Sources named and stored at a time (see `run`).
const NAMING_CHUNK: usize = 8192;

/// Names the sources that need it.
pub fn run(db: &DbOptions, namer: &Namer, options: &EnrichOptions) -> Result<EnrichSummary> {
    let now = store::now_seconds();
    let query = PendingQuery {
        dns: options.dns.is_some(),
        refresh: options.refresh,
        answer_cutoff: now - ANSWER_TTL_SECONDS,
        nxdomain_cutoff: now - NXDOMAIN_TTL_SECONDS,
    };
    let started = Instant::now();
    let mut summary = EnrichSummary::default();
    if let Some(dns_options) = &options.dns {
        let (answered, warning) = policy::refresh(db, dns_options, now, options.refresh)?;
        summary.policy_lookups = answered;
        summary.warning = warning;
    }
    let mut database = open_for_naming(db)?;
    let mut pending = store::names::find_pending(&database.conn, &query)?;
    let mut claimed = match pending.count {
        0 => Vec::new(),
        _ => namer.spf_claims(&database.conn)?,
    };
    let claims = claim_pairs(&claimed);
    let mut spf_cache = match claims.is_empty() {
        true => check::dns::Dns::default(),
        false => check::dns::Dns::from_cache(&database.conn, now)?,
    };
    let due: Vec<IpAddr> = match options.dns {
        Some(_) => store::names::dns_due(&database.conn)?
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect(),
        None => Vec::new(),
    };
    let mut answers = HashMap::new();
    let shown = match &options.dns {
        Some(dns_options) if !due.is_empty() || !claims.is_empty() => {
            // The database is closed while DNS is asked: lookups can take minutes, and other
            // duckmarc processes need it meanwhile. What to name is then worked out again:
            // another process may have named some meanwhile. An address new since then is
            // named without asking DNS (its lookup is due next run).
            drop(database);
            if !due.is_empty() {
                answers = ask_dns(&due, dns_options, now, &mut summary);
            }
            let shown = check::spf_claims_shown(&mut spf_cache, &claims, Some(dns_options));
            database = open_for_naming(db)?;
            pending = store::names::find_pending(&database.conn, &query)?;
            claimed = namer.spf_claims(&database.conn)?;
            shown
        }
        // Without DNS, only what the cache already shows.
        _ => check::spf_claims_shown(&mut spf_cache, &claims, None),
    };
    let shown: HashSet<(IpAddr, String)> = claims
        .into_iter()
        .zip(shown)
        .filter_map(|(claim, shown)| shown.then_some(claim))
        .collect();
    let conn = &database.conn;
    spf_cache.save(conn, now)?;
    log::debug!(
        "{} sources to name, found in {:?}",
        pending.count,
        started.elapsed()
    );
    if pending.count == 0 {
        store::names::mark_all_named(conn, &pending)?;
        return Ok(summary);
    }
    let by_ip = group_domains(
        claimed
            .into_iter()
            .filter(|d| {
                d.source_ip
                    .parse()
                    .is_ok_and(|ip| shown.contains(&(ip, d.domain.clone())))
            })
            .collect(),
    );
    let mut writer = store::names::NameWriter::begin(conn, now, &pending)?;
    // Read a row group at a time (see PENDING_SLAB), named and stored a chunk at a time:
    // names are stored as they are made, never all held at once.
    for slab in store::names::pending_slabs(conn, pending.count) {
        let slab = slab?;
        for batches in in_chunks(&slab, NAMING_CHUNK) {
            let chunk = store::names::pending_sources(batches)?;
            let names: Vec<SourceName> = chunk
                .par_iter()
                .map(|source| {
                    let dns = answers.get(source.source_ip.as_str());
                    let own = by_ip.get(source.source_ip.as_str()).map(Vec::as_slice);
                    namer.name(source, dns, own.unwrap_or_default())
                })
                .collect();
            writer.append_all(&names)?;
            summary.named += names.len() as u64;
            summary.with_sender += names.iter().filter(|n| n.sender.is_some()).count() as u64;
        }
    }
    writer.finish()?;
    log::debug!("named and stored in {:?}", started.elapsed());
    Ok(summary)
}

/// `batches` in runs of about `rows` rows (at least one batch each).
fn in_chunks(batches: &[RecordBatch], rows: usize) -> impl Iterator<Item = &[RecordBatch]> {
    let mut rest = batches;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut taken = 0;
        let mut end = 0;
        while end < rest.len() && (end == 0 || taken + rest[end].num_rows() <= rows) {
            taken += rest[end].num_rows();
            end += 1;
        }
        let (chunk, after) = rest.split_at(end);
        rest = after;
        Some(chunk)
    })
}

fn open_for_naming(db: &DbOptions) -> Result<Database> {
    let database = Database::open(db, Mode::ReadWrite)?;
    database.use_every_core()?;
    database.limit_memory_for_ingest()?;
    Ok(database)
}

/// Reverse DNS for `due`, keyed by the address's canonical text.
fn ask_dns(
    due: &[IpAddr],
    options: &DnsOptions,
    now: i64,
    summary: &mut EnrichSummary,
) -> HashMap<String, Answer> {
    if due.is_empty() {
        return HashMap::new();
    }
    let answers = match dns::reverse_lookups(due, options) {
        Ok(answers) => answers,
        Err(error) => {
            summary.warning = Some(error);
            return HashMap::new();
        }
    };
    // A warning of the policy lookups stays unless reverse DNS has its own.
    summary.warning = answers.warning.or(summary.warning.take());
    // Answers, not attempts: a lookup that failed is asked again next run, and counting it
    // said "9 reverse DNS answers" under the warning that all 9 failed.
    summary.dns_lookups = answers
        .answers
        .iter()
        .filter(|(_, ptr)| !matches!(ptr, Ptr::Failed(_)))
        .count() as u64;
    answers
        .answers
        .into_iter()
        .map(|(ip, ptr)| {
            let checked = |status| DnsState {
                status,
                checked_at: Some(now),
            };
            let answer = match ptr {
                Ptr::Found { name, confirmed } => Answer {
                    ptr: Some((name, confirmed)),
                    state: checked(DnsStatus::Ok),
                },
                Ptr::Missing => Answer {
                    ptr: None,
                    state: checked(DnsStatus::NxDomain),
                },
                Ptr::Failed(_) => Answer {
                    ptr: None,
                    state: checked(DnsStatus::Failed),
                },
            };
            (crate::model::canonical_ip(ip).to_string(), answer)
        })
        .collect()
}

/// What reverse DNS said of one address this run.
struct Answer {
    /// The PTR name and whether it is forward-confirmed.
    ptr: Option<(String, bool)>,
    state: DnsState,
}

fn group_domains(domains: Vec<ReportDomain>) -> HashMap<String, Vec<ReportDomain>> {
    let mut by_ip: HashMap<String, Vec<ReportDomain>> = HashMap::new();
    for domain in domains {
        by_ip
            .entry(domain.source_ip.clone())
            .or_default()
            .push(domain);
    }
    by_ip
}

#[cfg(test)]
mod tests {
    use super::*;
    use duckdb::arrow::array::Int32Array;
    use std::sync::Arc;

    fn batch(rows: usize) -> RecordBatch {
        let column = Arc::new(Int32Array::from(vec![0; rows])) as _;
        RecordBatch::try_from_iter([("n", column)]).unwrap()
    }

    /// Batches are grouped up to the chunk's rows, a larger batch on its own, none left out.
    #[test]
    fn batches_are_grouped_in_chunks_of_about_the_rows_asked() {
        let batches: Vec<RecordBatch> = [2048, 2048, 2048, 2048, 2048, 9000, 100]
            .into_iter()
            .map(batch)
            .collect();
        // At most ten chunks: an endless run of empty ones fails rather than hangs.
        let sizes: Vec<Vec<usize>> = in_chunks(&batches, 8192)
            .take(10)
            .map(|chunk| chunk.iter().map(RecordBatch::num_rows).collect())
            .collect();
        assert_eq!(
            sizes,
            [
                vec![2048, 2048, 2048, 2048],
                vec![2048],
                vec![9000],
                vec![100]
            ]
        );
        assert_eq!(in_chunks(&[], 8192).count(), 0);
    }
}
