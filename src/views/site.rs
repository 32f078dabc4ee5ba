//! Everything the static site (`duckmarc html --site`) shows: the single page's dashboard for
//! the index, then per domain and per sender the rows of its own pages. Each query reads
//! every domain and sender at once and the rows are split here, so the site costs a few
//! passes over the records, not a pass per page.

use super::filters::Filters;
use super::reports::{self, Dashboard, Report, DOMAIN_SENDERS};
use super::table::{self, Table};
use anyhow::Result;
use duckdb::Connection;
use serde_json::Value as Json;

const SITE_RECORDS: &str = include_str!("../../queries/site_records.sql");
const SITE_DAILY: &str = include_str!("../../queries/site_daily.sql");
const SITE_REPORTERS: &str = include_str!("../../queries/site_reporters.sql");
const SITE_SIGNERS: &str = include_str!("../../queries/site_signers.sql");
const SITE_FAILURES: &str = include_str!("../../queries/site_failures.sql");

/// Senders (by name and class) listed on a domain's page, each with a page of its own; the
/// rest are counted, and `report senders --domain D` lists them all.
pub const SITE_SENDERS: u64 = 200;
/// Source addresses listed on a sender's page, biggest first.
pub const SITE_SOURCES: u64 = 100;
/// Failing records listed on a sender's page, biggest first.
pub const SITE_FAILURES_PER_SENDER: u64 = 50;
/// Failure samples on a domain's page (and on the index, of domains without a page).
pub const SITE_FAILURE_SAMPLES: u64 = 50;

pub struct Site {
    /// The index: the single page's figures.
    pub dashboard: Dashboard,
    /// One per policy domain of the status table, in its order (worst first).
    pub domains: Vec<DomainPage>,
    /// The dashboard's failure samples that no domain page shows: their domain has no
    /// aggregate report (a receiver that sends failure reports only, ruf= before rua=).
    pub other_failure_samples: Table,
}

pub struct DomainPage {
    pub domain: String,
    /// Its row of `report readiness`.
    pub status: Table,
    /// Its senders by name and class (queries/domain_senders.sql: a row per source of each).
    pub senders: Table,
    pub daily: Table,
    pub reporters: Table,
    pub dns_findings: Table,
    pub tls: Table,
    pub failure_samples: Table,
    pub changes: Table,
    pub sender_pages: Vec<SenderPage>,
}

pub struct SenderPage {
    pub sender: String,
    /// Its rows of the domain's `senders` (one per class and source address).
    pub sources: Table,
    pub daily: Table,
    pub reporters: Table,
    pub signers: Table,
    pub failures: Table,
}

pub fn site(conn: &Connection, filters: &Filters) -> Result<Site> {
    let dashboard = reports::dashboard(conn, filters)?;
    // The dashboard left the selection and the classes' snapshot in place.
    conn.execute_batch(&format!(
        "SET VARIABLE sources_per_sender = {SITE_SOURCES};
         SET VARIABLE failures_per_sender = {SITE_FAILURES_PER_SENDER};"
    ))?;
    reports::set_row_limit(conn, Some(SITE_SENDERS))?;
    let senders = table::run(conn, DOMAIN_SENDERS)?;
    reports::set_row_limit(conn, None)?;
    store_site_senders(conn, &senders)?;
    table::run(conn, SITE_RECORDS)?;
    let mut daily = Split::new(table::run(conn, SITE_DAILY)?);
    let mut reporters = Split::new(table::run(conn, SITE_REPORTERS)?);
    let mut signers = Split::new(table::run(conn, SITE_SIGNERS)?);
    let mut failures = Split::new(table::run(conn, SITE_FAILURES)?);
    let samples = failure_samples_per_domain(conn)?;
    let mut senders = Split::keyed(senders, &["domain"]);

    let by_domain = |table: &Table, column: &str| Split::keyed(table.clone(), &[column]);
    let mut dns_findings = by_domain(&dashboard.dns_findings, "domain");
    let mut tls = by_domain(&dashboard.tls, "policy_domain");
    let mut changes = by_domain(&dashboard.changes.1, "domain");
    let domains = dashboard
        .status
        .group_by(&["domain"])
        .into_iter()
        .map(|(key, status)| {
            let domain = text(&key[0]);
            let domain_senders = senders.take(&[&domain]);
            let sender_pages = domain_senders
                .group_by(&["sender"])
                .into_iter()
                .map(|(key, sources)| {
                    let sender = text(&key[0]);
                    let key = [domain.as_str(), sender.as_str()];
                    SenderPage {
                        daily: daily.take(&key),
                        reporters: reporters.take(&key),
                        signers: signers.take(&key),
                        failures: failures.take(&key),
                        sender,
                        sources,
                    }
                })
                .collect();
            DomainPage {
                daily: daily.take_domain(&domain),
                reporters: reporters.take_domain(&domain),
                dns_findings: dns_findings.take(&[&domain]),
                tls: tls.take(&[&domain]),
                failure_samples: newest(under(&samples, "reported_domain", &domain)),
                changes: changes.take(&[&domain]),
                senders: domain_senders,
                sender_pages,
                status,
                domain,
            }
        })
        .collect::<Vec<DomainPage>>();
    let other_failure_samples = newest(rows_where(&samples, "reported_domain", |name| {
        !domains.iter().any(|page| is_under(name, &page.domain))
    }));
    Ok(Site {
        dashboard,
        domains,
        other_failure_samples,
    })
}

