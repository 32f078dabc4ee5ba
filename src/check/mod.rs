//! `duckmarc check`: each domain's DNS records held against the traffic its reports show.
//!
//! Reads top to bottom: what the reports say of each domain (queries/check_inputs.sql), then
//! rounds of checks over the DNS answers known so far; each round says which names it still
//! needs ([`Lookups`]), [`dns::Dns`] asks them, and the checks run again until nothing new
//! is needed. The checks themselves are pure: DMARC, DKIM and SMTP TLS records in
//! [`records`], the SPF tree in [`spf`], SPF against the sources seen in [`traffic`].

pub mod dkim;
pub mod dns;
pub mod records;
pub mod spf;
pub mod traffic;

use crate::enrich::dns::DnsOptions;
use crate::views::filters::Filters;
use crate::views::reports;
use crate::views::table::{self, Table};
use anyhow::Result;
use dkim::SelectorUse;
use dns::{Answer, Dns, Kind, Query};
use duckdb::Connection;
use serde_json::json;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Instant;
use traffic::{Provider, SourceUse};

const INPUTS: &str = include_str!("../../queries/check_inputs.sql");

/// Rounds of lookups: an SPF tree is followed one level per round.
const MAX_ROUNDS: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
    /// DNS did not answer: the check could not be made.
    Unknown,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Unknown => "unknown",
            Severity::Info => "info",
        }
    }
}

/// One finding: a row of `duckmarc check`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub domain: String,
    /// dmarc / spf / dkim / mta-sts / tlsrpt / smtp-tls
    pub record: &'static str,
    pub severity: Severity,
    pub code: &'static str,
    pub message: String,
    /// The DNS change that mends it, when there is one.
    pub fix: Option<String>,
    /// The source, selector, include or name it is about.
    pub subject: Option<String>,
}

impl Finding {
    pub fn new(
        domain: &str,
        record: &'static str,
        severity: Severity,
        code: &'static str,
        message: String,
        fix: Option<String>,
    ) -> Finding {
        Finding {
            domain: domain.to_string(),
            record,
            severity,
            code,
            message,
            fix,
            subject: None,
        }
    }

    /// DNS gave no answer for `name` (a timeout, a server failure): nothing can be said of
    /// the record there, and the check says so instead of guessing.
    pub fn unanswered(domain: &str, record: &'static str, name: &str, why: &str) -> Finding {
        let message = format!("{name}: DNS did not answer ({why})");
        Finding::new(
            domain,
            record,
            Severity::Unknown,
            "dns_unanswered",
            message,
            None,
        )
    }

    pub fn about(mut self, subject: &str) -> Finding {
        self.subject = Some(subject.to_string());
        self
    }
}

/// A DNS answer as the checks see it.
pub enum Got {
    Records(Vec<String>),
    Missing,
    Failed(String),
    /// Not asked yet: the round notes it, and the next round has it.
    Pending,
}

/// The answers known in this round, and the names it needs but does not have.
pub struct Lookups<'a> {
    dns: &'a Dns,
    needs: Vec<Query>,
}

