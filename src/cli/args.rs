//! Flags shared by several commands, and how they become the library's options: flags win
//! over the config file, which wins over built-in defaults.

use super::config::{AuthorisedConfig, Config, ImapConfig};
use super::output::usage;
use anyhow::{bail, Context, Result};
use chrono::NaiveDate;
use duckmarc::authenticity::Organisations;
use duckmarc::enrich::dns::DnsOptions;
use duckmarc::enrich::EnrichOptions;
use duckmarc::pipeline::{IngestOptions, ReadOptions};
use duckmarc::source::imap::{Auth, ImapOptions, Secret, Tls};
use duckmarc::source::oauth::{self, Mechanism, TokenSource};
use duckmarc::store::DbOptions;
use duckmarc::unpack::Limits;
use duckmarc::views::filters::{AuthorisedBy, AuthorisedRule, Filters, IpRange};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
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
    /// Refuse aggregate and SMTP TLS reports whose e-mail is not shown to be genuine (DKIM and
    /// DMARC of the reporter's domain; needs DNS). Bare files carry no signature and are
    /// refused too (SMTP TLS reports delivered over HTTPS among them). Failure reports are
    /// stored unchecked: take them as anyone's word
    #[arg(long)]
    pub require_authentic: bool,
    #[command(flatten)]
    pub naming: NamingArgs,
}

