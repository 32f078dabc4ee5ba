//! The optional TOML configuration file shared by all commands. Flags and environment
//! variables win over it; it wins over built-in defaults.

use anyhow::{Context, Result};
use duckmarc::enrich::names::SenderMap;
use serde::Deserialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Database file.
    pub db: Option<PathBuf>,
    /// Seconds to wait for another duckmarc process holding the database.
    pub lock_timeout: Option<u64>,
    /// DuckDB's memory limit for reports, the page and queries (`4GB`).
    #[serde(default, deserialize_with = "memory_size")]
    pub memory_limit: Option<String>,
    /// Largest decompressed document, in bytes.
    pub max_document_bytes: Option<u64>,
    /// Also store each report's original XML.
    pub keep_xml: Option<bool>,
    /// Also store the bodies of messages in failure reports.
    pub keep_failure_bodies: Option<bool>,
    /// Refuse aggregate and SMTP TLS reports whose e-mail was not verified
    /// (`--require-authentic`).
    pub require_authentic: Option<bool>,
    /// Domains of one reporting organisation each, for reporters that mail their reports
    /// from another domain than the one they name (src/authenticity.rs).
    #[serde(default)]
    pub reporter_domains: Vec<Vec<String>>,
    /// An MMDB IP database instead of the bundled one.
    pub ip_db: Option<PathBuf>,
    /// CSV files of sender names over the bundled map.
    #[serde(default)]
    pub sender_maps: Vec<PathBuf>,
    /// The DNS server for reverse DNS (`IP` or `IP:PORT`).
    #[serde(default, deserialize_with = "dns_server")]
    pub dns_server: Option<std::net::SocketAddr>,
    /// `false`: no reverse DNS.
    pub dns: Option<bool>,
    /// `duckmarc fetch` settings; flags override each of them.
    #[serde(default)]
    pub imap: ImapConfig,
    /// Days of reports `report readiness` needs before it says `ready` (`--min-days`).
    pub readiness_min_days: Option<u32>,
    /// Who may send for your domains (`[[authorised]]` tables).
    #[serde(default)]
    pub authorised: Vec<AuthorisedConfig>,
    /// Where `alerts` posts its alerts: a secret, so kept here (mode 0600) rather than on
    /// a command line.
    pub webhook: Option<String>,
    /// `duckmarc check`: per domain, the DKIM selectors published for it (DNS cannot list
    /// them), so those that signed nothing are named.
    #[serde(default)]
    pub dkim_selectors: std::collections::BTreeMap<String, Vec<String>>,
}

/// The webhook URL: the flag or DUCKMARC_WEBHOOK, else the first line of `--webhook-file`,
/// else the config's `webhook`. The URL is a secret: errors name the file, never the URL.
pub fn webhook_url(
    given: Option<String>,
    file: Option<&Path>,
    config: &Config,
) -> Result<Option<String>> {
    if let Some(url) = given {
        return Ok(Some(url));
    }
    if let Some(file) = file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read the webhook URL from {}", file.display()))?;
        let url = text.lines().next().unwrap_or("").trim();
        anyhow::ensure!(!url.is_empty(), "{} holds no webhook URL", file.display());
        return Ok(Some(url.to_string()));
    }
    Ok(config.webhook.clone())
}

/// One `[[authorised]]` table: senders allowed to send for `domain` (and its subdomains), or
/// for every domain when `domain` is left out.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorisedConfig {
    pub domain: Option<String>,
    /// Sender names, as `report senders` shows them.
    #[serde(default)]
    pub senders: Vec<String>,
    /// Base domains of confirmed PTR names.
    #[serde(default)]
    pub base_domains: Vec<String>,
    /// DKIM signing domains (d=).
    #[serde(default)]
    pub dkim: Vec<String>,
    /// Addresses or CIDR blocks.
    #[serde(default)]
    pub networks: Vec<String>,
}

/// The `[imap]` table.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<duckmarc::source::imap::Tls>,
    pub ca_file: Option<PathBuf>,
    pub user: Option<String>,
    /// A file holding the password (its first line); never the password itself.
    pub password_file: Option<PathBuf>,
    /// `password`, `xoauth2` or `oauthbearer`.
    pub auth: Option<duckmarc::source::oauth::Mechanism>,
    /// A command that prints an OAuth2 access token.
    pub oauth_token_command: Option<String>,
    /// Client-credentials flow: the Microsoft 365 tenant (id or domain).
    pub oauth_tenant: Option<String>,
    pub oauth_client_id: Option<String>,
    /// A file holding the client secret (its first line).
    pub oauth_client_secret_file: Option<PathBuf>,
    /// Token endpoint; default Microsoft's for the tenant.
    pub oauth_token_url: Option<String>,
    pub oauth_scope: Option<String>,
    pub folder: Option<String>,
    pub move_to: Option<String>,
    pub failed_to: Option<String>,
    /// Messages per fetch and per transaction.
    pub batch_size: Option<usize>,
}

