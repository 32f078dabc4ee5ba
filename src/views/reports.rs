//! The built-in reports: SQL from `queries/`, narrowed by the command-line filters.

use super::table::{self, Table};
use crate::model::{canonical_ip, ip_to_bytes};
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use duckdb::Connection;
use std::net::IpAddr;

const FILTERS: &str = include_str!("../../queries/filters.sql");
const SELECTION: &str = include_str!("../../queries/selection.sql");
const PARQUET_VIEWS: &str = include_str!("../../queries/parquet_views.sql");
const SELECTION_BY_SOURCE: &str = include_str!("../../queries/selection_by_source.sql");
const POLICY: &str = include_str!("../../queries/policy.sql");
const POLICY_VARIABLES: &str = include_str!("../../queries/policy_variables.sql");
const CLASSES: &str = include_str!("../../queries/classes.sql");
const OVERVIEW: &str = include_str!("../../queries/overview.sql");
const DOMAIN_SENDERS: &str = include_str!("../../queries/domain_senders.sql");
const SNAPSHOT: &str = include_str!("../../queries/snapshot.sql");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Report {
    /// One row per source IP: who it is, volume, pass and alignment rates, diagnosis
    Sources,
    /// One row per sender (Google, SendGrid, ... or an unnamed address) and class: volume, pass rate, sources
    Senders,
    /// One row per policy domain, with what p=reject would block
    Domains,
    /// Per policy domain: is p=reject safe, what would it block, what to do next
    Readiness,
    /// One row per reporting organisation
    Reporters,
    /// One row per UTC day (multi-day reports spread across their days)
    Daily,
    /// The failing records with their auth details
    Failures,
    /// SMTP TLS reports (RFC 8460) per policy domain: sessions, failures and why
    Tls,
    /// DMARC failure reports (RFC 6591), each beside its source's aggregate numbers
    FailureSamples,
}

impl Report {
    /// Whether it reads the records' classes (classes.sql).
    fn classifies(self) -> bool {
        matches!(
            self,
            Report::Sources | Report::Senders | Report::Domains | Report::Readiness
        )
    }

    pub fn sql(self) -> &'static str {
        match self {
            Report::Sources => include_str!("../../queries/sources.sql"),
            Report::Senders => include_str!("../../queries/senders.sql"),
            Report::Domains => include_str!("../../queries/domains.sql"),
            Report::Readiness => include_str!("../../queries/readiness.sql"),
            Report::Reporters => include_str!("../../queries/reporters.sql"),
            Report::Daily => include_str!("../../queries/daily.sql"),
            Report::Failures => include_str!("../../queries/failures.sql"),
            Report::Tls => include_str!("../../queries/tls.sql"),
            Report::FailureSamples => include_str!("../../queries/failure_samples.sql"),
        }
    }
}

/// (column, short header) pairs shown in `--format table`, so a report fits a 100-column
/// terminal; CSV and JSON carry every column.
pub type Columns = &'static [(&'static str, &'static str)];

