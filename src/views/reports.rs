//! The built-in reports: SQL from `queries/`, narrowed by the command-line filters.

use super::filters::{AuthorisedBy, AuthorisedRule, Filters, DEFAULT_MIN_DAYS};
use super::table::{self, Table};
use anyhow::{bail, Result};
use chrono::{Duration, NaiveDate};
use duckdb::Connection;

const FILTERS: &str = include_str!("../../queries/filters.sql");
const SELECTION: &str = include_str!("../../queries/selection.sql");
const RECORD_MACROS: &str = include_str!("../../queries/record_macros.sql");
const PARQUET_VIEWS: &str = include_str!("../../queries/parquet_views.sql");
const SELECTION_BY_SOURCE: &str = include_str!("../../queries/selection_by_source.sql");
const POLICY: &str = include_str!("../../queries/policy.sql");
const POLICY_VARIABLES: &str = include_str!("../../queries/policy_variables.sql");
const CLASSES: &str = include_str!("../../queries/classes.sql");
const OVERVIEW: &str = include_str!("../../queries/overview.sql");
pub(super) const DOMAIN_SENDERS: &str = include_str!("../../queries/domain_senders.sql");
const SNAPSHOT: &str = include_str!("../../queries/snapshot.sql");
const DNS_FINDINGS: &str = include_str!("../../queries/dns_findings.sql");

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
    /// One row per DKIM key (domain, signing domain, selector): first and last seen, messages, pass rate
    Dkim,
    /// This period (--since/--until, default the last 7 days reported) against the one before:
    /// new and vanished senders, sources, reporters and DKIM keys, policy changes
    Changes,
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
            Report::Dkim => include_str!("../../queries/dkim.sql"),
            Report::Changes => include_str!("../../queries/changes.sql"),
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
                ("reject_blocks_unauthorised", "unauthorised"),
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
            Report::Dkim => &[
                ("domain", "domain"),
                ("signing_domain", "signing domain"),
                ("selector", "selector"),
                ("first_seen", "first seen"),
                ("last_seen", "last seen"),
                ("messages", "msgs"),
                ("pass_rate", "pass"),
                ("sources", "sources"),
            ],
            Report::Changes => &[
                ("change", "change"),
                ("domain", "domain"),
                ("subject", "subject"),
                ("messages_before", "msgs before"),
                ("messages_after", "msgs after"),
                ("dmarc_pass_rate_before", "pass before"),
                ("dmarc_pass_rate_after", "pass after"),
                ("detail", "detail"),
            ],
        }
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
    table::run(conn, RECORD_MACROS)?;
    if filters.sender.is_some() || filters.country.is_some() || filters.asn.is_some() {
        table::run(conn, SELECTION_BY_SOURCE)?;
    }
    load_authorised(conn, &filters.authorised, &filters.unmapped_senders)?;
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
    table::run(conn, RECORD_MACROS)?;
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
    let min_days = filters.min_days.unwrap_or(DEFAULT_MIN_DAYS);
    set("min_days", Some(min_days.to_string()));
    conn.execute_batch(&settings.join("\n"))?;
    set_row_limit(conn, filters.limit)?;
    table::run(conn, FILTERS)?;
    Ok(())
}

/// The row limit reports read (`row_limit`; NULL: none).
pub(super) fn set_row_limit(conn: &Connection, limit: Option<u64>) -> Result<()> {
    let limit = limit.map_or_else(|| "NULL".to_string(), |l| l.to_string());
    conn.execute_batch(&format!("SET VARIABLE row_limit = {limit};"))?;
    Ok(())
}

/// The authorised senders as the temp table `authorised_rules` that classes.sql reads;
/// `unmapped`: a sender name in none of the sender maps (lower-cased names).
fn load_authorised(conn: &Connection, rules: &[AuthorisedRule], unmapped: &[String]) -> Result<()> {
    conn.execute_batch(
        "CREATE OR REPLACE TEMP TABLE authorised_rules
             (domain VARCHAR, kind VARCHAR, value VARCHAR, low BLOB, high BLOB, unmapped BOOLEAN)",
    )?;
    let mut insert = conn.prepare("INSERT INTO authorised_rules VALUES (?, ?, ?, ?, ?, ?)")?;
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
        let unmapped = kind == "sender" && unmapped.contains(&value);
        insert.execute(duckdb::params![
            domain,
            kind,
            value,
            range.map(|r| r.low.to_vec()),
            range.map(|r| r.high.to_vec()),
            unmapped,
        ])?;
    }
    Ok(())
}

/// Runs one built-in report (`report changes` compares with the period just before; see
/// [`changes`] to choose another).
pub fn run(conn: &Connection, report: Report, filters: &Filters) -> Result<Table> {
    if report == Report::Changes {
        return Ok(changes(conn, filters, &Comparison::default())?.1);
    }
    select_for(conn, filters, report.classifies())?;
    if report == Report::Readiness {
        // Readiness reads the sources' classes several ways. Stored once in a temp table, as
        // the page does, they cost DuckDB less than its own materialised CTE over the view:
        // 6.3-6.7 s against 7.2-8.9 s on 7 million records (2.4 million classes, spilled).
        table::run(conn, SNAPSHOT)?;
    }
    table::run(conn, report.sql())
}

