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

mod connect;
mod mailbox;

use super::oauth::{Mechanism, Tokens};
use super::{Batch, Input, InputData, Pull, Source};
use crate::store::{load_imap_state, Checkpoint, DbOptions, Event};
use anyhow::{Context, Result};
use connect::{connect, ImapSession};
pub use mailbox::mailbox_name;
use mailbox::{
    ensure_folder, fetch_bodies, file_messages, not_received, open_folder, still_there_unsent,
    Filing, Folder,
};
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
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
    pub auth: Auth,
    /// As the user writes it (UTF-8); sent in modified UTF-7 (`mailbox_name`).
    pub folder: String,
    pub move_to: Option<String>,
    pub failed_to: Option<String>,
    pub batch_size: usize,
    /// How long one IDLE lasts before it is renewed (RFC 2177: under 29 minutes).
    pub idle_timeout: Duration,
}

/// How to log in.
#[derive(Debug, Clone)]
pub enum Auth {
    Password(Secret),
    /// An OAuth2 access token over SASL XOAUTH2 or OAUTHBEARER; the tokens are kept across
    /// reconnections.
    Token {
        mechanism: Mechanism,
        tokens: Tokens,
    },
}

/// A mailbox folder, as a source: batches of messages, then (with `stop`, for `--watch`)
/// IDLE until new mail arrives, until `stop` is set.
pub struct Imap<'a> {
    options: ImapOptions,
    db: DbOptions,
    /// Watching: stay connected until this is set; reconnect after any failure.
    stop: Option<&'a AtomicBool>,
    runtime: tokio::runtime::Runtime,
    session: Option<ImapSession>,
    /// Whether the folder must be searched (again) before the queue means anything.
    need_pass: bool,
    /// UIDs of this pass still to fetch, ascending.
    queue: VecDeque<u32>,
    uid_validity: u32,
    /// The highest UID of this pass below which every message was received: the checkpoint
    /// never passes a message the server still has but did not send.
    received_up_to: u32,
    /// The lowest UID of this pass the server did not send while it still has it.
    first_unsent: Option<u32>,
    /// A message the connection ended at, asked for again alone on a new connection.
    retry_alone: Option<u32>,
    /// A message the connection ended at twice, the second time asked for alone: passed over
    /// as unreadable once a later message comes through (else the server may be unable to
    /// send any message at all, and passing them over would lose them all).
    suspect: Option<u32>,
    /// Why the connection ended for good during the last FETCH: said once what it sent is
    /// handed on.
    ended: Option<anyhow::Error>,
    /// UIDs of messages handed to the pipeline and not yet committed, by origin.
    in_flight: HashMap<String, u32>,
    backoff: Backoff,
}

impl<'a> Imap<'a> {
    /// `stop`: `None` for one pass (cron), `Some` to keep watching (`--watch`).
    pub fn new(options: ImapOptions, db: DbOptions, stop: Option<&'a AtomicBool>) -> Result<Self> {
        Ok(Imap {
            options,
            db,
            stop,
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?,
            session: None,
            need_pass: true,
            queue: VecDeque::new(),
            uid_validity: 0,
            received_up_to: 0,
            first_unsent: None,
            retry_alone: None,
            suspect: None,
            ended: None,
            in_flight: HashMap::new(),
            backoff: Backoff::default(),
        })
    }

    fn stopped(&self) -> bool {
        self.stop.is_some_and(|stop| stop.load(Ordering::SeqCst))
    }

