//! One input, read, checked for authenticity, unpacked and parsed into documents ready to
//! store; inputs holding large documents take turns.

use super::{ReadOptions, MAX_PART_ROW_BYTES};
use crate::authenticity::{self, Authenticity, Seal, Verifier};
use crate::memory;
use crate::model::{Document, Parsed, Reason};
use crate::parse;
use crate::source::{Input, InputData};
use crate::store::{self, InputHashes, PreparedInput, ReportColumns};
use crate::unpack::{unpack, Content};
use std::cell::RefCell;
use std::sync::mpsc::{self, Receiver};
use std::sync::{Condvar, Mutex};

/// Reads, unpacks and parses one input, with its turn if it holds large documents. Inputs
/// settled by an earlier run are not parsed. An input whose documents' rows grow past
/// [`MAX_PART_ROW_BYTES`] (a zip of many large reports) goes to `hand_over` in parts as it is
/// parsed, each with a signal dropped once it is stored, and the next part waits for it: the
/// input holds one part stored, one being filled and one document. The last part is returned.
pub(super) fn prepare_input(
    input: Input,
    read: &ReadOptions,
    verifier: Option<&Verifier>,
    settled: &InputHashes,
    hand_over: &mut dyn FnMut(PreparedInput, mpsc::Sender<()>),
) -> (PreparedInput, Option<Turn>) {
    let Input { origin, data } = input;
    let bytes = match data {
        InputData::File(path) => read_at_most(&path, read.limits.max_total_bytes),
        InputData::Bytes(bytes) => Ok(bytes),
        InputData::Unreadable(reason) => Err(reason),
    };
    match bytes {
        Ok(bytes) => {
            let hash = blake3::hash(&bytes);
            if settled.contains(&hash) {
                return (PreparedInput::already_settled(origin, hash), None);
            }
            // What the e-mail message a document came in shows (each of an mbox's has its own).
            let sealed = RefCell::new(Seal::of(Authenticity::Unverified));
            let mut check_message = |message: &[u8]| {
                *sealed.borrow_mut() = authenticity::of_message(message, verifier);
            };
            // Each document is parsed and turned into rows before the next is unpacked, so an
            // input holds one decompressed document and its rows at a time.
            let mut part = Vec::new();
            let (mut part_bytes, mut before) = (0, 0);
            let mut previous_stored: Option<Receiver<()>> = None;
            let turn = each_document_and_message(
                &bytes,
                read,
                &mut check_message,
                &mut |document, in_message| {
                    let seal = match in_message {
                        true => sealed.borrow().clone(),
                        false => Seal::of(Authenticity::File),
                    };
                    let prepared = prepare_document(document, &seal, read);
                    part_bytes += prepared.row_bytes();
                    part.push(prepared);
                    if part_bytes > MAX_PART_ROW_BYTES {
                        if let Some(stored) = previous_stored.take() {
                            // Disconnected once the writer dropped the signal: stored, or failed.
                            let _ = stored.recv();
                        }
                        let (signal, stored) = mpsc::channel();
                        let full = std::mem::take(&mut part);
                        let documents = full.len();
                        log::debug!("{origin}: {documents} documents go ahead of the rest");
                        let full = PreparedInput::part(origin.clone(), hash, full, before, false);
                        hand_over(full, signal);
                        previous_stored = Some(stored);
                        (part_bytes, before) = (0, before + documents);
                    }
                },
            );
            (PreparedInput::part(origin, hash, part, before, true), turn)
        }
        Err(reason) => (PreparedInput::unreadable(origin, reason), None),
    }
}

/// Documents at least this large (decompressed) are large: an input holding one is parsed
/// only in its turn (see [`LargeInputTurn`]).
const LARGE_DOCUMENT_BYTES: usize = 16 * 1024 * 1024;

/// One input holding large documents at a time, from the parsing of its first until its rows
/// are stored: a 100 MiB document takes about 100 MB more as rows, and fourteen of them in a
/// batch, parsed one by one but queued for the writer, took 1.4 GB.
struct LargeInputTurn {
    taken: Mutex<bool>,
    given_back: Condvar,
}

static LARGE_INPUTS: LargeInputTurn = LargeInputTurn {
    taken: Mutex::new(false),
    given_back: Condvar::new(),
};

impl LargeInputTurn {
    fn wait(&'static self) -> Turn {
        // A panic elsewhere while it was locked leaves a plain flag: nothing to repair.
        let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
        while *taken {
            taken = self
                .given_back
                .wait(taken)
                .unwrap_or_else(|e| e.into_inner());
        }
        *taken = true;
        // Each large input frees 100 MB or more of rows when they are stored, and the thread
        // that parsed them hands those pages back only when it next allocates: kept even
        // 100 ms more, they add up across large inputs (scripts/bench-hostile.sh: fourteen
        // 721 -> 531 MB, a zip of ten 632 -> 551 MB, in the same time). So from the first
        // large document on, for the rest of the process, freed memory goes back at once;
        // runs without one keep the faster default.
        memory::give_back_freed_memory_after(0);
        Turn(self)
    }
}