/// The senders that get a page, as the temp table site_senders (queries/site_records.sql).
fn store_site_senders(conn: &Connection, senders: &Table) -> Result<()> {
    conn.execute_batch(
        "CREATE OR REPLACE TEMP TABLE site_senders (domain VARCHAR NOT NULL, sender VARCHAR NOT NULL)",
    )?;
    let mut appender = conn.appender("site_senders")?;
    for (key, _) in senders.group_by(&["domain", "sender"]) {
        appender.append_row([text(&key[0]), text(&key[1])])?;
    }
    appender.flush()?;
    Ok(())
}

/// The rows whose `column` names `domain` or a subdomain of it (a failure report names the
/// From domain of one message, which may be a subdomain of the policy domain).
/// The failure samples (RFC 6591 reports) for the domain pages: the newest
/// [`SITE_FAILURE_SAMPLES`] of each reported domain. The dashboard's are the newest of all,
/// and a domain whose samples are older than fifty of other domains' had none on its page.
fn failure_samples_per_domain(conn: &Connection) -> Result<Table> {
    reports::set_row_limit(conn, None)?;
    conn.execute_batch(&format!(
        "SET VARIABLE samples_per_domain = {SITE_FAILURE_SAMPLES};"
    ))?;
    let samples = table::run(conn, Report::FailureSamples.sql());
    conn.execute_batch("SET VARIABLE samples_per_domain = NULL;")?;
    samples
}

/// The first [`SITE_FAILURE_SAMPLES`] rows (newest first) of a page's samples, which may
/// come from several reported domains (the domain and its subdomains).
fn newest(table: Table) -> Table {
    let rows = table.rows.iter().take(SITE_FAILURE_SAMPLES as usize);
    table.with_rows(rows.cloned().collect())
}

fn under(table: &Table, column: &str, domain: &str) -> Table {
    rows_where(table, column, |name| is_under(name, domain))
}

fn is_under(name: &str, domain: &str) -> bool {
    name.strip_suffix(domain)
        .is_some_and(|rest| rest.is_empty() || rest.ends_with('.'))
}

/// The rows whose `column`'s text passes `keep`.
fn rows_where(table: &Table, column: &str, keep: impl Fn(&str) -> bool) -> Table {
    let Some(i) = table.column(column) else {
        return table.with_rows(Vec::new());
    };
    let rows = table.rows.iter().filter(|row| keep(&text(&row[i])));
    table.with_rows(rows.cloned().collect())
}

fn text(value: &Json) -> String {
    crate::render::cell_text(value)
}

/// A table's rows by (domain, sender): each part taken once, an absent one empty.
struct Split {
    empty: Table,
    parts: std::collections::HashMap<Vec<String>, Table>,
}

impl Split {
    /// By the `domain` and `sender` columns (a sender of NULL: the domain's own rows).
    fn new(table: Table) -> Split {
        Split::keyed(table, &["domain", "sender"])
    }

    fn keyed(table: Table, columns: &[&str]) -> Split {
        let parts = table
            .group_by(columns)
            .into_iter()
            .map(|(key, part)| (key.iter().map(key_text).collect(), part))
            .collect();
        Split {
            empty: table.with_rows(Vec::new()),
            parts,
        }
    }

    fn take(&mut self, key: &[&str]) -> Table {
        let key: Vec<String> = key.iter().map(|k| k.to_string()).collect();
        self.parts
            .remove(&key)
            .unwrap_or_else(|| self.empty.clone())
    }

    /// The domain's own rows (sender NULL).
    fn take_domain(&mut self, domain: &str) -> Table {
        self.take(&[domain, NULL_KEY])
    }
}

/// How a NULL key cell is spelled in a Split's keys: no name a report can hold contains NUL.
const NULL_KEY: &str = "\0";

fn key_text(value: &Json) -> String {
    if value.is_null() {
        NULL_KEY.to_string()
    } else {
        text(value)
    }
}