    /// Connects if needed, opens the folder and lists the messages to read.
    fn start_pass(&mut self) -> Result<()> {
        let session = match self.session.take() {
            Some(session) => session,
            None => self.runtime.block_on(connect(&mut self.options))?,
        };
        let session = self.session.insert(session);
        let imap = &self.options;
        let (uid_validity, uids) = self.runtime.block_on(async {
            let uid_validity = open_folder(session, &imap.folder).await?;
            for folder in [&imap.move_to, &imap.failed_to].into_iter().flatten() {
                ensure_folder(session, folder).await?;
            }
            let uids: Vec<u32> = session.uid_search("ALL").await?.into_iter().collect();
            anyhow::Ok((uid_validity, uids))
        })?;
        let prefix = message_origin_prefix(imap, uid_validity);
        let state = load_imap_state(&self.db, &account_key(imap), uid_validity, &prefix)?;
        // When messages are moved away, everything still here is unfinished business (a
        // crash may have come between commit and move). Otherwise only UIDs above the
        // checkpoint are new. Messages rejected before are not downloaded on every pass
        // either way: they stay when there is no --failed-to, and the checkpoint can be held
        // below one by a message the server did not send.
        let mut uids: Vec<u32> = uids
            .into_iter()
            .filter(|uid| {
                !state.rejected.contains(uid) && (*uid > state.last_uid || imap.move_to.is_some())
            })
            .collect();
        uids.sort_unstable();
        log::info!("{} message(s) to read in {}", uids.len(), imap.folder);
        self.uid_validity = uid_validity;
        self.received_up_to = state.last_uid;
        self.first_unsent = None;
        (self.retry_alone, self.suspect) = (None, None);
        self.queue = uids.into();
        self.need_pass = false;
        self.backoff.reset(); // a good session: the next outage starts afresh
        Ok(())
    }

