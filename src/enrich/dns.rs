//! Reverse DNS with forward confirmation, through a real resolver (hickory): the system's
//! resolvers or one given server, lookups in parallel up to a bound, each with a timeout,
//! the whole run within a time budget. A server that is down costs one short wave of
//! timeouts, not one per address.

use crate::parse::dmarc_record::{tree_walk, WalkEnd};
use futures_util::stream::{self, StreamExt};
use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::RecordType;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, Resolver, TokioResolver};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct DnsOptions {
    /// `None`: the system's resolvers (/etc/resolv.conf).
    pub server: Option<SocketAddr>,
    /// For one query.
    pub timeout: Duration,
    /// Lookups in flight at once.
    pub concurrency: usize,
    /// For the whole run; what is not answered by then is tried again next run.
    pub budget: Duration,
}

impl Default for DnsOptions {
    fn default() -> Self {
        DnsOptions {
            server: None,
            timeout: Duration::from_secs(2),
            concurrency: 64,
            budget: Duration::from_secs(30),
        }
    }
}

/// What reverse DNS says of one address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ptr {
    /// A PTR name (lower-cased, no trailing dot); `confirmed` when the name resolves back to
    /// the address. Only a confirmed name says who owns the address: anyone can write any
    /// PTR for their own addresses.
    Found { name: String, confirmed: bool },
    /// NXDOMAIN or no PTR record: the address has no name.
    Missing,
    /// No answer (timeout, SERVFAIL, refused): asked again next run.
    Failed(String),
}

/// Every answer that came in time, and a warning when the lookups were cut short.
pub struct Answers {
    pub answers: Vec<(IpAddr, Ptr)>,
    pub warning: Option<String>,
}

/// Looks up the PTR names of `ips`.
pub fn reverse_lookups(ips: &[IpAddr], options: &DnsOptions) -> Result<Answers, String> {
    with_resolver(options, |resolver| async move {
        Ok(lookup_all(&resolver, ips, options).await)
    })
}

/// Runs `work` with a resolver for `options`, on a runtime of its own.
pub(crate) fn with_resolver<T, Work, Done>(options: &DnsOptions, work: Work) -> Result<T, String>
where
    Work: FnOnce(TokioResolver) -> Done,
    Done: std::future::Future<Output = Result<T, String>>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the DNS runtime: {e}"))?;
    runtime.block_on(async { work(resolver(options)?).await })
}

fn resolver(options: &DnsOptions) -> Result<TokioResolver, String> {
    let mut builder = match options.server {
        Some(server) => {
            let servers =
                NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            Resolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], servers),
                TokioConnectionProvider::default(),
            )
        }
        None => Resolver::builder_tokio()
            .map_err(|e| format!("cannot read the system's DNS configuration: {e}"))?,
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.timeout = options.timeout;
    opts.attempts = 1;
    opts.use_hosts_file = ResolveHosts::Never;
    opts.cache_size = 1024;
    Ok(builder.build())
}

/// How many first answers must all fail before the server is taken for down.
const FAILURES_BEFORE_GIVING_UP: usize = 32;

async fn lookup_all(resolver: &TokioResolver, ips: &[IpAddr], options: &DnsOptions) -> Answers {
    let deadline = Instant::now() + options.budget;
    let mut pending = stream::iter(ips.iter().copied())
        .map(|ip| async move { (ip, lookup(resolver, ip).await) })
        .buffer_unordered(options.concurrency.max(1));
    let mut answers = Vec::with_capacity(ips.len());
    let mut failed = 0;
    let warning = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, pending.next()).await {
            Ok(Some((ip, ptr))) => {
                failed += usize::from(matches!(ptr, Ptr::Failed(_)));
                let last_error = match &ptr {
                    Ptr::Failed(error) => Some(error.clone()),
                    _ => None,
                };
                answers.push((ip, ptr));
                let all_failed = failed == answers.len();
                if all_failed && failed >= FAILURES_BEFORE_GIVING_UP.min(ips.len()) {
                    let error = last_error.unwrap_or_default();
                    break Some(format!(
                        "reverse DNS: the first {failed} lookups all failed ({error}); \
                         {} addresses left for the next run",
                        ips.len() - answers.len() + failed
                    ));
                }
            }
            Ok(None) => break None,
            Err(_) => {
                break Some(format!(
                "reverse DNS: {} of {} addresses not answered within {} s; asked again next run",
                ips.len() - answers.len(),
                ips.len(),
                options.budget.as_secs()
            ))
            }
        }
    };
    Answers { answers, warning }
}

/// PTR names tried per address: an address may have several (each a claim by whoever runs
/// the reverse zone), and the one that resolves back may not be the first.
const MAX_PTR_NAMES: usize = 8;

