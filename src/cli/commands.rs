//! The command line's flags and subcommands (clap), as `mod.rs` runs them.

use super::args::{self, FetchArgs, FilterArgs, NamingArgs, ReadArgs, ReadinessArgs};
use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use duckmarc::render::Format;
use duckmarc::views::reports::Report;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "duckmarc",
    version,
    about = "DMARC aggregate-report analyzer backed by DuckDB"
)]
pub(super) struct Cli {
    /// Database file [default: ~/.local/share/duckmarc/duckmarc.duckdb]
    #[arg(long, env = "DUCKMARC_DB", global = true)]
    pub(super) db: Option<PathBuf>,
    /// TOML configuration file [default: ~/.config/duckmarc/config.toml if present]
    #[arg(long, env = "DUCKMARC_CONFIG", global = true)]
    pub(super) config: Option<PathBuf>,
    /// Seconds to wait while another duckmarc process holds the database (or, for `alerts`,
    /// another alerts run of the same scope) [default: 60]
    #[arg(long, global = true, value_name = "SECONDS")]
    pub(super) lock_timeout: Option<u64>,
    /// Most memory DuckDB may use for reports, the HTML page and queries (past it, it spills
    /// to disk), e.g. 512MB, 4GB [default: 1GB]
    #[arg(long, env = "DUCKMARC_MEMORY_LIMIT", global = true, value_name = "SIZE",
          value_parser = args::parse_memory_size)]
    pub(super) memory_limit: Option<String>,
    /// More detail on stderr (-v, -vv); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(super) verbose: u8,
    /// Only errors and rejected inputs on stderr
    #[arg(short, long, global = true)]
    pub(super) quiet: bool,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Store every aggregate report found in files and directories (recursively)
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Ingest what is in directories, then every file that arrives, until SIGINT/SIGTERM
    Watch {
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Move stored, duplicate and skipped inputs here after they are committed
        #[arg(long, value_name = "DIR")]
        archive: Option<PathBuf>,
        /// Move rejected inputs here, with NAME.reason.txt beside each
        #[arg(long, value_name = "DIR")]
        rejected: Option<PathBuf>,
        /// Seconds a file must stay unchanged before it is read
        #[arg(long, value_name = "SECONDS", default_value = "2")]
        settle: f64,
        /// Seconds between full rescans, in case a filesystem event was missed
        #[arg(long, value_name = "SECONDS", default_value = "60")]
        rescan: f64,
        #[command(flatten)]
        read: ReadArgs,
    },
    /// Ingest report e-mails from an IMAP folder (once, or continuously with --watch)
    Fetch(Box<FetchArgs>),
    /// Name the sources (reverse DNS, IP database, sender map), as ingest does after each
    /// run: again on demand, e.g. after a DNS outage or with a new --sender-map
    Enrich {
        /// Name every source again and ask reverse DNS again, whatever is cached
        #[arg(long)]
        refresh: bool,
        #[command(flatten)]
        naming: NamingArgs,
    },
    /// What changed since the last run (new sources, senders and DKIM keys, authorised senders
    /// failing, pass-rate drops, silent reporters, domains and keys, no reports, policy changes); exit
    /// code 4 when any
    Alerts {
        #[command(flatten)]
        filters: FilterArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Also POST the alerts as JSON to this URL (tried 3 times; if it stays down the
        /// alerts stay pending and are raised again next run). A secret: prefer
        /// --webhook-file, DUCKMARC_WEBHOOK or the config's `webhook` to the command line
        #[arg(
            long,
            value_name = "URL",
            env = "DUCKMARC_WEBHOOK",
            hide_env_values = true
        )]
        webhook: Option<String>,
        /// Read the webhook URL from this file (its first line; keep it mode 0600)
        #[arg(long, value_name = "FILE", conflicts_with = "webhook")]
        webhook_file: Option<PathBuf>,
        /// Alert when a domain's DMARC pass rate drops by this fraction against the 14 days before
        #[arg(long, default_value = "0.10", value_name = "FRACTION")]
        drop_threshold: f64,
        /// Fewest messages on a day (and in its baseline) for a pass-rate comparison
        #[arg(long, default_value = "50")]
        min_messages: u64,
        /// Days without reports after which a usual reporter (or a domain's every reporter) is silent
        #[arg(long, default_value = "3", value_name = "DAYS")]
        silent_days: u32,
        /// Hours without any report arriving after which reports have stopped
        #[arg(long, default_value = "48", value_name = "HOURS")]
        stopped_hours: u32,
        /// Hours after a day ends when its pass rate is judged even if one of its usual
        /// reporters has not reported it yet
        #[arg(long, default_value = "48", value_name = "HOURS")]
        complete_hours: u32,
        /// Share of a domain's mail a DKIM key must have signed (in the 14 days up to its last
        /// signature) for its silence to be raised
        #[arg(long, default_value = "0.10", value_name = "FRACTION")]
        selector_share: f64,
        /// Share of a day's SMTP TLS sessions to a domain that must fail for the day to be
        /// raised (tls_failing)
        #[arg(long, default_value = "0.05", value_name = "FRACTION")]
        tls_failure_threshold: f64,
        /// Fewest failed SMTP TLS sessions on a day (all reports counted) for it to be raised
        /// (tls_failing): one failed session of one is no news
        #[arg(long, default_value = "5", value_name = "SESSIONS")]
        tls_min_failures: u64,
    },
    /// The domains' DNS records (DMARC, SPF, DKIM keys, MTA-STS, TLS reporting) held against
    /// the traffic the reports show; exit code 5 when any finding is an error
    Check {
        /// Domains to check [default: every policy domain with reports in the period]
        #[arg(value_parser = args::parse_domain)]
        domains: Vec<String>,
        #[command(flatten)]
        filters: FilterArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Ask DNS again, whatever is cached
        #[arg(long)]
        refresh: bool,
        /// Ask this DNS server instead of the system's resolvers
        #[arg(long, value_name = "IP[:PORT]", value_parser = args::parse_dns_server)]
        dns_server: Option<std::net::SocketAddr>,
        /// Seconds all lookups of the run may take together
        #[arg(long, default_value = "20", value_name = "SECONDS")]
        dns_budget: u64,
    },
    /// Write the reports stored since the last export as a Hive-partitioned Parquet dataset
    /// (for Spark, Trino, DuckDB; see README)
    Export {
        /// The dataset's directory; each run adds files for the reports not exported yet
        #[arg(long, value_name = "DIR")]
        parquet: PathBuf,
    },
    /// Totals over the whole database
    Stats {
        /// Print one JSON object (for scripts and monitoring)
        #[arg(long)]
        json: bool,
        /// table, json, or prometheus (node_exporter's textfile collector)
        #[arg(long, value_enum)]
        format: Option<StatsFormat>,
    },
    /// Reports: sources, senders, domains, readiness, reporters, daily, failures, tls,
    /// failure-samples, dkim, changes
    Report {
        #[arg(value_enum)]
        report: Report,
        #[command(flatten)]
        filters: FilterArgs,
        #[command(flatten)]
        readiness: ReadinessArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// `report changes`: the first day of the period to compare with [default: the
        /// period of the same length just before --since]
        #[arg(long, value_name = "DATE")]
        compare_since: Option<NaiveDate>,
        /// `report changes`: the last day of the period to compare with
        #[arg(long, value_name = "DATE")]
        compare_until: Option<NaiveDate>,
    },
    /// Write a self-contained HTML report with charts (no network needed to view it): one
    /// page (-o FILE) or a static site to browse (--site DIR)
    #[command(group(clap::ArgGroup::new("target").required(true).args(["output", "site"])))]
    Html {
        /// Output file; written atomically (to a temporary name, then renamed)
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        /// A directory for a static site: an index, a page per domain and per sender; each
        /// page written atomically, pages of vanished senders removed
        #[arg(long, value_name = "DIR")]
        site: Option<PathBuf>,
        #[command(flatten)]
        filters: FilterArgs,
        #[command(flatten)]
        readiness: ReadinessArgs,
    },
    /// Check the configuration file: prints what deserves a second look (listed senders
    /// that are shared infrastructure), one line each
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Run your own SQL file against the database (read-only); the `selected` view of
    /// queries/selection.sql is defined, with the same filters as `report`
    Query {
        file: PathBuf,
        #[command(flatten)]
        filters: FilterArgs,
        #[command(flatten)]
        readiness: ReadinessArgs,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        /// Run over these Parquet exports (repeatable; shards combined, each report once)
        /// instead of the database: `selected` is then queries/parquet_views.sql's
        #[arg(long, value_name = "DIR")]
        parquet: Vec<PathBuf>,
    },
}

#[derive(clap::Subcommand)]
pub(super) enum ConfigAction {
    /// Read the configuration and list the [[authorised]] senders that are shared
    /// infrastructure (an e-mail provider, a marketing platform, a network)
    Check,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub(super) enum StatsFormat {
    Table,
    Json,
    Prometheus,
}