impl ReadArgs {
    pub fn ingest_options(&self, db: DbOptions, config: &Config) -> IngestOptions {
        let mut limits = Limits::default();
        if let Some(max) = self.max_document_bytes.or(config.max_document_bytes) {
            limits.max_document_bytes = max;
        }
        let naming = self.naming.options(config, false);
        let require_authentic = self.require_authentic || config.require_authentic.unwrap_or(false);
        if require_authentic && naming.dns.is_none() {
            // Every report would be skipped as unverified, and the run would say it succeeded.
            <super::commands::Cli as clap::CommandFactory>::command()
                .error(
                    clap::error::ErrorKind::ArgumentConflict,
                    "--require-authentic (or require_authentic in the config) needs DNS to check \
                     report e-mails' signatures, and DNS is off (--no-dns, DUCKMARC_NO_DNS or \
                     dns = false in the config): every report would be skipped",
                )
                .exit();
        }
        IngestOptions {
            db,
            read: ReadOptions {
                limits,
                keep_xml: self.keep_xml || config.keep_xml.unwrap_or(false),
                keep_failure_bodies: self.keep_failure_bodies
                    || config.keep_failure_bodies.unwrap_or(false),
                authenticate: naming.dns.clone(),
                require_authentic,
                organisations: Organisations::with(&config.reporter_domains),
            },
            enrich: Some(naming),
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
    /// No DNS: no reverse DNS, no check of report e-mails' signatures (sources are then named
    /// by their network from the IP database)
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

/// A memory size as DuckDB reads it: a number and a unit, `1.5GB`, `512 MiB`. Checked here
/// because it goes into a `SET` statement.
pub fn parse_memory_size(text: &str) -> Result<String> {
    const UNITS: [&str; 8] = ["KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"];
    let text = text.trim();
    let unit_at = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let number_ok = number.parse::<f64>().is_ok_and(|n| n > 0.0);
    let unit = unit.trim();
    match UNITS.iter().find(|u| u.eq_ignore_ascii_case(unit)) {
        Some(unit) if number_ok => Ok(format!("{number}{unit}")),
        _ => bail!("{text:?} is not a memory size such as 512MB or 4GB"),
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
    #[arg(long, value_parser = parse_domain)]
    pub domain: Option<String>,
    /// Only reports overlapping this UTC day or later (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub since: Option<NaiveDate>,
    /// Only reports overlapping this UTC day or earlier (YYYY-MM-DD)
    #[arg(long, value_name = "DATE")]
    pub until: Option<NaiveDate>,
    /// Only this reporting organisation (org_name, case-insensitive; an SMTP TLS report's
    /// organization-name, or the domain of its contact-info address: google.com)
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

/// A domain as the database holds it: `Bücher.example` finds `xn--bcher-kva.example`.
pub fn parse_domain(text: &str) -> Result<String> {
    duckmarc::parse::domain::canonical_domain(text)
        .map_err(|_| anyhow::anyhow!("{text:?} is not a domain name"))
}

fn parse_asn(text: &str) -> Result<u32> {
    text.trim()
        .trim_start_matches(['A', 'S', 'a', 's'])
        .parse()
        .with_context(|| format!("{text:?} is not an AS number (15169 or AS15169)"))
}

impl FilterArgs {
    /// The filters, with the config's authorised senders that decide each record's class.
    /// Listed senders that are shared infrastructure get a warning each (`duckmarc config
    /// check` lists them too).
    pub fn resolve(self, config: &Config) -> Result<Filters> {
        // An empty period selects nothing, and a run that says nothing of why misleads.
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(usage(format!("--since {since} is after --until {until}")));
            }
        }
        let mut unmapped_senders = Vec::new();
        if let Some(map) = super::config::listed_sender_map(config)? {
            for warning in super::config::shared_sender_rules(config, &map) {
                log::warn!("{warning}");
            }
            unmapped_senders = super::config::unmapped_sender_names(config, &map)
                .into_iter()
                .map(|name| name.to_lowercase())
                .collect();
        }
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
            unmapped_senders,
            min_days: config.readiness_min_days,
        })
    }
}

/// Flags of the commands that judge readiness (`report`, `html`, `query`).
#[derive(clap::Args)]
pub struct ReadinessArgs {
    /// Days the reports must watch a domain before `report readiness` calls it ready
    /// [default: 30, or readiness_min_days in the config]
    #[arg(long, value_name = "DAYS", env = "DUCKMARC_MIN_DAYS")]
    pub min_days: Option<u32>,
}

impl ReadinessArgs {
    /// The filters of `filters` resolved with the config, judged with these flags.
    pub fn resolve(&self, filters: FilterArgs, config: &Config) -> Result<Filters> {
        let mut filters = filters.resolve(config)?;
        filters.min_days = self.min_days.or(filters.min_days);
        Ok(filters)
    }
}

fn authorised_rules(tables: &[AuthorisedConfig]) -> Result<Vec<AuthorisedRule>> {
    let mut rules = Vec::new();
    for table in tables {
        // Compared with domains as stored: `bücher.example` is `xn--bcher-kva.example`.
        let domain = table.domain.as_deref().map(parse_domain).transpose();
        let domain = domain.context("[[authorised]] domain")?;
        let rule = |kind| AuthorisedRule {
            domain: domain.clone(),
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
        for base in &table.base_domains {
            let base = parse_domain(base).context("[[authorised]] base_domains")?;
            rules.push(rule(AuthorisedBy::BaseDomain(base)));
        }
        for signer in &table.dkim {
            let signer = parse_domain(signer).context("[[authorised]] dkim")?;
            rules.push(rule(AuthorisedBy::Dkim(signer)));
        }
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
    /// How to log in [default: password, or xoauth2 when an OAuth2 token source is given]
    #[arg(long, value_enum)]
    pub auth: Option<Mechanism>,
    /// A command printing an OAuth2 access token (run with sh -c for each login)
    #[arg(long, value_name = "CMD")]
    pub oauth_token_command: Option<String>,
    /// OAuth2 client-credentials flow: the Microsoft 365 tenant (id or domain)
    #[arg(long, value_name = "TENANT")]
    pub oauth_tenant: Option<String>,
    /// OAuth2 client-credentials flow: the application (client) id
    #[arg(long, value_name = "ID")]
    pub oauth_client_id: Option<String>,
    /// OAuth2 client-credentials flow: file whose first line is the client secret
    #[arg(long, value_name = "FILE")]
    pub oauth_client_secret_file: Option<PathBuf>,
    /// OAuth2 token endpoint [default: Microsoft's for --oauth-tenant]
    #[arg(long, value_name = "URL")]
    pub oauth_token_url: Option<String>,
    /// OAuth2 scope [default: https://outlook.office365.com/.default]
    #[arg(long, value_name = "SCOPE")]
    pub oauth_scope: Option<String>,
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
    /// Messages per fetch and per transaction [default: 100]
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[command(flatten)]
    pub read: ReadArgs,
}

/// The first line of a file holding a secret.
fn first_line(file: &Path, what: &str) -> Result<Secret> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("cannot read {what} file {}", file.display()))?;
    Ok(Secret::new(text.lines().next().unwrap_or("")))
}

impl FetchArgs {
    /// The login: a password, or an access token from a command or the client-credentials
    /// flow. Secrets only ever come from files or the environment.
    fn auth(&self, config: &ImapConfig) -> Result<Auth> {
        let pick = |flag: &Option<String>, key: &Option<String>| flag.clone().or(key.clone());
        let command = pick(&self.oauth_token_command, &config.oauth_token_command);
        let tenant = pick(&self.oauth_tenant, &config.oauth_tenant);
        let client_id = pick(&self.oauth_client_id, &config.oauth_client_id);
        let token_url = pick(&self.oauth_token_url, &config.oauth_token_url);
        let secret_file = self
            .oauth_client_secret_file
            .clone()
            .or(config.oauth_client_secret_file.clone());
        let source = match (command, client_id) {
            (Some(_), Some(_)) => {
                return Err(usage(
                    "give either --oauth-token-command or --oauth-client-id, not both",
                ))
            }
            (Some(command), None) => Some(TokenSource::Command(command)),
            (None, Some(client_id)) => {
                let token_url = match (token_url, tenant) {
                    (Some(url), _) => url,
                    (None, Some(tenant)) => oauth::microsoft_token_url(&tenant),
                    (None, None) => {
                        return Err(usage(
                            "--oauth-client-id needs --oauth-tenant or --oauth-token-url",
                        ))
                    }
                };
                let secret_file = secret_file
                    .ok_or_else(|| usage("--oauth-client-id needs --oauth-client-secret-file"))?;
                Some(TokenSource::ClientCredentials {
                    token_url,
                    client_id,
                    secret: first_line(&secret_file, "client secret")?,
                    scope: pick(&self.oauth_scope, &config.oauth_scope)
                        .unwrap_or_else(|| oauth::MICROSOFT_IMAP_SCOPE.into()),
                })
            }
            (None, None) => None,
        };
        let default = if source.is_some() {
            Mechanism::Xoauth2
        } else {
            Mechanism::Password
        };
        match (self.auth.or(config.auth).unwrap_or(default), source) {
            (Mechanism::Password, None) => Ok(Auth::Password(self.password(config)?)),
            (Mechanism::Password, Some(_)) => Err(usage(
                "--auth password takes no OAuth2 token source; use --auth xoauth2 or oauthbearer",
            )),
            (mechanism, Some(source)) => Ok(Auth::Token {
                mechanism,
                tokens: oauth::Tokens::new(source),
            }),
            (_, None) => Err(usage(
                "--auth xoauth2 and oauthbearer need a token: --oauth-token-command CMD, or \
                 --oauth-client-id with --oauth-tenant (or --oauth-token-url) and \
                 --oauth-client-secret-file",
            )),
        }
    }