impl Report {
    pub fn terminal_columns(self) -> Columns {
        match self {
            Report::Sources => &[
                ("source_ip", "source ip"),
                ("sender", "sender"),
                ("country", "cc"),
                ("messages", "msgs"),
                ("dmarc_pass_rate", "pass"),
                ("dkim_aligned_rate", "dkim"),
                ("spf_aligned_rate", "spf"),
                ("diagnosis", "diagnosis"),
                ("header_from", "header from"),
            ],
            Report::Senders => &[
                ("sender", "sender"),
                ("sender_type", "type"),
                ("messages", "msgs"),
                ("dmarc_pass_rate", "pass"),
                ("sources", "sources"),
                ("class", "class"),
                ("diagnosis", "diagnosis"),
                ("last_seen", "last seen"),
            ],
            Report::Domains => &[
                ("domain", "domain"),
                ("messages", "msgs"),
                ("dmarc_pass_rate", "pass"),
                ("reject_blocks_messages", "p=reject blocks"),
                ("policy", "policy"),
                ("sources", "sources"),
                ("reporters", "reporters"),
                ("last_seen", "last seen"),
            ],
            Report::Readiness => &[
                ("domain", "domain"),
                ("verdict", "verdict"),
                ("messages", "msgs"),
                ("reject_blocks_authorised", "blocks yours"),
                ("reject_blocks_forwarded", "forwarded"),
                ("reject_blocks_unauthorised", "spoofed"),
                ("policy", "p"),
                ("next_step", "next step"),
            ],
            Report::Reporters => &[
                ("reporter", "reporter"),
                ("reports", "reports"),
                ("messages", "msgs"),
                ("dmarc_pass_rate", "pass"),
                ("sources", "sources"),
                ("domains", "domains"),
                ("last_seen", "last seen"),
            ],
            Report::Daily => &[
                ("day", "day"),
                ("messages", "msgs"),
                ("dmarc_pass_messages", "pass msgs"),
                ("dmarc_fail_messages", "fail msgs"),
                ("dmarc_pass_rate", "pass"),
                ("dkim_aligned_messages", "dkim aligned"),
                ("spf_aligned_messages", "spf aligned"),
                ("sources", "sources"),
            ],
            Report::Failures => &[
                ("day", "day"),
                ("reporter", "reporter"),
                ("source_ip", "source ip"),
                ("messages", "msgs"),
                ("header_from", "header from"),
                ("dkim_results", "dkim results"),
                ("spf_results", "spf results"),
                ("diagnosis", "diagnosis"),
            ],
            Report::Tls => &[
                ("policy_domain", "policy domain"),
                ("successful_sessions", "ok sessions"),
                ("failed_sessions", "failed"),
                ("failure_rate", "fail"),
                ("failure_types", "failure types"),
                ("failing_mx_hosts", "failing mx"),
                ("reporters", "reporters"),
                ("last_seen", "last seen"),
            ],
            Report::FailureSamples => &[
                ("arrival", "arrival"),
                ("source_ip", "source ip"),
                ("reported_domain", "domain"),
                ("auth_failure", "failed"),
                ("delivery_result", "result"),
                ("header_from", "from"),
                ("subject", "subject"),
                ("source_messages", "source msgs"),
                ("source_dmarc_pass_rate", "source pass"),
            ],
        }
    }
}

/// What every report can be narrowed to; `None` is no filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// A policy domain and its subdomains.
    pub domain: Option<String>,
    /// Reports overlapping this UTC day or later.
    pub since: Option<NaiveDate>,
    /// Reports overlapping this UTC day or earlier.
    pub until: Option<NaiveDate>,
    /// A reporting organisation (org_name, case-insensitive).
    pub reporter: Option<String>,
    pub ip: Option<IpRange>,
    /// A sender name (`unknown` for unnamed sources), case-insensitive.
    pub sender: Option<String>,
    /// An ISO 3166 country code.
    pub country: Option<String>,
    pub asn: Option<u32>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// Who is allowed to send for which domain (the config's `[[authorised]]`); not a filter,
    /// but it decides each record's class.
    pub authorised: Vec<AuthorisedRule>,
}

