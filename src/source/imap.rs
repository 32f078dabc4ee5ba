//! `duckmarc fetch`: reports from an IMAP mailbox, once (cron) or continuously (IDLE).
//!
//! Messages are read with `BODY.PEEK[]` (never marked seen) in batches. Each batch is stored
//! in one transaction together with the folder's checkpoint (UIDVALIDITY and the highest UID
//! stored), and only then are its messages moved: stored ones to `move_to`, ones holding no
//! valid report to `failed_to`. A crash between commit and move leaves the message in place;
//! the next run reads it again, recognises it by its hash as already stored, and moves it,
//! so nothing is lost and nothing is counted twice. Without `move_to` the checkpoint alone
//! keeps a read-only mailbox from being downloaded again.
//!
//! async-imap (maintained by the chatmail/Delta Chat team) with tokio-rustls: pure-Rust TLS,
//! the system's trust store plus an optional private CA, no OpenSSL.

use crate::config::ImapConfig;
use crate::ingest::ReadArgs;
use crate::ingest::{analyze, store_batch, Event, IngestOptions, IngestSummary};
use crate::model::AnalyzedInput;
use crate::store::{Database, DocumentOutcome, Mode};
use anyhow::{anyhow, bail, Context, Result};
use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    /// TLS from the first byte (port 993)
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 143)
    Starttls,
    /// No encryption at all: only for a server on this machine
    None,
}

/// A password: usable, but never printed (`{:?}` shows `<redacted>`), so no debug log,
/// panic message or error chain can leak it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Everything needed to reach and file one mailbox folder.
#[derive(Debug, Clone)]
pub struct ImapOptions {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub ca_file: Option<PathBuf>,
    pub user: String,
    pub password: Secret,
    pub folder: String,
    pub move_to: Option<String>,
    pub failed_to: Option<String>,
    pub batch_size: usize,
    /// How long one IDLE lasts before it is renewed (RFC 2177: under 29 minutes).
    pub idle_timeout: Duration,
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

/// Any byte stream the IMAP client can run over: TCP, or TLS over TCP.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Stream for T {}
type BoxedStream = Box<dyn Stream>;
type ImapSession = Session<BoxedStream>;

/// One pass over the folder: store every new report message, then file it.
pub fn fetch_once(
    imap: &ImapOptions,
    ingest: &IngestOptions,
    on_event: impl FnMut(&Event),
) -> Result<IngestSummary> {
    runtime()?.block_on(async {
        let mut session = connect(imap).await?;
        let summary = fetch_pass(&mut session, imap, ingest, on_event).await?;
        session.logout().await.ok();
        Ok(summary)
    })
}

/// Fetches, then waits with IDLE for new mail and fetches again, until `stop` is set.
/// A dropped connection is re-established with exponential back-off.
pub fn fetch_watch(
    imap: &ImapOptions,
    ingest: &IngestOptions,
    stop: &AtomicBool,
    mut on_event: impl FnMut(&Event),
) -> Result<IngestSummary> {
    runtime()?.block_on(async {
        let mut total = IngestSummary::default();
        let mut backoff = Backoff::default();
        while !stop.load(Ordering::SeqCst) {
            let session = watch_session(imap, ingest, stop, &mut on_event, &mut total);
            match session.await {
                Ok(()) => break,
                Err(SessionError { error, connected }) => {
                    if connected {
                        backoff.reset(); // a good session: the next outage starts afresh
                    }
                    let pause = backoff.next();
                    log::warn!("IMAP connection lost: {error:#}; reconnecting in {pause:?}");
                    sleep_unless_stopped(pause, stop).await;
                }
            }
        }
        Ok(total)
    })
}

/// Pauses between reconnection attempts: 1 s, doubling up to 5 minutes while the server
/// stays away, and back to 1 s once a session got through.
#[derive(Debug)]
struct Backoff {
    pause: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            pause: Backoff::FIRST,
        }
    }
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(300);

    fn next(&mut self) -> Duration {
        let pause = self.pause;
        self.pause = (self.pause * 2).min(Backoff::MAX);
        pause
    }

    fn reset(&mut self) {
        self.pause = Backoff::FIRST;
    }
}