    fn password(&self, config: &ImapConfig) -> Result<Secret> {
        let password_file = self.password_file.clone().or(config.password_file.clone());
        match (password_file, std::env::var("DUCKMARC_IMAP_PASSWORD")) {
            (Some(file), _) => first_line(&file, "password"),
            (None, Ok(password)) => Ok(Secret::new(password)),
            (None, Err(_)) => Err(usage(
                "no IMAP password: use --password-file or DUCKMARC_IMAP_PASSWORD",
            )),
        }
    }

    /// Flags over config file over defaults.
    pub fn resolve(self, config: &ImapConfig) -> Result<ImapOptions> {
        let tls = self.tls.or(config.tls).unwrap_or(Tls::Implicit);
        let host = self
            .host
            .clone()
            .or(config.host.clone())
            .ok_or_else(|| usage("no IMAP server: use --host"))?;
        let user = self
            .user
            .clone()
            .or(config.user.clone())
            .ok_or_else(|| usage("no IMAP user: use --user"))?;
        let auth = self.auth(config)?;
        Ok(ImapOptions {
            host,
            port: self.port.or(config.port).unwrap_or(match tls {
                Tls::Implicit => 993,
                _ => 143,
            }),
            tls,
            ca_file: self.ca_file.or(config.ca_file.clone()),
            user,
            auth,
            folder: self
                .folder
                .or(config.folder.clone())
                .unwrap_or_else(|| "INBOX".into()),
            move_to: self.move_to.or(config.move_to.clone()),
            failed_to: self.failed_to.or(config.failed_to.clone()),
            batch_size: self.batch_size.or(config.batch_size).unwrap_or(100),
            idle_timeout: Duration::from_secs(25 * 60),
        })
    }
}