/// An input's turn to hold large documents, given back when dropped.
#[must_use = "the turn lasts while the input's rows are held"]
pub struct Turn(&'static LargeInputTurn);

impl Drop for Turn {
    fn drop(&mut self) {
        *self.0.taken.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.0.given_back.notify_one();
    }
}

/// Unpacks and parses the bytes of one input, handing on each document as it is parsed (an
/// aggregate report's records already taken apart into rows). An input with a large document
/// waits for its [`Turn`] before that document is parsed and returns it: the caller holds it
/// as long as it holds the input's rows.
pub fn each_document(
    bytes: &[u8],
    read: &ReadOptions,
    found: &mut dyn FnMut(Document<ReportColumns>),
) -> Option<Turn> {
    each_document_and_message(bytes, read, &mut |_| {}, &mut |document, _| found(document))
}

/// As [`each_document`], also handing `message` each e-mail message inside no other (an
/// input's own, each of an mbox's) before the documents found in it, and telling `found`
/// whether a document came in the last such message or in no message at all.
/// The bytes of the file at `path`, or why not: one of more than `max` bytes (an input's
/// bound) is refused before it is read, or, a pipe or a device whose size is not known
/// (`/dev/stdin` fed forever, `/dev/zero`), as it is read, in pieces of 64 MiB joined at the
/// end: refusing it costs the bound at most, not all of memory.
fn read_at_most(path: &std::path::Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let cannot = |e: std::io::Error| format!("cannot read: {e}");
    let too_large = || format!("larger than {} MiB, the most one input may be", max >> 20);
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?;
    if size.is_file() {
        if size.len() > max {
            return Err(too_large());
        }
        let mut bytes = Vec::with_capacity(size.len() as usize);
        file.read_to_end(&mut bytes).map_err(cannot)?;
        return Ok(bytes);
    }
    const PIECE: u64 = 64 << 20;
    let mut reader = file.take(max.saturating_add(1));
    let mut pieces: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut piece = Vec::with_capacity(PIECE as usize);
        let read = (&mut reader)
            .take(PIECE)
            .read_to_end(&mut piece)
            .map_err(cannot)?;
        if read == 0 {
            break;
        }
        pieces.push(piece);
    }
    match pieces.iter().map(|p| p.len() as u64).sum::<u64>() > max {
        true => Err(too_large()),
        false => Ok(pieces.concat()),
    }
}

fn each_document_and_message(
    bytes: &[u8],
    read: &ReadOptions,
    message: &mut dyn FnMut(&[u8]),
    found: &mut dyn FnMut(Document<ReportColumns>, bool),
) -> Option<Turn> {
    let mut turn = None;
    unpack(bytes, &read.limits, &mut |piece| {
        let large = match &piece.content {
            Content::Message(bytes) => return message(bytes),
            Content::Document { bytes, .. } => bytes.len() >= LARGE_DOCUMENT_BYTES,
            _ => false,
        };
        if large && turn.is_none() {
            turn = Some(LARGE_INPUTS.wait());
        }
        let in_message = piece.in_message;
        for document in parse::parse_piece(piece, read.keep()) {
            found(document, in_message);
        }
    });
    turn
}

/// Finishes a document's rows, here on all cores rather than in the writer. An aggregate or
/// SMTP TLS report carries what the e-mail it came in shows about it (`seal`); with
/// `require_authentic`, one that is not `pass` is refused.
fn prepare_document(
    document: Document<ReportColumns>,
    seal: &Seal,
    read: &ReadOptions,
) -> store::Prepared {
    let Document {
        location,
        kind,
        parsed,
        raw,
    } = document;
    let organisations = &read.organisations;
    let authenticity = match &parsed {
        Parsed::Aggregate(report) => {
            let (email, domain) = (report.email.as_deref(), &report.policy.domain);
            Some(seal.of_report(email, &report.org_name, domain, organisations))
        }
        Parsed::SmtpTls(report) => {
            // A report forwarded from the domain's own mailbox vouches for its first policy's.
            let domain = report
                .policies
                .first()
                .map_or("", |p| p.policy_domain.as_str());
            Some(seal.of_tls_report(&report.org_name, domain, organisations))
        }
        Parsed::FailureReport(_) | Parsed::Refused(_) => None,
    };
    if let Some(authenticity) = authenticity {
        if read.require_authentic && authenticity != Authenticity::Pass {
            let reason = Reason::Unauthenticated(authenticity.code());
            return store::Prepared::refused(location, kind, reason);
        }
    }
    let authenticity = authenticity.unwrap_or_default();
    match parsed {
        Parsed::Aggregate(report) => {
            store::Prepared::report(location, *report, raw.as_deref(), authenticity)
        }
        Parsed::SmtpTls(report) => store::Prepared::tls(location, *report, authenticity),
        Parsed::FailureReport(report) => store::Prepared::failure(location, *report),
        Parsed::Refused(reason) => store::Prepared::refused(location, kind, reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An input past the bound is refused, a device that never ends included, and one within
    /// it is read whole.
    #[test]
    fn inputs_are_read_up_to_the_bound_only() {
        let bound = 3 << 20;
        let endless = read_at_most(std::path::Path::new("/dev/zero"), bound);
        assert_eq!(
            endless.unwrap_err(),
            "larger than 3 MiB, the most one input may be"
        );
        let dir = std::env::temp_dir().join(format!("duckmarc-read-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (small, large) = (dir.join("small"), dir.join("large"));
        std::fs::write(&small, vec![b'x'; 1000]).unwrap();
        std::fs::write(&large, vec![b'x'; bound as usize + 1]).unwrap();
        assert_eq!(read_at_most(&small, bound).unwrap().len(), 1000);
        assert!(read_at_most(&large, bound).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