/// Why a watch session ended, and whether it had logged in first.
struct SessionError {
    error: anyhow::Error,
    connected: bool,
}

async fn watch_session(
    imap: &ImapOptions,
    ingest: &IngestOptions,
    stop: &AtomicBool,
    on_event: &mut impl FnMut(&Event),
    total: &mut IngestSummary,
) -> Result<(), SessionError> {
    let session = connect(imap).await.map_err(|error| SessionError {
        error,
        connected: false,
    })?;
    watch_connected(session, imap, ingest, stop, on_event, total)
        .await
        .map_err(|error| SessionError {
            error,
            connected: true,
        })
}

async fn watch_connected(
    mut session: ImapSession,
    imap: &ImapOptions,
    ingest: &IngestOptions,
    stop: &AtomicBool,
    on_event: &mut impl FnMut(&Event),
    total: &mut IngestSummary,
) -> Result<()> {
    loop {
        let summary = fetch_pass(&mut session, imap, ingest, &mut *on_event).await?;
        total.add(&summary);
        if stop.load(Ordering::SeqCst) {
            session.logout().await.ok();
            return Ok(());
        }
        let mut idle = session.idle();
        idle.init().await.context("IDLE failed")?;
        let (wait, interrupt) = idle.wait_with_timeout(imap.idle_timeout);
        let stopped = tokio::select! {
            response = wait => { response.context("IDLE failed")?; false }
            _ = wait_for_stop(stop) => true,
        };
        drop(interrupt);
        session = idle.done().await.context("ending IDLE failed")?;
        if stopped {
            session.logout().await.ok();
            return Ok(());
        }
    }
}

