//! Flags shared by several commands, and how they become the library's options: flags win
//! over the config file, which wins over built-in defaults.

use super::config::{AuthorisedConfig, Config, ImapConfig};
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use duckmarc::enrich::dns::DnsOptions;
use duckmarc::enrich::EnrichOptions;
use duckmarc::pipeline::{IngestOptions, ReadOptions};
use duckmarc::source::imap::{ImapOptions, Secret, Tls};
use duckmarc::store::DbOptions;
use duckmarc::unpack::Limits;
use duckmarc::views::reports::{AuthorisedBy, AuthorisedRule, Filters, IpRange};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Flags of every command that ingests.
#[derive(clap::Args)]
pub struct ReadArgs {
    /// Largest decompressed document accepted, in bytes [default: 104857600]
    #[arg(long, value_name = "BYTES")]
    pub max_document_bytes: Option<u64>,
    /// Also store each report's original XML, gzip-compressed, in reports.raw_xml_gz
    #[arg(long)]
    pub keep_xml: bool,
    /// Also store the body of the original message in failure reports (personal data:
    /// by default only its headers are stored)
    #[arg(long)]
    pub keep_failure_bodies: bool,
    #[command(flatten)]
    pub naming: NamingArgs,
}

impl ReadArgs {
    pub fn ingest_options(&self, db: DbOptions, config: &Config) -> IngestOptions {
        let mut limits = Limits::default();
        if let Some(max) = self.max_document_bytes.or(config.max_document_bytes) {
            limits.max_document_bytes = max;
        }
        IngestOptions {
            db,
            read: ReadOptions {
                limits,
                keep_xml: self.keep_xml || config.keep_xml.unwrap_or(false),
                keep_failure_bodies: self.keep_failure_bodies
                    || config.keep_failure_bodies.unwrap_or(false),
            },
            enrich: Some(self.naming.options(config, false)),
        }
    }
}

/// How sources are named: flags of every command that ingests, and of `enrich`.
#[derive(clap::Args)]
pub struct NamingArgs {
    /// An MMDB IP database (IPinfo, MaxMind or DB-IP layout) instead of the bundled IPinfo Lite
    #[arg(long, value_name = "FILE")]
    pub ip_db: Option<PathBuf>,
    /// Your own sender names, over the bundled map: a CSV file with the header
    /// base_reverse_dns,name,type (repeat the flag for several files)
    #[arg(long, value_name = "FILE")]
    pub sender_map: Vec<PathBuf>,
    /// Ask this DNS server for reverse DNS instead of the system's resolvers
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_dns_server)]
    pub dns_server: Option<SocketAddr>,
    /// No reverse DNS lookups (names still come from DKIM/SPF domains and the IP database)
    #[arg(long, env = "DUCKMARC_NO_DNS", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_dns: bool,
}

impl NamingArgs {
    pub fn options(&self, config: &Config, refresh: bool) -> EnrichOptions {
        // A server named on the command line asks for DNS, over DUCKMARC_NO_DNS and the config.
        let no_dns = self.dns_server.is_none() && (self.no_dns || config.dns == Some(false));
        let dns = (!no_dns).then(|| DnsOptions {
            server: self.dns_server.or(config.dns_server),
            ..DnsOptions::default()
        });
        let mut sender_maps = config.sender_maps.clone();
        sender_maps.extend(self.sender_map.iter().cloned());
        EnrichOptions {
            ip_db: self.ip_db.clone().or(config.ip_db.clone()),
            sender_maps,
            dns,
            refresh,
        }
    }
}

/// `192.0.2.53` (port 53), `192.0.2.53:5353`, `[2001:db8::53]:5353` or `2001:db8::53`.
pub fn parse_dns_server(text: &str) -> Result<SocketAddr> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        return Ok(address);
    }
    let ip: IpAddr = text
        .trim_matches(['[', ']'])
        .parse()
        .with_context(|| format!("{text:?} is not an IP address with an optional :port"))?;
    Ok(SocketAddr::new(ip, 53))
}

/// What every report can be narrowed to.
#[derive(Debug, Clone, clap::Args)]
pub struct FilterArgs {
    /// Only this policy domain (and its subdomains)
    #[arg(long)]
    pub domain: Option<String>,
    /// Only reports overlapping this UTC day or later (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub since: Option<NaiveDate>,
    /// Only reports overlapping this UTC day or earlier (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub until: Option<NaiveDate>,
    /// Only this reporting organisation (org_name, case-insensitive)
    #[arg(long)]
    pub reporter: Option<String>,
    /// Only this source address or CIDR block (192.0.2.0/24, 2001:db8::/32)
    #[arg(long, value_name = "ADDRESS[/PREFIX]", value_parser = IpRange::parse)]
    pub ip: Option<IpRange>,
    /// Only sources named so (`report senders` lists the names; `unknown` for the unnamed)
    #[arg(long)]
    pub sender: Option<String>,
    /// Only sources in this country (ISO 3166 code: US, DE ...)
    #[arg(long, value_name = "CODE")]
    pub country: Option<String>,
    /// Only sources in this autonomous system (15169 or AS15169)
    #[arg(long, value_name = "ASN", value_parser = parse_asn)]
    pub asn: Option<u32>,
    /// At most this many rows
    #[arg(long)]
    pub limit: Option<u64>,
}