impl Filters {
    /// The filters that narrow what is read, as one text (`domain=example.com asn=15169`;
    /// empty without any): `alerts` keeps its state per scope.
    pub fn scope(&self) -> String {
        let parts = [
            ("domain", self.domain.as_ref().map(|d| d.to_lowercase())),
            ("since", self.since.map(|d| d.to_string())),
            ("until", self.until.map(|d| d.to_string())),
            ("reporter", self.reporter.as_ref().map(|r| r.to_lowercase())),
            ("ip", self.ip.as_ref().map(|r| r.text.clone())),
            ("sender", self.sender.as_ref().map(|s| s.to_lowercase())),
            ("country", self.country.as_ref().map(|c| c.to_lowercase())),
            ("asn", self.asn.map(|a| a.to_string())),
        ];
        parts
            .into_iter()
            .filter_map(|(name, value)| Some(format!("{name}={}", value?)))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One authorised sender: by name, PTR base domain, DKIM signing domain or network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorisedRule {
    /// `None`: every domain; else the domain and its subdomains.
    pub domain: Option<String>,
    pub kind: AuthorisedBy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorisedBy {
    Sender(String),
    BaseDomain(String),
    Dkim(String),
    Network(IpRange),
}

impl Filters {
    /// A human description, e.g. "domain example.com, since 2025-11-01".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(domain) = &self.domain {
            parts.push(format!("domain {domain}"));
        }
        if let Some(reporter) = &self.reporter {
            parts.push(format!("reporter {reporter}"));
        }
        if let Some(since) = self.since {
            parts.push(format!("since {since}"));
        }
        if let Some(until) = self.until {
            parts.push(format!("until {until}"));
        }
        if let Some(ip) = &self.ip {
            parts.push(format!("source {}", ip.text));
        }
        if let Some(sender) = &self.sender {
            parts.push(format!("sender {sender}"));
        }
        if let Some(country) = &self.country {
            parts.push(format!("country {country}"));
        }
        if let Some(asn) = self.asn {
            parts.push(format!("AS{asn}"));
        }
        if parts.is_empty() {
            "all reports".into()
        } else {
            parts.join(", ")
        }
    }
}

/// An inclusive range of 16-byte addresses (IPv4 as IPv4-mapped), as stored in
/// `records.source_ip_bytes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpRange {
    pub low: [u8; 16],
    pub high: [u8; 16],
    /// As the user wrote it.
    pub text: String,
}

impl IpRange {
    pub fn parse(text: &str) -> Result<IpRange> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let written: IpAddr = address
            .trim()
            .parse()
            .with_context(|| format!("{address:?} is not an IP address"))?;
        let ip = canonical_ip(written);
        // The prefix counts bits of the address as written: ::ffff:192.0.2.0/120 is the
        // IPv4 block 192.0.2.0/24.
        let written_width = if written.is_ipv4() { 32 } else { 128 };
        let prefix: u32 = match prefix {
            Some(p) => p
                .trim()
                .parse()
                .with_context(|| format!("bad prefix length {p:?}"))?,
            None => written_width,
        };
        if prefix > written_width {
            bail!("prefix length /{prefix} is longer than the {written_width} bits of {written}");
        }
        let mapped_bits = written_width - if ip.is_ipv4() { 32 } else { 128 };
        if prefix < mapped_bits {
            bail!("{text} reaches beyond the IPv4-mapped range ::ffff:0:0/96");
        }
        let prefix = prefix - mapped_bits;
        let width = if ip.is_ipv4() { 32 } else { 128 };
        let bits = u128::from_be_bytes(ip_to_bytes(ip));
        let host_bits = width - prefix;
        let mask = if host_bits == 128 {
            u128::MAX
        } else {
            (1u128 << host_bits) - 1
        };
        Ok(IpRange {
            low: (bits & !mask).to_be_bytes(),
            high: (bits | mask).to_be_bytes(),
            text: text.to_string(),
        })
    }
}

/// Defines the `selected` view for `filters`, and every record's class (classes.sql); every
/// report reads from them.
pub fn select(conn: &Connection, filters: &Filters) -> Result<()> {
    select_for(conn, filters, true)
}

/// As [`select`]; the policy lookups that classes need are worked out only when `classes`
/// (they read every report of the selection, which reports by day or reporter need not pay).
fn select_for(conn: &Connection, filters: &Filters, classes: bool) -> Result<()> {
    set_filters(conn, filters)?;
    table::run(conn, SELECTION)?;
    if filters.sender.is_some() || filters.country.is_some() || filters.asn.is_some() {
        table::run(conn, SELECTION_BY_SOURCE)?;
    }
    load_authorised(conn, &filters.authorised)?;
    table::run(conn, POLICY)?;
    if classes {
        table::run(conn, POLICY_VARIABLES)?;
    }
    table::run(conn, CLASSES)?;
    Ok(())
}