async fn wait_for_stop(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn sleep_unless_stopped(pause: Duration, stop: &AtomicBool) {
    tokio::select! {
        _ = tokio::time::sleep(pause) => {}
        _ = wait_for_stop(stop) => {}
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

async fn connect(imap: &ImapOptions) -> Result<ImapSession> {
    let address = format!("{}:{}", imap.host, imap.port);
    let tcp = TcpStream::connect(&address)
        .await
        .with_context(|| format!("cannot connect to IMAP server {address}"))?;
    let stream: BoxedStream = match imap.tls {
        Tls::Implicit => Box::new(tls_wrap(tcp, imap).await?),
        Tls::None => Box::new(tcp),
        Tls::Starttls => {
            let mut client = Client::new(tcp);
            read_greeting(&mut client).await?;
            client
                .run_command_and_check_ok("STARTTLS", None)
                .await
                .context("the server refused STARTTLS")?;
            Box::new(tls_wrap(client.into_inner(), imap).await?)
        }
    };
    let mut client = Client::new(stream);
    if imap.tls != Tls::Starttls {
        read_greeting(&mut client).await?;
    }
    client
        .login(&imap.user, imap.password.expose())
        .await
        .map_err(|(error, _)| anyhow!("IMAP login as {} at {address} failed: {error}", imap.user))
}

async fn read_greeting<T: AsyncRead + AsyncWrite + Unpin + Send + Debug>(
    client: &mut Client<T>,
) -> Result<()> {
    client
        .read_response()
        .await
        .context("no IMAP greeting")?
        .ok_or_else(|| anyhow!("the server closed the connection before greeting"))?;
    Ok(())
}

async fn tls_wrap(
    tcp: TcpStream,
    imap: &ImapOptions,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        roots.add(cert).ok(); // skip the odd unparsable system certificate
    }
    if let Some(ca_file) = &imap.ca_file {
        let pem = std::fs::read(ca_file)
            .with_context(|| format!("cannot read CA file {}", ca_file.display()))?;
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<_, _>>()
            .with_context(|| format!("invalid PEM in {}", ca_file.display()))?;
        if certs.is_empty() {
            bail!("no certificate in CA file {}", ca_file.display());
        }
        for cert in certs {
            roots.add(cert)?;
        }
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(imap.host.clone())
        .with_context(|| format!("{:?} is not a valid server name", imap.host))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .with_context(|| format!("TLS handshake with {} failed", imap.host))
}

/// Where we are in a folder: its UIDVALIDITY and the highest UID already stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Checkpoint {
    uid_validity: u32,
    last_uid: u32,
}

async fn fetch_pass(
    session: &mut ImapSession,
    imap: &ImapOptions,
    ingest: &IngestOptions,
    mut on_event: impl FnMut(&Event),
) -> Result<IngestSummary> {
    let mailbox = session
        .select(&imap.folder)
        .await
        .with_context(|| format!("cannot open folder {:?}", imap.folder))?;
    let uid_validity = mailbox.uid_validity.unwrap_or(0);
    for folder in [&imap.move_to, &imap.failed_to].into_iter().flatten() {
        ensure_folder(session, folder).await?;
    }
    let account = account_key(imap);
    let (start, settled, rejected) = {
        let db = Database::open(&ingest.db, Mode::ReadWrite)?;
        let checkpoint = load_checkpoint(&db, &account)?;
        let start = match checkpoint {
            Some(c) if c.uid_validity == uid_validity => c.last_uid,
            _ => 0, // new folder, or UIDVALIDITY changed: every UID is new
        };
        let rejected = rejected_uids(&db, imap, uid_validity)?;
        (start, db.settled_input_hashes()?, rejected)
    };
    // When messages are moved away, everything still here is unfinished business (a crash
    // may have come between commit and move); otherwise only UIDs above the checkpoint.
    let query = if imap.move_to.is_some() {
        "ALL".to_string()
    } else {
        format!("UID {}:*", start + 1)
    };
    let mut uids: Vec<u32> = session.uid_search(&query).await?.into_iter().collect();
    // Messages at or below the checkpoint that were rejected stay in the folder when there
    // is no --failed-to; they were read, and are not downloaded again on every pass.
    uids.retain(|uid| *uid > start || (imap.move_to.is_some() && !rejected.contains(uid)));
    uids.sort_unstable();
    log::info!("{} message(s) to read in {}", uids.len(), imap.folder);

    let mut summary = IngestSummary::default();
    for chunk in uids.chunks(imap.batch_size.max(1)) {
        let messages = fetch_bodies(session, chunk).await?;
        let analyzed: Vec<AnalyzedInput> = messages
            .par_iter()
            .map(|(uid, body)| {
                let origin = message_origin(imap, uid_validity, *uid);
                analyze(origin, body, &ingest.read, &settled)
            })
            .collect();
        let origins: BTreeMap<String, u32> = analyzed
            .iter()
            .zip(messages.iter())
            .map(|(a, (uid, _))| (a.origin.clone(), *uid))
            .collect();
        let mut failed: HashSet<u32> = HashSet::new();
        summary.inputs += analyzed.len() as u64;
        let checkpoint = Checkpoint {
            uid_validity,
            last_uid: chunk.iter().copied().max().unwrap_or(start).max(start),
        };
        store_batch(
            analyzed,
            ingest,
            &mut summary,
            &mut |event: &Event| {
                if matches!(event.outcome, DocumentOutcome::Rejected(_)) {
                    failed.extend(origins.get(&event.origin));
                }
                on_event(event);
            },
            |conn| save_checkpoint(conn, &account, checkpoint),
        )?;
        file_messages(session, imap, chunk, &failed).await?;
    }
    Ok(summary)
}

async fn fetch_bodies(session: &mut ImapSession, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>> {
    let set = uids
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let fetches: Vec<_> = session
        .uid_fetch(&set, "(UID BODY.PEEK[])")
        .await?
        .try_collect()
        .await?;
    Ok(fetches
        .iter()
        .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
        .collect())
}

/// Moves stored messages to `move_to` and failed ones to `failed_to`, after commit.
async fn file_messages(
    session: &mut ImapSession,
    imap: &ImapOptions,
    uids: &[u32],
    failed: &HashSet<u32>,
) -> Result<()> {
    let (bad, good): (Vec<u32>, Vec<u32>) = uids.iter().partition(|u| failed.contains(u));
    for (targets, folder) in [(good, &imap.move_to), (bad, &imap.failed_to)] {
        if let (false, Some(folder)) = (targets.is_empty(), folder) {
            let set = targets
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            session
                .uid_mv(&set, folder)
                .await
                .with_context(|| format!("cannot move messages to {folder:?}"))?;
        }
    }
    Ok(())
}

async fn ensure_folder(session: &mut ImapSession, folder: &str) -> Result<()> {
    let exists = {
        let names: Vec<_> = session
            .list(Some(""), Some(folder))
            .await?
            .try_collect()
            .await?;
        !names.is_empty()
    };
    if !exists {
        session
            .create(folder)
            .await
            .with_context(|| format!("cannot create folder {folder:?}"))?;
        log::info!("created IMAP folder {folder}");
    }
    Ok(())
}

/// Identifies a folder of an account in the checkpoint table.
fn account_key(imap: &ImapOptions) -> String {
    format!(
        "imap://{}@{}:{}/{}",
        imap.user, imap.host, imap.port, imap.folder
    )
}

/// RFC 5092-style URL of one message, recorded in the ingest ledger.
fn message_origin(imap: &ImapOptions, uid_validity: u32, uid: u32) -> String {
    format!("{}{uid}", message_origin_prefix(imap, uid_validity))
}

/// What the URLs of all messages of the folder (at one UIDVALIDITY) start with.
fn message_origin_prefix(imap: &ImapOptions, uid_validity: u32) -> String {
    format!("{};UIDVALIDITY={uid_validity}/;UID=", account_key(imap))
}

/// UIDs of this folder (at this UIDVALIDITY) whose messages were rejected before.
fn rejected_uids(db: &Database, imap: &ImapOptions, uid_validity: u32) -> Result<HashSet<u32>> {
    let prefix = &message_origin_prefix(imap, uid_validity);
    let mut stmt = db.conn.prepare(
        "SELECT DISTINCT origin FROM ingest_ledger WHERE outcome = 'rejected' AND starts_with(origin, ?)",
    )?;
    let origins = stmt.query_map([prefix], |row| row.get::<_, String>(0))?;
    let mut uids = HashSet::new();
    for origin in origins {
        uids.extend(
            origin?
                .strip_prefix(prefix)
                .and_then(|uid| uid.parse::<u32>().ok()),
        );
    }
    Ok(uids)
}

fn load_checkpoint(db: &Database, account: &str) -> Result<Option<Checkpoint>> {
    let mut stmt = db
        .conn
        .prepare("SELECT uid_validity, last_uid FROM imap_checkpoints WHERE account = ?")?;
    let mut rows = stmt.query([account])?;
    Ok(match rows.next()? {
        Some(row) => Some(Checkpoint {
            uid_validity: row.get::<_, i64>(0)? as u32,
            last_uid: row.get::<_, i64>(1)? as u32,
        }),
        None => None,
    })
}

fn save_checkpoint(conn: &duckdb::Connection, account: &str, at: Checkpoint) -> Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO imap_checkpoints (account, uid_validity, last_uid) VALUES (?, ?, ?)",
        duckdb::params![account, i64::from(at.uid_validity), i64::from(at.last_uid)],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let args = FetchArgs {
            host: Some("imap.example.net".into()),
            port: None,
            tls: None,
            ca_file: None,
            user: Some("dmarc".into()),
            password_file: None,
            folder: None,
            move_to: None,
            failed_to: None,
            watch: false,
            batch_size: 100,
            read: ReadArgs {
                max_document_bytes: None,
                keep_xml: false,
            },
        };
        std::env::set_var("DUCKMARC_IMAP_PASSWORD", "hunter2-secret");
        let options = args.resolve(&ImapConfig::default()).unwrap();
        assert_eq!(options.password.expose(), "hunter2-secret");
        let shown = format!("{options:?} {options:#?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }

    #[test]
    fn backoff_doubles_while_down_and_resets_after_a_good_session() {
        let mut backoff = Backoff::default();
        let pauses: Vec<u64> = (0..10).map(|_| backoff.next().as_secs()).collect();
        assert_eq!(pauses, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_secs(1));
    }
}