impl Lookups<'_> {
    pub fn get(&mut self, name: &str, kind: Kind) -> Got {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        match self.dns.get(&name, kind) {
            Some(Answer::Records(records)) => Got::Records(records.clone()),
            Some(Answer::Missing) => Got::Missing,
            Some(Answer::Failed(why)) => Got::Failed(why.clone()),
            None => {
                self.needs.push((name, kind));
                Got::Pending
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Domains to check; empty: every policy domain of the selection.
    pub domains: Vec<String>,
    /// The period whose traffic the records are held against (`since`), and --domain and
    /// the other filters.
    pub filters: Filters,
    pub dns: DnsOptions,
    /// Ask DNS again whatever is cached.
    pub refresh: bool,
    /// Per domain, the DKIM selectors the user says are published (DNS cannot list them).
    pub dkim_selectors: BTreeMap<String, Vec<String>>,
}

/// The findings, worst first, and a warning when DNS stopped answering.
pub struct Checked {
    pub findings: Vec<Finding>,
    pub warning: Option<String>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    pub fn table(&self) -> Table {
        let columns = [
            "domain", "record", "severity", "code", "message", "fix", "subject",
        ];
        Table {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: self
                .findings
                .iter()
                .map(|f| {
                    vec![
                        json!(f.domain),
                        json!(f.record),
                        json!(f.severity.as_str()),
                        json!(f.code),
                        json!(f.message),
                        json!(f.fix),
                        json!(f.subject),
                    ]
                })
                .collect(),
        }
    }
}

/// What the reports say of one domain.
struct DomainInput {
    domain: String,
    sources: Vec<SourceUse>,
    selectors: Vec<SelectorUse>,
    tls_reports: bool,
    tls_failures: Vec<TlsFailures>,
    reported_p: Option<String>,
}

/// Failed sessions the TLS reports count at one place, with their failure types.
struct TlsFailures {
    at: FailedAt,
    sessions: u64,
    types: String,
    /// Some of them failed under a policy senders enforce (DANE, MTA-STS `mode: enforce`).
    enforced: bool,
}

enum FailedAt {
    Mx(String),
    /// Failure details that name no MX host (receiving-mx-hostname is optional, RFC 8460
    /// section 4.4).
    NoMx,
    /// Failed sessions of the summaries beyond every failure detail.
    Undetailed,
}

/// Checks the domains, stores the findings (table check_findings) and the DNS answers.
pub fn run(conn: &Connection, options: &CheckOptions, now: i64) -> Result<Checked> {
    let inputs = load_inputs(conn, options)?;
    let providers = traffic::providers()?;
    let since = options
        .filters
        .since
        .map(|d| d.to_string())
        .unwrap_or_else(|| "the first report".into());
    let mut dns = if options.refresh {
        Dns::default()
    } else {
        Dns::from_cache(conn, now)?
    };
    let mut findings = in_waves(&mut dns, Some(&options.dns), |look| {
        inputs
            .iter()
            .flat_map(|input| check_domain(look, input, options, &providers, &since))
            .collect::<Vec<_>>()
    });
    findings.sort_by(|a, b| {
        (a.severity, &a.domain, a.record, a.code).cmp(&(b.severity, &b.domain, b.record, b.code))
    });
    dns.save(conn, now)?;
    store(conn, &inputs, &findings, now)?;
    Ok(Checked {
        findings,
        warning: dns.warning().map(String::from),
    })
}

/// Runs `checks` over the answers known, asks DNS (`options`; `None`: the cache only) for
/// the names they still need, within its time budget, and runs them again, until they need
/// nothing more; returns the last run's result.
fn in_waves<T>(
    dns: &mut Dns,
    options: Option<&DnsOptions>,
    mut checks: impl FnMut(&mut Lookups) -> T,
) -> T {
    let deadline = options.map(|o| Instant::now() + o.budget);
    let mut round = 0;
    loop {
        let mut look = Lookups {
            dns,
            needs: Vec::new(),
        };
        let result = checks(&mut look);
        let needs = look.needs;
        match (options, deadline) {
            (Some(options), Some(deadline)) if !needs.is_empty() && round < MAX_ROUNDS => {
                dns.fetch(needs, options, deadline);
                round += 1;
            }
            _ => return result,
        }
    }
}

/// Which of `claims` (an address, a domain whose SPF pass a report claims for it) DNS shows
/// true today: the domain's SPF record authorises the address (RFC 7208 section 2.6.3).
/// Answers come from `dns` (the cache of `check`, [`Dns::from_cache`]) and, with `options`,
/// from DNS; a claim DNS cannot settle (no answer, a record that depends on the message) is
/// not shown true.
pub fn spf_claims_shown(
    dns: &mut Dns,
    claims: &[(IpAddr, String)],
    options: Option<&DnsOptions>,
) -> Vec<bool> {
    if claims.is_empty() {
        return Vec::new();
    }
    in_waves(dns, options, |look| {
        claims
            .iter()
            .map(|(ip, domain)| matches!(spf::evaluate(look, domain, *ip), spf::Verdict::Pass(_)))
            .collect()
    })
}

fn check_domain(
    look: &mut Lookups,
    input: &DomainInput,
    options: &CheckOptions,
    providers: &[Provider],
    since: &str,
) -> Vec<Finding> {
    let domain = input.domain.as_str();
    let mut findings = records::dmarc(look, domain, input.reported_p.as_deref());
    findings.extend(traffic::spf(look, domain, &input.sources, providers));
    for key in &input.selectors {
        findings.extend(dkim::dkim_key(look, domain, key));
    }
    let listed = options.dkim_selectors.get(domain).into_iter().flatten();
    for selector in listed {
        let used = input
            .selectors
            .iter()
            .any(|k| &k.selector == selector && k.signing_domain == domain);
        if !used {
            findings.extend(dkim::listed_selector(look, domain, selector, since));
        }
    }
    findings.extend(records::smtp_tls(look, domain, input.tls_reports));
    for failures in &input.tls_failures {
        let subject = match &failures.at {
            FailedAt::Mx(mx) => mx,
            _ => domain,
        };
        findings.push(
            Finding::new(
                domain,
                "smtp-tls",
                failures.severity(),
                "tls_failures",
                failures.text(),
                None,
            )
            .about(subject),
        );
    }
    findings
}

/// RFC 8460 section 4.3.2: failures of the MTA-STS or DANE policy itself.
const POLICY_FAILURES: [&str; 6] = [
    "tlsa-invalid",
    "dnssec-invalid",
    "dane-required",
    "sts-policy-fetch-error",
    "sts-policy-invalid",
    "sts-webpki-invalid",
];

impl TlsFailures {
    /// Failures that cost mail are a warning: sessions to an MX that failed under a policy
    /// senders enforce were not delivered (RFC 8461 section 5, RFC 7672 section 2.2), and
    /// a policy that cannot be fetched or validated protects nothing (RFC 8460 section
    /// 4.3.2). Other failures (testing mode, no policy) still delivered, in the clear.
    fn severity(&self) -> Severity {
        let policy_failed = self.types.split(", ").any(|t| POLICY_FAILURES.contains(&t));
        match self.at {
            _ if self.enforced => Severity::Warning,
            FailedAt::NoMx if policy_failed => Severity::Warning,
            _ => Severity::Info,
        }
    }

    fn text(&self) -> String {
        let (sessions, types) = (self.sessions, &self.types);
        let place = match &self.at {
            FailedAt::Mx(mx) => {
                format!("{mx}: {sessions} failed TLS sessions in the TLS reports ({types})")
            }
            FailedAt::NoMx => {
                let policy = types.split(", ").all(|t| POLICY_FAILURES.contains(&t));
                format!(
                    "{sessions} failed TLS sessions in the TLS reports name no MX host ({types}){}",
                    match policy {
                        true =>
                            ": the MTA-STS or DANE policy itself could not be fetched or \
                                 validated (RFC 8460 section 4.3.2)",
                        false => "",
                    }
                )
            }
            FailedAt::Undetailed => format!(
                "{sessions} failed TLS sessions in the TLS reports' summaries beyond their \
                 failure details"
            ),
        };
        match self.enforced {
            true => format!(
                "{place}, under a policy senders enforce (DANE, or MTA-STS in mode: enforce): \
                 they did not deliver that mail there (another MX took it, or it waited or \
                 bounced)"
            ),
            false => place,
        }
    }
}

fn load_inputs(conn: &Connection, options: &CheckOptions) -> Result<Vec<DomainInput>> {
    reports::select(conn, &options.filters)?;
    table::run(conn, INPUTS)?;
    let mut domains: Vec<String> = if options.domains.is_empty() {
        column(
            conn,
            // A domain whose only reports are SMTP TLS reports counts too: their rua= often
            // goes elsewhere than DMARC's (RFC 8460 section 3).
            // Not when the run is narrowed by address, sender, country or AS: TLS reports
            // count sessions per policy, not per sending address.
            "SELECT policy_domain FROM check_sources
             UNION SELECT policy_domain FROM check_tls
             WHERE NOT narrowed_to_sources()
             ORDER BY 1",
        )?
    } else {
        options
            .domains
            .iter()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
            .collect()
    };
    domains.dedup();
    let sources = table::run(conn, "FROM check_sources")?;
    let selectors = table::run(conn, "FROM check_selectors")?;
    let tls = table::run(conn, "FROM check_tls")?;
    let policies = table::run(conn, "FROM check_reported_policy")?;
    Ok(domains
        .into_iter()
        .map(|domain| DomainInput {
            domain: domain.clone(),
            sources: rows_of(&sources, &domain)
                .map(|row| SourceUse::from_row(&sources, row))
                .collect(),
            selectors: rows_of(&selectors, &domain)
                .map(|row| SelectorUse {
                    signing_domain: text(&selectors, row, "signing_domain"),
                    selector: text(&selectors, row, "selector"),
                    messages: number(&selectors, row, "messages"),
                    last_seen: text(&selectors, row, "last_seen"),
                    recent: selectors.get(row, "recent").as_bool().unwrap_or(false),
                    verified: selectors.get(row, "verified").as_bool().unwrap_or(false),
                })
                .collect(),
            tls_reports: rows_of(&tls, &domain).next().is_some(),
            tls_failures: rows_of(&tls, &domain)
                .filter_map(|row| {
                    let at = match text(&tls, row, "kind").as_str() {
                        "mx" => FailedAt::Mx(text(&tls, row, "mx")),
                        "no_mx" => FailedAt::NoMx,
                        "undetailed" => FailedAt::Undetailed,
                        _ => return None,
                    };
                    Some(TlsFailures {
                        at,
                        sessions: number(&tls, row, "failed_sessions"),
                        types: text(&tls, row, "failure_types"),
                        enforced: tls.get(row, "enforced").as_bool().unwrap_or(false),
                    })
                })
                .collect(),
            reported_p: rows_of(&policies, &domain)
                .next()
                .map(|row| text(&policies, row, "p"))
                .filter(|p| !p.is_empty()),
        })
        .collect())
}

/// The rows of `table` whose `policy_domain` is `domain`.
fn rows_of<'a>(table: &'a Table, domain: &'a str) -> impl Iterator<Item = usize> + 'a {
    (0..table.rows.len()).filter(move |&row| table.get(row, "policy_domain") == domain)
}

fn text(table: &Table, row: usize, column: &str) -> String {
    match table.get(row, column) {
        serde_json::Value::String(s) => s,
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn number(table: &Table, row: usize, column: &str) -> u64 {
    table.get(row, column).as_u64().unwrap_or(0)
}

fn column(conn: &Connection, sql: &str) -> Result<Vec<String>> {
    let mut statement = conn.prepare(sql)?;
    let rows = statement.query_map([], |row| row.get::<_, String>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Replaces the stored findings of the domains checked, but for the errors and warnings
/// about what DNS did not answer this time: a resolver down is no sign that a record was
/// mended, so those stay (with the time they were found) until DNS answers again. A name
/// that did not answer keeps the findings about it (its subject), or, for the domain's own
/// record (no subject, or the domain itself), every finding of that record.
fn store(conn: &Connection, inputs: &[DomainInput], findings: &[Finding], now: i64) -> Result<()> {
    crate::store::in_transaction(conn, |conn| {
        conn.execute_batch(
            "CREATE OR REPLACE TEMP TABLE checked_domains (domain VARCHAR);
             CREATE OR REPLACE TEMP TABLE undecided (domain VARCHAR, record VARCHAR, subject VARCHAR);",
        )?;
        let mut checked = conn.appender_to_catalog_and_db("checked_domains", "temp", "main")?;
        for input in inputs {
            checked.append_row([&input.domain])?;
        }
        checked.flush()?;
        let mut undecided = conn.appender_to_catalog_and_db("undecided", "temp", "main")?;
        for f in findings.iter().filter(|f| f.code == "dns_unanswered") {
            undecided.append_row(duckdb::params![f.domain, f.record, f.subject])?;
        }
        undecided.flush()?;
        conn.execute_batch(
            "DELETE FROM check_findings c
             WHERE domain IN (SELECT domain FROM checked_domains)
               AND NOT (c.severity IN ('error', 'warning') AND EXISTS (
                        SELECT 1 FROM undecided u
                        WHERE u.domain = c.domain AND u.record = c.record
                          AND (u.subject IS NULL OR u.subject = u.domain
                               OR u.subject = c.subject)));",
        )?;
        let checked_at = duckdb::types::Value::Timestamp(duckdb::types::TimeUnit::Second, now);
        let mut appender = conn.appender("check_findings")?;
        for f in findings {
            appender.append_row(duckdb::params![
                f.domain,
                f.record,
                f.severity.as_str(),
                f.code,
                f.message,
                f.fix,
                f.subject,
                checked_at
            ])?;
        }
        appender.flush()?;
        drop(appender);
        // A finding kept from before that this run made again is there once, as new.
        conn.execute(
            "DELETE FROM check_findings c
             WHERE domain IN (SELECT domain FROM checked_domains) AND checked_at < ?
               AND EXISTS (SELECT 1 FROM check_findings n
                           WHERE n.checked_at = ? AND n.domain = c.domain
                             AND n.record = c.record AND n.code = c.code
                             AND n.subject IS NOT DISTINCT FROM c.subject)",
            duckdb::params![checked_at, checked_at],
        )?;
        Ok(())
    })
}
