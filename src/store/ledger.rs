//! The ingest ledger's row of each input: every input ever seen and what became of it
//! (stored, duplicate, skipped, rejected), tallied over its documents as they are appended.

use super::write::DocumentOutcome;
use crate::model::{DocumentKind, Reason};
use std::collections::HashMap;

/// The ledger tallies of inputs whose last part is still to come. The writer must not commit
/// while there are any: an input's documents and its ledger row are stored together.
#[derive(Default)]
pub struct OpenInputs(HashMap<(String, [u8; 32]), LedgerTally>);

impl OpenInputs {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tally of an input whose earlier parts were appended (a fresh one if none were).
    pub(super) fn take(&mut self, origin: &str, hash: &blake3::Hash) -> LedgerTally {
        self.0.remove(&open_key(origin, hash)).unwrap_or_default()
    }

    /// Keeps the tally of an input whose last part is still to come.
    pub(super) fn keep(&mut self, origin: &str, hash: &blake3::Hash, tally: LedgerTally) {
        self.0.insert(open_key(origin, hash), tally);
    }
}

/// A rejected document as the ledger and `watch`'s rejected folder give it: `location:
/// reason`, or the reason alone for the input itself.
pub fn rejection_line(location: &str, reason: &dyn std::fmt::Display) -> String {
    if location.is_empty() {
        reason.to_string()
    } else {
        format!("{location}: {reason}")
    }
}

/// An input's place in [`OpenInputs`].
fn open_key(origin: &str, hash: &blake3::Hash) -> (String, [u8; 32]) {
    (origin.to_string(), *hash.as_bytes())
}

/// The ledger row of one input.
#[derive(Default)]
pub(super) struct LedgerTally {
    pub(super) new: i32,
    pub(super) duplicates: i32,
    /// The kind of the first document stored or found duplicate.
    stored_kind: Option<DocumentKind>,
    skipped: Option<(DocumentKind, Reason)>,
    /// The first report `--require-authentic` refused.
    refused: Option<(DocumentKind, Reason)>,
    /// The first rejected document's kind and reason, and the first rejections as
    /// `location: reason` (an e-mail of 800,000 broken parts made a reason of 30 MB); the
    /// others counted.
    first_rejected: Option<(DocumentKind, Reason)>,
    rejected: Vec<String>,
    more_rejected: usize,
    /// Copies of stored reports whose counts differ, as `location: difference`.
    resent: Vec<String>,
}

/// The ledger's own columns of one input.
pub(super) struct LedgerRow {
    pub outcome: &'static str,
    pub kind: DocumentKind,
    pub code: Option<&'static str>,
    pub reason: Option<String>,
}

impl LedgerTally {
    pub(super) fn count(&mut self, kind: DocumentKind, location: &str, outcome: &DocumentOutcome) {
        match outcome {
            DocumentOutcome::Stored { .. } => self.new += 1,
            DocumentOutcome::Duplicate { differs } => {
                self.duplicates += 1;
                self.resent
                    .extend(differs.iter().map(|d| rejection_line(location, d)));
            }
            DocumentOutcome::AlreadySeen => {}
            DocumentOutcome::Skipped(reason @ Reason::Unauthenticated(_)) => {
                self.refused.get_or_insert_with(|| (kind, reason.clone()));
            }
            DocumentOutcome::Skipped(reason) => {
                self.skipped.get_or_insert_with(|| (kind, reason.clone()));
            }
            DocumentOutcome::Rejected(reason) => {
                self.first_rejected
                    .get_or_insert_with(|| (kind, reason.clone()));
                if self.rejected.len() < crate::parse::bounds::MAX_LIST_ITEMS {
                    self.rejected.push(rejection_line(location, reason));
                } else {
                    self.more_rejected += 1;
                }
            }
        }
        if matches!(
            outcome,
            DocumentOutcome::Stored { .. } | DocumentOutcome::Duplicate { .. }
        ) {
            self.stored_kind.get_or_insert(kind);
        }
    }

    /// A report refused by `--require-authentic` wins, then a rejection: an input with either
    /// must be read again (by a run without the flag; by a newer duckmarc) even when its other
    /// documents were stored, and an IMAP pass leaves out messages rejected before.
    pub(super) fn row(&self) -> LedgerRow {
        let refused = |outcome, (kind, reason): &(DocumentKind, Reason), text: String| LedgerRow {
            outcome,
            kind: *kind,
            code: Some(reason.code()),
            reason: Some(text),
        };
        // A resent copy with other counts is stored (or a duplicate) all the same, and says so.
        let resent = !self.resent.is_empty();
        let stored = |outcome| LedgerRow {
            outcome,
            kind: self.stored_kind.unwrap_or(DocumentKind::Aggregate),
            code: resent.then_some("resent_differs"),
            reason: resent.then(|| self.resent.join("; ")),
        };
        let more = (self.more_rejected > 0).then(|| format!("and {} more", self.more_rejected));
        let rejections = self.rejected.iter().cloned().chain(more);
        if let Some(unauthenticated) = &self.refused {
            let text = std::iter::once(unauthenticated.1.to_string())
                .chain(rejections)
                .collect::<Vec<_>>()
                .join("; ");
            return refused("skipped", unauthenticated, text);
        }
        match (&self.first_rejected, &self.skipped) {
            (Some(rejected), _) => refused(
                "rejected",
                rejected,
                rejections.collect::<Vec<_>>().join("; "),
            ),
            _ if self.new > 0 => stored("stored"),
            _ if self.duplicates > 0 => stored("duplicate"),
            (None, Some(skipped)) => refused("skipped", skipped, skipped.1.to_string()),
            (None, None) => LedgerRow {
                outcome: "skipped",
                kind: DocumentKind::Unknown,
                code: None,
                reason: None,
            },
        }
    }
}