    /// The next chunk of messages, fetched.
    fn next_batch(&mut self) -> Result<Batch> {
        let take = match self.queue.front() {
            Some(&uid) if self.retry_alone == Some(uid) => 1,
            _ => self.options.batch_size.max(1).min(self.queue.len()),
        };
        let chunk: Vec<u32> = self.queue.drain(..take).collect();
        let session = self.session.as_mut().context("not connected")?;
        let messages = self.runtime.block_on(fetch_bodies(session, &chunk))?;
        let (unsent, cut_at) = match self
            .runtime
            .block_on(still_there_unsent(session, &chunk, &messages))
        {
            Ok(unsent) => (unsent, None),
            Err(error) => (
                Vec::new(),
                self.connection_ended(error, &chunk, not_received(&chunk, &messages)),
            ),
        };
        if cut_at.is_none() {
            self.retry_alone = None;
        }
        // A message came through after the suspect: the server can send mail, not that one.
        let unreadable = match messages.is_empty() {
            false => self.suspect.take(),
            true => None,
        };
        if !unsent.is_empty() {
            log::warn!(
                "the IMAP server did not send {} message(s) of {} it still has (UID {}): read \
                 again by the next run",
                unsent.len(),
                self.options.folder,
                unsent
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if let Some(&first) = unsent.first() {
            self.first_unsent = Some(self.first_unsent.map_or(first, |known| known.min(first)));
        }
        // The checkpoint passes no message the server did not send, none asked for again on a
        // new connection, and no suspect not yet passed over.
        let bound = [self.first_unsent, cut_at, self.suspect]
            .into_iter()
            .flatten()
            .min();
        let below = |uid: &&u32| bound.is_none_or(|bound| **uid < bound);
        if let Some(&received) = chunk.iter().filter(below).max() {
            self.received_up_to = self.received_up_to.max(received);
        }
        let unreadable = unreadable.map(|uid| (uid, InputData::Unreadable(unreadable_reason())));
        let inputs = messages
            .into_iter()
            .map(|(uid, body)| (uid, InputData::Bytes(body)))
            .chain(unreadable)
            .map(|(uid, data)| {
                let origin = message_origin(&self.options, self.uid_validity, uid);
                self.in_flight.insert(origin.clone(), uid);
                Input { origin, data }
            })
            .collect();
        Ok(Batch {
            inputs,
            checkpoint: Some(Checkpoint {
                account: account_key(&self.options),
                uid_validity: self.uid_validity,
                last_uid: self.received_up_to,
            }),
        })
    }

    /// The connection ended between two messages of a FETCH, as Dovecot ends it, every time,
    /// at a message it cannot read. The messages not received go back to the front of the
    /// queue, to be asked for on a new connection, the first of them alone. If the connection
    /// ends at that one alone again, it becomes the suspect, passed over as unreadable
    /// (rejected, named in the ledger) once a later message comes through, so that it no
    /// longer holds back every message after it, run after run. A second suspect before
    /// that ends the run: the server may be unable to send any message. Returns the first
    /// UID not received.
    fn connection_ended(
        &mut self,
        error: anyhow::Error,
        chunk: &[u32],
        not_received: Vec<u32>,
    ) -> Option<u32> {
        self.session = None;
        let first = *not_received.first()?;
        let folder = &self.options.folder;
        let at =
            format!("the connection ended before message UID {first} of {folder} was received");
        let read_later = "the messages from it on are read by the next run";
        let twice = self.retry_alone == Some(first) && chunk == [first];
        if let (true, Some(suspect)) = (twice, self.suspect) {
            self.ended = Some(error.context(format!(
                "{at}, asked for alone, as before message UID {suspect}, and no message came \
                 through between: the server may be unable to send any; {read_later}"
            )));
            return Some(first);
        }
        if twice {
            log::warn!(
                "{at}, asked for alone: passed over as unreadable once a later message comes \
                 through"
            );
            self.suspect = Some(first);
        } else {
            log::warn!("{at} ({error:#}): asking for it alone on a new connection");
            self.retry_alone = Some(first);
            for &uid in not_received.iter().rev() {
                self.queue.push_front(uid);
            }
        }
        if let Err(error) = self.reconnect() {
            self.ended = Some(error.context(format!("{at}: {read_later}")));
        }
        Some(first)
    }

    /// A new connection after one ended mid-FETCH, on the same folder, its UIDs meaning the
    /// same (UIDVALIDITY): else the messages in flight could not be filed by their UIDs.
    fn reconnect(&mut self) -> Result<()> {
        let imap = &mut self.options;
        let (session, uid_validity) = self.runtime.block_on(async {
            let mut session = connect(imap).await?;
            let uid_validity = open_folder(&mut session, &imap.folder).await?;
            anyhow::Ok((session, uid_validity))
        })?;
        if uid_validity != self.uid_validity {
            anyhow::bail!("the folder was recreated meanwhile (its UIDVALIDITY changed)");
        }
        self.session = Some(session);
        Ok(())
    }

    /// Finished leaves the session open: the last batches are still to be committed and
    /// their messages filed. It logs out when dropped.
    fn try_pull(&mut self) -> Result<Pull> {
        if let Some(ended) = self.ended.take() {
            self.session = None;
            return Err(ended);
        }
        if self.stopped() {
            return Ok(Pull::Finished);
        }
        if self.queue.is_empty() && self.need_pass {
            self.start_pass()?;
        }
        if self.queue.is_empty() {
            if let Some(suspect) = self.suspect.take() {
                log::warn!(
                    "message UID {suspect} of {}: the connection ended at it twice, and no \
                     message after it came through to show that it is the message and not \
                     the server: asked for again by the next pass",
                    self.options.folder
                );
            }
            if self.stop.is_none() {
                return Ok(Pull::Finished);
            }
            return Ok(Pull::Drained);
        }
        Ok(Pull::Batch(self.next_batch()?))
    }

    /// Waits for new mail with IDLE, or until a stop is requested.
    fn idle(&mut self) -> Result<()> {
        let (Some(stop), Some(session)) = (self.stop, self.session.take()) else {
            return Ok(());
        };
        // With an OAuth2 token of known lifetime, IDLE ends in time to log in again with a
        // fresh one: servers such as Microsoft 365 end a session when its token expires.
        let renew_at = match &self.options.auth {
            Auth::Token { tokens, .. } => tokens.renew_at(),
            Auth::Password(_) => None,
        };
        let timeout = renew_at.map_or(self.options.idle_timeout, |at| {
            self.options
                .idle_timeout
                .min(at.saturating_duration_since(Instant::now()))
        });
        let mut session = self.runtime.block_on(async {
            let mut idle = session.idle();
            idle.init().await.context("IDLE failed")?;
            let (wait, interrupt) = idle.wait_with_timeout(timeout);
            tokio::select! {
                response = wait => { response.context("IDLE failed")?; }
                _ = wait_for_stop(stop) => {}
            };
            drop(interrupt);
            idle.done().await.context("ending IDLE failed")
        })?;
        self.need_pass = true;
        if renew_at.is_some_and(|at| at <= Instant::now()) {
            log::info!("renewing the IMAP session before its access token expires");
            self.runtime.block_on(session.logout()).ok();
        } else {
            self.session = Some(session);
        }
        Ok(())
    }

    /// Watching, a failure costs the connection, a pause and a fresh pass; once, it ends
    /// the run.
    fn recover(&mut self, error: anyhow::Error) -> Result<()> {
        let Some(stop) = self.stop else {
            return Err(error);
        };
        self.session = None;
        self.queue.clear();
        self.need_pass = true;
        let pause = self.backoff.next();
        log::warn!("IMAP connection lost: {error:#}; reconnecting in {pause:?}");
        self.runtime.block_on(sleep_unless_stopped(pause, stop));
        Ok(())
    }
}

impl Drop for Imap<'_> {
    fn drop(&mut self) {
        if let Some(mut session) = self.session.take() {
            self.runtime.block_on(session.logout()).ok();
        }
    }
}

impl Source for Imap<'_> {
    fn pull(&mut self) -> Result<Pull> {
        match self.try_pull() {
            Ok(pull) => Ok(pull),
            Err(error) => self.recover(error).map(|()| Pull::Drained),
        }
    }