fn dns_server<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<std::net::SocketAddr>, D::Error> {
    parsed_by(deserializer, super::args::parse_dns_server)
}

fn memory_size<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    parsed_by(deserializer, super::args::parse_memory_size)
}

/// An optional string of the config file, checked by the parser its flag uses.
fn parsed_by<'de, D: serde::Deserializer<'de>, T>(
    deserializer: D,
    parse: fn(&str) -> Result<T>,
) -> Result<Option<T>, D::Error> {
    let text = Option::<String>::deserialize(deserializer)?;
    text.map(|t| parse(&t).map_err(serde::de::Error::custom))
        .transpose()
}

impl Config {
    /// Reads `explicit` if given (it must exist), else the per-user file if it exists.
    pub fn load(explicit: Option<&Path>) -> Result<Config> {
        let Some(path) = file_read(explicit) else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let config: Config = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        Ok(config.relative_to(path.parent().unwrap_or(Path::new("."))))
    }

    /// The file paths in the config, each relative one taken from `dir`, the config file's
    /// directory: relative to the working directory, `db = "dmarc.duckdb"` named a different
    /// database from cron (run in $HOME), systemd (in /) and a shell, and the reports were
    /// split between them without a word.
    fn relative_to(mut self, dir: &Path) -> Config {
        warn_of_a_database_left_behind(self.db.as_deref(), dir);
        let imap = &mut self.imap;
        let paths = [&mut self.db, &mut self.ip_db, &mut imap.ca_file]
            .into_iter()
            .chain([&mut imap.password_file, &mut imap.oauth_client_secret_file])
            .flatten()
            .chain(self.sender_maps.iter_mut());
        for path in paths {
            if let Some(expanded) = home_expanded(path) {
                *path = expanded;
            } else if taken_from_config_dir(path) {
                *path = dir.join(&*path);
            }
        }
        self
    }
}

/// The config file [`Config::load`] reads: `explicit` if given, else the per-user file if it
/// exists; `None` when there is none.
pub fn file_read(explicit: Option<&Path>) -> Option<PathBuf> {
    match explicit {
        Some(path) => Some(path.to_path_buf()),
        None => default_path().filter(|p| p.exists()),
    }
}

/// `~/.config/duckmarc/config.toml` (or the platform's equivalent).
pub fn default_path() -> Option<PathBuf> {
    dirs::config_dir().map(|d| d.join("duckmarc").join("config.toml"))
}

/// The database file `given` (by --db, DUCKMARC_DB or the config file), else the default. A
/// leading `~` is the home directory, as a shell would have it: systemd's Environment= and
/// the config file expand nothing, and DuckDB alone expanding it put the database and its
/// lock files in two places. An empty path or `:memory:` is refused: DuckDB would keep the
/// reports in memory and lose them at exit, after the inputs were archived.
pub fn database_file(given: Option<PathBuf>) -> Result<PathBuf> {
    let Some(path) = given else {
        return Ok(default_db_path());
    };
    if names_no_file(&path) {
        anyhow::bail!(
            "the database {:?} is no file: reports stored there would be lost at exit \
             (give a path, or leave db out for the default)",
            path.to_string_lossy()
        );
    }
    Ok(home_expanded(&path).unwrap_or(path))
}

/// `~/...` as the home directory's, as a shell would have it (None: no `~`, or no home).
fn home_expanded(path: &Path) -> Option<PathBuf> {
    let rest = path.strip_prefix("~").ok()?;
    Some(dirs::home_dir()?.join(rest))
}

/// A relative path of the config file that its directory completes: not `~/...` (the home
/// directory's) nor a name of no file (`:memory:`, refused by database_file).
fn taken_from_config_dir(path: &Path) -> bool {
    path.is_relative() && !path.starts_with("~") && !names_no_file(path)
}

/// A relative `db` in the config named a file in the working directory before it named one
/// beside the config file: when only the old one exists, its reports would be left behind
/// for a new, empty database without a word.
fn warn_of_a_database_left_behind(db: Option<&Path>, config_dir: &Path) {
    let Some(db) = db.filter(|db| taken_from_config_dir(db)) else {
        return;
    };
    let (old, new) = (Path::new(".").join(db), config_dir.join(db));
    if old.exists() && !new.exists() && old.canonicalize().ok() != new.canonicalize().ok() {
        log::warn!(
            "db = {:?} in the config names {} (beside the config file), which does not exist \
             yet; earlier versions used {} in the working directory: move it there to keep \
             its reports",
            db.display().to_string(),
            new.display(),
            old.display()
        );
    }
}