/// The first PTR name of `ip` that resolves back to it (forward-confirmed), else the first
/// name, unconfirmed.
async fn lookup(resolver: &TokioResolver, ip: IpAddr) -> Ptr {
    let found = match resolver.reverse_lookup(ip).await {
        Ok(found) => found,
        Err(error) if absent(&error) => return Ptr::Missing,
        Err(error) => return Ptr::Failed(error.to_string()),
    };
    let names: Vec<String> = found
        .iter()
        .take(MAX_PTR_NAMES)
        .map(|n| n.to_utf8().trim_end_matches('.').to_ascii_lowercase())
        .collect();
    let Some(first) = names.first().cloned() else {
        return Ptr::Missing;
    };
    for name in names {
        if resolves_to(resolver, &name, ip).await {
            return Ptr::Found {
                name,
                confirmed: true,
            };
        }
    }
    Ptr::Found {
        name: first,
        confirmed: false,
    }
}

/// Whether `name` has an address record for `ip`, asked in the address's own family: a
/// dual-stack name has both A and AAAA, and a resolver asked for "an address" stops at the
/// A records, so an IPv6 source would never be confirmed.
async fn resolves_to(resolver: &TokioResolver, name: &str, ip: IpAddr) -> bool {
    let fqdn = format!("{name}.");
    match crate::model::canonical_ip(ip) {
        IpAddr::V4(v4) => resolver
            .ipv4_lookup(fqdn)
            .await
            .is_ok_and(|found| found.iter().any(|a| a.0 == v4)),
        IpAddr::V6(v6) => resolver
            .ipv6_lookup(fqdn)
            .await
            .is_ok_and(|found| found.iter().any(|a| a.0 == v6)),
    }
}

/// NXDOMAIN, or an empty answer: the name does not exist. SERVFAIL and the like are
/// failures, asked again.
pub(crate) fn absent(error: &ResolveError) -> bool {
    matches!(
        error.proto().map(|p| p.kind()),
        Some(ProtoErrorKind::NoRecordsFound {
            response_code: ResponseCode::NXDomain | ResponseCode::NoError,
            ..
        })
    )
}

/// What DNS says of the DMARC record that applies to a policy domain's mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DmarcAnswer {
    /// Where the DNS tree walk ended: the record found at the domain or above it, or none.
    Walked(WalkEnd),
    Failed(String),
}

/// Whether a name exists (RFC 9989 section 3.2.13: NXDOMAIN means it does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Existence {
    Exists,
    NxDomain,
    Failed,
}

/// Each policy domain with its DMARC record, and each name with whether it exists.
pub type PolicyAnswers = (Vec<(String, DmarcAnswer)>, Vec<(String, Existence)>);

/// The DMARC records of `domains` and whether `names` exist, asked together within the
/// run's budget; what is not answered in time is left out (asked again next run).
pub fn policy_lookups(
    domains: &[String],
    names: &[String],
    options: &DnsOptions,
) -> Result<PolicyAnswers, String> {
    with_resolver(options, |resolver| async move {
        let resolver = &resolver;
        let concurrency = options.concurrency.max(1);
        let records = stream::iter(domains)
            .map(|domain| async move { (domain.clone(), dmarc_record(resolver, domain).await) })
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>();
        let existence = stream::iter(names)
            .map(|name| async move { (name.clone(), existence(resolver, name).await) })
            .buffer_unordered(concurrency)
            .collect::<Vec<_>>();
        tokio::time::timeout(options.budget, async { (records.await, existence.await) })
            .await
            .map_err(|_| {
                format!(
                    "DMARC records: not answered within {} s; asked again next run",
                    options.budget.as_secs()
                )
            })
    })
}

/// A TXT record as one text: its strings joined (RFC 7208 section 3.3, RFC 6376 section
/// 3.6.2.2), undecodable bytes replaced.
pub(crate) fn txt_text(txt: &hickory_resolver::proto::rr::rdata::TXT) -> String {
    let bytes: Vec<u8> = txt
        .txt_data()
        .iter()
        .flat_map(|p| p.iter().copied())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The DMARC record that applies to mail from `domain`: at `_dmarc.DOMAIN`, else its
/// Organizational Domain's (the DNS tree walk, RFC 9989 section 4.10, [`WalkEnd::take`]).
async fn dmarc_record(resolver: &TokioResolver, domain: &str) -> DmarcAnswer {
    let mut walk = WalkEnd::default();
    for at in tree_walk(domain) {
        let texts = match resolver.txt_lookup(format!("_dmarc.{at}.")).await {
            Ok(found) => found.iter().map(txt_text).collect(),
            Err(error) if absent(&error) => Vec::new(),
            // A name above a record found already (a top-level domain's server down) is
            // let go: the record is what receivers that got no further apply too.
            Err(_) if walk.found.is_some() => break,
            Err(error) => return DmarcAnswer::Failed(format!("_dmarc.{at}: {error}")),
        };
        if walk.take(&at, texts) {
            break;
        }
    }
    DmarcAnswer::Walked(walk)
}

async fn existence(resolver: &TokioResolver, name: &str) -> Existence {
    match resolver.lookup(format!("{name}."), RecordType::A).await {
        Ok(_) => Existence::Exists,
        Err(error) => match error.proto().map(|p| p.kind()) {
            Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
                ResponseCode::NXDomain => Existence::NxDomain,
                // NOERROR without an A record: the name exists with other records.
                ResponseCode::NoError => Existence::Exists,
                _ => Existence::Failed,
            },
            _ => Existence::Failed,
        },
    }
}