/// `selected` over the Parquet exports in `dirs` (queries/parquet_views.sql) instead of a
/// database, narrowed by the report filters (domain, since/until, reporter).
pub fn select_parquet(conn: &Connection, filters: &Filters, dirs: &[String]) -> Result<()> {
    if filters.ip.is_some()
        || filters.sender.is_some()
        || filters.country.is_some()
        || filters.asn.is_some()
    {
        bail!(
            "over Parquet exports, only --domain, --since, --until, --reporter and --limit apply"
        );
    }
    set_filters(conn, filters)?;
    let list: Vec<String> = dirs.iter().map(|d| sql_string(d)).collect();
    conn.execute_batch(&format!("SET VARIABLE exports = [{}];", list.join(", ")))?;
    table::run(conn, PARQUET_VIEWS)?;
    Ok(())
}

/// The filters as SQL variables (queries/filters.sql and selection.sql read them).
fn set_filters(conn: &Connection, filters: &Filters) -> Result<()> {
    let mut settings = Vec::new();
    let mut set = |name: &str, value: Option<String>| {
        settings.push(format!(
            "SET VARIABLE {name} = {};",
            value.unwrap_or_else(|| "NULL".into())
        ));
    };
    set("domain", filters.domain.as_deref().map(sql_string));
    set("reporter", filters.reporter.as_deref().map(sql_string));
    set("since", filters.since.map(|d| sql_string(&d.to_string())));
    set("until", filters.until.map(|d| sql_string(&d.to_string())));
    set("ip_low", filters.ip.as_ref().map(|r| sql_blob(&r.low)));
    set("ip_high", filters.ip.as_ref().map(|r| sql_blob(&r.high)));
    set("sender", filters.sender.as_deref().map(sql_string));
    set("country", filters.country.as_deref().map(sql_string));
    set("asn", filters.asn.map(|a| a.to_string()));
    conn.execute_batch(&settings.join("\n"))?;
    set_row_limit(conn, filters.limit)?;
    table::run(conn, FILTERS)?;
    Ok(())
}

/// The row limit reports read (`row_limit`; NULL: none).
fn set_row_limit(conn: &Connection, limit: Option<u64>) -> Result<()> {
    let limit = limit.map_or_else(|| "NULL".to_string(), |l| l.to_string());
    conn.execute_batch(&format!("SET VARIABLE row_limit = {limit};"))?;
    Ok(())
}

/// The authorised senders as the temp table `authorised_rules` that classes.sql reads.
fn load_authorised(conn: &Connection, rules: &[AuthorisedRule]) -> Result<()> {
    conn.execute_batch(
        "CREATE OR REPLACE TEMP TABLE authorised_rules
             (domain VARCHAR, kind VARCHAR, value VARCHAR, low BLOB, high BLOB)",
    )?;
    let mut insert = conn.prepare("INSERT INTO authorised_rules VALUES (?, ?, ?, ?, ?)")?;
    for rule in rules {
        let domain = rule
            .domain
            .as_ref()
            .map(|d| d.trim_end_matches('.').to_lowercase());
        let (kind, value, range) = match &rule.kind {
            AuthorisedBy::Sender(name) => ("sender", name.to_lowercase(), None),
            AuthorisedBy::BaseDomain(base) => ("base_domain", base.to_lowercase(), None),
            AuthorisedBy::Dkim(domain) => ("dkim", domain.to_lowercase(), None),
            AuthorisedBy::Network(range) => ("network", range.text.clone(), Some(range)),
        };
        insert.execute(duckdb::params![
            domain,
            kind,
            value,
            range.map(|r| r.low.to_vec()),
            range.map(|r| r.high.to_vec()),
        ])?;
    }
    Ok(())
}

/// Runs one built-in report.
pub fn run(conn: &Connection, report: Report, filters: &Filters) -> Result<Table> {
    select_for(conn, filters, report.classifies())?;
    table::run(conn, report.sql())
}