/// An empty path, or DuckDB's in-memory database.
fn names_no_file(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text.trim().is_empty() || text.starts_with(":memory:")
}

/// `~/.local/share/duckmarc/duckmarc.duckdb` (or the platform's equivalent).
fn default_db_path() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("duckmarc")
        .join("duckmarc.duckdb")
}

/// Sender types whose addresses send for many customers (the sender map's types, and the
/// networks duckmarc names from the IP database).
const SHARED_TYPES: &[&str] = &["email provider", "marketing", "network"];

/// The sender maps the config's `[[authorised]]` entries are judged against (the bundled
/// ones and the config's `sender_maps`); `None` when nothing is listed by name or signer.
pub fn listed_sender_map(config: &Config) -> Result<Option<SenderMap>> {
    let listed = config
        .authorised
        .iter()
        .any(|t| !t.senders.is_empty() || !t.dkim.is_empty());
    Ok(match listed {
        true => Some(SenderMap::load(&config.sender_maps)?),
        false => None,
    })
}

/// One line per `[[authorised]]` sender that is shared infrastructure (an e-mail provider, a
/// marketing platform, a network: listing it authorises only mail that also carries the
/// domain's own identifier, queries/classes.sql), and per provider's own signing domain.
pub fn shared_sender_rules(config: &Config, map: &SenderMap) -> Vec<String> {
    let listed = config.authorised.iter().flat_map(|t| &t.senders);
    let signers = config.authorised.iter().flat_map(|t| &t.dkim);
    // A provider's own signing domain signs every customer's mail, as a listed name does.
    let shared_signers = signers.filter_map(|domain| {
        let provider = map.sender_of_spf_domain(domain)?;
        Some(format!(
            "[[authorised]] dkim: {domain:?} is the signing domain of {:?}: it signs mail \
             of every customer, spoofing yours included; list your own d= instead",
            provider.name
        ))
    });
    listed
        .filter_map(|name| {
            let kind = map
                .kind_of_name(name)
                .map(str::to_string)
                .or_else(|| is_network_name(name).then(|| duckmarc::enrich::NETWORK.to_string()))?;
            SHARED_TYPES
                .contains(&kind.to_ascii_lowercase().as_str())
                .then(|| {
                    format!(
                        "[[authorised]] senders: {name:?} is shared infrastructure ({kind}): \
                         its addresses send for every customer, so it authorises only mail \
                         that also carries your own identifier (DKIM or SPF passing and \
                         aligned with your domain)"
                    )
                })
        })
        .chain(shared_signers)
        .collect()
}

/// One line per `[[authorised]]` sender name that is in none of the sender maps, is no
/// network name and no PTR base domain: likely misspelt (`"SendGrid"` for `"Twilio
/// SendGrid"`), so it would match no source. For `config check`: a map given to a command
/// with `--sender-map` may still name it.
pub fn unknown_sender_names(config: &Config, map: &SenderMap) -> Vec<String> {
    unmapped_sender_names(config, map)
        .into_iter()
        .map(|name| {
            let like = map.names_containing(name, 3);
            format!(
                "[[authorised]] senders: {name:?} is in none of the sender maps (the bundled \
                 ones and the config's sender_maps) and is no network (\"NAME, ASn\") or PTR \
                 domain name, so it matches no source unless a --sender-map names it{}",
                match like.as_slice() {
                    [] => String::new(),
                    like => format!("; did you mean {}?", quoted_list(like)),
                }
            )
        })
        .collect()
}

/// The `[[authorised]]` sender names in none of the sender maps that are no network or PTR
/// domain name either: no source gets such a name from the maps.
pub fn unmapped_sender_names<'c>(config: &'c Config, map: &SenderMap) -> Vec<&'c String> {
    config
        .authorised
        .iter()
        .flat_map(|t| &t.senders)
        .filter(|name| !(map.has_name(name) || is_network_name(name) || looks_like_domain(name)))
        .collect()
}

/// A PTR base domain as a sender name: `example.com`.
fn looks_like_domain(name: &str) -> bool {
    name.contains('.') && !name.contains(char::is_whitespace)
}

fn quoted_list(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A name duckmarc gives a network: "Google LLC, AS396982", or "AS64500" when the IP
/// database has no name for it.
fn is_network_name(name: &str) -> bool {
    let asn = match name.rsplit_once(", AS") {
        Some((_, asn)) => asn,
        None => name.strip_prefix("AS").unwrap_or_default(),
    };
    !asn.is_empty() && asn.bytes().all(|b| b.is_ascii_digit())
}