fn parse_asn(text: &str) -> Result<u32> {
    text.trim()
        .trim_start_matches(['A', 'S', 'a', 's'])
        .parse()
        .with_context(|| format!("{text:?} is not an AS number (15169 or AS15169)"))
}

impl FilterArgs {
    /// The filters, with the config's authorised senders that decide each record's class.
    pub fn resolve(self, config: &Config) -> Result<Filters> {
        Ok(Filters {
            domain: self.domain,
            since: self.since,
            until: self.until,
            reporter: self.reporter,
            ip: self.ip,
            sender: self.sender,
            country: self.country,
            asn: self.asn,
            limit: self.limit,
            authorised: authorised_rules(&config.authorised)?,
        })
    }
}

fn authorised_rules(tables: &[AuthorisedConfig]) -> Result<Vec<AuthorisedRule>> {
    let mut rules = Vec::new();
    for table in tables {
        let rule = |kind| AuthorisedRule {
            domain: table.domain.clone(),
            kind,
        };
        rules.extend(
            table
                .senders
                .iter()
                .cloned()
                .map(AuthorisedBy::Sender)
                .map(rule),
        );
        rules.extend(
            table
                .base_domains
                .iter()
                .cloned()
                .map(AuthorisedBy::BaseDomain)
                .map(rule),
        );
        rules.extend(table.dkim.iter().cloned().map(AuthorisedBy::Dkim).map(rule));
        for network in &table.networks {
            let range = IpRange::parse(network)
                .with_context(|| format!("[[authorised]] networks: {network:?}"))?;
            rules.push(rule(AuthorisedBy::Network(range)));
        }
    }
    Ok(rules)
}

/// `duckmarc fetch` flags; each overrides the `[imap]` table of the config file.
#[derive(clap::Args)]
pub struct FetchArgs {
    #[arg(long)]
    pub host: Option<String>,
    /// [default: 993 with --tls implicit, else 143]
    #[arg(long)]
    pub port: Option<u16>,
    /// [default: implicit]
    #[arg(long, value_enum)]
    pub tls: Option<Tls>,
    /// PEM file with the CA that signed the server's certificate (added to the system's)
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    #[arg(long)]
    pub user: Option<String>,
    /// File whose first line is the password; or set DUCKMARC_IMAP_PASSWORD
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// [default: INBOX]
    #[arg(long)]
    pub folder: Option<String>,
    /// Move messages whose reports are stored here (created if missing)
    #[arg(long, value_name = "FOLDER")]
    pub move_to: Option<String>,
    /// Move messages that hold no valid report here (created if missing)
    #[arg(long, value_name = "FOLDER")]
    pub failed_to: Option<String>,
    /// Stay connected and fetch new mail as it arrives (IMAP IDLE), until SIGINT/SIGTERM
    #[arg(long)]
    pub watch: bool,
    /// Messages per fetch and per transaction
    #[arg(long, default_value = "100")]
    pub batch_size: usize,
    #[command(flatten)]
    pub read: ReadArgs,
}

impl FetchArgs {
    /// Flags over config file over defaults.
    pub fn resolve(self, config: &ImapConfig) -> Result<ImapOptions> {
        let tls = self.tls.or(config.tls).unwrap_or(Tls::Implicit);
        let password_file = self.password_file.or(config.password_file.clone());
        let password = match (password_file, std::env::var("DUCKMARC_IMAP_PASSWORD")) {
            (Some(file), _) => std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read password file {}", file.display()))?
                .lines()
                .next()
                .unwrap_or("")
                .to_string(),
            (None, Ok(password)) => password,
            (None, Err(_)) => {
                bail!("no IMAP password: use --password-file or DUCKMARC_IMAP_PASSWORD")
            }
        };
        Ok(ImapOptions {
            host: self
                .host
                .or(config.host.clone())
                .context("no IMAP server: use --host")?,
            port: self.port.or(config.port).unwrap_or(match tls {
                Tls::Implicit => 993,
                _ => 143,
            }),
            tls,
            ca_file: self.ca_file.or(config.ca_file.clone()),
            user: self
                .user
                .or(config.user.clone())
                .context("no IMAP user: use --user")?,
            password: Secret::new(password),
            folder: self
                .folder
                .or(config.folder.clone())
                .unwrap_or_else(|| "INBOX".into()),
            move_to: self.move_to.or(config.move_to.clone()),
            failed_to: self.failed_to.or(config.failed_to.clone()),
            batch_size: self.batch_size,
            idle_timeout: Duration::from_secs(25 * 60),
        })
    }
}