/// Everything the HTML page shows, for one set of filters.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// One row per policy domain (`report readiness`), worst first: the page starts here.
    pub status: Table,
    pub overview: Table,
    pub daily: Table,
    /// The biggest sources and senders (the overview's totals account for the rest).
    pub sources: Table,
    pub senders: Table,
    /// Per domain its biggest senders, each with its biggest source IPs.
    pub domain_senders: Table,
    pub failures: Table,
    pub tls: Table,
    pub failure_samples: Table,
}

/// Rows of the tables shown in the HTML page.
pub const DASHBOARD_SOURCES: u64 = 50;
pub const DASHBOARD_SENDERS: u64 = 10;
pub const DASHBOARD_FAILURES: u64 = 100;
pub const DASHBOARD_TLS: u64 = 50;
pub const DASHBOARD_FAILURE_SAMPLES: u64 = 50;

pub fn dashboard(conn: &Connection, filters: &Filters) -> Result<Dashboard> {
    select(
        conn,
        &Filters {
            limit: None,
            ..filters.clone()
        },
    )?;
    table::run(conn, SNAPSHOT)?;
    // Every section reads the one selection; only the row limit changes between them.
    let section = |sql: &str, limit: Option<u64>| {
        set_row_limit(conn, limit)?;
        table::run(conn, sql)
    };
    let overview = section(OVERVIEW, None)?;
    let mut status = section(Report::Readiness.sql(), None)?;
    worst_first(&mut status);
    Ok(Dashboard {
        status,
        overview,
        daily: section(Report::Daily.sql(), None)?,
        sources: section(Report::Sources.sql(), Some(DASHBOARD_SOURCES))?,
        senders: section(Report::Senders.sql(), Some(DASHBOARD_SENDERS))?,
        // Senders per domain, with the same row limit per domain.
        domain_senders: section(DOMAIN_SENDERS, Some(DASHBOARD_SENDERS))?,
        failures: section(Report::Failures.sql(), Some(DASHBOARD_FAILURES))?,
        tls: section(Report::Tls.sql(), Some(DASHBOARD_TLS))?,
        failure_samples: section(
            Report::FailureSamples.sql(),
            Some(DASHBOARD_FAILURE_SAMPLES),
        )?,
    })
}

/// Domains that are not ready first (then ready and enforced alike), then by DMARC pass rate,
/// lowest first.
fn worst_first(status: &mut Table) {
    let (Some(verdict), Some(rate)) = (status.column("verdict"), status.column("dmarc_pass_rate"))
    else {
        return;
    };
    status.rows.sort_by(|a, b| {
        let ready = |row: &[serde_json::Value]| row[verdict] != "not_ready";
        let rate = |row: &[serde_json::Value]| row[rate].as_f64().unwrap_or(0.0);
        ready(a).cmp(&ready(b)).then(rate(a).total_cmp(&rate(b)))
    });
}

/// A SQL string literal. Values reach SQL only through here (quotes doubled).
pub fn sql_string(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

fn sql_blob(bytes: &[u8]) -> String {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("from_hex('{hex}')")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_cidr_covers_its_block_only() {
        let range = IpRange::parse("192.0.2.0/24").unwrap();
        let inside = ip_to_bytes("192.0.2.255".parse().unwrap());
        let outside = ip_to_bytes("192.0.3.0".parse().unwrap());
        assert!(range.low <= inside && inside <= range.high);
        assert!(outside > range.high);
    }

    #[test]
    fn single_addresses_and_ipv6() {
        let one = IpRange::parse("2001:DB8::1").unwrap();
        assert_eq!(one.low, one.high);
        let block = IpRange::parse("2001:db8::/32").unwrap();
        assert!(block.low <= one.low && one.high <= block.high);
        assert!(IpRange::parse("192.0.2.1/33").is_err());
        let mapped = IpRange::parse("::ffff:192.0.2.0/120").unwrap();
        assert_eq!(
            (mapped.low, mapped.high),
            (
                IpRange::parse("192.0.2.0/24").unwrap().low,
                IpRange::parse("192.0.2.0/24").unwrap().high
            )
        );
        assert!(IpRange::parse("::ffff:192.0.2.0/90").is_err());
        assert!(IpRange::parse("example.com").is_err());
    }
}