/// The period `report changes` compares with; a day left out follows from the other and the
/// length of the period under report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Comparison {
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
}

/// The two periods of `report changes`, inclusive UTC days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Periods {
    pub since: NaiveDate,
    pub until: NaiveDate,
    pub compare_since: NaiveDate,
    pub compare_until: NaiveDate,
}

/// Days in the period when --since is not given: a week, the digest's usual length.
const CHANGES_DAYS: i64 = 7;

impl Periods {
    /// The period of `filters` (--until defaults to `latest`, the latest day reported, and
    /// --since to the week ending then) and the one to compare with (by default the period of
    /// the same length just before).
    pub fn new(filters: &Filters, compare: &Comparison, latest: NaiveDate) -> Result<Periods> {
        let until = filters.until.unwrap_or(latest);
        let since = filters
            .since
            .unwrap_or(until - Duration::days(CHANGES_DAYS - 1));
        if since > until {
            bail!("--since {since} is after the latest day reported, {until}");
        }
        let length = until - since;
        let (compare_since, compare_until) = match (compare.since, compare.until) {
            (Some(s), Some(u)) => (s, u),
            (Some(s), None) => (s, s + length),
            (None, Some(u)) => (u - length, u),
            (None, None) => (
                since - length - Duration::days(1),
                since - Duration::days(1),
            ),
        };
        if compare_since > compare_until {
            bail!("--compare-since {compare_since} is after --compare-until {compare_until}");
        }
        Ok(Periods {
            since,
            until,
            compare_since,
            compare_until,
        })
    }
}

/// `report changes`: `filters`' period against the one `compare` chooses, and the periods.
pub fn changes(
    conn: &Connection,
    filters: &Filters,
    compare: &Comparison,
) -> Result<(Periods, Table)> {
    let unbounded = Filters {
        since: None,
        until: None,
        ..filters.clone()
    };
    set_filters(conn, &unbounded)?;
    // The latest day reported by a report not dated ahead of its arrival: one report from a
    // clock a year ahead made the digest compare two empty weeks of next year.
    let latest: Option<String> = conn.query_row(
        "SELECT CAST(CAST(max(end_time) - INTERVAL 1 SECOND AS DATE) AS VARCHAR) FROM reports
         WHERE in_selection(domain, begin_time, end_time, org_name)
           AND end_time <= ingested_at + INTERVAL 1 DAY",
        [],
        |row| row.get(0),
    )?;
    let latest = latest.and_then(|day| day.parse::<NaiveDate>().ok());
    let today = || chrono::DateTime::from_timestamp(crate::store::now_seconds(), 0);
    let latest = latest
        .or_else(|| today().map(|t| t.date_naive()))
        .unwrap_or_default();
    let periods = Periods::new(filters, compare, latest)?;
    let both = Filters {
        since: Some(periods.since.min(periods.compare_since)),
        until: Some(periods.until.max(periods.compare_until)),
        ..filters.clone()
    };
    select_for(conn, &both, false)?;
    let day = |d: NaiveDate| sql_string(&d.to_string());
    conn.execute_batch(&format!(
        "SET VARIABLE period_since = {}; SET VARIABLE period_until = {};
         SET VARIABLE compare_since = {}; SET VARIABLE compare_until = {};",
        day(periods.since),
        day(periods.until),
        day(periods.compare_since),
        day(periods.compare_until),
    ))?;
    Ok((periods, table::run(conn, Report::Changes.sql())?))
}

/// Everything the HTML page shows, for one set of filters.
#[derive(Debug, Clone)]
pub struct Dashboard {
    /// One row per policy domain (`report readiness`), worst first: the page starts here.
    pub status: Table,
    /// What changed (`report changes`, the biggest of each kind) and between which periods.
    pub changes: (Periods, Table),
    /// Errors and warnings of the latest `duckmarc check` (none before it ran).
    pub dns_findings: Table,
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
pub const DASHBOARD_CHANGES: u64 = 10;

pub fn dashboard(conn: &Connection, filters: &Filters) -> Result<Dashboard> {
    // First, as it selects two periods of its own.
    let changes = changes(
        conn,
        &Filters {
            limit: Some(DASHBOARD_CHANGES),
            ..filters.clone()
        },
        &Comparison::default(),
    )?;
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
        changes,
        dns_findings: section(DNS_FINDINGS, None)?,
        overview,
        daily: section(Report::Daily.sql(), None)?,
        sources: section(Report::Sources.sql(), Some(DASHBOARD_SOURCES))?,
        senders: section(Report::Senders.sql(), Some(DASHBOARD_SENDERS))?,
        // Senders per domain, with the same row limit per domain.
        domain_senders: section(DOMAIN_SENDERS, Some(DASHBOARD_SENDERS))?,
        failures: section(Report::Failures.sql(), Some(DASHBOARD_FAILURES))?,
        // Every domain's row (one each): the page lists the first DASHBOARD_TLS and says
        // there are more, the site's domain pages show their own.
        tls: section(Report::Tls.sql(), None)?,
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
