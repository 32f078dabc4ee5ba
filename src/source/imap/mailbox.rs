//! What is done to a folder's messages: fetching their bodies, finding the ones the server
//! did not send, and filing them by what their reports came to.

use super::connect::ImapSession;
use super::ImapOptions;
use crate::model::Reason;
use crate::store::DocumentOutcome;
use anyhow::{Context, Result};
use futures_util::TryStreamExt;
use std::collections::HashSet;

/// What a message's documents came to, for where it is filed.
#[derive(Default)]
pub(super) struct Filing {
    /// A report stored or known already (a skipped bounce counts too: it is dealt with).
    dealt_with: bool,
    rejected: bool,
    /// A report refused by `--require-authentic`: it must stay where a run without the flag,
    /// or one once DNS answers again, reads it.
    refused_unauthenticated: bool,
}

pub(super) enum Folder {
    Stored,
    Failed,
}

impl Filing {
    pub(super) fn add(&mut self, outcome: &DocumentOutcome) {
        match outcome {
            DocumentOutcome::Rejected(_) => self.rejected = true,
            DocumentOutcome::Skipped(Reason::Unauthenticated(_)) => {
                self.refused_unauthenticated = true
            }
            _ => self.dealt_with = true,
        }
    }

    /// `--move-to` once a report in it is stored (a broken one beside it too: only messages
    /// with no valid report go to `--failed-to`), `--failed-to` when none was, and neither
    /// while a report in it waits for a run that may store it.
    pub(super) fn folder(&self) -> Option<Folder> {
        if self.refused_unauthenticated {
            None
        } else if self.dealt_with || !self.rejected {
            Some(Folder::Stored)
        } else {
            Some(Folder::Failed)
        }
    }
}

/// A folder name as IMAP wants it (RFC 3501 5.1.3, "modified UTF-7"): printable ASCII as it
/// is, `&` as `&-`, and every run of other characters as `&`, their UTF-16 in base64 with
/// `,` for `/`, `-`. So "Rapports reçus" is "Rapports re&AOc-us".
pub fn mailbox_name(name: &str) -> String {
    use base64::Engine;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::IMAP_MUTF7,
        base64::engine::general_purpose::NO_PAD,
    );
    let mut out = String::with_capacity(name.len());
    let mut pending: Vec<u16> = Vec::new();
    let flush = |pending: &mut Vec<u16>, out: &mut String| {
        if !pending.is_empty() {
            let bytes: Vec<u8> = pending.iter().flat_map(|u| u.to_be_bytes()).collect();
            out.push('&');
            out.push_str(&engine.encode(bytes));
            out.push('-');
            pending.clear();
        }
    };
    for c in name.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut pending, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut units = [0; 2];
            pending.extend_from_slice(c.encode_utf16(&mut units));
        }
    }
    flush(&mut pending, &mut out);
    out
}

pub(super) async fn fetch_bodies(
    session: &mut ImapSession,
    uids: &[u32],
) -> Result<Vec<(u32, Vec<u8>)>> {
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

/// The UIDs of `asked` that the server did not send in `received` but still has, ascending.
/// A FETCH's responses end without an error when the connection closes between two of them
/// (async-imap's stream just ends), or when the server answers NO for a message it cannot
/// read: the folder is asked again, which fails if the connection is gone. A message
/// expunged meanwhile is rightly missing.
pub(super) async fn still_there_unsent(
    session: &mut ImapSession,
    asked: &[u32],
    received: &[(u32, Vec<u8>)],
) -> Result<Vec<u32>> {
    let missing: Vec<String> = not_received(asked, received)
        .iter()
        .map(u32::to_string)
        .collect();
    if missing.is_empty() {
        return Ok(Vec::new());
    }
    let still_there = session
        .uid_search(format!("UID {}", missing.join(",")))
        .await?;
    let mut unsent: Vec<u32> = still_there.into_iter().collect();
    unsent.sort_unstable();
    Ok(unsent)
}

/// The UIDs of `asked` not in `received`, ascending (`asked` is).
pub(super) fn not_received(asked: &[u32], received: &[(u32, Vec<u8>)]) -> Vec<u32> {
    let received: HashSet<u32> = received.iter().map(|(uid, _)| *uid).collect();
    asked
        .iter()
        .copied()
        .filter(|uid| !received.contains(uid))
        .collect()
}

/// Moves stored messages to `move_to` and failed ones to `failed_to`.
pub(super) async fn file_messages(
    session: &mut ImapSession,
    imap: &ImapOptions,
    good: Vec<u32>,
    bad: Vec<u32>,
) -> Result<()> {
    for (targets, folder) in [(good, &imap.move_to), (bad, &imap.failed_to)] {
        if let (false, Some(folder)) = (targets.is_empty(), folder) {
            let set = targets
                .iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(",");
            session
                .uid_mv(&set, mailbox_name(folder))
                .await
                .with_context(|| format!("cannot move messages to {folder:?}"))?;
        }
    }
    Ok(())
}

/// Selects `folder`, returning its UIDVALIDITY.
pub(super) async fn open_folder(session: &mut ImapSession, folder: &str) -> Result<u32> {
    let mailbox = session
        .select(mailbox_name(folder))
        .await
        .with_context(|| format!("cannot open folder {folder:?}"))?;
    Ok(mailbox.uid_validity.unwrap_or(0))
}

pub(super) async fn ensure_folder(session: &mut ImapSession, folder: &str) -> Result<()> {
    let name = mailbox_name(folder);
    let exists = {
        let names: Vec<_> = session
            .list(Some(""), Some(&name))
            .await?
            .try_collect()
            .await?;
        !names.is_empty()
    };
    if !exists {
        session
            .create(&name)
            .await
            .with_context(|| format!("cannot create folder {folder:?}"))?;
        log::info!("created IMAP folder {folder}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_in_modified_utf7() {
        // RFC 3501 5.1.3's own example, and what Gmail and Thunderbird show.
        assert_eq!(
            mailbox_name("~peter/mail/台北/日本語"),
            "~peter/mail/&U,BTFw-/&ZeVnLIqe-"
        );
        assert_eq!(mailbox_name("[Gmail]/All Mail"), "[Gmail]/All Mail");
        assert_eq!(mailbox_name("Rapports reçus"), "Rapports re&AOc-us");
        assert_eq!(mailbox_name("R&D"), "R&-D");
        assert_eq!(mailbox_name("😀"), "&2D3eAA-");
    }
}