    fn wait(&mut self) -> Result<()> {
        let idled = self.idle();
        idled.or_else(|error| self.recover(error))
    }

    /// Files each message after commit by what its documents came to (`Filing`).
    fn committed(&mut self, events: &[Event]) -> Result<()> {
        let mut filings: HashMap<u32, Filing> = HashMap::new();
        for event in events {
            if let Some(&uid) = self.in_flight.get(&event.origin) {
                filings.entry(uid).or_default().add(&event.outcome);
            }
        }
        for event in events {
            self.in_flight.remove(&event.origin);
        }
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for (uid, filing) in filings {
            match filing.folder() {
                Some(Folder::Stored) => good.push(uid),
                Some(Folder::Failed) => bad.push(uid),
                None => {}
            }
        }
        let Some(session) = self.session.as_mut() else {
            return Ok(()); // reconnecting: still in the folder, filed on the next pass
        };
        let filed = self
            .runtime
            .block_on(file_messages(session, &self.options, good, bad));
        filed.or_else(|error| self.recover(error))
    }
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

/// Why a message the server would not send is passed over.
fn unreadable_reason() -> String {
    "the IMAP server ended the connection at this message twice, the second time asked for \
     it alone, while a message after it came through: it cannot send this one (a damaged \
     message file?). Passed over, so that the messages after it are read; open it in a mail \
     client"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let options = ImapOptions {
            host: "imap.example.net".into(),
            port: 993,
            tls: Tls::Implicit,
            ca_file: None,
            user: "dmarc".into(),
            auth: Auth::Password(Secret::new("hunter2-secret")),
            folder: "INBOX".into(),
            move_to: None,
            failed_to: None,
            batch_size: 100,
            idle_timeout: Duration::from_secs(60),
        };
        let Auth::Password(password) = &options.auth else {
            unreachable!()
        };
        assert_eq!(password.expose(), "hunter2-secret");
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
